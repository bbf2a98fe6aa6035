/* SPDX-License-Identifier: Apache-2.0 */
/* test_informer.c -- informer decoding and cache, replaying recorded API replies.
 *
 * tests/unit/data/k8s/pods-*.json(l) were recorded from a real kube-apiserver
 * (a list, then a watch from its resourceVersion while a pod was relabelled,
 * one deleted and one created, ending in a real BOOKMARK). They are fed here
 * through the same decoder the watch thread uses, split at many boundaries.
 */
#include "informer_int.h"
#include "k8s_client.h"
#include "log.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

struct counts {
	int adds, updates, deletes, synced;
	char last_deleted[128];
};

static void on_add(void *arg, json_object *obj)
{
	(void)obj;
	((struct counts *)arg)->adds++;
}

static void on_update(void *arg, json_object *o, json_object *n)
{
	(void)o;
	(void)n;
	((struct counts *)arg)->updates++;
}

static void on_delete(void *arg, json_object *obj)
{
	struct counts *c = arg;

	c->deletes++;
	informer_key(obj, c->last_deleted, sizeof(c->last_deleted));
}

static void on_synced(void *arg)
{
	((struct counts *)arg)->synced++;
}

/* A client that is never used for I/O here (the informer needs one). */
static struct k8s_client *dummy_client(void)
{
	struct k8s_config cfg = {.server = "https://127.0.0.1:1"};
	struct k8s_client *c = NULL;

	k8s_client_new(&cfg, &c);
	return c;
}

static struct informer *new_pods(struct k8s_client *c, struct counts *cnt)
{
	struct informer_spec spec = {.api_prefix = "/api/v1", .plural = "pods"};
	struct informer_handlers h = {on_add, on_update, on_delete, on_synced, cnt};
	struct informer *inf = NULL;

	informer_new(c, &spec, &h, &inf);
	return inf;
}

static int apply_list_file(struct informer *inf, const char *name)
{
	size_t len;
	char *buf = unit_read_k8s(name, &len);
	json_object *list = buf ? json_tokener_parse(buf) : NULL;
	int rc = list ? informer_apply_list(inf, list) : -ENOENT;

	json_object_put(list);
	free(buf);
	return rc;
}

static const char *label(json_object *obj, const char *k)
{
	json_object *meta, *labels, *v;

	if (!obj || !json_object_object_get_ex(obj, "metadata", &meta) ||
	    !json_object_object_get_ex(meta, "labels", &labels) ||
	    !json_object_object_get_ex(labels, k, &v))
		return NULL;
	return json_object_get_string(v);
}

/* The initial list fills the cache, fires on_add per pod and marks the informer synced. */
UNIT_TEST(informer_list_fills_cache)
{
	struct k8s_client *c = dummy_client();
	struct counts cnt = {0};
	struct informer *inf = new_pods(c, &cnt);
	json_object *a;

	CHECK(inf != NULL);
	if (!inf)
		goto out;
	CHECK(!informer_has_synced(inf));
	CHECK_EQ_INT(apply_list_file(inf, "pods-list.json"), 0);
	CHECK_EQ_STR(informer_resource_version(inf), "220");
	CHECK_EQ_INT(informer_count(inf), 0); /* nothing applied before dispatch */
	CHECK_EQ_INT(informer_dispatch(inf), 1);
	CHECK(informer_has_synced(inf));
	CHECK_EQ_INT(informer_count(inf), 3);
	CHECK_EQ_INT(cnt.adds, 3);
	CHECK_EQ_INT(cnt.synced, 1);
	a = informer_get(inf, "rec", "a");
	CHECK(a != NULL);
	/* List items get the kind/apiVersion the server leaves out of lists. */
	CHECK_EQ_STR(json_object_get_string(json_object_object_get(a, "kind")), "Pod");
	CHECK_EQ_STR(json_object_get_string(json_object_object_get(a, "apiVersion")), "v1");
	CHECK(informer_get(inf, "rec", "zzz") == NULL);
out:
	informer_free(inf);
	k8s_client_free(c);
}

