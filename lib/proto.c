/* SPDX-License-Identifier: Apache-2.0 */
/* proto.c -- encode, decode and validate podprof.v1 protocol messages.
 *
 * Decoding parses with a depth-limited json-c tokener, then one validator per
 * message type walks the object and copies fields into fixed-size C structs.
 * Encoding builds the json-c object and runs the very same validator over it,
 * so nothing leaves a process that the peer would refuse.
 */
#include "proto.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define JSON_MAX_DEPTH 6 /* deepest legal message: attach.pods[].containers[] */

const char *proto_type_str(enum proto_type t)
{
	switch (t) {
	case PROTO_HELLO:
		return "hello";
	case PROTO_WELCOME:
		return "welcome";
	case PROTO_ATTACH:
		return "attach";
	case PROTO_DETACH:
		return "detach";
	case PROTO_PROGRESS:
		return "progress";
	case PROTO_ERROR:
		return "error";
	case PROTO_HEARTBEAT:
		return "heartbeat";
	case PROTO_NONE:
		break;
	}
	return "?";
}

const char *proto_status_str(enum proto_status s)
{
	switch (s) {
	case PROTO_OK:
		return "ok";
	case PROTO_E_TOO_BIG:
		return "too_big";
	case PROTO_E_BAD_JSON:
		return "bad_json";
	case PROTO_E_BAD_VERSION:
		return "bad_version";
	case PROTO_E_UNKNOWN_TYPE:
		return "unknown_type";
	case PROTO_E_MISSING:
		return "missing_field";
	case PROTO_E_WRONG_TYPE:
		return "wrong_type";
	case PROTO_E_TOO_LONG:
		return "bad_string";
	case PROTO_E_TOO_MANY:
		return "too_many";
	case PROTO_E_RANGE:
		return "out_of_range";
	case PROTO_E_BAD_HEADER:
		return "bad_header";
	}
	return "?";
}

static enum proto_type type_from_str(const char *s)
{
	for (int t = PROTO_HELLO; t <= PROTO_HEARTBEAT; t++) {
		if (strcmp(s, proto_type_str((enum proto_type)t)) == 0)
			return (enum proto_type)t;
	}
	return PROTO_NONE;
}

/* Record the first refusal only: it names the root cause. */
static int fail(struct proto_err *err, enum proto_status st, const char *field)
{
	if (err && err->status == PROTO_OK) {
		err->status = st;
		snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
	}
	return st == PROTO_E_TOO_BIG ? -E2BIG : -EINVAL;
}

/* ---- field readers --------------------------------------------------------- */

enum str_class {
	STR_IDENT, /* printable ASCII, no spaces: ids, names, codes */
	STR_TEXT,  /* any UTF-8 without control characters: messages */
	STR_TOKEN, /* printable ASCII: bearer tokens */
};

static bool str_ok(const char *s, size_t len, enum str_class cls)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
		if (cls != STR_TEXT && c > 0x7e)
			return false;
		if (cls == STR_IDENT && c == ' ')
			return false;
	}
	return true;
}

/* Copy string field key into dst (cap = max length + 1). A missing optional
 * field leaves dst "". Empty strings are refused unless allow_empty. */
static int get_str(struct json_object *o, const char *key, char *dst, size_t cap, bool required,
		   bool allow_empty, enum str_class cls, struct proto_err *err, const char *fname)
{
	struct json_object *v;
	const char *s;
	size_t len;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return required ? fail(err, PROTO_E_MISSING, fname) : 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(err, PROTO_E_WRONG_TYPE, fname);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	/* A \u0000 inside would silently truncate the C copy: refuse it. */
	if (len >= cap || strlen(s) != len || (!allow_empty && len == 0) || !str_ok(s, len, cls))
		return fail(err, PROTO_E_TOO_LONG, fname);
	memcpy(dst, s, len + 1);
	return 0;
}

