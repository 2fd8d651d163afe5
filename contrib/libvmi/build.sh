#!/bin/bash
# Builds LibVMI from the snapshot in ../shared/third_party with its KVM
# driver on vmiop (patches/ + kvm_vmiop.c), against this tree's libvmiop,
# and installs both into one prefix:
#
#   contrib/libvmi/build.sh [OUT]        OUT defaults to build/libvmi
#
# OUT/prefix then holds lib/libvmi.so, lib/libvmiop.so, include/, the
# examples LibVMI installs in bin/, and in libexec/libvmi/ every example
# and LibVMI's check suite (check_libvmi), which the rig runs against a
# Linux guest (selftests/vm/run.sh --libvmi).  A build whose inputs have
# not changed is kept; libvmiop is installed anew each time, so the prefix
# always has this tree's (LibVMI links it by soname).  Runs that share OUT
# take turns (an exclusive flock of OUT/.lock; mkkit.sh reads under a
# shared one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
tp=${VMIOP_THIRD_PARTY:-$top/../shared/third_party}
tarball=$tp/libvmi-82bbee6.tar.gz
out=${1:-$top/build/libvmi}
mkdir -p "$out"
out=$(cd "$out" && pwd)
prefix=$out/prefix

say() { echo "libvmi: $*" >&2; }

# The snapshot is what its checksum says, or nothing is built from it.
(cd "$tp" && sha256sum -c --quiet SHA256SUMS) || { say "$tp: checksum mismatch"; exit 1; }

exec 9>"$out/.lock"
flock 9

# libvmiop, installed where LibVMI's pkg-config finds it.
install_libvmiop() {
	make -s -C "$top" install-lib PREFIX="$prefix" >&2
}

# Inputs: the snapshot, our patches and driver, libvmiop's ABI.
# (The soname too: LibVMI links libvmiop by it.)
stamp=$({ cat "$tarball" "$here"/patches/*.patch "$here/kvm_vmiop.c" "$here"/tools/*.c \
	"$top/libvmiop/libvmiop.h" "$top/uapi/linux/vmiop.h" "$0"
	grep '^SOVERSION' "$top/Makefile"; } | sha256sum | cut -d' ' -f1)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] && [ -f "$prefix/lib/libvmi.so" ]; then
	install_libvmiop
	say "up to date in $prefix"
	exit 0
fi
rm -rf "$out/src" "$out/obj" "$prefix" "$out/stamp"
install_libvmiop

mkdir -p "$out/src"
tar xzf "$tarball" -C "$out/src" --strip-components=1
for p in "$here"/patches/*.patch; do
	patch -s -d "$out/src" -p1 <"$p"
done
cp "$here/kvm_vmiop.c" "$out/src/libvmi/driver/kvm/"

say "configuring (cmake)"
PKG_CONFIG_PATH=$prefix/lib/pkgconfig cmake -S "$out/src" -B "$out/obj" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_RPATH="$prefix/lib" \
	-DENABLE_KVM=ON -DENABLE_KVM_VMIOP=ON -DENABLE_XEN=OFF -DENABLE_BAREFLANK=OFF \
	-DENABLE_TESTING=ON -DBUILD_EXAMPLES=ON >"$out/cmake.log" 2>&1 ||
	{ tail -30 "$out/cmake.log" >&2; exit 1; }
say "building"
cmake --build "$out/obj" -j "$(nproc)" >"$out/build.log" 2>&1 ||
	{ grep -E "error|Error" "$out/build.log" | head -30 >&2; exit 1; }
# LibVMI's release flags are -Werror alone: the driver is held to more.
flags=$(sed -n 's/^C_\(DEFINES\|INCLUDES\) = //p' "$out/obj/libvmi/CMakeFiles/vmi_shared.dir/flags.make")
# shellcheck disable=SC2086 # the flags are words
gcc -fsyntax-only -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers $flags \
	"$out/src/libvmi/driver/kvm/kvm_vmiop.c" || { say "kvm_vmiop.c has warnings"; exit 1; }
cmake --install "$out/obj" >>"$out/build.log" 2>&1
mkdir -p "$prefix/libexec/libvmi"
find "$out/obj/examples" -maxdepth 1 -type f -perm -u+x -exec install -m 755 -t "$prefix/libexec/libvmi/" {} +
install -m 755 "$out/src/tests/check_libvmi" "$prefix/libexec/libvmi/"
# vmi-cpuid: an example of LibVMI's that only its autotools build builds
# (LibVMI's code: its own flags, not ours).
gcc -O2 -I"$prefix/include" -o "$prefix/libexec/libvmi/vmi-cpuid" \
	"$out/src/examples/cpuid.c" -L"$prefix/lib" -Wl,-rpath,"$prefix/lib" -lvmi
# Ours, for what no example of LibVMI's exercises (responses).
for t in "$here"/tools/*.c; do
	gcc -std=gnu11 -O2 -Wall -Wextra -Werror -I"$prefix/include" \
		-o "$prefix/libexec/libvmi/$(basename "$t" .c)" "$t" \
		-L"$prefix/lib" -Wl,-rpath,"$prefix/lib" -lvmi
done
echo "$stamp" >"$out/stamp"
say "installed in $prefix"
