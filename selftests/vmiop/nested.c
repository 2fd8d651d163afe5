// SPDX-License-Identifier: GPL-2.0
/*
 * A session ends while its vCPU runs a nested guest (L2) of the test
 * guest's own: what vmiop made KVM intercept sits on L1's VMCB, which is
 * not the one loaded, and must still be given back before vmiop lets go,
 * or KVM meets exits it never asked for once L1 runs again (an internal
 * error on SVM).  Detached by close, by a killed introspector, and with
 * the VMM gone; then L2 and L1 run to completion and the session's last
 * trace (its hold on the module) goes.
 *
 * The test guest (L1) runs L2 with VMRUN (AMD) or VMLAUNCH (Intel) on a
 * VMCB or VMCS the host computes from the vCPU's own state: L2 shares
 * L1's page tables, segments and IDT, so its ucalls reach the host as
 * L1's do (L1 intercepts no I/O).
 */
#include <sys/wait.h>
#include "event_fixture.h"

VT_DEFINE_COUNTERS;

#define MSR_EFER		0xc0000080
#define MSR_LSTAR		0xc0000082
#define MSR_VM_HSAVE_PA		0xc0010117
#define EFER_SVME		(1ULL << 12)

/* VMCB offsets (AMD APM vol. 2, appendix B) */
#define VMCB_INTERCEPT_MISC2	0x010	/* bit 0 VMRUN, bit 1 VMMCALL */
#define VMCB_ASID		0x058
#define VMCB_EXIT_CODE		0x070
#define VMCB_SAVE		0x400
#define VMCB_ES			(VMCB_SAVE + 0x000)	/* ES CS SS DS FS GS GDTR LDTR IDTR TR, 16 each */
#define VMCB_CPL		(VMCB_SAVE + 0x0cb)
#define VMCB_EFER		(VMCB_SAVE + 0x0d0)
#define VMCB_CR4		(VMCB_SAVE + 0x148)
#define VMCB_CR3		(VMCB_SAVE + 0x150)
#define VMCB_CR0		(VMCB_SAVE + 0x158)
#define VMCB_DR7		(VMCB_SAVE + 0x160)
#define VMCB_DR6		(VMCB_SAVE + 0x168)
#define VMCB_RFLAGS		(VMCB_SAVE + 0x170)
#define VMCB_RIP		(VMCB_SAVE + 0x178)
#define VMCB_RSP		(VMCB_SAVE + 0x1d8)
#define VMCB_G_PAT		(VMCB_SAVE + 0x268)
#define SVM_EXIT_VMMCALL	0x81

#define L2_RUNNING		0x12
#define L1_BACK			0x11

/* VMCS fields (Intel SDM vol. 3, appendix B) */
#define VMX_BASIC_MSR		0x480
#define VMX_TRUE_PINBASED	0x48d	/* + 1 procbased, + 2 exit, + 3 entry */
#define MSR_FEATURE_CONTROL	0x3a
#define CR4_VMXE		(1ULL << 13)
#define VMCS_VM_INSTRUCTION_ERROR 0x4400
#define VMCS_EXIT_REASON	0x4402
#define VMCS_EXIT_INSN_LEN	0x440c
#define VMCS_GUEST_RIP		0x681e
#define VMCS_HOST_RSP		0x6c14
#define VMX_EXIT_VMCALL		18

/* Set by the host: L2 runs under VMX (Intel), else SVM. */
static uint64_t l2_vmx;

static uint8_t l2_vmcb[4096] __attribute__((aligned(4096)));
static uint8_t l2_vmxon[4096] __attribute__((aligned(4096)));
static uint8_t l2_vmcs[4096] __attribute__((aligned(4096)));
static uint8_t l2_msr_bitmap[4096] __attribute__((aligned(4096)));	/* none exits to L1 */

/* The VMCS as the host computed it from the vCPU's state; L1 writes it. */
struct vmx_field {
	uint64_t field, value;
};

static struct vmx_field l2_vmcs_fields[96];
static uint64_t l2_nr_vmcs_fields;
static uint64_t l1_vmx_failed;		/* field or instruction that failed */
static uint8_t l2_hsave[4096] __attribute__((aligned(4096)));
static uint8_t l2_stack[16384] __attribute__((aligned(16)));
static volatile uint64_t l2_release;	/* the host lets L2 finish */
static volatile uint64_t l2_done;
static uint64_t l1_bad_exit;		/* an exit of L2 other than VMMCALL */
static uint64_t l1_breakpoints;		/* INT3s the guest's own handler took */

struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint64_t base;
};

