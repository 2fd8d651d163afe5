// SPDX-License-Identifier: GPL-2.0
/*
 * Memory-access events: page rights in EPT/NPT, each access kind, each
 * reply, ranges, KVM rebuilding its entries, several vCPUs, the guest's
 * own page walks, the end of the session, and bad requests.
 */
#include <sys/mman.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

#define PAGE		4096ULL
#define RX		(VMIOP_ACCESS_R | VMIOP_ACCESS_X)
#define RW		(VMIOP_ACCESS_R | VMIOP_ACCESS_W)
#define NONE		0u

/* ---- guest: a script of accesses --------------------------------------- */

enum op_kind { OP_WRITE = 1, OP_READ, OP_EXEC, OP_SYNC, OP_INVLPG };

struct mem_op {
	uint64_t kind;
	uint64_t addr;
	uint64_t val;
};

#define MAX_OPS 32
struct mem_op mem_ops[MAX_OPS];
uint64_t mem_results[MAX_OPS];
uint64_t mem_done;

/* Runs mem_ops[0..n): each access one instruction the host can reply to. */
static void guest_mem_ops(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++) {
		struct mem_op *op = &mem_ops[i];

		switch (op->kind) {
		case OP_WRITE:
			*(volatile uint64_t *)op->addr = op->val;
			break;
		case OP_READ:
			mem_results[i] = *(volatile uint64_t *)op->addr;
			break;
		case OP_EXEC:
			mem_results[i] = ((uint64_t (*)(void))op->addr)();
			break;
		case OP_SYNC:
			GUEST_SYNC(op->val);
			break;
		case OP_INVLPG:
			guest_invlpg(op->addr);
			break;
		}
		mem_done = i + 1;
	}
	GUEST_DONE();
}

/* mov $0x1234abcd, %eax; ret */
static const uint8_t exec_code[] = { 0xb8, 0xcd, 0xab, 0x34, 0x12, 0xc3 };

static unsigned int nr_ops;

static void add_op(struct tvm *tvm, uint64_t kind, uint64_t addr, uint64_t val)
{
	struct mem_op *ops = *TVM_GUEST_VAR(tvm, mem_ops);

	ASSERT_LT(nr_ops, MAX_OPS);
	ops[nr_ops].kind = kind;
	ops[nr_ops].addr = addr;
	ops[nr_ops].val = val;
	nr_ops++;
}

static void start_ops(struct tvm *tvm, unsigned int vcpu, tvm_sync_cb on_sync, void *opaque)
{
	tvm_vcpu_entry(tvm_vcpu(tvm, vcpu), guest_mem_ops, nr_ops);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, vcpu), on_sync, opaque);
}

static uint64_t guest_u64(struct tvm *tvm, uint64_t gpa)
{
	return *(volatile uint64_t *)tvm_gpa2hva(tvm, gpa);
}

static uint64_t result(struct tvm *tvm, unsigned int i)
{
	return (*TVM_GUEST_VAR(tvm, mem_results))[i];
}

static struct vmiop *mem_session(struct tvm *tvm, struct vmiop_ring **ring)
{
	struct vmiop *v = vt_attach(tvm);

	ASSERT_TRUE((*ring = vt_ring_setup(v, 16)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MEM, -1, NULL, 0), 0);
	return v;
}

static uint64_t alloc_page(struct tvm *tvm)
{
	return tvm_alloc_gpa(tvm, PAGE, PAGE);
}

static struct vmiop_event *next_mem_event(struct vmiop *v, struct vmiop_ring *ring)
{
	struct vmiop_event *ev = vt_next_event(v, ring);

	ASSERT_TRUE(ev != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_MEM);
	return ev;
}

static void reply_mem(struct vmiop *v, struct vmiop_ring *ring, struct vmiop_event *ev,
		      struct vmiop_event_reply *r)
{
	ASSERT_EQ(vmiop_event_reply(v, ev, r), 0);
	vmiop_ring_advance(ring, 1);
}

/*
 * Answers every event with @action until vCPU 0's thread ends, after
 * @check looked at it (with @ctx); returns how many there were.
 */
