/* SPDX-License-Identifier: MIT */
/*
 * libvmiop's side of the "vmiop" generic netlink family (vmlist.c): the
 * message codec and the monitor's bookkeeping as pure functions, and the
 * requests on a given socket.  Internal: not part of the ABI (hidden in
 * libvmiop.so), declared here for selftests/unit/test_vmlist.c, which
 * links vmlist.c in.  Needs libnl-3's headers (pkg-config libnl-genl-3.0).
 */
#ifndef LIBVMIOP_VMLIST_H
#define LIBVMIOP_VMLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "libvmiop.h"

/* Non-static for the unit test's static link, never exported. */
#define VMIOP_INTERNAL __attribute__((visibility("hidden")))

/*
 * What the kernel may send, attribute by attribute: fixed sizes exactly,
 * strings NUL-terminated and no longer than the entry's buffer.
 */
VMIOP_INTERNAL extern const struct nla_policy vmiop__vm_policy[VMIOP_GENL_A_MAX + 1];

/* A libnl error code (-NLE_* or NLE_*) as a -errno. */
VMIOP_INTERNAL int vmiop__nle_errno(int nle);

/*
 * Requests, into an empty @msg for family @family: 0, -EINVAL (a name that
 * cannot be one: empty or VMIOP_VM_NAME_MAX bytes or more; set_name takes
 * "" or NULL for "clear"), -ENOMEM (it does not fit).
 */
VMIOP_INTERNAL int vmiop__req_get_id(struct nl_msg *msg, int family, uint64_t id);
VMIOP_INTERNAL int vmiop__req_get_name(struct nl_msg *msg, int family, const char *name);
VMIOP_INTERNAL int vmiop__req_dump(struct nl_msg *msg, int family);
VMIOP_INTERNAL int vmiop__req_set_name(struct nl_msg *msg, int family, uint64_t id,
				       const char *name);

/*
 * Attributes (as nla_parse() leaves them, policy or not: each is checked
 * again) into @vm.  VMIOP_GENL_A_VM_ID is required and non-zero; the rest
 * are 0 or "" when absent.  -EPROTO: missing id, a wrong size, a string
 * unterminated or longer than its field, a pid beyond pid_t.
 */
VMIOP_INTERNAL int vmiop__vm_from_attrs(struct nlattr **tb, struct vmiop_vm_entry *vm);
/*
 * A whole message of family @family (its generic netlink header, then the
 * attributes, parsed with vmiop__vm_policy) into *@cmd and @vm.  -EPROTO
 * as above, or another family, or a short header.
 */
VMIOP_INTERNAL int vmiop__vm_from_msg(const struct nlmsghdr *nlh, int family, uint8_t *cmd,
				      struct vmiop_vm_entry *vm);
/*
 * A notification, as vmiop__vm_from_msg(), except that one other than
 * VMIOP_GENL_CMD_VM_CREATED and _DESTROYED may come without
 * VMIOP_GENL_A_VM_ID (the open group's RENAMED, SESSION_ATTACHED and
 * SESSION_DETACHED): then @vm->id is 0.
 */
VMIOP_INTERNAL int vmiop__note_from_msg(const struct nlmsghdr *nlh, int family, uint8_t *cmd,
					struct vmiop_vm_entry *vm);
/*
 * An NLMSG_ERROR message (or NLMSG_DONE, whose payload starts with an int
 * error too): its error (0 or -errno; -EPROTO if malformed), and the
 * extended ack's NLMSGERR_ATTR_MSG into @text (@len bytes, "" if none).
 */
VMIOP_INTERNAL int vmiop__ack_error(const struct nlmsghdr *nlh, char *text, size_t len);

/* ---- requests on a connected socket (the unit test fakes the kernel) --- */

/* One VM_GET dump, retried while the kernel marks it NLM_F_DUMP_INTR. */
#define VMIOP__DUMP_TRIES	4
VMIOP_INTERNAL int vmiop__list_on(struct nl_sock *sk, int family, struct vmiop_vm_entry **vms);
/* VM_GET of @name if not NULL, else of @id. */
VMIOP_INTERNAL int vmiop__get_on(struct nl_sock *sk, int family, uint64_t id, const char *name,
				 struct vmiop_vm_entry *vm);
