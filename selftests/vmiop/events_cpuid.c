// SPDX-License-Identifier: GPL-2.0
/* CPUID events: the filter, each reply, per vCPU and only while enabled. */
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

TEST(cpuid_event_filter_and_each_reply)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct cpuid_out kvm_value = { 0 }, *out;
	struct vmiop_ring *ring;
	struct vmiop_regs regs;
	struct vmiop *v = vt_attach(tvm);
	int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &cpuid_filter, 1), 0);
	tvm_vcpu_entry(vcpu, guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	/* Steps 1..3 are in the filter; 0 and 4 are not. */
	for (i = 1; i <= 3; i++) {
		struct vmiop_event_reply r = { 0 };
		struct vmiop_event *ev = vt_next_event(v, ring);

		ASSERT_TRUE(ev != NULL);
		EXPECT_EQ(ev->type, VMIOP_EVENT_CPUID);
		EXPECT_EQ(ev->vcpu, 0);
		EXPECT_EQ(ev->seq, (uint64_t)i);
		EXPECT_EQ(ev->cpuid.leaf, cpuid_leaves[i]);
		EXPECT_EQ(ev->cpuid.subleaf, 7);
		EXPECT_EQ(ev->regs.rax, cpuid_leaves[i]);
		EXPECT_EQ(ev->regs.rbx, 0xbbbb);
		EXPECT_EQ(ev->regs.cr3, tvm_pt_root(tvm));
		/* While it waits, the vCPU's registers are reachable, unpaused. */
		ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
		EXPECT_EQ(regs.rip, ev->regs.rip);
		EXPECT_EQ(regs.rdx, 0xdddd);
		switch (i) {
		case 1:
			r.action = VMIOP_ACTION_SET_RESULT;
			r.cpuid.eax = 0x11;
			r.cpuid.ebx = 0x22;
			r.cpuid.ecx = 0x33;
			r.cpuid.edx = 0x44;
			break;
		case 2:
			r.action = VMIOP_ACTION_CONTINUE;
			kvm_value.eax = ev->cpuid.eax;
			kvm_value.ebx = ev->cpuid.ebx;
			kvm_value.ecx = ev->cpuid.ecx;
			kvm_value.edx = ev->cpuid.edx;
			break;
		case 3:
			r.action = VMIOP_ACTION_SKIP;
			break;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		/* The same event cannot be answered twice. */
		ASSERT_ERRNO(vmiop_event_reply(v, ev, &r), ENOENT);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);

	out = *TVM_GUEST_VAR(tvm, cpuid_results);
	EXPECT_EQ(out[1].eax, 0x11);
	EXPECT_EQ(out[1].ebx, 0x22);
	EXPECT_EQ(out[1].ecx, 0x33);
	EXPECT_EQ(out[1].edx, 0x44);
	EXPECT_EQ(out[2].eax, kvm_value.eax);
	EXPECT_EQ(out[2].ebx, kvm_value.ebx);
	EXPECT_EQ(out[2].ecx, kvm_value.ecx);
	EXPECT_EQ(out[2].edx, kvm_value.edx);
	EXPECT_EQ(out[3].eax, cpuid_leaves[3]);	/* skipped: nothing changed */
	EXPECT_EQ(out[3].ebx, 0xbbbb);
	EXPECT_EQ(out[3].ecx, 7);
	EXPECT_EQ(out[3].edx, 0xdddd);
	EXPECT_NE(out[0].ebx, 0xbbbb);		/* not filtered: KVM ran it */
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(cpuid_event_only_when_enabled_and_per_vcpu)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_event *ev;
	int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	/* Never enabled: vCPU 0 runs all its CPUIDs without an event. */
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);

	/* Enabled on vCPU 1 only, then disabled for the whole VM. */
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, 1, NULL, 0), 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);

	tvm_vcpu_entry(tvm_vcpu(tvm, 1), guest_cpuid_steps, 1);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 1), NULL, NULL);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->vcpu, 1);
	EXPECT_EQ(ev->cpuid.leaf, cpuid_leaves[0]);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_CPUID, -1), 0);
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 1)), TVM_THREAD_DONE);
	for (i = 0; i < 10; i++)
		EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
