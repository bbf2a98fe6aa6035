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
#define MAX_NOTE_SIZE (1u << 20)
#define SPARSE_SLACK  (1u << 20) /* table bytes allowed past st_blocks (rounding) */
#define LOOKBACK      32	 /* symbols searched backwards for a containing one */

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
	char debuglink[256];			    /* "" when none */
	int from_symtab;			    /* syms came from .symtab */
};

struct loader {
	Elf *elf;
	uint64_t file_size;
	uint64_t budget; /* bytes libelf may still read for tables */
	struct elfsym *e;
};

static bool in_file_range(uint64_t off, uint64_t size, uint64_t file_size)
{
	return off <= file_size && size <= file_size - off;
}

/* Does [off, off + size) lie inside the file? */
static bool in_file(const struct loader *l, uint64_t off, uint64_t size)
{
	return in_file_range(off, size, l->file_size);
}

/* Charge a table libelf is about to read (and allocate) to the budget. */
static int charge(struct loader *l, uint64_t size)
{
	if (size > l->budget)
		return -E2BIG;
	l->budget -= size;
	return 0;
}

/* ---- header checks, before libelf allocates anything ------------------------ */

static uint64_t get_uint(const uint8_t *p, size_t n, bool big)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
	return v;
}

/* Is a table of n entries of entsize bytes at off (inside the file)? */
static bool table_ok(uint64_t off, uint64_t n, uint64_t entsize, uint64_t min_ent,
		     uint64_t file_size)
{
	if (n == 0)
		return true;
	if (entsize < min_ent || off > file_size)
		return false;
	return n <= (file_size - off) / entsize;
}

/* Read the ELF header (and section 0 for extended numbering) ourselves:
 * elf_begin allocates one descriptor per section of e_shnum, so a count
 * from a hostile header must be capped before it runs. */
int elfsym_check_headers(int fd, uint64_t file_size)
{
	uint8_t h[64], s0[64];
	uint64_t phoff, shoff, phent, phnum, shent, shnum;
	bool big, is64;

	if (pread(fd, h, sizeof(h), 0) < 52 || memcmp(h, ELFMAG, SELFMAG) != 0)
		return -ENOEXEC;
	if ((h[EI_CLASS] != ELFCLASS32 && h[EI_CLASS] != ELFCLASS64) ||
	    (h[EI_DATA] != ELFDATA2LSB && h[EI_DATA] != ELFDATA2MSB))
		return -ENOEXEC;
	is64 = h[EI_CLASS] == ELFCLASS64;
	big = h[EI_DATA] == ELFDATA2MSB;
	if (is64) {
		phoff = get_uint(h + 32, 8, big);
		shoff = get_uint(h + 40, 8, big);
		phent = get_uint(h + 54, 2, big);
		phnum = get_uint(h + 56, 2, big);
		shent = get_uint(h + 58, 2, big);
		shnum = get_uint(h + 60, 2, big);
	} else {
		phoff = get_uint(h + 28, 4, big);
		shoff = get_uint(h + 32, 4, big);
		phent = get_uint(h + 42, 2, big);
		phnum = get_uint(h + 44, 2, big);
		shent = get_uint(h + 46, 2, big);
		shnum = get_uint(h + 48, 2, big);
	}
	if (shoff != 0 && (shnum == 0 || phnum == PN_XNUM)) {
		/* Extended numbering: the real counts are in section 0. */
		size_t need = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);

		if (shent < need || !in_file_range(shoff, need, file_size) ||
		    pread(fd, s0, need, (off_t)shoff) != (ssize_t)need)
			return -ENOEXEC;
		if (shnum == 0)
			shnum = is64 ? get_uint(s0 + 32, 8, big) : get_uint(s0 + 20, 4, big);
		if (phnum == PN_XNUM)
			phnum = get_uint(s0 + (is64 ? 44 : 28), 4, big);
	}
	if (shnum > ELFSYM_MAX_SECTIONS || phnum > ELFSYM_MAX_PHDRS)
		return -E2BIG;
	if (shoff == 0)
		shnum = 0;
	if (!table_ok(shoff, shnum, shent, is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr),
		      file_size) ||
	    !table_ok(phoff, phnum, phent, is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr),
		      file_size))
		return -ENOEXEC;
	return 0;
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

/* Check a symbol table and its string table (elf_strptr reads the whole
 * linked table) against the caps, the file and the budget, then get its data. */
