// SPDX-License-Identifier: MIT
/*
 * kallsyms tables found by scanning hostile guest bytes; kallsyms.h has the layout, the
 * scan and the checks. Every position below is an index into the image, checked against
 * its length before it is read; alignment is always that of the guest-virtual address,
 * because the copy in @img need not be 8-aligned the way the guest's rodata is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kallsyms.h"

#define KS_LEN_MAX	0x3fffu		/* the longest length two ULEB128 bytes carry */
#define KS_NTOKENS	256u
#define KS_DIGIT0	0x30u		/* token index, and byte, of "0" */
#define KS_RUN_LEN	20u		/* "0\0" .. "9\0" */
#define KS_WHY_MAX	256
#define KS_PROGRESS_MASK	((UINT64_C(1) << 40) - 1)

/*
 * How far a candidate got before it failed. When nothing decodes, the candidate that got
 * furthest (then made the most progress in its stage) is the most likely to be the real
 * tables, so its reason is the one reported. A layout counts as found, and its failures as
 * -EINVAL, once its first marker block of names (256, or all if fewer) walks cleanly: a
 * num_syms lookalike inside other tables passes the O(1) placement checks now and then, but
 * not that. Earlier walk failures rank within KS_ST_LAYOUT by the names walked.
 */
enum ks_stage {
	KS_ST_NO_RUN = 1,
	KS_ST_TOKENS,
	KS_ST_LAYOUT,
	KS_ST_BUDGET,
	KS_ST_WALK,
	KS_ST_MARKERS,
	KS_ST_SEQS,
	KS_ST_NAMES,
	KS_ST_ADDRS,
};

/* Outcome of trying one candidate; negative values are errnos. */
enum { KS_MISS = 0, KS_FOUND = 1, KS_STOP = 2 };

struct ks_scan {
	const uint8_t *img;
	size_t len;
	uint64_t va;
	uint64_t budget;
	bool exhausted;
	/* The best failure so far. */
	uint64_t score;
	int err;
	char why[KS_WHY_MAX];
};

/* A confirmed kallsyms_token_table: where it is and each token's offset and length. */
struct ks_tokens {
	size_t table;
	size_t index;
	uint16_t off[KS_NTOKENS];
	uint8_t len[KS_NTOKENS];
};

/* One candidate layout, positions in the image. */
struct ks_cand {
	size_t offsets, num, names, names_end, markers, seqs;
	uint32_t n, m;
	unsigned int seq_size;
	/* The first marker that disagreed with the names walk. */
	bool marker_bad;
	uint32_t marker_idx, marker_val;
	size_t marker_want;
};

struct ks_sym {
	uint64_t addr;
	const char *name;
	uint32_t name_off;
	char type;
};

struct kallsyms {
	uint32_t count;
	uint64_t relative_base;
	struct kallsyms_layout layout;
	struct ks_sym *syms;			/* table order */
	const struct ks_sym **by_name;		/* name, then address, then table order */
	char *blob;				/* the names, each NUL-terminated */
};

#ifdef __GNUC__
#define KS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define KS_PRINTF(f, a)
#endif

static uint64_t ks_score(enum ks_stage stage, uint64_t progress)
{
	return ((uint64_t)stage << 40) | (progress & KS_PROGRESS_MASK);
}

static void ks_vfail(struct ks_scan *sc, enum ks_stage stage, uint64_t progress, int err,
		     const char *prefix, const char *fmt, va_list ap)
{
	uint64_t score = ks_score(stage, progress);
	int n;

	/* Equal scores keep the first: the candidate nearest the token table. */
	if (sc->err && score <= sc->score)
		return;
	sc->score = score;
	sc->err = err;
	n = snprintf(sc->why, sizeof(sc->why), "%s", prefix);
	if (n < 0 || (size_t)n >= sizeof(sc->why))
		return;
	vsnprintf(sc->why + n, sizeof(sc->why) - (size_t)n, fmt, ap);
}

KS_PRINTF(5, 6)
static void ks_fail(struct ks_scan *sc, enum ks_stage stage, uint64_t progress, int err,
		    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ks_vfail(sc, stage, progress, err, "", fmt, ap);
	va_end(ap);
}

