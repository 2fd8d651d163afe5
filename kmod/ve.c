// SPDX-License-Identifier: GPL-2.0
/*
 * #VE: violations of convertible pages delivered to an agent in the guest.
 *
 * Stock KVM cannot let the CPU convert EPT violations (its non-present
 * entries would be convertible as well), so vmiop converts in software at
 * the violation's exit (memaccess.c calls vmiop_ve_fault()): it writes the
 * vCPU's info page as the CPU would and queues vector 20, an exception on
 * Intel, an external-interrupt injection on AMD, whose VMRUN refuses an
 * exception with that vector.  Which vCPU may take one, and when, follows
 * the hardware's rules plus what keeps a guest without a usable handler
 * safe (struct vmiop_ve_info in the uapi): its IDT gate 20 must lead into
 * the agent's code, checked at every delivery.
 *
 * A #VE queued and not yet delivered is withdrawn when its info page goes
 * (VMIOP_SET_VE_INFO, on the vCPU's thread) or the session ends (detach
 * waits for each vCPU that has one to pass its park point, as it does for
 * vmiop's intercepts: vmiop_ve_sync()), so that no #VE reaches a guest
 * whose agent is being taken out.
 *
 * The agent's hypercalls are recognised by where they come from: a
 * VMCALL/VMMCALL whose RIP translates into the agent's code.  Its accesses
 * to convertible pages (the page-table writes it lets through) are
 * completed by KVM's emulator without an event.
 */
#include <linux/vmiop_ve.h>
#include <asm/desc_defs.h>
#include "abi.h"
#include "pgwalk.h"
#include "vmiop.h"

u32 vmiop_ve_delivery(void)
{
	if (!READ_ONCE(*vmiop_ksym.tdp_enabled))
		return VMIOP_VE_DELIVERY_NONE;
	return vmiop_vendor->ve_delivery;
}

/* ---- what the vCPU sees ------------------------------------------------ */

static int ve_read_gpa(void *ctx, u64 gpa, unsigned int size, u64 *val)
{
	*val = 0;
	return kvm_vcpu_read_guest(ctx, gpa, val, size);
}

/*
 * The gpa of @gva in the vCPU's current address space, walked as a
 * supervisor access by vmiop's own walker (KVM's would set accessed bits
 * in the guest's tables), or INVALID_GPA.  64-bit paging only.
 */
gpa_t vmiop_ve_translate(struct kvm_vcpu *vcpu, u64 gva)
{
	struct kvm_mmu *mmu = vcpu->arch.walk_mmu;
	struct pgwalk_params p = {
		.cr3 = mmu->get_guest_pgd(vcpu),
		.mode = mmu->cpu_role.ext.cr4_la57 ? PGWALK_MODE_5LEVEL : PGWALK_MODE_4LEVEL,
		.maxphyaddr = vcpu->arch.maxphyaddr,
		.nxe = mmu->cpu_role.base.efer_nx,
	};
	struct pgwalk_result res;

	if (pgwalk(&p, gva, ve_read_gpa, vcpu, &res) || res.fault != PGWALK_OK)
		return INVALID_GPA;
	return res.gpa;
}

static bool ve_long_mode(struct kvm_vcpu *vcpu)
{
	return vcpu->arch.efer & EFER_LMA;
}

/* @gpa is agent code (VMIOP_SET_VE_AGENT). */
static bool ve_gpa_in_agent(struct vmiop_session *sess, gpa_t gpa)
{
	bool in;

	if (gpa == INVALID_GPA)
		return false;
	spin_lock(&sess->state_lock);
	in = gpa - sess->ve_code_gpa < sess->ve_code_len;
	spin_unlock(&sess->state_lock);
	return in;
}

