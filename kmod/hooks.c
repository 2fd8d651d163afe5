// SPDX-License-Identifier: GPL-2.0
/*
 * The one table of KVM functions vmiop redirects, and the ftrace machinery
 * that does it.
 *
 * Each hook is an ftrace IPMODIFY callback on the function's first
 * instruction.  The callback redirects only calls for a vCPU of a VM that
 * has a session; every other VM runs KVM's code untouched.  The replacement
 * runs in the original's context (it may sleep) and calls the original past
 * its ftrace site, so the original never re-enters the callback.
 */
#include <linux/ftrace.h>
#include <linux/sched/task.h>
#include "symclone.h"
#include "vmiop.h"

/*
 * Redirected calls still inside vmiop's text.  Unload waits for this to
 * drain before the text goes away.
 */
static atomic_t vmiop_hooks_inflight = ATOMIC_INIT(0);

static void vmiop_hook_exit(void)
{
	atomic_dec(&vmiop_hooks_inflight);
}

/* ---- the replacements ------------------------------------------------ */

static int (*orig_apic_accept_events)(struct kvm_vcpu *vcpu);

/*
 * Every path into the guest calls kvm_apic_accept_events() with kvm->srcu
 * held when KVM_REQ_EVENT is pending (vcpu_enter_guest), and so does the
 * wake from HLT: a pause raises KVM_REQ_EVENT to stop the vCPU here, on its
 * own thread, with its state loaded.  KVM_GET_MP_STATE passes here too, and
 * does not park (vmiop_park_point).
 */
static int vmiop_apic_accept_events(struct kvm_vcpu *vcpu)
{
	int ret;

	vmiop_park_point(vcpu, true);
	ret = orig_apic_accept_events(vcpu);
	vmiop_hook_exit();
	return ret;
}

static bool (*orig_vcpu_block)(struct kvm_vcpu *vcpu);

/*
 * Halted and not-yet-started vCPUs sleep in kvm_vcpu_block() (kvm->srcu
 * dropped, but for Xen's SCHEDOP_poll) and never reach
 * kvm_apic_accept_events() while paused.
 */
static bool vmiop_vcpu_block(struct kvm_vcpu *vcpu)
{
	bool ret;

	vmiop_park_point(vcpu, vmiop_in_xen_poll(vcpu));
	ret = orig_vcpu_block(vcpu);
	vmiop_hook_exit();
	return ret;
}

static void (*orig_sigset_deactivate)(struct kvm_vcpu *vcpu);

/*
 * The last thing KVM_RUN does with the vCPU loaded (x86's
 * kvm_arch_vcpu_ioctl_run), after KVM_SYNC_X86_REGS are stored.
 */
static void vmiop_sigset_deactivate(struct kvm_vcpu *vcpu)
{
	vmiop_run_leaving(vcpu);
	orig_sigset_deactivate(vcpu);
	vmiop_hook_exit();
}

static void (*orig_flush_shadow_memslot)(struct kvm *kvm, struct kvm_memory_slot *slot);

/* The introspector's mappings of @slot's gpas go (mmap.c). */
static void vmiop_flush_slot_mappings(struct kvm *kvm, const struct kvm_memory_slot *slot)
{
	struct vmiop_session *sess = vmiop_session_find(kvm);

	if (sess) {
		/* A detached session (lingering, session.c) maps nothing any more. */
		if (!READ_ONCE(sess->detached))
			vmiop_mmap_flush_slot(sess, slot);
		vmiop_session_put(sess);
	}
}

/* A memslot is deleted or moved: mappings of its gpas must go. */
static void vmiop_flush_shadow_memslot(struct kvm *kvm, struct kvm_memory_slot *slot)
{
	vmiop_flush_slot_mappings(kvm, slot);
	orig_flush_shadow_memslot(kvm, slot);
	vmiop_hook_exit();
}

static void (*orig_commit_memory_region)(struct kvm *kvm, struct kvm_memory_slot *old,
					 const struct kvm_memory_slot *new,
					 enum kvm_mr_change change);

/*
 * Dirty logging turned on for a memslot (a flags-only change, which
 * flushes nothing): pages mapped writable before would go on being
 * written unrecorded, so they go and fault again, now tracked.  The new
 * slot is live here, and its readers from before are gone.
 */
static void vmiop_commit_memory_region(struct kvm *kvm, struct kvm_memory_slot *old,
				       const struct kvm_memory_slot *new,
				       enum kvm_mr_change change)
{
	orig_commit_memory_region(kvm, old, new, change);
	if (change == KVM_MR_FLAGS_ONLY && new->flags & KVM_MEM_LOG_DIRTY_PAGES &&
	    !(old->flags & KVM_MEM_LOG_DIRTY_PAGES))
		vmiop_flush_slot_mappings(kvm, new);
	vmiop_hook_exit();
}

static int (*orig_prepare_memory_region)(struct kvm *kvm, const struct kvm_memory_slot *old,
					 struct kvm_memory_slot *new, enum kvm_mr_change change);

/* A memslot created or moved gets fresh lpage counters: restricted gfns in it count. */
static int vmiop_prepare_memory_region(struct kvm *kvm, const struct kvm_memory_slot *old,
				       struct kvm_memory_slot *new, enum kvm_mr_change change)
{
	int ret = orig_prepare_memory_region(kvm, old, new, change);

