// SPDX-License-Identifier: MIT
/*
 * osi/btf.c on BTF built here: a small vmlinux-like BTF with the shapes the
 * real one has (anonymous unions and structs, kind_flag bitfields, per-CPU
 * DATASEC, FWD and duplicate-name decoys) and every lookup on it; then one
 * broken blob per rule the parser enforces, each checked for the reason it
 * gives; then a few thousand deterministic mutations of the good blob.
 *
 * With VMIOP_BTF_FILE=<path> (e.g. /sys/kernel/btf/vmlinux, or a .BTF
 * section cut out of a vmlinux) a real BTF is parsed too; with
 * VMIOP_DEBIAN61_BTF=<path> the numbers measured on Debian 6.1.0-57 are
 * checked.  The section can be cut out cheaply:
 *   linux-source-6.1/scripts/extract-vmlinux /boot/vmlinuz-6.1.0-57-amd64 >vmlinux
 *   objcopy -O binary --only-section=.BTF vmlinux debian-6.1.btf
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "btf.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define BF(bits, off) (((uint32_t)(bits) << 24) | (off))	/* kind_flag member offset */

/* ------------------------------------------------------------------------
 * A BTF builder: types and strings appended in order, ids handed out 1, 2...
 */

struct bb {
	uint8_t *types;
	size_t tlen, tcap;
	char *strs;
	size_t slen, scap;
	uint32_t *offs;		/* [id]: offset of the record in types */
	size_t ocap;
	uint32_t nr;
	uint32_t hdr_len;
};

static void grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t cap2 = *cap ? *cap : 256;

	if (need <= *cap)
		return;
	while (cap2 < need)
		cap2 *= 2;
	*buf = realloc(*buf, cap2 * elem);
	assert_non_null(*buf);
	*cap = cap2;
}

static void bb_init(struct bb *b)
{
	memset(b, 0, sizeof(*b));
	b->hdr_len = sizeof(struct btf_raw_header);
	grow((void **)&b->strs, &b->scap, 1, 1);
	b->strs[0] = '\0';
	b->slen = 1;
}

static void bb_free(struct bb *b)
{
	free(b->types);
	free(b->strs);
	free(b->offs);
}

static uint32_t bb_str(struct bb *b, const char *s)
{
	size_t n, off = b->slen;

	if (!s || !*s)
		return 0;
	n = strlen(s) + 1;
	grow((void **)&b->strs, &b->scap, b->slen + n, 1);
	memcpy(b->strs + b->slen, s, n);
	b->slen += n;
	return (uint32_t)off;
}

static void bb_u32(struct bb *b, uint32_t v)
{
	grow((void **)&b->types, &b->tcap, b->tlen + 4, 1);
	memcpy(b->types + b->tlen, &v, 4);
	b->tlen += 4;
}

static uint32_t bb_type_raw(struct bb *b, uint32_t name_off, uint32_t info, uint32_t size_or_type)
{
	b->nr++;
	grow((void **)&b->offs, &b->ocap, b->nr + 1, sizeof(*b->offs));
	b->offs[b->nr] = (uint32_t)b->tlen;
	bb_u32(b, name_off);
	bb_u32(b, info);
	bb_u32(b, size_or_type);
	return b->nr;
}

static uint32_t bb_type(struct bb *b, unsigned int kind, bool kflag, uint32_t vlen,
			const char *name, uint32_t size_or_type)
{
	return bb_type_raw(b, bb_str(b, name), BTF_RAW_INFO(kind, kflag, vlen), size_or_type);
}

static uint32_t bb_int(struct bb *b, const char *name, uint32_t size, uint32_t bits,
		       uint32_t enc)
{
	uint32_t id = bb_type(b, BTF_RAW_INT, false, 0, name, size);

	bb_u32(b, enc << 24 | bits);
	return id;
}

static uint32_t bb_ptr(struct bb *b, uint32_t target)
{
	return bb_type(b, BTF_RAW_PTR, false, 0, NULL, target);
}

static uint32_t bb_mod(struct bb *b, unsigned int kind, const char *name, uint32_t target)
{
	return bb_type(b, kind, false, 0, name, target);
}

static uint32_t bb_array(struct bb *b, uint32_t elem, uint32_t index, uint32_t nelems)
{
	uint32_t id = bb_type(b, BTF_RAW_ARRAY, false, 0, NULL, 0);

	bb_u32(b, elem);
	bb_u32(b, index);
	bb_u32(b, nelems);
	return id;
}

/* Follow with @vlen bb_member() calls. */
static uint32_t bb_struct(struct bb *b, unsigned int kind, const char *name, uint32_t size,
			  bool kflag, uint32_t vlen)
{
	return bb_type(b, kind, kflag, vlen, name, size);
}

static void bb_member(struct bb *b, const char *name, uint32_t type, uint32_t offset)
{
	bb_u32(b, bb_str(b, name));
	bb_u32(b, type);
	bb_u32(b, offset);
}

static uint32_t bb_fwd(struct bb *b, const char *name, bool is_union)
{
	return bb_type(b, BTF_RAW_FWD, is_union, 0, name, 0);
}

static void bb_pair(struct bb *b, const char *name, uint32_t v)
{
	bb_u32(b, bb_str(b, name));
	bb_u32(b, v);
}

static uint32_t bb_var(struct bb *b, const char *name, uint32_t type)
{
	uint32_t id = bb_type(b, BTF_RAW_VAR, false, 0, name, type);

	bb_u32(b, 1);	/* global */
	return id;
}

static void bb_secinfo(struct bb *b, uint32_t var, uint32_t offset, uint32_t size)
{
	bb_u32(b, var);
	bb_u32(b, offset);
	bb_u32(b, size);
}

