// SPDX-License-Identifier: GPL-2.0
/*
 * libvmiop's VMs by id and by name (libnl-genl-3 against the module's
 * "vmiop" family), its monitor, and the CLI's session-less commands.
 * Notifications are sent while the change happens, so every event a test
 * waits for is queued by then: the waits' limits only turn a hang into a
 * failure, and "nothing more" is checked after the events that would
 * have come before it.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include "vmiop_test.h"
#include "vt_cli.h"

VT_DEFINE_COUNTERS;

static uint64_t vm_id_of(struct tvm *tvm)
{
	struct vmiop_vm_info info;
	struct vmiop *v = vt_attach(tvm);

	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	vmiop_close(v);
	return info.vm_id;
}

static int next_event(struct vmiop_monitor *m, struct vmiop_vm_event *ev, int ms)
{
	struct pollfd p = { .fd = vmiop_monitor_fd(m), .events = POLLIN };
	int waited;

	for (waited = 0; waited <= ms; waited += 100) {
		int r = vmiop_monitor_read(m, ev);

		if (r != -EAGAIN)
			return r;
		poll(&p, 1, 100);
	}
	return -EAGAIN;
}

TEST(lib_list_get_lookup_name_attach)
{
	struct tvm *a = tvm_create(2, 0), *b = tvm_create(1, 0);
	uint64_t ida = vm_id_of(a), idb = vm_id_of(b), id;
	struct vmiop_vm_entry *vms, vm;
	char buf[VMIOP_VM_NAME_MAX], small[4];
	struct vmiop_vm_info info;
	struct vmiop *v;
	int n, i, found = 0;

	errno = 77;
	n = vmiop_vm_list(&vms);
	EXPECT_EQ(errno, 77);
	ASSERT_GE(n, 2);
	for (i = 0; i < n; i++) {
		if (i)
			EXPECT_GT(vms[i].id, vms[i - 1].id);
		if (vms[i].id != ida)
			continue;
		found++;
		EXPECT_EQ(vms[i].nr_vcpus, 2);
		EXPECT_EQ(vms[i].vmm_pid, getpid());
		EXPECT_EQ(vms[i].vmm_uid, getuid());
		EXPECT_EQ(vms[i].mem_bytes, tvm_mem_size(a));
		EXPECT_EQ(vms[i].session_pid, 0);
		EXPECT_GT(vms[i].seq, 0);
		EXPECT_TRUE(vms[i].comm[0] != '\0');
		vmtest_diag("listed: id %llu comm %s vendor %u name '%s'",
			    (unsigned long long)vms[i].id, vms[i].comm, vms[i].vendor,
			    vms[i].name);
	}
	free(vms);
	EXPECT_EQ(found, 1);

	EXPECT_EQ(vmiop_vm_set_name(ida, "lib-a"), 0);
	EXPECT_EQ(vmiop_vm_lookup("lib-a", &id), 0);
	EXPECT_EQ(id, ida);
	EXPECT_EQ(vmiop_vm_name(ida, buf, sizeof(buf)), 0);
	EXPECT_STREQ(buf, "lib-a");
	EXPECT_EQ(vmiop_vm_name(ida, small, sizeof(small)), -ERANGE);
	EXPECT_EQ(vmiop_vm_get(ida, &vm), 0);
	EXPECT_STREQ(vm.name, "lib-a");
	EXPECT_EQ(vm.name_source, VMIOP_VM_NAME_SET);
	EXPECT_EQ(vm.nr_vcpus, 2);

	EXPECT_EQ(vmiop_vm_set_name(idb, "lib-a"), -EEXIST);
	vmtest_diag("clash: '%s'", vmiop_vm_last_error());
	EXPECT_TRUE(vmiop_vm_last_error()[0] != '\0');
	EXPECT_EQ(vmiop_vm_set_name(idb, "a/b"), -EINVAL);
	vmtest_diag("bad name: '%s'", vmiop_vm_last_error());
	EXPECT_TRUE(vmiop_vm_last_error()[0] != '\0');
	EXPECT_EQ(vmiop_vm_set_name(ida, ""), 0);
	EXPECT_STREQ(vmiop_vm_last_error(), "");
	EXPECT_EQ(vmiop_vm_name(ida, buf, sizeof(buf)), -ENODATA);
	EXPECT_EQ(vmiop_vm_lookup("lib-a", &id), -ENOENT);
	vmtest_diag("lookup: '%s'", vmiop_vm_last_error());
	EXPECT_EQ(vmiop_vm_get(1ULL << 60, &vm), -ENOENT);
	EXPECT_EQ(vmiop_vm_set_name(1ULL << 60, "zz"), -ENOENT);

	EXPECT_EQ(vmiop_vm_set_name(idb, "lib-b"), 0);
	ASSERT_EQ(vmiop_open(&v), 0);
	EXPECT_EQ(vmiop_attach_name(v, "lib-b"), 0);
	EXPECT_EQ(vmiop_vm_info(v, &info), 0);
	EXPECT_EQ(info.vm_id, idb);
	EXPECT_EQ(vmiop_vm_get(idb, &vm), 0);
	EXPECT_EQ(vm.session_pid, getpid());
	vmiop_close(v);
	ASSERT_EQ(vmiop_open(&v), 0);
	EXPECT_EQ(vmiop_attach_name(v, "nope"), -ENOENT);
	EXPECT_EQ(vmiop_attach_id(v, 1ULL << 60), -ESRCH);
	EXPECT_EQ(vmiop_attach_id(v, ida), 0);
	vmiop_close(v);
	tvm_destroy(a);
	tvm_destroy(b);
}

TEST(lib_monitor_as_root)
{
	struct vmiop_vm_event ev;
	struct vmiop_monitor *m;
	struct vmiop *v;
	struct tvm *tvm;
	uint64_t id, seq;

	ASSERT_EQ(vmiop_monitor_open(&m, 0), 0);
	EXPECT_EQ(vmiop_monitor_read(m, &ev), -EAGAIN);
	tvm = tvm_create(1, 0);
	ASSERT_EQ(next_event(m, &ev, 60000), 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_VM_CREATED);
	EXPECT_EQ(ev.vm.vmm_pid, getpid());
	id = ev.vm.id;
	seq = ev.seq;
	ASSERT_EQ(vmiop_vm_set_name(id, "mon"), 0);
	ASSERT_EQ(next_event(m, &ev, 60000), 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_VM_RENAMED);
	EXPECT_STREQ(ev.vm.name, "mon");
	EXPECT_EQ(ev.seq, seq + 1);
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_id(v, id), 0);
	ASSERT_EQ(next_event(m, &ev, 60000), 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_SESSION_ATTACHED);
	EXPECT_EQ(ev.vm.session_pid, getpid());
	EXPECT_EQ(ev.seq, seq + 2);
	vmiop_close(v);
	ASSERT_EQ(next_event(m, &ev, 60000), 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_SESSION_DETACHED);
	tvm_destroy(tvm);
	ASSERT_EQ(next_event(m, &ev, 60000), 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_VM_DESTROYED);
	EXPECT_EQ(ev.vm.id, id);
	EXPECT_STREQ(ev.vm.name, "mon");
	EXPECT_EQ(ev.seq, seq + 4);
	EXPECT_EQ(vmiop_monitor_read(m, &ev), -EAGAIN);
	vmiop_monitor_close(m);
}

static void become_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
	    setresuid(65534, 65534, 65534))
		_exit(90);
	prctl(PR_SET_DUMPABLE, 1);
}

#define CHILD_CHECK(cond, code) do {						\
	if (!(cond)) {								\
		vmtest_diag("child: %s failed", #cond);				\
		_exit(code);							\
	}									\
} while (0)

TEST(lib_monitor_unprivileged)
{
	struct tvm *root_vm = tvm_create(1, 0);
	uint64_t root_id = vm_id_of(root_vm);
	int go[2], done[2], status;
	pid_t child;
	char c;

	if (getuid() != 0)
		SKIP("needs root");
	ASSERT_EQ(chmod("/dev/kvm", 0666), 0);
	ASSERT_EQ(pipe(go), 0);
	ASSERT_EQ(pipe(done), 0);
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		struct vmiop_vm_entry *vms;
		struct vmiop_vm_event ev;
		struct vmiop_monitor *m;
		struct tvm *own, *own2;
		uint64_t own_id, own2_id, attached_seq;
		struct vmiop *v;
		int n;

		close(tvm_vm_fd(root_vm));
		become_nobody();
		own = tvm_create(1, 0);
		n = vmiop_vm_list(&vms);
		CHILD_CHECK(n == 1, 10);
		own_id = vms[0].id;
		free(vms);
		CHILD_CHECK(vmiop_monitor_open(&m, 0) == 0, 11);
		CHILD_CHECK(write(go[1], "g", 1) == 1, 12);
		CHILD_CHECK(read(done[0], &c, 1) == 1, 13);
		/* root's VMs (created, renamed, attached to, destroyed): nothing */
		n = next_event(m, &ev, 1000);
		if (n == 1)
			vmtest_diag("child: unexpected event %u id %llu", ev.type,
				    (unsigned long long)ev.vm.id);
		CHILD_CHECK(n == -EAGAIN, 14);
		/*
		 * The open group says a VM was renamed, attached to or detached
		 * from, not which: the monitor finds its own VM's change by
		 * listing the VMs it sees.
		 */
		CHILD_CHECK(vmiop_vm_set_name(own_id, "mine") == 0, 15);
		CHILD_CHECK(next_event(m, &ev, 60000) == 1, 16);
		CHILD_CHECK(ev.type == VMIOP_GENL_CMD_VM_RENAMED && ev.vm.id == own_id, 17);
		CHILD_CHECK(!strcmp(ev.vm.name, "mine") && ev.vm.vmm_pid == getpid(), 18);
		CHILD_CHECK(ev.vm.name_source == VMIOP_VM_NAME_SET, 40);
		CHILD_CHECK(vmiop_open(&v) == 0, 41);
		CHILD_CHECK(vmiop_attach_id(v, own_id) == 0, 42);
		CHILD_CHECK(next_event(m, &ev, 60000) == 1, 43);
		CHILD_CHECK(ev.type == VMIOP_GENL_CMD_SESSION_ATTACHED && ev.vm.id == own_id, 44);
		CHILD_CHECK(ev.vm.session_pid == getpid() && !strcmp(ev.vm.name, "mine"), 45);
		attached_seq = ev.seq;
		vmiop_close(v);
		CHILD_CHECK(next_event(m, &ev, 60000) == 1, 46);
		CHILD_CHECK(ev.type == VMIOP_GENL_CMD_SESSION_DETACHED && ev.vm.id == own_id, 47);
		/* the session that ended */
		CHILD_CHECK(ev.vm.session_pid == getpid() && ev.seq == attached_seq + 1, 48);
		/* one event each, nothing more */
		CHILD_CHECK(next_event(m, &ev, 300) == -EAGAIN, 49);
		tvm_destroy(own);
		CHILD_CHECK(next_event(m, &ev, 60000) == 1, 19);
		CHILD_CHECK(ev.type == VMIOP_GENL_CMD_VM_DESTROYED && ev.vm.id == own_id, 20);
		CHILD_CHECK(!strcmp(ev.vm.name, "mine"), 21);
		own2 = tvm_create(1, 0);
		CHILD_CHECK(next_event(m, &ev, 60000) == 1, 22);
		CHILD_CHECK(ev.type == VMIOP_GENL_CMD_VM_CREATED, 23);
		own2_id = ev.vm.id;
		CHILD_CHECK(ev.vm.nr_vcpus <= 1 && ev.vm.vmm_uid == 65534, 24);
		tvm_destroy(own2);
		CHILD_CHECK(next_event(m, &ev, 60000) == 1, 25);
		CHILD_CHECK(ev.type == VMIOP_GENL_CMD_VM_DESTROYED && ev.vm.id == own2_id, 26);
		CHILD_CHECK(next_event(m, &ev, 500) == -EAGAIN, 27);
		vmiop_monitor_close(m);
		_exit(0);
	}
	ASSERT_EQ(read(go[0], &c, 1), 1);
	{
		struct tvm *r2 = tvm_create(1, 0);
		struct vmiop *v;

		ASSERT_EQ(vmiop_vm_set_name(root_id, "hidden"), 0);
		ASSERT_EQ(vmiop_open(&v), 0);
		ASSERT_EQ(vmiop_attach_id(v, root_id), 0);
		vmiop_close(v);
		/* attaches to r2 and detaches too */
		EXPECT_GT(vm_id_of(r2), root_id);
		tvm_destroy(r2);
	}
	ASSERT_EQ(write(done[1], "d", 1), 1);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	tvm_destroy(root_vm);
}


