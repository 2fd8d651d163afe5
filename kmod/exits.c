// SPDX-License-Identifier: GPL-2.0
/*
 * The instruction classes: an instruction exited and has not run; what
 * its event carries and how each reply steers it (rows of the table in
 * pipeline.c).  Entry points called from the hooks in hooks.c on the
 * vCPU's thread inside KVM_RUN, kvm->srcu held.
 */
#include <asm/msr-index.h>
#include "abi.h"
#include "insn.h"
#include "vmiop.h"

/* Writes GPRs through KVM's own KVM_SET_REGS body, caches and all. */
void vmiop_set_gprs(struct kvm_vcpu *vcpu, const u64 *rax, const u64 *rbx,
		    const u64 *rcx, const u64 *rdx)
{
	struct kvm_regs regs;

	vmiop_ksym.get_regs(vcpu, &regs);
	if (rax)
		regs.rax = *rax;
	if (rbx)
		regs.rbx = *rbx;
	if (rcx)
		regs.rcx = *rcx;
	if (rdx)
		regs.rdx = *rdx;
	vmiop_ksym.set_regs(vcpu, &regs);
}

/* ---- CPUID ------------------------------------------------------------ */

/* With CPUID faulting on, user mode gets #GP from KVM: no CPUID runs. */
static bool cpuid_is_event(struct vmiop_exit *x)
{
	return !(x->vcpu->arch.msr_misc_features_enables & MSR_MISC_FEATURES_ENABLES_CPUID_FAULT &&
		 vmiop_ksym.x86_ops->get_cpl(x->vcpu));
}

static u64 cpuid_key(const struct vmiop_exit *x)
{
	return (u32)x->vcpu->arch.regs[VCPU_REGS_RAX];
}

/* The leaf and what KVM would answer. */
static void cpuid_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	u32 eax, ebx, ecx, edx;

	eax = e->cpuid.leaf = (u32)e->regs.rax;
	ecx = e->cpuid.subleaf = (u32)e->regs.rcx;
	kvm_cpuid(x->vcpu, &eax, &ebx, &ecx, &edx, false);
	e->cpuid.eax = eax;
	e->cpuid.ebx = ebx;
	e->cpuid.ecx = ecx;
	e->cpuid.edx = edx;
}

static bool cpuid_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	u64 a = r->cpuid.eax, b = r->cpuid.ebx, c = r->cpuid.ecx, d = r->cpuid.edx;

	if (r->action != VMIOP_ACTION_SET_RESULT)
		return vmiop_insn_apply(x, r);
	vmiop_set_gprs(x->vcpu, &a, &b, &c, &d);
	x->ret = kvm_skip_emulated_instruction(x->vcpu);
	return true;
}

const struct vmiop_event_class vmiop_class_cpuid = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(SET_RESULT) |
		 ABI_TAKES_RESULT_REGS | VMIOP_TAKES(INJECT),
	.quiet = true,
	.is_event = cpuid_is_event,
	.key = cpuid_key,
	.fill = cpuid_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = cpuid_apply,
};

/* CPUID always exits, on both vendors. */
int vmiop_on_cpuid(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_exit x = { .vcpu = vcpu };

	return vmiop_event_run(VMIOP_EVENT_CPUID, &x) ? x.ret : orig(vcpu);
}

/* ---- descriptor-table instructions ------------------------------------ */

/*
 * The value a descriptor-table load is about to write, from the operand
 * of the instruction at RIP; the emulator reads the same one next.
 */
