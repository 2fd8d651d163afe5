// SPDX-License-Identifier: GPL-2.0
/*
 * What every event class shares: the classes offered, the ring (a small
 * one flooded by four vCPUs), replies and waits, bad input, and a vCPU
 * left waiting by a detach, a killed introspector or a signal.  Shown with
 * CPUID events.
 */
#include <poll.h>
#include <sys/mman.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

#define FLOOD_VCPUS 4
#define FLOOD_EVENTS 200

TEST(caps_report_what_is_offered)
{
	struct vmiop_event_caps caps;
	struct vmiop_api api;
	struct vmiop *v;
	unsigned int t;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	EXPECT_TRUE(api.features & VMIOP_FEAT_EVENTS);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	EXPECT_TRUE(caps.supported & (1ULL << VMIOP_EVENT_CPUID));
	EXPECT_TRUE(caps.supported & (1ULL << VMIOP_EVENT_HYPERCALL));
	for (t = 1; t < VMIOP_EVENT_NR_TYPES; t++) {
		EXPECT_TRUE(vmiop_event_name(t) != NULL);
		if (caps.supported & (1ULL << t))
			EXPECT_EQ(caps.reason[t], VMIOP_CAP_OK);
		else
			EXPECT_NE(caps.reason[t], VMIOP_CAP_OK);
	}
	EXPECT_FALSE(caps.supported & 1);	/* types start at 1 */
	/* CR3 reads exit on both vendors; CR0/CR4 reads only on SVM. */
	EXPECT_EQ(caps.cr_reads, vt_host_is_intel(v) ? 1u << 3 : 1u << 0 | 1u << 3 | 1u << 4);
	EXPECT_TRUE(caps.singlestep == VMIOP_STEP_MTF || caps.singlestep == VMIOP_STEP_TRAP_FLAG);
	vmiop_close(v);
}

TEST(debug_event_classes_are_offered)
{
	struct vmiop_event_caps caps;
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_BREAKPOINT], VMIOP_CAP_OK);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_DEBUG], VMIOP_CAP_OK);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_SINGLESTEP], VMIOP_CAP_OK);
	EXPECT_EQ(caps.reason[VMIOP_EVENT_TRAP], VMIOP_CAP_OK);
	/* Every VMX CPU KVM 6.1 runs on has the monitor trap flag. */
	EXPECT_EQ(caps.singlestep, vt_host_is_intel(v) ? VMIOP_STEP_MTF : VMIOP_STEP_TRAP_FLAG);
	EXPECT_TRUE(caps.reason[VMIOP_EVENT_DESC] == VMIOP_CAP_OK ||
		    caps.reason[VMIOP_EVENT_DESC] == VMIOP_CAP_NO_HARDWARE);
	vmiop_close(v);
}

TEST(detach_mid_event_releases_the_vcpu)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	struct cpuid_out *out;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	tvm_vcpu_entry(vcpu, guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_TRUE(vt_next_event(v, ring) != NULL);
	vmiop_close(v);		/* no reply: detach answers "continue" */
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	out = *TVM_GUEST_VAR(tvm, cpuid_results);
	EXPECT_NE(out[1].ebx, 0xbbbb);		/* KVM executed them all */
	EXPECT_NE(out[3].ebx, 0xbbbb);
	tvm_destroy(tvm);
}

TEST(introspector_killed_mid_event)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vt_introspector in = vt_fork_introspector(VMIOP_EVENT_CPUID);

	tvm_vcpu_entry(vcpu, guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	vt_introspector_wait_event(&in);
	EXPECT_EQ(tvm_vcpu_thread_state(vcpu), TVM_THREAD_RUNNING);
	vt_introspector_kill(&in);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	tvm_destroy(tvm);
}

/*
 * A signal to the waiting vCPU's thread makes KVM_RUN return; the event
 * stays pending, and once answered the re-run instruction takes that
 * answer without a second event.
 */
TEST(signal_to_waiting_vcpu_then_reply)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SET_RESULT };
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_event *ev;
	struct cpuid_out *out;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &cpuid_filter, 1), 0);
	tvm_vcpu_entry(vcpu, guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->seq, 1);
	ASSERT_EQ(tvm_vcpu_thread_stop(vcpu), TVM_THREAD_STOPPED);
	/* Out of KVM_RUN but still waiting for its answer. */
	r.cpuid.eax = 0x55;
	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);
	/* Steps 2 and 3 post events 2 and 3, answered "continue". */
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->seq, 2);
	EXPECT_EQ(ev->cpuid.leaf, cpuid_leaves[2]);
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->seq, 3);
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	out = *TVM_GUEST_VAR(tvm, cpuid_results);
	EXPECT_EQ(out[1].eax, 0x55);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* A ring smaller than the vCPU count: vCPUs wait for space, nothing is lost. */
