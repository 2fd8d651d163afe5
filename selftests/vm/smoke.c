// SPDX-License-Identifier: GPL-2.0
/*
 * smoke.c - proves the VM test runtime (selftests/lib/guest.c) works under
 * nested SVM: ucalls, shared globals, several vCPUs, HLT blocking in the
 * kernel, extra 4K/2M/1G mappings, the unbacked hole, exception reports.
 *
 * Guest functions run in ring 0 (IF=1, no interrupt source) on their own stack; they may use
 * globals (the guest has its own copy) and memcpy()/memset(), not syscalls.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "vmtest.h"
#include "guest.h"

/* ---- ucall round trip ---- */

static void guest_compute(uint64_t arg)
{
	GUEST_SYNC(arg * 3 + 1);
	GUEST_SYNC2(arg ^ 0xffff, ~arg);
	/* returning reports GUEST_DONE */
}

TEST(sync_roundtrip)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct ucall uc;

	tvm_vcpu_entry(vcpu, guest_compute, 0x1234);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_SYNC);
	ASSERT_EQ(uc.args[0], 0x1234 * 3 + 1);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_SYNC);
	ASSERT_EQ(uc.args[0], 0x1234 ^ 0xffff);
	ASSERT_EQ(uc.args[1], ~0x1234ULL);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_DONE);
	tvm_destroy(tvm);
}

/* ---- globals: the guest writes its copy, the host reads it ---- */

static volatile uint64_t g_counter = 7;
static char g_msg[32];

static void guest_write_globals(uint64_t arg)
{
	g_counter += arg;
	memcpy(g_msg, "hello from L2", 14);
	GUEST_DONE();
}

TEST(guest_globals)
{
	struct tvm *tvm;
	struct tvm_vcpu *vcpu;

	g_counter = 100;	/* snapshot taken by tvm_create() */
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	g_counter = 5;		/* the host's copy only */
	tvm_vcpu_entry(vcpu, guest_write_globals, 23);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, NULL), UCALL_DONE);
	ASSERT_EQ(*TVM_GUEST_VAR(tvm, g_counter), 123);
	ASSERT_EQ(strcmp(*TVM_GUEST_VAR(tvm, g_msg), "hello from L2"), 0);
	ASSERT_EQ(g_counter, 5);
	ASSERT_EQ(g_msg[0], 0);
	tvm_destroy(tvm);
}

/* ---- several vCPUs ---- */

#define NR_MULTI 4

static void guest_report_idx(uint64_t idx)
{
	uint32_t a, b, c, d;

	guest_cpuid(1, 0, &a, &b, &c, &d);
	GUEST_SYNC2(idx, b >> 24);	/* index and initial APIC ID */
}

static bool record_sync(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	uint64_t (*seen)[2] = opaque;

	seen[tvm_vcpu_idx(vcpu)][0] = uc->args[0];
	seen[tvm_vcpu_idx(vcpu)][1] = uc->args[1];
	return true;
}

TEST(multi_vcpu)
{
	struct tvm *tvm = tvm_create(NR_MULTI, 0);
	uint64_t seen[NR_MULTI][2];
	unsigned int i;

	memset(seen, 0xff, sizeof(seen));
	for (i = 0; i < NR_MULTI; i++)
		tvm_vcpu_entry(tvm_vcpu(tvm, i), guest_report_idx, i);
	for (i = 0; i < NR_MULTI; i++)
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), record_sync, seen);
	for (i = 0; i < NR_MULTI; i++) {
		ASSERT_EQ(tvm_vcpu_thread_join(tvm_vcpu(tvm, i)), TVM_THREAD_DONE);
		EXPECT_EQ(seen[i][0], i);
		EXPECT_EQ(seen[i][1], i);
		EXPECT_EQ(tvm_vcpu_thread_syncs(tvm_vcpu(tvm, i), NULL), 1);
	}
	tvm_destroy(tvm);
}

/* ---- HLT without interrupts blocks inside KVM_RUN until a signal ---- */

static void guest_sync_then_hlt(uint64_t arg)
{
	GUEST_SYNC(arg);
	guest_hlt();
	GUEST_ASSERT(!"HLT returned with no interrupt source");
}

struct run_once {
	struct tvm_vcpu *vcpu;
	pid_t tid;
	int rc;
};

