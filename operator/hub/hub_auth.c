/* SPDX-License-Identifier: Apache-2.0 */
/* hub_auth.c -- local-mode worker authentication: a shared secret file, or one
 * secret per node.
 *
 * Cluster mode uses TokenReview through the Kubernetes client instead; both
 * plug into the hub as a hub_auth_fn.
 */
#include "hub.h"
#include "log.h"
#include "readfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD	       "hub"
#define TOKEN_FILE_MAX (64 * 1024)
#define TOKEN_MAX      4096

struct token_entry {
	char node[PROTO_MAX_NODE_LEN + 1]; /* "" = shared secret, any node */
	size_t len;
	char *tok;
};

struct hub_token_file {
	char *text; /* the file, NUL-terminated; entries point into it */
	size_t text_len;
	struct token_entry *e;
	size_t n;
};

static size_t trim_len(const char *s, size_t len)
{
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
		len--;
	return len;
}

/* Split text into entries: a single line without a blank is a shared secret,
 * otherwise every line is "NODE TOKEN". Tokens are NUL-terminated in place. */
static int parse_entries(struct hub_token_file *tf, const char *path)
{
	char *line = tf->text, *next;
	size_t lines = 0;

	for (char *p = tf->text; *p; p++)
		lines += *p == '\n';
	tf->e = calloc(lines + 1, sizeof(*tf->e));
	if (!tf->e)
		return -ENOMEM;
	for (; line && *line; line = next) {
		size_t len;
		char *sp;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		len = trim_len(line, strlen(line));
		line[len] = '\0';
		if (!len || line[0] == '#')
			continue;
		sp = strpbrk(line, " \t");
		/* A shared secret must be the file's only entry. */
		if ((!sp && tf->n) || (tf->n && !tf->e[0].node[0]))
			goto bad;
		if (!sp) {
			if (len > TOKEN_MAX)
				goto bad;
			tf->e[0].tok = line;
			tf->e[0].len = len;
			tf->n = 1;
			continue;
		}
		if (!sp || (size_t)(sp - line) > PROTO_MAX_NODE_LEN)
			goto bad;
		memcpy(tf->e[tf->n].node, line, (size_t)(sp - line));
		tf->e[tf->n].node[sp - line] = '\0';
		sp += strspn(sp, " \t");
		if (!proto_node_name_valid(tf->e[tf->n].node) || !*sp || strpbrk(sp, " \t") ||
		    strlen(sp) > TOKEN_MAX)
			goto bad;
		tf->e[tf->n].tok = sp;
		tf->e[tf->n].len = strlen(sp);
		tf->n++;
	}
	if (!tf->n) {
		log_error(MOD, "token file %s is empty", path);
		return -EINVAL;
	}
	return 0;
bad:
	log_error(MOD,
		  "token file %s: want one secret, or \"NODE TOKEN\" lines with "
		  "DNS-1123 node names",
		  path);
	return -EINVAL;
}

int hub_token_file_load(const char *path, struct hub_token_file **out)
{
	struct hub_token_file *tf = NULL;
	struct stat st;
	void *text = NULL;
	size_t n = 0;
	int err;

	*out = NULL;
	if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn(MOD, "token file %s is world-readable", path);
	err = read_file_capped(path, TOKEN_FILE_MAX, &text, &n);
	if (err == -E2BIG) {
		log_error(MOD, "token file %s is over %d bytes", path, TOKEN_FILE_MAX);
		err = -EFBIG;
		goto cleanup;
	}
	if (err) {
		log_error(MOD, "token file %s: %s", path, strerror(-err));
		goto cleanup;
	}
	tf = calloc(1, sizeof(*tf));
	if (!tf) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* The secret's buffer moves into tf, which wipes it when freed. */
	tf->text = text;
	tf->text_len = n + 1;
	text = NULL;
	if (strlen(tf->text) != n) {
		log_error(MOD, "token file %s holds a NUL byte", path);
		err = -EINVAL;
		goto cleanup;
	}
	err = parse_entries(tf, path);
	if (err)
		goto cleanup;
	*out = tf;
	tf = NULL;
cleanup:
	if (text)
		explicit_bzero(text, n);
	free(text);
	hub_token_file_free(tf);
	return err;
}

void hub_token_file_free(struct hub_token_file *tf)
{
	if (!tf)
		return;
	if (tf->text)
		explicit_bzero(tf->text, tf->text_len);
	free(tf->text);
	free(tf->e);
	explicit_bzero(tf, sizeof(*tf));
	free(tf);
}

/* Constant time in the secret's content: depends on lengths only. */
static bool token_eq(const struct token_entry *e, const char *token, size_t tlen)
{
	unsigned char diff = (unsigned char)(tlen != e->len);

	for (size_t i = 0; i < e->len; i++)
		diff |= (unsigned char)(e->tok[i] ^ (i < tlen ? token[i] : 0));
	return diff == 0;
}

int hub_token_file_auth(void *ctx, const char *token, struct hub_auth_result *out)
{
	const struct hub_token_file *tf = ctx;
	size_t tlen = token ? strnlen(token, TOKEN_MAX + 1) : 0;
	const struct token_entry *hit = NULL;

	memset(out, 0, sizeof(*out));
	if (!tf || !token)
		return -EACCES;
	/* Compare with every entry, not stopping at a match: the time taken does
	 * not tell which node's secret matched. */
	for (size_t i = 0; i < tf->n; i++) {
		if (token_eq(&tf->e[i], token, tlen) && !hit)
			hit = &tf->e[i];
	}
	if (!hit)
		return -EACCES;
	if (hit->node[0]) {
		snprintf(out->identity, sizeof(out->identity), "token-file:%.200s", hit->node);
		snprintf(out->node, sizeof(out->node), "%s", hit->node);
	} else {
		snprintf(out->identity, sizeof(out->identity), "token-file");
	}
	return 0;
}
