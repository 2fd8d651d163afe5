/*
 * LibVMI's KVM driver on vmiop: stock KVM, no libvirt, no KVMI socket.
 *
 * The VM is named by its QEMU's pid, or by the name QEMU was given
 * (-name NAME, or libvirt's -name guest=NAME,...) as vmiop's registry knows it,
 * or one set with "vmiop name".  Guest memory is read
 * through pages of the VM mapped once (zero-copy), registers through
 * vmiop's register file, pause and resume are vmiop's (counted there).
 *
 * This file is part of vmiop (contrib/libvmi) and is added to LibVMI's
 * driver/kvm/ by contrib/libvmi/build.sh.  LGPL-3.0-or-later, as LibVMI.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libvmiop.h>

#include "private.h"
#include "driver/driver_wrapper.h"
#include "driver/memory_cache.h"
#include "driver/kvm/kvm.h"
#include "driver/kvm/kvm_private.h"
#include "msr-index.h"

/* ---- naming: a VM is its QEMU's pid, or the name vmiop knows it by ------ */

/*
 * @pid holds a KVM VM: 1; 0 if not; -errno if its files cannot be looked
 * at (said on stderr: the VM is there, but not ours).
 */
static int vmiop_pid_has_vm(pid_t pid)
{
    int fd = vmiop_find_vm_fd(pid);

    if (fd >= 0 || fd == -EEXIST)
        return 1;
    if (fd == -EACCES || fd == -EPERM)
        errprint("--vmiop: /proc/%d/fd: %s: introspecting the VM of pid %d takes the rights "
                 "ptrace would need over it\n", (int)pid, strerror(-fd), (int)pid);
    return fd == -ENOENT || fd == -ESRCH ? 0 : fd;
}

static bool vmiop_is_vm(pid_t pid)
{
    return vmiop_pid_has_vm(pid) > 0;
}

/* vmiop's errno for a name, said on stderr. */
static void vmiop_name_error(const char *name, int err)
{
    if (err == -ENOENT)
        errprint("--vmiop: no KVM VM named '%s' that you may introspect (vmiop list)\n", name);
    else
        errprint("--vmiop: VM '%s': %s%s\n", name, strerror(-err),
                 err == -ENODEV ? " (the vmiop module is not loaded)" : "");
}

/*
 * The module's registry names the VM: QEMU's -name as QEMU parses it
 * (libvirt's guest=NAME too), or one set with "vmiop name", unique among
 * live VMs.  The domain id stays the VMM's pid.
 */
uint64_t kvm_get_id_from_name(vmi_instance_t UNUSED(vmi), const char *name)
{
    struct vmiop_vm_entry vm;
    uint64_t id;
    char *end;
    int ret;

    if (!name || !*name)
        return VMI_INVALID_DOMID;
    /* A pid is a name too. */
    id = strtoull(name, &end, 10);
    if (!*end && id && vmiop_is_vm((pid_t)id))
        return id;
    ret = vmiop_vm_lookup(name, &id);
    if (!ret)
        ret = vmiop_vm_get(id, &vm);
    if (ret) {
        vmiop_name_error(name, ret);
        return VMI_INVALID_DOMID;
    }
    if (vm.vmm_pid <= 0) {
        errprint("--vmiop: VM '%s': its VMM is not in this pid namespace\n", name);
        return VMI_INVALID_DOMID;
    }
    return (uint64_t)vm.vmm_pid;
}

status_t kvm_get_name_from_id(vmi_instance_t UNUSED(vmi), uint64_t domainid, char **name)
{
    struct vmiop_vm_entry *vms;
    char buf[32];
    int n, i;

    if (!vmiop_is_vm((pid_t)domainid))
        return VMI_FAILURE;
    *name = NULL;
    n = vmiop_vm_list(&vms);
    for (i = 0; i < n; i++)
        if (vms[i].vmm_pid == (pid_t)domainid && vms[i].name[0] && !*name)
            *name = strdup(vms[i].name);
    if (n > 0)
        free(vms);
    if (!*name) {
        /* A VM without a name: the pid names it. */
        snprintf(buf, sizeof(buf), "%" PRIu64, domainid);
        *name = strdup(buf);
    }
    return *name ? VMI_SUCCESS : VMI_FAILURE;
}

uint64_t kvm_get_id(vmi_instance_t vmi)
{
    return kvm_get_instance(vmi)->id;
}

void kvm_set_id(vmi_instance_t vmi, uint64_t domainid)
{
    kvm_get_instance(vmi)->id = domainid;
}

status_t kvm_check_id(vmi_instance_t UNUSED(vmi), uint64_t domainid)
{
    return vmiop_is_vm((pid_t)domainid) ? VMI_SUCCESS : VMI_FAILURE;
}

status_t kvm_get_name(vmi_instance_t vmi, char **name)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);

    if (kvm->name) {
        *name = strdup(kvm->name);
        return *name ? VMI_SUCCESS : VMI_FAILURE;
    }
    return kvm_get_name_from_id(vmi, kvm->id, name);
}

void kvm_set_name(vmi_instance_t vmi, const char *name)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);

    free(kvm->name);
    kvm->name = name ? strdup(name) : NULL;
}

/* ---- memory: RAM mapped once ----------------------------------------- */

/* The mapped RAM range holding @paddr, or NULL (a hole: no page there). */
static void *vmiop_ram_at(kvm_instance_t *kvm, addr_t paddr)
{
    unsigned int i;

    for (i = 0; i < kvm->nr_ram; i++)
        if (paddr - kvm->ram[i].gpa < kvm->ram[i].size)
            return (char *)kvm->ram[i].map + (paddr - kvm->ram[i].gpa);
    return NULL;
}

static void *vmiop_get_memory(vmi_instance_t vmi, addr_t paddr, uint32_t length)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    char *p = vmiop_ram_at(kvm, paddr);

    /* The cache asks for whole pages, inside one range. */
    if (!p || !vmiop_ram_at(kvm, paddr + length - 1))
        return NULL;
    return p;
}

static void vmiop_release_memory(vmi_instance_t UNUSED(vmi), void *UNUSED(memory),
                                 size_t UNUSED(length))
{
    /* The mapping stays: nothing was copied. */
}

void *kvm_read_page(vmi_instance_t vmi, addr_t page)
{
    return memory_cache_insert(vmi, page << vmi->page_shift);
}

status_t kvm_put_memory(vmi_instance_t vmi, addr_t paddr, uint32_t length, void *buf)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    int ret = vmiop_write_pa(kvm->v, paddr, buf, length);

    if (ret) {
        dbprint(VMI_DEBUG_KVM, "--vmiop: write of %u bytes at 0x%" PRIx64 ": %s\n", length,
                paddr, strerror(-ret));
        return VMI_FAILURE;
    }
    return VMI_SUCCESS;
}

status_t kvm_write(vmi_instance_t vmi, addr_t paddr, void *buf, uint32_t length)
{
    return kvm_put_memory(vmi, paddr, length, buf);
}

status_t kvm_get_memsize(vmi_instance_t vmi, uint64_t *allocated_ram_size,
                         addr_t *maximum_physical_address)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);

    if (!allocated_ram_size || !maximum_physical_address)
        return VMI_FAILURE;
    *allocated_ram_size = kvm->ram_size;
    *maximum_physical_address = kvm->max_pa;
    return VMI_SUCCESS;
}

static void vmiop_unmap_ram(kvm_instance_t *kvm)
{
    unsigned int i;

    for (i = 0; i < kvm->nr_ram; i++)
        vmiop_unmap_pa(kvm->ram[i].map, kvm->ram[i].size);
    g_free(kvm->ram);
    kvm->ram = NULL;
    kvm->nr_ram = 0;
}

/* Every RAM range of the memory map, mapped read-only. */
static status_t vmiop_map_ram(kvm_instance_t *kvm)
{
    struct vmiop_memmap_entry *e;
    int i, n = vmiop_get_memmap(kvm->v, &e);

    if (n < 0) {
        errprint("--vmiop: memory map: %s\n", strerror(-n));
        return VMI_FAILURE;
    }
    kvm->ram = g_try_new0(typeof(*kvm->ram), n ? n : 1);
    if (!kvm->ram) {
        free(e);
        return VMI_FAILURE;
    }
    for (i = 0; i < n; i++) {
        void *map;
        int ret;

        if (e[i].addr + e[i].size > kvm->max_pa)
            kvm->max_pa = e[i].addr + e[i].size;
        if (e[i].type != VMIOP_E820_RAM && e[i].type != VMIOP_E820_ROM)
            continue;
        kvm->ram_size += e[i].size;
        ret = vmiop_map_pa(kvm->v, e[i].addr, e[i].size, PROT_READ, &map);
        if (ret) {
            errprint("--vmiop: map guest memory at 0x%llx: %s\n",
                     (unsigned long long)e[i].addr, strerror(-ret));
            free(e);
            vmiop_unmap_ram(kvm);
            return VMI_FAILURE;
        }
        kvm->ram[kvm->nr_ram].gpa = e[i].addr;
        kvm->ram[kvm->nr_ram].size = e[i].size;
        kvm->ram[kvm->nr_ram].map = map;
        kvm->nr_ram++;
    }
    free(e);
    return VMI_SUCCESS;
}

