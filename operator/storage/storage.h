/* SPDX-License-Identifier: Apache-2.0 */
/* storage.h -- object storage for finished profiles: S3 (SigV4) or a local directory.
 *
 * The operator hands each merged profile (and its flame graph) to this module
 * and learns later whether it reached the store. The module wraps libcurl for
 * S3 (signing through CURLOPT_AWS_SIGV4) and owns an on-disk spool so that
 * nothing is dropped while the store is unreachable: an object that cannot be
 * uploaded after a few quick retries is written atomically to the spool
 * directory (data file + JSON sidecar holding key and content type) and
 * retried in the background with capped exponential backoff and jitter until
 * the store returns. The spool is rescanned when storage_open() runs, so
 * pending objects survive an operator restart.
 *
 * Threading model: storage_open() starts ONE uploader thread that owns every
 * network transfer and the spool. The operator's single-threaded main loop
 * talks to it only through this API:
 *   - storage_put_async() copies the object into the uploader's queue and
 *     returns at once;
 *   - progress comes back as struct storage_event values on a completion
 *     queue; storage_event_fd() is an eventfd that becomes readable whenever
 *     events are waiting (add it to the main loop's poll set), and
 *     storage_poll_completions() runs the callbacks ON THE CALLING THREAD.
 *     Callbacks never run on the uploader thread.
 * storage_get() is synchronous and may be called from any thread (it uses
 * its own curl handle); it is meant for tests and diagnostics.
 *
 * Return convention for every function here: 0 on success, negative errno on
 * failure (-EINVAL bad argument/config, -ENOMEM, -EIO transfer or server
 * error, -EACCES/-ENOSPC/... from the file system, -E2BIG past a cap).
 * Secrets (secret key) are never logged.
 */
#ifndef PODPROF_STORAGE_H
#define PODPROF_STORAGE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration ------------------------------------------------------ */

enum storage_backend {
	STORAGE_BACKEND_DIR = 0, /* embedded default: files under dir_path */
	STORAGE_BACKEND_S3 = 1,	 /* S3-compatible server */
};

/* All strings are owned by the struct (malloc'd) and freed by
 * storage_config_release(). Fill with storage_config_init(), then
 * storage_config_parse_args()/storage_config_set(), then
 * storage_config_finish(). */
struct storage_config {
	enum storage_backend backend;
	char *dir_path; /* dir backend: base directory */
	char *endpoint; /* s3: http(s)://host[:port]; NULL = AWS s3.<region>.amazonaws.com */
	char *region;	/* s3: default "us-east-1" */
	char *bucket;	/* s3: required */
	char *prefix;	/* key prefix without leading/trailing '/'; may be "" */
	int path_style; /* 1 path-style, 0 virtual-hosted, -1 auto (path-style iff endpoint set) */
	char *access_key;	     /* from flag, file or AWS_ACCESS_KEY_ID */
	char *secret_key;	     /* from flag, file or AWS_SECRET_ACCESS_KEY; never logged */
	char *access_key_file;	     /* read by storage_config_finish() (a mounted Secret) */
	char *secret_key_file;	     /* read by storage_config_finish() */
	char *ca_file;		     /* s3: CA bundle for https endpoints, or NULL for system CAs */
	bool insecure;		     /* s3: skip TLS verification (test setups only) */
	char *spool_dir;	     /* s3: spool directory (default /var/lib/podprof/spool) */
	unsigned quick_retries;	     /* attempts before spooling (default 3) */
	unsigned retry_base_ms;	     /* first backoff delay (default 500) */
	unsigned retry_max_ms;	     /* backoff cap (default 30000) */
	unsigned connect_timeout_ms; /* per attempt (default 5000) */
	unsigned transfer_timeout_ms; /* per attempt (default 120000) */
};

/* One command-line flag understood by storage_config_set(); the operator
 * puts these in its usage text. Flags take a value ("--name=value" or
 * "--name value") except --s3-insecure. */
