/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Compiler clones in a symbol table: shared by the module (hooks.c) and
 * the host unit tests.
 */
#ifndef VMIOP_SYMCLONE_H
#define VMIOP_SYMCLONE_H

#ifndef __KERNEL__
#include <stdbool.h>
#include <string.h>
#endif

/*
 * @sym is a copy of function @fn that the compiler made for some of its
 * callers: GCC's partial inlining (fn.part.N), IPA constant propagation
 * (fn.constprop.N) and scalar replacement (fn.isra.N), alone or chained,
 * or LLVM's promoted locals (fn.llvm.N).  Those callers reach the copy,
 * not @fn.  fn.cold is @fn's own cold tail, entered only from @fn.
 */
static inline bool sym_is_clone_of(const char *sym, const char *fn)
{
	static const char *const kinds[] = { "part.", "constprop.", "isra.", "llvm.", NULL };
	const char *const *kind;
	size_t n = strlen(fn);

	if (strncmp(sym, fn, n) || sym[n] != '.')
		return false;
	sym += n + 1;
	for (kind = kinds; *kind; kind++)
		if (!strncmp(sym, *kind, strlen(*kind)))
			return true;
	return false;
}

#endif
