/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The #VE agent image: what its installer (libvmiop, the tests) reads and
 * fills in.  The image is position-independent: code and read-only data
 * from offset 0 up to @code_size (give it r-x), then its data up to
 * @image_size (rw-).  The installer copies it into guest memory, patches
 * the hypercall for the vendor, fills struct ve_agent_config at @config
 * and points IDT gate 20 at @entry; per vCPU it gives an info page
 * (struct vmiop_ve_cpu, with @protected_stack set) and registers it.
 */
#ifndef VE_AGENT_H
#define VE_AGENT_H

#include <stdint.h>

#define VE_AGENT_MAGIC		"VMIOPVE1"
#define VE_AGENT_MAX_CPUS	64	/* HVMI's VE_MAX_CPUS */

/* The VMCALL the image has at @hcall, and the VMMCALL AMD needs instead. */
#define VE_AGENT_VMCALL		{ 0x0f, 0x01, 0xc1 }
#define VE_AGENT_VMMCALL	{ 0x0f, 0x01, 0xd9 }

struct ve_agent_header {
	char magic[8];
	uint32_t version;	/* 1 */
	uint32_t code_size;	/* bytes from 0 that are code and constants */
	uint32_t image_size;	/* bytes of the whole image */
	uint32_t entry;		/* the #VE handler */
	uint32_t hcall;		/* the 3-byte hypercall instruction */
	uint32_t config;	/* struct ve_agent_config */
};

/*
 * How the agent finds its vCPU: RDTSCP's TSC_AUX (Linux keeps the CPU
 * number there) looked up in @tsc_aux; the info page of entry i is at
 * @info + i * 4096.
 */
struct ve_agent_config {
	uint64_t info;		/* linear address of the first info page */
	uint64_t cache;		/* linear address of the 64 cache lines, 0: none */
	uint32_t nr_cpus;
	uint32_t reserved;
	uint32_t tsc_aux[VE_AGENT_MAX_CPUS];
	/* counters of what never reached an info page */
	uint64_t unknown_cpu;	/* a TSC_AUX not in the table */
	uint64_t redelivered;	/* an entry at the entry itself (QEMU TCG) */
};

#endif
