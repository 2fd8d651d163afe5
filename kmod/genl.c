// SPDX-License-Identifier: GPL-2.0
/*
 * The "vmiop" generic netlink family: the host's VMs listed, looked up by
 * id or name, named; their lifecycle and sessions announced (the contract
 * is in uapi/linux/vmiop.h).
 *
 * The family lives in the initial network namespace only (netnsok false):
 * a container's root has CAP_SYS_ADMIN in its own namespaces, which must
 * not let it see the host's VMs.  Requests run in the requester's context,
 * so its rights over a VM are the ptrace check attach makes.
 */
#include <net/genetlink.h>
#include "vmiop.h"

/*
 * 6.1 releases before GENL_MCAST_CAP_SYS_ADMIN cannot keep a group to
 * admins: there is no admin group there (libvmiop then listens on the open
 * one), rather than one that would tell anyone everything.
 */
#ifdef GENL_MCAST_CAP_SYS_ADMIN
enum { VMIOP_GRP_VM, VMIOP_GRP_ADMIN, VMIOP_NR_GRPS };
#define VMIOP_GRP_ADMIN_ENTRY \
	[VMIOP_GRP_ADMIN] = { .name = VMIOP_GENL_MCGRP_ADMIN, .flags = GENL_MCAST_CAP_SYS_ADMIN },
#else
enum { VMIOP_GRP_VM, VMIOP_NR_GRPS, VMIOP_GRP_ADMIN = -1 };
#define VMIOP_GRP_ADMIN_ENTRY
#endif

static struct genl_family vmiop_genl_family;

/*
 * The requester sees every VM, or only those it could attach to (vms.c
 * checks, without audit records).  Asked once per request: a refusal is
 * one audit record.
 */
static bool vmiop_genl_admin(const struct sk_buff *skb)
{
	return netlink_capable(skb, CAP_SYS_ADMIN);
}

/* Writable memslots: the guest's RAM and device RAM, not ROM, not vmiop's own. */
static u64 vmiop_genl_mem_bytes(struct kvm *kvm)
{
	struct kvm_memory_slot *slot;
	struct kvm_memslots *slots;
	u64 bytes = 0;
	int bkt, idx;

	idx = srcu_read_lock(&kvm->srcu);
	slots = kvm_memslots(kvm);
	kvm_for_each_memslot(slot, bkt, slots) {
		if (slot->id >= KVM_USER_MEM_SLOTS || slot->flags & KVM_MEM_READONLY ||
		    vmiop_own_slot(slot))
			continue;
		bytes += (u64)slot->npages << PAGE_SHIFT;
	}
	srcu_read_unlock(&kvm->srcu, idx);
	return bytes;
}

static int vmiop_genl_put_name(struct sk_buff *skb, const char *name, u8 source)
{
	if (!name[0])
		return 0;
	if (nla_put_string(skb, VMIOP_GENL_A_VM_NAME, name) ||
	    nla_put_u32(skb, VMIOP_GENL_A_VM_NAME_SOURCE, source))
		return -EMSGSIZE;
	return 0;
}

