/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the hardware's MSR permission maps keep an MSR's intercept bits
 * (pure, shared with the unit tests).
 *
 * VMX MSR bitmap (SDM 25.6.9): one 4 KiB page, one bit per MSR: reads of
 * 0-0x1fff at byte 0, of 0xc0000000-0xc0001fff at 0x400, writes at 0x800
 * and 0xc00.  SVM MSR permission map (APM 15.11): two bits per MSR, read
 * then write, for 0-0x1fff at byte 0, 0xc0000000-0xc0001fff at 0x800 and
 * 0xc0010000-0xc0011fff at 0x1000.
 */
#ifndef VMIOP_MSRMAP_H
#define VMIOP_MSRMAP_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
typedef uint32_t u32;
#endif

/* Byte offset and bit (0-7) of @msr's read or write intercept; false: none. */
static inline bool msrmap_vmx_bit(u32 msr, bool write, u32 *byte, u32 *bit)
{
	u32 base;

	if (msr <= 0x1fff)
		base = 0;
	else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		base = 0x400;
	else
		return false;
	msr &= 0x1fff;
	*byte = base + (write ? 0x800 : 0) + msr / 8;
	*bit = msr % 8;
	return true;
}

static inline bool msrmap_svm_bit(u32 msr, bool write, u32 *byte, u32 *bit)
{
	u32 base;

	if (msr <= 0x1fff)
		base = 0;
	else if (msr >= 0xc0000000 && msr <= 0xc0001fff)
		base = 0x800;
	else if (msr >= 0xc0010000 && msr <= 0xc0011fff)
		base = 0x1000;
	else
		return false;
	msr &= 0x1fff;
	*byte = base + msr / 4;
	*bit = 2 * (msr % 4) + write;
	return true;
}

#endif /* VMIOP_MSRMAP_H */
