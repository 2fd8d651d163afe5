// SPDX-License-Identifier: GPL-2.0
/*
 * The promises of the uapi header that a robustness campaign found broken:
 * a failed call changes nothing, a call that succeeds has reported its
 * result, a pause completes whatever the vCPUs wait for, attaching needs
 * ptrace rights over the VM's process, and a read-only session only reads.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define PAGE 4096UL

static long xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* A copy of @len bytes of @src in a page the caller can read but not write. */
static void *read_only_copy(const void *src, size_t len)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_TRUE(p != MAP_FAILED);
	memcpy(p, src, len);
	ASSERT_EQ(mprotect(p, PAGE, PROT_READ), 0);
	return p;
}

static unsigned int pause_count(struct vmiop *v)
{
	struct vmiop_vm_info info;

	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	return info.pause_count;
}

static void fill(void *p, size_t len, uint8_t seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 13);
}

/* Every way a source buffer can be unreadable, for a one-page and a three-page op. */
TEST(write_from_an_unreadable_buffer_writes_nothing)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t gpa = tvm_alloc_gpa(tvm, 4 * PAGE, PAGE) + 100;
	uint8_t *guest = tvm_gpa2hva(tvm, gpa), *before = malloc(3 * PAGE);
	uint8_t *two = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct {
		const void *buf;
		size_t len;
		const char *what;
	} bad[] = {
		{ NULL, 8, "NULL" },
		{ (void *)0xffffffff81000000ULL, 8, "a kernel address" },
		{ none, 8, "a PROT_NONE page" },
		/* readable for its first page and a half, then unmapped */
		{ two + 2 * PAGE + PAGE / 2, PAGE, "one that runs into an unmapped page" },
		{ two + PAGE, 3 * PAGE, "a 3-page op whose last page is unmapped" },
		{ two, 3 * PAGE, "a 3-page op whose last page is PROT_NONE" },
	};
	unsigned int i, done;

	ASSERT_TRUE(two != MAP_FAILED && none != MAP_FAILED && before);
	fill(two, 4 * PAGE, 1);
	ASSERT_EQ(munmap(two + 3 * PAGE, PAGE), 0);
	fill(guest, 3 * PAGE, 77);
	memcpy(before, guest, 3 * PAGE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vmiop_mem_op op = {
			.gpa = gpa, .buf = (uintptr_t)bad[i].buf, .len = (uint32_t)bad[i].len,
		};

		if (i == 5)
			ASSERT_EQ(mprotect(two + 2 * PAGE, PAGE, PROT_NONE), 0);
		vmtest_diag("source: %s", bad[i].what);
		done = 99;
		ASSERT_ERRNO(vmiop_write_pa_batch(v, &op, 1, &done), EFAULT);
		EXPECT_EQ(done, 0);
		ASSERT_EQ(memcmp(guest, before, 3 * PAGE), 0);
	}
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* The first op lands whole, the second not at all, and done says so. */
TEST(batch_stops_at_an_unreadable_op_without_writing_it)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t gpa = tvm_alloc_gpa(tvm, 4 * PAGE, PAGE);
	uint8_t *guest = tvm_gpa2hva(tvm, gpa);
	uint8_t *none = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	static uint8_t src[2 * PAGE], zero[2 * PAGE];
	struct vmiop_mem_op ops[2] = {
		{ .gpa = gpa, .buf = (uintptr_t)src, .len = 2 * PAGE },
		{ .gpa = gpa + 2 * PAGE, .buf = (uintptr_t)none, .len = 2 * PAGE },
	};
	unsigned int done = 99;

	fill(src, sizeof(src), 5);
	memset(guest, 0, 4 * PAGE);
	ASSERT_ERRNO(vmiop_write_pa_batch(v, ops, 2, &done), EFAULT);
	EXPECT_EQ(done, 1);
	EXPECT_EQ(memcmp(guest, src, 2 * PAGE), 0);
	EXPECT_EQ(memcmp(guest + 2 * PAGE, zero, 2 * PAGE), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* What a write lands is in KVM's dirty bitmap: a migration would copy it. */
TEST(written_pages_are_in_the_dirty_log)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t base = tvm_slot_boundary(tvm), half = tvm_mem_size(tvm) / 2;
	uint64_t gpa = tvm_alloc_gpa(tvm, 4 * PAGE, PAGE);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES, .guest_phys_addr = 0,
		.memory_size = half, .userspace_addr = (uintptr_t)tvm_gpa2hva(tvm, 0),
	};
	size_t words = half / PAGE / 64;
	uint64_t *bitmap = calloc(words, sizeof(uint64_t));
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bitmap };
	static uint8_t src[3 * PAGE];
	uint64_t first = gpa / PAGE, pfn;
	size_t i;

	ASSERT_TRUE(bitmap != NULL);
	ASSERT_LT(gpa + 4 * PAGE, base);
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r), 0);
	/* Starts clean (the first read also clears it). */
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_GET_DIRTY_LOG, &log), 0);
	fill(src, sizeof(src), 9);
	/* 3 pages from the middle of the first: 4 pages touched. */
	ASSERT_EQ(vmiop_write_pa(v, gpa + PAGE / 2, src, sizeof(src)), 0);
	memset(bitmap, 0, words * sizeof(uint64_t));
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_GET_DIRTY_LOG, &log), 0);
	for (pfn = first; pfn < first + 4; pfn++)
		EXPECT_TRUE(bitmap[pfn / 64] & (1ULL << (pfn % 64)));
	/* A failed write dirties nothing. */
	ASSERT_ERRNO(vmiop_write_pa(v, gpa, NULL, 2 * PAGE), EFAULT);
	memset(bitmap, 0, words * sizeof(uint64_t));
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_GET_DIRTY_LOG, &log), 0);
	for (i = 0; i < words; i++)
		EXPECT_EQ(bitmap[i], 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A VM whose VMM tracks dirty pages in KVM's dirty ring: that ring takes
 * entries only from a running vCPU, so a write vmiop could not record is
 * refused, whole, rather than lost to a migration.
 */
TEST(write_is_refused_where_the_dirty_ring_would_miss_it)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING, .args = { 4096 * 16 } };
	void *mem = mmap(NULL, 2 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = 2 << 20,
		.userspace_addr = (uintptr_t)mem,
	};
	uint64_t word = 0x0123456789abcdefULL, got = 0;
	struct vmiop *v;
	int status;
	pid_t child;
	void *map;

	ASSERT_GE(kvm, 0);
	ASSERT_TRUE(mem != MAP_FAILED);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	ASSERT_GE(vm, 0);
	if (ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING) <= 0)
		SKIP("this KVM has no dirty ring");
	ASSERT_EQ(ioctl(vm, KVM_ENABLE_CAP, &cap), 0);
	ASSERT_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_fd(v, vm), 0);
	/* Not tracking: written as always, also through a mapping. */
	ASSERT_EQ(vmiop_write_pa(v, 0x1000, &word, sizeof(word)), 0);
	ASSERT_EQ(vmiop_read_pa(v, 0x1000, &got, sizeof(got)), 0);
	EXPECT_EQ(got, word);
	ASSERT_EQ(vmiop_map_pa(v, 0x2000, PAGE, PROT_READ | PROT_WRITE, &map), 0);
	*(volatile uint64_t *)map = 1;
	EXPECT_EQ(*(uint64_t *)((uint8_t *)mem + 0x2000), 1);
	*(volatile uint64_t *)map = 0;
	/* Tracking: refused, nothing written. */
	r.flags = KVM_MEM_LOG_DIRTY_PAGES;
	ASSERT_EQ(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	ASSERT_ERRNO(vmiop_write_pa(v, 0x2000, &word, sizeof(word)), EOPNOTSUPP);
	EXPECT_EQ(*(uint64_t *)((uint8_t *)mem + 0x2000), 0);
	/*
	 * Nor through the mapping, writable from before: reads still work,
	 * a write faults (in a child).
	 */
	EXPECT_EQ(*(volatile uint64_t *)map, 0);
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		*(volatile uint64_t *)map = word;
		_exit(0);
	}
	ASSERT_EQ(waitpid(child, &status, 0), child);
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
	EXPECT_EQ(*(uint64_t *)((uint8_t *)mem + 0x2000), 0);
	ASSERT_EQ(vmiop_unmap_pa(map, PAGE), 0);
	vmiop_close(v);
	close(vm);
	close(kvm);
}