static void *run_once_fn(void *p)
{
	struct run_once *ro = p;

	__atomic_store_n(&ro->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	ro->rc = tvm_vcpu_run(ro->vcpu);
	return NULL;
}

/* True once thread tid sleeps inside ioctl() (state S, syscall 16). */
static bool thread_sleeps_in_ioctl(pid_t tid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool sleeping = false, in_ioctl = false;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		sleeping = p[2] == 'S';
	fclose(f);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	f = fopen(path, "r");
	if (!f)		/* no CONFIG_HAVE_ARCH_TRACEHOOK: trust the state */
		return sleeping;
	if (fgets(buf, sizeof(buf), f))
		in_ioctl = !strncmp(buf, "16 ", 3);	/* __NR_ioctl */
	fclose(f);
	return sleeping && in_ioctl;
}

TEST(hlt_blocks_in_kernel)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct run_once ro = { .vcpu = vcpu };
	pthread_t th;
	int i;

	tvm_vcpu_entry(vcpu, guest_sync_then_hlt, 42);
	tvm_vcpu_expect_sync(vcpu, 42);

	ASSERT_EQ(pthread_create(&th, NULL, run_once_fn, &ro), 0);
	/* Wait (up to ~60 s, no timing assertion) until it sleeps in KVM_RUN. */
	for (i = 0; i < 6000; i++) {
		pid_t tid = __atomic_load_n(&ro.tid, __ATOMIC_ACQUIRE);

		if (tid && thread_sleeps_in_ioctl(tid))
			break;
		usleep(10000);
	}
	ASSERT_LT(i, 6000);
	ASSERT_EQ(pthread_kill(th, TVM_KICK_SIGNAL), 0);
	ASSERT_EQ(pthread_join(th, NULL), 0);
	ASSERT_ERRNO(ro.rc, EINTR);
	ASSERT_EQ(tvm_vcpu_run_state(vcpu)->exit_reason, KVM_EXIT_INTR);
	ASSERT_EQ(tvm_get_mp_state(vcpu), KVM_MP_STATE_HALTED);

	/* The same through the vCPU-thread helper (immediate_exit + signal). */
	tvm_vcpu_entry(vcpu, guest_sync_then_hlt, 43);
	tvm_set_mp_state(vcpu, KVM_MP_STATE_RUNNABLE);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_wait_syncs(vcpu, 1), TVM_THREAD_RUNNING);
	ASSERT_EQ(tvm_vcpu_thread_stop(vcpu), TVM_THREAD_STOPPED);
	ASSERT_EQ(tvm_vcpu_thread_syncs(vcpu, NULL), 1);
	tvm_destroy(tvm);
}

/* ---- extra 4K / 2M / 1G mappings at non-identity gvas ---- */

#define GVA_4K		0x7f0000001000ULL
#define GVA_2M		0x7f0000200000ULL
#define GVA_1G		0x7f0040000000ULL
#define GVA_SLOT1	0x7f0000003000ULL	/* 4K page at the memslot boundary */

struct map_args {
	uint64_t gva[4];
	uint64_t off[4];
};
static struct map_args g_map;

static void guest_read_mappings(uint64_t arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 4; i++)
		GUEST_SYNC2(i, *(volatile uint64_t *)(g_map.gva[i] + g_map.off[i]));
}

static uint64_t pattern(uint64_t gpa)
{
	return 0x5a5a000000000000ULL ^ (gpa * 0x9e3779b97f4a7c15ULL);
}

static void put_pattern(struct tvm *tvm, uint64_t gpa)
{
	*(uint64_t *)tvm_gpa2hva(tvm, gpa) = pattern(gpa);
}

