// SPDX-License-Identifier: GPL-2.0
/*
 * vmiop: virtual-machine introspection for stock KVM.
 *
 * /dev/vmiop: one open file is one introspection session once attached to a
 * VM (VMIOP_ATTACH).  Every ioctl takes a struct that starts with its size
 * and flags (see uapi/linux/vmiop.h).
 */
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/poll.h>
#include <linux/module.h>
#include <linux/uaccess.h>
#include "abi.h"
#include "vmiop.h"

const struct vmiop_vendor_ops *vmiop_vendor;

static const struct vmiop_vendor_ops *const vmiop_vendors[] = {
	&vmiop_svm_ops,
	&vmiop_vmx_ops,
};

/*
 * The vendor module (and through it kvm) stays loaded while vmiop is: its
 * functions are hooked and called, its structures read.  An rmmod of it
 * is refused as "in use", like one with a VM open.
 */
static struct module *vmiop_vendor_module;

static int vmiop_pin_vendor(unsigned long addr)
{
	struct module *mod;

	preempt_disable();
	mod = vmiop_ksym.module_address(addr);
	/*
	 * Live only: try_module_get() also takes a module still in its init,
	 * which is freed, references or not, if that init fails.
	 */
	if (mod && (mod->state != MODULE_STATE_LIVE || strcmp(mod->name, vmiop_vendor->module) ||
		    !try_module_get(mod)))
		mod = NULL;
	preempt_enable();
	if (!mod) {
		pr_err("%s is not loaded and running (still starting, or going away)\n",
		       vmiop_vendor->module);
		return -ENODEV;
	}
	vmiop_vendor_module = mod;
	return 0;
}

static int vmiop_detect_vendor(void)
{
	unsigned long addr;
	int i, ret;

	for (i = 0; i < ARRAY_SIZE(vmiop_vendors); i++) {
		addr = vmiop_lookup_name(vmiop_vendors[i]->exit_handler);
		if (addr) {
			vmiop_vendor = vmiop_vendors[i];
			ret = vmiop_pin_vendor(addr);
			if (ret)
				return ret;
			ret = vmiop_ksyms_init_vendor(vmiop_vendor->vendor) ?:
			      vmiop_vendor->init();
			if (ret)
				module_put(vmiop_vendor_module);
			return ret;
		}
	}
	pr_err("neither kvm_amd nor kvm_intel is loaded\n");
	return -ENODEV;
}

#define VMIOP_FEATURES (VMIOP_FEAT_PAUSE | VMIOP_FEAT_REGS | VMIOP_FEAT_MEM | \
			VMIOP_FEAT_MMAP | VMIOP_FEAT_TRANSLATE | VMIOP_FEAT_MEMMAP | \
			VMIOP_FEAT_EVENTS | VMIOP_FEAT_READ_ONLY | VMIOP_FEAT_MEM_ACCESS | \
			VMIOP_FEAT_VE | VMIOP_FEAT_OWN_MEMORY | \
			VMIOP_FEAT_REPLY_RING | VMIOP_FEAT_VM_IDS)

union vmiop_ioctl_arg {
	struct { __u32 size, flags; } hdr;
	struct vmiop_api api;
	struct vmiop_attach attach;
	struct vmiop_vm_info info;
	struct vmiop_memmap memmap;
	struct vmiop_pause pause;
	struct vmiop_vcpu_regs regs;
	struct vmiop_reg_list reg_list;
	struct vmiop_mem_batch mem;
	struct vmiop_translate translate;
	struct vmiop_event_caps caps;
	struct vmiop_ring_setup ring;
	struct vmiop_event_control control;
	struct vmiop_event_reply reply;
	struct vmiop_event_wait wait;
	struct vmiop_mem_access mem_access;
	struct vmiop_mem_access_query mem_query;
	struct vmiop_ve_agent ve_agent;
	struct vmiop_ve_info ve_info;
	struct vmiop_add_memory add_memory;
	struct vmiop_undo undo;
};

static long vmiop_get_api(struct vmiop_api *api)
{
	if (api->flags || api->reserved)
		return -EINVAL;
	api->features = VMIOP_FEATURES;
	api->nr_regs = VMIOP_NR_REGS;
	api->host_vendor = vmiop_vendor->vendor;
	return 0;
}

