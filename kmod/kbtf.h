/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A reader of the running kernel's own BTF (/sys/kernel/btf/vmlinux and a
 * module's split BTF on top of it), for the layouts of KVM's private
 * structures: which offset a member has, what type it is.  Shared verbatim
 * by the module (kmod/layout.c) and the host unit tests, which run it on
 * the BTF of Debian's kvm*.ko files.
 *
 * Every offset and id is checked against the blob's bounds before use: a
 * blob that is cut short or inconsistent is rejected, not read past.
 */
#ifndef VMIOP_KBTF_H
#define VMIOP_KBTF_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <uapi/linux/btf.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/btf.h>
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef int32_t s32;
typedef uint64_t u64;
#endif

struct kbtf {
	const u8 *types;	/* the type section */
	u32 types_len;
	const char *strs;	/* the string section */
	u32 strs_len;
	const u32 *index;	/* offset in types of each own type, nr of them */
	u32 nr;
	u32 first_id;		/* id of the first own type: 1, or after the base's */
	u32 first_str;		/* string offsets below it are the base's */
	const struct kbtf *base;
};

/*
 * Parses @size bytes of BTF at @data: base BTF when @base is NULL, else
 * split BTF on top of @base (a module's).  With @index NULL it only counts
 * the types into b->nr, for the caller to allocate @index (b->nr u32s) and
 * call again.  0, or -EINVAL for a malformed blob, -ENOSPC when @cap is
 * too small.  @data and @index must outlive @b.
 */
int kbtf_parse(struct kbtf *b, const void *data, size_t size, const struct kbtf *base,
	       u32 *index, u32 cap);

/* The type with @id (in @b or its base), NULL if there is none. */
const struct btf_type *kbtf_type(const struct kbtf *b, u32 id);

/* The string at @off (in @b or its base), NULL if out of bounds. */
const char *kbtf_str(const struct kbtf *b, u32 off);

/* The id of the first type of @kind named @name, own types first; 0 if none. */
u32 kbtf_find(const struct kbtf *b, u32 kind, const char *name);

/*
 * Member @name of struct/union @id: its offset in bytes (whole bytes only,
 * no bitfields) and type id.  0, or -ENOENT.
 */
int kbtf_member(const struct kbtf *b, u32 id, const char *name, u32 *offset, u32 *type);

/* @id with typedefs and const/volatile/restrict/type tags peeled off; 0 if broken. */
u32 kbtf_resolve(const struct kbtf *b, u32 id);

/* Size in bytes of @id (struct, union, int, enum, pointer, array); 0 if unknown. */
u32 kbtf_size(const struct kbtf *b, u32 id);

/* @id (resolved) is a pointer to a struct named @name. */
bool kbtf_is_ptr_to_struct(const struct kbtf *b, u32 id, const char *name);

/* @id (resolved) is a struct named @name. */
bool kbtf_is_struct(const struct kbtf *b, u32 id, const char *name);

#endif