/* What vmiop intercepts for its events, done once per loop in L2 and at the end in L1. */
static inline void guest_touch_intercepts(void)
{
	struct dtr d;
	uint16_t sel;
	uint64_t v;

	__asm__ __volatile__("sidt %0" : "=m"(d));
	__asm__ __volatile__("sgdt %0" : "=m"(d));
	__asm__ __volatile__("lgdt %0" : : "m"(d));
	__asm__ __volatile__("sldt %0" : "=m"(sel));
	__asm__ __volatile__("str %0" : "=m"(sel));
	__asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
	__asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
	__asm__ __volatile__("mov %%cr3, %0; mov %0, %%cr3" : "=&r"(v) : : "memory");
	guest_wrmsr(MSR_LSTAR, guest_rdmsr(MSR_LSTAR));
}

/* Back to L1, which advances RIP past it. */
static void l2_hypercall(void)
{
	if (l2_vmx)
		__asm__ __volatile__("vmcall" : : : "memory");
	else
		__asm__ __volatile__("vmmcall" : : : "memory");
}

/* Set by the host: L2 runs this many rounds and ends by itself. */
static uint64_t l2_rounds;
static volatile uint64_t l2_int3s;	/* INT3s L2 ran */

static void l2_main(void)
{
	uint64_t i;

	GUEST_SYNC(L2_RUNNING);
	for (i = 0; l2_rounds ? i < l2_rounds : !l2_release; i++) {
		guest_touch_intercepts();
		l2_int3s++;
		__asm__ __volatile__("int3");
		guest_pause();
	}
	l2_done = 1;
	for (;;)
		l2_hypercall();
}

static bool l1_on_breakpoint(struct tvm_exc_frame *f)
{
	if (f->vector != 3)
		return false;
	l1_breakpoints++;
	return true;
}

/* L2's GPRs come back in L1's: all but RSP and RAX (restored) are lost. */
#define L2_CLOBBERS "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", \
		    "r13", "r14", "r15", "memory", "cc"

static void l1_vmrun(uint64_t vmcb)
{
	__asm__ __volatile__("push %%rbp\n\t"
			     "vmrun %%rax\n\t"
			     "stgi\n\t"
			     "pop %%rbp"
			     : "+a"(vmcb)
			     :
			     : L2_CLOBBERS);
}

/* VMX instructions; true if they failed (CF or ZF). */
static bool vmx_op(const char *which, uint64_t pa)
{
	uint8_t fail;

	if (which[0] == 'o')
		__asm__ __volatile__("vmxon %1; setna %0" : "=q"(fail) : "m"(pa) : "cc", "memory");
	else if (which[0] == 'c')
		__asm__ __volatile__("vmclear %1; setna %0" : "=q"(fail) : "m"(pa) : "cc", "memory");
	else
		__asm__ __volatile__("vmptrld %1; setna %0" : "=q"(fail) : "m"(pa) : "cc", "memory");
	return fail;
}

static uint64_t vmread(uint64_t field)
{
	uint64_t v;

	__asm__ __volatile__("vmread %1, %0" : "=r"(v) : "r"(field) : "cc");
	return v;
}

static bool vmwrite(uint64_t field, uint64_t v)
{
	uint8_t fail;

	__asm__ __volatile__("vmwrite %2, %1; setna %0" : "=q"(fail) : "r"(field), "r"(v) : "cc");
	return fail;
}

/*
 * Enters L2 (VMLAUNCH the first time) until its next VM exit, whose host
 * RIP is vt_vmx_exit and host RSP this frame's.  False if the entry failed.
 */
extern const char vt_vmx_exit[];

static bool l1_vmx_enter(uint64_t launched)
{
	__asm__ __volatile__("push %%rbp\n\t"
			     "mov $0x6c14, %%rdx\n\t"	/* VMCS_HOST_RSP */
			     "vmwrite %%rsp, %%rdx\n\t"
			     "test %%rax, %%rax\n\t"
			     "jnz 1f\n\t"
			     "vmlaunch\n\t"
			     "jmp 2f\n"
			     "1: vmresume\n"
			     "2: mov $1, %%eax\n\t"	/* only if the entry failed */
			     "jmp 3f\n"
			     ".globl vt_vmx_exit\n"
			     "vt_vmx_exit: xor %%eax, %%eax\n"
			     "3: pop %%rbp"
			     : "+a"(launched)
			     :
			     : L2_CLOBBERS);
	return !launched;
}

/* L1 becomes L2's hypervisor (the host prepared the VMCB or VMCS). */
static void l1_start(void)
{
	uint64_t i;

	if (!l2_vmx) {
		guest_wrmsr(MSR_EFER, guest_rdmsr(MSR_EFER) | EFER_SVME);
		guest_wrmsr(MSR_VM_HSAVE_PA, (uintptr_t)l2_hsave);
		return;
	}
	/* CR4.VMXE and the feature-control MSR: set by the host */
	if (vmx_op("on", (uintptr_t)l2_vmxon))
		l1_vmx_failed = 1;
	else if (vmx_op("clear", (uintptr_t)l2_vmcs) || vmx_op("ptrld", (uintptr_t)l2_vmcs))
		l1_vmx_failed = 2;
	for (i = 0; !l1_vmx_failed && i < l2_nr_vmcs_fields; i++)
		if (vmwrite(l2_vmcs_fields[i].field, l2_vmcs_fields[i].value))
			l1_vmx_failed = l2_vmcs_fields[i].field;
	GUEST_ASSERT_EQ(l1_vmx_failed, 0);
}

