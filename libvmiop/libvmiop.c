// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "libvmiop.h"

struct vmiop {
	int fd;
	struct vmiop_ring ring;
};

/* Runs a syscall expression and turns its failure into -errno, errno kept. */
#define SYSCALL_RET(expr) ({					\
	int __saved = errno;					\
	long __r = (expr);					\
	if (__r < 0)						\
		__r = -errno;					\
	errno = __saved;					\
	__r;							\
})

static int vmiop_ioctl(struct vmiop *v, unsigned long cmd, void *arg)
{
	return (int)SYSCALL_RET(ioctl(v->fd, cmd, arg));
}

static int vmiop_open_mode(struct vmiop **out, int mode)
{
	struct vmiop *v;
	int fd;

	fd = (int)SYSCALL_RET(open(VMIOP_DEVICE, mode | O_CLOEXEC));
	if (fd < 0)
		return fd;
	v = calloc(1, sizeof(*v));
	if (!v) {
		SYSCALL_RET(close(fd));
		return -ENOMEM;
	}
	v->fd = fd;
	*out = v;
	return 0;
}

int vmiop_open(struct vmiop **out)
{
	return vmiop_open_mode(out, O_RDWR);
}

int vmiop_open_readonly(struct vmiop **out)
{
	struct vmiop_api api;
	struct vmiop *v;
	int ret;

	ret = vmiop_open_mode(&v, O_RDONLY);
	if (ret)
		return ret;
	/* A module that ignores the access mode would hand out a writable session. */
	ret = vmiop_get_api(v, &api);
	if (!ret && !(api.features & VMIOP_FEAT_READ_ONLY))
		ret = -EOPNOTSUPP;
	if (ret) {
		vmiop_close(v);
		return ret;
	}
	*out = v;
	return 0;
}

void vmiop_close(struct vmiop *v)
{
	if (!v)
		return;
	/* The ring mapping holds the session: it must go first. */
	if (v->ring.mem)
		SYSCALL_RET(munmap(v->ring.mem, v->ring.mem_size));
	SYSCALL_RET(close(v->fd));
	free(v);
}

int vmiop_fd(const struct vmiop *v)
{
	return v->fd;
}

int vmiop_get_api(struct vmiop *v, struct vmiop_api *api)
{
	memset(api, 0, sizeof(*api));
	api->size = sizeof(*api);
	return vmiop_ioctl(v, VMIOP_GET_API, api);
}

int vmiop_attach_fd(struct vmiop *v, int vm_fd)
{
	struct vmiop_attach a = { .size = sizeof(a), .vm_fd = vm_fd };

	return vmiop_ioctl(v, VMIOP_ATTACH, &a);
}

int vmiop_attach_pid_fd(struct vmiop *v, pid_t pid, int fd)
{
	struct vmiop_attach a = {
		.size = sizeof(a), .flags = VMIOP_ATTACH_F_PID, .vm_fd = fd, .pid = pid,
	};

	return vmiop_ioctl(v, VMIOP_ATTACH, &a);
}

int vmiop_attach_id(struct vmiop *v, uint64_t id)
{
	struct vmiop_attach a = {
		.size = sizeof(a), .flags = VMIOP_ATTACH_F_VM_ID, .vm_id = id,
	};

	return vmiop_ioctl(v, VMIOP_ATTACH, &a);
}

int vmiop_find_vm_fd(pid_t pid)
{
	char dir[64], path[PATH_MAX], target[64];
	int saved = errno, found = -ENOENT;
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d) {
		found = errno == ENOENT ? -ESRCH : -errno;
		errno = saved;
		return found;
	}
	while ((de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "anon_inode:kvm-vm"))
			continue;
		if (found >= 0) {
			found = -EEXIST;
			break;
		}
		found = atoi(de->d_name);
	}
	closedir(d);
	errno = saved;
	return found;
}

int vmiop_attach_pid(struct vmiop *v, pid_t pid)
{
	int vm_fd, pidfd, fd, ret;

	vm_fd = vmiop_find_vm_fd(pid);
	if (vm_fd < 0)
		return vm_fd;
	pidfd = (int)SYSCALL_RET(syscall(SYS_pidfd_open, pid, 0));
	if (pidfd < 0)
		return pidfd == -ENOSYS ? vmiop_attach_pid_fd(v, pid, vm_fd) : pidfd;
	fd = (int)SYSCALL_RET(syscall(SYS_pidfd_getfd, pidfd, vm_fd, 0));
	SYSCALL_RET(close(pidfd));
	if (fd == -ENOSYS)
		return vmiop_attach_pid_fd(v, pid, vm_fd);
	if (fd < 0)
		return fd;
	ret = vmiop_attach_fd(v, fd);
	SYSCALL_RET(close(fd));
	return ret;
}

