// SPDX-License-Identifier: GPL-2.0
/*
 * KVM's structure layouts, read from the running kernel's own BTF at load
 * (/sys/kernel/btf/vmlinux, kvm, kvm_amd or kvm_intel; Debian and every
 * major distribution build it, CONFIG_DEBUG_INFO_BTF_MODULES):
 *
 *  - the private ones vmiop reaches into (where struct vcpu_svm keeps its
 *    current VMCB, where struct loaded_vmcs keeps the VMCS control shadow,
 *    how big struct x86_exception is) come from there, not from a guess;
 *  - the public ones vmiop was compiled against (struct kvm_vcpu and the
 *    members it uses) are checked against the running kvm.ko, so a module
 *    built against other headers or another configuration never runs.
 *
 * Anything not found or different refuses the load with one log line
 * naming it.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include "kbtf.h"
#include "vmiop.h"

struct vmiop_layout vmiop_layout;

/* Tests only: a wrong expectation, which the load must refuse. */
static uint test_layout_skew;
module_param(test_layout_skew, uint, 0444);
MODULE_PARM_DESC(test_layout_skew,
		 "tests only: expect struct kvm_vcpu this many bytes larger (the load fails)");

struct vmiop_btf_file {
	const char *name;
	void *data;
	u32 *index;
	struct kbtf b;
};

static int vmiop_btf_read(struct vmiop_btf_file *f, const struct kbtf *base)
{
	char path[64];
	struct file *file;
	loff_t size, pos = 0;
	int ret;

	snprintf(path, sizeof(path), "/sys/kernel/btf/%s", f->name);
	file = filp_open(path, O_RDONLY, 0);
	if (IS_ERR(file)) {
		pr_err("cannot read %s (%ld): vmiop takes KVM's layouts from the kernel's BTF (CONFIG_DEBUG_INFO_BTF_MODULES)\n",
		       path, PTR_ERR(file));
		return PTR_ERR(file);
	}
	size = i_size_read(file_inode(file));
	ret = -EINVAL;
	if (size <= 0 || size > SZ_64M)
		goto out;
	ret = -ENOMEM;
	f->data = kvmalloc(size, GFP_KERNEL);
	if (!f->data)
		goto out;
	while (pos < size) {
		ssize_t n = kernel_read(file, f->data + pos, size - pos, &pos);

		if (n <= 0) {
			ret = n ? n : -EIO;
			goto out;
		}
	}
	ret = kbtf_parse(&f->b, f->data, size, base, NULL, 0);
	if (!ret) {
		f->index = kvmalloc_array(f->b.nr, sizeof(*f->index), GFP_KERNEL);
		ret = f->index ? kbtf_parse(&f->b, f->data, size, base, f->index, f->b.nr) :
				 -ENOMEM;
	}
	if (ret)
		pr_err("%s: not BTF this module can read (%d)\n", path, ret);
out:
	filp_close(file, NULL);
	return ret;
}

static void vmiop_btf_free(struct vmiop_btf_file *f)
{
	kvfree(f->index);
	kvfree(f->data);
}

/* Member @m of struct @s in @f: its offset and type, or a logged -ENOENT. */
static int vmiop_layout_member(const struct vmiop_btf_file *f, const char *s, const char *m,
			       u32 *off, u32 *type)
{
	u32 id = kbtf_find(&f->b, BTF_KIND_STRUCT, s);

	if (id && !kbtf_member(&f->b, id, m, off, type))
		return 0;
	pr_err("%s: no struct %s member %s: a KVM this vmiop does not know\n", f->name, s, m);
	return -ENOENT;
}

/* Member @m of struct @s is at @want in @f, or a logged -EINVAL. */
static int vmiop_layout_expect(const struct vmiop_btf_file *f, const char *s, const char *m,
			       u32 want)
{
	u32 off, type;

	if (vmiop_layout_member(f, s, m, &off, &type))
		return -ENOENT;
	if (off == want)
		return 0;
	pr_err("%s: struct %s member %s at %u, vmiop was built for %u: rebuild it for this kernel\n",
	       f->name, s, m, off, want);
	return -EINVAL;
}

#define PUBLIC(s, m) { #s, #m, offsetof(struct s, m) }

