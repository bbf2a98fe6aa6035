/* SPDX-License-Identifier: Apache-2.0 */
/* elfsym.c -- read an ELF file's function symbols, PT_LOAD segments and GNU
 * build ID with libelf into plain sorted arrays.
 *
 * libelf is used with ELF_C_READ (not mmap) so that a file truncated while
 * we read it yields an error rather than SIGBUS.
 */
#include "elfsym.h"
#include "arr.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD	      "elfsym"
#define MAX_PHDRS     4096
#define MAX_NOTE_SIZE (1u << 20)
#define LOOKBACK      32 /* symbols searched backwards for a containing one */

struct sym {
	uint64_t addr, size;
	uint32_t name; /* offset in names */
	uint32_t rank; /* lower is preferred among aliases at one address */
};

struct seg {
	uint64_t off, vaddr, filesz;
};

struct elfsym {
	struct sym *syms; /* sorted by addr, one per address */
	size_t n, cap;
	struct strpool names; /* symbol names */
	struct seg *segs;
	size_t nsegs;
	char build_id[2 * ELFSYM_MAX_BUILD_ID + 1]; /* "" when none */
};

struct loader {
	Elf *elf;
	uint64_t file_size;
	struct elfsym *e;
};

/* Does [off, off + size) lie inside the file? */
static bool in_file(const struct loader *l, uint64_t off, uint64_t size)
{
	return off <= l->file_size && size <= l->file_size - off;
}

static uint32_t sym_rank(const GElf_Sym *s, const char *name)
{
	uint32_t under = 0;

	/* Prefer the plain name among aliases (getpid over __getpid), then
	 * global over weak over local binding. */
	while (name[under] == '_' && under < 3)
		under++;
	switch (GELF_ST_BIND(s->st_info)) {
	case STB_GLOBAL:
		return under * 4;
	case STB_WEAK:
		return under * 4 + 1;
	default:
		return under * 4 + 2;
	}
}

/* Keep STT_FUNC/STT_GNU_IFUNC symbols that have a size and a section. */
static int load_symbols(struct loader *l, Elf_Scn *scn, const GElf_Shdr *sh)
{
	struct elfsym *e = l->e;
	Elf_Data *data;
	size_t count;
	int err = 0;

	if (sh->sh_size > ELFSYM_MAX_SECTION)
		return -E2BIG;
	if (!in_file(l, sh->sh_offset, sh->sh_size) || sh->sh_entsize == 0)
		return -ENOEXEC;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf)
		return -ENOEXEC;
	count = data->d_size / sh->sh_entsize;
	for (size_t i = 0; i < count && !err; i++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(data, (int)i, &s))
			break;
		type = GELF_ST_TYPE(s.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_size == 0 ||
		    s.st_shndx == SHN_UNDEF || s.st_value == 0)
			continue;
		name = elf_strptr(l->elf, sh->sh_link, s.st_name);
		if (!name || !name[0])
			continue;
		err = arr_grow((void **)&e->syms, &e->cap, e->n + 1, sizeof(*e->syms),
			       ELFSYM_MAX_SYMBOLS);
		if (err)
			return err;
		e->syms[e->n] =
		    (struct sym){.addr = s.st_value, .size = s.st_size, .rank = sym_rank(&s, name)};
		err = strpool_add(&e->names, name, strnlen(name, 4096), &e->syms[e->n].name);
		if (!err)
			e->n++;
	}
	return err;
}

static void hex_build_id(struct elfsym *e, const uint8_t *desc, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (len == 0 || len > ELFSYM_MAX_BUILD_ID)
		return;
	for (size_t i = 0; i < len; i++) {
		e->build_id[2 * i] = hex[desc[i] >> 4];
		e->build_id[2 * i + 1] = hex[desc[i] & 15];
	}
	e->build_id[2 * len] = '\0';
}

