// SPDX-License-Identifier: MIT
/*
 * The kallsyms locator/decoder against tables encoded here the way scripts/kallsyms.c lays
 * them out (6.1, --base-relative --absolute-percpu, each label 8-aligned), hidden in noise
 * among decoys, then broken in each way a hostile guest could break them.
 *
 * Every image handed to kallsyms_find() sits in an allocation of exactly its length, so
 * ASan catches any read past either end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kallsyms.h"

#define T_TEXT		UINT64_C(0xffffffff91800000)	/* run A's _text */
#define T_VA		(T_TEXT + 0x1160000)		/* the image copy starts in rodata */
#define T_NAME		(KALLSYMS_NAME_MAX + 8)		/* room for a name one byte too long */
#define T_WHY		256
#define T_NTOK		256

/* Two 64-byte tokens, the longest accepted: one before "0" in the table, one after "9". */
#define T_LONG_A	"LongTokenA_abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define T_LONG_B	"LongTokenB_ZYXWVUTSRQPONMLKJIHGFEDCBA_zyxwvutsrqponmlkjihgfedcba"
#define T_SLOT_A	5u
#define T_SLOT_B	0xf0u

/* ---- deterministic randomness ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545f4914f6cdd1d);
}

/* ---- the symbols ---- */

struct tsym {
	char name[T_NAME];
	char type;
	uint64_t addr;
	bool abs;
};

struct tset {
	struct tsym *s;
	uint32_t n, cap;
	uint64_t rb;		/* kallsyms_relative_base: the lowest relative address */
};

static struct tsym *tset_add(struct tset *ts, char type, uint64_t addr, bool abs,
			     const char *fmt, ...)
{
	struct tsym *t;
	va_list ap;
	int n;

	if (ts->n == ts->cap) {
		ts->cap = ts->cap ? 2 * ts->cap : 256;
		ts->s = realloc(ts->s, ts->cap * sizeof(*ts->s));
		assert_non_null(ts->s);
	}
	t = &ts->s[ts->n++];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->addr = addr;
	t->abs = abs;
	va_start(ap, fmt);
	n = vsnprintf(t->name, sizeof(t->name), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(t->name));
	return t;
}

/* A name of exactly @len bytes: @prefix, then a pattern only single-char tokens encode. */
static void fill_name(struct tsym *t, const char *prefix, size_t len)
{
	size_t i = strlen(prefix);

	assert_true(len < sizeof(t->name));
	memcpy(t->name, prefix, i);
	for (; i < len; i++)
		t->name[i] = "qzxjkvw"[i % 7];
	t->name[len] = '\0';
}

static void tset_free(struct tset *ts)
{
	free(ts->s);
	memset(ts, 0, sizeof(*ts));
}

/*
 * Like a real kernel: per-CPU 'A' symbols at zero-based addresses first, then relative
 * symbols in address order from _text (some sharing an address), with duplicated static
 * names, a name that needs a 2-byte length, a 511-byte name and names using the 64-byte
 * tokens.
 */
static void tset_std(struct tset *ts, uint32_t nrel, uint64_t seed)
{
	static const char *const pre[] = {
		"sym_", "do_", "init_", "cleanup_", "__x64_sys_", "per_cpu_", "", "_",
	};
	static const char *const suf[] = {
		"", "", "", ".cold", ".isra.0", ".constprop.0", "_handler", "_work",
	};
	static const char types[] = "TtDdrRbBWV";
	uint64_t r = seed | 1, a;
	uint32_t k;

	memset(ts, 0, sizeof(*ts));
	ts->rb = T_TEXT;
	tset_add(ts, 'A', 0, true, "fixed_percpu_data");
	for (k = 1; k < 40; k++)
		tset_add(ts, 'A', k * 0x40, true, "pcpu_var_%u", k);
	tset_add(ts, 'A', 0x1fb80, true, "current_task");
	tset_add(ts, 'A', 0x1fc00, true, "dup_abs");
	tset_add(ts, 'T', T_TEXT, false, "_text");
	tset_add(ts, 'T', T_TEXT, false, "_stext");
	a = T_TEXT + 0x40;
	for (k = 0; k < nrel; k++) {
		uint64_t x = rnd(&r);

		a += x % 48;
		if (k == nrel / 5)
			tset_add(ts, 't', a, false, "cleanup");
		if (k == nrel / 2)
			tset_add(ts, 't', a, false, "dup_abs");
		if (k == nrel * 3 / 5)
			tset_add(ts, 't', a, false, "cleanup");
		if (k == nrel / 3)
			fill_name(tset_add(ts, 'T', a, false, "x"), "long_two_byte_length_", 300);
		if (k == nrel / 4)
			fill_name(tset_add(ts, 'T', a, false, "x"), "max_", KALLSYMS_NAME_MAX - 1);
		if (k == nrel / 7)
			tset_add(ts, 'd', a, false, "x_%s%s", T_LONG_A, T_LONG_B);
		tset_add(ts, types[(x >> 8) % 10], a, false, "%s%u%s", pre[(x >> 16) % 8], k,
			 suf[(x >> 24) % 8]);
	}
	tset_add(ts, 'B', a + 0x1000, false, "_end");
}

/* ---- the encoder ---- */

struct ttab {
	char tok[T_NTOK][KALLSYMS_MAX_TOKEN + 1];
	size_t len[T_NTOK];
	unsigned int multi[T_NTOK];	/* slots holding tokens of 2+ bytes */
	unsigned int nmulti;
};

static void ttab_set(struct ttab *tt, unsigned int slot, const char *s)
{
	size_t n = strlen(s);

	assert_true(n <= KALLSYMS_MAX_TOKEN);
	memcpy(tt->tok[slot], s, n + 1);
	tt->len[slot] = n;
	if (n >= 2)
		tt->multi[tt->nmulti++] = slot;
}

/*
 * Every byte used in a type or name is a token of itself at its own index, as
 * scripts/kallsyms.c leaves it; the other slots get multi-byte tokens, then a mix of unused
 * and empty ones (a real table ends up with empty slots when the compressor runs out of
 * profitable pairs).
 */
static void ttab_build(struct ttab *tt, const struct tset *ts)
{
	static const char *const multi[] = {
		"sym_", "do_", "init_", "cleanup", "_work", "__x64_sys_", "per_cpu_",
		".constprop.", ".isra.", ".cold", "T__", "t__", "tdo_", "Tsym_", "__", "er", "re",
		"in", "st", "_handler", "dsym_", "pcpu_var_", "x_Long",
	};
	bool used[T_NTOK] = { false };
	unsigned int c, j = 0, free_no = 0;
	uint32_t i;

	memset(tt, 0, sizeof(*tt));
	for (c = '0'; c <= '9'; c++)
		used[c] = true;
	for (i = 0; i < ts->n; i++) {
		const char *p;

		used[(unsigned char)ts->s[i].type] = true;
		for (p = ts->s[i].name; *p; p++)
			used[(unsigned char)*p] = true;
	}
	for (c = 0; c < T_NTOK; c++)
		if (used[c])
			ttab_set(tt, c, (char[]){ (char)c, 0 });
	assert_false(used[T_SLOT_A]);
	assert_false(used[T_SLOT_B]);
	ttab_set(tt, T_SLOT_A, T_LONG_A);
	ttab_set(tt, T_SLOT_B, T_LONG_B);
	for (c = 0; c < T_NTOK; c++) {
		char filler[8];

		if (used[c] || c == T_SLOT_A || c == T_SLOT_B)
			continue;
		if (j < sizeof(multi) / sizeof(multi[0])) {
			ttab_set(tt, c, multi[j++]);
			continue;
		}
		snprintf(filler, sizeof(filler), "~%02x", c);
		ttab_set(tt, c, free_no++ % 3 ? filler : "");
	}
}

