// SPDX-License-Identifier: GPL-2.0
/*
 * What a session puts into the guest, and takes back when asked or when it
 * goes: guest memory of its own, which the VMM does not know, and the
 * writes it logged (VMIOP_MEM_F_UNDO).  An agent lives in the one and is
 * reached through the other (an IDT gate, a page-table entry), so the
 * memory goes only after the writes are back and once no vCPU can be
 * inside it.
 */
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/sizes.h>
#include "abi.h"
#include "vmiop.h"

/* The last slot id userspace may use: QEMU takes the lowest free one. */
#define VMIOP_OWN_SLOT (KVM_USER_MEM_SLOTS - 1)

struct vmiop_undo_entry {
	struct list_head node;
	u64 gpa;
	u32 len;
	u8 bytes[];	/* what was there, then what vmiop wrote */
};

bool vmiop_own_slot(const struct kvm_memory_slot *slot)
{
	return slot->id == VMIOP_OWN_SLOT;
}

/* ---- the memory -------------------------------------------------------- */

/* Called with kvm->slots_lock held. */
static bool own_overlaps(struct kvm *kvm, u64 gpa, u64 len)
{
	struct kvm_memory_slot *slot;
	int as, bkt;

	for (as = 0; as < KVM_ADDRESS_SPACE_NUM; as++) {
		kvm_for_each_memslot(slot, bkt, __kvm_memslots(kvm, as)) {
			u64 start = slot->base_gfn << PAGE_SHIFT;

			if (gpa < start + (slot->npages << PAGE_SHIFT) && start < gpa + len)
				return true;
		}
	}
	return false;
}

/* The slot is the one vmiop made (a VMM may have taken the id since). */
static bool own_slot_is_ours(struct kvm *kvm, u64 gpa, u64 len)
{
	struct kvm_memory_slot *slot = id_to_memslot(__kvm_memslots(kvm, 0), VMIOP_OWN_SLOT);

	return slot && slot->base_gfn == gpa >> PAGE_SHIFT && slot->npages == len >> PAGE_SHIFT;
}

/*
 * The slot made in the normal address space but not in SMM's: taken down
 * there, and its mapping with it (__x86_set_memory_region() would stop at
 * the SMM slot it does not find).
 */
static void own_slot_undo_half(struct kvm *kvm, u64 len)
{
	struct kvm_memory_slot *slot = id_to_memslot(__kvm_memslots(kvm, 0), VMIOP_OWN_SLOT);
	struct kvm_userspace_memory_region m = { .slot = VMIOP_OWN_SLOT };
	unsigned long hva = slot->userspace_addr;

	if (!__kvm_set_memory_region(kvm, &m))
		vm_munmap(hva, len);
}

/*
 * Adds (@add) or removes the session's slot.  On the session's kthread, in
 * the VMM's mm: KVM maps a slot's memory (vm_mmap) into current->mm, and
 * the VMM's threads must find it there.  Not under kvm->srcu: a memslot
 * change waits for its readers.
 */
static int own_slot_update(struct vmiop_session *sess, u64 gpa, u64 len, bool add)
{
	struct kvm *kvm = sess->kvm;
	void __user *hva;
	int ret = 0;

	if (!mmget_not_zero(sess->mm))
		return -ESRCH;
	kthread_use_mm(sess->mm);
	mutex_lock(&kvm->slots_lock);
	if (add && own_overlaps(kvm, gpa, len)) {
		ret = -EEXIST;
	} else if (add) {
		hva = __x86_set_memory_region(kvm, VMIOP_OWN_SLOT, gpa, len);
		ret = IS_ERR((void __force *)hva) ? PTR_ERR((void __force *)hva) : 0;
		if (ret && own_slot_is_ours(kvm, gpa, len))
			own_slot_undo_half(kvm, len);
	} else if (own_slot_is_ours(kvm, gpa, len)) {
		hva = __x86_set_memory_region(kvm, VMIOP_OWN_SLOT, 0, 0);
		ret = IS_ERR((void __force *)hva) ? PTR_ERR((void __force *)hva) : 0;
	}
	mutex_unlock(&kvm->slots_lock);
	kthread_unuse_mm(sess->mm);
	mmput(sess->mm);
	return ret;
}

