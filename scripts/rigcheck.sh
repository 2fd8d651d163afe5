#!/bin/bash
# Proves the VM rig can fail: each rigcheck program breaks the run in one
# way (failing test, kernel panic, WARNING in dmesg, hang) and the rig must
# report a failure for it; an all-skipped program must pass.  Prints TAP.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
make -s -C "$top/selftests/vm" rigcheck >/dev/null || exit 1
# Bochs boots two CPUs far slower than QEMU: the hang case waits longer.
[ "${VMIOP_VM_VENDOR:-amd}" = intel ] && timeout=150 || timeout=60
cases=("fail 1" "panic 1" "dmesg 1" "hang 1" "skip 0")
echo "TAP version 13"
echo "1..${#cases[@]}"
n=0
bad=0
for c in "${cases[@]}"; do
	set -- $c
	n=$((n + 1))
	out=$("$top/selftests/vm/run.sh" --timeout "$timeout" -- "$top/selftests/vm/rigcheck-$1" 2>&1)
	rc=$?
	reason=$(printf '%s\n' "$out" | grep -E '^vm: FAILED' | tail -n 1)
	if { [ "$2" -eq 1 ] && [ $rc -ne 0 ]; } || { [ "$2" -eq 0 ] && [ $rc -eq 0 ]; }; then
		echo "ok $n rig reports rigcheck-$1 ${reason:+(${reason#vm: })}"
	else
		echo "not ok $n rig reports rigcheck-$1 (exit $rc)"
		bad=$((bad + 1))
	fi
done
echo "rig: $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