static unsigned int answer_until_done(struct tvm *tvm, struct vmiop *v, struct vmiop_ring *ring,
				      uint32_t action,
				      void (*check)(const struct vmiop_event *ev, void *ctx),
				      void *ctx)
{
	struct vmiop_event_reply r = { .action = action };
	struct vmiop_event *ev;
	unsigned int n = 0;

	while (tvm_vcpu_thread_state(tvm_vcpu(tvm, 0)) == TVM_THREAD_RUNNING) {
		if (vmiop_event_wait(v, 100) <= 0)
			continue;
		while ((ev = vmiop_ring_peek(ring))) {
			EXPECT_EQ(ev->type, VMIOP_EVENT_MEM);
			check(ev, ctx);
			n++;
			reply_mem(v, ring, ev, &r);
		}
	}
	return n;
}

/* The linear address is reported where the hardware has it (VMX). */
static void expect_gla(struct vmiop *v, const struct vmiop_event *ev, uint64_t gla)
{
	if (vt_host_is_intel(v)) {
		EXPECT_TRUE(ev->mem.flags & VMIOP_MEM_F_GLA_VALID);
		EXPECT_EQ(ev->mem.gla, gla);
	} else {
		EXPECT_FALSE(ev->mem.flags & VMIOP_MEM_F_GLA_VALID);
	}
}

/* ---- tests ------------------------------------------------------------- */

TEST(write_read_and_exec_restrictions_each_report_their_access)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = alloc_page(tvm), rp = alloc_page(tvm), xp = alloc_page(tvm);
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_RETRY };
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct vmiop_event *ev;
	uint8_t rights[3];

	memcpy(tvm_gpa2hva(tvm, xp), exec_code, sizeof(exec_code));
	*(uint64_t *)tvm_gpa2hva(tvm, rp + 16) = 0x5eed;
	nr_ops = 0;
	add_op(tvm, OP_WRITE, wp + 8, 0x11);
	add_op(tvm, OP_READ, rp + 16, 0);
	add_op(tvm, OP_EXEC, xp, 0);
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, RX), 0);
	ASSERT_EQ(vmiop_set_mem_access(v, rp / PAGE, 1, NONE), 0);
	ASSERT_EQ(vmiop_set_mem_access(v, xp / PAGE, 1, RW), 0);
	ASSERT_EQ(vmiop_get_mem_access(v, wp / PAGE, 1, &rights[0]), 0);
	ASSERT_EQ(vmiop_get_mem_access(v, rp / PAGE, 1, &rights[1]), 0);
	ASSERT_EQ(vmiop_get_mem_access(v, xp / PAGE, 1, &rights[2]), 0);
	EXPECT_EQ(rights[0], RX);
	EXPECT_EQ(rights[1], NONE);
	EXPECT_EQ(rights[2], RW);
	start_ops(tvm, 0, NULL, NULL);

	/* Each is reported with what it tried; rights given back, it runs. */
	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, wp + 8);
	EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_W);
	EXPECT_EQ(ev->mem.rights, RX);
	EXPECT_FALSE(ev->mem.flags & VMIOP_MEM_F_PAGE_WALK);
	expect_gla(v, ev, wp + 8);
	EXPECT_EQ(ev->regs.cr3, tvm_pt_root(tvm));
	EXPECT_EQ(guest_u64(tvm, wp + 8), 0);
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, VMIOP_ACCESS_RWX), 0);
	reply_mem(v, ring, ev, &r);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, rp + 16);
	EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_R);
	EXPECT_EQ(ev->mem.rights, NONE);
	expect_gla(v, ev, rp + 16);
	ASSERT_EQ(vmiop_set_mem_access(v, rp / PAGE, 1, VMIOP_ACCESS_RWX), 0);
	reply_mem(v, ring, ev, &r);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa & ~(PAGE - 1), xp);
	EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_X);
	EXPECT_EQ(ev->mem.rights, RW);
	EXPECT_EQ(ev->regs.rip, xp);
	ASSERT_EQ(vmiop_set_mem_access(v, xp / PAGE, 1, VMIOP_ACCESS_RWX), 0);
	reply_mem(v, ring, ev, &r);

	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(guest_u64(tvm, wp + 8), 0x11);
	EXPECT_EQ(result(tvm, 1), 0x5eed);
	EXPECT_EQ(result(tvm, 2), 0x1234abcd);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(each_reply_has_its_effect)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = alloc_page(tvm), rp = alloc_page(tvm);
	uint64_t data = 0x0123456789abcdefULL;
	struct vmiop_event_reply r;
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct vmiop_event *ev;

	*(uint64_t *)tvm_gpa2hva(tvm, wp) = 0xaa;
	*(uint64_t *)tvm_gpa2hva(tvm, rp) = 0xbb;
	nr_ops = 0;
	add_op(tvm, OP_WRITE, wp, 1);		/* skip: dropped */
	add_op(tvm, OP_WRITE, wp + 8, 2);	/* emulate: lands */
	add_op(tvm, OP_WRITE, wp + 8, 3);	/* still restricted: continue (step over) */
	add_op(tvm, OP_WRITE, wp + 8, 4);	/* still restricted: retry, rights given */
	add_op(tvm, OP_READ, rp, 0);		/* emulate with data */
	add_op(tvm, OP_READ, rp, 0);		/* continue: memory's own */
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, RX), 0);
	ASSERT_EQ(vmiop_set_mem_access(v, rp / PAGE, 1, NONE), 0);
	start_ops(tvm, 0, NULL, NULL);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, wp);
	r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_SKIP };
	reply_mem(v, ring, ev, &r);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, wp + 8);
	r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_EMULATE };
	reply_mem(v, ring, ev, &r);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, wp + 8);
	EXPECT_EQ(guest_u64(tvm, wp + 8), 2);
	r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_CONTINUE };
	reply_mem(v, ring, ev, &r);

	/* Exactly that one went through: the next write is an event again. */
	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, wp + 8);
	EXPECT_EQ(guest_u64(tvm, wp + 8), 3);
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, VMIOP_ACCESS_RWX), 0);
	r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_RETRY };
	reply_mem(v, ring, ev, &r);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, rp);
	EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_R);
	r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_EMULATE };
	r.emul_read.data = (uintptr_t)&data;
	r.emul_read.len = sizeof(data);
	reply_mem(v, ring, ev, &r);

	ev = next_mem_event(v, ring);
	EXPECT_EQ(ev->mem.gpa, rp);
	r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_CONTINUE };
	reply_mem(v, ring, ev, &r);

	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(guest_u64(tvm, wp), 0xaa);
	EXPECT_EQ(guest_u64(tvm, wp + 8), 4);
	EXPECT_EQ(result(tvm, 4), data);
	EXPECT_EQ(result(tvm, 5), 0xbb);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* SYNC(1) of the ranges test: every page back in one call, before the guest goes on. */
