// SPDX-License-Identifier: GPL-2.0
/*
 * Breakpoint, debug and single-step events, through KVM's guest debugging.
 *
 * vmiop makes KVM intercept #BP and single-step the guest by adding its own
 * KVM_GUESTDBG_* flags to the VMM's (vcpu->guest_debug), applied on the
 * vCPU's thread where its VMCS/VMCB is loaded.  KVM then turns those
 * exceptions into KVM_EXIT_DEBUG; the vendor exception handlers are hooked
 * so that the ones vmiop caused become events instead of reaching the VMM.
 * What the VMM asks for itself (a gdbstub) keeps going to the VMM.
 *
 * On VMX single-steps use the monitor trap flag instead where they can,
 * which leaves RFLAGS.TF to the guest: no KVM_GUESTDBG_SINGLESTEP then.
 */
#include "insn.h"
#include "vmiop.h"

/* One step of @vcpu's is wanted: asked for by a reply, or a step-over. */
static bool vmiop_step_once(struct vmiop_vcpu *vv)
{
	return vv->step.once || vv->mem.stepping;
}

/* @vcpu is to report each instruction it executes. */
bool vmiop_step_wanted(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	return !READ_ONCE(sess->detached) &&
	       (vmiop_event_enabled_on(sess, vcpu, VMIOP_EVENT_SINGLESTEP) ||
		vmiop_step_once(vmiop_vcpu_own(sess, vcpu)));
}

/* enum vmiop_step_method of this host. */
u32 vmiop_step_method(void)
{
	return vmiop_vendor->mtf_available && vmiop_vendor->mtf_available() ?
	       VMIOP_STEP_MTF : VMIOP_STEP_TRAP_FLAG;
}

/*
 * Halted, or in the HLT state inside the guest (KVM_CAP_X86_DISABLE_EXITS):
 * only an injected interrupt wakes it, so its next step is the handler's.
 */
static bool vmiop_vcpu_halted(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.mp_state != KVM_MP_STATE_RUNNABLE ||
	       (vmiop_vendor->in_hlt_state && vmiop_vendor->in_hlt_state(vcpu));
}

/*
 * The KVM_GUESTDBG_* flags vmiop wants on @vcpu now.  The monitor trap
 * flag, when it could be applied, is synced first (intercept.c).
 */
static u32 vmiop_debug_wanted(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	u32 want = 0;

	if (READ_ONCE(sess->detached))
		return 0;
	if (vmiop_event_enabled_on(sess, vcpu, VMIOP_EVENT_BREAKPOINT))
		want |= KVM_GUESTDBG_USE_SW_BP;
	if (!vmiop_step_wanted(sess, vcpu))
		return want;
	if (vv->applied.mtf) {
		/*
		 * The one step a reply asks for is the next instruction's
		 * (the original one under a breakpoint, typically): no
		 * interrupt may be injected first, whose handler the monitor
		 * trap would stop on instead.  A halted vCPU's next
		 * instruction is that handler: blocking it would never wake.
		 * (Nor while it runs L2, whose steps are not vmiop's.)
		 */
		if (vmiop_step_once(vv) && !vmiop_vcpu_halted(vcpu) &&
		    !vmiop_in_l2(vcpu))
			want |= KVM_GUESTDBG_BLOCKIRQ;
	} else if (!vmiop_vendor->mtf_exiting || !vmiop_in_l2(vcpu)) {
		/* Not while a VMX vCPU runs L2: its MTF comes back with L1. */
		want |= KVM_GUESTDBG_SINGLESTEP;
		/*
		 * A step-over's page is open to this vCPU alone: an interrupt
		 * handler would run there unstepped, the others held.
		 */
		if (vv->mem.stepping && !vmiop_vcpu_halted(vcpu))
			want |= KVM_GUESTDBG_BLOCKIRQ;
	}
	return want;
}

/* ---- hiding the trap flag from PUSHF ----------------------------------- */

/*
 * Steps use RFLAGS.TF, and PUSHF copies it to the stack, where the guest
 * can see it (the classic debugger check) and where a later POPF would
 * make it the guest's own, long after stepping ended.  So the instruction
 * each step is armed on is decoded; when it is a PUSHF and the step trap
 * finds it completed as decoded, the copy loses the TF the guest did not
 * set.
 */

