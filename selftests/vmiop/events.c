// SPDX-License-Identifier: GPL-2.0
/* Events: the ring, CPUID and hypercall events, replies, detach, floods. */
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define NR_CPUID_STEPS 5
#define FLOOD_VCPUS 4
#define FLOOD_EVENTS 200

struct cpuid_out {
	uint32_t eax, ebx, ecx, edx;
};

/* Guest-side globals (the guest's copy is read back through TVM_GUEST_VAR). */
static const uint32_t cpuid_leaves[NR_CPUID_STEPS] = {
	0x0, 0x40000150, 0x40000151, 0x40000152, 0x1,
};
static struct cpuid_out cpuid_results[NR_CPUID_STEPS];
static uint64_t hypercall_results[4];
static uint64_t flood_bad[FLOOD_VCPUS];
static uint64_t cr_seen[5][2];		/* CR0 and CR4 after each step */
static uint64_t msr_seen[5];
static uint64_t xcr0_seen[3];
static uint64_t cr3_seen[3];

/* EBX and EDX are preloaded so that a skipped CPUID is visible as such. */
static inline void cpuid_preloaded(uint32_t leaf, struct cpuid_out *o)
{
	uint32_t a = leaf, b = 0xbbbb, c = 7, d = 0xdddd;

	__asm__ __volatile__("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : : "memory");
	o->eax = a;
	o->ebx = b;
	o->ecx = c;
	o->edx = d;
}

static void guest_cpuid_steps(uint64_t arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NR_CPUID_STEPS; i++)
		cpuid_preloaded(cpuid_leaves[i], &cpuid_results[i]);
	GUEST_DONE();
}

static const struct vmiop_filter_range cpuid_filter = { 0x40000150, 0x400001ff };

/* ioctl(2) as -errno, for ASSERT_ERRNO. */
static long xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

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