/* Greedy longest-token encoding of type + name. */
static size_t tenc(const struct ttab *tt, char type, const char *name, uint8_t *out)
{
	char s[T_NAME + 1];
	size_t n = 0, p = 0, len;

	s[0] = type;
	strcpy(s + 1, name);
	len = strlen(s);
	while (p < len) {
		unsigned int best = (unsigned char)s[p], k;
		size_t blen = 1;

		assert_int_equal(tt->len[best], 1);
		for (k = 0; k < tt->nmulti; k++) {
			unsigned int t = tt->multi[k];

			if (tt->len[t] > blen && !strncmp(s + p, tt->tok[t], tt->len[t])) {
				best = t;
				blen = tt->len[t];
			}
		}
		out[n++] = (uint8_t)best;
		p += blen;
	}
	return n;
}

struct topt {
	unsigned int seq;	/* bytes per seqs_of_names entry: 0, 4 or 3 */
	size_t pre, post;	/* noise before and after the tables */
	uint64_t va;		/* of buf[0] */
	uint64_t seed;
	bool decoys;
};

struct timg {
	uint8_t *buf;
	size_t len;
	uint64_t va;
	uint32_t n;
	unsigned int seq;
	size_t offsets, rbase, num, names, names_end, markers, seqs, tokens, tokens_end, index, end;
	size_t *name_pos;		/* each symbol's length byte */
	size_t tok_off[T_NTOK];		/* each token, from tokens */
	size_t decoy_tokens;		/* a confirmable token table copy, or 0 */
};

static size_t t_up8(uint64_t va, size_t pos)
{
	return pos + ((8 - ((va + pos) & 7)) & 7);
}

static void w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
	w16(p, (uint16_t)v);
	w16(p + 2, (uint16_t)(v >> 16));
}

static void w64(uint8_t *p, uint64_t v)
{
	w32(p, (uint32_t)v);
	w32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t r32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Name order, as sort_symbols_by_name() in scripts/kallsyms.c: name, address, table order. */
static int seq_cmp(const void *a, const void *b)
{
	const struct tsym *x = *(const struct tsym *const *)a, *y = *(const struct tsym *const *)b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x < y ? -1 : 1;
}

static void put_digit_run(uint8_t *p)
{
	unsigned int d;

	p[0] = 0;
	for (d = 0; d < 10; d++) {
		p[1 + 2 * d] = (uint8_t)('0' + d);
		p[2 + 2 * d] = 0;
	}
}

static void timg_write_seqs(struct timg *ti, const struct tset *ts)
{
	const struct tsym **order = malloc(ts->n * sizeof(*order));
	uint8_t *p = ti->buf + ti->seqs;
	uint32_t i;

	assert_non_null(order);
	for (i = 0; i < ts->n; i++)
		order[i] = &ts->s[i];
	qsort(order, ts->n, sizeof(*order), seq_cmp);
	for (i = 0; i < ts->n; i++) {
		uint32_t seq = (uint32_t)(order[i] - ts->s);

		if (ti->seq == 4) {
			w32(p, seq);
		} else {
			p[0] = (uint8_t)(seq >> 16);
			p[1] = (uint8_t)(seq >> 8);
			p[2] = (uint8_t)seq;
		}
		p += ti->seq;
	}
	free(order);
}

static void timg_build(struct timg *ti, const struct tset *ts, const struct topt *o)
{
	struct ttab *tt = malloc(sizeof(*tt));
	uint8_t (*comp)[T_NAME + 2] = malloc(ts->n * sizeof(*comp));
	size_t *clen = malloc(ts->n * sizeof(*clen)), pos;
	uint32_t i, m = (ts->n + 255) / 256;
	uint64_t r = o->seed | 1;
	unsigned int k;

	assert_true(tt && comp && clen);
	memset(ti, 0, sizeof(*ti));
	ttab_build(tt, ts);
	ti->va = o->va;
	ti->n = ts->n;
	ti->seq = o->seq;
	ti->name_pos = malloc(ts->n * sizeof(*ti->name_pos));
	assert_non_null(ti->name_pos);

	ti->offsets = t_up8(o->va, o->pre);
	ti->rbase = t_up8(o->va, ti->offsets + 4 * (size_t)ts->n);
	ti->num = ti->rbase + 8;
	ti->names = ti->num + 8;
	pos = ti->names;
	for (i = 0; i < ts->n; i++) {
		clen[i] = tenc(tt, ts->s[i].type, ts->s[i].name, comp[i]);
		ti->name_pos[i] = pos;
		pos += (clen[i] > 0x7f ? 2 : 1) + clen[i];
	}
	ti->names_end = pos;
	ti->markers = t_up8(o->va, ti->names_end);
	ti->seqs = t_up8(o->va, ti->markers + 4 * (size_t)m);
	ti->tokens = t_up8(o->va, ti->seqs + (size_t)o->seq * ts->n);
	pos = ti->tokens;
	for (k = 0; k < T_NTOK; k++) {
		ti->tok_off[k] = pos - ti->tokens;
		pos += tt->len[k] + 1;
	}
	ti->tokens_end = pos;
	ti->index = t_up8(o->va, ti->tokens_end);
	ti->end = ti->index + 2 * T_NTOK;
	ti->len = ti->end + o->post;

	ti->buf = malloc(ti->len);
	assert_non_null(ti->buf);
	for (pos = 0; pos < ti->len; pos++)
		ti->buf[pos] = (uint8_t)(rnd(&r) >> 56);
	memset(ti->buf + ti->offsets, 0, ti->end - ti->offsets);

	for (i = 0; i < ts->n; i++) {
		const struct tsym *s = &ts->s[i];
		int64_t off;

		if (s->abs) {
			assert_true(s->addr <= INT32_MAX);
			off = (int64_t)s->addr;
		} else {
			assert_true(s->addr - ts->rb <= INT32_MAX);
			off = -(int64_t)(s->addr - ts->rb) - 1;
		}
		w32(ti->buf + ti->offsets + 4 * (size_t)i, (uint32_t)off);
	}
	w64(ti->buf + ti->rbase, ts->rb);
	w32(ti->buf + ti->num, ts->n);
	for (i = 0; i < ts->n; i++) {
		uint8_t *p = ti->buf + ti->name_pos[i];

		if (i % 256 == 0)
			w32(ti->buf + ti->markers + 4 * (size_t)(i / 256),
			    (uint32_t)(ti->name_pos[i] - ti->names));
		if (clen[i] > 0x7f) {
			*p++ = (uint8_t)(0x80 | (clen[i] & 0x7f));
			*p++ = (uint8_t)(clen[i] >> 7);
		} else {
			*p++ = (uint8_t)clen[i];
		}
		memcpy(p, comp[i], clen[i]);
	}
	if (o->seq)
		timg_write_seqs(ti, ts);
	for (k = 0; k < T_NTOK; k++) {
		memcpy(ti->buf + ti->tokens + ti->tok_off[k], tt->tok[k], tt->len[k] + 1);
		w16(ti->buf + ti->index + 2 * k, (uint16_t)ti->tok_off[k]);
	}

	if (o->decoys) {
		size_t copy = ti->end - ti->tokens;

		/* A bare digit run; a whole token table with its index but nothing before it. */
		assert_true(o->pre >= 200 + 2 * copy + 16 && o->post >= 64);
		put_digit_run(ti->buf + 100);
		ti->decoy_tokens = t_up8(o->va, o->pre / 2);
		assert_true(ti->decoy_tokens + copy <= ti->offsets);
		memcpy(ti->buf + ti->decoy_tokens, ti->buf + ti->tokens, copy);
		/* After the tables: a run with a garbage index, and one cut by the image's end. */
		put_digit_run(ti->buf + ti->end + 16);
		memcpy(ti->buf + ti->len - 8, "\0" "0\0" "1\0" "2\0", 7);
	}
	free(clen);
	free(comp);
	free(tt);
}

static void timg_free(struct timg *ti)
{
	free(ti->buf);
	free(ti->name_pos);
	memset(ti, 0, sizeof(*ti));
}

static struct topt topt_std(unsigned int seq)
{
	/* Somewhere in the first few KiB, differently for each variant. */
	struct topt o = {
		.seq = seq, .pre = 6000 + (seq * 2654435761u) % 4096, .post = 1000, .va = T_VA,
		.seed = 0x1234 + seq, .decoys = true,
	};

	return o;
}

/* ---- running the decoder ---- */

/* kallsyms_find() on a private exact-size copy of @len bytes from @img. */
static int find_copy(const uint8_t *img, size_t len, uint64_t va, struct kallsyms **ks,
		     char *why)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, img, len);
	rc = kallsyms_find(copy, len, va, ks, why, T_WHY);
	free(copy);
	return rc;
}

