#!/bin/sh
# Builds vmiop.ko for the kernel the test VM boots and runs the given test
# binaries inside that VM.  Extra run.sh options come from VMTEST_ARGS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
kver=$("$top/scripts/kver.sh")
make -s -C "/lib/modules/$kver/build" M="$top" modules
exec "$top/selftests/vm/run.sh" --module "$top/vmiop.ko" ${VMTEST_ARGS:-} -- "$@"
