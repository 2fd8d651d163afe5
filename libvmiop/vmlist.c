// SPDX-License-Identifier: MIT
/*
 * The host's VMs by id and by name, and notifications of their changes,
 * through the module's generic netlink family VMIOP_GENL_NAME, with
 * libnl-genl-3.
 *
 * Every request opens its own socket (a struct nl_sock is not for several
 * threads), resolves the family (not there: -ENODEV, the module is not
 * loaded), sends, and collects the replies with nl_recvmsgs() and
 * callbacks: the kernel's own -errno from its NLMSG_ERROR (libnl would
 * turn it into one of its NLE_ codes), with the extended ack's text for
 * vmiop_vm_last_error().  What the kernel sends is parsed with a policy and
 * checked once more attribute by attribute: a wrong size, an unterminated
 * or overlong string is -EPROTO, never a truncated value.
 *
 * libnl sets errno as it likes: every entry point puts it back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>

#include "vmlist.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The extended ack's text of this thread's last failed request. */
static _Thread_local char vm_last_error[256];

const char *vmiop_vm_last_error(void)
{
	return vm_last_error;
}

/* ---- the codec --------------------------------------------------------- */

#define POL_U32 { .type = NLA_U32, .minlen = sizeof(uint32_t), .maxlen = sizeof(uint32_t) }
#define POL_U64 { .type = NLA_U64, .minlen = sizeof(uint64_t), .maxlen = sizeof(uint64_t) }

const struct nla_policy vmiop__vm_policy[VMIOP_GENL_A_MAX + 1] = {
	[VMIOP_GENL_A_VM_ID]		= POL_U64,
	[VMIOP_GENL_A_VM_NAME]		= { .type = NLA_STRING, .maxlen = VMIOP_VM_NAME_MAX },
	[VMIOP_GENL_A_VM_NAME_SOURCE]	= POL_U32,
	[VMIOP_GENL_A_VMM_PID]		= POL_U32,
	[VMIOP_GENL_A_VMM_UID]		= POL_U32,
	[VMIOP_GENL_A_VMM_COMM]		= { .type = NLA_STRING,
					    .maxlen = sizeof(((struct vmiop_vm_entry *)0)->comm) },
	[VMIOP_GENL_A_VM_NR_VCPUS]	= POL_U32,
	[VMIOP_GENL_A_VM_MEM_BYTES]	= POL_U64,
	[VMIOP_GENL_A_VM_VENDOR]	= POL_U32,
	[VMIOP_GENL_A_SESSION_PID]	= POL_U32,
	[VMIOP_GENL_A_SESSION_FLAGS]	= POL_U32,
	[VMIOP_GENL_A_EVENT_SEQ]	= POL_U64,
};

int vmiop__nle_errno(int nle)
{
	static const unsigned char map[] = {
		[NLE_FAILURE]		= EIO,
		[NLE_INTR]		= EINTR,
		[NLE_BAD_SOCK]		= EBADF,
		[NLE_AGAIN]		= EAGAIN,
		[NLE_NOMEM]		= ENOMEM,
		[NLE_EXIST]		= EEXIST,
		[NLE_INVAL]		= EINVAL,
		[NLE_RANGE]		= ERANGE,
		[NLE_MSGSIZE]		= EMSGSIZE,
		[NLE_OPNOTSUPP]		= EOPNOTSUPP,
		[NLE_AF_NOSUPPORT]	= EAFNOSUPPORT,
		[NLE_OBJ_NOTFOUND]	= ENOENT,
		[NLE_NOATTR]		= ENODATA,
		[NLE_MISSING_ATTR]	= EINVAL,
		[NLE_AF_MISMATCH]	= EAFNOSUPPORT,
		[NLE_SEQ_MISMATCH]	= EPROTO,
		[NLE_MSG_OVERFLOW]	= ENOBUFS,	/* NLMSG_OVERRUN: data lost */
		[NLE_MSG_TRUNC]		= EPROTO,
		[NLE_NOADDR]		= EADDRNOTAVAIL,
		[NLE_SRCRT_NOSUPPORT]	= EOPNOTSUPP,
		[NLE_MSG_TOOSHORT]	= EPROTO,
		[NLE_MSGTYPE_NOSUPPORT]	= EPROTO,
		[NLE_OBJ_MISMATCH]	= EPROTO,
		[NLE_NOCACHE]		= EINVAL,
		[NLE_BUSY]		= EBUSY,
		[NLE_PROTO_MISMATCH]	= EPROTONOSUPPORT,
		[NLE_NOACCESS]		= EACCES,
		[NLE_PERM]		= EPERM,
		[NLE_PKTLOC_FILE]	= ENOENT,
		[NLE_PARSE_ERR]		= EINVAL,
		[NLE_NODEV]		= ENODEV,
		[NLE_IMMUTABLE]		= EPERM,
		[NLE_DUMP_INTR]		= EAGAIN,
		[NLE_ATTRSIZE]		= EPROTO,
	};

	if (nle == INT_MIN)
		return -EIO;
	if (nle < 0)
		nle = -nle;
	if (!nle)
		return 0;
	if ((size_t)nle >= ARRAY_SIZE(map) || !map[nle])
		return -EIO;
	return -(int)map[nle];
}