struct own_work {
	struct kthread_work work;
	struct vmiop_session *sess;
	u64 gpa, len;
	bool add;		/* the slot: add it */
	bool replay;		/* the undo log: put it back ... */
	bool remove;		/* ... then remove the slot, if all of it went back */
	u32 restored, kept;
	int ret;
};

static void own_undo_replay(struct vmiop_session *sess, struct own_work *w);

static void own_work_fn(struct kthread_work *work)
{
	struct own_work *w = container_of(work, struct own_work, work);

	if (w->add) {
		w->ret = own_slot_update(w->sess, w->gpa, w->len, true);
		return;
	}
	if (w->replay)
		own_undo_replay(w->sess, w);
	if (w->remove && !w->ret)
		w->ret = own_slot_update(w->sess, w->gpa, w->len, false);
}

/*
 * On the session's kthread: it takes no signals, so neither a SIGKILL of
 * the caller (an introspector killed as it detaches) nor anything else
 * cuts a replay or a removal short.  Called with sess->lock held.
 */
static int own_run(struct vmiop_session *sess, struct own_work *w)
{
	lockdep_assert_held(&sess->lock);
	w->sess = sess;
	kthread_init_work(&w->work, own_work_fn);
	kthread_queue_work(sess->worker, &w->work);
	kthread_flush_work(&w->work);
	return w->ret;
}

long vmiop_ioctl_add_memory(struct vmiop_session *sess, struct vmiop_add_memory *m,
			    const struct vmiop_uarg *ua)
{
	struct kvm_vcpu *vcpu0 = kvm_get_vcpu(sess->kvm, 0);
	struct own_work w = { .add = true };
	unsigned int bits = boot_cpu_data.x86_phys_bits;
	u64 top;
	long ret;

	if (m->flags || !m->len || m->len > VMIOP_OWN_MEMORY_MAX ||
	    !PAGE_ALIGNED(m->len) || !PAGE_ALIGNED(m->gpa))
		return -EINVAL;
	/* Below what the guest can address, and what KVM's MMU maps (the host's). */
	if (vcpu0 && vcpu0->arch.maxphyaddr < bits)
		bits = vcpu0->arch.maxphyaddr;
	top = 1ULL << bits;
	if (!m->gpa)
		m->gpa = ALIGN_DOWN(top - m->len, SZ_2M);
	if (m->gpa + m->len > top || m->gpa + m->len < m->gpa)
		return -EINVAL;

	mutex_lock(&sess->lock);
	ret = -EEXIST;
	if (!sess->own_len) {
		w.gpa = m->gpa;
		w.len = m->len;
		ret = vmiop_uarg_put(ua, m) ?: own_run(sess, &w);
		if (!ret) {
			sess->own_gpa = m->gpa;
			WRITE_ONCE(sess->own_len, m->len);
		}
	}
	mutex_unlock(&sess->lock);
	return ret;
}

static bool own_gpa_in(struct vmiop_session *sess, gpa_t gpa)
{
	return gpa != INVALID_GPA && gpa - sess->own_gpa < sess->own_len;
}

/*
 * @vcpu may be inside the session's memory, or about to be: a #VE vmiop
 * queued, an NMI blocked (its handler may have interrupted the agent and
 * will return into it), its RIP or its stack there.  On the vCPU's thread
 * or with its mutex held.
 */
static bool own_vcpu_busy(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct kvm_regs regs;

	/* An SMI handler returns (RSM) to where it interrupted. */
	if (vmiop_ve_queued(sess, vcpu) || vcpu->arch.hflags & HF_SMM_MASK)
		return true;
	/* The agent is 64-bit L1 code, and runs no nested guest. */
	if (vmiop_in_l2(vcpu) || !(vcpu->arch.efer & EFER_LMA))
		return false;
	if (vmiop_ksym.x86_ops->get_nmi_mask(vcpu))
		return true;
	vmiop_ksym.get_regs(vcpu, &regs);
	return own_gpa_in(sess, vmiop_ve_translate(vcpu, kvm_get_linear_rip(vcpu))) ||
	       own_gpa_in(sess, vmiop_ve_translate(vcpu, regs.rsp));
}

static int own_busy_fn(struct kvm_vcpu *vcpu, void *arg)
{
	return own_vcpu_busy(arg, vcpu) ? -EBUSY : 0;
}

/* ---- the undo log ------------------------------------------------------- */

