// SPDX-License-Identifier: GPL-2.0
/* Guest-physical memory: batched reads and writes, and mapped guest pages. */
#include <pthread.h>
#include <setjmp.h>
#include <sys/ioctl.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

static volatile uint64_t guest_flag;
static volatile uint64_t guest_value;

#define GPA(var) ((uint64_t)(uintptr_t)&(var))

static void guest_publish_and_wait(uint64_t arg)
{
	guest_value = arg;
	GUEST_SYNC(1);
	while (guest_flag == 0)
		guest_pause();
	GUEST_SYNC(guest_flag);
	GUEST_DONE();
}

static bool record_sync(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	(void)vcpu;
	*(volatile uint64_t *)opaque = uc->args[0];
	return true;
}

TEST(read_sees_guest_writes_and_guest_sees_ours)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	volatile uint64_t last = 0;
	uint64_t val = 0, flag = 0xfeedface;
	struct vmiop *v = vt_attach(tvm);

	tvm_vcpu_entry(vcpu, guest_publish_and_wait, 0x1122334455667788ULL);
	tvm_vcpu_thread_start(vcpu, record_sync, (void *)&last);
	VT_WAIT_UNTIL(last == 1);
	ASSERT_EQ(vmiop_read_pa(v, GPA(guest_value), &val, sizeof(val)), 0);
	ASSERT_EQ(val, 0x1122334455667788ULL);
	/* Written while the guest runs, without a pause. */
	ASSERT_EQ(vmiop_write_pa(v, GPA(guest_flag), &flag, sizeof(flag)), 0);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	ASSERT_EQ(last, 0xfeedface);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(access_crosses_pages_and_memslots)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t gpa = tvm_slot_boundary(tvm) - 4096 - 3;
	static uint8_t out[3 * 4096], in[3 * 4096];
	size_t i;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 1);
	ASSERT_EQ(vmiop_write_pa(v, gpa, out, sizeof(out)), 0);
	/* The VMM's own view of guest RAM has our bytes... */
	ASSERT_EQ(memcmp(tvm_gpa2hva(tvm, gpa), out, sizeof(out)), 0);
	/* ...and so does a read through vmiop. */
	ASSERT_EQ(vmiop_read_pa(v, gpa, in, sizeof(in)), 0);
	ASSERT_EQ(memcmp(in, out, sizeof(in)), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(batch_of_reads)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint8_t *ram = tvm_gpa2hva(tvm, 0);
	uint32_t a = 0, b = 0, c = 0;
	struct vmiop_mem_op ops[3] = {
		{ .gpa = 0x1000, .buf = (uintptr_t)&a, .len = 4 },
		{ .gpa = tvm_slot_boundary(tvm) - 2, .buf = (uintptr_t)&b, .len = 4 },
		{ .gpa = tvm_mem_size(tvm) - 4, .buf = (uintptr_t)&c, .len = 4 },
	};
	unsigned int done = 99;

	memcpy(ram + 0x1000, "\x01\x02\x03\x04", 4);
	memcpy(ram + tvm_slot_boundary(tvm) - 2, "\x05\x06\x07\x08", 4);
	memcpy(ram + tvm_mem_size(tvm) - 4, "\x09\x0a\x0b\x0c", 4);
	ASSERT_EQ(vmiop_read_pa_batch(v, ops, 3, &done), 0);
	EXPECT_EQ(done, 3);
	EXPECT_EQ(a, 0x04030201);
	EXPECT_EQ(b, 0x08070605);
	EXPECT_EQ(c, 0x0c0b0a09);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(holes_are_enxio_and_nothing_is_written)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t hole = tvm_hole_gpa(tvm), word = 0xabababababababab, zero = 0;
	uint8_t *ram = tvm_gpa2hva(tvm, 0);
	struct vmiop_mem_op ops[2] = {
		{ .gpa = 0x2000, .buf = (uintptr_t)&word, .len = 8 },
		{ .gpa = hole + 0x1000, .buf = (uintptr_t)&word, .len = 8 },
	};
	unsigned int done = 99;

	memset(ram + 0x2000, 0, 8);
	ASSERT_ERRNO(vmiop_read_pa(v, hole, &word, 8), ENXIO);
	/* RAM running into the hole */
	ASSERT_ERRNO(vmiop_read_pa(v, hole - 4, &word, 8), ENXIO);
	ASSERT_ERRNO(vmiop_write_pa_batch(v, ops, 2, &done), ENXIO);
	EXPECT_EQ(done, 0);
	/* The first op's target was not touched: the batch was checked first. */
	ASSERT_EQ(memcmp(ram + 0x2000, &zero, 8), 0);
	/* Far above anything */
	ASSERT_ERRNO(vmiop_read_pa(v, 1ULL << 50, &word, 8), ENXIO);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(bad_batches_rejected)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	int fd = vmiop_fd(v);
	uint64_t buf;
	struct vmiop_mem_op op = { .gpa = 0x1000, .buf = (uintptr_t)&buf, .len = 8 };
	struct vmiop_mem_batch b = { .size = sizeof(b), .count = 1, .ops = (uintptr_t)&op };

	b.flags = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	b.flags = 0;
	b.done = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	b.done = 0;
	b.count = 0;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	b.count = VMIOP_MEM_BATCH_MAX + 1;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	b.count = 1;
	op.len = 0;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	op.len = VMIOP_MEM_OP_MAX + 1;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	op.len = 8;
	op.gpa = ~0ULL - 3;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	op.gpa = 0x1000;
	op.reserved = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_WRITE_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	op.reserved = 0;
	op.buf = 8;	/* unmapped user address */
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EFAULT);
	EXPECT_EQ(b.done, 0);
	b.ops = 8;
	ASSERT_EQ(ioctl(fd, VMIOP_READ_MEM, &b), -1);
	EXPECT_EQ(errno, EFAULT);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(bus_jmp, 1);
}

