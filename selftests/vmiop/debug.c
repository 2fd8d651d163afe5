// SPDX-License-Identifier: GPL-2.0
/*
 * Breakpoint, single-step and debug-exception events: each reply's effect
 * on the guest, the VMM's own guest debugging alongside vmiop's, and the
 * guest left as it was by a detach or a killed introspector.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define RFLAGS_TF (1ULL << 8)
#define DR6_BS (1ULL << 14)

/*
 * Guest code is in asm where the test needs exact instruction addresses:
 * the labels are global symbols, and guest-virtual == host address.
 */
extern const char vt_bp1[], vt_bp2[], vt_bp2_end[], vt_bp3[], vt_bp3_end[];
extern const char vt_ss0[], vt_ss1[], vt_ss2[], vt_ss3[], vt_ss4[], vt_ss5[];
extern const char vt_ss6[], vt_ss7[], vt_ice[], vt_ice_end[];
extern const char vt_mtf_ud[], vt_mtf_ud_end[], vt_fp_wrmsr[], vt_fp_after[];
extern const char vt_mmio_read[], vt_mmio_after[], vt_irq_cpuid[], vt_irq_after[];
extern const char vt_cr8[], vt_cr8_after[], vt_hlt_after[];
extern const char tvm_guest_idt_stubs[];	/* lib/guest.c: 16 bytes per vector */
extern const char vt_ss3a[], vt_ss3b[], vt_ss3c[];
extern const char vt_db1[], vt_db2[], vt_db3[], vt_db4[], vt_db5[];
extern const char vt_vbp1[], vt_vbp2[], vt_vbp3[], vt_vbp3_end[];
extern const char vt_inj_cpuid[], vt_inj_wrmsr[], vt_inj_cr4[], vt_ud2[];
extern const char vt_fs1[], vt_fs2[], vt_rbp[], vt_rbp_next[];
extern const char vt_lgdt[], vt_lgdt_end[];

/* What the guest's own handlers saw: the RIP each exception pushed. */
static uint64_t guest_seen[8];
static uint64_t guest_seen_count;
static uint64_t guest_rflags_after, guest_rflags_inside, guest_flags16_inside;

static bool guest_on_exception(struct tvm_exc_frame *f)
{
	if (f->vector != 1 && f->vector != 3)
		return false;
	if (guest_seen_count < 8)
		guest_seen[guest_seen_count] = f->rip;
	guest_seen_count++;
	f->rflags &= ~RFLAGS_TF;	/* a #DB from the guest's own TF: stop */
	return true;
}

static uint64_t guest_seen_rip(struct tvm *tvm, unsigned int i)
{
	return (*TVM_GUEST_VAR(tvm, guest_seen))[i];
}

/* Each thread's on_sync gets the session: SYNC(1) disables @type. */
struct sync_action {
	struct vmiop *v;
	unsigned int type;
	bool enable;
};

static bool sync_toggle(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct sync_action *a = opaque;

	(void)vcpu;
	if (uc->args[0] != 1)
		return true;
	if (a->enable)
		return vmiop_event_enable(a->v, a->type, 0, NULL, 0) == 0;
	return vmiop_event_disable(a->v, a->type, -1) == 0;
}

static void reply(struct vmiop *v, struct vmiop_ring *ring, struct vmiop_event *ev,
		  uint32_t action)
{
	struct vmiop_event_reply r = { .action = action };

	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);
}

/* ---- INT3 -------------------------------------------------------------- */

/*
 * Replies "continue" to single-steps until one lands on @gva, within
 * @max; returns that one unanswered.  *@others (optional): how many came
 * before it.
 */
static struct vmiop_event *step_to(struct vmiop *v, struct vmiop_ring *ring, const char *gva,
				   unsigned int max, unsigned int *others)
{
	struct vmiop_event *ev = NULL;
	unsigned int i;

	for (i = 0; i < max; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		if (ev->singlestep.gva == (uintptr_t)gva)
			break;
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_TRUE(ev != NULL);
	ASSERT_EQ(ev->singlestep.gva, (uintptr_t)gva);
	if (others)
		*others = i;
	return ev;
}

static void guest_breakpoints(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_exception);
	__asm__ __volatile__(
		".globl vt_bp1\n vt_bp1: int3\n"
		".globl vt_bp2\n vt_bp2: int3\n"
		".globl vt_bp2_end\n vt_bp2_end:\n" ::: "memory");
	GUEST_SYNC(1);
	__asm__ __volatile__(
		".globl vt_bp3\n vt_bp3: int3\n"
		".globl vt_bp3_end\n vt_bp3_end:\n" ::: "memory");
	GUEST_DONE();
}

static void guest_one_int3(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_exception);
	__asm__ __volatile__("int3" ::: "memory");
	GUEST_DONE();
}

/*
 * Whether this machine's KVM can intercept INT3 at all, vmiop aside: its
 * own KVM_GUESTDBG_USE_SW_BP.  Real CPUs can; QEMU's TCG does not apply a
 * nested guest's #BP exception intercept to INT3 (it checks INT3 against
 * the INTn intercept instead), so KVM never sees it there.
 */
static void skip_unless_kvm_intercepts_int3(void)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct kvm_guest_debug dbg = {
		.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP,
	};
	bool intercepted;

	ASSERT_EQ(ioctl(tvm_vcpu_fd(vcpu), KVM_SET_GUEST_DEBUG, &dbg), 0);
	tvm_vcpu_entry(vcpu, guest_one_int3, 0);
	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	intercepted = tvm_vcpu_run_state(vcpu)->exit_reason == KVM_EXIT_DEBUG;
	tvm_destroy(tvm);
	if (!intercepted)
		SKIP("KVM's own KVM_GUESTDBG_USE_SW_BP does not intercept INT3 on this "
		     "machine (QEMU TCG's nested SVM ignores the #BP intercept for INT3; "
		     "selftests/vm/README.md)");
}

TEST(breakpoint_consumed_reinjected_then_disabled)
{
	struct vmiop_event_reply bad = { .action = VMIOP_ACTION_SET_RESULT };
	struct sync_action off = { NULL, VMIOP_EVENT_BREAKPOINT, false };
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct tvm *tvm;
	struct vmiop *v;

	skip_unless_kvm_intercepts_int3();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	off.v = v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
	tvm_vcpu_entry(vcpu, guest_breakpoints, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &off);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_BREAKPOINT);
	EXPECT_EQ(ev->seq, 1);
	EXPECT_EQ(ev->breakpoint.gva, (uintptr_t)vt_bp1);
	EXPECT_EQ(ev->breakpoint.insn_len, 1);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_bp1);
	/* A breakpoint takes no value. */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad), EINVAL);
	reply(v, ring, ev, VMIOP_ACTION_SKIP);	/* consumed: the guest never sees it */

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_BREAKPOINT);
	EXPECT_EQ(ev->breakpoint.gva, (uintptr_t)vt_bp2);
	EXPECT_EQ(ev->breakpoint.insn_len, 1);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);	/* re-injected */

	/* SYNC(1) disabled the class: the third INT3 goes to the guest alone. */
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 2);
	EXPECT_EQ(guest_seen_rip(tvm, 0), (uintptr_t)vt_bp2_end);
	EXPECT_EQ(guest_seen_rip(tvm, 1), (uintptr_t)vt_bp3_end);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * The VMM debugging the guest itself (a gdbstub: KVM_SET_GUEST_DEBUG with
 * software breakpoints) keeps its breakpoints, with vmiop's enabled and
 * after vmiop detaches.
 */
