#!/bin/bash
# The manual pages (man/) against the code they document: fails when they
# drift.  Each check is one test, printed "ok - ..." or "not ok - ...
# (missing: NAME...)", and the run ends with one line "man: N passed, N
# failed" (scripts/check.sh adds it to its totals).
#
#   vmiop.4     every ioctl of uapi/linux/vmiop.h (#define VMIOP_X _IO(...))
#               has a .SS heading; every module_param of kmod/*.c, every
#               VMIOP_GENL_CMD_*, VMIOP_GENL_A_* and multicast group is a
#               tag (.TP/.TQ)
#   libvmiop.3  every symbol libvmiop/libvmiop.map names, and every function
#               libvmiop/libvmiop.h declares (the map's vmiop_* glob exports
#               them), has its prototype (NAME( on a .B/.BI line)
#   vmiop.1     every command and option tools/vmiop.c's usage() prints (its
#               commands[] and options[] tables) is a tag
#   every page  groff -man -ww -z reports no warning (the three above, and
#               any other man/*.[1-9])
#
# VMIOP_MAN_DIR=DIR checks the pages in DIR instead of man/ (to try the
# check on a copy).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1

man_dir=${VMIOP_MAN_DIR:-man}
uapi=uapi/linux/vmiop.h
passed=0
failed=0

