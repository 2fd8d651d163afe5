// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The event ring without a VM: index arithmetic across the 2^32 wrap, the
 * geometry the module hands out, the checks of every event ioctl, and
 * libvmiop's inline consumer against a producer that follows the module's
 * rules.
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

static void indices_wrap(void **state)
{
	(void)state;
	assert_int_equal(abi_ring_ready(5, 5), 0);
	assert_int_equal(abi_ring_ready(7, 5), 2);
	/* head wrapped past 2^32, tail not yet */
	assert_int_equal(abi_ring_ready(1, 0xffffffffu), 2);
	assert_true(abi_ring_has_space(1, 0xffffffffu, 4));
	assert_false(abi_ring_has_space(3, 0xffffffffu, 4));
	assert_true(abi_ring_has_space(0, 0, 1));
	assert_false(abi_ring_has_space(1, 0, 1));
	/* a consumer tail ahead of head is garbage: treated as full */
	assert_false(abi_ring_has_space(5, 6, 4096));
}

static void geometry(void **state)
{
	struct vmiop_ring_setup r = { .size = sizeof(r) };
	__u32 n;

	(void)state;
	assert_int_equal(abi_ring_setup(&r), 0);
	assert_int_equal(r.nr_entries, VMIOP_RING_DEFAULT_ENTRIES);
	for (n = 1; n <= VMIOP_RING_MAX_ENTRIES; n <<= 1) {
		memset(&r, 0, sizeof(r));
		r.nr_entries = n;
		assert_int_equal(abi_ring_setup(&r), 0);
		assert_int_equal(r.entry_size, sizeof(struct vmiop_event));
		assert_true(r.tail_offset - r.head_offset >= 64);
		assert_true(r.entries_offset >= r.tail_offset + 4);
		assert_int_equal(r.mmap_size % 4096, 0);
		assert_true(r.mmap_size >= r.entries_offset + (__u64)n * r.entry_size);
		/* and the reply ring after the events (test_reply_ring.c) */
		assert_true(r.mmap_size < r.replies_offset + (__u64)n * r.reply_size + 4096);
	}
	memset(&r, 0, sizeof(r));
	r.nr_entries = 3;
	assert_int_equal(abi_ring_setup(&r), -EINVAL);
	r.nr_entries = VMIOP_RING_MAX_ENTRIES * 2;
	assert_int_equal(abi_ring_setup(&r), -EINVAL);
	r.nr_entries = 4;
	r.mmap_size = 1;	/* out fields must come in as 0 */
	assert_int_equal(abi_ring_setup(&r), -EINVAL);
	r.mmap_size = 0;
	r.flags = 1;
	assert_int_equal(abi_ring_setup(&r), -EINVAL);
}

static void event_layout(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct vmiop_event), 1024);
	assert_int_equal(offsetof(struct vmiop_event, seq), 8);
	assert_int_equal(offsetof(struct vmiop_event, cpuid), 16);
	assert_int_equal(offsetof(struct vmiop_event, regs), 80);
	assert_int_equal(sizeof(((struct vmiop_event *)0)->cpuid), 24);
	assert_int_equal(sizeof(((struct vmiop_event *)0)->hypercall), 48);
	assert_int_equal(VMIOP_EVENT_CR, 1);	/* event numbers start at 1 */
}

