// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The reply ring without a VM: the index arithmetic the module takes
 * replies by (across the 2^32 wrap, and against any reply_head a consumer
 * writes), the geometry, the check of an entry, and libvmiop's producer
 * (vmiop_ring_reply(), vmiop_ring_submit(): a system call exactly when a
 * vCPU sleeps) against a module side that follows event.c's rules on
 * plain memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "abi.h"
#include "libvmiop.h"

static void take_counts(void **state)
{
	(void)state;
	assert_int_equal(abi_replies_to_take(5, 5, 8), 0);
	assert_int_equal(abi_replies_to_take(7, 5, 8), 2);
	/* across the wrap */
	assert_int_equal(abi_replies_to_take(2, 0xfffffffeu, 8), 4);
	/* exactly a ring's worth */
	assert_int_equal(abi_replies_to_take(8, 0, 8), 8);
	assert_false(abi_reply_head_bad(8, 0, 8));
	/* more than the ring holds: a bad head, nothing taken */
	assert_true(abi_reply_head_bad(9, 0, 8));
	assert_int_equal(abi_replies_to_take(9, 0, 8), 0);
	/* behind the module's tail (a producer that lost count): bad too */
	assert_true(abi_reply_head_bad(4, 5, 4096));
	assert_int_equal(abi_replies_to_take(4, 5, 4096), 0);
	/* across the wrap, both ways */
	assert_false(abi_reply_head_bad(3, 0xfffffffdu, 8));
	assert_true(abi_reply_head_bad(0xfffffffdu, 3, 8));
	assert_int_equal(abi_ring_slot(0xffffffffu, 8), 7);
	assert_int_equal(abi_ring_slot(8, 8), 0);
}

static void geometry(void **state)
{
	struct vmiop_ring_setup r;
	__u32 n;

	(void)state;
	for (n = 1; n <= VMIOP_RING_MAX_ENTRIES; n <<= 1) {
		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		r.nr_entries = n;
		assert_int_equal(abi_ring_setup(&r), 0);
		assert_int_equal(r.reply_size, sizeof(struct vmiop_ring_reply));
		assert_int_equal(r.status_size, sizeof(struct vmiop_ring_status));
		/* each index on its own cache line, all in the first page */
		assert_int_equal(r.reply_head_offset % 64, 0);
		assert_int_equal(r.reply_tail_offset % 64, 0);
		assert_int_equal(r.status_offset % 64, 0);
		assert_true(r.reply_head_offset >= r.tail_offset + 64);
		assert_true(r.reply_tail_offset >= r.reply_head_offset + 64);
		assert_true(r.status_offset >= r.reply_tail_offset + 64);
		assert_true(r.status_offset + sizeof(struct vmiop_ring_status) <= r.entries_offset);
		/* the replies from the page after the events, all mapped */
		assert_int_equal(r.replies_offset % 4096, 0);
		assert_true(r.replies_offset >= r.entries_offset + (__u64)n * r.entry_size);
		assert_true(r.mmap_size >= r.replies_offset + (__u64)n * r.reply_size);
		assert_true(r.mmap_size < r.replies_offset + (__u64)n * r.reply_size + 4096);
		assert_int_equal(r.mmap_size % 4096, 0);
	}
	/* out fields come in as 0 */
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.replies_offset = 4096;
	assert_int_equal(abi_ring_setup(&r), -EINVAL);
	r.replies_offset = 0;
	r.status_size = 1;
	assert_int_equal(abi_ring_setup(&r), -EINVAL);
}

#define TAKES_EMULATE ((1u << VMIOP_ACTION_CONTINUE) | (1u << VMIOP_ACTION_EMULATE))

