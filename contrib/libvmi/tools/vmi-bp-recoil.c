// SPDX-License-Identifier: LGPL-3.0-or-later
/*
 * vmi-bp-recoil NAME GPA: breakpoint-recoil-example's pattern on a guest
 * with no OS profile (a physical address, not a symbol): an INT3 planted
 * at GPA; on a hit the original byte goes back, the INT3 is not
 * reinjected (the vCPU runs the instruction there again) and the vCPU
 * steps once, after which the INT3 goes back in.  INT3s that are not
 * ours are reinjected.  One line per hit, until SIGINT; then the
 * original byte is restored.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvmi/libvmi.h>
#include <libvmi/events.h>

static volatile sig_atomic_t interrupted;
static addr_t site;
static uint8_t saved;
static uint64_t hits, theirs;
static bool stopping;	/* the byte stays back: no INT3 planted again */

static void on_signal(int sig)
{
	interrupted = sig;
}

static event_response_t on_int3(vmi_instance_t vmi, vmi_event_t *event)
{
	uint8_t orig = saved;

	if (event->interrupt_event.gla != site) {
		theirs++;
		event->interrupt_event.reinject = 1;
		return VMI_EVENT_RESPONSE_NONE;
	}
	if (vmi_write_8_pa(vmi, site, &orig) == VMI_FAILURE) {
		fprintf(stderr, "Failed to put the original byte back\n");
		event->interrupt_event.reinject = 1;
		return VMI_EVENT_RESPONSE_NONE;
	}
	event->interrupt_event.reinject = 0;
	if (stopping)
		return VMI_EVENT_RESPONSE_NONE;	/* run the original; no step */
	printf("hit %" PRIu64 " at 0x%" PRIx64 " on vCPU %u\n", ++hits, site, event->vcpu_id);
	return VMI_EVENT_RESPONSE_TOGGLE_SINGLESTEP;
}

static event_response_t on_step(vmi_instance_t vmi, vmi_event_t *event)
{
	uint8_t int3 = 0xcc;

	(void)event;
	if (!stopping && vmi_write_8_pa(vmi, site, &int3) == VMI_FAILURE)
		fprintf(stderr, "Failed to plant the INT3 again\n");
	return VMI_EVENT_RESPONSE_TOGGLE_SINGLESTEP;
}

int main(int argc, char **argv)
{
	vmi_event_t bp = { 0 }, ss = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	vmi_instance_t vmi = NULL;
	uint8_t int3 = 0xcc;
	bool read = false;
	int ret = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: %s NAME GPA\n", argv[0]);
		return 2;
	}
	site = strtoull(argv[2], NULL, 0);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (vmi_init(&vmi, VMI_KVM, argv[1], VMI_INIT_DOMAINNAME | VMI_INIT_EVENTS, NULL,
		     NULL) == VMI_FAILURE) {
		fprintf(stderr, "Failed to init LibVMI\n");
		return 1;
	}
	if (vmi_pause_vm(vmi) == VMI_FAILURE || vmi_read_8_pa(vmi, site, &saved) == VMI_FAILURE) {
		fprintf(stderr, "Failed to read the byte at 0x%" PRIx64 "\n", site);
		goto out;
	}
	read = true;
	bp.version = VMI_EVENTS_VERSION;
	bp.type = VMI_EVENT_INTERRUPT;
	bp.interrupt_event.intr = INT3;
	bp.callback = on_int3;
	ss.version = VMI_EVENTS_VERSION;
	ss.type = VMI_EVENT_SINGLESTEP;
	ss.callback = on_step;
	ss.ss_event.enable = 0;
	for (unsigned int vcpu = 0; vcpu < vmi_get_num_vcpus(vmi); vcpu++)
		SET_VCPU_SINGLESTEP(ss.ss_event, vcpu);
	if (vmi_register_event(vmi, &bp) == VMI_FAILURE ||
	    vmi_register_event(vmi, &ss) == VMI_FAILURE ||
	    vmi_write_8_pa(vmi, site, &int3) == VMI_FAILURE) {
		fprintf(stderr, "Failed to set the breakpoint up\n");
		goto out;
	}
	printf("INT3 at 0x%" PRIx64 " (was 0x%02x)\n", site, saved);
	printf("Waiting for events...\n");
	if (vmi_resume_vm(vmi) == VMI_FAILURE)
		goto out;
	while (!interrupted)
		if (vmi_events_listen(vmi, 500) == VMI_FAILURE) {
			fprintf(stderr, "Failed to listen on events\n");
			goto out;
		}
	ret = 0;
out:
	/*
	 * Paused, the byte back, the events still waiting answered with it
	 * back (a step no longer re-plants), the events cleared, and the byte
	 * written once more, last: whatever state the site was in, the guest
	 * gets its byte.
	 */
	vmi_pause_vm(vmi);
	stopping = true;
	if (read) {
		vmi_write_8_pa(vmi, site, &saved);
		vmi_events_listen(vmi, 0);
	}
	vmi_clear_event(vmi, &bp, NULL);
	vmi_clear_event(vmi, &ss, NULL);
	if (read) {
		vmi_events_listen(vmi, 0);
		if (vmi_write_8_pa(vmi, site, &saved) == VMI_FAILURE) {
			fprintf(stderr, "Failed to restore the byte at 0x%" PRIx64 "\n", site);
			ret = 1;
		} else {
			printf("restored 0x%02x at 0x%" PRIx64 " after %" PRIu64 " hits (%" PRIu64
			       " INT3s of the guest's own reinjected)\n", saved, site, hits, theirs);
		}
	}
	vmi_resume_vm(vmi);
	vmi_destroy(vmi);
	return ret;
}
