/* SPDX-License-Identifier: Apache-2.0 */
/* symcache.h -- per-binary symbol and line tables, cached by build ID and
 * shared by every process and job of a worker, within a byte budget (LRU).
 *
 * The symbolizer loads a binary's tables (elfsym, dwarfline, gopclntab)
 * once and keeps them here under the binary's key:
 *   "b:<GNU build ID>:<file size>"  when the file has a build ID (the same
 *                                    libc in a hundred containers, under a
 *                                    hundred inodes, is loaded once);
 *   "f:<dev>:<inode>:<size>:<mtime>" otherwise (a file rewritten in place
 *                                    gets a new key, never the old tables).
 * The key is taken from the open file (symcache_key_fd), so a path that now
 * holds another file never meets the tables of the old one.
 *
 * Entries are pinned while a process snapshot refers to them (strings in
 * frames point into them) and never evicted then. Unpinned entries stay
 * cached for later processes and jobs; when the bytes held pass the budget,
 * the least recently used unpinned ones are freed. Pinned entries alone may
 * exceed the budget: symcache_make_room() then says no, and the symbolizer
 * gives up loading more (frames keep mapping+offset).
 *
 * A low-level module: elfsym, dwarfline, gopclntab and lib/ only. Not
 * thread-safe. Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_SYMCACHE_H
#define PODPROF_SYMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "pprof.h"

#define SYMCACHE_DEFAULT_BYTES ((uint64_t)128 << 20)
#define SYMCACHE_MIN_BYTES     ((uint64_t)1 << 20)
#define SYMCACHE_KEY_MAX       176	  /* "b:" + 128 hex digits + ":" + size, with room */
#define SYMCACHE_MEMO_MAX      (1u << 16) /* source positions remembered per binary */

/* Source positions of addresses already looked up in one binary's DWARF:
 * libdw's lookup walks the whole compilation unit each time, so the hot
 * addresses a profile meets in every drain are answered from here. */
struct symcache_memo {
	struct symcache_memo_ent {
		uint64_t vaddr;
		uint32_t off, n; /* lines[off .. off + n) */
	} * e;
	size_t n, cap;
	struct pprof_line *lines; /* strings owned by the binary's tables */
	size_t n_lines, cap_lines;
	struct htab h; /* vaddr -> position in e */
};

struct symcache;

/* One binary's tables. The loader fills the four tables and mem before
 * symcache_put(); the cache owns the entry from then on. */
struct symcache_bin {
	struct elfsym *sym;	    /* NULL when the file is not a usable ELF */
	struct elfsym *dsym;	    /* separate debug file's symbols, when sym lacks .symtab */
	struct dwarfline *dw;	    /* line tables (binary's own or its debug file's), or NULL */
	struct gopclntab *go;	    /* Go pc tables of a Go binary without .symtab, or NULL */
	size_t mem;		    /* bytes charged (symcache_bin_mem, plus the memo) */
	struct symcache_memo memo;  /* the cache's: symcache_memo_find/add */
	char key[SYMCACHE_KEY_MAX]; /* the cache's: set by symcache_put */
	unsigned int pins;	    /* the cache's: snapshots referring to it */
	uint64_t used;		    /* the cache's: LRU clock at the last get/put */
};

struct symcache_stats {
	uint64_t hits;	      /* lookups answered from the cache */
	uint64_t misses;      /* lookups that had to load the binary */
	uint64_t evictions;   /* unpinned entries freed to stay in budget */
	uint64_t bytes;	      /* bytes held now */
	uint64_t max_bytes;   /* the budget */
	uint64_t entries;     /* binaries held now */
	uint64_t pinned;      /* of which referenced by a live snapshot */
	uint64_t line_hits;   /* DWARF lookups answered from a binary's memo */
	uint64_t line_misses; /* DWARF lookups that went to libdw */
};

/* max_bytes 0 means SYMCACHE_DEFAULT_BYTES; at least SYMCACHE_MIN_BYTES is
 * used. Free with symcache_free(). */
int symcache_new(struct symcache **out, uint64_t max_bytes);

/* Frees every entry, pinned or not (callers drop their references first).
 * Accepts NULL. */
void symcache_free(struct symcache *c);

/* The cache key of an open file (see above) into key. Reads only the ELF
 * program headers and notes; a file that is not ELF gets the identity key.
 * -errno when the file cannot be stat'ed. */
int symcache_key_fd(int fd, char key[SYMCACHE_KEY_MAX]);

/* The entry of key, pinned (symcache_unpin when done), or NULL. Counts a
 * hit or a miss. */
struct symcache_bin *symcache_get(struct symcache *c, const char *key);

/* Evict unpinned entries, least recently used first, until the bytes held
 * are under the budget. false when they still are not (all pinned). */
bool symcache_make_room(struct symcache *c);

/* Add b (not in the cache; key not present) under key, pinned once. Takes
 * ownership on success; -ENOMEM leaves b with the caller. */
int symcache_put(struct symcache *c, const char *key, struct symcache_bin *b);

/* One more pin of b, already held by the caller; hit: count it as a
 * lookup answered (without the key). */
void symcache_pin(struct symcache *c, struct symcache_bin *b, bool hit);

/* Drop one pin of b (from symcache_get, symcache_put or symcache_pin). */
void symcache_unpin(struct symcache *c, struct symcache_bin *b);

void symcache_get_stats(const struct symcache *c, struct symcache_stats *out);

/* The source positions remembered for vaddr in b (*n of them; n may be 0:
 * the address has none), or NULL when it was not looked up yet. Counts a
 * line hit or miss. Valid until the next symcache_memo_add on b. */
const struct pprof_line *symcache_memo_find(struct symcache *c, struct symcache_bin *b,
					    uint64_t vaddr, size_t *n);

/* Remember n positions for vaddr in b (copied; their strings must live as
 * long as b), charged to the cache. Past SYMCACHE_MEMO_MAX addresses per
 * binary nothing more is remembered (0 returned). -ENOMEM leaves b as it
 * was. */
int symcache_memo_add(struct symcache *c, struct symcache_bin *b, uint64_t vaddr,
		      const struct pprof_line *lines, size_t n);

/* Bytes held by b's tables, for b->mem. */
size_t symcache_bin_mem(const struct symcache_bin *b);

/* Free a bin that is not in a cache (and its tables). Accepts NULL. */
void symcache_bin_free(struct symcache_bin *b);

#endif