static void guest_vmm_breakpoints(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_exception);
	__asm__ __volatile__(
		".globl vt_vbp1\n vt_vbp1: int3\n"
		".globl vt_vbp2\n vt_vbp2: int3\n"
		".globl vt_vbp3\n vt_vbp3: int3\n"
		".globl vt_vbp3_end\n vt_vbp3_end:\n" ::: "memory");
	GUEST_DONE();
}

/* Runs @vcpu to a KVM_EXIT_DEBUG for an INT3 at @gva and steps over it. */
static void expect_vmm_breakpoint(struct tvm_vcpu *vcpu, const char *gva)
{
	struct kvm_run *run = tvm_vcpu_run_state(vcpu);
	struct kvm_regs regs;

	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	if (run->exit_reason != KVM_EXIT_DEBUG)
		tvm_vcpu_fail_exit(vcpu, "expected the VMM's own breakpoint exit");
	EXPECT_EQ(run->debug.arch.exception, 3);
	EXPECT_EQ(run->debug.arch.pc, (uintptr_t)gva);
	tvm_get_regs(vcpu, &regs);
	regs.rip += 1;
	tvm_set_regs(vcpu, &regs);
}

TEST(vmm_guest_debugging_keeps_its_breakpoints)
{
	struct kvm_guest_debug dbg = {
		.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP,
	};
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct tvm *tvm;
	struct vmiop *v;
	struct ucall uc;

	skip_unless_kvm_intercepts_int3();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	v = vt_attach(tvm);

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(ioctl(tvm_vcpu_fd(vcpu), KVM_SET_GUEST_DEBUG, &dbg), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
	tvm_vcpu_entry(vcpu, guest_vmm_breakpoints, 0);

	expect_vmm_breakpoint(vcpu, vt_vbp1);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	/* Detach gave back the VMM's flags, not none. */
	expect_vmm_breakpoint(vcpu, vt_vbp2);
	dbg.control = 0;
	ASSERT_EQ(ioctl(tvm_vcpu_fd(vcpu), KVM_SET_GUEST_DEBUG, &dbg), 0);
	EXPECT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 1);
	EXPECT_EQ(guest_seen_rip(tvm, 0), (uintptr_t)vt_vbp3_end);
	tvm_destroy(tvm);
}

TEST(introspector_killed_mid_breakpoint)
{
	struct vt_introspector in;
	struct tvm_vcpu *vcpu;
	struct tvm *tvm;

	skip_unless_kvm_intercepts_int3();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);

	in = vt_fork_introspector(VMIOP_EVENT_BREAKPOINT);
	tvm_vcpu_entry(vcpu, guest_vmm_breakpoints, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	vt_introspector_wait_event(&in);
	EXPECT_EQ(tvm_vcpu_thread_state(vcpu), TVM_THREAD_RUNNING);
	vt_introspector_kill(&in);
	/* The pending one is re-injected, the rest never intercepted. */
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 3);
	EXPECT_EQ(guest_seen_rip(tvm, 2), (uintptr_t)vt_vbp3_end);
	tvm_destroy(tvm);
}

/* ---- single-step ------------------------------------------------------- */

static void guest_singlestep(uint64_t arg)
{
	uint64_t rflags, inside, inside16 = 0, leaf = 0;

	(void)arg;
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	__asm__ __volatile__(
		".globl vt_ss0\n vt_ss0: nop\n"
		".globl vt_ss1\n vt_ss1: mov $5, %%ecx\n"
		".globl vt_ss2\n vt_ss2: add %%ecx, %%ecx\n"
		/*
		 * CPUID, RDMSR, WRMSR exit and KVM completes them itself
		 * (through inlined copies of kvm_skip_emulated_instruction for
		 * the MSRs): stepped all the same.  PAT is written unchanged.
		 */
		".globl vt_ss3\n vt_ss3: cpuid\n"
		".globl vt_ss3a\n vt_ss3a: mov $0x277, %%ecx\n"
		".globl vt_ss3b\n vt_ss3b: rdmsr\n"
		".globl vt_ss3c\n vt_ss3c: wrmsr\n"
		/* what the guest sees of RFLAGS while stepped, 8 and 2 bytes */
		".globl vt_ss4\n vt_ss4: pushfq\n"
		".globl vt_ss5\n vt_ss5: popq %%rbx\n"
		".globl vt_ss6\n vt_ss6: pushfw\n"
		".globl vt_ss7\n vt_ss7: popw %%si\n"
		: "=b"(inside), "+a"(leaf), "=S"(inside16) : : "rcx", "rdx", "memory");
	guest_rflags_inside = inside;
	guest_flags16_inside = inside16 & 0xffff;
	__asm__ __volatile__("pushfq; popq %0" : "=r"(rflags));
	guest_rflags_after = rflags;
	GUEST_DONE();
}