/* A recorded watch stream gives the same result however the bytes are split. */
UNIT_TEST(informer_watch_stream_any_split)
{
	static const size_t splits[] = {1, 2, 3, 7, 64, 333, 4096, 1 << 20};
	struct k8s_client *c = dummy_client();
	size_t len = 0;
	char *stream = unit_read_k8s("pods-watch.jsonl", &len);

	CHECK(stream != NULL);
	for (size_t s = 0; stream && s < sizeof(splits) / sizeof(splits[0]); s++) {
		struct counts cnt = {0};
		struct informer *inf = new_pods(c, &cnt);
		int rc = 0;

		apply_list_file(inf, "pods-list.json");
		informer_dispatch(inf);
		for (size_t off = 0; off < len && !rc; off += splits[s]) {
			size_t n = len - off < splits[s] ? len - off : splits[s];

			rc = informer_feed(inf, stream + off, n);
		}
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(informer_dispatch(inf), 4);
		/* a relabelled, b deleted, c untouched, d created; BOOKMARK moved the RV. */
		CHECK_EQ_INT(informer_count(inf), 3);
		CHECK_EQ_STR(label(informer_get(inf, "rec", "a"), "tier"), "front");
		CHECK(informer_get(inf, "rec", "b") == NULL);
		CHECK(informer_get(inf, "rec", "c") != NULL);
		CHECK(informer_get(inf, "rec", "d") != NULL);
		CHECK_EQ_INT(cnt.adds, 4);
		CHECK_EQ_INT(cnt.updates, 2);
		CHECK_EQ_INT(cnt.deletes, 1);
		CHECK_EQ_STR(cnt.last_deleted, "rec/b");
		CHECK_EQ_STR(informer_resource_version(inf), "226");
		informer_free(inf);
	}
	free(stream);
	k8s_client_free(c);
}

/* A relist after a gap reports what changed meanwhile, including deletions. */
UNIT_TEST(informer_relist_diffs_cache)
{
	struct k8s_client *c = dummy_client();
	struct counts cnt = {0};
	struct informer *inf = new_pods(c, &cnt);

	apply_list_file(inf, "pods-list.json");
	informer_dispatch(inf);
	cnt = (struct counts){0};
	CHECK_EQ_INT(apply_list_file(inf, "pods-relist.json"), 0);
	informer_dispatch(inf);
	CHECK_EQ_INT(cnt.adds, 1);    /* d */
	CHECK_EQ_INT(cnt.updates, 1); /* a (c kept its resourceVersion: no event) */
	CHECK_EQ_INT(cnt.deletes, 1); /* b vanished */
	CHECK_EQ_STR(cnt.last_deleted, "rec/b");
	CHECK_EQ_INT(cnt.synced, 1);
	CHECK_EQ_INT(informer_count(inf), 3);
	/* An empty list deletes everything. */
	{
		json_object *empty =
		    json_tokener_parse("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"metadata\":"
				       "{\"resourceVersion\":\"999\"},\"items\":[]}");

		cnt = (struct counts){0};
		CHECK_EQ_INT(informer_apply_list(inf, empty), 0);
		informer_dispatch(inf);
		CHECK_EQ_INT(cnt.deletes, 3);
		CHECK_EQ_INT(informer_count(inf), 0);
		CHECK_EQ_STR(informer_resource_version(inf), "999");
		json_object_put(empty);
	}
	{
		json_object *not_list = json_object_new_object();

		CHECK_EQ_INT(informer_apply_list(inf, not_list), -EBADMSG);
		json_object_put(not_list);
	}
	informer_free(inf);
	k8s_client_free(c);
}

/* A 410 ERROR event (expired resourceVersion) asks for a relist; events before it count. */
UNIT_TEST(informer_watch_410_relists)
{
	struct k8s_client *c = dummy_client();
	struct counts cnt = {0};
	struct informer *inf = new_pods(c, &cnt);
	size_t len = 0;
	char *stream = unit_read_k8s("watch-410.jsonl", &len);

	CHECK(stream != NULL);
	if (stream) {
		CHECK_EQ_INT(informer_feed(inf, stream, len), -ESTALE);
		CHECK_EQ_STR(informer_resource_version(inf), "230"); /* the bookmark before it */
	}
	CHECK_EQ_INT(informer_feed(inf, "{\"type\":\"ERROR\",\"object\":{\"code\":500}}\n", 39),
		     -EIO);
	free(stream);
	informer_free(inf);
	k8s_client_free(c);
}

/* Malformed JSON ends the stream for a relist, keeping the events decoded before it. */
UNIT_TEST(informer_watch_malformed)
{
	static const char *const bad[] = {
	    "not json\n",
	    "{\"type\":\"ADDED\"}\n",				   /* no object */
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}\n", /* no name */
	    "{\"type\":7,\"object\":{}}\n",			   /* bad type */
	    "[1,2]\n",						   /* not an object */
	    "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"x\"}}} trailing\n",
	};
	struct k8s_client *c = dummy_client();
	struct counts cnt = {0};
	struct informer *inf = new_pods(c, &cnt);
	size_t len = 0;
	char *stream = unit_read_k8s("watch-malformed.jsonl", &len);
	struct informer_stats st;

	CHECK(stream != NULL);
	if (stream)
		CHECK_EQ_INT(informer_feed(inf, stream, len), -EBADMSG);
	CHECK_EQ_INT(informer_dispatch(inf), 1); /* the valid first line */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		informer_feed_reset(inf);
		CHECK_EQ_INT(informer_feed(inf, bad[i], strlen(bad[i])), -EBADMSG);
	}
	/* Unknown event types and blank lines are skipped, not fatal. */
	informer_feed_reset(inf);
	CHECK_EQ_INT(informer_feed(inf, "\n\r\n{\"type\":\"FUTURE\",\"object\":{}}\n", 32), 0);
	informer_get_stats(inf, &st);
	CHECK_EQ_INT(st.bad_events, 1 + sizeof(bad) / sizeof(bad[0]));
	free(stream);
	informer_free(inf);
	k8s_client_free(c);
}

