// SPDX-License-Identifier: GPL-2.0
/* AMD SVM (NPT) back end. */
#include "vmiop.h"

const struct vmiop_vendor_ops vmiop_svm_ops = {
	.name = "svm",
	.vendor = VMIOP_VENDOR_AMD,
	.module = "kvm_amd",
	.exit_handler = "kvm_amd:svm_handle_exit",
};
