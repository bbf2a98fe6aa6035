/* SPDX-License-Identifier: Apache-2.0 */
/* client.c -- kubectl-podprof's cluster side: connect, read targets, read
 * stored profiles through the operator's service proxy, write files.
 */
#include "cli.h"

#include "flamegraph.h"
#include "json_path.h"
#include "pprof.h"
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PT_PREFIX "/apis/podprof.dev/v1alpha1"

int cli_connect(struct cli_opts *o, struct k8s_client **out)
{
	struct k8s_config *cfg = NULL;
	char why[512] = "";
	int err;

	err = kubeconfig_load_default(o->kubeconfig, o->context, &cfg, why, sizeof(why));
	if (err) {
		fprintf(stderr, "error: cannot load kubeconfig: %s\n",
			why[0] ? why : strerror(-err));
		return err;
	}
	err = k8s_client_new(cfg, out);
	k8s_config_free(cfg);
	if (err) {
		fprintf(stderr, "error: cannot create the Kubernetes client: %s\n", strerror(-err));
		return err;
	}
	if (!o->ns)
		o->ns = k8s_client_namespace(*out);
	return 0;
}

int cli_get_target(struct k8s_client *c, const struct cli_opts *o, const char *name,
		   json_object **out)
{
	struct k8s_api_error aerr = {0};
	char path[1024];
	int err;

	err = k8s_build_path(path, sizeof(path), PT_PREFIX, o->ns, "profilingtargets", name, NULL);
	if (err) {
		fprintf(stderr, "error: invalid ProfilingTarget name \"%s\"\n", name);
		return err;
	}
	err = k8s_get(c, path, out, &aerr);
	if (err == -ENOENT)
		fprintf(stderr, "error: profilingtarget \"%s\" not found in namespace %s\n", name,
			o->ns);
	else if (err)
		fprintf(stderr, "error: cannot read profilingtarget %s/%s: %s\n", o->ns, name,
			aerr.message[0] ? aerr.message : strerror(-err));
	return err;
}

static const char *jstr(json_object *o, const char *a, const char *b, const char *c)
{
	return json_path_str(o, a, b, c, (const char *)NULL);
}

/* Object keys end in <ns>/<target>/<uid>/<start>.pb.gz (storage_key): where
 * those last four path components start in url, whatever the store's URL
 * scheme; NULL when url has fewer. */
static const char *url_key_tail(const char *url)
{
	int slashes = 0;

	for (const char *p = url + strlen(url); p > url; p--)
		if (p[-1] == '/' && ++slashes == 4)
			return p;
	return NULL;
}

int cli_profile_rel(json_object *target, const char *window, const char *ext, char *buf, size_t len)
{
	const char *url = jstr(target, "status", "profile", "url");
	const char *name = jstr(target, "metadata", "name", NULL);
	const char *p;
	size_t start;
	int n;

	if (!url || !name) {
		fprintf(stderr, "error: profilingtarget %s has no stored profile yet\n",
			name ? name : "?");
		return -ENOENT;
	}
	p = url_key_tail(url);
	if (!p) {
		fprintf(stderr, "error: unexpected profile URL \"%s\"\n", url);
		return -EPROTO;
	}
	start = (size_t)(strrchr(url, '/') - p) + 1;
	if (window)
		n = snprintf(buf, len, "%.*s%s.%s", (int)start, p, window, ext);
	else
		n = snprintf(buf, len, "%.*s%.*s.%s", (int)start, p, (int)strcspn(p + start, "."),
			     p + start, ext);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int cli_fetch_object(struct k8s_client *c, const struct cli_opts *o, const char *rel, void **out,
		     size_t *len)
{
	struct k8s_api_error aerr = {0};
	char path[2048];
	int n, err;

	n = snprintf(path, sizeof(path),
		     "/api/v1/namespaces/%s/services/%s%s:%lu/proxy/profiles/%s", o->op_ns,
		     strcmp(o->op_scheme, "https") ? "" : "https:", o->op_service, o->op_port, rel);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	err = k8s_get_bytes(c, path, CLI_MAX_PROFILE, out, len, &aerr);
	if (err == -EPERM || err == -EACCES)
		fprintf(stderr,
			"error: not allowed to read profiles through service %s/%s: %s\n"
			"(reading needs `get services/proxy` on it, e.g. the podprof-viewer "
			"ClusterRole)\n",
			o->op_ns, o->op_service, aerr.message[0] ? aerr.message : strerror(-err));
	else if (err == -ENOENT)
		fprintf(stderr, "error: profile %s not found (%s)\n", rel,
			aerr.message[0] ? aerr.message : "no such object or service");
	else if (err)
		fprintf(stderr, "error: cannot read profile %s via service %s/%s: %s\n", rel,
			o->op_ns, o->op_service, aerr.message[0] ? aerr.message : strerror(-err));
	return err;
}

/* S3 credentials in the environment (both keys set), unless --via-operator. */
static bool direct_creds(const struct cli_opts *o, struct storage_url_creds *cr)
{
	const char *region = getenv("AWS_REGION");

	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	*cr = (struct storage_url_creds){.access_key = getenv("AWS_ACCESS_KEY_ID"),
					 .secret_key = getenv("AWS_SECRET_ACCESS_KEY"),
					 .region = region,
					 .ca_file = getenv("AWS_CA_BUNDLE")};
	return !o->via_operator && cr->access_key && *cr->access_key && cr->secret_key &&
	       *cr->secret_key;
}

/* Read rel from the bucket itself: the object URL is the target's
 * status.profile.url with its last four components (rel's shape) replaced. */
static int fetch_direct(json_object *target, const struct storage_url_creds *cr, const char *rel,
			void **out, size_t *len)
{
	const char *url = jstr(target, "status", "profile", "url");
	char obj[4096], *msg = NULL;
	const char *p = url ? url_key_tail(url) : NULL;
	int n, err;

	if (!p)
		return -EPROTO; /* cli_profile_rel has said why */
	n = snprintf(obj, sizeof(obj), "%.*s%s", (int)(p - url), url, rel);
	if (n < 0 || (size_t)n >= sizeof(obj))
		return -ENAMETOOLONG;
	err = storage_get_url(obj, cr, CLI_MAX_PROFILE, out, len, &msg);
	if (err)
		fprintf(stderr,
			"error: cannot read the profile from the bucket with the S3 credentials in "
			"the environment: %s\n(--via-operator, or unsetting AWS_ACCESS_KEY_ID, "
			"reads through the operator instead)\n",
			msg ? msg : strerror(-err));
	free(msg);
	return err;
}

int cli_write_file(const char *dir, const char *name, const void *data, size_t len, bool quiet)
{
	char path[4096], tmp[4200];
	FILE *f;
	int n, err = 0;

	if (dir && *dir && mkdir(dir, 0755) && errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "error: cannot create %s: %s\n", dir, strerror(-err));
		return err;
	}
	n = snprintf(path, sizeof(path), "%s%s%s", dir && *dir ? dir : "", dir && *dir ? "/" : "",
		     name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	/* Write then rename, so a reader never sees half a profile. */
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	f = fopen(tmp, "wb");
	if (!f || fwrite(data, 1, len, f) != len) {
		err = -errno ? -errno : -EIO;
	}
	if (f && fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		unlink(tmp);
		fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(-err));
		return err;
	}
	if (!quiet)
		printf("wrote %s (%zu bytes)\n", path, len);
	return 0;
}

