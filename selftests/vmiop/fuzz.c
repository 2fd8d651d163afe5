// SPDX-License-Identifier: GPL-2.0
/*
 * The in-rig fuzzer: mutated calls of every command, and mmaps, on an
 * attached, an unattached and a read-only session fd.  After each call it checks that a
 * call that had to fail failed (a non-zero reserved field, an unknown flag,
 * a size out of range, an unreadable argument...), and after each failed
 * call that nothing changed: guest memory, guest registers, the pause
 * count, the ring.  What a successful call changed is put back.  Nothing
 * the read-only session does, failed or not, may change its guest.
 *
 * Seeded and reproducible: the seed is printed; VMIOP_FUZZ_SEED replays
 * it (make vmtest passes it into the VM), VMIOP_FUZZ_CALLS sets the count.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define PAGE		4096UL
#define NR_VCPUS	2
#define WINDOW_SIZE	(16 * PAGE)
#define FUZZ_CALLS	10000
#define ARG_MAX		1024	/* bytes of the biggest struct, and then some */

/* ---- a reproducible generator --------------------------------------- */

static uint64_t rng_seed, rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* Values that find edges: 0, 1, all ones, powers of two, around them. */
static uint64_t rnd_value(void)
{
	static const uint64_t edges[] = {
		0, 1, 2, 3, 7, 8, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000,
		0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL,
		0x7fffffffffffffffULL, 0x8000000000000000ULL, ~0ULL, ~0ULL - 1,
	};

	switch (rnd_below(4)) {
	case 0:
		return edges[rnd_below(sizeof(edges) / sizeof(edges[0]))];
	case 1:
		return 1ULL << rnd_below(64);
	case 2:
		return (1ULL << rnd_below(64)) - 1 + rnd_below(3);
	}
	return rnd();
}

/* ---- the machine under test ------------------------------------------ */

struct fz {
	struct tvm *tvm;
	struct tvm *tvm2;		/* a second VM, for attaches that may succeed */
	struct tvm *tvm3;		/* a third, under the read-only session */
	int a;				/* attached session fd */
	int u;				/* unattached session fd */
	int r;				/* read-only session fd, on tvm3 */
	struct kvm_regs r_regs;		/* tvm3's vCPU, which never runs */
	struct kvm_sregs r_sregs;
	uint8_t *r_window_hva;
	uint64_t window;		/* gpa of the scratch window writes may target */
	uint8_t *window_hva;
	uint8_t window_copy[WINDOW_SIZE];
	struct vmiop_regs regs[NR_VCPUS];
	unsigned int pause_count;
	bool ring;
	void *ring_mem;
	size_t ring_size;
	uint32_t ring_mask;
	/* argument memory with each kind of access */
	uint8_t *rw;			/* PAGE, read-write */
	uint8_t *ro;			/* PAGE, read-only */
	uint8_t *none;			/* PAGE, PROT_NONE */
	uint8_t *edge;			/* a readable page followed by an inaccessible one */
	uint8_t *buf;			/* 4 * PAGE data buffer */
	unsigned long calls, failed, must_fail;
};

static long xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static void guest_cli_hlt(uint64_t arg)
{
	(void)arg;
	for (;;)
		__asm__ __volatile__("cli; hlt" ::: "memory");
}

static void snapshot_regs(struct fz *f, struct vmiop_regs *regs)
{
	struct vmiop_pause p = { .size = sizeof(p) };
	struct vmiop_vcpu_regs r = { .size = sizeof(r) };
	unsigned int i;

	if (!f->pause_count)
		ASSERT_EQ(xioctl(f->a, VMIOP_PAUSE, &p), 0);
	for (i = 0; i < NR_VCPUS; i++) {
		r.vcpu = i;
		ASSERT_EQ(xioctl(f->a, VMIOP_GET_REGS, &r), 0);
		regs[i] = r.regs;
	}
	if (!f->pause_count)
		ASSERT_EQ(xioctl(f->a, VMIOP_RESUME, &p), 0);
}

static bool halted_after_hlt(struct fz *f)
{
	unsigned int i;

	snapshot_regs(f, f->regs);
	for (i = 0; i < NR_VCPUS; i++)
		if (*(uint8_t *)tvm_gpa2hva(f->tvm, f->regs[i].rip - 1) != 0xf4)
			return false;
	return true;
}

static unsigned int read_pause_count(struct fz *f)
{
	struct vmiop_vm_info info = { .size = sizeof(info) };

	ASSERT_EQ(xioctl(f->a, VMIOP_VM_INFO, &info), 0);
	return info.pause_count;
}

/* The ring exists exactly when mapping it works. */
static bool ring_exists(int fd)
{
	void *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, VMIOP_MMAP_RING_OFFSET);

	if (p == MAP_FAILED)
		return false;
	munmap(p, PAGE);
	return true;
}

static void fuzz_fail(struct fz *f, const char *what, const char *cmd, const char *how,
		      long ret)
{
	vmtest_diag("call %lu (%s, %s): %s (returned %ld)", f->calls, cmd, how, what, ret);
	vmtest_diag("replay: VMIOP_FUZZ_SEED=%llu", (unsigned long long)rng_seed);
	vmtest_fail_now();
}

