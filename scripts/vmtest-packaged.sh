#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The test VM with the packages as a user gets them: vmiop-dkms's sources
# (make deb's .deb, unpacked), built by DKMS for the kernel the VM boots,
# in a DKMS tree of its own (nothing installed on this machine; DKMS signs
# with /var/lib/dkms/mok.key, made once if missing, as for any DKMS package); the vmiop and libvmiop0 packages' files with
# the libraries they need; then the given test binaries run against that
# vmiop.ko and /usr/bin/vmiop.  Extra run.sh options come from VMTEST_ARGS.
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

# The tool as the vmiop and libvmiop0 packages install it, and what ldd
# says it needs besides (libc, libnl, the ELF interpreter) from this
# machine's Debian packages, at the paths ldd names.
ov=$tmp/overlay
libdir=/usr/lib/$(gcc -print-multiarch)
for p in vmiop libvmiop0; do
	dpkg-deb -x "$top/build/deb/${p}_${version}_amd64.deb" "$ov"
done
LD_LIBRARY_PATH=$ov$libdir ldd "$ov/usr/bin/vmiop" |
	awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
	case $lib in
	"$ov"/*) ;;
	*) mkdir -p "$ov$(dirname "$lib")" && cp -L "$lib" "$ov$lib" ;;
	esac
done
# run.sh takes the module's name from its file: vmiop.ko
"$top/selftests/vm/run.sh" --module "$ko" --overlay "$ov" ${VMTEST_ARGS:-} -- "$@"