static void control_checks(void **state)
{
	struct vmiop_event_control c = { .size = sizeof(c), .type = VMIOP_EVENT_CPUID,
					 .enable = 1 };
	struct vmiop_filter_range f[2] = { { 1, 1 }, { 5, 9 } };

	(void)state;
	assert_int_equal(abi_check_event_control(&c), 0);
	c.type = 0;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);
	c.type = VMIOP_EVENT_NR_TYPES;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);
	c.type = VMIOP_EVENT_CPUID;
	c.enable = 2;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);
	c.enable = 1;
	c.vcpu = 3;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);
	c.flags = VMIOP_EVENT_CTL_F_VCPU;
	assert_int_equal(abi_check_event_control(&c), 0);
	c.nr_filter = 2;
	c.filter = 0x1000;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);	/* per vCPU */
	c.flags = 0;
	c.vcpu = 0;
	assert_int_equal(abi_check_event_control(&c), 0);
	/* Per-type settings: each for its type, when enabling the whole VM. */
	c.flags = VMIOP_EVENT_CTL_F_CHANGES;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);	/* CPUID */
	c.type = VMIOP_EVENT_CR;
	assert_int_equal(abi_check_event_control(&c), 0);
	c.flags = VMIOP_EVENT_CTL_F_READS;
	assert_int_equal(abi_check_event_control(&c), 0);	/* CR */
	c.type = VMIOP_EVENT_MSR;
	assert_int_equal(abi_check_event_control(&c), 0);
	c.type = VMIOP_EVENT_DESC;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);
	c.flags = 1u << 3;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);	/* unknown */
	c.flags = 0;
	c.type = VMIOP_EVENT_CPUID;
	c.enable = 0;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);	/* disable */
	c.enable = 1;
	c.nr_filter = VMIOP_FILTER_MAX + 1;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);
	c.nr_filter = 0;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);	/* pointer, no count */
	c.flags = 1u << 5;
	c.filter = 0;
	assert_int_equal(abi_check_event_control(&c), -EINVAL);

	assert_int_equal(abi_check_filter(f, 2), 0);
	f[1].first = 10;
	assert_int_equal(abi_check_filter(f, 2), -EINVAL);
	f[1].first = 5;
	assert_true(abi_filter_match(f, 0, 12345));	/* no filter: all */
	assert_true(abi_filter_match(f, 2, 1));
	assert_false(abi_filter_match(f, 2, 2));
	assert_true(abi_filter_match(f, 2, 5));
	assert_true(abi_filter_match(f, 2, 9));
	assert_false(abi_filter_match(f, 2, 10));
	f[0].first = 0;
	f[0].last = UINT64_MAX;
	assert_true(abi_filter_match(f, 1, UINT64_MAX));
}

#define TAKES(a) (1u << VMIOP_ACTION_##a)

/* What the module's classes take (kmod/exits.c, kmod/debug.c), by kind. */
static const __u32 takes_value = TAKES(CONTINUE) | TAKES(SKIP) | TAKES(SET_RESULT) | TAKES(INJECT);
static const __u32 takes_regs = TAKES(CONTINUE) | TAKES(SKIP) | TAKES(SET_RESULT) |
				TAKES(INJECT) | ABI_TAKES_RESULT_REGS;
static const __u32 takes_no_result = TAKES(CONTINUE) | TAKES(SKIP) | TAKES(INJECT);
static const __u32 takes_breakpoint = TAKES(CONTINUE) | TAKES(SKIP) | TAKES(INJECT) |
				      TAKES(RETRY);
static const __u32 takes_step = TAKES(CONTINUE) | TAKES(INJECT);
static const __u32 takes_trap = TAKES(CONTINUE);

