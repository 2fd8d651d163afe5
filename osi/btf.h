/* SPDX-License-Identifier: MIT */
/*
 * A guest kernel's base BTF (the vmlinux ".BTF" section), read out of guest
 * memory and therefore hostile until btf_parse() has validated all of it.
 *
 * btf_parse() takes a private copy first and validates only the copy, so a
 * guest that rewrites the blob while it is being read cannot make the lookups
 * see something other than what was checked.  After a successful parse every
 * lookup is bounded: type chains are at most BTF_RAW_MAX_DEPTH long, by-value
 * struct nesting is at most BTF_RAW_MAX_DEPTH deep, and a member search reads
 * at most BTF_MAX_FLAT_MEMBERS member records.
 *
 * The on-disk format is include/uapi/linux/btf.h; its structs are redefined
 * here (prefixed btf_raw_ so the two can coexist).  BTF is in the byte order
 * of the kernel that produced it; x86-64 guests are little-endian and so must
 * the host be: the parser reads the fields natively.
 */
#ifndef VMIOP_OSI_BTF_H
#define VMIOP_OSI_BTF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "osi/btf reads little-endian BTF natively and needs a little-endian host"
#endif

#define BTF_RAW_MAGIC		0xeB9F
#define BTF_RAW_VERSION		1
#define BTF_RAW_MAX_SIZE	(16u << 20)	/* the kernel's BTF_MAX_SIZE */
#define BTF_RAW_MAX_TYPE	0xfffffu	/* highest type id */
#define BTF_RAW_MAX_DEPTH	32		/* the kernel's MAX_RESOLVE_DEPTH */
#define BTF_RAW_PTR_SIZE	8		/* x86-64 guests only */

/* Most member records one btf_member_offset() call may read (see btf_parse()). */
#define BTF_MAX_FLAT_MEMBERS	(1u << 20)

enum btf_raw_kind {
	BTF_RAW_INT = 1,
	BTF_RAW_PTR,
	BTF_RAW_ARRAY,
	BTF_RAW_STRUCT,
	BTF_RAW_UNION,
	BTF_RAW_ENUM,
	BTF_RAW_FWD,
	BTF_RAW_TYPEDEF,
	BTF_RAW_VOLATILE,
	BTF_RAW_CONST,
	BTF_RAW_RESTRICT,
	BTF_RAW_FUNC,
	BTF_RAW_FUNC_PROTO,
	BTF_RAW_VAR,
	BTF_RAW_DATASEC,
	BTF_RAW_FLOAT,
	BTF_RAW_DECL_TAG,
	BTF_RAW_TYPE_TAG,
	BTF_RAW_ENUM64,			/* the last kind Linux 6.1 knows */
	BTF_RAW_KIND_MAX = BTF_RAW_ENUM64,
};

/* btf_raw_type.info: vlen in bits 0-15, kind in 24-28, kind_flag in 31; the rest is reserved. */
#define BTF_RAW_INFO(kind, kflag, vlen) \
	(((uint32_t)(kflag) << 31) | ((uint32_t)(kind) << 24) | ((uint32_t)(vlen) & 0xffff))
#define BTF_RAW_INFO_KIND(info)		(((info) >> 24) & 0x1f)
#define BTF_RAW_INFO_VLEN(info)		((info) & 0xffff)
#define BTF_RAW_INFO_KFLAG(info)	((info) >> 31)
#define BTF_RAW_INFO_MASK		0x9f00ffffu

/* The u32 after an INT. */
#define BTF_RAW_INT_ENCODING(v)		(((v) >> 24) & 0x0f)
#define BTF_RAW_INT_OFFSET(v)		(((v) >> 16) & 0xff)
#define BTF_RAW_INT_BITS(v)		((v) & 0xff)
#define BTF_RAW_INT_MASK		0x0fffffffu	/* bits 8-15 are unused but not refused */
#define BTF_RAW_INT_SIGNED		1
#define BTF_RAW_INT_CHAR		2
#define BTF_RAW_INT_BOOL		4

/* btf_raw_member.offset of a struct/union whose kind_flag is set. */
#define BTF_RAW_MEMBER_BITFIELD_SIZE(off)	((off) >> 24)
#define BTF_RAW_MEMBER_BIT_OFFSET(off)		((off) & 0xffffff)

struct btf_raw_header {
	uint16_t magic;
	uint8_t version;
	uint8_t flags;
	uint32_t hdr_len;
	uint32_t type_off;	/* offsets count from the end of the header */
	uint32_t type_len;
	uint32_t str_off;
	uint32_t str_len;
};