static int get_u64(struct json_object *o, const char *key, uint64_t *dst, uint64_t min,
		   uint64_t max, bool required, struct proto_err *err, const char *fname)
{
	struct json_object *v;
	int64_t x;

	*dst = 0;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return required ? fail(err, PROTO_E_MISSING, fname) : 0;
	if (!json_object_is_type(v, json_type_int))
		return fail(err, PROTO_E_WRONG_TYPE, fname);
	errno = 0;
	x = json_object_get_int64(v);
	/* json-c stores literals above INT64_MAX as uint64 and get_int64 clamps
	 * them to INT64_MAX without errno: tell the two apart by the uint64 view,
	 * so that an out-of-range literal is refused, never clamped. */
	if (errno || x < 0 ||
	    (x == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX) ||
	    (uint64_t)x < min || (uint64_t)x > max)
		return fail(err, PROTO_E_RANGE, fname);
	*dst = (uint64_t)x;
	return 0;
}

static int get_bool(struct json_object *o, const char *key, bool *dst, bool required,
		    struct proto_err *err, const char *fname)
{
	struct json_object *v;

	*dst = false;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return required ? fail(err, PROTO_E_MISSING, fname) : 0;
	if (!json_object_is_type(v, json_type_boolean))
		return fail(err, PROTO_E_WRONG_TYPE, fname);
	*dst = json_object_get_boolean(v);
	return 0;
}

/* Fetch array field key; *n is its length, checked against max. */
static int get_array(struct json_object *o, const char *key, struct json_object **arr, size_t *n,
		     size_t max, bool required, struct proto_err *err, const char *fname)
{
	struct json_object *v;

	*arr = NULL;
	*n = 0;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return required ? fail(err, PROTO_E_MISSING, fname) : 0;
	if (!json_object_is_type(v, json_type_array))
		return fail(err, PROTO_E_WRONG_TYPE, fname);
	*n = json_object_array_length(v);
	if (*n > max)
		return fail(err, PROTO_E_TOO_MANY, fname);
	*arr = v;
	return 0;
}

static struct json_object *array_obj(struct json_object *arr, size_t i, struct proto_err *err,
				     const char *fname)
{
	struct json_object *e = json_object_array_get_idx(arr, i);

	if (!e || !json_object_is_type(e, json_type_object)) {
		fail(err, PROTO_E_WRONG_TYPE, fname);
		return NULL;
	}
	return e;
}

/* Fetch optional object field key; *obj is NULL when absent. */
static int get_obj(struct json_object *o, const char *key, struct json_object **obj,
		   struct proto_err *err, const char *fname)
{
	struct json_object *v;

	*obj = NULL;
	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return fail(err, PROTO_E_WRONG_TYPE, fname);
	*obj = v;
	return 0;
}

/* An object of optional counters (0..INT64_MAX each; a missing one reads as
 * 0), described once for the validator and the builder. */
struct counter_field {
	const char *key;
	size_t off; /* of a uint64_t in the C struct */
};

static const struct counter_field symbols_fields[] = {
    {"binaries", offsetof(struct proto_symbols, binaries)},
    {"bytes", offsetof(struct proto_symbols, bytes)},
    {"maxBytes", offsetof(struct proto_symbols, max_bytes)},
    {"hits", offsetof(struct proto_symbols, hits)},
    {"misses", offsetof(struct proto_symbols, misses)},
    {"evictions", offsetof(struct proto_symbols, evictions)},
    {NULL, 0},
};

static const struct counter_field unwind_fields[] = {
    {"tables", offsetof(struct proto_unwind, tables)},
    {"rows", offsetof(struct proto_unwind, rows)},
    {"rowsCapacity", offsetof(struct proto_unwind, rows_capacity)},
    {"evictions", offsetof(struct proto_unwind, evictions)},
    {NULL, 0},
};

/* Read object field key into dst (a struct starting with `bool present`,
 * then the fields' counters); absent leaves it zeroed and not present. */
static int get_counters(struct json_object *o, const char *key, const struct counter_field *f,
			void *dst, bool *present, struct proto_err *err)
{
	struct json_object *obj;
	char fname[48];
	int e = get_obj(o, key, &obj, err, key);

	*present = false;
	if (e || !obj)
		return e;
	for (; f->key; f++) {
		snprintf(fname, sizeof(fname), "%s.%s", key, f->key);
		e = get_u64(obj, f->key, (uint64_t *)((char *)dst + f->off), 0, INT64_MAX, false,
			    err, fname);
		if (e)
			return e;
	}
	*present = true;
	return 0;
}

