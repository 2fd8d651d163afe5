// SPDX-License-Identifier: GPL-2.0
/*
 * The host's KVM VMs, each with an id for its lifetime and perhaps a
 * name: what the "vmiop" netlink family (genl.c) and attach by id serve.
 *
 * KVM numbers no VM.  Two hooks follow VM lifetime (hooks.c): a 0 from
 * kvm_arch_post_init_vm() means the VM will pass through kvm_destroy_vm()
 * exactly once, and its kvm_arch_pre_destroy_vm() (after the VM left
 * vm_list, before KVM frees anything) takes it out again.  VMs older than
 * the module are found on vm_list at load; one created while the hooks
 * went in is registered when first asked about.
 *
 * An entry's kvm pointer holds no reference: it is valid while the entry is
 * in the registry, read under vmiop_vms_lock, because the destroy hook takes
 * the entry out under that lock before KVM frees anything.  A reference is
 * taken with kvm_get_kvm_safe() (none once destruction has begun) and
 * dropped outside the lock: the last one runs the destroy hook.
 *
 * Lock order: vmiop_sessions_lock, then vmiop_vms_lock.  kvm_lock is
 * never held with vmiop_vms_lock: allocations under the latter may
 * reclaim, and KVM's MMU shrinker takes kvm_lock.
 */
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/xarray.h>
#include "vmiop.h"

/* Enough for libvirt's command lines, which put -name first anyway. */
#define VMIOP_CMDLINE_MAX	(32 * 1024)

static DEFINE_MUTEX(vmiop_vms_lock);
static DEFINE_XARRAY(vmiop_vms);		/* id -> struct vmiop_vm */
static DEFINE_HASHTABLE(vmiop_vms_by_kvm, 7);
static u64 vmiop_vm_next_id = 1;
static unsigned int vmiop_vms_count;		/* entries in the registry */
/* Registry membership and names changed: a dump in progress is stale. */
static unsigned long vmiop_vms_gen;
static u64 vmiop_vms_seq;			/* last notification's number */
static bool vmiop_vms_announce;		/* the family is registered */

static struct vmiop_vm *vmiop_vm_find_kvm(struct kvm *kvm)
{
	struct vmiop_vm *vm;

	lockdep_assert_held(&vmiop_vms_lock);
	hash_for_each_possible(vmiop_vms_by_kvm, vm, by_kvm, (unsigned long)kvm)
		if (vm->kvm == kvm)
			return vm;
	return NULL;
}

static struct vmiop_vm *vmiop_vm_find_name(const char *name)
{
	struct vmiop_vm *vm;
	unsigned long id;

	lockdep_assert_held(&vmiop_vms_lock);
	xa_for_each(&vmiop_vms, id, vm)
		if (!strcmp(vm->name, name))
			return vm;
	return NULL;
}

/* Tells the family's listeners; under the lock, so in the order of changes. */
static void vmiop_vms_notify(u8 cmd, const struct vmiop_vm *vm, struct pid *session)
{
	lockdep_assert_held(&vmiop_vms_lock);
	if (!vmiop_vms_announce)
		return;
	vmiop_genl_notify(cmd, vm, ++vmiop_vms_seq, session);
}

/*
 * The name the VMM's command line gives, read through @task's mm as
 * /proc/PID/cmdline is: a process can rewrite its argv, so this is hostile
 * input, parsed with bounds (vmname.c).
 */
static bool vmiop_vm_cmdline_name(struct task_struct *task, struct mm_struct *mm,
				  char name[VMNAME_MAX])
{
	unsigned long start, end;
	bool found = false;
	char *buf;
	int len;

	spin_lock(&mm->arg_lock);
	start = mm->arg_start;
	end = mm->arg_end;
	spin_unlock(&mm->arg_lock);
	if (end <= start)
		return false;
	len = min(end - start, (unsigned long)VMIOP_CMDLINE_MAX);
	buf = kvmalloc(len, GFP_KERNEL);
	if (!buf)
		return false;
	len = access_process_vm(task, start, buf, len, 0);
	if (len > 0)
		found = vmname_from_cmdline(buf, len, name);
	kvfree(buf);
	return found;
}

/*
 * Registers @kvm, which must be referenced or being created, run by
 * @task, and tells the family's listeners.  Returns its id, or 0
 * when there is no memory for it (it is tried again when next asked).
 */
