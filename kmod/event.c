// SPDX-License-Identifier: GPL-2.0
/*
 * The event ring and what the introspector does with it: setup, enabling
 * event types with their filters, replies, waiting.  A vCPU that hits an
 * enabled event copies it into the ring here and then waits for the reply
 * in vcpu.c, parked like a paused vCPU.
 */
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include "abi.h"
#include "vmiop.h"

struct vmiop_filter {
	struct rcu_head rcu;
	u32 nr;
	struct vmiop_filter_range range[];
};

struct vmiop_event_cfg {
	unsigned long *vcpus;			/* enabled on these vCPU indices */
	struct vmiop_filter __rcu *filter;	/* NULL: every key */
	u32 type_flags;				/* VMIOP_EVENT_CTL_F_READS/_CHANGES */
};

struct vmiop_events {
	void *mem;			/* vmalloc_user(): what userspace maps */
	size_t mem_size;
	u32 *head_user;			/* written only here */
	u32 *tail_user;			/* written only by the consumer */
	struct vmiop_event *entries;
	u32 nr_entries;

	spinlock_t lock;		/* producers: head, seq */
	u32 head;
	u64 seq;

	wait_queue_head_t space_wq;	/* vCPUs waiting for a free entry */
	wait_queue_head_t ready_wq;	/* poll and VMIOP_EVENT_WAIT */
	struct vmiop_event_cfg cfg[VMIOP_EVENT_NR_TYPES];

	/* The reply ring: the consumer produces, whoever holds reply_mutex takes. */
	u32 *reply_head_user;		/* written only by the consumer */
	u32 *reply_tail_user;		/* written only here */
	struct vmiop_ring_reply *replies;
	struct vmiop_ring_status *status;	/* written only here */
	struct mutex reply_mutex;	/* the rest of this block */
	u32 reply_tail;
	u32 reply_errors, reply_refused;	/* what status says, kept here */
	u32 bad_head;			/* the reply_head last refused as a whole */
	bool bad_head_seen;

	spinlock_t sleep_lock;		/* sleepers, and status->flags */
	u32 sleepers;			/* vCPUs asleep until their reply */

	/*
	 * The thread that last waited for events or replied: what a vCPU
	 * spins for while it runs.  A reference, so that a spinning vCPU can
	 * look at it (it takes its own under consumer_lock).
	 */
	spinlock_t consumer_lock;
	struct task_struct *consumer;
};

/*
 * How long a vCPU spins for its reply while the consumer runs before it
 * sleeps.  0: never spin.  The spin ends early for a signal, a reschedule,
 * a pause or register call, or a consumer that stops running.
 */
static unsigned int reply_spin_us = 100;
module_param(reply_spin_us, uint, 0644);
MODULE_PARM_DESC(reply_spin_us, "us a vCPU spins for its reply while the consumer runs (0: never)");

/* Why this host cannot deliver @type, or VMIOP_CAP_OK. */
static u32 vmiop_event_unavailable(u32 type)
{
	const struct vmiop_event_class *c = vmiop_event_classes[type];

	if (!c)
		return VMIOP_CAP_NOT_IMPLEMENTED;
	return c->unavailable ? c->unavailable() : VMIOP_CAP_OK;
}

long vmiop_ioctl_event_caps(struct vmiop_event_caps *c)
{
	u32 t;

	if (abi_check_event_caps(c))
		return -EINVAL;
	memset(c->reason, 0, sizeof(c->reason));
	c->supported = 0;
	c->cr_reads = vmiop_vendor->cr_reads;
	c->singlestep = vmiop_step_method();
	c->mem_rights = vmiop_mem_host_rights();
	c->ve_delivery = vmiop_ve_delivery();
	for (t = 1; t < VMIOP_EVENT_NR_TYPES; t++) {
		c->reason[t] = vmiop_event_unavailable(t);
		if (c->reason[t] == VMIOP_CAP_OK)
			c->supported |= BIT_ULL(t);
	}
	return 0;
}

static struct vmiop_events *vmiop_events_get(struct vmiop_session *sess)
{
	/* pairs with the smp_store_release() in vmiop_ioctl_ring_setup() */
	return smp_load_acquire(&sess->events);
}

/* The session has its ring (VMIOP_RING_SETUP). */
bool vmiop_events_ready(struct vmiop_session *sess)
{
	return vmiop_events_get(sess) != NULL;
}

