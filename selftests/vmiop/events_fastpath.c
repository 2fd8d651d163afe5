// SPDX-License-Identifier: GPL-2.0
/*
 * The fast path: replies through the ring's mapping (alone, mixed with
 * VMIOP_EVENT_REPLY, refused ones counted), the wake-up flag of a vCPU
 * that sleeps for its reply, vmiop_event_loop() in each of its modes with
 * four vCPUs, and the ring's replies from a killed consumer, a forked
 * child and a second mapping.  Shown with CPUID events.  Whether a vCPU
 * spins or sleeps depends on the scheduler, so every test holds either
 * way; the one that needs the sleep sets reply_spin_us to 0.
 */
#include <stddef.h>
#include <sys/mman.h>
#include "event_fixture.h"

#define SPIN_PARAM "/sys/module/vmiop/parameters/reply_spin_us"

static int spin_us_write(unsigned int us)
{
	FILE *f = fopen(SPIN_PARAM, "w");

	if (!f)
		return -1;
	fprintf(f, "%u\n", us);
	return fclose(f);
}

/*
 * The module's value when the program started, read before any test (each
 * runs in a child the harness forks, which ends with _exit()), and put
 * back when the program exits, whatever a failed test left.  The tests
 * that need a value set it; the others hold whatever it is.
 */
static unsigned int spin_us_default = 100;

static void spin_us_restore(void)
{
	spin_us_write(spin_us_default);
}

__attribute__((constructor)) static void spin_us_save(void)
{
	FILE *f = fopen(SPIN_PARAM, "r");

	if (!f)
		return;
	if (fscanf(f, "%u", &spin_us_default) == 1)
		atexit(spin_us_restore);
	fclose(f);
}

static void spin_us_set(unsigned int us)
{
	ASSERT_EQ(spin_us_write(us), 0);
}

static struct vmiop_event_reply cpuid_result(uint32_t eax, uint32_t ebx)
{
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SET_RESULT };

	r.cpuid.eax = eax;
	r.cpuid.ebx = ebx;
	return r;
}

/* Queues @rr as it is, unchecked by the library: what a buggy consumer writes. */
static void push_raw(struct vmiop_ring *ring, const struct vmiop_ring_reply *rr)
{
	ring->replies[ring->reply_next & ring->mask] = *rr;
	ring->reply_next++;
}

/*
 * The VM most tests use: one vCPU running guest_cpuid_steps, every CPUID
 * an event, the ring set up with @nr entries.
 */
static struct vmiop_ring *steps_start(struct tvm *tvm, struct vmiop *v, unsigned int nr)
{
	struct vmiop_ring *ring = vt_ring_setup(v, nr);

	ASSERT_TRUE(ring != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	return ring;
}

/* The vCPU is done, and step i's CPUID returned EAX @eax0 + i. */
static void steps_done_with(struct tvm *tvm, uint32_t eax0)
{
	struct cpuid_out *out;
	int i;

	ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, 0)), TVM_THREAD_DONE);
	out = *TVM_GUEST_VAR(tvm, cpuid_results);
	for (i = 0; i < NR_CPUID_STEPS; i++)
		EXPECT_EQ(out[i].eax, eax0 + i);
}

