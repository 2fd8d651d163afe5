/* SPDX-License-Identifier: MIT */
/*
 * Where the #VE agent goes: the layout of the session's memory, the place
 * in the guest's address space, and the page-table entries that map it.
 * Pure functions of what was read from the guest (hostile input: any
 * value of any entry), for agent.c and the unit tests.
 */
#ifndef LIBVMIOP_AGENT_PLAN_H
#define LIBVMIOP_AGENT_PLAN_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/vmiop_ve.h>

#define AGENT_PAGE		4096ull
#define AGENT_MEM_LEN		(2ull << 20)	/* one page table maps it all */
#define AGENT_PAGES		(AGENT_MEM_LEN / AGENT_PAGE)
#define AGENT_CACHE_LEN		(VMIOP_VE_CACHE_LINES * AGENT_PAGE)

#define PTE_P		(1ull << 0)
#define PTE_RW		(1ull << 1)
#define PTE_US		(1ull << 2)
#define PTE_A		(1ull << 5)
#define PTE_D		(1ull << 6)
#define PTE_PS		(1ull << 7)
#define PTE_NX		(1ull << 63)
#define PTE_ADDR	0x000ffffffffff000ull

/*
 * Linux's cpu_entry_area: a top-level entry every mm, and KPTI's user half,
 * shares; its base holds the read-only IDT every CPU loads.
 */
#define AGENT_CEA_SLOT	508u
#define AGENT_CEA_BASE	0xfffffe0000000000ull
/* Its first PUD entries hold the per-CPU areas (up to 8192 CPUs: under 2 GiB). */
#define AGENT_CEA_USED	2u

struct agent_plan {
	unsigned int nr_vcpus;
	uint64_t code_len;	/* the image's code, page-rounded: r-x */
	uint64_t image_len;	/* the whole image, page-rounded */
	uint64_t info_off, stacks_off, cache_off;
	/* paging structures, last in the memory, not mapped */
	uint64_t pud_off, pmd_off, pt_off;
	uint64_t mapped_len;	/* [0, mapped_len) is mapped at the base */
};

static inline uint64_t agent_round_page(uint64_t n)
{
	return (n + AGENT_PAGE - 1) & ~(AGENT_PAGE - 1);
}

/* 0, or -E2BIG: the image and @nr vCPUs' pages do not fit. */
static inline int agent_plan_layout(struct agent_plan *p, uint64_t image_size,
				    uint64_t code_size, unsigned int nr)
{
	if (!nr || nr > VMIOP_VE_MAX_CPUS || code_size > image_size ||
	    image_size > AGENT_MEM_LEN)
		return -E2BIG;
	p->nr_vcpus = nr;
	p->code_len = agent_round_page(code_size);
	p->image_len = agent_round_page(image_size);
	p->info_off = p->image_len;
	p->stacks_off = p->info_off + nr * AGENT_PAGE;
	p->cache_off = p->stacks_off + nr * (uint64_t)VMIOP_VE_STACK_SIZE;
	p->mapped_len = p->cache_off + AGENT_CACHE_LEN;
	p->pud_off = p->mapped_len;
	p->pmd_off = p->pud_off + AGENT_PAGE;
	p->pt_off = p->pmd_off + AGENT_PAGE;
	return p->pt_off + AGENT_PAGE > AGENT_MEM_LEN ? -E2BIG : 0;
}

/* The canonical address of top-level slot @l4 (4-level paging), PUD @l3. */
static inline uint64_t agent_va(unsigned int l4, unsigned int l3)
{
	uint64_t va = (uint64_t)l4 << 39 | (uint64_t)l3 << 30;

	return l4 >= 256 ? va | 0xffff000000000000ull : va;
}

/*
 * Where the mapping hangs, from the guest's top-level table: below
 * Linux's cpu_entry_area entry when it is there (then *@l3 is a free
 * entry of @pud, the table that entry points to), else in a free
 * top-level kernel-half slot (*@l3 = 0, a PUD of our own).  Returns
 * false when there is no place.
 */
static inline bool agent_plan_place(const uint64_t pml4[512], const uint64_t pud[512],
				    bool *shared, unsigned int *l4, unsigned int *l3)
{
	unsigned int i;

	if ((pml4[AGENT_CEA_SLOT] & (PTE_P | PTE_PS)) == PTE_P && pud) {
		for (i = 511; i >= AGENT_CEA_USED; i--) {
			if (!pud[i]) {
				*shared = true;
				*l4 = AGENT_CEA_SLOT;
				*l3 = i;
				return true;
			}
		}
		return false;
	}
	/* 511 holds the kernel image; 256 the start of the kernel half. */
	for (i = 510; i >= 256; i--) {
		if (!pml4[i]) {
			*shared = false;
			*l4 = i;
			*l3 = 0;
			return true;
		}
	}
	return false;
}

/* A paging-structure entry pointing at @table_gpa: supervisor, writable, executable. */
static inline uint64_t agent_table_entry(uint64_t table_gpa)
{
	return (table_gpa & PTE_ADDR) | PTE_P | PTE_RW | PTE_A;
}

/*
 * The leaf for page @i of the memory at @base_gpa: code read-only and
 * executable, the rest writable and (with EFER.NXE) not executable, the
 * paging structures unmapped.  A and D preset: the guest's page walker
 * never writes the agent's entries.
 */
static inline uint64_t agent_leaf(const struct agent_plan *p, uint64_t base_gpa, unsigned int i,
				  bool nxe)
{
	uint64_t off = (uint64_t)i * AGENT_PAGE;

	if (off >= p->mapped_len)
		return 0;
	if (off < p->code_len)
		return (base_gpa + off) | PTE_P | PTE_A;
	return (base_gpa + off) | PTE_P | PTE_RW | PTE_A | PTE_D | (nxe ? PTE_NX : 0);
}

/* An interrupt gate (type 14, DPL 0, present) to @handler through @selector. */
static inline void agent_gate(uint64_t gate[2], uint64_t handler, uint16_t selector)
{
	gate[0] = (handler & 0xffff) | (uint64_t)selector << 16 | 0x8eull << 40 |
		  (handler >> 16 & 0xffff) << 48;
	gate[1] = handler >> 32;
}

#endif
