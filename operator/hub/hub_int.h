/* SPDX-License-Identifier: Apache-2.0 */
/* hub_int.h -- state shared by the hub's files (hub.c, hub_http.c); not public.
 */
#ifndef PODPROF_HUB_INT_H
#define PODPROF_HUB_INT_H

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>

#include "hub.h"
#include "wsq.h"

#define HUB_IDENTITY_MAX 256
/* /metrics body cap: 10 per-worker series of up to ~330 bytes (253-byte
 * node names) for 8192 workers (the default max_workers) fit. Pages are
 * touched only as written. */
#define HUB_METRICS_MAX (32 * 1024 * 1024)

#define HUB_PEER_MAX 64
/* Buckets of the node -> registered session index (a power of two): chains
 * stay short up to tens of thousands of workers. */
#define HUB_NODE_BUCKETS 8192

enum hub_auth_state {
	HUB_AUTH_NONE,	  /* no token seen yet: it must come in hello */
	HUB_AUTH_PENDING, /* a check runs on an auth thread; rx is paused */
	HUB_AUTH_OK,
};

/* Per-WebSocket-connection state; lws allocates it (protocols[].per_session_data_size). */
struct hub_session {
	struct hub *hub;
	struct lws *wsi;
	struct lws_dll2 list; /* in hub->sessions */
	uint64_t id;	      /* matches auth results to sessions that may be gone */
	enum hub_auth_state auth;
	bool registered;	       /* hello done and node owns hub's registry slot */
	struct hub_session *node_next; /* next in its hub->by_node bucket */
	bool idle_killed;	       /* hub_idle_sweep closed it */
	bool pending;		       /* counted in hub->n_pending (before hello) */
	bool hello_parked;	       /* hello received while the token check runs */
	char peer[HUB_PEER_MAX];
	char node[PROTO_MAX_NODE_LEN + 1];
	char bound_node[PROTO_MAX_NODE_LEN + 1]; /* from the token; "" = none */
	char identity[HUB_IDENTITY_MAX];
	char version[PROTO_MAX_VERSION_LEN + 1];
	uint64_t connected_at_ms;
	uint64_t last_seen_ms;
	struct proto_symbols symbols; /* from the last progress that had them */
	struct proto_unwind unwind;   /* ditto */
	struct wsq q;		      /* outbound messages, written from WRITEABLE */
	unsigned char *rx;	      /* reassembly of the current message */
	size_t rx_len, rx_cap;
	bool rx_binary;
	bool close_pending; /* close from the next WRITEABLE with close_code */
	enum lws_close_status close_code;
	char close_reason[100];
};

/* Per-HTTP-request state: the response body waiting for HTTP_WRITEABLE, and
 * a /profiles/ read running on a read thread (hub_reads.c). */
struct hub_http_pss {
	unsigned char *body; /* LWS_PRE headroom + len bytes, or NULL */
	size_t len;
	struct lws *wsi;      /* set while a read is pending */
	struct lws_dll2 read; /* in hub->waiting while a read is pending */
	uint64_t read_id;     /* matches the read's result to this request */
};

/* GET /profiles/ reads queued or running at once; more are answered 503. Each
 * holds up to HUB_OBJECT_MAX bytes until it is written out. */
#define HUB_READS_MAX 8
/* A pending read's request is dropped after this long. The store's own
 * timeouts (connect + transfer) normally answer first, with a 502. */
#define HUB_READ_TIMEOUT_S 180

/* hub_pool.c: threads running slow jobs (token checks, profile reads) for the
 * hub thread. A job embeds struct hub_pool_job as its first member. */
#define HUB_POOL_THREADS_MAX 16

struct hub_pool_job {
	struct hub_pool_job *next;
	uint64_t id; /* the hub's id of what waits for it (a session, a request) */
	char *arg;   /* the job's input string; wiped when the job is freed */
};

/* Runs on a pool thread; may give up early once *stop is set (hub_free). */
typedef void (*hub_pool_run_fn)(struct hub_pool_job *j, const volatile sig_atomic_t *stop,
				void *ctx);
/* Runs on the hub thread for each finished job, before it is freed. */
typedef void (*hub_pool_done_fn)(struct hub_pool_job *j, void *ctx);
/* Frees what a job holds beyond id and arg (may be NULL). */
typedef void (*hub_pool_clear_fn)(struct hub_pool_job *j);

struct hub_pool_ops {
	size_t job_size; /* of the struct that embeds hub_pool_job */
	hub_pool_run_fn run;
	hub_pool_done_fn done;
	hub_pool_clear_fn clear;
	void *ctx; /* handed to run and done */
};

