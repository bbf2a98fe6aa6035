/* SPDX-License-Identifier: Apache-2.0 */
/* proto.h -- the podprof.v1 operator<->worker protocol codec (json-c inside).
 *
 * Both sides of the WebSocket link (operator/hub.c and worker/agent.c) use
 * this one codec so that what one side writes the other side validates with
 * the same rules. Control messages are JSON text frames
 * {"v":1,"type":"<name>",...}; profiles are binary frames with a small fixed
 * header (see proto_profile_header_*). docs/protocol.md is the reference.
 *
 * Layering: depends on json-c and libc only; never touches the network.
 * Every decoder treats its input as hostile: sizes, types, string lengths,
 * array lengths and numeric ranges are checked, and a refusal carries a
 * specific reason (struct proto_status) that callers log and may send back.
 *
 * Return convention: 0 (or a length) on success, negative errno on failure.
 */
#ifndef PODPROF_PROTO_H
#define PODPROF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_SUBPROTOCOL "podprof.v1" /* Sec-WebSocket-Protocol value */
#define PROTO_VERSION	  1	       /* "v" of every control message */

/* ---- limits (every inbound field is capped) ------------------------------ */
#define PROTO_MAX_TEXT_FRAME	   (64 * 1024) /* one JSON control message */
#define PROTO_MAX_NODE_LEN	   253	       /* DNS subdomain, like a Node name */
#define PROTO_MAX_JOB_ID_LEN	   128	       /* job ids: "<target uid>/<window>" */
#define PROTO_MAX_UID_LEN	   64	       /* pod UID (36 chars in practice) */
#define PROTO_MAX_NS_LEN	   63	       /* namespace: DNS label */
#define PROTO_MAX_NAME_LEN	   253	       /* pod and container names */
#define PROTO_MAX_CTR_ID_LEN	   128	       /* "containerd://<64 hex>" */
#define PROTO_MAX_VERSION_LEN	   64	       /* software version strings */
#define PROTO_MAX_CAPS		   16	       /* capabilities in hello */
#define PROTO_MAX_CAP_LEN	   32	       /* one capability name */
#define PROTO_MAX_TOKEN_LEN	   8192	       /* bearer token (SA JWTs are ~1 KB) */
#define PROTO_MAX_CODE_LEN	   48	       /* error code identifier */
#define PROTO_MAX_MESSAGE_LEN	   1024	       /* error message text */
#define PROTO_MAX_PODS		   512	       /* pods in one attach / progress */
#define PROTO_MAX_CONTAINERS	   32	       /* containers in one pod */
#define PROTO_MAX_NOTICES	   8	       /* notices in one progress */
#define PROTO_MAX_NOTICE_LEN	   512	       /* one notice's message text */
#define PROTO_MIN_FREQ_HZ	   1
#define PROTO_MAX_FREQ_HZ	   1000
#define PROTO_MAX_MIN_BLOCK_US	   (10ULL * 1000000) /* attach.minBlockUs: 10 s */
#define PROTO_DEFAULT_MIN_BLOCK_US 1000		     /* ... when absent: 1 ms (docs/usage.md) */
#define PROTO_MAX_WINDOW_MS	   (7ULL * 24 * 3600 * 1000) /* one week */
#define PROTO_PROFILE_MAX_DEFAULT  (64u * 1024 * 1024)	     /* binary frame cap */

enum proto_type {
	PROTO_NONE = 0,
	PROTO_HELLO,	 /* worker -> operator: first message */
	PROTO_WELCOME,	 /* operator -> worker: hello accepted */
	PROTO_ATTACH,	 /* operator -> worker: start/extend a job */
	PROTO_DETACH,	 /* operator -> worker: stop a job, no profile */
	PROTO_PROGRESS,	 /* worker -> operator: job counters */
	PROTO_ERROR,	 /* either direction */
	PROTO_HEARTBEAT, /* either direction: liveness */
};

/* Why a message was refused. The string form (proto_status_str) is what goes
 * into logs and into the "code" of an error message sent back. */