/* The vCPU executes agent code: kernel mode, 64-bit, RIP in the agent. */
static bool ve_rip_in_agent(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	bool cs_db;

	if (!READ_ONCE(sess->ve_code_len) || !vmiop_code64(vcpu, &cs_db) ||
	    vmiop_ksym.x86_ops->get_cpl(vcpu))
		return false;
	return ve_gpa_in_agent(sess, vmiop_ve_translate(vcpu, kvm_get_linear_rip(vcpu)));
}

/*
 * The vCPU's IDT gate 20 is a present interrupt or trap gate whose handler
 * is agent code.  Read at each delivery: the guest may load another IDT,
 * or the gate may have been put back, at any time.
 */
static bool ve_gate_in_agent(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct gate_struct gate;
	struct desc_ptr idt;
	u64 addr;
	gpa_t gpa;

	vmiop_ksym.x86_ops->get_idt(vcpu, &idt);
	if (idt.size < (VMIOP_VE_VECTOR + 1) * sizeof(gate) - 1)
		return false;
	addr = idt.address + VMIOP_VE_VECTOR * sizeof(gate);
	if (offset_in_page(addr) > PAGE_SIZE - sizeof(gate))
		return false;
	gpa = vmiop_ve_translate(vcpu, addr);
	if (gpa == INVALID_GPA || kvm_vcpu_read_guest(vcpu, gpa, &gate, sizeof(gate)))
		return false;
	if (!gate.bits.p || (gate.bits.type != GATE_INTERRUPT && gate.bits.type != GATE_TRAP))
		return false;
	return ve_gpa_in_agent(sess, vmiop_ve_translate(vcpu, gate_offset(&gate)));
}

/* ---- delivery ----------------------------------------------------------- */

/*
 * The exit qualification the CPU would have written: the vendor's own
 * where it has one (VMX), else made from what the #NPF said.
 */
static u64 ve_qualification(const struct vmiop_exit *x)
{
	u64 q = 0;

	if (vmiop_vendor->ve_qualification)
		return vmiop_vendor->ve_qualification(x->vcpu);
	if (x->mem.access & VMIOP_ACCESS_W)
		q |= VMIOP_VE_QUAL_WRITE;
	else if (x->mem.access & VMIOP_ACCESS_X)
		q |= VMIOP_VE_QUAL_FETCH;
	else
		q |= VMIOP_VE_QUAL_READ;
	if (x->mem.rights & VMIOP_ACCESS_R)
		q |= VMIOP_VE_QUAL_READABLE;
	if (x->mem.rights & VMIOP_ACCESS_W)
		q |= VMIOP_VE_QUAL_WRITABLE;
	if (x->mem.rights & VMIOP_ACCESS_X)
		q |= VMIOP_VE_QUAL_EXECUTABLE;
	if (x->mem.flags & VMIOP_MEM_F_GLA_VALID)
		q |= VMIOP_VE_QUAL_GLA_VALID;
	if (!(x->mem.flags & VMIOP_MEM_F_PAGE_WALK))
		q |= VMIOP_VE_QUAL_FINAL;
	return q;
}

/* A #VE vmiop queued on @vcpu is still to be delivered (or re-delivered). */
static bool ve_in_flight(struct kvm_vcpu *vcpu)
{
	struct kvm_vcpu_arch *a = &vcpu->arch;

	if (vmiop_vendor->ve_delivery == VMIOP_VE_DELIVERY_EXCEPTION)
		return (a->exception.pending || a->exception.injected) &&
		       a->exception.vector == VMIOP_VE_VECTOR;
	return a->interrupt.injected && !a->interrupt.soft && a->interrupt.nr == VMIOP_VE_VECTOR;
}

static void ve_queue(struct kvm_vcpu *vcpu)
{
	if (vmiop_vendor->ve_delivery == VMIOP_VE_DELIVERY_EXCEPTION) {
		kvm_queue_exception(vcpu, VMIOP_VE_VECTOR);
		return;
	}
	/* KVM's kvm_queue_interrupt(): SVM injects it as EVENTINJ type INTR. */
	vcpu->arch.interrupt.soft = false;
	vcpu->arch.interrupt.nr = VMIOP_VE_VECTOR;
	vcpu->arch.interrupt.injected = true;
	kvm_make_request(KVM_REQ_EVENT, vcpu);
}

