/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Checks of the uapi structs that need no kernel state, and the segment
 * attribute encoding: shared by the module and the host unit tests, so that
 * what the uapi header promises is tested without a VM.
 */
#ifndef VMIOP_ABI_H
#define VMIOP_ABI_H

#include <linux/kvm.h>
#include <linux/vmiop.h>

/* Bits of struct vmiop_segment.attr that mean something. */
#define VMIOP_SEG_ATTR_MASK 0x1f0ffULL

int abi_check_attach(const struct vmiop_attach *a);
int abi_check_mem_batch(const struct vmiop_mem_batch *b);
int abi_check_mem_op(const struct vmiop_mem_op *op);
int abi_check_regs(const struct vmiop_regs *r);
int abi_check_reg_list(const struct vmiop_reg_list *l);
int abi_check_reg(const struct vmiop_reg *reg);
int abi_check_translate(const struct vmiop_translate *t);

void abi_seg_to_uapi(struct vmiop_segment *u, const struct kvm_segment *s);
void abi_seg_from_uapi(struct kvm_segment *s, const struct vmiop_segment *u);

#endif
