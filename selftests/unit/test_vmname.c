// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Unit tests for kmod/vmname.c: VM names from hostile VMM command lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "vmname.h"

/* A command line as /proc/PID/cmdline has it: each argument NUL-terminated. */
static size_t cmdline(char *buf, size_t size, const char *const *argv)
{
	size_t len = 0;

	for (; *argv; argv++) {
		size_t n = strlen(*argv) + 1;

		assert_true(len + n <= size);
		memcpy(buf + len, *argv, n);
		len += n;
	}
	return len;
}

/* The name vmname_from_cmdline() finds, or NULL; the buffer is checked too. */
static const char *name_of(const char *const *argv)
{
	static char name[VMNAME_MAX];
	char buf[4096];
	size_t len = cmdline(buf, sizeof(buf), argv);

	memset(name, 'x', sizeof(name));
	if (!vmname_from_cmdline(buf, len, name)) {
		assert_int_equal(name[0], '\0');
		return NULL;
	}
	assert_true(vmname_valid(name));
	return name;
}

#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_qemu_forms(void **state)
{
	(void)state;
	assert_string_equal(name_of(ARGV("qemu-system-x86_64", "-m", "1G", "-name", "web")),
			    "web");
	assert_string_equal(name_of(ARGV("qemu", "--name", "web")), "web");
	/* libvirt's form */
	assert_string_equal(name_of(ARGV("/usr/bin/qemu-system-x86_64", "-name",
					 "guest=debian12,debug-threads=on", "-S")), "debian12");
	assert_string_equal(name_of(ARGV("qemu", "-name", "debug-threads=on,guest=db")), "db");
	assert_string_equal(name_of(ARGV("qemu", "-name", "web,process=qemu-web")), "web");
	/* ",," is one comma, in the implied and the explicit form */
	assert_string_equal(name_of(ARGV("qemu", "-name", "a,,b,debug-threads=on")), "a,b");
	assert_string_equal(name_of(ARGV("qemu", "-name", "guest=a,,b")), "a,b");
	/* spaces are legal in libvirt's names */
	assert_string_equal(name_of(ARGV("qemu", "-name", "guest=my vm")), "my vm");
	/* a later -name, or a later guest=, wins */
	assert_string_equal(name_of(ARGV("qemu", "-name", "one", "-name", "two")), "two");
	assert_string_equal(name_of(ARGV("qemu", "-name", "guest=one,guest=two")), "two");
	/* a later option without guest= leaves the name */
	assert_string_equal(name_of(ARGV("qemu", "-name", "one", "-name", "process=p")), "one");
	/* a flag after the first item is not the name */
	assert_string_equal(name_of(ARGV("qemu", "-name", "guest=g,foo")), "g");
}

static void test_no_name(void **state)
{
	char long_name[VMNAME_MAX + 1];

	(void)state;
	assert_null(name_of(ARGV("qemu-system-x86_64", "-m", "1G")));
	assert_null(name_of(ARGV("qemu", "-name")));		/* no value */
	assert_null(name_of(ARGV("qemu", "-name", "")));
	assert_null(name_of(ARGV("qemu", "-name", "guest=")));
	assert_null(name_of(ARGV("qemu", "-name", "process=p")));
	assert_null(name_of(ARGV("qemu", "-name", "a/b")));
	assert_null(name_of(ARGV("qemu", "-name", "tab\there")));
	assert_null(name_of(ARGV("qemu", "-name", "del\x7f")));
	assert_null(name_of(ARGV("qemu", "-nam", "x", "-namex", "y", "name", "z")));
	/* too long: no name, never a truncated one */
	memset(long_name, 'n', VMNAME_MAX);
	long_name[VMNAME_MAX] = '\0';
	assert_null(name_of(ARGV("qemu", "-name", long_name)));
	long_name[VMNAME_MAX - 1] = '\0';	/* 63 bytes: the longest */
	assert_string_equal(name_of(ARGV("qemu", "-name", long_name)), long_name);
	/* a later invalid name is the VM's name: it has none here */
	assert_null(name_of(ARGV("qemu", "-name", "ok", "-name", "guest=a/b")));
}

static void test_valid(void **state)
{
	char s[VMNAME_MAX + 1];

	(void)state;
	assert_true(vmname_valid("a"));
	assert_true(vmname_valid("Debian 12 (web) \xc3\xa9"));
	assert_false(vmname_valid(""));
	assert_false(vmname_valid("a/b"));
	assert_false(vmname_valid("a\nb"));
	memset(s, 'a', sizeof(s));
	s[VMNAME_MAX - 1] = '\0';
	assert_true(vmname_valid(s));
	s[VMNAME_MAX - 1] = 'a';
	s[VMNAME_MAX] = '\0';
	assert_false(vmname_valid(s));
}

/* Command lines cut anywhere: never a read past the bound (ASan). */
static void test_cut(void **state)
{
	const char *const argv[] = { "qemu", "-name", "guest=abc,,d,debug-threads=on", NULL };
	char buf[128], name[VMNAME_MAX];
	size_t len = cmdline(buf, sizeof(buf), argv), cut;

	(void)state;
	for (cut = 0; cut <= len; cut++) {
		char *copy = malloc(cut ? cut : 1);
		bool found;

		memcpy(copy, buf, cut);
		found = vmname_from_cmdline(copy, cut, name);
		/* The value counts only once its argument is whole. */
		assert_int_equal(found, cut == len);
		if (found)
			assert_string_equal(name, "abc,d");
		free(copy);
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

/* Random bytes made mostly of the parser's own tokens. */
static void test_fuzz(void **state)
{
	static const char *const tok[] = { "-name", "--name", "guest=", ",", ",,", "=", "a",
					    "\0", "/", "debug-threads=on", "\x01", "guest" };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	char name[VMNAME_MAX];
	int round;

	(void)state;
	for (round = 0; round < 20000; round++) {
		size_t len = 0, want = rnd(&seed) % 300;
		char *buf = malloc(want + 16);

		while (len < want) {
			uint64_t r = rnd(&seed);
			const char *t = tok[r % (sizeof(tok) / sizeof(tok[0]))];
			size_t n = (r >> 8) % 7 == 0 ? 1 : (t[0] ? strlen(t) : 1);

			if (len + n > want)
				break;
			if ((r >> 16) % 5 == 0)
				buf[len] = (char)(r >> 24), n = 1;
			else
				memcpy(buf + len, t, n);
			len += n;
		}
		if (vmname_from_cmdline(buf, len, name))
			assert_true(vmname_valid(name));
		else
			assert_int_equal(name[0], '\0');
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_forms),
		cmocka_unit_test(test_no_name),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