/* kallsyms_find() fails with @err (0: either -ENOENT or -EINVAL), saying @needle if given. */
static void expect_fail_at(const uint8_t *img, size_t len, uint64_t va, int err,
			   const char *needle)
{
	struct kallsyms *ks = (struct kallsyms *)&ks;
	char why[T_WHY];
	int rc = find_copy(img, len, va, &ks, why);

	if ((err ? rc != err : rc != -ENOENT && rc != -EINVAL) || (needle && !strstr(why, needle)))
		fail_msg("rc %d (want %d), why \"%s\" (want \"%s\")", rc, err, why,
			 needle ? needle : "");
	assert_null(ks);
	assert_true(strlen(why) > 0);
}

static void expect_fail(const struct timg *ti, int err, const char *needle)
{
	expect_fail_at(ti->buf, ti->len, ti->va, err, needle);
}

/* The lowest-address symbol of that name, first in table order: what lookup must return. */
static const struct tsym *first_named(const struct tset *ts, const char *name)
{
	const struct tsym *best = NULL;
	uint32_t i;

	for (i = 0; i < ts->n; i++)
		if (!strcmp(ts->s[i].name, name) && (!best || ts->s[i].addr < best->addr))
			best = &ts->s[i];
	return best;
}

static void check_all(const struct kallsyms *ks, const struct tset *ts, const struct timg *ti)
{
	const struct kallsyms_layout *l = kallsyms_layout(ks);
	uint32_t i;

	assert_int_equal(kallsyms_count(ks), ts->n);
	assert_true(kallsyms_relative_base(ks) == ts->rb);
	assert_true(kallsyms_relative_base_va(ks) == ti->va + ti->rbase);
	assert_true(kallsyms_token_table_va(ks) == ti->va + ti->tokens);
	assert_non_null(l);
	assert_true(l->offsets == ti->va + ti->offsets);
	assert_true(l->relative_base == ti->va + ti->rbase);
	assert_true(l->num_syms == ti->va + ti->num);
	assert_true(l->names == ti->va + ti->names);
	assert_true(l->markers == ti->va + ti->markers);
	assert_true(l->token_table == ti->va + ti->tokens);
	assert_true(l->token_index == ti->va + ti->index);
	if (ti->n < 8 && ti->seq && l->seq_size != ti->seq) {
		/* A 3-byte table of < 8 entries can pass for a u32 one (see kallsyms.h). */
		assert_int_equal(l->seq_size, 4);
		assert_int_equal(ti->seq, 3);
	} else {
		assert_int_equal(l->seq_size, ti->seq);
		assert_true(l->seqs_of_names == (ti->seq ? ti->va + ti->seqs : 0));
	}
	for (i = 0; i < ts->n; i++) {
		const struct tsym *want = &ts->s[i], *first;
		const char *name = NULL;
		uint64_t addr = 0;
		char type = 0;

		assert_int_equal(kallsyms_symbol(ks, i, &name, &addr, &type), 0);
		assert_string_equal(name, want->name);
		assert_true(addr == want->addr);
		assert_int_equal(type, want->type);
		/* Lookups are O(log N); checking a sample keeps the big tables fast. */
		if (ts->n > 4096 && i % 997)
			continue;
		first = first_named(ts, want->name);
		assert_int_equal(kallsyms_lookup(ks, want->name, &addr, &type), 0);
		assert_true(addr == first->addr);
		assert_int_equal(type, first->type);
	}
}

static void decode_ok(const struct tset *ts, const struct topt *o)
{
	struct kallsyms *ks = NULL;
	char why[T_WHY] = "x";
	struct timg ti;
	int rc;

	timg_build(&ti, ts, o);
	rc = find_copy(ti.buf, ti.len, ti.va, &ks, why);
	if (rc)
		fail_msg("kallsyms_find: %d: %s", rc, why);
	assert_string_equal(why, "");
	check_all(ks, ts, &ti);
	kallsyms_free(ks);
	timg_free(&ti);
}

/* ---- decoding ---- */

static void decode_seqs(unsigned int seq)
{
	struct topt o = topt_std(seq);
	struct tset ts;

	tset_std(&ts, 1500, 42 + seq);
	decode_ok(&ts, &o);
	tset_free(&ts);
}

static void decode_no_seqs(void **state)
{
	(void)state;
	decode_seqs(0);
}

static void decode_seqs_u32(void **state)
{
	(void)state;
	decode_seqs(4);
}

