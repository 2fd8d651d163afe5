// SPDX-License-Identifier: GPL-2.0
/*
 * DEBUG events: the guest's own #DB, from its trap flag or a data
 * breakpoint, swallowed or delivered.
 */
#define _GNU_SOURCE
#include <sched.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

extern const char vt_db1[], vt_db2[], vt_db3[], vt_db4[], vt_db5[];

static void guest_own_trap_flag(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_exception);
	/* POPF sets TF: #DB after the instruction that follows it. */
	__asm__ __volatile__(
		"pushfq; orq $0x100, (%%rsp); popfq\n"
		".globl vt_db1\n vt_db1: nop\n"
		".globl vt_db2\n vt_db2: nop\n"
		".globl vt_db3\n vt_db3: nop\n" ::: "memory", "cc");
	GUEST_SYNC(1);
	__asm__ __volatile__(
		"pushfq; orq $0x100, (%%rsp); popfq\n"
		".globl vt_db4\n vt_db4: nop\n"
		".globl vt_db5\n vt_db5: nop\n" ::: "memory", "cc");
	GUEST_DONE();
}

TEST(debug_exception_swallowed_delivered_then_disabled)
{
	static const struct vmiop_filter_range db_only = { 1, 1 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action off = { v, VMIOP_EVENT_DEBUG, false };
	struct vmiop_ring *ring;
	struct vmiop_event *ev;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DEBUG, -1, &db_only, 1), 0);
	tvm_vcpu_entry(vcpu, guest_own_trap_flag, 0);
	tvm_vcpu_thread_start(vcpu, sync_toggle, &off);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_DEBUG);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_db2);
	EXPECT_TRUE(ev->debug.dr6 & DR6_BS);
	/* Swallowed: TF stays set, so the next instruction traps again. */
	reply(v, ring, ev, VMIOP_ACTION_SKIP);

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_DEBUG);
	EXPECT_EQ(ev->regs.rip, (uintptr_t)vt_db3);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);	/* the guest's handler runs */

	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_seen_count), 2);
	EXPECT_EQ(guest_seen_rip(tvm, 0), (uintptr_t)vt_db3);
	EXPECT_EQ(guest_seen_rip(tvm, 1), (uintptr_t)vt_db5);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A data breakpoint of the guest's own: DR0 on a variable, DR7 L0 with
 * R/W0 = 01 (writes) and LEN0 = 11 (4 bytes).  The #DB is a trap: RIP is
 * past the write.
 */
static volatile uint32_t watched;
static uint64_t guest_dr6_seen[4];
static uint64_t guest_dr6_count;

static bool guest_on_watch(struct tvm_exc_frame *f)
{
	uint64_t dr6;

	if (f->vector != 1)
		return false;
	__asm__ __volatile__("mov %%dr6, %0" : "=r"(dr6));
	guest_dr6_seen[guest_dr6_count++ & 3] = dr6;
	__asm__ __volatile__("mov %0, %%dr6" : : "r"(0xffff0ff0ull));
	return true;
}

static void guest_watchpoint(uint64_t writes)
{
	uint64_t i;

	tvm_guest_set_exc_handler(guest_on_watch);
	__asm__ __volatile__("mov %0, %%dr0" : : "r"((uint64_t)(uintptr_t)&watched));
	__asm__ __volatile__("mov %0, %%dr7" : : "r"((3ull << 18) | (1ull << 16) | 1));
	for (i = 0; i < writes; i++)
		watched = i;
	__asm__ __volatile__("mov %0, %%dr7" : : "r"(0ull));
	GUEST_DONE();
}

/* Whether this machine delivers the guest's data breakpoints at all. */
static void skip_unless_data_breakpoints(void)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct ucall uc;
	uint64_t hits;

	tvm_vcpu_entry(vcpu, guest_watchpoint, 1);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_DONE);
	hits = *TVM_GUEST_VAR(tvm, guest_dr6_count);
	tvm_destroy(tvm);
	if (hits != 1)
		SKIP("the emulator raised %llu #DB for a DR0 write watchpoint, not 1",
		     (unsigned long long)hits);
}

/*
 * QEMU's TCG lost a nested guest's data breakpoint about once in forty
 * runs: the #DB never came (guest, KVM and vmiop saw none).  Its
 * watchpoints are per emulated CPU, and the vCPU thread may move between
 * the two L1 CPUs; kept on one CPU, no loss has been seen
 * (selftests/vm/README.md).
 */
static void stay_on_one_cpu(void)
{
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
}

TEST(debug_event_for_a_guest_data_breakpoint)
{
	static const struct vmiop_filter_range db_only = { 1, 1 };
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct tvm *tvm;
	struct vmiop *v;
	int i;

	stay_on_one_cpu();
	skip_unless_data_breakpoints();
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DEBUG, -1, &db_only, 1), 0);
	tvm_vcpu_entry(vcpu, guest_watchpoint, 3);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < 3; i++) {
		int waited;

		/* Say where things stand if an event does not come. */
		for (waited = 0; waited < 60 && !vmiop_ring_ready(ring); waited++)
			vmiop_event_wait(v, 1000);
		if (!vmiop_ring_ready(ring)) {
			struct vmiop_regs r = { 0 };

			vmiop_pause(v);
			vmiop_get_regs(v, 0, &r);
			vmtest_diag("no event %d: guest #DBs %llu, thread %d, rip %#llx dr6 %#llx "
				    "dr7 %#llx, exits %llu", i,
				    (unsigned long long)*TVM_GUEST_VAR(tvm, guest_dr6_count),
				    (int)tvm_vcpu_thread_state(vcpu), (unsigned long long)r.rip,
				    (unsigned long long)r.dr6, (unsigned long long)r.dr7,
				    (unsigned long long)tvm_vcpu_stat(vcpu, "exits"));
			vmtest_fail_now();
		}
		ev = vmiop_ring_peek(ring);
		ASSERT_EQ(ev->type, VMIOP_EVENT_DEBUG);
		EXPECT_TRUE(ev->debug.dr6 & 1);			/* B0 */
		EXPECT_EQ(ev->debug.dr7 & 0xf0003, (3u << 18) | (1u << 16) | 1);
		EXPECT_EQ(ev->regs.dr0, (uintptr_t)&watched);
		/* the second is swallowed, the others delivered */
		reply(v, ring, ev, i == 1 ? VMIOP_ACTION_SKIP : VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_dr6_count), 2);
	EXPECT_TRUE((*TVM_GUEST_VAR(tvm, guest_dr6_seen))[0] & 1);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