/*
 * vmiop_vm_info@@LIBVMIOP_0.8, and what a static link gets: the struct as
 * this header has it (vm_id and on).
 */
int vmiop_vm_info(struct vmiop *v, struct vmiop_vm_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return vmiop_ioctl(v, VMIOP_VM_INFO, info);
}

/*
 * vmiop_vm_info@LIBVMIOP_0.1: for binaries built before vm_id was
 * appended, whose struct ends at guest_features (32 bytes): not a byte
 * after it is written, and the module fills what that size holds.  Its C
 * name is no vmiop_* one, or the map's 0.1 glob would export it as it is;
 * libvmiop.so exports it only by the versioned name.  Only in the shared
 * library: the version node exists nowhere else, and an object with it
 * could not be linked into a shared object of the user's own.
 */
#ifdef LIBVMIOP_SHARED
#define VM_INFO_0_1_SIZE offsetof(struct vmiop_vm_info, vm_id)
_Static_assert(VM_INFO_0_1_SIZE == 32, "vmiop_vm_info as of LIBVMIOP_0.1");

int libvmiop_vm_info_0_1(struct vmiop *v, struct vmiop_vm_info *info);
__asm__(".symver libvmiop_vm_info_0_1, vmiop_vm_info@LIBVMIOP_0.1");
int libvmiop_vm_info_0_1(struct vmiop *v, struct vmiop_vm_info *info)
{
	memset(info, 0, VM_INFO_0_1_SIZE);
	info->size = VM_INFO_0_1_SIZE;
	return vmiop_ioctl(v, VMIOP_VM_INFO, info);
}
#endif

int vmiop_get_memmap(struct vmiop *v, struct vmiop_memmap_entry **entries)
{
	struct vmiop_memmap m = { .size = sizeof(m) };
	struct vmiop_memmap_entry *e = NULL;
	int ret;

	/* The map can grow between the two calls: retry until it fits. */
	for (;;) {
		ret = vmiop_ioctl(v, VMIOP_GET_MEMMAP, &m);
		if (ret != -ENOSPC)
			break;
		free(e);
		e = calloc(m.nr_entries, sizeof(*e));
		if (!e)
			return -ENOMEM;
		m.entries = (uintptr_t)e;
	}
	if (ret) {
		free(e);
		return ret;
	}
	*entries = e;
	return (int)m.nr_entries;
}

static int vmiop_pause_cmd(struct vmiop *v, unsigned long cmd)
{
	struct vmiop_pause p = { .size = sizeof(p) };
	int ret = vmiop_ioctl(v, cmd, &p);

	return ret ? ret : (int)p.pause_count;
}

int vmiop_pause(struct vmiop *v)
{
	return vmiop_pause_cmd(v, VMIOP_PAUSE);
}

int vmiop_resume(struct vmiop *v)
{
	return vmiop_pause_cmd(v, VMIOP_RESUME);
}

int vmiop_get_regs(struct vmiop *v, unsigned int vcpu, struct vmiop_regs *regs)
{
	struct vmiop_vcpu_regs r = { .size = sizeof(r), .vcpu = vcpu };
	int ret = vmiop_ioctl(v, VMIOP_GET_REGS, &r);

	if (!ret)
		*regs = r.regs;
	return ret;
}

int vmiop_set_regs(struct vmiop *v, unsigned int vcpu, const struct vmiop_regs *regs)
{
	struct vmiop_vcpu_regs r = { .size = sizeof(r), .vcpu = vcpu, .regs = *regs };

	return vmiop_ioctl(v, VMIOP_SET_REGS, &r);
}

static int vmiop_reg_list(struct vmiop *v, unsigned long cmd, unsigned int vcpu,
			  const struct vmiop_reg *regs, unsigned int count)
{
	struct vmiop_reg_list l = {
		.size = sizeof(l), .vcpu = vcpu, .count = count, .regs = (uintptr_t)regs,
	};

	return vmiop_ioctl(v, cmd, &l);
}