#define VMIOP_ARITH_FLAGS (X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF | \
			   X86_EFLAGS_SF | X86_EFLAGS_OF)

/* The bits of RSP that address the stack in the current mode. */
static u64 vmiop_stack_mask(struct kvm_vcpu *vcpu)
{
	struct kvm_segment ss;
	bool cs_db;

	if (vmiop_code64(vcpu, &cs_db))
		return ~0ull;
	vmiop_ksym.x86_ops->get_segment(vcpu, &ss, VCPU_SREG_SS);
	return ss.db ? 0xffffffffull : 0xffffull;
}

/* A step is armed on the instruction at RIP: remember what PUSHF needs. */
static void vmiop_step_armed(struct vmiop_vcpu *vv, struct kvm_vcpu *vcpu,
			     unsigned long rflags)
{
	unsigned int n, len = 0;
	u8 insn[INSN_MAX_LEN];
	struct kvm_regs regs;
	bool code64, cs_db;

	/*
	 * KVM's view strips TF whenever it single-steps, the guest's own
	 * included (its stepping owns the flag): only a TF seen before
	 * stepping began is known to be the guest's, and its copy genuine.
	 */
	vv->step.pushf = 0;
	if (rflags & X86_EFLAGS_TF)
		return;
	n = vmiop_fetch_insn(vcpu, insn);
	code64 = vmiop_code64(vcpu, &cs_db);
	vv->step.pushf = insn_pushf_size(insn, n, code64, cs_db, &len);
	if (!vv->step.pushf)
		return;
	vmiop_ksym.get_regs(vcpu, &regs);
	vv->step.next_rip = regs.rip + len;
	vv->step.rsp = regs.rsp;
	vv->step.rflags = rflags;
}

/*
 * The step trap of vmiop's stepping arrived: if the instruction was the
 * PUSHF decoded when the step was armed and it pushed what PUSHF pushes,
 * drop KVM's TF from the copy.
 */
static void vmiop_step_hide_tf(struct vmiop_vcpu *vv, struct kvm_vcpu *vcpu)
{
	u64 mask, val = 0, expect;
	struct vmiop_x86_exception fault;
	struct kvm_segment ss;
	struct kvm_regs regs;
	u8 size = vv->step.pushf;

	if (!size)
		return;
	vv->step.pushf = 0;
	vmiop_ksym.get_regs(vcpu, &regs);
	mask = vmiop_stack_mask(vcpu);
	if (regs.rip != vv->step.next_rip ||
	    (regs.rsp & mask) != ((vv->step.rsp - size) & mask))
		return;
	vmiop_ksym.x86_ops->get_segment(vcpu, &ss, VCPU_SREG_SS);
	if (mask != ~0ull)
		regs.rsp = (u32)(ss.base + (regs.rsp & mask));
	if (kvm_read_guest_virt(vcpu, regs.rsp, &val, size, (struct x86_exception *)&fault))
		return;
	/*
	 * PUSHF stores RFLAGS with RF and VM clear.  The arithmetic flags
	 * may be newer than the ones seen at arming: KVM re-arms after an
	 * emulated instruction before it writes back that instruction's.
	 */
	expect = (vv->step.rflags & ~(u64)(X86_EFLAGS_RF | X86_EFLAGS_VM)) | X86_EFLAGS_TF;
	if (size < 8)
		expect &= (1ull << (size * 8)) - 1;
	if ((val ^ expect) & ~(u64)VMIOP_ARITH_FLAGS)
		return;
	val &= ~(u64)X86_EFLAGS_TF;
	vmiop_write_guest_virt(vcpu, regs.rsp, &val, size);
}

/*
 * KVM keeps its TF in the guest's RFLAGS only while RIP is where stepping
 * was armed (emulated instructions and register writes rewrite RFLAGS):
 * arm it again where RIP is now, as a debugger does after each step.
 */