static void vmiop_desc_new_value(struct kvm_vcpu *vcpu, struct vmiop_event *e)
{
	static const u8 load_reg[] = {
		[INSN_LGDT] = VMIOP_DESC_GDTR, [INSN_LIDT] = VMIOP_DESC_IDTR,
		[INSN_LLDT] = VMIOP_DESC_LDTR, [INSN_LTR] = VMIOP_DESC_TR,
	};
	const unsigned long long *gpr = (const unsigned long long *)&e->regs.rax;
	unsigned int n, base_bytes = 0;
	struct vmiop_x86_exception fault;
	u8 insn[INSN_MAX_LEN], op[10];
	struct kvm_segment seg;
	struct insn_modrm m;
	bool code64, cs_db;
	u64 ea, base = 0;
	int which;

	static_assert(offsetof(struct vmiop_regs, r15) == 15 * sizeof(u64));
	n = vmiop_fetch_insn(vcpu, insn);
	code64 = vmiop_code64(vcpu, &cs_db);
	which = insn_desc_load(insn, n, code64, cs_db, &m, &base_bytes);
	if (which < 0 || load_reg[which] != e->desc.reg)
		return;
	if (m.is_reg) {
		e->desc.new_selector = (u16)gpr[m.rm];
		e->desc.flags = VMIOP_DESC_NEW_VALID;
		return;
	}
	ea = insn_effective_address(&m, gpr, e->regs.rip + m.len);
	vmiop_ksym.x86_ops->get_segment(vcpu, &seg, m.seg);
	if (!code64)
		ea = (u32)(seg.base + ea);
	else if (m.seg == INSN_FS || m.seg == INSN_GS)
		ea += seg.base;
	if (kvm_read_guest_virt(vcpu, ea, op, which >= INSN_LLDT ? 2 : 2 + base_bytes,
				(struct x86_exception *)&fault))
		return;
	if (which >= INSN_LLDT) {
		e->desc.new_selector = op[0] | op[1] << 8;
	} else {
		memcpy(&base, op + 2, base_bytes);
		e->desc.new_limit = op[0] | op[1] << 8;
		e->desc.new_base = base;
	}
	e->desc.flags = VMIOP_DESC_NEW_VALID;
}

static u64 desc_key(const struct vmiop_exit *x)
{
	return x->index;
}

static void desc_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->desc.reg = x->index;
	e->desc.write = x->write;
	if (x->write)
		vmiop_desc_new_value(x->vcpu, e);
}

static u32 desc_unavailable(void)
{
	return vmiop_vendor->desc_available() ? VMIOP_CAP_OK : VMIOP_CAP_NO_HARDWARE;
}

const struct vmiop_event_class vmiop_class_desc = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(INJECT),
	.quiet = true,
	.intercepts = true,
	.unavailable = desc_unavailable,
	.key = desc_key,
	.fill = desc_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = vmiop_insn_apply,
};

/*
 * A descriptor-table instruction exited (the vendor hooks decoded which).
 * Such exits are vmiop's own (or VMX UMIP emulation's): KVM's emulator
 * runs the instruction unless the reply says otherwise.
 */
int vmiop_on_desc(struct kvm_vcpu *vcpu, u32 reg, bool write)
{
	struct vmiop_exit x = { .vcpu = vcpu, .index = reg, .write = write };

	return vmiop_event_run(VMIOP_EVENT_DESC, &x) ? x.ret : kvm_emulate_instruction(vcpu, 0);
}

/* ---- hypercalls ------------------------------------------------------- */

static u64 hypercall_key(const struct vmiop_exit *x)
{
	return x->vcpu->arch.regs[VCPU_REGS_RAX];
}

static void hypercall_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->hypercall.long_mode = (e->regs.efer & EFER_LMA) && (e->regs.cs.attr & (1u << 13));
	e->hypercall.nr = e->regs.rax;
	e->hypercall.args[0] = e->regs.rbx;
	e->hypercall.args[1] = e->regs.rcx;
	e->hypercall.args[2] = e->regs.rdx;
	e->hypercall.args[3] = e->regs.rsi;
}

static bool hypercall_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	if (r->action != VMIOP_ACTION_SET_RESULT)
		return vmiop_insn_apply(x, r);
	vmiop_set_gprs(x->vcpu, &r->value, NULL, NULL, NULL);
	x->ret = kvm_skip_emulated_instruction(x->vcpu);
	return true;
}