TEST(singlestep_every_instruction_until_disabled)
{
	static const char *const steps[] = {
		vt_ss2, vt_ss3, vt_ss3a, vt_ss3b, vt_ss3c, vt_ss4, vt_ss5, vt_ss6,
		vt_ss7,
	};
	const unsigned int nr_steps = sizeof(steps) / sizeof(steps[0]);
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_event_reply skip = { .action = VMIOP_ACTION_SKIP };
	struct vmiop_event_caps caps;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct vmiop_regs regs;
	unsigned int i;

	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_singlestep, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);

	/* Steps through the ucall's return until the one after vt_ss0. */
	for (i = 0; i < 64; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		if (i == 0)	/* stepping takes no "skip" */
			ASSERT_ERRNO(vmiop_event_reply(v, ev, &skip), EINVAL);
		if (ev->singlestep.gva == (uintptr_t)vt_ss1)
			break;
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(ev->singlestep.gva, (uintptr_t)vt_ss1);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);

	for (i = 0; i < nr_steps; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		EXPECT_EQ(ev->vcpu, 0);
		EXPECT_EQ(ev->singlestep.gva, (uintptr_t)steps[i]);
		EXPECT_EQ(ev->regs.rip, (uintptr_t)steps[i]);
		EXPECT_TRUE(ev->singlestep.dr6 & DR6_BS);
		EXPECT_EQ(ev->singlestep.method, caps.singlestep);
		EXPECT_EQ(ev->singlestep.reserved, 0);
		/* KVM's own TF is not part of the guest's state. */
		EXPECT_EQ(ev->regs.rflags & RFLAGS_TF, 0);
		if (i == 0)
			EXPECT_EQ(ev->regs.rcx, 5);
		if (i == 1)
			EXPECT_EQ(ev->regs.rcx, 10);
		if (i == 2)	/* CPUID leaf 0 ran: EAX is the highest leaf */
			EXPECT_NE(ev->regs.rax, 0);
		ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
		EXPECT_EQ(regs.rip, (uintptr_t)steps[i]);
		EXPECT_EQ(regs.rflags & RFLAGS_TF, 0);
		if (i == nr_steps - 1)
			ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	/* Stepping is off and left no TF behind. */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_rflags_after) & RFLAGS_TF, 0);
	/*
	 * TF steps put RFLAGS.TF where PUSHF copies it to the stack: vmiop
	 * takes it out of the copy (and MTF steps never set it), so the guest
	 * sees its own flags (IF set, as the test guest runs) whatever the
	 * operand size.
	 */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_rflags_inside) & RFLAGS_TF, 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_flags16_inside) & RFLAGS_TF, 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_rflags_inside) & 0xffff,
		  *TVM_GUEST_VAR(tvm, guest_flags16_inside));
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* A #DB handler that leaves RFLAGS alone: vmiop's stepping resumes after it. */
static bool guest_on_db_keep_flags(struct tvm_exc_frame *f)
{
	if (f->vector != 1)
		return false;
	if (guest_seen_count < 8)
		guest_seen[guest_seen_count] = f->rip;
	guest_seen_count++;
	return true;
}

static uint64_t guest_icebp_vector;

static bool guest_on_icebp_probe(struct tvm_exc_frame *f)
{
	guest_icebp_vector = f->vector;
	if (f->vector != 1)
		f->rip += 1;	/* a fault on the one-byte ICEBP: past it */
	return true;
}

static void guest_one_icebp(uint64_t arg)
{
	(void)arg;
	guest_icebp_vector = ~0ull;
	tvm_guest_set_exc_handler(guest_on_icebp_probe);
	__asm__ __volatile__(".byte 0xf1" ::: "memory");
	GUEST_DONE();
}

/* Whether this machine's guests get #DB from ICEBP at all, vmiop aside. */
static void skip_unless_icebp_raises_db(void)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t vector;

	tvm_vcpu_entry(vcpu, guest_one_icebp, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	vector = *TVM_GUEST_VAR(tvm, guest_icebp_vector);
	tvm_destroy(tvm);
	if (vector != 1)
		SKIP("a nested guest's ICEBP raises vector %llu here, not #DB, without "
		     "vmiop too (QEMU TCG; selftests/vm/README.md)", (unsigned long long)vector);
}

static void guest_icebp_stepped(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_db_keep_flags);
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	__asm__ __volatile__(".globl vt_ice\n vt_ice: .byte 0xf1\n"
			     ".globl vt_ice_end\n vt_ice_end: nop\n nop\n" ::: "memory");
	GUEST_DONE();
}

/*
 * ICEBP (INT1) raises the guest's own #DB while vmiop steps: the guest's
 * handler gets it once, past the instruction (VMX exits on the ICEBP
 * itself, so it is skipped as KVM would), and stepping goes on after (with
 * the monitor trap flag through the handler too).
 */
TEST(icebp_while_stepped_reaches_the_guest_once)
{
	struct tvm *tvm;
	struct tvm_vcpu *vcpu;
	struct vmiop *v;
	struct sync_action on = { NULL, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	skip_unless_icebp_raises_db();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	on.v = v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_icebp_stepped, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	ev = step_to(v, ring, vt_ice_end + 1, 4096, NULL);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 1);
	EXPECT_EQ(guest_seen_rip(tvm, 0), (uintptr_t)vt_ice_end);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static uint64_t guest_ud_rflags;

static bool guest_on_mtf_ud(struct tvm_exc_frame *f)
{
	if (f->vector != 6)
		return false;
	guest_ud_rflags = f->rflags;
	f->rip += 2;		/* past the UD2 */
	return true;
}

static void guest_ud_stepped(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_mtf_ud);
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	/* The NOP completes stepped: its step lands on the UD2. */
	__asm__ __volatile__("nop\n .globl vt_mtf_ud\n vt_mtf_ud: ud2\n"
			     ".globl vt_mtf_ud_end\n vt_mtf_ud_end: nop\n nop\n" ::: "memory");
	GUEST_DONE();
}

/*
 * With the monitor trap flag, an exception raised mid-step is stepped
 * from its handler's first instruction, and its frame holds the guest's
 * own RFLAGS: no TF to find there.
 */
TEST(mtf_steps_into_exception_handlers)
{
	const uintptr_t ud_handler = (uintptr_t)tvm_guest_idt_stubs + 16 * 6;
	struct sync_action on = { NULL, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_event_caps caps;
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	unsigned int in_handler;
	struct vmiop *v;
	struct tvm *tvm;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	vmiop_close(v);
	if (caps.singlestep != VMIOP_STEP_MTF)
		SKIP("single-steps use RFLAGS.TF on this host (SVM): handlers run unstepped");
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	on.v = v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_ud_stepped, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	ev = step_to(v, ring, vt_mtf_ud, 256, NULL);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);

	/* The UD2 does not complete: the next step is the handler's start. */
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	EXPECT_EQ(ev->singlestep.gva, ud_handler);
	EXPECT_EQ(ev->regs.rip, ud_handler);
	EXPECT_EQ(ev->singlestep.method, VMIOP_STEP_MTF);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);

	/* Through the handler and its IRET, to the instruction after UD2. */
	ev = step_to(v, ring, vt_mtf_ud_end + 1, 4096, &in_handler);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	/* The handler's C code ran stepped: more than the stub's few steps. */
	EXPECT_GT(in_handler, 16);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_ud_rflags) & RFLAGS_TF, 0);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

#define LAPIC_GVA	0x7f0000600000ULL

static void guest_mmio_read(uint64_t arg)
{
	uint32_t version;

	(void)arg;
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	/* The in-kernel LAPIC's version register: KVM emulates the load. */
	__asm__ __volatile__("nop\n .globl vt_mmio_read\n vt_mmio_read: movl (%1), %0\n"
			     ".globl vt_mmio_after\n vt_mmio_after: nop\n"
			     : "=a"(version) : "r"(LAPIC_GVA + 0x30) : "memory");
	(void)version;
	GUEST_DONE();
}