static void vmiop_step_rearm(struct vmiop_vcpu *vv, struct kvm_vcpu *vcpu)
{
	unsigned long rflags;

	/* The monitor trap flag needs no arming; the VMM's TF is its own. */
	if (!(vcpu->guest_debug & KVM_GUESTDBG_SINGLESTEP) || vv->applied.mtf)
		return;
	rflags = kvm_get_rflags(vcpu);
	vcpu->arch.singlestep_rip = kvm_get_linear_rip(vcpu);
	vmiop_step_armed(vv, vcpu, rflags);
	kvm_set_rflags(vcpu, rflags);
}

/* What KVM_SET_GUEST_DEBUG does to the vCPU, minus the debug registers. */
static void vmiop_set_guest_debug(struct vmiop_vcpu *vv, struct kvm_vcpu *vcpu, u32 flags)
{
	unsigned long rflags;

	if (vcpu->guest_debug == flags)
		return;
	/* Read while KVM still filters its own TF out of the guest's view. */
	rflags = kvm_get_rflags(vcpu);
	vcpu->guest_debug = flags;
	if (flags & KVM_GUESTDBG_SINGLESTEP) {
		vcpu->arch.singlestep_rip = kvm_get_linear_rip(vcpu);
		vmiop_step_armed(vv, vcpu, rflags);
	}
	kvm_set_rflags(vcpu, rflags);
	vmiop_ksym.x86_ops->update_exception_bitmap(vcpu);
}

/*
 * vmiop's single-stepping off (SVM, for L2: vmiop_nested_entering()); the
 * VMM's own stepping, a gdbstub's, stays as KVM has it.
 */
static void vmiop_step_off_for_l2(struct vmiop_vcpu *vv, struct kvm_vcpu *vcpu)
{
	if (vv->applied.debug && vcpu->guest_debug & KVM_GUESTDBG_SINGLESTEP &&
	    !(vv->applied.vmm_debug & KVM_GUESTDBG_SINGLESTEP))
		vmiop_set_guest_debug(vv, vcpu, vcpu->guest_debug & ~KVM_GUESTDBG_SINGLESTEP);
}

/*
 * On the vCPU's thread, state loaded: make guest_debug the VMM's flags plus
 * what vmiop wants (nothing once detached).
 */
void vmiop_debug_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	u32 want;

	/*
	 * Not while it runs L2: VMX's update_exception_bitmap() then writes
	 * L2's VMCS only, and L1's would keep the #BP intercept of flags
	 * taken back (an INT3 of L1's as the VMM's KVM_EXIT_DEBUG).  The
	 * nested exit brings the vCPU to a park point (vmiop_nested_left()).
	 */
	if (vmiop_in_l2(vcpu)) {
		/*
		 * SVM's update_exception_bitmap() is nested-aware: one that
		 * entered L2 without enter_svm_guest_mode() (KVM_SET_NESTED_STATE)
		 * loses vmiop's stepping here as others do on the way in.
		 */
		if (!vmiop_vendor->mtf_exiting)
			vmiop_step_off_for_l2(vv, vcpu);
		return;
	}
	want = vmiop_debug_wanted(sess, vcpu);
	if (!vv->applied.debug) {
		if (!want)
			return;
		vv->applied.vmm_debug = vcpu->guest_debug;
	}
	vmiop_set_guest_debug(vv, vcpu, want ? vv->applied.vmm_debug | want | KVM_GUESTDBG_ENABLE :
				    vv->applied.vmm_debug);
	WRITE_ONCE(vv->applied.debug, want != 0);
}

/*
 * KVM_SET_GUEST_DEBUG just set the VM's BLOCKIRQ APICv inhibit from every
 * vCPU's guest_debug, the BLOCKIRQ of vmiop's asked steps included, which
 * vmiop drops without KVM looking again: count the VMM's flags only.
 */
static void vmiop_blockirq_inhibit_fixup(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	struct vmiop_vcpu *vv;
	unsigned long i;
	bool set = false;

	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		vv = &sess->vcpus[vcpu->vcpu_idx];
		if ((READ_ONCE(vv->applied.debug) ? READ_ONCE(vv->applied.vmm_debug) :
		     READ_ONCE(vcpu->guest_debug)) & KVM_GUESTDBG_BLOCKIRQ)
			set = true;
	}
	kvm_set_or_clear_apicv_inhibit(sess->kvm, APICV_INHIBIT_REASON_BLOCKIRQ, set);
}

