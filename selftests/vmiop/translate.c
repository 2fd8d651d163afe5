// SPDX-License-Identifier: GPL-2.0
/* Guest-virtual to guest-physical, checked against the guest's own tables. */
#include <sys/ioctl.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define GVA_4K	0x00007f0000001000ULL
#define GVA_2M	0x00007f0040200000ULL
#define GVA_1G	0x00007f8040000000ULL
#define GVA_NP	0x00007f00c0000000ULL	/* table exists, entry not present */

/* The guest reads through each mapping, proving the hardware agrees. */
static void guest_touch(uint64_t arg)
{
	(void)arg;
	GUEST_SYNC(*(volatile uint64_t *)(GVA_4K + 0x18));
	GUEST_SYNC(*(volatile uint64_t *)(GVA_2M + 0x1234 * 8));
	GUEST_SYNC(*(volatile uint64_t *)(GVA_1G + 0x100008));
	GUEST_SYNC(0);
	GUEST_DONE();
}

struct fixture {
	struct tvm *tvm;
	struct vmiop *v;
	uint64_t gpa_4k, gpa_2m;
};

static void setup(struct fixture *f)
{
	struct tvm_vcpu *vcpu;

	f->tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(f->tvm, 0);
	f->gpa_4k = tvm_alloc_gpa(f->tvm, 4096, 4096);
	f->gpa_2m = tvm_alloc_gpa(f->tvm, 2 << 20, 2 << 20);
	tvm_map(f->tvm, GVA_4K, f->gpa_4k, TVM_PAGE_4K, TVM_PTE_W);
	tvm_map(f->tvm, GVA_2M, f->gpa_2m, TVM_PAGE_2M, TVM_PTE_W | TVM_PTE_U);
	/* 1G page at gpa 0: the first GiB, RAM at its start. */
	tvm_map(f->tvm, GVA_1G, 0, TVM_PAGE_1G, 0);
	tvm_map(f->tvm, GVA_NP, f->gpa_4k, TVM_PAGE_4K, 0);
	tvm_unmap(f->tvm, GVA_NP, TVM_PAGE_4K);
	*(uint64_t *)tvm_gpa2hva(f->tvm, f->gpa_4k + 0x18) = 0x4444;
	*(uint64_t *)tvm_gpa2hva(f->tvm, f->gpa_2m + 0x1234 * 8) = 0x2222;
	*(uint64_t *)tvm_gpa2hva(f->tvm, 0x100008) = 0x1111;

	tvm_vcpu_entry(vcpu, guest_touch, 0);
	tvm_vcpu_expect_sync(vcpu, 0x4444);
	tvm_vcpu_expect_sync(vcpu, 0x2222);
	tvm_vcpu_expect_sync(vcpu, 0x1111);
	f->v = vt_attach(f->tvm);
	ASSERT_EQ(vmiop_pause(f->v), 1);
}

static void teardown(struct fixture *f)
{
	vmiop_close(f->v);
	tvm_destroy(f->tvm);
}

static void expect_xlate(struct fixture *f, uint64_t gva, uint64_t page_size)
{
	struct vmiop_translate t = { .gva = gva };
	size_t want_size = 0;
	uint64_t want;

	want = tvm_gva2gpa(f->tvm, gva, &want_size, NULL);
	ASSERT_EQ(vmiop_translate_ex(f->v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_OK);
	EXPECT_EQ(t.mode, VMIOP_PAGING_4LEVEL);
	EXPECT_EQ(t.cr3, tvm_pt_root(f->tvm));
	EXPECT_EQ(t.gpa, want);
	EXPECT_EQ(t.page_size, want_size);
	EXPECT_EQ(t.page_size, page_size);
}

TEST(translation_agrees_with_guest_tables)
{
	struct fixture f;
	uint64_t gpa;

	setup(&f);
	expect_xlate(&f, GVA_4K + 0x18, TVM_PAGE_4K);
	expect_xlate(&f, GVA_2M + 0x1234 * 8, TVM_PAGE_2M);
	expect_xlate(&f, GVA_1G + 0x100008, TVM_PAGE_1G);
	/* Identity-mapped code: the guest function's own address. */
	expect_xlate(&f, (uint64_t)(uintptr_t)guest_touch, TVM_PAGE_2M);
	ASSERT_EQ(vmiop_translate(f.v, 0, GVA_4K + 0x18, &gpa), 0);
	ASSERT_EQ(gpa, f.gpa_4k + 0x18);
	teardown(&f);
}

TEST(translation_reports_rights_and_levels)
{
	struct vmiop_translate t = { .gva = GVA_2M };
	struct fixture f;

	setup(&f);
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.nr_entries, 3);	/* PML4E, PDPTE, PDE */
	EXPECT_EQ(t.level, 2);
	EXPECT_TRUE(t.entries[2] & TVM_PTE_PS);
	EXPECT_EQ(t.entries[2] & TVM_PTE_ADDR_MASK & ~0x1fffffULL, f.gpa_2m);
	EXPECT_TRUE(t.access & VMIOP_XLATE_ACC_WRITE);

	memset(&t, 0, sizeof(t));
	t.gva = GVA_1G;
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.nr_entries, 2);
	EXPECT_FALSE(t.access & VMIOP_XLATE_ACC_WRITE);
	EXPECT_FALSE(t.access & VMIOP_XLATE_ACC_USER);
	teardown(&f);
}

