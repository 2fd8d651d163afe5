// SPDX-License-Identifier: GPL-2.0
/* Intel VMX (EPT) back end. */
#include "vmiop.h"

const struct vmiop_vendor_ops vmiop_vmx_ops = {
	.name = "vmx",
	.vendor = VMIOP_VENDOR_INTEL,
	.module = "kvm_intel",
	.exit_handler = "kvm_intel:vmx_handle_exit",
};
