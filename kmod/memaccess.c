// SPDX-License-Identifier: GPL-2.0
/*
 * Memory-access events: per-page rights enforced in KVM's EPT/NPT entries.
 *
 * The rights of each restricted gfn are one xarray entry of the session
 * (sess->mem_rights), read lock-free.  They reach the hardware at the one
 * place both of KVM's MMUs build a leaf entry from scratch, make_spte():
 * its result loses what the gfn's rights forbid, every time KVM builds
 * one, so zaps, MMU-notifier invalidations, memslot changes and the async
 * page-fault prefetch all rebuild restricted entries.  A restricted gfn
 * never sits under a huge page: its lpage counters in every memslot that
 * holds it are raised (as KVM's page-tracking does), also in memslots
 * created later (the kvm_arch_prepare_memory_region hook).  Every change
 * of rights zaps the gfns it changes, after the table: an entry built
 * from the old rights is gone when the call returns.
 *
 * Violations come to kvm_mmu_page_fault(), before KVM resolves them
 * (hooks.c): an access the gfn's rights forbid is a VMIOP_EVENT_MEM
 * (pipeline.c), and KVM never sees the fault unless the reply lets the
 * access through.  The rights table and KVM's entries change under
 * kvm->slots_lock (the ioctls, detach and memslot creation), except for
 * one cmpxchg by a vCPU that nobody takes events on (mem_lift()).
 *
 * KVM's own page-tracking is not used: its counter only knows writes, and
 * a tracked write fault makes KVM emulate rather than report.
 */
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/xarray.h>
#include <asm/insn.h>
#include "abi.h"
#include "vmiop.h"

/* Exported by kvm.ko, declared in its private x86.h. */
int x86_decode_emulated_instruction(struct kvm_vcpu *vcpu, int emulation_type,
				    void *insn, int insn_len);
#define VMIOP_EMULATION_OK	0	/* kvm_emulate.h's EMULATION_OK */

/*
 * Where KVM's access tracking (EPT without accessed/dirty bits) saves an
 * entry's R and X while it clears them: restored on the next access
 * without make_spte(), so a restriction must clear the saved copy too
 * (SHADOW_ACC_TRACK_SAVED_BITS_SHIFT in KVM's private spte.h, 6.1).
 */
#define VMIOP_ACC_TRACK_SAVED_SHIFT	54

/* Entries with RWX: given back, or lifted by a vCPU; freed by the next change. */
#define VMIOP_MEM_UNRESTRICTED	XA_MARK_0

/* More gfn runs than this in one change are zapped as one span. */
#define VMIOP_MEM_ZAP_RUNS	64

static u8 mem_rights_of(void *entry)
{
	return xa_is_value(entry) ? xa_to_value(entry) : VMIOP_ACCESS_RWX;
}

/*
 * The rights @vcpu has on @gfn now: RWX when it steps over an access
 * there (the others, held meanwhile, still have the page's own).
 */
static u8 mem_rights_now(struct vmiop_session *sess, struct kvm_vcpu *vcpu, gfn_t gfn)
{
	unsigned int i, n = 0;

	if (xa_empty(&sess->mem_rights))
		return VMIOP_ACCESS_RWX;
	if (READ_ONCE(sess->mem_step_owner) == vcpu->vcpu_idx) {
		/* pairs with mem_open()'s release: the entries before the count */
		n = smp_load_acquire(&sess->mem_nr_open);
	}
	for (i = 0; i < n && i < VMIOP_MEM_OPEN_MAX; i++)
		if (READ_ONCE(sess->mem_open[i]) == gfn)
			return VMIOP_ACCESS_RWX;
	return mem_rights_of(xa_load(&sess->mem_rights, gfn));
}

/*
 * KVM runs with EPT/NPT.  Without (kvm_intel.ept=0, kvm_amd.npt=0, or a
 * CPU without them) its page faults are the guest's, by linear address,
 * and its entries shadow the guest's page tables: no rights to apply.
 */
static bool mem_tdp(void)
{
	return READ_ONCE(*vmiop_ksym.tdp_enabled);
}

/* A vCPU on KVM's direct (EPT/NPT) MMU for the guest's own memory. */
static bool mem_direct(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.mmu->root_role.direct && !vmiop_in_l2(vcpu);
}

/* Bit N set when this host's EPT/NPT expresses rights N (uapi). */
u32 vmiop_mem_host_rights(void)
{
	u32 rights = VMIOP_MEM_RIGHTS_COMMON;

	/* EPT with execute-only pages: KVM then needs no R in a present entry. */
	if (vmiop_vendor->vendor == VMIOP_VENDOR_INTEL && !*vmiop_ksym.shadow_present_mask)
		rights |= BIT(VMIOP_ACCESS_X);
	return rights;
}

