/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest.h - a small KVM guest runtime for vmiop selftests (x86-64 only).
 *
 * The host side creates a VM whose memory holds a copy of the test program
 * itself (its PT_LOAD segments at gpa == vaddr), so guest code is plain C in
 * the test file.  Guest code runs in 64-bit ring 0 with IF=1 (but nothing
 * raises interrupts) and talks to the host through ucalls (GUEST_SYNC /
 * GUEST_ASSERT / GUEST_DONE).
 *
 * Guest-physical layout for mem bytes of RAM (mem a multiple of 4 MiB):
 *
 *   [0, mem/2)            memslot 0  \  one anonymous host mapping, so
 *   [mem/2, mem)          memslot 1  /  tvm_gpa2hva() is contiguous
 *   [mem, mem + 2 MiB)    NO memslot: guaranteed hole (TVM_HOLE_SIZE)
 *
 *   0x400000...           the test binary (static, non-PIE), copied from the
 *                         live process at tvm_create() time
 *   tvm_alloc_gpa()       bump allocator above the binary for test data
 *   top of RAM            "system area": page-table pool, GDT, IDT, TSS,
 *                         per-vCPU 64 KiB stacks and a zeroed FS page
 *                         (tvm_sys_base() .. mem)
 *
 * Guest-virtual: [0, mem) is identity-mapped with 2 MiB pages in a 4-level
 * table (CR3 = tvm_pt_root()); tvm_map() adds 4K/2M/1G mappings elsewhere.
 *
 * Guest-code rules: no syscalls (so no printf/malloc/errno in the guest;
 * memcpy/memset/strlen are fine), no TLS (FS base points at a zero page, so
 * a stack protector canary reads as 0 and still works), no floating point
 * state expectations across ucalls.  Exceptions and SYSCALL are trapped and
 * reported to the host with vector, RIP and error code.
 */
#ifndef VMIOP_SELFTESTS_GUEST_H
#define VMIOP_SELFTESTS_GUEST_H

#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/kvm.h>

#define TVM_DEFAULT_MEM		(128ULL << 20)
#define TVM_HOLE_SIZE		(2ULL << 20)
#define TVM_UCALL_PORT		0xE0
#define TVM_STACK_SIZE		(64ULL << 10)
#define TVM_MAX_VCPUS		64

#define TVM_PAGE_4K		(1ULL << 12)
#define TVM_PAGE_2M		(1ULL << 21)
#define TVM_PAGE_1G		(1ULL << 30)
#define TVM_PAGE_512G		(1ULL << 39)	/* PML4E level, tvm_pte() only */

/* Page-table entry bits, usable as tvm_map() flags (P/PS are implied). */
#define TVM_PTE_P		(1ULL << 0)
#define TVM_PTE_W		(1ULL << 1)
#define TVM_PTE_U		(1ULL << 2)
#define TVM_PTE_PWT		(1ULL << 3)
#define TVM_PTE_PCD		(1ULL << 4)
#define TVM_PTE_A		(1ULL << 5)
#define TVM_PTE_D		(1ULL << 6)
#define TVM_PTE_PS		(1ULL << 7)
#define TVM_PTE_G		(1ULL << 8)
#define TVM_PTE_NX		(1ULL << 63)	/* needs EFER.NXE (not set by default) */
#define TVM_PTE_ADDR_MASK	0x000ffffffffff000ULL

#define TVM_INVALID_GPA		(~0ULL)

/* Control-register / EFER bits of the default vCPU state. */
#define TVM_CR0_PE		(1ULL << 0)
#define TVM_CR0_MP		(1ULL << 1)
#define TVM_CR0_ET		(1ULL << 4)
#define TVM_CR0_NE		(1ULL << 5)
#define TVM_CR0_WP		(1ULL << 16)
#define TVM_CR0_PG		(1ULL << 31)
#define TVM_CR4_PAE		(1ULL << 5)
#define TVM_CR4_OSFXSR		(1ULL << 9)
#define TVM_CR4_OSXMMEXCPT	(1ULL << 10)
#define TVM_CR4_OSXSAVE		(1ULL << 18)
#define TVM_EFER_SCE		(1ULL << 0)
#define TVM_EFER_LME		(1ULL << 8)
#define TVM_EFER_LMA		(1ULL << 10)
#define TVM_EFER_NXE		(1ULL << 11)

/* GDT selectors. */
#define TVM_SEL_CODE		0x08
#define TVM_SEL_DATA		0x10
#define TVM_SEL_TSS		0x18

/* ---------------------------------------------------------------------- */
/* ucall: shared between guest and host                                   */
/* ---------------------------------------------------------------------- */

enum {
	UCALL_NONE = 0,
	UCALL_SYNC,		/* args[0..]: values */
	UCALL_DONE,
	UCALL_ASSERT,		/* args: expr, file, line, a, b, has_ab */
	UCALL_EXCEPTION,	/* args: vector, rip, error code, cr2, rsp */
};

