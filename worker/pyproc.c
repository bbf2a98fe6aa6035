/* SPDX-License-Identifier: Apache-2.0 */
/* pyproc.c -- detect CPython in a process and name its Python frames. */
#include "pyproc.h"
#include "arr.h"
#include "clock.h"
#include "elfsym.h"
#include "htab.h"
#include "pprof.h"
#include "procfile.h"
#include "procmaps.h"
#include "pyoffsets.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#define MAX_CANDIDATES 8     /* distinct python files tried per process */
#define MAX_CODES      65536 /* cached code objects; past it the cache starts over */

/* ---- detection ------------------------------------------------------------------ */

/* Is `base` a CPython binary or library name? *minor gets the version in the
 * name, or 0 when the name has none ("python3", "libpython3.so"). */
static bool python_name(const char *base, unsigned *minor)
{
	const char *v = NULL;
	char *end;
	unsigned long m;

	if (strncmp(base, "libpython3", 10) == 0)
		v = base + 10;
	else if (strncmp(base, "python3", 7) == 0)
		v = base + 7;
	else
		return false;
	*minor = 0;
	if (*v != '.')
		return *v == '\0' || strncmp(base, "lib", 3) == 0;
	m = strtoul(v + 1, &end, 10);
	if (end == v + 1 || m > 99)
		return false;
	*minor = (unsigned)m;
	return true;
}

static int read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
	ssize_t n;

	if (len == 0)
		return 0;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

enum { SYM_RUNTIME, SYM_EVAL, SYM_VERSION, SYM__N };

static int unsupported(const struct procmaps_entry *me, unsigned minor, char *why, size_t why_len)
{
	if (why)
		snprintf(why, why_len,
			 "CPython 3.%u is not supported (no offsets), Python frames show as "
			 "native frames: %s",
			 minor, me->path);
	return -ENOTSUP;
}

/* Try one candidate file: symbols, load bias, version. */
static int try_file(const char *proc_root, pid_t pid, const struct procmaps_entry *me,
		    unsigned minor, struct profile_py_proc *out, char *why, size_t why_len)
{
	struct elfsym_want want[SYM__N] = {
	    [SYM_RUNTIME] = {.name = "_PyRuntime"},
	    [SYM_EVAL] = {.name = "_PyEval_EvalFrameDefault"},
	    [SYM_VERSION] = {.name = "Py_Version"},
	};
	const struct procfile_id id = {.dev = me->dev, .inode = me->inode};
	const struct profile_py_offsets *o;
	struct procfile pf;
	uint64_t vaddr, bias;
	int err;

	/* Inside the process's root, the mapped file itself, never blocking. */
	err = procfile_open_mapping(proc_root, pid, me->start, me->end, me->path, me->deleted, &id,
				    &pf);
	if (err)
		return err;
	err = elfsym_find_fd(pf.fd, want, SYM__N, me->offset, &vaddr);
	procfile_close(&pf);
	if (err)
		return err;
	/* A version the name gives and no table has (3.6 has no _PyRuntime at
	 * all) is unsupported, whatever its symbols. */
	if (minor && !pyoffsets_find(3, minor))
		return unsupported(me, minor, why, why_len);
	if (!want[SYM_RUNTIME].found || !want[SYM_EVAL].found || !want[SYM_EVAL].size) {
		if (why)
			snprintf(why, why_len,
				 "CPython without _PyRuntime/_PyEval_EvalFrameDefault symbols "
				 "(stripped?), Python frames show as native frames: %s",
				 me->path);
		return -ENODATA;
	}
	bias = me->start - vaddr;
	if (want[SYM_VERSION].found) {
		/* Py_Version (3.11+) is PY_VERSION_HEX: 0xMMmmpp.. */
		uint32_t hex = 0;

		if (read_mem(pid, want[SYM_VERSION].value + bias, &hex, sizeof(hex)) == 0 &&
		    hex >> 24 == 3)
			minor = (hex >> 16) & 0xff;
	}
	o = pyoffsets_find(3, minor);
	if (!o)
		return unsupported(me, minor, why, why_len);
	memset(out, 0, sizeof(*out));
	out->runtime = want[SYM_RUNTIME].value + bias;
	out->eval_start = want[SYM_EVAL].value + bias;
	out->eval_end = out->eval_start + want[SYM_EVAL].size;
	out->off = *o;
	return 0;
}

