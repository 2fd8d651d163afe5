// SPDX-License-Identifier: GPL-2.0
/*
 * A session ends while its vCPU runs a nested guest (L2) of the test
 * guest's own: what vmiop made KVM intercept sits on L1's VMCB, which is
 * not the one loaded, and must still be given back before vmiop lets go,
 * or KVM meets exits it never asked for once L1 runs again (an internal
 * error on SVM).  Detached by close, by a killed introspector, and with
 * the VMM gone; then L2 and L1 run to completion and the session's last
 * trace (its hold on the module) goes.
 *
 * The test guest (L1) runs L2 with VMRUN on a VMCB the host fills in from
 * the vCPU's own state: L2 shares L1's page tables, segments and IDT, so
 * its ucalls reach the host as L1's do (L1 does not intercept I/O).
 */
#include <sys/wait.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

#define MSR_EFER		0xc0000080
#define MSR_LSTAR		0xc0000082
#define MSR_VM_HSAVE_PA		0xc0010117
#define EFER_SVME		(1ULL << 12)

/* VMCB offsets (AMD APM vol. 2, appendix B) */
#define VMCB_INTERCEPT_MISC2	0x010	/* bit 0 VMRUN, bit 1 VMMCALL */
#define VMCB_ASID		0x058
#define VMCB_EXIT_CODE		0x070
#define VMCB_SAVE		0x400
#define VMCB_ES			(VMCB_SAVE + 0x000)	/* ES CS SS DS FS GS GDTR LDTR IDTR TR, 16 each */
#define VMCB_CPL		(VMCB_SAVE + 0x0cb)
#define VMCB_EFER		(VMCB_SAVE + 0x0d0)
#define VMCB_CR4		(VMCB_SAVE + 0x148)
#define VMCB_CR3		(VMCB_SAVE + 0x150)
#define VMCB_CR0		(VMCB_SAVE + 0x158)
#define VMCB_DR7		(VMCB_SAVE + 0x160)
#define VMCB_DR6		(VMCB_SAVE + 0x168)
#define VMCB_RFLAGS		(VMCB_SAVE + 0x170)
#define VMCB_RIP		(VMCB_SAVE + 0x178)
#define VMCB_RSP		(VMCB_SAVE + 0x1d8)
#define VMCB_G_PAT		(VMCB_SAVE + 0x268)
#define SVM_EXIT_VMMCALL	0x81

#define L2_RUNNING		0x12
#define L1_BACK			0x11

static uint8_t l2_vmcb[4096] __attribute__((aligned(4096)));
static uint8_t l2_hsave[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[16384] __attribute__((aligned(16)));
static volatile uint64_t l2_release;	/* the host lets L2 finish */
static volatile uint64_t l2_done;
static uint64_t l1_bad_exit;		/* an exit of L2 other than VMMCALL */
static uint64_t l1_breakpoints;		/* INT3s the guest's own handler took */

struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint64_t base;
};

/* What vmiop intercepts for its events, done once per loop in L2 and at the end in L1. */
static inline void guest_touch_intercepts(void)
{
	struct dtr d;
	uint16_t sel;
	uint64_t v;

	__asm__ __volatile__("sidt %0" : "=m"(d));
	__asm__ __volatile__("sgdt %0" : "=m"(d));
	__asm__ __volatile__("lgdt %0" : : "m"(d));
	__asm__ __volatile__("sldt %0" : "=m"(sel));
	__asm__ __volatile__("str %0" : "=m"(sel));
	__asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	__asm__ __volatile__("mov %%cr3, %0; mov %0, %%cr3" : "=&r"(v) : : "memory");
	guest_wrmsr(MSR_LSTAR, guest_rdmsr(MSR_LSTAR));
}

static void l2_main(void)
{
	GUEST_SYNC(L2_RUNNING);
	while (!l2_release) {
		guest_touch_intercepts();
		guest_pause();
	}
	l2_done = 1;
	for (;;)
		__asm__ __volatile__("vmmcall" : : : "memory");
}

static bool l1_on_breakpoint(struct tvm_exc_frame *f)
{
	if (f->vector != 3)
		return false;
	l1_breakpoints++;
	return true;
}

/* L2's GPRs come back in L1's: all but RSP and RAX (restored) are lost. */
static void l1_vmrun(uint64_t vmcb)
{
	__asm__ __volatile__("push %%rbp\n\t"
			     "vmrun %%rax\n\t"
			     "stgi\n\t"
			     "pop %%rbp"
			     : "+a"(vmcb)
			     :
			     : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
			       "r12", "r13", "r14", "r15", "memory", "cc");
}

