// SPDX-License-Identifier: MIT
/*
 * The guest-OS layer's walks over a fake guest: a sparse physical memory
 * with 4-level page tables built here, a kernel image mapped in the KASLR
 * window, tasks on a list.  The guest is hostile: broken lists, cycles,
 * unmapped nodes, forged per-CPU bases must end walks cleanly.
 */
#define _POSIX_C_SOURCE 200809L	/* mkstemp, glob */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <elf.h>
#include <glob.h>
#include <stdio.h>
#include <unistd.h>

#include "btf.h"
#include "debian_kernel.h"
#include "kallsyms.h"
#include "linux.h"
#include "vmem.h"

#define PAGE 4096ULL
#define NR_PAGES 512
#define PTE_P 1ULL
#define PTE_W 2ULL
#define PTE_PS 0x80ULL

/* Sparse guest-physical memory: NR_PAGES pages, allocated in order. */
struct fake {
	uint64_t pa[NR_PAGES];
	uint8_t *page[NR_PAGES];
	unsigned int nr;
	uint64_t next_pa;	/* for new page-table and data pages */
	uint64_t root;
	unsigned int reads;
};

static uint8_t *fake_page(struct fake *f, uint64_t pa, int create)
{
	unsigned int i;

	pa &= ~(PAGE - 1);
	for (i = 0; i < f->nr; i++)
		if (f->pa[i] == pa)
			return f->page[i];
	if (!create)
		return NULL;
	assert_true(f->nr < NR_PAGES);
	f->pa[f->nr] = pa;
	f->page[f->nr] = calloc(1, PAGE);
	assert_non_null(f->page[f->nr]);
	return f->page[f->nr++];
}

static int fake_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct fake *f = ctx;

	f->reads++;
	while (len) {
		size_t n = PAGE - (pa & (PAGE - 1));
		uint8_t *p = fake_page(f, pa, 0);

		if (n > len)
			n = len;
		if (!p)
			return -ENXIO;
		memcpy(buf, p + (pa & (PAGE - 1)), n);
		buf = (uint8_t *)buf + n;
		pa += n;
		len -= n;
	}
	return 0;
}

static uint64_t fake_alloc(struct fake *f)
{
	uint64_t pa = f->next_pa;

	f->next_pa += PAGE;
	fake_page(f, pa, 1);
	return pa;
}

static uint64_t *fake_entry(struct fake *f, uint64_t table, unsigned int idx)
{
	return (uint64_t *)fake_page(f, table, 1) + idx;
}

/* Maps @va to @pa with a 4K page, or a 2M one with @big. */
static void fake_map(struct fake *f, uint64_t va, uint64_t pa, int big)
{
	uint64_t table = f->root;
	int level;

	for (level = 4; level > (big ? 2 : 1); level--) {
		uint64_t *e = fake_entry(f, table, (va >> (12 + 9 * (level - 1))) & 511);

		if (!(*e & PTE_P))
			*e = fake_alloc(f) | PTE_P | PTE_W;
		table = *e & 0x000ffffffffff000ULL;
	}
	*fake_entry(f, table, (va >> (12 + 9 * (level - 1))) & 511) =
		pa | PTE_P | PTE_W | (big ? PTE_PS : 0);
}

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->next_pa = 0x100000;
	f->root = fake_alloc(f);
	return f;
}

static void fake_free(struct fake *f)
{
	unsigned int i;

	for (i = 0; i < f->nr; i++)
		free(f->page[i]);
	free(f);
}

/* Writes @len bytes at guest-virtual @va, which must be mapped 4K. */
static void fake_poke(struct fake *f, struct osi_vmem *vm, uint64_t va, const void *src,
		      size_t len)
{
	while (len) {
		uint64_t pa;
		size_t n = PAGE - (va & (PAGE - 1));

		if (n > len)
			n = len;
		assert_int_equal(osi_translate(vm, va, &pa, NULL), 0);
		memcpy(fake_page(f, pa, 1) + (pa & (PAGE - 1)), src, n);
		/* The vmem caches table pages only: data reads see this. */
		va += n;
		src = (const uint8_t *)src + n;
		len -= n;
	}
}

static void vm_init(struct osi_vmem *vm, struct fake *f)
{
	osi_vmem_init(vm, fake_read, f, f->root, false, 46, 1 << 20);
}

