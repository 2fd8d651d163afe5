// SPDX-License-Identifier: MIT
/*
 * vmiop: command-line introspection of a running KVM guest.
 *
 *   vmiop -p PID|-i ID|-n NAME info | memmap | regs [VCPU] | read GPA LEN |
 *                write GPA HEXBYTES | translate GVA [VCPU] | pause-for SECS |
 *                events TYPE[,TYPE...]|all [COUNT] | ...
 *   vmiop list | id NAME | name ID [NEWNAME] | monitor [COUNT]
 *   vmiop --help | --version | COMMAND -h
 *
 * On failure it prints one line saying what failed and why, and exits 1
 * (2 for a command line it does not understand).  man/vmiop.1 documents it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvmiop.h>
#include <linux/vmiop_ve.h>
#include "agent_plan.h"	/* the page-table entry bits */
#include "kallsyms.h"
#include "linux.h"

static const char *prog = "vmiop";

/* -DVMIOP_VERSION="..." from the Makefile: the one version of the project. */
#ifndef VMIOP_VERSION
#define VMIOP_VERSION "unknown"
#endif

/* Where a command applies. */
#define CMD_VMLESS	(1u << 0)	/* about the host's VMs: no -p, -i, -n, no session */
#define CMD_OSI		(1u << 1)	/* reads the guest's Linux from its own BTF and kallsyms */

/*
 * The commands, as usage() and "vmiop COMMAND -h" print them (and as
 * scripts/check-man.sh finds them for man/vmiop.1): the name, its
 * arguments, lines of help, and with @l_help what -l does to it.
 */
struct command {
	const char *name;
	const char *args;
	int min_args, max_args;		/* max_args -1: no limit */
	const char *help;
	unsigned int flags;
	const char *l_help;
};

static const struct command commands[] = {
	{ "info", "", 0, 0, "vendor, vCPUs, pauses, features", 0, NULL },
	{ "memmap", "", 0, 0, "guest-physical memory map", 0, NULL },
	{ "regs", "[VCPU]", 0, 1, "registers (the VM is paused meanwhile)", 0, NULL },
	{ "read", "GPA LEN", 2, 2, "hex dump of guest-physical memory", 0, NULL },
	{ "write", "GPA HEXBYTES", 2, 2, "write guest-physical memory", 0, NULL },
	{ "translate", "GVA [VCPU]", 1, 2, "guest-virtual to guest-physical", 0, NULL },
	{ "pause-for", "SECONDS", 1, 1, "pause the VM, wait, resume", 0, NULL },
	{ "events", "TYPES [COUNT]", 1, 2,
	  "log events (cpuid,hypercall,... or all) until\n"
	  "COUNT were seen or SIGINT/SIGTERM; the guest\n"
	  "runs on as if unobserved.  cr+reads, msr+reads:\n"
	  "reads too; cr+changes: writes that change it", 0,
	  "name the process each CR3 write switches to\n"
	  "(a Linux guest, as for ps)" },
	{ "linux", "", 0, 0, "the guest kernel: banner, KASLR slide, BTF, symbols", CMD_OSI,
	  NULL },
	{ "ps", "", 0, 0, "the guest's processes (and what each vCPU runs)", CMD_OSI, NULL },
	{ "sym", "NAME", 1, 1, "a guest kernel symbol's address", CMD_OSI, NULL },
	{ "libvmi-config", "NAME [SYSMAP]", 1, 2,
	  "LibVMI's configuration entry NAME for\n"
	  "the guest (its offsets from the kernel's BTF);\n"
	  "with SYSMAP, its symbols written there", CMD_OSI, NULL },
	{ "ve", "SECONDS [PID...]", 1, -1,
	  "install the #VE agent, make the page tables of\n"
	  "what each vCPU runs (-l: of the processes\n"
	  "PID..., or all) convertible, let the guest\n"
	  "run, print what each vCPU's agent did, and take\n"
	  "it all back", 0,
	  "the page tables of the guest's processes PID...\n"
	  "(all without PID), not what each vCPU runs" },
	{ "list", "", 0, 0, "ID NAME PID UID COMMAND VCPUS MEMORY VENDOR SESSION", CMD_VMLESS,
	  NULL },
	{ "id", "NAME", 1, 1, "the id of the VM named NAME", CMD_VMLESS, NULL },
	{ "name", "ID [NEWNAME]", 1, 2,
	  "the name of VM ID; with NEWNAME, name VM ID\n"
	  "(\"\": take its name away)", CMD_VMLESS, NULL },
	{ "monitor", "[COUNT]", 0, 1,
	  "one line per VM created, destroyed, renamed,\n"
	  "attached to, detached from, until COUNT of\n"
	  "them or SIGINT/SIGTERM", CMD_VMLESS, NULL },
};

/* The options, as usage() prints them (and scripts/check-man.sh finds them). */
static const struct {
	const char *opt;
	const char *help;
} options[] = {
	{ "-p PID", "the VM of process PID (it must have one VM)" },
	{ "-i ID", "the VM with vmiop id ID (vmiop list)" },
	{ "-n NAME", "the VM named NAME (its VMM's -name, or one\n"
		     "given with vmiop name); exactly one of -p, -i, -n" },
	{ "-r", "read-only session: reads, pauses and events\n"
		"work; nothing of the guest can be written" },
	{ "-l", "events: name the process each CR3 write\n"
		"switches to (a Linux guest, as for ps);\n"
		"ve: the page tables of processes" },
	{ "-h, --help", "this help; after a COMMAND, that command's usage" },
	{ "--version", "the version of vmiop" },
};

/* "  WORD   help", the help's further lines under its first one. */
static void print_item(FILE *f, const char *word, const char *args, const char *help)
{
	char head[64];
	int n;

	n = snprintf(head, sizeof(head), "%s%s%s", word, *args ? " " : "", args);
	fprintf(f, "  %-22s", head);
	if (n > 22)
		fprintf(f, " ");
	fprintf(f, " ");
	for (; *help; help++) {
		fputc(*help, f);
		if (*help == '\n')
			fprintf(f, "%25s", "");
	}
	fprintf(f, "\n");
}

/* The commands that read the guest's Linux (CMD_OSI): what they need. */
static void print_osi_note(FILE *f, bool all)
{
	print_item(f, "", "", all ? "(these four need no profile: the guest kernel's\n"
				    "own BTF and kallsyms; the VM is paused meanwhile)" :
				    "(needs no profile: the guest kernel's own BTF\n"
				    "and kallsyms; the VM is paused meanwhile)");
}

static void print_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: %s [-r] [-l] -p PID|-i ID|-n NAME COMMAND [ARGS]\n"
		"       %s list | id NAME | name ID [NEWNAME] | monitor [COUNT]\n"
		"       %s --help | --version | COMMAND -h\n", prog, prog, prog);
	for (i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		print_item(f, options[i].opt, "", options[i].help);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];

		if (c->flags & CMD_VMLESS && (!i || !(commands[i - 1].flags & CMD_VMLESS)))
			fprintf(f, "without a VM (the host's VMs you may introspect; all, as root):\n");
		print_item(f, c->name, c->args, c->help);
		if (c->flags & CMD_OSI && (i + 1 == sizeof(commands) / sizeof(commands[0]) ||
					   !(commands[i + 1].flags & CMD_OSI)))
			print_osi_note(f, true);
	}
	fprintf(f, "man vmiop: the options, the commands and what each prints\n");
}

/* The usage line of one command. */
static void print_command_synopsis(FILE *f, const struct command *c)
{
	fprintf(f, "usage: %s %s%s%s%s\n", prog,
		c->flags & CMD_VMLESS ? "" : c->l_help ? "[-r] [-l] -p PID|-i ID|-n NAME " :
		"[-r] -p PID|-i ID|-n NAME ", c->name, *c->args ? " " : "", c->args);
}

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* vmiop COMMAND -h: that command's lines. */
static void command_help(const struct command *c)
{
	print_command_synopsis(stdout, c);
	print_item(stdout, c->name, c->args, c->help);
	if (c->l_help)
		print_item(stdout, "-l", "", c->l_help);
	if (c->flags & CMD_OSI)
		print_osi_note(stdout, false);
	exit(0);
}

/* A command line with no command: the whole usage, on stderr. */
static void usage(void)
{
	print_usage(stderr);
	exit(2);
}