/* An event over the size cap is refused (relist) instead of buffered without bound. */
UNIT_TEST(informer_watch_oversized)
{
	struct k8s_client *c = dummy_client();
	struct counts cnt = {0};
	struct informer *inf = new_pods(c, &cnt);
	size_t len = 0;
	char *stream = unit_read_k8s("pods-watch.jsonl", &len);
	int rc = 0;

	informer_set_max_event(inf, 1000); /* recorded pod events are ~1.2 KB */
	for (size_t off = 0; stream && off < len && !rc; off += 100)
		rc = informer_feed(inf, stream + off, len - off < 100 ? len - off : 100);
	CHECK_EQ_INT(rc, -EMSGSIZE);
	CHECK_EQ_INT(informer_dispatch(inf), 0);
	/* A new watch starts clean and small events still decode. */
	informer_feed_reset(inf);
	informer_set_max_event(inf, INFORMER_MAX_EVENT_BYTES);
	if (stream)
		CHECK_EQ_INT(informer_feed(inf, stream, len), 0);
	CHECK_EQ_INT(informer_dispatch(inf), 4);
	free(stream);
	informer_free(inf);
	k8s_client_free(c);
}

/* Random bytes never crash the decoder. */
UNIT_TEST(informer_watch_garbage)
{
	struct k8s_client *c = dummy_client();
	struct counts cnt = {0};
	struct informer *inf = new_pods(c, &cnt);
	unsigned int seed = 42;
	enum log_level saved = log_get_level();
	char buf[512];

	log_set_level(LOG_LVL_ERROR); /* thousands of expected warnings */
	for (int round = 0; round < 2000; round++) {
		size_t n = (size_t)rand_r(&seed) % sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = "{}[]\":,\n abtyeADEL0123\\"[rand_r(&seed) % 24];
		if (informer_feed(inf, buf, n))
			informer_feed_reset(inf);
	}
	log_set_level(saved);
	informer_dispatch(inf);
	CHECK(informer_count(inf) < 2000);
	informer_free(inf);
	k8s_client_free(c);
}

/* API paths are built only from valid names, and HTTP codes map to documented errnos. */
UNIT_TEST(k8s_client_paths_and_errors)
{
	char p[128];
	char *e;

	CHECK_EQ_INT(k8s_build_path(p, sizeof(p), "/apis/podprof.dev/v1alpha1", "ns1",
				    "profilingtargets", "t1", "status"),
		     0);
	CHECK_EQ_STR(p, "/apis/podprof.dev/v1alpha1/namespaces/ns1/profilingtargets/t1/status");
	CHECK_EQ_INT(k8s_build_path(p, sizeof(p), "/api/v1", NULL, "pods", NULL, NULL), 0);
	CHECK_EQ_STR(p, "/api/v1/pods");
	CHECK_EQ_INT(k8s_build_path(p, sizeof(p), "/api/v1", "a/../b", "pods", NULL, NULL),
		     -EINVAL);
	CHECK_EQ_INT(k8s_build_path(p, sizeof(p), "/api/v1", "ns", "pods", "x?y", NULL), -EINVAL);
	CHECK_EQ_INT(k8s_build_path(p, 10, "/api/v1", "ns", "pods", NULL, NULL), -ENAMETOOLONG);
	CHECK_EQ_INT(k8s_errno_from_http(404, "NotFound"), -ENOENT);
	CHECK_EQ_INT(k8s_errno_from_http(409, "Conflict"), -EAGAIN);
	CHECK_EQ_INT(k8s_errno_from_http(409, "AlreadyExists"), -EEXIST);
	CHECK_EQ_INT(k8s_errno_from_http(410, "Expired"), -ESTALE);
	CHECK_EQ_INT(k8s_errno_from_http(403, NULL), -EPERM);
	CHECK_EQ_INT(k8s_errno_from_http(502, NULL), -EIO);
	e = k8s_query_escape("app in (a,b),tier!=x");
	CHECK_EQ_STR(e, "app%20in%20%28a%2Cb%29%2Ctier%21%3Dx");
	free(e);
}
