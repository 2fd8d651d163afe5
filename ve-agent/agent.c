// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The #VE agent: HVMI's job for page-table writes, in the guest.  A write
 * to a convertible page-table page arrives as a #VE (entry.S saved the
 * registers in the vCPU's info page); the agent decodes the instruction,
 * computes the entry it would leave, and lets an irrelevant change through
 * itself (its own write goes through: vmiop knows agent code).  A change
 * of a monitored bit (present, writable, user, page size, address) of an
 * entry the cache does not list is raised: the instruction faults again
 * and the introspector gets the memory-access event it would have had
 * without the agent, with the old and new entry.  What the agent cannot
 * decode it raises too, after a BREAK that says why: never a guess.
 *
 * Runs with interrupts off, on the info page's protected stack, with no
 * libc and no guest-OS call.
 */
/* Everything in the image is reached RIP-relative: no GOT, no relocation. */
#pragma GCC visibility push(hidden)

#include <stddef.h>
#include <linux/vmiop_ve.h>
#include "agent.h"
#include "emu.h"

uint64_t ve_hcall(uint64_t op, uint64_t rbx, uint64_t rcx);
struct vmiop_ve_cpu *ve_handle(struct vmiop_ve_cpu *info);

/* Filled by the installer (entry.S reads it at these offsets). */
struct ve_agent_config ve_config __attribute__((section(".data.config")));

_Static_assert(offsetof(struct ve_agent_config, info) == 0, "entry.S CFG_INFO");
_Static_assert(offsetof(struct ve_agent_config, nr_cpus) == 16, "entry.S CFG_NR_CPUS");
_Static_assert(offsetof(struct ve_agent_config, tsc_aux) == 24, "entry.S CFG_TSC_AUX");
_Static_assert(offsetof(struct ve_agent_config, unknown_cpu) == 24 + 4 * 64, "entry.S");
_Static_assert(offsetof(struct ve_agent_config, redelivered) == 32 + 4 * 64, "entry.S");

/* The compiler may call these for struct copies even when freestanding. */
void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

static void raise_access(struct vmiop_ve_cpu *info, uint64_t old, uint64_t new)
{
	info->old_value = old;
	info->new_value = new;
	info->raised = 1;
	ve_hcall(VMIOP_VE_HCALL_RAISE_EPT, 0, 0);
}

static void give_up(struct vmiop_ve_cpu *info, uint64_t reason)
{
	ve_hcall(VMIOP_VE_HCALL_BREAK, reason, info->gla);
	raise_access(info, 0, 0);
}

/* The entry's address is in the cache of entries nobody monitors. */
static bool cached(uint64_t entry_gpa)
{
	const struct vmiop_ve_cache_line *line;
	unsigned int i;

	if (!ve_config.cache)
		return false;
	line = (const struct vmiop_ve_cache_line *)ve_config.cache +
	       VMIOP_VE_CACHE_LINE(entry_gpa);
	for (i = 0; i < VMIOP_VE_CACHE_ENTRIES; i++)
		if (((volatile const uint64_t *)line->entries[VMIOP_VE_CACHE_BUCKET(entry_gpa)])[i] ==
		    entry_gpa)
			return true;
	return false;
}

static bool cmpxchg64(volatile uint64_t *p, uint64_t old, uint64_t new)
{
	uint64_t prev = old;

	__asm__ __volatile__("lock cmpxchgq %2, %1"
			     : "+a"(prev), "+m"(*p)
			     : "r"(new)
			     : "memory", "cc");
	return prev == old;
}

/* The GPRs are 16 consecutive quadwords at the start of REGISTERS. */
static void load_cpu(struct ve_cpu *cpu, const struct vmiop_ve_regs *r)
{
	memcpy(cpu->gpr, r, sizeof(cpu->gpr));
	cpu->rip = r->rip;
	cpu->rflags = r->rflags;
}

