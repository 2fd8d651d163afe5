// SPDX-License-Identifier: GPL-2.0
/*
 * Guest pages mapped into the introspector (the gist's map_pa).
 *
 * The mapping is VM_PFNMAP, coherent with the VMM's memory the way KVM's
 * SPTEs are: when the VMM's page behind a gpa changes (swap, migration,
 * THP, KSM, COW, munmap) its MMU notifier tells us, and the introspector's
 * next access faults the current page in.  What differs from KVM is that
 * our PTEs live in another process's page tables, which can only be zapped
 * through the device file's mapping (unmap_mapping_range(): i_mmap_rwsem,
 * then the introspector's own MMU notifiers), and neither may be taken
 * inside a notifier callback (lockdep: a cycle with every unmap).  So the
 * session holds a reference on each page it has mapped (sess->pages), the
 * notifier only marks the entries it invalidates stale, and the zap runs
 * outside it, on a work item or the next fault, before the reference goes:
 * a stale PTE may outlive the VMM's change by that long, but never the
 * page it points to.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include "vmiop.h"

#define VMIOP_GUEST_PGOFF (VMIOP_MMAP_GUEST_OFFSET >> PAGE_SHIFT)
#define VMIOP_PAGE_STALE XA_MARK_0
/*
 * Mapped writable at some point: a zap loses the special PTE's dirty bit,
 * and writeback may have cleaned the page since the write fault dirtied it.
 */
#define VMIOP_PAGE_WRITTEN XA_MARK_1

/* Marks stale the mapped gfns in [first, last]. */
static void vmiop_pages_mark_stale(struct vmiop_session *sess, gfn_t first, gfn_t last)
{
	XA_STATE(xas, &sess->pages, first);
	unsigned int n = 0;
	struct page *page;

	xas_lock(&xas);
	xas_for_each(&xas, page, last) {
		xas_set_mark(&xas, VMIOP_PAGE_STALE);
		/* A whole guest mapped: others waiting for the lock get it now and then. */
		if (++n % 1024 == 0) {
			xas_pause(&xas);
			xas_unlock(&xas);
			xas_lock(&xas);
		}
	}
	xas_unlock(&xas);
}

/* The session's reference on the page of @gfn goes, and the entry. */
static void vmiop_pages_drop(struct vmiop_session *sess, unsigned long gfn)
{
	bool written = xa_get_mark(&sess->pages, gfn, VMIOP_PAGE_WRITTEN);
	struct page *page = xa_erase(&sess->pages, gfn);

	if (written)
		set_page_dirty_lock(page);
	put_page(page);
}

/* Zaps introspector PTEs of the gfns [gfn, gfn + nr), then drops their pages. */
static void vmiop_pages_zap_run(struct vmiop_session *sess, unsigned long gfn,
				unsigned long nr)
{
	unmap_mapping_range(sess->mapping, VMIOP_MMAP_GUEST_OFFSET + ((u64)gfn << PAGE_SHIFT),
			    (u64)nr << PAGE_SHIFT, 1);
	for (; nr; gfn++, nr--) {
		vmiop_pages_drop(sess, gfn);
		cond_resched();
	}
}

/*
 * Zaps every introspector PTE of a stale gfn, then lets its page go.  The
 * mapping belongs to the /dev/vmiop inode, so other sessions' mappings of
 * the same gpas go too; they simply fault again.
 */
static void vmiop_pages_zap_stale(struct vmiop_session *sess)
{
	unsigned long gfn, run = 0, nr = 0;
	struct page *page;

	lockdep_assert_held(&sess->pages_lock);
	if (sess->pages_closed || !xa_marked(&sess->pages, VMIOP_PAGE_STALE))
		return;
	/*
	 * Contiguous runs in one unmap (a VMM's exit marks every page).  Only
	 * the notifier marks meanwhile; entries change under pages_lock alone.
	 */
	xa_for_each_marked(&sess->pages, gfn, page, VMIOP_PAGE_STALE) {
		if (nr && gfn != run + nr) {
			vmiop_pages_zap_run(sess, run, nr);
			nr = 0;
		}
		if (!nr)
			run = gfn;
		nr++;
	}
	if (nr)
		vmiop_pages_zap_run(sess, run, nr);
}

