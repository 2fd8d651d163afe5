// SPDX-License-Identifier: GPL-2.0
/*
 * Pausing vCPUs and running work on them.
 *
 * A paused vCPU is either parked in vmiop_park_point() on its own thread
 * (inside KVM_RUN, state loaded, vcpu->mutex held), or outside KVM_RUN,
 * where whoever holds vcpu->mutex may load it.
 * Work on a vCPU (register access) runs in whichever of the two contexts it
 * is in, because VMCS/VMCB state is only reachable where it is loaded.
 */
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include "abi.h"
#include "vmiop.h"

struct vmiop_job {
	struct list_head node;
	int (*fn)(struct kvm_vcpu *vcpu, void *arg);
	void *arg;
	int ret;
	bool started;
	struct completion done;
};

/* Runs queued jobs; called by the parked thread with state_lock held. */
static void vmiop_run_jobs(struct vmiop_session *sess, struct vmiop_vcpu *vv,
			   struct kvm_vcpu *vcpu)
{
	struct vmiop_job *job;

	lockdep_assert_held(&sess->state_lock);
	while ((job = list_first_entry_or_null(&vv->park.jobs, struct vmiop_job, node))) {
		list_del_init(&job->node);
		job->started = true;
		spin_unlock(&sess->state_lock);

		kvm_vcpu_srcu_read_lock(vcpu);
		job->ret = job->fn(vcpu, job->arg);
		kvm_vcpu_srcu_read_unlock(vcpu);
		complete(&job->done);

		spin_lock(&sess->state_lock);
	}
}

static bool vmiop_park_should_wake(struct vmiop_session *sess, struct vmiop_vcpu *vv,
				   vmiop_park_done_fn done, void *ctx)
{
	return done(sess, vv, ctx) || READ_ONCE(sess->detached) ||
	       !list_empty_careful(&vv->park.jobs) || signal_pending(current);
}

/* For the threads waiting on state_wq for a vCPU to park or leave. */
static void vmiop_state_changed(struct vmiop_session *sess)
{
	/* pairs with the barrier of a waiter queueing itself on state_wq */
	if (wq_has_sleeper(&sess->state_wq))
		wake_up_all(&sess->state_wq);
}

/*
 * The one place a vCPU's thread waits for the introspector: for a resume,
 * a reply, or ring space.  While it waits it counts as stopped for a pause
 * (it cannot enter the guest before it passes a park point again) and runs
 * the register calls queued for it.  It wakes when @done says so (looked
 * at under state_lock, and without it as a hint: it must read what it
 * needs with READ_ONCE), when the session detaches, or for a signal; every
 * @timeout jiffies it looks again for what no wake-up announces.
 * state_lock is held on entry and exit; kvm->srcu must not be held.
 */
/* noinline: tests find a waiting vCPU thread by this name in its wchan. */
noinline enum vmiop_park_end vmiop_park_wait(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
					     wait_queue_head_t *wq, vmiop_park_done_fn done,
					     void *ctx, long timeout)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];
	enum vmiop_park_end end;

	lockdep_assert_held(&sess->state_lock);
	vv->park.parked = true;
	vv->park.acked = true;
	vv->park.call_waiting = false;
	vmiop_state_changed(sess);
	for (;;) {
		vmiop_run_jobs(sess, vv, vcpu);
		if (done(sess, vv, ctx)) {
			end = VMIOP_PARK_DONE;
			break;
		}
		if (sess->detached) {
			end = VMIOP_PARK_DETACHED;
			break;
		}
		if (signal_pending(current)) {
			end = VMIOP_PARK_SIGNAL;
			break;
		}
		spin_unlock(&sess->state_lock);
		/*
		 * pairs with the wake-ups of vmiop_vcpu_call(), vmiop_unpause(),
		 * vmiop_event_set_reply(), detach, and those that free ring space
		 */
		wait_event_interruptible_timeout(*wq, vmiop_park_should_wake(sess, vv, done, ctx),
						 timeout);
		spin_lock(&sess->state_lock);
	}
	vv->park.parked = false;
	vmiop_state_changed(sess);
	return end;
}

/*
 * @vcpu must not enter the guest: the VM is paused, or another vCPU steps
 * over a memory access (memaccess.c).
 */
