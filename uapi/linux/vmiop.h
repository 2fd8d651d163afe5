/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vmiop: virtual-machine introspection for stock KVM.
 *
 * One ABI for the module, libvmiop, the tools and the in-guest agent.
 *
 * Conventions (iommufd style):
 *  - Every ioctl takes one struct that starts with __u32 size, __u32 flags.
 *    @size is the size of the struct the caller was built with.  A caller with
 *    an older, shorter struct works; a caller with a newer, longer struct works
 *    as long as the bytes the module does not know are zero (else -E2BIG).
 *  - Unknown @flags bits and non-zero reserved fields are rejected (-EINVAL)
 *    and nothing is changed.
 *  - What the module can do is reported by VMIOP_GET_API feature bits, never
 *    by a version number.
 *
 * An ioctl that fails has changed nothing: not guest memory, not guest
 * registers, not the session (its pause count, its ring, its events) —
 * whatever its error; only a batch of memory writes keeps the ops its
 * @done counts, each whole, and VMIOP_EVENT_WAIT with
 * VMIOP_EVENT_WAIT_F_TAIL keeps the tail it stored before it waited
 * (-ETIMEDOUT, -EINTR).  One that succeeds has written its out fields: a
 * command that changes something writes them before it does, so a struct
 * the caller cannot receive them in (a read-only page) fails with -EFAULT
 * and nothing changed.
 *
 * A session whose fd was opened O_RDONLY only reads the guest: it reads
 * memory, registers, translations, maps pages read-only (PROT_WRITE is
 * -EACCES, from mmap(2) itself), pauses and takes events, but commands that
 * write guest memory or registers, and replies other than
 * VMIOP_ACTION_CONTINUE, fail with -EBADF; so do single steps where they
 * are made with the trap flag, which the guest can see (enabling
 * VMIOP_EVENT_SINGLESTEP, VMIOP_REPLY_F_SINGLESTEP; vmiop_event_caps.
 * singlestep says).  Its ring is mapped read-only: entries go back with
 * VMIOP_EVENT_WAIT_F_TAIL.  VMIOP_FEAT_READ_ONLY says the module enforces
 * this (an older one ignores the access mode).
 *
 * Errors every ioctl can return, in addition to those listed per ioctl:
 *   -EFAULT   the argument (or a buffer it points to) is not accessible,
 *             or the argument cannot take the out fields
 *   -EBADF    the command writes the guest and the session is read-only
 *   -E2BIG    @size is larger than the module's struct and the extra bytes
 *             are not zero
 *   -EINVAL   @size is smaller than the first version of the struct, unknown
 *             flag, non-zero reserved field, or a field out of range
 *   -ENOTTY   unknown ioctl
 *   -ENOTCONN the ioctl needs an attached session and this one is not
 *   -ESRCH    the VM's process has exited: the session can only be closed
 *   -EINTR    a fatal signal arrived while waiting; nothing was changed
 */
#ifndef _UAPI_LINUX_VMIOP_H
#define _UAPI_LINUX_VMIOP_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define VMIOP_DEVICE "/dev/vmiop"
#define VMIOP_TYPE 0xB7

enum {
	VMIOP_CMD_BASE = 0x40,
	VMIOP_CMD_GET_API = VMIOP_CMD_BASE,
	VMIOP_CMD_ATTACH,
	VMIOP_CMD_VM_INFO,
	VMIOP_CMD_GET_MEMMAP,
	VMIOP_CMD_PAUSE,
	VMIOP_CMD_RESUME,
	VMIOP_CMD_GET_REGS,
	VMIOP_CMD_SET_REGS,
	VMIOP_CMD_GET_REG_LIST,
	VMIOP_CMD_SET_REG_LIST,
	VMIOP_CMD_READ_MEM,
	VMIOP_CMD_WRITE_MEM,
	VMIOP_CMD_TRANSLATE,
	VMIOP_CMD_EVENT_CAPS,
	VMIOP_CMD_RING_SETUP,
	VMIOP_CMD_EVENT_CONTROL,
	VMIOP_CMD_EVENT_REPLY,
	VMIOP_CMD_EVENT_WAIT,
	VMIOP_CMD_SET_MEM_ACCESS,
	VMIOP_CMD_GET_MEM_ACCESS,
	VMIOP_CMD_SET_VE_AGENT,
	VMIOP_CMD_SET_VE_INFO,
	VMIOP_CMD_ADD_MEMORY,
	VMIOP_CMD_UNDO,
};

/* ---------------------------------------------------------------------- */

/* Feature bits returned by VMIOP_GET_API. */
#define VMIOP_FEAT_PAUSE	(1ULL << 0)	/* VMIOP_PAUSE/RESUME */
#define VMIOP_FEAT_REGS		(1ULL << 1)	/* VMIOP_GET/SET_REGS, REG_LIST */
#define VMIOP_FEAT_MEM		(1ULL << 2)	/* VMIOP_READ/WRITE_MEM */
#define VMIOP_FEAT_MMAP		(1ULL << 3)	/* mmap of guest pages */
#define VMIOP_FEAT_TRANSLATE	(1ULL << 4)	/* VMIOP_TRANSLATE */
#define VMIOP_FEAT_MEMMAP	(1ULL << 5)	/* VMIOP_GET_MEMMAP */
#define VMIOP_FEAT_EVENTS	(1ULL << 6)	/* the event ring; VMIOP_EVENT_CAPS */
/* an O_RDONLY session only reads the guest; VMIOP_EVENT_WAIT_F_TAIL */
#define VMIOP_FEAT_READ_ONLY	(1ULL << 7)
/* VMIOP_SET/GET_MEM_ACCESS and VMIOP_EVENT_MEM; VMIOP_ACTION_EMULATE */
#define VMIOP_FEAT_MEM_ACCESS	(1ULL << 8)
/*
 * #VE: VMIOP_ACCESS_VE, VMIOP_SET_VE_AGENT/INFO, VMIOP_EVENT_AGENT,
 * VMIOP_MEM_F_AGENT (vmiop_event_caps.ve_delivery says how on this host)
 */
#define VMIOP_FEAT_VE		(1ULL << 9)
/* VMIOP_ADD_MEMORY, VMIOP_MEM_F_UNDO, VMIOP_UNDO; vmiop_regs.tsc_aux */
#define VMIOP_FEAT_OWN_MEMORY	(1ULL << 10)
/* replies through the ring's mapping (struct vmiop_ring_reply), adaptive waits */
#define VMIOP_FEAT_REPLY_RING	(1ULL << 11)
/* VM ids: VMIOP_ATTACH_F_VM_ID, vmiop_vm_info.vm_id, the "vmiop" netlink family */
#define VMIOP_FEAT_VM_IDS	(1ULL << 12)

/**
 * struct vmiop_api - VMIOP_GET_API
 * @size: sizeof(struct vmiop_api)
 * @flags: must be 0
 * @features: out, VMIOP_FEAT_* this module offers
 * @nr_regs: out, number of __u64 slots in struct vmiop_regs the module knows
 * @host_vendor: out, enum vmiop_vendor of the CPU KVM runs on
 * @reserved: must be 0
 *
 * Works on any /dev/vmiop fd, attached or not.
 */
struct vmiop_api {
	__u32 size;
	__u32 flags;
	__aligned_u64 features;
	__u32 nr_regs;
	__u32 host_vendor;
	__aligned_u64 reserved;
};
#define VMIOP_GET_API _IO(VMIOP_TYPE, VMIOP_CMD_GET_API)

enum vmiop_vendor {
	VMIOP_VENDOR_AMD = 1,		/* SVM with NPT */
	VMIOP_VENDOR_INTEL = 2,		/* VMX with EPT */
};

/* ---------------------------------------------------------------------- */

/* The VM fd is a number in the target process (@pid), not in the caller. */
#define VMIOP_ATTACH_F_PID	(1u << 0)
/* The VM is named by its vmiop VM id (@vm_id), not by a VM fd. */
#define VMIOP_ATTACH_F_VM_ID	(1u << 1)

/**
 * struct vmiop_attach - VMIOP_ATTACH: bind this /dev/vmiop fd to one VM
 * @size: sizeof(struct vmiop_attach)
 * @flags: 0, VMIOP_ATTACH_F_PID or VMIOP_ATTACH_F_VM_ID
 * @vm_fd: a KVM VM fd (from KVM_CREATE_VM): in the caller's fd table (e.g.
 *	obtained with pidfd_getfd(2), or passed by the VMM), or with
 *	VMIOP_ATTACH_F_PID in the fd table of process @pid; 0 with
 *	VMIOP_ATTACH_F_VM_ID
 * @pid: with VMIOP_ATTACH_F_PID the VMM's pid (in the caller's pid
 *	namespace), else must be 0
 * @vm_id: with VMIOP_ATTACH_F_VM_ID the VM's id (VMIOP_GENL_A_VM_ID,
 *	vmiop_vm_info.vm_id), else must be 0 (it was a reserved field)
 *
 * The caller needs the rights ptrace(2) attach would need over the VM's
 * process (the one whose memory the VM uses), however it names the VM fd:
 * holding a VM fd is not enough, as it is not for KVM's own ioctls, which
 * answer only the VM's process.  With VMIOP_ATTACH_F_PID also over @pid.
 * The session lasts until this fd is closed and every mapping of
 * guest pages made from it is unmapped (each holds the file, as any mmap
 * does), or until the process holding them dies; then the VM resumes and
 * everything the session did is undone.
 *
 * A VM id is never given to another VM while the module is loaded, so an
 * id looked up by name can only fail to attach (-ESRCH), never attach to
 * a VM that took the name since.
 *
 * Errors: -EBADF @vm_fd is not open; -EINVAL it is not a KVM VM fd, or
 *	both VMIOP_ATTACH_F_PID and VMIOP_ATTACH_F_VM_ID;
 *	-EPERM no ptrace rights over the VM's process; -EBUSY the VM already
 *	has a session (or its last one still waits for a vCPU in a nested
 *	guest to return to L1, to give back what it changed there), or this
 *	fd is already attached; -ESRCH @pid not found, or no live VM has
 *	@vm_id
 */
struct vmiop_attach {
	__u32 size;
	__u32 flags;
	__s32 vm_fd;
	__s32 pid;
	__aligned_u64 vm_id;
};
#define VMIOP_ATTACH _IO(VMIOP_TYPE, VMIOP_CMD_ATTACH)

/**
 * struct vmiop_vm_info - VMIOP_VM_INFO
 * @size: sizeof(struct vmiop_vm_info)
 * @flags: must be 0
 * @vendor: out, enum vmiop_vendor
 * @nr_vcpus: out, vCPUs created so far (indices 0..nr_vcpus-1)
 * @vmm_pid: out, thread-group id of the VM's creator (in the caller's pid
 *	namespace, 0 if not visible there)
 * @maxphyaddr: out, guest physical address width of vCPU 0
 * @pause_count: out, how many VMIOP_PAUSE calls are not yet resumed
 * @guest_features: in, 0; out, VMIOP_GUEST_*: what vCPU 0's CPUID gives
 *	the guest, where vmiop's own guest code depends on it
 * @vm_id: in, 0; out, the VM's id in the vmiop family (VMIOP_FEAT_VM_IDS)
 */