TEST(extra_mappings)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t p4k = tvm_alloc_gpa(tvm, TVM_PAGE_4K, TVM_PAGE_4K);
	uint64_t p2m = tvm_alloc_gpa(tvm, TVM_PAGE_2M, TVM_PAGE_2M);
	uint64_t p1g_target = tvm_alloc_gpa(tvm, TVM_PAGE_4K, TVM_PAGE_4K);
	uint64_t pslot1 = tvm_slot_boundary(tvm);	/* first page of slot 1 */
	struct map_args *m = TVM_GUEST_VAR(tvm, g_map);
	uint64_t expect[4];
	size_t psize;
	struct ucall uc;
	int i;

	tvm_map(tvm, GVA_4K, p4k, TVM_PAGE_4K, 0);
	tvm_map(tvm, GVA_2M, p2m, TVM_PAGE_2M, TVM_PTE_W);
	tvm_map(tvm, GVA_1G, 0, TVM_PAGE_1G, 0);
	tvm_map(tvm, GVA_SLOT1, pslot1, TVM_PAGE_4K, 0);

	m->gva[0] = GVA_4K;	m->off[0] = 0x808;
	m->gva[1] = GVA_2M;	m->off[1] = 0x123458;
	m->gva[2] = GVA_1G;	m->off[2] = p1g_target + 0x10;
	m->gva[3] = GVA_SLOT1;	m->off[3] = 0xff8;
	put_pattern(tvm, p4k + 0x808);
	put_pattern(tvm, p2m + 0x123458);
	put_pattern(tvm, p1g_target + 0x10);
	put_pattern(tvm, pslot1 + 0xff8);
	expect[0] = pattern(p4k + 0x808);
	expect[1] = pattern(p2m + 0x123458);
	expect[2] = pattern(p1g_target + 0x10);
	expect[3] = pattern(pslot1 + 0xff8);

	/* The software walker agrees. */
	ASSERT_EQ(tvm_gva2gpa(tvm, GVA_4K + 0x808, &psize, NULL), p4k + 0x808);
	ASSERT_EQ(psize, TVM_PAGE_4K);
	ASSERT_EQ(tvm_gva2gpa(tvm, GVA_2M + 0x123458, &psize, NULL), p2m + 0x123458);
	ASSERT_EQ(psize, TVM_PAGE_2M);
	ASSERT_EQ(tvm_gva2gpa(tvm, GVA_1G + 0x10, &psize, NULL), 0x10);
	ASSERT_EQ(psize, TVM_PAGE_1G);
	ASSERT_EQ(tvm_gva2gpa(tvm, 0x200000 + 8, &psize, NULL), 0x200008);
	ASSERT_EQ(psize, TVM_PAGE_2M);
	ASSERT_EQ(tvm_gva2gpa(tvm, GVA_4K + TVM_PAGE_4K, NULL, NULL), TVM_INVALID_GPA);

	tvm_vcpu_entry(vcpu, guest_read_mappings, 0);
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_SYNC);
		ASSERT_EQ(uc.args[0], i);
		EXPECT_EQ(uc.args[1], expect[i]);
	}
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_DONE);
	tvm_destroy(tvm);
}

/* ---- a not-present entry faults, and the fault is reported ---- */

static void guest_touch(uint64_t gva)
{
	GUEST_SYNC(*(volatile uint64_t *)gva);
}

TEST(not_present_page_faults)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t gpa = tvm_alloc_gpa(tvm, TVM_PAGE_4K, TVM_PAGE_4K);
	struct ucall uc;

	/* Splits the 2M identity page holding gpa, then clears one PTE. */
	tvm_unmap(tvm, gpa, TVM_PAGE_4K);
	ASSERT_EQ(tvm_gva2gpa(tvm, gpa, NULL, NULL), TVM_INVALID_GPA);
	ASSERT_EQ(tvm_gva2gpa(tvm, gpa + TVM_PAGE_4K, NULL, NULL), gpa + TVM_PAGE_4K);

	tvm_vcpu_entry(vcpu, guest_touch, gpa + 0x40);
	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	ASSERT_EQ(tvm_get_ucall(vcpu, &uc), UCALL_EXCEPTION);
	ASSERT_EQ(uc.args[0], 14);		/* #PF */
	ASSERT_EQ(uc.args[2], 0);		/* not present, read, supervisor */
	ASSERT_EQ(uc.args[3], gpa + 0x40);	/* CR2 */
	tvm_destroy(tvm);
}

/* ---- reading the hole: KVM_EXIT_MMIO ---- */

#define GVA_HOLE	0x7f0080000000ULL

static void guest_read_hole(uint64_t gva)
{
	uint64_t v = *(volatile uint64_t *)gva;

	*(volatile uint32_t *)(gva + 8) = 0xabcd1234;
	GUEST_SYNC(v);
}