/* The blob: header, zero padding up to hdr_len, types, strings. */
static uint8_t *bb_emit(const struct bb *b, size_t *len)
{
	struct btf_raw_header h = {
		.magic = BTF_RAW_MAGIC, .version = BTF_RAW_VERSION, .hdr_len = b->hdr_len,
		.type_off = 0, .type_len = (uint32_t)b->tlen,
		.str_off = (uint32_t)b->tlen, .str_len = (uint32_t)b->slen,
	};
	uint8_t *blob;

	*len = b->hdr_len + b->tlen + b->slen;
	blob = calloc(1, *len);
	assert_non_null(blob);
	memcpy(blob, &h, sizeof(h));
	memcpy(blob + b->hdr_len, b->types, b->tlen);
	memcpy(blob + b->hdr_len + b->tlen, b->strs, b->slen);
	return blob;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

#define HDR(field) offsetof(struct btf_raw_header, field)

/* Byte @off of type @id's record (0: name_off, 4: info, 8: size/type, 12: extra...). */
static uint8_t *rec_at(uint8_t *blob, const struct bb *b, uint32_t id, size_t off)
{
	return blob + b->hdr_len + b->offs[id] + off;
}

/* ------------------------------------------------------------------------
 * Expectations
 */

/* Parses from an exact-size heap copy, so ASan sees any read past the end. */
static int parse_exact(const uint8_t *blob, size_t len, struct btf **out, char *why,
		       size_t why_len)
{
	uint8_t *copy = malloc(len ? len : 1);
	int err;

	assert_non_null(copy);
	memcpy(copy, blob, len);
	err = btf_parse(copy, len, out, why, why_len);
	free(copy);
	return err;
}

static struct btf *must_parse(const uint8_t *blob, size_t len)
{
	struct btf *btf = NULL;
	char why[160];
	int err = parse_exact(blob, len, &btf, why, sizeof(why));

	if (err)
		fail_msg("btf_parse: %d (%s)", err, why);
	assert_non_null(btf);
	assert_string_equal(why, "");
	return btf;
}

static void must_reject(const uint8_t *blob, size_t len, int want, const char *reason)
{
	struct btf *btf = (struct btf *)(uintptr_t)1;
	char why[160];
	int err = parse_exact(blob, len, &btf, why, sizeof(why));

	if (err != want)
		fail_msg("btf_parse: %d, want %d (%s)", err, want, err ? why : "accepted");
	assert_null(btf);
	if (!strstr(why, reason))
		fail_msg("reason \"%s\" does not say \"%s\"", why, reason);
	assert_null(strchr(why, '\n'));
}

static void reject_built(const struct bb *b, const char *reason)
{
	size_t len;
	uint8_t *blob = bb_emit(b, &len);

	must_reject(blob, len, -EINVAL, reason);
	free(blob);
}

static struct btf *parse_built(const struct bb *b)
{
	size_t len;
	uint8_t *blob = bb_emit(b, &len);
	struct btf *btf = must_parse(blob, len);

	free(blob);
	return btf;
}

static void accept_built(const struct bb *b)
{
	btf_free(parse_built(b));
}

/* ------------------------------------------------------------------------
 * The realistic BTF
 */

struct ids {
	uint32_t int_, uint, ulong, chr, arrsz, ptr_void;
	uint32_t list_head, list_head_ptr, pid_t, cb_head, fn_proto, atomic_t, refcount_t;
	uint32_t thread_info, task_fwd, task_empty, task_union, task, task_ptr, task_tag_ptr;
	uint32_t task_ptr_t, comm, signal_fwd, signal_ptr, union_fwd_ptr, anon_union, anon_struct;
	uint32_t deep_union, cv_ulong, mm, mm_anon, mm_ptr, pgd_t, flex, rq;
	uint32_t bits, oldbits, unaligned;
	uint32_t slot1, slot2, pid_type, big, dbl, func, proto0, percpu, pcpu_hot, data_sec;
	uint32_t var_cpu, var_off, var_task, var_hot, var_rq, var_data, ptr_ptr_task, matrix;
};

static void build_base_ints(struct bb *b, struct ids *t)
{
	t->int_ = bb_int(b, "int", 4, 32, BTF_RAW_INT_SIGNED);
	t->uint = bb_int(b, "unsigned int", 4, 32, 0);
	t->ulong = bb_int(b, "long unsigned int", 8, 64, 0);
	t->chr = bb_int(b, "char", 1, 8, BTF_RAW_INT_SIGNED);
	t->arrsz = bb_int(b, "__ARRAY_SIZE_TYPE__", 4, 32, 0);
	t->ptr_void = bb_ptr(b, 0);
}

static void build_small_types(struct bb *b, struct ids *t)
{
	uint32_t cb_ptr, fn_ptr, atomic_anon, refcount_struct, pgd_anon;

	t->list_head = bb_struct(b, BTF_RAW_STRUCT, "list_head", 16, false, 2);
	t->list_head_ptr = t->list_head + 1;	/* a pointer cycle through the struct */
	bb_member(b, "next", t->list_head_ptr, 0);
	bb_member(b, "prev", t->list_head_ptr, 64);
	assert_int_equal(bb_ptr(b, t->list_head), t->list_head_ptr);
	t->pid_t = bb_mod(b, BTF_RAW_TYPEDEF, "pid_t", t->int_);

	t->cb_head = bb_struct(b, BTF_RAW_STRUCT, "callback_head", 16, false, 2);
	cb_ptr = t->cb_head + 1;
	fn_ptr = t->cb_head + 3;
	bb_member(b, "next", cb_ptr, 0);
	bb_member(b, "func", fn_ptr, 64);
	assert_int_equal(bb_ptr(b, t->cb_head), cb_ptr);
	t->fn_proto = bb_type(b, BTF_RAW_FUNC_PROTO, false, 1, NULL, 0);
	bb_pair(b, NULL, cb_ptr);
	assert_int_equal(bb_ptr(b, t->fn_proto), fn_ptr);

	atomic_anon = bb_struct(b, BTF_RAW_STRUCT, NULL, 4, false, 1);
	bb_member(b, "counter", t->int_, 0);
	t->atomic_t = bb_mod(b, BTF_RAW_TYPEDEF, "atomic_t", atomic_anon);
	refcount_struct = bb_struct(b, BTF_RAW_STRUCT, "refcount_struct", 4, false, 1);
	bb_member(b, "refs", t->atomic_t, 0);
	t->refcount_t = bb_mod(b, BTF_RAW_TYPEDEF, "refcount_t", refcount_struct);

	t->thread_info = bb_struct(b, BTF_RAW_STRUCT, "thread_info", 24, false, 4);
	bb_member(b, "flags", t->ulong, 0);
	bb_member(b, "syscall_work", t->ulong, 64);
	bb_member(b, "status", t->uint, 128);
	bb_member(b, "cpu", t->uint, 160);

	pgd_anon = bb_struct(b, BTF_RAW_STRUCT, NULL, 8, false, 1);
	bb_member(b, "pgd", t->ulong, 0);
	t->pgd_t = bb_mod(b, BTF_RAW_TYPEDEF, "pgd_t", pgd_anon);
	t->cv_ulong = bb_mod(b, BTF_RAW_TYPEDEF, "cv_ulong",
			     bb_mod(b, BTF_RAW_CONST, NULL,
				    bb_mod(b, BTF_RAW_VOLATILE, NULL, t->ulong)));
	t->comm = bb_array(b, t->chr, t->arrsz, 16);
	t->flex = bb_array(b, t->ulong, t->arrsz, 0);
	t->matrix = bb_array(b, bb_array(b, t->int_, t->arrsz, 3), t->arrsz, 5);
}

/* mm_struct: one anonymous struct, then a flexible array, like 6.1's. */
static void build_mm(struct bb *b, struct ids *t)
{
	uint32_t pgd_ptr = bb_ptr(b, t->pgd_t);

	t->mm_anon = bb_struct(b, BTF_RAW_STRUCT, NULL, 992, false, 3);
	bb_member(b, "mmap_base", t->ulong, 8 * 8);
	bb_member(b, "pgd", pgd_ptr, 72 * 8);
	bb_member(b, "mm_users", t->atomic_t, 80 * 8);
	t->mm = bb_struct(b, BTF_RAW_STRUCT, "mm_struct", 992, false, 2);
	bb_member(b, NULL, t->mm_anon, 0);
	bb_member(b, "cpu_bitmap", t->flex, 992 * 8);
	t->mm_ptr = bb_ptr(b, t->mm);
}

static void build_task(struct bb *b, struct ids *t)
{
	uint32_t rcu_tag, const_deep;

	/* Decoys first, as in the real BTF where FWDs and empties come early. */
	t->task_fwd = bb_fwd(b, "task_struct", false);
	t->task_empty = bb_struct(b, BTF_RAW_STRUCT, "task_struct", 0, false, 0);
	t->task_union = bb_struct(b, BTF_RAW_UNION, "task_struct", 8, false, 1);
	bb_member(b, "x", t->ulong, 0);
	t->signal_fwd = bb_fwd(b, "signal_struct", false);
	t->signal_ptr = bb_ptr(b, t->signal_fwd);
	t->union_fwd_ptr = bb_ptr(b, bb_fwd(b, "signal_struct", true));

	t->anon_union = bb_struct(b, BTF_RAW_UNION, NULL, 16, false, 2);
	bb_member(b, "rcu_users", t->refcount_t, 0);
	bb_member(b, "rcu", t->cb_head, 0);
	t->deep_union = bb_struct(b, BTF_RAW_UNION, NULL, 8, false, 2);
	bb_member(b, "deep_x", t->int_, 0);
	bb_member(b, "deep_y", t->ulong, 0);
	const_deep = bb_mod(b, BTF_RAW_CONST, NULL, t->deep_union);
	t->anon_struct = bb_struct(b, BTF_RAW_STRUCT, NULL, 24, false, 3);
	bb_member(b, "nested_a", t->int_, 0);
	bb_member(b, NULL, const_deep, 64);
	bb_member(b, "nested_b", t->cv_ulong, 128);

	t->task = bb_struct(b, BTF_RAW_STRUCT, "task_struct", 9792, true, 22);
	t->task_ptr = t->task + 1;
	rcu_tag = t->task + 2;
	t->task_tag_ptr = t->task + 3;
	bb_member(b, "thread_info", t->thread_info, BF(0, 0));
	bb_member(b, "__state", t->uint, BF(0, 24 * 8));
	bb_member(b, "stack", t->ptr_void, BF(0, 32 * 8));
	bb_member(b, "usage", t->refcount_t, BF(0, 40 * 8));
	bb_member(b, "flags", t->uint, BF(0, 44 * 8));
	bb_member(b, "on_cpu", t->int_, BF(0, 52 * 8));
	bb_member(b, "sched_reset_on_fork", t->uint, BF(1, 1000 * 8));	/* byte-aligned bitfield */
	bb_member(b, "sched_contributes_to_load", t->uint, BF(1, 1000 * 8 + 1));
	bb_member(b, "tasks", t->list_head, BF(0, 2192 * 8));
	bb_member(b, "mm", t->mm_ptr, BF(0, 2272 * 8));
	bb_member(b, "active_mm", t->mm_ptr, BF(0, 2280 * 8));
	bb_member(b, "pid", t->pid_t, BF(0, 2416 * 8));
	bb_member(b, "tgid", t->pid_t, BF(0, 2420 * 8));
	bb_member(b, "real_parent", t->task_tag_ptr, BF(0, 2432 * 8));
	bb_member(b, "parent", t->task_tag_ptr, BF(0, 2440 * 8));
	bb_member(b, "thread_node", t->list_head, BF(0, 2608 * 8));
	bb_member(b, "comm", t->comm, BF(0, 2976 * 8));
	bb_member(b, "signal", t->signal_ptr, BF(0, 3072 * 8));
	bb_member(b, NULL, t->anon_union, BF(0, 4968 * 8));
	bb_member(b, NULL, t->anon_struct, BF(0, 5000 * 8));
	bb_member(b, "cv", t->cv_ulong, BF(0, 5100 * 8));
	bb_member(b, "flex", t->flex, BF(0, 9792 * 8));
	assert_int_equal(bb_ptr(b, t->task), t->task_ptr);
	assert_int_equal(bb_type(b, BTF_RAW_TYPE_TAG, false, 0, "rcu", t->task), rcu_tag);
	assert_int_equal(bb_ptr(b, rcu_tag), t->task_tag_ptr);
	t->task_ptr_t = bb_mod(b, BTF_RAW_TYPEDEF, "task_ptr_t",
			       bb_mod(b, BTF_RAW_CONST, NULL, t->task_ptr));
	t->ptr_ptr_task = bb_ptr(b, t->task_ptr);
}

/* Bitfields in both encodings; only byte-aligned non-bitfields have an offset. */
static void build_bitfields(struct bb *b, struct ids *t)
{
	uint32_t u3 = bb_int(b, "unsigned int", 4, 3, 0);	/* pre-kind_flag bitfield int */
	uint32_t u4 = bb_int(b, "unsigned int", 4, 4, 0);

	t->pid_type = bb_type(b, BTF_RAW_ENUM, false, 2, "pid_type", 4);
	bb_pair(b, "PIDTYPE_PID", 0);
	bb_pair(b, "PIDTYPE_TGID", 1);

	t->bits = bb_struct(b, BTF_RAW_STRUCT, "bits", 8, true, 5);
	bb_member(b, "a", t->uint, BF(3, 0));
	bb_member(b, "b", t->uint, BF(5, 3));
	bb_member(b, "c", t->chr, BF(0, 8));
	bb_member(b, "e", t->pid_type, BF(4, 16));
	bb_member(b, "f", t->uint, BF(0, 32));

	/* Legal without kind_flag, as the kernel agrees, but not at a byte offset. */
	t->unaligned = bb_struct(b, BTF_RAW_STRUCT, "unaligned", 8, false, 1);
	bb_member(b, "u", t->uint, 4);

	t->oldbits = bb_struct(b, BTF_RAW_STRUCT, "oldbits", 4, false, 4);
	bb_member(b, "a", u3, 0);
	bb_member(b, "b", u4, 3);
	bb_member(b, "c", t->chr, 8);
	bb_member(b, "d", u4, 16);
}

static void build_misc(struct bb *b, struct ids *t)
{
	uint32_t pad;

	bb_fwd(b, "slot", false);
	t->slot1 = bb_struct(b, BTF_RAW_STRUCT, "slot", 4, false, 1);
	bb_member(b, "s", t->int_, 0);
	t->slot2 = bb_struct(b, BTF_RAW_STRUCT, "slot", 8, false, 1);
	bb_member(b, "s", t->ulong, 0);

	t->big = bb_type(b, BTF_RAW_ENUM64, true, 1, "big", 8);
	bb_u32(b, bb_str(b, "BIG_ONE"));
	bb_u32(b, 0);
	bb_u32(b, 0x100);
	t->dbl = bb_type(b, BTF_RAW_FLOAT, false, 0, "double", 8);
	t->proto0 = bb_type(b, BTF_RAW_FUNC_PROTO, false, 0, NULL, 0);
	t->func = bb_type(b, BTF_RAW_FUNC, false, 1, "schedule", t->proto0);
	bb_type(b, BTF_RAW_DECL_TAG, false, 0, "user", t->task);
	bb_u32(b, 0);				/* on member 0 */
	bb_type(b, BTF_RAW_DECL_TAG, true, 0, "aligned", t->func);
	bb_u32(b, (uint32_t)-1);		/* a 6.15 "attribute", on the FUNC itself */

	t->rq = bb_struct(b, BTF_RAW_STRUCT, "rq", 64, false, 1);
	bb_member(b, "nr_running", t->uint, 0);

	/* 6.2 to 6.14 keep current_task in here. */
	pad = bb_array(b, t->chr, t->arrsz, 64);
	t->pcpu_hot = bb_struct(b, BTF_RAW_STRUCT, "pcpu_hot", 64, false, 1);
	bb_member(b, NULL, t->pcpu_hot + 1, 0);
	assert_int_equal(bb_struct(b, BTF_RAW_UNION, NULL, 64, false, 2), t->pcpu_hot + 1);
	bb_member(b, NULL, t->pcpu_hot + 2, 0);
	bb_member(b, "pad", pad, 0);
	assert_int_equal(bb_struct(b, BTF_RAW_STRUCT, NULL, 16, false, 2), t->pcpu_hot + 2);
	bb_member(b, "current_task", t->task_ptr, 0);
	bb_member(b, "preempt_count", t->int_, 64);
}

static void build_percpu(struct bb *b, struct ids *t)
{
	t->var_cpu = bb_var(b, "cpu_number", t->int_);
	t->var_off = bb_var(b, "this_cpu_off", t->ulong);
	t->var_task = bb_var(b, "current_task", t->task_ptr);
	t->var_hot = bb_var(b, "pcpu_hot", t->pcpu_hot);
	t->var_rq = bb_var(b, "runqueues", t->rq);
	t->var_data = bb_var(b, "current_task", t->int_);

	t->percpu = bb_type(b, BTF_RAW_DATASEC, false, 5, ".data..percpu", 0x40000);
	bb_secinfo(b, t->var_cpu, 0x199e0, 4);
	bb_secinfo(b, t->var_off, 0x199e8, 8);
	bb_secinfo(b, t->var_task, 0x1fb80, 8);
	bb_secinfo(b, t->var_hot, 0x20000, 64);
	bb_secinfo(b, t->var_rq, 0x31c40, 64);
	/* Same VAR name in another section: the section name must matter. */
	t->data_sec = bb_type(b, BTF_RAW_DATASEC, false, 1, ".data", 0x100);
	bb_secinfo(b, t->var_data, 0x10, 4);
}

static void build_realistic(struct bb *b, struct ids *t)
{
	bb_init(b);
	build_base_ints(b, t);
	build_small_types(b, t);
	build_mm(b, t);
	build_task(b, t);
	build_bitfields(b, t);
	build_misc(b, t);
	build_percpu(b, t);
}

static uint64_t member_off(const struct btf *btf, uint32_t id, const char *name)
{
	uint64_t off = ~0ull;
	int err = btf_member_offset(btf, id, name, &off, NULL);

	if (err)
		fail_msg("member %s of type %u: %d", name, id, err);
	return off;
}

static uint64_t size_of(const struct btf *btf, uint32_t id)
{
	uint64_t size = ~0ull;

	assert_int_equal(btf_type_size(btf, id, &size), 0);
	return size;
}

/* ------------------------------------------------------------------------
 * Lookups on the realistic BTF
 */

static void realistic_parses(void **state)
{
	struct bb b;
	struct ids t;
	size_t len;
	uint8_t *blob, *longer;
	struct btf *btf;

	(void)state;
	build_realistic(&b, &t);
	blob = bb_emit(&b, &len);
	btf = must_parse(blob, len);
	assert_int_equal(btf_nr_types(btf), b.nr);
	assert_int_equal(btf_size(btf), len);
	btf_free(btf);

	/* Whatever follows the BTF in memory is not part of it. */
	longer = malloc(len + 4096);
	assert_non_null(longer);
	memcpy(longer, blob, len);
	memset(longer + len, 0xa5, 4096);
	btf = must_parse(longer, len + 4096);
	assert_int_equal(btf_size(btf), len);
	btf_free(btf);

	free(longer);
	free(blob);
	bb_free(&b);
}

static void find_struct_skips_decoys(void **state)
{
	struct bb b;
	struct ids t;
	struct btf *btf;
	uint32_t id = 0;

	(void)state;
	build_realistic(&b, &t);
	btf = parse_built(&b);
	assert_int_equal(btf_find_struct(btf, "task_struct", &id), 0);
	assert_int_equal(id, t.task);	/* not the FWD, the empty one or the union */
	assert_int_equal(btf_find_struct(btf, "slot", &id), 0);
	assert_int_equal(id, t.slot1);	/* first non-empty duplicate */
	assert_int_equal(btf_find_struct(btf, "list_head", &id), 0);
	assert_int_equal(id, t.list_head);
	assert_int_equal(btf_find_struct(btf, "mm_struct", &id), 0);
	assert_int_equal(id, t.mm);
	assert_int_equal(btf_find_struct(btf, "signal_struct", &id), -ENOENT);	/* FWDs only */
	assert_int_equal(btf_find_struct(btf, "pid_t", &id), -ENOENT);	/* a typedef */
	assert_int_equal(btf_find_struct(btf, "task_struc", &id), -ENOENT);
	assert_int_equal(btf_find_struct(btf, "task_struct ", &id), -ENOENT);
	assert_int_equal(btf_find_struct(btf, "", &id), -EINVAL);
	assert_int_equal(btf_find_struct(btf, NULL, &id), -EINVAL);
	assert_int_equal(btf_find_struct(btf, "task_struct", NULL), -EINVAL);
	assert_int_equal(btf_find_struct(NULL, "task_struct", &id), -EINVAL);
	btf_free(btf);
	bb_free(&b);
}

static void task_struct_members(void **state)
{
	struct bb b;
	struct ids t;
	struct btf *btf;
	uint64_t off = 7;
	uint32_t type = 0;

	(void)state;
	build_realistic(&b, &t);
	btf = parse_built(&b);
	assert_int_equal(size_of(btf, t.task), 9792);
	assert_int_equal(member_off(btf, t.task, "thread_info"), 0);
	assert_int_equal(member_off(btf, t.task, "__state"), 24);
	assert_int_equal(member_off(btf, t.task, "tasks"), 2192);
	assert_int_equal(member_off(btf, t.task, "mm"), 2272);
	assert_int_equal(member_off(btf, t.task, "active_mm"), 2280);
	assert_int_equal(member_off(btf, t.task, "pid"), 2416);
	assert_int_equal(member_off(btf, t.task, "tgid"), 2420);
	assert_int_equal(member_off(btf, t.task, "real_parent"), 2432);
	assert_int_equal(member_off(btf, t.task, "thread_node"), 2608);
	assert_int_equal(member_off(btf, t.task, "comm"), 2976);
	assert_int_equal(member_off(btf, t.task, "signal"), 3072);
	assert_int_equal(member_off(btf, t.task, "flex"), 9792);

	/* Into the anonymous union, the anonymous struct and the union inside that. */
	assert_int_equal(member_off(btf, t.task, "rcu_users"), 4968);
	assert_int_equal(member_off(btf, t.task, "rcu"), 4968);
	assert_int_equal(member_off(btf, t.task, "nested_a"), 5000);
	assert_int_equal(member_off(btf, t.task, "deep_x"), 5008);
	assert_int_equal(member_off(btf, t.task, "deep_y"), 5008);
	assert_int_equal(member_off(btf, t.task, "nested_b"), 5016);
	/* A named member is not searched into. */
	assert_int_equal(btf_member_offset(btf, t.task, "cpu", &off, NULL), -ENOENT);
	assert_int_equal(btf_member_offset(btf, t.task, "next", &off, NULL), -ENOENT);
	assert_int_equal(member_off(btf, t.thread_info, "cpu"), 20);

	assert_int_equal(btf_member_offset(btf, t.task, "tasks", &off, &type), 0);
	assert_int_equal(type, t.list_head);
	assert_int_equal(btf_member_offset(btf, t.task, "comm", &off, &type), 0);
	assert_int_equal(type, t.comm);
	assert_int_equal(size_of(btf, type), 16);
	assert_int_equal(btf_member_offset(btf, t.task, "deep_y", &off, &type), 0);
	assert_int_equal(type, t.ulong);
	assert_int_equal(btf_member_offset(btf, t.task, "pid", &off, &type), 0);
	assert_int_equal(type, t.pid_t);
	assert_int_equal(size_of(btf, type), 4);

	/* kind_flag bitfields, even one that starts on a byte, have no byte offset. */
	off = 7;
	assert_int_equal(btf_member_offset(btf, t.task, "sched_reset_on_fork", &off, NULL),
			 -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.task, "sched_contributes_to_load", &off, NULL),
			 -EINVAL);
	assert_int_equal(off, 7);	/* untouched on failure */

	assert_int_equal(btf_member_offset(btf, t.task, "nope", &off, NULL), -ENOENT);
	assert_int_equal(btf_member_offset(btf, t.task, "", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.task, NULL, &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.task, "pid", NULL, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(NULL, t.task, "pid", &off, NULL), -EINVAL);
	btf_free(btf);
	bb_free(&b);
}

static void other_members(void **state)
{
	struct bb b;
	struct ids t;
	struct btf *btf;
	uint64_t off;
	uint32_t type;

	(void)state;
	build_realistic(&b, &t);
	btf = parse_built(&b);
	assert_int_equal(member_off(btf, t.mm, "pgd"), 72);	/* inside the anonymous struct */
	assert_int_equal(member_off(btf, t.mm, "mm_users"), 80);
	assert_int_equal(member_off(btf, t.mm, "cpu_bitmap"), 992);
	assert_int_equal(btf_member_offset(btf, t.mm, "cpu_bitmap", &off, &type), 0);
	assert_int_equal(size_of(btf, type), 0);
	assert_int_equal(size_of(btf, t.mm), 992);
	assert_int_equal(member_off(btf, t.list_head, "prev"), 8);

	/* Typedefs and qualifiers in front of the struct are looked through. */
	assert_int_equal(member_off(btf, t.pgd_t, "pgd"), 0);
	assert_int_equal(member_off(btf, t.atomic_t, "counter"), 0);
	assert_int_equal(member_off(btf, t.anon_union, "rcu"), 0);

	assert_int_equal(member_off(btf, t.bits, "c"), 1);
	assert_int_equal(member_off(btf, t.bits, "f"), 4);
	assert_int_equal(btf_member_offset(btf, t.bits, "a", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.bits, "b", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.bits, "e", &off, NULL), -EINVAL);
	assert_int_equal(member_off(btf, t.oldbits, "c"), 1);
	assert_int_equal(btf_member_offset(btf, t.oldbits, "a", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.oldbits, "b", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.oldbits, "d", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.unaligned, "u", &off, NULL), -EINVAL);

	/* Not a struct or union. */
	assert_int_equal(btf_member_offset(btf, t.int_, "x", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.task_ptr, "pid", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, t.task_fwd, "pid", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, 0, "x", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, b.nr + 1, "x", &off, NULL), -EINVAL);
	assert_int_equal(btf_member_offset(btf, UINT32_MAX, "x", &off, NULL), -EINVAL);
	btf_free(btf);
	bb_free(&b);
}

static void type_sizes(void **state)
{
	struct bb b;
	struct ids t;
	struct btf *btf;
	uint64_t size;

	(void)state;
	build_realistic(&b, &t);
	btf = parse_built(&b);
	assert_int_equal(size_of(btf, t.int_), 4);
	assert_int_equal(size_of(btf, t.ulong), 8);
	assert_int_equal(size_of(btf, t.task_ptr), 8);
	assert_int_equal(size_of(btf, t.ptr_void), 8);
	assert_int_equal(size_of(btf, t.pid_t), 4);
	assert_int_equal(size_of(btf, t.cv_ulong), 8);
	assert_int_equal(size_of(btf, t.task_ptr_t), 8);
	assert_int_equal(size_of(btf, t.comm), 16);
	assert_int_equal(size_of(btf, t.matrix), 60);
	assert_int_equal(size_of(btf, t.flex), 0);
	assert_int_equal(size_of(btf, t.list_head), 16);
	assert_int_equal(size_of(btf, t.anon_union), 16);
	assert_int_equal(size_of(btf, t.pid_type), 4);
	assert_int_equal(size_of(btf, t.big), 8);
	assert_int_equal(size_of(btf, t.dbl), 8);
	assert_int_equal(size_of(btf, t.percpu), 0x40000);
	assert_int_equal(size_of(btf, t.task_union), 8);
	assert_int_equal(size_of(btf, t.task_empty), 0);
	assert_int_equal(btf_type_size(btf, t.task_fwd, &size), -EINVAL);
	assert_int_equal(btf_type_size(btf, t.func, &size), -EINVAL);
	assert_int_equal(btf_type_size(btf, t.proto0, &size), -EINVAL);
	assert_int_equal(btf_type_size(btf, t.var_task, &size), -EINVAL);
	assert_int_equal(btf_type_size(btf, 0, &size), -EINVAL);
	assert_int_equal(btf_type_size(btf, b.nr + 1, &size), -EINVAL);
	assert_int_equal(btf_type_size(btf, t.int_, NULL), -EINVAL);
	assert_int_equal(btf_type_size(NULL, t.int_, &size), -EINVAL);

	assert_int_equal(btf_type_kind(btf, 0), 0);
	assert_int_equal(btf_type_kind(btf, t.task), BTF_RAW_STRUCT);
	assert_int_equal(btf_type_kind(btf, t.percpu), BTF_RAW_DATASEC);
	assert_int_equal(btf_type_kind(btf, b.nr + 1), -EINVAL);
	assert_string_equal(btf_type_name(btf, t.task), "task_struct");
	assert_string_equal(btf_type_name(btf, t.anon_union), "");
	assert_string_equal(btf_type_name(btf, 0), "");
	assert_null(btf_type_name(btf, b.nr + 1));
	btf_free(btf);
	bb_free(&b);
}

static void percpu_vars(void **state)
{
	struct bb b;
	struct ids t;
	struct btf *btf;
	uint64_t off = 0, member;
	uint32_t type = 0, hot = 0;

	(void)state;
	build_realistic(&b, &t);
	btf = parse_built(&b);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "current_task", &off, &type), 0);
	assert_int_equal(off, 0x1fb80);
	assert_int_equal(type, t.task_ptr);
	assert_true(btf_is_ptr_to_struct(btf, type, "task_struct"));
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "this_cpu_off", &off, &type), 0);
	assert_int_equal(off, 0x199e8);
	assert_int_equal(type, t.ulong);
	assert_false(btf_is_ptr_to_struct(btf, type, "task_struct"));
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "cpu_number", &off, &type), 0);
	assert_int_equal(off, 0x199e0);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "runqueues", &off, &type), 0);
	assert_int_equal(off, 0x31c40);
	assert_int_equal(type, t.rq);

	/* The 6.2-6.14 layout: current_task inside pcpu_hot, two anonymous levels down. */
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "pcpu_hot", &off, &hot), 0);
	assert_int_equal(off, 0x20000);
	assert_int_equal(btf_member_offset(btf, hot, "current_task", &member, &type), 0);
	assert_int_equal(member, 0);
	assert_true(btf_is_ptr_to_struct(btf, type, "task_struct"));
	assert_int_equal(member_off(btf, hot, "preempt_count"), 8);
	assert_int_equal(member_off(btf, hot, "pad"), 0);

	assert_int_equal(btf_datasec_var(btf, ".data", "current_task", &off, &type), 0);
	assert_int_equal(off, 0x10);
	assert_int_equal(type, t.int_);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "init_task", &off, &type), -ENOENT);
	assert_int_equal(btf_datasec_var(btf, ".bss", "current_task", &off, &type), -ENOENT);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "", &off, &type), -ENOENT);
	assert_int_equal(btf_datasec_var(btf, NULL, "current_task", &off, &type), -EINVAL);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", NULL, &off, &type), -EINVAL);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "current_task", NULL, &type),
			 -EINVAL);
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "current_task", &off, NULL),
			 -EINVAL);
	btf_free(btf);
	bb_free(&b);
}

