// SPDX-License-Identifier: GPL-2.0
/*
 * Module unload: refused while a session exists; once none does, it
 * leaves KVM as it was, even with vCPUs sleeping in functions vmiop hooked.
 * Runs last: it reloads the module.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/syscall.h>
#include "vmiop_test.h"
#include "vt_vmm.h"

VT_DEFINE_COUNTERS;

static const char *module_path(void)
{
	const char *p = getenv("VMIOP_KO");

	return p ? p : "/modules/vmiop.ko";
}

static int unload(void)
{
	return syscall(SYS_delete_module, "vmiop", O_NONBLOCK) ? -errno : 0;
}

static int load_with(const char *params)
{
	int fd = open(module_path(), O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static int load(void)
{
	return load_with("");
}

/* The kernel log from now on (its end), to look in with kmsg_has(). */
static int kmsg_from_now(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* A record logged since kmsg_from_now() contains @text; closes @fd. */
static bool kmsg_has(int fd, const char *text)
{
	static char rec[8192];
	bool found = false;
	ssize_t n;

	while (fd >= 0 && !found) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && (errno == EPIPE || errno == EINVAL))
			continue;	/* overwritten meanwhile; one too long */
		if (n <= 0)
			break;
		rec[n] = '\0';
		found = strstr(rec, text) != NULL;
	}
	if (fd >= 0)
		close(fd);
	return found;
}

/*
 * vmiop takes KVM's layouts from the running kernel's BTF and checks the
 * ones it was compiled against: a module whose expectation is off (here
 * by a test parameter) refuses to load, saying what differs.
 */
TEST(wrong_layout_refuses_the_load)
{
	struct vmiop *v;
	int log;

	if (access(module_path(), R_OK))
		SKIP("no module file at %s (set VMIOP_KO)", module_path());
	ASSERT_EQ(unload(), 0);
	log = kmsg_from_now();
	ASSERT_GE(log, 0);
	EXPECT_EQ(load_with("test_layout_skew=8"), -EINVAL);
	EXPECT_TRUE(kmsg_has(log, "vmiop: kvm: struct kvm_vcpu is "));
	EXPECT_NE(access("/dev/vmiop", F_OK), 0);
	ASSERT_EQ(load(), 0);
	ASSERT_EQ(vmiop_open(&v), 0);
	vmiop_close(v);
}

static void guest_halt(uint64_t idx)
{
	vt_counters[idx] = 1;
	for (;;)
		guest_hlt();
}

/* The vendor module's reference count, from sysfs. */
static long module_refcnt(const char *name)
{
	char path[96];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/*
 * vmiop hooks and calls kvm_amd/kvm_intel: while it is loaded, an rmmod of
 * the vendor module is refused (it would leave vmiop calling freed code
 * after a reload), with no VM open; vmiop's unload gives it back.
 */
TEST(vendor_module_pinned_while_vmiop_is_loaded)
{
	struct vmiop_api api;
	const char *vendor;
	struct vmiop *v;
	long pinned;

	if (access(module_path(), R_OK))
		SKIP("no module file at %s (set VMIOP_KO)", module_path());
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	vmiop_close(v);
	vendor = api.host_vendor == VMIOP_VENDOR_AMD ? "kvm_amd" : "kvm_intel";
	pinned = module_refcnt(vendor);
	ASSERT_GE(pinned, 1);
	ASSERT_EQ(syscall(SYS_delete_module, vendor, O_NONBLOCK), -1);
	EXPECT_TRUE(errno == EWOULDBLOCK || errno == EBUSY);
	EXPECT_EQ(access("/dev/kvm", R_OK | W_OK), 0);

	ASSERT_EQ(unload(), 0);
	EXPECT_EQ(module_refcnt(vendor), pinned - 1);
	ASSERT_EQ(load(), 0);
	EXPECT_EQ(module_refcnt(vendor), pinned);
}

TEST(unload_refused_while_attached)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	int ret;

	if (access(module_path(), R_OK))
		SKIP("no module file at %s (set VMIOP_KO)", module_path());
	ret = unload();
	ASSERT_TRUE(ret == -EAGAIN || ret == -EBUSY);
	/* The session is intact. */
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(unload_with_vcpus_in_hooked_functions_then_reload)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop_vm_info info;
	struct vmiop *v;
	uint64_t before;

	if (access(module_path(), R_OK))
		SKIP("no module file at %s (set VMIOP_KO)", module_path());
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), vt_guest_count, 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 1), guest_halt, 1);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 1), NULL, NULL);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) > 0 && vt_counter(tvm, 1) == 1);
	tvm_vcpu_wait_blocked(tvm_vcpu(tvm, 1));

	/*
	 * Paused, the halted vCPU parks in the redirected kvm_vcpu_block();
	 * resumed and detached, it sleeps in the original called from vmiop.
	 */
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);

	ASSERT_EQ(unload(), 0);
	ASSERT_EQ(access("/dev/vmiop", F_OK), -1);
	/* KVM runs the guest on without vmiop. */
	before = vt_counter(tvm, 0);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) != before);
	ASSERT_EQ(tvm_vcpu_thread_state(tvm_vcpu(tvm, 1)), TVM_THREAD_RUNNING);

	ASSERT_EQ(load(), 0);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	ASSERT_EQ(info.nr_vcpus, 2);
	ASSERT_EQ(vmiop_pause(v), 1);
	before = vt_counter(tvm, 0);
	vt_msleep(200);
	ASSERT_EQ(vt_counter(tvm, 0), before);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	ASSERT_EQ(tvm_vcpu_thread_stop(tvm_vcpu(tvm, 0)), TVM_THREAD_STOPPED);
	ASSERT_EQ(tvm_vcpu_thread_stop(tvm_vcpu(tvm, 1)), TVM_THREAD_STOPPED);
	tvm_destroy(tvm);
}