int vmiop_get_reg_list(struct vmiop *v, unsigned int vcpu, struct vmiop_reg *regs,
		       unsigned int count)
{
	return vmiop_reg_list(v, VMIOP_GET_REG_LIST, vcpu, regs, count);
}

int vmiop_set_reg_list(struct vmiop *v, unsigned int vcpu,
		       const struct vmiop_reg *regs, unsigned int count)
{
	return vmiop_reg_list(v, VMIOP_SET_REG_LIST, vcpu, regs, count);
}

int vmiop_get_reg(struct vmiop *v, unsigned int vcpu, enum vmiop_reg_id id,
		  uint64_t *value)
{
	struct vmiop_reg r = { .id = id };
	int ret = vmiop_get_reg_list(v, vcpu, &r, 1);

	if (!ret)
		*value = r.value;
	return ret;
}

int vmiop_set_reg(struct vmiop *v, unsigned int vcpu, enum vmiop_reg_id id,
		  uint64_t value)
{
	struct vmiop_reg r = { .id = id, .value = value };

	return vmiop_set_reg_list(v, vcpu, &r, 1);
}

static int vmiop_mem_batch(struct vmiop *v, unsigned long cmd,
			   const struct vmiop_mem_op *ops, unsigned int count,
			   unsigned int *done)
{
	struct vmiop_mem_batch b = {
		.size = sizeof(b), .count = count, .ops = (uintptr_t)ops,
	};
	int ret = vmiop_ioctl(v, cmd, &b);

	if (done)
		*done = b.done;
	return ret;
}

int vmiop_read_pa_batch(struct vmiop *v, struct vmiop_mem_op *ops,
			unsigned int count, unsigned int *done)
{
	return vmiop_mem_batch(v, VMIOP_READ_MEM, ops, count, done);
}

int vmiop_write_pa_batch(struct vmiop *v, const struct vmiop_mem_op *ops,
			 unsigned int count, unsigned int *done)
{
	return vmiop_mem_batch(v, VMIOP_WRITE_MEM, ops, count, done);
}

/* Splits a buffer of any length into ops the module accepts. */
static int vmiop_rw_pa(struct vmiop *v, unsigned long cmd, uint64_t gpa,
		       const void *buf, size_t len)
{
	while (len) {
		struct vmiop_mem_op op = {
			.gpa = gpa, .buf = (uintptr_t)buf,
			.len = len > VMIOP_MEM_OP_MAX ? VMIOP_MEM_OP_MAX : (uint32_t)len,
		};
		int ret = vmiop_mem_batch(v, cmd, &op, 1, NULL);

		if (ret)
			return ret;
		gpa += op.len;
		buf = (const char *)buf + op.len;
		len -= op.len;
	}
	return 0;
}

int vmiop_read_pa(struct vmiop *v, uint64_t gpa, void *buf, size_t len)
{
	return vmiop_rw_pa(v, VMIOP_READ_MEM, gpa, buf, len);
}

int vmiop_write_pa(struct vmiop *v, uint64_t gpa, const void *buf, size_t len)
{
	return vmiop_rw_pa(v, VMIOP_WRITE_MEM, gpa, buf, len);
}

int vmiop_map_pa(struct vmiop *v, uint64_t gpa, size_t len, int prot, void **addr)
{
	int saved = errno;
	void *p;

	if (gpa & 4095 || !len)
		return -EINVAL;
	p = mmap(NULL, len, prot, MAP_SHARED, v->fd,
		 (off_t)(VMIOP_MMAP_GUEST_OFFSET + gpa));
	if (p == MAP_FAILED) {
		int ret = -errno;

		errno = saved;
		return ret;
	}
	*addr = p;
	return 0;
}

int vmiop_unmap_pa(void *addr, size_t len)
{
	return (int)SYSCALL_RET(munmap(addr, len));
}

int vmiop_translate_ex(struct vmiop *v, struct vmiop_translate *t)
{
	t->size = sizeof(*t);
	return vmiop_ioctl(v, VMIOP_TRANSLATE, t);
}

