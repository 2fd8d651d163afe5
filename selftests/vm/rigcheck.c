// SPDX-License-Identifier: GPL-2.0
/*
 * rigcheck.c - negative checks for the harness and the QEMU rig.  Built once
 * per mode (make -C selftests/vm rigcheck); every binary but rigcheck-skip
 * must make selftests/vm/run.sh FAIL:
 *
 *   rigcheck-fail   pass, ASSERT failure, EXPECT failure, SKIP, segfault,
 *                   per-test timeout, ASSERT_ERRNO mismatch  -> exit 1
 *   rigcheck-panic  crashes the kernel (sysrq c)           -> no token
 *   rigcheck-hang   never exits                            -> host timeout
 *   rigcheck-dmesg  passes, but logs a fake "BUG:" line     -> dmesg scan
 *   rigcheck-skip   every test skips                       -> exit 4, passes
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmtest.h"

#if defined(RIGCHECK_fail)

TEST(passes) { ASSERT_EQ(1 + 1, 2); }

TEST(assert_fails) { int x = 3; ASSERT_EQ(x, 4); }

TEST(expect_fails_but_continues)
{
	EXPECT_EQ(1, 2);
	vmtest_diag("still running after a failed EXPECT");
}

TEST(skips) { SKIP("not applicable here (%d)", 42); }

TEST(segfaults) { raise(SIGSEGV); }

TEST_TIMEOUT(times_out, 2) { for (;;) pause(); }

TEST(errno_mismatch) { ASSERT_ERRNO(-EINVAL, ENOENT); }

TEST(errno_match) { ASSERT_ERRNO(-ENOENT, ENOENT); }

VMTEST_MAIN()

#elif defined(RIGCHECK_skip)

TEST(skip_one) { SKIP("nothing to do"); }
TEST(skip_two) { SKIP("still nothing"); }

VMTEST_MAIN()

#elif defined(RIGCHECK_panic)

TEST(crash_kernel)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	ASSERT_GE(fd, 0);
	sync();
	ASSERT_EQ(write(fd, "c", 1), 1);
	FAIL("still alive after sysrq-c");
}

VMTEST_MAIN()

#elif defined(RIGCHECK_hang)

int main(void)
{
	printf("TAP version 13\n1..1\n# hanging forever\n");
	fflush(stdout);
	for (;;)
		pause();
}

#elif defined(RIGCHECK_dmesg)

TEST(fake_kernel_bug)
{
	static const char msg[] = "<4>BUG: rigcheck fake kernel bug line\n";
	int fd = open("/dev/kmsg", O_WRONLY);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	close(fd);
}

VMTEST_MAIN()

#else
#error "build with -DRIGCHECK_<mode>"
#endif