TEST(ring_and_ioctl_replies_mix)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	struct cpuid_out *out;
	int i;

	ring = steps_start(tvm, v, 8);
	ASSERT_TRUE(ring->replies != NULL);
	for (i = 0; i < NR_CPUID_STEPS; i++) {
		struct vmiop_event_reply r = cpuid_result(0x1000 + i, 0x2000 + i);
		struct vmiop_event *ev;

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		EXPECT_EQ(ev->seq, (uint64_t)i + 1);
		EXPECT_EQ(ev->cpuid.leaf, cpuid_leaves[i]);
		if (i % 2) {
			ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		} else {
			ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
			ASSERT_EQ(vmiop_ring_submit(ring, false), 0);
		}
		vmiop_ring_advance(ring, 1);
	}
	steps_done_with(tvm, 0x1000);
	out = *TVM_GUEST_VAR(tvm, cpuid_results);
	for (i = 0; i < NR_CPUID_STEPS; i++)
		EXPECT_EQ(out[i].ebx, 0x2000 + i);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, NULL, NULL), 0);
	/* Every reply was taken: the module's tail caught up with ours. */
	EXPECT_EQ(*ring->reply_tail, *ring->reply_head);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * Replies VMIOP_EVENT_REPLY would refuse are counted, not carried out, and
 * the waiting vCPU still takes its one right answer; a second answer to
 * the same event is refused too.
 */