static void pointer_checks(void **state)
{
	struct bb b;
	struct ids t;
	struct btf *btf;
	uint32_t type;
	uint64_t off;

	(void)state;
	build_realistic(&b, &t);
	btf = parse_built(&b);
	assert_true(btf_is_ptr_to_struct(btf, t.task_ptr, "task_struct"));
	assert_true(btf_is_ptr_to_struct(btf, t.task_tag_ptr, "task_struct"));	/* via TYPE_TAG */
	assert_true(btf_is_ptr_to_struct(btf, t.task_ptr_t, "task_struct"));	/* typedef const */
	assert_int_equal(btf_member_offset(btf, t.task, "real_parent", &off, &type), 0);
	assert_true(btf_is_ptr_to_struct(btf, type, "task_struct"));
	assert_int_equal(btf_member_offset(btf, t.task, "mm", &off, &type), 0);
	assert_true(btf_is_ptr_to_struct(btf, type, "mm_struct"));
	assert_false(btf_is_ptr_to_struct(btf, type, "task_struct"));
	assert_true(btf_is_ptr_to_struct(btf, t.signal_ptr, "signal_struct"));	/* FWD */
	assert_false(btf_is_ptr_to_struct(btf, t.union_fwd_ptr, "signal_struct"));
	assert_false(btf_is_ptr_to_struct(btf, t.ptr_ptr_task, "task_struct"));
	assert_false(btf_is_ptr_to_struct(btf, t.task, "task_struct"));	/* not a pointer */
	assert_false(btf_is_ptr_to_struct(btf, t.ptr_void, "task_struct"));
	assert_false(btf_is_ptr_to_struct(btf, t.int_, "task_struct"));
	assert_false(btf_is_ptr_to_struct(btf, 0, "task_struct"));
	assert_false(btf_is_ptr_to_struct(btf, b.nr + 1, "task_struct"));
	assert_false(btf_is_ptr_to_struct(btf, t.task_ptr, "task_structx"));
	assert_false(btf_is_ptr_to_struct(btf, t.task_ptr, NULL));
	assert_false(btf_is_ptr_to_struct(NULL, t.task_ptr, "task_struct"));
	btf_free(btf);
	bb_free(&b);
}