static void vmiop_pages_zap_work(struct work_struct *work)
{
	struct vmiop_session *sess = container_of(work, struct vmiop_session, zap_work);

	mutex_lock(&sess->pages_lock);
	vmiop_pages_zap_stale(sess);
	mutex_unlock(&sess->pages_lock);
}

/*
 * An invalidation of VMM addresses @range, for the guest memory they
 * back: moves the fault's sequence if any, and at @start also marks the
 * mapped gfns stale.  Guest memory only: our own zaps invalidate too when
 * the VMM maps its own guest, and must not make its faults retry.  The
 * sequence moves before the marks, for a fault that checks after both.
 * Whether it hit guest memory.
 */
static bool vmiop_mn_invalidate_guest(struct vmiop_session *sess,
				      const struct mmu_notifier_range *range, bool start)
{
	struct kvm_memory_slot *slot;
	struct kvm_memslots *slots;
	bool hit = false;
	int bkt, idx;

	idx = srcu_read_lock(&sess->kvm->srcu);
	slots = kvm_memslots(sess->kvm);
	kvm_for_each_memslot(slot, bkt, slots) {
		unsigned long s_start = slot->userspace_addr;
		unsigned long s_end = s_start + (slot->npages << PAGE_SHIFT);
		unsigned long lo = max(range->start, s_start), hi = min(range->end, s_end);

		if (lo >= hi)
			continue;
		if (!hit) {
			spin_lock(&sess->mn_lock);
			sess->mn_seq++;
			spin_unlock(&sess->mn_lock);
			hit = true;
		}
		if (!start)
			break;
		vmiop_pages_mark_stale(sess, slot->base_gfn + ((lo - s_start) >> PAGE_SHIFT),
				       slot->base_gfn + ((hi - 1 - s_start) >> PAGE_SHIFT));
	}
	srcu_read_unlock(&sess->kvm->srcu, idx);
	return hit;
}

/*
 * Called in the VMM's invalidations, before its page changes: takes no lock
 * that sleeps, so the OOM reaper's non-blocking ranges are served too (the
 * pages it frees stay ours until the work has zapped them).
 */
static int vmiop_mn_invalidate_start(struct mmu_notifier *mn,
				     const struct mmu_notifier_range *range)
{
	struct vmiop_session *sess = container_of(mn, struct vmiop_session, mn);

	/*
	 * Counts every invalidation, so that start and end agree whatever
	 * the memslots do in between: a fault meeting an unrelated one just
	 * tries again once it is over.
	 */
	spin_lock(&sess->mn_lock);
	sess->mn_active++;
	spin_unlock(&sess->mn_lock);
	if (vmiop_mn_invalidate_guest(sess, range, true) &&
	    xa_marked(&sess->pages, VMIOP_PAGE_STALE))
		queue_work(system_wq, &sess->zap_work);
	return 0;
}

/*
 * The sequence moves at the end too, as KVM's does: a fault that read it
 * during the invalidation, and whose GUP still found the old page, must
 * not see it unchanged once the invalidation is over.
 */
static void vmiop_mn_invalidate_end(struct mmu_notifier *mn,
				    const struct mmu_notifier_range *range)
{
	struct vmiop_session *sess = container_of(mn, struct vmiop_session, mn);

	vmiop_mn_invalidate_guest(sess, range, false);
	spin_lock(&sess->mn_lock);
	sess->mn_active--;
	spin_unlock(&sess->mn_lock);
}

/*
 * The VMM's memory goes away (its exit, or our unregister).  Outside any
 * invalidation, so every mapping is zapped here and now: an access after
 * the VMM's death faults at once.
 */