static void decode_seqs_3byte(void **state)
{
	(void)state;
	decode_seqs(3);
}

/* The copy starts 4 to 6 bytes off an 8-byte boundary: alignment is the guest's, not ours. */
static void decode_misaligned_copy(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k;
	struct tset ts;

	(void)state;
	tset_std(&ts, 700, 7);
	for (k = 0; k < 3; k++) {
		struct topt o = topt_std(seqs[k]);

		o.va = T_VA + 4 + k;
		decode_ok(&ts, &o);
	}
	tset_free(&ts);
}

/* Nothing around the tables: the image is exactly offsets .. token_index. */
static void decode_tables_only(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k;
	struct tset ts;

	(void)state;
	tset_std(&ts, 300, 9);
	for (k = 0; k < 3; k++) {
		struct topt o = topt_std(seqs[k]);

		o.pre = 0;
		o.post = 0;
		o.decoys = false;
		decode_ok(&ts, &o);
	}
	tset_free(&ts);
}

/* N around the 256-symbol marker boundaries, odd N (offsets padded), N = 1. */
static void decode_marker_boundaries(void **state)
{
	static const uint32_t counts[] = { 1, 2, 255, 256, 257, 511, 512, 513, 769 };
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int c, k;

	(void)state;
	for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		for (k = 0; k < 3; k++) {
			struct topt o = topt_std(seqs[k]);
			struct tset ts = { .rb = T_TEXT };
			uint32_t i;

			o.pre = 64 * (c + 1) + k;
			o.decoys = false;
			for (i = 0; i < counts[c]; i++)
				tset_add(&ts, i % 3 ? 't' : 'T', T_TEXT + 16 * (uint64_t)i, false,
					 "f%u_%u", c, i);
			decode_ok(&ts, &o);
			tset_free(&ts);
		}
	}
}

/* All absolute: no relative symbol to order. */
static void decode_only_absolute(void **state)
{
	struct topt o = topt_std(3);
	struct tset ts = { .rb = T_TEXT };
	uint32_t i;

	(void)state;
	for (i = 0; i < 300; i++)
		tset_add(&ts, 'A', 8 * (uint64_t)i, true, "pcpu_%u", i);
	decode_ok(&ts, &o);
	tset_free(&ts);
}

/* Debian-sized: about the 94,266 symbols of 6.1.192, in a 3-byte seqs_of_names layout. */
static void decode_debian_sized(void **state)
{
	struct topt o = topt_std(3);
	struct tset ts;

	(void)state;
	tset_std(&ts, 94266 - 50, 61);
	assert_true(ts.s[ts.n - 1].addr - T_TEXT < (UINT64_C(1) << 31));
	decode_ok(&ts, &o);
	tset_free(&ts);
}

static void lookup_and_accessors(void **state)
{
	struct topt o = topt_std(3);
	struct kallsyms *ks = NULL;
	const char *name = NULL;
	struct timg ti;
	struct tset ts;
	uint64_t addr = 0, a2;
	char type = 0, why[T_WHY];
	uint32_t i, dup = 0;

	(void)state;
	tset_std(&ts, 1000, 5);
	timg_build(&ti, &ts, &o);
	assert_int_equal(find_copy(ti.buf, ti.len, ti.va, &ks, why), 0);

	/* A static function twice: the lower address wins. */
	for (i = 0; i < ts.n; i++)
		dup += !strcmp(ts.s[i].name, "cleanup");
	assert_int_equal(dup, 2);
	assert_int_equal(kallsyms_lookup(ks, "cleanup", &addr, &type), 0);
	assert_true(addr == first_named(&ts, "cleanup")->addr);
	assert_int_equal(type, 't');
	/* A per-CPU 'A' and a text symbol of the same name: the absolute one is lower. */
	assert_int_equal(kallsyms_lookup(ks, "dup_abs", &addr, &type), 0);
	assert_true(addr == 0x1fc00);
	assert_int_equal(type, 'A');
	assert_int_equal(kallsyms_lookup(ks, "current_task", &addr, &type), 0);
	assert_true(addr == 0x1fb80);
	assert_int_equal(type, 'A');
	assert_int_equal(kallsyms_lookup(ks, "_text", &addr, &type), 0);
	assert_true(addr == T_TEXT && addr == kallsyms_relative_base(ks));
	assert_int_equal(kallsyms_lookup(ks, "_end", NULL, NULL), 0);
	assert_int_equal(kallsyms_lookup(ks, "x_" T_LONG_A T_LONG_B, &addr, &type), 0);
	assert_int_equal(type, 'd');

	/* Misses: absent, a prefix, an extension, empty. */
	assert_int_equal(kallsyms_lookup(ks, "no_such_symbol", &addr, &type), -ENOENT);
	assert_int_equal(kallsyms_lookup(ks, "cleanu", &addr, &type), -ENOENT);
	assert_int_equal(kallsyms_lookup(ks, "cleanupX", &addr, &type), -ENOENT);
	assert_int_equal(kallsyms_lookup(ks, "", &addr, &type), -ENOENT);
	assert_int_equal(kallsyms_lookup(ks, "~~~~", &addr, &type), -ENOENT);
	assert_int_equal(kallsyms_lookup(ks, NULL, &addr, &type), -EINVAL);
	assert_int_equal(kallsyms_lookup(NULL, "_text", &addr, &type), -EINVAL);

	/* The longest names. */
	for (i = 0; i < ts.n; i++) {
		size_t n = strlen(ts.s[i].name);

		if (n == KALLSYMS_NAME_MAX - 1 || n == 300) {
			assert_int_equal(kallsyms_symbol(ks, i, &name, &a2, &type), 0);
			assert_int_equal(strlen(name), n);
			assert_int_equal(kallsyms_lookup(ks, name, &addr, NULL), 0);
			assert_true(addr == a2);
		}
	}
	/* 300 single-char tokens need the 2-byte length. */
	for (i = 0; i < ts.n && strlen(ts.s[i].name) != 300; i++)
		;
	assert_true(i < ts.n && (ti.buf[ti.name_pos[i]] & 0x80));

	assert_int_equal(kallsyms_symbol(ks, ts.n - 1, NULL, NULL, NULL), 0);
	assert_int_equal(kallsyms_symbol(ks, ts.n, &name, &addr, &type), -EINVAL);
	assert_int_equal(kallsyms_symbol(ks, UINT32_MAX, &name, &addr, &type), -EINVAL);
	assert_int_equal(kallsyms_symbol(NULL, 0, &name, &addr, &type), -EINVAL);
	assert_int_equal(kallsyms_count(NULL), 0);
	assert_true(kallsyms_relative_base(NULL) == 0);
	assert_true(kallsyms_token_table_va(NULL) == 0);
	assert_true(kallsyms_relative_base_va(NULL) == 0);
	assert_null(kallsyms_layout(NULL));
	kallsyms_free(NULL);
	kallsyms_free(ks);

	/* @why is optional, and truncated to what the caller gives. */
	assert_int_equal(kallsyms_find(ti.buf, ti.len, ti.va, &ks, NULL, 0), 0);
	kallsyms_free(ks);
	memset(why, 'x', sizeof(why));
	assert_int_equal(kallsyms_find(ti.buf, ti.offsets + 4, ti.va, &ks, why, 8), -ENOENT);
	assert_int_equal(strlen(why), 7);
	assert_int_equal(kallsyms_find(ti.buf, ti.offsets + 4, ti.va, &ks, NULL, 0), -ENOENT);
	assert_null(ks);
	timg_free(&ti);
	tset_free(&ts);
}

