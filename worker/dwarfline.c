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
 *
 * libdw finds the scopes around an address by visiting every DIE of the
 * compilation unit (dwarf_getscopes), milliseconds per address in a unit
 * of thousands of functions. So the first lookup in a unit lists its
 * functions' address ranges once (sorted, FN_MAX in all), and a lookup
 * then only walks the subtree of the one function holding the address.
 * Units whose functions cannot be listed fall back to dwarf_getscopes.
 */
#include "dwarfline.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>

#define FN_MAX	  (4u << 20) /* function address ranges indexed per file */
#define NEST_MAX  8	     /* namespace/class nesting searched for functions */
#define SCOPE_MAX 128	     /* DIE nesting followed inside one function */

struct fn_range {
	uint64_t lo, hi; /* [lo, hi) */
	Dwarf_Off die;	 /* the DW_TAG_subprogram */
};
#include <string.h>
#include <sys/stat.h>

struct dwarfline {
	Elf *elf;
	Dwarf *dw;
	uint64_t debug_bytes; /* .debug_* sections as held in memory */
	struct fn_range *fr;  /* functions of the units indexed so far, by lo */
	size_t n_fr, cap_fr;
	Dwarf_Off *cus; /* units indexed so far (or found not indexable) */
	size_t n_cus, cap_cus;
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
	free(d->fr);
	free(d->cus);
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

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t nc = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	p = realloc(*arr, nc * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = nc;
	return 0;
}

static int fr_cmp(const void *a, const void *b)
{
	const struct fn_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Add the address ranges of the functions under die (namespaces and
 * classes included, NEST_MAX deep). */
static int index_children(struct dwarfline *d, Dwarf_Die *die, int depth)
{
	Dwarf_Die c;
	int err = 0;

	if (depth > NEST_MAX || dwarf_child(die, &c) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&c);

		if (tag == DW_TAG_subprogram) {
			Dwarf_Addr base, lo, hi;
			ptrdiff_t off = 0;

			while (!err && (off = dwarf_ranges(&c, off, &base, &lo, &hi)) > 0) {
				if (lo >= hi)
					continue;
				if (d->n_fr >= FN_MAX)
					return -E2BIG;
				err =
				    grow((void **)&d->fr, &d->cap_fr, d->n_fr + 1, sizeof(*d->fr));
				if (!err)
					d->fr[d->n_fr++] =
					    (struct fn_range){lo, hi, dwarf_dieoffset(&c)};
			}
		} else if (tag == DW_TAG_namespace || tag == DW_TAG_module ||
			   tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
			   tag == DW_TAG_union_type) {
			err = index_children(d, &c, depth + 1);
		}
	} while (!err && dwarf_siblingof(&c, &c) == 0);
	return err;
}

/* The function whose ranges hold pc, indexing its unit on first use.
 * -ENOENT when the index has none (the caller falls back). */
static int find_function(struct dwarfline *d, Dwarf_Die *cudie, uint64_t pc, Dwarf_Die *fn)
{
	Dwarf_Off cu = dwarf_dieoffset(cudie);
	size_t lo = 0, hi, i;
	bool known = false;
	int err;

	for (i = 0; i < d->n_cus && !known; i++)
		known = d->cus[i] == cu;
	if (!known) {
		size_t before = d->n_fr;

		err = grow((void **)&d->cus, &d->cap_cus, d->n_cus + 1, sizeof(*d->cus));
		if (err)
			return err;
		d->cus[d->n_cus++] = cu;
		err = index_children(d, cudie, 0);
		if (err) {
			d->n_fr = before; /* this unit falls back to libdw's walk */
			return err == -ENOMEM ? err : -ENOENT;
		}
		qsort(d->fr, d->n_fr, sizeof(*d->fr), fr_cmp);
	}
	/* Last range starting at or before pc; a few before it in case of
	 * overlaps (a function's cold part inside another's range). */
	hi = d->n_fr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->fr[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i > 0 && lo - i < 8; i--) {
		const struct fn_range *r = &d->fr[i - 1];

		if (pc >= r->lo && pc < r->hi)
			return dwarf_offdie(d->dw, r->die, fn) ? 0 : -ENOENT;
	}
	return -ENOENT;
}

/* The DIEs holding pc from fn inwards, innermost first, into chain (at
 * most SCOPE_MAX). */
static int scope_chain(Dwarf_Die *fn, uint64_t pc, Dwarf_Die *chain)
{
	Dwarf_Die path[SCOPE_MAX];
	int n = 0;

	path[n++] = *fn;
	while (n < SCOPE_MAX) {
		Dwarf_Die c;
		bool found = false;

		if (dwarf_child(&path[n - 1], &c) != 0)
			break;
		do {
			int tag = dwarf_tag(&c);

			/* Only scopes can hold code; skip the rest without
			 * parsing their attributes. */
			if ((tag == DW_TAG_inlined_subroutine || tag == DW_TAG_lexical_block ||
			     tag == DW_TAG_subprogram || tag == DW_TAG_try_block ||
			     tag == DW_TAG_catch_block) &&
			    dwarf_haspc(&c, pc) == 1) {
				path[n++] = c;
				found = true;
			}
		} while (!found && dwarf_siblingof(&c, &c) == 0);
		if (!found)
			break;
	}
	for (int i = 0; i < n; i++)
		chain[i] = path[n - 1 - i];
	return n;
}

int dwarfline_lookup(struct dwarfline *d, uint64_t vaddr, struct pprof_line *out, size_t max)
{
	Dwarf_Die cudie, fn, *scopes = NULL, *chain = NULL, *own = NULL;
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
	if (find_function(d, &cudie, vaddr, &fn) == 0) {
		own = malloc(SCOPE_MAX * sizeof(*own));
		if (own)
			nchain = scope_chain(&fn, vaddr, own);
		chain = own;
	} else {
		/* dwarf_getscopes continues from an inlined instance into its
		 * abstract definition; the chain of callers is the physical
		 * nesting of the innermost scope, which dwarf_getscopes_die
		 * gives. */
		nscopes = dwarf_getscopes(&cudie, vaddr, &scopes);
		if (nscopes > 0)
			nchain = dwarf_getscopes_die(&scopes[0], &chain);
	}
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
