#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Repacks Debian's xz-compressed /boot/vmlinuz-KVER as an LZ4-compressed
# bzImage holding the very same kernel (same vmlinux bytes, same relocation
# table), for the Bochs rig: Bochs spends about 90 s of every boot in the
# xz decompressor, the LZ4 one takes a few seconds.
#
#   selftests/vm/lz4kernel.sh KVER OUT
#
# Only the boot stub (arch/x86/boot: setup code + decompressor) is rebuilt,
# from linux-source-6.1 (it must be the same Debian version as the kernel
# image) with the image's own config, CONFIG_KERNEL_LZ4 instead of
# CONFIG_KERNEL_XZ.  The payload is taken from the original image, never
# recompiled, and checked to come out of the new image unchanged.  Takes
# about a minute; run.sh calls it once per kernel and caches the result.
set -euo pipefail

[ $# -eq 2 ] || { sed -n 's/^#   //p' "$0"; exit 2; }
kver=$1
out=$2
img=/boot/vmlinuz-$kver
config=/boot/config-$kver
die() { echo "lz4kernel: $*" >&2; exit 1; }
trap 'echo "lz4kernel: failed at line $LINENO" >&2' ERR

[ -r "$img" ] && [ -r "$config" ] || die "need $img and $config"
for t in make gcc lz4 xz readelf flex bison bc; do
	command -v "$t" >/dev/null || die "missing tool: $t"
done
grep -q '^CONFIG_KERNEL_XZ=y' "$config" || die "$img is not xz-compressed"

# "... #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)" -> 6.1.192-2
kdeb=$(strings "$img" | sed -n "s/^$kver .* Debian \([^ ]*\) .*/\1/p" | head -n 1)
series=${kver%%-*}                       # 6.1.0
series=${series%.*}                      # 6.1
tarball=/usr/src/linux-source-$series.tar.xz
[ -r "$tarball" ] || die "$tarball missing (apt-get install linux-source-$series)"
sdeb=$(dpkg-query -W -f='${Version}' "linux-source-$series" 2>/dev/null || true)
[ -n "$kdeb" ] && [ "$kdeb" = "$sdeb" ] ||
	die "kernel is Debian ${kdeb:-?}, linux-source-$series is ${sdeb:-?}: versions must match"

work=$(mktemp -d /tmp/vmiop-lz4kernel.XXXXXX)
trap '[ -n "${LZ4KERNEL_KEEP:-}" ] || rm -rf "$work"' EXIT
src=$work/src
obj=$work/obj
mkdir -p "$src" "$obj"

tar -xJf "$tarball" -C "$src" --strip-components=1

# No EFI stub: it would need drivers/firmware/efi/libstub/lib.a from a full
# build, and the rig boots through isolinux (BIOS) anyway.
cp "$config" "$obj/.config"
"$src/scripts/config" --file "$obj/.config" -d KERNEL_XZ -e KERNEL_LZ4 -d EFI_STUB
make -s -C "$src" O="$obj" olddefconfig
grep -q '^CONFIG_KERNEL_LZ4=y' "$obj/.config" || die "could not select LZ4"
make -s -C "$src" O="$obj" -j"$(nproc)" prepare

# The xz stream holds vmlinux.bin.all: `objcopy -R .comment -S vmlinux`
# (an ELF) with the relocation table appended.  Give kbuild a `vmlinux`
# that objcopy turns back into the same bytes, with the four symbols
# voffset.h needs (Debian ships no symbols: vmlinux.lds.S puts _text,
# __start_rodata and __bss_start at the start of .text, .rodata and .bss,
# and _end at the page-aligned end of .brk), and a `relocs` tool that
# prints the original table.
off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | head -n 1 | cut -d: -f1)
[ -n "$off" ] || die "no xz stream in $img"
tail -c +$((off + 1)) "$img" >"$work/payload.xz"
xz -dc --single-stream "$work/payload.xz" >"$work/payload"
read -r shoff shnum shentsize < <(readelf -hW "$work/payload" | awk -F: '
	/Start of section headers/ { a = $2 + 0 }
	/Number of section headers/ { b = $2 + 0 }
	/Size of section headers/ { c = $2 + 0 }
	END { print a, b, c }')
elf_size=$((shoff + shnum * shentsize))
head -c "$elf_size" "$work/payload" >"$work/vmlinux.bin"
tail -c +$((elf_size + 1)) "$work/payload" >"$work/vmlinux.relocs"

brk=$(readelf -SW "$work/vmlinux.bin" | sed 's/^ *\[ *[0-9]*\] *//' |
	awk '$1 == ".brk" { print $3, $5 }')
[ -n "$brk" ] || die "no .brk section in the payload"
read -r brk_addr brk_size <<<"$brk"
end_off=$(((0x$brk_addr + 0x$brk_size + 4095) & ~4095))
end_off=$((end_off - 0x$brk_addr))
objcopy --add-symbol _text=.text:0 --add-symbol __start_rodata=.rodata:0 \
	--add-symbol __bss_start=.bss:0 --add-symbol _end=.brk:$end_off \
	"$work/vmlinux.bin" "$obj/vmlinux"
objcopy -R .comment -S "$obj/vmlinux" "$work/check.bin"
cmp -s "$work/check.bin" "$work/vmlinux.bin" || die "objcopy does not reproduce the payload"

cat >"$work/relocs" <<EOT
#!/bin/sh
[ "\$1" = --abs-relocs ] || cat "$work/vmlinux.relocs"
EOT
chmod +x "$work/relocs"

# Version strings for the setup code and kaslr.c, from the kernel's banner
# ("Linux version 6.1.0-56-amd64 (BY@HOST) (COMPILER) #1 SMP ... Debian ...").
IFS='|' read -r rel by host cc ver < <(strings "$work/vmlinux.bin" | sed -n \
	"s/^Linux version \($kver\) (\([^@]*\)@\([^)]*\)) (\(.*\)) \(#[0-9].*\)$/\1|\2|\3|\4|\5/p" |
	head -n 1)
[ -n "$ver" ] || die "no Linux banner in the payload"
gen=$obj/include/generated
echo "#define UTS_RELEASE \"$rel\"" >"$gen/utsrelease.h"
echo "#define UTS_VERSION \"$ver\"" >"$gen/utsversion.h"
printf '#define LINUX_COMPILE_BY "%s"\n#define LINUX_COMPILE_HOST "%s"\n#define LINUX_COMPILER "%s"\n' \
	"$by" "$host" "$cc" >"$gen/compile.h"

# Build only the boot stub, with the top-level Makefile's environment.
cat >"$obj/lz4boot.mk" <<EOT
include $src/Makefile
PHONY += lz4boot
lz4boot:
	\$(Q)\$(MAKE) \$(build)=arch/x86/kernel/cpu arch/x86/kernel/cpu/capflags.c
	\$(Q)\$(MAKE) \$(build)=arch/x86/lib arch/x86/lib/inat-tables.c
	\$(Q)\$(MAKE) \$(build)=arch/x86/boot arch/x86/boot/bzImage
EOT
make -s -C "$obj" -f lz4boot.mk -j"$(nproc)" CMD_RELOCS="$work/relocs" \
	KBUILD_BUILD_VERSION="$(echo "$ver" | sed 's/^#\([0-9]*\).*/\1/')" lz4boot

# Check: the LZ4 stream in the new image decompresses to the same payload.
new=$obj/arch/x86/boot/bzImage
loff=$(LC_ALL=C grep -obUaP '\x02\x21\x4c\x18' "$new" | head -n 1 | cut -d: -f1)
[ -n "$loff" ] || die "no lz4 stream in the new image"
tail -c +$((loff + 1)) "$new" >"$work/new.lz4"
lz4 -dc "$work/new.lz4" >"$work/new.payload" 2>/dev/null || true	# trailing data
cmp -s "$work/new.payload" "$work/payload" ||
	die "the new image does not hold the original kernel"

cp "$new" "$out.tmp"
mv "$out.tmp" "$out"
echo "lz4kernel: $out ($(stat -c %s "$out") bytes, from $img)"
