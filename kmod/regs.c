// SPDX-License-Identifier: GPL-2.0
/*
 * The vCPU register file, through the same KVM functions as KVM_GET/SET_REGS,
 * _SREGS, _DEBUGREGS, _XCRS and _MSRS, so KVM's caches, MMU and intercepts
 * stay coherent.  Runs where the vCPU is loaded (vcpu.c).
 */
#include <asm/msr-index.h>
#include "abi.h"
#include "vmiop.h"
#include <asm/fpu/xcr.h>

/* The register slots that are MSRs, read and written as KVM_GET/SET_MSRS do. */
static const struct {
	u32 index;
	u32 slot;
} vmiop_msrs[] = {
	{ MSR_STAR, VMIOP_REG_STAR }, { MSR_LSTAR, VMIOP_REG_LSTAR },
	{ MSR_CSTAR, VMIOP_REG_CSTAR }, { MSR_SYSCALL_MASK, VMIOP_REG_SFMASK },
	{ MSR_KERNEL_GS_BASE, VMIOP_REG_KERNEL_GS_BASE },
	{ MSR_IA32_SYSENTER_CS, VMIOP_REG_SYSENTER_CS },
	{ MSR_IA32_SYSENTER_ESP, VMIOP_REG_SYSENTER_ESP },
	{ MSR_IA32_SYSENTER_EIP, VMIOP_REG_SYSENTER_EIP },
	{ MSR_IA32_CR_PAT, VMIOP_REG_PAT }, { MSR_TSC_AUX, VMIOP_REG_TSC_AUX },
};

static_assert(VMIOP_REG_ID(star) == VMIOP_REG_STAR);
static_assert(VMIOP_REG_ID(pat) == VMIOP_REG_PAT);
static_assert(VMIOP_REG_ID(apic_base) == VMIOP_REG_APIC_BASE);
static_assert(VMIOP_REG_ID(tsc_aux) == VMIOP_REG_TSC_AUX);
static_assert(VMIOP_REG_ID(tr.base) == VMIOP_REG_TR_BASE);
static_assert(VMIOP_REG_ID(reserved) == VMIOP_NR_REGS);
static_assert(sizeof(struct vmiop_regs) == 90 * sizeof(__u64));

static const int vmiop_drs[] = { 0, 1, 2, 3, 6, 7 };

static void vmiop_regs_from_kvm(struct vmiop_regs *r, const struct kvm_regs *kr,
				const struct kvm_sregs *ks)
{
	r->rax = kr->rax; r->rcx = kr->rcx; r->rdx = kr->rdx; r->rbx = kr->rbx;
	r->rsp = kr->rsp; r->rbp = kr->rbp; r->rsi = kr->rsi; r->rdi = kr->rdi;
	r->r8 = kr->r8; r->r9 = kr->r9; r->r10 = kr->r10; r->r11 = kr->r11;
	r->r12 = kr->r12; r->r13 = kr->r13; r->r14 = kr->r14; r->r15 = kr->r15;
	r->rip = kr->rip;
	r->rflags = kr->rflags;

	r->cr0 = ks->cr0; r->cr2 = ks->cr2; r->cr3 = ks->cr3; r->cr4 = ks->cr4;
	r->cr8 = ks->cr8; r->efer = ks->efer; r->apic_base = ks->apic_base;
	abi_seg_to_uapi(&r->es, &ks->es);
	abi_seg_to_uapi(&r->cs, &ks->cs);
	abi_seg_to_uapi(&r->ss, &ks->ss);
	abi_seg_to_uapi(&r->ds, &ks->ds);
	abi_seg_to_uapi(&r->fs, &ks->fs);
	abi_seg_to_uapi(&r->gs, &ks->gs);
	abi_seg_to_uapi(&r->ldtr, &ks->ldt);
	abi_seg_to_uapi(&r->tr, &ks->tr);
	r->idtr_base = ks->idt.base;
	r->idtr_limit = ks->idt.limit;
	r->gdtr_base = ks->gdt.base;
	r->gdtr_limit = ks->gdt.limit;
}

static void vmiop_regs_to_kvm(const struct vmiop_regs *r, struct kvm_regs *kr,
			      struct kvm_sregs *ks)
{
	kr->rax = r->rax; kr->rcx = r->rcx; kr->rdx = r->rdx; kr->rbx = r->rbx;
	kr->rsp = r->rsp; kr->rbp = r->rbp; kr->rsi = r->rsi; kr->rdi = r->rdi;
	kr->r8 = r->r8; kr->r9 = r->r9; kr->r10 = r->r10; kr->r11 = r->r11;
	kr->r12 = r->r12; kr->r13 = r->r13; kr->r14 = r->r14; kr->r15 = r->r15;
	kr->rip = r->rip;
	kr->rflags = r->rflags;