static u32 vmiop_guest_features(struct kvm_vcpu *vcpu)
{
	struct kvm_cpuid_entry2 *e = kvm_find_cpuid_entry_index(vcpu, 0x80000001, 0);

	return e && e->edx & BIT(X86_FEATURE_RDTSCP & 31) ? VMIOP_GUEST_RDTSCP : 0;
}

static long vmiop_vm_info(struct vmiop_session *sess, struct vmiop_vm_info *info)
{
	struct kvm_vcpu *vcpu0;

	if (info->flags || info->guest_features || info->vm_id)
		return -EINVAL;
	info->vm_id = vmiop_vm_id(sess->kvm);
	info->vendor = vmiop_vendor->vendor;
	info->nr_vcpus = atomic_read(&sess->kvm->online_vcpus);
	rcu_read_lock();
	info->vmm_pid = pid_vnr(find_pid_ns(sess->kvm->userspace_pid, &init_pid_ns));
	rcu_read_unlock();
	vcpu0 = kvm_get_vcpu(sess->kvm, 0);
	info->maxphyaddr = vcpu0 ? vcpu0->arch.maxphyaddr : 0;
	/* KVM_SET_CPUID2 replaces the table until the vCPU first runs. */
	if (vcpu0 && vcpu0->arch.last_vmentry_cpu != -1) {
		info->guest_features = vmiop_guest_features(vcpu0);
	} else if (vcpu0 && mutex_trylock(&vcpu0->mutex)) {
		info->guest_features = vmiop_guest_features(vcpu0);
		mutex_unlock(&vcpu0->mutex);
	}
	mutex_lock(&sess->lock);
	info->pause_count = sess->pause_count;
	mutex_unlock(&sess->lock);
	return 0;
}

/*
 * The count is reported before the pause or resume happens, under the lock
 * that keeps it: a caller whose struct cannot take it gets -EFAULT and a VM
 * exactly as it was.
 */
static long vmiop_pause_ioctl(struct vmiop_session *sess, struct vmiop_pause *p,
			      const struct vmiop_uarg *ua, bool pause)
{
	long ret;

	if (p->flags || p->reserved)
		return -EINVAL;
	if (mutex_lock_killable(&sess->lock))
		return -EINTR;
	if (pause)
		ret = sess->pause_count == VMIOP_PAUSE_MAX ? -EOVERFLOW : 0;
	else
		ret = sess->pause_count ? 0 : -EINVAL;
	if (!ret) {
		p->pause_count = sess->pause_count + (pause ? 1 : -1);
		ret = vmiop_uarg_put(ua, p);
	}
	if (!ret)
		ret = pause ? vmiop_pause(sess) : vmiop_resume(sess);
	mutex_unlock(&sess->lock);
	return ret;
}

static int vmiop_get_regs_fn(struct kvm_vcpu *vcpu, void *arg)
{
	return vmiop_regs_get(vcpu, arg);
}

static int vmiop_set_regs_fn(struct kvm_vcpu *vcpu, void *arg)
{
	return vmiop_regs_set(vcpu, arg);
}

/* Writes @want to vCPU @vcpu_idx; sess->lock held. */
static int vmiop_write_regs(struct vmiop_session *sess, u32 vcpu_idx,
			    const struct vmiop_regs *want)
{
	struct vmiop_regs_write *w = kmalloc(sizeof(*w), GFP_KERNEL);
	int ret;

	if (!w)
		return -ENOMEM;
	w->want = want;
	ret = vmiop_vcpu_call(sess, vcpu_idx, vmiop_set_regs_fn, w);
	kfree(w);
	return ret;
}

static long vmiop_regs_ioctl(struct vmiop_session *sess, struct vmiop_vcpu_regs *r,
			     bool set)
{
	long ret;

	if (r->flags || r->reserved)
		return -EINVAL;
	if (set) {
		ret = abi_check_regs(&r->regs);
		if (ret)
			return ret;
	}
	if (mutex_lock_killable(&sess->lock))
		return -EINTR;
	if (set)
		ret = vmiop_write_regs(sess, r->vcpu, &r->regs);
	else
		ret = vmiop_vcpu_call(sess, r->vcpu, vmiop_get_regs_fn, &r->regs);
	mutex_unlock(&sess->lock);
	return ret;
}