/* A reply's VM: pids and uids as the requester (current) sees them. */
static int vmiop_genl_put_vm(struct sk_buff *skb, const struct vmiop_vm_snap *s)
{
	struct vmiop_session *sess = vmiop_session_find(s->kvm);
	pid_t vmm_pid = pid_vnr(s->vmm);
	int ret = -EMSGSIZE;

	if (nla_put_u64_64bit(skb, VMIOP_GENL_A_VM_ID, s->id, VMIOP_GENL_A_PAD) ||
	    vmiop_genl_put_name(skb, s->name, s->name_source) ||
	    (vmm_pid && nla_put_u32(skb, VMIOP_GENL_A_VMM_PID, vmm_pid)) ||
	    nla_put_u32(skb, VMIOP_GENL_A_VMM_UID,
			from_kuid_munged(current_user_ns(), s->vmm_uid)) ||
	    nla_put_string(skb, VMIOP_GENL_A_VMM_COMM, s->comm) ||
	    nla_put_u32(skb, VMIOP_GENL_A_VM_NR_VCPUS, atomic_read(&s->kvm->online_vcpus)) ||
	    nla_put_u64_64bit(skb, VMIOP_GENL_A_VM_MEM_BYTES, vmiop_genl_mem_bytes(s->kvm),
			      VMIOP_GENL_A_PAD) ||
	    nla_put_u32(skb, VMIOP_GENL_A_VM_VENDOR, vmiop_vendor->vendor) ||
	    nla_put_u64_64bit(skb, VMIOP_GENL_A_EVENT_SEQ, s->seq, VMIOP_GENL_A_PAD))
		goto out;
	if (sess) {
		pid_t pid = pid_vnr(sess->attacher);

		if ((pid && nla_put_u32(skb, VMIOP_GENL_A_SESSION_PID, pid)) ||
		    nla_put_u32(skb, VMIOP_GENL_A_SESSION_FLAGS,
				READ_ONCE(sess->detached) ? VMIOP_SESSION_F_LINGERING : 0))
			goto out;
	}
	ret = 0;
out:
	if (sess)
		vmiop_session_put(sess);
	return ret;
}

static int vmiop_genl_vm_get(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *id_attr = info->attrs[VMIOP_GENL_A_VM_ID];
	struct nlattr *name_attr = info->attrs[VMIOP_GENL_A_VM_NAME];
	struct vmiop_vm_snap s;
	struct sk_buff *msg;
	bool admin;
	void *hdr;
	int ret;

	if (!id_attr == !name_attr) {
		GENL_SET_ERR_MSG(info, "give one of VMIOP_GENL_A_VM_ID and VMIOP_GENL_A_VM_NAME");
		return -EINVAL;
	}
	if (name_attr && !vmname_valid(nla_data(name_attr))) {
		NL_SET_ERR_MSG_ATTR(info->extack, name_attr, "not a valid VM name");
		return -EINVAL;
	}
	admin = vmiop_genl_admin(skb);
	if (id_attr) {
		if (!nla_get_u64(id_attr) ||
		    vmiop_vm_snap(nla_get_u64(id_attr), NULL, NULL, admin, &s))
			goto no_vm;
	} else if (vmiop_vm_snap(0, nla_data(name_attr), NULL, admin, &s)) {
		/* One created while the hooks went in is known from here on. */
		vmiop_vms_scan();
		if (vmiop_vm_snap(0, nla_data(name_attr), NULL, admin, &s))
			goto no_vm;
	}

	ret = -ENOMEM;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		goto out;
	hdr = genlmsg_put_reply(msg, info, &vmiop_genl_family, 0, VMIOP_GENL_CMD_VM_GET);
	ret = hdr ? vmiop_genl_put_vm(msg, &s) : -EMSGSIZE;
	if (ret) {
		nlmsg_free(msg);
		goto out;
	}
	genlmsg_end(msg, hdr);
	ret = genlmsg_reply(msg, info);
out:
	vmiop_vm_snap_put(&s);
	return ret;
no_vm:
	NL_SET_ERR_MSG_ATTR(info->extack, id_attr ?: name_attr, "no such VM");
	return -ENOENT;
}

/*
 * One step of a dump, by increasing id from cb->args[0]: a VM that does
 * not fit waits for the next step.
 */
