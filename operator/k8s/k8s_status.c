/* SPDX-License-Identifier: Apache-2.0 */
/* k8s_status.c -- status writes with conflict retry, Events, TokenReview. */
#include "k8s_status.h"
#include "json_path.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PATH_MAX_LEN  1024
#define RETRY_MIN_MS  20
#define RETRY_MAX_MS  1000
#define EVENT_MSG_MAX 1024

void k8s_time_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int k8s_update_status(struct k8s_client *c, const struct k8s_object_ref *ref, json_object *current,
		      k8s_mutate_fn mutate, void *arg, int max_attempts, int *attempts_out,
		      json_object **out)
{
	char opath[PATH_MAX_LEN], spath[PATH_MAX_LEN];
	json_object *obj = NULL;
	unsigned int delay = RETRY_MIN_MS, seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	int err, attempts = 0;

	if (out)
		*out = NULL;
	if (max_attempts < 1)
		max_attempts = 1;
	err = k8s_build_path(opath, sizeof(opath), ref->api_prefix, ref->ns, ref->plural, ref->name,
			     NULL);
	err = err
		  ?: k8s_build_path(spath, sizeof(spath), ref->api_prefix, ref->ns, ref->plural,
				    ref->name, "status");
	if (err)
		goto cleanup;
	if (current && json_object_deep_copy(current, &obj, NULL) != 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (int i = 0; i < max_attempts; i++) {
		int r;

		if (!obj) {
			err = k8s_get(c, opath, &obj, NULL);
			if (err)
				goto cleanup;
		}
		r = mutate(arg, obj, i);
		if (r < 0) {
			err = r;
			goto cleanup;
		}
		if (r == 1) {
			err = 0;
			goto cleanup;
		}
		err = k8s_replace(c, spath, obj, out, NULL);
		attempts++;
		json_object_put(obj);
		obj = NULL;
		if (err != -EAGAIN)
			goto cleanup;
		log_debug("k8s", "status of %s/%s: conflict on attempt %d, retrying",
			  ref->ns ? ref->ns : "", ref->name, attempts);
		if (i + 1 < max_attempts) {
			sleep_ms(delay / 2 + (unsigned int)rand_r(&seed) % (delay / 2 + 1));
			delay = delay * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : delay * 2;
		}
	}
	log_warn("k8s", "status of %s/%s: still conflicting after %d attempts",
		 ref->ns ? ref->ns : "", ref->name, attempts);
cleanup:
	json_object_put(obj);
	if (attempts_out)
		*attempts_out = attempts;
	return err;
}

int k8s_patch_status(struct k8s_client *c, const struct k8s_object_ref *ref, json_object *status,
		     json_object **out)
{
	char spath[PATH_MAX_LEN];
	json_object *patch;
	int err;

	err = k8s_build_path(spath, sizeof(spath), ref->api_prefix, ref->ns, ref->plural, ref->name,
			     "status");
	if (err)
		return err;
	patch = json_object_new_object();
	if (!patch)
		return -ENOMEM;
	json_object_object_add(patch, "status", json_object_get(status));
	err = k8s_patch(c, spath, K8S_PATCH_MERGE, patch, out, NULL);
	json_object_put(patch);
	return err;
}

static void add_str(json_object *o, const char *key, const char *val)
{
	if (val && val[0])
		json_object_object_add(o, key, json_object_new_string(val));
}

int k8s_event_emit(struct k8s_client *c, const struct k8s_object_ref *ref, const char *type,
		   const char *reason, const char *message, const char *component)
{
	char name[300], now[32], host[256] = "", path[PATH_MAX_LEN];
	const char *ns = ref->ns && ref->ns[0] ? ref->ns : "default";
	json_object *ev = NULL, *meta, *inv, *src;
	struct timespec ts;
	int err;

	if (!ref->name || !reason || !type)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* Unique like client-go's "<object>.<unix nanos in hex>". */
	snprintf(name, sizeof(name), "%.200s.%llx", ref->name,
		 (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec);
	k8s_time_now(now, sizeof(now));
	gethostname(host, sizeof(host) - 1);
	err = k8s_build_path(path, sizeof(path), "/api/v1", ns, "events", NULL, NULL);
	if (err)
		return err;
	ev = json_object_new_object();
	meta = json_object_new_object();
	inv = json_object_new_object();
	src = json_object_new_object();
	if (!ev || !meta || !inv || !src) {
		json_object_put(meta);
		json_object_put(inv);
		json_object_put(src);
		err = -ENOMEM;
		goto cleanup;
	}
	add_str(ev, "apiVersion", "v1");
	add_str(ev, "kind", "Event");
	add_str(meta, "name", name);
	add_str(meta, "namespace", ns);
	json_object_object_add(ev, "metadata", meta);
	add_str(inv, "apiVersion", ref->api_version);
	add_str(inv, "kind", ref->kind);
	add_str(inv, "namespace", ref->ns);
	add_str(inv, "name", ref->name);
	add_str(inv, "uid", ref->uid);
	json_object_object_add(ev, "involvedObject", inv);
	add_str(ev, "reason", reason);
	json_object_object_add(
	    ev, "message",
	    json_object_new_string_len(message ? message : "",
				       message && strlen(message) > EVENT_MSG_MAX
					   ? EVENT_MSG_MAX
					   : (int)strlen(message ? message : "")));
	add_str(ev, "type", type);
	add_str(src, "component", component);
	add_str(src, "host", host);
	json_object_object_add(ev, "source", src);
	add_str(ev, "firstTimestamp", now);
	add_str(ev, "lastTimestamp", now);
	json_object_object_add(ev, "count", json_object_new_int(1));
	add_str(ev, "reportingComponent", component);
	add_str(ev, "reportingInstance", host);
	err = k8s_create(c, path, ev, NULL, NULL);
	if (err)
		log_warn("k8s", "event %s %s on %s/%s not recorded: %s", type, reason, ns,
			 ref->name, strerror(-err));
cleanup:
	json_object_put(ev);
	return err;
}

static void copy_str(json_object *o, const char *key, char *buf, size_t len)
{
	const char *s = json_path_str(o, key, (const char *)NULL);

	snprintf(buf, len, "%s", s ? s : "");
}

/* user.extra values are string arrays; only a single value is taken (two
 * node names would bind to neither). Too long a value reads as absent. */
static void copy_extra(json_object *extra, const char *key, char *buf, size_t len)
{
	json_object *arr, *v;
	const char *s;

	buf[0] = '\0';
	if (!json_object_object_get_ex(extra, key, &arr) ||
	    !json_object_is_type(arr, json_type_array) || json_object_array_length(arr) != 1)
		return;
	v = json_object_array_get_idx(arr, 0);
	if (!v || !json_object_is_type(v, json_type_string))
		return;
	s = json_object_get_string(v);
	if (strlen(s) < len)
		memcpy(buf, s, strlen(s) + 1);
}

int k8s_token_review(struct k8s_client *c, const char *token, const char *audience,
		     struct k8s_token_review *out)
{
	json_object *req = NULL, *spec, *reply = NULL, *status, *user, *v;
	int err;

	memset(out, 0, sizeof(*out));
	if (!token || !token[0])
		return 0; /* an empty token authenticates nobody */
	req = json_object_new_object();
	spec = json_object_new_object();
	if (!req || !spec) {
		json_object_put(spec);
		err = -ENOMEM;
		goto cleanup;
	}
	add_str(req, "apiVersion", "authentication.k8s.io/v1");
	add_str(req, "kind", "TokenReview");
	json_object_object_add(spec, "token", json_object_new_string(token));
	if (audience && audience[0]) {
		json_object *aud = json_object_new_array();

		json_object_array_add(aud, json_object_new_string(audience));
		json_object_object_add(spec, "audiences", aud);
	}
	json_object_object_add(req, "spec", spec);
	err = k8s_create(c, "/apis/authentication.k8s.io/v1/tokenreviews", req, &reply, NULL);
	if (err)
		goto cleanup;
	if (!reply || !json_object_object_get_ex(reply, "status", &status)) {
		err = -EBADMSG;
		goto cleanup;
	}
	if (json_object_object_get_ex(status, "authenticated", &v))
		out->authenticated = json_object_get_boolean(v);
	copy_str(status, "error", out->error, sizeof(out->error));
	if (out->authenticated && json_object_object_get_ex(status, "user", &user)) {
		copy_str(user, "username", out->username, sizeof(out->username));
		copy_str(user, "uid", out->uid, sizeof(out->uid));
		if (json_object_object_get_ex(user, "extra", &v)) {
			copy_extra(v, "authentication.kubernetes.io/node-name", out->node_name,
				   sizeof(out->node_name));
			copy_extra(v, "authentication.kubernetes.io/pod-name", out->pod_name,
				   sizeof(out->pod_name));
			copy_extra(v, "authentication.kubernetes.io/pod-uid", out->pod_uid,
				   sizeof(out->pod_uid));
		}
	}
cleanup:
	if (req) {
		/* The serialized request held the token; wipe json-c's copy. */
		const char *s = json_object_to_json_string(req);

		if (s)
			explicit_bzero((char *)s, strlen(s));
	}
	json_object_put(req);
	json_object_put(reply);
	return err;
}

int k8s_sa_username_split(const char *username, char *ns, size_t ns_len, char *name,
			  size_t name_len)
{
	static const char pfx[] = "system:serviceaccount:";
	const char *rest, *colon;

	if (!username || strncmp(username, pfx, sizeof(pfx) - 1))
		return -EINVAL;
	rest = username + sizeof(pfx) - 1;
	colon = strchr(rest, ':');
	if (!colon || colon == rest || !colon[1] || strchr(colon + 1, ':'))
		return -EINVAL;
	if ((size_t)(colon - rest) >= ns_len || strlen(colon + 1) >= name_len)
		return -ENAMETOOLONG;
	memcpy(ns, rest, (size_t)(colon - rest));
	ns[colon - rest] = '\0';
	strcpy(name, colon + 1);
	return 0;
}