/* One register at a time, through the register file. */
static long vmiop_reg_list_ioctl(struct vmiop_session *sess, struct vmiop_reg_list *l,
				 bool set)
{
	struct vmiop_reg __user *uregs = u64_to_user_ptr(l->regs);
	struct vmiop_regs *file;
	struct vmiop_reg *regs;
	u64 *slot;
	long ret;
	u32 i;

	ret = abi_check_reg_list(l);
	if (ret)
		return ret;
	regs = memdup_user(uregs, array_size(l->count, sizeof(*regs)));
	if (IS_ERR(regs))
		return PTR_ERR(regs);
	for (i = 0; i < l->count; i++) {
		ret = abi_check_reg(&regs[i]);
		if (ret)
			goto out_free;
	}
	ret = -ENOMEM;
	file = kzalloc(sizeof(*file), GFP_KERNEL);
	if (!file)
		goto out_free;
	slot = (u64 *)file;

	ret = -EINTR;
	if (mutex_lock_killable(&sess->lock))
		goto out_free_file;
	ret = vmiop_vcpu_call(sess, l->vcpu, vmiop_get_regs_fn, file);
	if (!ret && set) {
		for (i = 0; i < l->count; i++)
			slot[regs[i].id] = regs[i].value;
		ret = abi_check_regs(file) ?: vmiop_write_regs(sess, l->vcpu, file);
	}
	mutex_unlock(&sess->lock);
	if (!ret && !set) {
		for (i = 0; i < l->count; i++)
			regs[i].value = slot[regs[i].id];
		if (copy_to_user(uregs, regs, array_size(l->count, sizeof(*regs))))
			ret = -EFAULT;
	}
out_free_file:
	kfree(file);
out_free:
	kfree(regs);
	return ret;
}

int vmiop_uarg_put(const struct vmiop_uarg *ua, const void *arg)
{
	return copy_to_user(ua->ptr, arg, ua->len) ? -EFAULT : 0;
}

/*
 * How a command's struct goes back to the caller.  A command that changes
 * something copies its result itself, before the change, so that a struct
 * the caller cannot receive makes it fail with nothing changed.
 */
enum vmiop_out {
	VMIOP_OUT_NONE,		/* no out fields */
	VMIOP_OUT_AFTER,	/* out fields, no side effect: copied at the end */
	VMIOP_OUT_SELF,		/* the handler copies before its side effect */
};

struct vmiop_ioctl_desc {
	unsigned int cmd;
	u32 min_size;		/* size of the first version of the struct */
	u32 size;		/* size of the struct this module knows */
	bool needs_session;
	bool writes_guest;	/* refused on a session opened read-only */
	enum vmiop_out out;
};