int cli_fetch_profile(struct k8s_client *c, const struct cli_opts *o, const char *name,
		      const char *dir, void **pprof, size_t *len)
{
	struct storage_url_creds cr;
	json_object *t = NULL;
	char rel[1024], file[512], title[600];
	void *data = NULL;
	char *svg = NULL;
	size_t dlen = 0, svg_len = 0;
	int err;

	err = cli_get_target(c, o, name, &t);
	if (!err)
		err = cli_profile_rel(t, o->window, "pb.gz", rel, sizeof(rel));
	if (!err && direct_creds(o, &cr)) {
		if (!o->quiet)
			fprintf(stderr,
				"reading %s from the bucket (S3 credentials in the "
				"environment)\n",
				rel);
		err = fetch_direct(t, &cr, rel, &data, &dlen);
	} else if (!err) {
		err = cli_fetch_object(c, o, rel, &data, &dlen);
	}
	if (err || !dir)
		goto cleanup;
	snprintf(file, sizeof(file), "%s.pb.gz", name);
	err = cli_write_file(dir, file, data, dlen, o->quiet);
	if (err)
		goto cleanup;
	/* Rendered here from the bytes just read, so the picture always
	 * matches the pprof next to it. */
	snprintf(title, sizeof(title), "%s/%s", o->ns, name);
	err = flamegraph_svg(data, dlen, title, &svg, &svg_len);
	if (err) {
		fprintf(stderr, "error: cannot render the flame graph: %s\n", strerror(-err));
		goto cleanup;
	}
	snprintf(file, sizeof(file), "%s.svg", name);
	err = cli_write_file(dir, file, svg, svg_len, o->quiet);
cleanup:
	if (!err && pprof) {
		*pprof = data;
		*len = dlen;
		data = NULL;
	}
	free(svg);
	free(data);
	json_object_put(t);
	return err;
}

int cli_print_top(const void *pprof, size_t len, unsigned long lines)
{
	struct pprof_builder *b = NULL;
	struct pprof_top_entry *top = NULL;
	size_t n = 0;
	int64_t total;
	bool offcpu;
	int err;

	err = pprof_builder_new(&b, 1, 0);
	if (!err)
		err = pprof_builder_merge(b, pprof, len, CLI_MAX_PROFILE);
	if (!err)
		err = pprof_builder_top(b, lines, &top, &n);
	if (err) {
		fprintf(stderr, "error: cannot read the profile: %s\n", strerror(-err));
		goto cleanup;
	}
	total = pprof_builder_total(b);
	offcpu = pprof_builder_is_offcpu(b);
	/* An off-CPU profile weighs nanoseconds blocked: shares of that time, self in ms. */
	if (offcpu)
		printf("%.3f s blocked (off CPU)\n", (double)total / 1e9);
	else
		printf("%lld samples\n", (long long)total);
	printf("%7s %7s %9s  %s\n", "SELF%", "TOTAL%", offcpu ? "SELF_MS" : "SAMPLES", "FUNCTION");
	for (size_t i = 0; i < n && total > 0; i++)
		printf("%6.2f%% %6.2f%% %9lld  %s\n", 100.0 * (double)top[i].self / (double)total,
		       100.0 * (double)top[i].total / (double)total,
		       (long long)(offcpu ? top[i].self / 1000000 : top[i].self), top[i].function);
cleanup:
	pprof_top_free(top, n);
	pprof_builder_free(b);
	return err;
}
