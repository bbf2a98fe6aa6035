/* SPDX-License-Identifier: Apache-2.0 */
/* test_workqueue.c -- coalescing and delayed adds of the reconcile queue. */
#include "workqueue.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int pop_is(struct workqueue *q, uint64_t now, const char *want)
{
	char *k = workqueue_pop(q, now);
	int ok = want ? (k && !strcmp(k, want)) : (k == NULL);

	if (!ok)
		fprintf(stderr, "    popped %s, wanted %s\n", k ? k : "(none)",
			want ? want : "(none)");
	free(k);
	return ok;
}

/* A burst of adds for one object yields one reconcile, in first-add order. */
UNIT_TEST(workqueue_coalesces)
{
	struct workqueue *q = workqueue_new();

	CHECK(q != NULL);
	CHECK_EQ_INT(workqueue_add(q, "ns/a"), 0);
	CHECK_EQ_INT(workqueue_add(q, "ns/b"), 0);
	CHECK_EQ_INT(workqueue_add(q, "ns/a"), 0);
	CHECK_EQ_INT(workqueue_add(q, "ns/a"), 0);
	CHECK_EQ_INT(workqueue_len(q), 2);
	CHECK(pop_is(q, 0, "ns/a"));
	/* Re-added while being processed: queued again. */
	CHECK_EQ_INT(workqueue_add(q, "ns/a"), 0);
	CHECK(pop_is(q, 0, "ns/b"));
	CHECK(pop_is(q, 0, "ns/a"));
	CHECK(pop_is(q, 0, NULL));
	CHECK_EQ_INT(workqueue_len(q), 0);
	CHECK_EQ_INT(workqueue_add(q, ""), -EINVAL);
	CHECK_EQ_INT(workqueue_add(q, NULL), -EINVAL);
	workqueue_free(q);
	workqueue_free(NULL);
}

/* Delayed keys come out when due, earliest first; the earliest due time wins. */
UNIT_TEST(workqueue_delayed)
{
	struct workqueue *q = workqueue_new();

	CHECK_EQ_INT(workqueue_next_delay_ms(q, 1000), -1);
	CHECK_EQ_INT(workqueue_add_after(q, "ns/late", 1000, 500), 0);
	CHECK_EQ_INT(workqueue_add_after(q, "ns/soon", 1000, 100), 0);
	CHECK_EQ_INT(workqueue_add_after(q, "ns/late", 1000, 900), 0); /* later: ignored */
	CHECK_EQ_INT(workqueue_len(q), 2);
	CHECK_EQ_INT(workqueue_next_delay_ms(q, 1000), 100);
	CHECK(pop_is(q, 1099, NULL));
	CHECK(pop_is(q, 1100, "ns/soon"));
	CHECK_EQ_INT(workqueue_next_delay_ms(q, 1100), 400);
	CHECK_EQ_INT(workqueue_add_after(q, "ns/late", 1100, 50), 0); /* earlier: wins */
	CHECK_EQ_INT(workqueue_next_delay_ms(q, 1100), 50);
	CHECK(pop_is(q, 1150, "ns/late"));
	CHECK(pop_is(q, 5000, NULL));
	workqueue_free(q);
}

/* An immediate add overrides a pending timer; a timer never delays a ready key. */
UNIT_TEST(workqueue_ready_beats_delayed)
{
	struct workqueue *q = workqueue_new();

	CHECK_EQ_INT(workqueue_add_after(q, "ns/a", 0, 1000), 0);
	CHECK_EQ_INT(workqueue_add(q, "ns/a"), 0);
	CHECK_EQ_INT(workqueue_len(q), 1);
	CHECK_EQ_INT(workqueue_next_delay_ms(q, 0), 0);
	CHECK_EQ_INT(workqueue_add_after(q, "ns/a", 0, 10), 0);
	CHECK(pop_is(q, 0, "ns/a"));
	CHECK(pop_is(q, 2000, NULL)); /* the old timer went with the entry */
	CHECK_EQ_INT(workqueue_add_after(q, "ns/b", 0, 0), 0); /* zero delay: ready now */
	CHECK(pop_is(q, 0, "ns/b"));
	workqueue_free(q);
}

/* Forgetting a key drops it whether ready or delayed. */
UNIT_TEST(workqueue_forget)
{
	struct workqueue *q = workqueue_new();

	workqueue_add(q, "ns/a");
	workqueue_add_after(q, "ns/b", 0, 10);
	CHECK_EQ_INT(workqueue_forget(q, "ns/a"), 0);
	CHECK_EQ_INT(workqueue_forget(q, "ns/b"), 0);
	CHECK_EQ_INT(workqueue_forget(q, "ns/b"), -ENOENT);
	CHECK_EQ_INT(workqueue_len(q), 0);
	CHECK(pop_is(q, 100, NULL));
	workqueue_free(q);
}

/* Thousands of keys with mixed timers come out complete and in due order. */
UNIT_TEST(workqueue_many_keys)
{
	struct workqueue *q = workqueue_new();
	char key[32];
	int n = 0;

	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "ns/k%d", i);
		CHECK_EQ_INT(workqueue_add_after(q, key, 0, (uint64_t)((i * 7919) % 1000) + 1), 0);
	}
	for (int i = 0; i < 3000; i += 3) {
		snprintf(key, sizeof(key), "ns/k%d", i);
		workqueue_add_after(q, key, 0, 5000); /* later: ignored */
	}
	CHECK_EQ_INT(workqueue_len(q), 3000);
	for (uint64_t now = 0; now <= 1001; now++) {
		for (;;) {
			char *k = workqueue_pop(q, now);
			int i;

			if (!k)
				break;
			/* Stepping 1 ms at a time, each key pops exactly when due. */
			CHECK(sscanf(k, "ns/k%d", &i) == 1);
			CHECK_EQ_INT((uint64_t)((i * 7919) % 1000) + 1, now);
			n++;
			free(k);
		}
	}
	CHECK_EQ_INT(n, 3000);
	CHECK_EQ_INT(workqueue_len(q), 0);
	workqueue_free(q);
}
