// SPDX-License-Identifier: GPL-2.0
/*
 * Symbols vmiop calls or reads that neither the kernel nor KVM export, the
 * vendor module's included: every one is listed here, with its prototype in
 * struct vmiop_ksyms.  A required one missing refuses the load, naming it.
 * The KVM functions vmiop redirects are hooks.c's table, found the same
 * way; the offsets into KVM's private structures come from its BTF
 * (layout.c).
 */
#include <linux/kprobes.h>
#include "vmiop.h"

struct vmiop_ksyms vmiop_ksym;

static unsigned long (*kallsyms_lookup_name_fn)(const char *name);

/*
 * kallsyms_lookup_name() is not exported since 5.7; a kprobe resolves its
 * address once (registering needs no symbol export), then is dropped.
 */
static int vmiop_find_kallsyms(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int ret = register_kprobe(&kp);

	if (ret < 0) {
		pr_err("cannot resolve kallsyms_lookup_name (kprobe: %d)\n", ret);
		return ret;
	}
	kallsyms_lookup_name_fn = (void *)kp.addr;
	unregister_kprobe(&kp);
	return 0;
}

unsigned long vmiop_lookup_name(const char *name)
{
	return kallsyms_lookup_name_fn ? kallsyms_lookup_name_fn(name) : 0;
}

#define KSYM(field, symbol) { symbol, (void **)&vmiop_ksym.field }
#define KSYM_VENDOR(v, field, symbol, opt) \
	{ symbol, (void **)&vmiop_ksym.field, .vendor = v, .optional = opt }

static const struct {
	const char *name;
	void **slot;
	u32 vendor;	/* enum vmiop_vendor; 0: needed on both */
	bool optional;	/* absence has a meaning (see struct vmiop_ksyms) */
} vmiop_ksym_table[] = {
	KSYM(ptrace_may_access, "ptrace_may_access"),
	KSYM(fget_task, "fget_task"),
	KSYM(module_address, "__module_address"),
	KSYM(get_regs, "kvm:__get_regs"),
	KSYM(set_regs, "kvm:__set_regs"),
	KSYM(get_sregs, "kvm:__get_sregs"),
	KSYM(set_sregs, "kvm:__set_sregs"),
	KSYM(get_msr, "kvm:__kvm_get_msr"),
	KSYM(set_msr, "kvm:__kvm_set_msr"),
	KSYM(set_xcr, "kvm:__kvm_set_xcr"),
	KSYM(vm_list, "kvm:vm_list"),
	KSYM(kvm_lock, "kvm:kvm_lock"),
	KSYM(x86_ops, "kvm:kvm_x86_ops"),
	KSYM(tdp_enabled, "kvm:tdp_enabled"),
	KSYM(zap_gfn_range, "kvm:kvm_zap_gfn_range"),
	KSYM(gfn_disallow_lpage, "kvm:kvm_mmu_gfn_disallow_lpage"),
	KSYM(gfn_allow_lpage, "kvm:kvm_mmu_gfn_allow_lpage"),
	KSYM(shadow_user_mask, "kvm:shadow_user_mask"),
	KSYM(shadow_x_mask, "kvm:shadow_x_mask"),
	KSYM(shadow_nx_mask, "kvm:shadow_nx_mask"),
	KSYM(shadow_present_mask, "kvm:shadow_present_mask"),
	KSYM(shadow_mmu_writable_mask, "kvm:shadow_mmu_writable_mask"),
	KSYM(shadow_acc_track_mask, "kvm:shadow_acc_track_mask"),
	KSYM(x86_emulate_instruction, "kvm:x86_emulate_instruction"),
	KSYM_VENDOR(0, insn_decode, "insn_decode", true),
	KSYM_VENDOR(VMIOP_VENDOR_AMD, svm_set_msr_interception, "kvm_amd:set_msr_interception",
		    false),
	KSYM_VENDOR(VMIOP_VENDOR_INTEL, vmx_enable_intercept_for_msr,
		    "kvm_intel:vmx_enable_intercept_for_msr", false),
	KSYM_VENDOR(VMIOP_VENDOR_INTEL, vmx_disable_intercept_for_msr,
		    "kvm_intel:vmx_disable_intercept_for_msr", false),
	KSYM_VENDOR(VMIOP_VENDOR_INTEL, vmx_unrestricted_guest,
		    "kvm_intel:enable_unrestricted_guest", true),
	KSYM_VENDOR(VMIOP_VENDOR_INTEL, vmx_enable_evmcs, "kvm_intel:enable_evmcs", false),
};

/* The table's entries for @vendor (0: those needed on both). */
static int vmiop_ksyms_resolve(u32 vendor)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(vmiop_ksym_table); i++) {
		unsigned long addr;

		if (vmiop_ksym_table[i].vendor != vendor)
			continue;
		addr = vmiop_lookup_name(vmiop_ksym_table[i].name);
		if (!addr && !vmiop_ksym_table[i].optional) {
			pr_err("required symbol %s not found in this kernel\n",
			       vmiop_ksym_table[i].name);
			return -ENOENT;
		}
		*vmiop_ksym_table[i].slot = (void *)addr;
	}
	return 0;
}

int vmiop_ksyms_init(void)
{
	return vmiop_find_kallsyms() ?: vmiop_ksyms_resolve(0);
}

/* Once the vendor module is pinned (main.c): its addresses stay valid. */
int vmiop_ksyms_init_vendor(u32 vendor)
{
	return vmiop_ksyms_resolve(vendor);
}
