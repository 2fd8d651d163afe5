/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmtest.h - a tiny header-only TAP test harness for vmiop selftests.
 *
 *	#include "vmtest.h"
 *
 *	TEST(open_close) { int fd = open(...); ASSERT_GE(fd, 0); close(fd); }
 *	TEST_TIMEOUT(slow_one, 600) { ... }
 *
 *	VMTEST_MAIN()
 *
 * Every test runs in its own forked child (in its own process group), so a
 * crash or a failed ASSERT ends only that test; the parent kills the child
 * when its timeout (default VMTEST_DEFAULT_TIMEOUT seconds) expires.
 *
 * Output is TAP 13: "ok N name", "not ok N name", "ok N name # SKIP why";
 * diagnostics are "# ..." lines.  The exit code follows kselftest: 0 when
 * everything passed (skips allowed), 1 on any failure, 4 when every test was
 * skipped.
 *
 * Usage: ./test [--list] [TESTNAME...]
 *
 * Child exit-code protocol (also used by selftests/lib/guest.c, which knows
 * nothing else about this header): 0 pass, 1 fail, 4 skip.  A library can
 * provide a skip reason by calling vmtest_skip_hook() through a weak
 * reference.
 */
#ifndef VMTEST_H
#define VMTEST_H

#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#error "vmtest.h needs POSIX and MAP_ANONYMOUS: build with -std=gnu11 or -D_GNU_SOURCE"
#endif

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define VMTEST_DEFAULT_TIMEOUT	120	/* seconds */
#define VMTEST_EXIT_PASS	0
#define VMTEST_EXIT_FAIL	1
#define VMTEST_EXIT_SKIP	4	/* == KSFT_SKIP */

struct vmtest {
	const char *name;
	const char *file;
	int line;
	unsigned int timeout;
	void (*fn)(void);
	struct vmtest *next;
};

/* Shared (MAP_SHARED) between the parent and one test child. */
struct vmtest_shared {
	int failed;		/* an EXPECT_* failed */
	int skipped;
	char reason[256];	/* SKIP reason */
};

/*
 * Weak definitions so that several translation units of one test program
 * can include this header and still share one registry.
 */
__attribute__((weak)) struct vmtest *vmtest_list;
__attribute__((weak)) struct vmtest_shared *vmtest_shm;

static inline void vmtest_register(struct vmtest *t)
{
	t->next = vmtest_list;
	vmtest_list = t;
}

