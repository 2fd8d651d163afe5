// SPDX-License-Identifier: MIT
/*
 * A validating parser for a guest kernel's base BTF; the contract is in btf.h.
 *
 * The rules follow the kernel's own (kernel/bpf/btf.c: btf_parse_hdr,
 * btf_check_sec_info, btf_parse_str_sec, btf_check_all_metas and the resolve
 * pass), re-derived for input that is hostile rather than buggy: every
 * length is checked in 64 bits, every walk has a bound that validation has
 * already proven, and nothing is read before the bytes it lives in have been
 * checked to exist.  The kernel runs only the meta checks on its own vmlinux
 * BTF; the resolve-level checks here (sizes, loops, nesting) are the ones it
 * runs on BTF loaded from user space, which pahole's output also satisfies.
 *
 * Validation is five passes over the private copy, each relying on the ones
 * before it:
 *   1. header and sections;
 *   2. each type record on its own (kind, reserved bits, vlen, names);
 *   3. every type id a record refers to exists and is of an acceptable kind;
 *   4. typedef/modifier/array chains end within BTF_RAW_MAX_DEPTH, no loops;
 *   5. sizes: arrays do not overflow, members fit their struct, VARs fit
 *      their DATASEC slot; then by-value struct nesting is acyclic and
 *      shallow, and anonymous-member searches are bounded.
 *
 * Records are read with memcpy(): the header length need not be a multiple
 * of four, so the type section need not be aligned.
 */
#include "btf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct btf {
	uint8_t *data;		/* the private copy, exactly size bytes */
	size_t size;
	const uint8_t *types;	/* type section, inside data */
	uint32_t types_len;
	const char *strs;	/* string section: first and last bytes are NUL */
	uint32_t strs_len;
	uint32_t nr_types;
	uint32_t *type_offs;	/* [id]: offset of the record in types; [0] is void's */
};

#define TYPE_HDR_SIZE	sizeof(struct btf_raw_type)

_Static_assert(sizeof(struct btf_raw_header) == 24, "btf_raw_header layout");
_Static_assert(sizeof(struct btf_raw_type) == 12, "btf_raw_type layout");
_Static_assert(sizeof(struct btf_raw_array) == 12, "btf_raw_array layout");
_Static_assert(sizeof(struct btf_raw_member) == 12, "btf_raw_member layout");
_Static_assert(sizeof(struct btf_raw_enum) == 8, "btf_raw_enum layout");
_Static_assert(sizeof(struct btf_raw_enum64) == 12, "btf_raw_enum64 layout");
_Static_assert(sizeof(struct btf_raw_param) == 8, "btf_raw_param layout");
_Static_assert(sizeof(struct btf_raw_secinfo) == 12, "btf_raw_secinfo layout");

/* ------------------------------------------------------------------------
 * Reading records (only ever called with ids 0..nr_types, and with indexes
 * inside the vlen that pass 2 checked)
 */

static struct btf_raw_type type_hdr(const struct btf *btf, uint32_t id)
{
	struct btf_raw_type t = { 0 };

	if (id)
		memcpy(&t, btf->types + btf->type_offs[id], sizeof(t));
	return t;
}

static unsigned int kind_of(const struct btf_raw_type *t)
{
	return BTF_RAW_INFO_KIND(t->info);
}

static unsigned int type_kind(const struct btf *btf, uint32_t id)
{
	struct btf_raw_type t = type_hdr(btf, id);

	return kind_of(&t);
}

/* Copies @n bytes found @off bytes past the 12-byte header of type @id. */
static void type_extra(const struct btf *btf, uint32_t id, size_t off, void *dst, size_t n)
{
	memcpy(dst, btf->types + btf->type_offs[id] + TYPE_HDR_SIZE + off, n);
}

static struct btf_raw_member type_member(const struct btf *btf, uint32_t id, uint32_t i)
{
	struct btf_raw_member m;

	type_extra(btf, id, (size_t)i * sizeof(m), &m, sizeof(m));
	return m;
}

static struct btf_raw_secinfo type_secinfo(const struct btf *btf, uint32_t id, uint32_t i)
{
	struct btf_raw_secinfo s;

	type_extra(btf, id, (size_t)i * sizeof(s), &s, sizeof(s));
	return s;
}

static struct btf_raw_array type_array(const struct btf *btf, uint32_t id)
{
	struct btf_raw_array a;

	type_extra(btf, id, 0, &a, sizeof(a));
	return a;
}

static uint32_t type_u32(const struct btf *btf, uint32_t id)
{
	uint32_t v;

	type_extra(btf, id, 0, &v, sizeof(v));
	return v;
}

/* Safe for any offset below strs_len: the section ends with a NUL. */
static const char *str_at(const struct btf *btf, uint32_t off)
{
	return btf->strs + off;
}

static bool kind_is_modifier(unsigned int kind)
{
	return kind == BTF_RAW_TYPEDEF || kind == BTF_RAW_VOLATILE || kind == BTF_RAW_CONST ||
	       kind == BTF_RAW_RESTRICT || kind == BTF_RAW_TYPE_TAG;
}

static bool kind_is_aggregate(unsigned int kind)
{
	return kind == BTF_RAW_STRUCT || kind == BTF_RAW_UNION;
}

/* Kinds that describe a declaration, not a type: nothing but a DATASEC may point at them. */
static bool kind_is_source_only(unsigned int kind)
{
	return kind == BTF_RAW_VAR || kind == BTF_RAW_DATASEC || kind == BTF_RAW_DECL_TAG;
}

static bool int_is_regular(uint32_t int_data)
{
	unsigned int bits = BTF_RAW_INT_BITS(int_data);

	return !(bits % 8) && !BTF_RAW_INT_OFFSET(int_data) &&
	       (bits == 8 || bits == 16 || bits == 32 || bits == 64 || bits == 128);
}

/* ------------------------------------------------------------------------
 * Walks shared by validation and lookups.  Pass 4 proves that a chain of
 * modifiers and arrays has at most BTF_RAW_MAX_DEPTH links; the limits here
 * only keep a bug from turning into a hang.
 */

static int strip_modifiers(const struct btf *btf, uint32_t id, uint32_t *out)
{
	for (int depth = 0; depth <= BTF_RAW_MAX_DEPTH; depth++) {
		struct btf_raw_type t = type_hdr(btf, id);

		if (!kind_is_modifier(kind_of(&t))) {
			*out = id;
			return 0;
		}
		id = t.size_or_type;
	}
	return -ELOOP;
}

/* Modifiers and array elements: what a by-value member really embeds. */
static int strip_to_element(const struct btf *btf, uint32_t id, uint32_t *out)
{
	for (int depth = 0; depth <= BTF_RAW_MAX_DEPTH; depth++) {
		struct btf_raw_type t = type_hdr(btf, id);

		if (kind_of(&t) == BTF_RAW_ARRAY)
			id = type_array(btf, id).type;
		else if (kind_is_modifier(kind_of(&t)))
			id = t.size_or_type;
		else {
			*out = id;
			return 0;
		}
	}
	return -ELOOP;
}