static u64 vmiop_vm_register(struct kvm *kvm, struct task_struct *task)
{
	struct vmiop_vm *vm, *old;
	u64 id = 0;

	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		return 0;
	vm->kvm = kvm;
	vm->vmm = get_task_pid(task, PIDTYPE_TGID);
	vm->vmm_uid = task_uid(task);
	get_task_comm(vm->comm, task);
	if (vmiop_vm_cmdline_name(task, kvm->mm, vm->name))
		vm->name_source = VMIOP_VM_NAME_CMDLINE;

	mutex_lock(&vmiop_vms_lock);
	old = vmiop_vm_find_kvm(kvm);
	if (old) {
		id = old->id;
		goto out_free;
	}
	/* First come keeps a name: a later VM asking for it gets none. */
	if (vm->name[0] && vmiop_vm_find_name(vm->name)) {
		vm->name[0] = '\0';
		vm->name_source = 0;
	}
	vm->id = vmiop_vm_next_id;
	if (xa_insert(&vmiop_vms, vm->id, vm, GFP_KERNEL_ACCOUNT))
		goto out_free;
	vmiop_vm_next_id++;
	WRITE_ONCE(vmiop_vms_count, vmiop_vms_count + 1);
	hash_add(vmiop_vms_by_kvm, &vm->by_kvm, (unsigned long)kvm);
	vmiop_vms_gen++;
	vmiop_vms_notify(VMIOP_GENL_CMD_VM_CREATED, vm, NULL);
	mutex_unlock(&vmiop_vms_lock);
	return vm->id;

out_free:
	mutex_unlock(&vmiop_vms_lock);
	put_pid(vm->vmm);
	kfree(vm);
	return id;
}

/* The process whose memory the VM runs in, referenced, or NULL. */
static struct task_struct *vmiop_vm_owner(struct kvm *kvm)
{
	struct task_struct *owner;

	rcu_read_lock();
	owner = rcu_dereference(kvm->mm->owner);
	if (owner)
		get_task_struct(owner);
	rcu_read_unlock();
	return owner;
}

/* Announced once the family exists: a listener may hear of it late, never not. */
static u64 vmiop_vm_register_existing(struct kvm *kvm)
{
	struct task_struct *owner = vmiop_vm_owner(kvm);
	u64 id;

	if (!owner)
		return 0;
	id = vmiop_vm_register(kvm, owner);
	put_task_struct(owner);
	return id;
}

/* kvm_arch_post_init_vm() succeeded: on the VMM's thread, in KVM_CREATE_VM. */
void vmiop_vm_created(struct kvm *kvm)
{
	vmiop_vm_register(kvm, current);
}

/* In kvm_destroy_vm(): off vm_list, nothing freed yet.  Any thread. */
void vmiop_vm_destroying(struct kvm *kvm)
{
	struct vmiop_vm *vm;

	mutex_lock(&vmiop_vms_lock);
	vm = vmiop_vm_find_kvm(kvm);
	if (vm) {
		hash_del(&vm->by_kvm);
		xa_erase(&vmiop_vms, vm->id);
		WRITE_ONCE(vmiop_vms_count, vmiop_vms_count - 1);
		vmiop_vms_gen++;
		vmiop_vms_notify(VMIOP_GENL_CMD_VM_DESTROYED, vm, NULL);
	}
	mutex_unlock(&vmiop_vms_lock);
	if (vm) {
		put_pid(vm->vmm);
		kfree(vm);
	}
}

/* The registry has @kvm (which the caller holds). */
static bool vmiop_vm_known(struct kvm *kvm)
{
	bool known;

	mutex_lock(&vmiop_vms_lock);
	known = vmiop_vm_find_kvm(kvm);
	mutex_unlock(&vmiop_vms_lock);
	return known;
}

/*
 * Registers every VM on KVM's vm_list the registry does not know: at load
 * (before the family exists: nobody to tell), and for one created while
 * the hooks went in.  Oldest first, so that the first come keeps its
 * name (KVM adds at the head).  Only references are taken under kvm_lock:
 * the registry lock allocates, and reclaim may take kvm_lock (KVM's MMU
 * shrinker).
 */
void vmiop_vms_scan(void)
{
	struct kvm **found;
	unsigned int n = 0, max = 0, i;
	struct kvm *kvm;

	mutex_lock(vmiop_ksym.kvm_lock);
	list_for_each_entry(kvm, vmiop_ksym.vm_list, vm_list)
		max++;
	mutex_unlock(vmiop_ksym.kvm_lock);
	/*
	 * Nothing unknown on the list (a hint: one coming and one going at
	 * once hide each other until the next look).
	 */
	if (max <= READ_ONCE(vmiop_vms_count))
		return;
	found = kvmalloc_array(max, sizeof(*found), GFP_KERNEL);
	if (!found)
		return;

	mutex_lock(vmiop_ksym.kvm_lock);
	list_for_each_entry_reverse(kvm, vmiop_ksym.vm_list, vm_list) {
		/* More are new since: the creation hook has them. */
		if (n == max)
			break;
		if (kvm_get_kvm_safe(kvm))
			found[n++] = kvm;
	}
	mutex_unlock(vmiop_ksym.kvm_lock);

	for (i = 0; i < n; i++) {
		if (!vmiop_vm_known(found[i]))
			vmiop_vm_register_existing(found[i]);
		kvm_put_kvm(found[i]);
	}
	kvfree(found);
}

/* @kvm's id (registering it if need be: @kvm must be referenced), or 0. */
u64 vmiop_vm_id(struct kvm *kvm)
{
	struct vmiop_vm *vm;
	u64 id = 0;

	mutex_lock(&vmiop_vms_lock);
	vm = vmiop_vm_find_kvm(kvm);
	if (vm)
		id = vm->id;
	mutex_unlock(&vmiop_vms_lock);
	return id ?: vmiop_vm_register_existing(kvm);
}

