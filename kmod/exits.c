// SPDX-License-Identifier: GPL-2.0
/*
 * Event classes: what each intercepted instruction puts into its event and
 * how each reply steers it.  Called from the hooks in hooks.c on the vCPU's
 * thread inside KVM_RUN, kvm->srcu held, for VMs with a session only.
 */
#include <linux/slab.h>
#include <asm/msr-index.h>
#include "insn.h"
#include "vmiop.h"

/*
 * The vCPU leaves KVM_RUN for a signal as KVM itself does, with the
 * instruction not executed: it runs again, and finds its event pending.
 */
static int vmiop_exit_for_signal(struct kvm_vcpu *vcpu)
{
	vcpu->run->exit_reason = KVM_EXIT_INTR;
	++vcpu->stat.signal_exits;
	return -EINTR;
}

/*
 * Delivers @e for an instruction that exited and has not run, and drops
 * @e and the session reference.  True when the exit is dealt with, *@ret
 * the exit handler's result: a signal came (leave KVM_RUN; the instruction
 * runs again and takes the same reply), or the reply injects an exception
 * (not executed) or skips it.  False: *@reply is for the caller to apply.
 */
static bool vmiop_insn_event(struct vmiop_session *sess, struct kvm_vcpu *vcpu,
			     struct vmiop_event *e, bool wanted,
			     struct vmiop_event_reply *reply, int *ret)
{
	int err = vmiop_event_deliver(sess, vcpu, e, wanted, reply);

	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);
	if (err) {
		*ret = vmiop_exit_for_signal(vcpu);
		return true;
	}
	switch (reply->action) {
	case VMIOP_ACTION_INJECT:
		*ret = 1;	/* not executed: the exception is its fault */
		return true;
	case VMIOP_ACTION_SKIP:
		*ret = kvm_skip_emulated_instruction(vcpu);
		return true;
	}
	return false;
}

/* Writes GPRs through KVM's own KVM_SET_REGS body, caches and all. */
static void vmiop_set_gprs(struct kvm_vcpu *vcpu, const u64 *rax, const u64 *rbx,
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

/*
 * The vCPU's event buffer, zeroed, for an event of @type with the vCPU's
 * registers; give it back with vmiop_event_put().  Never NULL: a vCPU
 * without its buffer yet (created after attach, not yet at a park point),
 * or one building a second event before the first was put (no path does;
 * said once), gets one allocated that cannot fail.
 */
struct vmiop_event *vmiop_event_get(struct vmiop_session *sess, struct kvm_vcpu *vcpu, u16 type)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];
	struct vmiop_event *e = vv->ev_buf;

	if (!e || vv->ev_buf_busy) {
		if (e)
			pr_warn_once("vCPU %d builds a second event at once\n", vcpu->vcpu_idx);
		e = kmalloc(sizeof(*e), GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	} else {
		vv->ev_buf_busy = true;
	}
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->vcpu = vcpu->vcpu_idx;
	vmiop_regs_get(vcpu, &e->regs);
	return e;
}

void vmiop_event_put(struct vmiop_session *sess, struct kvm_vcpu *vcpu, struct vmiop_event *e)
{
	struct vmiop_vcpu *vv = &sess->vcpus[vcpu->vcpu_idx];

	if (!e)
		return;
	if (e == vv->ev_buf)
		vv->ev_buf_busy = false;
	else
		kfree(e);
}

static u32 vmiop_cpl(const struct vmiop_regs *regs)
{
	return (regs->ss.attr >> 5) & 3;
}

int vmiop_on_cpuid(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_event_reply reply;
	struct vmiop_event *e = NULL;
	u32 eax, ebx, ecx, edx;
	bool wanted;
	int ret;

	if (!sess)
		return orig(vcpu);
	wanted = vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_CPUID, (u32)vcpu->arch.regs[VCPU_REGS_RAX]);
	/* Not wanted, but back with an unanswered one: it still gets its reply. */
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_CPUID)
		goto orig;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_CPUID);
	/* With CPUID faulting on, user mode gets #GP from KVM: no CPUID ran. */
	if (vcpu->arch.msr_misc_features_enables & MSR_MISC_FEATURES_ENABLES_CPUID_FAULT &&
	    vmiop_cpl(&e->regs))
		goto orig;

	eax = e->cpuid.leaf = (u32)e->regs.rax;
	ecx = e->cpuid.subleaf = (u32)e->regs.rcx;
	kvm_cpuid(vcpu, &eax, &ebx, &ecx, &edx, false);
	e->cpuid.eax = eax;
	e->cpuid.ebx = ebx;
	e->cpuid.ecx = ecx;
	e->cpuid.edx = edx;

	if (vmiop_insn_event(sess, vcpu, e, wanted, &reply, &ret))
		return ret;

	if (reply.action == VMIOP_ACTION_SET_RESULT) {
		u64 a = reply.cpuid.eax, b = reply.cpuid.ebx;
		u64 c = reply.cpuid.ecx, d = reply.cpuid.edx;

		vmiop_set_gprs(vcpu, &a, &b, &c, &d);
		return kvm_skip_emulated_instruction(vcpu);
	}
	return orig(vcpu);
