/* SPDX-License-Identifier: GPL-2.0 */
/* Internal interfaces of the vmiop module. */
#ifndef VMIOP_INTERNAL_H
#define VMIOP_INTERNAL_H

#include <linux/kvm_host.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/mmu_notifier.h>
#include <linux/vmiop.h>
#include <asm/insn.h>
#include "vmname.h"

/* ksyms.c: what stock KVM and the kernel do not export, found at load. */
struct vmiop_ksyms {
	/* kernel */
	bool (*ptrace_may_access)(struct task_struct *task, unsigned int mode);
	struct file *(*fget_task)(struct task_struct *task, unsigned int fd);
	struct module *(*module_address)(unsigned long addr);	/* preempt off */
	/* kvm.ko: the bodies of KVM_GET/SET_REGS and _SREGS without vcpu_load() */
	void (*get_regs)(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
	void (*set_regs)(struct kvm_vcpu *vcpu, struct kvm_regs *regs);
	void (*get_sregs)(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
	int (*set_sregs)(struct kvm_vcpu *vcpu, struct kvm_sregs *sregs);
	int (*get_msr)(struct kvm_vcpu *vcpu, u32 index, u64 *data, bool host_initiated);
	int (*set_msr)(struct kvm_vcpu *vcpu, u32 index, u64 data, bool host_initiated);
	int (*set_xcr)(struct kvm_vcpu *vcpu, u32 index, u64 xcr);
	struct list_head *vm_list;
	struct mutex *kvm_lock;
	struct kvm_x86_ops *x86_ops;
	/* kvm_amd: KVM's own, so that its view of passed-through MSRs stays right */
	void (*svm_set_msr_interception)(struct kvm_vcpu *vcpu, u32 *msrpm, u32 msr,
					 int read, int write);
	/* kvm_intel (MSR_TYPE_R/W in its vmx.h are 1 and 2, like VMIOP_MSR_R/W) */
	void (*vmx_enable_intercept_for_msr)(struct kvm_vcpu *vcpu, u32 msr, int type);
	void (*vmx_disable_intercept_for_msr)(struct kvm_vcpu *vcpu, u32 msr, int type);
	bool *vmx_unrestricted_guest;			/* NULL: absent, KVM's default (on) */
	struct static_key_false *vmx_enable_evmcs;
	/* kvm.ko's MMU (memaccess.c): its zaps, huge-page counters, SPTE bits */
	bool *tdp_enabled;
	void (*zap_gfn_range)(struct kvm *kvm, gfn_t gfn_start, gfn_t gfn_end);
	void (*gfn_disallow_lpage)(const struct kvm_memory_slot *slot, gfn_t gfn);
	void (*gfn_allow_lpage)(const struct kvm_memory_slot *slot, gfn_t gfn);
	u64 *shadow_user_mask, *shadow_x_mask, *shadow_nx_mask, *shadow_present_mask,
	    *shadow_mmu_writable_mask, *shadow_acc_track_mask;
	int (*x86_emulate_instruction)(struct kvm_vcpu *vcpu, gpa_t cr2_or_gpa,
				       int emulation_type, void *insn, int insn_len);
	/* the kernel's x86 instruction decoder (NULL: absent, KVM's emulator skips) */
	int (*insn_decode)(struct insn *insn, const void *kaddr, int buf_len,
			   enum insn_mode m);
};

extern struct vmiop_ksyms vmiop_ksym;

/*
 * The vCPU runs a nested guest (L2) for the guest's own hypervisor: what
 * it does there is that hypervisor's business, and the VMCS/VMCB loaded
 * is not the guest's own.  No event is for L2, and vmiop changes no
 * intercept while L2 runs (KVM's vmcs02/vmcb02 still inherit those vmiop
 * set for L1; those exits go to KVM's own handling).
 */
static inline bool vmiop_in_l2(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.hflags & HF_GUEST_MASK;
}

/*
 * In Xen's SCHEDOP_poll, which halts the vCPU from a hypercall exit with
 * the vCPU's kvm->srcu still held (every other halt drops it first).  Set
 * to the port polled, or -1 for several, and back to 0 after, by the vCPU
 * thread alone (Xen has no event channel 0).
 */
static inline bool vmiop_in_xen_poll(struct kvm_vcpu *vcpu)
{
#ifdef CONFIG_KVM_XEN
	return READ_ONCE(vcpu->arch.xen.poll_evtchn) != 0;
#else
	return false;
#endif
}

/* Offsets into KVM's private vCPU structures, from its BTF (layout.c). */
struct vmiop_layout {
	u32 svm_vmcb;			/* struct vcpu_svm: struct vmcb *vmcb */
	u32 vmx_loaded_vmcs;		/* struct vcpu_vmx: struct loaded_vmcs *loaded_vmcs */
	u32 vmx_vmcs01;			/* struct vcpu_vmx: struct loaded_vmcs vmcs01 (L1's) */
	u32 vmx_controls_shadow;	/* struct loaded_vmcs: controls_shadow */
};
extern struct vmiop_layout vmiop_layout;
int vmiop_layout_init(void);
unsigned long vmiop_lookup_name(const char *name);
int vmiop_ksyms_init(void);
int vmiop_ksyms_init_vendor(u32 vendor);

/* Exported by kvm.ko, declared only in its private arch/x86/kvm/cpuid.h. */
bool kvm_cpuid(struct kvm_vcpu *vcpu, u32 *eax, u32 *ebx, u32 *ecx, u32 *edx,
	       bool exact_only);
struct kvm_cpuid_entry2 *kvm_find_cpuid_entry_index(struct kvm_vcpu *vcpu,
						    u32 function, u32 index);

/*
 * Exported by kvm.ko, declared in its private arch/x86/kvm/x86.h and
 * mmu.h.  Where a
 * page fault would be is reported in struct x86_exception, private too (24
 * bytes in 6.1): callers pass the larger struct vmiop_x86_exception.
 */
struct x86_exception;
struct vmiop_x86_exception {
	u64 space[8];
};
int kvm_read_guest_virt(struct kvm_vcpu *vcpu, gva_t addr, void *val,
			unsigned int bytes, struct x86_exception *exception);
gpa_t kvm_mmu_gva_to_gpa_write(struct kvm_vcpu *vcpu, gva_t gva,
			       struct x86_exception *exception);

/*
 * main.c: the caller's ioctl struct, for the commands that report their
 * result before they change anything (so that a result the caller cannot
 * receive means nothing changed).
 */
struct vmiop_uarg {
	void __user *ptr;
	u32 len;
};

int vmiop_uarg_put(const struct vmiop_uarg *ua, const void *arg);

/* svm.c, vmx.c: what differs between the vendors, behind one struct. */
struct vmiop_session;

#define VMIOP_MSR_R	1
#define VMIOP_MSR_W	2

struct vmiop_vendor_ops {
	const char *name;
	u32 vendor;			/* enum vmiop_vendor */
	const char *module;		/* kvm_amd or kvm_intel */
	const char *exit_handler;	/* the vendor's kvm_x86_ops.handle_exit */
	/* Length of the instruction that caused the current #BP exit. */
	u32 (*bp_insn_len)(struct kvm_vcpu *vcpu);
	/* A single step was reported: none may still be pending in the CPU. */
	void (*clear_pending_step)(struct kvm_vcpu *vcpu);
	/*
	 * A #DB exit came on an ICEBP (INT1) rather than after it: move
	 * past it and say so, as KVM does when it does not intercept #DB.
	 */
	bool (*skip_icebp)(struct kvm_vcpu *vcpu);
	/*
	 * CR3-write exits on or off, on the vCPU's thread, not in guest mode.
	 * True if vmiop changed (on) or restored (off) the control; false if
	 * KVM owns it already (its shadow paging) or the VMCS/VMCB could not
	 * be found.
	 */
	bool (*cr3_exiting)(struct kvm_vcpu *vcpu, bool on);
	/* Bit N: reads of CRN can be made to exit (CR0, CR3, CR4 only). */
	u32 cr_reads;
	/* The same as cr3_exiting for reads of one of them. */
	bool (*cr_read_exiting)(struct kvm_vcpu *vcpu, u32 cr, bool on);
	/* The same for LIDT/LGDT/LLDT/LTR/SIDT/SGDT/SLDT/STR exits. */
	bool (*desc_exiting)(struct kvm_vcpu *vcpu, bool on);
	/* The CPU can make descriptor-table instructions exit. */
	bool (*desc_available)(void);
	/*
	 * Intercepts of @msr (VMIOP_MSR_R/_W in @rw) on or off, on the vCPU's
	 * thread, not in guest mode; KVM's own functions do the change, so
	 * its bookkeeping follows.  Returns what vmiop changed: on, the
	 * accesses KVM let through before; off, those it restored.
	 */
	u32 (*msr_exiting)(struct kvm_vcpu *vcpu, u32 msr, u32 rw, bool on);
	/* The accesses to @msr that exit now (VMIOP_MSR_R/_W). */
	u32 (*msr_intercepted)(struct kvm_vcpu *vcpu, u32 msr);
	/*
	 * The same as cr3_exiting for the monitor trap flag (NULL: the
	 * vendor has none; single-steps then use RFLAGS.TF).
	 */
	bool (*mtf_exiting)(struct kvm_vcpu *vcpu, bool on);
	bool (*mtf_available)(void);
	/*
	 * An EPT violation or #NPF (kvm_mmu_page_fault()'s error code): the
	 * bit that marks a read beside a write or fetch (0: a read is
	 * neither, as on NPT, which checks every access as a user access),
	 * and the linear address, where the hardware reports it (NULL: never).
	 */
	u64 fault_read_mask;
	bool (*fault_gla)(struct kvm_vcpu *vcpu, u64 *gla);
	/* How a #VE is injected (enum vmiop_ve_delivery). */
	u32 ve_delivery;
	/* The current EPT violation's qualification for a #VE (NULL: made up). */
	u64 (*ve_qualification)(struct kvm_vcpu *vcpu);
	/* The vCPU sits in the HLT activity state (NULL: never). */
	bool (*in_hlt_state)(struct kvm_vcpu *vcpu);
	/* Looks up what the back end needs; 0 or -ENOENT (logged). */
	int (*init)(void);
};

extern const struct vmiop_vendor_ops vmiop_svm_ops;
extern const struct vmiop_vendor_ops vmiop_vmx_ops;
bool vmiop_vmx_handle_cr3(struct kvm_vcpu *vcpu, int *ret);
bool vmiop_svm_handle_cr_read(struct kvm_vcpu *vcpu, u64 exit_code, int *ret);
int vmiop_vmx_handle_desc(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu));
bool vmiop_svm_handle_desc(struct kvm_vcpu *vcpu, u64 exit_code, int *ret);
bool vmiop_svm_exit_is_ours(u64 exit_code);
extern atomic_t vmiop_mtf_vcpus;
extern const struct vmiop_vendor_ops *vmiop_vendor;

/* hooks.c: the one table of KVM functions vmiop redirects. */
int vmiop_hooks_install(void);
void vmiop_hooks_remove(void);

/* intercept.c: MSRs KVM may let the guest access without exits */
#define VMIOP_NR_PASSTHROUGH_MSRS 16

/*
 * Per-vCPU state, indexed by kvm_vcpu->vcpu_idx, in parts by owner.  The
 * parts under sess->state_lock are shared between the vCPU's thread and
 * the introspector's; the others belong to whoever holds vcpu->mutex
 * (the vCPU's thread in its ioctls, or the session's worker running a call
 * for the thread that holds it), reached through vmiop_vcpu_own(), which
 * asserts that.
 */
struct vmiop_vcpu {
	/* Pausing and parking: sess->state_lock (wq: its own lock). */
	struct {
		bool parked;		/* its thread waits in vmiop_park_wait() */
		bool acked;		/* out of guest mode for the current pause */
		bool call_waiting;	/* a register call waits for it to park */
		struct list_head jobs;	/* struct vmiop_job, run by the parked thread */
		wait_queue_head_t wq;	/* the parked thread waits here */
	} park;

