// SPDX-License-Identifier: GPL-2.0
/*
 * vmiop against a real VMM and a real guest OS: Debian's QEMU, inside the
 * test VM, booting Debian's kernel (run.sh --linux-guest puts the kit in,
 * start-linux-guest starts it).  The CLI finds the guest's kernel and
 * processes with no profile and agrees with the guest's own /proc; events
 * flow while the guest works; QEMU's monitor, stop/cont, migration and exit
 * work with a session attached; the guest runs on after the session ends
 * and after the module is unloaded.
 */
#include <ctype.h>
#include <grp.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

int vmiop_cli_main(int argc, char **argv);

#define LG_DIR "/tmp/linux-guest"
#define LG_DIR2 "/tmp/linux-guest-2"	/* the second QEMU of a migration */
#define BP_GUEST "/linux-guest/bp-guest.bin"
/* selftests/vm/linux-guest/bp-guest.S */
#define BP_SITE 0x100100ULL
#define BP_GDB 0x100101ULL
#define HB_SITE 0x100120ULL
#define BP_COUNT 0x100200ULL

/* Not 0: what run() runs, runs as this user and group (nobody), no root. */
static uid_t run_as;

static void run_child(void *arg)
{
	char **argv = arg;
	int argc = 0;

	while (argv[argc])
		argc++;
	if (run_as && (setgroups(0, NULL) || setgid(run_as) || setuid(run_as)))
		_exit(126);
	if (!strcmp(argv[0], "vmiop"))
		exit(vmiop_cli_main(argc, argv));
	setenv("LG_QMP_TIMEOUT", "120", 1);
	execvp(argv[0], argv);
}

/*
 * Runs @argv (a program on PATH, or the vmiop CLI when argv[0] is
 * "vmiop") with stdout and stderr into @out; its exit status.
 */
static int run(char *out, size_t size, char **argv)
{
	int status, argc = 0;

	while (argv[argc])
		argc++;
	status = vt_capture(out, size, run_child, argv);
	if (!WIFEXITED(status)) {
		/* lg-qmp's alarm: no answer within LG_QMP_TIMEOUT seconds. */
		vmtest_diag("%s %s: killed by signal %d; its output:\n%s", argv[0],
			    argc > 1 ? argv[argc - 1] : "", WTERMSIG(status), out);
		vmtest_fail_now();
	}
	return WEXITSTATUS(status);
}

#define RUN(out, ...) run(out, sizeof(out), (char *[]){ __VA_ARGS__, NULL })
#define CLI(out, ...) RUN(out, "vmiop", __VA_ARGS__)
/* One QMP command to the QEMU of @dir; lg-qmp's status (0: a "return"). */
#define QMP(out, dir, cmd) RUN(out, "lg-qmp", dir "/qmp.sock", cmd)

/* The whole console of the QEMU of @dir so far. */
static size_t console_of(const char *dir, char *buf, size_t size)
{
	char path[128];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/console.log", dir);
	f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return n;
}

static size_t console(char *buf, size_t size)
{
	return console_of(LG_DIR, buf, size);
}

/* The number of the last heartbeat on @dir's console, 0 if none. */
static unsigned long last_heartbeat_of(const char *dir)
{
	static char buf[1 << 20];
	unsigned long n = 0, v;
	char *p = buf;

	console_of(dir, buf, sizeof(buf));
	/* Whole lines only: QEMU may have written part of the last one. */
	while ((p = strstr(p, "linux-guest: heartbeat ")) && strchr(p, '\n')) {
		if (sscanf(p, "linux-guest: heartbeat %lu", &v) == 1)
			n = v;
		p++;
	}
	return n;
}

static unsigned long last_heartbeat(void)
{
	return last_heartbeat_of(LG_DIR);
}

/*
 * The end of @dir's guest console, to the TAP log: what a timed-out wait
 * leaves to go on (its last heartbeat says whether the guest still ran).
 */
static void show_console_tail(const char *dir)
{
	static char buf[1 << 20];
	size_t n = console_of(dir, buf, sizeof(buf));
	const char *tail = buf + (n > 1500 ? n - 1500 : 0);

	vmtest_diag("%s/console.log, last %zu bytes, last heartbeat %lu:\n%s", dir,
		    strlen(tail), last_heartbeat_of(dir), tail);
}

/* The guest's console from shortly before @what, if it said that. */
static void show_console_at(const char *dir, const char *what)
{
	static char buf[1 << 20];
	const char *at;

	console_of(dir, buf, sizeof(buf));
	at = strstr(buf, what);
	if (!at)
		return;
	at = at - buf > 300 ? at - 300 : buf;
	vmtest_diag("%s/console.log at \"%s\":\n%.3000s", dir, what, at);
}

static uint64_t lg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Waits until @cond holds, looking every 50 ms.  The limit (300 s of the
 * clock, not a count of looks: reading the console is slow under TCG)
 * only turns a hang into a failure; it is far above what the nested
 * guest needs.
 */
#define LG_WAIT_UNTIL(cond) do {							uint64_t __end = lg_now_ms() + 300 * 1000;					while (!(cond)) {									if (lg_now_ms() > __end) {								vmtest_diag("timed out waiting for %s", #cond);					show_console_tail(LG_DIR);							vmtest_fail_now();							}										vt_msleep(50);								}									} while (0)

/* The guest runs: two more heartbeats come. */
#define EXPECT_GUEST_RUNS_ON(dir) do {						\
	unsigned long __hb = last_heartbeat_of(dir);				\
	LG_WAIT_UNTIL(last_heartbeat_of(dir) > __hb + 1);			\
} while (0)

/* The guest's vCPUs (start-linux-guest -s): a test that wants more sets it. */
static char *guest_smp = "1";

/*
 * Starts a guest for @dir: the Linux guest, or @kernel (multiboot) if not
 * NULL, or from @incoming's state if not NULL; QEMU's pid.
 */
static pid_t start_guest_with(const char *dir, const char *incoming, const char *kernel)
{
	char out[4096], *last = out, *p;
	pid_t pid;
	int ret;

	if (access("/linux-guest/bzImage", R_OK))
		SKIP("the test VM was started without run.sh --linux-guest");
	if (incoming)
		ret = RUN(out, "start-linux-guest", "-d", (char *)dir, "-s", guest_smp, "-i",
			  (char *)incoming);
	else if (kernel)
		ret = RUN(out, "start-linux-guest", "-d", (char *)dir, "-s", guest_smp, "-K",
			  (char *)kernel);
	else
		ret = RUN(out, "start-linux-guest", "-d", (char *)dir, "-s", guest_smp);
	if (ret)
		printf("%s", out);
	ASSERT_EQ(ret, 0);
	/* Its progress lines (stderr), and the pid on a line of its own. */
	for (p = out; (p = strchr(p, '\n')) && p[1]; p++)
		if (isdigit((unsigned char)p[1]))
			last = p + 1;
	pid = (pid_t)strtol(last, NULL, 10);
	printf("%s", out);
	ASSERT_GT(pid, 0);
	return pid;
}

static pid_t start_guest_in(const char *dir, const char *incoming)
{
	return start_guest_with(dir, incoming, NULL);
}

static pid_t start_guest(void)
{
	return start_guest_in(LG_DIR, NULL);
}

/* @pid is gone (reaped by init, or a zombie of ours). */
static bool gone(pid_t pid)
{
	char path[64], stat[256] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = '\0';
	fclose(f);
	return strstr(stat, ") Z ") != NULL;
}

/*
 * The session says its VM's process is gone (-ESRCH).  Not the same as
 * QEMU's pid turning zombie: its other threads may still be exiting, the
 * VM's mm in use.  A resume of an unpaused VM changes nothing either way.
 */
static bool vm_gone(struct vmiop *v)
{
	return vmiop_resume(v) == -ESRCH;
}

static void stop_guest(pid_t qemu)
{
	kill(qemu, SIGTERM);
	LG_WAIT_UNTIL(gone(qemu));
}

/* A session attached to the VM of QEMU @qemu. */
static struct vmiop *attach_to(pid_t qemu)
{
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid(v, qemu), 0);
	return v;
}

/* A ring, and CR3 write events enabled (MSR events too with @msrs). */
static struct vmiop_ring *watch_cr3(struct vmiop *v, bool msrs)
{
	static const struct vmiop_filter_range cr3 = { 3, 3 };
	struct vmiop_ring *ring;

	ASSERT_TRUE((ring = vt_ring_setup(v, 64)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CR, -1, &cr3, 1), 0);
	if (msrs)
		ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MSR, -1, NULL, 0), 0);
	return ring;
}

/* ---- the guest's own process listing, and vmiop's ---- */

struct proc {
	int pid, ppid;
	char state;
	char comm[64];
	uint64_t pgd;
};

struct proc_list {
	struct proc p[1024];
	int n;
	int max_pid;
	int last_pid;	/* the guest's ns_last_pid after the listing */
};

static const struct proc *proc_find(const struct proc_list *l, int pid)
{
	int i;

	for (i = 0; i < l->n; i++)
		if (l->p[i].pid == pid)
			return &l->p[i];
	return NULL;
}

/*
 * The guest's /proc, as its /init lists it when asked on the console
 * ("ps TAG"; its answer ends "linux-guest: ps TAG end COUNT").
 */
static void guest_ps(int tag, struct proc_list *l)
{
	static char con[1 << 20];
	char out[256], cmd[32], begin[64], end[64], *p, *q;
	int count = -1, last_pid = 0;

	snprintf(cmd, sizeof(cmd), "ps %d", tag);
	ASSERT_EQ(RUN(out, "lg-qmp", "-c", LG_DIR "/console.sock", cmd), 0);
	/* The guest's tty ends its lines with \r\n. */
	snprintf(begin, sizeof(begin), "linux-guest: ps %d begin", tag);
	snprintf(end, sizeof(end), "linux-guest: ps %d end ", tag);
	LG_WAIT_UNTIL(console(con, sizeof(con)) && (q = strstr(con, end)) && strchr(q, '\n'));
	ASSERT_EQ(sscanf(q + strlen(end), "%d last_pid %d", &count, &last_pid), 2);
	p = strstr(con, begin);
	ASSERT_TRUE(p != NULL && p < q);
	p = strchr(p, '\n') + 1;
	snprintf(begin, sizeof(begin), "linux-guest: ps %d ", tag);
	memset(l, 0, sizeof(*l));
	for (; p < q; p = strchr(p, '\n') + 1) {
		struct proc *e = &l->p[l->n];

		/* Kernel messages may fall between the lines. */
		if (strncmp(p, begin, strlen(begin)))
			continue;
		ASSERT_LT(l->n, 1024);
		ASSERT_EQ(sscanf(p + strlen(begin), "%d %d %c %63s", &e->pid, &e->ppid, &e->state,
				 e->comm), 4);
		if (e->pid > l->max_pid)
			l->max_pid = e->pid;
		l->n++;
	}
	ASSERT_EQ(l->n, count);
	l->last_pid = last_pid;
}