static void vmiop_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct vmiop_session *sess = container_of(mn, struct vmiop_session, mn);

	WRITE_ONCE(sess->mm_gone, true);
	vmiop_pages_mark_stale(sess, 0, ULONG_MAX);
	mutex_lock(&sess->pages_lock);
	vmiop_pages_zap_stale(sess);
	mutex_unlock(&sess->pages_lock);
}

static const struct mmu_notifier_ops vmiop_mn_ops = {
	.invalidate_range_start = vmiop_mn_invalidate_start,
	.invalidate_range_end = vmiop_mn_invalidate_end,
	.release = vmiop_mn_release,
};

/* Called with a reference on sess->mm's users. */
int vmiop_mmu_notifier_register(struct vmiop_session *sess)
{
	int ret;

	INIT_WORK(&sess->zap_work, vmiop_pages_zap_work);
	sess->mn.ops = &vmiop_mn_ops;
	ret = mmu_notifier_register(&sess->mn, sess->mm);
	sess->mn_registered = !ret;
	return ret;
}

/*
 * At the session file's release, so no mapping of it is left (each held
 * the file) and its pages can go without a zap; and from then on the inode
 * may go too, which nothing here touches again.
 */
void vmiop_mmu_notifier_unregister(struct vmiop_session *sess)
{
	unsigned long gfn;
	struct page *page;

	mutex_lock(&sess->pages_lock);
	sess->pages_closed = true;
	xa_for_each(&sess->pages, gfn, page) {
		vmiop_pages_drop(sess, gfn);
		cond_resched();
	}
	mutex_unlock(&sess->pages_lock);
	if (sess->mn_registered)
		mmu_notifier_unregister(&sess->mn, sess->mm);
	sess->mn_registered = false;
	cancel_work_sync(&sess->zap_work);
}

static bool vmiop_mn_retry(struct vmiop_session *sess, unsigned long seq)
{
	bool retry;

	spin_lock(&sess->mn_lock);
	retry = sess->mn_active || sess->mn_seq != seq;
	spin_unlock(&sess->mn_lock);
	return retry;
}

/*
 * Maps @page at @gfn into @vmf's vma, the session's reference taken first.
 * Under pages_lock, so that no zap runs between the entry's check and the
 * PTE: a PTE exists only while an entry holds its page.  False: try again.
 */
static bool vmiop_pages_insert(struct vmiop_session *sess, struct vm_fault *vmf, gfn_t gfn,
			       struct page *page, pgprot_t prot, unsigned long seq,
			       vm_fault_t *ret)
{
	struct page *old;
	bool done = true;

	mutex_lock(&sess->pages_lock);
	if (sess->pages_closed) {
		*ret = VM_FAULT_SIGBUS;
		goto out;
	}
	vmiop_pages_zap_stale(sess);
	old = xa_cmpxchg(&sess->pages, gfn, NULL, page, GFP_KERNEL);
	if (xa_is_err(old)) {
		*ret = VM_FAULT_OOM;
		goto out;
	}
	if (!old) {
		get_page(page);
	} else if (old != page) {
		/*
		 * The VMM's page changed since the entry was made (its
		 * invalidation still under way, or another one's GUP raced it):
		 * the entry goes at the next zap.
		 */
		xa_set_mark(&sess->pages, gfn, VMIOP_PAGE_STALE);
		done = false;
		goto out;
	}
	*ret = vmf_insert_pfn_prot(vmf->vma, vmf->address, page_to_pfn(page), prot);
	if (*ret == VM_FAULT_NOPAGE && vmf->flags & FAULT_FLAG_WRITE)
		xa_set_mark(&sess->pages, gfn, VMIOP_PAGE_WRITTEN);
	/*
	 * An invalidation since we read @seq may have missed the entry, or
	 * zapped before the PTE: undo, and let the entry go at the next zap.
	 */
	if (*ret == VM_FAULT_NOPAGE &&
	    (vmiop_mn_retry(sess, seq) || !vmiop_session_alive(sess))) {
		zap_vma_ptes(vmf->vma, vmf->address & PAGE_MASK, PAGE_SIZE);
		xa_set_mark(&sess->pages, gfn, VMIOP_PAGE_STALE);
		done = false;
	}
out:
	mutex_unlock(&sess->pages_lock);
	return done;
}

