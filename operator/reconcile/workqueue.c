/* SPDX-License-Identifier: Apache-2.0 */
/* workqueue.c -- coalescing key queue with delayed adds.
 *
 * Each key has one entry, indexed by json-c's string hash table (linkhash)
 * and linked into either the ready FIFO or the delayed list, which is kept
 * sorted by due time (insertion is O(n) in delayed keys; the operator has at
 * most a few thousand targets, and pops stay O(1)).
 */
#include "workqueue.h"
#include "clock.h"

#include <errno.h>
#include <json-c/linkhash.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wq_entry {
	char *key;	       /* owned; also the hash-table key */
	bool ready;	       /* in the ready FIFO (else the delayed list) */
	uint64_t due;	       /* when a delayed entry becomes ready */
	struct wq_entry *prev; /* neighbours in whichever list holds it */
	struct wq_entry *next;
};

struct wq_list {
	struct wq_entry *head, *tail;
};

struct workqueue {
	struct lh_table *index; /* key -> entry */
	struct wq_list ready;	/* FIFO of ready keys */
	struct wq_list delayed; /* sorted by due, earliest first */
	size_t len;		/* entries in both lists */
};

static void list_unlink(struct wq_list *l, struct wq_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

static void list_append(struct wq_list *l, struct wq_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
}

/* Insert into the delayed list keeping due order (FIFO among equal times). */
static void delayed_insert(struct wq_list *l, struct wq_entry *e)
{
	struct wq_entry *p = l->tail;

	while (p && p->due > e->due)
		p = p->prev;
	if (!p) {
		e->prev = NULL;
		e->next = l->head;
		if (l->head)
			l->head->prev = e;
		else
			l->tail = e;
		l->head = e;
		return;
	}
	e->prev = p;
	e->next = p->next;
	if (p->next)
		p->next->prev = e;
	else
		l->tail = e;
	p->next = e;
}

struct workqueue *workqueue_new(void)
{
	struct workqueue *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	/* Entries are freed by the queue, not by the table. */
	q->index = lh_kchar_table_new(64, NULL);
	if (!q->index) {
		free(q);
		return NULL;
	}
	return q;
}

static void free_list(struct wq_list *l)
{
	struct wq_entry *e, *n;

	for (e = l->head; e; e = n) {
		n = e->next;
		free(e->key);
		free(e);
	}
	l->head = l->tail = NULL;
}

void workqueue_free(struct workqueue *q)
{
	if (!q)
		return;
	lh_table_free(q->index);
	free_list(&q->ready);
	free_list(&q->delayed);
	free(q);
}

static struct wq_entry *lookup(const struct workqueue *q, const char *key)
{
	void *v = NULL;

	if (!lh_table_lookup_ex(q->index, key, &v))
		return NULL;
	return v;
}

static int valid_key(const char *key)
{
	return key && key[0] && strlen(key) <= WORKQUEUE_MAX_KEY;
}

static struct wq_entry *new_entry(struct workqueue *q, const char *key)
{
	struct wq_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key || lh_table_insert(q->index, e->key, e) != 0) {
		free(e->key);
		free(e);
		return NULL;
	}
	q->len++;
	return e;
}

/* A delayed entry e is unlinked for re-filing; without one, a new entry. */
static struct wq_entry *detach_or_new(struct workqueue *q, struct wq_entry *e, const char *key)
{
	if (!e)
		return new_entry(q, key);
	list_unlink(&q->delayed, e);
	return e;
}

int workqueue_add(struct workqueue *q, const char *key)
{
	struct wq_entry *e;

	if (!valid_key(key))
		return -EINVAL;
	e = lookup(q, key);
	if (e && e->ready)
		return 0;
	e = detach_or_new(q, e, key);
	if (!e)
		return -ENOMEM;
	e->ready = true;
	list_append(&q->ready, e);
	return 0;
}

int workqueue_add_after(struct workqueue *q, const char *key, uint64_t now_ms, uint64_t delay_ms)
{
	uint64_t due = now_ms + delay_ms;
	struct wq_entry *e;

	if (!valid_key(key))
		return -EINVAL;
	if (delay_ms == 0)
		return workqueue_add(q, key);
	e = lookup(q, key);
	if (e && (e->ready || e->due <= due))
		return 0;
	e = detach_or_new(q, e, key);
	if (!e)
		return -ENOMEM;
	e->ready = false;
	e->due = due;
	delayed_insert(&q->delayed, e);
	return 0;
}

char *workqueue_pop(struct workqueue *q, uint64_t now_ms)
{
	struct wq_entry *e;
	char *key;

	while (q->delayed.head && q->delayed.head->due <= now_ms) {
		e = q->delayed.head;
		list_unlink(&q->delayed, e);
		e->ready = true;
		list_append(&q->ready, e);
	}
	e = q->ready.head;
	if (!e)
		return NULL;
	list_unlink(&q->ready, e);
	lh_table_delete(q->index, e->key);
	q->len--;
	key = e->key;
	free(e);
	return key;
}

int64_t workqueue_next_delay_ms(const struct workqueue *q, uint64_t now_ms)
{
	if (q->ready.head)
		return 0;
	if (!q->delayed.head)
		return -1;
	if (q->delayed.head->due <= now_ms)
		return 0;
	return (int64_t)(q->delayed.head->due - now_ms);
}

int workqueue_forget(struct workqueue *q, const char *key)
{
	struct wq_entry *e;

	if (!valid_key(key))
		return -EINVAL;
	e = lookup(q, key);
	if (!e)
		return -ENOENT;
	list_unlink(e->ready ? &q->ready : &q->delayed, e);
	lh_table_delete(q->index, e->key);
	q->len--;
	free(e->key);
	free(e);
	return 0;
}

size_t workqueue_len(const struct workqueue *q)
{
	return q->len;
}
