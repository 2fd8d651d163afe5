// SPDX-License-Identifier: GPL-2.0
/* Registers: what vmiop reads is what KVM holds; what it writes, the guest sees. */
#include <stddef.h>
#include <string.h>
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

#define MSR_LSTAR		0xc0000082
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_SYSENTER_ESP	0x00000175
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define CR4_TSD			(1ULL << 2)

/*
 * Clears RAX, says so, and spins until RAX becomes non-zero, then reports
 * it.  One asm block, so that the compiler cannot clear RAX again after the
 * host has seen the flag.
 */
static void guest_wait_rax(uint64_t arg)
{
	uint64_t v;

	(void)arg;
	asm volatile("xor %%eax, %%eax\n\t"
		     "movq $1, %1\n\t"
		     "1: pause\n\t"
		     "test %%rax, %%rax\n\t"
		     "jz 1b"
		     : "=&a"(v), "=m"(vt_counters[0]) : : "memory");
	GUEST_SYNC(v);
	GUEST_DONE();
}

static bool record_sync(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	(void)vcpu;
	*(uint64_t *)opaque = uc->args[0];
	return true;
}

static bool record_ucall(struct tvm_vcpu *vcpu, const struct ucall *uc, void *opaque)
{
	(void)vcpu;
	*(struct ucall *)opaque = *uc;
	return true;
}

TEST(set_rax_on_a_parked_vcpu_changes_guest_behaviour)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	uint64_t reported = 0, rax = 1;
	struct vmiop_regs regs;
	struct vmiop *v;

	tvm_vcpu_entry(vcpu, guest_wait_rax, 0);
	tvm_vcpu_thread_start(vcpu, record_sync, &reported);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) == 1);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	/* In the spin loop, still waiting. */
	EXPECT_EQ(regs.rax, 0);
	EXPECT_GE(regs.rip, (uint64_t)(uintptr_t)guest_wait_rax);
	EXPECT_LT(regs.rip, (uint64_t)(uintptr_t)guest_wait_rax + 64);
	ASSERT_EQ(vmiop_get_reg(v, 0, VMIOP_REG_RAX, &rax), 0);
	EXPECT_EQ(rax, 0);
	ASSERT_EQ(vmiop_set_reg(v, 0, VMIOP_REG_RAX, 0x1234abcd), 0);
	ASSERT_EQ(vmiop_get_reg(v, 0, VMIOP_REG_RAX, &rax), 0);
	EXPECT_EQ(rax, 0x1234abcd);
	ASSERT_EQ(vmiop_resume(v), 0);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(reported, 0x1234abcd);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_spin(uint64_t arg)
{
	(void)arg;
	vt_counters[0] = 1;
	for (;;)
		guest_pause();
}

/* Where the host sends the vCPU: reports the state it was given. */
static void guest_report_state(uint64_t arg)
{
	uint64_t cr4, dr0;

	__asm__ __volatile__("mov %%cr4, %0" : "=r"(cr4));
	__asm__ __volatile__("mov %%dr0, %0" : "=r"(dr0));
	tvm_ucall(UCALL_SYNC, arg, guest_rdmsr(MSR_FS_BASE), guest_rdmsr(MSR_GS_BASE),
		  cr4, dr0, 0);
	GUEST_DONE();
}

/*
 * State the CPU keeps in the VMCS/VMCB rather than in KVM's GPR array:
 * written on a parked vCPU, it must be what the guest runs with.
 */
TEST(set_rip_segments_cr4_dr0_on_a_parked_vcpu)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_regs r, back;
	struct ucall uc = { 0 };
	struct vmiop *v;

	tvm_vcpu_entry(vcpu, guest_spin, 0);
	tvm_vcpu_thread_start(vcpu, record_ucall, &uc);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) == 1);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &r), 0);
	EXPECT_GE(r.rip, (uint64_t)(uintptr_t)guest_spin);
	EXPECT_LT(r.rip, (uint64_t)(uintptr_t)guest_spin + 64);
	EXPECT_EQ(r.cr4 & CR4_TSD, 0);

	r.rip = (uint64_t)(uintptr_t)guest_report_state;
	r.rsp = (r.rsp & ~0xfULL) - 8;	/* as if called */
	r.rdi = 0x5eed;
	r.fs.base = 0x123456789000ULL;
	r.gs.base = 0xffff888012345000ULL;
	r.cr4 |= CR4_TSD;
	r.dr0 = 0xdead0000ULL;
	ASSERT_EQ(vmiop_set_regs(v, 0, &r), 0);
	ASSERT_EQ(vmiop_get_regs(v, 0, &back), 0);
	EXPECT_EQ(back.rip, r.rip);
	EXPECT_EQ(back.fs.base, r.fs.base);
	EXPECT_EQ(back.gs.base, r.gs.base);
	EXPECT_EQ(back.cr4, r.cr4);
	EXPECT_EQ(back.dr0, r.dr0);
	ASSERT_EQ(vmiop_resume(v), 0);
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(uc.args[0], 0x5eed);
	EXPECT_EQ(uc.args[1], 0x123456789000ULL);
	EXPECT_EQ(uc.args[2], 0xffff888012345000ULL);
	EXPECT_TRUE(uc.args[3] & CR4_TSD);
	EXPECT_EQ(uc.args[4], 0xdead0000ULL);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_msrs(uint64_t arg)
{
	guest_wrmsr(MSR_LSTAR, arg);
	guest_wrmsr(MSR_KERNEL_GS_BASE, arg + 1);
	GUEST_SYNC(1);
	GUEST_SYNC2(guest_rdmsr(MSR_LSTAR), guest_rdmsr(MSR_SYSENTER_ESP));
	GUEST_DONE();
}

