/*
 * LibVMI's KVM driver on vmiop: stock KVM, no libvirt, no KVMI socket.
 *
 * The VM is named by its QEMU's pid, or by the name QEMU was given
 * (-name NAME, or libvirt's -name guest=NAME,...).  Guest memory is read
 * through pages of the VM mapped once (zero-copy), registers through
 * vmiop's register file, pause and resume are vmiop's (counted there).
 *
 * This file is part of vmiop (contrib/libvmi) and is added to LibVMI's
 * driver/kvm/ by contrib/libvmi/build.sh.  LGPL-3.0-or-later, as LibVMI.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* ---- naming: a VM is its QEMU's pid ---------------------------------- */

/* QEMU's -name value, up to the first comma; "guest=" stripped (libvirt). */
static char *vmiop_qemu_name(pid_t pid)
{
    char path[64], buf[8192], *p, *end, *name = NULL;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    end = buf + n;
    for (p = buf; p < end; p += strlen(p) + 1) {
        if (strcmp(p, "-name") || p + strlen(p) + 1 >= end)
            continue;
        p += strlen(p) + 1;
        if (!strncmp(p, "guest=", 6))
            p += 6;
        name = strndup(p, strcspn(p, ","));
        break;
    }
    return name;
}

/*
 * @pid holds a KVM VM (an anon inode "kvm-vm" among its files): 1; 0 if
 * not; -errno if its files cannot be looked at (said on stderr).
 */
static int vmiop_pid_has_vm(pid_t pid)
{
    char path[64], link[64];
    struct dirent *d;
    bool found = false;
    DIR *dir;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    dir = opendir(path);
    if (!dir) {
        /* The one failure worth a word: the VM is there, but not ours. */
        int err = errno;

        if (err == EACCES || err == EPERM)
            errprint("--vmiop: %s: %s: introspecting the VM of pid %d takes the rights "
                     "ptrace would need over it\n", path, strerror(err), (int)pid);
        return -err;
    }
    while (!found && (d = readdir(dir))) {
        char fdpath[300];
        ssize_t n;

        snprintf(fdpath, sizeof(fdpath), "%s/%s", path, d->d_name);
        n = readlink(fdpath, link, sizeof(link) - 1);
        if (n <= 0)
            continue;
        link[n] = '\0';
        found = !strcmp(link, "anon_inode:kvm-vm");
    }
    closedir(dir);
    return found;
}

static bool vmiop_is_vm(pid_t pid)
{
    return vmiop_pid_has_vm(pid) > 0;
}

uint64_t kvm_get_id_from_name(vmi_instance_t UNUSED(vmi), const char *name)
{
    uint64_t id = VMI_INVALID_DOMID, found = 0, barred = 0;
    struct dirent *d;
    char *end;
    DIR *proc;

    if (!name || !*name)
        return VMI_INVALID_DOMID;
    /* A pid is a name too. */
    id = strtoull(name, &end, 10);
    if (!*end && id && vmiop_is_vm((pid_t)id))
        return id;
    id = VMI_INVALID_DOMID;
    proc = opendir("/proc");
    if (!proc)
        return VMI_INVALID_DOMID;
    while ((d = readdir(proc))) {
        pid_t pid;
        char *qname;

        if (!isdigit((unsigned char)d->d_name[0]))
            continue;
        pid = (pid_t)atoi(d->d_name);
        qname = vmiop_qemu_name(pid);
        if (qname && !strcmp(qname, name)) {
            int has = vmiop_pid_has_vm(pid);

            if (has > 0) {
                id = (uint64_t)pid;
                found++;
            } else if (has < 0) {
                barred++;
            }
        }
        free(qname);
    }
    closedir(proc);
    if (found > 1) {
        errprint("--vmiop: VM name '%s' names %" PRIu64 " running VMs: use a pid\n", name,
                 found);
        return VMI_INVALID_DOMID;
    }
    if (!found && !barred)
        errprint("--vmiop: no KVM VM named '%s' (QEMU's -name, or its pid)\n", name);
    return id;
}

status_t kvm_get_name_from_id(vmi_instance_t UNUSED(vmi), uint64_t domainid, char **name)
{
    char buf[32];

    if (!vmiop_is_vm((pid_t)domainid))
        return VMI_FAILURE;
    *name = vmiop_qemu_name((pid_t)domainid);
    if (!*name) {
        /* A VMM without -name: the pid names it. */
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

status_t kvm_init_vmi(vmi_instance_t vmi, uint32_t init_flags,
                      vmi_init_data_t *UNUSED(init_data))
{
    kvm_instance_t *kvm = kvm_get_instance(vmi);
    struct vmiop_vm_info info = { .size = sizeof(info) };
    int ret;

    if (init_flags & VMI_INIT_EVENTS) {
        errprint("--vmiop: LibVMI events are not yet offered by the vmiop backend\n");
        return VMI_FAILURE;
    }
    ret = vmiop_open(&kvm->v);
    if (ret) {
        errprint("--vmiop: open " VMIOP_DEVICE ": %s%s\n", strerror(-ret),
                 ret == -ENOENT ? " (the vmiop module is not loaded)" : "");
        return VMI_FAILURE;
    }
    ret = vmiop_attach_pid(kvm->v, (pid_t)kvm->id);
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
    if (kvm->v)
        vmiop_close(kvm->v);
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
