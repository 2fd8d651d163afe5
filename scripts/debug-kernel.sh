#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds, once, the debug kernel of `make check-debug`: Debian's own 6.1
# (the linux-source-6.1 package, the same version Debian 12 ships) with
# lockdep, KASAN and DEBUG_ATOMIC_SLEEP, KVM as modules, BTF, ftrace and
# kprobes: allnoconfig + selftests/vm/debug-kernel.config, nothing else,
# so that it builds in minutes on two cores, not hours.
#
#   scripts/debug-kernel.sh            builds if needed; prints DIR
#
# DIR = CACHE/debug-kernel-VERSION-HASH (CACHE is $VMIOP_VM_CACHE, else
# ~/.cache/vmiop-vm, where run.sh keeps its LZ4 repack; VERSION is
# linux-source-6.1's Debian version; HASH covers the config fragment and
# this script's RECIPE) holds
#   bzImage  lib/modules/KVER/  kver    what run.sh --kernel-dir DIR boots
#   obj/ (+ src/)                       the build tree: make -C DIR/obj M=...
#   build.log
# A second run finds DIR complete and only prints it.  Installs the
# packages it needs with apt-get.  Progress goes to stderr.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fragment=$top/selftests/vm/debug-kernel.config
series=6.1
tarball=/usr/src/linux-source-$series.tar.xz
cache=${VMIOP_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmiop-vm}
# Bump when the build steps below change what comes out.
RECIPE=1

say() { echo "debug-kernel: $*" >&2; }
die() { say "$*"; exit 1; }

# bc...libssl-dev: kbuild; dwarves: pahole, for BTF; kmod: depmod (and
# modinfo for run.sh); cpio: run.sh's initramfs.
PKGS="build-essential bc bison flex libelf-dev libssl-dev dwarves kmod cpio xz-utils
      linux-source-$series"
install_deps() {
	local p missing="" sudo=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -n "$missing" ] || return 0
	say "installing:$missing"
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -q >&2
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
		$missing >&2
}

# check_config CONFIG: every line of the fragment is in CONFIG as written.
check_config() {
	local line sym bad=0
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) sym=${line%%=*} ;;
		"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *} ;;
		*) continue ;;
		esac
		if ! grep -qxF -- "$line" "$1"; then
			say "$sym: asked for '$line', got '$(grep -E "^(# )?${sym}[= ]" "$1" || echo "not set (unmet dependencies)")'"
			bad=1
		fi
	done <"$fragment"
	return $bad
}

build() {
	local dir=$1 src=$1/src obj=$1/obj kver start
	start=$(date +%s)
	if [ ! -e "$src/.unpacked" ]; then
		say "unpacking $tarball"
		rm -rf "$src"
		mkdir -p "$src"
		tar -xJf "$tarball" -C "$src" --strip-components=1
		touch "$src/.unpacked"
	fi
	mkdir -p "$obj"
	say "configuring: allnoconfig + $fragment"
	# merge_config.sh -n: allnoconfig with the fragment as KCONFIG_ALLCONFIG.
	(cd "$src" && scripts/kconfig/merge_config.sh -n -O "$obj" "$fragment") \
		>"$dir/config.log" 2>&1 || { tail -n 20 "$dir/config.log" >&2; die "configuring failed"; }
	check_config "$obj/.config" || die "the fragment did not come out as written (see above)"
	kver=$(make -s -C "$src" O="$obj" kernelrelease)
	say "building $kver: bzImage + modules, nice -n 10 make -j$(nproc) (log $dir/build.log)"
	if ! nice -n 10 make -C "$src" O="$obj" -j"$(nproc)" bzImage modules >"$dir/build.log" 2>&1; then
		grep -E 'error|Error' "$dir/build.log" | tail -n 20 >&2
		die "build failed, see $dir/build.log"
	fi
	rm -rf "${dir:?}/lib"
	# Stripped of DWARF (not of .BTF): the modules go into every initramfs.
	make -s -C "$src" O="$obj" INSTALL_MOD_PATH="$dir" INSTALL_MOD_STRIP=1 \
		modules_install >>"$dir/build.log" 2>&1 || die "modules_install failed, see $dir/build.log"
	[ -d "$dir/lib/modules/$kver" ] || die "no $dir/lib/modules/$kver after modules_install"
	cp "$obj/arch/x86/boot/bzImage" "$dir/bzImage"
	echo "$kver" >"$dir/kver"
	touch "$dir/.complete"
	say "built $kver in $(($(date +%s) - start)) s"
}

main() {
	local version hash dir
	[ $# -eq 0 ] || { sed -n 's/^#   //p' "$0" >&2; exit 2; }
	install_deps
	[ -r "$tarball" ] || die "$tarball missing after installing linux-source-$series"
	version=$(dpkg-query -W -f='${Version}' "linux-source-$series")
	hash=$({ cat "$fragment"; echo "recipe $RECIPE"; } | sha256sum | cut -c1-12)
	dir=$cache/debug-kernel-$version-$hash
	if [ ! -e "$dir/.complete" ]; then
		mkdir -p "$dir"
		# One build at a time; a second caller waits, then finds it done.
		exec 9>"$cache/.debug-kernel.lock"
		flock 9
		[ -e "$dir/.complete" ] || build "$dir"
		exec 9>&-
	fi
	echo "$dir"
}

main "$@"
