#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The packages as a user installs them, then the test VM with what they
# installed.  The four .debs of make deb go onto this machine (a Debian
# 12 system, the VM kernel's release) with apt-get; vmiop-dkms's postinst
# has DKMS build vmiop.ko for every installed 6.1 kernel with headers, the
# VM's among them; the test VM boots with that module, and with the vmiop
# and libvmiop0 packages' /usr/bin/vmiop and its libraries; the given test
# binaries run there.  The packages are purged again at the end, whatever
# happens.  Needs root (apt-get); refuses to run over an installation of
# vmiop's packages it did not make.  Extra run.sh options: VMTEST_ARGS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
kver=$("$top/scripts/kver.sh")
version=$(cat "$top/VERSION")
pkgs="vmiop-dkms vmiop libvmiop0 libvmiop-dev"
die() { echo "vmtest-packaged: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root: it installs the packages with apt-get"
for p in $pkgs; do
	! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		die "$p is installed already: this test installs and purges its own"
done
debs=()
for p in vmiop-dkms_${version}_all vmiop_${version}_amd64 libvmiop0_${version}_amd64 \
	 libvmiop-dev_${version}_amd64; do
	[ -f "$top/build/deb/$p.deb" ] || die "no build/deb/$p.deb (make deb)"
	debs+=("$top/build/deb/$p.deb")
done

tmp=$(mktemp -d /tmp/vmiop-packaged.XXXXXX)
cleanup() {
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $pkgs >"$tmp/purge.log" 2>&1 ||
		{ cat "$tmp/purge.log" >&2; echo "vmtest-packaged: purging the packages failed" >&2; }
	rm -rf "$tmp"
}
trap cleanup EXIT
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"${debs[@]}" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	die "apt-get install of the packages failed"
fi
grep -E "^Building|Installing to|dkms" "$tmp/install.log" || true
dkms status vmiop | grep -q "vmiop/$version, $kver, x86_64: installed" ||
	die "DKMS did not install vmiop $version for $kver: $(dkms status vmiop)"
ko=$(/sbin/modinfo -k "$kver" -n vmiop)
case $ko in
*/updates/dkms/*) ;;
*) die "modinfo -k $kver finds $ko, not DKMS's" ;;
esac
echo "vmtest-packaged: $ko: $(/sbin/modinfo -F version "$ko") for $kver"

# /usr/bin/vmiop as installed, and what ldd says it needs, at those paths.
ov=$tmp/overlay
mkdir -p "$ov/usr/bin"
cp /usr/bin/vmiop "$ov/usr/bin/"
ldd /usr/bin/vmiop | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
	mkdir -p "$ov$(dirname "$lib")" && cp -L "$lib" "$ov$lib"
done
ldd /usr/bin/vmiop | grep -q "libvmiop.so.0 => /lib\|libvmiop.so.0 => /usr/lib" ||
	die "the installed vmiop does not use the installed libvmiop.so.0"
"$top/selftests/vm/run.sh" --module "$ko" --overlay "$ov" ${VMTEST_ARGS:-} -- "$@"