/* A command with arguments it does not take: one line, with its usage. */
static void bad_arguments(const struct command *c)
{
	fprintf(stderr, "%s: %s: wrong arguments; ", prog, c->name);
	print_command_synopsis(stderr, c);
	exit(2);
}

/* -r: the session was opened read-only. */
static bool read_only;

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(-err));
	exit(1);
}

static uint64_t parse_u64(const char *s, const char *what)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || end == s) {
		fprintf(stderr, "%s: bad %s: '%s'\n", prog, what, s);
		exit(2);
	}
	return v;
}

static const char *vendor_name(uint32_t vendor)
{
	return vendor == VMIOP_VENDOR_AMD ? "AMD SVM/NPT" :
	       vendor == VMIOP_VENDOR_INTEL ? "Intel VMX/EPT" : "unknown";
}

static void cmd_info(struct vmiop *v)
{
	struct vmiop_vm_info info;
	struct vmiop_api api;
	int ret;

	if ((ret = vmiop_get_api(v, &api)))
		die("query the module", ret);
	if ((ret = vmiop_vm_info(v, &info)))
		die("query the VM", ret);
	printf("vendor      %s\n", vendor_name(info.vendor));
	printf("vcpus       %u\n", info.nr_vcpus);
	printf("vmm pid     %d\n", info.vmm_pid);
	printf("vm id       %" PRIu64 "\n", (uint64_t)info.vm_id);
	printf("maxphyaddr  %u\n", info.maxphyaddr);
	printf("pauses      %u\n", info.pause_count);
	printf("features    0x%" PRIx64 "\n", (uint64_t)api.features);
}

static void cmd_memmap(struct vmiop *v)
{
	struct vmiop_memmap_entry *e;
	int n, i;

	n = vmiop_get_memmap(v, &e);
	if (n < 0)
		die("read the memory map", n);
	for (i = 0; i < n; i++)
		printf("%016" PRIx64 "-%016" PRIx64 " %s\n", (uint64_t)e[i].addr,
		       (uint64_t)(e[i].addr + e[i].size - 1),
		       e[i].type == VMIOP_E820_ROM ? "rom" : "ram");
	free(e);
}

static void print_regs(const struct vmiop_regs *r)
{
	const uint64_t *slot = (const uint64_t *)r;
	unsigned int id;

	for (id = 0; id < VMIOP_NR_REGS; id++)
		printf("%-14s 0x%016" PRIx64 "%s", vmiop_reg_name(id), slot[id],
		       id % 3 == 2 ? "\n" : "   ");
	if (VMIOP_NR_REGS % 3)
		printf("\n");
}

static void cmd_regs(struct vmiop *v, unsigned int vcpu)
{
	struct vmiop_regs r;
	int ret;

	if ((ret = vmiop_pause(v)) < 0)
		die("pause the VM", ret);
	ret = vmiop_get_regs(v, vcpu, &r);
	vmiop_resume(v);
	if (ret)
		die("read the registers", ret);
	print_regs(&r);
}

/* ---- the guest's Linux, from its own BTF and kallsyms (osi/) ---- */

static int read_pa_cb(void *ctx, uint64_t pa, void *buf, size_t len)
{
	return vmiop_read_pa(ctx, pa, buf, len);
}

/*
 * Pauses the VM and finds its Linux kernel; the caller resumes.  @cpus
 * gets every vCPU's registers (at most 64).
 */
static unsigned int open_linux(struct vmiop *v, struct osi_linux *l, struct osi_cpu *cpus)
{
	struct vmiop_vm_info info;
	char why[256];
	unsigned int i, n;
	int ret;

	if ((ret = vmiop_vm_info(v, &info)))
		die("query the VM", ret);
	if ((ret = vmiop_pause(v)) < 0)
		die("pause the VM", ret);
	n = info.nr_vcpus < 64 ? info.nr_vcpus : 64;
	for (i = 0; i < n; i++) {
		struct vmiop_regs r;

		if ((ret = vmiop_get_regs(v, i, &r))) {
			vmiop_resume(v);
			die("read the registers", ret);
		}
		cpus[i].cr3 = r.cr3;
		cpus[i].gs_base = r.gs.base;
		cpus[i].kernel_gs_base = r.kernel_gs_base;
		cpus[i].cpl = (r.cs.attr >> 5) & 3;
		cpus[i].la57 = r.cr4 & (1u << 12);
	}
	ret = osi_linux_open(l, read_pa_cb, v, cpus, n, info.maxphyaddr, why, sizeof(why));
	if (ret) {
		vmiop_resume(v);
		fprintf(stderr, "%s: no Linux kernel understood in the guest: %s\n", prog, why);
		exit(1);
	}
	return n;
}

/* Guest strings are the guest's to choose: nothing but printable ASCII goes out. */
static void print_guest_string(const char *s, size_t max)
{
	size_t i;

	for (i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			putchar(c);
		else
			printf("\\x%02x", c);
	}
}

static void cmd_linux(struct vmiop *v)
{
	struct osi_cpu cpus[64];
	struct osi_linux l;

	open_linux(v, &l, cpus);
	vmiop_resume(v);
	printf("banner      ");
	print_guest_string(l.banner[0] ? l.banner : "(linux_banner not readable)",
			   sizeof(l.banner));
	printf("\n");
	printf("_text       0x%016" PRIx64 "\n", l.text);
	printf("kaslr slide %s0x%" PRIx64 "\n", osi_linux_kaslr_slide(&l) < 0 ? "-" : "",
	       (uint64_t)(osi_linux_kaslr_slide(&l) < 0 ? -osi_linux_kaslr_slide(&l) :
			  osi_linux_kaslr_slide(&l)));
	printf("btf         0x%016" PRIx64 ", %zu bytes\n", l.btf_va, l.btf_size);
	printf("kallsyms    %u symbols\n", kallsyms_count(l.ks));
	osi_linux_close(&l);
}

struct task_list {
	struct osi_task *t;
	size_t n, cap;
};

