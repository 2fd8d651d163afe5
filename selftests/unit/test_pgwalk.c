// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unit tests for kmod/pgwalk.c, run over a sparse fake guest memory so that
 * tables can sit anywhere in a 52-bit physical space.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "pgwalk.h"

#define P	(1ull << 0)
#define RW	(1ull << 1)
#define US	(1ull << 2)
#define PS	(1ull << 7)
#define XD	(1ull << 63)
#define PRESENT	(P | RW | US)	/* the most permissive non-leaf entry */

#define SZ_4K	0x1000ull
#define SZ_2M	0x200000ull
#define SZ_4M	0x400000ull
#define SZ_1G	0x40000000ull

#define ACC_ALL	(PGWALK_ACC_WRITE | PGWALK_ACC_USER)

#define MAX_PAGES 16

struct fake_page {
	u64 gpa;
	unsigned char data[4096];
};

struct fake_mem {
	struct fake_page pages[MAX_PAGES];
	unsigned int nr_pages;
	unsigned int entry_size;	/* every read must use this size */
	int err;			/* returned for reads of unmapped pages */
	unsigned int nr_reads;
};

static struct fake_page *find_page(struct fake_mem *m, u64 gpa)
{
	unsigned int i;

	for (i = 0; i < m->nr_pages; i++)
		if (m->pages[i].gpa == (gpa & ~(SZ_4K - 1)))
			return &m->pages[i];
	return NULL;
}

/* Stores an entry of the memory's entry size, creating the page on demand. */
static void put(struct fake_mem *m, u64 gpa, u64 val)
{
	struct fake_page *pg = find_page(m, gpa);
	unsigned int i;

	if (!pg) {
		assert_true(m->nr_pages < MAX_PAGES);
		pg = &m->pages[m->nr_pages++];
		pg->gpa = gpa & ~(SZ_4K - 1);
	}
	for (i = 0; i < m->entry_size; i++)
		pg->data[(gpa & (SZ_4K - 1)) + i] = (unsigned char)(val >> (8 * i));
}

static int fake_read(void *ctx, u64 gpa, unsigned int size, u64 *val)
{
	struct fake_mem *m = ctx;
	struct fake_page *pg;
	unsigned int i;

	m->nr_reads++;
	assert_int_equal(size, m->entry_size);
	assert_int_equal(gpa % size, 0);
	pg = find_page(m, gpa);
	if (!pg)
		return m->err;
	*val = 0;
	for (i = 0; i < size; i++)
		*val |= (u64)pg->data[(gpa & (SZ_4K - 1)) + i] << (8 * i);
	return 0;
}

static int must_not_read(void *ctx, u64 gpa, unsigned int size, u64 *val)
{
	(void)ctx;
	(void)gpa;
	(void)size;
	(void)val;
	fail_msg("walker read guest memory where it must not");
	return -EIO;
}