/*
 * make_spte() just built @spte for @gfn: it loses what the rights forbid.
 * Under KVM's mmu_lock (and RCU in the TDP MMU): lock-free lookups only.
 * W goes with KVM's MMU-writable bit, or its lockless fast path would put
 * it back; R is EPT's R bit and NPT's U bit (NPT checks every guest
 * access as a user access, so a supervisor entry has no access at all).
 * Not for a nested guest's (L2's) shadow entries: vmiop watches L1.
 * (Nor on KVM's shadow MMU, which vmiop_mem_unavailable() rules out.)
 */
void vmiop_mem_spte(struct kvm_vcpu *vcpu, gfn_t gfn, u64 *spte)
{
	struct vmiop_session *sess;
	u64 cut = 0, saved;
	u8 rights;

	if (!mem_direct(vcpu))
		return;
	rcu_read_lock();
	sess = vmiop_session_lookup_rcu(vcpu->kvm);
	rights = sess ? mem_rights_now(sess, vcpu, gfn) : VMIOP_ACCESS_RWX;
	rcu_read_unlock();
	if (rights == VMIOP_ACCESS_RWX)
		return;
	if (!(rights & VMIOP_ACCESS_W))
		cut |= _PAGE_RW | *vmiop_ksym.shadow_mmu_writable_mask;
	if (!(rights & VMIOP_ACCESS_X))
		cut |= *vmiop_ksym.shadow_x_mask;
	if (!(rights & VMIOP_ACCESS_R))
		cut |= *vmiop_ksym.shadow_user_mask;
	saved = cut & (*vmiop_ksym.shadow_user_mask | *vmiop_ksym.shadow_x_mask);
	if (*vmiop_ksym.shadow_acc_track_mask)
		cut |= saved << VMIOP_ACC_TRACK_SAVED_SHIFT;
	*spte &= ~cut;
	if (!(rights & VMIOP_ACCESS_X))
		*spte |= *vmiop_ksym.shadow_nx_mask;
}

/* ---- the rights table and KVM's entries -------------------------------- */

static void mem_lpage_adjust(struct kvm *kvm, gfn_t gfn, bool disallow)
{
	int as;

	for (as = 0; as < KVM_ADDRESS_SPACE_NUM; as++) {
		struct kvm_memory_slot *slot = __gfn_to_memslot(__kvm_memslots(kvm, as), gfn);

		if (!slot)
			continue;
		if (disallow)
			vmiop_ksym.gfn_disallow_lpage(slot, gfn);
		else
			vmiop_ksym.gfn_allow_lpage(slot, gfn);
	}
}

/* Gfn runs whose KVM entries must go, coalesced; past the limit, one span. */
struct mem_zap {
	unsigned int nr;
	gfn_t start[VMIOP_MEM_ZAP_RUNS], end[VMIOP_MEM_ZAP_RUNS];
	gfn_t min, max;		/* the span of them all, max exclusive */
};

static void mem_zap_add(struct mem_zap *z, gfn_t start, gfn_t end)
{
	if (!z->nr && !z->max)
		z->min = start;
	z->min = min(z->min, start);
	z->max = max(z->max, end);
	if (z->nr && z->nr <= VMIOP_MEM_ZAP_RUNS && z->end[z->nr - 1] == start) {
		z->end[z->nr - 1] = end;
		return;
	}
	if (z->nr < VMIOP_MEM_ZAP_RUNS) {
		z->start[z->nr] = start;
		z->end[z->nr] = end;
	}
	z->nr++;
}

/* Zaps and flushes; kvm->srcu held, mmu_lock not. */
static void mem_zap_run(struct kvm *kvm, struct mem_zap *z)
{
	unsigned int i;

	if (z->nr > VMIOP_MEM_ZAP_RUNS) {
		vmiop_ksym.zap_gfn_range(kvm, z->min, z->max);
		return;
	}
	for (i = 0; i < z->nr; i++)
		vmiop_ksym.zap_gfn_range(kvm, z->start[i], z->end[i]);
}

/* Every page of the run is in a memslot of the guest's own (not KVM's). */
static bool mem_run_is_memory(struct kvm *kvm, gfn_t gfn, u64 nr)
{
	gfn_t end = gfn + nr;

	while (gfn < end) {
		struct kvm_memory_slot *slot = gfn_to_memslot(kvm, gfn);

		if (!slot || slot->id >= KVM_USER_MEM_SLOTS)
			return false;
		gfn = slot->base_gfn + slot->npages;
	}
	return true;
}

