/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_informer.c -- the Kubernetes watch-stream decoder and the informer cache.
 *
 * Bytes from a watch response are fed in chunks whose sizes come from the
 * input's first byte (the network splits lines anywhere), then the queued
 * events are dispatched to the cache with handlers that look at the objects.
 * A stream error resets the decoder as the watch thread does. Inputs that
 * parse as one JSON object are also applied as a list reply.
 */
#include "fuzz_util.h"
#include "informer_int.h"
#include "k8s_client.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct k8s_client *client;

static void touch(json_object *obj)
{
	char key[512];

	informer_key(obj, key, sizeof(key));
}

static void on_add(void *arg, json_object *obj)
{
	(void)arg;
	touch(obj);
}

static void on_update(void *arg, json_object *o, json_object *n)
{
	(void)arg;
	touch(o);
	touch(n);
}

static void on_delete(void *arg, json_object *obj)
{
	(void)arg;
	touch(obj);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Never used for I/O: the informer is driven through its feed only. */
	struct k8s_config cfg = {.server = "https://127.0.0.1:1"};

	(void)argc;
	(void)argv;
	fuzz_quiet();
	if (k8s_client_new(&cfg, &client) < 0)
		abort();
	return 0;
}

/* The first line, when it is a JSON object, is applied as a list reply. */
static void apply_first_line(struct informer *inf, const uint8_t *data, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	json_object *list;

	if (!tok)
		return;
	list = json_tokener_parse_ex(tok, (const char *)data, (int)len);
	if (list && json_object_is_type(list, json_type_object))
		informer_apply_list(inf, list);
	json_object_put(list);
	json_tokener_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct informer_spec spec = {.api_prefix = "/api/v1", .plural = "pods"};
	struct informer_handlers h = {on_add, on_update, on_delete, NULL, NULL};
	struct informer *inf = NULL;
	const uint8_t *nl;
	size_t chunk, off = 0;

	if (size < 1 || size > (1 << 20) || informer_new(client, &spec, &h, &inf) < 0)
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	informer_set_max_event(inf, 1 << 16);
	nl = memchr(data, '\n', size);
	if (nl && data[0] == '{') {
		apply_first_line(inf, data, (size_t)(nl - data));
		informer_dispatch(inf);
		off = (size_t)(nl - data) + 1;
	}
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (informer_feed(inf, (const char *)data + off, n) < 0)
			informer_feed_reset(inf);
		off += n;
	}
	informer_dispatch(inf);
	informer_free(inf);
	return 0;
}