/* The vCPU is out of KVM_RUN here: vmiop loads it itself. */
TEST(msrs_read_and_written_outside_kvm_run)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_reg list[3] = {
		{ .id = VMIOP_REG_LSTAR }, { .id = VMIOP_REG_KERNEL_GS_BASE },
		{ .id = VMIOP_REG_RIP },
	};
	struct vmiop_regs regs;
	struct ucall uc;
	struct vmiop *v;

	tvm_vcpu_entry(vcpu, guest_msrs, 0xffffffff81200000ULL);
	tvm_vcpu_expect_sync(vcpu, 1);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_reg_list(v, 0, list, 3), 0);
	EXPECT_EQ(list[0].value, 0xffffffff81200000ULL);
	EXPECT_EQ(list[1].value, 0xffffffff81200001ULL);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	EXPECT_EQ(regs.lstar, 0xffffffff81200000ULL);
	EXPECT_EQ(regs.rip, list[2].value);

	regs.lstar = 0xffffffff81300000ULL;
	regs.sysenter_esp = 0x5000;
	ASSERT_EQ(vmiop_set_regs(v, 0, &regs), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_SYNC);
	EXPECT_EQ(uc.args[0], 0xffffffff81300000ULL);
	EXPECT_EQ(uc.args[1], 0x5000);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_sync_once(uint64_t arg)
{
	GUEST_SYNC(arg);
	GUEST_DONE();
}

#define MSR_TSC_AUX 0xc0000103

/* TSC_AUX (how Linux, and the #VE agent, tell CPUs apart): read and written. */
TEST(tsc_aux_read_and_written)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop_reg r = { .id = VMIOP_REG_TSC_AUX };
	struct vmiop_regs regs;
	struct vmiop *v;

	tvm_set_msr(tvm_vcpu(tvm, 0), MSR_TSC_AUX, 0x1005);
	tvm_set_msr(tvm_vcpu(tvm, 1), MSR_TSC_AUX, 0x1006);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	EXPECT_EQ(regs.tsc_aux, 0x1005);
	ASSERT_EQ(vmiop_get_reg_list(v, 1, &r, 1), 0);
	EXPECT_EQ(r.value, 0x1006);
	EXPECT_EQ(strcmp(vmiop_reg_name(VMIOP_REG_TSC_AUX), "tsc_aux"), 0);
	regs.tsc_aux = 0x2007;
	ASSERT_EQ(vmiop_set_regs(v, 0, &regs), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	EXPECT_EQ(tvm_get_msr(tvm_vcpu(tvm, 0), MSR_TSC_AUX), 0x2007);
	EXPECT_EQ(tvm_get_msr(tvm_vcpu(tvm, 1), MSR_TSC_AUX), 0x1006);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* vmiop's view equals KVM_GET_REGS/SREGS of the same vCPU. */
TEST(regs_match_kvm)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct kvm_sregs ks;
	struct kvm_regs kr;
	struct vmiop_regs r;
	struct vmiop *v;

	tvm_vcpu_entry(vcpu, guest_sync_once, 42);
	tvm_vcpu_expect_sync(vcpu, 42);
	tvm_get_regs(vcpu, &kr);
	tvm_get_sregs(vcpu, &ks);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &r), 0);
	EXPECT_EQ(r.rax, kr.rax);
	EXPECT_EQ(r.rbx, kr.rbx);
	EXPECT_EQ(r.rcx, kr.rcx);
	EXPECT_EQ(r.rdx, kr.rdx);
	EXPECT_EQ(r.rsi, kr.rsi);
	EXPECT_EQ(r.rdi, kr.rdi);
	EXPECT_EQ(r.rsp, kr.rsp);
	EXPECT_EQ(r.rbp, kr.rbp);
	EXPECT_EQ(r.r8, kr.r8);
	EXPECT_EQ(r.r15, kr.r15);
	EXPECT_EQ(r.rip, kr.rip);
	EXPECT_EQ(r.rflags, kr.rflags);
	EXPECT_EQ(r.cr0, ks.cr0);
	EXPECT_EQ(r.cr3, ks.cr3);
	EXPECT_EQ(r.cr3, tvm_pt_root(tvm));
	EXPECT_EQ(r.cr4, ks.cr4);
	EXPECT_EQ(r.efer, ks.efer);
	EXPECT_EQ(r.apic_base, ks.apic_base);
	EXPECT_EQ(r.cs.selector, ks.cs.selector);
	EXPECT_EQ(r.cs.selector, TVM_SEL_CODE);
	EXPECT_EQ(r.cs.base, ks.cs.base);
	EXPECT_EQ(r.cs.limit, ks.cs.limit);
	EXPECT_EQ(r.cs.attr & 0xffff, (uint64_t)(ks.cs.type | ks.cs.s << 4 | ks.cs.dpl << 5 |
					       ks.cs.present << 7 | ks.cs.l << 13 |
					       ks.cs.db << 14 | ks.cs.g << 15));
	EXPECT_TRUE(r.cs.attr & (1 << 13));	/* 64-bit code */
	EXPECT_EQ(r.tr.selector, ks.tr.selector);
	EXPECT_EQ(r.tr.base, ks.tr.base);
	EXPECT_EQ(r.idtr_base, ks.idt.base);
	EXPECT_EQ(r.idtr_limit, ks.idt.limit);
	EXPECT_EQ(r.gdtr_base, ks.gdt.base);
	EXPECT_EQ(r.gdtr_limit, ks.gdt.limit);
	EXPECT_EQ(r.dr7, 0x400);
	EXPECT_EQ(r.dr6, 0xffff0ff0);
	EXPECT_EQ(r.xcr0 & 1, 1);	/* x87 is always on */
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