static void text_is_the_lowest_mapped_slot(void **state)
{
	struct fake *f = fake_new();
	struct osi_vmem vm;
	uint64_t text;

	(void)state;
	vm_init(&vm, f);
	assert_int_equal(osi_find_text(&vm, &text), -ENOENT);
	/* Something below the window does not count; the lowest slot in it does. */
	fake_map(f, 0xffffffff80000000ULL, 0x200000, 1);
	fake_map(f, 0xffffffff9a600000ULL, 0x400000, 1);
	fake_map(f, 0xffffffff9a400000ULL, 0x600000, 1);
	vm_init(&vm, f);
	assert_int_equal(osi_find_text(&vm, &text), 0);
	assert_int_equal(text, 0xffffffff9a400000ULL);
	fake_free(f);
}

/* A task list: node i's task at base + i * 0x1000, its list_head at +tasks. */
static const struct osi_linux_offsets toff = {
	.task_tasks = 0x100, .task_pid = 0x200, .task_tgid = 0x204, .task_comm = 0x300,
	.task_state = 0x18, .task_exit_state = 0x30, .task_mm = 0x280, .mm_pgd = 0x48,
	.pcpu_current_task = 0x1fb80, .pcpu_this_cpu_off = 0x199e8,
};

#define TASKS 0xffff888000100000ULL

struct walk {
	int pids[64];
	char comm[64][17];
	unsigned int n;
};

static int record(void *ctx, const struct osi_task *t)
{
	struct walk *w = ctx;

	if (w->n < 64) {
		w->pids[w->n] = t->pid;
		memcpy(w->comm[w->n], t->comm, 17);
	}
	w->n++;
	return 0;
}

/* @n tasks 0..n-1 (pid = 100 + i) in a ring through task 0's list_head. */
static struct fake *fake_tasks(struct osi_vmem *vm, unsigned int n)
{
	struct fake *f = fake_new();
	unsigned int i;

	for (i = 0; i < n; i++)
		fake_map(f, TASKS + i * PAGE, 0x800000 + i * PAGE, 0);
	vm_init(vm, f);
	for (i = 0; i < n; i++) {
		uint64_t task = TASKS + i * PAGE, head = task + toff.task_tasks;
		uint64_t next = TASKS + ((i + 1) % n) * PAGE + toff.task_tasks;
		uint64_t prev = TASKS + ((i + n - 1) % n) * PAGE + toff.task_tasks;
		int32_t pid = 100 + (int32_t)i;
		char comm[16] = "task-";

		comm[5] = (char)('a' + i % 26);
		fake_poke(f, vm, head, &next, 8);
		fake_poke(f, vm, head + 8, &prev, 8);
		fake_poke(f, vm, task + toff.task_pid, &pid, 4);
		fake_poke(f, vm, task + toff.task_tgid, &pid, 4);
		fake_poke(f, vm, task + toff.task_comm, comm, 16);
	}
	return f;
}

static void set_link(struct fake *f, struct osi_vmem *vm, unsigned int i, unsigned int field,
		     uint64_t val)
{
	fake_poke(f, vm, TASKS + i * PAGE + toff.task_tasks + field, &val, 8);
}

static void walk_visits_every_task_once(void **state)
{
	struct osi_vmem vm;
	struct fake *f = fake_tasks(&vm, 5);
	struct walk w = { .n = 0 };

	(void)state;
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 100, record, &w), 0);
	assert_int_equal(w.n, 4);	/* not the head's own task */
	assert_int_equal(w.pids[0], 101);
	assert_int_equal(w.pids[3], 104);
	assert_string_equal(w.comm[0], "task-b");
	fake_free(f);
}

/* head -> A -> head: one task, not a loop. */
static void walk_of_one_task(void **state)
{
	struct osi_vmem vm;
	struct fake *f = fake_tasks(&vm, 2);
	struct walk w = { .n = 0 };

	(void)state;
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 100, record, &w), 0);
	assert_int_equal(w.n, 1);
	assert_int_equal(w.pids[0], 101);
	fake_free(f);
}

