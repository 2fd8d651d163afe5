// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The #VE agent's decoder and emulator (ve-agent/emu.c): the encodings
 * Linux and the common page-table code use, what each does to the entry,
 * the registers and the flags, what it refuses, and random bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "emu.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

#define CF	(1ull << 0)
#define PF	(1ull << 2)
#define ZF	(1ull << 6)
#define SF	(1ull << 7)
#define DF	(1ull << 10)
#define RF	(1ull << 16)

#define ENTRY	0xffff888000123450ull	/* an 8-aligned entry's linear address */

static struct ve_cpu cpu0(void)
{
	struct ve_cpu c = { .rip = 0xffffffff81000000ull, .rflags = 0x2 | RF };
	unsigned int i;

	for (i = 0; i < 16; i++)
		c.gpr[i] = 0x1111111111111111ull * (i + 1);
	c.gpr[RDI] = ENTRY;
	return c;
}

#define BYTES(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static struct ve_write decode_ok(const struct ve_cpu *c, const uint8_t *b, unsigned int n)
{
	struct ve_write w;

	assert_int_equal(ve_decode(b, n, c, &w), VE_EMU_OK);
	assert_int_equal(w.len, n);
	return w;
}

/* Applies @w to @old at ENTRY; returns the new entry. */
static uint64_t apply(const struct ve_write *w, uint64_t old, struct ve_cpu *c)
{
	uint64_t new = 0;

	assert_int_equal(ve_apply(w, ENTRY, old, &new, c), VE_EMU_OK);
	return new;
}

static void mov_forms(void **state)
{
	struct ve_cpu c = cpu0();
	struct ve_write w;

	(void)state;
	/* mov %rax,(%rdi): set_pte() */
	w = decode_ok(&c, BYTES(0x48, 0x89, 0x07));
	assert_int_equal(w.op, VE_OP_MOV);
	assert_int_equal(w.size, 8);
	assert_int_equal(w.gla, ENTRY);
	assert_int_equal(w.src, c.gpr[RAX]);
	assert_int_equal(apply(&w, 0x8000000000000067ull, &c), 0x1111111111111111ull);
	assert_int_equal(c.rip, 0xffffffff81000003ull);
	assert_false(c.rflags & RF);

	c = cpu0();
	/* mov %eax,4(%rdi): the high half */
	w = decode_ok(&c, BYTES(0x89, 0x47, 0x04));
	assert_int_equal(w.size, 4);
	assert_int_equal(w.gla, ENTRY + 4);
	assert_int_equal(apply(&w, 0x00000000000000ffull, &c), 0x11111111000000ffull);

	/* mov %ax,(%rdi); mov %ah,(%rdi); mov %spl,(%rdi) */
	w = decode_ok(&c, BYTES(0x66, 0x89, 0x07));
	assert_int_equal(w.size, 2);
	assert_int_equal(w.src, 0x1111);
	c.gpr[RAX] = 0xabcd;
	w = decode_ok(&c, BYTES(0x88, 0x27));
	assert_int_equal(w.size, 1);
	assert_int_equal(w.src, 0xab);
	assert_true(w.byte_reg_high);
	w = decode_ok(&c, BYTES(0x40, 0x88, 0x27));
	assert_int_equal(w.src, c.gpr[RSP] & 0xff);
	assert_false(w.byte_reg_high);

	/* movq $-1,(%rdi): the immediate sign-extended; movb $0xaa,8(%rdi) */
	w = decode_ok(&c, BYTES(0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff));
	assert_int_equal(w.src, ~0ull);
	w = decode_ok(&c, BYTES(0xc6, 0x47, 0x08, 0xaa));
	assert_int_equal(w.gla, ENTRY + 8);
	assert_int_equal(w.src, 0xaa);

	/* mov %r8,(%rdi,%rax,8); mov %rax,8(%r13); mov %rax,0x1000; mov %rax,0x10(%rip) */
	c = cpu0();
	c.gpr[RAX] = 3;
	w = decode_ok(&c, BYTES(0x4c, 0x89, 0x04, 0xc7));
	assert_int_equal(w.gla, ENTRY + 24);
	assert_int_equal(w.src, c.gpr[R8]);
	w = decode_ok(&c, BYTES(0x49, 0x89, 0x45, 0x08));
	assert_int_equal(w.gla, c.gpr[R13] + 8);
	w = decode_ok(&c, BYTES(0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00));
	assert_int_equal(w.gla, 0x1000);
	w = decode_ok(&c, BYTES(0x48, 0x89, 0x05, 0x10, 0x00, 0x00, 0x00));
	assert_int_equal(w.gla, c.rip + 7 + 0x10);
	/* disp8 negative: mov %rax,-8(%rdi) */
	w = decode_ok(&c, BYTES(0x48, 0x89, 0x47, 0xf8));
	assert_int_equal(w.gla, ENTRY - 8);
}