# result NAME-OF-TEST MISSING...: one line, counted.
result() {
	local what=$1
	shift
	if [ $# -eq 0 ]; then
		echo "ok - $what"
		passed=$((passed + 1))
	else
		echo "not ok - $what (missing: $*)"
		failed=$((failed + 1))
	fi
}

# The words of a page's tags: the lines after .TP or .TQ (and .SS headings
# with headings=1), their macro, quotes, commas and font escapes dropped,
# \- as -.
tag_words() {
	awk -v headings="${2:-0}" '
		function words(s) {
			sub(/^\.[A-Z]+[ \t]*/, "", s)
			gsub(/\\-/, "-", s)
			gsub(/\\f[BIRP]/, "", s)
			gsub(/\\c/, "", s)
			gsub(/[",]/, " ", s)
			n = split(s, w, /[ \t]+/)
			for (i = 1; i <= n; i++)
				if (w[i] != "")
					print w[i]
		}
		tag { if ($0 ~ /^\./) words($0); tag = 0 }
		/^\.(TP|TQ)([ \t]|$)/ { tag = 1; next }
		headings && /^\.SS[ \t]/ { words($0) }
	' "$1" | sort -u
}

# check NAME-OF-TEST WORD-LIST-FILE NAME...: the names not in the list.
missing_from() {
	local list=$1 name
	shift
	for name in "$@"; do
		grep -qxF -- "$name" "$list" || printf '%s ' "$name"
	done
}

# C source without its comments (awk: no other tool needed).
strip_comments() {
	awk '{
		line = $0; out = ""
		while (line != "") {
			if (in_comment) {
				p = index(line, "*/")
				if (!p) { line = ""; break }
				line = substr(line, p + 2); in_comment = 0
			} else {
				p = index(line, "/*")
				if (!p) { out = out line; line = ""; break }
				out = out substr(line, 1, p - 1); line = substr(line, p + 2)
				in_comment = 1
			}
		}
		print out
	}' "$1"
}

# A page that is not there fails every check on it, once each.
page() {
	if [ -f "$man_dir/$1" ]; then
		echo "$man_dir/$1"
	else
		echo /dev/null
	fi
}

work=$(mktemp -d /tmp/vmiop-check-man.XXXXXX)
trap 'rm -rf "$work"' EXIT

v4=$(page vmiop.4)
l3=$(page libvmiop.3)
v1=$(page vmiop.1)
tag_words "$v4" 1 >"$work/v4-headings-and-tags"
tag_words "$v4" >"$work/v4-tags"
tag_words "$v1" >"$work/v1-tags"

# -- vmiop.4 ----------------------------------------------------------------

# Each ioctl is the heading of its subsection (two sharing a struct share one).
awk '/^\.SS[ \t]/ { sub(/^\.SS[ \t]+/, ""); gsub(/[",]/, " "); n = split($0, w, /[ \t]+/);
	for (i = 1; i <= n; i++) if (w[i] != "") print w[i] }' "$v4" | sort -u >"$work/v4-ss"
mapfile -t ioctls < <(sed -nE 's/^#define (VMIOP_[A-Z0-9_]+)[ \t]+_IO[RW]*\(.*/\1/p' "$uapi")
if [ ${#ioctls[@]} -eq 0 ]; then
	result "vmiop.4 documents every ioctl of $uapi" "(no _IO ioctl found: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.4 documents every ioctl of $uapi (${#ioctls[@]})" \
		$(missing_from "$work/v4-ss" "${ioctls[@]}")
fi

# Every struct of the ABI (the device's and the #VE page's) is named there:
# ioctl arguments, event payloads, the ring's and the agent's layouts.
mapfile -t structs < <(sed -nE 's/^struct (vmiop_[a-z0-9_]+) \{.*/\1/p' "$uapi" \
	uapi/linux/vmiop_ve.h | sort -u)
if [ ${#structs[@]} -eq 0 ]; then
	result "vmiop.4 names every struct of the ABI" "(no struct found in $uapi: update this check)"
else
	grep -oE 'vmiop_[a-z0-9_]+' "$v4" | sort -u >"$work/v4-words"
	# shellcheck disable=SC2046
	result "vmiop.4 names every struct of uapi/linux/vmiop.h and vmiop_ve.h (${#structs[@]})" \
		$(missing_from "$work/v4-words" "${structs[@]}")
fi

mapfile -t params < <(sed -nE 's/^[ \t]*module_param(_named)?\([ \t]*([a-z0-9_]+).*/\2/p' kmod/*.c |
	sort -u)
if [ ${#params[@]} -eq 0 ]; then
	result "vmiop.4 documents every module parameter" "(no module_param in kmod/*.c: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.4 documents every module parameter of kmod/*.c (${#params[@]})" \
		$(missing_from "$work/v4-tags" "${params[@]}")
fi

mapfile -t genl_cmds < <(sed -nE 's/^[ \t]*(VMIOP_GENL_CMD_[A-Z0-9_]+).*/\1/p' "$uapi" |
	grep -vxE 'VMIOP_GENL_CMD_(UNSPEC|MAX)')
if [ ${#genl_cmds[@]} -eq 0 ]; then
	result "vmiop.4 documents every generic netlink command" "(none found in $uapi: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.4 documents every generic netlink command (${#genl_cmds[@]})" \
		$(missing_from "$work/v4-tags" "${genl_cmds[@]}")
fi

mapfile -t genl_attrs < <(sed -nE 's/^[ \t]*(VMIOP_GENL_A_[A-Z0-9_]+).*/\1/p' "$uapi" |
	grep -vxE 'VMIOP_GENL_A_(UNSPEC|PAD|MAX)')
if [ ${#genl_attrs[@]} -eq 0 ]; then
	result "vmiop.4 documents every generic netlink attribute" "(none found in $uapi: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.4 documents every generic netlink attribute (${#genl_attrs[@]})" \
		$(missing_from "$work/v4-tags" "${genl_attrs[@]}")
fi

mapfile -t genl_groups < <(sed -nE 's/^#define (VMIOP_GENL_MCGRP_[A-Z0-9_]+).*/\1/p' "$uapi")
if [ ${#genl_groups[@]} -eq 0 ]; then
	result "vmiop.4 documents every multicast group" "(none found in $uapi: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.4 documents every generic netlink multicast group (${#genl_groups[@]})" \
		$(missing_from "$work/v4-tags" "${genl_groups[@]}")
fi

# -- libvmiop.3 -------------------------------------------------------------

# The functions with a prototype: NAME( on a .B or .BI line.
grep -E '^\.BI?[ \t]' "$l3" | grep -oE '(^|[^A-Za-z0-9_])vmiop_[a-z0-9_]+\(' |
	sed -E 's/^[^v]*//; s/\($//' | sort -u >"$work/l3-protos"

mapfile -t map_syms < <(strip_comments libvmiop/libvmiop.map |
	sed -nE 's/^[ \t]*(vmiop_[a-z0-9_]+)[ \t]*;.*/\1/p' | sort -u)
if [ ${#map_syms[@]} -eq 0 ]; then
	result "libvmiop.3 documents every symbol of libvmiop.map" "(none found: update this check)"
else
	# shellcheck disable=SC2046
	result "libvmiop.3 documents every symbol libvmiop/libvmiop.map names (${#map_syms[@]})" \
		$(missing_from "$work/l3-protos" "${map_syms[@]}")
fi

mapfile -t header_funcs < <(strip_comments libvmiop/libvmiop.h |
	grep -oE '(^|[^A-Za-z0-9_])vmiop_[a-z0-9_]+[ \t]*\(' | sed -E 's/^[^v]*//; s/[ \t]*\($//' |
	sort -u)
if [ ${#header_funcs[@]} -eq 0 ]; then
	result "libvmiop.3 documents every function of libvmiop.h" "(none found: update this check)"
else
	# shellcheck disable=SC2046
	result "libvmiop.3 documents every function libvmiop/libvmiop.h declares (${#header_funcs[@]})" \
		$(missing_from "$work/l3-protos" "${header_funcs[@]}")
fi

# -- vmiop.1 ----------------------------------------------------------------

# usage() prints the commands[] and options[] tables of tools/vmiop.c.
mapfile -t commands < <(awk '/^static const struct command commands\[\] = \{/ { t = 1; next }
	t && /^\};/ { t = 0 } t' tools/vmiop.c | sed -nE 's/^[ \t]*\{ "([a-z0-9-]+)",.*/\1/p')
if [ ${#commands[@]} -eq 0 ]; then
	result "vmiop.1 documents every command of tools/vmiop.c" "(no commands[] table found: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.1 documents every command tools/vmiop.c's usage() prints (${#commands[@]})" \
		$(missing_from "$work/v1-tags" "${commands[@]}")
fi

mapfile -t options < <(awk '/^\} options\[\] = \{/ { t = 1; next } t && /^\};/ { t = 0 } t' tools/vmiop.c |
	sed -nE 's/^[ \t]*\{ "(-[^"]*)".*/\1/p' | tr ', ' '\n' | grep -E '^-' | sort -u)
if [ ${#options[@]} -eq 0 ]; then
	result "vmiop.1 documents every option of tools/vmiop.c" "(no options[] table found: update this check)"
else
	# shellcheck disable=SC2046
	result "vmiop.1 documents every option tools/vmiop.c's usage() prints (${#options[@]})" \
		$(missing_from "$work/v1-tags" "${options[@]}")
fi

# -- every page: groff's own warnings --------------------------------------

# The three pages above, and any other page in the directory.
pages=(vmiop.1 libvmiop.3 vmiop.4)
for f in "$man_dir"/*.[1-9]; do
	[ -f "$f" ] || continue
	case " ${pages[*]} " in *" ${f##*/} "*) ;; *) pages+=("${f##*/}") ;; esac
done
for p in "${pages[@]}"; do
	if [ ! -f "$man_dir/$p" ]; then
		result "$p: groff -man -ww reports no warning" "$man_dir/$p"
	elif ! command -v groff >/dev/null; then
		result "$p: groff -man -ww reports no warning" "groff (apt-get install groff-base)"
	else
		warnings=$(groff -man -ww -z "$man_dir/$p" 2>&1)
		if [ -n "$warnings" ]; then
			echo "$warnings" | sed 's/^/# /'
			result "$p: groff -man -ww reports no warning" "a clean page ($(echo "$warnings" |
				wc -l) warnings above)"
		else
			result "$p: groff -man -ww reports no warning"
		fi
	fi
done

echo "man: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
