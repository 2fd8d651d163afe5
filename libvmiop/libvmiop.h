/* SPDX-License-Identifier: MIT */
/*
 * libvmiop: a thin C library over /dev/vmiop.
 *
 * Every function returns 0 (or a count) on success and -errno on failure;
 * none reads or changes errno.  One struct vmiop is one session; it may be
 * used from several threads (the module serializes what must be).
 */
#ifndef LIBVMIOP_H
#define LIBVMIOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/vmiop.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vmiop;

/* Opens /dev/vmiop.  *out is set on success. */
int vmiop_open(struct vmiop **out);
/*
 * Opens /dev/vmiop read-only: the session reads guest memory and
 * registers, pauses and takes events, but cannot write the guest (those
 * calls fail with -EBADF, replies other than "continue" too).  For
 * forensic tools that should hold no more rights than they use.
 * -EOPNOTSUPP: the module would not enforce it (no VMIOP_FEAT_READ_ONLY).
 */
int vmiop_open_readonly(struct vmiop **out);
/* Detaches (the VM resumes, everything the session did is undone) and frees. */
void vmiop_close(struct vmiop *v);
/* The session fd, for poll(2) and mmap(2). */
int vmiop_fd(const struct vmiop *v);

int vmiop_get_api(struct vmiop *v, struct vmiop_api *api);

/*
 * The fd number of process @pid's KVM VM, from /proc/PID/fd.  -ENOENT: it
 * has none; -EEXIST: several; -ESRCH: no such process; -EACCES: its files
 * are not the caller's to look at (no ptrace rights over it).
 */
int vmiop_find_vm_fd(pid_t pid);
/*
 * Attaches to the KVM VM of process @pid: finds its VM fd in /proc/PID/fd
 * and duplicates it with pidfd_getfd(2) (so the caller needs ptrace rights
 * over @pid).  -ENOENT: @pid has no KVM VM; -EEXIST: it has several (use
 * vmiop_attach_pid_fd).
 */
int vmiop_attach_pid(struct vmiop *v, pid_t pid);
/* Attaches to the VM fd number @fd of process @pid. */
int vmiop_attach_pid_fd(struct vmiop *v, pid_t pid, int fd);
/* Attaches to a VM fd of the caller (from KVM_CREATE_VM, or received). */
int vmiop_attach_fd(struct vmiop *v, int vm_fd);
/*
 * Attaches to the VM with vmiop id @id (vmiop_vm_list(), vmiop_vm_info()'s
 * vm_id).  -ESRCH: no live VM has it; -EPERM: no ptrace rights over its
 * VMM; -EINVAL: a module without VM ids (VMIOP_FEAT_VM_IDS).
 */
int vmiop_attach_id(struct vmiop *v, uint64_t id);
/*
 * vmiop_vm_lookup() then vmiop_attach_id(): ids are never reused, so a VM
 * renamed or gone meanwhile makes it fail (-ESRCH), never attach another.
 */
int vmiop_attach_name(struct vmiop *v, const char *name);

/*
 * The attached VM.  struct vmiop_vm_info grew vm_id in LIBVMIOP_0.8:
 * binaries built before are linked to vmiop_vm_info@LIBVMIOP_0.1, which
 * fills only the 32 bytes their struct has.
 */
int vmiop_vm_info(struct vmiop *v, struct vmiop_vm_info *info);
/*
 * The guest-physical memory map (the gist's get_e820_memory_map).  On
 * success *entries is a malloc'd array of the returned count of entries.
 */
int vmiop_get_memmap(struct vmiop *v, struct vmiop_memmap_entry **entries);

/* Counted: every pause needs a resume.  Returns the outstanding count. */
int vmiop_pause(struct vmiop *v);
int vmiop_resume(struct vmiop *v);