struct hub_pool {
	struct lws_context *ctx; /* woken (lws_cancel_service) when a job is done */
	struct hub_pool_ops ops;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hub_pool_job *todo, **todo_tail; /* hub thread -> pool threads */
	struct hub_pool_job *done;		/* pool threads -> hub thread */
	unsigned queued;			/* in todo, running or done */
	unsigned max;				/* bound on queued */
	volatile sig_atomic_t stop;
	bool inited;
	pthread_t th[HUB_POOL_THREADS_MAX];
	unsigned n_th;
};

/* Start threads (at most HUB_POOL_THREADS_MAX) running ops->run on
 * submitted jobs, at most max queued. 0 or -EAGAIN (nothing left running). */
int hub_pool_init(struct hub_pool *p, struct lws_context *ctx, unsigned threads, unsigned max,
		  const struct hub_pool_ops *ops);
/* Set stop, join the threads (a running job finishes first), free every job
 * still held without running done. Safe on a zeroed or released pool. */
void hub_pool_release(struct hub_pool *p);
/* Queue a new job (ops.job_size bytes, zeroed) for id with a copy of arg.
 * -EBUSY when max are queued, -ENOMEM. */
int hub_pool_submit(struct hub_pool *p, uint64_t id, const char *arg);
/* Hub thread: run ops.done on every finished job and free it. */
void hub_pool_drain(struct hub_pool *p);
/* Jobs queued, running or done but not yet drained. */
unsigned hub_pool_queued(struct hub_pool *p);
/* Drop the job of id if no thread has taken it yet (its requester is gone);
 * a running or finished one is left to complete. */
void hub_pool_cancel(struct hub_pool *p, uint64_t id);

struct hub_counters {
	uint64_t connections;			  /* WebSocket upgrades accepted */
	uint64_t auth_failures;			  /* tokens refused */
	uint64_t hellos;			  /* workers registered */
	uint64_t refused[PROTO_E_BAD_HEADER + 1]; /* by proto_status */
	uint64_t refused_other;			  /* order/size/policy refusals */
	uint64_t node_mismatch;			  /* hello for a node the token is not bound to */
	uint64_t pending_evicted;		  /* pre-hello sessions closed to make room */
	uint64_t pending_refused;		  /* pre-hello sessions over the per-address cap */
	uint64_t rx_busy;			  /* messages refused: receive buffers full */
	uint64_t auth_checks;			  /* checks run (not answered from cache) */
	uint64_t auth_cache_hits;
	uint64_t auth_rate_limited;
	uint64_t auth_queue_full; /* connections refused: too many token checks queued */
	uint64_t rx_messages[PROTO_HEARTBEAT + 1];
	uint64_t profiles; /* binary profile messages */
	uint64_t profile_bytes;
	uint64_t tx_messages;
	uint64_t reads;	     /* GET /profiles/ reads started */
	uint64_t reads_busy; /* refused: HUB_READS_MAX reads already pending */
};

struct hub {
	struct lws_context *ctx;
	struct hub_config cfg;
	struct hub_callbacks cbs;
	struct lws_dll2_owner sessions;
	unsigned n_sessions;
	unsigned n_pending;    /* sessions before hello (see hub_config.max_pending) */
	unsigned n_registered; /* sessions that completed hello */
	/* Registered sessions by node name: attach and status lookups for 5,000
	 * workers must not walk every session each. */
	struct hub_session *by_node[HUB_NODE_BUCKETS];
	lws_sorted_usec_list_t idle_sul; /* runs hub_idle_sweep once a second */
	uint64_t rx_total;		 /* bytes of all sessions' reassembly buffers */
	uint64_t next_id;
	struct hub_authq *authq; /* NULL unless cfg.auth_async */
	struct hub_counters c;
	void (*wakeup_cb)(void *ctx);
	void *wakeup_ctx;
	int (*metrics_cb)(void *ctx, char *buf, size_t cap);
	void *metrics_ctx;
	bool (*ready_cb)(void *ctx);
	void *ready_ctx;
	hub_object_fn object_cb; /* GET /profiles/..., see hub_set_object_cb */
	void *object_ctx;
	struct hub_pool reads;	       /* read threads, running while object_cb is set */
	struct lws_dll2_owner waiting; /* hub_http_pss of requests waiting for a read */
	/* Identity of the connection whose upgrade was just authorized: the
	 * HTTP-side check (401 on failure) runs before the ws session exists. */
	struct lws *pending_wsi;
	int pending_auth; /* 0: pending_result holds the identity; 1: pending_token to check */
	struct hub_auth_result pending_result;
	char *pending_token;
};

