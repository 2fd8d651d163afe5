// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * kmod/kbtf.c, the module's reader of the running kernel's BTF: on the
 * real BTF of Debian's 6.1 vmlinux and kvm*.ko (the layouts the module
 * takes from it), and on broken and mutated blobs, which must be rejected
 * or read within bounds.
 */
#define _POSIX_C_SOURCE 200809L	/* mkstemp, glob */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "kbtf.h"
#include "debian_kernel.h"

/* As libbpf's: the uapi header has no encoder. */
#define BTF_INFO_ENC(kind, kflag, vlen) (((uint32_t)(kflag) << 31) | ((uint32_t)(kind) << 24) | (vlen))

/* A parsed blob with its own index. */
struct parsed {
	struct kbtf b;
	uint32_t *index;
	uint8_t *data;
	size_t size;
};

static int parse(struct parsed *p, uint8_t *data, size_t size, const struct kbtf *base)
{
	int ret;

	p->data = data;
	p->size = size;
	p->index = NULL;
	ret = kbtf_parse(&p->b, data, size, base, NULL, 0);
	if (ret)
		return ret;
	p->index = calloc(p->b.nr + 1, sizeof(*p->index));
	assert_non_null(p->index);
	return kbtf_parse(&p->b, data, size, base, p->index, p->b.nr);
}

static void unparse(struct parsed *p)
{
	free(p->index);
	free(p->data);
}

/* Debian's kernel: vmlinux BTF and the three KVM modules' split BTF. */
struct debian {
	struct parsed vmlinux, kvm, amd, intel;
};

static struct parsed *load_module(struct parsed *p, const char *release, const char *file,
				  const struct kbtf *base)
{
	char path[512];
	size_t len = 0, size = 0;
	uint8_t *img, *btf;

	snprintf(path, sizeof(path), "/lib/modules/%s/kernel/arch/x86/kvm/%s", release, file);
	img = read_whole(path, &len);
	assert_non_null(img);
	btf = elf_section(img, len, ".BTF", &size);
	free(img);
	assert_non_null(btf);
	assert_int_equal(parse(p, btf, size, base), 0);
	return p;
}

static int debian_setup(void **state)
{
	static struct debian d;
	char name[256], release[128];
	size_t len = 0, size = 0;
	uint8_t *img, *btf;

	img = debian_vmlinux(&len, name, sizeof(name));
	if (!img) {
		*state = NULL;
		return 0;
	}
	btf = elf_section(img, len, ".BTF", &size);
	free(img);
	assert_non_null(btf);
	assert_int_equal(parse(&d.vmlinux, btf, size, NULL), 0);
	snprintf(release, sizeof(release), "%s", strrchr(name, '/') + strlen("/vmlinuz-"));
	load_module(&d.kvm, release, "kvm.ko", &d.vmlinux.b);
	load_module(&d.amd, release, "kvm-amd.ko", &d.vmlinux.b);
	load_module(&d.intel, release, "kvm-intel.ko", &d.vmlinux.b);
	*state = &d;
	return 0;
}

static int debian_teardown(void **state)
{
	struct debian *d = *state;

	if (d) {
		unparse(&d->intel);
		unparse(&d->amd);
		unparse(&d->kvm);
		unparse(&d->vmlinux);
	}
	return 0;
}

#define NEED_DEBIAN(d) do {							\
	if (!(d)) {								\
		print_message("no Debian 6.1 kernel image here: skipped\n");	\
		skip();								\
	}									\
} while (0)

/* Member @name of struct @s in @b: its offset; fails the test if absent. */
static uint32_t member(const struct kbtf *b, const char *s, const char *name, uint32_t *type)
{
	uint32_t id = kbtf_find(b, BTF_KIND_STRUCT, s), off = 0, t = 0;

	assert_int_not_equal(id, 0);
	assert_int_equal(kbtf_member(b, id, name, &off, &t), 0);
	if (type)
		*type = t;
	return off;
}

/* What layout.c takes from kvm_amd: the current VMCB after the embedded vCPU. */
static void svm_layout_is_found(void **state)
{
	struct debian *d = *state;
	uint32_t type, vcpu_size, vmcb;

	NEED_DEBIAN(d);
	assert_int_equal(member(&d->amd.b, "vcpu_svm", "vcpu", &type), 0);
	assert_true(kbtf_is_struct(&d->amd.b, type, "kvm_vcpu"));
	vcpu_size = kbtf_size(&d->amd.b, type);
	vmcb = member(&d->amd.b, "vcpu_svm", "vmcb", &type);
	assert_true(kbtf_is_ptr_to_struct(&d->amd.b, type, "vmcb"));
	/* What the module assumed before it read BTF: right for this build. */
	assert_int_equal(vmcb, (vcpu_size + 7) & ~7u);
	print_message("kvm_amd: struct kvm_vcpu %u bytes, vcpu_svm.vmcb at %u\n", vcpu_size, vmcb);
}

