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
_Static_assert(sizeof(struct vmiop_vm_info) == 40, "vmiop_vm_info");
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
_Static_assert(sizeof(struct vmiop_event_caps) == 160, "vmiop_event_caps");
_Static_assert(sizeof(struct vmiop_mem_access_range) == 24, "vmiop_mem_access_range");
_Static_assert(sizeof(struct vmiop_mem_access) == 24, "vmiop_mem_access");
_Static_assert(sizeof(struct vmiop_mem_access_query) == 32, "vmiop_mem_access_query");
_Static_assert(sizeof(struct vmiop_event_mem) == 48, "vmiop_event_mem");
_Static_assert(sizeof(struct vmiop_event_agent) == 32, "vmiop_event_agent");
_Static_assert(sizeof(struct vmiop_ve_agent) == 32, "vmiop_ve_agent");
_Static_assert(sizeof(struct vmiop_ve_info) == 24, "vmiop_ve_info");
_Static_assert(sizeof(struct vmiop_ring_setup) == 64, "vmiop_ring_setup");
_Static_assert(sizeof(struct vmiop_ring_reply) == 128, "vmiop_ring_reply");
_Static_assert(sizeof(struct vmiop_ring_status) == 32, "vmiop_ring_status");
_Static_assert(sizeof(struct vmiop_filter_range) == 16, "vmiop_filter_range");
_Static_assert(sizeof(struct vmiop_event_control) == 32, "vmiop_event_control");
_Static_assert(sizeof(struct vmiop_event) == 1024, "vmiop_event");
_Static_assert(offsetof(struct vmiop_event, regs) == 80, "vmiop_event.regs");
_Static_assert(sizeof(struct vmiop_event_reply) == 48, "vmiop_event_reply");
_Static_assert(sizeof(struct vmiop_event_wait) == 24, "vmiop_event_wait");
_Static_assert(VMIOP_EVENT_NR_TYPES <= 32, "caps.reason[] has 32 slots");
_Static_assert(ABI_RING_ENTRIES_OFFSET % sizeof(struct vmiop_event) == 0,
	       "entries stay within pages");

int abi_check_attach(const struct vmiop_attach *a)
{
	if (a->flags & ~(VMIOP_ATTACH_F_PID | VMIOP_ATTACH_F_VM_ID))
		return -EINVAL;
	if (!(a->flags & VMIOP_ATTACH_F_PID) && a->pid)
		return -EINVAL;
	if (a->flags & VMIOP_ATTACH_F_VM_ID)
		return a->flags & VMIOP_ATTACH_F_PID || a->vm_fd || !a->vm_id ? -EINVAL : 0;
	if (a->vm_id)
		return -EINVAL;
	if (a->vm_fd < 0)
		return -EBADF;
	return 0;
}