/* Collected while the VM is paused, printed after it resumed. */
static int collect_task(void *ctx, const struct osi_task *t)
{
	struct task_list *tl = ctx;

	if (tl->n == tl->cap) {
		size_t cap = tl->cap ? 2 * tl->cap : 256;
		struct osi_task *grown = realloc(tl->t, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		tl->t = grown;
		tl->cap = cap;
	}
	tl->t[tl->n++] = *t;
	return 0;
}

static void print_task(const struct osi_task *t)
{
	printf("%7d %7d %c ", t->pid, t->tgid, osi_task_state_letter(t->state, t->exit_state));
	print_guest_string(t->comm, sizeof(t->comm));
	printf("%*s 0x%016" PRIx64 " 0x%016" PRIx64 "\n",
	       (int)(16 - strnlen(t->comm, 16)), "", t->pgd, t->va);
}

static void cmd_ps(struct vmiop *v)
{
	struct osi_cpu cpus[64];
	struct osi_task current[64];
	bool found[64];
	struct task_list tl = { 0 };
	struct osi_linux l;
	unsigned int i, n;
	size_t k;
	int ret;

	n = open_linux(v, &l, cpus);
	ret = osi_linux_tasks(&l, collect_task, &tl);
	for (i = 0; i < n; i++)
		found[i] = !osi_linux_current(&l, &cpus[i], &current[i]);
	vmiop_resume(v);
	osi_linux_close(&l);

	printf("%7s %7s %c %-16s %-18s %s\n", "PID", "TGID", 'S', "COMM", "PGD", "TASK");
	for (k = 0; k < tl.n; k++)
		print_task(&tl.t[k]);
	free(tl.t);
	for (i = 0; i < n; i++) {
		if (!found[i]) {
			printf("vCPU %u: its per-CPU area is not found\n", i);
			continue;
		}
		printf("vCPU %u runs pid %d (", i, current[i].pid);
		print_guest_string(current[i].comm, sizeof(current[i].comm));
		printf(")\n");
	}
	if (ret == -ENOENT)
		die("walk the task list: the guest kernel has no init_task symbol", ret);
	if (ret == -ELOOP || ret == -EFAULT || ret == -E2BIG) {
		fprintf(stderr, "%s: the guest's task list is broken after %zu tasks (%s)\n",
			prog, tl.n, ret == -ELOOP ? "a link that does not point back" :
			ret == -EFAULT ? "a link to unmapped memory" : "too long");
		exit(1);
	}
	if (ret)
		die("walk the task list", ret);
}

static void cmd_sym(struct vmiop *v, const char *name)
{
	struct osi_cpu cpus[64];
	struct osi_linux l;
	uint64_t addr;
	int ret;

	open_linux(v, &l, cpus);
	vmiop_resume(v);
	ret = osi_linux_symbol(&l, name, &addr);
	osi_linux_close(&l);
	if (ret == -ENOENT) {
		fprintf(stderr, "%s: the guest kernel has no symbol %s\n", prog, name);
		exit(1);
	}
	printf("0x%016" PRIx64 " %s\n", addr, name);
}

/*
 * A LibVMI configuration entry for this Linux guest, from its own BTF
 * (the offsets LibVMI walks processes with) and, with @sysmap, its
 * symbols (kallsyms, as running: KASLR applied) as a System.map there.
 */
static void cmd_libvmi_config(struct vmiop *v, const char *name, const char *sysmap)
{
	struct osi_cpu cpus[64];
	struct osi_linux l;
	uint32_t i, n;
	FILE *f;

	open_linux(v, &l, cpus);
	vmiop_resume(v);
	if (sysmap) {
		f = fopen(sysmap, "w");
		if (!f) {
			fprintf(stderr, "%s: %s: %s\n", prog, sysmap, strerror(errno));
			exit(1);
		}
		n = kallsyms_count(l.ks);
		for (i = 0; i < n; i++) {
			const char *sym;
			uint64_t addr;
			char type;

			if (!kallsyms_symbol(l.ks, i, &sym, &addr, &type))
				fprintf(f, "%016" PRIx64 " %c %s\n", addr, type, sym);
		}
		if (fclose(f)) {
			fprintf(stderr, "%s: %s: %s\n", prog, sysmap, strerror(errno));
			exit(1);
		}
	}
	printf("%s {\n", name);
	printf("    ostype = \"Linux\";\n");
	if (sysmap)
		printf("    sysmap = \"%s\";\n", sysmap);
	printf("    linux_tasks = 0x%" PRIx64 ";\n", l.off.task_tasks);
	printf("    linux_mm = 0x%" PRIx64 ";\n", l.off.task_mm);
	printf("    linux_pid = 0x%" PRIx64 ";\n", l.off.task_pid);
	printf("    linux_name = 0x%" PRIx64 ";\n", l.off.task_comm);
	printf("    linux_pgd = 0x%" PRIx64 ";\n", l.off.mm_pgd);
	printf("}\n");
	osi_linux_close(&l);
}

static void hexdump(uint64_t addr, const uint8_t *p, size_t len)
{
	size_t i, j;

	for (i = 0; i < len; i += 16) {
		printf("%016" PRIx64 "  ", addr + i);
		for (j = i; j < i + 16; j++)
			j < len ? printf("%02x ", p[j]) : printf("   ");
		printf(" |");
		for (j = i; j < i + 16 && j < len; j++)
			putchar(p[j] >= 0x20 && p[j] < 0x7f ? p[j] : '.');
		printf("|\n");
	}
}

static void cmd_read(struct vmiop *v, uint64_t gpa, uint64_t len)
{
	uint8_t *buf;
	int ret;

	if (!len || len > (64 << 20)) {
		fprintf(stderr, "%s: length must be 1..64 MiB\n", prog);
		exit(2);
	}
	buf = malloc(len);
	if (!buf)
		die("allocate", -ENOMEM);
	if ((ret = vmiop_read_pa(v, gpa, buf, len)))
		die("read guest memory", ret);
	hexdump(gpa, buf, len);
	free(buf);
}

static void cmd_write(struct vmiop *v, uint64_t gpa, const char *hex)
{
	size_t n = strlen(hex) / 2, i;
	uint8_t buf[4096];
	int ret;

	if (!n || strlen(hex) % 2 || n > sizeof(buf)) {
		fprintf(stderr, "%s: HEXBYTES must be 1..4096 bytes as hex pairs\n", prog);
		exit(2);
	}
	for (i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
			fprintf(stderr, "%s: bad hex at '%s'\n", prog, hex + 2 * i);
			exit(2);
		}
		buf[i] = (uint8_t)b;
	}
	if ((ret = vmiop_write_pa(v, gpa, buf, n)))
		die(ret == -EBADF && read_only ? "write guest memory in a read-only session" :
		    "write guest memory", ret);
}

static const char *const fault_names[] = {
	"ok", "not present", "reserved bit set", "non-canonical", "table not in RAM",
};

static void cmd_translate(struct vmiop *v, uint64_t gva, unsigned int vcpu)
{
	struct vmiop_translate t = { .vcpu = vcpu, .gva = gva };
	int ret;

	if ((ret = vmiop_pause(v)) < 0)
		die("pause the VM", ret);
	ret = vmiop_translate_ex(v, &t);
	vmiop_resume(v);
	if (ret)
		die("translate", ret);
	if (t.fault != VMIOP_XLATE_OK) {
		fprintf(stderr, "%s: 0x%" PRIx64 ": %s at level %u\n", prog, gva,
			t.fault < 5 ? fault_names[t.fault] : "fault", t.level);
		exit(1);
	}
	printf("0x%" PRIx64 " -> 0x%" PRIx64 " (%" PRIu64 "K page%s%s%s, cr3 0x%" PRIx64 ")\n",
	       gva, (uint64_t)t.gpa, (uint64_t)t.page_size >> 10,
	       t.access & VMIOP_XLATE_ACC_WRITE ? ", writable" : "",
	       t.access & VMIOP_XLATE_ACC_USER ? ", user" : "",
	       t.access & VMIOP_XLATE_ACC_NX ? ", no-exec" : "", (uint64_t)t.cr3);
}

static void cmd_pause_for(struct vmiop *v, uint64_t secs)
{
	int ret;

	if ((ret = vmiop_pause(v)) < 0)
		die("pause the VM", ret);
	printf("paused for %" PRIu64 " s\n", secs);
	fflush(stdout);
	sleep((unsigned int)secs);
	if ((ret = vmiop_resume(v)) < 0)
		die("resume the VM", ret);
	printf("resumed\n");
}

static volatile sig_atomic_t stop_events;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_events = 1;
}

/* What the event logger carries: events left to print, and with -l the guest's processes. */
struct event_log {
	uint64_t left;
	struct osi_linux *linux_guest;
	struct task_list tasks;
	uint64_t missed_root;	/* not found after a fresh walk: not walked again */
};

/* The process whose page tables @root (a CR3 value) points to, if any. */
static const struct osi_task *task_of_root(const struct task_list *tl, uint64_t root)
{
	/* PCID and no-flush bits off; under PTI the user half is the kernel's + 4 KiB. */
	uint64_t pa = root & 0x000ffffffffff000ULL;
	size_t k;

	for (k = 0; k < tl->n; k++)
		if (tl->t[k].pgd && (tl->t[k].pgd == pa || tl->t[k].pgd == (pa & ~0x1000ULL)))
			return &tl->t[k];
	return NULL;
}

/*
 * " [pid N comm]" for a CR3 write's new root.  A root not known yet (a new
 * process) takes a fresh walk of the task list, once per root: the walk
 * reads a guest that runs meanwhile, and is bounded and checked like ps.
 */
static void print_process_of_root(struct event_log *log, uint64_t root)
{
	const struct osi_task *t = task_of_root(&log->tasks, root);

	if (!t && root != log->missed_root) {
		log->tasks.n = 0;
		osi_linux_tasks(log->linux_guest, collect_task, &log->tasks);
		t = task_of_root(&log->tasks, root);
		if (!t)
			log->missed_root = root;
	}
	if (!t) {
		printf(" [no process]");
		return;
	}
	printf(" [pid %d ", t->pid);
	print_guest_string(t->comm, sizeof(t->comm));
	printf("]");
}

