/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig_yaml.c -- kubeconfig text (YAML or JSON) to a json-c tree, via libyaml.
 *
 * The one file that includes <yaml.h>. libyaml's event parser reads the YAML
 * (block and flow collections, plain, quoted and block scalars, anchors and
 * aliases, comments, a BOM, LF/CRLF/CR line ends; JSON is YAML too); this
 * file turns its events into json-c objects with an explicit stack, so a
 * deep document cannot exhaust the C stack, and gives scalars the meaning
 * kubeconfig.c expects (see kubeconfig.h).
 *
 * An alias shares the anchored json-c object (a reference, not a copy), so
 * it costs no memory, but a reader walking the tree sees every node once per
 * path to it. That walked size is what is capped (YAML_MAX_NODES): a
 * "billion laughs" document, whose aliases of aliases grow exponentially
 * with its length, is refused while being read, before anything walks it.
 */
#include "arr.h"
#include "htab.h"
#include "kubeconfig.h"
#include "kubeconfig_int.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define YAML_MAX_DEPTH	 64
#define YAML_MAX_NODES	 (1u << 20) /* nodes with every alias expanded */
#define YAML_MAX_ANCHORS (1u << 16)

/* One open mapping or sequence. */
struct yframe {
	json_object *obj; /* the collection being filled */
	char *anchor;	  /* its anchor, registered when it closes, or NULL */
	char *key;	  /* mapping: key waiting for its value, or NULL */
	bool merge;	  /* mapping: the waiting key is the merge key "<<" */
	size_t weight;	  /* nodes below, aliases expanded */
	int height;	  /* levels below (0: no children yet) */
};

struct yanchor {
	char *name;	  /* anchor name, owned */
	json_object *val; /* our own reference; NULL for a null node */
	size_t weight;	  /* nodes in it, aliases expanded */
	int height;	  /* collection levels in it (0 for a scalar) */
};

struct ybuild {
	struct yframe stack[YAML_MAX_DEPTH]; /* open collections */
	int depth;			     /* entries used in stack */
	json_object *root;		     /* the finished top node */
	struct yanchor *anchors;	     /* defined anchors, latest definition wins */
	size_t nanchors, anchors_cap;	     /* used / allocated entries */
	struct htab index;		     /* anchor name -> position in anchors */
	size_t nodes;			     /* walked size so far, capped at YAML_MAX_NODES */
	const char *buf;		     /* the input, to turn byte offsets into lines */
	char *err;			     /* caller's message buffer (may be NULL) */
	size_t errlen;			     /* size of err */
};

static int yerr(struct ybuild *b, const yaml_mark_t *m, const char *what, const char *arg)
{
	kubeconfig_set_err(b->err, b->errlen, "kubeconfig line %zu: %s%.64s", m->line + 1, what,
			   arg ? arg : "");
	return -EINVAL;
}

static int parser_error(struct ybuild *b, const yaml_parser_t *p)
{
	size_t line = p->problem_mark.line;

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	/* Reader errors (bad encoding, control characters) carry a byte offset. */
	if (p->error == YAML_READER_ERROR) {
		line = 0;
		for (size_t i = 0; i < p->problem_offset; i++)
			line += b->buf[i] == '\n';
	}
	kubeconfig_set_err(b->err, b->errlen, "kubeconfig line %zu: %s%s%s", line + 1,
			   p->problem ? p->problem : "invalid YAML", p->context ? ", " : "",
			   p->context ? p->context : "");
	return -EINVAL;
}

/* ---- anchors ------------------------------------------------------------- */

static bool anchor_eq(const void *ctx, uint32_t pos, const void *key)
{
	const struct ybuild *b = ctx;

	return !strcmp(b->anchors[pos].name, key);
}

static struct yanchor *anchor_find(struct ybuild *b, const char *name)
{
	uint32_t pos;

	if (!htab_find(&b->index, htab_hash_str(HTAB_SEED, name), anchor_eq, b, name, &pos))
		return NULL;
	return &b->anchors[pos];
}

/* Remember val (a new reference is taken) under name; a later anchor of the
 * same name replaces an earlier one, as YAML says. */