/* Runs L2 until its next hypercall, and moves it past that. */
static void l1_run_l2(void)
{
	static uint64_t launched;
	uint64_t code;

	if (!l2_vmx) {
		l1_vmrun((uintptr_t)l2_vmcb);
		code = *(volatile uint64_t *)(l2_vmcb + VMCB_EXIT_CODE);
		if (code != SVM_EXIT_VMMCALL)
			l1_bad_exit = code;
		GUEST_ASSERT_EQ(code, SVM_EXIT_VMMCALL);
		*(volatile uint64_t *)(l2_vmcb + VMCB_RIP) += 3;	/* 0f 01 d9 */
		return;
	}
	if (!l1_vmx_enter(launched)) {
		l1_vmx_failed = 0x10000 | vmread(VMCS_VM_INSTRUCTION_ERROR);
		GUEST_ASSERT_EQ(l1_vmx_failed, 0);
	}
	launched = 1;
	code = vmread(VMCS_EXIT_REASON) & 0xffff;
	if (code != VMX_EXIT_VMCALL)
		l1_bad_exit = code | 0x100000;
	GUEST_ASSERT_EQ(code, VMX_EXIT_VMCALL);
	vmwrite(VMCS_GUEST_RIP, vmread(VMCS_GUEST_RIP) + vmread(VMCS_EXIT_INSN_LEN));
}

static void guest_l1(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(l1_on_breakpoint);
	l1_start();
	while (!l2_done)
		l1_run_l2();
	GUEST_SYNC(L1_BACK);
	guest_touch_intercepts();
	__asm__ __volatile__("int3");
	GUEST_DONE();
}

static void vmcb_put(uint8_t *vmcb, unsigned int off, uint64_t val, unsigned int size)
{
	memcpy(vmcb + off, &val, size);
}

static void vmcb_seg(uint8_t *vmcb, unsigned int i, const struct kvm_segment *s)
{
	uint16_t attr = s->type | s->s << 4 | s->dpl << 5 | s->present << 7 | s->avl << 8 |
			s->l << 9 | s->db << 10 | s->g << 11;

	vmcb_put(vmcb, VMCB_ES + 16 * i, s->selector, 2);
	vmcb_put(vmcb, VMCB_ES + 16 * i + 2, attr, 2);
	vmcb_put(vmcb, VMCB_ES + 16 * i + 4, s->limit, 4);
	vmcb_put(vmcb, VMCB_ES + 16 * i + 8, s->base, 8);
}

/* SVM: L2 starts at l2_main with L1's state as the vCPU has it now (not running). */
static void l2_prepare_svm(struct tvm *tvm, struct tvm_vcpu *vcpu)
{
	uint8_t *vmcb = (uint8_t *)TVM_GUEST_VAR(tvm, l2_vmcb);
	const struct kvm_segment *segs[] = {
		NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	};
	struct kvm_segment gdtr = { 0 }, idtr = { 0 };
	struct kvm_sregs sregs;
	unsigned int i;

	tvm_get_sregs(vcpu, &sregs);
	segs[0] = &sregs.es;
	segs[1] = &sregs.cs;
	segs[2] = &sregs.ss;
	segs[3] = &sregs.ds;
	segs[4] = &sregs.fs;
	segs[5] = &sregs.gs;
	gdtr.base = sregs.gdt.base;
	gdtr.limit = sregs.gdt.limit;
	segs[6] = &gdtr;
	segs[7] = &sregs.ldt;
	idtr.base = sregs.idt.base;
	idtr.limit = sregs.idt.limit;
	segs[8] = &idtr;
	segs[9] = &sregs.tr;
	memset(vmcb, 0, 4096);
	vmcb_put(vmcb, VMCB_INTERCEPT_MISC2, 3, 4);	/* VMRUN (required), VMMCALL */
	vmcb_put(vmcb, VMCB_ASID, 1, 4);
	for (i = 0; i < 10; i++)
		vmcb_seg(vmcb, i, segs[i]);
	vmcb_put(vmcb, VMCB_CPL, 0, 1);
	vmcb_put(vmcb, VMCB_EFER, sregs.efer | EFER_SVME, 8);
	vmcb_put(vmcb, VMCB_CR4, sregs.cr4, 8);
	vmcb_put(vmcb, VMCB_CR3, sregs.cr3, 8);
	vmcb_put(vmcb, VMCB_CR0, sregs.cr0, 8);
	vmcb_put(vmcb, VMCB_DR7, 0x400, 8);
	vmcb_put(vmcb, VMCB_DR6, 0xffff0ff0, 8);
	vmcb_put(vmcb, VMCB_RFLAGS, 2, 8);
	vmcb_put(vmcb, VMCB_RIP, (uintptr_t)l2_main, 8);
	vmcb_put(vmcb, VMCB_RSP, (uintptr_t)(l2_stack + sizeof(l2_stack) - 8), 8);
	vmcb_put(vmcb, VMCB_G_PAT, 0x0007040600070406ULL, 8);
}

