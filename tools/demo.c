// SPDX-License-Identifier: MIT
/*
 * vmiop-demo: a small KVM guest and an introspector attached to it.
 *
 * This process is the VMM: it runs a two-vCPU guest that writes a ticking
 * message into its memory (vCPU 0) and sleeps in HLT (vCPU 1).  A child
 * process, as any introspection tool would, attaches to the VM by the VMM's
 * pid, pauses it, prints registers and a memory dump, translates the
 * message's virtual address, resumes it, answers a few of the guest's
 * CPUID requests through events, and detaches.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libvmiop.h>
#include "guest.h"

#define MSG_GVA 0x00007f1234560000ULL	/* not identity mapped */
#define ASK_LEAF 0x40000100u		/* the guest's "request" */

static volatile uint64_t ticks;
static volatile uint32_t answer;	/* the last answer that was not KVM's 0 */

static void guest_ticker(uint64_t arg)
{
	volatile char *msg = (volatile char *)MSG_GVA;
	static const char text[] = "hello from the guest, tick ";

	(void)arg;
	for (uint64_t n = 0;; n++) {
		unsigned int i;

		for (i = 0; i < sizeof(text) - 1; i++)
			msg[i] = text[i];
		for (uint64_t d = n, k = 0; k < 12; k++, d /= 10)
			msg[i + 11 - k] = (char)('0' + d % 10);
		msg[i + 12] = '\0';
		ticks = n;
		if (n % 1024 == 0) {
			uint32_t a, b, c, d;

			guest_cpuid(ASK_LEAF, 0, &a, &b, &c, &d);
			if (a)
				answer = a;
		}
	}
}

static void guest_sleeper(uint64_t arg)
{
	(void)arg;
	for (;;)
		guest_hlt();
}

static void check(int ret, const char *what)
{
	if (ret < 0) {
		fprintf(stderr, "vmiop-demo: %s: %s\n", what, strerror(-ret));
		exit(1);
	}
}

/* The guest asks with CPUID every 1024 ticks: answer three times. */
static int answer_request(struct vmiop *v, const struct vmiop_event *ev,
			  struct vmiop_event_reply *r, void *opaque)
{
	int *answered = opaque;

	(void)v;
	r->action = VMIOP_ACTION_SET_RESULT;
	r->cpuid.eax = 0x42 + *answered;
	printf("event #%" PRIu64 ": vCPU %u CPUID leaf %#x at rip %#" PRIx64
	       " (KVM would say eax %#x): answering eax %#x\n", (uint64_t)ev->seq,
	       ev->vcpu, ev->cpuid.leaf, (uint64_t)ev->regs.rip, ev->cpuid.eax,
	       r->cpuid.eax);
	/* Non-zero ends the loop once this reply is out. */
	return ++*answered == 3;
}

static int answer_requests(struct vmiop *v)
{
	static const struct vmiop_filter_range ask = { ASK_LEAF, ASK_LEAF };
	static const vmiop_event_handler handlers[VMIOP_EVENT_NR_TYPES] = {
		[VMIOP_EVENT_CPUID] = answer_request,
	};
	uint64_t answer_gpa = (uint64_t)(uintptr_t)&answer;
	struct vmiop_ring *ring;
	int answered = 0, i, ret;
	uint32_t seen = 0;

	ret = vmiop_ring_setup(v, 8, &ring);
	if (!ret)
		ret = vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, &ask, 1);
	/* 0: ten seconds without a request */
	if (!ret)
		ret = vmiop_event_loop(v, ring, handlers, &answered, 0, 10000);
	ret = ret == 1 ? 0 : ret ? ret : -ETIMEDOUT;
	if (!ret)
		ret = vmiop_event_disable(v, VMIOP_EVENT_CPUID, -1);
	/* The guest stores it right after its CPUID: wait for that. */
	for (i = 0; !ret && seen != 0x44 && i < 10000; i++) {
		ret = vmiop_read_pa(v, answer_gpa, &seen, sizeof(seen));
		usleep(1000);
	}
	if (!ret)
		printf("the guest got the answer: eax %#x\n", seen);
	return ret ? ret : seen == 0x44 ? 0 : -ETIMEDOUT;
}