/* ---- init ---------------------------------------------------------------- */

static status_t vmiop_events_init(vmi_instance_t vmi);
static void vmiop_events_destroy(kvm_instance_t *kvm);

status_t kvm_init(vmi_instance_t vmi, uint32_t UNUSED(init_flags),
                  vmi_init_data_t *UNUSED(init_data))
{
    kvm_instance_t *kvm = g_try_malloc0(sizeof(kvm_instance_t));

    if (!kvm)
        return VMI_FAILURE;
    kvm->id = VMI_INVALID_DOMID;
    vmi->driver.driver_data = kvm;
    return VMI_SUCCESS;
}

/*
 * By the name when the registry has it for this pid: a VMM with several
 * VMs has one pid for all of them.
 */
static int vmiop_kvm_attach(kvm_instance_t *kvm)
{
    struct vmiop_vm_entry vm;
    uint64_t vm_id;

    if (kvm->name && !vmiop_vm_lookup(kvm->name, &vm_id) && !vmiop_vm_get(vm_id, &vm) &&
        vm.vmm_pid == (pid_t)kvm->id)
        return vmiop_attach_id(kvm->v, vm_id);
    return vmiop_attach_pid(kvm->v, (pid_t)kvm->id);
}

status_t kvm_init_vmi(vmi_instance_t vmi, uint32_t init_flags,
                      vmi_init_data_t *UNUSED(init_data))
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    struct vmiop_vm_info info = { .size = sizeof(info) };
    int ret;

    ret = vmiop_open(&kvm->v);
    if (ret) {
        errprint("--vmiop: open " VMIOP_DEVICE ": %s%s\n", strerror(-ret),
                 ret == -ENOENT ? " (the vmiop module is not loaded)" : "");
        return VMI_FAILURE;
    }
    ret = vmiop_kvm_attach(kvm);
    if (!ret)
        ret = vmiop_vm_info(kvm->v, &info);
    if (ret) {
        errprint("--vmiop: attach to the VM of pid %" PRIu64 ": %s\n", kvm->id, strerror(-ret));
        goto err;
    }
    vmi->num_vcpus = info.nr_vcpus;
    vmi->vm_type = NORMAL;
    if (vmiop_map_ram(kvm) != VMI_SUCCESS)
        goto err;
    memory_cache_destroy(vmi);
    memory_cache_init(vmi, vmiop_get_memory, vmiop_release_memory, 1);
    if ((init_flags & VMI_INIT_EVENTS) && vmiop_events_init(vmi) != VMI_SUCCESS)
        goto err;
    return VMI_SUCCESS;
err:
    vmiop_close(kvm->v);
    kvm->v = NULL;
    return VMI_FAILURE;
}

void kvm_destroy(vmi_instance_t vmi)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);

    if (!kvm)
        return;
    /* The cache holds pointers into the mappings. */
    memory_cache_destroy(vmi);
    vmiop_unmap_ram(kvm);
    /* Closing the session ends its events: waiting vCPUs go on. */
    if (kvm->v)
        vmiop_close(kvm->v);
    vmiop_events_destroy(kvm);
    free(kvm->name);
    g_free(kvm);
    vmi->driver.driver_data = NULL;
}

int kvm_is_pv(vmi_instance_t UNUSED(vmi))
{
    return 0;
}

status_t kvm_test(uint64_t domainid, const char *name, uint64_t UNUSED(init_flags),
                  vmi_init_data_t *UNUSED(init_data))
{
    if (access(VMIOP_DEVICE, F_OK))
        return VMI_FAILURE;
    if (domainid != VMI_INVALID_DOMID)
        return vmiop_is_vm((pid_t)domainid) ? VMI_SUCCESS : VMI_FAILURE;
    return kvm_get_id_from_name(NULL, name) != VMI_INVALID_DOMID ? VMI_SUCCESS : VMI_FAILURE;
}

/* ---- pause ---------------------------------------------------------------- */

status_t kvm_pause_vm(vmi_instance_t vmi)
{
    return vmiop_pause(kvm_get_instance(vmi)->v) < 0 ? VMI_FAILURE : VMI_SUCCESS;
}

status_t kvm_resume_vm(vmi_instance_t vmi)
{
    return vmiop_resume(kvm_get_instance(vmi)->v) < 0 ? VMI_FAILURE : VMI_SUCCESS;
}

/* ---- registers ------------------------------------------------------------- */

/* vmiop's register id of LibVMI's @reg, or -1. */
static int vmiop_reg_of(reg_t reg)
{
    switch (reg) {
    case RAX: return VMIOP_REG_RAX;
    case RBX: return VMIOP_REG_RBX;
    case RCX: return VMIOP_REG_RCX;
    case RDX: return VMIOP_REG_RDX;
    case RBP: return VMIOP_REG_RBP;
    case RSI: return VMIOP_REG_RSI;
    case RDI: return VMIOP_REG_RDI;
    case RSP: return VMIOP_REG_RSP;
    case R8: return VMIOP_REG_R8;
    case R9: return VMIOP_REG_R9;
    case R10: return VMIOP_REG_R10;
    case R11: return VMIOP_REG_R11;
    case R12: return VMIOP_REG_R12;
    case R13: return VMIOP_REG_R13;
    case R14: return VMIOP_REG_R14;
    case R15: return VMIOP_REG_R15;
    case RIP: return VMIOP_REG_RIP;
    case RFLAGS: return VMIOP_REG_RFLAGS;
    case CR0: return VMIOP_REG_CR0;
    case CR2: return VMIOP_REG_CR2;
    case CR3: return VMIOP_REG_CR3;
    case CR4: return VMIOP_REG_CR4;
    case XCR0: return VMIOP_REG_XCR0;
    case DR0: return VMIOP_REG_DR0;
    case DR1: return VMIOP_REG_DR1;
    case DR2: return VMIOP_REG_DR2;
    case DR3: return VMIOP_REG_DR3;
    case DR6: return VMIOP_REG_DR6;
    case DR7: return VMIOP_REG_DR7;
    case CS_SEL: return VMIOP_REG_CS_SEL;
    case DS_SEL: return VMIOP_REG_DS_SEL;
    case ES_SEL: return VMIOP_REG_ES_SEL;
    case FS_SEL: return VMIOP_REG_FS_SEL;
    case GS_SEL: return VMIOP_REG_GS_SEL;
    case SS_SEL: return VMIOP_REG_SS_SEL;
    case TR_SEL: return VMIOP_REG_TR_SEL;
    case LDTR_SEL: return VMIOP_REG_LDTR_SEL;
    case CS_LIMIT: return VMIOP_REG_CS_LIMIT;
    case DS_LIMIT: return VMIOP_REG_DS_LIMIT;
    case ES_LIMIT: return VMIOP_REG_ES_LIMIT;
    case FS_LIMIT: return VMIOP_REG_FS_LIMIT;
    case GS_LIMIT: return VMIOP_REG_GS_LIMIT;
    case SS_LIMIT: return VMIOP_REG_SS_LIMIT;
    case TR_LIMIT: return VMIOP_REG_TR_LIMIT;
    case LDTR_LIMIT: return VMIOP_REG_LDTR_LIMIT;
    case IDTR_LIMIT: return VMIOP_REG_IDTR_LIMIT;
    case GDTR_LIMIT: return VMIOP_REG_GDTR_LIMIT;
    case CS_BASE: return VMIOP_REG_CS_BASE;
    case DS_BASE: return VMIOP_REG_DS_BASE;
    case ES_BASE: return VMIOP_REG_ES_BASE;
    case FS_BASE: return VMIOP_REG_FS_BASE;
    case GS_BASE: return VMIOP_REG_GS_BASE;
    case SS_BASE: return VMIOP_REG_SS_BASE;
    case TR_BASE: return VMIOP_REG_TR_BASE;
    case LDTR_BASE: return VMIOP_REG_LDTR_BASE;
    case IDTR_BASE: return VMIOP_REG_IDTR_BASE;
    case GDTR_BASE: return VMIOP_REG_GDTR_BASE;
    case SYSENTER_CS: return VMIOP_REG_SYSENTER_CS;
    case SYSENTER_ESP: return VMIOP_REG_SYSENTER_ESP;
    case SYSENTER_EIP: return VMIOP_REG_SYSENTER_EIP;
    case SHADOW_GS:
    case MSR_SHADOW_GS_BASE: return VMIOP_REG_KERNEL_GS_BASE;
    case MSR_LSTAR: return VMIOP_REG_LSTAR;
    case MSR_CSTAR: return VMIOP_REG_CSTAR;
    case MSR_SYSCALL_MASK: return VMIOP_REG_SFMASK;
    case MSR_EFER: return VMIOP_REG_EFER;
    case MSR_STAR: return VMIOP_REG_STAR;
    case MSR_TSC_AUX: return VMIOP_REG_TSC_AUX;
    default: return -1;
    }
}