int pyproc_detect(const char *proc_root, pid_t pid, const struct procmaps *maps,
		  struct profile_py_proc *out, char *why, size_t why_len)
{
	uint64_t tried[MAX_CANDIDATES];
	char one[PATH_MAX + 160];
	size_t n_tried = 0;
	int err = -ENOENT;

	if (why && why_len)
		why[0] = '\0';
	for (size_t i = 0; i < maps->n; i++) {
		const struct procmaps_entry *me = &maps->e[i];
		const char *base;
		unsigned minor;
		bool seen = false;
		int r;

		if (!me->inode || me->path[0] != '/' || me->deleted)
			continue;
		base = strrchr(me->path, '/') + 1;
		if (!python_name(base, &minor))
			continue;
		/* The file's lowest mapping comes first; later ones add nothing. */
		for (size_t k = 0; k < n_tried; k++)
			seen |= tried[k] == me->inode;
		if (seen || n_tried == MAX_CANDIDATES)
			continue;
		tried[n_tried++] = me->inode;
		r = try_file(proc_root, pid, me, minor, out, one, sizeof(one));
		if (r == 0)
			return 0;
		/* A python3.N launcher next to libpython has no symbols: keep looking,
		 * but remember the most telling failure, and its sentence. */
		if (r == -ENOTSUP || (r == -ENODATA && err != -ENOTSUP)) {
			err = r;
			if (why && why_len)
				snprintf(why, why_len, "%s", one);
		}
	}
	return err;
}

/* ---- naming ------------------------------------------------------------------------- */

struct code {
	pid_t pid;
	uint64_t addr;
	char *name, *file; /* NULL when unreadable */
	int firstlineno;
	unsigned minor;
	uint8_t *lt; /* line table */
	size_t lt_len;
};

struct pysym {
	struct code **codes;
	size_t n, cap;
	struct htab h;
	uint64_t reads, read_ns;
	struct pprof_mapping_info mapping; /* all Python frames share it */
};

int pysym_new(struct pysym **out)
{
	struct pysym *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return -ENOMEM;
	ps->mapping.filename = "[python]";
	*out = ps;
	return 0;
}

static void code_free(struct code *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->file);
	free(c->lt);
	free(c);
}

void pysym_reset(struct pysym *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++)
		code_free(ps->codes[i]);
	ps->n = 0;
	htab_release(&ps->h);
	memset(&ps->h, 0, sizeof(ps->h));
}

void pysym_free(struct pysym *ps)
{
	if (!ps)
		return;
	pysym_reset(ps);
	free(ps->codes);
	free(ps);
}

void pysym_stats(const struct pysym *ps, uint64_t *reads, uint64_t *read_ns)
{
	*reads = ps->reads;
	*read_ns = ps->read_ns;
}

/* Append one code point as UTF-8; false when it does not fit. */
static bool put_utf8(char *out, size_t cap, size_t *n, uint32_t cp)
{
	uint8_t b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6);
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12);
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | (cp >> 18 & 0x07));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k >= cap)
		return false;
	memcpy(out + *n, b, k);
	*n += k;
	return true;
}

/* A str object as UTF-8 (compact strings only, at most PYPROC_MAX_NAME bytes
 * read); NULL when unreadable. */