/* Look for NT_GNU_BUILD_ID in one block of notes. */
static void scan_notes(struct elfsym *e, Elf_Data *data)
{
	size_t off = 0, next, name_off, desc_off;
	GElf_Nhdr nh;

	while (off < data->d_size) {
		next = gelf_getnote(data, off, &nh, &name_off, &desc_off);
		if (next == 0)
			break;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp((const char *)data->d_buf + name_off, "GNU", 4) == 0 &&
		    desc_off + nh.n_descsz <= data->d_size) {
			hex_build_id(e, (const uint8_t *)data->d_buf + desc_off, nh.n_descsz);
			return;
		}
		off = next;
	}
}

static int load_segments(struct loader *l)
{
	struct elfsym *e = l->e;
	size_t phnum;

	if (elf_getphdrnum(l->elf, &phnum) != 0)
		return -ENOEXEC;
	if (phnum > MAX_PHDRS)
		return -E2BIG;
	e->segs = calloc(phnum ? phnum : 1, sizeof(*e->segs));
	if (!e->segs)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(l->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type == PT_LOAD) {
			e->segs[e->nsegs++] = (struct seg){ph.p_offset, ph.p_vaddr, ph.p_filesz};
		} else if (ph.p_type == PT_NOTE && !e->build_id[0] &&
			   ph.p_filesz <= MAX_NOTE_SIZE && in_file(l, ph.p_offset, ph.p_filesz)) {
			Elf_Data *d = elf_getdata_rawchunk(l->elf, (int64_t)ph.p_offset,
							   ph.p_filesz, ELF_T_NHDR);

			if (d && d->d_buf)
				scan_notes(e, d);
		}
	}
	return 0;
}

