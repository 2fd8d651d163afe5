/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bp-guest: a multiboot kernel for QEMU's -kernel (start-linux-guest -K),
 * for the tests where QEMU's gdbstub and vmiop both want INT3.  32-bit
 * protected mode as multiboot leaves it, no paging (gva == gpa).  It
 * spins forever, and every 2^12 rounds passes
 *
 *   BP_SITE  (0x100100)  int3   its own breakpoint: its handler counts it
 *                               at BP_COUNT (0x100200)
 *   BP_GDB   (0x100101)  inc    where a test's gdb puts one
 *
 * and every 2^10 of those, HB_SITE (0x100120), which prints
 * "linux-guest: heartbeat N bps M" on COM1 (M: the handler's count), the
 * line start-linux-guest waits for, also once before the first round.
 *
 * Built flat (as --32; ld -m elf_i386 --oformat binary) with the a.out
 * kludge of the multiboot header, which QEMU loads at load_addr.
 */
	.set	LOAD, 0x100000
	.set	MB_MAGIC, 0x1badb002
	.set	MB_FLAGS, 0x00010000		/* addresses in the header */
	.set	COM1, 0x3f8

	.code32
	.text
	.globl	_start
image:
mb_header:
	.long	MB_MAGIC
	.long	MB_FLAGS
	.long	-(MB_MAGIC + MB_FLAGS)
	.long	LOAD + (mb_header - image)	/* header_addr */
	.long	LOAD				/* load_addr */
	.long	0				/* load_end_addr: the whole file */
	.long	0				/* bss_end_addr: none */
	.long	LOAD + (_start - image)		/* entry_addr */

_start:
	cli
	/* Multiboot leaves GDTR undefined: a GDT of our own, flat. */
	lgdt	LOAD + (gdtr - image)
	ljmp	$0x08, $(LOAD + (reload_cs - image))
reload_cs:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movl	$(LOAD + (stack_top - image)), %esp
	/* IDT vector 3: a 32-bit interrupt gate to bp_handler, DPL 3. */
	movl	$(LOAD + (bp_handler - image)), %edx
	movl	$(LOAD + (idt - image) + 3 * 8), %ebx
	movw	%dx, (%ebx)
	movw	$0x08, 2(%ebx)
	movw	$0xee00, 4(%ebx)
	shrl	$16, %edx
	movw	%dx, 6(%ebx)
	lidt	LOAD + (idtr - image)
	xorl	%esi, %esi			/* heartbeats */
	xorl	%edi, %edi			/* rounds */
	xorl	%ebp, %ebp			/* passes through BP_SITE */
	jmp	heartbeat

spin:
	incl	%edi
	testl	$4095, %edi
	jnz	spin
	jmp	bp_site

	.org	0x100
bp_site:
	int3
bp_gdb:
	incl	%ebp
	testl	$1023, %ebp
	jnz	spin
	jmp	heartbeat

	.org	0x120
heartbeat:
	movl	$(LOAD + (hb_text - image)), %ebx
	call	puts
	movl	%esi, %eax
	call	putu
	movl	$(LOAD + (bps_text - image)), %ebx
	call	puts
	movl	LOAD + (bp_count - image), %eax
	call	putu
	movb	$'\n', %al
	call	putc
	incl	%esi
	jmp	spin

bp_handler:
	incl	LOAD + (bp_count - image)
	iret

/* Writes %al to COM1. */
putc:
	pushl	%edx
	movw	$COM1, %dx
	outb	%al, %dx
	popl	%edx
	ret

/* Writes the NUL-terminated string at %ebx to COM1. */
puts:
	movb	(%ebx), %al
	testb	%al, %al
	jz	1f
	call	putc
	incl	%ebx
	jmp	puts
1:	ret

/* Writes %eax in decimal to COM1. */
putu:
	movl	$10, %ecx
	xorl	%edx, %edx
	pushl	$-1				/* end mark */
1:	xorl	%edx, %edx
	divl	%ecx
	pushl	%edx
	testl	%eax, %eax
	jnz	1b
2:	popl	%eax
	cmpl	$-1, %eax
	je	3f
	addb	$'0', %al
	call	putc
	jmp	2b
3:	ret

	.org	0x200
bp_count:
	.long	0
hb_text:
	.asciz	"linux-guest: heartbeat "
bps_text:
	.asciz	" bps "

	.balign	8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff		/* 0x08: code, flat, 32-bit */
	.quad	0x00cf92000000ffff		/* 0x10: data, flat */
gdtr:
	.word	3 * 8 - 1
	.long	LOAD + (gdt - image)
	.balign	8
idtr:
	.word	256 * 8 - 1
	.long	LOAD + (idt - image)
	.balign	8
idt:
	.fill	256 * 8, 1, 0
	.fill	4096, 1, 0
stack_top:
