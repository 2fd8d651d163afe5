#!/bin/sh
# Installs the Debian 12 packages that building and testing vmiop need.
set -eu
PKGS="build-essential pkg-config libcmocka-dev qemu-system-x86 linux-image-amd64
      linux-headers-amd64 busybox-static cpio xz-utils kmod"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