/* Reservations still empty after the change: none was needed. */
static void mem_release_reserved(struct vmiop_session *sess,
				 const struct vmiop_mem_access_range *r, u32 nr, u64 upto)
{
	u32 i;
	u64 p;

	for (i = 0; i < nr; i++) {
		if (r[i].access == VMIOP_ACCESS_RWX)
			continue;
		for (p = 0; p < r[i].nr_pages; p++) {
			u64 gfn = r[i].gfn + p;

			/* (a failed reservation stopped at @upto of the last range) */
			if (i == nr - 1 && p >= upto)
				break;
			xa_release(&sess->mem_rights, gfn);
			cond_resched();
		}
	}
}

/* Entries whose lpage counters are set while mmu_lock is held for write. */
#define VMIOP_MEM_BATCH	512

/*
 * Gives @gfn the rights @access.  A gfn given RWX keeps its entry (as
 * RWX) until mem_drop_unrestricted(): erasing can free an xarray node a
 * later range's store then needs, where no allocation may happen, so the
 * call's last step frees them.  Under mmu_lock (write).
 */
static void mem_set_one(struct vmiop_session *sess, u64 gfn, u8 access, struct mem_zap *z)
{
	void *old = xa_load(&sess->mem_rights, gfn);

	if (mem_rights_of(old) == access)
		return;
	/* Reserved or present before: this allocates nothing and cannot fail. */
	xa_store(&sess->mem_rights, gfn, xa_mk_value(access), GFP_NOWAIT);
	if (access == VMIOP_ACCESS_RWX)
		xa_set_mark(&sess->mem_rights, gfn, VMIOP_MEM_UNRESTRICTED);
	else
		xa_clear_mark(&sess->mem_rights, gfn, VMIOP_MEM_UNRESTRICTED);
	if (!xa_is_value(old))
		mem_lpage_adjust(sess->kvm, gfn, true);
	mem_zap_add(z, gfn, gfn + 1);
}

static void mem_apply_range(struct vmiop_session *sess, const struct vmiop_mem_access_range *r,
			    struct mem_zap *z)
{
	struct kvm *kvm = sess->kvm;
	unsigned long gfn = r->gfn, last = r->gfn + r->nr_pages - 1;
	unsigned int run;
	void *entry;

	if (r->access == VMIOP_ACCESS_RWX) {
		/* Only the gfns restricted now: a range may span 2^40 pages. */
		for (;;) {
			write_lock(&kvm->mmu_lock);
			run = 0;
			xa_for_each_range(&sess->mem_rights, gfn, entry, gfn, last) {
				mem_set_one(sess, gfn, VMIOP_ACCESS_RWX, z);
				if (++run == VMIOP_MEM_BATCH || gfn == last)
					break;
			}
			write_unlock(&kvm->mmu_lock);
			if (run < VMIOP_MEM_BATCH || gfn++ == last)
				return;
			cond_resched();
		}
	}
	/* Restricted runs are guest memory: as long as the VM is large. */
	while (gfn <= last) {
		write_lock(&kvm->mmu_lock);
		for (run = 0; run < VMIOP_MEM_BATCH && gfn <= last; run++, gfn++)
			mem_set_one(sess, gfn, r->access, z);
		write_unlock(&kvm->mmu_lock);
		cond_resched();
	}
}

/* The entries left RWX (given back, or lifted by a vCPU) go, with their counters. */
static void mem_drop_unrestricted(struct vmiop_session *sess)
{
	struct kvm *kvm = sess->kvm;
	unsigned long gfn;
	void *entry;

	xa_for_each_marked(&sess->mem_rights, gfn, entry, VMIOP_MEM_UNRESTRICTED) {
		if (mem_rights_of(entry) != VMIOP_ACCESS_RWX)
			continue;
		write_lock(&kvm->mmu_lock);
		xa_erase(&sess->mem_rights, gfn);
		mem_lpage_adjust(kvm, gfn, false);
		write_unlock(&kvm->mmu_lock);
		cond_resched();
	}
}