struct vmiop_vm_info {
	__u32 size;
	__u32 flags;
	__u32 vendor;
	__u32 nr_vcpus;
	__s32 vmm_pid;
	__u32 maxphyaddr;
	__u32 pause_count;
	__u32 guest_features;
	__aligned_u64 vm_id;
};
#define VMIOP_VM_INFO _IO(VMIOP_TYPE, VMIOP_CMD_VM_INFO)

/* RDTSCP (TSC_AUX): how the #VE agent tells its vCPU */
#define VMIOP_GUEST_RDTSCP	(1u << 0)

/* ---------------------------------------------------------------------- */

enum vmiop_memmap_type {
	VMIOP_E820_RAM = 1,	/* guest RAM, readable and writable */
	VMIOP_E820_ROM = 2,	/* read-only memslot (e.g. firmware) */
	/* the session's own memory (VMIOP_ADD_MEMORY), unknown to the guest OS */
	VMIOP_E820_INTROSPECTION = 3,
};

struct vmiop_memmap_entry {
	__aligned_u64 addr;
	__aligned_u64 size;
	__u32 type;		/* enum vmiop_memmap_type */
	__u32 reserved;
};

/**
 * struct vmiop_memmap - VMIOP_GET_MEMMAP: the guest-physical memory map
 * @size: sizeof(struct vmiop_memmap)
 * @flags: must be 0
 * @nr_entries: in, capacity of @entries; out, number of entries in the map
 * @reserved: must be 0
 * @entries: user pointer to an array of struct vmiop_memmap_entry
 *
 * Memory the VMM registered with KVM, sorted, touching ranges of one type
 * merged.  Everything else (holes, MMIO, KVM's private slots) is absent.
 *
 * Errors: -ENOSPC @nr_entries is too small; it was set to the number
 *	needed and nothing else was written.
 */
struct vmiop_memmap {
	__u32 size;
	__u32 flags;
	__u32 nr_entries;
	__u32 reserved;
	__aligned_u64 entries;
};
#define VMIOP_GET_MEMMAP _IO(VMIOP_TYPE, VMIOP_CMD_GET_MEMMAP)

/* ---------------------------------------------------------------------- */

/**
 * struct vmiop_pause - VMIOP_PAUSE and VMIOP_RESUME
 * @size: sizeof(struct vmiop_pause)
 * @flags: must be 0
 * @pause_count: out, pauses outstanding after the call
 * @reserved: must be 0
 *
 * Pauses nest: N pauses need N resumes.  VMIOP_PAUSE returns once no vCPU
 * is in guest mode or can enter it, halted and never-run vCPUs included.
 * A paused vCPU whose thread gets a signal leaves KVM_RUN as KVM would, so
 * the VMM stays responsive; it cannot enter the guest until resumed.  The
 * VMM's own vCPU ioctls answer meanwhile, and do what they always do: a
 * KVM_GET_MP_STATE takes a pending INIT or SIPI (as KVM does before it
 * reports the state), the VMM may write registers.  No guest instruction
 * runs while paused.
 *
 * Errors: VMIOP_RESUME: -EINVAL the VM is not paused.
 *	VMIOP_PAUSE: -EOVERFLOW too many nested pauses.
 */
struct vmiop_pause {
	__u32 size;
	__u32 flags;
	__u32 pause_count;
	__u32 reserved;
};
#define VMIOP_PAUSE _IO(VMIOP_TYPE, VMIOP_CMD_PAUSE)
#define VMIOP_RESUME _IO(VMIOP_TYPE, VMIOP_CMD_RESUME)

/* ---------------------------------------------------------------------- */

/*
 * A segment register as four slots: selector, attributes, limit, base.
 * Attributes use the VMX access-rights layout: type[3:0], S[4], DPL[6:5],
 * P[7], AVL[12], L[13], D/B[14], G[15], unusable[16].
 */
struct vmiop_segment {
	__aligned_u64 selector;
	__aligned_u64 attr;
	__aligned_u64 limit;
	__aligned_u64 base;
};

#define VMIOP_SEG_UNUSABLE (1u << 16)

/*
 * The register file of one vCPU.  Every field is one __u64 slot; the slot
 * index is the register id used by VMIOP_GET/SET_REG_LIST (VMIOP_REG_*).
 * General purpose registers are in x86 encoding order, as in HVMI's
 * REGISTERS.  FS.base and GS.base are the FS_BASE/GS_BASE MSRs.
 */
struct vmiop_regs {
	__aligned_u64 rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi;
	__aligned_u64 r8, r9, r10, r11, r12, r13, r14, r15;
	__aligned_u64 rip, rflags;
	__aligned_u64 cr0, cr2, cr3, cr4, cr8, efer, xcr0;
	__aligned_u64 dr0, dr1, dr2, dr3, dr6, dr7;
	struct vmiop_segment es, cs, ss, ds, fs, gs, ldtr, tr;
	__aligned_u64 idtr_base, idtr_limit, gdtr_base, gdtr_limit;
	__aligned_u64 star, lstar, cstar, sfmask, kernel_gs_base;
	__aligned_u64 sysenter_cs, sysenter_esp, sysenter_eip, pat, apic_base;
	/* RDTSCP's and RDPID's value (Linux: node << 12 | CPU number) */
	__aligned_u64 tsc_aux;
	__aligned_u64 reserved[12];	/* must be 0 on VMIOP_SET_REGS */
};

#define VMIOP_REG_ID(field) \
	((__u32)(__builtin_offsetof(struct vmiop_regs, field) / sizeof(__u64)))

enum vmiop_reg_id {
	VMIOP_REG_RAX = 0, VMIOP_REG_RCX, VMIOP_REG_RDX, VMIOP_REG_RBX,
	VMIOP_REG_RSP, VMIOP_REG_RBP, VMIOP_REG_RSI, VMIOP_REG_RDI,
	VMIOP_REG_R8, VMIOP_REG_R9, VMIOP_REG_R10, VMIOP_REG_R11,
	VMIOP_REG_R12, VMIOP_REG_R13, VMIOP_REG_R14, VMIOP_REG_R15,
	VMIOP_REG_RIP, VMIOP_REG_RFLAGS,
	VMIOP_REG_CR0, VMIOP_REG_CR2, VMIOP_REG_CR3, VMIOP_REG_CR4,
	VMIOP_REG_CR8, VMIOP_REG_EFER, VMIOP_REG_XCR0,
	VMIOP_REG_DR0, VMIOP_REG_DR1, VMIOP_REG_DR2, VMIOP_REG_DR3,
	VMIOP_REG_DR6, VMIOP_REG_DR7,
	VMIOP_REG_ES_SEL, VMIOP_REG_ES_ATTR, VMIOP_REG_ES_LIMIT, VMIOP_REG_ES_BASE,
	VMIOP_REG_CS_SEL, VMIOP_REG_CS_ATTR, VMIOP_REG_CS_LIMIT, VMIOP_REG_CS_BASE,
	VMIOP_REG_SS_SEL, VMIOP_REG_SS_ATTR, VMIOP_REG_SS_LIMIT, VMIOP_REG_SS_BASE,
	VMIOP_REG_DS_SEL, VMIOP_REG_DS_ATTR, VMIOP_REG_DS_LIMIT, VMIOP_REG_DS_BASE,
	VMIOP_REG_FS_SEL, VMIOP_REG_FS_ATTR, VMIOP_REG_FS_LIMIT, VMIOP_REG_FS_BASE,
	VMIOP_REG_GS_SEL, VMIOP_REG_GS_ATTR, VMIOP_REG_GS_LIMIT, VMIOP_REG_GS_BASE,
	VMIOP_REG_LDTR_SEL, VMIOP_REG_LDTR_ATTR, VMIOP_REG_LDTR_LIMIT,
	VMIOP_REG_LDTR_BASE,
	VMIOP_REG_TR_SEL, VMIOP_REG_TR_ATTR, VMIOP_REG_TR_LIMIT, VMIOP_REG_TR_BASE,
	VMIOP_REG_IDTR_BASE, VMIOP_REG_IDTR_LIMIT,
	VMIOP_REG_GDTR_BASE, VMIOP_REG_GDTR_LIMIT,
	VMIOP_REG_STAR, VMIOP_REG_LSTAR, VMIOP_REG_CSTAR, VMIOP_REG_SFMASK,
	VMIOP_REG_KERNEL_GS_BASE,
	VMIOP_REG_SYSENTER_CS, VMIOP_REG_SYSENTER_ESP, VMIOP_REG_SYSENTER_EIP,
	VMIOP_REG_PAT, VMIOP_REG_APIC_BASE, VMIOP_REG_TSC_AUX,
	VMIOP_NR_REGS,		/* ids >= this are reserved slots */
};

/**
 * struct vmiop_vcpu_regs - VMIOP_GET_REGS and VMIOP_SET_REGS
 * @size: sizeof(struct vmiop_vcpu_regs)
 * @flags: must be 0
 * @vcpu: vCPU index
 * @reserved: must be 0
 * @regs: the register file (out for GET, in for SET)
 *
 * The VM must be paused.  SET writes only the registers whose value differs
 * from the current one, so a get-modify-set changes exactly what was
 * modified; the new values are what the vCPU runs with when resumed.  As
 * with KVM_SET_REGS, a vCPU paused while its VMM handles an I/O exit first
 * completes that instruction when resumed (an IN writes RAX) unless RIP
 * was changed.
 *
 * Errors: -ENOENT no such vCPU; -EBUSY the VM is not paused; -EINVAL (SET)
 *	a value KVM refuses (e.g. an invalid CR0/CR4/EFER combination, a
 *	non-canonical base, a reserved MSR bit): nothing was written.
 */
struct vmiop_vcpu_regs {
	__u32 size;
	__u32 flags;
	__u32 vcpu;
	__u32 reserved;
	struct vmiop_regs regs;
};
#define VMIOP_GET_REGS _IO(VMIOP_TYPE, VMIOP_CMD_GET_REGS)
#define VMIOP_SET_REGS _IO(VMIOP_TYPE, VMIOP_CMD_SET_REGS)

struct vmiop_reg {
	__u32 id;		/* enum vmiop_reg_id */
	__u32 reserved;
	__aligned_u64 value;
};

#define VMIOP_REG_LIST_MAX 256

/**
 * struct vmiop_reg_list - VMIOP_GET_REG_LIST and VMIOP_SET_REG_LIST
 * @size: sizeof(struct vmiop_reg_list)
 * @flags: must be 0
 * @vcpu: vCPU index
 * @count: number of entries, 1..VMIOP_REG_LIST_MAX
 * @regs: user pointer to @count struct vmiop_reg
 *
 * Registers one by one.  All ids are checked before anything is read or
 * written; a SET applies all entries or none (an id given twice takes the
 * last value).
 *
 * Errors: as VMIOP_GET/SET_REGS; -EINVAL an id >= VMIOP_NR_REGS.
 */