	/* The event the vCPU waits on (seq 0: none) and its reply: sess->state_lock. */
	struct {
		u64 seq;
		u64 rip;
		u16 type;
		bool replied;
		bool spinning;		/* vmiop_reply_spin(): looks at replied itself */
		struct vmiop_event_reply reply;
		u8 emul_read[VMIOP_EMUL_READ_MAX];	/* reply.emul_read's bytes */
		u64 taken_seq;		/* the last event whose reply was taken */
	} wait;

	/* The exit in progress, and what it leaves for the next entry: owner. */
	struct {
		/*
		 * A CR write left for a signal completed without writing; its
		 * RIP goes back to the instruction before the vCPU can enter
		 * the guest, so that it runs again (exits.c).
		 */
		bool rewind;
		u64 rewind_rip;
		/*
		 * KVM is loading saved state (RSM, a task switch), whose CR
		 * writes are no guest MOVs; until the next park point.
		 */
		bool loading_state;
		bool db_reported;	/* the #DB queued in this exit has had its event */
		/* an exception event left for a signal (debug.c) */
		bool trap_pending;
		u32 trap_insn_len;
		/*
		 * KVM put back an exception whose delivery did not happen or
		 * did not finish; it was reported.
		 */
		bool trap_redelivery;
		/* an exception from VMIOP_ACTION_INJECT, queued before the next entry */
		bool inject_pending;
		struct vmiop_inject inject;
		/*
		 * The buffer its events are built and delivered in, from attach
		 * on (or, for a vCPU created later, its first park point) so that
		 * an exit never allocates or drops an event for want of memory.
		 * Busy from vmiop_event_get() to vmiop_event_put(), which comes
		 * before control goes back to KVM code that could exit again.
		 */
		bool ev_buf_busy;
		struct vmiop_event *ev_buf;
	} exit;