const struct vmiop_event_class vmiop_class_hypercall = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(SET_RESULT) |
		 VMIOP_TAKES(INJECT),
	.quiet = true,
	.key = hypercall_key,
	.fill = hypercall_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = hypercall_apply,
};

/* VMCALL (VMX) and VMMCALL (SVM) always exit. */
int vmiop_on_hypercall(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_exit x = { .vcpu = vcpu };

	if (vmiop_ve_hypercall(vcpu, &x.ret))
		return x.ret;
	return vmiop_event_run(VMIOP_EVENT_HYPERCALL, &x) ? x.ret : orig(vcpu);
}

/* ---- control registers ------------------------------------------------ */

/* CR@cr (0, 3 or 4) in a register snapshot. */
static u64 vmiop_cr_value(const struct vmiop_regs *regs, u32 cr)
{
	return cr == 0 ? regs->cr0 : cr == 3 ? regs->cr3 : regs->cr4;
}

/* struct kvm_regs by the instruction encoding's GPR number */
static const u8 vmiop_gpr_offset[16] = {
	offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx),
	offsetof(struct kvm_regs, rdx), offsetof(struct kvm_regs, rbx),
	offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
	offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi),
	offsetof(struct kvm_regs, r8), offsetof(struct kvm_regs, r9),
	offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
	offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13),
	offsetof(struct kvm_regs, r14), offsetof(struct kvm_regs, r15),
};

/* GPR @gpr (0 RAX ... 15 R15, as instructions number them) in @regs. */
u64 *vmiop_gpr(struct kvm_regs *regs, unsigned int gpr)
{
	return (u64 *)((u8 *)regs + vmiop_gpr_offset[gpr & 15]);
}

/* A MOV from CR completes: its destination @gpr gets @val. */
int vmiop_cr_read_complete(struct kvm_vcpu *vcpu, int gpr, u64 val)
{
	struct kvm_regs regs;
	bool cs_db;

	vmiop_ksym.get_regs(vcpu, &regs);
	/* Outside 64-bit code the operand is 32 bits, as KVM writes it. */
	*vmiop_gpr(&regs, gpr) = vmiop_code64(vcpu, &cs_db) ? val : (u32)val;
	vmiop_ksym.set_regs(vcpu, &regs);
	return kvm_skip_emulated_instruction(vcpu);
}

/* The destination of the MOV from CR@cr at RIP, or -1 (SMSW, say). */
static int vmiop_mov_from_cr_gpr(struct kvm_vcpu *vcpu, u32 cr)
{
	u8 insn[INSN_MAX_LEN];
	unsigned int n = vmiop_fetch_insn(vcpu, insn);
	bool cs_db;

	return insn_mov_from_cr_gpr(insn, n, vmiop_code64(vcpu, &cs_db), cr);
}

/*
 * RSM and task switches load CRs as state, like KVM_SET_SREGS, in the
 * middle of an emulation that cannot stop or be rewound.
 */
static bool cr_is_event(struct vmiop_exit *x)
{
	return !x->write || !x->vv->exit.loading_state;
}

static u64 cr_key(const struct vmiop_exit *x)
{
	return x->index;
}

static bool cr_wanted(struct vmiop_exit *x)
{
	return (x->write || vmiop_event_type_flag(x->sess, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS)) &&
	       vmiop_event_wanted(x->sess, x->vcpu, VMIOP_EVENT_CR, x->index);
}

static void cr_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->cr.cr = x->index;
	e->cr.write = x->write;
	e->cr.old_value = vmiop_cr_value(&e->regs, x->index);
	e->cr.new_value = x->write ? x->value : e->cr.old_value;
}

/* VMIOP_EVENT_CTL_F_CHANGES: writes that change the value (CR3's no-flush bit aside) */
static bool cr_report(struct vmiop_exit *x, const struct vmiop_event *e)
{
	u64 ignored = x->index == 3 ? BIT_ULL(63) : 0;

	return !x->write ||
	       !vmiop_event_type_flag(x->sess, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_CHANGES) ||
	       ((e->cr.new_value ^ e->cr.old_value) & ~ignored);
}