static bool vmiop_held(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	int owner = READ_ONCE(sess->mem_step_owner);

	return READ_ONCE(sess->paused) ||
	       (owner >= 0 && owner != vcpu->vcpu_idx && !READ_ONCE(sess->detached));
}

static bool vmiop_resumed(struct vmiop_session *sess, struct vmiop_vcpu *vv, void *ctx)
{
	return !vmiop_held(sess, ctx);
}

/*
 * A vCPU waiting for a reply outside its park point (spinning, see
 * vmiop_reply_spin()) must go there now: for a signal or the scheduler,
 * or for the introspector, which pauses it or wants a register call run.
 */
bool vmiop_vcpu_must_park(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	return need_resched() || signal_pending(current) || READ_ONCE(sess->detached) ||
	       vmiop_held(sess, vcpu) ||
	       READ_ONCE(sess->vcpus[vcpu->vcpu_idx].park.call_waiting);
}

/*
 * A CR write left for a signal or an injected exception completed without
 * writing (exits.c): RIP goes back on the instruction, before the vCPU
 * enters the guest again or the session lets it go.
 */
void vmiop_rewind(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	struct kvm_regs regs;

	if (!READ_ONCE(vv->exit.rewind))
		return;
	vmiop_ksym.get_regs(vcpu, &regs);
	regs.rip = vv->exit.rewind_rip;
	vmiop_ksym.set_regs(vcpu, &regs);
	vmiop_step_rewound(sess, vcpu);
	WRITE_ONCE(vv->exit.rewind, false);
}

/*
 * KVM_RUN returns: an instruction left for a signal (exits.c) goes back on
 * its RIP now, so that the VMM reads and saves the vCPU as it is; a VMM
 * that reads KVM_GET_MP_STATE first (QEMU) would also get it from the park
 * point in there, one that does not would save a CR write as done.
 */
void vmiop_run_leaving(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_vcpu *vv;

	if (!sess)
		return;
	vv = vmiop_vcpu_own(sess, vcpu);
	if (READ_ONCE(vv->exit.rewind)) {
		u64 rip = vv->exit.rewind_rip;

		vmiop_rewind(sess, vcpu);
		/* KVM copied the registers out already: they go back too. */
		if (vcpu->run->kvm_valid_regs & KVM_SYNC_X86_REGS)
			vcpu->run->s.regs.regs.rip = rip;
	}
	vmiop_session_put(sess);
}

/*
 * The vCPU thread stops here while its VM is paused.  A signal makes it
 * leave as KVM would (the caller sees it and exits KVM_RUN with -EINTR) so
 * the VMM can still stop, kill, or query it; KVM_REQ_EVENT is raised again
 * so that it parks as soon as it is back.  Only KVM_RUN parks: the VMM
 * answers that signal by reading the vCPU (QEMU's "info registers" runs
 * KVM_GET_MP_STATE, which passes here, on the vCPU thread with its global
 * lock held), and a paused vCPU outside KVM_RUN runs no guest code anyway.
 */