static void reply_checks(void **state)
{
	struct vmiop_event_reply r = { .size = sizeof(r), .action = VMIOP_ACTION_CONTINUE };

	(void)state;
	assert_int_equal(abi_check_event_reply(&r, takes_regs), 0);
	r.action = VMIOP_ACTION_SKIP;
	assert_int_equal(abi_check_event_reply(&r, takes_value), 0);
	assert_int_equal(abi_check_event_reply(&r, takes_breakpoint), 0);
	assert_int_equal(abi_check_event_reply(&r, takes_step), -EINVAL);
	r.value = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);
	r.action = VMIOP_ACTION_SET_RESULT;
	assert_int_equal(abi_check_event_reply(&r, takes_value), 0);
	r.raw[1] = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);
	assert_int_equal(abi_check_event_reply(&r, takes_regs), 0);
	assert_int_equal(abi_check_event_reply(&r, takes_no_result), -EINVAL);
	assert_int_equal(abi_check_event_reply(&r, takes_breakpoint), -EINVAL);
	r.action = VMIOP_ACTION_SKIP;
	r.raw[0] = r.raw[1] = 0;
	assert_int_equal(abi_check_event_reply(&r, takes_trap), -EINVAL);
	r.action = VMIOP_ACTION_CONTINUE;
	assert_int_equal(abi_check_event_reply(&r, takes_trap), 0);
	r.value = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_trap), -EINVAL);
	r.value = 0;
	r.action = VMIOP_ACTION_RETRY;
	assert_int_equal(abi_check_event_reply(&r, takes_breakpoint), 0);
	assert_int_equal(abi_check_event_reply(&r, takes_regs), -EINVAL);
	r.value = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_breakpoint), -EINVAL);
	r.value = 0;
	r.flags = VMIOP_REPLY_F_SINGLESTEP;
	assert_int_equal(abi_check_event_reply(&r, takes_breakpoint), 0);
	r.flags = 2;
	assert_int_equal(abi_check_event_reply(&r, takes_breakpoint), -EINVAL);
	r.flags = 0;
	r.action = 0;
	assert_int_equal(abi_check_event_reply(&r, ~0u), -EINVAL);
	r.action = 31;	/* the bit that says EAX..EDX is no action */
	assert_int_equal(abi_check_event_reply(&r, ~0u), -EINVAL);
	r.action = 99;
	assert_int_equal(abi_check_event_reply(&r, ~0u), -EINVAL);
	r.action = VMIOP_ACTION_CONTINUE;
	r.reserved = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_regs), -EINVAL);
}

/* Every vector: injectable or not, with or without an error code. */
static void inject_checks(void **state)
{
	static const int error_code[32] = {
		[8] = 1, [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1, [17] = 1, [21] = 1,
	};
	struct vmiop_event_reply r = { .size = sizeof(r), .action = VMIOP_ACTION_INJECT };
	unsigned int v;

	(void)state;
	for (v = 0; v < 256; v++) {
		bool ok = v < 22 && v != 2 && v != 3 && v != 4 && v != 9 && v != 15;

		r.exception.vector = v;
		r.exception.flags = v < 32 && error_code[v] ? VMIOP_INJECT_F_ERROR_CODE : 0;
		assert_int_equal(abi_check_event_reply(&r, takes_value), ok ? 0 : -EINVAL);
		r.exception.flags ^= VMIOP_INJECT_F_ERROR_CODE;
		assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);
	}
	r.exception.vector = 14;
	r.exception.flags = VMIOP_INJECT_F_ERROR_CODE;
	r.exception.error_code = 3;
	r.exception.cr2 = 0xfff0;
	assert_int_equal(abi_check_event_reply(&r, takes_step), 0);
	r.exception.flags |= 2;
	assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);
	r.exception.flags = VMIOP_INJECT_F_ERROR_CODE;
	r.exception.reserved = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);
	r.exception.reserved = 0;
	r.exception.vector = 6;
	r.exception.flags = 0;
	r.exception.error_code = 0;
	assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);	/* cr2 */
	r.exception.cr2 = 0;
	r.exception.error_code = 1;
	assert_int_equal(abi_check_event_reply(&r, takes_value), -EINVAL);
}

static void wait_checks(void **state)
{
	struct vmiop_event_wait w = { .size = sizeof(w), .timeout_ms = -1 };

	(void)state;
	assert_int_equal(abi_check_event_wait(&w), 0);
	w.timeout_ms = -2;
	assert_int_equal(abi_check_event_wait(&w), -EINVAL);
	w.timeout_ms = 0;
	w.ready = 1;
	assert_int_equal(abi_check_event_wait(&w), -EINVAL);
	w.ready = 0;
	w.flags = VMIOP_EVENT_WAIT_F_TAIL;
	w.tail = 0xfffffff0u;	/* any value: the ring's state decides */
	assert_int_equal(abi_check_event_wait(&w), 0);
	w.flags = 0;		/* a tail without the flag */
	assert_int_equal(abi_check_event_wait(&w), -EINVAL);
	w.tail = 0;
	w.flags = 1u << 1;
	assert_int_equal(abi_check_event_wait(&w), -EINVAL);
	w.flags = 0;
	w.reserved = 1;
	assert_int_equal(abi_check_event_wait(&w), -EINVAL);
}

