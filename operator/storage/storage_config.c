/* SPDX-License-Identifier: Apache-2.0 */
/* storage_config.c -- storage flags, credentials from env/files, and object keys. */
#include "storage_int.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_FILE_MAX 4096 /* credentials files are tiny; anything bigger is a mistake */

const struct storage_flag storage_flags[] = {
    {"storage", "s3|dir", "where profiles go (default dir)"},
    {"storage-dir", "PATH", "dir backend: base directory (default podprof-profiles)"},
    {"s3-endpoint", "URL", "S3 endpoint http(s)://host[:port] (default AWS)"},
    {"s3-region", "REGION", "SigV4 region (default us-east-1, or AWS_REGION)"},
    {"s3-bucket", "NAME", "bucket (required for s3)"},
    {"s3-prefix", "PREFIX", "key prefix (default none)"},
    {"s3-path-style", "true|false", "path-style URLs (default true with --s3-endpoint)"},
    {"s3-access-key", "KEY", "access key (prefer the file or AWS_ACCESS_KEY_ID)"},
    {"s3-secret-key", "KEY", "secret key (prefer the file or AWS_SECRET_ACCESS_KEY)"},
    {"s3-access-key-file", "PATH", "file holding the access key (a mounted Secret)"},
    {"s3-secret-key-file", "PATH", "file holding the secret key (a mounted Secret)"},
    {"s3-ca-file", "PATH", "CA bundle for an https endpoint"},
    {"s3-insecure", NULL, "do not verify the endpoint's TLS certificate"},
    {"spool-dir", "PATH", "spool for objects waiting for upload (default /var/lib/podprof/spool)"},
    {"s3-retry-max-ms", "MS", "backoff cap between upload retries (default 30000)"},
    {NULL, NULL, NULL},
};

void storage_config_init(struct storage_config *c)
{
	memset(c, 0, sizeof(*c));
	c->backend = STORAGE_BACKEND_DIR;
	c->path_style = -1;
	c->quick_retries = 3;
	c->retry_base_ms = 500;
	c->retry_max_ms = 30000;
	c->connect_timeout_ms = 5000;
	c->transfer_timeout_ms = 120000;
}