TEST(translation_faults)
{
	struct vmiop_translate t = { .gva = GVA_NP };
	struct fixture f;
	uint64_t gpa;

	setup(&f);
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_NOT_PRESENT);
	EXPECT_EQ(t.level, 1);
	ASSERT_ERRNO(vmiop_translate(f.v, 0, GVA_NP, &gpa), EFAULT);

	/* Nothing mapped in the top half's first PML4 slot. */
	memset(&t, 0, sizeof(t));
	t.gva = 0xffff800000000000ULL;
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_NOT_PRESENT);
	EXPECT_EQ(t.level, 4);

	memset(&t, 0, sizeof(t));
	t.gva = 0x0000800000000000ULL;
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_NONCANONICAL);

	/* A reserved bit (PS in a PML4E) is reported, not walked through. */
	*tvm_pte(f.tvm, GVA_4K, TVM_PAGE_512G) |= TVM_PTE_PS;
	memset(&t, 0, sizeof(t));
	t.gva = GVA_4K;
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_RESERVED);
	EXPECT_EQ(t.level, 4);
	teardown(&f);
}

TEST(explicit_cr3_needs_no_vcpu_state)
{
	struct vmiop_translate t = {
		.flags = VMIOP_TRANSLATE_F_EXPLICIT, .mode = VMIOP_PAGING_4LEVEL,
		.gva = GVA_4K + 8,
	};
	struct fixture f;

	setup(&f);
	ASSERT_EQ(vmiop_resume(f.v), 0);	/* not paused: still fine */
	t.cr3 = tvm_pt_root(f.tvm);
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_OK);
	EXPECT_EQ(t.gpa, f.gpa_4k + 8);
	/* Without F_EXPLICIT the vCPU's state is needed: pause first. */
	memset(&t, 0, sizeof(t));
	t.gva = GVA_4K;
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), EBUSY);
	/* No paging: identity. */
	memset(&t, 0, sizeof(t));
	t.flags = VMIOP_TRANSLATE_F_EXPLICIT;
	t.mode = VMIOP_PAGING_NONE;
	t.gva = 0x12345678;
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.gpa, 0x12345678);
	/* A table outside RAM */
	memset(&t, 0, sizeof(t));
	t.flags = VMIOP_TRANSLATE_F_EXPLICIT;
	t.mode = VMIOP_PAGING_4LEVEL;
	t.cr3 = tvm_hole_gpa(f.tvm);
	ASSERT_EQ(vmiop_translate_ex(f.v, &t), 0);
	EXPECT_EQ(t.fault, VMIOP_XLATE_NO_MEMORY);
	ASSERT_EQ(vmiop_pause(f.v), 1);
	teardown(&f);
}

TEST(translate_bad_input)
{
	struct vmiop_translate t;
	struct fixture f;

	setup(&f);
	memset(&t, 0, sizeof(t));
	t.flags = 1u << 5;
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), EINVAL);
	memset(&t, 0, sizeof(t));
	t.mode = VMIOP_PAGING_4LEVEL;	/* a mode without F_EXPLICIT */
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), EINVAL);
	memset(&t, 0, sizeof(t));
	t.flags = VMIOP_TRANSLATE_F_NXE;	/* NXE without F_EXPLICIT */
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), EINVAL);
	memset(&t, 0, sizeof(t));
	t.flags = VMIOP_TRANSLATE_F_EXPLICIT;
	t.mode = 6;
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), EINVAL);
	memset(&t, 0, sizeof(t));
	t.reserved = 1;
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), EINVAL);
	memset(&t, 0, sizeof(t));
	t.vcpu = 1;
	ASSERT_ERRNO(vmiop_translate_ex(f.v, &t), ENOENT);
	teardown(&f);
}

VMTEST_MAIN()