struct vmiop_reg_list {
	__u32 size;
	__u32 flags;
	__u32 vcpu;
	__u32 count;
	__aligned_u64 regs;
};
#define VMIOP_GET_REG_LIST _IO(VMIOP_TYPE, VMIOP_CMD_GET_REG_LIST)
#define VMIOP_SET_REG_LIST _IO(VMIOP_TYPE, VMIOP_CMD_SET_REG_LIST)

/* ---------------------------------------------------------------------- */

struct vmiop_mem_op {
	__aligned_u64 gpa;
	__aligned_u64 buf;	/* user pointer */
	__u32 len;		/* 1..VMIOP_MEM_OP_MAX */
	__u32 reserved;
};

#define VMIOP_MEM_OP_MAX (1u << 24)
#define VMIOP_MEM_BATCH_MAX 1024

/**
 * struct vmiop_mem_batch - VMIOP_READ_MEM and VMIOP_WRITE_MEM
 * @size: sizeof(struct vmiop_mem_batch)
 * @flags: 0, or for a write VMIOP_MEM_F_UNDO
 * @count: number of ops, 1..VMIOP_MEM_BATCH_MAX
 * @done: out, number of ops completed (all of them on success)
 * @ops: user pointer to @count struct vmiop_mem_op
 *
 * Guest-physical memory, any alignment, across page and memslot
 * boundaries; the VM need not be paused.  All ops are validated before the
 * first is performed; ops run in order and the first failure stops the batch
 * (@done says how far it got).  A write op is all or nothing: its source
 * buffer is read whole and its target pages are all found before the
 * first byte lands, so an op that fails (an unreadable buffer, memory the
 * VMM removed meanwhile) has written nothing.  Every page a write touches
 * is recorded in KVM's dirty bitmap.  While the VMM tracks dirty pages
 * with KVM's dirty ring instead (KVM_CAP_DIRTY_LOG_RING), which takes
 * entries only from a running vCPU, writes fail with -EOPNOTSUPP rather
 * than go unrecorded.
 *
 * Errors: -ENXIO part of a range is not guest RAM (a hole or MMIO);
 *	-EROFS (write) part of a range is a read-only memslot;
 *	-EIO the VMM's memory behind the range cannot be had (e.g. it
 *	mapped it read-only or without backing);
 *	-EINVAL a zero or too long length, or gpa + len overflows;
 *	-ENOMEM (write) no memory to stage the op's bytes in;
 *	-EOPNOTSUPP (write) the VMM tracks dirty pages in a dirty ring;
 *	-ENOSPC (VMIOP_MEM_F_UNDO) the undo log cannot take the batch.
 *
 * With VMIOP_MEM_F_UNDO each op's old bytes are read just before it is
 * written (pause the VM for an exact record) and kept, with the new ones,
 * in the session's undo log, to be put back by VMIOP_UNDO or at detach;
 * each such op is at most VMIOP_UNDO_OP_MAX bytes (else -EINVAL), and the
 * log holds VMIOP_UNDO_MAX ops.  For patches the guest must lose when the
 * introspector goes, however it goes: an IDT gate, a page-table entry
 * pointing at the session's memory, a breakpoint.
 */
#define VMIOP_MEM_F_UNDO	(1u << 0)
#define VMIOP_UNDO_OP_MAX	4096u
#define VMIOP_UNDO_MAX		1024u

struct vmiop_mem_batch {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 done;
	__aligned_u64 ops;
};
#define VMIOP_READ_MEM _IO(VMIOP_TYPE, VMIOP_CMD_READ_MEM)
#define VMIOP_WRITE_MEM _IO(VMIOP_TYPE, VMIOP_CMD_WRITE_MEM)

/*
 * mmap(2) of the session fd at VMIOP_MMAP_GUEST_OFFSET + gpa maps guest
 * pages (MAP_SHARED only; PROT_WRITE needs writable RAM).  The mapping
 * follows the guest's memory as KVM does (it is dropped and refaulted when
 * the VMM's memory changes), and accesses to a hole, to MMIO, or after the
 * VM's process has exited raise SIGBUS.
 */
#define VMIOP_MMAP_GUEST_OFFSET (1ULL << 56)

/* ---------------------------------------------------------------------- */

enum vmiop_paging_mode {
	VMIOP_PAGING_CURRENT = 0,	/* the vCPU's current mode and CR3 */
	VMIOP_PAGING_NONE = 1,
	VMIOP_PAGING_32 = 2,
	VMIOP_PAGING_PAE = 3,
	VMIOP_PAGING_4LEVEL = 4,
	VMIOP_PAGING_5LEVEL = 5,
};

enum vmiop_xlate_fault {
	VMIOP_XLATE_OK = 0,
	VMIOP_XLATE_NOT_PRESENT = 1,	/* entry at @level is not present */
	VMIOP_XLATE_RESERVED = 2,	/* entry at @level has a reserved bit set */
	VMIOP_XLATE_NONCANONICAL = 3,	/* @gva is not canonical */
	VMIOP_XLATE_NO_MEMORY = 4,	/* a table is not in guest RAM */
};

#define VMIOP_XLATE_ACC_WRITE	(1u << 0)
#define VMIOP_XLATE_ACC_USER	(1u << 1)
#define VMIOP_XLATE_ACC_NX	(1u << 2)

/* @mode, @cr3 and VMIOP_TRANSLATE_F_NXE/PSE are given, no vCPU is used. */
#define VMIOP_TRANSLATE_F_EXPLICIT	(1u << 0)
#define VMIOP_TRANSLATE_F_NXE		(1u << 1)	/* EFER.NXE */
#define VMIOP_TRANSLATE_F_PSE		(1u << 2)	/* CR4.PSE (32-bit mode) */

/**
 * struct vmiop_translate - VMIOP_TRANSLATE: guest-virtual to guest-physical
 * @size: sizeof(struct vmiop_translate)
 * @flags: 0 (use @vcpu's paging mode and CR3; the VM must be paused), or
 *	VMIOP_TRANSLATE_F_EXPLICIT with optional _NXE/_PSE
 * @vcpu: vCPU whose state is used (without F_EXPLICIT) and whose
 *	MAXPHYADDR applies
 * @mode: in, enum vmiop_paging_mode with F_EXPLICIT, else must be 0;
 *	out, the mode used
 * @cr3: in with F_EXPLICIT (else must be 0); out, the CR3 used
 * @gva: in, the address to translate
 * @gpa: out, the guest-physical address (@fault == VMIOP_XLATE_OK)
 * @page_size: out, size of the page mapping @gva (4K, 2M, 4M or 1G)
 * @entries: out, the paging-structure entries read, top level first
 * @nr_entries: out, how many of @entries are valid
 * @level: out, level of the last entry read (1 = PTE, 5 = PML5E)
 * @fault: out, enum vmiop_xlate_fault
 * @access: out, VMIOP_XLATE_ACC_* accumulated over the walk
 * @reserved: must be 0
 *
 * A translation that does not exist is not an error: the ioctl succeeds and
 * @fault says why.
 *
 * Errors: -ENOENT no such vCPU; -EBUSY (without F_EXPLICIT) the VM is not
 *	paused.
 */
struct vmiop_translate {
	__u32 size;
	__u32 flags;
	__u32 vcpu;
	__u32 mode;
	__aligned_u64 cr3;
	__aligned_u64 gva;
	__aligned_u64 gpa;
	__aligned_u64 page_size;
	__aligned_u64 entries[5];
	__u32 nr_entries;
	__u32 level;
	__u32 fault;
	__u32 access;
	__aligned_u64 reserved;
};
#define VMIOP_TRANSLATE _IO(VMIOP_TYPE, VMIOP_CMD_TRANSLATE)

/* ---------------------------------------------------------------------- */

/*
 * Page rights: the accesses the guest may make to a guest-physical page
 * (4 KiB) without a VMIOP_EVENT_MEM.  VMIOP_ACCESS_RWX is a page without
 * restriction, which every page has at attach.
 */
#define VMIOP_ACCESS_R		(1u << 0)
#define VMIOP_ACCESS_W		(1u << 1)
#define VMIOP_ACCESS_X		(1u << 2)
#define VMIOP_ACCESS_RWX	(VMIOP_ACCESS_R | VMIOP_ACCESS_W | VMIOP_ACCESS_X)
/*
 * Beside restricted rights: the page is convertible (its EPT entry's
 * suppress-#VE bit clear, in hardware terms).  An access its rights
 * forbid is delivered to the guest's #VE agent as a virtualization
 * exception instead of a VMIOP_EVENT_MEM, when that vCPU can take one
 * (VMIOP_SET_VE_INFO); otherwise it is the event it would have been.
 */
#define VMIOP_ACCESS_VE		(1u << 3)

/*
 * The rights both EPT and NPT express (bit N: rights N): rwx, rw-, r-x,
 * r--, ---.  Rights with W but not R (-w-, -wx) are rejected everywhere:
 * EPT calls them a misconfiguration, NPT has no such page.  Execute-only
 * (--x) is accepted where vmiop_event_caps.mem_rights says so (EPT with
 * execute-only support), else -EOPNOTSUPP.
 */
#define VMIOP_MEM_RIGHTS_COMMON	((1u << 7) | (1u << 3) | (1u << 5) | (1u << 1) | (1u << 0))

#define VMIOP_MEM_ACCESS_MAX_RANGES	65536
#define VMIOP_MEM_ACCESS_MAX_PAGES	(1ULL << 40)	/* 52-bit gpas */

/*
 * A run of pages: @nr_pages from guest frame @gfn (gpa >> 12), all given
 * @access (VMIOP_ACCESS_* allowed, with VMIOP_ACCESS_VE where they are
 * not VMIOP_ACCESS_RWX).
 */
struct vmiop_mem_access_range {
	__aligned_u64 gfn;
	__aligned_u64 nr_pages;
	__u32 access;
	__u32 reserved;
};

/**
 * struct vmiop_mem_access - VMIOP_SET_MEM_ACCESS: set the rights of pages
 * @size: sizeof(struct vmiop_mem_access)
 * @flags: must be 0
 * @nr_ranges: number of entries at @ranges, 1..VMIOP_MEM_ACCESS_MAX_RANGES
 * @reserved: must be 0
 * @ranges: user pointer to @nr_ranges struct vmiop_mem_access_range,
 *	applied in order (a page in two ranges gets the later one's rights)
 *
 * All ranges or none: every range is checked, and the memory the new
 * rights take is allocated, before the first page changes.  Restricting
 * a page needs it to be guest memory (a RAM or ROM memslot) now; the
 * rights then belong to the gfn, and hold while the VMM removes and adds
 * memslots (QEMU does at run time), while KVM rebuilds or drops its
 * EPT/NPT entries and while the host swaps, migrates, splits or merges
 * the page behind it.  Giving a page VMIOP_ACCESS_RWX back needs
 * nothing.  When the call returns, no vCPU makes an access the new
 * rights forbid without an event, and rights given back are the
 * guest's at its next access.
 *
 * Restricted pages are mapped with 4 KiB entries (no huge page covers
 * one).  The restriction costs memory in proportion to the restricted
 * pages (an xarray entry each), and the fault path finds a page's rights
 * without walking a list.  What does not go through EPT/NPT is not seen:
 * accesses by KVM's emulator (VMIOP_ACTION_EMULATE, emulated
 * instructions such as those on MMIO), by KVM for the guest (kvmclock,
 * steal time), by the VMM or devices (DMA, vhost); and accesses of a
 * nested guest (L2) run by the guest's own hypervisor.  An access
 * vCPUs where VMIOP_EVENT_MEM is not enabled (or filtered out) make is
 * not held back either: the page's restriction ends there (its rights
 * become VMIOP_ACCESS_RWX), as Xen's do without a listener.  Closing the
 * session gives every page VMIOP_ACCESS_RWX back.
 *
 * Errors: -ENXIO no ring yet (VMIOP_RING_SETUP), or a restricted page is
 *	not guest memory; -EINVAL @access is not rights (bits beyond
 *	VMIOP_ACCESS_RWX and VMIOP_ACCESS_VE, or VMIOP_ACCESS_VE with
 *	VMIOP_ACCESS_RWX), or W without R, zero @nr_pages, or @gfn +
 *	@nr_pages beyond VMIOP_MEM_ACCESS_MAX_PAGES; -EOPNOTSUPP rights
 *	this host cannot express (vmiop_event_caps.mem_rights), or KVM runs
 *	without EPT/NPT (VMIOP_EVENT_MEM not offered); -ENOMEM;
 *	-EBADF the session is read-only (a restricted page stops the
 *	guest until the session answers).
 */