/* A failure of a found layout: says which num_syms and seqs_of_names size it was. */
KS_PRINTF(5, 6)
static void ks_cand_fail(struct ks_scan *sc, const struct ks_cand *c, enum ks_stage stage,
			 uint64_t progress, const char *fmt, ...)
{
	static const char *const seqs[] = { "none", "?", "?", "3-byte", "u32" };
	char prefix[96];
	va_list ap;

	if (sc->err && ks_score(stage, progress) <= sc->score)
		return;
	snprintf(prefix, sizeof(prefix), "num_syms %" PRIu32 " at %#" PRIx64 ", seqs_of_names %s: ",
		 c->n, sc->va + c->num, seqs[c->seq_size]);
	va_start(ap, fmt);
	ks_vfail(sc, stage, progress, stage >= KS_ST_WALK ? -EINVAL : -ENOENT, prefix, fmt, ap);
	va_end(ap);
}

/* The names walk failed at symbol @i: only past the first marker block is the layout found. */
static enum ks_stage ks_walk_stage(const struct ks_cand *c, uint32_t i)
{
	return i < (c->n < 256 ? c->n : 256) ? KS_ST_LAYOUT : KS_ST_WALK;
}

/* Work accounting, so that a crafted image cannot make the scan quadratic in its size. */
static bool ks_charge(struct ks_scan *sc, uint64_t n)
{
	if (sc->exhausted)
		return false;
	if (n > sc->budget) {
		sc->budget = 0;
		sc->exhausted = true;
		return false;
	}
	sc->budget -= n;
	return true;
}

/* Little-endian reads; the caller has checked that the bytes lie inside the image. */
static uint16_t ks_rd16(const struct ks_scan *sc, size_t pos)
{
	const uint8_t *p = sc->img + pos;

	return (uint16_t)(p[0] | (unsigned int)p[1] << 8);
}

