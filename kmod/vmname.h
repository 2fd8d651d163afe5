/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * VM names: what makes one valid, and how a VMM's command line gives one.
 * Shared by the module and the host unit tests.
 */
#ifndef VMIOP_VMNAME_H
#define VMIOP_VMNAME_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stddef.h>
#endif

/* VMIOP_VM_NAME_MAX: bytes, with the terminating NUL */
#define VMNAME_MAX 64

/* 1..VMNAME_MAX-1 bytes, no control character, no '/'. */
bool vmname_valid(const char *name);

/*
 * The name QEMU gives its guest, from its argv: @args holds @len bytes
 * of NUL-separated arguments as /proc/PID/cmdline shows them, hostile
 * (unterminated, rewritten by the process, cut at any byte).  QEMU's rules:
 * "-name" or "--name" takes the next argument as options with the implied
 * key "guest" ("-name foo", "-name guest=foo,debug-threads=on", ",," for a
 * comma), and a later guest= wins.  Writes it into @name and returns true
 * when there is one and it is valid; a name too long is no name, never a
 * truncated one.
 */
bool vmname_from_cmdline(const char *args, size_t len, char name[VMNAME_MAX]);

#endif