#define IOCTL(c, type, last, sess, wr, o) \
	[VMIOP_CMD_##c - VMIOP_CMD_BASE] = { \
		.cmd = VMIOP_##c, .min_size = offsetofend(type, last), \
		.size = sizeof(type), .needs_session = sess, \
		.writes_guest = wr, .out = VMIOP_OUT_##o }

static const struct vmiop_ioctl_desc vmiop_ioctls[] = {
	IOCTL(GET_API, struct vmiop_api, reserved, false, false, AFTER),
	IOCTL(ATTACH, struct vmiop_attach, vm_id, false, false, NONE),
	IOCTL(VM_INFO, struct vmiop_vm_info, guest_features, true, false, AFTER),
	IOCTL(GET_MEMMAP, struct vmiop_memmap, entries, true, false, AFTER),
	IOCTL(PAUSE, struct vmiop_pause, reserved, true, false, SELF),
	IOCTL(RESUME, struct vmiop_pause, reserved, true, false, SELF),
	IOCTL(GET_REGS, struct vmiop_vcpu_regs, regs, true, false, AFTER),
	IOCTL(SET_REGS, struct vmiop_vcpu_regs, regs, true, true, NONE),
	IOCTL(GET_REG_LIST, struct vmiop_reg_list, regs, true, false, NONE),
	IOCTL(SET_REG_LIST, struct vmiop_reg_list, regs, true, true, NONE),
	IOCTL(READ_MEM, struct vmiop_mem_batch, ops, true, false, AFTER),
	IOCTL(WRITE_MEM, struct vmiop_mem_batch, ops, true, true, SELF),
	IOCTL(TRANSLATE, struct vmiop_translate, reserved, true, false, AFTER),
	IOCTL(EVENT_CAPS, struct vmiop_event_caps, reason, false, false, AFTER),
	IOCTL(RING_SETUP, struct vmiop_ring_setup, mmap_size, true, false, SELF),
	IOCTL(EVENT_CONTROL, struct vmiop_event_control, filter, true, false, NONE),
	/* Replies that change guest state check the session's mode themselves. */
	IOCTL(EVENT_REPLY, struct vmiop_event_reply, reserved, true, false, NONE),
	IOCTL(EVENT_WAIT, struct vmiop_event_wait, ready, true, false, SELF),
	/* Rights stop the guest's accesses, which the session must be able to answer. */
	IOCTL(SET_MEM_ACCESS, struct vmiop_mem_access, ranges, true, true, NONE),
	IOCTL(GET_MEM_ACCESS, struct vmiop_mem_access_query, access, true, false, NONE),
	/* The agent's pages become writable to it; info pages are written. */
	IOCTL(SET_VE_AGENT, struct vmiop_ve_agent, reserved, true, true, NONE),
	IOCTL(SET_VE_INFO, struct vmiop_ve_info, gpa, true, true, NONE),
	/* New guest memory, and the guest's put back. */
	IOCTL(ADD_MEMORY, struct vmiop_add_memory, len, true, true, SELF),
	IOCTL(UNDO, struct vmiop_undo, kept, true, true, SELF),
};

static long vmiop_dispatch(struct file *file, struct vmiop_session *sess,
			   unsigned int cmd, union vmiop_ioctl_arg *arg,
			   const struct vmiop_uarg *ua)
{
	switch (cmd) {
	case VMIOP_GET_API:
		return vmiop_get_api(&arg->api);
	case VMIOP_ATTACH:
		return vmiop_session_attach(file, &arg->attach);
	case VMIOP_VM_INFO:
		return vmiop_vm_info(sess, &arg->info);
	case VMIOP_GET_MEMMAP:
		return vmiop_ioctl_memmap(sess, &arg->memmap);
	case VMIOP_PAUSE:
	case VMIOP_RESUME:
		return vmiop_pause_ioctl(sess, &arg->pause, ua, cmd == VMIOP_PAUSE);
	case VMIOP_GET_REGS:
	case VMIOP_SET_REGS:
		return vmiop_regs_ioctl(sess, &arg->regs, cmd == VMIOP_SET_REGS);
	case VMIOP_GET_REG_LIST:
	case VMIOP_SET_REG_LIST:
		return vmiop_reg_list_ioctl(sess, &arg->reg_list,
					    cmd == VMIOP_SET_REG_LIST);
	case VMIOP_READ_MEM:
	case VMIOP_WRITE_MEM:
		return vmiop_ioctl_mem(sess, &arg->mem, ua, cmd == VMIOP_WRITE_MEM);
	case VMIOP_TRANSLATE:
		return vmiop_ioctl_translate(sess, &arg->translate);
	case VMIOP_EVENT_CAPS:
		return vmiop_ioctl_event_caps(&arg->caps);
	case VMIOP_RING_SETUP:
		return vmiop_ioctl_ring_setup(sess, &arg->ring, ua);
	case VMIOP_EVENT_CONTROL:
		return vmiop_ioctl_event_control(sess, &arg->control);
	case VMIOP_EVENT_REPLY:
		return vmiop_ioctl_event_reply(sess, &arg->reply);
	case VMIOP_EVENT_WAIT:
		return vmiop_ioctl_event_wait(sess, &arg->wait, ua);
	case VMIOP_SET_MEM_ACCESS:
		return vmiop_ioctl_set_mem_access(sess, &arg->mem_access);
	case VMIOP_GET_MEM_ACCESS:
		return vmiop_ioctl_get_mem_access(sess, &arg->mem_query);
	case VMIOP_SET_VE_AGENT:
		return vmiop_ioctl_set_ve_agent(sess, &arg->ve_agent);
	case VMIOP_SET_VE_INFO:
		return vmiop_ioctl_set_ve_info(sess, &arg->ve_info);
	case VMIOP_ADD_MEMORY:
		return vmiop_ioctl_add_memory(sess, &arg->add_memory, ua);
	case VMIOP_UNDO:
		return vmiop_ioctl_undo(sess, &arg->undo, ua);
	}
	return -ENOTTY;
}

static long vmiop_ioctl(struct file *file, unsigned int cmd, unsigned long uarg)
{
	struct vmiop_session *sess = READ_ONCE(file->private_data);
	const struct vmiop_ioctl_desc *desc;
	void __user *up = (void __user *)uarg;
	union vmiop_ioctl_arg *arg;
	unsigned int nr = _IOC_NR(cmd);
	struct vmiop_uarg ua;
	u32 usize;
	long ret;

	if (nr < VMIOP_CMD_BASE || nr - VMIOP_CMD_BASE >= ARRAY_SIZE(vmiop_ioctls))
		return -ENOTTY;
	desc = &vmiop_ioctls[nr - VMIOP_CMD_BASE];
	if (desc->cmd != cmd)
		return -ENOTTY;
	if (desc->needs_session) {
		if (!sess)
			return -ENOTCONN;
		if (!vmiop_session_alive(sess))
			return -ESRCH;
		if (desc->writes_guest && sess->read_only)
			return -EBADF;
	}
	if (get_user(usize, (u32 __user *)up))
		return -EFAULT;
	if (usize < desc->min_size)
		return -EINVAL;

	arg = kzalloc(sizeof(*arg), GFP_KERNEL);
	if (!arg)
		return -ENOMEM;
	ret = copy_struct_from_user(arg, desc->size, up, usize);
	if (ret)
		goto out;
	ua.ptr = up;
	ua.len = min(usize, desc->size);
	ret = vmiop_dispatch(file, sess, cmd, arg, &ua);
	/* Out fields are meaningful on -ENOSPC and with a partial batch too. */
	if (desc->out == VMIOP_OUT_AFTER && (!ret || ret == -ENOSPC || cmd == VMIOP_READ_MEM) &&
	    vmiop_uarg_put(&ua, arg))
		ret = -EFAULT;
out:
	kfree(arg);
	return ret;
}

static int vmiop_open(struct inode *inode, struct file *file)
{
	/* misc_open() left the miscdevice here; a session replaces NULL. */
	file->private_data = NULL;
	return nonseekable_open(inode, file);
}

static int vmiop_release(struct inode *inode, struct file *file)
{
	struct vmiop_session *sess = file->private_data;

	if (sess)
		vmiop_session_detach(sess);
	return 0;
}

static __poll_t vmiop_poll(struct file *file, struct poll_table_struct *pt)
{
	struct vmiop_session *sess = READ_ONCE(file->private_data);

	return sess ? vmiop_events_poll(sess, file, pt) : EPOLLERR;
}

static const struct file_operations vmiop_fops = {
	.owner = THIS_MODULE,
	.open = vmiop_open,
	.release = vmiop_release,
	.unlocked_ioctl = vmiop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = vmiop_mmap,
	.poll = vmiop_poll,
	.llseek = noop_llseek,
};

/*
 * Anyone may open the device: attaching needs ptrace rights over the VM's
 * process (or its VM fd), the same rights that already give full control.
 */
static struct miscdevice vmiop_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "vmiop",
	.fops = &vmiop_fops,
	.mode = 0666,
};