void vmiop_events_free(struct vmiop_session *sess)
{
	struct vmiop_events *ev = sess->events;
	int t;

	if (!ev)
		return;
	for (t = 0; t < VMIOP_EVENT_NR_TYPES; t++) {
		bitmap_free(ev->cfg[t].vcpus);
		kfree(rcu_dereference_protected(ev->cfg[t].filter, true));
	}
	if (ev->consumer)
		put_task_struct(ev->consumer);
	/* Pages still mapped somewhere hold their own references. */
	vfree(ev->mem);
	kfree(ev);
}

long vmiop_ioctl_ring_setup(struct vmiop_session *sess, struct vmiop_ring_setup *r,
			    const struct vmiop_uarg *ua)
{
	struct vmiop_events *ev;
	long ret;
	int t;

	ret = abi_ring_setup(r);
	if (ret)
		return ret;
	ev = kzalloc(sizeof(*ev), GFP_KERNEL_ACCOUNT);
	if (!ev)
		return -ENOMEM;
	ev->mem_size = r->mmap_size;
	ev->mem = vmalloc_user(ev->mem_size);
	if (!ev->mem)
		goto nomem;
	for (t = 0; t < VMIOP_EVENT_NR_TYPES; t++) {
		ev->cfg[t].vcpus = bitmap_zalloc(KVM_MAX_VCPUS, GFP_KERNEL_ACCOUNT);
		if (!ev->cfg[t].vcpus)
			goto nomem;
	}
	ev->head_user = ev->mem + r->head_offset;
	ev->tail_user = ev->mem + r->tail_offset;
	ev->entries = ev->mem + r->entries_offset;
	ev->nr_entries = r->nr_entries;
	ev->reply_head_user = ev->mem + r->reply_head_offset;
	ev->reply_tail_user = ev->mem + r->reply_tail_offset;
	ev->replies = ev->mem + r->replies_offset;
	ev->status = ev->mem + r->status_offset;
	spin_lock_init(&ev->lock);
	init_waitqueue_head(&ev->space_wq);
	init_waitqueue_head(&ev->ready_wq);
	mutex_init(&ev->reply_mutex);
	spin_lock_init(&ev->sleep_lock);
	spin_lock_init(&ev->consumer_lock);
	ev->consumer = get_task_struct(current);

	if (mutex_lock_killable(&sess->lock)) {
		ret = -EINTR;
		goto free;
	}
	/* The geometry reaches the caller before anyone can see the ring. */
	ret = sess->events ? -EBUSY : vmiop_uarg_put(ua, r);
	if (!ret) {
		/* pairs with the smp_load_acquire() in vmiop_events_get() */
		smp_store_release(&sess->events, ev);
	}
	mutex_unlock(&sess->lock);
	if (!ret)
		return 0;
	goto free;
nomem:
	ret = -ENOMEM;
free:
	if (ev->consumer)
		put_task_struct(ev->consumer);
	for (t = 0; t < VMIOP_EVENT_NR_TYPES; t++)
		bitmap_free(ev->cfg[t].vcpus);
	vfree(ev->mem);
	kfree(ev);
	return ret;
}

int vmiop_events_mmap(struct vmiop_session *sess, struct vm_area_struct *vma)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	unsigned long len = vma->vm_end - vma->vm_start;

	if (!ev)
		return -ENXIO;
	if (vma->vm_pgoff > ev->mem_size >> PAGE_SHIFT ||
	    len > ev->mem_size - (vma->vm_pgoff << PAGE_SHIFT))
		return -EINVAL;
	return remap_vmalloc_range(vma, ev->mem, vma->vm_pgoff);
}

/*
 * A read-only session may step only where stepping leaves the guest as it
 * is: with the monitor trap flag.  The trap flag shows in what the guest
 * can see (SYSCALL's R11, exception frames) and vmiop rewrites what a
 * stepped PUSHF stored.
 */
static bool vmiop_step_changes_guest(struct vmiop_session *sess)
{
	return sess->read_only && vmiop_step_method() != VMIOP_STEP_MTF;
}

