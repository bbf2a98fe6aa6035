/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig.c -- kubeconfig / in-cluster settings, with a small YAML-subset parser.
 *
 * The YAML parser is line based: each non-blank, non-comment line becomes
 * (indent, text), and a recursive descent builds json-c objects from block
 * mappings and sequences. A "- key: v" sequence item is handled by rewriting
 * that line in place as "key: v" indented to the column after the dash, so
 * its continuation lines form an ordinary mapping at that column. The limits
 * are listed in kubeconfig.h; anything outside them is refused, not guessed.
 */
#include "kubeconfig.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_LINES 200000

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* ---- base64 ------------------------------------------------------------- */

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int kubeconfig_base64_decode(const char *in, size_t len, char **out, size_t *out_len)
{
	char *buf = malloc(len / 4 * 3 + 4);
	unsigned int acc = 0;
	size_t n = 0;
	int bits = 0, pad = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		int v;

		if (isspace(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64_val(c);
		if (v < 0 || pad) {
			free(buf);
			return -EINVAL;
		}
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return 0;
}

/* ---- YAML subset -------------------------------------------------------- */

struct yline {
	int indent;    /* leading spaces */
	const char *s; /* text after the indent, not NUL-terminated */
	size_t len;    /* bytes in s, trailing blanks removed */
	int lineno;    /* 1-based line in the input, for messages */
};

struct yparser {
	struct yline *lines; /* significant lines only */
	size_t n;	     /* number of lines */
	size_t pos;	     /* next line to consume */
	int depth;	     /* current nesting, capped at YAML_MAX_DEPTH */
	char *err;	     /* caller's message buffer (may be NULL) */
	size_t errlen;	     /* size of err */
};

static int yerr(struct yparser *p, int lineno, const char *what)
{
	set_err(p->err, p->errlen, "kubeconfig line %d: %s", lineno, what);
	return -EINVAL;
}

static int split_lines(struct yparser *p, const char *buf, size_t len)
{
	size_t cap = 0, i = 0;
	int lineno = 0;
	bool seen_content = false;

	/* Editors on Windows write a UTF-8 byte-order mark: not part of a key. */
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		i = 3;
	while (i < len) {
		size_t start = i, end;
		int indent = 0;
		struct yline *l;

		lineno++;
		/* Lines end in LF, CRLF or a lone CR (old Mac files). */
		while (i < len && buf[i] != '\n' && buf[i] != '\r')
			i++;
		end = i;
		if (i < len && buf[i] == '\r' && i + 1 < len && buf[i + 1] == '\n')
			i++;
		if (i < len)
			i++;
		if (lineno > YAML_MAX_LINES)
			return yerr(p, lineno, "too many lines");
		while (start + (size_t)indent < end && buf[start + indent] == ' ')
			indent++;
		if (start + (size_t)indent < end && buf[start + indent] == '\t')
			return yerr(p, lineno, "tab in indentation");
		start += (size_t)indent;
		while (end > start &&
		       (buf[end - 1] == ' ' || buf[end - 1] == '\t' || buf[end - 1] == '\r'))
			end--;
		if (end == start || buf[start] == '#')
			continue;
		if (indent == 0 && end - start >= 3 && !strncmp(buf + start, "---", 3) &&
		    (end - start == 3 || buf[start + 3] == ' ')) {
			if (seen_content)
				return yerr(p, lineno, "multiple documents are not supported");
			continue;
		}
		if (indent == 0 && end - start == 3 && !strncmp(buf + start, "...", 3))
			break;
		seen_content = true;
		if (p->n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct yline *nl = realloc(p->lines, ncap * sizeof(*nl));

			if (!nl)
				return -ENOMEM;
			p->lines = nl;
			cap = ncap;
		}
		l = &p->lines[p->n++];
		l->indent = indent;
		l->s = buf + start;
		l->len = end - start;
		l->lineno = lineno;
	}
	return 0;
}

static bool is_seq_item(const struct yline *l)
{
	return l->len >= 1 && l->s[0] == '-' && (l->len == 1 || l->s[1] == ' ');
}

/* Length of the quoted scalar starting at s[0] (including both quotes), or
 * -1 when it does not close on this line. */
static long quoted_len(const char *s, size_t len)
{
	char q = s[0];

	for (size_t i = 1; i < len; i++) {
		if (q == '"' && s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == q) {
			if (q == '\'' && i + 1 < len && s[i + 1] == '\'') {
				i++;
				continue;
			}
			return (long)i + 1;
		}
	}
	return -1;
}

/* Index of the ':' that ends a mapping key on this line, or -1. */
static long find_key_colon(const struct yline *l)
{
	size_t i = 0;

	if (l->s[0] == '"' || l->s[0] == '\'') {
		long q = quoted_len(l->s, l->len);

		if (q < 0)
			return -1;
		i = (size_t)q;
		while (i < l->len && l->s[i] == ' ')
			i++;
		if (i < l->len && l->s[i] == ':' && (i + 1 == l->len || l->s[i + 1] == ' '))
			return (long)i;
		return -1;
	}
	if (l->s[0] == '{' || l->s[0] == '[')
		return -1;
	for (; i < l->len; i++) {
		if (l->s[i] == '#' && i > 0 && l->s[i - 1] == ' ')
			return -1;
		if (l->s[i] == ':' && (i + 1 == l->len || l->s[i + 1] == ' '))
			return (long)i;
	}
	return -1;
}

static void put_utf8(char *out, size_t *n, unsigned int cp)
{
	if (cp < 0x80) {
		out[(*n)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*n)++] = (char)(0xc0 | (cp >> 6));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*n)++] = (char)(0xe0 | (cp >> 12));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*n)++] = (char)(0xf0 | (cp >> 18));
		out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*n)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static int hex_digits(const char *s, size_t len, size_t ndig, unsigned int *out)
{
	unsigned int v = 0;

	if (len < ndig)
		return -1;
	for (size_t i = 0; i < ndig; i++) {
		int c = (unsigned char)s[i];

		if (!isxdigit(c))
			return -1;
		v = v * 16 + (unsigned int)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
	}
	*out = v;
	return 0;
}

