// SPDX-License-Identifier: GPL-2.0
/*
 * The vmiop command-line tool against a running guest.  tools/vmiop.c is
 * linked in with its main() renamed, and run in a child per command.
 */
#include <sys/wait.h>
#include "vmiop_test.h"
#include "vt_cli.h"

VT_DEFINE_COUNTERS;

static volatile uint64_t guest_word = 0x1122334455667788ULL;


TEST(cli_against_a_running_guest)
{
	struct tvm *tvm = tvm_create(2, 0);
	char out[16384], pid[16], gpa[32], gva[32], want[64];
	uint64_t word_gpa = (uint64_t)(uintptr_t)&guest_word, page;

	vt_start_counting(tvm, 1);
	page = tvm_alloc_gpa(tvm, 4096, 4096);
	tvm_map(tvm, 0x7f0000400000ULL, page, TVM_PAGE_4K, TVM_PTE_W);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());

	ASSERT_EQ(CLI(out, "-p", pid, "info"), 0);
	EXPECT_TRUE(strstr(out, "vcpus       2\n") != NULL);
	snprintf(want, sizeof(want), "vmm pid     %s\n", pid);
	EXPECT_TRUE(strstr(out, want) != NULL);

	ASSERT_EQ(CLI(out, "-p", pid, "memmap"), 0);
	snprintf(want, sizeof(want), "0000000000000000-%016llx ram\n",
		 (unsigned long long)tvm_mem_size(tvm) - 1);
	EXPECT_EQ(strcmp(out, want), 0);

	ASSERT_EQ(CLI(out, "-p", pid, "regs", "1"), 0);
	snprintf(want, sizeof(want), "cr3            0x%016llx",
		 (unsigned long long)tvm_pt_root(tvm));
	EXPECT_TRUE(strstr(out, want) != NULL);

	snprintf(gpa, sizeof(gpa), "%#llx", (unsigned long long)word_gpa);
	ASSERT_EQ(CLI(out, "-p", pid, "read", gpa, "8"), 0);
	EXPECT_TRUE(strstr(out, "88 77 66 55 44 33 22 11") != NULL);
	ASSERT_EQ(CLI(out, "-p", pid, "write", gpa, "efbeadde"), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_word), 0x11223344deadbeefULL);

	snprintf(gva, sizeof(gva), "%#llx", 0x7f0000400010ULL);
	ASSERT_EQ(CLI(out, "-p", pid, "translate", gva), 0);
	snprintf(want, sizeof(want), "0x7f0000400010 -> %#llx (4K page, writable",
		 (unsigned long long)page + 0x10);
	EXPECT_TRUE(strstr(out, want) != NULL);
	/* Still running after all of it. */
	uint64_t before = vt_counter(tvm, 0);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) != before);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