/* After a failed call: nothing the session can see or do to the guest moved. */
static void check_unchanged(struct fz *f, const char *cmd, const char *how, long ret)
{
	struct vmiop_regs now[NR_VCPUS];

	if (memcmp(f->window_hva, f->window_copy, WINDOW_SIZE))
		fuzz_fail(f, "failed, but guest memory changed", cmd, how, ret);
	if (read_pause_count(f) != f->pause_count)
		fuzz_fail(f, "failed, but the pause count changed", cmd, how, ret);
	if (ring_exists(f->a) != f->ring)
		fuzz_fail(f, "failed, but the ring appeared or went", cmd, how, ret);
	snapshot_regs(f, now);
	if (memcmp(now, f->regs, sizeof(now)))
		fuzz_fail(f, "failed, but guest registers changed", cmd, how, ret);
	/* The unattached fd stays unattached. */
	{
		struct vmiop_vm_info info = { .size = sizeof(info) };

		if (xioctl(f->u, VMIOP_VM_INFO, &info) != -ENOTCONN)
			fuzz_fail(f, "the unattached fd got attached", cmd, how, ret);
	}
}

/*
 * A failed write batch landed its first @done ops, whole, and nothing
 * else (the header's promise); that much is then put back.
 */
static void check_batch_prefix(struct fz *f, const struct vmiop_mem_batch *b,
			       uint32_t sent_done, const char *cmd, const char *how, long ret)
{
	const struct vmiop_mem_op *ops = (const struct vmiop_mem_op *)f->rw;
	static uint8_t expect[WINDOW_SIZE];
	/* A batch that came with @done set was refused before any op. */
	uint32_t done = sent_done ? 0 : b->done, i;

	if (!sent_done && b->done > b->count)
		fuzz_fail(f, "reported more ops done than asked", cmd, how, ret);
	memcpy(expect, f->window_copy, WINDOW_SIZE);
	for (i = 0; i < done; i++)
		memcpy(expect + (ops[i].gpa - f->window), f->buf, ops[i].len);
	if (memcmp(f->window_hva, expect, WINDOW_SIZE))
		fuzz_fail(f, "failed, and guest memory is not its done ops", cmd, how, ret);
	memcpy(f->window_hva, f->window_copy, WINDOW_SIZE);
}

/*
 * After any call on the read-only session, failed or not: its guest is as
 * it was.  Its vCPU never runs, so KVM's own view is the reference.
 */
static void check_read_only(struct fz *f, const char *cmd, const char *how, long ret)
{
	struct vmiop_vm_info info = { .size = sizeof(info) };
	struct vmiop_pause p = { .size = sizeof(p) };
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (memcmp(f->r_window_hva, f->window_copy, WINDOW_SIZE))
		fuzz_fail(f, "a read-only session changed guest memory", cmd, how, ret);
	tvm_get_regs(tvm_vcpu(f->tvm3, 0), &regs);
	tvm_get_sregs(tvm_vcpu(f->tvm3, 0), &sregs);
	if (memcmp(&regs, &f->r_regs, sizeof(regs)) || memcmp(&sregs, &f->r_sregs, sizeof(sregs)))
		fuzz_fail(f, "a read-only session changed guest registers", cmd, how, ret);
	ASSERT_EQ(xioctl(f->r, VMIOP_VM_INFO, &info), 0);
	while (info.pause_count-- > 2)
		ASSERT_EQ(xioctl(f->r, VMIOP_RESUME, &p), 0);
}

/* After a call that succeeded: take what it changed back, or as the new state. */
static void settle(struct fz *f)
{
	struct vmiop_vcpu_regs r = { .size = sizeof(r) };
	struct vmiop_pause p = { .size = sizeof(p) };
	struct vmiop_vm_info info = { .size = sizeof(info) };
	struct vmiop_regs now[NR_VCPUS];
	unsigned int i;

	memcpy(f->window_hva, f->window_copy, WINDOW_SIZE);
	f->pause_count = read_pause_count(f);
	/* Keep the nesting shallow. */
	while (f->pause_count > 2) {
		ASSERT_EQ(xioctl(f->a, VMIOP_RESUME, &p), 0);
		f->pause_count--;
	}
	f->ring = ring_exists(f->a);
	snapshot_regs(f, now);
	for (i = 0; i < NR_VCPUS; i++) {
		if (!memcmp(&now[i], &f->regs[i], sizeof(now[i])))
			continue;
		/* A SET that worked needed a pause: undo it within the same pause. */
		ASSERT_EQ(xioctl(f->a, VMIOP_PAUSE, &p), 0);
		r.vcpu = i;
		r.regs = f->regs[i];
		ASSERT_EQ(xioctl(f->a, VMIOP_SET_REGS, &r), 0);
		ASSERT_EQ(xioctl(f->a, VMIOP_RESUME, &p), 0);
	}
	/* An attach of the unattached fd worked (to the second VM): a new one. */
	if (xioctl(f->u, VMIOP_VM_INFO, &info) != -ENOTCONN) {
		close(f->u);
		f->u = open(VMIOP_DEVICE, O_RDWR | O_CLOEXEC);
		ASSERT_GE(f->u, 0);
	}
}

/* Answers whatever events came (none should: the guest only halts). */
static void drain_events(struct fz *f)
{
	struct vmiop_event_reply r = { .size = sizeof(r), .action = VMIOP_ACTION_CONTINUE };
	volatile uint32_t *head, *tail;
	struct vmiop_event *e;

	if (!f->ring_mem)
		return;
	head = (uint32_t *)f->ring_mem;
	tail = (uint32_t *)((uint8_t *)f->ring_mem + 64);
	while (*tail != __atomic_load_n(head, __ATOMIC_ACQUIRE)) {
		e = (struct vmiop_event *)((uint8_t *)f->ring_mem + 4096 +
					   (*tail & f->ring_mask) * sizeof(*e));
		r.vcpu = e->vcpu;
		r.seq = e->seq;
		xioctl(f->a, VMIOP_EVENT_REPLY, &r);
		__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	}
}

/* ---- the commands, as the fuzzer sees them ---------------------------- */