struct vmiop_mem_access {
	__u32 size;
	__u32 flags;
	__u32 nr_ranges;
	__u32 reserved;
	__aligned_u64 ranges;
};
#define VMIOP_SET_MEM_ACCESS _IO(VMIOP_TYPE, VMIOP_CMD_SET_MEM_ACCESS)

#define VMIOP_MEM_ACCESS_QUERY_MAX	(1u << 20)

/**
 * struct vmiop_mem_access_query - VMIOP_GET_MEM_ACCESS: the rights of pages
 * @size: sizeof(struct vmiop_mem_access_query)
 * @flags: must be 0
 * @gfn: the first page
 * @nr_pages: 1..VMIOP_MEM_ACCESS_QUERY_MAX
 * @reserved: must be 0
 * @access: user pointer to @nr_pages bytes: each page's rights
 *	(VMIOP_ACCESS_*, VMIOP_ACCESS_VE included), VMIOP_ACCESS_RWX for
 *	every unrestricted page
 *
 * Errors: -EINVAL @nr_pages out of range, @gfn + @nr_pages beyond
 *	VMIOP_MEM_ACCESS_MAX_PAGES.
 */
struct vmiop_mem_access_query {
	__u32 size;
	__u32 flags;
	__aligned_u64 gfn;
	__u32 nr_pages;
	__u32 reserved;
	__aligned_u64 access;
};
#define VMIOP_GET_MEM_ACCESS _IO(VMIOP_TYPE, VMIOP_CMD_GET_MEM_ACCESS)

/* ---------------------------------------------------------------------- */
/* #VE: accesses handled by an agent inside the guest (<linux/vmiop_ve.h>) */
/* ---------------------------------------------------------------------- */

/*
 * How this host delivers a #VE (vmiop_event_caps.ve_delivery).  Stock KVM
 * cannot have the CPU convert EPT violations itself (its non-present
 * entries would be convertible too), so vmiop delivers each #VE at the
 * violation's VM exit: on Intel as the hardware exception (vector 20,
 * a fault, RF set in the pushed RFLAGS); on AMD, where an injected
 * exception with vector 20 makes VMRUN fail, as an external-interrupt
 * injection with vector 20 (no RF; the CPU takes it whatever RFLAGS.IF).
 * Either way the faulting instruction has not run and RIP points at it.
 */
enum vmiop_ve_delivery {
	VMIOP_VE_DELIVERY_NONE = 0,		/* no EPT/NPT: no restriction at all */
	VMIOP_VE_DELIVERY_EXCEPTION = 1,
	VMIOP_VE_DELIVERY_INTERRUPT = 2,
};

#define VMIOP_VE_AGENT_MAX_LEN	(16u << 20)

/**
 * struct vmiop_ve_agent - VMIOP_SET_VE_AGENT: where the agent's code is
 * @size: sizeof(struct vmiop_ve_agent)
 * @flags: must be 0
 * @code_gpa: guest-physical address of the agent's first code byte
 * @code_len: bytes of code from there, at most VMIOP_VE_AGENT_MAX_LEN;
 *	0: no agent
 * @reserved: must be 0
 *
 * The agent is what runs at the guest's linear RIP when its translation
 * (the vCPU's page tables, CPL 0) lands in [@code_gpa, @code_gpa +
 * @code_len).  Three things need it:
 *  - a #VE is delivered only to a vCPU whose IDT gate 20 (read at each
 *    delivery, through the vCPU's IDTR and page tables) is a present
 *    interrupt or trap gate whose handler is agent code: a guest that
 *    reloads its IDT, or whose gate was put back, takes events instead;
 *  - its hypercalls (<linux/vmiop_ve.h>) are recognised only from there;
 *  - its accesses to convertible pages (VMIOP_ACCESS_VE) are let through
 *    without an event or a #VE (KVM's emulator completes each; the agent
 *    writes the page-table entries it decided to let through).
 * Keep the agent's own pages restricted without VMIOP_ACCESS_VE (e.g. r-x
 * for its code) so that the guest cannot rewrite them unseen.
 *
 * Errors: -EINVAL @code_len beyond VMIOP_VE_AGENT_MAX_LEN, or the range
 *	wraps past 2^52.
 */
struct vmiop_ve_agent {
	__u32 size;
	__u32 flags;
	__aligned_u64 code_gpa;
	__aligned_u64 code_len;
	__aligned_u64 reserved;
};
#define VMIOP_SET_VE_AGENT _IO(VMIOP_TYPE, VMIOP_CMD_SET_VE_AGENT)

#define VMIOP_VE_INFO_NONE	(~0ULL)

/**
 * struct vmiop_ve_info - VMIOP_SET_VE_INFO: a vCPU's #VE info page
 * @size: sizeof(struct vmiop_ve_info)
 * @flags: must be 0
 * @vcpu: the vCPU, paused (VMIOP_PAUSE) or waiting for a reply
 * @reserved: must be 0
 * @gpa: its info page (struct vmiop_ve_cpu, 4 KiB aligned, guest memory),
 *	or VMIOP_VE_INFO_NONE: the vCPU takes no #VE any more
 *
 * A violation of a convertible page becomes a #VE, as the CPU would
 * convert it, when it is an access to the final translation (not the
 * guest's page walker's: on stock KVM every walk through a write-restricted
 * paging-structure page is a violation, EPT with A/D bits as KVM runs it
 * and NPT alike, which no agent can complete while the page stays
 * restricted; those stay VMIOP_MEM_F_PAGE_WALK events), the
 * vCPU has an info page whose semaphore is 0, runs kernel-mode (CPL 0)
 * 64-bit code, not a nested guest, delivers no other event (the access
 * is not part of an interrupt's or exception's delivery), has no NMI
 * blocked (the agent's IRET would unblock it), and its IDT gate 20 leads
 * to agent code (struct vmiop_ve_agent).  vmiop then writes @reason,
 * @qualification, @gla, @gpa and @eptp_index of the page, then sets its
 * semaphore to VMIOP_VE_SEMAPHORE_BUSY, and the vCPU takes the #VE
 * (enum vmiop_ve_delivery) instead of the event.  Otherwise the access is
 * the VMIOP_EVENT_MEM it would have been.  A #VE decided and not yet
 * delivered when the page goes (here, or at detach) is withdrawn, its
 * semaphore put back to 0: the instruction faults again and is an event.
 *
 * What stays the guest's to trust: the agent's data and its info pages
 * are guest memory that guest kernel code can write, and vmiop knows
 * agent code by the vCPU's page tables in memory (not its TLB), so a
 * compromised guest kernel can make the agent report, or let through,
 * what it likes on the convertible pages (as HVMI's agent without a
 * protected EPT view).  Keep the agent's code restricted (r-x) against
 * rewriting.  The agent's own accesses are let through only to the page
 * of the #VE it handles.
 *
 * Qualification bits 3-5 are the EPT entry's rights as the CPU saw them
 * on Intel (0 while KVM has not built the entry), the page's rights on
 * AMD.  A #VE KVM drops before delivering it (the VMM's
 * KVM_SET_VCPU_EVENTS, an INIT, VMIOP_SET_REGS while it waits) leaves the
 * semaphore set: that vCPU's violations are events until it is cleared.
 *
 * Errors: -ENOENT no such vCPU; -EBUSY the vCPU is neither paused nor
 *	waiting for a reply, or its #VE's injection waits for the reply to
 *	a VMIOP_EVENT_TRAP (reply first); -EINVAL @gpa not aligned; -ENXIO
 *	@gpa is not guest memory.
 */
struct vmiop_ve_info {
	__u32 size;
	__u32 flags;
	__u32 vcpu;
	__u32 reserved;
	__aligned_u64 gpa;
};
#define VMIOP_SET_VE_INFO _IO(VMIOP_TYPE, VMIOP_CMD_SET_VE_INFO)

/* ---------------------------------------------------------------------- */
/* What the session puts into the guest, and takes back                   */
/* ---------------------------------------------------------------------- */

#define VMIOP_OWN_MEMORY_MAX	(64u << 20)

/**
 * struct vmiop_add_memory - VMIOP_ADD_MEMORY: guest memory of the session
 * @size: sizeof(struct vmiop_add_memory)
 * @flags: must be 0
 * @gpa: in, where (4 KiB aligned), or 0: the module chooses the highest
 *	2 MiB-aligned place below the guest's MAXPHYADDR; out, where it is
 * @len: bytes, a multiple of 4 KiB, at most VMIOP_OWN_MEMORY_MAX
 *
 * Zeroed guest-physical memory that is in no memory map the guest's
 * firmware gave its OS, so the OS never allocates it: a home for an
 * agent's code and data (libvmiop's #VE agent).  vmiop's memory commands,
 * translations, rights and mappings reach it as any guest RAM;
 * VMIOP_GET_MEMMAP lists it as VMIOP_E820_INTROSPECTION.  It is an
 * anonymous shared mapping the module makes in the VMM's address space,
 * which the VMM does not know: it is not migrated, not in snapshots, and a
 * VMM that later puts memory of its own over it fails to (QEMU then
 * aborts) - hence the default at the top of the guest-physical space,
 * where QEMU puts nothing (firmware that puts a 64-bit PCI window at the
 * very top, as some OVMF builds do, needs an explicit @gpa).  One range
 * per session, gone with VMIOP_UNDO_F_MEMORY or at detach.
 *
 * Errors: -EEXIST the session has its memory already, or the range
 *	overlaps memory the VMM registered; -EINVAL @gpa or @len not
 *	aligned, @len 0 or too large, or the range beyond MAXPHYADDR;
 *	-ENOMEM.
 */
struct vmiop_add_memory {
	__u32 size;
	__u32 flags;
	__aligned_u64 gpa;
	__aligned_u64 len;
};
#define VMIOP_ADD_MEMORY _IO(VMIOP_TYPE, VMIOP_CMD_ADD_MEMORY)

