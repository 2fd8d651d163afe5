/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Installing ve-agent's image into a test VM's identity-mapped guest, as
 * an introspector would: for the #VE tests and the benchmark.  Link the
 * program with build/ve-agent/agent_blob.o.
 */
#ifndef VMIOP_VE_INSTALL_H
#define VMIOP_VE_INSTALL_H

#include <linux/vmiop_ve.h>
#include "agent.h"
#include "vmiop_test.h"

#define VE_PAGE		4096ULL

/* The VM's IDT (one for every vCPU); before its vCPUs run (KVM_GET_SREGS). */
static inline uint64_t idt_of(struct tvm *tvm)
{
	struct kvm_sregs sregs;

	tvm_get_sregs(tvm_vcpu(tvm, 0), &sregs);
	return sregs.idt.base;
}

/* IDT gate 20 at @idt to @handler: a plain write, vCPUs running or not. */
static inline void set_gate(struct tvm *tvm, uint64_t idt, uint64_t handler)
{
	uint64_t *gate = tvm_gpa2hva(tvm, idt + 16 * VMIOP_VE_VECTOR);

	gate[0] = (handler & 0xffff) | ((uint64_t)TVM_SEL_CODE << 16) | (0x8eULL << 40) |
		  ((handler >> 16 & 0xffff) << 48);
	gate[1] = handler >> 32;
}

#define MSR_TSC_AUX	0xc0000103

struct agent_vm {
	struct tvm *tvm;
	struct vmiop *v;
	struct vmiop_ring *ring;
	struct vmiop_agent *agent;
	const struct vmiop_agent_layout *l;
};

/*
 * Gives each vCPU a TSC_AUX of its own, as Linux does (node << 12 | CPU):
 * before its thread runs (KVM_SET_MSRS waits for KVM_RUN to return).
 */
static inline void agent_name_vcpus(struct tvm *tvm, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		tvm_set_msr(tvm_vcpu(tvm, i), MSR_TSC_AUX, i);
}

/*
 * Installs ve-agent as libvmiop does into a guest that did not cooperate:
 * the session's own memory, mapped in a free top-level slot of the
 * guest's page tables, gate 20, the info pages registered.
 */
static inline void agent_install(struct agent_vm *a, unsigned int nr)
{
	ASSERT_EQ(vmiop_pause(a->v), 1);
	ASSERT_EQ(vmiop_agent_install(a->v, NULL, &a->agent), 0);
	ASSERT_EQ(vmiop_resume(a->v), 0);
	a->l = vmiop_agent_layout(a->agent);
	ASSERT_EQ(a->l->nr_vcpus, nr);
}

/*
 * A copy of vCPU @vcpu's info page as it is now, valid until the next
 * call for that vCPU.  (A mapping would hold the session's file, which
 * must go with vmiop_close() for the tests of detach.)
 */
static inline const struct vmiop_ve_cpu *agent_info(struct agent_vm *a, unsigned int vcpu)
{
	static struct vmiop_ve_cpu copy[VMIOP_VE_MAX_CPUS];

	ASSERT_LT(vcpu, VMIOP_VE_MAX_CPUS);
	ASSERT_EQ(vmiop_read_pa(a->v, a->l->info_gpa + vcpu * VE_PAGE, &copy[vcpu],
				sizeof(copy[vcpu])), 0);
	return &copy[vcpu];
}

static inline uint64_t agent_redelivered(struct agent_vm *a)
{
	struct vmiop_agent_counters c;

	ASSERT_EQ(vmiop_agent_counters(a->agent, 0, &c), 0);
	return c.redelivered;
}

#endif
