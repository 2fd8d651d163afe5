// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The uapi checks every ioctl applies before touching anything. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "abi.h"

static void attach_checks(void **state)
{
	struct vmiop_attach a = { .size = sizeof(a), .vm_fd = 3 };

	(void)state;
	assert_int_equal(abi_check_attach(&a), 0);
	a.pid = 10;
	assert_int_equal(abi_check_attach(&a), -EINVAL);	/* pid without F_PID */
	a.flags = VMIOP_ATTACH_F_PID;
	assert_int_equal(abi_check_attach(&a), 0);
	a.flags |= 1u << 2;
	assert_int_equal(abi_check_attach(&a), -EINVAL);
	a.flags = VMIOP_ATTACH_F_PID;
	a.vm_id = 1;				/* vm_id without F_VM_ID */
	assert_int_equal(abi_check_attach(&a), -EINVAL);
	a.vm_id = 0;
	a.vm_fd = -1;
	assert_int_equal(abi_check_attach(&a), -EBADF);

	/* By id: no fd, no pid, an id, and not with F_PID. */
	a = (struct vmiop_attach){ .size = sizeof(a), .flags = VMIOP_ATTACH_F_VM_ID, .vm_id = 7 };
	assert_int_equal(abi_check_attach(&a), 0);
	a.flags |= VMIOP_ATTACH_F_PID;
	assert_int_equal(abi_check_attach(&a), -EINVAL);
	a.pid = 1;
	assert_int_equal(abi_check_attach(&a), -EINVAL);
	a.flags = VMIOP_ATTACH_F_VM_ID;
	assert_int_equal(abi_check_attach(&a), -EINVAL);	/* pid without F_PID */
	a.pid = 0;
	a.vm_fd = 3;
	assert_int_equal(abi_check_attach(&a), -EINVAL);
	a.vm_fd = 0;
	a.vm_id = 0;				/* no VM has id 0 */
	assert_int_equal(abi_check_attach(&a), -EINVAL);
}

static void mem_checks(void **state)
{
	struct vmiop_mem_batch b = { .size = sizeof(b), .count = 1 };
	struct vmiop_mem_op op = { .gpa = 0x1000, .len = 1 };

	(void)state;
	assert_int_equal(abi_check_mem_batch(&b, false), 0);
	b.count = VMIOP_MEM_BATCH_MAX;
	assert_int_equal(abi_check_mem_batch(&b, false), 0);
	b.count = VMIOP_MEM_BATCH_MAX + 1;
	assert_int_equal(abi_check_mem_batch(&b, false), -EINVAL);
	b.count = 0;
	assert_int_equal(abi_check_mem_batch(&b, false), -EINVAL);
	b.count = 1;
	b.done = 1;	/* an out field must come in as 0 */
	assert_int_equal(abi_check_mem_batch(&b, false), -EINVAL);
	b.done = 0;
	b.flags = VMIOP_MEM_F_UNDO;	/* a write's alone */
	assert_int_equal(abi_check_mem_batch(&b, false), -EINVAL);
	assert_int_equal(abi_check_mem_batch(&b, true), 0);
	b.flags = VMIOP_MEM_F_UNDO << 1;
	assert_int_equal(abi_check_mem_batch(&b, true), -EINVAL);

	assert_int_equal(abi_check_mem_op(&op), 0);
	op.len = VMIOP_MEM_OP_MAX;
	assert_int_equal(abi_check_mem_op(&op), 0);
	op.len = VMIOP_MEM_OP_MAX + 1;
	assert_int_equal(abi_check_mem_op(&op), -EINVAL);
	op.len = 0;
	assert_int_equal(abi_check_mem_op(&op), -EINVAL);
	op.len = 16;
	op.gpa = UINT64_MAX - 15;	/* ends exactly at 2^64: wraps to 0 */
	assert_int_equal(abi_check_mem_op(&op), -EINVAL);
	op.gpa = UINT64_MAX - 16;
	assert_int_equal(abi_check_mem_op(&op), 0);
	op.reserved = 1;
	assert_int_equal(abi_check_mem_op(&op), -EINVAL);
}