#define __VMTEST_DEFINE(_name, _timeout)					\
	static void vmtest_fn_##_name(void);					\
	static struct vmtest vmtest_desc_##_name = {				\
		.name = #_name, .file = __FILE__, .line = __LINE__,		\
		.timeout = (_timeout), .fn = vmtest_fn_##_name,			\
	};									\
	__attribute__((constructor)) static void vmtest_reg_##_name(void)	\
	{									\
		vmtest_register(&vmtest_desc_##_name);				\
	}									\
	static void vmtest_fn_##_name(void)

#define TEST(name)			__VMTEST_DEFINE(name, VMTEST_DEFAULT_TIMEOUT)
#define TEST_TIMEOUT(name, secs)	__VMTEST_DEFINE(name, (secs))

/* ---- reporting helpers (usable from any thread of the test child) ---- */

static inline void vmtest_diag(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static inline void vmtest_diag(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# %s\n", buf);
	fflush(stdout);
}

/* End the current test (the whole child process) as failed. */
static inline __attribute__((noreturn)) void vmtest_fail_now(void)
{
	fflush(stdout);
	fflush(stderr);
	_exit(VMTEST_EXIT_FAIL);
}

/*
 * End the current test as skipped.  Called through a weak reference by
 * selftests/lib/guest.c, hence not static.
 */
__attribute__((weak, noreturn)) void vmtest_skip_hook(const char *reason)
{
	if (vmtest_shm) {
		vmtest_shm->skipped = 1;
		snprintf(vmtest_shm->reason, sizeof(vmtest_shm->reason), "%s",
			 reason);
	}
	fflush(stdout);
	fflush(stderr);
	_exit(VMTEST_EXIT_SKIP);
}

#define SKIP(...)								\
	do {									\
		char __vt_r[256];						\
		snprintf(__vt_r, sizeof(__vt_r), __VA_ARGS__);			\
		vmtest_skip_hook(__vt_r);					\
	} while (0)

static inline void vmtest_mark_failed(void)
{
	if (vmtest_shm)
		__atomic_store_n(&vmtest_shm->failed, 1, __ATOMIC_SEQ_CST);
}

/*
 * Comparisons keep the operands' own types (C conversion rules apply, as in
 * a plain comparison); -Wsign-compare is silenced so that ASSERT_EQ(len, 0)
 * with a size_t does not break -Werror builds.
 */
#define __VMTEST_CMP(_a, _op, _b, _fatal, _opname, _sa, _sb)				\
	do {									\
		__typeof__(_a) __vt_a = (_a);					\
		__typeof__(_b) __vt_b = (_b);					\
		_Pragma("GCC diagnostic push")					\
		_Pragma("GCC diagnostic ignored \"-Wsign-compare\"")		\
		bool __vt_ok = (__vt_a _op __vt_b);				\
		_Pragma("GCC diagnostic pop")					\
		if (!__vt_ok) {							\
			vmtest_diag("%s:%d: %s(%s, %s) failed", __FILE__,	\
				    __LINE__, _opname, _sa, _sb);		\
			vmtest_diag("    %s = 0x%llx (%lld)", _sa,		\
				    (unsigned long long)__vt_a,			\
				    (long long)__vt_a);				\
			vmtest_diag("    %s = 0x%llx (%lld)", _sb,		\
				    (unsigned long long)__vt_b,			\
				    (long long)__vt_b);				\
			if (_fatal)						\
				vmtest_fail_now();				\
			vmtest_mark_failed();					\
		}								\
	} while (0)

#define __VMTEST_BOOL(_c, _want, _fatal, _opname, _sc)				\
	do {									\
		if ((!!(_c)) != (_want)) {					\
			vmtest_diag("%s:%d: %s(%s) failed", __FILE__,		\
				    __LINE__, _opname, _sc);			\
			if (_fatal)						\
				vmtest_fail_now();				\
			vmtest_mark_failed();					\
		}								\
	} while (0)

/* For calls that return -errno: passes iff (expr) == -E. */
#define __VMTEST_ERRNO(_expr, _e, _fatal, _opname, _sx, _se)				\
	do {									\
		long long __vt_r = (long long)(_expr);				\
		long long __vt_e = (long long)(_e);				\
		if (__vt_r != -__vt_e) {					\
			vmtest_diag("%s:%d: %s(%s, %s) failed", __FILE__,	\
				    __LINE__, _opname, _sx, _se);		\
			vmtest_diag("    got %lld (%s), want -%lld (%s)",	\
				    __vt_r, __vt_r < 0 && __vt_r > -4096 ?	\
					strerror((int)-__vt_r) : "not -errno",	\
				    __vt_e, strerror((int)__vt_e));		\
			if (_fatal)						\
				vmtest_fail_now();				\
			vmtest_mark_failed();					\
		}								\
	} while (0)

#define ASSERT_EQ(a, b)		__VMTEST_CMP(a, ==, b, 1, "ASSERT_EQ", #a, #b)
#define ASSERT_NE(a, b)		__VMTEST_CMP(a, !=, b, 1, "ASSERT_NE", #a, #b)
#define ASSERT_LT(a, b)		__VMTEST_CMP(a, <,  b, 1, "ASSERT_LT", #a, #b)
#define ASSERT_LE(a, b)		__VMTEST_CMP(a, <=, b, 1, "ASSERT_LE", #a, #b)
#define ASSERT_GT(a, b)		__VMTEST_CMP(a, >,  b, 1, "ASSERT_GT", #a, #b)
#define ASSERT_GE(a, b)		__VMTEST_CMP(a, >=, b, 1, "ASSERT_GE", #a, #b)
#define ASSERT_TRUE(c)		__VMTEST_BOOL(c, 1, 1, "ASSERT_TRUE", #c)
#define ASSERT_FALSE(c)		__VMTEST_BOOL(c, 0, 1, "ASSERT_FALSE", #c)
#define ASSERT_ERRNO(expr, e)	__VMTEST_ERRNO(expr, e, 1, "ASSERT_ERRNO", #expr, #e)

#define EXPECT_EQ(a, b)		__VMTEST_CMP(a, ==, b, 0, "EXPECT_EQ", #a, #b)
#define EXPECT_NE(a, b)		__VMTEST_CMP(a, !=, b, 0, "EXPECT_NE", #a, #b)
#define EXPECT_LT(a, b)		__VMTEST_CMP(a, <,  b, 0, "EXPECT_LT", #a, #b)
#define EXPECT_LE(a, b)		__VMTEST_CMP(a, <=, b, 0, "EXPECT_LE", #a, #b)
#define EXPECT_GT(a, b)		__VMTEST_CMP(a, >,  b, 0, "EXPECT_GT", #a, #b)
#define EXPECT_GE(a, b)		__VMTEST_CMP(a, >=, b, 0, "EXPECT_GE", #a, #b)
#define EXPECT_TRUE(c)		__VMTEST_BOOL(c, 1, 0, "EXPECT_TRUE", #c)
#define EXPECT_FALSE(c)		__VMTEST_BOOL(c, 0, 0, "EXPECT_FALSE", #c)
#define EXPECT_ERRNO(expr, e)	__VMTEST_ERRNO(expr, e, 0, "EXPECT_ERRNO", #expr, #e)

/* Unconditional failure with a message. */
#define FAIL(...)								\
	do {									\
		char __vt_m[512];						\
		snprintf(__vt_m, sizeof(__vt_m), __VA_ARGS__);			\
		vmtest_diag("%s:%d: FAIL: %s", __FILE__, __LINE__, __vt_m);	\
		vmtest_fail_now();						\
	} while (0)

/* ---- runner ---- */

enum vmtest_result { VMTEST_PASS, VMTEST_FAIL, VMTEST_SKIPPED };

static inline int vmtest_cmp(const void *pa, const void *pb)
{
	const struct vmtest *a = *(const struct vmtest * const *)pa;
	const struct vmtest *b = *(const struct vmtest * const *)pb;
	int r = strcmp(a->file, b->file);

	return r ? r : a->line - b->line;
}

/* Runs one test in a forked child; returns its result, fills reason. */
static inline enum vmtest_result vmtest_run_one(struct vmtest *t,
						char *reason, size_t rlen)
{
	struct vmtest_shared *shm;
	struct timespec deadline, now, ts;
	sigset_t chld, old;
	int status = 0;
	pid_t pid, r;

	reason[0] = '\0';
	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		snprintf(reason, rlen, "mmap: %s", strerror(errno));
		return VMTEST_FAIL;
	}
	memset(shm, 0, sizeof(*shm));

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	fflush(stdout);
	fflush(stderr);

	pid = fork();
	if (pid < 0) {
		snprintf(reason, rlen, "fork: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		munmap(shm, sizeof(*shm));
		return VMTEST_FAIL;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		setpgid(0, 0);
		vmtest_shm = shm;
		t->fn();
		fflush(stdout);
		fflush(stderr);
		_exit(shm->failed ? VMTEST_EXIT_FAIL : VMTEST_EXIT_PASS);
	}
	setpgid(pid, pid);	/* either this or the child's call wins */

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += t->timeout;
	for (;;) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline.tv_sec ||
		    (now.tv_sec == deadline.tv_sec &&
		     now.tv_nsec >= deadline.tv_nsec)) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(reason, rlen, "timed out after %u s",
				 t->timeout);
			status = -1;
			break;
		}
		ts.tv_sec = deadline.tv_sec - now.tv_sec;
		ts.tv_nsec = deadline.tv_nsec - now.tv_nsec;
		if (ts.tv_nsec < 0) {
			ts.tv_sec--;
			ts.tv_nsec += 1000000000L;
		}
		if (ts.tv_sec > 1) {	/* re-check at least every second */
			ts.tv_sec = 1;
			ts.tv_nsec = 0;
		}
		sigtimedwait(&chld, NULL, &ts);
	}
	/* Reap anything the test left in its process group. */
	kill(-pid, SIGKILL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	enum vmtest_result res = VMTEST_FAIL;

	if (status == -1) {
		/* timeout, reason set */
	} else if (WIFSIGNALED(status)) {
		snprintf(reason, rlen, "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	} else if (WIFEXITED(status)) {
		switch (WEXITSTATUS(status)) {
		case VMTEST_EXIT_PASS:
			res = shm->failed ? VMTEST_FAIL : VMTEST_PASS;
			break;
		case VMTEST_EXIT_SKIP:
			res = VMTEST_SKIPPED;
			snprintf(reason, rlen, "%s",
				 shm->reason[0] ? shm->reason : "skipped");
			break;
		case VMTEST_EXIT_FAIL:
			break;
		default:
			snprintf(reason, rlen, "exited with status %d",
				 WEXITSTATUS(status));
		}
	}
	munmap(shm, sizeof(*shm));
	return res;
}

static inline int vmtest_main(int argc, char **argv)
{
	struct vmtest **tests, *t;
	size_t n = 0, i, nsel = 0;
	unsigned int pass = 0, fail = 0, skip = 0;
	bool list = false;
	int a;

	for (t = vmtest_list; t; t = t->next)
		n++;
	tests = calloc(n + 1, sizeof(*tests));
	if (!tests)
		return VMTEST_EXIT_FAIL;
	for (i = 0, t = vmtest_list; t; t = t->next)
		tests[i++] = t;
	qsort(tests, n, sizeof(*tests), vmtest_cmp);

	/* Select: all tests, or those named on the command line (in order). */
	struct vmtest **sel = calloc(n + (size_t)argc + 1, sizeof(*sel));

	if (!sel)
		return VMTEST_EXIT_FAIL;
	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--list") || !strcmp(argv[a], "-l")) {
			list = true;
			continue;
		}
		if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
			printf("usage: %s [--list] [TEST...]\n", argv[0]);
			return 0;
		}
		for (i = 0; i < n; i++)
			if (!strcmp(tests[i]->name, argv[a]))
				break;
		if (i == n) {
			fprintf(stderr, "%s: no test named '%s' (try --list)\n",
				argv[0], argv[a]);
			return VMTEST_EXIT_FAIL;
		}
		sel[nsel++] = tests[i];
	}
	/*
	 * VMTEST_ONLY=NAME[,NAME...] (run.sh passes it into the VM): only
	 * those of this program's tests; naming none of them is an error.
	 */
	if (!nsel && getenv("VMTEST_ONLY")) {
		const char *only = getenv("VMTEST_ONLY");

		for (i = 0; i < n; i++) {
			size_t len = strlen(tests[i]->name);
			const char *p;

			for (p = only; (p = strstr(p, tests[i]->name)); p += len)
				if ((p == only || p[-1] == ',') && (!p[len] || p[len] == ','))
					break;
			if (p)
				sel[nsel++] = tests[i];
		}
		if (!nsel) {
			fprintf(stderr, "%s: no test named in VMTEST_ONLY=%s (try --list)\n",
				argv[0], only);
			return VMTEST_EXIT_FAIL;
		}
	}
	if (!nsel) {
		memcpy(sel, tests, n * sizeof(*sel));
		nsel = n;
	}
	if (list) {
		for (i = 0; i < nsel; i++)
			printf("%s\n", sel[i]->name);
		return 0;
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%zu\n", nsel);
	for (i = 0; i < nsel; i++) {
		char reason[300];

		t = sel[i];
		switch (vmtest_run_one(t, reason, sizeof(reason))) {
		case VMTEST_PASS:
			pass++;
			printf("ok %zu %s\n", i + 1, t->name);
			break;
		case VMTEST_SKIPPED:
			skip++;
			printf("ok %zu %s # SKIP %s\n", i + 1, t->name, reason);
			break;
		default:
			fail++;
			if (reason[0])
				printf("# %s: %s\n", t->name, reason);
			printf("not ok %zu %s\n", i + 1, t->name);
		}
		fflush(stdout);
	}
	printf("# totals: pass:%u fail:%u skip:%u\n", pass, fail, skip);
	fflush(stdout);
	free(sel);
	free(tests);
	if (fail)
		return VMTEST_EXIT_FAIL;
	if (nsel && skip == nsel)
		return VMTEST_EXIT_SKIP;
	return VMTEST_EXIT_PASS;
}

#define VMTEST_MAIN()								\
	int main(int argc, char **argv)						\
	{									\
		return vmtest_main(argc, argv);					\
	}

/* Alternatively: #define VMTEST_WEAK_MAIN before including this header. */
#ifdef VMTEST_WEAK_MAIN
__attribute__((weak)) int main(int argc, char **argv)
{
	return vmtest_main(argc, argv);
}
#endif

#endif /* VMTEST_H */