/* The parser keeps its own copy: a guest rewriting its memory afterwards changes nothing. */
static void private_copy(void **state)
{
	struct bb b;
	struct ids t;
	size_t len;
	uint8_t *blob;
	struct btf *btf;
	uint32_t id;

	(void)state;
	build_realistic(&b, &t);
	blob = bb_emit(&b, &len);
	assert_int_equal(btf_parse(blob, len, &btf, NULL, 0), 0);
	memset(blob, 0xff, len);
	free(blob);
	assert_int_equal(btf_find_struct(btf, "task_struct", &id), 0);
	assert_int_equal(member_off(btf, id, "comm"), 2976);
	btf_free(btf);
	btf_free(NULL);
	bb_free(&b);
}

static void why_buffer(void **state)
{
	uint8_t junk[64] = { 0 };
	struct btf *btf;
	char why[8];

	(void)state;
	memset(why, 'x', sizeof(why));
	assert_int_equal(btf_parse(junk, sizeof(junk), &btf, why, sizeof(why)), -EINVAL);
	assert_int_equal(strlen(why), sizeof(why) - 1);	/* truncated, terminated */
	assert_int_equal(btf_parse(junk, sizeof(junk), &btf, NULL, 100), -EINVAL);
	why[0] = 'x';
	assert_int_equal(btf_parse(junk, sizeof(junk), &btf, why, 0), -EINVAL);
	assert_int_equal(why[0], 'x');
	assert_int_equal(btf_parse(NULL, 100, &btf, NULL, 0), -EINVAL);
	assert_int_equal(btf_parse(junk, sizeof(junk), NULL, NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------------------
 * Header and sections
 */

/* A minimal valid BTF: int (1), unsigned long (2), char (3), __ARRAY_SIZE_TYPE__ (4). */
static void bb_minimal(struct bb *b)
{
	bb_init(b);
	bb_int(b, "int", 4, 32, BTF_RAW_INT_SIGNED);
	bb_int(b, "long unsigned int", 8, 64, 0);
	bb_int(b, "char", 1, 8, BTF_RAW_INT_SIGNED);
	bb_int(b, "__ARRAY_SIZE_TYPE__", 4, 32, 0);
}

enum { T_INT = 1, T_ULONG, T_CHAR, T_IDX };

static void truncated(void **state)
{
	struct bb b;
	struct ids t;
	size_t len;
	uint8_t *blob;

	(void)state;
	build_realistic(&b, &t);
	blob = bb_emit(&b, &len);
	/* Every prefix: a copy cut short by the end of a mapping or of RAM. */
	for (size_t cut = 0; cut < len; cut++) {
		struct btf *btf = NULL;
		char why[160];

		assert_int_equal(parse_exact(blob, cut, &btf, why, sizeof(why)), -EINVAL);
		assert_null(btf);
		assert_true(why[0] != '\0');
	}
	must_reject(blob, 23, -EINVAL, "too few for a BTF header");
	must_reject(blob, len - 1, -EINVAL, "past the");
	/* A full-size header whose sections run past the end of memory. */
	put32(blob + HDR(str_len), get32(blob + HDR(str_len)) + 4096);
	must_reject(blob, len, -EINVAL, "past the");
	free(blob);
	bb_free(&b);
}

static void bad_headers(void **state)
{
	struct bb b;
	size_t len;
	uint8_t *blob;

	(void)state;
	bb_minimal(&b);
	blob = bb_emit(&b, &len);
	btf_free(must_parse(blob, len));

	blob[0] ^= 1;
	must_reject(blob, len, -EINVAL, "bad magic");
	blob[0] ^= 1;
	blob[HDR(version)] = 2;
	must_reject(blob, len, -EINVAL, "version");
	blob[HDR(version)] = 1;
	blob[HDR(flags)] = 1;
	must_reject(blob, len, -EINVAL, "flags");
	blob[HDR(flags)] = 0;

	put32(blob + HDR(hdr_len), 0xffffffff);
	must_reject(blob, len, -EINVAL, "hdr_len 4294967295 runs past");
	put32(blob + HDR(hdr_len), 0);
	must_reject(blob, len, -EINVAL, "shorter than the header");
	put32(blob + HDR(hdr_len), 23);
	must_reject(blob, len, -EINVAL, "shorter than the header");
	put32(blob + HDR(hdr_len), 24);

	put32(blob + HDR(str_len), 0);
	must_reject(blob, len, -EINVAL, "empty string section");
	put32(blob + HDR(str_len), (uint32_t)b.slen);

	blob[len - 1] = 'x';
	must_reject(blob, len, -EINVAL, "does not end with a NUL");
	blob[len - 1] = '\0';
	blob[24 + b.tlen] = 'x';
	must_reject(blob, len, -EINVAL, "does not start with a NUL");
	free(blob);
	bb_free(&b);
}

static void header_padding(void **state)
{
	struct bb b;
	size_t len;
	uint8_t *blob;
	struct btf *btf;

	(void)state;
	bb_minimal(&b);
	b.hdr_len = 32;		/* a newer, longer header whose extra fields are zero */
	blob = bb_emit(&b, &len);
	btf = must_parse(blob, len);
	assert_int_equal(btf_size(btf), len);
	btf_free(btf);
	for (size_t i = 24; i < 32; i++) {
		blob[i] = 1;
		must_reject(blob, len, -EINVAL, "non-zero header byte");
		blob[i] = 0;
	}
	free(blob);

	b.hdr_len = 25;		/* leaves the type section unaligned: still readable */
	blob = bb_emit(&b, &len);
	btf_free(must_parse(blob, len));
	free(blob);
	bb_free(&b);
}

static void section_layout(void **state)
{
	struct bb b;
	size_t len;
	uint8_t *blob;
	uint32_t tlen, slen;

	(void)state;
	bb_minimal(&b);
	blob = bb_emit(&b, &len);
	tlen = (uint32_t)b.tlen;
	slen = (uint32_t)b.slen;

	put32(blob + HDR(type_len), 0);
	put32(blob + HDR(str_off), 0);
	must_reject(blob, len, -EINVAL, "empty type section");
	/* Strings first, types after. */
	put32(blob + HDR(type_len), tlen);
	put32(blob + HDR(type_off), slen);
	must_reject(blob, len, -EINVAL, "is not last");
	put32(blob + HDR(type_off), 4);
	put32(blob + HDR(str_off), tlen + 4);
	must_reject(blob, len, -EINVAL, "gap of 4 bytes before the type section");
	put32(blob + HDR(type_off), 0);
	put32(blob + HDR(str_off), tlen - 4);
	must_reject(blob, len, -EINVAL, "overlap");
	put32(blob + HDR(str_off), tlen + 4);
	must_reject(blob, len, -EINVAL, "gap between");
	put32(blob + HDR(str_off), tlen);
	put32(blob + HDR(str_len), 0xfffffff0);	/* 64-bit sums: no wrap to something small */
	must_reject(blob, len, -E2BIG, "over the");
	put32(blob + HDR(str_len), slen);
	put32(blob + HDR(type_len), tlen + 8);
	put32(blob + HDR(str_off), tlen + 8);
	must_reject(blob, len, -EINVAL, "past the");
	free(blob);
	bb_free(&b);
}

static void too_big(void **state)
{
	struct btf_raw_header h = {
		.magic = BTF_RAW_MAGIC, .version = 1, .hdr_len = 24,
		.type_len = BTF_RAW_MAX_SIZE - 24 - 1, .str_off = BTF_RAW_MAX_SIZE - 24 - 1,
		.str_len = 2,
	};
	uint8_t blob[sizeof(h)], *big;

	(void)state;
	/* The header alone says it is too big: no need to have the bytes. */
	memcpy(blob, &h, sizeof(h));
	must_reject(blob, sizeof(blob), -E2BIG, "over the 16777216-byte limit");
	h.str_len = 1;
	memcpy(blob, &h, sizeof(h));
	must_reject(blob, sizeof(blob), -EINVAL, "past the 24 bytes");

	/* A header longer than any BTF may be: refused before its padding is scanned. */
	big = calloc(1, BTF_RAW_MAX_SIZE + 64);
	assert_non_null(big);
	h.hdr_len = BTF_RAW_MAX_SIZE + 8;
	memcpy(big, &h, sizeof(h));
	must_reject(big, BTF_RAW_MAX_SIZE + 64, -E2BIG, "hdr_len 16777224 is over");
	free(big);
}

/* 12-byte records make a section of 2^20 types fit in the 16 MiB limit. */
static void too_many_types(void **state)
{
	struct bb b;
	size_t len;
	uint8_t *blob;
	struct btf *btf;

	(void)state;
	bb_init(&b);
	for (uint32_t i = 0; i < BTF_RAW_MAX_TYPE; i++)
		bb_ptr(&b, 0);
	blob = bb_emit(&b, &len);
	btf = must_parse(blob, len);
	assert_int_equal(btf_nr_types(btf), BTF_RAW_MAX_TYPE);
	assert_true(btf_is_ptr_to_struct(btf, BTF_RAW_MAX_TYPE, "x") == false);
	btf_free(btf);
	free(blob);

	bb_ptr(&b, 0);
	blob = bb_emit(&b, &len);
	must_reject(blob, len, -E2BIG, "more than 1048575 types");
	free(blob);
	bb_free(&b);
}

/* ------------------------------------------------------------------------
 * Records
 */

static void unknown_kinds(void **state)
{
	static const unsigned int kinds[] = { 0, BTF_RAW_KIND_MAX + 1, 31 };

	(void)state;
	for (size_t i = 0; i < N(kinds); i++) {
		struct bb b;

		bb_minimal(&b);
		bb_type(&b, kinds[i], false, 0, NULL, 0);
		reject_built(&b, "unknown kind");
		bb_free(&b);
	}
}

static void reserved_info_bits(void **state)
{
	static const unsigned int bits[] = { 16, 17, 18, 19, 20, 21, 22, 23, 29, 30 };

	(void)state;
	for (size_t i = 0; i < N(bits); i++) {
		struct bb b;

		bb_minimal(&b);
		bb_type_raw(&b, 0, BTF_RAW_INFO(BTF_RAW_PTR, 0, 0) | 1u << bits[i], T_INT);
		reject_built(&b, "reserved info bits");
		bb_free(&b);
	}
}

static void vlen_past_end(void **state)
{
	struct bb b;

	(void)state;
	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 5);
	bb_member(&b, "a", T_INT, 0);
	bb_member(&b, "b", T_INT, 32);
	reject_built(&b, "vlen 5 runs past the type section");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_DATASEC, false, 0xffff, ".data", 16);
	reject_built(&b, "vlen 65535 runs past");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_ARRAY, false, 0, NULL, 0);	/* no btf_raw_array after it */
	reject_built(&b, "ARRAY runs past");
	bb_free(&b);

	bb_minimal(&b);
	bb_u32(&b, 0);	/* a partial record header */
	reject_built(&b, "only 4 bytes left");
	bb_free(&b);
}

