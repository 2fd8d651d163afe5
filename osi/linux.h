/* SPDX-License-Identifier: MIT */
/*
 * Zero-configuration awareness of a Linux x86-64 guest: its kernel found
 * under KASLR, its type layouts from the BTF the kernel carries, its
 * symbols from its own kallsyms tables, its processes through the task
 * list.  No System.map, no debug package, no profile.  Everything is read
 * from guest memory and everything read is treated as hostile: walks are
 * bounded, pointers checked, strings cut.  See
 * shared/notes/guest-btf-kallsyms.md for the measured layout.
 */
#ifndef VMIOP_OSI_LINUX_H
#define VMIOP_OSI_LINUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "vmem.h"

struct btf;
struct kallsyms;

/* Where the kernel image can be: _text is 2 MiB aligned in this window. */
#define OSI_KERNEL_MAP		0xffffffff80000000ULL
#define OSI_KERNEL_MIN_TEXT	0xffffffff81000000ULL	/* LOAD_PHYSICAL_ADDR above the map */
#define OSI_KERNEL_MAP_END	0xffffffffc0000000ULL	/* KERNEL_IMAGE_SIZE: 1 GiB */
/* How much of the image is read and scanned for BTF and kallsyms. */
#define OSI_IMAGE_SCAN		(64ULL << 20)

/* Structure offsets the walks need, from the guest's BTF. */
struct osi_linux_offsets {
	uint64_t task_tasks;	/* task_struct.tasks (list_head) */
	uint64_t task_pid;
	uint64_t task_tgid;
	uint64_t task_comm;	/* char[16] */
	uint64_t task_state;	/* __state (u32), or state before 5.14 */
	uint64_t task_exit_state;	/* int: EXIT_ZOMBIE, EXIT_DEAD */
	uint64_t task_mm;
	uint64_t mm_pgd;
	uint64_t pcpu_current_task;	/* offset in the per-CPU area */
	uint64_t pcpu_this_cpu_off;
	uint64_t pcpu_cpu_number;	/* ~0: not known */
	uint64_t per_cpu_offset;	/* __per_cpu_offset[] (kallsyms), 0: not known */
	uint64_t nr_cpu_ids;		/* its address (kallsyms), 0: not known */
};

struct osi_linux {
	struct osi_vmem vm;		/* through the kernel's page tables */
	uint64_t text;			/* _text */
	uint64_t btf_va;		/* where .BTF is */
	size_t btf_size;
	struct btf *btf;
	struct kallsyms *ks;
	struct osi_linux_offsets off;
	char banner[512];		/* linux_banner, NUL-terminated, without its newline */
};

/* What the caller knows of the vCPUs: their registers. */
struct osi_cpu {
	uint64_t cr3;
	uint64_t gs_base;
	uint64_t kernel_gs_base;
	unsigned int cpl;	/* CS.DPL: at 3 GS_BASE is the user's */
	bool la57;		/* CR4.LA57 */
};

/*
 * Finds the kernel from the vCPUs' registers and guest-physical memory,
 * and checks it is one this layer understands.  0, or -ENOENT / -EINVAL
 * with a one-line reason in @why: no kernel found, no BTF in it (built
 * without CONFIG_DEBUG_INFO_BTF), no kallsyms, an inconsistent layout.
 */
int osi_linux_open(struct osi_linux *l, osi_read_pa_t read_pa, void *ctx,
		   const struct osi_cpu *cpus, unsigned int nr_cpus, uint32_t maxphyaddr,
		   char *why, size_t why_len);
void osi_linux_close(struct osi_linux *l);

/* _text - the unrandomized 0xffffffff81000000. */
static inline int64_t osi_linux_kaslr_slide(const struct osi_linux *l)
{
	return (int64_t)(l->text - OSI_KERNEL_MIN_TEXT);
}

/* A symbol's address (kallsyms), -ENOENT. */
int osi_linux_symbol(const struct osi_linux *l, const char *name, uint64_t *addr);

struct osi_task {
	uint64_t va;		/* the task_struct */
	int32_t pid;
	int32_t tgid;
	uint32_t state;		/* __state */
	uint32_t exit_state;	/* EXIT_ZOMBIE, EXIT_DEAD */
	char comm[17];		/* NUL-terminated */
	uint64_t pgd;		/* page-table root (physical), 0 for kernel threads */
};

/*
 * Calls @fn for init_task and each process on the task list (thread-group
 * leaders), in list order, stopping at the first non-zero return (which
 * is returned).  A list the guest broke (a cycle that skips the head, a
 * link whose back link disagrees, an unmapped or misaligned node) ends
 * the walk with -ELOOP or -EFAULT after the tasks read so far; at most
 * OSI_MAX_TASKS are visited.
 */
#define OSI_MAX_TASKS 4194304	/* PID_MAX_LIMIT */
int osi_linux_tasks(struct osi_linux *l, int (*fn)(void *ctx, const struct osi_task *t),
		    void *ctx);

/* The task running on a vCPU, through its per-CPU area; -ENOENT. */
int osi_linux_current(struct osi_linux *l, const struct osi_cpu *cpu, struct osi_task *t);

/* One letter for a task's state, as ps(1) prints it (the kernel's task_state_index()). */
char osi_task_state_letter(uint32_t state, uint32_t exit_state);

/* ---- the steps, exposed for the unit tests ---- */

/* The lowest mapped 2 MiB slot of the kernel window: _text.  -ENOENT. */
int osi_find_text(struct osi_vmem *vm, uint64_t *text);

/* Reads one task_struct's fields. */
int osi_read_task(struct osi_vmem *vm, const struct osi_linux_offsets *off, uint64_t va,
		  struct osi_task *t);

/*
 * The list walk itself: from the list_head at @head, bounded, checked.
 * @fn gets each task other than the one @head belongs to.
 */
int osi_walk_tasks(struct osi_vmem *vm, const struct osi_linux_offsets *off, uint64_t head,
		   uint64_t max, int (*fn)(void *ctx, const struct osi_task *t), void *ctx);

/*
 * A per-CPU base is believable when the area's this_cpu_off holds the
 * base itself (what the kernel put there at boot), and, where kallsyms
 * has them, its cpu_number is below nr_cpu_ids and __per_cpu_offset of
 * that CPU is the base.
 */
bool osi_percpu_base_ok(struct osi_vmem *vm, const struct osi_linux_offsets *off,
			uint64_t base);

#endif