/* Registers of a vCPU of the paused VM. */
int vmiop_get_regs(struct vmiop *v, unsigned int vcpu, struct vmiop_regs *regs);
int vmiop_set_regs(struct vmiop *v, unsigned int vcpu, const struct vmiop_regs *regs);
int vmiop_get_reg(struct vmiop *v, unsigned int vcpu, enum vmiop_reg_id id,
		  uint64_t *value);
int vmiop_set_reg(struct vmiop *v, unsigned int vcpu, enum vmiop_reg_id id,
		  uint64_t value);
int vmiop_get_reg_list(struct vmiop *v, unsigned int vcpu, struct vmiop_reg *regs,
		       unsigned int count);
int vmiop_set_reg_list(struct vmiop *v, unsigned int vcpu,
		       const struct vmiop_reg *regs, unsigned int count);

/* Guest-physical memory; the VM need not be paused. */
int vmiop_read_pa(struct vmiop *v, uint64_t gpa, void *buf, size_t len);
int vmiop_write_pa(struct vmiop *v, uint64_t gpa, const void *buf, size_t len);
/* Batches: *done (may be NULL) says how many ops completed. */
int vmiop_read_pa_batch(struct vmiop *v, struct vmiop_mem_op *ops,
			unsigned int count, unsigned int *done);
int vmiop_write_pa_batch(struct vmiop *v, const struct vmiop_mem_op *ops,
			 unsigned int count, unsigned int *done);

/*
 * Maps @len bytes of guest-physical memory at page-aligned @gpa (the gist's
 * map_pa).  @prot is PROT_READ or PROT_READ|PROT_WRITE.  Accessing a hole,
 * MMIO, or the mapping after the VM's process exited raises SIGBUS.
 */
int vmiop_map_pa(struct vmiop *v, uint64_t gpa, size_t len, int prot, void **addr);
int vmiop_unmap_pa(void *addr, size_t len);

/*
 * Guest-virtual to guest-physical (the gist's translate_v2p) with the
 * vCPU's current paging mode (the VM must be paused).  A missing
 * translation is -EFAULT; vmiop_translate_ex() reports why.
 */
int vmiop_translate(struct vmiop *v, unsigned int vcpu, uint64_t gva, uint64_t *gpa);
int vmiop_translate_ex(struct vmiop *v, struct vmiop_translate *t);

/*
 * Page rights (VMIOP_ACCESS_* allowed) of @nr_pages guest frames from
 * @gfn: accesses they forbid become VMIOP_EVENT_MEM events.
 * VMIOP_ACCESS_RWX lifts a restriction.  Needs the ring.
 */
int vmiop_set_mem_access(struct vmiop *v, uint64_t gfn, uint64_t nr_pages, unsigned int access);
/* Several runs in one call, all or none. */
int vmiop_set_mem_access_ranges(struct vmiop *v, const struct vmiop_mem_access_range *ranges,
				unsigned int nr);
/* The rights of each of @nr_pages frames from @gfn, one byte each. */
int vmiop_get_mem_access(struct vmiop *v, uint64_t gfn, uint32_t nr_pages, uint8_t *access);

/*
 * #VE (<linux/vmiop_ve.h>): where the guest agent's code is (@code_len 0:
 * none), and vCPU @vcpu's info page (VMIOP_VE_INFO_NONE: none; the vCPU
 * paused).  Convertible pages are restricted with VMIOP_ACCESS_VE.
 */
int vmiop_set_ve_agent(struct vmiop *v, uint64_t code_gpa, uint64_t code_len);
int vmiop_set_ve_info(struct vmiop *v, unsigned int vcpu, uint64_t gpa);

/*
 * Guest memory of the session's own, unknown to the guest OS
 * (VMIOP_ADD_MEMORY): *gpa 0 lets the module choose; *gpa says where.
 */
