// SPDX-License-Identifier: GPL-2.0
/* AMD SVM (NPT) back end. */
#include "vmiop.h"

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

const struct vmiop_vendor_ops vmiop_svm_ops = {
	.name = "svm",
	.vendor = VMIOP_VENDOR_AMD,
	.module = "kvm_amd",
	.exit_handler = "kvm_amd:svm_handle_exit",
	.bp_insn_len = svm_bp_insn_len,
	.clear_pending_step = svm_clear_pending_step,
};
