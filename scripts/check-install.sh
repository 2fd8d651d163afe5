#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What an installation gives a user, checked from a scratch root:
# make install (DESTDIR, PREFIX, Debian's multiarch LIBDIR) puts every file
# where it belongs; a program outside the tree builds against it with
# pkg-config alone, shared and static, and runs; make install-dkms gives
# sources DKMS builds vmiop.ko from, for a kernel whose headers are
# installed, with the version of the tree.  Ends with one line
# "install: N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/vmiop-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
libdir=/usr/lib/$(gcc -print-multiarch)
version=$(cat "$top/VERSION")
passed=0 failed=0

ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$what"; else
	sed 's/^/#   /' "$tmp/out" | tail -20; not_ok "$what"; fi; }

installed() {
	local f
	make -s -C "$top" install install-dkms DESTDIR="$root" PREFIX=/usr LIBDIR="$libdir" ||
		return 1
	for f in usr/bin/vmiop usr/bin/vmiop-demo usr/include/libvmiop.h \
		 usr/include/linux/vmiop.h usr/include/linux/vmiop_ve.h \
		 "${libdir#/}/libvmiop.a" "${libdir#/}/libvmiop.so.$version" \
		 "${libdir#/}/libvmiop.so.0" "${libdir#/}/libvmiop.so" \
		 "${libdir#/}/pkgconfig/vmiop.pc" usr/lib/udev/rules.d/60-vmiop.rules \
		 usr/share/vmiop/modules-load.d-vmiop.conf usr/share/man/man1/vmiop.1 \
		 usr/share/man/man1/vmiop-demo.1 usr/share/man/man3/libvmiop.3 \
		 usr/share/man/man4/vmiop.4 usr/share/bash-completion/completions/vmiop \
		 "usr/src/vmiop-$version/dkms.conf" "usr/src/vmiop-$version/Kbuild"; do
		[ -e "$root/$f" ] || { echo "missing: /$f"; return 1; }
	done
	# the soname is what the links say
	objdump -p "$root/$libdir/libvmiop.so.$version" | grep -q "SONAME.*libvmiop.so.0$"
}
check "make install and install-dkms put every file in DESTDIR, PREFIX=/usr, LIBDIR=$libdir" \
	installed

# pkg-config as it would find the installed files, under the scratch root
export PKG_CONFIG_PATH=$root$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$root
example() {
	cp "$top/examples/vmiop-list.c" "$top/examples/Makefile" "$tmp/" &&
	make -s -C "$tmp" "$1" 2>&1 | grep -v "statically linked\|getaddrinfo\|getproto\|in function"
	[ -x "$tmp/$1" ]
}
# Through the installed library (a dynamic one from the scratch root): with
# the module loaded it lists the VMs; without, it must say so and fail.
runs() {
	local out status
	out=$(LD_LIBRARY_PATH=$root$libdir "$tmp/$1" 2>&1)
	status=$?
	if [ -e /sys/module/vmiop ]; then
		[ $status -eq 0 ] || { echo "exit status $status: $out"; return 1; }
	else
		[ $status -eq 1 ] || { echo "exit status not 1: $out"; return 1; }
		echo "$out" | grep -q "the vmiop module is not loaded" || { echo "$out"; return 1; }
	fi
	[ "$1" != vmiop-list ] ||
		LD_LIBRARY_PATH=$root$libdir ldd "$tmp/$1" | grep -q "libvmiop.so.0 => $root"
}
check "an outside program builds with pkg-config against the shared library" example vmiop-list
check "it runs with the installed libvmiop.so.0" runs vmiop-list
check "it builds statically (pkg-config --static)" example vmiop-list-static
check "the static one runs" runs vmiop-list-static

# DKMS, with a tree of its own: no module is added to or installed on this
# machine.  (As root, DKMS signs what it builds with /var/lib/dkms/mok.key,
# which it creates once if missing, as for any DKMS package here.)
dkms_builds() {
	local kdir kver ko
	# the kernels vmiop is for (dkms.conf's BUILD_EXCLUSIVE_KERNEL)
	kdir=$(ls -d /usr/src/linux-headers-6.1.*-amd64 2>/dev/null | sort -V | tail -1)
	[ -n "$kdir" ] || { echo "no 6.1 kernel headers in /usr/src (make deps)"; return 1; }
	kver=${kdir#/usr/src/linux-headers-}
	mkdir -p "$tmp/dkms"
	dkms add --dkmstree "$tmp/dkms" --sourcetree "$root/usr/src" -m vmiop -v "$version" &&
	dkms build --dkmstree "$tmp/dkms" --sourcetree "$root/usr/src" -m vmiop -v "$version" \
		-k "$kver" --kernelsourcedir "$kdir" || return 1
	ko=$(find "$tmp/dkms/vmiop/$version/$kver" -name 'vmiop.ko*' | head -1)
	[ -n "$ko" ] || { echo "no vmiop.ko"; return 1; }
	[ "$(/sbin/modinfo -F version "$ko")" = "$version" ] &&
	[ "$(/sbin/modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$kver" ]
}
check "DKMS builds vmiop.ko $version from the installed sources" dkms_builds

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