struct ranges_sync {
	struct vmiop *v;
	uint64_t gfn, nr;
};

static bool give_rights_back(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct ranges_sync *rs = opaque;

	(void)vcpu;
	return uc->args[0] != 1 ||
	       vmiop_set_mem_access(rs->v, rs->gfn, rs->nr, VMIOP_ACCESS_RWX) == 0;
}

TEST(ranges_of_ten_thousand_pages)
{
	const uint64_t nr = 10000;
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t base = tvm_alloc_gpa(tvm, (nr + 2) * PAGE, PAGE) + PAGE;
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SKIP };
	uint64_t targets[3] = { base, base + nr / 2 * PAGE, base + (nr - 1) * PAGE };
	uint8_t *rights = malloc(nr + 2);
	struct ranges_sync rs;
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct vmiop_event *ev;
	uint64_t i;

	ASSERT_TRUE(rights != NULL);
	nr_ops = 0;
	for (i = 0; i < 3; i++)
		add_op(tvm, OP_WRITE, targets[i], 0x77);
	add_op(tvm, OP_SYNC, 0, 1);
	for (i = 0; i < 3; i++)
		add_op(tvm, OP_WRITE, targets[i], 0x78);
	ASSERT_EQ(vmiop_set_mem_access(v, base / PAGE, nr, RX), 0);
	ASSERT_EQ(vmiop_get_mem_access(v, base / PAGE - 1, nr + 2, rights), 0);
	EXPECT_EQ(rights[0], VMIOP_ACCESS_RWX);
	EXPECT_EQ(rights[nr + 1], VMIOP_ACCESS_RWX);
	for (i = 1; i <= nr; i++)
		if (rights[i] != RX)
			break;
	EXPECT_EQ(i, nr + 1);
	rs.v = v;
	rs.gfn = base / PAGE;
	rs.nr = nr;
	start_ops(tvm, 0, give_rights_back, &rs);

	for (i = 0; i < 3; i++) {
		ev = next_mem_event(v, ring);
		EXPECT_EQ(ev->mem.gpa, targets[i]);
		reply_mem(v, ring, ev, &r);
	}
	/* All back in one call (SYNC(1)); then the writes run without events. */
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	ASSERT_EQ(vmiop_get_mem_access(v, base / PAGE, nr, rights), 0);
	for (i = 0; i < nr; i++)
		if (rights[i] != VMIOP_ACCESS_RWX)
			break;
	EXPECT_EQ(i, nr);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(guest_u64(tvm, targets[i]), 0x78);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	free(rights);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* SYNC(1): the host drops the page after the restricted one (KVM zaps). */