/* The VMM changed its own flags (KVM_SET_GUEST_DEBUG): merge again. */
void vmiop_debug_vmm_changed(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_vcpu *vv;

	if (!sess)
		return;
	vv = vmiop_vcpu_own(sess, vcpu);
	if (READ_ONCE(vv->applied.debug)) {
		vv->applied.vmm_debug = vcpu->guest_debug;
		/* Before the next entry, at the park point. */
		kvm_make_request(KVM_REQ_EVENT, vcpu);
	}
	vmiop_blockirq_inhibit_fixup(sess);
	vmiop_session_put(sess);
}

/* ---- the events ------------------------------------------------------ */

/*
 * The exception classes report what already happened: a signal while
 * waiting cannot re-run anything, so the vCPU goes on to leave KVM_RUN
 * for it (KVM checks before entering) and waits for the same reply at its
 * next park point (vmiop_event_resume_at_park()).
 */
static void exception_interrupted(struct vmiop_exit *x, const struct vmiop_event *e)
{
	x->vv->exit.trap_pending = true;
	x->vv->exit.trap_insn_len = x->insn_len;
	kvm_make_request(KVM_REQ_EVENT, x->vcpu);
}

static u64 exception_gva_key(const struct vmiop_exit *x)
{
	return x->gva;
}

static void breakpoint_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->breakpoint.gva = x->gva;
	e->breakpoint.insn_len = x->insn_len;
}

/* Not wanted (another vCPU's, or filtered out) is CONTINUE too. */
static bool breakpoint_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	struct kvm_regs regs;

	switch (r->action) {
	case VMIOP_ACTION_SKIP:
		vmiop_ksym.get_regs(x->vcpu, &regs);
		regs.rip += x->insn_len;
		vmiop_ksym.set_regs(x->vcpu, &regs);
		break;
	case VMIOP_ACTION_CONTINUE:
		/* As a VMM re-injects a breakpoint that is not its own. */
		x->vcpu->arch.event_exit_inst_len = x->insn_len;
		kvm_queue_exception(x->vcpu, BP_VECTOR);
		break;
	}
	/* RETRY, INJECT: RIP stays on the INT3, no #BP */
	return true;
}

const struct vmiop_event_class vmiop_class_breakpoint = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(INJECT) |
		 VMIOP_TAKES(RETRY),
	.intercepts = true,
	.key = exception_gva_key,
	.fill = breakpoint_fill,
	.interrupted = exception_interrupted,
	.apply = breakpoint_apply,
};

static u64 debug_key(const struct vmiop_exit *x)
{
	return DB_VECTOR;
}

static void debug_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	struct kvm_vcpu *vcpu = x->vcpu;

	/* Nested hooks (an exception exit that emulates): once per exit. */
	x->vv->exit.db_reported = true;
	/* Outside nested guests KVM folds the payload into DR6 at once. */
	e->debug.dr6 = vcpu->arch.exception.has_payload ?
		       vcpu->arch.exception.payload ^ DR6_ACTIVE_LOW : vcpu->arch.dr6;
	e->debug.dr7 = e->regs.dr7;
}

/* The #DB is queued for the guest; anything but CONTINUE withdraws it. */
static bool debug_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	if (r->action != VMIOP_ACTION_CONTINUE) {
		x->vcpu->arch.exception.pending = false;
		x->vcpu->arch.exception.has_payload = false;
	}
	return true;
}

const struct vmiop_event_class vmiop_class_debug = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(INJECT),
	.key = debug_key,
	.fill = debug_fill,
	.interrupted = exception_interrupted,
	.apply = debug_apply,
};

/*
 * A step the vCPU moved away from is not reported: RIP went back over a CR
 * write that did not happen (vmiop_rewind()), or, under the monitor trap
 * flag, the VMM moved the vCPU meanwhile (KVM_SET_REGS).
 */
