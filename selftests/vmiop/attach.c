// SPDX-License-Identifier: GPL-2.0
/* Attaching and detaching: rights, exclusivity, ABI checks. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

TEST(api_reports_features)
{
	struct vmiop_api api;
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_get_api(v, &api), 0);
	EXPECT_TRUE(api.features & VMIOP_FEAT_PAUSE);
	EXPECT_TRUE(api.features & VMIOP_FEAT_REGS);
	EXPECT_TRUE(api.features & VMIOP_FEAT_MEM);
	EXPECT_TRUE(api.features & VMIOP_FEAT_TRANSLATE);
	EXPECT_EQ(api.nr_regs, VMIOP_NR_REGS);
	EXPECT_TRUE(api.host_vendor == VMIOP_VENDOR_AMD ||
		    api.host_vendor == VMIOP_VENDOR_INTEL);
	vmiop_close(v);
}

TEST(attach_detach_100_times_guest_keeps_running)
{
	struct tvm *tvm = tvm_create(1, 0);
	uint64_t before;
	int i;

	vt_start_counting(tvm, 1);

	for (i = 0; i < 100; i++) {
		struct vmiop *v = vt_attach(tvm);

		if (i % 10 == 0) {
			ASSERT_EQ(vmiop_pause(v), 1);
			ASSERT_EQ(vmiop_resume(v), 0);
		}
		vmiop_close(v);
	}
	/* Detached, the guest runs on. */
	before = vt_counter(tvm, 0);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) != before);
	ASSERT_EQ(tvm_vcpu_thread_state(tvm_vcpu(tvm, 0)), TVM_THREAD_RUNNING);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

TEST(second_session_is_busy)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v1 = vt_attach(tvm), *v2;

	ASSERT_EQ(vmiop_open(&v2), 0);
	ASSERT_ERRNO(vmiop_attach_fd(v2, tvm_vm_fd(tvm)), EBUSY);
	/* The same fd attached twice. */
	ASSERT_ERRNO(vmiop_attach_fd(v1, tvm_vm_fd(tvm)), EBUSY);
	vmiop_close(v1);
	/* Once the first is gone, the VM is free again. */
	ASSERT_EQ(vmiop_attach_fd(v2, tvm_vm_fd(tvm)), 0);
	vmiop_close(v2);
	tvm_destroy(tvm);
}

TEST(attach_by_pid)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop_vm_info info;
	struct vmiop *v;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid(v, getpid()), 0);
	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	EXPECT_EQ(info.nr_vcpus, 2);
	EXPECT_EQ(info.vmm_pid, getpid());
	EXPECT_EQ(info.pause_count, 0);
	EXPECT_GE(info.maxphyaddr, 32);
	vmiop_close(v);

	/* pid + fd number in that process */
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid_fd(v, getpid(), tvm_vm_fd(tvm)), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(attach_rejects_what_is_not_a_vm)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v;
	int pipefd[2];

	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_ERRNO(vmiop_attach_fd(v, pipefd[0]), EINVAL);
	ASSERT_ERRNO(vmiop_attach_fd(v, tvm_kvm_fd(tvm)), EINVAL);	/* /dev/kvm */
	ASSERT_ERRNO(vmiop_attach_fd(v, tvm_vcpu_fd(tvm_vcpu(tvm, 0))), EINVAL);
	ASSERT_ERRNO(vmiop_attach_fd(v, 1000), EBADF);
	ASSERT_ERRNO(vmiop_attach_fd(v, -1), EBADF);
	ASSERT_ERRNO(vmiop_attach_pid_fd(v, getpid(), 1000), EBADF);
	ASSERT_ERRNO(vmiop_attach_pid_fd(v, 0x3fffff, tvm_vm_fd(tvm)), ESRCH);
	/* Nothing stuck: a proper attach still works on this fd. */
	ASSERT_EQ(vmiop_attach_fd(v, tvm_vm_fd(tvm)), 0);
	vmiop_close(v);
	close(pipefd[0]);
	close(pipefd[1]);
	tvm_destroy(tvm);
}

TEST(unprivileged_user_cannot_attach_to_roots_vm)
{
	struct tvm *tvm = tvm_create(1, 0);
	pid_t vmm = getpid(), child;
	int status;

	if (getuid() != 0)
		SKIP("needs root to create the victim VM and drop privileges");
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		struct vmiop *v;
		int pidfd, fd;

		/* The inherited VM fd would be a capability: drop it. */
		close(tvm_vm_fd(tvm));
		if (setgid(65534) || setuid(65534))
			_exit(10);
		if (vmiop_open(&v))
			_exit(11);
		if (vmiop_attach_pid_fd(v, vmm, tvm_vm_fd(tvm)) != -EPERM)
			_exit(12);
		if (vmiop_attach_pid(v, vmm) >= 0)
			_exit(13);
		pidfd = syscall(SYS_pidfd_open, vmm, 0);
		fd = pidfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pidfd, tvm_vm_fd(tvm), 0);
		if (fd >= 0)
			_exit(14);
		vmiop_close(v);
		_exit(0);
	}
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	tvm_destroy(tvm);
}

/*
 * A VM fd held by another process (inherited, then privileges dropped, as
 * across a setuid exec) is no right to attach: KVM answers it only in the
 * VM's process, and vmiop asks for ptrace rights over that process.
 */
