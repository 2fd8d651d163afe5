// SPDX-License-Identifier: LGPL-3.0-or-later
/*
 * vmi-mem-emulate NAME SYMBOL: the guest kernel's page holding SYMBOL
 * made read-only; each write to it a memory event answered with
 * VMI_EVENT_RESPONSE_EMULATE (KVM's emulator makes the write).  A count
 * per second of writes, and SYMBOL's value, until SIGINT; then the page
 * is writable again.  Needs the guest's LibVMI config entry (a symbol).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmi/libvmi.h>
#include <libvmi/events.h>

static volatile sig_atomic_t interrupted;
static uint64_t writes;

static void on_signal(int sig)
{
	interrupted = sig;
}

static event_response_t on_write(vmi_instance_t vmi, vmi_event_t *event)
{
	(void)vmi;
	(void)event;
	writes++;
	return VMI_EVENT_RESPONSE_EMULATE;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	vmi_instance_t vmi = NULL;
	vmi_event_t mem = { 0 };
	addr_t va, pa;
	unsigned int rounds = 0;
	uint64_t value;
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s NAME SYMBOL\n", argv[0]);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (vmi_init_complete(&vmi, argv[1], VMI_INIT_DOMAINNAME | VMI_INIT_EVENTS, NULL,
			      VMI_CONFIG_GLOBAL_FILE_ENTRY, NULL, NULL) == VMI_FAILURE) {
		fprintf(stderr, "Failed to init LibVMI\n");
		return 1;
	}
	if (vmi_translate_ksym2v(vmi, argv[2], &va) == VMI_FAILURE ||
	    vmi_translate_kv2p(vmi, va, &pa) == VMI_FAILURE) {
		fprintf(stderr, "Failed to find %s\n", argv[2]);
		goto out;
	}
	SETUP_MEM_EVENT(&mem, pa >> 12, VMI_MEMACCESS_W, on_write, false);
	if (vmi_register_event(vmi, &mem) == VMI_FAILURE) {
		fprintf(stderr, "Failed to register the memory event\n");
		goto out;
	}
	printf("%s at 0x%" PRIx64 " (gfn 0x%" PRIx64 "): writes emulated\n", argv[2], va,
	       pa >> 12);
	printf("Waiting for events...\n");
	while (!interrupted) {
		uint64_t before = writes;

		for (int i = 0; i < 2 && !interrupted; i++)
			if (vmi_events_listen(vmi, 500) == VMI_FAILURE) {
				fprintf(stderr, "Failed to listen on events\n");
				goto out;
			}
		if (vmi_read_64_va(vmi, va, 0, &value) == VMI_FAILURE) {
			fprintf(stderr, "Failed to read %s\n", argv[2]);
			goto out;
		}
		printf("round %u: %" PRIu64 " writes emulated, %s = %" PRIu64 "\n", ++rounds,
		       writes - before, argv[2], value);
	}
	ret = 0;
out:
	vmi_clear_event(vmi, &mem, NULL);
	vmi_destroy(vmi);
	return ret;
}