static int put_header(struct nl_msg *msg, int family, int flags, uint8_t cmd)
{
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, flags, cmd,
			 VMIOP_GENL_VERSION))
		return -ENOMEM;
	return 0;
}

/* 1..VMIOP_VM_NAME_MAX - 1 bytes; the kernel checks the characters. */
static bool name_fits(const char *name)
{
	size_t len = name ? strnlen(name, VMIOP_VM_NAME_MAX) : 0;

	return len && len < VMIOP_VM_NAME_MAX;
}

int vmiop__req_get_id(struct nl_msg *msg, int family, uint64_t id)
{
	int ret = put_header(msg, family, 0, VMIOP_GENL_CMD_VM_GET);

	if (!ret && nla_put_u64(msg, VMIOP_GENL_A_VM_ID, id) < 0)
		ret = -ENOMEM;
	return ret;
}

int vmiop__req_get_name(struct nl_msg *msg, int family, const char *name)
{
	int ret;

	if (!name_fits(name))
		return -EINVAL;
	ret = put_header(msg, family, 0, VMIOP_GENL_CMD_VM_GET);
	if (!ret && nla_put_string(msg, VMIOP_GENL_A_VM_NAME, name) < 0)
		ret = -ENOMEM;
	return ret;
}

int vmiop__req_dump(struct nl_msg *msg, int family)
{
	return put_header(msg, family, NLM_F_DUMP, VMIOP_GENL_CMD_VM_GET);
}

int vmiop__req_set_name(struct nl_msg *msg, int family, uint64_t id, const char *name)
{
	int ret;

	if (!name)
		name = "";
	if (*name && !name_fits(name))
		return -EINVAL;
	ret = put_header(msg, family, 0, VMIOP_GENL_CMD_VM_SET_NAME);
	if (!ret && (nla_put_u64(msg, VMIOP_GENL_A_VM_ID, id) < 0 ||
		     nla_put_string(msg, VMIOP_GENL_A_VM_NAME, name) < 0))
		ret = -ENOMEM;
	return ret;
}

static int attr_u32(const struct nlattr *a, uint32_t *v)
{
	if (!a)
		return 0;
	if (nla_len(a) != (int)sizeof(*v))
		return -EPROTO;
	memcpy(v, nla_data(a), sizeof(*v));
	return 0;
}

static int attr_u64(const struct nlattr *a, uint64_t *v)
{
	if (!a)
		return 0;
	if (nla_len(a) != (int)sizeof(*v))
		return -EPROTO;
	memcpy(v, nla_data(a), sizeof(*v));
	return 0;
}

static int attr_pid(const struct nlattr *a, pid_t *pid)
{
	uint32_t v = 0;
	int ret = attr_u32(a, &v);

	if (ret)
		return ret;
	/* a negative pid_t would name a process group to kill(2) */
	if (v > INT_MAX)
		return -EPROTO;
	*pid = (pid_t)v;
	return 0;
}

/*
 * A string exactly as the kernel puts one: its bytes, one NUL, nothing
 * after it, and it fits @size with the NUL.
 */
static int attr_string(const struct nlattr *a, char *buf, size_t size)
{
	const char *s;
	int len;

	if (!a)
		return 0;
	len = nla_len(a);
	s = nla_data(a);
	if (len < 1 || (size_t)len > size || s[len - 1] || strlen(s) != (size_t)len - 1)
		return -EPROTO;
	memcpy(buf, s, (size_t)len);
	return 0;
}