static char *read_str(pid_t pid, const struct profile_py_offsets *o, uint64_t addr)
{
	uint8_t raw[PYPROC_MAX_NAME];
	uint32_t state;
	int64_t len;
	unsigned kind;
	size_t n = 0, chars;
	char *out;

	if (!addr || read_mem(pid, addr + o->unicode_state, &state, sizeof(state)) ||
	    read_mem(pid, addr + o->unicode_length, &len, sizeof(len)) || len < 0)
		return NULL;
	kind = (state >> 2) & 7;
	if (!(state >> 5 & 1) || (kind != 1 && kind != 2 && kind != 4))
		return NULL; /* not compact: names never are */
	chars = (size_t)len < sizeof(raw) / kind ? (size_t)len : sizeof(raw) / kind;
	if (read_mem(pid, addr + (state >> 6 & 1 ? o->unicode_ascii_size : o->unicode_compact_size),
		     raw, chars * kind))
		return NULL;
	out = malloc(4 * chars + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < chars; i++) {
		uint32_t cp = kind == 1	  ? raw[i]
			      : kind == 2 ? (uint32_t)raw[2 * i] | (uint32_t)raw[2 * i + 1] << 8
					  : (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
						(uint32_t)raw[4 * i + 2] << 16 |
						(uint32_t)raw[4 * i + 3] << 24;

		if (cp > 0x10ffff || !put_utf8(out, 4 * chars + 1, &n, cp))
			break;
	}
	out[n] = '\0';
	return out;
}

/* A bytes object's contents, at most PYPROC_MAX_LINETABLE bytes. */
static int read_bytes(pid_t pid, const struct profile_py_offsets *o, uint64_t addr, uint8_t **out,
		      size_t *len)
{
	int64_t size;
	uint8_t *buf;
	int err;

	*out = NULL;
	*len = 0;
	if (!addr)
		return -EFAULT;
	err = read_mem(pid, addr + o->bytes_size, &size, sizeof(size));
	if (err)
		return err;
	if (size < 0 || size > PYPROC_MAX_LINETABLE)
		return -E2BIG;
	buf = malloc(size ? (size_t)size : 1);
	if (!buf)
		return -ENOMEM;
	err = read_mem(pid, addr + o->bytes_data, buf, (size_t)size);
	if (err) {
		free(buf);
		return err;
	}
	*out = buf;
	*len = (size_t)size;
	return 0;
}

static struct code *code_read(pid_t pid, const struct profile_py_offsets *o, uint64_t addr)
{
	struct code *c = calloc(1, sizeof(*c));
	uint64_t name = 0, qual = 0, file = 0, lt = 0;
	int32_t first = 0;

	if (!c)
		return NULL;
	c->pid = pid;
	c->addr = addr;
	c->minor = o->version & 0xff;
	if (read_mem(pid, addr + o->code_name, &name, 8) ||
	    read_mem(pid, addr + o->code_filename, &file, 8) ||
	    read_mem(pid, addr + o->code_firstlineno, &first, 4) ||
	    read_mem(pid, addr + o->code_linetable, &lt, 8))
		return c; /* unreadable: named as such */
	if (o->code_qualname != PROFILE_PY_NONE)
		read_mem(pid, addr + o->code_qualname, &qual, 8);
	c->name = qual ? read_str(pid, o, qual) : NULL;
	if (!c->name)
		c->name = read_str(pid, o, name);
	c->file = read_str(pid, o, file);
	c->firstlineno = first;
	if (read_bytes(pid, o, lt, &c->lt, &c->lt_len))
		c->lt_len = 0;
	return c;
}

struct code_key {
	pid_t pid;
	uint64_t addr;
};

static bool code_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct pysym *ps = ctx;
	const struct code_key *k = key;

	return ps->codes[pos]->pid == k->pid && ps->codes[pos]->addr == k->addr;
}

static struct code *code_get(struct pysym *ps, pid_t pid, const struct profile_py_offsets *o,
			     uint64_t addr)
{
	struct code_key k = {.pid = pid, .addr = addr};
	uint64_t h = htab_hash_u64(htab_hash_u64(HTAB_SEED, (uint64_t)pid), addr);
	struct code *c;
	uint32_t pos;
	int64_t t0;

	if (htab_find(&ps->h, h, code_eq, ps, &k, &pos))
		return ps->codes[pos];
	if (ps->n >= MAX_CODES)
		pysym_reset(ps);
	if (arr_grow((void **)&ps->codes, &ps->cap, ps->n + 1, sizeof(*ps->codes), MAX_CODES))
		return NULL;
	t0 = clock_mono_ns();
	c = code_read(pid, o, addr);
	ps->read_ns += (uint64_t)(clock_mono_ns() - t0);
	ps->reads++;
	if (!c)
		return NULL;
	if (htab_insert(&ps->h, h, (uint32_t)ps->n)) {
		code_free(c);
		return NULL;
	}
	ps->codes[ps->n++] = c;
	return c;
}