void vmiop_park_point(struct kvm_vcpu *vcpu, bool srcu_held)
{
	struct vmiop_session *sess;
	struct vmiop_vcpu *vv;
	int idx;

	sess = vmiop_session_find(vcpu->kvm);
	if (!sess)
		return;
	vv = vmiop_vcpu_own(sess, vcpu);
	/* A vCPU created after attach: its event buffer, before its first exit. */
	if (!vv->exit.ev_buf)
		vv->exit.ev_buf = kmalloc(sizeof(*vv->exit.ev_buf), GFP_KERNEL_ACCOUNT);
	vmiop_rewind(sess, vcpu);
	/* Each exit's #DB gets its own DEBUG event (debug.c). */
	vv->exit.db_reported = false;
	/* Any RSM emulation that left SMM is over (exits.c). */
	vv->exit.loading_state = false;
	vmiop_exception_park(sess, vcpu, srcu_held);
	if (vv->mem.over && vcpu->wants_to_run) {
		idx = srcu_read_lock(&vcpu->kvm->srcu);
		vmiop_mem_step_check(sess, vcpu);
		srcu_read_unlock(&vcpu->kvm->srcu, idx);
	}
	/*
	 * Only where the guest is entered next: a VMM reading the vCPU
	 * (KVM_GET_MP_STATE) writes back the events it read before, which
	 * would drop this exception.  And only into L1, whose it is (a reply
	 * to the step of a VMRUN comes while L2 is about to run).
	 */
	if (vv->exit.inject_pending && vcpu->wants_to_run && !vmiop_in_l2(vcpu)) {
		vv->exit.inject_pending = false;
		vmiop_inject(vcpu, &vv->exit.inject);
	}
	/*
	 * Arming a step reads the instruction: guest memory, under kvm->srcu
	 * (a plain read lock: it nests in the vCPU's own, if held).
	 */
	idx = srcu_read_lock(&vcpu->kvm->srcu);
	vmiop_intercepts_sync(sess, vcpu);
	srcu_read_unlock(&vcpu->kvm->srcu, idx);
	if (!vmiop_held(sess, vcpu) || !vcpu->wants_to_run)
		goto out;

	if (srcu_held)
		kvm_vcpu_srcu_read_unlock(vcpu);

	spin_lock(&sess->state_lock);
	/* Detach unpauses: that ends the wait as a resume would. */
	if (vmiop_park_wait(sess, vcpu, &vv->park.wq, vmiop_resumed, vcpu,
			    MAX_SCHEDULE_TIMEOUT) == VMIOP_PARK_SIGNAL)
		kvm_make_request(KVM_REQ_EVENT, vcpu);
	spin_unlock(&sess->state_lock);

	if (srcu_held)
		kvm_vcpu_srcu_read_lock(vcpu);
	/* What the introspector changed meanwhile, before KVM injects (ve.c). */
	idx = srcu_read_lock(&vcpu->kvm->srcu);
	vmiop_ve_recheck(sess, vcpu);
	srcu_read_unlock(&vcpu->kvm->srcu, idx);
out:
	vmiop_session_put(sess);
}

/* Makes @vcpu leave guest mode or a blocking halt and reach a park point. */
static void vmiop_kick(struct kvm_vcpu *vcpu)
{
	kvm_make_request(KVM_REQ_EVENT, vcpu);
	kvm_make_request(KVM_REQ_UNBLOCK, vcpu);
	kvm_vcpu_kick(vcpu);
}

/*
 * A vCPU whose mutex we can take is in no vCPU ioctl; with sess->paused set
 * it will park before it can enter the guest.
 */
static bool vmiop_vcpu_outside(struct kvm_vcpu *vcpu)
{
	if (!mutex_trylock(&vcpu->mutex))
		return false;
	mutex_unlock(&vcpu->mutex);
	return true;
}

static bool vmiop_all_acked(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	bool all = true;

	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];

		if (READ_ONCE(vv->park.acked))
			continue;
		if (vmiop_vcpu_outside(vcpu)) {
			WRITE_ONCE(vv->park.acked, true);
			continue;
		}
		all = false;
	}
	return all;
}

static void vmiop_unpause(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	spin_lock(&sess->state_lock);
	WRITE_ONCE(sess->paused, false);
	spin_unlock(&sess->state_lock);
	kvm_for_each_vcpu(i, vcpu, sess->kvm)
		wake_up_all(&sess->vcpus[vcpu->vcpu_idx].park.wq);
}

int vmiop_pause(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	long ret;

	lockdep_assert_held(&sess->lock);
	if (sess->pause_count == VMIOP_PAUSE_MAX)
		return -EOVERFLOW;
	if (sess->pause_count++)
		return 0;

	/*
	 * A vCPU still parked from the last pause (woken by the resume but
	 * not yet gone) sees paused again under state_lock and stays: it is
	 * acked now, since it will not park anew.
	 */
	spin_lock(&sess->state_lock);
	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];

		WRITE_ONCE(vv->park.acked, vv->park.parked);
	}
	/* paused is read by the vCPU after kvm_check_request(KVM_REQ_EVENT) */
	WRITE_ONCE(sess->paused, true);
	spin_unlock(&sess->state_lock);
	kvm_for_each_vcpu(i, vcpu, sess->kvm)
		vmiop_kick(vcpu);

	/*
	 * Parking wakes us.  A vCPU that was in KVM_RUN and returned to
	 * userspace instead says nothing, so look again every few ms.
	 */
	for (;;) {
		ret = wait_event_killable_timeout(sess->state_wq,
						  vmiop_all_acked(sess),
						  msecs_to_jiffies(4));
		if (ret > 0)
			return 0;
		if (ret < 0) {
			sess->pause_count--;
			vmiop_unpause(sess);
			return -EINTR;
		}
	}
}

