/* SPDX-License-Identifier: Apache-2.0 */
/* unwind_table.c -- derive compact unwind rows from .eh_frame and .debug_frame
 * with libdw.
 *
 * The FDEs are enumerated through .eh_frame_hdr's sorted search table (what
 * the C runtime itself uses to unwind) and .debug_frame's entries (code
 * built without asynchronous unwind tables describes itself only there;
 * .eh_frame wins where both describe the same code), and each FDE's rows through
 * dwarf_cfi_addrframe(), which interprets the CIE and FDE programs: no DWARF
 * expression interpreter of our own. Only the shapes compilers emit for
 * x86_64 are translated; anything else is an explicit UNSUPPORTED row.
 */
#include "unwind_table.h"
#include "arr.h"
#include "cfi_guard.h"
#include "elfsym.h"
#include "log.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MOD "unwind"

#define MAX_PHDRS	 4096
#define MAX_SHDRS	 65536
#define MAX_EH_FRAME	 (256u << 20) /* .eh_frame / .eh_frame_hdr bytes */
#define MAX_FDE_ROWS	 4096	      /* rows per FDE walked before giving up on it */
#define MAX_SHSTRTAB	 (1u << 20)   /* section name table */
#define MAX_DEBUG_READ	 (64u << 20)  /* debug sections libdw loads to read .debug_frame */
#define DWARF_REG_RBP	 6
#define DWARF_REG_RSP	 7
#define DWARF_REG_RIP	 16
#define DW_EH_PE_omit	 0xff
#define DW_EH_PE_udata4	 0x03
#define DW_EH_PE_sdata4	 0x0b
#define DW_EH_PE_udata8	 0x04
#define DW_EH_PE_sdata8	 0x0c
#define DW_EH_PE_pcrel	 0x10
#define DW_EH_PE_datarel 0x30

struct builder {
	Elf *elf;
	uint64_t file_size;
	uint64_t budget; /* bytes libdw may read: what the file really holds on disk */
	struct unwind_table *t;
	size_t cap;
	Elf_Scn *debug_frame; /* .debug_frame, when present and within the caps */
	Elf_Scn *eh_frame;    /* the first section named .eh_frame (libdw's choice) */
	uint64_t debug_bytes; /* all .debug_* sections: libdw reads them at once */
	bool debug_packed;    /* some debug section is compressed */
};

/* One FDE to walk: its first address, where its rows must stop (0 = at the
 * next FDE), and which CFI describes it. */
struct fde_ref {
	uint64_t start, end;
	bool dbg; /* from .debug_frame; .eh_frame wins where both describe code */
};

void unwind_table_release(struct unwind_table *t)
{
	if (!t)
		return;
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/* ---- rows ---------------------------------------------------------------------- */

static int emit(struct builder *b, uint64_t vaddr, const struct profile_unwind_row *r)
{
	struct unwind_table *t = b->t;
	struct profile_unwind_row row = *r;
	int err;

	if (vaddr < t->base || vaddr - t->base >= t->size)
		return 0; /* outside the executable segments */
	row.pc = (uint32_t)(vaddr - t->base);
	if (t->n) {
		struct profile_unwind_row *last = &t->rows[t->n - 1];

		if (row.pc < last->pc)
			return 0; /* overlapping FDEs: keep the first */
		if (last->kind == row.kind && last->cfa_off == row.cfa_off && last->rbp == row.rbp)
			return 0; /* same rule continues */
		if (last->pc == row.pc) {
			*last = row;
			return 0;
		}
	}
	err =
	    arr_grow((void **)&t->rows, &b->cap, t->n + 1, sizeof(*t->rows), UNWIND_TABLE_MAX_ROWS);
	if (err)
		return err;
	if (row.kind == PROFILE_CFA_UNSUPPORTED)
		t->n_unsupported++;
	t->rows[t->n++] = row;
	return 0;
}

/* The register number of a DW_OP_breg<N> / DW_OP_bregx op, or -1. */
static int breg_of(const Dwarf_Op *op, int64_t *off)
{
	if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
		*off = (int64_t)op->number;
		return op->atom - DW_OP_breg0;
	}
	if (op->atom == DW_OP_bregx) {
		*off = (int64_t)op->number2;
		return (int)op->number;
	}
	return -1;
}

/* The PLT rule compilers emit: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0), spelled
 * breg7 8; breg16 0; lit15; and; lit11; ge; lit3; shl; plus. */