/* What vmiop reads of KVM's public structures, as its headers laid them out. */
static const struct {
	const char *s, *m;
	u32 off;
} vmiop_public_members[] = {
	PUBLIC(kvm_vcpu, kvm),
	PUBLIC(kvm_vcpu, mutex),
	PUBLIC(kvm_vcpu, vcpu_idx),
	PUBLIC(kvm_vcpu, guest_debug),
	PUBLIC(kvm_vcpu, run),
	PUBLIC(kvm_vcpu, wants_to_run),
	PUBLIC(kvm_vcpu, stat),
	PUBLIC(kvm_vcpu, arch),
	PUBLIC(kvm_vcpu, requests),
	PUBLIC(kvm_vcpu_arch, regs),
	PUBLIC(kvm_vcpu_arch, cr2),
	PUBLIC(kvm_vcpu_arch, dr6),
	PUBLIC(kvm_vcpu_arch, msr_misc_features_enables),
	PUBLIC(kvm_vcpu_arch, cr0),
	PUBLIC(kvm_vcpu_arch, cr4),
	PUBLIC(kvm_vcpu_arch, efer),
	PUBLIC(kvm_vcpu_arch, hflags),
	PUBLIC(kvm_vcpu_arch, mp_state),
	PUBLIC(kvm_vcpu_arch, exception),
	PUBLIC(kvm_vcpu_arch, event_exit_inst_len),
	PUBLIC(kvm_vcpu_arch, xcr0),
	PUBLIC(kvm_vcpu_arch, maxphyaddr),
	PUBLIC(kvm_vcpu_arch, singlestep_rip),
	PUBLIC(kvm_vcpu_arch, guest_state_protected),
	PUBLIC(kvm, mm),
	PUBLIC(kvm, online_vcpus),
	PUBLIC(kvm, vm_list),
	PUBLIC(kvm, srcu),
	PUBLIC(kvm, userspace_pid),
	PUBLIC(kvm, dirty_ring_size),
	PUBLIC(kvm, vcpu_array),
};

/* And their sizes. */
#define PUBLIC_SIZE(s) { #s, sizeof(struct s) }
static const struct {
	const char *s;
	u32 size;
} vmiop_public_sizes[] = {
	PUBLIC_SIZE(kvm),
	PUBLIC_SIZE(kvm_vcpu_arch),
	PUBLIC_SIZE(kvm_run),
};

static int vmiop_layout_public(const struct vmiop_btf_file *kvm)
{
	u32 id = kbtf_find(&kvm->b, BTF_KIND_STRUCT, "kvm_vcpu");
	u32 size = id ? kbtf_size(&kvm->b, id) : 0;
	u32 want = sizeof(struct kvm_vcpu) + test_layout_skew;
	int i, ret = 0;

	if (size != want) {
		pr_err("%s: struct kvm_vcpu is %u bytes, vmiop was built for %u: rebuild it for this kernel\n",
		       kvm->name, size, want);
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(vmiop_public_sizes); i++) {
		id = kbtf_find(&kvm->b, BTF_KIND_STRUCT, vmiop_public_sizes[i].s);
		size = id ? kbtf_size(&kvm->b, id) : 0;
		if (size != vmiop_public_sizes[i].size) {
			pr_err("%s: struct %s is %u bytes, vmiop was built for %u: rebuild it for this kernel\n",
			       kvm->name, vmiop_public_sizes[i].s, size, vmiop_public_sizes[i].size);
			return -EINVAL;
		}
	}
	for (i = 0; i < ARRAY_SIZE(vmiop_public_members) && !ret; i++)
		ret = vmiop_layout_expect(kvm, vmiop_public_members[i].s,
					  vmiop_public_members[i].m, vmiop_public_members[i].off);
	if (ret)
		return ret;

	/* Private to KVM: vmiop passes a larger stand-in. */
	id = kbtf_find(&kvm->b, BTF_KIND_STRUCT, "x86_exception");
	size = id ? kbtf_size(&kvm->b, id) : 0;
	if (!size || size > sizeof(struct vmiop_x86_exception)) {
		pr_err("%s: struct x86_exception is %u bytes, vmiop has room for %zu\n",
		       kvm->name, size, sizeof(struct vmiop_x86_exception));
		return -EINVAL;
	}
	return 0;
}

