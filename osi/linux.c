// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "btf.h"
#include "kallsyms.h"
#include "linux.h"

#define SLOT		(2ULL << 20)
#define PAGE		4096ULL
/* Guest-physical reads one open may make: the image scan and then some. */
#define OPEN_BUDGET	(1ULL << 20)
/* ... and one task walk, per task a handful. */
#define WALK_BUDGET_PER_TASK 16

/*
 * Reads of kernel memory: the whole range in the kernel half, so that a
 * forged pointer plus an offset cannot land in pages a guest user maps.
 */
static int kread(struct osi_vmem *vm, uint64_t va, void *buf, size_t len)
{
	if (!osi_kernel_ptr(vm, va & ~7ULL) || va + len < va)
		return -EFAULT;
	return osi_read_va(vm, va, buf, len);
}

static int kread_u64(struct osi_vmem *vm, uint64_t va, uint64_t *val)
{
	return kread(vm, va, val, sizeof(*val));
}

static int why_set(char *why, size_t why_len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}

int osi_find_text(struct osi_vmem *vm, uint64_t *text)
{
	uint64_t va, pa;

	for (va = OSI_KERNEL_MIN_TEXT; va < OSI_KERNEL_MAP_END; va += SLOT) {
		int ret = osi_translate(vm, va, &pa, NULL);

		if (!ret) {
			*text = va;
			return 0;
		}
		if (ret != -EFAULT)
			return ret;
	}
	return -ENOENT;
}

/*
 * Copies [text, text + len) into @buf; pages that are not mapped (freed
 * init and padding, under PTI) stay zero.  Physically contiguous pages are
 * read in one go: the image is contiguous.
 */
static int osi_read_image(struct osi_vmem *vm, uint64_t text, uint8_t *buf, size_t len)
{
	uint64_t off = 0;

	/* Not past the kernel's window into module space. */
	if (len > OSI_KERNEL_MAP_END - text)
		len = OSI_KERNEL_MAP_END - text;
	while (off < len) {
		uint64_t pa, run_pa, run_off;
		int ret = osi_translate(vm, text + off, &pa, NULL);

		if (ret == -EFAULT) {
			off += PAGE;
			continue;
		}
		if (ret)
			return ret;
		run_pa = pa;
		run_off = off;
		for (off += PAGE; off < len && off - run_off < (1ULL << 20); off += PAGE) {
			if (osi_translate(vm, text + off, &pa, NULL) || pa != run_pa + (off - run_off))
				break;
		}
		/* A page outside guest RAM is a hole, not the end of the kernel. */
		if (vm->read_pa(vm->ctx, run_pa, buf + run_off, off - run_off))
			memset(buf + run_off, 0, off - run_off);
	}
	return 0;
}

/*
 * The kernel's own BTF, where kallsyms says it starts.  No scan for the
 * magic elsewhere: module, freed and planted copies abound, and a kernel
 * without __start_BTF has none of its own to find.
 */
static int osi_find_btf(struct osi_linux *l, const uint8_t *img, size_t len, char *why,
			size_t why_len)
{
	uint64_t start;
	uint32_t id;
	size_t off;

	if (kallsyms_lookup(l->ks, "__start_BTF", &start, NULL))
		return why_set(why, why_len, -ENOENT,
			       "the kernel has no BTF (no __start_BTF: built without "
			       "CONFIG_DEBUG_INFO_BTF?): its type layouts are unknown");
	if (start < l->text || start - l->text >= len)
		return why_set(why, why_len, -EINVAL, "__start_BTF is outside the kernel image");
	off = start - l->text;
	if (btf_parse(img + off, len - off, &l->btf, why, why_len))
		return -EINVAL;
	if (btf_find_struct(l->btf, "task_struct", &id))
		return why_set(why, why_len, -EINVAL, "the kernel's BTF has no task_struct");
	l->btf_va = start;
	l->btf_size = btf_size(l->btf);
	return 0;
}

static int osi_member(struct osi_linux *l, const char *type, const char *member, uint64_t *off,
		      char *why, size_t why_len)
{
	uint32_t id;

	if (btf_find_struct(l->btf, type, &id))
		return why_set(why, why_len, -EINVAL, "BTF has no struct %s", type);
	if (btf_member_offset(l->btf, id, member, off, NULL))
		return why_set(why, why_len, -EINVAL, "BTF: struct %s has no %s", type, member);
	return 0;
}

/*
 * A per-CPU variable's offset: BTF's .data..percpu section (6.1), else
 * inside pcpu_hot (6.2 to 6.14), else kallsyms' absolute symbol (kernels
 * built without BTF variables).
 */
