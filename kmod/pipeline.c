// SPDX-License-Identifier: GPL-2.0
/*
 * The one path every event takes, and the table of event classes.
 *
 *   hook (hooks.c)  ->  class entry point (exits.c, debug.c): struct vmiop_exit
 *   -> vmiop_event_run(): session, is_event, wanted (filter), fill
 *   -> vmiop_event_deliver() (event.c): ring entry, then the vCPU parks for
 *      the reply (vcpu.c)
 *   -> the class's apply(): the reply steers the exit, or KVM goes on.
 *
 * A new event class is a row of vmiop_event_classes[] and an entry point
 * that fills a struct vmiop_exit; the runner does the rest.
 */
#include <linux/slab.h>
#include "vmiop.h"

const struct vmiop_event_class *const vmiop_event_classes[VMIOP_EVENT_NR_TYPES] = {
	[VMIOP_EVENT_CR] = &vmiop_class_cr,
	[VMIOP_EVENT_MSR] = &vmiop_class_msr,
	[VMIOP_EVENT_CPUID] = &vmiop_class_cpuid,
	[VMIOP_EVENT_HYPERCALL] = &vmiop_class_hypercall,
	[VMIOP_EVENT_XSETBV] = &vmiop_class_xsetbv,
	[VMIOP_EVENT_DESC] = &vmiop_class_desc,
	[VMIOP_EVENT_BREAKPOINT] = &vmiop_class_breakpoint,
	[VMIOP_EVENT_DEBUG] = &vmiop_class_debug,
	[VMIOP_EVENT_SINGLESTEP] = &vmiop_class_singlestep,
	[VMIOP_EVENT_TRAP] = &vmiop_class_trap,
	[VMIOP_EVENT_MEM] = &vmiop_class_mem,
	[VMIOP_EVENT_AGENT] = &vmiop_class_agent,
};

/*
 * The vCPU's event buffer, zeroed, for an event of @type with the vCPU's
 * registers; give it back with vmiop_event_put().  Never NULL: a vCPU
 * without its buffer yet (created after attach, not yet at a park point),
 * or one building a second event before the first was put (no path does;
 * said once), gets one allocated that cannot fail.
 */
struct vmiop_event *vmiop_event_get(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	struct vmiop_event *e = vv->exit.ev_buf;

	if (!e || vv->exit.ev_buf_busy) {
		if (e)
			pr_warn_once("vCPU %d builds a second event at once\n", vcpu->vcpu_idx);
		e = kmalloc(sizeof(*e), GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	} else {
		vv->exit.ev_buf_busy = true;
	}
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->vcpu = vcpu->vcpu_idx;
	vmiop_regs_get(vcpu, &e->regs);
	return e;
}

void vmiop_event_put(struct vmiop_session *sess, struct kvm_vcpu *vcpu, struct vmiop_event *e)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	if (e == vv->exit.ev_buf)
		vv->exit.ev_buf_busy = false;
	else
		kfree(e);
}

/*
 * Whether exit @x is one of @c's events (x->vv set), and whether its
 * session wants it or its vCPU is back with one still unanswered, which
 * takes its reply all the same.
 */
static bool vmiop_event_is_wanted(const struct vmiop_event_class *c, u16 type,
				  struct vmiop_exit *x, bool *wanted, bool *pending)
{
	x->vv = vmiop_vcpu_own(x->sess, x->vcpu);
	if (c->is_event && !c->is_event(x))
		return false;
	*wanted = c->wanted ? c->wanted(x) :
		  vmiop_event_wanted(x->sess, x->vcpu, type, c->key(x));
	*pending = !*wanted && vmiop_event_pending_type(x->sess, x->vcpu) == type;
	return true;
}

/*
 * Delivers the event of @type for exit @x if it is one and wanted, and
 * applies the reply.  True if the exit is settled with x->ret; false: KVM
 * handles it as it would without vmiop (no session, not an event, not
 * wanted, VMIOP_ACTION_CONTINUE), with x->value where the class uses it.
 * On the vCPU's thread inside KVM_RUN, kvm->srcu held.
 */