int vmiop_set_mem_access_ranges(struct vmiop *v, const struct vmiop_mem_access_range *ranges,
				unsigned int nr)
{
	struct vmiop_mem_access m = {
		.size = sizeof(m), .nr_ranges = nr, .ranges = (uintptr_t)ranges,
	};

	return vmiop_ioctl(v, VMIOP_SET_MEM_ACCESS, &m);
}

int vmiop_set_mem_access(struct vmiop *v, uint64_t gfn, uint64_t nr_pages, unsigned int access)
{
	struct vmiop_mem_access_range r = { .gfn = gfn, .nr_pages = nr_pages, .access = access };

	return vmiop_set_mem_access_ranges(v, &r, 1);
}

int vmiop_get_mem_access(struct vmiop *v, uint64_t gfn, uint32_t nr_pages, uint8_t *access)
{
	struct vmiop_mem_access_query q = {
		.size = sizeof(q), .gfn = gfn, .nr_pages = nr_pages, .access = (uintptr_t)access,
	};

	return vmiop_ioctl(v, VMIOP_GET_MEM_ACCESS, &q);
}

int vmiop_set_ve_agent(struct vmiop *v, uint64_t code_gpa, uint64_t code_len)
{
	struct vmiop_ve_agent a = { .size = sizeof(a), .code_gpa = code_gpa, .code_len = code_len };

	return vmiop_ioctl(v, VMIOP_SET_VE_AGENT, &a);
}

int vmiop_set_ve_info(struct vmiop *v, unsigned int vcpu, uint64_t gpa)
{
	struct vmiop_ve_info i = { .size = sizeof(i), .vcpu = vcpu, .gpa = gpa };

	return vmiop_ioctl(v, VMIOP_SET_VE_INFO, &i);
}

int vmiop_add_memory(struct vmiop *v, uint64_t *gpa, uint64_t len)
{
	struct vmiop_add_memory m = { .size = sizeof(m), .gpa = *gpa, .len = len };
	int ret = vmiop_ioctl(v, VMIOP_ADD_MEMORY, &m);

	if (!ret)
		*gpa = m.gpa;
	return ret;
}

int vmiop_write_pa_undo(struct vmiop *v, uint64_t gpa, const void *buf, size_t len)
{
	struct vmiop_mem_op op = { .gpa = gpa, .buf = (uintptr_t)buf, .len = (uint32_t)len };
	struct vmiop_mem_batch b = {
		.size = sizeof(b), .flags = VMIOP_MEM_F_UNDO, .count = 1, .ops = (uintptr_t)&op,
	};

	if (!len || len > VMIOP_UNDO_OP_MAX)
		return -EINVAL;
	return vmiop_ioctl(v, VMIOP_WRITE_MEM, &b);
}

int vmiop_undo(struct vmiop *v, unsigned int flags, unsigned int *restored, unsigned int *kept)
{
	struct vmiop_undo u = { .size = sizeof(u), .flags = flags };
	int ret = vmiop_ioctl(v, VMIOP_UNDO, &u);

	if (!ret && restored)
		*restored = u.restored;
	if (!ret && kept)
		*kept = u.kept;
	return ret;
}

int vmiop_translate(struct vmiop *v, unsigned int vcpu, uint64_t gva, uint64_t *gpa)
{
	struct vmiop_translate t = { .vcpu = vcpu, .gva = gva };
	int ret = vmiop_translate_ex(v, &t);

	if (ret)
		return ret;
	if (t.fault != VMIOP_XLATE_OK)
		return -EFAULT;
	*gpa = t.gpa;
	return 0;
}

static const char *const vmiop_reg_names[VMIOP_NR_REGS] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
	"rip", "rflags", "cr0", "cr2", "cr3", "cr4", "cr8", "efer", "xcr0",
	"dr0", "dr1", "dr2", "dr3", "dr6", "dr7",
	"es.sel", "es.attr", "es.limit", "es.base",
	"cs.sel", "cs.attr", "cs.limit", "cs.base",
	"ss.sel", "ss.attr", "ss.limit", "ss.base",
	"ds.sel", "ds.attr", "ds.limit", "ds.base",
	"fs.sel", "fs.attr", "fs.limit", "fs.base",
	"gs.sel", "gs.attr", "gs.limit", "gs.base",
	"ldtr.sel", "ldtr.attr", "ldtr.limit", "ldtr.base",
	"tr.sel", "tr.attr", "tr.limit", "tr.base",
	"idtr.base", "idtr.limit", "gdtr.base", "gdtr.limit",
	"star", "lstar", "cstar", "sfmask", "kernel_gs_base",
	"sysenter_cs", "sysenter_esp", "sysenter_eip", "pat", "apic_base", "tsc_aux",
};

