// SPDX-License-Identifier: GPL-2.0
/* Intel VMX (EPT) back end. */
#include "vmiop.h"

#define VMCS_GUEST_PENDING_DBG_EXCEPTIONS 0x6822

/* VMX reports it: KVM copies VM_EXIT_INSTRUCTION_LEN for #BP exits. */
static u32 vmx_bp_insn_len(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.event_exit_inst_len;
}

/*
 * The SDM clears the pending debug exceptions on a VM exit caused by an
 * instruction, so when KVM completes that instruction and reports the
 * step itself, no second step is pending.  Bochs 2.7 stores the step it
 * had already scheduled for the exiting instruction there instead, and the
 * next VM entry delivers it before the next instruction runs: one step,
 * two events.  On the vCPU's thread, its VMCS current.
 */
static void vmx_clear_pending_step(struct kvm_vcpu *vcpu)
{
	unsigned long field = VMCS_GUEST_PENDING_DBG_EXCEPTIONS, pending;

	asm volatile("vmread %[field], %[pending]"
		     : [pending] "=r"(pending) : [field] "r"(field) : "cc");
	if (pending & DR6_BS)
		asm volatile("vmwrite %[value], %[field]"
			     : : [value] "r"(pending & ~DR6_BS), [field] "r"(field) : "cc");
}

const struct vmiop_vendor_ops vmiop_vmx_ops = {
	.name = "vmx",
	.vendor = VMIOP_VENDOR_INTEL,
	.module = "kvm_intel",
	.exit_handler = "kvm_intel:vmx_handle_exit",
	.bp_insn_len = vmx_bp_insn_len,
	.clear_pending_step = vmx_clear_pending_step,
};