bool vmiop_event_run(u16 type, struct vmiop_exit *x)
{
	const struct vmiop_event_class *c = vmiop_event_classes[type];
	struct vmiop_event_reply reply = { .action = VMIOP_ACTION_CONTINUE };
	struct kvm_vcpu *vcpu = x->vcpu;
	struct vmiop_event *e;
	bool wanted, pending, settled = false, found;

	if (c->quiet) {
		/*
		 * Decided under RCU, the reference taken only for an event
		 * to deliver: most exits of a VM with a session are of a type
		 * nobody enabled or have a key the filter rejects, and for a
		 * .quiet class "continue" leaves them to KVM.  The session is
		 * freed only after a grace period (session.c).
		 */
		rcu_read_lock();
		x->sess = vmiop_session_lookup_rcu(vcpu->kvm);
		found = x->sess && vmiop_event_is_wanted(c, type, x, &wanted, &pending) &&
			(wanted || pending) && vmiop_session_tryget(x->sess);
		rcu_read_unlock();
		if (!found) {
			x->sess = NULL;
			return false;
		}
	} else {
		x->sess = vmiop_session_find(vcpu->kvm);
		if (!x->sess)
			return false;
		if (!vmiop_event_is_wanted(c, type, x, &wanted, &pending))
			goto out;
	}
	if (wanted || pending) {
		e = vmiop_event_get(x->sess, vcpu, type);
		c->fill(x, e);
		if (wanted && c->report && !c->report(x, e)) {
			wanted = false;
			pending = vmiop_event_pending_type(x->sess, vcpu) == type;
		}
		if ((wanted || pending) &&
		    vmiop_event_deliver(x->sess, vcpu, e, wanted, &reply)) {
			c->interrupted(x, e);
			vmiop_event_put(x->sess, vcpu, e);
			settled = true;
			goto out;
		}
		x->posted = wanted || pending;
		vmiop_event_put(x->sess, vcpu, e);
	}
	settled = c->apply(x, &reply);
out:
	vmiop_session_put(x->sess);
	return settled;
}

/*
 * At a park point, srcu held: an exception event whose wait a signal cut
 * short (vmiop_exception_interrupted()) waits for its reply again, before
 * the vCPU enters the guest.
 */
void vmiop_event_resume_at_park(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u32 insn_len)
{
	struct vmiop_exit x = {
		.vcpu = vcpu, .sess = sess, .vv = vmiop_vcpu_own(sess, vcpu),
		.insn_len = insn_len, .ret = 1,
	};
	u16 type = vmiop_event_pending_type(sess, vcpu);
	struct vmiop_event_reply reply;

	if (!type) {
		x.vv->exit.trap_pending = false;
		return;
	}
	if (vmiop_event_wait_reply(sess, vcpu, &reply)) {
		/* Another signal: KVM leaves before entering; try again then. */
		kvm_make_request(KVM_REQ_EVENT, vcpu);
		return;
	}
	x.vv->exit.trap_pending = false;
	vmiop_event_classes[type]->apply(&x, &reply);
}

/*
 * The vCPU leaves KVM_RUN for a signal as KVM itself does, with the
 * instruction not executed: it runs again, and finds its event pending.
 */
bool vmiop_leave_for_signal(struct vmiop_exit *x)
{
	x->vcpu->run->exit_reason = KVM_EXIT_INTR;
	++x->vcpu->stat.signal_exits;
	x->ret = -EINTR;
	return true;
}

/* interrupted() of the classes that report an instruction before it runs */
void vmiop_insn_interrupted(struct vmiop_exit *x, const struct vmiop_event *e)
{
	vmiop_leave_for_signal(x);
}

/*
 * What every instruction class does with the actions that need nothing of
 * the class: INJECT (the exception is queued at the next park point,
 * vcpu.c, as the instruction's fault: it does not run) and SKIP.
 */
bool vmiop_insn_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	switch (r->action) {
	case VMIOP_ACTION_INJECT:
		x->ret = 1;
		return true;
	case VMIOP_ACTION_SKIP:
		x->ret = kvm_skip_emulated_instruction(x->vcpu);
		return true;
	}
	return false;
}