/* As vmiop__vm_from_attrs(); without @need_id, no VMIOP_GENL_A_VM_ID is id 0. */
static int vm_from_attrs(struct nlattr **tb, struct vmiop_vm_entry *vm, bool need_id)
{
	struct vmiop_vm_entry e;
	size_t i;
	int ret;

	memset(&e, 0, sizeof(e));
	if (!tb[VMIOP_GENL_A_VM_ID] && need_id)
		return -EPROTO;
	if ((ret = attr_u64(tb[VMIOP_GENL_A_VM_ID], &e.id)) ||
	    (ret = attr_string(tb[VMIOP_GENL_A_VM_NAME], e.name, sizeof(e.name))) ||
	    (ret = attr_u32(tb[VMIOP_GENL_A_VM_NAME_SOURCE], &e.name_source)) ||
	    (ret = attr_pid(tb[VMIOP_GENL_A_VMM_PID], &e.vmm_pid)) ||
	    (ret = attr_u32(tb[VMIOP_GENL_A_VMM_UID], &e.vmm_uid)) ||
	    (ret = attr_string(tb[VMIOP_GENL_A_VMM_COMM], e.comm, sizeof(e.comm))) ||
	    (ret = attr_u32(tb[VMIOP_GENL_A_VM_NR_VCPUS], &e.nr_vcpus)) ||
	    (ret = attr_u64(tb[VMIOP_GENL_A_VM_MEM_BYTES], &e.mem_bytes)) ||
	    (ret = attr_u32(tb[VMIOP_GENL_A_VM_VENDOR], &e.vendor)) ||
	    (ret = attr_pid(tb[VMIOP_GENL_A_SESSION_PID], &e.session_pid)) ||
	    (ret = attr_u32(tb[VMIOP_GENL_A_SESSION_FLAGS], &e.session_flags)) ||
	    (ret = attr_u64(tb[VMIOP_GENL_A_EVENT_SEQ], &e.seq)))
		return ret;
	/* present, it is never 0 */
	if (!e.id && tb[VMIOP_GENL_A_VM_ID])
		return -EPROTO;
	/* Names have no control characters (the module's rule): none reach a terminal. */
	for (i = 0; e.name[i]; i++)
		if ((unsigned char)e.name[i] < 0x20 || e.name[i] == 0x7f)
			return -EPROTO;
	*vm = e;
	return 0;
}

int vmiop__vm_from_attrs(struct nlattr **tb, struct vmiop_vm_entry *vm)
{
	return vm_from_attrs(tb, vm, true);
}

static int from_msg(const struct nlmsghdr *nlh, int family, uint8_t *cmd,
		    struct vmiop_vm_entry *vm, bool note)
{
	struct nlattr *tb[VMIOP_GENL_A_MAX + 1];
	struct nlmsghdr *h = (struct nlmsghdr *)nlh;
	uint8_t c;

	if (nlh->nlmsg_type != family || !genlmsg_valid_hdr(h, 0))
		return -EPROTO;
	if (genlmsg_parse(h, 0, tb, VMIOP_GENL_A_MAX, vmiop__vm_policy) < 0)
		return -EPROTO;
	c = ((const struct genlmsghdr *)nlmsg_data(h))->cmd;
	*cmd = c;
	/* Only the open group's news of who renames or introspects has no id. */
	return vm_from_attrs(tb, vm, !note || c == VMIOP_GENL_CMD_VM_CREATED ||
				     c == VMIOP_GENL_CMD_VM_DESTROYED);
}

int vmiop__vm_from_msg(const struct nlmsghdr *nlh, int family, uint8_t *cmd,
		       struct vmiop_vm_entry *vm)
{
	return from_msg(nlh, family, cmd, vm, false);
}

int vmiop__note_from_msg(const struct nlmsghdr *nlh, int family, uint8_t *cmd,
			 struct vmiop_vm_entry *vm)
{
	return from_msg(nlh, family, cmd, vm, true);
}

int vmiop__ack_error(const struct nlmsghdr *nlh, char *text, size_t len)
{
	static const struct nla_policy policy[NLMSGERR_ATTR_MAX + 1] = {
		[NLMSGERR_ATTR_MSG] = { .type = NLA_STRING },
	};
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	const unsigned char *p = NLMSG_DATA(nlh);
	size_t plen, hlen, off, i;
	int error;

	if (text && len)
		text[0] = '\0';
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(int))
		return -EPROTO;
	plen = nlh->nlmsg_len - NLMSG_HDRLEN;
	memcpy(&error, p, sizeof(error));
	if (error > 0 || error < -4095)
		return -EPROTO;
	hlen = sizeof(int);
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr e;

		if (plen < sizeof(e))
			return -EPROTO;
		memcpy(&e, p, sizeof(e));
		hlen = sizeof(e);
		/* Not capped: the request follows, then the TLVs. */
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && e.msg.nlmsg_len >= NLMSG_HDRLEN)
			hlen += e.msg.nlmsg_len - NLMSG_HDRLEN;
	}
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || !text || !len)
		return error;
	off = NLMSG_ALIGN(hlen);
	if (off >= plen || plen - off > INT_MAX)
		return error;
	if (nla_parse(tb, NLMSGERR_ATTR_MAX, (struct nlattr *)(p + off), (int)(plen - off),
		      policy) < 0 || !tb[NLMSGERR_ATTR_MSG])
		return error;
	{
		const char *s = nla_data(tb[NLMSGERR_ATTR_MSG]);
		size_t n = strnlen(s, (size_t)nla_len(tb[NLMSGERR_ATTR_MSG]));

		if (n > len - 1)
			n = len - 1;
		for (i = 0; i < n; i++)
			text[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
		text[n] = '\0';
	}
	return error;
}

/* ---- requests ---------------------------------------------------------- */