/* `vmiop ps`'s output parsed, and its exit status. */
static int vmiop_ps(const char *qemu_pid, struct proc_list *l, char *out, size_t size)
{
	int ret = run(out, size, (char *[]){ "vmiop", "-p", (char *)qemu_pid, "ps", NULL });
	const char *line;

	memset(l, 0, sizeof(*l));
	for (line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		struct proc *e = &l->p[l->n];
		int tgid;

		if (l->n == 1024)
			break;
		if (sscanf(line, "%d %d %c %16s 0x%" SCNx64, &e->pid, &tgid, &e->state, e->comm,
			   &e->pgd) == 5)
			l->n++;
	}
	return ret;
}

/*
 * @comm (task->comm, at most 15 characters) names what /proc calls
 * @name: a kernel thread's full name there may be longer, a kworker's has
 * its work queue appended ("kworker/0:1-rcu_gp", "+" while it runs a
 * work item).
 */
static bool same_name(const char *comm, const char *name)
{
	size_t n = strlen(comm);

	return !strncmp(comm, name, n) &&
	       (!name[n] || n == 15 || name[n] == '-' || name[n] == '+');
}

/* A kernel thread by the guest's own listing: kthreadd or its child. */
static bool kernel_thread(const struct proc *g)
{
	return g->pid == 2 || g->ppid == 2;
}

