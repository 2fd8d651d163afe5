#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boots Debian's stock kernel in an emulator with nested virtualization --
# QEMU TCG with emulated SVM (+NPT) for --vendor amd, Bochs with emulated VMX
# (+EPT) for --vendor intel -- loads kvm/kvm-amd or kvm/kvm-intel (+ the given
# modules), runs static test binaries inside, and decides pass/fail ONLY by a
# nonce-bearing success token that the guest's /init writes to a second
# serial port after every binary exited 0 (or 4, all skipped) with a clean
# dmesg.  A panic, hang or crash can never look like a pass.
#
#   selftests/vm/run.sh [--vendor amd|intel] [--module PATH.ko[:ARGS]]...
#                       [--timeout SECS] [--smp N] [--mem MiB] [--accel QEMU-ACCEL]
#                       [--kernel BZIMAGE] [--kernel-dir DIR] [--log DIR] [--keep] [--demo]
#                       [--append "KERNEL ARGS"] [--linux-guest [--libvmi PREFIX]]
#                       [--overlay DIR] -- BINARY...
#
# --vendor defaults to $VMIOP_VM_VENDOR, else amd.
# --module PATH.ko:a=1,b=2 passes module parameters (a=1 b=2); modules load
# after the vendor's KVM modules (irqbypass, ccp, kvm, kvm-amd or irqbypass,
# kvm, kvm-intel, and their dependencies, found with modinfo; .ko.xz/.zst/.gz
# are decompressed on the host), in the given order.
# --demo: binaries need not print TAP; each counts as one pass/fail/skip by
# its exit status (0 / other / 4).
# --kernel: boot this bzImage instead of /boot/vmlinuz-KVER (intel default:
# an LZ4 repack of it, built once by lz4kernel.sh; see README).
# --kernel-dir DIR: boot a kernel built elsewhere, DIR/bzImage with its
# modules in DIR/lib/modules/KVER/ (modules_install INSTALL_MOD_PATH=DIR),
# e.g. the debug kernel of scripts/debug-kernel.sh (make check-debug).
# --linux-guest: the initramfs also gets the Linux-guest kit
# (linux-guest/mkkit.sh: Debian's QEMU with its libraries and firmware, a
# guest kernel + initramfs, start-linux-guest, lg-qmp, lg-bootloop), so that
# tests can boot a Linux guest under KVM inside the VM; --mem defaults to
# 1536 and --smp to 1 then (two test-VM CPUs make QEMU 7.2 re-deliver
# nested interrupts: see README, "Linux guest").
# --libvmi PREFIX (with --linux-guest): the kit also gets LibVMI from
# PREFIX, contrib/libvmi/build.sh's output (mkkit.sh's LG_KIT_LIBVMI).
# --overlay DIR: DIR's files are copied into the initramfs' root as they
# are (e.g. installed packages with their libraries: make vmtest-packaged).
# VMIOP_QEMU_ARGS: extra QEMU arguments (word-split), e.g. "-d int -D FILE".
# VMIOP_FUZZ_SEED / VMIOP_FUZZ_CALLS reach the fuzzer inside the VM.
#
# Output: the guest console (TAP) on stdout; last line
#   vm: N passed, N failed, N skipped
# Exit 0 only on success.  KVER=... overrides the kernel version.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vendor=${VMIOP_VM_VENDOR:-amd}
timeout_s=900
smp=
mem=
accel=tcg,thread=single	# see README: thread=multi hangs ~1 boot in 6
kernel=
kernel_dir=
modinfo_base=()	# -b DIR with --kernel-dir
log=
keep=0
demo=0
linux_guest=0
libvmi=
overlay=
extra_append=
modules=()
bins=()

# Bochs: emulated instructions per second of guest time.  With clock
# sync=none this only maps instruction counts to guest time (Bochs runs as
# fast as the host lets it, about 50 MIPS here); the guest must be told the
# same rate with tsc_early_khz or its clock is off by ~30x.
bochs_ips=50000000
# The Bochs binary: VMIOP_BOCHS, or the 3.0 that scripts/build-bochs.sh
# builds (and caches) on first use.
bochs=
# Parameters of the in-tree modules the rig loads, by module name.
declare -A kvm_mod_args=()

usage() {
	sed -n '/^#   selftests/,/-- BINARY/p' "${BASH_SOURCE[0]}" | sed 's/^# //'
	exit 2
}
die() { echo "run.sh: $*" >&2; exit 2; }

parse_args() {
	while [ $# -gt 0 ]; do
		case "$1" in
		--vendor) [ $# -ge 2 ] || usage; vendor=$2; shift 2 ;;
		--module) [ $# -ge 2 ] || usage; modules+=("$2"); shift 2 ;;
		--timeout) [ $# -ge 2 ] || usage; timeout_s=$2; shift 2 ;;
		--smp) [ $# -ge 2 ] || usage; smp=$2; shift 2 ;;
		--mem) [ $# -ge 2 ] || usage; mem=$2; shift 2 ;;
		--accel) [ $# -ge 2 ] || usage; accel=$2; shift 2 ;;
		--kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
		--kernel-dir) [ $# -ge 2 ] || usage; kernel_dir=$2; shift 2 ;;
		--log) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
		--append) [ $# -ge 2 ] || usage; extra_append=$2; shift 2 ;;
		--keep) keep=1; shift ;;
		--demo) demo=1; shift ;;
		--linux-guest) linux_guest=1; shift ;;
		--libvmi) [ $# -ge 2 ] || usage; libvmi=$2; shift 2 ;;
		--overlay) [ $# -ge 2 ] || usage; overlay=$2; shift 2 ;;
		--) shift; bins+=("$@"); break ;;
		-h | --help) usage ;;
		-*) usage ;;
		*) bins+=("$1"); shift ;;
		esac
	done
	[ ${#bins[@]} -gt 0 ] || usage
	# The kit's guest kernel and QEMU come from the host's /boot and Debian.
	if [ -n "$kernel_dir" ] && [ "$linux_guest" = 1 ]; then
		die "--linux-guest does not go with --kernel-dir"
	fi
	if [ -n "$libvmi" ] && [ "$linux_guest" = 0 ]; then
		die "--libvmi goes with --linux-guest"
	fi
	# The kit unpacks to ~60 MB of tmpfs and the guest wants 256 MB.
	# One CPU: see README, "Linux guest" (2 of 5 boots hang with two).
	if [ "$linux_guest" = 1 ]; then
		: "${mem:=1536}" "${smp:=1}"
	fi
	: "${mem:=1024}"
}

# ---- per vendor: emulator, KVM modules, kernel arguments ----

setup_vendor() {
	local tools=(cpio gzip modinfo readelf timeout)
	case "$vendor" in
	amd)
		: "${smp:=2}"
		kvm_modules=(irqbypass ccp kvm kvm-amd)
		tools+=(qemu-system-x86_64)
		;;
	intel)
		# Two L1 CPUs, as on AMD: vCPUs kicked from another CPU (IPIs,
		# posted interrupts) are what pause has to get right. Bochs runs
		# both on one host thread, so it costs time, not cores.
		: "${smp:=2}"
		kvm_modules=(irqbypass kvm kvm-intel)
		# Bochs 3.0 refuses KVM's posted-interrupt descriptor at
		# VMRESUME ("phy addr malformed"): no APICv in L1.
		kvm_mod_args[kvm_intel]="enable_apicv=0"
		bochs=${VMIOP_BOCHS:-$("$(dirname "${BASH_SOURCE[0]}")/../../scripts/build-bochs.sh")} ||
			die "cannot build Bochs (scripts/build-bochs.sh)"
		tools+=("$bochs" xorriso)
		[ -r /usr/lib/ISOLINUX/isolinux.bin ] ||
			die "isolinux not installed (scripts/install-deps.sh)"
		[ -r /usr/lib/syslinux/modules/bios/ldlinux.c32 ] ||
			die "syslinux-common not installed (scripts/install-deps.sh)"
		[ -r /usr/share/bochs/BIOS-bochs-latest ] ||
			die "bochsbios not installed (scripts/install-deps.sh)"
		[ -r /usr/share/vgabios/vgabios.bin ] ||
			die "vgabios not installed (scripts/install-deps.sh)"
		;;
	*) die "--vendor must be amd or intel, not '$vendor'" ;;
	esac
	for tool in "${tools[@]}"; do
		command -v "$tool" >/dev/null || die "missing tool: $tool"
	done
}

