// SPDX-License-Identifier: MIT
/*
 * Installing ve-agent's image into a running guest that did not
 * cooperate: memory of the session's own, mapped into the guest's kernel
 * address space, gate 20 pointed at the agent.  Everything written to the
 * guest's own memory is logged for undo, so uninstall, detach and the
 * introspector's death alike give the guest back what it had.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agent_plan.h"
#include "libvmiop.h"

extern const uint8_t _binary_agent_bin_start[], _binary_agent_bin_end[];

#define EFER_LMA	(1ull << 10)
#define EFER_NXE	(1ull << 11)
#define CR0_PG		(1ull << 31)
#define CR4_LA57	(1ull << 12)
#define GATE_PF		14

struct vmiop_agent {
	struct vmiop *v;
	struct vmiop_agent_layout l;
	struct agent_plan p;
};

static int agent_read_table(struct vmiop *v, uint64_t gpa, uint64_t table[512])
{
	return vmiop_read_pa(v, gpa & PTE_ADDR, table, 512 * sizeof(uint64_t));
}

/* The vCPUs' registers: each in 4-level long mode with a TSC_AUX of its own. */
static int agent_read_vcpus(struct vmiop *v, unsigned int nr, struct vmiop_regs *r,
			    uint32_t *tsc_aux)
{
	unsigned int i, j;
	int ret;

	for (i = 0; i < nr; i++) {
		ret = vmiop_get_regs(v, i, &r[i]);
		if (ret)
			return ret;
		if (!(r[i].efer & EFER_LMA) || !(r[i].cr0 & CR0_PG) || r[i].cr4 & CR4_LA57)
			return -EOPNOTSUPP;
		tsc_aux[i] = (uint32_t)r[i].tsc_aux;
		for (j = 0; j < i; j++)
			if (tsc_aux[j] == tsc_aux[i])
				return -ENOTUNIQ;
	}
	return 0;
}

/* The image, its configuration and the info pages and tables, in one buffer. */
static void agent_build(const struct vmiop_agent *a, bool amd, bool nxe, bool shared,
			const uint32_t *tsc_aux, uint8_t *mem)
{
	static const uint8_t vmmcall[] = VE_AGENT_VMMCALL;
	const struct ve_agent_header *hdr = (const void *)_binary_agent_bin_start;
	const struct agent_plan *p = &a->p;
	struct ve_agent_config *cfg;
	uint64_t *pud, *pmd, *pt;
	unsigned int i;

	memcpy(mem, _binary_agent_bin_start, hdr->image_size);
	if (amd)
		memcpy(mem + hdr->hcall, vmmcall, sizeof(vmmcall));
	cfg = (struct ve_agent_config *)(mem + hdr->config);
	cfg->info = a->l.va + p->info_off;
	cfg->cache = a->l.va + p->cache_off;
	cfg->nr_cpus = p->nr_vcpus;
	for (i = 0; i < p->nr_vcpus; i++) {
		struct vmiop_ve_cpu *c = (void *)(mem + p->info_off + i * AGENT_PAGE);

		cfg->tsc_aux[i] = tsc_aux[i];
		c->protected_stack = a->l.va + p->stacks_off + (i + 1) * VMIOP_VE_STACK_SIZE - 16;
		c->self = a->l.va + p->info_off + i * AGENT_PAGE;
		c->index = i;
	}
	pud = (uint64_t *)(mem + p->pud_off);
	pmd = (uint64_t *)(mem + p->pmd_off);
	pt = (uint64_t *)(mem + p->pt_off);
	if (!shared)
		pud[0] = agent_table_entry(a->l.gpa + p->pmd_off);
	pmd[0] = agent_table_entry(a->l.gpa + p->pt_off);
	for (i = 0; i < AGENT_PAGES; i++)
		pt[i] = agent_leaf(p, a->l.gpa, i, nxe);
}

/*
 * The logged writes back, then the memory; the VM paused (once) and the
 * agent unregistered, so a vCPU inside it only has to finish.
 */
static int agent_release(struct vmiop *v)
{
	struct vmiop_vm_info info = { 0 };
	unsigned int tries;
	int ret;

	for (tries = 0;; tries++) {
		ret = vmiop_undo(v, VMIOP_UNDO_F_MEMORY, NULL, NULL);
		if (ret != -EBUSY || tries == 1000)
			return ret;
		/* A vCPU is inside the agent: it returns within moments. */
		if (vmiop_vm_info(v, &info) || info.pause_count != 1)
			return ret;
		ret = vmiop_resume(v);
		if (ret < 0)
			return ret;
		usleep(1000);
		ret = vmiop_pause(v);
		if (ret < 0)
			return ret;
	}
}