enum proto_status {
	PROTO_OK = 0,
	PROTO_E_TOO_BIG,      /* frame over PROTO_MAX_TEXT_FRAME */
	PROTO_E_BAD_JSON,     /* not one complete JSON object */
	PROTO_E_BAD_VERSION,  /* "v" missing or not PROTO_VERSION */
	PROTO_E_UNKNOWN_TYPE, /* "type" not one of the names above */
	PROTO_E_MISSING,      /* a required field is absent */
	PROTO_E_WRONG_TYPE,   /* a field has the wrong JSON type */
	PROTO_E_TOO_LONG,     /* a string over its cap, or empty, or holds NUL */
	PROTO_E_TOO_MANY,     /* an array over its cap */
	PROTO_E_RANGE,	      /* a number out of its range */
	PROTO_E_BAD_HEADER,   /* binary frame header invalid */
};

struct proto_err {
	enum proto_status status;
	char field[48]; /* offending field ("pods[3].uid"), "" if none */
};

struct proto_hello {
	char node[PROTO_MAX_NODE_LEN + 1];
	char version[PROTO_MAX_VERSION_LEN + 1];
	size_t n_caps;
	char caps[PROTO_MAX_CAPS][PROTO_MAX_CAP_LEN + 1];
	char *token; /* optional (Authorization header preferred); heap, NUL-terminated */
};

struct proto_welcome {
	char version[PROTO_MAX_VERSION_LEN + 1]; /* operator version */
	uint32_t heartbeat_ms;			 /* worker heartbeat interval */
	uint64_t max_profile_bytes;		 /* largest binary frame accepted */
};

struct proto_container {
	char name[PROTO_MAX_NAME_LEN + 1];
	char id[PROTO_MAX_CTR_ID_LEN + 1]; /* "containerd://..."; may be "" if not started */
};

struct proto_pod {
	char uid[PROTO_MAX_UID_LEN + 1];
	char ns[PROTO_MAX_NS_LEN + 1];
	char name[PROTO_MAX_NAME_LEN + 1];
	size_t n_containers;
	struct proto_container *containers; /* heap, n_containers entries */
};

struct proto_attach {
	char job_id[PROTO_MAX_JOB_ID_LEN + 1];
	uint32_t frequency_hz;
	bool kernel_stacks;
	bool frame_pointers;   /* walk user stacks by frame pointers only (spec.unwinder) */
	bool offcpu;	       /* "profile": "offcpu": time off CPU instead of CPU samples */
	uint64_t min_block_us; /* off CPU: shorter blocks are not counted (spec.offcpu.minBlock) */
	uint64_t window_ms;    /* window ends this long after the worker receives this */
	size_t n_pods;
	struct proto_pod *pods; /* heap, n_pods entries; attach is additive per job */
};

struct proto_detach {
	char job_id[PROTO_MAX_JOB_ID_LEN + 1];
};

struct proto_pod_samples {
	char uid[PROTO_MAX_UID_LEN + 1];
	uint64_t samples;
};

/* The worker's symbol cache (worker/symcache.h), totals since the worker
 * started; optional in progress ("symbols"). */
struct proto_symbols {
	bool present;	    /* false: the sender did not say (older worker) */
	uint64_t binaries;  /* binaries' tables held now */
	uint64_t bytes;	    /* bytes they hold */
	uint64_t max_bytes; /* the budget */
	uint64_t hits;	    /* lookups answered from the cache */
	uint64_t misses;    /* lookups that loaded a binary */
	uint64_t evictions; /* binaries dropped to stay in budget */
};

/* The worker's unwind tables in the kernel (worker/unwinder.h); optional in
 * progress ("unwind"). */
struct proto_unwind {
	bool present;
	uint64_t tables;	/* tables loaded now */
	uint64_t rows;		/* rows they occupy */
	uint64_t rows_capacity; /* rows the kernel array holds */
	uint64_t evictions;	/* tables evicted to make room (total) */
};

/* Something about the job the user should know that is not an error, e.g.
 * a Python process whose frames degrade to native ones. */
struct proto_notice {
	char code[PROTO_MAX_CODE_LEN + 1];	/* e.g. "python_unsupported" */
	char message[PROTO_MAX_NOTICE_LEN + 1]; /* one sentence */
};

struct proto_progress {
	char job_id[PROTO_MAX_JOB_ID_LEN + 1];
	uint64_t samples;
	uint64_t drops;
	uint64_t truncated; /* samples whose user stack walk ended early (a marker frame) */
	uint32_t cgroups;   /* cgroups currently attached */
	uint32_t errors;    /* errors seen by the job so far */
	bool final;	    /* last progress of the job (after its profile) */
	size_t n_pods;
	struct proto_pod_samples *pods; /* heap, n_pods entries */
	struct proto_symbols symbols;
	struct proto_unwind unwind;
	size_t n_notices;	      /* every notice of the job so far (each once) */
	struct proto_notice *notices; /* heap, n_notices entries */
};