/*
 * An argument struct the module can read but not write back: commands with
 * out fields fail with -EFAULT and do nothing; those without succeed.
 */
TEST(a_result_that_cannot_be_reported_means_nothing_happened)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm), *u;
	struct vmiop_pause p = { .size = sizeof(p) };
	struct vmiop_ring_setup rs = { .size = sizeof(rs), .nr_entries = 4 };
	struct vmiop_attach at = { .size = sizeof(at) };
	struct vmiop_event_wait w = { .size = sizeof(w), .flags = VMIOP_EVENT_WAIT_F_TAIL };
	uint64_t gpa = tvm_alloc_gpa(tvm, PAGE, PAGE), word = 0x1122334455667788ULL;
	struct vmiop_mem_op op = { .gpa = gpa, .buf = (uintptr_t)&word, .len = 8 };
	struct vmiop_mem_batch mb = { .size = sizeof(mb), .count = 1, .ops = (uintptr_t)&op };
	struct vmiop_vm_info info;
	struct vmiop_ring *ring;
	uint64_t before, *guest = tvm_gpa2hva(tvm, gpa);
	int fd = vmiop_fd(v);

	vt_start_counting(tvm, 1);

	/* PAUSE: not paused, and the guest runs on. */
	ASSERT_ERRNO(xioctl(fd, VMIOP_PAUSE, read_only_copy(&p, sizeof(p))), EFAULT);
	ASSERT_EQ(pause_count(v), 0);
	before = vt_counter(tvm, 0);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) != before);

	/* RESUME: still paused. */
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_ERRNO(xioctl(fd, VMIOP_RESUME, read_only_copy(&p, sizeof(p))), EFAULT);
	ASSERT_EQ(pause_count(v), 1);
	ASSERT_EQ(vmiop_resume(v), 0);

	/* WRITE_MEM: the guest word is untouched. */
	*guest = 0;
	ASSERT_ERRNO(xioctl(fd, VMIOP_WRITE_MEM, read_only_copy(&mb, sizeof(mb))), EFAULT);
	ASSERT_EQ(*guest, 0);

	/* RING_SETUP: no ring, so setting one up again works. */
	ASSERT_ERRNO(xioctl(fd, VMIOP_RING_SETUP, read_only_copy(&rs, sizeof(rs))), EFAULT);
	ASSERT_EQ(vmiop_ring_setup(v, 4, &ring), 0);

	/* EVENT_WAIT that would move the tail: it stays. */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, read_only_copy(&w, sizeof(w))), EFAULT);
	ASSERT_EQ(*ring->tail, 0);

	/* ATTACH has no out field: it attaches and says so. */
	vmiop_close(v);
	ASSERT_EQ(vmiop_open(&u), 0);
	at.vm_fd = tvm_vm_fd(tvm);
	ASSERT_EQ(xioctl(vmiop_fd(u), VMIOP_ATTACH, read_only_copy(&at, sizeof(at))), 0);
	ASSERT_EQ(vmiop_vm_info(u, &info), 0);
	vmiop_close(u);

	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