TEST(bad_ring_replies_are_counted_and_change_nothing)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring_reply good = { 0 }, bad;
	struct vmiop_ring_status last;
	unsigned int nr_bad = 0, waiting;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct cpuid_out *out;
	int i;

	ring = steps_start(tvm, v, 16);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);

	good.reply = cpuid_result(0x77, 0x78);
	good.reply.size = sizeof(good.reply);
	good.reply.vcpu = ev->vcpu;
	good.reply.seq = ev->seq;

	bad = good;
	bad.reply.cpuid.eax = 0x66;
	bad.reply.seq = ev->seq + 1;		/* not waiting */
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.seq = ev->seq;
	bad.reply.vcpu = 3;			/* no such vCPU waits */
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.vcpu = 1u << 20;		/* beyond KVM_MAX_VCPUS */
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.vcpu = ev->vcpu;
	bad.reply.action = VMIOP_ACTION_EMULATE;	/* not a CPUID's */
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.action = 0;
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.action = VMIOP_ACTION_SET_RESULT;
	bad.reply.size = sizeof(bad.reply) - 8;
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.size = sizeof(bad.reply);
	bad.reserved[1] = 1;
	push_raw(ring, &bad);
	nr_bad++;
	bad.reserved[1] = 0;
	bad.reply.flags = 1u << 30;
	push_raw(ring, &bad);
	nr_bad++;
	bad.reply.flags = 0;
	bad.reply.reserved = 1;
	push_raw(ring, &bad);
	nr_bad++;
	ASSERT_EQ(vmiop_ring_submit(ring, true), 0);
	/* The system call took them all before it returned. */
	EXPECT_EQ(*ring->reply_tail, ring->reply_next);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, &waiting, &last), nr_bad);
	/* -ENOENT for the three that name no waiting event, -EINVAL for the rest */
	EXPECT_EQ(waiting, nr_bad - 3);
	EXPECT_EQ(last.reply_errors, nr_bad);
	EXPECT_EQ(last.reply_refused, nr_bad - 3);
	EXPECT_EQ(last.last_error, -EINVAL);
	EXPECT_EQ(last.last_error_index, ring->reply_next - 1);
	EXPECT_EQ(last.last_error_vcpu, ev->vcpu);
	EXPECT_EQ(last.last_error_seq, ev->seq);
	EXPECT_EQ(tvm_vcpu_thread_state(vcpu), TVM_THREAD_RUNNING);

	/* The right answer, then the same again: the second is refused. */
	push_raw(ring, &good);
	bad = good;
	bad.reply.cpuid.eax = 0x66;
	push_raw(ring, &bad);
	ASSERT_EQ(vmiop_ring_submit(ring, true), 0);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, &waiting, &last), 1);
	/* -ENOENT: nobody waits, and the last waiting refusal stays named */
	EXPECT_EQ(waiting, 0);
	EXPECT_EQ(last.reply_refused, nr_bad - 3);
	EXPECT_EQ(last.last_error_index, ring->reply_next - 3);
	/* And through the ioctl: nobody waits for that event any more. */
	ASSERT_ERRNO(vmiop_event_reply(v, ev, &bad.reply), ENOENT);
	vmiop_ring_advance(ring, 1);

	for (i = 1; i < NR_CPUID_STEPS; i++) {
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		EXPECT_EQ(ev->seq, (uint64_t)i + 1);
		ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
		ASSERT_EQ(vmiop_ring_submit(ring, false), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	out = *TVM_GUEST_VAR(tvm, cpuid_results);
	EXPECT_EQ(out[0].eax, 0x77);
	EXPECT_EQ(out[0].ebx, 0x78);
	EXPECT_NE(out[1].ebx, 0xbbbb);	/* "continue": KVM's answer */
	EXPECT_EQ(vmiop_ring_reply_errors(ring, NULL, NULL), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A vCPU that does not spin sleeps with VMIOP_RING_NEED_WAKEUP set, and a
 * reply in the ring then needs the system call vmiop_ring_submit() makes
 * for it; the flag is clear once nobody sleeps.
 */
TEST(sleeping_vcpu_sets_need_wakeup)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	int i;

	spin_us_set(0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	EXPECT_EQ(ring->status->flags, 0);
	tvm_vcpu_entry(vcpu, guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (i = 0; i < NR_CPUID_STEPS; i++) {
		struct vmiop_event_reply r = cpuid_result(0x3000 + i, 0);
		struct vmiop_event *ev;

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		VT_WAIT_UNTIL(__atomic_load_n(&ring->status->flags, __ATOMIC_ACQUIRE) &
			      VMIOP_RING_NEED_WAKEUP);
		VT_WAIT_UNTIL(vt_thread_sleeps_in(tvm_vcpu_thread_tid(vcpu), "vmiop_park_wait"));
		ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
		ASSERT_EQ(vmiop_ring_submit(ring, false), 0);
		vmiop_ring_advance(ring, 1);
	}
	steps_done_with(tvm, 0x3000);
	EXPECT_EQ(ring->status->flags, 0);
	spin_us_set(spin_us_default);
	vmiop_close(v);
	tvm_destroy(tvm);
}

#define LOOP_VCPUS 4
#define LOOP_EVENTS 500

struct loop_state {
	uint64_t expect_seq;
	unsigned int per_vcpu[LOOP_VCPUS];
	unsigned int total;
	unsigned int wrong;
};

static int loop_cpuid(struct vmiop *v, const struct vmiop_event *ev,
		      struct vmiop_event_reply *r, void *opaque)
{
	struct loop_state *s = opaque;

	(void)v;
	if (ev->seq != s->expect_seq++ || ev->vcpu >= LOOP_VCPUS ||
	    ev->cpuid.leaf != FLOOD_LEAF || ev->cpuid.subleaf != s->per_vcpu[ev->vcpu])
		s->wrong++;
	if (ev->vcpu < LOOP_VCPUS) {
		r->action = VMIOP_ACTION_SET_RESULT;
		r->cpuid.eax = ev->vcpu;
		r->cpuid.ebx = s->per_vcpu[ev->vcpu]++;
	}
	/* Non-zero stops the loop, after this reply went out. */
	return ++s->total == LOOP_VCPUS * LOOP_EVENTS;
}

/*
 * Four vCPUs, LOOP_EVENTS CPUIDs each, answered by vmiop_event_loop():
 * every event once, in sequence, every answer right.
 */
static void loop_four_vcpus(unsigned int flags, unsigned int spin_us)
{
	static const vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES] = {
		[VMIOP_EVENT_CPUID] = loop_cpuid,
	};
	struct tvm *tvm = tvm_create(LOOP_VCPUS, 0);
	struct loop_state s = { .expect_seq = 1 };
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	uint64_t *bad;
	int i;

	spin_us_set(spin_us);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	*TVM_GUEST_VAR(tvm, flood_events) = LOOP_EVENTS;
	for (i = 0; i < LOOP_VCPUS; i++) {
		tvm_vcpu_entry(tvm_vcpu(tvm, i), guest_flood, i);
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), NULL, NULL);
	}
	ASSERT_EQ(vmiop_event_loop(v, ring, handlers, &s, flags, 120000), 1);
	for (i = 0; i < LOOP_VCPUS; i++) {
		ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, i)), TVM_THREAD_DONE);
		EXPECT_EQ(s.per_vcpu[i], LOOP_EVENTS);
	}
	EXPECT_EQ(s.wrong, 0);
	bad = *TVM_GUEST_VAR(tvm, flood_bad);
	for (i = 0; i < LOOP_VCPUS; i++)
		EXPECT_EQ(bad[i], 0);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, NULL, NULL), 0);
	spin_us_set(spin_us_default);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(event_loop_blocking_four_vcpus)
{
	loop_four_vcpus(0, 100);
}

