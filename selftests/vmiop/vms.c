// SPDX-License-Identifier: GPL-2.0
/*
 * VMs by id and by name: the registry fed by KVM's VM lifetime, attach by
 * id, and the "vmiop" generic netlink family.  Requests are built by hand
 * here, byte by byte, so that malformed ones are as easy to send as good
 * ones; libvmiop's own netlink client is tested in vms_lib.c.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include "vmiop_test.h"
#include "vt_vmm.h"

VT_DEFINE_COUNTERS;

/* ---- generic netlink, by hand ------------------------------------------ */

struct gnl {
	int fd;
	uint16_t family;
	uint32_t grp_admin, grp_vm;
	uint32_t seq;
	char extack[256];	/* the last error's message */
};

struct gmsg {
	char buf[8192];
	size_t len;
};

static void gmsg_init(struct gmsg *m, uint16_t type, uint16_t flags, uint8_t cmd)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	struct genlmsghdr *g = NLMSG_DATA(nlh);

	memset(m->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	g->cmd = cmd;
	g->version = VMIOP_GENL_VERSION;
	m->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

/* An attribute of any length: @len is what the header claims, @dlen is copied. */
static void gmsg_put_raw(struct gmsg *m, uint16_t type, uint16_t len, const void *data,
			 size_t dlen)
{
	struct nlattr *a = (struct nlattr *)(m->buf + m->len);

	ASSERT_TRUE(m->len + NLA_HDRLEN + NLA_ALIGN(dlen) <= sizeof(m->buf));
	a->nla_type = type;
	a->nla_len = len;
	memcpy((char *)a + NLA_HDRLEN, data, dlen);
	memset((char *)a + NLA_HDRLEN + dlen, 0, NLA_ALIGN(dlen) - dlen);
	m->len += NLA_HDRLEN + NLA_ALIGN(dlen);
}

static void gmsg_put(struct gmsg *m, uint16_t type, const void *data, size_t dlen)
{
	gmsg_put_raw(m, type, NLA_HDRLEN + dlen, data, dlen);
}

static void gmsg_put_u64(struct gmsg *m, uint16_t type, uint64_t v)
{
	gmsg_put(m, type, &v, sizeof(v));
}

static void gmsg_put_str(struct gmsg *m, uint16_t type, const char *s)
{
	gmsg_put(m, type, s, strlen(s) + 1);
}

/* Walks the attributes at @p..@end into @tb (last one of a type wins). */
static void gnl_parse(const char *p, const char *end, const struct nlattr **tb, int max)
{
	memset(tb, 0, sizeof(*tb) * (max + 1));
	while (p + NLA_HDRLEN <= end) {
		const struct nlattr *a = (const struct nlattr *)p;

		ASSERT_TRUE(a->nla_len >= NLA_HDRLEN && p + a->nla_len <= end);
		if ((a->nla_type & NLA_TYPE_MASK) <= max)
			tb[a->nla_type & NLA_TYPE_MASK] = a;
		p += NLA_ALIGN(a->nla_len);
	}
}

#define NLA_PAYLOAD(a) ((const char *)(a) + NLA_HDRLEN)

static uint64_t nla_u64(const struct nlattr *a)
{
	uint64_t v;

	ASSERT_EQ(a->nla_len, NLA_HDRLEN + 8);
	memcpy(&v, NLA_PAYLOAD(a), 8);
	return v;
}

static uint32_t nla_u32(const struct nlattr *a)
{
	uint32_t v;

	ASSERT_EQ(a->nla_len, NLA_HDRLEN + 4);
	memcpy(&v, NLA_PAYLOAD(a), 4);
	return v;
}

/* One VM as the family reports it. */
struct gvm {
	uint64_t id, mem_bytes, seq;
	char name[VMIOP_VM_NAME_MAX];
	char comm[16];
	uint32_t name_source, vmm_pid, vmm_uid, nr_vcpus, vendor, session_pid, session_flags;
	bool has_session;
	uint8_t cmd;
	int nattrs;
};

static void gvm_from(const struct nlmsghdr *nlh, struct gvm *vm)
{
	const struct genlmsghdr *g = NLMSG_DATA(nlh);
	const struct nlattr *tb[VMIOP_GENL_A_MAX + 1];
	const char *p = (const char *)g + GENL_HDRLEN;
	int i;

	memset(vm, 0, sizeof(*vm));
	vm->cmd = g->cmd;
	gnl_parse(p, (const char *)nlh + nlh->nlmsg_len, tb, VMIOP_GENL_A_MAX);
	for (i = 0; i <= VMIOP_GENL_A_MAX; i++)
		vm->nattrs += !!tb[i];
	if (tb[VMIOP_GENL_A_VM_ID])
		vm->id = nla_u64(tb[VMIOP_GENL_A_VM_ID]);
	if (tb[VMIOP_GENL_A_VM_NAME]) {
		ASSERT_LE(tb[VMIOP_GENL_A_VM_NAME]->nla_len - NLA_HDRLEN, VMIOP_VM_NAME_MAX);
		memcpy(vm->name, NLA_PAYLOAD(tb[VMIOP_GENL_A_VM_NAME]),
		       tb[VMIOP_GENL_A_VM_NAME]->nla_len - NLA_HDRLEN);
	}
	if (tb[VMIOP_GENL_A_VMM_COMM])
		snprintf(vm->comm, sizeof(vm->comm), "%s", NLA_PAYLOAD(tb[VMIOP_GENL_A_VMM_COMM]));
#define U32(A, f) if (tb[A]) vm->f = nla_u32(tb[A])
	U32(VMIOP_GENL_A_VM_NAME_SOURCE, name_source);
	U32(VMIOP_GENL_A_VMM_PID, vmm_pid);
	U32(VMIOP_GENL_A_VMM_UID, vmm_uid);
	U32(VMIOP_GENL_A_VM_NR_VCPUS, nr_vcpus);
	U32(VMIOP_GENL_A_VM_VENDOR, vendor);
	U32(VMIOP_GENL_A_SESSION_PID, session_pid);
	U32(VMIOP_GENL_A_SESSION_FLAGS, session_flags);
#undef U32
	vm->has_session = tb[VMIOP_GENL_A_SESSION_FLAGS];
	if (tb[VMIOP_GENL_A_VM_MEM_BYTES])
		vm->mem_bytes = nla_u64(tb[VMIOP_GENL_A_VM_MEM_BYTES]);
	if (tb[VMIOP_GENL_A_EVENT_SEQ])
		vm->seq = nla_u64(tb[VMIOP_GENL_A_EVENT_SEQ]);
}

/*
 * Sends @m and reads to its end: replies into @vms (up to @max, counted in
 * *@n), then the ack.  Returns the ack's error (0 or -errno); *@intr: the
 * dump was marked inconsistent.
 */
static int gnl_xfer(struct gnl *g, struct gmsg *m, struct gvm *vms, int max, int *n,
		    bool *intr)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)m->buf;
	static char buf[65536];
	int got = 0;

	nlh->nlmsg_len = m->len;
	nlh->nlmsg_seq = ++g->seq;
	g->extack[0] = '\0';
	ASSERT_EQ(send(g->fd, m->buf, m->len, 0), (ssize_t)m->len);
	for (;;) {
		ssize_t len = recv(g->fd, buf, sizeof(buf), 0);
		struct nlmsghdr *r;

		ASSERT_GT(len, 0);
		for (r = (struct nlmsghdr *)buf; NLMSG_OK(r, len); r = NLMSG_NEXT(r, len)) {
			if (r->nlmsg_seq != g->seq)
				continue;	/* a notification's, or an old request's */
			if (r->nlmsg_type == NLMSG_ERROR || r->nlmsg_type == NLMSG_DONE) {
				int err = 0;

				if (r->nlmsg_type == NLMSG_ERROR) {
					struct nlmsgerr *e = NLMSG_DATA(r);
					const struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
					size_t off = NLMSG_HDRLEN + sizeof(*e);

					err = e->error;
					/* NETLINK_CAP_ACK: no copy of the request */
					if (r->nlmsg_flags & NLM_F_ACK_TLVS) {
						gnl_parse((char *)r + off, (char *)r + r->nlmsg_len,
							  tb, NLMSGERR_ATTR_MAX);
						if (tb[NLMSGERR_ATTR_MSG])
							snprintf(g->extack, sizeof(g->extack), "%s",
								 NLA_PAYLOAD(tb[NLMSGERR_ATTR_MSG]));
					}
				} else {
					memcpy(&err, NLMSG_DATA(r), sizeof(err));
					if (intr)
						*intr = r->nlmsg_flags & NLM_F_DUMP_INTR;
				}
				if (n)
					*n = got;
				/* A dump ends with DONE; its ack follows only on error. */
				return err;
			}
			if (r->nlmsg_flags & NLM_F_DUMP_INTR && intr)
				*intr = true;
			if (r->nlmsg_type == g->family && got < max)
				gvm_from(r, &vms[got++]);
		}
	}
}