static void entry_checks(void **state)
{
	struct vmiop_ring_reply rr = { .reply = { .size = sizeof(rr.reply),
						  .action = VMIOP_ACTION_EMULATE } };

	(void)state;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), 0);
	/* the bytes are in the entry: any pointer is refused */
	rr.reply.emul_read.len = 8;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), 0);
	rr.reply.emul_read.data = 0x1000;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), -EINVAL);
	rr.reply.emul_read.data = 0;
	rr.reply.emul_read.len = VMIOP_EMUL_READ_MAX + 1;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), -EINVAL);
	rr.reply.emul_read.len = VMIOP_EMUL_READ_MAX;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), 0);
	rr.reply.size = sizeof(rr.reply) + 8;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), -EINVAL);
	rr.reply.size = 0;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), -EINVAL);
	rr.reply.size = sizeof(rr.reply);
	rr.reserved[0] = 1;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), -EINVAL);
	rr.reserved[0] = 0;
	/* the ioctl's rules otherwise: an action the class does not take */
	rr.reply.action = VMIOP_ACTION_SKIP;
	assert_int_equal(abi_check_ring_reply(&rr, TAKES_EMULATE), -EINVAL);
	/* and the ioctl still wants its pointer with a length */
	rr.reply.action = VMIOP_ACTION_EMULATE;
	rr.reply.emul_read.len = 8;
	assert_int_equal(abi_check_event_reply(&rr.reply, TAKES_EMULATE), -EINVAL);
}

/* A mapping laid out as the module lays it out, and its side of the ring. */
struct fake_module {
	struct vmiop_ring_setup geo;
	void *mem;
	struct vmiop_ring ring;
	__u32 tail;		/* the module's reply_tail */
	unsigned int taken, refused, bad_heads;
};

static void fake_setup(struct fake_module *m, __u32 nr, __u32 start)
{
	memset(m, 0, sizeof(*m));
	m->geo.size = sizeof(m->geo);
	m->geo.nr_entries = nr;
	assert_int_equal(abi_ring_setup(&m->geo), 0);
	m->mem = aligned_alloc(4096, m->geo.mmap_size);
	assert_non_null(m->mem);
	memset(m->mem, 0, m->geo.mmap_size);
	m->ring.nr_entries = nr;
	m->ring.mask = nr - 1;
	m->ring.readonly_fd = -1;
	m->ring.fd = -1;	/* any system call fails with EBADF: it shows */
	m->ring.reply_head = (unsigned int *)((char *)m->mem + m->geo.reply_head_offset);
	m->ring.reply_tail = (unsigned int *)((char *)m->mem + m->geo.reply_tail_offset);
	m->ring.replies = (struct vmiop_ring_reply *)((char *)m->mem + m->geo.replies_offset);
	m->ring.status = (struct vmiop_ring_status *)((char *)m->mem + m->geo.status_offset);
	*m->ring.reply_head = start;
	*(unsigned int *)m->ring.reply_tail = start;
	m->ring.reply_next = m->ring.reply_published = start;
	m->tail = start;
}

static struct vmiop_ring_status *fake_status(struct fake_module *m)
{
	return (struct vmiop_ring_status *)m->ring.status;
}

/*
 * event.c's vmiop_replies_take() on plain memory, with abi.h's arithmetic:
 * a bad head takes nothing, else every entry is checked once.
 */
static void fake_take(struct fake_module *m)
{
	__u32 head = __atomic_load_n(m->ring.reply_head, __ATOMIC_ACQUIRE);
	__u32 n = abi_replies_to_take(head, m->tail, m->geo.nr_entries);
	struct vmiop_ring_status *st = fake_status(m);

	if (abi_reply_head_bad(head, m->tail, m->geo.nr_entries)) {
		m->bad_heads++;
		return;
	}
	for (; n; n--, m->tail++) {
		struct vmiop_ring_reply rr = m->ring.replies[abi_ring_slot(m->tail,
									   m->geo.nr_entries)];
		int ret = abi_check_ring_reply(&rr, ~0u & ~ABI_TAKES_RESULT_REGS);

		if (!ret) {
			m->taken++;
			continue;
		}
		m->refused++;
		st->reply_errors++;
		st->reply_refused++;
		st->last_error = ret;
		st->last_error_index = m->tail;
	}
	__atomic_store_n((unsigned int *)m->ring.reply_tail, m->tail, __ATOMIC_RELEASE);
}

