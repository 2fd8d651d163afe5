// SPDX-License-Identifier: GPL-2.0
/*
 * Guest-physical memory, the memory map, and guest-virtual translation.
 *
 * Guest RAM is the VMM's memory: a gpa is resolved through KVM's memslots
 * to the VMM's virtual address and the page is taken from the VMM's mm, so
 * this works from the introspector's thread without stopping any vCPU.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include "abi.h"
#include "insn.h"
#include "memmap.h"
#include "pgwalk.h"
#include "vmiop.h"

/* KVM's own slots (APIC access page, TSS, identity map) are not guest RAM. */
static struct kvm_memory_slot *vmiop_ram_slot(struct kvm *kvm, gfn_t gfn)
{
	struct kvm_memory_slot *slot = gfn_to_memslot(kvm, gfn);

	if (!slot || slot->id >= KVM_USER_MEM_SLOTS ||
	    slot->flags & KVM_MEMSLOT_INVALID)
		return NULL;
	return slot;
}

/* Called under kvm->srcu. */
static int vmiop_range_check(struct kvm *kvm, u64 gpa, u64 len, bool write)
{
	gfn_t gfn, last = (gpa + len - 1) >> PAGE_SHIFT;

	for (gfn = gpa >> PAGE_SHIFT; gfn <= last; ) {
		struct kvm_memory_slot *slot = vmiop_ram_slot(kvm, gfn);

		if (!slot)
			return -ENXIO;
		if (write && slot->flags & KVM_MEM_READONLY)
			return -EROFS;
		/* See vmiop_pin_for_write(). */
		if (write && kvm->dirty_ring_size && kvm_slot_dirty_track_enabled(slot))
			return -EOPNOTSUPP;
		gfn = slot->base_gfn + slot->npages;
	}
	return 0;
}

void vmiop_mark_dirty(struct kvm *kvm, struct kvm_memory_slot *slot, gfn_t gfn)
{
	/*
	 * mark_page_dirty_in_slot() insists on a running vCPU (for the dirty
	 * ring); the dirty bitmap needs none.
	 */
	if (kvm_slot_dirty_track_enabled(slot) && !kvm->dirty_ring_size)
		set_bit_le(gfn - slot->base_gfn, slot->dirty_bitmap);
}

/* Reads one page-bounded chunk of guest memory into @kbuf or @ubuf. */
static int vmiop_read_chunk(struct vmiop_session *sess, u64 gpa, void *kbuf,
			    void __user *ubuf, u32 len)
{
	struct kvm_memory_slot *slot = vmiop_ram_slot(sess->kvm, gpa >> PAGE_SHIFT);
	struct page *page;
	void *kaddr;
	long got;
	int ret = 0;

	if (!slot)
		return -ENXIO;
	mmap_read_lock(sess->mm);
	got = get_user_pages_remote(sess->mm, __gfn_to_hva_memslot(slot, gpa >> PAGE_SHIFT),
				    1, 0, &page, NULL, NULL);
	mmap_read_unlock(sess->mm);
	if (got != 1)
		return -EIO;

	kaddr = kmap_local_page(page) + offset_in_page(gpa);
	if (kbuf)
		memcpy(kbuf, kaddr, len);
	else if (copy_to_user(ubuf, kaddr, len))
		ret = -EFAULT;
	kunmap_local(kaddr);
	put_page(page);
	return ret;
}

/*
 * Called with a reference on the VMM's mm.  kvm->srcu is held per page, not
 * across the whole copy: a user buffer may fault for long (userfaultfd) and
 * the VMM's memslot updates wait for every reader.
 */
static int vmiop_read(struct vmiop_session *sess, u64 gpa, void *kbuf,
		      void __user *ubuf, u64 len)
{
	while (len) {
		u32 chunk = min_t(u64, len, PAGE_SIZE - offset_in_page(gpa));
		int idx, ret;

		if (fatal_signal_pending(current))
			return -EINTR;
		idx = srcu_read_lock(&sess->kvm->srcu);
		ret = vmiop_read_chunk(sess, gpa, kbuf, ubuf, chunk);
		srcu_read_unlock(&sess->kvm->srcu, idx);
		if (ret)
			return ret;
		gpa += chunk;
		len -= chunk;
		if (kbuf)
			kbuf += chunk;
		else
			ubuf += chunk;
		cond_resched();
	}
	return 0;
}