	if (!ret && (change == KVM_MR_CREATE || change == KVM_MR_MOVE))
		vmiop_mem_slot_created(kvm, new);
	vmiop_hook_exit();
	return ret;
}

static int (*orig_mmu_page_fault)(struct kvm_vcpu *vcpu, gpa_t cr2_or_gpa, u64 error_code,
				  void *insn, int insn_len);

/* Every EPT violation and #NPF, before KVM resolves it: memory-access events. */
static int vmiop_mmu_page_fault(struct kvm_vcpu *vcpu, gpa_t cr2_or_gpa, u64 error_code,
				void *insn, int insn_len)
{
	int ret;

	if (!vmiop_on_page_fault(vcpu, cr2_or_gpa, error_code, insn, insn_len, &ret))
		ret = orig_mmu_page_fault(vcpu, cr2_or_gpa, error_code, insn, insn_len);
	vmiop_hook_exit();
	return ret;
}

struct kvm_mmu_page;
static bool (*orig_make_spte)(struct kvm_vcpu *vcpu, struct kvm_mmu_page *sp,
			      const struct kvm_memory_slot *slot, unsigned int pte_access,
			      gfn_t gfn, kvm_pfn_t pfn, u64 old_spte, bool prefetch,
			      bool can_unsync, bool host_writable, u64 *new_spte);

/*
 * Where both of KVM's MMUs build every leaf EPT/NPT entry from scratch
 * (faults, prefetches, the async page-fault completion, shadow-page
 * syncs): the page's rights cut what KVM built.
 */
static bool vmiop_make_spte(struct kvm_vcpu *vcpu, struct kvm_mmu_page *sp,
			    const struct kvm_memory_slot *slot, unsigned int pte_access,
			    gfn_t gfn, kvm_pfn_t pfn, u64 old_spte, bool prefetch,
			    bool can_unsync, bool host_writable, u64 *new_spte)
{
	bool wrprot = orig_make_spte(vcpu, sp, slot, pte_access, gfn, pfn, old_spte, prefetch,
				     can_unsync, host_writable, new_spte);

	vmiop_mem_spte(vcpu, gfn, new_spte);
	vmiop_hook_exit();
	return wrprot;
}

static int (*orig_read_emulate)(struct kvm_vcpu *vcpu, gpa_t gpa, void *val, int bytes);

/* The emulator's reads of guest RAM: VMIOP_ACTION_EMULATE's data replaces them. */
static int vmiop_read_emulate(struct kvm_vcpu *vcpu, gpa_t gpa, void *val, int bytes)
{
	int ret = orig_read_emulate(vcpu, gpa, val, bytes);

	vmiop_mem_emul_read(vcpu, gpa, val, bytes);
	vmiop_hook_exit();
	return ret;
}

static int (*orig_handle_emulation_failure)(struct kvm_vcpu *vcpu, int emulation_type);

/* An instruction vmiop had emulated failed: it is stepped over instead. */
static int vmiop_handle_emulation_failure(struct kvm_vcpu *vcpu, int emulation_type)
{
	int ret = 1;

	if (!vmiop_mem_emulation_failed(vcpu))
		ret = orig_handle_emulation_failure(vcpu, emulation_type);
	vmiop_hook_exit();
	return ret;
}

static int (*orig_emulate_cpuid)(struct kvm_vcpu *vcpu);

/* CPUID always exits, on both vendors, to this function. */
static int vmiop_emulate_cpuid(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_on_cpuid(vcpu, orig_emulate_cpuid);

	vmiop_hook_exit();
	return ret;
}

static int (*orig_emulate_hypercall)(struct kvm_vcpu *vcpu);

/* VMCALL (VMX) and VMMCALL (SVM) always exit to this function. */
static int vmiop_emulate_hypercall(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_on_hypercall(vcpu, orig_emulate_hypercall);

	vmiop_hook_exit();
	return ret;
}

static int (*orig_emulate_rdmsr)(struct kvm_vcpu *vcpu);
static int (*orig_emulate_wrmsr)(struct kvm_vcpu *vcpu);
static int (*orig_emulate_xsetbv)(struct kvm_vcpu *vcpu);

/* RDMSR/WRMSR exits that KVM does not take in a fast path land here. */
static int vmiop_emulate_rdmsr(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_on_msr(vcpu, false, orig_emulate_rdmsr);

	vmiop_hook_exit();
	return ret;
}

static int vmiop_emulate_wrmsr(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_on_msr(vcpu, true, orig_emulate_wrmsr);

	vmiop_hook_exit();
	return ret;
}

static int vmiop_emulate_xsetbv(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_on_xsetbv(vcpu, orig_emulate_xsetbv);

	vmiop_hook_exit();
	return ret;
}

static int (*orig_set_cr0)(struct kvm_vcpu *vcpu, unsigned long val);
static int (*orig_set_cr3)(struct kvm_vcpu *vcpu, unsigned long val);
static int (*orig_set_cr4)(struct kvm_vcpu *vcpu, unsigned long val);