/* vmiop's segment attributes (VMX layout) as LibVMI's flags. */
static uint64_t vmiop_seg_flags(uint64_t attr)
{
    return (attr & 0xff) | ((attr >> 12) & 0xf) << 8;
}

/*
 * Runs @fn on a vCPU that vmiop lets be read: the VM paused, or the vCPU
 * waiting for an event's reply; else the VM is paused around it, as
 * LibVMI reads control registers while it finds the guest's paging.
 */
static int vmiop_on_vcpu(kvm_instance_t *kvm, int (*fn)(kvm_instance_t *, unsigned int, void *),
                         unsigned int vcpu, void *arg)
{
    int ret = fn(kvm, vcpu, arg), pret;

    if (ret != -EBUSY)
        return ret;
    pret = vmiop_pause(kvm->v);
    if (pret < 0)
        return pret;
    ret = fn(kvm, vcpu, arg);
    pret = vmiop_resume(kvm->v);
    return ret ? ret : (pret < 0 ? pret : 0);
}

static int get_regs_fn(kvm_instance_t *kvm, unsigned int vcpu, void *arg)
{
    return vmiop_get_regs(kvm->v, vcpu, arg);
}

static int set_regs_fn(kvm_instance_t *kvm, unsigned int vcpu, void *arg)
{
    return vmiop_set_regs(kvm->v, vcpu, arg);
}

struct reg_op {
    unsigned int id;
    uint64_t value;
};

static int get_reg_fn(kvm_instance_t *kvm, unsigned int vcpu, void *arg)
{
    struct reg_op *op = arg;

    return vmiop_get_reg(kvm->v, vcpu, op->id, &op->value);
}

static int set_reg_fn(kvm_instance_t *kvm, unsigned int vcpu, void *arg)
{
    struct reg_op *op = arg;

    return vmiop_set_reg(kvm->v, vcpu, op->id, op->value);
}

#define SEG(dst, src) do { \
    (dst)->src##_sel = r->src.selector; (dst)->src##_base = r->src.base; \
    (dst)->src##_limit = r->src.limit; (dst)->src##_arbytes = vmiop_seg_flags(r->src.attr); \
} while (0)

static void vmiop_regs_to_libvmi(const struct vmiop_regs *r, x86_registers_t *x)
{
    memset(x, 0, sizeof(*x));
    x->rax = r->rax; x->rcx = r->rcx; x->rdx = r->rdx; x->rbx = r->rbx;
    x->rsp = r->rsp; x->rbp = r->rbp; x->rsi = r->rsi; x->rdi = r->rdi;
    x->r8 = r->r8; x->r9 = r->r9; x->r10 = r->r10; x->r11 = r->r11;
    x->r12 = r->r12; x->r13 = r->r13; x->r14 = r->r14; x->r15 = r->r15;
    x->rflags = r->rflags; x->rip = r->rip; x->dr6 = r->dr6; x->dr7 = r->dr7;
    x->cr0 = r->cr0; x->cr2 = r->cr2; x->cr3 = r->cr3; x->cr4 = r->cr4;
    x->sysenter_cs = r->sysenter_cs; x->sysenter_esp = r->sysenter_esp;
    x->sysenter_eip = r->sysenter_eip; x->msr_efer = r->efer; x->msr_star = r->star;
    x->msr_lstar = r->lstar; x->msr_pat = r->pat; x->msr_cstar = r->cstar;
    SEG(x, fs); SEG(x, gs); SEG(x, cs); SEG(x, ss); SEG(x, ds); SEG(x, es); SEG(x, tr);
    x->ldt_sel = r->ldtr.selector; x->ldt_base = r->ldtr.base; x->ldt_limit = r->ldtr.limit;
    x->ldt_arbytes = vmiop_seg_flags(r->ldtr.attr);
    x->shadow_gs = r->kernel_gs_base;
    x->idtr_base = r->idtr_base; x->idtr_limit = r->idtr_limit;
    x->gdtr_base = r->gdtr_base; x->gdtr_limit = r->gdtr_limit;
}

status_t kvm_get_vcpuregs(vmi_instance_t vmi, registers_t *regs, unsigned long vcpu)
{
    struct vmiop_regs r;
    int ret = vmiop_on_vcpu(kvm_get_instance(vmi), get_regs_fn, (unsigned int)vcpu, &r);

    if (ret) {
        dbprint(VMI_DEBUG_KVM, "--vmiop: registers of vCPU %lu: %s\n", vcpu, strerror(-ret));
        return VMI_FAILURE;
    }
    vmiop_regs_to_libvmi(&r, &regs->x86);
    return VMI_SUCCESS;
}

status_t kvm_get_vcpureg(vmi_instance_t vmi, uint64_t *value, reg_t reg, unsigned long vcpu)
{
    struct reg_op op;
    int id = vmiop_reg_of(reg), ret;
    registers_t regs;

    if (!value)
        return VMI_FAILURE;
    /* The attribute bytes need converting: from the whole file. */
    if (id < 0 || (reg >= CS_ARBYTES && reg <= LDTR_ARBYTES)) {
        if (reg < CS_ARBYTES || reg > LDTR_ARBYTES) {
            errprint("--vmiop: register %" PRIu64 " is not in vmiop's register file\n",
                     (uint64_t)reg);
            return VMI_FAILURE;
        }
        if (kvm_get_vcpuregs(vmi, &regs, vcpu) != VMI_SUCCESS)
            return VMI_FAILURE;
        switch (reg) {
        case CS_ARBYTES: *value = regs.x86.cs_arbytes; break;
        case DS_ARBYTES: *value = regs.x86.ds_arbytes; break;
        case ES_ARBYTES: *value = regs.x86.es_arbytes; break;
        case FS_ARBYTES: *value = regs.x86.fs_arbytes; break;
        case GS_ARBYTES: *value = regs.x86.gs_arbytes; break;
        case SS_ARBYTES: *value = regs.x86.ss_arbytes; break;
        case TR_ARBYTES: *value = regs.x86.tr_arbytes; break;
        default: *value = regs.x86.ldt_arbytes; break;
        }
        return VMI_SUCCESS;
    }
    op.id = (unsigned int)id;
    ret = vmiop_on_vcpu(kvm_get_instance(vmi), get_reg_fn, (unsigned int)vcpu, &op);
    if (ret) {
        dbprint(VMI_DEBUG_KVM, "--vmiop: register of vCPU %lu: %s\n", vcpu, strerror(-ret));
        return VMI_FAILURE;
    }
    *value = op.value;
    return VMI_SUCCESS;
}

status_t kvm_set_vcpureg(vmi_instance_t vmi, uint64_t value, reg_t reg, unsigned long vcpu)
{
    struct reg_op op = { .value = value };
    int id = vmiop_reg_of(reg), ret;

    if (id < 0) {
        errprint("--vmiop: register %" PRIu64 " cannot be set through vmiop\n", (uint64_t)reg);
        return VMI_FAILURE;
    }
    op.id = (unsigned int)id;
    ret = vmiop_on_vcpu(kvm_get_instance(vmi), set_reg_fn, (unsigned int)vcpu, &op);
    if (ret) {
        errprint("--vmiop: set a register of vCPU %lu: %s\n", vcpu, strerror(-ret));
        return VMI_FAILURE;
    }
    return VMI_SUCCESS;
}

