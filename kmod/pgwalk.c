// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Guest page-table walker.  Built both into the module and into the host unit
 * tests, so it must stay free of kernel and libc dependencies.
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#else
#include <errno.h>
#endif

#include "pgwalk.h"

#define PG_P		(1ull << 0)
#define PG_RW		(1ull << 1)
#define PG_US		(1ull << 2)
#define PG_PS		(1ull << 7)
#define PG_XD		(1ull << 63)

#define SZ_4K		(1ull << 12)
#define SZ_4M		(1ull << 22)

/* Bits @lo..@hi inclusive; empty when @lo > @hi so callers need no special case. */
static u64 pgw_bits(unsigned int lo, unsigned int hi)
{
	if (lo > hi)
		return 0;
	return (~0ull >> (63 - hi)) & (~0ull << lo);
}

/* gpa, page_size and access stay 0: partial rights would look like a translation's. */
static int pgw_fault(struct pgwalk_result *res, u32 fault)
{
	res->fault = fault;
	return 0;
}

static void pgw_leaf(struct pgwalk_result *res, u64 frame, u64 gva, u64 size, u32 access)
{
	res->gpa = frame | (gva & (size - 1));
	res->page_size = size;
	res->access = access;
	res->fault = PGWALK_OK;
}

/*
 * res->level is set before the read so that on a read error it names the
 * level whose table is unreachable, which is what a caller needs to report.
 */
static int pgw_read(pgwalk_read_t read, void *ctx, u64 gpa, unsigned int size,
		    unsigned int level, struct pgwalk_result *res, u64 *e)
{
	int ret;

	res->level = level;
	*e = 0;
	ret = read(ctx, gpa, size, e);
	if (ret) {
		pgw_fault(res, PGWALK_READ_ERROR);
		/* A positive return would be mistaken for success by our callers. */
		return ret < 0 ? ret : -EIO;
	}
	if (size == 4)
		*e &= 0xffffffffull;
	res->entries[res->nr_entries++] = *e;
	return 0;
}

/* Sign-extension check: bits 63..@bits-1 must all equal bit @bits-1. */
static bool pgw_canonical(u64 gva, unsigned int bits)
{
	u64 top = gva >> (bits - 1);

	return top == 0 || top == (~0ull >> (bits - 1));
}

static int pgw_walk32(const struct pgwalk_params *p, u64 gva, pgwalk_read_t read,
		      void *ctx, struct pgwalk_result *res)
{
	u32 access = PGWALK_ACC_WRITE | PGWALK_ACC_USER;
	u64 table = p->cr3 & 0xfffff000ull;
	u64 pde, pte;
	int ret;

	/*
	 * Linear addresses are 32 bits wide here; every use of gva below masks
	 * to bits 31:0, so the high half is ignored without truncating it.
	 */
	ret = pgw_read(read, ctx, table + ((gva >> 22) & 0x3ff) * 4, 4, 2, res, &pde);
	if (ret)
		return ret;
	if (!(pde & PG_P))
		return pgw_fault(res, PGWALK_NOT_PRESENT);
	if (!(pde & PG_RW))
		access &= ~PGWALK_ACC_WRITE;
	if (!(pde & PG_US))
		access &= ~PGWALK_ACC_USER;

	/* Without CR4.PSE the PS bit is ignored and the PDE maps a page table. */
	if (p->pse && (pde & PG_PS)) {
		/*
		 * PSE-36: bits 20:13 carry physical bits 39:32, but only as many
		 * as MAXPHYADDR allows; the rest of the field and bit 21 are
		 * reserved.
		 */
		unsigned int mpa = p->maxphyaddr < 40 ? p->maxphyaddr : 40;
		unsigned int nhi = mpa - 32;
		u64 hi;

		if (pde & pgw_bits(13 + nhi, 21))
			return pgw_fault(res, PGWALK_RESERVED);
		hi = (pde >> 13) & pgw_bits(0, 7);
		pgw_leaf(res, (pde & 0xffc00000ull) | (hi << 32), gva, SZ_4M, access);
		return 0;
	}

	table = pde & 0xfffff000ull;
	ret = pgw_read(read, ctx, table + ((gva >> 12) & 0x3ff) * 4, 4, 1, res, &pte);
	if (ret)
		return ret;
	if (!(pte & PG_P))
		return pgw_fault(res, PGWALK_NOT_PRESENT);
	if (!(pte & PG_RW))
		access &= ~PGWALK_ACC_WRITE;
	if (!(pte & PG_US))
		access &= ~PGWALK_ACC_USER;
	pgw_leaf(res, pte & 0xfffff000ull, gva, SZ_4K, access);
	return 0;
}

