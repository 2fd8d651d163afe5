// SPDX-License-Identifier: GPL-2.0
/*
 * Where the VMX MSR bitmap and the SVM MSR permission map keep each MSR's
 * intercept bits: the corners of each range and the holes between them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "msrmap.h"

static void vmx_ranges(void **state)
{
	u32 byte, bit;

	(void)state;
	assert_true(msrmap_vmx_bit(0, false, &byte, &bit));
	assert_int_equal(byte, 0);
	assert_int_equal(bit, 0);
	assert_true(msrmap_vmx_bit(0x1fff, true, &byte, &bit));
	assert_int_equal(byte, 0x800 + 0x3ff);
	assert_int_equal(bit, 7);
	assert_true(msrmap_vmx_bit(0x176, false, &byte, &bit));	/* SYSENTER_EIP */
	assert_int_equal(byte, 0x2e);
	assert_int_equal(bit, 6);
	assert_true(msrmap_vmx_bit(0xc0000082, true, &byte, &bit));	/* LSTAR */
	assert_int_equal(byte, 0xc00 + 0x10);
	assert_int_equal(bit, 2);
	assert_true(msrmap_vmx_bit(0xc0001fff, false, &byte, &bit));
	assert_int_equal(byte, 0x7ff);
	assert_false(msrmap_vmx_bit(0x2000, false, &byte, &bit));
	assert_false(msrmap_vmx_bit(0xbfffffff, true, &byte, &bit));
	assert_false(msrmap_vmx_bit(0xc0002000, true, &byte, &bit));
	assert_false(msrmap_vmx_bit(0xc0010000, false, &byte, &bit));	/* SVM only */
}

static void svm_ranges(void **state)
{
	u32 byte, bit;

	(void)state;
	assert_true(msrmap_svm_bit(0, false, &byte, &bit));
	assert_int_equal(byte, 0);
	assert_int_equal(bit, 0);
	assert_true(msrmap_svm_bit(0, true, &byte, &bit));
	assert_int_equal(bit, 1);
	assert_true(msrmap_svm_bit(0x1fff, true, &byte, &bit));
	assert_int_equal(byte, 0x7ff);
	assert_int_equal(bit, 7);
	assert_true(msrmap_svm_bit(0xc0000102, false, &byte, &bit));	/* KERNEL_GS_BASE */
	assert_int_equal(byte, 0x800 + 0x40);
	assert_int_equal(bit, 4);
	assert_true(msrmap_svm_bit(0xc0011fff, true, &byte, &bit));
	assert_int_equal(byte, 0x17ff);
	assert_int_equal(bit, 7);
	assert_false(msrmap_svm_bit(0x2000, false, &byte, &bit));
	assert_false(msrmap_svm_bit(0xc0002000, true, &byte, &bit));
	assert_false(msrmap_svm_bit(0xc000ffff, true, &byte, &bit));
	assert_false(msrmap_svm_bit(0xc0012000, false, &byte, &bit));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(vmx_ranges),
		cmocka_unit_test(svm_ranges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
