// SPDX-License-Identifier: GPL-2.0
/*
 * guest.c - the host and guest halves of the small KVM guest runtime used by
 * vmiop's VM selftests.  See guest.h for the memory layout and the rules for
 * guest code.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guest.h"

/* ---------------------------------------------------------------------- */
/* Failure reporting                                                      */
/* ---------------------------------------------------------------------- */

/* Provided (weakly) by vmtest.h: ends the test as skipped, with a reason. */
extern void vmtest_skip_hook(const char *reason) __attribute__((weak, noreturn));

static void __attribute__((format(printf, 1, 2))) tvm_diag(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# %s\n", buf);
	fflush(stdout);
}

static __attribute__((noreturn)) void tvm_fail(void)
{
	fflush(stdout);
	fflush(stderr);
	_exit(1);
}

#define tvm_die(...)								\
	do {									\
		tvm_diag("%s:%d: %s: ", __FILE__, __LINE__, __func__);		\
		tvm_diag(__VA_ARGS__);						\
		tvm_fail();							\
	} while (0)

#define TVM_CHECK(cond, ...)							\
	do {									\
		if (!(cond))							\
			tvm_die(__VA_ARGS__);					\
	} while (0)

/* ioctl that must succeed; reports the ioctl's name otherwise. */
#define tvm_ioctl(fd, cmd, arg)							\
	({									\
		int __r = ioctl((fd), (cmd), (arg));				\
		TVM_CHECK(__r >= 0, "ioctl(%s) failed: %s (errno %d)", #cmd,	\
			  strerror(errno), errno);				\
		__r;								\
	})

static __attribute__((noreturn)) void tvm_skip(const char *reason)
{
	if (vmtest_skip_hook)
		vmtest_skip_hook(reason);
	tvm_diag("SKIP: %s", reason);
	fflush(stdout);
	_exit(4);
}

/* ---------------------------------------------------------------------- */
/* Guest half: entry/exit stubs, IDT stubs, exception reporting            */
/* ---------------------------------------------------------------------- */

/* Guest memory (each VM has its own copy): set by guest code. */
static tvm_guest_exc_handler tvm_guest_handler;

void tvm_guest_set_exc_handler(tvm_guest_exc_handler fn)
{
	*(volatile tvm_guest_exc_handler *)&tvm_guest_handler = fn;
}

/* Called from the stubs below, in the guest; return only if handled. */
__attribute__((used)) void tvm_guest_exception(struct tvm_exc_frame *f);
__attribute__((used, noreturn)) void tvm_guest_syscall(uint64_t rip, uint64_t nr,
						       uint64_t rsp);
__attribute__((used, noreturn)) void tvm_guest_returned(void);

void tvm_guest_exception(struct tvm_exc_frame *f)
{
	tvm_guest_exc_handler handler = *(volatile tvm_guest_exc_handler *)&tvm_guest_handler;
	uint64_t cr2;

	if (handler && handler(f))
		return;
	__asm__ __volatile__("mov %%cr2, %0" : "=r"(cr2));
	for (;;)
		tvm_ucall(UCALL_EXCEPTION, f->vector, f->rip, f->error_code,
			  cr2, f->rsp, 0);
}

void tvm_guest_syscall(uint64_t rip, uint64_t nr, uint64_t rsp)
{
	for (;;)
		tvm_ucall(UCALL_EXCEPTION, TVM_VEC_SYSCALL, rip, nr, 0, rsp, 0);
}

void tvm_guest_returned(void)
{
	for (;;)
		GUEST_DONE();
}

static void tvm_guest_no_entry(uint64_t arg)
{
	(void)arg;
	for (;;)
		tvm_ucall(UCALL_ASSERT,
			  (uint64_t)"tvm_vcpu_entry() was not called for this vCPU",
			  (uint64_t)__FILE__, __LINE__, 0, 0, 0);
}

/*
 * 256 IDT stubs, 16 bytes apart: push a dummy error code where the CPU
 * pushes none, push the vector, join the common path which saves the GPRs
 * and calls tvm_guest_exception().  At that call RSP is 16-byte aligned:
 * the CPU aligns RSP before pushing its 5-qword frame, then 2 + 15 qwords.
 * If the test's handler took the exception, the frame (as it left it) is
 * restored and IRETQ resumes the guest.
 */
__asm__(
"	.pushsection .text\n"
"	.balign 16\n"
"	.globl tvm_guest_idt_stubs\n"
"tvm_guest_idt_stubs:\n"
"	tvm_vec = 0\n"
"	.rept 256\n"
"	.balign 16\n"
"	.if (tvm_vec == 8) || (tvm_vec == 10) || (tvm_vec == 11) || (tvm_vec == 12) || (tvm_vec == 13) || (tvm_vec == 14) || (tvm_vec == 17) || (tvm_vec == 21) || (tvm_vec == 29) || (tvm_vec == 30)\n"
"	.else\n"
"	pushq $0\n"
"	.endif\n"
"	pushq $tvm_vec\n"
"	jmp tvm_guest_idt_common\n"
"	tvm_vec = tvm_vec + 1\n"
"	.endr\n"
"tvm_guest_idt_common:\n"
"	push %rax\n push %rbx\n push %rcx\n push %rdx\n push %rsi\n"
"	push %rdi\n push %rbp\n push %r8\n push %r9\n push %r10\n"
"	push %r11\n push %r12\n push %r13\n push %r14\n push %r15\n"
"	mov %rsp, %rdi\n"
"	call tvm_guest_exception\n"
"	pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %r11\n"
"	pop %r10\n pop %r9\n pop %r8\n pop %rbp\n pop %rdi\n"
"	pop %rsi\n pop %rdx\n pop %rcx\n pop %rbx\n pop %rax\n"
"	add $16, %rsp\n"
"	iretq\n"
/* SYSCALL (LSTAR): guest code called into libc.  RCX = return RIP. */
"	.globl tvm_guest_syscall_entry\n"
"tvm_guest_syscall_entry:\n"
"	mov %rcx, %rdi\n"
"	mov %rax, %rsi\n"
"	mov %rsp, %rdx\n"
"	and $-16, %rsp\n"
"	call tvm_guest_syscall\n"
"1:	hlt\n"
"	jmp 1b\n"
/* Return address of every vCPU entry function. */
"	.globl tvm_guest_ret_stub\n"
"tvm_guest_ret_stub:\n"
"	and $-16, %rsp\n"
"	call tvm_guest_returned\n"
"1:	hlt\n"
"	jmp 1b\n"
"	.popsection\n"
);