static bool vmiop_step_gate_free(struct vmiop_session *sess, struct vmiop_vcpu *vv, void *ctx)
{
	return READ_ONCE(sess->mem_step_owner) < 0;
}

/* Every vCPU but @self is parked, or outside KVM_RUN. */
static bool vmiop_others_stopped(struct vmiop_session *sess, struct kvm_vcpu *self)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	if (READ_ONCE(sess->detached))
		return true;
	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		if (vcpu == self || READ_ONCE(sess->vcpus[vcpu->vcpu_idx].park.parked))
			continue;
		if (!vmiop_vcpu_outside(vcpu))
			return false;
	}
	return true;
}

/*
 * @self (on its thread, kvm->srcu held) is to run alone: it waits, parked
 * (a pause or another such vCPU counts it stopped), until no other holds
 * the step gate, takes it, and waits until every other vCPU is out of the
 * guest; each stays at its park point until vmiop_release_others().  As a
 * pause, but for one vCPU that goes on running, and from its own thread.
 * 0, -EINTR (a signal: @self leaves KVM_RUN, holding nothing), or
 * -ENOTCONN (the session ended).
 */
int vmiop_hold_others(struct vmiop_session *sess, struct kvm_vcpu *self)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, self);
	struct kvm_vcpu *vcpu;
	enum vmiop_park_end end;
	unsigned long i;
	long ret;

	kvm_vcpu_srcu_read_unlock(self);
	spin_lock(&sess->state_lock);
	end = vmiop_park_wait(sess, self, &vv->park.wq, vmiop_step_gate_free, NULL,
			      MAX_SCHEDULE_TIMEOUT);
	if (end == VMIOP_PARK_DONE)
		WRITE_ONCE(sess->mem_step_owner, self->vcpu_idx);
	spin_unlock(&sess->state_lock);
	if (end != VMIOP_PARK_DONE) {
		kvm_vcpu_srcu_read_lock(self);
		return end == VMIOP_PARK_SIGNAL ? -EINTR : -ENOTCONN;
	}
	/* Each sees the gate taken at its next park point, before it enters. */
	kvm_for_each_vcpu(i, vcpu, sess->kvm)
		if (vcpu != self)
			vmiop_kick(vcpu);
	for (;;) {
		/* Parking wakes state_wq; leaving KVM_RUN does not: look every few ms. */
		ret = wait_event_killable_timeout(sess->state_wq,
						  vmiop_others_stopped(sess, self),
						  msecs_to_jiffies(4));
		if (ret)
			break;
	}
	kvm_vcpu_srcu_read_lock(self);
	if (ret < 0) {
		vmiop_release_others(sess, self);
		return -EINTR;
	}
	return READ_ONCE(sess->detached) ? -ENOTCONN : 0;
}

/* @self gives the step gate back: the others may enter the guest again. */
void vmiop_release_others(struct vmiop_session *sess, struct kvm_vcpu *self)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	spin_lock(&sess->state_lock);
	if (sess->mem_step_owner == self->vcpu_idx)
		WRITE_ONCE(sess->mem_step_owner, -1);
	spin_unlock(&sess->state_lock);
	kvm_for_each_vcpu(i, vcpu, sess->kvm)
		wake_up_all(&sess->vcpus[vcpu->vcpu_idx].park.wq);
}

int vmiop_resume(struct vmiop_session *sess)
{
	lockdep_assert_held(&sess->lock);
	if (!sess->pause_count)
		return -EINVAL;
	if (--sess->pause_count)
		return 0;
	vmiop_unpause(sess);
	return 0;
}

/* Detach: nothing may stay parked, and nothing waits for this session. */
void vmiop_release_vcpus(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	spin_lock(&sess->state_lock);
	sess->detached = true;
	spin_unlock(&sess->state_lock);
	sess->pause_count = 0;
	vmiop_unpause(sess);
	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		kvm_make_request(KVM_REQ_UNBLOCK, vcpu);
		kvm_vcpu_kick(vcpu);
	}
}