/* A field of a struct: where it is and how wide. */
struct fld {
	uint16_t off, size;
};

#define F(type, field) { offsetof(type, field), sizeof(((type *)0)->field) }
#define NOF { 0, 0 }

struct cmd {
	const char *name;
	unsigned long nr;
	uint32_t size, min_size;
	bool session;		/* needs an attached fd */
	bool out;		/* has out fields: a read-only struct must fail */
	uint32_t flags_valid;
	struct fld reserved[3];	/* must be 0 */
	struct fld values[4];	/* anything goes */
	struct fld ptr;		/* a user pointer the command follows */
	/* fills a valid struct (and what it points to) into @arg */
	void (*base)(struct fz *f, void *arg);
};

static void b_size_only(struct fz *f, void *arg)
{
	(void)f;
	(void)arg;
}

static void b_attach(struct fz *f, void *arg)
{
	struct vmiop_attach *a = arg;

	/* The first VM has a session (-EBUSY); the second may be attached. */
	a->vm_fd = rnd_below(2) ? tvm_vm_fd(f->tvm2) : tvm_vm_fd(f->tvm);
	if (rnd_below(4) == 0) {
		a->flags = VMIOP_ATTACH_F_PID;
		a->pid = getpid();
	}
}

static void b_memmap(struct fz *f, void *arg)
{
	struct vmiop_memmap *m = arg;

	m->nr_entries = 4;
	m->entries = (uintptr_t)f->buf;
}

static void b_regs(struct fz *f, void *arg)
{
	struct vmiop_vcpu_regs *r = arg;

	r->vcpu = (uint32_t)rnd_below(NR_VCPUS);
	r->regs = f->regs[r->vcpu];
}

static void b_reg_list(struct fz *f, void *arg)
{
	struct vmiop_reg_list *l = arg;
	struct vmiop_reg *regs = (struct vmiop_reg *)f->buf;
	unsigned int i;

	l->vcpu = (uint32_t)rnd_below(NR_VCPUS);
	l->count = 1 + (uint32_t)rnd_below(8);
	l->regs = (uintptr_t)regs;
	for (i = 0; i < l->count; i++) {
		regs[i].id = (uint32_t)rnd_below(VMIOP_NR_REGS);
		regs[i].reserved = 0;
		regs[i].value = ((uint64_t *)&f->regs[l->vcpu])[regs[i].id];
	}
	/* One entry of the list broken: the whole call must fail. */
	if (rnd_below(4) == 0) {
		i = (uint32_t)rnd_below(l->count);
		if (rnd_below(2))
			regs[i].reserved = (uint32_t)rnd_value() | 1;
		else
			regs[i].id = VMIOP_NR_REGS + (uint32_t)rnd_below(1000);
		l->flags = 0x80000000u;	/* and mark it: see fuzz_one() */
	}
}

/* An address for a memory op: mostly the window, sometimes nowhere. */
static uint64_t op_gpa(struct fz *f, uint32_t len, bool *bad)
{
	uint64_t hole = tvm_hole_gpa(f->tvm);

	*bad = false;
	switch (rnd_below(8)) {
	case 0:
		*bad = true;
		return hole + rnd_below(TVM_HOLE_SIZE);
	case 1:
		*bad = true;
		return (1ULL << 52) + rnd_below(PAGE);
	case 2:
		/* runs from the end of RAM into the hole */
		*bad = true;
		return hole - 1 - rnd_below(len > 1 ? len - 1 : 1);
	}
	return f->window + rnd_below(WINDOW_SIZE - len + 1);
}

static void b_mem(struct fz *f, void *arg)
{
	struct vmiop_mem_batch *b = arg;
	struct vmiop_mem_op *ops = (struct vmiop_mem_op *)f->rw;
	unsigned int i;

	b->count = 1 + (uint32_t)rnd_below(3);
	b->ops = (uintptr_t)ops;
	for (i = 0; i < b->count; i++) {
		bool bad;

		ops[i].len = 1 + (uint32_t)rnd_below(3 * PAGE);
		ops[i].gpa = op_gpa(f, ops[i].len, &bad);
		ops[i].buf = (uintptr_t)f->buf;
		ops[i].reserved = 0;
	}
	for (i = 0; i < 4 * PAGE; i++)
		f->buf[i] = (uint8_t)rnd();
	/* One op broken: a bad buffer, a bad length, a reserved field. */
	if (rnd_below(3) == 0) {
		struct vmiop_mem_op *op = &ops[rnd_below(b->count)];

		switch (rnd_below(6)) {
		case 0: op->buf = 0; break;
		case 1: op->buf = (uintptr_t)f->none; break;
		case 2: op->buf = (uintptr_t)f->edge + PAGE - rnd_below(op->len); break;
		case 3: op->buf = 0xffffffff81000000ULL; break;
		case 4: op->len = rnd_below(2) ? 0 : VMIOP_MEM_OP_MAX + 1; break;
		case 5: op->reserved = 1 + (uint32_t)rnd_below(100); break;
		}
		b->flags = 0x80000000u;	/* marked, see fuzz_one() */
	}
}

static void b_translate(struct fz *f, void *arg)
{
	struct vmiop_translate *t = arg;

	t->vcpu = (uint32_t)rnd_below(NR_VCPUS);
	t->gva = rnd_below(2) ? rnd_below(tvm_mem_size(f->tvm)) : rnd_value();
	if (rnd_below(3) == 0) {
		t->flags = VMIOP_TRANSLATE_F_EXPLICIT;
		t->mode = 1 + (uint32_t)rnd_below(5);
		t->cr3 = tvm_pt_root(f->tvm);
	}
}

