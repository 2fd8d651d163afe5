// SPDX-License-Identifier: GPL-2.0
/* Intel VMX (EPT) back end. */
#include <linux/jump_label.h>
#include <asm/vmx.h>
#include "msrmap.h"
#include "vmiop.h"

/*
 * The current VMCS: on the vCPU's thread, inside KVM's vcpu_load.  A
 * VMREAD that fails (no current VMCS, a field this CPU lacks) leaves its
 * destination unwritten: false, and *@value is 0, never a stale register.
 */
static bool vmx_read_ok(unsigned long field, u32 *value)
{
	unsigned long v = 0;
	bool fail;

	asm volatile("vmread %[field], %[v]; setna %[fail]"
		     : [v] "+r"(v), [fail] "=qm"(fail) : [field] "r"(field) : "cc");
	*value = fail ? 0 : (u32)v;
	return !fail;
}

static unsigned long vmx_read(unsigned long field)
{
	unsigned long value = 0;
	bool fail;

	asm volatile("vmread %[field], %[value]; setna %[fail]"
		     : [value] "+r"(value), [fail] "=qm"(fail) : [field] "r"(field) : "cc");
	return fail ? 0 : value;
}

static void vmx_write(unsigned long field, unsigned long value)
{
	asm volatile("vmwrite %[value], %[field]"
		     : : [value] "r"(value), [field] "r"(field) : "cc");
}

/* VMX reports it: KVM copies VM_EXIT_INSTRUCTION_LEN for #BP exits. */
static u32 vmx_bp_insn_len(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.event_exit_inst_len;
}

/*
 * The SDM clears the pending debug exceptions on a VM exit caused by an
 * instruction, so when KVM completes that instruction and reports the
 * step itself, no second step is pending.  Bochs 2.7 stores the step it
 * had already scheduled for the exiting instruction there instead, and the
 * next VM entry delivers it before the next instruction runs: one step,
 * two events.
 */
static void vmx_clear_pending_step(struct kvm_vcpu *vcpu)
{
	unsigned long pending = vmx_read(GUEST_PENDING_DBG_EXCEPTIONS);

	if (pending & DR6_BS)
		vmx_write(GUEST_PENDING_DBG_EXCEPTIONS, pending & ~DR6_BS);
}

/*
 * ICEBP's #DB is trap-like, but VMX exits on the ICEBP itself; queued
 * with RIP there, the guest's handler would return to it, forever.  As
 * KVM's inner skip: RIP past it, no interrupt shadow, and neither the
 * single-step report nor the nested MTF bookkeeping of the vendor's skip
 * (the #DB comes first).
 */
static bool vmx_skip_icebp(struct kvm_vcpu *vcpu)
{
	struct kvm_regs regs;
	u32 info;

	if ((u16)vmx_read(VM_EXIT_REASON) != EXIT_REASON_EXCEPTION_NMI)
		return false;
	info = vmx_read(VM_EXIT_INTR_INFO);
	if ((info & (INTR_INFO_VALID_MASK | INTR_INFO_INTR_TYPE_MASK | INTR_INFO_VECTOR_MASK)) !=
	    (INTR_INFO_VALID_MASK | INTR_TYPE_PRIV_SW_EXCEPTION | DB_VECTOR))
		return false;
	vmiop_ksym.get_regs(vcpu, &regs);
	regs.rip += vmx_read(VM_EXIT_INSTRUCTION_LEN);
	vmiop_ksym.set_regs(vcpu, &regs);
	vmiop_ksym.x86_ops->set_interrupt_shadow(vcpu, 0);
	return true;
}

/*
 * KVM writes the VMCS execution controls through a shadow copy in its
 * private struct loaded_vmcs (vmcs.h: entry, exit, pin, exec, secondary,
 * each a u32, in this order) and recomputes them from it: a control
 * written only to the VMCS is undone by the next update.  Where the vCPU's
 * current loaded_vmcs and its shadow are comes from KVM's BTF (layout.c);
 * the shadow must still equal the current VMCS at each use.
 */
struct vmx_controls_shadow {
	u32 vm_entry, vm_exit, pin, exec, secondary_exec;
};

