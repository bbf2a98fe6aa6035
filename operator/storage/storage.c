/* SPDX-License-Identifier: Apache-2.0 */
/* storage.c -- the uploader thread: queue, retries with backoff, spool, completion events.
 *
 * One thread owns every transfer so the operator's libwebsockets loop never
 * blocks on the network. Jobs flow: put_async -> incoming queue -> the
 * thread's pending list -> (uploaded | spooled and retried | failed); every
 * state change becomes an event on a queue the main loop drains after its
 * eventfd fires.
 */
#include "storage_int.h"
#include "clock.h"

#include "log.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct job {
	struct job *next;
	char *key;	    /* object key */
	char *content_type; /* MIME type */
	void *data;	    /* bytes, or NULL once spooled (re-read from the spool) */
	size_t size;	    /* object size */
	char *spool_id;	    /* spool entry id once spooled, else NULL */
	storage_done_fn done;
	void *arg;
	unsigned attempts;	  /* upload attempts so far */
	bool spool_failed;	  /* RETRYING already reported */
	uint64_t next_try_ms;	  /* CLOCK_MONOTONIC ms of the next attempt */
	storage_render_fn render; /* turns data into the object first, or NULL */
	char *title;		  /* render's title argument */
};

struct event_node {
	struct event_node *next;
	struct storage_event ev; /* strings below are owned */
	char *key, *url, *message;
	storage_done_fn done;
	void *arg;
};

struct storage {
	struct storage_config cfg; /* private copy, immutable after open */
	char *dir_abs;		   /* dir backend: absolute base directory */
	pthread_t thread;
	bool thread_started;
	bool curl_ready;		       /* curl_global_init succeeded */
	pthread_mutex_t mu;		       /* guards everything below */
	pthread_cond_t cv;		       /* signalled on new jobs and stop */
	struct job *in_head, **in_tail;	       /* put_async -> thread */
	struct job *pending;		       /* thread-owned list of jobs waiting to retry */
	struct event_node *ev_head, **ev_tail; /* thread -> main loop */
	size_t n_objects, n_bytes;	       /* storage_pending() counters */
	size_t n_mem_bytes;		       /* bytes held in memory (not spooled) */
	int efd;			       /* eventfd signalling ev_head != NULL */
	volatile sig_atomic_t stop;	       /* set by storage_close; also aborts transfers */
	storage_done_fn default_cb;
	void *default_arg;
	unsigned rand_state; /* jitter; used by the thread only */
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->key);
	free(j->content_type);
	free(j->data);
	free(j->spool_id);
	free(j->title);
	free(j);
}

/* Turn the job's input into the object (storage_put_rendered_async), on the
 * uploader thread or at close; a no-op for plain puts. */
static int job_render(struct storage *s, struct job *j)
{
	void *out = NULL;
	size_t len = 0;
	int err;

	if (!j->render)
		return 0;
	err = j->render(j->data, j->size, j->title, &out, &len);
	if (!err && len > STORAGE_MAX_OBJECT)
		err = -E2BIG;
	if (err) {
		free(out);
		return err;
	}
	pthread_mutex_lock(&s->mu);
	s->n_bytes = s->n_bytes - j->size + len;
	s->n_mem_bytes = s->n_mem_bytes - j->size + len;
	pthread_mutex_unlock(&s->mu);
	free(j->data);
	j->data = out;
	j->size = len;
	j->render = NULL;
	return 0;
}

/* Capped exponential backoff with jitter: a uniformly random delay in
 * [d/2, d] where d = min(cap, base * 2^(attempt-1)), so many spooled objects
 * do not hammer a recovering store in lockstep. */