#define UCALL_MAX_ARGS		6
#define TVM_VEC_SYSCALL		0x100	/* pseudo vector: guest ran SYSCALL */

struct ucall {
	uint64_t cmd;
	uint64_t args[UCALL_MAX_ARGS];
};

/* ---------------------------------------------------------------------- */
/* Guest side (ring 0, IF=1, nothing raises interrupts)                   */
/* ---------------------------------------------------------------------- */

static inline void tvm_ucall(uint64_t cmd, uint64_t a0, uint64_t a1,
			     uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct ucall uc = {
		.cmd = cmd, .args = { a0, a1, a2, a3, a4, a5 },
	};

	/* The host reads *RDI (gva == gpa: stacks are identity-mapped). */
	__asm__ __volatile__("outb %%al, %%dx"
		     : : "a"(0), "d"((uint16_t)TVM_UCALL_PORT), "D"(&uc)
		     : "memory");
}

#define GUEST_SYNC(v)		tvm_ucall(UCALL_SYNC, (uint64_t)(v), 0, 0, 0, 0, 0)
#define GUEST_SYNC2(a, b)	tvm_ucall(UCALL_SYNC, (uint64_t)(a), (uint64_t)(b), 0, 0, 0, 0)
#define GUEST_SYNC3(a, b, c)	tvm_ucall(UCALL_SYNC, (uint64_t)(a), (uint64_t)(b), \
					  (uint64_t)(c), 0, 0, 0)
#define GUEST_DONE()		tvm_ucall(UCALL_DONE, 0, 0, 0, 0, 0, 0)

#define GUEST_ASSERT(cond)							\
	do {									\
		if (!(cond))							\
			tvm_ucall(UCALL_ASSERT, (uint64_t)#cond,		\
				  (uint64_t)__FILE__, __LINE__, 0, 0, 0);	\
	} while (0)

/* Reports both values on failure. */
#define GUEST_ASSERT_EQ(a, b)							\
	do {									\
		uint64_t __ga = (uint64_t)(a), __gb = (uint64_t)(b);		\
		if (__ga != __gb)						\
			tvm_ucall(UCALL_ASSERT, (uint64_t)(#a " == " #b),	\
				  (uint64_t)__FILE__, __LINE__, __ga, __gb, 1);	\
	} while (0)

/*
 * Guest exception handling.  By default every exception is fatal (reported
 * to the host, which fails the test).  Guest code may install a handler: it
 * sees the saved state, may change it (RIP, RFLAGS, GPRs), and returns true
 * to resume the guest with it, false to fall back to the fatal report.
 */
struct tvm_exc_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};

typedef bool (*tvm_guest_exc_handler)(struct tvm_exc_frame *f);

/* Guest side; one handler per VM (NULL restores the default). */
void tvm_guest_set_exc_handler(tvm_guest_exc_handler fn);

static inline void guest_hlt(void)
{
	__asm__ __volatile__("hlt" ::: "memory");
}

static inline void guest_pause(void)
{
	__asm__ __volatile__("pause" ::: "memory");
}

static inline void guest_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *a,
			       uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ __volatile__("cpuid"
		     : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d)
		     : "a"(leaf), "c"(subleaf)
		     : "memory");
}

static inline uint64_t guest_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static inline void guest_wrmsr(uint32_t msr, uint64_t val)
{
	__asm__ __volatile__("wrmsr"
		     : : "c"(msr), "a"((uint32_t)val), "d"((uint32_t)(val >> 32))
		     : "memory");
}

static inline uint64_t guest_read_cr3(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr3, %0" : "=r"(v));
	return v;
}

static inline void guest_write_cr3(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr3" : : "r"(v) : "memory");
}

static inline void guest_invlpg(uint64_t gva)
{
	__asm__ __volatile__("invlpg (%0)" : : "r"(gva) : "memory");
}

/* Flush the whole (non-global) TLB: needed after the host edits live PTEs. */
static inline void guest_flush_tlb(void)
{
	guest_write_cr3(guest_read_cr3());
}

static inline uint64_t guest_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/* ---------------------------------------------------------------------- */
/* Host side                                                              */
/* ---------------------------------------------------------------------- */

struct tvm;
struct tvm_vcpu;

/*
 * Creates a VM with nr_vcpus vCPUs (all with their default state; APs are
 * made RUNNABLE) and mem_bytes of RAM (0 = TVM_DEFAULT_MEM).  Skips the
 * current test (exit code 4) if /dev/kvm is missing; any other failure
 * aborts the test (exit code 1) with a diagnostic.
 */