TEST_TIMEOUT(linux_guest_kernel_and_processes_without_a_profile, 900)
{
	static char out[65536], con[1 << 20];
	static struct proc_list before, seen, after;
	char pid[16], release[128] = "", want[256];
	pid_t qemu = start_guest();
	const struct proc *g;
	const char *p;
	int i, both = 0;

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

	/* vmiop's registry knows Debian's QEMU by its -name, read from its argv. */
	ASSERT_EQ(CLI(out, "list"), 0);
	printf("%s", out);
	EXPECT_TRUE(strstr(out, " debian-guest ") != NULL);
	ASSERT_EQ(CLI(out, "-n", "debian-guest", "info"), 0);
	snprintf(want, sizeof(want), "vmm pid     %s\n", pid);
	EXPECT_TRUE(strstr(out, want) != NULL);

	/*
	 * Its processes, against its own /proc listed just before and just
	 * after: the guest keeps forking, so a process in both listings lived
	 * through vmiop's walk and must be in it (under either name: it may
	 * exec), and every process vmiop lists is in one of them or was
	 * born between them (pids only grow here: far from pid_max).
	 */
	guest_ps(1, &before);
	ASSERT_EQ(vmiop_ps(pid, &seen, out, sizeof(out)), 0);
	printf("%s", out);
	guest_ps(2, &after);
	printf("guest /proc: %d processes before, %d after (last pid %d); vmiop ps: %d tasks\n",
	       before.n, after.n, after.last_pid, seen.n);
	for (i = 0; i < before.n; i++) {
		const struct proc *b = &before.p[i], *a = proc_find(&after, b->pid);
		const struct proc *v = proc_find(&seen, b->pid);

		if (!a)
			continue;
		both++;
		if (!v) {
			vmtest_diag("pid %d (%s) lived through the walk but is not listed", b->pid,
				    b->comm);
			vmtest_mark_failed();
			continue;
		}
		/* Named the same before and after: no exec in between. */
		if (!strcmp(b->comm, a->comm) && !same_name(v->comm, b->comm)) {
			vmtest_diag("pid %d: vmiop says %s, the guest %s", b->pid, v->comm,
				    b->comm);
			vmtest_mark_failed();
		}
		/* A kernel thread has no page tables; a live user process does. */
		if (kernel_thread(b))
			EXPECT_EQ(v->pgd, 0);
		else if (v->state != 'Z' && v->state != 'X')
			EXPECT_NE(v->pgd, 0);
	}
	EXPECT_GE(both, 30);	/* kernel threads, init, the sleeper */
	for (i = 0; i < seen.n; i++) {
		const struct proc *v = &seen.p[i];

		if (v->pid == 0) {	/* the idle task, not in /proc */
			EXPECT_STREQ(v->comm, "swapper/0");
			continue;
		}
		/* Born after the first listing, and before the second ended. */
		if ((!proc_find(&before, v->pid) && !proc_find(&after, v->pid) &&
		     v->pid <= before.max_pid) || v->pid > after.last_pid) {
			vmtest_diag("vmiop lists pid %d (%s), which the guest never had", v->pid,
				    v->comm);
			vmtest_mark_failed();
		}
	}
	ASSERT_TRUE((g = proc_find(&seen, 1)) != NULL);
	EXPECT_STREQ(g->comm, "init");
	ASSERT_TRUE((g = proc_find(&seen, 2)) != NULL);
	EXPECT_STREQ(g->comm, "kthreadd");
	EXPECT_TRUE(strstr(out, " lg-sleeper ") != NULL);
	EXPECT_TRUE(strstr(out, "vCPU 0 runs pid ") != NULL);

	/* A symbol, through the read-only session too. */
	ASSERT_EQ(CLI(out, "-r", "-p", pid, "sym", "init_task"), 0);
	EXPECT_TRUE(strstr(out, " init_task\n") != NULL);

	/* Detached, the guest runs on. */
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* CR3 writes and MSR writes of a working Linux guest, each answered. */
TEST_TIMEOUT(linux_guest_events_flow_while_it_works, 900)
{
	pid_t qemu = start_guest();
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct vmiop *v;
	uint64_t seq = 0;
	unsigned int crs = 0, msrs = 0;

	v = attach_to(qemu);
	ring = watch_cr3(v, true);
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
	EXPECT_GE(msrs, 1);	/* it programs its TSC deadline timer */
	vmiop_close(v);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * vmiop -l events: each CR3 write names the process it switches to.  Its
 * pid 1 (the /init shell, whose heartbeat loop wakes every second and
 * never execs) must be named, with the page-table root vmiop ps gives it.
 */
TEST_TIMEOUT(linux_guest_cr3_writes_name_their_process, 900)
{
	static char out[1 << 18], ps[65536];
	static struct proc_list seen;
	pid_t qemu = start_guest();
	unsigned int named = 0, init = 0;
	const struct proc *g;
	char pid[16];
	const char *line;

	snprintf(pid, sizeof(pid), "%d", (int)qemu);
	ASSERT_EQ(CLI(out, "-l", "-p", pid, "events", "cr", "400"), 0);
	ASSERT_EQ(vmiop_ps(pid, &seen, ps, sizeof(ps)), 0);
	ASSERT_TRUE((g = proc_find(&seen, 1)) != NULL);
	for (line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long long old, root;
		const char *p = strstr(line, " cr3 0x");
		int n;

		if (!p)
			continue;
		if (sscanf(p, " cr3 0x%*x cr3 0x%llx -> 0x%llx [pid %d", &old, &root, &n) != 3)
			continue;
		named++;
		if (n != 1)
			continue;
		init++;
		EXPECT_TRUE(strstr(line, "[pid 1 init]") != NULL);
		EXPECT_EQ(root & 0x000ffffffffff000ULL & ~0x1000ULL, g->pgd & ~0x1000ULL);
	}
	printf("%u CR3 writes named a process, %u of them pid 1 (root 0x%llx)\n", named, init,
	       (unsigned long long)g->pgd);
	EXPECT_GE(init, 1);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * vmiop libvmi-config: LibVMI's entry for the guest from its own BTF, and
 * its symbols as a System.map, consistent with what vmiop itself finds.
 */
TEST_TIMEOUT(linux_guest_libvmi_config_from_its_own_btf, 900)
{
	static char out[4096], sym[256];
	unsigned long long tasks = 0, mm = 0, pidoff = 0, name = 0, pgd = 0, init_task = 0;
	unsigned long long addr;
	pid_t qemu = start_guest();
	char pid[16], line[512];
	unsigned int lines = 0;
	const char *p;
	FILE *f;

	snprintf(pid, sizeof(pid), "%d", (int)qemu);
	ASSERT_EQ(CLI(out, "-p", pid, "libvmi-config", "debian-guest", "/tmp/lg-System.map"), 0);
	printf("%s", out);
	EXPECT_TRUE(strstr(out, "debian-guest {\n    ostype = \"Linux\";\n") != NULL);
	EXPECT_TRUE(strstr(out, "    sysmap = \"/tmp/lg-System.map\";\n") != NULL);
	ASSERT_TRUE((p = strstr(out, "linux_tasks = ")) != NULL);
	ASSERT_EQ(sscanf(p, "linux_tasks = 0x%llx; linux_mm = 0x%llx; linux_pid = 0x%llx; "
			 "linux_name = 0x%llx; linux_pgd = 0x%llx;", &tasks, &mm, &pidoff, &name,
			 &pgd), 5);
	/* Offsets inside task_struct and mm_struct, each its own field. */
	EXPECT_GT(tasks, 0);
	EXPECT_LT(tasks, 16384);
	EXPECT_LT(mm, 16384);
	EXPECT_LT(pidoff, 16384);
	EXPECT_LT(name, 16384);
	EXPECT_LT(pgd, 4096);
	EXPECT_NE(tasks, mm);
	EXPECT_NE(pidoff, name);
	/* The map: every symbol the kernel has, init_task where vmiop sym finds it. */
	ASSERT_TRUE((f = fopen("/tmp/lg-System.map", "r")) != NULL);
	while (fgets(line, sizeof(line), f)) {
		char type, symname[256];

		lines++;
		if (sscanf(line, "%llx %c %255s", &addr, &type, symname) == 3 &&
		    !strcmp(symname, "init_task"))
			init_task = addr;
	}
	fclose(f);
	EXPECT_GT(lines, 10000);
	ASSERT_EQ(CLI(sym, "-p", pid, "sym", "init_task"), 0);
	ASSERT_EQ(sscanf(sym, "0x%llx", &addr), 1);
	EXPECT_EQ(init_task, addr);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* ---- LibVMI, its KVM driver on vmiop (contrib/libvmi), on this guest ---- */

#define LIBVMI "/libvmi"		/* run.sh --libvmi puts LibVMI's programs here */
#define LG_NAME "debian-guest"		/* start-linux-guest's -name */

/* LibVMI is in the test VM, or the test is skipped before any guest starts. */
static void need_libvmi(void)
{
	if (access(LIBVMI "/check_libvmi", X_OK))
		SKIP("LibVMI is not in the test VM (run.sh --libvmi PREFIX; make vmtest-linux "
		     "passes it)");
}

/*
 * /etc/libvmi.conf, one entry named like the VM, written by vmiop from
 * the guest kernel's own BTF and symbols: what LibVMI's programs look up.
 */
static void libvmi_config(pid_t qemu)
{
	static char out[4096];
	char pid[16];
	FILE *f;

	snprintf(pid, sizeof(pid), "%d", (int)qemu);
	ASSERT_EQ(CLI(out, "-p", pid, "libvmi-config", LG_NAME, "/tmp/lg-System.map"), 0);
	ASSERT_TRUE(mkdir("/etc", 0755) == 0 || errno == EEXIST);
	ASSERT_TRUE((f = fopen("/etc/libvmi.conf", "w")) != NULL);
	ASSERT_GE(fputs(out, f), 0);
	ASSERT_EQ(fclose(f), 0);
}

/*
 * LibVMI's own check suite (tests/check_libvmi): init by name with the
 * global config file, translation, reads of kernel data, accessors.
 */
TEST_TIMEOUT(libvmi_check_suite_passes_against_the_guest, 900)
{
	static char out[1 << 16];
	unsigned int pct, checks = 0, failures = 1, errors = 1;
	pid_t qemu;
	const char *p;
	int ret;

	need_libvmi();
	qemu = start_guest();
	libvmi_config(qemu);
	setenv("LIBVMI_CHECK_TESTVM", LG_NAME, 1);
	ret = RUN(out, LIBVMI "/check_libvmi");
	unsetenv("LIBVMI_CHECK_TESTVM");
	printf("%s", out);
	EXPECT_EQ(ret, 0);
	/* check's summary: "100%: Checks: N, Failures: 0, Errors: 0". */
	ASSERT_TRUE((p = strstr(out, "%: Checks: ")) != NULL);
	while (p > out && isdigit((unsigned char)p[-1]))
		p--;
	ASSERT_EQ(sscanf(p, "%u%%: Checks: %u, Failures: %u, Errors: %u", &pct, &checks,
			 &failures, &errors), 4);
	EXPECT_GE(checks, 10);
	EXPECT_EQ(failures, 0);
	EXPECT_EQ(errors, 0);
	EXPECT_EQ(pct, 100);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* vmi-process-list's "[  PID] NAME (struct addr:...)" lines. */
static void libvmi_ps(const char *out, struct proc_list *l)
{
	const char *line;

	memset(l, 0, sizeof(*l));
	for (line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		struct proc *e = &l->p[l->n];

		if (l->n == 1024)
			break;
		if (sscanf(line, "[%d] %63s (struct addr:%" SCNx64 ")", &e->pid, e->comm,
			   &e->pgd) == 3)
			l->n++;
	}
}

/*
 * vmi-process-list and vmi-module-list, LibVMI's examples, against the
 * guest's own /proc listed just before and just after (as for vmiop ps),
 * the VM named by its name and by its QEMU's pid.
 */
TEST_TIMEOUT(libvmi_process_and_module_lists_match_the_guests_own, 900)
{
	static char out[65536], out2[65536], con[1 << 20];
	static struct proc_list before, seen, after;
	char pid[16], want[64];
	const char *p, *end;
	const struct proc *g;
	int i, n, both = 0;
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	snprintf(pid, sizeof(pid), "%d", (int)qemu);
	libvmi_config(qemu);

	guest_ps(21, &before);
	ASSERT_EQ(RUN(out, LIBVMI "/vmi-process-list", "-n", LG_NAME), 0);
	printf("%s", out);
	libvmi_ps(out, &seen);
	guest_ps(22, &after);
	snprintf(want, sizeof(want), "Process listing for VM %s (id=%s)\n", LG_NAME, pid);
	EXPECT_TRUE(strstr(out, want) != NULL);
	printf("guest /proc: %d processes before, %d after; vmi-process-list: %d\n", before.n,
	       after.n, seen.n);
	for (i = 0; i < before.n; i++) {
		const struct proc *b = &before.p[i], *a = proc_find(&after, b->pid);
		const struct proc *v = proc_find(&seen, b->pid);

		if (!a)
			continue;
		both++;
		if (!v) {
			vmtest_diag("pid %d (%s) lived through the walk but is not listed", b->pid,
				    b->comm);
			vmtest_mark_failed();
		} else if (!strcmp(b->comm, a->comm) && !same_name(v->comm, b->comm)) {
			vmtest_diag("pid %d: LibVMI says %s, the guest %s", b->pid, v->comm,
				    b->comm);
			vmtest_mark_failed();
		}
	}
	EXPECT_GE(both, 30);
	for (i = 0; i < seen.n; i++) {
		const struct proc *v = &seen.p[i];

		if (v->pid == 0)
			continue;	/* swapper, not in /proc */
		if ((!proc_find(&before, v->pid) && !proc_find(&after, v->pid) &&
		     v->pid <= before.max_pid) || v->pid > after.last_pid) {
			vmtest_diag("LibVMI lists pid %d (%s), which the guest never had", v->pid,
				    v->comm);
			vmtest_mark_failed();
		}
	}
	ASSERT_TRUE((g = proc_find(&seen, 1)) != NULL);
	EXPECT_STREQ(g->comm, "init");
	ASSERT_TRUE((g = proc_find(&seen, 0)) != NULL);
	EXPECT_STREQ(g->comm, "swapper/0");

	/*
	 * QEMU's pid is the VM's id: LibVMI asks the driver for its name,
	 * and finds the config entry by that.
	 */
	ASSERT_EQ(RUN(out2, LIBVMI "/vmi-process-list", "-d", pid), 0);
	EXPECT_TRUE(strstr(out2, want) != NULL);
	EXPECT_TRUE(strstr(out2, "] init (struct addr:") != NULL);

	/* The modules, as the guest listed them at boot (one: dummy). */
	console(con, sizeof(con));
	ASSERT_TRUE((p = strstr(con, "linux-guest: modules: ")) != NULL);
	p += strlen("linux-guest: modules: ");
	ASSERT_TRUE((end = strstr(p, "end\r\n")) != NULL);
	ASSERT_EQ(RUN(out, LIBVMI "/vmi-module-list", LG_NAME), 0);
	printf("guest's modules: %.*s\nvmi-module-list:\n%s", (int)(end - p), p, out);
	for (i = 0; p < end; i++) {
		size_t len = strcspn(p, " ");

		snprintf(want, sizeof(want), "%.*s\n", (int)len, p);
		EXPECT_TRUE(strstr(out, want) != NULL);
		p += len + 1;
	}
	EXPECT_EQ(i, 1);
	for (p = out, n = 0; (p = strchr(p, '\n')); p++)
		n++;
	EXPECT_EQ(n, i);	/* and nothing else */
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * vmi-dump-memory of the guest stopped by QEMU (nothing of it changes)
 * holds, byte for byte, what vmiop reads of its RAM.
 */
TEST_TIMEOUT(libvmi_dump_memory_equals_what_vmiop_reads, 900)
{
	static char out[4096], want[1 << 20], got[1 << 20];
	const char *dump = "/tmp/lg-memory.dump";
	struct vmiop_memmap_entry *map;
	uint64_t compared = 0, at;
	int n, i, fd;
	struct vmiop *v;
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"stop\"}"), 0);
	unlink(dump);
	/* Sparse: the zero pages of 256 MiB need not fill the test VM's tmpfs. */
	ASSERT_EQ(RUN(out, LIBVMI "/vmi-dump-memory", "-s", LG_NAME, (char *)dump), 0);
	printf("%s", out);

	v = attach_to(qemu);
	ASSERT_GT((n = vmiop_get_memmap(v, &map)), 0);
	ASSERT_GE((fd = open(dump, O_RDONLY)), 0);
	for (i = 0; i < n; i++) {
		if (map[i].type != VMIOP_E820_RAM)
			continue;
		for (at = map[i].addr; at < map[i].addr + map[i].size; at += sizeof(want)) {
			size_t len = sizeof(want);

			if (map[i].addr + map[i].size - at < len)
				len = (size_t)(map[i].addr + map[i].size - at);
			ASSERT_EQ(vmiop_read_pa(v, at, want, len), 0);
			memset(got, 0, len);	/* past the end of a sparse file: zeros */
			ASSERT_GE(pread(fd, got, len, (off_t)at), 0);
			if (memcmp(want, got, len)) {
				size_t off = 0;

				while (want[off] == got[off])
					off++;
				vmtest_diag("dump differs at 0x%" PRIx64 ": 0x%02x, vmiop reads 0x%02x",
					    at + off, (unsigned char)got[off],
					    (unsigned char)want[off]);
				vmtest_fail_now();
			}
			compared += len;
		}
	}
	close(fd);
	free(map);
	vmiop_close(v);
	unlink(dump);
	printf("%" PRIu64 " MiB of RAM compared\n", compared >> 20);
	EXPECT_GE(compared, 200ULL << 20);
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"cont\"}"), 0);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * What goes wrong says so: a name no VM has, a user without rights over
 * the VM's process, and LibVMI's programs fail with the backend's reason.
 */
TEST_TIMEOUT(libvmi_errors_a_wrong_name_and_a_user_without_rights, 900)
{
	static char out[65536];
	char pid[16];
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	snprintf(pid, sizeof(pid), "%d", (int)qemu);
	libvmi_config(qemu);

	EXPECT_NE(RUN(out, LIBVMI "/vmi-process-list", "-n", "no-such-guest"), 0);
	printf("%s", out);
	EXPECT_TRUE(strstr(out, "--vmiop: no KVM VM named 'no-such-guest'") != NULL);

	/*
	 * vmiop's registry does not tell a user the names of VMs it may not
	 * introspect; by pid, the VM is there, but not the user's.
	 */
	run_as = 65534;
	EXPECT_NE(RUN(out, LIBVMI "/vmi-process-list", "-n", LG_NAME), 0);
	printf("%s", out);
	EXPECT_TRUE(strstr(out, "--vmiop: no KVM VM named '" LG_NAME "' that you may introspect") !=
		    NULL);
	EXPECT_NE(RUN(out, LIBVMI "/vmi-process-list", "-d", pid), 0);
	printf("%s", out);
	EXPECT_TRUE(strstr(out, "introspecting the VM of pid ") != NULL);
	run_as = 0;

	/* Neither left anything behind: LibVMI as root works as before. */
	ASSERT_EQ(RUN(out, LIBVMI "/vmi-process-list", "-n", LG_NAME), 0);
	EXPECT_TRUE(strstr(out, "] init (struct addr:") != NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* Lines of file @path (its first 4 MiB) that begin with @prefix. */
static unsigned int file_lines(const char *path, const char *prefix)
{
	static char buf[4 << 20];
	unsigned int n = 0;
	const char *p;
	ssize_t len;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[len > 0 ? len : 0] = '\0';
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += !strncmp(p, prefix, strlen(prefix));
	return n;
}

/*
 * A LibVMI program in the background, its stdout and stderr to @log; its
 * pid.  It ends by stop_bg().
 */
static pid_t start_bg(const char *log, char **argv)
{
	pid_t pid;
	int fd;

	/* Gone before the child runs: a wait on it never reads an earlier run's. */
	ASSERT_TRUE(unlink(log) == 0 || errno == ENOENT);
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
		/* stdbuf -oL: each line in the file as it is printed. */
		setenv("LD_PRELOAD", "/usr/libexec/coreutils/libstdbuf.so", 1);
		setenv("_STDBUF_O", "L", 1);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/*
 * SIGINT, as LibVMI's event examples expect to end (they clean up and
 * exit 0), then their exit status, with @log into @out (its end, if
 * longer).
 */
static int stop_bg(pid_t pid, const char *log, char *out, size_t size)
{
	uint64_t end = lg_now_ms() + 120 * 1000;
	int status = 0, fd;
	off_t len;
	pid_t got;

	ASSERT_EQ(kill(pid, SIGINT), 0);
	/* Bounded: an example that ignores SIGINT is a failure, not a hang. */
	while ((got = waitpid(pid, &status, WNOHANG)) == 0 && lg_now_ms() < end)
		vt_msleep(50);
	ASSERT_GE(got, 0);
	if (got == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		vmtest_diag("%s: no exit within 120 s of SIGINT", log);
		vmtest_mark_failed();
	}
	ASSERT_GE((fd = open(log, O_RDONLY)), 0);
	len = lseek(fd, 0, SEEK_END);
	ASSERT_GE(len, 0);
	ASSERT_GE(pread(fd, out, size - 1, len > (off_t)size - 1 ? len - (off_t)(size - 1) : 0),
		  0);
	out[len > (off_t)size - 1 ? size - 1 : (size_t)len] = '\0';
	close(fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The last 3000 bytes of @log, for a wait on it that timed out. */
static void show_log_tail(const char *log)
{
	static char buf[3001];
	ssize_t n = 0;
	off_t len;
	int fd;

	fd = open(log, O_RDONLY);
	if (fd >= 0) {
		len = lseek(fd, 0, SEEK_END);
		n = pread(fd, buf, 3000, len > 3000 ? len - 3000 : 0);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	vmtest_diag("%s, its end:\n%s", log, buf);
}

/* LG_WAIT_UNTIL, with the end of @log shown if it times out. */
#define LG_WAIT_LOG(log, cond) do {						\
	uint64_t __lend = lg_now_ms() + 300 * 1000;				\
	while (!(cond)) {							\
		if (lg_now_ms() > __lend) {					\
			vmtest_diag("timed out waiting for %s", #cond);		\
			show_log_tail(log);					\
			show_console_tail(LG_DIR);				\
			vmtest_fail_now();					\
		}								\
		vt_msleep(50);							\
	}									\
} while (0)

/* Lines of @out that begin with @prefix. */
static unsigned int count_lines(const char *out, const char *prefix)
{
	unsigned int n = 0;
	const char *p = out;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		n += !strncmp(p, prefix, strlen(prefix));
	return n;
}

/* The first line of @out that begins with @prefix, printed. */
static void show_first(const char *out, const char *prefix)
{
	const char *p = out;

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, prefix, strlen(prefix))) {
			printf("%.*s\n", (int)strcspn(p, "\n"), p);
			return;
		}
}

#define LIBVMI_LOG "/tmp/lg-libvmi.log"

/*
 * One of LibVMI's programs in the background until its output has @n
 * lines that begin with @prefix, then ended with SIGINT: its exit status,
 * its output (the end) in @out.
 */
static int run_until(char **argv, const char *prefix, unsigned int n, char *out, size_t size)
{
	pid_t ex = start_bg(LIBVMI_LOG, argv);
	int status;

	LG_WAIT_LOG(LIBVMI_LOG, file_lines(LIBVMI_LOG, prefix) >= n);
	status = stop_bg(ex, LIBVMI_LOG, out, size);
	/* The driver says every problem it meets: none here. */
	show_first(out, "VMI_ERROR");
	EXPECT_EQ(strstr(out, "VMI_ERROR"), NULL);
	return status;
}

/*
 * cr3-event-example: a CR3 write event for each address-space switch of
 * the working guest, each continued; the guest runs on after it ends.
 */
TEST_TIMEOUT(libvmi_cr3_event_example_sees_the_guest_switch_processes, 900)
{
	static char out[1 << 16];
	unsigned int n;
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	EXPECT_EQ(run_until((char *[]){ LIBVMI "/cr3-event-example", LG_NAME, NULL },
			    "CR3 write happened: Value=0x", 20, out, sizeof(out)), 0);
	n = count_lines(out, "CR3 write happened: Value=0x");
	show_first(out, "CR3 write happened");
	printf("%u CR3 writes\n", n);
	EXPECT_GE(n, 20);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * singlestep-event-example: every instruction of vCPU 0 an event, then
 * stepping stopped, restarted for five listens, stopped at the end.
 */
TEST_TIMEOUT(libvmi_singlestep_event_example_steps_and_stops, 900)
{
	static char out[1 << 16];
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	EXPECT_EQ(run_until((char *[]){ LIBVMI "/singlestep-event-example", LG_NAME, NULL },
			    "Single-step event: VCPU:0 ", 200, out, sizeof(out)), 0);
	show_first(out, "Single-step event");
	show_first(out, "VMI_ERROR");
	show_first(out, "Failed");
	EXPECT_TRUE(strstr(out, "Singlestep stopped\n") != NULL);
	EXPECT_TRUE(strstr(out, "Restarting singlestep\n") != NULL);
	EXPECT_TRUE(strstr(out, "Finished with test.\n") != NULL);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * QEMU killed under a LibVMI program waiting for events: LibVMI's listen
 * fails with the driver's reason, the program ends on SIGINT, and the
 * module cleans up (the rig checks the test VM's log).
 */
TEST_TIMEOUT(libvmi_errors_the_vm_exiting_under_an_event_loop, 900)
{
	static char out[1 << 16];
	const char *log = LIBVMI_LOG;
	pid_t qemu, ex;

	need_libvmi();
	qemu = start_guest();
	libvmi_config(qemu);
	ex = start_bg(log, (char *[]){ LIBVMI "/cr3-event-example", LG_NAME, NULL });
	LG_WAIT_LOG(log, file_lines(log, "CR3 write happened") >= 5);
	ASSERT_EQ(kill(qemu, SIGKILL), 0);
	LG_WAIT_UNTIL(gone(qemu) && file_lines(log, "Failed to listen on events") >= 1);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, "VMI_ERROR: --vmiop");
	EXPECT_TRUE(strstr(out, "the VM is gone") != NULL);
}

/* The guest's count of INT3s its own handler took. */
static uint32_t bp_count(struct vmiop *v)
{
	uint32_t n;

	ASSERT_EQ(vmiop_read_pa(v, BP_COUNT, &n, sizeof(n)), 0);
	return n;
}

/*
 * Whether KVM's #BP intercept sees bp-guest's INT3s, which it does not
 * under QEMU TCG's nested SVM: a session of the test's own enables
 * BREAKPOINT events and waits for one while the guest's handler counts
 * 3000 (no clock).  0 if one came (continued: the guest's to take), else
 * how many the guest took meanwhile.
 */
static uint32_t int3_unseen(pid_t qemu)
{
	struct vmiop *v = attach_to(qemu);
	struct vmiop_ring *ring;
	uint32_t before, unseen = 0;

	ASSERT_TRUE((ring = vt_ring_setup(v, 64)) != NULL);
	before = bp_count(v);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
	while (!vmiop_ring_ready(ring) && bp_count(v) < before + 3000)
		vmiop_event_wait(v, 100);
	if (!vmiop_ring_ready(ring))
		unseen = bp_count(v) - before;
	vmiop_close(v);	/* an event still waiting is continued */
	return unseen;
}

/* The bps count of bp-guest's last heartbeat line, 0 if none yet. */
static unsigned long last_bps(void)
{
	static char buf[1 << 20];
	unsigned long n = 0, hb, bps;
	char *p = buf;

	console(buf, sizeof(buf));
	while ((p = strstr(p, "linux-guest: heartbeat ")) && strchr(p, '\n')) {
		if (sscanf(p, "linux-guest: heartbeat %lu bps %lu", &hb, &bps) == 2)
			n = bps;
		p++;
	}
	return n;
}

/*
 * interrupt-event-example against bp-guest (no OS: LibVMI's vmi_init
 * needs no profile), whose own INT3 at 0x100100 its handler counts: an
 * event for each, each reinjected, so the guest's count goes on while
 * LibVMI holds every INT3 (a RETRY instead would keep it on the INT3).
 */
TEST_TIMEOUT(libvmi_interrupt_event_example_reinjects_the_guests_int3, 900)
{
	static char out[1 << 16];
	const char *log = LIBVMI_LOG;
	const char *hit = "Int 3 happened: GFN=100 RIP=100100 Length: 1";
	unsigned int n, seen, unseen;
	unsigned long during;
	pid_t qemu, ex;
	int status;

	need_libvmi();
	qemu = start_guest_with(LG_DIR, NULL, BP_GUEST);
	if ((unseen = int3_unseen(qemu))) {
		stop_guest(qemu);
		SKIP("KVM's #BP intercept does not see this nested guest's INT3 (%u taken by the "
		     "guest, no event): QEMU TCG's nested SVM; selftests/vm/README.md", unseen);
	}
	ex = start_bg(log, (char *[]){ LIBVMI "/interrupt-event-example", LG_NAME, NULL });
	LG_WAIT_LOG(log, file_lines(log, hit) >= 20);
	during = last_bps();
	seen = file_lines(log, hit);
	LG_WAIT_LOG(log, last_bps() >= during + 2048);
	EXPECT_EQ(waitpid(ex, &status, WNOHANG), 0);	/* LibVMI still attached */
	/* Those INT3s went through LibVMI (heartbeats come every 1024). */
	EXPECT_GE(file_lines(log, hit), seen + 1024);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, "VMI_ERROR");
	EXPECT_EQ(strstr(out, "VMI_ERROR"), NULL);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	n = count_lines(out, "Int 3 happened");
	show_first(out, "Int 3 happened");
	EXPECT_EQ(count_lines(out, hit), n);	/* every one the guest's own */
	EXPECT_GE(n, 20);
	printf("%u INT3 events; the guest's handler counted on past %lu while LibVMI held them\n",
	       n, during);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* Lines of the guest's console that begin with @prefix. */
static unsigned int console_lines(const char *prefix)
{
	static char con[1 << 20];

	console(con, sizeof(con));
	return count_lines(con, prefix);
}

/*
 * A memory event answered with EMULATE (contrib/libvmi/tools/
 * vmi-mem-emulate): the guest kernel's page of jiffies_64 read-only, each
 * write to it emulated by KVM; the writes land (jiffies_64 goes on), the
 * guest runs on.
 */
TEST_TIMEOUT(libvmi_memory_writes_emulated_land, 900)
{
	static char out[1 << 16];
	unsigned long long w, j, first = 0, last = 0, writes = 0;
	unsigned int rounds = 0;
	const char *p;
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	libvmi_config(qemu);
	EXPECT_EQ(run_until((char *[]){ LIBVMI "/vmi-mem-emulate", LG_NAME, "jiffies_64", NULL },
			    "round ", 6, out, sizeof(out)), 0);
	show_first(out, "jiffies_64 at ");
	for (p = strstr(out, "\nround "); p; p = strstr(p + 1, "\nround ")) {
		unsigned int n;

		if (!strchr(p + 1, '\n'))
			break;	/* cut by SIGINT */
		ASSERT_EQ(sscanf(p + 1, "round %u: %llu writes emulated, jiffies_64 = %llu", &n, &w,
				 &j), 3);
		EXPECT_GE(j, last);
		if (!rounds++)
			first = j;
		last = j;
		writes += w;
	}
	/*
	 * The tick writes it, and the writes land: it goes on, slowly (every
	 * write to that busy page is a round trip to LibVMI).
	 */
	printf("%u rounds, %llu writes emulated, jiffies_64 from %llu to %llu\n", rounds, writes,
	       first, last);
	EXPECT_GE(rounds, 3);
	EXPECT_GT(writes, 0);
	EXPECT_GT(last, first);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* One byte of guest-physical memory, through a session of the test's own. */
static uint8_t guest_byte(pid_t qemu, uint64_t gpa)
{
	struct vmiop *v = attach_to(qemu);
	uint8_t b = 0;

	EXPECT_EQ(vmiop_read_pa(v, gpa, &b, 1), 0);
	vmiop_close(v);
	return b;
}

/*
 * breakpoint-recoil-example's pattern (contrib/libvmi/tools/vmi-bp-recoil,
 * at an address: bp-guest has no OS for a symbol): an INT3 planted on
 * bp-guest's BP_GDB instruction; each hit puts the byte back, is not
 * reinjected (RETRY), steps once (TOGGLE_SINGLESTEP) and plants it again;
 * the guest's own INT3s are reinjected.  At the end its byte is back.
 */
TEST_TIMEOUT(libvmi_breakpoint_recoil_on_the_guests_code, 900)
{
	static char out[1 << 16];
	const char *log = LIBVMI_LOG;
	unsigned int unseen;
	uint8_t orig;
	pid_t qemu, ex;

	need_libvmi();
	qemu = start_guest_with(LG_DIR, NULL, BP_GUEST);
	/* Not planted where no event would take it: the guest would. */
	if ((unseen = int3_unseen(qemu))) {
		stop_guest(qemu);
		SKIP("KVM's #BP intercept does not see this nested guest's INT3 (%u taken by the "
		     "guest, no event): QEMU TCG's nested SVM; selftests/vm/README.md", unseen);
	}
	orig = guest_byte(qemu, BP_GDB);
	ex = start_bg(log, (char *[]){ LIBVMI "/vmi-bp-recoil", LG_NAME, "0x100101", NULL });
	LG_WAIT_LOG(log, file_lines(log, "hit ") >= 20);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, "VMI_ERROR");
	EXPECT_EQ(strstr(out, "VMI_ERROR"), NULL);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	show_first(out, "hit ");
	show_first(out, "restored ");
	EXPECT_GE(count_lines(out, "restored "), 1);
	EXPECT_EQ(guest_byte(qemu, BP_GDB), orig);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* The guest's console command "cpu N V", answered (this time: a new line). */
static void guest_cpu_online(int cpu, int online)
{
	char out[256], cmd[32], done[64];
	unsigned int before;

	snprintf(cmd, sizeof(cmd), "cpu %d %d", cpu, online);
	snprintf(done, sizeof(done), "linux-guest: cpu %d %d done 0", cpu, online);
	before = console_lines(done);
	ASSERT_EQ(RUN(out, "lg-qmp", "-c", LG_DIR "/console.sock", cmd), 0);
	LG_WAIT_UNTIL(console_lines(done) > before);
}

/* CPU @cpu's model name, as the guest's /proc/cpuinfo gives it, in @name. */
static void guest_model(int cpu, char *name, size_t size)
{
	static char con[1 << 20];
	char out[256], cmd[32], tag[64], end[64];
	unsigned int before;
	const char *p, *q;

	snprintf(cmd, sizeof(cmd), "model %d", cpu);
	snprintf(tag, sizeof(tag), "linux-guest: model %d ", cpu);
	snprintf(end, sizeof(end), "linux-guest: model %d end", cpu);
	before = console_lines(end);
	ASSERT_EQ(RUN(out, "lg-qmp", "-c", LG_DIR "/console.sock", cmd), 0);
	LG_WAIT_UNTIL(console_lines(end) > before);
	console(con, sizeof(con));
	/* The answer just before the last "end". */
	q = con;
	for (p = strstr(con, end); p; p = strstr(p + 1, end))
		q = p;
	for (p = q - 1; p > con && strncmp(p, tag, strlen(tag)); p--)
		;
	ASSERT_TRUE(p > con && p < q);
	p += strlen(tag);
	snprintf(name, size, "%.*s", (int)strcspn(p, "\r\n"), p);
}

/*
 * SET_REGISTERS on a CPUID event (contrib/libvmi/tools/vmi-cpuid-reply):
 * the brand string's first four bytes answered "vmio" while CPU 1 comes
 * back on line, which /proc/cpuinfo then shows for it, not for CPU 0;
 * once no one answers, CPU 1's name is its own again.
 */
TEST_TIMEOUT(libvmi_cpuid_answered_with_set_registers, 900)
{
	static char out[1 << 16];
	const char *log = LIBVMI_LOG;
	char model0[128], model1[128];
	pid_t qemu, ex;

	need_libvmi();
	guest_smp = "2";
	qemu = start_guest();
	guest_smp = "1";
	guest_model(0, model0, sizeof(model0));
	printf("CPU 0: %s\n", model0);
	ASSERT_NE(strncmp(model0, "vmio", 4), 0);

	ex = start_bg(log, (char *[]){ LIBVMI "/vmi-cpuid-reply", LG_NAME, NULL });
	LG_WAIT_LOG(log, file_lines(log, "Waiting for events...") >= 1);
	guest_cpu_online(1, 0);
	guest_cpu_online(1, 1);
	LG_WAIT_LOG(log, file_lines(log, "vCPU 1 CPUID 0x80000002: ") >= 1);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, "vCPU 1 CPUID");
	show_first(out, "VMI_ERROR");
	EXPECT_EQ(strstr(out, "VMI_ERROR"), NULL);
	guest_model(1, model1, sizeof(model1));
	printf("CPU 1 while answered: %s\n", model1);
	EXPECT_EQ(strncmp(model1, "vmio", 4), 0);
	EXPECT_STREQ(model1 + 4, model0 + 4);	/* the rest its own */

	guest_cpu_online(1, 0);
	guest_cpu_online(1, 1);
	guest_model(1, model1, sizeof(model1));
	EXPECT_STREQ(model1, model0);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * msr-event-example and descriptor-event-example while the guest takes
 * its second CPU off line and back: the CPU coming up writes its syscall
 * MSRs (STAR, LSTAR, CSTAR, SYSCALL_MASK: LibVMI's MSR_ALL) and loads
 * its GDT, IDT and TR, each an event on vCPU 1.
 */
TEST_TIMEOUT(libvmi_msr_and_descriptor_examples_see_a_cpu_come_online, 900)
{
	static char out[1 << 16];
	const char *log = LIBVMI_LOG;
	static const char *const msrs[] = { "0xc0000081", "0xc0000082", "0xc0000083",
					    "0xc0000084" };
	char want[96];
	unsigned int i;
	pid_t qemu, ex;

	need_libvmi();
	guest_smp = "2";
	qemu = start_guest();
	guest_smp = "1";

	ex = start_bg(log, (char *[]){ LIBVMI "/msr-event-example", LG_NAME, NULL });
	LG_WAIT_LOG(log, file_lines(log, "Waiting for events...") >= 1);
	guest_cpu_online(1, 0);
	guest_cpu_online(1, 1);
	LG_WAIT_LOG(log, file_lines(log, "MSR write happened: MSR=0xc0000084 ") >= 1);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, "MSR write happened");
	for (i = 0; i < sizeof(msrs) / sizeof(msrs[0]); i++) {
		snprintf(want, sizeof(want), "MSR write happened: MSR=%s ", msrs[i]);
		EXPECT_GE(count_lines(out, want), 1);
	}
	EXPECT_EQ(strstr(out, "Failed"), NULL);

	ex = start_bg(log, (char *[]){ LIBVMI "/descriptor-event-example", LG_NAME, NULL });
	LG_WAIT_LOG(log, file_lines(log, "Waiting for events...") >= 1);
	guest_cpu_online(1, 0);
	guest_cpu_online(1, 1);
	LG_WAIT_LOG(log, file_lines(log, "[1] Descriptor event: write access on TR") >= 1);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, "[1] Descriptor event");
	EXPECT_GE(count_lines(out, "[1] Descriptor event: write access on IDTR"), 1);
	EXPECT_GE(count_lines(out, "[1] Descriptor event: write access on GDTR"), 1);
	EXPECT_TRUE(strstr(out, "Statistics:") != NULL);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * mem-event-example: the page vCPU 0 runs made non-executable; each fetch
 * from it an event, the page opened and a step taken, then closed again
 * in the step's callback; the guest runs on after it ends.
 */
TEST_TIMEOUT(libvmi_mem_event_example_traps_fetches_and_steps_past, 900)
{
	static char out[1 << 16];
	unsigned long long gfn = 0, at;
	const char *p;
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	EXPECT_EQ(run_until((char *[]){ LIBVMI "/mem-event-example", LG_NAME, NULL },
			    "mem_cb: at 0x", 5, out, sizeof(out)), 0);
	show_first(out, "Setting X memory event");
	show_first(out, "mem_cb");
	ASSERT_TRUE((p = strstr(out, "Setting X memory event at RIP ")) != NULL);
	ASSERT_TRUE((p = strstr(p, "GFN 0x")) != NULL);
	ASSERT_EQ(sscanf(p, "GFN 0x%llx", &gfn), 1);
	/* Each a fetch from that page. */
	for (p = strstr(out, "mem_cb: at 0x"); p; p = strstr(p + 1, "mem_cb: at 0x")) {
		unsigned long long frame;
		char perm[4];

		ASSERT_EQ(sscanf(p, "mem_cb: at 0x%llx, on frame 0x%llx, permissions: %3s", &at,
				 &frame, perm), 3);
		EXPECT_EQ(frame, gfn);
		EXPECT_STREQ(perm, "__X");
	}
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/*
 * vmi-cpuid (LibVMI's examples/cpuid.c): the guest's programs run CPUID
 * as they start (the C library's feature probe), each an event with the
 * leaf the guest asked for and, as Xen reports them, the results in
 * EAX..EDX; each continued.
 */
TEST_TIMEOUT(libvmi_cpuid_example_sees_the_guests_programs_start, 900)
{
	static char out[1 << 16];
	unsigned int seen0 = 0, seen7 = 0;
	const char *p;
	pid_t qemu;

	need_libvmi();
	qemu = start_guest();
	EXPECT_EQ(run_until((char *[]){ LIBVMI "/vmi-cpuid", "-n", LG_NAME, NULL },
			    "CPUID leaf: 0x0 subleaf: ", 3, out, sizeof(out)), 0);
	show_first(out, "CPUID leaf: 0x0 ");
	show_first(out, "CPUID leaf: 0x7 ");
	/*
	 * Leaf 0's results: the highest basic leaf (7 at least, which the
	 * guest asks for) and the vendor, "AuthenticAMD" or "GenuineIntel".
	 */
	for (p = strstr(out, "CPUID leaf: "); p; p = strstr(p + 1, "CPUID leaf: ")) {
		unsigned long long leaf, sub, eax, ebx, ecx, edx;

		if (!strchr(p, '\n'))
			break;	/* the last line may be cut */
		ASSERT_EQ(sscanf(p, "CPUID leaf: 0x%llx subleaf: 0x%llx EAX: 0x%llx EBX: 0x%llx "
				 "ECX: 0x%llx EDX: 0x%llx", &leaf, &sub, &eax, &ebx, &ecx, &edx), 6);
		if (leaf == 0) {
			EXPECT_GE(eax, 7);
			EXPECT_TRUE((ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163) ||
				    (ebx == 0x756e6547 && edx == 0x49656e69 && ecx == 0x6c65746e));
			seen0++;
		}
		if (leaf == 7 && sub == 0)
			seen7++;
	}
	EXPECT_GE(seen0, 1);
	EXPECT_GE(seen7, 1);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* vCPU @vcpu's TSC_AUX, through a session of the test's own. */
static uint64_t tsc_aux_of(pid_t qemu, unsigned int vcpu)
{
	struct vmiop *v = attach_to(qemu);
	uint64_t aux = 0;

	ASSERT_EQ(vmiop_pause(v), 1);
	EXPECT_EQ(vmiop_get_reg(v, vcpu, VMIOP_REG_TSC_AUX, &aux), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	return aux;
}

/* vmi-msr-reply (contrib/libvmi/tools) on the guest's TSC_AUX writes. */
static void msr_reply(pid_t qemu, char *how, char *value, const char *said)
{
	static char out[1 << 16];
	const char *log = LIBVMI_LOG;
	pid_t ex;

	ex = start_bg(log, (char *[]){ LIBVMI "/vmi-msr-reply", LG_NAME, how, value, NULL });
	LG_WAIT_LOG(log, file_lines(log, "Waiting for events...") >= 1);
	guest_cpu_online(1, 0);
	guest_cpu_online(1, 1);
	LG_WAIT_LOG(log, file_lines(log, said) >= 1);
	EXPECT_EQ(stop_bg(ex, log, out, sizeof(out)), 0);
	show_first(out, said);
	EXPECT_EQ(strstr(out, "Failed"), NULL);
	(void)qemu;
}

/*
 * LibVMI's register-event responses on vmiop: a callback's new value is
 * what the MSR gets, DENY leaves it as it was.  CPU 1 coming back on line
 * writes its TSC_AUX (its number, 1); vmiop's own read of vCPU 1 tells
 * what the write did.  Without LibVMI the next one puts 1 back.
 */
TEST_TIMEOUT(libvmi_msr_write_replaced_and_denied, 900)
{
	pid_t qemu;

	need_libvmi();
	guest_smp = "2";
	qemu = start_guest();
	guest_smp = "1";
	EXPECT_EQ(tsc_aux_of(qemu, 1), 1);

	msr_reply(qemu, "set", "0x77",
		  "vCPU 1 writes MSR 0xc0000103 = 0x1 (was 0x1): replaced");
	EXPECT_EQ(tsc_aux_of(qemu, 1), 0x77);

	msr_reply(qemu, "deny", NULL, "vCPU 1 writes MSR 0xc0000103 = 0x1 (was 0x77): denied");
	EXPECT_EQ(tsc_aux_of(qemu, 1), 0x77);

	guest_cpu_online(1, 0);
	guest_cpu_online(1, 1);
	EXPECT_EQ(tsc_aux_of(qemu, 1), 1);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

/* ---- the #VE agent in a Linux guest that never heard of it ---- */

static void expect_guest_healthy(const char *dir);

#define VE_OUT "/tmp/vmiop-ve.out"

/*
 * vmiop -l ve in a child of its own, writing to VE_OUT, until SIGINT: on
 * the page tables of @sleeper, which stay page tables as long as the guest
 * runs.  Those of a process that exits go back to the allocator while
 * convertible, and each page the guest then clears (REP STOSQ, which the
 * agent does not decode) costs an event per iteration; and every walk of
 * a busy process's tables (pid 1, the shell that forks for each
 * heartbeat) through a write-restricted page is an event too: correct,
 * and minutes of nested emulation.
 */
static pid_t start_ve(const char *qemu, const char *sleeper)
{
	char *argv[] = { "vmiop", "-l", "-p", (char *)qemu, "ve", "100000", (char *)sleeper, NULL };
	pid_t pid;
	int fd;

	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		fd = open(VE_OUT, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		exit(vmiop_cli_main(7, argv));
	}
	return pid;
}

static const char *ve_output(void)
{
	static char buf[16384];
	size_t n = 0;
	FILE *f = fopen(VE_OUT, "r");

	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* @pid, a child, has exited: *@status. */
static bool exited(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

/*
 * vmiop ve: the agent goes into the running guest (gate 20, a mapping in
 * every process's page tables, the session's own memory), every process's
 * page tables are convertible, and the guest runs processes as before
 * while the agent takes their page-table writes; then all of it goes.
 */
TEST_TIMEOUT(linux_guest_takes_the_agent_while_it_runs_processes, 900)
{
	static struct proc_list before, during, after;
	unsigned long long ve = 0, absorbed = 0, raised = 0, walks = 0, breaks = 0, other = 0;
	static char con[1 << 20];
	char qemu_pid[16], sleeper_pid[16], cmd[64];
	pid_t qemu = start_guest(), cli;
	int i, sleeper = 0, status = -1;
	const char *out, *total;

	guest_ps(11, &before);
	for (i = 0; i < before.n; i++)
		if (!strcmp(before.p[i].comm, "lg-sleeper"))
			sleeper = before.p[i].pid;
	ASSERT_GT(sleeper, 1);
	snprintf(qemu_pid, sizeof(qemu_pid), "%d", (int)qemu);
	snprintf(sleeper_pid, sizeof(sleeper_pid), "%d", sleeper);
	cli = start_ve(qemu_pid, sleeper_pid);
	LG_WAIT_UNTIL(strstr(ve_output(), "convertible\n") || exited(cli, &status));
	ASSERT_EQ(status, -1);
	/* Accessed bits cleared: what the agent lets through in the guest. */
	snprintf(cmd, sizeof(cmd), "clear_refs %d", sleeper);
	ASSERT_EQ(RUN(con, "lg-qmp", "-c", LG_DIR "/console.sock", cmd), 0);
	snprintf(cmd, sizeof(cmd), "linux-guest: clear_refs %d done 0", sleeper);
	LG_WAIT_UNTIL(console(con, sizeof(con)) && strstr(con, cmd));
	/* The guest forks and reads /proc for each listing: page-table writes. */
	guest_ps(12, &during);
	EXPECT_EQ(strstr(ve_output(), "stopping"), NULL);
	ASSERT_EQ(kill(cli, SIGINT), 0);
	LG_WAIT_UNTIL(exited(cli, &status));
	out = ve_output();
	printf("%s", out);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	EXPECT_TRUE(strstr(out, "agent at 0xfffffe") != NULL);	/* below cpu_entry_area */
	ASSERT_TRUE((total = strstr(out, "total: ")) != NULL);
	ASSERT_EQ(sscanf(total, "total: ve %llu absorbed %llu; raised %llu (events), page walks "
			 "%llu (events), breaks %llu, other %llu", &ve, &absorbed, &raised, &walks,
			 &breaks, &other), 6);
	EXPECT_GT(ve, 0);
	EXPECT_GT(absorbed, 0);
	/* Each #VE absorbed, or raised as the one event it would have been. */
	EXPECT_LE(absorbed + raised, ve);
	EXPECT_EQ(other, 0);
	EXPECT_TRUE(strstr(out, "unknown cpu 0,") != NULL);
	EXPECT_TRUE(strstr(out, "uninstalled\n") != NULL);
	/* The guest listed its processes meanwhile, and goes on doing so. */
	EXPECT_TRUE(proc_find(&during, 1) != NULL);
	EXPECT_TRUE(proc_find(&during, sleeper) != NULL);
	guest_ps(13, &after);
	EXPECT_TRUE(proc_find(&after, sleeper) != NULL);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	expect_guest_healthy(LG_DIR);
	show_console_at(LG_DIR, "BUG:");
	stop_guest(qemu);
}

/* ---- QEMU and a session at once ---- */

/* "info registers" through QMP: RIP and CR3 of the first vCPU. */
static void qemu_regs(uint64_t *rip, uint64_t *cr3)
{
	static char out[65536];
	const char *p;

	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"human-monitor-command\","
		      "\"arguments\":{\"command-line\":\"info registers\"}}"), 0);
	p = strstr(out, "RIP=");
	ASSERT_TRUE(p != NULL);
	*rip = strtoull(p + 4, NULL, 16);
	p = strstr(out, "CR3=");
	ASSERT_TRUE(p != NULL);
	*cr3 = strtoull(p + 4, NULL, 16);
}

/* QEMU's own idea of its run state: "running", "paused", ... */
static void qemu_status(char *status, size_t size)
{
	char out[4096];
	const char *p;

	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"query-status\"}"), 0);
	p = strstr(out, "\"status\": \"");
	ASSERT_TRUE(p != NULL);
	p += strlen("\"status\": \"");
	snprintf(status, size, "%.*s", (int)strcspn(p, "\""), p);
}

#define EXPECT_QEMU_STATUS(want) do {						\
	char __s[64];								\
	qemu_status(__s, sizeof(__s));						\
	EXPECT_STREQ(__s, want);						\
} while (0)

/*
 * QEMU's monitor reads a vCPU by asking its thread, which vmiop holds:
 * the thread must leave for QEMU's signal, answer, and park again.
 */
TEST_TIMEOUT(qemu_monitor_answers_while_vmiop_holds_the_vm_paused, 900)
{
	pid_t qemu = start_guest();
	struct vmiop_regs regs, again;
	uint64_t rip, cr3;
	unsigned long hb;
	struct vmiop *v;
	int i;

	v = attach_to(qemu);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	hb = last_heartbeat();
	for (i = 0; i < 3; i++) {
		EXPECT_QEMU_STATUS("running");	/* QEMU does not know */
		qemu_regs(&rip, &cr3);
		EXPECT_EQ(rip, regs.rip);
		EXPECT_EQ(cr3, regs.cr3);
	}
	/* What QEMU read it wrote back unchanged, and the guest stood still. */
	ASSERT_EQ(vmiop_get_regs(v, 0, &again), 0);
	EXPECT_EQ(again.rip, regs.rip);
	EXPECT_EQ(memcmp(&again, &regs, sizeof(regs)), 0);
	EXPECT_EQ(last_heartbeat(), hb);
	ASSERT_EQ(vmiop_resume(v), 0);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	vmiop_close(v);
	stop_guest(qemu);
}

/*
 * A vCPU waits for the reply to a CR3 write: QEMU's monitor reads it as
 * the event shows it, before the write (the instruction has not run).
 */
TEST_TIMEOUT(qemu_monitor_answers_while_a_vcpu_waits_on_an_event, 900)
{
	pid_t qemu = start_guest();
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	uint64_t rip, cr3;
	struct vmiop *v;
	int i;

	v = attach_to(qemu);
	ring = watch_cr3(v, false);
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	ASSERT_EQ(ev->type, VMIOP_EVENT_CR);
	printf("CR3 write at rip 0x%llx: 0x%llx -> 0x%llx\n", (unsigned long long)ev->regs.rip,
	       (unsigned long long)ev->cr.old_value, (unsigned long long)ev->cr.new_value);
	for (i = 0; i < 3; i++) {
		qemu_regs(&rip, &cr3);
		EXPECT_EQ(rip, ev->regs.rip);
		EXPECT_EQ(cr3, ev->cr.old_value);
	}
	/* No second event: the same write waits for its one reply. */
	EXPECT_EQ(vmiop_ring_ready(ring), 1);
	ASSERT_EQ(vmiop_event_continue(v, ev), 0);
	vmiop_ring_advance(ring, 1);
	ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_CR, -1), 0);
	/* The write took effect: the guest runs on, and so does QEMU. */
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	EXPECT_QEMU_STATUS("running");
	vmiop_close(v);
	stop_guest(qemu);
}

/* QEMU's stop/cont and vmiop's pause/resume: each holds the guest alone. */
TEST_TIMEOUT(qemu_stop_and_vmiop_pause_nest_either_way, 900)
{
	pid_t qemu = start_guest();
	char out[4096];
	unsigned long hb;
	struct vmiop *v;

	v = attach_to(qemu);

	/* stop, pause, cont: vmiop still holds it; resume lets it go. */
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"stop\"}"), 0);
	EXPECT_QEMU_STATUS("paused");
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"cont\"}"), 0);
	EXPECT_QEMU_STATUS("running");
	hb = last_heartbeat();
	vt_msleep(3000);
	EXPECT_EQ(last_heartbeat(), hb);
	ASSERT_EQ(vmiop_resume(v), 0);
	EXPECT_GUEST_RUNS_ON(LG_DIR);

	/* pause, stop, resume: QEMU still holds it; cont lets it go. */
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"stop\"}"), 0);
	EXPECT_QEMU_STATUS("paused");
	ASSERT_EQ(vmiop_resume(v), 0);
	hb = last_heartbeat();
	vt_msleep(3000);
	EXPECT_EQ(last_heartbeat(), hb);
	EXPECT_QEMU_STATUS("paused");
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"cont\"}"), 0);
	EXPECT_GUEST_RUNS_ON(LG_DIR);

	vmiop_close(v);
	stop_guest(qemu);
}

/* QMP query-migrate's "status", until it is no longer active. */
static void wait_migration(char *status, size_t size)
{
	static char out[65536];
	const char *p;

	for (;;) {
		ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"query-migrate\"}"), 0);
		p = strstr(out, "\"status\": \"");
		ASSERT_TRUE(p != NULL);
		p += strlen("\"status\": \"");
		snprintf(status, size, "%.*s", (int)strcspn(p, "\""), p);
		if (strcmp(status, "setup") && strcmp(status, "active") &&
		    strcmp(status, "device") && strcmp(status, "pre-switchover"))
			return;
		vt_msleep(200);
	}
}