/*
 * Multiplies from the innermost array out so that each step is a u32 times a
 * u32 and checked before the next: a zero-length outer array must not hide an
 * inner one that overflows, and the product can never wrap a u64.
 */
static int resolve_size(const struct btf *btf, uint32_t id, uint64_t *size)
{
	uint32_t nelems[BTF_RAW_MAX_DEPTH + 1];
	unsigned int n = 0;
	uint64_t sz;

	for (;;) {
		struct btf_raw_type t = type_hdr(btf, id);
		unsigned int kind = kind_of(&t);

		if (kind_is_modifier(kind) || kind == BTF_RAW_ARRAY) {
			if (n > BTF_RAW_MAX_DEPTH)
				return -ELOOP;
			if (kind == BTF_RAW_ARRAY) {
				struct btf_raw_array a = type_array(btf, id);

				nelems[n] = a.nelems;
				id = a.type;
			} else {
				nelems[n] = 1;
				id = t.size_or_type;
			}
			n++;
			continue;
		}
		switch (kind) {
		case BTF_RAW_PTR:
			sz = BTF_RAW_PTR_SIZE;
			break;
		case BTF_RAW_INT:
		case BTF_RAW_ENUM:
		case BTF_RAW_ENUM64:
		case BTF_RAW_FLOAT:
		case BTF_RAW_STRUCT:
		case BTF_RAW_UNION:
		case BTF_RAW_DATASEC:
			sz = t.size_or_type;
			break;
		default:	/* void, FWD, FUNC, FUNC_PROTO, VAR, DECL_TAG */
			return -EINVAL;
		}
		break;
	}
	while (n--) {
		sz *= nelems[n];
		if (sz > UINT32_MAX)
			return -EOVERFLOW;
	}
	*size = sz;
	return 0;
}

/* The struct/union an unnamed member opens into, or 0 if it is not one. */
static uint32_t anon_aggregate(const struct btf *btf, const struct btf_raw_member *m)
{
	uint32_t id;

	if (str_at(btf, m->name_off)[0] || strip_modifiers(btf, m->type, &id))
		return 0;
	return kind_is_aggregate(type_kind(btf, id)) ? id : 0;
}

/* ------------------------------------------------------------------------
 * Validation state
 */

enum { NEST_NEW, NEST_ACTIVE, NEST_DONE };
#define CHAIN_ACTIVE	0xff

struct vtype {
	uint32_t flat;		/* member records a search of this aggregate may read */
	uint8_t chain;		/* chain links from here, 0 if not yet known, or CHAIN_ACTIVE */
	uint8_t nest;		/* by-value aggregate nesting, counting this one */
	uint8_t state;		/* NEST_* */
};

struct parser {
	struct btf *btf;
	struct vtype *vt;
	char *why;
	size_t why_len;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parser *p, int err, const char *fmt, ...)
{
	va_list ap;

	if (p->why && p->why_len) {
		va_start(ap, fmt);
		vsnprintf(p->why, p->why_len, fmt, ap);
		va_end(ap);
	}
	return err;
}

static const char *const kind_names[] = {
	"void", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF",
	"VOLATILE", "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC",
	"FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == BTF_RAW_KIND_MAX + 1,
	       "a name for every kind");

static const char *kind_name(unsigned int kind)
{
	return kind <= BTF_RAW_KIND_MAX ? kind_names[kind] : "?";
}

/* ------------------------------------------------------------------------
 * Pass 1: header and sections
 */

/*
 * Checks the header at @data and returns in *total how many bytes the BTF
 * takes.  Only the header and its padding are read, so this is also how
 * btf_parse() learns how much to copy.
 */
static int parse_header(struct parser *p, const uint8_t *data, size_t len,
			struct btf_raw_header *h, uint64_t *total)
{
	uint64_t end;

	if (len < sizeof(*h))
		return fail(p, -EINVAL, "%zu bytes are too few for a BTF header", len);
	memcpy(h, data, sizeof(*h));
	if (h->magic != BTF_RAW_MAGIC)
		return fail(p, -EINVAL, "bad magic 0x%04x", h->magic);
	if (h->version != BTF_RAW_VERSION)
		return fail(p, -EINVAL, "unsupported version %u", h->version);
	if (h->flags)
		return fail(p, -EINVAL, "unsupported flags 0x%02x", h->flags);
	if (h->hdr_len < sizeof(*h))
		return fail(p, -EINVAL, "hdr_len %u is shorter than the header", h->hdr_len);
	if (h->hdr_len > len)
		return fail(p, -EINVAL, "hdr_len %u runs past the %zu bytes of data",
			    h->hdr_len, len);
	if (h->hdr_len > BTF_RAW_MAX_SIZE)
		return fail(p, -E2BIG, "hdr_len %u is over the %u-byte limit", h->hdr_len,
			    BTF_RAW_MAX_SIZE);
	/* A newer header we do not understand must not be half-read as this one. */
	for (uint32_t i = sizeof(*h); i < h->hdr_len; i++)
		if (data[i])
			return fail(p, -EINVAL, "non-zero header byte at offset %u", i);

	/*
	 * The kernel sorts the sections and wants them to tile the blob from
	 * the header on, strings last; with exactly two sections and a
	 * non-empty string section that means types at 0, strings right after.
	 */
	if (!h->type_len)
		return fail(p, -EINVAL, "empty type section");
	if (h->str_off < h->type_off)
		return fail(p, -EINVAL, "string section (at %u) is not last", h->str_off);
	if (h->type_off)
		return fail(p, -EINVAL, "gap of %u bytes before the type section", h->type_off);
	if (h->str_off < h->type_len)
		return fail(p, -EINVAL, "type and string sections overlap");
	if (h->str_off > h->type_len)
		return fail(p, -EINVAL, "gap between the type and string sections");
	if (!h->str_len)
		return fail(p, -EINVAL, "empty string section");

	end = (uint64_t)h->hdr_len + h->str_off + h->str_len;
	if (end > BTF_RAW_MAX_SIZE)
		return fail(p, -E2BIG, "BTF of %llu bytes is over the %u-byte limit",
			    (unsigned long long)end, BTF_RAW_MAX_SIZE);
	if (end > len)
		return fail(p, -EINVAL, "sections end at %llu, past the %zu bytes of data",
			    (unsigned long long)end, len);
	*total = end;
	return 0;
}

/* Runs on the private copy, after parse_header() has accepted it. */
static int parse_strings(struct parser *p, const struct btf_raw_header *h)
{
	struct btf *btf = p->btf;

	btf->strs = (const char *)btf->data + h->hdr_len + h->str_off;
	btf->strs_len = h->str_len;
	if (btf->strs[btf->strs_len - 1])
		return fail(p, -EINVAL, "string section does not end with a NUL");
	/* Split (module) BTF continues its base's strings and starts mid-name. */
	if (btf->strs[0])
		return fail(p, -EINVAL, "string section does not start with a NUL (split BTF?)");
	return 0;
}

/* ------------------------------------------------------------------------
 * Pass 2: each record on its own
 */