static void regs_checks(void **state)
{
	struct vmiop_regs r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.cs.selector = 0xffff;
	r.cs.limit = 0xffffffff;
	r.cs.attr = VMIOP_SEG_ATTR_MASK;
	r.gdtr_limit = 0xffff;
	assert_int_equal(abi_check_regs(&r), 0);
	r.tr.selector = 0x10000;
	assert_int_equal(abi_check_regs(&r), -EINVAL);
	r.tr.selector = 0;
	r.es.limit = 0x100000000ULL;
	assert_int_equal(abi_check_regs(&r), -EINVAL);
	r.es.limit = 0;
	r.ldtr.attr = 1 << 8;	/* bits 8-11 are reserved in the AR layout */
	assert_int_equal(abi_check_regs(&r), -EINVAL);
	r.ldtr.attr = 0;
	r.idtr_limit = 0x10000;
	assert_int_equal(abi_check_regs(&r), -EINVAL);
	r.idtr_limit = 0;
	r.reserved[11] = 1;
	assert_int_equal(abi_check_regs(&r), -EINVAL);
}

static void reg_list_checks(void **state)
{
	struct vmiop_reg_list l = { .size = sizeof(l), .count = 1 };
	struct vmiop_reg reg = { .id = VMIOP_NR_REGS - 1 };

	(void)state;
	assert_int_equal(abi_check_reg_list(&l), 0);
	l.count = VMIOP_REG_LIST_MAX + 1;
	assert_int_equal(abi_check_reg_list(&l), -EINVAL);
	l.count = 0;
	assert_int_equal(abi_check_reg_list(&l), -EINVAL);
	l.count = 1;
	l.flags = 2;
	assert_int_equal(abi_check_reg_list(&l), -EINVAL);
	assert_int_equal(abi_check_reg(&reg), 0);
	reg.id = VMIOP_NR_REGS;
	assert_int_equal(abi_check_reg(&reg), -EINVAL);
	reg.id = 0;
	reg.reserved = 1;
	assert_int_equal(abi_check_reg(&reg), -EINVAL);
}

static void translate_checks(void **state)
{
	struct vmiop_translate t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.gva = 0xffffffff81000000ULL;
	assert_int_equal(abi_check_translate(&t), 0);
	t.mode = VMIOP_PAGING_4LEVEL;	/* only with F_EXPLICIT */
	assert_int_equal(abi_check_translate(&t), -EINVAL);
	t.mode = 0;
	t.cr3 = 0x1000;
	assert_int_equal(abi_check_translate(&t), -EINVAL);
	t.flags = VMIOP_TRANSLATE_F_EXPLICIT | VMIOP_TRANSLATE_F_NXE;
	assert_int_equal(abi_check_translate(&t), -EINVAL);	/* mode 0 */
	t.mode = VMIOP_PAGING_5LEVEL;
	assert_int_equal(abi_check_translate(&t), 0);
	t.mode = VMIOP_PAGING_5LEVEL + 1;
	assert_int_equal(abi_check_translate(&t), -EINVAL);
	t.mode = VMIOP_PAGING_NONE;
	t.flags |= 1u << 3;
	assert_int_equal(abi_check_translate(&t), -EINVAL);
	t.flags = VMIOP_TRANSLATE_F_PSE;	/* a modifier without F_EXPLICIT */
	t.mode = 0;
	t.cr3 = 0;
	assert_int_equal(abi_check_translate(&t), -EINVAL);
	t.flags = 0;
	t.reserved = 1;
	assert_int_equal(abi_check_translate(&t), -EINVAL);
}

