/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few guest instructions vmiop must recognize from their bytes (pure,
 * shared with the unit tests): a PUSHF about to be single-stepped, whose
 * copy of RFLAGS must lose the trap flag, and a MOV from CR that exited
 * without SVM decode assists, whose destination register a reply sets.
 * Everything else is KVM's emulator's business.
 */
#ifndef VMIOP_INSN_H
#define VMIOP_INSN_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdbool.h>
#include <stdint.h>
typedef uint8_t u8;
#endif

/* The longest x86 instruction. */
#define INSN_MAX_LEN 15

struct insn_prefixes {
	unsigned int opcode;	/* offset of the first opcode byte */
	bool opsize;		/* 0x66 */
	bool lock;		/* 0xf0 */
	u8 rex;			/* the REX right before the opcode (64-bit code), or 0 */
};

/* Skips legacy and REX prefixes.  False when @n bytes hold no opcode. */
static inline bool insn_prefixes(const u8 *insn, unsigned int n, bool code64,
				 struct insn_prefixes *p)
{
	unsigned int i;

	p->opsize = false;
	p->lock = false;
	p->rex = 0;
	for (i = 0; i < n && i < INSN_MAX_LEN; i++) {
		switch (insn[i]) {
		case 0x66:
			p->opsize = true;
			break;
		case 0xf0:
			p->lock = true;
			break;
		case 0x67: case 0xf2: case 0xf3:
		case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
			break;
		default:
			if (code64 && (insn[i] & 0xf0) == 0x40) {
				p->rex = insn[i];
				continue;	/* a REX counts only right before the opcode */
			}
			p->opcode = i;
			return true;
		}
		p->rex = 0;
	}
	return false;
}

/*
 * PUSHF (0x9c): its operand size in bytes, and in *@len its length; 0 for
 * any other instruction.  @cs_db: the code segment's default size is 32.
 */
static inline unsigned int insn_pushf_size(const u8 *insn, unsigned int n, bool code64,
					   bool cs_db, unsigned int *len)
{
	struct insn_prefixes p;

	if (!insn_prefixes(insn, n, code64, &p) || insn[p.opcode] != 0x9c)
		return 0;
	*len = p.opcode + 1;
	if (code64)	/* 64 bits unless 0x66 without REX.W */
		return (p.rex & 8) || !p.opsize ? 8 : 2;
	return cs_db != p.opsize ? 4 : 2;
}

/*
 * MOV r, CR@cr (0f 20 /r): the destination GPR in the encoding's numbering
 * (0 RAX, 1 RCX ... 15 R15), or -1 for any other instruction (SMSW, say).
 * LOCK turns CR0 into CR8 on AMD: that is not CR0.
 */
static inline int insn_mov_from_cr_gpr(const u8 *insn, unsigned int n, bool code64,
				       unsigned int cr)
{
	struct insn_prefixes p;
	unsigned int modrm;

	if (!insn_prefixes(insn, n, code64, &p) || p.lock || p.opcode + 3 > n ||
	    insn[p.opcode] != 0x0f || insn[p.opcode + 1] != 0x20)
		return -1;
	modrm = insn[p.opcode + 2];
	if ((((modrm >> 3) & 7) | ((p.rex & 4) << 1)) != cr)
		return -1;
	return (modrm & 7) | ((p.rex & 1) << 3);
}

#endif
