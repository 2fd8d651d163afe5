// SPDX-License-Identifier: GPL-2.0
/*
 * Symbols vmiop needs that neither the kernel nor KVM export.  Every one is
 * listed here; if any is missing the module refuses to load, naming it, so a
 * kernel with a different layout is never guessed at.
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

static const struct {
	const char *name;
	void **slot;
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
};

int vmiop_ksyms_init(void)
{
	int i, ret;

	ret = vmiop_find_kallsyms();
	if (ret)
		return ret;

	for (i = 0; i < ARRAY_SIZE(vmiop_ksym_table); i++) {
		unsigned long addr = vmiop_lookup_name(vmiop_ksym_table[i].name);

		if (!addr) {
			pr_err("required symbol %s not found in this kernel\n",
			       vmiop_ksym_table[i].name);
			return -ENOENT;
		}
		*vmiop_ksym_table[i].slot = (void *)addr;
	}
	return 0;
}
