#!/bin/sh
# Sets up, builds and runs every test: unit tests (cmocka) and the
# integration suite (real programs checkpointed, killed and restored).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh
meson test -C build --print-errorlogs
python3 tests/integration/run.py --build build