static void guest_l1(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(l1_on_breakpoint);
	guest_wrmsr(MSR_EFER, guest_rdmsr(MSR_EFER) | EFER_SVME);
	guest_wrmsr(MSR_VM_HSAVE_PA, (uintptr_t)l2_hsave);
	while (!l2_done) {
		uint64_t code;

		l1_vmrun((uintptr_t)l2_vmcb);
		code = *(volatile uint64_t *)(l2_vmcb + VMCB_EXIT_CODE);
		if (code != SVM_EXIT_VMMCALL) {
			l1_bad_exit = code;
			GUEST_ASSERT_EQ(code, SVM_EXIT_VMMCALL);
		}
		*(volatile uint64_t *)(l2_vmcb + VMCB_RIP) += 3;	/* 0f 01 d9 */
	}
	GUEST_SYNC(L1_BACK);
	guest_touch_intercepts();
	__asm__ __volatile__("int3");
	GUEST_DONE();
}

static void vmcb_put(uint8_t *vmcb, unsigned int off, uint64_t val, unsigned int size)
{
	memcpy(vmcb + off, &val, size);
}

static void vmcb_seg(uint8_t *vmcb, unsigned int i, const struct kvm_segment *s)
{
	uint16_t attr = s->type | s->s << 4 | s->dpl << 5 | s->present << 7 | s->avl << 8 |
			s->l << 9 | s->db << 10 | s->g << 11;

	vmcb_put(vmcb, VMCB_ES + 16 * i, s->selector, 2);
	vmcb_put(vmcb, VMCB_ES + 16 * i + 2, attr, 2);
	vmcb_put(vmcb, VMCB_ES + 16 * i + 4, s->limit, 4);
	vmcb_put(vmcb, VMCB_ES + 16 * i + 8, s->base, 8);
}

/* L2 starts at l2_main with L1's state as the vCPU has it now (not running). */
static void l2_prepare(struct tvm *tvm, struct tvm_vcpu *vcpu)
{
	uint8_t *vmcb = (uint8_t *)TVM_GUEST_VAR(tvm, l2_vmcb);
	const struct kvm_segment *segs[] = {
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	};
	struct kvm_segment gdtr = { 0 }, idtr = { 0 };
	struct kvm_sregs sregs;
	unsigned int i;

	tvm_get_sregs(vcpu, &sregs);
	segs[0] = &sregs.es;
	segs[1] = &sregs.cs;
	segs[2] = &sregs.ss;
	segs[3] = &sregs.ds;
	segs[4] = &sregs.fs;
	segs[5] = &sregs.gs;
	gdtr.base = sregs.gdt.base;
	gdtr.limit = sregs.gdt.limit;
	segs[6] = &gdtr;
	segs[7] = &sregs.ldt;
	idtr.base = sregs.idt.base;
	idtr.limit = sregs.idt.limit;
	segs[8] = &idtr;
	segs[9] = &sregs.tr;
	memset(vmcb, 0, 4096);
	vmcb_put(vmcb, VMCB_INTERCEPT_MISC2, 3, 4);	/* VMRUN (required), VMMCALL */
	vmcb_put(vmcb, VMCB_ASID, 1, 4);
	for (i = 0; i < 10; i++)
		vmcb_seg(vmcb, i, segs[i]);
	vmcb_put(vmcb, VMCB_CPL, 0, 1);
	vmcb_put(vmcb, VMCB_EFER, sregs.efer | EFER_SVME, 8);
	vmcb_put(vmcb, VMCB_CR4, sregs.cr4, 8);
	vmcb_put(vmcb, VMCB_CR3, sregs.cr3, 8);
	vmcb_put(vmcb, VMCB_CR0, sregs.cr0, 8);
	vmcb_put(vmcb, VMCB_DR7, 0x400, 8);
	vmcb_put(vmcb, VMCB_DR6, 0xffff0ff0, 8);
	vmcb_put(vmcb, VMCB_RFLAGS, 2, 8);
	vmcb_put(vmcb, VMCB_RIP, (uintptr_t)l2_main, 8);
	vmcb_put(vmcb, VMCB_RSP, (uintptr_t)(l2_stack + sizeof(l2_stack) - 8), 8);
	vmcb_put(vmcb, VMCB_G_PAT, 0x0007040600070406ULL, 8);
}

/* The module's reference count: a lingering session holds one. */
static long vmiop_refcnt(void)
{
	FILE *f = fopen("/sys/module/vmiop/refcnt", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/*
 * Events that make KVM intercept more on SVM: descriptor tables, CR0/CR4
 * reads, CR3 writes, an MSR KVM passes through, INT3.  None happens
 * before L2 runs, so none waits for a reply.
 */
static void enable_intercepting_events(struct vmiop *v)
{
	static const struct vmiop_filter_range cr_reads[] = { { 0, 0 }, { 3, 4 } };
	static const struct vmiop_filter_range lstar = { MSR_LSTAR, MSR_LSTAR };

	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DESC, -1, NULL, 0), 0);
	ASSERT_EQ(vmiop_event_enable_flags(v, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS,
					   cr_reads, 2), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MSR, -1, &lstar, 1), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
}