static int setup(void **state)
{
	struct fake_mem *m = calloc(1, sizeof(*m));

	if (!m)
		return -1;
	m->entry_size = 8;
	m->err = -EFAULT;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

/* Address of the @level entry for @gva in @table (8-byte entries). */
static u64 slot64(u64 table, u64 gva, unsigned int level)
{
	return table + ((gva >> (12 + 9 * (level - 1))) & 0x1ff) * 8;
}

static u64 slot32(u64 table, u64 gva, unsigned int level)
{
	return table + ((gva >> (12 + 10 * (level - 1))) & 0x3ff) * 4;
}

static struct pgwalk_params params(u32 mode, u64 cr3, u32 maxphyaddr, bool nxe, bool pse)
{
	struct pgwalk_params p = {
		.cr3 = cr3, .mode = mode, .maxphyaddr = maxphyaddr, .nxe = nxe, .pse = pse,
	};

	return p;
}

static void assert_fault(const struct pgwalk_result *res, u32 fault, u32 level)
{
	assert_int_equal(res->fault, fault);
	assert_int_equal(res->level, level);
	assert_int_equal(res->gpa, 0);
	assert_int_equal(res->page_size, 0);
	assert_int_equal(res->access, 0);
}

static void assert_ok(const struct pgwalk_result *res, u64 gpa, u64 page_size, u32 level)
{
	assert_int_equal(res->fault, PGWALK_OK);
	assert_int_equal(res->gpa, gpa);
	assert_int_equal(res->page_size, page_size);
	assert_int_equal(res->level, level);
}

/* ---- parameter validation, paging off ---- */

static void test_none_identity(void **state)
{
	struct pgwalk_params p = params(PGWALK_MODE_NONE, 0xdead000, 36, false, false);
	struct pgwalk_result res;

	(void)state;
	assert_int_equal(pgwalk(&p, 0x123456789ull, must_not_read, NULL, &res), 0);
	assert_ok(&res, 0x23456789ull, SZ_4K, 0);
	assert_int_equal(res.nr_entries, 0);
	assert_int_equal(res.access, ACC_ALL);

	assert_int_equal(pgwalk(&p, ~0ull, must_not_read, NULL, &res), 0);
	assert_ok(&res, 0xffffffffull, SZ_4K, 0);
}

static void test_bad_params(void **state)
{
	static const struct {
		u32 mode, maxphyaddr;
	} bad[] = {
		{ 0, 36 },
		{ PGWALK_MODE_5LEVEL + 1, 36 },
		{ 0xffffffffu, 36 },
		{ PGWALK_MODE_4LEVEL, 31 },
		{ PGWALK_MODE_4LEVEL, 53 },
		{ PGWALK_MODE_NONE, 0 },
		{ PGWALK_MODE_32, 64 },
	};
	struct pgwalk_result res;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pgwalk_params p = params(bad[i].mode, 0x1000, bad[i].maxphyaddr,
						true, true);

		memset(&res, 0xa5, sizeof(res));
		assert_int_equal(pgwalk(&p, 0x1000, must_not_read, NULL, &res), -EINVAL);
		assert_fault(&res, PGWALK_BAD_MODE, 0);
		assert_int_equal(res.nr_entries, 0);
	}
}

static void test_maxphyaddr_bounds_ok(void **state)
{
	struct pgwalk_params p32 = params(PGWALK_MODE_NONE, 0, 32, false, false);
	struct pgwalk_params p52 = params(PGWALK_MODE_NONE, 0, 52, false, false);
	struct pgwalk_result res;

	(void)state;
	assert_int_equal(pgwalk(&p32, 0x1234, must_not_read, NULL, &res), 0);
	assert_int_equal(res.fault, PGWALK_OK);
	assert_int_equal(pgwalk(&p52, 0x1234, must_not_read, NULL, &res), 0);
	assert_int_equal(res.fault, PGWALK_OK);
}

/* ---- 32-bit 2-level ---- */

static void test_32_4k(void **state)
{
	struct fake_mem *m = *state;
	/* Junk in the cr3 low bits and gva high bits must be ignored. */
	struct pgwalk_params p = params(PGWALK_MODE_32, 0xffffffff00001018ull, 32, false, true);
	u64 gva = 0xabcd0000c0345678ull;
	struct pgwalk_result res;

	m->entry_size = 4;
	put(m, slot32(0x1000, gva, 2), 0x2000 | PRESENT);
	put(m, slot32(0x2000, gva, 1), 0x7000 | PRESENT | (1u << 5));
	assert_int_equal(pgwalk(&p, gva, fake_read, m, &res), 0);
	assert_ok(&res, 0x7678, SZ_4K, 1);
	assert_int_equal(res.nr_entries, 2);
	assert_int_equal(res.entries[0], 0x2000 | PRESENT);
	assert_int_equal(res.entries[1], 0x7000 | PRESENT | (1u << 5));
	assert_int_equal(res.access, ACC_ALL);
}

static void test_32_4m_pse(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_32, 0x1000, 32, false, true);
	struct pgwalk_result res;

	m->entry_size = 4;
	put(m, slot32(0x1000, 0x80123456, 2), 0x00c00000 | PS | P | US);
	assert_int_equal(pgwalk(&p, 0x80123456, fake_read, m, &res), 0);
	assert_ok(&res, 0x00d23456, SZ_4M, 2);
	assert_int_equal(res.nr_entries, 1);
	assert_int_equal(res.access, PGWALK_ACC_USER);
	assert_int_equal(m->nr_reads, 1);
}