/* Room for @count more entries; called with sess->lock held. */
int vmiop_undo_reserve(struct vmiop_session *sess, u32 count)
{
	lockdep_assert_held(&sess->lock);
	return sess->undo_nr + count > VMIOP_UNDO_MAX ? -ENOSPC : 0;
}

/*
 * Logs a write of @len bytes at @gpa, before it is made: its old bytes
 * and @new.  Returns the entry, which vmiop_undo_commit() keeps once the
 * write landed and vmiop_undo_drop() frees if it did not.
 */
struct vmiop_undo_entry *vmiop_undo_prepare(struct vmiop_session *sess, u64 gpa,
					    const void __user *new, u32 len)
{
	struct vmiop_undo_entry *e;
	int ret;

	e = kvmalloc(struct_size(e, bytes, 2 * len), GFP_KERNEL_ACCOUNT);
	if (!e)
		return ERR_PTR(-ENOMEM);
	e->gpa = gpa;
	e->len = len;
	ret = vmiop_gpa_read(sess, gpa, e->bytes, len);
	if (!ret && copy_from_user(e->bytes + len, new, len))
		ret = -EFAULT;
	if (ret) {
		kvfree(e);
		return ERR_PTR(ret);
	}
	return e;
}

void vmiop_undo_commit(struct vmiop_session *sess, struct vmiop_undo_entry *e)
{
	lockdep_assert_held(&sess->lock);
	list_add(&e->node, &sess->undo);	/* newest first */
	sess->undo_nr++;
}

void vmiop_undo_drop(struct vmiop_undo_entry *e)
{
	kvfree(e);
}

/*
 * Puts back each logged write whose bytes the guest still holds, newest
 * first, and flushes every vCPU's TLB (a page-table entry may be among
 * them).  A write of up to 8 bytes in one aligned quadword goes back
 * atomically against the guest's own writes (the guest may be running:
 * detach); a longer one is compared, then copied.  An entry that cannot
 * be put back for an error stops the replay there and stays in the log,
 * with those under it, and says so in w->ret: the memory it may point
 * into must stay too.  One whose memory the VMM removed is dropped.
 */
static void own_undo_replay(struct vmiop_session *sess, struct own_work *w)
{
	struct vmiop_undo_entry *e, *tmp;
	u8 *now = NULL;
	int ret;

	if (list_empty(&sess->undo))
		return;
	list_for_each_entry_safe(e, tmp, &sess->undo, node) {
		const u8 *old = e->bytes, *new = e->bytes + e->len;

		if (e->len <= 8 && (e->gpa & 7) + e->len <= 8) {
			ret = vmiop_gpa_cmpxchg(sess, e->gpa, new, old, e->len);
		} else {
			ret = -ENOMEM;
			if (!now)
				now = kmalloc(VMIOP_UNDO_OP_MAX, GFP_KERNEL);
			if (now)
				ret = vmiop_gpa_read(sess, e->gpa, now, e->len);
			if (!ret)
				ret = memcmp(now, new, e->len) ? 0 :
				      vmiop_gpa_write(sess, e->gpa, old, e->len) ?: 1;
		}
		/*
		 * Memory the VMM took away holds nothing to put back, nor
		 * anything that could point into the session's memory.  Any
		 * other error stops the replay where it is: an older entry
		 * under this one would compare against vmiop's own bytes.
		 */
		if (ret < 0 && ret != -ENXIO) {
			w->ret = ret;
			break;
		}
		if (ret > 0)
			w->restored++;
		else
			w->kept++;
		list_del(&e->node);
		sess->undo_nr--;
		kvfree(e);
	}
	kfree(now);
	kvm_make_all_cpus_request(sess->kvm, KVM_REQ_TLB_FLUSH_GUEST);
}

