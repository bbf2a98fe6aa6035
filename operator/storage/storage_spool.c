/* SPDX-License-Identifier: Apache-2.0 */
/* storage_spool.c -- atomic files and the on-disk spool of objects waiting for upload.
 *
 * Each spooled object is two files: <id>.data (the bytes) and <id>.json (the
 * sidecar: key, content type, size). Both are written through a temporary
 * name and renamed; the sidecar is renamed last and is the commit point, so
 * a crash at any moment leaves either a complete entry or debris that
 * spool_scan() removes.
 */
#include "storage_int.h"
#include "arr.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"

/* mkdir -p; existing directories are fine. */
static int mkdirs(const char *dir, unsigned mode)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	/* Best effort: some file systems refuse fsync on directories. */
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int storage_write_atomic(const char *path, const void *data, size_t len, unsigned mkdir_mode)
{
	static atomic_uint seq;
	char dir[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd = -1, err = 0, n;

	if (!slash) {
		strcpy(dir, ".");
	} else {
		if ((size_t)(slash - path) >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (!dir[0])
			strcpy(dir, "/");
	}
	err = mkdirs(dir, mkdir_mode);
	if (err)
		return err;
	/* pid + counter keeps concurrent writers (threads, processes) apart. */
	n = snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%d-%u-%s", dir, (int)getpid(),
		     atomic_fetch_add(&seq, 1), slash ? slash + 1 : path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = write_all(fd, data, len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	fd = -1;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	else
		fsync_dir(dir);
	return err;
}

static int entry_path(char *buf, size_t size, const char *dir, const char *id, const char *ext)
{
	int n = snprintf(buf, size, "%s/%s.%s", dir, id, ext);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int spool_write(const char *dir, const char *key, const char *content_type, const void *data,
		size_t len, char **id_out)
{
	static atomic_uint seq;
	char id[96], path[PATH_MAX];
	struct json_object *j = NULL;
	const char *js;
	struct timespec ts;
	struct tm tm;
	char when[32];
	int err = 0;

	*id_out = NULL;
	if (!storage_key_valid(key) || !content_type)
		return -EINVAL;
	/* Ids sort by time so a rescan uploads in the original order. */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
	snprintf(id, sizeof(id), "%s.%09ldZ-%d-%u", when, ts.tv_nsec, (int)getpid(),
		 atomic_fetch_add(&seq, 1));

	err = entry_path(path, sizeof(path), dir, id, "data");
	if (err)
		return err;
	err = storage_write_atomic(path, data, len, 0700);
	if (err)
		return err;

	j = json_object_new_object();
	if (!j) {
		err = -ENOMEM;
		goto cleanup;
	}
	json_object_object_add(j, "key", json_object_new_string(key));
	json_object_object_add(j, "contentType", json_object_new_string(content_type));
	json_object_object_add(j, "size", json_object_new_int64((int64_t)len));
	js = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	if (!js) {
		err = -ENOMEM;
		goto cleanup;
	}
	err = entry_path(path, sizeof(path), dir, id, "json");
	if (!err)
		err = storage_write_atomic(path, js, strlen(js), 0700);
	if (!err) {
		*id_out = strdup(id);
		if (!*id_out)
			err = -ENOMEM; /* entry is committed; a rescan will find it */
	}
cleanup:
	if (err && err != -ENOMEM) {
		/* Not committed: remove the data file so no orphan is left. */
		if (!entry_path(path, sizeof(path), dir, id, "data"))
			unlink(path);
	}
	json_object_put(j);
	return err;
}

int spool_parse_sidecar(const char *json, size_t len, char **key, char **content_type, size_t *size)
{
	struct json_tokener *tok = NULL;
	struct json_object *j = NULL, *k, *ct, *sz;
	int64_t n;
	int err = -EINVAL;

	*key = *content_type = NULL;
	*size = 0;
	if (!json || len == 0 || len > STORAGE_MAX_SIDECAR)
		return -EINVAL;
	tok = json_tokener_new_ex(8);
	if (!tok)
		return -ENOMEM;
	j = json_tokener_parse_ex(tok, json, (int)len);
	if (!j || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		goto cleanup;
	if (!json_object_is_type(j, json_type_object) || !json_object_object_get_ex(j, "key", &k) ||
	    !json_object_is_type(k, json_type_string) ||
	    !json_object_object_get_ex(j, "contentType", &ct) ||
	    !json_object_is_type(ct, json_type_string) ||
	    !json_object_object_get_ex(j, "size", &sz) || !json_object_is_type(sz, json_type_int))
		goto cleanup;
	n = json_object_get_int64(sz);
	if (n < 0 || n > (int64_t)STORAGE_MAX_OBJECT ||
	    !storage_key_valid(json_object_get_string(k)))
		goto cleanup;
	if (strlen(json_object_get_string(ct)) > 255 || !*json_object_get_string(ct))
		goto cleanup;
	*key = strdup(json_object_get_string(k));
	*content_type = strdup(json_object_get_string(ct));
	if (!*key || !*content_type) {
		free(*key);
		free(*content_type);
		*key = *content_type = NULL;
		err = -ENOMEM;
		goto cleanup;
	}
	*size = (size_t)n;
	err = 0;
cleanup:
	json_object_put(j);
	json_tokener_free(tok);
	return err;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);

	return a >= b && !strcmp(s + a - b, suf);
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct spool_entry *)a)->id, ((const struct spool_entry *)b)->id);
}

void spool_entries_free(struct spool_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].id);
		free(e[i].key);
		free(e[i].content_type);
	}
	free(e);
}