bool proto_node_name_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > PROTO_MAX_NODE_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		/* Labels start and end alphanumeric: no "", ".", "..", "-x", "x-". */
		bool edge = i == 0 || i == len - 1 || s[i - 1] == '.' || s[i + 1] == '.';

		if (alnum)
			continue;
		if ((c != '-' && c != '.') || edge)
			return false;
	}
	return true;
}

/* ---- per-type validators (JSON object -> C struct) ---------------------------- */

static int val_hello(struct json_object *o, struct proto_hello *h, struct proto_err *err)
{
	struct json_object *arr, *v;
	char tok[PROTO_MAX_TOKEN_LEN + 1];
	size_t n;
	int e;

	e = get_str(o, "node", h->node, sizeof(h->node), true, false, STR_IDENT, err, "node");
	/* The node name becomes part of object keys and file names: DNS-1123 only. */
	if (!e && !proto_node_name_valid(h->node))
		e = fail(err, PROTO_E_TOO_LONG, "node");
	if (!e)
		e = get_str(o, "version", h->version, sizeof(h->version), true, false, STR_IDENT,
			    err, "version");
	if (!e)
		e = get_array(o, "capabilities", &arr, &n, PROTO_MAX_CAPS, false, err,
			      "capabilities");
	for (size_t i = 0; !e && i < n; i++) {
		v = json_object_array_get_idx(arr, i);
		if (!v || !json_object_is_type(v, json_type_string)) {
			e = fail(err, PROTO_E_WRONG_TYPE, "capabilities[]");
			break;
		}
		const char *s = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v);

		if (len == 0 || len > PROTO_MAX_CAP_LEN || strlen(s) != len ||
		    !str_ok(s, len, STR_IDENT)) {
			e = fail(err, PROTO_E_TOO_LONG, "capabilities[]");
			break;
		}
		memcpy(h->caps[i], s, len + 1);
		h->n_caps = i + 1;
	}
	if (!e)
		e = get_str(o, "token", tok, sizeof(tok), false, false, STR_TOKEN, err, "token");
	if (!e && tok[0]) {
		h->token = strdup(tok);
		if (!h->token)
			e = -ENOMEM;
	}
	/* The stack copy held a secret: do not leave it behind. */
	explicit_bzero(tok, sizeof(tok));
	return e;
}

static int val_welcome(struct json_object *o, struct proto_welcome *w, struct proto_err *err)
{
	uint64_t hb;
	int e;

	e = get_str(o, "version", w->version, sizeof(w->version), true, false, STR_IDENT, err,
		    "version");
	if (!e)
		e = get_u64(o, "heartbeatMs", &hb, 100, 3600 * 1000, true, err, "heartbeatMs");
	if (!e) {
		w->heartbeat_ms = (uint32_t)hb;
		e = get_u64(o, "maxProfileBytes", &w->max_profile_bytes, 1024, 1ULL << 32, true,
			    err, "maxProfileBytes");
	}
	return e;
}

static int val_container(struct json_object *o, struct proto_container *c, struct proto_err *err)
{
	int e = get_str(o, "name", c->name, sizeof(c->name), true, false, STR_IDENT, err,
			"pods[].containers[].name");

	if (!e)
		e = get_str(o, "id", c->id, sizeof(c->id), false, true, STR_IDENT, err,
			    "pods[].containers[].id");
	return e;
}

static int val_pod(struct json_object *o, struct proto_pod *p, struct proto_err *err)
{
	struct json_object *arr, *c;
	size_t n;
	int e;

	e = get_str(o, "uid", p->uid, sizeof(p->uid), true, false, STR_IDENT, err, "pods[].uid");
	if (!e)
		e = get_str(o, "namespace", p->ns, sizeof(p->ns), true, false, STR_IDENT, err,
			    "pods[].namespace");
	if (!e)
		e = get_str(o, "name", p->name, sizeof(p->name), true, false, STR_IDENT, err,
			    "pods[].name");
	if (!e)
		e = get_array(o, "containers", &arr, &n, PROTO_MAX_CONTAINERS, true, err,
			      "pods[].containers");
	if (e)
		return e;
	if (n) {
		p->containers = calloc(n, sizeof(*p->containers));
		if (!p->containers)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		c = array_obj(arr, i, err, "pods[].containers[]");
		if (!c)
			return -EINVAL;
		e = val_container(c, &p->containers[i], err);
		if (e)
			return e;
		p->n_containers = i + 1;
	}
	return 0;
}