long vmiop_ioctl_set_mem_access(struct vmiop_session *sess, struct vmiop_mem_access *m)
{
	struct vmiop_mem_access_range *r;
	struct kvm *kvm = sess->kvm;
	struct mem_zap *z;
	u32 i, host = vmiop_mem_host_rights();
	u64 p = 0;
	long ret;
	int idx;

	ret = abi_check_mem_access(m);
	if (ret)
		return ret;
	if (!mem_tdp())
		return -EOPNOTSUPP;
	if (!vmiop_events_ready(sess))
		return -ENXIO;
	r = vmemdup_user(u64_to_user_ptr(m->ranges), array_size(m->nr_ranges, sizeof(*r)));
	if (IS_ERR(r))
		return PTR_ERR(r);
	for (i = 0; i < m->nr_ranges; i++) {
		ret = abi_check_mem_access_range(&r[i], host);
		if (ret)
			goto out_free;
	}
	ret = -ENOMEM;
	z = kzalloc(sizeof(*z), GFP_KERNEL_ACCOUNT);
	if (!z)
		goto out_free;

	ret = mutex_lock_killable(&kvm->slots_lock);
	if (ret)
		goto out_free_z;
	idx = srcu_read_lock(&kvm->srcu);
	for (i = 0; i < m->nr_ranges; i++) {
		if (r[i].access != VMIOP_ACCESS_RWX &&
		    !mem_run_is_memory(kvm, r[i].gfn, r[i].nr_pages)) {
			ret = -ENXIO;
			goto out_unlock;
		}
	}
	/* All the memory first: nothing changes unless everything can. */
	for (i = 0; i < m->nr_ranges; i++) {
		if (r[i].access == VMIOP_ACCESS_RWX)
			continue;
		for (p = 0; p < r[i].nr_pages; p++) {
			ret = xa_reserve(&sess->mem_rights, r[i].gfn + p, GFP_KERNEL_ACCOUNT);
			if (ret) {
				mem_release_reserved(sess, r, i + 1, p);
				goto out_unlock;
			}
			if (fatal_signal_pending(current)) {
				mem_release_reserved(sess, r, i + 1, p + 1);
				ret = -EINTR;
				goto out_unlock;
			}
			cond_resched();
		}
	}
	for (i = 0; i < m->nr_ranges; i++)
		mem_apply_range(sess, &r[i], z);
	mem_release_reserved(sess, r, m->nr_ranges, U64_MAX);
	mem_drop_unrestricted(sess);
	mem_zap_run(kvm, z);
	ret = 0;
out_unlock:
	srcu_read_unlock(&kvm->srcu, idx);
	mutex_unlock(&kvm->slots_lock);
out_free_z:
	kfree(z);
out_free:
	kvfree(r);
	return ret;
}