static void segment_round_trip(void **state)
{
	struct kvm_segment cs64 = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0xb,
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment ldt = {
		.selector = 0, .type = 2, .present = 0, .unusable = 1,
	};
	struct kvm_segment back;
	struct vmiop_segment u;

	(void)state;
	abi_seg_to_uapi(&u, &cs64);
	assert_int_equal(u.attr, 0xa09b);	/* what VMX reads for a 64-bit CS */
	assert_int_equal(u.selector, 0x10);
	assert_int_equal(u.limit, 0xffffffff);
	memset(&back, 0, sizeof(back));
	abi_seg_from_uapi(&back, &u);
	assert_memory_equal(&back, &cs64, sizeof(back));

	abi_seg_to_uapi(&u, &ldt);
	assert_int_equal(u.attr, VMIOP_SEG_UNUSABLE | 2);
	memset(&back, 0, sizeof(back));
	abi_seg_from_uapi(&back, &u);
	assert_memory_equal(&back, &ldt, sizeof(back));
}

/* The register ids are the slot indices of struct vmiop_regs. */
static void reg_ids_are_slots(void **state)
{
	(void)state;
	assert_int_equal(VMIOP_REG_ID(rip), VMIOP_REG_RIP);
	assert_int_equal(VMIOP_REG_ID(xcr0), VMIOP_REG_XCR0);
	assert_int_equal(VMIOP_REG_ID(dr7), VMIOP_REG_DR7);
	assert_int_equal(VMIOP_REG_ID(cs.base), VMIOP_REG_CS_BASE);
	assert_int_equal(VMIOP_REG_ID(ldtr.selector), VMIOP_REG_LDTR_SEL);
	assert_int_equal(VMIOP_REG_ID(tr.attr), VMIOP_REG_TR_ATTR);
	assert_int_equal(VMIOP_REG_ID(gdtr_limit), VMIOP_REG_GDTR_LIMIT);
	assert_int_equal(VMIOP_REG_ID(kernel_gs_base), VMIOP_REG_KERNEL_GS_BASE);
	assert_int_equal(VMIOP_REG_ID(apic_base), VMIOP_REG_APIC_BASE);
	assert_int_equal(VMIOP_REG_ID(reserved), VMIOP_NR_REGS);
	assert_int_equal(sizeof(struct vmiop_regs), 90 * 8);
}

