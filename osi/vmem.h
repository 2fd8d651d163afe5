/* SPDX-License-Identifier: MIT */
/*
 * Guest-virtual memory for the OS layer: translation through one page-table
 * root with the module's own walker (kmod/pgwalk.c), reads through a
 * caller's guest-physical read function.  Page-table pages are cached, so
 * the caller must keep the guest still (paused) while one is in use.
 * Every read counts against a budget: a hostile guest cannot make a walk
 * of its structures go on for ever.
 */
#ifndef VMIOP_OSI_VMEM_H
#define VMIOP_OSI_VMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reads @len bytes of guest-physical memory: 0 or -errno. */
typedef int (*osi_read_pa_t)(void *ctx, uint64_t pa, void *buf, size_t len);

#define OSI_VMEM_CACHE 32

struct osi_vmem {
	osi_read_pa_t read_pa;
	void *ctx;
	uint64_t root;		/* page-table root (CR3 without flags) */
	bool la57;		/* 5-level paging */
	uint32_t maxphyaddr;
	uint64_t reads_left;	/* budget: guest-physical reads still allowed */
	struct {
		uint64_t pa;	/* of the cached table page, ~0: empty */
		uint8_t data[4096];
	} cache[OSI_VMEM_CACHE];
};

/* A fresh address space over @root; @budget reads at most. */
void osi_vmem_init(struct osi_vmem *vm, osi_read_pa_t read_pa, void *ctx, uint64_t root,
		   bool la57, uint32_t maxphyaddr, uint64_t budget);

/*
 * The guest-physical address of @va: 0, -EFAULT (not mapped, reserved
 * bits, not canonical), -E2BIG (budget spent) or the read's -errno.
 * *@page_size (may be NULL) gets the size of the page mapping it.
 */
int osi_translate(struct osi_vmem *vm, uint64_t va, uint64_t *pa, uint64_t *page_size);

/* @len bytes at @va, all of them (-EFAULT if any page is not mapped). */
int osi_read_va(struct osi_vmem *vm, uint64_t va, void *buf, size_t len);

/* A little-endian u64 at @va. */
int osi_read_u64(struct osi_vmem *vm, uint64_t va, uint64_t *val);

/* A kernel pointer: canonical, in the upper half, 8-byte aligned. */
static inline bool osi_kernel_ptr(const struct osi_vmem *vm, uint64_t va)
{
	return va >= (vm->la57 ? 0xff00000000000000ULL : 0xffff800000000000ULL) && !(va & 7);
}

#endif
