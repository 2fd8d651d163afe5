#!/bin/sh
# The README's first command: boots the test VM (stock Debian kernel under
# QEMU with nested SVM, or under Bochs with nested VMX when VMIOP_VM_VENDOR
# (make demo VENDOR=intel) says so), loads vmiop, and introspects two
# guests from another process: Debian's QEMU running Debian's kernel
# (tools/linux-demo.sh: its kernel, its processes, events, detach), then
# vmiop's own small guest (tools/demo.c: registers, memory, a mapped page,
# events answered).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
make -s lib tools
if [ "${VMIOP_VM_VENDOR:-amd}" = intel ]; then
	# A Linux guest nested under Bochs stalls the test VM's CPU, vmiop
	# loaded or not (README, "Linux guests"): the small guest only.
	echo "demo: under Bochs, vmiop's own small guest only (README, \"Linux guests\")"
	VMTEST_ARGS="--demo ${VMTEST_ARGS:-}" exec scripts/vmtest.sh build/vmiop-demo
fi
LG_KIT_EXTRA="$top/build/vmiop ${LG_KIT_EXTRA:-}" \
	VMTEST_ARGS="--demo --linux-guest ${VMTEST_ARGS:-}" \
	exec scripts/vmtest.sh tools/linux-demo.sh build/vmiop-demo
