// SPDX-License-Identifier: GPL-2.0
/*
 * MSR events: reads and writes with each reply, and MSRs KVM passes
 * through (KERNEL_GS_BASE, the TSC, SPEC_CTRL) exiting while wanted only.
 */
#include <sys/ioctl.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

#define PAT_A		0x0007040600070401ULL
#define PAT_B		0x0007040600070404ULL

static uint64_t msr_seen[5];

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

/* RDMSR with EDX:EAX preloaded, so that a skipped one is visible. */
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

VMTEST_MAIN()