int vmiop_add_memory(struct vmiop *v, uint64_t *gpa, uint64_t len);
/* A write put back by vmiop_undo() or at detach (VMIOP_MEM_F_UNDO). */
int vmiop_write_pa_undo(struct vmiop *v, uint64_t gpa, const void *buf, size_t len);
/* VMIOP_UNDO: @restored, @kept may be NULL. */
int vmiop_undo(struct vmiop *v, unsigned int flags, unsigned int *restored, unsigned int *kept);

/*
 * The #VE agent (ve-agent/), installed into a running 64-bit guest that
 * has no driver of ours.  With the VM paused, vmiop_agent_install() adds
 * the session's own memory and puts there the agent, one info page and
 * one protected stack per vCPU, and the cache of unmonitored entries;
 * maps them into the guest's kernel address space (Linux: in the
 * cpu_entry_area's top-level slot, which every process's page tables,
 * kernel and user halves under KPTI, share; another guest: in a free
 * top-level slot of vCPU 0's page tables); points IDT gate 20 at the
 * agent; keeps the agent's code read-only; and registers each vCPU's
 * info page.  Every change to the guest's own memory is made with
 * VMIOP_MEM_F_UNDO.  The agent tells vCPUs apart by TSC_AUX (RDTSCP), as
 * Linux numbers them; vCPUs with equal TSC_AUX values are refused, and so
 * is a guest whose CPUID has no RDTSCP.  (Linux: the cpu_entry_area slot
 * is used when the IDT is read from its base; the slot is shared with
 * KPTI's user tables, so on a CPU open to Meltdown guest user code can
 * read the agent's pages, the registers it saved among them.)
 *
 * Errors: -EBUSY the VM is not paused; -EOPNOTSUPP no #VE delivery on
 *	this host, no RDTSCP in the guest, or a vCPU not in 4-level long
 *	mode; -E2BIG more vCPUs
 *	than the agent takes (VMIOP_VE_MAX_CPUS); -ENOTUNIQ two vCPUs with
 *	one TSC_AUX; -ENOSPC no free place for the mapping; -EEXIST the
 *	session has its memory already; those of the calls it makes.  On
 *	failure the guest is as it was.
 */
struct vmiop_agent;

struct vmiop_agent_opts {
	uint64_t gpa;		/* the session's memory: 0, the module's choice */
	uint32_t flags;		/* 0 */
	uint32_t reserved;
};

struct vmiop_agent_layout {
	uint64_t gpa, va;	/* the session's memory and where the guest sees it */
	uint64_t len;
	uint64_t code_gpa, code_len;	/* the agent's code */
	uint64_t info_gpa;	/* vCPU i's info page is at info_gpa + 4096 * i */
	uint64_t cache_gpa;	/* struct vmiop_ve_cache_line[VMIOP_VE_CACHE_LINES] */
	uint64_t config_gpa;	/* the agent's struct ve_agent_config */
	uint64_t idt_gpa;	/* gate 20's IDT (vCPU 0's) */
	unsigned int nr_vcpus;
};

int vmiop_agent_install(struct vmiop *v, const struct vmiop_agent_opts *opts,
			struct vmiop_agent **out);
/*
 * Takes everything back (the guest as it was before the install, where it
 * has not changed those bytes since: the session's whole undo log is
 * replayed) and frees @a.  The VM must be paused once; it is let run for
 * moments while a vCPU is still inside the agent.  Answer or disable the
 * events the agent raises first: a vCPU waiting for such an answer is
 * inside it.  On failure @a stays, to uninstall again: -EBUSY the VM is
 * not paused (or paused more than once and a vCPU is inside), or a vCPU
 * stayed inside the agent (it stays installed, unregistered: no #VE
 * reaches it); those of VMIOP_SET_VE_INFO and VMIOP_UNDO.
 */
int vmiop_agent_uninstall(struct vmiop_agent *a);
const struct vmiop_agent_layout *vmiop_agent_layout(const struct vmiop_agent *a);
/* A vCPU's counters, as its info page has them. */
struct vmiop_agent_counters {
	uint64_t total, page_table, page_walk, ignored, ignored_cache, ignored_irrelevant;
	uint64_t unknown_cpu, redelivered;	/* the agent's, not the vCPU's */
};
int vmiop_agent_counters(struct vmiop_agent *a, unsigned int vcpu,
			 struct vmiop_agent_counters *c);