orig:
	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);
	return orig(vcpu);
}

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

/*
 * A descriptor-table instruction exited (the vendor hooks decoded which).
 * Such exits are vmiop's own (or VMX UMIP emulation's): KVM's emulator
 * runs the instruction unless the reply says otherwise.
 */
int vmiop_on_desc(struct kvm_vcpu *vcpu, u32 reg, bool write)
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_event_reply reply;
	struct vmiop_event *e;
	bool wanted;
	int ret;

	if (!sess)
		return kvm_emulate_instruction(vcpu, 0);
	wanted = vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_DESC, reg);
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_DESC)
		goto emulate;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_DESC);
	e->desc.reg = reg;
	e->desc.write = write;
	if (write)
		vmiop_desc_new_value(vcpu, e);
	if (vmiop_insn_event(sess, vcpu, e, wanted, &reply, &ret))
		return ret;
	return kvm_emulate_instruction(vcpu, 0);
emulate:
	vmiop_session_put(sess);
	return kvm_emulate_instruction(vcpu, 0);
}

int vmiop_on_hypercall(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_event_reply reply;
	struct vmiop_event *e = NULL;
	bool wanted;
	int ret;

	if (!sess)
		return orig(vcpu);
	wanted = vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_HYPERCALL, vcpu->arch.regs[VCPU_REGS_RAX]);
	/* Not wanted, but back with an unanswered one: it still gets its reply. */
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_HYPERCALL)
		goto orig;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_HYPERCALL);
	e->hypercall.long_mode = (e->regs.efer & EFER_LMA) &&
				 (e->regs.cs.attr & (1u << 13));
	e->hypercall.nr = e->regs.rax;
	e->hypercall.args[0] = e->regs.rbx;
	e->hypercall.args[1] = e->regs.rcx;
	e->hypercall.args[2] = e->regs.rdx;
	e->hypercall.args[3] = e->regs.rsi;

	if (vmiop_insn_event(sess, vcpu, e, wanted, &reply, &ret))
		return ret;

	if (reply.action == VMIOP_ACTION_SET_RESULT) {
		vmiop_set_gprs(vcpu, &reply.value, NULL, NULL, NULL);
		return kvm_skip_emulated_instruction(vcpu);
	}
	return orig(vcpu);
orig:
	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);
	return orig(vcpu);
}

/* CR@cr (0, 3 or 4) in a register snapshot. */
static u64 vmiop_cr_value(const struct vmiop_regs *regs, u32 cr)
{
	return cr == 0 ? regs->cr0 : cr == 3 ? regs->cr3 : regs->cr4;
}

/*
 * Callers complete the instruction after this returns and cannot leave
 * KVM_RUN from here, so a signal while waiting is handled by not writing,
 * letting the caller skip the instruction, and moving RIP back to it before
 * KVM_RUN returns (vmiop_run_leaving()) or at the vCPU's next park point,
 * whichever comes first.  Back in KVM_RUN it runs again and takes the
 * pending reply.
 */
int vmiop_on_cr_write(struct kvm_vcpu *vcpu, u32 cr, unsigned long val,
		      int (*orig)(struct kvm_vcpu *vcpu, unsigned long val))
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	struct vmiop_event_reply reply;
	struct vmiop_event *e = NULL;
	struct vmiop_vcpu *vv;
	bool wanted;
	int ret;

	if (!sess)
		return orig(vcpu, val);
	/*
	 * RSM and task switches load CRs as state, like KVM_SET_SREGS, in
	 * the middle of an emulation that cannot stop or be rewound.
	 */
	if (sess->vcpus[vcpu->vcpu_idx].loading_state)
		goto orig;
	wanted = vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_CR, cr);
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_CR)
		goto orig;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_CR);
	e->cr.cr = cr;
	e->cr.write = 1;
	e->cr.old_value = vmiop_cr_value(&e->regs, cr);
	e->cr.new_value = val;
	if (wanted && vmiop_event_type_flag(sess, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_CHANGES) &&
	    ((val ^ e->cr.old_value) & ~(cr == 3 ? BIT_ULL(63) : 0)) == 0)
		wanted = false;
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_CR)
		goto orig;

	ret = vmiop_event_deliver(sess, vcpu, e, wanted, &reply);
	if (ret || reply.action == VMIOP_ACTION_INJECT) {
		/* Not written; back on the instruction before the exception. */
		vv = &sess->vcpus[vcpu->vcpu_idx];
		vv->rewind = true;
		vv->rewind_rip = e->regs.rip;
		kvm_make_request(KVM_REQ_EVENT, vcpu);
		vmiop_event_put(sess, vcpu, e);
		vmiop_session_put(sess);
		return 0;
	}
	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);

	switch (reply.action) {
	case VMIOP_ACTION_SKIP:
		return 0;
	case VMIOP_ACTION_SET_RESULT:
		return orig(vcpu, reply.value);
	}
	return orig(vcpu, val);