static int symtab_data(struct loader *l, Elf_Scn *scn, const GElf_Shdr *sh, Elf_Data **out)
{
	Elf_Scn *str_scn;
	GElf_Shdr str_sh;
	Elf_Data *data;
	int err;

	if (sh->sh_size > ELFSYM_MAX_SECTION)
		return -E2BIG;
	if (!in_file(l, sh->sh_offset, sh->sh_size) || sh->sh_entsize == 0)
		return -ENOEXEC;
	str_scn = elf_getscn(l->elf, sh->sh_link);
	if (!str_scn || !gelf_getshdr(str_scn, &str_sh) || str_sh.sh_type != SHT_STRTAB)
		return -ENOEXEC;
	if (str_sh.sh_size > ELFSYM_MAX_SECTION)
		return -E2BIG;
	if (!in_file(l, str_sh.sh_offset, str_sh.sh_size))
		return -ENOEXEC;
	err = charge(l, sh->sh_size);
	if (!err)
		err = charge(l, str_sh.sh_size);
	if (err)
		return err;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf)
		return -ENOEXEC;
	*out = data;
	return 0;
}

/* Keep STT_FUNC/STT_GNU_IFUNC symbols that have a size and a section. */
static int load_symbols(struct loader *l, Elf_Scn *scn, const GElf_Shdr *sh)
{
	struct elfsym *e = l->e;
	Elf_Data *data;
	size_t count;
	int err = symtab_data(l, scn, sh, &data);

	if (err)
		return err;
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
	if (phnum > ELFSYM_MAX_PHDRS)
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
			/* libelf keeps each raw chunk until elf_end: charge it. */
			Elf_Data *d = charge(l, ph.p_filesz)
					  ? NULL
					  : elf_getdata_rawchunk(l->elf, (int64_t)ph.p_offset,
								 ph.p_filesz, ELF_T_NHDR);

			if (d && d->d_buf)
				scan_notes(e, d);
		}
	}
	return 0;
}

/* .gnu_debuglink: a NUL-terminated file name, then padding and a CRC. */
static void read_debuglink(struct loader *l, Elf_Scn *scn, const GElf_Shdr *sh)
{
	Elf_Data *d;
	size_t n;

	if (sh->sh_type != SHT_PROGBITS || sh->sh_size > MAX_NOTE_SIZE ||
	    !in_file(l, sh->sh_offset, sh->sh_size))
		return;
	d = elf_getdata(scn, NULL);
	if (!d || !d->d_buf)
		return;
	n = strnlen(d->d_buf, d->d_size);
	if (n == 0 || n >= d->d_size || n >= sizeof(l->e->debuglink))
		return;
	memcpy(l->e->debuglink, d->d_buf, n + 1);
}

static int load_sections(struct loader *l)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	GElf_Shdr sym_sh = {0}, dyn_sh = {0};
	size_t shstrndx = 0;
	int err = 0;

	if (elf_getshdrstrndx(l->elf, &shstrndx) != 0)
		shstrndx = 0;

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
			   sh.sh_size <= MAX_NOTE_SIZE && in_file(l, sh.sh_offset, sh.sh_size) &&
			   charge(l, sh.sh_size) == 0) {
			Elf_Data *d = elf_getdata(scn, NULL);

			if (d && d->d_buf && d->d_type == ELF_T_NHDR)
				scan_notes(l->e, d);
		} else if (shstrndx) {
			const char *name = elf_strptr(l->elf, shstrndx, sh.sh_name);

			if (name && strcmp(name, ".gnu_debuglink") == 0)
				read_debuglink(l, scn, &sh);
		}
	}
	/* .symtab has everything .dynsym has and the static functions too;
	 * .dynsym is the fallback for stripped shared objects. */
	if (symtab)
		err = load_symbols(l, symtab, &sym_sh);
	l->e->from_symtab = !err && l->e->n > 0;
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

/* Checks and opens fd for libelf into l (l->e allocated). On error l may
 * hold an Elf and an elfsym for the caller's cleanup. */