const char *vmiop_reg_name(unsigned int id)
{
	return id < VMIOP_NR_REGS ? vmiop_reg_names[id] : NULL;
}

/* ---- events ---------------------------------------------------------- */

int vmiop_event_caps(struct vmiop *v, struct vmiop_event_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->size = sizeof(*caps);
	return vmiop_ioctl(v, VMIOP_EVENT_CAPS, caps);
}

static const char *const vmiop_event_names[VMIOP_EVENT_NR_TYPES] = {
	[VMIOP_EVENT_CR] = "cr",
	[VMIOP_EVENT_MSR] = "msr",
	[VMIOP_EVENT_DESC] = "desc",
	[VMIOP_EVENT_CPUID] = "cpuid",
	[VMIOP_EVENT_BREAKPOINT] = "breakpoint",
	[VMIOP_EVENT_DEBUG] = "debug",
	[VMIOP_EVENT_SINGLESTEP] = "singlestep",
	[VMIOP_EVENT_HYPERCALL] = "hypercall",
	[VMIOP_EVENT_XSETBV] = "xsetbv",
	[VMIOP_EVENT_TRAP] = "trap",
	[VMIOP_EVENT_MEM] = "mem",
	[VMIOP_EVENT_AGENT] = "agent",
};

const char *vmiop_event_name(unsigned int type)
{
	return type < VMIOP_EVENT_NR_TYPES ? vmiop_event_names[type] : NULL;
}

int vmiop_ring_setup(struct vmiop *v, unsigned int nr_entries, struct vmiop_ring **ring)
{
	struct vmiop_ring_setup rs = { .size = sizeof(rs), .nr_entries = nr_entries };
	bool readonly;
	void *mem;
	int ret;

	if (v->ring.mem)
		return -EBUSY;
	ret = (int)SYSCALL_RET(fcntl(v->fd, F_GETFL));
	if (ret < 0)
		return ret;
	readonly = (ret & O_ACCMODE) == O_RDONLY;
	ret = vmiop_ioctl(v, VMIOP_RING_SETUP, &rs);
	if (ret)
		return ret;
	/* A read-only fd maps nothing writable; the module stores its tail. */
	mem = mmap(NULL, rs.mmap_size, readonly ? PROT_READ : PROT_READ | PROT_WRITE,
		   MAP_SHARED, v->fd, VMIOP_MMAP_RING_OFFSET);
	if (mem == MAP_FAILED)
		return SYSCALL_RET(-1);
	v->ring.mem = mem;
	v->ring.mem_size = rs.mmap_size;
	v->ring.head = (const unsigned int *)((char *)mem + rs.head_offset);
	v->ring.tail = (unsigned int *)((char *)mem + rs.tail_offset);
	v->ring.entries = (struct vmiop_event *)((char *)mem + rs.entries_offset);
	v->ring.nr_entries = rs.nr_entries;
	v->ring.mask = rs.nr_entries - 1;
	v->ring.readonly_fd = readonly ? v->fd : -1;
	v->ring.fd = v->fd;
	/* A module that does not know the reply fields left them 0. */
	if (!readonly && rs.reply_size == sizeof(struct vmiop_ring_reply) &&
	    rs.status_size == sizeof(struct vmiop_ring_status)) {
		v->ring.reply_head = (unsigned int *)((char *)mem + rs.reply_head_offset);
		v->ring.reply_tail = (const unsigned int *)((char *)mem + rs.reply_tail_offset);
		v->ring.replies = (struct vmiop_ring_reply *)((char *)mem + rs.replies_offset);
		v->ring.status = (const struct vmiop_ring_status *)((char *)mem +
								    rs.status_offset);
		v->ring.reply_next = v->ring.reply_published = *v->ring.reply_head;
	}
	*ring = &v->ring;
	return 0;
}