static void producer(void **state)
{
	struct fake_module m;
	struct vmiop_event ev = { .type = VMIOP_EVENT_MEM, .vcpu = 3, .seq = 77 };
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_EMULATE };
	unsigned char bytes[VMIOP_EMUL_READ_MAX];
	struct vmiop_ring_reply *slot;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7);
	/* just below the wrap, so the ring crosses it */
	fake_setup(&m, 4, 0xfffffffeu);
	r.emul_read.data = (uintptr_t)bytes;
	r.emul_read.len = 16;
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	slot = &m.ring.replies[0xfffffffeu & 3];
	assert_int_equal(slot->reply.size, sizeof(slot->reply));
	assert_int_equal(slot->reply.vcpu, 3);
	assert_int_equal(slot->reply.seq, 77);
	assert_int_equal(slot->reply.emul_read.len, 16);
	assert_int_equal(slot->reply.emul_read.data, 0);
	assert_memory_equal(slot->emul_read, bytes, 16);
	/* queued, not handed over yet */
	assert_int_equal(*m.ring.reply_head, 0xfffffffeu);
	/* nobody sleeps: handed over without a system call */
	assert_int_equal(vmiop_ring_submit(&m.ring, false), 0);
	assert_int_equal(*m.ring.reply_head, 0xffffffffu);
	/* forced, or with a vCPU asleep: the system call (EBADF on fd -1) */
	assert_int_equal(vmiop_ring_submit(&m.ring, true), -EBADF);
	fake_status(&m)->flags = VMIOP_RING_NEED_WAKEUP;
	assert_int_equal(vmiop_ring_submit(&m.ring, false), -EBADF);
	fake_take(&m);
	assert_int_equal(m.taken, 1);
	/* a vCPU asleep, but every reply taken: nothing for a system call */
	assert_int_equal(vmiop_ring_submit(&m.ring, false), 0);
	fake_status(&m)->flags = 0;

	/* Full: the ring's worth queued, then the next forces a system call. */
	r.emul_read.len = 0;
	r.emul_read.data = 0;
	for (i = 0; i < 4; i++)
		assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), -EBADF);
	assert_int_equal(*m.ring.reply_head, m.ring.reply_next);
	fake_take(&m);
	assert_int_equal(m.taken, 5);
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	assert_int_equal(vmiop_ring_submit(&m.ring, false), 0);
	fake_take(&m);
	assert_int_equal(m.taken, 6);
	assert_int_equal(m.refused, 0);
	/* Too many bytes for an entry, or bytes without a pointer: refused here. */
	r.emul_read.len = VMIOP_EMUL_READ_MAX + 1;
	r.emul_read.data = (uintptr_t)bytes;
	i = m.ring.reply_next;
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), -EINVAL);
	r.emul_read.len = 8;
	r.emul_read.data = 0;
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), -EINVAL);
	assert_int_equal(m.ring.reply_next, i);
	free(m.mem);
}

/*
 * Another producer (a forked child) moved reply_head: the library, with
 * nothing of its own queued, continues from there instead of writing a
 * head behind the module's tail.
 */
static void producer_takes_over(void **state)
{
	struct fake_module m;
	struct vmiop_event ev = { .type = VMIOP_EVENT_CPUID, .vcpu = 0, .seq = 9 };
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };

	(void)state;
	fake_setup(&m, 8, 0);
	/* the other producer's two replies, taken */
	*m.ring.reply_head = 2;
	fake_take(&m);
	assert_int_equal(*m.ring.reply_tail, 2);
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	assert_int_equal(vmiop_ring_submit(&m.ring, false), 0);
	assert_int_equal(*m.ring.reply_head, 3);
	fake_take(&m);
	assert_int_equal(m.bad_heads, 0);
	/* the other producer's entries are zeros here (refused); ours is taken */
	assert_int_equal(m.refused, 2);
	assert_int_equal(m.taken, 1);
	free(m.mem);
}

