/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the event tests: one program per event class
 * (selftests/vmiop/events_CLASS.c), each linked with
 * selftests/lib/event_fixture.c (the Makefile's events_% rule).  Here is
 * what more than one of them uses: guest code (CPUID steps, the guest's
 * own #BP/#DB handler), the vCPU thread's SYNC(1) toggle, the reply that
 * gives the ring entry back, and constants.  A new event class is a new
 * events_CLASS.c; what only it needs stays in it.
 *
 * The ring and the wait for an event are vt_ring_setup() and
 * vt_next_event() (vmiop_test.h).
 */
#ifndef VMIOP_EVENT_FIXTURE_H
#define VMIOP_EVENT_FIXTURE_H

#include <errno.h>
#include <sys/ioctl.h>
#include "vmiop_test.h"

#define RFLAGS_TF	(1ULL << 8)
#define DR6_BS		(1ULL << 14)
#define CR4_PSE		(1ULL << 4)
#define MSR_PAT		0x277

/*
 * Guest code is in asm where a test needs exact instruction addresses: the
 * labels (vt_*) are global symbols, declared in the file whose guest code
 * defines them, and guest-virtual == host address.
 */
extern const char tvm_guest_idt_stubs[];	/* lib/guest.c: 16 bytes per vector */

/* ioctl(2) as -errno, for ASSERT_ERRNO. */
static inline long xioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* ---- guest: control registers ------------------------------------------ */

static inline uint64_t read_cr0(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
	return v;
}

static inline uint64_t read_cr4(void)
{
	uint64_t v;

	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	return v;
}

static inline void write_cr0(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr0" : : "r"(v) : "memory");
}

static inline void write_cr4(uint64_t v)
{
	__asm__ __volatile__("mov %0, %%cr4" : : "r"(v) : "memory");
}

/* ---- guest: CPUID steps ------------------------------------------------- */

#define NR_CPUID_STEPS 5

struct cpuid_out {
	uint32_t eax, ebx, ecx, edx;
};

/* Guest-side globals (the guest's copy is read back through TVM_GUEST_VAR). */
extern const uint32_t cpuid_leaves[NR_CPUID_STEPS];
extern struct cpuid_out cpuid_results[NR_CPUID_STEPS];
/* Leaves 1..3 of cpuid_leaves, not 0 and 4. */
extern const struct vmiop_filter_range cpuid_filter;

/*
 * Runs CPUID on each of cpuid_leaves (subleaf 7, EBX and EDX preloaded so
 * that a skipped one is visible), results in cpuid_results; then DONE.
 */
void guest_cpuid_steps(uint64_t arg);

/*
 * Each vCPU runs CPUID FLOOD_LEAF flood_events times (subleaf i, EBX the
 * vCPU index) and counts in flood_bad[idx] the answers that are not
 * EAX = idx, EBX = i: what the host is to reply.
 */
#define FLOOD_LEAF 0x40000160
extern uint32_t flood_events;
extern uint64_t flood_bad[TVM_MAX_VCPUS];
void guest_flood(uint64_t idx);

/* ---- guest: its own #BP and #DB ----------------------------------------- */

/* What the guest's own handlers saw: the RIP each exception pushed. */
extern uint64_t guest_seen[8];
extern uint64_t guest_seen_count;

/* Records a #DB or #BP in guest_seen and clears RFLAGS.TF. */
bool guest_on_exception(struct tvm_exc_frame *f);
/* The RIP of the guest's @i-th #DB/#BP, from the guest's copy. */
uint64_t guest_seen_rip(struct tvm *tvm, unsigned int i);

/* ---- host: the vCPU thread and replies ---------------------------------- */

/*
 * Each thread's on_sync gets the session: SYNC(1) enables @type on vCPU 0
 * (@enable) or disables it for the whole VM.
 */
struct sync_action {
	struct vmiop *v;
	unsigned int type;
	bool enable;
};

bool sync_toggle(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque);

/* Answers @ev with @action, which takes no value, and gives its entry back. */
void reply(struct vmiop *v, struct vmiop_ring *ring, struct vmiop_event *ev,
	   uint32_t action);

#endif