static void b_ring(struct fz *f, void *arg)
{
	struct vmiop_ring_setup *r = arg;

	(void)f;
	r->nr_entries = 4;
}

static void b_control(struct fz *f, void *arg)
{
	struct vmiop_event_control *c = arg;
	struct vmiop_filter_range *fr = (struct vmiop_filter_range *)f->rw;

	c->type = 1 + (uint32_t)rnd_below(VMIOP_EVENT_NR_TYPES - 1);
	c->enable = (uint32_t)rnd_below(2);
	if (rnd_below(3) == 0) {
		c->flags = VMIOP_EVENT_CTL_F_VCPU;
		c->vcpu = (uint32_t)rnd_below(NR_VCPUS);
	} else if (c->enable && rnd_below(2)) {
		c->nr_filter = 1;
		c->filter = (uintptr_t)fr;
		fr->first = rnd_below(0x100);
		fr->last = fr->first + rnd_below(0x100);
	}
}

static void b_reply(struct fz *f, void *arg)
{
	struct vmiop_event_reply *r = arg;

	(void)f;
	r->vcpu = (uint32_t)rnd_below(NR_VCPUS);
	r->action = VMIOP_ACTION_CONTINUE;
	r->seq = rnd_below(4);
}

static void b_wait(struct fz *f, void *arg)
{
	struct vmiop_event_wait *w = arg;

	(void)f;
	if (rnd_below(2))
		w->flags = VMIOP_EVENT_WAIT_F_TAIL;	/* tail 0: where it is */
}

/* Rights on a few runs of the window (which the guest never touches), or the hole. */
static void b_mem_access(struct fz *f, void *arg)
{
	static const uint32_t rights[] = { VMIOP_ACCESS_RWX, VMIOP_ACCESS_R | VMIOP_ACCESS_W,
					   VMIOP_ACCESS_R | VMIOP_ACCESS_X, VMIOP_ACCESS_R, 0 };
	struct vmiop_mem_access *m = arg;
	struct vmiop_mem_access_range *r = (struct vmiop_mem_access_range *)f->rw;
	unsigned int i;

	m->nr_ranges = 1 + (uint32_t)rnd_below(3);
	m->ranges = (uintptr_t)r;
	for (i = 0; i < m->nr_ranges; i++) {
		bool bad;

		r[i].gfn = op_gpa(f, PAGE, &bad) / PAGE;
		r[i].nr_pages = 1;
		r[i].access = rights[rnd_below(5)];
		r[i].reserved = 0;
	}
	/* One broken: W without R, no pages, a reserved field. */
	if (rnd_below(3) == 0) {
		switch (rnd_below(3)) {
		case 0: r[0].access = VMIOP_ACCESS_W; break;
		case 1: r[0].nr_pages = 0; break;
		default: r[0].reserved = 1; break;
		}
	}
}

static void b_mem_query(struct fz *f, void *arg)
{
	struct vmiop_mem_access_query *q = arg;
	bool bad;

	q->gfn = op_gpa(f, PAGE, &bad) / PAGE;
	q->nr_pages = 1 + (uint32_t)rnd_below(PAGE);
	q->access = (uintptr_t)f->buf;
}

/* An agent somewhere in the window, or anywhere. */
static void b_ve_agent(struct fz *f, void *arg)
{
	struct vmiop_ve_agent *a = arg;
	bool bad;

	a->code_gpa = op_gpa(f, PAGE, &bad);
	a->code_len = rnd_below(4) ? rnd_below(2 * PAGE) : rnd_value();
}

/* An info page in the window (rarely a vCPU paused to take it), or none. */
static void b_ve_info(struct fz *f, void *arg)
{
	struct vmiop_ve_info *v = arg;
	bool bad;

	v->vcpu = (uint32_t)rnd_below(NR_VCPUS + 1);
	v->gpa = rnd_below(4) ? op_gpa(f, PAGE, &bad) & ~(PAGE - 1) : VMIOP_VE_INFO_NONE;
}

/* The session's memory: where the module likes, or anywhere, of a size or any. */
static void b_add_memory(struct fz *f, void *arg)
{
	struct vmiop_add_memory *m = arg;

	(void)f;
	m->gpa = rnd_below(2) ? 0 : rnd_value() & ~(PAGE - 1);
	m->len = rnd_below(4) ? PAGE * (1 + rnd_below(16)) : rnd_value();
}

#define CMD(c, type, last, sess, o, fl, b)					\
	.name = #c, .nr = VMIOP_##c, .size = sizeof(type),			\
	.min_size = offsetof(type, last) + sizeof(((type *)0)->last),		\
	.session = sess, .out = o, .flags_valid = fl, .base = b

