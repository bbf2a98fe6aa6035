/* SPDX-License-Identifier: Apache-2.0 */
/* flamegraph.c -- pprof -> merged call tree -> self-contained SVG.
 *
 * The input is validated and normalised by lib/pprof (merge into a fresh
 * builder, encode plain), then read with protobuf-c. Frames are interned by
 * name and tree nodes by (parent, name) through lib/htab, so building the
 * tree is linear in the number of frames. Where the profile has lines, each
 * node also counts its samples per source position, and its tooltip names
 * the busiest one (for a leaf, where the CPU was; for a caller, the call
 * site), so a reader can jump to the code.
 */
#include "flamegraph.h"

#include "htab.h"
#include "pprof.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FG_WIDTH	1200.0 /* SVG width in px */
#define FG_PAD		10.0   /* left/right margin */
#define FG_FRAME_H	16     /* one frame's height */
#define FG_TOP		56     /* room for the title lines */
#define FG_MAX_DEPTH	1024   /* deeper stacks are cut (counted at the cut) */
#define FG_MAX_NODES	(4u << 20)
#define FG_MIN_PERMILLE 1	   /* frames under 0.1% of the total are dropped */
#define FG_CHAR_W	7.2	   /* approx. advance of 12px monospace */
#define PYTHON_MAPPING	"[python]" /* the worker's mapping of Python frames */

struct fg_node {
	uint32_t name : 31;  /* index into names[] */
	uint32_t python : 1; /* a Python frame (mapping "[python]"): drawn in blue-green */
	uint32_t parent;     /* node index; root is its own parent */
	uint32_t first_kid;  /* node index + 1, 0 = none */
	uint32_t next;	     /* next sibling, node index + 1, 0 = none */
	uint64_t value;	     /* samples on paths through this node */
	uint64_t self;	     /* samples ending here */
	uint64_t base;	     /* diff: samples of the baseline profile on this path */
	uint32_t hot;	     /* busiest source position (index in pos + 1), 0 = none */
};

/* Samples of one node at one source position. */
struct fg_pos {
	uint32_t node;
	uint32_t file; /* index into names[] */
	int64_t line;
	uint64_t value;
};

struct fg {
	const Perftools__Profiles__Profile *p;
	bool offcpu;  /* values are nanoseconds off CPU (sample type off_cpu), not samples */
	char **names; /* interned frame names (owned) */
	size_t n_names, cap_names;
	struct htab name_h;
	struct fg_node *nodes; /* nodes[0] is the root "all" */
	size_t n_nodes, cap_nodes;
	struct htab node_h;
	struct fg_pos *pos; /* source positions per node */
	size_t n_pos, cap_pos;
	struct htab pos_h;
	/* id -> object lookups, sorted by id */
	Perftools__Profiles__Location **locs;
	Perftools__Profiles__Function **funcs;
	Perftools__Profiles__Mapping **maps;
	unsigned max_depth; /* deepest drawn frame */
	bool diff;	    /* colour by change of share against `base` */
	double max_delta;   /* diff: largest |share change| drawn, for the legend */
	FILE *out;
};

static bool name_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct fg *g = ctx;

	return strcmp(g->names[pos], key) == 0;
}

/* Intern a frame name; returns its index or a negative errno. */
static int64_t intern(struct fg *g, const char *s)
{
	uint64_t h = htab_hash_bytes(HTAB_SEED, s, strlen(s));
	uint32_t pos;

	if (htab_find(&g->name_h, h, name_eq, g, s, &pos))
		return pos;
	if (g->n_names == g->cap_names) {
		size_t nc = g->cap_names ? g->cap_names * 2 : 256;
		char **nn = realloc(g->names, nc * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		g->names = nn;
		g->cap_names = nc;
	}
	g->names[g->n_names] = strdup(s);
	if (!g->names[g->n_names])
		return -ENOMEM;
	if (htab_insert(&g->name_h, h, (uint32_t)g->n_names)) {
		free(g->names[g->n_names]);
		return -ENOMEM;
	}
	return (int64_t)g->n_names++;
}

struct node_key {
	uint32_t parent, name;
};

static bool node_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct fg *g = ctx;
	const struct node_key *k = key;

	return g->nodes[pos].parent == k->parent && g->nodes[pos].name == k->name;
}