static size_t record_extra(unsigned int kind, uint32_t vlen)
{
	switch (kind) {
	case BTF_RAW_INT:
	case BTF_RAW_VAR:
	case BTF_RAW_DECL_TAG:
		return 4;
	case BTF_RAW_ARRAY:
		return sizeof(struct btf_raw_array);
	case BTF_RAW_STRUCT:
	case BTF_RAW_UNION:
		return (size_t)vlen * sizeof(struct btf_raw_member);
	case BTF_RAW_ENUM:
		return (size_t)vlen * sizeof(struct btf_raw_enum);
	case BTF_RAW_ENUM64:
		return (size_t)vlen * sizeof(struct btf_raw_enum64);
	case BTF_RAW_FUNC_PROTO:
		return (size_t)vlen * sizeof(struct btf_raw_param);
	case BTF_RAW_DATASEC:
		return (size_t)vlen * sizeof(struct btf_raw_secinfo);
	default:
		return 0;
	}
}

static bool kind_has_vlen_records(unsigned int kind)
{
	return kind == BTF_RAW_STRUCT || kind == BTF_RAW_UNION || kind == BTF_RAW_ENUM ||
	       kind == BTF_RAW_ENUM64 || kind == BTF_RAW_FUNC_PROTO || kind == BTF_RAW_DATASEC;
}

/* What one record looks like while pass 2 checks it: its id, header and extra bytes. */
struct rec {
	uint32_t id;
	struct btf_raw_type t;
	unsigned int kind;
	uint32_t vlen;
	bool kflag;
	const uint8_t *extra;
};

static int check_name_off(struct parser *p, const struct rec *r, uint32_t off, const char *what)
{
	if (off >= p->btf->strs_len)
		return fail(p, -EINVAL,
			    "type %u: %s name offset %u is past the %u-byte string section",
			    r->id, what, off, p->btf->strs_len);
	return 0;
}

static bool rec_named(const struct parser *p, const struct rec *r)
{
	return str_at(p->btf, r->t.name_off)[0] != '\0';
}

/* The checks most kinds share: no vlen, no kind_flag, and a name present or absent. */
enum name_rule { NAME_ANY, NAME_NONE, NAME_NEEDED };

static int check_simple(struct parser *p, const struct rec *r, bool vlen_ok, bool kflag_ok,
			enum name_rule name)
{
	if (!vlen_ok && r->vlen)
		return fail(p, -EINVAL, "type %u: %s with vlen %u", r->id, kind_name(r->kind),
			    r->vlen);
	if (!kflag_ok && r->kflag)
		return fail(p, -EINVAL, "type %u: %s with kind_flag set", r->id,
			    kind_name(r->kind));
	if (name == NAME_NONE && r->t.name_off)
		return fail(p, -EINVAL, "type %u: %s must not have a name", r->id,
			    kind_name(r->kind));
	if (name == NAME_NEEDED && !rec_named(p, r))
		return fail(p, -EINVAL, "type %u: %s needs a name", r->id, kind_name(r->kind));
	return 0;
}

static int meta_int(struct parser *p, const struct rec *r)
{
	uint32_t data, bits, enc;
	int err = check_simple(p, r, false, false, NAME_ANY);

	if (err)
		return err;
	memcpy(&data, r->extra, sizeof(data));
	if (data & ~BTF_RAW_INT_MASK)
		return fail(p, -EINVAL, "type %u: INT data 0x%08x has reserved bits set", r->id,
			    data);
	bits = BTF_RAW_INT_BITS(data) + BTF_RAW_INT_OFFSET(data);
	if (bits > 128)
		return fail(p, -EINVAL, "type %u: INT of %u bits", r->id, bits);
	if ((bits + 7) / 8 > r->t.size_or_type)
		return fail(p, -EINVAL, "type %u: INT of %u bits in %u bytes", r->id, bits,
			    r->t.size_or_type);
	enc = BTF_RAW_INT_ENCODING(data);
	if (enc && enc != BTF_RAW_INT_SIGNED && enc != BTF_RAW_INT_CHAR &&
	    enc != BTF_RAW_INT_BOOL)
		return fail(p, -EINVAL, "type %u: INT encoding 0x%x", r->id, enc);
	return 0;
}

static int meta_ref(struct parser *p, const struct rec *r)
{
	/* Only typedefs and type tags are named; the kernel insists. */
	bool tag = r->kind == BTF_RAW_TYPE_TAG;
	bool named = r->kind == BTF_RAW_TYPEDEF || tag;

	/*
	 * Linux 6.15 (BTF "type attributes") sets kind_flag on a tag that is
	 * an __attribute__; 6.1 rejects it, but it does not change layout and
	 * refusing it would refuse every newer guest.
	 */
	return check_simple(p, r, false, tag, named ? NAME_NEEDED : NAME_NONE);
}

static int meta_array(struct parser *p, const struct rec *r)
{
	struct btf_raw_array a;
	int err = check_simple(p, r, false, false, NAME_NONE);

	if (err)
		return err;
	if (r->t.size_or_type)
		return fail(p, -EINVAL, "type %u: ARRAY with size %u", r->id, r->t.size_or_type);
	memcpy(&a, r->extra, sizeof(a));
	if (!a.type)
		return fail(p, -EINVAL, "type %u: array of void", r->id);
	if (!a.index_type)
		return fail(p, -EINVAL, "type %u: array indexed by void", r->id);
	return 0;
}

static int meta_aggregate(struct parser *p, const struct rec *r)
{
	bool is_union = r->kind == BTF_RAW_UNION;
	uint32_t last = 0;

	for (uint32_t i = 0; i < r->vlen; i++) {
		struct btf_raw_member m;
		uint32_t bit_off;
		int err;

		memcpy(&m, r->extra + (size_t)i * sizeof(m), sizeof(m));
		err = check_name_off(p, r, m.name_off, "member");
		if (err)
			return err;
		if (!m.type)
			return fail(p, -EINVAL, "type %u: member %u is void", r->id, i);
		bit_off = r->kflag ? BTF_RAW_MEMBER_BIT_OFFSET(m.offset) : m.offset;
		if (is_union && bit_off)
			return fail(p, -EINVAL, "type %u: union member %u at bit %u, not 0", r->id,
				    i, bit_off);
		/* Not ">=": a flexible array may share its offset with what follows. */
		if (bit_off < last)
			return fail(p, -EINVAL, "type %u: member %u goes backwards to bit %u",
				    r->id, i, bit_off);
		if (((uint64_t)bit_off + 7) / 8 > r->t.size_or_type)
			return fail(p, -EINVAL, "type %u: member %u starts past the %u-byte %s",
				    r->id, i, r->t.size_or_type, kind_name(r->kind));
		last = bit_off;
	}
	return 0;
}

static int meta_enum(struct parser *p, const struct rec *r)
{
	size_t rec_size = r->kind == BTF_RAW_ENUM ? sizeof(struct btf_raw_enum) :
						     sizeof(struct btf_raw_enum64);
	uint32_t size = r->t.size_or_type;

	if (size != 1 && size != 2 && size != 4 && size != 8)
		return fail(p, -EINVAL, "type %u: %s of %u bytes", r->id, kind_name(r->kind),
			    size);
	for (uint32_t i = 0; i < r->vlen; i++) {
		uint32_t name_off;
		int err;

		/* Both record layouts start with name_off. */
		memcpy(&name_off, r->extra + i * rec_size, sizeof(name_off));
		err = check_name_off(p, r, name_off, "enumerator");
		if (err)
			return err;
		if (!str_at(p->btf, name_off)[0])
			return fail(p, -EINVAL, "type %u: enumerator %u has no name", r->id, i);
	}
	return 0;
}