/*
 * A migration to a file while a session is attached and a vCPU waits on
 * an event nobody answers: QEMU stops the vCPU (it leaves the wait, the
 * write not done), saves it, and a second QEMU restores it and runs it,
 * the CR3 write redone there.  The first QEMU's session then reports the
 * VM gone.
 */
TEST_TIMEOUT(migration_to_a_file_while_attached_restores_in_a_second_qemu, 900)
{
	const char *state = "/tmp/linux-guest.state";
	static char con[1 << 20];
	pid_t qemu = start_guest(), qemu2;
	struct vmiop_ring *ring;
	char out[4096], status[64];
	unsigned long hb;
	struct vmiop *v;

	unlink(state);
	v = attach_to(qemu);
	ring = watch_cr3(v, false);
	ASSERT_TRUE(vt_next_event(v, ring) != NULL);
	hb = last_heartbeat();

	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"migrate\",\"arguments\":"
		      "{\"uri\":\"exec:cat >/tmp/linux-guest.state\"}}"), 0);
	wait_migration(status, sizeof(status));
	ASSERT_STREQ(status, "completed");
	EXPECT_QEMU_STATUS("postmigrate");
	ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"quit\"}"), 0);
	LG_WAIT_UNTIL(vm_gone(v));
	EXPECT_EQ(vmiop_pause(v), -ESRCH);
	vmiop_close(v);

	qemu2 = start_guest_in(LG_DIR2, state);
	/* It goes on from where it was saved, not from a new boot. */
	console_of(LG_DIR2, con, sizeof(con));
	EXPECT_EQ(strstr(con, "linux-guest: init"), NULL);
	EXPECT_GE(last_heartbeat_of(LG_DIR2), hb);
	EXPECT_GUEST_RUNS_ON(LG_DIR2);
	stop_guest(qemu2);
	unlink(state);
}