/* The name of a register id ("rax", "cs.base", ...), or NULL. */
const char *vmiop_reg_name(unsigned int id);

/* ---- events ---------------------------------------------------------- */

/* Which event types this host offers, and why not where it does not. */
int vmiop_event_caps(struct vmiop *v, struct vmiop_event_caps *caps);
/* The name of an event type ("cpuid", ...), or NULL. */
const char *vmiop_event_name(unsigned int type);

/*
 * The consumer's view of the event ring (liburing style): read events with
 * vmiop_ring_peek(), reply, then vmiop_ring_advance().  No syscall is
 * needed to see events; vmiop_event_wait() or poll(2) on vmiop_fd() sleeps
 * until there are some.  Replies go back through the ioctl
 * (vmiop_event_reply()) or, without a system call, through the reply ring
 * (vmiop_ring_reply(), then vmiop_ring_submit() once per batch).  One
 * consumer thread per ring.
 */
struct vmiop_ring {
	const unsigned int *head;	/* written by the module */
	unsigned int *tail;		/* written by the consumer */
	struct vmiop_event *entries;
	unsigned int mask;
	unsigned int nr_entries;
	void *mem;
	size_t mem_size;
	/* A read-only session's fd: its ring is read-only, the module moves tail. */
	int readonly_fd;
	/* The reply ring (NULL on a read-only session or an older module). */
	unsigned int *reply_head;		/* written by the consumer */
	const unsigned int *reply_tail;		/* written by the module */
	struct vmiop_ring_reply *replies;
	const struct vmiop_ring_status *status;
	/*
	 * reply_head once the queued ones are submitted: this process's own
	 * count; one that takes the ring over from another that produced
	 * replies reloads it from *reply_head
	 */
	unsigned int reply_next;
	unsigned int reply_published;	/* the reply_head we stored last */
	unsigned int reply_errors;	/* status->reply_errors last seen */
	unsigned int reply_refused;	/* status->reply_refused last seen */
	int fd;
	/*
	 * System calls made on the ring's behalf by vmiop_ring_submit(),
	 * vmiop_event_loop() and a read-only session's advance: for tuning.
	 */
	unsigned long nr_syscalls;
};

/*
 * Creates and maps the ring (nr_entries a power of two, 0 = default).
 * *ring stays valid until vmiop_close().
 */
int vmiop_ring_setup(struct vmiop *v, unsigned int nr_entries, struct vmiop_ring **ring);

/* Events ready to read. */
static inline unsigned int vmiop_ring_ready(const struct vmiop_ring *r)
{
	/* pairs with the module's store-release of head after the entry */
	return __atomic_load_n(r->head, __ATOMIC_ACQUIRE) - *r->tail;
}

/* The oldest unread event, or NULL.  Valid until vmiop_ring_advance(). */
static inline struct vmiop_event *vmiop_ring_peek(const struct vmiop_ring *r)
{
	if (!vmiop_ring_ready(r))
		return NULL;
	return &r->entries[*r->tail & r->mask];
}

/* vmiop_ring_advance() of a read-only session: a system call. */
int vmiop_ring_advance_readonly(struct vmiop_ring *r, unsigned int n);

/*
 * Gives @n read events' entries back to the module.  0, or for a
 * read-only session the system call's -errno (-EINVAL: @n is more than
 * was ready).
 */
static inline int vmiop_ring_advance(struct vmiop_ring *r, unsigned int n)
{
	if (r->readonly_fd >= 0)
		return vmiop_ring_advance_readonly(r, n);
	/* pairs with the module's load-acquire of tail before reusing entries */
	__atomic_store_n(r->tail, *r->tail + n, __ATOMIC_RELEASE);
	return 0;
}