/*
 * Every guest write to CR0/CR3/CR4 that KVM sees goes through these, on
 * both vendors and from the emulator; KVM's own state loads do not.
 */
static int vmiop_set_cr0(struct kvm_vcpu *vcpu, unsigned long val)
{
	int ret = vmiop_on_cr_write(vcpu, 0, val, orig_set_cr0);

	vmiop_intercepts_recheck(vcpu);
	vmiop_hook_exit();
	return ret;
}

static int vmiop_set_cr3(struct kvm_vcpu *vcpu, unsigned long val)
{
	int ret = vmiop_on_cr_write(vcpu, 3, val, orig_set_cr3);

	vmiop_hook_exit();
	return ret;
}

static int vmiop_set_cr4(struct kvm_vcpu *vcpu, unsigned long val)
{
	int ret = vmiop_on_cr_write(vcpu, 4, val, orig_set_cr4);

	vmiop_intercepts_recheck(vcpu);
	vmiop_hook_exit();
	return ret;
}

static void (*orig_smm_changed)(struct kvm_vcpu *vcpu, bool entering_smm);
static int (*orig_task_switch)(struct kvm_vcpu *vcpu, u16 tss_selector, int idt_index,
			       int reason, bool has_error_code, u32 error_code);

/*
 * RSM leaves SMM first, then loads the saved CRs (through kvm_set_cr*
 * too); the next park point ends it.  A task switch loads its CRs within.
 */
static void vmiop_smm_changed(struct kvm_vcpu *vcpu, bool entering_smm)
{
	orig_smm_changed(vcpu, entering_smm);
	if (!entering_smm)
		vmiop_loading_state(vcpu, true);
	vmiop_hook_exit();
}

static int vmiop_task_switch(struct kvm_vcpu *vcpu, u16 tss_selector, int idt_index,
			     int reason, bool has_error_code, u32 error_code)
{
	int ret;

	vmiop_loading_state(vcpu, true);
	ret = orig_task_switch(vcpu, tss_selector, idt_index, reason, has_error_code,
			       error_code);
	vmiop_loading_state(vcpu, false);
	vmiop_hook_exit();
	return ret;
}

static int (*orig_set_guest_debug)(struct kvm_vcpu *vcpu, struct kvm_guest_debug *dbg);

/* The VMM's own guest debugging (a gdbstub) keeps working alongside vmiop's. */
static int vmiop_set_guest_debug(struct kvm_vcpu *vcpu, struct kvm_guest_debug *dbg)
{
	int ret = orig_set_guest_debug(vcpu, dbg);

	if (!ret)
		vmiop_debug_vmm_changed(vcpu);
	vmiop_hook_exit();
	return ret;
}

/*
 * The vendors' #BP/#DB exit handlers: KVM's own handling first, then what
 * of it vmiop caused becomes an event.
 */
static int (*orig_vmx_exception_nmi)(struct kvm_vcpu *vcpu);
static int (*orig_svm_bp)(struct kvm_vcpu *vcpu);
static int (*orig_svm_db)(struct kvm_vcpu *vcpu);

static int vmiop_vmx_exception_nmi(struct kvm_vcpu *vcpu)
{
	bool db_pending = vmiop_db_pending(vcpu);
	int ret = vmiop_on_debug_exit(vcpu, orig_vmx_exception_nmi(vcpu), db_pending);

	vmiop_hook_exit();
	return ret;
}

static int vmiop_svm_bp(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_on_debug_exit(vcpu, orig_svm_bp(vcpu), false);

	vmiop_hook_exit();
	return ret;
}

static int vmiop_svm_db(struct kvm_vcpu *vcpu)
{
	bool db_pending = vmiop_db_pending(vcpu);
	int ret = vmiop_on_debug_exit(vcpu, orig_svm_db(vcpu), db_pending);

	vmiop_hook_exit();
	return ret;
}

static int (*orig_do_singlestep)(struct kvm_vcpu *vcpu);

/*
 * Where KVM reports the step of an instruction it completed itself
 * (skipped or emulated), for every caller: kvm_skip_emulated_instruction()
 * is inlined into many of them.  A KVM_EXIT_DEBUG for KVM's single-step,
 * or a #DB for the guest's own TF.  The MSR write fastpath gets here with
 * IRQs off and ignores the result: nothing may wait there, so that step
 * goes unreported (as KVM's own gdbstub loses it).
 */
static int vmiop_do_singlestep(struct kvm_vcpu *vcpu)
{
	bool db_pending;
	int ret;

	if (irqs_disabled()) {
		ret = orig_do_singlestep(vcpu);
	} else {
		db_pending = vmiop_db_pending(vcpu);
		ret = vmiop_on_debug_exit(vcpu, orig_do_singlestep(vcpu), db_pending);
	}
	vmiop_hook_exit();
	return ret;
}

static int (*orig_vmx_skip_emulated_instruction)(struct kvm_vcpu *vcpu);
static void (*orig_vmx_update_emulated_instruction)(struct kvm_vcpu *vcpu);

/*
 * VMX: the instructions that end without the CPU's monitor trap exit
 * because KVM completed them, every skip (the vendor op behind each
 * kvm_skip_emulated_instruction(), the WRMSR fastpath's included) and
 * every emulation's writeback.
 */