struct vmiop_local_call {
	struct kthread_work work;
	struct vmiop_session *sess;
	struct kvm_vcpu *vcpu;
	int (*fn)(struct kvm_vcpu *vcpu, void *arg);
	void *arg;
	int ret;
};

/*
 * Runs on the session's kthread, in the VMM's mm: KVM code reached from a
 * register write may read guest memory through the VMM's addresses (e.g.
 * PAE PDPTEs on a CR3 write), as it does in KVM's own vCPU ioctls, which
 * only the VMM may call.
 */
static void vmiop_local_work(struct kthread_work *work)
{
	struct vmiop_local_call *c = container_of(work, struct vmiop_local_call, work);
	struct mm_struct *mm = c->sess->mm;
	int idx;

	if (!mmget_not_zero(mm)) {
		c->ret = -ESRCH;
		return;
	}
	kthread_use_mm(mm);
	vcpu_load(c->vcpu);
	idx = srcu_read_lock(&c->vcpu->kvm->srcu);
	c->ret = c->fn(c->vcpu, c->arg);
	srcu_read_unlock(&c->vcpu->kvm->srcu, idx);
	vcpu_put(c->vcpu);
	kthread_unuse_mm(mm);
	mmput(mm);
}

/* Called with vcpu->mutex held: the vCPU is in no ioctl and cannot enter one. */
int vmiop_vcpu_call_locked(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			      int (*fn)(struct kvm_vcpu *vcpu, void *arg), void *arg)
{
	struct vmiop_local_call c = {
		.sess = sess, .vcpu = vcpu, .fn = fn, .arg = arg,
	};

	kthread_init_work(&c.work, vmiop_local_work);
	kthread_queue_work(sess->worker, &c.work);
	kthread_flush_work(&c.work);
	return c.ret;
}

/*
 * Runs @fn on vCPU @vcpu_idx of a paused VM, or one waiting for a reply, in
 * the context where its state is loaded.  Returns @fn's result, or -ENOENT,
 * -EBUSY (neither paused nor waiting), -EINTR (fatal signal before @fn started).
 */
int vmiop_vcpu_call(struct vmiop_session *sess, u32 vcpu_idx,
		    int (*fn)(struct kvm_vcpu *vcpu, void *arg), void *arg)
{
	struct vmiop_job job = { .fn = fn, .arg = arg };
	struct kvm_vcpu *vcpu;
	struct vmiop_vcpu *vv;

	lockdep_assert_held(&sess->lock);
	if (vcpu_idx >= atomic_read(&sess->kvm->online_vcpus))
		return -ENOENT;
	vcpu = kvm_get_vcpu(sess->kvm, vcpu_idx);
	if (!vcpu)
		return -ENOENT;
	vv = &sess->vcpus[vcpu->vcpu_idx];
	INIT_LIST_HEAD(&job.node);
	init_completion(&job.done);

	/*
	 * call_waiting, set below, is cleared on every way out: one caller at
	 * a time (sess->lock), and a stale flag would cost the vCPU its spin.
	 */
	for (;;) {
		spin_lock(&sess->state_lock);
		/* A vCPU waiting for a reply is as still as a paused one. */
		if (!sess->pause_count && !vv->wait.seq) {
			WRITE_ONCE(vv->park.call_waiting, false);
			spin_unlock(&sess->state_lock);
			return -EBUSY;
		}
		if (vv->park.parked) {
			WRITE_ONCE(vv->park.call_waiting, false);
			list_add_tail(&job.node, &vv->park.jobs);
			spin_unlock(&sess->state_lock);
			wake_up_all(&vv->park.wq);
			/* It may be parked waiting for ring space. */
			vmiop_events_kick_space(sess);
			break;
		}
		spin_unlock(&sess->state_lock);

		if (mutex_trylock(&vcpu->mutex)) {
			int ret;

			WRITE_ONCE(vv->park.call_waiting, false);
			ret = vmiop_vcpu_call_locked(sess, vcpu, fn, arg);
			mutex_unlock(&vcpu->mutex);
			return ret;
		}
		/*
		 * In a vCPU ioctl on its way to a park point, or leaving it;
		 * or spinning for its reply, which it stops for us.
		 */
		WRITE_ONCE(vv->park.call_waiting, true);
		if (wait_event_killable_timeout(sess->state_wq, READ_ONCE(vv->park.parked),
						msecs_to_jiffies(4)) < 0) {
			WRITE_ONCE(vv->park.call_waiting, false);
			return -EINTR;
		}
	}

	if (wait_for_completion_killable(&job.done)) {
		bool queued;

		spin_lock(&sess->state_lock);
		queued = !job.started;
		if (queued)
			list_del(&job.node);
		spin_unlock(&sess->state_lock);
		if (queued)
			return -EINTR;
		/* Running now on the vCPU with our arguments: let it finish. */
		wait_for_completion(&job.done);
	}
	return job.ret;
}