static void walk_stops_on_a_broken_list(void **state)
{
	struct osi_vmem vm;
	struct fake *f;
	struct walk w;

	(void)state;
	/* A 2-node cycle that skips the head, back links consistent. */
	f = fake_tasks(&vm, 4);
	set_link(f, &vm, 3, 0, TASKS + 2 * PAGE + toff.task_tasks);
	set_link(f, &vm, 2, 8, TASKS + 3 * PAGE + toff.task_tasks);
	memset(&w, 0, sizeof(w));
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -ELOOP);
	assert_true(w.n < 10);
	fake_free(f);

	/* next == self */
	f = fake_tasks(&vm, 3);
	set_link(f, &vm, 1, 0, TASKS + 1 * PAGE + toff.task_tasks);
	memset(&w, 0, sizeof(w));
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -ELOOP);
	fake_free(f);

	/* A back link that disagrees. */
	f = fake_tasks(&vm, 4);
	set_link(f, &vm, 2, 8, TASKS + 3 * PAGE + toff.task_tasks);
	memset(&w, 0, sizeof(w));
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -ELOOP);
	assert_int_equal(w.n, 1);
	fake_free(f);

	/* next unmapped, misaligned, in user space. */
	f = fake_tasks(&vm, 3);
	set_link(f, &vm, 1, 0, 0xffff888077700000ULL);
	memset(&w, 0, sizeof(w));
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -EFAULT);
	set_link(f, &vm, 1, 0, TASKS + 2 * PAGE + toff.task_tasks + 3);
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -EFAULT);
	set_link(f, &vm, 1, 0, 0x7f0000001000ULL);
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -EFAULT);
	fake_free(f);

	/* A long list is cut at the limit. */
	f = fake_tasks(&vm, 40);
	memset(&w, 0, sizeof(w));
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 10, record, &w),
			 -E2BIG);
	assert_int_equal(w.n, 10);
	fake_free(f);
}

static void comm_is_cut_and_terminated(void **state)
{
	struct osi_vmem vm;
	struct fake *f = fake_tasks(&vm, 2);
	char long_comm[32];
	struct osi_task t;

	(void)state;
	memset(long_comm, 'x', sizeof(long_comm));
	fake_poke(f, &vm, TASKS + toff.task_comm, long_comm, sizeof(long_comm));
	assert_int_equal(osi_read_task(&vm, &toff, TASKS, &t), 0);
	assert_int_equal(strlen(t.comm), 16);
	assert_int_equal(t.pgd, 0);	/* no mm: a kernel thread */
	fake_free(f);
}

static void percpu_base_must_point_at_itself(void **state)
{
	struct fake *f = fake_new();
	uint64_t base = 0xffff88807ce00000ULL, self = base, other = base + 0x40000;
	struct osi_vmem vm;

	(void)state;
	fake_map(f, base + (toff.pcpu_this_cpu_off & ~(PAGE - 1)), 0x3000000, 0);
	vm_init(&vm, f);
	fake_poke(f, &vm, base + toff.pcpu_this_cpu_off, &self, 8);
	assert_true(osi_percpu_base_ok(&vm, &toff, base));
	/* A user GS base, a forged one, an unmapped one. */
	assert_false(osi_percpu_base_ok(&vm, &toff, 0));
	assert_false(osi_percpu_base_ok(&vm, &toff, 0x7fff00000000ULL));
	fake_poke(f, &vm, base + toff.pcpu_this_cpu_off, &other, 8);
	assert_false(osi_percpu_base_ok(&vm, &toff, base));
	assert_false(osi_percpu_base_ok(&vm, &toff, base + 0x100000000ULL));
	fake_free(f);
}

/*
 * The task a vCPU runs, through its per-CPU area: a GS_BASE a user set
 * (FSGSBASE) is not believed at CPL 3, nor one whose this_cpu_off wraps
 * into a page a user maps; KERNEL_GS_BASE is tried then.
 */