static const struct cmd cmds[] = {
	{ CMD(GET_API, struct vmiop_api, reserved, false, true, 0, b_size_only),
	  .reserved = { F(struct vmiop_api, reserved) } },
	/* vm_id is reserved but with VMIOP_ATTACH_F_VM_ID, which b_attach never sets */
	{ CMD(ATTACH, struct vmiop_attach, vm_id, false, false, VMIOP_ATTACH_F_PID,
	      b_attach),
	  .reserved = { F(struct vmiop_attach, vm_id) },
	  .values = { F(struct vmiop_attach, vm_fd), F(struct vmiop_attach, pid) } },
	{ CMD(VM_INFO, struct vmiop_vm_info, guest_features, true, true, 0, b_size_only),
	  .reserved = { F(struct vmiop_vm_info, guest_features), F(struct vmiop_vm_info, vm_id) } },
	{ CMD(GET_MEMMAP, struct vmiop_memmap, entries, true, true, 0, b_memmap),
	  .reserved = { F(struct vmiop_memmap, reserved) },
	  .values = { F(struct vmiop_memmap, nr_entries) },
	  .ptr = F(struct vmiop_memmap, entries) },
	{ CMD(PAUSE, struct vmiop_pause, reserved, true, true, 0, b_size_only),
	  .reserved = { F(struct vmiop_pause, reserved) } },
	{ CMD(RESUME, struct vmiop_pause, reserved, true, true, 0, b_size_only),
	  .reserved = { F(struct vmiop_pause, reserved) } },
	{ CMD(GET_REGS, struct vmiop_vcpu_regs, regs, true, true, 0, b_regs),
	  .reserved = { F(struct vmiop_vcpu_regs, reserved) },
	  .values = { F(struct vmiop_vcpu_regs, vcpu) } },
	{ CMD(SET_REGS, struct vmiop_vcpu_regs, regs, true, false, 0, b_regs),
	  .reserved = { F(struct vmiop_vcpu_regs, reserved),
			F(struct vmiop_vcpu_regs, regs.reserved) },
	  .values = { F(struct vmiop_vcpu_regs, vcpu), F(struct vmiop_vcpu_regs, regs.rbx),
		      F(struct vmiop_vcpu_regs, regs.cr0), F(struct vmiop_vcpu_regs, regs.cs) } },
	{ CMD(GET_REG_LIST, struct vmiop_reg_list, regs, true, false, 0, b_reg_list),
	  .values = { F(struct vmiop_reg_list, vcpu), F(struct vmiop_reg_list, count) },
	  .ptr = F(struct vmiop_reg_list, regs) },
	{ CMD(SET_REG_LIST, struct vmiop_reg_list, regs, true, false, 0, b_reg_list),
	  .values = { F(struct vmiop_reg_list, vcpu), F(struct vmiop_reg_list, count) },
	  .ptr = F(struct vmiop_reg_list, regs) },
	{ CMD(READ_MEM, struct vmiop_mem_batch, ops, true, true, 0, b_mem),
	  .reserved = { F(struct vmiop_mem_batch, done) },
	  .values = { F(struct vmiop_mem_batch, count) },
	  .ptr = F(struct vmiop_mem_batch, ops) },
	{ CMD(WRITE_MEM, struct vmiop_mem_batch, ops, true, true, VMIOP_MEM_F_UNDO, b_mem),
	  .reserved = { F(struct vmiop_mem_batch, done) },
	  .values = { F(struct vmiop_mem_batch, count) },
	  .ptr = F(struct vmiop_mem_batch, ops) },
	{ CMD(TRANSLATE, struct vmiop_translate, reserved, true, true,
	      VMIOP_TRANSLATE_F_EXPLICIT | VMIOP_TRANSLATE_F_NXE | VMIOP_TRANSLATE_F_PSE,
	      b_translate),
	  .reserved = { F(struct vmiop_translate, reserved) },
	  .values = { F(struct vmiop_translate, vcpu), F(struct vmiop_translate, mode),
		      F(struct vmiop_translate, cr3), F(struct vmiop_translate, gva) } },
	{ CMD(EVENT_CAPS, struct vmiop_event_caps, reason, false, true, 0, b_size_only),
	  .reserved = { F(struct vmiop_event_caps, ve_delivery) } },
	{ CMD(RING_SETUP, struct vmiop_ring_setup, mmap_size, true, true, 0, b_ring),
	  .reserved = { F(struct vmiop_ring_setup, reserved),
			F(struct vmiop_ring_setup, entry_size),
			F(struct vmiop_ring_setup, mmap_size) },
	  .values = { F(struct vmiop_ring_setup, nr_entries) } },
	{ CMD(EVENT_CONTROL, struct vmiop_event_control, filter, true, false,
	      VMIOP_EVENT_CTL_F_VCPU | VMIOP_EVENT_CTL_F_READS | VMIOP_EVENT_CTL_F_CHANGES,
	      b_control),
	  .values = { F(struct vmiop_event_control, type), F(struct vmiop_event_control, enable),
		      F(struct vmiop_event_control, vcpu),
		      F(struct vmiop_event_control, nr_filter) },
	  .ptr = F(struct vmiop_event_control, filter) },
	{ CMD(EVENT_REPLY, struct vmiop_event_reply, reserved, true, false,
	      VMIOP_REPLY_F_SINGLESTEP, b_reply),
	  .reserved = { F(struct vmiop_event_reply, reserved) },
	  .values = { F(struct vmiop_event_reply, vcpu), F(struct vmiop_event_reply, action),
		      F(struct vmiop_event_reply, seq), F(struct vmiop_event_reply, raw) } },
	{ CMD(EVENT_WAIT, struct vmiop_event_wait, ready, true, true, VMIOP_EVENT_WAIT_F_TAIL,
	      b_wait),
	  .reserved = { F(struct vmiop_event_wait, reserved), F(struct vmiop_event_wait, ready) },
	  .values = { F(struct vmiop_event_wait, tail) } },
	{ CMD(SET_MEM_ACCESS, struct vmiop_mem_access, ranges, true, false, 0, b_mem_access),
	  .reserved = { F(struct vmiop_mem_access, reserved) },
	  .values = { F(struct vmiop_mem_access, nr_ranges) },
	  .ptr = F(struct vmiop_mem_access, ranges) },
	{ CMD(GET_MEM_ACCESS, struct vmiop_mem_access_query, access, true, false, 0,
	      b_mem_query),
	  .reserved = { F(struct vmiop_mem_access_query, reserved) },
	  .values = { F(struct vmiop_mem_access_query, gfn),
		      F(struct vmiop_mem_access_query, nr_pages) },
	  .ptr = F(struct vmiop_mem_access_query, access) },
	{ CMD(SET_VE_AGENT, struct vmiop_ve_agent, reserved, true, false, 0, b_ve_agent),
	  .reserved = { F(struct vmiop_ve_agent, reserved) },
	  .values = { F(struct vmiop_ve_agent, code_gpa), F(struct vmiop_ve_agent, code_len) } },
	{ CMD(SET_VE_INFO, struct vmiop_ve_info, gpa, true, false, 0, b_ve_info),
	  .reserved = { F(struct vmiop_ve_info, reserved) },
	  .values = { F(struct vmiop_ve_info, vcpu), F(struct vmiop_ve_info, gpa) } },
	{ CMD(ADD_MEMORY, struct vmiop_add_memory, len, true, true, 0, b_add_memory),
	  .values = { F(struct vmiop_add_memory, gpa), F(struct vmiop_add_memory, len) } },
	{ CMD(UNDO, struct vmiop_undo, kept, true, true, VMIOP_UNDO_F_MEMORY, b_size_only),
	  .reserved = { F(struct vmiop_undo, restored), F(struct vmiop_undo, kept) } },
};