/* Each vCPU asks FLOOD_EVENTS times and checks every answer it gets. */
static void guest_flood(uint64_t idx)
{
	uint32_t i;

	for (i = 0; i < FLOOD_EVENTS; i++) {
		uint32_t a = 0x40000160, b = (uint32_t)idx, c = i, d = 0;

		__asm__ __volatile__("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : : "memory");
		if (a != idx || b != i)
			flood_bad[idx]++;
	}
	GUEST_DONE();
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
			ASSERT_EQ(ev->cpuid.leaf, 0x40000160);
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

#define CR0_AM	(1ULL << 18)
#define CR4_PSE	(1ULL << 4)
#define CR4_TSD	(1ULL << 2)

static inline uint64_t read_cr0(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr0(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline void write_cr4(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr4" : : "r"(v) : "memory");
}

/* Every write changes a bit KVM owns on both vendors, so each one exits. */
static void guest_cr_writes(uint64_t arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 5; i++) {
		switch (i) {
		case 0:
		case 1:
			write_cr0(read_cr0() | CR0_AM);
			break;
		case 2:
			write_cr4(read_cr4() | CR4_PSE);
			break;
		case 3:
			write_cr0(read_cr0() & ~CR0_AM);
			break;
		case 4:
			write_cr4(read_cr4() & ~(CR4_PSE | CR4_TSD));
			break;
		}
		cr_seen[i][0] = read_cr0();
		cr_seen[i][1] = read_cr4();
	}
	GUEST_DONE();
}

/*
 * CR0 |= AM denied, then allowed; CR4 |= PSE replaced by PSE|TSD; both
 * undone.  A signal in the middle of the second one must not lose it.
 */
TEST(cr_writes_denied_allowed_replaced)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	static const struct vmiop_filter_range crs[2] = { { 0, 0 }, { 4, 4 } };
	uint64_t (*seen)[2], cr0 = 0, cr4 = 0;
	struct kvm_sregs ksregs;
	struct kvm_regs kregs;
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CR, -1, crs, 2), 0);
	tvm_vcpu_entry(vcpu, guest_cr_writes, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 5; i++) {
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };
		struct vmiop_event *ev = vt_next_event(v, ring);

		ASSERT_TRUE(ev != NULL);
		EXPECT_EQ(ev->type, VMIOP_EVENT_CR);
		EXPECT_EQ(ev->seq, (uint64_t)i + 1);
		if (i == 0) {
			cr0 = ev->regs.cr0;
			cr4 = ev->regs.cr4;
		}
		switch (i) {
		case 0:		/* denied */
		case 1:		/* allowed, after a signal made the vCPU leave */
			EXPECT_EQ(ev->cr.cr, 0);
			EXPECT_EQ(ev->cr.old_value, cr0);
			EXPECT_EQ(ev->cr.new_value, cr0 | CR0_AM);
			if (i == 0) {
				r.action = VMIOP_ACTION_SKIP;
				break;
			}
			ASSERT_EQ(tvm_vcpu_thread_stop(vcpu), TVM_THREAD_STOPPED);
			/*
			 * The VMM sees the write not done, RIP on it (no
			 * KVM_GET_MP_STATE first, unlike QEMU), and what it
			 * writes back is what runs.
			 */
			tvm_get_regs(vcpu, &kregs);
			tvm_get_sregs(vcpu, &ksregs);
			EXPECT_EQ(kregs.rip, ev->regs.rip);
			EXPECT_EQ(ksregs.cr0, cr0);
			tvm_set_regs(vcpu, &kregs);
			tvm_vcpu_thread_start(vcpu, NULL, NULL);
			break;
		case 2:		/* replaced */
			EXPECT_EQ(ev->cr.cr, 4);
			EXPECT_EQ(ev->cr.old_value, cr4);
			EXPECT_EQ(ev->cr.new_value, cr4 | CR4_PSE);
			r.action = VMIOP_ACTION_SET_RESULT;
			r.value = cr4 | CR4_PSE | CR4_TSD;
			break;
		case 3:
			EXPECT_EQ(ev->cr.cr, 0);
			EXPECT_EQ(ev->cr.old_value, cr0 | CR0_AM);
			EXPECT_EQ(ev->cr.new_value, cr0);
			break;
		case 4:
			EXPECT_EQ(ev->cr.cr, 4);
			EXPECT_EQ(ev->cr.old_value, cr4 | CR4_PSE | CR4_TSD);
			EXPECT_EQ(ev->cr.new_value, cr4 & ~CR4_TSD);
			break;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	seen = *TVM_GUEST_VAR(tvm, cr_seen);
	EXPECT_EQ(seen[0][0], cr0);			/* denied */
	EXPECT_EQ(seen[1][0], cr0 | CR0_AM);
	EXPECT_EQ(seen[2][1], cr4 | CR4_PSE | CR4_TSD);	/* replaced */
	EXPECT_EQ(seen[3][0], cr0);
	EXPECT_EQ(seen[4][1], cr4 & ~CR4_TSD);
	vmiop_close(v);
	tvm_destroy(tvm);
}

#define MSR_PAT		0x277
#define PAT_A		0x0007040600070401ULL
#define PAT_B		0x0007040600070404ULL

/* RDMSR with EDX:EAX preloaded, so that a skipped one is visible. */
#define CR3_EVENTS 200
#define CR3_QUIET 2000

/*
 * Phase A: three writes of another root, each answered differently.
 * B: CR3_EVENTS writes, each an event.  C, D: CR3_QUIET writes with the
 * events disabled, then with the session gone: no exits for them.
 */
static void guest_cr3_writes(uint64_t alt)
{
	uint64_t root = guest_read_cr3();
	int i;

	guest_write_cr3(alt);
	cr3_seen[0] = guest_read_cr3();
	guest_write_cr3(alt);
	cr3_seen[1] = guest_read_cr3();
	guest_write_cr3(alt);
	cr3_seen[2] = guest_read_cr3();
	GUEST_SYNC(0);
	for (i = 0; i < CR3_EVENTS; i++)
		guest_write_cr3(root);
	GUEST_SYNC(1);
	for (i = 0; i < CR3_QUIET; i++)
		guest_write_cr3(root);
	GUEST_SYNC(2);
	for (i = 0; i < CR3_QUIET; i++)
		guest_write_cr3(root);
	GUEST_SYNC(3);
	GUEST_DONE();
}

/* KVM's exit count at each phase boundary; the session ends at SYNC(2). */
struct cr3_phases {
	struct vmiop *v;
	uint64_t exits[4];
	bool disable_failed;
};

static bool cr3_phase(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct cr3_phases *p = opaque;

	p->exits[uc->args[0] & 3] = tvm_vcpu_stat(vcpu, "exits");
	if (uc->args[0] == 1 && vmiop_event_disable(p->v, VMIOP_EVENT_CR, -1))
		p->disable_failed = true;
	if (uc->args[0] == 2) {
		/* On again, then detach: detach must turn the exits off. */
		if (vmiop_event_enable(p->v, VMIOP_EVENT_CR, -1, NULL, 0))
			p->disable_failed = true;
		vmiop_close(p->v);
	}
	return true;
}

/*
 * With EPT/NPT KVM lets CR3 writes run without exits; vmiop turns the
 * exit on while CR3 events are wanted, and off again.
 */
static void guest_just_done(uint64_t arg)
{
	(void)arg;
	GUEST_DONE();
}

/*
 * RSM reloads CR0/CR3/CR4 from the SMM save area through KVM's emulator:
 * state loads, like KVM_SET_SREGS, not writes to report (an event could
 * not stop or rewind the emulation halfway).
 */
TEST(rsm_loads_crs_without_cr_events)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	uint8_t *save_area = tvm_gpa2hva(tvm, 0x3fe00), untouched[512];
	unsigned int i, events = 0;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	struct kvm_userspace_memory_region smram = {
		.slot = 1u << 16,	/* address space 1: what SMM sees */
		.guest_phys_addr = 0,
		.memory_size = tvm_slot_boundary(tvm),
		.userspace_addr = (uintptr_t)tvm_gpa2hva(tvm, 0),
	};

	if (ioctl(tvm_kvm_fd(tvm), KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE) < 2)
		SKIP("no SMM address space in this KVM");
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &smram), 0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CR, -1, NULL, 0), 0);
	/* SMBASE 0x30000: the handler at 0x38000 is a bare RSM. */
	memcpy(tvm_gpa2hva(tvm, 0x38000), "\x0f\xaa", 2);
	memset(save_area, 0xcc, sizeof(untouched));
	memcpy(untouched, save_area, sizeof(untouched));
	tvm_vcpu_entry(vcpu, guest_just_done, 0);
	if (ioctl(tvm_vcpu_fd(vcpu), KVM_SMI) < 0)
		SKIP("KVM_SMI: %s (no SMM emulation)", strerror(errno));
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 600 && tvm_vcpu_thread_state(vcpu) == TVM_THREAD_RUNNING; i++) {
		vmiop_event_wait(v, 100);
		while ((ev = vmiop_ring_peek(ring)) != NULL) {
			events++;
			ASSERT_EQ(vmiop_event_continue(v, ev), 0);
			vmiop_ring_advance(ring, 1);
		}
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	/* The SMI was taken: KVM saved the state there. */
	EXPECT_NE(memcmp(save_area, untouched, sizeof(untouched)), 0);
	EXPECT_EQ(events, 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(cr3_writes_exit_while_wanted)
{
	static const struct vmiop_filter_range cr3_only = { 3, 3 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t root = tvm_pt_root(tvm), alt = tvm_alloc_gpa(tvm, 4096, 4096);
	struct cr3_phases phases = { .v = vt_attach(tvm) };
	struct vmiop *v = phases.v;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	uint64_t *seen;
	int i;

	/* Another root with the same mappings. */
	memcpy(tvm_gpa2hva(tvm, alt), tvm_gpa2hva(tvm, root), 4096);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CR, -1, &cr3_only, 1), 0);
	tvm_vcpu_entry(vcpu, guest_cr3_writes, alt);
	tvm_vcpu_thread_start(vcpu, cr3_phase, &phases);

	for (i = 0; i < 3; i++) {
		struct vmiop_event_reply r = { 0 };

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
		EXPECT_EQ(ev->cr.cr, 3);
		EXPECT_EQ(ev->cr.old_value, i == 2 ? alt : root);
		EXPECT_EQ(ev->cr.new_value, alt);
		EXPECT_EQ(ev->regs.cr3, ev->cr.old_value);
		r.action = i == 0 ? VMIOP_ACTION_SKIP :
			   i == 1 ? VMIOP_ACTION_CONTINUE : VMIOP_ACTION_SET_RESULT;
		if (i == 2)
			r.value = root;
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	for (i = 0; i < CR3_EVENTS; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_FALSE(phases.disable_failed);
	seen = *TVM_GUEST_VAR(tvm, cr3_seen);
	EXPECT_EQ(seen[0], root);	/* denied */
	EXPECT_EQ(seen[1], alt);	/* allowed */
	EXPECT_EQ(seen[2], root);	/* replaced */
	/* Each wanted write exited; unwanted ones did not, before or after detach. */
	EXPECT_GE(phases.exits[1] - phases.exits[0], CR3_EVENTS);
	EXPECT_LT(phases.exits[2] - phases.exits[1], CR3_QUIET / 2);
	EXPECT_LT(phases.exits[3] - phases.exits[2], CR3_QUIET / 2);
	tvm_destroy(tvm);
}

#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_QUIET 1000

static uint64_t kgs_seen[3];

/*
 * KERNEL_GS_BASE: KVM lets the guest read and write it without exits on
 * both vendors.  Written, read back; then written MSR_QUIET times twice.
 */
static void guest_kernel_gs_base(uint64_t arg)
{
	int i;

	(void)arg;
	guest_wrmsr(MSR_KERNEL_GS_BASE, 0x1111000);
	kgs_seen[0] = guest_rdmsr(MSR_KERNEL_GS_BASE);
	guest_wrmsr(MSR_KERNEL_GS_BASE, 0x2222000);
	kgs_seen[1] = guest_rdmsr(MSR_KERNEL_GS_BASE);
	GUEST_SYNC(1);		/* the host disables MSR events */
	for (i = 0; i < MSR_QUIET; i++)
		guest_wrmsr(MSR_KERNEL_GS_BASE, i);
	GUEST_SYNC(2);		/* on again, then detach */
	for (i = 0; i < MSR_QUIET; i++)
		guest_wrmsr(MSR_KERNEL_GS_BASE, i);
	GUEST_SYNC(3);
	kgs_seen[2] = guest_rdmsr(MSR_KERNEL_GS_BASE);
	GUEST_DONE();
}

struct msr_phases {
	struct vmiop *v;
	uint64_t exits[4];
	bool failed;
};

static bool msr_phase(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	static const struct vmiop_filter_range kgs = { MSR_KERNEL_GS_BASE, MSR_KERNEL_GS_BASE };
	struct msr_phases *p = opaque;

	p->exits[uc->args[0] & 3] = tvm_vcpu_stat(vcpu, "exits");
	if (uc->args[0] == 1 && vmiop_event_disable(p->v, VMIOP_EVENT_MSR, -1))
		p->failed = true;
	if (uc->args[0] == 2) {
		if (vmiop_event_enable(p->v, VMIOP_EVENT_MSR, -1, &kgs, 1))
			p->failed = true;
		vmiop_close(p->v);
	}
	return true;
}

/*
 * An MSR KVM passes through exits while MSR events want it, reads too
 * with F_READS, and passes through again after disable and detach.
 */
TEST(passthrough_msr_exits_while_wanted)
{
	static const struct vmiop_filter_range kgs = { MSR_KERNEL_GS_BASE, MSR_KERNEL_GS_BASE };
	struct vmiop_event_control c = {
		.size = sizeof(c), .type = VMIOP_EVENT_MSR, .enable = 1,
		.flags = VMIOP_EVENT_CTL_F_READS, .nr_filter = 1, .filter = (uintptr_t)&kgs,
	};
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct msr_phases phases = { .v = vt_attach(tvm) };
	struct vmiop *v = phases.v;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	uint64_t *seen;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(xioctl(vmiop_fd(v), VMIOP_EVENT_CONTROL, &c), 0);
	tvm_vcpu_entry(vcpu, guest_kernel_gs_base, 0);
	tvm_vcpu_thread_start(vcpu, msr_phase, &phases);

	/* wrmsr: denied */
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_MSR);
	EXPECT_EQ(ev->msr.index, MSR_KERNEL_GS_BASE);
	EXPECT_EQ(ev->msr.write, 1);
	EXPECT_EQ(ev->msr.new_value, 0x1111000);
	{
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_SKIP };

		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	/* rdmsr: answered by vmiop */
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_MSR);
	EXPECT_EQ(ev->msr.write, 0);
	{
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_SET_RESULT,
					       .value = 0xabcd000 };

		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	/* wrmsr, then rdmsr: allowed */
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->msr.new_value, 0x2222000);
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->msr.write, 0);
	EXPECT_EQ(ev->msr.old_value, 0x2222000);
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);

	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_FALSE(phases.failed);
	seen = *TVM_GUEST_VAR(tvm, kgs_seen);
	EXPECT_EQ(seen[0], 0xabcd000);
	EXPECT_EQ(seen[1], 0x2222000);
	EXPECT_EQ(seen[2], MSR_QUIET - 1);
	EXPECT_LT(phases.exits[2] - phases.exits[1], MSR_QUIET / 2);
	EXPECT_LT(phases.exits[3] - phases.exits[2], MSR_QUIET / 2);
	tvm_destroy(tvm);
}

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SPEC_CTRL 0x48