/*
 * KVM keeps no list vmiop could be told of: VMs created before the load
 * are found on KVM's own, with the name their VMM's argv gives them.
 */
TEST(vms_from_before_the_load_get_ids_and_names)
{
	char *const argv[] = { "/usr/bin/qemu-system-x86_64", "-name",
			       "guest=early,debug-threads=on", "-S", NULL };
	struct vmiop_vm_entry *vms;
	struct vmiop_vm_info info;
	struct vt_vmm vmm, later;
	struct tvm *tvm;
	struct vmiop *v;
	uint64_t id;
	int n, i, named = 0, own = 0;

	if (access(module_path(), R_OK))
		SKIP("no module file at %s (set VMIOP_KO)", module_path());
	ASSERT_EQ(unload(), 0);
	vmm = vt_vmm_start(argv, 2, 0);
	/* The same name, later: first come keeps it, as while loaded */
	later = vt_vmm_start(argv, 1, 0);
	tvm = tvm_create(1, 0);
	ASSERT_EQ(load(), 0);

	n = vmiop_vm_list(&vms);
	ASSERT_GE(n, 3);
	for (i = 0; i < n; i++) {
		if (vms[i].vmm_pid == vmm.pid) {
			named++;
			EXPECT_EQ(strcmp(vms[i].name, "early"), 0);
			EXPECT_EQ(vms[i].name_source, VMIOP_VM_NAME_CMDLINE);
			EXPECT_EQ(vms[i].nr_vcpus, 2);
		}
		if (vms[i].vmm_pid == later.pid) {
			EXPECT_EQ(vms[i].name[0], '\0');
			EXPECT_EQ(vms[i].name_source, 0);
		}
		if (vms[i].vmm_pid == getpid()) {
			own++;
			EXPECT_EQ(vms[i].nr_vcpus, 1);
			EXPECT_EQ(vms[i].mem_bytes, tvm_mem_size(tvm));
		}
	}
	free(vms);
	EXPECT_EQ(named, 1);
	EXPECT_EQ(own, 1);

	ASSERT_EQ(vmiop_vm_lookup("early", &id), 0);
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_name(v, "early"), 0);
	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	EXPECT_EQ(info.vm_id, id);
	EXPECT_EQ(info.nr_vcpus, 2);
	vmiop_close(v);
	vt_vmm_stop(&vmm);
	vt_vmm_stop(&later);
	ASSERT_EQ(vmiop_vm_lookup("early", &id), -ENOENT);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