static uint32_t ks_rd32(const struct ks_scan *sc, size_t pos)
{
	const uint8_t *p = sc->img + pos;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t ks_rd64(const struct ks_scan *sc, size_t pos)
{
	return ks_rd32(sc, pos) | (uint64_t)ks_rd32(sc, pos + 4) << 32;
}

static unsigned int ks_misalign(const struct ks_scan *sc, size_t pos)
{
	return (unsigned int)((sc->va + pos) & 7);
}

static size_t ks_up8(const struct ks_scan *sc, size_t pos)
{
	return pos + ((8 - ks_misalign(sc, pos)) & 7);
}

static bool ks_down8(const struct ks_scan *sc, size_t pos, size_t *out)
{
	unsigned int mis = ks_misalign(sc, pos);

	if (pos < mis)
		return false;
	*out = pos - mis;
	return true;
}

/* ---- kallsyms_token_table ---- */

/* Next "\0" "0\0" .. "9\0" at or after @from: tokens 47 (its NUL) to 57. */
static size_t ks_next_run(const struct ks_scan *sc, size_t from)
{
	static const uint8_t run[KS_RUN_LEN] = {
		'0', 0, '1', 0, '2', 0, '3', 0, '4', 0, '5', 0, '6', 0, '7', 0, '8', 0, '9', 0,
	};

	while (from < sc->len) {
		const uint8_t *p = memchr(sc->img + from, '0', sc->len - from);
		size_t at;

		if (!p)
			break;
		at = (size_t)(p - sc->img);
		if (at >= 1 && sc->len - at >= KS_RUN_LEN && !sc->img[at - 1] &&
		    !memcmp(p, run, KS_RUN_LEN))
			return at;
		from = at + 1;
	}
	return sc->len;
}

/* The NUL before the token that ends with the NUL at @nul, if that token is short enough. */
static bool ks_token_back(const struct ks_scan *sc, size_t nul, size_t *prev)
{
	size_t d;

	for (d = 1; d <= KALLSYMS_MAX_TOKEN + 1 && d <= nul; d++) {
		if (!sc->img[nul - d]) {
			*prev = nul - d;
			return true;
		}
	}
	return false;
}

/* The NUL that ends the token starting at @pos, if the token is short enough. */
static bool ks_token_fwd(const struct ks_scan *sc, size_t pos, size_t *nul)
{
	size_t room = sc->len - pos;
	const uint8_t *z;

	if (room > KALLSYMS_MAX_TOKEN + 1)
		room = KALLSYMS_MAX_TOKEN + 1;
	z = memchr(sc->img + pos, 0, room);
	if (!z)
		return false;
	*nul = (size_t)(z - sc->img);
	return true;
}

/*
 * Token 0's start is unknown from the bytes alone (whatever precedes the table need not end
 * in a NUL), so tokens 1..255 are delimited by their NULs and token_index[1] supplies token
 * 0's length; then every other token_index entry must agree exactly.
 */
static bool ks_tokens_index(struct ks_scan *sc, size_t run, const size_t *start, size_t end,
			    struct ks_tokens *tok)
{
	size_t idx = ks_up8(sc, end), t0;
	unsigned int k;
	uint16_t i1;

	if (idx > sc->len || sc->len - idx < 2 * KS_NTOKENS) {
		ks_fail(sc, KS_ST_TOKENS, KS_NTOKENS, -ENOENT,
			"token table around %#" PRIx64 " ends at %#" PRIx64
			" with no room for kallsyms_token_index",
			sc->va + run, sc->va + end);
		return false;
	}
	if (ks_rd16(sc, idx)) {
		ks_fail(sc, KS_ST_TOKENS, KS_NTOKENS, -ENOENT,
			"token table around %#" PRIx64 ": token_index[0] at %#" PRIx64
			" is %u, not 0",
			sc->va + run, sc->va + idx, ks_rd16(sc, idx));
		return false;
	}
	i1 = ks_rd16(sc, idx + 2);
	if (!i1 || i1 > KALLSYMS_MAX_TOKEN + 1 || i1 > start[1] ||
	    memchr(sc->img + start[1] - i1, 0, i1 - 1u)) {
		ks_fail(sc, KS_ST_TOKENS, KS_NTOKENS + 1, -ENOENT,
			"token table around %#" PRIx64
			": token_index[1] = %u does not delimit a token 0",
			sc->va + run, i1);
		return false;
	}
	t0 = start[1] - i1;
	if (ks_misalign(sc, t0)) {
		ks_fail(sc, KS_ST_TOKENS, KS_NTOKENS + 2, -ENOENT,
			"token table at %#" PRIx64 " is not 8-aligned", sc->va + t0);
		return false;
	}
	for (k = 1; k < KS_NTOKENS; k++) {
		size_t want = start[k] - t0;
		uint16_t got = ks_rd16(sc, idx + 2 * k);

		if (got != want) {
			ks_fail(sc, KS_ST_TOKENS, KS_NTOKENS + 2 + k, -ENOENT,
				"token table at %#" PRIx64
				": token_index[%u] = %u but token %u is at table+%zu",
				sc->va + t0, k, got, k, want);
			return false;
		}
		tok->off[k] = (uint16_t)want;
		tok->len[k] = (uint8_t)((k + 1 < KS_NTOKENS ? start[k + 1] : end) - start[k] - 1);
	}
	tok->off[0] = 0;
	tok->len[0] = (uint8_t)(i1 - 1);
	tok->table = t0;
	tok->index = idx;
	return true;
}

/* Delimit the 256 tokens around the digit run at @run, then confirm them by token_index. */
static bool ks_tokens_find(struct ks_scan *sc, size_t run, struct ks_tokens *tok)
{
	size_t start[KS_NTOKENS], nul = run - 1, pos = run;
	unsigned int k;

	for (k = KS_DIGIT0 - 1; k >= 1; k--) {
		size_t prev;

		if (!ks_token_back(sc, nul, &prev)) {
			ks_fail(sc, KS_ST_TOKENS, KS_DIGIT0 - k, -ENOENT,
				"token run at %#" PRIx64
				": token %u is not NUL-delimited within %u bytes",
				sc->va + run, k, KALLSYMS_MAX_TOKEN);
			ks_charge(sc, run - nul);
			return false;
		}
		start[k] = prev + 1;
		nul = prev;
	}
	for (k = KS_DIGIT0; k < KS_NTOKENS; k++) {
		size_t z;

		start[k] = pos;
		if (!ks_token_fwd(sc, pos, &z)) {
			ks_fail(sc, KS_ST_TOKENS, k, -ENOENT,
				"token run at %#" PRIx64 ": token %u at %#" PRIx64
				" is not NUL-terminated within %u bytes",
				sc->va + run, k, sc->va + pos, KALLSYMS_MAX_TOKEN);
			ks_charge(sc, pos - nul);
			return false;
		}
		pos = z + 1;
	}
	if (!ks_charge(sc, pos - nul + 2 * KS_NTOKENS))
		return false;
	return ks_tokens_index(sc, run, start, pos, tok);
}

/* ---- candidate layouts ---- */

/*
 * Markers start at 0 and step by the size of 256 names, 2 .. 2 + 0x3fff bytes each, leaving
 * at least 2 bytes for each name after the last one. Cheap next to the names walk, and it
 * turns away most wrong num_syms candidates before it.
 */
static bool ks_markers_plausible(struct ks_scan *sc, const struct ks_cand *c, size_t span)
{
	uint64_t prev = 0, mk = 0;
	uint32_t i;

	if (ks_rd32(sc, c->markers))
		return false;
	for (i = 1; i < c->m; i++) {
		if (!ks_charge(sc, 1))
			return false;
		mk = ks_rd32(sc, c->markers + 4 * (size_t)i);
		if (mk < prev + 2 * 256 || mk - prev > 256 * (uint64_t)(KS_LEN_MAX + 2))
			return false;
		prev = mk;
	}
	return mk + 2 * (uint64_t)(c->n - 256 * (c->m - 1)) <= span;
}

/*
 * Place every table for num_syms at @num holding @n, working back from the token table:
 * each label is 8-aligned, so each table start is the one aligned position from which the
 * table's size reaches the next label.
 */
static bool ks_plan(struct ks_scan *sc, const struct ks_tokens *tok, size_t num, uint32_t n,
		    unsigned int seq_size, struct ks_cand *c)
{
	size_t names = num + 8, span;
	uint32_t m = (n + 255) / 256;

	memset(c, 0, sizeof(*c));
	c->num = num;
	c->names = names;
	c->n = n;
	c->m = m;
	c->seq_size = seq_size;
	if (num < 8 || num - 8 < 4 * (size_t)n ||
	    !ks_down8(sc, num - 8 - 4 * (size_t)n, &c->offsets))
		return false;
	if (tok->table < (size_t)seq_size * n ||
	    !ks_down8(sc, tok->table - (size_t)seq_size * n, &c->seqs))
		return false;
	if (c->seqs < 4 * (size_t)m || !ks_down8(sc, c->seqs - 4 * (size_t)m, &c->markers))
		return false;
	if (c->markers < names)
		return false;
	span = c->markers - names;
	/* Each name takes 2 .. 2 + 0x3fff bytes; up to 7 bytes of padding follow them. */
	if (span < 2 * (size_t)n || span > (size_t)n * (KS_LEN_MAX + 2) + 7)
		return false;
	return ks_markers_plausible(sc, c, span);
}

/*
 * Walk the names stream by lengths alone. It must stay before the markers and end in the
 * padding just before them; markers are compared on the way but reported afterwards, so a
 * stream that is wrong overall is not mistaken for a markers problem.
 */
static bool ks_walk(struct ks_scan *sc, struct ks_cand *c)
{
	size_t pos = c->names, lim = c->markers;
	uint32_t i;

	for (i = 0; i < c->n; i++) {
		unsigned int hdr = 1, len;

		if (!(i & 255)) {
			uint32_t mk = ks_rd32(sc, c->markers + 4 * (size_t)(i >> 8));

			if (!ks_charge(sc, 256))
				return false;
			if (!c->marker_bad && mk != pos - c->names) {
				c->marker_bad = true;
				c->marker_idx = i >> 8;
				c->marker_val = mk;
				c->marker_want = pos - c->names;
			}
		}
		if (pos >= lim) {
			ks_cand_fail(sc, c, ks_walk_stage(c, i), i + 1,
				     "symbol %" PRIu32 " starts at %#" PRIx64
				     ", past the end of kallsyms_names",
				     i, sc->va + pos);
			return false;
		}
		len = sc->img[pos];
		if (len & 0x80) {
			if (lim - pos < 2) {
				ks_cand_fail(sc, c, ks_walk_stage(c, i), i + 1,
					     "symbol %" PRIu32 ": 2-byte length at %#" PRIx64
					     " runs into kallsyms_markers",
					     i, sc->va + pos);
				return false;
			}
			if (sc->img[pos + 1] & 0x80) {
				ks_cand_fail(sc, c, ks_walk_stage(c, i), i + 1,
					     "symbol %" PRIu32 ": length at %#" PRIx64
					     " (%#x %#x) needs more than 2 ULEB128 bytes",
					     i, sc->va + pos, len, sc->img[pos + 1]);
				return false;
			}
			len = (len & 0x7f) | (unsigned int)sc->img[pos + 1] << 7;
			hdr = 2;
		}
		if (!len) {
			ks_cand_fail(sc, c, ks_walk_stage(c, i), i + 1,
				     "symbol %" PRIu32 " has length 0 at %#" PRIx64,
				     i, sc->va + pos);
			return false;
		}
		if (lim - pos - hdr < len) {
			ks_cand_fail(sc, c, ks_walk_stage(c, i), i + 1,
				     "symbol %" PRIu32 " (length %u at %#" PRIx64
				     ") runs past the end of kallsyms_names",
				     i, len, sc->va + pos);
			return false;
		}
		pos += hdr + len;
	}
	c->names_end = pos;
	if (ks_up8(sc, pos) != lim) {
		ks_cand_fail(sc, c, KS_ST_WALK, c->n,
			     "the names end at %#" PRIx64
			     ", %zu bytes before kallsyms_markers at %#" PRIx64,
			     sc->va + pos, lim - pos, sc->va + lim);
		return false;
	}
	/*
	 * The assembler pads with zeros. Checking it keeps num_syms - 1 from passing when the
	 * last name is short enough to pass for padding (there is no seqs_of_names before 6.1.42
	 * to catch it).
	 */
	for (; pos < lim; pos++) {
		if (sc->img[pos]) {
			ks_cand_fail(sc, c, KS_ST_WALK, c->n,
				     "padding byte %#x at %#" PRIx64
				     " before kallsyms_markers is not zero",
				     sc->img[pos], sc->va + pos);
			return false;
		}
	}
	if (c->marker_bad) {
		ks_cand_fail(sc, c, KS_ST_MARKERS, c->marker_idx,
			     "kallsyms_markers[%" PRIu32 "] = %" PRIu32
			     " but symbol %" PRIu32 " is at names+%zu",
			     c->marker_idx, c->marker_val, c->marker_idx * 256, c->marker_want);
		return false;
	}
	return true;
}

/* kallsyms_seqs_of_names, when present, must be a permutation of the symbol numbers. */
static int ks_check_seqs(struct ks_scan *sc, const struct ks_cand *c)
{
	const uint8_t *p = sc->img + c->seqs;
	uint8_t *seen;
	uint32_t i;

	if (!c->seq_size)
		return KS_FOUND;
	if (!ks_charge(sc, c->n))
		return KS_STOP;
	seen = calloc((c->n + 7) / 8, 1);
	if (!seen)
		return -ENOMEM;
	for (i = 0; i < c->n; i++, p += c->seq_size) {
		/* u32 entries are native (little-endian); 3-byte ones are stored big-endian. */
		uint32_t v = c->seq_size == 4 ? ks_rd32(sc, (size_t)(p - sc->img)) :
			     (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];

		if (v >= c->n || (seen[v / 8] & (1u << (v % 8)))) {
			ks_cand_fail(sc, c, KS_ST_SEQS, i,
				     "kallsyms_seqs_of_names[%" PRIu32 "] = %" PRIu32 " is %s",
				     i, v, v >= c->n ? "out of range" : "a repeat");
			free(seen);
			return KS_MISS;
		}
		seen[v / 8] |= (uint8_t)(1u << (v % 8));
	}
	free(seen);
	return KS_FOUND;
}

/* ---- decoding ---- */

/* Length and header size of the name at @pos, which ks_walk() has already checked. */
static unsigned int ks_len_at(const struct ks_scan *sc, size_t pos, unsigned int *hdr)
{
	unsigned int len = sc->img[pos];

	*hdr = 1;
	if (len & 0x80) {
		len = (len & 0x7f) | (unsigned int)sc->img[pos + 1] << 7;
		*hdr = 2;
	}
	return len;
}

static bool ks_printable(const char *s, size_t n, size_t *bad)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
			*bad = i;
			return false;
		}
	}
	return true;
}