/* LibVMI's set-all: the general-purpose registers, RIP and RFLAGS (as KVMI's). */
status_t kvm_set_vcpuregs(vmi_instance_t vmi, registers_t *regs, unsigned long vcpu)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    const x86_registers_t *x = &regs->x86;
    struct vmiop_regs r;
    int ret, pret = 0;
    bool paused = false;

    ret = vmiop_get_regs(kvm->v, (unsigned int)vcpu, &r);
    if (ret == -EBUSY) {
        pret = vmiop_pause(kvm->v);
        if (pret < 0)
            return VMI_FAILURE;
        paused = true;
        ret = vmiop_get_regs(kvm->v, (unsigned int)vcpu, &r);
    }
    if (!ret) {
        r.rax = x->rax; r.rcx = x->rcx; r.rdx = x->rdx; r.rbx = x->rbx;
        r.rsp = x->rsp; r.rbp = x->rbp; r.rsi = x->rsi; r.rdi = x->rdi;
        r.r8 = x->r8; r.r9 = x->r9; r.r10 = x->r10; r.r11 = x->r11;
        r.r12 = x->r12; r.r13 = x->r13; r.r14 = x->r14; r.r15 = x->r15;
        r.rip = x->rip; r.rflags = x->rflags;
        ret = set_regs_fn(kvm, (unsigned int)vcpu, &r);
    }
    if (paused)
        pret = vmiop_resume(kvm->v);
    if (ret || pret < 0) {
        errprint("--vmiop: set the registers of vCPU %lu: %s\n", vcpu,
                 strerror(ret ? -ret : -pret));
        return VMI_FAILURE;
    }
    return VMI_SUCCESS;
}

/* ---- what vmiop does not offer (said, never a silent success) --------- */

static status_t vmiop_unsupported(const char *what)
{
    errprint("--vmiop: %s is not offered by the vmiop backend\n", what);
    return VMI_FAILURE;
}

status_t kvm_get_next_available_gfn(vmi_instance_t UNUSED(vmi), addr_t *UNUSED(next_gfn))
{
    return vmiop_unsupported("extra guest pages (get_next_available_gfn)");
}

status_t kvm_alloc_gfn(vmi_instance_t UNUSED(vmi), uint64_t UNUSED(gfn))
{
    return vmiop_unsupported("extra guest pages (alloc_gfn)");
}

status_t kvm_free_gfn(vmi_instance_t UNUSED(vmi), uint64_t UNUSED(gfn))
{
    return vmiop_unsupported("extra guest pages (free_gfn)");
}

status_t kvm_request_page_fault(vmi_instance_t UNUSED(vmi), unsigned long UNUSED(vcpu),
                                uint64_t UNUSED(virtual_address), uint32_t UNUSED(error_code))
{
    return vmiop_unsupported("page-fault injection outside an event");
}

status_t kvm_get_tsc_info(vmi_instance_t UNUSED(vmi), uint32_t *UNUSED(tsc_mode),
                          uint64_t *UNUSED(elapsed_nsec), uint32_t *UNUSED(gtsc_khz),
                          uint32_t *UNUSED(incarnation))
{
    return vmiop_unsupported("the TSC frequency");
}

addr_t kvm_pfn_to_mfn(vmi_instance_t UNUSED(vmi), addr_t pfn)
{
    return pfn;
}

/* ---- events --------------------------------------------------------------- */

/*
 * LibVMI's events on vmiop's: a ring, one reply per event.  What LibVMI
 * registered decides which vmiop event types are on and with what filter
 * (rebuilt whole at every change: a vmiop filter is per type); an event
 * nobody registered for any more (one already on the ring) is continued.
 */

#define VMIOP_LV_RING_ENTRIES 256

struct vmiop_lv_events {
    struct vmiop_ring *ring;
    struct vmiop_event_caps caps;
    unsigned int cr_access[5];      /* VMI_REGACCESS_* per CR0..CR4 */
    bool cr_onchange[5];            /* reg_event.onchange */
    GHashTable *msr_access;         /* MSR index -> VMI_REGACCESS_* (MSR_ANY) */
    unsigned int msr_all_access;    /* MSR_ALL, LibVMI's list msr_all[] */
    bool *stepping;                 /* per vCPU: SINGLESTEP events on */
    unsigned int nr_stepping;
    bool unsupported;               /* a callback asked for what vmiop lacks */
};

static struct vmiop_lv_events *vmiop_ev(vmi_instance_t vmi)
{
    return kvm_get_instance(vmi)->ev;
}

/* @access holds R or W, as LibVMI's VMI_REGACCESS_*; -1 on anything else. */
static int vmiop_reg_access_ok(unsigned int access)
{
    if (access == VMI_REGACCESS_N || access == VMI_REGACCESS_R ||
        access == VMI_REGACCESS_W || access == VMI_REGACCESS_RW)
        return 0;
    errprint("--vmiop: unknown register access mode %u\n", access);
    return -1;
}

static bool vmiop_msr_in_all(uint32_t index)
{
    for (unsigned int i = 0; i < msr_all_len; i++)
        if (msr_index[msr_all[i]] == index)
            return true;
    return false;
}

static int vmiop_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * The MSR events LibVMI wants, as one vmiop filter (adjacent indexes
 * merged); past VMIOP_FILTER_MAX ranges, none: every MSR, sorted out here.
 */
static int vmiop_apply_msr(kvm_instance_t *kvm)
{
    struct vmiop_lv_events *ev = kvm->ev;
    struct vmiop_filter_range f[VMIOP_FILTER_MAX];
    unsigned int n = 0, nr = 0, flags = 0, all = ev->msr_all_access;
    uint64_t idx[256];
    GHashTableIter it;
    gpointer key, val;

    bool every = false;

    g_hash_table_iter_init(&it, ev->msr_access);
    while (g_hash_table_iter_next(&it, &key, &val)) {
        if (nr < G_N_ELEMENTS(idx))
            idx[nr++] = GPOINTER_TO_SIZE(key);
        else
            every = true;
        all |= GPOINTER_TO_UINT(val);
    }
    for (unsigned int i = 0; i < msr_all_len && ev->msr_all_access; i++) {
        if (nr < G_N_ELEMENTS(idx))
            idx[nr++] = msr_index[msr_all[i]];
        else
            every = true;
    }
    if (!(all & VMI_REGACCESS_RW))
        return vmiop_event_disable(kvm->v, VMIOP_EVENT_MSR, -1);
    qsort(idx, nr, sizeof(idx[0]), vmiop_cmp_u64);
    for (unsigned int i = 0; i < nr && !every; i++) {
        if (n && (idx[i] == f[n - 1].last || idx[i] == f[n - 1].last + 1)) {
            f[n - 1].last = idx[i];
            continue;
        }
        if (n == VMIOP_FILTER_MAX) {
            n = 0;      /* every MSR */
            break;
        }
        f[n].first = f[n].last = idx[i];
        n++;
    }
    if (every)
        n = 0;
    if (all & VMI_REGACCESS_R)
        flags |= VMIOP_EVENT_CTL_F_READS;
    return vmiop_event_enable_flags(kvm->v, VMIOP_EVENT_MSR, flags, f, n);
}

static int vmiop_apply_cr(kvm_instance_t *kvm)
{
    struct vmiop_lv_events *ev = kvm->ev;
    struct vmiop_filter_range f[3];
    unsigned int n = 0, flags = VMIOP_EVENT_CTL_F_CHANGES;

    for (unsigned int cr = 0; cr <= 4; cr++) {
        if (!(ev->cr_access[cr] & VMI_REGACCESS_RW))
            continue;
        f[n].first = f[n].last = cr;
        n++;
        if (ev->cr_access[cr] & VMI_REGACCESS_R)
            flags |= VMIOP_EVENT_CTL_F_READS;
        /* Per type in vmiop: unchanged writes of the others are dropped here. */
        if (!ev->cr_onchange[cr])
            flags &= ~VMIOP_EVENT_CTL_F_CHANGES;
    }
    if (!n)
        return vmiop_event_disable(kvm->v, VMIOP_EVENT_CR, -1);
    return vmiop_event_enable_flags(kvm->v, VMIOP_EVENT_CR, flags, f, n);
}

static status_t vmiop_ev_result(int ret, const char *what)
{
    if (!ret)
        return VMI_SUCCESS;
    errprint("--vmiop: %s: %s\n", what, strerror(-ret));
    return VMI_FAILURE;
}