	ks->cr0 = r->cr0; ks->cr2 = r->cr2; ks->cr3 = r->cr3; ks->cr4 = r->cr4;
	ks->cr8 = r->cr8; ks->efer = r->efer; ks->apic_base = r->apic_base;
	abi_seg_from_uapi(&ks->es, &r->es);
	abi_seg_from_uapi(&ks->cs, &r->cs);
	abi_seg_from_uapi(&ks->ss, &r->ss);
	abi_seg_from_uapi(&ks->ds, &r->ds);
	abi_seg_from_uapi(&ks->fs, &r->fs);
	abi_seg_from_uapi(&ks->gs, &r->gs);
	abi_seg_from_uapi(&ks->ldt, &r->ldtr);
	abi_seg_from_uapi(&ks->tr, &r->tr);
	ks->idt.base = r->idtr_base;
	ks->idt.limit = r->idtr_limit;
	ks->gdt.base = r->gdtr_base;
	ks->gdt.limit = r->gdtr_limit;
}

static u64 *vmiop_dr_slot(struct vmiop_regs *r, int i)
{
	return &r->dr0 + (i < 4 ? i : i - 2);
}

static u64 *vmiop_msr_slot(struct vmiop_regs *r, int i)
{
	return (u64 *)r + vmiop_msrs[i].slot;
}

int vmiop_regs_get(struct kvm_vcpu *vcpu, struct vmiop_regs *r)
{
	struct kvm_sregs ks;
	struct kvm_regs kr;
	unsigned long dr;
	int i;

	memset(r, 0, sizeof(*r));
	vmiop_ksym.get_regs(vcpu, &kr);
	vmiop_ksym.get_sregs(vcpu, &ks);
	vmiop_regs_from_kvm(r, &kr, &ks);
	r->xcr0 = vcpu->arch.xcr0;
	for (i = 0; i < ARRAY_SIZE(vmiop_drs); i++) {
		kvm_get_dr(vcpu, vmiop_drs[i], &dr);
		*vmiop_dr_slot(r, vmiop_drs[i]) = dr;
	}
	for (i = 0; i < ARRAY_SIZE(vmiop_msrs); i++) {
		/* An MSR this vCPU's CPUID lacks reads as 0. */
		if (vmiop_ksym.get_msr(vcpu, vmiop_msrs[i].index, vmiop_msr_slot(r, i), true))
			*vmiop_msr_slot(r, i) = 0;
	}
	return 0;
}

static bool vmiop_sregs_differ(const struct vmiop_regs *a, const struct vmiop_regs *b)
{
	return a->cr0 != b->cr0 || a->cr2 != b->cr2 || a->cr3 != b->cr3 ||
	       a->cr4 != b->cr4 || a->cr8 != b->cr8 || a->efer != b->efer ||
	       a->apic_base != b->apic_base ||
	       memcmp(&a->es, &b->es, (char *)&a->gdtr_limit + sizeof(a->gdtr_limit) -
				      (char *)&a->es);
}

/*
 * Writes the registers of @want that differ from @cur.  On failure some
 * may have been written; the caller restores @cur.
 */
static int vmiop_regs_apply(struct kvm_vcpu *vcpu, const struct vmiop_regs *cur,
			    const struct vmiop_regs *want)
{
	struct kvm_sregs ks;
	struct kvm_regs kr;
	int i, ret;

	/* KVM_SET_SREGS takes any EFER from the host; vmiop does not. */
	if (cur->efer != want->efer && !kvm_valid_efer(vcpu, want->efer))
		return -EINVAL;
	if (vmiop_sregs_differ(cur, want)) {
		/* Keeps the pending-interrupt bitmap and anything not in uapi. */
		vmiop_ksym.get_sregs(vcpu, &ks);
		vmiop_regs_to_kvm(want, &kr, &ks);
		ret = vmiop_ksym.set_sregs(vcpu, &ks);
		if (ret)
			return -EINVAL;
	}
	if (cur->xcr0 != want->xcr0 && vmiop_ksym.set_xcr(vcpu, XCR_XFEATURE_ENABLED_MASK,
							    want->xcr0))
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(vmiop_drs); i++) {
		u64 v = *vmiop_dr_slot((struct vmiop_regs *)want, vmiop_drs[i]);

		if (v != *vmiop_dr_slot((struct vmiop_regs *)cur, vmiop_drs[i]) &&
		    kvm_set_dr(vcpu, vmiop_drs[i], v))
			return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(vmiop_msrs); i++) {
		u64 v = *vmiop_msr_slot((struct vmiop_regs *)want, i);

		if (v != *vmiop_msr_slot((struct vmiop_regs *)cur, i) &&
		    vmiop_ksym.set_msr(vcpu, vmiop_msrs[i].index, v, true))
			return -EINVAL;
	}
	/* Last: KVM_SET_REGS semantics drop a pending exception. */
	if (memcmp(cur, want, offsetofend(struct vmiop_regs, rflags))) {
		vmiop_ksym.get_regs(vcpu, &kr);
		vmiop_regs_to_kvm(want, &kr, &ks);
		vmiop_ksym.set_regs(vcpu, &kr);
	}
	return 0;
}

int vmiop_regs_set(struct kvm_vcpu *vcpu, struct vmiop_regs_write *w)
{
	int ret;

	vmiop_regs_get(vcpu, &w->cur);
	ret = vmiop_regs_apply(vcpu, &w->cur, w->want);
	if (ret) {
		/* Undo what was written; the old values were KVM's own. */
		vmiop_regs_get(vcpu, &w->now);
		vmiop_regs_apply(vcpu, &w->now, &w->cur);
	}
	return ret;
}
