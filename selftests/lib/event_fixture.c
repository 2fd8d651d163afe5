// SPDX-License-Identifier: GPL-2.0
/* The event tests' shared fixture: selftests/vmiop/event_fixture.h. */
#include "event_fixture.h"

const uint32_t cpuid_leaves[NR_CPUID_STEPS] = {
	0x0, 0x40000150, 0x40000151, 0x40000152, 0x1,
};
struct cpuid_out cpuid_results[NR_CPUID_STEPS];

/* EBX and EDX are preloaded so that a skipped CPUID is visible as such. */
static inline void cpuid_preloaded(uint32_t leaf, struct cpuid_out *o)
{
	uint32_t a = leaf, b = 0xbbbb, c = 7, d = 0xdddd;

	__asm__ __volatile__("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : : "memory");
	o->eax = a;
	o->ebx = b;
	o->ecx = c;
	o->edx = d;
}

void guest_cpuid_steps(uint64_t arg)
{
	int i;

	(void)arg;
	for (i = 0; i < NR_CPUID_STEPS; i++)
		cpuid_preloaded(cpuid_leaves[i], &cpuid_results[i]);
	GUEST_DONE();
}

const struct vmiop_filter_range cpuid_filter = { 0x40000150, 0x400001ff };

uint32_t flood_events;
uint64_t flood_bad[TVM_MAX_VCPUS];

void guest_flood(uint64_t idx)
{
	uint32_t i;

	for (i = 0; i < flood_events; i++) {
		uint32_t a = FLOOD_LEAF, b = (uint32_t)idx, c = i, d = 0;

		__asm__ __volatile__("cpuid" : "+a"(a), "+b"(b), "+c"(c), "+d"(d) : : "memory");
		if (a != idx || b != i)
			flood_bad[idx]++;
	}
	GUEST_DONE();
}

uint64_t guest_seen[8];
uint64_t guest_seen_count;

bool guest_on_exception(struct tvm_exc_frame *f)
{
	if (f->vector != 1 && f->vector != 3)
		return false;
	if (guest_seen_count < 8)
		guest_seen[guest_seen_count] = f->rip;
	guest_seen_count++;
	f->rflags &= ~RFLAGS_TF;	/* a #DB from the guest's own TF: stop */
	return true;
}

uint64_t guest_seen_rip(struct tvm *tvm, unsigned int i)
{
	return (*TVM_GUEST_VAR(tvm, guest_seen))[i];
}

bool sync_toggle(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	struct sync_action *a = opaque;

	(void)vcpu;
	if (uc->args[0] != 1)
		return true;
	if (a->enable)
		return vmiop_event_enable(a->v, a->type, 0, NULL, 0) == 0;
	return vmiop_event_disable(a->v, a->type, -1) == 0;
}

void reply(struct vmiop *v, struct vmiop_ring *ring, struct vmiop_event *ev,
	   uint32_t action)
{
	struct vmiop_event_reply r = { .action = action };

	ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
	vmiop_ring_advance(ring, 1);
}
