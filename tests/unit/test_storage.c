/* SPDX-License-Identifier: Apache-2.0 */
/* test_storage.c -- storage keys, flags, spool recovery and the dir backend. */
#include "unit.h"

#include "storage_int.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *make_tmpdir(void)
{
	char tmpl[] = "/tmp/podprof-storage-test-XXXXXX";
	char *d = mkdtemp(tmpl);

	return d ? strdup(d) : NULL;
}

static void rm_rf(const char *dir)
{
	char cmd[512];

	/* Only ever our own mkdtemp folders. */
	if (dir && !strncmp(dir, "/tmp/podprof-storage-test-", 26)) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "    could not remove %s\n", dir);
	}
}

static int count_files(const char *dir, const char *suffix)
{
	char cmd[512], buf[32] = "";
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' 2>/dev/null | grep -c -- '%s$'", dir, suffix);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(buf, sizeof(buf), p))
		buf[0] = '\0';
	pclose(p);
	return atoi(buf);
}

/* Objects land under <prefix>/<ns>/<target>/<uid>/<RFC3339 basic>.<ext>. */
UNIT_TEST(storage_key_layout)
{
	char *k = NULL;

	CHECK_EQ_INT(
	    storage_key("profiles", "default", "web", "1234-abcd", 1795774500, "pb.gz", &k), 0);
	CHECK_EQ_STR(k, "profiles/default/web/1234-abcd/20261127T101500Z.pb.gz");
	free(k);
	CHECK_EQ_INT(storage_key("", "ns", "t", "u", 0, "svg", &k), 0);
	CHECK_EQ_STR(k, "ns/t/u/19700101T000000Z.svg");
	free(k);
	CHECK_EQ_INT(storage_key(NULL, "ns", "t", "u", 0, "svg", &k), 0);
	CHECK_EQ_STR(k, "ns/t/u/19700101T000000Z.svg");
	free(k);
	/* Components that could escape or confuse the layout are refused. */
	CHECK_EQ_INT(storage_key("p", "a/b", "t", "u", 0, "svg", &k), -EINVAL);
	CHECK(k == NULL);
	CHECK_EQ_INT(storage_key("p", "..", "t", "u", 0, "svg", &k), -EINVAL);
	CHECK_EQ_INT(storage_key("p", "ns", "", "u", 0, "svg", &k), -EINVAL);
	CHECK_EQ_INT(storage_key("p", "ns", "t", "u\n", 0, "svg", &k), -EINVAL);
	CHECK_EQ_INT(storage_key("p", "ns", "t", "u", -1, "svg", &k), -EINVAL);
}