static void test_32_ps_without_pse(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_32, 0x1000, 32, false, false);
	struct pgwalk_result res;

	/* CR4.PSE=0: PS is ignored and the PDE points at a page table. */
	m->entry_size = 4;
	put(m, slot32(0x1000, 0x80123456, 2), 0x00c00000 | PS | PRESENT);
	put(m, slot32(0x00c00000, 0x80123456, 1), 0x9000 | PRESENT);
	assert_int_equal(pgwalk(&p, 0x80123456, fake_read, m, &res), 0);
	assert_ok(&res, 0x9456, SZ_4K, 1);
	assert_int_equal(res.nr_entries, 2);
}

static void test_32_pse36(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p36 = params(PGWALK_MODE_32, 0x1000, 36, false, true);
	struct pgwalk_params p40 = params(PGWALK_MODE_32, 0x1000, 40, false, true);
	struct pgwalk_params p52 = params(PGWALK_MODE_32, 0x1000, 52, false, true);
	struct pgwalk_result res;

	m->entry_size = 4;
	/* gva 0x00000000: bits 16:13 = 0xa -> phys bits 35:32. */
	put(m, 0x1000, 0x00400000 | (0xaull << 13) | PS | PRESENT);
	assert_int_equal(pgwalk(&p36, 0x1234, fake_read, m, &res), 0);
	assert_ok(&res, 0xa00401234ull, SZ_4M, 2);

	/* All eight bits are address once MAXPHYADDR >= 40, and never more. */
	put(m, 0x1004, 0x00800000 | (0xffull << 13) | PS | PRESENT);
	assert_int_equal(pgwalk(&p40, 0x400010, fake_read, m, &res), 0);
	assert_ok(&res, 0xff00800010ull, SZ_4M, 2);
	assert_int_equal(pgwalk(&p52, 0x400010, fake_read, m, &res), 0);
	assert_ok(&res, 0xff00800010ull, SZ_4M, 2);
}

static void test_32_pse36_reserved(void **state)
{
	static const struct {
		u32 maxphyaddr;
		u64 bits;
		u32 fault;
	} cases[] = {
		{ 32, 1ull << 13, PGWALK_RESERVED },
		{ 32, 1ull << 20, PGWALK_RESERVED },
		{ 36, 1ull << 16, PGWALK_OK },
		{ 36, 1ull << 17, PGWALK_RESERVED },
		{ 39, 1ull << 19, PGWALK_OK },
		{ 39, 1ull << 20, PGWALK_RESERVED },
		{ 40, 1ull << 20, PGWALK_OK },
		{ 40, 1ull << 21, PGWALK_RESERVED },
		{ 52, 1ull << 21, PGWALK_RESERVED },
	};
	struct fake_mem *m = *state;
	struct pgwalk_result res;
	unsigned int i;

	m->entry_size = 4;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pgwalk_params p = params(PGWALK_MODE_32, 0x1000, cases[i].maxphyaddr,
						false, true);

		put(m, 0x1000, 0x00400000 | cases[i].bits | PS | PRESENT);
		assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
		assert_int_equal(res.fault, cases[i].fault);
		assert_int_equal(res.level, 2);
	}
}

static void test_32_not_present(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_32, 0x1000, 32, false, true);
	struct pgwalk_result res;

	m->entry_size = 4;
	/* Everything but P set: P=0 wins over "reserved" bits. */
	put(m, 0x1000, 0xfffffffe);
	assert_int_equal(pgwalk(&p, 0x1000, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_NOT_PRESENT, 2);
	assert_int_equal(res.nr_entries, 1);
	assert_int_equal(res.entries[0], 0xfffffffe);

	put(m, 0x1000, 0x2000 | PRESENT);
	put(m, 0x2004, 0x5000 | RW);
	assert_int_equal(pgwalk(&p, 0x1000, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_NOT_PRESENT, 1);
	assert_int_equal(res.nr_entries, 2);
}

static void test_32_access(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_32, 0x1000, 32, true, true);
	struct pgwalk_result res;

	m->entry_size = 4;
	put(m, 0x1000, 0x2000 | P | RW);
	put(m, 0x2000, 0x5000 | P | US);
	assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
	assert_ok(&res, 0x5000, SZ_4K, 1);
	assert_int_equal(res.access, 0);

	put(m, 0x2000, 0x5000 | PRESENT);
	assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
	assert_int_equal(res.access, PGWALK_ACC_WRITE);
}