struct proto_error_msg {
	char job_id[PROTO_MAX_JOB_ID_LEN + 1]; /* "" when not about a job */
	char code[PROTO_MAX_CODE_LEN + 1];
	char message[PROTO_MAX_MESSAGE_LEN + 1];
};

struct proto_heartbeat {
	uint64_t seq;
};

struct proto_msg {
	enum proto_type type;
	union {
		struct proto_hello hello;
		struct proto_welcome welcome;
		struct proto_attach attach;
		struct proto_detach detach;
		struct proto_progress progress;
		struct proto_error_msg error;
		struct proto_heartbeat heartbeat;
	} u;
};

/* ---- control messages ----------------------------------------------------- */

/* Name of a type on the wire ("hello", ...), or "?" for an unknown value. */
const char *proto_type_str(enum proto_type t);

/* Stable identifier of a refusal reason ("bad_json", "too_long", ...). */
const char *proto_status_str(enum proto_status s);

/* Whether s is a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.',
 * labels starting and ending alphanumeric, 1..PROTO_MAX_NODE_LEN bytes), as
 * Kubernetes requires of Node names. Such a name is safe as a path component:
 * no '/', no "..", no leading '-' or '.'. */
bool proto_node_name_valid(const char *s);

/* Decode and validate one text frame of len bytes (need not be
 * NUL-terminated). On success fills *out (caller calls proto_msg_free) and
 * returns 0. On failure returns -E2BIG (too big), -EPROTO (bad JSON, version,
 * type) or -EINVAL (schema), fills *err when non-NULL and leaves *out empty
 * (safe to proto_msg_free). */
int proto_decode(const char *buf, size_t len, struct proto_msg *out, struct proto_err *err);

/* Validate msg (same rules as proto_decode) and encode it as JSON. On success
 * *out is a heap NUL-terminated string the caller frees with free(), *out_len
 * its length. Returns -EINVAL when msg breaks a rule (err says which), -ENOMEM. */
int proto_encode(const struct proto_msg *msg, char **out, size_t *out_len, struct proto_err *err);

/* Free what proto_decode allocated inside msg and reset it to PROTO_NONE.
 * Accepts NULL and an already-freed msg. */
void proto_msg_free(struct proto_msg *msg);

/* Deep-copy an attach (pods and containers). dst must not own memory.
 * Returns 0 or -ENOMEM (dst left empty). Free with proto_attach_free. */
int proto_attach_copy(struct proto_attach *dst, const struct proto_attach *src);

/* Free the pods of an attach; accepts NULL. */
void proto_attach_free(struct proto_attach *a);

/* ---- binary profile frames ------------------------------------------------
 * Layout (all integers big-endian):
 *   0  4  magic "PPRF"
 *   4  1  version (PROTO_VERSION)
 *   5  1  flags (PROTO_PROFILE_FINAL: last profile of the job)
 *   6  2  job id length n (1..PROTO_MAX_JOB_ID_LEN)
 *   8  n  job id (no NUL)
 *   8+n   gzip-compressed pprof bytes, to the end of the message
 */
#define PROTO_PROFILE_MAGIC	 "PPRF"
#define PROTO_PROFILE_FINAL	 0x01u
#define PROTO_PROFILE_HEADER_MAX (8 + PROTO_MAX_JOB_ID_LEN)

struct proto_profile_header {
	uint8_t flags;
	char job_id[PROTO_MAX_JOB_ID_LEN + 1];
};

/* Write the header for job_id/flags into buf (cap bytes). Returns the header
 * length, -EINVAL for a bad job id or unknown flags, -ENOSPC if cap is short. */
int proto_profile_header_encode(uint8_t *buf, size_t cap, const char *job_id, uint8_t flags);

/* Parse the header at the start of a binary message of len bytes. Returns the
 * header length (payload starts there) or -EPROTO with err filled. */
int proto_profile_header_decode(const uint8_t *buf, size_t len, struct proto_profile_header *out,
				struct proto_err *err);

#endif
