// SPDX-License-Identifier: GPL-2.0
/*
 * The instructions vmiop decodes itself: PUSHF's operand size in each
 * mode, and MOV from CR's destination register, with the prefixes that
 * change them and the encodings that must not be mistaken for them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include "insn.h"

#define PUSHF(code64, cs_db, ...) ({					\
	static const u8 b_[] = { __VA_ARGS__ };				\
	unsigned int len_ = 0, size_;					\
	size_ = insn_pushf_size(b_, sizeof(b_), code64, cs_db, &len_);	\
	size_ ? size_ * 100 + len_ : 0;					\
})

static void pushf_sizes(void **state)
{
	(void)state;
	/* size * 100 + length */
	assert_int_equal(PUSHF(true, false, 0x9c), 801);
	assert_int_equal(PUSHF(true, false, 0x66, 0x9c), 202);
	assert_int_equal(PUSHF(true, false, 0x66, 0x48, 0x9c), 803);	/* REX.W wins */
	assert_int_equal(PUSHF(true, false, 0x48, 0x66, 0x9c), 203);	/* REX not last: ignored */
	assert_int_equal(PUSHF(true, false, 0x41, 0x9c), 802);
	assert_int_equal(PUSHF(true, false, 0x2e, 0xf3, 0x9c), 803);
	assert_int_equal(PUSHF(false, true, 0x9c), 401);
	assert_int_equal(PUSHF(false, true, 0x66, 0x9c), 202);
	assert_int_equal(PUSHF(false, false, 0x9c), 201);
	assert_int_equal(PUSHF(false, false, 0x66, 0x9c), 402);
	/* Outside 64-bit code 0x48 is DEC EAX, not a prefix. */
	assert_int_equal(PUSHF(false, true, 0x48, 0x9c), 0);
}

static void not_pushf(void **state)
{
	static const u8 only_prefixes[INSN_MAX_LEN + 2] = {
		0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x9c,
	};
	unsigned int len = 0;

	(void)state;
	assert_int_equal(PUSHF(true, false, 0x9d), 0);		/* POPF */
	assert_int_equal(PUSHF(true, false, 0x0f, 0x9c), 0);	/* SETL */
	assert_int_equal(PUSHF(true, false, 0x66), 0);		/* truncated */
	/* Past the longest instruction nothing is an opcode. */
	assert_int_equal(insn_pushf_size(only_prefixes, sizeof(only_prefixes), true,
					 false, &len), 0);
	assert_int_equal(insn_pushf_size(only_prefixes, 0, true, false, &len), 0);
}

#define MOVCR(code64, cr, ...) ({					\
	static const u8 b_[] = { __VA_ARGS__ };				\
	insn_mov_from_cr_gpr(b_, sizeof(b_), code64, cr);		\
})

static void mov_from_cr(void **state)
{
	(void)state;
	assert_int_equal(MOVCR(true, 3, 0x0f, 0x20, 0xd8), 0);		/* mov %cr3,%rax */
	assert_int_equal(MOVCR(true, 3, 0x41, 0x0f, 0x20, 0xd9), 9);	/* mov %cr3,%r9 */
	assert_int_equal(MOVCR(true, 0, 0x0f, 0x20, 0xc7), 7);		/* mov %cr0,%rdi */
	assert_int_equal(MOVCR(true, 4, 0x0f, 0x20, 0xe3), 3);		/* mov %cr4,%rbx */
	assert_int_equal(MOVCR(false, 3, 0x0f, 0x20, 0xd9), 1);		/* mov %cr3,%ecx */
	/* Not that CR: another one, CR8 via REX.R, CR8 via LOCK (AMD). */
	assert_int_equal(MOVCR(true, 3, 0x0f, 0x20, 0xe0), -1);
	assert_int_equal(MOVCR(true, 0, 0x44, 0x0f, 0x20, 0xc0), -1);
	assert_int_equal(MOVCR(false, 0, 0xf0, 0x0f, 0x20, 0xc0), -1);
	/* Not a MOV from CR: MOV to CR, SMSW, truncated. */
	assert_int_equal(MOVCR(true, 3, 0x0f, 0x22, 0xd8), -1);
	assert_int_equal(MOVCR(true, 0, 0x0f, 0x01, 0xe0), -1);
	assert_int_equal(MOVCR(true, 3, 0x0f, 0x20), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pushf_sizes),
		cmocka_unit_test(not_pushf),
		cmocka_unit_test(mov_from_cr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