static int vmiop_genl_vm_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	const struct genl_dumpit_info *info = genl_dumpit_info(cb);
	u64 cursor = cb->args[0], next;
	struct vmiop_vm_snap s;
	bool admin;

	if (info->attrs[VMIOP_GENL_A_VM_ID] || info->attrs[VMIOP_GENL_A_VM_NAME]) {
		NL_SET_ERR_MSG(cb->extack, "a dump takes no selector");
		return -EINVAL;
	}
	if (!cursor) {
		/* A VM created while the hooks went in is known from here on. */
		vmiop_vms_scan();
		cursor = 1;
		/* Asked once per dump; the steps to come keep the answer. */
		cb->args[1] = vmiop_genl_admin(cb->skb);
	}
	admin = cb->args[1];
	for (next = cursor; !vmiop_vm_snap(0, NULL, &next, admin, &s); cursor = next) {
		void *hdr;
		int ret;

		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
				  &vmiop_genl_family, NLM_F_MULTI, VMIOP_GENL_CMD_VM_GET);
		ret = hdr ? vmiop_genl_put_vm(skb, &s) : -EMSGSIZE;
		if (!ret) {
			cb->seq = s.gen;
			genl_dump_check_consistent(cb, hdr);
			genlmsg_end(skb, hdr);
		} else if (hdr) {
			genlmsg_cancel(skb, hdr);
		}
		vmiop_vm_snap_put(&s);
		if (ret)
			break;
	}
	cb->args[0] = cursor;
	return skb->len;
}

static int vmiop_genl_vm_set_name(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *name_attr = info->attrs[VMIOP_GENL_A_VM_NAME];
	struct vmiop_vm_snap s;
	const char *name;
	u64 id;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, VMIOP_GENL_A_VM_ID) ||
	    GENL_REQ_ATTR_CHECK(info, VMIOP_GENL_A_VM_NAME))
		return -EINVAL;
	name = nla_data(name_attr);
	if (name[0] && !vmname_valid(name)) {
		NL_SET_ERR_MSG_ATTR(info->extack, name_attr,
				    "a VM name is 1-63 bytes, no control character, no '/'");
		return -EINVAL;
	}
	id = nla_get_u64(info->attrs[VMIOP_GENL_A_VM_ID]);
	/* Naming a VM takes the rights to see it. */
	if (!id || vmiop_vm_snap(id, NULL, NULL, vmiop_genl_admin(skb), &s))
		goto no_vm;
	ret = vmiop_vm_set_name(id, name);
	vmiop_vm_snap_put(&s);
	if (ret == -EEXIST)
		NL_SET_ERR_MSG_ATTR(info->extack, name_attr, "a live VM already has this name");
	if (ret == -ENOENT)
		goto no_vm;
	return ret;
no_vm:
	NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[VMIOP_GENL_A_VM_ID], "no such VM");
	return -ENOENT;
}

/* Both commands select a VM the same way: one policy, strictly applied. */
static const struct nla_policy vmiop_genl_vm_policy[VMIOP_GENL_A_VM_NAME + 1] = {
	[VMIOP_GENL_A_VM_ID] = { .type = NLA_U64 },
	[VMIOP_GENL_A_VM_NAME] = { .type = NLA_NUL_STRING, .len = VMNAME_MAX - 1 },
};

/* Each op names its own maxattr: without, it would take the family's. */
static const struct genl_ops vmiop_genl_ops[] = {
	{
		.cmd = VMIOP_GENL_CMD_VM_GET,
		.doit = vmiop_genl_vm_get,
		.dumpit = vmiop_genl_vm_dump,
		.policy = vmiop_genl_vm_policy,
		.maxattr = VMIOP_GENL_A_VM_NAME,
	},
	{
		.cmd = VMIOP_GENL_CMD_VM_SET_NAME,
		.doit = vmiop_genl_vm_set_name,
		.policy = vmiop_genl_vm_policy,
		.maxattr = VMIOP_GENL_A_VM_NAME,
	},
};

static const struct genl_multicast_group vmiop_genl_groups[VMIOP_NR_GRPS] = {
	[VMIOP_GRP_VM] = { .name = VMIOP_GENL_MCGRP_VM },
	VMIOP_GRP_ADMIN_ENTRY
};

static struct genl_family vmiop_genl_family = {
	.name = VMIOP_GENL_NAME,
	.version = VMIOP_GENL_VERSION,
	.module = THIS_MODULE,
	.netnsok = false,
	/* Rights checks and memslot walks need not wait for other families. */
	.parallel_ops = true,
	.ops = vmiop_genl_ops,
	.n_ops = ARRAY_SIZE(vmiop_genl_ops),
	.mcgrps = vmiop_genl_groups,
	.n_mcgrps = ARRAY_SIZE(vmiop_genl_groups),
};