static void free_secret(char *s)
{
	/* Do not leave key material in freed heap memory. */
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

void storage_config_release(struct storage_config *c)
{
	if (!c)
		return;
	free(c->dir_path);
	free(c->endpoint);
	free(c->region);
	free(c->bucket);
	free(c->prefix);
	free_secret(c->access_key);
	free_secret(c->secret_key);
	free(c->access_key_file);
	free(c->secret_key_file);
	free(c->ca_file);
	free(c->spool_dir);
	memset(c, 0, sizeof(*c));
}

static int dup_field(char **dst, const char *src)
{
	char *n = NULL;

	if (src) {
		n = strdup(src);
		if (!n)
			return -ENOMEM;
	}
	free(*dst);
	*dst = n;
	return 0;
}

int storage_config_copy(struct storage_config *dst, const struct storage_config *src)
{
	int err = 0;

	*dst = *src;
	/* Null the pointers first so a failed copy can be released safely. */
	dst->dir_path = dst->endpoint = dst->region = dst->bucket = dst->prefix = NULL;
	dst->access_key = dst->secret_key = dst->access_key_file = dst->secret_key_file = NULL;
	dst->ca_file = dst->spool_dir = NULL;
	err = dup_field(&dst->dir_path, src->dir_path);
	err = err ?: dup_field(&dst->endpoint, src->endpoint);
	err = err ?: dup_field(&dst->region, src->region);
	err = err ?: dup_field(&dst->bucket, src->bucket);
	err = err ?: dup_field(&dst->prefix, src->prefix);
	err = err ?: dup_field(&dst->access_key, src->access_key);
	err = err ?: dup_field(&dst->secret_key, src->secret_key);
	err = err ?: dup_field(&dst->access_key_file, src->access_key_file);
	err = err ?: dup_field(&dst->secret_key_file, src->secret_key_file);
	err = err ?: dup_field(&dst->ca_file, src->ca_file);
	err = err ?: dup_field(&dst->spool_dir, src->spool_dir);
	if (err)
		storage_config_release(dst);
	return err;
}

static int parse_bool(const char *v, bool *out)
{
	if (v && (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))) {
		*out = true;
		return 0;
	}
	if (v && (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

static int parse_ms(const char *v, unsigned *out)
{
	char *end = NULL;
	long n;

	if (!v || !*v)
		return -EINVAL;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 1 || n > 3600 * 1000)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

/* Trim '/' at both ends so keys never get "//" or a leading '/'. */
static int set_prefix(struct storage_config *c, const char *v)
{
	size_t a = 0, b = strlen(v);
	char *p;

	while (a < b && v[a] == '/')
		a++;
	while (b > a && v[b - 1] == '/')
		b--;
	p = strndup(v + a, b - a);
	if (!p)
		return -ENOMEM;
	if (*p && !storage_key_valid(p)) {
		free(p);
		return -EINVAL;
	}
	free(c->prefix);
	c->prefix = p;
	return 0;
}

int storage_config_set(struct storage_config *c, const char *name, const char *value)
{
	bool b = false;
	int err = 0;

	if (!strcmp(name, "s3-insecure")) {
		c->insecure = true;
		return 0;
	}
	if (!value) {
		for (const struct storage_flag *f = storage_flags; f->name; f++) {
			if (!strcmp(f->name, name)) {
				fprintf(stderr, "--%s needs a value\n", name);
				return -EINVAL;
			}
		}
		return -ENOENT;
	}
	if (!strcmp(name, "storage")) {
		if (!strcmp(value, "s3"))
			c->backend = STORAGE_BACKEND_S3;
		else if (!strcmp(value, "dir"))
			c->backend = STORAGE_BACKEND_DIR;
		else
			err = -EINVAL;
	} else if (!strcmp(name, "storage-dir")) {
		err = *value ? dup_field(&c->dir_path, value) : -EINVAL;
	} else if (!strcmp(name, "s3-endpoint")) {
		if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))
			err = -EINVAL;
		else
			err = dup_field(&c->endpoint, value);
	} else if (!strcmp(name, "s3-region")) {
		err = *value ? dup_field(&c->region, value) : -EINVAL;
	} else if (!strcmp(name, "s3-bucket")) {
		err = *value ? dup_field(&c->bucket, value) : -EINVAL;
	} else if (!strcmp(name, "s3-prefix")) {
		err = set_prefix(c, value);
	} else if (!strcmp(name, "s3-path-style")) {
		err = parse_bool(value, &b);
		if (!err)
			c->path_style = b;
	} else if (!strcmp(name, "s3-access-key")) {
		err = dup_field(&c->access_key, value);
	} else if (!strcmp(name, "s3-secret-key")) {
		err = dup_field(&c->secret_key, value);
	} else if (!strcmp(name, "s3-access-key-file")) {
		err = dup_field(&c->access_key_file, value);
	} else if (!strcmp(name, "s3-secret-key-file")) {
		err = dup_field(&c->secret_key_file, value);
	} else if (!strcmp(name, "s3-ca-file")) {
		err = dup_field(&c->ca_file, value);
	} else if (!strcmp(name, "spool-dir")) {
		err = *value ? dup_field(&c->spool_dir, value) : -EINVAL;
	} else if (!strcmp(name, "s3-retry-max-ms")) {
		err = parse_ms(value, &c->retry_max_ms);
	} else {
		return -ENOENT;
	}
	if (err == -EINVAL) {
		/* Secrets are never echoed back. */
		bool secret = strstr(name, "secret-key") && !strstr(name, "file");

		fprintf(stderr, "invalid --%s value '%s'\n", name, secret ? "<redacted>" : value);
	}
	return err;
}

int storage_config_parse_args(struct storage_config *c, int *argc, char **argv)
{
	int out = 1, i;

	for (i = 1; i < *argc; i++) {
		const char *a = argv[i];
		char name[64];
		const char *value = NULL, *eq;
		const struct storage_flag *f;
		size_t nlen;
		int err;

		if (!strcmp(a, "--"))
			break;
		if (strncmp(a, "--", 2)) {
			argv[out++] = argv[i];
			continue;
		}
		eq = strchr(a + 2, '=');
		nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nlen >= sizeof(name)) {
			argv[out++] = argv[i];
			continue;
		}
		memcpy(name, a + 2, nlen);
		name[nlen] = '\0';
		for (f = storage_flags; f->name; f++)
			if (!strcmp(f->name, name))
				break;
		if (!f->name) {
			argv[out++] = argv[i];
			continue;
		}
		if (eq) {
			value = eq + 1;
		} else if (f->arg) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "--%s needs a value\n", name);
				return -EINVAL;
			}
			value = argv[++i];
		}
		err = storage_config_set(c, name, value);
		if (err)
			return err;
	}
	for (; i < *argc; i++)
		argv[out++] = argv[i];
	*argc = out;
	argv[out] = NULL;
	return 0;
}