static int gnl_resolve(struct gnl *g)
{
	struct gmsg m;
	struct nlmsghdr *nlh = (struct nlmsghdr *)m.buf;
	static char buf[8192];
	const struct nlattr *tb[CTRL_ATTR_MAX + 1];
	ssize_t len;

	gmsg_init(&m, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY);
	((struct genlmsghdr *)NLMSG_DATA(nlh))->version = 2;
	gmsg_put_str(&m, CTRL_ATTR_FAMILY_NAME, VMIOP_GENL_NAME);
	nlh->nlmsg_len = m.len;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++g->seq;
	ASSERT_EQ(send(g->fd, m.buf, m.len, 0), (ssize_t)m.len);
	len = recv(g->fd, buf, sizeof(buf), 0);
	ASSERT_GT(len, 0);
	nlh = (struct nlmsghdr *)buf;
	if (nlh->nlmsg_type == NLMSG_ERROR)
		return ((struct nlmsgerr *)NLMSG_DATA(nlh))->error;
	gnl_parse((char *)NLMSG_DATA(nlh) + GENL_HDRLEN, buf + nlh->nlmsg_len, tb, CTRL_ATTR_MAX);
	ASSERT_TRUE(tb[CTRL_ATTR_FAMILY_ID] && tb[CTRL_ATTR_MCAST_GROUPS]);
	memcpy(&g->family, NLA_PAYLOAD(tb[CTRL_ATTR_FAMILY_ID]), 2);
	{
		const char *p = NLA_PAYLOAD(tb[CTRL_ATTR_MCAST_GROUPS]);
		const char *end = (const char *)tb[CTRL_ATTR_MCAST_GROUPS] +
				  tb[CTRL_ATTR_MCAST_GROUPS]->nla_len;

		while (p + NLA_HDRLEN <= end) {
			const struct nlattr *grp = (const struct nlattr *)p;
			const struct nlattr *gt[CTRL_ATTR_MCAST_GRP_MAX + 1];

			gnl_parse(NLA_PAYLOAD(grp), p + grp->nla_len, gt, CTRL_ATTR_MCAST_GRP_MAX);
			ASSERT_TRUE(gt[CTRL_ATTR_MCAST_GRP_NAME] && gt[CTRL_ATTR_MCAST_GRP_ID]);
			if (!strcmp(NLA_PAYLOAD(gt[CTRL_ATTR_MCAST_GRP_NAME]), VMIOP_GENL_MCGRP_ADMIN))
				g->grp_admin = nla_u32(gt[CTRL_ATTR_MCAST_GRP_ID]);
			else if (!strcmp(NLA_PAYLOAD(gt[CTRL_ATTR_MCAST_GRP_NAME]),
					 VMIOP_GENL_MCGRP_VM))
				g->grp_vm = nla_u32(gt[CTRL_ATTR_MCAST_GRP_ID]);
			p += NLA_ALIGN(grp->nla_len);
		}
	}
	ASSERT_TRUE(g->grp_admin && g->grp_vm);
	return 0;
}