/* The child of `parent` named `name`, created on first use. */
static int64_t child(struct fg *g, uint32_t parent, uint32_t name)
{
	struct node_key k = {parent, name};
	uint64_t h = htab_hash_bytes(HTAB_SEED, &k, sizeof(k));
	struct fg_node *n;
	uint32_t pos;

	if (htab_find(&g->node_h, h, node_eq, g, &k, &pos))
		return pos;
	if (g->n_nodes >= FG_MAX_NODES)
		return -E2BIG;
	if (g->n_nodes == g->cap_nodes) {
		size_t nc = g->cap_nodes * 2;
		struct fg_node *nn = realloc(g->nodes, nc * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		g->nodes = nn;
		g->cap_nodes = nc;
	}
	if (htab_insert(&g->node_h, h, (uint32_t)g->n_nodes))
		return -ENOMEM;
	n = &g->nodes[g->n_nodes];
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->parent = parent;
	n->next = g->nodes[parent].first_kid;
	g->nodes[parent].first_kid = (uint32_t)g->n_nodes + 1;
	return (int64_t)g->n_nodes++;
}

/* ---- id lookups (ids are arbitrary non-zero numbers in pprof) ---- */

static int cmp_loc(const void *a, const void *b)
{
	uint64_t x = (*(Perftools__Profiles__Location *const *)a)->id;
	uint64_t y = (*(Perftools__Profiles__Location *const *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_func(const void *a, const void *b)
{
	uint64_t x = (*(Perftools__Profiles__Function *const *)a)->id;
	uint64_t y = (*(Perftools__Profiles__Function *const *)b)->id;

	return x < y ? -1 : x > y;
}

static int cmp_map(const void *a, const void *b)
{
	uint64_t x = (*(Perftools__Profiles__Mapping *const *)a)->id;
	uint64_t y = (*(Perftools__Profiles__Mapping *const *)b)->id;

	return x < y ? -1 : x > y;
}

/* Binary search by id in one of the sorted pointer arrays above. */
#define FIND_BY_ID(type, arr, n, want)                                                             \
	({                                                                                         \
		type *found_ = NULL;                                                               \
		size_t lo_ = 0, hi_ = (n);                                                         \
		while (lo_ < hi_) {                                                                \
			size_t mid_ = lo_ + (hi_ - lo_) / 2;                                       \
			if ((arr)[mid_]->id < (want))                                              \
				lo_ = mid_ + 1;                                                    \
			else                                                                       \
				hi_ = mid_;                                                        \
		}                                                                                  \
		if (lo_ < (n) && (arr)[lo_]->id == (want))                                         \
			found_ = (arr)[lo_];                                                       \
		found_;                                                                            \
	})

static const char *str_at(const struct fg *g, int64_t i)
{
	return i >= 0 && (size_t)i < g->p->n_string_table ? g->p->string_table[i] : "";
}

/* Name of an unsymbolized location, grouped like pprof_builder_top does:
 * "<mapping basename>+0x<file offset>" or "0x<addr>". */
static void raw_name(const struct fg *g, const Perftools__Profiles__Location *l, char *buf,
		     size_t len)
{
	const Perftools__Profiles__Mapping *m =
	    l->mapping_id
		? FIND_BY_ID(Perftools__Profiles__Mapping, g->maps, g->p->n_mapping, l->mapping_id)
		: NULL;
	const char *file = m ? str_at(g, m->filename) : "";
	const char *base = strrchr(file, '/');

	base = base ? base + 1 : file;
	if (m && *base && l->address >= m->memory_start)
		snprintf(buf, len, "%s+0x%" PRIx64, base,
			 l->address - m->memory_start + m->file_offset);
	else
		snprintf(buf, len, "0x%" PRIx64, l->address);
}

static bool pos_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct fg *g = ctx;
	const struct fg_pos *k = key;

	return g->pos[i].node == k->node && g->pos[i].file == k->file && g->pos[i].line == k->line;
}

/* Count v samples of node at file:line (file as in the profile). */
static int add_pos(struct fg *g, uint32_t node, const char *file, int64_t line, uint64_t v)
{
	struct fg_pos k = {.node = node, .line = line};
	int64_t fi = intern(g, file);
	uint64_t h;
	uint32_t i;

	if (fi < 0)
		return (int)fi;
	k.file = (uint32_t)fi;
	h = htab_hash_u64(htab_hash_u64(htab_hash_u64(HTAB_SEED, node), k.file), (uint64_t)line);
	if (!htab_find(&g->pos_h, h, pos_eq, g, &k, &i)) {
		if (g->n_pos == g->cap_pos) {
			size_t nc = g->cap_pos ? g->cap_pos * 2 : 1024;
			struct fg_pos *np =
			    nc > FG_MAX_NODES ? NULL : realloc(g->pos, nc * sizeof(*np));

			if (!np)
				return -ENOMEM;
			g->pos = np;
			g->cap_pos = nc;
		}
		if (htab_insert(&g->pos_h, h, (uint32_t)g->n_pos))
			return -ENOMEM;
		i = (uint32_t)g->n_pos;
		g->pos[g->n_pos++] = k;
	}
	g->pos[i].value += v;
	return 0;
}

/* Each node's busiest position: most samples, then the lowest line. */
static void hottest_positions(struct fg *g)
{
	for (size_t i = 0; i < g->n_pos; i++) {
		struct fg_node *n = &g->nodes[g->pos[i].node];
		const struct fg_pos *h = n->hot ? &g->pos[n->hot - 1] : NULL;

		if (!h || g->pos[i].value > h->value ||
		    (g->pos[i].value == h->value && g->pos[i].line < h->line))
			n->hot = (uint32_t)i + 1;
	}
}

/* Append one sample's stack (leaf-first in pprof) root-first to the tree. */
static int add_sample(struct fg *g, const Perftools__Profiles__Sample *s, uint64_t v, bool base)
{
	uint32_t node = 0;
	unsigned depth = 0;

	if (base)
		g->nodes[0].base += v;
	else
		g->nodes[0].value += v;
	for (size_t i = s->n_location_id; i-- > 0 && depth < FG_MAX_DEPTH;) {
		const Perftools__Profiles__Location *l = FIND_BY_ID(
		    Perftools__Profiles__Location, g->locs, g->p->n_location, s->location_id[i]);
		const Perftools__Profiles__Mapping *m;
		char raw[96];
		bool py;

		if (!l)
			return -EINVAL;
		m = l->mapping_id ? FIND_BY_ID(Perftools__Profiles__Mapping, g->maps,
					       g->p->n_mapping, l->mapping_id)
				  : NULL;
		py = m && strcmp(str_at(g, m->filename), PYTHON_MAPPING) == 0;
		/* line[0] is the innermost inlined function: walk outermost first. */
		for (size_t j = l->n_line ? l->n_line : 1; j-- > 0 && depth < FG_MAX_DEPTH;) {
			const Perftools__Profiles__Function *f = NULL;
			const char *name;
			int64_t ni, ci;

			if (l->n_line) {
				f = FIND_BY_ID(Perftools__Profiles__Function, g->funcs,
					       g->p->n_function, l->line[j]->function_id);
				name = f ? str_at(g, f->name) : "";
				if (!*name)
					name = "[unknown]";
			} else {
				raw_name(g, l, raw, sizeof(raw));
				name = raw;
			}
			ni = intern(g, name);
			if (ni < 0)
				return (int)ni;
			ci = child(g, node, (uint32_t)ni);
			if (ci < 0)
				return (int)ci;
			node = (uint32_t)ci;
			if (base)
				g->nodes[node].base += v;
			else
				g->nodes[node].value += v;
			if (!base && f && l->line[j]->line > 0 && *str_at(g, f->filename)) {
				int err =
				    add_pos(g, node, str_at(g, f->filename), l->line[j]->line, v);

				if (err)
					return err;
			}
			g->nodes[node].python |= py;
			depth++;
		}
	}
	if (!base)
		g->nodes[node].self += v;
	return 0;
}

/* Start an empty tree: the root "all" (name 0, its own parent). */
static int tree_init(struct fg *g)
{
	int64_t err;

	g->cap_nodes = 1024;
	g->nodes = calloc(g->cap_nodes, sizeof(*g->nodes));
	if (!g->nodes)
		return -ENOMEM;
	err = intern(g, "all");
	if (err < 0)
		return (int)err;
	g->n_nodes = 1;
	return 0;
}

/* Add every sample of p to the tree (as the baseline with base set). The id
 * indexes are rebuilt for p; names and nodes are shared between profiles, so
 * the same call path in two profiles is one node. */
static int add_profile(struct fg *g, const Perftools__Profiles__Profile *p, bool base)
{
	int err;

	free(g->locs);
	free(g->funcs);
	free(g->maps);
	g->p = p;
	g->locs = calloc(p->n_location + 1, sizeof(*g->locs));
	g->funcs = calloc(p->n_function + 1, sizeof(*g->funcs));
	g->maps = calloc(p->n_mapping + 1, sizeof(*g->maps));
	if (!g->locs || !g->funcs || !g->maps)
		return -ENOMEM;
	if (p->n_location)
		memcpy(g->locs, p->location, p->n_location * sizeof(*g->locs));
	if (p->n_function)
		memcpy(g->funcs, p->function, p->n_function * sizeof(*g->funcs));
	if (p->n_mapping)
		memcpy(g->maps, p->mapping, p->n_mapping * sizeof(*g->maps));
	qsort(g->locs, p->n_location, sizeof(*g->locs), cmp_loc);
	qsort(g->funcs, p->n_function, sizeof(*g->funcs), cmp_func);
	qsort(g->maps, p->n_mapping, sizeof(*g->maps), cmp_map);

	if (!base && p->n_sample_type && p->sample_type[0]->type > 0 &&
	    (size_t)p->sample_type[0]->type < p->n_string_table)
		g->offcpu = strcmp(p->string_table[p->sample_type[0]->type], "off_cpu") == 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];

		if (!s->n_value || s->value[0] <= 0)
			continue;
		err = add_sample(g, s, (uint64_t)s->value[0], base);
		if (err)
			return err;
	}
	return 0;
}

/* ---- SVG ---- */

/* A node's weight as text: "N samples", or blocked time for off-CPU profiles. */
static void put_amount(const struct fg *g, uint64_t v)
{
	if (g->offcpu)
		fprintf(g->out, "%.1f ms blocked", (double)v / 1e6);
	else
		fprintf(g->out, "%" PRIu64 " samples", v);
}

/* Length of the valid UTF-8 sequence at s, or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* Overlong 3/4-byte forms, surrogates and > U+10FFFF. */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return n;
}

