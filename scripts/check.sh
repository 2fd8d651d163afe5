#!/bin/bash
# The whole test run (README's test command, CI's .ci/run): installs what is
# missing, builds everything, runs the cmocka unit tests and the VM tests,
# and ends with one line "N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

passed=0
failed=0
skipped=0
log=$(mktemp -d /tmp/vmiop-check.XXXXXX)

step() { echo; echo "=== $*"; }

step "dependencies"
if ! scripts/install-deps.sh; then
	echo "check: installing dependencies failed"
	echo "0 passed, 1 failed"
	exit 1
fi

step "build: library, tools, selftests (userspace, -Werror)"
if make -s lib tools selftests >"$log/build.txt" 2>&1; then
	passed=$((passed + 1))
else
	cat "$log/build.txt"
	echo "check: userspace build failed"
	failed=$((failed + 1))
fi

step "unit tests (cmocka, ASan/UBSan)"
make -s -C selftests/unit check 2>&1 | tee "$log/unit.txt"
# cmocka's own summary lines, one pair per test program.
u_pass=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log/unit.txt" | awk '{ s += $1 } END { print s + 0 }')
u_fail=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log/unit.txt" | awk '{ s += $1 } END { print s + 0 }')
passed=$((passed + ${u_pass:-0}))
failed=$((failed + ${u_fail:-0}))
if [ "${PIPESTATUS[0]}" -ne 0 ] && [ "${u_fail:-0}" -eq 0 ]; then
	failed=$((failed + 1))	# a test program that crashed or did not build
fi

step "VM tests: module built for the VM's kernel, tests inside QEMU (nested SVM)"
if [ "$failed" -eq 0 ] || [ -x build/selftests/attach ]; then
	make -s vmtest 2>&1 | tee "$log/vm.txt"
	line=$(grep -E '^vm: [0-9]+ passed, [0-9]+ failed' "$log/vm.txt" | tail -n 1)
	if [ -n "$line" ]; then
		v_pass=$(echo "$line" | sed -E 's/^vm: ([0-9]+) passed.*/\1/')
		v_fail=$(echo "$line" | sed -E 's/^vm: [0-9]+ passed, ([0-9]+) failed.*/\1/')
		v_skip=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
		passed=$((passed + v_pass))
		failed=$((failed + v_fail))
		skipped=$((skipped + ${v_skip:-0}))
	else
		echo "check: the VM run ended without a result line"
		failed=$((failed + 1))
	fi
fi

step "rig self-check: a failing test, a panic, a WARNING, a hang must each fail the rig"
scripts/rigcheck.sh 2>&1 | tee "$log/rig.txt"
line=$(grep -E '^rig: [0-9]+ passed, [0-9]+ failed' "$log/rig.txt" | tail -n 1)
if [ -n "$line" ]; then
	passed=$((passed + $(echo "$line" | sed -E 's/^rig: ([0-9]+) passed.*/\1/')))
	failed=$((failed + $(echo "$line" | sed -E 's/^rig: [0-9]+ passed, ([0-9]+) failed.*/\1/')))
else
	failed=$((failed + 1))
fi

echo
echo "logs in $log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