static void stos_and_xchg(void **state)
{
	struct ve_cpu c = cpu0();
	struct ve_write w;
	uint64_t rdx;

	(void)state;
	w = decode_ok(&c, BYTES(0x48, 0xab));
	assert_true(w.stos);
	assert_int_equal(apply(&w, 0, &c), 0x1111111111111111ull);
	assert_int_equal(c.gpr[RDI], ENTRY + 8);
	c = cpu0();
	c.rflags |= DF;
	w = decode_ok(&c, BYTES(0x48, 0xab));
	apply(&w, 0, &c);
	assert_int_equal(c.gpr[RDI], ENTRY - 8);

	/* xchg %rdx,(%rdi): ptep_get_and_clear() */
	c = cpu0();
	rdx = c.gpr[RDX];
	w = decode_ok(&c, BYTES(0x48, 0x87, 0x17));
	assert_int_equal(w.op, VE_OP_XCHG);
	assert_int_equal(apply(&w, 0x1234067ull, &c), rdx);
	assert_int_equal(c.gpr[RDX], 0x1234067ull);
	/* xchg %ah,(%rdi): only AH changes */
	c = cpu0();
	w = decode_ok(&c, BYTES(0x86, 0x27));
	apply(&w, 0x77, &c);
	assert_int_equal(c.gpr[RAX], 0x1111111111117711ull);
	/* xchg %eax,(%rdi): 32 bits written back zero-extend */
	c = cpu0();
	w = decode_ok(&c, BYTES(0x87, 0x07));
	apply(&w, 0xaaaaaaaabbbbbbbbull, &c);
	assert_int_equal(c.gpr[RAX], 0xbbbbbbbbull);
}

static void cmpxchg(void **state)
{
	struct ve_cpu c = cpu0();
	struct ve_write w;

	(void)state;
	/* lock cmpxchg %rdx,(%rdi), RAX matching: written, ZF */
	c.gpr[RAX] = 0x5067;
	w = decode_ok(&c, BYTES(0xf0, 0x48, 0x0f, 0xb1, 0x17));
	assert_true(w.lock);
	assert_int_equal(w.op, VE_OP_CMPXCHG);
	assert_int_equal(apply(&w, 0x5067, &c), c.gpr[RDX]);
	assert_true(c.rflags & ZF);
	assert_int_equal(c.gpr[RAX], 0x5067);
	/* not matching: unchanged, RAX loaded, flags of the compare */
	c = cpu0();
	c.gpr[RAX] = 1;
	w = decode_ok(&c, BYTES(0xf0, 0x48, 0x0f, 0xb1, 0x17));
	assert_int_equal(apply(&w, 2, &c), 2);
	assert_int_equal(c.gpr[RAX], 2);
	assert_false(c.rflags & ZF);
	assert_true(c.rflags & CF);	/* 1 < 2 */
	assert_true(c.rflags & SF);	/* 1 - 2 < 0 */
	/* 32-bit, failing: EAX loaded, RAX's high half cleared */
	c = cpu0();
	w = decode_ok(&c, BYTES(0x0f, 0xb1, 0x17));
	assert_int_equal(w.size, 4);
	apply(&w, 0x99, &c);
	assert_int_equal(c.gpr[RAX], 0x99);
	/* byte */
	c = cpu0();
	c.gpr[RAX] = 0x67;
	w = decode_ok(&c, BYTES(0xf0, 0x0f, 0xb0, 0x0f));
	assert_int_equal(w.size, 1);
	assert_int_equal(apply(&w, 0xff00000000000067ull, &c), 0xff00000000000022ull);	/* CL */
}