static bool is_plt_expr(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	int64_t ignored;

	if (n != 9 || breg_of(&ops[0], off) != DWARF_REG_RSP ||
	    breg_of(&ops[1], &ignored) != DWARF_REG_RIP)
		return false;
	return ops[2].atom == DW_OP_lit15 && ops[3].atom == DW_OP_and &&
	       ops[4].atom == DW_OP_lit11 && ops[5].atom == DW_OP_ge && ops[6].atom == DW_OP_lit3 &&
	       ops[7].atom == DW_OP_shl && ops[8].atom == DW_OP_plus;
}

/* "Saved at CFA + off": call_frame_cfa [plus_uconst off]. */
static bool is_cfa_offset(const Dwarf_Op *ops, size_t n, int64_t *off)
{
	if (n < 1 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (n == 1) {
		*off = 0;
		return true;
	}
	if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return true;
	}
	return false;
}

static void rule_of(Dwarf_Frame *fr, int ra_reg, struct profile_unwind_row *r)
{
	Dwarf_Op mem[3], *ops;
	size_t n;
	int64_t off = 0, roff;
	int reg;

	memset(r, 0, sizeof(*r));
	r->kind = PROFILE_CFA_UNSUPPORTED;
	/* Return address: undefined marks the outermost frame (_start). */
	if (ra_reg != DWARF_REG_RIP || dwarf_frame_register(fr, ra_reg, mem, &ops, &n) != 0)
		return;
	if (n == 0 && ops == mem) {
		r->kind = PROFILE_CFA_END;
		return;
	}
	if (!is_cfa_offset(ops, n, &roff) || roff != -8)
		return;
	if (dwarf_frame_cfa(fr, &ops, &n) != 0 || n == 0)
		return;
	if (n == 1) {
		reg = breg_of(&ops[0], &off);
		if (reg == DWARF_REG_RSP)
			r->kind = PROFILE_CFA_RSP;
		else if (reg == DWARF_REG_RBP)
			r->kind = PROFILE_CFA_RBP;
		else
			return;
	} else if (is_plt_expr(ops, n, &off)) {
		r->kind = PROFILE_CFA_PLT;
	} else {
		return;
	}
	if (off < INT16_MIN || off > INT16_MAX) {
		r->kind = PROFILE_CFA_UNSUPPORTED;
		return;
	}
	r->cfa_off = (int16_t)off;
	/* The caller's rbp: unchanged, saved at CFA - 8k, or lost. */
	r->rbp = PROFILE_RBP_UNKNOWN;
	if (dwarf_frame_register(fr, DWARF_REG_RBP, mem, &ops, &n) != 0)
		return;
	if (n == 0 && ops == NULL)
		r->rbp = PROFILE_RBP_SAME;
	else if (is_cfa_offset(ops, n, &roff) && roff < 0 && roff % 8 == 0 &&
		 -roff / 8 < PROFILE_RBP_UNKNOWN)
		r->rbp = (uint8_t)(-roff / 8);
}

/* Rows of the FDE that starts at loc, up to limit (the next FDE). */
static int walk_fde(struct builder *b, Dwarf_CFI *cfi, uint64_t loc, uint64_t limit)
{
	static const struct profile_unwind_row invalid = {.kind = PROFILE_CFA_INVALID};
	uint64_t addr = loc;
	int err = 0;

	for (int i = 0; i < MAX_FDE_ROWS && addr < limit; i++) {
		struct profile_unwind_row r;
		Dwarf_Frame *fr = NULL;
		Dwarf_Addr start, end;
		bool signal;
		int ra;

		if (dwarf_cfi_addrframe(cfi, addr, &fr) != 0)
			break;
		ra = dwarf_frame_info(fr, &start, &end, &signal);
		if (ra < 0 || end <= addr) {
			free(fr);
			break;
		}
		rule_of(fr, ra, &r);
		if (signal)
			r.kind = PROFILE_CFA_UNSUPPORTED;
		free(fr);
		err = emit(b, addr, &r);
		if (err)
			return err;
		addr = end;
	}
	/* Bytes between this FDE's end and the next FDE have no rule. */
	if (addr < limit)
		err = emit(b, addr, &invalid);
	return err;
}

/* ---- .eh_frame_hdr ------------------------------------------------------------- */