static uint64_t zap_neighbour;

static bool drop_neighbour(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct tvm *tvm = opaque;

	(void)vcpu;
	return uc->args[0] != 1 ||
	       madvise(tvm_gpa2hva(tvm, zap_neighbour), PAGE, MADV_DONTNEED) == 0;
}

TEST(restriction_survives_kvm_dropping_its_entries)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = tvm_alloc_gpa(tvm, 2 * PAGE, PAGE);
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SKIP };
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct vmiop_event *ev;
	int i;

	zap_neighbour = wp + PAGE;
	*(uint64_t *)tvm_gpa2hva(tvm, wp) = 0xaa;
	nr_ops = 0;
	add_op(tvm, OP_WRITE, wp, 1);
	add_op(tvm, OP_WRITE, zap_neighbour, 5);
	add_op(tvm, OP_SYNC, 0, 1);
	add_op(tvm, OP_WRITE, wp, 2);
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, RX), 0);
	start_ops(tvm, 0, drop_neighbour, tvm);
	for (i = 0; i < 2; i++) {
		ev = next_mem_event(v, ring);
		EXPECT_EQ(ev->mem.gpa, wp);
		EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_W);
		reply_mem(v, ring, ev, &r);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(guest_u64(tvm, wp), 0xaa);
	EXPECT_EQ(guest_u64(tvm, zap_neighbour), 0);	/* dropped: zero-filled again */
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * SYNC(1): the VMM changes the memslot holding the restricted page: dirty
 * logging on and off (flags only), then the slot deleted and created
 * again (fresh per-slot state in KVM), the guest's memory the same.
 */
static uint64_t slot_page;

static bool churn_memslot(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct tvm *tvm = opaque;
	uint64_t half = tvm_slot_boundary(tvm);
	unsigned int slot = slot_page >= half;
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = slot * half, .memory_size = half,
		.userspace_addr = (uintptr_t)tvm_gpa2hva(tvm, slot * half),
	};
	uint64_t size = r.memory_size;

	(void)vcpu;
	if (uc->args[0] != 1)
		return true;
	r.flags = KVM_MEM_LOG_DIRTY_PAGES;
	if (ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r))
		return false;
	r.flags = 0;
	if (ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r))
		return false;
	r.memory_size = 0;
	if (ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r))
		return false;
	r.memory_size = size;
	return ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r) == 0;
}

TEST(restriction_survives_memslot_changes)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SKIP };
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct vmiop_event *ev;
	uint8_t rights;
	int i;

	/*
	 * In the middle of a 2 MiB the host backs with a huge page, which
	 * KVM would map with one entry were the page's counters not raised
	 * in the new memslot too.
	 */
	slot_page = tvm_alloc_gpa(tvm, TVM_PAGE_2M, TVM_PAGE_2M);
	if (madvise(tvm_gpa2hva(tvm, slot_page), TVM_PAGE_2M, MADV_HUGEPAGE))
		vmtest_diag("no transparent huge pages in this kernel (%s): 4 KiB mappings only",
			    strerror(errno));
	memset(tvm_gpa2hva(tvm, slot_page), 0, TVM_PAGE_2M);
	slot_page += 5 * PAGE;
	*(uint64_t *)tvm_gpa2hva(tvm, slot_page) = 0xaa;
	nr_ops = 0;
	add_op(tvm, OP_READ, slot_page - 5 * PAGE, 0);	/* maps the 2 MiB first */
	add_op(tvm, OP_WRITE, slot_page, 1);
	add_op(tvm, OP_SYNC, 0, 1);
	add_op(tvm, OP_READ, slot_page - 5 * PAGE, 0);
	add_op(tvm, OP_WRITE, slot_page, 2);
	ASSERT_EQ(vmiop_set_mem_access(v, slot_page / PAGE, 1, RX), 0);
	start_ops(tvm, 0, churn_memslot, tvm);
	for (i = 0; i < 2; i++) {
		ev = next_mem_event(v, ring);
		EXPECT_EQ(ev->mem.gpa, slot_page);
		EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_W);
		reply_mem(v, ring, ev, &r);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(tvm_vcpu_thread_syncs(tvm_vcpu(tvm, 0), NULL), 1);
	EXPECT_EQ(guest_u64(tvm, slot_page), 0xaa);
	ASSERT_EQ(vmiop_get_mem_access(v, slot_page / PAGE, 1, &rights), 0);
	EXPECT_EQ(rights, RX);
	vmiop_close(v);
	tvm_destroy(tvm);
}