long vmiop_ioctl_get_mem_access(struct vmiop_session *sess, struct vmiop_mem_access_query *q)
{
	unsigned long gfn;
	void *entry;
	u8 *buf;
	long ret;

	ret = abi_check_mem_access_query(q);
	if (ret)
		return ret;
	buf = kvmalloc(q->nr_pages, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	memset(buf, VMIOP_ACCESS_RWX, q->nr_pages);
	xa_for_each_range(&sess->mem_rights, gfn, entry, q->gfn, q->gfn + q->nr_pages - 1)
		buf[gfn - q->gfn] = mem_rights_of(entry);
	ret = copy_to_user(u64_to_user_ptr(q->access), buf, q->nr_pages) ? -EFAULT : 0;
	kvfree(buf);
	return ret;
}

/*
 * A memslot is being created or moved (kvm->slots_lock held; @slot not
 * yet visible, its lpage counters fresh): the restricted gfns in it must
 * not be mapped huge there either.
 */
void vmiop_mem_slot_created(struct kvm *kvm, struct kvm_memory_slot *slot)
{
	struct vmiop_session *sess = vmiop_session_find(kvm);
	unsigned long gfn;
	void *entry;

	if (!sess)
		return;
	lockdep_assert_held(&kvm->slots_lock);
	xa_for_each_range(&sess->mem_rights, gfn, entry, slot->base_gfn,
			  slot->base_gfn + slot->npages - 1) {
		vmiop_ksym.gfn_disallow_lpage(slot, gfn);
		cond_resched();
	}
	vmiop_session_put(sess);
}

/*
 * The session ends: every page gets its rights back, and KVM's entries
 * are rebuilt without restriction.  A step-over under way ends too.  The
 * table is left empty: nothing adds to it any more, so freeing the
 * session needs no xa_destroy() (in an RCU callback, softirq context).
 */
void vmiop_mem_detach(struct vmiop_session *sess)
{
	struct kvm *kvm = sess->kvm;
	unsigned long gfn;
	struct mem_zap *z;
	void *entry;
	int idx;

	int i;

	spin_lock(&sess->state_lock);
	WRITE_ONCE(sess->mem_nr_open, 0);
	WRITE_ONCE(sess->mem_step_owner, -1);
	spin_unlock(&sess->state_lock);
	for (i = 0; i < KVM_MAX_VCPUS; i++)
		hrtimer_cancel(&sess->vcpus[i].mem.watchdog);
	if (xa_empty(&sess->mem_rights))
		return;
	z = kzalloc(sizeof(*z), GFP_KERNEL | __GFP_NOFAIL);
	mutex_lock(&kvm->slots_lock);
	idx = srcu_read_lock(&kvm->srcu);
	xa_for_each(&sess->mem_rights, gfn, entry) {
		write_lock(&kvm->mmu_lock);
		xa_erase(&sess->mem_rights, gfn);
		mem_lpage_adjust(kvm, gfn, false);
		write_unlock(&kvm->mmu_lock);
		mem_zap_add(z, gfn, gfn + 1);
		cond_resched();
	}
	mem_zap_run(kvm, z);
	srcu_read_unlock(&kvm->srcu, idx);
	mutex_unlock(&kvm->slots_lock);
	kfree(z);
}

/* ---- the event ---------------------------------------------------------- */

/*
 * Nobody takes the event on this vCPU: the page's restriction ends, as
 * Xen's does without a listener; the lpage counters stay with the entry
 * (now RWX) until the next change of rights or detach, which hold
 * slots_lock that a vCPU in an exit may not take.  Only the rights the
 * vCPU saw are lifted: a concurrent VMIOP_SET_MEM_ACCESS wins.
 */
static void mem_lift(struct vmiop_exit *x)
{
	gfn_t gfn = gpa_to_gfn(x->mem.gpa);
	void *seen = xa_mk_value(x->mem.rights);

	if (xa_cmpxchg(&x->sess->mem_rights, gfn, seen, xa_mk_value(VMIOP_ACCESS_RWX),
		       GFP_NOWAIT) == seen) {
		xa_set_mark(&x->sess->mem_rights, gfn, VMIOP_MEM_UNRESTRICTED);
		vmiop_ksym.zap_gfn_range(x->vcpu->kvm, gfn, gfn + 1);
	}
}

/*
 * The instruction at RIP is skipped: its length from the kernel's own
 * decoder (VEX and EVEX included, which KVM's emulator does not decode),
 * or for 16-bit code from KVM's emulator.
 */
static int mem_skip(struct kvm_vcpu *vcpu)
{
	u8 bytes[MAX_INSN_SIZE];
	unsigned int n = vmiop_fetch_insn(vcpu, bytes);
	struct kvm_regs regs;
	struct insn insn;
	bool code64, cs_db;

	code64 = vmiop_code64(vcpu, &cs_db);
	if (!vmiop_ksym.insn_decode || !n || !(code64 || cs_db) ||
	    vmiop_ksym.insn_decode(&insn, bytes, n, code64 ? INSN_MODE_64 : INSN_MODE_32))
		return kvm_emulate_instruction(vcpu, EMULTYPE_SKIP);
	vmiop_ksym.get_regs(vcpu, &regs);
	regs.rip += insn.length;
	if (!code64)
		regs.rip = (u32)regs.rip;
	regs.rflags &= ~X86_EFLAGS_RF;
	vmiop_ksym.set_regs(vcpu, &regs);
	vmiop_ksym.x86_ops->set_interrupt_shadow(vcpu, 0);
	return 1;
}

/* One more gfn open for the step-over of the owner (others held). */
static bool mem_open(struct vmiop_session *sess, gfn_t gfn)
{
	unsigned int n = sess->mem_nr_open;

	if (n == VMIOP_MEM_OPEN_MAX)
		return false;
	WRITE_ONCE(sess->mem_open[n], gfn);
	/* the gfn before the count: lock-free readers see a whole entry */
	smp_store_release(&sess->mem_nr_open, n + 1);
	return true;
}

/* The owner's open pages close (zapped: rebuilt restricted), others still held. */
static void mem_close_open(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	gfn_t open[VMIOP_MEM_OPEN_MAX];
	unsigned int i, n = sess->mem_nr_open;

	memcpy(open, sess->mem_open, sizeof(open));
	WRITE_ONCE(sess->mem_nr_open, 0);
	for (i = 0; i < n; i++)
		vmiop_ksym.zap_gfn_range(vcpu->kvm, open[i], open[i] + 1);
}

/*
 * A step-over's step normally ends at the next instruction boundary (the
 * monitor trap flag, the trap flag's #DB).  With the trap flag an
 * exception the CPU delivers on the way clears it until its handler
 * returns, and a VMM single-stepping the vCPU itself takes the #DB: so
 * every millisecond the owner goes through its park point, where a RIP
 * that moved ends the step-over (vmiop_mem_step_check()).
 */
static enum hrtimer_restart mem_watchdog(struct hrtimer *timer)
{
	struct vmiop_vcpu *vv = container_of(timer, struct vmiop_vcpu, mem.watchdog);

	if (!READ_ONCE(vv->mem.over))
		return HRTIMER_NORESTART;
	kvm_make_request(KVM_REQ_EVENT, vv->mem.vcpu);
	kvm_vcpu_kick(vv->mem.vcpu);
	hrtimer_forward_now(timer, ms_to_ktime(1));
	return HRTIMER_RESTART;
}

void vmiop_mem_vcpus_init(struct vmiop_session *sess)
{
	int i;

	for (i = 0; i < KVM_MAX_VCPUS; i++) {
		hrtimer_init(&sess->vcpus[i].mem.watchdog, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
		sess->vcpus[i].mem.watchdog.function = mem_watchdog;
	}
}

static bool mem_emulate(struct vmiop_exit *x, const struct vmiop_event_reply *r, bool may_step);

/*
 * Continue: the vCPU runs the instruction with the page open, every
 * other vCPU held outside the guest, and the page closes again when the
 * single step ends (vmiop_mem_step_done()).  The owner of a step-over
 * faulting again (the instruction's next page, a level of its page walk)
 * opens that one too; past VMIOP_MEM_OPEN_MAX pages the step-over ends
 * and KVM's emulator runs the instruction.  False: KVM resolves the
 * fault now, with the page open.  @r: the reply, taken again if a signal
 * comes first.
 */
static bool mem_step_over(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	struct vmiop_session *sess = x->sess;
	struct kvm_vcpu *vcpu = x->vcpu;
	struct vmiop_vcpu *vv = x->vv;
	gfn_t gfn = gpa_to_gfn(x->mem.gpa);
	u64 lip = kvm_get_linear_rip(vcpu);
	bool armed;
	int ret;

	if (READ_ONCE(sess->mem_step_owner) != vcpu->vcpu_idx) {
		ret = vmiop_hold_others(sess, vcpu);
		if (ret == -EINTR) {
			vmiop_event_reply_again(sess, vcpu, r);
			return vmiop_leave_for_signal(x);
		}
		if (ret) {		/* detached: no rights left */
			x->ret = 1;
			return true;
		}
	} else if (vv->mem.over && lip != vv->mem.step_lip) {
		/* A handler's access, where the step went: the step starts again here. */
		mem_close_open(sess, vcpu);
	}
	vv->mem.step_lip = lip;
	if (!mem_open(sess, gfn)) {
		/* An instruction touching more pages than that: KVM's emulator runs it. */
		vmiop_mem_step_done(sess, vcpu);
		if (x->mem.flags & VMIOP_MEM_F_EVENT_DELIVERY) {
			x->ret = 1;
			return true;
		}
		return mem_emulate(x, r, false);
	}
	if (!vv->mem.over) {
		vv->mem.over = true;
		vv->mem.delivery = x->mem.flags & VMIOP_MEM_F_EVENT_DELIVERY;
		/*
		 * A delivery is not stepped with the trap flag, which would
		 * stay in the frame it pushes: the pages close once RIP is
		 * in the handler (the watchdog, vmiop_mem_step_check()).
		 */
		vv->mem.stepping = !vv->mem.delivery || vmiop_step_method() == VMIOP_STEP_MTF;
		vv->mem.vcpu = vcpu;
		/* Not once detach took the gate back: nothing would cancel it. */
		spin_lock(&sess->state_lock);
		armed = sess->mem_step_owner == vcpu->vcpu_idx && !sess->detached;
		if (armed)
			hrtimer_start(&vv->mem.watchdog, ms_to_ktime(1), HRTIMER_MODE_REL);
		spin_unlock(&sess->state_lock);
	}
	/* Its entry as KVM has it would let the fault look spurious (NPT). */
	vmiop_ksym.zap_gfn_range(vcpu->kvm, gfn, gfn + 1);
	/* Stepping is armed before the entry (vmiop_debug_sync()). */
	kvm_make_request(KVM_REQ_EVENT, vcpu);
	return false;
}

/*
 * The step of a step-over ended (debug.c, or its RIP moved), on the
 * owner's thread, kvm->srcu held: its pages close before the next guest
 * instruction, then the others may run.
 */
void vmiop_mem_step_done(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	vv->mem.over = false;
	vv->mem.stepping = false;
	hrtimer_cancel(&vv->mem.watchdog);
	kvm_make_request(KVM_REQ_EVENT, vcpu);
	if (READ_ONCE(sess->mem_step_owner) != vcpu->vcpu_idx)
		return;		/* detach ended it */
	mem_close_open(sess, vcpu);
	vmiop_release_others(sess, vcpu);
}

/* At the owner's park point (srcu held): a step that went elsewhere ended. */
void vmiop_mem_step_check(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	if (vv->mem.over && kvm_get_linear_rip(vcpu) != vv->mem.step_lip)
		vmiop_mem_step_done(sess, vcpu);
}

/*
 * KVM is about to deliver an exception to the owner (srcu held): under
 * the trap flag its handler would run unstepped with the pages open, so
 * the step-over ends now; the instruction has not run, and faults again.
 * Not when the access stepped over is that delivery's own (KVM delivers
 * it again): the watchdog ends it once RIP is in the handler.  The
 * monitor trap flag stops at the handler's first instruction.
 */
void vmiop_mem_exception_injected(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	if (vv->mem.over && !vv->applied.mtf && !vv->mem.delivery)
		vmiop_mem_step_done(sess, vcpu);
}

/*
 * Emulate: KVM's emulator runs the instruction, reading @r's data where
 * it asks for it (vmiop_mem_emul_read()).  It translates every operand
 * itself: the faulting gpa is one operand's only, and KVM would use it
 * for any other at the same page offset.  What the emulator cannot decode
 * or run is stepped over instead (@may_step), without the data.
 */
/*
 * KVM's emulator runs the instruction, its reads at the fault's gpa from
 * @vv's read_data for @read_len bytes.  @own_failure: an instruction it
 * cannot decode or run is left as it was (false), for the caller to deal
 * with, rather than KVM's failure path (#UD, an exit to the VMM).
 */
static bool mem_run_emulator(struct vmiop_exit *x, struct vmiop_vcpu *vv, u32 read_len,
			     bool own_failure)
{
	struct kvm_vcpu *vcpu = x->vcpu;
	int ret;

	if (own_failure &&
	    x86_decode_emulated_instruction(vcpu, 0, x->mem.insn, x->mem.insn_len) !=
	    VMIOP_EMULATION_OK)
		return false;
	vv->mem.emul_failed = false;
	vv->mem.emulating = own_failure;
	vv->mem.read_gpa = x->mem.gpa;
	vv->mem.read_len = read_len;
	ret = vmiop_ksym.x86_emulate_instruction(vcpu, 0, 0, x->mem.insn, x->mem.insn_len);
	vv->mem.emulating = false;
	vv->mem.read_len = 0;
	if (vv->mem.emul_failed)
		return false;
	x->ret = ret;
	return true;
}

static bool mem_emulate(struct vmiop_exit *x, const struct vmiop_event_reply *r, bool may_step)
{
	if (mem_run_emulator(x, x->vv, may_step ? r->emul_read.len : 0, may_step))
		return true;
	return mem_step_over(x, r);
}

/* An emulated read of @vcpu: the reply's bytes replace what it read. */
void vmiop_mem_emul_read(struct kvm_vcpu *vcpu, gpa_t gpa, void *val, int bytes)
{
	struct vmiop_session *sess;
	struct vmiop_vcpu *vv;
	u64 from, to;

	rcu_read_lock();
	sess = vmiop_session_lookup_rcu(vcpu->kvm);
	vv = sess ? vmiop_vcpu_own(sess, vcpu) : NULL;
	if (vv && vv->mem.emulating && vv->mem.read_len) {
		from = max_t(u64, gpa, vv->mem.read_gpa);
		to = min_t(u64, gpa + bytes, vv->mem.read_gpa + vv->mem.read_len);
		if (from < to)
			memcpy(val + (from - gpa), vv->mem.read_data + (from - vv->mem.read_gpa),
			       to - from);
	}
	rcu_read_unlock();
}

/*
 * KVM's emulator failed on an instruction vmiop had it emulate: true, and
 * the guest is left as it was (no #UD, no exit to the VMM); the caller
 * steps over it instead.
 */
bool vmiop_mem_emulation_failed(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess;
	struct vmiop_vcpu *vv;
	bool ours = false;

	rcu_read_lock();
	sess = vmiop_session_lookup_rcu(vcpu->kvm);
	vv = sess ? vmiop_vcpu_own(sess, vcpu) : NULL;
	if (vv && vv->mem.emulating) {
		vv->mem.emul_failed = true;
		ours = true;
	}
	rcu_read_unlock();
	return ours;
}

static u64 mem_key(const struct vmiop_exit *x)
{
	return x->mem.gpa;
}

static void mem_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->mem.gpa = x->mem.gpa;
	e->mem.gla = x->mem.gla;
	e->mem.access = x->mem.access;
	e->mem.flags = x->mem.flags;
	e->mem.rights = x->mem.rights;
	e->mem.old_value = x->mem.old_value;
	e->mem.new_value = x->mem.new_value;
}

u32 vmiop_mem_unavailable(void)
{
	return mem_tdp() ? VMIOP_CAP_OK : VMIOP_CAP_KVM_CONFLICT;
}

static bool mem_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	/* Delivering an event, RIP is not what made the access: nothing to skip or emulate. */
	bool delivery = x->mem.flags & VMIOP_MEM_F_EVENT_DELIVERY;

	switch (r->action) {
	case VMIOP_ACTION_RETRY:
	case VMIOP_ACTION_INJECT:
		x->ret = 1;
		return true;
	case VMIOP_ACTION_SKIP:
		if (delivery)
			break;
		x->ret = mem_skip(x->vcpu);
		return true;
	case VMIOP_ACTION_EMULATE:
		if (delivery)
			break;
		return mem_emulate(x, r, true);
	}
	if (!x->posted) {
		mem_lift(x);
		x->ret = 1;
		return true;
	}
	/* Given the access meanwhile (or detached): KVM maps the page now. */
	if (!(x->mem.access & ~mem_rights_now(x->sess, x->vcpu, gpa_to_gfn(x->mem.gpa))))
		return false;
	/*
	 * Stepping with the trap flag (no monitor trap flag) leaves it in
	 * the frame of an exception the instruction raises: KVM's emulator
	 * lets the access through instead, where it can (uapi).
	 */
	if (vmiop_step_method() != VMIOP_STEP_MTF && !delivery)
		return mem_emulate(x, r, true);
	return mem_step_over(x, r);
}

