/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Debian's own 6.1 kernel on this machine, for the unit tests that run the
 * real thing: the vmlinux inside /boot/vmlinuz-6.1.*-amd64, and the .BTF
 * section of an ELF file (vmlinux, a kvm*.ko).  Tests skip when there is
 * none (scripts/install-deps.sh installs linux-image-amd64).
 */
#ifndef VMIOP_DEBIAN_KERNEL_H
#define VMIOP_DEBIAN_KERNEL_H

#include <elf.h>
#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The vmlinux inside /boot/vmlinuz-*: Debian's bzImage carries it
 * xz-compressed after the setup code.  NULL (and the test skips) if
 * there is none here.
 */
static inline uint8_t *debian_vmlinux(size_t *len, char *name, size_t name_len)
{
	static const uint8_t xz_magic[6] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	char cmd[512], out[] = "/tmp/test_osi_vmlinux.XXXXXX";
	uint8_t *img = NULL, *data = NULL;
	size_t n = 0, off;
	glob_t g;
	FILE *fp;
	int fd;

	if (glob("/boot/vmlinuz-6.1.*-amd64", 0, NULL, &g) || !g.gl_pathc)
		return NULL;
	snprintf(name, name_len, "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	fp = fopen(name, "rb");
	if (!fp)
		return NULL;
	data = malloc(64 << 20);
	if (data)
		n = fread(data, 1, 64 << 20, fp);
	fclose(fp);
	for (off = 0; data && off + sizeof(xz_magic) < n; off++)
		if (!memcmp(data + off, xz_magic, sizeof(xz_magic)))
			break;
	free(data);
	if (!n || off + sizeof(xz_magic) >= n)
		return NULL;
	fd = mkstemp(out);
	if (fd < 0)
		return NULL;
	close(fd);
	snprintf(cmd, sizeof(cmd), "tail -c +%zu '%s' | xz -dcq --single-stream > %s 2>/dev/null",
		 off + 1, name, out);
	if (system(cmd) == 0 && (fp = fopen(out, "rb"))) {
		img = malloc(96 << 20);
		*len = img ? fread(img, 1, 96 << 20, fp) : 0;
		fclose(fp);
	}
	unlink(out);
	return img;
}

/* A copy of the section @name of the ELF image @img (@len bytes); NULL if none. */
static inline uint8_t *elf_section(const uint8_t *img, size_t len, const char *name,
				   size_t *size)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
	const Elf64_Shdr *sh, *strtab;
	uint8_t *copy;
	unsigned int i;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(*sh) ||
	    eh->e_shoff > len || (size_t)eh->e_shnum * sizeof(*sh) > len - eh->e_shoff ||
	    eh->e_shstrndx >= eh->e_shnum)
		return NULL;
	sh = (const Elf64_Shdr *)(img + eh->e_shoff);
	strtab = &sh[eh->e_shstrndx];
	for (i = 0; i < eh->e_shnum; i++) {
		if (strtab->sh_offset + sh[i].sh_name >= len ||
		    strcmp((const char *)img + strtab->sh_offset + sh[i].sh_name, name))
			continue;
		if (sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset)
			return NULL;
		copy = malloc(sh[i].sh_size);
		if (copy)
			memcpy(copy, img + sh[i].sh_offset, sh[i].sh_size);
		*size = sh[i].sh_size;
		return copy;
	}
	return NULL;
}

/* The whole file at @path (malloc'd), NULL if unreadable. */
static inline uint8_t *read_whole(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	if (!fseek(fp, 0, SEEK_END) && (n = ftell(fp)) > 0 && !fseek(fp, 0, SEEK_SET)) {
		buf = malloc((size_t)n);
		if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		*len = (size_t)n;
	}
	fclose(fp);
	return buf;
}

#endif