struct storage_flag {
	const char *name; /* without leading "--" */
	const char *arg;  /* value placeholder for usage, or NULL for a switch */
	const char *help; /* one line */
};

/* NULL-name-terminated table of the storage flags. */
extern const struct storage_flag storage_flags[];

/* Set defaults (dir backend with dir_path "podprof-profiles", region
 * us-east-1, path_style auto, retry defaults). Cannot fail. */
void storage_config_init(struct storage_config *c);

/* Free every owned string and zero the struct. Accepts NULL. */
void storage_config_release(struct storage_config *c);

/* Apply one flag by name (without "--"), e.g. ("s3-bucket", "profiles").
 * value may be NULL for switches. Returns -ENOENT if name is not a storage
 * flag, -EINVAL (with a message on stderr naming the bad value) if the value
 * is invalid. */
int storage_config_set(struct storage_config *c, const char *name, const char *value);

/* Consume every storage flag from argv (argv[0] is skipped), compacting the
 * remaining arguments in place and updating *argc, so the caller's own
 * getopt sees only its flags. Stops at "--". Returns -EINVAL on a bad value
 * or a missing value (message on stderr). */
int storage_config_parse_args(struct storage_config *c, int *argc, char **argv);

/* Complete and validate: credentials not given as flags come from the key
 * files, then from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; region from
 * AWS_REGION if not set. Checks that an s3 config has a bucket, both keys and
 * a well-formed endpoint. Trailing newlines in key files are dropped (files
 * are capped at 4 KiB). Returns -EINVAL with a message on stderr. */
int storage_config_finish(struct storage_config *c);

/* ---- keys ----------------------------------------------------------------- */

/* 1 when the key may be stored: non-empty, <= STORAGE_MAX_KEY, no leading
 * '/', no empty/"."/".." segments, no control characters. */
bool storage_key_valid(const char *key);

/* Build "<prefix>/<namespace>/<target>/<uid>/<start>.<ext>" where start is
 * the UTC start time in RFC 3339 basic format (20261127T101500Z) and ext is
 * e.g. "pb.gz" or "svg". An empty/NULL prefix is omitted. Components must be
 * non-empty and hold no '/', no ".." and no control characters (-EINVAL).
 * *out is malloc'd; the caller frees it. */
int storage_key(const char *prefix, const char *ns, const char *target, const char *uid,
		int64_t start_unix_s, const char *ext, char **out);

/* ---- the store -------------------------------------------------------------- */

struct storage;

enum storage_state {
	STORAGE_UPLOADED = 0, /* the object is in the store; url names it */
	STORAGE_SPOOLED = 1,  /* store unreachable: object is safe in the spool and
				 retried in the background; UPLOADED follows later */
	STORAGE_FAILED = 2,   /* rejected (e.g. bad credentials, no such bucket) or
				 could not be stored at all; err + message say why.
				 If `spooled` is set it is retried on the next start. */
	STORAGE_RETRYING = 3, /* store unreachable AND the spool could not be written
				 (e.g. disk full): held in memory only and still
				 retried; lost if the operator stops first */
};

/* Delivered to callbacks; every pointer is valid only during the callback. */
struct storage_event {
	enum storage_state state;
	const char *key;     /* object key */
	const char *url;     /* object URL (http(s)://... or file://...) */
	size_t size;	     /* object size in bytes */
	int err;	     /* 0, or negative errno of the last failure */
	const char *message; /* human-readable reason for SPOOLED/FAILED, "" otherwise */
	bool spooled;	     /* the object is (still) in the spool directory */
	unsigned attempts;   /* upload attempts so far */
};

/* Completion callback; runs on the thread calling storage_poll_completions().
 * May fire more than once per object: SPOOLED or RETRYING first, then
 * UPLOADED or FAILED. */
typedef void (*storage_done_fn)(const struct storage_event *ev, void *arg);

/* Open the store. The config is copied. For s3 the spool directory is
 * created (mode 0700) and rescanned: every object found is queued for upload
 * and reported to default_cb (which may be NULL; also used for puts that pass
 * no callback). Starts the uploader thread. *out is freed with
 * storage_close(). */