const struct vmiop_event_class vmiop_class_mem = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(INJECT) |
		 VMIOP_TAKES(RETRY) | VMIOP_TAKES(EMULATE),
	.unavailable = vmiop_mem_unavailable,
	.key = mem_key,
	.fill = mem_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = mem_apply,
};

/* What an EPT violation or #NPF tried (VMIOP_ACCESS_*), and its flags. */
static u32 mem_fault_access(struct kvm_vcpu *vcpu, u64 error_code, u64 *gla, u32 *flags)
{
	u32 access = 0;

	if (error_code & PFERR_WRITE_MASK)
		access |= VMIOP_ACCESS_W;
	if (error_code & PFERR_FETCH_MASK)
		access |= VMIOP_ACCESS_X;
	if (!access || error_code & vmiop_vendor->fault_read_mask)
		access |= VMIOP_ACCESS_R;
	if (vmiop_vendor->fault_gla && vmiop_vendor->fault_gla(vcpu, gla))
		*flags |= VMIOP_MEM_F_GLA_VALID;
	/* (VMX: qualification bit 8 clear, also when no linear address at all) */
	if (error_code & PFERR_GUEST_PAGE_MASK)
		*flags |= VMIOP_MEM_F_PAGE_WALK;
	return access;
}

/*
 * A violation of a convertible page: a #VE for the guest's agent, or the
 * agent's own access, which KVM's emulator completes without an event
 * (one it cannot run is the event).  True: settled, with *@ret.
 */
