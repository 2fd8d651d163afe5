// SPDX-License-Identifier: MIT
/*
 * Where libvmiop puts the #VE agent (libvmiop/agent_plan.h): the layout of
 * the session's memory for 1..64 vCPUs, the place found in page tables of
 * any content (they are the guest's: hostile), and the entries made.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "agent_plan.h"

static void layout_fits_every_vcpu_count(void **state)
{
	struct agent_plan p;
	unsigned int nr;

	(void)state;
	for (nr = 1; nr <= VMIOP_VE_MAX_CPUS; nr++) {
		assert_int_equal(agent_plan_layout(&p, 40000, 30000, nr), 0);
		assert_int_equal(p.code_len, 32768);
		assert_int_equal(p.image_len, 40960);
		/* info pages, stacks and cache after the image, tables after them */
		assert_true(p.info_off >= p.image_len);
		assert_int_equal(p.stacks_off - p.info_off, nr * AGENT_PAGE);
		assert_int_equal(p.cache_off - p.stacks_off, nr * (uint64_t)VMIOP_VE_STACK_SIZE);
		assert_int_equal(p.mapped_len - p.cache_off, AGENT_CACHE_LEN);
		assert_true(p.pt_off + AGENT_PAGE <= AGENT_MEM_LEN);
		assert_int_equal(p.info_off % AGENT_PAGE, 0);
	}
	assert_int_equal(agent_plan_layout(&p, 40000, 30000, 0), -E2BIG);
	assert_int_equal(agent_plan_layout(&p, 40000, 30000, VMIOP_VE_MAX_CPUS + 1), -E2BIG);
	assert_int_equal(agent_plan_layout(&p, 1000, 2000, 1), -E2BIG);
	assert_int_equal(agent_plan_layout(&p, AGENT_MEM_LEN, 4096, 1), -E2BIG);
}

static void linux_gets_a_free_entry_below_the_cpu_entry_area(void **state)
{
	uint64_t pml4[512] = { 0 }, pud[512] = { 0 };
	unsigned int l4, l3;
	bool shared;

	(void)state;
	pml4[AGENT_CEA_SLOT] = 0x1234000 | PTE_P | PTE_RW;
	pml4[511] = 0x5678000 | PTE_P;
	pud[0] = pud[1] = 0x9000 | PTE_P;
	pud[511] = 0xa000 | PTE_P;
	assert_true(agent_plan_place(pml4, pud, &shared, &l4, &l3));
	assert_true(shared);
	assert_int_equal(l4, AGENT_CEA_SLOT);
	assert_int_equal(l3, 510);
	assert_int_equal(agent_va(l4, l3), 0xfffffe7f80000000ull);
	/* Anything in an entry, present or not, is someone's: none free. */
	memset(pud, 0xff, sizeof(pud));
	pud[0] = 0;	/* a per-CPU area's place: never taken */
	assert_false(agent_plan_place(pml4, pud, &shared, &l4, &l3));
}

static void another_guest_gets_a_free_kernel_slot(void **state)
{
	uint64_t pml4[512] = { 0 };
	unsigned int l4, l3, i;
	bool shared;

	(void)state;
	pml4[0] = 0x1000 | PTE_P;
	pml4[511] = 0x2000 | PTE_P;
	assert_true(agent_plan_place(pml4, NULL, &shared, &l4, &l3));
	assert_false(shared);
	assert_int_equal(l4, 510);
	assert_int_equal(l3, 0);
	assert_int_equal(agent_va(l4, l3), 0xffffff0000000000ull);
	/* A huge-page "entry" at 508 is no table to hang from. */
	pml4[AGENT_CEA_SLOT] = PTE_P | PTE_PS;
	pml4[510] = 0x3000;
	assert_true(agent_plan_place(pml4, NULL, &shared, &l4, &l3));
	assert_int_equal(l4, 509);
	for (i = 256; i < 512; i++)
		pml4[i] = (uint64_t)i << 12;
	assert_false(agent_plan_place(pml4, NULL, &shared, &l4, &l3));
	/* Never a user-half slot. */
	memset(pml4, 0, sizeof(pml4));
	for (i = 256; i < 512; i++)
		pml4[i] = 1;
	assert_false(agent_plan_place(pml4, NULL, &shared, &l4, &l3));
}

static void random_tables_never_give_a_taken_place(void **state)
{
	uint64_t pml4[512], pud[512];
	unsigned int l4, l3, i, round;
	bool shared;

	(void)state;
	srand(1);
	for (round = 0; round < 2000; round++) {
		for (i = 0; i < 512; i++) {
			pml4[i] = rand() % 3 ? (uint64_t)rand() << 33 | (uint64_t)rand() : 0;
			pud[i] = rand() % 4 ? (uint64_t)rand() << 33 | (uint64_t)rand() : 0;
		}
		if (!agent_plan_place(pml4, rand() % 2 ? pud : NULL, &shared, &l4, &l3))
			continue;
		assert_true(l4 >= 256 && l4 < 511);
		if (shared) {
			assert_int_equal(l4, AGENT_CEA_SLOT);
			assert_true(l3 >= AGENT_CEA_USED && l3 < 512);
			assert_int_equal(pud[l3], 0);
		} else {
			assert_int_equal(pml4[l4], 0);
			assert_int_equal(l3, 0);
		}
	}
}

static void entries_are_what_the_agent_needs(void **state)
{
	struct agent_plan p;
	uint64_t base = 0xffe00000ull, e;
	unsigned int i;

	(void)state;
	assert_int_equal(agent_plan_layout(&p, 3 * AGENT_PAGE + 100, 2 * AGENT_PAGE, 4), 0);
	e = agent_table_entry(base + p.pt_off);
	assert_int_equal(e, (base + p.pt_off) | PTE_P | PTE_RW | PTE_A);
	for (i = 0; i < AGENT_PAGES; i++) {
		uint64_t off = (uint64_t)i * AGENT_PAGE;

		e = agent_leaf(&p, base, i, true);
		if (off >= p.mapped_len) {
			assert_int_equal(e, 0);	/* the tables themselves: unmapped */
			continue;
		}
		assert_int_equal(e & PTE_ADDR, base + off);
		assert_true(e & PTE_P && e & PTE_A);
		assert_false(e & PTE_US);
		if (off < p.code_len) {
			assert_false(e & (PTE_RW | PTE_NX));
		} else {
			assert_true(e & PTE_RW && e & PTE_D && e & PTE_NX);
			assert_false(agent_leaf(&p, base, i, false) & PTE_NX);
		}
	}
}

static void the_gate_is_an_interrupt_gate_to_the_handler(void **state)
{
	uint64_t gate[2];

	(void)state;
	agent_gate(gate, 0xfffffe7f80001234ull, 0x10);
	assert_int_equal(gate[0] & 0xffff, 0x1234);
	assert_int_equal(gate[0] >> 16 & 0xffff, 0x10);
	assert_int_equal(gate[0] >> 32 & 0x7, 0);	/* no IST */
	assert_int_equal(gate[0] >> 40 & 0xff, 0x8e);	/* present, DPL 0, type 14 */
	assert_int_equal(gate[0] >> 48, 0x8000);
	assert_int_equal(gate[1], 0xfffffe7full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_fits_every_vcpu_count),
		cmocka_unit_test(linux_gets_a_free_entry_below_the_cpu_entry_area),
		cmocka_unit_test(another_guest_gets_a_free_kernel_slot),
		cmocka_unit_test(random_tables_never_give_a_taken_place),
		cmocka_unit_test(entries_are_what_the_agent_needs),
		cmocka_unit_test(the_gate_is_an_interrupt_gate_to_the_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
