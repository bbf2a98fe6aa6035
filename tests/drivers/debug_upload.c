/* SPDX-License-Identifier: Apache-2.0 */
/* debug_upload.c -- `podprof-testdrv debug-upload`: drive the storage module by hand.
 *
 * Exists so the storage e2e tests (and a human debugging a bucket setup) can
 * exercise exactly the code the operator uses -- flags, SigV4, retries, the
 * spool -- without a cluster. Each storage event is printed as one line:
 *   uploaded <key> <url> <size>
 *   spooled <key> <message>
 *   retrying <key> <message>
 *   failed <key> <message>
 */
#include "debug_upload.h"

#include "flamegraph.h"
#include "log.h"
#include "storage.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEBUG_MAX_FILE (512u << 20)

static const char usage[] =
    "usage: podprof-testdrv debug-upload [STORAGE FLAGS] [OPTIONS] FILE KEY\n"
    "       podprof-testdrv debug-upload [STORAGE FLAGS] --drain\n"
    "       podprof-testdrv debug-upload [STORAGE FLAGS] --get KEY [-o OUT]\n"
    "Upload FILE as KEY, upload what the spool holds (--drain), or fetch KEY.\n"
    "Options: --content-type TYPE (default application/octet-stream)\n"
    "         --wait      keep retrying a spooled object until it is uploaded\n"
    "         --timeout S give up waiting after S seconds (default 120)\n"
    "Exit: 0 uploaded, 1 failed, 2 usage, 3 spooled (not waited for), 4 timeout.\n"
    "Example: debug-upload --storage=s3 --s3-endpoint=http://127.0.0.1:9000 \\\n"
    "           --s3-bucket=profiles --spool-dir=/tmp/spool out.pb.gz a/b.pb.gz\n";

struct run {
	int uploaded, spooled, failed, retrying;
};

static void on_event(const struct storage_event *ev, void *arg)
{
	struct run *r = arg;

	switch (ev->state) {
	case STORAGE_UPLOADED:
		r->uploaded++;
		printf("uploaded %s %s %zu\n", ev->key, ev->url, ev->size);
		break;
	case STORAGE_SPOOLED:
		r->spooled++;
		printf("spooled %s %s\n", ev->key, ev->message);
		break;
	case STORAGE_RETRYING:
		r->retrying++;
		printf("retrying %s %s\n", ev->key, ev->message);
		break;
	case STORAGE_FAILED:
		r->failed++;
		printf("failed %s %s\n", ev->key, ev->message);
		break;
	}
	fflush(stdout);
}