int vmiop_gpa_read(struct vmiop_session *sess, u64 gpa, void *buf, u32 len)
{
	int ret;

	if (!mmget_not_zero(sess->mm))
		return -ESRCH;
	ret = vmiop_read(sess, gpa, buf, NULL, len);
	mmput(sess->mm);
	return ret;
}

/*
 * The page behind guest-physical @gfn, pinned for writing, and its memslot,
 * valid while the caller holds kvm->srcu.
 */
static int vmiop_pin_for_write(struct vmiop_session *sess, gfn_t gfn, struct page **page,
			       struct kvm_memory_slot **slot)
{
	struct kvm *kvm = sess->kvm;
	long got;

	*slot = vmiop_ram_slot(kvm, gfn);
	if (!*slot)
		return -ENXIO;
	if ((*slot)->flags & KVM_MEM_READONLY)
		return -EROFS;
	/*
	 * KVM's dirty ring takes entries only from a running vCPU: a write
	 * it would miss while the VMM tracks dirty pages is refused.
	 */
	if (kvm->dirty_ring_size && kvm_slot_dirty_track_enabled(*slot))
		return -EOPNOTSUPP;
	mmap_read_lock(sess->mm);
	got = get_user_pages_remote(sess->mm, __gfn_to_hva_memslot(*slot, gfn), 1,
				    FOLL_WRITE, page, NULL, NULL);
	mmap_read_unlock(sess->mm);
	return got == 1 ? 0 : -EIO;
}

/*
 * Writes a kernel buffer to guest memory page by page (the undo log's
 * restores: the VM is paused or past caring about a torn write).
 */
int vmiop_gpa_write(struct vmiop_session *sess, u64 gpa, const void *buf, u32 len)
{
	struct kvm_memory_slot *slot;
	struct page *page;
	int idx, ret = 0;

	if (!mmget_not_zero(sess->mm))
		return -ESRCH;
	idx = srcu_read_lock(&sess->kvm->srcu);
	while (len) {
		u32 n = min_t(u32, PAGE_SIZE - offset_in_page(gpa), len);
		void *kaddr;

		ret = vmiop_pin_for_write(sess, gpa >> PAGE_SHIFT, &page, &slot);
		if (ret)
			break;
		kaddr = kmap_local_page(page);
		memcpy(kaddr + offset_in_page(gpa), buf, n);
		kunmap_local(kaddr);
		set_page_dirty_lock(page);
		vmiop_mark_dirty(sess->kvm, slot, gpa >> PAGE_SHIFT);
		put_page(page);
		gpa += n;
		buf += n;
		len -= n;
	}
	srcu_read_unlock(&sess->kvm->srcu, idx);
	mmput(sess->mm);
	return ret;
}

/*
 * Puts @new where the guest holds @old, atomically against the guest's own
 * writes: @len bytes (1..8) within one aligned quadword.  1 if it did, 0
 * if the guest holds something else there, or -errno.
 */
int vmiop_gpa_cmpxchg(struct vmiop_session *sess, u64 gpa, const void *old, const void *new,
		      u32 len)
{
	unsigned int shift = (gpa & 7) * 8;
	u64 mask = (len == 8 ? ~0ULL : (1ULL << (len * 8)) - 1) << shift;
	u64 want = 0, put = 0, cur, *q;
	struct kvm_memory_slot *slot;
	struct page *page;
	int idx, ret;

	if (!len || len > 8 || (gpa & 7) + len > 8)
		return -EINVAL;
	memcpy(&want, old, len);
	memcpy(&put, new, len);
	want <<= shift;
	put <<= shift;
	if (!mmget_not_zero(sess->mm))
		return -ESRCH;
	idx = srcu_read_lock(&sess->kvm->srcu);
	ret = vmiop_pin_for_write(sess, gpa >> PAGE_SHIFT, &page, &slot);
	if (!ret) {
		q = kmap_local_page(page) + (offset_in_page(gpa) & ~7UL);
		cur = READ_ONCE(*q);
		do {
			if ((cur & mask) != want) {
				ret = 0;
				break;
			}
			ret = 1;
		} while (!try_cmpxchg64(q, &cur, (cur & ~mask) | put));
		kunmap_local(q);
		if (ret) {
			set_page_dirty_lock(page);
			vmiop_mark_dirty(sess->kvm, slot, gpa >> PAGE_SHIFT);
		}
		put_page(page);
	}
	srcu_read_unlock(&sess->kvm->srcu, idx);
	mmput(sess->mm);
	return ret;
}

