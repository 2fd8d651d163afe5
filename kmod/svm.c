// SPDX-License-Identifier: GPL-2.0
/* AMD SVM (NPT) back end. */
#include <linux/mem_encrypt.h>
#include <asm/svm.h>
#include "msrmap.h"
#include "vmiop.h"

/* A CR-access exit whose EXITINFO1 names the GPR (decode assists, APM 15.8.1). */
#define SVM_CR_EXITINFO_VALID	BIT_ULL(63)

/* The VMCB clean bit that covers the intercept vectors (APM 15.15.3). */
#define VMCB_CLEAN_INTERCEPTS	BIT(0)

/*
 * SVM reports no length, and needs none: only INT3 (0xCC) raises #BP
 * through the exception intercept; INT n, INT 3 (CD 03) included, is a
 * software interrupt that never reaches it.
 */
static u32 svm_bp_insn_len(struct kvm_vcpu *vcpu)
{
	return 1;
}

/* SVM keeps no pending single-step state across a #VMEXIT. */
static void svm_clear_pending_step(struct kvm_vcpu *vcpu)
{
}

/* SVM intercepts ICEBP's #DB as the trap it is, RIP already past it. */
static bool svm_skip_icebp(struct kvm_vcpu *vcpu)
{
	return false;
}

/*
 * The current VMCB: KVM's private struct vcpu_svm keeps a pointer to it
 * where its BTF says (layout.c); the VMCB layout itself is architectural.
 * Checked before each use: a page-aligned VMCB that intercepts VMRUN and
 * CPUID, as KVM's always do.
 */
static struct vmcb *svm_current_vmcb(struct kvm_vcpu *vcpu)
{
	struct vmcb *vmcb = *(struct vmcb **)((u8 *)vcpu + vmiop_layout.svm_vmcb);
	unsigned long *intercepts;

	if (!vmcb || !PAGE_ALIGNED(vmcb) || !virt_addr_valid(vmcb))
		return NULL;
	intercepts = (unsigned long *)vmcb->control.intercepts;
	if (!test_bit(INTERCEPT_VMRUN, intercepts) || !test_bit(INTERCEPT_CPUID, intercepts))
		return NULL;
	return vmcb;
}

/*
 * SEV-ES guests must see no CR or descriptor-table intercepts: the CPU
 * turns them into #VC inside the guest, which it cannot handle.
 */
static bool vmiop_svm_protected(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.guest_state_protected;
}

/*
 * One intercept vmiop turns on and off (see struct vmiop_vendor_ops); it
 * stays on while KVM's intercept @kvm_needs_with (-1: none) is on too.
 */
static bool svm_intercept_exiting(struct kvm_vcpu *vcpu, u32 bit, bool on, int kvm_needs_with)
{
	struct vmcb *vmcb = svm_current_vmcb(vcpu);
	unsigned long *intercepts;

	if (!vmcb) {
		pr_warn_once("no VMCB where expected: CR events unavailable\n");
		return false;
	}
	intercepts = (unsigned long *)vmcb->control.intercepts;
	if (on) {
		/* Set already: KVM's own (CR3 without NPT, CR4 reads...). */
		if (vmiop_svm_protected(vcpu) || test_bit(bit, intercepts))
			return false;
		__set_bit(bit, intercepts);
	} else if (kvm_needs_with < 0 || !test_bit(kvm_needs_with, intercepts)) {
		__clear_bit(bit, intercepts);
	}
	vmcb->control.clean &= ~VMCB_CLEAN_INTERCEPTS;
	return true;
}

static bool svm_cr3_exiting(struct kvm_vcpu *vcpu, bool on)
{
	return svm_intercept_exiting(vcpu, INTERCEPT_CR3_WRITE, on, -1);
}

/*
 * Reads of CR0, CR3, CR4.  KVM intercepts CR4 reads always and CR3 reads
 * without NPT; CR0 reads it intercepts together with CR0 writes, while
 * the guest's CR0 differs from what the CPU runs with, and it switches
 * both on CR0 writes: vmiop leaves the read intercept on while KVM's
 * write intercept says KVM needs it.
 */
static bool svm_cr_read_exiting(struct kvm_vcpu *vcpu, u32 cr, bool on)
{
	return svm_intercept_exiting(vcpu, INTERCEPT_CR0_READ + cr, on,
				     cr == 0 ? INTERCEPT_CR0_WRITE : -1);
}

/*
 * A CR read exited; KVM's handler completes it after vmiop reports it.
 * Decode assists name the destination register; without them, vmiop
 * decodes the instruction if a reply needs it.
 */
bool vmiop_svm_handle_cr_read(struct kvm_vcpu *vcpu, u64 exit_code, int *ret)
{
	u32 cr = exit_code - SVM_EXIT_READ_CR0;
	struct vmcb *vmcb;
	int gpr = -1;

	/* Every SVM exit comes here: the exit code first, it is cheap. */
	if (exit_code > SVM_EXIT_READ_CR4 || !(BIT(cr) & vmiop_svm_ops.cr_reads))
		return false;
	vmcb = svm_current_vmcb(vcpu);
	if (!vmcb)
		return false;
	if (vmcb->control.exit_info_1 & SVM_CR_EXITINFO_VALID)
		gpr = vmcb->control.exit_info_1 & SVM_EXITINFO_REG_MASK;
	return vmiop_on_cr_read(vcpu, cr, gpr, ret);
}

/* The eight descriptor-table intercepts, STORE_IDTR to LOAD_TR. */
#define SVM_DESC_INTERCEPTS	8
static_assert(INTERCEPT_LOAD_TR - INTERCEPT_STORE_IDTR + 1 == SVM_DESC_INTERCEPTS);
static_assert(SVM_EXIT_TR_WRITE - SVM_EXIT_IDTR_READ + 1 == SVM_DESC_INTERCEPTS);