/* ---- PAE 3-level ---- */

/* Only bits 31:5 of CR3 locate the PDPT. */
#define PAE_CR3		0xffffffff00001038ull
#define PAE_PDPT	0x1020ull

static void test_pae_4k(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_PAE, PAE_CR3, 36, true, false);
	u64 gva = 0xffffffff80403456ull;	/* high half ignored: 0x80403456 */
	struct pgwalk_result res;

	put(m, PAE_PDPT + 2 * 8, 0x800003000ull | P);
	put(m, slot64(0x800003000ull, gva, 2), 0x4000 | PRESENT);
	put(m, slot64(0x4000, gva, 1), 0xf00005000ull | PRESENT | XD);
	assert_int_equal(pgwalk(&p, gva, fake_read, m, &res), 0);
	assert_ok(&res, 0xf00005456ull, SZ_4K, 1);
	assert_int_equal(res.nr_entries, 3);
	assert_int_equal(res.entries[0], 0x800003000ull | P);
	assert_int_equal(res.entries[1], 0x4000 | PRESENT);
	assert_int_equal(res.entries[2], 0xf00005000ull | PRESENT | XD);
	/* The PDPTE has no RW/US bits and must not strip rights. */
	assert_int_equal(res.access, ACC_ALL | PGWALK_ACC_NX);
}

static void test_pae_2m(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_PAE, PAE_CR3, 36, false, false);
	struct pgwalk_result res;

	put(m, PAE_PDPT + 3 * 8, 0x3000 | P);
	/* Bit 12 is PAT for a 2M page: not reserved, not address. */
	put(m, slot64(0x3000, 0xc0312345, 2), 0x200000 | (1ull << 12) | PS | P | RW);
	assert_int_equal(pgwalk(&p, 0xc0312345, fake_read, m, &res), 0);
	assert_ok(&res, 0x312345, SZ_2M, 2);
	assert_int_equal(res.nr_entries, 2);
	assert_int_equal(res.access, PGWALK_ACC_WRITE);
}

static void test_pae_pdpte_reserved(void **state)
{
	static const u64 bad[] = {
		RW, US, 1ull << 5, 1ull << 6, PS, 1ull << 8,
		1ull << 36, 1ull << 51, 1ull << 52, XD,
	};
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_PAE, PAE_CR3, 36, true, false);
	struct pgwalk_result res;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put(m, PAE_PDPT, 0x3000 | P | bad[i]);
		assert_int_equal(pgwalk(&p, 0x1000, fake_read, m, &res), 0);
		assert_fault(&res, PGWALK_RESERVED, 3);
		assert_int_equal(res.nr_entries, 1);
	}

	/* PWT, PCD and the ignored bits 11:9 are fine. */
	put(m, PAE_PDPT, 0x3000 | P | (1ull << 3) | (1ull << 4) | (7ull << 9));
	put(m, 0x3000, 0x200000 | PS | PRESENT);
	assert_int_equal(pgwalk(&p, 0x1000, fake_read, m, &res), 0);
	assert_ok(&res, 0x201000, SZ_2M, 2);
}

static void test_pae_not_present(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_PAE, PAE_CR3, 36, true, false);
	struct pgwalk_result res;

	put(m, PAE_PDPT, RW | US);
	assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_NOT_PRESENT, 3);
	assert_int_equal(res.nr_entries, 1);

	put(m, PAE_PDPT, 0x3000 | P);
	put(m, 0x3000, 0);
	assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_NOT_PRESENT, 2);

	put(m, 0x3000, 0x4000 | PRESENT);
	put(m, 0x4000, 0x5000);
	assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_NOT_PRESENT, 1);
	assert_int_equal(res.nr_entries, 3);
}

