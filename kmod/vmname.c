// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * VM names from VMM command lines.  Pure: no allocation, every read within
 * the caller's bounds.
 */
#ifdef __KERNEL__
#include <linux/string.h>
#else
#include <string.h>
#endif
#include "vmname.h"

bool vmname_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		unsigned char c = name[i];

		if (i >= VMNAME_MAX - 1 || c < 0x20 || c == 0x7f || c == '/')
			return false;
	}
	return i > 0;
}

/* The bytes of one NUL-terminated argument in [p, end), or -1 if cut off. */
static long vmname_arg_len(const char *p, const char *end)
{
	const char *nul = memchr(p, '\0', end - p);

	return nul ? nul - p : -1;
}

/*
 * QEMU's get_opt_value(): up to a ',' that is not ",,", which stands for
 * one comma.  Copies into @out while it fits; *@len counts every byte, so
 * that a value too long is seen as such.  Returns where parsing goes on.
 */
static const char *vmname_opt_value(const char *p, const char *end, char *out, size_t *len)
{
	*len = 0;
	while (p < end) {
		if (*p == ',') {
			if (p + 1 >= end || p[1] != ',')
				break;
			p++;
		}
		if (*len < VMNAME_MAX)
			out[*len] = *p;
		(*len)++;
		p++;
	}
	return p;
}

/*
 * QEMU's opts_do_parse() for "-name": a first item without '=' is the
 * implied "guest".  Updates @name / *@found with the last guest= value.
 */
static void vmname_parse_opts(const char *p, const char *end, char name[VMNAME_MAX],
			      bool *found)
{
	char value[VMNAME_MAX];
	bool first = true;

	while (p < end) {
		const char *key = p;
		size_t key_len, len;
		bool is_guest;

		while (p < end && *p != '=' && *p != ',')
			p++;
		key_len = p - key;
		if (p < end && *p == '=') {
			is_guest = key_len == 5 && !memcmp(key, "guest", 5);
			p++;
		} else if (first) {
			is_guest = true;
			p = key;
		} else {
			/* a flag ("foo" for foo=on): no value to take */
			if (p < end)
				p++;
			first = false;
			continue;
		}
		p = vmname_opt_value(p, end, value, &len);
		if (p < end)
			p++;	/* the separating ',' */
		first = false;
		if (!is_guest)
			continue;
		*found = len < VMNAME_MAX;
		if (*found) {
			memcpy(name, value, len);
			name[len] = '\0';
		}
	}
}

bool vmname_from_cmdline(const char *args, size_t len, char name[VMNAME_MAX])
{
	const char *p = args, *end = args + len;
	bool found = false;
	long n;

	while (p < end && (n = vmname_arg_len(p, end)) >= 0) {
		const char *opt = p;

		p += n + 1;
		if (strcmp(opt, "-name") && strcmp(opt, "--name"))
			continue;
		n = p < end ? vmname_arg_len(p, end) : -1;
		if (n < 0)
			break;
		vmname_parse_opts(p, p + n, name, &found);
		p += n + 1;
	}
	if (!found || !vmname_valid(name)) {
		name[0] = '\0';
		return false;
	}
	return true;
}