static void ids_past_the_end(void **state)
{
	struct bb b;
	uint32_t var;

	(void)state;
	bb_minimal(&b);
	bb_ptr(&b, b.nr + 2);
	reject_built(&b, "past the last type");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "a", 0xfffff, 0);
	reject_built(&b, "member is type 1048575, past the last type");
	bb_free(&b);

	bb_minimal(&b);
	bb_array(&b, T_INT, 99, 4);
	reject_built(&b, "index is type 99");
	bb_free(&b);

	bb_minimal(&b);
	var = bb_var(&b, "v", T_INT);
	bb_type(&b, BTF_RAW_DATASEC, false, 2, ".data", 16);
	bb_secinfo(&b, var, 0, 4);
	bb_secinfo(&b, var + 2, 8, 4);
	reject_built(&b, "variable is type");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_FUNC, false, 0, "f", 1000);
	reject_built(&b, "prototype is type 1000");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_FUNC_PROTO, false, 1, NULL, T_INT);
	bb_pair(&b, "x", 77);
	reject_built(&b, "parameter is type 77");
	bb_free(&b);

	/* A DECL_TAG looks at its FUNC's prototype before the FUNC is checked. */
	bb_minimal(&b);
	bb_type(&b, BTF_RAW_DECL_TAG, false, 0, "t", b.nr + 2);
	bb_u32(&b, 0);
	bb_type(&b, BTF_RAW_FUNC, false, 0, "f", 1000);
	reject_built(&b, "tagged function's prototype is type 1000");
	bb_free(&b);
}

static void names_past_the_end(void **state)
{
	struct bb b;
	uint32_t sl;
	char want[96];

	(void)state;
	bb_minimal(&b);
	sl = (uint32_t)b.slen + 2;	/* str_len once "x" is added: one past the end */
	bb_type_raw(&b, sl, BTF_RAW_INFO(BTF_RAW_TYPEDEF, 0, 0), T_INT);
	bb_str(&b, "x");
	snprintf(want, sizeof(want), "TYPEDEF name offset %u is past the %u-byte string section",
		 sl, sl);
	reject_built(&b, want);
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_u32(&b, 0x7fffffff);
	bb_u32(&b, T_INT);
	bb_u32(&b, 0);
	reject_built(&b, "member name offset 2147483647");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_ENUM, false, 1, "e", 4);
	bb_u32(&b, 0xffffffff);
	bb_u32(&b, 0);
	reject_built(&b, "enumerator name offset");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_FUNC_PROTO, false, 1, NULL, 0);
	bb_pair(&b, NULL, T_INT);
	{	/* point the parameter's name at str_len */
		size_t len;
		uint8_t *blob = bb_emit(&b, &len);

		put32(rec_at(blob, &b, b.nr, 12), (uint32_t)b.slen);
		must_reject(blob, len, -EINVAL, "parameter name offset");
		free(blob);
	}
	bb_free(&b);
}

static void type_loops(void **state)
{
	struct bb b;
	uint32_t id;

	(void)state;
	/* typedef T T; */
	bb_minimal(&b);
	bb_mod(&b, BTF_RAW_TYPEDEF, "loop", b.nr + 1);
	reject_built(&b, "chain loops");
	bb_free(&b);

	/* const -> volatile -> const */
	bb_minimal(&b);
	id = bb_mod(&b, BTF_RAW_CONST, NULL, b.nr + 2);
	bb_mod(&b, BTF_RAW_VOLATILE, NULL, id);
	reject_built(&b, "chain loops");
	bb_free(&b);

	/* An array of itself. */
	bb_minimal(&b);
	bb_array(&b, b.nr + 1, T_IDX, 2);
	reject_built(&b, "chain loops");
	bb_free(&b);

	/* A loop the chain enters from outside: int -> typedef -> const -> typedef ... */
	bb_minimal(&b);
	id = bb_mod(&b, BTF_RAW_TYPEDEF, "a", b.nr + 2);
	bb_mod(&b, BTF_RAW_CONST, NULL, b.nr + 2);
	bb_mod(&b, BTF_RAW_RESTRICT, NULL, id + 1);
	reject_built(&b, "chain loops");
	bb_free(&b);

	/* A pointer cycle through a struct is a linked list, and fine. */
	bb_minimal(&b);
	id = bb_struct(&b, BTF_RAW_STRUCT, "node", 8, false, 1);
	bb_member(&b, "next", id + 2, 0);
	bb_mod(&b, BTF_RAW_TYPEDEF, "node_t", id);
	bb_ptr(&b, id + 1);			/* node_t *next */
	accept_built(&b);
	bb_free(&b);
}