static void test_pae_xd_without_nxe(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_PAE, PAE_CR3, 36, false, false);
	struct pgwalk_result res;

	put(m, PAE_PDPT, 0x3000 | P);
	put(m, 0x3000, 0x200000 | PS | PRESENT | XD);
	assert_int_equal(pgwalk(&p, 0, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_RESERVED, 2);
}

/* ---- 4-level and 5-level ---- */

/*
 * A 4-level walk with tables above 4G.  CR3 carries PCD/PWT and the PCID
 * no-flush bit, none of which may leak into the table address.
 */
#define L4_CR3		(0x100001000ull | (1ull << 63) | 0x18)
#define L4_PML4		0x100001000ull
#define L4_PDPT		0x100002000ull
#define L4_PD		0x100003000ull
#define L4_PT		0x100004000ull
#define L4_GVA		0xffff812345678abcull

static void build_4level(struct fake_mem *m, u64 pte)
{
	put(m, slot64(L4_PML4, L4_GVA, 4), L4_PDPT | PRESENT);
	put(m, slot64(L4_PDPT, L4_GVA, 3), L4_PD | PRESENT);
	put(m, slot64(L4_PD, L4_GVA, 2), L4_PT | PRESENT);
	put(m, slot64(L4_PT, L4_GVA, 1), pte);
}

static void test_4level_4k(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;

	/* PAT (bit 7 of a PTE) and bits 62:52 are neither PS nor address. */
	build_4level(m, 0xfedcba9000ull | PS | (0x7ffull << 52) | PRESENT);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_ok(&res, 0xfedcba9abcull, SZ_4K, 1);
	assert_int_equal(res.nr_entries, 4);
	assert_int_equal(res.entries[0], L4_PDPT | PRESENT);
	assert_int_equal(res.entries[1], L4_PD | PRESENT);
	assert_int_equal(res.entries[2], L4_PT | PRESENT);
	assert_int_equal(res.entries[3], 0xfedcba9000ull | PS | (0x7ffull << 52) | PRESENT);
	assert_int_equal(res.access, ACC_ALL);
}

static void test_4level_2m(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;

	build_4level(m, 0);
	put(m, slot64(L4_PD, L4_GVA, 2), 0xab40000000ull | (1ull << 12) | PS | PRESENT);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_ok(&res, 0xab40000000ull | (L4_GVA & (SZ_2M - 1)), SZ_2M, 2);
	assert_int_equal(res.nr_entries, 3);
}

static void test_4level_1g(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;

	build_4level(m, 0);
	put(m, slot64(L4_PDPT, L4_GVA, 3), 0xc0000000ull | (1ull << 12) | PS | PRESENT);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_ok(&res, 0xc0000000ull | (L4_GVA & (SZ_1G - 1)), SZ_1G, 3);
	assert_int_equal(res.nr_entries, 2);
}

static void test_4level_not_present(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;
	unsigned int level;

	for (level = 4; level >= 1; level--) {
		static const u64 tables[] = { 0, L4_PT, L4_PD, L4_PDPT, L4_PML4 };

		build_4level(m, 0x5000 | PRESENT);
		/* Reserved bits in a P=0 entry must not turn it into RESERVED. */
		put(m, slot64(tables[level], L4_GVA, level), ~P);
		assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
		assert_fault(&res, PGWALK_NOT_PRESENT, level);
		assert_int_equal(res.nr_entries, 5 - level);
		assert_int_equal(res.entries[4 - level], ~P);
	}
}