TEST(cli_vms_by_name)
{
	struct tvm *a = tvm_create(2, 0), *b = tvm_create(1, 0);
	uint64_t ida = vm_id_of(a), idb = vm_id_of(b);
	char out[8192], sa[32], sb[32], want[128];
	pid_t helper;
	int status;

	snprintf(sa, sizeof(sa), "%llu", (unsigned long long)ida);
	snprintf(sb, sizeof(sb), "%llu", (unsigned long long)idb);
	EXPECT_EQ(CLI(out, "name", sa, "cli-vm"), 0);
	EXPECT_EQ(CLI(out, "list"), 0);
	vmtest_diag("list:\n%s", out);
	EXPECT_TRUE(strstr(out, "cli-vm") != NULL);
	EXPECT_TRUE(strstr(out, "VCPUS MEMORY VENDOR SESSION") != NULL);
	EXPECT_EQ(CLI(out, "id", "cli-vm"), 0);
	snprintf(want, sizeof(want), "%s\n", sa);
	EXPECT_STREQ(out, want);
	EXPECT_EQ(CLI(out, "name", sa), 0);
	EXPECT_STREQ(out, "cli-vm\n");
	EXPECT_EQ(CLI(out, "name", sb, "cli-vm"), 1);
	vmtest_diag("clash: %s", out);
	EXPECT_TRUE(strstr(out, "a live VM already has that name") != NULL);
	EXPECT_EQ(CLI(out, "name", sb, "a/b"), 1);
	vmtest_diag("invalid: %s", out);
	EXPECT_EQ(CLI(out, "-n", "cli-vm", "info"), 0);
	EXPECT_TRUE(strstr(out, "vcpus       2\n") != NULL);
	EXPECT_EQ(CLI(out, "-i", sb, "info"), 0);
	EXPECT_TRUE(strstr(out, "vcpus       1\n") != NULL);
	EXPECT_EQ(CLI(out, "-n", "nope", "info"), 1);
	vmtest_diag("no such name: %s", out);
	EXPECT_EQ(CLI(out, "-i", "999999", "info"), 1);
	vmtest_diag("no such id: %s", out);
	EXPECT_EQ(CLI(out, "name", sa, ""), 0);
	EXPECT_EQ(CLI(out, "name", sa), 1);
	vmtest_diag("no name: %s", out);
	EXPECT_EQ(CLI(out, "id", "cli-vm"), 1);
	vmtest_diag("gone name: %s", out);

	/* monitor: once it says it listens, a VM comes and goes */
	{
		int pipefd[2];
		size_t got = 0;
		ssize_t n;
		struct tvm *t;

		ASSERT_EQ(pipe(pipefd), 0);
		fflush(stdout);
		helper = fork();
		ASSERT_GE(helper, 0);
		if (helper == 0) {
			char *argv[] = { "vmiop", "monitor", "2", NULL };

			dup2(pipefd[1], 1);
			close(pipefd[0]);
			exit(vmiop_cli_main(3, argv));
		}
		close(pipefd[1]);
		while (!memchr(out, '\n', got)) {
			n = read(pipefd[0], out + got, sizeof(out) - 1 - got);
			ASSERT_GT(n, 0);
			got += n;
		}
		t = tvm_create(1, 0);
		tvm_destroy(t);
		while ((n = read(pipefd[0], out + got, sizeof(out) - 1 - got)) > 0)
			got += n;
		out[got] = '\0';
		close(pipefd[0]);
	}
	vmtest_diag("monitor:\n%s", out);
	EXPECT_TRUE(strncmp(out, "listening: ", 11) == 0);
	EXPECT_TRUE(strstr(out, " created id ") != NULL);
	EXPECT_TRUE(strstr(out, " destroyed id ") != NULL);
	ASSERT_EQ(waitpid(helper, &status, 0), helper);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tvm_destroy(a);
	tvm_destroy(b);
}