static void vmcs_add(struct tvm *tvm, uint64_t field, uint64_t value)
{
	struct vmx_field *f = *TVM_GUEST_VAR(tvm, l2_vmcs_fields);
	uint64_t *nr = TVM_GUEST_VAR(tvm, l2_nr_vmcs_fields);

	ASSERT_LT(*nr, sizeof(l2_vmcs_fields) / sizeof(l2_vmcs_fields[0]));
	f[*nr].field = field;
	f[*nr].value = value;
	(*nr)++;
}

/* A VMX control: what is wanted, with what must be 1, if it may be. */
static uint64_t vmx_ctl(struct tvm_vcpu *vcpu, uint32_t msr, uint32_t want)
{
	uint64_t caps = tvm_get_msr(vcpu, msr);
	uint32_t must = (uint32_t)caps, may = caps >> 32;

	ASSERT_EQ(want & ~may, 0);
	return want | must;
}

static uint32_t vmx_ar(const struct kvm_segment *s)
{
	return s->type | s->s << 4 | s->dpl << 5 | s->present << 7 | s->avl << 12 |
	       s->l << 13 | s->db << 14 | s->g << 15 | (uint32_t)s->unusable << 16;
}

/* VMX: the same L2 as l2_prepare_svm(), as a VMCS for L1 to write. */
static void l2_prepare_vmx(struct tvm *tvm, struct tvm_vcpu *vcpu)
{
	const struct kvm_segment *segs[8];
	struct kvm_sregs sregs;
	uint32_t rev;
	unsigned int i;

	*TVM_GUEST_VAR(tvm, l2_vmx) = 1;
	tvm_set_msr(vcpu, MSR_FEATURE_CONTROL, 0x5);	/* locked, VMXON outside SMX */
	tvm_get_sregs(vcpu, &sregs);
	sregs.cr4 |= CR4_VMXE;
	tvm_set_sregs(vcpu, &sregs);
	/* the true control MSRs (KVM has them: VMX_BASIC bit 55) */
	ASSERT_TRUE(tvm_get_msr(vcpu, VMX_BASIC_MSR) & (1ULL << 55));
	rev = tvm_get_msr(vcpu, VMX_BASIC_MSR) & 0x7fffffff;
	memcpy(TVM_GUEST_VAR(tvm, l2_vmxon), &rev, 4);
	memcpy(TVM_GUEST_VAR(tvm, l2_vmcs), &rev, 4);
	segs[0] = &sregs.es;
	segs[1] = &sregs.cs;
	segs[2] = &sregs.ss;
	segs[3] = &sregs.ds;
	segs[4] = &sregs.fs;
	segs[5] = &sregs.gs;
	segs[6] = &sregs.ldt;
	segs[7] = &sregs.tr;

	/* controls: MSR bitmaps (all zero: no MSR exits to L1), 64-bit both ways */
	vmcs_add(tvm, 0x4000, vmx_ctl(vcpu, VMX_TRUE_PINBASED, 0));
	vmcs_add(tvm, 0x4002, vmx_ctl(vcpu, VMX_TRUE_PINBASED + 1, 1u << 28));
	vmcs_add(tvm, 0x400c, vmx_ctl(vcpu, VMX_TRUE_PINBASED + 2, 1u << 9));
	vmcs_add(tvm, 0x4012, vmx_ctl(vcpu, VMX_TRUE_PINBASED + 3, 1u << 9));
	vmcs_add(tvm, 0x2004, (uintptr_t)l2_msr_bitmap);
	vmcs_add(tvm, 0x2800, ~0ULL);		/* VMCS link pointer */
	vmcs_add(tvm, 0x6004, sregs.cr0);	/* read shadows */
	vmcs_add(tvm, 0x6006, sregs.cr4);

	/* host: L1 as it is */
	vmcs_add(tvm, 0x6c00, sregs.cr0);
	vmcs_add(tvm, 0x6c02, sregs.cr3);
	vmcs_add(tvm, 0x6c04, sregs.cr4);
	for (i = 0; i < 6; i++)		/* ES CS SS DS FS GS */
		vmcs_add(tvm, 0xc00 + 2 * i, segs[i]->selector);
	vmcs_add(tvm, 0xc0c, sregs.tr.selector);
	vmcs_add(tvm, 0x6c06, sregs.fs.base);
	vmcs_add(tvm, 0x6c08, sregs.gs.base);
	vmcs_add(tvm, 0x6c0a, sregs.tr.base);
	vmcs_add(tvm, 0x6c0c, sregs.gdt.base);
	vmcs_add(tvm, 0x6c0e, sregs.idt.base);
	vmcs_add(tvm, 0x6c16, (uintptr_t)vt_vmx_exit);

	/* guest: L1's state, at l2_main on its own stack */
	for (i = 0; i < 8; i++) {
		vmcs_add(tvm, 0x800 + 2 * i, segs[i]->selector);
		vmcs_add(tvm, 0x4800 + 2 * i, segs[i]->limit);
		vmcs_add(tvm, 0x4814 + 2 * i, vmx_ar(segs[i]));
		vmcs_add(tvm, 0x6806 + 2 * i, segs[i]->base);
	}
	vmcs_add(tvm, 0x4810, sregs.gdt.limit);
	vmcs_add(tvm, 0x4812, sregs.idt.limit);
	vmcs_add(tvm, 0x6816, sregs.gdt.base);
	vmcs_add(tvm, 0x6818, sregs.idt.base);
	vmcs_add(tvm, 0x6800, sregs.cr0);
	vmcs_add(tvm, 0x6802, sregs.cr3);
	vmcs_add(tvm, 0x6804, sregs.cr4);
	vmcs_add(tvm, 0x681a, 0x400);		/* DR7 */
	vmcs_add(tvm, 0x681c, (uintptr_t)(l2_stack + sizeof(l2_stack) - 8));
	vmcs_add(tvm, VMCS_GUEST_RIP, (uintptr_t)l2_main);
	vmcs_add(tvm, 0x6820, 2);		/* RFLAGS */
}