	/* What vmiop added to KVM's intercepts (intercept.c, debug.c): owner. */
	struct {
		/* the VMM's own KVM_GUESTDBG_* flags while vmiop's are merged in */
		u32 vmm_debug;
		bool debug;		/* vmiop's guest-debug flags are merged in */
		bool cr3;		/* CR3-write exits */
		u8 cr_read;		/* exits for reads of CRN (bit N) */
		bool desc;		/* descriptor-table exits */
		/* exits for the MSRs KVM passes through: VMIOP_MSR_* per entry */
		u8 msr[VMIOP_NR_PASSTHROUGH_MSRS];
		bool mtf;		/* the monitor trap flag */
		/* detached, in L1, and still some left: not for want of trying */
		bool given_up;
	} applied;

	/* Memory-access events (memaccess.c): owner. */
	struct {
		bool over;		/* it steps over an access, others held */
		u64 step_lip;		/* ... of the instruction at this linear RIP */
		bool delivery;		/* ... made delivering an event */
		bool stepping;		/* ... single-stepped (vmiop_debug_sync()) */
		struct kvm_vcpu *vcpu;	/* for the watchdog, which ... */
		struct hrtimer watchdog;	/* ... makes it look at its step */
		bool emulating;		/* inside vmiop's x86_emulate_instruction() */
		bool emul_failed;	/* ... which KVM's emulator could not run */
		u32 read_len;		/* while emulating: reads at read_gpa... */
		u64 read_gpa;
		u8 read_data[VMIOP_EMUL_READ_MAX];	/* ... return these bytes */
	} mem;