/* The guest's kernel says nothing of a crash or a lockup. */
static void expect_guest_healthy(const char *dir)
{
	static char con[1 << 20];

	console_of(dir, con, sizeof(con));
	EXPECT_EQ(strstr(con, "Oops"), NULL);
	EXPECT_EQ(strstr(con, "BUG:"), NULL);
	EXPECT_EQ(strstr(con, "Kernel panic"), NULL);
}

/*
 * QEMU exits, asked (quit) or killed, while a vCPU waits on an event and
 * the session is attached: it goes, and the session says the VM is gone.
 * The test VM's kernel log is checked for oopses and warnings by the rig.
 */
static void exit_while_waiting(bool kill9)
{
	pid_t qemu = start_guest();
	struct vmiop_ring *ring;
	struct vmiop_regs regs;
	char out[4096];
	struct vmiop *v;

	v = attach_to(qemu);
	ring = watch_cr3(v, true);
	ASSERT_TRUE(vt_next_event(v, ring) != NULL);
	if (kill9)
		ASSERT_EQ(kill(qemu, SIGKILL), 0);
	else
		ASSERT_EQ(QMP(out, LG_DIR, "{\"execute\":\"quit\"}"), 0);
	LG_WAIT_UNTIL(vm_gone(v));
	EXPECT_EQ(vmiop_pause(v), -ESRCH);
	EXPECT_EQ(vmiop_get_regs(v, 0, &regs), -ESRCH);
	EXPECT_EQ(vmiop_event_continue(v, vmiop_ring_peek(ring)), -ESRCH);
	vmiop_close(v);
	expect_guest_healthy(LG_DIR);
}