long vmiop_ioctl_event_control(struct vmiop_session *sess, struct vmiop_event_control *c)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	struct vmiop_filter *f = NULL, *old;
	struct vmiop_event_cfg *cfg;
	long ret;

	ret = abi_check_event_control(c);
	if (ret)
		return ret;
	if (!ev)
		return -ENXIO;
	if (vmiop_event_unavailable(c->type))
		return -EOPNOTSUPP;
	if (c->type == VMIOP_EVENT_SINGLESTEP && c->enable && vmiop_step_changes_guest(sess))
		return -EBADF;
	if (c->flags & VMIOP_EVENT_CTL_F_VCPU && c->vcpu >= KVM_MAX_VCPUS)
		return -ENOENT;
	if (c->nr_filter) {
		f = kmalloc(struct_size(f, range, c->nr_filter), GFP_KERNEL_ACCOUNT);
		if (!f)
			return -ENOMEM;
		f->nr = c->nr_filter;
		if (copy_from_user(f->range, u64_to_user_ptr(c->filter),
				   array_size(f->nr, sizeof(f->range[0])))) {
			kfree(f);
			return -EFAULT;
		}
		if (abi_check_filter(f->range, f->nr)) {
			kfree(f);
			return -EINVAL;
		}
	}

	cfg = &ev->cfg[c->type];
	if (mutex_lock_killable(&sess->lock)) {
		kfree(f);
		return -EINTR;
	}
	if (c->enable && !(c->flags & VMIOP_EVENT_CTL_F_VCPU)) {
		/* Filter first: a vCPU that sees the type on sees its filter. */
		old = rcu_replace_pointer(cfg->filter, f, lockdep_is_held(&sess->lock));
		kfree_rcu(old, rcu);
		WRITE_ONCE(cfg->type_flags, c->flags & (VMIOP_EVENT_CTL_F_READS |
							VMIOP_EVENT_CTL_F_CHANGES));
	}
	if (c->flags & VMIOP_EVENT_CTL_F_VCPU)
		assign_bit(c->vcpu, cfg->vcpus, c->enable);
	else if (c->enable)
		bitmap_fill(cfg->vcpus, KVM_MAX_VCPUS);
	else
		bitmap_zero(cfg->vcpus, KVM_MAX_VCPUS);
	mutex_unlock(&sess->lock);
	/* Each vCPU changes what KVM intercepts before its next entry. */
	if (vmiop_event_classes[c->type]->intercepts)
		vmiop_intercepts_kick(sess);
	return 0;
}

/* Enabled on @vcpu, whatever the filter says. */
bool vmiop_event_enabled_on(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type)
{
	struct vmiop_events *ev = vmiop_events_get(sess);

	return ev && test_bit(vcpu->vcpu_idx, ev->cfg[type].vcpus);
}

/* A per-type VMIOP_EVENT_CTL_F_* setting of @type is on. */
bool vmiop_event_type_flag(struct vmiop_session *sess, u16 type, u32 flag)
{
	struct vmiop_events *ev = vmiop_events_get(sess);

	return ev && (READ_ONCE(ev->cfg[type].type_flags) & flag);
}

/* Called on the vCPU's thread for every exit of a type vmiop delivers. */
bool vmiop_event_wanted(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			u16 type, u64 key)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	struct vmiop_filter *f;
	bool match;

	/* Every class's one nested-guest check. */
	if (!ev || !test_bit(vcpu->vcpu_idx, ev->cfg[type].vcpus) ||
	    READ_ONCE(sess->detached) || vmiop_in_l2(vcpu))
		return false;
	rcu_read_lock();
	f = rcu_dereference(ev->cfg[type].filter);
	match = !f || abi_filter_match(f->range, f->nr, key);
	rcu_read_unlock();
	return match;
}

/*
 * The hooks' gate (hooks.c), in their ftrace callback: preemption off, an
 * RCU-sched reader, on @vcpu's thread.  False only where an exit of @type
 * with @key has nothing to do with the session: not enabled on the vCPU
 * or rejected by the filter (read as vmiop_event_wanted() reads them), and
 * no reply of that type waiting (its thread's own fields).
 */
bool notrace vmiop_event_may_matter(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type,
				    u64 key)
{
	/* pairs with the smp_store_release() in vmiop_ioctl_ring_setup() */
	struct vmiop_events *ev = smp_load_acquire(&sess->events);
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];
	struct vmiop_filter *f;
	u32 i;

	if (vmiop_in_l2(vcpu))
		return false;
	if (vv->wait.seq && vv->wait.type == type)
		return true;
	if (!ev || READ_ONCE(sess->detached) || !test_bit(vcpu->vcpu_idx, ev->cfg[type].vcpus))
		return false;
	f = rcu_dereference_sched(ev->cfg[type].filter);
	if (!f)
		return true;
	/* abi_filter_match(), which is not notrace */
	for (i = 0; i < f->nr; i++)
		if (key >= f->range[i].first && key <= f->range[i].last)
			return true;
	return false;
}