#define NR_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static void poke(void *arg, struct fld fl, uint64_t v)
{
	uint8_t *p = (uint8_t *)arg + fl.off;
	size_t n = fl.size < 8 ? fl.size : 8;

	/* Wider fields (a segment, an array) get their first 8 bytes. */
	memcpy(p, &v, n);
}

static unsigned int nr_fields(const struct fld *fl, unsigned int max)
{
	unsigned int n = 0;

	while (n < max && fl[n].size)
		n++;
	return n;
}

enum mutation {
	MUT_NONE,	/* the valid call */
	MUT_RESERVED,	/* a reserved field not 0: -EINVAL */
	MUT_FLAGS,	/* an unknown flag: -EINVAL */
	MUT_SMALL,	/* size below the first version: -EINVAL */
	MUT_BIG,	/* longer struct, unknown bytes not 0: -E2BIG */
	MUT_BIG_ZERO,	/* longer struct, zeros: as MUT_NONE */
	MUT_ARG_PTR,	/* the struct itself unreadable: -EFAULT */
	MUT_ARG_RO,	/* the struct read-only: -EFAULT if it has out fields */
	MUT_INNER_PTR,	/* a pointer in it unreadable: fails */
	MUT_INNER,	/* an entry it points to is broken: fails */
	MUT_VALUE,	/* a value field changed: anything */
	MUT_GARBAGE,	/* random bytes after the size: anything */
	MUT_IOCTL_NR,	/* a command number that is not one: -ENOTTY */
	NR_MUT,
};

static const char *const mut_names[NR_MUT] = {
	"valid", "reserved", "flags", "small", "big", "big-zero", "arg-ptr", "arg-ro",
	"inner-ptr", "inner", "value", "garbage", "ioctl-nr",
};