static int osi_percpu_var(struct osi_linux *l, const char *name, uint64_t *off)
{
	uint64_t hot, member;
	uint32_t id, type;
	char t;

	if (!btf_datasec_var(l->btf, ".data..percpu", name, off, &type)) {
		/* A current_task that is no task_struct pointer is no current_task. */
		if (!strcmp(name, "current_task") && !btf_is_ptr_to_struct(l->btf, type, "task_struct"))
			return -EINVAL;
		return 0;
	}
	if (!btf_datasec_var(l->btf, ".data..percpu", "pcpu_hot", &hot, &type) &&
	    !btf_find_struct(l->btf, "pcpu_hot", &id) &&
	    !btf_member_offset(l->btf, id, name, &member, NULL)) {
		*off = hot + member;
		return 0;
	}
	if (!kallsyms_lookup(l->ks, name, off, &t) && (t == 'A' || t == 'a') &&
	    *off < (1ULL << 32))
		return 0;
	return -ENOENT;
}

static int osi_offsets(struct osi_linux *l, char *why, size_t why_len)
{
	struct osi_linux_offsets *o = &l->off;
	int ret;

	ret = osi_member(l, "task_struct", "tasks", &o->task_tasks, why, why_len) ?:
	      osi_member(l, "task_struct", "pid", &o->task_pid, why, why_len) ?:
	      osi_member(l, "task_struct", "tgid", &o->task_tgid, why, why_len) ?:
	      osi_member(l, "task_struct", "comm", &o->task_comm, why, why_len) ?:
	      osi_member(l, "task_struct", "mm", &o->task_mm, why, why_len) ?:
	      osi_member(l, "mm_struct", "pgd", &o->mm_pgd, why, why_len);
	if (ret)
		return ret;
	/* 5.14 renamed state to __state. */
	if (osi_member(l, "task_struct", "__state", &o->task_state, NULL, 0) &&
	    osi_member(l, "task_struct", "state", &o->task_state, why, why_len))
		return -EINVAL;
	if (osi_percpu_var(l, "current_task", &o->pcpu_current_task))
		return why_set(why, why_len, -EINVAL, "no per-CPU current_task in BTF or kallsyms");
	if (osi_percpu_var(l, "this_cpu_off", &o->pcpu_this_cpu_off))
		return why_set(why, why_len, -EINVAL, "no per-CPU this_cpu_off in BTF or kallsyms");
	if (osi_member(l, "task_struct", "exit_state", &o->task_exit_state, why, why_len))
		return -EINVAL;
	/* Optional: a stricter check of per-CPU bases where they exist. */
	if (osi_percpu_var(l, "cpu_number", &o->pcpu_cpu_number))
		o->pcpu_cpu_number = ~0ULL;
	if (kallsyms_lookup(l->ks, "__per_cpu_offset", &o->per_cpu_offset, NULL) ||
	    kallsyms_lookup(l->ks, "nr_cpu_ids", &o->nr_cpu_ids, NULL))
		o->per_cpu_offset = o->nr_cpu_ids = 0;
	return 0;
}

static void osi_read_banner(struct osi_linux *l)
{
	uint64_t va;
	char *nl;

	l->banner[0] = '\0';
	if (kallsyms_lookup(l->ks, "linux_banner", &va, NULL) ||
	    kread(&l->vm, va, l->banner, sizeof(l->banner) - 1))
		return;
	l->banner[sizeof(l->banner) - 1] = '\0';
	nl = strchr(l->banner, '\n');
	if (nl)
		*nl = '\0';
}

/*
 * One candidate page-table root: the kernel there, its kallsyms agreeing
 * on where _text is.  Under PTI a vCPU may be in the kernel on the user
 * page tables, which map only the entry text: the caller tries the root
 * with bit 12 cleared too (the kernel half of the 8 KiB pair).
 */
static int osi_try_root(struct osi_linux *l, uint8_t *img, char *why, size_t why_len)
{
	uint64_t va, pa;
	int ret;

	ret = osi_find_text(&l->vm, &l->text);
	if (ret)
		return why_set(why, why_len, -ENOENT,
			       "nothing mapped in the kernel's window at 0xffffffff81000000: "
			       "not a running x86-64 Linux kernel");
	memset(img, 0, OSI_IMAGE_SCAN);
	ret = osi_read_image(&l->vm, l->text, img, OSI_IMAGE_SCAN);
	if (ret)
		return why_set(why, why_len, ret, "reading the kernel image: %s", strerror(-ret));
	ret = kallsyms_find(img, OSI_IMAGE_SCAN, l->text, &l->ks, why, why_len);
	if (ret)
		return ret;
	if (kallsyms_relative_base(l->ks) != l->text) {
		kallsyms_free(l->ks);
		l->ks = NULL;
		return why_set(why, why_len, -EINVAL,
			       "kallsyms' base is not the lowest mapped kernel page");
	}
	/*
	 * PTI's user page tables may map a copy of text and rodata (kallsyms
	 * and all) but never the kernel's data: init_task must be there.
	 */
	if (kallsyms_lookup(l->ks, "init_task", &va, NULL) || osi_translate(&l->vm, va, &pa, NULL)) {
		kallsyms_free(l->ks);
		l->ks = NULL;
		return why_set(why, why_len, -ENOENT,
			       "these page tables do not map the kernel's data (PTI's user half?)");
	}
	return 0;
}