static void gnl_open(struct gnl *g)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int one = 1;

	memset(g, 0, sizeof(*g));
	g->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	ASSERT_GE(g->fd, 0);
	ASSERT_EQ(bind(g->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ASSERT_EQ(setsockopt(g->fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)), 0);
	ASSERT_EQ(setsockopt(g->fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)), 0);
	ASSERT_EQ(gnl_resolve(g), 0);
}

static int gnl_join(struct gnl *g, uint32_t grp)
{
	return setsockopt(g->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) ?
	       -errno : 0;
}

/* Every VM the caller sees, one dump request. */
static int gnl_dump(struct gnl *g, struct gvm *vms, int max, bool *intr)
{
	struct gmsg m;
	int n = 0, err;

	gmsg_init(&m, g->family, NLM_F_DUMP, VMIOP_GENL_CMD_VM_GET);
	err = gnl_xfer(g, &m, vms, max, &n, intr);
	ASSERT_EQ(err, 0);
	return n;
}

static int gnl_get_id(struct gnl *g, uint64_t id, struct gvm *vm)
{
	struct gmsg m;
	int n = 0, err;

	gmsg_init(&m, g->family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	err = gnl_xfer(g, &m, vm, 1, &n, NULL);
	if (!err)
		ASSERT_EQ(n, 1);
	return err;
}

static int gnl_get_name(struct gnl *g, const char *name, struct gvm *vm)
{
	struct gmsg m;
	int n = 0, err;

	gmsg_init(&m, g->family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_str(&m, VMIOP_GENL_A_VM_NAME, name);
	err = gnl_xfer(g, &m, vm, 1, &n, NULL);
	if (!err)
		ASSERT_EQ(n, 1);
	return err;
}

static int gnl_set_name(struct gnl *g, uint64_t id, const char *name)
{
	struct gmsg m;

	gmsg_init(&m, g->family, 0, VMIOP_GENL_CMD_VM_SET_NAME);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	gmsg_put_str(&m, VMIOP_GENL_A_VM_NAME, name);
	return gnl_xfer(g, &m, NULL, 0, NULL, NULL);
}

/* The next notification on a joined socket (waits up to 60 s). */
static void gnl_next_note(struct gnl *g, struct gvm *vm)
{
	static char buf[8192];
	struct timeval tv = { .tv_sec = 60 };
	ssize_t len;

	ASSERT_EQ(setsockopt(g->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	for (;;) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;

		len = recv(g->fd, buf, sizeof(buf), 0);
		ASSERT_GT(len, 0);
		/* One notification per datagram: multicast is not batched. */
		ASSERT_TRUE(NLMSG_OK(nlh, len));
		if (nlh->nlmsg_seq == 0 && nlh->nlmsg_type == g->family) {
			gvm_from(nlh, vm);
			return;
		}
	}
}

/* No notification waits on @g. */
static void gnl_no_note(struct gnl *g)
{
	char buf[64];

	ASSERT_EQ(recv(g->fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	ASSERT_EQ(errno, EAGAIN);
}

static const struct gvm *gvm_find(const struct gvm *vms, int n, uint64_t id)
{
	int i;

	for (i = 0; i < n; i++)
		if (vms[i].id == id)
			return &vms[i];
	return NULL;
}

/* ---- attach and VM_INFO ----------------------------------------------- */

static uint64_t vt_vm_id(struct tvm *tvm)
{
	struct vmiop_vm_info info;
	struct vmiop *v = vt_attach(tvm);

	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	vmiop_close(v);
	ASSERT_GT(info.vm_id, 0);
	return info.vm_id;
}

static int vt_attach_id(struct vmiop *v, uint64_t id)
{
	struct vmiop_attach a = { .size = sizeof(a), .flags = VMIOP_ATTACH_F_VM_ID, .vm_id = id };

	return ioctl(vmiop_fd(v), VMIOP_ATTACH, &a) ? -errno : 0;
}

TEST(vm_ids_increase_and_are_never_reused)
{
	struct tvm *a = tvm_create(1, 0), *b = tvm_create(1, 0), *c;
	struct vmiop_api api;
	uint64_t ia = vt_vm_id(a), ib = vt_vm_id(b), ic;
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	EXPECT_TRUE(api.features & VMIOP_FEAT_VM_IDS);
	vmiop_close(v);
	EXPECT_GT(ib, ia);
	EXPECT_EQ(vt_vm_id(a), ia);	/* an id for the VM's lifetime */
	tvm_destroy(b);
	c = tvm_create(1, 0);
	ic = vt_vm_id(c);
	EXPECT_GT(ic, ib);
	tvm_destroy(a);
	tvm_destroy(c);
}

/* Two VMs in one process: attach by pid cannot choose, attach by id can. */
TEST(attach_by_id)
{
	struct tvm *a = tvm_create(1, 0), *b = tvm_create(2, 0);
	uint64_t ia = vt_vm_id(a), ib = vt_vm_id(b);
	struct vmiop_vm_info info;
	struct vmiop *v, *w;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_ERRNO(vmiop_attach_pid(v, getpid()), EEXIST);
	ASSERT_EQ(vt_attach_id(v, ib), 0);
	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	EXPECT_EQ(info.vm_id, ib);
	EXPECT_EQ(info.nr_vcpus, 2);
	/* The same VM by id again: busy, as by fd */
	ASSERT_EQ(vmiop_open(&w), 0);
	ASSERT_ERRNO(vt_attach_id(w, ib), EBUSY);
	ASSERT_EQ(vt_attach_id(w, ia), 0);
	ASSERT_EQ(vmiop_vm_info(w, &info), 0);
	EXPECT_EQ(info.vm_id, ia);
	EXPECT_EQ(info.nr_vcpus, 1);
	vmiop_close(v);
	vmiop_close(w);

	/* Gone, and ids that never were: -ESRCH */
	tvm_destroy(b);
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_ERRNO(vt_attach_id(v, ib), ESRCH);
	ASSERT_ERRNO(vt_attach_id(v, UINT64_MAX), ESRCH);
	/* Bad combinations change nothing */
	{
		struct vmiop_attach at = { .size = sizeof(at), .flags = VMIOP_ATTACH_F_VM_ID };

		ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_ATTACH, &at), -1);
		EXPECT_EQ(errno, EINVAL);		/* id 0 */
		at.vm_id = ia;
		at.vm_fd = tvm_vm_fd(a);
		ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_ATTACH, &at), -1);
		EXPECT_EQ(errno, EINVAL);		/* an fd too */
		at.vm_fd = 0;
		at.flags |= VMIOP_ATTACH_F_PID;
		at.pid = getpid();
		ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_ATTACH, &at), -1);
		EXPECT_EQ(errno, EINVAL);		/* and a pid */
		at = (struct vmiop_attach){ .size = sizeof(at), .vm_fd = tvm_vm_fd(a), .vm_id = ia };
		ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_ATTACH, &at), -1);
		EXPECT_EQ(errno, EINVAL);		/* an id without the flag */
	}
	ASSERT_EQ(vt_attach_id(v, ia), 0);
	vmiop_close(v);
	tvm_destroy(a);
}

