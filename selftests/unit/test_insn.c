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

#define DESC(code64, cs_db, m, base_bytes, ...) ({			\
	static const u8 b_[] = { __VA_ARGS__ };				\
	insn_desc_load(b_, sizeof(b_), code64, cs_db, m, base_bytes);	\
})

static const unsigned long long gpr[16] = {
	0x1000, 0x1100, 0x1200, 0x1300, 0x1400, 0x1500, 0x1600, 0x1700,
	0x800000, 0x900000, 0xa00000, 0xb00000, 0xc00000, 0xd00000, 0xe00000, 0xf00000,
};

static void desc_loads_64(void **state)
{
	unsigned int bb = 0;
	struct insn_modrm m;

	(void)state;
	/* lidt (%rax) */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0x18), INSN_LIDT);
	assert_int_equal(bb, 8);
	assert_int_equal(m.len, 3);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x1000);
	/* lgdt 0x10(%r9,%rcx,4) */
	assert_int_equal(DESC(true, false, &m, &bb, 0x41, 0x0f, 0x01, 0x54, 0x89, 0x10),
			 INSN_LGDT);
	assert_int_equal(m.len, 6);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x900000 + 0x1100 * 4 + 0x10);
	/* lidt -8(%rip): relative to the next instruction */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0x1d, 0xf8, 0xff, 0xff, 0xff),
			 INSN_LIDT);
	assert_int_equal(m.len, 7);
	assert_int_equal(insn_effective_address(&m, gpr, 0x400007), 0x3fffff);
	/* lgdt 0x2000 (SIB, no base, no index): absolute */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0x14, 0x25, 0x00, 0x20, 0, 0),
			 INSN_LGDT);
	assert_int_equal(insn_effective_address(&m, gpr, 0x999), 0x2000);
	/* lgdt %gs:(%rsp), REX.X index 12 with SIB index 4 */
	assert_int_equal(DESC(true, false, &m, &bb, 0x65, 0x42, 0x0f, 0x01, 0x14, 0x24),
			 INSN_LGDT);
	assert_int_equal(m.seg, INSN_GS);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x1400 + 0xc00000);
	/* lldt %r10w, ltr (%rbp) with SS by default */
	assert_int_equal(DESC(true, false, &m, &bb, 0x41, 0x0f, 0x00, 0xd2), INSN_LLDT);
	assert_true(m.is_reg);
	assert_int_equal(m.rm, 10);
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x00, 0x5d, 0x00), INSN_LTR);
	assert_int_equal(m.seg, INSN_SS);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x1500);
	/* 32-bit addressing in 64-bit code: the address wraps at 4G */
	assert_int_equal(DESC(true, false, &m, &bb, 0x67, 0x0f, 0x01, 0x58, 0xf0), INSN_LIDT);
	assert_int_equal(m.addr_size, 4);
}

static void desc_loads_legacy(void **state)
{
	unsigned int bb = 0;
	struct insn_modrm m;

	(void)state;
	/* 32-bit code: lgdt 0x12345678 (disp32, no RIP-relative) */
	assert_int_equal(DESC(false, true, &m, &bb, 0x0f, 0x01, 0x15, 0x78, 0x56, 0x34, 0x12),
			 INSN_LGDT);
	assert_int_equal(bb, 4);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x12345678);
	/* 32-bit code, 16-bit operand: a 24-bit base */
	assert_int_equal(DESC(false, true, &m, &bb, 0x66, 0x0f, 0x01, 0x10), INSN_LGDT);
	assert_int_equal(bb, 3);
	/* 16-bit code: lidt [bp+di+4] with SS, lgdt [0x500] */
	assert_int_equal(DESC(false, false, &m, &bb, 0x0f, 0x01, 0x5b, 0x04), INSN_LIDT);
	assert_int_equal(bb, 3);
	assert_int_equal(m.seg, INSN_SS);
	assert_int_equal(m.len, 4);
	assert_int_equal(insn_effective_address(&m, gpr, 0), (0x1500 + 0x1700 + 4) & 0xffff);
	assert_int_equal(DESC(false, false, &m, &bb, 0x0f, 0x01, 0x16, 0x00, 0x05), INSN_LGDT);
	assert_int_equal(m.seg, INSN_DS);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x500);
	/* [si-2] wraps within 16 bits; 0x67 in 16-bit code: 32-bit addressing */
	assert_int_equal(DESC(false, false, &m, &bb, 0x0f, 0x01, 0x54, 0xfe), INSN_LGDT);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x15fe);
	assert_int_equal(DESC(false, false, &m, &bb, 0x67, 0x0f, 0x01, 0x10), INSN_LGDT);
	assert_int_equal(m.addr_size, 4);
	assert_int_equal(insn_effective_address(&m, gpr, 0), 0x1000);
}

static void not_desc_loads(void **state)
{
	unsigned int bb = 0;
	struct insn_modrm m;

	(void)state;
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0x08), -1);	/* sidt */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x00, 0xc0), -1);	/* sldt */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0xd0), -1);	/* xgetbv */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0xd8), -1);	/* vmrun */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x02, 0x10), -1);	/* lar */
	/* truncated: the SIB, the displacement */
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0x14), -1);
	assert_int_equal(DESC(true, false, &m, &bb, 0x0f, 0x01, 0x90, 0x00, 0x00), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pushf_sizes),
		cmocka_unit_test(not_pushf),
		cmocka_unit_test(mov_from_cr),
		cmocka_unit_test(desc_loads_64),
		cmocka_unit_test(desc_loads_legacy),
		cmocka_unit_test(not_desc_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
