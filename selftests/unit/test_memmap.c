// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Unit tests for kmod/memmap.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "memmap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void assert_range(const struct memmap_range *r, u64 start, u64 size, u32 type)
{
	assert_int_equal(r->start, start);
	assert_int_equal(r->size, size);
	assert_int_equal(r->type, type);
}

static void test_empty(void **state)
{
	(void)state;
	/* n == 0 must not touch the array at all. */
	assert_int_equal(memmap_normalize(NULL, 0), 0);
}

static void test_one(void **state)
{
	struct memmap_range r[] = { { 0x100000, 0x1000, MEMMAP_ROM } };

	(void)state;
	assert_int_equal(memmap_normalize(r, 1), 1);
	assert_range(&r[0], 0x100000, 0x1000, MEMMAP_ROM);
}

static void test_unsorted(void **state)
{
	struct memmap_range r[] = {
		{ 0x300000, 0x1000, MEMMAP_RAM },
		{ 0x100000, 0x1000, MEMMAP_ROM },
		{ 0x500000, 0x1000, MEMMAP_RAM },
		{ 0x000000, 0x1000, MEMMAP_RAM },
		{ 0x200000, 0x1000, MEMMAP_ROM },
	};

	(void)state;
	assert_int_equal(memmap_normalize(r, N(r)), 5);
	assert_range(&r[0], 0x000000, 0x1000, MEMMAP_RAM);
	assert_range(&r[1], 0x100000, 0x1000, MEMMAP_ROM);
	assert_range(&r[2], 0x200000, 0x1000, MEMMAP_ROM);
	assert_range(&r[3], 0x300000, 0x1000, MEMMAP_RAM);
	assert_range(&r[4], 0x500000, 0x1000, MEMMAP_RAM);
}

static void test_merge_adjacent(void **state)
{
	/* Three touching RAM slots in reverse order collapse into one. */
	struct memmap_range r[] = {
		{ 0x100000000ull, 0x40000000, MEMMAP_RAM },
		{ 0x000c0000, 0xbff40000, MEMMAP_RAM },
		{ 0x00000000, 0x000c0000, MEMMAP_RAM },
	};

	(void)state;
	assert_int_equal(memmap_normalize(r, N(r)), 2);
	assert_range(&r[0], 0, 0xc0000000, MEMMAP_RAM);
	assert_range(&r[1], 0x100000000ull, 0x40000000, MEMMAP_RAM);
}

static void test_no_merge_gap_or_type(void **state)
{
	struct memmap_range r[] = {
		{ 0x0000, 0x1000, MEMMAP_RAM },
		{ 0x1000, 0x1000, MEMMAP_ROM },	/* touches, other type */
		{ 0x3000, 0x1000, MEMMAP_ROM },	/* same type, gap */
		{ 0x4000, 0x2000, MEMMAP_ROM },	/* merges with the previous */
		{ 0x6000, 0x1000, MEMMAP_RAM },	/* touches, other type */
	};

	(void)state;
	assert_int_equal(memmap_normalize(r, N(r)), 4);
	assert_range(&r[0], 0x0000, 0x1000, MEMMAP_RAM);
	assert_range(&r[1], 0x1000, 0x1000, MEMMAP_ROM);
	assert_range(&r[2], 0x3000, 0x3000, MEMMAP_ROM);
	assert_range(&r[3], 0x6000, 0x1000, MEMMAP_RAM);
}

static void test_all_merge(void **state)
{
	struct memmap_range r[] = {
		{ 0x2000, 0x1000, MEMMAP_RAM },
		{ 0x0000, 0x1000, MEMMAP_RAM },
		{ 0x3000, 0x1000, MEMMAP_RAM },
		{ 0x1000, 0x1000, MEMMAP_RAM },
	};

	(void)state;
	assert_int_equal(memmap_normalize(r, N(r)), 1);
	assert_range(&r[0], 0, 0x4000, MEMMAP_RAM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one),
		cmocka_unit_test(test_unsorted),
		cmocka_unit_test(test_merge_adjacent),
		cmocka_unit_test(test_no_merge_gap_or_type),
		cmocka_unit_test(test_all_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
