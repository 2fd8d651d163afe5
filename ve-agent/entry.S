/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The #VE agent's entry and hypercall (the rest is agent.c).  Entered
 * through IDT gate 20 (an interrupt gate: IF clear), on the interrupted
 * stack: RIP, CS, RFLAGS, RSP, SS, no error code.  It finds its vCPU's
 * info page, saves the interrupted registers there (HVMI's layout),
 * runs ve_handle() on the page's protected stack, puts back the
 * registers the handler left in the page (RIP and RFLAGS into the frame),
 * clears the semaphore last and returns.
 *
 * A real #VE never interrupts the agent (vmiop converts nothing while the
 * semaphore is set) and always finds its semaphore set.  An entry that
 * breaks either rule is QEMU TCG delivering an injected #VE a second time
 * (selftests/vm/README.md), anywhere before the vCPU's next exit: it is
 * counted and left at once.
 */
#define INFO_SEMAPHORE	0x04
#define INFO_REGS	0x30
#define R(n)		(INFO_REGS + 8 * (n))
#define R_RIP		R(16)
#define R_CS		R(17)
#define R_RFLAGS	R(18)
#define R_SS		R(23)
#define INFO_PSTACK	0x200
#define INFO_OSTACK	0x208

#define CFG_INFO	0
#define CFG_NR_CPUS	16
#define CFG_TSC_AUX	24
#define CFG_UNKNOWN	(24 + 4 * 64)
#define CFG_REDELIVERED	(CFG_UNKNOWN + 8)

	/* struct ve_agent_header (agent.h), at offset 0 of the image */
	.section .text.header, "a"
	.ascii	"VMIOPVE1"
	.long	1
	.long	__code_end
	.long	__image_end
	.long	ve_entry
	.long	ve_hcall_insn
	.long	ve_config

	.section .text.entry, "ax"
	.globl ve_entry
ve_entry:
	push	%rax
	push	%rcx
	lea	__image_start(%rip), %rcx
	mov	16(%rsp), %rax
	sub	%rcx, %rax			/* the interrupted RIP, in the image */
	cmp	$__code_end, %rax
	jb	.Lredelivered
	push	%rdx
	rdtscp				/* ECX: TSC_AUX */
	lea	ve_config(%rip), %rdx
	xor	%eax, %eax
.Lfind:
	cmp	CFG_NR_CPUS(%rdx), %eax
	jae	.Lunknown
	cmp	CFG_TSC_AUX(%rdx, %rax, 4), %ecx
	je	.Lfound
	inc	%eax
	jmp	.Lfind
.Lfound:
	shl	$12, %rax
	add	CFG_INFO(%rdx), %rax		/* RAX: the info page */
	cmpl	$-1, INFO_SEMAPHORE(%rax)
	jne	.Lnot_busy
	mov	%rbx, R(3)(%rax)
	mov	%rbp, R(5)(%rax)
	mov	%rsi, R(6)(%rax)
	mov	%rdi, R(7)(%rax)
	mov	%r8, R(8)(%rax)
	mov	%r9, R(9)(%rax)
	mov	%r10, R(10)(%rax)
	mov	%r11, R(11)(%rax)
	mov	%r12, R(12)(%rax)
	mov	%r13, R(13)(%rax)
	mov	%r14, R(14)(%rax)
	mov	%r15, R(15)(%rax)
	mov	(%rsp), %rcx
	mov	%rcx, R(2)(%rax)		/* RDX */
	mov	8(%rsp), %rcx
	mov	%rcx, R(1)(%rax)		/* RCX */
	mov	16(%rsp), %rcx
	mov	%rcx, R(0)(%rax)		/* RAX */
	mov	24(%rsp), %rcx
	mov	%rcx, R_RIP(%rax)
	mov	32(%rsp), %rcx
	mov	%rcx, R_CS(%rax)
	mov	40(%rsp), %rcx
	mov	%rcx, R_RFLAGS(%rax)
	mov	48(%rsp), %rcx
	mov	%rcx, R(4)(%rax)		/* RSP */
	mov	56(%rsp), %rcx
	mov	%rcx, R_SS(%rax)
	mov	%rsp, INFO_OSTACK(%rax)
	mov	INFO_PSTACK(%rax), %rsp
	mov	%rax, %rdi
	cld
	call	ve_handle
	mov	%rax, %rdi			/* ve_handle() returns its page */
	mov	INFO_OSTACK(%rdi), %rsp
	mov	R_RIP(%rdi), %rcx
	mov	%rcx, 24(%rsp)
	mov	R_RFLAGS(%rdi), %rcx
	mov	%rcx, 40(%rsp)
	mov	R(0)(%rdi), %rax
	mov	R(1)(%rdi), %rcx
	mov	R(2)(%rdi), %rdx
	mov	R(3)(%rdi), %rbx
	mov	R(5)(%rdi), %rbp
	mov	R(6)(%rdi), %rsi
	mov	R(8)(%rdi), %r8
	mov	R(9)(%rdi), %r9
	mov	R(10)(%rdi), %r10
	mov	R(11)(%rdi), %r11
	mov	R(12)(%rdi), %r12
	mov	R(13)(%rdi), %r13
	mov	R(14)(%rdi), %r14
	mov	R(15)(%rdi), %r15
	/* The next #VE may come once the page is read for the last time. */
	push	R(7)(%rdi)
	movl	$0, INFO_SEMAPHORE(%rdi)
	pop	%rdi
	add	$24, %rsp
	iretq

	/*
	 * No info page for this vCPU: its semaphore stays set, so the
	 * access faults again as an ordinary event.
	 */
.Lunknown:
	lock incq CFG_UNKNOWN(%rdx)
	pop	%rdx
	pop	%rcx
	pop	%rax
	iretq
.Lnot_busy:
	pop	%rdx
.Lredelivered:
	lock incq ve_config+CFG_REDELIVERED(%rip)
	pop	%rcx
	pop	%rax
	iretq

/*
 * uint64_t ve_hcall(uint64_t op, uint64_t rbx, uint64_t rcx): the agent's
 * hypercall, RAX its status.  The installer makes the VMCALL a VMMCALL on
 * AMD.
 */
	.text
	.globl ve_hcall
ve_hcall:
	push	%rbx
	mov	%rsi, %rbx
	mov	%rdx, %rcx
	mov	%rdi, %rdx
	mov	$0x22, %eax
	mov	$0x18, %edi
	xor	%esi, %esi
	.globl ve_hcall_insn
ve_hcall_insn:
	vmcall
	pop	%rbx
	ret

	.section .note.GNU-stack, "", @progbits