static u32 vmiop_ring_ready(struct vmiop_events *ev)
{
	/* pairs with the consumer's store-release of tail */
	return abi_ring_ready(READ_ONCE(ev->head), smp_load_acquire(ev->tail_user));
}

static bool vmiop_ring_space(struct vmiop_session *sess, struct vmiop_vcpu *vv, void *ctx)
{
	struct vmiop_events *ev = ctx;

	/* A hint only: the acquire load under ev->lock decides. */
	return abi_ring_has_space(READ_ONCE(ev->head), READ_ONCE(*ev->tail_user),
				  ev->nr_entries);
}

/*
 * Copies @e into the ring, numbering it.  Returns its sequence number, or
 * 0 without posting if the session is gone, or -EINTR (as a negative
 * value in *err) when a signal arrived while the ring was full.  A vCPU
 * waiting for space is parked: a pause does not wait for the space, and
 * register calls run meanwhile.  The event still reports the exit as it
 * happened; registers set meanwhile take effect before the reply's action,
 * as those set while the event waits for its reply.
 */
static u64 vmiop_ring_post(struct vmiop_session *sess, struct vmiop_events *ev,
			   struct kvm_vcpu *vcpu, struct vmiop_event *e, int *err)
{
	enum vmiop_park_end end;
	u64 seq;
	u32 tail;

	*err = 0;
	for (;;) {
		spin_lock(&ev->lock);
		/* pairs with the consumer's store-release of tail */
		tail = smp_load_acquire(ev->tail_user);
		if (abi_ring_has_space(ev->head, tail, ev->nr_entries))
			break;
		spin_unlock(&ev->lock);

		/*
		 * The consumer frees entries by storing tail, without a
		 * syscall: replies, waits and polls wake us, and a periodic
		 * look catches a consumer that does none of these.
		 */
		kvm_vcpu_srcu_read_unlock(vcpu);
		spin_lock(&sess->state_lock);
		end = vmiop_park_wait(sess, vcpu, &ev->space_wq, vmiop_ring_space, ev,
				      msecs_to_jiffies(10));
		spin_unlock(&sess->state_lock);
		kvm_vcpu_srcu_read_lock(vcpu);
		if (end == VMIOP_PARK_DETACHED)
			return 0;
		if (end == VMIOP_PARK_SIGNAL) {
			*err = -EINTR;
			return 0;
		}
	}
	seq = ++ev->seq;
	e->seq = seq;
	memcpy(&ev->entries[ev->head & (ev->nr_entries - 1)], e, sizeof(*e));
	vmiop_event_set_pending(sess, vcpu, e);
	ev->head++;
	/* pairs with the consumer's load-acquire of head */
	smp_store_release(ev->head_user, ev->head);
	spin_unlock(&ev->lock);
	/*
	 * A consumer that is awake takes this event with the ones before it:
	 * one wake-up per batch.  wq_has_sleeper()'s barrier pairs with the
	 * one between the consumer queueing itself and looking at head.
	 */
	if (wq_has_sleeper(&ev->ready_wq))
		wake_up_all(&ev->ready_wq);
	return seq;
}

/*
 * Delivers event @e (type and payload filled in) from its vCPU's thread,
 * kvm->srcu held, and waits for the reply; an unwanted event (disabled or
 * filtered out) only takes the reply its vCPU was still waiting for.  Returns 0 with @reply filled
 * (VMIOP_ACTION_CONTINUE if the session ended), or -EINTR: a signal is
 * pending and the vCPU must leave KVM_RUN; the event stays pending and the
 * re-executed instruction waits for the same reply (no second event).
 */
int vmiop_event_deliver(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			struct vmiop_event *e, bool wanted, struct vmiop_event_reply *reply)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	int err;

	if (!vmiop_event_resume_pending(sess, vcpu, e)) {
		if (!wanted || !vmiop_ring_post(sess, ev, vcpu, e, &err)) {
			if (wanted && err)
				return err;
			reply->action = VMIOP_ACTION_CONTINUE;
			return 0;
		}
	}
	return vmiop_event_wait_reply(sess, vcpu, reply);
}

/* The consumer made progress: ring space may be free. */
static void vmiop_ring_kick_space(struct vmiop_events *ev)
{
	/* pairs with the barrier of the vCPU queueing itself on space_wq */
	if (wq_has_sleeper(&ev->space_wq))
		wake_up_all(&ev->space_wq);
}

/* For a register call: a vCPU waiting for ring space runs it. */
void vmiop_events_kick_space(struct vmiop_session *sess)
{
	struct vmiop_events *ev = vmiop_events_get(sess);

	if (ev)
		vmiop_ring_kick_space(ev);
}

/* ---- replies, through the ioctl or the reply ring ---- */

/* What a reply may ask of this session, wherever it comes from. */
static int vmiop_reply_allowed(struct vmiop_session *sess, const struct vmiop_event_reply *r)
{
	/* Every other action writes the guest: registers, memory, exceptions. */
	if (sess->read_only && r->action != VMIOP_ACTION_CONTINUE)
		return -EBADF;
	if (r->flags & VMIOP_REPLY_F_SINGLESTEP && vmiop_step_changes_guest(sess))
		return -EBADF;
	if (r->vcpu >= KVM_MAX_VCPUS)
		return -ENOENT;
	return 0;
}

/*
 * The thread that waits and replies is the one vCPUs spin for while it
 * runs.  Changing hands is rare: one consumer thread per ring.
 */
static void vmiop_consumer_is_current(struct vmiop_events *ev)
{
	struct task_struct *old;

	if (READ_ONCE(ev->consumer) == current)
		return;
	get_task_struct(current);
	spin_lock(&ev->consumer_lock);
	old = ev->consumer;
	WRITE_ONCE(ev->consumer, current);
	spin_unlock(&ev->consumer_lock);
	if (old)
		put_task_struct(old);
}

/*
 * Replies wait in the ring: a hint, reply_mutex's holder decides.  Not a
 * head already refused as a whole: nothing to take until it changes.
 */
static bool vmiop_replies_waiting(struct vmiop_events *ev)
{
	u32 head = READ_ONCE(*ev->reply_head_user);

	return head != READ_ONCE(ev->reply_tail) &&
	       !(READ_ONCE(ev->bad_head_seen) && head == READ_ONCE(ev->bad_head));
}

static int vmiop_ring_reply_one(struct vmiop_session *sess, const struct vmiop_ring_reply *rr)
{
	u8 emul_read[VMIOP_EMUL_READ_MAX] = {};
	const struct vmiop_event_reply *r = &rr->reply;
	int ret;

	/* In VMIOP_EVENT_REPLY's order: the struct itself before whom it names. */
	if (r->size != sizeof(*r) || (r->flags & ~VMIOP_REPLY_FLAGS) || r->reserved ||
	    rr->reserved[0] || rr->reserved[1])
		return -EINVAL;
	ret = vmiop_reply_allowed(sess, r);
	if (ret)
		return ret;
	if (r->action == VMIOP_ACTION_EMULATE && r->emul_read.len <= VMIOP_EMUL_READ_MAX)
		memcpy(emul_read, rr->emul_read, r->emul_read.len);
	return vmiop_event_set_reply(sess, r, emul_read, rr);
}

/*
 * Tells the consumer.  A refusal that leaves a vCPU waiting is named in the
 * last_error fields (which an -ENOENT, harmless, never overwrites), and
 * they are written before the counts, which are stored with release
 * (pairs with the consumer's acquire load of a count before the fields).
 */
static void vmiop_reply_refused(struct vmiop_events *ev, int err, u32 index,
				const struct vmiop_event_reply *r)
{
	struct vmiop_ring_status *st = ev->status;

	if (err != -ENOENT) {
		WRITE_ONCE(st->last_error, err);
		WRITE_ONCE(st->last_error_index, index);
		WRITE_ONCE(st->last_error_vcpu, r ? r->vcpu : ~0u);
		WRITE_ONCE(st->last_error_seq, r ? r->seq : 0);
		/* pairs with the consumer's load-acquire of the counts */
		smp_store_release(&st->reply_refused, ++ev->reply_refused);
	}
	/* pairs with the consumer's load-acquire of the counts */
	smp_store_release(&st->reply_errors, ++ev->reply_errors);
}

/*
 * Takes the replies waiting in the ring, whichever vCPUs they are for.  A
 * spinning vCPU passes @wait false: another thread taking them is as good,
 * and it looks again.  A refused reply is counted in the status, which the
 * release of reply_tail publishes; a reply_head that cannot be right is
 * refused as a whole, once for each such value.
 */