/* True if reading (or writing) *p raises SIGBUS. */
static bool access_faults(volatile uint8_t *p, bool write)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	volatile bool faulted = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1))
		faulted = true;
	else if (write)
		*p = 1;
	else
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return faulted;
}

static bool read_faults(volatile uint8_t *p)
{
	return access_faults(p, false);
}

static void guest_count_until_flag(uint64_t arg)
{
	(void)arg;
	while (guest_flag == 0)
		vt_counters[0]++;
	GUEST_SYNC(guest_flag);
	GUEST_DONE();
}

TEST(mapped_guest_pages_are_coherent)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	volatile uint64_t last = 0;
	struct vmiop *v = vt_attach(tvm);
	uint64_t page = GPA(vt_counters) & ~4095ULL;
	volatile uint64_t *counter, *flag;
	uint64_t before;
	void *map, *fpage;

	ASSERT_EQ(vmiop_map_pa(v, page, 4096, PROT_READ, &map), 0);
	ASSERT_EQ(vmiop_map_pa(v, GPA(guest_flag) & ~4095ULL, 4096,
			       PROT_READ | PROT_WRITE, &fpage), 0);
	counter = (volatile uint64_t *)((char *)map + (GPA(vt_counters) & 4095));
	flag = (volatile uint64_t *)((char *)fpage + (GPA(guest_flag) & 4095));

	tvm_vcpu_entry(vcpu, guest_count_until_flag, 0);
	tvm_vcpu_thread_start(vcpu, record_sync, (void *)&last);
	/* The guest's increments show through the mapping as they happen. */
	VT_WAIT_UNTIL(*counter > 0);
	before = *counter;
	VT_WAIT_UNTIL(*counter != before);
	/* A store through the mapping is what the guest reads. */
	*flag = 77;
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(last, 77);
	EXPECT_EQ(*counter, vt_counter(tvm, 0));

	ASSERT_EQ(vmiop_unmap_pa(map, 4096), 0);
	ASSERT_EQ(vmiop_unmap_pa(fpage, 4096), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* A VM with one fresh page holding @init, attached and mapped read-write. */
struct mapped_page {
	struct tvm *tvm;
	struct vmiop *v;
	volatile uint64_t *hva, *map;
};

static struct mapped_page map_fresh_page(uint64_t init)
{
	struct mapped_page m = { .tvm = tvm_create(1, 0) };
	uint64_t gpa = tvm_alloc_gpa(m.tvm, 4096, 4096);

	m.v = vt_attach(m.tvm);
	m.hva = tvm_gpa2hva(m.tvm, gpa);
	*m.hva = init;
	ASSERT_EQ(vmiop_map_pa(m.v, gpa, 4096, PROT_READ | PROT_WRITE, (void **)&m.map), 0);
	ASSERT_EQ(*m.map, init);
	return m;
}

static void unmap_fresh_page(struct mapped_page *m)
{
	ASSERT_EQ(vmiop_unmap_pa((void *)m->map, 4096), 0);
	vmiop_close(m->v);
	tvm_destroy(m->tvm);
}

/*
 * The VMM's page behind a mapped gpa changes without the guest's doing:
 * the mapping follows (soon: the zap runs outside the VMM's invalidation),
 * and a write through it lands in the VMM's new page.
 */
TEST(mapping_follows_the_vmm_dropping_its_page)
{
	struct mapped_page m = map_fresh_page(0x5eed);

	/* Private anonymous memory: the next touch is a fresh zero page. */
	ASSERT_EQ(madvise((void *)m.hva, 4096, MADV_DONTNEED), 0);
	VT_WAIT_UNTIL(*m.map == 0);
	EXPECT_EQ(*m.hva, 0);
	*m.map = 0x77;
	EXPECT_EQ(*m.hva, 0x77);
	unmap_fresh_page(&m);
}

struct churn {
	volatile uint64_t *hva;
	volatile int done;
};

#define CHURN_ROUNDS 2000

/* The VMM drops and rewrites one guest page, round after round. */
static void *churn_page(void *arg)
{
	struct churn *c = arg;
	uint64_t i;

	for (i = 1; i <= CHURN_ROUNDS; i++) {
		if (madvise((void *)c->hva, 4096, MADV_DONTNEED))
			break;
		*c->hva = i;
	}
	c->done = 1;
	return NULL;
}

/*
 * Faults on the mapping race the VMM's changes of the page behind it:
 * whatever page a fault met mid-change, once the changes stop the
 * mapping shows the VMM's last page, and writes through it reach it.
 */
TEST(mapping_converges_while_the_vmm_churns_its_page)
{
	struct mapped_page m = map_fresh_page(0);
	struct churn c = { .hva = m.hva };
	uint64_t reads = 0;
	pthread_t t;

	ASSERT_EQ(pthread_create(&t, NULL, churn_page, &c), 0);
	while (!c.done)
		reads += *m.map <= CHURN_ROUNDS;
	ASSERT_EQ(pthread_join(t, NULL), 0);
	ASSERT_EQ(*c.hva, CHURN_ROUNDS);
	VT_WAIT_UNTIL(*m.map == CHURN_ROUNDS);
	*m.map = 0x77;
	EXPECT_EQ(*c.hva, 0x77);
	vmtest_diag("%llu reads through the mapping meanwhile", (unsigned long long)reads);
	unmap_fresh_page(&m);
}

/*
 * After a fork, the VMM's next write to guest memory copies the page
 * (COW): the mapping must move to the VMM's copy, not stay on the page
 * the child keeps.
 */
TEST(mapping_follows_a_copy_on_write_in_the_vmm)
{
	struct mapped_page m = map_fresh_page(1);
	int go[2], status;
	pid_t child;
	char c = 0;

	ASSERT_EQ(pipe(go), 0);
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) == 0 && *m.hva == 1 ? 0 : 1);
	}
	close(go[0]);
	*m.hva = 2;
	VT_WAIT_UNTIL(*m.map == 2);
	*m.map = 3;
	EXPECT_EQ(*m.hva, 3);
	/* The child's copy saw neither write. */
	close(go[1]);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unmap_fresh_page(&m);
}