static int vmiop_vmx_skip_emulated_instruction(struct kvm_vcpu *vcpu)
{
	int ret = orig_vmx_skip_emulated_instruction(vcpu);

	if (ret)
		vmiop_insn_completed(vcpu);
	vmiop_hook_exit();
	return ret;
}

static void vmiop_vmx_update_emulated_instruction(struct kvm_vcpu *vcpu)
{
	orig_vmx_update_emulated_instruction(vcpu);
	vmiop_insn_completed(vcpu);
	vmiop_hook_exit();
}

/*
 * VMX exits that come after an instruction completed: the monitor trap
 * exit itself, and the trap-like exits the SDM ranks above it (TPR
 * below threshold after a MOV to CR8 lowered the TPR, APIC-write and
 * EOI-induced exits under APIC virtualization), which take its place.
 */
#define VMX_AFTER_INSN_EXIT(handler)						\
static int (*orig_vmx_##handler)(struct kvm_vcpu *vcpu);			\
static int vmiop_vmx_##handler(struct kvm_vcpu *vcpu)				\
{										\
	int ret = orig_vmx_##handler(vcpu);					\
										\
	vmiop_insn_completed(vcpu);						\
	vmiop_hook_exit();							\
	return ret;								\
}
VMX_AFTER_INSN_EXIT(handle_monitor_trap)
VMX_AFTER_INSN_EXIT(handle_tpr_below_threshold)
VMX_AFTER_INSN_EXIT(handle_apic_write)
VMX_AFTER_INSN_EXIT(handle_apic_eoi_induced)

static void (*orig_vmx_inject_exception)(struct kvm_vcpu *vcpu);
static void (*orig_svm_inject_exception)(struct kvm_vcpu *vcpu);

/* The exception is written for the next entry: a TRAP event. */
static void vmiop_vmx_inject_exception(struct kvm_vcpu *vcpu)
{
	orig_vmx_inject_exception(vcpu);
	vmiop_on_inject_exception(vcpu);
	vmiop_hook_exit();
}

static void vmiop_svm_inject_exception(struct kvm_vcpu *vcpu)
{
	orig_svm_inject_exception(vcpu);
	vmiop_on_inject_exception(vcpu);
	vmiop_hook_exit();
}

static void (*orig_requeue_exception)(struct kvm_vcpu *vcpu, unsigned int nr);
static void (*orig_requeue_exception_e)(struct kvm_vcpu *vcpu, unsigned int nr, u32 error_code);

static void vmiop_requeue_exception(struct kvm_vcpu *vcpu, unsigned int nr)
{
	orig_requeue_exception(vcpu, nr);
	vmiop_on_requeue_exception(vcpu);
	vmiop_hook_exit();
}

static void vmiop_requeue_exception_e(struct kvm_vcpu *vcpu, unsigned int nr, u32 error_code)
{
	orig_requeue_exception_e(vcpu, nr, error_code);
	vmiop_on_requeue_exception(vcpu);
	vmiop_hook_exit();
}

static int (*orig_vmx_handle_cr)(struct kvm_vcpu *vcpu);

/* VMX CR exits: vmiop completes MOV to and from CR3 (KVM WARNs on some). */
static int vmiop_vmx_handle_cr(struct kvm_vcpu *vcpu)
{
	int ret;

	if (!vmiop_vmx_handle_cr3(vcpu, &ret))
		ret = orig_vmx_handle_cr(vcpu);
	vmiop_hook_exit();
	return ret;
}

static int (*orig_vmx_handle_desc)(struct kvm_vcpu *vcpu);
static int (*orig_svm_invoke_exit_handler)(struct kvm_vcpu *vcpu, u64 exit_code);

static int vmiop_vmx_handle_desc_hook(struct kvm_vcpu *vcpu)
{
	int ret = vmiop_vmx_handle_desc(vcpu, orig_vmx_handle_desc);

	vmiop_hook_exit();
	return ret;
}

/*
 * SVM: the descriptor-table exits KVM has no handler for, and CR reads,
 * which KVM handles (CR4 reads always exit) but vmiop reports first.
 */
static int vmiop_svm_invoke_exit_handler(struct kvm_vcpu *vcpu, u64 exit_code)
{
	int ret;

	if (!vmiop_svm_handle_desc(vcpu, exit_code, &ret) &&
	    !vmiop_svm_handle_cr_read(vcpu, exit_code, &ret))
		ret = orig_svm_invoke_exit_handler(vcpu, exit_code);
	vmiop_hook_exit();
	return ret;
}

/* Where KVM lets the guest access an MSR without exits, on each vendor. */
static void (*orig_vmx_disable_intercept_for_msr)(struct kvm_vcpu *vcpu, u32 msr, int type);
static void (*orig_svm_set_msr_interception)(struct kvm_vcpu *vcpu, u32 *msrpm, u32 msr,
					     int read, int write);

static void vmiop_vmx_disable_intercept_for_msr(struct kvm_vcpu *vcpu, u32 msr, int type)
{
	orig_vmx_disable_intercept_for_msr(vcpu, msr, type);
	vmiop_msr_passed_through(vcpu, msr);
	vmiop_hook_exit();
}

static void vmiop_svm_set_msr_interception(struct kvm_vcpu *vcpu, u32 *msrpm, u32 msr,
					   int read, int write)
{
	orig_svm_set_msr_interception(vcpu, msrpm, msr, read, write);
	if (read || write)	/* 1: allowed without an exit */
		vmiop_msr_passed_through(vcpu, msr);
	vmiop_hook_exit();
}

struct vmcb;
static int (*orig_enter_svm_guest_mode)(struct kvm_vcpu *vcpu, u64 vmcb12_gpa,
					 struct vmcb *vmcb12, bool from_vmrun);

/* SVM: into L2, from L1's VMRUN or an RSM. */
static int vmiop_enter_svm_guest_mode(struct kvm_vcpu *vcpu, u64 vmcb12_gpa,
				      struct vmcb *vmcb12, bool from_vmrun)
{
	int ret;

	vmiop_nested_entering(vcpu);
	ret = orig_enter_svm_guest_mode(vcpu, vmcb12_gpa, vmcb12, from_vmrun);
	/* Failed: L1 gets a VMEXIT_INVALID (or a triple fault) through the exit hooks too. */
	if (ret)
		vmiop_nested_left(vcpu);
	vmiop_hook_exit();
	return ret;
}

static int (*orig_nested_svm_vmexit)(struct kvm_vcpu *vcpu);

/* SVM: back from L2 to L1 (struct vcpu_svm begins with its kvm_vcpu: layout.c). */
static int vmiop_nested_svm_vmexit(struct kvm_vcpu *vcpu)
{
	int ret = orig_nested_svm_vmexit(vcpu);

	vmiop_nested_left(vcpu);
	vmiop_hook_exit();
	return ret;
}

static void (*orig_svm_leave_nested)(struct kvm_vcpu *vcpu);

/* SVM: out of L2 without a nested exit (reset, EFER.SVME cleared, SET_NESTED_STATE). */
static void vmiop_svm_leave_nested(struct kvm_vcpu *vcpu)
{
	orig_svm_leave_nested(vcpu);
	vmiop_nested_left(vcpu);
	vmiop_hook_exit();
}

static void (*orig_nested_vmx_vmexit)(struct kvm_vcpu *vcpu, u32 vm_exit_reason,
				     u32 exit_intr_info, unsigned long exit_qualification);

/*
 * VMX: back from L2 to L1.  For L1 its VMLAUNCH/VMRESUME completes here,
 * at its host RIP, without a monitor trap exit of L1's: a step is due
 * (SVM's trap flag raises its #DB there by itself).  Not for KVM's forced
 * exits (reason -1: reset, SMM entry, SET_NESTED_STATE), no instruction
 * of L1's.
 */
static void vmiop_nested_vmx_vmexit(struct kvm_vcpu *vcpu, u32 vm_exit_reason,
				    u32 exit_intr_info, unsigned long exit_qualification)
{
	orig_nested_vmx_vmexit(vcpu, vm_exit_reason, exit_intr_info, exit_qualification);
	vmiop_nested_left(vcpu);
	if (vm_exit_reason != (u32)-1)
		vmiop_insn_completed(vcpu);
	vmiop_hook_exit();
}

static int (*orig_post_init_vm)(struct kvm *kvm);
static void (*orig_pre_destroy_vm)(struct kvm *kvm);

/*
 * A 0 here means the VM will pass through kvm_destroy_vm() exactly once:
 * every earlier failure of KVM_CREATE_VM unwinds without it.
 */
static int vmiop_post_init_vm(struct kvm *kvm)
{
	int ret = orig_post_init_vm(kvm);

	if (!ret)
		vmiop_vm_created(kvm);
	vmiop_hook_exit();
	return ret;
}

/* In kvm_destroy_vm(), off vm_list, before KVM frees anything. */
static void vmiop_pre_destroy_vm(struct kvm *kvm)
{
	vmiop_vm_destroying(kvm);
	orig_pre_destroy_vm(kvm);
	vmiop_hook_exit();
}

/* ---- the table --------------------------------------------------------- */

struct vmiop_hook {
	const char *name;	/* "module:symbol" for kallsyms */
	u32 vendor;		/* enum vmiop_vendor, 0: both */
	void *replacement;
	/*
	 * NULL, or whether the replacement has anything to do for this call
	 * of a VM with a session (the hooked function's arguments in @regs):
	 * a call it would only pass on costs no redirect.  notrace, in the
	 * ftrace callback: preemption off, @sess valid for RCU-sched.
	 */
	bool (*gate)(struct vmiop_session *sess, struct pt_regs *regs);
	/* NULL, or the same decided before any session lookup: cheaper still */
	bool (*early_gate)(struct pt_regs *regs);
	void **orig;		/* set to the original, past its ftrace site */
	bool kvm_arg;		/* first argument is the kvm, not a vcpu */
	/*
	 * Every call of every VM, sessions or not (VM lifetime, vms.c).  Its
	 * ops are permanent: the registry must see each VM go, so turning
	 * ftrace off (sysctl kernel.ftrace_enabled) is refused while loaded.
	 */
	bool always;
	unsigned long addr;
	struct ftrace_ops ops;
	bool registered;
};

#define HOOK(sym, repl, origp) \
	{ .name = sym, .replacement = repl, .orig = (void **)origp }
#define HOOK_KVM(sym, repl, origp) \
	{ .name = sym, .replacement = repl, .orig = (void **)origp, .kvm_arg = true }
#define HOOK_LIFECYCLE(sym, repl, origp) \
	{ .name = sym, .replacement = repl, .orig = (void **)origp, .always = true }
#define HOOK_VENDOR(v, sym, repl, origp) \
	{ .name = sym, .replacement = repl, .orig = (void **)origp, .vendor = v }
#define HOOK_GATED(v, sym, repl, origp, early, g) \
	{ .name = sym, .replacement = repl, .orig = (void **)origp, .vendor = v, \
	  .early_gate = early, .gate = g }
#define HOOK_VMX_AFTER_INSN(handler) \
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:" #handler, vmiop_vmx_##handler, \
		    &orig_vmx_##handler)

/* ---- gates: calls with nothing for vmiop to do stay unredirected ----- */

/* kvm_emulate_cpuid(vcpu): an event for this leaf, or a reply it waits for. */
static bool notrace vmiop_gate_cpuid(struct vmiop_session *sess, struct pt_regs *regs)
{
	struct kvm_vcpu *vcpu = (struct kvm_vcpu *)regs->di;

	return vmiop_event_may_matter(sess, vcpu, VMIOP_EVENT_CPUID,
				      (u32)vcpu->arch.regs[VCPU_REGS_RAX]);
}

/* svm_invoke_exit_handler(vcpu, exit_code): vmiop's CR-read and descriptor exits. */
static bool notrace vmiop_gate_svm_exit(struct pt_regs *regs)
{
	return vmiop_svm_exit_is_ours(regs->si);
}

/* Nobody steps with the monitor trap flag (a hint that is never low). */
static bool notrace vmiop_gate_any_mtf(struct pt_regs *regs)
{
	return atomic_read(&vmiop_mtf_vcpus) != 0;
}

/*
 * VMX's skip and emulation writeback: only a vCPU under vmiop's monitor
 * trap flag reports the completed instruction.  The callback runs on the
 * vCPU's own thread, the only writer of applied.mtf.
 */
static bool notrace vmiop_gate_mtf(struct vmiop_session *sess, struct pt_regs *regs)
{
	struct kvm_vcpu *vcpu = (struct kvm_vcpu *)regs->di;

	return !vmiop_in_l2(vcpu) && READ_ONCE(sess->vcpus[vcpu->vcpu_idx].applied.mtf);
}

static struct vmiop_hook vmiop_hooks[] = {
	/*
	 * kvm_create_vm() is inlined; these two are called from another file
	 * (kvm_main.c), so no build without LTO can inline them.  The
	 * destruction hook goes in first and out last: a VM registered is
	 * always seen to go.
	 */
	HOOK_LIFECYCLE("kvm:kvm_arch_pre_destroy_vm", vmiop_pre_destroy_vm,
		       &orig_pre_destroy_vm),
	HOOK_LIFECYCLE("kvm:kvm_arch_post_init_vm", vmiop_post_init_vm, &orig_post_init_vm),
	HOOK("kvm:kvm_apic_accept_events", vmiop_apic_accept_events,
	     &orig_apic_accept_events),
	HOOK("kvm:kvm_vcpu_block", vmiop_vcpu_block, &orig_vcpu_block),
	HOOK("kvm:kvm_sigset_deactivate", vmiop_sigset_deactivate, &orig_sigset_deactivate),
	HOOK_KVM("kvm:kvm_arch_flush_shadow_memslot", vmiop_flush_shadow_memslot,
		 &orig_flush_shadow_memslot),
	HOOK_KVM("kvm:kvm_arch_commit_memory_region", vmiop_commit_memory_region,
		 &orig_commit_memory_region),
	HOOK_KVM("kvm:kvm_arch_prepare_memory_region", vmiop_prepare_memory_region,
		 &orig_prepare_memory_region),
	HOOK("kvm:kvm_mmu_page_fault", vmiop_mmu_page_fault, &orig_mmu_page_fault),
	HOOK("kvm:make_spte", vmiop_make_spte, &orig_make_spte),
	HOOK("kvm:read_emulate", vmiop_read_emulate, &orig_read_emulate),
	HOOK("kvm:handle_emulation_failure", vmiop_handle_emulation_failure,
	     &orig_handle_emulation_failure),
	HOOK_GATED(0, "kvm:kvm_emulate_cpuid", vmiop_emulate_cpuid, &orig_emulate_cpuid,
		   NULL, vmiop_gate_cpuid),
	HOOK("kvm:kvm_emulate_hypercall", vmiop_emulate_hypercall,
	     &orig_emulate_hypercall),
	HOOK("kvm:kvm_emulate_rdmsr", vmiop_emulate_rdmsr, &orig_emulate_rdmsr),
	HOOK("kvm:kvm_emulate_wrmsr", vmiop_emulate_wrmsr, &orig_emulate_wrmsr),
	HOOK("kvm:kvm_emulate_xsetbv", vmiop_emulate_xsetbv, &orig_emulate_xsetbv),
	HOOK("kvm:kvm_set_cr0", vmiop_set_cr0, &orig_set_cr0),
	HOOK("kvm:kvm_set_cr3", vmiop_set_cr3, &orig_set_cr3),
	HOOK("kvm:kvm_set_cr4", vmiop_set_cr4, &orig_set_cr4),
	HOOK("kvm:kvm_smm_changed", vmiop_smm_changed, &orig_smm_changed),
	HOOK("kvm:kvm_task_switch", vmiop_task_switch, &orig_task_switch),
	HOOK("kvm:kvm_arch_vcpu_ioctl_set_guest_debug", vmiop_set_guest_debug,
	     &orig_set_guest_debug),
	HOOK("kvm:kvm_vcpu_do_singlestep", vmiop_do_singlestep, &orig_do_singlestep),
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:handle_exception_nmi",
		    vmiop_vmx_exception_nmi, &orig_vmx_exception_nmi),
	HOOK("kvm:kvm_requeue_exception", vmiop_requeue_exception, &orig_requeue_exception),
	HOOK("kvm:kvm_requeue_exception_e", vmiop_requeue_exception_e,
	     &orig_requeue_exception_e),
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:handle_cr", vmiop_vmx_handle_cr,
		    &orig_vmx_handle_cr),
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:handle_desc", vmiop_vmx_handle_desc_hook,
		    &orig_vmx_handle_desc),
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:vmx_disable_intercept_for_msr",
		    vmiop_vmx_disable_intercept_for_msr, &orig_vmx_disable_intercept_for_msr),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:set_msr_interception",
		    vmiop_svm_set_msr_interception, &orig_svm_set_msr_interception),
	HOOK_GATED(VMIOP_VENDOR_AMD, "kvm_amd:svm_invoke_exit_handler",
		   vmiop_svm_invoke_exit_handler, &orig_svm_invoke_exit_handler,
		   vmiop_gate_svm_exit, NULL),
	HOOK_GATED(VMIOP_VENDOR_INTEL, "kvm_intel:vmx_skip_emulated_instruction",
		   vmiop_vmx_skip_emulated_instruction, &orig_vmx_skip_emulated_instruction,
		   vmiop_gate_any_mtf, vmiop_gate_mtf),
	HOOK_GATED(VMIOP_VENDOR_INTEL, "kvm_intel:vmx_update_emulated_instruction",
		   vmiop_vmx_update_emulated_instruction,
		   &orig_vmx_update_emulated_instruction, vmiop_gate_any_mtf, vmiop_gate_mtf),
	HOOK_VMX_AFTER_INSN(handle_monitor_trap),
	HOOK_VMX_AFTER_INSN(handle_tpr_below_threshold),
	HOOK_VMX_AFTER_INSN(handle_apic_write),
	HOOK_VMX_AFTER_INSN(handle_apic_eoi_induced),
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:vmx_inject_exception",
		    vmiop_vmx_inject_exception, &orig_vmx_inject_exception),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:bp_interception", vmiop_svm_bp, &orig_svm_bp),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:db_interception", vmiop_svm_db, &orig_svm_db),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:svm_inject_exception",
		    vmiop_svm_inject_exception, &orig_svm_inject_exception),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:enter_svm_guest_mode", vmiop_enter_svm_guest_mode,
		    &orig_enter_svm_guest_mode),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:nested_svm_vmexit", vmiop_nested_svm_vmexit,
		    &orig_nested_svm_vmexit),
	HOOK_VENDOR(VMIOP_VENDOR_AMD, "kvm_amd:svm_leave_nested", vmiop_svm_leave_nested,
		    &orig_svm_leave_nested),
	HOOK_VENDOR(VMIOP_VENDOR_INTEL, "kvm_intel:nested_vmx_vmexit", vmiop_nested_vmx_vmexit,
		    &orig_nested_vmx_vmexit),
};