static uint64_t tsc_seen;

/* RDMSR of the TSC: VMX lets every one run without an exit. */
static void guest_tsc_reads(uint64_t arg)
{
	int i;

	(void)arg;
	tsc_seen = guest_rdmsr(MSR_IA32_TSC);
	GUEST_SYNC(1);		/* the host disables MSR events */
	for (i = 0; i < MSR_QUIET; i++)
		guest_rdmsr(MSR_IA32_TSC);
	GUEST_SYNC(2);
	GUEST_DONE();
}

static bool tsc_phase(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct msr_phases *p = opaque;

	p->exits[uc->args[0] & 3] = tvm_vcpu_stat(vcpu, "exits");
	if (uc->args[0] == 1 && vmiop_event_disable(p->v, VMIOP_EVENT_MSR, -1))
		p->failed = true;
	return true;
}

/*
 * TSC reads exit while wanted, on VMX too, where KVM passes them through:
 * answered by vmiop, then quiet again after disable.
 */
TEST(tsc_reads_exit_while_wanted)
{
	static const struct vmiop_filter_range tsc = { MSR_IA32_TSC, MSR_IA32_TSC };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct msr_phases phases = { .v = vt_attach(tvm) };
	struct vmiop *v = phases.v;
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SET_RESULT, .value = 0x1234 };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable_flags(v, VMIOP_EVENT_MSR, VMIOP_EVENT_CTL_F_READS, &tsc, 1), 0);
	tvm_vcpu_entry(vcpu, guest_tsc_reads, 0);
	tvm_vcpu_thread_start(vcpu, tsc_phase, &phases);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_MSR);
	EXPECT_EQ(ev->msr.index, MSR_IA32_TSC);
	EXPECT_EQ(ev->msr.write, 0);
	EXPECT_NE(ev->msr.old_value, 0);
	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_FALSE(phases.failed);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, tsc_seen), 0x1234);
	/* KVM intercepts them on SVM itself; on VMX they pass through again. */
	if (vt_host_is_intel(v))
		EXPECT_LT(phases.exits[2] - phases.exits[1], MSR_QUIET / 2);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * SPEC_CTRL: KVM passes it through after the first non-zero write.  The
 * value is a bit the guest's CPUID offers (IBRS, STIBP or SSBD), or 0: no
 * SPEC_CTRL, nothing written.
 */
