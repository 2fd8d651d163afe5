// SPDX-License-Identifier: GPL-2.0
/*
 * The intercepts vmiop adds to KVM's, per vCPU: guest-debug flags (#BP,
 * single-step; debug.c), the monitor trap flag, CR3-write, CR-read,
 * descriptor-table and MSR exits (the vendor back ends).
 *
 * They are changed only on the vCPU's own thread with its state loaded:
 * at its park point, which every entry passes when KVM_REQ_EVENT is set,
 * or by whoever holds vcpu->mutex outside KVM_RUN.  KVM may drop one of
 * its own accord (a vCPU reset rebuilds the VMCS/VMCB controls), so each
 * park point asks again for what is wanted.
 */
#include "vmiop.h"

/*
 * vCPUs whose monitor trap flag vmiop applied: the hooks that report an
 * instruction KVM completed stay out of the way while it is 0.  A vCPU's
 * session may end with its flag applied (given up); then the count only
 * stays high (also when the VM's process is gone before its flags could
 * be taken back), which costs a session lookup, never a missed step.
 */
atomic_t vmiop_mtf_vcpus = ATOMIC_INIT(0);

/*
 * One exit vmiop turns on and off through a vendor op; *@applied says
 * whether vmiop owns it now (KVM may own it already: then vmiop leaves it).
 */
static void vmiop_exit_sync(struct kvm_vcpu *vcpu, bool want, bool *applied,
			    bool (*exiting)(struct kvm_vcpu *vcpu, bool on))
{
	if (!want && !*applied)
		return;
	/* A nested guest runs on its own VMCS/VMCB: leave it alone. */
	if (vmiop_in_l2(vcpu))
		return;
	if (want)
		*applied |= exiting(vcpu, true);
	else if (exiting(vcpu, false))
		*applied = false;
}

/*
 * Any thread may look (detach does, for each vCPU): a snapshot, read once
 * each, of what the owner changes.
 */
static bool vmiop_intercepts_applied(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];
	int i;

	if (READ_ONCE(vv->applied.given_up))
		return false;

	for (i = 0; i < VMIOP_NR_PASSTHROUGH_MSRS; i++)
		if (READ_ONCE(vv->applied.msr[i]))
			return true;
	return READ_ONCE(vv->applied.debug) || READ_ONCE(vv->applied.mtf) ||
	       READ_ONCE(vv->applied.cr3) ||
	       READ_ONCE(vv->applied.cr_read) ||
	       READ_ONCE(vv->applied.desc) || READ_ONCE(vv->exit.rewind) ||
	       vmiop_ve_queued(sess, vcpu);
}

/*
 * The MSRs that KVM 6.1 may let a guest access without exits on one vendor
 * or the other (vmx_possible_passthrough_msrs, svm's direct_access_msrs)
 * and emulates the same way when they exit: system-call entry points,
 * segment bases, TSC_AUX, speculation controls, TSC reads, XFD.  Not the
 * C-state residency counters (KVM cannot read them for the guest), SVM's
 * last-branch records (KVM intercepts them again when the guest turns
 * LBRs off, and a restore then would hand the guest the host's), EFER and
 * PAT (passed through to SEV-ES guests only, which vmiop leaves alone),
 * nor the x2APIC range, whose accesses the CPU virtualizes with APICv.
 */
static const u32 vmiop_passthrough_msrs[VMIOP_NR_PASSTHROUGH_MSRS] = {
	MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK,
	MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE,
	MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
	MSR_TSC_AUX, MSR_IA32_SPEC_CTRL, MSR_IA32_PRED_CMD, MSR_IA32_TSC,
	MSR_IA32_XFD, MSR_IA32_XFD_ERR,
};

static bool vmiop_cpuid_bit(struct kvm_vcpu *vcpu, u32 leaf, int reg, u32 bit)
{
	struct kvm_cpuid_entry2 *e = kvm_find_cpuid_entry_index(vcpu, leaf, 0);
	u32 regs[4];

	if (!e)
		return false;
	regs[0] = e->eax;
	regs[1] = e->ebx;
	regs[2] = e->ecx;
	regs[3] = e->edx;
	return regs[reg] & BIT(bit);
}

/*
 * KVM answers the guest's accesses to @msr when they exit the way the CPU
 * did: the speculation-control MSRs only if the guest's CPUID has them
 * (SVM with V_SPEC_CTRL passes SPEC_CTRL through whatever CPUID says, and
 * KVM's emulation would #GP).  CPUID bits as KVM's guest_has_*_msr().
 */
static bool vmiop_msr_emulated_alike(struct kvm_vcpu *vcpu, u32 msr)
{
	switch (msr) {
	case MSR_IA32_SPEC_CTRL:
		return vmiop_cpuid_bit(vcpu, 7, 3, 26) ||
		       vmiop_cpuid_bit(vcpu, 0x80000008, 1, 14) ||
		       vmiop_cpuid_bit(vcpu, 0x80000008, 1, 15) ||
		       vmiop_cpuid_bit(vcpu, 0x80000008, 1, 24);
	case MSR_IA32_PRED_CMD:
		return vmiop_cpuid_bit(vcpu, 7, 3, 26) ||
		       vmiop_cpuid_bit(vcpu, 0x80000008, 1, 12);
	}
	return true;
}

