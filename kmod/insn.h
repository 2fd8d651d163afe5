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

/* Segment registers, numbered as KVM's VCPU_SREG_* and the SDM's Sreg. */
enum insn_seg { INSN_ES, INSN_CS, INSN_SS, INSN_DS, INSN_FS, INSN_GS };

struct insn_prefixes {
	unsigned int opcode;	/* offset of the first opcode byte */
	bool opsize;		/* 0x66 */
	bool addrsize;		/* 0x67 */
	bool lock;		/* 0xf0 */
	int seg;		/* a segment override (enum insn_seg), or -1 */
	u8 rex;			/* the REX right before the opcode (64-bit code), or 0 */
};

/* Skips legacy and REX prefixes.  False when @n bytes hold no opcode. */
static inline bool insn_prefixes(const u8 *insn, unsigned int n, bool code64,
				 struct insn_prefixes *p)
{
	unsigned int i;

	p->opsize = false;
	p->addrsize = false;
	p->lock = false;
	p->seg = -1;
	p->rex = 0;
	for (i = 0; i < n && i < INSN_MAX_LEN; i++) {
		switch (insn[i]) {
		case 0x66:
			p->opsize = true;
			break;
		case 0x67:
			p->addrsize = true;
			break;
		case 0xf0:
			p->lock = true;
			break;
		case 0xf2: case 0xf3:
			break;
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			p->seg = (insn[i] >> 3) & 3;	/* ES CS SS DS */
			break;
		case 0x64: case 0x65:
			p->seg = insn[i] - 0x64 + INSN_FS;
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

/* The ModRM operand of an instruction. */
struct insn_modrm {
	unsigned int len;	/* the instruction's length, displacement included */
	unsigned int digit;	/* ModRM.reg, the /digit of group opcodes */
	bool is_reg;		/* a register operand: GPR @rm */
	unsigned int rm;
	int base, index;	/* GPRs, or -1 for none; base INSN_BASE_RIP */
	unsigned int scale;	/* 1, 2, 4, 8 */
	long long disp;
	unsigned int addr_size;	/* in bytes: 2, 4, 8 */
	unsigned int seg;	/* enum insn_seg: the override, or the default */
};

#define INSN_BASE_RIP 16

/* Displacement of @size bytes at @b, sign-extended. */
static inline long long insn_disp(const u8 *b, unsigned int size)
{
	unsigned long long v = 0;
	unsigned int i;

	for (i = 0; i < size; i++)
		v |= (unsigned long long)b[i] << (8 * i);
	if (size && size < 8 && v & 1ull << (8 * size - 1))
		v |= ~0ull << (8 * size);
	return (long long)v;
}

/*
 * Decodes the ModRM (SIB, displacement) that follows @opcode_len opcode
 * bytes after prefixes @p.  @cs_db: the code segment's default size is 32
 * (outside 64-bit code).  False if the bytes end first.
 */
static inline bool insn_modrm(const u8 *insn, unsigned int n, bool code64, bool cs_db,
			      const struct insn_prefixes *p, unsigned int opcode_len,
			      struct insn_modrm *m)
{
	/* 16-bit addressing: base and index of each r/m (BX=3 BP=5 SI=6 DI=7) */
	static const signed char base16[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };
	static const signed char index16[8] = { 6, 7, 6, 7, -1, -1, -1, -1 };
	unsigned int i = p->opcode + opcode_len, mod, dsize = 0;
	u8 modrm;

	if (i >= n)
		return false;
	modrm = insn[i++];
	mod = modrm >> 6;
	m->digit = (modrm >> 3) & 7;
	m->rm = modrm & 7;
	m->is_reg = mod == 3;
	m->base = m->index = -1;
	m->scale = 1;
	m->disp = 0;
	if (code64)
		m->addr_size = p->addrsize ? 4 : 8;
	else
		m->addr_size = cs_db != p->addrsize ? 4 : 2;
	m->seg = INSN_DS;
	if (m->is_reg) {
		m->rm |= (p->rex & 1) << 3;
	} else if (m->addr_size == 2) {
		if (mod == 0 && m->rm == 6) {
			dsize = 2;
		} else {
			m->base = base16[m->rm];
			m->index = index16[m->rm];
			dsize = mod == 1 ? 1 : mod == 2 ? 2 : 0;
			if (m->base == 5)
				m->seg = INSN_SS;
		}
	} else {
		unsigned int base = m->rm;

		if (m->rm == 4) {	/* SIB */
			u8 sib;

			if (i >= n)
				return false;
			sib = insn[i++];
			m->scale = 1u << (sib >> 6);
			m->index = ((sib >> 3) & 7) | ((p->rex & 2) << 2);
			if (m->index == 4)
				m->index = -1;
			base = sib & 7;
		}
		if (mod == 0 && base == 5) {
			dsize = 4;
			if (m->rm == 5 && code64)
				m->base = INSN_BASE_RIP;
		} else {
			m->base = base | ((p->rex & 1) << 3);
			dsize = mod == 1 ? 1 : mod == 2 ? 4 : 0;
			if (base == 4 || base == 5)
				m->seg = INSN_SS;
		}
	}
	if (i + dsize > n)
		return false;
	m->disp = insn_disp(insn + i, dsize);
	m->len = i + dsize;
	if (p->seg >= 0)
		m->seg = p->seg;
	return true;
}

/*
 * The effective address (before segmentation) of a memory operand, from
 * the GPRs in encoding order and the address of the next instruction.
 */
static inline unsigned long long insn_effective_address(const struct insn_modrm *m,
							const unsigned long long *gpr,
							unsigned long long next_rip)
{
	unsigned long long ea = (unsigned long long)m->disp;

	if (m->base == INSN_BASE_RIP)
		ea += next_rip;
	else if (m->base >= 0)
		ea += gpr[m->base];
	if (m->index >= 0)
		ea += gpr[m->index] * m->scale;
	if (m->addr_size < 8)
		ea &= (1ull << (8 * m->addr_size)) - 1;
	return ea;
}

/* What insn_desc_load() recognized. */
enum insn_desc_load { INSN_LGDT, INSN_LIDT, INSN_LLDT, INSN_LTR };

/*
 * LGDT, LIDT (0f 01 /2, /3, memory only), LLDT, LTR (0f 00 /2, /3): which
 * one, or -1 for any other instruction; *@m is its operand.  LGDT/LIDT
 * read a 2-byte limit and then *@base_bytes of base: 8 in 64-bit code,
 * else 4, or 3 with a 16-bit operand size.
 */
static inline int insn_desc_load(const u8 *insn, unsigned int n, bool code64, bool cs_db,
				 struct insn_modrm *m, unsigned int *base_bytes)
{
	struct insn_prefixes p;

	if (!insn_prefixes(insn, n, code64, &p) || p.opcode + 2 > n ||
	    insn[p.opcode] != 0x0f || insn[p.opcode + 1] > 1 ||
	    !insn_modrm(insn, n, code64, cs_db, &p, 2, m) ||
	    (m->digit != 2 && m->digit != 3))
		return -1;
	if (insn[p.opcode + 1] == 0)
		return m->digit == 2 ? INSN_LLDT : INSN_LTR;
	if (m->is_reg)		/* 0f 01 with mod 3 is another instruction */
		return -1;
	*base_bytes = code64 ? 8 : cs_db != p.opsize ? 4 : 3;
	return m->digit == 2 ? INSN_LGDT : INSN_LIDT;
}

#endif