/* Append @n bytes and a NUL to the names blob, growing it geometrically up to the cap. */
static int ks_blob_add(struct kallsyms *ks, size_t *used, size_t *cap, const char *s, size_t n)
{
	if (*cap - *used < n + 1) {
		size_t ncap = *cap;
		char *nb;

		while (ncap - *used < n + 1)
			ncap *= 2;
		if (ncap > KALLSYMS_MAX_NAME_BYTES)
			ncap = KALLSYMS_MAX_NAME_BYTES;
		nb = realloc(ks->blob, ncap);
		if (!nb)
			return -ENOMEM;
		ks->blob = nb;
		*cap = ncap;
	}
	memcpy(ks->blob + *used, s, n);
	ks->blob[*used + n] = '\0';
	*used += n + 1;
	return 0;
}

/*
 * Expand the @len token bytes at @pos into @buf, type character first, stopping before the
 * name part would exceed KALLSYMS_NAME_MAX - 1 bytes.
 */
static bool ks_expand(const struct ks_scan *sc, const struct ks_tokens *tok, size_t pos,
		      unsigned int len, char *buf, size_t *n)
{
	const uint8_t *data = sc->img + pos;
	unsigned int j;

	*n = 0;
	for (j = 0; j < len; j++) {
		unsigned int t = data[j];

		if (tok->len[t] > KALLSYMS_NAME_MAX - *n)
			return false;
		memcpy(buf + *n, sc->img + tok->table + tok->off[t], tok->len[t]);
		*n += tok->len[t];
	}
	return true;
}

