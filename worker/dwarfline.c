/* SPDX-License-Identifier: Apache-2.0 */
/* dwarfline.c -- libdw behind an address -> (function, file, line) chain
 * lookup, inlined calls expanded.
 *
 * The chain comes from the DIE scopes around the address: each
 * DW_TAG_inlined_subroutine is one inline level whose caller position
 * is its DW_AT_call_file/DW_AT_call_line; the line table gives the
 * innermost position. DWARF that refers to a .gnu_debugaltlink (dwz)
 * file is refused for now: libdw would open the shared file by a path of
 * its own choosing on the node, outside the caps here.
 */
#include "dwarfline.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dwarfline {
	Elf *elf;
	Dwarf *dw;
	uint64_t debug_bytes; /* .debug_* sections as held in memory */
};

/* Sum of the .debug_* section sizes as libdw will hold them in memory
 * (decompressed), refusing what lies outside the file. */
static int check_sections(Elf *elf, uint64_t file_size, bool *has_line, uint64_t *bytes)
{
	uint64_t total = 0;
	Elf_Scn *scn = NULL;
	bool has_alt = false;
	size_t shstrndx;

	*has_line = false;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return -ENOEXEC;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		uint64_t size;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (strcmp(name, ".gnu_debugaltlink") == 0)
			has_alt = true;
		if (strncmp(name, ".debug_", 7) != 0 && strncmp(name, ".zdebug_", 8) != 0)
			continue;
		if (sh.sh_type == SHT_NOBITS)
			continue;
		if (sh.sh_offset > file_size || sh.sh_size > file_size - sh.sh_offset)
			return -ENOEXEC;
		size = sh.sh_size;
		if (sh.sh_flags & SHF_COMPRESSED) {
			GElf_Chdr ch;

			if (!gelf_getchdr(scn, &ch))
				return -ENOEXEC;
			size = ch.ch_size;
		} else if (name[1] == 'z') {
			/* Legacy .zdebug: "ZLIB" + 8-byte big-endian size, inflated
			 * by libdw; its size is not known without reading. */
			return -ENOTSUP;
		}
		if (size > DWARFLINE_MAX_DEBUG || total + size > DWARFLINE_MAX_DEBUG)
			return -E2BIG;
		total += size;
		if (strcmp(name, ".debug_line") == 0)
			*has_line = true;
	}
	*bytes = total;
	/* A stripped binary may name a dwz file too; only DWARF that
	 * depends on one is refused. */
	return has_alt && total ? -ENOTSUP : 0;
}

int dwarfline_open_fd(int fd, struct dwarfline **out)
{
	struct dwarfline *d = NULL;
	struct stat st;
	bool has_line;
	int err = 0;

	*out = NULL;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	if ((uint64_t)st.st_size > DWARFLINE_MAX_FILE)
		return -E2BIG;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* ELF_C_READ: sections are pread into memory, never mmapped. */
	d->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!d->elf || elf_kind(d->elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = check_sections(d->elf, (uint64_t)st.st_size, &has_line, &d->debug_bytes);
	if (!err && !has_line)
		err = -ENOENT;
	if (err)
		goto cleanup;
	d->dw = dwarf_begin_elf(d->elf, DWARF_C_READ, NULL);
	if (!d->dw) {
		err = -ENOEXEC;
		goto cleanup;
	}
	/* libdw has read every debug section now; later reads must not use
	 * the caller's descriptor, which may be closed. */
	elf_cntl(d->elf, ELF_C_FDDONE);
	*out = d;
	d = NULL;
cleanup:
	dwarfline_free(d);
	return err;
}

size_t dwarfline_mem(const struct dwarfline *d)
{
	return d ? sizeof(*d) + (size_t)d->debug_bytes : 0;
}

void dwarfline_free(struct dwarfline *d)
{
	if (!d)
		return;
	if (d->dw)
		dwarf_end(d->dw);
	if (d->elf)
		elf_end(d->elf);
	free(d);
}

/* Name of a subprogram or inlined subroutine: the linkage name when there
 * is one (C++), else the plain name, following DW_AT_abstract_origin. */
static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *name = NULL;

	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		name = dwarf_formstring(&a);
	if (!name)
		name = dwarf_diename(die);
	return name && name[0] ? name : NULL;
}

static int64_t decl_line(Dwarf_Die *die)
{
	int line = 0;

	if (dwarf_decl_line(die, &line) != 0 || line < 0)
		return 0;
	return line;
}

/* File name of entry idx of the CU's file table, or NULL. */
static const char *cu_file(Dwarf_Files *files, size_t nfiles, Dwarf_Word idx)
{
	if (!files || idx >= nfiles)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

int dwarfline_lookup(struct dwarfline *d, uint64_t vaddr, struct pprof_line *out, size_t max)
{
	Dwarf_Die cudie, *scopes = NULL, *chain = NULL;
	Dwarf_Files *files = NULL;
	Dwarf_Line *ln;
	const char *file = NULL;
	size_t nfiles = 0, n = 0;
	int64_t line = 0;
	int nscopes, nchain = 0;

	if (!d || max == 0 || !dwarf_addrdie(d->dw, vaddr, &cudie))
		return 0;
	ln = dwarf_getsrc_die(&cudie, vaddr);
	if (ln) {
		int l = 0;

		file = dwarf_linesrc(ln, NULL, NULL);
		if (dwarf_lineno(ln, &l) == 0 && l > 0)
			line = l;
	}
	if (dwarf_getsrcfiles(&cudie, &files, &nfiles) != 0)
		files = NULL;
	/* dwarf_getscopes continues from an inlined instance into its abstract
	 * definition; the chain of callers is the physical nesting of the
	 * innermost scope, which dwarf_getscopes_die gives. */
	nscopes = dwarf_getscopes(&cudie, vaddr, &scopes);
	if (nscopes > 0)
		nchain = dwarf_getscopes_die(&scopes[0], &chain);
	/* chain[0] is the innermost; walk out to the enclosing subprogram.
	 * (file, line) is the position inside the scope being emitted. */
	for (int i = 0; i < nchain && n < max; i++) {
		Dwarf_Die *sc = &chain[i];
		int tag = dwarf_tag(sc);
		Dwarf_Attribute a;
		Dwarf_Word w;

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		out[n] = (struct pprof_line){.function = die_name(sc),
					     .filename = file,
					     .line = line,
					     .start_line = decl_line(sc)};
		if (!out[n].function)
			out[n].function = "??";
		n++;
		if (tag == DW_TAG_subprogram)
			break;
		/* The caller's position is this inline's call site. */
		file = NULL;
		line = 0;
		if (dwarf_formudata(dwarf_attr(sc, DW_AT_call_file, &a), &w) == 0)
			file = cu_file(files, nfiles, w);
		if (dwarf_formudata(dwarf_attr(sc, DW_AT_call_line, &a), &w) == 0 && w <= INT32_MAX)
			line = (int64_t)w;
	}
	free(chain);
	free(scopes);
	return (int)n;
}