/* Decoys before and after the tables, including a whole confirmable token table. */
static void decoys_lose(void **state)
{
	struct topt o = topt_std(4);
	struct kallsyms *ks = NULL;
	char why[T_WHY];
	struct timg ti;
	struct tset ts;

	(void)state;
	tset_std(&ts, 400, 11);
	timg_build(&ti, &ts, &o);
	assert_true(ti.decoy_tokens && ti.decoy_tokens < ti.offsets);
	assert_int_equal(find_copy(ti.buf, ti.len, ti.va, &ks, why), 0);
	check_all(ks, &ts, &ti);
	kallsyms_free(ks);

	/* Only the decoys left: the confirmed-but-empty token table is the best explanation. */
	expect_fail_at(ti.buf, ti.offsets, ti.va, -ENOENT, "no num_syms");
	/* A second complete copy of the tables later in the image: the first one found wins. */
	{
		size_t span = ti.end - ti.offsets, at = t_up8(ti.va, ti.len + 64);
		uint8_t *big = calloc(1, at + span);

		assert_non_null(big);
		memcpy(big, ti.buf, ti.len);
		memcpy(big + at, ti.buf + ti.offsets, span);
		assert_int_equal(find_copy(big, at + span, ti.va, &ks, why), 0);
		assert_true(kallsyms_token_table_va(ks) == ti.va + ti.tokens);
		kallsyms_free(ks);
		/* Break the first: the second is found. */
		big[ti.index] ^= 1;
		assert_int_equal(find_copy(big, at + span, ti.va, &ks, why), 0);
		assert_true(kallsyms_token_table_va(ks) == ti.va + at + (ti.tokens - ti.offsets));
		kallsyms_free(ks);
		free(big);
	}
	timg_free(&ti);
	tset_free(&ts);
}

/* ---- failures ---- */

struct tcase {
	struct tset ts;
	struct timg ti;
};

/*
 * Standard tables in noise. @decoys adds a confirmable token table copy, whose "no num_syms"
 * then outranks a failure in the real token table: tests of those leave the decoys out.
 */
static void tcase_build(struct tcase *tc, unsigned int seq, uint32_t nrel, bool decoys)
{
	struct topt o = topt_std(seq);

	o.decoys = decoys;
	tset_std(&tc->ts, nrel, 77 + seq);
	timg_build(&tc->ti, &tc->ts, &o);
}

static void tcase_std(struct tcase *tc, unsigned int seq, uint32_t nrel)
{
	tcase_build(tc, seq, nrel, true);
}

static void tcase_free(struct tcase *tc)
{
	timg_free(&tc->ti);
	tset_free(&tc->ts);
}

static void fail_no_token_table(void **state)
{
	struct kallsyms *ks = (struct kallsyms *)&ks;
	uint8_t *noise = malloc(1 << 16);
	char why[T_WHY];
	uint64_t r = 3;
	size_t i;

	(void)state;
	assert_non_null(noise);
	for (i = 0; i < 1 << 16; i++)
		noise[i] = (uint8_t)(rnd(&r) >> 56);
	expect_fail_at(noise, 1 << 16, T_VA, -ENOENT, "no \"0\\0\"..\"9\\0\" token run");
	memset(noise, 0, 1 << 16);
	expect_fail_at(noise, 1 << 16, T_VA, -ENOENT, "token run");
	memset(noise, '0', 1 << 16);
	expect_fail_at(noise, 1 << 16, T_VA, -ENOENT, "token run");
	/* A lone run with no token table around it. */
	put_digit_run(noise + 1000);
	expect_fail_at(noise, 1 << 16, T_VA, -ENOENT, "token 47");
	free(noise);

	assert_int_equal(kallsyms_find(NULL, 0, T_VA, &ks, why, sizeof(why)), -ENOENT);
	assert_null(ks);
	assert_non_null(strstr(why, "token run"));
	/* Bad arguments. */
	assert_int_equal(kallsyms_find(NULL, 10, T_VA, &ks, why, sizeof(why)), -EINVAL);
	assert_null(ks);
	assert_int_equal(kallsyms_find((const uint8_t *)why, 8, UINT64_MAX - 3, &ks, why,
				       sizeof(why)), -EINVAL);
	assert_int_equal(kallsyms_find((const uint8_t *)"", 1, T_VA, NULL, why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "out"));
	/* An image that ends exactly at 2^64 is fine. */
	memset(why, 0, sizeof(why));
	assert_int_equal(kallsyms_find((const uint8_t *)why, 8, UINT64_MAX - 7, &ks, why,
				       sizeof(why)), -ENOENT);
}

static void fail_token_index(void **state)
{
	struct tcase tc;
	struct timg *ti = &tc.ti;
	uint8_t save[2];

	(void)state;
	tcase_build(&tc, 3, 500, false);
	memcpy(save, ti->buf + ti->index + 400, 2);
	/* An index past the table. */
	w16(ti->buf + ti->index + 400, 0xfff0);
	expect_fail(ti, -ENOENT, "token_index[200] = 65520");
	/* Off by one, inside the table. */
	w16(ti->buf + ti->index + 400, (uint16_t)(ti->tok_off[200] + 1));
	expect_fail(ti, -ENOENT, "token_index[200]");
	memcpy(ti->buf + ti->index + 400, save, 2);

	w16(ti->buf + ti->index, 1);
	expect_fail(ti, -ENOENT, "token_index[0]");
	w16(ti->buf + ti->index, 0);
	/* token_index[1] gives token 0 a NUL inside, or a length past 64. */
	w16(ti->buf + ti->index + 2, (uint16_t)(ti->tok_off[1] + 2));
	expect_fail(ti, -ENOENT, "token_index[1]");
	w16(ti->buf + ti->index + 2, 0);
	expect_fail(ti, -ENOENT, "token_index[1]");
	w16(ti->buf + ti->index + 2, 0xffff);
	expect_fail(ti, -ENOENT, "token_index[1]");
	tcase_free(&tc);

	/* With a decoy token table in the image, that one's dead end is the reason given. */
	tcase_std(&tc, 3, 500);
	w16(ti->buf + ti->index + 400, 0xfff0);
	expect_fail(ti, -ENOENT, "no num_syms");
	tcase_free(&tc);
}