TEST(event_loop_spinning_four_vcpus)
{
	loop_four_vcpus(VMIOP_LOOP_SPIN, 100);
}

TEST(event_loop_polling_four_vcpus)
{
	loop_four_vcpus(VMIOP_LOOP_POLL, 100);
}

/* Every vCPU sleeps: every batch's replies need the flag's system call. */
TEST(event_loop_polling_vcpus_never_spin)
{
	loop_four_vcpus(VMIOP_LOOP_POLL, 0);
}

TEST(event_loop_ioctl_replies_four_vcpus)
{
	loop_four_vcpus(VMIOP_LOOP_IOCTL, 100);
}

/*
 * A reply queued with vmiop_ring_reply() and never submitted still reaches
 * a sleeping vCPU at the consumer's next vmiop_event_wait(): the wait
 * hands it over (a LibVMI callback that listens again does that).
 */
TEST(event_wait_hands_queued_replies_over)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	int i;

	spin_us_set(0);
	ring = steps_start(tvm, v, 8);
	for (i = 0; i < NR_CPUID_STEPS; i++) {
		struct vmiop_event_reply r = cpuid_result(0x6000 + i, 0);
		struct vmiop_event *ev;

		VT_WAIT_UNTIL(vmiop_ring_ready(ring));
		ev = vmiop_ring_peek(ring);
		EXPECT_EQ(ev->seq, (uint64_t)i + 1);
		VT_WAIT_UNTIL(__atomic_load_n(&ring->status->flags, __ATOMIC_ACQUIRE) &
			      VMIOP_RING_NEED_WAKEUP);
		ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
		/* Not submitted: only the wait can hand it over. */
		vmiop_event_wait(v, 0);
	}
	steps_done_with(tvm, 0x6000);
	spin_us_set(spin_us_default);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(event_loop_bad_arguments)
{
	static const vmiop_event_handler none[VMIOP_EVENT_NR_TYPES];
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	EXPECT_EQ(vmiop_event_loop(v, ring, none, NULL, 1u << 7, 0), -EINVAL);
	EXPECT_EQ(vmiop_event_loop(v, ring, none, NULL, 0, -2), -EINVAL);
	/* Nothing comes: the timeout ends it, in both modes. */
	EXPECT_EQ(vmiop_event_loop(v, ring, none, NULL, 0, 10), 0);
	EXPECT_EQ(vmiop_event_loop(v, ring, none, NULL, VMIOP_LOOP_POLL, 10), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A consumer killed with replies queued but not handed over, and others
 * handed over to vCPUs that may not have taken them yet: detach lets
 * every vCPU go.
 */
TEST(consumer_killed_mid_batch_leaves_no_vcpu_waiting)
{
	struct tvm *tvm = tvm_create(2, 0);
	int fds[2], status, i;
	pid_t pid;
	char c;

	*TVM_GUEST_VAR(tvm, flood_events) = 50;
	ASSERT_EQ(pipe(fds), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct vmiop_ring *ring;
		struct vmiop_event *ev;
		struct vmiop *v;
		unsigned int n = 0;

		if (vmiop_open(&v) || vmiop_attach_pid(v, getppid()) ||
		    vmiop_ring_setup(v, 8, &ring) ||
		    vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0) ||
		    write(fds[1], "a", 1) != 1)
			_exit(1);
		/*
		 * Hand over three replies, then queue one for each vCPU's next
		 * event without handing it over: five events in all.
		 */
		while (n < 5) {
			if (vmiop_event_wait(v, 60000) <= 0)
				_exit(1);
			while ((ev = vmiop_ring_peek(ring))) {
				struct vmiop_event_reply r = {
					.action = VMIOP_ACTION_SET_RESULT,
					.cpuid = { .eax = ev->vcpu, .ebx = ev->cpuid.subleaf },
				};

				if (vmiop_ring_reply(ring, ev, &r))
					_exit(1);
				if (n++ < 3)
					vmiop_ring_submit(ring, false);
				vmiop_ring_advance(ring, 1);
			}
		}
		if (write(fds[1], "e", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ASSERT_EQ(read(fds[0], &c, 1), 1);
	ASSERT_EQ(c, 'a');
	for (i = 0; i < 2; i++) {
		tvm_vcpu_entry(tvm_vcpu(tvm, i), guest_flood, i);
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), NULL, NULL);
	}
	ASSERT_EQ(read(fds[0], &c, 1), 1);
	ASSERT_EQ(c, 'e');
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	for (i = 0; i < 2; i++)
		ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, i)), TVM_THREAD_DONE);
	close(fds[0]);
	tvm_destroy(tvm);
}