/* Names of the MSRs a guest kernel writes most, for the event log. */
static const char *msr_name(uint32_t index)
{
	static const struct {
		uint32_t index;
		const char *name;
	} names[] = {
		{ 0x10, "TSC" }, { 0x1b, "APIC_BASE" }, { 0x3a, "FEATURE_CONTROL" },
		{ 0x48, "SPEC_CTRL" }, { 0x49, "PRED_CMD" }, { 0x174, "SYSENTER_CS" },
		{ 0x175, "SYSENTER_ESP" }, { 0x176, "SYSENTER_EIP" }, { 0x1a0, "MISC_ENABLE" },
		{ 0x1d9, "DEBUGCTL" }, { 0x277, "PAT" }, { 0x6e0, "TSC_DEADLINE" },
		{ 0x80b, "X2APIC_EOI" }, { 0x830, "X2APIC_ICR" }, { 0x838, "X2APIC_TMICT" },
		{ 0xc0000080, "EFER" }, { 0xc0000081, "STAR" }, { 0xc0000082, "LSTAR" },
		{ 0xc0000083, "CSTAR" }, { 0xc0000084, "SFMASK" }, { 0xc0000100, "FS_BASE" },
		{ 0xc0000101, "GS_BASE" }, { 0xc0000102, "KERNEL_GS_BASE" },
		{ 0xc0000103, "TSC_AUX" }, { 0x4b564d00, "KVM_WALL_CLOCK" },
		{ 0x4b564d01, "KVM_SYSTEM_TIME" }, { 0x4b564d02, "KVM_ASYNC_PF_EN" },
		{ 0x4b564d03, "KVM_STEAL_TIME" }, { 0x4b564d04, "KVM_PV_EOI_EN" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].index == index)
			return names[i].name;
	return NULL;
}

static void print_msr(uint32_t index)
{
	const char *name = msr_name(index);

	printf(" 0x%x%s%s%s", index, name ? " (" : "", name ? name : "", name ? ")" : "");
}

/* One line per event; every event is answered "continue". */
static int log_event(struct vmiop *v, const struct vmiop_event *ev,
		     struct vmiop_event_reply *reply, void *opaque)
{
	struct event_log *log = opaque;

	(void)v;
	(void)reply;
	if (stop_events)
		return 0;	/* COUNT reached: answer the rest silently */
	printf("#%" PRIu64 " vcpu %u %s rip 0x%" PRIx64 " cr3 0x%" PRIx64,
	       (uint64_t)ev->seq, ev->vcpu, vmiop_event_name(ev->type),
	       (uint64_t)ev->regs.rip, (uint64_t)ev->regs.cr3);
	switch (ev->type) {
	case VMIOP_EVENT_CR:
		if (ev->cr.write) {
			printf(" cr%u 0x%" PRIx64 " -> 0x%" PRIx64, ev->cr.cr,
			       (uint64_t)ev->cr.old_value, (uint64_t)ev->cr.new_value);
			if (ev->cr.cr == 3 && log->linux_guest)
				print_process_of_root(log, ev->cr.new_value);
		} else
			printf(" read cr%u = 0x%" PRIx64, ev->cr.cr, (uint64_t)ev->cr.old_value);
		break;
	case VMIOP_EVENT_MSR:
		printf(" %s", ev->msr.write ? "wrmsr" : "rdmsr");
		print_msr(ev->msr.index);
		if (ev->msr.write)
			printf(" 0x%" PRIx64 " -> 0x%" PRIx64, (uint64_t)ev->msr.old_value,
			       (uint64_t)ev->msr.new_value);
		else
			printf(" = 0x%" PRIx64, (uint64_t)ev->msr.old_value);
		break;
	case VMIOP_EVENT_XSETBV:
		printf(" xcr%u 0x%" PRIx64 " -> 0x%" PRIx64, ev->xsetbv.index,
		       (uint64_t)ev->xsetbv.old_value, (uint64_t)ev->xsetbv.new_value);
		break;
	case VMIOP_EVENT_CPUID:
		printf(" leaf 0x%x subleaf 0x%x -> %08x %08x %08x %08x", ev->cpuid.leaf,
		       ev->cpuid.subleaf, ev->cpuid.eax, ev->cpuid.ebx, ev->cpuid.ecx,
		       ev->cpuid.edx);
		break;
	case VMIOP_EVENT_BREAKPOINT:
		printf(" int3 at 0x%" PRIx64 " len %u", (uint64_t)ev->breakpoint.gva,
		       ev->breakpoint.insn_len);
		break;
	case VMIOP_EVENT_DEBUG:
		printf(" dr6 0x%" PRIx64 " dr7 0x%" PRIx64, (uint64_t)ev->debug.dr6,
		       (uint64_t)ev->debug.dr7);
		break;
	case VMIOP_EVENT_SINGLESTEP:
		printf(" next 0x%" PRIx64 " by %s", (uint64_t)ev->singlestep.gva,
		       ev->singlestep.method == VMIOP_STEP_MTF ? "mtf" : "tf");
		break;
	case VMIOP_EVENT_DESC: {
		static const char *const regs[] = { "?", "idtr", "gdtr", "ldtr", "tr" };

		printf(" %s %s", ev->desc.write ? "load" : "store",
		       regs[ev->desc.reg <= VMIOP_DESC_TR ? ev->desc.reg : 0]);
		if (!(ev->desc.flags & VMIOP_DESC_NEW_VALID))
			break;
		if (ev->desc.reg == VMIOP_DESC_IDTR || ev->desc.reg == VMIOP_DESC_GDTR)
			printf(" base 0x%" PRIx64 " limit 0x%" PRIx64,
			       (uint64_t)ev->desc.new_base, (uint64_t)ev->desc.new_limit);
		else
			printf(" selector 0x%x", ev->desc.new_selector);
		break;
	}
	case VMIOP_EVENT_TRAP:
		printf(" vector %u", ev->trap.vector);
		if (ev->trap.has_error_code)
			printf(" error 0x%x", ev->trap.error_code);
		if (ev->trap.vector == 14)
			printf(" cr2 0x%" PRIx64, (uint64_t)ev->trap.cr2);
		break;
	case VMIOP_EVENT_HYPERCALL:
		printf(" nr 0x%" PRIx64 " args 0x%" PRIx64 " 0x%" PRIx64 " 0x%" PRIx64
		       " 0x%" PRIx64, (uint64_t)ev->hypercall.nr,
		       (uint64_t)ev->hypercall.args[0], (uint64_t)ev->hypercall.args[1],
		       (uint64_t)ev->hypercall.args[2], (uint64_t)ev->hypercall.args[3]);
		break;
	case VMIOP_EVENT_MEM:
		printf(" gpa 0x%" PRIx64 " %s%s%s rights 0x%x", (uint64_t)ev->mem.gpa,
		       ev->mem.access & VMIOP_ACCESS_R ? "r" : "",
		       ev->mem.access & VMIOP_ACCESS_W ? "w" : "",
		       ev->mem.access & VMIOP_ACCESS_X ? "x" : "", ev->mem.rights);
		if (ev->mem.flags & VMIOP_MEM_F_GLA_VALID)
			printf(" gla 0x%" PRIx64, (uint64_t)ev->mem.gla);
		if (ev->mem.flags & VMIOP_MEM_F_PAGE_WALK)
			printf(" walk");
		if (ev->mem.flags & VMIOP_MEM_F_AGENT)
			printf(" agent 0x%" PRIx64 " -> 0x%" PRIx64, (uint64_t)ev->mem.old_value,
			       (uint64_t)ev->mem.new_value);
		break;
	case VMIOP_EVENT_AGENT:
		printf(" op %u args 0x%" PRIx64 " 0x%" PRIx64, ev->agent.op,
		       (uint64_t)ev->agent.args[0], (uint64_t)ev->agent.args[1]);
		break;
	}
	printf("\n");
	fflush(stdout);
	if (log->left && !--log->left)
		stop_events = 1;
	/* Non-zero ends vmiop_event_loop() once this reply is out. */
	return stop_events;
}

/* -l: name the guest's processes in events (a Linux guest, found as for ps). */
static bool linux_names;