struct vm_reply {
	int family;
	bool want;			/* decode the replies (not SET_NAME's) */
	bool many;			/* a dump: every reply; else the first */
	bool done;			/* the ack, the error or NLMSG_DONE came */
	bool intr;			/* NLM_F_DUMP_INTR: the VMs changed meanwhile */
	int err;			/* the kernel's -errno, or a bad reply's */
	struct vmiop_vm_entry *vms;
	size_t nr, cap;
};

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct vm_reply *r = arg;
	struct vmiop_vm_entry vm;
	uint8_t cmd;
	int ret;

	if (!r->want)
		return NL_SKIP;
	ret = vmiop__vm_from_msg(nlmsg_hdr(msg), r->family, &cmd, &vm);
	if (ret) {
		if (!r->err)
			r->err = ret;
		return NL_SKIP;
	}
	if (!r->many && r->nr)
		return NL_SKIP;
	if (r->nr == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct vmiop_vm_entry *grown = NULL;

		if (cap <= INT_MAX)
			grown = realloc(r->vms, cap * sizeof(*grown));
		if (!grown) {
			if (!r->err)
				r->err = -ENOMEM;
			return NL_SKIP;
		}
		r->vms = grown;
		r->cap = cap;
	}
	r->vms[r->nr++] = vm;
	return NL_OK;
}

static void take_error(struct vm_reply *r, const struct nlmsghdr *nlh)
{
	char text[sizeof(vm_last_error)];
	int err = vmiop__ack_error(nlh, text, sizeof(text));

	if (err < 0 && !r->err) {
		r->err = err;
		memcpy(vm_last_error, text, sizeof(text));
	}
}

/* NLMSG_DONE: the dump's end; an int error may follow (a dump that failed). */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct vm_reply *r = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	if (nlh->nlmsg_len >= NLMSG_HDRLEN + sizeof(int))
		take_error(r, nlh);
	r->done = true;
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct vm_reply *r = arg;

	(void)msg;
	r->done = true;
	return NL_STOP;
}

static int on_dump_intr(struct nl_msg *msg, void *arg)
{
	struct vm_reply *r = arg;

	(void)msg;
	r->intr = true;
	return NL_OK;
}

/* libnl passes the nlmsgerr; its message header is just before it. */
static int on_error(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct vm_reply *r = arg;

	(void)nla;
	take_error(r, (const struct nlmsghdr *)((char *)e - NLMSG_HDRLEN));
	if (!r->err)
		r->err = -EPROTO;
	r->done = true;
	return NL_STOP;
}

/*
 * Sends @msg and takes the replies until the ack, the error or the dump's
 * end.  The socket's callbacks are the base (a test replaces its send and
 * receive).
 */
static int transact(struct nl_sock *sk, struct nl_msg *msg, struct vm_reply *r)
{
	struct nl_cb *base = nl_socket_get_cb(sk), *cb;
	int ret;

	cb = base ? nl_cb_clone(base) : NULL;
	nl_cb_put(base);
	if (!cb)
		return -ENOMEM;
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, r);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, r);
	nl_cb_set(cb, NL_CB_DUMP_INTR, NL_CB_CUSTOM, on_dump_intr, r);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, r);
	ret = nl_send_auto(sk, msg);
	if (ret < 0) {
		ret = vmiop__nle_errno(ret);
		goto out;
	}
	ret = 0;
	while (!r->done) {
		/* nl_recvmsgs() would say 0 for "nothing read" too */
		int n = nl_recvmsgs_report(sk, cb);

		if (r->done)
			break;
		if (n < 0) {
			ret = vmiop__nle_errno(n);
			break;
		}
		if (!n) {		/* nothing came, and nothing will */
			ret = -EPROTO;
			break;
		}
	}
	if (!ret)
		ret = r->err;
out:
	nl_cb_put(cb);
	return ret;
}

int vmiop__list_on(struct nl_sock *sk, int family, struct vmiop_vm_entry **vms)
{
	int tries;

	for (tries = 0; tries < VMIOP__DUMP_TRIES; tries++) {
		struct vm_reply r = { .family = family, .want = true, .many = true };
		struct nl_msg *msg = nlmsg_alloc();
		int ret;

		if (!msg)
			return -ENOMEM;
		ret = vmiop__req_dump(msg, family);
		if (!ret)
			ret = transact(sk, msg, &r);
		nlmsg_free(msg);
		if (ret || r.intr) {
			free(r.vms);
			if (ret)
				return ret;
			continue;
		}
		*vms = r.vms;
		return (int)r.nr;
	}
	return -EAGAIN;
}

int vmiop__get_on(struct nl_sock *sk, int family, uint64_t id, const char *name,
		  struct vmiop_vm_entry *vm)
{
	struct vm_reply r = { .family = family, .want = true };
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg)
		return -ENOMEM;
	ret = name ? vmiop__req_get_name(msg, family, name) : vmiop__req_get_id(msg, family, id);
	if (!ret)
		ret = transact(sk, msg, &r);
	nlmsg_free(msg);
	/* The VM asked for, or the kernel is not the family's. */
	if (!ret && (!r.nr || (name ? strcmp(r.vms[0].name, name) : r.vms[0].id != id)))
		ret = -EPROTO;
	if (!ret)
		*vm = r.vms[0];
	free(r.vms);
	return ret;
}

