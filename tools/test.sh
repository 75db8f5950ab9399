#!/bin/sh
# Sets up, builds and runs every test: unit tests (cmocka, ckpt-info), the
# integration suite (programs checkpointed, killed and restored), fd kinds,
# the image engine, KVM and QEMU. Ends with one line adding them all up.
set -u
cd "$(dirname "$0")/.."
tools/install-deps.sh || exit 1
tools/build.sh || exit 1
meson test -C build --print-errorlogs
status=$?
python3 tools/test-summary.py build/meson-logs/testlog.json
exit $status