static int __init vmiop_init(void)
{
	int ret;

	ret = vmiop_ksyms_init();
	if (ret)
		return ret;
	ret = vmiop_detect_vendor();
	if (ret)
		return ret;
	ret = vmiop_layout_init();
	if (ret)
		goto unpin;
	ret = vmiop_sessions_init();
	if (ret)
		goto unpin;
	ret = vmiop_hooks_install();
	if (ret)
		goto registry;	/* VMs created meanwhile may be in it */
	/* Hooked first: a VM created from here on is not missed. */
	vmiop_vms_scan();
	/* Its requests look up VMs the hooks keep track of: after them, and gone before. */
	ret = vmiop_genl_init();
	if (ret)
		goto hooks;
	/* Last: once a session can exist, nothing may fail any more. */
	ret = misc_register(&vmiop_misc);
	if (ret) {
		vmiop_genl_exit();
		goto hooks;
	}
	pr_info("ready on %s\n", vmiop_vendor->name);
	return 0;
hooks:
	vmiop_hooks_remove();
registry:
	vmiop_vms_exit();
	vmiop_sessions_exit();
unpin:
	module_put(vmiop_vendor_module);
	return ret;
}

static void __exit vmiop_exit(void)
{
	misc_deregister(&vmiop_misc);
	vmiop_genl_exit();
	vmiop_hooks_remove();
	vmiop_vms_exit();
	/* Sessions are gone (each held the module); their RCU frees are not. */
	vmiop_sessions_exit();
	rcu_barrier();
	module_put(vmiop_vendor_module);
}

module_init(vmiop_init);
module_exit(vmiop_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Virtual-machine introspection for KVM");
MODULE_AUTHOR("The vmiop developers");
MODULE_VERSION(VMIOP_VERSION);
MODULE_SOFTDEP("pre: kvm");
