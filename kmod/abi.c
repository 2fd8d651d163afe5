// SPDX-License-Identifier: GPL-2.0 OR MIT
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/kernel.h>
#else
#include <errno.h>
#include <stddef.h>
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#include "abi.h"

/* The ABI: a size change is a break, caught here in the module and tests. */
_Static_assert(sizeof(struct vmiop_api) == 32, "vmiop_api");
_Static_assert(sizeof(struct vmiop_attach) == 24, "vmiop_attach");
_Static_assert(sizeof(struct vmiop_vm_info) == 32, "vmiop_vm_info");
_Static_assert(sizeof(struct vmiop_memmap) == 24, "vmiop_memmap");
_Static_assert(sizeof(struct vmiop_memmap_entry) == 24, "vmiop_memmap_entry");
_Static_assert(sizeof(struct vmiop_pause) == 16, "vmiop_pause");
_Static_assert(sizeof(struct vmiop_regs) == 90 * 8, "vmiop_regs");
_Static_assert(sizeof(struct vmiop_vcpu_regs) == 16 + 90 * 8, "vmiop_vcpu_regs");
_Static_assert(sizeof(struct vmiop_reg) == 16, "vmiop_reg");
_Static_assert(sizeof(struct vmiop_reg_list) == 24, "vmiop_reg_list");
_Static_assert(sizeof(struct vmiop_mem_op) == 24, "vmiop_mem_op");
_Static_assert(sizeof(struct vmiop_mem_batch) == 24, "vmiop_mem_batch");
_Static_assert(sizeof(struct vmiop_translate) == 112, "vmiop_translate");

int abi_check_attach(const struct vmiop_attach *a)
{
	if (a->flags & ~VMIOP_ATTACH_F_PID || a->reserved)
		return -EINVAL;
	if (!(a->flags & VMIOP_ATTACH_F_PID) && a->pid)
		return -EINVAL;
	if (a->vm_fd < 0)
		return -EBADF;
	return 0;
}

int abi_check_mem_batch(const struct vmiop_mem_batch *b)
{
	if (b->flags || b->done || !b->count || b->count > VMIOP_MEM_BATCH_MAX)
		return -EINVAL;
	return 0;
}

int abi_check_mem_op(const struct vmiop_mem_op *op)
{
	if (op->reserved || !op->len || op->len > VMIOP_MEM_OP_MAX ||
	    op->gpa + op->len < op->gpa)
		return -EINVAL;
	return 0;
}

int abi_check_regs(const struct vmiop_regs *r)
{
	const struct vmiop_segment *seg = &r->es;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(r->reserved); i++)
		if (r->reserved[i])
			return -EINVAL;
	/* es, cs, ss, ds, fs, gs, ldtr, tr are consecutive */
	for (i = 0; i < 8; i++) {
		if (seg[i].selector > 0xffff || seg[i].limit > 0xffffffffULL ||
		    seg[i].attr & ~VMIOP_SEG_ATTR_MASK)
			return -EINVAL;
	}
	if (r->idtr_limit > 0xffff || r->gdtr_limit > 0xffff)
		return -EINVAL;
	return 0;
}

int abi_check_reg_list(const struct vmiop_reg_list *l)
{
	if (l->flags || !l->count || l->count > VMIOP_REG_LIST_MAX)
		return -EINVAL;
	return 0;
}

int abi_check_reg(const struct vmiop_reg *reg)
{
	if (reg->id >= VMIOP_NR_REGS || reg->reserved)
		return -EINVAL;
	return 0;
}

#define TRANSLATE_FLAGS \
	(VMIOP_TRANSLATE_F_EXPLICIT | VMIOP_TRANSLATE_F_NXE | VMIOP_TRANSLATE_F_PSE)

int abi_check_translate(const struct vmiop_translate *t)
{
	if (t->flags & ~TRANSLATE_FLAGS || t->reserved)
		return -EINVAL;
	if (!(t->flags & VMIOP_TRANSLATE_F_EXPLICIT))
		return t->flags || t->mode || t->cr3 ? -EINVAL : 0;
	if (t->mode < VMIOP_PAGING_NONE || t->mode > VMIOP_PAGING_5LEVEL)
		return -EINVAL;
	return 0;
}

void abi_seg_to_uapi(struct vmiop_segment *u, const struct kvm_segment *s)
{
	u->selector = s->selector;
	u->attr = s->type | s->s << 4 | s->dpl << 5 | s->present << 7 |
		  s->avl << 12 | s->l << 13 | s->db << 14 | s->g << 15 |
		  (__u64)s->unusable << 16;
	u->limit = s->limit;
	u->base = s->base;
}

void abi_seg_from_uapi(struct kvm_segment *s, const struct vmiop_segment *u)
{
	s->selector = (__u16)u->selector;
	s->base = u->base;
	s->limit = (__u32)u->limit;
	s->type = u->attr & 0xf;
	s->s = u->attr >> 4 & 1;
	s->dpl = u->attr >> 5 & 3;
	s->present = u->attr >> 7 & 1;
	s->avl = u->attr >> 12 & 1;
	s->l = u->attr >> 13 & 1;
	s->db = u->attr >> 14 & 1;
	s->g = u->attr >> 15 & 1;
	s->unusable = u->attr >> 16 & 1;
}