extern const char tvm_guest_idt_stubs[];
extern const char tvm_guest_syscall_entry[];
extern const char tvm_guest_ret_stub[];

/* ---------------------------------------------------------------------- */
/* Host half                                                              */
/* ---------------------------------------------------------------------- */

struct tvm_vcpu {
	struct tvm *tvm;
	unsigned int idx;
	int fd;
	int stats_fd;			/* KVM_GET_STATS_FD, taken at creation */
	struct kvm_run *run;
	size_t run_size;
	uint64_t stack_base;		/* gpa, TVM_STACK_SIZE bytes */

	/* vCPU thread */
	pthread_t thread;
	bool thread_live;		/* started and not yet joined */
	tvm_sync_cb on_sync;
	void *opaque;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;			/* atomic */
	int state;			/* enum tvm_thread_result, under lock */
	uint64_t syncs, last_sync;	/* under lock */
	uint64_t runs;			/* atomic */
	pid_t tid;			/* atomic: the vCPU thread's, once started */
};

struct tvm {
	int kvm_fd, vm_fd;
	uint8_t *mem;
	size_t mem_size;
	uint8_t *mem_map;		/* the mapping mem is 2 MiB aligned in */
	size_t mem_map_size;
	unsigned int nr_vcpus;
	struct tvm_vcpu *vcpus[TVM_MAX_VCPUS];
	struct kvm_cpuid2 *cpuid;
	uint64_t xcr0;

	uint64_t image_end;		/* end of the loaded binary (gpa) */
	uint64_t alloc_next;		/* tvm_alloc_gpa() */
	uint64_t sys_base;		/* system area: [sys_base, mem) */
	uint64_t pt_next, pt_end;	/* page-table page pool */
	uint64_t gdt, idt, tss, fs_page, stacks;
	uint64_t pml4;
};

#define PAGE_SIZE_4K	4096ULL
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define PT_EXTRA_PAGES	256	/* for tvm_map() and page splits */

int tvm_kvm_fd(struct tvm *tvm) { return tvm->kvm_fd; }
int tvm_vm_fd(struct tvm *tvm) { return tvm->vm_fd; }
size_t tvm_mem_size(struct tvm *tvm) { return tvm->mem_size; }
unsigned int tvm_nr_vcpus(struct tvm *tvm) { return tvm->nr_vcpus; }
uint64_t tvm_slot_boundary(struct tvm *tvm) { return tvm->mem_size / 2; }
uint64_t tvm_hole_gpa(struct tvm *tvm) { return tvm->mem_size; }
uint64_t tvm_sys_base(struct tvm *tvm) { return tvm->sys_base; }
uint64_t tvm_pt_root(struct tvm *tvm) { return tvm->pml4; }
int tvm_vcpu_fd(struct tvm_vcpu *vcpu) { return vcpu->fd; }
unsigned int tvm_vcpu_idx(struct tvm_vcpu *vcpu) { return vcpu->idx; }
struct kvm_run *tvm_vcpu_run_state(struct tvm_vcpu *vcpu) { return vcpu->run; }

struct tvm_vcpu *tvm_vcpu(struct tvm *tvm, unsigned int idx)
{
	TVM_CHECK(idx < tvm->nr_vcpus, "vCPU index %u >= %u", idx, tvm->nr_vcpus);
	return tvm->vcpus[idx];
}

void *tvm_gpa2hva(struct tvm *tvm, uint64_t gpa)
{
	TVM_CHECK(gpa < tvm->mem_size, "gpa 0x%llx outside guest RAM (0x%zx bytes)",
		  (unsigned long long)gpa, tvm->mem_size);
	return tvm->mem + gpa;
}

uint64_t tvm_hva2gpa(struct tvm *tvm, const void *hva)
{
	const uint8_t *p = hva;

	TVM_CHECK(p >= tvm->mem && p < tvm->mem + tvm->mem_size,
		  "hva %p is not guest RAM", hva);
	return (uint64_t)(p - tvm->mem);
}

uint64_t tvm_alloc_gpa(struct tvm *tvm, size_t size, size_t align)
{
	uint64_t gpa;

	if (align < PAGE_SIZE_4K)
		align = PAGE_SIZE_4K;
	TVM_CHECK(!(align & (align - 1)), "alignment 0x%zx not a power of 2", align);
	gpa = ALIGN_UP(tvm->alloc_next, align);
	TVM_CHECK(gpa + size <= tvm->sys_base && gpa + size >= gpa,
		  "out of guest memory allocating 0x%zx bytes", size);
	tvm->alloc_next = ALIGN_UP(gpa + size, PAGE_SIZE_4K);
	memset(tvm->mem + gpa, 0, size);
	return gpa;
}

/* ---- page tables ---- */

static uint64_t pt_alloc(struct tvm *tvm)
{
	uint64_t gpa = tvm->pt_next;

	TVM_CHECK(gpa < tvm->pt_end, "page-table pool exhausted");
	tvm->pt_next += PAGE_SIZE_4K;
	memset(tvm->mem + gpa, 0, PAGE_SIZE_4K);
	return gpa;
}

static int size_to_level(size_t page_size)
{
	switch (page_size) {
	case TVM_PAGE_4K: return 1;
	case TVM_PAGE_2M: return 2;
	case TVM_PAGE_1G: return 3;
	case TVM_PAGE_512G: return 4;
	}
	tvm_die("bad page size 0x%zx (want 4K, 2M, 1G or 512G)", page_size);
}

static uint64_t level_size(int level)
{
	return 1ULL << (12 + 9 * (level - 1));
}

static unsigned int pt_index(uint64_t gva, int level)
{
	return (gva >> (12 + 9 * (level - 1))) & 511;
}

static uint64_t *pt_table(struct tvm *tvm, uint64_t entry)
{
	return tvm_gpa2hva(tvm, entry & TVM_PTE_ADDR_MASK);
}

static bool gva_canonical(uint64_t gva)
{
	return (uint64_t)((int64_t)(gva << 16) >> 16) == gva;
}

/* Intermediate entries grant everything; leaves decide. */
#define PT_NONLEAF_FLAGS	(TVM_PTE_P | TVM_PTE_W | TVM_PTE_U)

