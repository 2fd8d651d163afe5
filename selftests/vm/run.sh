#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boots Debian's stock kernel under QEMU TCG with emulated SVM (+NPT), loads
# kvm/kvm-amd (+ the given modules), runs static test binaries inside, and
# decides pass/fail ONLY by a nonce-bearing success token that the guest's
# /init writes to a second serial port after every binary exited 0 (or 4,
# all skipped) with a clean dmesg.  A panic, hang or crash can never look
# like a pass.
#
#   selftests/vm/run.sh [--module PATH.ko[:ARGS]]... [--timeout SECS] [--smp N]
#                       [--mem MiB] [--accel QEMU-ACCEL] [--log DIR] [--keep] [--demo]
#                       [--append "KERNEL ARGS"] -- BINARY...
#
# --module PATH.ko:a=1,b=2 passes module parameters (a=1 b=2); modules load
# after irqbypass, ccp, kvm, kvm-amd (and their dependencies, found with
# modinfo; .ko.xz/.zst/.gz are decompressed on the host), in the given order.
# --demo: binaries need not print TAP; each counts as one pass/fail/skip by
# its exit status (0 / other / 4).
#
# Output: the guest console (TAP) on stdout; last line
#   vm: N passed, N failed, N skipped
# Exit 0 only on success.  KVER=... overrides the kernel version.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
timeout_s=900
smp=2
mem=1024
accel=tcg,thread=single	# see README: thread=multi hangs ~1 boot in 6
log=
keep=0
demo=0
extra_append=
modules=()
bins=()

usage() {
	sed -n '/^#   selftests/,/^#  *\[--append/p' "${BASH_SOURCE[0]}" | sed 's/^# //'
	exit 2
}
die() { echo "run.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--module) [ $# -ge 2 ] || usage; modules+=("$2"); shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
	--accel) [ $# -ge 2 ] || usage; accel=$2; shift 2 ;;
	--log) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || usage; extra_append=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--demo) demo=1; shift ;;
	--) shift; bins+=("$@"); break ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) bins+=("$1"); shift ;;
	esac