static status_t vmiop_set_reg_access(vmi_instance_t vmi, reg_event_t *event)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    struct vmiop_lv_events *ev = kvm->ev;
    unsigned int access = event->in_access, old;
    int ret;

    if (vmiop_reg_access_ok(access))
        return VMI_FAILURE;
    if (access == VMI_REGACCESS_N)
        access = 0;
    if (access && event->async) {
        errprint("--vmiop: asynchronous register events are not offered (the vCPU "
                 "always waits for the reply)\n");
        return VMI_FAILURE;
    }
    switch (event->reg) {
        case CR0:
        case CR3:
        case CR4: {
            unsigned int cr = event->reg == CR0 ? 0 : event->reg == CR3 ? 3 : 4;
            bool old_onchange = ev->cr_onchange[cr];

            if ((access & VMI_REGACCESS_R) && !(ev->caps.cr_reads & (1u << cr))) {
                errprint("--vmiop: reads of CR%u are not events on this host (VMX reads "
                         "CR0/CR4 from shadows)\n", cr);
                return VMI_FAILURE;
            }
            old = ev->cr_access[cr];
            ev->cr_access[cr] = access;
            ev->cr_onchange[cr] = event->onchange;
            ret = vmiop_apply_cr(kvm);
            if (ret) {
                ev->cr_access[cr] = old;
                ev->cr_onchange[cr] = old_onchange;
            }
            return vmiop_ev_result(ret, "CR events");
        }
        case MSR_ALL:
            old = ev->msr_all_access;
            ev->msr_all_access = access;
            ret = vmiop_apply_msr(kvm);
            if (ret)
                ev->msr_all_access = old;
            return vmiop_ev_result(ret, "MSR events");
        case MSR_ANY: {
            gpointer key = GSIZE_TO_POINTER((gsize)event->msr);
            gpointer prev = g_hash_table_lookup(ev->msr_access, key);

            if (access)
                g_hash_table_insert(ev->msr_access, key, GUINT_TO_POINTER(access));
            else
                g_hash_table_remove(ev->msr_access, key);
            ret = vmiop_apply_msr(kvm);
            if (ret) {
                if (prev)
                    g_hash_table_insert(ev->msr_access, key, prev);
                else
                    g_hash_table_remove(ev->msr_access, key);
            }
            return vmiop_ev_result(ret, "MSR events");
        }
        default:
            if (event->reg >= MSR_FLAGS && event->reg <= MSR_HYPERVISOR) {
                errprint("--vmiop: register MSR_ANY with the MSR's index for one MSR's events\n");
                return VMI_FAILURE;
            }
            errprint("--vmiop: no events for register %" PRIu64 "\n", (uint64_t)event->reg);
            return VMI_FAILURE;
    }
}

/* Enables or disables @type on every vCPU, unfiltered. */
static status_t vmiop_toggle_type(vmi_instance_t vmi, unsigned int type, bool enabled)
{
    struct vmiop *v = kvm_get_instance(vmi)->v;
    int ret = enabled ? vmiop_event_enable(v, type, -1, NULL, 0) : vmiop_event_disable(v, type, -1);

    return vmiop_ev_result(ret, vmiop_event_name(type));
}

static status_t vmiop_set_intr_access(vmi_instance_t vmi, interrupt_event_t *event, bool enabled)
{
    if (event->intr != INT3) {
        errprint("--vmiop: interrupt events are INT3 only (asked: %u)\n", event->intr);
        return VMI_FAILURE;
    }
    return vmiop_toggle_type(vmi, VMIOP_EVENT_BREAKPOINT, enabled);
}

static status_t vmiop_set_cpuid_event(vmi_instance_t vmi, bool enabled)
{
    return vmiop_toggle_type(vmi, VMIOP_EVENT_CPUID, enabled);
}

static status_t vmiop_set_debug_event(vmi_instance_t vmi, bool enabled)
{
    return vmiop_toggle_type(vmi, VMIOP_EVENT_DEBUG, enabled);
}

/*
 * A guest request is a VMCALL/VMMCALL of a number KVM does not answer
 * itself: the paravirtual ones a Linux guest makes on its own (kick a
 * vCPU, send IPIs, yield, clock pairing, map GPA range; 1, 5 and 9-12)
 * are not the guest asking its introspector for anything.
 */
static status_t vmiop_set_guest_requested(vmi_instance_t vmi, bool enabled)
{
    static const struct vmiop_filter_range not_kvms[] = {
        { 0, 0 }, { 2, 4 }, { 6, 8 }, { 13, ~0ULL },
    };
    struct vmiop *v = kvm_get_instance(vmi)->v;
    int ret = enabled ? vmiop_event_enable(v, VMIOP_EVENT_HYPERCALL, -1, not_kvms,
                                           G_N_ELEMENTS(not_kvms))
                      : vmiop_event_disable(v, VMIOP_EVENT_HYPERCALL, -1);

    return vmiop_ev_result(ret, "guest requests");
}

static status_t vmiop_set_desc_access_event(vmi_instance_t vmi, bool enabled)
{
    return vmiop_toggle_type(vmi, VMIOP_EVENT_DESC, enabled);
}

static status_t vmiop_step_vcpu(vmi_instance_t vmi, unsigned int vcpu, bool on)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    int ret;

    if (vcpu >= kvm->ev->nr_stepping) {
        errprint("--vmiop: single-step on vCPU %u: LibVMI knows %u vCPUs\n", vcpu,
                 kvm->ev->nr_stepping);
        return VMI_FAILURE;
    }
    ret = on ? vmiop_event_enable(kvm->v, VMIOP_EVENT_SINGLESTEP, (int)vcpu, NULL, 0)
             : vmiop_event_disable(kvm->v, VMIOP_EVENT_SINGLESTEP, (int)vcpu);
    if (ret) {
        errprint("--vmiop: single-step %s on vCPU %u: %s\n", on ? "on" : "off", vcpu,
                 strerror(-ret));
        return VMI_FAILURE;
    }
    kvm->ev->stepping[vcpu] = on;
    return VMI_SUCCESS;
}

static status_t vmiop_start_single_step(vmi_instance_t vmi, single_step_event_t *event)
{
    if (!event->vcpus) {
        errprint("--vmiop: single-step on no vCPU\n");
        return VMI_FAILURE;
    }
    if (!event->enable)
        return VMI_SUCCESS;     /* registered, stepped later by TOGGLE_SINGLESTEP */
    for (unsigned int vcpu = 0; vcpu < vmi->num_vcpus && vcpu < 32; vcpu++)
        if (CHECK_VCPU_SINGLESTEP(*event, vcpu) && vmiop_step_vcpu(vmi, vcpu, true))
            return VMI_FAILURE;
    return VMI_SUCCESS;
}

static status_t vmiop_stop_single_step(vmi_instance_t vmi, uint32_t vcpu)
{
    return vmiop_step_vcpu(vmi, vcpu, false);
}

static status_t vmiop_shutdown_single_step(vmi_instance_t vmi)
{
    status_t ret = VMI_SUCCESS;

    for (unsigned int vcpu = 0; vcpu < kvm_get_instance(vmi)->ev->nr_stepping; vcpu++)
        if (kvm_get_instance(vmi)->ev->stepping[vcpu] && vmiop_step_vcpu(vmi, vcpu, false))
            ret = VMI_FAILURE;
    return ret;
}

/* LibVMI's "restricted" access on a page as the rights vmiop keeps. */
static int vmiop_rights_of(vmi_mem_access_t access)
{
    switch (access) {
        case VMI_MEMACCESS_N:
            return VMIOP_ACCESS_RWX;
        case VMI_MEMACCESS_W:
            return VMIOP_ACCESS_R | VMIOP_ACCESS_X;
        case VMI_MEMACCESS_X:
            return VMIOP_ACCESS_R | VMIOP_ACCESS_W;
        case VMI_MEMACCESS_WX:
            return VMIOP_ACCESS_R;
        case VMI_MEMACCESS_RWX:
            return 0;
        case VMI_MEMACCESS_RW:
            return VMIOP_ACCESS_X;  /* execute-only: where the CPU has it */
        default:
            errprint("--vmiop: page access %u is not one EPT/NPT can express\n", access);
            return -1;
    }
}