/*
 * The done count reaches the caller between pinning and landing, under
 * kvm->srcu, where a fault must not be taken (it could last, and the
 * VMM's memslot updates wait for srcu readers): the struct was faulted in
 * just before; should it have gone again, -EAGAIN has the op start over.
 */
static int vmiop_put_done(const struct vmiop_uarg *ua, const struct vmiop_mem_batch *b)
{
	unsigned long left;

	if (!access_ok(ua->ptr, ua->len))
		return -EFAULT;
	pagefault_disable();
	left = __copy_to_user_inatomic(ua->ptr, b, ua->len);
	pagefault_enable();
	return left ? -EAGAIN : 0;
}

#define VMIOP_WRITE_OP_TRIES 8

/*
 * One write op, all or nothing: the caller's bytes are copied in and every
 * target page is pinned before the first byte lands, so neither an
 * unreadable buffer nor a memslot the VMM removes meanwhile can stop it
 * half way.  @b->done is reported to the caller before the bytes land.
 * Called with a reference on the VMM's mm.
 */
static int vmiop_write_op(struct vmiop_session *sess, const struct vmiop_mem_op *op,
			  struct vmiop_mem_batch *b, const struct vmiop_uarg *ua)
{
	gfn_t first = op->gpa >> PAGE_SHIFT;
	unsigned int nr = ((op->gpa + op->len - 1) >> PAGE_SHIFT) - first + 1;
	struct kvm_memory_slot **slots;
	unsigned int pinned, i, off;
	struct page **pages;
	int idx, ret, tries;
	u32 done_bytes;
	u8 *src;

	src = kvmalloc(op->len, GFP_KERNEL_ACCOUNT);
	pages = kvmalloc_array(nr, sizeof(*pages), GFP_KERNEL_ACCOUNT);
	slots = kvmalloc_array(nr, sizeof(*slots), GFP_KERNEL_ACCOUNT);
	ret = -ENOMEM;
	if (!src || !pages || !slots)
		goto out;
	ret = -EFAULT;
	if (copy_from_user(src, u64_to_user_ptr(op->buf), op->len))
		goto out;

	for (tries = 0; tries < VMIOP_WRITE_OP_TRIES; tries++) {
		/* Faults the caller's struct in, unchanged. */
		ret = vmiop_uarg_put(ua, b);
		if (ret)
			break;
		idx = srcu_read_lock(&sess->kvm->srcu);
		for (pinned = 0; pinned < nr; pinned++) {
			ret = fatal_signal_pending(current) ? -EINTR :
			      vmiop_pin_for_write(sess, first + pinned, &pages[pinned],
						  &slots[pinned]);
			if (ret)
				break;
			cond_resched();
		}
		if (!ret) {
			b->done++;
			ret = vmiop_put_done(ua, b);
			if (ret)
				b->done--;
		}
		off = offset_in_page(op->gpa);
		for (i = 0, done_bytes = 0; i < pinned; i++) {
			if (!ret) {
				u32 n = min_t(u32, PAGE_SIZE - off, op->len - done_bytes);
				void *kaddr = kmap_local_page(pages[i]);

				memcpy(kaddr + off, src + done_bytes, n);
				kunmap_local(kaddr);
				set_page_dirty_lock(pages[i]);
				vmiop_mark_dirty(sess->kvm, slots[i], first + i);
				done_bytes += n;
				off = 0;
			}
			put_page(pages[i]);
		}
		srcu_read_unlock(&sess->kvm->srcu, idx);
		if (ret != -EAGAIN)
			break;
	}
	/* A struct that keeps going away as it is written cannot take the result. */
	if (ret == -EAGAIN)
		ret = -EFAULT;
out:
	kvfree(slots);
	kvfree(pages);
	kvfree(src);
	return ret;
}