/* And from kvm_intel: the VMCS control shadow behind vcpu_vmx.loaded_vmcs. */
static void vmx_layout_is_found(void **state)
{
	static const char *const fields[] = { "vm_entry", "vm_exit", "pin", "exec",
					      "secondary_exec" };
	struct debian *d = *state;
	uint32_t type, shadow, i;

	NEED_DEBIAN(d);
	member(&d->intel.b, "vcpu_vmx", "loaded_vmcs", &type);
	assert_true(kbtf_is_ptr_to_struct(&d->intel.b, type, "loaded_vmcs"));
	shadow = member(&d->intel.b, "loaded_vmcs", "controls_shadow", &type);
	assert_true(kbtf_is_struct(&d->intel.b, type, "vmcs_controls_shadow"));
	for (i = 0; i < 5; i++) {
		uint32_t t;

		assert_int_equal(member(&d->intel.b, "vmcs_controls_shadow", fields[i], &t),
				 4 * i);
		assert_int_equal(kbtf_size(&d->intel.b, t), 4);
	}
	print_message("kvm_intel: loaded_vmcs.controls_shadow at %u\n", shadow);
}

/* Types the module reads through kvm.ko's public headers, and a private one. */
static void kvm_types_are_found(void **state)
{
	struct debian *d = *state;
	uint32_t id, size;

	NEED_DEBIAN(d);
	id = kbtf_find(&d->kvm.b, BTF_KIND_STRUCT, "kvm_vcpu");
	assert_int_not_equal(id, 0);
	assert_true(kbtf_size(&d->kvm.b, id) > 4096);
	/* vmlinux's (KVM's headers are built in too): found through the base. */
	assert_true(id < d->kvm.b.first_id);
	assert_int_equal(kbtf_find(&d->amd.b, BTF_KIND_STRUCT, "kvm_vcpu"), id);
	/* kvm.ko's own: a type of its private headers. */
	assert_true(kbtf_find(&d->kvm.b, BTF_KIND_STRUCT, "x86_exception") >= d->kvm.b.first_id);
	size = kbtf_size(&d->kvm.b, kbtf_find(&d->kvm.b, BTF_KIND_STRUCT, "x86_exception"));
	assert_true(size > 0 && size <= 64);
	/* A vmlinux type is found from the module through its base. */
	assert_int_not_equal(kbtf_find(&d->kvm.b, BTF_KIND_STRUCT, "task_struct"), 0);
	assert_int_equal(kbtf_find(&d->kvm.b, BTF_KIND_STRUCT, "no_such_struct_here"), 0);
}

/* ---- hostile blobs ---- */

/* A little base BTF: int, struct s { int a; int *p; }, a typedef loop. */
static size_t build_blob(uint8_t *buf, size_t cap)
{
	static const char strs[] = "\0int\0s\0a\0p\0loop\0";
	uint32_t types[64], n = 0;
	struct btf_header h = {
		.magic = BTF_MAGIC, .version = BTF_VERSION, .hdr_len = sizeof(h),
	};

	/* 1: int, 4 bytes */
	types[n++] = 1;
	types[n++] = BTF_INFO_ENC(BTF_KIND_INT, 0, 0);
	types[n++] = 4;
	types[n++] = 32;
	/* 2: int * */
	types[n++] = 0;
	types[n++] = BTF_INFO_ENC(BTF_KIND_PTR, 0, 0);
	types[n++] = 1;
	/* 3: struct s { int a; int *p; } */
	types[n++] = 5;
	types[n++] = BTF_INFO_ENC(BTF_KIND_STRUCT, 0, 2);
	types[n++] = 16;
	types[n++] = 7;
	types[n++] = 1;
	types[n++] = 0;
	types[n++] = 9;
	types[n++] = 2;
	types[n++] = 64;
	/* 4: typedef loop -> 5, 5: typedef -> 4 */
	types[n++] = 11;
	types[n++] = BTF_INFO_ENC(BTF_KIND_TYPEDEF, 0, 0);
	types[n++] = 5;
	types[n++] = 11;
	types[n++] = BTF_INFO_ENC(BTF_KIND_TYPEDEF, 0, 0);
	types[n++] = 4;
	h.type_off = 0;
	h.type_len = n * 4;
	h.str_off = h.type_len;
	h.str_len = sizeof(strs);
	assert_true(sizeof(h) + h.type_len + h.str_len <= cap);
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), types, h.type_len);
	memcpy(buf + sizeof(h) + h.type_len, strs, sizeof(strs));
	return sizeof(h) + h.type_len + h.str_len;
}