static void fail_token_unterminated(void **state)
{
	struct tcase tc;
	struct timg *ti = &tc.ti;
	size_t a, b;

	(void)state;
	tcase_build(&tc, 0, 300, false);
	/* Joining a 64-byte token to its neighbour makes one too long to be a token. */
	a = ti->tokens + ti->tok_off[T_SLOT_A] + strlen(T_LONG_A);
	b = ti->tokens + ti->tok_off[T_SLOT_B] + strlen(T_LONG_B);
	assert_int_equal(ti->buf[a], 0);
	assert_int_equal(ti->buf[b], 0);
	ti->buf[a] = 'x';
	expect_fail(ti, -ENOENT, "not NUL-delimited within 64 bytes");
	ti->buf[a] = 0;
	ti->buf[b] = 'x';
	expect_fail(ti, -ENOENT, "not NUL-terminated within 64 bytes");
	ti->buf[b] = 0;
	/* The table running into the end of the image. */
	expect_fail_at(ti->buf, ti->tokens + ti->tok_off[200] + 1, ti->va, -ENOENT,
		       "not NUL-terminated");
	tcase_free(&tc);
}

/*
 * A symbol past the first marker block (before it, a broken walk means no layout was found)
 * and not on a marker, so that the walk, not the markers, trips.
 */
static size_t mid_symbol(const struct timg *ti)
{
	uint32_t i = 256 + (ti->n - 256) / 2;

	assert_true(ti->n > 300);

	while (i % 256 == 0 || (ti->buf[ti->name_pos[i]] & 0x80))
		i++;
	return ti->name_pos[i];
}

static void fail_length_bytes(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct tcase tc;
		struct timg *ti = &tc.ti;
		size_t p, last;
		uint8_t save[2];

		tcase_std(&tc, seqs[k], 800);
		p = mid_symbol(ti);
		memcpy(save, ti->buf + p, 2);
		ti->buf[p] = 0;
		expect_fail(ti, -EINVAL, "has length 0");
		ti->buf[p] = 0xff;
		expect_fail(ti, -EINVAL, "symbol");
		ti->buf[p + 1] = 0xff;
		expect_fail(ti, -EINVAL, "needs more than 2 ULEB128 bytes");
		ti->buf[p] = 0x7f;	/* a 1-byte length, too long for its neighbours */
		expect_fail(ti, -EINVAL, "symbol");
		memcpy(ti->buf + p, save, 2);

		/* Within the first marker block the layout itself is in doubt. */
		p = ti->name_pos[3];
		memcpy(save, ti->buf + p, 2);
		ti->buf[p] = 0;
		expect_fail(ti, -ENOENT, "symbol 3 has length 0");
		memcpy(ti->buf + p, save, 2);

		/* The last name claiming 0x3fff bytes runs past the names. */
		last = ti->name_pos[ti->n - 1];
		memcpy(save, ti->buf + last, 2);
		ti->buf[last] = 0xff;
		ti->buf[last + 1] = 0x7f;
		expect_fail(ti, -EINVAL, "runs past the end of kallsyms_names");
		memcpy(ti->buf + last, save, 2);
		tcase_free(&tc);
	}
}

static void fail_num_syms(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct tcase tc;
		struct timg *ti = &tc.ti;
		uint8_t *num;

		tcase_build(&tc, seqs[k], 700, false);
		num = ti->buf + ti->num;
		/*
		 * Per-CPU offsets can pass for a small num_syms whose walk soon fails; either way
		 * no layout is found.
		 */
		w32(num, 0xffffffff);
		expect_fail(ti, -ENOENT, "num_syms");
		w32(num, KALLSYMS_MAX_SYMS + 1);
		expect_fail(ti, -ENOENT, "num_syms");
		w32(num, 0x80000000);
		expect_fail(ti, -ENOENT, "num_syms");
		w32(num, 0);
		expect_fail(ti, -ENOENT, "num_syms");
		/* Near misses either find no layout or fail a check: never decode. */
		w32(num, ti->n + 1);
		expect_fail(ti, 0, NULL);
		w32(num, ti->n - 1);
		expect_fail(ti, 0, NULL);
		w32(num, ti->n + 256);
		expect_fail(ti, 0, NULL);
		tcase_free(&tc);
	}
}

/*
 * num_syms one short, with the last name inside the 8 bytes before the markers so that the
 * shorter walk still ends in the right place: zero padding and seqs_of_names catch it.
 */
static void fail_num_syms_minus_one(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k, tried;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct topt o = topt_std(seqs[k]);
		struct tset ts;
		struct timg ti;
		uint32_t i, nsym;

		o.decoys = false;
		for (nsym = 300, tried = 0;; nsym++, tried++) {
			assert_true(tried < 64);
			memset(&ts, 0, sizeof(ts));
			ts.rb = T_TEXT;
			for (i = 0; i < nsym; i++)
				tset_add(&ts, 'T', T_TEXT + i, false, "a%u", i);
			tset_add(&ts, 'B', T_TEXT + nsym, false, "z");
			timg_build(&ti, &ts, &o);
			if (ti.markers - ti.name_pos[ti.n - 1] < 8)
				break;
			timg_free(&ti);
			tset_free(&ts);
		}
		decode_ok(&ts, &o);
		w32(ti.buf + ti.num, ti.n - 1);
		expect_fail(&ti, 0, NULL);
		timg_free(&ti);
		tset_free(&ts);
	}
}

static void fail_unsorted(void **state)
{
	struct tcase tc;
	struct timg *ti = &tc.ti;
	uint8_t *a, *b, tmp[4];
	uint32_t i;

	(void)state;
	tcase_std(&tc, 3, 600);
	for (i = tc.ts.n / 2; tc.ts.s[i].addr == tc.ts.s[i + 1].addr; i++)
		;
	a = ti->buf + ti->offsets + 4 * (size_t)i;
	b = a + 4;
	memcpy(tmp, a, 4);
	memcpy(a, b, 4);
	memcpy(b, tmp, 4);
	expect_fail(ti, -EINVAL, "offsets not sorted");
	memcpy(b, a, 4);
	memcpy(a, tmp, 4);
	/* A relative symbol moved below _text's block. */
	w32(ti->buf + ti->offsets + 4 * (size_t)(tc.ts.n - 1), 0xfffffffe);
	expect_fail(ti, -EINVAL, "offsets not sorted");
	tcase_free(&tc);
}

static void fail_markers(void **state)
{
	struct tcase tc;
	struct timg *ti = &tc.ti;
	uint8_t *mk;
	uint32_t save;

	(void)state;
	tcase_std(&tc, 3, 1200);
	assert_true(ti->n > 3 * 256);
	mk = ti->buf + ti->markers;
	save = r32(mk + 4);
	w32(mk + 4, save + 1);
	expect_fail(ti, -EINVAL, "kallsyms_markers[1] = ");
	w32(mk + 4, save);
	save = r32(mk + 12);
	w32(mk + 12, save - 2);
	expect_fail(ti, -EINVAL, "kallsyms_markers[3] = ");
	w32(mk + 12, save);
	/* markers[0] must be 0: otherwise there is no layout at all. */
	w32(mk, 4);
	expect_fail(ti, -ENOENT, "no num_syms");
	tcase_free(&tc);
}