/* Replaces the large leaf *e (at level, 2 or 3) by a table of 512 leaves. */
static void pt_split(struct tvm *tvm, uint64_t *e, int level)
{
	uint64_t child_size = level_size(level - 1);
	uint64_t base = *e & TVM_PTE_ADDR_MASK & ~(level_size(level) - 1);
	uint64_t attrs = *e & ~TVM_PTE_ADDR_MASK & ~TVM_PTE_PS;
	uint64_t table = pt_alloc(tvm);
	uint64_t *t = tvm_gpa2hva(tvm, table);
	int i;

	if (level - 1 > 1)
		attrs |= TVM_PTE_PS;
	for (i = 0; i < 512; i++)
		t[i] = (base + i * child_size) | attrs;
	*e = table | PT_NONLEAF_FLAGS;
}

uint64_t *tvm_pte(struct tvm *tvm, uint64_t gva, size_t page_size)
{
	int target = size_to_level(page_size), level;
	uint64_t *table = tvm_gpa2hva(tvm, tvm->pml4);

	TVM_CHECK(gva_canonical(gva), "gva 0x%llx is not canonical",
		  (unsigned long long)gva);
	for (level = 4; level > target; level--) {
		uint64_t *e = &table[pt_index(gva, level)];

		if (!(*e & TVM_PTE_P))
			*e = pt_alloc(tvm) | PT_NONLEAF_FLAGS;
		else if (level <= 3 && (*e & TVM_PTE_PS))
			pt_split(tvm, e, level);
		table = pt_table(tvm, *e);
	}
	return &table[pt_index(gva, target)];
}

void tvm_map(struct tvm *tvm, uint64_t gva, uint64_t gpa, size_t page_size,
	     uint64_t flags)
{
	int level = size_to_level(page_size);
	uint64_t *e;

	TVM_CHECK(level <= 3, "cannot map 512G pages");
	TVM_CHECK(!(gva & (page_size - 1)) && !(gpa & (page_size - 1)),
		  "gva 0x%llx / gpa 0x%llx not aligned to 0x%zx",
		  (unsigned long long)gva, (unsigned long long)gpa, page_size);
	TVM_CHECK(!(gpa & ~TVM_PTE_ADDR_MASK), "gpa 0x%llx too large",
		  (unsigned long long)gpa);
	e = tvm_pte(tvm, gva, page_size);
	*e = gpa | (flags & ~TVM_PTE_ADDR_MASK) | TVM_PTE_P |
	     (level > 1 ? TVM_PTE_PS : 0);
}

void tvm_unmap(struct tvm *tvm, uint64_t gva, size_t page_size)
{
	*tvm_pte(tvm, gva, page_size) = 0;
}

uint64_t tvm_gva2gpa(struct tvm *tvm, uint64_t gva, size_t *page_size,
		     uint64_t *pte)
{
	uint64_t *table = tvm_gpa2hva(tvm, tvm->pml4);
	int level;

	if (!gva_canonical(gva))
		return TVM_INVALID_GPA;
	for (level = 4; level >= 1; level--) {
		uint64_t e = table[pt_index(gva, level)];
		uint64_t size = level_size(level);

		if (!(e & TVM_PTE_P))
			return TVM_INVALID_GPA;
		if (level == 1 || (level <= 3 && (e & TVM_PTE_PS))) {
			if (page_size)
				*page_size = size;
			if (pte)
				*pte = e;
			return (e & TVM_PTE_ADDR_MASK & ~(size - 1)) |
			       (gva & (size - 1));
		}
		if ((e & TVM_PTE_ADDR_MASK) >= tvm->mem_size)
			return TVM_INVALID_GPA;	/* table outside RAM */
		table = pt_table(tvm, e);
	}
	return TVM_INVALID_GPA;
}

/* Copies len bytes at guest-virtual gva; false if any byte is unmapped. */
bool tvm_read_gva(struct tvm *tvm, uint64_t gva, void *buf, size_t len)
{
	uint8_t *out = buf;

	while (len) {
		uint64_t gpa = tvm_gva2gpa(tvm, gva, NULL, NULL);
		size_t chunk = PAGE_SIZE_4K - (gva & (PAGE_SIZE_4K - 1));

		if (chunk > len)
			chunk = len;
		if (gpa == TVM_INVALID_GPA || gpa + chunk > tvm->mem_size)
			return false;
		memcpy(out, tvm->mem + gpa, chunk);
		out += chunk;
		gva += chunk;
		len -= chunk;
	}
	return true;
}

/* Reads a NUL-terminated guest string for diagnostics. */
static const char *tvm_guest_str(struct tvm *tvm, uint64_t gva, char *buf,
				 size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (!tvm_read_gva(tvm, gva + i, &buf[i], 1)) {
			snprintf(buf, len, "<bad guest pointer 0x%llx>",
				 (unsigned long long)gva);
			return buf;
		}
		if (!buf[i])
			return buf;
	}
	buf[i] = '\0';
	return buf;
}

/* ---- loading the test program into guest memory ---- */

static void tvm_load_self(struct tvm *tvm)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint64_t end = 0;
	int fd, i;

	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	TVM_CHECK(fd >= 0, "open /proc/self/exe: %s", strerror(errno));
	TVM_CHECK(pread(fd, &eh, sizeof(eh), 0) == sizeof(eh), "read ELF header");
	TVM_CHECK(!memcmp(eh.e_ident, ELFMAG, SELFMAG) &&
		  eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_machine == EM_X86_64,
		  "/proc/self/exe is not an x86-64 ELF");
	TVM_CHECK(eh.e_type == ET_EXEC,
		  "test binary must be linked -static -no-pie (gpa == vaddr)");
	for (i = 0; i < eh.e_phnum; i++) {
		off_t off = eh.e_phoff + (off_t)i * eh.e_phentsize;

		TVM_CHECK(pread(fd, &ph, sizeof(ph), off) == sizeof(ph),
			  "read program header %d", i);
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		TVM_CHECK(ph.p_vaddr + ph.p_memsz <= tvm->sys_base,
			  "segment [0x%llx, 0x%llx) does not fit below the runtime area at 0x%llx",
			  (unsigned long long)ph.p_vaddr,
			  (unsigned long long)(ph.p_vaddr + ph.p_memsz),
			  (unsigned long long)tvm->sys_base);
		/*
		 * Copy the live image rather than the file: IRELATIVE (ifunc)
		 * relocations of the static binary are applied in memory only,
		 * and guest code may call memcpy() & co. through them.
		 */
		memcpy(tvm->mem + ph.p_vaddr, (const void *)(uintptr_t)ph.p_vaddr,
		       ph.p_memsz);
		if (ph.p_vaddr + ph.p_memsz > end)
			end = ph.p_vaddr + ph.p_memsz;
	}
	close(fd);
	TVM_CHECK(end, "no PT_LOAD segments");
	tvm->image_end = end;
}