int storage_open(struct storage **out, const struct storage_config *cfg, storage_done_fn default_cb,
		 void *default_arg);

/* Stop the uploader thread (aborting an in-flight transfer), write every
 * object that is neither uploaded nor spooled to the spool (so it is retried
 * on the next start), and free everything. Undelivered events are dropped;
 * callbacks are not run. Accepts NULL. */
void storage_close(struct storage *s);

/* Queue an upload of len bytes under key (used verbatim: build it with
 * storage_key(storage_prefix(s), ...)) with the given content type. The
 * data is copied; the caller keeps ownership of its buffer. done(ev, arg)
 * reports progress later (see storage_poll_completions); NULL uses the
 * default callback. Fails at once only on bad arguments (-EINVAL: malformed
 * key, see storage_key rules), memory (-ENOMEM), -E2BIG past the 512 MiB
 * object cap, or -ENOBUFS when 1 GiB of objects that could be neither
 * uploaded nor spooled already waits in memory. */
int storage_put_async(struct storage *s, const char *key, const void *data, size_t len,
		      const char *content_type, storage_done_fn done, void *arg);

/* Makes an object from input bytes (e.g. an SVG from a pprof): *out
 * malloc'd, *out_len bytes; 0 or negative errno. Runs on the uploader
 * thread (or in storage_close), never on the caller's. */
typedef int (*storage_render_fn)(const void *in, size_t len, const char *title, void **out,
				 size_t *out_len);

/* As storage_put_async, but the object stored under key is render(data,
 * title), computed on the uploader thread before the first attempt, so a
 * slow rendering never holds up the caller's loop. A failed rendering
 * reports FAILED through done. */
int storage_put_rendered_async(struct storage *s, const char *key, const void *data, size_t len,
			       const char *content_type, storage_render_fn render,
			       const char *title, storage_done_fn done, void *arg);

/* The configured key prefix ("" if none), for storage_key(). Owned by s. */
const char *storage_prefix(const struct storage *s);

/* eventfd that is readable while events wait for storage_poll_completions().
 * Owned by s; do not close. */
int storage_event_fd(const struct storage *s);

/* Run the callbacks of every waiting event on the calling thread and clear
 * the eventfd. Returns the number of events delivered (>= 0). */
int storage_poll_completions(struct storage *s);

/* Objects currently waiting for upload (queued, retrying or spooled) and
 * their total size. Either pointer may be NULL. */
void storage_pending(struct storage *s, size_t *objects, size_t *bytes);

/* The URL an object with this key has in this store. *out is malloc'd. */
int storage_object_url(const struct storage *s, const char *key, char **out);

/* Fetch an object (signed GET for s3, a file read for dir) synchronously.
 * Objects larger than max_bytes fail with -E2BIG. An s3 transfer gives up
 * (-EIO) soon after *abort_flag becomes non-zero; abort_flag may be NULL.
 * On success *out (malloc'd, caller frees) holds *out_len bytes. On failure
 * *errmsg (if errmsg is not NULL) receives a malloc'd description the caller
 * frees. */
int storage_get(struct storage *s, const char *key, size_t max_bytes,
		const volatile sig_atomic_t *abort_flag, void **out, size_t *out_len,
		char **errmsg);

/* S3 credentials of a reader outside the operator (kubectl podprof with
 * AWS_* in its environment). Strings are borrowed. */
struct storage_url_creds {
	const char *access_key;
	const char *secret_key;
	const char *region;  /* NULL or "" = us-east-1 */
	const char *ca_file; /* NULL = system CAs */
};

/* Signed GET (SigV4) of an object URL as the operator writes it into
 * status.profile.url, with the caller's own credentials and no struct
 * storage (no threads, no spool). Only http(s) URLs (-EINVAL otherwise).
 * Returns and *errmsg as storage_get. */
int storage_get_url(const char *url, const struct storage_url_creds *creds, size_t max_bytes,
		    void **out, size_t *out_len, char **errmsg);

#endif