static void mem_access_checks(void **state)
{
	struct vmiop_mem_access m = { .size = sizeof(m), .nr_ranges = 1, .ranges = 0x1000 };
	struct vmiop_mem_access_range r = { .gfn = 0x100, .nr_pages = 1 };
	struct vmiop_mem_access_query q = { .size = sizeof(q), .gfn = 0, .nr_pages = 1,
					    .access = 0x1000 };
	const uint32_t execonly = VMIOP_MEM_RIGHTS_COMMON | (1u << VMIOP_ACCESS_X);
	uint32_t a;

	(void)state;
	assert_int_equal(abi_check_mem_access(&m), 0);
	m.nr_ranges = VMIOP_MEM_ACCESS_MAX_RANGES + 1;
	assert_int_equal(abi_check_mem_access(&m), -EINVAL);
	m.nr_ranges = 0;
	assert_int_equal(abi_check_mem_access(&m), -EINVAL);
	m.nr_ranges = 1;
	m.ranges = 0;
	assert_int_equal(abi_check_mem_access(&m), -EINVAL);
	m.ranges = 0x1000;
	m.flags = 1;
	assert_int_equal(abi_check_mem_access(&m), -EINVAL);
	m.flags = 0;
	m.reserved = 1;
	assert_int_equal(abi_check_mem_access(&m), -EINVAL);

	/*
	 * Every value of @access: the common five, W without R never, --x by
	 * host; each restricted one also convertible (VE), RWX never.
	 */
	for (a = 0; a < 32; a++) {
		unsigned int rights = a & VMIOP_ACCESS_RWX;
		int common, exec_only;

		r.access = a;
		common = abi_check_mem_access_range(&r, VMIOP_MEM_RIGHTS_COMMON);
		exec_only = abi_check_mem_access_range(&r, execonly);
		if (a & ~(VMIOP_ACCESS_RWX | VMIOP_ACCESS_VE) ||
		    ((rights & VMIOP_ACCESS_W) && !(rights & VMIOP_ACCESS_R)) ||
		    a == (VMIOP_ACCESS_RWX | VMIOP_ACCESS_VE)) {
			assert_int_equal(common, -EINVAL);
			assert_int_equal(exec_only, -EINVAL);
		} else if (rights == VMIOP_ACCESS_X) {
			assert_int_equal(common, -EOPNOTSUPP);
			assert_int_equal(exec_only, 0);
		} else {
			assert_int_equal(common, 0);
		}
	}
	r.access = VMIOP_ACCESS_R;
	r.nr_pages = 0;
	assert_int_equal(abi_check_mem_access_range(&r, VMIOP_MEM_RIGHTS_COMMON), -EINVAL);
	r.gfn = VMIOP_MEM_ACCESS_MAX_PAGES - 1;
	r.nr_pages = 1;
	assert_int_equal(abi_check_mem_access_range(&r, VMIOP_MEM_RIGHTS_COMMON), 0);
	r.nr_pages = 2;
	assert_int_equal(abi_check_mem_access_range(&r, VMIOP_MEM_RIGHTS_COMMON), -EINVAL);
	r.gfn = 1;
	r.nr_pages = UINT64_MAX;	/* gfn + nr wraps */
	assert_int_equal(abi_check_mem_access_range(&r, VMIOP_MEM_RIGHTS_COMMON), -EINVAL);
	r.nr_pages = 1;
	r.reserved = 1;
	assert_int_equal(abi_check_mem_access_range(&r, VMIOP_MEM_RIGHTS_COMMON), -EINVAL);

	assert_int_equal(abi_check_mem_access_query(&q), 0);
	q.nr_pages = VMIOP_MEM_ACCESS_QUERY_MAX;
	assert_int_equal(abi_check_mem_access_query(&q), 0);
	q.nr_pages = VMIOP_MEM_ACCESS_QUERY_MAX + 1;
	assert_int_equal(abi_check_mem_access_query(&q), -EINVAL);
	q.nr_pages = 0;
	assert_int_equal(abi_check_mem_access_query(&q), -EINVAL);
	q.nr_pages = 2;
	q.gfn = VMIOP_MEM_ACCESS_MAX_PAGES - 1;
	assert_int_equal(abi_check_mem_access_query(&q), -EINVAL);
	q.gfn = 0;
	q.access = 0;
	assert_int_equal(abi_check_mem_access_query(&q), -EINVAL);
}

/* VMIOP_ACTION_EMULATE's read data: bounded, and a pointer exactly when a length. */
static void emulate_reply_checks(void **state)
{
	const uint32_t takes = 1u << VMIOP_ACTION_EMULATE;
	struct vmiop_event_reply r = { .size = sizeof(r), .action = VMIOP_ACTION_EMULATE };

	(void)state;
	assert_int_equal(abi_check_event_reply(&r, takes), 0);
	assert_int_equal(abi_check_event_reply(&r, 1u << VMIOP_ACTION_CONTINUE), -EINVAL);
	r.emul_read.data = 0x1000;
	assert_int_equal(abi_check_event_reply(&r, takes), -EINVAL);
	r.emul_read.len = VMIOP_EMUL_READ_MAX;
	assert_int_equal(abi_check_event_reply(&r, takes), 0);
	r.emul_read.len = VMIOP_EMUL_READ_MAX + 1;
	assert_int_equal(abi_check_event_reply(&r, takes), -EINVAL);
	r.emul_read.len = 8;
	r.emul_read.reserved = 1;
	assert_int_equal(abi_check_event_reply(&r, takes), -EINVAL);
	r.emul_read.reserved = 0;
	r.emul_read.data = 0;
	assert_int_equal(abi_check_event_reply(&r, takes), -EINVAL);
}