static int meta_fwd(struct parser *p, const struct rec *r)
{
	int err = check_simple(p, r, false, true, NAME_NEEDED);

	if (err)
		return err;
	if (r->t.size_or_type)
		return fail(p, -EINVAL, "type %u: FWD with type %u", r->id, r->t.size_or_type);
	return 0;
}

static int meta_func(struct parser *p, const struct rec *r)
{
	int err = check_simple(p, r, true, false, NAME_NEEDED);

	/* vlen is the linkage; the kernel takes static and global only. */
	if (!err && r->vlen > 1)
		err = fail(p, -EINVAL, "type %u: FUNC linkage %u", r->id, r->vlen);
	return err;
}

static int meta_func_proto(struct parser *p, const struct rec *r)
{
	int err = check_simple(p, r, true, false, NAME_NONE);

	for (uint32_t i = 0; !err && i < r->vlen; i++) {
		struct btf_raw_param prm;

		memcpy(&prm, r->extra + (size_t)i * sizeof(prm), sizeof(prm));
		err = check_name_off(p, r, prm.name_off, "parameter");
	}
	return err;
}

static int meta_var(struct parser *p, const struct rec *r)
{
	uint32_t linkage;
	int err = check_simple(p, r, false, false, NAME_NEEDED);

	if (err)
		return err;
	if (!r->t.size_or_type)
		return fail(p, -EINVAL, "type %u: VAR of type void", r->id);
	memcpy(&linkage, r->extra, sizeof(linkage));
	if (linkage > 1)
		return fail(p, -EINVAL, "type %u: VAR linkage %u", r->id, linkage);
	return 0;
}

static int meta_datasec(struct parser *p, const struct rec *r)
{
	uint32_t size = r->t.size_or_type;
	uint64_t last_end = 0;
	int err = check_simple(p, r, true, false, NAME_NEEDED);

	if (err)
		return err;
	if (!size)
		return fail(p, -EINVAL, "type %u: DATASEC of size 0", r->id);
	for (uint32_t i = 0; i < r->vlen; i++) {
		struct btf_raw_secinfo s;

		memcpy(&s, r->extra + (size_t)i * sizeof(s), sizeof(s));
		if (!s.type)
			return fail(p, -EINVAL, "type %u: variable %u is void", r->id, i);
		if (s.offset < last_end)
			return fail(p, -EINVAL,
				    "type %u: variable %u at 0x%x overlaps the one before",
				    r->id, i, s.offset);
		if (!s.size || (uint64_t)s.offset + s.size > size)
			return fail(p, -EINVAL,
				    "type %u: variable %u (0x%x at 0x%x) is outside the section",
				    r->id, i, s.size, s.offset);
		last_end = (uint64_t)s.offset + s.size;
	}
	return 0;
}

static int meta_float(struct parser *p, const struct rec *r)
{
	uint32_t size = r->t.size_or_type;
	int err = check_simple(p, r, false, false, NAME_ANY);

	if (!err && size != 2 && size != 4 && size != 8 && size != 12 && size != 16)
		err = fail(p, -EINVAL, "type %u: FLOAT of %u bytes", r->id, size);
	return err;
}

static int meta_decl_tag(struct parser *p, const struct rec *r)
{
	struct btf_raw_decl_tag tag;
	int err = check_simple(p, r, false, true, NAME_NEEDED);	/* kind_flag: see meta_ref() */

	if (err)
		return err;
	memcpy(&tag, r->extra, sizeof(tag));
	if (tag.component_idx < -1)
		return fail(p, -EINVAL, "type %u: DECL_TAG component %d", r->id,
			    tag.component_idx);
	return 0;
}

static int check_record_kind(struct parser *p, const struct rec *r)
{
	switch (r->kind) {
	case BTF_RAW_INT:
		return meta_int(p, r);
	case BTF_RAW_PTR:
	case BTF_RAW_TYPEDEF:
	case BTF_RAW_VOLATILE:
	case BTF_RAW_CONST:
	case BTF_RAW_RESTRICT:
	case BTF_RAW_TYPE_TAG:
		return meta_ref(p, r);
	case BTF_RAW_ARRAY:
		return meta_array(p, r);
	case BTF_RAW_STRUCT:
	case BTF_RAW_UNION:
		return meta_aggregate(p, r);
	case BTF_RAW_ENUM:
	case BTF_RAW_ENUM64:
		return meta_enum(p, r);
	case BTF_RAW_FWD:
		return meta_fwd(p, r);
	case BTF_RAW_FUNC:
		return meta_func(p, r);
	case BTF_RAW_FUNC_PROTO:
		return meta_func_proto(p, r);
	case BTF_RAW_VAR:
		return meta_var(p, r);
	case BTF_RAW_DATASEC:
		return meta_datasec(p, r);
	case BTF_RAW_FLOAT:
		return meta_float(p, r);
	case BTF_RAW_DECL_TAG:
		return meta_decl_tag(p, r);
	}
	return fail(p, -EINVAL, "type %u: unknown kind %u", r->id, r->kind);
}

/* Checks the record of type @id at @off and returns its length in *len. */
static int check_record(struct parser *p, uint32_t id, uint32_t off, uint32_t *len)
{
	const struct btf *btf = p->btf;
	uint32_t left = btf->types_len - off;
	struct rec r = { .id = id };
	size_t extra;
	int err;

	if (left < TYPE_HDR_SIZE)
		return fail(p, -EINVAL, "type %u: only %u bytes left in the type section", id,
			    left);
	memcpy(&r.t, btf->types + off, sizeof(r.t));
	r.kind = kind_of(&r.t);
	r.vlen = BTF_RAW_INFO_VLEN(r.t.info);
	r.kflag = BTF_RAW_INFO_KFLAG(r.t.info);
	r.extra = btf->types + off + TYPE_HDR_SIZE;
	if (r.t.info & ~BTF_RAW_INFO_MASK)
		return fail(p, -EINVAL, "type %u: reserved info bits 0x%08x set", id,
			    r.t.info & ~BTF_RAW_INFO_MASK);
	if (!r.kind || r.kind > BTF_RAW_KIND_MAX)
		return fail(p, -EINVAL, "type %u: unknown kind %u", id, r.kind);
	err = check_name_off(p, &r, r.t.name_off, kind_name(r.kind));
	if (err)
		return err;
	extra = record_extra(r.kind, r.vlen);
	if (extra > left - TYPE_HDR_SIZE) {
		if (kind_has_vlen_records(r.kind))
			return fail(p, -EINVAL, "type %u: vlen %u runs past the type section", id,
				    r.vlen);
		return fail(p, -EINVAL, "type %u: %s runs past the type section", id,
			    kind_name(r.kind));
	}
	err = check_record_kind(p, &r);
	if (err)
		return err;
	*len = (uint32_t)(TYPE_HDR_SIZE + extra);
	return 0;
}