done
[ ${#bins[@]} -gt 0 ] || usage

for tool in qemu-system-x86_64 cpio gzip modinfo readelf timeout; do
	command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# Newest kernel that has both modules and an image.
if [ -z "${KVER:-}" ]; then
	KVER=$(for d in /lib/modules/*/; do
		k=$(basename "$d")
		[ -e "/boot/vmlinuz-$k" ] && echo "$k"
	done | sort -V | tail -n 1)
fi
if [ -z "$KVER" ] || [ ! -e "/boot/vmlinuz-$KVER" ]; then
	die "no /boot/vmlinuz-* with /lib/modules/* (KVER=${KVER:-})"
fi
kernel=/boot/vmlinuz-$KVER
[ -r "$kernel" ] || die "$kernel not readable"

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox-static not installed"
readelf -lW "$busybox" | grep -q INTERP && die "$busybox is dynamic (install busybox-static)"

tmp=$(mktemp -d /tmp/vmiop-vm.XXXXXX)
if [ -z "$log" ]; then
	log=$(mktemp -d /tmp/vmiop-vm-log.XXXXXX)
fi
mkdir -p "$log"
log=$(cd "$log" && pwd)

cleanup() {

	if [ "$keep" = 1 ]; then
		echo "vm: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root=$tmp/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,modules,tests}
cp "$busybox" "$root/bin/busybox"
for a in $("$busybox" --list); do
	[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
done
cp "$here/init" "$root/init"
chmod 755 "$root/init"

# ---- modules: dependencies first, each once ----
declare -A seen=()
: >"$root/modules/order"

norm() { echo "${1//-/_}"; }

# install_ko SRC NAME ARGS: decompress if needed, append to the load order.
install_ko() {
	local src=$1 name=$2 args=$3 dst="$root/modules/$2.ko"
	case "$src" in
	*.ko.xz) xz -dc "$src" >"$dst" ;;
	*.ko.zst) zstd -qdc "$src" >"$dst" ;;
	*.ko.gz) gzip -dc "$src" >"$dst" ;;
	*.ko) cp "$src" "$dst" ;;
	*) die "not a kernel module: $src" ;;
	esac
	echo "$name.ko${args:+ $args}" >>"$root/modules/order"
}

# Names of the --module files: a dependency on one of them is the caller's
# business (list them in load order), not something to look up in-tree.
declare -A user_mods=()
for spec in "${modules[@]}"; do
	n=$(basename "${spec%%:*}")
	user_mods[$(norm "${n%%.ko*}")]=1
done

add_deps() {	# add_deps MODULE-OR-PATH
	local deps d
	deps=$(modinfo -k "$KVER" -F depends "$1" 2>/dev/null) ||
		die "modinfo $1 failed (kernel $KVER)"
	for d in ${deps//,/ }; do
		[ -n "${user_mods[$(norm "$d")]:-}" ] && continue
		add_mod "$d"
	done
}

add_mod() {	# add_mod NAME (from /lib/modules/$KVER)
	local n file
	n=$(norm "$1")
	[ -n "${seen[$n]:-}" ] && return 0
	seen[$n]=1
	file=$(modinfo -k "$KVER" -F filename "$1" 2>/dev/null) ||
		die "module $1 not found for kernel $KVER"
	case "$file" in (builtin) return 0 ;; esac
	add_deps "$1"
	install_ko "$file" "$n" ""
}

for m in irqbypass ccp kvm kvm-amd; do
	add_mod "$m"
done
for spec in "${modules[@]}"; do
	path=${spec%%:*}
	args=
	[ "$path" != "$spec" ] && args=${spec#*:}
	[ -f "$path" ] || die "no such module: $path"
	name=$(basename "$path")
	name=$(norm "${name%%.ko*}")
	[ -n "${seen[$name]:-}" ] && die "module $name given twice"
	add_deps "$path"
	seen[$name]=1
	install_ko "$path" "$name" "${args//,/ }"
done

# ---- test binaries ----
: >"$root/tests/order"
i=0
for b in "${bins[@]}"; do
	if [ ! -f "$b" ] || [ ! -x "$b" ]; then
		die "not an executable file: $b"
	fi
	if head -c 4 "$b" | grep -q ELF; then
		readelf -lW "$b" | grep -q INTERP &&
			die "$b is dynamically linked: link it -static (the initramfs has no libc)"
	fi
	i=$((i + 1))
	dst=$(printf '%02d-%s' "$i" "$(basename "$b")")
	cp "$b" "$root/tests/$dst"
	echo "$dst" >>"$root/tests/order"
done

initrd=$tmp/initrd.gz
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$initrd"

nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')
append="console=ttyS0 loglevel=5 mitigations=off panic=-1 panic_on_warn=1 oops=panic softlockup_panic=1"
append+=" rdinit=/init vmiop.nonce=$nonce vmiop.demo=$demo${extra_append:+ $extra_append}"

# shellcheck disable=SC2054 # commas are QEMU option syntax
qemu=(qemu-system-x86_64 -accel "$accel" -cpu EPYC,+svm,+npt
	-smp "$smp" -m "$mem" -nodefaults -display none -no-reboot
	-kernel "$kernel" -initrd "$initrd" -append "$append"
	-serial stdio -serial "file:$log/serial1.log"
	-monitor "unix:$tmp/monitor.sock,server=on,wait=off")
printf '%q ' "${qemu[@]}" >"$log/qemu.cmd"
echo >>"$log/qemu.cmd"
: >"$log/serial1.log"

echo "vm: kernel $KVER, smp $smp, timeout ${timeout_s}s, log $log, monitor $tmp/monitor.sock"
start=$(date +%s.%N)
set +e
timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>"$log/qemu.stderr" |
	sed -u 's/\r//g' | tee "$log/console.log"
st=("${PIPESTATUS[@]}")
set -e
qrc=${st[0]}
end=$(date +%s.%N)
elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

# Per-binary counts come from /init's "vm: result" lines; for a binary that
# never got one (panic, hang), count its TAP lines on the console.
con=$log/console.log
read -r passed failed skipped < <(awk -v demo="$demo" '
	function flush() { if (cur != "" && !done) { P += p; F += f; S += s } }
	/^vm: running / { flush(); cur = $3; done = 0; p = f = s = 0; next }
	/^vm: result / { P += $5; F += $7; S += $9; done = 1; next }
	cur != "" && !done && !demo && /^ok [0-9]+/ {
		if (tolower($0) ~ /#[[:space:]]*skip/) s++; else p++; next }
	cur != "" && !done && !demo && /^not ok [0-9]+/ { f++; next }
	END { flush(); print P + 0, F + 0, S + 0 }' "$con")

success=0
if grep -qx "VMIOP-RIG-SUCCESS $nonce" <(tr -d '\r' <"$log/serial1.log"); then
	success=1
else
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		why="timeout: no result after ${timeout_s}s, QEMU killed"
	elif grep -q 'Kernel panic' "$con"; then
		why="kernel panic: $(grep -m1 'Kernel panic' "$con" | sed 's/^\[[^]]*\] //')"
	elif grep -q '^vm: FAIL: kernel errors in dmesg' "$con"; then
		why="dmesg error: $(grep -m1 '^vm: dmesg: ' "$con" | sed 's/^vm: dmesg: //')"
	elif grep -q '^vm: FAIL: ' "$con"; then
		why=$(grep -m1 '^vm: FAIL: ' "$con" | sed 's/^vm: FAIL: //')
	else
		why="no success token (QEMU exit status $qrc; see $log/qemu.stderr)"
	fi
	echo "vm: FAILED: $why"
	failed=$((failed + 1))
fi
echo "vm: finished in ${elapsed}s; log in $log"
echo "vm: $passed passed, $failed failed, $skipped skipped"
[ "$success" = 1 ] && [ "$failed" = 0 ]