/*
 * The module's side of VMIOP_EVENT_WAIT_F_TAIL for a read-only session:
 * libvmiop's inline consumer must come here instead of storing tail.
 */
static unsigned int readonly_advances;

int vmiop_ring_advance_readonly(struct vmiop_ring *r, unsigned int n)
{
	readonly_advances++;
	__atomic_store_n(r->tail, *r->tail + n, __ATOMIC_RELEASE);
	return 0;
}

/* A producer that follows the module's rules, on plain memory. */
struct fake_ring {
	struct vmiop_ring_setup geo;
	void *mem;
	__u32 head;
	__u64 seq;
};

static int produce(struct fake_ring *f, __u32 vcpu)
{
	__u32 *head = (__u32 *)((char *)f->mem + f->geo.head_offset);
	__u32 *tail = (__u32 *)((char *)f->mem + f->geo.tail_offset);
	struct vmiop_event *e;

	if (!abi_ring_has_space(f->head, __atomic_load_n(tail, __ATOMIC_ACQUIRE),
				f->geo.nr_entries))
		return -1;
	e = (struct vmiop_event *)((char *)f->mem + f->geo.entries_offset) +
	    (f->head & (f->geo.nr_entries - 1));
	memset(e, 0, sizeof(*e));
	e->type = VMIOP_EVENT_CPUID;
	e->vcpu = vcpu;
	e->seq = ++f->seq;
	__atomic_store_n(head, ++f->head, __ATOMIC_RELEASE);
	return 0;
}

static void consumer_across_the_wrap(void **state)
{
	struct fake_ring f = { .geo = { .size = sizeof(f.geo), .nr_entries = 4 } };
	struct vmiop_ring r;
	__u64 expect = 1;
	int round, i;

	(void)state;
	assert_int_equal(abi_ring_setup(&f.geo), 0);
	f.mem = calloc(1, f.geo.mmap_size);
	assert_non_null(f.mem);
	/* Start just below the wrap, as after 2^32 - 6 events. */
	f.head = 0xfffffffau;
	*(__u32 *)((char *)f.mem + f.geo.head_offset) = f.head;
	*(__u32 *)((char *)f.mem + f.geo.tail_offset) = f.head;
	r.head = (const unsigned int *)((char *)f.mem + f.geo.head_offset);
	r.tail = (unsigned int *)((char *)f.mem + f.geo.tail_offset);
	r.entries = (struct vmiop_event *)((char *)f.mem + f.geo.entries_offset);
	r.nr_entries = f.geo.nr_entries;
	r.mask = f.geo.nr_entries - 1;
	r.mem = f.mem;
	r.mem_size = f.geo.mmap_size;
	/* Every other round as a read-only session would consume. */
	r.readonly_fd = -1;
	readonly_advances = 0;

	assert_null(vmiop_ring_peek(&r));
	for (round = 0; round < 5; round++) {
		r.readonly_fd = round % 2 ? 3 : -1;
		for (i = 0; i < 4; i++)
			assert_int_equal(produce(&f, i), 0);
		assert_int_equal(produce(&f, 9), -1);	/* full: would wait */
		assert_int_equal(vmiop_ring_ready(&r), 4);
		for (i = 0; i < 4; i++) {
			struct vmiop_event *e = vmiop_ring_peek(&r);

			assert_non_null(e);
			assert_int_equal(e->seq, expect++);
			assert_int_equal(e->vcpu, i);
			vmiop_ring_advance(&r, 1);
		}
		assert_null(vmiop_ring_peek(&r));
	}
	assert_true(f.head < 0xfffffffau);	/* it did wrap */
	assert_int_equal(readonly_advances, 2 * 4);
	free(f.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(indices_wrap),
		cmocka_unit_test(geometry),
		cmocka_unit_test(event_layout),
		cmocka_unit_test(control_checks),
		cmocka_unit_test(reply_checks),
		cmocka_unit_test(inject_checks),
		cmocka_unit_test(wait_checks),
		cmocka_unit_test(consumer_across_the_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