/* ---- CPUID / XCR0 ---- */

static struct kvm_cpuid2 *tvm_supported_cpuid(int kvm_fd)
{
	int nent = 64;

	for (;;) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) +
					      nent * sizeof(c->entries[0]));

		TVM_CHECK(c, "out of memory");
		c->nent = nent;
		if (!ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		TVM_CHECK(errno == E2BIG, "KVM_GET_SUPPORTED_CPUID: %s",
			  strerror(errno));
		free(c);
		nent *= 2;
	}
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn,
					   uint32_t index)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     c->entries[i].index == index))
			return &c->entries[i];
	return NULL;
}

/* ---- vCPUs ---- */

#define MSR_STAR	0xc0000081
#define MSR_LSTAR	0xc0000082
#define MSR_CSTAR	0xc0000083
#define MSR_SFMASK	0xc0000084

void tvm_get_regs(struct tvm_vcpu *vcpu, struct kvm_regs *regs)
{
	tvm_ioctl(vcpu->fd, KVM_GET_REGS, regs);
}

void tvm_set_regs(struct tvm_vcpu *vcpu, const struct kvm_regs *regs)
{
	tvm_ioctl(vcpu->fd, KVM_SET_REGS, regs);
}

void tvm_get_sregs(struct tvm_vcpu *vcpu, struct kvm_sregs *sregs)
{
	tvm_ioctl(vcpu->fd, KVM_GET_SREGS, sregs);
}

void tvm_set_sregs(struct tvm_vcpu *vcpu, const struct kvm_sregs *sregs)
{
	tvm_ioctl(vcpu->fd, KVM_SET_SREGS, sregs);
}

uint32_t tvm_get_mp_state(struct tvm_vcpu *vcpu)
{
	struct kvm_mp_state mp;

	tvm_ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp);
	return mp.mp_state;
}

void tvm_set_mp_state(struct tvm_vcpu *vcpu, uint32_t state)
{
	struct kvm_mp_state mp = { .mp_state = state };

	tvm_ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp);
}

/* struct kvm_msrs with room for one entry (same layout, no flexible array). */
struct tvm_msrs1 {
	uint32_t nmsrs, pad;
	struct kvm_msr_entry e;
};
_Static_assert(sizeof(struct kvm_msrs) == offsetof(struct tvm_msrs1, e),
	       "struct kvm_msrs layout");

uint64_t tvm_get_msr(struct tvm_vcpu *vcpu, uint32_t index)
{
	struct tvm_msrs1 m = { .nmsrs = 1, .e.index = index };
	int r = ioctl(vcpu->fd, KVM_GET_MSRS, &m);

	TVM_CHECK(r == 1, "KVM_GET_MSRS(0x%x) = %d: %s", index, r, strerror(errno));
	return m.e.data;
}

void tvm_set_msr(struct tvm_vcpu *vcpu, uint32_t index, uint64_t val)
{
	struct tvm_msrs1 m = { .nmsrs = 1, .e.index = index, .e.data = val };
	int r = ioctl(vcpu->fd, KVM_SET_MSRS, &m);

	TVM_CHECK(r == 1, "KVM_SET_MSRS(0x%x, 0x%llx) = %d: %s", index,
		  (unsigned long long)val, r, strerror(errno));
}

pid_t tvm_vcpu_thread_tid(struct tvm_vcpu *vcpu)
{
	return __atomic_load_n(&vcpu->tid, __ATOMIC_ACQUIRE);
}

/*
 * Through the stats fd taken when the vCPU was created: getting one is a
 * vCPU ioctl, which waits for vcpu->mutex and so for a vCPU halted in
 * KVM_RUN; reading it does not.
 */
uint64_t tvm_vcpu_stat(struct tvm_vcpu *vcpu, const char *name)
{
	int fd = vcpu->stats_fd;
	struct kvm_stats_header h;
	uint64_t value = 0;
	bool found = false;
	size_t dsize, i;
	char *descs;

	TVM_CHECK(pread(fd, &h, sizeof(h), 0) == sizeof(h), "stats header: %s", strerror(errno));
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsize);
	TVM_CHECK(descs != NULL, "out of memory");
	TVM_CHECK(pread(fd, descs, dsize * h.num_desc, h.desc_offset) == (ssize_t)(dsize * h.num_desc),
		  "stats descriptors: %s", strerror(errno));
	for (i = 0; i < h.num_desc && !found; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsize);

		if (strcmp(d->name, name))
			continue;
		TVM_CHECK(pread(fd, &value, sizeof(value), h.data_offset + d->offset) ==
			  sizeof(value), "stat %s: %s", name, strerror(errno));
		found = true;
	}
	free(descs);
	TVM_CHECK(found, "KVM has no vCPU statistic \"%s\"", name);
	return value;
}

void tvm_vcpu_wait_blocked(struct tvm_vcpu *vcpu)
{
	int ms;

	for (ms = 0; tvm_vcpu_stat(vcpu, "blocking") != 1; ms++) {
		TVM_CHECK(ms < 120000, "vCPU %u never blocked in KVM", vcpu->idx);
		usleep(1000);
	}
}