/* SVM: struct vcpu_svm { struct kvm_vcpu vcpu; struct vmcb *vmcb; ... }. */
static int vmiop_layout_svm(const struct vmiop_btf_file *f)
{
	u32 off, type;

	if (vmiop_layout_expect(f, "vcpu_svm", "vcpu", 0) ||
	    vmiop_layout_member(f, "vcpu_svm", "vmcb", &off, &type))
		return -ENOENT;
	if (!kbtf_is_ptr_to_struct(&f->b, type, "vmcb")) {
		pr_err("%s: struct vcpu_svm member vmcb is not a struct vmcb *\n", f->name);
		return -EINVAL;
	}
	vmiop_layout.svm_vmcb = off;
	return 0;
}

/*
 * VMX: struct vcpu_vmx { struct kvm_vcpu vcpu; ... struct loaded_vmcs
 * *loaded_vmcs; }, and struct loaded_vmcs's controls_shadow, whose first
 * five u32 vmx.c reads and writes (struct vmx_controls_shadow).
 */
static int vmiop_layout_vmx(const struct vmiop_btf_file *f)
{
	static const char *const fields[] = { "vm_entry", "vm_exit", "pin", "exec",
					      "secondary_exec" };
	u32 loaded, vmcs01, shadow, type, id, off;
	int i;

	if (vmiop_layout_expect(f, "vcpu_vmx", "vcpu", 0) ||
	    vmiop_layout_member(f, "vcpu_vmx", "loaded_vmcs", &loaded, &type))
		return -ENOENT;
	if (!kbtf_is_ptr_to_struct(&f->b, type, "loaded_vmcs")) {
		pr_err("%s: struct vcpu_vmx member loaded_vmcs is not a struct loaded_vmcs *\n",
		       f->name);
		return -EINVAL;
	}
	if (vmiop_layout_member(f, "vcpu_vmx", "vmcs01", &vmcs01, &type))
		return -ENOENT;
	if (!kbtf_is_struct(&f->b, type, "loaded_vmcs")) {
		pr_err("%s: struct vcpu_vmx member vmcs01 is not a struct loaded_vmcs\n", f->name);
		return -EINVAL;
	}
	if (vmiop_layout_member(f, "loaded_vmcs", "controls_shadow", &shadow, &type))
		return -ENOENT;
	id = kbtf_resolve(&f->b, type);
	if (!kbtf_is_struct(&f->b, id, "vmcs_controls_shadow")) {
		pr_err("%s: struct loaded_vmcs member controls_shadow is not a struct vmcs_controls_shadow\n",
		       f->name);
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		if (kbtf_member(&f->b, id, fields[i], &off, &type) || off != 4 * i ||
		    kbtf_size(&f->b, type) != 4) {
			pr_err("%s: struct vmcs_controls_shadow member %s is not the u32 at %u vmiop reads\n",
			       f->name, fields[i], 4 * i);
			return -EINVAL;
		}
	}
	vmiop_layout.vmx_loaded_vmcs = loaded;
	vmiop_layout.vmx_vmcs01 = vmcs01;
	vmiop_layout.vmx_controls_shadow = shadow;
	return 0;
}

int vmiop_layout_init(void)
{
	struct vmiop_btf_file vmlinux = { .name = "vmlinux" }, kvm = { .name = "kvm" };
	struct vmiop_btf_file vendor = { .name = vmiop_vendor->module };
	int ret;

	ret = vmiop_btf_read(&vmlinux, NULL) ?: vmiop_btf_read(&kvm, &vmlinux.b) ?:
	      vmiop_btf_read(&vendor, &vmlinux.b) ?: vmiop_layout_public(&kvm);
	if (!ret)
		ret = vmiop_vendor->vendor == VMIOP_VENDOR_AMD ? vmiop_layout_svm(&vendor) :
								 vmiop_layout_vmx(&vendor);
	vmiop_btf_free(&vendor);
	vmiop_btf_free(&kvm);
	vmiop_btf_free(&vmlinux);
	return ret;
}