static int child_two_events(struct vmiop *v, const struct vmiop_event *ev,
			    struct vmiop_event_reply *r, void *opaque)
{
	unsigned int *n = opaque;

	(void)v;
	r->action = VMIOP_ACTION_SET_RESULT;
	r->cpuid.eax = 0x4000 + (uint32_t)ev->seq;
	return ++*n == 2;
}

/*
 * The ring is the session's, whoever maps it: a forked child answers the
 * first two events through the mapping it inherited; then this process
 * answers two through libvmiop (which continues from the child's
 * reply_head) and the last through a second mapping of its own.
 */
TEST(forked_child_and_second_mapping_reply)
{
	static const vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES] = {
		[VMIOP_EVENT_CPUID] = child_two_events,
	};
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring_reply *alt, *slot;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	unsigned int *alt_head, head;
	int status, i;
	void *map2;
	pid_t pid;

	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	map2 = mmap(NULL, ring->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, vmiop_fd(v),
		    VMIOP_MMAP_RING_OFFSET);
	ASSERT_TRUE(map2 != MAP_FAILED);
	alt = (void *)((char *)map2 + ((char *)ring->replies - (char *)ring->mem));
	alt_head = (void *)((char *)map2 + ((char *)ring->reply_head - (char *)ring->mem));
	tvm_vcpu_entry(vcpu, guest_cpuid_steps, 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		unsigned int n = 0;

		_exit(vmiop_event_loop(v, ring, handlers, &n, 0, 60000) == 1 ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The child's two replies moved the shared index, not this process's copy. */
	EXPECT_EQ(__atomic_load_n(alt_head, __ATOMIC_ACQUIRE), 2);

	for (i = 2; i < 4; i++) {
		struct vmiop_event_reply r = cpuid_result(0x4001 + i, 0);

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		EXPECT_EQ(ev->seq, (uint64_t)i + 1);
		ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
		ASSERT_EQ(vmiop_ring_submit(ring, false), 0);
		vmiop_ring_advance(ring, 1);
	}

	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->seq, 5);
	head = __atomic_load_n(alt_head, __ATOMIC_RELAXED);
	EXPECT_EQ(head, 4);
	slot = &alt[head & ring->mask];
	memset(slot, 0, sizeof(*slot));
	slot->reply = cpuid_result(0x4005, 0);
	slot->reply.size = sizeof(slot->reply);
	slot->reply.vcpu = ev->vcpu;
	slot->reply.seq = ev->seq;
	__atomic_store_n(alt_head, head + 1, __ATOMIC_RELEASE);
	/* Any system call takes it, whether or not the vCPU sleeps. */
	vmiop_event_wait(v, 0);
	vmiop_ring_advance(ring, 1);

	steps_done_with(tvm, 0x4001);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, NULL, NULL), 0);
	munmap(map2, ring->mem_size);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A reply_head behind the module's tail (or more than a ring ahead) is
 * refused as a whole, counted once, and nothing is taken until it is put
 * right; then the ring works as before.
 */