/*
 * No #VE from here on; the agent's code stays known to vmiop (its
 * accesses and hypercalls are the agent's) until no vCPU is inside it.
 */
static int agent_unregister(struct vmiop_agent *a, unsigned int nr_info)
{
	unsigned int i;
	int ret;

	for (i = 0; i < nr_info; i++) {
		ret = vmiop_set_ve_info(a->v, i, VMIOP_VE_INFO_NONE);
		if (ret)
			return ret;
	}
	return vmiop_set_mem_access(a->v, a->l.code_gpa / AGENT_PAGE, a->l.code_len / AGENT_PAGE,
				    VMIOP_ACCESS_RWX);
}

/* After agent_release(): nothing of the agent is left to know. */
static void agent_forget(struct vmiop_agent *a)
{
	vmiop_set_ve_agent(a->v, 0, 0);
}

int vmiop_agent_install(struct vmiop *v, const struct vmiop_agent_opts *opts,
			struct vmiop_agent **out)
{
	const struct ve_agent_header *hdr = (const void *)_binary_agent_bin_start;
	uint64_t size = (uint64_t)(_binary_agent_bin_end - _binary_agent_bin_start);
	uint64_t pml4[512], pud[512], gate[2], hook_gpa, hook;
	uint32_t tsc_aux[VMIOP_VE_MAX_CPUS];
	struct vmiop_regs *regs = NULL;
	struct vmiop_event_caps caps;
	struct vmiop_vm_info info = { 0 };
	struct vmiop_api api = { 0 };
	struct vmiop_agent *a;
	unsigned int l4, l3, nr_info = 0;
	bool shared, have_pud;
	uint8_t *mem = NULL;
	int ret;

	if (opts && (opts->flags || opts->reserved))
		return -EINVAL;
	if (memcmp(hdr->magic, VE_AGENT_MAGIC, 8) || hdr->image_size != size ||
	    hdr->config + sizeof(struct ve_agent_config) > size || hdr->hcall + 3 > size)
		return -ENOEXEC;
	ret = vmiop_get_api(v, &api) ?: vmiop_vm_info(v, &info) ?: vmiop_event_caps(v, &caps);
	if (ret)
		return ret;
	/* The agent finds its vCPU with RDTSCP: without it, a #UD in the agent. */
	if (!(api.features & VMIOP_FEAT_OWN_MEMORY) ||
	    caps.ve_delivery == VMIOP_VE_DELIVERY_NONE ||
	    !(info.guest_features & VMIOP_GUEST_RDTSCP))
		return -EOPNOTSUPP;
	if (!info.pause_count)
		return -EBUSY;
	a = calloc(1, sizeof(*a));
	regs = calloc(info.nr_vcpus ? info.nr_vcpus : 1, sizeof(*regs));
	if (!a || !regs) {
		ret = -ENOMEM;
		goto out;
	}
	a->v = v;
	ret = agent_plan_layout(&a->p, size, hdr->code_size, info.nr_vcpus);
	if (ret)
		goto out;
	ret = agent_read_vcpus(v, info.nr_vcpus, regs, tsc_aux);
	if (ret)
		goto out;

	/* Gate 20 of vCPU 0's IDT (Linux has one for all), its selector gate 14's. */
	ret = -EOPNOTSUPP;
	if (regs[0].idtr_limit < (VMIOP_VE_VECTOR + 1) * 16 - 1)
		goto out;
	ret = vmiop_translate(v, 0, regs[0].idtr_base + VMIOP_VE_VECTOR * 16, &a->l.idt_gpa);
	if (ret)
		goto out;
	ret = vmiop_translate(v, 0, regs[0].idtr_base + GATE_PF * 16, &hook_gpa) ?:
	      vmiop_read_pa(v, hook_gpa, gate, sizeof(gate));
	if (ret)
		goto out;
	ret = -EOPNOTSUPP;
	if (!(gate[0] >> 47 & 1) || (a->l.idt_gpa & 4095) > 4096 - 16)
		goto out;

	ret = agent_read_table(v, regs[0].cr3, pml4);
	if (ret)
		goto out;
	/* Linux's cpu_entry_area is where its IDT is read from: the slot is that. */
	have_pud = regs[0].idtr_base == AGENT_CEA_BASE &&
		   (pml4[AGENT_CEA_SLOT] & (PTE_P | PTE_PS)) == PTE_P &&
		   !agent_read_table(v, pml4[AGENT_CEA_SLOT], pud);
	ret = -ENOSPC;
	if (!agent_plan_place(pml4, have_pud ? pud : NULL, &shared, &l4, &l3))
		goto out;