TEST(four_vcpus_flood_a_small_ring)
{
	struct tvm *tvm = tvm_create(FLOOD_VCPUS, 0);
	unsigned int per_vcpu[FLOOD_VCPUS] = { 0 };
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	uint64_t expect_seq = 1, *bad;
	struct pollfd pfd = { .fd = vmiop_fd(v), .events = POLLIN };
	int i, total = 0;

	ASSERT_TRUE((ring = vt_ring_setup(v, 2)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	*TVM_GUEST_VAR(tvm, flood_events) = FLOOD_EVENTS;
	for (i = 0; i < FLOOD_VCPUS; i++) {
		tvm_vcpu_entry(tvm_vcpu(tvm, i), guest_flood, i);
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), NULL, NULL);
	}
	while (total < FLOOD_VCPUS * FLOOD_EVENTS) {
		struct vmiop_event *ev;

		ASSERT_GT(poll(&pfd, 1, 120000), 0);
		while ((ev = vmiop_ring_peek(ring))) {
			struct vmiop_event_reply r = { .action = VMIOP_ACTION_SET_RESULT };

			ASSERT_EQ(ev->seq, expect_seq);
			ASSERT_LT(ev->vcpu, FLOOD_VCPUS);
			ASSERT_EQ(ev->cpuid.leaf, FLOOD_LEAF);
			ASSERT_EQ(ev->cpuid.subleaf, per_vcpu[ev->vcpu]);
			r.cpuid.eax = ev->vcpu;
			r.cpuid.ebx = per_vcpu[ev->vcpu]++;
			ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
			vmiop_ring_advance(ring, 1);
			expect_seq++;
			total++;
		}
	}
	for (i = 0; i < FLOOD_VCPUS; i++) {
		ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, i)), TVM_THREAD_DONE);
		EXPECT_EQ(per_vcpu[i], FLOOD_EVENTS);
	}
	bad = *TVM_GUEST_VAR(tvm, flood_bad);
	for (i = 0; i < FLOOD_VCPUS; i++)
		EXPECT_EQ(bad[i], 0);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(bad_input_is_rejected)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring_setup rs = { .size = sizeof(rs) };
	struct vmiop_event_control c = { .size = sizeof(c), .type = VMIOP_EVENT_CPUID,
					 .enable = 1 };
	struct vmiop_event_reply r = { .size = sizeof(r), .action = VMIOP_ACTION_CONTINUE,
				       .seq = 1 };
	struct vmiop_event_wait w = { .size = sizeof(w) };
	struct vmiop_filter_range backwards = { 5, 4 };
	struct vmiop_event_caps caps;
	struct vmiop_ring *ring;
	int fd = vmiop_fd(v);

	/* Before a ring exists. */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), ENXIO);
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), ENXIO);
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_REPLY, &r), ENXIO);
	/* Geometry. */
	rs.nr_entries = 3;
	ASSERT_ERRNO(xioctl(fd, VMIOP_RING_SETUP, &rs), EINVAL);
	rs.nr_entries = VMIOP_RING_MAX_ENTRIES * 2;
	ASSERT_ERRNO(xioctl(fd, VMIOP_RING_SETUP, &rs), EINVAL);
	rs.nr_entries = 4;
	rs.reserved = 1;
	ASSERT_ERRNO(xioctl(fd, VMIOP_RING_SETUP, &rs), EINVAL);
	rs.reserved = 0;
	rs.flags = 1;
	ASSERT_ERRNO(xioctl(fd, VMIOP_RING_SETUP, &rs), EINVAL);
	ASSERT_EQ(vmiop_ring_setup(v, 4, &ring), 0);
	EXPECT_EQ(ring->nr_entries, 4);
	/* Mappings of the ring: shared, and within it. */
	EXPECT_TRUE(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED);
	EXPECT_TRUE(mmap(NULL, ring->mem_size + 4096, PROT_READ, MAP_SHARED, fd, 0) ==
		    MAP_FAILED);
	EXPECT_TRUE(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, ring->mem_size) ==
		    MAP_FAILED);
	ASSERT_ERRNO(vmiop_ring_setup(v, 4, &ring), EBUSY);
	rs.flags = 0;
	rs.mmap_size = 0;
	ASSERT_ERRNO(xioctl(fd, VMIOP_RING_SETUP, &rs), EBUSY);
	/* Control. */
	c.type = 0;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EINVAL);
	c.type = VMIOP_EVENT_NR_TYPES;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EINVAL);
	/* Types this host does not offer (XSETBV without XSAVE, say). */
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	for (c.type = 1; c.type < VMIOP_EVENT_NR_TYPES; c.type++)
		if (!(caps.supported & (1ULL << c.type)))
			ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EOPNOTSUPP);
	c.type = VMIOP_EVENT_CPUID;
	c.flags = 1u << 7;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EINVAL);
	c.flags = 0;
	c.vcpu = 1;		/* a vCPU without VMIOP_EVENT_CTL_F_VCPU */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EINVAL);
	c.vcpu = 0;
	c.enable = 2;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EINVAL);
	c.enable = 1;
	ASSERT_ERRNO(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &backwards, 1), EINVAL);
	/* Filters are per type, not per vCPU. */
	ASSERT_ERRNO(vmiop_event_enable(v, VMIOP_EVENT_CPUID, 0, &cpuid_filter, 1), EINVAL);
	/* A filter pointer without a count. */
	ASSERT_ERRNO(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &cpuid_filter, 0), EINVAL);
	c.nr_filter = VMIOP_FILTER_MAX + 1;
	c.filter = (uintptr_t)&backwards;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EINVAL);
	c.nr_filter = 1;
	c.filter = 8;		/* unmapped */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_CONTROL, &c), EFAULT);
	/* Replies and waits. */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_REPLY, &r), ENOENT);
	r.flags = 0x80000000;	/* no such flag */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_REPLY, &r), EINVAL);
	w.flags = 1u << 7;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), EINVAL);
	w.flags = 0;
	w.timeout_ms = -2;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), EINVAL);
	EXPECT_EQ(vmiop_event_wait(v, 0), -ETIMEDOUT);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