/*
 * The registry must see every VM go: ftrace, which redirects KVM's VM
 * lifetime to it, cannot be switched off while the module is loaded.
 */
TEST(ftrace_stays_on_while_loaded)
{
	int fd = open("/proc/sys/kernel/ftrace_enabled", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		SKIP("no /proc/sys/kernel/ftrace_enabled: %s", strerror(errno));
	ASSERT_EQ(write(fd, "0", 1), -1);
	EXPECT_EQ(errno, EBUSY);
	close(fd);
	fd = open("/proc/sys/kernel/ftrace_enabled", O_RDONLY | O_CLOEXEC);
	{
		char c = 0;

		ASSERT_EQ(read(fd, &c, 1), 1);
		EXPECT_EQ(c, '1');
	}
	close(fd);
}

/* ---- the family ------------------------------------------------------- */

TEST(dump_shows_the_vms_as_they_are)
{
	struct tvm *a = tvm_create(1, 0), *b = tvm_create(3, 8 << 20);
	uint64_t ia = vt_vm_id(a), ib = vt_vm_id(b);
	static struct gvm vms[256];
	const struct gvm *va, *vb;
	struct vmiop_api api;
	struct vmiop *v;
	struct gnl g;
	int n;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	ASSERT_EQ(vt_attach_id(v, ib), 0);

	gnl_open(&g);
	n = gnl_dump(&g, vms, 256, NULL);
	va = gvm_find(vms, n, ia);
	vb = gvm_find(vms, n, ib);
	ASSERT_TRUE(va && vb);
	EXPECT_EQ(va->vmm_pid, getpid());
	EXPECT_EQ(va->vmm_uid, getuid());
	EXPECT_EQ(va->nr_vcpus, 1);
	EXPECT_EQ(vb->nr_vcpus, 3);
	EXPECT_EQ(va->mem_bytes, tvm_mem_size(a));
	EXPECT_EQ(vb->mem_bytes, 8 << 20);
	EXPECT_EQ(va->vendor, api.host_vendor);
	EXPECT_FALSE(va->has_session);
	EXPECT_TRUE(vb->has_session);
	EXPECT_EQ(vb->session_pid, getpid());
	EXPECT_EQ(vb->session_flags, 0);
	EXPECT_EQ(va->name[0], '\0');
	EXPECT_EQ(va->name_source, 0);
	{
		char comm[16] = "";

		ASSERT_EQ(prctl(PR_GET_NAME, comm), 0);
		EXPECT_STREQ(va->comm, comm);
	}
	/* Sorted by id, each once */
	for (int i = 1; i < n; i++)
		EXPECT_GT(vms[i].id, vms[i - 1].id);
	vmiop_close(v);
	close(g.fd);
	tvm_destroy(a);
	tvm_destroy(b);
}

TEST(names_from_the_vmms_command_line)
{
	char *const libvirt[] = { "/usr/bin/qemu-system-x86_64", "-name",
				  "guest=debian12,debug-threads=on", "-S", "-m", "64", NULL };
	char *const plain[] = { "qemu-system-x86_64", "-name", "web,,1", NULL };
	char *const clash[] = { "qemu-system-x86_64", "--name", "debian12", NULL };
	char *const none[] = { "qemu-system-x86_64", "-name", "bad/name", NULL };
	struct vt_vmm v1 = vt_vmm_start(libvirt, 2, 0), v2 = vt_vmm_start(plain, 1, 0);
	struct vt_vmm v3 = vt_vmm_start(clash, 1, 0), v4 = vt_vmm_start(none, 1, 0);
	static struct gvm vms[256];
	const struct gvm *p;
	struct gvm vm;
	struct gnl g;
	int n;

	gnl_open(&g);
	ASSERT_EQ(gnl_get_name(&g, "debian12", &vm), 0);
	EXPECT_EQ(vm.vmm_pid, v1.pid);
	EXPECT_EQ(vm.nr_vcpus, 2);
	EXPECT_EQ(vm.name_source, VMIOP_VM_NAME_CMDLINE);
	ASSERT_EQ(gnl_get_name(&g, "web,1", &vm), 0);
	EXPECT_EQ(vm.vmm_pid, v2.pid);
	/* id -> name, the other way */
	ASSERT_EQ(gnl_get_id(&g, vm.id, &vm), 0);
	EXPECT_STREQ(vm.name, "web,1");

	/* First come keeps a name; an invalid one is no name */
	n = gnl_dump(&g, vms, 256, NULL);
	for (p = vms; p < vms + n; p++) {
		if (p->vmm_pid == (uint32_t)v3.pid || p->vmm_pid == (uint32_t)v4.pid) {
			EXPECT_EQ(p->name[0], '\0');
			EXPECT_EQ(p->name_source, 0);
		}
	}
	ASSERT_EQ(gnl_get_name(&g, "bad", &vm), -ENOENT);
	EXPECT_STREQ(g.extack, "no such VM");

	/* The name is free once its VM is gone */
	vt_vmm_stop(&v1);
	ASSERT_EQ(gnl_get_name(&g, "debian12", &vm), -ENOENT);
	v1 = vt_vmm_start(clash, 1, 0);
	ASSERT_EQ(gnl_get_name(&g, "debian12", &vm), 0);
	EXPECT_EQ(vm.vmm_pid, v1.pid);

	vt_vmm_stop(&v1);
	vt_vmm_stop(&v2);
	vt_vmm_stop(&v3);
	vt_vmm_stop(&v4);
	close(g.fd);
}

TEST(set_clear_and_clashing_names)
{
	struct tvm *a = tvm_create(1, 0), *b = tvm_create(1, 0);
	uint64_t ia = vt_vm_id(a), ib = vt_vm_id(b);
	char long_name[VMIOP_VM_NAME_MAX];
	struct gvm vm;
	struct gnl g;

	gnl_open(&g);
	ASSERT_EQ(gnl_set_name(&g, ia, "alpha"), 0);
	ASSERT_EQ(gnl_get_name(&g, "alpha", &vm), 0);
	EXPECT_EQ(vm.id, ia);
	EXPECT_EQ(vm.name_source, VMIOP_VM_NAME_SET);

	ASSERT_EQ(gnl_set_name(&g, ib, "alpha"), -EEXIST);
	EXPECT_STREQ(g.extack, "a live VM already has this name");
	ASSERT_EQ(gnl_get_id(&g, ib, &vm), 0);
	EXPECT_EQ(vm.name[0], '\0');
	ASSERT_EQ(gnl_set_name(&g, ia, "alpha"), 0);	/* its own name again */

	ASSERT_EQ(gnl_set_name(&g, ia, "a/b"), -EINVAL);
	ASSERT_EQ(gnl_set_name(&g, ia, "tab\t"), -EINVAL);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';		/* 63 bytes: fits */
	ASSERT_EQ(gnl_set_name(&g, ib, long_name), 0);
	ASSERT_EQ(gnl_get_name(&g, long_name, &vm), 0);
	EXPECT_EQ(vm.id, ib);
	ASSERT_EQ(gnl_set_name(&g, ib + 1000, "x"), -ENOENT);
	ASSERT_EQ(gnl_set_name(&g, 0, "x"), -ENOENT);

	/* Cleared: the name is free, the VM has none */
	ASSERT_EQ(gnl_set_name(&g, ia, ""), 0);
	ASSERT_EQ(gnl_get_name(&g, "alpha", &vm), -ENOENT);
	ASSERT_EQ(gnl_get_id(&g, ia, &vm), 0);
	EXPECT_EQ(vm.name[0], '\0');
	EXPECT_EQ(vm.name_source, 0);
	ASSERT_EQ(gnl_set_name(&g, ib, "alpha"), 0);
	close(g.fd);
	tvm_destroy(a);
	tvm_destroy(b);
}

TEST(notifications_in_order)
{
	struct gnl admin, open_grp, req;
	struct vmiop *v;
	struct tvm *tvm;
	struct gvm n1, n2, n3, n4, n5, o;
	uint64_t id;

	gnl_open(&admin);
	gnl_open(&open_grp);
	gnl_open(&req);
	ASSERT_EQ(gnl_join(&admin, admin.grp_admin), 0);
	ASSERT_EQ(gnl_join(&open_grp, open_grp.grp_vm), 0);

	tvm = tvm_create(1, 0);
	gnl_next_note(&admin, &n1);
	EXPECT_EQ(n1.cmd, VMIOP_GENL_CMD_VM_CREATED);
	EXPECT_EQ(n1.vmm_pid, getpid());
	id = n1.id;

	v = vt_attach(tvm);
	gnl_next_note(&admin, &n2);
	EXPECT_EQ(n2.cmd, VMIOP_GENL_CMD_SESSION_ATTACHED);
	EXPECT_EQ(n2.id, id);
	EXPECT_EQ(n2.session_pid, getpid());
	EXPECT_EQ(n2.seq, n1.seq + 1);

	ASSERT_EQ(gnl_set_name(&req, id, "noted"), 0);
	gnl_next_note(&admin, &n3);
	EXPECT_EQ(n3.cmd, VMIOP_GENL_CMD_VM_RENAMED);
	EXPECT_STREQ(n3.name, "noted");
	EXPECT_EQ(n3.seq, n2.seq + 1);

	vmiop_close(v);
	gnl_next_note(&admin, &n4);
	EXPECT_EQ(n4.cmd, VMIOP_GENL_CMD_SESSION_DETACHED);
	EXPECT_EQ(n4.seq, n3.seq + 1);

	tvm_destroy(tvm);
	gnl_next_note(&admin, &n5);
	EXPECT_EQ(n5.cmd, VMIOP_GENL_CMD_VM_DESTROYED);
	EXPECT_EQ(n5.id, id);
	EXPECT_STREQ(n5.name, "noted");
	EXPECT_EQ(n5.seq, n4.seq + 1);
	gnl_no_note(&admin);

	/*
	 * The open group: the same events and numbers; the VM's id only for
	 * its creation and destruction, which KVM's uevents tell everyone.
	 */
	{
		const struct gvm *want[] = { &n1, &n2, &n3, &n4, &n5 };

		for (int i = 0; i < 5; i++) {
			bool lifecycle = want[i]->cmd == VMIOP_GENL_CMD_VM_CREATED ||
					 want[i]->cmd == VMIOP_GENL_CMD_VM_DESTROYED;

			gnl_next_note(&open_grp, &o);
			EXPECT_EQ(o.cmd, want[i]->cmd);
			EXPECT_EQ(o.id, lifecycle ? id : 0);
			EXPECT_EQ(o.seq, want[i]->seq);
			EXPECT_EQ(o.nattrs, lifecycle ? 2 : 1);
		}
		gnl_no_note(&open_grp);
	}
	close(admin.fd);
	close(open_grp.fd);
	close(req.fd);
}

/*
 * A dump reports the last notification it reflects: a listener that joined
 * first drops what the dump already showed.
 */
TEST(dump_sequence_matches_notifications)
{
	static struct gvm vms[256];
	struct gvm note;
	struct tvm *tvm;
	struct gnl g, l;
	int n;

	gnl_open(&g);
	gnl_open(&l);
	ASSERT_EQ(gnl_join(&l, l.grp_admin), 0);
	tvm = tvm_create(1, 0);
	gnl_next_note(&l, &note);
	n = gnl_dump(&g, vms, 256, NULL);
	ASSERT_GT(n, 0);
	EXPECT_EQ(vms[0].seq, note.seq);
	tvm_destroy(tvm);
	close(g.fd);
	close(l.fd);
}

TEST(a_hundred_vms_in_one_dump)
{
	static struct gvm vms[512];
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), fds[100], n, i, found = 0;
	uint64_t first = 0;
	bool intr = false;
	struct gnl g;

	ASSERT_GE(kvm, 0);
	/* Bare VMs: no memory, no vCPU, as cheap as KVM makes them */
	for (i = 0; i < 100; i++) {
		fds[i] = ioctl(kvm, KVM_CREATE_VM, 0);
		ASSERT_GE(fds[i], 0);
	}
	gnl_open(&g);
	n = gnl_dump(&g, vms, 512, &intr);
	EXPECT_FALSE(intr);
	for (i = 0; i < n; i++) {
		if (vms[i].vmm_pid == (uint32_t)getpid() && vms[i].nr_vcpus == 0) {
			if (!found++)
				first = vms[i].id;
			EXPECT_EQ(vms[i].mem_bytes, 0);
		}
	}
	EXPECT_EQ(found, 100);
	EXPECT_GT(first, 0);
	for (i = 0; i < 100; i++)
		close(fds[i]);
	n = gnl_dump(&g, vms, 512, NULL);
	for (i = 0; i < n; i++)
		EXPECT_FALSE(vms[i].vmm_pid == (uint32_t)getpid() && vms[i].nr_vcpus == 0);
	close(g.fd);
	close(kvm);
}