TEST(hole_is_mmio)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct kvm_run *run = tvm_vcpu_run_state(vcpu);
	uint64_t hole = tvm_hole_gpa(tvm), v = 0x1122334455667788ULL;
	uint32_t w;

	tvm_map(tvm, GVA_HOLE, hole, TVM_PAGE_4K, TVM_PTE_W);
	tvm_vcpu_entry(vcpu, guest_read_hole, GVA_HOLE);

	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	if (run->exit_reason != KVM_EXIT_MMIO)
		tvm_vcpu_fail_exit(vcpu, "expected KVM_EXIT_MMIO");
	ASSERT_EQ(run->mmio.phys_addr, hole);
	ASSERT_EQ(run->mmio.len, 8);
	ASSERT_EQ(run->mmio.is_write, 0);
	memcpy(run->mmio.data, &v, 8);

	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	if (run->exit_reason != KVM_EXIT_MMIO)
		tvm_vcpu_fail_exit(vcpu, "expected KVM_EXIT_MMIO");
	ASSERT_EQ(run->mmio.phys_addr, hole + 8);
	ASSERT_EQ(run->mmio.len, 4);
	ASSERT_EQ(run->mmio.is_write, 1);
	memcpy(&w, run->mmio.data, 4);
	ASSERT_EQ(w, 0xabcd1234);

	tvm_vcpu_expect_sync(vcpu, v);
	tvm_destroy(tvm);
}

/* ---- guest failures are decoded ---- */

static void guest_fails_assert(uint64_t arg)
{
	GUEST_ASSERT_EQ(arg, 2);
}

static void guest_ud2(uint64_t arg)
{
	(void)arg;
	__asm__ __volatile__("ud2");
}

TEST(guest_failures_reported)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct kvm_regs regs;
	struct ucall uc;

	tvm_vcpu_entry(vcpu, guest_fails_assert, 1);
	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	ASSERT_EQ(tvm_get_ucall(vcpu, &uc), UCALL_ASSERT);
	ASSERT_EQ(uc.args[3], 1);
	ASSERT_EQ(uc.args[4], 2);
	ASSERT_EQ(uc.args[5], 1);
	ASSERT_EQ(strcmp((const char *)tvm_gpa2hva(tvm, uc.args[0]), "arg == 2"), 0);

	tvm_vcpu_entry(vcpu, guest_ud2, 0);
	ASSERT_EQ(tvm_vcpu_run(vcpu), 0);
	ASSERT_EQ(tvm_get_ucall(vcpu, &uc), UCALL_EXCEPTION);
	ASSERT_EQ(uc.args[0], 6);	/* #UD */
	ASSERT_GE(uc.args[1], (uint64_t)(uintptr_t)guest_ud2);
	ASSERT_LT(uc.args[1], (uint64_t)(uintptr_t)guest_ud2 + 64);

	/* State survives: RSP is on this vCPU's stack, below sys top. */
	tvm_get_regs(vcpu, &regs);
	ASSERT_GT(regs.rsp, tvm_sys_base(tvm));
	tvm_destroy(tvm);
}

/* ---- libc string functions (ifunc-resolved, maybe AVX2) in the guest ---- */

static uint8_t g_buf_a[8192], g_buf_b[8192];

static void guest_libc(uint64_t arg)
{
	void *(*volatile do_memset)(void *, int, size_t) = memset;
	void *(*volatile do_memcpy)(void *, const void *, size_t) = memcpy;
	uint64_t sum = 0;
	size_t i;

	do_memset(g_buf_a, (int)arg, sizeof(g_buf_a));
	do_memcpy(g_buf_b, g_buf_a, sizeof(g_buf_b));
	for (i = 0; i < sizeof(g_buf_b); i++)
		sum += g_buf_b[i];
	GUEST_SYNC(sum);
}

TEST(guest_libc_string_functions)
{
	struct tvm *tvm = tvm_create(1, 0);

	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_libc, 0x3c);
	tvm_vcpu_expect_sync(tvm_vcpu(tvm, 0), 0x3cULL * sizeof(g_buf_b));
	tvm_destroy(tvm);
}

/* ---- cost of one ucall exit (informational, never asserted) ---- */

#define NR_EXITS 2000

static void guest_many_syncs(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		GUEST_SYNC(i);
}

TEST(ucall_exit_cost)
{
	struct tvm *tvm;
	struct timespec t0, t1, t2;
	struct ucall uc;
	uint64_t i;
	double s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	tvm = tvm_create(1, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_many_syncs, NR_EXITS);
	for (i = 0; i < NR_EXITS; i++) {
		ASSERT_EQ(tvm_vcpu_run_ucall(tvm_vcpu(tvm, 0), &uc), UCALL_SYNC);
		ASSERT_EQ(uc.args[0], i);
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);
	s = (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9;
	vmtest_diag("tvm_create: %.1f ms; %d ucall exits in %.3f s = %.1f us/exit",
		    ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9) * 1e3,
		    NR_EXITS, s, s * 1e6 / NR_EXITS);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