static void l2_prepare(struct tvm *tvm, struct tvm_vcpu *vcpu, bool vmx)
{
	if (vmx)
		l2_prepare_vmx(tvm, vcpu);
	else
		l2_prepare_svm(tvm, vcpu);
}

/* The module's reference count: a lingering session holds one. */
static long vmiop_refcnt(void)
{
	FILE *f = fopen("/sys/module/vmiop/refcnt", "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

/*
 * Events that make KVM intercept more on SVM: descriptor tables, CR0/CR4
 * reads, CR3 writes, an MSR KVM passes through, INT3.  None happens
 * before L2 runs, so none waits for a reply.
 */
static void enable_intercepting_events(struct vmiop *v)
{
	static const struct vmiop_filter_range cr_reads[] = { { 0, 0 }, { 3, 4 } };
	static const struct vmiop_filter_range lstar = { MSR_LSTAR, MSR_LSTAR };

	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_DESC, -1, NULL, 0), 0);
	ASSERT_EQ(vmiop_event_enable_flags(v, VMIOP_EVENT_CR, VMIOP_EVENT_CTL_F_READS,
					   cr_reads, 2), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_MSR, -1, &lstar, 1), 0);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_BREAKPOINT, -1, NULL, 0), 0);
}

/*
 * KVM offers its guests SVM or VMX (kvm_amd's or kvm_intel's nested, on
 * by default): 1 SVM, 2 VMX, 0 neither.
 */
static int nested_available(struct tvm *tvm)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 256 * sizeof(c->entries[0]));
	unsigned int i;
	int which = 0;

	ASSERT_TRUE(c != NULL);
	c->nent = 256;
	ASSERT_EQ(ioctl(tvm_kvm_fd(tvm), KVM_GET_SUPPORTED_CPUID, c), 0);
	for (i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 0x80000001 && c->entries[i].ecx & (1u << 2))
			which = 1;
		if (c->entries[i].function == 1 && c->entries[i].index == 0 &&
		    c->entries[i].ecx & (1u << 5))
			which = 2;
	}
	free(c);
	return which;
}

#define NO_L2 "KVM offers this guest neither SVM nor VMX (the vendor module's nested=0?)"

enum detach_how { BY_CLOSE, BY_KILLED_INTROSPECTOR };

