/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig.c -- kubeconfig / in-cluster settings (the YAML they are
 * written in is read by kubeconfig_yaml.c). */
#include "json_path.h"
#include "kubeconfig.h"
#include "kubeconfig_int.h"
#include "readfile.h"
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

void kubeconfig_set_err(char *errbuf, size_t errlen, const char *fmt, ...)
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

/* ---- kubeconfig --------------------------------------------------------- */

static const char *jstr(json_object *o, const char *key)
{
	return json_path_str(o, key, (const char *)NULL);
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
		kubeconfig_set_err(errbuf, errlen, "kubeconfig: cluster has no http(s) server URL");
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
		kubeconfig_set_err(
		    errbuf, errlen,
		    "kubeconfig: insecure-skip-tls-verify must be a boolean (true/false), "
		    "not a string");
		return err;
	}
	cfg->insecure = err == 1;
	s = jstr(cl, "certificate-authority-data");
	if (s && s[0]) {
		if (dup_b64(s, &cfg->ca_data, &cfg->ca_data_len)) {
			kubeconfig_set_err(errbuf, errlen,
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
		kubeconfig_set_err(
		    errbuf, errlen,
		    "kubeconfig: exec credential plugins are not supported; use a token, "
		    "tokenFile or client certificate");
		return -ENOTSUP;
	}
	if (json_object_object_get_ex(u, "auth-provider", &v) && v) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig: auth-provider is not supported");
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
		kubeconfig_set_err(errbuf, errlen,
				   "kubeconfig: client-certificate-data is not base64");
		return -EINVAL;
	}
	s = jstr(u, "client-key-data");
	if (s && s[0] && dup_b64(s, &cfg->key_data, &cfg->key_data_len)) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig: client-key-data is not base64");
		return -EINVAL;
	}
	s = jstr(u, "client-certificate");
	if (s && s[0] && dup_path(base_dir, s, &cfg->cert_file))
		return -ENOMEM;
	s = jstr(u, "client-key");
	if (s && s[0] && dup_path(base_dir, s, &cfg->key_file))
		return -ENOMEM;
	if ((cfg->cert_data || cfg->cert_file) != (cfg->key_data || cfg->key_file)) {
		kubeconfig_set_err(errbuf, errlen,
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
		kubeconfig_set_err(errbuf, errlen, "kubeconfig: top level is not a mapping");
		err = -EINVAL;
		goto cleanup;
	}
	if (!context || !context[0])
		context = jstr(root, "current-context");
	if (!context || !context[0]) {
		kubeconfig_set_err(
		    errbuf, errlen,
		    "kubeconfig: no current-context set (use `kubectl config use-context`)");
		err = -ENOENT;
		goto cleanup;
	}
	ctx = find_named(root, "contexts", "context", context);
	if (!ctx) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig: context \"%s\" not found", context);
		err = -ENOENT;
		goto cleanup;
	}
	cluster_name = jstr(ctx, "cluster");
	cl = cluster_name ? find_named(root, "clusters", "cluster", cluster_name) : NULL;
	if (!cl) {
		kubeconfig_set_err(errbuf, errlen,
				   "kubeconfig: cluster \"%s\" of context \"%s\" not found",
				   cluster_name ? cluster_name : "", context);
		err = -ENOENT;
		goto cleanup;
	}
	user_name = jstr(ctx, "user");
	if (user_name && user_name[0]) {
		u = find_named(root, "users", "user", user_name);
		if (!u) {
			kubeconfig_set_err(errbuf, errlen,
					   "kubeconfig: user \"%s\" of context \"%s\" not found",
					   user_name, context);
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

/* Read a whole small file (capped, lib/readfile.h); *out is NUL-terminated,
 * caller frees. Over the cap is "File too large" in messages. */
static int read_capped(const char *path, size_t cap, char **out, size_t *out_len)
{
	void *buf = NULL;
	int err = read_file_capped(path, cap, &buf, out_len);

	*out = buf;
	return err == -E2BIG ? -EFBIG : err;
}

int kubeconfig_load_file(const char *path, const char *context, struct k8s_config **out,
			 char *errbuf, size_t errlen)
{
	char *buf = NULL, *dir = NULL, *slash;
	size_t len;
	int err;

	err = read_capped(path, KUBECONFIG_MAX_BYTES, &buf, &len);
	if (err) {
		kubeconfig_set_err(errbuf, errlen, "kubeconfig %s: %s", path, strerror(-err));
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
	kubeconfig_set_err(errbuf, errlen,
			   "no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config)");
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
		kubeconfig_set_err(errbuf, errlen,
				   "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset");
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
		kubeconfig_set_err(errbuf, errlen, "service-account token %s: %s", cfg->token_file,
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
