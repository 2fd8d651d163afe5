/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vmiop #VE: the per-vCPU info page, the agent's hypercalls and the
 * page-table-entry cache, laid out as Bitdefender HVMI's vecommon.h lays
 * out VECPU, VE_HCALL_* and VE_CACHE_LINE (names here are vmiop's; each
 * says which HVMI field it is).  Shared by the module, libvmiop and the
 * freestanding agent (ve-agent/): the static asserts at the end pin every
 * offset, so the three cannot drift apart.
 *
 * The module fills the first 40 bytes of a vCPU's info page when it
 * delivers a #VE (as the CPU would for an EPT-violation #VE) and reads
 * what the agent left there when it raises an access; everything else in
 * the page is the agent's.
 */
#ifndef _UAPI_LINUX_VMIOP_VE_H
#define _UAPI_LINUX_VMIOP_VE_H

#include <linux/types.h>

/* The #VE vector (Intel's virtualization exception). */
#define VMIOP_VE_VECTOR			20

/*
 * The agent's hypercall: VMCALL (Intel) or VMMCALL (AMD) from the agent's
 * own code (VMIOP_SET_VE_AGENT) at CPL 0 in 64-bit mode with RAX =
 * VMIOP_VE_HCALL_RAX, RDI = VMIOP_VE_HCALL_RDI, RSI = 0 and RDX the
 * operation (HVMI: VE_VMCALL_OP, VE_VMCALL_SUBOP; Xen's hvm_op and
 * HVMOP_guest_request_vm_event).  RAX returns an enum vmiop_ve_status.
 * The same instruction anywhere else is an ordinary hypercall.
 */
#define VMIOP_VE_HCALL_RAX		0x22
#define VMIOP_VE_HCALL_RDI		0x18

enum vmiop_ve_hcall {
	VMIOP_VE_HCALL_NOP = 0,		/* returns VMIOP_VE_SUCCESS */
	/* RBX = enum vmiop_ve_break_reason, RCX = parameter: a VMIOP_EVENT_AGENT */
	VMIOP_VE_HCALL_BREAK = 1,
	VMIOP_VE_HCALL_TRACE = 2,	/* RBX, RCX: a VMIOP_EVENT_AGENT */
	/*
	 * The access of the #VE being handled is one the introspector must
	 * see: the agent returns to the faulting instruction without doing
	 * its write (clearing the semaphore as always), and that access is
	 * then delivered as the VMIOP_EVENT_MEM it would have been without
	 * the agent, flagged VMIOP_MEM_F_AGENT, with the info page's
	 * @old_value and @new_value.  (HVMI's agent commits the write itself
	 * after this call; vmiop's lets the introspector's reply decide it.)
	 * VMIOP_VE_ERROR unless the semaphore is set and the page's @gpa is
	 * the one vmiop delivered.
	 */
	VMIOP_VE_HCALL_RAISE_EPT = 3,
};

/* RBX of VMIOP_VE_HCALL_BREAK (HVMI's VE_BREAK_*) */
enum vmiop_ve_break_reason {
	VMIOP_VE_BREAK_UNKNOWN_EXIT = 1,	/* not an EPT-violation #VE */
	VMIOP_VE_BREAK_PAGE_WALK_FAILED = 2,
	VMIOP_VE_BREAK_EMULATION_FAILED = 3,	/* the instruction was not decoded */
	VMIOP_VE_BREAK_CS_NOT_KERNEL = 4,
};

/* RAX of a hypercall (HVMI's VESTATUS): success is below bit 31 */
enum vmiop_ve_status {
	VMIOP_VE_SUCCESS = 0,
	VMIOP_VE_ERROR = 0x80000000u,
	VMIOP_VE_NOT_SUPPORTED = 0x80000001u,
	VMIOP_VE_DISASM_ERROR = 0x80000002u,
	VMIOP_VE_PAGE_NOT_PRESENT = 0x80000003u,
	VMIOP_VE_ACCESS_DENIED = 0x80000004u,
};

