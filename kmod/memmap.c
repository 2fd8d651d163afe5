// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Guest memory map normalisation, shared by the module and the host unit
 * tests.
 */
#include "memmap.h"

unsigned int memmap_normalize(struct memmap_range *r, unsigned int n)
{
	unsigned int i, j, out;

	if (n == 0)
		return 0;

	/*
	 * Insertion sort: there are only a handful of memslots, and it needs
	 * neither the kernel's sort() nor libc's qsort().
	 */
	for (i = 1; i < n; i++) {
		struct memmap_range key = r[i];

		for (j = i; j > 0 && r[j - 1].start > key.start; j--)
			r[j] = r[j - 1];
		r[j] = key;
	}

	/* Memslots never overlap, so "touching" is exact end == start. */
	for (out = 0, i = 1; i < n; i++) {
		if (r[i].type == r[out].type && r[out].start + r[out].size == r[i].start)
			r[out].size += r[i].size;
		else
			r[++out] = r[i];
	}
	return out + 1;
}
