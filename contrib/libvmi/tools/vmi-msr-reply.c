// SPDX-License-Identifier: LGPL-3.0-or-later
/*
 * vmi-msr-reply NAME deny|set VALUE: answers the guest's writes of
 * MSR_TSC_AUX through LibVMI: denied (VMI_EVENT_RESPONSE_DENY), or with
 * VALUE written instead (the callback changes reg_event.value), one line
 * per write, until SIGINT.  A test of the responses of LibVMI's register
 * events on the vmiop driver; TSC_AUX because a guest lives with a wrong
 * one (only its getcpu() is fooled).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmi/libvmi.h>
#include <libvmi/events.h>

#define TSC_AUX 0xc0000103u

static volatile sig_atomic_t interrupted;
static bool deny;
static uint64_t value;

static void on_signal(int sig)
{
	interrupted = sig;
}

static event_response_t on_write(vmi_instance_t vmi, vmi_event_t *event)
{
	(void)vmi;
	printf("vCPU %u writes MSR 0x%" PRIx32 " = 0x%" PRIx64 " (was 0x%" PRIx64 "): %s\n",
	       event->vcpu_id, event->reg_event.msr, event->reg_event.value,
	       event->reg_event.previous, deny ? "denied" : "replaced");
	if (deny)
		return VMI_EVENT_RESPONSE_DENY;
	event->reg_event.value = value;
	return VMI_EVENT_RESPONSE_NONE;
}

int main(int argc, char **argv)
{
	vmi_event_t event = { 0 };
	vmi_instance_t vmi = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	int ret = 1;

	if (argc < 3 || (strcmp(argv[2], "deny") && (strcmp(argv[2], "set") || argc != 4))) {
		fprintf(stderr, "usage: %s NAME deny|set VALUE\n", argv[0]);
		return 2;
	}
	deny = !strcmp(argv[2], "deny");
	if (!deny)
		value = strtoull(argv[3], NULL, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (vmi_init(&vmi, VMI_KVM, argv[1], VMI_INIT_DOMAINNAME | VMI_INIT_EVENTS, NULL,
		     NULL) == VMI_FAILURE) {
		fprintf(stderr, "Failed to init LibVMI\n");
		return 1;
	}
	event.version = VMI_EVENTS_VERSION;
	event.type = VMI_EVENT_REGISTER;
	event.reg_event.reg = MSR_ANY;
	event.reg_event.msr = TSC_AUX;
	event.reg_event.in_access = VMI_REGACCESS_W;
	event.callback = on_write;
	if (vmi_register_event(vmi, &event) == VMI_FAILURE) {
		fprintf(stderr, "Failed to register the MSR event\n");
		goto out;
	}
	printf("Waiting for events...\n");
	while (!interrupted)
		if (vmi_events_listen(vmi, 500) == VMI_FAILURE) {
			fprintf(stderr, "Failed to listen on events\n");
			goto out;
		}
	ret = 0;
out:
	vmi_clear_event(vmi, &event, NULL);
	vmi_destroy(vmi);
	return ret;
}