void tvm_vcpu_entry(struct tvm_vcpu *vcpu, void (*fn)(uint64_t arg), uint64_t arg)
{
	struct tvm *tvm = vcpu->tvm;
	struct kvm_regs regs = { 0 };
	uint64_t rsp = vcpu->stack_base + TVM_STACK_SIZE - 8;

	/* As if called: RSP % 16 == 8 at entry, return into the DONE stub. */
	*(uint64_t *)tvm_gpa2hva(tvm, rsp) = (uint64_t)(uintptr_t)tvm_guest_ret_stub;
	regs.rip = (uint64_t)(uintptr_t)fn;
	regs.rdi = arg;
	regs.rsp = rsp;
	/*
	 * IF = 1, as an OS kernel runs. Nothing ever raises an interrupt
	 * here (the LAPIC comes out of reset software-disabled, there is no
	 * PIT), and Bochs 2.7 needs it: it recomputes interrupt masking only
	 * when EFLAGS.IF changes, so an L2 entered with IF = 0 from L1's
	 * IF = 0 never takes an external-interrupt VM exit and L1 starves
	 * (selftests/vm/README.md).
	 */
	regs.rflags = 0x202;
	tvm_set_regs(vcpu, &regs);
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static void tvm_vcpu_setup(struct tvm *tvm, struct tvm_vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;
	size_t sz;
	uint32_t i;

	/* CPUID: everything KVM supports, with this vCPU's APIC ID. */
	sz = sizeof(*c) + tvm->cpuid->nent * sizeof(c->entries[0]);
	c = malloc(sz);
	TVM_CHECK(c, "out of memory");
	memcpy(c, tvm->cpuid, sz);
	for (i = 0; i < c->nent; i++) {
		e = &c->entries[i];
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffff) | (vcpu->idx << 24);
		if (e->function == 0xb || e->function == 0x1f)
			e->edx = vcpu->idx;
	}
	tvm_ioctl(vcpu->fd, KVM_SET_CPUID2, c);
	free(c);

	tvm_get_sregs(vcpu, &sregs);
	seg(&sregs.cs, TVM_SEL_CODE, 0xb, true);
	seg(&sregs.ds, TVM_SEL_DATA, 0x3, false);
	sregs.es = sregs.ss = sregs.gs = sregs.fs = sregs.ds;
	sregs.fs.base = tvm->fs_page;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = TVM_SEL_TSS;
	sregs.tr.base = tvm->tss;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 0xb;	/* busy 64-bit TSS */
	sregs.tr.present = 1;
	memset(&sregs.ldt, 0, sizeof(sregs.ldt));
	sregs.ldt.type = 0x2;
	sregs.ldt.unusable = 1;
	sregs.gdt.base = tvm->gdt;
	sregs.gdt.limit = 5 * 8 - 1;
	sregs.idt.base = tvm->idt;
	sregs.idt.limit = 256 * 16 - 1;
	sregs.cr0 = TVM_CR0_PE | TVM_CR0_MP | TVM_CR0_ET | TVM_CR0_NE |
		    TVM_CR0_WP | TVM_CR0_PG;
	sregs.cr3 = tvm->pml4;
	sregs.cr4 = TVM_CR4_PAE | TVM_CR4_OSFXSR | TVM_CR4_OSXMMEXCPT;
	if (tvm->xcr0)
		sregs.cr4 |= TVM_CR4_OSXSAVE;
	sregs.efer = TVM_EFER_LME | TVM_EFER_LMA | TVM_EFER_SCE;
	tvm_set_sregs(vcpu, &sregs);

	if (tvm->xcr0) {
		struct kvm_xcrs xcrs = { .nr_xcrs = 1 };

		xcrs.xcrs[0].xcr = 0;
		xcrs.xcrs[0].value = tvm->xcr0;
		tvm_ioctl(vcpu->fd, KVM_SET_XCRS, &xcrs);
	}

	/* A SYSCALL in guest code (libc) is reported instead of running off. */
	tvm_set_msr(vcpu, MSR_STAR, (uint64_t)TVM_SEL_CODE << 32);
	tvm_set_msr(vcpu, MSR_LSTAR, (uint64_t)(uintptr_t)tvm_guest_syscall_entry);
	tvm_set_msr(vcpu, MSR_CSTAR, (uint64_t)(uintptr_t)tvm_guest_syscall_entry);
	tvm_set_msr(vcpu, MSR_SFMASK, 0);

	tvm_vcpu_entry(vcpu, tvm_guest_no_entry, 0);

	/* The in-kernel LAPIC leaves APs UNINITIALIZED (waiting for SIPI). */
	if (tvm_get_mp_state(vcpu) != KVM_MP_STATE_RUNNABLE)
		tvm_set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
}

static void tvm_kick_handler(int sig)
{
	(void)sig;
}

static void tvm_install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tvm_kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: KVM_RUN must return -EINTR */
	TVM_CHECK(!sigaction(TVM_KICK_SIGNAL, &sa, NULL), "sigaction: %s",
		  strerror(errno));
}

/* ---- VM ---- */