/* Struct sizes are ABI: pinned here as in the module. */
static void struct_sizes(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vmiop_api), 32);
	assert_int_equal(sizeof(struct vmiop_attach), 24);
	assert_int_equal(sizeof(struct vmiop_vm_info), 40);
	assert_int_equal(sizeof(struct vmiop_memmap), 24);
	assert_int_equal(sizeof(struct vmiop_memmap_entry), 24);
	assert_int_equal(sizeof(struct vmiop_pause), 16);
	assert_int_equal(sizeof(struct vmiop_vcpu_regs), 16 + 90 * 8);
	assert_int_equal(sizeof(struct vmiop_reg), 16);
	assert_int_equal(sizeof(struct vmiop_reg_list), 24);
	assert_int_equal(sizeof(struct vmiop_mem_op), 24);
	assert_int_equal(sizeof(struct vmiop_mem_batch), 24);
	assert_int_equal(sizeof(struct vmiop_translate), 112);
	assert_int_equal(sizeof(struct vmiop_event_wait), 24);
	assert_int_equal(sizeof(struct vmiop_event_caps), 160);
	assert_int_equal(sizeof(struct vmiop_mem_access), 24);
	assert_int_equal(sizeof(struct vmiop_mem_access_range), 24);
	assert_int_equal(sizeof(struct vmiop_mem_access_query), 32);
	assert_int_equal(sizeof(struct vmiop_event_mem), 48);
	assert_int_equal(sizeof(struct vmiop_event_agent), 32);
	assert_int_equal(sizeof(struct vmiop_ve_agent), 32);
	assert_int_equal(sizeof(struct vmiop_ve_info), 24);
}

static void ve_checks(void **state)
{
	struct vmiop_ve_agent a = { .size = sizeof(a), .code_gpa = 0x100000, .code_len = 4096 };
	struct vmiop_ve_info v = { .size = sizeof(v), .gpa = 0x200000 };

	(void)state;
	assert_int_equal(abi_check_ve_agent(&a), 0);
	a.code_len = 0;				/* no agent */
	assert_int_equal(abi_check_ve_agent(&a), 0);
	a.code_len = VMIOP_VE_AGENT_MAX_LEN;
	assert_int_equal(abi_check_ve_agent(&a), 0);
	a.code_len = VMIOP_VE_AGENT_MAX_LEN + 1;
	assert_int_equal(abi_check_ve_agent(&a), -EINVAL);
	a.code_len = 2;
	a.code_gpa = (1ULL << 52) - 1;		/* past 2^52 */
	assert_int_equal(abi_check_ve_agent(&a), -EINVAL);
	a.code_gpa = UINT64_MAX;		/* wraps */
	assert_int_equal(abi_check_ve_agent(&a), -EINVAL);
	a.code_gpa = 0;
	a.flags = 1;
	assert_int_equal(abi_check_ve_agent(&a), -EINVAL);
	a.flags = 0;
	a.reserved = 1;
	assert_int_equal(abi_check_ve_agent(&a), -EINVAL);

	assert_int_equal(abi_check_ve_info(&v), 0);
	v.gpa = VMIOP_VE_INFO_NONE;
	assert_int_equal(abi_check_ve_info(&v), 0);
	v.gpa = 0x200008;			/* not a page */
	assert_int_equal(abi_check_ve_info(&v), -EINVAL);
	v.gpa = 1ULL << 52;
	assert_int_equal(abi_check_ve_info(&v), -EINVAL);
	v.gpa = 0;
	v.flags = 1;
	assert_int_equal(abi_check_ve_info(&v), -EINVAL);
	v.flags = 0;
	v.reserved = 1;
	assert_int_equal(abi_check_ve_info(&v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(attach_checks),
		cmocka_unit_test(ve_checks),
		cmocka_unit_test(mem_checks),
		cmocka_unit_test(regs_checks),
		cmocka_unit_test(reg_list_checks),
		cmocka_unit_test(translate_checks),
		cmocka_unit_test(segment_round_trip),
		cmocka_unit_test(reg_ids_are_slots),
		cmocka_unit_test(mem_access_checks),
		cmocka_unit_test(emulate_reply_checks),
		cmocka_unit_test(struct_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