/* Guest: reports its vCPU thread, then asks CPUID leaf 0x40000170 for ever. */
static void guest_cpuid_forever(uint64_t idx)
{
	GUEST_SYNC(idx);
	for (;;) {
		uint32_t a, b, c, d;

		guest_cpuid(0x40000170, (uint32_t)idx, &a, &b, &c, &d);
	}
}

static bool note_tid(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	(void)vcpu;
	(void)uc;
	__atomic_store_n((pid_t *)opaque, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	return true;
}

/*
 * A one-entry ring holds vCPU 0's unanswered event; vCPU 1 waits for space.
 * A pause from the thread that would answer must return, and both vCPUs
 * answer register calls while it holds.
 */
TEST(pause_completes_while_a_vcpu_waits_for_ring_space)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_filter_range leaf = { 0x40000170, 0x40000170 };
	struct vmiop_regs regs;
	struct vmiop_event *ev, first;
	struct vmiop_ring *ring;
	pid_t tid1 = 0;
	uint64_t seq;

	ASSERT_TRUE((ring = vt_ring_setup(v, 1)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &leaf, 1), 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cpuid_forever, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->vcpu, 0);
	first = *ev;

	/* vCPU 1 starts once the ring is full: it must wait for space. */
	tvm_vcpu_entry(tvm_vcpu(tvm, 1), guest_cpuid_forever, 1);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 1), note_tid, &tid1);
	VT_WAIT_UNTIL(__atomic_load_n(&tid1, __ATOMIC_ACQUIRE) != 0);
	VT_WAIT_UNTIL(vt_thread_sleeps_in(tid1, "vmiop_park_wait"));

	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	EXPECT_EQ(regs.rax, 0x40000170);
	ASSERT_EQ(vmiop_get_regs(v, 1, &regs), 0);
	EXPECT_EQ(regs.rax, 0x40000170);
	EXPECT_EQ(regs.rcx, 1);

	/* Space now: vCPU 1's event enters the ring although the VM is paused. */
	ASSERT_EQ(vmiop_event_continue(v, &first), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->vcpu, 1);
	EXPECT_EQ(ev->seq, first.seq + 1);
	seq = ev->seq;
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_EQ(pause_count(v), 1);
	ASSERT_EQ(vmiop_resume(v), 0);

	/* And events flow on after the resume. */
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_GT(ev->seq, seq);
	vmiop_close(v);
	vt_stop_threads(tvm, 2);
	tvm_destroy(tvm);
}