#define STEPS 20

/* Each vCPU writes its slot STEPS times: 1, 2, ... */
static void guest_count_writes(uint64_t arg)
{
	volatile uint64_t *slot = (volatile uint64_t *)mem_ops[0].addr + arg;
	uint64_t i;

	for (i = 1; i <= STEPS; i++)
		*slot = i;
	GUEST_DONE();
}

TEST(step_over_lets_exactly_one_access_through_on_each_vcpu)
{
	struct tvm *tvm = tvm_create(2, 0);
	uint64_t wp = alloc_page(tvm);
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };
	unsigned int events[2] = { 0 }, i;
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct vmiop_event *ev;

	(*TVM_GUEST_VAR(tvm, mem_ops))[0].addr = wp;
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, RX), 0);
	for (i = 0; i < 2; i++) {
		tvm_vcpu_entry(tvm_vcpu(tvm, i), guest_count_writes, i);
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), NULL, NULL);
	}
	/*
	 * Every write is an event, and the one let through is the one
	 * reported: while a vCPU steps over its write, the other's waits.
	 */
	for (i = 0; i < 2 * STEPS; i++) {
		ev = next_mem_event(v, ring);
		ASSERT_LT(ev->vcpu, 2);
		EXPECT_EQ(ev->mem.gpa, wp + 8 * ev->vcpu);
		EXPECT_EQ(guest_u64(tvm, wp + 8 * ev->vcpu), events[ev->vcpu]);
		events[ev->vcpu]++;
		reply_mem(v, ring, ev, &r);
	}
	for (i = 0; i < 2; i++)
		ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, i)), TVM_THREAD_DONE);
	EXPECT_EQ(events[0], STEPS);
	EXPECT_EQ(events[1], STEPS);
	EXPECT_EQ(guest_u64(tvm, wp), STEPS);
	EXPECT_EQ(guest_u64(tvm, wp + 8), STEPS);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

struct walk_expect {
	uint64_t pt, gva;
};

static void check_walk(const struct vmiop_event *ev, void *ctx)
{
	const struct walk_expect *w = ctx;

	EXPECT_EQ(ev->mem.gpa & ~(PAGE - 1), w->pt);
	EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_W);
	EXPECT_TRUE(ev->mem.flags & VMIOP_MEM_F_PAGE_WALK);
	if (ev->mem.flags & VMIOP_MEM_F_GLA_VALID)
		EXPECT_EQ(ev->mem.gla, w->gva);
}

TEST(a_write_protected_page_table_reports_the_guest_page_walk)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t data = alloc_page(tvm), gva = 0x7f0000000000ULL, pt, *pte;
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct walk_expect we;
	unsigned int walks;

	tvm_map(tvm, gva, data, PAGE, TVM_PTE_W);
	pte = tvm_pte(tvm, gva, PAGE);
	*pte &= ~(TVM_PTE_A | TVM_PTE_D);	/* the walk must set A: a write */
	pt = tvm_hva2gpa(tvm, pte) & ~(PAGE - 1);
	*(uint64_t *)tvm_gpa2hva(tvm, data) = 0xda7a;
	nr_ops = 0;
	add_op(tvm, OP_INVLPG, gva, 0);
	add_op(tvm, OP_READ, gva, 0);
	ASSERT_EQ(vmiop_set_mem_access(v, pt / PAGE, 1, RX), 0);
	start_ops(tvm, 0, NULL, NULL);

	/* Until the read is done, each walk through the page table is an event. */
	we.pt = pt;
	we.gva = gva;
	walks = answer_until_done(tvm, v, ring, VMIOP_ACTION_CONTINUE, check_walk, &we);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_GE(walks, 1);
	EXPECT_EQ(result(tvm, 1), 0xda7a);
	EXPECT_TRUE(*pte & TVM_PTE_A);
	vmiop_close(v);
	tvm_destroy(tvm);
}

