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

extern const uint8_t _binary_agent_bin_start[], _binary_agent_bin_end[];

struct agent_vm {
	struct tvm *tvm;
	struct vmiop *v;
	struct vmiop_ring *ring;
	uint64_t base, info;	/* the image, the first info page */
	const struct ve_agent_header *hdr;
};

/*
 * Installs ve-agent's image as an introspector would into this identity-
 * mapped guest: copied to guest memory, the hypercall made the vendor's,
 * one info page and protected stack per vCPU, TSC_AUX naming each vCPU,
 * gate 20, its code registered and kept r-x.
 */
static inline void agent_install(struct agent_vm *a, unsigned int nr)
{
	static const uint8_t vmmcall[] = VE_AGENT_VMMCALL;
	size_t size = _binary_agent_bin_end - _binary_agent_bin_start;
	uint64_t stacks, idt;
	struct ve_agent_config *cfg;
	unsigned int i;
	uint8_t *img;

	ASSERT_LE(nr, VE_AGENT_MAX_CPUS);
	a->hdr = (const void *)_binary_agent_bin_start;
	ASSERT_EQ(memcmp(a->hdr->magic, VE_AGENT_MAGIC, 8), 0);
	ASSERT_EQ(a->hdr->image_size, size);
	idt = idt_of(a->tvm);
	a->base = tvm_alloc_gpa(a->tvm, size, VE_PAGE);
	a->info = tvm_alloc_gpa(a->tvm, nr * VE_PAGE, VE_PAGE);
	stacks = tvm_alloc_gpa(a->tvm, nr * VMIOP_VE_STACK_SIZE, VE_PAGE);
	img = tvm_gpa2hva(a->tvm, a->base);
	memcpy(img, _binary_agent_bin_start, size);
	if (!vt_host_is_intel(a->v))
		memcpy(img + a->hdr->hcall, vmmcall, sizeof(vmmcall));
	cfg = (struct ve_agent_config *)(img + a->hdr->config);
	cfg->info = a->info;
	cfg->nr_cpus = nr;
	for (i = 0; i < nr; i++) {
		struct vmiop_ve_cpu *c = tvm_gpa2hva(a->tvm, a->info + i * VE_PAGE);

		cfg->tsc_aux[i] = 0x100 + i;
		tvm_set_msr(tvm_vcpu(a->tvm, i), MSR_TSC_AUX, 0x100 + i);
		c->protected_stack = stacks + (i + 1) * VMIOP_VE_STACK_SIZE - 16;
		c->self = a->info + i * VE_PAGE;
		c->index = i;
	}
	set_gate(a->tvm, idt, a->base + a->hdr->entry);
	ASSERT_EQ(vmiop_set_ve_agent(a->v, a->base, a->hdr->code_size), 0);
	ASSERT_EQ(vmiop_set_mem_access(a->v, a->base / VE_PAGE, a->hdr->code_size / VE_PAGE,
				       VMIOP_ACCESS_R | VMIOP_ACCESS_X), 0);
	ASSERT_EQ(vmiop_pause(a->v), 1);
	for (i = 0; i < nr; i++)
		ASSERT_EQ(vmiop_set_ve_info(a->v, i, a->info + i * VE_PAGE), 0);
	ASSERT_EQ(vmiop_resume(a->v), 0);
}

static inline struct vmiop_ve_cpu *agent_info(struct agent_vm *a, unsigned int vcpu)
{
	return tvm_gpa2hva(a->tvm, a->info + vcpu * VE_PAGE);
}

static inline uint64_t agent_redelivered(struct agent_vm *a)
{
	const struct ve_agent_config *cfg = tvm_gpa2hva(a->tvm, a->base + a->hdr->config);

	return cfg->redelivered;
}

#endif
