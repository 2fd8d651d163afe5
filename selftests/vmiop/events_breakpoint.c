// SPDX-License-Identifier: GPL-2.0
/*
 * BREAKPOINT events: an INT3 consumed or re-injected, the VMM's own guest
 * debugging alongside vmiop's, a killed introspector, and the usual VMI
 * breakpoint (put the byte back, retry stepping once, replant).
 */
#include <sys/ioctl.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

extern const char vt_bp1[], vt_bp2[], vt_bp2_end[], vt_bp3[], vt_bp3_end[];
extern const char vt_vbp1[], vt_vbp2[], vt_vbp3[], vt_vbp3_end[];
extern const char vt_rbp[], vt_rbp_next[];

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

VMTEST_MAIN()