/*
 * Sleeps until events are ready; returns how many, or -ETIMEDOUT after
 * timeout_ms (-1: no timeout), -EINTR on a signal.  Replies queued with
 * vmiop_ring_reply() are handed over first.
 */
int vmiop_event_wait(struct vmiop *v, int timeout_ms);

/*
 * Enables event @type on vCPU @vcpu, or on every vCPU with vcpu < 0.
 * @filter/@nr_filter (whole VM only) replace the type's filter: only keys
 * in these ranges are delivered (nr_filter 0: all).
 */
int vmiop_event_enable(struct vmiop *v, unsigned int type, int vcpu,
		       const struct vmiop_filter_range *filter, unsigned int nr_filter);
/*
 * The same for every vCPU with the type's options: VMIOP_EVENT_CTL_F_READS
 * (MSR and CR reads too), VMIOP_EVENT_CTL_F_CHANGES (CR writes that change
 * the value only).
 */
int vmiop_event_enable_flags(struct vmiop *v, unsigned int type, unsigned int flags,
			     const struct vmiop_filter_range *filter, unsigned int nr_filter);
int vmiop_event_disable(struct vmiop *v, unsigned int type, int vcpu);

/* Lets the event's vCPU go on: @r->vcpu and @r->seq come from @ev. */
int vmiop_event_reply(struct vmiop *v, const struct vmiop_event *ev,
		      struct vmiop_event_reply *r);
/* The common reply: let KVM do what it would have done. */
int vmiop_event_continue(struct vmiop *v, const struct vmiop_event *ev);

/*
 * Queues the reply to @ev in the reply ring, with no system call: @r as
 * for vmiop_event_reply() (its emul_read.data, if any, is copied into the
 * entry).  The module sees it at the next vmiop_ring_submit().  -ENOSPC:
 * the reply ring is full even after submitting what it held; -EOPNOTSUPP:
 * no reply ring (read-only session, or a module without
 * VMIOP_FEAT_REPLY_RING).
 */
int vmiop_ring_reply(struct vmiop_ring *ring, const struct vmiop_event *ev,
		     const struct vmiop_event_reply *r);

/*
 * Hands the queued replies to the module: a vCPU spinning for its reply
 * takes it at once; a system call is made only when a vCPU sleeps
 * (VMIOP_RING_NEED_WAKEUP) or @force.  0 or -errno.
 */
int vmiop_ring_submit(struct vmiop_ring *ring, bool force);

/*
 * Replies from the ring the module refused since the last call (as
 * VMIOP_EVENT_REPLY would have), and in *@waiting (if not NULL) how many
 * refusals left a vCPU waiting (all but -ENOENT, nobody waited; a bad
 * reply_head counts too).  *@last (if not NULL) gets the ring's status:
 * the last such refusal's errno, vCPU and seq, to answer it through
 * vmiop_event_reply().
 */
unsigned int vmiop_ring_reply_errors(struct vmiop_ring *ring, unsigned int *waiting,
				     struct vmiop_ring_status *last);

/*
 * A handler fills in @reply (it comes in as VMIOP_ACTION_CONTINUE) and
 * returns 0, or a negative errno to stop the dispatch.
 */
typedef int (*vmiop_event_handler)(struct vmiop *v, const struct vmiop_event *ev,
				   struct vmiop_event_reply *reply, void *opaque);

/*
 * Handles every ready event: calls handlers[ev->type] (NULL: continue),
 * sends the reply, frees the entry.  handlers has VMIOP_EVENT_NR_TYPES
 * entries.  Returns the number of events handled, or a handler's error,
 * or the error of a reply the module refused (that event stays in the
 * ring, its vCPU still waiting).
 */
int vmiop_event_dispatch(struct vmiop *v, struct vmiop_ring *ring,
			 const vmiop_event_handler *handlers, void *opaque);