#define VMIOP_UNDO_F_MEMORY	(1u << 0)

/**
 * struct vmiop_undo - VMIOP_UNDO: put back what the session put in
 * @size: sizeof(struct vmiop_undo)
 * @flags: 0, or VMIOP_UNDO_F_MEMORY
 * @restored: out, writes put back
 * @kept: out, writes left alone: the guest has changed those bytes since
 *
 * The VM must be paused: a #VE decided before a gate or a mapping went
 * back is then withdrawn, not delivered to what the guest had.  The writes
 * made with VMIOP_MEM_F_UNDO go back, newest first, each only where the
 * guest still holds what vmiop wrote (bytes the guest rewrote are its own
 * now; a write of up to 8 bytes within an aligned quadword is compared and
 * put back atomically), and every vCPU's TLB is flushed.  A write that
 * cannot go back stops the replay: it and those older stay in the log,
 * and the call fails with its error (a write into memory the VMM removed
 * is dropped instead).  With VMIOP_UNDO_F_MEMORY the session's memory
 * (VMIOP_ADD_MEMORY) is then removed, if every write went back.  While the
 * session has its memory, this needs no vCPU using it (the writes may be
 * what maps it): none executing in it or with its stack in it, none with
 * an NMI blocked (its handler may return into it) or in SMM, none with a
 * #VE vmiop decided and not yet delivered.  Else -EBUSY and nothing is
 * done: let the VM run a moment (the agent returns within microseconds)
 * and ask again.
 *
 * Detach does all of this itself, once each vCPU has been seen outside the
 * memory (or halted), the VM running (no #VE reaches the guest once
 * detached, so none enters again).  When a vCPU stays inside for more than 10 s (a guest
 * spinning with NMIs blocked, a VMM that stopped it there), detach leaves
 * the writes and the memory in place, unused.
 *
 * Errors: -EBUSY the VM is not paused, or (VMIOP_UNDO_F_MEMORY) as above;
 *	-ENOENT (VMIOP_UNDO_F_MEMORY) the session has no memory; -ESRCH,
 *	-EIO, -ENXIO a write could not go back.
 */
struct vmiop_undo {
	__u32 size;
	__u32 flags;
	__u32 restored;
	__u32 kept;
};
#define VMIOP_UNDO _IO(VMIOP_TYPE, VMIOP_CMD_UNDO)

/* ---------------------------------------------------------------------- */
/* Events                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * A vCPU that hits an enabled event stops, puts a struct vmiop_event into
 * the session's ring and waits until VMIOP_EVENT_REPLY names its @seq (or
 * the session ends, which counts as VMIOP_ACTION_CONTINUE).  While it
 * waits, the register calls work on that vCPU as on a paused one.
 */
enum vmiop_event_type {
	VMIOP_EVENT_CR = 1,		/* CR0/CR3/CR4 write */
	VMIOP_EVENT_MSR = 2,		/* MSR read or write */
	VMIOP_EVENT_DESC = 3,		/* IDTR/GDTR/LDTR/TR load or store */
	VMIOP_EVENT_CPUID = 4,		/* CPUID */
	VMIOP_EVENT_BREAKPOINT = 5,	/* INT3 (#BP) */
	VMIOP_EVENT_DEBUG = 6,		/* #DB: hardware breakpoints */
	VMIOP_EVENT_SINGLESTEP = 7,	/* one instruction executed */
	VMIOP_EVENT_HYPERCALL = 8,	/* VMCALL / VMMCALL */
	VMIOP_EVENT_XSETBV = 9,		/* XSETBV */
	VMIOP_EVENT_TRAP = 10,		/* an exception was injected */
	VMIOP_EVENT_MEM = 11,		/* an access a page's rights forbid */
	VMIOP_EVENT_AGENT = 12,		/* the #VE agent's BREAK or TRACE hypercall */
	VMIOP_EVENT_NR_TYPES,
};

/* Why an event type is not offered (struct vmiop_event_caps.reason). */
enum vmiop_cap_reason {
	VMIOP_CAP_OK = 0,
	VMIOP_CAP_NOT_IMPLEMENTED = 1,	/* this module version lacks it */
	VMIOP_CAP_NO_HARDWARE = 2,	/* the CPU cannot intercept it */
	VMIOP_CAP_KVM_CONFLICT = 3,	/* KVM's configuration prevents it */
};

/**
 * struct vmiop_event_caps - VMIOP_EVENT_CAPS: which events this host offers
 * @size: sizeof(struct vmiop_event_caps)
 * @flags: must be 0
 * @supported: out, bit N set when event type N can be enabled
 * @reason: out, enum vmiop_cap_reason for each type (index = type)
 * @cr_reads: out, bit N set when reads of CRN can be events
 *	(VMIOP_EVENT_CR with VMIOP_EVENT_CTL_F_READS): CR0, CR3 and CR4 on
 *	SVM; only CR3 on VMX, where CR0/CR4 reads come from read shadows
 *	without a VM exit
 * @singlestep: out, enum vmiop_step_method: how SINGLESTEP events are made
 *	on this host (each event's @method is the one that made it: a VMX
 *	vCPU whose KVM control shadow is not found steps with the trap flag)
 * @mem_rights: out, bit N set when N (VMIOP_ACCESS_* allowed) is rights
 *	VMIOP_SET_MEM_ACCESS takes on this host (VMIOP_MEM_RIGHTS_COMMON
 *	everywhere; execute-only too where EPT has it)
 * @ve_delivery: out, enum vmiop_ve_delivery: how a #VE reaches the guest
 *	here (in: must be 0)
 *
 * Works on any /dev/vmiop fd, attached or not.
 */
struct vmiop_event_caps {
	__u32 size;
	__u32 flags;
	__aligned_u64 supported;
	__u32 reason[32];
	__u32 cr_reads;
	__u32 singlestep;
	__u32 mem_rights;
	__u32 ve_delivery;
};
#define VMIOP_EVENT_CAPS _IO(VMIOP_TYPE, VMIOP_CMD_EVENT_CAPS)

/*
 * The ring: mmap(2) the session fd at VMIOP_MMAP_RING_OFFSET for
 * @mmap_size bytes (MAP_SHARED) after VMIOP_RING_SETUP.  @head (at
 * @head_offset) is written by the module, @tail (at @tail_offset) by the
 * consumer; both are free-running __u32 counters, entry i is at
 * @entries_offset + (i & (nr_entries - 1)) * entry_size.  Events
 * [tail, head) are ready.  The consumer reads @head with acquire semantics
 * (pairs with the module's release store after it wrote the entry) and
 * stores @tail with release semantics after it is done with the entries
 * (pairs with the module's acquire load before it reuses them).  A full
 * ring makes vCPUs wait for space: events are never dropped.  Every event
 * needs a reply, so a ring with at least as many entries as the VM has
 * vCPUs never fills.  A vCPU waiting for space counts as stopped for
 * VMIOP_PAUSE, and the register calls work on it; its event reports the
 * exit as it happened when it enters the ring, and registers set
 * meanwhile take effect before the reply's action.  A read-only session
 * maps the ring PROT_READ and stores @tail with VMIOP_EVENT_WAIT_F_TAIL
 * instead.
 *
 * Replies go back through the same mapping (VMIOP_FEAT_REPLY_RING), with
 * no system call, in a second ring the consumer produces and the module
 * consumes: @reply_head (at @reply_head_offset) is written by the consumer,
 * @reply_tail by the module, entry i is at @replies_offset +
 * (i & (nr_entries - 1)) * reply_size, and replies [reply_tail,
 * reply_head) are waiting to be taken.  The consumer fills entries, then
 * stores @reply_head with release semantics (pairs with the module's
 * acquire load before it reads them); it may reuse an entry once it loads
 * @reply_tail past it with acquire semantics (pairs with the module's
 * release store after it copied the entry).  A @reply_head more than
 * nr_entries ahead of @reply_tail, or behind it, is refused as a whole
 * (counted once per value, -EINVAL, with @last_error_index the bad
 * @reply_head): nothing is taken until it is put right.  Each entry is copied once and
 * checked as VMIOP_EVENT_REPLY checks its struct; one that VMIOP_EVENT_REPLY
 * would refuse changes nothing and is counted in struct vmiop_ring_status
 * instead of an errno.  Replies through the ring and VMIOP_EVENT_REPLY mix
 * freely; a VMIOP_EVENT_REPLY or VMIOP_EVENT_WAIT whose own arguments pass
 * their checks takes the ring's replies first.  The ring belongs to the
 * session, not to a process or mapping: whatever maps it (a forked child,
 * a second mmap(2)) reads and writes the same memory, so one thread at a
 * time produces replies, and a producer that takes over from another
 * continues from @reply_head.
 *
 * Who takes them: a vCPU waiting for its reply first spins for a bounded
 * time (the module parameter reply_spin_us) while the consumer runs, on a
 * CPU or queued to run on another one than the vCPU's, taking the ring's
 * replies, its own and other vCPUs', as they come.  The consumer is the
 * thread that last set the ring up, waited for events (VMIOP_EVENT_WAIT,
 * poll(2)) or replied through VMIOP_EVENT_REPLY.  Then it sleeps,
 * and sets VMIOP_RING_NEED_WAKEUP in struct vmiop_ring_status until it is
 * woken.  A consumer that produces replies must then load the status's
 * flags after its store of @reply_head, with a full barrier between the
 * two (pairs with the one between the module's store of the flag and its
 * load of @reply_head), and, if the flag is set, make any
 * VMIOP_EVENT_WAIT (a @timeout_ms of 0 only takes the replies).  A polling
 * consumer on its own CPU thus answers events with no system call, and a
 * vCPU that stops to wait costs one.  A vCPU never spins while a signal is
 * pending for its thread, while the scheduler wants its CPU back, or while
 * a pause or a register call waits for it.  (A vCPU waiting for ring
 * space, not for a reply, is woken by those system calls too, and looks
 * for space every 10 ms besides: a ring with an entry per vCPU never
 * fills.)
 */
#define VMIOP_MMAP_RING_OFFSET	0ULL
#define VMIOP_RING_MAX_ENTRIES	4096
#define VMIOP_RING_DEFAULT_ENTRIES 256

/**
 * struct vmiop_ring_setup - VMIOP_RING_SETUP: create the event ring
 * @size: sizeof(struct vmiop_ring_setup)
 * @flags: must be 0
 * @nr_entries: in, a power of two up to VMIOP_RING_MAX_ENTRIES, or 0 for
 *	VMIOP_RING_DEFAULT_ENTRIES; out, the number used
 * @entry_size: out, sizeof(struct vmiop_event)
 * @head_offset: out, offset of the __u32 head in the mapping
 * @tail_offset: out, offset of the __u32 tail in the mapping
 * @entries_offset: out, offset of entry 0 in the mapping
 * @reserved: must be 0
 * @mmap_size: out, bytes to map
 * @reply_head_offset: out, offset of the __u32 reply_head (the consumer's)
 * @reply_tail_offset: out, offset of the __u32 reply_tail (the module's)
 * @replies_offset: out, offset of reply entry 0; there are @nr_entries
 * @reply_size: out, sizeof(struct vmiop_ring_reply)
 * @status_offset: out, offset of struct vmiop_ring_status
 * @status_size: out, sizeof(struct vmiop_ring_status)
 *
 * Once per session.  A caller that passes the struct without the reply
 * fields gets the same layout, and may ignore the replies' part of it.
 *
 * Errors: -EBUSY the session already has a ring; -ENOMEM.
 */