static void guest_report_rbx_cr4(uint64_t arg)
{
	struct ucall uc = { .cmd = UCALL_SYNC, .args = { 1 } };
	uint64_t rbx, cr4;

	(void)arg;
	/* RBX is read right after the exit, before the compiler can reuse it. */
	asm volatile("outb %%al, %%dx\n\t"
		     "mov %%rbx, %0"
		     : "=r"(rbx)
		     : "a"(0), "d"((uint16_t)TVM_UCALL_PORT), "D"(&uc)
		     : "memory");
	asm volatile("mov %%cr4, %0" : "=r"(cr4));
	GUEST_SYNC2(rbx, cr4);
	GUEST_DONE();
}

TEST(set_writes_only_what_changed_and_rejects_bad_values)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_regs before, r, after;
	struct vmiop_reg bad_id = { .id = VMIOP_NR_REGS };
	struct vmiop_reg bad_rsvd = { .id = VMIOP_REG_RAX, .reserved = 1 };
	struct ucall uc;
	struct vmiop *v;

	tvm_vcpu_entry(vcpu, guest_report_rbx_cr4, 0);
	tvm_vcpu_expect_sync(vcpu, 1);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_get_regs(v, 0, &before), 0);

	/* Rejected before anything is written. */
	r = before;
	r.reserved[0] = 1;
	ASSERT_ERRNO(vmiop_set_regs(v, 0, &r), EINVAL);
	r = before;
	r.cs.attr |= 1 << 20;
	ASSERT_ERRNO(vmiop_set_regs(v, 0, &r), EINVAL);
	r = before;
	r.gdtr_limit = 0x10000;
	ASSERT_ERRNO(vmiop_set_regs(v, 0, &r), EINVAL);
	ASSERT_ERRNO(vmiop_get_reg_list(v, 0, &bad_id, 1), EINVAL);
	ASSERT_ERRNO(vmiop_get_reg_list(v, 0, &bad_rsvd, 1), EINVAL);
	ASSERT_ERRNO(vmiop_get_reg_list(v, 0, NULL, 0), EINVAL);
	ASSERT_ERRNO(vmiop_set_reg_list(v, 0, &bad_id, 1), EINVAL);

	/* Refused by KVM (paging without protection; a GPR change with it). */
	r = before;
	r.rbx = 0x5555;
	r.cr0 &= ~1ULL;
	ASSERT_ERRNO(vmiop_set_regs(v, 0, &r), EINVAL);
	r = before;
	r.rbx = 0x5555;
	r.dr7 = 1ULL << 40;
	ASSERT_ERRNO(vmiop_set_regs(v, 0, &r), EINVAL);
	ASSERT_ERRNO(vmiop_set_reg(v, 0, VMIOP_REG_EFER, before.efer | (1ULL << 40)), EINVAL);
	ASSERT_EQ(vmiop_get_regs(v, 0, &after), 0);
	ASSERT_EQ(memcmp(&before, &after, sizeof(before)), 0);

	/* Accepted: the guest sees exactly the change. */
	r = before;
	r.rbx = 0x5555;
	r.cr4 |= 1ULL << 3;	/* CR4.DE */
	ASSERT_EQ(vmiop_set_regs(v, 0, &r), 0);
	ASSERT_EQ(vmiop_get_regs(v, 0, &after), 0);
	EXPECT_EQ(after.rbx, 0x5555);
	EXPECT_EQ(after.cr4, before.cr4 | (1ULL << 3));
	EXPECT_EQ(after.rip, before.rip);
	ASSERT_EQ(vmiop_resume(v), 0);
	ASSERT_EQ(tvm_vcpu_run_ucall(vcpu, &uc), UCALL_SYNC);
	EXPECT_EQ(uc.args[0], 0x5555);
	EXPECT_EQ(uc.args[1], before.cr4 | (1ULL << 3));
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