/* An instruction KVM's emulator completes (MMIO) is one step, its result in. */
TEST(emulated_mmio_read_is_stepped)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	tvm_map(tvm, LAPIC_GVA, 0xfee00000, TVM_PAGE_4K, TVM_PTE_W | TVM_PTE_PCD | TVM_PTE_PWT);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_mmio_read, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	ev = step_to(v, ring, vt_mmio_read, 64, NULL);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	EXPECT_EQ(ev->singlestep.gva, (uintptr_t)vt_mmio_after);
	/* KVM's LAPIC is version 0x14. */
	EXPECT_EQ(ev->regs.rax & 0xff, 0x14);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* The guest's LAPIC in x2APIC mode (its registers are MSRs), enabled. */
static void guest_x2apic_on(void)
{
	guest_wrmsr(0x1b, guest_rdmsr(0x1b) | 1u << 10);	/* APIC_BASE.EXTD */
	guest_wrmsr(0x80f, 0x1ff);		/* SVR: software-enabled */
}

static void guest_fastpath_wrmsr(uint64_t arg)
{
	(void)arg;
	/* x2APIC mode: its ICR is an MSR KVM writes in its IRQs-off fastpath. */
	guest_x2apic_on();
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	/* A fixed IPI to an x2APIC ID no vCPU has: sent nowhere. */
	__asm__ __volatile__("nop\n .globl vt_fp_wrmsr\n vt_fp_wrmsr: wrmsr\n"
			     ".globl vt_fp_after\n vt_fp_after: nop\n"
			     : : "c"(0x830), "a"(0x40), "d"(0x55) : "memory");
	GUEST_DONE();
}

/*
 * KVM completes some WRMSRs (x2APIC ICR, TSC deadline) with IRQs off,
 * before it could wait for anyone: the step over one is reported all
 * the same, once the vCPU reaches a park point.
 */
TEST(fastpath_wrmsr_is_stepped)
{
	struct sync_action on = { NULL, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_event_caps caps;
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct vmiop *v;
	struct tvm *tvm;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	vmiop_close(v);
	if (caps.singlestep != VMIOP_STEP_MTF)
		SKIP("single-steps use RFLAGS.TF on this host (SVM): KVM's fastpath WRMSRs "
		     "go unreported (README, Known limits)");
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	on.v = v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_fastpath_wrmsr, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	/* Through the ucall's return and the operands' loads. */
	ev = step_to(v, ring, vt_fp_wrmsr, 64, NULL);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	EXPECT_EQ(ev->singlestep.gva, (uintptr_t)vt_fp_after);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_halts_stepped(uint64_t arg)
{
	(void)arg;
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	/* Nothing will ever interrupt this halt. */
	__asm__ __volatile__("nop\n hlt\n .globl vt_hlt_after\n vt_hlt_after: nop\n" ::: "memory");
	GUEST_DONE();
}

/*
 * The step over a HLT comes while the vCPU halts.  A signal takes the
 * vCPU out of KVM_RUN before the reply; back in KVM_RUN it is still
 * halted, and waits for the reply there (register calls work on it) rather
 * than sleeping until an interrupt that never comes.
 */
TEST(halted_vcpu_waits_for_its_reply_after_a_signal)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct vmiop_regs regs;
	uint64_t runs;
	unsigned int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_halts_stepped, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	ev = step_to(v, ring, vt_hlt_after, 64, NULL);

	runs = tvm_vcpu_thread_runs(vcpu);
	tvm_vcpu_kick(vcpu);
	for (i = 0; i < 1000 && tvm_vcpu_thread_runs(vcpu) == runs; i++)
		usleep(10000);
	ASSERT_NE(tvm_vcpu_thread_runs(vcpu), runs);
	/* Back in KVM_RUN, waiting for the reply in vmiop, not halted in KVM. */
	VT_WAIT_UNTIL(vt_thread_sleeps_in(tvm_vcpu_thread_tid(vcpu), "vmiop_park_wait"));
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	EXPECT_EQ(regs.rip, (uintptr_t)vt_hlt_after);

	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	/* Halted for good: only a stop ends it. */
	EXPECT_EQ(tvm_vcpu_thread_stop(vcpu), TVM_THREAD_STOPPED);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(detach_mid_singlestep_clears_the_trap_flag)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_ring *ring;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_singlestep, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	ASSERT_TRUE(vt_next_event(v, ring) != NULL);
	vmiop_close(v);		/* no reply */
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_rflags_after) & RFLAGS_TF, 0);
	tvm_destroy(tvm);
}

/* ---- the guest's own #DB ----------------------------------------------- */

static void guest_own_trap_flag(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_exception);
	/* POPF sets TF: #DB after the instruction that follows it. */
	__asm__ __volatile__(
		"pushfq; orq $0x100, (%%rsp); popfq\n"
		".globl vt_db1\n vt_db1: nop\n"
		".globl vt_db2\n vt_db2: nop\n"
		".globl vt_db3\n vt_db3: nop\n" ::: "memory", "cc");
	GUEST_SYNC(1);
	__asm__ __volatile__(
		"pushfq; orq $0x100, (%%rsp); popfq\n"
		".globl vt_db4\n vt_db4: nop\n"
		".globl vt_db5\n vt_db5: nop\n" ::: "memory", "cc");
	GUEST_DONE();
}

TEST(debug_exception_swallowed_delivered_then_disabled)
{
	static const struct vmiop_filter_range db_only = { 1, 1 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action off = { v, VMIOP_EVENT_DEBUG, false };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DEBUG, -1, &db_only, 1), 0);
	tvm_vcpu_entry(vcpu, guest_own_trap_flag, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &off);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_DEBUG);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_db2);
	EXPECT_TRUE(ev->debug.dr6 & DR6_BS);
	/* Swallowed: TF stays set, so the next instruction traps again. */
	reply(v, ring, ev, VMIOP_ACTION_SKIP);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_DEBUG);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_db3);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);	/* the guest's handler runs */

	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 2);
	EXPECT_EQ(guest_seen_rip(tvm, 0), (uintptr_t)vt_db3);
	EXPECT_EQ(guest_seen_rip(tvm, 1), (uintptr_t)vt_db5);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A data breakpoint of the guest's own: DR0 on a variable, DR7 L0 with
 * R/W0 = 01 (writes) and LEN0 = 11 (4 bytes).  The #DB is a trap: RIP is
 * past the write.
 */
static volatile uint32_t watched;
static uint64_t guest_dr6_seen[4];
static uint64_t guest_dr6_count;

static bool guest_on_watch(struct tvm_exc_frame *f)
{
	uint64_t dr6;

	if (f->vector != 1)
		return false;
	__asm__ __volatile__("mov %%dr6, %0" : "=r"(dr6));
	guest_dr6_seen[guest_dr6_count++ & 3] = dr6;
	__asm__ __volatile__("mov %0, %%dr6" : : "r"(0xffff0ff0ull));
	return true;
}