static void tvm_setup_descriptors(struct tvm *tvm)
{
	uint64_t *gdt = tvm_gpa2hva(tvm, tvm->gdt);
	uint64_t *idt = tvm_gpa2hva(tvm, tvm->idt);
	uint8_t *tss = tvm_gpa2hva(tvm, tvm->tss);
	uint64_t b = tvm->tss;
	int v;

	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL;	/* 64-bit code, DPL 0 */
	gdt[2] = 0x00cf93000000ffffULL;	/* data, DPL 0 */
	/* 64-bit TSS descriptor (available), limit 0x67 */
	gdt[3] = 0x67 | ((b & 0xffffff) << 16) | (0x89ULL << 40) |
		 (((b >> 24) & 0xff) << 56);
	gdt[4] = b >> 32;
	/* I/O map base beyond the limit: no I/O bitmap. */
	*(uint16_t *)(tss + 0x66) = 0x68;

	for (v = 0; v < 256; v++) {
		uint64_t h = (uint64_t)(uintptr_t)tvm_guest_idt_stubs + 16 * v;

		/* Interrupt gate, present, DPL 0, IST 0. */
		idt[2 * v] = (h & 0xffff) | ((uint64_t)TVM_SEL_CODE << 16) |
			     (0x8eULL << 40) | (((h >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = h >> 32;
	}
}

struct tvm *tvm_create(unsigned int nr_vcpus, size_t mem_bytes)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct kvm_userspace_memory_region r;
	struct kvm_cpuid_entry2 *e;
	struct tvm *tvm;
	uint64_t sys_size, gpa, pt_pages;
	int run_size;
	unsigned int i;

	if (!mem_bytes)
		mem_bytes = TVM_DEFAULT_MEM;
	TVM_CHECK(nr_vcpus >= 1 && nr_vcpus <= TVM_MAX_VCPUS,
		  "nr_vcpus %u not in [1, %d]", nr_vcpus, TVM_MAX_VCPUS);
	TVM_CHECK(!(mem_bytes % (4ULL << 20)) && mem_bytes <= (3ULL << 30),
		  "mem 0x%zx must be a multiple of 4 MiB, at most 3 GiB", mem_bytes);

	tvm = calloc(1, sizeof(*tvm));
	TVM_CHECK(tvm, "out of memory");
	tvm->mem_size = mem_bytes;
	tvm->nr_vcpus = nr_vcpus;

	tvm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (tvm->kvm_fd < 0) {
		char why[128];

		snprintf(why, sizeof(why), "/dev/kvm: %s", strerror(errno));
		tvm_skip(why);
	}
	TVM_CHECK(ioctl(tvm->kvm_fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION,
		  "unexpected KVM API version");
	if (ioctl(tvm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP) <= 0)
		tvm_skip("KVM_CAP_IRQCHIP not supported");
	if (ioctl(tvm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0)
		tvm_skip("KVM_CAP_IMMEDIATE_EXIT not supported");
	run_size = tvm_ioctl(tvm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	tvm->cpuid = tvm_supported_cpuid(tvm->kvm_fd);

	/* XCR0: x87|SSE|AVX (+AVX-512) if XSAVE: libc's ifuncs may use them. */
	e = cpuid_find(tvm->cpuid, 1, 0);
	if (e && (e->ecx & (1u << 26))) {
		struct kvm_cpuid_entry2 *d = cpuid_find(tvm->cpuid, 0xd, 0);
		uint64_t sup = d ? d->eax | ((uint64_t)d->edx << 32) : 0x3;

		tvm->xcr0 = sup & 0x7;
		if ((sup & 0xe0) == 0xe0)
			tvm->xcr0 |= 0xe0;
		tvm->xcr0 |= 1;	/* x87 is mandatory */
	}

	tvm->vm_fd = tvm_ioctl(tvm->kvm_fd, KVM_CREATE_VM, 0);
	tvm_ioctl(tvm->vm_fd, KVM_CREATE_IRQCHIP, 0);

	/*
	 * One host mapping, two memslots split at mem/2.  Aligned to 2 MiB as
	 * a VMM aligns guest RAM, so that the host's huge pages can be KVM's
	 * huge mappings.
	 */
	tvm->mem_map_size = mem_bytes + TVM_PAGE_2M;
	tvm->mem_map = mmap(NULL, tvm->mem_map_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	tvm->mem = tvm->mem_map == MAP_FAILED ? MAP_FAILED :
		   (uint8_t *)ALIGN_UP((uintptr_t)tvm->mem_map, TVM_PAGE_2M);
	TVM_CHECK(tvm->mem != MAP_FAILED, "mmap %zu bytes: %s", mem_bytes,
		  strerror(errno));
	for (i = 0; i < 2; i++) {
		memset(&r, 0, sizeof(r));
		r.slot = i;
		r.guest_phys_addr = i * (mem_bytes / 2);
		r.memory_size = mem_bytes / 2;
		r.userspace_addr = (uint64_t)(uintptr_t)(tvm->mem + r.guest_phys_addr);
		tvm_ioctl(tvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
	}

	/* System area at the top of RAM. */
	pt_pages = 2 + mem_bytes / TVM_PAGE_1G + 1 + PT_EXTRA_PAGES;
	sys_size = ALIGN_UP(pt_pages * PAGE_SIZE_4K + 4 * PAGE_SIZE_4K +
			    nr_vcpus * TVM_STACK_SIZE, TVM_PAGE_2M);
	TVM_CHECK(sys_size < mem_bytes / 2, "guest memory too small");
	tvm->sys_base = mem_bytes - sys_size;
	gpa = tvm->sys_base;
	tvm->pt_next = gpa;
	gpa += pt_pages * PAGE_SIZE_4K;
	tvm->pt_end = gpa;
	tvm->gdt = gpa;		gpa += PAGE_SIZE_4K;
	tvm->idt = gpa;		gpa += PAGE_SIZE_4K;
	tvm->tss = gpa;		gpa += PAGE_SIZE_4K;
	tvm->fs_page = gpa;	gpa += PAGE_SIZE_4K;
	tvm->stacks = ALIGN_UP(gpa, TVM_STACK_SIZE);
	TVM_CHECK(tvm->stacks + nr_vcpus * TVM_STACK_SIZE <= mem_bytes,
		  "system area layout overflow");

	tvm_load_self(tvm);
	tvm->alloc_next = ALIGN_UP(tvm->image_end, TVM_PAGE_2M);

	/* gva == gpa for all of RAM, 2 MiB pages. */
	tvm->pml4 = pt_alloc(tvm);
	for (gpa = 0; gpa < mem_bytes; gpa += TVM_PAGE_2M)
		tvm_map(tvm, gpa, gpa, TVM_PAGE_2M, TVM_PTE_W);
	tvm_setup_descriptors(tvm);
	/* A call through a NULL function pointer hits ud2 -> #UD report. */
	memcpy(tvm->mem, "\x0f\x0b", 2);

	pthread_once(&once, tvm_install_kick_handler);

	for (i = 0; i < nr_vcpus; i++) {
		struct tvm_vcpu *v = calloc(1, sizeof(*v));

		TVM_CHECK(v, "out of memory");
		v->tvm = tvm;
		v->idx = i;
		v->stack_base = tvm->stacks + i * TVM_STACK_SIZE;
		v->fd = tvm_ioctl(tvm->vm_fd, KVM_CREATE_VCPU, i);
		v->stats_fd = ioctl(v->fd, KVM_GET_STATS_FD, NULL);
		TVM_CHECK(v->stats_fd >= 0, "KVM_GET_STATS_FD: %s", strerror(errno));
		v->run_size = run_size;
		v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			      v->fd, 0);
		TVM_CHECK(v->run != MAP_FAILED, "mmap kvm_run: %s", strerror(errno));
		pthread_mutex_init(&v->lock, NULL);
		pthread_cond_init(&v->cond, NULL);
		tvm->vcpus[i] = v;
		tvm_vcpu_setup(tvm, v);
	}
	return tvm;
}

void tvm_destroy(struct tvm *tvm)
{
	unsigned int i;

	if (!tvm)
		return;
	for (i = 0; i < tvm->nr_vcpus; i++) {
		struct tvm_vcpu *v = tvm->vcpus[i];

		if (!v)
			continue;
		if (v->thread_live)
			tvm_vcpu_thread_stop(v);
		munmap(v->run, v->run_size);
		close(v->stats_fd);
		close(v->fd);
		pthread_mutex_destroy(&v->lock);
		pthread_cond_destroy(&v->cond);
		free(v);
	}
	close(tvm->vm_fd);
	close(tvm->kvm_fd);
	munmap(tvm->mem_map, tvm->mem_map_size);
	free(tvm->cpuid);
	free(tvm);
}

/* ---- running ---- */

int tvm_vcpu_run(struct tvm_vcpu *vcpu)
{
	int r = ioctl(vcpu->fd, KVM_RUN, 0);

	return r < 0 ? -errno : 0;
}

uint64_t tvm_get_ucall(struct tvm_vcpu *vcpu, struct ucall *uc)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	struct ucall tmp;

	if (uc)
		memset(uc, 0, sizeof(*uc));
	if (run->exit_reason != KVM_EXIT_IO || run->io.port != TVM_UCALL_PORT ||
	    run->io.direction != KVM_EXIT_IO_OUT)
		return UCALL_NONE;
	tvm_get_regs(vcpu, &regs);
	if (!tvm_read_gva(vcpu->tvm, regs.rdi, &tmp, sizeof(tmp))) {
		tvm_diag("vCPU %u: ucall with unmapped pointer 0x%llx at rip 0x%llx",
			 vcpu->idx, (unsigned long long)regs.rdi,
			 (unsigned long long)regs.rip);
		return UCALL_NONE;
	}
	if (uc)
		*uc = tmp;
	return tmp.cmd;
}

static const char *const exit_names[] = {
	[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
	[KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL",
	[KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT",
	[KVM_EXIT_MMIO] = "MMIO", [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
	[KVM_EXIT_SHUTDOWN] = "SHUTDOWN", [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
	[KVM_EXIT_INTR] = "INTR", [KVM_EXIT_SET_TPR] = "SET_TPR",
	[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS", [KVM_EXIT_NMI] = "NMI",
	[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR", [KVM_EXIT_OSI] = "OSI",
	[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
	[KVM_EXIT_X86_WRMSR] = "X86_WRMSR", [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
	[KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
};

const char *tvm_exit_reason_str(uint32_t reason)
{
	if (reason < sizeof(exit_names) / sizeof(exit_names[0]) && exit_names[reason])
		return exit_names[reason];
	return "?";
}

static const char *vector_name(uint64_t v)
{
	static const char *const n[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF",
		"CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC",
		"#MC", "#XM", "#VE", "#CP", "22", "23", "24", "25", "26", "27",
		"#HV", "#VC", "#SX", "31",
	};

	if (v == TVM_VEC_SYSCALL)
		return "SYSCALL";
	return v < 32 ? n[v] : "interrupt";
}

/* Prints a guest failure ucall (ASSERT or EXCEPTION). */
static void tvm_describe_ucall(struct tvm_vcpu *vcpu, const struct ucall *uc)
{
	char expr[256], file[256];

	if (uc->cmd == UCALL_ASSERT) {
		tvm_diag("vCPU %u: guest assertion failed: %s:%llu: %s", vcpu->idx,
			 tvm_guest_str(vcpu->tvm, uc->args[1], file, sizeof(file)),
			 (unsigned long long)uc->args[2],
			 tvm_guest_str(vcpu->tvm, uc->args[0], expr, sizeof(expr)));
		if (uc->args[5])
			tvm_diag("    values: 0x%llx vs 0x%llx",
				 (unsigned long long)uc->args[3],
				 (unsigned long long)uc->args[4]);
	} else if (uc->cmd == UCALL_EXCEPTION && uc->args[0] == TVM_VEC_SYSCALL) {
		tvm_diag("vCPU %u: guest executed SYSCALL %llu at rip 0x%llx "
			 "(guest code must not call libc functions that make syscalls)",
			 vcpu->idx, (unsigned long long)uc->args[2],
			 (unsigned long long)uc->args[1]);
	} else if (uc->cmd == UCALL_EXCEPTION) {
		tvm_diag("vCPU %u: unexpected guest exception %llu (%s) at rip 0x%llx, "
			 "error code 0x%llx, cr2 0x%llx, rsp 0x%llx", vcpu->idx,
			 (unsigned long long)uc->args[0], vector_name(uc->args[0]),
			 (unsigned long long)uc->args[1],
			 (unsigned long long)uc->args[2],
			 (unsigned long long)uc->args[3],
			 (unsigned long long)uc->args[4]);
	} else {
		tvm_diag("vCPU %u: unexpected ucall %llu", vcpu->idx,
			 (unsigned long long)uc->cmd);
	}
}

/* Prints the last (non-ucall) exit. */
static void tvm_describe_exit(struct tvm_vcpu *vcpu, const char *why)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs regs;
	uint32_t i;

	tvm_get_regs(vcpu, &regs);
	tvm_diag("vCPU %u: %s: exit reason %u (%s), rip 0x%llx", vcpu->idx, why,
		 run->exit_reason, tvm_exit_reason_str(run->exit_reason),
		 (unsigned long long)regs.rip);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		tvm_diag("    io: port 0x%x %s size %u count %u", run->io.port,
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.size, run->io.count);
		break;
	case KVM_EXIT_MMIO:
		tvm_diag("    mmio: gpa 0x%llx len %u %s",
			 (unsigned long long)run->mmio.phys_addr, run->mmio.len,
			 run->mmio.is_write ? "write" : "read");
		break;
	case KVM_EXIT_FAIL_ENTRY:
		tvm_diag("    hardware_entry_failure_reason 0x%llx",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		tvm_diag("    suberror %u, %u data words", run->internal.suberror,
			 run->internal.ndata);
		for (i = 0; i < run->internal.ndata && i < 16; i++)
			tvm_diag("    data[%u] = 0x%llx", i,
				 (unsigned long long)run->internal.data[i]);
		break;
	case KVM_EXIT_SHUTDOWN:
		tvm_diag("    (triple fault?)");
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		tvm_diag("    system event type %u", run->system_event.type);
		break;
	}
}

void tvm_vcpu_fail_exit(struct tvm_vcpu *vcpu, const char *why)
{
	tvm_describe_exit(vcpu, why);
	tvm_fail();
}

uint64_t tvm_vcpu_run_ucall(struct tvm_vcpu *vcpu, struct ucall *uc)
{
	struct ucall tmp;
	uint64_t cmd;
	int r;

	for (;;) {
		r = tvm_vcpu_run(vcpu);
		if (r == -EINTR)
			continue;
		TVM_CHECK(!r, "vCPU %u: KVM_RUN: %s", vcpu->idx, strerror(-r));
		cmd = tvm_get_ucall(vcpu, &tmp);
		switch (cmd) {
		case UCALL_SYNC:
		case UCALL_DONE:
			if (uc)
				*uc = tmp;
			return cmd;
		case UCALL_NONE:
			tvm_vcpu_fail_exit(vcpu, "unexpected exit");
		default:
			tvm_describe_ucall(vcpu, &tmp);
			tvm_fail();
		}
	}
}

void tvm_vcpu_expect_sync(struct tvm_vcpu *vcpu, uint64_t val)
{
	struct ucall uc;
	uint64_t cmd = tvm_vcpu_run_ucall(vcpu, &uc);

	TVM_CHECK(cmd == UCALL_SYNC, "vCPU %u: expected GUEST_SYNC(0x%llx), got %s",
		  vcpu->idx, (unsigned long long)val, cmd == UCALL_DONE ?
		  "GUEST_DONE" : "another ucall");
	TVM_CHECK(uc.args[0] == val, "vCPU %u: GUEST_SYNC(0x%llx), expected 0x%llx",
		  vcpu->idx, (unsigned long long)uc.args[0], (unsigned long long)val);
}

/* ---- vCPU threads ---- */

static void thread_finish(struct tvm_vcpu *v, enum tvm_thread_result res)
{
	/* Its tid may go to another thread from now on. */
	__atomic_store_n(&v->tid, 0, __ATOMIC_RELEASE);
	pthread_mutex_lock(&v->lock);
	v->state = res;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

static void *tvm_vcpu_thread_fn(void *arg)
{
	struct tvm_vcpu *v = arg;
	struct ucall uc;
	sigset_t set;
	int r;

	__atomic_store_n(&v->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	sigemptyset(&set);
	sigaddset(&set, TVM_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		if (__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
			thread_finish(v, TVM_THREAD_STOPPED);
			break;
		}
		r = tvm_vcpu_run(v);
		__atomic_add_fetch(&v->runs, 1, __ATOMIC_RELEASE);
		if (r == -EINTR)
			continue;
		if (r) {
			tvm_diag("vCPU %u: KVM_RUN: %s", v->idx, strerror(-r));
			thread_finish(v, TVM_THREAD_FAILED);
			break;
		}
		switch (tvm_get_ucall(v, &uc)) {
		case UCALL_SYNC:
			pthread_mutex_lock(&v->lock);
			v->syncs++;
			v->last_sync = uc.args[0];
			pthread_cond_broadcast(&v->cond);
			pthread_mutex_unlock(&v->lock);
			if (v->on_sync && !v->on_sync(v, &uc, v->opaque)) {
				thread_finish(v, TVM_THREAD_STOPPED);
				return NULL;
			}
			continue;
		case UCALL_DONE:
			thread_finish(v, TVM_THREAD_DONE);
			return NULL;
		case UCALL_NONE:
			tvm_describe_exit(v, "unexpected exit");
			thread_finish(v, TVM_THREAD_FAILED);
			return NULL;
		default:
			tvm_describe_ucall(v, &uc);
			thread_finish(v, TVM_THREAD_FAILED);
			return NULL;
		}
	}
	return NULL;
}

void tvm_vcpu_thread_start(struct tvm_vcpu *vcpu, tvm_sync_cb on_sync, void *opaque)
{
	int r;

	TVM_CHECK(!vcpu->thread_live, "vCPU %u thread already running", vcpu->idx);
	vcpu->on_sync = on_sync;
	vcpu->opaque = opaque;
	vcpu->state = TVM_THREAD_RUNNING;
	__atomic_store_n(&vcpu->stop, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELEASE);
	r = pthread_create(&vcpu->thread, NULL, tvm_vcpu_thread_fn, vcpu);
	TVM_CHECK(!r, "pthread_create: %s", strerror(r));
	vcpu->thread_live = true;
}

void tvm_vcpu_kick(struct tvm_vcpu *vcpu)
{
	if (vcpu->thread_live)
		pthread_kill(vcpu->thread, TVM_KICK_SIGNAL);
}

enum tvm_thread_result tvm_vcpu_thread_join(struct tvm_vcpu *vcpu)
{
	TVM_CHECK(vcpu->thread_live, "vCPU %u has no thread", vcpu->idx);
	pthread_join(vcpu->thread, NULL);
	vcpu->thread_live = false;
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELEASE);
	return vcpu->state;
}

enum tvm_thread_result tvm_vcpu_thread_stop(struct tvm_vcpu *vcpu)
{
	TVM_CHECK(vcpu->thread_live, "vCPU %u has no thread", vcpu->idx);
	/*
	 * stop first, then immediate_exit, then the signal: a thread that
	 * missed stop either enters KVM_RUN with immediate_exit set (returns
	 * -EINTR at once) or is inside KVM_RUN when the signal arrives.
	 */
	__atomic_store_n(&vcpu->stop, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, TVM_KICK_SIGNAL);
	return tvm_vcpu_thread_join(vcpu);
}

enum tvm_thread_result tvm_vcpu_thread_state(struct tvm_vcpu *vcpu)
{
	enum tvm_thread_result s;

	pthread_mutex_lock(&vcpu->lock);
	s = vcpu->state;
	pthread_mutex_unlock(&vcpu->lock);
	return s;
}

uint64_t tvm_vcpu_thread_syncs(struct tvm_vcpu *vcpu, uint64_t *last_val)
{
	uint64_t n;

	pthread_mutex_lock(&vcpu->lock);
	n = vcpu->syncs;
	if (last_val)
		*last_val = vcpu->last_sync;
	pthread_mutex_unlock(&vcpu->lock);
	return n;
}

uint64_t tvm_vcpu_thread_runs(struct tvm_vcpu *vcpu)
{
	return __atomic_load_n(&vcpu->runs, __ATOMIC_ACQUIRE);
}

enum tvm_thread_result tvm_vcpu_thread_wait_syncs(struct tvm_vcpu *vcpu, uint64_t n)
{
	enum tvm_thread_result s;

	pthread_mutex_lock(&vcpu->lock);
	while (vcpu->syncs < n && vcpu->state == TVM_THREAD_RUNNING)
		pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	s = vcpu->syncs >= n ? TVM_THREAD_RUNNING : vcpu->state;
	pthread_mutex_unlock(&vcpu->lock);
	return s;
}