struct tvm *tvm_create(unsigned int nr_vcpus, size_t mem_bytes);
void tvm_destroy(struct tvm *tvm);	/* stops vCPU threads, closes fds */

int tvm_kvm_fd(struct tvm *tvm);	/* /dev/kvm */
int tvm_vm_fd(struct tvm *tvm);
size_t tvm_mem_size(struct tvm *tvm);
unsigned int tvm_nr_vcpus(struct tvm *tvm);
struct tvm_vcpu *tvm_vcpu(struct tvm *tvm, unsigned int idx);

/* Memory. */
void *tvm_gpa2hva(struct tvm *tvm, uint64_t gpa);	/* aborts if outside RAM */
uint64_t tvm_hva2gpa(struct tvm *tvm, const void *hva);
uint64_t tvm_slot_boundary(struct tvm *tvm);		/* == mem / 2 */
uint64_t tvm_hole_gpa(struct tvm *tvm);			/* == mem */
uint64_t tvm_sys_base(struct tvm *tvm);	/* start of the runtime's top area */
/* Bump allocator for test data: zeroed, from above the binary. */
uint64_t tvm_alloc_gpa(struct tvm *tvm, size_t size, size_t align);

/* The guest's copy of a global of the test program. */
#define TVM_GUEST_VAR(tvm, var)							\
	((__typeof__(&(var)))tvm_gpa2hva((tvm), (uint64_t)(uintptr_t)&(var)))
/* Copy the host's current value of a global into the guest's copy. */
#define TVM_SYNC_TO_GUEST(tvm, var)						\
	(*TVM_GUEST_VAR(tvm, var) = (var))

/* Copies guest-virtual memory (current page tables); false if unmapped. */
bool tvm_read_gva(struct tvm *tvm, uint64_t gva, void *buf, size_t len);

/* Page tables (shared by all vCPUs). */
uint64_t tvm_pt_root(struct tvm *tvm);		/* CR3 */
/*
 * Maps [gva, gva + page_size) to gpa with one 4K, 2M or 1G entry; both must
 * be page_size aligned.  flags are extra PTE bits (TVM_PTE_W | TVM_PTE_U ...);
 * P (and PS for large pages) are set here.  Intermediate tables are created,
 * a large page in the way is split (keeping its attributes).  gpa need not be
 * backed by RAM (e.g. tvm_hole_gpa()).  The guest must flush its TLB if it
 * may have cached the old translation.
 */
void tvm_map(struct tvm *tvm, uint64_t gva, uint64_t gpa, size_t page_size,
	     uint64_t flags);
/* Clears the entry mapping gva at page_size level (it becomes not-present). */
void tvm_unmap(struct tvm *tvm, uint64_t gva, size_t page_size);
/*
 * Host pointer to the entry for gva at the level whose pages are
 * page_size (4K: PTE, 2M: PDE, 1G: PDPTE, 512G: PML4E), creating tables
 * and splitting large pages above it as needed; the entry itself may be
 * non-present.  Lets tests craft arbitrary entries (reserved bits...).
 */
uint64_t *tvm_pte(struct tvm *tvm, uint64_t gva, size_t page_size);
/*
 * Software walk of the guest page tables (current contents).  Returns the
 * gpa or TVM_INVALID_GPA if not present; *page_size (optional) gets the
 * size of the leaf, *pte (optional) its value.
 */
uint64_t tvm_gva2gpa(struct tvm *tvm, uint64_t gva, size_t *page_size,
		     uint64_t *pte);

/* vCPUs. */
int tvm_vcpu_fd(struct tvm_vcpu *vcpu);
unsigned int tvm_vcpu_idx(struct tvm_vcpu *vcpu);
struct kvm_run *tvm_vcpu_run_state(struct tvm_vcpu *vcpu);	/* mmap'd kvm_run */
/* RIP = fn, RDI = arg, fresh stack; if fn returns, the vCPU reports DONE. */
void tvm_vcpu_entry(struct tvm_vcpu *vcpu, void (*fn)(uint64_t arg), uint64_t arg);
void tvm_get_regs(struct tvm_vcpu *vcpu, struct kvm_regs *regs);
void tvm_set_regs(struct tvm_vcpu *vcpu, const struct kvm_regs *regs);
void tvm_get_sregs(struct tvm_vcpu *vcpu, struct kvm_sregs *sregs);
void tvm_set_sregs(struct tvm_vcpu *vcpu, const struct kvm_sregs *sregs);
uint32_t tvm_get_mp_state(struct tvm_vcpu *vcpu);	/* KVM_MP_STATE_* */
void tvm_set_mp_state(struct tvm_vcpu *vcpu, uint32_t state);
uint64_t tvm_get_msr(struct tvm_vcpu *vcpu, uint32_t index);
/*
 * A vCPU statistic of KVM's binary stats (KVM_GET_STATS_FD), e.g. "exits";
 * readable while the vCPU is in KVM_RUN.
 */