struct btf_raw_type {
	uint32_t name_off;
	uint32_t info;
	uint32_t size_or_type;	/* a size for INT, ENUM*, STRUCT, UNION, DATASEC, FLOAT */
};

struct btf_raw_array {
	uint32_t type;
	uint32_t index_type;
	uint32_t nelems;
};

struct btf_raw_member {
	uint32_t name_off;
	uint32_t type;
	uint32_t offset;	/* in bits; see BTF_RAW_MEMBER_* when kind_flag is set */
};

struct btf_raw_enum {
	uint32_t name_off;
	int32_t val;
};

struct btf_raw_enum64 {
	uint32_t name_off;
	uint32_t val_lo32;
	uint32_t val_hi32;
};

struct btf_raw_param {
	uint32_t name_off;
	uint32_t type;
};

struct btf_raw_var {
	uint32_t linkage;
};

struct btf_raw_secinfo {
	uint32_t type;
	uint32_t offset;
	uint32_t size;
};

struct btf_raw_decl_tag {
	int32_t component_idx;
};

struct btf;	/* opaque; owns a private copy of the blob */

/*
 * Parses and fully validates a *base* BTF blob at @data.  @len may be longer
 * than the BTF: the header says how long it is, and btf_size() tells.
 * Returns 0 and sets *out, or (with *out set to NULL):
 *   -EINVAL  malformed (or a NULL @data or @out);
 *   -E2BIG   the header claims more than BTF_RAW_MAX_SIZE bytes, or there are
 *            more than BTF_RAW_MAX_TYPE types;
 *   -ENOMEM.
 * On failure *why, if @why is non-NULL and @why_len is not 0, gets a one-line
 * reason of at most @why_len bytes including the NUL, e.g. "type 1234: vlen 9
 * runs past the type section"; on success it gets "".
 * Memory use is bounded by a small multiple of BTF_RAW_MAX_SIZE whatever the
 * input.
 */
int btf_parse(const void *data, size_t len, struct btf **out, char *why, size_t why_len);
void btf_free(struct btf *btf);

/* Bytes of the blob the BTF occupies: header plus sections. */
size_t btf_size(const struct btf *btf);

/* Number of types, not counting void (id 0); ids run from 1 to this. */
uint32_t btf_nr_types(const struct btf *btf);

/* The kind (enum btf_raw_kind) of @type_id, or -EINVAL.  Void is 0. */
int btf_type_kind(const struct btf *btf, uint32_t type_id);

/*
 * The name of @type_id ("" if anonymous), or NULL for an id past the end.
 * It points into @btf and lives until btf_free().
 */
const char *btf_type_name(const struct btf *btf, uint32_t type_id);

/*
 * The first STRUCT named @name with a size above 0, skipping FWDs and empty
 * duplicates.  0, -ENOENT, or -EINVAL for bad arguments.
 */
int btf_find_struct(const struct btf *btf, const char *name, uint32_t *type_id);

/*
 * The size of @type_id, through typedefs, modifiers and arrays.  A pointer is
 * BTF_RAW_PTR_SIZE.  -EINVAL for void, FWD, FUNC, FUNC_PROTO, VAR, DECL_TAG or
 * a bad id.
 */
int btf_type_size(const struct btf *btf, uint32_t type_id, uint64_t *size);

/*
 * The byte offset of member @name in the struct or union @type_id (typedefs
 * and modifiers are looked through), searching anonymous struct/union members
 * in declaration order and adding their offsets.  *member_type (if non-NULL)
 * gets the member's type id.  -ENOENT if there is no such member; -EINVAL for
 * bad arguments, a @type_id that is not a struct or union, or a member that is
 * a bitfield or does not start on a byte.
 */
int btf_member_offset(const struct btf *btf, uint32_t type_id, const char *name,
		      uint64_t *offset, uint32_t *member_type);

/*
 * The offset in DATASEC @datasec (e.g. ".data..percpu") of VAR @var (e.g.
 * "current_task"), and the VAR's type.  0, -ENOENT, or -EINVAL for bad
 * arguments.
 */
int btf_datasec_var(const struct btf *btf, const char *datasec, const char *var,
		    uint64_t *offset, uint32_t *type_id);

/*
 * Is @type_id, through typedefs and modifiers, a pointer to (possibly
 * qualified or typedef'd) struct @name?  A struct FWD of that name counts.
 */
bool btf_is_ptr_to_struct(const struct btf *btf, uint32_t type_id, const char *name);

#endif /* VMIOP_OSI_BTF_H */