/* PAE, 4-level and 5-level: 8-byte entries, 9 index bits per level. */
static int pgw_walk64(const struct pgwalk_params *p, u64 gva, pgwalk_read_t read,
		      void *ctx, struct pgwalk_result *res)
{
	u32 access = PGWALK_ACC_WRITE | PGWALK_ACC_USER;
	u64 pa_mask = pgw_bits(12, p->maxphyaddr - 1);
	/* Bits 62:52 are ignored (or protection keys), so only 51:M are reserved. */
	u64 pa_rsvd = pgw_bits(p->maxphyaddr, 51);
	u64 xd_rsvd = p->nxe ? 0 : PG_XD;
	bool pae = p->mode == PGWALK_MODE_PAE;
	unsigned int level;
	u64 table;

	if (pae) {
		gva &= 0xffffffffull;
		/* The PDPT is 32-byte aligned, not page aligned. */
		table = p->cr3 & 0xffffffe0ull;
		level = 3;
	} else {
		/* CR3 bits above MAXPHYADDR are PCID/LAM control, not address. */
		table = p->cr3 & pa_mask;
		level = p->mode == PGWALK_MODE_5LEVEL ? 5 : 4;
		if (!pgw_canonical(gva, level == 5 ? 57 : 48))
			return pgw_fault(res, PGWALK_NONCANONICAL);
	}

	for (;; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		u64 e, rsvd;
		int ret;

		/* In PAE mode the 2-bit PDPT index falls out of the 32-bit gva. */
		ret = pgw_read(read, ctx, table + ((gva >> shift) & 0x1ff) * 8, 8, level,
			       res, &e);
		if (ret)
			return ret;
		if (!(e & PG_P))
			return pgw_fault(res, PGWALK_NOT_PRESENT);

		if (pae && level == 3) {
			/*
			 * PAE PDPTEs have no RW/US/XD and no large pages: those
			 * bits, and everything above MAXPHYADDR, are reserved.
			 */
			rsvd = pgw_bits(1, 2) | pgw_bits(5, 8) | pgw_bits(p->maxphyaddr, 63);
		} else {
			rsvd = pa_rsvd | xd_rsvd;
			if (level >= 4)
				rsvd |= PG_PS;
			else if (level == 3 && (e & PG_PS))
				rsvd |= pgw_bits(13, 29);	/* bit 12 is PAT */
			else if (level == 2 && (e & PG_PS))
				rsvd |= pgw_bits(13, 20);
		}
		if (e & rsvd)
			return pgw_fault(res, PGWALK_RESERVED);

		if (!(pae && level == 3)) {
			if (!(e & PG_RW))
				access &= ~PGWALK_ACC_WRITE;
			if (!(e & PG_US))
				access &= ~PGWALK_ACC_USER;
			if (e & PG_XD)
				access |= PGWALK_ACC_NX;
		}

		/* Bit 7 of a PTE is PAT; PS at levels 4/5 was rejected above. */
		if (level == 1 || (e & PG_PS)) {
			u64 size = 1ull << shift;

			pgw_leaf(res, e & pa_mask & ~(size - 1), gva, size, access);
			return 0;
		}
		table = e & pa_mask;
	}
}

/*
 * On any fault gpa, page_size and access are 0; entries[] holds what was read
 * up to and including the faulting entry.
 */
int pgwalk(const struct pgwalk_params *p, u64 gva, pgwalk_read_t read,
	   void *ctx, struct pgwalk_result *res)
{
	*res = (struct pgwalk_result){ 0 };

	if (p->maxphyaddr < 32 || p->maxphyaddr > 52) {
		res->fault = PGWALK_BAD_MODE;
		return -EINVAL;
	}

	switch (p->mode) {
	case PGWALK_MODE_NONE:
		/* Paging off: no protection, and 4K is as good a granule as any. */
		gva &= 0xffffffffull;
		pgw_leaf(res, gva & ~(SZ_4K - 1), gva, SZ_4K,
			 PGWALK_ACC_WRITE | PGWALK_ACC_USER);
		return 0;
	case PGWALK_MODE_32:
		return pgw_walk32(p, gva, read, ctx, res);
	case PGWALK_MODE_PAE:
	case PGWALK_MODE_4LEVEL:
	case PGWALK_MODE_5LEVEL:
		return pgw_walk64(p, gva, read, ctx, res);
	default:
		res->fault = PGWALK_BAD_MODE;
		return -EINVAL;
	}
}