/* ---- events: the vCPU waits for the introspector's reply ---- */

/*
 * The type of the event @vcpu still waits on, or 0.  On its own thread:
 * only that thread writes wait.seq and wait.type (under state_lock, for
 * the readers elsewhere), so it reads them without the lock.
 */
u16 vmiop_event_pending_type(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	/*
	 * An event left for a signal is the guest's own (L1): an exit of its
	 * nested guest, which L1 may have entered meanwhile, is not its
	 * instruction run again and must neither take nor cancel its reply.
	 */
	if (vmiop_in_l2(vcpu))
		return 0;
	return vv->wait.seq ? vv->wait.type : 0;
}

/*
 * The vCPU left while waiting for a reply (a signal) and is back: if it
 * re-executes the same instruction it waits for that reply again instead
 * of posting a second event.  Anything else means the VMM changed its state
 * meanwhile; the old event can no longer be answered.
 */
bool vmiop_event_resume_pending(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
				const struct vmiop_event *e)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];
	bool same;

	spin_lock(&sess->state_lock);
	same = vv->wait.seq && vv->wait.type == e->type && vv->wait.rip == e->regs.rip;
	if (!same) {
		vv->wait.seq = 0;
		vv->wait.replied = false;
	}
	spin_unlock(&sess->state_lock);
	return same;
}

/* Called with the ring's lock held, before the event becomes visible. */
void vmiop_event_set_pending(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			     const struct vmiop_event *e)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];

	spin_lock(&sess->state_lock);
	vv->wait.seq = e->seq;
	vv->wait.type = e->type;
	vv->wait.rip = e->regs.rip;
	vv->wait.replied = false;
	spin_unlock(&sess->state_lock);
}

/*
 * @rr: NULL for VMIOP_EVENT_REPLY, or the ring's entry whose reply @r is,
 * checked as such.
 */
long vmiop_event_set_reply(struct vmiop_session *sess, const struct vmiop_event_reply *r,
			   const u8 *emul_read, const struct vmiop_ring_reply *rr)
{
	struct vmiop_vcpu *vv = &sess->vcpus[r->vcpu];
	struct kvm_vcpu *vcpu;
	bool waiting;
	long ret;

	spin_lock(&sess->state_lock);
	if (!vv->wait.seq || vv->wait.seq != r->seq || vv->wait.replied) {
		ret = -ENOENT;
	} else {
		u32 takes = vmiop_event_classes[vv->wait.type]->takes;

		ret = rr ? abi_check_ring_reply(rr, takes) : abi_check_event_reply(r, takes);
		if (!ret) {
			vv->wait.reply = *r;
			memcpy(vv->wait.emul_read, emul_read, sizeof(vv->wait.emul_read));
			vv->wait.replied = true;
		}
	}
	/* A spinning vCPU looks at replied before it parks (under state_lock). */
	waiting = vv->park.parked || vv->wait.spinning;
	spin_unlock(&sess->state_lock);
	if (ret)
		return ret;
	/* pairs with the barrier of the vCPU queueing itself in vmiop_park_wait() */
	if (wq_has_sleeper(&vv->park.wq))
		wake_up_all(&vv->park.wq);
	/*
	 * Not waiting: a signal took it away first, and it takes the reply at
	 * its next park point, which a halted vCPU reaches only when woken.
	 */
	vcpu = waiting ? NULL : kvm_get_vcpu(sess->kvm, r->vcpu);
	if (vcpu)
		vmiop_kick(vcpu);
	return 0;
}