/* vmiop_event_loop() flags */
/* Spin on the ring for events instead of sleeping: no system call per event. */
#define VMIOP_LOOP_POLL		(1u << 0)
/* Reply with VMIOP_EVENT_REPLY, one call per event (as vmiop_event_dispatch()). */
#define VMIOP_LOOP_IOCTL	(1u << 1)
/*
 * Spin on the ring for up to VMIOP_LOOP_SPIN_US once it is empty, then
 * sleep: events that come faster than that cost no system call or
 * context switch, an idle guest costs no CPU.
 */
#define VMIOP_LOOP_SPIN		(1u << 2)
#define VMIOP_LOOP_SPIN_US	200

/*
 * The event loop most consumers want.  Takes every ready event, calls
 * handlers[ev->type] (NULL: continue), and gives the replies back through
 * the reply ring, handed over once per batch (a system call only where a
 * vCPU sleeps).  When no event is ready it sleeps in VMIOP_EVENT_WAIT (the
 * wait hands the replies over too: one system call per sleep), with
 * VMIOP_LOOP_SPIN spins a little first, or with VMIOP_LOOP_POLL spins on
 * the ring (best on a CPU of its own, away from the vCPUs' threads).
 *
 * Runs until a handler returns non-zero, or no event came for @timeout_ms
 * (-1: for ever; 0: only what is ready).  Returns that handler's value (a
 * positive one after its reply went out, a negative one with that event
 * unanswered and left in the ring), 0 on the timeout, -EINTR for a signal
 * while sleeping, or the -errno of a reply the module refused, whose vCPU
 * still waits (vmiop_ring_reply_errors() names the last one; -ENOENT, an
 * event nobody waits for any more, is not an error).  Whatever it
 * returns, the replies it made are handed over; a refusal of the very
 * last ones shows at the next call, or in vmiop_ring_reply_errors().
 */
int vmiop_event_loop(struct vmiop *v, struct vmiop_ring *ring, const vmiop_event_handler *handlers,
		     void *opaque, unsigned int flags, int timeout_ms);

/* ---- the host's VMs, by id and by name ------------------------------- */

/*
 * Through the module's generic netlink family (VMIOP_GENL_NAME in
 * <linux/vmiop.h>).  A caller sees only the VMs it could attach to (ptrace
 * rights over the VMM) unless it has CAP_SYS_ADMIN; any other VM is
 * -ENOENT.  Every call opens and closes its own netlink socket, so they may
 * be made from several threads.  Errors common to all: -ENODEV the module
 * (its netlink family) is not loaded; the kernel's own -errno for a request
 * it refused, with its explanation in vmiop_vm_last_error(); -EPROTO a
 * reply that is not what the family sends.
 */
struct vmiop_vm_entry {
	uint64_t id;			/* >= 1, never reused while the module is loaded */
	char name[VMIOP_VM_NAME_MAX];	/* "": none */
	uint32_t name_source;		/* enum vmiop_vm_name_source, 0: no name */
	pid_t vmm_pid;			/* the VMM (caller's pid namespace), 0: not visible */
	uint32_t vmm_uid;		/* the VMM's real uid */
	char comm[16];			/* the VMM's command */
	uint32_t nr_vcpus;
	uint32_t vendor;		/* enum vmiop_vendor */
	uint64_t mem_bytes;		/* writable memory slots: RAM and device RAM */
	pid_t session_pid;		/* the attached introspector, 0: no session */
	uint32_t session_flags;		/* VMIOP_SESSION_F_* */
	uint64_t seq;			/* the last notification this reflects (0: unknown) */
	uint64_t reserved[4];
};

/*
 * Every VM the caller sees, by id.  Returns the count; *vms (NULL when 0)
 * is to be free()d.  -EAGAIN: the VMs kept changing during every one of a
 * few tries.
 */
