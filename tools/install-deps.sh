#!/bin/sh
# Installs what ckpt needs to build and test on Debian 12 (run as root).
set -eu
PKGS="gcc libc6-dev make meson ninja-build pkg-config python3 binutils qemu-system-x86 redis-server
      libcmocka-dev libunwind-dev libxxhash-dev libzstd-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
