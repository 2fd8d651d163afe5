// SPDX-License-Identifier: GPL-2.0
/* Pause and resume: every vCPU stops, whatever it was doing, and restarts. */
#include "vmiop_test.h"

VT_DEFINE_COUNTERS;

static void guest_halt(uint64_t idx)
{
	vt_counters[idx] = 1;
	for (;;)
		guest_hlt();	/* no interrupt source: blocks in KVM until kicked */
}

static void expect_frozen(struct tvm *tvm, unsigned int nr)
{
	uint64_t snap[TVM_MAX_VCPUS];
	unsigned int i;

	for (i = 0; i < nr; i++)
		snap[i] = vt_counter(tvm, i);
	/* Not a timing assertion: a paused guest cannot count at all. */
	vt_msleep(300);
	for (i = 0; i < nr; i++)
		ASSERT_EQ(vt_counter(tvm, i), snap[i]);
}

static void expect_running(struct tvm *tvm, unsigned int nr)
{
	unsigned int i;

	for (i = 0; i < nr; i++) {
		uint64_t before = vt_counter(tvm, i);

		VT_WAIT_UNTIL(vt_counter(tvm, i) != before);
	}
}

TEST(pause_resume_one_vcpu)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop_vm_info info;
	struct vmiop *v;
	int i;

	vt_start_counting(tvm, 1);
	v = vt_attach(tvm);

	for (i = 0; i < 5; i++) {
		ASSERT_EQ(vmiop_pause(v), 1);
		expect_frozen(tvm, 1);
		ASSERT_EQ(vmiop_vm_info(v, &info), 0);
		ASSERT_EQ(info.pause_count, 1);
		ASSERT_EQ(vmiop_resume(v), 0);
		expect_running(tvm, 1);
	}
	vmiop_close(v);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

TEST(pauses_nest)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v;

	vt_start_counting(tvm, 1);
	v = vt_attach(tvm);

	ASSERT_ERRNO(vmiop_resume(v), EINVAL);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_pause(v), 2);
	ASSERT_EQ(vmiop_resume(v), 1);
	expect_frozen(tvm, 1);
	ASSERT_EQ(vmiop_resume(v), 0);
	expect_running(tvm, 1);
	ASSERT_ERRNO(vmiop_resume(v), EINVAL);
	vmiop_close(v);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

/*
 * Four vCPUs: two counting, one halted in KVM, one never run.  Registers of
 * each are readable while paused, which needs the vCPU parked on its thread
 * or out of KVM_RUN.
 */
TEST(pause_four_vcpus_with_halted_and_never_run)
{
	struct tvm *tvm = tvm_create(4, 0);
	struct vmiop_regs regs;
	struct vmiop *v;
	int round;

	tvm_vcpu_entry(tvm_vcpu(tvm, 0), vt_guest_count, 0);
	tvm_vcpu_entry(tvm_vcpu(tvm, 1), vt_guest_count, 1);
	tvm_vcpu_entry(tvm_vcpu(tvm, 2), guest_halt, 2);
	tvm_vcpu_entry(tvm_vcpu(tvm, 3), vt_guest_count, 3);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 1), NULL, NULL);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 2), NULL, NULL);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) > 0 && vt_counter(tvm, 1) > 0 &&
		      vt_counter(tvm, 2) == 1);
	/* vCPU 2 halts in KVM_RUN, and stays there. */
	tvm_vcpu_wait_blocked(tvm_vcpu(tvm, 2));
	v = vt_attach(tvm);

	for (round = 0; round < 3; round++) {
		ASSERT_EQ(vmiop_pause(v), 1);
		expect_frozen(tvm, 2);
		ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
		ASSERT_EQ(vmiop_get_regs(v, 1, &regs), 0);
		ASSERT_EQ(vmiop_get_regs(v, 2, &regs), 0);
		ASSERT_EQ(vmiop_get_regs(v, 3, &regs), 0);
		/* Never ran: still at its entry point with its argument. */
		EXPECT_EQ(regs.rip, (uint64_t)(uintptr_t)vt_guest_count);
		EXPECT_EQ(regs.rdi, 3);
		EXPECT_EQ(vt_counter(tvm, 3), 0);
		ASSERT_EQ(vmiop_resume(v), 0);
		expect_running(tvm, 2);
	}
	/* The halted vCPU's thread is still in KVM_RUN, not failed. */
	EXPECT_EQ(tvm_vcpu_thread_state(tvm_vcpu(tvm, 2)), TVM_THREAD_RUNNING);
	vmiop_close(v);
	vt_stop_threads(tvm, 2);
	ASSERT_EQ(tvm_vcpu_thread_stop(tvm_vcpu(tvm, 2)), TVM_THREAD_STOPPED);
	tvm_destroy(tvm);
}

