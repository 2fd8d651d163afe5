// SPDX-License-Identifier: MIT
/*
 * A program outside vmiop's tree, built against the installed library:
 *
 *	cc $(pkg-config --cflags vmiop) -o vmiop-list vmiop-list.c \
 *		$(pkg-config --libs vmiop)
 *	cc -static $(pkg-config --cflags vmiop) -o vmiop-list vmiop-list.c \
 *		$(pkg-config --static --libs vmiop)
 *
 * Lists the host's VMs the caller may introspect, and with an id, the
 * vCPUs of that VM from a session.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libvmiop.h>

int main(int argc, char **argv)
{
	struct vmiop_vm_entry *vms;
	struct vmiop_vm_info info;
	struct vmiop *v;
	int n, i, ret;

	n = vmiop_vm_list(&vms);
	if (n < 0) {
		fprintf(stderr, "vmiop-list: %s%s\n", strerror(-n),
			n == -ENODEV ? " (the vmiop module is not loaded)" : "");
		return 1;
	}
	for (i = 0; i < n; i++)
		printf("%" PRIu64 " %s %d\n", vms[i].id, vms[i].name[0] ? vms[i].name : "-",
		       (int)vms[i].vmm_pid);
	free(vms);
	if (argc < 2)
		return 0;

	ret = vmiop_open(&v);
	if (!ret) {
		ret = vmiop_attach_id(v, strtoull(argv[1], NULL, 0));
		if (!ret)
			ret = vmiop_vm_info(v, &info);
		if (!ret)
			printf("VM %" PRIu64 ": %u vCPUs\n", (uint64_t)info.vm_id, info.nr_vcpus);
		vmiop_close(v);
	}
	if (ret)
		fprintf(stderr, "vmiop-list: VM %s: %s\n", argv[1], strerror(-ret));
	return ret ? 1 : 0;
}
