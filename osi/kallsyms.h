/* SPDX-License-Identifier: MIT */
/*
 * Locate and decode a Linux x86-64 guest kernel's kallsyms tables in bytes copied from guest
 * memory (typically the image's rodata), with no System.map, vmcoreinfo or debug info.
 *
 * Target: the 6.1-era layout that scripts/kallsyms.c emits with --base-relative and
 * --absolute-percpu (x86-64 SMP), every label 8-byte aligned in guest-virtual terms:
 *
 *   kallsyms_offsets        s32 x N
 *   kallsyms_relative_base  u64 (relocated by KASLR: equals the running _text)
 *   kallsyms_num_syms       u32 N
 *   kallsyms_names          N x (ULEB128 length of 1 or 2 bytes, 1..0x3fff; token bytes)
 *   kallsyms_markers        u32 x ceil(N / 256): names-offset of symbol 256 * i
 *   kallsyms_seqs_of_names  absent (< 6.1.42), u32 x N (6.1.42-59) or 3 bytes x N (>= 6.1.60)
 *   kallsyms_token_table    256 NUL-terminated tokens
 *   kallsyms_token_index    u16 x 256: offset of each token in the table
 *
 * Kernels >= 6.4 moved offsets and relative_base after token_index, kernels without
 * ABSOLUTE_PERCPU use unsigned offsets, and 7.0 dropped relative_base; none of these are
 * recognised (the scan reports that no consistent layout was found).
 *
 * The bytes come from a guest and are hostile: every read is bounds-checked against @len,
 * every loop and allocation is bounded (KALLSYMS_MAX_SYMS symbols, KALLSYMS_MAX_NAME_BYTES
 * of decoded names, a work budget for the scan), and nothing is trusted that the checks
 * listed at kallsyms_find() have not confirmed. A successful decode proves consistency, not
 * authenticity: cross-check kallsyms_relative_base() against the _text found from the page
 * tables before believing the symbols.
 *
 * The guest's tables are little-endian (x86-64). Like the rest of vmiop this code assumes a
 * little-endian host, although it assembles multi-byte values byte by byte and so does not
 * actually depend on the host's byte order.
 *
 * A decoded struct kallsyms is never modified after kallsyms_find() returns, so concurrent
 * readers need no locking.
 */
#ifndef VMIOP_OSI_KALLSYMS_H
#define VMIOP_OSI_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

/* Debian 6.1 has 94,266 symbols: a wide margin that still bounds a hostile N. */
#define KALLSYMS_MAX_SYMS	4000000u
/* KSYM_NAME_LEN: a name, without its type letter, is at most 511 bytes plus the NUL. */
#define KALLSYMS_NAME_MAX	512u
/* Longest token accepted in kallsyms_token_table, without its NUL. */
#define KALLSYMS_MAX_TOKEN	64u
/* All decoded names together, NULs included (Debian 6.1: about 2.5 MiB). */
#define KALLSYMS_MAX_NAME_BYTES	(128u << 20)
/* Default scan work budget, in table bytes/entries examined (see kallsyms_find_budget()). */
#define KALLSYMS_WORK_BUDGET	(UINT64_C(1) << 28)

struct kallsyms;	/* opaque; owns decoded copies, keeps no pointer into the image */

/* Guest-virtual addresses of the tables that were decoded. */
struct kallsyms_layout {
	uint64_t offsets;
	uint64_t relative_base;
	uint64_t num_syms;
	uint64_t names;
	uint64_t markers;
	uint64_t seqs_of_names;		/* 0 when seq_size is 0 */
	uint64_t token_table;
	uint64_t token_index;
	/*
	 * Bytes per kallsyms_seqs_of_names entry: 0, 4 or 3. With fewer than 8 symbols a u32
	 * and a 3-byte table can fill the same aligned span and both read as a permutation;
	 * then the first size tried (4) is reported. The symbols do not depend on it.
	 */
	unsigned int seq_size;
};

