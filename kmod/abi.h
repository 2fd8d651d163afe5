/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Checks of the uapi structs that need no kernel state, and the segment
 * attribute encoding: shared by the module and the host unit tests, so that
 * what the uapi header promises is tested without a VM.
 */
#ifndef VMIOP_ABI_H
#define VMIOP_ABI_H

#ifndef __KERNEL__
#include <stdbool.h>
#endif
#include <linux/kvm.h>
#include <linux/vmiop.h>

/* Bits of struct vmiop_segment.attr that mean something. */
#define VMIOP_SEG_ATTR_MASK 0x1f0ffULL

int abi_check_attach(const struct vmiop_attach *a);
int abi_check_mem_batch(const struct vmiop_mem_batch *b, bool write);
int abi_check_mem_op(const struct vmiop_mem_op *op);
int abi_check_regs(const struct vmiop_regs *r);
int abi_check_reg_list(const struct vmiop_reg_list *l);
int abi_check_reg(const struct vmiop_reg *reg);
int abi_check_translate(const struct vmiop_translate *t);
int abi_check_event_caps(const struct vmiop_event_caps *c);
int abi_check_mem_access(const struct vmiop_mem_access *m);
int abi_check_mem_access_range(const struct vmiop_mem_access_range *r, __u32 host_rights);
int abi_check_mem_access_query(const struct vmiop_mem_access_query *q);
int abi_check_ve_agent(const struct vmiop_ve_agent *a);
int abi_check_ve_info(const struct vmiop_ve_info *v);
int abi_ring_setup(struct vmiop_ring_setup *r);
int abi_check_event_control(const struct vmiop_event_control *c);
int abi_check_filter(const struct vmiop_filter_range *f, __u32 nr);
/* abi_check_event_reply(): bit N takes enum vmiop_action N; this bit: EAX..EDX */
#define ABI_TAKES_RESULT_REGS	(1u << 31)
int abi_check_event_reply(const struct vmiop_event_reply *r, __u32 takes);
int abi_check_ring_reply(const struct vmiop_ring_reply *rr, __u32 takes);
int abi_check_event_wait(const struct vmiop_event_wait *w);
bool abi_filter_match(const struct vmiop_filter_range *f, __u32 nr, __u64 key);

/*
 * Ring layout: each index and the status on its own cache line, the
 * events from the next (4K) page, the replies from the page after them.
 */
#define ABI_RING_HEAD_OFFSET		0u
#define ABI_RING_TAIL_OFFSET		64u
#define ABI_RING_REPLY_HEAD_OFFSET	128u
#define ABI_RING_REPLY_TAIL_OFFSET	192u
#define ABI_RING_STATUS_OFFSET		256u
#define ABI_RING_PAGE			4096u
#define ABI_RING_ENTRIES_OFFSET		ABI_RING_PAGE

/* Free-running indices: events ready between tail and head. */
static inline __u32 abi_ring_ready(__u32 head, __u32 tail)
{
	return head - tail;
}

/* Space for one more event; a consumer's tail beyond head counts as full. */
static inline bool abi_ring_has_space(__u32 head, __u32 tail, __u32 nr_entries)
{
	return abi_ring_ready(head, tail) < nr_entries;
}

/*
 * A consumer's reply_head more than a ring ahead of the module's tail, or
 * behind it: garbage, or a producer that did not continue from reply_head.
 * Taking "a ring's worth" of it would take stale entries and move the tail
 * past the head; the module takes nothing instead.
 */
static inline bool abi_reply_head_bad(__u32 reply_head, __u32 reply_tail, __u32 nr_entries)
{
	return reply_head - reply_tail > nr_entries;
}

/* Replies the module takes from the ring at once: all there are, if the head is sound. */
static inline __u32 abi_replies_to_take(__u32 reply_head, __u32 reply_tail, __u32 nr_entries)
{
	return abi_reply_head_bad(reply_head, reply_tail, nr_entries) ? 0 : reply_head - reply_tail;
}

/* Where reply @index lives in the reply ring. */
static inline __u32 abi_ring_slot(__u32 index, __u32 nr_entries)
{
	return index & (nr_entries - 1);
}

void abi_seg_to_uapi(struct vmiop_segment *u, const struct kvm_segment *s);
void abi_seg_from_uapi(struct kvm_segment *s, const struct vmiop_segment *u);

#endif