static bool vmiop_replied(struct vmiop_session *sess, struct vmiop_vcpu *vv, void *ctx)
{
	return READ_ONCE(vv->wait.replied);
}

/* What any reply may ask beyond its action: done before the next entry. */
static void vmiop_reply_taken(struct kvm_vcpu *vcpu, struct vmiop_vcpu *vv,
			      const struct vmiop_event_reply *reply)
{
	if (reply->flags & VMIOP_REPLY_F_SINGLESTEP)
		vv->step.once = true;
	if (reply->action == VMIOP_ACTION_INJECT) {
		vv->exit.inject = reply->exception;
		vv->exit.inject_pending = true;
	}
	if (vv->step.once || vv->exit.inject_pending)
		kvm_make_request(KVM_REQ_EVENT, vcpu);
}

/*
 * The reply just taken could not be carried out before a signal made the
 * vCPU leave (a step-over waiting for the others): it waits again as it
 * was, so that the instruction, run again, takes it without a second
 * event.
 */
void vmiop_event_reply_again(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			     const struct vmiop_event_reply *reply)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];

	spin_lock(&sess->state_lock);
	if (vv->wait.taken_seq && !vv->wait.seq) {
		vv->wait.seq = vv->wait.taken_seq;
		vv->wait.reply = *reply;
		vv->wait.replied = true;
	}
	spin_unlock(&sess->state_lock);
	/* Taken again later, with what taking it asks (vmiop_reply_taken()). */
	if (reply->flags & VMIOP_REPLY_F_SINGLESTEP)
		vmiop_vcpu_own(sess, vcpu)->step.once = false;
}

/* Queues an exception from VMIOP_ACTION_INJECT (checked by abi.c). */
void vmiop_inject(struct kvm_vcpu *vcpu, const struct vmiop_inject *x)
{
	if (x->vector == PF_VECTOR)
		vcpu->arch.cr2 = x->cr2;
	if (x->flags & VMIOP_INJECT_F_ERROR_CODE)
		kvm_queue_exception_e(vcpu, x->vector, x->error_code);
	else
		kvm_queue_exception(vcpu, x->vector);
}

/*
 * Waits for the reply, the end of the session, or a signal: spinning while
 * the consumer runs, then parked (register calls run here meanwhile).
 * kvm->srcu is held on entry and exit and dropped while waiting.
 */
int vmiop_event_wait_reply(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			   struct vmiop_event_reply *reply)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	enum vmiop_park_end end;
	bool asleep;
	int ret;

	kvm_vcpu_srcu_read_unlock(vcpu);
	WRITE_ONCE(vv->wait.spinning, true);
	vmiop_reply_spin(sess, vcpu);
	asleep = !READ_ONCE(vv->wait.replied);
	if (asleep)
		vmiop_reply_sleeping(sess, true);
	spin_lock(&sess->state_lock);
	WRITE_ONCE(vv->wait.spinning, false);
	end = vmiop_park_wait(sess, vcpu, &vv->park.wq, vmiop_replied, NULL, MAX_SCHEDULE_TIMEOUT);
	switch (end) {
	case VMIOP_PARK_DONE:
		*reply = vv->wait.reply;
		if (reply->action == VMIOP_ACTION_EMULATE)
			memcpy(vv->mem.read_data, vv->wait.emul_read, sizeof(vv->mem.read_data));
		ret = 0;
		break;
	case VMIOP_PARK_DETACHED:
		memset(reply, 0, sizeof(*reply));
		reply->action = VMIOP_ACTION_CONTINUE;
		ret = 0;
		break;
	default:
		ret = -EINTR;
		break;
	}
	if (!ret) {
		vv->wait.taken_seq = vv->wait.seq;
		vv->wait.seq = 0;
		vv->wait.replied = false;
	}
	spin_unlock(&sess->state_lock);
	if (asleep)
		vmiop_reply_sleeping(sess, false);
	kvm_vcpu_srcu_read_lock(vcpu);
	if (!ret)
		vmiop_reply_taken(vcpu, vv, reply);
	return ret;
}