/* Guest: stays halted with interrupts off; its registers never change. */
static void guest_cli_hlt(uint64_t arg)
{
	(void)arg;
	for (;;)
		__asm__ __volatile__("cli; hlt" ::: "memory");
}

TEST(read_only_session_reads_and_never_writes)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t gpa = tvm_alloc_gpa(tvm, PAGE, PAGE), word = 0x5a5a5a5a5a5a5a5aULL, got = 0;
	uint64_t *guest = tvm_gpa2hva(tvm, gpa);
	struct vmiop_reg reg = { .id = VMIOP_REG_RBX, .value = 0x1234 };
	struct vmiop_regs regs, again;
	struct vmiop *v;
	void *map;

	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cli_hlt, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	*guest = 0xabcdef;
	ASSERT_EQ(vmiop_open_readonly(&v), 0);
	ASSERT_EQ(vmiop_attach_fd(v, tvm_vm_fd(tvm)), 0);

	/* Reads work. */
	ASSERT_EQ(vmiop_read_pa(v, gpa, &got, sizeof(got)), 0);
	EXPECT_EQ(got, 0xabcdef);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	ASSERT_EQ(vmiop_translate(v, 0, gpa, &got), 0);
	EXPECT_EQ(got, gpa);
	/* Writes do not, and change nothing. */
	ASSERT_ERRNO(vmiop_write_pa(v, gpa, &word, sizeof(word)), EBADF);
	EXPECT_EQ(*guest, 0xabcdef);
	regs.rbx ^= 1;
	ASSERT_ERRNO(vmiop_set_regs(v, 0, &regs), EBADF);
	ASSERT_ERRNO(vmiop_set_reg_list(v, 0, &reg, 1), EBADF);
	ASSERT_EQ(vmiop_get_regs(v, 0, &again), 0);
	EXPECT_EQ(again.rbx, regs.rbx ^ 1);
	/* Guest pages map read-only, never writable. */
	ASSERT_EQ(vmiop_map_pa(v, gpa, PAGE, PROT_READ, &map), 0);
	EXPECT_EQ(*(volatile uint64_t *)map, 0xabcdef);
	EXPECT_EQ(mprotect(map, PAGE, PROT_READ | PROT_WRITE), -1);
	EXPECT_EQ(errno, EACCES);
	ASSERT_EQ(vmiop_unmap_pa(map, PAGE), 0);
	ASSERT_ERRNO(vmiop_map_pa(v, gpa, PAGE, PROT_READ | PROT_WRITE, &map), EACCES);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