orig:
	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);
	return orig(vcpu, val);
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
 * A read of CR@cr exited (vCPU's thread, srcu held).  @gpr: its destination
 * register, or -1 when the exit did not say (SVM without decode assists):
 * then the instruction is decoded if a reply needs it.  True if dealt
 * with, *@ret the exit handler's result; false: the caller completes the
 * read as it would have without vmiop.
 */
bool vmiop_on_cr_read(struct kvm_vcpu *vcpu, u32 cr, int gpr, int *ret)
{
	struct vmiop_session *sess;
	struct vmiop_event_reply reply;
	struct vmiop_event *e;
	bool wanted;

	sess = vmiop_session_find(vcpu->kvm);
	if (!sess)
		return false;
	wanted = vmiop_event_type_flag(sess, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS) &&
		 vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_CR, cr);
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_CR)
		goto out;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_CR);
	e->cr.cr = cr;
	e->cr.old_value = vmiop_cr_value(&e->regs, cr);
	e->cr.new_value = e->cr.old_value;
	if (vmiop_insn_event(sess, vcpu, e, wanted, &reply, ret))
		return true;
	if (reply.action != VMIOP_ACTION_SET_RESULT)
		return false;
	if (gpr < 0)
		gpr = vmiop_mov_from_cr_gpr(vcpu, cr);
	if (gpr < 0)
		return false;	/* no register to set: as continue (uapi) */
	*ret = vmiop_cr_read_complete(vcpu, gpr, reply.value);
	return true;
out:
	vmiop_session_put(sess);
	return false;
}

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

int vmiop_on_msr(struct kvm_vcpu *vcpu, bool write, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	u32 index = (u32)vcpu->arch.regs[VCPU_REGS_RCX];
	struct vmiop_event_reply reply;
	struct vmiop_event *e = NULL;
	bool wanted;
	u64 old;
	int ret;

	if (!sess)
		return orig(vcpu);
	wanted = (write || vmiop_event_type_flag(sess, VMIOP_EVENT_MSR, VMIOP_EVENT_CTL_F_READS)) &&
		 vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_MSR, index);
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_MSR)
		goto orig;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_MSR);
	e->msr.index = index;
	e->msr.write = write;
	/* What the guest would read; 0 for an MSR it cannot read. */
	if (!vmiop_ksym.get_msr(vcpu, index, &old, write))
		e->msr.old_value = old;
	if (write)
		e->msr.new_value = vmiop_edx_eax(&e->regs);

	if (vmiop_insn_event(sess, vcpu, e, wanted, &reply, &ret))
		return ret;

	if (reply.action == VMIOP_ACTION_SET_RESULT) {
		vmiop_set_edx_eax(vcpu, reply.value);
		/* A write goes through KVM with its checks; a read is answered. */
		return write ? orig(vcpu) : kvm_skip_emulated_instruction(vcpu);
	}
	return orig(vcpu);
orig:
	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);
	return orig(vcpu);
}

int vmiop_on_xsetbv(struct kvm_vcpu *vcpu, int (*orig)(struct kvm_vcpu *vcpu))
{
	struct vmiop_session *sess = vmiop_session_find(vcpu->kvm);
	u32 index = (u32)vcpu->arch.regs[VCPU_REGS_RCX];
	struct vmiop_event_reply reply;
	struct vmiop_event *e = NULL;
	bool wanted;
	int ret;

	if (!sess)
		return orig(vcpu);
	wanted = vmiop_event_wanted(sess, vcpu, VMIOP_EVENT_XSETBV, index);
	if (!wanted && vmiop_event_pending_type(sess, vcpu) != VMIOP_EVENT_XSETBV)
		goto orig;
	e = vmiop_event_get(sess, vcpu, VMIOP_EVENT_XSETBV);
	e->xsetbv.index = index;
	e->xsetbv.old_value = index == 0 ? e->regs.xcr0 : 0;
	e->xsetbv.new_value = vmiop_edx_eax(&e->regs);

	if (vmiop_insn_event(sess, vcpu, e, wanted, &reply, &ret))
		return ret;

	if (reply.action == VMIOP_ACTION_SET_RESULT)
		vmiop_set_edx_eax(vcpu, reply.value);
	return orig(vcpu);
orig:
	vmiop_event_put(sess, vcpu, e);
	vmiop_session_put(sess);
	return orig(vcpu);
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
	sess->vcpus[vcpu->vcpu_idx].loading_state = on;
	vmiop_session_put(sess);
}