/* Write at most max_chars characters of s as XML character data, valid
 * whatever the bytes: markup characters become entities, control
 * characters and invalid UTF-8 become '?'. Returns characters written. */
static size_t put_escaped(FILE *f, const char *s, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;

	while (*p && chars < max_chars) {
		size_t n = utf8_len(p);

		if (n == 0 || (n == 1 && *p < 0x20 && *p != '\t')) {
			fputc('?', f);
			n = 1;
		} else if (*p == '&') {
			fputs("&amp;", f);
		} else if (*p == '<') {
			fputs("&lt;", f);
		} else if (*p == '>') {
			fputs("&gt;", f);
		} else if (*p == '"') {
			fputs("&quot;", f);
		} else if (*p == '\'') {
			fputs("&apos;", f);
		} else {
			fwrite(p, 1, n, f);
		}
		p += n;
		chars++;
	}
	return chars;
}

static size_t char_count(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; n++) {
		size_t l = utf8_len(p);

		p += l ? l : 1;
	}
	return n;
}

/* Warm colours like classic flame graphs; stable per name so the same
 * function has the same colour in every profile. */
static void colour(const char *name, bool python, unsigned *r, unsigned *gg, unsigned *b)
{
	uint64_t h = htab_hash_bytes(HTAB_SEED, name, strlen(name));

	if (python) {
		/* Python frames apart from native ones: blue-green. */
		*r = (unsigned)(h % 80);
		*gg = 150 + (unsigned)((h >> 8) % 80);
		*b = 170 + (unsigned)((h >> 16) % 80);
		return;
	}

	*r = 205 + (unsigned)(h % 50);
	*gg = (unsigned)((h >> 8) % 190);
	*b = (unsigned)((h >> 16) % 55);
}