static int load_sections(struct loader *l)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr sym_sh = {0}, dyn_sh = {0};
	int err = 0;

	while ((scn = elf_nextscn(l->elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			return -ENOEXEC;
		if (sh.sh_type == SHT_SYMTAB && !symtab) {
			symtab = scn;
			sym_sh = sh;
		} else if (sh.sh_type == SHT_DYNSYM && !dynsym) {
			dynsym = scn;
			dyn_sh = sh;
		} else if (sh.sh_type == SHT_NOTE && !l->e->build_id[0] &&
			   sh.sh_size <= MAX_NOTE_SIZE && in_file(l, sh.sh_offset, sh.sh_size)) {
			Elf_Data *d = elf_getdata(scn, NULL);

			if (d && d->d_buf && d->d_type == ELF_T_NHDR)
				scan_notes(l->e, d);
		}
	}
	/* .symtab has everything .dynsym has and the static functions too;
	 * .dynsym is the fallback for stripped shared objects. */
	if (symtab)
		err = load_symbols(l, symtab, &sym_sh);
	if ((err || l->e->n == 0) && dynsym) {
		l->e->n = 0;
		l->e->names.len = 0;
		err = load_symbols(l, dynsym, &dyn_sh);
	}
	return err;
}

static int sym_cmp(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	return x->name < y->name ? -1 : x->name > y->name;
}

static void sort_symbols(struct elfsym *e)
{
	size_t k = 0;

	if (!e->n)
		return;
	qsort(e->syms, e->n, sizeof(*e->syms), sym_cmp);
	/* One symbol per address: the best-ranked alias comes first. */
	for (size_t i = 0; i < e->n; i++)
		if (k == 0 || e->syms[k - 1].addr != e->syms[i].addr)
			e->syms[k++] = e->syms[i];
	e->n = k;
}

int elfsym_load_fd(int fd, struct elfsym **out)
{
	struct loader l = {0};
	struct stat st;
	int err = 0;

	*out = NULL;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	l.file_size = (uint64_t)st.st_size;
	l.e = calloc(1, sizeof(*l.e));
	if (!l.e)
		return -ENOMEM;
	l.elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!l.elf || elf_kind(l.elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	{
		GElf_Ehdr eh;

		if (!gelf_getehdr(l.elf, &eh)) {
			err = -ENOEXEC;
			goto cleanup;
		}
	}
	err = load_segments(&l);
	if (!err)
		err = load_sections(&l);
	if (err)
		goto cleanup;
	sort_symbols(l.e);
	*out = l.e;
	l.e = NULL;
cleanup:
	if (l.elf)
		elf_end(l.elf);
	elfsym_free(l.e);
	return err;
}

int elfsym_load_path(const char *path, struct elfsym **out)
{
	int fd, err;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = elfsym_load_fd(fd, out);
	close(fd);
	return err;
}

void elfsym_free(struct elfsym *e)
{
	if (!e)
		return;
	free(e->syms);
	strpool_release(&e->names);
	free(e->segs);
	free(e);
}

size_t elfsym_count(const struct elfsym *e)
{
	return e->n;
}

const char *elfsym_build_id(const struct elfsym *e)
{
	return e->build_id[0] ? e->build_id : NULL;
}

int elfsym_file_to_vaddr(const struct elfsym *e, uint64_t file_off, uint64_t *vaddr)
{
	/* Exact segment first; then allow the page before p_offset, which the
	 * kernel maps along with the segment when p_offset is not aligned. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < e->nsegs; i++) {
			const struct seg *s = &e->segs[i];
			uint64_t lo = pass ? s->off & ~(uint64_t)0xfff : s->off;

			if (file_off >= lo && file_off < s->off + s->filesz) {
				*vaddr = file_off - s->off + s->vaddr;
				return 0;
			}
		}
	}
	return -ENOENT;
}

const char *elfsym_lookup(const struct elfsym *e, uint64_t vaddr, uint64_t *start)
{
	size_t lo = 0, hi = e->n;

	/* Find the first symbol above vaddr, then look back for one that
	 * contains it (symbols may nest, e.g. an alias with a larger size). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i > 0 && k < LOOKBACK; i--, k++) {
		const struct sym *s = &e->syms[i - 1];

		if (vaddr - s->addr < s->size) {
			if (start)
				*start = s->addr;
			return e->names.buf + s->name;
		}
	}
	return NULL;
}

/* Match one symbol table's entries against the wanted names. */
static int find_in(struct loader *l, Elf_Scn *scn, const GElf_Shdr *sh, struct elfsym_want *want,
		   size_t n)
{
	Elf_Data *data;
	size_t count;

	if (sh->sh_size > ELFSYM_MAX_SECTION)
		return -E2BIG;
	if (!in_file(l, sh->sh_offset, sh->sh_size) || sh->sh_entsize == 0)
		return -ENOEXEC;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf)
		return -ENOEXEC;
	count = data->d_size / sh->sh_entsize;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym s;
		const char *name;

		if (!gelf_getsym(data, (int)i, &s))
			break;
		if (s.st_shndx == SHN_UNDEF || s.st_value == 0)
			continue;
		name = elf_strptr(l->elf, sh->sh_link, s.st_name);
		if (!name || !name[0])
			continue;
		for (size_t k = 0; k < n; k++) {
			if (!want[k].found && strcmp(name, want[k].name) == 0) {
				want[k].value = s.st_value;
				want[k].size = s.st_size;
				want[k].found = 1;
			}
		}
	}
	return 0;
}

int elfsym_find_fd(int fd, struct elfsym_want *want, size_t n, uint64_t file_off, uint64_t *vaddr)
{
	struct loader l = {0};
	Elf_Scn *scn = NULL;
	struct stat st;
	int err = 0;

	for (size_t k = 0; k < n; k++)
		want[k].found = 0;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	l.file_size = (uint64_t)st.st_size;
	l.e = calloc(1, sizeof(*l.e));
	if (!l.e)
		return -ENOMEM;
	l.elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!l.elf || elf_kind(l.elf) != ELF_K_ELF) {
		err = -ENOEXEC;
		goto cleanup;
	}
	err = load_segments(&l);
	if (err)
		goto cleanup;
	err = elfsym_file_to_vaddr(l.e, file_off, vaddr);
	while (!err && (scn = elf_nextscn(l.elf, scn)) != NULL) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh)) {
			err = -ENOEXEC;
			break;
		}
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM)
			err = find_in(&l, scn, &sh, want, n);
	}
cleanup:
	if (l.elf)
		elf_end(l.elf);
	elfsym_free(l.e);
	return err;
}