static int loader_begin(int fd, struct loader *l)
{
	struct stat st;
	GElf_Ehdr eh;
	int err;

	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	if (st.st_size < 0 || (uint64_t)st.st_size > ELFSYM_MAX_FILE)
		return -E2BIG;
	l->file_size = (uint64_t)st.st_size;
	/* Tables can only be as large as what the file really stores: holes in
	 * a sparse file would otherwise be read (and allocated) as zeros. */
	l->budget = (uint64_t)st.st_blocks * 512 + SPARSE_SLACK;
	if (l->budget > ELFSYM_MAX_READ)
		l->budget = ELFSYM_MAX_READ;
	err = elfsym_check_headers(fd, l->file_size);
	if (err)
		return err;
	l->e = calloc(1, sizeof(*l->e));
	if (!l->e)
		return -ENOMEM;
	l->elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!l->elf || elf_kind(l->elf) != ELF_K_ELF || !gelf_getehdr(l->elf, &eh))
		return -ENOEXEC;
	return 0;
}

static void loader_end(struct loader *l)
{
	if (l->elf)
		elf_end(l->elf);
	elfsym_free(l->e);
	l->elf = NULL;
	l->e = NULL;
}

int elfsym_load_fd(int fd, struct elfsym **out)
{
	struct loader l = {0};
	int err;

	*out = NULL;
	err = loader_begin(fd, &l);
	if (!err)
		err = load_segments(&l);
	if (!err)
		err = load_sections(&l);
	if (err)
		goto cleanup;
	sort_symbols(l.e);
	*out = l.e;
	l.e = NULL;
cleanup:
	loader_end(&l);
	return err;
}

int elfsym_probe_build_id(int fd, char *out, size_t cap)
{
	struct loader l = {0};
	int err;

	if (cap == 0)
		return -EINVAL;
	out[0] = '\0';
	err = loader_begin(fd, &l);
	if (!err)
		err = load_segments(&l);
	if (!err && strlen(l.e->build_id) >= cap)
		err = -ENOSPC;
	if (!err)
		memcpy(out, l.e->build_id, strlen(l.e->build_id) + 1);
	loader_end(&l);
	return err;
}

int elfsym_read_section(int fd, const char *name, size_t max, void **data, size_t *len,
			uint64_t *addr)
{
	Elf_Scn *scn = NULL;
	struct stat st;
	size_t shstrndx;
	Elf *elf;
	int err = -ENOENT;

	if (data)
		*data = NULL;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOEXEC;
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx) != 0) {
		err = -ENOEXEC;
		goto cleanup;
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		const char *sname;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			break;
		sname = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!sname || strcmp(sname, name) != 0 || sh.sh_type == SHT_NOBITS)
			continue;
		if (addr)
			*addr = sh.sh_addr;
		err = 0;
		if (!data)
			break;
		if (sh.sh_size > max) {
			err = -E2BIG;
		} else if (sh.sh_offset > (uint64_t)st.st_size ||
			   sh.sh_size > (uint64_t)st.st_size - sh.sh_offset) {
			err = -ENOEXEC;
		} else {
			*data = malloc(sh.sh_size ? sh.sh_size : 1);
			*len = sh.sh_size;
			if (!*data)
				err = -ENOMEM;
			else if (pread(fd, *data, sh.sh_size, (off_t)sh.sh_offset) !=
				 (ssize_t)sh.sh_size)
				err = -EIO;
		}
		break;
	}
	if (err && data) {
		free(*data);
		*data = NULL;
	}
cleanup:
	if (elf)
		elf_end(elf);
	return err;
}

int elfsym_load_path(const char *path, struct elfsym **out)
{
	int fd, err;

	*out = NULL;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
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

size_t elfsym_mem(const struct elfsym *e)
{
	return sizeof(*e) + e->cap * sizeof(*e->syms) + e->names.cap + e->nsegs * sizeof(*e->segs);
}

size_t elfsym_count(const struct elfsym *e)
{
	return e->n;
}

const char *elfsym_build_id(const struct elfsym *e)
{
	return e->build_id[0] ? e->build_id : NULL;
}

const char *elfsym_debuglink(const struct elfsym *e)
{
	return e->debuglink[0] ? e->debuglink : NULL;
}

int elfsym_has_symtab(const struct elfsym *e)
{
	return e->from_symtab;
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
	int err = symtab_data(l, scn, sh, &data);

	if (err)
		return err;
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
	int err;

	for (size_t k = 0; k < n; k++)
		want[k].found = 0;
	err = loader_begin(fd, &l);
	if (!err)
		err = load_segments(&l);
	if (!err)
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
	loader_end(&l);
	return err;
}