/*
 * Takes the #VE back before KVM injects it: the instruction faults again,
 * and its info page can take the next one.
 */
static void ve_withdraw(struct vmiop_vcpu *vv, struct kvm_vcpu *vcpu)
{
	struct kvm_vcpu_arch *a = &vcpu->arch;
	u32 idle = 0;

	if (ve_in_flight(vcpu)) {
		if (vmiop_vendor->ve_delivery == VMIOP_VE_DELIVERY_EXCEPTION) {
			/*
			 * Injected already (an entry cancelled, or delivery cut
			 * short): KVM set RF for the fault, and marked the
			 * exception as one going back in.
			 */
			if (a->exception.injected) {
				kvm_set_rflags(vcpu, kvm_get_rflags(vcpu) & ~X86_EFLAGS_RF);
				vv->exit.trap_redelivery = false;
			}
			a->exception.pending = false;
			a->exception.injected = false;
		} else {
			a->interrupt.injected = false;
		}
		kvm_vcpu_write_guest(vcpu, vv->ve.queued_gpa + offsetof(struct vmiop_ve_cpu, semaphore),
				     &idle, sizeof(idle));
	}
	WRITE_ONCE(vv->ve.queued, false);
}

/*
 * At the vCPU's park point before KVM injects events, or with its mutex
 * outside KVM_RUN: a #VE delivered by now is no longer vmiop's; one still
 * queued when the session is gone is withdrawn.
 */
void vmiop_ve_sync(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	if (!vv->ve.queued)
		return;
	if (!ve_in_flight(vcpu))
		WRITE_ONCE(vv->ve.queued, false);
	else if (READ_ONCE(sess->detached))
		ve_withdraw(vv, vcpu);
}

static bool ve_gate_in_agent(struct vmiop_session *sess, struct kvm_vcpu *vcpu);

/*
 * At the park point after the vCPU waited (paused, srcu held), before KVM
 * injects: the introspector may have put gate 20 back or moved the agent
 * meanwhile, and a #VE queued before must not reach what is there now.
 */
void vmiop_ve_recheck(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);

	if (vv->ve.queued && ve_in_flight(vcpu) && !ve_gate_in_agent(sess, vcpu))
		ve_withdraw(vv, vcpu);
}

/* Detach waits for a vCPU with a #VE queued (a look from any thread). */
bool vmiop_ve_queued(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	return READ_ONCE(sess->vcpus[vcpu->vcpu_idx].ve.queued);
}

/* The CPU would convert this violation, and the guest can take the #VE. */
static bool ve_convertible(struct vmiop_exit *x)
{
	struct kvm_vcpu *vcpu = x->vcpu;
	struct kvm_vcpu_arch *a = &vcpu->arch;
	bool cs_db;

	if (x->vv->ve.info_gpa == VMIOP_VE_INFO_NONE || !ve_long_mode(vcpu))
		return false;
	/*
	 * Kernel-mode 64-bit code only: the agent decodes 64-bit code, and a
	 * user-mode #VE would enter it on page tables (KPTI) that may not
	 * map it.  Page-table writes are kernel-mode.
	 */
	if (vmiop_ksym.x86_ops->get_cpl(vcpu) || !vmiop_code64(vcpu, &cs_db))
		return false;
	/* Delivering an event, or with one waiting: the CPU would exit. */
	if (x->mem.flags & VMIOP_MEM_F_EVENT_DELIVERY || a->exception.pending ||
	    a->exception.injected || a->interrupt.injected || a->nmi_injected)
		return false;
	/* The agent returns with IRET, which would unblock NMIs in an NMI handler. */
	if (vmiop_ksym.x86_ops->get_nmi_mask(vcpu))
		return false;
	/* Stepping over an access, pages open: the step ends first. */
	if (x->vv->mem.over)
		return false;
	return ve_gate_in_agent(x->sess, vcpu);
}