int vmiop__set_name_on(struct nl_sock *sk, int family, uint64_t id, const char *name)
{
	struct vm_reply r = { .family = family };
	struct nl_msg *msg = nlmsg_alloc();
	int ret;

	if (!msg)
		return -ENOMEM;
	ret = vmiop__req_set_name(msg, family, id, name);
	if (!ret)
		ret = transact(sk, msg, &r);
	nlmsg_free(msg);
	free(r.vms);
	return ret;
}

/* A socket of our own with the family resolved: -ENODEV if it is not there. */
static int vm_connect(struct nl_sock **out, int *family)
{
	struct nl_sock *sk = nl_socket_alloc();
	int one = 1, fd, ret;

	if (!sk)
		return -ENOMEM;
	ret = genl_connect(sk);
	if (ret < 0) {
		ret = vmiop__nle_errno(ret);
		goto fail;
	}
	/* The kernel's explanations, without our request echoed (older kernels: neither). */
	fd = nl_socket_get_fd(sk);
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	ret = genl_ctrl_resolve(sk, VMIOP_GENL_NAME);
	if (ret < 0) {
		ret = ret == -NLE_OBJ_NOTFOUND ? -ENODEV : vmiop__nle_errno(ret);
		goto fail;
	}
	*family = ret;
	*out = sk;
	return 0;
fail:
	nl_socket_free(sk);
	return ret;
}

static int vm_list(struct vmiop_vm_entry **vms)
{
	struct nl_sock *sk;
	int family, ret;

	ret = vm_connect(&sk, &family);
	if (ret)
		return ret;
	ret = vmiop__list_on(sk, family, vms);
	nl_socket_free(sk);
	return ret;
}

static int vm_get(uint64_t id, const char *name, struct vmiop_vm_entry *vm)
{
	struct nl_sock *sk;
	int family, ret;

	if (name && !name_fits(name))
		return -EINVAL;
	ret = vm_connect(&sk, &family);
	if (ret)
		return ret;
	ret = vmiop__get_on(sk, family, id, name, vm);
	nl_socket_free(sk);
	return ret;
}

int vmiop_vm_list(struct vmiop_vm_entry **vms)
{
	int saved = errno, ret;

	vm_last_error[0] = '\0';
	ret = vm_list(vms);
	errno = saved;
	return ret;
}

int vmiop_vm_get(uint64_t id, struct vmiop_vm_entry *vm)
{
	int saved = errno, ret;

	vm_last_error[0] = '\0';
	ret = vm_get(id, NULL, vm);
	errno = saved;
	return ret;
}

int vmiop_vm_lookup(const char *name, uint64_t *id)
{
	struct vmiop_vm_entry vm;
	int saved = errno, ret;

	vm_last_error[0] = '\0';
	ret = name ? vm_get(0, name, &vm) : -EINVAL;
	if (!ret)
		*id = vm.id;
	errno = saved;
	return ret;
}

int vmiop_vm_name(uint64_t id, char *buf, size_t len)
{
	struct vmiop_vm_entry vm;
	int saved = errno, ret;

	vm_last_error[0] = '\0';
	ret = vm_get(id, NULL, &vm);
	if (!ret && !vm.name[0])
		ret = -ENODATA;
	else if (!ret && strlen(vm.name) >= len)
		ret = -ERANGE;
	else if (!ret)
		memcpy(buf, vm.name, strlen(vm.name) + 1);
	errno = saved;
	return ret;
}

int vmiop_vm_set_name(uint64_t id, const char *name)
{
	struct nl_sock *sk;
	int saved = errno, family, ret;

	vm_last_error[0] = '\0';
	if (name && *name && !name_fits(name))
		ret = -EINVAL;
	else
		ret = vm_connect(&sk, &family);
	if (!ret) {
		ret = vmiop__set_name_on(sk, family, id, name);
		nl_socket_free(sk);
	}
	errno = saved;
	return ret;
}

int vmiop_attach_name(struct vmiop *v, const char *name)
{
	uint64_t id;
	int ret = vmiop_vm_lookup(name, &id);

	return ret ? ret : vmiop_attach_id(v, id);
}

/* ---- the monitor's bookkeeping ---------------------------------------- */

int vmiop__mon_seq(struct vmiop__mon_state *st, uint64_t seq)
{
	if (!seq)
		return 0;
	if (!st->have_seq) {
		/* A loss before any number known: its gap is still to come. */
		st->have_seq = true;
		st->last_seq = seq;
		return 0;
	}
	if (st->resync && seq > st->last_seq + 1) {
		st->resync = false;
		st->last_seq = seq;
		return 0;
	}
	if (seq <= st->last_seq)
		return 1;
	if (seq == st->last_seq + 1) {
		st->last_seq = seq;
		return 0;
	}
	/* This one comes next, once the loss is reported. */
	st->last_seq = seq - 1;
	return -ENOBUFS;
}

