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

# Adds the counts of a "PREFIX: N passed, N failed[, N skipped]" line of
# file $2 to the totals, or counts one failure if the run never printed one.
add_counts() {
	local counts
	counts=$(awk -v p="$1:" '$1 == p && $3 == "passed," && $5 ~ /^failed/ {
		s = ($7 ~ /^skipped/) ? $6 : 0; last = $2 " " $4 " " s }
		END { print last }' "$2")
	if [ -z "$counts" ]; then
		echo "check: $2: no result line"
		failed=$((failed + 1))
		return
	fi
	set -- $counts
	passed=$((passed + $1))
	failed=$((failed + $2))
	skipped=$((skipped + $3))
}

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
unit_status=${PIPESTATUS[0]}
# cmocka's own summary lines, one pair per test program.
u_pass=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$log/unit.txt" | awk '{ s += $1 } END { print s + 0 }')
u_fail=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$log/unit.txt" | awk '{ s += $1 } END { print s + 0 }')
passed=$((passed + ${u_pass:-0}))
failed=$((failed + ${u_fail:-0}))
if [ "$unit_status" -ne 0 ] && [ "${u_fail:-0}" -eq 0 ]; then
	failed=$((failed + 1))	# a test program that crashed or did not build
fi

# The manual pages against the code: every ioctl, library function, CLI
# command and option, module parameter and netlink name documented, and
# groff without a warning.
step "manual pages (man/): coverage, groff -ww"
scripts/check-man.sh 2>&1 | tee "$log/man.txt"
add_counts man "$log/man.txt"

# What an installation gives: make install into a scratch root, a program
# outside the tree built against it (shared and static), DKMS building the
# module from the installed sources.  The packages themselves: make deb.
step "installation: make install, an outside program, DKMS"
scripts/check-install.sh 2>&1 | tee "$log/install.txt"
add_counts install "$log/install.txt"

step "Debian packages: make deb (dpkg-buildpackage, lintian)"
if make -s deb >"$log/deb.txt" 2>&1; then
	echo "deb: 1 passed, 0 failed" | tee -a "$log/deb.txt"
else
	tail -30 "$log/deb.txt"
	echo "deb: 0 passed, 1 failed" | tee -a "$log/deb.txt"
fi
add_counts deb "$log/deb.txt"

# The packages installed here with apt-get (vmiop-dkms's postinst has DKMS
# build the module for the VM's kernel), then purged; the test VM with
# that vmiop.ko and the installed vmiop: a session with the installed tool,
# attach, the VM registry through the library, the CLI.
step "VM tests (amd): the packages installed, vmiop.ko as their DKMS built it"
make -s vmtest-packaged VENDOR=amd 2>&1 | tee "$log/vm-packaged.txt"
add_counts vm "$log/vm-packaged.txt"

# AMD: QEMU TCG with nested SVM; Intel: Bochs with nested VMX. The same test
# binaries on both; VMIOP_CHECK_VENDORS narrows it for a quick local run.
for vendor in ${VMIOP_CHECK_VENDORS:-amd intel}; do
	step "VM tests ($vendor): module built for the VM's kernel, tests in the VM"
	if [ "$failed" -eq 0 ] || [ -x build/selftests/attach ]; then
		make -s vmtest VENDOR="$vendor" 2>&1 | tee "$log/vm-$vendor.txt"
		add_counts vm "$log/vm-$vendor.txt"
	fi

	# Debian's QEMU in the test VM, running a Linux guest.  Under Bochs a
	# nested Linux guest stalls the test VM (README, "Linux guests"): there
	# only the tests with their own tiny guest, gdbstub's and LibVMI's INT3.
	step "VM tests ($vendor): Debian's QEMU running a guest, introspected"
	if [ "$failed" -ne 0 ] && [ ! -x build/selftests-linux/linux_guest ]; then
		echo "check: no linux_guest test binary (the build failed)"
	elif [ "$vendor" = intel ]; then
		VMTEST_ONLY=qemu_gdbstub_and_vmiop_breakpoint_events_share_int3,libvmi_interrupt_event_example_reinjects_the_guests_int3,libvmi_breakpoint_recoil_on_the_guests_code \
			make -s vmtest-linux VENDOR="$vendor" 2>&1 | tee "$log/vm-linux-$vendor.txt"
	else
		make -s vmtest-linux VENDOR="$vendor" 2>&1 | tee "$log/vm-linux-$vendor.txt"
	fi
	add_counts vm "$log/vm-linux-$vendor.txt"

	step "rig self-check ($vendor): a failing test, a panic, a WARNING, a hang must each fail the rig"
	VMIOP_VM_VENDOR=$vendor scripts/rigcheck.sh 2>&1 | tee "$log/rig-$vendor.txt"
	add_counts rig "$log/rig-$vendor.txt"
done

echo
echo "logs in $log"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