/* gfns @start up to @end, not included (as Xen's driver takes them). */
static status_t vmiop_set_mem_access_range(vmi_instance_t vmi, addr_t start, addr_t end,
                                           vmi_mem_access_t access, uint16_t view)
{
    int rights = vmiop_rights_of(access), ret;

    if (rights < 0)
        return VMI_FAILURE;
    if (end <= start) {
        errprint("--vmiop: empty gfn range 0x%" PRIx64 "-0x%" PRIx64 "\n", start, end);
        return VMI_FAILURE;
    }
    if (view) {
        errprint("--vmiop: SLAT views are not offered (view %u)\n", view);
        return VMI_FAILURE;
    }
    ret = vmiop_set_mem_access(kvm_get_instance(vmi)->v, start, end - start,
                               (unsigned int)rights);
    if (ret) {
        errprint("--vmiop: page access of gfns 0x%" PRIx64 "-0x%" PRIx64 ": %s\n", start,
                 end - 1, strerror(-ret));
        return VMI_FAILURE;
    }
    return VMI_SUCCESS;
}

static status_t vmiop_set_mem_access_one(vmi_instance_t vmi, addr_t gfn, vmi_mem_access_t access,
                                         uint16_t view)
{
    return vmiop_set_mem_access_range(vmi, gfn, gfn + 1, access, view);
}

/* The guest frame of @gva as vCPU @vcpu translates it now; ~0 if none. */
static addr_t vmiop_gfn_of(vmi_instance_t vmi, unsigned int vcpu, uint64_t gva)
{
    uint64_t gpa;

    if (vmiop_translate(kvm_get_instance(vmi)->v, vcpu, gva, &gpa))
        return ~0ULL;
    return gpa >> vmi->page_shift;
}

static vmi_mem_access_t vmiop_mem_out(unsigned int access)
{
    vmi_mem_access_t out = VMI_MEMACCESS_INVALID;

    if (access & VMIOP_ACCESS_R)
        out |= VMI_MEMACCESS_R;
    if (access & VMIOP_ACCESS_W)
        out |= VMI_MEMACCESS_W;
    if (access & VMIOP_ACCESS_X)
        out |= VMI_MEMACCESS_X;
    return out;
}

/* Asked of a callback, not offered by vmiop: said, and listen fails. */
static void vmiop_lacks(vmi_instance_t vmi, const char *what)
{
    errprint("--vmiop: %s\n", what);
    kvm_get_instance(vmi)->ev->unsupported = true;
}

/*
 * One callback: the event's registers in @regs (what SET_REGISTERS
 * gives back), its response.
 */
static event_response_t vmiop_call(vmi_instance_t vmi, vmi_event_t *lev, const struct vmiop_event *e,
                                   x86_registers_t *regs)
{
    event_response_t response;

    lev->vcpu_id = e->vcpu;
    lev->slat_id = 0;
    lev->x86_regs = regs;
    vmi->event_callback = 1;
    response = lev->callback(vmi, lev);
    vmi->event_callback = 0;
    return response;
}

/*
 * A memory event: the page's own LibVMI event if it wants this access,
 * else every generic one that does (as LibVMI's other drivers call them),
 * their responses together.  The reply's action from the responses.
 */
static void vmiop_mem_reply(vmi_instance_t vmi, const struct vmiop_event *e,
                            event_response_t response, vmi_event_t *lev,
                            const x86_registers_t *regs, struct vmiop_event_reply *r,
                            uint8_t *emul);

static event_response_t vmiop_mem_callbacks(vmi_instance_t vmi, const struct vmiop_event *e,
                                            x86_registers_t *regs, vmi_event_t **last,
                                            struct vmiop_event_reply *r, uint8_t *emul)
{
    vmi_mem_access_t out = vmiop_mem_out(e->mem.access);
    addr_t gfn = e->mem.gpa >> vmi->page_shift;
    event_response_t response = VMI_EVENT_RESPONSE_NONE;
    vmi_event_t *lev = NULL, *pick[64];
    event_response_t one;
    unsigned int n = 0;
    GHashTableIter it;
    gpointer key, val;

    if (g_hash_table_size(vmi->mem_events_on_gfn)) {
        lev = g_hash_table_lookup(vmi->mem_events_on_gfn, GSIZE_TO_POINTER(gfn));
        if (lev && (lev->mem_event.in_access & out))
            pick[n++] = lev;
    }
    if (!n) {
        g_hash_table_iter_init(&it, vmi->mem_events_generic);
        while (g_hash_table_iter_next(&it, &key, &val) && n < G_N_ELEMENTS(pick))
            if (GPOINTER_TO_UINT(key) & out)
                pick[n++] = val;
    }
    if (!n)
        errprint("--vmiop: a memory event at 0x%" PRIx64 " (access %u) no callback wants: "
                 "the access goes through\n", (uint64_t)e->mem.gpa, out);
    for (unsigned int i = 0; i < n; i++) {
        lev = pick[i];
        lev->mem_event.gfn = gfn;
        lev->mem_event.offset = e->mem.gpa & VMI_BIT_MASK(0, 11);
        lev->mem_event.out_access = out;
        lev->mem_event.gla = e->mem.gla;
        lev->mem_event.gla_valid = !!(e->mem.flags & VMIOP_MEM_F_GLA_VALID);
        lev->mem_event.gptw = !!(e->mem.flags & VMIOP_MEM_F_PAGE_WALK);
        one = vmiop_call(vmi, lev, e, regs);
        /* Each callback's answer in turn (a later one's action wins), as Xen's driver. */
        vmiop_mem_reply(vmi, e, one, lev, regs, r, emul);
        lev->x86_regs = NULL;
        response |= one;
        *last = lev;
    }
    return response;
}

/* What the response of a memory event's callback makes of the reply. */
static void vmiop_mem_reply(vmi_instance_t vmi, const struct vmiop_event *e,
                            event_response_t response, vmi_event_t *lev,
                            const x86_registers_t *regs, struct vmiop_event_reply *r,
                            uint8_t *emul)
{
    if (response & VMI_EVENT_RESPONSE_EMULATE)
        r->action = VMIOP_ACTION_EMULATE;
    if (response & VMI_EVENT_RESPONSE_EMULATE_NOWRITE) {
        /*
         * vmiop's emulator writes.  A write that must not happen is not
         * run at all; a read or fetch has nothing to drop: emulated.
         */
        if (e->mem.access & VMIOP_ACCESS_W) {
            vmiop_lacks(vmi, "EMULATE_NOWRITE is not offered: the write is skipped");
            r->action = VMIOP_ACTION_SKIP;
            return;
        }
        r->action = VMIOP_ACTION_EMULATE;
    }
    if (!(response & VMI_EVENT_RESPONSE_SET_EMUL_READ_DATA))
        return;
    /* The callback's buffer took the registers' place in LibVMI's union. */
    if (!lev || !lev->emul_read || (const void *)lev->emul_read == (const void *)regs) {
        vmiop_lacks(vmi, "SET_EMUL_READ_DATA without emul_read");
        return;
    }
    if (!lev->emul_read->size || lev->emul_read->size > VMIOP_EMUL_READ_MAX) {
        vmiop_lacks(vmi, "emulated read data: 1 to 64 bytes (VMIOP_EMUL_READ_MAX); the "
                    "access goes through unemulated");
    } else {
        memcpy(emul, lev->emul_read->data, lev->emul_read->size);
        r->action = VMIOP_ACTION_EMULATE;
        r->emul_read.data = (uint64_t)(uintptr_t)emul;
        r->emul_read.len = lev->emul_read->size;
    }
    if (!lev->emul_read->dont_free)
        free(lev->emul_read);
    lev->emul_read = NULL;
}

/*
 * SET_REGISTERS: the callback's registers back to the waiting vCPU.  For
 * an instruction vmiop completes itself (CPUID, a hypercall) the result
 * registers are the instruction's result (as a Xen-style callback that
 * moved RIP on means them) and RIP stays: vmiop moves it past.
 */
static status_t vmiop_put_regs(vmi_instance_t vmi, const struct vmiop_event *e,
                               const x86_registers_t *x, struct vmiop_event_reply *r)
{
    registers_t regs = { .x86 = *x };

    if (e->type == VMIOP_EVENT_CPUID) {
        r->action = VMIOP_ACTION_SET_RESULT;
        r->cpuid.eax = (uint32_t)x->rax;
        r->cpuid.ebx = (uint32_t)x->rbx;
        r->cpuid.ecx = (uint32_t)x->rcx;
        r->cpuid.edx = (uint32_t)x->rdx;
        regs.x86.rip = e->regs.rip;
    } else if (e->type == VMIOP_EVENT_HYPERCALL && x->rip != e->regs.rip) {
        r->action = VMIOP_ACTION_SET_RESULT;
        r->value = x->rax;
        regs.x86.rip = e->regs.rip;
    }
    return kvm_set_vcpuregs(vmi, &regs, e->vcpu);
}