TEST(mapping_a_hole_faults_and_bad_mmaps_fail)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t hole = tvm_hole_gpa(tvm);
	void *map;

	/* The last RAM page and the first hole page, in one mapping. */
	ASSERT_EQ(vmiop_map_pa(v, hole - 4096, 8192, PROT_READ, &map), 0);
	EXPECT_FALSE(read_faults((uint8_t *)map));
	EXPECT_TRUE(read_faults((uint8_t *)map + 4096));
	ASSERT_EQ(vmiop_unmap_pa(map, 8192), 0);

	map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, vmiop_fd(v),
		   (off_t)VMIOP_MMAP_GUEST_OFFSET);
	ASSERT_TRUE(map == MAP_FAILED);
	ASSERT_EQ(errno, EINVAL);
	/* Offset 0 is the event ring, which this session has not set up. */
	map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, vmiop_fd(v), 0);
	ASSERT_TRUE(map == MAP_FAILED);
	ASSERT_EQ(errno, ENXIO);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(unattached_fd_cannot_map)
{
	struct vmiop *v;
	void *map;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_ERRNO(vmiop_map_pa(v, 0, 4096, PROT_READ, &map), ENOTCONN);
	vmiop_close(v);
}

/* The VMM dies under an attached session with a mapping. */
TEST(vm_process_exit_while_attached_and_mapped)
{
	int ready[2], status;
	struct vmiop_vm_info info;
	uint64_t magic = 0, gpa;
	struct vmiop *v;
	pid_t vmm;
	void *map;

	ASSERT_EQ(pipe(ready), 0);
	vmm = fork();
	ASSERT_GE(vmm, 0);
	if (vmm == 0) {
		struct tvm *tvm = tvm_create(1, 0);
		uint64_t gpa = 0x3000;

		*(uint64_t *)tvm_gpa2hva(tvm, gpa) = 0x600dcafe;
		if (write(ready[1], &gpa, sizeof(gpa)) != sizeof(gpa))
			_exit(1);
		for (;;)
			pause();
	}
	ASSERT_EQ(read(ready[0], &gpa, sizeof(gpa)), sizeof(gpa));
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid(v, vmm), 0);
	ASSERT_EQ(vmiop_map_pa(v, gpa, 4096, PROT_READ, &map), 0);
	ASSERT_EQ(*(volatile uint64_t *)map, 0x600dcafe);
	ASSERT_EQ(vmiop_read_pa(v, gpa, &magic, 8), 0);
	ASSERT_EQ(magic, 0x600dcafe);
	ASSERT_EQ(vmiop_pause(v), 1);

	ASSERT_EQ(kill(vmm, SIGKILL), 0);
	ASSERT_EQ(waitpid(vmm, &status, 0), vmm);
	/* Gone: the mapping faults, every call says so, close still works. */
	EXPECT_TRUE(read_faults((uint8_t *)map));
	EXPECT_ERRNO(vmiop_read_pa(v, gpa, &magic, 8), ESRCH);
	EXPECT_ERRNO(vmiop_vm_info(v, &info), ESRCH);
	EXPECT_ERRNO(vmiop_resume(v), ESRCH);
	ASSERT_EQ(vmiop_unmap_pa(map, 4096), 0);
	vmiop_close(v);
}