static void self_containing_structs(void **state)
{
	struct bb b;
	uint32_t id;

	(void)state;
	/* struct s { struct s self; } -- it even "fits" its own size. */
	bb_minimal(&b);
	id = bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "self", id, 0);
	reject_built(&b, "contains itself by value");
	bb_free(&b);

	/* Through a typedef and an array: struct s { s_t arr[1]; } */
	bb_minimal(&b);
	id = bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "arr", id + 2, 0);
	bb_mod(&b, BTF_RAW_TYPEDEF, "s_t", id);
	bb_array(&b, id + 1, T_IDX, 1);
	reject_built(&b, "contains itself by value");
	bb_free(&b);

	/* a contains b contains (anonymous union containing) a. */
	bb_minimal(&b);
	id = bb_struct(&b, BTF_RAW_STRUCT, "a", 16, false, 1);
	bb_member(&b, "b", id + 1, 0);
	bb_struct(&b, BTF_RAW_STRUCT, "b", 16, false, 1);
	bb_member(&b, NULL, id + 2, 0);
	bb_struct(&b, BTF_RAW_UNION, NULL, 16, false, 1);
	bb_member(&b, "a", id, 0);
	reject_built(&b, "contains itself by value");
	bb_free(&b);

	/* A zero-length array of itself is still an infinite type. */
	bb_minimal(&b);
	id = bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 2);
	bb_member(&b, "x", T_ULONG, 0);
	bb_member(&b, "tail", id + 1, 64);
	bb_array(&b, id, T_IDX, 0);
	reject_built(&b, "contains itself by value");
	bb_free(&b);
}

static void nelems_overflow(void **state)
{
	struct bb b;
	uint32_t id;
	struct btf *btf;
	uint64_t size;

	(void)state;
	bb_minimal(&b);
	bb_array(&b, T_INT, T_IDX, 0xffffffff);
	reject_built(&b, "4294967295 elements of 4 bytes overflow");
	bb_free(&b);

	/* [0x10000][0x10000] of int: each level fine, the whole not. */
	bb_minimal(&b);
	bb_array(&b, bb_array(&b, T_INT, T_IDX, 0x10000), T_IDX, 0x10000);
	reject_built(&b, "65536 elements of 262144 bytes overflow");
	bb_free(&b);

	/* An empty outer array does not excuse an inner one that overflows ... */
	bb_minimal(&b);
	id = bb_array(&b, T_INT, T_IDX, 0xffffffff);
	bb_array(&b, id, T_IDX, 0);
	reject_built(&b, "type 5: 4294967295 elements of 4 bytes overflow");
	bb_free(&b);
	/* ... even when the outer one comes first and is checked first. */
	bb_minimal(&b);
	bb_array(&b, b.nr + 2, T_IDX, 0);
	bb_array(&b, T_INT, T_IDX, 0xffffffff);
	reject_built(&b, "type 6: 4294967295 elements of 4 bytes overflow");
	bb_free(&b);

	/* char[2^32-1] has a size that fits a u32 ... */
	bb_minimal(&b);
	id = bb_array(&b, T_CHAR, T_IDX, 0xffffffff);
	btf = parse_built(&b);
	assert_int_equal(btf_type_size(btf, id, &size), 0);
	assert_int_equal(size, 0xffffffff);
	btf_free(btf);
	/* ... but not a 16-byte struct. */
	bb_struct(&b, BTF_RAW_STRUCT, "s", 16, false, 1);
	bb_member(&b, "big", id, 0);
	reject_built(&b, "runs past the end of the 16-byte STRUCT");
	bb_free(&b);
}

static void chain_depth(void **state)
{
	struct bb b;
	uint32_t id;
	struct btf *btf;
	uint64_t size;

	(void)state;
	for (int depth = BTF_RAW_MAX_DEPTH; depth <= BTF_RAW_MAX_DEPTH + 1; depth++) {
		bb_minimal(&b);
		id = T_INT;
		for (int i = 0; i < depth; i++)
			id = i % 3 ? bb_mod(&b, BTF_RAW_CONST, NULL, id) :
				     bb_array(&b, id, T_IDX, 1);
		if (depth > BTF_RAW_MAX_DEPTH) {
			reject_built(&b, "chain is longer than 32");
		} else {
			btf = parse_built(&b);
			assert_int_equal(btf_type_size(btf, id, &size), 0);
			assert_int_equal(size, 4);
			btf_free(btf);
		}
		bb_free(&b);
	}

	/* Built top-down, so the first type checked walks the whole chain at once. */
	for (int depth = BTF_RAW_MAX_DEPTH; depth <= BTF_RAW_MAX_DEPTH + 1; depth++) {
		bb_minimal(&b);
		for (int i = 1; i < depth; i++)
			bb_mod(&b, BTF_RAW_CONST, NULL, b.nr + 2);
		bb_mod(&b, BTF_RAW_CONST, NULL, T_INT);
		if (depth > BTF_RAW_MAX_DEPTH)
			reject_built(&b, "type 5: typedef/modifier/array chain is longer than 32");
		else
			accept_built(&b);
		bb_free(&b);
	}

	/* Two chains of 20 that join into one of 40. */
	bb_minimal(&b);
	id = T_INT;
	for (int i = 0; i < 20; i++)
		id = bb_mod(&b, BTF_RAW_VOLATILE, NULL, id);
	accept_built(&b);
	for (int i = 0; i < 20; i++)
		id = bb_mod(&b, BTF_RAW_TYPEDEF, "t", id);
	reject_built(&b, "chain is longer than 32");
	bb_free(&b);
}

static void nesting_depth(void **state)
{
	struct bb b;
	uint32_t id;
	uint64_t off;
	struct btf *btf;

	(void)state;
	for (int depth = BTF_RAW_MAX_DEPTH; depth <= BTF_RAW_MAX_DEPTH + 1; depth++) {
		bb_minimal(&b);
		id = bb_struct(&b, BTF_RAW_STRUCT, NULL, 4, false, 1);
		bb_member(&b, "leaf", T_INT, 0);
		for (int i = 1; i < depth; i++) {
			bb_struct(&b, i % 2 ? BTF_RAW_UNION : BTF_RAW_STRUCT, NULL, 4, false, 1);
			bb_member(&b, NULL, id, 0);
			id = b.nr;
		}
		if (depth > BTF_RAW_MAX_DEPTH) {
			reject_built(&b, "nested by value more than 32 deep");
		} else {
			btf = parse_built(&b);
			assert_int_equal(btf_member_offset(btf, id, "leaf", &off, NULL), 0);
			assert_int_equal(off, 0);
			btf_free(btf);
		}
		bb_free(&b);
	}

	/* Outermost first: the walk from type 5 fills its stack. */
	for (int depth = BTF_RAW_MAX_DEPTH; depth <= BTF_RAW_MAX_DEPTH + 1; depth++) {
		bb_minimal(&b);
		for (int i = 1; i < depth; i++) {
			bb_struct(&b, BTF_RAW_STRUCT, NULL, 4, false, 1);
			bb_member(&b, NULL, b.nr + 1, 0);
		}
		bb_struct(&b, BTF_RAW_STRUCT, NULL, 4, false, 1);
		bb_member(&b, "leaf", T_INT, 0);
		if (depth > BTF_RAW_MAX_DEPTH) {
			reject_built(&b, "type 5: structs nested by value more than 32 deep");
		} else {
			btf = parse_built(&b);
			assert_int_equal(btf_member_offset(btf, 5, "leaf", &off, NULL), 0);
			btf_free(btf);
		}
		bb_free(&b);
	}
}

/*
 * Anonymous members that all open into the same big union would make a
 * member search read vlen^depth records; btf_parse() refuses the BTF instead.
 */
static void anonymous_blowup(void **state)
{
	struct bb b;
	uint32_t u, s;
	struct btf *btf;
	uint64_t off;

	(void)state;
	bb_minimal(&b);
	u = bb_struct(&b, BTF_RAW_UNION, NULL, 4, false, 15);
	for (int i = 0; i < 15; i++)
		bb_member(&b, "x", T_INT, 0);
	s = bb_struct(&b, BTF_RAW_STRUCT, "s", 4, false, 0xffff);
	for (int i = 0; i < 0xffff; i++)
		bb_member(&b, NULL, u, 0);
	/* 65535 * (1 + 15) = 1048560 records: just under the limit, and searchable. */
	btf = parse_built(&b);
	assert_int_equal(btf_member_offset(btf, s, "x", &off, NULL), 0);
	assert_int_equal(btf_member_offset(btf, s, "nope", &off, NULL), -ENOENT);
	btf_free(btf);
	bb_struct(&b, BTF_RAW_UNION, "t", 4, false, 17);
	for (int i = 0; i < 17; i++)
		bb_member(&b, NULL, s, 0);
	reject_built(&b, "anonymous members expand to over 1048576 members");
	bb_free(&b);
}

static void member_placement(void **state)
{
	struct bb b;

	(void)state;
	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 16, false, 1);
	bb_member(&b, "p", b.nr + 1, 4);
	bb_ptr(&b, 0);
	reject_built(&b, "not byte-aligned");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "a", T_ULONG, 8);
	reject_built(&b, "member 0 runs past the end of the 8-byte STRUCT");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "a", T_INT, 72);
	reject_built(&b, "starts past the 8-byte STRUCT");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 2);
	bb_member(&b, "a", T_INT, 32);
	bb_member(&b, "b", T_INT, 0);
	reject_built(&b, "goes backwards");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_UNION, "u", 8, false, 2);
	bb_member(&b, "a", T_INT, 0);
	bb_member(&b, "b", T_INT, 32);
	reject_built(&b, "union member 1 at bit 32");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, true, 1);
	bb_member(&b, "p", b.nr + 1, BF(3, 0));
	bb_ptr(&b, 0);
	reject_built(&b, "bitfield of a PTR");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, true, 1);
	bb_member(&b, "a", T_INT, BF(33, 0));
	reject_built(&b, "33-bit bitfield of a 32-bit INT");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 4, true, 1);
	bb_member(&b, "a", T_INT, BF(4, 30));
	reject_built(&b, "runs past the end of the 4-byte STRUCT");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 4, true, 1);
	bb_member(&b, "a", T_INT, BF(0, 4));
	reject_built(&b, "not byte-aligned");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 4, true, 1);
	bb_member(&b, "a", b.nr + 1, BF(2, 0));
	bb_int(&b, "u3", 4, 3, 0);
	reject_built(&b, "kind_flag member of irregular INT");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_ENUM, false, 1, "e", 4);
	bb_pair(&b, "E", 0);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, true, 1);
	bb_member(&b, "e", 5, BF(33, 0));
	reject_built(&b, "33-bit bitfield of a 4-byte enum");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_ENUM, false, 1, "e", 4);
	bb_pair(&b, "E", 0);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 4, true, 1);
	bb_member(&b, "e", 5, BF(4, 30));
	reject_built(&b, "runs past the end of the 4-byte STRUCT");
	bb_free(&b);

	/* The struct is checked before the array it embeds, whose element is incomplete. */
	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "a", b.nr + 1, 0);
	bb_array(&b, b.nr + 2, T_IDX, 2);
	bb_fwd(&b, "f", false);
	reject_built(&b, "type 5: member 0: type 6 has no size");
	bb_free(&b);

	/* Old encoding: the INT's own bit offset counts too. */
	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 1, false, 1);
	bb_member(&b, "a", b.nr + 1, 4);
	bb_type(&b, BTF_RAW_INT, false, 0, "u4", 4);
	bb_u32(&b, 2 << 16 | 4);
	reject_built(&b, "runs past the end of the 1-byte STRUCT");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "f", b.nr + 1, 0);
	bb_fwd(&b, "f", false);
	reject_built(&b, "a FWD, which has no size");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 8, false, 1);
	bb_member(&b, "fn", b.nr + 1, 0);
	bb_type(&b, BTF_RAW_FUNC_PROTO, false, 0, NULL, 0);
	reject_built(&b, "a FUNC_PROTO, which has no size");
	bb_free(&b);

	bb_minimal(&b);
	bb_struct(&b, BTF_RAW_STRUCT, "s", 0, false, 1);
	bb_member(&b, NULL, 0, 0);
	reject_built(&b, "member 0 is void");
	bb_free(&b);
}