/* A shared head the module refuses: the library starts again from its tail. */
static void producer_recovers_from_a_bad_head(void **state)
{
	struct fake_module m;
	struct vmiop_event ev = { .type = VMIOP_EVENT_CPUID, .vcpu = 0, .seq = 3 };
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };

	(void)state;
	fake_setup(&m, 8, 5);
	*m.ring.reply_head = 1;		/* behind the tail: refused as a whole */
	fake_take(&m);
	assert_int_equal(m.bad_heads, 1);
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	assert_int_equal(vmiop_ring_submit(&m.ring, false), 0);
	assert_int_equal(*m.ring.reply_head, 6);
	fake_take(&m);
	assert_int_equal(m.bad_heads, 1);
	assert_int_equal(m.taken, 1);
	free(m.mem);
}

static void errors_seen_once(void **state)
{
	struct fake_module m;
	struct vmiop_event ev = { .vcpu = 0, .seq = 1 };
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SKIP, .value = 5 };
	struct vmiop_ring_status last;
	unsigned int waiting;

	(void)state;
	fake_setup(&m, 8, 0);
	/* SKIP takes no value: refused */
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	r.value = 0;
	assert_int_equal(vmiop_ring_reply(&m.ring, &ev, &r), 0);
	assert_int_equal(vmiop_ring_submit(&m.ring, false), 0);
	fake_take(&m);
	/* the module's one -ENOENT since, as for a reply nobody waited for */
	fake_status(&m)->reply_errors++;
	assert_int_equal(vmiop_ring_reply_errors(&m.ring, &waiting, &last), 2);
	assert_int_equal(waiting, 1);
	assert_int_equal(last.last_error, -EINVAL);
	assert_int_equal(last.last_error_index, 0);
	assert_int_equal(vmiop_ring_reply_errors(&m.ring, &waiting, &last), 0);
	assert_int_equal(waiting, 0);
	free(m.mem);
}

/*
 * Whatever a hostile consumer writes (entries and reply_head), the module
 * side takes at most a ring's worth per pass and checks each entry.
 */
static void hostile_consumer(void **state)
{
	struct fake_module m;
	unsigned int round;

	(void)state;
	srand(1234);
	fake_setup(&m, 16, 0);
	for (round = 0; round < 2000; round++) {
		unsigned char *p = (unsigned char *)m.ring.replies;
		__u32 before = m.tail, i;

		for (i = 0; i < 16 * sizeof(struct vmiop_ring_reply); i++)
			p[i] = (unsigned char)rand();
		/* mostly plausible entries, now and then a valid-looking one */
		if (round % 3 == 0) {
			struct vmiop_ring_reply *rr = &m.ring.replies[round & 15];

			memset(rr, 0, sizeof(*rr));
			rr->reply.size = sizeof(rr->reply);
			rr->reply.action = VMIOP_ACTION_CONTINUE;
		}
		/* now and then a sound head: from 0 to 16 ahead of the tail */
		*m.ring.reply_head = round % 2 ? m.tail + (__u32)rand() % 17 :
						 (__u32)rand() * 2654435761u;
		fake_take(&m);
		assert_true(m.tail - before <= 16);
	}
	assert_true(m.refused > 0);
	assert_true(m.taken > 0);
	assert_true(m.bad_heads > 0);
	free(m.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(take_counts),
		cmocka_unit_test(geometry),
		cmocka_unit_test(entry_checks),
		cmocka_unit_test(producer),
		cmocka_unit_test(producer_takes_over),
		cmocka_unit_test(producer_recovers_from_a_bad_head),
		cmocka_unit_test(errors_seen_once),
		cmocka_unit_test(hostile_consumer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