static pid_t fork_introspector(pid_t vmm, int *ready)
{
	int fds[2];
	pid_t pid;
	char c;

	ASSERT_EQ(pipe(fds), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct vmiop_ring *ring;
		struct vmiop *v;

		if (vmiop_open(&v) || vmiop_attach_pid(v, vmm) || vmiop_ring_setup(v, 4, &ring))
			_exit(1);
		enable_intercepting_events(v);
		if (write(fds[1], "a", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ASSERT_EQ(read(fds[0], &c, 1), 1);
	*ready = fds[0];
	return pid;
}

static void detach_in_l2(enum detach_how how)
{
	struct vmiop *v = NULL;
	struct vmiop_ring *ring;
	struct tvm_vcpu *vcpu;
	struct tvm *tvm;
	long refcnt = vmiop_refcnt();
	pid_t in = -1;
	int ready = -1, status, nested;

	tvm = tvm_create(1, 0);
	nested = nested_available(tvm);
	if (!nested) {
		tvm_destroy(tvm);
		SKIP(NO_L2);
	}
	vcpu = tvm_vcpu(tvm, 0);
	if (how == BY_CLOSE) {
		v = vt_attach(tvm);
		ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
		enable_intercepting_events(v);
	} else {
		in = fork_introspector(getpid(), &ready);
	}
	tvm_vcpu_entry(vcpu, guest_l1, 0);
	l2_prepare(tvm, vcpu, nested == 2);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	ASSERT_EQ(tvm_vcpu_thread_wait_syncs(vcpu, 1), TVM_THREAD_RUNNING);
	ASSERT_EQ(tvm_vcpu_thread_syncs(vcpu, NULL), 1);

	/* The vCPU is in L2 (it said so, and L2 runs until released). */
	if (how == BY_CLOSE) {
		vmiop_close(v);
	} else {
		ASSERT_EQ(kill(in, SIGKILL), 0);
		ASSERT_EQ(waitpid(in, &status, 0), in);
		close(ready);
	}
	*TVM_GUEST_VAR(tvm, l2_release) = 1;
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l1_bad_exit), 0);
	/* each INT3, L2's and L1's last one, reached the guest's handler once */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l1_breakpoints), *TVM_GUEST_VAR(tvm, l2_int3s) + 1);
	/* Back in L1, the vCPU gave the intercepts back: the session is gone. */
	VT_WAIT_UNTIL(vmiop_refcnt() == refcnt);
	tvm_destroy(tvm);
}

TEST(detach_by_close_while_in_l2_then_l1_and_l2_finish)
{
	detach_in_l2(BY_CLOSE);
}

TEST(introspector_killed_while_in_l2_then_l1_and_l2_finish)
{
	detach_in_l2(BY_KILLED_INTROSPECTOR);
}

enum vmm_end {
	VMM_KILLED_FIRST,	/* then the session is closed */
	VMM_KILLED_AFTER,	/* the session closed first */
	VMM_CLOSES_THE_VM,	/* the session closed first; the VMM lives on */
};

/*
 * The VMM dies, or closes the VM and lives on, while its vCPU runs L2:
 * the session's last trace goes with the VM, whatever the order.
 */
static void vmm_exit_in_l2(enum vmm_end how)
{
	long refcnt = vmiop_refcnt();
	int to_vmm[2], from_vmm[2], status, nested;
	struct vmiop *v;
	pid_t vmm;
	char c;

	{
		struct tvm *probe = tvm_create(1, 0);

		nested = nested_available(probe);
		tvm_destroy(probe);
		if (!nested)
			SKIP(NO_L2);
	}
	ASSERT_EQ(pipe(to_vmm), 0);
	ASSERT_EQ(pipe(from_vmm), 0);
	vmm = fork();
	ASSERT_GE(vmm, 0);
	if (vmm == 0) {
		struct tvm *tvm = tvm_create(1, 0);
		struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);

		tvm_vcpu_entry(vcpu, guest_l1, 0);
		l2_prepare(tvm, vcpu, nested == 2);
		/* The VM is there; the parent attaches, then lets it run. */
		if (write(from_vmm[1], "c", 1) != 1 || read(to_vmm[0], &c, 1) != 1)
			_exit(1);
		tvm_vcpu_thread_start(vcpu, NULL, NULL);
		if (tvm_vcpu_thread_wait_syncs(vcpu, 1) != TVM_THREAD_RUNNING ||
		    write(from_vmm[1], "2", 1) != 1)
			_exit(1);
		/* told to: every file of the VM closed, the vCPU stopped in L2 */
		if (read(to_vmm[0], &c, 1) == 1) {
			tvm_destroy(tvm);
			if (write(from_vmm[1], "d", 1) != 1)
				_exit(1);
		}
		for (;;)
			pause();
	}
	close(to_vmm[0]);
	close(from_vmm[1]);
	ASSERT_EQ(read(from_vmm[0], &c, 1), 1);
	ASSERT_EQ(c, 'c');
	ASSERT_EQ(vmiop_open(&v), 0);
	ASSERT_EQ(vmiop_attach_pid(v, vmm), 0);
	ASSERT_TRUE(vt_ring_setup(v, 8) != NULL);
	enable_intercepting_events(v);
	ASSERT_EQ(write(to_vmm[1], "g", 1), 1);
	ASSERT_EQ(read(from_vmm[0], &c, 1), 1);
	ASSERT_EQ(c, '2');
	/* Its vCPU runs L2 now (it said so, and L2 runs until released). */
	if (how != VMM_KILLED_FIRST)
		vmiop_close(v);
	if (how == VMM_CLOSES_THE_VM) {
		ASSERT_EQ(write(to_vmm[1], "q", 1), 1);
		ASSERT_EQ(read(from_vmm[0], &c, 1), 1);
		ASSERT_EQ(c, 'd');
		/* the VMM lives on: nothing of the session may */
		VT_WAIT_UNTIL(vmiop_refcnt() == refcnt);
	}
	ASSERT_EQ(kill(vmm, SIGKILL), 0);
	ASSERT_EQ(waitpid(vmm, &status, 0), vmm);
	if (how == VMM_KILLED_FIRST)
		vmiop_close(v);
	VT_WAIT_UNTIL(vmiop_refcnt() == refcnt);
	close(to_vmm[1]);
	close(from_vmm[0]);
}