static int val_attach(struct json_object *o, struct proto_attach *a, struct proto_err *err)
{
	char kind[8] = ""; /* "cpu" or "offcpu" */
	struct json_object *arr, *p;
	uint64_t f = 0;
	size_t n;
	int e;

	e = get_str(o, "jobId", a->job_id, sizeof(a->job_id), true, false, STR_IDENT, err, "jobId");
	if (!e)
		e = get_u64(o, "frequencyHz", &f, PROTO_MIN_FREQ_HZ, PROTO_MAX_FREQ_HZ, true, err,
			    "frequencyHz");
	a->frequency_hz = (uint32_t)f;
	if (!e)
		e = get_bool(o, "kernelStacks", &a->kernel_stacks, false, err, "kernelStacks");
	if (!e)
		e = get_bool(o, "framePointers", &a->frame_pointers, false, err, "framePointers");
	if (!e)
		e = get_str(o, "profile", kind, sizeof(kind), false, false, STR_IDENT, err,
			    "profile");
	if (!e && kind[0] && strcmp(kind, "cpu") != 0 && strcmp(kind, "offcpu") != 0)
		e = fail(err, PROTO_E_RANGE, "profile");
	a->offcpu = strcmp(kind, "offcpu") == 0;
	if (!e && !json_object_object_get_ex(o, "minBlockUs", NULL))
		a->min_block_us = PROTO_DEFAULT_MIN_BLOCK_US;
	else if (!e)
		e = get_u64(o, "minBlockUs", &a->min_block_us, 0, PROTO_MAX_MIN_BLOCK_US, false,
			    err, "minBlockUs");
	if (!e)
		e = get_u64(o, "windowMs", &a->window_ms, 1, PROTO_MAX_WINDOW_MS, true, err,
			    "windowMs");
	if (!e)
		e = get_array(o, "pods", &arr, &n, PROTO_MAX_PODS, true, err, "pods");
	if (e)
		return e;
	if (n) {
		a->pods = calloc(n, sizeof(*a->pods));
		if (!a->pods)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		p = array_obj(arr, i, err, "pods[]");
		if (!p)
			return -EINVAL;
		/* Count first so that proto_attach_free sees partial containers. */
		a->n_pods = i + 1;
		e = val_pod(p, &a->pods[i], err);
		if (e)
			return e;
	}
	return 0;
}

static int val_detach(struct json_object *o, struct proto_detach *d, struct proto_err *err)
{
	return get_str(o, "jobId", d->job_id, sizeof(d->job_id), true, false, STR_IDENT, err,
		       "jobId");
}

static int val_progress(struct json_object *o, struct proto_progress *p, struct proto_err *err)
{
	struct json_object *arr, *po;
	uint64_t x = 0;
	size_t n;
	int e;

	e = get_str(o, "jobId", p->job_id, sizeof(p->job_id), true, false, STR_IDENT, err, "jobId");
	if (!e)
		e = get_u64(o, "samples", &p->samples, 0, INT64_MAX, true, err, "samples");
	if (!e)
		e = get_u64(o, "drops", &p->drops, 0, INT64_MAX, false, err, "drops");
	if (!e)
		e = get_u64(o, "truncated", &p->truncated, 0, INT64_MAX, false, err, "truncated");
	if (!e)
		e = get_u64(o, "cgroups", &x, 0, UINT32_MAX, false, err, "cgroups");
	p->cgroups = (uint32_t)x;
	if (!e)
		e = get_u64(o, "errors", &x, 0, UINT32_MAX, false, err, "errors");
	p->errors = (uint32_t)x;
	if (!e)
		e = get_bool(o, "final", &p->final, false, err, "final");
	if (!e)
		e = get_array(o, "pods", &arr, &n, PROTO_MAX_PODS, false, err, "pods");
	if (e)
		return e;
	if (n) {
		p->pods = calloc(n, sizeof(*p->pods));
		if (!p->pods)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		po = array_obj(arr, i, err, "pods[]");
		if (!po)
			return -EINVAL;
		e = get_str(po, "uid", p->pods[i].uid, sizeof(p->pods[i].uid), true, false,
			    STR_IDENT, err, "pods[].uid");
		if (!e)
			e = get_u64(po, "samples", &p->pods[i].samples, 0, INT64_MAX, true, err,
				    "pods[].samples");
		if (e)
			return e;
		p->n_pods = i + 1;
	}
	e = get_counters(o, "symbols", symbols_fields, &p->symbols, &p->symbols.present, err);
	if (!e)
		e = get_counters(o, "unwind", unwind_fields, &p->unwind, &p->unwind.present, err);
	if (!e)
		e = get_array(o, "notices", &arr, &n, PROTO_MAX_NOTICES, false, err, "notices");
	if (e)
		return e;
	if (n) {
		p->notices = calloc(n, sizeof(*p->notices));
		if (!p->notices)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct proto_notice *pn = &p->notices[i];

		po = array_obj(arr, i, err, "notices[]");
		if (!po)
			return -EINVAL;
		e = get_str(po, "code", pn->code, sizeof(pn->code), true, false, STR_IDENT, err,
			    "notices[].code");
		if (!e)
			e = get_str(po, "message", pn->message, sizeof(pn->message), true, false,
				    STR_TEXT, err, "notices[].message");
		if (e)
			return e;
		p->n_notices = i + 1;
	}
	return 0;
}