/* Unquote a scalar of qlen bytes (quotes included) into a new string. */
static char *unquote(const char *s, size_t qlen, int *bad)
{
	/* Output never exceeds input: escapes shrink, \uXXXX (6) -> <=3 bytes. */
	char *out = malloc(qlen + 1);
	size_t n = 0;

	*bad = 0;
	if (!out)
		return NULL;
	for (size_t i = 1; i + 1 < qlen; i++) {
		char c = s[i];
		unsigned int cp;

		if (s[0] == '\'') {
			if (c == '\'')
				i++; /* '' is a literal quote */
			out[n++] = c;
			continue;
		}
		if (c != '\\') {
			out[n++] = c;
			continue;
		}
		c = s[++i];
		switch (c) {
		case 'n':
			out[n++] = '\n';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		case 'b':
			out[n++] = '\b';
			break;
		case 'f':
			out[n++] = '\f';
			break;
		case '0':
			*bad = 1; /* an embedded NUL would truncate C strings */
			break;
		case '"':
		case '\\':
		case '/':
		case ' ':
			out[n++] = c;
			break;
		case 'x':
			if (hex_digits(s + i + 1, qlen - 1 - (i + 1), 2, &cp) || cp == 0) {
				*bad = 1;
				break;
			}
			put_utf8(out, &n, cp);
			i += 2;
			break;
		case 'u':
			if (hex_digits(s + i + 1, qlen - 1 - (i + 1), 4, &cp) || cp == 0 ||
			    (cp >= 0xd800 && cp <= 0xdfff)) {
				*bad = 1;
				break;
			}
			put_utf8(out, &n, cp);
			i += 4;
			break;
		default:
			*bad = 1;
		}
		if (*bad)
			break;
	}
	out[n] = '\0';
	if (*bad) {
		free(out);
		return NULL;
	}
	return out;
}