int abi_check_mem_batch(const struct vmiop_mem_batch *b, bool write)
{
	if (b->flags & ~(write ? VMIOP_MEM_F_UNDO : 0) || b->done || !b->count || b->count > VMIOP_MEM_BATCH_MAX)
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

int abi_check_event_caps(const struct vmiop_event_caps *c)
{
	return c->flags || c->ve_delivery ? -EINVAL : 0;
}

int abi_check_mem_access(const struct vmiop_mem_access *m)
{
	if (m->flags || m->reserved || !m->nr_ranges ||
	    m->nr_ranges > VMIOP_MEM_ACCESS_MAX_RANGES || !m->ranges)
		return -EINVAL;
	return 0;
}

/* True when [@gfn, @gfn + @nr) is a run of gfns a 52-bit gpa can name. */
static bool abi_gfn_run_ok(__u64 gfn, __u64 nr)
{
	return nr && gfn < VMIOP_MEM_ACCESS_MAX_PAGES &&
	       nr <= VMIOP_MEM_ACCESS_MAX_PAGES - gfn;
}

/* @host_rights: bit N set when this host expresses rights N. */
int abi_check_mem_access_range(const struct vmiop_mem_access_range *r, __u32 host_rights)
{
	__u32 rights = r->access & VMIOP_ACCESS_RWX;

	if (r->reserved || r->access & ~(VMIOP_ACCESS_RWX | VMIOP_ACCESS_VE) ||
	    !abi_gfn_run_ok(r->gfn, r->nr_pages))
		return -EINVAL;
	if ((rights & VMIOP_ACCESS_W) && !(rights & VMIOP_ACCESS_R))
		return -EINVAL;
	/* Nothing to convert on a page without restriction. */
	if ((r->access & VMIOP_ACCESS_VE) && rights == VMIOP_ACCESS_RWX)
		return -EINVAL;
	return host_rights & (1u << rights) ? 0 : -EOPNOTSUPP;
}

int abi_check_ve_agent(const struct vmiop_ve_agent *a)
{
	if (a->flags || a->reserved || a->code_len > VMIOP_VE_AGENT_MAX_LEN ||
	    a->code_gpa >= (1ULL << 52) || a->code_len > (1ULL << 52) - a->code_gpa)
		return -EINVAL;
	return 0;
}

int abi_check_ve_info(const struct vmiop_ve_info *v)
{
	if (v->flags || v->reserved)
		return -EINVAL;
	if (v->gpa != VMIOP_VE_INFO_NONE && (v->gpa & 0xfff || v->gpa >= (1ULL << 52)))
		return -EINVAL;
	return 0;
}

int abi_check_mem_access_query(const struct vmiop_mem_access_query *q)
{
	if (q->flags || q->reserved || q->nr_pages > VMIOP_MEM_ACCESS_QUERY_MAX ||
	    !abi_gfn_run_ok(q->gfn, q->nr_pages) || !q->access)
		return -EINVAL;
	return 0;
}

/* Checks a ring request and fills in the geometry. */
int abi_ring_setup(struct vmiop_ring_setup *r)
{
	__u32 n = r->nr_entries;
	__u64 events_end;

	if (r->flags || r->reserved || r->entry_size || r->head_offset ||
	    r->tail_offset || r->entries_offset || r->mmap_size ||
	    r->reply_head_offset || r->reply_tail_offset || r->replies_offset ||
	    r->reply_size || r->status_offset || r->status_size)
		return -EINVAL;
	if (!n)
		n = VMIOP_RING_DEFAULT_ENTRIES;
	if (n > VMIOP_RING_MAX_ENTRIES || (n & (n - 1)))
		return -EINVAL;
	r->nr_entries = n;
	r->entry_size = sizeof(struct vmiop_event);
	r->head_offset = ABI_RING_HEAD_OFFSET;
	r->tail_offset = ABI_RING_TAIL_OFFSET;
	r->entries_offset = ABI_RING_ENTRIES_OFFSET;
	r->reply_head_offset = ABI_RING_REPLY_HEAD_OFFSET;
	r->reply_tail_offset = ABI_RING_REPLY_TAIL_OFFSET;
	r->status_offset = ABI_RING_STATUS_OFFSET;
	r->reply_size = sizeof(struct vmiop_ring_reply);
	r->status_size = sizeof(struct vmiop_ring_status);
	/* Whole pages: mmap(2) maps whole pages. */
	events_end = ABI_RING_ENTRIES_OFFSET + (__u64)n * sizeof(struct vmiop_event);
	r->replies_offset = (events_end + ABI_RING_PAGE - 1) & ~(__u64)(ABI_RING_PAGE - 1);
	r->mmap_size = (r->replies_offset + (__u64)n * sizeof(struct vmiop_ring_reply) +
			ABI_RING_PAGE - 1) & ~(__u64)(ABI_RING_PAGE - 1);
	return 0;
}

int abi_check_event_control(const struct vmiop_event_control *c)
{
	if (c->flags & ~(VMIOP_EVENT_CTL_F_VCPU | VMIOP_EVENT_CTL_F_READS |
			 VMIOP_EVENT_CTL_F_CHANGES) || c->enable > 1)
		return -EINVAL;
	/* Per-type settings made when enabling, each for one type. */
	if (c->flags & VMIOP_EVENT_CTL_F_READS &&
	    ((c->type != VMIOP_EVENT_MSR && c->type != VMIOP_EVENT_CR) || !c->enable ||
	     c->flags & VMIOP_EVENT_CTL_F_VCPU))
		return -EINVAL;
	if (c->flags & VMIOP_EVENT_CTL_F_CHANGES &&
	    (c->type != VMIOP_EVENT_CR || !c->enable || c->flags & VMIOP_EVENT_CTL_F_VCPU))
		return -EINVAL;
	if (!(c->flags & VMIOP_EVENT_CTL_F_VCPU) && c->vcpu)
		return -EINVAL;
	if (!c->type || c->type >= VMIOP_EVENT_NR_TYPES)
		return -EINVAL;
	if (c->nr_filter > VMIOP_FILTER_MAX || (!c->nr_filter && c->filter))
		return -EINVAL;
	if (c->nr_filter && (!c->enable || c->flags & VMIOP_EVENT_CTL_F_VCPU))
		return -EINVAL;	/* filters are per type, set when enabling */
	return 0;
}

int abi_check_filter(const struct vmiop_filter_range *f, __u32 nr)
{
	__u32 i;

	for (i = 0; i < nr; i++)
		if (f[i].first > f[i].last)
			return -EINVAL;
	return 0;
}

bool abi_filter_match(const struct vmiop_filter_range *f, __u32 nr, __u64 key)
{
	__u32 i;

	if (!nr)
		return true;
	for (i = 0; i < nr; i++)
		if (key >= f[i].first && key <= f[i].last)
			return true;
	return false;
}

/*
 * Vectors VMIOP_ACTION_INJECT may deliver, and those that push an error
 * code.  Not #BP/#OF: software exceptions need an instruction length.
 */
#define ABI_INJECTABLE	0x003f7de3u	/* 0-21 but NMI, #BP, #OF, 9, 15 */
#define ABI_ERROR_CODE	0x00227d00u	/* 8, 10-14, 17, 21 */

static int abi_check_inject(const struct vmiop_inject *x)
{
	bool has_error = x->flags & VMIOP_INJECT_F_ERROR_CODE;

	if (x->vector >= 32 || !(ABI_INJECTABLE & (1u << x->vector)))
		return -EINVAL;
	if ((x->flags & ~VMIOP_INJECT_F_ERROR_CODE) || x->reserved)
		return -EINVAL;
	if (has_error != !!(ABI_ERROR_CODE & (1u << x->vector)))
		return -EINVAL;
	if (!has_error && x->error_code)
		return -EINVAL;
	if (x->vector != 14 && x->cr2)
		return -EINVAL;
	return 0;
}

/*
 * @takes: what the event's class takes, bit N for enum vmiop_action N, and
 * ABI_TAKES_RESULT_REGS when its SET_RESULT carries EAX..EDX (CPUID).
 */
static int abi_check_reply(const struct vmiop_event_reply *r, __u32 takes, bool inline_data)
{
	bool no_payload = !r->raw[0] && !r->raw[1];

	if ((r->flags & ~VMIOP_REPLY_FLAGS) || r->reserved)
		return -EINVAL;
	if (r->action >= 31 || !(takes & (1u << r->action)))
		return -EINVAL;
	switch (r->action) {
	case VMIOP_ACTION_CONTINUE:
	case VMIOP_ACTION_SKIP:
	case VMIOP_ACTION_RETRY:
		return no_payload ? 0 : -EINVAL;
	case VMIOP_ACTION_SET_RESULT:
		/* one value, or four 32-bit registers */
		return r->raw[1] && !(takes & ABI_TAKES_RESULT_REGS) ? -EINVAL : 0;
	case VMIOP_ACTION_INJECT:
		return abi_check_inject(&r->exception);
	case VMIOP_ACTION_EMULATE:
		if (r->emul_read.reserved || r->emul_read.len > VMIOP_EMUL_READ_MAX)
			return -EINVAL;
		/* In the ring the bytes are in the entry, not behind a pointer. */
		if (inline_data ? r->emul_read.data != 0 : !r->emul_read.len != !r->emul_read.data)
			return -EINVAL;
		return 0;
	}
	return -EINVAL;
}

int abi_check_event_reply(const struct vmiop_event_reply *r, __u32 takes)
{
	return abi_check_reply(r, takes, false);
}

/* An entry of the reply ring: copied out of the shared memory first. */
int abi_check_ring_reply(const struct vmiop_ring_reply *rr, __u32 takes)
{
	if (rr->reply.size != sizeof(rr->reply) || rr->reserved[0] || rr->reserved[1])
		return -EINVAL;
	return abi_check_reply(&rr->reply, takes, true);
}

int abi_check_event_wait(const struct vmiop_event_wait *w)
{
	if (w->flags & ~VMIOP_EVENT_WAIT_F_TAIL || w->ready || w->reserved ||
	    w->timeout_ms < -1)
		return -EINVAL;
	if (!(w->flags & VMIOP_EVENT_WAIT_F_TAIL) && w->tail)
		return -EINVAL;
	return 0;
}