static void a_small_blob_is_read(void **state)
{
	uint8_t buf[512];
	size_t len = build_blob(buf, sizeof(buf));
	struct kbtf b;
	uint32_t index[8], id, off, type;

	(void)state;
	assert_int_equal(kbtf_parse(&b, buf, len, NULL, index, 8), 0);
	assert_int_equal(b.nr, 5);
	id = kbtf_find(&b, BTF_KIND_STRUCT, "s");
	assert_int_equal(id, 3);
	assert_int_equal(kbtf_size(&b, id), 16);
	assert_int_equal(kbtf_member(&b, id, "p", &off, &type), 0);
	assert_int_equal(off, 8);
	assert_int_equal(kbtf_size(&b, type), 8);
	assert_int_equal(kbtf_member(&b, id, "q", &off, &type), -ENOENT);
	assert_int_equal(kbtf_member(&b, 1, "a", &off, &type), -ENOENT);	/* not a struct */
	/* A typedef cycle ends, with nothing. */
	assert_int_equal(kbtf_resolve(&b, 4), 0);
	assert_int_equal(kbtf_size(&b, 4), 0);
	assert_null(kbtf_type(&b, 0));
	assert_null(kbtf_type(&b, 6));
	assert_null(kbtf_str(&b, 1000));
	/* Too small an index. */
	assert_int_equal(kbtf_parse(&b, buf, len, NULL, index, 4), -ENOSPC);
}

static void broken_blobs_are_refused(void **state)
{
	uint8_t buf[512], bad[512];
	size_t len = build_blob(buf, sizeof(buf)), cut;
	struct btf_header *h = (struct btf_header *)bad;
	struct kbtf b;
	uint32_t index[8];

	(void)state;
	/* Every truncation. */
	for (cut = 0; cut < len; cut++)
		assert_int_not_equal(kbtf_parse(&b, buf, cut, NULL, index, 8), 0);
#define REFUSED(mutate) do {							\
		memcpy(bad, buf, len);						\
		mutate;								\
		assert_int_equal(kbtf_parse(&b, bad, len, NULL, index, 8), -EINVAL); \
	} while (0)
	REFUSED(h->magic = 0x9feb);
	REFUSED(h->version = 2);
	REFUSED(h->hdr_len = 4);
	REFUSED(h->hdr_len = 25);			/* misaligned types */
	REFUSED(h->hdr_len = 10000);
	REFUSED(h->type_len = 10000);
	REFUSED(h->type_off = 2);
	REFUSED(h->str_len = 10000);
	REFUSED(h->str_off = 0xfffffff0);
	REFUSED(bad[len - 1] = 'x');			/* last string unterminated */
	REFUSED(bad[sizeof(*h) + h->str_off] = 'x');	/* base string 0 not "" */
	/* The struct's vlen runs past the type section. */
	REFUSED(((uint32_t *)(bad + sizeof(*h)))[8] = BTF_INFO_ENC(BTF_KIND_STRUCT, 0, 60));
	/* An unknown kind. */
	REFUSED(((uint32_t *)(bad + sizeof(*h)))[1] = BTF_INFO_ENC(31, 0, 0));
#undef REFUSED
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * Mutations of kvm_amd's real BTF, each parsed on top of the real vmlinux
 * BTF and queried as layout.c does: no read out of bounds (ASan), no hang.
 */
static void mutated_module_btf_is_read_within_bounds(void **state)
{
	struct debian *d = *state;
	uint8_t *copy;
	int round;

	NEED_DEBIAN(d);
	copy = malloc(d->amd.size);
	assert_non_null(copy);
	for (round = 0; round < 300; round++) {
		struct parsed p;
		uint32_t off, type, id;
		int i, ret;

		memcpy(copy, d->amd.data, d->amd.size);
		for (i = 0; i < 1 + (int)(next_rand() % 16); i++) {
			size_t at = next_rand() % (round % 2 ? 64 : d->amd.size);

			copy[at] ^= (uint8_t)(1u << (next_rand() % 8));
		}
		p.index = NULL;
		ret = kbtf_parse(&p.b, copy, d->amd.size, &d->vmlinux.b, NULL, 0);
		if (ret)
			continue;
		p.index = calloc(p.b.nr + 1, sizeof(*p.index));
		assert_non_null(p.index);
		if (!kbtf_parse(&p.b, copy, d->amd.size, &d->vmlinux.b, p.index, p.b.nr)) {
			id = kbtf_find(&p.b, BTF_KIND_STRUCT, "vcpu_svm");
			if (id && !kbtf_member(&p.b, id, "vmcb", &off, &type)) {
				kbtf_is_ptr_to_struct(&p.b, type, "vmcb");
				kbtf_size(&p.b, type);
			}
			kbtf_size(&p.b, id);
		}
		free(p.index);
	}
	free(copy);
}

int main(void)
{
	const struct CMUnitTest debian[] = {
		cmocka_unit_test(svm_layout_is_found),
		cmocka_unit_test(vmx_layout_is_found),
		cmocka_unit_test(kvm_types_are_found),
		cmocka_unit_test(mutated_module_btf_is_read_within_bounds),
	};
	const struct CMUnitTest small[] = {
		cmocka_unit_test(a_small_blob_is_read),
		cmocka_unit_test(broken_blobs_are_refused),
	};

	return cmocka_run_group_tests_name("kbtf_debian", debian, debian_setup, debian_teardown) |
	       cmocka_run_group_tests_name("kbtf_blobs", small, NULL, NULL);
}
