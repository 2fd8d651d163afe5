// SPDX-License-Identifier: GPL-2.0
/*
 * DESC events: loads and stores of IDTR, GDTR, LDTR and TR with each
 * reply, the value a load is about to load, and no exits once disabled.
 */
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

extern const char vt_lgdt[], vt_lgdt_end[];

struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint64_t base;
};

static struct dtr guest_idtr, guest_gdtr, guest_gdtr_skipped;
static uint16_t guest_ldtr = 0x5555, guest_tr;
static uint64_t guest_lgdt_fault[2];	/* vector, rip */

static bool guest_on_lgdt_fault(struct tvm_exc_frame *f)
{
	if (f->rip != (uintptr_t)vt_lgdt)
		return false;
	guest_lgdt_fault[0] = f->vector;
	guest_lgdt_fault[1] = f->rip;
	f->rip = (uintptr_t)vt_lgdt_end;
	return true;
}

#define DESC_QUIET 1000

static void guest_descriptor_tables(uint64_t arg)
{
	struct dtr scratch;
	int i;

	(void)arg;
	tvm_guest_set_exc_handler(guest_on_lgdt_fault);
	guest_gdtr_skipped.limit = 0x1234;
	__asm__ __volatile__("sidt %0" : "=m"(guest_idtr));
	__asm__ __volatile__("sgdt %0" : "+m"(guest_gdtr_skipped));
	__asm__ __volatile__("sldt %0" : "+m"(guest_ldtr));
	__asm__ __volatile__("str %0" : "=m"(guest_tr));
	__asm__ __volatile__("lidt %0" : : "m"(guest_idtr));
	__asm__ __volatile__("sgdt %0" : "=m"(guest_gdtr));
	__asm__ __volatile__(".globl vt_lgdt\n vt_lgdt: lgdt (%0)\n"
			     ".globl vt_lgdt_end\n vt_lgdt_end:" : : "r"(&guest_gdtr) : "memory");
	__asm__ __volatile__("lldt %w0" : : "r"(0));
	__asm__ __volatile__("ltr %w0" : : "r"(TVM_SEL_TSS));	/* busy: skipped */
	GUEST_SYNC(1);		/* the filter becomes GDTR only */
	__asm__ __volatile__("sidt %0" : "=m"(scratch));
	__asm__ __volatile__("sgdt %0" : "=m"(scratch));
	GUEST_SYNC(2);		/* off */
	for (i = 0; i < DESC_QUIET; i++)
		__asm__ __volatile__("sidt %0; sgdt %0" : "=m"(scratch));
	GUEST_SYNC(3);
	GUEST_DONE();
}

struct desc_phases {
	struct vmiop *v;
	bool failed;
	uint64_t exits[4];
};

static bool desc_phase(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	static const struct vmiop_filter_range gdtr_only = { VMIOP_DESC_GDTR, VMIOP_DESC_GDTR };
	struct desc_phases *p = opaque;

	p->exits[uc->args[0] & 3] = tvm_vcpu_stat(vcpu, "exits");
	if (uc->args[0] == 1 &&
	    vmiop_event_enable(p->v, VMIOP_EVENT_DESC, -1, &gdtr_only, 1))
		p->failed = true;
	if (uc->args[0] == 2 && vmiop_event_disable(p->v, VMIOP_EVENT_DESC, -1))
		p->failed = true;
	return true;
}