/* One mutated call of a random command on @fd, checked. */
static void fuzz_one(struct fz *f, int fd)
{
	const struct cmd *c = &cmds[rnd_below(NR_CMDS)];
	enum mutation m = (enum mutation)rnd_below(NR_MUT);
	uint8_t *arg = f->rw + PAGE / 2;	/* half a page: room for any struct */
	uint32_t size = c->size;
	unsigned long nr = c->nr;
	int expect = 0;			/* errno that must come, 0: anything */
	void *up = arg;
	unsigned int n;
	long ret;
	uint32_t *flags = (uint32_t *)(arg + 4);
	uint32_t sent_done;

	/* MUT_INNER only comes from a base that broke an entry. */
	if (m == MUT_INNER)
		m = MUT_NONE;
	memset(arg, 0, ARG_MAX);
	c->base(f, arg);
	/* A base that broke an entry of its own marked it in flags. */
	if (*flags & 0x80000000u) {
		*flags &= ~0x80000000u;
		m = MUT_INNER;
	}

	switch (m) {
	case MUT_NONE:
	case MUT_INNER:
		break;
	case MUT_RESERVED:
		n = nr_fields(c->reserved, 3);
		if (!n) {
			m = MUT_NONE;
			break;
		}
		poke(arg, c->reserved[rnd_below(n)], rnd_value() | 1);
		expect = EINVAL;
		break;
	case MUT_FLAGS:
		*flags |= 1u << (31 - rnd_below(32 - 8));
		if (*flags & ~c->flags_valid)
			expect = EINVAL;
		break;
	case MUT_SMALL:
		size = (uint32_t)rnd_below(c->min_size);
		expect = EINVAL;
		break;
	case MUT_BIG:
		size = c->size + 8 * (1 + (uint32_t)rnd_below(8));
		arg[size - 1 - rnd_below(size - c->size)] = (uint8_t)(1 + rnd_below(255));
		expect = E2BIG;
		break;
	case MUT_BIG_ZERO:
		size = c->size + 8 * (1 + (uint32_t)rnd_below(8));
		break;
	case MUT_ARG_PTR:
		switch (rnd_below(4)) {
		case 0: up = NULL; break;
		case 1: up = f->none; break;
		case 2: up = (void *)0xffffffff81000000ULL; break;
		/* the size readable, the rest not */
		case 3: up = f->edge + PAGE - 8; break;
		}
		expect = EFAULT;
		break;
	case MUT_ARG_RO:
		/* Fails, with -EFAULT or whatever it finds first (-EBUSY, ...). */
		up = f->ro + PAGE / 2;
		if (c->out)
			expect = -1;
		break;
	case MUT_INNER_PTR:
		if (!c->ptr.size) {
			m = MUT_NONE;
			break;
		}
		switch (rnd_below(3)) {
		case 0: poke(arg, c->ptr, (uintptr_t)f->none); break;
		case 1: poke(arg, c->ptr, 0xffffffff81000000ULL); break;
		case 2: poke(arg, c->ptr, 8); break;
		}
		/* A pointer with nothing to follow may be fine. */
		break;
	case MUT_VALUE:
		n = nr_fields(c->values, 4);
		if (n)
			poke(arg, c->values[rnd_below(n)], rnd_value());
		break;
	case MUT_GARBAGE:
		for (n = 8; n < c->size; n++)
			arg[n] = (uint8_t)rnd();
		break;
	case MUT_IOCTL_NR:
		switch (rnd_below(3)) {
		case 0: nr = _IO(VMIOP_TYPE, VMIOP_CMD_BASE - 1 - rnd_below(VMIOP_CMD_BASE)); break;
		case 1: nr = _IO(VMIOP_TYPE, VMIOP_CMD_BASE + NR_CMDS + rnd_below(64)); break;
		case 2: nr = _IOWR(VMIOP_TYPE, _IOC_NR(c->nr), struct vmiop_api); break;
		}
		expect = ENOTTY;
		break;
	case NR_MUT:
		break;
	}
	/* A wait never sleeps here: the guest sends no events. */
	if (c->nr == VMIOP_EVENT_WAIT && m != MUT_ARG_PTR && m != MUT_SMALL)
		((struct vmiop_event_wait *)arg)->timeout_ms = 0;
	*(uint32_t *)arg = size;
	if (up == f->edge + PAGE - 8)
		memcpy(up, arg, 8);
	if (up == f->ro + PAGE / 2) {
		ASSERT_EQ(mprotect(f->ro, PAGE, PROT_READ | PROT_WRITE), 0);
		memcpy(up, arg, ARG_MAX);
		ASSERT_EQ(mprotect(f->ro, PAGE, PROT_READ), 0);
	}
	if (c->session && fd == f->u && m != MUT_IOCTL_NR)
		expect = ENOTCONN;	/* before anything else is looked at */
	if (fd == f->r && m != MUT_IOCTL_NR && (c->nr == VMIOP_WRITE_MEM ||
	    c->nr == VMIOP_SET_REGS || c->nr == VMIOP_SET_REG_LIST ||
	    c->nr == VMIOP_SET_MEM_ACCESS || c->nr == VMIOP_SET_VE_AGENT ||
	    c->nr == VMIOP_SET_VE_INFO || c->nr == VMIOP_ADD_MEMORY || c->nr == VMIOP_UNDO))
		expect = EBADF;		/* likewise */
	if (m == MUT_INNER && !expect)
		expect = -1;		/* must fail, errno unchecked */

	sent_done = ((struct vmiop_mem_batch *)arg)->done;	/* WRITE_MEM */
	f->calls++;
	ret = xioctl(fd, nr, up);
	if ((expect && !ret) || (expect > 0 && ret != -expect)) {
		vmtest_diag("%s fd, size %u, wanted %s%d; the struct:",
			    fd == f->a ? "attached" : fd == f->u ? "unattached" : "read-only", size,
			    expect > 0 ? "-" : "any error ", expect > 0 ? expect : 0);
		for (n = 0; n < c->size && n < 128; n += 16)
			vmtest_diag("  %03x: %016llx %016llx", n,
				    (unsigned long long)*(uint64_t *)(arg + n),
				    (unsigned long long)*(uint64_t *)(arg + n + 8));
		fuzz_fail(f, ret ? "refused with the wrong error" : "accepted what must be refused",
			  c->name, mut_names[m], ret);
	}
	if (expect)
		f->must_fail++;
	if (fd == f->r) {
		f->failed += ret != 0;
		check_read_only(f, c->name, mut_names[m], ret);
	} else if (ret) {
		f->failed++;
		if (c->nr == VMIOP_WRITE_MEM && fd == f->a && m != MUT_ARG_PTR)
			check_batch_prefix(f, up, sent_done, c->name, mut_names[m], ret);
		check_unchanged(f, c->name, mut_names[m], ret);
	} else {
		if (c->nr == VMIOP_RING_SETUP && fd == f->a && !f->ring_mem) {
			struct vmiop_ring_setup *rs = up;

			f->ring_size = rs->mmap_size;
			f->ring_mask = rs->nr_entries - 1;
			f->ring_mem = mmap(NULL, f->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
					   f->a, VMIOP_MMAP_RING_OFFSET);
			ASSERT_TRUE(f->ring_mem != MAP_FAILED);
		}
		settle(f);
	}
	drain_events(f);
}