static void bad_references(void **state)
{
	struct bb b;
	uint32_t var, proto;

	(void)state;
	bb_minimal(&b);
	var = bb_var(&b, "v", T_INT);
	bb_mod(&b, BTF_RAW_CONST, NULL, var);
	reject_built(&b, "target is type 5, a VAR");
	bb_free(&b);

	bb_minimal(&b);
	proto = bb_type(&b, BTF_RAW_FUNC_PROTO, false, 0, NULL, 0);
	bb_ptr(&b, bb_type(&b, BTF_RAW_FUNC, false, 0, "f", proto));
	reject_built(&b, "a FUNC");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_FUNC, false, 0, "f", T_INT);
	reject_built(&b, "FUNC of type 1, a INT");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_DATASEC, false, 1, ".data", 16);
	bb_secinfo(&b, T_INT, 0, 4);
	reject_built(&b, "variable 0 is type 1, a INT");
	bb_free(&b);

	bb_minimal(&b);
	bb_array(&b, T_INT, T_ULONG + 100, 1);
	reject_built(&b, "past the last type");
	bb_free(&b);

	bb_minimal(&b);
	bb_array(&b, bb_fwd(&b, "f", false), T_IDX, 2);
	reject_built(&b, "element type 5 has no size");
	bb_free(&b);

	bb_minimal(&b);
	bb_array(&b, T_INT, bb_ptr(&b, 0), 2);
	reject_built(&b, "index type 5 is not a plain INT");
	bb_free(&b);

	bb_minimal(&b);
	bb_var(&b, "v", bb_fwd(&b, "f", false));
	reject_built(&b, "VAR of type 5, which has no size");
	bb_free(&b);

	bb_minimal(&b);
	bb_type(&b, BTF_RAW_FUNC_PROTO, false, 2, NULL, 0);
	bb_pair(&b, NULL, 0);
	bb_pair(&b, "x", T_INT);
	reject_built(&b, "parameter 0 is void");
	bb_free(&b);

	bb_minimal(&b);
	var = bb_var(&b, "v", T_ULONG);
	bb_type(&b, BTF_RAW_DATASEC, false, 1, ".data", 16);
	bb_secinfo(&b, var, 0, 4);
	reject_built(&b, "variable 0 of 8 bytes in a 4-byte slot");
	bb_free(&b);
}

/* Kind by kind, the fields the kernel pins down. */
static void record_rules(void **state)
{
	struct bb b;
	uint32_t var, proto, s;

	(void)state;
	/* @build appends to a minimal BTF (types 1-4); the result must be refused for @reason. */
#define REJECT(build, reason) \
	do { bb_minimal(&b); build; reject_built(&b, reason); bb_free(&b); } while (0)
#define ACCEPT(build) \
	do { bb_minimal(&b); build; accept_built(&b); bb_free(&b); } while (0)
	REJECT(bb_int(&b, "i", 4, 129, 0), "INT of 129 bits");
	REJECT(bb_int(&b, "i", 4, 33, 0), "INT of 33 bits in 4 bytes");
	REJECT(bb_int(&b, "i", 4, 32, 3), "INT encoding 0x3");
	REJECT((bb_type(&b, BTF_RAW_INT, false, 0, "i", 4), bb_u32(&b, 1u << 28 | 32)),
	       "reserved bits");
	REJECT((bb_type(&b, BTF_RAW_INT, true, 0, "i", 4), bb_u32(&b, 32)), "kind_flag");
	REJECT((bb_type(&b, BTF_RAW_INT, false, 1, "i", 4), bb_u32(&b, 32)), "INT with vlen 1");
	ACCEPT(bb_int(&b, "__int128", 16, 128, BTF_RAW_INT_SIGNED));
	ACCEPT(bb_int(&b, "_Bool", 1, 8, BTF_RAW_INT_BOOL));

	REJECT(bb_type(&b, BTF_RAW_PTR, false, 0, "p", T_INT), "PTR must not have a name");
	REJECT(bb_type(&b, BTF_RAW_CONST, false, 0, "c", T_INT), "CONST must not have a name");
	REJECT(bb_type(&b, BTF_RAW_PTR, true, 0, NULL, T_INT), "PTR with kind_flag set");
	REJECT(bb_type(&b, BTF_RAW_VOLATILE, false, 1, NULL, T_INT), "VOLATILE with vlen 1");
	REJECT(bb_type(&b, BTF_RAW_TYPEDEF, false, 0, NULL, T_INT), "TYPEDEF needs a name");
	REJECT(bb_type(&b, BTF_RAW_TYPE_TAG, false, 0, NULL, T_INT), "TYPE_TAG needs a name");
	ACCEPT(bb_type(&b, BTF_RAW_TYPE_TAG, true, 0, "attr", T_INT));
	ACCEPT(bb_mod(&b, BTF_RAW_TYPEDEF, "void_t", 0));
	ACCEPT(bb_mod(&b, BTF_RAW_CONST, NULL, 0));

	REJECT((bb_type(&b, BTF_RAW_ARRAY, false, 0, "a", 0), bb_u32(&b, T_INT),
		bb_u32(&b, T_IDX), bb_u32(&b, 1)), "ARRAY must not have a name");
	REJECT((bb_type(&b, BTF_RAW_ARRAY, false, 0, NULL, 4), bb_u32(&b, T_INT),
		bb_u32(&b, T_IDX), bb_u32(&b, 1)), "ARRAY with size 4");
	REJECT(bb_array(&b, 0, T_IDX, 1), "array of void");
	REJECT(bb_array(&b, T_INT, 0, 1), "array indexed by void");

	REJECT(bb_type(&b, BTF_RAW_ENUM, false, 0, "e", 3), "ENUM of 3 bytes");
	REJECT(bb_type(&b, BTF_RAW_ENUM64, false, 0, "e", 16), "ENUM64 of 16 bytes");
	REJECT((bb_type(&b, BTF_RAW_ENUM, false, 1, "e", 4), bb_pair(&b, NULL, 0)),
	       "enumerator 0 has no name");
	ACCEPT((bb_type(&b, BTF_RAW_ENUM, true, 1, "e", 1), bb_pair(&b, "E", (uint32_t)-1)));

	REJECT(bb_type(&b, BTF_RAW_FWD, false, 0, NULL, 0), "FWD needs a name");
	REJECT(bb_type(&b, BTF_RAW_FWD, false, 1, "f", 0), "FWD with vlen 1");
	REJECT(bb_type(&b, BTF_RAW_FWD, false, 0, "f", T_INT), "FWD with type 1");

	proto = 5;
	REJECT((bb_type(&b, BTF_RAW_FUNC_PROTO, false, 0, NULL, 0),
		bb_type(&b, BTF_RAW_FUNC, false, 2, "f", proto)), "FUNC linkage 2");
	REJECT((bb_type(&b, BTF_RAW_FUNC_PROTO, false, 0, NULL, 0),
		bb_type(&b, BTF_RAW_FUNC, false, 0, NULL, proto)), "FUNC needs a name");
	REJECT((bb_type(&b, BTF_RAW_FUNC_PROTO, false, 0, NULL, 0),
		bb_type(&b, BTF_RAW_FUNC, true, 0, "f", proto)), "FUNC with kind_flag");
	REJECT(bb_type(&b, BTF_RAW_FUNC_PROTO, false, 0, "p", 0),
	       "FUNC_PROTO must not have a name");
	ACCEPT((bb_type(&b, BTF_RAW_FUNC_PROTO, false, 2, NULL, T_INT), bb_pair(&b, "fmt", T_CHAR),
		bb_pair(&b, NULL, 0)));		/* int f(char fmt, ...) */
	REJECT((bb_type(&b, BTF_RAW_FUNC_PROTO, false, 1, NULL, 0), bb_pair(&b, "x", 0)),
	       "parameter 0 is void");	/* a named vararg */

	REJECT((bb_type(&b, BTF_RAW_VAR, false, 0, "v", T_INT), bb_u32(&b, 2)), "VAR linkage 2");
	REJECT((bb_type(&b, BTF_RAW_VAR, false, 0, "v", 0), bb_u32(&b, 0)), "VAR of type void");
	REJECT((bb_type(&b, BTF_RAW_VAR, false, 0, NULL, T_INT), bb_u32(&b, 0)),
	       "VAR needs a name");

	REJECT(bb_type(&b, BTF_RAW_DATASEC, false, 0, ".data", 0), "DATASEC of size 0");
	REJECT(bb_type(&b, BTF_RAW_DATASEC, false, 0, NULL, 4), "DATASEC needs a name");
	var = 5;
	REJECT((bb_var(&b, "v", T_INT), bb_type(&b, BTF_RAW_DATASEC, false, 2, ".d", 16),
		bb_secinfo(&b, var, 4, 4), bb_secinfo(&b, var, 6, 4)), "overlaps the one before");
	REJECT((bb_var(&b, "v", T_INT), bb_type(&b, BTF_RAW_DATASEC, false, 1, ".d", 16),
		bb_secinfo(&b, var, 14, 4)), "is outside the section");
	REJECT((bb_var(&b, "v", T_INT), bb_type(&b, BTF_RAW_DATASEC, false, 1, ".d", 16),
		bb_secinfo(&b, var, 0xfffffffc, 8)), "is outside the section");
	REJECT((bb_var(&b, "v", T_INT), bb_type(&b, BTF_RAW_DATASEC, false, 1, ".d", 16),
		bb_secinfo(&b, var, 0, 0)), "is outside the section");
	REJECT((bb_type(&b, BTF_RAW_DATASEC, false, 1, ".d", 16), bb_secinfo(&b, 0, 0, 4)),
	       "variable 0 is void");

	REJECT(bb_type(&b, BTF_RAW_FLOAT, false, 0, "f", 3), "FLOAT of 3 bytes");
	ACCEPT(bb_type(&b, BTF_RAW_FLOAT, false, 0, "long double", 16));

	s = 5;
	REJECT((bb_type(&b, BTF_RAW_DECL_TAG, false, 0, "t", T_INT), bb_u32(&b, (uint32_t)-1)),
	       "DECL_TAG on type 1, a INT");
	REJECT((bb_type(&b, BTF_RAW_DECL_TAG, false, 0, "t", T_INT), bb_u32(&b, (uint32_t)-2)),
	       "DECL_TAG component -2");
	REJECT((bb_type(&b, BTF_RAW_DECL_TAG, false, 0, NULL, T_INT), bb_u32(&b, 0)),
	       "DECL_TAG needs a name");
	REJECT((bb_struct(&b, BTF_RAW_STRUCT, "s", 4, false, 1), bb_member(&b, "a", T_INT, 0),
		bb_type(&b, BTF_RAW_DECL_TAG, false, 0, "t", s), bb_u32(&b, 1)),
	       "DECL_TAG on component 1 of 1");
	REJECT((bb_mod(&b, BTF_RAW_TYPEDEF, "t", T_INT),
		bb_type(&b, BTF_RAW_DECL_TAG, false, 0, "t", s), bb_u32(&b, 0)),
	       "DECL_TAG on component 0 of 0");
	ACCEPT((bb_mod(&b, BTF_RAW_TYPEDEF, "t", T_INT),
		bb_type(&b, BTF_RAW_DECL_TAG, true, 0, "t", s), bb_u32(&b, (uint32_t)-1)));
#undef REJECT
#undef ACCEPT
}