TEST_TIMEOUT(qemu_quit_while_a_vcpu_waits_on_an_event, 900)
{
	exit_while_waiting(false);
}

TEST_TIMEOUT(qemu_killed_while_a_vcpu_waits_on_an_event, 900)
{
	exit_while_waiting(true);
}

/* ---- QEMU's gdbstub and vmiop's INT3 events ---- */

/* A minimal gdb remote-protocol client on QEMU's gdbstub socket. */
static int gdb_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = LG_DIR "/gdb.sock" };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static char gdb_getc(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	/* Generous: a stop can take a while under emulation. */
	ASSERT_EQ(poll(&p, 1, 300 * 1000), 1);
	ASSERT_EQ(read(fd, &c, 1), 1);
	return c;
}

/* The next packet's payload into @buf (acknowledged). */
static void gdb_recv(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char c;

	while ((c = gdb_getc(fd)) != '$')
		;	/* '+' acks of what we sent */
	while ((c = gdb_getc(fd)) != '#') {
		ASSERT_LT(n, size - 1);
		buf[n++] = c;
	}
	buf[n] = '\0';
	gdb_getc(fd);
	gdb_getc(fd);	/* the checksum, not checked: a local socket */
	ASSERT_EQ(write(fd, "+", 1), 1);
}

static void gdb_send(int fd, const char *payload)
{
	char pkt[256];
	unsigned int sum = 0;
	const char *p;

	for (p = payload; *p; p++)
		sum += (unsigned char)*p;
	snprintf(pkt, sizeof(pkt), "$%s#%02x", payload, sum & 0xff);
	ASSERT_EQ(write(fd, pkt, strlen(pkt)), (ssize_t)strlen(pkt));
}

