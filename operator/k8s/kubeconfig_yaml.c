/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig_yaml.c -- the small YAML subset kubeconfigs are written in.
 *
 * The YAML parser is line based: each non-blank, non-comment line becomes
 * (indent, text), and a recursive descent builds json-c objects from block
 * mappings and sequences. A "- key: v" sequence item is handled by rewriting
 * that line in place as "key: v" indented to the column after the dash, so
 * its continuation lines form an ordinary mapping at that column. The limits
 * are listed in kubeconfig.h; anything outside them is refused, not guessed.
 */
#include "kubeconfig.h"
#include "kubeconfig_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YAML_MAX_DEPTH 64
#define YAML_MAX_LINES 200000

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
	kubeconfig_set_err(p->err, p->errlen, "kubeconfig line %d: %s", lineno, what);
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
		kubeconfig_set_err(errbuf, errlen, "kubeconfig: invalid JSON: %s",
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
		kubeconfig_set_err(errbuf, errlen, "kubeconfig larger than %u bytes",
				   KUBECONFIG_MAX_BYTES);
		return -EFBIG;
	}
	if (memchr(buf, '\0', len)) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig contains a NUL byte");
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