TEST(lib_list_a_hundred_bare_vms)
{
	struct vmiop_vm_entry *vms;
	int kvm = open("/dev/kvm", O_RDWR), fds[100], i, n;

	ASSERT_GE(kvm, 0);
	for (i = 0; i < 100; i++)
		ASSERT_GE(fds[i] = ioctl(kvm, KVM_CREATE_VM, 0), 0);
	n = vmiop_vm_list(&vms);
	EXPECT_GE(n, 100);
	for (i = 1; i < n; i++)
		EXPECT_GT(vms[i].id, vms[i - 1].id);
	vmtest_diag("listed %d", n);
	free(vms);
	for (i = 0; i < 100; i++)
		close(fds[i]);
	close(kvm);
}

TEST(lib_monitor_overrun_reported_once)
{
	int small = 1, kvm = open("/dev/kvm", O_RDWR), fds[10], i, r, lost = 0, got = 0;
	struct vmiop_vm_event ev;
	struct vmiop_monitor *m;

	ASSERT_GE(kvm, 0);
	ASSERT_EQ(vmiop_monitor_open(&m, 0), 0);
	ASSERT_EQ(setsockopt(vmiop_monitor_fd(m), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	for (i = 0; i < 10; i++)
		ASSERT_GE(fds[i] = ioctl(kvm, KVM_CREATE_VM, 0), 0);
	for (i = 0; i < 10; i++)
		close(fds[i]);
	while ((r = next_event(m, &ev, 500)) != -EAGAIN) {
		if (r == 1)
			got++, vmtest_diag("ev %u seq %llu", ev.type, (unsigned long long)ev.seq);
		else if (r == -ENOBUFS)
			lost++;
		else
			ASSERT_EQ(r, 1);
	}
	vmtest_diag("overrun: %d events, %d losses", got, lost);
	EXPECT_EQ(lost, 1);
	EXPECT_LT(got, 20);
	/* in order again, nothing more to report: the next result is the event */
	ASSERT_GE(fds[0] = ioctl(kvm, KVM_CREATE_VM, 0), 0);
	r = next_event(m, &ev, 60000);
	vmtest_diag("after: %d type %u seq %llu", r, ev.type, (unsigned long long)ev.seq);
	ASSERT_EQ(r, 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_VM_CREATED);
	close(fds[0]);
	ASSERT_EQ(next_event(m, &ev, 60000), 1);
	EXPECT_EQ(ev.type, VMIOP_GENL_CMD_VM_DESTROYED);
	EXPECT_EQ(next_event(m, &ev, 300), -EAGAIN);
	vmiop_monitor_close(m);
	close(kvm);
}

VMTEST_MAIN()