static void current_task_resists_a_forged_gs_base(void **state)
{
	struct osi_vmem vm;
	struct fake *f = fake_tasks(&vm, 2);
	uint64_t base = 0xffff88807ce00000ULL, task = TASKS + PAGE;
	uint64_t forged = 0x10000 - toff.pcpu_this_cpu_off;	/* wraps to 0x10000 */
	uint64_t user_task = TASKS;	/* the task it would have vmiop show */
	struct osi_cpu cpu = { .kernel_gs_base = base };
	struct osi_linux l;
	struct osi_task t;

	(void)state;
	fake_map(f, base + (toff.pcpu_this_cpu_off & ~(PAGE - 1)), 0x3000000, 0);
	fake_map(f, base + (toff.pcpu_current_task & ~(PAGE - 1)), 0x3001000, 0);
	fake_map(f, 0x10000, 0x3002000, 0);
	fake_map(f, (0x10000 + toff.pcpu_current_task - toff.pcpu_this_cpu_off) & ~(PAGE - 1),
		 0x3003000, 0);
	vm_init(&vm, f);
	fake_poke(f, &vm, base + toff.pcpu_this_cpu_off, &base, 8);
	fake_poke(f, &vm, base + toff.pcpu_current_task, &task, 8);
	/* What a user could put in its own page at 0x10000. */
	fake_poke(f, &vm, 0x10000, &forged, 8);
	fake_poke(f, &vm, 0x10000 + toff.pcpu_current_task - toff.pcpu_this_cpu_off, &user_task, 8);

	memset(&l, 0, sizeof(l));
	l.vm = vm;
	l.off = toff;
	l.off.pcpu_cpu_number = ~0ULL;
	cpu.gs_base = forged;
	cpu.cpl = 0;
	assert_int_equal(osi_linux_current(&l, &cpu, &t), 0);
	assert_int_equal(t.pid, 101);
	cpu.cpl = 3;
	cpu.gs_base = base + 0x1000;	/* anything at all */
	assert_int_equal(osi_linux_current(&l, &cpu, &t), 0);
	assert_int_equal(t.pid, 101);
	cpu.kernel_gs_base = 0;
	assert_int_equal(osi_linux_current(&l, &cpu, &t), -ENOENT);
	fake_free(f);
}

static void reads_stop_when_the_budget_is_spent(void **state)
{
	struct osi_vmem vm;
	struct fake *f = fake_tasks(&vm, 40);
	struct walk w = { .n = 0 };

	(void)state;
	vm.reads_left = 50;
	assert_int_equal(osi_walk_tasks(&vm, &toff, TASKS + toff.task_tasks, 1000, record, &w),
			 -E2BIG);
	assert_true(w.n < 40);
	fake_free(f);
}

static void state_letters(void **state)
{
	(void)state;
	assert_int_equal(osi_task_state_letter(0, 0), 'R');
	assert_int_equal(osi_task_state_letter(1, 0), 'S');
	assert_int_equal(osi_task_state_letter(0x2001, 0), 'S');	/* freezable */
	assert_int_equal(osi_task_state_letter(2, 0), 'D');
	assert_int_equal(osi_task_state_letter(0x102, 0), 'D');	/* killable */
	assert_int_equal(osi_task_state_letter(0x104, 0), 'T');	/* stopped */
	assert_int_equal(osi_task_state_letter(0x108, 0), 't');	/* traced */
	assert_int_equal(osi_task_state_letter(0x402, 0), 'I');	/* idle */
	assert_int_equal(osi_task_state_letter(0x1000, 0), 'D');	/* rtlock wait */
	assert_int_equal(osi_task_state_letter(0, 0x20), 'Z');	/* zombie */
	assert_int_equal(osi_task_state_letter(0, 0x10), 'X');
	assert_int_equal(osi_task_state_letter(0x40, 0), 'P');
}

/* ---- the whole pipeline on Debian's own kernel image ---- */

/* A flat guest-physical memory: the image's segments at their physical addresses. */
struct flat {
	uint8_t *mem;
	size_t size;
	uint64_t next_table;
};

static int flat_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
	struct flat *fl = ctx;

	if (pa > fl->size || len > fl->size - pa)
		return -ENXIO;
	memcpy(buf, fl->mem + pa, len);
	return 0;
}

static void flat_map(struct flat *fl, uint64_t root, uint64_t va, uint64_t pa)
{
	uint64_t table = root;
	int level;

	for (level = 4; level > 1; level--) {
		uint64_t *e = (uint64_t *)(fl->mem + table) + ((va >> (12 + 9 * (level - 1))) & 511);

		if (!(*e & PTE_P)) {
			*e = fl->next_table | PTE_P | PTE_W;
			fl->next_table += PAGE;
		}
		table = *e & 0x000ffffffffff000ULL;
	}
	((uint64_t *)(fl->mem + table))[(va >> 12) & 511] = pa | PTE_P | PTE_W;
}