struct vmiop_ring_setup {
	__u32 size;
	__u32 flags;
	__u32 nr_entries;
	__u32 entry_size;
	__u32 head_offset;
	__u32 tail_offset;
	__u32 entries_offset;
	__u32 reserved;
	__aligned_u64 mmap_size;
	/* VMIOP_FEAT_REPLY_RING: out, where the replies go */
	__u32 reply_head_offset;
	__u32 reply_tail_offset;
	__u32 replies_offset;
	__u32 reply_size;
	__u32 status_offset;
	__u32 status_size;
};
#define VMIOP_RING_SETUP _IO(VMIOP_TYPE, VMIOP_CMD_RING_SETUP)

/* An inclusive range of values an event filter lets through. */
struct vmiop_filter_range {
	__aligned_u64 first;
	__aligned_u64 last;
};

#define VMIOP_FILTER_MAX 64

/* Only vCPU @vcpu; else every vCPU, including those created later. */
#define VMIOP_EVENT_CTL_F_VCPU	(1u << 0)
/*
 * MSR: reads (RDMSR) too, not only writes.  CR: reads (MOV from CR) too,
 * of the CRs in vmiop_event_caps.cr_reads.  Per type, like @filter.
 */
#define VMIOP_EVENT_CTL_F_READS	(1u << 1)
/*
 * CR: only writes that change the register (CR3: ignoring bit 63, the
 * PCID no-flush hint).  Per type, like @filter.
 */
#define VMIOP_EVENT_CTL_F_CHANGES	(1u << 2)

/**
 * struct vmiop_event_control - VMIOP_EVENT_CONTROL: enable or disable events
 * @size: sizeof(struct vmiop_event_control)
 * @flags: VMIOP_EVENT_CTL_F_*
 * @type: enum vmiop_event_type
 * @enable: 1 to enable, 0 to disable
 * @vcpu: with VMIOP_EVENT_CTL_F_VCPU the vCPU index, else must be 0
 * @nr_filter: number of entries at @filter, 0..VMIOP_FILTER_MAX
 * @filter: user pointer to @nr_filter struct vmiop_filter_range; with
 *	@enable, replaces the type's filter (for all vCPUs): an event is
 *	delivered only when its key is in one of the ranges (none: every
 *	event).  Keys: CR the register number, MSR the index, CPUID the
 *	leaf (EAX), HYPERCALL the number (RAX), XSETBV the XCR index,
 *	DESC enum vmiop_desc_reg, BREAKPOINT and SINGLESTEP the guest
 *	address, DEBUG 1 (the vector), TRAP the vector, MEM the gpa.
 *	Must be 0 when disabling.
 *
 * Needs a ring (VMIOP_RING_SETUP).  Events the vCPUs are already waiting
 * on are not affected by a disable; they still need their reply.
 *
 * Errors: -ENXIO no ring yet; -EOPNOTSUPP the type is not offered (see
 *	VMIOP_EVENT_CAPS); -ENOENT no such vCPU index; -EINVAL a range with
 *	first > last, too many ranges.
 */
struct vmiop_event_control {
	__u32 size;
	__u32 flags;
	__u32 type;
	__u32 enable;
	__u32 vcpu;
	__u32 nr_filter;
	__aligned_u64 filter;
};
#define VMIOP_EVENT_CONTROL _IO(VMIOP_TYPE, VMIOP_CMD_EVENT_CONTROL)

/*
 * A write to CR0, CR3 or CR4 that reached KVM (MOV to CR, LMSW, emulated
 * writes).  Which writes reach KVM is the hardware's choice: VMX exits only
 * for bits KVM owns whose value changes (CR0 all but TS/WP, CR4 all but
 * PVI/DE/PCE/OSFXSR/OSXMMEXCPT/PGE/TSD/FSGSBASE); SVM for every CR4 write
 * and for CR0 writes that change more than TS/MP.  CR3 writes, which
 * KVM lets run without exits under EPT/NPT, exit on the vCPUs where CR
 * events are enabled with 3 in the filter, and every one reaches KVM; the
 * exit goes away again at disable and detach.  Not while a nested guest
 * (L2) runs on the vCPU.
 * With VMIOP_EVENT_CTL_F_READS, a MOV from CR too (@write 0), for the CRs
 * in vmiop_event_caps.cr_reads: vmiop makes them exit while wanted, as
 * for CR3 writes.  Replies to a read: continue, skip (the destination
 * register keeps its value), set result (the value the guest reads; as
 * continue for SMSW, which has no register vmiop could set), inject.
 */
struct vmiop_event_cr {
	__u32 cr;		/* 0, 3 or 4 */
	__u32 write;		/* 1: a write, 0: a read */
	__aligned_u64 old_value;	/* the register's value */
	__aligned_u64 new_value;	/* what the guest writes, or reads */
};

/*
 * RDMSR/WRMSR that reached KVM.  KVM lets the guest access some MSRs
 * without an exit (VMX: FS/GS/KERNEL_GS base, SYSENTER_*, ...; SVM: also
 * STAR/LSTAR/CSTAR/SFMASK); vmiop makes those KVM emulates alike (STAR,
 * LSTAR, CSTAR, SFMASK, FS/GS/KERNEL_GS base, SYSENTER_*, TSC_AUX, TSC,
 * XFD, XFD_ERR, and SPEC_CTRL/PRED_CMD if the guest's CPUID has them) exit
 * while the filter wants them, also after KVM passes one through on its
 * own.  The x2APIC range under APICv, C-state residency counters, LBR and
 * PT MSRs are not seen, nor VMX's fast path for TSC_DEADLINE and x2APIC
 * ICR writes.
 */
struct vmiop_event_msr {
	__u32 index;		/* ECX */
	__u32 write;		/* 1: WRMSR, 0: RDMSR */
	__aligned_u64 old_value;	/* the MSR's value (what RDMSR returns) */
	__aligned_u64 new_value;	/* WRMSR: what the guest writes */
};

/* XSETBV (always exits on both vendors). */
struct vmiop_event_xsetbv {
	__u32 index;		/* ECX: the XCR */
	__u32 reserved;
	__aligned_u64 old_value;
	__aligned_u64 new_value;	/* EDX:EAX */
};

/*
 * INT3 (#BP) in the guest.  vmiop intercepts #BP through KVM's guest
 * debugging (KVM_GUESTDBG_USE_SW_BP); if the VMM debugs the guest itself
 * (e.g. QEMU's gdbstub), its breakpoints go to the VMM as before and
 * these events are not delivered.  Replies: continue re-injects #BP into
 * the guest (its own handler runs), skip consumes it (RIP moves past the
 * instruction: a breakpoint vmiop planted).
 */
struct vmiop_event_breakpoint {
	__aligned_u64 gva;	/* linear address of the INT3 */
	__u32 insn_len;		/* 1 for 0xCC */
	__u32 reserved;
};

/*
 * A #DB the guest itself causes (its DR0-3/DR7 breakpoints, its own
 * RFLAGS.TF, ICEBP): continue delivers it to the guest, skip swallows it.
 */
struct vmiop_event_debug {
	__aligned_u64 dr6;	/* what the guest's DR6 would say */
	__aligned_u64 dr7;
};

/*
 * How single-stepping is done (struct vmiop_event_caps.singlestep,
 * struct vmiop_event_singlestep.method).
 *
 * VMIOP_STEP_MTF: VMX's monitor trap flag, a VM exit after every guest
 * instruction.  The guest's RFLAGS.TF is never touched, and an exception
 * or interrupt delivered mid-step is stepped from its handler's first
 * instruction (the step lands there).  The one step of
 * VMIOP_REPLY_F_SINGLESTEP is the next instruction's: no interrupt is
 * injected before it (one the CPU delivers itself, with APICv, or a fault
 * of that instruction still lands in its handler).
 *
 * VMIOP_STEP_TRAP_FLAG: RFLAGS.TF through KVM's guest debugging (SVM, or
 * VMX when KVM's control shadow is not found).  TF is kept out of the
 * guest's view of RFLAGS through KVM and out of what a stepped PUSHF
 * stores; SYSCALL's copy in R11 and the frames of interrupts and
 * exceptions delivered mid-step still hold it, and their handlers run
 * unstepped.
 */
enum vmiop_step_method {
	VMIOP_STEP_TRAP_FLAG = 1,
	VMIOP_STEP_MTF = 2,
};

/*
 * One instruction executed on a vCPU with VMIOP_EVENT_SINGLESTEP enabled,
 * or asked for by VMIOP_REPLY_F_SINGLESTEP.  RIP in the register snapshot
 * is the next instruction.
 */
struct vmiop_event_singlestep {
	__aligned_u64 gva;	/* linear address of the next instruction */
	__aligned_u64 dr6;	/* as a single-step #DB sets it (BS) */
	__u32 method;		/* enum vmiop_step_method */
	__u32 reserved;
};

/*
 * An exception KVM is about to deliver to the guest (written for the next
 * VM entry): ones KVM queues itself (#GP, #UD, #PF from emulation...),
 * the #BP or #DB vmiop passed on, and those VMIOP_ACTION_INJECT asked
 * for, which this confirms.  Each once: not again when a VM exit
 * interrupts the delivery (a nested page fault on the IDT, say) and KVM
 * delivers it again.
 * Exceptions the CPU delivers without a VM exit (a #PF the guest's own
 * page tables cause, with EPT/NPT) are not seen.  Filter key: the vector.
 * Reply: continue.
 */
struct vmiop_event_trap {
	__u32 vector;
	__u32 has_error_code;
	__u32 error_code;
	__u32 reserved;
	__aligned_u64 cr2;	/* #PF: the address the guest will find in CR2 */
};

/* struct vmiop_event_desc.reg, and the DESC filter key */
enum vmiop_desc_reg {
	VMIOP_DESC_IDTR = 1,
	VMIOP_DESC_GDTR = 2,
	VMIOP_DESC_LDTR = 3,
	VMIOP_DESC_TR = 4,
};

/*
 * LIDT, LGDT, LLDT, LTR (@write 1) or SIDT, SGDT, SLDT, STR (@write 0).
 * Filter key: enum vmiop_desc_reg.  Replies: continue (KVM's emulator
 * runs the instruction), skip, inject.  The register's value before is in
 * the snapshot.  For a load, vmiop decodes the instruction and reads its
 * operand: the value the register is about to get (LIDT/LGDT: base and
 * limit, as the operand size truncates them; LLDT/LTR: the selector).
 * VMIOP_DESC_NEW_VALID is set when that worked: the bytes at RIP decode
 * as that load and its operand's page is present.
 */