	/* Detached, seen outside the session's memory (own.c): owner. */
	bool own_clear;

	/* #VE (ve.c): owner; @queued is also looked at by detach. */
	struct {
		u64 info_gpa;		/* its info page, VMIOP_VE_INFO_NONE: none */
		bool queued;		/* a #VE vmiop queued may not be delivered yet */
		u64 queued_gpa;		/* ... with this info page */
		u64 delivered_gpa;	/* the access of the last #VE queued */
		u64 delivered_lip;	/* ... and its instruction's linear RIP */
		bool raise;		/* the agent raised the access at raise_gpa */
		u64 raise_gpa, raise_old, raise_new;
	} ve;

	/* Single-stepping (debug.c): owner. */
	struct {
		/* VMIOP_REPLY_F_SINGLESTEP: report the next instruction */
		bool once;
		/* the instruction a TF step is armed on, when it is a PUSHF */
		u8 pushf;		/* its operand size, 0: not a PUSHF */
		u64 next_rip, rsp, rflags;
		/* an instruction completed under the monitor trap flag, to report ... */
		bool mtf_due;
		u64 mtf_lip;		/* ... with the vCPU at this linear RIP */
	} step;
};

struct vmiop_session {
	struct kref ref;
	struct rcu_head rcu;
	struct hlist_node node;		/* in the kvm -> session table */
	struct kvm *kvm;		/* holds a reference */
	struct mm_struct *mm;		/* the VMM's, grabbed */
	struct pid *attacher;		/* the introspector's thread group */

	struct mutex lock;		/* serializes pause/resume/register calls */
	unsigned int pause_count;	/* under lock */
	/*
	 * The session fd was opened without write access: guest memory and
	 * registers are read, never written (set at attach, then constant).
	 */
	bool read_only;

	spinlock_t state_lock;
	bool paused;			/* vCPUs must not enter the guest */
	bool detached;
	wait_queue_head_t state_wq;	/* a vCPU parked, left, or was acked */
	struct vmiop_vcpu *vcpus;	/* KVM_MAX_VCPUS entries */
	struct kthread_worker *worker;	/* runs work on vCPUs outside KVM_RUN */

	struct vmiop_events *events;	/* event.c; set once, then constant */

	/* Detached, waiting for vCPUs to give back intercepts (session.c). */
	struct delayed_work linger_work;

	/* mmap.c */
	struct mmu_notifier mn;
	bool mn_registered;
	struct address_space *mapping;	/* of the session file */
	spinlock_t mn_lock;
	unsigned long mn_seq;		/* bumped by every invalidation */
	unsigned int mn_active;		/* invalidations in progress */
	bool mm_gone;
	/*
	 * Each gfn mapped into the introspector, to the page it maps, with a
	 * reference; marked stale by the notifier until zapped.  Entries
	 * change, and zaps run, under pages_lock; marks are set under xa_lock.
	 */
	struct mutex pages_lock;
	struct xarray pages;
	bool pages_closed;		/* the file is released: maps nothing */
	struct work_struct zap_work;

	/*
	 * memaccess.c: each restricted gfn to xa_mk_value(its rights); an
	 * entry holds the gfn's lpage counters.  Changed under
	 * kvm->slots_lock, read lock-free.
	 */
	struct xarray mem_rights;
	/*
	 * The vCPU stepping over an access (state_lock; -1: none), which
	 * every other vCPU waits out at its park point, and the gfns open
	 * meanwhile (written by it alone, read lock-free by make_spte()).
	 */
	int mem_step_owner;
	unsigned int mem_nr_open;
#define VMIOP_MEM_OPEN_MAX 16
	gfn_t mem_open[VMIOP_MEM_OPEN_MAX];

	/* ve.c: the #VE agent's code, [gpa, gpa + len) (state_lock) */
	u64 ve_code_gpa, ve_code_len;