/* A vCPU thread that starts KVM_RUN while paused must not run the guest. */
TEST(vcpu_started_while_paused_stays_paused)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);

	tvm_vcpu_entry(tvm_vcpu(tvm, 0), vt_guest_count, 0);
	ASSERT_EQ(vmiop_pause(v), 1);
	tvm_vcpu_thread_start(tvm_vcpu(tvm, 0), NULL, NULL);
	vt_msleep(300);
	ASSERT_EQ(vt_counter(tvm, 0), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	VT_WAIT_UNTIL(vt_counter(tvm, 0) > 0);
	vmiop_close(v);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

/* The VMM can still stop its vCPU threads while the VM is paused. */
TEST(paused_vcpu_thread_answers_signals)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v;

	vt_start_counting(tvm, 1);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	/* Interrupts the parked KVM_RUN; the thread exits KVM with -EINTR. */
	vt_stop_threads(tvm, 1);
	expect_frozen(tvm, 1);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/*
 * The VMM's own state queries answer while vmiop holds the VM paused:
 * QEMU's vCPU thread, kicked out of KVM_RUN by its monitor, reads the vCPU
 * with KVM_GET_MP_STATE and KVM_GET_REGS holding QEMU's global lock.  They
 * see what vmiop sees, and the vCPU stays paused.
 */
TEST(vmm_reads_its_paused_vcpu)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop_regs regs;
	struct kvm_regs kregs;
	struct vmiop *v;
	int i;

	vt_start_counting(tvm, 1);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(tvm_vcpu_thread_stop(vcpu), TVM_THREAD_STOPPED);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(tvm_get_mp_state(vcpu), KVM_MP_STATE_RUNNABLE);
		tvm_get_regs(vcpu, &kregs);
		EXPECT_EQ(kregs.rip, regs.rip);
		/* Back into KVM_RUN, as the VMM goes: it parks there again. */
		tvm_vcpu_thread_start(vcpu, NULL, NULL);
		expect_frozen(tvm, 1);
		ASSERT_EQ(tvm_vcpu_thread_stop(vcpu), TVM_THREAD_STOPPED);
	}
	ASSERT_EQ(vmiop_resume(v), 0);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	expect_running(tvm, 1);
	vmiop_close(v);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

/* Closing a session that holds the VM paused lets it run. */
TEST(detach_while_paused_resumes)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop *v;

	vt_start_counting(tvm, 2);
	v = vt_attach(tvm);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_EQ(vmiop_pause(v), 2);
	expect_frozen(tvm, 2);
	vmiop_close(v);
	expect_running(tvm, 2);
	vt_stop_threads(tvm, 2);
	tvm_destroy(tvm);
}

/* The introspector killed with the VM paused: the VM runs on. */
TEST(introspector_killed_while_paused)
{
	struct tvm *tvm = tvm_create(1, 0);
	int ready[2], status;
	pid_t child;
	char c;

	vt_start_counting(tvm, 1);
	ASSERT_EQ(pipe(ready), 0);
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		struct vmiop *v;

		if (vmiop_open(&v) || vmiop_attach_pid(v, getppid()) || vmiop_pause(v) != 1)
			_exit(1);
		if (write(ready[1], "p", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	expect_frozen(tvm, 1);
	ASSERT_EQ(kill(child, SIGKILL), 0);
	ASSERT_EQ(waitpid(child, &status, 0), child);
	expect_running(tvm, 1);
	vt_stop_threads(tvm, 1);
	tvm_destroy(tvm);
}

/* A pause right after a resume, before the parked threads have left. */
TEST(pause_resume_back_to_back)
{
	struct tvm *tvm = tvm_create(2, 0);
	struct vmiop_regs regs;
	struct vmiop *v;
	int i;

	vt_start_counting(tvm, 2);
	v = vt_attach(tvm);
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(vmiop_pause(v), 1);
		ASSERT_EQ(vmiop_get_regs(v, i & 1, &regs), 0);
		ASSERT_EQ(vmiop_resume(v), 0);
	}
	expect_running(tvm, 2);
	vmiop_close(v);
	vt_stop_threads(tvm, 2);
	tvm_destroy(tvm);
}

TEST(registers_need_a_pause)
{
	struct tvm *tvm = tvm_create(1, 0);
	struct vmiop *v = vt_attach(tvm);
	struct vmiop_regs regs;
	uint64_t val;

	ASSERT_ERRNO(vmiop_get_regs(v, 0, &regs), EBUSY);
	ASSERT_ERRNO(vmiop_get_reg(v, 0, VMIOP_REG_RAX, &val), EBUSY);
	ASSERT_EQ(vmiop_pause(v), 1);
	ASSERT_ERRNO(vmiop_get_regs(v, 1, &regs), ENOENT);
	ASSERT_ERRNO(vmiop_get_regs(v, 1024, &regs), ENOENT);
	ASSERT_EQ(vmiop_get_regs(v, 0, &regs), 0);
	ASSERT_EQ(vmiop_resume(v), 0);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