/*
 * A write is reported from inside KVM's kvm_set_cr*(), whose callers
 * complete the instruction when it returns and cannot leave KVM_RUN from
 * there.  So a write that is not to happen now (a signal, or an exception
 * instead) is not made, the callers skip the instruction, and RIP goes
 * back to it before KVM_RUN returns (vmiop_run_leaving()) or at the next
 * park point, whichever comes first: it runs again, and takes the reply
 * still pending, or faults.
 */
static void cr_write_undone(struct vmiop_exit *x, u64 rip)
{
	x->vv->exit.rewind = true;
	x->vv->exit.rewind_rip = rip;
	kvm_make_request(KVM_REQ_EVENT, x->vcpu);
	x->ret = 0;
}

static void cr_interrupted(struct vmiop_exit *x, const struct vmiop_event *e)
{
	if (x->write)
		cr_write_undone(x, e->regs.rip);
	else
		vmiop_leave_for_signal(x);
}

static bool cr_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	struct kvm_regs regs;
	int gpr = x->gpr;

	if (x->write) {
		switch (r->action) {
		case VMIOP_ACTION_INJECT:
			/* where registers set while it waited put it */
			vmiop_ksym.get_regs(x->vcpu, &regs);
			cr_write_undone(x, regs.rip);
			return true;
		case VMIOP_ACTION_SKIP:
			x->ret = 0;	/* "written": the caller moves past it */
			return true;
		case VMIOP_ACTION_SET_RESULT:
			x->value = r->value;
			break;
		}
		return false;
	}
	if (r->action != VMIOP_ACTION_SET_RESULT)
		return vmiop_insn_apply(x, r);
	/* Without the destination in the exit's information: decode it. */
	if (gpr < 0)
		gpr = vmiop_mov_from_cr_gpr(x->vcpu, x->index);
	if (gpr < 0)
		return false;	/* no register to set (SMSW): as continue (uapi) */
	x->ret = vmiop_cr_read_complete(x->vcpu, gpr, r->value);
	return true;
}

const struct vmiop_event_class vmiop_class_cr = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(SET_RESULT) |
		 VMIOP_TAKES(INJECT),
	.quiet = true,
	.intercepts = true,
	.is_event = cr_is_event,
	.key = cr_key,
	.wanted = cr_wanted,
	.fill = cr_fill,
	.report = cr_report,
	.interrupted = cr_interrupted,
	.apply = cr_apply,
};

/* Every guest write to CR0/CR3/CR4 that KVM sees, on both vendors. */
int vmiop_on_cr_write(struct kvm_vcpu *vcpu, u32 cr, unsigned long val,
		      int (*orig)(struct kvm_vcpu *vcpu, unsigned long val))
{
	struct vmiop_exit x = { .vcpu = vcpu, .index = cr, .write = true, .value = val };

	return vmiop_event_run(VMIOP_EVENT_CR, &x) ? x.ret : orig(vcpu, x.value);
}

/*
 * A read of CR@cr exited.  @gpr: its destination register, or -1 when the
 * exit did not say (SVM without decode assists).  True if dealt with,
 * *@ret the exit handler's result; false: the caller completes the read as
 * it would have without vmiop.
 */
bool vmiop_on_cr_read(struct kvm_vcpu *vcpu, u32 cr, int gpr, int *ret)
{
	struct vmiop_exit x = { .vcpu = vcpu, .index = cr, .gpr = gpr };

	if (!vmiop_event_run(VMIOP_EVENT_CR, &x))
		return false;
	*ret = x.ret;
	return true;
}

/* ---- MSRs and XCRs ------------------------------------------------------ */

static u64 vmiop_edx_eax(const struct vmiop_regs *regs)
{
	return (regs->rdx << 32) | (u32)regs->rax;
}

/* EDX:EAX = @val, as RDMSR and XGETBV leave them. */
static void vmiop_set_edx_eax(struct kvm_vcpu *vcpu, u64 val)
{
	u64 lo = (u32)val, hi = val >> 32;

	vmiop_set_gprs(vcpu, &lo, NULL, NULL, &hi);
}