/* Load one sidecar into *e; a bad one is renamed <id>.bad so it is kept
 * for a human but never retried. Returns 1 if e was filled. */
static int load_entry(const char *dir, const char *id, struct spool_entry *e)
{
	char path[PATH_MAX], data_path[PATH_MAX], bad[PATH_MAX];
	void *js = NULL;
	size_t len = 0;
	struct stat st;
	int err;

	if (entry_path(path, sizeof(path), dir, id, "json") ||
	    entry_path(data_path, sizeof(data_path), dir, id, "data") ||
	    entry_path(bad, sizeof(bad), dir, id, "bad"))
		return 0;
	err = read_file_capped(path, STORAGE_MAX_SIDECAR, &js, &len);
	if (!err)
		err = spool_parse_sidecar(js, len, &e->key, &e->content_type, &e->size);
	free(js);
	if (!err && stat(data_path, &st))
		err = -errno;
	if (err == -ENOMEM)
		return 0;
	if (err) {
		log_error("storage", "spool entry %s/%s is unreadable (%s); renamed to %s.bad", dir,
			  id, strerror(-err), id);
		rename(path, bad);
		return 0;
	}
	e->id = strdup(id);
	if (!e->id) {
		free(e->key);
		free(e->content_type);
		return 0;
	}
	return 1;
}

int spool_scan(const char *dir, struct spool_entry **out, size_t *n)
{
	struct spool_entry *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *d;
	DIR *dp = NULL;
	int err = 0;

	*out = NULL;
	*n = 0;
	dp = opendir(dir);
	if (!dp)
		return errno == ENOENT ? 0 : -errno;
	/* Pass 1: clean debris. Pass 2 (below): collect committed entries. */
	while ((d = readdir(dp)) != NULL) {
		char path[PATH_MAX], side[PATH_MAX], id[NAME_MAX + 1];
		const char *name = d->d_name;

		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
			continue;
		if (!strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX))) {
			unlink(path);
			continue;
		}
		if (!has_suffix(name, ".data"))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(strlen(name) - 5), name);
		if (entry_path(side, sizeof(side), dir, id, "json"))
			continue;
		/* Keep the data of an entry whose sidecar was set aside as .bad. */
		if (access(side, F_OK) && errno == ENOENT &&
		    !entry_path(side, sizeof(side), dir, id, "bad") && access(side, F_OK) &&
		    errno == ENOENT) {
			log_warn("storage",
				 "removing spool data %s without sidecar (never committed)", path);
			unlink(path);
		}
	}
	rewinddir(dp);
	while ((d = readdir(dp)) != NULL) {
		char id[NAME_MAX + 1];
		const char *name = d->d_name;

		if (!has_suffix(name, ".json") || !strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)(strlen(name) - 5), name);
		err = arr_grow((void **)&v, &cap, cnt + 1, sizeof(*v), SIZE_MAX / sizeof(*v));
		if (err)
			goto cleanup;
		memset(&v[cnt], 0, sizeof(v[cnt]));
		if (load_entry(dir, id, &v[cnt]))
			cnt++;
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_entry);
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
cleanup:
	spool_entries_free(v, cnt);
	closedir(dp);
	return err;
}

int spool_read(const char *dir, const struct spool_entry *e, void **data, size_t *len)
{
	char path[PATH_MAX];
	int err = entry_path(path, sizeof(path), dir, e->id, "data");

	if (err)
		return err;
	err = read_file_capped(path, STORAGE_MAX_OBJECT, data, len);
	if (!err && *len != e->size) {
		free(*data);
		*data = NULL;
		*len = 0;
		err = -EIO;
	}
	return err;
}

int spool_remove(const char *dir, const char *id)
{
	char path[PATH_MAX];
	int err = entry_path(path, sizeof(path), dir, id, "json");

	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	err = entry_path(path, sizeof(path), dir, id, "data");
	if (err)
		return err;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	fsync_dir(dir);
	return 0;
}
