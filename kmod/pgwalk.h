/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Guest page-table walker, shared verbatim by the module and the host unit
 * tests: it touches guest memory only through the read callback, so the
 * tests can run it over a fake memory.
 */
#ifndef VMIOP_PGWALK_H
#define VMIOP_PGWALK_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
typedef uint8_t u8;
typedef uint32_t u32;
typedef uint64_t u64;
#endif

/* Values match enum vmiop_paging_mode and vmiop_xlate_fault in the uapi. */
enum pgwalk_mode {
	PGWALK_MODE_NONE = 1,	/* paging off: gva is the gpa (truncated to 32 bits) */
	PGWALK_MODE_32,		/* 2-level, 4K and (with pse) 4M pages, PSE-36 */
	PGWALK_MODE_PAE,	/* 3-level, 4K and 2M pages */
	PGWALK_MODE_4LEVEL,	/* 48-bit, 4K, 2M, 1G pages */
	PGWALK_MODE_5LEVEL,	/* 57-bit, 4K, 2M, 1G pages */
};

enum pgwalk_fault {
	PGWALK_OK = 0,
	PGWALK_NOT_PRESENT = 1,		/* entry at res->level has P=0 */
	PGWALK_RESERVED = 2,		/* entry at res->level has a reserved bit set */
	PGWALK_NONCANONICAL = 3,	/* gva is not canonical for the mode */
	PGWALK_READ_ERROR = 4,		/* a table is not in guest RAM (read cb failed) */
	PGWALK_BAD_MODE = 5,		/* unknown mode or maxphyaddr out of [32, 52] */
};

/* Rights accumulated over the walk (AND of RW/US, OR of XD). */
#define PGWALK_ACC_WRITE	(1u << 0)
#define PGWALK_ACC_USER		(1u << 1)
#define PGWALK_ACC_NX		(1u << 2)

#define PGWALK_MAX_LEVELS 5

struct pgwalk_params {
	u64 cr3;
	u32 mode;		/* enum pgwalk_mode */
	u32 maxphyaddr;		/* guest CPUID.80000008:EAX[7:0], 32..52 */
	bool nxe;		/* EFER.NXE: XD is reserved when clear */
	bool pse;		/* CR4.PSE: 4M pages in 32-bit mode */
};

struct pgwalk_result {
	u64 gpa;		/* valid when fault == PGWALK_OK */
	u64 page_size;		/* 4K, 2M, 4M, 1G; 0 on fault */
	u64 entries[PGWALK_MAX_LEVELS];	/* entries read, top level first */
	u32 nr_entries;
	u32 level;		/* level of the last entry read: 1 = PTE ... 5 = PML5E */
	u32 fault;		/* enum pgwalk_fault */
	u32 access;		/* PGWALK_ACC_* */
};

/*
 * Reads @size (4 or 8) bytes of guest-physical memory at @gpa into *@val
 * (zero-extended).  Returns 0 or a negative errno.
 */
typedef int (*pgwalk_read_t)(void *ctx, u64 gpa, unsigned int size, u64 *val);

/*
 * Translates @gva.  Returns 0 when the walk completed (res->fault says
 * whether a translation exists), or the negative errno of a failed read
 * (then res->fault is PGWALK_READ_ERROR), or -EINVAL for PGWALK_BAD_MODE.
 */
int pgwalk(const struct pgwalk_params *p, u64 gva, pgwalk_read_t read,
	   void *ctx, struct pgwalk_result *res);

#endif