static void cmd_events(struct vmiop *v, const char *types, uint64_t count)
{
	struct event_log log = { .left = count };
	struct osi_cpu cpus[64];
	struct osi_linux l;
	vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES] = { 0 };
	struct sigaction sa = { .sa_handler = on_stop_signal };
	unsigned int type_flags[VMIOP_EVENT_NR_TYPES] = { 0 };
	struct vmiop_event_caps caps;
	struct vmiop_ring *ring;
	char *list, *tok, *save;
	unsigned int t;
	int ret;

	if ((ret = vmiop_event_caps(v, &caps)))
		die("query event capabilities", ret);
	list = strdup(types);
	if (!list)
		die("events", -ENOMEM);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *opt = strchr(tok, '+');
		unsigned int flags = 0;
		bool all, found;

		if (opt) {
			*opt++ = '\0';
			if (!strcmp(opt, "reads") && (!strcmp(tok, "cr") || !strcmp(tok, "msr"))) {
				flags = VMIOP_EVENT_CTL_F_READS;
			} else if (!strcmp(opt, "changes") && !strcmp(tok, "cr")) {
				flags = VMIOP_EVENT_CTL_F_CHANGES;
			} else {
				fprintf(stderr, "%s: unknown option '%s+%s'\n", prog, tok, opt);
				exit(2);
			}
		}
		all = !strcmp(tok, "all");
		found = all;
		for (t = 1; t < VMIOP_EVENT_NR_TYPES; t++) {
			if (!all && strcmp(tok, vmiop_event_name(t)))
				continue;
			found = true;
			type_flags[t] = flags;
			if (caps.supported & (1ULL << t))
				handlers[t] = log_event;
			else if (!all) {
				fprintf(stderr, "%s: %s events are not available here (%s)\n",
					prog, tok, caps.reason[t] == VMIOP_CAP_NO_HARDWARE ?
					"the CPU cannot intercept them" : "not implemented yet");
				exit(1);
			}
		}
		if (!found) {
			fprintf(stderr, "%s: unknown event type '%s'\n", prog, tok);
			exit(2);
		}
	}
	free(list);

	if (linux_names) {
		open_linux(v, &l, cpus);
		ret = osi_linux_tasks(&l, collect_task, &log.tasks);
		vmiop_resume(v);
		if (ret && ret != -ELOOP && ret != -EFAULT && ret != -E2BIG)
			die("walk the task list", ret);
		log.linux_guest = &l;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((ret = vmiop_ring_setup(v, 0, &ring)))
		die("set up the event ring", ret);
	for (t = 1; t < VMIOP_EVENT_NR_TYPES; t++)
		if (handlers[t] && (ret = vmiop_event_enable_flags(v, t, type_flags[t], NULL, 0)))
			die("enable events", ret);
	/* Back every 200 ms without events, or at a signal, to look at stop_events. */
	while (!stop_events) {
		ret = vmiop_event_loop(v, ring, handlers, &log, 0, 200);
		if (ret < 0 && ret != -EINTR)
			die("handle events", ret);
	}
	if (log.linux_guest)
		osi_linux_close(log.linux_guest);
	free(log.tasks.t);
}

/* ---- ve: the #VE agent on the guest's page tables ---- */

#define VE_MAX_PT_PAGES	256

struct ve_stats {
	uint64_t raised, walks, breaks, other;
	uint64_t break_reason[5];	/* enum vmiop_ve_break_reason */
	struct vmiop_event first_other;
	uint64_t undecoded_rip;		/* the first instruction not decoded */
	uint8_t undecoded[16];
	time_t end;			/* the run's, or 0 once it is over */
};

/* Events the agent leaves to the introspector: counted, let through. */
static int ve_event(struct vmiop *v, const struct vmiop_event *ev,
		    struct vmiop_event_reply *reply, void *opaque)
{
	struct ve_stats *s = opaque;

	(void)reply;
	if (ev->type == VMIOP_EVENT_AGENT) {
		s->breaks++;
		if (ev->agent.op == VMIOP_VE_HCALL_BREAK && ev->agent.args[0] < 5)
			s->break_reason[ev->agent.args[0]]++;
		/* The agent copied the instruction into the info page. */
		if (ev->agent.op == VMIOP_VE_HCALL_BREAK && !s->undecoded_rip &&
		    ev->agent.args[0] == VMIOP_VE_BREAK_EMULATION_FAILED &&
		    !vmiop_read_pa(v, ev->agent.info_gpa + offsetof(struct vmiop_ve_cpu, instruction),
				   s->undecoded, sizeof(s->undecoded)))
			vmiop_read_pa(v, ev->agent.info_gpa + offsetof(struct vmiop_ve_cpu, regs.rip),
				      &s->undecoded_rip, sizeof(s->undecoded_rip));
	} else if (ev->mem.flags & VMIOP_MEM_F_AGENT) {
		s->raised++;
	} else if (ev->mem.flags & VMIOP_MEM_F_PAGE_WALK) {
		s->walks++;
	} else if (!s->other++) {
		s->first_other = *ev;
	}
	/* A steady stream of events must not keep the run from ending. */
	return stop_events || (s->end && time(NULL) >= s->end);
}

static bool have_page(const uint64_t *pages, unsigned int n, uint64_t gpa)
{
	while (n--)
		if (pages[n] == gpa)
			return true;
	return false;
}

/*
 * The last-level page-table pages of the user half under @cr3: the pages
 * a process's page faults, forks and unmaps write.  The tables are the
 * guest's: read with bounds, an unreadable one skipped.
 */
static unsigned int ve_collect(struct vmiop *v, uint64_t cr3, uint64_t *pages, unsigned int n)
{
	static uint64_t l4[512], l3[512], l2[512];
	unsigned int i, j, k;

	if (vmiop_read_pa(v, cr3 & PTE_ADDR, l4, sizeof(l4)))
		return n;
	for (i = 0; i < 256; i++) {
		if (!(l4[i] & PTE_P) || vmiop_read_pa(v, l4[i] & PTE_ADDR, l3, sizeof(l3)))
			continue;
		for (j = 0; j < 512; j++) {
			if ((l3[j] & (PTE_P | PTE_PS)) != PTE_P ||
			    vmiop_read_pa(v, l3[j] & PTE_ADDR, l2, sizeof(l2)))
				continue;
			for (k = 0; k < 512; k++) {
				uint64_t pt = l2[k] & PTE_ADDR;

				if ((l2[k] & (PTE_P | PTE_PS)) != PTE_P || have_page(pages, n, pt))
					continue;
				pages[n++] = pt;
				if (n == VE_MAX_PT_PAGES)
					return n;
			}
		}
	}
	return n;
}

static void ve_set_access(struct vmiop *v, const uint64_t *pages, unsigned int n,
			  unsigned int access)
{
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		if ((ret = vmiop_set_mem_access(v, pages[i] / 4096, 1, access)))
			die("set the page tables' access", ret);
}

/*
 * Installs the agent, makes the page tables of what each vCPU runs
 * convertible, lets the guest run for @secs (or until SIGINT/SIGTERM)
 * answering what the agent raises, then says what each vCPU's agent did
 * and takes it all back.
 */
static bool ve_wanted(const struct osi_task *t, char **pids, int nr_pids)
{
	int i;

	if (!t->pgd)
		return false;	/* a kernel thread */
	for (i = 0; i < nr_pids; i++)
		if (t->tgid == (int32_t)parse_u64(pids[i], "pid"))
			return true;
	return !nr_pids;
}