static int parse_scalar(struct yparser *p, int lineno, const char *s, size_t len, json_object **out)
{
	size_t i;

	*out = NULL;
	if (len && (s[0] == '"' || s[0] == '\'')) {
		long q = quoted_len(s, len);
		int bad;
		char *str;

		if (q < 0)
			return yerr(p, lineno, "unterminated or multi-line quoted scalar");
		for (i = (size_t)q; i < len && s[i] == ' '; i++)
			;
		if (i < len && s[i] != '#')
			return yerr(p, lineno, "text after a quoted scalar");
		if (i < len && i == (size_t)q)
			return yerr(p, lineno, "comment must be separated by a space");
		str = unquote(s, (size_t)q, &bad);
		if (!str)
			return bad ? yerr(p, lineno, "unsupported escape in quoted scalar")
				   : -ENOMEM;
		*out = json_object_new_string(str);
		free(str);
		return *out ? 0 : -ENOMEM;
	}
	/* Plain scalar: cut a trailing " # comment". */
	for (i = 0; i < len; i++) {
		if (s[i] == '#' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
			break;
	}
	len = i;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || (len == 1 && s[0] == '~') ||
	    ((len == 4) &&
	     (!strncmp(s, "null", 4) || !strncmp(s, "Null", 4) || !strncmp(s, "NULL", 4))))
		return 0;
	if ((len == 4) &&
	    (!strncmp(s, "true", 4) || !strncmp(s, "True", 4) || !strncmp(s, "TRUE", 4))) {
		*out = json_object_new_boolean(1);
		return *out ? 0 : -ENOMEM;
	}
	if ((len == 5) &&
	    (!strncmp(s, "false", 5) || !strncmp(s, "False", 5) || !strncmp(s, "FALSE", 5))) {
		*out = json_object_new_boolean(0);
		return *out ? 0 : -ENOMEM;
	}
	if (len == 2 && !strncmp(s, "{}", 2)) {
		*out = json_object_new_object();
		return *out ? 0 : -ENOMEM;
	}
	if (len == 2 && !strncmp(s, "[]", 2)) {
		*out = json_object_new_array();
		return *out ? 0 : -ENOMEM;
	}
	if (strchr("{[&*!|>%@`", s[0]))
		return yerr(p, lineno,
			    "unsupported YAML feature (flow collection, anchor, alias, tag or "
			    "block scalar)");
	*out = json_object_new_string_len(s, (int)len);
	return *out ? 0 : -ENOMEM;
}

static int parse_node(struct yparser *p, json_object **out);

/* Value after "key:" with nothing on the line: a nested block, a sequence at
 * the key's own indent, or null. */
static int parse_block_value(struct yparser *p, int indent, json_object **out)
{
	*out = NULL;
	if (p->pos >= p->n)
		return 0;
	if (p->lines[p->pos].indent > indent)
		return parse_node(p, out);
	if (p->lines[p->pos].indent == indent && is_seq_item(&p->lines[p->pos]))
		return parse_node(p, out);
	return 0;
}

static int parse_map(struct yparser *p, json_object **out)
{
	int indent = p->lines[p->pos].indent, err = 0;
	json_object *obj = json_object_new_object();

	if (!obj)
		return -ENOMEM;
	while (p->pos < p->n) {
		struct yline *l = &p->lines[p->pos];
		json_object *val = NULL;
		long colon;
		char *key = NULL;
		const char *rest;
		size_t rlen;

		if (l->indent < indent)
			break;
		if (l->indent > indent) {
			err = yerr(p, l->lineno, "unexpected indentation");
			goto cleanup;
		}
		if (is_seq_item(l))
			break; /* a sequence at this indent ends the mapping */
		colon = find_key_colon(l);
		if (colon <= 0) {
			err = yerr(p, l->lineno, "expected \"key: value\"");
			goto cleanup;
		}
		if (l->s[0] == '"' || l->s[0] == '\'') {
			int bad;

			key = unquote(l->s, (size_t)quoted_len(l->s, l->len), &bad);
			if (!key) {
				err = bad ? yerr(p, l->lineno, "bad escape in key") : -ENOMEM;
				goto cleanup;
			}
		} else {
			size_t klen = (size_t)colon;

			while (klen && l->s[klen - 1] == ' ')
				klen--;
			key = strndup(l->s, klen);
			if (!key) {
				err = -ENOMEM;
				goto cleanup;
			}
		}
		rest = l->s + colon + 1;
		rlen = l->len - (size_t)colon - 1;
		while (rlen && *rest == ' ') {
			rest++;
			rlen--;
		}
		p->pos++;
		if (rlen == 0 || rest[0] == '#') {
			err = parse_block_value(p, indent, &val);
		} else {
			err = parse_scalar(p, l->lineno, rest, rlen, &val);
			if (!err && p->pos < p->n && p->lines[p->pos].indent > indent) {
				json_object_put(val);
				val = NULL;
				err = yerr(p, p->lines[p->pos].lineno,
					   "multi-line scalars are not supported");
			}
		}
		if (err) {
			free(key);
			goto cleanup;
		}
		json_object_object_add(obj, key, val);
		free(key);
	}
	*out = obj;
	return 0;
cleanup:
	json_object_put(obj);
	return err;
}