/* A command and its reply. */
static void gdb_cmd(int fd, const char *payload, char *reply, size_t size)
{
	gdb_send(fd, payload);
	gdb_recv(fd, reply, size);
}

/* vCPU 0's RIP, read by vmiop (with a pause of its own). */
static uint64_t vmiop_rip(struct vmiop *v)
{
	struct vmiop_regs r;

	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &r), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	return r.rip;
}

/*
 * QEMU's gdbstub and vmiop both want the guest's INT3s.  vmiop alone gets
 * them as BREAKPOINT events; while gdb has a breakpoint in, QEMU's
 * KVM_GUESTDBG_USE_SW_BP takes every INT3 (the guest's own ones QEMU gives
 * back to the guest) and vmiop sends none (the README's "Intercepts"); gdb
 * stops where it should, vmiop reads the vCPU where gdb stopped it; once
 * gdb detaches, vmiop's events come again.
 */
TEST_TIMEOUT(qemu_gdbstub_and_vmiop_breakpoint_events_share_int3, 900)
{
	pid_t qemu = start_guest_with(LG_DIR, NULL, BP_GUEST);
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	uint32_t before, at_stop, int3s;
	char reply[4096], cmd[64];
	struct vmiop_regs regs;
	struct vmiop *v;
	int i, gdb;

	v = attach_to(qemu);
	ASSERT_TRUE((ring = vt_ring_setup(v, 64)) != NULL);

	/*
	 * vmiop alone.  Under QEMU TCG's nested SVM, KVM's own #BP intercept
	 * never sees a nested guest's INT3 (selftests/vmiop/events_breakpoint.c
	 * probes the same): while no event has come the guest's handler
	 * keeps counting, which tells the two apart without a clock.
	 */
	before = bp_count(v);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
	while (!vmiop_ring_ready(ring) && bp_count(v) < before + 3000)
		vmiop_event_wait(v, 100);
	if (!vmiop_ring_ready(ring))
		SKIP("KVM's #BP intercept does not see this nested guest's INT3 (%u taken by "
		     "the guest, no event): QEMU TCG's nested SVM", bp_count(v) - before);
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_BREAKPOINT);
		EXPECT_EQ(ev->breakpoint.gva, BP_SITE);
		EXPECT_EQ(ev->regs.rip, BP_SITE);
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);	/* the guest's to take */
		vmiop_ring_advance(ring, 1);
	}
	/* Events keep coming; gdb's connection stops the VM whatever waits. */

	/*
	 * A gdb connecting stops the VM, and QEMU says so with a stop packet
	 * of its own ("T02"): a query with another kind of answer finds the
	 * end of what it sent.
	 */
	gdb = gdb_connect();
	gdb_send(gdb, "qAttached");
	do {
		gdb_recv(gdb, reply, sizeof(reply));
		printf("gdb: connected, QEMU says %s\n", reply);
	} while (reply[0] == 'T' || reply[0] == 'S');
	EXPECT_STREQ(reply, "1");
	EXPECT_QEMU_STATUS("paused");
	/* The one left waiting is answered now: nothing runs until gdb says. */
	while ((ev = vmiop_ring_peek(ring))) {
		ASSERT_EQ(vmiop_event_continue(v, ev), 0);
		vmiop_ring_advance(ring, 1);
	}
	snprintf(cmd, sizeof(cmd), "Z0,%llx,1", BP_GDB);
	gdb_cmd(gdb, cmd, reply, sizeof(reply));
	ASSERT_STREQ(reply, "OK");
	gdb_cmd(gdb, "c", reply, sizeof(reply));
	printf("gdb: stopped: %s\n", reply);
	ASSERT_EQ(reply[0], 'T');
	EXPECT_EQ(vmiop_rip(v), BP_GDB);

	/*
	 * From gdb's breakpoint to one at the heartbeat, with vmiop's
	 * BREAKPOINT events still enabled: the guest's own INT3s in between
	 * (counted by its RBP: a heartbeat when it reaches a multiple of
	 * 1024) go through QEMU back to the guest, each once, none to vmiop.
	 */
	at_stop = bp_count(v);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	int3s = 1024 - (uint32_t)(regs.rbp % 1024) - 1;
	snprintf(cmd, sizeof(cmd), "z0,%llx,1", BP_GDB);
	gdb_cmd(gdb, cmd, reply, sizeof(reply));
	ASSERT_STREQ(reply, "OK");
	snprintf(cmd, sizeof(cmd), "Z0,%llx,1", HB_SITE);
	gdb_cmd(gdb, cmd, reply, sizeof(reply));
	ASSERT_STREQ(reply, "OK");
	gdb_cmd(gdb, "c", reply, sizeof(reply));
	printf("gdb: stopped: %s\n", reply);
	ASSERT_EQ(reply[0], 'T');
	EXPECT_EQ(vmiop_rip(v), HB_SITE);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	EXPECT_EQ(bp_count(v), at_stop + int3s);
	printf("%u INT3s of the guest's own went through QEMU back to it\n", int3s);

	/* gdb goes (its breakpoints with it): vmiop's events are back. */
	snprintf(cmd, sizeof(cmd), "z0,%llx,1", HB_SITE);
	gdb_cmd(gdb, cmd, reply, sizeof(reply));
	gdb_cmd(gdb, "D", reply, sizeof(reply));
	EXPECT_STREQ(reply, "OK");
	close(gdb);
	EXPECT_QEMU_STATUS("running");
	ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
	EXPECT_EQ(ev->type, VMIOP_EVENT_BREAKPOINT);
	EXPECT_EQ(ev->breakpoint.gva, BP_SITE);
	vmiop_close(v);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	stop_guest(qemu);
}