/* Every hooked function takes a vCPU or the VM as its first argument. */
static void notrace vmiop_ftrace_thunk(unsigned long ip, unsigned long parent_ip,
				       struct ftrace_ops *ops,
				       struct ftrace_regs *fregs)
{
	struct vmiop_hook *hook = container_of(ops, struct vmiop_hook, ops);
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct vmiop_session *sess;
	struct kvm *kvm;
	bool redirect;

	if (hook->always) {
		atomic_inc(&vmiop_hooks_inflight);
		regs->ip = (unsigned long)hook->replacement;
		return;
	}
	if (!vmiop_any_session() || (hook->early_gate && !hook->early_gate(regs)))
		return;
	kvm = hook->kvm_arg ? (struct kvm *)regs->di :
			      ((struct kvm_vcpu *)regs->di)->kvm;
	rcu_read_lock_sched_notrace();
	sess = vmiop_session_lookup_rcu(kvm);
	redirect = sess && (!hook->gate || hook->gate(sess, regs));
	rcu_read_unlock_sched_notrace();
	if (!redirect)
		return;
	atomic_inc(&vmiop_hooks_inflight);
	regs->ip = (unsigned long)hook->replacement;
}

/*
 * The original is entered past its 5-byte ftrace site; that is only right
 * if the site is the first instruction (no IBT landing pad before it).
 */