/*
 * One event: the callback LibVMI has for it, its response as vmiop's
 * reply.  VMI_FAILURE only when the session failed (the VM gone).
 */
static status_t vmiop_handle_event(vmi_instance_t vmi, const struct vmiop_event *e)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    struct vmiop_event_reply r = { .action = VMIOP_ACTION_CONTINUE };
    event_response_t response = VMI_EVENT_RESPONSE_NONE;
    vmi_event_t *lev = NULL;
    x86_registers_t regs;
    uint8_t emul[VMIOP_EMUL_READ_MAX];
    uint64_t value = 0;
    int ret;

    vmiop_regs_to_libvmi(&e->regs, &regs);
    if (vmi->shutting_down) {
        if (e->type == VMIOP_EVENT_BREAKPOINT)
            r.action = VMIOP_ACTION_RETRY;  /* as with no handler, below */
        goto reply;
    }

    switch (e->type) {
        case VMIOP_EVENT_CR: {
            static const reg_t cr_reg[5] = { CR0, 0, 0, CR3, CR4 };
            unsigned int want = e->cr.write ? VMI_REGACCESS_W : VMI_REGACCESS_R;

            if (e->cr.cr > 4 || !cr_reg[e->cr.cr] ||
                !(kvm->ev->cr_access[e->cr.cr] & want))
                break;
            /* vmiop's F_CHANGES is per type: this CR's own onchange here. */
            if (e->cr.write && kvm->ev->cr_onchange[e->cr.cr] &&
                e->cr.new_value == e->cr.old_value)
                break;
            lev = g_hash_table_lookup(vmi->reg_events, GSIZE_TO_POINTER(cr_reg[e->cr.cr]));
            if (!lev)
                break;
            lev->reg_event.out_access = want;
            value = e->cr.write ? e->cr.new_value : e->cr.old_value;
            lev->reg_event.value = value;
            lev->reg_event.previous = e->cr.old_value;
            break;
        }
        case VMIOP_EVENT_MSR: {
            unsigned int want = e->msr.write ? VMI_REGACCESS_W : VMI_REGACCESS_R;
            unsigned int acc = GPOINTER_TO_UINT(g_hash_table_lookup(kvm->ev->msr_access,
                                                GSIZE_TO_POINTER((gsize)e->msr.index)));

            if (acc & want)
                lev = g_hash_table_lookup(vmi->msr_events,
                                          GSIZE_TO_POINTER((gsize)e->msr.index));
            if (!lev && (kvm->ev->msr_all_access & want) && vmiop_msr_in_all(e->msr.index))
                lev = g_hash_table_lookup(vmi->reg_events, GSIZE_TO_POINTER(MSR_ALL));
            if (!lev)
                break;
            lev->reg_event.msr = e->msr.index;
            lev->reg_event.out_access = want;
            value = e->msr.write ? e->msr.new_value : e->msr.old_value;
            lev->reg_event.value = value;
            lev->reg_event.previous = e->msr.old_value;
            break;
        }
        case VMIOP_EVENT_BREAKPOINT:
            lev = g_hash_table_lookup(vmi->interrupt_events, GUINT_TO_POINTER(INT3));
            /*
             * None (an event left waiting when the handler went): run
             * what is at RIP again.  A tool removes its INT3s before it
             * clears the event; with events off, an INT3 of the guest's
             * own reaches the guest then.
             */
            if (!lev) {
                r.action = VMIOP_ACTION_RETRY;
                break;
            }
            lev->interrupt_event.gla = e->breakpoint.gva;
            lev->interrupt_event.gfn = vmiop_gfn_of(vmi, e->vcpu, e->breakpoint.gva);
            lev->interrupt_event.offset = e->breakpoint.gva & VMI_BIT_MASK(0, 11);
            lev->interrupt_event.insn_length = e->breakpoint.insn_len;
            lev->interrupt_event.reinject = -1;
            break;
        case VMIOP_EVENT_SINGLESTEP:
            lev = g_hash_table_lookup(vmi->ss_events, GUINT_TO_POINTER(e->vcpu));
            if (!lev)
                break;
            lev->ss_event.gla = e->singlestep.gva;
            lev->ss_event.gfn = vmiop_gfn_of(vmi, e->vcpu, e->singlestep.gva);
            lev->ss_event.offset = e->singlestep.gva & VMI_BIT_MASK(0, 11);
            break;
        case VMIOP_EVENT_CPUID:
            lev = vmi->cpuid_event;
            if (!lev)
                break;
            lev->cpuid_event.leaf = e->cpuid.leaf;
            lev->cpuid_event.subleaf = e->cpuid.subleaf;
            lev->cpuid_event.insn_length = 2;
            /* As Xen reports it: the registers hold what CPUID returns. */
            regs.rax = e->cpuid.eax;
            regs.rbx = e->cpuid.ebx;
            regs.rcx = e->cpuid.ecx;
            regs.rdx = e->cpuid.edx;
            break;
        case VMIOP_EVENT_DESC:
            lev = vmi->descriptor_access_event;
            if (!lev)
                break;
            lev->descriptor_event.descriptor =
                e->desc.reg == VMIOP_DESC_IDTR ? VMI_DESCRIPTOR_IDTR :
                e->desc.reg == VMIOP_DESC_GDTR ? VMI_DESCRIPTOR_GDTR :
                e->desc.reg == VMIOP_DESC_LDTR ? VMI_DESCRIPTOR_LDTR : VMI_DESCRIPTOR_TR;
            lev->descriptor_event.is_write = e->desc.write;
            break;
        case VMIOP_EVENT_DEBUG:
            lev = vmi->debug_event;
            if (!lev)
                break;
            lev->debug_event.gla = e->regs.rip;
            lev->debug_event.gfn = vmiop_gfn_of(vmi, e->vcpu, e->regs.rip);
            lev->debug_event.offset = e->regs.rip & VMI_BIT_MASK(0, 11);
            lev->debug_event.reinject = -1;
            break;
        case VMIOP_EVENT_HYPERCALL:
            lev = vmi->guest_requested_event;
            break;
        case VMIOP_EVENT_MEM:
            response = vmiop_mem_callbacks(vmi, e, &regs, &lev, &r, emul);
            goto responses;
        default:
            break;
    }
    if (!lev)
        goto reply;
    response = vmiop_call(vmi, lev, e, &regs);

    /* What the callback decided, event by event. */
    switch (e->type) {
        case VMIOP_EVENT_CR:
        case VMIOP_EVENT_MSR:
            if (response & VMI_EVENT_RESPONSE_DENY) {
                r.action = VMIOP_ACTION_SKIP;
            } else if (lev->reg_event.value != value) {
                r.action = VMIOP_ACTION_SET_RESULT;
                r.value = lev->reg_event.value;
            }
            break;
        case VMIOP_EVENT_BREAKPOINT:
            /* LibVMI: reinject 0, the INT3 is the callback's (it put the byte back). */
            if (!lev->interrupt_event.reinject)
                r.action = VMIOP_ACTION_RETRY;
            if (response & VMI_EVENT_RESPONSE_SET_EMUL_INSN)
                vmiop_lacks(vmi, "SET_EMUL_INSN is not offered: the vCPU stays on the INT3 "
                            "(reinject 0) or takes it (reinject 1)");
            break;
        case VMIOP_EVENT_DEBUG:
            if (!lev->debug_event.reinject)
                r.action = VMIOP_ACTION_SKIP;
            break;
        default:
            break;
    }
responses:
    if (!lev)
        goto reply;
    if ((response & VMI_EVENT_RESPONSE_SET_REGISTERS) &&
        vmiop_put_regs(vmi, e, &regs, &r) != VMI_SUCCESS)
        vmiop_lacks(vmi, "SET_REGISTERS failed: the event goes on without");
    if ((response & VMI_EVENT_RESPONSE_TOGGLE_SINGLESTEP) &&
        (e->vcpu >= kvm->ev->nr_stepping ||
         vmiop_step_vcpu(vmi, e->vcpu, !kvm->ev->stepping[e->vcpu]) != VMI_SUCCESS))
        vmiop_lacks(vmi, "TOGGLE_SINGLESTEP failed");
    if (response & (VMI_EVENT_RESPONSE_SLAT_ID | VMI_EVENT_RESPONSE_NEXT_SLAT_ID |
                    VMI_EVENT_RESPONSE_GET_NEXT_INTERRUPT | VMI_EVENT_RESPONSE_RESET_VMTRACE |
                    VMI_EVENT_RESPONSE_RESET_FORK_STATE | VMI_EVENT_RESPONSE_RESET_FORK_MEM))
        vmiop_lacks(vmi, "an event response asks for what vmiop does not offer (SLAT views, "
                    "next interrupt, vmtrace, forks); ignored");
    if ((response & VMI_EVENT_RESPONSE_SET_EMUL_INSN) && e->type != VMIOP_EVENT_BREAKPOINT)
        vmiop_lacks(vmi, "SET_EMUL_INSN is not offered; ignored");
    lev->x86_regs = NULL;