static void vmiop_msr_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	bool reads = vmiop_event_type_flag(sess, VMIOP_EVENT_MSR, VMIOP_EVENT_CTL_F_READS);
	bool on = vmiop_event_enabled_on(sess, vcpu, VMIOP_EVENT_MSR) &&
		  !READ_ONCE(sess->detached);
	int i;

	/* Every entry with KVM_REQ_EVENT passes here: nothing to do, quickly. */
	if (!on && !memchr_inv(vv->applied.msr, 0, sizeof(vv->applied.msr)))
		return;
	if (vmiop_in_l2(vcpu))
		return;
	for (i = 0; i < VMIOP_NR_PASSTHROUGH_MSRS; i++) {
		u32 msr = vmiop_passthrough_msrs[i], want = 0, more, less;

		/*
		 * KVM may have passed it through again since (SPEC_CTRL after
		 * the guest's first write, say): then vmiop's exit is gone.
		 */
		if (vv->applied.msr[i])
			vv->applied.msr[i] &= vmiop_vendor->msr_intercepted(vcpu, msr);
		if (on && vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_MSR, msr) &&
		    vmiop_msr_emulated_alike(vcpu, msr))
			want = VMIOP_MSR_W | (reads ? VMIOP_MSR_R : 0);
		more = want & ~vv->applied.msr[i];
		less = vv->applied.msr[i] & ~want;
		if (more)
			vv->applied.msr[i] |= vmiop_vendor->msr_exiting(vcpu, msr, more, true);
		if (less)
			vv->applied.msr[i] &= ~vmiop_vendor->msr_exiting(vcpu, msr, less, false);
	}
}

/* Reads of each CR the vendor can make exit, while the filter wants them. */
static void vmiop_cr_read_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	bool reads = vmiop_event_type_flag(sess, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS);
	unsigned long crs = vmiop_vendor->cr_reads;
	unsigned int cr;

	if (!vv->applied.cr_read && !(reads && vmiop_event_enabled_on(sess, vcpu, VMIOP_EVENT_CR)))
		return;
	for_each_set_bit(cr, &crs, BITS_PER_LONG) {
		bool want = reads && vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_CR, cr);
		bool applied = vv->applied.cr_read & BIT(cr);

		if (!want && !applied)
			continue;
		if (vmiop_in_l2(vcpu))
			return;
		/* Wanted: again each time, in case KVM took it back meanwhile. */
		if (want && vmiop_vendor->cr_read_exiting(vcpu, cr, true))
			vv->applied.cr_read |= BIT(cr);
		else if (!want && vmiop_vendor->cr_read_exiting(vcpu, cr, false))
			vv->applied.cr_read &= ~BIT(cr);
	}
}

static void vmiop_intercepts_apply(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	bool attached = !READ_ONCE(sess->detached);

	/* A #VE vmiop queued: withdrawn once detached, before KVM injects it. */
	vmiop_ve_sync(sess, vcpu);

	/* Before the guest-debug flags: they step with TF without it. */
	if (vmiop_vendor->mtf_exiting) {
		bool mtf = vv->applied.mtf;

		vmiop_exit_sync(vcpu, vmiop_step_wanted(sess, vcpu), &vv->applied.mtf,
				vmiop_vendor->mtf_exiting);
		/* Counted before the hooks of this thread next look (hooks.c). */
		if (vv->applied.mtf != mtf)
			atomic_add(vv->applied.mtf ? 1 : -1, &vmiop_mtf_vcpus);
	}
	vmiop_debug_sync(sess, vcpu);
	/* CR3 writes exit only if the CR filter has 3 in it. */
	vmiop_exit_sync(vcpu, vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_CR, 3),
			&vv->applied.cr3, vmiop_vendor->cr3_exiting);
	vmiop_cr_read_sync(sess, vcpu);
	vmiop_exit_sync(vcpu, attached && vmiop_event_enabled_on(sess, vcpu, VMIOP_EVENT_DESC),
			&vv->applied.desc, vmiop_vendor->desc_exiting);
	vmiop_msr_sync(sess, vcpu);
}