TEST(inherited_vm_fd_needs_ptrace_rights)
{
	struct tvm *tvm = tvm_create(1, 0);
	pid_t child;
	int status;

	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		struct vmiop *v;

		/* Still root: the fd is enough, as ptrace rights are there. */
		if (vmiop_open(&v) || vmiop_attach_fd(v, tvm_vm_fd(tvm)))
			_exit(10);
		vmiop_close(v);
		if (setgid(65534) || setuid(65534))
			_exit(11);
		if (vmiop_open(&v))
			_exit(12);
		if (vmiop_attach_fd(v, tvm_vm_fd(tvm)) != -EPERM)
			_exit(13);
		vmiop_close(v);
		_exit(0);
	}
	ASSERT_EQ(waitpid(child, &status, 0), child);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	tvm_destroy(tvm);
}

TEST(ioctls_need_a_session)
{
	struct vmiop_memmap_entry *e;
	struct vmiop_vm_info info;
	struct vmiop_regs regs;
	struct vmiop *v;
	uint8_t b;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_ERRNO(vmiop_vm_info(v, &info), ENOTCONN);
	ASSERT_ERRNO(vmiop_pause(v), ENOTCONN);
	ASSERT_ERRNO(vmiop_resume(v), ENOTCONN);
	ASSERT_ERRNO(vmiop_get_regs(v, 0, &regs), ENOTCONN);
	ASSERT_ERRNO(vmiop_read_pa(v, 0, &b, 1), ENOTCONN);
	ASSERT_ERRNO(vmiop_get_memmap(v, &e), ENOTCONN);
	vmiop_close(v);
}

TEST(abi_size_flags_reserved_checked)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	int fd = vmiop_fd(v);
	struct {
		struct vmiop_vm_info info;
		uint64_t tail;
	} big = { .info = { .size = sizeof(big) }, .tail = 0 };
	struct vmiop_vm_info info = { .size = sizeof(info) };
	struct vmiop_pause p = { .size = sizeof(p) };
	struct vmiop_api api = { .size = sizeof(api) };

	/* Too small for the first version. */
	info.size = 4;
	ASSERT_EQ(ioctl(fd, VMIOP_VM_INFO, &info), -1);
	ASSERT_EQ(errno, EINVAL);
	/* Unknown flags and reserved fields. */
	info.size = sizeof(info);
	info.flags = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_VM_INFO, &info), -1);
	ASSERT_EQ(errno, EINVAL);
	info.flags = 0;
	info.guest_features = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_VM_INFO, &info), -1);
	ASSERT_EQ(errno, EINVAL);
	api.reserved = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_GET_API, &api), -1);
	ASSERT_EQ(errno, EINVAL);
	p.flags = 0x80000000u;
	ASSERT_EQ(ioctl(fd, VMIOP_PAUSE, &p), -1);
	ASSERT_EQ(errno, EINVAL);
	p.flags = 0;
	p.reserved = 7;
	ASSERT_EQ(ioctl(fd, VMIOP_PAUSE, &p), -1);
	ASSERT_EQ(errno, EINVAL);
	/* The failed pauses changed nothing. */
	ASSERT_EQ(vmiop_vm_info(v, &info), 0);
	ASSERT_EQ(info.pause_count, 0);

	/* A newer, longer struct: fine while the unknown tail is zero. */
	ASSERT_EQ(ioctl(fd, VMIOP_VM_INFO, &big), 0);
	ASSERT_EQ(big.info.nr_vcpus, 1);
	big.tail = 1;
	ASSERT_EQ(ioctl(fd, VMIOP_VM_INFO, &big), -1);
	ASSERT_EQ(errno, E2BIG);

	/* Unknown commands. */
	ASSERT_EQ(ioctl(fd, _IO(VMIOP_TYPE, 0x3f), &info), -1);
	ASSERT_EQ(errno, ENOTTY);
	ASSERT_EQ(ioctl(fd, _IO(VMIOP_TYPE, 0xff), &info), -1);
	ASSERT_EQ(errno, ENOTTY);
	ASSERT_EQ(ioctl(fd, _IOWR(VMIOP_TYPE, VMIOP_CMD_VM_INFO, struct vmiop_vm_info),
			&info), -1);
	ASSERT_EQ(errno, ENOTTY);
	ASSERT_EQ(ioctl(fd, VMIOP_VM_INFO, (void *)8), -1);
	ASSERT_EQ(errno, EFAULT);
	vmiop_close(v);
	tvm_destroy(tvm);
}

TEST(memmap_lists_guest_ram)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_memmap m = { .size = sizeof(m) };
	struct vmiop_memmap_entry *e;
	int n;

	/* The runtime's two touching RAM slots appear as one range. */
	n = vmiop_get_memmap(v, &e);
	ASSERT_EQ(n, 1);
	EXPECT_EQ(e[0].addr, 0);
	EXPECT_EQ(e[0].size, tvm_mem_size(tvm));
	EXPECT_EQ(e[0].type, VMIOP_E820_RAM);
	free(e);

	/* Too small an array: -ENOSPC and the count needed. */
	ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_GET_MEMMAP, &m), -1);
	ASSERT_EQ(errno, ENOSPC);
	ASSERT_EQ(m.nr_entries, 1);
	m.reserved = 1;
	ASSERT_EQ(ioctl(vmiop_fd(v), VMIOP_GET_MEMMAP, &m), -1);
	ASSERT_EQ(errno, EINVAL);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