static bool vmiop_starts_with_ftrace_site(unsigned long addr)
{
	static const u8 nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
	const u8 *insn = (const u8 *)addr;

	return insn[0] == 0xe8 || !memcmp(insn, nop5, sizeof(nop5));
}

/*
 * The compiler's copy of the function at @addr (called @fn) that some of
 * its callers reach instead (symclone.h), found in its module's symbol
 * table, or NULL.  @buf gets the copy's name.  Hooking @fn would miss
 * those callers: such a build is refused.
 */
static const char *vmiop_hook_clone(unsigned long addr, const char *fn, char *buf, size_t len)
{
	const char *found = NULL;
	struct mod_kallsyms *ks;
	struct module *mod;
	unsigned int i;

	preempt_disable();
	mod = vmiop_ksym.module_address(addr);
	ks = mod ? rcu_dereference_sched(mod->kallsyms) : NULL;
	for (i = 0; ks && i < ks->num_symtab && !found; i++) {
		const char *sym = ks->strtab + ks->symtab[i].st_name;

		if (sym_is_clone_of(sym, fn)) {
			strscpy(buf, sym, len);
			found = buf;
		}
	}
	preempt_enable();
	return found;
}

static void vmiop_kick_all_vcpus(void)
{
	struct kvm_vcpu *vcpu;
	struct kvm *kvm;
	unsigned long i;

	mutex_lock(vmiop_ksym.kvm_lock);
	list_for_each_entry(kvm, vmiop_ksym.vm_list, vm_list) {
		kvm_for_each_vcpu(i, vcpu, kvm) {
			kvm_make_request(KVM_REQ_UNBLOCK, vcpu);
			kvm_vcpu_kick(vcpu);
		}
	}
	mutex_unlock(vmiop_ksym.kvm_lock);
}