static int anchor_set(struct ybuild *b, const yaml_mark_t *m, const char *name, json_object *val,
		      size_t weight, int height)
{
	struct yanchor *a = anchor_find(b, name);
	uint64_t hash = htab_hash_str(HTAB_SEED, name);
	int err;

	if (!a) {
		char *dup;

		err = arr_grow((void **)&b->anchors, &b->anchors_cap, b->nanchors + 1,
			       sizeof(*b->anchors), YAML_MAX_ANCHORS);
		if (err == -E2BIG)
			return yerr(b, m, "too many anchors", NULL);
		if (err)
			return err;
		dup = strdup(name);
		if (!dup)
			return -ENOMEM;
		err = htab_insert(&b->index, hash, (uint32_t)b->nanchors);
		if (err) {
			free(dup);
			return err;
		}
		a = &b->anchors[b->nanchors++];
		*a = (struct yanchor){.name = dup};
	}
	json_object_put(a->val);
	a->val = json_object_get(val);
	a->weight = weight;
	a->height = height;
	return 0;
}

/* ---- scalars ------------------------------------------------------------- */

enum plain_kind { PLAIN_STRING, PLAIN_NULL, PLAIN_TRUE, PLAIN_FALSE };

/* The plain scalars that are not strings: kubectl's null and booleans. Other
 * YAML 1.1 words (yes/no/on/off) and numbers stay strings; a field that needs
 * a boolean then refuses them instead of guessing. */
static enum plain_kind plain_kind(const char *s, size_t len)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	static const char *const trues[] = {"true", "True", "TRUE"};
	static const char *const falses[] = {"false", "False", "FALSE"};

	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (len == strlen(nulls[i]) && !memcmp(s, nulls[i], len))
			return PLAIN_NULL;
	for (size_t i = 0; i < 3; i++) {
		if (len == strlen(trues[i]) && !memcmp(s, trues[i], len))
			return PLAIN_TRUE;
		if (len == strlen(falses[i]) && !memcmp(s, falses[i], len))
			return PLAIN_FALSE;
	}
	return PLAIN_STRING;
}

/* The json-c value of a scalar event; *out is NULL for null. Quoted and
 * block scalars are always strings ("true" in quotes is not a boolean). */
static int scalar_value(struct ybuild *b, const yaml_event_t *ev, json_object **out)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	enum plain_kind kind = PLAIN_STRING;

	*out = NULL;
	if (len > INT32_MAX || memchr(s, '\0', len))
		return yerr(b, &ev->start_mark, "NUL character in a scalar", NULL);
	if (!tag) {
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
			kind = plain_kind(s, len);
	} else if (!strcmp(tag, YAML_BOOL_TAG)) {
		kind = plain_kind(s, len);
		if (kind != PLAIN_TRUE && kind != PLAIN_FALSE)
			return yerr(b, &ev->start_mark, "!!bool that is not true or false", NULL);
	} else if (!strcmp(tag, YAML_NULL_TAG)) {
		kind = plain_kind(s, len);
		if (kind != PLAIN_NULL)
			return yerr(b, &ev->start_mark, "!!null that is not null", NULL);
	} else if (strcmp(tag, "!") && strcmp(tag, YAML_STR_TAG) && strcmp(tag, YAML_INT_TAG) &&
		   strcmp(tag, YAML_FLOAT_TAG)) {
		return yerr(b, &ev->start_mark, "unsupported tag ", tag);
	}
	switch (kind) {
	case PLAIN_NULL:
		return 0;
	case PLAIN_TRUE:
	case PLAIN_FALSE:
		*out = json_object_new_boolean(kind == PLAIN_TRUE);
		break;
	case PLAIN_STRING:
		*out = json_object_new_string_len(s, (int)len);
		break;
	}
	return *out ? 0 : -ENOMEM;
}

/* ---- tree building ------------------------------------------------------- */

/* "<<: *base" (or a sequence of them): copy the keys of the mapping(s) the
 * current mapping does not have yet. Keys written after the merge key are
 * added later and replace merged ones, so explicit keys always win. */