int osi_linux_open(struct osi_linux *l, osi_read_pa_t read_pa, void *ctx,
		   const struct osi_cpu *cpus, unsigned int nr_cpus, uint32_t maxphyaddr,
		   char *why, size_t why_len)
{
	uint64_t mask = ((1ULL << maxphyaddr) - 1) & ~0xfffULL;
	uint8_t *img;
	unsigned int i, k;
	int ret = -ENOENT;

	memset(l, 0, sizeof(*l));
	if (!nr_cpus || maxphyaddr < 32 || maxphyaddr > 52)
		return why_set(why, why_len, -EINVAL, "no vCPU, or a MAXPHYADDR out of range");
	img = malloc(OSI_IMAGE_SCAN);
	if (!img)
		return why_set(why, why_len, -ENOMEM, "no memory for the image scan");
	why_set(why, why_len, -ENOENT, "no vCPU runs with paging on");
	for (i = 0; i < nr_cpus && ret; i++) {
		uint64_t roots[2] = { cpus[i].cr3 & mask, cpus[i].cr3 & mask & ~0x1000ULL };

		for (k = 0; k < 2 && ret; k++) {
			unsigned int j;
			bool tried = !roots[k] || (k && roots[1] == roots[0]);

			/* vCPUs in the same process share a root: each is tried once. */
			for (j = 0; j < i && !tried; j++)
				tried = roots[k] == (cpus[j].cr3 & mask) ||
					roots[k] == (cpus[j].cr3 & mask & ~0x1000ULL);
			if (tried)
				continue;
			osi_vmem_init(&l->vm, read_pa, ctx, roots[k], cpus[i].la57, maxphyaddr,
				      OPEN_BUDGET);
			ret = osi_try_root(l, img, why, why_len);
		}
	}
	if (!ret)
		ret = osi_find_btf(l, img, OSI_IMAGE_SCAN, why, why_len);
	free(img);
	if (!ret)
		ret = osi_offsets(l, why, why_len);
	if (ret) {
		osi_linux_close(l);
		return ret;
	}
	osi_read_banner(l);
	return 0;
}

void osi_linux_close(struct osi_linux *l)
{
	btf_free(l->btf);
	kallsyms_free(l->ks);
	l->btf = NULL;
	l->ks = NULL;
}

int osi_linux_symbol(const struct osi_linux *l, const char *name, uint64_t *addr)
{
	return kallsyms_lookup(l->ks, name, addr, NULL);
}

int osi_read_task(struct osi_vmem *vm, const struct osi_linux_offsets *off, uint64_t va,
		  struct osi_task *t)
{
	uint64_t mm, pgd;
	int ret;

	memset(t, 0, sizeof(*t));
	t->va = va;
	ret = kread(vm, va + off->task_pid, &t->pid, sizeof(t->pid)) ?:
	      kread(vm, va + off->task_tgid, &t->tgid, sizeof(t->tgid)) ?:
	      kread(vm, va + off->task_state, &t->state, sizeof(t->state)) ?:
	      kread(vm, va + off->task_exit_state, &t->exit_state, sizeof(t->exit_state)) ?:
	      kread(vm, va + off->task_comm, t->comm, 16) ?:
	      kread_u64(vm, va + off->task_mm, &mm);
	if (ret)
		return ret;
	t->comm[16] = '\0';
	/* A kernel thread has no mm; a bad mm or pgd pointer leaves pgd unknown (0). */
	if (!osi_kernel_ptr(vm, mm) || kread_u64(vm, mm + off->mm_pgd, &pgd) ||
	    !osi_kernel_ptr(vm, pgd) || osi_translate(vm, pgd, &t->pgd, NULL))
		t->pgd = 0;
	return 0;
}