/*
 * The introspector's fault holds its own mmap_lock; taking the VMM's too
 * would nest two of one class, which deadlocks against a VMM that, in
 * turn, faults on a mapping of the introspector's guest (each holds its
 * own and waits for the other's behind a queued writer).  So only a
 * trylock nests; on contention the fault lets go of everything, waits for
 * the VMM's lock holding nothing, and is retried (FAULT_FLAG_ALLOW_RETRY,
 * which every user access has; GUP refuses PFN maps before it faults).
 * What is left (fixup_user_fault() without retry) nests, told to lockdep.
 */
static vm_fault_t vmiop_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vmiop_session *sess = vma->vm_private_data;
	/*
	 * The session lives as long as our mmap_lock keeps the vma: what a
	 * retry needs after dropping it is kept here (mm: grabbed by the
	 * session, and its users by mmget below).
	 */
	struct mm_struct *mm = sess->mm;
	struct kvm *kvm = sess->kvm;
	u64 gpa = (u64)(vmf->pgoff - VMIOP_GUEST_PGOFF) << PAGE_SHIFT;
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	/* The VMM mapping its own guest: the fault holds its mmap_lock already. */
	bool own_mm = vma->vm_mm == mm;
	gfn_t gfn = gpa >> PAGE_SHIFT;
	struct kvm_memory_slot *slot;
	unsigned long seq, hva;
	struct page *page;
	vm_fault_t ret;
	pgprot_t prot;
	long got;
	int idx;

again:
	if (!vmiop_session_alive(sess) || !mmget_not_zero(mm))
		return VM_FAULT_SIGBUS;
	spin_lock(&sess->mn_lock);
	seq = sess->mn_seq;
	spin_unlock(&sess->mn_lock);

	idx = srcu_read_lock(&kvm->srcu);
	slot = gfn_to_memslot(kvm, gfn);
	/*
	 * A write it cannot record is refused, as vmiop_write_pa() refuses
	 * it: the dirty ring takes entries from a running vCPU only.
	 */
	if (!slot || slot->id >= KVM_USER_MEM_SLOTS || slot->flags & KVM_MEMSLOT_INVALID ||
	    (write && slot->flags & KVM_MEM_READONLY) ||
	    (write && kvm->dirty_ring_size && kvm_slot_dirty_track_enabled(slot))) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	/*
	 * Only a write fault maps a page writable, and only a page taken for
	 * writing, so the introspector can never write into a page the VMM
	 * shares (zero page, page cache of a private file mapping, KSM).  A
	 * read fault maps it read-only; the first write comes back through
	 * pfn_mkwrite as a write fault.
	 */
	prot = write ? vm_get_page_prot(vma->vm_flags) : vma->vm_page_prot;
	hva = __gfn_to_hva_memslot(slot, gfn);
	if (!own_mm && !mmap_read_trylock(mm)) {
		if (!(vmf->flags & FAULT_FLAG_ALLOW_RETRY)) {
			down_read_nested(&mm->mmap_lock, SINGLE_DEPTH_NESTING);
		} else {
			srcu_read_unlock(&kvm->srcu, idx);
			if (!(vmf->flags & FAULT_FLAG_RETRY_NOWAIT)) {
				/* From here on neither vma nor sess may be touched. */
				mmap_read_unlock(vma->vm_mm);
				if (!mmap_read_lock_killable(mm))
					mmap_read_unlock(mm);
			}
			mmput_async(mm);
			return VM_FAULT_RETRY;
		}
	}
	got = get_user_pages_remote(mm, hva, 1, write ? FOLL_WRITE : 0, &page, NULL, NULL);
	if (!own_mm)
		mmap_read_unlock(mm);
	if (got != 1) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}

	if (!vmiop_pages_insert(sess, vmf, gfn, page, prot, seq, &ret)) {
		put_page(page);
		srcu_read_unlock(&kvm->srcu, idx);
		mmput_async(mm);
		/* Retried while invalidations go on: a kill still ends it. */
		if (fatal_signal_pending(current))
			return VM_FAULT_SIGBUS;
		cond_resched();
		goto again;
	}
	/*
	 * The PTE is special: zapping it later loses its dirty bit, so the
	 * page and KVM's dirty log learn of the write now, and the page is
	 * dirtied again when the entry goes (VMIOP_PAGE_WRITTEN): writeback
	 * may have cleaned it in between, while our PTE stayed writable.
	 */
	if (ret == VM_FAULT_NOPAGE && write) {
		set_page_dirty_lock(page);
		vmiop_mark_dirty(kvm, slot, gfn);
	}
	put_page(page);