long vmiop_ioctl_mem(struct vmiop_session *sess, struct vmiop_mem_batch *b,
		     const struct vmiop_uarg *ua, bool write)
{
	struct vmiop_mem_op __user *uops = u64_to_user_ptr(b->ops);
	bool undo = b->flags & VMIOP_MEM_F_UNDO;
	struct vmiop_mem_op *ops;
	int idx, i, ret;

	ret = abi_check_mem_batch(b, write);
	if (ret)
		return ret;
	ops = memdup_user(uops, array_size(b->count, sizeof(*ops)));
	if (IS_ERR(ops))
		return PTR_ERR(ops);
	for (i = 0; i < b->count; i++) {
		ret = abi_check_mem_op(&ops[i]);
		if (!ret && undo && ops[i].len > VMIOP_UNDO_OP_MAX)
			ret = -EINVAL;
		if (ret)
			goto out_free;
	}
	if (undo) {
		mutex_lock(&sess->lock);
		ret = vmiop_undo_reserve(sess, b->count);
		if (ret)
			goto out_unlock;
	}

	ret = -ESRCH;
	if (!mmget_not_zero(sess->mm))
		goto out_unlock;
	ret = 0;
	/* Every range must exist before the first byte moves. */
	idx = srcu_read_lock(&sess->kvm->srcu);
	for (i = 0; i < b->count && !ret; i++)
		ret = vmiop_range_check(sess->kvm, ops[i].gpa, ops[i].len, write);
	srcu_read_unlock(&sess->kvm->srcu, idx);
	for (i = 0; i < b->count && !ret; i++) {
		struct vmiop_undo_entry *e = NULL;

		if (!write) {
			ret = vmiop_read(sess, ops[i].gpa, NULL, u64_to_user_ptr(ops[i].buf),
					 ops[i].len);
			if (!ret)
				b->done++;
			continue;
		}
		if (undo) {
			e = vmiop_undo_prepare(sess, ops[i].gpa, u64_to_user_ptr(ops[i].buf),
					       ops[i].len);
			if (IS_ERR(e)) {
				ret = PTR_ERR(e);
				break;
			}
		}
		ret = vmiop_write_op(sess, &ops[i], b, ua);
		if (e && !ret)
			vmiop_undo_commit(sess, e);
		else if (e)
			vmiop_undo_drop(e);
	}
	mmput(sess->mm);
out_unlock:
	if (undo)
		mutex_unlock(&sess->lock);
out_free:
	kfree(ops);
	return ret;
}

