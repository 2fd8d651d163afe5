// SPDX-License-Identifier: GPL-2.0
/* XSETBV events: a write of XCR0 denied, allowed, replaced. */
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

static uint64_t xcr0_seen[3];

static inline uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static inline void xsetbv0(uint64_t v)
{
	__asm__ __volatile__("xsetbv" : : "a"((uint32_t)v), "d"((uint32_t)(v >> 32)),
			     "c"(0) : "memory");
}

static void guest_xsetbv(uint64_t arg)
{
	int i;

	(void)arg;
	write_cr4(read_cr4() | (1ULL << 18));	/* CR4.OSXSAVE */
	for (i = 0; i < 3; i++) {
		xsetbv0(3);		/* x87 | SSE */
		xcr0_seen[i] = xgetbv0();
	}
	GUEST_DONE();
}

TEST(xsetbv_denied_allowed_replaced)
{
	struct vmiop_event_caps caps;
	struct tvm *tvm;
	struct vmiop_ring *ring;
	uint64_t *seen, initial = 0;
	struct vmiop *v;
	int i;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	vmiop_close(v);
	if (!(caps.supported & (1ULL << VMIOP_EVENT_XSETBV)))
		SKIP("XSETBV events unavailable on this CPU (reason %u: no XSAVE)",
		     caps.reason[VMIOP_EVENT_XSETBV]);
	if (vt_under_qemu_tcg())
		SKIP("QEMU TCG: a nested guest's XSETBV panics L1 (XRSTOR #GP in "
		     "fpu_swap_kvm_fpstate), without vmiop too; see selftests/vm/README.md");

	tvm = tvm_create(1, 0);
	v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_XSETBV, -1, NULL, 0), 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_xsetbv, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	for (i = 0; i < 3; i++) {
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };
		struct vmiop_event *ev = vt_next_event(v, ring);

		ASSERT_TRUE(ev != NULL);
		EXPECT_EQ(ev->type, VMIOP_EVENT_XSETBV);
		EXPECT_EQ(ev->xsetbv.index, 0);
		EXPECT_EQ(ev->xsetbv.new_value, 3);
		/* XCR0 as the vCPU was created (x87 at least), then 3 */
		if (i == 0)
			initial = ev->xsetbv.old_value;
		EXPECT_TRUE(initial & 1);
		EXPECT_EQ(ev->xsetbv.old_value, i == 2 ? 3 : initial);
		if (i == 0)
			r.action = VMIOP_ACTION_SKIP;
		if (i == 2) {
			r.action = VMIOP_ACTION_SET_RESULT;
			r.value = 1;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	seen = *TVM_GUEST_VAR(tvm, xcr0_seen);
	EXPECT_EQ(seen[0], initial);	/* denied */
	EXPECT_EQ(seen[1], 3);
	EXPECT_EQ(seen[2], 1);		/* replaced */
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
