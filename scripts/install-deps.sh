#!/bin/sh
# Installs the Debian 12 packages that building and testing vmiop need.
set -eu
# bochs...xorriso: the Intel VM rig (selftests/vm/run.sh --vendor
# intel; its Bochs 3.0 is built from source by scripts/build-bochs.sh, the
# 2.7 package brings the BIOS images); linux-source-6.1...lz4: its LZ4
# repack of the kernel (selftests/vm/lz4kernel.sh); seabios: the BIOS
# image run.sh --linux-guest copies into the test VM for the QEMU there;
# cmake...check: LibVMI with its driver on vmiop (contrib/libvmi/build.sh);
# libnl-3-dev, libnl-genl-3-dev: libvmiop's VMs by name (generic netlink);
# groff-base: the manual pages' check (scripts/check-man.sh, groff -ww);
# dkms...lintian: make deb and the installation check (check-install.sh).
PKGS="build-essential pkg-config libcmocka-dev libnl-3-dev libnl-genl-3-dev groff-base
      qemu-system-x86 seabios linux-image-amd64
      linux-headers-amd64 busybox-static cpio xz-utils kmod
      bochs bochsbios vgabios isolinux syslinux-common xorriso ca-certificates
      linux-source-6.1 flex bison bc libelf-dev libssl-dev lz4
      cmake libglib2.0-dev libjson-c-dev check
      dkms debhelper dh-dkms lintian"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "installing:$missing"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
"$(dirname "$0")/build-bochs.sh" >/dev/null
