// SPDX-License-Identifier: GPL-2.0
/*
 * make bench: vmiop's event path against KVM's own mechanisms, measured in
 * one run on the same guest.  Under emulation absolute times mean little;
 * the ratios are the figures.
 *
 *   (a) a CPUID event handled in userspace by a blocking consumer vs
 *       KVM_EXIT_IO: vmiop_event_loop() (replies through the ring), and
 *       the one-ioctl-per-reply consumer for comparison
 *   (b) the same with a busy-polling consumer
 *   (c) CPUID filtered out in the kernel vs CPUID with vmiop not attached
 *       (the best of C_ROUNDS alternating runs of each)
 *   (d) events per second with 1 and 4 vCPUs, polling and blocking
 *       (vmiop_event_loop())
 *   (e) a write to a write-protected page handled in userspace (MEM
 *       event, blocking consumer; replies emulate and continue) vs the
 *       same write unprotected vs KVM_EXIT_IO
 *   (f) a page-table write that changes no monitored bit (the dirty bit
 *       toggled) absorbed by the #VE agent in the guest vs the same write
 *       as a MEM event answered "emulate" in userspace vs KVM_EXIT_IO
 *   (g) per CPUID event of (a) and (b): the consumer's system calls (its
 *       waits and replies, counted: struct vmiop_ring's nr_syscalls for
 *       the loop), and context switches on each side (getrusage: the
 *       consumer's thread; the rest of the process, the vCPU threads):
 *       figures that do not depend on the emulator's speed
 *
 * The busy-polling consumer runs on CPU 1, the vCPU threads on CPU 0.
 *
 * BENCH_N (environment, default 4000) is the number of operations per
 * measurement.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "../selftests/vmiop/vmiop_test.h"
#include "ve_install.h"

VT_DEFINE_COUNTERS;

#define BENCH_PORT 0xe1
#define BENCH_LEAF 0x40000180u

static uint64_t n_ops = 4000;

static void guest_outs(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		__asm__ __volatile__("outb %%al, %%dx" : : "a"(0), "d"(BENCH_PORT));
	GUEST_DONE();
}

static void guest_cpuids(uint64_t n)
{
	uint32_t a, b, c, d;
	uint64_t i;

	for (i = 0; i < n; i++)
		guest_cpuid(BENCH_LEAF, 0, &a, &b, &c, &d);
	GUEST_DONE();
}

/* The page (e) writes, gpa == gva, set in the guest's copy. */
uint64_t bench_page;

static void guest_writes(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		*(volatile uint64_t *)bench_page = i;
	GUEST_DONE();
}

/* The page-table entry (f) writes, gpa == gva. */
uint64_t bench_pte;

static void guest_pte_toggles(uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		__asm__ __volatile__("xorq $0x40, (%0)" : : "r"(bench_pte) : "memory");
	GUEST_DONE();
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* KVM's own userspace exit: OUT to a port, KVM_RUN returns, run again. */
static double ns_per_io_exit(struct tvm *tvm)
{
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct kvm_run *run = tvm_vcpu_run_state(vcpu);
	double t0;

	tvm_vcpu_entry(vcpu, guest_outs, n_ops);
	t0 = now_ns();
	for (;;) {
		if (tvm_vcpu_run(vcpu) == -EINTR)
			continue;
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == BENCH_PORT)
			continue;
		if (tvm_get_ucall(vcpu, NULL) == UCALL_DONE)
			break;
		fprintf(stderr, "bench: unexpected exit %s\n",
			tvm_exit_reason_str(run->exit_reason));
		exit(1);
	}
	return (now_ns() - t0) / n_ops;
}

/* @fn's n_ops operations run to completion on the calling thread. */
static double ns_per_op(struct tvm *tvm, void (*fn)(uint64_t n))
{
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	double t0;

	tvm_vcpu_entry(vcpu, fn, n_ops);
	t0 = now_ns();
	if (tvm_vcpu_run_ucall(vcpu, NULL) != UCALL_DONE)
		exit(1);
	return (now_ns() - t0) / n_ops;
}

/*
 * (c): the two are a few percent apart, less than what one run of either
 * drifts by under emulation, so they alternate, attaching and detaching,
 * and each keeps its best.
 */
#define C_ROUNDS 5