/*
 * The live VM with id @id, referenced, if the caller may attach to it
 * (checked first: no reference of another user's VM is taken for it).
 * -ESRCH: none; -EPERM: no rights.
 */
struct kvm *vmiop_vm_get_kvm(u64 id)
{
	struct kvm *kvm = ERR_PTR(-ESRCH);
	struct vmiop_vm *vm;

	mutex_lock(&vmiop_vms_lock);
	vm = xa_load(&vmiop_vms, id);
	if (vm && vmiop_may_introspect(vm->kvm, false))
		kvm = ERR_PTR(-EPERM);
	else if (vm && kvm_get_kvm_safe(vm->kvm))
		kvm = vm->kvm;
	mutex_unlock(&vmiop_vms_lock);
	return kvm;
}

void vmiop_vms_session_event(struct kvm *kvm, u8 cmd, struct pid *session)
{
	struct vmiop_vm *vm;

	mutex_lock(&vmiop_vms_lock);
	vm = vmiop_vm_find_kvm(kvm);
	if (vm)
		vmiop_vms_notify(cmd, vm, session);
	mutex_unlock(&vmiop_vms_lock);
}

/*
 * Copies what the registry knows of @vm, with a reference on the VM, if
 * the caller may see it: @admin, or the rights attach would need (checked
 * before any reference, without an audit record: this is a listing).
 * The entry is linked, so its kvm and the kvm's mm are not freed yet.
 */
static bool vmiop_vm_snap_locked(const struct vmiop_vm *vm, bool admin,
				 struct vmiop_vm_snap *s)
{
	if (!admin && vmiop_may_introspect(vm->kvm, true))
		return false;
	if (!kvm_get_kvm_safe(vm->kvm))
		return false;
	s->kvm = vm->kvm;
	s->id = vm->id;
	memcpy(s->name, vm->name, sizeof(s->name));
	s->name_source = vm->name_source;
	s->vmm = get_pid(vm->vmm);
	s->vmm_uid = vm->vmm_uid;
	memcpy(s->comm, vm->comm, sizeof(s->comm));
	s->seq = vmiop_vms_seq;
	s->gen = vmiop_vms_gen;
	return true;
}

void vmiop_vm_snap_put(struct vmiop_vm_snap *s)
{
	put_pid(s->vmm);
	kvm_put_kvm(s->kvm);
}

/*
 * The VM with @id, or named @name (@id 0), or with the lowest id at or
 * above *@cursor (@cursor non-NULL, which then moves past it), of those
 * the caller may see (@admin: all).  -ENOENT: none.
 */
int vmiop_vm_snap(u64 id, const char *name, u64 *cursor, bool admin, struct vmiop_vm_snap *s)
{
	struct vmiop_vm *vm;
	unsigned long index;
	int ret = -ENOENT;

	mutex_lock(&vmiop_vms_lock);
	if (cursor) {
		index = *cursor;
		xa_for_each_start(&vmiop_vms, index, vm, *cursor) {
			if (vmiop_vm_snap_locked(vm, admin, s)) {
				ret = 0;
				break;
			}
		}
		*cursor = ret ? vmiop_vm_next_id : index + 1;
	} else {
		vm = id ? xa_load(&vmiop_vms, id) : vmiop_vm_find_name(name);
		if (vm && vmiop_vm_snap_locked(vm, admin, s))
			ret = 0;
	}
	mutex_unlock(&vmiop_vms_lock);
	return ret;
}

/*
 * Names the VM with @id (the caller checked its rights over it); "" clears.
 * -ENOENT: gone since; -EEXIST: another live VM has @name.
 */
int vmiop_vm_set_name(u64 id, const char *name)
{
	struct vmiop_vm *vm, *other;
	int ret = 0;

	mutex_lock(&vmiop_vms_lock);
	vm = xa_load(&vmiop_vms, id);
	other = name[0] ? vmiop_vm_find_name(name) : NULL;
	if (!vm) {
		ret = -ENOENT;
	} else if (other && other != vm) {
		ret = -EEXIST;
	} else if (strcmp(vm->name, name)) {
		strscpy(vm->name, name, sizeof(vm->name));
		vm->name_source = name[0] ? VMIOP_VM_NAME_SET : 0;
		vmiop_vms_gen++;
		vmiop_vms_notify(VMIOP_GENL_CMD_VM_RENAMED, vm, NULL);
	}
	mutex_unlock(&vmiop_vms_lock);
	return ret;
}

/* Notifications start (the family is registered) or stop (it goes). */
void vmiop_vms_announce_set(bool on)
{
	mutex_lock(&vmiop_vms_lock);
	vmiop_vms_announce = on;
	mutex_unlock(&vmiop_vms_lock);
}

/* After the hooks are gone: nothing adds or looks any more. */
void vmiop_vms_exit(void)
{
	struct vmiop_vm *vm;
	unsigned long id;

	xa_for_each(&vmiop_vms, id, vm) {
		xa_erase(&vmiop_vms, id);
		put_pid(vm->vmm);
		kfree(vm);
	}
	xa_destroy(&vmiop_vms);
}