static int introspect(pid_t vmm)
{
	struct vmiop_memmap_entry *map;
	struct vmiop_translate t = { .vcpu = 0, .gva = MSG_GVA };
	uint64_t tick_before, tick_after, tick_gpa = (uint64_t)(uintptr_t)&ticks;
	struct vmiop_vm_info info;
	struct vmiop_regs r;
	struct vmiop *v;
	char msg[64];
	void *page;
	int n, i;

	check(vmiop_open(&v), "open /dev/vmiop");
	check(vmiop_attach_pid(v, vmm), "attach to the VMM");
	check(vmiop_vm_info(v, &info), "VM info");
	printf("attached to pid %d: %s, %u vCPUs, MAXPHYADDR %u\n", info.vmm_pid,
	       info.vendor == VMIOP_VENDOR_AMD ? "AMD SVM/NPT" : "Intel VMX/EPT",
	       info.nr_vcpus, info.maxphyaddr);
	n = vmiop_get_memmap(v, &map);
	check(n, "memory map");
	for (i = 0; i < n; i++)
		printf("  memory 0x%012" PRIx64 "-0x%012" PRIx64 " %s\n", (uint64_t)map[i].addr,
		       (uint64_t)(map[i].addr + map[i].size - 1),
		       map[i].type == VMIOP_E820_RAM ? "RAM" : "ROM");
	free(map);

	check(vmiop_pause(v), "pause");
	printf("paused\n");
	check(vmiop_read_pa(v, tick_gpa, &tick_before, 8), "read the tick");
	for (i = 0; i < 2; i++) {
		check(vmiop_get_regs(v, i, &r), "read registers");
		printf("vCPU %d: rip %#" PRIx64 " rsp %#" PRIx64 " rflags %#" PRIx64
		       " cr0 %#" PRIx64 " cr3 %#" PRIx64 " cr4 %#" PRIx64 " efer %#" PRIx64 "\n",
		       i, (uint64_t)r.rip, (uint64_t)r.rsp, (uint64_t)r.rflags, (uint64_t)r.cr0,
		       (uint64_t)r.cr3, (uint64_t)r.cr4, (uint64_t)r.efer);
		printf("        cs %#" PRIx64 " (attr %#" PRIx64 ") gdtr %#" PRIx64 "/%#" PRIx64
		       " idtr %#" PRIx64 "/%#" PRIx64 "\n", (uint64_t)r.cs.selector,
		       (uint64_t)r.cs.attr, (uint64_t)r.gdtr_base, (uint64_t)r.gdtr_limit,
		       (uint64_t)r.idtr_base, (uint64_t)r.idtr_limit);
	}
	check(vmiop_translate_ex(v, &t), "translate");
	if (t.fault != VMIOP_XLATE_OK) {
		fprintf(stderr, "vmiop-demo: message not mapped (fault %u)\n", t.fault);
		return 1;
	}
	printf("gva %#" PRIx64 " -> gpa %#" PRIx64 " (%" PRIu64 " KiB page, cr3 %#" PRIx64 ")\n",
	       (uint64_t)t.gva, (uint64_t)t.gpa, (uint64_t)t.page_size >> 10, (uint64_t)t.cr3);
	check(vmiop_read_pa(v, t.gpa, msg, sizeof(msg)), "read the message");
	msg[sizeof(msg) - 1] = '\0';
	printf("guest memory at %#" PRIx64 ": \"%s\"\n", (uint64_t)t.gpa, msg);
	check(vmiop_map_pa(v, t.gpa & ~4095ULL, 4096, PROT_READ, &page), "map the page");
	printf("same page mapped into this process: \"%s\"\n",
	       (char *)page + (t.gpa & 4095));
	check(vmiop_resume(v), "resume");
	printf("resumed\n");

	do {
		check(vmiop_read_pa(v, tick_gpa, &tick_after, 8), "read the tick");
	} while (tick_after == tick_before);
	printf("the guest runs on: tick %" PRIu64 " -> %" PRIu64 ", mapped page now \"%s\"\n",
	       tick_before, tick_after, (char *)page + (t.gpa & 4095));
	vmiop_unmap_pa(page, 4096);

	check(answer_requests(v), "events");
	vmiop_close(v);
	printf("detached\n");
	return 0;
}

int main(void)
{
	struct tvm *tvm = tvm_create(2, 0);
	uint64_t msg_gpa = tvm_alloc_gpa(tvm, 4096, 4096);
	int status;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	tvm_map(tvm, MSG_GVA, msg_gpa, TVM_PAGE_4K, TVM_PTE_W);
	tvm_vcpu_entry(tvm_vcpu(tvm, 0), guest_ticker, 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 1), guest_sleeper, 0);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 1), NULL, NULL);
	while (*TVM_GUEST_VAR(tvm, ticks) < 10)
		usleep(1000);
	printf("guest running (pid %d, message at gva %#llx)\n", (int)getpid(),
	       (unsigned long long)MSG_GVA);

	child = fork();
	if (child < 0)
		return 1;
	if (child == 0)
		_exit(introspect(getppid()));
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return 1;
	tvm_vcpu_thread_stop(tvm_vcpu(tvm, 0));
	tvm_vcpu_thread_stop(tvm_vcpu(tvm, 1));
	tvm_destroy(tvm);
	printf("demo done\n");
	return 0;
}