/* A read-only memslot (firmware-like) above the RAM. */
#define ROM_GPA 0x80000000ULL

static void *add_rom_slot(struct tvm *tvm)
{
	uint8_t *rom = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region r = {
		.slot = 7, .flags = KVM_MEM_READONLY, .guest_phys_addr = ROM_GPA,
		.memory_size = 8192, .userspace_addr = (uintptr_t)rom,
	};

	ASSERT_TRUE(rom != MAP_FAILED);
	memset(rom, 0x5a, 8192);
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r), 0);
	return rom;
}

TEST(read_only_memslot)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_memmap_entry *e;
	uint8_t *rom = add_rom_slot(tvm), *map;
	uint32_t word = 0;
	int n;

	n = vmiop_get_memmap(v, &e);
	ASSERT_EQ(n, 2);
	EXPECT_EQ(e[1].addr, ROM_GPA);
	EXPECT_EQ(e[1].size, 8192);
	EXPECT_EQ(e[1].type, VMIOP_E820_ROM);
	free(e);

	ASSERT_EQ(vmiop_read_pa(v, ROM_GPA + 4094, &word, 4), 0);
	EXPECT_EQ(word, 0x5a5a5a5a);
	ASSERT_ERRNO(vmiop_write_pa(v, ROM_GPA + 16, &word, 4), EROFS);
	/* RAM then ROM in one batch: refused before the RAM is written */
	ASSERT_ERRNO(vmiop_write_pa(v, ROM_GPA - 2, &word, 4), ENXIO);
	EXPECT_EQ(rom[16], 0x5a);

	ASSERT_EQ(vmiop_map_pa(v, ROM_GPA, 8192, PROT_READ | PROT_WRITE, (void **)&map), 0);
	EXPECT_EQ(map[100], 0x5a);
	EXPECT_TRUE(access_faults(map + 100, true));
	EXPECT_EQ(rom[100], 0x5a);
	ASSERT_EQ(vmiop_unmap_pa(map, 8192), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* Deleting or moving a memslot drops mappings of its gpas. */
TEST(memslot_deleted_under_a_mapping)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint8_t *rom = add_rom_slot(tvm), *map;
	struct kvm_userspace_memory_region r = {
		.slot = 7, .flags = KVM_MEM_READONLY, .guest_phys_addr = ROM_GPA,
		.memory_size = 0, .userspace_addr = (uintptr_t)rom,
	};

	ASSERT_EQ(vmiop_map_pa(v, ROM_GPA, 4096, PROT_READ, (void **)&map), 0);
	ASSERT_EQ(map[0], 0x5a);
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r), 0);
	/* The VMM's memory is untouched, but the gpa is no longer guest RAM. */
	EXPECT_TRUE(read_faults(map));
	ASSERT_EQ(rom[0], 0x5a);

	/* Re-created elsewhere (a move): the old gpa stays gone. */
	r.memory_size = 8192;
	r.guest_phys_addr = ROM_GPA + 0x100000;
	ASSERT_EQ(ioctl(tvm_vm_fd(tvm), KVM_SET_USER_MEMORY_REGION, &r), 0);
	EXPECT_TRUE(read_faults(map));
	ASSERT_EQ(vmiop_unmap_pa(map, 4096), 0);
	ASSERT_EQ(vmiop_map_pa(v, ROM_GPA + 0x100000, 4096, PROT_READ, (void **)&map), 0);
	EXPECT_EQ(map[1], 0x5a);
	ASSERT_EQ(vmiop_unmap_pa(map, 4096), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * A page the guest never touched is the zero page in the VMM.  Mapped
 * read-only, then made writable: the write must land in a page of the
 * guest's own, never in the shared zero page.
 */
TEST(write_after_mprotect_never_hits_a_shared_page)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t gpa = tvm_alloc_gpa(tvm, 2 << 20, 2 << 20) + (1 << 20);
	volatile uint8_t *map, *fresh;

	ASSERT_EQ(vmiop_map_pa(v, gpa, 4096, PROT_READ, (void **)&map), 0);
	ASSERT_EQ(map[0], 0);
	ASSERT_EQ(mprotect((void *)map, 4096, PROT_READ | PROT_WRITE), 0);
	map[0] = 0x42;
	EXPECT_EQ(*(volatile uint8_t *)tvm_gpa2hva(tvm, gpa), 0x42);
	EXPECT_EQ(map[0], 0x42);
	fresh = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(fresh != MAP_FAILED);
	EXPECT_EQ(fresh[0], 0);
	munmap((void *)fresh, 4096);
	ASSERT_EQ(vmiop_unmap_pa((void *)map, 4096), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* ---- the undo log and the session's own memory ------------------------- */

static uint64_t undo_write(struct vmiop *v, uint64_t gpa, uint64_t val, unsigned int len)
{
	return (uint64_t)vmiop_write_pa_undo(v, gpa, &val, len);
}

TEST(undo_puts_back_what_the_guest_still_holds)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t page = tvm_alloc_gpa(tvm, 4096, 4096);
	uint64_t *p = tvm_gpa2hva(tvm, page);
	struct vmiop_mem_op op = { .gpa = page, .len = 8 };
	struct vmiop_mem_batch b = { .size = sizeof(b), .flags = VMIOP_MEM_F_UNDO, .count = 1,
				      .ops = (uintptr_t)&op };
	unsigned int restored, kept, i;
	uint8_t big[VMIOP_UNDO_OP_MAX + 1] = { 0 };
	struct vmiop *v = vt_attach(tvm);

	p[0] = 0x1111;
	p[1] = 0x2222;
	p[2] = 0x3333;
	ASSERT_EQ(undo_write(v, page, 0xaaaa, 8), 0);
	ASSERT_EQ(undo_write(v, page + 8, 0xbbbb, 8), 0);
	ASSERT_EQ(undo_write(v, page + 8, 0xcccc, 8), 0);	/* twice: back to the first */
	ASSERT_EQ(undo_write(v, page + 16, 0xdddd, 8), 0);
	EXPECT_EQ(p[0], 0xaaaa);
	EXPECT_EQ(p[1], 0xcccc);
	p[2] = 0x4444;		/* the guest's since: it keeps it */

	/* Bad input: refused, the log as it was. */
	EXPECT_ERRNO(vmiop_write_pa_undo(v, page, big, sizeof(big)), EINVAL);
	op.len = sizeof(big);
	op.buf = (uintptr_t)big;
	EXPECT_EQ(ioctl(vmiop_fd(v), VMIOP_WRITE_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	op.len = 8;
	EXPECT_EQ(ioctl(vmiop_fd(v), VMIOP_READ_MEM, &b), -1);	/* a write's flag */
	EXPECT_EQ(errno, EINVAL);
	b.flags = VMIOP_MEM_F_UNDO << 1;
	EXPECT_EQ(ioctl(vmiop_fd(v), VMIOP_WRITE_MEM, &b), -1);
	EXPECT_EQ(errno, EINVAL);
	EXPECT_ERRNO(vmiop_undo(v, 1u << 1, NULL, NULL), EINVAL);
	EXPECT_ERRNO(vmiop_undo(v, 0, NULL, NULL), EBUSY);	/* not paused */
	EXPECT_EQ(p[0], 0xaaaa);

	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_undo(v, 0, &restored, &kept), 0);
	EXPECT_EQ(restored, 3);
	EXPECT_EQ(kept, 1);
	EXPECT_EQ(p[0], 0x1111);
	EXPECT_EQ(p[1], 0x2222);
	EXPECT_EQ(p[2], 0x4444);
	ASSERT_EQ(vmiop_undo(v, 0, &restored, &kept), 0);	/* empty now */
	EXPECT_EQ(restored + kept, 0);
	/* A longer, unaligned write goes back by compare and copy. */
	memset(big, 0x77, 100);
	p[300] = 0x3000;
	ASSERT_EQ(vmiop_write_pa_undo(v, page + 8 * 300 - 3, big, 100), 0);
	EXPECT_EQ(p[300], 0x7777777777777777ull);
	ASSERT_EQ(vmiop_undo(v, 0, &restored, &kept), 0);
	EXPECT_EQ(restored, 1);
	EXPECT_EQ(p[300], 0x3000);
	EXPECT_EQ(p[299], 0);
	ASSERT_EQ(vmiop_resume(v), 0);

	/* The log is bounded: the batch that does not fit changes nothing. */
	for (i = 0; i < VMIOP_UNDO_MAX; i++)
		ASSERT_EQ(undo_write(v, page + 8 * (i % 512), i, 8), 0);
	EXPECT_ERRNO(vmiop_write_pa_undo(v, page, big, 8), ENOSPC);
	EXPECT_EQ(p[0], 512);
	/* Detach replays it: the page as the guest had it. */
	vmiop_close(v);
	EXPECT_EQ(p[0], 0x1111);
	EXPECT_EQ(p[1], 0x2222);
	EXPECT_EQ(p[2], 0x4444);
	EXPECT_EQ(p[3], 0);
	tvm_destroy(tvm);
}

static unsigned int own_entries(struct vmiop *v, uint64_t *gpa, uint64_t *size)
{
	struct vmiop_memmap_entry *e;
	unsigned int found = 0;
	int i, n = vmiop_get_memmap(v, &e);

	for (i = 0; i < n; i++) {
		if (e[i].type != VMIOP_E820_INTROSPECTION)
			continue;
		*gpa = e[i].addr;
		*size = e[i].size;
		found++;
	}
	free(e);
	return found;
}

TEST(the_sessions_own_memory_is_guest_ram_outside_the_map)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_vm_info info = { 0 };
	uint64_t gpa = 0, got, size, word = 0x5a5a, maxpa;
	uint8_t *map;

	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	maxpa = 1ull << info.maxphyaddr;
	/* Bad input, each refused with nothing added. */
	EXPECT_ERRNO(vmiop_add_memory(v, &gpa, 0), EINVAL);
	EXPECT_ERRNO(vmiop_add_memory(v, &gpa, 4095), EINVAL);
	EXPECT_ERRNO(vmiop_add_memory(v, &gpa, VMIOP_OWN_MEMORY_MAX + 4096), EINVAL);
	gpa = maxpa - 4096;
	EXPECT_ERRNO(vmiop_add_memory(v, &gpa, 8192), EINVAL);
	gpa = 0x1001;
	EXPECT_ERRNO(vmiop_add_memory(v, &gpa, 4096), EINVAL);
	gpa = 0x100000;		/* the guest's RAM */
	EXPECT_ERRNO(vmiop_add_memory(v, &gpa, 4096), EEXIST);
	EXPECT_EQ(own_entries(v, &got, &size), 0);
	ASSERT_EQ(vmiop_pause(v), 1);
	EXPECT_ERRNO(vmiop_undo(v, VMIOP_UNDO_F_MEMORY, NULL, NULL), ENOENT);
	ASSERT_EQ(vmiop_resume(v), 0);

	gpa = 0;
	ASSERT_EQ(vmiop_add_memory(v, &gpa, 1ull << 20), 0);
	EXPECT_EQ(gpa, (maxpa - (1ull << 20)) & ~((2ull << 20) - 1));
	EXPECT_EQ(own_entries(v, &got, &size), 1);
	EXPECT_EQ(got, gpa);
	EXPECT_EQ(size, 1ull << 20);
	got = 0;
	EXPECT_ERRNO(vmiop_add_memory(v, &got, 4096), EEXIST);	/* one per session */
	/* Zeroed, and as any RAM to vmiop's commands and mappings. */
	ASSERT_EQ(vmiop_read_pa(v, gpa + 4096, &word, 8), 0);
	EXPECT_EQ(word, 0);
	word = 0x5a5a;
	ASSERT_EQ(vmiop_write_pa(v, gpa + 4096, &word, 8), 0);
	ASSERT_EQ(vmiop_map_pa(v, gpa, 8192, PROT_READ | PROT_WRITE, (void **)&map), 0);
	EXPECT_EQ(map[4096], 0x5a);
	ASSERT_EQ(vmiop_unmap_pa(map, 8192), 0);

	/* Removed only from a paused VM. */
	EXPECT_ERRNO(vmiop_undo(v, VMIOP_UNDO_F_MEMORY, NULL, NULL), EBUSY);
	EXPECT_EQ(own_entries(v, &got, &size), 1);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_undo(v, VMIOP_UNDO_F_MEMORY, NULL, NULL), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	EXPECT_EQ(own_entries(v, &got, &size), 0);
	EXPECT_ERRNO(vmiop_read_pa(v, gpa, &word, 8), ENXIO);

	/* Added again at a place of the caller's; detach removes it. */
	gpa = maxpa - (8ull << 20);
	ASSERT_EQ(vmiop_add_memory(v, &gpa, 4096), 0);
	EXPECT_EQ(gpa, maxpa - (8ull << 20));
	vmiop_close(v);
	v = vt_attach(tvm);
	EXPECT_EQ(own_entries(v, &got, &size), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