/* Share change of node n between baseline and profile, in [-1, 1]. */
static double delta(const struct fg *g, const struct fg_node *n)
{
	double now = (double)n->value / (double)g->nodes[0].value;
	double before = g->nodes[0].base ? (double)n->base / (double)g->nodes[0].base : 0;

	return now - before;
}

/* Diff colours: red for a grown share, blue for a shrunk one, saturated at
 * g->max_delta; grey when unchanged. */
static void diff_colour(double d, double max, unsigned *r, unsigned *gg, unsigned *b)
{
	double t = max > 0 ? (d < 0 ? -d : d) / max : 0;
	unsigned fade = (unsigned)(225.0 * (1.0 - (t > 1 ? 1 : t)));

	*gg = fade;
	*r = d > 0 ? 255 : fade;
	*b = d < 0 ? 255 : fade;
	if (d == 0)
		*r = *gg = *b = 225;
}

static bool visible(const struct fg *g, const struct fg_node *n)
{
	return n->value * 1000 >= g->nodes[0].value * FG_MIN_PERMILLE;
}

static int cmp_kid(const void *a, const void *b, void *ctx)
{
	const struct fg *g = ctx;
	const struct fg_node *x = &g->nodes[*(const uint32_t *)a];
	const struct fg_node *y = &g->nodes[*(const uint32_t *)b];

	return strcmp(g->names[x->name], g->names[y->name]);
}