static bool vmx_current_controls(struct vmx_controls_shadow *c)
{
	return vmx_read_ok(VM_ENTRY_CONTROLS, &c->vm_entry) &&
	       vmx_read_ok(VM_EXIT_CONTROLS, &c->vm_exit) &&
	       vmx_read_ok(PIN_BASED_VM_EXEC_CONTROL, &c->pin) &&
	       vmx_read_ok(CPU_BASED_VM_EXEC_CONTROL, &c->exec) &&
	       vmx_read_ok(SECONDARY_VM_EXEC_CONTROL, &c->secondary_exec);
}

static struct vmx_controls_shadow *vmx_controls_shadow(struct kvm_vcpu *vcpu)
{
	u8 *loaded = *(u8 **)((u8 *)vcpu + vmiop_layout.vmx_loaded_vmcs);
	struct vmx_controls_shadow now, *shadow;

	/* L1's VMCS only: running L2 (vmcs02), its controls are nested KVM's. */
	if (loaded != (u8 *)vcpu + vmiop_layout.vmx_vmcs01 || !vmx_current_controls(&now))
		return NULL;
	shadow = (struct vmx_controls_shadow *)(loaded + vmiop_layout.vmx_controls_shadow);
	if (memcmp(shadow, &now, sizeof(now))) {
		pr_warn_once("KVM's VMCS control shadow differs from the VMCS: no CR3 or descriptor-table events, single-steps use RFLAGS.TF\n");
		return NULL;
	}
	return shadow;
}

/*
 * KVM exits on CR3 itself without EPT, and with EPT but without
 * unrestricted guest while paging is off (the guest then runs on KVM's
 * identity map): then the exits are KVM's, vmiop leaves them on.
 */
static bool vmx_kvm_needs_cr3_exits(struct kvm_vcpu *vcpu)
{
	return vmiop_ksym.vmx_unrestricted_guest && !READ_ONCE(*vmiop_ksym.vmx_unrestricted_guest) &&
	       !(vcpu->arch.cr0 & X86_CR0_PG);
}

/* CR3 load or store exiting (@bit) on or off, as vendor ops want. */
static bool vmx_cr3_control(struct kvm_vcpu *vcpu, u32 bit, bool on)
{
	struct vmx_controls_shadow *shadow = vmx_controls_shadow(vcpu);
	struct kvm_sregs sregs;

	if (!shadow)
		return false;
	if (on) {
		if (shadow->exec & bit)
			return false;
		/*
		 * With load exiting on, KVM stops reading CR3 from the VMCS
		 * and trusts its cached copy: make sure the cache is current.
		 */
		if (bit == CPU_BASED_CR3_LOAD_EXITING)
			vmiop_ksym.get_sregs(vcpu, &sregs);
		shadow->exec |= bit;
	} else if (!vmx_kvm_needs_cr3_exits(vcpu)) {
		shadow->exec &= ~bit;
	}
	vmx_write(CPU_BASED_VM_EXEC_CONTROL, shadow->exec);
	return true;
}

static bool vmx_cr3_exiting(struct kvm_vcpu *vcpu, bool on)
{
	return vmx_cr3_control(vcpu, CPU_BASED_CR3_LOAD_EXITING, on);
}

/* Only CR3: CR0 and CR4 reads are served from read shadows, never exit. */
static bool vmx_cr_read_exiting(struct kvm_vcpu *vcpu, u32 cr, bool on)
{
	return cr == 3 && vmx_cr3_control(vcpu, CPU_BASED_CR3_STORE_EXITING, on);
}

/* The CPU has the monitor trap flag (allowed-1 half of PROCBASED_CTLS). */
static bool vmx_has_mtf;

static bool vmx_mtf_available(void)
{
	return vmx_has_mtf;
}

/*
 * A VM exit after each guest instruction.  KVM sets the monitor trap flag
 * only in the VMCS it runs a nested guest on, never in vmcs01, and leaves
 * its exit to vmiop (handle_monitor_trap does nothing): it is vmiop's.
 */
static bool vmx_mtf_exiting(struct kvm_vcpu *vcpu, bool on)
{
	struct vmx_controls_shadow *shadow;

	if (!vmx_has_mtf)
		return false;
	shadow = vmx_controls_shadow(vcpu);
	if (!shadow)
		return false;
	if (on)
		shadow->exec |= CPU_BASED_MONITOR_TRAP_FLAG;
	else
		shadow->exec &= ~CPU_BASED_MONITOR_TRAP_FLAG;
	vmx_write(CPU_BASED_VM_EXEC_CONTROL, shadow->exec);
	return true;
}