/* KVM offers its guests SVM (kvm_amd's nested, on by default). */
static bool nested_svm_available(struct tvm *tvm)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(c->entries[0]));
	bool svm = false;
	unsigned int i;

	ASSERT_TRUE(c != NULL);
	c->nent = 256;
	ASSERT_EQ(ioctl(tvm_kvm_fd(tvm), KVM_GET_SUPPORTED_CPUID, c), 0);
	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0x80000001)
			svm = c->entries[i].ecx & (1u << 2);
	free(c);
	return svm;
}

#define NO_SVM_L2 "KVM offers this guest no SVM: the L2 guest here is an SVM one " \
		  "(a VMX one is not written yet, issue #13)"

enum detach_how { BY_CLOSE, BY_KILLED_INTROSPECTOR };

static pid_t fork_introspector(pid_t vmm, int *ready)
{
	int fds[2];
	pid_t pid;
	char c;

	ASSERT_EQ(pipe(fds), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct vmiop_ring *ring;
		struct vmiop *v;

		if (vmiop_open(&v) || vmiop_attach_pid(v, vmm) || vmiop_ring_setup(v, 4, &ring))
			_exit(1);
		enable_intercepting_events(v);
		if (write(fds[1], "a", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ASSERT_EQ(read(fds[0], &c, 1), 1);
	*ready = fds[0];
	return pid;
}

static void detach_in_l2(enum detach_how how)
{
	struct vmiop *v = NULL;
	struct vmiop_ring *ring;
	struct tvm_vcpu *vcpu;
	struct tvm *tvm;
	long refcnt = vmiop_refcnt();
	pid_t in = -1;
	int ready = -1, status;

	tvm = tvm_create(1, 0);
	if (!nested_svm_available(tvm)) {
		tvm_destroy(tvm);
		SKIP(NO_SVM_L2);
	}
	vcpu = tvm_vcpu(tvm, 0);
	if (how == BY_CLOSE) {
		v = vt_attach(tvm);
		ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
		enable_intercepting_events(v);
	} else {
		in = fork_introspector(getpid(), &ready);
	}
	tvm_vcpu_entry(vcpu, guest_l1, 0);
	l2_prepare(tvm, vcpu);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_wait_syncs(vcpu, 1), TVM_THREAD_RUNNING);
	ASSERT_EQ(tvm_vcpu_thread_syncs(vcpu, NULL), 1);

	/* The vCPU is in L2 (it said so, and L2 runs until released). */
	if (how == BY_CLOSE) {
		vmiop_close(v);
	} else {
		ASSERT_EQ(kill(in, SIGKILL), 0);
		ASSERT_EQ(waitpid(in, &status, 0), in);
		close(ready);
	}
	*TVM_GUEST_VAR(tvm, l2_release) = 1;
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l1_bad_exit), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l1_breakpoints), 1);
	/* Back in L1, the vCPU gave the intercepts back: the session is gone. */
	VT_WAIT_UNTIL(vmiop_refcnt() == refcnt);
	tvm_destroy(tvm);
}

TEST(detach_by_close_while_in_l2_then_l1_and_l2_finish)
{
	detach_in_l2(BY_CLOSE);
}

TEST(introspector_killed_while_in_l2_then_l1_and_l2_finish)
{
	detach_in_l2(BY_KILLED_INTROSPECTOR);
}

/*
 * The VMM dies while its vCPU runs L2, before (@close_first false) or
 * after the session is closed: the session's last trace goes with it.
 */
