// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The #VE agent's decoder and emulator of page-table writes (emu.h).
 * Every byte read is bounded by the caller's length; nothing here
 * touches memory but the instruction bytes and the structs it is given.
 */
#include "emu.h"

#define RFLAGS_CF	(1ull << 0)
#define RFLAGS_PF	(1ull << 2)
#define RFLAGS_AF	(1ull << 4)
#define RFLAGS_ZF	(1ull << 6)
#define RFLAGS_SF	(1ull << 7)
#define RFLAGS_DF	(1ull << 10)
#define RFLAGS_OF	(1ull << 11)
#define RFLAGS_RF	(1ull << 16)
#define RFLAGS_ARITH	(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

#define REG_RAX		0
#define REG_RSP		4
#define REG_RBP		5
#define REG_RSI		6
#define REG_RDI		7

#define REX_B		(1u << 0)
#define REX_X		(1u << 1)
#define REX_R		(1u << 2)
#define REX_W		(1u << 3)

struct reader {
	const uint8_t *p;
	unsigned int n, i;
	bool short_read;
};

static uint8_t next8(struct reader *r)
{
	if (r->i >= r->n || r->i >= VE_INSN_MAX) {
		r->short_read = true;
		return 0;
	}
	return r->p[r->i++];
}

static uint64_t next_imm(struct reader *r, unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int k;

	for (k = 0; k < bytes; k++)
		v |= (uint64_t)next8(r) << (8 * k);
	return v;
}

static uint64_t sign_extend(uint64_t v, unsigned int bytes)
{
	unsigned int shift = 64 - 8 * bytes;

	return bytes >= 8 ? v : (uint64_t)((int64_t)(v << shift) >> shift);
}