static bool singlestep_is_event(struct vmiop_exit *x)
{
	/* A step-over ends with its step, wherever the vCPU went. */
	if (x->vv->mem.over)
		vmiop_mem_step_done(x->sess, x->vcpu);
	return !x->vv->exit.rewind && (!x->mtf || x->gva == x->vv->step.mtf_lip);
}

/* The one step a reply asked for is reported whatever is enabled, once. */
static bool singlestep_wanted(struct vmiop_exit *x)
{
	if (x->vv->step.once) {
		x->vv->step.once = false;
		/* Stepping may end: vmiop_debug_sync() before the next entry. */
		kvm_make_request(KVM_REQ_EVENT, x->vcpu);
		return true;
	}
	return vmiop_event_wanted(x->sess, x->vcpu, VMIOP_EVENT_SINGLESTEP, x->gva);
}

static void singlestep_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->singlestep.gva = x->gva;
	e->singlestep.dr6 = x->dr6;
	e->singlestep.method = x->mtf ? VMIOP_STEP_MTF : VMIOP_STEP_TRAP_FLAG;
}

static bool singlestep_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	vmiop_step_rearm(x->vv, x->vcpu);
	return true;
}

/* A read-only session may step only with the monitor trap flag (event.c). */
const struct vmiop_event_class vmiop_class_singlestep = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(INJECT),
	.intercepts = true,
	.is_event = singlestep_is_event,
	.key = exception_gva_key,
	.wanted = singlestep_wanted,
	.fill = singlestep_fill,
	.interrupted = exception_interrupted,
	.apply = singlestep_apply,
};

/* A #DB is queued for the guest. */
bool vmiop_db_pending(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.exception.pending && vcpu->arch.exception.vector == DB_VECTOR;
}

/*
 * Which event a KVM_EXIT_DEBUG that KVM just prepared is, or 0 if it is
 * the VMM's own.  A #DB that vmiop's stepping intercepted but the guest
 * caused goes to the guest, as KVM would have done without stepping.
 */
static u16 vmiop_debug_exit_type(struct vmiop_session *sess, struct vmiop_exit *x)
{
	struct kvm_vcpu *vcpu = x->vcpu;
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	struct kvm_debug_exit_arch *dbg = &vcpu->run->debug.arch;

	if (x->ret != 0 || vcpu->run->exit_reason != KVM_EXIT_DEBUG || !vv->applied.debug)
		return 0;
	x->gva = dbg->pc;
	if (dbg->exception == BP_VECTOR && !(vv->applied.vmm_debug & KVM_GUESTDBG_USE_SW_BP)) {
		x->insn_len = vmiop_vendor->bp_insn_len(vcpu);
		return VMIOP_EVENT_BREAKPOINT;
	}
	if (dbg->exception != DB_VECTOR ||
	    (vv->applied.vmm_debug & (KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP)))
		return 0;
	/*
	 * The guest's ICEBP: its #DB, not a step (the instruction has not
	 * completed; any step pending with it is vmiop's TF).
	 */
	if (vmiop_vendor->skip_icebp(vcpu)) {
		vmiop_vendor->clear_pending_step(vcpu);
		vmiop_step_rearm(vv, vcpu);
		kvm_queue_exception_p(vcpu, DB_VECTOR, (dbg->dr6 ^ DR6_ACTIVE_LOW) & ~DR6_BS);
		x->ret = 1;
		return 0;
	}
	if (dbg->dr6 & DR6_BS) {
		vmiop_vendor->clear_pending_step(vcpu);
		vmiop_step_hide_tf(vv, vcpu);
		x->dr6 = dbg->dr6;
		return VMIOP_EVENT_SINGLESTEP;
	}
	kvm_queue_exception_p(vcpu, DB_VECTOR, dbg->dr6 ^ DR6_ACTIVE_LOW);
	x->ret = 1;
	return 0;
}

/*
 * After KVM handled something that can end in a debug exit (@ret its
 * result): a #BP or #DB intercept, an instruction skipped or emulated
 * while single-stepping.  Turns what vmiop caused into events, and a #DB
 * newly queued for the guest (@db_was_pending: one was queued before) into
 * a DEBUG event.
 */