static void test_4level_reserved(void **state)
{
	static const struct {
		unsigned int level;
		u64 entry;
		bool nxe;
		u32 fault;
	} cases[] = {
		/* physical address bits at/above MAXPHYADDR (40) */
		{ 4, L4_PDPT | PRESENT | (1ull << 40), true, PGWALK_RESERVED },
		{ 3, L4_PD | PRESENT | (1ull << 51), true, PGWALK_RESERVED },
		{ 2, L4_PT | PRESENT | (1ull << 45), true, PGWALK_RESERVED },
		{ 1, 0x5000 | PRESENT | (1ull << 40), true, PGWALK_RESERVED },
		{ 1, 0x5000 | PRESENT | (1ull << 39), true, PGWALK_OK },
		/* PS is reserved in a PML4E */
		{ 4, L4_PDPT | PRESENT | PS, true, PGWALK_RESERVED },
		/* large-page reserved bits */
		{ 2, 0x200000 | PS | PRESENT | (1ull << 13), true, PGWALK_RESERVED },
		{ 2, 0x200000 | PS | PRESENT | (1ull << 20), true, PGWALK_RESERVED },
		{ 2, 0x200000 | PS | PRESENT | (1ull << 40), true, PGWALK_RESERVED },
		{ 3, 0x40000000 | PS | PRESENT | (1ull << 13), true, PGWALK_RESERVED },
		{ 3, 0x40000000 | PS | PRESENT | (1ull << 21), true, PGWALK_RESERVED },
		{ 3, 0x40000000 | PS | PRESENT | (1ull << 29), true, PGWALK_RESERVED },
		/* the same bits are address bits in a non-leaf entry */
		{ 2, 0x2000 | PRESENT | (1ull << 13) | (1ull << 20), true, PGWALK_READ_ERROR },
		/* XD is reserved without EFER.NXE, at every level */
		{ 4, L4_PDPT | PRESENT | XD, false, PGWALK_RESERVED },
		{ 3, L4_PD | PRESENT | XD, false, PGWALK_RESERVED },
		{ 2, L4_PT | PRESENT | XD, false, PGWALK_RESERVED },
		{ 1, 0x5000 | PRESENT | XD, false, PGWALK_RESERVED },
		{ 1, 0x5000 | PRESENT | XD, true, PGWALK_OK },
	};
	static const u64 tables[] = { 0, L4_PT, L4_PD, L4_PDPT, L4_PML4 };
	struct fake_mem *m = *state;
	struct pgwalk_result res;
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40,
						cases[i].nxe, false);
		unsigned int level = cases[i].level;
		int ret;

		build_4level(m, 0x5000 | PRESENT);
		put(m, slot64(tables[level], L4_GVA, level), cases[i].entry);
		ret = pgwalk(&p, L4_GVA, fake_read, m, &res);
		if (res.fault != cases[i].fault)
			fail_msg("case %u: fault %u, expected %u", i, res.fault, cases[i].fault);
		if (cases[i].fault == PGWALK_RESERVED) {
			assert_int_equal(ret, 0);
			assert_fault(&res, PGWALK_RESERVED, level);
			assert_int_equal(res.nr_entries, 5 - level);
		}
	}
}

static void test_4level_maxphyaddr52(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 52, true, false);
	struct pgwalk_result res;

	/* With MAXPHYADDR 52 bit 51 is address and bit 52 is ignored. */
	build_4level(m, (1ull << 51) | (1ull << 52) | 0x5000 | PRESENT);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_ok(&res, (1ull << 51) | 0x5abc, SZ_4K, 1);
}

static void test_4level_noncanonical(void **state)
{
	static const u64 bad[] = {
		0x0000800000000000ull, 0xffff7fffffffffffull,
		0x0001000000000000ull, 0x8000000000000000ull,
	};
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pgwalk(&p, bad[i], must_not_read, NULL, &res), 0);
		assert_fault(&res, PGWALK_NONCANONICAL, 0);
		assert_int_equal(res.nr_entries, 0);
	}
}

static void test_4level_canonical_edges(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, 0x1000, 40, true, false);
	struct pgwalk_result res;

	/* Highest lower-half and lowest upper-half addresses both walk. */
	put(m, slot64(0x1000, 0x00007fffffffffffull, 4), 0x2000 | PRESENT);
	put(m, slot64(0x2000, 0x00007fffffffffffull, 3), 0x40000000 | PS | PRESENT);
	assert_int_equal(pgwalk(&p, 0x00007fffffffffffull, fake_read, m, &res), 0);
	assert_ok(&res, 0x7fffffffull, SZ_1G, 3);

	put(m, slot64(0x1000, 0xffff800000000000ull, 4), 0x3000 | PRESENT);
	put(m, slot64(0x3000, 0xffff800000000000ull, 3), 0x80000000 | PS | PRESENT);
	assert_int_equal(pgwalk(&p, 0xffff800000000000ull, fake_read, m, &res), 0);
	assert_ok(&res, 0x80000000ull, SZ_1G, 3);
}