/* Keys that could climb out of a directory store or break S3 are invalid. */
UNIT_TEST(storage_key_valid_rules)
{
	char big[STORAGE_MAX_KEY + 2];

	CHECK(storage_key_valid("a/b/c.pb.gz"));
	CHECK(storage_key_valid("a b+c=é"));
	CHECK(!storage_key_valid(""));
	CHECK(!storage_key_valid("/abs"));
	CHECK(!storage_key_valid("a//b"));
	CHECK(!storage_key_valid("a/../b"));
	CHECK(!storage_key_valid("a/./b"));
	CHECK(!storage_key_valid("a/b/"));
	CHECK(!storage_key_valid("a\\b"));
	CHECK(!storage_key_valid("a\x01"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(!storage_key_valid(big));
}

/* Storage flags are consumed from argv, other flags left for the caller. */
UNIT_TEST(storage_config_flags)
{
	struct storage_config c;
	char *argv[] = {"op",
			"--kubeconfig=x",
			"--storage=s3",
			"--s3-endpoint",
			"http://127.0.0.1:9000",
			"--s3-bucket=b",
			"--s3-prefix=/team/a/",
			"--s3-insecure",
			"--s3-access-key=AK",
			"--s3-secret-key=SK",
			"pos",
			"--spool-dir=/tmp/s",
			NULL};
	int argc = 12;

	storage_config_init(&c);
	CHECK_EQ_INT(storage_config_parse_args(&c, &argc, argv), 0);
	CHECK_EQ_INT(argc, 3);
	CHECK_EQ_STR(argv[1], "--kubeconfig=x");
	CHECK_EQ_STR(argv[2], "pos");
	CHECK(argv[3] == NULL);
	CHECK_EQ_INT(c.backend, STORAGE_BACKEND_S3);
	CHECK_EQ_STR(c.prefix, "team/a");
	CHECK(c.insecure);
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_STR(c.region, getenv("AWS_REGION") ? getenv("AWS_REGION") : "us-east-1");
	CHECK_EQ_INT(c.path_style, 1); /* custom endpoint -> path-style */
	CHECK_EQ_INT(storage_config_set(&c, "s3-endpoint", "ftp://x"), -EINVAL);
	CHECK_EQ_INT(storage_config_set(&c, "s3-path-style", "maybe"), -EINVAL);
	CHECK_EQ_INT(storage_config_set(&c, "s3-path-style", "false"), 0);
	CHECK_EQ_INT(c.path_style, 0);
	CHECK_EQ_INT(storage_config_set(&c, "kubeconfig", "x"), -ENOENT);
	storage_config_release(&c);
	storage_config_release(NULL);
}

/* Credentials come from mounted Secret files (newline trimmed), else env. */
UNIT_TEST(storage_config_credentials)
{
	struct storage_config c;
	char *dir = make_tmpdir(), ak[256], sk[256];
	char *url = NULL;
	FILE *f;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(ak, sizeof(ak), "%s/access", dir);
	snprintf(sk, sizeof(sk), "%s/secret", dir);
	f = fopen(ak, "w");
	fputs("AKFILE\n", f);
	fclose(f);
	f = fopen(sk, "w");
	fputs("SKFILE\n", f);
	fclose(f);
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);

	storage_config_init(&c);
	storage_config_set(&c, "storage", "s3");
	storage_config_set(&c, "s3-bucket", "bkt");
	storage_config_set(&c, "s3-access-key-file", ak);
	storage_config_set(&c, "s3-secret-key-file", sk);
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_STR(c.access_key, "AKFILE");
	CHECK_EQ_STR(c.secret_key, "SKFILE");
	/* No endpoint: AWS, virtual-hosted. */
	CHECK_EQ_INT(c.path_style, 0);
	free(c.region);
	c.region = strdup("eu-west-1");
	CHECK_EQ_INT(s3_object_url(&c, "p/a b.svg", &url), 0);
	CHECK_EQ_STR(url, "https://bkt.s3.eu-west-1.amazonaws.com/p/a%20b.svg");
	free(url);
	storage_config_release(&c);

	storage_config_init(&c);
	storage_config_set(&c, "storage", "s3");
	storage_config_set(&c, "s3-bucket", "bkt");
	storage_config_set(&c, "s3-endpoint", "https://minio.local:9000/");
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_STR(c.access_key, "AKENV");
	CHECK_EQ_STR(c.secret_key, "SKENV");
	CHECK_EQ_INT(s3_object_url(&c, "k/x.pb.gz", &url), 0);
	CHECK_EQ_STR(url, "https://minio.local:9000/bkt/k/x.pb.gz");
	free(url);
	c.path_style = 0;
	CHECK_EQ_INT(s3_object_url(&c, "k", &url), 0);
	CHECK_EQ_STR(url, "https://bkt.minio.local:9000/k");
	free(url);
	storage_config_release(&c);

	/* A missing key file or a missing bucket is a clear config error. */
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	storage_config_init(&c);
	storage_config_set(&c, "storage", "s3");
	storage_config_set(&c, "s3-bucket", "bkt");
	storage_config_set(&c, "s3-access-key-file", "/nonexistent/podprof/ak");
	CHECK_EQ_INT(storage_config_finish(&c), -EINVAL);
	storage_config_release(&c);
	storage_config_init(&c);
	storage_config_set(&c, "storage", "s3");
	storage_config_set(&c, "s3-access-key", "a");
	storage_config_set(&c, "s3-secret-key", "b");
	CHECK_EQ_INT(storage_config_finish(&c), -EINVAL);
	storage_config_release(&c);
	rm_rf(dir);
	free(dir);
}

/* A sidecar that is not exactly {key, contentType, size} is never trusted. */
UNIT_TEST(storage_sidecar_malformed)
{
	static const char *bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{\"key\":\"a\"}",
	    "{\"key\":1,\"contentType\":\"t\",\"size\":1}",
	    "{\"key\":\"a\",\"contentType\":\"t\",\"size\":\"1\"}",
	    "{\"key\":\"a\",\"contentType\":\"t\",\"size\":-1}",
	    "{\"key\":\"../etc/x\",\"contentType\":\"t\",\"size\":1}",
	    "{\"key\":\"/abs\",\"contentType\":\"t\",\"size\":1}",
	    "{\"key\":\"a\",\"contentType\":\"\",\"size\":1}",
	    "{\"key\":\"a\",\"contentType\":\"t\",\"size\":1} trailing",
	    "{\"key\":\"a\",\"contentType\":\"t\",\"size\":99999999999999}",
	    "{\"key\":\"a\",\"contentType\":\"t\",\"size\":1",
	    "{\"key\":{\"key\":{\"key\":{\"key\":{\"key\":{\"key\":{\"key\":{\"key\":{}}}}}}}}}",
	};
	char *k = NULL, *ct = NULL, *huge;
	size_t sz = 0;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = spool_parse_sidecar(bad[i], strlen(bad[i]), &k, &ct, &sz);

		if (err != -EINVAL)
			fprintf(stderr, "    accepted bad sidecar #%zu: %s\n", i, bad[i]);
		CHECK_EQ_INT(err, -EINVAL);
		CHECK(k == NULL && ct == NULL);
	}
	huge = malloc(STORAGE_MAX_SIDECAR + 64);
	snprintf(huge, STORAGE_MAX_SIDECAR + 64,
		 "{\"key\":\"a\",\"contentType\":\"t\",\"size\":1,\"x\":\"%0*d\"}",
		 STORAGE_MAX_SIDECAR, 0);
	CHECK_EQ_INT(spool_parse_sidecar(huge, strlen(huge), &k, &ct, &sz), -EINVAL);
	free(huge);

	const char *good = "{\"key\":\"ns/t/u/x.pb.gz\",\"contentType\":\"application/gzip\","
			   "\"size\":42}";
	CHECK_EQ_INT(spool_parse_sidecar(good, strlen(good), &k, &ct, &sz), 0);
	CHECK_EQ_STR(k, "ns/t/u/x.pb.gz");
	CHECK_EQ_STR(ct, "application/gzip");
	CHECK_EQ_INT(sz, 42);
	free(k);
	free(ct);
}

