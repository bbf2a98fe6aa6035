/* SPDX-License-Identifier: Apache-2.0 */
/* cfi_guard.c -- decode CFA instruction streams just enough to bound what
 * libdw allocates for them (see cfi_guard.h). */
#include "cfi_guard.h"

#include <errno.h>
#include <gelf.h>
#include <stdio.h>
#include <string.h>

#define PE_OMIT	   0xff
#define PE_ABSPTR  0x00
#define PE_ULEB128 0x01
#define PE_UDATA2  0x02
#define PE_UDATA4  0x03
#define PE_UDATA8  0x04
#define PE_SLEB128 0x09
#define PE_SDATA2  0x0a
#define PE_SDATA4  0x0b
#define PE_SDATA8  0x0c

struct cur {
	const uint8_t *p, *end;
};

/* An unsigned LEB128 of at most 10 bytes; -1 on a longer or truncated one
 * (libdw reads those as UINT64_MAX and runs on: refused here instead). */
static int leb(struct cur *c, uint64_t *v)
{
	uint64_t r = 0;

	for (int i = 0; i < 10 && c->p < c->end; i++) {
		uint8_t b = *c->p++;

		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

static int skip(struct cur *c, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return -1;
	c->p += n;
	return 0;
}

/* Skip one value of pointer encoding enc; -1 on an encoding libdw would
 * not read the same way. */
static int skip_enc(struct cur *c, uint8_t enc, bool elf64)
{
	uint64_t ignored;

	if (enc == PE_OMIT)
		return 0;
	if ((enc & 0x70) == 0x50)
		return -1; /* DW_EH_PE_aligned: padding this reading would not follow */
	switch (enc & 0x0f) {
	case PE_ABSPTR:
		return skip(c, elf64 ? 8 : 4);
	case PE_UDATA2:
	case PE_SDATA2:
		return skip(c, 2);
	case PE_UDATA4:
	case PE_SDATA4:
		return skip(c, 4);
	case PE_UDATA8:
	case PE_SDATA8:
		return skip(c, 8);
	case PE_ULEB128:
	case PE_SLEB128:
		return leb(c, &ignored);
	default:
		return -1;
	}
}

struct scan {
	uint8_t fde_enc; /* operand encoding of DW_CFA_set_loc */
	bool elf64;
	int depth;
	char *why;
	size_t why_len;
	uint64_t off; /* entry being scanned, for the message */
};

static int bad(struct scan *s, const char *what, uint64_t v)
{
	snprintf(s->why, s->why_len, "CFI entry at 0x%llx: %s %llu", (unsigned long long)s->off,
		 what, (unsigned long long)v);
	return -EBADMSG;
}

static int reg(struct scan *s, struct cur *c)
{
	uint64_t r;

	if (leb(c, &r))
		return -1;
	return r > CFI_GUARD_MAX_REG ? bad(s, "register", r) : 0;
}

static int block(struct scan *s, struct cur *c)
{
	uint64_t n;

	if (leb(c, &n))
		return -1;
	if (n > CFI_GUARD_MAX_BLOCK)
		return bad(s, "expression of bytes", n);
	return skip(c, (size_t)n);
}

/* Walk one instruction stream to its end. Anything but a well-formed stream
 * of known opcodes within the caps is refused: where libdw would stop early
 * or read a value differently, the two readings could part, and compilers
 * emit nothing of the kind. */
static int scan_insns(struct scan *s, const uint8_t *p, const uint8_t *end)
{
	struct cur c = {p, end};
	uint64_t v;
	int r = 0;

	while (c.p < c.end && r == 0) {
		uint8_t op = *c.p++;

		switch (op >> 6) {
		case 1: /* advance_loc */
			continue;
		case 2: /* offset: register in the low 6 bits */
			r = leb(&c, &v);
			continue;
		case 3: /* restore */
			continue;
		}
		switch (op) {
		case 0x00: /* nop */
		case 0x2d: /* GNU_window_save */
			break;
		case 0x0a: /* remember_state */
			if (++s->depth > CFI_GUARD_MAX_DEPTH)
				return bad(s, "remember_state depth", (uint64_t)s->depth);
			break;
		case 0x0b: /* restore_state */
			if (s->depth > 0)
				s->depth--;
			break;
		case 0x01: /* set_loc */
			r = skip_enc(&c, s->fde_enc, s->elf64);
			break;
		case 0x02:
			r = skip(&c, 1);
			break;
		case 0x03:
			r = skip(&c, 2);
			break;
		case 0x04:
			r = skip(&c, 4);
			break;
		case 0x1d: /* MIPS_advance_loc8 */
			r = skip(&c, 8);
			break;
		case 0x0e: /* def_cfa_offset */
		case 0x13: /* def_cfa_offset_sf */
		case 0x2e: /* GNU_args_size */
			r = leb(&c, &v);
			break;
		case 0x06: /* restore_extended */
		case 0x07: /* undefined */
		case 0x08: /* same_value */
		case 0x0d: /* def_cfa_register */
			r = reg(s, &c);
			break;
		case 0x05: /* offset_extended */
		case 0x0c: /* def_cfa */
		case 0x11: /* offset_extended_sf */
		case 0x12: /* def_cfa_sf */
		case 0x14: /* val_offset */
		case 0x15: /* val_offset_sf */
		case 0x2f: /* GNU_negative_offset_extended */
			r = reg(s, &c);
			if (r == 0)
				r = leb(&c, &v);
			break;
		case 0x09: /* register */
			r = reg(s, &c);
			if (r == 0)
				r = reg(s, &c);
			break;
		case 0x0f: /* def_cfa_expression */
			r = block(s, &c);
			break;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			r = reg(s, &c);
			if (r == 0)
				r = block(s, &c);
			break;
		default:
			return bad(s, "unknown opcode", op);
		}
	}
	if (r == -1)
		return bad(s, "malformed operand at instruction byte", (uint64_t)(c.p - p));
	return r;
}

/* The CIE at off: its own program, and how its FDEs encode addresses. */
static int scan_cie(struct scan *s, const unsigned char *ident, Elf_Data *d, bool eh, uint64_t off,
		    bool *sized, size_t *aug_skip)
{
	Dwarf_CFI_Entry e;
	Dwarf_Off next;
	const char *aug;
	struct cur a;

	s->off = off;
	if (dwarf_next_cfi(ident, d, eh, off, &next, &e) != 0 || !dwarf_cfi_cie_p(&e))
		return bad(s, "FDE names no readable CIE, at offset", off);
	if (e.cie.return_address_register > CFI_GUARD_MAX_REG)
		return bad(s, "return address register", e.cie.return_address_register);
	aug = e.cie.augmentation ? e.cie.augmentation : "";
	s->fde_enc = PE_ABSPTR;
	*sized = aug[0] == 'z';
	*aug_skip = e.cie.fde_augmentation_data_size;
	if (aug[0] && aug[0] != 'z')
		return bad(s, "augmentation not understood, length", strlen(aug));
	if (aug[0] == 'z' && aug[1] && !e.cie.augmentation_data)
		return bad(s, "augmentation without its data, letters", strlen(aug) - 1);
	a.p = e.cie.augmentation_data;
	a.end = a.p ? a.p + e.cie.augmentation_data_size : NULL;
	for (const char *c = aug + (aug[0] == 'z'); *c && a.p; c++) {
		uint8_t enc;

		if (*c == 'S' || *c == 'B')
			continue;
		if (a.p >= a.end)
			return bad(s, "augmentation data short, at", (uint64_t)(c - aug));
		enc = *a.p++;
		if (*c == 'R')
			s->fde_enc = enc;
		else if (*c == 'P' && skip_enc(&a, enc, s->elf64))
			return bad(s, "personality encoding", enc);
		else if (*c != 'L' && *c != 'P')
			return bad(s, "augmentation letter", (uint64_t)(unsigned char)*c);
	}
	s->depth = 0;
	return scan_insns(s, e.cie.initial_instructions, e.cie.initial_instructions_end);
}

/* One FDE: its CIE's program, then its own (the remember_state depth runs
 * on from the CIE's, as libdw executes them in that order). */
static int scan_fde(struct scan *s, const unsigned char *ident, Elf_Data *d, bool eh, uint64_t off,
		    const Dwarf_FDE *f)
{
	struct cur c = {f->start, f->end};
	size_t aug_skip = 0;
	bool sized = false;
	uint64_t n;
	int r;

	r = scan_cie(s, ident, d, eh, f->CIE_pointer, &sized, &aug_skip);
	if (r)
		return r;
	s->off = off;
	if (skip_enc(&c, s->fde_enc, s->elf64) || skip_enc(&c, s->fde_enc & 0x0f, s->elf64))
		return bad(s, "address encoding not read, encoding", s->fde_enc);
	if (sized ? leb(&c, &n) || skip(&c, (size_t)n) : skip(&c, aug_skip))
		return bad(s, "augmentation data past the entry, bytes", (uint64_t)(c.end - c.p));
	return scan_insns(s, c.p, c.end);
}

int cfi_guard_fde(const unsigned char *ident, Elf_Data *d, bool eh_frame, uint64_t off, char *why,
		  size_t why_len)
{
	struct scan s = {.elf64 = ident[EI_CLASS] == ELFCLASS64, .why = why, .why_len = why_len};
	Dwarf_CFI_Entry e;
	Dwarf_Off next;

	if (!d || !why || !why_len)
		return -EINVAL;
	why[0] = '\0';
	s.off = off;
	if (off >= d->d_size || dwarf_next_cfi(ident, d, eh_frame, off, &next, &e) != 0 ||
	    dwarf_cfi_cie_p(&e))
		return bad(&s, "search table points at no FDE, offset", off);
	return scan_fde(&s, ident, d, eh_frame, off, &e.fde);
}

int cfi_guard_section(const unsigned char *ident, Elf_Data *d, bool eh_frame, char *why,
		      size_t why_len)
{
	struct scan s = {.elf64 = ident[EI_CLASS] == ELFCLASS64, .why = why, .why_len = why_len};
	Dwarf_Off off = 0, next;

	if (!d || !why || !why_len)
		return -EINVAL;
	why[0] = '\0';
	while (off < d->d_size) {
		Dwarf_CFI_Entry e;
		int r = dwarf_next_cfi(ident, d, eh_frame, off, &next, &e);

		if (r > 0)
			break;
		if (next == (Dwarf_Off)-1 || next <= off) {
			if (r < 0)
				break; /* libdw cannot get past it either */
			s.off = off;
			return bad(&s, "entry does not advance, next", next);
		}
		if (r == 0 && !dwarf_cfi_cie_p(&e)) {
			r = scan_fde(&s, ident, d, eh_frame, off, &e.fde);
			if (r)
				return r;
		}
		off = next;
	}
	return 0;
}