struct vmiop_event_desc {
	__u32 reg;
	__u32 write;
	__u32 flags;		/* VMIOP_DESC_NEW_VALID */
	__u16 new_selector;	/* LLDT, LTR */
	__u16 reserved;
	__aligned_u64 new_base;	/* LIDT, LGDT */
	__aligned_u64 new_limit;
};
#define VMIOP_DESC_NEW_VALID	(1u << 0)

struct vmiop_event_cpuid {
	__u32 leaf;		/* EAX */
	__u32 subleaf;		/* ECX */
	__u32 eax, ebx, ecx, edx;	/* what KVM would return */
};

struct vmiop_event_hypercall {
	__aligned_u64 nr;	/* RAX */
	__aligned_u64 args[4];	/* RBX, RCX, RDX, RSI (KVM's convention) */
	__u32 long_mode;	/* 64-bit code: all 64 bits are significant */
	__u32 reserved;
};

/* struct vmiop_event_mem.flags */
#define VMIOP_MEM_F_GLA_VALID	(1u << 0)	/* @gla is the linear address */
/*
 * The guest's page walker made the access, to a paging-structure entry in
 * the page (reading it, or setting its accessed/dirty bits), translating
 * @gla where VMIOP_MEM_F_GLA_VALID says so: the guest's own page tables
 * restricted (HVMI's page-table protection).  The hardware counts every
 * such access a write (EPT with accessed/dirty bits on, as KVM runs it,
 * and NPT), so the page must keep R for the walk to be a write event
 * only, and each walk through a write-restricted page is one event.
 */
#define VMIOP_MEM_F_PAGE_WALK	(1u << 1)
/*
 * The CPU made the access delivering an interrupt or exception (reading
 * the IDT, pushing the frame): RIP is the instruction it interrupted,
 * which made no access; skip and emulate are taken as continue.
 */
#define VMIOP_MEM_F_EVENT_DELIVERY	(1u << 2)
/*
 * The guest's #VE agent raised the access (VMIOP_VE_HCALL_RAISE_EPT) after
 * it took it as a #VE: the instruction faulted again, and @old_value and
 * @new_value are what the agent decoded (the page-table entry before and
 * after the write).  They come from the guest's info page: the agent's
 * word, as trustworthy as the guest kernel.
 */
#define VMIOP_MEM_F_AGENT	(1u << 3)

/*
 * A guest access its page's rights forbid (VMIOP_SET_MEM_ACCESS).  RIP in
 * the register snapshot is the instruction that made it, which has not
 * run (for a fetch, the instruction being fetched: @gpa may be on the
 * page after RIP's, an instruction across the boundary).  Filter key:
 * @gpa.  Replies:
 *  - continue: the access happens, once: the vCPU runs the instruction
 *    with the page's rights opened, every other vCPU of the VM held
 *    stopped meanwhile (so that none of theirs slips through unseen), and
 *    the rights are back before any other guest instruction runs; with
 *    VMIOP_REPLY_F_SINGLESTEP a SINGLESTEP event reports the step.  Where
 *    steps use the trap flag (vmiop_event_caps.singlestep), which would
 *    stay in the frame of an exception the instruction raises, KVM's
 *    emulator lets the access through instead, as for emulate, and only
 *    what it cannot run is stepped over (an exception it raises ends the
 *    step within a millisecond of its handler).  A delivery's access
 *    (VMIOP_MEM_F_EVENT_DELIVERY) has the pages open until RIP is in the
 *    handler.  Past 16 pages open for one instruction, the emulator runs
 *    it;
 *  - emulate (VMIOP_ACTION_EMULATE): KVM's instruction emulator runs the
 *    instruction (no vCPU is stopped; its other accesses bypass page
 *    rights); with @emul_read the bytes it reads at @gpa and after come
 *    from the reply instead of guest memory; an instruction the emulator
 *    cannot run is stepped over as for continue, without the read data;
 *  - retry: the instruction runs again, with the page's rights as they
 *    are then (changed meanwhile with VMIOP_SET_MEM_ACCESS: an access
 *    they still forbid is a new event);
 *  - skip: the instruction does not run (a write is dropped, a read
 *    leaves its destination as it was), RIP moves past it;
 *  - inject: the guest takes the exception instead, RIP on the
 *    instruction.
 */
struct vmiop_event_mem {
	__aligned_u64 gpa;	/* the byte accessed (walks: the entry's page) */
	__aligned_u64 gla;	/* VMIOP_MEM_F_GLA_VALID: the linear address */
	__u32 access;		/* VMIOP_ACCESS_*: what the guest tried */
	__u32 flags;		/* VMIOP_MEM_F_* */
	__u32 rights;		/* the page's rights when it tried */
	__u32 reserved;
	__aligned_u64 old_value;	/* VMIOP_MEM_F_AGENT */
	__aligned_u64 new_value;	/* VMIOP_MEM_F_AGENT */
};

/*
 * The #VE agent's VMIOP_VE_HCALL_BREAK or _TRACE (<linux/vmiop_ve.h>),
 * from agent code (VMIOP_SET_VE_AGENT).  RIP is the hypercall.  Filter
 * key: @op.  Replies: continue and skip: RAX = VMIOP_VE_SUCCESS, RIP past
 * the call; set_result: RAX = @value; inject.
 */
struct vmiop_event_agent {
	__u32 op;		/* enum vmiop_ve_hcall */
	__u32 reserved;
	__aligned_u64 args[2];	/* RBX, RCX */
	__aligned_u64 info_gpa;	/* the vCPU's info page, or VMIOP_VE_INFO_NONE */
};

/**
 * struct vmiop_event - one entry of the ring
 * @type: enum vmiop_event_type
 * @flags: 0 for now
 * @vcpu: the vCPU, which waits for the reply (a vCPU that leaves KVM_RUN
 *	for a signal meanwhile waits for the same reply when it is back: the
 *	event is not posted twice)
 * @seq: per session, 1 for the first event, +1 for each: a gap or a repeat
 *	would be a lost or duplicated event
 * @regs: the vCPU's registers when the event happened (RIP at the
 *	instruction that caused it)
 */
struct vmiop_event {
	__u16 type;
	__u16 flags;
	__u32 vcpu;
	__aligned_u64 seq;
	union {
		struct vmiop_event_cr cr;
		struct vmiop_event_msr msr;
		struct vmiop_event_breakpoint breakpoint;
		struct vmiop_event_debug debug;
		struct vmiop_event_singlestep singlestep;
		struct vmiop_event_trap trap;
		struct vmiop_event_desc desc;
		struct vmiop_event_xsetbv xsetbv;
		struct vmiop_event_cpuid cpuid;
		struct vmiop_event_hypercall hypercall;
		struct vmiop_event_mem mem;
		struct vmiop_event_agent agent;
		__aligned_u64 raw[8];
	};
	struct vmiop_regs regs;
	__aligned_u64 reserved[28];
};

enum vmiop_action {
	/* KVM does what it would have done without vmiop */
	VMIOP_ACTION_CONTINUE = 1,
	/*
	 * the instruction is skipped with no other effect (CR, MSR, XSETBV
	 * write: denied; RDMSR: RAX/RDX unchanged; BREAKPOINT: consumed,
	 * DEBUG: swallowed)
	 */
	VMIOP_ACTION_SKIP = 2,
	/*
	 * the instruction completes with the reply's values: CPUID: EAX..EDX
	 * = @cpuid; HYPERCALL: RAX = @value; CR, WRMSR, XSETBV: @value is
	 * written instead (a value KVM refuses makes the guest take #GP, as
	 * the instruction would); RDMSR: returns @value
	 */
	VMIOP_ACTION_SET_RESULT = 3,
	/*
	 * the instruction does not run (RIP stays on it) and the guest takes
	 * @exception instead, as a fault of that instruction: #GP(0) for a
	 * denied WRMSR, #UD for a CPUID.  BREAKPOINT, DEBUG, SINGLESTEP: the
	 * exception replaces the one that was intercepted (none for a step)
	 */
	VMIOP_ACTION_INJECT = 4,
	/*
	 * BREAKPOINT: the #BP is dropped and RIP stays on the INT3, so
	 * the instruction there runs again (the introspector put the original
	 * byte back, typically with VMIOP_REPLY_F_SINGLESTEP to re-plant it).
	 * MEM: the instruction runs again under the page's rights of then
	 */
	VMIOP_ACTION_RETRY = 5,
	/*
	 * MEM only: KVM's emulator runs the instruction, optionally with
	 * @emul_read as what it reads (struct vmiop_event_mem)
	 */
	VMIOP_ACTION_EMULATE = 6,
};

/*
 * Reply flags.  VMIOP_REPLY_F_SINGLESTEP: the vCPU reports a SINGLESTEP
 * event after the next instruction it executes, whether SINGLESTEP events
 * are enabled on it or not; then it stops stepping unless they are.  With
 * events that complete their instruction in KVM (CPUID, MSR, CR...), that
 * is the instruction after it.
 */
#define VMIOP_REPLY_F_SINGLESTEP	(1U << 0)
#define VMIOP_REPLY_FLAGS		VMIOP_REPLY_F_SINGLESTEP

/* The most bytes VMIOP_ACTION_EMULATE takes as the emulated reads' data. */
#define VMIOP_EMUL_READ_MAX	64

/* vmiop_event_reply.exception.flags */
#define VMIOP_INJECT_F_ERROR_CODE	(1U << 0)

/**
 * struct vmiop_inject - an exception for VMIOP_ACTION_INJECT
 * @vector: 0-21 but NMI (2), the reserved 9 and 15, and the software
 *	exceptions #BP and #OF (a BREAKPOINT's "continue" re-injects INT3)
 * @flags: VMIOP_INJECT_F_ERROR_CODE, exactly for the vectors that push
 *	one (#DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP)
 * @error_code: pushed with it
 * @cr2: #PF only: the faulting address the guest sees in CR2
 */
struct vmiop_inject {
	__u8 vector;
	__u8 flags;
	__u16 reserved;
	__u32 error_code;
	__aligned_u64 cr2;
};

/**
 * struct vmiop_event_reply - VMIOP_EVENT_REPLY: let a waiting vCPU go on
 * @size: sizeof(struct vmiop_event_reply)
 * @flags: VMIOP_REPLY_F_*
 * @vcpu: the event's vCPU
 * @action: enum vmiop_action (which ones apply depends on the event type)
 * @seq: the event's sequence number
 * @cpuid: results for VMIOP_ACTION_SET_RESULT on a CPUID event
 * @value: result for VMIOP_ACTION_SET_RESULT on all but CPUID events
 * @exception: for VMIOP_ACTION_INJECT
 * @emul_read: for VMIOP_ACTION_EMULATE, or zero: @len (up to
 *	VMIOP_EMUL_READ_MAX) bytes at user pointer @data, copied by the call,
 *	that the emulated instruction reads instead of guest memory: byte i
 *	is the one at the event's gpa + i; other bytes come from memory
 * @reserved: must be 0
 *
 * Registers set with VMIOP_SET_REGS while the event waits take effect
 * before the action (so SKIP advances from the RIP that was set).
 *
 * Errors: -ENOENT no event @seq waits on @vcpu (already replied, or the
 *	vCPU index is wrong); -EINVAL an action the event type does not take,
 *	an unknown flag, an exception that cannot be injected, @emul_read
 *	longer than VMIOP_EMUL_READ_MAX; -EBADF an action other than
 *	VMIOP_ACTION_CONTINUE in a read-only session.
 */