#define GIB_PTS		512			/* page tables mapping 1 GiB */
#define WIN_PAGES	512			/* the RAM it maps, repeated */

/* Reads one u64 in each 2 MiB of the 1 GiB at @gva: one walk per page table. */
static void guest_read_gib(uint64_t gva)
{
	uint64_t i, sum = 0;

	for (i = 0; i < GIB_PTS; i++)
		sum += *(volatile uint64_t *)(gva + i * TVM_PAGE_2M);
	mem_results[0] = sum;
	GUEST_DONE();
}

struct gib_expect {
	uint64_t pts, pd;
};

static void check_gib_walk(const struct vmiop_event *ev, void *ctx)
{
	const struct gib_expect *g = ctx;
	uint64_t page = ev->mem.gpa & ~(PAGE - 1);

	EXPECT_TRUE(ev->mem.flags & VMIOP_MEM_F_PAGE_WALK);
	EXPECT_TRUE(page == g->pd || (page >= g->pts && page < g->pts + GIB_PTS * PAGE));
}

TEST(every_page_table_of_a_gib_write_protected_the_guest_still_runs)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t gva = 0x7e0000000000ULL, win = tvm_alloc_gpa(tvm, WIN_PAGES * PAGE, PAGE);
	uint64_t pts = tvm_alloc_gpa(tvm, GIB_PTS * PAGE, PAGE), pd = 0, expect = 0;
	struct vmiop_mem_access_range ranges[2];
	uint8_t *rights = malloc(GIB_PTS);
	unsigned int i, j, walks;
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct gib_expect ge;

	ASSERT_TRUE(rights != NULL);
	/* 512 page tables of 512 4 KiB entries, accessed bits clear. */
	for (i = 0; i < GIB_PTS; i++) {
		uint64_t *pt = tvm_gpa2hva(tvm, pts + i * PAGE), *pde;

		for (j = 0; j < 512; j++)
			pt[j] = (win + ((i * 512 + j) % WIN_PAGES) * PAGE) | TVM_PTE_P | TVM_PTE_W;
		pde = tvm_pte(tvm, gva + i * TVM_PAGE_2M, TVM_PAGE_2M);
		*pde = (pts + i * PAGE) | TVM_PTE_P | TVM_PTE_W;
		pd = tvm_hva2gpa(tvm, pde) & ~(PAGE - 1);
	}
	for (j = 0; j < WIN_PAGES; j++)
		*(uint64_t *)tvm_gpa2hva(tvm, win + j * PAGE) = j;
	for (i = 0; i < GIB_PTS; i++)
		expect += (i * 512) % WIN_PAGES;
	ranges[0] = (struct vmiop_mem_access_range){ .gfn = pts / PAGE, .nr_pages = GIB_PTS,
						     .access = RX };
	ranges[1] = (struct vmiop_mem_access_range){ .gfn = pd / PAGE, .nr_pages = 1,
						     .access = RX };
	ASSERT_EQ(vmiop_set_mem_access_ranges(v, ranges, 2), 0);
	ASSERT_EQ(vmiop_get_mem_access(v, pts / PAGE, GIB_PTS, rights), 0);
	for (i = 0; i < GIB_PTS && rights[i] == RX; i++)
		;
	EXPECT_EQ(i, GIB_PTS);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_read_gib, gva);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);

	ge.pts = pts;
	ge.pd = pd;
	walks = answer_until_done(tvm, v, ring, VMIOP_ACTION_CONTINUE, check_gib_walk, &ge);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	vmtest_diag("%u page-walk events", walks);
	EXPECT_GE(walks, GIB_PTS);
	EXPECT_EQ(result(tvm, 0), expect);
	for (i = 0; i < GIB_PTS; i++)
		if (!(*(uint64_t *)tvm_gpa2hva(tvm, pts + i * PAGE) & TVM_PTE_A))
			break;
	EXPECT_EQ(i, GIB_PTS);		/* each walk set its accessed bit */
	free(rights);
	vmiop_close(v);
	tvm_destroy(tvm);
}

uint64_t ud_seen;

static bool guest_on_ud(struct tvm_exc_frame *f)
{
	if (f->vector != 6)
		return false;
	ud_seen++;
	f->rip += 2;		/* past the UD2 */
	return true;
}