/*
 * What the admin group hears: all the registry knows, pids in the initial
 * namespace (only its admins may join).
 */
static int vmiop_genl_put_note(struct sk_buff *skb, const struct vmiop_vm *vm,
			       struct pid *session)
{
	pid_t vmm_pid = pid_nr(vm->vmm), session_pid = pid_nr(session);

	if (vmiop_genl_put_name(skb, vm->name, vm->name_source) ||
	    (vmm_pid && nla_put_u32(skb, VMIOP_GENL_A_VMM_PID, vmm_pid)) ||
	    nla_put_u32(skb, VMIOP_GENL_A_VMM_UID, from_kuid(&init_user_ns, vm->vmm_uid)) ||
	    nla_put_string(skb, VMIOP_GENL_A_VMM_COMM, vm->comm) ||
	    nla_put_u32(skb, VMIOP_GENL_A_VM_VENDOR, vmiop_vendor->vendor) ||
	    (session_pid && nla_put_u32(skb, VMIOP_GENL_A_SESSION_PID, session_pid)))
		return -EMSGSIZE;
	return 0;
}

static void vmiop_genl_send(unsigned int group, bool full, u8 cmd, const struct vmiop_vm *vm,
			    u64 seq, struct pid *session)
{
	/*
	 * KVM's uevents tell everyone a VM came or went; who introspects or
	 * renames which VM, the open group does not tell.
	 */
	bool with_id = full || cmd == VMIOP_GENL_CMD_VM_CREATED ||
		       cmd == VMIOP_GENL_CMD_VM_DESTROYED;
	struct sk_buff *msg;
	void *hdr;

	if (!genl_has_listeners(&vmiop_genl_family, &init_net, group))
		return;
	/* Sized to the attributes: a listener's buffer holds as many as it can. */
	msg = genlmsg_new(2 * nla_total_size_64bit(sizeof(u64)) +
			  (full ? nla_total_size(VMNAME_MAX) + 5 * nla_total_size(sizeof(u32)) +
				  nla_total_size(TASK_COMM_LEN) : 0), GFP_KERNEL);
	if (!msg)
		return;	/* the gap in the sequence tells the listeners */
	hdr = genlmsg_put(msg, 0, 0, &vmiop_genl_family, 0, cmd);
	if (!hdr || (with_id && nla_put_u64_64bit(msg, VMIOP_GENL_A_VM_ID, vm->id,
						  VMIOP_GENL_A_PAD)) ||
	    nla_put_u64_64bit(msg, VMIOP_GENL_A_EVENT_SEQ, seq, VMIOP_GENL_A_PAD) ||
	    (full && vmiop_genl_put_note(msg, vm, session))) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&vmiop_genl_family, msg, 0, group, GFP_KERNEL);
}

/* Under vmiop_vms_lock (vms.c): in the order of the changes. */
void vmiop_genl_notify(u8 cmd, const struct vmiop_vm *vm, u64 seq, struct pid *session)
{
	if (VMIOP_GRP_ADMIN >= 0)
		vmiop_genl_send(VMIOP_GRP_ADMIN, true, cmd, vm, seq, session);
	vmiop_genl_send(VMIOP_GRP_VM, false, cmd, vm, seq, session);
}

int vmiop_genl_init(void)
{
	int ret = genl_register_family(&vmiop_genl_family);

	if (ret) {
		pr_err("cannot register the generic netlink family %s: %d\n",
		       VMIOP_GENL_NAME, ret);
		return ret;
	}
	vmiop_vms_announce_set(true);
	return 0;
}

/* Waits for requests and dumps in progress (each holds the module). */
void vmiop_genl_exit(void)
{
	vmiop_vms_announce_set(false);
	genl_unregister_family(&vmiop_genl_family);
}