/* Visible children of node n sorted by name; *out is malloc'd. */
static int sorted_kids(struct fg *g, uint32_t n, uint32_t **out, size_t *cnt)
{
	size_t k = 0, cap = 0;
	uint32_t *v = NULL;

	for (uint32_t c = g->nodes[n].first_kid; c; c = g->nodes[c - 1].next) {
		if (!visible(g, &g->nodes[c - 1]))
			continue;
		if (k == cap) {
			size_t nc = cap ? cap * 2 : 8;
			uint32_t *nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[k++] = c - 1;
	}
	if (k > 1)
		qsort_r(v, k, sizeof(*v), cmp_kid, g);
	*out = v;
	*cnt = k;
	return 0;
}

static void measure(struct fg *g, uint32_t n, unsigned depth)
{
	double d = g->diff ? delta(g, &g->nodes[n]) : 0;

	if (depth > g->max_depth)
		g->max_depth = depth;
	if (d < 0)
		d = -d;
	if (d > g->max_delta)
		g->max_delta = d;
	for (uint32_t c = g->nodes[n].first_kid; c; c = g->nodes[c - 1].next)
		if (visible(g, &g->nodes[c - 1]))
			measure(g, c - 1, depth + 1);
}

static int draw(struct fg *g, uint32_t n, unsigned depth, double x)
{
	const struct fg_node *node = &g->nodes[n];
	const char *name = g->names[node->name];
	double total = (double)g->nodes[0].value;
	double w = (double)node->value / total * (FG_WIDTH - 2 * FG_PAD);
	double y = FG_TOP + (double)(g->max_depth - depth) * FG_FRAME_H;
	size_t fit = w > 6 ? (size_t)((w - 6) / FG_CHAR_W) : 0, nc = char_count(name);
	unsigned r, gr, b;
	uint32_t *kids = NULL;
	size_t nk = 0;
	int err;

	fputs("<g class=\"f\"><title>", g->out);
	put_escaped(g->out, name, SIZE_MAX);
	fputs(" (", g->out);
	put_amount(g, node->value);
	fprintf(g->out, ", %.2f%%, self ", 100.0 * (double)node->value / total);
	if (g->offcpu)
		fprintf(g->out, "%.1f ms", (double)node->self / 1e6);
	else
		fprintf(g->out, "%" PRIu64, node->self);
	if (node->hot) {
		/* After the numbers, so that "name (" still starts the tooltip
		 * and the script finds the name up to the last " (" before the
		 * newline. */
		const struct fg_pos *p = &g->pos[node->hot - 1];

		fprintf(g->out, ")\nat ");
		put_escaped(g->out, g->names[p->file], SIZE_MAX);
		fprintf(g->out, ":%" PRId64 " (", p->line);
		put_amount(g, p->value);
		fputs(" there", g->out);
	}
	if (g->diff) {
		double d = delta(g, node);

		diff_colour(d, g->max_delta, &r, &gr, &b);
		fprintf(
		    g->out, "; before %" PRIu64 " samples, %.2f%%; change %+.2f points", node->base,
		    g->nodes[0].base ? 100.0 * (double)node->base / (double)g->nodes[0].base : 0.0,
		    100.0 * d);
	} else {
		colour(name, node->python, &r, &gr, &b);
	}
	fprintf(g->out,
		")</title>"
		"<rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" fill=\"rgb(%u,%u,%u)\"/>",
		x, y, w, FG_FRAME_H - 1, r, gr, b);
	if (fit >= 3) {
		fprintf(g->out, "<text x=\"%.2f\" y=\"%.0f\">", x + 3, y + FG_FRAME_H - 4);
		if (nc <= fit) {
			put_escaped(g->out, name, SIZE_MAX);
		} else {
			put_escaped(g->out, name, fit - 2);
			fputs("..", g->out);
		}
		fputs("</text>", g->out);
	}
	fputs("</g>\n", g->out);

	err = sorted_kids(g, n, &kids, &nk);
	if (err)
		return err;
	for (size_t i = 0; i < nk && !err; i++) {
		err = draw(g, kids[i], depth + 1, x);
		x += (double)g->nodes[kids[i]].value / total * (FG_WIDTH - 2 * FG_PAD);
	}
	free(kids);
	return err;
}

/* Diff legend, top right: shrunk (blue) .. unchanged (grey) .. grown (red). */
static void legend(struct fg *g)
{
	const int steps = 9;
	double x0 = FG_WIDTH - FG_PAD - steps * 24 - 150, m = g->max_delta;
	unsigned r, gr, b;

	fprintf(g->out,
		"<g class=\"legend\"><text class=\"s\" x=\"%.0f\" y=\"44\">%+.1f pts</text>", x0,
		-100.0 * m);
	for (int i = 0; i < steps; i++) {
		double d = m * (2.0 * i / (steps - 1) - 1.0);

		diff_colour(d, m, &r, &gr, &b);
		fprintf(g->out,
			"<rect x=\"%.0f\" y=\"33\" width=\"24\" height=\"14\" "
			"fill=\"rgb(%u,%u,%u)\"><title>%+.2f points</title></rect>",
			x0 + 75 + i * 24, r, gr, b, 100.0 * d);
	}
	fprintf(g->out, "<text class=\"s\" x=\"%.0f\" y=\"44\">%+.1f pts</text></g>\n",
		x0 + 80 + steps * 24, 100.0 * m);
}

static int render(struct fg *g, const char *title)
{
	uint64_t total = g->nodes[0].value;
	double height;
	int err = 0;

	if (total)
		measure(g, 0, 0);
	hottest_positions(g);
	height = FG_TOP + (double)(g->max_depth + 1) * FG_FRAME_H + 10;
	fprintf(
	    g->out,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
	    "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
	    "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" data-pad=\"%.0f\" data-cw=\"%.1f\" "
	    "data-zoom=\"\" data-match=\"\">\n"
	    "<style>text{font-family:monospace;font-size:12px;fill:#000;pointer-events:none}"
	    ".t{font-size:17px;text-anchor:middle}.s{fill:#555}"
	    ".c{fill:#2a5db0;cursor:pointer;pointer-events:all}.f rect{cursor:pointer}"
	    "rect{stroke:#fff;stroke-width:0.5}g:hover rect{stroke:#000;stroke-width:1}</style>\n"
	    "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#fbfbf7\" "
	    "style=\"stroke:none\"/>\n"
	    "<text class=\"t\" x=\"%.0f\" y=\"24\">",
	    FG_WIDTH, height, FG_WIDTH, height, FG_PAD, FG_CHAR_W, FG_WIDTH / 2);
	put_escaped(g->out, title && *title ? title : "Flame graph", 200);
	fprintf(g->out, "</text>\n<text class=\"s\" x=\"%.0f\" y=\"44\">", FG_PAD);
	if (total && g->diff)
		fprintf(g->out,
			"%" PRIu64 " samples (before: %" PRIu64 "); width = share now; colour = "
			"change of share",
			total, g->nodes[0].base);
	else if (total && g->offcpu)
		fprintf(
		    g->out,
		    "%.3f s blocked (off CPU); width = share of blocked time; hover a frame for "
		    "details, click to zoom, / to search; frames under 0.1%% hidden",
		    (double)total / 1e9);
	else if (total)
		fprintf(g->out,
			"%" PRIu64 " samples; width = share of samples; hover a frame for details, "
			"click to zoom, / to search; frames under 0.1%% hidden",
			total);
	else
		fputs("no samples in this profile", g->out);
	fputs("</text>\n", g->out);
	if (total && g->diff)
		legend(g);
	/* Controls for the embedded script (see flamegraph_script.c). */
	fprintf(g->out,
		"<text id=\"reset\" class=\"c\" x=\"%.0f\" y=\"24\">Reset zoom</text>\n"
		"<text id=\"search\" class=\"c\" x=\"%.0f\" y=\"24\" "
		"style=\"text-anchor:end\">Search</text>\n"
		"<text id=\"matched\" class=\"s\" x=\"%.0f\" y=\"24\" "
		"style=\"text-anchor:end\"></text>\n",
		FG_PAD, FG_WIDTH - FG_PAD, FG_WIDTH - FG_PAD - 70);
	if (total)
		err = draw(g, 0, 0, FG_PAD);
	fprintf(g->out, "<script type=\"text/ecmascript\"><![CDATA[\n%s]]></script>\n</svg>\n",
		flamegraph_script);
	return err;
}

static void fg_release(struct fg *g)
{
	for (size_t i = 0; i < g->n_names; i++)
		free(g->names[i]);
	free(g->names);
	htab_release(&g->name_h);
	htab_release(&g->node_h);
	free(g->nodes);
	free(g->pos);
	htab_release(&g->pos_h);
	free(g->locs);
	free(g->funcs);
	free(g->maps);
}

/* Validate and normalise an untrusted profile: merging into a fresh builder
 * checks every id and index and caps the decompressed size; re-encoding
 * gives protobuf we can trust. *plain backs *out and is freed after it. */
static int decode(const void *pprof, size_t len, Perftools__Profiles__Profile **out, void **plain)
{
	struct pprof_builder *b = NULL;
	size_t plain_len = 0;
	int err;

	*out = NULL;
	*plain = NULL;
	if (!pprof && len)
		return -EINVAL;
	err = pprof_builder_new(&b, 1, 0);
	if (!err)
		err = pprof_builder_merge(b, pprof, len, FLAMEGRAPH_MAX_PROFILE);
	if (!err)
		err = pprof_builder_encode(b, false, plain, &plain_len);
	pprof_builder_free(b);
	if (err)
		return err;
	*out = perftools__profiles__profile__unpack(NULL, plain_len, *plain);
	return *out ? 0 : -EINVAL;
}

/* Build the tree from `now` (and `before` when diffing), render it. */
static int flamegraph_render(const void *before, size_t before_len, const void *now, size_t now_len,
			     bool diff, const char *title, char **svg_out, size_t *svg_len)
{
	Perftools__Profiles__Profile *p = NULL, *pb = NULL;
	struct fg g = {.diff = diff};
	void *plain = NULL, *plain_b = NULL;
	char *buf = NULL;
	size_t buf_len = 0;
	int err;

	*svg_out = NULL;
	*svg_len = 0;
	err = decode(now, now_len, &p, &plain);
	if (!err && diff)
		err = decode(before, before_len, &pb, &plain_b);
	if (!err)
		err = tree_init(&g);
	if (!err && diff)
		err = add_profile(&g, pb, true);
	if (!err)
		err = add_profile(&g, p, false);
	if (err)
		goto cleanup;
	g.out = open_memstream(&buf, &buf_len);
	if (!g.out) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = render(&g, title);
	if (fclose(g.out) && !err)
		err = -ENOMEM;
	g.out = NULL;
	if (err)
		goto cleanup;
	*svg_out = buf;
	*svg_len = buf_len;
	buf = NULL;
cleanup:
	free(buf);
	fg_release(&g);
	if (p)
		perftools__profiles__profile__free_unpacked(p, NULL);
	if (pb)
		perftools__profiles__profile__free_unpacked(pb, NULL);
	free(plain);
	free(plain_b);
	return err;
}

int flamegraph_svg(const void *pprof, size_t len, const char *title, char **svg_out,
		   size_t *svg_len)
{
	return flamegraph_render(NULL, 0, pprof, len, false, title, svg_out, svg_len);
}

int flamegraph_diff_svg(const void *before, size_t before_len, const void *after, size_t after_len,
			const char *title, char **svg_out, size_t *svg_len)
{
	return flamegraph_render(before, before_len, after, after_len, true, title, svg_out,
				 svg_len);
}