static void guest_spec_ctrl(uint64_t arg)
{
	uint32_t a, b, c, d;
	uint64_t v = 0;

	(void)arg;
	guest_cpuid(7, 0, &a, &b, &c, &d);
	if (d & (1u << 26))
		v = 1;				/* IBRS */
	guest_cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (!v && a >= 0x80000008) {
		guest_cpuid(0x80000008, 0, &a, &b, &c, &d);
		v = b & (1u << 14) ? 1 : b & (1u << 15) ? 2 : b & (1u << 24) ? 4 : 0;
	}
	GUEST_SYNC(v);
	if (v) {
		guest_wrmsr(MSR_IA32_SPEC_CTRL, v);
		guest_wrmsr(MSR_IA32_SPEC_CTRL, 0);
		guest_wrmsr(MSR_IA32_SPEC_CTRL, v);
		guest_wrmsr(MSR_IA32_SPEC_CTRL, 0);
	}
	GUEST_DONE();
}

struct spec_ctrl_sync {
	int seen;
	uint64_t value;
};

static bool spec_ctrl_on_sync(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct spec_ctrl_sync *p = opaque;

	(void)vcpu;
	p->value = uc->args[0];
	__atomic_store_n(&p->seen, 1, __ATOMIC_RELEASE);
	return true;
}