static void debians_kernel_is_understood(void **state)
{
	char name[256], why[256];
	struct flat fl = { .size = 256 << 20 };
	struct osi_cpu cpu = { 0 };
	struct osi_linux l;
	struct osi_task t;
	const Elf64_Ehdr *eh;
	const Elf64_Phdr *ph;
	uint8_t *img;
	uint64_t root, va, addr;
	size_t len = 0;
	unsigned int i;

	(void)state;
	img = debian_vmlinux(&len, name, sizeof(name));
	if (!img) {
		print_message("no Debian 6.1 /boot/vmlinuz-*-amd64 here: skipped\n");
		skip();
	}
	eh = (const Elf64_Ehdr *)img;
	assert_true(len > sizeof(*eh) && !memcmp(eh->e_ident, ELFMAG, SELFMAG));
	fl.mem = calloc(1, fl.size);
	assert_non_null(fl.mem);
	/*
	 * Page tables above the image, a PTI pair: the kernel's at root, the
	 * user's at root + 4K mapping only the first segment (text and
	 * rodata, as pti_clone_kernel_text() may), never the data.
	 */
	root = 0x8000000;
	fl.next_table = root + 2 * PAGE;
	for (i = 0; i < eh->e_phnum; i++) {
		ph = (const Elf64_Phdr *)(img + eh->e_phoff + (size_t)i * eh->e_phentsize);
		if (ph->p_type != PT_LOAD || ph->p_vaddr < OSI_KERNEL_MAP)
			continue;	/* the per-CPU segment is linked at 0 */
		assert_true(ph->p_paddr + ph->p_memsz < root);
		memcpy(fl.mem + ph->p_paddr, img + ph->p_offset, ph->p_filesz);
		for (va = ph->p_vaddr & ~(PAGE - 1); va < ph->p_vaddr + ph->p_memsz; va += PAGE) {
			flat_map(&fl, root, va, ph->p_paddr + (va - ph->p_vaddr));
			if (!i)
				flat_map(&fl, root + PAGE, va, ph->p_paddr + (va - ph->p_vaddr));
		}
	}
	free(img);

	/* A vCPU in the kernel on the user page tables: the kernel's are found. */
	cpu.cr3 = root + PAGE;
	assert_int_equal(osi_linux_open(&l, flat_read, &fl, &cpu, 1, 46, why, sizeof(why)), 0);
	assert_int_equal(l.vm.root, root);
	/* As measured in shared/notes/guest-btf-kallsyms.md for 6.1.0-57. */
	assert_int_equal(l.text, OSI_KERNEL_MIN_TEXT);
	assert_int_equal(osi_linux_kaslr_slide(&l), 0);
	assert_true(!strncmp(l.banner, "Linux version 6.1.", 18));
	assert_true(kallsyms_count(l.ks) > 80000);
	assert_true(btf_nr_types(l.btf) > 50000);
	assert_int_equal(osi_linux_symbol(&l, "__start_BTF", &addr), 0);
	assert_int_equal(addr, l.btf_va);
	assert_true(l.off.task_tasks < l.off.task_pid && l.off.task_pid < l.off.task_comm);
	assert_int_equal(l.off.task_tgid, l.off.task_pid + 4);
	if (!strstr(name, "6.1.0-57-amd64"))
		goto measured_elsewhere;
	assert_int_equal(l.off.task_tasks, 2192);
	assert_int_equal(l.off.task_pid, 2416);
	assert_int_equal(l.off.task_tgid, 2420);
	assert_int_equal(l.off.task_comm, 2976);
	assert_int_equal(l.off.task_state, 24);
	assert_int_equal(l.off.task_mm, 2272);
	assert_int_equal(l.off.mm_pgd, 72);
	assert_int_equal(l.off.pcpu_current_task, 0x1fb80);
	assert_int_equal(l.off.pcpu_this_cpu_off, 0x199e8);
measured_elsewhere:
	/* Before boot the task list holds init_task alone: swapper. */
	assert_int_equal(osi_linux_symbol(&l, "init_task", &addr), 0);
	assert_int_equal(osi_read_task(&l.vm, &l.off, addr, &t), 0);
	assert_int_equal(t.pid, 0);
	assert_string_equal(t.comm, "swapper");
	print_message("%s: %s\n", name, l.banner);
	osi_linux_close(&l);
	free(fl.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_is_the_lowest_mapped_slot),
		cmocka_unit_test(walk_visits_every_task_once),
		cmocka_unit_test(walk_of_one_task),
		cmocka_unit_test(walk_stops_on_a_broken_list),
		cmocka_unit_test(current_task_resists_a_forged_gs_base),
		cmocka_unit_test(comm_is_cut_and_terminated),
		cmocka_unit_test(percpu_base_must_point_at_itself),
		cmocka_unit_test(reads_stop_when_the_budget_is_spent),
		cmocka_unit_test(state_letters),
		cmocka_unit_test(debians_kernel_is_understood),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