static void logic_and_bits(void **state)
{
	struct ve_cpu c = cpu0();
	struct ve_write w;

	(void)state;
	/* lock andb $0xfd,(%rdi): ptep_set_wrprotect() in Debian's 6.1 */
	w = decode_ok(&c, BYTES(0xf0, 0x80, 0x27, 0xfd));
	assert_int_equal(w.op, VE_OP_AND);
	assert_int_equal(w.size, 1);
	assert_int_equal(apply(&w, 0x8000000012345067ull, &c), 0x8000000012345065ull);
	assert_false(c.rflags & (CF | ZF));
	/* orq $2,(%rdi) (imm8 sign-extended); xor %rax,(%rdi) */
	c = cpu0();
	w = decode_ok(&c, BYTES(0x48, 0x83, 0x0f, 0x02));
	assert_int_equal(w.op, VE_OP_OR);
	assert_int_equal(apply(&w, 0x65, &c), 0x67);
	c = cpu0();
	c.gpr[RAX] = 0x67;
	w = decode_ok(&c, BYTES(0x48, 0x31, 0x07));
	assert_int_equal(apply(&w, 0x67, &c), 0);
	assert_true(c.rflags & ZF);
	assert_true(c.rflags & PF);
	/* andq $-3,(%rdi) as 81 /4 id */
	c = cpu0();
	w = decode_ok(&c, BYTES(0x48, 0x81, 0x27, 0xfd, 0xff, 0xff, 0xff));
	assert_int_equal(apply(&w, 0x67, &c), 0x65);

	/* lock bts %rax,(%rdi) with bit 1: CF the old bit */
	c = cpu0();
	c.gpr[RAX] = 1;
	w = decode_ok(&c, BYTES(0xf0, 0x48, 0x0f, 0xab, 0x07));
	assert_int_equal(w.op, VE_OP_BTS);
	assert_int_equal(apply(&w, 0x65, &c), 0x67);
	assert_false(c.rflags & CF);
	/* btr with a register offset past the operand: a bit string */
	c = cpu0();
	c.gpr[RAX] = 64 + 1;
	c.gpr[RDI] = ENTRY - 8;
	w = decode_ok(&c, BYTES(0x48, 0x0f, 0xb3, 0x07));
	assert_int_equal(w.gla, ENTRY);
	assert_int_equal(w.src, 1);
	assert_int_equal(apply(&w, 0x67, &c), 0x65);
	assert_true(c.rflags & CF);
	/* ... and a negative one */
	c = cpu0();
	c.gpr[RAX] = (uint64_t)-63;
	c.gpr[RDI] = ENTRY + 8;
	w = decode_ok(&c, BYTES(0x48, 0x0f, 0xbb, 0x07));
	assert_int_equal(w.gla, ENTRY);
	assert_int_equal(w.src, 1);
	/*
	 * ds andb $0xfd,(%r12): the same on a one-CPU Linux, its LOCK made
	 * DS; ES, CS and SS are no override in 64-bit mode either.
	 */
	c = cpu0();
	c.gpr[R12] = ENTRY;
	w = decode_ok(&c, BYTES(0x3e, 0x41, 0x80, 0x24, 0x24, 0xfd));
	assert_int_equal(w.op, VE_OP_AND);
	assert_int_equal(w.gla, ENTRY);
	assert_false(w.lock);
	assert_int_equal(apply(&w, 0x8000000012345067ull, &c), 0x8000000012345065ull);
	assert_int_equal(c.rip, 0xffffffff81000006ull);
	c = cpu0();
	w = decode_ok(&c, BYTES(0x26, 0x2e, 0x36, 0x48, 0x89, 0x07));
	assert_int_equal(w.op, VE_OP_MOV);
	/* btsq $63,(%rdi): NX */
	c = cpu0();
	w = decode_ok(&c, BYTES(0x48, 0x0f, 0xba, 0x2f, 0x3f));
	assert_int_equal(apply(&w, 0x67, &c), 0x8000000000000067ull);
}