	/*
	 * own.c: the session's memory, [own_gpa, own_gpa + own_len), and the
	 * undo log, newest first (lock; own_len is also read lock-free).
	 */
	u64 own_gpa, own_len;
	struct list_head undo;
	unsigned int undo_nr;
	unsigned long own_deadline;	/* detach waits for vCPUs until then */
};

/*
 * @vcpu's state in @sess, for the parts its owner alone uses (exit,
 * applied, step): the thread that holds vcpu->mutex, or the session's
 * worker running a call for it (vmiop_vcpu_call_locked()).
 */
static inline struct vmiop_vcpu *vmiop_vcpu_own(struct vmiop_session *sess,
						struct kvm_vcpu *vcpu)
{
	lockdep_assert(lockdep_is_held(&vcpu->mutex) ||
		       (sess->worker && current == sess->worker->task &&
			mutex_is_locked(&vcpu->mutex)));
	return &sess->vcpus[vcpu->vcpu_idx];
}

struct vmiop_session *vmiop_session_find(struct kvm *kvm);
struct vmiop_session *vmiop_session_lookup_rcu(struct kvm *kvm);
bool vmiop_session_tryget(struct vmiop_session *sess);
void vmiop_session_put(struct vmiop_session *sess);
bool vmiop_any_session(void);
bool vmiop_kvm_attached(struct kvm *kvm);
int vmiop_session_attach(struct file *file, const struct vmiop_attach *a);
void vmiop_session_detach(struct vmiop_session *sess);
int vmiop_sessions_init(void);
void vmiop_sessions_exit(void);
bool vmiop_session_alive(struct vmiop_session *sess);
int vmiop_may_introspect(struct kvm *kvm, bool quiet);

/* vcpu.c: parking vCPUs, pause/resume, running work on a vCPU. */
void vmiop_park_point(struct kvm_vcpu *vcpu, bool srcu_held);
void vmiop_run_leaving(struct kvm_vcpu *vcpu);
enum vmiop_park_end {
	VMIOP_PARK_DONE,	/* what the vCPU waited for happened */
	VMIOP_PARK_DETACHED,	/* the session ended */
	VMIOP_PARK_SIGNAL,	/* a signal: leave as KVM would */
};
typedef bool (*vmiop_park_done_fn)(struct vmiop_session *sess, struct vmiop_vcpu *vv,
				   void *ctx);
enum vmiop_park_end vmiop_park_wait(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
				    wait_queue_head_t *wq, vmiop_park_done_fn done,
				    void *ctx, long timeout);
#define VMIOP_PAUSE_MAX U16_MAX
int vmiop_pause(struct vmiop_session *sess);
int vmiop_resume(struct vmiop_session *sess);
void vmiop_release_vcpus(struct vmiop_session *sess);
int vmiop_vcpu_call(struct vmiop_session *sess, u32 vcpu_idx,
		    int (*fn)(struct kvm_vcpu *vcpu, void *arg), void *arg);
int vmiop_hold_others(struct vmiop_session *sess, struct kvm_vcpu *self);
void vmiop_release_others(struct vmiop_session *sess, struct kvm_vcpu *self);
int vmiop_vcpu_call_locked(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			   int (*fn)(struct kvm_vcpu *vcpu, void *arg), void *arg);

/* vcpu.c: the vCPU side of events */
void vmiop_rewind(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_inject(struct kvm_vcpu *vcpu, const struct vmiop_inject *x);
u16 vmiop_event_pending_type(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
bool vmiop_event_resume_pending(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
				const struct vmiop_event *e);
void vmiop_event_set_pending(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			     const struct vmiop_event *e);
int vmiop_event_wait_reply(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			   struct vmiop_event_reply *reply);
void vmiop_event_reply_again(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			     const struct vmiop_event_reply *reply);
long vmiop_event_set_reply(struct vmiop_session *sess, const struct vmiop_event_reply *r,
			   const u8 *emul_read, const struct vmiop_ring_reply *rr);
bool vmiop_vcpu_must_park(struct vmiop_session *sess, struct kvm_vcpu *vcpu);

/* event.c */
long vmiop_ioctl_event_caps(struct vmiop_event_caps *c);
long vmiop_ioctl_ring_setup(struct vmiop_session *sess, struct vmiop_ring_setup *r,
			    const struct vmiop_uarg *ua);
long vmiop_ioctl_event_control(struct vmiop_session *sess, struct vmiop_event_control *c);
long vmiop_ioctl_event_reply(struct vmiop_session *sess, struct vmiop_event_reply *r);
long vmiop_ioctl_event_wait(struct vmiop_session *sess, struct vmiop_event_wait *w,
			    const struct vmiop_uarg *ua);
__poll_t vmiop_events_poll(struct vmiop_session *sess, struct file *file,
			   struct poll_table_struct *pt);
int vmiop_events_mmap(struct vmiop_session *sess, struct vm_area_struct *vma);
bool vmiop_event_wanted(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			u16 type, u64 key);
bool vmiop_event_may_matter(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type,
			    u64 key);
bool vmiop_event_type_flag(struct vmiop_session *sess, u16 type, u32 flag);
bool vmiop_event_enabled_on(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type);
int vmiop_event_deliver(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			struct vmiop_event *e, bool wanted, struct vmiop_event_reply *reply);
void vmiop_events_kick_space(struct vmiop_session *sess);
void vmiop_reply_spin(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_reply_sleeping(struct vmiop_session *sess, bool asleep);
void vmiop_events_detach(struct vmiop_session *sess);
void vmiop_events_free(struct vmiop_session *sess);
bool vmiop_events_ready(struct vmiop_session *sess);

/* debug.c: breakpoint, debug and single-step events */
void vmiop_debug_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_debug_vmm_changed(struct kvm_vcpu *vcpu);
void vmiop_exception_park(struct vmiop_session *sess, struct kvm_vcpu *vcpu, bool srcu_held);
bool vmiop_db_pending(struct kvm_vcpu *vcpu);
int vmiop_on_debug_exit(struct kvm_vcpu *vcpu, int ret, bool db_was_pending);
void vmiop_on_inject_exception(struct kvm_vcpu *vcpu);
void vmiop_on_requeue_exception(struct kvm_vcpu *vcpu);
bool vmiop_step_wanted(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
u32 vmiop_step_method(void);
void vmiop_insn_completed(struct kvm_vcpu *vcpu);
void vmiop_step_rewound(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_nested_entering(struct kvm_vcpu *vcpu);
void vmiop_nested_left(struct kvm_vcpu *vcpu);

/* intercept.c: what vmiop adds to KVM's intercepts, per vCPU */
void vmiop_intercepts_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_intercepts_kick(struct vmiop_session *sess);
bool vmiop_intercepts_restore(struct vmiop_session *sess);
int vmiop_intercepts_restore_round(struct vmiop_session *sess);
bool vmiop_intercepts_left(struct vmiop_session *sess);
void vmiop_intercepts_recheck(struct kvm_vcpu *vcpu);
void vmiop_msr_passed_through(struct kvm_vcpu *vcpu, u32 msr);

/*
 * pipeline.c: every event takes one path.  A hook fills a struct
 * vmiop_exit with what KVM knows of the exit and hands it to
 * vmiop_event_run() with its event type; the runner finds the session,
 * asks the type's class whether the event is wanted (enabled, filter),
 * builds the ring entry with the class's fill, posts it and waits for the
 * reply, and has the class apply the reply.  A class is one row of
 * vmiop_event_classes[]: the instruction classes are in exits.c, the
 * exception classes in debug.c.
 */
struct vmiop_exit {
	struct kvm_vcpu *vcpu;
	struct vmiop_session *sess;	/* the runner's, for the class's ops */
	struct vmiop_vcpu *vv;		/* the vCPU's state in it */
	u32 index;		/* CR number, MSR, XCR, descriptor register */
	bool write;
	int gpr;		/* a CR read's destination, -1: not reported */
	u64 value;		/* a write's value; SET_RESULT replaces it */
	u64 gva;		/* BREAKPOINT, SINGLESTEP: the linear RIP */
	u64 dr6;		/* SINGLESTEP */
	u32 insn_len;		/* BREAKPOINT: length of the INT3 */
	bool mtf;		/* SINGLESTEP: by the monitor trap flag */
	/* MEM */
	struct {
		u64 gpa, gla;
		u32 access, flags;
		u8 rights;
		u64 old_value, new_value;	/* VMIOP_MEM_F_AGENT */
		void *insn;		/* SVM's decode assists, or NULL */
		int insn_len;
	} mem;
	/* the event was posted and this is its reply (not "nobody wanted it") */
	bool posted;
	/*
	 * The exit handler's result when the class settles the exit; for
	 * the exception classes, which report after KVM's handler ran, its
	 * result going in.
	 */
	int ret;
};

/* vmiop_event_class.takes: bit N takes enum vmiop_action N (abi.h) */
#define VMIOP_TAKES(action)	BIT(VMIOP_ACTION_##action)

struct vmiop_event_class {
	/* VMIOP_TAKES(): the replies its events take (VMIOP_EVENT_REPLY) */
	u32 takes;
	/* enabling it changes what KVM intercepts (on each vCPU, before entry) */
	bool intercepts;
	/*
	 * apply(VMIOP_ACTION_CONTINUE) without an event leaves the exit to
	 * KVM untouched, and is_event, key and wanted never sleep: an exit
	 * nobody wants is decided under RCU, without a session reference
	 */
	bool quiet;
	/* NULL: always; else VMIOP_CAP_OK or why this host cannot deliver it */
	u32 (*unavailable)(void);
	/*
	 * NULL: always; false: this exit is not the guest doing what the
	 * class reports (KVM loading saved state, CPUID faulting...), KVM
	 * handles it as without vmiop.
	 */
	bool (*is_event)(struct vmiop_exit *x);
	/* the filter's key */
	u64 (*key)(const struct vmiop_exit *x);
	/* NULL: enabled on the vCPU and the key passes the filter */
	bool (*wanted)(struct vmiop_exit *x);
	/* the class's part of the ring entry; type, vCPU and registers are in */
	void (*fill)(struct vmiop_exit *x, struct vmiop_event *e);
	/* NULL, or false: after all not worth an event (unchanged values) */
	bool (*report)(struct vmiop_exit *x, const struct vmiop_event *e);
	/*
	 * A signal came while the event waited for its reply: the vCPU must
	 * be able to leave KVM_RUN, and the reply is taken when it is back.
	 * Sets x->ret.
	 */
	void (*interrupted)(struct vmiop_exit *x, const struct vmiop_event *e);
	/*
	 * Applies @r (VMIOP_ACTION_CONTINUE when no event was posted, or the
	 * session ended).  True: the exit is settled, x->ret its result;
	 * false: KVM goes on as it would without vmiop, with x->value.
	 */
	bool (*apply)(struct vmiop_exit *x, const struct vmiop_event_reply *r);
};

/* Indexed by enum vmiop_event_type; NULL: not delivered by this module. */
extern const struct vmiop_event_class *const vmiop_event_classes[VMIOP_EVENT_NR_TYPES];
extern const struct vmiop_event_class vmiop_class_cr, vmiop_class_msr, vmiop_class_cpuid,
	vmiop_class_hypercall, vmiop_class_xsetbv, vmiop_class_desc, vmiop_class_breakpoint,
	vmiop_class_debug, vmiop_class_singlestep, vmiop_class_trap, vmiop_class_mem,
	vmiop_class_agent;
bool vmiop_event_run(u16 type, struct vmiop_exit *x);
void vmiop_event_resume_at_park(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u32 insn_len);
bool vmiop_leave_for_signal(struct vmiop_exit *x);
void vmiop_insn_interrupted(struct vmiop_exit *x, const struct vmiop_event *e);
bool vmiop_insn_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r);
struct vmiop_event *vmiop_event_get(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type);
void vmiop_event_put(struct vmiop_session *sess, struct kvm_vcpu *vcpu, struct vmiop_event *e);

/* exits.c: the instruction classes' entry points, called from the hooks */
int vmiop_on_cpuid(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu));
int vmiop_on_desc(struct kvm_vcpu *vcpu, u32 reg, bool write);
int vmiop_on_hypercall(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu));
int vmiop_on_msr(struct kvm_vcpu *vcpu, bool write, int (*orig)(struct kvm_vcpu *vcpu));
int vmiop_on_xsetbv(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu));
int vmiop_on_cr_write(struct kvm_vcpu *vcpu, u32 cr, unsigned long val,
		      int (*orig)(struct kvm_vcpu *vcpu, unsigned long val));
bool vmiop_on_cr_read(struct kvm_vcpu *vcpu, u32 cr, int gpr, int *ret);
u64 *vmiop_gpr(struct kvm_regs *regs, unsigned int gpr);
void vmiop_set_gprs(struct kvm_vcpu *vcpu, const u64 *rax, const u64 *rbx,
		    const u64 *rcx, const u64 *rdx);
int vmiop_cr_read_complete(struct kvm_vcpu *vcpu, int gpr, u64 val);
void vmiop_loading_state(struct kvm_vcpu *vcpu, bool on);

/* regs.c */
int vmiop_regs_get(struct kvm_vcpu *vcpu, struct vmiop_regs *regs);
/*
 * A register write: what to write, and the snapshots it compares and
 * restores, allocated by the caller (they would take ~1 KiB of the vCPU
 * thread's stack, under KVM's own frames).
 */
struct vmiop_regs_write {
	const struct vmiop_regs *want;
	struct vmiop_regs cur, now;
};
int vmiop_regs_set(struct kvm_vcpu *vcpu, struct vmiop_regs_write *w);

/* mem.c */
void vmiop_mark_dirty(struct kvm *kvm, struct kvm_memory_slot *slot, gfn_t gfn);
int vmiop_gpa_read(struct vmiop_session *sess, u64 gpa, void *buf, u32 len);
long vmiop_ioctl_mem(struct vmiop_session *sess, struct vmiop_mem_batch *b,
		     const struct vmiop_uarg *ua, bool write);
long vmiop_ioctl_memmap(struct vmiop_session *sess, struct vmiop_memmap *m);
long vmiop_ioctl_translate(struct vmiop_session *sess, struct vmiop_translate *t);

/* mem.c: the vCPU's current instruction, on its thread */
unsigned int vmiop_fetch_insn(struct kvm_vcpu *vcpu, u8 *insn);
int vmiop_write_guest_virt(struct kvm_vcpu *vcpu, gva_t gva, const void *buf,
			   unsigned int len);
bool vmiop_code64(struct kvm_vcpu *vcpu, bool *cs_db);

/* memaccess.c */
u32 vmiop_mem_host_rights(void);
void vmiop_mem_spte(struct kvm_vcpu *vcpu, gfn_t gfn, u64 *spte);
bool vmiop_on_page_fault(struct kvm_vcpu *vcpu, gpa_t gpa, u64 error_code, void *insn,
			 int insn_len, int *ret);
long vmiop_ioctl_set_mem_access(struct vmiop_session *sess, struct vmiop_mem_access *m);
long vmiop_ioctl_get_mem_access(struct vmiop_session *sess, struct vmiop_mem_access_query *q);
void vmiop_mem_slot_created(struct kvm *kvm, struct kvm_memory_slot *slot);
void vmiop_mem_detach(struct vmiop_session *sess);
void vmiop_mem_step_done(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_mem_step_check(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_mem_exception_injected(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_mem_vcpus_init(struct vmiop_session *sess);
void vmiop_mem_emul_read(struct kvm_vcpu *vcpu, gpa_t gpa, void *val, int bytes);
bool vmiop_mem_emulation_failed(struct kvm_vcpu *vcpu);
u32 vmiop_mem_unavailable(void);

/* ve.c */
enum vmiop_ve_outcome {
	VMIOP_VE_EVENT,		/* the violation is the event it would be */
	VMIOP_VE_DELIVERED,	/* a #VE is queued instead */
	VMIOP_VE_AGENT_ACCESS,	/* the agent's own access: let it through */
};
u32 vmiop_ve_delivery(void);
enum vmiop_ve_outcome vmiop_ve_fault(struct vmiop_exit *x);
bool vmiop_ve_hypercall(struct kvm_vcpu *vcpu, int *ret);
void vmiop_ve_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_ve_recheck(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
bool vmiop_ve_queued(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_ve_vcpus_init(struct vmiop_session *sess);
long vmiop_ioctl_set_ve_agent(struct vmiop_session *sess, struct vmiop_ve_agent *a);
long vmiop_ioctl_set_ve_info(struct vmiop_session *sess, struct vmiop_ve_info *v);
gpa_t vmiop_ve_translate(struct kvm_vcpu *vcpu, u64 gva);

/* own.c */
struct vmiop_undo_entry;
bool vmiop_own_slot(const struct kvm_memory_slot *slot);
long vmiop_ioctl_add_memory(struct vmiop_session *sess, struct vmiop_add_memory *m,
			    const struct vmiop_uarg *ua);
long vmiop_ioctl_undo(struct vmiop_session *sess, struct vmiop_undo *u,
		      const struct vmiop_uarg *ua);
int vmiop_gpa_write(struct vmiop_session *sess, u64 gpa, const void *buf, u32 len);
int vmiop_gpa_cmpxchg(struct vmiop_session *sess, u64 gpa, const void *old, const void *new,
		      u32 len);
int vmiop_undo_reserve(struct vmiop_session *sess, u32 count);
struct vmiop_undo_entry *vmiop_undo_prepare(struct vmiop_session *sess, u64 gpa,
					    const void __user *new, u32 len);
void vmiop_undo_commit(struct vmiop_session *sess, struct vmiop_undo_entry *e);
void vmiop_undo_drop(struct vmiop_undo_entry *e);
void vmiop_own_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
bool vmiop_own_waits_for(struct vmiop_session *sess, struct kvm_vcpu *vcpu);
void vmiop_own_release(struct vmiop_session *sess, bool vm_alive);
void vmiop_own_free(struct vmiop_session *sess);

/* vms.c: the host's VMs, by id and by name */
struct vmiop_vm {
	u64 id;				/* never reused while the module is loaded */
	struct kvm *kvm;		/* no reference: see vms.c */
	struct hlist_node by_kvm;
	struct pid *vmm;		/* the creator's thread group */
	kuid_t vmm_uid;
	char comm[TASK_COMM_LEN];
	char name[VMNAME_MAX];		/* "": none */
	u8 name_source;			/* enum vmiop_vm_name_source, 0: none */
};

/* A copy of one VM's entry, holding the VM and the VMM's pid. */
struct vmiop_vm_snap {
	struct kvm *kvm;
	u64 id;
	char name[VMNAME_MAX];
	u8 name_source;
	struct pid *vmm;
	kuid_t vmm_uid;
	char comm[TASK_COMM_LEN];
	u64 seq;			/* the last notification before the copy */
	unsigned long gen;
};

void vmiop_vm_created(struct kvm *kvm);
void vmiop_vm_destroying(struct kvm *kvm);
void vmiop_vms_scan(void);
u64 vmiop_vm_id(struct kvm *kvm);
struct kvm *vmiop_vm_get_kvm(u64 id);
void vmiop_vms_session_event(struct kvm *kvm, u8 cmd, struct pid *session);
int vmiop_vm_snap(u64 id, const char *name, u64 *cursor, bool admin, struct vmiop_vm_snap *s);
void vmiop_vm_snap_put(struct vmiop_vm_snap *s);
int vmiop_vm_set_name(u64 id, const char *name);
void vmiop_vms_announce_set(bool on);
void vmiop_vms_exit(void);

/* genl.c: the "vmiop" generic netlink family */
int vmiop_genl_init(void);
void vmiop_genl_exit(void);
void vmiop_genl_notify(u8 cmd, const struct vmiop_vm *vm, u64 seq, struct pid *session);

/* mmap.c */
int vmiop_mmap(struct file *file, struct vm_area_struct *vma);
int vmiop_mmu_notifier_register(struct vmiop_session *sess);
void vmiop_mmu_notifier_unregister(struct vmiop_session *sess);
void vmiop_mmap_flush_slot(struct vmiop_session *sess, const struct kvm_memory_slot *slot);

#endif