static void cmd_ve(struct vmiop *v, uint64_t secs, char **pids, int nr_pids)
{
	static vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES];
	static uint64_t pages[VE_MAX_PT_PAGES];
	struct sigaction sa = { .sa_handler = on_stop_signal };
	const struct vmiop_agent_layout *l;
	struct vmiop_agent_counters c, sum = { 0 };
	struct vmiop_vm_info info = { .size = sizeof(info) };
	struct ve_stats stats = { 0 };
	struct vmiop_agent *agent;
	struct vmiop_ring *ring;
	unsigned int i, n = 0;
	int ret;

	if ((ret = vmiop_vm_info(v, &info)))
		die("read the VM's info", ret);
	if ((ret = vmiop_ring_setup(v, 0, &ring)))
		die("set up the event ring", ret);
	handlers[VMIOP_EVENT_MEM] = ve_event;
	handlers[VMIOP_EVENT_AGENT] = ve_event;
	if ((ret = vmiop_event_enable(v, VMIOP_EVENT_MEM, -1, NULL, 0)) ||
	    (ret = vmiop_event_enable(v, VMIOP_EVENT_AGENT, -1, NULL, 0)))
		die("enable events", ret);
	if (linux_names) {
		/* Every process's tables (open_linux() pauses the VM). */
		struct task_list tl = { 0 };
		struct osi_cpu cpus[64];
		struct osi_linux lx;

		open_linux(v, &lx, cpus);
		ret = osi_linux_tasks(&lx, collect_task, &tl);
		if (ret && ret != -ELOOP && ret != -EFAULT && ret != -E2BIG)
			die("walk the task list", ret);
		for (i = 0; i < tl.n; i++)
			if (ve_wanted(&tl.t[i], pids, nr_pids))
				n = ve_collect(v, tl.t[i].pgd, pages, n);
		osi_linux_close(&lx);
		free(tl.t);
	} else {
		if (nr_pids) {
			fprintf(stderr, "%s: ve PID... needs -l (a Linux guest)\n", prog);
			exit(2);
		}
		if ((ret = vmiop_pause(v)) < 0)
			die("pause the VM", ret);
		for (i = 0; i < info.nr_vcpus; i++) {
			uint64_t cr3;

			if (!vmiop_get_reg(v, i, VMIOP_REG_CR3, &cr3))
				n = ve_collect(v, cr3, pages, n);
		}
	}
	if ((ret = vmiop_agent_install(v, NULL, &agent)))
		die("install the #VE agent", ret);
	l = vmiop_agent_layout(agent);
	ve_set_access(v, pages, n, VMIOP_ACCESS_R | VMIOP_ACCESS_X | VMIOP_ACCESS_VE);
	/* Before saying so: a SIGINT from then on ends the run, not the tool. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("agent at 0x%" PRIx64 " (guest-physical 0x%" PRIx64 ", %" PRIu64
	       " KiB); %u page-table pages convertible\n", (uint64_t)l->va, (uint64_t)l->gpa,
	       (uint64_t)l->len >> 10, n);
	fflush(stdout);
	if ((ret = vmiop_resume(v)) < 0)
		die("resume the VM", ret);

	stats.end = time(NULL) + (time_t)secs;
	while (!stop_events && time(NULL) < stats.end) {
		ret = vmiop_event_loop(v, ring, handlers, &stats, 0, 200);
		if (ret < 0 && ret != -EINTR)
			die("handle events", ret);
	}

	printf("stopping\n");
	fflush(stdout);
	if ((ret = vmiop_pause(v)) < 0)
		die("pause the VM", ret);
	for (i = 0; i < l->nr_vcpus; i++) {
		if ((ret = vmiop_agent_counters(agent, i, &c)))
			die("read the agent's counters", ret);
		printf("vcpu %u: ve %" PRIu64 " page-table %" PRIu64 " page-walk %" PRIu64
		       " absorbed %" PRIu64 " (cached %" PRIu64 ", irrelevant %" PRIu64 ")\n", i,
		       c.total, c.page_table, c.page_walk, c.ignored, c.ignored_cache,
		       c.ignored_irrelevant);
		sum.total += c.total;
		sum.ignored += c.ignored;
	}
	printf("total: ve %" PRIu64 " absorbed %" PRIu64 "; raised %" PRIu64
	       " (events), page walks %" PRIu64 " (events), breaks %" PRIu64
	       ", other %" PRIu64 "; agent: unknown cpu %" PRIu64 ", redelivered %" PRIu64 "\n",
	       sum.total, sum.ignored, stats.raised, stats.walks, stats.breaks, stats.other,
	       c.unknown_cpu, c.redelivered);
	if (stats.breaks)
		printf("breaks: unknown exit %" PRIu64 ", page walk failed %" PRIu64
		       ", not decoded %" PRIu64 ", not kernel code %" PRIu64 "\n",
		       stats.break_reason[VMIOP_VE_BREAK_UNKNOWN_EXIT],
		       stats.break_reason[VMIOP_VE_BREAK_PAGE_WALK_FAILED],
		       stats.break_reason[VMIOP_VE_BREAK_EMULATION_FAILED],
		       stats.break_reason[VMIOP_VE_BREAK_CS_NOT_KERNEL]);
	if (stats.undecoded_rip) {
		printf("first not decoded: rip 0x%" PRIx64 ":", stats.undecoded_rip);
		for (i = 0; i < sizeof(stats.undecoded); i++)
			printf(" %02x", stats.undecoded[i]);
		printf("\n");
	}
	if (stats.other)
		printf("other: first at rip 0x%" PRIx64 " cpl %u, gpa 0x%" PRIx64 " gla 0x%" PRIx64
		       " access %u flags 0x%x\n", (uint64_t)stats.first_other.regs.rip,
		       (unsigned int)(stats.first_other.regs.cs.attr >> 5 & 3),
		       (uint64_t)stats.first_other.mem.gpa, (uint64_t)stats.first_other.mem.gla,
		       stats.first_other.mem.access, stats.first_other.mem.flags);
	/*
	 * No more events, and those waiting answered: a vCPU that waits for
	 * the answer to what its agent raised is inside the agent, which
	 * uninstall waits to see left.
	 */
	ve_set_access(v, pages, n, VMIOP_ACCESS_RWX);
	if ((ret = vmiop_event_disable(v, VMIOP_EVENT_MEM, -1)) ||
	    (ret = vmiop_event_disable(v, VMIOP_EVENT_AGENT, -1)))
		die("disable events", ret);
	if ((ret = vmiop_event_dispatch(v, ring, handlers, &stats)) < 0)
		die("handle events", ret);
	printf("uninstalling\n");
	fflush(stdout);
	if ((ret = vmiop_agent_uninstall(agent)))
		die("uninstall the #VE agent", ret);
	if ((ret = vmiop_resume(v)) < 0)
		die("resume the VM", ret);
	printf("uninstalled\n");
}

/* ---- the host's VMs, by id and name (no session) ---- */

/*
 * No device, or no netlink family (@family): the module is not loaded, and
 * how to load it; or it is, and what is missing is the device node, or a
 * family that exists in the initial network namespace only.
 */
static const char *module_missing(bool family)
{
	if (!access("/sys/module/vmiop", F_OK))
		return family ? "the vmiop module is loaded, but its netlink family is only "
				"in the host's network namespace (not a container's)" :
		       !access(VMIOP_DEVICE, F_OK) ? "the vmiop module is loaded, but "
				VMIOP_DEVICE " is not its device (a stale node?)" :
		       "the vmiop module is loaded but " VMIOP_DEVICE " is missing "
		       "(no devtmpfs or udev here?)";
	return "the vmiop module is not loaded: sudo modprobe vmiop (or insmod vmiop.ko; "
	       "from the vmiop-dkms package, 'dkms status' says whether it was built for "
	       "this kernel, which needs linux-headers-$(uname -r))";
}

/*
 * One line for a failure of the VMs-by-name calls: what to do where there
 * is something to do, and the kernel's own explanation when it gave one.
 */
static void die_vm(const char *what, int err, const char *why)
{
	const char *kernel = vmiop_vm_last_error();

	if (err == -ENODEV)
		why = module_missing(true);
	if (!why)
		why = strerror(-err);
	fprintf(stderr, "%s: %s: %s", prog, what, why);
	if (*kernel && strcmp(kernel, why))
		fprintf(stderr, " (the module: %s)", kernel);
	fprintf(stderr, "\n");
	exit(1);
}

/* A VM name or a VMM's command, printable ASCII only (\xNN otherwise). */
static const char *safe_string(char *buf, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s && n + 5 <= size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, size - n, "\\x%02x", c);
	}
	buf[n] = '\0';
	return buf;
}

/* 512M, 2G, 1.5G: the largest unit there is at least one of. */
static const char *human_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char units[] = "KMGTPE";
	unsigned int u = 0;
	double v;

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64, bytes);
		return buf;
	}
	while (u + 1 < sizeof(units) - 1 && bytes >> (10 * (u + 2)))
		u++;
	v = (double)bytes / (double)(1ULL << (10 * (u + 1)));
	if (!(bytes & ((1ULL << (10 * (u + 1))) - 1)))
		snprintf(buf, size, "%" PRIu64 "%c", bytes >> (10 * (u + 1)), units[u]);
	else
		snprintf(buf, size, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
	return buf;
}

/* A pid, or "-" for none. */
static const char *pid_string(char *buf, size_t size, pid_t pid)
{
	if (pid)
		snprintf(buf, size, "%d", (int)pid);
	else
		snprintf(buf, size, "-");
	return buf;
}

static const char *vendor_word(uint32_t vendor)
{
	return vendor == VMIOP_VENDOR_AMD ? "AMD" : vendor == VMIOP_VENDOR_INTEL ? "Intel" : "-";
}

static int cmp_vm_id(const void *a, const void *b)
{
	uint64_t x = ((const struct vmiop_vm_entry *)a)->id;
	uint64_t y = ((const struct vmiop_vm_entry *)b)->id;

	return x < y ? -1 : x > y;
}