static int parse_seq(struct yparser *p, json_object **out)
{
	int indent = p->lines[p->pos].indent, err = 0;
	json_object *arr = json_object_new_array();

	if (!arr)
		return -ENOMEM;
	while (p->pos < p->n) {
		struct yline *l = &p->lines[p->pos];
		json_object *val = NULL;
		size_t off = 1;

		if (l->indent < indent || (l->indent == indent && !is_seq_item(l)))
			break;
		if (l->indent > indent) {
			err = yerr(p, l->lineno, "unexpected indentation in sequence");
			goto cleanup;
		}
		while (off < l->len && l->s[off] == ' ')
			off++;
		if (off == l->len || l->s[off] == '#') {
			p->pos++;
			if (p->pos < p->n && p->lines[p->pos].indent > indent)
				err = parse_node(p, &val);
		} else {
			/* "- rest": reparse rest as a node at the column where it starts. */
			l->indent += (int)off;
			l->s += off;
			l->len -= off;
			err = parse_node(p, &val);
		}
		if (err)
			goto cleanup;
		json_object_array_add(arr, val);
	}
	*out = arr;
	return 0;
cleanup:
	json_object_put(arr);
	return err;
}

static int parse_node(struct yparser *p, json_object **out)
{
	struct yline *l = &p->lines[p->pos];
	int err;

	*out = NULL;
	if (p->depth >= YAML_MAX_DEPTH)
		return yerr(p, l->lineno, "nesting too deep");
	p->depth++;
	if (is_seq_item(l)) {
		err = parse_seq(p, out);
	} else if (find_key_colon(l) > 0) {
		err = parse_map(p, out);
	} else {
		p->pos++;
		err = parse_scalar(p, l->lineno, l->s, l->len, out);
		if (!err && p->pos < p->n && p->lines[p->pos].indent > l->indent) {
			json_object_put(*out);
			*out = NULL;
			err = yerr(p, p->lines[p->pos].lineno,
				   "multi-line scalars are not supported");
		}
	}
	p->depth--;
	return err;
}

static int parse_json(const char *buf, size_t len, json_object **out, char *errbuf, size_t errlen)
{
	struct json_tokener *tok = json_tokener_new_ex(YAML_MAX_DEPTH);
	json_object *obj;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	while (end < len && isspace((unsigned char)buf[end]))
		end++;
	if (!obj || jerr != json_tokener_success || end < len) {
		set_err(errbuf, errlen, "kubeconfig: invalid JSON: %s",
			jerr != json_tokener_success ? json_tokener_error_desc(jerr)
						     : "trailing data");
		json_object_put(obj);
		json_tokener_free(tok);
		return -EINVAL;
	}
	json_tokener_free(tok);
	*out = obj;
	return 0;
}

int kubeconfig_yaml_parse(const char *buf, size_t len, json_object **out, char *errbuf,
			  size_t errlen)
{
	struct yparser p = {.err = errbuf, .errlen = errlen};
	json_object *root = NULL;
	size_t i;
	int err;

	if (len > KUBECONFIG_MAX_BYTES) {
		set_err(errbuf, errlen, "kubeconfig larger than %u bytes", KUBECONFIG_MAX_BYTES);
		return -EFBIG;
	}
	if (memchr(buf, '\0', len)) {
		set_err(errbuf, errlen, "kubeconfig contains a NUL byte");
		return -EINVAL;
	}
	for (i = 0; i < len && isspace((unsigned char)buf[i]); i++)
		;
	if (i < len && buf[i] == '{')
		return parse_json(buf, len, out, errbuf, errlen);
	err = split_lines(&p, buf, len);
	if (err)
		goto cleanup;
	if (p.n == 0) {
		root = json_object_new_object();
		err = root ? 0 : -ENOMEM;
		goto cleanup;
	}
	err = parse_node(&p, &root);
	if (!err && p.pos < p.n)
		err = yerr(&p, p.lines[p.pos].lineno, "unexpected content (bad indentation?)");
cleanup:
	free(p.lines);
	if (err) {
		json_object_put(root);
		return err;
	}
	*out = root;
	return 0;
}