static void test_4level_access(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;

	/* RW cleared at the PDPT, US at the PTE, XD only at the PD. */
	put(m, slot64(L4_PML4, L4_GVA, 4), L4_PDPT | PRESENT);
	put(m, slot64(L4_PDPT, L4_GVA, 3), L4_PD | P | US);
	put(m, slot64(L4_PD, L4_GVA, 2), L4_PT | PRESENT | XD);
	put(m, slot64(L4_PT, L4_GVA, 1), 0x5000 | P | RW);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_int_equal(res.fault, PGWALK_OK);
	assert_int_equal(res.access, PGWALK_ACC_NX);

	/* Each right is only as good as its weakest level. */
	put(m, slot64(L4_PDPT, L4_GVA, 3), L4_PD | PRESENT);
	put(m, slot64(L4_PD, L4_GVA, 2), L4_PT | PRESENT);
	put(m, slot64(L4_PT, L4_GVA, 1), 0x5000 | P | US);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_int_equal(res.access, PGWALK_ACC_USER);

	put(m, slot64(L4_PML4, L4_GVA, 4), L4_PDPT | P | RW);
	put(m, slot64(L4_PT, L4_GVA, 1), 0x5000 | PRESENT);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_int_equal(res.access, PGWALK_ACC_WRITE);

	put(m, slot64(L4_PML4, L4_GVA, 4), L4_PDPT | PRESENT | XD);
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), 0);
	assert_int_equal(res.access, ACC_ALL | PGWALK_ACC_NX);
}

static void test_read_error(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_4LEVEL, L4_CR3, 40, true, false);
	struct pgwalk_result res;

	/* The callback's own errno comes back, not a generic one. */
	m->err = -ENXIO;
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), -ENXIO);
	assert_fault(&res, PGWALK_READ_ERROR, 4);
	assert_int_equal(res.nr_entries, 0);

	/* PD table missing: the PML4E and PDPTE are still reported. */
	put(m, slot64(L4_PML4, L4_GVA, 4), L4_PDPT | PRESENT);
	put(m, slot64(L4_PDPT, L4_GVA, 3), 0x7000000000ull | PRESENT);
	m->err = -EFAULT;
	assert_int_equal(pgwalk(&p, L4_GVA, fake_read, m, &res), -EFAULT);
	assert_fault(&res, PGWALK_READ_ERROR, 2);
	assert_int_equal(res.nr_entries, 2);
	assert_int_equal(res.entries[1], 0x7000000000ull | PRESENT);
}

static void test_read_error_32(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_32, 0x1000, 32, false, true);
	struct pgwalk_result res;

	m->entry_size = 4;
	m->err = -EIO;
	put(m, 0x1000, 0x9000 | PRESENT);
	assert_int_equal(pgwalk(&p, 0x10, fake_read, m, &res), -EIO);
	assert_fault(&res, PGWALK_READ_ERROR, 1);
	assert_int_equal(res.nr_entries, 1);
}

#define L5_PML5		0x10000ull
#define L5_PML4		0x11000ull
#define L5_PDPT		0x12000ull
#define L5_PD		0x13000ull
#define L5_PT		0x14000ull
#define L5_GVA		0xff5a5a5a5a5a5123ull

static void build_5level(struct fake_mem *m, u64 pte)
{
	put(m, slot64(L5_PML5, L5_GVA, 5), L5_PML4 | PRESENT);
	put(m, slot64(L5_PML4, L5_GVA, 4), L5_PDPT | PRESENT);
	put(m, slot64(L5_PDPT, L5_GVA, 3), L5_PD | PRESENT);
	put(m, slot64(L5_PD, L5_GVA, 2), L5_PT | PRESENT);
	put(m, slot64(L5_PT, L5_GVA, 1), pte);
}

static void test_5level_4k(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_5LEVEL, L5_PML5, 46, false, false);
	struct pgwalk_result res;

	build_5level(m, 0x3fffffff000ull | P | RW);
	assert_int_equal(pgwalk(&p, L5_GVA, fake_read, m, &res), 0);
	assert_ok(&res, 0x3fffffff123ull, SZ_4K, 1);
	assert_int_equal(res.nr_entries, 5);
	assert_int_equal(res.entries[0], L5_PML4 | PRESENT);
	assert_int_equal(res.entries[4], 0x3fffffff000ull | P | RW);
	assert_int_equal(res.access, PGWALK_ACC_WRITE);
}