# Kernel arguments the emulator needs (the shared ones are in main).
vendor_append() {
	case "$vendor" in
	amd)
		# --linux-guest (one test-VM CPU): nohz=off highres=off, the
		# test VM's timer ticks periodically.  QEMU 7.2's nested SVM can
		# drop the request to poll the local APIC that a timer interrupt
		# raises (README, "A lost APIC timer"); a one-shot timer then
		# never comes, a periodic one comes again one tick later and is
		# taken with the lost one.  Not with two CPUs: each tick of the
		# other CPU is an exit request that widens QEMU's re-delivery
		# of an injected interrupt (README, "Why the guest hung").
		if [ "$linux_guest" = 1 ]; then
			echo "console=ttyS0 nohz=off highres=off"
		else
			echo "console=ttyS0"
		fi
		;;
	intel)
		# See README, "Bochs quirks", for each of these.
		echo "console=ttyS0,115200 clearcpuid=fsrm,pku,avx512f" \
			"tsc_early_khz=$((bochs_ips / 1000)) reboot=t cryptomgr.notests"
		;;
	esac
}

# Newest kernel that has both modules and an image; with --kernel-dir, the
# one in DIR.
find_kernel() {
	if [ -n "$kernel_dir" ]; then
		[ -d "$kernel_dir/lib/modules" ] || die "no $kernel_dir/lib/modules"
		if [ -z "${KVER:-}" ]; then
			KVER=$(ls "$kernel_dir/lib/modules")
			[ "$(echo "$KVER" | wc -l)" = 1 ] ||
				die "not one kernel in $kernel_dir/lib/modules (set KVER)"
		fi
		[ -d "$kernel_dir/lib/modules/$KVER" ] || die "no $kernel_dir/lib/modules/$KVER"
		: "${kernel:=$kernel_dir/bzImage}"
		modinfo_base=(-b "$kernel_dir")
		[ -r "$kernel" ] || die "$kernel not readable"
		return 0
	fi
	if [ -z "${KVER:-}" ]; then
		KVER=$(for d in /lib/modules/*/; do
			k=$(basename "$d")
			[ -e "/boot/vmlinuz-$k" ] && echo "$k"
		done | sort -V | tail -n 1)
	fi
	if [ -z "$KVER" ] || [ ! -e "/boot/vmlinuz-$KVER" ]; then
		die "no /boot/vmlinuz-* with /lib/modules/* (KVER=${KVER:-})"
	fi
	if [ -z "$kernel" ]; then
		kernel=/boot/vmlinuz-$KVER
		[ "$vendor" = intel ] && kernel=$(lz4_kernel "$kernel")
	fi
	[ -r "$kernel" ] || die "$kernel not readable"
}

# lz4_kernel IMAGE: prints the cached LZ4 repack of IMAGE, building it once
# (Bochs needs ~90 s to xz-decompress the stock image, ~2 s for LZ4), or
# IMAGE itself if it can't be built.
lz4_kernel() {
	local img=$1 cache sum out
	cache=${VMIOP_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmiop-vm}
	sum=$(sha256sum "$img" | cut -c1-16)
	out=$cache/vmlinuz-lz4-$KVER-$sum
	if [ ! -s "$out" ]; then
		mkdir -p "$cache"
		echo "vm: building $out once (about 90 s; log $out.log)" >&2
		# flock: parallel runs wait for one build.
		# shellcheck disable=SC2016 # sh -c script
		if ! flock "$cache/.lock" sh -c '[ -s "$2" ] || "$1" "$3" "$2" >"$2.log" 2>&1' \
			sh "$here/lz4kernel.sh" "$out" "$KVER"; then
			echo "vm: WARNING: LZ4 kernel build failed (see $out.log);" \
				"booting the xz image, about 90 s slower" >&2
			echo "$img"
			return 0
		fi
	fi
	echo "$out"
}

# ---- initramfs: busybox, modules, tests, /init (shared) ----

declare -A seen=()
declare -A user_mods=()

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

add_deps() {	# add_deps MODULE-OR-PATH
	local deps d
	deps=$(modinfo "${modinfo_base[@]}" -k "$KVER" -F depends "$1" 2>/dev/null) ||
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
	file=$(modinfo "${modinfo_base[@]}" -k "$KVER" -F filename "$1" 2>/dev/null) ||
		die "module $1 not found for kernel $KVER"
	case "$file" in (builtin) return 0 ;; esac
	add_deps "$1"
	install_ko "$file" "$n" "${kvm_mod_args[$n]:-}"
}

# Modules: dependencies first, each once.  A dependency on one of the
# --module files is the caller's business (list them in load order), not
# something to look up in-tree.
add_modules() {
	local spec n m path args name
	: >"$root/modules/order"
	for spec in "${modules[@]}"; do
		n=$(basename "${spec%%:*}")
		user_mods[$(norm "${n%%.ko*}")]=1
	done
	for m in "${kvm_modules[@]}"; do
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
}

add_tests() {
	local b dst i=0
	: >"$root/tests/order"
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
}

# build_initramfs OUT: QEMU gets it gzipped; Bochs uncompressed, because
# isolinux loads 15 MB in a blink but the kernel's gunzip takes ~10 s there.
build_initramfs() {
	local out=$1 a busybox
	busybox=$(command -v busybox || true)
	[ -n "$busybox" ] || die "busybox-static not installed"
	readelf -lW "$busybox" | grep -q INTERP && die "$busybox is dynamic (install busybox-static)"

	root=$tmp/root
	mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,modules,tests}
	cp "$busybox" "$root/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	cp "$here/init" "$root/init"
	chmod 755 "$root/init"
	add_modules
	add_tests
	if [ -n "$overlay" ]; then
		[ -d "$overlay" ] || die "no such directory: $overlay"
		cp -a "$overlay"/. "$root"/
	fi

	(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
		if [ "$vendor" = intel ]; then cat; else gzip -1; fi >"$out"
	if [ "$linux_guest" = 1 ]; then
		# A second, uncompressed archive (gunzip of ~75 MB would cost
		# seconds under emulation); the kernel unpacks concatenated
		# archives, each starting 4-byte aligned.
		LG_KIT_LIBVMI=$libvmi "$here/linux-guest/mkkit.sh" "$KVER" "$tmp/kit.cpio" ||
			die "building the Linux-guest kit failed"
		a=$(stat -c %s "$out")
		head -c $(((4 - a % 4) % 4)) /dev/zero >>"$out"
		cat "$tmp/kit.cpio" >>"$out"
		rm -f "$tmp/kit.cpio"
	fi
}

# ---- emulators: each prints the guest console (ttyS0) on stdout, writes
# ttyS1 to $log/serial1.log, and returns the emulator's status (124 or 137
# when the host-side timeout killed it) ----

run_qemu() {
	# shellcheck disable=SC2054 # commas are QEMU option syntax
	local qemu=(qemu-system-x86_64 -accel "$accel" -cpu EPYC,+svm,+npt
		-smp "$smp" -m "$mem" -nodefaults -display none -no-reboot
		-kernel "$kernel" -initrd "$initrd" -append "$append"
		-serial stdio -serial "file:$log/serial1.log"
		-monitor "unix:$tmp/monitor.sock,server=on,wait=off"
		-qmp "unix:$tmp/qmp.sock,server=on,wait=off")
	# shellcheck disable=SC2206 # word-split on purpose
	[ -n "${VMIOP_QEMU_ARGS:-}" ] && qemu+=($VMIOP_QEMU_ARGS)
	printf '%q ' "${qemu[@]}" >"$log/qemu.cmd"
	echo >>"$log/qemu.cmd"
	timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null 2>"$emu_out" &
	echo $! >"$tmp/emulator.pid"
	hang_dump "$!" &
	wait_emulator
}

# hmp CMD: one human-monitor command to the QEMU being run; its answer.
hmp() {
	LG_QMP_TIMEOUT=10 "$tmp/lg-qmp" "$tmp/qmp.sock" \
		"{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"$1\"}}" |
		sed 's/^{"return": "//; s/"}$//; s/\\r//g; s/\\n/\n/g'
}

# hang_dump PID: shortly before the host-side timeout kills QEMU, records
# where L1 is: its registers twice (in L1 or stuck in a nested guest?),
# and, through the keyboard, sysrq-w and sysrq-t on the console (every
# task's stack: which one waits, and on what).  No effect on a run that
# ends in time, nor on the verdict.
hang_dump() {
	local pid=$1 out=$log/hang-dump.txt i
	[ "$timeout_s" -ge 120 ] || return 0
	# Polled, so that it ends within a second of QEMU (it holds the
	# console pipe: tee waits for it).
	for ((i = 0; i < timeout_s - 45; i++)); do
		sleep 1 </dev/null >/dev/null 2>&1
		kill -0 "$pid" 2>/dev/null || return 0
	done
	echo "vm: no result after $((timeout_s - 45))s: L1's registers to $out, sysrq-w/t to the console"
	# The local APIC twice, 5 s apart, before anything touches L1: is its
	# timer armed and counting, expired with the vector left in IRR (the
	# README's "A lost APIC timer"), or never armed?
	{
		echo "== info lapic"; hmp "info lapic"
		sleep 5
		echo "== 5 s later: info lapic"; hmp "info lapic"
		echo "== info registers -a"; hmp "info registers -a"
	} >"$out" 2>&1
	# The stacks print at KERN_INFO: console loglevel 9 first.
	hmp "sendkey alt-sysrq-9" >/dev/null 2>&1
	sleep 1
	hmp "sendkey alt-sysrq-w" >/dev/null 2>&1
	sleep 5
	hmp "sendkey alt-sysrq-t" >/dev/null 2>&1
	sleep 20
	{ echo "== 25 s later: info registers -a"; hmp "info registers -a"; } >>"$out" 2>&1
}

# wait_emulator: waits for the emulator in $tmp/emulator.pid, returns its status.
wait_emulator() {
	local pid rc=0
	pid=$(cat "$tmp/emulator.pid" 2>/dev/null) || return 255	# cleanup ran
	wait "$pid" || rc=$?
	rm -f "$tmp/emulator.pid"
	return "$rc"
}

# Bochs can't boot -kernel/-initrd: make an isolinux CD.
make_iso() {
	local iso=$1 t=$tmp/iso
	mkdir -p "$t/isolinux"
	cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 "$t/isolinux/"
	cp "$kernel" "$t/vmlinuz"
	cp "$initrd" "$t/initrd"
	cat >"$t/isolinux/isolinux.cfg" <<-EOF
	DEFAULT vm
	PROMPT 0
	TIMEOUT 0
	LABEL vm
	  KERNEL /vmlinuz
	  APPEND initrd=/initrd $append
	EOF
	xorriso -as mkisofs -quiet -o "$iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
		-no-emul-boot -boot-load-size 4 -boot-info-table -R -J "$t" 2>"$log/xorriso.log" ||
		die "xorriso failed: $(tail -n 3 "$log/xorriso.log")"
}

run_bochs() {
	local iso=$tmp/boot.iso
	make_iso "$iso"
	# panic: fatal ends Bochs on an emulator panic, e.g. the triple fault
	# that reboot=t turns a guest panic into (Bochs has no -no-reboot).
	# error: ignore, or every VM exit logs an unknown-MSR (DEBUGCTL) line.
	# sound: dummy, or the ALSA probe crashes Bochs where there's no card.
	cat >"$tmp/bochsrc" <<-EOF
	megs: $mem
	cpu: model=corei7_icelake_u, count=$smp, ips=$bochs_ips, reset_on_triple_fault=0, ignore_bad_msrs=1
	romimage: file=/usr/share/bochs/BIOS-bochs-latest
	vgaromimage: file=/usr/share/vgabios/vgabios.bin
	pci: enabled=1, chipset=i440fx
	ata0-master: type=cdrom, path=$iso, status=inserted
	boot: cdrom
	com1: enabled=1, mode=file, dev=$log/console.raw
	com2: enabled=1, mode=file, dev=$log/serial1.log
	clock: sync=none, time0=local
	display_library: rfb, options="timeout=0"
	sound: driver=dummy
	panic: action=fatal
	error: action=ignore
	debug: action=ignore
	log: $log/bochs.log
	EOF
	cp "$tmp/bochsrc" "$log/bochsrc"
	# The debugger is compiled in: -rc makes it "c"ontinue at once, and
	# stdin /dev/null ends it should it ever stop at its prompt.
	echo c >"$tmp/bochs.rc"
	: >"$log/console.raw"
	timeout -k 10 "$timeout_s" "$bochs" -q -f "$tmp/bochsrc" -rc "$tmp/bochs.rc" \
		<"${VMIOP_BOCHS_STDIN:-/dev/null}" >"$emu_out" 2>&1 &
	echo $! >"$tmp/emulator.pid"
	# Bochs writes ttyS0 to a file: follow it until Bochs is gone.
	tail -c +1 -F --pid=$! -s 0.2 "$log/console.raw" 2>/dev/null
	wait_emulator
}

# ---- verdict (shared) ----

# Per-binary counts come from /init's "vm: result" lines; for a binary that
# never got one (panic, hang), count its TAP lines on the console.
count_results() {
	awk -v demo="$demo" '
	function flush() { if (cur != "" && !done) { P += p; F += f; S += s } }
	/^vm: running / { flush(); cur = $3; done = 0; p = f = s = 0; next }
	/^vm: result / { P += $5; F += $7; S += $9; done = 1; next }
	cur != "" && !done && !demo && /^ok [0-9]+/ {
		if (tolower($0) ~ /#[[:space:]]*skip/) s++; else p++; next }
	cur != "" && !done && !demo && /^not ok [0-9]+/ { f++; next }
	END { flush(); print P + 0, F + 0, S + 0 }' "$1"
}

# failure_reason ERC: why there is no token.
failure_reason() {
	local erc=$1 con=$log/console.log
	if [ "$erc" = 124 ] || [ "$erc" = 137 ]; then
		echo "timeout: no result after ${timeout_s}s, $emulator killed"
	elif grep -v '^#' "$con" | grep -q 'Kernel panic'; then
		# Not from TAP comments: a test may quote a nested guest's
		# console (lg-bootloop's evidence, "#   | ...").
		echo "kernel panic: $(grep -v '^#' "$con" | grep -m1 'Kernel panic' | sed 's/^\[[^]]*\] //')"
	elif grep -q '^vm: FAIL: kernel errors in dmesg' "$con"; then
		echo "dmesg error: $(grep -m1 '^vm: dmesg: ' "$con" | sed 's/^vm: dmesg: //')"
	elif grep -q '^vm: FAIL: ' "$con"; then
		grep -m1 '^vm: FAIL: ' "$con" | sed 's/^vm: FAIL: //'
	else
		echo "no success token ($emulator exit status $erc; see $emu_out)"
	fi
}

cleanup() {
	local pid
	pid=$(cat "$tmp/emulator.pid" 2>/dev/null || true)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	if [ "$keep" = 1 ]; then
		echo "vm: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}

main() {
	local start end elapsed erc passed failed skipped success nonce
	parse_args "$@"
	setup_vendor
	find_kernel

	tmp=$(mktemp -d /tmp/vmiop-vm.XXXXXX)
	[ -n "$log" ] || log=$(mktemp -d /tmp/vmiop-vm-log.XXXXXX)
	mkdir -p "$log"
	log=$(cd "$log" && pwd)
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	initrd=$tmp/initrd
	build_initramfs "$initrd"

	nonce=$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')
	append="$(vendor_append) loglevel=5 mitigations=off panic=-1 panic_on_warn=1"
	# sysrq_always_enabled: the hang dump's sysrq keys (Debian allows only some)
	append+=" oops=panic softlockup_panic=1 sysrq_always_enabled rdinit=/init vmiop.nonce=$nonce"
	append+=" vmiop.demo=$demo${extra_append:+ $extra_append}"
	# selftests/vmiop/fuzz.c: a seed to replay, a number of calls
	append+="${VMIOP_FUZZ_SEED:+ vmiop.fuzz_seed=$VMIOP_FUZZ_SEED}"
	append+="${VMIOP_FUZZ_CALLS:+ vmiop.fuzz_calls=$VMIOP_FUZZ_CALLS}"
	# VMTEST_ONLY=NAME[,NAME...]: only those tests (selftests/include/vmtest.h)
	append+="${VMTEST_ONLY:+ vmiop.only=$VMTEST_ONLY}"
	: >"$log/serial1.log"

	case "$vendor" in
	amd) emulator=QEMU; launch=run_qemu; emu_out=$log/qemu.stderr
		gcc -O2 -Wall -Wextra -Werror -o "$tmp/lg-qmp" "$here/linux-guest/lg-qmp.c" ||
			die "building lg-qmp (the hang dump's monitor client) failed"
		echo "vm: kernel $KVER, smp $smp, timeout ${timeout_s}s, log $log, monitor $tmp/monitor.sock" ;;
	intel) emulator=Bochs; launch=run_bochs; emu_out=$log/bochs.out
		echo "vm: kernel $KVER ($kernel), Bochs, smp $smp, timeout ${timeout_s}s, log $log" ;;
	esac
	start=$(date +%s.%N)
	# In the background, so that INT/TERM run cleanup (kills the emulator)
	# at once instead of after the emulator is gone.
	{ erc=0; $launch || erc=$?; echo "$erc" 2>/dev/null >"$tmp/emulator.rc"; } |
		sed -u 's/\r//g' | tee "$log/console.log" &
	wait $! || true
	erc=$(cat "$tmp/emulator.rc" 2>/dev/null || echo "?")
	end=$(date +%s.%N)
	elapsed=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

	read -r passed failed skipped < <(count_results "$log/console.log")
	success=0
	if grep -qx "VMIOP-RIG-SUCCESS $nonce" <(tr -d '\r' <"$log/serial1.log"); then
		success=1
	else
		echo "vm: FAILED: $(failure_reason "$erc")"
		failed=$((failed + 1))
	fi
	echo "vm: finished in ${elapsed}s; log in $log"
	echo "vm: $passed passed, $failed failed, $skipped skipped"
	[ "$success" = 1 ] && [ "$failed" = 0 ]
}

main "$@"
