#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check-debug: the AMD VM suite (what `make vmtest VENDOR=amd` runs)
# on a debug build of Debian's 6.1 (lockdep, KASAN, DEBUG_ATOMIC_SLEEP:
# scripts/debug-kernel.sh, built once and cached), with vmiop.ko built
# against that kernel's tree.  Any lockdep, KASAN or sleeping-in-atomic
# report fails the run (selftests/vm/init's dmesg scan; KASAN panics with
# panic_on_warn).  Ends with one line "N passed, N failed, N skipped".
#
#   scripts/check-debug.sh BINARY...    (the Makefile passes the suite)
#
# VMTEST_ARGS: extra run.sh options, e.g. "--timeout 1800 --log DIR".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
[ $# -gt 0 ] || { sed -n 's/^#   //p' "$0"; exit 2; }

log=$(mktemp -d /tmp/vmiop-check-debug.XXXXXX)
t0=$(date +%s)
step() { echo; echo "=== $* (at $(($(date +%s) - t0)) s)"; }
# Nothing ran: one failure, and the summary line all the same.
fail() {
	echo "check-debug: $*"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

step "debug kernel (scripts/debug-kernel.sh; cached after the first build)"
kdir=$(scripts/debug-kernel.sh) || fail "building the debug kernel failed"
kver=$(cat "$kdir/kver")
echo "check-debug: $kver in $kdir"

# Built in a copy of the module's sources: `make vmtest` builds vmiop.ko
# in the top directory against Debian's kernel, and the two must not
# overwrite each other's objects.
step "vmiop.ko against $kdir/obj"
mod=$top/build/debug-kmod
mkdir -p "$mod"
# Sources only (kmod/ also holds the other build's objects); -p keeps
# their times, so kbuild rebuilds only what changed.
{ echo Kbuild; echo VERSION; find kmod uapi -name '*.[ch]'; } | xargs cp --parents -pu -t "$mod" ||
	fail "copying the module sources failed"
if ! make -s -C "$kdir/obj" M="$mod" modules >"$log/module.txt" 2>&1; then
	cat "$log/module.txt"
	fail "vmiop.ko does not build against $kver"
fi
cat "$log/module.txt"

step "VM tests (amd) on $kver"
# shellcheck disable=SC2086 # VMTEST_ARGS: word-split on purpose
selftests/vm/run.sh --vendor amd --kernel-dir "$kdir" --module "$mod/vmiop.ko" \
	${VMTEST_ARGS:-} -- "$@" 2>&1 | tee "$log/vm.txt"

echo
echo "check-debug: $(($(date +%s) - t0)) s; logs in $log"
counts=$(awk '$1 == "vm:" && $3 == "passed," && $5 == "failed," { p = $2; f = $4; s = $6 }
	END { if (p != "") print p, f, s }' "$log/vm.txt")
[ -n "$counts" ] || fail "the VM run printed no result line"
read -r passed failed skipped <<<"$counts"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
