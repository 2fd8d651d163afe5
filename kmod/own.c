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

struct own_slot_work {
	struct kthread_work work;
	struct vmiop_session *sess;
	u64 gpa, len;	/* len 0: remove */
	int ret;
};

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

/*
 * On the session's kthread, in the VMM's mm: KVM maps a slot's memory
 * (vm_mmap) into current->mm, and the VMM's threads must find it there.
 * Not under kvm->srcu: a memslot change waits for its readers.
 */
static void own_slot_fn(struct kthread_work *work)
{
	struct own_slot_work *w = container_of(work, struct own_slot_work, work);
	struct kvm *kvm = w->sess->kvm;
	void __user *hva;

	if (!mmget_not_zero(w->sess->mm)) {
		w->ret = -ESRCH;
		return;
	}
	kthread_use_mm(w->sess->mm);
	mutex_lock(&kvm->slots_lock);
	if (w->len && own_overlaps(kvm, w->gpa, w->len)) {
		w->ret = -EEXIST;
	} else {
		hva = __x86_set_memory_region(kvm, VMIOP_OWN_SLOT, w->gpa, w->len);
		w->ret = IS_ERR((void __force *)hva) ? PTR_ERR((void __force *)hva) : 0;
	}
	mutex_unlock(&kvm->slots_lock);
	kthread_unuse_mm(w->sess->mm);
	mmput(w->sess->mm);
}

static int own_slot_set(struct vmiop_session *sess, u64 gpa, u64 len)
{
	struct own_slot_work w = { .sess = sess, .gpa = gpa, .len = len };

	kthread_init_work(&w.work, own_slot_fn);
	kthread_queue_work(sess->worker, &w.work);
	kthread_flush_work(&w.work);
	return w.ret;
}

long vmiop_ioctl_add_memory(struct vmiop_session *sess, struct vmiop_add_memory *m,
			    const struct vmiop_uarg *ua)
{
	struct kvm_vcpu *vcpu0 = kvm_get_vcpu(sess->kvm, 0);
	u64 top;
	long ret;

	if (m->flags || !m->len || m->len > VMIOP_OWN_MEMORY_MAX ||
	    !PAGE_ALIGNED(m->len) || !PAGE_ALIGNED(m->gpa))
		return -EINVAL;
	top = 1ULL << (vcpu0 ? vcpu0->arch.maxphyaddr : boot_cpu_data.x86_phys_bits);
	if (!m->gpa)
		m->gpa = ALIGN_DOWN(top - m->len, SZ_2M);
	if (m->gpa + m->len > top || m->gpa + m->len < m->gpa)
		return -EINVAL;

	mutex_lock(&sess->lock);
	ret = -EEXIST;
	if (!sess->own_len) {
		ret = vmiop_uarg_put(ua, m) ?: own_slot_set(sess, m->gpa, m->len);
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

	if (vmiop_ve_queued(sess, vcpu))
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
 * first, empties the log and flushes every vCPU's TLB (a page-table entry
 * may be among them).
 */
static void own_undo_replay(struct vmiop_session *sess, u32 *restored, u32 *kept)
{
	struct vmiop_undo_entry *e, *tmp;
	u8 *now;

	*restored = *kept = 0;
	if (list_empty(&sess->undo))
		return;
	now = kmalloc(VMIOP_UNDO_OP_MAX, GFP_KERNEL);
	list_for_each_entry_safe(e, tmp, &sess->undo, node) {
		if (now && !vmiop_gpa_read(sess, e->gpa, now, e->len) &&
		    !memcmp(now, e->bytes + e->len, e->len) &&
		    !vmiop_gpa_write(sess, e->gpa, e->bytes, e->len))
			(*restored)++;
		else
			(*kept)++;
		list_del(&e->node);
		kvfree(e);
	}
	sess->undo_nr = 0;
	kfree(now);
	kvm_make_all_cpus_request(sess->kvm, KVM_REQ_TLB_FLUSH_GUEST);
}

long vmiop_ioctl_undo(struct vmiop_session *sess, struct vmiop_undo *u,
		      const struct vmiop_uarg *ua)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	long ret = 0;

	if (u->flags & ~VMIOP_UNDO_F_MEMORY || u->restored || u->kept)
		return -EINVAL;
	mutex_lock(&sess->lock);
	if (u->flags & VMIOP_UNDO_F_MEMORY) {
		ret = -ENOENT;
		if (!sess->own_len)
			goto out;
		ret = -EBUSY;
		if (!sess->pause_count)
			goto out;
		kvm_for_each_vcpu(i, vcpu, sess->kvm) {
			ret = vmiop_vcpu_call(sess, vcpu->vcpu_idx, own_busy_fn, sess);
			if (ret)
				goto out;
		}
	}
	/* Faults the caller's struct in (unchanged) before anything changes. */
	ret = vmiop_uarg_put(ua, u);
	if (ret)
		goto out;
	own_undo_replay(sess, &u->restored, &u->kept);
	if (u->flags & VMIOP_UNDO_F_MEMORY) {
		ret = own_slot_set(sess, sess->own_gpa, 0);
		WRITE_ONCE(sess->own_len, 0);
	}
	if (vmiop_uarg_put(ua, u) && !ret)
		ret = -EFAULT;
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

/* Detach still waits for @vcpu to be seen outside the session's memory. */
bool vmiop_own_waits_for(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	return READ_ONCE(sess->own_len) && !READ_ONCE(sess->vcpus[vcpu->vcpu_idx].own_clear);
}

/*
 * The end of detach, every vCPU seen outside the memory (intercept.c waits
 * for that as for its intercepts): the writes go back, then the memory.
 * A VM that will not run again keeps both; they go with it.
 */
void vmiop_own_release(struct vmiop_session *sess, bool vm_alive)
{
	u32 restored, kept;

	mutex_lock(&sess->lock);
	if (vm_alive) {
		own_undo_replay(sess, &restored, &kept);
		if (sess->own_len && own_slot_set(sess, sess->own_gpa, 0))
			pr_info("detach: the session's memory at %#llx stays until the VM ends\n",
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