/* The exit reason in @reason: an EPT violation. */
#define VMIOP_VE_REASON_EPT_VIOLATION	48
/* @semaphore as delivered; the agent writes 0 to take the next #VE. */
#define VMIOP_VE_SEMAPHORE_BUSY		0xFFFFFFFFu

/* @qualification bits (the EPT-violation exit qualification) */
#define VMIOP_VE_QUAL_READ		(1ull << 0)
#define VMIOP_VE_QUAL_WRITE		(1ull << 1)
#define VMIOP_VE_QUAL_FETCH		(1ull << 2)
#define VMIOP_VE_QUAL_READABLE		(1ull << 3)	/* the page's rights */
#define VMIOP_VE_QUAL_WRITABLE		(1ull << 4)
#define VMIOP_VE_QUAL_EXECUTABLE	(1ull << 5)
#define VMIOP_VE_QUAL_GLA_VALID		(1ull << 7)	/* @gla holds the address */
/*
 * The access was to the final translation, not to a paging-structure
 * entry of the guest's page walk.  On Intel defined only with
 * VMIOP_VE_QUAL_GLA_VALID, as the CPU reports it; vmiop on AMD, which
 * reports no linear address, sets it from the #NPF's own final-translation
 * bit, so an agent tells walks from writes on both.
 */
#define VMIOP_VE_QUAL_FINAL		(1ull << 8)

/* HVMI's REGISTERS, in x86 encoding order: (&rax)[n] is GPR n */
struct vmiop_ve_regs {
	__u64 rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	__u64 r8, r9, r10, r11, r12, r13, r14, r15;
	__u64 rip, cs, rflags;
	__u64 cr0, cr3, cr4, dr7;
	__u64 ss, mxcsr, reserved2;
	__u64 xmm[16][2];
} __attribute__((packed));

/*
 * One vCPU's info page (HVMI's VECPU, in a 4 KiB page of its own,
 * VMIOP_SET_VE_INFO).  The module writes @reason .. @eptp_index and then
 * @semaphore; the rest is the agent's.
 */
struct vmiop_ve_cpu {
	__u32 reason;			/* Reason: VMIOP_VE_REASON_EPT_VIOLATION */
	__u32 semaphore;		/* Reserved: non-zero, no #VE (events instead) */
	__u64 qualification;		/* Qualification: VMIOP_VE_QUAL_* */
	__u64 gla;			/* GuestLinearAddress */
	__u64 gpa;			/* GuestPhysicalAddress */
	__u64 eptp_index;		/* EptpIndex: 0, stock KVM has one view */
	__u64 reserved2;		/* Reserved2 */
	struct vmiop_ve_regs regs;	/* Registers: saved by the agent */
	__u64 protected_stack;		/* ProtectedStack */
	__u64 original_stack;		/* OriginalStack */
	__u64 old_value;		/* OldValue: the entry before the write */
	__u64 new_value;		/* NewValue: the entry the write makes */
	/* counters kept by the agent (VeTotal ... VeIgnoredIrrelevant) */
	__u64 ve_total;			/* #VEs taken */
	__u64 ve_mm;			/* of them, page-table writes */
	__u64 ve_page_walk;		/* of them, page-walk A/D updates */
	__u64 ve_ignored_total;		/* absorbed without a raise */
	__u64 ve_ignored_cache;		/* ... the entry was in the cache */
	__u64 ve_ignored_irrelevant;	/* ... no monitored bit changed */
	__u64 tsc_total;		/* TscTotal */
	__u64 tsc_count;		/* TscCount */
	__u8 instruction[16];		/* Instruction: the faulting bytes */
	__u64 self;			/* Self: the page's own linear address */
	__u64 index;			/* Index: the vCPU's */
	__u8 raised;			/* Raised: the agent raised this access */
} __attribute__((packed));