/* mmap(2) of either fd at random offsets, sizes, protections. */
static void fuzz_mmap(struct fz *f, int fd)
{
	static const int prots[] = { PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE, PROT_NONE,
				     PROT_READ | PROT_EXEC };
	uint64_t off;
	size_t len = PAGE * (1 + rnd_below(8));
	void *p;

	switch (rnd_below(4)) {
	case 0:
		off = PAGE * rnd_below(8);	/* the ring */
		break;
	case 1:
		off = VMIOP_MMAP_GUEST_OFFSET + PAGE * rnd_below(tvm_mem_size(f->tvm) / PAGE + 1024);
		break;
	case 2:
		off = rnd_value() & ~(PAGE - 1);
		break;
	default:
		off = VMIOP_MMAP_GUEST_OFFSET + (f->window & ~(PAGE - 1));
		break;
	}
	if (rnd_below(8) == 0)
		len = rnd_value() & ((1ULL << 40) - 1);
	f->calls++;
	p = mmap(NULL, len, prots[rnd_below(5)], rnd_below(4) ? MAP_SHARED : MAP_PRIVATE, fd,
		 (off_t)off);
	if (p == MAP_FAILED) {
		f->failed++;
		check_unchanged(f, "mmap", "random", -errno);
		return;
	}
	/* A mapping of the unattached fd would be a session's memory without one. */
	if (fd == f->u)
		fuzz_fail(f, "mapped an unattached fd", "mmap", "random", 0);
	munmap(p, len);
	check_unchanged(f, "mmap", "random", 0);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

TEST_TIMEOUT(mutated_calls_change_nothing_they_fail, 600)
{
	struct fz *f = calloc(1, sizeof(*f));
	uint64_t seed, calls;
	struct timespec ts;
	unsigned int i;
	uint8_t *m;

	ASSERT_TRUE(f != NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	seed = env_u64("VMIOP_FUZZ_SEED", (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20);
	calls = env_u64("VMIOP_FUZZ_CALLS", FUZZ_CALLS);
	rng_seed = seed;
	rng_state = seed ? seed : 1;
	vmtest_diag("seed %llu, %llu calls (replay: VMIOP_FUZZ_SEED=%llu)",
		    (unsigned long long)seed, (unsigned long long)calls,
		    (unsigned long long)seed);

	f->tvm = tvm_create(NR_VCPUS, 0);
	f->tvm2 = tvm_create(1, 0);
	f->tvm3 = tvm_create(1, 0);
	f->window = tvm_alloc_gpa(f->tvm, WINDOW_SIZE, PAGE);
	f->window_hva = tvm_gpa2hva(f->tvm, f->window);
	for (i = 0; i < WINDOW_SIZE; i++)
		f->window_hva[i] = (uint8_t)(i * 31 + 7);
	memcpy(f->window_copy, f->window_hva, WINDOW_SIZE);
	/* The same window, at the same gpa, in the read-only session's guest. */
	ASSERT_EQ(tvm_alloc_gpa(f->tvm3, WINDOW_SIZE, PAGE), f->window);
	f->r_window_hva = tvm_gpa2hva(f->tvm3, f->window);
	memcpy(f->r_window_hva, f->window_copy, WINDOW_SIZE);
	tvm_get_regs(tvm_vcpu(f->tvm3, 0), &f->r_regs);
	tvm_get_sregs(tvm_vcpu(f->tvm3, 0), &f->r_sregs);
	for (i = 0; i < NR_VCPUS; i++) {
		tvm_vcpu_entry(tvm_vcpu(f->tvm, i), guest_cli_hlt, 0);
		tvm_vcpu_thread_start(tvm_vcpu(f->tvm, i), NULL, NULL);
	}

	m = mmap(NULL, 6 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(m != MAP_FAILED);
	f->rw = m;
	f->ro = m + PAGE;
	f->none = m + 2 * PAGE;
	f->edge = m + 3 * PAGE;
	ASSERT_EQ(mprotect(f->ro, PAGE, PROT_READ), 0);
	ASSERT_EQ(mprotect(f->none, PAGE, PROT_NONE), 0);
	/*
	 * Inaccessible rather than unmapped: VMIOP_ADD_MEMORY maps pages into
	 * this process (the VMM), and an unmapped hole may be where they go.
	 */
	ASSERT_EQ(mprotect(f->edge + PAGE, PAGE, PROT_NONE), 0);
	f->buf = malloc(4 * PAGE);
	ASSERT_TRUE(f->buf != NULL);

	f->a = open(VMIOP_DEVICE, O_RDWR | O_CLOEXEC);
	f->u = open(VMIOP_DEVICE, O_RDWR | O_CLOEXEC);
	f->r = open(VMIOP_DEVICE, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(f->a, 0);
	ASSERT_GE(f->u, 0);
	ASSERT_GE(f->r, 0);
	{
		struct vmiop_attach at = { .size = sizeof(at), .vm_fd = tvm_vm_fd(f->tvm) };

		ASSERT_EQ(xioctl(f->a, VMIOP_ATTACH, &at), 0);
		at.vm_fd = tvm_vm_fd(f->tvm3);
		ASSERT_EQ(xioctl(f->r, VMIOP_ATTACH, &at), 0);
	}
	/*
	 * The state to compare with, once both vCPUs sit after their HLT
	 * (KVM's statistics are out of reach: reading them waits for the
	 * vCPU's mutex, which a halted vCPU holds).
	 */
	VT_WAIT_UNTIL(halted_after_hlt(f));

	while (f->calls < calls) {
		uint64_t which = rnd_below(8);
		int fd = which < 5 ? f->a : which < 7 ? f->u : f->r;

		if (rnd_below(16) == 0)
			fuzz_mmap(f, fd);
		else
			fuzz_one(f, fd);
	}
	vmtest_diag("%lu calls, %lu failed (%lu had to), none changed anything",
		    f->calls, f->failed, f->must_fail);

	/* Still a working session on a working guest. */
	while (f->pause_count) {
		struct vmiop_pause p = { .size = sizeof(p) };

		ASSERT_EQ(xioctl(f->a, VMIOP_RESUME, &p), 0);
		f->pause_count--;
	}
	close(f->u);
	close(f->r);
	if (f->ring_mem)
		munmap(f->ring_mem, f->ring_size);
	close(f->a);
	for (i = 0; i < NR_VCPUS; i++)
		ASSERT_EQ(tvm_vcpu_thread_stop(tvm_vcpu(f->tvm, i)), TVM_THREAD_STOPPED);
	tvm_destroy(f->tvm3);
	tvm_destroy(f->tvm2);
	tvm_destroy(f->tvm);
}

VMTEST_MAIN()