/* Drops to nobody; the process stays dumpable, as an exec'd VMM would be. */
static void vt_become_nobody(void)
{
	ASSERT_EQ(setgroups(0, NULL), 0);
	ASSERT_EQ(setresgid(65534, 65534, 65534), 0);
	ASSERT_EQ(setresuid(65534, 65534, 65534), 0);
	ASSERT_EQ(prctl(PR_SET_DUMPABLE, 1), 0);
}

TEST(unprivileged_user_sees_and_names_only_its_own_vms)
{
	struct tvm *root_vm = tvm_create(1, 0);
	uint64_t root_id = vt_vm_id(root_vm);
	pid_t child;
	int status;
	struct gnl g;

	if (getuid() != 0)
		SKIP("needs root to create the victim VM and drop privileges");
	gnl_open(&g);
	ASSERT_EQ(gnl_set_name(&g, root_id, "roots"), 0);
	/* The rig's devtmpfs leaves /dev/kvm to root; distributions open it to a group. */
	ASSERT_EQ(chmod("/dev/kvm", 0666), 0);
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		static struct gvm vms[256];
		struct tvm *own;
		uint64_t own_id;
		struct vmiop *v;
		struct gvm vm;
		struct gnl u;
		int n;

		close(tvm_vm_fd(root_vm));
		vt_become_nobody();
		own = tvm_create(1, 0);
		own_id = vt_vm_id(own);
		gnl_open(&u);
		n = gnl_dump(&u, vms, 256, NULL);
		ASSERT_EQ(n, 1);
		EXPECT_EQ(vms[0].id, own_id);
		EXPECT_EQ(vms[0].vmm_uid, 65534);
		ASSERT_EQ(gnl_get_id(&u, root_id, &vm), -ENOENT);
		ASSERT_EQ(gnl_get_name(&u, "roots", &vm), -ENOENT);
		ASSERT_EQ(gnl_set_name(&u, root_id, "mine"), -ENOENT);
		ASSERT_EQ(gnl_set_name(&u, own_id, "nobodys"), 0);
		/* A name a hidden VM has: taken, which it cannot help telling */
		ASSERT_EQ(gnl_set_name(&u, own_id, "roots"), -EEXIST);
		ASSERT_EQ(gnl_join(&u, u.grp_admin), -EPERM);
		ASSERT_EQ(gnl_join(&u, u.grp_vm), 0);
		ASSERT_EQ(vmiop_open(&v), 0);
		ASSERT_ERRNO(vt_attach_id(v, root_id), EPERM);
		ASSERT_EQ(vt_attach_id(v, own_id), 0);
		vmiop_close(v);
		tvm_destroy(own);
		_exit(0);
	}
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	{
		struct gvm vm;

		/* Nothing the child tried changed root's VM */
		ASSERT_EQ(gnl_get_id(&g, root_id, &vm), 0);
		EXPECT_STREQ(vm.name, "roots");
		ASSERT_EQ(gnl_get_name(&g, "nobodys", &vm), -ENOENT);
	}
	close(g.fd);
	tvm_destroy(root_vm);
}