static void guest_ud2(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(guest_on_ud);
	__asm__ __volatile__("ud2");
	GUEST_DONE();
}

struct delivery_expect {
	uint64_t idt;
	unsigned int seen;
};

static void check_idt_read(const struct vmiop_event *ev, void *ctx)
{
	struct delivery_expect *d = ctx;

	EXPECT_EQ(ev->mem.gpa & ~(PAGE - 1), d->idt);
	EXPECT_EQ(ev->mem.access, VMIOP_ACCESS_R);
	if (ev->mem.flags & VMIOP_MEM_F_EVENT_DELIVERY) {
		EXPECT_EQ(ev->mem.gpa, d->idt + 6 * 16);
		d->seen++;
	}
}

TEST(an_access_made_delivering_an_exception_is_flagged_and_not_skipped)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct delivery_expect d = { 0 };
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	struct kvm_sregs sregs;
	uint64_t idt;

	tvm_get_sregs(tvm_vcpu(tvm, 0), &sregs);
	idt = sregs.idt.base;
	ASSERT_EQ(vmiop_set_mem_access(v, idt / PAGE, 1, NONE), 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_ud2, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	/*
	 * The #UD's delivery reads its IDT entry: not the UD2's access, so
	 * "skip" must not move RIP past it (the handler does, once).
	 */
	d.idt = idt;
	answer_until_done(tvm, v, ring, VMIOP_ACTION_SKIP, check_idt_read, &d);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_GE(d.seen, 1);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, ud_seen), 1);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(giving_every_gfn_back_in_one_call_is_quick)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = alloc_page(tvm);
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	uint8_t rights;

	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, NONE), 0);
	/* 2^40 pages: only the restricted ones are visited. */
	ASSERT_EQ(vmiop_set_mem_access(v, 0, VMIOP_MEM_ACCESS_MAX_PAGES, VMIOP_ACCESS_RWX), 0);
	ASSERT_EQ(vmiop_get_mem_access(v, wp / PAGE, 1, &rights), 0);
	EXPECT_EQ(rights, VMIOP_ACCESS_RWX);
	nr_ops = 0;
	add_op(tvm, OP_WRITE, wp, 9);
	start_ops(tvm, 0, NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(guest_u64(tvm, wp), 9);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(closing_the_session_gives_every_page_its_rights_back)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = alloc_page(tvm);
	struct vmiop_ring *ring;
	struct vmiop *v = mem_session(tvm, &ring);
	uint8_t rights;

	nr_ops = 0;
	add_op(tvm, OP_WRITE, wp, 9);
	ASSERT_EQ(vmiop_set_mem_access(v, wp / PAGE, 1, NONE), 0);
	vmiop_close(v);
	start_ops(tvm, 0, NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(guest_u64(tvm, wp), 9);

	/* A new session starts with none restricted. */
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_get_mem_access(v, wp / PAGE, 1, &rights), 0);
	EXPECT_EQ(rights, VMIOP_ACCESS_RWX);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* The forked introspector's setup: the page at *@arg (a gpa) loses W. */
static int restrict_write(struct vmiop *v, void *arg)
{
	return vmiop_set_mem_access(v, *(uint64_t *)arg / PAGE, 1, RX);
}

TEST(kill_9_of_the_introspector_lets_a_waiting_write_through)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = alloc_page(tvm);
	struct vt_introspector in;

	nr_ops = 0;
	add_op(tvm, OP_WRITE, wp, 9);
	in = vt_fork_introspector_setup(VMIOP_EVENT_MEM, restrict_write, &wp);
	start_ops(tvm, 0, NULL, NULL);
	vt_introspector_wait_event(&in);
	EXPECT_EQ(guest_u64(tvm, wp), 0);
	vt_introspector_kill(&in);
	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	EXPECT_EQ(guest_u64(tvm, wp), 9);
	tvm_destroy(tvm);
}