int vmiop_ring_advance_readonly(struct vmiop_ring *r, unsigned int n)
{
	struct vmiop_event_wait w = {
		.size = sizeof(w), .flags = VMIOP_EVENT_WAIT_F_TAIL, .timeout_ms = 0,
		.tail = *r->tail + n,
	};
	int ret;

	r->nr_syscalls++;
	ret = (int)SYSCALL_RET(ioctl(r->readonly_fd, VMIOP_EVENT_WAIT, &w));
	/* Looking for more events is not what was asked. */
	return ret == -ETIMEDOUT ? 0 : ret;
}

static void vmiop_ring_publish(struct vmiop_ring *r);

int vmiop_event_wait(struct vmiop *v, int timeout_ms)
{
	struct vmiop_event_wait w = { .size = sizeof(w), .timeout_ms = timeout_ms };
	int ret;

	/* The wait takes the ring's replies first: those queued go with it. */
	if (v->ring.replies)
		vmiop_ring_publish(&v->ring);
	ret = vmiop_ioctl(v, VMIOP_EVENT_WAIT, &w);

	return ret ? ret : (int)w.ready;
}

static int vmiop_event_control(struct vmiop *v, unsigned int type, int vcpu, bool enable,
			       unsigned int flags, const struct vmiop_filter_range *filter,
			       unsigned int nr)
{
	struct vmiop_event_control c = {
		.size = sizeof(c), .flags = flags, .type = type, .enable = enable,
		.nr_filter = nr, .filter = (uintptr_t)filter,
	};

	if (vcpu >= 0) {
		c.flags |= VMIOP_EVENT_CTL_F_VCPU;
		c.vcpu = vcpu;
	}
	return vmiop_ioctl(v, VMIOP_EVENT_CONTROL, &c);
}

int vmiop_event_enable(struct vmiop *v, unsigned int type, int vcpu,
		       const struct vmiop_filter_range *filter, unsigned int nr_filter)
{
	return vmiop_event_control(v, type, vcpu, true, 0, filter, nr_filter);
}

int vmiop_event_enable_flags(struct vmiop *v, unsigned int type, unsigned int flags,
			     const struct vmiop_filter_range *filter, unsigned int nr_filter)
{
	return vmiop_event_control(v, type, -1, true, flags, filter, nr_filter);
}

int vmiop_event_disable(struct vmiop *v, unsigned int type, int vcpu)
{
	return vmiop_event_control(v, type, vcpu, false, 0, NULL, 0);
}

int vmiop_event_reply(struct vmiop *v, const struct vmiop_event *ev,
		      struct vmiop_event_reply *r)
{
	r->size = sizeof(*r);
	r->vcpu = ev->vcpu;
	r->seq = ev->seq;
	return vmiop_ioctl(v, VMIOP_EVENT_REPLY, r);
}

int vmiop_event_continue(struct vmiop *v, const struct vmiop_event *ev)
{
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };

	return vmiop_event_reply(v, ev, &r);
}

/* The queued replies become the module's to take: no system call. */
static void vmiop_ring_publish(struct vmiop_ring *r)
{
	if (r->reply_next != r->reply_published) {
		/* pairs with the module's load-acquire of reply_head */
		__atomic_store_n(r->reply_head, r->reply_next, __ATOMIC_RELEASE);
		r->reply_published = r->reply_next;
	}
}

int vmiop_ring_submit(struct vmiop_ring *r, bool force)
{
	struct vmiop_event_wait w = { .size = sizeof(w), .timeout_ms = 0 };
	int ret;

	if (!r->replies)
		return -EOPNOTSUPP;
	vmiop_ring_publish(r);
	/*
	 * pairs with the module's barrier between a vCPU's store of the flag
	 * and its load of reply_head: either it sees our replies, or we see
	 * that it sleeps
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!force) {
		if (!(__atomic_load_n(&r->status->flags, __ATOMIC_RELAXED) &
		      VMIOP_RING_NEED_WAKEUP))
			return 0;
		/* Taken already (by a spinning vCPU): nothing to hand over. */
		if (__atomic_load_n(r->reply_tail, __ATOMIC_ACQUIRE) == r->reply_next)
			return 0;
	}
	/* Any wait takes the ring's replies first; 0 ms only looks for events. */
	r->nr_syscalls++;
	ret = (int)SYSCALL_RET(ioctl(r->fd, VMIOP_EVENT_WAIT, &w));
	return ret == -ETIMEDOUT ? 0 : ret;
}

