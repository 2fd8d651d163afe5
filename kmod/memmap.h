/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Assembly of the e820-style guest memory map from KVM memslots, shared by
 * the module and the host unit tests.
 */
#ifndef VMIOP_MEMMAP_H
#define VMIOP_MEMMAP_H

#include "pgwalk.h"	/* u32/u64 for both worlds */

/* Values match VMIOP_E820_* in the uapi. */
#define MEMMAP_RAM	1	/* writable memslot */
#define MEMMAP_ROM	2	/* KVM_MEM_READONLY memslot */
#define MEMMAP_INTROSPECTION 3	/* the session's own memslot */

struct memmap_range {
	u64 start;
	u64 size;
	u32 type;
};

/*
 * Sorts @r by start address and merges ranges that touch and have the same
 * type.  Ranges never overlap (memslots cannot).  Returns the new count.
 */
unsigned int memmap_normalize(struct memmap_range *r, unsigned int n);

#endif
