#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the Linux-guest kit that run.sh --linux-guest appends to the test
# VM's initramfs: Debian's QEMU (binary, the shared libraries it needs, the
# firmware it opens), the guest's kernel and initramfs, and the helpers.
#
#   selftests/vm/linux-guest/mkkit.sh KVER OUT.cpio
#
# OUT.cpio is an uncompressed newc archive (~60 MB; the kernel unpacks it
# without a decompressor pass, which would cost seconds under TCG) with
#   /usr/bin/qemu-system-x86_64, its ldd closure at the paths ldd names
#     (incl. the ELF interpreter /lib64/ld-linux-x86-64.so.2; no
#     ld.so.cache needed: the libraries are in the default directory)
#   /usr/share/seabios/bios-256k.bin, /usr/share/qemu/{linuxboot_dma,multiboot_dma,
#     kvmvapic}.bin: all QEMU opens besides libraries for -enable-kvm
#     -machine pc or q35 -kernel -nodefaults -display none (strace in the
#     test VM; QEMU looks in ../share/{qemu,seabios} of its binary; no
#     keymaps, option ROMs or accel-tcg module without display, NIC, TCG)
#   /linux-guest/bzImage      /boot/vmlinuz-KVER, the test VM's own kernel
#   /linux-guest/initrd.gz    busybox-static + linux-guest/init + dummy.ko
#   /linux-guest/bp-guest.bin linux-guest/bp-guest.S, a multiboot kernel
#                             for the gdbstub tests (start-linux-guest -K)
#   /bin/start-linux-guest, /bin/lg-qmp (static), /bin/lg-bootloop
# LG_KIT_EXTRA="FILE..." adds host programs to /bin (with their libraries,
# if dynamic), for a look inside the test VM (e.g. LG_KIT_EXTRA=/usr/bin/strace).
# LG_KIT_LIBVMI=PREFIX adds LibVMI (contrib/libvmi/build.sh's prefix): the
# programs of PREFIX/libexec/libvmi in /libvmi, their libraries from the
# prefix (libvmi, libvmiop) in the default library directory, the rest
# (GLib, json-c) at the paths ldd names, and coreutils' libstdbuf.so.
# Only files of installed Debian packages (qemu-system-x86, seabios,
# busybox-static, linux-image-*) go in; nothing is downloaded.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: mkkit.sh KVER OUT.cpio" >&2; exit 2; }
kver=$1
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "mkkit: $*" >&2; exit 1; }

qemu=/usr/bin/qemu-system-x86_64
busybox=/bin/busybox
firmware=(/usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin
	/usr/share/qemu/multiboot_dma.bin
	/usr/share/qemu/kvmvapic.bin)
for f in "$qemu" "$busybox" "/boot/vmlinuz-$kver" "${firmware[@]}"; do
	[ -r "$f" ] || die "missing $f (scripts/install-deps.sh)"
done
readelf -lW "$busybox" | grep -q INTERP && die "$busybox is dynamic (install busybox-static)"
command -v gcc >/dev/null || die "missing gcc"

tmp=$(mktemp -d /tmp/vmiop-lgkit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
kit=$tmp/kit
mkdir -p "$kit"/{bin,linux-guest}

# put FILE: copies FILE (following symlinks) to the same path in the kit.
put() {
	mkdir -p "$kit$(dirname "$1")"
	cp -L "$1" "$kit$1"
}

# put_libs PROGRAM: its shared libraries, as the host's dynamic linker
# resolves them (with the ELF interpreter); those under LibVMI's build
# directory $libvmi_root (the prefix, or the build tree an uninstalled
# example's RUNPATH names) go to the one the ELF interpreter searches by
# default.
libvmi_root=/nonexistent
put_libs() {
	readelf -lW "$1" | grep -q INTERP || return 0	# static
	ldd "$1" | awk '/=> \// { print $3 } /^\t\// { print $1 }' >"$tmp/libs"
	[ -s "$tmp/libs" ] || die "ldd $1 found no libraries"
	grep -q ld-linux "$tmp/libs" || die "ldd $1: no ELF interpreter"
	while read -r lib; do
		case $lib in
		"$libvmi_root"/*)
			mkdir -p "$kit/lib/x86_64-linux-gnu"
			cp -L "$lib" "$kit/lib/x86_64-linux-gnu/" ;;
		*) put "$lib" ;;
		esac
	done <"$tmp/libs"
}

# put_prog PROGRAM: the program and its shared libraries.
put_prog() {
	put "$1"
	put_libs "$1"
}
put_prog "$qemu"
for f in ${LG_KIT_EXTRA:-}; do
	put_prog "$f"
	# In /bin too: the test VM mounts a tmpfs over /tmp.
	[ "$(dirname "$f")" = /bin ] || cp -L "$f" "$kit/bin/"
done
for f in "${firmware[@]}"; do put "$f"; done

if [ -n "${LG_KIT_LIBVMI:-}" ]; then
	libvmi_prefix=$(cd "$LG_KIT_LIBVMI" && pwd)
	libvmi_root=$(dirname "$libvmi_prefix")
	# Not while contrib/libvmi/build.sh rebuilds it.
	exec 8<"$libvmi_root/.lock"
	flock -s 8
	[ -x "$libvmi_prefix/libexec/libvmi/check_libvmi" ] ||
		die "no LibVMI in $libvmi_prefix (contrib/libvmi/build.sh)"
	mkdir -p "$kit/libvmi"
	for f in "$libvmi_prefix"/libexec/libvmi/*; do
		cp "$f" "$kit/libvmi/"
		put_libs "$f"
	done
	# coreutils' stdbuf library: the tests run LibVMI's examples with
	# their stdout line-buffered into a file, to watch them as they go.
	put /usr/libexec/coreutils/libstdbuf.so
fi

# The guest: the test VM's own kernel, a busybox initramfs with our /init.
cp "/boot/vmlinuz-$kver" "$kit/linux-guest/bzImage"
g=$tmp/guest
mkdir -p "$g"/{bin,proc,sys,dev,tmp}
cp "$busybox" "$g/bin/busybox"
for a in $("$busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$g/bin/$a"
done
cp "$here/init" "$g/init"
# A module for the guest to load: dummy (no dependencies), decompressed for
# busybox's insmod.
mkdir -p "$g/lib/modules"
m=$(find "/lib/modules/$kver/kernel/drivers/net" -name 'dummy.ko*' | head -n 1)
[ -n "$m" ] || die "no dummy.ko in /lib/modules/$kver"
case $m in
*.xz) xz -dc "$m" ;; *.zst) zstd -dcq "$m" ;; *.gz) gzip -dc "$m" ;; *) cat "$m" ;;
esac >"$g/lib/modules/dummy.ko"
chmod 755 "$g/init"
(cd "$g" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9 >"$kit/linux-guest/initrd.gz"

# The breakpoint guest: flat, loaded by QEMU's multiboot loader.
as --32 -o "$tmp/bp-guest.o" "$here/bp-guest.S"
ld -m elf_i386 -Ttext 0x100000 --oformat binary -e _start -o "$kit/linux-guest/bp-guest.bin" \
	"$tmp/bp-guest.o"

# The helpers.
install -m 755 "$here/start-linux-guest" "$here/lg-bootloop" "$kit/bin/"
gcc -static -O2 -Wall -Wextra -Werror -o "$kit/bin/lg-qmp" "$here/lg-qmp.c"

(cd "$kit" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