/* KVM lets the guest halt in this state only with HLT exits disabled. */
static bool vmx_in_hlt_state(struct kvm_vcpu *vcpu)
{
	return vmx_read(GUEST_ACTIVITY_STATE) == GUEST_ACTIVITY_HLT;
}

static bool vmx_desc_available(void)
{
	u64 ctls2;

	/* allowed-1 settings in the high half */
	if (rdmsrl_safe(MSR_IA32_VMX_PROCBASED_CTLS2, &ctls2))
		return false;
	return (ctls2 >> 32) & SECONDARY_EXEC_DESC;
}

/* KVM emulates UMIP with these exits when the CPU lacks it. */
static bool vmx_umip_emulated_now(struct kvm_vcpu *vcpu)
{
	return !boot_cpu_has(X86_FEATURE_UMIP) && (vcpu->arch.cr4 & X86_CR4_UMIP);
}

static bool vmx_desc_exiting(struct kvm_vcpu *vcpu, bool on)
{
	struct vmx_controls_shadow *shadow = vmx_controls_shadow(vcpu);

	if (!shadow || !(shadow->exec & CPU_BASED_ACTIVATE_SECONDARY_CONTROLS) ||
	    !vmx_desc_available())
		return false;
	if (on) {
		if (shadow->secondary_exec & SECONDARY_EXEC_DESC)
			return false;
		shadow->secondary_exec |= SECONDARY_EXEC_DESC;
	} else if (!vmx_umip_emulated_now(vcpu)) {
		shadow->secondary_exec &= ~SECONDARY_EXEC_DESC;
	}
	vmx_write(SECONDARY_VM_EXEC_CONTROL, shadow->secondary_exec);
	return true;
}

/*
 * Descriptor-table exits: vmiop's, or UMIP emulation's, where KVM's
 * handle_desc() only emulates the instruction (and WARNs if UMIP is not
 * why).  The exit reason and instruction information say which one.
 */
int vmiop_vmx_handle_desc(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	/* by instruction identity: SGDT SIDT LGDT LIDT, or SLDT STR LLDT LTR */
	static const u8 gdtr_idtr[4] = {
		VMIOP_DESC_GDTR, VMIOP_DESC_IDTR, VMIOP_DESC_GDTR, VMIOP_DESC_IDTR,
	};
	static const u8 ldtr_tr[4] = {
		VMIOP_DESC_LDTR, VMIOP_DESC_TR, VMIOP_DESC_LDTR, VMIOP_DESC_TR,
	};
	u32 reason = vmx_read(VM_EXIT_REASON) & 0xffff;
	u32 id = (vmx_read(VMX_INSTRUCTION_INFO) >> 28) & 3;

	if (reason != EXIT_REASON_GDTR_IDTR && reason != EXIT_REASON_LDTR_TR)
		return orig(vcpu);
	return vmiop_on_desc(vcpu, reason == EXIT_REASON_GDTR_IDTR ? gdtr_idtr[id] : ldtr_tr[id],
			     id >= 2);
}

/*
 * A MOV to or from CR3 that exited: KVM's handle_cr() would do the same,
 * but WARNs if it did not ask for the exit itself (with unrestricted
 * guests it never does), so vmiop completes all of them.  True if
 * handled, with *@ret the exit handler's result.
 */
bool vmiop_vmx_handle_cr3(struct kvm_vcpu *vcpu, int *ret)
{
	unsigned long qual = vmx_read(EXIT_QUALIFICATION);
	int gpr = (qual >> 8) & 15;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	bool cs_db;
	u64 val;

	/* CR number; access type 0 MOV to CR, 1 MOV from CR; GPR */
	if ((qual & 15) != 3 || ((qual >> 4) & 3) > 1)
		return false;
	if ((qual >> 4) & 3) {
		if (vmiop_on_cr_read(vcpu, 3, gpr, ret))
			return true;
		vmiop_ksym.get_sregs(vcpu, &sregs);
		*ret = vmiop_cr_read_complete(vcpu, gpr, sregs.cr3);
		return true;
	}
	vmiop_ksym.get_regs(vcpu, &regs);
	val = *vmiop_gpr(&regs, gpr);
	if (!vmiop_code64(vcpu, &cs_db))
		val = (u32)val;		/* a 32-bit operand, as KVM reads it */
	*ret = kvm_complete_insn_gp(vcpu, kvm_set_cr3(vcpu, val));
	return true;
}