/* Writes the info page and queues the #VE; false: the vCPU takes the event. */
static bool ve_deliver(struct vmiop_exit *x)
{
	struct vmiop_vcpu *vv = x->vv;
	struct kvm_vcpu *vcpu = x->vcpu;
	u64 info = vv->ve.info_gpa;
	u32 busy = VMIOP_VE_SEMAPHORE_BUSY, sem;
	struct {
		u32 reason, semaphore;
		u64 qualification, gla, gpa, eptp_index;
	} head = {
		.reason = VMIOP_VE_REASON_EPT_VIOLATION,
		.qualification = ve_qualification(x),
		.gla = x->mem.flags & VMIOP_MEM_F_GLA_VALID ? x->mem.gla : 0,
		.gpa = x->mem.gpa,
	};

	static_assert(sizeof(head) == offsetof(struct vmiop_ve_cpu, reserved2));
	WRITE_ONCE(vv->ve.queued, true);
	/* Pairs with detach's: ->detached set, then ->queued looked at. */
	smp_mb();
	if (READ_ONCE(x->sess->detached))
		goto none;
	if (kvm_vcpu_read_guest(vcpu, info + offsetof(struct vmiop_ve_cpu, semaphore), &sem,
				sizeof(sem)) || sem)
		goto none;
	/* The payload first, then the semaphore that says it is there. */
	if (kvm_vcpu_write_guest(vcpu, info, &head, sizeof(head)) ||
	    kvm_vcpu_write_guest(vcpu, info + offsetof(struct vmiop_ve_cpu, semaphore), &busy,
				 sizeof(busy)))
		goto none;
	vv->ve.queued_gpa = info;
	vv->ve.delivered_gpa = x->mem.gpa;
	vv->ve.delivered_lip = kvm_get_linear_rip(vcpu);
	vv->ve.raise = false;
	ve_queue(vcpu);
	return true;
none:
	WRITE_ONCE(vv->ve.queued, false);
	return false;
}

/*
 * A violation of a convertible page (memaccess.c), on the vCPU's thread,
 * kvm->srcu held, before any event, with x->sess and x->vv the caller's:
 * a #VE for the agent, an access by the agent itself, or the event (an
 * access the agent raised is marked so).
 */
enum vmiop_ve_outcome vmiop_ve_fault(struct vmiop_exit *x)
{
	struct vmiop_vcpu *vv = x->vv;
	/* The raised access itself: the same instruction, the same byte. */
	if (vv->ve.raise) {
		vv->ve.raise = false;
		if (vv->ve.raise_gpa == x->mem.gpa &&
		    kvm_get_linear_rip(x->vcpu) == vv->ve.delivered_lip) {
			x->mem.flags |= VMIOP_MEM_F_AGENT;
			x->mem.old_value = vv->ve.raise_old;
			x->mem.new_value = vv->ve.raise_new;
			return VMIOP_VE_EVENT;
		}
	}
	/*
	 * The agent's own access: only to the page of the #VE it handles, and
	 * not one the CPU made delivering an event (KVM's emulator would
	 * drop that event).
	 */
	if (!(x->mem.flags & VMIOP_MEM_F_EVENT_DELIVERY) &&
	    gpa_to_gfn(x->mem.gpa) == gpa_to_gfn(vv->ve.delivered_gpa) &&
	    ve_rip_in_agent(x->sess, x->vcpu))
		return VMIOP_VE_AGENT_ACCESS;
	if (!(x->mem.flags & VMIOP_MEM_F_PAGE_WALK) && ve_convertible(x) && ve_deliver(x))
		return VMIOP_VE_DELIVERED;
	return VMIOP_VE_EVENT;
}