/* ---- kubeconfig --------------------------------------------------------- */

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* 1 or 0 for a YAML boolean, 0 when absent, -EINVAL for anything else: a
 * quoted "true" is a string, which kubectl refuses as well (turning TLS
 * verification off must be unmistakable). */
static int jbool(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (json_object_is_type(v, json_type_boolean))
		return json_object_get_boolean(v) ? 1 : 0;
	return -EINVAL;
}

/* Find {name: NAME, <field>: {...}} in the list root[list]; returns the inner object. */
static json_object *find_named(json_object *root, const char *list, const char *field,
			       const char *name)
{
	json_object *arr;
	size_t n;

	if (!json_object_object_get_ex(root, list, &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return NULL;
	n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *inner;
		const char *nm = jstr(e, "name");

		if (nm && !strcmp(nm, name)) {
			if (!json_object_object_get_ex(e, field, &inner) ||
			    !json_object_is_type(inner, json_type_object))
				return NULL;
			return inner;
		}
	}
	return NULL;
}

static int dup_path(const char *base_dir, const char *path, char **out)
{
	if (path[0] == '/' || !base_dir || !base_dir[0]) {
		*out = strdup(path);
	} else {
		if (asprintf(out, "%s/%s", base_dir, path) < 0)
			*out = NULL;
	}
	return *out ? 0 : -ENOMEM;
}

static int dup_b64(const char *s, char **out, size_t *out_len)
{
	return kubeconfig_base64_decode(s, strlen(s), out, out_len);
}

static void free_secret(char *s, size_t len)
{
	if (!s)
		return;
	explicit_bzero(s, len);
	free(s);
}

void k8s_config_free(struct k8s_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->ca_file);
	free(cfg->ca_data);
	if (cfg->token)
		free_secret(cfg->token, strlen(cfg->token));
	free(cfg->token_file);
	free(cfg->cert_file);
	free(cfg->cert_data);
	free(cfg->key_file);
	free_secret(cfg->key_data, cfg->key_data_len);
	free(cfg->namespace);
	free(cfg->context);
	free(cfg);
}

static int fill_cluster(struct k8s_config *cfg, json_object *cl, const char *base_dir, char *errbuf,
			size_t errlen)
{
	const char *server = jstr(cl, "server"), *s;
	size_t sl;
	int err;

	if (!server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))) {
		set_err(errbuf, errlen, "kubeconfig: cluster has no http(s) server URL");
		return -EINVAL;
	}
	cfg->server = strdup(server);
	if (!cfg->server)
		return -ENOMEM;
	sl = strlen(cfg->server);
	while (sl > 0 && cfg->server[sl - 1] == '/')
		cfg->server[--sl] = '\0';
	err = jbool(cl, "insecure-skip-tls-verify");
	if (err < 0) {
		set_err(errbuf, errlen,
			"kubeconfig: insecure-skip-tls-verify must be a boolean (true/false), "
			"not a string");
		return err;
	}
	cfg->insecure = err == 1;
	s = jstr(cl, "certificate-authority-data");
	if (s && s[0]) {
		if (dup_b64(s, &cfg->ca_data, &cfg->ca_data_len)) {
			set_err(errbuf, errlen,
				"kubeconfig: certificate-authority-data is not base64");
			return -EINVAL;
		}
	}
	s = jstr(cl, "certificate-authority");
	if (s && s[0] && dup_path(base_dir, s, &cfg->ca_file))
		return -ENOMEM;
	return 0;
}

