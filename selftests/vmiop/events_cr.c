// SPDX-License-Identifier: GPL-2.0
/*
 * CR events: writes of CR0, CR3, CR4 with each reply, CR3 writes that
 * change it only, reads while wanted, no exits once unwanted or detached,
 * and none for RSM's state loads.
 */
#include <sys/ioctl.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

#define CR0_AM	(1ULL << 18)
#define CR4_TSD	(1ULL << 2)

static uint64_t cr_seen[5][2];		/* CR0 and CR4 after each step */
static uint64_t cr3_seen[3];

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

/*
 * With EPT/NPT KVM lets CR3 writes run without exits; vmiop turns the
 * exit on while CR3 events are wanted, and off again.
 */
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

VMTEST_MAIN()