struct vmiop_event_reply {
	__u32 size;
	__u32 flags;
	__u32 vcpu;
	__u32 action;
	__aligned_u64 seq;
	union {
		struct {
			__u32 eax, ebx, ecx, edx;
		} cpuid;
		__aligned_u64 value;
		struct vmiop_inject exception;
		struct {
			__aligned_u64 data;
			__u32 len;
			__u32 reserved;
		} emul_read;
		__aligned_u64 raw[2];
	};
	__aligned_u64 reserved;
};
#define VMIOP_EVENT_REPLY _IO(VMIOP_TYPE, VMIOP_CMD_EVENT_REPLY)

/* vmiop_ring_status.flags: a vCPU sleeps until a system call takes the replies */
#define VMIOP_RING_NEED_WAKEUP	(1u << 0)

/**
 * struct vmiop_ring_status - what the module tells the consumer, in the ring
 * @flags: VMIOP_RING_NEED_WAKEUP
 * @reply_errors: replies from the ring that were refused, ever, as
 *	VMIOP_EVENT_REPLY would have refused them
 * @reply_refused: of them, those that leave a vCPU waiting: all but the
 *	-ENOENT ones (nobody waits for that reply, any more), and a
 *	reply_head refused as a whole
 * @last_error: the negative errno of the last of @reply_refused
 * @last_error_index: its index in the reply ring (free-running, as
 *	reply_head), or the bad reply_head
 * @last_error_vcpu: its @vcpu (~0 for a bad reply_head)
 * @last_error_seq: its @seq (0 for a bad reply_head): with
 *	@last_error_vcpu, what a reply through VMIOP_EVENT_REPLY names to
 *	answer that vCPU after all
 *
 * The module writes it and never reads it back: the last_error fields
 * first, then the counts with release semantics (pairs with the
 * consumer's acquire load of a count before it reads the fields).
 */
struct vmiop_ring_status {
	__u32 flags;
	__u32 reply_errors;
	__u32 reply_refused;
	__s32 last_error;
	__u32 last_error_index;
	__u32 last_error_vcpu;
	__aligned_u64 last_error_seq;
};

/**
 * struct vmiop_ring_reply - an entry of the reply ring
 * @reply: as for VMIOP_EVENT_REPLY; @reply.size is
 *	sizeof(struct vmiop_event_reply), and @reply.emul_read.data is 0:
 *	the bytes are in @emul_read
 * @emul_read: VMIOP_ACTION_EMULATE's first @reply.emul_read.len bytes
 * @reserved: must be 0
 */
struct vmiop_ring_reply {
	struct vmiop_event_reply reply;
	__u8 emul_read[VMIOP_EMUL_READ_MAX];
	__aligned_u64 reserved[2];
};

/*
 * VMIOP_EVENT_WAIT: store @tail as the ring's tail first, as the consumer
 * would through its mapping.  A session opened read-only maps the ring
 * read-only and gives entries back this way.
 */
#define VMIOP_EVENT_WAIT_F_TAIL	(1u << 0)

/**
 * struct vmiop_event_wait - VMIOP_EVENT_WAIT: sleep until events are ready
 * @size: sizeof(struct vmiop_event_wait)
 * @flags: 0 or VMIOP_EVENT_WAIT_F_TAIL
 * @timeout_ms: in, -1 waits for ever, 0 only looks
 * @ready: out, events in the ring
 * @tail: in, with VMIOP_EVENT_WAIT_F_TAIL the new tail (it may move
 *	forward up to head), else must be 0
 * @reserved: must be 0
 *
 * poll(2)/epoll on the session fd reports EPOLLIN under the same condition.
 * VMIOP_EVENT_WAIT (not poll(2), which takes no replies) takes the replies
 * waiting in the reply ring first, so a @timeout_ms of 0 hands them over
 * and only looks for events; both make the caller the consumer vCPUs spin
 * for.
 *
 * Errors: -ENXIO no ring; -ETIMEDOUT no event within @timeout_ms (the tail
 *	was stored); -EINTR a signal arrived (likewise); -EINVAL (F_TAIL)
 *	@tail is behind the current tail or ahead of head: nothing stored.
 */
struct vmiop_event_wait {
	__u32 size;
	__u32 flags;
	__s32 timeout_ms;
	__u32 ready;
	__u32 tail;
	__u32 reserved;
};
#define VMIOP_EVENT_WAIT _IO(VMIOP_TYPE, VMIOP_CMD_EVENT_WAIT)

/* ---------------------------------------------------------------------- */

/*
 * The host's KVM VMs, by id and by name: the generic netlink family
 * VMIOP_GENL_NAME (resolve it with the "nlctrl" family; libvmiop's
 * vmiop_vm_list() and friends do all of this).
 *
 * Every KVM VM of the host gets an id when it is created (or when the
 * module finds it at load): a number from 1 up, never given to another VM
 * while the module is loaded.  A VM's name is the one its VMM gave it
 * (QEMU's "-name NAME" or "-name guest=NAME,..." as libvirt writes it:
 * VMIOP_VM_NAME_CMDLINE) or one set with VMIOP_GENL_CMD_VM_SET_NAME
 * (VMIOP_VM_NAME_SET).  Names are unique among live VMs: a VM that asks
 * for a name a live VM has gets none, and setting a taken name is -EEXIST.
 * A name is 1 to VMIOP_VM_NAME_MAX - 1 bytes, without control characters
 * (below 0x20, 0x7f) or '/'.
 *
 * A caller sees, looks up and names only the VMs it could attach to (ptrace
 * rights over the VMM), unless it has CAP_SYS_ADMIN; any other VM is
 * -ENOENT, as if it did not exist.  Requests are validated strictly (an
 * attribute the command does not take, a wrong length, an unterminated
 * string: -EINVAL or -ERANGE with an extended ack saying which) and a
 * failed request changes nothing.
 *
 * Notifications (VMIOP_GENL_CMD_VM_CREATED and on) go to two multicast
 * groups.  VMIOP_GENL_MCGRP_ADMIN needs CAP_SYS_ADMIN to join (it does not
 * exist on kernels that cannot restrict a group so) and carries what the
 * module knows of the VM at that moment; VMIOP_GENL_MCGRP_VM is
 * open to anyone and carries only the command and VMIOP_GENL_A_EVENT_SEQ,
 * and VMIOP_GENL_A_VM_ID for VMIOP_GENL_CMD_VM_CREATED and _DESTROYED
 * (KVM itself tells every local user that a VM was created or destroyed,
 * through its uevents; who introspects or renames which VM it does not
 * tell): a listener asks VMIOP_GENL_CMD_VM_GET for the rest, or lists
 * again for a change without an id, as permissions allow.  Each
 * notification has the next VMIOP_GENL_A_EVENT_SEQ, in the order of the
 * changes: a gap means the socket's buffer overran (as does ENOBUFS from
 * recv(2)), and a listener should list again.  A dump reports the
 * sequence number of the last notification it reflects, in each message:
 * join first, then dump, then ignore notifications not after it.
 */
#define VMIOP_GENL_NAME		"vmiop"
#define VMIOP_GENL_VERSION	1
#define VMIOP_GENL_MCGRP_ADMIN	"admin"
#define VMIOP_GENL_MCGRP_VM	"vm"
#define VMIOP_VM_NAME_MAX	64	/* bytes, with the terminating NUL */

enum vmiop_genl_cmd {
	VMIOP_GENL_CMD_UNSPEC,
	/*
	 * do: the VM named by VMIOP_GENL_A_VM_ID or VMIOP_GENL_A_VM_NAME (one
	 * of them).  dump (NLM_F_DUMP, no attribute): every VM the caller
	 * sees, by id.  Replies carry the VM's attributes.
	 * Errors: -ENOENT no such VM (or not visible); -EINVAL both or
	 * neither selector.
	 */
	VMIOP_GENL_CMD_VM_GET,
	/*
	 * do: VMIOP_GENL_A_VM_ID and VMIOP_GENL_A_VM_NAME; an empty name
	 * clears it.  Errors: -ENOENT no such VM (or not visible); -EEXIST
	 * another live VM has the name; -EINVAL not a valid name.
	 */
	VMIOP_GENL_CMD_VM_SET_NAME,
	/* notifications only, never requests (-EOPNOTSUPP) */
	VMIOP_GENL_CMD_VM_CREATED,
	VMIOP_GENL_CMD_VM_DESTROYED,
	VMIOP_GENL_CMD_VM_RENAMED,	/* no VMIOP_GENL_A_VM_NAME: cleared */
	VMIOP_GENL_CMD_SESSION_ATTACHED,
	VMIOP_GENL_CMD_SESSION_DETACHED,
	__VMIOP_GENL_CMD_MAX,
};
#define VMIOP_GENL_CMD_MAX (__VMIOP_GENL_CMD_MAX - 1)

enum vmiop_genl_attr {
	VMIOP_GENL_A_UNSPEC,
	VMIOP_GENL_A_PAD,		/* alignment of the u64s */
	VMIOP_GENL_A_VM_ID,		/* u64 */
	VMIOP_GENL_A_VM_NAME,		/* string, absent if the VM has none */
	VMIOP_GENL_A_VM_NAME_SOURCE,	/* u32, enum vmiop_vm_name_source */
	/*
	 * u32: the VMM's thread-group id, in the requester's pid namespace
	 * (absent if not visible there); in notifications, in the initial one
	 */
	VMIOP_GENL_A_VMM_PID,
	VMIOP_GENL_A_VMM_UID,		/* u32: the VMM's real uid */
	VMIOP_GENL_A_VMM_COMM,		/* string: the VMM's command (comm) */
	VMIOP_GENL_A_VM_NR_VCPUS,	/* u32: vCPUs created */
	/*
	 * u64: bytes of writable memory slots: the guest's RAM plus what the
	 * VMM maps as RAM for devices (a video card's memory); no ROM
	 */
	VMIOP_GENL_A_VM_MEM_BYTES,
	VMIOP_GENL_A_VM_VENDOR,		/* u32, enum vmiop_vendor */
	/* u32: a session is attached, by this process (pid as for VMM_PID) */
	VMIOP_GENL_A_SESSION_PID,
	VMIOP_GENL_A_SESSION_FLAGS,	/* u32, VMIOP_SESSION_F_* */
	VMIOP_GENL_A_EVENT_SEQ,		/* u64: see above */
	__VMIOP_GENL_A_MAX,
};
#define VMIOP_GENL_A_MAX (__VMIOP_GENL_A_MAX - 1)

enum vmiop_vm_name_source {
	VMIOP_VM_NAME_CMDLINE = 1,	/* the VMM's command line */
	VMIOP_VM_NAME_SET = 2,		/* VMIOP_GENL_CMD_VM_SET_NAME */
};

/*
 * The session was closed and still gives back what it changed in a
 * nested guest's state (VMIOP_ATTACH's -EBUSY).
 */
#define VMIOP_SESSION_F_LINGERING	(1u << 0)

#endif /* _UAPI_LINUX_VMIOP_H */