long vmiop_ioctl_memmap(struct vmiop_session *sess, struct vmiop_memmap *m)
{
	struct vmiop_memmap_entry __user *uent = u64_to_user_ptr(m->entries);
	struct kvm_memory_slot *slot;
	struct memmap_range *r;
	struct kvm_memslots *slots;
	unsigned int n = 0, i;
	int bkt, idx, ret = 0;

	if (m->flags || m->reserved)
		return -EINVAL;
	r = kvmalloc_array(KVM_USER_MEM_SLOTS, sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return -ENOMEM;

	idx = srcu_read_lock(&sess->kvm->srcu);
	slots = kvm_memslots(sess->kvm);
	kvm_for_each_memslot(slot, bkt, slots) {
		if (slot->id >= KVM_USER_MEM_SLOTS || !slot->npages)
			continue;
		r[n].start = slot->base_gfn << PAGE_SHIFT;
		r[n].size = slot->npages << PAGE_SHIFT;
		r[n].type = vmiop_own_slot(slot) ? MEMMAP_INTROSPECTION :
			    slot->flags & KVM_MEM_READONLY ? MEMMAP_ROM : MEMMAP_RAM;
		n++;
	}
	srcu_read_unlock(&sess->kvm->srcu, idx);
	n = memmap_normalize(r, n);

	if (n > m->nr_entries) {
		ret = -ENOSPC;
	} else {
		for (i = 0; i < n; i++) {
			struct vmiop_memmap_entry e = {
				.addr = r[i].start, .size = r[i].size, .type = r[i].type,
			};

			if (copy_to_user(&uent[i], &e, sizeof(e))) {
				ret = -EFAULT;
				break;
			}
		}
	}
	m->nr_entries = n;
	kvfree(r);
	return ret;
}

static int vmiop_pgwalk_read(void *ctx, u64 gpa, unsigned int size, u64 *val)
{
	*val = 0;
	return vmiop_gpa_read(ctx, gpa, val, size);
}

/* The paging mode from the vCPU's control registers. */
static int vmiop_get_paging(struct kvm_vcpu *vcpu, void *arg)
{
	struct pgwalk_params *p = arg;
	struct kvm_sregs ks;

	vmiop_ksym.get_sregs(vcpu, &ks);
	p->cr3 = ks.cr3;
	p->nxe = ks.efer & EFER_NX;
	p->pse = ks.cr4 & X86_CR4_PSE;
	if (!(ks.cr0 & X86_CR0_PG))
		p->mode = PGWALK_MODE_NONE;
	else if (!(ks.cr4 & X86_CR4_PAE))
		p->mode = PGWALK_MODE_32;
	else if (!(ks.efer & EFER_LMA))
		p->mode = PGWALK_MODE_PAE;
	else if (ks.cr4 & X86_CR4_LA57)
		p->mode = PGWALK_MODE_5LEVEL;
	else
		p->mode = PGWALK_MODE_4LEVEL;
	return 0;
}

static_assert((int)VMIOP_PAGING_5LEVEL == (int)PGWALK_MODE_5LEVEL &&
	      (int)VMIOP_PAGING_NONE == (int)PGWALK_MODE_NONE);
static_assert((int)VMIOP_XLATE_NO_MEMORY == (int)PGWALK_READ_ERROR &&
	      (int)VMIOP_XLATE_RESERVED == (int)PGWALK_RESERVED);
static_assert(VMIOP_XLATE_ACC_NX == PGWALK_ACC_NX);

long vmiop_ioctl_translate(struct vmiop_session *sess, struct vmiop_translate *t)
{
	struct pgwalk_params p = {};
	struct pgwalk_result res;
	struct kvm_vcpu *vcpu;
	bool explicit = t->flags & VMIOP_TRANSLATE_F_EXPLICIT;
	int ret;

	ret = abi_check_translate(t);
	if (ret)
		return ret;
	if (t->vcpu >= atomic_read(&sess->kvm->online_vcpus))
		return -ENOENT;
	vcpu = kvm_get_vcpu(sess->kvm, t->vcpu);
	if (!vcpu)
		return -ENOENT;

	if (explicit) {
		p.cr3 = t->cr3;
		p.mode = t->mode;
		p.nxe = t->flags & VMIOP_TRANSLATE_F_NXE;
		p.pse = t->flags & VMIOP_TRANSLATE_F_PSE;
	} else {
		mutex_lock(&sess->lock);
		ret = vmiop_vcpu_call(sess, t->vcpu, vmiop_get_paging, &p);
		mutex_unlock(&sess->lock);
		if (ret)
			return ret;
	}
	p.maxphyaddr = vcpu->arch.maxphyaddr;

	ret = pgwalk(&p, t->gva, vmiop_pgwalk_read, sess, &res);
	if (ret == -ESRCH)
		return ret;
	if (ret && res.fault != PGWALK_READ_ERROR)
		return -EINVAL;

	t->mode = p.mode;
	t->cr3 = p.cr3;
	t->gpa = res.gpa;
	t->page_size = res.page_size;
	memcpy(t->entries, res.entries, sizeof(t->entries));
	t->nr_entries = res.nr_entries;
	t->level = res.level;
	t->fault = res.fault;
	t->access = res.access;
	return 0;
}

/*
 * Up to INSN_MAX_LEN bytes at the vCPU's RIP, on its thread, through KVM's
 * own walk of the guest's page tables; only from the page RIP is in, which
 * holds all of what vmiop decodes unless the instruction straddles pages.
 * Returns how many bytes were read: 0 if none could be.
 */
unsigned int vmiop_fetch_insn(struct kvm_vcpu *vcpu, u8 *insn)
{
	unsigned long lip = kvm_get_linear_rip(vcpu);
	unsigned int n = min_t(unsigned int, INSN_MAX_LEN, PAGE_SIZE - offset_in_page(lip));
	struct vmiop_x86_exception fault;

	if (kvm_read_guest_virt(vcpu, lip, insn, n, (struct x86_exception *)&fault))
		return 0;
	return n;
}

/* The vCPU runs 64-bit code; *@cs_db: else, its code segment is 32-bit. */
bool vmiop_code64(struct kvm_vcpu *vcpu, bool *cs_db)
{
	int db, l;

	vmiop_ksym.x86_ops->get_cs_db_l_bits(vcpu, &db, &l);
	*cs_db = db;
	return l && (vcpu->arch.efer & EFER_LMA);
}

/*
 * Writes guest-virtual memory as the vCPU's own code would at its current
 * privilege: a user-mode write checked as one (KVM's "system" write is a
 * supervisor write, which SMAP refuses on user pages).  Page by page;
 * 0, or -EFAULT if a page is not writable or not guest RAM.
 */
int vmiop_write_guest_virt(struct kvm_vcpu *vcpu, gva_t gva, const void *buf,
			   unsigned int len)
{
	struct vmiop_x86_exception fault;

	while (len) {
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - offset_in_page(gva));
		gpa_t gpa = kvm_mmu_gva_to_gpa_write(vcpu, gva, (struct x86_exception *)&fault);

		if (gpa == INVALID_GPA || kvm_vcpu_write_guest(vcpu, gpa, buf, n))
			return -EFAULT;
		gva += n;
		buf += n;
		len -= n;
	}
	return 0;
}