/*
 * Indexes the records.  The index is sized from the section length, which
 * the 16 MiB cap bounds, and capped at the type limit so a section of tiny
 * records cannot make it bigger than a full one.
 */
static int index_types(struct parser *p)
{
	struct btf *btf = p->btf;
	size_t max = btf->types_len / TYPE_HDR_SIZE;
	uint32_t off = 0, id = 0;

	if (max > BTF_RAW_MAX_TYPE)
		max = BTF_RAW_MAX_TYPE;
	btf->type_offs = calloc(max + 1, sizeof(*btf->type_offs));
	if (!btf->type_offs)
		return fail(p, -ENOMEM, "out of memory for the type index");
	while (off < btf->types_len) {
		uint32_t len = 0;
		int err;

		if (id == BTF_RAW_MAX_TYPE)
			return fail(p, -E2BIG, "more than %u types", BTF_RAW_MAX_TYPE);
		id++;
		err = check_record(p, id, off, &len);
		if (err)
			return err;
		btf->type_offs[id] = off;
		off += len;
	}
	btf->nr_types = id;
	return 0;
}

/* ------------------------------------------------------------------------
 * Pass 3: references
 */

static int check_ref(struct parser *p, uint32_t id, uint32_t ref, const char *what)
{
	if (ref > p->btf->nr_types)
		return fail(p, -EINVAL, "type %u: %s is type %u, past the last type %u", id, what,
			    ref, p->btf->nr_types);
	return 0;
}

/* A pointer, qualifier or parameter may be void, a type or a prototype, not a declaration. */
static int check_ref_to_type(struct parser *p, uint32_t id, uint32_t ref, const char *what)
{
	unsigned int kind;
	int err = check_ref(p, id, ref, what);

	if (err)
		return err;
	kind = type_kind(p->btf, ref);
	if (kind_is_source_only(kind) || kind == BTF_RAW_FUNC)
		return fail(p, -EINVAL, "type %u: %s is type %u, a %s", id, what, ref,
			    kind_name(kind));
	return 0;
}

static int refs_func_proto(struct parser *p, uint32_t id, const struct btf_raw_type *t)
{
	uint32_t vlen = BTF_RAW_INFO_VLEN(t->info);
	int err = check_ref_to_type(p, id, t->size_or_type, "return type");

	for (uint32_t i = 0; !err && i < vlen; i++) {
		struct btf_raw_param prm;

		type_extra(p->btf, id, (size_t)i * sizeof(prm), &prm, sizeof(prm));
		if (!prm.type) {
			/* void marks varargs: last and unnamed. */
			if (i != vlen - 1 || prm.name_off)
				err = fail(p, -EINVAL, "type %u: parameter %u is void", id, i);
			continue;
		}
		err = check_ref_to_type(p, id, prm.type, "parameter");
	}
	return err;
}

static int refs_datasec(struct parser *p, uint32_t id, const struct btf_raw_type *t)
{
	for (uint32_t i = 0; i < BTF_RAW_INFO_VLEN(t->info); i++) {
		struct btf_raw_secinfo s = type_secinfo(p->btf, id, i);
		int err = check_ref(p, id, s.type, "variable");

		if (err)
			return err;
		if (type_kind(p->btf, s.type) != BTF_RAW_VAR)
			return fail(p, -EINVAL, "type %u: variable %u is type %u, a %s", id, i,
				    s.type, kind_name(type_kind(p->btf, s.type)));
	}
	return 0;
}

static int refs_decl_tag(struct parser *p, uint32_t id, const struct btf_raw_type *t)
{
	struct btf_raw_type target;
	struct btf_raw_decl_tag tag;
	uint32_t nr_components;
	int err = check_ref(p, id, t->size_or_type, "tagged type");

	if (err)
		return err;
	target = type_hdr(p->btf, t->size_or_type);
	switch (kind_of(&target)) {
	case BTF_RAW_STRUCT:
	case BTF_RAW_UNION:
		nr_components = BTF_RAW_INFO_VLEN(target.info);
		break;
	case BTF_RAW_FUNC:
		/* The FUNC's own reference may not have been checked yet. */
		err = check_ref(p, id, target.size_or_type, "tagged function's prototype");
		if (err)
			return err;
		nr_components = BTF_RAW_INFO_VLEN(type_hdr(p->btf, target.size_or_type).info);
		break;
	case BTF_RAW_VAR:
	case BTF_RAW_TYPEDEF:
		nr_components = 0;
		break;
	default:
		return fail(p, -EINVAL, "type %u: DECL_TAG on type %u, a %s", id,
			    t->size_or_type, kind_name(kind_of(&target)));
	}
	type_extra(p->btf, id, 0, &tag, sizeof(tag));
	if (tag.component_idx != -1 && (uint32_t)tag.component_idx >= nr_components)
		return fail(p, -EINVAL, "type %u: DECL_TAG on component %d of %u", id,
			    tag.component_idx, nr_components);
	return 0;
}

static int check_refs(struct parser *p, uint32_t id)
{
	const struct btf *btf = p->btf;
	struct btf_raw_type t = type_hdr(btf, id);
	int err = 0;

	switch (kind_of(&t)) {
	case BTF_RAW_PTR:
	case BTF_RAW_TYPEDEF:
	case BTF_RAW_VOLATILE:
	case BTF_RAW_CONST:
	case BTF_RAW_RESTRICT:
	case BTF_RAW_TYPE_TAG:
		return check_ref_to_type(p, id, t.size_or_type, "target");
	case BTF_RAW_ARRAY: {
		struct btf_raw_array a = type_array(btf, id);

		err = check_ref_to_type(p, id, a.type, "element");
		return err ? err : check_ref_to_type(p, id, a.index_type, "index");
	}
	case BTF_RAW_STRUCT:
	case BTF_RAW_UNION:
		for (uint32_t i = 0; !err && i < BTF_RAW_INFO_VLEN(t.info); i++)
			err = check_ref_to_type(p, id, type_member(btf, id, i).type, "member");
		return err;
	case BTF_RAW_FUNC:
		err = check_ref(p, id, t.size_or_type, "prototype");
		if (!err && type_kind(btf, t.size_or_type) != BTF_RAW_FUNC_PROTO)
			err = fail(p, -EINVAL, "type %u: FUNC of type %u, a %s", id,
				   t.size_or_type, kind_name(type_kind(btf, t.size_or_type)));
		return err;
	case BTF_RAW_FUNC_PROTO:
		return refs_func_proto(p, id, &t);
	case BTF_RAW_VAR:
		return check_ref_to_type(p, id, t.size_or_type, "variable type");
	case BTF_RAW_DATASEC:
		return refs_datasec(p, id, &t);
	case BTF_RAW_DECL_TAG:
		return refs_decl_tag(p, id, &t);
	}
	return 0;	/* INT, ENUM, ENUM64, FWD, FLOAT refer to nothing */
}

/* ------------------------------------------------------------------------
 * Pass 4: typedef/modifier/array chains
 */