static void store_cpu(struct vmiop_ve_regs *r, const struct ve_cpu *cpu)
{
	uint64_t rsp = r->rsp;	/* the frame's: no write here moves it */

	memcpy(r, cpu->gpr, sizeof(cpu->gpr));
	r->rsp = rsp;
	r->rip = cpu->rip;
	r->rflags = cpu->rflags;
}

/* Returns @info for entry.S. */
struct vmiop_ve_cpu *ve_handle(struct vmiop_ve_cpu *info)
{
	struct vmiop_ve_regs *regs = &info->regs;
	uint64_t gla, entry, old, new = 0;
	uint8_t insn[VE_INSN_MAX];
	unsigned int n, i, tries;
	bool monitored;
	struct ve_write w;
	struct ve_cpu cpu;

	info->ve_total++;
	info->raised = 0;
	if (info->reason != VMIOP_VE_REASON_EPT_VIOLATION) {
		give_up(info, VMIOP_VE_BREAK_UNKNOWN_EXIT);
		return info;
	}
	/* vmiop converts no page walk; hardware would: the CPU redoes it after. */
	if (!(info->qualification & VMIOP_VE_QUAL_FINAL)) {
		info->ve_page_walk++;
		raise_access(info, 0, 0);
		return info;
	}
	info->ve_mm++;
	if (regs->cs & 3) {
		give_up(info, VMIOP_VE_BREAK_CS_NOT_KERNEL);
		return info;
	}
	/*
	 * The instruction, from its page first; into the next only if it
	 * needs more (the CPU fetched them: that page is mapped).
	 */
	n = 4096 - (unsigned int)(regs->rip & 4095);
	if (n > VE_INSN_MAX)
		n = VE_INSN_MAX;
	for (i = 0; i < n; i++)
		insn[i] = ((volatile const uint8_t *)regs->rip)[i];
	load_cpu(&cpu, regs);
	if (n < VE_INSN_MAX && ve_decode(insn, n, &cpu, &w) == VE_EMU_TRUNCATED) {
		for (; n < VE_INSN_MAX; n++)
			insn[n] = ((volatile const uint8_t *)regs->rip)[n];
	}
	for (i = 0; i < sizeof(info->instruction); i++)
		info->instruction[i] = i < n ? insn[i] : 0;

	for (tries = 0; tries < 4; tries++) {
		load_cpu(&cpu, regs);
		if (ve_decode(insn, n, &cpu, &w) != VE_EMU_OK) {
			give_up(info, VMIOP_VE_BREAK_EMULATION_FAILED);
			return info;
		}
		gla = w.gla;
		/* The write the CPU reported, at the same place. */
		if ((info->qualification & VMIOP_VE_QUAL_GLA_VALID) ? gla != info->gla :
		    (gla & 4095) != (info->gpa & 4095)) {
			give_up(info, VMIOP_VE_BREAK_PAGE_WALK_FAILED);
			return info;
		}
		entry = gla & ~7ull;
		old = *(volatile const uint64_t *)entry;
		if (ve_apply(&w, entry, old, &new, &cpu) != VE_EMU_OK) {
			give_up(info, VMIOP_VE_BREAK_EMULATION_FAILED);
			return info;
		}
		monitored = ((old ^ new) & VMIOP_VE_MONITORED_BITS) && ((old | new) & 1);
		if (monitored && !cached(info->gpa & ~7ull)) {
			raise_access(info, old, new);
			return info;
		}
		/* Let it through: unless the entry changed meanwhile, then again. */
		if (new == old || cmpxchg64((volatile uint64_t *)entry, old, new)) {
			store_cpu(regs, &cpu);
			info->old_value = old;
			info->new_value = new;
			info->ve_ignored_total++;
			if (monitored)
				info->ve_ignored_cache++;
			else
				info->ve_ignored_irrelevant++;
			return info;
		}
	}
	give_up(info, VMIOP_VE_BREAK_EMULATION_FAILED);
	return info;
}