static int val_error(struct json_object *o, struct proto_error_msg *m, struct proto_err *err)
{
	int e = get_str(o, "jobId", m->job_id, sizeof(m->job_id), false, false, STR_IDENT, err,
			"jobId");

	if (!e)
		e = get_str(o, "code", m->code, sizeof(m->code), true, false, STR_IDENT, err,
			    "code");
	if (!e)
		e = get_str(o, "message", m->message, sizeof(m->message), true, true, STR_TEXT, err,
			    "message");
	return e;
}

static int val_heartbeat(struct json_object *o, struct proto_heartbeat *h, struct proto_err *err)
{
	return get_u64(o, "seq", &h->seq, 0, INT64_MAX, false, err, "seq");
}

/* Validate a parsed top-level object into out (type already checked). */
static int validate(struct json_object *root, struct proto_msg *out, struct proto_err *err)
{
	struct json_object *v;
	enum proto_type t;
	int e;

	if (!json_object_is_type(root, json_type_object)) {
		fail(err, PROTO_E_BAD_JSON, "");
		return -EPROTO;
	}
	if (!json_object_object_get_ex(root, "v", &v) || !v ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != PROTO_VERSION) {
		fail(err, PROTO_E_BAD_VERSION, "v");
		return -EPROTO;
	}
	if (!json_object_object_get_ex(root, "type", &v) || !v ||
	    !json_object_is_type(v, json_type_string)) {
		fail(err, PROTO_E_UNKNOWN_TYPE, "type");
		return -EPROTO;
	}
	t = type_from_str(json_object_get_string(v));
	if (t == PROTO_NONE) {
		fail(err, PROTO_E_UNKNOWN_TYPE, "type");
		return -EPROTO;
	}
	memset(out, 0, sizeof(*out));
	out->type = t;
	switch (t) {
	case PROTO_HELLO:
		e = val_hello(root, &out->u.hello, err);
		break;
	case PROTO_WELCOME:
		e = val_welcome(root, &out->u.welcome, err);
		break;
	case PROTO_ATTACH:
		e = val_attach(root, &out->u.attach, err);
		break;
	case PROTO_DETACH:
		e = val_detach(root, &out->u.detach, err);
		break;
	case PROTO_PROGRESS:
		e = val_progress(root, &out->u.progress, err);
		break;
	case PROTO_ERROR:
		e = val_error(root, &out->u.error, err);
		break;
	case PROTO_HEARTBEAT:
		e = val_heartbeat(root, &out->u.heartbeat, err);
		break;
	default:
		e = -EPROTO;
		break;
	}
	if (e)
		proto_msg_free(out);
	return e;
}

int proto_decode(const char *buf, size_t len, struct proto_msg *out, struct proto_err *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	int e;

	if (err)
		memset(err, 0, sizeof(*err));
	memset(out, 0, sizeof(*out));
	if (len > PROTO_MAX_TEXT_FRAME)
		return fail(err, PROTO_E_TOO_BIG, "");
	if (!buf || len == 0) {
		fail(err, PROTO_E_BAD_JSON, "");
		return -EPROTO;
	}
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, buf, (int)len);
	/* One complete value that consumes the whole frame, nothing after it. */
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		fail(err, PROTO_E_BAD_JSON, "");
		e = -EPROTO;
		goto cleanup;
	}
	e = validate(root, out, err);
