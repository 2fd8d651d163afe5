// SPDX-License-Identifier: LGPL-3.0-or-later
/*
 * vmi-cpuid-reply NAME: answers the guest's CPUID leaf 0x80000002 (the
 * first 16 bytes of the processor's brand string) with EAX = "vmio",
 * through VMI_EVENT_RESPONSE_SET_REGISTERS; other leaves go on as they
 * are.  One line per answered CPUID, until SIGINT.  A test of
 * SET_REGISTERS on the vmiop driver: a guest kernel bringing a CPU on
 * line reads the brand string, and shows it in /proc/cpuinfo.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include <libvmi/libvmi.h>
#include <libvmi/events.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static event_response_t on_cpuid(vmi_instance_t vmi, vmi_event_t *event)
{
	(void)vmi;
	if (event->cpuid_event.leaf != 0x80000002)
		return VMI_EVENT_RESPONSE_NONE;
	printf("vCPU %u CPUID 0x80000002: EAX 0x%" PRIx64 " answered \"vmio\"\n", event->vcpu_id,
	       event->x86_regs->rax);
	event->x86_regs->rax = 0x6f696d76;	/* "vmio", little-endian */
	/* Xen's way: the callback moves RIP past; the driver's too. */
	event->x86_regs->rip += event->cpuid_event.insn_length;
	return VMI_EVENT_RESPONSE_SET_REGISTERS;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	vmi_instance_t vmi = NULL;
	vmi_event_t ev = { 0 };
	int ret = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s NAME\n", argv[0]);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (vmi_init(&vmi, VMI_KVM, argv[1], VMI_INIT_DOMAINNAME | VMI_INIT_EVENTS, NULL,
		     NULL) == VMI_FAILURE) {
		fprintf(stderr, "Failed to init LibVMI\n");
		return 1;
	}
	ev.version = VMI_EVENTS_VERSION;
	ev.type = VMI_EVENT_CPUID;
	ev.callback = on_cpuid;
	if (vmi_register_event(vmi, &ev) == VMI_FAILURE) {
		fprintf(stderr, "Failed to register the CPUID event\n");
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
	vmi_clear_event(vmi, &ev, NULL);
	vmi_destroy(vmi);
	return ret;
}