static void refused(void **state)
{
	static const struct { uint8_t b[8]; unsigned int n; int st; } bad[] = {
		{ { 0xf3, 0x48, 0xab }, 3, VE_EMU_UNSUPPORTED },	/* rep stosq */
		{ { 0x64, 0x48, 0x89, 0x07 }, 4, VE_EMU_UNSUPPORTED },	/* fs: */
		{ { 0x3e, 0x65, 0x48, 0x89, 0x07 }, 5, VE_EMU_UNSUPPORTED },	/* ds gs: */
		{ { 0x67, 0x48, 0x89, 0x07 }, 4, VE_EMU_UNSUPPORTED },	/* addr32 */
		{ { 0x48, 0x89, 0xc7 }, 3, VE_EMU_UNSUPPORTED },	/* mov %rax,%rdi */
		{ { 0x48, 0x8b, 0x07 }, 3, VE_EMU_UNSUPPORTED },	/* a load */
		{ { 0x0f, 0x0b }, 2, VE_EMU_UNSUPPORTED },		/* ud2 */
		{ { 0xc6, 0x4f, 0x08, 0xaa }, 4, VE_EMU_UNSUPPORTED },	/* c6 /1 */
		{ { 0xf0, 0x48, 0x89, 0x07 }, 4, VE_EMU_UNSUPPORTED },	/* lock mov */
		{ { 0x48, 0x0f, 0xa3, 0x07 }, 4, VE_EMU_UNSUPPORTED },	/* bt: no write */
		{ { 0x80, 0x3f, 0x01 }, 3, VE_EMU_UNSUPPORTED },	/* cmpb */
		{ { 0x48, 0x66, 0x89, 0x07 }, 4, VE_EMU_UNSUPPORTED },	/* REX then 66 */
	};
	struct ve_cpu c = cpu0();
	struct ve_write w;
	unsigned int i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ve_decode(bad[i].b, bad[i].n, &c, &w), bad[i].st);
	/* A write across two entries is not one entry's change. */
	w = decode_ok(&c, BYTES(0x48, 0x89, 0x47, 0x04));
	assert_int_equal(ve_apply(&w, ENTRY, 0, &(uint64_t){ 0 }, &c), VE_EMU_STRADDLES);
	w = decode_ok(&c, BYTES(0x48, 0x89, 0x47, 0xfc));
	assert_int_equal(ve_apply(&w, ENTRY, 0, &(uint64_t){ 0 }, &c), VE_EMU_STRADDLES);
}

/* Every prefix of a valid encoding is short, never a different instruction. */
static void truncated(void **state)
{
	static const struct { uint8_t b[8]; unsigned int n; } good[] = {
		{ { 0x48, 0x89, 0x07 }, 3 },
		{ { 0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff }, 7 },
		{ { 0xf0, 0x48, 0x0f, 0xb1, 0x17 }, 5 },
		{ { 0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00 }, 8 },
		{ { 0x48, 0x0f, 0xba, 0x2f, 0x3f }, 5 },
		{ { 0xf0, 0x80, 0x27, 0xfd }, 4 },
	};
	struct ve_cpu c = cpu0();
	struct ve_write w;
	unsigned int i, n;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(ve_decode(good[i].b, good[i].n, &c, &w), VE_EMU_OK);
		for (n = 0; n < good[i].n; n++)
			assert_int_equal(ve_decode(good[i].b, n, &c, &w), VE_EMU_TRUNCATED);
	}
}

/* Hostile bytes: no crash, no read past the length, sane results. */
static void random_bytes(void **state)
{
	uint8_t buf[32];
	unsigned int i, k, ok = 0;

	(void)state;
	srand(1);
	for (i = 0; i < 200000; i++) {
		unsigned int n = (unsigned int)rand() % 16;
		struct ve_cpu c = cpu0();
		struct ve_write w;
		uint8_t *copy;
		uint64_t new;

		for (k = 0; k < sizeof(buf); k++)
			buf[k] = (uint8_t)rand();
		/* the common first bytes more often */
		if (i & 1)
			buf[0] = (uint8_t[]){ 0x48, 0xf0, 0x66, 0x0f, 0x89, 0x80 }[rand() % 6];
		/* an exact-size heap copy: ASan catches a read past n */
		copy = malloc(n ? n : 1);
		memcpy(copy, buf, n);
		if (ve_decode(copy, n, &c, &w) == VE_EMU_OK) {
			ok++;
			assert_true(w.len >= 1 && w.len <= n && w.len <= VE_INSN_MAX);
			assert_true(w.size == 1 || w.size == 2 || w.size == 4 || w.size == 8);
			assert_true(w.op >= VE_OP_MOV && w.op <= VE_OP_BTC);
			if (ve_apply(&w, w.gla & ~7ull, 0x8000000012345067ull, &new, &c) == VE_EMU_OK)
				assert_int_equal(c.rip, cpu0().rip + w.len);
		}
		free(copy);
	}
	assert_true(ok > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mov_forms),
		cmocka_unit_test(stos_and_xchg),
		cmocka_unit_test(cmpxchg),
		cmocka_unit_test(logic_and_bits),
		cmocka_unit_test(refused),
		cmocka_unit_test(truncated),
		cmocka_unit_test(random_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
