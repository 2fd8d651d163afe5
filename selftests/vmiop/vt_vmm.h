/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A VMM of the test's own: the test binary re-executed with the argv a
 * QEMU would have, creating one VM.  The module reads a VM's name from its
 * VMM's argv; a test process's own is its path.
 */
#ifndef VT_VMM_H
#define VT_VMM_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include "vmiop_test.h"

/*
 * Run as "VT_VMM=vcpus:mem_bytes /proc/self/exe ARGV...": creates a VM,
 * says so on fd 3 and keeps it until fd 3 closes.  The module reads the
 * name from this process's argv, as it would QEMU's.
 */
__attribute__((constructor)) static void vt_vmm_role(void)
{
	const char *spec = getenv("VT_VMM");
	unsigned int vcpus;
	size_t mem;
	char c;

	if (!spec)
		return;
	if (sscanf(spec, "%u:%zu", &vcpus, &mem) != 2)
		_exit(100);
	tvm_create(vcpus, mem);
	if (write(3, "r", 1) != 1)
		_exit(101);
	while (read(3, &c, 1) > 0)
		;
	_exit(0);
}

struct vt_vmm {
	pid_t pid;
	int ctl;
};

/* Starts a VMM whose argv is @argv (argv[0] included); waits for its VM. */
static struct vt_vmm vt_vmm_start(char *const argv[], unsigned int vcpus, size_t mem)
{
	struct vt_vmm vmm;
	char spec[64];
	int sv[2];
	char c;

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(spec, sizeof(spec), "%u:%zu", vcpus, mem);
	vmm.pid = fork();
	ASSERT_GE(vmm.pid, 0);
	if (vmm.pid == 0) {
		if (dup2(sv[1], 3) != 3)
			_exit(102);
		setenv("VT_VMM", spec, 1);
		execv("/proc/self/exe", argv);
		_exit(103);
	}
	close(sv[1]);
	vmm.ctl = sv[0];
	ASSERT_EQ(read(vmm.ctl, &c, 1), 1);
	return vmm;
}

static void vt_vmm_stop(struct vt_vmm *vmm)
{
	int status;

	close(vmm->ctl);
	ASSERT_EQ(waitpid(vmm->pid, &status, 0), vmm->pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#endif