static int read_enc(const uint8_t *p, const uint8_t *end, uint8_t enc, uint64_t pc, uint64_t *val,
		    const uint8_t **next)
{
	int64_t v;

	switch (enc & 0x0f) {
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4: {
		int32_t s;
		uint32_t u;

		if (end - p < 4)
			return -ENOEXEC;
		memcpy(&u, p, 4);
		memcpy(&s, p, 4);
		v = (enc & 0x0f) == DW_EH_PE_sdata4 ? s : (int64_t)u;
		*next = p + 4;
		break;
	}
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		if (end - p < 8)
			return -ENOEXEC;
		memcpy(&v, p, 8);
		*next = p + 8;
		break;
	default:
		return -ENOTSUP;
	}
	switch (enc & 0x70) {
	case 0:
		break;
	case DW_EH_PE_pcrel:
		v += (int64_t)pc;
		break;
	default:
		return -ENOTSUP;
	}
	*val = (uint64_t)v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted initial locations of every FDE, from .eh_frame_hdr (PT_GNU_EH_FRAME). */
static int fde_starts(struct builder *b, const GElf_Phdr *hdr, uint64_t **out, uint64_t **fdes,
		      size_t *n, uint64_t *eh_frame)
{
	const uint8_t *p, *end, *next;
	uint64_t ehp, count, *locs = NULL, *ptrs = NULL;
	Elf_Data *d;
	int err;

	*out = NULL;
	*n = 0;
	if (hdr->p_filesz < 12 || hdr->p_filesz > MAX_EH_FRAME || hdr->p_offset > b->file_size ||
	    hdr->p_filesz > b->file_size - hdr->p_offset)
		return -ENOEXEC;
	d = elf_getdata_rawchunk(b->elf, (int64_t)hdr->p_offset, hdr->p_filesz, ELF_T_BYTE);
	if (!d || !d->d_buf)
		return -ENOEXEC;
	p = d->d_buf;
	end = p + d->d_size;
	if (p[0] != 1 || p[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
		return -ENOTSUP;
	err = read_enc(p + 4, end, p[1], hdr->p_vaddr + 4, &ehp, &next);
	if (!err)
		err = read_enc(next, end, p[2], 0, &count, &next);
	if (err)
		return err;
	if (count > (uint64_t)(end - next) / 8 || count > UNWIND_TABLE_MAX_FDES)
		return -E2BIG;
	locs = calloc(count ? count : 1, sizeof(*locs));
	ptrs = calloc(count ? count : 1, sizeof(*ptrs));
	if (!locs || !ptrs) {
		free(locs);
		free(ptrs);
		return -ENOMEM;
	}
	for (uint64_t i = 0; i < count; i++) {
		int32_t rel, fde;

		memcpy(&rel, next + i * 8, 4);
		memcpy(&fde, next + i * 8 + 4, 4);
		locs[i] = hdr->p_vaddr + (int64_t)rel;
		ptrs[i] = hdr->p_vaddr + (int64_t)fde;
	}
	qsort(locs, count, sizeof(*locs), cmp_u64);
	*out = locs;
	*fdes = ptrs;
	*n = count;
	*eh_frame = ehp;
	return 0;
}

/* Every FDE the search table points at, with its CIE, through cfi_guard in
 * each view libdw may take of .eh_frame: the section of that name when the
 * file has one (libdw then also falls back to reading it in order), else
 * the bytes from the header's eh_frame_ptr to the end of the file. */
static int guard_eh_frame(struct builder *b, const unsigned char *ident, const GElf_Phdr *hdr,
			  uint64_t eh_vaddr, const uint64_t *fdes, size_t n, char *why,
			  size_t why_len)
{
	uint64_t eh_off = eh_vaddr - hdr->p_vaddr + hdr->p_offset;
	Elf_Data *views[2] = {NULL, NULL};
	uint64_t bases[2] = {0, 0};
	GElf_Shdr sh;
	int err = 0;

	if (b->eh_frame && gelf_getshdr(b->eh_frame, &sh)) {
		views[0] = elf_rawdata(b->eh_frame, NULL);
		bases[0] = sh.sh_addr;
		if (views[0] && views[0]->d_buf)
			err = cfi_guard_section(ident, views[0], true, why, why_len);
	}
	if (!err && eh_off < b->file_size) {
		uint64_t len = b->file_size - eh_off;

		views[1] = elf_getdata_rawchunk(
		    b->elf, (int64_t)eh_off, len > MAX_EH_FRAME ? MAX_EH_FRAME : len, ELF_T_BYTE);
		bases[1] = eh_vaddr;
	}
	for (int v = 0; v < 2 && !err; v++) {
		if (!views[v] || !views[v]->d_buf)
			continue;
		for (size_t i = 0; i < n && !err; i++) {
			uint64_t off = fdes[i] - bases[v];

			if (off < views[v]->d_size)
				err = cfi_guard_fde(ident, views[v], true, off, why, why_len);
			else if (v == 1 && eh_off + off < b->file_size)
				err = -EBADMSG; /* past what was read for the check */
		}
	}
	if (err == -EBADMSG && !why[0])
		snprintf(why, why_len, "an FDE lies past the first %u MiB of .eh_frame",
			 MAX_EH_FRAME >> 20);
	return err;
}

/* ---- .debug_frame ------------------------------------------------------------------ */

/* FDEs of .debug_frame (code built without asynchronous unwind tables, e.g.
 * -fno-asynchronous-unwind-tables -g, describes itself only there). The
 * entries are split by libdw; an FDE's initial location and range are plain
 * 8-byte addresses in .debug_frame on x86_64. */
static int debug_frame_fdes(struct builder *b, const unsigned char *ident, struct fde_ref **out,
			    size_t *n)
{
	Elf_Data *d = elf_getdata(b->debug_frame, NULL);
	struct fde_ref *refs = NULL;
	size_t len = 0, cap = 0;
	Dwarf_Off off = 0, next;
	int err = 0;

	*out = NULL;
	*n = 0;
	if (!d || !d->d_buf)
		return -ENOEXEC;
	while (off < d->d_size) {
		Dwarf_CFI_Entry e;
		uint64_t loc, range;
		int r = dwarf_next_cfi(ident, d, false, off, &next, &e);

		if (r == 1)
			break;
		if (r < 0 || next <= off) {
			if (r < 0 && next != (Dwarf_Off)-1 && next > off) {
				off = next; /* a malformed entry that can be skipped */
				continue;
			}
			break;
		}
		off = next;
		if (dwarf_cfi_cie_p(&e) || e.fde.end - e.fde.start < 16)
			continue;
		memcpy(&loc, e.fde.start, 8);
		memcpy(&range, e.fde.start + 8, 8);
		if (range == 0 || loc + range < loc)
			continue;
		err = arr_grow((void **)&refs, &cap, len + 1, sizeof(*refs), UNWIND_TABLE_MAX_FDES);
		if (err)
			goto cleanup;
		refs[len++] = (struct fde_ref){.start = loc, .end = loc + range, .dbg = true};
	}
	*out = refs;
	*n = len;
	refs = NULL;
cleanup:
	free(refs);
	return err;
}

static int cmp_fde(const void *a, const void *b)
{
	const struct fde_ref *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return (int)x->dbg - (int)y->dbg; /* .eh_frame first */
}

/* ---- whole file ------------------------------------------------------------------ */

/* Check section headers against the file before libdw reads .eh_frame, and
 * notice Go binaries (their code has no CFI; frame pointers are right). */
static int check_sections(struct builder *b)
{
	size_t shnum, shstrndx;
	Elf_Scn *scn = NULL, *names;
	Elf_Data *nd;
	GElf_Shdr nsh;

	if (elf_getshdrnum(b->elf, &shnum) != 0 || shnum > MAX_SHDRS ||
	    elf_getshdrstrndx(b->elf, &shstrndx) != 0)
		return -ENOEXEC;
	/* Section names are read below: a huge (sparse) name table is refused
	 * before libelf loads it. */
	names = elf_getscn(b->elf, shstrndx);
	if (!names || !gelf_getshdr(names, &nsh) || nsh.sh_size > MAX_SHSTRTAB ||
	    nsh.sh_size > b->budget)
		return -E2BIG;
	if (nsh.sh_offset > b->file_size || nsh.sh_size > b->file_size - nsh.sh_offset)
		return -ENOEXEC;
	/* Read as raw bytes (freed by elf_end), not through elf_strptr: on
	 * some malformed name tables libelf leaks what elf_strptr loads. */
	nd = elf_getdata_rawchunk(b->elf, (int64_t)nsh.sh_offset, nsh.sh_size, ELF_T_BYTE);
	if (!nd || !nd->d_buf)
		return -ENOEXEC;
	while ((scn = elf_nextscn(b->elf, scn))) {
		const char *name;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		if (sh.sh_offset > b->file_size || sh.sh_size > b->file_size - sh.sh_offset)
			return -ENOEXEC;
		if (sh.sh_name >= nd->d_size ||
		    !memchr((const char *)nd->d_buf + sh.sh_name, '\0', nd->d_size - sh.sh_name))
			continue;
		name = (const char *)nd->d_buf + sh.sh_name;
		/* A sparse file can claim a huge .eh_frame that costs nothing on disk
		 * but all of it in memory once libdw reads it. */
		if (strcmp(name, ".eh_frame") == 0 &&
		    (sh.sh_size > MAX_EH_FRAME || sh.sh_size > b->budget))
			return -E2BIG;
		if (strcmp(name, ".eh_frame") == 0 && !b->eh_frame)
			b->eh_frame = scn;
		if (strncmp(name, ".debug_", 7) == 0 || strncmp(name, ".zdebug_", 8) == 0) {
			b->debug_bytes += sh.sh_size;
			if ((sh.sh_flags & SHF_COMPRESSED) || name[1] == 'z')
				b->debug_packed = true;
			/* libdw ignores a second section of the same name. */
			if (strcmp(name, ".debug_frame") == 0 && !b->debug_frame)
				b->debug_frame = sh.sh_size <= MAX_EH_FRAME ? scn : NULL;
		}
		if (strcmp(name, ".gopclntab") == 0 || strcmp(name, ".go.buildinfo") == 0)
			b->t->is_go = true;
	}
	return 0;
}

static int build(Elf *elf, uint64_t file_size, uint64_t budget, struct unwind_table *out)
{
	struct builder b = {.elf = elf, .file_size = file_size, .budget = budget, .t = out};
	GElf_Phdr eh = {0};
	uint64_t lo = UINT64_MAX, hi = 0, *locs = NULL, *fdes = NULL, eh_vaddr = 0;
	char why[160];
	size_t phnum, nlocs = 0;
	Dwarf_CFI *cfi = NULL, *dcfi = NULL;
	Dwarf *dw = NULL;
	struct fde_ref *refs = NULL;
	size_t nrefs = 0, cap_refs = 0;
	GElf_Ehdr ehdr;
	bool have_eh = false;
	int err;

	memset(out, 0, sizeof(*out));
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr) ||
	    ehdr.e_machine != EM_X86_64 || elf_getphdrnum(elf, &phnum) != 0 || phnum > MAX_PHDRS) {
		err = -ENOEXEC;
		goto cleanup;
	}
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			continue;
		if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
			if (out->nsegs < UNWIND_TABLE_MAX_SEGS)
				out->segs[out->nsegs++] = (struct unwind_seg){
				    .off = ph.p_offset, .vaddr = ph.p_vaddr, .filesz = ph.p_filesz};
			if (ph.p_vaddr < lo)
				lo = ph.p_vaddr;
			if (ph.p_vaddr + ph.p_memsz > hi)
				hi = ph.p_vaddr + ph.p_memsz;
		} else if (ph.p_type == PT_GNU_EH_FRAME) {
			eh = ph;
			have_eh = true;
		}
	}
	if (lo >= hi) {
		err = -ENOEXEC;
		goto cleanup;
	}
	if (hi - lo > UINT32_MAX) {
		err = -E2BIG;
		goto cleanup;
	}
	out->base = lo;
	out->size = hi - lo;
	err = check_sections(&b);
	if (err)
		goto cleanup;
	if (out->is_go || (!have_eh && !b.debug_frame)) {
		err = -ENOENT;
		goto cleanup;
	}
	if (have_eh) {
		err = fde_starts(&b, &eh, &locs, &fdes, &nlocs, &eh_vaddr);
		if (!err)
			err = guard_eh_frame(&b, ehdr.e_ident, &eh, eh_vaddr, fdes, nlocs, why,
					     sizeof(why));
		if (err == -EBADMSG)
			log_warn(MOD, "unwind table refused: .eh_frame: %s", why);
		if (err)
			goto cleanup;
		cfi = dwarf_getcfi_elf(elf);
		if (!cfi)
			nlocs = 0;
	}
	/* libdw reads every debug section to open .debug_frame: only when that
	 * stays small, and never for compressed ones (inflated at once). */
	if (b.debug_frame &&
	    (b.debug_packed || b.debug_bytes > MAX_DEBUG_READ || b.debug_bytes > b.budget)) {
		log_debug(MOD, ".debug_frame skipped: %llu bytes of debug sections%s",
			  (unsigned long long)b.debug_bytes, b.debug_packed ? ", compressed" : "");
		b.debug_frame = NULL;
	}
	if (b.debug_frame) {
		err = cfi_guard_section(ehdr.e_ident, elf_getdata(b.debug_frame, NULL), false, why,
					sizeof(why));
		if (err == -EBADMSG)
			log_warn(MOD, "unwind table refused: .debug_frame: %s", why);
		if (err == -EINVAL)
			b.debug_frame = NULL; /* unreadable here: not handed to libdw either */
		else if (err)
			goto cleanup;
		err = 0;
	}
	if (b.debug_frame) {
		dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
		dcfi = dw ? dwarf_getcfi(dw) : NULL;
		if (dcfi) {
			err = debug_frame_fdes(&b, ehdr.e_ident, &refs, &nrefs);
			if (err)
				goto cleanup;
		}
	}
	if (nlocs + nrefs == 0) {
		err = -ENOENT;
		goto cleanup;
	}
	err = arr_grow((void **)&refs, &cap_refs, nrefs + nlocs, sizeof(*refs),
		       UNWIND_TABLE_MAX_FDES * 2);
	if (err)
		goto cleanup;
	for (size_t i = 0; i < nlocs; i++)
		refs[nrefs++] = (struct fde_ref){.start = locs[i]};
	qsort(refs, nrefs, sizeof(*refs), cmp_fde);
	out->n_fdes = nrefs;
	for (size_t i = 0, k = 0; i < nrefs; i++) {
		uint64_t limit;

		if (i > 0 && refs[i - 1].start == refs[i].start)
			continue; /* the same code twice: the first (.eh_frame) wins */
		/* The next FDE that starts later bounds this one; k only moves
		 * forward, so a file of identical FDEs costs linear time. */
		if (k <= i)
			k = i + 1;
		while (k < nrefs && refs[k].start == refs[i].start)
			k++;
		limit = k < nrefs ? refs[k].start : hi;
		if (refs[i].end && refs[i].end < limit)
			limit = refs[i].end;
		err = walk_fde(&b, refs[i].dbg ? dcfi : cfi, refs[i].start, limit);
		if (err)
			goto cleanup;
	}
	err = 0;