int vmiop_ring_reply(struct vmiop_ring *r, const struct vmiop_event *ev,
		     const struct vmiop_event_reply *reply)
{
	struct vmiop_ring_reply *slot;
	int ret;

	if (!r->replies)
		return -EOPNOTSUPP;
	if (reply->action == VMIOP_ACTION_EMULATE &&
	    (reply->emul_read.len > VMIOP_EMUL_READ_MAX ||
	     (reply->emul_read.len && !reply->emul_read.data)))
		return -EINVAL;
	/*
	 * Nothing of ours queued: continue from the shared head, which
	 * another producer (a forked child, say) may have moved; or, if the
	 * module refuses that head, from its tail.
	 */
	if (r->reply_next == r->reply_published) {
		unsigned int head = __atomic_load_n(r->reply_head, __ATOMIC_RELAXED);
		unsigned int tail = __atomic_load_n(r->reply_tail, __ATOMIC_ACQUIRE);

		if (head - tail > r->nr_entries) {
			head = tail;
			__atomic_store_n(r->reply_head, head, __ATOMIC_RELEASE);
		}
		r->reply_next = r->reply_published = head;
	}
	/* pairs with the module's store-release of reply_tail after it copied */
	if (r->reply_next - __atomic_load_n(r->reply_tail, __ATOMIC_ACQUIRE) >= r->nr_entries) {
		ret = vmiop_ring_submit(r, true);
		if (ret)
			return ret;
		if (r->reply_next - __atomic_load_n(r->reply_tail, __ATOMIC_ACQUIRE) >=
		    r->nr_entries)
			return -ENOSPC;
	}
	slot = &r->replies[r->reply_next & r->mask];
	memset(slot, 0, sizeof(*slot));
	slot->reply = *reply;
	slot->reply.size = sizeof(slot->reply);
	slot->reply.vcpu = ev->vcpu;
	slot->reply.seq = ev->seq;
	if (reply->action == VMIOP_ACTION_EMULATE) {
		if (reply->emul_read.len)
			memcpy(slot->emul_read, (const void *)(uintptr_t)reply->emul_read.data,
			       reply->emul_read.len);
		/* In the ring the bytes are in the entry: never a pointer. */
		slot->reply.emul_read.data = 0;
	}
	r->reply_next++;
	return 0;
}

unsigned int vmiop_ring_reply_errors(struct vmiop_ring *r, unsigned int *waiting,
				     struct vmiop_ring_status *last)
{
	unsigned int errors, refused;

	if (waiting)
		*waiting = 0;
	if (last)
		memset(last, 0, sizeof(*last));
	if (!r->replies)
		return 0;
	/* pairs with the module's store-release of each count after the fields */
	errors = __atomic_load_n(&r->status->reply_errors, __ATOMIC_ACQUIRE);
	refused = __atomic_load_n(&r->status->reply_refused, __ATOMIC_ACQUIRE);
	if (waiting)
		*waiting = refused - r->reply_refused;
	if (last)
		memcpy(last, (const void *)r->status, sizeof(*last));
	r->reply_refused = refused;
	errors -= r->reply_errors;
	r->reply_errors += errors;
	return errors;
}

int vmiop_event_dispatch(struct vmiop *v, struct vmiop_ring *ring,
			 const vmiop_event_handler *handlers, void *opaque)
{
	struct vmiop_event *ev;
	int n = 0, ret;

	while ((ev = vmiop_ring_peek(ring))) {
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };

		if (ev->type < VMIOP_EVENT_NR_TYPES && handlers[ev->type]) {
			ret = handlers[ev->type](v, ev, &r, opaque);
			if (ret)
				return ret;
		}
		ret = vmiop_event_reply(v, ev, &r);
		/*
		 * A refused reply leaves its vCPU waiting: the entry stays for
		 * the caller to answer.  -ENOENT: nobody waits for it any more.
		 */
		if (ret && ret != -ENOENT)
			return ret;
		ret = vmiop_ring_advance(ring, 1);
		if (ret)
			return ret;
		n++;
	}
	return n;
}

static long long vmiop_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/*
 * Handles the ready events, replies queued; returns how many, or a
 * handler's non-zero value (a negative one with its event left in the
 * ring).
 */