	a->l.gpa = opts ? opts->gpa : 0;
	ret = vmiop_add_memory(v, &a->l.gpa, AGENT_MEM_LEN);
	if (ret)
		goto out;
	a->l.len = AGENT_MEM_LEN;
	a->l.va = agent_va(l4, l3);
	a->l.code_gpa = a->l.gpa;
	a->l.code_len = a->p.code_len;
	a->l.info_gpa = a->l.gpa + a->p.info_off;
	a->l.cache_gpa = a->l.gpa + a->p.cache_off;
	a->l.config_gpa = a->l.gpa + hdr->config;
	a->l.nr_vcpus = info.nr_vcpus;

	mem = calloc(1, AGENT_MEM_LEN);
	ret = -ENOMEM;
	if (!mem)
		goto out_release;
	agent_build(a, api.host_vendor == VMIOP_VENDOR_AMD, regs[0].efer & EFER_NXE, shared,
		    tsc_aux, mem);
	ret = vmiop_write_pa(v, a->l.gpa, mem, AGENT_MEM_LEN);
	if (ret)
		goto out_release;

	/* The guest's own memory from here on: every write logged for undo. */
	if (shared) {
		hook_gpa = (pml4[AGENT_CEA_SLOT] & PTE_ADDR) + l3 * 8;
		hook = agent_table_entry(a->l.gpa + a->p.pmd_off);
	} else {
		hook_gpa = (regs[0].cr3 & PTE_ADDR) + l4 * 8;
		hook = agent_table_entry(a->l.gpa + a->p.pud_off);
	}
	ret = vmiop_write_pa_undo(v, hook_gpa, &hook, sizeof(hook));
	if (ret)
		goto out_release;
	agent_gate(gate, a->l.va + hdr->entry, (uint16_t)(gate[0] >> 16));
	ret = vmiop_write_pa_undo(v, a->l.idt_gpa, gate, sizeof(gate));
	if (ret)
		goto out_release;

	ret = vmiop_set_mem_access(v, a->l.code_gpa / AGENT_PAGE, a->l.code_len / AGENT_PAGE,
				   VMIOP_ACCESS_R | VMIOP_ACCESS_X) ?:
	      vmiop_set_ve_agent(v, a->l.code_gpa, a->l.code_len);
	if (ret)
		goto out_unregister;
	for (nr_info = 0; nr_info < info.nr_vcpus; nr_info++) {
		ret = vmiop_set_ve_info(v, nr_info, a->l.info_gpa + nr_info * AGENT_PAGE);
		if (ret)
			goto out_unregister;
	}
	*out = a;
	a = NULL;
	goto out;

out_unregister:
	/* Best effort, the install having failed: what stays goes at detach. */
	agent_unregister(a, nr_info);
out_release:
	if (!agent_release(v))
		agent_forget(a);
out:
	free(mem);
	free(regs);
	free(a);
	return ret;
}

int vmiop_agent_uninstall(struct vmiop_agent *a)
{
	struct vmiop_vm_info info = { 0 };
	int ret;

	ret = vmiop_vm_info(a->v, &info);
	if (!ret && !info.pause_count)
		ret = -EBUSY;
	ret = ret ?: agent_unregister(a, a->l.nr_vcpus) ?: agent_release(a->v);
	if (ret)
		return ret;	/* @a stays: uninstall again */
	agent_forget(a);
	free(a);
	return 0;
}

const struct vmiop_agent_layout *vmiop_agent_layout(const struct vmiop_agent *a)
{
	return &a->l;
}

int vmiop_agent_counters(struct vmiop_agent *a, unsigned int vcpu, struct vmiop_agent_counters *c)
{
	struct vmiop_ve_cpu info;
	struct ve_agent_config cfg;
	int ret;

	if (vcpu >= a->l.nr_vcpus)
		return -ENOENT;
	ret = vmiop_read_pa(a->v, a->l.info_gpa + vcpu * AGENT_PAGE, &info, sizeof(info)) ?:
	      vmiop_read_pa(a->v, a->l.config_gpa, &cfg, sizeof(cfg));
	if (ret)
		return ret;
	c->total = info.ve_total;
	c->page_table = info.ve_mm;
	c->page_walk = info.ve_page_walk;
	c->ignored = info.ve_ignored_total;
	c->ignored_cache = info.ve_ignored_cache;
	c->ignored_irrelevant = info.ve_ignored_irrelevant;
	c->unknown_cpu = cfg.unknown_cpu;
	c->redelivered = cfg.redelivered;
	return 0;
}