static void filtered_vs_unattached(struct tvm *tvm, double *plain, double *filtered)
{
	const struct vmiop_filter_range other_leaf = { 1, 1 };
	struct vmiop_ring *ring;
	struct vmiop *v;
	double t;
	int i;

	*plain = *filtered = 1e300;
	for (i = 0; i < C_ROUNDS; i++) {
		t = ns_per_op(tvm, guest_cpuids);
		*plain = t < *plain ? t : *plain;
		v = vt_attach(tvm);
		if (vmiop_ring_setup(v, 8, &ring) ||
		    vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &other_leaf, 1))
			exit(1);
		t = ns_per_op(tvm, guest_cpuids);
		*filtered = t < *filtered ? t : *filtered;
		vmiop_close(v);
	}
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void unpin(void)
{
	cpu_set_t set;
	long i, n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (i = 0; i < n; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* What one measurement of ns_per_event() cost besides time, per event. */
struct per_event {
	double syscalls;	/* the consumer's: waits and replies */
	double csw_consumer, csw_vcpus;
};

static long csw(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

enum consumer {
	IOCTL_WAIT,	/* VMIOP_EVENT_WAIT, then VMIOP_EVENT_REPLY per event */
	IOCTL_POLL,	/* spins on the ring, VMIOP_EVENT_REPLY per event */
	LOOP_WAIT,	/* vmiop_event_loop(), blocking */
	LOOP_POLL,	/* vmiop_event_loop(VMIOP_LOOP_POLL) */
	LOOP_SPIN,	/* vmiop_event_loop(VMIOP_LOOP_SPIN): spins a little, then sleeps */
};

struct loop_count {
	uint64_t left;
	uint32_t action;
};

static int bench_handler(struct vmiop *v, const struct vmiop_event *ev,
			 struct vmiop_event_reply *r, void *opaque)
{
	struct loop_count *c = opaque;

	(void)v;
	(void)ev;
	r->action = c->action;
	return !--c->left;
}

/* The one-ioctl-per-reply consumer, waiting or spinning. */
static uint64_t ioctl_consumer(struct vmiop *v, struct vmiop_ring *ring, uint64_t want,
			       bool busy, bool own_cpu, uint32_t action)
{
	struct vmiop_event_reply r = { .action = action };
	uint64_t total = 0, calls = 0;

	while (total < want) {
		struct vmiop_event *ev;

		if (!busy) {
			calls++;
			if (vmiop_event_wait(v, 60000) < 0) {
				fprintf(stderr, "bench: no event for 60 s\n");
				exit(1);
			}
		}
		if (busy && !own_cpu && !vmiop_ring_ready(ring))
			sched_yield();
		/*
		 * A spin needs PAUSE: QEMU's single-threaded TCG hands its
		 * host thread to the other emulated CPU only then (or at the
		 * next tick), and on hardware it is the polite spin.
		 */
		else if (busy && !vmiop_ring_ready(ring))
			__builtin_ia32_pause();
		while ((ev = vmiop_ring_peek(ring))) {
			calls++;
			if (vmiop_event_reply(v, ev, &r)) {
				fprintf(stderr, "bench: reply failed\n");
				exit(1);
			}
			vmiop_ring_advance(ring, 1);
			total++;
		}
	}
	return calls;
}

/*
 * nr vCPUs each run n_ops CPUIDs, every one an event answered @action.
 * A busy-polling consumer gets a CPU of its own (as it would in production:
 * sharing one with the vCPUs it waits for only burns their time slices);
 * with a single CPU the ioctl one yields instead, and the loop is left
 * blocking.
 */
static double ns_per_event(struct tvm *tvm, struct vmiop *v, struct vmiop_ring *ring,
			   unsigned int nr, enum consumer how, void (*fn)(uint64_t n),
			   uint32_t action, struct per_event *cost)
{
	static const vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES] = {
		[VMIOP_EVENT_CPUID] = bench_handler,
		[VMIOP_EVENT_MEM] = bench_handler,
	};
	uint64_t want = n_ops * nr, calls;
	long csw_self = csw(RUSAGE_SELF), csw_me = csw(RUSAGE_THREAD);
	bool busy = how == IOCTL_POLL || how == LOOP_POLL || how == LOOP_SPIN;
	bool own_cpu = busy && sysconf(_SC_NPROCESSORS_ONLN) >= 2;
	unsigned int i;
	double t0;

	t0 = now_ns();
	if (own_cpu)
		pin_to(0);	/* the vCPU threads inherit it */
	for (i = 0; i < nr; i++) {
		tvm_vcpu_entry(tvm_vcpu(tvm, i), fn, n_ops);
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), NULL, NULL);
	}
	if (own_cpu)
		pin_to(1);
	if (how == IOCTL_WAIT || how == IOCTL_POLL) {
		calls = ioctl_consumer(v, ring, want, busy, own_cpu, action);
	} else {
		struct loop_count c = { .left = want, .action = action };
		unsigned long before = ring->nr_syscalls;
		int ret;

		ret = vmiop_event_loop(v, ring, handlers, &c, !own_cpu ? 0 :
				       how == LOOP_POLL ? VMIOP_LOOP_POLL :
				       how == LOOP_SPIN ? VMIOP_LOOP_SPIN : 0, 60000);
		if (ret != 1) {
			fprintf(stderr, "bench: the event loop ended with %d\n", ret);
			exit(1);
		}
		calls = ring->nr_syscalls - before;
	}
	for (i = 0; i < nr; i++)
		if (tvm_vcpu_thread_join(tvm_vcpu(tvm, i)) != TVM_THREAD_DONE)
			exit(1);
	if (own_cpu)
		unpin();
	if (cost) {
		long me = csw(RUSAGE_THREAD) - csw_me;

		cost->syscalls = (double)calls / want;
		cost->csw_consumer = (double)me / want;
		cost->csw_vcpus = (double)(csw(RUSAGE_SELF) - csw_self - me) / want;
	}
	return (now_ns() - t0) / want;
}