/* 3.8/3.9 co_lnotab: (bytecode bytes, signed line delta) pairs; lasti in bytes. */
static int line_lnotab(const uint8_t *t, size_t len, int line, uint32_t lasti)
{
	uint32_t addr = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += t[i];
		if (addr > lasti)
			break;
		line += (int8_t)t[i + 1];
	}
	return line;
}

/* 3.10 co_linetable: (bytecode bytes, signed line delta or -128 for none)
 * ranges; f_lasti counts code units of 2 bytes. */
static int line_310(const uint8_t *t, size_t len, int line, uint32_t lasti)
{
	uint64_t addr = (uint64_t)lasti * 2, end = 0;

	for (size_t i = 0; i + 1 < len; i += 2) {
		end += t[i];
		if ((int8_t)t[i + 1] != -128)
			line += (int8_t)t[i + 1];
		if (addr < end)
			return line;
	}
	return line;
}

static uint32_t varint(const uint8_t *t, size_t len, size_t *i)
{
	uint32_t v = 0;
	unsigned shift = 0;

	while (*i < len && shift < 32) {
		uint8_t b = t[(*i)++];

		v |= (uint32_t)(b & 63) << shift;
		shift += 6;
		if (!(b & 64))
			break;
	}
	return v;
}

static int32_t svarint(const uint8_t *t, size_t len, size_t *i)
{
	uint32_t u = varint(t, len, i);

	return u & 1 ? -(int32_t)(u >> 1) : (int32_t)(u >> 1);
}

/* 3.11+ location table: entries of 1-8 code units, a header byte with bit 7
 * set, code in bits 6..3 and length - 1 in bits 2..0, then the code's data. */
static int line_311(const uint8_t *t, size_t len, int line, uint32_t lasti)
{
	uint64_t addr = 0;
	size_t i = 0;

	while (i < len) {
		uint8_t h = t[i++];
		unsigned code = (h >> 3) & 15, n = (h & 7) + 1;
		int here = line;

		if (!(h & 0x80))
			break; /* out of step: give the last line known */
		if (code == 15) {
			/* no location: keeps the line */
		} else if (code == 14) {
			line += svarint(t, len, &i);
			here = line;
			varint(t, len, &i);
			varint(t, len, &i);
			varint(t, len, &i);
		} else if (code == 13) {
			line += svarint(t, len, &i);
			here = line;
		} else if (code >= 10) {
			line += (int)code - 10;
			here = line;
			i += 2;
		} else {
			here = line;
			i += 1;
		}
		addr += n;
		if (lasti < addr)
			return here;
	}
	return line;
}

int pysym_line(unsigned minor, const uint8_t *tab, size_t len, int firstlineno, uint32_t lasti)
{
	if (minor <= 9)
		return line_lnotab(tab, len, firstlineno, lasti);
	if (minor == 10)
		return line_310(tab, len, firstlineno, lasti);
	return line_311(tab, len, firstlineno, lasti);
}

int pysym_frame(struct pysym *ps, pid_t pid, const struct profile_py_offsets *off, uint64_t frame,
		struct pprof_frame *f, struct pprof_line *line)
{
	uint64_t addr = profile_py_frame_code(frame);
	struct code *c = off ? code_get(ps, pid, off, addr) : NULL;

	memset(f, 0, sizeof(*f));
	f->addr = addr;
	f->mapping = &ps->mapping;
	if (!c || !c->name) {
		f->function = "<python: unreadable code>";
		return c || !off ? 0 : -ENOMEM;
	}
	f->function = c->name;
	f->filename = c->file;
	*line = (struct pprof_line){
	    .function = c->name,
	    .filename = c->file,
	    .start_line = c->firstlineno,
	    .line = pysym_line(c->minor, c->lt, c->lt_len, c->firstlineno,
			       profile_py_frame_lasti(frame)),
	};
	f->lines = line;
	f->nlines = 1;
	return 0;
}