cleanup:
	if (cfi)
		dwarf_cfi_end(cfi);
	if (dw)
		dwarf_end(dw); /* also ends dcfi */
	free(refs);
	free(locs);
	free(fdes);
	if (err) {
		free(out->rows);
		out->rows = NULL;
		out->n = 0;
	}
	return err;
}

int unwind_table_build_fd(int fd, struct unwind_table *out)
{
	struct stat st;
	Elf *elf;
	int err;

	memset(out, 0, sizeof(*out));
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr))
		return -ENOEXEC;
	if ((uint64_t)st.st_size > UNWIND_TABLE_MAX_FILE)
		return -E2BIG;
	/* Counts and sizes checked before libelf allocates for them. */
	err = elfsym_check_headers(fd, (uint64_t)st.st_size);
	if (err)
		return err;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (!elf)
		return -ENOEXEC;
	/* Blocks really allocated, plus slack for filesystems that report few. */
	err = build(elf, (uint64_t)st.st_size, (uint64_t)st.st_blocks * 512 + (1u << 20), out);
	elf_end(elf);
	return err;
}

int unwind_table_build_mem(const void *image, size_t len, struct unwind_table *out)
{
	Elf *elf;
	int err;

	memset(out, 0, sizeof(*out));
	elf_version(EV_CURRENT);
	elf = elf_memory((char *)image, len);
	if (!elf)
		return -ENOEXEC;
	err = build(elf, len, len, out);
	elf_end(elf);
	return err;
}

const struct profile_unwind_row *unwind_table_find(const struct unwind_table *t, uint64_t rel)
{
	size_t lo = 0, hi = t->n;

	if (rel > UINT32_MAX)
		return NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->rows[mid].pc <= rel)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &t->rows[lo - 1] : NULL;
}

int unwind_table_map_base(const struct unwind_table *t, uint64_t start, uint64_t off,
			  uint64_t *base)
{
	for (size_t i = 0; i < t->nsegs; i++) {
		const struct unwind_seg *sg = &t->segs[i];

		/* Mappings start page-aligned; the segment may start mid-page. */
		if (off >= (sg->off & ~4095ULL) && off < sg->off + sg->filesz) {
			*base = start - off + sg->off - sg->vaddr + t->base;
			return 0;
		}
	}
	return -ENOENT;
}