static void test_5level_faults(void **state)
{
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_5LEVEL, L5_PML5, 46, false, false);
	struct pgwalk_result res;

	build_5level(m, 0x5000 | PRESENT);
	put(m, slot64(L5_PML5, L5_GVA, 5), L5_PML4 | RW);
	assert_int_equal(pgwalk(&p, L5_GVA, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_NOT_PRESENT, 5);
	assert_int_equal(res.nr_entries, 1);

	put(m, slot64(L5_PML5, L5_GVA, 5), L5_PML4 | PRESENT | PS);
	assert_int_equal(pgwalk(&p, L5_GVA, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_RESERVED, 5);

	put(m, slot64(L5_PML5, L5_GVA, 5), L5_PML4 | PRESENT | (1ull << 46));
	assert_int_equal(pgwalk(&p, L5_GVA, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_RESERVED, 5);

	put(m, slot64(L5_PML5, L5_GVA, 5), L5_PML4 | PRESENT);
	put(m, slot64(L5_PML4, L5_GVA, 4), L5_PDPT | PRESENT | PS);
	assert_int_equal(pgwalk(&p, L5_GVA, fake_read, m, &res), 0);
	assert_fault(&res, PGWALK_RESERVED, 4);
	assert_int_equal(res.nr_entries, 2);

	/* 1G pages are fine at the PDPT level in 5-level mode too. */
	put(m, slot64(L5_PML4, L5_GVA, 4), L5_PDPT | PRESENT);
	put(m, slot64(L5_PDPT, L5_GVA, 3), 0x40000000 | PS | PRESENT);
	assert_int_equal(pgwalk(&p, L5_GVA, fake_read, m, &res), 0);
	assert_ok(&res, 0x40000000 | (L5_GVA & (SZ_1G - 1)), SZ_1G, 3);
}

static void test_5level_canonical(void **state)
{
	static const u64 bad[] = {
		0x0100000000000000ull, 0xfeffffffffffffffull, 0x8000000000000000ull,
	};
	struct fake_mem *m = *state;
	struct pgwalk_params p = params(PGWALK_MODE_5LEVEL, L5_PML5, 46, true, false);
	struct pgwalk_result res;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pgwalk(&p, bad[i], must_not_read, NULL, &res), 0);
		assert_fault(&res, PGWALK_NONCANONICAL, 0);
		assert_int_equal(res.nr_entries, 0);
	}

	/* Non-canonical for 4-level, canonical for 5-level: it must be walked. */
	put(m, slot64(L5_PML5, 0x0000800000000000ull, 5), L5_PML4 | PRESENT);
	put(m, slot64(L5_PML4, 0x0000800000000000ull, 4), L5_PDPT | PRESENT);
	put(m, slot64(L5_PDPT, 0x0000800000000000ull, 3), 0xc0000000 | PS | PRESENT);
	assert_int_equal(pgwalk(&p, 0x0000800000000000ull, fake_read, m, &res), 0);
	assert_ok(&res, 0xc0000000, SZ_1G, 3);
	assert_int_equal(res.nr_entries, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none_identity),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_maxphyaddr_bounds_ok),
		cmocka_unit_test_setup_teardown(test_32_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32_4m_pse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32_ps_without_pse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32_pse36, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32_pse36_reserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32_not_present, setup, teardown),
		cmocka_unit_test_setup_teardown(test_32_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pae_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pae_2m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pae_pdpte_reserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pae_not_present, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pae_xd_without_nxe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_2m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_1g, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_not_present, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_reserved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_maxphyaddr52, setup, teardown),
		cmocka_unit_test(test_4level_noncanonical),
		cmocka_unit_test_setup_teardown(test_4level_canonical_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_4level_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_error_32, setup, teardown),
		cmocka_unit_test_setup_teardown(test_5level_4k, setup, teardown),
		cmocka_unit_test_setup_teardown(test_5level_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_5level_canonical, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