TEST(bad_ranges_and_rights_are_rejected_and_change_nothing)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t wp = alloc_page(tvm), gfn = wp / PAGE;
	struct vmiop_mem_access_range two[2] = {
		{ .gfn = gfn, .nr_pages = 1, .access = RX },
		{ .gfn = tvm_hole_gpa(tvm) / PAGE, .nr_pages = 1, .access = RX },
	};
	struct vmiop_mem_access m = { .size = sizeof(m) };
	struct vmiop_event_caps caps = { .size = sizeof(caps) };
	struct vmiop_ring *ring;
	struct vmiop *v = vt_attach(tvm);
	uint8_t rights = 0;

	/* No ring yet: nobody could answer. */
	ASSERT_ERRNO(vmiop_set_mem_access(v, gfn, 1, RX), ENXIO);
	ASSERT_TRUE((ring = vt_ring_setup(v, 4)) != NULL);
	/* W without R: an EPT misconfiguration; beyond RWX: no such right. */
	ASSERT_ERRNO(vmiop_set_mem_access(v, gfn, 1, VMIOP_ACCESS_W), EINVAL);
	ASSERT_ERRNO(vmiop_set_mem_access(v, gfn, 1, VMIOP_ACCESS_W | VMIOP_ACCESS_X), EINVAL);
	ASSERT_ERRNO(vmiop_set_mem_access(v, gfn, 1, 16), EINVAL);
	ASSERT_ERRNO(vmiop_set_mem_access(v, gfn, 0, RX), EINVAL);
	ASSERT_ERRNO(vmiop_set_mem_access(v, VMIOP_MEM_ACCESS_MAX_PAGES, 1, RX), EINVAL);
	ASSERT_ERRNO(vmiop_set_mem_access(v, VMIOP_MEM_ACCESS_MAX_PAGES - 1, 2, RX), EINVAL);
	ASSERT_ERRNO(vmiop_set_mem_access(v, 1, ~0ULL, RX), EINVAL);
	/* Execute-only where the host says it cannot. */
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	EXPECT_EQ(caps.mem_rights & VMIOP_MEM_RIGHTS_COMMON, VMIOP_MEM_RIGHTS_COMMON);
	EXPECT_FALSE(caps.mem_rights & (1u << VMIOP_ACCESS_W));
	if (!(caps.mem_rights & (1u << VMIOP_ACCESS_X)))
		ASSERT_ERRNO(vmiop_set_mem_access(v, gfn, 1, VMIOP_ACCESS_X), EOPNOTSUPP);
	/* A hole: not guest memory.  Giving rights back there needs nothing. */
	ASSERT_ERRNO(vmiop_set_mem_access_ranges(v, two, 2), ENXIO);
	ASSERT_EQ(vmiop_set_mem_access(v, two[1].gfn, 1, VMIOP_ACCESS_RWX), 0);
	/* The struct itself. */
	m.nr_ranges = 1;
	m.ranges = (uintptr_t)two;
	m.flags = 1;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_SET_MEM_ACCESS, &m), EINVAL);
	m.flags = 0;
	m.reserved = 1;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_SET_MEM_ACCESS, &m), EINVAL);
	m.reserved = 0;
	m.nr_ranges = 0;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_SET_MEM_ACCESS, &m), EINVAL);
	m.nr_ranges = VMIOP_MEM_ACCESS_MAX_RANGES + 1;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_SET_MEM_ACCESS, &m), EINVAL);
	m.nr_ranges = 1;
	m.ranges = 8;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_SET_MEM_ACCESS, &m), EFAULT);
	two[0].reserved = 1;
	ASSERT_ERRNO(vmiop_set_mem_access_ranges(v, two, 1), EINVAL);
	/* Nothing of it changed anything. */
	ASSERT_EQ(vmiop_get_mem_access(v, gfn, 1, &rights), 0);
	EXPECT_EQ(rights, VMIOP_ACCESS_RWX);
	ASSERT_ERRNO(vmiop_get_mem_access(v, gfn, 0, &rights), EINVAL);
	ASSERT_ERRNO(vmiop_get_mem_access(v, gfn, VMIOP_MEM_ACCESS_QUERY_MAX + 1, &rights),
		     EINVAL);
	ASSERT_ERRNO(vmiop_get_mem_access(v, gfn, 1, (uint8_t *)8), EFAULT);
	vmiop_close(v);

	/* A read-only session only reads: it cannot stop the guest's accesses. */
	{
		struct vmiop *ro;

		ASSERT_EQ(vmiop_open_readonly(&ro), 0);
		ASSERT_EQ(vmiop_attach_fd(ro, tvm_vm_fd(tvm)), 0);
		ASSERT_ERRNO(vmiop_set_mem_access(ro, gfn, 1, RX), EBADF);
		vmiop_close(ro);
	}
	tvm_destroy(tvm);
}

VMTEST_MAIN()