static int read_input(const char *path, void **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int err = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t got;

		if (n == cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			if (cap > DEBUG_MAX_FILE + 1)
				cap = DEBUG_MAX_FILE + 1;
			if (n == cap) {
				err = -E2BIG;
				break;
			}
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				break;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (!err && ferror(f))
		err = -EIO;
	fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	*data = buf;
	*len = n;
	return 0;
}

static int do_get(struct storage *s, const char *key, const char *out_path)
{
	void *data = NULL;
	size_t len = 0;
	char *msg = NULL;
	FILE *f;
	int err = storage_get(s, key, DEBUG_MAX_FILE, NULL, &data, &len, &msg);

	if (err) {
		fprintf(stderr, "get %s: %s\n", key, msg ? msg : strerror(-err));
		free(msg);
		return 1;
	}
	f = out_path ? fopen(out_path, "wb") : stdout;
	if (!f || fwrite(data, 1, len, f) != len) {
		fprintf(stderr, "cannot write %s: %s\n", out_path ? out_path : "stdout",
			strerror(errno));
		err = -EIO;
	}
	if (f && f != stdout)
		fclose(f);
	free(data);
	return err ? 1 : 0;
}

/* Render the pprof's flame graph and queue it next to the profile. */
static int put_svg(struct storage *s, const char *key, const void *data, size_t len)
{
	size_t klen = strlen(key), svg_len = 0;
	char *svg = NULL, *svg_key = NULL;
	int err;

	if (klen > 6 && !strcmp(key + klen - 6, ".pb.gz"))
		klen -= 6;
	if (asprintf(&svg_key, "%.*s.svg", (int)klen, key) < 0)
		return -ENOMEM;
	err = flamegraph_svg(data, len, key, &svg, &svg_len);
	if (err)
		fprintf(stderr, "cannot render a flame graph of %s: %s\n", key, strerror(-err));
	else
		err = storage_put_async(s, svg_key, svg, svg_len, "image/svg+xml", NULL, NULL);
	free(svg);
	free(svg_key);
	return err;
}

int debug_upload_main(int argc, char **argv)
{
	struct storage_config cfg;
	struct storage *s = NULL;
	struct run r = {0};
	const char *ctype = "application/octet-stream", *get_key = NULL, *out_path = NULL;
	const char *pos[2] = {NULL, NULL};
	bool wait_upload = false, drain = false, with_svg = false;
	long timeout_s = 120;
	void *data = NULL;
	size_t len = 0, npos = 0;
	time_t deadline;
	int err, rc = 1;

	storage_config_init(&cfg);
	if (storage_config_parse_args(&cfg, &argc, argv)) {
		rc = 2;
		goto cleanup;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_next = i + 1 < argc;

		if (!strcmp(a, "--wait")) {
			wait_upload = true;
		} else if (!strcmp(a, "--with-svg")) {
			with_svg = true;
		} else if (!strcmp(a, "--drain")) {
			drain = true;
		} else if (!strcmp(a, "--content-type") && has_next) {
			ctype = argv[++i];
		} else if (!strcmp(a, "--get") && has_next) {
			get_key = argv[++i];
		} else if (!strcmp(a, "-o") && has_next) {
			out_path = argv[++i];
		} else if (!strcmp(a, "--timeout") && has_next) {
			char *end = NULL;

			timeout_s = strtol(argv[++i], &end, 10);
			if (*end || timeout_s < 1 || timeout_s > 86400) {
				fprintf(stderr, "invalid --timeout value '%s'\n", argv[i]);
				rc = 2;
				goto cleanup;
			}
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			for (const struct storage_flag *f = storage_flags; f->name; f++)
				printf("  --%s%s%s\t%s\n", f->name, f->arg ? "=" : "",
				       f->arg ? f->arg : "", f->help);
			rc = 0;
			goto cleanup;
		} else if (a[0] != '-' && npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "unexpected argument '%s'\n%s", a, usage);
			rc = 2;
			goto cleanup;
		}
	}
	if (!get_key && !drain && npos != 2) {
		fputs(usage, stderr);
		rc = 2;
		goto cleanup;
	}
	if (storage_config_finish(&cfg)) {
		rc = 2;
		goto cleanup;
	}
	if (npos == 2) {
		err = read_input(pos[0], &data, &len);
		if (err) {
			fprintf(stderr, "cannot read %s: %s\n", pos[0], strerror(-err));
			goto cleanup;
		}
	}
	err = storage_open(&s, &cfg, on_event, &r);
	if (err) {
		fprintf(stderr, "cannot open storage: %s\n", strerror(-err));
		goto cleanup;
	}
	if (get_key) {
		rc = do_get(s, get_key, out_path);
		goto cleanup;
	}
	if (npos == 2) {
		err = storage_put_async(s, pos[1], data, len, ctype, NULL, NULL);
		if (err) {
			fprintf(stderr, "cannot queue %s: %s\n", pos[1], strerror(-err));
			goto cleanup;
		}
		if (with_svg && put_svg(s, pos[1], data, len))
			goto cleanup;
	}
	deadline = time(NULL) + timeout_s;
	for (;;) {
		struct pollfd pfd = {.fd = storage_event_fd(s), .events = POLLIN};
		size_t pending = 0;

		/* The short timeout only re-checks the pending count for --drain,
		 * whose recovered objects report nothing until they finish. */
		poll(&pfd, 1, 200);
		storage_poll_completions(s);
		storage_pending(s, &pending, NULL);
		if (r.failed) {
			rc = 1;
			break;
		}
		if (pending == 0) {
			rc = 0;
			break;
		}
		if (r.spooled && !wait_upload && !drain) {
			rc = 3;
			break;
		}
		if (time(NULL) >= deadline) {
			fprintf(stderr, "timed out with %zu objects pending\n", pending);
			rc = 4;
			break;
		}
	}
cleanup:
	storage_close(s);
	storage_config_release(&cfg);
	free(data);
	return rc;
}
