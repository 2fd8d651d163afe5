// SPDX-License-Identifier: GPL-2.0 OR MIT
/* What the module counts as a compiler's copy of a hooked function. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "symclone.h"

static void clones_are_recognised(void **state)
{
	(void)state;
	assert_true(sym_is_clone_of("kvm_set_cr0.part.0", "kvm_set_cr0"));
	assert_true(sym_is_clone_of("handle_cr.constprop.0", "handle_cr"));
	assert_true(sym_is_clone_of("handle_cr.constprop.0.isra.0", "handle_cr"));
	assert_true(sym_is_clone_of("handle_cr.isra.12", "handle_cr"));
	assert_true(sym_is_clone_of("kvm_vcpu_block.llvm.1234567", "kvm_vcpu_block"));
}

static void the_function_and_its_cold_tail_are_not(void **state)
{
	(void)state;
	assert_false(sym_is_clone_of("kvm_set_cr0", "kvm_set_cr0"));
	assert_false(sym_is_clone_of("handle_exception_nmi.cold", "handle_exception_nmi"));
	assert_false(sym_is_clone_of("handle_apic_write.cold", "handle_apic_write"));
}

static void other_functions_with_the_same_prefix_are_not(void **state)
{
	(void)state;
	/* handle_cr is a prefix of handle_cr_read...'s clone: not its copy */
	assert_false(sym_is_clone_of("handle_cr_read.part.0", "handle_cr"));
	assert_false(sym_is_clone_of("kvm_set_cr", "kvm_set_cr0"));
	assert_false(sym_is_clone_of("kvm_set_cr0_x.part.0", "kvm_set_cr0"));
	assert_false(sym_is_clone_of("", "kvm_set_cr0"));
	assert_false(sym_is_clone_of("kvm_set_cr0.", "kvm_set_cr0"));
	assert_false(sym_is_clone_of("kvm_set_cr0.partial", "kvm_set_cr0"));
	assert_false(sym_is_clone_of("kvm_set_cr0.constprop", "kvm_set_cr0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clones_are_recognised),
		cmocka_unit_test(the_function_and_its_cold_tail_are_not),
		cmocka_unit_test(other_functions_with_the_same_prefix_are_not),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