static int merge_into(struct ybuild *b, const yaml_mark_t *m, json_object *dst, json_object *src)
{
	if (json_object_is_type(src, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(src); i++) {
			json_object *one = json_object_array_get_idx(src, i);
			int err = json_object_is_type(one, json_type_object)
				      ? merge_into(b, m, dst, one)
				      : yerr(b, m, "merge key \"<<\" needs mappings", NULL);

			if (err)
				return err;
		}
		return 0;
	}
	if (!json_object_is_type(src, json_type_object))
		return yerr(b, m, "merge key \"<<\" needs a mapping", NULL);
	json_object_object_foreach(src, key, val)
	{
		if (json_object_object_get_ex(dst, key, NULL))
			continue;
		if (json_object_object_add(dst, key, json_object_get(val))) {
			json_object_put(val);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Attach a finished node (val, a reference handed over; NULL for null) to
 * the open collection, or make it the root. */
static int add_node(struct ybuild *b, const yaml_mark_t *m, json_object *val, size_t weight,
		    int height, const char *anchor)
{
	struct yframe *f;
	int err = 0;

	if (anchor) {
		err = anchor_set(b, m, anchor, val, weight, height);
		if (err)
			goto cleanup;
	}
	if (b->depth == 0) {
		b->root = val;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	f->weight += weight;
	if (height + 1 > f->height)
		f->height = height + 1;
	if (json_object_is_type(f->obj, json_type_array)) {
		if (json_object_array_add(f->obj, val))
			err = -ENOMEM;
		else
			val = NULL;
		goto cleanup;
	}
	if (f->merge) {
		err = merge_into(b, m, f->obj, val);
	} else if (json_object_object_add(f->obj, f->key, val)) {
		err = -ENOMEM;
	} else {
		val = NULL;
	}
	free(f->key);
	f->key = NULL;
	f->merge = false;
cleanup:
	json_object_put(val);
	return err;
}

/* Count n more nodes of the walked tree against the cap. */
static int count_nodes(struct ybuild *b, const yaml_mark_t *m, size_t n)
{
	if (n > YAML_MAX_NODES - b->nodes)
		return yerr(b, m, "too many nodes once aliases are expanded (alias bomb?)", NULL);
	b->nodes += n;
	return 0;
}

/* A scalar or alias where an open mapping expects a key. */
static int set_key(struct ybuild *b, struct yframe *f, const yaml_event_t *ev)
{
	if (ev->type == YAML_ALIAS_EVENT) {
		struct yanchor *a = anchor_find(b, (const char *)ev->data.alias.anchor);

		if (!a || !json_object_is_type(a->val, json_type_string))
			return yerr(b, &ev->start_mark, "an alias used as a key must name a string",
				    NULL);
		f->key = strdup(json_object_get_string(a->val));
		return f->key ? 0 : -ENOMEM;
	}
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
		return yerr(b, &ev->start_mark, "NUL character in a key", NULL);
	f->key = strdup((const char *)ev->data.scalar.value);
	if (!f->key)
		return -ENOMEM;
	f->merge = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
		   !strcmp(f->key, "<<");
	if (ev->data.scalar.anchor) {
		json_object *s = json_object_new_string(f->key);
		int err = s ? anchor_set(b, &ev->start_mark, (const char *)ev->data.scalar.anchor,
					 s, 1, 0)
			    : -ENOMEM;

		json_object_put(s);
		return err;
	}
	return 0;
}

static int open_collection(struct ybuild *b, const yaml_event_t *ev)
{
	bool map = ev->type == YAML_MAPPING_START_EVENT;
	const char *tag =
	    (const char *)(map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
	const char *anchor =
	    (const char *)(map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
	struct yframe *f;
	int err;

	if (tag && strcmp(tag, "!") && strcmp(tag, map ? YAML_MAP_TAG : YAML_SEQ_TAG))
		return yerr(b, &ev->start_mark, "unsupported tag ", tag);
	if (b->depth == YAML_MAX_DEPTH)
		return yerr(b, &ev->start_mark, "nesting too deep", NULL);
	err = count_nodes(b, &ev->start_mark, 1);
	if (err)
		return err;
	f = &b->stack[b->depth];
	*f = (struct yframe){0};
	f->obj = map ? json_object_new_object() : json_object_new_array();
	if (!f->obj)
		return -ENOMEM;
	if (anchor) {
		f->anchor = strdup(anchor);
		if (!f->anchor) {
			json_object_put(f->obj);
			return -ENOMEM;
		}
	}
	b->depth++;
	return 0;
}

static int close_collection(struct ybuild *b, const yaml_event_t *ev)
{
	struct yframe f = b->stack[--b->depth];
	int err;

	err = add_node(b, &ev->start_mark, f.obj, f.weight + 1, f.height + 1, f.anchor);
	free(f.anchor);
	free(f.key);
	return err;
}

static int on_value(struct ybuild *b, const yaml_event_t *ev)
{
	json_object *val;
	int err;

	if (ev->type == YAML_ALIAS_EVENT) {
		const char *name = (const char *)ev->data.alias.anchor;
		struct yanchor *a = anchor_find(b, name);

		if (!a)
			return yerr(b, &ev->start_mark, "alias to an unknown anchor *", name);
		if (b->depth + a->height > YAML_MAX_DEPTH)
			return yerr(b, &ev->start_mark, "nesting too deep through alias *", name);
		err = count_nodes(b, &ev->start_mark, a->weight);
		if (err)
			return err;
		return add_node(b, &ev->start_mark, json_object_get(a->val), a->weight, a->height,
				NULL);
	}
	err = count_nodes(b, &ev->start_mark, 1);
	if (!err)
		err = scalar_value(b, ev, &val);
	if (err)
		return err;
	return add_node(b, &ev->start_mark, val, 1, 0, (const char *)ev->data.scalar.anchor);
}

/* One event; *done when the document is complete. */
static int on_event(struct ybuild *b, const yaml_event_t *ev, int *docs, bool *done)
{
	struct yframe *top = b->depth ? &b->stack[b->depth - 1] : NULL;
	bool want_key =
	    top && json_object_is_type(top->obj, json_type_object) && !top->key && !top->merge;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		*done = true;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if ((*docs)++)
			return yerr(b, &ev->start_mark, "multiple documents are not supported",
				    NULL);
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		/* After an explicit "..." the rest is not read, as kubectl does. */
		*done = !ev->data.document_end.implicit;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (want_key)
			return yerr(b, &ev->start_mark, "complex mapping keys are not supported",
				    NULL);
		return open_collection(b, ev);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return close_collection(b, ev);
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
		return want_key ? set_key(b, top, ev) : on_value(b, ev);
	default:
		return 0;
	}
}

static void ybuild_release(struct ybuild *b)
{
	while (b->depth > 0) {
		struct yframe *f = &b->stack[--b->depth];

		json_object_put(f->obj);
		free(f->anchor);
		free(f->key);
	}
	for (size_t i = 0; i < b->nanchors; i++) {
		json_object_put(b->anchors[i].val);
		free(b->anchors[i].name);
	}
	free(b->anchors);
	htab_release(&b->index);
	json_object_put(b->root);
	b->root = NULL;
}

int kubeconfig_yaml_parse(const char *buf, size_t len, json_object **out, char *errbuf,
			  size_t errlen)
{
	struct ybuild b = {.buf = buf, .err = errbuf, .errlen = errlen};
	yaml_parser_t parser;
	bool done = false;
	int docs = 0, err = 0;

	/* Capped before libyaml sees it: the file comes from outside. */
	if (len > KUBECONFIG_MAX_BYTES) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig larger than %u bytes",
				   KUBECONFIG_MAX_BYTES);
		return -EFBIG;
	}
	if (memchr(buf, '\0', len)) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig contains a NUL byte");
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && !err) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			err = parser_error(&b, &parser);
			break;
		}
		err = on_event(&b, &ev, &docs, &done);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	/* An empty file (or a null document) is an empty kubeconfig. */
	if (!err && !b.root) {
		b.root = json_object_new_object();
		if (!b.root)
			err = -ENOMEM;
	}
	if (!err) {
		*out = b.root;
		b.root = NULL;
	}
	ybuild_release(&b);
	return err;
}