static int fill_user(struct k8s_config *cfg, json_object *u, const char *base_dir, char *errbuf,
		     size_t errlen)
{
	const char *s;
	json_object *v;

	if (json_object_object_get_ex(u, "exec", &v) && v) {
		set_err(errbuf, errlen,
			"kubeconfig: exec credential plugins are not supported; use a token, "
			"tokenFile or client certificate");
		return -ENOTSUP;
	}
	if (json_object_object_get_ex(u, "auth-provider", &v) && v) {
		set_err(errbuf, errlen, "kubeconfig: auth-provider is not supported");
		return -ENOTSUP;
	}
	s = jstr(u, "token");
	if (s && s[0]) {
		cfg->token = strdup(s);
		if (!cfg->token)
			return -ENOMEM;
	}
	s = jstr(u, "tokenFile");
	if (!s)
		s = jstr(u, "token-file");
	if (s && s[0] && dup_path(base_dir, s, &cfg->token_file))
		return -ENOMEM;
	s = jstr(u, "client-certificate-data");
	if (s && s[0] && dup_b64(s, &cfg->cert_data, &cfg->cert_data_len)) {
		set_err(errbuf, errlen, "kubeconfig: client-certificate-data is not base64");
		return -EINVAL;
	}
	s = jstr(u, "client-key-data");
	if (s && s[0] && dup_b64(s, &cfg->key_data, &cfg->key_data_len)) {
		set_err(errbuf, errlen, "kubeconfig: client-key-data is not base64");
		return -EINVAL;
	}
	s = jstr(u, "client-certificate");
	if (s && s[0] && dup_path(base_dir, s, &cfg->cert_file))
		return -ENOMEM;
	s = jstr(u, "client-key");
	if (s && s[0] && dup_path(base_dir, s, &cfg->key_file))
		return -ENOMEM;
	if ((cfg->cert_data || cfg->cert_file) != (cfg->key_data || cfg->key_file)) {
		set_err(errbuf, errlen,
			"kubeconfig: client certificate and key must come together");
		return -EINVAL;
	}
	if (jstr(u, "username") || jstr(u, "password"))
		log_warn("kubeconfig", "basic auth in kubeconfig is ignored");
	return 0;
}

int kubeconfig_parse(const char *buf, size_t len, const char *base_dir, const char *context,
		     struct k8s_config **out, char *errbuf, size_t errlen)
{
	json_object *root = NULL, *ctx, *cl, *u = NULL;
	struct k8s_config *cfg = NULL;
	const char *cluster_name, *user_name, *ns;
	int err;