uint64_t tvm_vcpu_stat(struct tvm_vcpu *vcpu, const char *name);
/* Waits until the vCPU sleeps in KVM's halt (its "blocking" statistic is 1). */
void tvm_vcpu_wait_blocked(struct tvm_vcpu *vcpu);
/* The thread id of the vCPU's thread while it runs (tvm_vcpu_thread_start), else 0. */
pid_t tvm_vcpu_thread_tid(struct tvm_vcpu *vcpu);
void tvm_set_msr(struct tvm_vcpu *vcpu, uint32_t index, uint64_t val);

/*
 * One KVM_RUN.  Returns 0 or -errno (-EINTR when a signal or
 * immediate_exit interrupted it).  After 0, the exit is in
 * tvm_vcpu_run_state(vcpu)->exit_reason.
 */
int tvm_vcpu_run(struct tvm_vcpu *vcpu);
/*
 * Decodes the last exit: a ucall returns its cmd (and fills *uc if non-NULL);
 * anything else returns UCALL_NONE.
 */
uint64_t tvm_get_ucall(struct tvm_vcpu *vcpu, struct ucall *uc);
/*
 * Runs until the next ucall and returns UCALL_SYNC or UCALL_DONE.  A guest
 * assertion, a guest exception, a non-ucall exit or a KVM_RUN error fails
 * the test with a diagnostic (the exit reason / guest file:line / vector).
 * -EINTR is retried.
 */
uint64_t tvm_vcpu_run_ucall(struct tvm_vcpu *vcpu, struct ucall *uc);
/* Convenience: asserts the next ucall is SYNC with args[0] == val. */
void tvm_vcpu_expect_sync(struct tvm_vcpu *vcpu, uint64_t val);
/* Printable name of a KVM_EXIT_* reason. */
const char *tvm_exit_reason_str(uint32_t reason);
/* Prints (as "# ..." lines) a description of the last exit and fails. */
__attribute__((noreturn)) void tvm_vcpu_fail_exit(struct tvm_vcpu *vcpu, const char *why);

/*
 * A vCPU thread loops on KVM_RUN, handling ucalls, until the guest does
 * GUEST_DONE, fails, or a stop is requested.  on_sync (may be NULL) runs in
 * the vCPU thread for each UCALL_SYNC; returning false ends the loop as
 * TVM_THREAD_STOPPED.
 */
enum tvm_thread_result {
	TVM_THREAD_RUNNING = 0,
	TVM_THREAD_DONE,	/* guest did GUEST_DONE (or its fn returned) */
	TVM_THREAD_STOPPED,	/* tvm_vcpu_thread_stop() or on_sync false */
	TVM_THREAD_FAILED,	/* guest assert/exception, bad exit, KVM_RUN error */
};

typedef bool (*tvm_sync_cb)(struct tvm_vcpu *vcpu, const struct ucall *uc,
			    void *opaque);

void tvm_vcpu_thread_start(struct tvm_vcpu *vcpu, tvm_sync_cb on_sync,
			   void *opaque);
/*
 * Requests a stop (sets kvm_run->immediate_exit and kicks the thread with
 * TVM_KICK_SIGNAL, so KVM_RUN returns -EINTR even if the guest is halted
 * with no interrupt to wake it) and joins the thread.  Returns the thread's result.
 */
enum tvm_thread_result tvm_vcpu_thread_stop(struct tvm_vcpu *vcpu);
/* Waits for the thread to finish on its own (DONE/FAILED) and joins it. */
enum tvm_thread_result tvm_vcpu_thread_join(struct tvm_vcpu *vcpu);
/* Non-blocking peek at the state of a running thread. */
enum tvm_thread_result tvm_vcpu_thread_state(struct tvm_vcpu *vcpu);
/* Number of UCALL_SYNCs the thread handled, and the last one's args[0]. */
uint64_t tvm_vcpu_thread_syncs(struct tvm_vcpu *vcpu, uint64_t *last_val);
/* Number of KVM_RUN ioctls the thread has completed (returned from). */
uint64_t tvm_vcpu_thread_runs(struct tvm_vcpu *vcpu);
/*
 * Blocks until the thread has handled at least n syncs or ended; returns
 * the thread state at that point (TVM_THREAD_RUNNING if n syncs happened).
 */
enum tvm_thread_result tvm_vcpu_thread_wait_syncs(struct tvm_vcpu *vcpu,
						  uint64_t n);
/* Interrupts the current KVM_RUN of the vCPU thread without stopping it. */
void tvm_vcpu_kick(struct tvm_vcpu *vcpu);

#define TVM_KICK_SIGNAL		SIGUSR1	/* no-op handler, no SA_RESTART */

#endif /* VMIOP_SELFTESTS_GUEST_H */
