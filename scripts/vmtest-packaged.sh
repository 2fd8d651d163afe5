#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The test VM with the module as the packages give it: vmiop-dkms's
# sources (from make deb's .deb, unpacked), built by DKMS for the kernel
# the VM boots, in a DKMS tree of its own; then the given test binaries
# run against that vmiop.ko.  Extra run.sh options come from VMTEST_ARGS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
kver=$("$top/scripts/kver.sh")
version=$(cat "$top/VERSION")
deb=$top/build/deb/vmiop-dkms_${version}_all.deb
[ -f "$deb" ] || { echo "vmtest-packaged: no $deb (make deb)" >&2; exit 1; }
tmp=$(mktemp -d /tmp/vmiop-packaged.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root"
mkdir -p "$tmp/dkms"
dkms add --dkmstree "$tmp/dkms" --sourcetree "$tmp/root/usr/src" -m vmiop -v "$version" >&2
dkms build --dkmstree "$tmp/dkms" --sourcetree "$tmp/root/usr/src" -m vmiop -v "$version" \
	-k "$kver" --kernelsourcedir "/lib/modules/$kver/build" >&2
ko=$(find "$tmp/dkms/vmiop/$version/$kver" -name 'vmiop.ko*' | head -1)
[ -n "$ko" ] || { echo "vmtest-packaged: DKMS built no vmiop.ko" >&2; exit 1; }
echo "vmtest-packaged: $ko: $(/sbin/modinfo -F version "$ko") for $(/sbin/modinfo -F vermagic "$ko")"
# run.sh takes the module's name from its file: vmiop.ko
"$top/selftests/vm/run.sh" --module "$ko" ${VMTEST_ARGS:-} -- "$@"