int vmiop_vm_list(struct vmiop_vm_entry **vms);
/* One VM by id. */
int vmiop_vm_get(uint64_t id, struct vmiop_vm_entry *vm);
/* The id of the VM named @name.  -ENOENT: none; -EINVAL: not a name. */
int vmiop_vm_lookup(const char *name, uint64_t *id);
/*
 * The name of VM @id into @buf.  -ENOENT: no such VM; -ENODATA: it has no
 * name; -ERANGE: @len is too small.
 */
int vmiop_vm_name(uint64_t id, char *buf, size_t len);
/*
 * Names VM @id (NULL or "": takes its name away).  -EEXIST: a live VM has
 * that name; -EINVAL: not a valid name (1 to VMIOP_VM_NAME_MAX - 1 bytes,
 * no control characters, no '/').
 */
int vmiop_vm_set_name(uint64_t id, const char *name);
/*
 * The kernel's explanation (extended ack) of this thread's last failed
 * vmiop_vm_*() or vmiop_monitor_*() request, "" if it gave none.
 */
const char *vmiop_vm_last_error(void);

/* What vmiop_monitor_read() returns. */
struct vmiop_vm_event {
	uint32_t type;			/* VMIOP_GENL_CMD_VM_CREATED and on */
	uint32_t reserved0;
	uint64_t seq;			/* VMIOP_GENL_A_EVENT_SEQ */
	/*
	 * What is known of the VM: for VMIOP_GENL_CMD_VM_DESTROYED at least
	 * its id (and name, if it had one)
	 */
	struct vmiop_vm_entry vm;
};

struct vmiop_monitor;

/*
 * Notifications of VMs created, destroyed, renamed, attached to, detached
 * from.  With CAP_SYS_ADMIN they come from the family's "admin" group as
 * the kernel sends them; otherwise from the open "vm" group, which says
 * little, and the monitor asks the rest itself, as the caller could:
 *  - created: the VM's id; the monitor asks for that VM, and drops the
 *    event if the caller does not see it;
 *  - destroyed: the id; reported for the VMs the monitor reported (or
 *    listed when it was opened or after a loss), with what it knew;
 *  - renamed, attached, detached: no id at all (who renames or
 *    introspects which VM is not everyone's to know); the monitor lists
 *    the VMs the caller sees and compares them with what it knows of
 *    them: one event of that type for each VM whose name (or its source)
 *    changed, that has a session with another pid (attached), or whose
 *    known session is gone (detached: the event names the session that
 *    ended), all with the notification's seq; none if no VM of the
 *    caller's changed.  A change undone before the list (a session that
 *    came and went) is not seen; one event may show a change whose own
 *    event comes next.
 * Opening joins the group first, then lists the VMs; a caller that keeps
 * a list of its own should make it after opening too.  A change in
 * between is never lost, but may be reported although that list shows
 * it already (a duplicate rather than a loss): an event says "this
 * changed, and here is how it is now".
 *
 * @flags: 0 (else -EINVAL).  -EOPNOTSUPP: the family has no such groups.
 * A monitor is for one thread at a time.
 */
int vmiop_monitor_open(struct vmiop_monitor **m, unsigned int flags);
/*
 * For poll(2): POLLIN when there is more to read.  One datagram may hold
 * several events: read until -EAGAIN before polling again.
 */
int vmiop_monitor_fd(const struct vmiop_monitor *m);
/*
 * Never blocks for events (it may ask the kernel about VMs): 1 with one in
 * *@ev, -EAGAIN none ready, -ENOBUFS events were lost (the socket's buffer
 * overran, or a gap in their numbers: list again; reading goes on after
 * it, in order), -EPROTO a malformed notification was dropped, or the
 * -errno of asking for a VM or listing them (that event is dropped).
 * Events come in the order of their seq; several from one notification
 * without an id share it.
 */
int vmiop_monitor_read(struct vmiop_monitor *m, struct vmiop_vm_event *ev);
void vmiop_monitor_close(struct vmiop_monitor *m);

#ifdef __cplusplus
}
#endif
#endif
