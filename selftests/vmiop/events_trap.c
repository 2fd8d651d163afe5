// SPDX-License-Identifier: GPL-2.0
/*
 * Replies that inject an exception (on CPUID, MSR and CR events, and
 * while stepped), and TRAP events, which confirm each injection.
 */
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

extern const char vt_inj_cpuid[], vt_inj_wrmsr[], vt_inj_cr4[], vt_ud2[];

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

/* Waits for the TRAP event that confirms an injection and answers it. */
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

VMTEST_MAIN()
