// SPDX-License-Identifier: GPL-2.0 OR MIT
/* A bounds-checked reader of base and split BTF (see kbtf.h). */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/string.h>
#else
#include <errno.h>
#include <string.h>
#endif
#include "kbtf.h"

/* How far a chain of typedefs and qualifiers, or nested arrays, may go. */
#define KBTF_MAX_CHAIN 32

/* Bytes that follow a struct btf_type of this kind; -1 for an unknown kind. */
static long kbtf_extra(const struct btf_type *t)
{
	u32 vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return (long)vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return (long)vlen * sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * sizeof(struct btf_param);
	case BTF_KIND_DATASEC:
		return (long)vlen * sizeof(struct btf_var_secinfo);
	case BTF_KIND_ENUM64:
		return (long)vlen * sizeof(struct btf_enum64);
	}
	return -1;
}

int kbtf_parse(struct kbtf *b, const void *data, size_t size, const struct kbtf *base,
	       u32 *index, u32 cap)
{
	const struct btf_header *h = data;
	const u8 *body;
	size_t avail;
	u32 off, n = 0;

	memset(b, 0, sizeof(*b));
	if (size < sizeof(*h) || h->magic != BTF_MAGIC || h->version != BTF_VERSION ||
	    h->hdr_len < sizeof(*h) || h->hdr_len % 4 || h->hdr_len > size)
		return -EINVAL;
	body = (const u8 *)data + h->hdr_len;
	avail = size - h->hdr_len;
	if (h->type_off % 4 || h->type_off > avail || h->type_len > avail - h->type_off ||
	    h->str_off > avail || h->str_len > avail - h->str_off)
		return -EINVAL;
	b->types = body + h->type_off;
	b->types_len = h->type_len;
	b->strs = (const char *)body + h->str_off;
	b->strs_len = h->str_len;
	/* Every string ends inside the section; base BTF's offset 0 is "". */
	if (b->strs_len && b->strs[b->strs_len - 1])
		return -EINVAL;
	if (!base && (!b->strs_len || b->strs[0]))
		return -EINVAL;
	b->base = base;
	b->first_id = base ? base->first_id + base->nr : 1;
	b->first_str = base ? base->first_str + base->strs_len : 0;

	for (off = 0; off < b->types_len;) {
		const struct btf_type *t = (const struct btf_type *)(b->types + off);
		long extra;

		if (b->types_len - off < sizeof(*t))
			return -EINVAL;
		extra = kbtf_extra(t);
		if (extra < 0 || (u64)extra > b->types_len - off - sizeof(*t))
			return -EINVAL;
		if (index) {
			if (n == cap)
				return -ENOSPC;
			index[n] = off;
		}
		n++;
		off += sizeof(*t) + (u32)extra;
	}
	b->nr = n;
	b->index = index;
	return 0;
}

const struct btf_type *kbtf_type(const struct kbtf *b, u32 id)
{
	for (; b; b = b->base) {
		if (id >= b->first_id) {
			if (id - b->first_id >= b->nr || !b->index)
				return NULL;
			return (const struct btf_type *)(b->types + b->index[id - b->first_id]);
		}
	}
	return NULL;
}

const char *kbtf_str(const struct kbtf *b, u32 off)
{
	for (; b; b = b->base) {
		if (off >= b->first_str) {
			if (off - b->first_str >= b->strs_len)
				return NULL;
			return b->strs + (off - b->first_str);
		}
	}
	return NULL;
}

static bool kbtf_named(const struct kbtf *b, const struct btf_type *t, const char *name)
{
	const char *s = kbtf_str(b, t->name_off);

	return s && !strcmp(s, name);
}

u32 kbtf_find(const struct kbtf *b, u32 kind, const char *name)
{
	const struct kbtf *in;
	u32 i;

	for (in = b; in; in = in->base) {
		if (!in->index)
			return 0;
		for (i = 0; i < in->nr; i++) {
			const struct btf_type *t =
				(const struct btf_type *)(in->types + in->index[i]);

			/* Names resolve through @b: a split blob names base strings. */
			if (BTF_INFO_KIND(t->info) == kind && kbtf_named(b, t, name))
				return in->first_id + i;
		}
	}
	return 0;
}

int kbtf_member(const struct kbtf *b, u32 id, const char *name, u32 *offset, u32 *type)
{
	const struct btf_type *t = kbtf_type(b, id);
	const struct btf_member *m;
	u32 i, kind;

	if (!t)
		return -ENOENT;
	kind = BTF_INFO_KIND(t->info);
	if (kind != BTF_KIND_STRUCT && kind != BTF_KIND_UNION)
		return -ENOENT;
	m = (const struct btf_member *)(t + 1);
	for (i = 0; i < BTF_INFO_VLEN(t->info); i++, m++) {
		u32 bits = m->offset;

		if (!kbtf_str(b, m->name_off) || strcmp(kbtf_str(b, m->name_off), name))
			continue;
		if (BTF_INFO_KFLAG(t->info)) {
			if (BTF_MEMBER_BITFIELD_SIZE(bits))
				return -ENOENT;
			bits = BTF_MEMBER_BIT_OFFSET(bits);
		}
		if (bits % 8)
			return -ENOENT;
		*offset = bits / 8;
		*type = m->type;
		return 0;
	}
	return -ENOENT;
}

u32 kbtf_resolve(const struct kbtf *b, u32 id)
{
	int i;

	for (i = 0; i < KBTF_MAX_CHAIN; i++) {
		const struct btf_type *t = kbtf_type(b, id);

		if (!t)
			return 0;
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_TYPEDEF:
		case BTF_KIND_VOLATILE:
		case BTF_KIND_CONST:
		case BTF_KIND_RESTRICT:
		case BTF_KIND_TYPE_TAG:
			id = t->type;
			break;
		default:
			return id;
		}
	}
	return 0;
}

u32 kbtf_size(const struct kbtf *b, u32 id)
{
	u64 mult = 1;
	int i;

	for (i = 0; i < KBTF_MAX_CHAIN; i++) {
		const struct btf_type *t = kbtf_type(b, kbtf_resolve(b, id));
		const struct btf_array *a;

		if (!t)
			return 0;
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_INT:
		case BTF_KIND_ENUM:
		case BTF_KIND_ENUM64:
		case BTF_KIND_STRUCT:
		case BTF_KIND_UNION:
			mult *= t->size;
			return mult > 0xffffffffu ? 0 : (u32)mult;
		case BTF_KIND_PTR:
			mult *= 8;	/* x86-64 */
			return mult > 0xffffffffu ? 0 : (u32)mult;
		case BTF_KIND_ARRAY:
			a = (const struct btf_array *)(t + 1);
			mult *= a->nelems;
			if (mult > 0xffffffffu)
				return 0;
			id = a->type;
			break;
		default:
			return 0;
		}
	}
	return 0;
}

bool kbtf_is_struct(const struct kbtf *b, u32 id, const char *name)
{
	const struct btf_type *t = kbtf_type(b, kbtf_resolve(b, id));

	return t && BTF_INFO_KIND(t->info) == BTF_KIND_STRUCT && kbtf_named(b, t, name);
}

bool kbtf_is_ptr_to_struct(const struct kbtf *b, u32 id, const char *name)
{
	const struct btf_type *t = kbtf_type(b, kbtf_resolve(b, id));

	return t && BTF_INFO_KIND(t->info) == BTF_KIND_PTR && kbtf_is_struct(b, t->type, name);
}