int vmiop_on_debug_exit(struct kvm_vcpu *vcpu, int ret, bool db_was_pending)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_exit x = { .vcpu = vcpu, .ret = ret };
	u16 type;

	if (!sess)
		return ret;
	type = vmiop_debug_exit_type(sess, &x);
	if (type) {
		/* Whatever happens next, the VMM does not see this exit. */
		x.ret = 1;
	} else if (ret == 1 && !db_was_pending && vmiop_db_pending(vcpu) &&
		   !vmiop_vcpu_own(sess, vcpu)->exit.db_reported) {
		type = VMIOP_EVENT_DEBUG;
	}
	vmiop_session_put(sess);
	if (type)
		vmiop_event_run(type, &x);
	return x.ret;
}

/*
 * KVM puts an exception back (kvm_requeue_exception*) when a VM exit
 * interrupted its delivery, or the entry that was to deliver it was
 * cancelled: the next injection is the same exception, reported already.
 */
void vmiop_on_requeue_exception(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess;

	/*
	 * Only the guest's own (L1) exceptions are reported; a requeue in
	 * L2 would mark a redelivery that never comes to L1.
	 */
	if (vmiop_in_l2(vcpu))
		return;
	/* IRQs off (vmx_complete_interrupts): no reference, RCU only. */
	rcu_read_lock();
	sess = vmiop_session_lookup_rcu(vcpu->kvm);
	if (sess)
		vmiop_vcpu_own(sess, vcpu)->exit.trap_redelivery = true;
	rcu_read_unlock();
}

/* A redelivery (its mark is for this one injection) is reported already. */
static bool trap_is_event(struct vmiop_exit *x)
{
	bool redelivery = x->vv->exit.trap_redelivery;

	x->vv->exit.trap_redelivery = false;
	return !redelivery || vmiop_event_pending_type(x->sess, x->vcpu) == VMIOP_EVENT_TRAP;
}

static u64 trap_key(const struct vmiop_exit *x)
{
	return x->vcpu->arch.exception.vector;
}

static void trap_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	struct kvm_queued_exception *ex = &x->vcpu->arch.exception;

	e->trap.vector = ex->vector;
	e->trap.has_error_code = ex->has_error_code;
	e->trap.error_code = ex->has_error_code ? ex->error_code : 0;
	/* The vendor delivered the payload into CR2 already. */
	if (ex->vector == PF_VECTOR)
		e->trap.cr2 = x->vcpu->arch.cr2;
}

/* A signal: the entry is cancelled, the exception requeued, and the event comes again. */
static void trap_interrupted(struct vmiop_exit *x, const struct vmiop_event *e)
{
}

/* The exception is on its way: nothing to choose but CONTINUE. */
static bool trap_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	return true;
}

const struct vmiop_event_class vmiop_class_trap = {
	.takes = VMIOP_TAKES(CONTINUE),
	.is_event = trap_is_event,
	.key = trap_key,
	.fill = trap_fill,
	.interrupted = trap_interrupted,
	.apply = trap_apply,
};

/* The vendor just wrote vcpu->arch.exception for the next VM entry. */
void vmiop_on_inject_exception(struct kvm_vcpu *vcpu)
{
	struct vmiop_exit x = { .vcpu = vcpu };
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);

	if (sess) {
		if (!vmiop_in_l2(vcpu))
			vmiop_mem_exception_injected(sess, vcpu);
		vmiop_session_put(sess);
	}
	vmiop_event_run(VMIOP_EVENT_TRAP, &x);
}

/*
 * vmiop moved RIP back on an instruction KVM had completed (vmiop_rewind):
 * it did not run after all, so no step is due for it.  (TF steps need
 * nothing: they were armed on that instruction, and KVM's TF follows RIP
 * back there.)
 */
void vmiop_step_rewound(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	vmiop_vcpu_own(sess, vcpu)->step.mtf_due = false;
}