TEST(cli_errors_are_one_line)
{
	struct tvm *tvm = tvm_create(1, 0);
	char out[4096], pid[16];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	/* init has no VM */
	ASSERT_EQ(CLI(out, "-p", "1", "info"), 1);
	EXPECT_EQ(strcmp(out, "vmiop: pid 1 has no KVM VM\n"), 0);
	ASSERT_EQ(CLI(out, "-p", "4000000", "info"), 1);
	EXPECT_EQ(strcmp(out, "vmiop: attach to the VM of pid 4000000: No such process\n"), 0);
	ASSERT_EQ(CLI(out, "-p", pid, "read", "0x7ff0000000", "16"), 1);
	EXPECT_EQ(strcmp(out, "vmiop: read guest memory: No such device or address\n"), 0);
	ASSERT_EQ(CLI(out, "-p", pid, "regs", "5"), 1);
	EXPECT_EQ(strcmp(out, "vmiop: read the registers: No such file or directory\n"), 0);
	ASSERT_EQ(CLI(out, "-p", pid, "translate", "0xffff800000000000"), 1);
	EXPECT_EQ(strcmp(out, "vmiop: 0xffff800000000000: not present at level 4\n"), 0);
	ASSERT_EQ(CLI(out, "-p", pid, "read", "zz", "16"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: bad gpa: 'zz'\n"), 0);
	ASSERT_EQ(CLI(out, "-p", pid, "frobnicate"), 2);
	tvm_destroy(tvm);
}

/* No VM needed: help, version, and command lines it does not take. */
TEST(cli_help_version_and_usage_errors)
{
	char out[8192];

	ASSERT_EQ(CLI(out, "--help"), 0);
	EXPECT_EQ(strncmp(out, "usage: vmiop ", 13), 0);
	EXPECT_TRUE(strstr(out, "\n  pause-for SECONDS      pause the VM, wait, resume\n") != NULL);
	EXPECT_TRUE(strstr(out, "\n  monitor [COUNT]        ") != NULL);
	ASSERT_EQ(CLI(out, "--version"), 0);
	EXPECT_EQ(strncmp(out, "vmiop ", 6), 0);
	EXPECT_TRUE(strchr(out, '\n') == out + strlen(out) - 1);
	/* A command's own help, the options before or after it; nothing is opened. */
	ASSERT_EQ(CLI(out, "list", "-h"), 0);
	EXPECT_EQ(strcmp(out, "usage: vmiop list\n"
			      "  list                   ID NAME PID UID COMMAND VCPUS MEMORY VENDOR "
			      "SESSION\n"), 0);
	ASSERT_EQ(CLI(out, "-p", "1", "regs", "-h"), 0);
	EXPECT_EQ(strcmp(out, "usage: vmiop [-r] -p PID|-i ID|-n NAME regs [VCPU]\n"
			      "  regs [VCPU]            registers (the VM is paused meanwhile)\n"), 0);
	ASSERT_EQ(CLI(out, "-h", "events"), 0);
	EXPECT_TRUE(strstr(out, "usage: vmiop [-r] [-l] -p PID|-i ID|-n NAME events TYPES [COUNT]\n") ==
		    out);
	/* Errors: one line each, exit status 2. */
	ASSERT_EQ(CLI(out, "-p", "1", "regs", "1", "2"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: regs: wrong arguments; usage: vmiop [-r] -p PID|-i ID|-n NAME "
			      "regs [VCPU]\n"), 0);
	ASSERT_EQ(CLI(out, "frobnicate", "-h"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: unknown command 'frobnicate' (vmiop --help lists them)\n"), 0);
	ASSERT_EQ(CLI(out, "-x", "info"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: unknown option '-x' (vmiop --help lists them)\n"), 0);
	ASSERT_EQ(CLI(out, "--frob"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: unknown option '--frob' (vmiop --help lists them)\n"), 0);
	ASSERT_EQ(CLI(out, "list", "-p"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: -p needs an argument (PID)\n"), 0);
	ASSERT_EQ(CLI(out, "regs"), 2);
	EXPECT_EQ(strcmp(out, "vmiop: regs needs one VM: exactly one of -p PID, -i ID, -n NAME\n"), 0);
}

TEST(cli_read_only_session_reads_but_does_not_write)
{
	struct tvm *tvm = tvm_create(1, 0);
	char out[4096], pid[16], gpa[32];

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(gpa, sizeof(gpa), "%#llx", (unsigned long long)(uintptr_t)&guest_word);
	*TVM_GUEST_VAR(tvm, guest_word) = 0x1122334455667788ULL;
	ASSERT_EQ(CLI(out, "-r", "-p", pid, "read", gpa, "8"), 0);
	EXPECT_TRUE(strstr(out, "88 77 66 55 44 33 22 11") != NULL);
	ASSERT_EQ(CLI(out, "-r", "-p", pid, "write", gpa, "efbeadde"), 1);
	EXPECT_EQ(strcmp(out, "vmiop: write guest memory in a read-only session: "
			      "Bad file descriptor\n"), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_word), 0x1122334455667788ULL);
	tvm_destroy(tvm);
}

static void guest_cpuid_loop(uint64_t idx)
{
	for (;;) {
		uint32_t a, b, c, d;

		guest_cpuid(0x40000170, 0, &a, &b, &c, &d);
		vt_counters[idx]++;
	}
}

TEST(cli_logs_events_and_the_guest_runs_on)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop_event_caps caps;
	struct vmiop *v;
	char out[4096], pid[16];
	uint64_t before;
	char *line;
	int lines = 0;

	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cpuid_loop, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) > 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());

	ASSERT_EQ(CLI(out, "-p", pid, "events", "cpuid", "3"), 0);
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		EXPECT_TRUE(strstr(line, " cpuid rip 0x") != NULL);
		EXPECT_TRUE(strstr(line, "leaf 0x40000170 subleaf 0x0") != NULL);
		lines++;
	}
	EXPECT_EQ(lines, 3);
	before = vt_counter(tvm, 0);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) > before + 10);

	/* A type the host does not offer, if there is one (XSETBV on Bochs). */
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	vmiop_close(v);
	if (!(caps.supported & (1ULL << VMIOP_EVENT_XSETBV))) {
		ASSERT_EQ(CLI(out, "-p", pid, "events", "xsetbv"), 1);
		EXPECT_TRUE(strstr(out, "xsetbv events are not available here") != NULL);
	}
	ASSERT_EQ(CLI(out, "-p", pid, "events", "cpuid,bogus"), 2);
	EXPECT_TRUE(strstr(out, "unknown event type 'bogus'") != NULL);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

static void guest_cr3_read_loop(uint64_t idx)
{
	for (;;) {
		guest_read_cr3();
		vt_counters[idx]++;
	}
}

TEST(cli_logs_cr_reads_with_the_option)
{
	struct tvm *tvm = tvm_create(1, 0);
	char out[4096], pid[16], want[64];
	char *line;
	int lines = 0;

	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_cr3_read_loop, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) > 0);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(want, sizeof(want), " read cr3 = 0x%llx", (unsigned long long)tvm_pt_root(tvm));

	ASSERT_EQ(CLI(out, "-p", pid, "events", "cr+reads", "3"), 0);
	for (line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		EXPECT_TRUE(strstr(line, " cr rip 0x") != NULL);
		EXPECT_TRUE(strstr(line, want) != NULL);
		lines++;
	}
	EXPECT_EQ(lines, 3);
	ASSERT_EQ(CLI(out, "-p", pid, "events", "cpuid+reads"), 2);
	EXPECT_TRUE(strstr(out, "unknown option 'cpuid+reads'") != NULL);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