static const char *module_path(void)
{
	const char *p = getenv("VMIOP_KO");

	return p ? p : "/modules/vmiop.ko";
}

/*
 * A session with everything on (events, a pause) ends, then the module
 * goes: the guest and QEMU run on, and the module comes back for the
 * tests after this one.
 */
TEST_TIMEOUT(detach_and_rmmod_leave_qemu_and_the_guest_running, 900)
{
	pid_t qemu = start_guest();
	struct vmiop_ring *ring;
	struct vmiop *v;
	int fd, ret;

	v = attach_to(qemu);
	ring = watch_cr3(v, true);
	ASSERT_TRUE(vt_next_event(v, ring) != NULL);	/* one left unanswered */
	ASSERT_EQ(vmiop_pause(v), 1);
	vmiop_close(v);
	EXPECT_GUEST_RUNS_ON(LG_DIR);

	ASSERT_EQ(syscall(SYS_delete_module, "vmiop", O_NONBLOCK), 0);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	EXPECT_GUEST_RUNS_ON(LG_DIR);
	EXPECT_QEMU_STATUS("running");
	expect_guest_healthy(LG_DIR);

	fd = open(module_path(), O_RDONLY | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	ASSERT_EQ(ret, 0);
	stop_guest(qemu);
}

VMTEST_MAIN()