/* Read a one-line credential file; trailing whitespace is dropped because
 * Secrets created with `echo` carry a newline. */
static int read_key_file(const char *path, char **out)
{
	void *data = NULL;
	size_t len = 0;
	char *s;
	int err;

	err = read_file_capped(path, KEY_FILE_MAX, &data, &len);
	if (err) {
		fprintf(stderr, "cannot read credentials file %s: %s\n", path, strerror(-err));
		return -EINVAL;
	}
	s = data;
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	s[len] = '\0';
	if (!len || strlen(s) != len) {
		fprintf(stderr, "credentials file %s is empty or binary\n", path);
		free_secret(s);
		return -EINVAL;
	}
	free_secret(*out);
	*out = s;
	return 0;
}

static int fill_key(char **dst, const char *file, const char *env)
{
	const char *v;

	if (*dst)
		return 0;
	if (file)
		return read_key_file(file, dst);
	v = getenv(env);
	if (v && *v)
		return dup_field(dst, v);
	return 0;
}

int storage_config_finish(struct storage_config *c)
{
	int err;

	if (c->backend == STORAGE_BACKEND_DIR) {
		if (!c->dir_path)
			return dup_field(&c->dir_path, "podprof-profiles");
		return 0;
	}
	err = fill_key(&c->access_key, c->access_key_file, "AWS_ACCESS_KEY_ID");
	if (err)
		return err;
	err = fill_key(&c->secret_key, c->secret_key_file, "AWS_SECRET_ACCESS_KEY");
	if (err)
		return err;
	if (!c->region && getenv("AWS_REGION") && *getenv("AWS_REGION"))
		err = dup_field(&c->region, getenv("AWS_REGION"));
	if (!err && !c->region)
		err = dup_field(&c->region, "us-east-1");
	if (!err && !c->spool_dir)
		err = dup_field(&c->spool_dir, "/var/lib/podprof/spool");
	if (!err && !c->prefix)
		err = dup_field(&c->prefix, "");
	if (err)
		return err;
	if (c->path_style < 0)
		c->path_style = c->endpoint ? 1 : 0;
	if (!c->bucket) {
		fprintf(stderr, "--storage=s3 needs --s3-bucket\n");
		return -EINVAL;
	}
	if (!c->access_key || !c->secret_key) {
		fprintf(stderr,
			"--storage=s3 needs credentials: --s3-access-key-file/"
			"--s3-secret-key-file or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n");
		return -EINVAL;
	}
	if (strchr(c->access_key, ':')) {
		/* libcurl takes "access:secret" in one string. */
		fprintf(stderr, "the S3 access key must not contain ':'\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- keys ---- */

bool storage_key_valid(const char *key)
{
	const char *seg = key;
	size_t len;

	if (!key || !*key || *key == '/')
		return false;
	len = strlen(key);
	if (len > STORAGE_MAX_KEY)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char ch = (unsigned char)key[i];

		if (ch && (ch < 0x20 || ch == 0x7f || ch == '\\'))
			return false;
		if (ch == '/' || ch == '\0') {
			size_t n = (size_t)(key + i - seg);

			if (n == 0 || (n == 1 && seg[0] == '.') ||
			    (n == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			seg = key + i + 1;
		}
	}
	return true;
}

static bool component_ok(const char *s)
{
	return s && *s && !strchr(s, '/') && storage_key_valid(s);
}

int storage_key(const char *prefix, const char *ns, const char *target, const char *uid,
		int64_t start_unix_s, const char *ext, char **out)
{
	char when[32];
	struct tm tm;
	time_t t = (time_t)start_unix_s;
	char *k = NULL;
	int n;

	*out = NULL;
	if (!component_ok(ns) || !component_ok(target) || !component_ok(uid) || !ext || !*ext ||
	    strchr(ext, '/') || start_unix_s < 0)
		return -EINVAL;
	if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &tm))
		return -EINVAL;
	if (prefix && *prefix)
		n = asprintf(&k, "%s/%s/%s/%s/%s.%s", prefix, ns, target, uid, when, ext);
	else
		n = asprintf(&k, "%s/%s/%s/%s.%s", ns, target, uid, when, ext);
	if (n < 0)
		return -ENOMEM;
	if (!storage_key_valid(k)) {
		free(k);
		return -EINVAL;
	}
	*out = k;
	return 0;
}