static uint64_t backoff_ms(struct storage *s, unsigned attempt)
{
	uint64_t d = s->cfg.retry_base_ms ? s->cfg.retry_base_ms : 1;
	uint64_t cap = s->cfg.retry_max_ms ? s->cfg.retry_max_ms : 1;

	for (unsigned i = 1; i < attempt && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	return d / 2 + (uint64_t)rand_r(&s->rand_state) % (d / 2 + 1);
}

int storage_object_url(const struct storage *s, const char *key, char **out)
{
	*out = NULL;
	if (s->cfg.backend == STORAGE_BACKEND_S3)
		return s3_object_url(&s->cfg, key, out);
	if (asprintf(out, "file://%s/%s", s->dir_abs, key) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Queue an event for the main loop. Allocation failure only loses the
 * notification (logged), never the object. */
static void emit(struct storage *s, const struct job *j, enum storage_state st, int err,
		 const char *message)
{
	struct event_node *e = calloc(1, sizeof(*e));
	uint64_t one = 1;

	if (!e || storage_object_url(s, j->key, &e->url) || !(e->key = strdup(j->key)) ||
	    !(e->message = strdup(message ? message : ""))) {
		log_error("storage", "out of memory delivering the event for %s", j->key);
		if (e) {
			free(e->url);
			free(e->key);
		}
		free(e);
		return;
	}
	e->ev.state = st;
	e->ev.key = e->key;
	e->ev.url = e->url;
	e->ev.size = j->size;
	e->ev.err = err;
	e->ev.message = e->message;
	e->ev.spooled = j->spool_id != NULL;
	e->ev.attempts = j->attempts;
	e->done = j->done ? j->done : s->default_cb;
	e->arg = j->done ? j->arg : s->default_arg;
	pthread_mutex_lock(&s->mu);
	*s->ev_tail = e;
	s->ev_tail = &e->next;
	pthread_mutex_unlock(&s->mu);
	if (write(s->efd, &one, sizeof(one)) < 0)
		log_warn("storage", "eventfd write: %s", strerror(errno));
}

/* The job leaves the module (uploaded or given up). Counters drop before the
 * event is queued, so a callback that asks storage_pending() never counts
 * the object it is being told about. */
static void job_done(struct storage *s, struct job *j, enum storage_state st, int err,
		     const char *message)
{
	pthread_mutex_lock(&s->mu);
	s->n_objects--;
	s->n_bytes -= j->size;
	if (j->data)
		s->n_mem_bytes -= j->size;
	pthread_mutex_unlock(&s->mu);
	emit(s, j, st, err, message);
	job_free(j);
}

static int dir_put(struct storage *s, const struct job *j, const void *data, struct storage_xfer *x)
{
	char path[PATH_MAX];
	int err, n;

	memset(x, 0, sizeof(*x));
	n = snprintf(path, sizeof(path), "%s/%s", s->dir_abs, j->key);
	if (n < 0 || (size_t)n >= sizeof(path))
		err = -ENAMETOOLONG;
	else
		err = storage_write_atomic(path, data, j->size, 0755);
	if (err)
		snprintf(x->message, sizeof(x->message), "cannot write %.300s: %s", path,
			 strerror(-err));
	return err;
}

/* Write a job to the spool; on success its in-memory copy is released. */
static int spool_job(struct storage *s, struct job *j, char *why, size_t why_len)
{
	int err =
	    spool_write(s->cfg.spool_dir, j->key, j->content_type, j->data, j->size, &j->spool_id);

	if (err) {
		log_error("storage", "cannot spool %s to %s: %s", j->key, s->cfg.spool_dir,
			  strerror(-err));
		snprintf(why + strlen(why), why_len - strlen(why),
			 "; cannot write spool directory %s: %s", s->cfg.spool_dir, strerror(-err));
		return err;
	}
	free(j->data);
	j->data = NULL;
	pthread_mutex_lock(&s->mu);
	s->n_mem_bytes -= j->size;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* One attempt. Returns true when the job is finished (and freed). */
static bool attempt(struct storage *s, struct job *j)
{
	struct storage_xfer x;
	char why[1024];
	void *data = j->data;
	size_t len;
	int err;

	err = job_render(s, j);
	if (err) {
		snprintf(why, sizeof(why), "cannot render the object: %s", strerror(-err));
		log_error("storage", "giving up on %s: %s", j->key, why);
		job_done(s, j, STORAGE_FAILED, err, why);
		return true;
	}
	data = j->data;
	len = j->size;
	if (!data) {
		struct spool_entry e = {.id = j->spool_id, .size = j->size};

		err = spool_read(s->cfg.spool_dir, &e, &data, &len);
		if (err) {
			snprintf(why, sizeof(why), "spooled copy %s/%s.data is unreadable: %s",
				 s->cfg.spool_dir, j->spool_id, strerror(-err));
			log_error("storage", "giving up on %s: %s", j->key, why);
			job_done(s, j, STORAGE_FAILED, err, why);
			return true;
		}
	}
	j->attempts++;
	if (s->cfg.backend == STORAGE_BACKEND_S3)
		err = s3_put(&s->cfg, j->key, data, len, j->content_type, &s->stop, &x);
	else
		err = dir_put(s, j, data, &x);
	if (data != j->data)
		free(data);
	if (!err) {
		if (j->spool_id && spool_remove(s->cfg.spool_dir, j->spool_id))
			log_warn("storage", "uploaded %s but could not remove spool entry %s",
				 j->key, j->spool_id);
		free(j->spool_id);
		j->spool_id = NULL;
		log_info("storage", "uploaded %s (%zu bytes, attempt %u)", j->key, j->size,
			 j->attempts);
		job_done(s, j, STORAGE_UPLOADED, 0, "");
		return true;
	}
	snprintf(why, sizeof(why), "%s", x.message);
	if (s->cfg.backend == STORAGE_BACKEND_DIR || !x.retryable) {
		/* Retrying cannot help (bad credentials, missing bucket...). Keep
		 * the bytes in the spool so a restart with a fixed config still
		 * delivers them. */
		if (s->cfg.backend == STORAGE_BACKEND_S3 && !j->spool_id &&
		    !spool_job(s, j, why, sizeof(why)))
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "; kept in spool %s for the next start", s->cfg.spool_dir);
		log_error("storage", "upload of %s failed: %s", j->key, why);
		job_done(s, j, STORAGE_FAILED, err, why);
		return true;
	}
	if (!j->spool_id && j->attempts >= s->cfg.quick_retries) {
		if (!spool_job(s, j, why, sizeof(why))) {
			log_warn("storage", "store unreachable, spooled %s: %s", j->key, why);
			emit(s, j, STORAGE_SPOOLED, err, why);
		} else if (!j->spool_failed) {
			/* Reported once; the spool write is retried with every attempt. */
			j->spool_failed = true;
			snprintf(why + strlen(why), sizeof(why) - strlen(why),
				 "; held in memory only, still retrying");
			emit(s, j, STORAGE_RETRYING, err, why);
		}
	} else if (j->spool_id) {
		log_debug("storage", "retry %u of %s failed: %s", j->attempts, j->key, why);
	}
	j->next_try_ms = clock_mono_ms() + backoff_ms(s, j->attempts);
	return false;
}

static void recover_spool(struct storage *s)
{
	struct spool_entry *e = NULL;
	size_t n = 0;
	int err = spool_scan(s->cfg.spool_dir, &e, &n);

	if (err) {
		log_error("storage", "cannot scan spool %s: %s", s->cfg.spool_dir, strerror(-err));
		return;
	}
	if (n)
		log_info("storage", "%zu spooled objects from an earlier run will be uploaded", n);
	for (size_t i = 0; i < n; i++) {
		struct job *j = calloc(1, sizeof(*j));

		if (!j) {
			log_error("storage", "out of memory; %s stays in the spool", e[i].key);
			continue;
		}
		j->key = e[i].key;
		j->content_type = e[i].content_type;
		j->spool_id = e[i].id;
		j->size = e[i].size;
		e[i].key = e[i].content_type = e[i].id = NULL;
		pthread_mutex_lock(&s->mu);
		s->n_objects++;
		s->n_bytes += j->size;
		pthread_mutex_unlock(&s->mu);
		j->next = s->pending;
		s->pending = j;
	}
	spool_entries_free(e, n);
}

static void *uploader(void *arg)
{
	struct storage *s = arg;

	if (s->cfg.backend == STORAGE_BACKEND_S3)
		recover_spool(s);
	for (;;) {
		struct job **pp, *due = NULL;
		uint64_t now, next = UINT64_MAX;

		pthread_mutex_lock(&s->mu);
		/* Adopt new jobs at the head of the pending list (FIFO order kept
		 * by appending). */
		for (pp = &s->pending; *pp; pp = &(*pp)->next)
			;
		*pp = s->in_head;
		s->in_head = NULL;
		s->in_tail = &s->in_head;
		now = clock_mono_ms();
		for (pp = &s->pending; *pp; pp = &(*pp)->next) {
			if ((*pp)->next_try_ms <= now) {
				due = *pp;
				*pp = due->next;
				due->next = NULL;
				break;
			}
			if ((*pp)->next_try_ms < next)
				next = (*pp)->next_try_ms;
		}
		if (s->stop) {
			if (due) {
				due->next = s->pending;
				s->pending = due;
			}
			pthread_mutex_unlock(&s->mu);
			break;
		}
		if (!due) {
			if (next == UINT64_MAX) {
				pthread_cond_wait(&s->cv, &s->mu);
			} else {
				struct timespec ts = clock_mono_after(next - now);

				pthread_cond_timedwait(&s->cv, &s->mu, &ts);
			}
			pthread_mutex_unlock(&s->mu);
			continue;
		}
		pthread_mutex_unlock(&s->mu);
		if (!attempt(s, due)) {
			/* Back to the tail so one failing object does not starve others. */
			for (pp = &s->pending; *pp; pp = &(*pp)->next)
				;
			*pp = due;
		}
	}
	return NULL;
}

/* Uploads work without a spool, so an unusable one is not fatal -- but say
 * so now, not when the store is already down. */
static void check_spool(struct storage *s)
{
	char probe[PATH_MAX];
	int err, n;

	n = snprintf(probe, sizeof(probe), "%s/.podprof-probe", s->cfg.spool_dir);
	err = n < 0 || (size_t)n >= sizeof(probe) ? -ENAMETOOLONG
						  : storage_write_atomic(probe, "", 0, 0700);
	if (err) {
		log_error("storage",
			  "spool directory %s is not writable (%s): objects cannot be kept while "
			  "the store is unreachable",
			  s->cfg.spool_dir, strerror(-err));
		return;
	}
	unlink(probe);
}

static int open_dir_backend(struct storage *s)
{
	char probe[PATH_MAX];
	int err, n;

	n = snprintf(probe, sizeof(probe), "%s/.podprof-probe", s->cfg.dir_path);
	if (n < 0 || (size_t)n >= sizeof(probe))
		return -ENAMETOOLONG;
	/* Creating (and removing) a probe file proves the directory is
	 * writable now, instead of failing on the first profile. */
	err = storage_write_atomic(probe, "", 0, 0755);
	if (err) {
		log_error("storage", "storage directory %s is not writable: %s", s->cfg.dir_path,
			  strerror(-err));
		return err;
	}
	unlink(probe);
	s->dir_abs = realpath(s->cfg.dir_path, NULL);
	return s->dir_abs ? 0 : -errno;
}

int storage_open(struct storage **out, const struct storage_config *cfg, storage_done_fn default_cb,
		 void *default_arg)
{
	struct storage *s = NULL;
	int err = 0;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->efd = -1;
	pthread_mutex_init(&s->mu, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	s->in_tail = &s->in_head;
	s->ev_tail = &s->ev_head;
	s->default_cb = default_cb;
	s->default_arg = default_arg;
	s->rand_state = (unsigned)(clock_mono_ms() ^ (uint64_t)getpid());
	err = storage_config_copy(&s->cfg, cfg);
	if (err)
		goto cleanup;
	if (s->cfg.backend == STORAGE_BACKEND_S3) {
		if (!s->cfg.bucket || !s->cfg.region || !s->cfg.access_key || !s->cfg.secret_key ||
		    !s->cfg.spool_dir || s->cfg.path_style < 0) {
			log_error("storage", "s3 config incomplete (call storage_config_finish)");
			err = -EINVAL;
			goto cleanup;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
			err = -ENOMEM;
			goto cleanup;
		}
		s->curl_ready = true;
		check_spool(s);
	} else {
		if (!s->cfg.dir_path) {
			err = -EINVAL;
			goto cleanup;
		}
		err = open_dir_backend(s);
		if (err)
			goto cleanup;
	}
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		err = -errno;
		goto cleanup;
	}
	err = -pthread_create(&s->thread, NULL, uploader, s);
	if (err)
		goto cleanup;
	s->thread_started = true;
	if (s->cfg.backend == STORAGE_BACKEND_S3)
		log_info("storage", "s3 store %s bucket %s prefix '%s' region %s (%s), spool %s",
			 s->cfg.endpoint ? s->cfg.endpoint : "(AWS)", s->cfg.bucket, s->cfg.prefix,
			 s->cfg.region, s->cfg.path_style ? "path-style" : "virtual-hosted",
			 s->cfg.spool_dir);
	else
		log_info("storage", "directory store %s", s->dir_abs);
	*out = s;
	s = NULL;
cleanup:
	storage_close(s);
	return err;
}

void storage_close(struct storage *s)
{
	struct job *lists[2];

	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		s->thread_started = false;
	}
	lists[0] = s->pending;
	lists[1] = s->in_head;
	s->pending = s->in_head = NULL;
	for (int i = 0; i < 2; i++) {
		while (lists[i]) {
			struct job *j = lists[i];
			int err = 0;

			lists[i] = j->next;
			/* Not yet uploaded and only in memory: the spool is its
			 * way to survive this shutdown. */
			if (!j->spool_id && s->cfg.backend == STORAGE_BACKEND_S3)
				err = job_render(s, j);
			if (!err && !j->spool_id && s->cfg.backend == STORAGE_BACKEND_S3)
				err = spool_write(s->cfg.spool_dir, j->key, j->content_type,
						  j->data, j->size, &j->spool_id);
			if (err)
				log_error("storage",
					  "shutting down: %s (%zu bytes) is lost: cannot "
					  "spool to %s: %s",
					  j->key, j->size, s->cfg.spool_dir, strerror(-err));
			else if (s->cfg.backend == STORAGE_BACKEND_S3)
				log_info("storage", "shutting down: %s stays in the spool", j->key);
			job_free(j);
		}
	}
	while (s->ev_head) {
		struct event_node *e = s->ev_head;

		s->ev_head = e->next;
		free(e->key);
		free(e->url);
		free(e->message);
		free(e);
	}
	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	if (s->curl_ready)
		curl_global_cleanup();
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	storage_config_release(&s->cfg);
	free(s->dir_abs);
	free(s);
}

static int enqueue(struct storage *s, const char *key, const void *data, size_t len,
		   const char *content_type, storage_render_fn render, const char *title,
		   storage_done_fn done, void *arg)
{
	struct job *j;

	if (!s || !storage_key_valid(key) || (!data && len) || !content_type || !*content_type)
		return -EINVAL;
	if (len > STORAGE_MAX_OBJECT)
		return -E2BIG;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->key = strdup(key);
	j->content_type = strdup(content_type);
	j->data = malloc(len ? len : 1);
	if (!j->key || !j->content_type || !j->data) {
		job_free(j);
		return -ENOMEM;
	}
	if (len)
		memcpy(j->data, data, len);
	j->size = len;
	j->done = done;
	j->arg = arg;
	j->render = render;
	if (title) {
		j->title = strdup(title);
		if (!j->title) {
			job_free(j);
			return -ENOMEM;
		}
	}
	pthread_mutex_lock(&s->mu);
	if (s->n_mem_bytes + len > STORAGE_MAX_MEMORY) {
		/* The store and the spool are both failing: refuse rather than
		 * grow without bound; the caller reports it. */
		pthread_mutex_unlock(&s->mu);
		log_error("storage", "refusing %s: %zu bytes already wait in memory", key,
			  s->n_mem_bytes);
		job_free(j);
		return -ENOBUFS;
	}
	*s->in_tail = j;
	s->in_tail = &j->next;
	s->n_objects++;
	s->n_bytes += len;
	s->n_mem_bytes += len;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int storage_put_async(struct storage *s, const char *key, const void *data, size_t len,
		      const char *content_type, storage_done_fn done, void *arg)
{
	return enqueue(s, key, data, len, content_type, NULL, NULL, done, arg);
}

int storage_put_rendered_async(struct storage *s, const char *key, const void *data, size_t len,
			       const char *content_type, storage_render_fn render,
			       const char *title, storage_done_fn done, void *arg)
{
	if (!render)
		return -EINVAL;
	return enqueue(s, key, data, len, content_type, render, title, done, arg);
}

const char *storage_prefix(const struct storage *s)
{
	return s->cfg.prefix ? s->cfg.prefix : "";
}

int storage_event_fd(const struct storage *s)
{
	return s->efd;
}

int storage_poll_completions(struct storage *s)
{
	struct event_node *list;
	uint64_t cnt;
	int n = 0;

	/* Clear the eventfd before taking the list so an event queued in
	 * between re-arms it rather than being missed. */
	if (read(s->efd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		log_warn("storage", "eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&s->mu);
	list = s->ev_head;
	s->ev_head = NULL;
	s->ev_tail = &s->ev_head;
	pthread_mutex_unlock(&s->mu);
	while (list) {
		struct event_node *e = list;

		list = e->next;
		if (e->done)
			e->done(&e->ev, e->arg);
		free(e->key);
		free(e->url);
		free(e->message);
		free(e);
		n++;
	}
	return n;
}

void storage_pending(struct storage *s, size_t *objects, size_t *bytes)
{
	pthread_mutex_lock(&s->mu);
	if (objects)
		*objects = s->n_objects;
	if (bytes)
		*bytes = s->n_bytes;
	pthread_mutex_unlock(&s->mu);
}

int storage_get(struct storage *s, const char *key, size_t max_bytes,
		const volatile sig_atomic_t *abort_flag, void **out, size_t *out_len, char **errmsg)
{
	struct storage_xfer x = {0};
	int err;

	*out = NULL;
	*out_len = 0;
	if (errmsg)
		*errmsg = NULL;
	if (!storage_key_valid(key))
		return -EINVAL;
	if (s->cfg.backend == STORAGE_BACKEND_S3) {
		err = s3_get(&s->cfg, key, NULL, max_bytes, abort_flag, out, out_len, &x);
	} else {
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s", s->dir_abs, key);

		err = n < 0 || (size_t)n >= sizeof(path)
			  ? -ENAMETOOLONG
			  : read_file_capped(path, max_bytes, out, out_len);
		if (err)
			snprintf(x.message, sizeof(x.message), "cannot read %.300s: %s", path,
				 strerror(-err));
	}
	if (err && errmsg)
		*errmsg = strdup(x.message[0] ? x.message : strerror(-err));
	return err;
}

int storage_get_url(const char *url, const struct storage_url_creds *creds, size_t max_bytes,
		    void **out, size_t *out_len, char **errmsg)
{
	struct storage_config cfg;
	struct storage_xfer x = {0};
	int err;

	*out = NULL;
	*out_len = 0;
	if (errmsg)
		*errmsg = NULL;
	if (!url || !creds || !creds->access_key || !creds->secret_key ||
	    (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
		return -EINVAL;
	/* Borrowed strings: cfg is never released. */
	storage_config_init(&cfg);
	cfg.backend = STORAGE_BACKEND_S3;
	cfg.region = (char *)(creds->region && *creds->region ? creds->region : "us-east-1");
	cfg.access_key = (char *)creds->access_key;
	cfg.secret_key = (char *)creds->secret_key;
	cfg.ca_file = (char *)creds->ca_file;
	err = s3_get(&cfg, NULL, url, max_bytes, NULL, out, out_len, &x);
	if (err && errmsg)
		*errmsg = strdup(x.message[0] ? x.message : strerror(-err));
	return err;
}