static int ks_decode_names(struct ks_scan *sc, const struct ks_tokens *tok,
			   const struct ks_cand *c, struct kallsyms *ks)
{
	char buf[KALLSYMS_NAME_MAX + 1];
	size_t pos = c->names, used = 0, cap, bad;
	uint32_t i;
	int rc;

	/* Real names expand about 2x; start there and let the blob grow if not. */
	cap = 2 * (c->names_end - c->names) + c->n;
	if (cap > KALLSYMS_MAX_NAME_BYTES)
		cap = KALLSYMS_MAX_NAME_BYTES;
	ks->blob = malloc(cap);
	if (!ks->blob)
		return -ENOMEM;
	for (i = 0; i < c->n; i++) {
		unsigned int hdr, len = ks_len_at(sc, pos, &hdr);
		size_t n;

		if (!ks_charge(sc, len))
			return KS_STOP;
		if (!ks_expand(sc, tok, pos + hdr, len, buf, &n)) {
			ks_cand_fail(sc, c, KS_ST_NAMES, i,
				     "symbol %" PRIu32 " at %#" PRIx64
				     " expands to more than %u bytes",
				     i, sc->va + pos, KALLSYMS_NAME_MAX - 1);
			return KS_MISS;
		}
		if (n < 2) {
			ks_cand_fail(sc, c, KS_ST_NAMES, i,
				     "symbol %" PRIu32 " at %#" PRIx64
				     " has no name after its type",
				     i, sc->va + pos);
			return KS_MISS;
		}
		/* Names reach logs and terminals: no control, space or 8-bit bytes. */
		if (!ks_printable(buf, n, &bad)) {
			ks_cand_fail(sc, c, KS_ST_NAMES, i,
				     "symbol %" PRIu32 " at %#" PRIx64
				     " has a non-printable byte %#x at %zu",
				     i, sc->va + pos, (unsigned char)buf[bad], bad);
			return KS_MISS;
		}
		if (KALLSYMS_MAX_NAME_BYTES - used < n) {
			ks_cand_fail(sc, c, KS_ST_NAMES, i,
				     "decoded names exceed %u bytes at symbol %" PRIu32,
				     KALLSYMS_MAX_NAME_BYTES, i);
			return KS_MISS;
		}
		ks->syms[i].type = buf[0];
		ks->syms[i].name_off = (uint32_t)used;
		rc = ks_blob_add(ks, &used, &cap, buf + 1, n - 1);
		if (rc)
			return rc;
		pos += hdr + len;
	}
	for (i = 0; i < c->n; i++)
		ks->syms[i].name = ks->blob + ks->syms[i].name_off;
	return KS_FOUND;
}