TEST(vmm_killed_while_in_l2_then_session_closed)
{
	vmm_exit_in_l2(VMM_KILLED_FIRST);
}

TEST(session_closed_while_in_l2_then_vmm_killed)
{
	vmm_exit_in_l2(VMM_KILLED_AFTER);
}

TEST(session_closed_while_in_l2_then_the_vm_closed)
{
	vmm_exit_in_l2(VMM_CLOSES_THE_VM);
}

/*
 * Every class's events enabled while the guest runs L2, which does what
 * they report (descriptor tables, CR reads and CR3 writes, the MSR, INT3)
 * a hundred times: no event is L2's, and L1's come again after it.
 */
TEST(no_event_comes_from_l2_for_any_class)
{
	const uint64_t rounds = 100;
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	uint64_t stack = (uintptr_t)l2_stack;
	unsigned int l1_events = 0;
	struct vmiop_ring *ring;
	int nested = nested_available(tvm);

	if (!nested) {
		vmiop_close(v);
		tvm_destroy(tvm);
		SKIP(NO_L2);
	}
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	enable_intercepting_events(v);
	ASSERT_EQ(vmiop_event_enable(v, VMIOP_EVENT_CPUID, -1, NULL, 0), 0);
	*TVM_GUEST_VAR(tvm, l2_rounds) = rounds;
	tvm_vcpu_entry(vcpu, guest_l1, 0);
	l2_prepare(tvm, vcpu, nested == 2);
	tvm_vcpu_thread_start(vcpu, NULL, NULL);
	for (;;) {
		struct vmiop_event *ev = vmiop_ring_peek(ring);

		if (!ev) {
			if (tvm_vcpu_thread_state(vcpu) != TVM_THREAD_RUNNING)
				break;
			vmiop_event_wait(v, 100);
			continue;
		}
		/* L2 runs on its own stack */
		EXPECT_FALSE(ev->regs.rsp >= stack && ev->regs.rsp < stack + sizeof(l2_stack));
		l1_events++;
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l1_bad_exit), 0);
	/* L2's INT3s reached L2, L1's its handler: each once */
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l2_int3s), rounds);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l1_breakpoints), rounds + 1);
	/* L1's own, after L2: descriptor tables at least */
	EXPECT_GE(l1_events, 5);
	vmiop_close(v);
	tvm_destroy(tvm);
}

/* ---- single-stepping L1 across its L2 ---------------------------------- */

extern const char vt_nest0[], vt_vmrun[], vt_nest_after[], vt_nest1[], vt_nest2[];
static volatile uint64_t l2_db_seen;

static bool l2_on_own_step(struct tvm_exc_frame *f)
{
	if (f->vector != 1)
		return false;
	l2_db_seen++;
	f->rflags &= ~(uint64_t)RFLAGS_TF;
	return true;
}

/* L2 steps one instruction itself (its own TF, its own #DB handler). */
static void l2_steps_itself(void)
{
	__asm__ __volatile__("pushfq; orq $0x100, (%%rsp); popfq; nop; nop" : : : "memory", "cc");
	for (;;)
		__asm__ __volatile__("vmmcall" : : : "memory");
}

static void guest_l1_stepped(uint64_t arg)
{
	uint64_t vmcb = (uintptr_t)l2_vmcb;

	(void)arg;
	tvm_guest_set_exc_handler(l2_on_own_step);
	guest_wrmsr(MSR_EFER, guest_rdmsr(MSR_EFER) | EFER_SVME);
	guest_wrmsr(MSR_VM_HSAVE_PA, (uintptr_t)l2_hsave);
	GUEST_SYNC(1);		/* the host starts stepping this vCPU */
	__asm__ __volatile__("push %%rbp\n"
			     ".globl vt_nest0\n vt_nest0: nop\n"
			     ".globl vt_vmrun\n vt_vmrun: vmrun %%rax\n"
			     ".globl vt_nest_after\n vt_nest_after: stgi\n"
			     ".globl vt_nest1\n vt_nest1: pop %%rbp\n"
			     ".globl vt_nest2\n vt_nest2: nop"
			     : "+a"(vmcb)
			     :
			     : L2_CLOBBERS);
	GUEST_SYNC(2);
	GUEST_DONE();
}