static bool svm_desc_exiting(struct kvm_vcpu *vcpu, bool on)
{
	struct vmcb *vmcb = svm_current_vmcb(vcpu);
	unsigned long *intercepts;
	int i;

	if (!vmcb) {
		pr_warn_once("no VMCB where expected: descriptor-table events unavailable\n");
		return false;
	}
	intercepts = (unsigned long *)vmcb->control.intercepts;
	if (on && (vmiop_svm_protected(vcpu) || test_bit(INTERCEPT_STORE_IDTR, intercepts)))
		return false;
	for (i = 0; i < SVM_DESC_INTERCEPTS; i++) {
		if (on)
			__set_bit(INTERCEPT_STORE_IDTR + i, intercepts);
		else
			__clear_bit(INTERCEPT_STORE_IDTR + i, intercepts);
	}
	vmcb->control.clean &= ~VMCB_CLEAN_INTERCEPTS;
	return true;
}

static bool svm_desc_available(void)
{
	return true;
}

/*
 * KVM has no handler for these exit codes (it would report an internal
 * error): exits vmiop caused.  True if @exit_code was one.
 */
bool vmiop_svm_handle_desc(struct kvm_vcpu *vcpu, u64 exit_code, int *ret)
{
	static const u8 reg[4] = {
		VMIOP_DESC_IDTR, VMIOP_DESC_GDTR, VMIOP_DESC_LDTR, VMIOP_DESC_TR,
	};
	u64 i = exit_code - SVM_EXIT_IDTR_READ;

	if (exit_code < SVM_EXIT_IDTR_READ || i >= SVM_DESC_INTERCEPTS)
		return false;
	/* reads (stores to memory) first, then writes, each IDTR GDTR LDTR TR */
	*ret = vmiop_on_desc(vcpu, reg[i & 3], i >= 4);
	return true;
}

/* Whether vmiop handles exit @exit_code itself: the two functions above. */
bool notrace vmiop_svm_exit_is_ours(u64 exit_code)
{
	if (exit_code <= SVM_EXIT_READ_CR4)
		return BIT(exit_code - SVM_EXIT_READ_CR0) & vmiop_svm_ops.cr_reads;
	return exit_code - SVM_EXIT_IDTR_READ < SVM_DESC_INTERCEPTS;
}

static int svm_init(void)
{
	return 0;
}

static bool svm_msrpm_bit(const u8 *msrpm, u32 msr, bool write)
{
	u32 byte, bit;

	/* Outside the map every access exits. */
	return !msrmap_svm_bit(msr, write, &byte, &bit) || (msrpm[byte] & BIT(bit));
}

/* The VMCB's MSR permission map, if it is one: NULL otherwise. */
static u8 *svm_msrpm(struct vmcb *vmcb)
{
	u64 pa = vmcb ? __sme_clr(vmcb->control.msrpm_base_pa) : 0;

	return pa && PAGE_ALIGNED(pa) && pfn_valid(PHYS_PFN(pa)) ? __va(pa) : NULL;
}

static u32 svm_msr_intercepted(struct kvm_vcpu *vcpu, u32 msr)
{
	const u8 *msrpm = svm_msrpm(svm_current_vmcb(vcpu));

	if (!msrpm)
		return VMIOP_MSR_R | VMIOP_MSR_W;	/* nothing vmiop can tell */
	return (svm_msrpm_bit(msrpm, msr, false) ? VMIOP_MSR_R : 0) |
	       (svm_msrpm_bit(msrpm, msr, true) ? VMIOP_MSR_W : 0);
}

static u32 svm_msr_exiting(struct kvm_vcpu *vcpu, u32 msr, u32 rw, bool on)
{
	struct vmcb *vmcb = svm_current_vmcb(vcpu);
	bool read_icpt, write_icpt;
	u32 changed = 0;
	u8 *msrpm;

	/* SEV-ES: the guest's own state, and KVM's choices for it, stay. */
	msrpm = svm_msrpm(vmcb);
	if (!msrpm || (on && vmiop_svm_protected(vcpu)))
		return 0;
	read_icpt = svm_msrpm_bit(msrpm, msr, false);
	write_icpt = svm_msrpm_bit(msrpm, msr, true);
	if (rw & VMIOP_MSR_R && read_icpt != on) {
		read_icpt = on;
		changed |= VMIOP_MSR_R;
	}
	if (rw & VMIOP_MSR_W && write_icpt != on) {
		write_icpt = on;
		changed |= VMIOP_MSR_W;
	}
	if (changed)
		vmiop_ksym.svm_set_msr_interception(vcpu, (u32 *)msrpm, msr, !read_icpt,
						 !write_icpt);
	return changed;
}

const struct vmiop_vendor_ops vmiop_svm_ops = {
	.name = "svm",
	.vendor = VMIOP_VENDOR_AMD,
	.module = "kvm_amd",
	.exit_handler = "kvm_amd:svm_handle_exit",
	.bp_insn_len = svm_bp_insn_len,
	.clear_pending_step = svm_clear_pending_step,
	.skip_icebp = svm_skip_icebp,
	.cr3_exiting = svm_cr3_exiting,
	.cr_reads = BIT(0) | BIT(3) | BIT(4),
	.cr_read_exiting = svm_cr_read_exiting,
	.desc_exiting = svm_desc_exiting,
	.desc_available = svm_desc_available,
	.msr_intercepted = svm_msr_intercepted,
	.msr_exiting = svm_msr_exiting,
	/* VMRUN fails on an exception with vector 20 (APM 15.20), an INTR does not. */
	.ve_delivery = VMIOP_VE_DELIVERY_INTERRUPT,
	.init = svm_init,
};