static void guest_watchpoint(uint64_t writes)
{
	uint64_t i;

	tvm_guest_set_exc_handler(guest_on_watch);
	__asm__ __volatile__("mov %0, %%dr0" : : "r"((uint64_t)(uintptr_t)&watched));
	__asm__ __volatile__("mov %0, %%dr7" : : "r"((3ull << 18) | (1ull << 16) | 1));
	for (i = 0; i < writes; i++)
		watched = i;
	__asm__ __volatile__("mov %0, %%dr7" : : "r"(0ull));
	GUEST_DONE();
}

/* Whether this machine delivers the guest's data breakpoints at all. */
static void skip_unless_data_breakpoints(void)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct ucall uc;
	uint64_t hits;

	tvm_vcpu_entry(vcpu, guest_watchpoint, 1);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_DONE);
	hits = *TVM_GUEST_VAR(tvm, guest_dr6_count);
	tvm_destroy(tvm);
	if (hits != 1)
		SKIP("the emulator raised %llu #DB for a DR0 write watchpoint, not 1",
		     (unsigned long long)hits);
}

/*
 * QEMU's TCG lost a nested guest's data breakpoint about once in forty
 * runs: the #DB never came (guest, KVM and vmiop saw none).  Its
 * watchpoints are per emulated CPU, and the vCPU thread may move between
 * the two L1 CPUs; kept on one CPU, no loss has been seen
 * (selftests/vm/README.md).
 */
static void stay_on_one_cpu(void)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
}

TEST(debug_event_for_a_guest_data_breakpoint)
{
	static const struct vmiop_filter_range db_only = { 1, 1 };
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct tvm *tvm;
	struct vmiop *v;
	int i;

	stay_on_one_cpu();
	skip_unless_data_breakpoints();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DEBUG, -1, &db_only, 1), 0);
	tvm_vcpu_entry(vcpu, guest_watchpoint, 3);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 3; i++) {
		int waited;

		/* Say where things stand if an event does not come. */
		for (waited = 0; waited < 60 && !vmiop_ring_ready(ring); waited++)
			vmiop_event_wait(v, 1000);
		if (!vmiop_ring_ready(ring)) {
			struct vmiop_regs r = { 0 };

			vmiop_pause(v);
			vmiop_get_regs(v, 0, &r);
			vmtest_diag("no event %d: guest #DBs %llu, thread %d, rip %#llx dr6 %#llx "
				    "dr7 %#llx, exits %llu", i,
				    (unsigned long long)*TVM_GUEST_VAR(tvm, guest_dr6_count),
				    (int)tvm_vcpu_thread_state(vcpu), (unsigned long long)r.rip,
				    (unsigned long long)r.dr6, (unsigned long long)r.dr7,
				    (unsigned long long)tvm_vcpu_stat(vcpu, "exits"));
			vmtest_fail_now();
		}
		ev = vmiop_ring_peek(ring);
		ASSERT_EQ(ev->type, VMIOP_EVENT_DEBUG);
		EXPECT_TRUE(ev->debug.dr6 & 1);			/* B0 */
		EXPECT_EQ(ev->debug.dr7 & 0xf0003, (3u << 18) | (1u << 16) | 1);
		EXPECT_EQ(ev->regs.dr0, (uintptr_t)&watched);
		/* the second is swallowed, the others delivered */
		reply(v, ring, ev, i == 1 ? VMIOP_ACTION_SKIP : VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_dr6_count), 2);
	EXPECT_TRUE((*TVM_GUEST_VAR(tvm, guest_dr6_seen))[0] & 1);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* ---- replies that inject, retry, or step once --------------------------- */

#define CR4_PSE (1ULL << 4)
#define MSR_PAT 0x277

/* What the guest's fault handler saw for each injected exception. */
struct guest_fault {
	uint64_t vector, error_code, rip, cr2;
};
static struct guest_fault guest_faults[4];
static uint64_t guest_fault_count;
static uint64_t guest_cr4_after;

/* Records the fault and resumes after the faulting instruction. */
static bool guest_on_fault(struct tvm_exc_frame *f)
{
	struct guest_fault *g = &guest_faults[guest_fault_count++ & 3];
	uint64_t cr2;

	__asm__ __volatile__("mov %%cr2, %0" : "=r"(cr2));
	g->vector = f->vector;
	g->error_code = f->error_code;
	g->rip = f->rip;
	g->cr2 = cr2;
	/* cpuid, wrmsr, ud2: 2 bytes; mov %rax, %cr4: 3 */
	f->rip += f->rip == (uintptr_t)vt_inj_cr4 ? 3 : 2;
	return true;
}

static void guest_faulting_instructions(uint64_t arg)
{
	uint32_t leaf = 0x40000150, subleaf = 0;
	uint64_t cr4;

	(void)arg;
	tvm_guest_set_exc_handler(guest_on_fault);
	__asm__ __volatile__(".globl vt_inj_cpuid\n vt_inj_cpuid: cpuid"
			     : "+a"(leaf), "+c"(subleaf) : : "rbx", "rdx", "memory");
	__asm__ __volatile__(".globl vt_inj_wrmsr\n vt_inj_wrmsr: wrmsr"
			     : : "c"(MSR_PAT), "a"(0), "d"(0) : "memory");
	__asm__ __volatile__("mov %%cr4, %0" : "=r"(cr4));
	__asm__ __volatile__(".globl vt_inj_cr4\n vt_inj_cr4: mov %%rax, %%cr4"
			     : : "a"(cr4 | CR4_PSE) : "memory");
	__asm__ __volatile__("mov %%cr4, %0" : "=r"(cr4));
	guest_cr4_after = cr4;
	/* KVM intercepts #UD and injects it itself. */
	__asm__ __volatile__(".globl vt_ud2\n vt_ud2: ud2" ::: "memory");
	GUEST_DONE();
}

/* CPUID 0x40000150, WRMSR to PAT and CR4 writes: guest_faulting_instructions. */
static void enable_faulting_events(struct vmiop *v)
{
	static const struct vmiop_filter_range leaf = { 0x40000150, 0x40000150 };
	static const struct vmiop_filter_range pat_only = { MSR_PAT, MSR_PAT };
	static const struct vmiop_filter_range cr4_only = { 4, 4 };

	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &leaf, 1), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MSR, -1, &pat_only, 1), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CR, -1, &cr4_only, 1), 0);
}

static void reply_inject(struct vmiop *v, struct vmiop_ring *ring, struct vmiop_event *ev,
			 uint8_t vector, bool has_error, uint32_t error_code, uint64_t cr2)
{
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_INJECT };

	r.exception.vector = vector;
	r.exception.flags = has_error ? VMIOP_INJECT_F_ERROR_CODE : 0;
	r.exception.error_code = error_code;
	r.exception.cr2 = cr2;
	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);
}

