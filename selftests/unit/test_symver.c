// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * libvmiop.so's versioned symbols: struct vmiop_vm_info grew (vm_id, 32 to
 * 40 bytes) under the same soname, so vmiop_vm_info@LIBVMIOP_0.1 stays
 * what binaries built before were linked to, filling 32 bytes, and
 * vmiop_vm_info@@LIBVMIOP_0.8 fills the struct as the header has it now.
 *
 * Linked against libvmiop_symver.so, libvmiop.c built with libvmiop.map
 * as the Makefile builds libvmiop.so.  The old binary is played by a
 * .symver reference to the 0.1 version and the old struct; a canary after
 * each struct shows a byte written past it.  No module is needed: open()
 * of /dev/vmiop is given /dev/null here (the library's open() resolves to
 * this program's), whose ioctl fails (-ENOTTY) after the library wrote
 * the struct's size, which is all the module would read or write.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cmocka.h>

#include "libvmiop.h"

/* struct vmiop_vm_info as LIBVMIOP_0.1's header had it */
struct vm_info_0_1 {
	__u32 size;
	__u32 flags;
	__u32 vendor;
	__u32 nr_vcpus;
	__s32 vmm_pid;
	__u32 maxphyaddr;
	__u32 pause_count;
	__u32 guest_features;
};
_Static_assert(sizeof(struct vm_info_0_1) == 32, "the 0.1 struct");
_Static_assert(sizeof(struct vmiop_vm_info) == 40, "this header's struct");

/* What a binary linked against libvmiop 0.1 calls. */
int old_vm_info(struct vmiop *v, struct vm_info_0_1 *info);
__asm__(".symver old_vm_info, vmiop_vm_info@LIBVMIOP_0.1");

#define POISON 0xa5

/* libvmiop's open() of its device: /dev/null instead; anything else as is. */
int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	if (!strcmp(path, VMIOP_DEVICE))
		path = "/dev/null";
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

static void all_bytes(const void *p, size_t len, unsigned char want)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != want) {
			printf("byte %zu: 0x%02x, not 0x%02x\n", i, b[i], want);
			fail();
		}
}

static void old_binary_gets_32_bytes(void **state)
{
	struct {
		struct vm_info_0_1 info;
		unsigned char canary[32];
	} buf;
	struct vmiop *v;

	(void)state;
	assert_int_equal(vmiop_open(&v), 0);
	memset(&buf, POISON, sizeof(buf));
	assert_int_equal(old_vm_info(v, &buf.info), -ENOTTY);
	assert_int_equal(buf.info.size, 32);
	all_bytes((const char *)&buf.info + sizeof(buf.info.size),
		  sizeof(buf.info) - sizeof(buf.info.size), 0);
	all_bytes(buf.canary, sizeof(buf.canary), POISON);
	vmiop_close(v);
}

static void new_binary_gets_40_bytes(void **state)
{
	struct {
		struct vmiop_vm_info info;
		unsigned char canary[32];
	} buf;
	struct vmiop *v;

	(void)state;
	assert_int_equal(vmiop_open(&v), 0);
	memset(&buf, POISON, sizeof(buf));
	assert_int_equal(vmiop_vm_info(v, &buf.info), -ENOTTY);
	assert_int_equal(buf.info.size, 40);
	assert_int_equal(buf.info.vm_id, 0);
	all_bytes((const char *)&buf.info + sizeof(buf.info.size),
		  sizeof(buf.info) - sizeof(buf.info.size), 0);
	all_bytes(buf.canary, sizeof(buf.canary), POISON);
	vmiop_close(v);
}

/* The library's own table: both versions, the new one the default, no internal name. */
static void exports(void **state)
{
	void *lib = dlopen("libvmiop_symver.so", RTLD_NOW | RTLD_NOLOAD);
	void *v01, *v08, *plain;

	(void)state;
	assert_non_null(lib);
	v01 = dlvsym(lib, "vmiop_vm_info", "LIBVMIOP_0.1");
	v08 = dlvsym(lib, "vmiop_vm_info", "LIBVMIOP_0.8");
	plain = dlsym(lib, "vmiop_vm_info");
	assert_non_null(v01);
	assert_non_null(v08);
	assert_ptr_not_equal(v01, v08);
	assert_ptr_equal(plain, v08);
	assert_null(dlsym(lib, "libvmiop_vm_info_0_1"));
	/* the others whose structs did not change stay where they were */
	assert_non_null(dlvsym(lib, "vmiop_open", "LIBVMIOP_0.1"));
	assert_non_null(dlvsym(lib, "vmiop_attach_id", "LIBVMIOP_0.8"));
	assert_null(dlvsym(lib, "vmiop_attach_fd", "LIBVMIOP_0.8"));
	dlclose(lib);
}

/*
 * libvmiop.a's code linked into a shared object of the user's (a plugin):
 * it has the new function under its plain name and no version of ours.
 */
static void static_object_in_a_plugin(void **state)
{
	void *lib = dlopen("./libvmiop_plugin.so", RTLD_NOW | RTLD_LOCAL);

	(void)state;
	if (!lib)
		fail_msg("%s", dlerror());
	assert_non_null(dlsym(lib, "vmiop_vm_info"));
	assert_null(dlvsym(lib, "vmiop_vm_info", "LIBVMIOP_0.1"));
	assert_null(dlsym(lib, "libvmiop_vm_info_0_1"));
	dlclose(lib);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(old_binary_gets_32_bytes),
		cmocka_unit_test(new_binary_gets_40_bytes),
		cmocka_unit_test(exports),
		cmocka_unit_test(static_object_in_a_plugin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
