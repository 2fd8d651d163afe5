// SPDX-License-Identifier: GPL-2.0
/* HYPERCALL events: VMCALL/VMMCALL, its arguments, each reply. */
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

static uint64_t hypercall_results[4];

/* arg: 1 on Intel (VMCALL), 0 on AMD (VMMCALL): no instruction patching. */
static void guest_hypercalls(uint64_t intel)
{
	static const uint64_t nrs[4] = { 0x7001, 0x7002, 0x7003, 0x9999 };
	int i;

	for (i = 0; i < 4; i++) {
		uint64_t rax = nrs[i];

		if (intel)
			__asm__ __volatile__("vmcall" : "+a"(rax) : "b"(11), "c"(22), "d"(33),
					     "S"(44) : "memory");
		else
			__asm__ __volatile__("vmmcall" : "+a"(rax) : "b"(11), "c"(22), "d"(33),
					     "S"(44) : "memory");
		hypercall_results[i] = rax;
	}
	GUEST_DONE();
}

TEST(hypercall_event_each_reply)
{
	static const struct vmiop_filter_range f = { 0x7000, 0x7fff };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	uint64_t *out;
	int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_HYPERCALL, -1, &f, 1), 0);
	tvm_vcpu_entry(vcpu, guest_hypercalls, vt_host_is_intel(v));
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 3; i++) {
		struct vmiop_event_reply r = { 0 };
		struct vmiop_event *ev = vt_next_event(v, ring);

		ASSERT_TRUE(ev != NULL);
		EXPECT_EQ(ev->type, VMIOP_EVENT_HYPERCALL);
		EXPECT_EQ(ev->hypercall.nr, 0x7001 + i);
		EXPECT_EQ(ev->hypercall.args[0], 11);
		EXPECT_EQ(ev->hypercall.args[1], 22);
		EXPECT_EQ(ev->hypercall.args[2], 33);
		EXPECT_EQ(ev->hypercall.args[3], 44);
		EXPECT_EQ(ev->hypercall.long_mode, 1);
		r.action = i == 0 ? VMIOP_ACTION_SET_RESULT :
			   i == 1 ? VMIOP_ACTION_CONTINUE : VMIOP_ACTION_SKIP;
		r.value = 0x1234;
		if (r.action != VMIOP_ACTION_SET_RESULT) {
			/* A payload on a reply that takes none is refused. */
			ASSERT_ERRNO(vmiop_event_reply(v, ev, &r), EINVAL);
			r.value = 0;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	out = *TVM_GUEST_VAR(tvm, hypercall_results);
	EXPECT_EQ(out[0], 0x1234);
	EXPECT_EQ(out[1], (uint64_t)-1000);	/* KVM: -KVM_ENOSYS */
	EXPECT_EQ(out[2], 0x7003);		/* skipped: RAX untouched */
	EXPECT_EQ(out[3], (uint64_t)-1000);	/* filtered out: KVM's answer */
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