static void fail_seqs(void **state)
{
	static const unsigned int seqs[] = { 4, 3 };
	unsigned int k;

	(void)state;
	for (k = 0; k < 2; k++) {
		struct tcase tc;
		struct timg *ti = &tc.ti;
		uint8_t *p;

		tcase_std(&tc, seqs[k], 300);
		p = ti->buf + ti->seqs + 7 * (size_t)seqs[k];
		memcpy(p, ti->buf + ti->seqs + 8 * (size_t)seqs[k], seqs[k]);
		expect_fail(ti, -EINVAL, "is a repeat");
		memset(p, 0xee, seqs[k]);
		expect_fail(ti, -EINVAL, "out of range");
		tcase_free(&tc);
	}
}

static void fail_padding(void **state)
{
	struct tcase tc;
	struct timg *ti = &tc.ti;
	uint32_t nrel;

	(void)state;
	for (nrel = 300;; nrel++) {
		tcase_std(&tc, 0, nrel);
		if (tc.ti.markers != tc.ti.names_end)
			break;
		tcase_free(&tc);
	}
	ti->buf[ti->markers - 1] = 0x5a;
	expect_fail(ti, -EINVAL, "padding byte 0x5a");
	tcase_free(&tc);
}

static void fail_names(void **state)
{
	struct topt o = topt_std(3);
	struct tset ts;
	struct timg ti;

	(void)state;
	/* 512 name bytes: one past KSYM_NAME_LEN - 1. */
	tset_std(&ts, 300, 1);
	fill_name(&ts.s[ts.n / 2], "too_long_", KALLSYMS_NAME_MAX);
	timg_build(&ti, &ts, &o);
	expect_fail(&ti, -EINVAL, "expands to more than 511 bytes");
	timg_free(&ti);
	tset_free(&ts);

	/* A type with no name. */
	tset_std(&ts, 300, 1);
	ts.s[ts.n / 2].name[0] = '\0';
	timg_build(&ti, &ts, &o);
	expect_fail(&ti, -EINVAL, "has no name");
	timg_free(&ti);
	tset_free(&ts);

	/* A control byte inside a token ("sym_" is in slot 0). */
	tset_std(&ts, 300, 1);
	timg_build(&ti, &ts, &o);
	assert_memory_equal(ti.buf + ti.tokens, "sym_", 5);
	ti.buf[ti.tokens + 1] = 0x1b;
	expect_fail(&ti, -EINVAL, "non-printable byte 0x1b");
	ti.buf[ti.tokens + 1] = ' ';
	expect_fail(&ti, -EINVAL, "non-printable byte 0x20");
	ti.buf[ti.tokens + 1] = 0xc3;
	expect_fail(&ti, -EINVAL, "non-printable byte 0xc3");
	timg_free(&ti);
	tset_free(&ts);
}

static void fail_address_wraps(void **state)
{
	struct topt o = topt_std(3);
	struct tset ts;
	struct timg ti;
	uint32_t i;

	(void)state;
	tset_std(&ts, 300, 1);
	/* Keep the offsets, move relative_base to the top of the address space. */
	ts.rb = UINT64_MAX - 0xff;
	for (i = 0; i < ts.n; i++)
		if (!ts.s[i].abs)
			ts.s[i].addr = ts.s[i].addr - T_TEXT + ts.rb;
	timg_build(&ti, &ts, &o);
	expect_fail(&ti, -EINVAL, "wraps past 2^64");
	timg_free(&ti);
	tset_free(&ts);
}

/* Cut the image at, and one byte into, each table: only the untouched extent decodes. */
static void fail_truncated(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct tcase tc;
		struct timg *ti = &tc.ti;
		struct kallsyms *ks;
		char why[T_WHY];
		size_t cuts[10], c;
		unsigned int j;

		tcase_std(&tc, seqs[k], 600);
		cuts[0] = ti->offsets;
		cuts[1] = ti->rbase;
		cuts[2] = ti->num;
		cuts[3] = ti->names;
		cuts[4] = ti->markers;
		cuts[5] = ti->seqs;
		cuts[6] = ti->tokens;
		cuts[7] = ti->tokens_end;
		cuts[8] = ti->index;
		cuts[9] = ti->end;
		for (j = 0; j < 10; j++) {
			for (c = cuts[j] - 1; c <= cuts[j] + 1; c++) {
				/* The tail cut: everything up to @c. */
				int rc = find_copy(ti->buf, c, ti->va, &ks, why);

				if (c >= ti->end) {
					assert_int_equal(rc, 0);
					check_all(ks, &tc.ts, ti);
					kallsyms_free(ks);
				} else {
					assert_int_equal(rc, -ENOENT);
					assert_null(ks);
				}
				/* The head cut: everything from @c. */
				rc = find_copy(ti->buf + c, ti->len - c, ti->va + c, &ks, why);
				if (c <= ti->offsets) {
					assert_int_equal(rc, 0);
					assert_int_equal(kallsyms_count(ks), ti->n);
					kallsyms_free(ks);
				} else if (rc != -ENOENT) {
					fail_msg("head cut at %zu: %d %s", c, rc, why);
				}
				assert_true(rc || c <= ti->offsets);
			}
		}
		tcase_free(&tc);
	}
}

/* The budget bounds the scan; the default one is ample for a real-sized table. */
static void fail_budget(void **state)
{
	struct tcase tc;
	struct timg *ti = &tc.ti;
	struct kallsyms *ks = (struct kallsyms *)&ks;
	char why[T_WHY];
	uint8_t *many;
	size_t span, i, copies = 300, len;
	bool reached = false;
	uint64_t b;

	(void)state;
	tcase_std(&tc, 3, 800);
	assert_int_equal(kallsyms_find_budget(ti->buf, ti->len, ti->va, 100, &ks, why, sizeof(why)),
			 -ENOENT);
	assert_null(ks);
	assert_non_null(strstr(why, "work budget of 100 exhausted"));
	assert_int_equal(kallsyms_find_budget(ti->buf, ti->len, ti->va, 1000000, &ks, why,
					      sizeof(why)), 0);
	kallsyms_free(ks);

	/*
	 * A found-but-broken layout outranks running out of budget afterwards: below some
	 * budget the scan stops short of it, from there on it is the answer.
	 */
	ti->buf[mid_symbol(ti)] = 0;
	for (b = 1000; b < 4000000; b += b / 4) {
		int rc = kallsyms_find_budget(ti->buf, ti->len, ti->va, b, &ks, why, sizeof(why));

		if (rc == -EINVAL) {
			assert_non_null(strstr(why, "has length 0"));
			reached = true;
		} else {
			assert_false(reached);
			assert_int_equal(rc, -ENOENT);
			assert_non_null(strstr(why, "budget"));
		}
		assert_null(ks);
	}
	assert_true(reached);

	/* Many confirmable token tables, each scanned back through everything before it. */
	span = t_up8(0, ti->end - ti->tokens);
	len = copies * span;
	many = calloc(1, len);
	assert_non_null(many);
	for (i = 0; i < copies; i++)
		memcpy(many + i * span, ti->buf + ti->tokens, ti->end - ti->tokens);
	expect_fail_at(many, len, 0, -ENOENT, "no num_syms");
	assert_int_equal(kallsyms_find_budget(many, len, 0, 50000, &ks, why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "budget"));
	free(many);
	tcase_free(&tc);
}