/*
 * Scan @img (@len bytes of the kernel image copied from guest memory; @va is the
 * guest-virtual address of img[0]) for the kallsyms tables, validate them and decode every
 * symbol into *@out (freed with kallsyms_free()).
 *
 * The scan: find the "0\0".."9\0" run that tokens 48..57 form in kallsyms_token_table, walk
 * back to the table's start and confirm it by the u16 kallsyms_token_index right after it;
 * then search backwards from the table for an 8-aligned num_syms N such that N names decoded
 * from num_syms + 8 end where kallsyms_markers starts, markers[0] == 0, and markers plus
 * kallsyms_seqs_of_names (0, 4 or 3 bytes per symbol, tried in that order) end at the token
 * table. Every "0\0".."9\0" run and every candidate N is tried until one decodes cleanly.
 *
 * A candidate layout is accepted only if: N <= KALLSYMS_MAX_SYMS and all tables fit in
 * @img; each name's length is 1..0x3fff in one or two ULEB128 bytes and the names end before
 * the markers, followed only by zero padding; every token is NUL-terminated within
 * KALLSYMS_MAX_TOKEN bytes and indexed exactly by kallsyms_token_index; markers[i] is the
 * names-offset of symbol 256 * i; seqs_of_names, if present, is a permutation of 0..N-1; each
 * expanded symbol is a printable-ASCII (0x21..0x7e) type character followed by a 1..511 byte
 * printable-ASCII name; non-absolute addresses (relative_base - 1 - offset, for offsets < 0)
 * do not decrease in table order and do not wrap past 2^64. Offsets >= 0 are absolute
 * addresses (the per-CPU 'A' symbols). There is no upper bound such as _end: Debian 6.1's
 * last symbol, __init_scratch_end, lies about 6 MiB past it.
 *
 * Returns 0; -ENOENT when no token table or no consistent layout was found (*@why says which
 * step failed); -EINVAL when a layout was found (its first 256 names, or all if fewer, walk
 * cleanly from num_syms) but failed a later check (*@why names it), or for bad arguments
 * (NULL @out, NULL @img with @len > 0, @va + @len past 2^64); -ENOMEM. When several
 * candidates fail, *@why describes the one that got furthest. On error *@out is NULL.
 * @why (@why_len bytes, always NUL-terminated when @why_len > 0) may be NULL; it is set to ""
 * on success.
 */
int kallsyms_find(const uint8_t *img, size_t len, uint64_t va, struct kallsyms **out,
		  char *why, size_t why_len);

/*
 * kallsyms_find() with an explicit work budget instead of KALLSYMS_WORK_BUDGET. The budget
 * counts table bytes, names and candidate positions examined; when it runs out the scan
 * stops with -ENOENT ("work budget ... exhausted"), or -EINVAL if a candidate had already
 * failed a check after its layout was found.
 */
int kallsyms_find_budget(const uint8_t *img, size_t len, uint64_t va, uint64_t budget,
			 struct kallsyms **out, char *why, size_t why_len);

void kallsyms_free(struct kallsyms *ks);		/* NULL is a no-op */

uint32_t kallsyms_count(const struct kallsyms *ks);	/* 0 for NULL */

/* kallsyms_relative_base as read from the guest: equals the running kernel's _text. */
uint64_t kallsyms_relative_base(const struct kallsyms *ks);

/*
 * Address and type letter ('T', 't', 'D', 'A', ...) of the symbol called @name. Names may
 * repeat (static functions, aliases): this returns the one with the lowest address, and of
 * those the first in table order. @addr and @type may be NULL. Returns 0, -ENOENT if there is
 * no such symbol, -EINVAL if @ks or @name is NULL. O(log N).
 */
int kallsyms_lookup(const struct kallsyms *ks, const char *name, uint64_t *addr, char *type);

/*
 * The @i-th symbol in table order (address order, absolute per-CPU symbols first): its name
 * (NUL-terminated, at most KALLSYMS_NAME_MAX bytes with the NUL, valid until kallsyms_free()),
 * address and type. Any output pointer may be NULL. Returns 0, or -EINVAL if @ks is NULL or
 * @i >= kallsyms_count().
 */
int kallsyms_symbol(const struct kallsyms *ks, uint32_t i, const char **name, uint64_t *addr,
		    char *type);

/* Guest-virtual address of kallsyms_token_table, for cross-checks (e.g. with vmcoreinfo). */
uint64_t kallsyms_token_table_va(const struct kallsyms *ks);

/* Guest-virtual address of the kallsyms_relative_base word. */
uint64_t kallsyms_relative_base_va(const struct kallsyms *ks);

/* Where every table was, and the seqs_of_names entry size found. */
const struct kallsyms_layout *kallsyms_layout(const struct kallsyms *ks);

#endif /* VMIOP_OSI_KALLSYMS_H */