cleanup:
	json_object_put(root);
	json_tokener_free(tok);
	return e;
}

/* ---- encoding -------------------------------------------------------------- */

static int add_str(struct json_object *o, const char *k, const char *v)
{
	struct json_object *s = json_object_new_string(v);

	if (!s)
		return -ENOMEM;
	return json_object_object_add(o, k, s) ? -ENOMEM : 0;
}

static int add_u64(struct json_object *o, const char *k, uint64_t v)
{
	/* Values above INT64_MAX are refused by the validator anyway. */
	struct json_object *n = json_object_new_int64(v > INT64_MAX ? -1 : (int64_t)v);

	if (!n)
		return -ENOMEM;
	return json_object_object_add(o, k, n) ? -ENOMEM : 0;
}

static int add_bool(struct json_object *o, const char *k, bool v)
{
	struct json_object *b = json_object_new_boolean(v);

	if (!b)
		return -ENOMEM;
	return json_object_object_add(o, k, b) ? -ENOMEM : 0;
}

static int add_obj(struct json_object *parent, const char *k, struct json_object *child)
{
	if (!child)
		return -ENOMEM;
	if (k)
		return json_object_object_add(parent, k, child) ? -ENOMEM : 0;
	return json_object_array_add(parent, child) ? -ENOMEM : 0;
}

static int add_counters(struct json_object *o, const char *key, const struct counter_field *f,
			const void *src)
{
	struct json_object *obj = json_object_new_object();
	int e = add_obj(o, key, obj);

	for (; !e && f->key; f++)
		e = add_u64(obj, f->key, *(const uint64_t *)((const char *)src + f->off));
	return e;
}

static int build_attach(struct json_object *o, const struct proto_attach *a)
{
	struct json_object *pods = json_object_new_array();
	int e = add_obj(o, "pods", pods);

	if (!e)
		e = add_str(o, "jobId", a->job_id);
	if (!e)
		e = add_u64(o, "frequencyHz", a->frequency_hz);
	if (!e)
		e = add_bool(o, "kernelStacks", a->kernel_stacks);
	if (!e && a->frame_pointers)
		e = add_bool(o, "framePointers", true);
	if (!e && a->offcpu)
		e = add_str(o, "profile", "offcpu");
	if (!e && a->offcpu)
		e = add_u64(o, "minBlockUs", a->min_block_us);
	if (!e)
		e = add_u64(o, "windowMs", a->window_ms);
	/* Bound the loop by the cap: the validator refuses the excess anyway. */
	for (size_t i = 0; !e && i < a->n_pods && i <= PROTO_MAX_PODS; i++) {
		const struct proto_pod *p = &a->pods[i];
		struct json_object *po = json_object_new_object(), *ctrs;

		e = add_obj(pods, NULL, po);
		if (!e)
			e = add_str(po, "uid", p->uid);
		if (!e)
			e = add_str(po, "namespace", p->ns);
		if (!e)
			e = add_str(po, "name", p->name);
		ctrs = e ? NULL : json_object_new_array();
		if (!e)
			e = add_obj(po, "containers", ctrs);
		for (size_t j = 0; !e && j < p->n_containers && j <= PROTO_MAX_CONTAINERS; j++) {
			struct json_object *c = json_object_new_object();

			e = add_obj(ctrs, NULL, c);
			if (!e)
				e = add_str(c, "name", p->containers[j].name);
			if (!e)
				e = add_str(c, "id", p->containers[j].id);
		}
	}
	return e;
}