/* ---- fuzzing ---- */

/* Everything a successful decode promises, whatever the input was. */
static void check_sane(const struct kallsyms *ks)
{
	uint32_t i, n = kallsyms_count(ks);
	uint64_t prev = 0;
	bool have_prev = false;

	assert_true(n >= 1 && n <= KALLSYMS_MAX_SYMS);
	for (i = 0; i < n; i++) {
		const char *name, *p;
		uint64_t addr, first;
		char type;

		assert_int_equal(kallsyms_symbol(ks, i, &name, &addr, &type), 0);
		assert_true(type > 0x20 && type < 0x7f);
		assert_true(strlen(name) >= 1 && strlen(name) < KALLSYMS_NAME_MAX);
		for (p = name; *p; p++)
			assert_true(*p > 0x20 && *p < 0x7f);
		assert_int_equal(kallsyms_lookup(ks, name, &first, NULL), 0);
		assert_true(first <= addr);
		if (addr >= kallsyms_relative_base(ks) && addr > INT32_MAX) {
			assert_true(!have_prev || addr >= prev);
			prev = addr;
			have_prev = true;
		}
	}
}

static void fuzz_one(const struct timg *ti, uint64_t *r, unsigned int *found)
{
	static const uint32_t vals[] = {
		0, 1, 0x7f, 0x80, 0xff, 0x3fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff,
		KALLSYMS_MAX_SYMS, KALLSYMS_MAX_SYMS + 1,
	};
	size_t tables = ti->end - ti->offsets, len = ti->len, head = 0, at;
	struct kallsyms *ks = (struct kallsyms *)&ks;
	uint8_t *img = malloc(ti->len);
	unsigned int mode = (unsigned int)(rnd(r) % 9), k, nmut;
	char why[T_WHY];
	int rc;

	assert_non_null(img);
	memcpy(img, ti->buf, ti->len);
	nmut = 1 + (unsigned int)(rnd(r) % 4);
	for (k = 0; k < nmut; k++) {
		at = ti->offsets + (size_t)(rnd(r) % tables);
		switch (mode) {
		case 0:		/* random bytes */
			img[at] = (uint8_t)rnd(r);
			break;
		case 1:		/* bit flips */
			img[at] ^= (uint8_t)(1u << (rnd(r) % 8));
			break;
		case 2:		/* interesting words, aligned as the tables are */
			at &= ~(size_t)3;
			if (at + 4 <= len)
				w32(img + at, rnd(r) % 2 ? vals[rnd(r) % 12] :
					      ti->n + (uint32_t)(rnd(r) % 5) - 2);
			break;
		case 3:		/* a range of one value */
		{
			size_t n = (size_t)(rnd(r) % 64);

			memset(img + at, rnd(r) % 2 ? 0 : 0xff, n < len - at ? n : len - at);
			break;
		}
		case 4:		/* swap two offsets */
		{
			size_t a = ti->offsets + 4 * (size_t)(rnd(r) % ti->n);
			size_t b = ti->offsets + 4 * (size_t)(rnd(r) % ti->n);
			uint8_t t[4];

			memcpy(t, img + a, 4);
			memcpy(img + a, img + b, 4);
			memcpy(img + b, t, 4);
			break;
		}
		case 5:		/* a length byte, a token_index entry or a marker nudged */
		{
			uint32_t m = (ti->n + 255) / 256;

			at = rnd(r) % 3 == 0 ? ti->name_pos[rnd(r) % ti->n] :
			     rnd(r) % 2 ? ti->index + 2 * (size_t)(rnd(r) % T_NTOK) :
					  ti->markers + 4 * (size_t)(rnd(r) % m);
			img[at] = (uint8_t)(img[at] + (rnd(r) % 2 ? 1 : -1));
			break;
		}
		default:
			break;
		}
	}
	if (mode == 6)
		len = (size_t)(rnd(r) % (ti->len + 1));
	if (mode == 7)
		head = (size_t)(rnd(r) % (ti->end + 1));
	if (mode == 8) {	/* a table moved by a few bytes */
		at = ti->offsets + (size_t)(rnd(r) % tables);
		memmove(img + at + 1, img + at, len - at - 1);
	}
	rc = find_copy(img + head, len - head, ti->va + head, &ks, why);
	if (rc == 0) {
		check_sane(ks);
		kallsyms_free(ks);
		++*found;
	} else {
		if (rc != -ENOENT && rc != -EINVAL)
			fail_msg("mode %u: rc %d", mode, rc);
		assert_null(ks);
		assert_true(strlen(why) > 0);
	}
	free(img);
}

static void fuzz_mutations(void **state)
{
	static const unsigned int seqs[] = { 0, 4, 3 };
	unsigned int k, i, found = 0;
	uint64_t r = 0x9e3779b97f4a7c15u;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct topt o = topt_std(seqs[k]);
		struct tset ts;
		struct timg ti;

		o.pre = 1200;
		o.post = 100;
		o.decoys = false;
		tset_std(&ts, 600, 100 + k);
		timg_build(&ti, &ts, &o);
		for (i = 0; i < 1500; i++)
			fuzz_one(&ti, &r, &found);
		timg_free(&ti);
		tset_free(&ts);
	}
	/* Some mutations are harmless (address bytes, truncated noise): both outcomes happen. */
	assert_true(found > 100 && found < 4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_no_seqs),
		cmocka_unit_test(decode_seqs_u32),
		cmocka_unit_test(decode_seqs_3byte),
		cmocka_unit_test(decode_misaligned_copy),
		cmocka_unit_test(decode_tables_only),
		cmocka_unit_test(decode_marker_boundaries),
		cmocka_unit_test(decode_only_absolute),
		cmocka_unit_test(decode_debian_sized),
		cmocka_unit_test(lookup_and_accessors),
		cmocka_unit_test(decoys_lose),
		cmocka_unit_test(fail_no_token_table),
		cmocka_unit_test(fail_token_index),
		cmocka_unit_test(fail_token_unterminated),
		cmocka_unit_test(fail_length_bytes),
		cmocka_unit_test(fail_num_syms),
		cmocka_unit_test(fail_num_syms_minus_one),
		cmocka_unit_test(fail_unsorted),
		cmocka_unit_test(fail_markers),
		cmocka_unit_test(fail_seqs),
		cmocka_unit_test(fail_padding),
		cmocka_unit_test(fail_names),
		cmocka_unit_test(fail_address_wraps),
		cmocka_unit_test(fail_truncated),
		cmocka_unit_test(fail_budget),
		cmocka_unit_test(fuzz_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