static void vmm_exit_in_l2(bool close_first)
{
	long refcnt = vmiop_refcnt();
	int to_vmm[2], from_vmm[2], status;
	struct vmiop *v;
	pid_t vmm;
	char c;

	{
		struct tvm *probe = tvm_create(1, 0);
		bool ok = nested_svm_available(probe);

		tvm_destroy(probe);
		if (!ok)
			SKIP(NO_SVM_L2);
	}
	ASSERT_EQ(pipe(to_vmm), 0);
	ASSERT_EQ(pipe(from_vmm), 0);
	vmm = fork();
	ASSERT_GE(vmm, 0);
	if (vmm == 0) {
		struct tvm *tvm = tvm_create(1, 0);
		struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);

		tvm_vcpu_entry(vcpu, guest_l1, 0);
		l2_prepare(tvm, vcpu);
		/* The VM is there; the parent attaches, then lets it run. */
		if (write(from_vmm[1], "c", 1) != 1 || read(to_vmm[0], &c, 1) != 1)
			_exit(1);
		tvm_vcpu_thread_start(vcpu, NULL, NULL);
		if (tvm_vcpu_thread_wait_syncs(vcpu, 1) != TVM_THREAD_RUNNING ||
		    write(from_vmm[1], "2", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(to_vmm[0]);
	close(from_vmm[1]);
	ASSERT_EQ(read(from_vmm[0], &c, 1), 1);
	ASSERT_EQ(c, 'c');
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid(v, vmm), 0);
	ASSERT_TRUE(vt_ring_setup(v, 8) != NULL);
	enable_intercepting_events(v);
	ASSERT_EQ(write(to_vmm[1], "g", 1), 1);
	ASSERT_EQ(read(from_vmm[0], &c, 1), 1);
	ASSERT_EQ(c, '2');
	/* Its vCPU runs L2 now (it said so, and L2 runs until released). */
	if (close_first)
		vmiop_close(v);
	ASSERT_EQ(kill(vmm, SIGKILL), 0);
	ASSERT_EQ(waitpid(vmm, &status, 0), vmm);
	if (!close_first)
		vmiop_close(v);
	VT_WAIT_UNTIL(vmiop_refcnt() == refcnt);
	close(to_vmm[1]);
	close(from_vmm[0]);
}

TEST(vmm_killed_while_in_l2_then_session_closed)
{
	vmm_exit_in_l2(false);
}

TEST(session_closed_while_in_l2_then_vmm_killed)
{
	vmm_exit_in_l2(true);
}

/* ---- single-stepping L1 across its L2 ---------------------------------- */

extern const char vt_nest0[], vt_vmrun[], vt_nest_after[], vt_nest1[], vt_nest2[];
static volatile uint64_t l2_db_seen;

static bool l2_on_own_step(struct tvm_exc_frame *f)
{
	if (f->vector != 1)
		return false;
	l2_db_seen++;
	f->rflags &= ~(uint64_t)RFLAGS_TF;
	return true;
}

/* L2 steps one instruction itself (its own TF, its own #DB handler). */
static void l2_steps_itself(void)
{
	__asm__ __volatile__("pushfq; orq $0x100, (%%rsp); popfq; nop; nop" : : : "memory", "cc");
	for (;;)
		__asm__ __volatile__("vmmcall" : : : "memory");
}

static void guest_l1_stepped(uint64_t arg)
{
	uint64_t vmcb = (uintptr_t)l2_vmcb;

	(void)arg;
	tvm_guest_set_exc_handler(l2_on_own_step);
	guest_wrmsr(MSR_EFER, guest_rdmsr(MSR_EFER) | EFER_SVME);
	guest_wrmsr(MSR_VM_HSAVE_PA, (uintptr_t)l2_hsave);
	GUEST_SYNC(1);		/* the host starts stepping this vCPU */
	__asm__ __volatile__("push %%rbp\n"
			     ".globl vt_nest0\n vt_nest0: nop\n"
			     ".globl vt_vmrun\n vt_vmrun: vmrun %%rax\n"
			     ".globl vt_nest_after\n vt_nest_after: stgi\n"
			     ".globl vt_nest1\n vt_nest1: pop %%rbp\n"
			     ".globl vt_nest2\n vt_nest2: nop"
			     : "+a"(vmcb)
			     :
			     : "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
			       "r12", "r13", "r14", "r15", "memory", "cc");
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * vmiop steps L1 with the trap flag (AMD): VMRUN is one step, L2 is none
 * of vmiop's business (its own step trap reaches its own handler), and
 * stepping goes on in L1 where L2 returns.
 */
TEST(singlestep_of_l1_steps_over_its_l2)
{
	static const char *const after[] = { vt_nest_after, vt_nest1, vt_nest2 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	unsigned int i;

	if (!nested_svm_available(tvm)) {
		vmiop_close(v);
		tvm_destroy(tvm);
		SKIP(NO_SVM_L2);
	}
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_l1_stepped, 0);
	l2_prepare(tvm, vcpu);
	vmcb_put((uint8_t *)TVM_GUEST_VAR(tvm, l2_vmcb), VMCB_RIP, (uintptr_t)l2_steps_itself, 8);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);

	/* Through the ucall's return to the VMRUN. */
	for (i = 0; i < 200; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		if (ev->singlestep.gva == (uintptr_t)vt_vmrun)
			break;
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(ev->singlestep.gva, (uintptr_t)vt_vmrun);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	for (i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		EXPECT_EQ(ev->singlestep.gva, (uintptr_t)after[i]);
		if (i == 2)
			ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l2_db_seen), 1);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