/*
 * BASE_RELATIVE + ABSOLUTE_PERCPU: an offset >= 0 is the address itself (per-CPU symbols),
 * an offset < 0 is relative_base - 1 - offset, i.e. relative_base + ~offset.
 */
static bool ks_decode_addrs(struct ks_scan *sc, const struct ks_cand *c, struct kallsyms *ks)
{
	uint64_t rb = ks_rd64(sc, c->num - 8), prev = 0;
	bool have_prev = false;
	uint32_t i;

	if (!ks_charge(sc, c->n))
		return false;
	for (i = 0; i < c->n; i++) {
		uint32_t off = ks_rd32(sc, c->offsets + 4 * (size_t)i);
		uint64_t addr, delta;

		if (!(off & 0x80000000u)) {
			ks->syms[i].addr = off;
			continue;
		}
		delta = (uint32_t)~off;
		if (delta > UINT64_MAX - rb) {
			ks_cand_fail(sc, c, KS_ST_ADDRS, i,
				     "symbol %" PRIu32 " (%s): relative_base %#" PRIx64
				     " + %#" PRIx64 " wraps past 2^64",
				     i, ks->syms[i].name, rb, delta);
			return false;
		}
		addr = rb + delta;
		if (have_prev && addr < prev) {
			ks_cand_fail(sc, c, KS_ST_ADDRS, i,
				     "offsets not sorted: symbol %" PRIu32 " (%s) at %#" PRIx64
				     " is below the previous relative symbol at %#" PRIx64,
				     i, ks->syms[i].name, addr, prev);
			return false;
		}
		prev = addr;
		have_prev = true;
		ks->syms[i].addr = addr;
	}
	ks->relative_base = rb;
	return true;
}