TEST(bad_reply_head_is_refused_as_a_whole)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_event_reply r = cpuid_result(0x5000, 0);
	struct vmiop_ring_status last;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	unsigned int tail, waiting;
	int i;

	ring = steps_start(tvm, v, 8);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	/* One good reply taken, so that the tail is not 0. */
	ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
	ASSERT_EQ(vmiop_ring_submit(ring, true), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	tail = *ring->reply_tail;
	ASSERT_EQ(tail, 1);

	/* Each wait takes the ring's replies; event 2 is still in the ring. */
	__atomic_store_n(ring->reply_head, tail - 1, __ATOMIC_RELEASE);
	ASSERT_EQ(vmiop_event_wait(v, 0), 1);
	ASSERT_EQ(vmiop_event_wait(v, 0), 1);	/* the same value: counted once */
	EXPECT_EQ(vmiop_ring_reply_errors(ring, &waiting, &last), 1);
	EXPECT_EQ(waiting, 1);
	EXPECT_EQ(last.last_error, -EINVAL);
	EXPECT_EQ(last.last_error_index, tail - 1);
	EXPECT_EQ(last.last_error_vcpu, ~0u);
	EXPECT_EQ(*ring->reply_tail, tail);
	__atomic_store_n(ring->reply_head, tail + 9, __ATOMIC_RELEASE);	/* a ring and one ahead */
	ASSERT_EQ(vmiop_event_wait(v, 0), 1);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, &waiting, &last), 1);
	EXPECT_EQ(last.last_error_index, tail + 9);
	EXPECT_EQ(*ring->reply_tail, tail);
	EXPECT_EQ(tvm_vcpu_thread_state(vcpu), TVM_THREAD_RUNNING);

	/* Put right: the producer goes on from the module's tail. */
	__atomic_store_n(ring->reply_head, tail, __ATOMIC_RELEASE);
	ring->reply_next = ring->reply_published = tail;
	for (i = 1; i < NR_CPUID_STEPS; i++) {
		r = cpuid_result(0x5000 + i, 0);
		if (i > 1)
			ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		EXPECT_EQ(ev->seq, (uint64_t)i + 1);
		ASSERT_EQ(vmiop_ring_reply(ring, ev, &r), 0);
		ASSERT_EQ(vmiop_ring_submit(ring, false), 0);
		vmiop_ring_advance(ring, 1);
	}
	steps_done_with(tvm, 0x5000);
	EXPECT_EQ(vmiop_ring_reply_errors(ring, NULL, NULL), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static int continue_cpuid(struct vmiop *v, const struct vmiop_event *ev,
			  struct vmiop_event_reply *r, void *opaque)
{
	(void)v;
	(void)ev;
	(void)opaque;
	r->action = VMIOP_ACTION_CONTINUE;
	return 0;
}

/*
 * vmiop_event_loop() with a timeout of 0 answers what is ready and
 * returns: its replies must reach a vCPU that sleeps (no spinning here),
 * though nothing else makes a system call.
 */
TEST(event_loop_returning_hands_its_replies_over)
{
	static const vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES] = {
		[VMIOP_EVENT_CPUID] = continue_cpuid,
	};
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_ring *ring;
	int i;

	spin_us_set(0);
	ring = steps_start(tvm, v, 8);
	for (i = 0; i < NR_CPUID_STEPS; i++) {
		/* Only memory: a wait would take the replies itself. */
		VT_WAIT_UNTIL(vmiop_ring_ready(ring));
		EXPECT_EQ(vmiop_ring_peek(ring)->seq, (uint64_t)i + 1);
		VT_WAIT_UNTIL(__atomic_load_n(&ring->status->flags, __ATOMIC_ACQUIRE) &
			      VMIOP_RING_NEED_WAKEUP);
		ASSERT_EQ(vmiop_event_loop(v, ring, handlers, NULL, 0, 0), 0);
		/* Answered and taken: the vCPU, woken, may have posted its next. */
		EXPECT_TRUE(!vmiop_ring_ready(ring) ||
			    vmiop_ring_peek(ring)->seq == (uint64_t)i + 2);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	spin_us_set(spin_us_default);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * The reply fields of VMIOP_RING_SETUP are out fields, and a caller that
 * knows only the first version of the struct gets the same layout.  A
 * read-only session has no reply ring: its mapping is read-only.
 */
TEST(ring_setup_layouts)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop_ring_setup rs = { .size = sizeof(rs), .nr_entries = 4 };
	struct vmiop_ring_setup old = { .size = offsetof(struct vmiop_ring_setup, reply_head_offset),
					.nr_entries = 4 };
	struct vmiop *v = vt_attach(tvm), *ro;
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };
	struct vmiop_event ev = { .seq = 1 };
	struct vmiop_ring *ring;
	struct vmiop_api api;

	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	EXPECT_TRUE(api.features & VMIOP_FEAT_REPLY_RING);
	rs.reply_size = 1;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_RING_SETUP, &rs), EINVAL);
	rs.reply_size = 0;
	rs.status_size = 1;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_RING_SETUP, &rs), EINVAL);
	rs.status_size = 0;
	rs.status_offset = 64;
	ASSERT_ERRNO(xioctl(vmiop_fd(v), VMIOP_RING_SETUP, &rs), EINVAL);
	ASSERT_EQ(xioctl(vmiop_fd(v), VMIOP_RING_SETUP, &old), 0);
	EXPECT_EQ(old.entries_offset, 4096);
	EXPECT_EQ(old.entry_size, sizeof(struct vmiop_event));
	vmiop_close(v);

	v = vt_attach(tvm);
	memset(&rs, 0, sizeof(rs));
	rs.size = sizeof(rs);
	rs.nr_entries = 4;
	ASSERT_EQ(xioctl(vmiop_fd(v), VMIOP_RING_SETUP, &rs), 0);
	EXPECT_EQ(rs.entries_offset, old.entries_offset);
	EXPECT_EQ(rs.reply_size, sizeof(struct vmiop_ring_reply));
	EXPECT_EQ(rs.status_size, sizeof(struct vmiop_ring_status));
	EXPECT_TRUE(rs.replies_offset >= rs.entries_offset + 4 * rs.entry_size);
	EXPECT_TRUE(rs.mmap_size >= rs.replies_offset + 4 * rs.reply_size);
	/* The old caller's mapping size covers the replies too: it may map less. */
	EXPECT_EQ(rs.mmap_size, old.mmap_size);
	vmiop_close(v);

	ASSERT_EQ(vmiop_open_readonly(&ro), 0);
	ASSERT_EQ(vmiop_attach_fd(ro, tvm_vm_fd(tvm)), 0);
	ASSERT_TRUE((ring = vt_ring_setup(ro, 4)) != NULL);
	EXPECT_TRUE(ring->replies == NULL);
	EXPECT_EQ(vmiop_ring_reply(ring, &ev, &r), -EOPNOTSUPP);
	EXPECT_EQ(vmiop_ring_submit(ring, false), -EOPNOTSUPP);
	vmiop_close(ro);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