void vmiop__mon_overrun(struct vmiop__mon_state *st)
{
	st->resync = true;
}

int vmiop__mon_seed(struct vmiop__mon_state *st, const struct vmiop_vm_entry *vms, size_t nr)
{
	struct vmiop_vm_entry *known = NULL;

	/*
	 * Not the sequence number: a notification the list reflects comes
	 * again (a duplicate), one it does not is delivered (no loss).
	 */
	if (!st->vm_group)
		return 0;
	if (nr) {
		if (nr > SIZE_MAX / sizeof(*known))
			return -ENOMEM;
		known = malloc(nr * sizeof(*known));
		if (!known)
			return -ENOMEM;
		memcpy(known, vms, nr * sizeof(*known));
	}
	free(st->known);
	st->known = known;
	st->nr_known = st->cap_known = nr;
	return 0;
}

static size_t known_index(const struct vmiop__mon_state *st, uint64_t id)
{
	size_t i;

	for (i = 0; i < st->nr_known; i++)
		if (st->known[i].id == id)
			break;
	return i;
}

int vmiop__mon_filter(struct vmiop__mon_state *st, struct vmiop_vm_event *ev, int get_ret,
		      const struct vmiop_vm_entry *got)
{
	size_t i;

	if (!st->vm_group)
		return 1;
	i = known_index(st, ev->vm.id);
	if (ev->type == VMIOP_GENL_CMD_VM_DESTROYED) {
		const struct vmiop_vm_entry *k;

		if (i == st->nr_known)
			return 0;
		/* What it was; no session outlives a VM. */
		k = &st->known[i];
		memset(&ev->vm, 0, sizeof(ev->vm));
		ev->vm.id = k->id;
		memcpy(ev->vm.name, k->name, sizeof(ev->vm.name));
		ev->vm.name_source = k->name_source;
		ev->vm.vmm_pid = k->vmm_pid;
		ev->vm.vmm_uid = k->vmm_uid;
		memcpy(ev->vm.comm, k->comm, sizeof(ev->vm.comm));
		ev->vm.nr_vcpus = k->nr_vcpus;
		ev->vm.vendor = k->vendor;
		ev->vm.mem_bytes = k->mem_bytes;
		ev->vm.seq = ev->seq;
		st->known[i] = st->known[--st->nr_known];
		return 1;
	}
	if (get_ret == -ENOENT)
		return 0;	/* not the caller's to see, or gone already */
	if (get_ret)
		return get_ret;
	if (got->id != ev->vm.id)
		return -EPROTO;
	if (i == st->nr_known) {
		if (st->nr_known == st->cap_known) {
			size_t cap = st->cap_known ? 2 * st->cap_known : 16;
			struct vmiop_vm_entry *grown = NULL;

			if (cap <= SIZE_MAX / sizeof(*grown))
				grown = realloc(st->known, cap * sizeof(*grown));
			if (!grown)
				return -ENOMEM;
			st->known = grown;
			st->cap_known = cap;
		}
		st->nr_known++;
	}
	st->known[i] = *got;
	ev->vm = *got;
	return 1;
}

size_t vmiop__mon_diff(struct vmiop__mon_state *st, uint32_t type, uint64_t seq,
		       const struct vmiop_vm_entry *vms, size_t nr, struct vmiop_vm_event *out)
{
	size_t i, k, n = 0;

	if (!st->vm_group)
		return 0;
	for (i = 0; i < nr && n < st->nr_known; i++) {
		const struct vmiop_vm_entry *now = &vms[i];
		struct vmiop_vm_entry *was;
		struct vmiop_vm_event *ev = &out[n];

		k = known_index(st, now->id);
		if (k == st->nr_known)
			continue;	/* its CREATED is still to come */
		was = &st->known[k];
		switch (type) {
		case VMIOP_GENL_CMD_VM_RENAMED:
			if (!strcmp(was->name, now->name) && was->name_source == now->name_source)
				continue;
			memcpy(was->name, now->name, sizeof(was->name));
			was->name_source = now->name_source;
			break;
		case VMIOP_GENL_CMD_SESSION_ATTACHED:
			if (!now->session_pid || now->session_pid == was->session_pid)
				continue;
			was->session_pid = now->session_pid;
			was->session_flags = now->session_flags;
			break;
		case VMIOP_GENL_CMD_SESSION_DETACHED:
			if (!was->session_pid || now->session_pid == was->session_pid)
				continue;
			break;
		default:
			return 0;
		}
		memset(ev, 0, sizeof(*ev));
		ev->type = type;
		ev->seq = seq;
		ev->vm = *now;
		if (type == VMIOP_GENL_CMD_SESSION_DETACHED) {
			/* the one that ended, as the admin group says it */
			ev->vm.session_pid = was->session_pid;
			ev->vm.session_flags = was->session_flags;
			was->session_pid = 0;
			was->session_flags = 0;
		}
		n++;
	}
	if (type != VMIOP_GENL_CMD_SESSION_DETACHED)
		return n;
	/* Gone already (its DESTROYED is still to come): its session ended first. */
	for (k = 0; k < st->nr_known && n < st->nr_known; k++) {
		struct vmiop_vm_entry *was = &st->known[k];
		struct vmiop_vm_event *ev = &out[n];

		if (!was->session_pid)
			continue;
		for (i = 0; i < nr && vms[i].id != was->id; i++)
			;
		if (i < nr)
			continue;
		memset(ev, 0, sizeof(*ev));
		ev->type = type;
		ev->seq = seq;
		ev->vm = *was;
		was->session_pid = 0;
		was->session_flags = 0;
		n++;
	}
	return n;
}