static int build_progress(struct json_object *o, const struct proto_progress *p)
{
	struct json_object *pods = json_object_new_array();
	int e = add_obj(o, "pods", pods);

	if (!e)
		e = add_str(o, "jobId", p->job_id);
	if (!e)
		e = add_u64(o, "samples", p->samples);
	if (!e)
		e = add_u64(o, "drops", p->drops);
	if (!e)
		e = add_u64(o, "truncated", p->truncated);
	if (!e)
		e = add_u64(o, "cgroups", p->cgroups);
	if (!e)
		e = add_u64(o, "errors", p->errors);
	if (!e)
		e = add_bool(o, "final", p->final);
	for (size_t i = 0; !e && i < p->n_pods && i <= PROTO_MAX_PODS; i++) {
		struct json_object *po = json_object_new_object();

		e = add_obj(pods, NULL, po);
		if (!e)
			e = add_str(po, "uid", p->pods[i].uid);
		if (!e)
			e = add_u64(po, "samples", p->pods[i].samples);
	}
	if (!e && p->symbols.present)
		e = add_counters(o, "symbols", symbols_fields, &p->symbols);
	if (!e && p->unwind.present)
		e = add_counters(o, "unwind", unwind_fields, &p->unwind);
	if (!e && p->n_notices) {
		struct json_object *arr = json_object_new_array();

		e = add_obj(o, "notices", arr);
		for (size_t i = 0; !e && i < p->n_notices && i <= PROTO_MAX_NOTICES; i++) {
			struct json_object *no = json_object_new_object();

			e = add_obj(arr, NULL, no);
			if (!e)
				e = add_str(no, "code", p->notices[i].code);
			if (!e)
				e = add_str(no, "message", p->notices[i].message);
		}
	}
	return e;
}

static int build(struct json_object *o, const struct proto_msg *m)
{
	int e = add_u64(o, "v", PROTO_VERSION);

	if (!e)
		e = add_str(o, "type", proto_type_str(m->type));
	if (e)
		return e;
	switch (m->type) {
	case PROTO_HELLO: {
		struct json_object *caps = json_object_new_array();

		e = add_str(o, "node", m->u.hello.node);
		if (!e)
			e = add_str(o, "version", m->u.hello.version);
		if (!e)
			e = add_obj(o, "capabilities", caps);
		for (size_t i = 0; !e && i < m->u.hello.n_caps && i < PROTO_MAX_CAPS; i++)
			e = add_obj(caps, NULL, json_object_new_string(m->u.hello.caps[i]));
		if (!e && m->u.hello.token)
			e = add_str(o, "token", m->u.hello.token);
		return e;
	}
	case PROTO_WELCOME:
		e = add_str(o, "version", m->u.welcome.version);
		if (!e)
			e = add_u64(o, "heartbeatMs", m->u.welcome.heartbeat_ms);
		if (!e)
			e = add_u64(o, "maxProfileBytes", m->u.welcome.max_profile_bytes);
		return e;
	case PROTO_ATTACH:
		return build_attach(o, &m->u.attach);
	case PROTO_DETACH:
		return add_str(o, "jobId", m->u.detach.job_id);
	case PROTO_PROGRESS:
		return build_progress(o, &m->u.progress);
	case PROTO_ERROR:
		if (m->u.error.job_id[0])
			e = add_str(o, "jobId", m->u.error.job_id);
		if (!e)
			e = add_str(o, "code", m->u.error.code);
		if (!e)
			e = add_str(o, "message", m->u.error.message);
		return e;
	case PROTO_HEARTBEAT:
		return add_u64(o, "seq", m->u.heartbeat.seq);
	case PROTO_NONE:
		break;
	}
	return -EINVAL;
}

int proto_encode(const struct proto_msg *msg, char **out, size_t *out_len, struct proto_err *err)
{
	struct json_object *o = NULL;
	struct proto_msg check = {0};
	const char *s;
	size_t len;
	int e;

	if (err)
		memset(err, 0, sizeof(*err));
	*out = NULL;
	*out_len = 0;
	if (type_from_str(proto_type_str(msg->type)) == PROTO_NONE) {
		e = fail(err, PROTO_E_UNKNOWN_TYPE, "type");
		goto cleanup;
	}
	o = json_object_new_object();
	if (!o) {
		e = -ENOMEM;
		goto cleanup;
	}
	e = build(o, msg);
	if (e)
		goto cleanup;
	/* Same rules as the receiver: refuse to send what it would refuse. */
	e = validate(o, &check, err);
	proto_msg_free(&check);
	if (e) {
		e = -EINVAL;
		goto cleanup;
	}
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	len = s ? strlen(s) : 0;
	if (!s) {
		e = -ENOMEM;
		goto cleanup;
	}
	if (len > PROTO_MAX_TEXT_FRAME) {
		e = fail(err, PROTO_E_TOO_BIG, "");
		goto cleanup;
	}
	*out = strdup(s);
	if (!*out) {
		e = -ENOMEM;
		goto cleanup;
	}
	*out_len = len;
	e = 0;
cleanup:
	json_object_put(o);
	return e;
}