void vmiop_hooks_remove(void)
{
	int i;

	for (i = ARRAY_SIZE(vmiop_hooks) - 1; i >= 0; i--) {
		struct vmiop_hook *hook = &vmiop_hooks[i];

		if (!hook->registered)
			continue;
		unregister_ftrace_function(&hook->ops);
		ftrace_set_filter_ip(&hook->ops, hook->addr, 1, 0);
		hook->registered = false;
	}

	/*
	 * No call is redirected any more.  One still inside a replacement
	 * may sleep in the original (kvm_vcpu_block): wake such vCPUs until
	 * they have all returned through vmiop's text.
	 */
	while (atomic_read(&vmiop_hooks_inflight)) {
		vmiop_kick_all_vcpus();
		schedule_timeout_uninterruptible(msecs_to_jiffies(10));
	}
	/*
	 * A task preempted between vmiop_hook_exit() and its return is not
	 * in an RCU-tasks quiescent state until it has left our text.
	 */
	synchronize_rcu_tasks();
}

int vmiop_hooks_install(void)
{
	char clone[KSYM_NAME_LEN];
	const char *fn;
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(vmiop_hooks); i++) {
		struct vmiop_hook *hook = &vmiop_hooks[i];

		if (hook->vendor && hook->vendor != vmiop_vendor->vendor)
			continue;
		hook->addr = vmiop_lookup_name(hook->name);
		if (!hook->addr) {
			pr_err("cannot hook %s: symbol not found\n", hook->name);
			ret = -ENOENT;
			goto fail;
		}
		if (!vmiop_starts_with_ftrace_site(hook->addr)) {
			pr_err("cannot hook %s: no ftrace site at its entry\n",
			       hook->name);
			ret = -ENOEXEC;
			goto fail;
		}
		fn = strchr(hook->name, ':') + 1;
		if (vmiop_hook_clone(hook->addr, fn, clone, sizeof(clone))) {
			pr_err("cannot hook %s: this build has a copy of it, %s, that callers reach instead\n",
			       hook->name, clone);
			ret = -ENOEXEC;
			goto fail;
		}
		*hook->orig = (void *)(hook->addr + MCOUNT_INSN_SIZE);

		hook->ops.func = vmiop_ftrace_thunk;
		hook->ops.flags = FTRACE_OPS_FL_SAVE_REGS | FTRACE_OPS_FL_IPMODIFY |
				  FTRACE_OPS_FL_RECURSION;
		if (hook->always)
			hook->ops.flags |= FTRACE_OPS_FL_PERMANENT;
		ret = ftrace_set_filter_ip(&hook->ops, hook->addr, 0, 0);
		if (ret) {
			pr_err("cannot hook %s: ftrace filter: %d\n", hook->name, ret);
			goto fail;
		}
		ret = register_ftrace_function(&hook->ops);
		if (ret == -EBUSY) {
			pr_err("cannot hook %s: something else redirects it already (livepatch, a BPF trampoline, another introspector)%s\n",
			       hook->name,
			       hook->always ? ", or ftrace is off (sysctl kernel.ftrace_enabled)" : "");
			ftrace_set_filter_ip(&hook->ops, hook->addr, 1, 0);
			goto fail;
		}
		if (ret) {
			pr_err("cannot hook %s: ftrace: %d\n", hook->name, ret);
			ftrace_set_filter_ip(&hook->ops, hook->addr, 1, 0);
			goto fail;
		}
		hook->registered = true;
	}
	return 0;

fail:
	vmiop_hooks_remove();
	return ret;
}