VMIOP_INTERNAL int vmiop__set_name_on(struct nl_sock *sk, int family, uint64_t id,
				      const char *name);

/* ---- the monitor's bookkeeping ---------------------------------------- */

struct vmiop__mon_state {
	bool vm_group;		/* the open group: ids only, filter by visibility */
	bool have_seq;		/* last_seq is known */
	bool resync;		/* a loss was reported: its gap is not news */
	uint64_t last_seq;	/* of the last event seen */
	/*
	 * vm_group: the VMs delivered (or listed), as last reported: for
	 * DESTROYED, and the changes of events without an id
	 */
	struct vmiop_vm_entry *known;
	size_t nr_known, cap_known;
};

/*
 * An event's sequence number against the last one: 0 next in line (or no
 * number known yet, or @seq 0: none), 1 already seen (skip it), -ENOBUFS
 * events were lost in between (the state then takes this event as the
 * next one).  Only events received count: a list does not move the
 * number, so what happened between joining the group and listing is
 * delivered (perhaps again), never skipped.
 */
VMIOP_INTERNAL int vmiop__mon_seq(struct vmiop__mon_state *st, uint64_t seq);
/*
 * The socket overran (recv(2) said ENOBUFS, which the caller reports): the
 * kernel says so before the events still queued, so the gap those lead to
 * is the loss already reported, not another.
 */
VMIOP_INTERNAL void vmiop__mon_overrun(struct vmiop__mon_state *st);
/*
 * A list of the visible VMs replaces the known set (vm_group; else
 * nothing).  The sequence numbers are left alone: notifications the list
 * already reflects are delivered anyway, duplicates rather than losses.
 * 0 or -ENOMEM.
 */
VMIOP_INTERNAL int vmiop__mon_seed(struct vmiop__mon_state *st, const struct vmiop_vm_entry *vms,
				   size_t nr);
/*
 * Whether to deliver @ev (type, seq, and what the notification carried in
 * ev->vm, with an id).  Admin group: always.  vm_group: for DESTROYED,
 * only a known VM (forgotten then, @ev filled from what was known);
 * otherwise @get_ret and @got are the caller's VM_GET of the id: -ENOENT
 * drops the event, a success fills @ev and makes the VM known, another
 * error is returned.  1 deliver, 0 drop, -errno.
 */
VMIOP_INTERNAL int vmiop__mon_filter(struct vmiop__mon_state *st, struct vmiop_vm_event *ev,
				     int get_ret, const struct vmiop_vm_entry *got);
/*
 * An event without an id (vm_group: RENAMED, SESSION_ATTACHED or
 * SESSION_DETACHED, numbered @seq) against @vms, the visible VMs listed
 * after it came.  Each known VM in the list whose fields of @type differ
 * from the known ones gets an event of @type into @out (room for
 * st->nr_known), in the list's order, and its known copy takes those
 * fields (and only those: another type's change is left to its own
 * event):
 *   RENAMED: name or name_source differ;
 *   SESSION_ATTACHED: a session whose pid is not the known one's;
 *   SESSION_DETACHED: the known session is gone (none, or another pid);
 *	the event carries the session that ended, and none is known after.
 * An event's vm is the listed entry (DETACHED: with the ended session's
 * pid and flags) and its seq @seq.  Known VMs not listed (gone: their
 * DESTROYED is to come) and listed ones not known (their CREATED is to
 * come) are left alone.  Returns how many: 0 drops the notification.
 */
VMIOP_INTERNAL size_t vmiop__mon_diff(struct vmiop__mon_state *st, uint32_t type, uint64_t seq,
				      const struct vmiop_vm_entry *vms, size_t nr,
				      struct vmiop_vm_event *out);
VMIOP_INTERNAL void vmiop__mon_free(struct vmiop__mon_state *st);

#endif