static bool mem_convertible(struct vmiop_exit *x, int *ret)
{
	bool done = false;

	x->sess = vmiop_session_find(x->vcpu->kvm);
	if (!x->sess)
		return false;
	x->vv = vmiop_vcpu_own(x->sess, x->vcpu);
	switch (vmiop_ve_fault(x)) {
	case VMIOP_VE_EVENT:
		break;
	case VMIOP_VE_DELIVERED:
		*ret = 1;
		done = true;
		break;
	case VMIOP_VE_AGENT_ACCESS:
		done = mem_run_emulator(x, x->vv, 0, true);
		*ret = x->ret;
		break;
	}
	/* The event, if any, finds the session again (vmiop_event_run()). */
	vmiop_session_put(x->sess);
	x->sess = NULL;
	x->vv = NULL;
	return done;
}

/*
 * Every EPT violation and #NPF comes here first (hooks.c), on the vCPU's
 * thread, kvm->srcu held.  MMIO (reserved-bit faults) and a nested
 * guest's faults are KVM's.  True: settled, with *@ret.
 */
bool vmiop_on_page_fault(struct kvm_vcpu *vcpu, gpa_t gpa, u64 error_code, void *insn,
			 int insn_len, int *ret)
{
	struct vmiop_exit x = { .vcpu = vcpu };
	struct vmiop_session *sess;
	u8 rights;

	if (error_code & PFERR_RSVD_MASK || !mem_direct(vcpu))
		return false;
	rcu_read_lock();
	sess = vmiop_session_lookup_rcu(vcpu->kvm);
	rights = sess ? mem_rights_now(sess, vcpu, gpa_to_gfn(gpa)) : VMIOP_ACCESS_RWX;
	rcu_read_unlock();
	if (rights == VMIOP_ACCESS_RWX)
		return false;
	x.mem.access = mem_fault_access(vcpu, error_code, &x.mem.gla, &x.mem.flags);
	if (!(x.mem.access & ~rights))
		return false;
	if (vcpu->arch.exception.injected || vcpu->arch.interrupt.injected ||
	    vcpu->arch.nmi_injected)
		x.mem.flags |= VMIOP_MEM_F_EVENT_DELIVERY;
	x.mem.gpa = gpa;
	x.mem.rights = rights;
	x.mem.insn = insn;
	x.mem.insn_len = insn_len;
	if (rights & VMIOP_ACCESS_VE && mem_convertible(&x, ret))
		return true;
	if (!vmiop_event_run(VMIOP_EVENT_MEM, &x))
		return false;
	*ret = x.ret;
	return true;
}