void proto_attach_free(struct proto_attach *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_pods; i++)
		free(a->pods[i].containers);
	free(a->pods);
	a->pods = NULL;
	a->n_pods = 0;
}

int proto_attach_copy(struct proto_attach *dst, const struct proto_attach *src)
{
	*dst = *src;
	dst->pods = NULL;
	dst->n_pods = 0;
	if (!src->n_pods)
		return 0;
	dst->pods = calloc(src->n_pods, sizeof(*dst->pods));
	if (!dst->pods)
		return -ENOMEM;
	for (size_t i = 0; i < src->n_pods; i++) {
		const struct proto_pod *sp = &src->pods[i];
		struct proto_pod *dp = &dst->pods[i];

		*dp = *sp;
		dp->containers = NULL;
		dp->n_containers = 0;
		dst->n_pods = i + 1;
		if (!sp->n_containers)
			continue;
		dp->containers = calloc(sp->n_containers, sizeof(*dp->containers));
		if (!dp->containers) {
			proto_attach_free(dst);
			return -ENOMEM;
		}
		memcpy(dp->containers, sp->containers, sp->n_containers * sizeof(*dp->containers));
		dp->n_containers = sp->n_containers;
	}
	return 0;
}

void proto_msg_free(struct proto_msg *msg)
{
	if (!msg)
		return;
	switch (msg->type) {
	case PROTO_HELLO:
		if (msg->u.hello.token) {
			explicit_bzero(msg->u.hello.token, strlen(msg->u.hello.token));
			free(msg->u.hello.token);
		}
		break;
	case PROTO_ATTACH:
		proto_attach_free(&msg->u.attach);
		break;
	case PROTO_PROGRESS:
		free(msg->u.progress.pods);
		free(msg->u.progress.notices);
		break;
	default:
		break;
	}
	memset(msg, 0, sizeof(*msg));
}

/* ---- binary profile header ----------------------------------------------------- */

int proto_profile_header_encode(uint8_t *buf, size_t cap, const char *job_id, uint8_t flags)
{
	size_t n = job_id ? strnlen(job_id, PROTO_MAX_JOB_ID_LEN + 1) : 0;

	if (n == 0 || n > PROTO_MAX_JOB_ID_LEN || !str_ok(job_id, n, STR_IDENT) ||
	    (flags & ~PROTO_PROFILE_FINAL))
		return -EINVAL;
	if (cap < 8 + n)
		return -ENOSPC;
	memcpy(buf, PROTO_PROFILE_MAGIC, 4);
	buf[4] = PROTO_VERSION;
	buf[5] = flags;
	buf[6] = (uint8_t)(n >> 8);
	buf[7] = (uint8_t)n;
	memcpy(buf + 8, job_id, n);
	return (int)(8 + n);
}

int proto_profile_header_decode(const uint8_t *buf, size_t len, struct proto_profile_header *out,
				struct proto_err *err)
{
	size_t n;

	if (err)
		memset(err, 0, sizeof(*err));
	memset(out, 0, sizeof(*out));
	if (len < 8 || memcmp(buf, PROTO_PROFILE_MAGIC, 4) != 0) {
		fail(err, PROTO_E_BAD_HEADER, "magic");
		return -EPROTO;
	}
	if (buf[4] != PROTO_VERSION) {
		fail(err, PROTO_E_BAD_VERSION, "version");
		return -EPROTO;
	}
	if (buf[5] & ~PROTO_PROFILE_FINAL) {
		fail(err, PROTO_E_BAD_HEADER, "flags");
		return -EPROTO;
	}
	n = ((size_t)buf[6] << 8) | buf[7];
	if (n == 0 || n > PROTO_MAX_JOB_ID_LEN || len < 8 + n ||
	    !str_ok((const char *)buf + 8, n, STR_IDENT)) {
		fail(err, PROTO_E_BAD_HEADER, "jobId");
		return -EPROTO;
	}
	out->flags = buf[5];
	memcpy(out->job_id, buf + 8, n);
	out->job_id[n] = '\0';
	return (int)(8 + n);
}
