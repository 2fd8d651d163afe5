// SPDX-License-Identifier: GPL-2.0
/*
 * Sessions: one /dev/vmiop fd attached to one VM.  The kvm -> session table
 * is read under RCU from KVM's hot paths (the hook filter), so an
 * unattached VM pays one hash lookup per hooked call and nothing else.
 */
#include <linux/file.h>
#include <linux/hashtable.h>
#include <linux/kthread.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include "abi.h"
#include "vmiop.h"

/* The VM's process is the owner of its mm (vmiop_may_introspect()). */
#ifndef CONFIG_MEMCG
#error "vmiop needs CONFIG_MEMCG: it finds the VM's process as mm->owner"
#endif

static DEFINE_HASHTABLE(vmiop_sessions, 6);
static DEFINE_MUTEX(vmiop_sessions_lock);	/* writers of the table */
static atomic_t vmiop_nr_sessions = ATOMIC_INIT(0);

bool notrace vmiop_any_session(void)
{
	return atomic_read(&vmiop_nr_sessions) != 0;
}

static struct vmiop_session *notrace __vmiop_session_lookup(struct kvm *kvm)
{
	struct vmiop_session *sess;

	hash_for_each_possible_rcu_notrace(vmiop_sessions, sess, node,
					   (unsigned long)kvm)
		if (sess->kvm == kvm)
			return sess;
	return NULL;
}

bool notrace vmiop_kvm_attached(struct kvm *kvm)
{
	bool found;

	rcu_read_lock_sched_notrace();
	found = __vmiop_session_lookup(kvm) != NULL;
	rcu_read_unlock_sched_notrace();
	return found;
}

/*
 * The session of @kvm without a reference, for paths that may not sleep
 * or drop the last one (IRQs off): valid until the RCU read-side section
 * the caller holds ends.
 */
struct vmiop_session *notrace vmiop_session_lookup_rcu(struct kvm *kvm)
{
	return __vmiop_session_lookup(kvm);
}

/* A reference on @sess, found under RCU; false if it is on its way out. */
bool vmiop_session_tryget(struct vmiop_session *sess)
{
	return kref_get_unless_zero(&sess->ref);
}

/* Returns the session of @kvm with a reference held, or NULL. */
struct vmiop_session *vmiop_session_find(struct kvm *kvm)
{
	struct vmiop_session *sess;

	rcu_read_lock();
	sess = __vmiop_session_lookup(kvm);
	if (sess && !kref_get_unless_zero(&sess->ref))
		sess = NULL;
	rcu_read_unlock();
	return sess;
}

static void vmiop_vcpus_free(struct vmiop_session *sess)
{
	int i;

	for (i = 0; sess->vcpus && i < KVM_MAX_VCPUS; i++)
		kfree(sess->vcpus[i].exit.ev_buf);
	kvfree(sess->vcpus);
}

static void vmiop_session_free_rcu(struct rcu_head *head)
{
	struct vmiop_session *sess = container_of(head, struct vmiop_session, rcu);

	vmiop_events_free(sess);
	vmiop_vcpus_free(sess);
	vmiop_own_free(sess);
	kfree(sess);
}

static void vmiop_session_release(struct kref *ref)
{
	struct vmiop_session *sess = container_of(ref, struct vmiop_session, ref);
	int i;

	/* A step-over's watchdog armed as detach ended it (memaccess.c). */
	for (i = 0; i < KVM_MAX_VCPUS; i++)
		hrtimer_cancel(&sess->vcpus[i].mem.watchdog);
	kvm_put_kvm(sess->kvm);
	mmdrop(sess->mm);
	put_pid(sess->attacher);
	/* Lookups that raced with the last put may still hold the pointer. */
	call_rcu(&sess->rcu, vmiop_session_free_rcu);
}

void vmiop_session_put(struct vmiop_session *sess)
{
	kref_put(&sess->ref, vmiop_session_release);
}

bool vmiop_session_alive(struct vmiop_session *sess)
{
	return atomic_read(&sess->mm->mm_users) > 0 && !READ_ONCE(sess->mm_gone);
}

/*
 * The caller may attach to @kvm when it could ptrace the VM's process:
 * the owner of the memory the VM runs in.  KVM answers a VM fd only in
 * that process, so a VM fd held elsewhere (inherited across a setuid
 * exec, passed over a socket) grants nothing by itself here either.
 * @quiet: a listing asks, not an attach: a refusal is no audit record.
 */
int vmiop_may_introspect(struct kvm *kvm, bool quiet)
{
	struct task_struct *owner;
	bool allowed;

	if (current->mm == kvm->mm)
		return 0;
	rcu_read_lock();
	owner = rcu_dereference(kvm->mm->owner);
	if (owner)
		get_task_struct(owner);
	rcu_read_unlock();
	if (!owner)
		return -ESRCH;
	allowed = vmiop_ksym.ptrace_may_access(owner, PTRACE_MODE_ATTACH_REALCREDS |
					       (quiet ? PTRACE_MODE_NOAUDIT : 0));
	put_task_struct(owner);
	return allowed ? 0 : -EPERM;
}