reply:
    /*
     * "Continue", the reply of most events, through the reply ring: no
     * system call (vmiop_handle_ready() hands the batch over).  It can
     * only be refused for an event nobody waits for any more.  The others
     * through the ioctl, whose errno lets a refused one be continued.
     */
    if (r.action == VMIOP_ACTION_CONTINUE && !r.flags &&
        !vmiop_ring_reply(kvm->ev->ring, e, &r))
        return VMI_SUCCESS;
    ret = vmiop_event_reply(kvm->v, e, &r);
    if (ret && ret != -ESRCH && r.action != VMIOP_ACTION_CONTINUE) {
        /* A reply the module refused must not leave the vCPU waiting. */
        errprint("--vmiop: reply to event %" PRIu64 " (%s, vCPU %u, action %u): %s; "
                 "continued instead\n", (uint64_t)e->seq, vmiop_event_name(e->type), e->vcpu,
                 r.action, strerror(-ret));
        kvm->ev->unsupported = true;
        r = (struct vmiop_event_reply){ .action = VMIOP_ACTION_CONTINUE };
        ret = vmiop_event_reply(kvm->v, e, &r);
    }
    if (ret == -ESRCH) {
        errprint("--vmiop: the VM is gone (its QEMU exited)\n");
        return VMI_FAILURE;
    }
    if (ret)
        errprint("--vmiop: reply to event %" PRIu64 " (%s, vCPU %u): %s\n", (uint64_t)e->seq,
                 vmiop_event_name(e->type), e->vcpu, strerror(-ret));
    return VMI_SUCCESS;
}

static status_t vmiop_handle_ready(vmi_instance_t vmi)
{
    struct vmiop_ring *ring = vmiop_ev(vmi)->ring;
    struct vmiop_event *e;
    int ret;

    while ((e = vmiop_ring_peek(ring))) {
        struct vmiop_event copy = *e;

        /* The slot is the module's again once tail moves: work on a copy. */
        vmiop_ring_advance(ring, 1);
        if (vmiop_handle_event(vmi, &copy) != VMI_SUCCESS) {
            vmiop_ring_submit(ring, false);
            return VMI_FAILURE;
        }
    }
    /* The batch's ring replies: a system call only if a vCPU sleeps. */
    ret = vmiop_ring_submit(ring, false);
    if (ret && ret != -EOPNOTSUPP) {
        errprint("--vmiop: handing the replies over: %s%s\n", strerror(-ret),
                 ret == -ESRCH ? " (the VM is gone)" : "");
        return VMI_FAILURE;
    }
    return VMI_SUCCESS;
}

static status_t vmiop_events_listen(vmi_instance_t vmi, uint32_t timeout)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    int ret = vmiop_event_wait(kvm->v, timeout > INT_MAX ? INT_MAX : (int)timeout);

    /* No event in time, or a signal (the program's SIGINT): no failure. */
    if (ret < 0 && ret != -ETIMEDOUT && ret != -EINTR) {
        errprint("--vmiop: waiting for events: %s%s\n", strerror(-ret),
                 ret == -ESRCH ? " (the VM is gone)" : "");
        return VMI_FAILURE;
    }
    if (vmiop_handle_ready(vmi) != VMI_SUCCESS)
        return VMI_FAILURE;

    /* Swaps and clears asked for in callbacks: with no event in flight. */
    if (vmi->swap_events || (vmi->clear_events && g_hash_table_size(vmi->clear_events))) {
        if (kvm_pause_vm(vmi) != VMI_SUCCESS)
            return VMI_FAILURE;
        if (vmiop_handle_ready(vmi) != VMI_SUCCESS)
            return VMI_FAILURE;
        for (GSList *l = vmi->swap_events; l; l = l->next) {
            swap_wrapper_t *w = l->data;

            swap_events(vmi, w->swap_from, w->swap_to, w->free_routine);
            g_slice_free(swap_wrapper_t, w);
        }
        g_slist_free(vmi->swap_events);
        vmi->swap_events = NULL;
        g_hash_table_foreach_remove(vmi->clear_events, clear_events_full, vmi);
        if (kvm_resume_vm(vmi) != VMI_SUCCESS)
            return VMI_FAILURE;
    }
    /* A callback asked for what vmiop lacks (said each time): the caller hears. */
    if (kvm->ev->unsupported) {
        kvm->ev->unsupported = false;
        return VMI_FAILURE;
    }
    return VMI_SUCCESS;
}

static int vmiop_are_events_pending(vmi_instance_t vmi)
{
    return (int)vmiop_ring_ready(vmiop_ev(vmi)->ring);
}

static void vmiop_events_destroy(kvm_instance_t *kvm)
{
    if (!kvm->ev)
        return;
    if (kvm->ev->msr_access)
        g_hash_table_destroy(kvm->ev->msr_access);
    g_free(kvm->ev->stepping);
    g_free(kvm->ev);
    kvm->ev = NULL;
}

/*
 * VMI_INIT_EVENTS: the ring, and LibVMI's event calls bound to vmiop's.
 * The ring goes with the session (vmiop_close).
 */
static status_t vmiop_events_init(vmi_instance_t vmi)
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    int ret;

    kvm->ev = g_try_malloc0(sizeof(*kvm->ev));
    if (!kvm->ev)
        return VMI_FAILURE;
    kvm->ev->msr_access = g_hash_table_new(g_direct_hash, g_direct_equal);
    kvm->ev->nr_stepping = vmi->num_vcpus;
    kvm->ev->stepping = g_try_malloc0(sizeof(bool) * (vmi->num_vcpus ? vmi->num_vcpus : 1));
    if (!kvm->ev->stepping)
        goto err;
    kvm->ev->caps.size = sizeof(kvm->ev->caps);
    ret = vmiop_event_caps(kvm->v, &kvm->ev->caps);
    if (ret) {
        errprint("--vmiop: event capabilities: %s\n", strerror(-ret));
        goto err;
    }
    ret = vmiop_ring_setup(kvm->v, VMIOP_LV_RING_ENTRIES, &kvm->ev->ring);
    if (ret) {
        errprint("--vmiop: event ring: %s\n", strerror(-ret));
        goto err;
    }
    /*
     * Memory events on from the start, as LibVMI expects of a page it
     * restricts (vmiop lifts a restriction no vCPU listens for).  They
     * cost nothing until a page is restricted.  Without EPT/NPT there are
     * none: vmiop_set_mem_access() says so when asked.
     */
    ret = vmiop_event_enable(kvm->v, VMIOP_EVENT_MEM, -1, NULL, 0);
    if (ret && ret != -EOPNOTSUPP) {
        errprint("--vmiop: memory events: %s\n", strerror(-ret));
        goto err;
    }
    vmi->driver.events_listen_ptr = &vmiop_events_listen;
    vmi->driver.are_events_pending_ptr = &vmiop_are_events_pending;
    vmi->driver.set_reg_access_ptr = &vmiop_set_reg_access;
    vmi->driver.set_intr_access_ptr = &vmiop_set_intr_access;
    vmi->driver.set_mem_access_ptr = &vmiop_set_mem_access_one;
    vmi->driver.set_mem_access_range_ptr = &vmiop_set_mem_access_range;
    vmi->driver.start_single_step_ptr = &vmiop_start_single_step;
    vmi->driver.stop_single_step_ptr = &vmiop_stop_single_step;
    vmi->driver.shutdown_single_step_ptr = &vmiop_shutdown_single_step;
    vmi->driver.set_guest_requested_ptr = &vmiop_set_guest_requested;
    vmi->driver.set_cpuid_event_ptr = &vmiop_set_cpuid_event;
    vmi->driver.set_debug_event_ptr = &vmiop_set_debug_event;
    vmi->driver.set_desc_access_event_ptr = &vmiop_set_desc_access_event;
    return VMI_SUCCESS;
err:
    vmiop_events_destroy(kvm);
    return VMI_FAILURE;
}