/* ---- malformed requests ----------------------------------------------- */

static int gnl_send(struct gnl *g, struct gmsg *m)
{
	return gnl_xfer(g, m, NULL, 0, NULL, NULL);
}

TEST(malformed_requests_are_refused_with_a_reason)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t id = vt_vm_id(tvm);
	char huge[300];
	uint32_t u32 = 1;
	struct gmsg m;
	struct gvm vm;
	struct gnl g;
	int cmd;

	gnl_open(&g);
	ASSERT_EQ(gnl_set_name(&g, id, "kept"), 0);

	/* Unknown commands, and notifications sent as requests */
	for (cmd = VMIOP_GENL_CMD_UNSPEC; cmd < 40; cmd++) {
		if (cmd == VMIOP_GENL_CMD_VM_GET || cmd == VMIOP_GENL_CMD_VM_SET_NAME)
			continue;
		gmsg_init(&m, g.family, 0, cmd);
		gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
		EXPECT_EQ(gnl_send(&g, &m), -EOPNOTSUPP);
	}
	/* Neither selector, both */
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	EXPECT_TRUE(strstr(g.extack, "one of"));
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	gmsg_put_str(&m, VMIOP_GENL_A_VM_NAME, "kept");
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	/* Wrong type: a u32 id */
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put(&m, VMIOP_GENL_A_VM_ID, &u32, sizeof(u32));
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	EXPECT_NE(g.extack[0], '\0');
	/* An attribute the command does not take, and one past the family's */
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	gmsg_put(&m, VMIOP_GENL_A_VMM_PID, &u32, sizeof(u32));
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	gmsg_put(&m, 200, &u32, sizeof(u32));
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	/* A huge name, an unterminated one, an empty one */
	memset(huge, 'h', sizeof(huge));
	huge[sizeof(huge) - 1] = '\0';
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_SET_NAME);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	gmsg_put(&m, VMIOP_GENL_A_VM_NAME, huge, sizeof(huge));
	EXPECT_LT(gnl_send(&g, &m), 0);
	EXPECT_NE(g.extack[0], '\0');
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_SET_NAME);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	gmsg_put(&m, VMIOP_GENL_A_VM_NAME, "abc", 3);
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_str(&m, VMIOP_GENL_A_VM_NAME, "");
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	/* Missing attributes: the ack names the one */
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_SET_NAME);
	gmsg_put_str(&m, VMIOP_GENL_A_VM_NAME, "x");
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_SET_NAME);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	/* A length running past the message */
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_raw(&m, VMIOP_GENL_A_VM_ID, 200, &id, sizeof(id));
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	/* A dump with a selector */
	gmsg_init(&m, g.family, NLM_F_DUMP, VMIOP_GENL_CMD_VM_GET);
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);
	/* The header's reserved byte */
	gmsg_init(&m, g.family, 0, VMIOP_GENL_CMD_VM_GET);
	((struct genlmsghdr *)NLMSG_DATA((struct nlmsghdr *)m.buf))->reserved = 1;
	gmsg_put_u64(&m, VMIOP_GENL_A_VM_ID, id);
	EXPECT_EQ(gnl_send(&g, &m), -EINVAL);

	/* Nothing changed */
	ASSERT_EQ(gnl_get_id(&g, id, &vm), 0);
	EXPECT_STREQ(vm.name, "kept");
	close(g.fd);
	tvm_destroy(tvm);
}