/* Resolves the VM file of the attach request; checks the rights over @pid. */
static struct file *vmiop_attach_get_file(const struct vmiop_attach *a)
{
	struct task_struct *task;
	struct file *file;

	if (!(a->flags & VMIOP_ATTACH_F_PID))
		return fget(a->vm_fd) ?: ERR_PTR(-EBADF);

	task = get_pid_task(find_vpid(a->pid), PIDTYPE_PID);
	if (!task)
		return ERR_PTR(-ESRCH);
	if (!vmiop_ksym.ptrace_may_access(task, PTRACE_MODE_ATTACH_REALCREDS)) {
		put_task_struct(task);
		return ERR_PTR(-EPERM);
	}
	file = vmiop_ksym.fget_task(task, a->vm_fd);
	put_task_struct(task);
	return file ?: ERR_PTR(-EBADF);
}

/* The VM the attach request names, referenced. */
static struct kvm *vmiop_attach_get_kvm(const struct vmiop_attach *a)
{
	struct file *vm_file;
	struct kvm *kvm;

	if (a->flags & VMIOP_ATTACH_F_VM_ID)
		return vmiop_vm_get_kvm(a->vm_id);
	vm_file = vmiop_attach_get_file(a);
	if (IS_ERR(vm_file))
		return ERR_CAST(vm_file);
	if (!file_is_kvm(vm_file)) {
		fput(vm_file);
		return ERR_PTR(-EINVAL);
	}
	kvm = vm_file->private_data;
	kvm_get_kvm(kvm);
	fput(vm_file);
	return kvm;
}

int vmiop_session_attach(struct file *file, const struct vmiop_attach *a)
{
	struct vmiop_session *sess;
	struct kvm *kvm;
	int i, ret;

	ret = abi_check_attach(a);
	if (ret)
		return ret;
	if (READ_ONCE(file->private_data))
		return -EBUSY;

	kvm = vmiop_attach_get_kvm(a);
	if (IS_ERR(kvm))
		return PTR_ERR(kvm);
	ret = vmiop_may_introspect(kvm, false);
	if (ret)
		goto out_kvm;
	/* Known to the registry before its session is announced there. */
	vmiop_vm_id(kvm);

	ret = -ENOMEM;
	sess = kzalloc(sizeof(*sess), GFP_KERNEL_ACCOUNT);
	if (!sess)
		goto out_kvm;
	sess->vcpus = kvcalloc(KVM_MAX_VCPUS, sizeof(*sess->vcpus),
			       GFP_KERNEL_ACCOUNT);
	if (!sess->vcpus)
		goto out_free;
	for (i = 0; i < KVM_MAX_VCPUS; i++) {
		INIT_LIST_HEAD(&sess->vcpus[i].park.jobs);
		init_waitqueue_head(&sess->vcpus[i].park.wq);
	}
	/* Event buffers for the vCPUs there are; later ones at their first park point. */
	for (i = 0; i < atomic_read(&kvm->online_vcpus); i++) {
		sess->vcpus[i].exit.ev_buf = kmalloc(sizeof(struct vmiop_event), GFP_KERNEL_ACCOUNT);
		if (!sess->vcpus[i].exit.ev_buf)
			goto out_free;
	}
	kref_init(&sess->ref);
	mutex_init(&sess->lock);
	spin_lock_init(&sess->state_lock);
	spin_lock_init(&sess->mn_lock);
	mutex_init(&sess->pages_lock);
	xa_init(&sess->pages);
	xa_init(&sess->mem_rights);
	INIT_LIST_HEAD(&sess->undo);
	sess->mem_step_owner = -1;
	vmiop_mem_vcpus_init(sess);
	vmiop_ve_vcpus_init(sess);
	init_waitqueue_head(&sess->state_wq);
	sess->mapping = file->f_mapping;
	sess->read_only = !(file->f_mode & FMODE_WRITE);
	sess->attacher = get_task_pid(current, PIDTYPE_TGID);
	sess->worker = kthread_create_worker(0, "vmiop-%d", task_pid_nr(current));
	if (IS_ERR(sess->worker)) {
		ret = PTR_ERR(sess->worker);
		goto out_free;
	}

	ret = -ESRCH;
	if (!mmget_not_zero(kvm->mm))
		goto out_free;	/* sess->kvm, sess->mm not yet set */
	sess->mm = kvm->mm;
	mmgrab(sess->mm);
	kvm_get_kvm(kvm);
	sess->kvm = kvm;
	ret = vmiop_mmu_notifier_register(sess);
	mmput(sess->mm);
	if (ret)
		goto out_put;

	mutex_lock(&vmiop_sessions_lock);
	if (__vmiop_session_lookup(kvm)) {
		ret = -EBUSY;
	} else if (cmpxchg(&file->private_data, NULL, sess)) {
		ret = -EBUSY;	/* a concurrent attach on this fd won */
	} else {
		hash_add_rcu(vmiop_sessions, &sess->node, (unsigned long)kvm);
		atomic_inc(&vmiop_nr_sessions);
		vmiop_vms_session_event(kvm, VMIOP_GENL_CMD_SESSION_ATTACHED, sess->attacher);
		ret = 0;
	}
	mutex_unlock(&vmiop_sessions_lock);
	if (ret)
		goto out_unregister;
	kvm_put_kvm(kvm);
	return 0;

out_unregister:
	vmiop_mmu_notifier_unregister(sess);
out_put:
	kthread_destroy_worker(sess->worker);
	vmiop_session_put(sess);
	kvm_put_kvm(kvm);
	return ret;
out_free:
	if (!IS_ERR_OR_NULL(sess->worker))
		kthread_destroy_worker(sess->worker);
	put_pid(sess->attacher);
	vmiop_vcpus_free(sess);
	kfree(sess);
out_kvm:
	kvm_put_kvm(kvm);
	return ret;
}