/* ------------------------------------------------------------------------
 * Mutations of the realistic blob
 */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static const char *const probe_names[] = {
	"task_struct", "list_head", "mm_struct", "slot", "pcpu_hot", "tasks", "pid", "comm",
	"rcu", "deep_x", "pgd", "current_task", "this_cpu_off", "a", "c", "x", "",
};

/* Every lookup, on every id and a few past the end: none may crash or hang. */
static void probe_all(const struct btf *btf)
{
	uint32_t nr = btf_nr_types(btf), id;
	uint64_t v;

	assert_true(btf_size(btf) > 0);
	for (size_t i = 0; i < N(probe_names); i++) {
		btf_find_struct(btf, probe_names[i], &id);
		btf_datasec_var(btf, ".data..percpu", probe_names[i], &v, &id);
		btf_datasec_var(btf, probe_names[i], "current_task", &v, &id);
	}
	for (uint32_t t = 0; t <= nr + 2; t++) {
		btf_type_size(btf, t, &v);
		btf_type_kind(btf, t);
		btf_type_name(btf, t);
		btf_is_ptr_to_struct(btf, t, "task_struct");
		for (size_t i = 0; i < 6; i++)
			btf_member_offset(btf, t, probe_names[5 + i], &v, &id);
	}
}

static void mutate(uint8_t *buf, size_t len, const struct bb *b, uint64_t *rng)
{
	static const uint32_t words[] = {
		0, 1, 2, 0xff, 0xffff, 0xffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	};
	uint64_t r = rng_next(rng);
	size_t off = (r >> 8) % len;

	if (r % 8 == 0)
		off = (r >> 8) % 24;		/* hit the header more often than 24/len */
	switch ((r >> 3) % 4) {
	case 0:
		buf[off] = (uint8_t)(r >> 40);
		break;
	case 1:
		buf[off] ^= (uint8_t)(1u << ((r >> 40) % 8));
		break;
	default:
		off &= ~(size_t)3;
		if (off + 4 > len)
			break;
		if ((r >> 40) % 3 == 0)
			put32(buf + off, b->nr + (uint32_t)((r >> 44) % 3));
		else if ((r >> 40) % 3 == 1)
			put32(buf + off, words[(r >> 44) % N(words)]);
		else
			put32(buf + off, get32(buf + off) + (uint32_t)((r >> 44) % 5) - 2);
		break;
	}
}

static void mutations(void **state)
{
	struct bb b;
	struct ids t;
	size_t len;
	uint8_t *blob, *buf;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	unsigned int accepted = 0, rejected = 0;

	(void)state;
	build_realistic(&b, &t);
	blob = bb_emit(&b, &len);
	buf = malloc(len);
	assert_non_null(buf);
	for (int iter = 0; iter < 6000; iter++) {
		uint64_t r = rng_next(&rng);
		size_t n = len;
		struct btf *btf = NULL;
		char why[160];
		int err;

		memcpy(buf, blob, len);
		for (unsigned int m = 0; m <= r % 3; m++)
			mutate(buf, len, &b, &rng);
		if ((r >> 8) % 5 == 0)
			n = (r >> 16) % len;	/* and cut short */
		err = parse_exact(buf, n, &btf, why, sizeof(why));
		if (err) {
			if (err != -EINVAL && err != -E2BIG)
				fail_msg("iteration %d: %d (%s)", iter, err, why);
			assert_null(btf);
			assert_true(why[0] != '\0');
			rejected++;
			continue;
		}
		accepted++;
		assert_true(btf_size(btf) <= n);
		probe_all(btf);
		btf_free(btf);
	}
	print_message("%u mutated blobs accepted, %u rejected\n", accepted, rejected);
	assert_true(accepted > 100);
	assert_true(rejected > 1000);
	free(buf);
	free(blob);
	bb_free(&b);
}

/* ------------------------------------------------------------------------
 * Real BTF, when the environment points at one
 */

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf;

	if (!f)
		fail_msg("cannot open %s", path);
	buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap);
		assert_non_null(buf);
	}
	fclose(f);
	*len = n;
	return buf;
}

static struct btf *parse_file(const char *path)
{
	size_t len;
	uint8_t *data = read_file(path, &len);
	struct btf *btf = must_parse(data, len);

	free(data);
	return btf;
}

/* Any vmlinux BTF: parses, and task_struct has the members every kernel has. */
static void real_btf(void **state)
{
	const char *path = getenv("VMIOP_BTF_FILE");
	struct btf *btf;
	uint32_t ts, type;
	uint64_t off;

	(void)state;
	if (!path || !*path)
		skip();
	btf = parse_file(path);
	assert_int_equal(btf_find_struct(btf, "task_struct", &ts), 0);
	assert_int_equal(btf_member_offset(btf, ts, "tasks", &off, NULL), 0);
	assert_int_equal(btf_member_offset(btf, ts, "pid", &off, NULL), 0);
	assert_int_equal(btf_member_offset(btf, ts, "comm", &off, &type), 0);
	assert_int_equal(size_of(btf, type), 16);
	assert_int_equal(btf_member_offset(btf, ts, "real_parent", &off, &type), 0);
	assert_true(btf_is_ptr_to_struct(btf, type, "task_struct"));
	btf_free(btf);
}

/* Debian linux-image-6.1.0-57-amd64, the numbers in shared/notes/guest-btf-kallsyms.md. */
static void debian61_btf(void **state)
{
	static const struct { const char *name; uint64_t off; } task[] = {
		{ "__state", 24 }, { "tasks", 2192 }, { "mm", 2272 }, { "active_mm", 2280 },
		{ "pid", 2416 }, { "tgid", 2420 }, { "real_parent", 2432 },
		{ "thread_node", 2608 }, { "comm", 2976 }, { "signal", 3072 },
		{ "rcu_users", 4968 },
	};
	static const struct { const char *name; uint64_t off; } percpu[] = {
		{ "current_task", 0x1fb80 }, { "this_cpu_off", 0x199e8 },
		{ "cpu_number", 0x199e0 }, { "runqueues", 0x31c40 },
	};
	const char *path = getenv("VMIOP_DEBIAN61_BTF");
	struct btf *btf;
	uint32_t ts, mm, type;
	uint64_t off;

	(void)state;
	if (!path || !*path)
		skip();
	btf = parse_file(path);
	assert_int_equal(btf_size(btf), 4360537);
	assert_int_equal(btf_nr_types(btf), 100810);
	assert_int_equal(btf_find_struct(btf, "task_struct", &ts), 0);
	assert_int_equal(ts, 193);
	assert_int_equal(size_of(btf, ts), 9792);
	for (size_t i = 0; i < N(task); i++)
		assert_int_equal(member_off(btf, ts, task[i].name), task[i].off);
	assert_int_equal(btf_find_struct(btf, "mm_struct", &mm), 0);
	assert_int_equal(member_off(btf, mm, "pgd"), 72);
	for (size_t i = 0; i < N(percpu); i++) {
		assert_int_equal(btf_datasec_var(btf, ".data..percpu", percpu[i].name, &off, &type),
				 0);
		assert_int_equal(off, percpu[i].off);
	}
	assert_int_equal(btf_datasec_var(btf, ".data..percpu", "current_task", &off, &type), 0);
	assert_true(btf_is_ptr_to_struct(btf, type, "task_struct"));
	btf_free(btf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(realistic_parses),
		cmocka_unit_test(find_struct_skips_decoys),
		cmocka_unit_test(task_struct_members),
		cmocka_unit_test(other_members),
		cmocka_unit_test(type_sizes),
		cmocka_unit_test(percpu_vars),
		cmocka_unit_test(pointer_checks),
		cmocka_unit_test(private_copy),
		cmocka_unit_test(why_buffer),
		cmocka_unit_test(truncated),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(header_padding),
		cmocka_unit_test(section_layout),
		cmocka_unit_test(too_big),
		cmocka_unit_test(too_many_types),
		cmocka_unit_test(unknown_kinds),
		cmocka_unit_test(reserved_info_bits),
		cmocka_unit_test(vlen_past_end),
		cmocka_unit_test(ids_past_the_end),
		cmocka_unit_test(names_past_the_end),
		cmocka_unit_test(type_loops),
		cmocka_unit_test(self_containing_structs),
		cmocka_unit_test(nelems_overflow),
		cmocka_unit_test(chain_depth),
		cmocka_unit_test(nesting_depth),
		cmocka_unit_test(anonymous_blowup),
		cmocka_unit_test(member_placement),
		cmocka_unit_test(bad_references),
		cmocka_unit_test(record_rules),
		cmocka_unit_test(mutations),
	};
	const struct CMUnitTest real_tests[] = {
		cmocka_unit_test(real_btf),
		cmocka_unit_test(debian61_btf),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);

	/* Only on request, so a plain run's summary has no skips in it. */
	if (getenv("VMIOP_BTF_FILE") || getenv("VMIOP_DEBIAN61_BTF"))
		failed += cmocka_run_group_tests_name("real BTF", real_tests, NULL, NULL);
	return failed;
}
