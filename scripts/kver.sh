#!/bin/sh
# Prints the Debian kernel the test VM boots: the newest one with both an
# image in /boot and a build tree (its headers) in /lib/modules.
set -eu
best=""
for d in /lib/modules/*/; do
	v=$(basename "$d")
	[ -f "/boot/vmlinuz-$v" ] && [ -d "/lib/modules/$v/build" ] || continue
	if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
		best=$v
	fi
done
[ -n "$best" ] || { echo "kver.sh: no kernel with /boot/vmlinuz-* and headers" >&2; exit 1; }
echo "$best"
