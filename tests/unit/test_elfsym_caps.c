/* SPDX-License-Identifier: Apache-2.0 */
/* test_elfsym_caps.c -- hostile ELF headers are refused before libelf
 * allocates for them: section and program header counts (extended
 * numbering included), tables past the file, and tables that live in the
 * holes of a sparse file. */
#include "unit.h"
#include "elfsym.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A memfd holding img, then truncated to apparent (sparse past img). */
static int sparse_file(const void *img, size_t len, off_t apparent)
{
	int fd = memfd_create("elfcaps", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (pwrite(fd, img, len, 0) != (ssize_t)len || ftruncate(fd, apparent) != 0) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static int load(const void *img, size_t len, off_t apparent)
{
	struct elfsym *e = NULL;
	int fd = sparse_file(img, len, apparent), err;

	if (fd < 0)
		return fd;
	err = elfsym_load_fd(fd, &e);
	close(fd);
	elfsym_free(e);
	return err;
}

static void ehdr(Elf64_Ehdr *h, uint64_t shoff, uint16_t shnum, uint16_t phnum)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_DYN;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_ehsize = sizeof(*h);
	h->e_shoff = shoff;
	h->e_shnum = shnum;
	h->e_shentsize = sizeof(Elf64_Shdr);
	h->e_phnum = phnum;
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phoff = phnum ? sizeof(*h) : 0;
}

/* Extended numbering: e_shnum 0, the real count (2 million) in section 0,
 * in a 64 GiB file of which one page exists. */
UNIT_TEST(elfsym_caps_section_count)
{
	uint8_t img[8192] = {0};
	Elf64_Ehdr *h = (Elf64_Ehdr *)img;
	Elf64_Shdr *s0 = (Elf64_Shdr *)(img + 4096);

	ehdr(h, 4096, 0, 0);
	s0->sh_size = 2000000;
	CHECK_EQ_INT(load(img, sizeof(img), (off_t)64 << 30), -E2BIG);
	s0->sh_size = ELFSYM_MAX_SECTIONS + 1;
	CHECK_EQ_INT(load(img, sizeof(img), (off_t)64 << 30), -E2BIG);
	/* PN_XNUM: the program header count comes from section 0's sh_info. */
	s0->sh_size = 1;
	s0->sh_info = 100000;
	h->e_phnum = PN_XNUM;
	CHECK_EQ_INT(load(img, sizeof(img), (off_t)64 << 30), -E2BIG);
	/* Section headers past the end of the file. */
	ehdr(h, 1u << 20, 100, 0);
	CHECK_EQ_INT(load(img, sizeof(img), sizeof(img)), -ENOEXEC);
	/* Past the apparent size cap. */
	ehdr(h, 4096, 1, 0);
	CHECK_EQ_INT(load(img, sizeof(img), (off_t)ELFSYM_MAX_FILE + 4096), -E2BIG);
}

/* .symtab -> .strtab of 400 MiB that is all holes: refused, as is a .symtab
 * itself in the holes; the same tables backed by real bytes load. */
UNIT_TEST(elfsym_caps_sparse_tables)
{
	uint8_t img[4096] = {0};
	Elf64_Ehdr *h = (Elf64_Ehdr *)img;
	Elf64_Sym *sym = (Elf64_Sym *)(img + 0x100);
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + 0x200);
	const off_t gib = (off_t)1 << 30;

	ehdr(h, 0x200, 3, 0);
	sym[1] = (Elf64_Sym){.st_name = 1,
			     .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
			     .st_shndx = 1,
			     .st_value = 0x1000,
			     .st_size = 16};
	sh[1] = (Elf64_Shdr){.sh_type = SHT_SYMTAB,
			     .sh_offset = 0x100,
			     .sh_size = 2 * sizeof(Elf64_Sym),
			     .sh_link = 2,
			     .sh_entsize = sizeof(Elf64_Sym)};
	sh[2] =
	    (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = (uint64_t)gib, .sh_size = 400u << 20};
	CHECK_EQ_INT(load(img, sizeof(img), 2 * gib), -E2BIG);
	/* Over the per-table cap even if it were backed. */
	sh[2].sh_size = (uint64_t)ELFSYM_MAX_SECTION + 1;
	CHECK_EQ_INT(load(img, sizeof(img), 2 * gib), -E2BIG);
	/* A small real string table: loads, with the one symbol. */
	memcpy(img + 0x400, "\0spin\0", 6);
	sh[2].sh_offset = 0x400;
	sh[2].sh_size = 6;
	{
		struct elfsym *e = NULL;
		int fd = sparse_file(img, sizeof(img), sizeof(img));

		CHECK(fd >= 0);
		CHECK_EQ_INT(elfsym_load_fd(fd, &e), 0);
		if (e) {
			CHECK_EQ_INT(elfsym_count(e), 1);
			CHECK_EQ_STR(elfsym_lookup(e, 0x1004, NULL), "spin");
			CHECK(elfsym_mem(e) > 0);
		}
		elfsym_free(e);
		if (fd >= 0)
			close(fd);
	}
	/* The symbol table itself in the holes. */
	sh[1].sh_offset = (uint64_t)gib;
	sh[1].sh_size = 300u << 20;
	CHECK_EQ_INT(load(img, sizeof(img), 2 * gib), -E2BIG);
}