/* HVMI's VE_STACK (bytes), VE_MAX_CPUS */
#define VMIOP_VE_STACK_SIZE		0x4000
#define VMIOP_VE_MAX_CPUS		64

/*
 * The cache of page-table entries the introspector does not monitor
 * (HVMI's VE_CACHE_LINE): 64 lines of one page each, 64 buckets of 8
 * entries; an entry's gpa picks line (bits 12-17) and bucket (bits 3-8).
 */
#define VMIOP_VE_CACHE_LINES		64
#define VMIOP_VE_CACHE_BUCKETS		64
#define VMIOP_VE_CACHE_ENTRIES		8
#define VMIOP_VE_CACHE_LINE(gpa)	(((gpa) >> 12) & 0x3f)
#define VMIOP_VE_CACHE_BUCKET(gpa)	(((gpa) >> 3) & 0x3f)

struct vmiop_ve_cache_line {
	__u64 entries[VMIOP_VE_CACHE_BUCKETS][VMIOP_VE_CACHE_ENTRIES];
};

/*
 * The page-table entry bits whose change the agent raises (HVMI's
 * HOOK_PTS_MONITORED_BITS): present, writable, user, page size, address.
 */
#define VMIOP_VE_MONITORED_BITS		(0x000ffffffffff000ull | 0x87ull)

#if defined(__KERNEL__) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L)
#define VMIOP_VE_OFFSET(f, off) \
	_Static_assert(__builtin_offsetof(struct vmiop_ve_cpu, f) == (off), "vecommon " #f)
VMIOP_VE_OFFSET(reason, 0x000);
VMIOP_VE_OFFSET(semaphore, 0x004);
VMIOP_VE_OFFSET(qualification, 0x008);
VMIOP_VE_OFFSET(gla, 0x010);
VMIOP_VE_OFFSET(gpa, 0x018);
VMIOP_VE_OFFSET(eptp_index, 0x020);
VMIOP_VE_OFFSET(reserved2, 0x028);
VMIOP_VE_OFFSET(regs, 0x030);
VMIOP_VE_OFFSET(regs.r8, 0x070);
VMIOP_VE_OFFSET(regs.rip, 0x0b0);
VMIOP_VE_OFFSET(regs.cs, 0x0b8);
VMIOP_VE_OFFSET(regs.rflags, 0x0c0);
VMIOP_VE_OFFSET(regs.cr0, 0x0c8);
VMIOP_VE_OFFSET(regs.dr7, 0x0e0);
VMIOP_VE_OFFSET(regs.ss, 0x0e8);
VMIOP_VE_OFFSET(regs.mxcsr, 0x0f0);
VMIOP_VE_OFFSET(regs.xmm, 0x100);
VMIOP_VE_OFFSET(protected_stack, 0x200);
VMIOP_VE_OFFSET(original_stack, 0x208);
VMIOP_VE_OFFSET(old_value, 0x210);
VMIOP_VE_OFFSET(new_value, 0x218);
VMIOP_VE_OFFSET(ve_total, 0x220);
VMIOP_VE_OFFSET(ve_ignored_irrelevant, 0x248);
VMIOP_VE_OFFSET(tsc_total, 0x250);
VMIOP_VE_OFFSET(tsc_count, 0x258);
VMIOP_VE_OFFSET(instruction, 0x260);
VMIOP_VE_OFFSET(self, 0x270);
VMIOP_VE_OFFSET(index, 0x278);
VMIOP_VE_OFFSET(raised, 0x280);
#undef VMIOP_VE_OFFSET
_Static_assert(sizeof(struct vmiop_ve_regs) == 0x1d0, "vecommon REGISTERS");
_Static_assert(sizeof(struct vmiop_ve_cpu) == 0x281, "vecommon VECPU");
_Static_assert(sizeof(struct vmiop_ve_cache_line) == 4096, "vecommon VE_CACHE_LINE");
#endif

#endif /* _UAPI_LINUX_VMIOP_VE_H */