TEST(inject_replies_fault_the_instruction)
{
	struct vmiop_event_reply bad = { .action = VMIOP_ACTION_INJECT };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct guest_fault *seen;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	enable_faulting_events(v);
	tvm_vcpu_entry(vcpu, guest_faulting_instructions, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CPUID);
	/* Exceptions that cannot be injected, or with a wrong error code. */
	bad.exception.vector = 2;			/* NMI */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad), EINVAL);
	bad.exception.vector = 3;			/* software: #BP */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad), EINVAL);
	bad.exception.vector = 13;			/* #GP needs its error code */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad), EINVAL);
	bad.exception.vector = 6;
	bad.exception.flags = VMIOP_INJECT_F_ERROR_CODE;	/* #UD has none */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad), EINVAL);
	bad.exception.flags = 0;
	bad.exception.cr2 = 1;				/* CR2 is for #PF */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad), EINVAL);
	reply_inject(v, ring, ev, 6, false, 0, 0);	/* #UD */

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_MSR);
	EXPECT_EQ(ev->msr.index, MSR_PAT);
	reply_inject(v, ring, ev, 13, true, 0, 0);	/* #GP(0) */

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
	EXPECT_EQ(ev->cr.cr, 4);
	reply_inject(v, ring, ev, 14, true, 2, 0xdead000);	/* #PF, write */

	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	ASSERT_EQ(*TVM_GUEST_VAR(tvm, guest_fault_count), 4);
	seen = *TVM_GUEST_VAR(tvm, guest_faults);
	EXPECT_EQ(seen[3].vector, 6);
	EXPECT_EQ(seen[3].rip, (uintptr_t)vt_ud2);
	EXPECT_EQ(seen[0].vector, 6);
	EXPECT_EQ(seen[0].rip, (uintptr_t)vt_inj_cpuid);
	EXPECT_EQ(seen[1].vector, 13);
	EXPECT_EQ(seen[1].error_code, 0);
	EXPECT_EQ(seen[1].rip, (uintptr_t)vt_inj_wrmsr);
	EXPECT_EQ(seen[2].vector, 14);
	EXPECT_EQ(seen[2].error_code, 2);
	EXPECT_EQ(seen[2].cr2, 0xdead000);
	EXPECT_EQ(seen[2].rip, (uintptr_t)vt_inj_cr4);
	/* The CR4 write never happened. */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_cr4_after) & CR4_PSE, 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* Waits for the TRAP event that confirms an injection and answers it. */
/*
 * An injecting reply on a stepped CR write: the write never completes, so
 * no step over it is reported; the next step is the exception's (with
 * the monitor trap flag: its handler's first instruction).
 */
TEST(inject_reply_while_stepped_steps_no_further)
{
	const uintptr_t pf_handler = (uintptr_t)tvm_guest_idt_stubs + 16 * 14;
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_event_caps caps;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	unsigned int i;

	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	enable_faulting_events(v);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_SINGLESTEP, -1, NULL, 0), 0);
	tvm_vcpu_entry(vcpu, guest_faulting_instructions, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 4096; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		if (ev->type == VMIOP_EVENT_CR)
			break;
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_inj_cr4);
	reply_inject(v, ring, ev, 14, true, 2, 0xdead000);	/* #PF, write */

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	EXPECT_NE(ev->singlestep.gva, (uintptr_t)vt_inj_cr4);
	EXPECT_NE(ev->singlestep.gva, (uintptr_t)vt_inj_cr4 + 3);
	if (caps.singlestep == VMIOP_STEP_MTF) {
		EXPECT_EQ(ev->singlestep.gva, pf_handler);
	} else {
		/* TF: the handler ran unstepped, stepping goes on after it. */
		EXPECT_GT(ev->singlestep.gva, (uintptr_t)vt_inj_cr4 + 3);
		EXPECT_LE(ev->singlestep.gva, (uintptr_t)vt_ud2);
	}
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	/* the #PF at the CR4 write, then the UD2's #UD */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_fault_count), 2);
	EXPECT_EQ((*TVM_GUEST_VAR(tvm, guest_faults))[0].rip, (uintptr_t)vt_inj_cr4);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_cr4_after) & CR4_PSE, 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void expect_trap(struct vmiop *v, struct vmiop_ring *ring, const char *rip,
			uint32_t vector, uint32_t error_code, uint64_t cr2)
{
	struct vmiop_event_reply skip = { .action = VMIOP_ACTION_SKIP };
	struct vmiop_event *ev;

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_TRAP);
	EXPECT_EQ(ev->trap.vector, vector);
	EXPECT_EQ(ev->trap.has_error_code, vector == 13 || vector == 14);
	EXPECT_EQ(ev->trap.error_code, error_code);
	EXPECT_EQ(ev->trap.cr2, cr2);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)rip);
	/* On its way: a trap takes only "continue". */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &skip), EINVAL);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
}

/*
 * TRAP events: each exception vmiop's replies inject is confirmed once,
 * and so is one KVM injects itself (#UD); vectors outside the filter and
 * other events' exceptions are not reported.
 */
TEST(trap_events_confirm_each_injection)
{
	static const struct vmiop_filter_range vectors[2] = { { 6, 6 }, { 13, 14 } };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_TRAP, -1, vectors, 2), 0);
	enable_faulting_events(v);
	tvm_vcpu_entry(vcpu, guest_faulting_instructions, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CPUID);
	reply_inject(v, ring, ev, 6, false, 0, 0);
	expect_trap(v, ring, vt_inj_cpuid, 6, 0, 0);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_MSR);
	reply_inject(v, ring, ev, 13, true, 0, 0);
	expect_trap(v, ring, vt_inj_wrmsr, 13, 0, 0);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
	reply_inject(v, ring, ev, 14, true, 2, 0xdead000);
	expect_trap(v, ring, vt_inj_cr4, 14, 2, 0xdead000);

	expect_trap(v, ring, vt_ud2, 6, 0, 0);

	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_fault_count), 4);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_cpuid_then_nops(uint64_t arg)
{
	uint32_t a, b, c, d;

	(void)arg;
	guest_cpuid(0x40000150, 0, &a, &b, &c, &d);
	__asm__ __volatile__(".globl vt_fs1\n vt_fs1: nop\n"
			     ".globl vt_fs2\n vt_fs2: nop\n nop\n nop\n" ::: "memory");
	GUEST_DONE();
}

/* One step asked by a reply, with single-step events not enabled. */
TEST(reply_asks_one_step)
{
	static const struct vmiop_filter_range leaf = { 0x40000150, 0x40000150 };
	struct vmiop_event_reply r = {
		.action = VMIOP_ACTION_CONTINUE, .flags = VMIOP_REPLY_F_SINGLESTEP,
	};
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &leaf, 1), 0);
	tvm_vcpu_entry(vcpu, guest_cpuid_then_nops, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CPUID);
	r.flags |= 0x80;
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &r), EINVAL);	/* unknown flag */
	r.flags = VMIOP_REPLY_F_SINGLESTEP;
	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);

	/* KVM completed the CPUID; the step is the instruction after it. */
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	EXPECT_EQ(ev->singlestep.gva, (uintptr_t)vt_fs2);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	/* Only one. */
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static uint64_t guest_irq_count, guest_irq_rip;

static bool guest_on_self_ipi(struct tvm_exc_frame *f)
{
	if (f->vector != 0x40)
		return false;
	guest_irq_count++;
	guest_irq_rip = f->rip;
	guest_wrmsr(0x80b, 0);		/* x2APIC EOI */
	return true;
}

static void guest_cpuid_with_irq_pending(uint64_t arg)
{
	uint32_t leaf = 0x40000150, subleaf = 0;

	(void)arg;
	tvm_guest_set_exc_handler(guest_on_self_ipi);
	guest_x2apic_on();
	__asm__ __volatile__("cli" ::: "memory");
	guest_wrmsr(0x830, 0x40);		/* fixed IPI, vector 0x40, to APIC ID 0: itself */
	/* Pending from the instruction after CPUID on (STI's shadow covers CPUID). */
	__asm__ __volatile__("sti\n .globl vt_irq_cpuid\n vt_irq_cpuid: cpuid\n"
			     ".globl vt_irq_after\n vt_irq_after: nop\n nop\n"
			     : "+a"(leaf), "+c"(subleaf) : : "rbx", "rdx", "memory");
	GUEST_DONE();
}

/*
 * The step a reply asks for is the next instruction's even with an
 * interrupt pending: with the monitor trap flag no interrupt is injected
 * before it (else the step would stop on the handler's first instruction);
 * with TF the handler runs unstepped first.  The interrupt comes after.
 */
TEST(reply_asks_one_step_with_an_interrupt_pending)
{
	static const struct vmiop_filter_range leaf = { 0x40000150, 0x40000150 };
	struct vmiop_event_reply r = {
		.action = VMIOP_ACTION_CONTINUE, .flags = VMIOP_REPLY_F_SINGLESTEP,
	};
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	bool mtf;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &leaf, 1), 0);
	tvm_vcpu_entry(vcpu, guest_cpuid_with_irq_pending, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CPUID);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_irq_cpuid);
	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	mtf = ev->singlestep.method == VMIOP_STEP_MTF;
	/* KVM completed the CPUID: the step is the NOP after it. */
	EXPECT_EQ(ev->singlestep.gva, (uintptr_t)vt_irq_after + 1);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_irq_count), 1);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_irq_rip),
		  (uintptr_t)vt_irq_after + (mtf ? 1 : 0));
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_cr8_unmasks_an_irq(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_self_ipi);
	guest_x2apic_on();
	__asm__ __volatile__("mov %0, %%cr8" : : "r"(15ul) : "memory");
	guest_wrmsr(0x830, 0x40);		/* self-IPI, held back by the TPR */
	GUEST_SYNC(1);		/* the host enables stepping on this vCPU */
	__asm__ __volatile__("nop\n .globl vt_cr8\n vt_cr8: mov %0, %%cr8\n"
			     ".globl vt_cr8_after\n vt_cr8_after: nop\n nop\n"
			     : : "r"(0ul) : "memory");
	GUEST_DONE();
}

/*
 * Lowering the TPR below a pending interrupt's priority ends in a VM exit
 * after the instruction (VMX: TPR below threshold, which the monitor trap
 * exit yields to; SVM: the CR8 write exits): that instruction is a step.
 */
TEST(cr8_write_that_unmasks_an_interrupt_is_stepped)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	tvm_vcpu_entry(vcpu, guest_cr8_unmasks_an_irq, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);
	ev = step_to(v, ring, vt_cr8, 64, NULL);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
	EXPECT_EQ(ev->singlestep.gva, (uintptr_t)vt_cr8_after);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	/* The interrupt came once the TPR was down, after the step. */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_irq_count), 1);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_irq_rip), (uintptr_t)vt_cr8_after);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* Out of line: the labels must exist once whatever the loop becomes. */
static __attribute__((noinline)) void guest_breakpoint_site(void)
{
	__asm__ __volatile__(".globl vt_rbp\n vt_rbp: nop\n"
			     ".globl vt_rbp_next\n vt_rbp_next: nop\n" ::: "memory");
}

static void guest_breakpoint_twice(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_exception);
	guest_breakpoint_site();
	guest_breakpoint_site();
	GUEST_DONE();
}

/*
 * The usual breakpoint of a VMI tool: INT3 planted over an instruction;
 * at the event put the original byte back, retry it stepping once, plant
 * the INT3 again at the step.  The guest never sees a #BP.
 */