/* Every SPEC_CTRL write is an event, also after KVM passed it through. */
TEST(spec_ctrl_writes_keep_exiting)
{
	static const struct vmiop_filter_range sc = { MSR_IA32_SPEC_CTRL, MSR_IA32_SPEC_CTRL };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct spec_ctrl_sync sync = { 0 };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MSR, -1, &sc, 1), 0);
	tvm_vcpu_entry(vcpu, guest_spec_ctrl, 0);
	tvm_vcpu_thread_start(vcpu, spec_ctrl_on_sync, &sync);
	/* What the guest's CPUID offers; no timing: a generous bound. */
	for (i = 0; i < 120000 && !__atomic_load_n(&sync.seen, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	ASSERT_TRUE(sync.seen);
	if (!sync.value) {
		ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
		vmiop_close(v);
		tvm_destroy(tvm);
		SKIP("the guest's CPUID offers no SPEC_CTRL bit (IBRS, STIBP, SSBD) here");
	}
	for (i = 0; i < 4; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_MSR);
		EXPECT_EQ(ev->msr.index, MSR_IA32_SPEC_CTRL);
		EXPECT_EQ(ev->msr.new_value, i & 1 ? 0 : sync.value);
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static uint64_t cr3_changes_seen;

/* Same value, another value, same again, back: two changes. */
static void guest_cr3_changes(uint64_t alt)
{
	uint64_t root = guest_read_cr3();
	int i;

	for (i = 0; i < 10; i++)
		guest_write_cr3(root);
	guest_write_cr3(alt);
	guest_write_cr3(alt);
	guest_write_cr3(root);
	cr3_changes_seen = guest_read_cr3();
	GUEST_DONE();
}

TEST(cr3_writes_that_change_it_only)
{
	static const struct vmiop_filter_range cr3_only = { 3, 3 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t root = tvm_pt_root(tvm), alt = tvm_alloc_gpa(tvm, 4096, 4096);
	struct vmiop_event_control c = {
		.size = sizeof(c), .type = VMIOP_EVENT_CR, .enable = 1,
		.flags = VMIOP_EVENT_CTL_F_CHANGES, .nr_filter = 1,
		.filter = (uintptr_t)&cr3_only,
	};
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	int i;

	memcpy(tvm_gpa2hva(tvm, alt), tvm_gpa2hva(tvm, root), 4096);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(xioctl(vmiop_fd(v), VMIOP_EVENT_CONTROL, &c), 0);
	tvm_vcpu_entry(vcpu, guest_cr3_changes, alt);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
		EXPECT_EQ(ev->cr.old_value, i ? alt : root);
		EXPECT_EQ(ev->cr.new_value, i ? root : alt);
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, cr3_changes_seen), root);
	vmiop_close(v);
	tvm_destroy(tvm);
}

#define CR_READS_QUIET 2000

static uint64_t cr_read_seen[5];

/*
 * Reads of CR3 answered continue, set result (into R9: a REX-prefixed
 * encoding), skip; then CR0 and CR4, which exit only on SVM.  Then
 * CR_READS_QUIET reads of CR3 with reads not wanted, then after detach.
 */
static void guest_cr_reads(uint64_t arg)
{
	uint64_t r9, skipped = 0x5555000, v;
	int i;

	(void)arg;
	cr_read_seen[0] = guest_read_cr3();
	__asm__ __volatile__("mov %%cr3, %%r9; mov %%r9, %0" : "=r"(r9) : : "r9");
	cr_read_seen[1] = r9;
	__asm__ __volatile__("mov %%cr3, %%rax" : "+a"(skipped));
	cr_read_seen[2] = skipped;
	__asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
	cr_read_seen[3] = v;
	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	cr_read_seen[4] = v;
	GUEST_SYNC(0);
	for (i = 0; i < CR_READS_QUIET; i++)
		guest_read_cr3();
	GUEST_SYNC(1);
	for (i = 0; i < CR_READS_QUIET; i++)
		guest_read_cr3();
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * At SYNC(0) CR events stay on without reads; at SYNC(1) reads are
 * wanted again, then the session ends.
 */
static bool cr_read_phase(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	static const struct vmiop_filter_range crs = { 0, 4 };
	struct cr3_phases *p = opaque;

	p->exits[uc->args[0] & 3] = tvm_vcpu_stat(vcpu, "exits");
	if (uc->args[0] == 0 && vmiop_event_enable(p->v, VMIOP_EVENT_CR, -1, &crs, 1))
		p->disable_failed = true;
	if (uc->args[0] == 1) {
		if (vmiop_event_enable_flags(p->v, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS,
					     &crs, 1))
			p->disable_failed = true;
		vmiop_close(p->v);
	}
	return true;
}

TEST(cr_reads_each_reply_while_wanted)
{
	static const struct vmiop_filter_range crs = { 0, 4 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t root = tvm_pt_root(tvm);
	struct cr3_phases phases = { .v = vt_attach(tvm) };
	struct vmiop *v = phases.v;
	struct vmiop_event_caps caps;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	uint64_t *seen;
	unsigned int cr;
	int i;

	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable_flags(v, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS, &crs, 1), 0);
	tvm_vcpu_entry(vcpu, guest_cr_reads, 0);
	tvm_vcpu_thread_start(vcpu, cr_read_phase, &phases);

	for (i = 0; i < 3; i++) {
		struct vmiop_event_reply r = { 0 };

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
		EXPECT_EQ(ev->cr.cr, 3);
		EXPECT_EQ(ev->cr.write, 0);
		EXPECT_EQ(ev->cr.old_value, root);
		EXPECT_EQ(ev->cr.new_value, root);
		EXPECT_EQ(ev->regs.cr3, root);
		r.action = i == 0 ? VMIOP_ACTION_CONTINUE :
			   i == 1 ? VMIOP_ACTION_SET_RESULT : VMIOP_ACTION_SKIP;
		if (i == 1)
			r.value = 0x1234000;
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	for (cr = 0; cr <= 4; cr += 4) {
		if (!(caps.cr_reads & 1u << cr))
			continue;
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
		EXPECT_EQ(ev->cr.cr, cr);
		EXPECT_EQ(ev->cr.write, 0);
		EXPECT_EQ(ev->cr.old_value, cr ? ev->regs.cr4 : ev->regs.cr0);
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_FALSE(phases.disable_failed);
	seen = *TVM_GUEST_VAR(tvm, cr_read_seen);
	EXPECT_EQ(seen[0], root);		/* continue */
	EXPECT_EQ(seen[1], 0x1234000);		/* set result */
	EXPECT_EQ(seen[2], 0x5555000);		/* skip */
	EXPECT_TRUE(seen[3] & 1);		/* CR0.PE, whoever served it */
	EXPECT_TRUE(seen[4] & (1u << 5));	/* CR4.PAE */
	/* Not wanted, then detached: the reads no longer exit. */
	EXPECT_LT(phases.exits[1] - phases.exits[0], CR_READS_QUIET / 2);
	EXPECT_LT(phases.exits[2] - phases.exits[1], CR_READS_QUIET / 2);
	tvm_destroy(tvm);
}

static inline uint64_t rdmsr_preloaded(uint32_t msr)
{
	uint32_t lo = 0xaaaa, hi = 0xbbbb;

	__asm__ __volatile__("rdmsr" : "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
	return ((uint64_t)hi << 32) | lo;
}

static void guest_msrs(uint64_t arg)
{
	(void)arg;
	msr_seen[0] = rdmsr_preloaded(MSR_PAT);		/* 1: continue */
	guest_wrmsr(MSR_PAT, PAT_A);			/* 2: denied */
	msr_seen[1] = rdmsr_preloaded(MSR_PAT);		/* 3: continue */
	guest_wrmsr(MSR_PAT, PAT_A);			/* 4: replaced by B */
	msr_seen[2] = rdmsr_preloaded(MSR_PAT);		/* 5: answered 0x1234 */
	msr_seen[3] = rdmsr_preloaded(MSR_PAT);		/* 6: skipped */
	msr_seen[4] = rdmsr_preloaded(MSR_PAT);		/* 7: continue */
	guest_wrmsr(0x1a0, guest_rdmsr(0x1a0));	/* MISC_ENABLE: filtered out */
	GUEST_DONE();
}

TEST(msr_reads_and_writes_each_reply)
{
	static const struct vmiop_filter_range pat = { MSR_PAT, MSR_PAT };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_event_control c = {
		.size = sizeof(c), .type = VMIOP_EVENT_MSR, .enable = 1,
		.flags = VMIOP_EVENT_CTL_F_READS, .nr_filter = 1,
		.filter = (uintptr_t)&pat,
	};
	uint64_t pat0 = 0, *seen;
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	int i;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_EVENT_CONTROL, &c), 0);
	tvm_vcpu_entry(vcpu, guest_msrs, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 1; i <= 7; i++) {
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };
		struct vmiop_event *ev = vt_next_event(v, ring);
		bool write = i == 2 || i == 4;

		ASSERT_TRUE(ev != NULL);
		EXPECT_EQ(ev->type, VMIOP_EVENT_MSR);
		EXPECT_EQ(ev->seq, (uint64_t)i);
		EXPECT_EQ(ev->msr.index, MSR_PAT);
		EXPECT_EQ(ev->msr.write, write);
		if (i == 1)
			pat0 = ev->msr.old_value;
		if (write)
			EXPECT_EQ(ev->msr.new_value, PAT_A);
		EXPECT_EQ(ev->msr.old_value, i > 4 ? PAT_B : pat0);
		if (i == 2 || i == 6)
			r.action = VMIOP_ACTION_SKIP;
		if (i == 4 || i == 5) {
			r.action = VMIOP_ACTION_SET_RESULT;
			r.value = i == 4 ? PAT_B : 0x1234;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	seen = *TVM_GUEST_VAR(tvm, msr_seen);
	EXPECT_EQ(seen[0], pat0);
	EXPECT_EQ(seen[1], pat0);			/* the write was denied */
	EXPECT_EQ(seen[2], 0x1234);			/* answered by us */
	EXPECT_EQ(seen[3], 0xbbbb0000aaaaULL);		/* skipped */
	EXPECT_EQ(seen[4], PAT_B);			/* the replaced write */

	/* Without F_READS only the writes come. */
	c.flags = 0;
	ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_EVENT_CONTROL, &c), 0);
	tvm_vcpu_entry(vcpu, guest_msrs, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 2; i++) {
		struct vmiop_event *ev = vt_next_event(v, ring);

		ASSERT_TRUE(ev != NULL);
		EXPECT_EQ(ev->msr.write, 1);
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	/* F_READS is for MSRs, set when enabling the whole VM. */
	c.type = VMIOP_EVENT_CPUID;
	c.flags = VMIOP_EVENT_CTL_F_READS;
	c.nr_filter = 0;
	c.filter = 0;
	ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_EVENT_CONTROL, &c), -1);
	EXPECT_EQ(errno, EINVAL);
	vmiop_close(v);
	tvm_destroy(tvm);
}

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
