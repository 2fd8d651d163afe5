#!/bin/sh
# The README's first command: boots the test VM (stock Debian kernel under
# QEMU with nested SVM, or under Bochs with nested VMX when VMIOP_VM_VENDOR
# (make demo VENDOR=intel) says so), loads vmiop, starts a small
# guest and introspects it from another process.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
make -s lib tools
VMTEST_ARGS="--demo ${VMTEST_ARGS:-}" exec scripts/vmtest.sh build/vmiop-demo