static uint64_t vt_rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random requests, mostly well-formed around the edges: every answer is an
 * error or a reply, and the registry is as it was.
 */
TEST(fuzzed_requests_change_nothing)
{
	const char *env = getenv("VMIOP_FUZZ_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 0x5eed5eedULL;
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t id = vt_vm_id(tvm);
	static struct gvm before[256], after[256];
	int nb, na, round, i;
	struct gnl g;

	vmtest_diag("VMIOP_FUZZ_SEED=%#llx", (unsigned long long)seed);
	gnl_open(&g);
	ASSERT_EQ(gnl_set_name(&g, id, "fuzzed"), 0);
	nb = gnl_dump(&g, before, 256, NULL);
	for (round = 0; round < 3000; round++) {
		uint64_t r = vt_rnd(&seed);
		uint8_t cmd = r & 1 ? VMIOP_GENL_CMD_VM_GET : (r >> 1) % 12;
		int nattr = (r >> 8) % 4, err;
		bool own = (r >> 40) % 2;
		struct gmsg m;
		struct gvm vm;
		int n = 0;

		gmsg_init(&m, g.family, (r >> 12) % 5 == 0 ? NLM_F_DUMP : 0, cmd);
		for (i = 0; i < nattr; i++) {
			uint64_t a = vt_rnd(&seed);
			char data[96];
			uint16_t type = a % 18, dlen = (a >> 8) % sizeof(data);

			for (int k = 0; k < dlen; k++)
				data[k] = (a >> 16) % 2 ? 'a' + (a >> (k % 56)) % 26 :
							  (a >> (k % 56)) & 0x7f;
			if ((a >> 20) % 3 == 0)
				data[dlen ? dlen - 1 : 0] = '\0';
			/*
			 * SET_NAME must change nothing: names, often valid, for
			 * ids no VM has (the test's VM is the newest); for the
			 * test's own VM never a valid one.
			 */
			if (cmd == VMIOP_GENL_CMD_VM_SET_NAME && own)
				data[0] = '/';
			if (cmd == VMIOP_GENL_CMD_VM_SET_NAME && type == VMIOP_GENL_A_VM_ID)
				gmsg_put_u64(&m, type, own ? id : id + 1 + a % 1000);
			else if (type == VMIOP_GENL_A_VM_ID && (a >> 24) % 2)
				gmsg_put_u64(&m, type, (a >> 32) % 2 ? id : a);
			else if ((a >> 30) % 8 == 0)
				gmsg_put_raw(&m, type, NLA_HDRLEN + (a >> 40) % 200, data, dlen);
			else
				gmsg_put(&m, type, data, dlen);
		}
		err = gnl_xfer(&g, &m, &vm, 1, &n, NULL);
		EXPECT_TRUE(err <= 0);
		if (cmd == VMIOP_GENL_CMD_VM_SET_NAME)
			EXPECT_LT(err, 0);
		if (err < 0)
			EXPECT_TRUE(err == -EINVAL || err == -ENOENT || err == -ERANGE ||
				    err == -EOPNOTSUPP || err == -EMSGSIZE);
	}
	na = gnl_dump(&g, after, 256, NULL);
	ASSERT_EQ(na, nb);
	for (i = 0; i < na; i++) {
		EXPECT_EQ(after[i].id, before[i].id);
		EXPECT_STREQ(after[i].name, before[i].name);
	}
	close(g.fd);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