static void vmiop_replies_take(struct vmiop_session *sess, struct vmiop_events *ev, bool wait)
{
	struct vmiop_ring_reply rr;
	u32 head, n, tail;
	int ret;

	if (!wait) {
		if (!mutex_trylock(&ev->reply_mutex))
			return;
	} else {
		mutex_lock(&ev->reply_mutex);
	}
	/* pairs with the consumer's store-release of reply_head */
	head = smp_load_acquire(ev->reply_head_user);
	tail = ev->reply_tail;
	if (abi_reply_head_bad(head, tail, ev->nr_entries)) {
		if (!ev->bad_head_seen || head != ev->bad_head)
			vmiop_reply_refused(ev, -EINVAL, head, NULL);
		/* read without the mutex as a hint (vmiop_replies_waiting()) */
		WRITE_ONCE(ev->bad_head, head);
		WRITE_ONCE(ev->bad_head_seen, true);
		mutex_unlock(&ev->reply_mutex);
		return;
	}
	WRITE_ONCE(ev->bad_head_seen, false);
	for (n = abi_replies_to_take(head, tail, ev->nr_entries); n; n--, tail++) {
		/* One copy, checked and used: the consumer may be writing it still. */
		memcpy(&rr, &ev->replies[abi_ring_slot(tail, ev->nr_entries)], sizeof(rr));
		ret = vmiop_ring_reply_one(sess, &rr);
		if (ret)
			vmiop_reply_refused(ev, ret, tail, &rr.reply);
	}
	/* read without the mutex as a hint (vmiop_replies_waiting()) */
	WRITE_ONCE(ev->reply_tail, tail);
	/* pairs with the consumer's load-acquire of reply_tail before reusing entries */
	smp_store_release(ev->reply_tail_user, tail);
	mutex_unlock(&ev->reply_mutex);
	vmiop_ring_kick_space(ev);
}

/* For the system calls: the ring's replies come first, and the caller is the consumer. */
static void vmiop_consumer_call(struct vmiop_session *sess, struct vmiop_events *ev)
{
	vmiop_consumer_is_current(ev);
	if (vmiop_replies_waiting(ev))
		vmiop_replies_take(sess, ev, true);
}

/* The consumer is on a CPU, or woken and about to be on another than ours. */
static bool vmiop_consumer_running(struct task_struct *t)
{
	if (t == current)
		return false;
	if (READ_ONCE(t->on_cpu))
		return !vcpu_is_preempted(task_cpu(t));
	return READ_ONCE(t->__state) == TASK_RUNNING && task_cpu(t) != raw_smp_processor_id();
}

/*
 * A vCPU waiting for its reply (kvm->srcu not held) spins first, taking
 * the ring's replies as they come, for as long as the consumer runs and
 * at most reply_spin_us: a consumer on another CPU answers faster than
 * the vCPU would sleep and wake.  It stops for whatever vmiop_vcpu_must_park()
 * says needs it parked or off the CPU.
 */
void vmiop_reply_spin(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];
	unsigned int us = READ_ONCE(reply_spin_us);
	struct task_struct *t;
	u64 until;

	if (!us)
		return;
	spin_lock(&ev->consumer_lock);
	t = ev->consumer;
	if (t)
		get_task_struct(t);
	spin_unlock(&ev->consumer_lock);
	if (!t)
		return;
	until = local_clock() + (u64)us * NSEC_PER_USEC;
	for (;;) {
		if (vmiop_replies_waiting(ev))
			vmiop_replies_take(sess, ev, false);
		if (READ_ONCE(vv->wait.replied) || vmiop_vcpu_must_park(sess, vcpu) ||
		    !vmiop_consumer_running(t) || local_clock() > until)
			break;
		cpu_relax();
	}
	put_task_struct(t);
}

/*
 * A vCPU about to sleep until its reply (@asleep), or awake again.  While
 * one sleeps, the status tells the consumer that a reply it puts in the
 * ring needs a system call; the replies already there are taken first.
 */
