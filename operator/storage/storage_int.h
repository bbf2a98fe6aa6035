/* SPDX-License-Identifier: Apache-2.0 */
/* storage_int.h -- internals shared by the storage_*.c files and their unit tests.
 *
 * Not a public interface: only operator/storage*.c and tests/unit/test_storage.c
 * include it. Return convention as in storage.h.
 */
#ifndef PODPROF_STORAGE_INT_H
#define PODPROF_STORAGE_INT_H

#include "readfile.h"
#include "storage.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define STORAGE_MAX_KEY	       1024	     /* S3's key length limit */
#define STORAGE_MAX_OBJECT     (512u << 20)  /* refuse larger puts */
#define STORAGE_MAX_MEMORY     (1024u << 20) /* unspooled bytes held at once */
#define STORAGE_MAX_SIDECAR    4096	     /* spool sidecar file cap */
#define STORAGE_MAX_ERROR_BODY (64u << 10)   /* S3 error reply cap */

/* ---- config (storage_config.c) ---- */

/* Deep copy; dst must be uninitialised or released. */
int storage_config_copy(struct storage_config *dst, const struct storage_config *src);

/* ---- files (storage_spool.c) ---- */

/* Write data to path atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory. Parent directories are created
 * (0700 when mkdir_mode is 0700). Never leaves a partial file at path. */
int storage_write_atomic(const char *path, const void *data, size_t len, unsigned mkdir_mode);

/* One object waiting in the spool: files <id>.data and <id>.json. */
struct spool_entry {
	char *id;	    /* file stem */
	char *key;	    /* object key */
	char *content_type; /* MIME type */
	size_t size;	    /* data size recorded in the sidecar */
};

/* Write an object: data first, then the sidecar, each atomically; the
 * sidecar's rename is the commit point. *id_out (malloc'd) names it. */
int spool_write(const char *dir, const char *key, const char *content_type, const void *data,
		size_t len, char **id_out);

/* List committed entries (sorted by id, i.e. spool order). Leftover
 * temporaries, and data files without a sidecar (a crash between the two
 * renames, before the object was reported spooled), are removed; sidecars
 * that do not parse are renamed to <id>.bad and logged, never uploaded.
 * *out is freed with spool_entries_free(). */
int spool_scan(const char *dir, struct spool_entry **out, size_t *n);
void spool_entries_free(struct spool_entry *e, size_t n);

/* Read an entry's data (capped at STORAGE_MAX_OBJECT). Fails with -EIO if
 * the size differs from the sidecar. */
int spool_read(const char *dir, const struct spool_entry *e, void **data, size_t *len);

/* Remove an entry (sidecar first, so a crash never leaves a committed entry
 * without data). */
int spool_remove(const char *dir, const char *id);

/* Parse sidecar JSON {"key": "...", "contentType": "...", "size": N}.
 * Rejects malformed JSON, missing/mistyped fields, invalid keys and
 * oversized input with -EINVAL. Outputs are malloc'd. */
int spool_parse_sidecar(const char *json, size_t len, char **key, char **content_type,
			size_t *size);

/* ---- transfers (storage_s3.c) ---- */

struct storage_xfer {
	long http_status;  /* 0 when no response arrived */
	bool retryable;	   /* network error, 5xx, 408 or 429 */
	char message[512]; /* why it failed, "" on success */
};

/* Object URL for key under cfg (path-style or virtual-hosted). */
int s3_object_url(const struct storage_config *cfg, const char *key, char **out);

/* Signed PUT. `abort_flag` (may be NULL) cancels the transfer when set. */
int s3_put(const struct storage_config *cfg, const char *key, const void *data, size_t len,
	   const char *content_type, const volatile sig_atomic_t *abort_flag,
	   struct storage_xfer *x);

/* Signed GET of key in cfg's bucket, or of url when it is not NULL (cfg then
 * gives only credentials, region, CA and timeouts), capped at max bytes;
 * `abort_flag` (may be NULL) as for s3_put. */
int s3_get(const struct storage_config *cfg, const char *key, const char *url, size_t max,
	   const volatile sig_atomic_t *abort_flag, void **out, size_t *out_len,
	   struct storage_xfer *x);

/* Pull Code and Message out of an S3 XML error body into buf. */
void s3_error_message(const char *body, size_t len, long status, char *buf, size_t buf_len);

#endif
