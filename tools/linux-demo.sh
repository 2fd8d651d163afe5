#!/bin/sh
# SPDX-License-Identifier: MIT
#
# The first part of `make demo`, run inside the test VM (scripts/demo.sh
# boots it with run.sh --linux-guest, the vmiop CLI in its /bin): Debian's
# QEMU runs Debian's kernel as a KVM guest with a small workload, and vmiop
# looks at it as a VMI user would first: no profile, no System.map, no
# debug package, only the guest's own BTF and kallsyms.
set -u

dir=/tmp/linux-guest
say() { printf '\n== %s\n' "$*"; }
# The last whole heartbeat line (QEMU may have written part of the next).
heartbeat() {
	awk 'NR > 1 && prev ~ /^linux-guest: heartbeat/ { last = prev } { prev = $0 }
		END { print last }' "$dir/console.log" | tr -d '\r'
}

say "starting Debian's QEMU with -enable-kvm, booting Debian's kernel (start-linux-guest)"
pid=$(start-linux-guest -d "$dir") || exit 1
echo "QEMU pid $pid; the guest says:"
grep -m1 'linux-guest: init' "$dir/console.log" | tr -d '\r' | sed 's/^/  /'
echo "  $(heartbeat)"

say "vmiop -p $pid info"
vmiop -p "$pid" info || exit 1

say "vmiop -p $pid linux    (the guest kernel, found in guest memory)"
vmiop -p "$pid" linux || exit 1

say "vmiop -p $pid ps       (its processes: task list walked with offsets from its BTF)"
vmiop -p "$pid" ps || exit 1

say "vmiop -p $pid sym linux_banner"
vmiop -p "$pid" sym linux_banner || exit 1

say "vmiop -l -p $pid events cr,msr 16    (CR3 writes switch processes: -l names them)"
vmiop -l -p "$pid" events cr,msr 16 || exit 1

say "detached: the guest runs on"
before=$(heartbeat)
n=0
while [ "$(heartbeat)" = "$before" ] && [ $n -lt 600 ]; do
	sleep 0.1
	n=$((n + 1))
done
echo "  $before"
echo "  $(heartbeat)"
[ "$(heartbeat)" != "$before" ] || { echo "the guest stopped"; exit 1; }

lg-qmp "$dir/qmp.sock" '{"execute":"quit"}' >/dev/null
echo
echo "QEMU quit; the Linux-guest demo is over"