#define RO_EVENTS 6

/* More events than ring entries: the read-only consumer gives them back. */
TEST(read_only_session_takes_events_and_only_continues)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop_filter_range leaf = { 0x40000170, 0x40000170 };
	struct vmiop_event_reply r = { .action = VMIOP_ACTION_SET_RESULT };
	struct vmiop_event_caps caps;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct vmiop_api api;
	struct vmiop *v;
	uint64_t seq = 0;
	int i;

	ASSERT_EQ(vmiop_open_readonly(&v), 0);
	ASSERT_EQ(vmiop_attach_fd(v, tvm_vm_fd(tvm)), 0);
	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	EXPECT_TRUE(api.features & VMIOP_FEAT_READ_ONLY);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 2)) != NULL);
	/* Steps with the trap flag show in the guest; with MTF they do not. */
	if (caps.singlestep == VMIOP_STEP_TRAP_FLAG) {
		ASSERT_ERRNO(vmiop_event_enable(v, VMIOP_EVENT_SINGLESTEP, -1, NULL, 0), EBADF);
	} else {
		ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_SINGLESTEP, 0, NULL, 0), 0);
		ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, 0), 0);
	}
	/* Mapped read-only: a store would fault. */
	EXPECT_EQ(mprotect(ring->mem, ring->mem_size, PROT_READ | PROT_WRITE), -1);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &leaf, 1), 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cpuid_forever, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	for (i = 0; i < RO_EVENTS; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		EXPECT_EQ(ev->seq, seq + 1);
		seq = ev->seq;
		ASSERT_ERRNO(vmiop_event_reply(v, ev, &r), EBADF);
		r.action = VMIOP_ACTION_SKIP;
		ASSERT_ERRNO(vmiop_event_reply(v, ev, &r), EBADF);
		r.action = VMIOP_ACTION_SET_RESULT;
		if (caps.singlestep == VMIOP_STEP_TRAP_FLAG) {
			struct vmiop_event_reply step = {
				.action = VMIOP_ACTION_CONTINUE, .flags = VMIOP_REPLY_F_SINGLESTEP,
			};

			ASSERT_ERRNO(vmiop_event_reply(v, ev, &step), EBADF);
		}
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
		EXPECT_EQ(*ring->tail, (unsigned int)seq);
	}
	vmiop_close(v);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

/* The tail moved through the kernel goes forward, and not past head. */
TEST(tail_through_the_kernel_is_checked)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_event_wait w = { .size = sizeof(w), .flags = VMIOP_EVENT_WAIT_F_TAIL };
	struct vmiop_ring *ring;
	int fd = vmiop_fd(v);

	ASSERT_TRUE((ring = vt_ring_setup(v, 4)) != NULL);
	w.tail = 1;		/* past head (0) */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), EINVAL);
	w.tail = (uint32_t)-1;	/* behind */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), EINVAL);
	EXPECT_EQ(*ring->tail, 0);
	w.tail = 0;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), ETIMEDOUT);
	w.flags = 0;
	w.tail = 1;		/* a tail without the flag */
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), EINVAL);
	w.tail = 0;
	w.reserved = 1;
	ASSERT_ERRNO(xioctl(fd, VMIOP_EVENT_WAIT, &w), EINVAL);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
