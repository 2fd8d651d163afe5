// SPDX-License-Identifier: GPL-2.0
/*
 * The packages as a user gets them, in the test VM (make vmtest-packaged):
 * vmiop.ko as vmiop-dkms's DKMS built it when the packages were installed,
 * and /usr/bin/vmiop as the vmiop package installed it, linked against
 * libvmiop0's libvmiop.so.0, with the libraries it needs.  One session
 * with the installed tool against a guest of this test's own.
 */
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define INSTALLED "/usr/bin/vmiop"

static void exec_installed(void *argv)
{
	execv(INSTALLED, argv);
}

/* Runs the installed tool; its exit status, and its stdout+stderr in @out. */
static int run(char *out, size_t size, const char *const *args)
{
	char *argv[16];
	int status, argc = 0;

	argv[argc++] = INSTALLED;
	while (*args && argc < 15)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	status = vt_capture(out, size, exec_installed, argv);
	ASSERT_TRUE(WIFEXITED(status));
	vmtest_diag("%s %s: exit %d\n%s", INSTALLED, argc > 1 ? argv[1] : "", WEXITSTATUS(status),
		    out);
	return WEXITSTATUS(status);
}

#define RUN(out, ...) run(out, sizeof(out), (const char *const[]){ __VA_ARGS__, NULL })

TEST(installed_module_and_tool_introspect_a_guest)
{
	struct tvm *tvm = tvm_create(2, 0);
	char out[16384], pid[16], want[64];
	FILE *f;

	if (access(INSTALLED, X_OK))
		SKIP("no %s: this test runs with the packages (make vmtest-packaged)", INSTALLED);
	/* The module is the packaged one, of the tree's version. */
	ASSERT_TRUE((f = fopen("/sys/module/vmiop/version", "r")) != NULL);
	ASSERT_TRUE(fgets(want, sizeof(want), f) != NULL);
	fclose(f);
	EXPECT_STREQ(want, VMIOP_VERSION "\n");

	ASSERT_EQ(RUN(out, "--version"), 0);
	EXPECT_STREQ(out, "vmiop " VMIOP_VERSION "\n");

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	ASSERT_EQ(RUN(out, "list"), 0);
	snprintf(want, sizeof(want), " %s ", pid);
	EXPECT_TRUE(strstr(out, want) != NULL);

	vt_start_counting(tvm, 2);
	ASSERT_EQ(RUN(out, "-p", pid, "info"), 0);
	EXPECT_TRUE(strstr(out, "vcpus       2\n") != NULL);
	ASSERT_EQ(RUN(out, "-p", pid, "regs", "1"), 0);
	EXPECT_TRUE(strstr(out, "rip") != NULL);
	ASSERT_EQ(RUN(out, "-p", pid, "memmap"), 0);
	/* Detached, the guest runs on. */
	{
		uint64_t before = vt_counter(tvm, 0);

		VT_WAIT_UNTIL(vt_counter(tvm, 0) != before);
	}
	vt_stop_threads(tvm, 2);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
