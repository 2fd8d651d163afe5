/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The #VE agent's decoder and emulator of page-table writes: what a write
 * to a protected page-table page would have done, computed without doing
 * it, so that the agent can tell a relevant change from an irrelevant one
 * before it lets the write through.  Freestanding (no libc): the agent
 * runs it in the guest, the host unit tests run the same source over
 * hostile bytes.
 */
#ifndef VE_EMU_H
#define VE_EMU_H

#include <stdbool.h>
#include <stdint.h>

/* The longest x86 instruction. */
#define VE_INSN_MAX	15

/* GPRs in x86 encoding order ((&rax)[n] is register n), RIP, RFLAGS. */
struct ve_cpu {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
};

enum ve_op {
	VE_OP_MOV = 1,		/* MOV r/m, r / imm; STOS */
	VE_OP_XCHG,
	VE_OP_CMPXCHG,
	VE_OP_AND,
	VE_OP_OR,
	VE_OP_XOR,
	VE_OP_BTS,
	VE_OP_BTR,
	VE_OP_BTC,
};

/* A decoded write to memory. */
struct ve_write {
	enum ve_op op;
	uint64_t gla;		/* the bytes written: [gla, gla + size) */
	unsigned int size;	/* 1, 2, 4 or 8 */
	unsigned int len;	/* the instruction's length */
	uint64_t src;		/* the register's or immediate's value (BT*: the bit) */
	int src_reg;		/* XCHG, CMPXCHG: the register written back; else -1 */
	bool byte_reg_high;	/* ... it is AH, CH, DH or BH */
	bool lock;
	bool stos;		/* RDI moves by @size after the write */
};

enum ve_emu_status {
	VE_EMU_OK = 0,
	VE_EMU_TRUNCATED,	/* fewer bytes than the instruction needs */
	VE_EMU_UNSUPPORTED,	/* not one of the writes the agent emulates */
	VE_EMU_STRADDLES,	/* the write crosses an 8-byte entry */
};

/*
 * Decodes the 64-bit-mode instruction in @insn[0..@n) as one of the writes
 * the agent emulates (MOV, STOS without REP, XCHG, CMPXCHG, AND/OR/XOR,
 * BTS/BTR/BTC, each with a memory destination, byte to quadword, LOCK
 * allowed), with @cpu's registers for its address.  Segment overrides,
 * address-size overrides and REP are refused: the agent raises what it
 * cannot decode, never guesses.
 */
enum ve_emu_status ve_decode(const uint8_t *insn, unsigned int n, const struct ve_cpu *cpu,
			     struct ve_write *w);

/*
 * The effect of @w on the 8-byte-aligned entry at @entry_gla (which must
 * hold the write) whose value was @old: *@new is the entry after it, and
 * @cpu gets the instruction's other effects (flags, the written-back
 * register, RDI, RIP).  A CMPXCHG that fails leaves *@new == @old.
 */
enum ve_emu_status ve_apply(const struct ve_write *w, uint64_t entry_gla, uint64_t old,
			    uint64_t *new, struct ve_cpu *cpu);

#endif