static void print_cost(const char *how, const struct per_event *c)
{
	printf("bench: (g) per event, %s: consumer %.2f syscalls, %.2f context switches; "
	       "vCPU side %.2f context switches\n", how, c->syscalls, c->csw_consumer,
	       c->csw_vcpus);
}

int main(void)
{
	double io, ev_wait, ev_busy, loop_wait, loop_busy, loop_spin, plain, filtered;
	double ev4_busy, ev4_wait;
	double wr, wr_emul, wr_step, pt_ev, pt_ve;
	struct per_event cost_wait, cost_busy, cost_loop_wait, cost_loop_busy, cost_loop_spin;
	struct agent_vm agent;
	uint64_t pt_gfn;
	struct vmiop_ring *ring;
	struct tvm *tvm;
	struct vmiop *v;
	const char *env = getenv("BENCH_N");

	if (env)
		n_ops = strtoull(env, NULL, 0);
	tvm = tvm_create(4, 0);
	*TVM_GUEST_VAR(tvm, bench_page) = tvm_alloc_gpa(tvm, 4096, 4096);
	/* (f): a 4K mapping of the guest's own; its table is what is written. */
	tvm_map(tvm, 1ULL << 30, 0x12345000ULL, TVM_PAGE_4K, TVM_PTE_W);
	*TVM_GUEST_VAR(tvm, bench_pte) = tvm_hva2gpa(tvm, tvm_pte(tvm, 1ULL << 30, TVM_PAGE_4K));
	pt_gfn = *TVM_GUEST_VAR(tvm, bench_pte) / 4096;

	io = ns_per_io_exit(tvm);
	wr = ns_per_op(tvm, guest_writes);
	filtered_vs_unattached(tvm, &plain, &filtered);

	v = vt_attach(tvm);
	if (vmiop_ring_setup(v, 64, &ring))
		return 1;
	if (vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0))
		return 1;
	ev_wait = ns_per_event(tvm, v, ring, 1, IOCTL_WAIT, guest_cpuids, VMIOP_ACTION_CONTINUE,
			       &cost_wait);
	ev_busy = ns_per_event(tvm, v, ring, 1, IOCTL_POLL, guest_cpuids, VMIOP_ACTION_CONTINUE,
			       &cost_busy);
	loop_wait = ns_per_event(tvm, v, ring, 1, LOOP_WAIT, guest_cpuids, VMIOP_ACTION_CONTINUE,
				 &cost_loop_wait);
	loop_busy = ns_per_event(tvm, v, ring, 1, LOOP_POLL, guest_cpuids, VMIOP_ACTION_CONTINUE,
				 &cost_loop_busy);
	loop_spin = ns_per_event(tvm, v, ring, 1, LOOP_SPIN, guest_cpuids, VMIOP_ACTION_CONTINUE,
				 &cost_loop_spin);
	ev4_busy = ns_per_event(tvm, v, ring, 4, LOOP_POLL, guest_cpuids, VMIOP_ACTION_CONTINUE,
				NULL);
	ev4_wait = ns_per_event(tvm, v, ring, 4, LOOP_WAIT, guest_cpuids, VMIOP_ACTION_CONTINUE,
				NULL);
	if (vmiop_event_enable(v, VMIOP_EVENT_MEM, -1, NULL, 0) ||
	    vmiop_set_mem_access(v, *TVM_GUEST_VAR(tvm, bench_page) / 4096, 1,
				 VMIOP_ACCESS_R | VMIOP_ACCESS_X))
		return 1;
	wr_emul = ns_per_event(tvm, v, ring, 1, LOOP_WAIT, guest_writes, VMIOP_ACTION_EMULATE, NULL);
	wr_step = ns_per_event(tvm, v, ring, 1, LOOP_WAIT, guest_writes, VMIOP_ACTION_CONTINUE,
			       NULL);
	if (vmiop_set_mem_access(v, pt_gfn, 1, VMIOP_ACCESS_R | VMIOP_ACCESS_X))
		return 1;
	pt_ev = ns_per_event(tvm, v, ring, 1, LOOP_WAIT, guest_pte_toggles, VMIOP_ACTION_EMULATE,
			     NULL);
	agent = (struct agent_vm){ .tvm = tvm, .v = v, .ring = ring };
	agent_name_vcpus(tvm, 4);
	agent_install(&agent, 4);
	if (vmiop_set_mem_access(v, pt_gfn, 1, VMIOP_ACCESS_R | VMIOP_ACCESS_X | VMIOP_ACCESS_VE))
		return 1;
	pt_ve = ns_per_op(tvm, guest_pte_toggles);
	if (agent_info(&agent, 0)->ve_ignored_irrelevant != n_ops || vmiop_ring_ready(ring)) {
		fprintf(stderr, "bench: the agent did not absorb every write\n");
		return 1;
	}
	vmiop_close(v);
	tvm_destroy(tvm);

	printf("bench: %llu operations per figure\n", (unsigned long long)n_ops);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		printf("bench: one CPU: the spinning and polling consumers were measured blocking\n");
	printf("bench: (a) KVM_EXIT_IO round trip to userspace      %9.1f us\n", io / 1e3);
	printf("bench: (a) CPUID event, blocking, event loop        %9.1f us  = %.2f x KVM_EXIT_IO\n",
	       loop_wait / 1e3, loop_wait / io);
	printf("bench: (a)   the same, wait + VMIOP_EVENT_REPLY      %9.1f us  = %.2f x KVM_EXIT_IO\n",
	       ev_wait / 1e3, ev_wait / io);
	printf("bench: (a)   the same, spinning %d us before a sleep %9.1f us  = %.2f x KVM_EXIT_IO\n",
	       VMIOP_LOOP_SPIN_US, loop_spin / 1e3, loop_spin / io);
	printf("bench: (b) CPUID event, polling, event loop         %9.1f us  = %.2f x KVM_EXIT_IO\n",
	       loop_busy / 1e3, loop_busy / io);
	printf("bench: (b)   the same, spin + VMIOP_EVENT_REPLY      %9.1f us  = %.2f x KVM_EXIT_IO\n",
	       ev_busy / 1e3, ev_busy / io);
	printf("bench: (c) CPUID, vmiop not attached                %9.1f us\n", plain / 1e3);
	printf("bench: (c) CPUID, event filtered out in the kernel  %9.1f us  = %.2f x unattached\n",
	       filtered / 1e3, filtered / plain);
	printf("bench: (d) events/s, polling: 1 vCPU %.0f, 4 vCPUs %.0f (= %.2f x)\n",
	       1e9 / loop_busy, 1e9 / ev4_busy, loop_busy / ev4_busy);
	printf("bench: (d) events/s, blocking: 1 vCPU %.0f, 4 vCPUs %.0f (= %.2f x)\n",
	       1e9 / loop_wait, 1e9 / ev4_wait, loop_wait / ev4_wait);
	printf("bench: (e) write, page unprotected                  %9.3f us\n", wr / 1e3);
	printf("bench: (e) write to a write-protected page, emulate %9.1f us  = %.2f x KVM_EXIT_IO, %.0f x unprotected\n",
	       wr_emul / 1e3, wr_emul / io, wr_emul / wr);
	printf("bench: (e) the same, continue (step over)           %9.1f us  = %.2f x KVM_EXIT_IO, %.0f x unprotected\n",
	       wr_step / 1e3, wr_step / io, wr_step / wr);
	printf("bench: (f) page-table write as a MEM event, emulate %9.1f us  = %.2f x KVM_EXIT_IO\n",
	       pt_ev / 1e3, pt_ev / io);
	printf("bench: (f) the same absorbed by the #VE agent       %9.1f us  = %.2f x KVM_EXIT_IO, %.2f x the event\n",
	       pt_ve / 1e3, pt_ve / io, pt_ve / pt_ev);
	print_cost("blocking, event loop", &cost_loop_wait);
	print_cost("blocking, ioctl     ", &cost_wait);
	print_cost("spin, then block    ", &cost_loop_spin);
	print_cost("polling, event loop ", &cost_loop_busy);
	print_cost("polling, ioctl      ", &cost_busy);
	return 0;
}