int osi_walk_tasks(struct osi_vmem *vm, const struct osi_linux_offsets *off, uint64_t head,
		   uint64_t max, int (*fn)(void *ctx, const struct osi_task *t), void *ctx)
{
	uint64_t prev = head, node, back, tortoise, power = 1, lam = 0, n;
	struct osi_task t;
	int ret;

	ret = kread_u64(vm, head, &node);
	if (ret)
		return ret;
	tortoise = node;
	for (n = 0; node != head; n++) {
		if (n >= max)
			return -E2BIG;
		if (!osi_kernel_ptr(vm, node) || node < off->task_tasks)
			return -EFAULT;
		/* list_head is { next, prev }: each node must point back. */
		ret = kread_u64(vm, node + 8, &back);
		if (ret)
			return ret;
		if (back != prev)
			return -ELOOP;
		ret = osi_read_task(vm, off, node - off->task_tasks, &t);
		if (ret)
			return ret;
		ret = fn(ctx, &t);
		if (ret)
			return ret;
		prev = node;
		ret = kread_u64(vm, node, &node);
		if (ret)
			return ret;
		if (node == head)
			break;
		/*
		 * Brent: a cycle that never comes back to the head, which the
		 * back links miss if the guest rewrites them under the walk.
		 */
		if (node == tortoise)
			return -ELOOP;
		if (++lam == power) {
			tortoise = node;
			power <<= 1;
			lam = 0;
		}
	}
	return 0;
}

int osi_linux_tasks(struct osi_linux *l, int (*fn)(void *ctx, const struct osi_task *t),
		    void *ctx)
{
	uint64_t init_task;
	struct osi_task t;
	int ret;

	if (kallsyms_lookup(l->ks, "init_task", &init_task, NULL))
		return -ENOENT;
	l->vm.reads_left = WALK_BUDGET_PER_TASK * (uint64_t)OSI_MAX_TASKS;
	ret = osi_read_task(&l->vm, &l->off, init_task, &t);
	if (ret)
		return ret;
	ret = fn(ctx, &t);
	if (ret)
		return ret;
	return osi_walk_tasks(&l->vm, &l->off, init_task + l->off.task_tasks, OSI_MAX_TASKS,
			      fn, ctx);
}

bool osi_percpu_base_ok(struct osi_vmem *vm, const struct osi_linux_offsets *off,
			uint64_t base)
{
	uint64_t self, listed;
	uint32_t cpu, nr_cpus;

	if (!osi_kernel_ptr(vm, base) || kread_u64(vm, base + off->pcpu_this_cpu_off, &self) ||
	    self != base)
		return false;
	if (!off->per_cpu_offset || off->pcpu_cpu_number == ~0ULL)
		return true;
	return !kread(vm, base + off->pcpu_cpu_number, &cpu, sizeof(cpu)) &&
	       !kread(vm, off->nr_cpu_ids, &nr_cpus, sizeof(nr_cpus)) && cpu < nr_cpus &&
	       cpu < 8192 && !kread_u64(vm, off->per_cpu_offset + 8ULL * cpu, &listed) &&
	       listed == base;
}

int osi_linux_current(struct osi_linux *l, const struct osi_cpu *cpu, struct osi_task *t)
{
	/*
	 * In the kernel GS_BASE, else (user mode, or kernel entry before
	 * SWAPGS) KERNEL_GS_BASE.  At CPL 3 GS_BASE is the user's, which
	 * FSGSBASE lets it set to anything: not even looked at.
	 */
	const uint64_t bases[2] = { cpu->cpl == 3 ? 0 : cpu->gs_base, cpu->kernel_gs_base };
	uint64_t task;
	unsigned int i;

	l->vm.reads_left = OPEN_BUDGET;
	for (i = 0; i < 2; i++) {
		if (!osi_percpu_base_ok(&l->vm, &l->off, bases[i]))
			continue;
		if (kread_u64(&l->vm, bases[i] + l->off.pcpu_current_task, &task) ||
		    !osi_kernel_ptr(&l->vm, task) || osi_read_task(&l->vm, &l->off, task, t))
			continue;
		return 0;
	}
	return -ENOENT;
}

char osi_task_state_letter(uint32_t state, uint32_t exit_state)
{
	/* As the kernel's task_state_index() and task_index_to_char(). */
	static const char letters[] = "RSDTtXZPI";
	uint32_t report = (state | exit_state) & 0x7f;	/* TASK_REPORT */
	unsigned int index = 0;

	if ((state & 0x402) == 0x402)		/* TASK_IDLE */
		report = 0x80;
	if (state == 0x1000)			/* TASK_RTLOCK_WAIT */
		report = 0x2;
	while (report) {
		index++;
		report >>= 1;
	}
	return letters[index];
}