/*
 * The vCPU is about to enter its nested guest (SVM's enter_svm_guest_mode(),
 * from VMRUN or RSM).  vmiop steps L1 only, and KVM's single-stepping
 * would follow the vCPU into L2: it adds its trap flag to L2's RFLAGS
 * where RIP is still L1's armed one, intercepts L2's own #DBs, strips L2's
 * own TF from what it saves, and reports every instruction it emulates
 * for L2.  So vmiop's stepping is off while L2 runs; the park point before
 * L1 runs again (vmiop_nested_left()) turns it back on, armed where L1
 * resumes.  (VMX steps with the monitor trap flag, which stays L1's.)
 */
void vmiop_nested_entering(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);

	if (!sess)
		return;
	vmiop_step_off_for_l2(vmiop_vcpu_own(sess, vcpu), vcpu);
	vmiop_session_put(sess);
}

/*
 * The vCPU left its nested guest for L1 (nested_svm_vmexit(),
 * nested_vmx_vmexit(), svm_leave_nested()).  What vmiop changes in
 * intercepts and guest debugging it did not while L2 ran (intercept.c,
 * vmiop_debug_sync(), vmiop_nested_entering()): the park point before L1
 * runs catches up.
 */
void vmiop_nested_left(struct kvm_vcpu *vcpu)
{
	if (vmiop_kvm_attached(vcpu->kvm))
		kvm_make_request(KVM_REQ_EVENT, vcpu);
}

/* ---- single-steps by the monitor trap flag ------------------------------ */

/*
 * KVM completed an instruction itself (skipped or emulated it: CPUID,
 * RDMSR/WRMSR, HLT, MMIO...), so the CPU will not raise the monitor trap
 * exit for it: the step is due at the next park point, before the vCPU
 * enters again.  Also runs in the WRMSR fastpath, IRQs off: the request
 * makes KVM leave its re-entry loop for the park point.
 */
void vmiop_insn_completed(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess;
	struct vmiop_vcpu *vv;

	if (vmiop_in_l2(vcpu))
		return;
	rcu_read_lock();
	sess = vmiop_session_lookup_rcu(vcpu->kvm);
	if (sess) {
		vv = vmiop_vcpu_own(sess, vcpu);
		if (vv->applied.mtf) {
			vv->step.mtf_due = true;
			vv->step.mtf_lip = kvm_get_linear_rip(vcpu);
			kvm_make_request(KVM_REQ_EVENT, vcpu);
		}
	}
	rcu_read_unlock();
}

/*
 * At the park point, the instruction just completed under the monitor
 * trap flag (the CPU's exit, or vmiop_insn_completed()): RIP is at the
 * next one.  Srcu held.
 */
static void vmiop_mtf_step(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_exit x = {
		.vcpu = vcpu, .mtf = true, .gva = kvm_get_linear_rip(vcpu),
		.dr6 = DR6_BS | DR6_ACTIVE_LOW, .ret = 1,
	};

	vmiop_vcpu_own(sess, vcpu)->step.mtf_due = false;
	vmiop_event_run(VMIOP_EVENT_SINGLESTEP, &x);
}

/*
 * At a park point: an exception event left for a signal waits for its
 * reply again, then a step due is reported (a halted vCPU reports it
 * before it sleeps, as TF-stepping KVM does; it is here without srcu).
 * Only inside KVM_RUN: KVM_GET_MP_STATE passes here too, and a VMM calls
 * it holding its own locks, which no new event may wait under.
 */
void vmiop_exception_park(struct vmiop_session *sess, struct kvm_vcpu *vcpu, bool srcu_held)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	/*
	 * In L1 only: an exception event of L1's reported just before it
	 * entered L2 (the step of its VMRUN) waits for L1, as its reply does.
	 */
	if ((!vv->exit.trap_pending && !vv->step.mtf_due) || !vcpu->wants_to_run ||
	    vmiop_in_l2(vcpu))
		return;
	if (!srcu_held)
		kvm_vcpu_srcu_read_lock(vcpu);
	if (vv->exit.trap_pending)
		vmiop_event_resume_at_park(sess, vcpu, vv->exit.trap_insn_len);
	if (!vv->exit.trap_pending && vv->step.mtf_due)
		vmiop_mtf_step(sess, vcpu);
	if (!srcu_held)
		kvm_vcpu_srcu_read_unlock(vcpu);
}