static int ks_cmp_name(const void *a, const void *b)
{
	const struct ks_sym *x = *(const struct ks_sym *const *)a;
	const struct ks_sym *y = *(const struct ks_sym *const *)b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int ks_index(struct kallsyms *ks)
{
	uint32_t i;

	ks->by_name = malloc(ks->count * sizeof(*ks->by_name));
	if (!ks->by_name)
		return -ENOMEM;
	for (i = 0; i < ks->count; i++)
		ks->by_name[i] = &ks->syms[i];
	qsort(ks->by_name, ks->count, sizeof(*ks->by_name), ks_cmp_name);
	return 0;
}

static void ks_set_layout(const struct ks_scan *sc, const struct ks_tokens *tok,
			  const struct ks_cand *c, struct kallsyms *ks)
{
	struct kallsyms_layout *l = &ks->layout;

	l->offsets = sc->va + c->offsets;
	l->relative_base = sc->va + c->num - 8;
	l->num_syms = sc->va + c->num;
	l->names = sc->va + c->names;
	l->markers = sc->va + c->markers;
	l->seqs_of_names = c->seq_size ? sc->va + c->seqs : 0;
	l->token_table = sc->va + tok->table;
	l->token_index = sc->va + tok->index;
	l->seq_size = c->seq_size;
}

/* Validate and decode one planned layout. */
static int ks_try(struct ks_scan *sc, const struct ks_tokens *tok, struct ks_cand *c,
		  struct kallsyms **out)
{
	struct kallsyms *ks;
	int rc;

	if (!ks_walk(sc, c))
		return sc->exhausted ? KS_STOP : KS_MISS;
	rc = ks_check_seqs(sc, c);
	if (rc != KS_FOUND)
		return rc;
	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return -ENOMEM;
	ks->count = c->n;
	ks->syms = calloc(c->n, sizeof(*ks->syms));
	rc = ks->syms ? ks_decode_names(sc, tok, c, ks) : -ENOMEM;
	if (rc == KS_FOUND && !ks_decode_addrs(sc, c, ks))
		rc = sc->exhausted ? KS_STOP : KS_MISS;
	if (rc == KS_FOUND)
		rc = ks_index(ks) ? -ENOMEM : KS_FOUND;
	if (rc != KS_FOUND) {
		kallsyms_free(ks);
		return rc;
	}
	ks_set_layout(sc, tok, c, ks);
	*out = ks;
	return KS_FOUND;
}

/* Every 8-aligned num_syms candidate below the token table, nearest first. */
static int ks_layout_search(struct ks_scan *sc, const struct ks_tokens *tok,
			    struct kallsyms **out)
{
	static const unsigned int seq_sizes[] = { 0, 4, 3 };
	size_t num = tok->table;	/* 8-aligned */
	bool planned = false;

	while (num >= 16) {
		uint32_t n;
		unsigned int s;

		num -= 8;
		if (!ks_charge(sc, 1))
			return KS_STOP;
		n = ks_rd32(sc, num);
		if (!n || n > KALLSYMS_MAX_SYMS)
			continue;
		for (s = 0; s < sizeof(seq_sizes) / sizeof(seq_sizes[0]); s++) {
			struct ks_cand c;
			int rc;

			if (!ks_plan(sc, tok, num, n, seq_sizes[s], &c)) {
				if (sc->exhausted)
					return KS_STOP;
				continue;
			}
			planned = true;
			rc = ks_try(sc, tok, &c, out);
			if (rc != KS_MISS)
				return rc;
		}
	}
	if (!planned)
		ks_fail(sc, KS_ST_LAYOUT, 0, -ENOENT,
			"kallsyms_token_table at %#" PRIx64 ": no num_syms (1..%u) before it"
			" fits a layout with seqs_of_names of 0, 4 or 3 bytes",
			sc->va + tok->table, KALLSYMS_MAX_SYMS);
	return KS_MISS;
}

static int ks_search(struct ks_scan *sc, struct kallsyms **out)
{
	size_t run = 0;
	bool seen = false;

	while ((run = ks_next_run(sc, run)) < sc->len) {
		struct ks_tokens tok;

		seen = true;
		if (ks_tokens_find(sc, run, &tok)) {
			int rc = ks_layout_search(sc, &tok, out);

			if (rc != KS_MISS)
				return rc;
		}
		if (sc->exhausted)
			return KS_STOP;
		run++;
	}
	if (!seen)
		ks_fail(sc, KS_ST_NO_RUN, 0, -ENOENT,
			"no kallsyms_token_table: no \"0\\0\"..\"9\\0\" token run in %zu bytes"
			" at %#" PRIx64,
			sc->len, sc->va);
	return KS_MISS;
}

static void ks_set_why(char *why, size_t why_len, const char *s)
{
	if (why && why_len)
		snprintf(why, why_len, "%s", s);
}

int kallsyms_find_budget(const uint8_t *img, size_t len, uint64_t va, uint64_t budget,
			 struct kallsyms **out, char *why, size_t why_len)
{
	struct ks_scan sc = { .img = img, .len = len, .va = va, .budget = budget };
	int rc;

	ks_set_why(why, why_len, "");
	if (!out) {
		ks_set_why(why, why_len, "invalid argument: out is NULL");
		return -EINVAL;
	}
	*out = NULL;
	if ((!img && len) || (len && va + (len - 1) < va) || len > SIZE_MAX / 2) {
		ks_set_why(why, why_len, "invalid argument: no image, or image wraps past 2^64");
		return -EINVAL;
	}
	rc = ks_search(&sc, out);
	if (rc == KS_FOUND)
		return 0;
	if (rc < 0) {
		ks_set_why(why, why_len, "out of memory");
		return rc;
	}
	if (rc == KS_STOP)
		ks_fail(&sc, KS_ST_BUDGET, 0, -ENOENT,
			"work budget of %" PRIu64 " exhausted before a consistent layout was found",
			budget);
	ks_set_why(why, why_len, sc.why);
	return sc.err ? sc.err : -ENOENT;
}

int kallsyms_find(const uint8_t *img, size_t len, uint64_t va, struct kallsyms **out,
		  char *why, size_t why_len)
{
	return kallsyms_find_budget(img, len, va, KALLSYMS_WORK_BUDGET, out, why, why_len);
}

void kallsyms_free(struct kallsyms *ks)
{
	if (!ks)
		return;
	free(ks->by_name);
	free(ks->syms);
	free(ks->blob);
	free(ks);
}

uint32_t kallsyms_count(const struct kallsyms *ks)
{
	return ks ? ks->count : 0;
}

uint64_t kallsyms_relative_base(const struct kallsyms *ks)
{
	return ks ? ks->relative_base : 0;
}

int kallsyms_lookup(const struct kallsyms *ks, const char *name, uint64_t *addr, char *type)
{
	uint32_t lo = 0, hi;

	if (!ks || !name)
		return -EINVAL;
	/* Lower bound: the first entry >= @name, which is the lowest address of that name. */
	hi = ks->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (strcmp(ks->by_name[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ks->count || strcmp(ks->by_name[lo]->name, name))
		return -ENOENT;
	if (addr)
		*addr = ks->by_name[lo]->addr;
	if (type)
		*type = ks->by_name[lo]->type;
	return 0;
}

int kallsyms_symbol(const struct kallsyms *ks, uint32_t i, const char **name, uint64_t *addr,
		    char *type)
{
	if (!ks || i >= ks->count)
		return -EINVAL;
	if (name)
		*name = ks->syms[i].name;
	if (addr)
		*addr = ks->syms[i].addr;
	if (type)
		*type = ks->syms[i].type;
	return 0;
}

uint64_t kallsyms_token_table_va(const struct kallsyms *ks)
{
	return ks ? ks->layout.token_table : 0;
}

uint64_t kallsyms_relative_base_va(const struct kallsyms *ks)
{
	return ks ? ks->layout.relative_base : 0;
}

const struct kallsyms_layout *kallsyms_layout(const struct kallsyms *ks)
{
	return ks ? &ks->layout : NULL;
}