	err = kubeconfig_yaml_parse(buf, len, &root, errbuf, errlen);
	if (err)
		return err;
	if (!json_object_is_type(root, json_type_object)) {
		set_err(errbuf, errlen, "kubeconfig: top level is not a mapping");
		err = -EINVAL;
		goto cleanup;
	}
	if (!context || !context[0])
		context = jstr(root, "current-context");
	if (!context || !context[0]) {
		set_err(errbuf, errlen,
			"kubeconfig: no current-context set (use `kubectl config use-context`)");
		err = -ENOENT;
		goto cleanup;
	}
	ctx = find_named(root, "contexts", "context", context);
	if (!ctx) {
		set_err(errbuf, errlen, "kubeconfig: context \"%s\" not found", context);
		err = -ENOENT;
		goto cleanup;
	}
	cluster_name = jstr(ctx, "cluster");
	cl = cluster_name ? find_named(root, "clusters", "cluster", cluster_name) : NULL;
	if (!cl) {
		set_err(errbuf, errlen, "kubeconfig: cluster \"%s\" of context \"%s\" not found",
			cluster_name ? cluster_name : "", context);
		err = -ENOENT;
		goto cleanup;
	}
	user_name = jstr(ctx, "user");
	if (user_name && user_name[0]) {
		u = find_named(root, "users", "user", user_name);
		if (!u) {
			set_err(errbuf, errlen,
				"kubeconfig: user \"%s\" of context \"%s\" not found", user_name,
				context);
			err = -ENOENT;
			goto cleanup;
		}
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = fill_cluster(cfg, cl, base_dir, errbuf, errlen);
	if (err)
		goto cleanup;
	if (u) {
		err = fill_user(cfg, u, base_dir, errbuf, errlen);
		if (err)
			goto cleanup;
	}
	ns = jstr(ctx, "namespace");
	cfg->namespace = strdup(ns && ns[0] ? ns : "default");
	cfg->context = strdup(context);
	if (!cfg->namespace || !cfg->context) {
		err = -ENOMEM;
		goto cleanup;
	}
	*out = cfg;
	cfg = NULL;
cleanup:
	k8s_config_free(cfg);
	json_object_put(root);
	return err;
}

/* Read a whole small file (capped); *out is NUL-terminated, caller frees. */
static int read_capped(const char *path, size_t cap, char **out, size_t *out_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
	char *buf = NULL;
	size_t n = 0;

	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, cap + 1 - n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto cleanup;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > cap) {
			err = -EFBIG;
			goto cleanup;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	buf = NULL;
cleanup:
	free(buf);
	close(fd);
	return err;
}

int kubeconfig_load_file(const char *path, const char *context, struct k8s_config **out,
			 char *errbuf, size_t errlen)
{
	char *buf = NULL, *dir = NULL, *slash;
	size_t len;
	int err;

	err = read_capped(path, KUBECONFIG_MAX_BYTES, &buf, &len);
	if (err) {
		set_err(errbuf, errlen, "kubeconfig %s: %s", path, strerror(-err));
		return err;
	}
	dir = strdup(path);
	if (!dir) {
		err = -ENOMEM;
		goto cleanup;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	if (slash == dir)
		strcpy(dir, "/");
	err = kubeconfig_parse(buf, len, dir, context, out, errbuf, errlen);
cleanup:
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	free(dir);
	return err;
}

int kubeconfig_load_default(const char *explicit_path, const char *context, struct k8s_config **out,
			    char *errbuf, size_t errlen)
{
	const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
	char path[PATH_MAX];

	if (explicit_path && explicit_path[0])
		return kubeconfig_load_file(explicit_path, context, out, errbuf, errlen);
	if (env && env[0]) {
		const char *p = env;

		while (*p) {
			size_t n = strcspn(p, ":");

			if (n > 0 && n < sizeof(path)) {
				memcpy(path, p, n);
				path[n] = '\0';
				if (access(path, R_OK) == 0)
					return kubeconfig_load_file(path, context, out, errbuf,
								    errlen);
			}
			p += n;
			if (*p == ':')
				p++;
		}
	}
	if (home && home[0] &&
	    snprintf(path, sizeof(path), "%s/.kube/config", home) < (int)sizeof(path) &&
	    access(path, R_OK) == 0)
		return kubeconfig_load_file(path, context, out, errbuf, errlen);
	set_err(errbuf, errlen, "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config)");
	return -ENOENT;
}

int kubeconfig_in_cluster(const char *sa_dir, struct k8s_config **out, char *errbuf, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct k8s_config *cfg = NULL;
	char *ns = NULL;
	size_t nslen;
	int err = 0, r;

	if (!sa_dir)
		sa_dir = K8S_SA_DIR;
	if (!host || !host[0] || !port || !port[0]) {
		set_err(errbuf, errlen, "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
		return -ENOENT;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;
	/* An IPv6 service address needs brackets in a URL. */
	if (strchr(host, ':'))
		r = asprintf(&cfg->server, "https://[%s]:%s", host, port);
	else
		r = asprintf(&cfg->server, "https://%s:%s", host, port);
	if (r < 0) {
		cfg->server = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	if (asprintf(&cfg->token_file, "%s/token", sa_dir) < 0) {
		cfg->token_file = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	if (access(cfg->token_file, R_OK) != 0) {
		err = -errno;
		set_err(errbuf, errlen, "service-account token %s: %s", cfg->token_file,
			strerror(errno));
		goto cleanup;
	}
	if (asprintf(&cfg->ca_file, "%s/ca.crt", sa_dir) < 0) {
		cfg->ca_file = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	if (access(cfg->ca_file, R_OK) != 0) {
		free(cfg->ca_file);
		cfg->ca_file = NULL;
	}
	if (asprintf(&ns, "%s/namespace", sa_dir) >= 0) {
		char *path = ns;

		ns = NULL;
		if (read_capped(path, 253, &ns, &nslen) == 0) {
			while (nslen && isspace((unsigned char)ns[nslen - 1]))
				ns[--nslen] = '\0';
		}
		free(path);
	}
	cfg->namespace = ns ? ns : strdup("default");
	if (!cfg->namespace) {
		err = -ENOMEM;
		goto cleanup;
	}
	*out = cfg;
	cfg = NULL;
cleanup:
	k8s_config_free(cfg);
	return err;
}

int kubeconfig_load_auto(const char *explicit_path, struct k8s_config **out, char *errbuf,
			 size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");

	if (explicit_path && explicit_path[0])
		return kubeconfig_load_file(explicit_path, NULL, out, errbuf, errlen);
	if (host && host[0])
		return kubeconfig_in_cluster(NULL, out, errbuf, errlen);
	return kubeconfig_load_default(NULL, NULL, out, errbuf, errlen);
}