/* hub_http.c: the "http" protocol callback (protocol 0). */
int hub_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		      size_t len);

/* hub_session.c: check a token now, from the cache or (synchronous authenticators)
 * by calling it. Returns 0 (accepted, *res filled), -EACCES (refused, also
 * when the address is over its rate), -EINPROGRESS (an asynchronous check is
 * needed: hub_authq_submit), other negative errno. peer is the source address. */
int hub_check_token(struct hub *hub, const char *peer, const char *token,
		    struct hub_auth_result *res);

/* hub_authq.c: the asynchronous token checks, their cache and rate limit. */
struct hub_authq;

int hub_authq_new(struct hub *hub, unsigned threads, struct hub_authq **out);
/* Stop the threads (waits for checks in flight) and free; accepts NULL. */
void hub_authq_free(struct hub_authq *q);
/* Queue a check of token for session id. -EBUSY when too many are queued. */
int hub_authq_submit(struct hub_authq *q, uint64_t id, const char *token);
/* Cached verdict for token: 1 accepted (*res filled), -EACCES refused, 0 unknown. */
int hub_authq_cached(struct hub_authq *q, const char *token, struct hub_auth_result *res);
/* Whether peer may start another uncached check now (token bucket per address). */
bool hub_authq_rate_ok(struct hub_authq *q, const char *peer);
/* Hub thread: hand every finished check to hub_auth_done. */
void hub_authq_drain(struct hub_authq *q);
/* Forget session id's check if it has not started (its connection is gone):
 * a stalled API server must not keep the queue full of checks for
 * connections that timed out long ago. A running check just finishes. */
void hub_authq_cancel(struct hub_authq *q, uint64_t id);
/* Checks queued, running or finished but not yet drained. */
unsigned hub_authq_pending(struct hub_authq *q);

/* hub_reads.c: start the /profiles/ read threads (hub->reads, running
 * hub->object_cb, which must be set and stays fixed until hub_pool_release). */
int hub_reads_start(struct hub *hub);

/* hub_http.c: read id finished (rc as from hub_object_fn): answer its request
 * if it is still open, taking *obj (set to NULL) on success. */
void hub_http_read_done(struct hub *hub, uint64_t id, const char *rel, int rc, void **obj,
			size_t len);

/* hub_session.c: a check finished (rc as from hub_auth_fn) for session id. */
void hub_auth_done(struct hub *hub, uint64_t id, int rc, const struct hub_auth_result *res);

/* hub.c: forget the upgrade vetted last (identity, token), wiping secrets. */
void hub_pending_clear(struct hub *hub);

/* RFC 6455 registry: "Try Again Later" (lws has no name for it). */
#define CLOSE_TRY_AGAIN ((enum lws_close_status)1013)

/* hub_session.c: one session's authentication, hello and output. */
struct hub_session *hub_find_node(struct hub *hub, const char *node);
/* Enter s (its node set) in the registry / take it out; they keep
 * s->registered and hub->n_registered in step. */
void hub_registry_add(struct hub *hub, struct hub_session *s);
void hub_registry_del(struct hub *hub, struct hub_session *s);
int hub_session_auth_start(struct hub_session *s, const char *token);
/* Queue the check of a token already found uncached (and charged to the
 * address's rate) when its upgrade was vetted. Same returns. */
int hub_session_auth_submit(struct hub_session *s, const char *token);
void hub_session_close_later(struct hub_session *s, enum lws_close_status code, const char *why);
int hub_session_hello(struct hub_session *s, const struct proto_hello *h);
/* Close registered sessions silent for three heartbeat periods (once a second). */
void hub_idle_sweep(struct hub *hub);
void hub_session_pending_drop(struct hub_session *s);
int hub_session_refuse(struct hub_session *s, enum lws_close_status code, const char *why);
int hub_session_send_msg(struct hub_session *s, const struct proto_msg *m);
void hub_session_set_auth(struct hub_session *s, const struct hub_auth_result *res);
int hub_session_writeable(struct hub_session *s);

/* hub_rx.c: an inbound fragment of s (LWS_CALLBACK_RECEIVE); -1 closes. */
int hub_session_receive(struct hub_session *s, const void *in, size_t len);
/* hub_rx.c: give s's receive buffer back to the hub-wide total. */
void hub_session_rx_release(struct hub_session *s);

#endif
