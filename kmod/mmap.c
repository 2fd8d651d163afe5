// SPDX-License-Identifier: GPL-2.0
/*
 * Guest pages mapped into the introspector (the gist's map_pa).
 *
 * The mapping is VM_PFNMAP: its PTEs hold no page references, exactly like
 * KVM's own SPTEs, and stay coherent the way KVM's do: an MMU notifier on
 * the VMM's mm zaps them whenever the VMM's page behind a gpa changes
 * (swap, migration, THP, KSM, munmap), and the next access faults the
 * current page in.
 */
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include "vmiop.h"

#define VMIOP_GUEST_PGOFF (VMIOP_MMAP_GUEST_OFFSET >> PAGE_SHIFT)

/*
 * Zaps introspector mappings of the gpas backed by VMM addresses
 * [start, end).  The mapping belongs to the /dev/vmiop inode, so other
 * sessions' mappings of the same gpas go too; they simply fault again.
 */
static void vmiop_zap_hva_range(struct vmiop_session *sess, unsigned long start,
				unsigned long end)
{
	struct kvm_memory_slot *slot;
	struct kvm_memslots *slots;
	int bkt, idx;

	idx = srcu_read_lock(&sess->kvm->srcu);
	slots = kvm_memslots(sess->kvm);
	kvm_for_each_memslot(slot, bkt, slots) {
		unsigned long s_start = slot->userspace_addr;
		unsigned long s_end = s_start + (slot->npages << PAGE_SHIFT);
		unsigned long lo = max(start, s_start), hi = min(end, s_end);
		u64 gpa;

		if (lo >= hi)
			continue;
		gpa = (slot->base_gfn << PAGE_SHIFT) + (lo - s_start);
		unmap_mapping_range(sess->mapping, VMIOP_MMAP_GUEST_OFFSET + gpa,
				    PAGE_ALIGN(hi - lo), 1);
	}
	srcu_read_unlock(&sess->kvm->srcu, idx);
}

static int vmiop_mn_invalidate_start(struct mmu_notifier *mn,
				     const struct mmu_notifier_range *range)
{
	struct vmiop_session *sess = container_of(mn, struct vmiop_session, mn);

	/* Zapping sleeps (i_mmap lock); the OOM reaper must skip this mm. */
	if (!mmu_notifier_range_blockable(range))
		return -EAGAIN;
	spin_lock(&sess->mn_lock);
	sess->mn_active++;
	sess->mn_seq++;
	spin_unlock(&sess->mn_lock);
	vmiop_zap_hva_range(sess, range->start, range->end);
	return 0;
}

static void vmiop_mn_invalidate_end(struct mmu_notifier *mn,
				    const struct mmu_notifier_range *range)
{
	struct vmiop_session *sess = container_of(mn, struct vmiop_session, mn);

	if (!mmu_notifier_range_blockable(range))
		return;
	spin_lock(&sess->mn_lock);
	sess->mn_active--;
	spin_unlock(&sess->mn_lock);
}

static void vmiop_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct vmiop_session *sess = container_of(mn, struct vmiop_session, mn);

	WRITE_ONCE(sess->mm_gone, true);
	unmap_mapping_range(sess->mapping, VMIOP_MMAP_GUEST_OFFSET, 0, 1);
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

	sess->mn.ops = &vmiop_mn_ops;
	ret = mmu_notifier_register(&sess->mn, sess->mm);
	sess->mn_registered = !ret;
	return ret;
}

void vmiop_mmu_notifier_unregister(struct vmiop_session *sess)
{
	if (sess->mn_registered)
		mmu_notifier_unregister(&sess->mn, sess->mm);
	sess->mn_registered = false;
}

static bool vmiop_mn_retry(struct vmiop_session *sess, unsigned long seq)
{
	bool retry;

	spin_lock(&sess->mn_lock);
	retry = sess->mn_active || sess->mn_seq != seq;
	spin_unlock(&sess->mn_lock);
	return retry;
}

static vm_fault_t vmiop_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct vmiop_session *sess = vma->vm_private_data;
	u64 gpa = (u64)(vmf->pgoff - VMIOP_GUEST_PGOFF) << PAGE_SHIFT;
	gfn_t gfn = gpa >> PAGE_SHIFT;
	struct kvm_memory_slot *slot;
	unsigned int gup_flags = 0;
	unsigned long seq, hva;
	struct page *page;
	vm_fault_t ret;
	pgprot_t prot;
	long got;
	int idx;

again:
	if (!vmiop_session_alive(sess) || !mmget_not_zero(sess->mm))
		return VM_FAULT_SIGBUS;
	spin_lock(&sess->mn_lock);
	seq = sess->mn_seq;
	spin_unlock(&sess->mn_lock);

	idx = srcu_read_lock(&sess->kvm->srcu);
	slot = gfn_to_memslot(sess->kvm, gfn);
	if (!slot || slot->id >= KVM_USER_MEM_SLOTS || slot->flags & KVM_MEMSLOT_INVALID) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	/*
	 * A writable view takes the page for writing up front, so a later
	 * write through the PTE cannot land in a page the VMM shares (zero
	 * page, KSM).  The PTE starts read-only either way (pfn_mkwrite).
	 */
	prot = vma->vm_page_prot;
	if (vma->vm_flags & VM_WRITE && !(slot->flags & KVM_MEM_READONLY))
		gup_flags |= FOLL_WRITE;
	hva = __gfn_to_hva_memslot(slot, gfn);
	mmap_read_lock(sess->mm);
	got = get_user_pages_remote(sess->mm, hva, 1, gup_flags, &page, NULL, NULL);
	mmap_read_unlock(sess->mm);
	if (got != 1) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}

	ret = vmf_insert_pfn_prot(vma, vmf->address, page_to_pfn(page), prot);
	/*
	 * An invalidation since we read @seq may have zapped before the insert:
	 * undo it while our page reference keeps the stale page alive.
	 */
	if (ret == VM_FAULT_NOPAGE && vmiop_mn_retry(sess, seq)) {
		zap_vma_ptes(vma, vmf->address & PAGE_MASK, PAGE_SIZE);
		put_page(page);
		srcu_read_unlock(&sess->kvm->srcu, idx);
		mmput(sess->mm);
		cond_resched();
		goto again;
	}
	put_page(page);
out:
	srcu_read_unlock(&sess->kvm->srcu, idx);
	mmput(sess->mm);
	return ret;
}

/*
 * Having this hook makes the core map every page read-only first (write
 * notification), so this is where a write to a mapped page is allowed:
 * RAM slots yes (the page was taken for writing at fault time), read-only
 * slots no.
 */
static vm_fault_t vmiop_vm_pfn_mkwrite(struct vm_fault *vmf)
{
	struct vmiop_session *sess = vmf->vma->vm_private_data;
	u64 gpa = (u64)(vmf->pgoff - VMIOP_GUEST_PGOFF) << PAGE_SHIFT;
	struct kvm_memory_slot *slot;
	vm_fault_t ret = VM_FAULT_SIGBUS;
	int idx;

	idx = srcu_read_lock(&sess->kvm->srcu);
	slot = gfn_to_memslot(sess->kvm, gpa >> PAGE_SHIFT);
	if (slot && !(slot->flags & KVM_MEM_READONLY))
		ret = 0;
	srcu_read_unlock(&sess->kvm->srcu, idx);
	return ret;
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
	if (vma->vm_pgoff < VMIOP_GUEST_PGOFF || !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
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