TEST(descriptor_table_loads_and_stores)
{
	static const struct {
		uint32_t reg, write, action;
	} steps[] = {
		{ VMIOP_DESC_IDTR, 0, VMIOP_ACTION_CONTINUE },	/* sidt */
		{ VMIOP_DESC_GDTR, 0, VMIOP_ACTION_SKIP },	/* sgdt */
		{ VMIOP_DESC_LDTR, 0, VMIOP_ACTION_CONTINUE },	/* sldt */
		{ VMIOP_DESC_TR, 0, VMIOP_ACTION_CONTINUE },	/* str */
		{ VMIOP_DESC_IDTR, 1, VMIOP_ACTION_CONTINUE },	/* lidt */
		{ VMIOP_DESC_GDTR, 0, VMIOP_ACTION_CONTINUE },	/* sgdt */
		{ VMIOP_DESC_GDTR, 1, VMIOP_ACTION_INJECT },	/* lgdt: #GP(0) */
		{ VMIOP_DESC_LDTR, 1, VMIOP_ACTION_CONTINUE },	/* lldt */
		{ VMIOP_DESC_TR, 1, VMIOP_ACTION_SKIP },	/* ltr */
		{ VMIOP_DESC_GDTR, 0, VMIOP_ACTION_CONTINUE },	/* sgdt, GDTR only */
	};
	struct vmiop_event_desc loads[sizeof(steps) / sizeof(steps[0])] = { 0 };
	struct desc_phases phases = { 0 };
	struct vmiop_event_caps caps;
	struct tvm_vcpu *vcpu;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	struct tvm *tvm;
	struct vmiop *v;
	unsigned int i;

	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_event_caps(v, &caps), 0);
	vmiop_close(v);
	if (!(caps.supported & (1ULL << VMIOP_EVENT_DESC)))
		SKIP("descriptor-table exits unavailable on this CPU (reason %u)",
		     caps.reason[VMIOP_EVENT_DESC]);
	tvm = tvm_create(1, 0);
	vcpu = tvm_vcpu(tvm, 0);
	phases.v = v = vt_attach(tvm);
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DESC, -1, NULL, 0), 0);
	tvm_vcpu_entry(vcpu, guest_descriptor_tables, 0);
	tvm_vcpu_thread_start(vcpu, desc_phase, &phases);

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct vmiop_event_reply r = { .action = steps[i].action };

		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_DESC);
		EXPECT_EQ(ev->desc.reg, steps[i].reg);
		EXPECT_EQ(ev->desc.write, steps[i].write);
		loads[i] = ev->desc;
		if (steps[i].action == VMIOP_ACTION_INJECT) {
			r.exception.vector = 13;
			r.exception.flags = VMIOP_INJECT_F_ERROR_CODE;
		}
		ASSERT_EQ(vmiop_event_reply(v, ev, &r), 0);
		vmiop_ring_advance(ring, 1);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_FALSE(phases.failed);
	EXPECT_EQ(vmiop_ring_ready(ring), 0);
	/* What the emulated stores wrote, and the skipped one did not. */
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_idtr)->base, ev->regs.idtr_base);
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_idtr)->limit, ev->regs.idtr_limit);
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_gdtr)->base, ev->regs.gdtr_base);
	EXPECT_EQ(TVM_GUEST_VAR(tvm, guest_gdtr_skipped)->limit, 0x1234);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_ldtr), 0);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, guest_tr), TVM_SEL_TSS);
	EXPECT_EQ((*TVM_GUEST_VAR(tvm, guest_lgdt_fault))[0], 13);
	/*
	 * Each load's event has the value about to be loaded, decoded from
	 * its operand: memory (LIDT m, LGDT (%reg)) or a register (LLDT,
	 * LTR); stores have none.
	 */
	EXPECT_EQ(loads[0].flags, 0);
	EXPECT_EQ(loads[4].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[4].new_base, TVM_GUEST_VAR(tvm, guest_idtr)->base);
	EXPECT_EQ(loads[4].new_limit, TVM_GUEST_VAR(tvm, guest_idtr)->limit);
	EXPECT_EQ(loads[6].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[6].new_base, TVM_GUEST_VAR(tvm, guest_gdtr)->base);
	EXPECT_EQ(loads[6].new_limit, TVM_GUEST_VAR(tvm, guest_gdtr)->limit);
	EXPECT_NE(loads[6].new_base, 0);
	EXPECT_EQ(loads[7].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[7].new_selector, 0);
	EXPECT_EQ(loads[8].flags, VMIOP_DESC_NEW_VALID);
	EXPECT_EQ(loads[8].new_selector, TVM_SEL_TSS);
	/* Disabled, the instructions run without exits again. */
	EXPECT_LT(phases.exits[3] - phases.exits[2], DESC_QUIET / 2);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