/* The session leaves the table and lets go of the VM. */
static void vmiop_session_finish(struct vmiop_session *sess)
{
	mutex_lock(&vmiop_sessions_lock);
	hash_del_rcu(&sess->node);
	atomic_dec(&vmiop_nr_sessions);
	/* Before another attach can be announced: in the order they happen. */
	vmiop_vms_session_event(sess->kvm, VMIOP_GENL_CMD_SESSION_DETACHED, sess->attacher);
	mutex_unlock(&vmiop_sessions_lock);

	vmiop_mmu_notifier_unregister(sess);
	kthread_destroy_worker(sess->worker);
	/* (hooks may still hold the session: vmiop_vcpu_own() looks) */
	WRITE_ONCE(sess->worker, NULL);
	vmiop_session_put(sess);
}

/* Runs lingering sessions' checks, and outlives none of them (module exit). */
static struct workqueue_struct *vmiop_linger_wq;

int vmiop_sessions_init(void)
{
	vmiop_linger_wq = alloc_workqueue("vmiop-linger", 0, 0);
	return vmiop_linger_wq ? 0 : -ENOMEM;
}

void vmiop_sessions_exit(void)
{
	destroy_workqueue(vmiop_linger_wq);
}

/*
 * A detached session whose intercepts some vCPU still has (it ran a
 * nested guest, whose VMCS/VMCB is not the one they are on), or which
 * waits for a vCPU to leave the session's memory (own.c), stays in the
 * table, so that the hooks still complete the exits they cause, until each
 * vCPU has given them back in L1: at a park point, which a kick every
 * 100 ms brings it to once it is back there, or here if it is outside
 * KVM_RUN by then.  Or until nothing can run the VM again: its process
 * gone, or every file of it closed (the session's reference is the last).
 * It holds the module: rmmod waits for it.
 */
static void vmiop_linger_work(struct work_struct *work)
{
	struct vmiop_session *sess = container_of(to_delayed_work(work), struct vmiop_session,
						  linger_work);
	bool vm_alive = atomic_read(&sess->mm->mm_users) &&
			refcount_read(&sess->kvm->users_count) > 1;

	if (vmiop_intercepts_left(sess) && vm_alive) {
		vmiop_intercepts_restore_round(sess);
		queue_delayed_work(vmiop_linger_wq, &sess->linger_work, msecs_to_jiffies(100));
		return;
	}
	vmiop_own_release(sess, vm_alive);
	vmiop_session_finish(sess);
	/* destroy_workqueue() at module exit waits for this function's return. */
	module_put(THIS_MODULE);
}

/*
 * Undoes everything the session did and lets every vCPU run.  Called when
 * the session fd is released, so no ioctl of this session is running.
 */
void vmiop_session_detach(struct vmiop_session *sess)
{
	/* Pages get their rights back before any vCPU is let go. */
	vmiop_mem_detach(sess);
	/* Still findable: vCPUs undo vmiop's intercepts at their park points. */
	vmiop_release_vcpus(sess);
	vmiop_events_detach(sess);
	/*
	 * Its mappings are gone with the file (each held it), and so may be
	 * the device inode whose mapping the notifier would unmap from.
	 */
	vmiop_mmu_notifier_unregister(sess);
	if (vmiop_intercepts_restore(sess)) {
		/* What the session put into the guest goes last: see own.c. */
		vmiop_own_release(sess, true);
		vmiop_session_finish(sess);
		return;
	}
	__module_get(THIS_MODULE);
	INIT_DELAYED_WORK(&sess->linger_work, vmiop_linger_work);
	queue_delayed_work(vmiop_linger_wq, &sess->linger_work, 0);
}