long vmiop_ioctl_undo(struct vmiop_session *sess, struct vmiop_undo *u,
		      const struct vmiop_uarg *ua)
{
	struct own_work w = { .replay = true };
	struct kvm_vcpu *vcpu;
	unsigned long i;
	long ret;

	if (u->flags & ~VMIOP_UNDO_F_MEMORY || u->restored || u->kept)
		return -EINVAL;
	mutex_lock(&sess->lock);
	/*
	 * Paused: a #VE decided before a gate or mapping went back is
	 * withdrawn at the vCPU's park point (vmiop_ve_recheck()) rather
	 * than delivered to what the guest had.
	 */
	ret = -EBUSY;
	if (!sess->pause_count)
		goto out;
	ret = -ENOENT;
	if (u->flags & VMIOP_UNDO_F_MEMORY && !sess->own_len)
		goto out;
	/* What points into the memory goes back only when no vCPU is inside. */
	if (sess->own_len) {
		kvm_for_each_vcpu(i, vcpu, sess->kvm) {
			ret = vmiop_vcpu_call(sess, vcpu->vcpu_idx, own_busy_fn, sess);
			if (ret)
				goto out;
		}
	}
	if (u->flags & VMIOP_UNDO_F_MEMORY) {
		w.remove = true;
		w.gpa = sess->own_gpa;
		w.len = sess->own_len;
	}
	/* Faults the caller's struct in (unchanged) before anything changes. */
	ret = vmiop_uarg_put(ua, u);
	if (ret)
		goto out;
	ret = own_run(sess, &w);
	if (w.remove && !ret)
		WRITE_ONCE(sess->own_len, 0);
	u->restored = w.restored;
	u->kept = w.kept;
	/* Done: the counts are a courtesy, the struct was writable a moment ago. */
	vmiop_uarg_put(ua, u);
out:
	mutex_unlock(&sess->lock);
	return ret;
}

/* ---- detach ------------------------------------------------------------- */

/*
 * Detached, at the vCPU's park point or with its mutex held: once it has
 * been seen outside the session's memory it cannot enter it again (no #VE
 * is delivered any more), and is not looked at again.
 */
void vmiop_own_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	if (READ_ONCE(sess->detached) && READ_ONCE(sess->own_len) && !vv->own_clear &&
	    !own_vcpu_busy(sess, vcpu))
		WRITE_ONCE(vv->own_clear, true);
}

/* A guest that keeps a vCPU inside (NMIs blocked for ever) is not waited for. */
#define VMIOP_OWN_DETACH_WAIT	(10 * HZ)

/*
 * Detach still waits for @vcpu to be seen outside the session's memory,
 * for a while: the wait starts at the first look.
 */
bool vmiop_own_waits_for(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];

	if (!READ_ONCE(sess->own_len) || READ_ONCE(vv->own_clear))
		return false;
	/*
	 * Halted: the agent has no HLT, so the vCPU is outside it, and does
	 * not come to a park point until something wakes it.
	 */
	if (READ_ONCE(vcpu->arch.mp_state) == KVM_MP_STATE_HALTED && !vmiop_ve_queued(sess, vcpu)) {
		WRITE_ONCE(vv->own_clear, true);
		return false;
	}
	if (!READ_ONCE(sess->own_deadline))
		WRITE_ONCE(sess->own_deadline, (jiffies + VMIOP_OWN_DETACH_WAIT) | 1);
	return time_before(jiffies, READ_ONCE(sess->own_deadline));
}

static bool own_all_clear(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	kvm_for_each_vcpu(i, vcpu, sess->kvm)
		if (!READ_ONCE(sess->vcpus[vcpu->vcpu_idx].own_clear))
			return false;
	return true;
}

/*
 * The end of detach (intercept.c waits for each vCPU to be seen outside
 * the memory, as for its intercepts): the writes go back, then the
 * memory.  A VM that will not run again keeps both, and so does one with
 * a vCPU still inside: nothing enters the agent once detached, and what
 * points into the memory stays valid.
 */
void vmiop_own_release(struct vmiop_session *sess, bool vm_alive)
{
	struct own_work w = { .replay = true };

	mutex_lock(&sess->lock);
	if (vm_alive && (!sess->own_len || own_all_clear(sess))) {
		w.remove = sess->own_len;
		w.gpa = sess->own_gpa;
		w.len = sess->own_len;
		own_run(sess, &w);
	} else if (vm_alive) {
		pr_info("detach: a vCPU stays in the session's memory at %#llx; it and the writes into the guest stay\n",
			sess->own_gpa);
	}
	WRITE_ONCE(sess->own_len, 0);
	mutex_unlock(&sess->lock);
}

/* The log's entries, whatever became of the VM (the session is freed). */
void vmiop_own_free(struct vmiop_session *sess)
{
	struct vmiop_undo_entry *e, *tmp;

	list_for_each_entry_safe(e, tmp, &sess->undo, node)
		kvfree(e);
	INIT_LIST_HEAD(&sess->undo);
}