void vmiop__mon_free(struct vmiop__mon_state *st)
{
	free(st->known);
	st->known = NULL;
	st->nr_known = st->cap_known = 0;
}

/* ---- the monitor ------------------------------------------------------- */

/* Notifications are a few hundred bytes; one datagram is one of them. */
#define MON_BUF_SIZE	(32 * 1024)
#define MON_RCVBUF	(1 << 20)

struct vmiop_monitor {
	struct nl_sock *sk;
	int family;
	bool lost;			/* -ENOBUFS to report */
	struct vmiop__mon_state st;
	/* the events of one notification without an id, to hand out */
	struct vmiop_vm_event *pending;
	size_t nr_pending, next_pending;
	unsigned char *buf;		/* the datagram received ... */
	size_t len, off;		/* ... and where its next message is */
};

/* Joins @group of the family: 0, or libnl's error. */
static int join(struct nl_sock *sk, const char *group)
{
	int grp = genl_ctrl_resolve_grp(sk, VMIOP_GENL_NAME, group);

	return grp < 0 ? grp : nl_socket_add_membership(sk, grp);
}

static void monitor_free(struct vmiop_monitor *m)
{
	if (m->sk)
		nl_socket_free(m->sk);
	vmiop__mon_free(&m->st);
	free(m->pending);
	free(m->buf);
	free(m);
}

static int monitor_open(struct vmiop_monitor **out)
{
	struct vmiop_vm_entry *vms = NULL;
	struct vmiop_monitor *m;
	int ret, n;

	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->buf = malloc(MON_BUF_SIZE);
	if (!m->buf) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = vm_connect(&m->sk, &m->family);
	if (ret)
		goto fail;
	/* The admin group needs CAP_SYS_ADMIN (-EPERM at bind). */
	ret = join(m->sk, VMIOP_GENL_MCGRP_ADMIN);
	if (ret == -NLE_PERM || ret == -NLE_NOACCESS || ret == -NLE_OBJ_NOTFOUND) {
		m->st.vm_group = true;
		ret = join(m->sk, VMIOP_GENL_MCGRP_VM);
	}
	if (ret < 0) {
		ret = ret == -NLE_OBJ_NOTFOUND ? -EOPNOTSUPP : vmiop__nle_errno(ret);
		goto fail;
	}
	ret = nl_socket_set_nonblocking(m->sk);
	if (ret < 0) {
		ret = vmiop__nle_errno(ret);
		goto fail;
	}
	/* More room against overruns; capped for the unprivileged, fine. */
	nl_socket_set_buffer_size(m->sk, MON_RCVBUF, 0);
	/*
	 * The VMs seen now, listed after joining (on a socket of its own):
	 * their destruction is reported, and their changes that come without
	 * an id.  Notifications from between the join and the list are
	 * delivered, even those the list reflects already.
	 */
	if (m->st.vm_group) {
		n = vm_list(&vms);
		if (n < 0) {
			ret = n;
			goto fail;
		}
		ret = vmiop__mon_seed(&m->st, vms, (size_t)n);
		free(vms);
		if (ret)
			goto fail;
	}
	*out = m;
	return 0;
fail:
	monitor_free(m);
	return ret;
}

int vmiop_monitor_open(struct vmiop_monitor **m, unsigned int flags)
{
	int saved = errno, ret;

	if (flags)
		return -EINVAL;
	vm_last_error[0] = '\0';
	ret = monitor_open(m);
	errno = saved;
	return ret;
}

int vmiop_monitor_fd(const struct vmiop_monitor *m)
{
	return nl_socket_get_fd(m->sk);
}