void vmiop_intercepts_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	vmiop_intercepts_apply(sess, vcpu);
	vmiop_own_sync(sess, vcpu);
	if (!vmiop_intercepts_applied(sess, vcpu))
		return;
	/*
	 * Detach sets ->detached, then looks at what each vCPU has applied:
	 * one that decided before the flag and applied after the look undoes
	 * it here.  Pairs with the smp_mb() in vmiop_intercepts_restore().
	 */
	smp_mb();
	if (!READ_ONCE(sess->detached))
		return;
	vmiop_intercepts_apply(sess, vcpu);
	/*
	 * In L1 and still not all given back: a vendor op did not find KVM's
	 * controls where it expects them.  Nothing more will; say so once
	 * rather than keep the session for ever.
	 */
	if (vmiop_intercepts_applied(sess, vcpu) && !vmiop_in_l2(vcpu)) {
		pr_warn("detach: vCPU %d keeps some of vmiop's intercepts (KVM's controls not found)\n",
			vcpu->vcpu_idx);
		WRITE_ONCE(vmiop_vcpu_own(sess, vcpu)->applied.given_up, true);
	}
}

/*
 * KVM may have rewritten a control vmiop set or relies on (a CR4 write
 * toggles VMX descriptor-table exits for UMIP emulation, an SVM CR0 write
 * KVM's CR0-read intercept): look again before entry.
 */
void vmiop_intercepts_recheck(struct kvm_vcpu *vcpu)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);

	if (!sess)
		return;
	if (vmiop_intercepts_applied(sess, vcpu) ||
	    vmiop_event_enabled_on(sess, vcpu, VMIOP_EVENT_CR))
		kvm_make_request(KVM_REQ_EVENT, vcpu);
	vmiop_session_put(sess);
}

/*
 * KVM let the guest access @msr without exits (SPEC_CTRL after the first
 * write, a vCPU reset, a CPUID or MSR-filter change...): if vmiop wants
 * it, it exits again before the vCPU next enters.
 */
void vmiop_msr_passed_through(struct kvm_vcpu *vcpu, u32 msr)
{
	struct vmiop_session *sess;
	int i;

	for (i = 0; i < VMIOP_NR_PASSTHROUGH_MSRS; i++)
		if (vmiop_passthrough_msrs[i] == msr)
			break;
	if (i == VMIOP_NR_PASSTHROUGH_MSRS)
		return;
	sess = vmiop_session_find(vcpu->kvm);
	if (!sess)
		return;
	if (vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_MSR, msr))
		kvm_make_request(KVM_REQ_EVENT, vcpu);
	vmiop_session_put(sess);
}

/* After events that change intercepts were enabled or disabled. */
void vmiop_intercepts_kick(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		kvm_make_request(KVM_REQ_EVENT, vcpu);
		kvm_vcpu_kick(vcpu);
	}
}

static int vmiop_intercepts_sync_fn(struct kvm_vcpu *vcpu, void *arg)
{
	vmiop_rewind(arg, vcpu);
	vmiop_intercepts_sync(arg, vcpu);
	return 0;
}

/* Detach waits for @vcpu: to give back intercepts, or to leave the session's memory. */
static bool vmiop_detach_waits_for(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	return vmiop_intercepts_applied(sess, vcpu) || vmiop_own_waits_for(sess, vcpu);
}

/* Detach waits for some vCPU (a look from any thread). */
bool vmiop_intercepts_left(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;

	kvm_for_each_vcpu(i, vcpu, sess->kvm)
		if (vmiop_detach_waits_for(sess, vcpu))
			return true;
	return false;
}

/*
 * One round of giving back: a vCPU outside KVM_RUN does it here, under its
 * mutex, one running is kicked to its park point.  Returns how many vCPUs
 * in L1 were kicked; one in a nested guest cannot give back (its
 * intercepts are on L1's VMCS/VMCB, not the one loaded) until it is in L1
 * again, and is not waited for.
 */
int vmiop_intercepts_restore_round(struct vmiop_session *sess)
{
	struct kvm_vcpu *vcpu;
	unsigned long i;
	int kicked = 0;

	kvm_for_each_vcpu(i, vcpu, sess->kvm) {
		if (!vmiop_detach_waits_for(sess, vcpu))
			continue;
		if (mutex_trylock(&vcpu->mutex)) {
			vmiop_vcpu_call_locked(sess, vcpu, vmiop_intercepts_sync_fn, sess);
			mutex_unlock(&vcpu->mutex);
			continue;
		}
		kvm_make_request(KVM_REQ_EVENT, vcpu);
		kvm_vcpu_kick(vcpu);
		/* A look at hflags from here: L2 now is all it says. */
		if (!vmiop_in_l2(vcpu))
			kicked++;
	}
	return kicked;
}

/*
 * Detach: every vCPU gets KVM's own intercepts back, but those in a nested
 * guest, for which the session lingers (session.c).  Uninterruptible but
 * bounded: this runs when the introspector dies, with SIGKILL pending.
 * True if every vCPU has KVM's own intercepts again.
 */
bool vmiop_intercepts_restore(struct vmiop_session *sess)
{
	unsigned long deadline = jiffies + 10 * HZ;

	/* ->detached is set: pairs with the smp_mb() in vmiop_intercepts_sync(). */
	smp_mb();
	while (vmiop_intercepts_restore_round(sess) && time_before(jiffies, deadline))
		schedule_timeout_uninterruptible(1);
	return !vmiop_intercepts_left(sess);
}