/* ---- the agent's hypercalls -------------------------------------------- */

static void ve_set_rax(struct kvm_vcpu *vcpu, u64 rax)
{
	vmiop_set_gprs(vcpu, &rax, NULL, NULL, NULL);
}

static u64 agent_key(const struct vmiop_exit *x)
{
	return x->index;
}

static void agent_fill(struct vmiop_exit *x, struct vmiop_event *e)
{
	e->agent.op = x->index;
	e->agent.args[0] = e->regs.rbx;
	e->agent.args[1] = e->regs.rcx;
	e->agent.info_gpa = x->vv->ve.info_gpa;
}

static bool agent_apply(struct vmiop_exit *x, const struct vmiop_event_reply *r)
{
	switch (r->action) {
	case VMIOP_ACTION_CONTINUE:
	case VMIOP_ACTION_SKIP:
		ve_set_rax(x->vcpu, VMIOP_VE_SUCCESS);
		break;
	case VMIOP_ACTION_SET_RESULT:
		ve_set_rax(x->vcpu, r->value);
		break;
	default:
		return vmiop_insn_apply(x, r);
	}
	x->ret = kvm_skip_emulated_instruction(x->vcpu);
	return true;
}

const struct vmiop_event_class vmiop_class_agent = {
	.takes = VMIOP_TAKES(CONTINUE) | VMIOP_TAKES(SKIP) | VMIOP_TAKES(SET_RESULT) |
		 VMIOP_TAKES(INJECT),
	.unavailable = vmiop_mem_unavailable,
	.key = agent_key,
	.fill = agent_fill,
	.interrupted = vmiop_insn_interrupted,
	.apply = agent_apply,
};

/*
 * The agent gives up on the access of its #VE: the instruction will fault
 * again, and that fault is the event (vmiop_ve_fault()), with what the
 * agent decoded.
 */
static u64 ve_raise(struct vmiop_session *sess, struct kvm_vcpu *vcpu)
{
	struct vmiop_vcpu *vv = vmiop_vcpu_own(sess, vcpu);
	u64 info = vv->ve.info_gpa;
	u32 sem;

	/* Only while it handles a #VE (semaphore set), for the access vmiop gave it. */
	if (info == VMIOP_VE_INFO_NONE ||
	    kvm_vcpu_read_guest(vcpu, info + offsetof(struct vmiop_ve_cpu, semaphore), &sem,
				sizeof(sem)) || sem != VMIOP_VE_SEMAPHORE_BUSY ||
	    kvm_vcpu_read_guest(vcpu, info + offsetof(struct vmiop_ve_cpu, gpa), &vv->ve.raise_gpa,
				sizeof(u64)) ||
	    kvm_vcpu_read_guest(vcpu, info + offsetof(struct vmiop_ve_cpu, old_value),
				&vv->ve.raise_old, sizeof(u64)) ||
	    kvm_vcpu_read_guest(vcpu, info + offsetof(struct vmiop_ve_cpu, new_value),
				&vv->ve.raise_new, sizeof(u64)) ||
	    vv->ve.raise_gpa != vv->ve.delivered_gpa)
		return VMIOP_VE_ERROR;
	vv->ve.raise = true;
	return VMIOP_VE_SUCCESS;
}

/*
 * Every VMCALL/VMMCALL first (exits.c): true if it is the agent's, settled
 * with *@ret.  The register test comes first, so that other hypercalls
 * cost nothing more.
 */