static uint64_t size_mask(unsigned int size)
{
	return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* Register @reg read at @size; without REX, byte registers 4-7 are AH..BH. */
static uint64_t reg_read(const struct ve_cpu *cpu, unsigned int reg, unsigned int size,
			 bool rex, bool *high)
{
	*high = size == 1 && !rex && reg >= 4 && reg < 8;
	if (*high)
		return (cpu->gpr[reg - 4] >> 8) & 0xff;
	return cpu->gpr[reg] & size_mask(size);
}

/* Register @reg written at @size, as the CPU writes it (32 bits zero-extend). */
static void reg_write(struct ve_cpu *cpu, unsigned int reg, unsigned int size, bool high,
		      uint64_t v)
{
	if (high) {
		cpu->gpr[reg - 4] = (cpu->gpr[reg - 4] & ~0xff00ull) | (v & 0xff) << 8;
		return;
	}
	if (size >= 4) {
		cpu->gpr[reg] = v & size_mask(size);
		return;
	}
	cpu->gpr[reg] = (cpu->gpr[reg] & ~size_mask(size)) | (v & size_mask(size));
}

/*
 * The memory operand of ModRM byte @modrm: its address, with RIP-relative
 * ones left relative to the next instruction (*@rip_rel).
 */
static bool decode_mem(struct reader *r, uint8_t modrm, unsigned int rex, const struct ve_cpu *cpu,
		       uint64_t *addr, bool *rip_rel)
{
	unsigned int mod = modrm >> 6, rm = modrm & 7;
	uint64_t a = 0;

	*rip_rel = false;
	if (mod == 3)
		return false;		/* a register: no memory written */
	if (rm == 4) {
		uint8_t sib = next8(r);
		unsigned int scale = sib >> 6, index = ((sib >> 3) & 7) | (rex & REX_X ? 8 : 0);
		unsigned int base = (sib & 7) | (rex & REX_B ? 8 : 0);

		if (index != REG_RSP)
			a += cpu->gpr[index] << scale;
		if ((base & 7) == REG_RBP && mod == 0)
			a += sign_extend(next_imm(r, 4), 4);
		else
			a += cpu->gpr[base];
	} else if (rm == REG_RBP && mod == 0) {
		*rip_rel = true;
		a = sign_extend(next_imm(r, 4), 4);
	} else {
		a = cpu->gpr[rm | (rex & REX_B ? 8 : 0)];
	}
	if (mod == 1)
		a += sign_extend(next_imm(r, 1), 1);
	else if (mod == 2)
		a += sign_extend(next_imm(r, 4), 4);
	*addr = a;
	return true;
}

enum ve_emu_status ve_decode(const uint8_t *insn, unsigned int n, const struct ve_cpu *cpu,
			     struct ve_write *w)
{
	struct reader r = { .p = insn, .n = n };
	unsigned int rex = 0, size, reg = 0, imm_bytes = 0, k;
	bool o16 = false, has_rex = false, has_modrm = true, rip_rel = false, bt_reg = false;
	uint8_t op, op2 = 0, modrm = 0;
	uint64_t addr = 0;

	*w = (struct ve_write){ .src_reg = -1 };
	for (k = 0; k < VE_INSN_MAX; k++) {
		op = next8(&r);
		if (op == 0xf0) {
			w->lock = true;
		} else if (op == 0x66) {
			o16 = true;
		} else if (op == 0x26 || op == 0x2e || op == 0x36 || op == 0x3e) {
			/*
			 * ES, CS, SS, DS: no override in 64-bit mode.  Linux on
			 * one CPU patches each LOCK of its atomics into DS
			 * (alternatives_smp_unlock), so ptep_set_wrprotect()
			 * there is "ds andb $0xfd,(reg)".
			 */
		} else if (op == 0xf2 || op == 0xf3 || op == 0x67 || op == 0x64 || op == 0x65) {
			return r.short_read ? VE_EMU_TRUNCATED : VE_EMU_UNSUPPORTED;
		} else {
			break;
		}
		/* A REX only counts right before the opcode. */
		rex = 0;
		has_rex = false;
	}
	if ((op & 0xf0) == 0x40) {
		rex = op & 0xf;
		has_rex = true;
		op = next8(&r);
	}
	if (r.short_read)
		return VE_EMU_TRUNCATED;
	size = rex & REX_W ? 8 : o16 ? 2 : 4;

	switch (op) {
	case 0x88: case 0x89:
		w->op = VE_OP_MOV;
		break;
	case 0xc6: case 0xc7:
		w->op = VE_OP_MOV;
		imm_bytes = op == 0xc6 ? 1 : size == 2 ? 2 : 4;
		break;
	case 0xaa: case 0xab:
		w->op = VE_OP_MOV;
		w->stos = true;
		has_modrm = false;
		break;
	case 0x86: case 0x87:
		w->op = VE_OP_XCHG;
		break;
	case 0x20: case 0x21:
		w->op = VE_OP_AND;
		break;
	case 0x08: case 0x09:
		w->op = VE_OP_OR;
		break;
	case 0x30: case 0x31:
		w->op = VE_OP_XOR;
		break;
	case 0x80: case 0x81: case 0x83:
		imm_bytes = op == 0x81 ? (size == 2 ? 2 : 4) : 1;
		break;
	case 0x0f:
		op2 = next8(&r);
		switch (op2) {
		case 0xb0: case 0xb1:
			w->op = VE_OP_CMPXCHG;
			break;
		case 0xab:
			w->op = VE_OP_BTS;
			bt_reg = true;
			break;
		case 0xb3:
			w->op = VE_OP_BTR;
			bt_reg = true;
			break;
		case 0xbb:
			w->op = VE_OP_BTC;
			bt_reg = true;
			break;
		case 0xba:
			imm_bytes = 1;
			break;
		default:
			return r.short_read ? VE_EMU_TRUNCATED : VE_EMU_UNSUPPORTED;
		}
		break;
	default:
		return VE_EMU_UNSUPPORTED;
	}
	/* The byte forms: the one-byte opcodes with the low bit clear, CMPXCHG's 0xb0. */
	if ((op != 0x0f && !(op & 1)) || (op == 0x0f && op2 == 0xb0))
		size = 1;

	if (has_modrm) {
		modrm = next8(&r);
		reg = ((modrm >> 3) & 7) | (rex & REX_R ? 8 : 0);
		if (!decode_mem(&r, modrm, rex, cpu, &addr, &rip_rel))
			return r.short_read ? VE_EMU_TRUNCATED : VE_EMU_UNSUPPORTED;
	} else {
		addr = cpu->gpr[REG_RDI];
	}
	/* The group opcodes: which operation the ModRM reg field names. */
	if (op == 0x80 || op == 0x81 || op == 0x83) {
		static const enum ve_op group1[8] = { [1] = VE_OP_OR, [4] = VE_OP_AND,
						      [6] = VE_OP_XOR };

		w->op = group1[reg & 7];
	} else if (op == 0x0f && op2 == 0xba) {
		static const enum ve_op group8[8] = { [5] = VE_OP_BTS, [6] = VE_OP_BTR,
						      [7] = VE_OP_BTC };

		w->op = group8[reg & 7];
	} else if ((op == 0xc6 || op == 0xc7) && (reg & 7)) {
		w->op = 0;
	}
	if (!w->op)
		return r.short_read ? VE_EMU_TRUNCATED : VE_EMU_UNSUPPORTED;

	if (imm_bytes) {
		uint64_t imm = next_imm(&r, imm_bytes);

		w->src = op == 0x0f ? imm & (8 * size - 1) : sign_extend(imm, imm_bytes) &
							   size_mask(size);
	} else if (w->stos) {
		bool high;

		w->src = reg_read(cpu, REG_RAX, size, true, &high);
	} else {
		w->src = reg_read(cpu, reg, size, has_rex, &w->byte_reg_high);
		if (w->op == VE_OP_XCHG || w->op == VE_OP_CMPXCHG)
			w->src_reg = (int)reg;
	}
	if (r.short_read)
		return VE_EMU_TRUNCATED;
	w->len = r.i;
	if (rip_rel)
		addr += cpu->rip + w->len;
	if (bt_reg) {
		/* The bit offset is signed and may leave the operand: a bit string. */
		int64_t off = (int64_t)sign_extend(w->src, size);
		unsigned int log2_bits = size == 2 ? 4 : size == 4 ? 5 : 6;

		/* floor(off / bits) operand-sized steps: an arithmetic shift */
		addr += (uint64_t)(off >> log2_bits) * size;
		w->src = (uint64_t)off & ((1ull << log2_bits) - 1);
	}
	/* LOCK is only valid on a read-modify-write (MOV, STOS would #UD). */
	if (w->lock && w->op == VE_OP_MOV)
		return VE_EMU_UNSUPPORTED;
	w->gla = addr;
	w->size = size;
	return VE_EMU_OK;
}

static bool parity_even(uint64_t v)
{
	uint8_t b = (uint8_t)v;

	b ^= b >> 4;
	b ^= b >> 2;
	b ^= b >> 1;
	return !(b & 1);
}

/* SF, ZF, PF of a @size-byte result. */
static uint64_t flags_szp(uint64_t res, unsigned int size)
{
	uint64_t f = 0;

	res &= size_mask(size);
	if (!res)
		f |= RFLAGS_ZF;
	if (res >> (8 * size - 1) & 1)
		f |= RFLAGS_SF;
	if (parity_even(res))
		f |= RFLAGS_PF;
	return f;
}

/* The flags of CMP @a, @b at @size bytes (what CMPXCHG sets). */
static uint64_t flags_sub(uint64_t a, uint64_t b, unsigned int size)
{
	uint64_t m = size_mask(size), res = (a - b) & m, top = 8 * size - 1, f;

	a &= m;
	b &= m;
	f = flags_szp(res, size);
	if (a < b)
		f |= RFLAGS_CF;
	if (((a ^ b) & (a ^ res)) >> top & 1)
		f |= RFLAGS_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= RFLAGS_AF;
	return f;
}

enum ve_emu_status ve_apply(const struct ve_write *w, uint64_t entry_gla, uint64_t old,
			    uint64_t *new, struct ve_cpu *cpu)
{
	uint64_t m = size_mask(w->size), cur, res, flags = cpu->rflags, bit;
	unsigned int shift;

	if (w->gla < entry_gla || w->gla - entry_gla > 8 - w->size)
		return VE_EMU_STRADDLES;
	shift = 8 * (unsigned int)(w->gla - entry_gla);
	cur = (old >> shift) & m;
	switch (w->op) {
	case VE_OP_MOV:
		res = w->src;
		break;
	case VE_OP_XCHG:
		res = w->src;
		reg_write(cpu, (unsigned int)w->src_reg, w->size, w->byte_reg_high, cur);
		break;
	case VE_OP_CMPXCHG: {
		bool high;
		uint64_t acc = reg_read(cpu, REG_RAX, w->size, true, &high);

		flags = (flags & ~RFLAGS_ARITH) | flags_sub(acc, cur, w->size);
		if (acc == cur) {
			res = w->src;
		} else {
			res = cur;
			reg_write(cpu, REG_RAX, w->size, false, cur);
		}
		break;
	}
	case VE_OP_AND:
	case VE_OP_OR:
	case VE_OP_XOR:
		res = w->op == VE_OP_AND ? cur & w->src : w->op == VE_OP_OR ? cur | w->src :
		      cur ^ w->src;
		flags = (flags & ~RFLAGS_ARITH) | flags_szp(res, w->size);
		break;
	case VE_OP_BTS:
	case VE_OP_BTR:
	case VE_OP_BTC:
		bit = 1ull << w->src;
		flags = (flags & ~RFLAGS_CF) | (cur & bit ? RFLAGS_CF : 0);
		res = w->op == VE_OP_BTS ? cur | bit : w->op == VE_OP_BTR ? cur & ~bit : cur ^ bit;
		break;
	default:
		return VE_EMU_UNSUPPORTED;
	}
	*new = (old & ~(m << shift)) | (res & m) << shift;
	if (w->stos)
		cpu->gpr[REG_RDI] += cpu->rflags & RFLAGS_DF ? -(uint64_t)w->size : w->size;
	/* The instruction completed: the next one gets no resume flag. */
	cpu->rflags = flags & ~RFLAGS_RF;
	cpu->rip += w->len;
	return VE_EMU_OK;
}
