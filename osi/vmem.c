// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>
#include "pgwalk.h"
#include "vmem.h"

void osi_vmem_init(struct osi_vmem *vm, osi_read_pa_t read_pa, void *ctx, uint64_t root,
		   bool la57, uint32_t maxphyaddr, uint64_t budget)
{
	unsigned int i;

	vm->read_pa = read_pa;
	vm->ctx = ctx;
	vm->root = root;
	vm->la57 = la57;
	vm->maxphyaddr = maxphyaddr;
	vm->reads_left = budget;
	for (i = 0; i < OSI_VMEM_CACHE; i++)
		vm->cache[i].pa = ~0ULL;
}

static int osi_read_pa(struct osi_vmem *vm, uint64_t pa, void *buf, size_t len)
{
	if (!vm->reads_left)
		return -E2BIG;
	vm->reads_left--;
	return vm->read_pa(vm->ctx, pa, buf, len);
}

/* pgwalk's read: an entry of a table page, through the cache. */
static int osi_pgwalk_read(void *ctx, uint64_t gpa, unsigned int size, uint64_t *val)
{
	struct osi_vmem *vm = ctx;
	uint64_t page = gpa & ~0xfffULL;
	unsigned int slot = (unsigned int)(page >> 12) % OSI_VMEM_CACHE;
	int ret;

	if (vm->cache[slot].pa != page) {
		vm->cache[slot].pa = ~0ULL;
		ret = osi_read_pa(vm, page, vm->cache[slot].data, 4096);
		if (ret)
			return ret;
		vm->cache[slot].pa = page;
	}
	*val = 0;
	memcpy(val, vm->cache[slot].data + (gpa & 0xfff), size);
	return 0;
}

int osi_translate(struct osi_vmem *vm, uint64_t va, uint64_t *pa, uint64_t *page_size)
{
	struct pgwalk_params p = {
		.cr3 = vm->root,
		.mode = vm->la57 ? PGWALK_MODE_5LEVEL : PGWALK_MODE_4LEVEL,
		.maxphyaddr = vm->maxphyaddr,
		.nxe = true,
	};
	struct pgwalk_result res;
	int ret;

	ret = pgwalk(&p, va, osi_pgwalk_read, vm, &res);
	if (ret)
		return ret == -EINVAL ? -EINVAL : ret;
	if (res.fault != PGWALK_OK)
		return -EFAULT;
	*pa = res.gpa;
	if (page_size)
		*page_size = res.page_size;
	return 0;
}

int osi_read_va(struct osi_vmem *vm, uint64_t va, void *buf, size_t len)
{
	uint8_t *out = buf;

	/* A guest pointer plus an offset must not wrap into user space. */
	if (va + len < va)
		return -EFAULT;
	while (len) {
		size_t chunk = 4096 - (va & 0xfff);
		uint64_t pa;
		int ret;

		if (chunk > len)
			chunk = len;
		ret = osi_translate(vm, va, &pa, NULL);
		if (ret)
			return ret;
		ret = osi_read_pa(vm, pa, out, chunk);
		if (ret)
			return ret;
		va += chunk;
		out += chunk;
		len -= chunk;
	}
	return 0;
}

int osi_read_u64(struct osi_vmem *vm, uint64_t va, uint64_t *val)
{
	return osi_read_va(vm, va, val, sizeof(*val));
}