bool vmiop_ve_hypercall(struct kvm_vcpu *vcpu, int *ret)
{
	unsigned long *regs = vcpu->arch.regs;
	u64 op = regs[VCPU_REGS_RDX];
	struct vmiop_session *sess;
	bool agent;

	if (regs[VCPU_REGS_RAX] != VMIOP_VE_HCALL_RAX || regs[VCPU_REGS_RDI] != VMIOP_VE_HCALL_RDI ||
	    regs[VCPU_REGS_RSI] || op > VMIOP_VE_HCALL_RAISE_EPT || vmiop_in_l2(vcpu))
		return false;
	sess = vmiop_session_find(vcpu->kvm);
	if (!sess)
		return false;
	agent = ve_rip_in_agent(sess, vcpu);
	if (agent && (op == VMIOP_VE_HCALL_BREAK || op == VMIOP_VE_HCALL_TRACE)) {
		struct vmiop_exit x = { .vcpu = vcpu, .index = op };

		vmiop_session_put(sess);
		if (!vmiop_event_run(VMIOP_EVENT_AGENT, &x)) {
			/* the session went meanwhile */
			ve_set_rax(vcpu, VMIOP_VE_SUCCESS);
			x.ret = kvm_skip_emulated_instruction(vcpu);
		}
		*ret = x.ret;
		return true;
	}
	if (agent) {
		ve_set_rax(vcpu, op == VMIOP_VE_HCALL_RAISE_EPT ? ve_raise(sess, vcpu) :
				 VMIOP_VE_SUCCESS);
		*ret = kvm_skip_emulated_instruction(vcpu);
	}
	vmiop_session_put(sess);
	return agent;
}

/* ---- the ioctls --------------------------------------------------------- */

long vmiop_ioctl_set_ve_agent(struct vmiop_session *sess, struct vmiop_ve_agent *a)
{
	long ret = abi_check_ve_agent(a);

	if (ret)
		return ret;
	spin_lock(&sess->state_lock);
	sess->ve_code_gpa = a->code_gpa;
	WRITE_ONCE(sess->ve_code_len, a->code_len);
	spin_unlock(&sess->state_lock);
	return 0;
}

struct ve_info_call {
	struct vmiop_session *sess;
	u64 gpa;
};

/* On the vCPU's thread: a #VE for the old page not yet delivered is withdrawn. */
static int ve_set_info_fn(struct kvm_vcpu *vcpu, void *arg)
{
	struct ve_info_call *c = arg;
	struct vmiop_vcpu *vv = vmiop_vcpu_own(c->sess, vcpu);

	struct kvm_memory_slot *slot;

	if (c->gpa != VMIOP_VE_INFO_NONE) {
		slot = gfn_to_memslot(vcpu->kvm, gpa_to_gfn(c->gpa));
		/* Guest memory, not a page of KVM's own (APIC access, TSS...). */
		if (!slot || slot->id >= KVM_USER_MEM_SLOTS)
			return -ENXIO;
	}
	if (vv->ve.queued && c->gpa != vv->ve.info_gpa) {
		/*
		 * Its TRAP event waits for a reply inside KVM's injection,
		 * which has written the #VE to the VMCS already: the reply
		 * first.
		 */
		if (ve_in_flight(vcpu) &&
		    vmiop_event_pending_type(c->sess, vcpu) == VMIOP_EVENT_TRAP)
			return -EBUSY;
		ve_withdraw(vv, vcpu);
	}
	vv->ve.info_gpa = c->gpa;
	vv->ve.raise = false;
	return 0;
}

long vmiop_ioctl_set_ve_info(struct vmiop_session *sess, struct vmiop_ve_info *v)
{
	struct ve_info_call c = { .sess = sess, .gpa = v->gpa };
	long ret = abi_check_ve_info(v);

	if (ret)
		return ret;
	mutex_lock(&sess->lock);
	ret = vmiop_vcpu_call(sess, v->vcpu, ve_set_info_fn, &c);
	mutex_unlock(&sess->lock);
	return ret;
}

void vmiop_ve_vcpus_init(struct vmiop_session *sess)
{
	int i;

	for (i = 0; i < KVM_MAX_VCPUS; i++)
		sess->vcpus[i].ve.info_gpa = VMIOP_VE_INFO_NONE;
}
