/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the vmiop VM tests. */
#ifndef VMIOP_TEST_H
#define VMIOP_TEST_H

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libvmiop.h>
#include "guest.h"
#include "vmtest.h"

/* Two strings are equal; both are shown when they are not. */
#define __VT_STREQ(a, b, fatal) do {						\
	const char *__a = (a), *__b = (b);					\
	if (strcmp(__a, __b)) {							\
		vmtest_diag("%s:%d: \"%s\" is not \"%s\"", __FILE__, __LINE__,	\
			    __a, __b);						\
		if (fatal)							\
			vmtest_fail_now();					\
		vmtest_mark_failed();						\
	}									\
} while (0)
#define EXPECT_STREQ(a, b) __VT_STREQ(a, b, false)
#define ASSERT_STREQ(a, b) __VT_STREQ(a, b, true)

/* Opens /dev/vmiop and attaches to @tvm's VM by its fd. */
static inline struct vmiop *vt_attach(struct tvm *tvm)
{
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_fd(v, tvm_vm_fd(tvm)), 0);
	return v;
}

/*
 * Runs @child(@arg) in a child process whose stdout and stderr go into
 * @out (@size bytes with the NUL); @child does not return.  The child's
 * wait status.  Nothing the child leaves running holds the pipe open.
 */
static inline int vt_capture(char *out, size_t size, void (*child)(void *arg), void *arg)
{
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	ASSERT_EQ(pipe(pipefd), 0);
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		child(arg);
		_exit(127);
	}
	close(pipefd[1]);
	while (got < size - 1 && (n = read(pipefd[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

static inline void vt_msleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Waits until @cond holds.  The limit only turns a hang into a failure; it
 * is far above anything the emulated machine needs.
 */
#define VT_WAIT_UNTIL(cond) do {						\
	int __ms;								\
	for (__ms = 0; !(cond); __ms++) {					\
		if (__ms > 120000) {						\
			vmtest_diag("timed out waiting for %s", #cond);		\
			vmtest_fail_now();					\
		}								\
		vt_msleep(1);							\
	}									\
} while (0)

/* Guest: counts forever in counters[idx] (volatile: the host watches). */
extern volatile uint64_t vt_counters[TVM_MAX_VCPUS];

static inline void vt_guest_count(uint64_t idx)
{
	for (;;)
		vt_counters[idx]++;
}

static inline uint64_t vt_counter(struct tvm *tvm, unsigned int idx)
{
	return (*TVM_GUEST_VAR(tvm, vt_counters))[idx];
}

/* Starts vCPUs 0..nr-1 counting, each in its own thread, and waits for it. */
static inline void vt_start_counting(struct tvm *tvm, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		tvm_vcpu_entry(tvm_vcpu(tvm, i), vt_guest_count, i);
		tvm_vcpu_thread_start(tvm_vcpu(tvm, i), NULL, NULL);
	}
	for (i = 0; i < nr; i++)
		VT_WAIT_UNTIL(vt_counter(tvm, i) > 0);
}

/* Stops the threads of vCPUs 0..nr-1, asserting they were still running. */
static inline void vt_stop_threads(struct tvm *tvm, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		ASSERT_EQ(tvm_vcpu_thread_stop(tvm_vcpu(tvm, i)), TVM_THREAD_STOPPED);
}

/*
 * True when this (L1) kernel runs under QEMU's TCG, for the few tests whose
 * guest instructions the emulator mishandles (selftests/vm/README.md).
 */
static inline bool vt_under_qemu_tcg(void)
{
	uint32_t a, b, c, d;
	char sig[13];

	__asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 31)))
		return false;
	__asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
			     : "a"(0x40000000), "c"(0));
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	sig[12] = '\0';
	return !strcmp(sig, "TCGTCGTCGTCG");
}

/* The host (L1) CPU is Intel's: VMX. */
static inline bool vt_host_is_intel(struct vmiop *v)
{
	struct vmiop_api api;

	return !vmiop_get_api(v, &api) && api.host_vendor == VMIOP_VENDOR_INTEL;
}

/* A ring of @nr entries on @v's session, or NULL. */
static inline struct vmiop_ring *vt_ring_setup(struct vmiop *v, unsigned int nr)
{
	struct vmiop_ring *ring = NULL;

	if (vmiop_ring_setup(v, nr, &ring) || !ring)
		return NULL;
	return ring;
}

/* Thread @tid of this process sleeps in the kernel function @fn (its wchan). */
static inline bool vt_thread_sleeps_in(pid_t tid, const char *fn)
{
	char path[64], buf[128] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/wchan", tid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 && !strcmp(buf, fn);
}

/* Waits for the next event (with a generous timeout) and returns it. */
static inline struct vmiop_event *vt_next_event(struct vmiop *v, struct vmiop_ring *ring)
{
	int i;

	for (i = 0; i < 120 && !vmiop_ring_ready(ring); i++)
		vmiop_event_wait(v, 1000);
	return vmiop_ring_peek(ring);
}

/*
 * An introspector in a child process: attached to this process's VM by
 * pid, with @type events enabled, waiting for one.  For the tests where it
 * dies mid-event.
 */
struct vt_introspector {
	pid_t pid;
	int ready;	/* reads 'a' once attached, 'e' once it holds an event */
};

/*
 * As vt_fork_introspector(), with @setup (non-zero: failed) run on the
 * child's session after @type is enabled, before it says 'a'.
 */
static inline struct vt_introspector
vt_fork_introspector_setup(unsigned int type, int (*setup)(struct vmiop *v, void *arg), void *arg)
{
	struct vt_introspector in;
	int fds[2];
	char c;

	ASSERT_EQ(pipe(fds), 0);
	in.pid = fork();
	ASSERT_GE(in.pid, 0);
	if (in.pid == 0) {
		struct vmiop_ring *ring;
		struct vmiop *v;

		if (vmiop_open(&v) || vmiop_attach_pid(v, getppid()) ||
		    vmiop_ring_setup(v, 4, &ring) || vmiop_event_enable(v, type, -1, NULL, 0) ||
		    (setup && setup(v, arg)))
			_exit(1);
		if (write(fds[1], "a", 1) != 1)
			_exit(1);
		while (vmiop_event_wait(v, -1) <= 0)
			;
		if (write(fds[1], "e", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	in.ready = fds[0];
	close(fds[1]);
	ASSERT_EQ(read(in.ready, &c, 1), 1);
	ASSERT_EQ(c, 'a');
	return in;
}

static inline struct vt_introspector vt_fork_introspector(unsigned int type)
{
	return vt_fork_introspector_setup(type, NULL, NULL);
}

/* Waits until the introspector holds an event. */
static inline void vt_introspector_wait_event(struct vt_introspector *in)
{
	char c;

	ASSERT_EQ(read(in->ready, &c, 1), 1);
	ASSERT_EQ(c, 'e');
}

static inline void vt_introspector_kill(struct vt_introspector *in)
{
	int status;

	ASSERT_EQ(kill(in->pid, SIGKILL), 0);
	ASSERT_EQ(waitpid(in->pid, &status, 0), in->pid);
	close(in->ready);
}

#define VT_DEFINE_COUNTERS volatile uint64_t vt_counters[TVM_MAX_VCPUS]

#endif