void vmiop_reply_sleeping(struct vmiop_session *sess, bool asleep)
{
	struct vmiop_events *ev = vmiop_events_get(sess);

	spin_lock(&ev->sleep_lock);
	/* Each time: the consumer can write the status page too. */
	if (asleep)
		ev->sleepers++;
	else
		ev->sleepers--;
	WRITE_ONCE(ev->status->flags, ev->sleepers ? VMIOP_RING_NEED_WAKEUP : 0);
	spin_unlock(&ev->sleep_lock);
	if (!asleep)
		return;
	/*
	 * pairs with the consumer's barrier between its store of reply_head
	 * and its load of the flags: it sees the flag, or this sees its reply
	 * and takes it (waiting for a vCPU that may have looked too early).
	 */
	smp_mb();
	if (vmiop_replies_waiting(ev))
		vmiop_replies_take(sess, ev, true);
}

long vmiop_ioctl_event_reply(struct vmiop_session *sess, struct vmiop_event_reply *r)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	u8 emul_read[VMIOP_EMUL_READ_MAX];
	long ret;

	if ((r->flags & ~VMIOP_REPLY_FLAGS) || r->reserved)
		return -EINVAL;
	if (!ev)
		return -ENXIO;
	ret = vmiop_reply_allowed(sess, r);
	if (ret)
		return ret;
	memset(emul_read, 0, sizeof(emul_read));
	if (r->action == VMIOP_ACTION_EMULATE && r->emul_read.len <= VMIOP_EMUL_READ_MAX &&
	    copy_from_user(emul_read, u64_to_user_ptr(r->emul_read.data), r->emul_read.len))
		return -EFAULT;
	vmiop_consumer_call(sess, ev);
	ret = vmiop_event_set_reply(sess, r, emul_read, NULL);
	vmiop_ring_kick_space(ev);
	return ret;
}

/*
 * The consumer gives entries back through the kernel: the only way for a
 * session opened read-only, whose ring is mapped read-only.
 */
static int vmiop_ring_set_tail(struct vmiop_events *ev, u32 tail)
{
	u32 cur;
	int ret = 0;

	spin_lock(&ev->lock);
	cur = READ_ONCE(*ev->tail_user);
	/* Forward, and not past the events posted. */
	if (tail - cur > ev->head - cur)
		ret = -EINVAL;
	else
		/* pairs with the producer's load-acquire of tail, as the consumer's store */
		smp_store_release(ev->tail_user, tail);
	spin_unlock(&ev->lock);
	return ret;
}

long vmiop_ioctl_event_wait(struct vmiop_session *sess, struct vmiop_event_wait *w,
			    const struct vmiop_uarg *ua)
{
	struct vmiop_events *ev = vmiop_events_get(sess);
	long left;
	int ret;

	ret = abi_check_event_wait(w);
	if (ret)
		return ret;
	if (!ev)
		return -ENXIO;
	if (w->flags & VMIOP_EVENT_WAIT_F_TAIL) {
		/* A struct that cannot take the result must not move the tail. */
		ret = vmiop_uarg_put(ua, w) ?: vmiop_ring_set_tail(ev, w->tail);
		if (ret)
			return ret;
	}
	vmiop_consumer_call(sess, ev);
	vmiop_ring_kick_space(ev);
	if (w->timeout_ms < 0)
		left = wait_event_interruptible(ev->ready_wq, vmiop_ring_ready(ev)) ?: 1;
	else
		left = wait_event_interruptible_timeout(ev->ready_wq, vmiop_ring_ready(ev),
							msecs_to_jiffies(w->timeout_ms));
	if (left < 0)
		return -EINTR;
	w->ready = vmiop_ring_ready(ev);
	if (vmiop_uarg_put(ua, w))
		return -EFAULT;
	return w->ready ? 0 : -ETIMEDOUT;
}

__poll_t vmiop_events_poll(struct vmiop_session *sess, struct file *file,
			   struct poll_table_struct *pt)
{
	struct vmiop_events *ev = vmiop_events_get(sess);

	if (!ev)
		return EPOLLERR;
	vmiop_consumer_is_current(ev);
	vmiop_ring_kick_space(ev);
	poll_wait(file, &ev->ready_wq, pt);
	/* pairs with wq_has_sleeper() in vmiop_ring_post() */
	smp_mb();
	return vmiop_ring_ready(ev) ? EPOLLIN | EPOLLRDNORM : 0;
}

/* Detach: nobody waits for ring space or events of this session any more. */
void vmiop_events_detach(struct vmiop_session *sess)
{
	struct vmiop_events *ev = vmiop_events_get(sess);

	if (!ev)
		return;
	wake_up_all(&ev->space_wq);
	wake_up_all(&ev->ready_wq);
}