static int vmx_init(void)
{
	u64 ctls;

	/*
	 * Under Hyper-V KVM may run its guests on the enlightened VMCS, a
	 * memory structure VMREAD/VMWRITE do not reach.
	 */
	if (static_key_enabled(&vmiop_ksym.vmx_enable_evmcs->key)) {
		pr_err("kvm_intel uses Hyper-V's enlightened VMCS here, which vmiop does not support\n");
		return -EOPNOTSUPP;
	}
	vmx_has_mtf = !rdmsrl_safe(MSR_IA32_VMX_PROCBASED_CTLS, &ctls) &&
		      ((ctls >> 32) & CPU_BASED_MONITOR_TRAP_FLAG);
	if (!vmiop_ksym.vmx_unrestricted_guest)
		pr_warn("kvm_intel:enable_unrestricted_guest not found: assuming it is on\n");
	return 0;
}

static u32 vmx_msr_intercepted(struct kvm_vcpu *vcpu, u32 msr)
{
	u32 exits = 0, byte, bit;
	unsigned long pa;
	const u8 *bitmap;
	int i;

	/* Without MSR bitmaps every RDMSR/WRMSR exits. */
	if (!(vmx_read(CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_USE_MSR_BITMAPS))
		return VMIOP_MSR_R | VMIOP_MSR_W;
	/* A failed read is 0: taken as "everything exits", never dereferenced. */
	pa = vmx_read(MSR_BITMAP);
	if (!pa || !PAGE_ALIGNED(pa) || !pfn_valid(PHYS_PFN(pa)))
		return VMIOP_MSR_R | VMIOP_MSR_W;
	bitmap = __va(pa);
	for (i = 0; i < 2; i++) {
		/* Outside the bitmap every access exits. */
		if (!msrmap_vmx_bit(msr, i, &byte, &bit) || bitmap[byte] & BIT(bit))
			exits |= i ? VMIOP_MSR_W : VMIOP_MSR_R;
	}
	return exits;
}

static u32 vmx_msr_exiting(struct kvm_vcpu *vcpu, u32 msr, u32 rw, bool on)
{
	u32 exits = vmx_msr_intercepted(vcpu, msr);
	u32 changed = on ? rw & ~exits : rw & exits;

	if (changed && on)
		vmiop_ksym.vmx_enable_intercept_for_msr(vcpu, msr, changed);
	else if (changed)
		vmiop_ksym.vmx_disable_intercept_for_msr(vcpu, msr, changed);
	return changed;
}

/*
 * The linear address of the current EPT violation, where the exit
 * qualification KVM saved says it is valid (bit 7); it is in the VMCS.
 */
/* Bits 0-11: what an EPT-violation #VE reports (bit 12 is the exit's own). */
static u64 vmx_ve_qualification(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.exit_qualification & 0xfff;
}

static bool vmx_fault_gla(struct kvm_vcpu *vcpu, u64 *gla)
{
	if (!(vcpu->arch.exit_qualification & EPT_VIOLATION_GVA_IS_VALID))
		return false;
	*gla = vmx_read(GUEST_LINEAR_ADDRESS);
	return true;
}

const struct vmiop_vendor_ops vmiop_vmx_ops = {
	.name = "vmx",
	.vendor = VMIOP_VENDOR_INTEL,
	.module = "kvm_intel",
	.exit_handler = "kvm_intel:vmx_handle_exit",
	.bp_insn_len = vmx_bp_insn_len,
	.clear_pending_step = vmx_clear_pending_step,
	.skip_icebp = vmx_skip_icebp,
	.cr3_exiting = vmx_cr3_exiting,
	.cr_reads = BIT(3),
	.cr_read_exiting = vmx_cr_read_exiting,
	.desc_exiting = vmx_desc_exiting,
	.desc_available = vmx_desc_available,
	.msr_intercepted = vmx_msr_intercepted,
	.msr_exiting = vmx_msr_exiting,
	.mtf_exiting = vmx_mtf_exiting,
	.mtf_available = vmx_mtf_available,
	.in_hlt_state = vmx_in_hlt_state,
	/* KVM turns the qualification's read bit into its U bit. */
	.fault_read_mask = PFERR_USER_MASK,
	.fault_gla = vmx_fault_gla,
	.ve_delivery = VMIOP_VE_DELIVERY_EXCEPTION,
	.ve_qualification = vmx_ve_qualification,
	.init = vmx_init,
};