static void cmd_list(void)
{
	struct vmiop_vm_entry *vms;
	char name[4 * VMIOP_VM_NAME_MAX], comm[4 * 16], mem[32];
	int n, i, name_w = 4, comm_w = 7;

	n = vmiop_vm_list(&vms);
	if (n < 0)
		die_vm("list the VMs", n, NULL);
	qsort(vms, (size_t)n, sizeof(*vms), cmp_vm_id);
	for (i = 0; i < n; i++) {
		int w = (int)strlen(safe_string(name, sizeof(name), vms[i].name));
		int c = (int)strlen(safe_string(comm, sizeof(comm), vms[i].comm));

		name_w = w > name_w ? w : name_w;
		comm_w = c > comm_w ? c : comm_w;
	}
	printf("%6s %-*s %7s %6s %-*s %5s %6s %-6s %s\n", "ID", name_w, "NAME", "PID", "UID",
	       comm_w, "COMMAND", "VCPUS", "MEMORY", "VENDOR", "SESSION");
	for (i = 0; i < n; i++) {
		const struct vmiop_vm_entry *e = &vms[i];
		char pid[16], session[48];

		pid_string(pid, sizeof(pid), e->vmm_pid);
		if (e->session_pid)
			snprintf(session, sizeof(session), "%d%s", (int)e->session_pid,
				 e->session_flags & VMIOP_SESSION_F_LINGERING ? " lingering" : "");
		else
			snprintf(session, sizeof(session), "%s",
				 e->session_flags & VMIOP_SESSION_F_LINGERING ? "lingering" : "-");
		printf("%6" PRIu64 " %-*s %7s %6" PRIu32 " %-*s %5" PRIu32 " %6s %-6s %s\n", e->id,
		       name_w, e->name[0] ? safe_string(name, sizeof(name), e->name) : "-", pid,
		       e->vmm_uid, comm_w,
		       e->comm[0] ? safe_string(comm, sizeof(comm), e->comm) : "-", e->nr_vcpus,
		       human_bytes(mem, sizeof(mem), e->mem_bytes), vendor_word(e->vendor), session);
	}
	free(vms);
}

static uint64_t parse_vm_id(const char *s)
{
	uint64_t id = parse_u64(s, "VM id");

	if (!id) {
		fprintf(stderr, "%s: bad VM id: '%s' (ids start at 1)\n", prog, s);
		exit(2);
	}
	return id;
}

static void cmd_id(const char *name)
{
	char what[4 * VMIOP_VM_NAME_MAX + 32], safe[4 * VMIOP_VM_NAME_MAX];
	uint64_t id;
	int ret;

	ret = vmiop_vm_lookup(name, &id);
	if (ret) {
		snprintf(what, sizeof(what), "VM '%s'", safe_string(safe, sizeof(safe), name));
		die_vm(what, ret, ret == -ENOENT ? "no VM has that name (or none you may see)" :
			     ret == -EINVAL ? "not a VM name (1-63 bytes, no control "
					      "characters, no '/')" : NULL);
	}
	printf("%" PRIu64 "\n", id);
}

static void cmd_name(uint64_t id)
{
	char name[VMIOP_VM_NAME_MAX], safe[4 * VMIOP_VM_NAME_MAX], what[48];
	int ret;

	ret = vmiop_vm_name(id, name, sizeof(name));
	if (ret) {
		snprintf(what, sizeof(what), "VM %" PRIu64, id);
		die_vm(what, ret, ret == -ENOENT ? "no such VM (or not one you may see)" :
			     ret == -ENODATA ? "it has no name" : NULL);
	}
	printf("%s\n", safe_string(safe, sizeof(safe), name));
}

static void cmd_set_name(uint64_t id, const char *name)
{
	char what[4 * VMIOP_VM_NAME_MAX + 48], safe[4 * VMIOP_VM_NAME_MAX];
	int ret;

	ret = vmiop_vm_set_name(id, name);
	if (!ret)
		return;
	if (*name)
		snprintf(what, sizeof(what), "name VM %" PRIu64 " '%s'", id,
			 safe_string(safe, sizeof(safe), name));
	else
		snprintf(what, sizeof(what), "take VM %" PRIu64 "'s name away", id);
	die_vm(what, ret, ret == -EEXIST ? "a live VM already has that name" :
		     ret == -ENOENT ? "no such VM (or not one you may see)" :
		     ret == -EINVAL ? "not a valid name (1-63 bytes, no control characters, "
				      "no '/')" : NULL);
}

static const char *vm_event_word(uint32_t type)
{
	switch (type) {
	case VMIOP_GENL_CMD_VM_CREATED:
		return "created";
	case VMIOP_GENL_CMD_VM_DESTROYED:
		return "destroyed";
	case VMIOP_GENL_CMD_VM_RENAMED:
		return "renamed";
	case VMIOP_GENL_CMD_SESSION_ATTACHED:
		return "attached";
	case VMIOP_GENL_CMD_SESSION_DETACHED:
		return "detached";
	}
	return "event";
}

/*
 * One line per event: "SEQ TYPE id ID name NAME pid PID session PID"
 * ("-": none), until @count of them (0: no limit) or SIGINT/SIGTERM.
 */
static void cmd_monitor(uint64_t count)
{
	/* no SA_RESTART: ppoll(2) returns at the signal */
	struct sigaction sa = { .sa_handler = on_stop_signal };
	struct vmiop_monitor *m;
	struct vmiop_vm_event ev;
	sigset_t stops, orig;
	struct pollfd pfd;
	int ret;

	ret = vmiop_monitor_open(&m, 0);
	if (ret)
		die_vm("monitor the VMs", ret, NULL);
	/*
	 * Blocked but while ppoll() sleeps: a signal after the look at
	 * stop_events ends that sleep, not the next one.
	 */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigprocmask(SIG_BLOCK, &stops, &orig);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Said once subscribed: whatever happens from here on is printed. */
	printf("listening: SEQ EVENT id ID name NAME pid PID session PID\n");
	fflush(stdout);
	pfd.fd = vmiop_monitor_fd(m);
	pfd.events = POLLIN;
	while (!stop_events) {
		char name[4 * VMIOP_VM_NAME_MAX], pid[16], session[16];

		ret = vmiop_monitor_read(m, &ev);
		if (ret == -EAGAIN) {
			if (ppoll(&pfd, 1, NULL, &orig) < 0 && errno != EINTR)
				die("wait for VM events", -errno);
			continue;
		}
		if (ret == -ENOBUFS) {
			printf("lost: events were dropped (vmiop list shows what is now)\n");
			fflush(stdout);
			continue;
		}
		if (ret == -EPROTO) {
			fprintf(stderr, "%s: a malformed VM event was ignored\n", prog);
			continue;
		}
		if (ret < 0)
			die_vm("read VM events", ret, NULL);
		pid_string(pid, sizeof(pid), ev.vm.vmm_pid);
		pid_string(session, sizeof(session), ev.vm.session_pid);
		printf("%" PRIu64 " %s id %" PRIu64 " name %s pid %s session %s\n", ev.seq,
		       vm_event_word(ev.type), ev.vm.id,
		       ev.vm.name[0] ? safe_string(name, sizeof(name), ev.vm.name) : "-", pid,
		       session);
		fflush(stdout);
		if (count && !--count)
			break;
	}
	vmiop_monitor_close(m);
	sigprocmask(SIG_SETMASK, &orig, NULL);
}

static void vmless_command(const struct command *c, int argc, char **argv)
{
	if (!strcmp(c->name, "list"))
		cmd_list();
	else if (!strcmp(c->name, "id"))
		cmd_id(argv[0]);
	else if (!strcmp(c->name, "name") && argc == 1)
		cmd_name(parse_vm_id(argv[0]));
	else if (!strcmp(c->name, "name"))
		cmd_set_name(parse_vm_id(argv[0]), argv[1]);
	else if (!strcmp(c->name, "monitor"))
		cmd_monitor(argc ? parse_u64(argv[0], "count") : 0);
	else
		bad_arguments(c);
}