static bool kind_chains(unsigned int kind)
{
	return kind_is_modifier(kind) || kind == BTF_RAW_ARRAY;
}

static uint32_t chain_next(const struct btf *btf, uint32_t id, const struct btf_raw_type *t)
{
	return kind_of(t) == BTF_RAW_ARRAY ? type_array(btf, id).type : t->size_or_type;
}

/*
 * Records in vt[].chain how many links the chain from each type has, so each
 * type is walked once.  A pointer ends a chain: pointer cycles are how C
 * spells a linked list.
 */
static int check_chain(struct parser *p, uint32_t start)
{
	uint32_t path[BTF_RAW_MAX_DEPTH];
	unsigned int n = 0, links = 0;
	uint32_t id = start;

	for (;;) {
		struct btf_raw_type t = type_hdr(p->btf, id);
		uint8_t known = p->vt[id].chain;

		if (!kind_chains(kind_of(&t)))
			break;
		if (known == CHAIN_ACTIVE)
			return fail(p, -EINVAL,
				    "type %u: typedef/modifier/array chain loops at type %u",
				    start, id);
		if (known) {
			links = known;
			break;
		}
		if (n == BTF_RAW_MAX_DEPTH)
			return fail(p, -EINVAL,
				    "type %u: typedef/modifier/array chain is longer than %d",
				    start, BTF_RAW_MAX_DEPTH);
		p->vt[id].chain = CHAIN_ACTIVE;
		path[n++] = id;
		id = chain_next(p->btf, id, &t);
	}
	while (n--) {
		if (++links > BTF_RAW_MAX_DEPTH)
			return fail(p, -EINVAL,
				    "type %u: typedef/modifier/array chain is longer than %d",
				    start, BTF_RAW_MAX_DEPTH);
		p->vt[path[n]].chain = (uint8_t)links;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Pass 5: sizes, member placement, nesting
 */

/* Whether a member of @nbits bits at bit @bit_off lies inside @size bytes. */
static bool bits_fit(uint64_t bit_off, uint64_t nbits, uint32_t size)
{
	uint64_t byte = bit_off / 8, copy_bits = nbits + bit_off % 8;

	return copy_bits <= 128 && byte <= size && size - byte >= (copy_bits + 7) / 8;
}

struct member_ctx {
	uint32_t id;		/* the struct or union */
	uint32_t index;
	uint32_t size;
	uint64_t bit_off;
	uint32_t bitfield;	/* width, if kind_flag says it is a bitfield; else 0 */
	bool kflag;
};

static int member_runs_past(struct parser *p, const struct member_ctx *c)
{
	return fail(p, -EINVAL, "type %u: member %u runs past the end of the %u-byte %s", c->id,
		    c->index, c->size, kind_name(type_kind(p->btf, c->id)));
}

static int check_int_member(struct parser *p, const struct member_ctx *c, uint32_t int_id)
{
	uint32_t data = type_u32(p->btf, int_id);
	uint64_t bit_off = c->bit_off, nbits = BTF_RAW_INT_BITS(data);

	if (!c->kflag) {
		/* The old encoding puts the bitfield in the INT itself. */
		bit_off += BTF_RAW_INT_OFFSET(data);
	} else if (!int_is_regular(data)) {
		return fail(p, -EINVAL, "type %u: member %u: kind_flag member of irregular INT %u",
			    c->id, c->index, int_id);
	} else if (!c->bitfield) {
		if (bit_off % 8)
			return fail(p, -EINVAL, "type %u: member %u is not byte-aligned", c->id,
				    c->index);
	} else if (c->bitfield > nbits) {
		return fail(p, -EINVAL, "type %u: member %u: %u-bit bitfield of a %u-bit INT",
			    c->id, c->index, c->bitfield, (unsigned int)nbits);
	} else {
		nbits = c->bitfield;
	}
	return bits_fit(bit_off, nbits, c->size) ? 0 : member_runs_past(p, c);
}

static int check_member(struct parser *p, uint32_t id, const struct btf_raw_type *st, uint32_t i)
{
	struct btf_raw_member m = type_member(p->btf, id, i);
	struct member_ctx c = {
		.id = id, .index = i, .size = st->size_or_type,
		.kflag = BTF_RAW_INFO_KFLAG(st->info),
	};
	struct btf_raw_type ut;
	uint32_t under;
	uint64_t size;
	int err;

	c.bit_off = c.kflag ? BTF_RAW_MEMBER_BIT_OFFSET(m.offset) : m.offset;
	c.bitfield = c.kflag ? BTF_RAW_MEMBER_BITFIELD_SIZE(m.offset) : 0;
	err = strip_modifiers(p->btf, m.type, &under);
	if (err)
		return fail(p, err, "type %u: member %u: unresolvable type", id, i);
	ut = type_hdr(p->btf, under);
	switch (kind_of(&ut)) {
	case BTF_RAW_INT:
		return check_int_member(p, &c, under);
	case BTF_RAW_ENUM:
	case BTF_RAW_ENUM64:
		if (c.bitfield) {
			if (c.bitfield > 8ull * ut.size_or_type)
				return fail(p, -EINVAL,
					    "type %u: member %u: %u-bit bitfield of a %u-byte enum",
					    id, i, c.bitfield, ut.size_or_type);
			if (!bits_fit(c.bit_off, c.bitfield, c.size))
				return member_runs_past(p, &c);
			return 0;
		}
		break;
	case BTF_RAW_PTR:
	case BTF_RAW_ARRAY:
	case BTF_RAW_STRUCT:
	case BTF_RAW_UNION:
	case BTF_RAW_FLOAT:
		if (c.bitfield)
			return fail(p, -EINVAL, "type %u: member %u: bitfield of a %s", id, i,
				    kind_name(kind_of(&ut)));
		break;
	default:
		return fail(p, -EINVAL, "type %u: member %u is type %u, a %s, which has no size",
			    id, i, m.type, kind_name(kind_of(&ut)));
	}
	if (c.bit_off % 8)
		return fail(p, -EINVAL, "type %u: member %u is not byte-aligned", id, i);
	err = resolve_size(p->btf, under, &size);
	if (err)
		return fail(p, -EINVAL, "type %u: member %u: type %u has no size", id, i, m.type);
	if (c.bit_off / 8 + size > c.size)
		return member_runs_past(p, &c);
	return 0;
}

static int sizes_array(struct parser *p, uint32_t id)
{
	struct btf_raw_array a = type_array(p->btf, id);
	struct btf_raw_type it;
	uint32_t index;
	uint64_t size;
	int err;

	if (strip_modifiers(p->btf, a.index_type, &index))
		return fail(p, -EINVAL, "type %u: unresolvable index type", id);
	it = type_hdr(p->btf, index);
	if (kind_of(&it) != BTF_RAW_INT || !int_is_regular(type_u32(p->btf, index)))
		return fail(p, -EINVAL, "type %u: index type %u is not a plain INT", id,
			    a.index_type);
	/* Element first, so an overflow deeper down is blamed on its own array. */
	err = resolve_size(p->btf, a.type, &size);
	if (err == -EOVERFLOW)
		return 0;
	if (err)
		return fail(p, -EINVAL, "type %u: element type %u has no size", id, a.type);
	if (size * a.nelems > UINT32_MAX)
		return fail(p, -EINVAL, "type %u: %u elements of %llu bytes overflow", id,
			    a.nelems, (unsigned long long)size);
	return 0;
}

static int sizes_datasec(struct parser *p, uint32_t id, const struct btf_raw_type *t)
{
	for (uint32_t i = 0; i < BTF_RAW_INFO_VLEN(t->info); i++) {
		struct btf_raw_secinfo s = type_secinfo(p->btf, id, i);
		struct btf_raw_type var = type_hdr(p->btf, s.type);
		uint64_t size;

		if (resolve_size(p->btf, var.size_or_type, &size))
			return fail(p, -EINVAL, "type %u: variable %u has no size", id, i);
		if (size > s.size)
			return fail(p, -EINVAL,
				    "type %u: variable %u of %llu bytes in a %u-byte slot",
				    id, i, (unsigned long long)size, s.size);
	}
	return 0;
}

static int check_sizes(struct parser *p, uint32_t id)
{
	struct btf_raw_type t = type_hdr(p->btf, id);
	uint64_t size;
	int err = 0;

	switch (kind_of(&t)) {
	case BTF_RAW_ARRAY:
		return sizes_array(p, id);
	case BTF_RAW_STRUCT:
	case BTF_RAW_UNION:
		for (uint32_t i = 0; !err && i < BTF_RAW_INFO_VLEN(t.info); i++)
			err = check_member(p, id, &t, i);
		return err;
	case BTF_RAW_VAR:
		if (resolve_size(p->btf, t.size_or_type, &size))
			return fail(p, -EINVAL, "type %u: VAR of type %u, which has no size", id,
				    t.size_or_type);
		return 0;
	case BTF_RAW_DATASEC:
		return sizes_datasec(p, id, &t);
	}
	return 0;
}

struct nest_frame {
	uint32_t id;
	uint32_t next;		/* member to look at next */
	uint32_t flat;		/* member records a search reads so far */
	uint8_t nest;
};

/* The explicit stack is the nesting limit. */
struct nest_walk {
	struct nest_frame stack[BTF_RAW_MAX_DEPTH];
	unsigned int top;
	uint32_t root;
};

static void nest_push(struct parser *p, struct nest_walk *w, uint32_t id)
{
	p->vt[id].state = NEST_ACTIVE;
	w->stack[w->top++] = (struct nest_frame){ .id = id, .nest = 1 };
}

static void nest_pop(struct parser *p, struct nest_walk *w)
{
	const struct nest_frame *f = &w->stack[--w->top];

	p->vt[f->id].state = NEST_DONE;
	p->vt[f->id].nest = f->nest;
	p->vt[f->id].flat = f->flat;
}

/*
 * Looks at the top frame's next member.  If it embeds an aggregate not seen
 * yet, that goes on the stack and this member is looked at again once it is
 * done; otherwise the member is accounted for and the frame moves on.
 */
static int nest_step(struct parser *p, struct nest_walk *w)
{
	struct nest_frame *f = &w->stack[w->top - 1];
	struct btf_raw_member m = type_member(p->btf, f->id, f->next);
	const struct vtype *cv;
	uint32_t child;

	if (strip_to_element(p->btf, m.type, &child))
		return fail(p, -EINVAL, "type %u: unresolvable member", f->id);
	if (kind_is_aggregate(type_kind(p->btf, child))) {
		cv = &p->vt[child];
		if (cv->state == NEST_ACTIVE)
			return fail(p, -EINVAL, "type %u: contains itself by value (via type %u)",
				    child, f->id);
		if (cv->state == NEST_NEW) {
			if (w->top == BTF_RAW_MAX_DEPTH)
				return fail(p, -EINVAL,
					    "type %u: structs nested by value more than %d deep",
					    w->root, BTF_RAW_MAX_DEPTH);
			nest_push(p, w, child);
			return 0;
		}
		if (cv->nest >= BTF_RAW_MAX_DEPTH)
			return fail(p, -EINVAL,
				    "type %u: structs nested by value more than %d deep",
				    f->id, BTF_RAW_MAX_DEPTH);
		if (cv->nest + 1 > f->nest)
			f->nest = cv->nest + 1;
	}
	f->flat++;
	/* Only an unnamed member is searched into; it strips to the same child. */
	if (anon_aggregate(p->btf, &m))
		f->flat += p->vt[child].flat;
	if (f->flat > BTF_MAX_FLAT_MEMBERS)
		return fail(p, -EINVAL, "type %u: anonymous members expand to over %u members",
			    f->id, BTF_MAX_FLAT_MEMBERS);
	f->next++;
	return 0;
}

/*
 * Depth-first over by-value containment from aggregate @root: a struct that
 * reaches itself again (directly, through arrays or other aggregates) has no
 * finite size.  On the way it totals how many member records a search that
 * descends into anonymous members would read, which bounds
 * btf_member_offset().
 */
static int check_nesting(struct parser *p, uint32_t root)
{
	struct nest_walk w = { .root = root };
	int err = 0;

	nest_push(p, &w, root);
	while (!err && w.top) {
		const struct nest_frame *f = &w.stack[w.top - 1];

		if (f->next == BTF_RAW_INFO_VLEN(type_hdr(p->btf, f->id).info))
			nest_pop(p, &w);
		else
			err = nest_step(p, &w);
	}
	return err;
}

static int check_types(struct parser *p)
{
	const uint32_t nr = p->btf->nr_types;
	int err = 0;

	p->vt = calloc((size_t)nr + 1, sizeof(*p->vt));
	if (!p->vt)
		return fail(p, -ENOMEM, "out of memory for validation");
	for (uint32_t id = 1; !err && id <= nr; id++)
		err = check_refs(p, id);
	for (uint32_t id = 1; !err && id <= nr; id++)
		err = check_chain(p, id);
	for (uint32_t id = 1; !err && id <= nr; id++)
		err = check_sizes(p, id);
	for (uint32_t id = 1; !err && id <= nr; id++)
		if (kind_is_aggregate(type_kind(p->btf, id)) && p->vt[id].state == NEST_NEW)
			err = check_nesting(p, id);
	return err;
}

/* ------------------------------------------------------------------------
 * Public
 */

void btf_free(struct btf *btf)
{
	if (!btf)
		return;
	free(btf->type_offs);
	free(btf->data);
	free(btf);
}

/*
 * The header is read twice: once from @data to size the copy and once from
 * the copy, which is the only one trusted.  If the guest changes it in
 * between, the copy is checked against itself like any other input.
 */
static int parse_copy(struct parser *p, const void *data, size_t len)
{
	struct btf *btf = p->btf;
	struct btf_raw_header h;
	uint64_t total;
	int err;

	err = parse_header(p, data, len, &h, &total);
	if (err)
		return err;
	btf->data = malloc(total);
	if (!btf->data)
		return fail(p, -ENOMEM, "out of memory for a %llu-byte copy",
			    (unsigned long long)total);
	memcpy(btf->data, data, total);
	err = parse_header(p, btf->data, total, &h, &total);
	if (err)
		return err;
	btf->size = total;
	btf->types = btf->data + h.hdr_len + h.type_off;
	btf->types_len = h.type_len;
	err = parse_strings(p, &h);
	if (!err)
		err = index_types(p);
	if (!err)
		err = check_types(p);
	return err;
}

int btf_parse(const void *data, size_t len, struct btf **out, char *why, size_t why_len)
{
	struct parser p = { .why = why, .why_len = why_len };
	int err;

	if (why && why_len)
		why[0] = '\0';
	if (!out)
		return fail(&p, -EINVAL, "no result pointer");
	*out = NULL;
	if (!data)
		return fail(&p, -EINVAL, "no data");
	p.btf = calloc(1, sizeof(*p.btf));
	if (!p.btf)
		return fail(&p, -ENOMEM, "out of memory");
	err = parse_copy(&p, data, len);
	free(p.vt);
	if (err) {
		btf_free(p.btf);
		return err;
	}
	*out = p.btf;
	return 0;
}

size_t btf_size(const struct btf *btf)
{
	return btf ? btf->size : 0;
}

uint32_t btf_nr_types(const struct btf *btf)
{
	return btf ? btf->nr_types : 0;
}

static bool id_ok(const struct btf *btf, uint32_t id)
{
	return btf && id <= btf->nr_types;
}

int btf_type_kind(const struct btf *btf, uint32_t type_id)
{
	return id_ok(btf, type_id) ? (int)type_kind(btf, type_id) : -EINVAL;
}

const char *btf_type_name(const struct btf *btf, uint32_t type_id)
{
	if (!id_ok(btf, type_id))
		return NULL;
	return type_id ? str_at(btf, type_hdr(btf, type_id).name_off) : "";
}

static bool name_is(const struct btf *btf, const struct btf_raw_type *t, const char *name)
{
	return !strcmp(str_at(btf, t->name_off), name);
}

int btf_find_struct(const struct btf *btf, const char *name, uint32_t *type_id)
{
	if (!btf || !name || !name[0] || !type_id)
		return -EINVAL;
	for (uint32_t id = 1; id <= btf->nr_types; id++) {
		struct btf_raw_type t = type_hdr(btf, id);

		if (kind_of(&t) == BTF_RAW_STRUCT && t.size_or_type && name_is(btf, &t, name)) {
			*type_id = id;
			return 0;
		}
	}
	return -ENOENT;
}

int btf_type_size(const struct btf *btf, uint32_t type_id, uint64_t *size)
{
	if (!id_ok(btf, type_id) || !type_id || !size)
		return -EINVAL;
	return resolve_size(btf, type_id, size) ? -EINVAL : 0;
}

/* Where a member the caller named starts, if it is a whole number of bytes in. */
static int member_byte_offset(const struct btf *btf, bool kflag, const struct btf_raw_member *m,
			      uint64_t *bytes)
{
	uint32_t bit_off = kflag ? BTF_RAW_MEMBER_BIT_OFFSET(m->offset) : m->offset;
	uint32_t under;

	if (kflag && BTF_RAW_MEMBER_BITFIELD_SIZE(m->offset))
		return -EINVAL;
	if (strip_modifiers(btf, m->type, &under))
		return -EINVAL;
	if (!kflag && type_kind(btf, under) == BTF_RAW_INT) {
		uint32_t data = type_u32(btf, under);

		if (BTF_RAW_INT_OFFSET(data) ||
		    BTF_RAW_INT_BITS(data) != 8ull * type_hdr(btf, under).size_or_type)
			return -EINVAL;
	}
	if (bit_off % 8)
		return -EINVAL;
	*bytes = bit_off / 8;
	return 0;
}

/* Recursion is bounded by the nesting depth btf_parse() checked. */
static int find_member(const struct btf *btf, uint32_t id, const char *name, uint64_t base,
		       int depth, uint64_t *offset, uint32_t *member_type)
{
	struct btf_raw_type t = type_hdr(btf, id);
	bool kflag = BTF_RAW_INFO_KFLAG(t.info);

	if (depth > BTF_RAW_MAX_DEPTH)
		return -ELOOP;
	for (uint32_t i = 0; i < BTF_RAW_INFO_VLEN(t.info); i++) {
		struct btf_raw_member m = type_member(btf, id, i);
		uint32_t anon;
		uint64_t bytes;
		int err;

		if (str_at(btf, m.name_off)[0]) {
			if (strcmp(str_at(btf, m.name_off), name))
				continue;
			err = member_byte_offset(btf, kflag, &m, &bytes);
			if (err)
				return err;
			*offset = base + bytes;
			if (member_type)
				*member_type = m.type;
			return 0;
		}
		anon = anon_aggregate(btf, &m);
		if (!anon || member_byte_offset(btf, kflag, &m, &bytes))
			continue;
		err = find_member(btf, anon, name, base + bytes, depth + 1, offset, member_type);
		if (err != -ENOENT)
			return err;
	}
	return -ENOENT;
}

int btf_member_offset(const struct btf *btf, uint32_t type_id, const char *name,
		      uint64_t *offset, uint32_t *member_type)
{
	uint32_t id;

	if (!id_ok(btf, type_id) || !name || !name[0] || !offset)
		return -EINVAL;
	if (strip_modifiers(btf, type_id, &id) || !kind_is_aggregate(type_kind(btf, id)))
		return -EINVAL;
	return find_member(btf, id, name, 0, 0, offset, member_type);
}

int btf_datasec_var(const struct btf *btf, const char *datasec, const char *var,
		    uint64_t *offset, uint32_t *type_id)
{
	if (!btf || !datasec || !var || !offset || !type_id)
		return -EINVAL;
	for (uint32_t id = 1; id <= btf->nr_types; id++) {
		struct btf_raw_type t = type_hdr(btf, id);

		if (kind_of(&t) != BTF_RAW_DATASEC || !name_is(btf, &t, datasec))
			continue;
		for (uint32_t i = 0; i < BTF_RAW_INFO_VLEN(t.info); i++) {
			struct btf_raw_secinfo s = type_secinfo(btf, id, i);
			struct btf_raw_type v = type_hdr(btf, s.type);

			if (name_is(btf, &v, var)) {
				*offset = s.offset;
				*type_id = v.size_or_type;
				return 0;
			}
		}
	}
	return -ENOENT;
}

bool btf_is_ptr_to_struct(const struct btf *btf, uint32_t type_id, const char *name)
{
	struct btf_raw_type t;
	uint32_t id;

	if (!id_ok(btf, type_id) || !name || strip_modifiers(btf, type_id, &id))
		return false;
	t = type_hdr(btf, id);
	if (kind_of(&t) != BTF_RAW_PTR || strip_modifiers(btf, t.size_or_type, &id))
		return false;
	t = type_hdr(btf, id);
	if (kind_of(&t) == BTF_RAW_FWD && BTF_RAW_INFO_KFLAG(t.info))
		return false;	/* a union's forward declaration */
	return (kind_of(&t) == BTF_RAW_STRUCT || kind_of(&t) == BTF_RAW_FWD) &&
	       name_is(btf, &t, name);
}