/* The next message received, or -EAGAIN, -ENOBUFS (the socket overran). */
static int monitor_next(struct vmiop_monitor *m, const struct nlmsghdr **out)
{
	for (;;) {
		const struct nlmsghdr *nlh;
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		ssize_t n;
		size_t at;

		if (m->off < m->len) {
			at = m->off;
			nlh = (const struct nlmsghdr *)(m->buf + at);
			if (!nlmsg_ok(nlh, (int)(m->len - at))) {
				m->off = m->len;	/* the rest is not a message */
				continue;
			}
			m->off = at + NLMSG_ALIGN(nlh->nlmsg_len);
			if (m->off > m->len)
				m->off = m->len;
			*out = nlh;
			return 0;
		}
		m->off = m->len = 0;
		n = recvfrom(nl_socket_get_fd(m->sk), m->buf, MON_BUF_SIZE,
			     MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&sa, &salen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if ((size_t)n > MON_BUF_SIZE)
			return -ENOBUFS;	/* one that did not fit: lost */
		if (salen != sizeof(sa) || sa.nl_family != AF_NETLINK || sa.nl_pid)
			continue;		/* not the kernel's */
		m->len = (size_t)n;
	}
}

/*
 * The open group's change without an id: list what the caller sees and
 * queue the events of the known VMs it changed.  0 (none pending: drop
 * it) or 1, or the list's -errno.
 */
static int monitor_diff(struct vmiop_monitor *m, uint32_t type, uint64_t seq)
{
	struct vmiop_vm_entry *vms = NULL;
	struct vmiop_vm_event *out;
	size_t n;
	int nr;

	m->nr_pending = m->next_pending = 0;
	if (!m->st.nr_known)
		return 0;	/* nothing of the caller's to change */
	nr = vm_list(&vms);
	if (nr < 0)
		return nr;
	out = calloc(m->st.nr_known, sizeof(*out));
	if (!out) {
		free(vms);
		return -ENOMEM;
	}
	n = vmiop__mon_diff(&m->st, type, seq, vms, (size_t)nr, out);
	free(vms);
	free(m->pending);
	m->pending = out;
	m->nr_pending = n;
	return n ? 1 : 0;
}

static int monitor_read(struct vmiop_monitor *m, struct vmiop_vm_event *ev)
{
	for (;;) {
		const struct nlmsghdr *nlh = NULL;
		struct vmiop_vm_entry got;
		int ret, get_ret = 0;
		uint8_t cmd;

		if (m->next_pending < m->nr_pending) {
			*ev = m->pending[m->next_pending++];
			return 1;
		}
		if (m->lost) {
			struct vmiop_vm_entry *vms;
			int n;

			/* The caller lists again; the visible set is renewed too. */
			m->lost = false;
			if (m->st.vm_group && (n = vm_list(&vms)) >= 0) {
				vmiop__mon_seed(&m->st, vms, (size_t)n);
				free(vms);
			}
			return -ENOBUFS;
		}
		ret = monitor_next(m, &nlh);
		if (ret == -ENOBUFS) {
			vmiop__mon_overrun(&m->st);
			m->lost = true;
			continue;
		}
		if (ret)
			return ret;
		if (nlh->nlmsg_type != m->family)
			continue;
		memset(ev, 0, sizeof(*ev));
		ret = vmiop__note_from_msg(nlh, m->family, &cmd, &ev->vm);
		if (ret)
			return ret;
		ret = vmiop__mon_seq(&m->st, ev->vm.seq);
		if (ret == 1)
			continue;
		if (ret) {
			/* Report the loss, then this message again. */
			m->off = (size_t)((const unsigned char *)nlh - m->buf);
			m->lost = true;
			continue;
		}
		/* Types of a newer module: not ours to report. */
		if (cmd < VMIOP_GENL_CMD_VM_CREATED || cmd > VMIOP_GENL_CMD_SESSION_DETACHED)
			continue;
		ev->type = cmd;
		ev->seq = ev->vm.seq;
		if (!ev->vm.id) {
			/* The admin group names every VM. */
			if (!m->st.vm_group)
				return -EPROTO;
			/* Not listed (interrupted dumps, memory): the caller must. */
			if (monitor_diff(m, cmd, ev->seq) < 0)
				m->lost = true;
			continue;	/* its events, if any, are pending */
		}
		memset(&got, 0, sizeof(got));
		if (m->st.vm_group && cmd != VMIOP_GENL_CMD_VM_DESTROYED)
			get_ret = vm_get(ev->vm.id, NULL, &got);
		if (get_ret && get_ret != -ENOENT) {
			m->lost = true;	/* this one is lost to the caller */
			continue;
		}
		ret = vmiop__mon_filter(&m->st, ev, get_ret, &got);
		if (ret)
			return ret;
	}
}

int vmiop_monitor_read(struct vmiop_monitor *m, struct vmiop_vm_event *ev)
{
	int saved = errno, ret;

	ret = monitor_read(m, ev);
	errno = saved;
	return ret;
}

void vmiop_monitor_close(struct vmiop_monitor *m)
{
	int saved = errno;

	if (m)
		monitor_free(m);
	errno = saved;
}