/* Spooled objects survive a restart; crash debris is cleaned, bad entries kept aside. */
UNIT_TEST(storage_spool_roundtrip)
{
	char *dir = make_tmpdir(), path[512], *id1 = NULL, *id2 = NULL, *id3 = NULL;
	struct spool_entry *e = NULL;
	size_t n = 0, len = 0;
	void *data = NULL;
	FILE *f;

	CHECK(dir != NULL);
	if (!dir)
		return;
	CHECK_EQ_INT(spool_write(dir, "a/one.pb.gz", "application/gzip", "hello", 5, &id1), 0);
	CHECK_EQ_INT(spool_write(dir, "a/two.svg", "image/svg+xml", "<svg/>", 6, &id2), 0);
	CHECK(id1 && id2 && strcmp(id1, id2) < 0);
	CHECK_EQ_INT(spool_write(dir, "../evil", "t", "x", 1, &id3), -EINVAL);
	CHECK(id3 == NULL);
	/* Crash debris: a temp file, an uncommitted data file, a corrupt sidecar. */
	snprintf(path, sizeof(path), "%s/.tmp-1-2-zzz.data", dir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/orphan.data", dir);
	f = fopen(path, "w");
	fputs("lost", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/corrupt.data", dir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/corrupt.json", dir);
	f = fopen(path, "w");
	fputs("{\"key\":", f);
	fclose(f);

	CHECK_EQ_INT(spool_scan(dir, &e, &n), 0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(e[0].key, "a/one.pb.gz");
		CHECK_EQ_STR(e[0].content_type, "application/gzip");
		CHECK_EQ_INT(e[0].size, 5);
		CHECK_EQ_STR(e[1].key, "a/two.svg");
		CHECK_EQ_INT(spool_read(dir, &e[0], &data, &len), 0);
		CHECK_EQ_INT(len, 5);
		CHECK(data && !memcmp(data, "hello", 5));
		free(data);
		CHECK_EQ_INT(spool_remove(dir, e[0].id), 0);
	}
	spool_entries_free(e, n);
	CHECK_EQ_INT(count_files(dir, ".tmp-1-2-zzz.data"), 0);
	CHECK_EQ_INT(count_files(dir, "orphan.data"), 0);
	CHECK_EQ_INT(count_files(dir, "corrupt.bad"), 1);
	CHECK_EQ_INT(count_files(dir, "corrupt.data"), 1);

	CHECK_EQ_INT(spool_scan(dir, &e, &n), 0);
	CHECK_EQ_INT(n, 1);
	if (n == 1)
		CHECK_EQ_STR(e[0].key, "a/two.svg");
	spool_entries_free(e, n);
	free(id1);
	free(id2);
	rm_rf(dir);
	free(dir);
}

struct seen {
	int n[4];
	char url[512];
	char message[1024];
	int err;
	bool spooled;
};

static void record(const struct storage_event *ev, void *arg)
{
	struct seen *s = arg;

	s->n[ev->state]++;
	snprintf(s->url, sizeof(s->url), "%s", ev->url);
	snprintf(s->message, sizeof(s->message), "%s", ev->message);
	s->err = ev->err;
	s->spooled = ev->spooled;
}

/* Wait (generously) until `want` events have been delivered. */
static void drain_events(struct storage *st, struct seen *s, int want)
{
	for (int i = 0; i < 600; i++) {
		struct pollfd p = {.fd = storage_event_fd(st), .events = POLLIN};
		int total;

		poll(&p, 1, 100);
		storage_poll_completions(st);
		total = s->n[0] + s->n[1] + s->n[2] + s->n[3];
		if (total >= want)
			return;
	}
}

/* The directory store writes the object byte-identically under the key. */
UNIT_TEST(storage_dir_backend)
{
	char *dir = make_tmpdir(), base[512];
	struct storage_config c;
	struct storage *st = NULL;
	struct seen seen = {0};
	void *back = NULL;
	size_t len = 0, n = 9;
	char *msg = NULL;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(base, sizeof(base), "%s/store", dir);
	storage_config_init(&c);
	storage_config_set(&c, "storage-dir", base);
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_INT(storage_open(&st, &c, record, &seen), 0);
	if (!st)
		goto cleanup;
	CHECK_EQ_INT(storage_put_async(st, "ns/t/u/x.pb.gz", "\x1f\x8b\0data", 7,
				       "application/gzip", NULL, NULL),
		     0);
	CHECK_EQ_INT(storage_put_async(st, "../x", "a", 1, "t", NULL, NULL), -EINVAL);
	drain_events(st, &seen, 1);
	CHECK_EQ_INT(seen.n[STORAGE_UPLOADED], 1);
	CHECK(!strncmp(seen.url, "file:///tmp/podprof-storage-test-", 33));
	CHECK(strstr(seen.url, "/store/ns/t/u/x.pb.gz") != NULL);
	storage_pending(st, &n, NULL);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_STR(storage_prefix(st), "");
	CHECK_EQ_INT(storage_get(st, "ns/t/u/x.pb.gz", 1024, NULL, &back, &len, &msg), 0);
	CHECK_EQ_INT(len, 7);
	CHECK(back && !memcmp(back, "\x1f\x8b\0data", 7));
	free(back);
	CHECK_EQ_INT(storage_get(st, "ns/t/u/x.pb.gz", 3, NULL, &back, &len, &msg), -E2BIG);
	free(msg);
cleanup:
	storage_close(st);
	storage_config_release(&c);
	rm_rf(dir);
	free(dir);
}

/* storage_render_fn for the test: the input upper-cased and titled; fails
 * on input "bad". Records the thread it ran on. */
static pthread_t render_thread;

static int render_upper(const void *in, size_t len, const char *title, void **out, size_t *out_len)
{
	char *o;

	render_thread = pthread_self();
	if (len == 3 && !memcmp(in, "bad", 3))
		return -EILSEQ;
	o = malloc(strlen(title) + 1 + len);
	if (!o)
		return -ENOMEM;
	memcpy(o, title, strlen(title));
	o[strlen(title)] = ':';
	for (size_t i = 0; i < len; i++)
		o[strlen(title) + 1 + i] = (char)toupper(((const unsigned char *)in)[i]);
	*out = o;
	*out_len = strlen(title) + 1 + len;
	return 0;
}

/* A rendered put stores render(data, title), made on the uploader thread;
 * a failed rendering is reported as FAILED. */
UNIT_TEST(storage_rendered_put)
{
	char *dir = make_tmpdir(), base[512];
	struct storage_config c;
	struct storage *st = NULL;
	struct seen seen = {0};
	void *back = NULL;
	size_t len = 0;
	char *msg = NULL;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(base, sizeof(base), "%s/store", dir);
	storage_config_init(&c);
	storage_config_set(&c, "storage-dir", base);
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_INT(storage_open(&st, &c, record, &seen), 0);
	if (!st)
		goto cleanup;
	render_thread = pthread_self();
	CHECK_EQ_INT(storage_put_rendered_async(st, "ns/t/u/x.svg", "flame", 5, "image/svg+xml",
						render_upper, "ns/t", NULL, NULL),
		     0);
	drain_events(st, &seen, 1);
	CHECK_EQ_INT(seen.n[STORAGE_UPLOADED], 1);
	CHECK(!pthread_equal(render_thread, pthread_self()));
	CHECK_EQ_INT(storage_get(st, "ns/t/u/x.svg", 1024, NULL, &back, &len, &msg), 0);
	CHECK_EQ_INT(len, 10);
	CHECK(back && !memcmp(back, "ns/t:FLAME", 10));
	free(back);
	CHECK_EQ_INT(storage_put_rendered_async(st, "ns/t/u/y.svg", "bad", 3, "image/svg+xml",
						render_upper, "ns/t", NULL, NULL),
		     0);
	drain_events(st, &seen, 2);
	CHECK_EQ_INT(seen.n[STORAGE_FAILED], 1);
	CHECK_EQ_INT(seen.err, -EILSEQ);
	CHECK_EQ_INT(storage_get(st, "ns/t/u/y.svg", 1024, NULL, &back, &len, &msg), -ENOENT);
	free(msg);
	CHECK_EQ_INT(
	    storage_put_rendered_async(st, "ns/t/u/z.svg", "a", 1, "t", NULL, NULL, NULL, NULL),
	    -EINVAL);
cleanup:
	storage_close(st);
	storage_config_release(&c);
	rm_rf(dir);
	free(dir);
}

static void s3_unreachable_config(struct storage_config *c, const char *spool)
{
	storage_config_init(c);
	storage_config_set(c, "storage", "s3");
	/* Port 1 on loopback: connection refused at once, like a stopped server. */
	storage_config_set(c, "s3-endpoint", "http://127.0.0.1:1");
	storage_config_set(c, "s3-bucket", "b");
	storage_config_set(c, "s3-access-key", "ak");
	storage_config_set(c, "s3-secret-key", "sk");
	storage_config_set(c, "spool-dir", spool);
	c->quick_retries = 2;
	c->retry_base_ms = 10;
	c->retry_max_ms = 50;
}

/* An unreachable store spools the object; a restart finds it again. */
UNIT_TEST(storage_s3_unreachable_spools)
{
	char *dir = make_tmpdir(), spool[512];
	struct storage_config c;
	struct storage *st = NULL;
	struct seen seen = {0};
	size_t n = 0, bytes = 0;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	s3_unreachable_config(&c, spool);
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_INT(storage_open(&st, &c, record, &seen), 0);
	if (!st)
		goto cleanup;
	CHECK_EQ_INT(storage_put_async(st, "p/x.pb.gz", "abc", 3, "application/gzip", NULL, NULL),
		     0);
	drain_events(st, &seen, 1);
	CHECK_EQ_INT(seen.n[STORAGE_SPOOLED], 1);
	CHECK(seen.spooled);
	CHECK(strstr(seen.message, "127.0.0.1") != NULL);
	CHECK_EQ_INT(count_files(spool, ".json"), 1);
	storage_pending(st, &n, &bytes);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(bytes, 3);
	storage_close(st);
	st = NULL;

	/* Restart: the spooled object is pending again, not forgotten. */
	CHECK_EQ_INT(storage_open(&st, &c, record, &seen), 0);
	for (int i = 0; i < 100 && st; i++) {
		storage_pending(st, &n, NULL);
		if (n == 1)
			break;
		usleep(20000);
	}
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(count_files(spool, ".json"), 1);
cleanup:
	storage_close(st);
	storage_config_release(&c);
	rm_rf(dir);
	free(dir);
}

/* A spool that cannot be written is reported loudly, not ignored. */
UNIT_TEST(storage_s3_spool_unwritable)
{
	char *dir = make_tmpdir(), spool[600], file[512];
	struct storage_config c;
	struct storage *st = NULL;
	struct seen seen = {0};
	FILE *f;

	CHECK(dir != NULL);
	if (!dir)
		return;
	/* A regular file where the spool's parent directory should be:
	 * ENOTDIR even for root, which ignores permission bits. */
	snprintf(file, sizeof(file), "%s/file", dir);
	f = fopen(file, "w");
	fclose(f);
	snprintf(spool, sizeof(spool), "%s/spool", file);
	s3_unreachable_config(&c, spool);
	CHECK_EQ_INT(storage_config_finish(&c), 0);
	CHECK_EQ_INT(storage_open(&st, &c, record, &seen), 0);
	if (!st)
		goto cleanup;
	CHECK_EQ_INT(storage_put_async(st, "p/x.pb.gz", "abc", 3, "application/gzip", NULL, NULL),
		     0);
	drain_events(st, &seen, 1);
	CHECK_EQ_INT(seen.n[STORAGE_RETRYING], 1);
	CHECK(!seen.spooled);
	CHECK(strstr(seen.message, "cannot write spool directory") != NULL);
	CHECK(strstr(seen.message, "Not a directory") != NULL);
cleanup:
	storage_close(st);
	storage_config_release(&c);
	rm_rf(dir);
	free(dir);
}

/* S3 XML errors become "HTTP 403 Code: Message" for status and logs. */
UNIT_TEST(storage_s3_error_message)
{
	const char *body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
			   "<Message>The request signature we calculated does not match"
			   "</Message></Error>";
	char buf[256];

	s3_error_message(body, strlen(body), 403, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "HTTP 403 SignatureDoesNotMatch: The request signature we calculated "
			  "does not match");
	s3_error_message("<html>", 6, 502, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "HTTP 502");
	s3_error_message("<Code>X", 7, 500, buf, sizeof(buf));
	CHECK_EQ_STR(buf, "HTTP 500");
}

/* A reader's signed GET by URL (kubectl podprof with S3 credentials) takes
 * only http(s) URLs and both keys, and reports an unreachable store. */
UNIT_TEST(storage_get_url_rules)
{
	const struct storage_url_creds cr = {.access_key = "AK", .secret_key = "SK"};
	const struct storage_url_creds no_secret = {.access_key = "AK"};
	void *out = (void *)1;
	size_t len = 1;
	char *msg = NULL;

	CHECK_EQ_INT(storage_get_url("file:///etc/passwd", &cr, 1024, &out, &len, &msg), -EINVAL);
	CHECK(out == NULL && len == 0 && msg == NULL);
	CHECK_EQ_INT(storage_get_url("ftp://127.0.0.1/b/k", &cr, 1024, &out, &len, NULL), -EINVAL);
	CHECK_EQ_INT(storage_get_url("http://127.0.0.1:1/b/k", &no_secret, 1024, &out, &len, NULL),
		     -EINVAL);
	/* Port 1 on loopback refuses the connection. */
	CHECK_EQ_INT(
	    storage_get_url("http://127.0.0.1:1/b/ns/t/u/x.pb.gz", &cr, 1024, &out, &len, &msg),
	    -EIO);
	CHECK(out == NULL && msg != NULL && strstr(msg, "127.0.0.1:1") != NULL);
	free(msg);
}