out:
	srcu_read_unlock(&kvm->srcu, idx);
	/* Ours may be the last reference: no exit_mmap() under our mmap_lock. */
	mmput_async(mm);
	return ret;
}

/*
 * A write to a page mapped by a read fault: drop the PTE so the access
 * faults again as a write, which takes the page for writing (breaking any
 * sharing in the VMM) and refuses read-only slots.
 */
static vm_fault_t vmiop_vm_pfn_mkwrite(struct vm_fault *vmf)
{
	zap_vma_ptes(vmf->vma, vmf->address & PAGE_MASK, PAGE_SIZE);
	return VM_FAULT_NOPAGE;
}

/*
 * KVM drops a deleted or moved memslot without any change to the VMM's
 * memory, so the MMU notifier says nothing: zap the gpas of @slot here
 * (called from the kvm_arch_flush_shadow_memslot() hook, after KVM has
 * waited for every reader of the old slot; and when dirty logging starts,
 * from the commit hook, so that writes fault again and are recorded).
 */
void vmiop_mmap_flush_slot(struct vmiop_session *sess, const struct kvm_memory_slot *slot)
{
	spin_lock(&sess->mn_lock);
	sess->mn_seq++;
	spin_unlock(&sess->mn_lock);
	vmiop_pages_mark_stale(sess, slot->base_gfn, slot->base_gfn + slot->npages - 1);
	mutex_lock(&sess->pages_lock);
	vmiop_pages_zap_stale(sess);
	mutex_unlock(&sess->pages_lock);
}

static void vmiop_vm_open(struct vm_area_struct *vma)
{
	struct vmiop_session *sess = vma->vm_private_data;

	kref_get(&sess->ref);
}

static void vmiop_vm_close(struct vm_area_struct *vma)
{
	vmiop_session_put(vma->vm_private_data);
}

static const struct vm_operations_struct vmiop_vm_ops = {
	.open = vmiop_vm_open,
	.close = vmiop_vm_close,
	.fault = vmiop_vm_fault,
	.pfn_mkwrite = vmiop_vm_pfn_mkwrite,
};

int vmiop_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct vmiop_session *sess = READ_ONCE(file->private_data);
	u64 gpa_end;

	if (!sess)
		return -ENOTCONN;
	/*
	 * MAP_SHARED only.  Of a read-only fd, mmap(2) keeps VM_MAYSHARE but
	 * drops VM_SHARED and VM_MAYWRITE: such a mapping stays read-only.
	 */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (vma->vm_pgoff < VMIOP_GUEST_PGOFF)
		return vmiop_events_mmap(sess, vma);
	gpa_end = ((u64)(vma->vm_pgoff - VMIOP_GUEST_PGOFF) << PAGE_SHIFT) +
		  (vma->vm_end - vma->vm_start);
	if (gpa_end > (1ULL << 52))
		return -EINVAL;

	/* Not pinned, not dumped, not GUP-able, not splittable by mremap. */
	vma->vm_flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
	vma->vm_ops = &vmiop_vm_ops;
	vma->vm_private_data = sess;
	kref_get(&sess->ref);
	return 0;
}