TEST(breakpoint_retry_with_one_step_replants)
{
	struct vmiop_event_reply r = {
		.action = VMIOP_ACTION_RETRY, .flags = VMIOP_REPLY_F_SINGLESTEP,
	};
	const uint8_t int3 = 0xcc, nop = 0x90;
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct tvm *tvm;
	struct vmiop *v;
	int i;

	skip_unless_kvm_intercepts_int3();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
	ASSERT_EQ(vmiop_write_pa(v, (uintptr_t)vt_rbp, &int3, 1), 0);
	tvm_vcpu_entry(vcpu, guest_breakpoint_twice, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	for (i = 0; i < 2; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_BREAKPOINT);
		EXPECT_EQ(ev->breakpoint.gva, (uintptr_t)vt_rbp);
		ASSERT_EQ(vmiop_write_pa(v, (uintptr_t)vt_rbp, &nop, 1), 0);
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		EXPECT_EQ(ev->singlestep.gva, (uintptr_t)vt_rbp_next);
		ASSERT_EQ(vmiop_write_pa(v, (uintptr_t)vt_rbp, &int3, 1), 0);
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* ---- descriptor-table registers ---------------------------------------- */

struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint64_t base;
};

static struct dtr guest_idtr, guest_gdtr, guest_gdtr_skipped;
static uint16_t guest_ldtr = 0x5555, guest_tr;
static uint64_t guest_lgdt_fault[2];	/* vector, rip */

static bool guest_on_lgdt_fault(struct tvm_exc_frame *f)
{
	if (f->rip != (uintptr_t)vt_lgdt)
		return false;
	guest_lgdt_fault[0] = f->vector;
	guest_lgdt_fault[1] = f->rip;
	f->rip = (uintptr_t)vt_lgdt_end;
	return true;
}

#define DESC_QUIET 1000

static void guest_descriptor_tables(uint64_t arg)
{
	struct dtr scratch;
	int i;

	(void)arg;
	tvm_guest_set_exc_handler(guest_on_lgdt_fault);
	guest_gdtr_skipped.limit = 0x1234;
	__asm__ __volatile__("sidt %0" : "=m"(guest_idtr));
	__asm__ __volatile__("sgdt %0" : "+m"(guest_gdtr_skipped));
	__asm__ __volatile__("sldt %0" : "+m"(guest_ldtr));
	__asm__ __volatile__("str %0" : "=m"(guest_tr));
	__asm__ __volatile__("lidt %0" : : "m"(guest_idtr));
	__asm__ __volatile__("sgdt %0" : "=m"(guest_gdtr));
	__asm__ __volatile__(".globl vt_lgdt\n vt_lgdt: lgdt (%0)\n"
			     ".globl vt_lgdt_end\n vt_lgdt_end:" : : "r"(&guest_gdtr) : "memory");
	__asm__ __volatile__("lldt %w0" : : "r"(0));
	__asm__ __volatile__("ltr %w0" : : "r"(TVM_SEL_TSS));	/* busy: skipped */
	GUEST_SYNC(1);		/* the filter becomes GDTR only */
	__asm__ __volatile__("sidt %0" : "=m"(scratch));
	__asm__ __volatile__("sgdt %0" : "=m"(scratch));
	GUEST_SYNC(2);		/* off */
	for (i = 0; i < DESC_QUIET; i++)
		__asm__ __volatile__("sidt %0; sgdt %0" : "=m"(scratch));
	GUEST_SYNC(3);
	GUEST_DONE();
}

struct desc_phases {
	struct vmiop *v;
	bool failed;
	uint64_t exits[4];
};

static bool desc_phase(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	static const struct vmiop_filter_range gdtr_only = { VMIOP_DESC_GDTR, VMIOP_DESC_GDTR };
	struct desc_phases *p = opaque;

	p->exits[uc->args[0] & 3] = tvm_vcpu_stat(vcpu, "exits");
	if (uc->args[0] == 1 &&
	    vmiop_event_enable(p->v, VMIOP_EVENT_DESC, -1, &gdtr_only, 1))
		p->failed = true;
	if (uc->args[0] == 2 && vmiop_event_disable(p->v, VMIOP_EVENT_DESC, -1))
		p->failed = true;
	return true;
}

TEST(descriptor_table_loads_and_stores)
{
	static const struct {
		uint32_t reg, write, action;
	} steps[] = {
		{ VMIOP_DESC_IDTR, 0, VMIOP_ACTION_CONTINUE },	/* sidt */
		{ VMIOP_DESC_GDTR, 0, VMIOP_ACTION_SKIP },	/* sgdt */
		{ VMIOP_DESC_LDTR, 0, VMIOP_ACTION_CONTINUE },	/* sldt */
		{ VMIOP_DESC_TR, 0, VMIOP_ACTION_CONTINUE },	/* str */
		{ VMIOP_DESC_IDTR, 1, VMIOP_ACTION_CONTINUE },	/* lidt */
		{ VMIOP_DESC_GDTR, 0, VMIOP_ACTION_CONTINUE },	/* sgdt */
		{ VMIOP_DESC_GDTR, 1, VMIOP_ACTION_INJECT },	/* lgdt: #GP(0) */
		{ VMIOP_DESC_LDTR, 1, VMIOP_ACTION_CONTINUE },	/* lldt */
		{ VMIOP_DESC_TR, 1, VMIOP_ACTION_SKIP },	/* ltr */
		{ VMIOP_DESC_GDTR, 0, VMIOP_ACTION_CONTINUE },	/* sgdt, GDTR only */
	};
	struct vmiop_event_desc loads[sizeof(steps) / sizeof(steps[0])] = { 0 };
	struct desc_phases phases = { 0 };
	struct vmiop_event_caps caps;
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct tvm *tvm;
	struct vmiop *v;
	unsigned int i;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	vmiop_close(v);
	if (!(caps.supported & (1ULL << VMIOP_EVENT_DESC)))
		SKIP("descriptor-table exits unavailable on this CPU (reason %u)",
		     caps.reason[VMIOP_EVENT_DESC]);
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	phases.v = v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DESC, -1, NULL, 0), 0);
	tvm_vcpu_entry(vcpu, guest_descriptor_tables, 0);
	tvm_vcpu_thread_start(vcpu, desc_phase, &phases);

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct vmiop_event_reply r = { .action = steps[i].action };

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_DESC);
		EXPECT_EQ(ev->desc.reg, steps[i].reg);
		EXPECT_EQ(ev->desc.write, steps[i].write);
		loads[i] = ev->desc;
		if (steps[i].action == VMIOP_ACTION_INJECT) {
			r.exception.vector = 13;
			r.exception.flags = VMIOP_INJECT_F_ERROR_CODE;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_FALSE(phases.failed);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	/* What the emulated stores wrote, and the skipped one did not. */
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_idtr)->base, ev->regs.idtr_base);
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_idtr)->limit, ev->regs.idtr_limit);
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_gdtr)->base, ev->regs.gdtr_base);
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_gdtr_skipped)->limit, 0x1234);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_ldtr), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_tr), TVM_SEL_TSS);
	EXPECT_EQ((*TVM_GUEST_VAR(tvm, guest_lgdt_fault))[0], 13);
	/*
	 * Each load's event has the value about to be loaded, decoded from
	 * its operand: memory (LIDT m, LGDT (%reg)) or a register (LLDT,
	 * LTR); stores have none.
	 */
	EXPECT_EQ(loads[0].flags, 0);
	EXPECT_EQ(loads[4].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[4].new_base, TVM_GUEST_VAR(tvm, guest_idtr)->base);
	EXPECT_EQ(loads[4].new_limit, TVM_GUEST_VAR(tvm, guest_idtr)->limit);
	EXPECT_EQ(loads[6].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[6].new_base, TVM_GUEST_VAR(tvm, guest_gdtr)->base);
	EXPECT_EQ(loads[6].new_limit, TVM_GUEST_VAR(tvm, guest_gdtr)->limit);
	EXPECT_NE(loads[6].new_base, 0);
	EXPECT_EQ(loads[7].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[7].new_selector, 0);
	EXPECT_EQ(loads[8].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[8].new_selector, TVM_SEL_TSS);
	/* Disabled, the instructions run without exits again. */
	EXPECT_LT(phases.exits[3] - phases.exits[2], DESC_QUIET / 2);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(debug_event_classes_are_offered)
{
	struct vmiop_event_caps caps;
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_BREAKPOINT], VMIOP_CAP_OK);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_DEBUG], VMIOP_CAP_OK);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_SINGLESTEP], VMIOP_CAP_OK);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_TRAP], VMIOP_CAP_OK);
	/* Every VMX CPU KVM 6.1 runs on has the monitor trap flag. */
	EXPECT_EQ(caps.singlestep, vt_host_is_intel(v) ? VMIOP_STEP_MTF : VMIOP_STEP_TRAP_FLAG);
	EXPECT_TRUE(caps.reason[VMIOP_EVENT_DESC] == VMIOP_CAP_OK ||
		    caps.reason[VMIOP_EVENT_DESC] == VMIOP_CAP_NO_HARDWARE);
	vmiop_close(v);
}

VMTEST_MAIN()
