/* SPDX-License-Identifier: Apache-2.0 */
/* gopclntab.c -- a bounds-checked reader of the Go runtime's pc tables
 * (the layout of runtime.pcHeader and runtime._func, Go 1.18+).
 */
#include "gopclntab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_GO118    0xfffffff0u
#define MAGIC_GO120    0xfffffff1u
#define HDR_WORDS      8	  /* nfunc, nfiles, (text), 5 table offsets */
#define FUNC_SIZE      44	  /* bytes of _func read (with startLine, Go 1.20+) */
#define FUNC_SIZE_118  40	  /* the same without startLine (Go 1.18, 1.19) */
#define PCDATA_INLTREE 2	  /* pcdata index: inline tree entry at a pc, -1 if none */
#define MAX_STEPS      (1u << 20) /* pc-value pairs decoded per lookup */

struct gopclntab {
	const uint8_t *d;
	size_t len;
	uint64_t text;
	bool has_start_line; /* Go 1.20+ */
	uint8_t quantum;     /* minLC: pc step unit */
	uint64_t nfunc;
	uint64_t funcnames, cutab, filetab, pctab, functab; /* offsets in d */
};

static uint32_t u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t word(const uint8_t *p, unsigned int size)
{
	uint64_t v = 0;

	memcpy(&v, p, size); /* little-endian */
	return v;
}

int gopclntab_load(void *data, size_t len, uint64_t text_addr, struct gopclntab **out)
{
	struct gopclntab *g;
	const uint8_t *d = data;
	unsigned int ps;
	uint64_t off[5];
	uint32_t magic;

	*out = NULL;
	if (len < 8 || len > GOPCLNTAB_MAX_SIZE)
		goto bad;
	magic = u32(d);
	ps = d[7];
	if ((magic != MAGIC_GO118 && magic != MAGIC_GO120) || d[4] || d[5] ||
	    (ps != 4 && ps != 8) || (d[6] != 1 && d[6] != 2 && d[6] != 4) ||
	    len < 8 + (size_t)HDR_WORDS * ps)
		goto bad;
	g = calloc(1, sizeof(*g));
	if (!g) {
		free(data);
		return -ENOMEM;
	}
	g->d = d;
	g->len = len;
	g->text = text_addr;
	g->has_start_line = magic == MAGIC_GO120;
	g->quantum = d[6];
	g->nfunc = word(d + 8, ps);
	for (int i = 0; i < 5; i++) {
		off[i] = word(d + 8 + (size_t)(3 + i) * ps, ps);
		if (off[i] >= len)
			goto bad_g;
	}
	g->funcnames = off[0];
	g->cutab = off[1];
	g->filetab = off[2];
	g->pctab = off[3];
	g->functab = off[4];
	if (g->nfunc == 0 || g->nfunc > GOPCLNTAB_MAX_FUNCS ||
	    (g->nfunc + 1) * 8 > len - g->functab)
		goto bad_g;
	*out = g;
	return 0;
bad_g:
	free(g);
bad:
	free(data);
	return -ENOEXEC;
}

void gopclntab_free(struct gopclntab *g)
{
	if (!g)
		return;
	free((void *)g->d);
	free(g);
}

size_t gopclntab_mem(const struct gopclntab *g)
{
	return g ? sizeof(*g) + g->len : 0;
}

size_t gopclntab_count(const struct gopclntab *g)
{
	return (size_t)g->nfunc;
}

/* NUL-terminated string at table + off, or NULL if it runs off the end. */
static const char *str_at(const struct gopclntab *g, uint64_t table, uint64_t off)
{
	if (off >= g->len - table)
		return NULL;
	if (!memchr(g->d + table + off, '\0', g->len - table - off))
		return NULL;
	return (const char *)g->d + table + off;
}

static bool uvarint(const struct gopclntab *g, uint64_t *pos, uint32_t *out)
{
	uint32_t v = 0;

	for (unsigned int shift = 0; shift < 35; shift += 7) {
		uint8_t b;

		if (*pos >= g->len)
			return false;
		b = g->d[(*pos)++];
		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/* Value of the pc-value table at pctab + off for pc (offsets from the
 * function's entry), or -1. */
static int64_t pcvalue(const struct gopclntab *g, uint32_t off, uint64_t entry, uint64_t pc)
{
	uint64_t pos = g->pctab + off, cur = entry;
	int64_t val = -1;

	if (off == 0 || off >= g->len - g->pctab)
		return -1;
	for (uint32_t step = 0; step < MAX_STEPS; step++) {
		uint32_t uv, pcd;
		int32_t delta;

		if (!uvarint(g, &pos, &uv) || (uv == 0 && step > 0))
			return -1;
		delta = uv & 1 ? (int32_t) ~(uv >> 1) : (int32_t)(uv >> 1);
		val += delta;
		if (!uvarint(g, &pos, &pcd))
			return -1;
		cur += (uint64_t)pcd * g->quantum;
		if (pc < cur)
			return val;
	}
	return -1;
}

/* Whether pc (offset from text) of the function at foff is in code inlined
 * into it: its PCDATA_InlTreeIndex value is >= 0 there. */
static bool inlined_at(const struct gopclntab *g, uint64_t foff, uint64_t entry, uint64_t pc)
{
	uint64_t hdr = g->has_start_line ? FUNC_SIZE : FUNC_SIZE_118;
	uint32_t npcdata = u32(g->d + foff + 28);

	if (npcdata <= PCDATA_INLTREE || g->len - foff < hdr + (uint64_t)npcdata * 4)
		return false;
	return pcvalue(g, u32(g->d + foff + hdr + PCDATA_INLTREE * 4), entry, pc) >= 0;
}

int gopclntab_lookup(const struct gopclntab *g, uint64_t vaddr, struct pprof_line *out)
{
	const uint8_t *ft = g->d + g->functab, *f;
	uint64_t rel, lo = 0, hi = g->nfunc, foff, entry;
	int64_t file, line;

	if (vaddr < g->text)
		return 0;
	rel = vaddr - g->text;
	if (rel < u32(ft) || rel >= u32(ft + g->nfunc * 8))
		return 0;
	/* Last function whose entry is <= rel. */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (u32(ft + mid * 8) <= rel)
			lo = mid;
		else
			hi = mid;
	}
	foff = g->functab + u32(ft + lo * 8 + 4);
	if (foff >= g->len || g->len - foff < FUNC_SIZE)
		return 0;
	f = g->d + foff;
	entry = u32(f);
	memset(out, 0, sizeof(*out));
	out->function = str_at(g, g->funcnames, (uint32_t)u32(f + 4));
	if (!out->function)
		return 0;
	if (inlined_at(g, foff, entry, rel)) {
		/* The pc is in inlined code: file and line would be the
		 * callee's under the caller's name. Only the caller's file. */
		file = pcvalue(g, u32(f + 20), entry, entry);
		line = 0;
	} else {
		file = pcvalue(g, u32(f + 20), entry, rel);
		line = pcvalue(g, u32(f + 24), entry, rel);
	}
	if (file >= 0) {
		uint64_t cu = (uint64_t)u32(f + 32) + (uint64_t)file;

		if (cu < (g->len - g->cutab) / 4) {
			uint32_t fo = u32(g->d + g->cutab + cu * 4);

			if (fo != UINT32_MAX)
				out->filename = str_at(g, g->filetab, fo);
		}
	}
	out->line = line > 0 ? line : 0;
	if (g->has_start_line && (int32_t)u32(f + 36) > 0)
		out->start_line = (int32_t)u32(f + 36);
	return 1;
}