/* Failing to open /dev/vmiop: what is missing, and what to do about it. */
static void die_open(int err)
{
	const char *why = NULL;

	if (err == -ENOENT || err == -ENODEV || err == -ENXIO) {
		why = module_missing(false);
	} else if (err == -EACCES) {
		bool r = !access(VMIOP_DEVICE, R_OK), w = !access(VMIOP_DEVICE, W_OK);

		if (read_only ? r : r && w)
			why = "permission denied, although its mode allows it (a security module?)";
		else if (read_only)
			why = "permission denied: -r needs read access to it (ls -l " VMIOP_DEVICE ")";
		else if (!r && !w)
			why = "permission denied: a session needs read and write access to it "
			      "(ls -l " VMIOP_DEVICE ")";
		else if (r)
			why = "permission denied: you have no write access to it, a session needs "
			      "read and write (ls -l " VMIOP_DEVICE "); -r needs only read access";
		else
			why = "permission denied: you have no read access to it, a session needs "
			      "read and write (ls -l " VMIOP_DEVICE ")";
	} else if (err == -EOPNOTSUPP && read_only) {
		why = "the loaded vmiop module does not enforce read-only sessions "
		      "(VMIOP_FEAT_READ_ONLY): load a newer one, or drop -r";
	}
	fprintf(stderr, "%s: open " VMIOP_DEVICE ": %s\n", prog, why ? why : strerror(-err));
	exit(1);
}

/* An attach that failed: what the caller can do about it, where there is something. */
static void die_attach(const char *what, int err)
{
	if (err == -EPERM)
		fprintf(stderr, "%s: %s: attaching needs the rights ptrace(2) would need over the "
			"VM's process (same user, or CAP_SYS_PTRACE; Yama's "
			"kernel.yama.ptrace_scope 1 or 2: CAP_SYS_PTRACE, 3: none)\n", prog, what);
	else if (err == -EBUSY)
		fprintf(stderr, "%s: %s: the VM already has a session, or its last one lingers "
			"(vmiop list: SESSION)\n", prog, what);
	else
		die(what, err);
	exit(1);
}

/* Attaches to the VM of -p, -i or -n; on failure says why and exits. */
static void attach(struct vmiop *v, pid_t pid, uint64_t vm_id, const char *name)
{
	char what[4 * VMIOP_VM_NAME_MAX + 48], safe[4 * VMIOP_VM_NAME_MAX];
	int ret;

	if (pid) {
		ret = vmiop_attach_pid(v, pid);
		if (ret == -ENOENT || ret == -EEXIST) {
			fprintf(stderr, "%s: pid %d has %s KVM VM%s\n", prog, (int)pid,
				ret == -ENOENT ? "no" : "more than one",
				ret == -ENOENT ? "" : " (name one with -i or -n: vmiop list)");
			exit(1);
		}
		snprintf(what, sizeof(what), "attach to the VM of pid %d", (int)pid);
		/* -EACCES: /proc/PID/fd is not the caller's to read, for the same reason */
		if (ret)
			die_attach(what, ret == -EACCES ? -EPERM : ret);
		return;
	}
	if (name) {
		snprintf(what, sizeof(what), "VM '%s'", safe_string(safe, sizeof(safe), name));
		ret = vmiop_vm_lookup(name, &vm_id);
		if (ret)
			die_vm(what, ret,
			       ret == -ENOENT ? "no VM has that name (or none you may see)" :
			       ret == -EINVAL ? "not a VM name (1-63 bytes, no control "
						"characters, no '/')" : NULL);
		snprintf(what, sizeof(what), "attach to VM '%s' (id %" PRIu64 ")", safe, vm_id);
	} else {
		snprintf(what, sizeof(what), "attach to VM %" PRIu64, vm_id);
	}
	ret = vmiop_attach_id(v, vm_id);
	if (ret == -ESRCH) {
		fprintf(stderr, "%s: %s: no live VM has that id (vmiop list)\n", prog, what);
		exit(1);
	}
	if (ret == -EINVAL) {
		fprintf(stderr, "%s: %s: %s (a vmiop module without VM ids?)\n", prog, what,
			strerror(-ret));
		exit(1);
	}
	if (ret)
		die_attach(what, ret);
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL;
	const struct command *c;
	uint64_t vm_id = 0;
	int opt, ret, nr_selectors = 0;
	bool help = false, version = false;
	struct vmiop *v;
	pid_t pid = 0;

	/*
	 * Options may come after the command too (getopt's permutation), so
	 * "vmiop list -h" and "vmiop -p PID regs -h" ask for that command's
	 * help.  getopt's own messages are replaced with one line each.
	 */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":p:i:n:rlh", long_options, NULL)) != -1) {
		if (opt == 'p') {
			pid = (pid_t)parse_u64(optarg, "pid");
			nr_selectors++;
			if (pid <= 0) {
				fprintf(stderr, "%s: bad pid: '%s'\n", prog, optarg);
				exit(2);
			}
		} else if (opt == 'i') {
			vm_id = parse_vm_id(optarg);
			nr_selectors++;
		} else if (opt == 'n') {
			name = optarg;
			nr_selectors++;
		} else if (opt == 'r') {
			read_only = true;
		} else if (opt == 'l') {
			linux_names = true;
		} else if (opt == 'h') {
			help = true;
		} else if (opt == 'V') {
			version = true;
		} else if (opt == ':') {
			fprintf(stderr, "%s: -%c needs an argument (%s)\n", prog, optopt,
				optopt == 'p' ? "PID" : optopt == 'i' ? "ID" : "NAME");
			exit(2);
		} else {
			if (optopt && strncmp(argv[optind - 1], "--", 2))
				fprintf(stderr, "%s: unknown option '-%c' (%s --help lists them)\n",
					prog, optopt, prog);
			else
				fprintf(stderr, "%s: unknown option '%s' (%s --help lists them)\n",
					prog, argv[optind - 1], prog);
			exit(2);
		}
	}
	if (help && optind >= argc) {
		print_usage(stdout);
		return 0;
	}
	if (version && !help) {
		printf("vmiop %s\n", VMIOP_VERSION);
		return 0;
	}
	if (optind >= argc)
		usage();
	c = find_command(argv[optind]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s' (%s --help lists them)\n", prog,
			argv[optind], prog);
		exit(2);
	}
	if (help)
		command_help(c);
	optind++;
	argc -= optind;
	argv += optind;
	if (argc < c->min_args || (c->max_args >= 0 && argc > c->max_args))
		bad_arguments(c);

	if (c->flags & CMD_VMLESS) {
		if (nr_selectors) {
			fprintf(stderr, "%s: %s is about the host's VMs: no -p, -i or -n\n", prog,
				c->name);
			exit(2);
		}
		vmless_command(c, argc, argv);
		return 0;
	}
	if (nr_selectors != 1) {
		fprintf(stderr, "%s: %s needs one VM: exactly one of -p PID, -i ID, -n NAME\n",
			prog, c->name);
		exit(2);
	}

	if ((ret = read_only ? vmiop_open_readonly(&v) : vmiop_open(&v)))
		die_open(ret);
	attach(v, pid, vm_id, name);

	if (!strcmp(c->name, "info"))
		cmd_info(v);
	else if (!strcmp(c->name, "memmap"))
		cmd_memmap(v);
	else if (!strcmp(c->name, "regs"))
		cmd_regs(v, argc ? (unsigned int)parse_u64(argv[0], "vcpu") : 0);
	else if (!strcmp(c->name, "read"))
		cmd_read(v, parse_u64(argv[0], "gpa"), parse_u64(argv[1], "length"));
	else if (!strcmp(c->name, "write"))
		cmd_write(v, parse_u64(argv[0], "gpa"), argv[1]);
	else if (!strcmp(c->name, "translate"))
		cmd_translate(v, parse_u64(argv[0], "gva"),
			      argc > 1 ? (unsigned int)parse_u64(argv[1], "vcpu") : 0);
	else if (!strcmp(c->name, "pause-for"))
		cmd_pause_for(v, parse_u64(argv[0], "seconds"));
	else if (!strcmp(c->name, "linux"))
		cmd_linux(v);
	else if (!strcmp(c->name, "ps"))
		cmd_ps(v);
	else if (!strcmp(c->name, "sym"))
		cmd_sym(v, argv[0]);
	else if (!strcmp(c->name, "libvmi-config"))
		cmd_libvmi_config(v, argv[0], argc > 1 ? argv[1] : NULL);
	else if (!strcmp(c->name, "ve"))
		cmd_ve(v, parse_u64(argv[0], "seconds"), argv + 1, argc - 1);
	else if (!strcmp(c->name, "events"))
		cmd_events(v, argv[0], argc > 1 ? parse_u64(argv[1], "count") : 0);
	else
		bad_arguments(c);
	vmiop_close(v);
	return 0;
}
