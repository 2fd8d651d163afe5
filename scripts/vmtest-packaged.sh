#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The packages as a user installs them, then the test VM with what they
# installed.  The four .debs of make deb go onto this machine (a Debian
# 12 system, the VM kernel's release) with apt-get; vmiop-dkms's postinst
# has DKMS build vmiop.ko (for the running kernel and the newest one, or
# for every 6.1 kernel with headers when the running one has no modules
# here, as in a container); the test VM boots with the module DKMS
# installed for its kernel, and with the vmiop and libvmiop0 packages'
# /usr/bin/vmiop and its libraries; the given test binaries run there.
# The packages are purged again at the end, whatever happens, and the
# machine is checked to hold nothing of vmiop's then.  Needs root
# (apt-get); refuses to run where vmiop is installed in any way, or where
# the packages would pull in anything not installed yet.  Extra run.sh
# options: VMTEST_ARGS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
kver=$("$top/scripts/kver.sh")
version=$(cat "$top/VERSION")
pkgs="vmiop-dkms vmiop libvmiop0 libvmiop-dev"
die() { echo "vmtest-packaged: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root: it installs the packages with apt-get"
exec 9>/tmp/vmiop-vmtest-packaged.lock
flock -n 9 || die "another vmtest-packaged runs"

# Nothing of vmiop's may be there: this test purges what it installs.
leftovers() {
	local p st
	for p in $pkgs; do
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		[ -z "$st" ] || [ "$st" = "un " ] || echo "package $p ($st)"
	done
	[ -z "$(dkms status -m vmiop 2>/dev/null)" ] || echo "DKMS: $(dkms status -m vmiop)"
	ls -d /usr/src/vmiop-* 2>/dev/null || true
}
found=$(leftovers)
[ -z "$found" ] || die "vmiop is installed here already: $found"

debs=()
for p in vmiop-dkms_${version}_all vmiop_${version}_amd64 libvmiop0_${version}_amd64 \
	 libvmiop-dev_${version}_amd64; do
	[ -f "$top/build/deb/$p.deb" ] || die "no build/deb/$p.deb (make deb)"
	debs+=("$top/build/deb/$p.deb")
done
# Only these four: what they depend on must be installed already.
extra=$(apt-get -s install --no-install-recommends "${debs[@]}" 2>/dev/null |
	awk '$1 == "Inst" { print $2 }' | grep -vxF -e vmiop-dkms -e vmiop -e libvmiop0 \
	-e libvmiop-dev || true)
[ -z "$extra" ] || die "the packages would also install: $extra (make deps)"

tmp=$(mktemp -d /tmp/vmiop-packaged.XXXXXX)
cleanup() {
	local rc=$?
	trap '' INT TERM HUP
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -q -o DPkg::Lock::Timeout=300 $pkgs \
		>"$tmp/purge.log" 2>&1 ||
		dpkg --purge --force-remove-reinstreq $pkgs >>"$tmp/purge.log" 2>&1 || true
	found=$(leftovers)
	if [ -n "$found" ]; then
		cat "$tmp/purge.log" >&2
		echo "vmtest-packaged: left on this machine: $found" >&2
		rc=1
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-o DPkg::Lock::Timeout=300 "${debs[@]}" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log" >&2
	die "apt-get install of the packages failed"
fi
grep -E "^Building|Installing to" "$tmp/install.log" || true
if ! dkms status -m vmiop -v "$version" -k "$kver" | grep -q ": installed"; then
	# The postinst built for the running kernel and the newest one only.
	echo "vmtest-packaged: the postinst did not build for $kver; dkms install, as a user would"
	dkms install -m vmiop -v "$version" -k "$kver" >"$tmp/dkms.log" 2>&1 ||
		{ cat "$tmp/dkms.log" >&2; die "DKMS cannot build vmiop $version for $kver"; }
fi
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
ldd /usr/bin/vmiop | grep -qE "libvmiop\.so\.0 => (/usr)?/lib/" ||
	die "the installed vmiop does not use the installed libvmiop.so.0"
ldd /usr/bin/vmiop | awk '/=> \// { print $3 } /^\t\// { print $1 }' | while read -r lib; do
	mkdir -p "$ov$(dirname "$lib")" && cp -L "$lib" "$ov$lib"
done
"$top/selftests/vm/run.sh" --module "$ko" --overlay "$ov" ${VMTEST_ARGS:-} -- "$@"