static u64 msr_key(const struct vmiop_exit *x)
{
	return x->index;
}

static bool msr_wanted(struct vmiop_exit *x)
{
	return (x->write || vmiop_event_type_flag(x->sess, VMIOP_EVENT_MSR, VMIOP_EVENT_CTL_F_READS)) &&
	       vmiop_event_wanted(x->sess, x->vcpu, VMIOP_EVENT_MSR, x->index);
}

static void msr_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	u64 old;

	e->msr.index = x->index;
	e->msr.write = x->write;
	/* What the guest would read; 0 for an MSR it cannot read. */
	if (!vmiop_ksym.get_msr(x->vcpu, x->index, &old, x->write))
		e->msr.old_value = old;
	if (x->write)
		e->msr.new_value = vmiop_edx_eax(&e->regs);
}

static bool msr_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	if (r->action != VMIOP_ACTION_SET_RESULT)
		return vmiop_insn_apply(x, r);
	vmiop_set_edx_eax(x->vcpu, r->value);
	/* A write goes through KVM with its checks; a read is answered. */
	if (x->write)
		return false;
	x->ret = kvm_skip_emulated_instruction(x->vcpu);
	return true;
}

const struct vmiop_event_class vmiop_class_msr = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(SET_RESULT) |
		 VMIOP_TAKES(INJECT),
	.quiet = true,
	.intercepts = true,
	.key = msr_key,
	.wanted = msr_wanted,
	.fill = msr_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = msr_apply,
};

/* RDMSR/WRMSR exits that KVM does not take in a fast path. */
int vmiop_on_msr(struct kvm_vcpu *vcpu, bool write, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_exit x = {
		.vcpu = vcpu, .index = (u32)vcpu->arch.regs[VCPU_REGS_RCX], .write = write,
	};

	return vmiop_event_run(VMIOP_EVENT_MSR, &x) ? x.ret : orig(vcpu);
}

/* Without XSAVE, KVM gives no guest CR4.OSXSAVE: XSETBV only #UDs. */
static u32 xsetbv_unavailable(void)
{
	return boot_cpu_has(X86_FEATURE_XSAVE) ? VMIOP_CAP_OK : VMIOP_CAP_NO_HARDWARE;
}

static u64 xsetbv_key(const struct vmiop_exit *x)
{
	return (u32)x->vcpu->arch.regs[VCPU_REGS_RCX];
}

static void xsetbv_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->xsetbv.index = (u32)e->regs.rcx;
	e->xsetbv.old_value = e->xsetbv.index == 0 ? e->regs.xcr0 : 0;
	e->xsetbv.new_value = vmiop_edx_eax(&e->regs);
}

/* A value set goes through KVM with its checks. */
static bool xsetbv_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	if (r->action != VMIOP_ACTION_SET_RESULT)
		return vmiop_insn_apply(x, r);
	vmiop_set_edx_eax(x->vcpu, r->value);
	return false;
}

const struct vmiop_event_class vmiop_class_xsetbv = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(SET_RESULT) |
		 VMIOP_TAKES(INJECT),
	.quiet = true,
	.unavailable = xsetbv_unavailable,
	.key = xsetbv_key,
	.fill = xsetbv_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = xsetbv_apply,
};

int vmiop_on_xsetbv(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_exit x = { .vcpu = vcpu };

	return vmiop_event_run(VMIOP_EVENT_XSETBV, &x) ? x.ret : orig(vcpu);
}

/*
 * KVM starts (@on) or ends loading saved state into the vCPU: RSM, which
 * leaves SMM before it loads the CRs, or a hardware task switch.
 */
void vmiop_loading_state(struct kvm_vcpu *vcpu, bool on)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);

	if (!sess)
		return;
	vmiop_vcpu_own(sess, vcpu)->exit.loading_state = on;
	vmiop_session_put(sess);
}
