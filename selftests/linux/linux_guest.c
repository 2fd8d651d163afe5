// SPDX-License-Identifier: GPL-2.0
/*
 * vmiop against a real VMM and a real guest OS: Debian's QEMU, inside the
 * test VM, booting Debian's kernel (run.sh --linux-guest puts the kit in,
 * start-linux-guest starts it).  The CLI finds the guest's kernel and
 * processes with no profile, events flow while the guest works, and the
 * guest runs on after the session ends.
 */
#include <sys/wait.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

int vmiop_cli_main(int argc, char **argv);

#define LG_DIR "/tmp/linux-guest"

static int cli(char *out, size_t size, const char *const *args)
{
	char *argv[16];
	int pipefd[2], status, argc = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	argv[argc++] = "vmiop";
	while (*args && argc < 15)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	ASSERT_EQ(pipe(pipefd), 0);
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		exit(vmiop_cli_main(argc, argv));
	}
	close(pipefd[1]);
	while (got < size - 1 && (n = read(pipefd[0], out + got, size - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pipefd[0]);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	return WEXITSTATUS(status);
}

#define CLI(out, ...) cli(out, sizeof(out), (const char *const[]){ __VA_ARGS__, NULL })

/* `vmiop ps` listed @pid with @comm. */
static bool ps_has(const char *ps, int pid, const char *comm)
{
	const char *line = ps;

	for (; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		char c[17], state;
		int p, tgid;

		if (sscanf(line, "%d %d %c %16s", &p, &tgid, &state, c) == 4 && p == pid &&
		    !strcmp(c, comm))
			return true;
	}
	return false;
}

/* The whole console so far. */
static size_t console(char *buf, size_t size)
{
	FILE *f = fopen(LG_DIR "/console.log", "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return n;
}

/* The number of the last heartbeat on the console, 0 if none. */
static unsigned long last_heartbeat(void)
{
	static char buf[1 << 20];
	unsigned long n = 0, v;
	char *p = buf;

	console(buf, sizeof(buf));
	while ((p = strstr(p, "linux-guest: heartbeat "))) {
		if (sscanf(p, "linux-guest: heartbeat %lu", &v) == 1)
			n = v;
		p++;
	}
	return n;
}

/* Starts the guest; its QEMU's pid, or skips when the rig has no kit. */
static pid_t start_guest(void)
{
	char line[64] = "";
	FILE *p;

	if (access("/linux-guest/bzImage", R_OK))
		SKIP("the test VM was started without run.sh --linux-guest");
	p = popen("start-linux-guest -d " LG_DIR, "r");
	ASSERT_TRUE(p != NULL);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	ASSERT_EQ(pclose(p), 0);
	return (pid_t)strtol(line, NULL, 10);
}

static void stop_guest(pid_t qemu)
{
	int i;

	kill(qemu, SIGTERM);
	for (i = 0; i < 600 && !kill(qemu, 0); i++)
		vt_msleep(100);
	ASSERT_NE(kill(qemu, 0), 0);
}

TEST_TIMEOUT(linux_guest_kernel_and_processes_without_a_profile, 900)
{
	static char out[65536], con[1 << 20];
	char pid[16], release[128] = "", want[256];
	pid_t qemu = start_guest();
	const char *p;
	unsigned long hb;

	ASSERT_GT(qemu, 0);
	snprintf(pid, sizeof(pid), "%d", (int)qemu);
	console(con, sizeof(con));
	p = strstr(con, "linux-guest: init, kernel ");
	ASSERT_TRUE(p != NULL);
	ASSERT_EQ(sscanf(p, "linux-guest: init, kernel %127[^,]", release), 1);

	/* The banner is the kernel the guest says it runs. */
	ASSERT_EQ(CLI(out, "-p", pid, "linux"), 0);
	printf("%s", out);
	snprintf(want, sizeof(want), "banner      Linux version %s ", release);
	EXPECT_TRUE(strstr(out, want) != NULL);
	EXPECT_TRUE(strstr(out, "kallsyms    ") != NULL);

	/* Its processes: init, kthreadd, the long-lived sleeper. */
	ASSERT_EQ(CLI(out, "-p", pid, "ps"), 0);
	printf("%s", out);
	EXPECT_TRUE(ps_has(out, 0, "swapper/0"));
	EXPECT_TRUE(ps_has(out, 1, "init"));
	EXPECT_TRUE(ps_has(out, 2, "kthreadd"));
	EXPECT_TRUE(strstr(out, " lg-sleeper ") != NULL);
	EXPECT_TRUE(strstr(out, "vCPU 0 runs pid ") != NULL);

	/* A symbol, through the read-only session too. */
	ASSERT_EQ(CLI(out, "-r", "-p", pid, "sym", "init_task"), 0);
	EXPECT_TRUE(strstr(out, " init_task\n") != NULL);

	/* Detached, the guest runs on. */
	hb = last_heartbeat();
	VT_WAIT_UNTIL(last_heartbeat() > hb + 1);
	stop_guest(qemu);
}

/* CR3 writes and MSR writes of a working Linux guest, each answered. */
TEST_TIMEOUT(linux_guest_events_flow_while_it_works, 900)
{
	struct vmiop_filter_range cr3 = { 3, 3 };
	pid_t qemu = start_guest();
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct vmiop *v;
	uint64_t seq = 0, hb;
	unsigned int crs = 0, msrs = 0;

	ASSERT_GT(qemu, 0);
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid(v, qemu), 0);
	ASSERT_TRUE((ring = vt_ring_setup(v, 64)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CR, -1, &cr3, 1), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MSR, -1, NULL, 0), 0);
	while (crs < 20 || msrs < 5) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->seq, seq + 1);
		seq = ev->seq;
		if (ev->type == VMIOP_EVENT_CR && ev->cr.cr == 3)
			crs++;
		if (ev->type == VMIOP_EVENT_MSR)
			msrs++;
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
		if (msrs < 5 && crs >= 200)
			break;	/* a quiet guest writes few MSRs: enough */
	}
	EXPECT_GE(crs, 20);
	vmiop_close(v);
	hb = last_heartbeat();
	VT_WAIT_UNTIL(last_heartbeat() > hb + 1);
	stop_guest(qemu);
}

VMTEST_MAIN()