static int vmiop_loop_batch(struct vmiop *v, struct vmiop_ring *ring,
			    const vmiop_event_handler *handlers, void *opaque, bool ioctl_replies,
			    int *n)
{
	struct vmiop_event *ev;
	int ret, stop = 0;

	*n = 0;
	while (!stop && (ev = vmiop_ring_peek(ring))) {
		struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };

		if (ev->type < VMIOP_EVENT_NR_TYPES && handlers[ev->type]) {
			stop = handlers[ev->type](v, ev, &r, opaque);
			if (stop < 0)
				return stop;
		}
		if (ioctl_replies) {
			ring->nr_syscalls++;
			ret = vmiop_event_reply(v, ev, &r);
			if (ret && ret != -ENOENT)
				return ret;
		} else {
			ret = vmiop_ring_reply(ring, ev, &r);
			if (ret)
				return ret;
		}
		ret = vmiop_ring_advance(ring, 1);
		if (ret)
			return ret;
		(*n)++;
	}
	return stop;
}

static inline void vmiop_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	/* Also what lets an emulator run the CPU this one waits for. */
	__builtin_ia32_pause();
#endif
}

/*
 * Where vmiop_event_loop() returns @ret: the replies it published but left
 * for a wait to hand over go out first, so no vCPU sleeps on them.
 */
static int vmiop_loop_leave(struct vmiop_ring *ring, bool ioctl_replies, int ret)
{
	int err = ioctl_replies ? 0 : vmiop_ring_submit(ring, false);

	return err && ret >= 0 ? err : ret;
}

/* A refused reply whose vCPU still waits: its errno. */
static int vmiop_loop_refused(struct vmiop_ring *ring)
{
	struct vmiop_ring_status last;
	unsigned int waiting;

	vmiop_ring_reply_errors(ring, &waiting, &last);
	return waiting ? last.last_error : 0;
}

int vmiop_event_loop(struct vmiop *v, struct vmiop_ring *ring, const vmiop_event_handler *handlers,
		     void *opaque, unsigned int flags, int timeout_ms)
{
	bool ioctl_replies = (flags & VMIOP_LOOP_IOCTL) || !ring->replies;
	bool spin = flags & (VMIOP_LOOP_POLL | VMIOP_LOOP_SPIN);
	long long idle_since = vmiop_now_ns(), timeout_ns = timeout_ms * 1000000LL;
	unsigned int spins = 0;
	int ret, n;

	if (flags & ~(VMIOP_LOOP_POLL | VMIOP_LOOP_SPIN | VMIOP_LOOP_IOCTL) || timeout_ms < -1)
		return -EINVAL;
	for (;;) {
		int stop = vmiop_loop_batch(v, ring, handlers, opaque, ioctl_replies, &n);

		if (stop)
			return vmiop_loop_leave(ring, ioctl_replies, stop);
		if (!ioctl_replies) {
			/* About to sleep: the wait hands the replies over, one call for both. */
			if (!spin && !vmiop_ring_ready(ring))
				vmiop_ring_publish(ring);
			else if ((ret = vmiop_ring_submit(ring, false)))
				return ret;
			if ((ret = vmiop_loop_refused(ring)))
				return vmiop_loop_leave(ring, ioctl_replies, ret);
		}
		if (n) {
			idle_since = vmiop_now_ns();
			spins = 0;
			continue;
		}
		if (spin) {
			long long idle;

			vmiop_cpu_relax();
			/* The clock only now and then: the loop is the fast path. */
			if (++spins & 255)
				continue;
			idle = vmiop_now_ns() - idle_since;
			if (timeout_ms >= 0 && idle >= timeout_ns)
				return vmiop_loop_leave(ring, ioctl_replies, 0);
			if ((flags & VMIOP_LOOP_POLL) || idle < VMIOP_LOOP_SPIN_US * 1000LL)
				continue;
		}
		if (timeout_ms >= 0) {
			long long left = timeout_ns - (vmiop_now_ns() - idle_since);

			if (left <= 0)
				return vmiop_loop_leave(ring, ioctl_replies, 0);
			ring->nr_syscalls++;
			/* rounded up: a wait of 0 ms would only look */
			ret = vmiop_event_wait(v, (int)((left + 999999) / 1000000));
		} else {
			ring->nr_syscalls++;
			ret = vmiop_event_wait(v, -1);
		}
		/* The wait took the published replies before anything else. */
		if (ret == -ETIMEDOUT)
			return 0;
		if (ret < 0)
			return ret;
	}
}