/* The same on VMX: L2's exit returns L1 to its host RIP, vt_vnest_after. */
extern const char vt_vmlaunch[], vt_vnest_after[], vt_vnest1[], vt_vnest2[];

static void l2_steps_itself_vmx(void)
{
	__asm__ __volatile__("pushfq; orq $0x100, (%%rsp); popfq; nop; nop" : : : "memory", "cc");
	for (;;)
		__asm__ __volatile__("vmcall" : : : "memory");
}

static void guest_l1_stepped_vmx(uint64_t arg)
{
	(void)arg;
	tvm_guest_set_exc_handler(l2_on_own_step);
	l1_start();
	GUEST_SYNC(1);		/* the host starts stepping this vCPU */
	__asm__ __volatile__("push %%rbp\n"
			     "mov $0x6c14, %%rdx\n"	/* VMCS_HOST_RSP */
			     "vmwrite %%rsp, %%rdx\n"
			     ".globl vt_vmlaunch\n vt_vmlaunch: vmlaunch\n"
			     "ud2\n"			/* the entry failed */
			     ".globl vt_vnest_after\n vt_vnest_after: nop\n"
			     ".globl vt_vnest1\n vt_vnest1: pop %%rbp\n"
			     ".globl vt_vnest2\n vt_vnest2: nop"
			     :
			     :
			     : L2_CLOBBERS);
	GUEST_SYNC(2);
	GUEST_DONE();
}

/*
 * vmiop steps L1 (AMD: the trap flag; Intel: the monitor trap flag):
 * VMRUN/VMLAUNCH is one step, L2 is none of vmiop's business (its own
 * step trap reaches its own handler), and stepping goes on in L1 where L2
 * returns.
 */
TEST(singlestep_of_l1_steps_over_its_l2)
{
	static const char *const after_svm[] = { vt_nest_after, vt_nest1, vt_nest2 };
	static const char *const after_vmx[] = { vt_vnest_after, vt_vnest1, vt_vnest2 };
	struct tvm *tvm = tvm_create(1, 0);
	struct tvm_vcpu *vcpu = tvm_vcpu(tvm, 0);
	struct vmiop *v = vt_attach(tvm);
	struct sync_action on = { v, VMIOP_EVENT_SINGLESTEP, true };
	const char *const *after;
	struct vmiop_ring *ring;
	struct vmiop_event *ev;
	const char *launch;
	unsigned int i;
	int nested;

	nested = nested_available(tvm);
	if (!nested) {
		vmiop_close(v);
		tvm_destroy(tvm);
		SKIP("no nested virtualization in this VM's KVM");
	}
	ASSERT_TRUE((ring = vt_ring_setup(v, 8)) != NULL);
	if (nested == 2) {
		tvm_vcpu_entry(vcpu, guest_l1_stepped_vmx, 0);
		l2_prepare(tvm, vcpu, true);
		/* L1 writes the fields in order: these override. */
		vmcs_add(tvm, VMCS_GUEST_RIP, (uintptr_t)l2_steps_itself_vmx);
		vmcs_add(tvm, 0x6c16, (uintptr_t)vt_vnest_after);	/* host RIP */
		launch = vt_vmlaunch;
		after = after_vmx;
	} else {
		tvm_vcpu_entry(vcpu, guest_l1_stepped, 0);
		l2_prepare(tvm, vcpu, false);
		vmcb_put((uint8_t *)TVM_GUEST_VAR(tvm, l2_vmcb), VMCB_RIP,
			 (uintptr_t)l2_steps_itself, 8);
		launch = vt_vmrun;
		after = after_svm;
	}
	tvm_vcpu_thread_start(vcpu, sync_toggle, &on);

	/* Through the ucall's return to the VMRUN/VMLAUNCH. */
	for (i = 0; i < 200; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		if (ev->singlestep.gva == (uintptr_t)launch)
			break;
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(ev->singlestep.gva, (uintptr_t)launch);
	reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE((ev = vt_next_event(v, ring)) != NULL);
		ASSERT_EQ(ev->type, VMIOP_EVENT_SINGLESTEP);
		EXPECT_EQ(ev->singlestep.gva, (uintptr_t)after[i]);
		if (i == 2)
			ASSERT_EQ(vmiop_event_disable(v, VMIOP_EVENT_SINGLESTEP, -1), 0);
		reply(v, ring, ev, VMIOP_ACTION_CONTINUE);
	}
	ASSERT_EQ(tvm_vcpu_thread_join(vcpu), TVM_THREAD_DONE);
	EXPECT_EQ(*TVM_GUEST_VAR(tvm, l2_db_seen), 1);
	vmiop_close(v);
	tvm_destroy(tvm);
}

VMTEST_MAIN()
