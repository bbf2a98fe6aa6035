/* SPDX-License-Identifier: Apache-2.0 */
/* leader.c -- Lease-based leader election (see leader.h for the protocol). */
#include "leader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "json_path.h"
#include "leader_int.h"
#include "log.h"

#define MOD	     "leader"
#define LEASE_API    "/apis/coordination.k8s.io/v1"
#define MIN_RETRY_MS 200u

struct leader {
	struct k8s_client *client; /* borrowed */
	char *ns, *name, *identity;
	unsigned lease_ms;
	unsigned retry_ms;    /* acquire retry and renew period */
	unsigned deadline_ms; /* give up when no renew succeeded this long */
	char path[512];	      /* .../namespaces/NS/leases/NAME */
	char coll[512];	      /* .../namespaces/NS/leases */
	json_object *lease;   /* last Lease read or written (owned) */
	struct leader_observed obs;
	bool leading;
	uint64_t last_renew_ms;			     /* last successful write as holder */
	uint64_t due_ms;			     /* next renew */
	char logged_holder[LEADER_MAX_IDENTITY + 1]; /* to log each new holder once */
};

void leader_micro_time(char *buf, size_t len, int64_t sec, long nsec)
{
	struct tm tm;
	time_t t = (time_t)sec;
	char day[24];
	unsigned usec = (unsigned)((nsec < 0 || nsec > 999999999L) ? 0 : nsec / 1000);

	gmtime_r(&t, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.19s.%06uZ", day, usec % 1000000u);
}

static void now_micro(char *buf, size_t len)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	leader_micro_time(buf, len, (int64_t)ts.tv_sec, ts.tv_nsec);
}

enum leader_action leader_decide(const char *identity, struct leader_observed *obs,
				 const char *holder, const char *rv, int duration_s,
				 uint64_t now_ms)
{
	if (!holder)
		holder = "";
	if (!rv)
		rv = "";
	if (strcmp(obs->rv, rv) != 0 || strcmp(obs->holder, holder) != 0) {
		/* A new record: whoever wrote it gets a full duration from now. */
		snprintf(obs->holder, sizeof(obs->holder), "%s", holder);
		snprintf(obs->rv, sizeof(obs->rv), "%s", rv);
		obs->duration_s = duration_s;
		obs->seen_ms = now_ms;
	}
	if (!holder[0])
		return LEADER_TAKE;
	if (!strcmp(holder, identity))
		return LEADER_RENEW;
	if (duration_s < 1)
		duration_s = 1;
	if (now_ms - obs->seen_ms >= (uint64_t)duration_s * 1000u)
		return LEADER_TAKE;
	return LEADER_WAIT;
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	return n > 0 && n <= max;
}

int leader_new(struct k8s_client *client, const char *ns, const char *name, const char *identity,
	       unsigned lease_ms, struct leader **out)
{
	struct leader *l;
	int err;

	*out = NULL;
	if (!client || !name_ok(ns, 63) || !name_ok(name, 253) ||
	    !name_ok(identity, LEADER_MAX_IDENTITY) || lease_ms < 1000 || lease_ms > 3600000)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->client = client;
	l->ns = strdup(ns);
	l->name = strdup(name);
	l->identity = strdup(identity);
	if (!l->ns || !l->name || !l->identity) {
		err = -ENOMEM;
		goto cleanup;
	}
	l->lease_ms = lease_ms;
	l->retry_ms = lease_ms / 7 > MIN_RETRY_MS ? lease_ms / 7 : MIN_RETRY_MS;
	l->deadline_ms = lease_ms * 2 / 3;
	err = k8s_build_path(l->path, sizeof(l->path), LEASE_API, ns, "leases", name, NULL);
	if (!err)
		err = k8s_build_path(l->coll, sizeof(l->coll), LEASE_API, ns, "leases", NULL, NULL);
	if (err)
		goto cleanup;
	*out = l;
	return 0;
cleanup:
	leader_free(l);
	return err;
}

void leader_free(struct leader *l)
{
	if (!l)
		return;
	json_object_put(l->lease);
	free(l->ns);
	free(l->name);
	free(l->identity);
	free(l);
}

static const char *spec_str(json_object *lease, const char *key)
{
	return json_path_str(lease, "spec", key, (const char *)NULL);
}

/* Lease spec numbers are int32 in the API; anything else reads as 0. */
static int spec_int(json_object *lease, const char *key)
{
	json_object *v = json_path(lease, "spec", key, (const char *)NULL);

	return json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
}

static const char *meta_rv(json_object *lease)
{
	json_object *meta, *v;

	if (!json_object_object_get_ex(lease, "metadata", &meta) ||
	    !json_object_object_get_ex(meta, "resourceVersion", &v))
		return NULL;
	return json_object_get_string(v);
}

static void keep(struct leader *l, json_object *lease)
{
	json_object_put(l->lease);
	l->lease = lease;
}

static void log_api_error(struct leader *l, const char *what, int err,
			  const struct k8s_api_error *aerr)
{
	if (err == -EPERM)
		log_error(MOD,
			  "cannot %s Lease %s/%s: forbidden (%s); the operator's ServiceAccount "
			  "needs get, create and update on coordination.k8s.io leases in "
			  "namespace %s",
			  what, l->ns, l->name, aerr->message[0] ? aerr->message : "403", l->ns);
	else
		log_warn(MOD, "cannot %s Lease %s/%s: %s%s%s", what, l->ns, l->name, strerror(-err),
			 aerr->message[0] ? ": " : "", aerr->message);
}

/* Fill spec for this identity as holder; transitions counts holder changes. */
static int set_holder_spec(struct leader *l, json_object *lease, bool taking)
{
	json_object *spec;
	char now[40];
	int transitions;

	if (!json_object_object_get_ex(lease, "spec", &spec) ||
	    !json_object_is_type(spec, json_type_object)) {
		spec = json_object_new_object();
		if (!spec)
			return -ENOMEM;
		json_object_object_add(lease, "spec", spec);
	}
	now_micro(now, sizeof(now));
	if (taking) {
		const char *old = spec_str(lease, "holderIdentity");

		transitions = spec_int(lease, "leaseTransitions");
		if (meta_rv(lease) && (!old || strcmp(old, l->identity)))
			transitions++;
		json_object_object_add(spec, "acquireTime", json_object_new_string(now));
		json_object_object_add(spec, "leaseTransitions", json_object_new_int(transitions));
	}
	json_object_object_add(spec, "holderIdentity", json_object_new_string(l->identity));
	json_object_object_add(spec, "leaseDurationSeconds",
			       json_object_new_int((int)((l->lease_ms + 999) / 1000)));
	json_object_object_add(spec, "renewTime", json_object_new_string(now));
	return 0;
}

static int create_lease(struct leader *l, struct k8s_api_error *aerr)
{
	json_object *lease = json_object_new_object(), *meta = json_object_new_object(),
		    *out = NULL;
	int err;

	if (!lease || !meta) {
		json_object_put(lease);
		json_object_put(meta);
		return -ENOMEM;
	}
	json_object_object_add(lease, "apiVersion",
			       json_object_new_string("coordination.k8s.io/v1"));
	json_object_object_add(lease, "kind", json_object_new_string("Lease"));
	json_object_object_add(meta, "name", json_object_new_string(l->name));
	json_object_object_add(meta, "namespace", json_object_new_string(l->ns));
	json_object_object_add(lease, "metadata", meta);
	err = set_holder_spec(l, lease, true);
	if (!err)
		err = k8s_create(l->client, l->coll, lease, &out, aerr);
	json_object_put(lease);
	if (err)
		return err;
	keep(l, out);
	return 0;
}

/* PUT the held Lease with this identity as holder; resourceVersion in it is
 * the precondition. On success l->lease is the server's copy. */
static int write_lease(struct leader *l, bool taking, struct k8s_api_error *aerr)
{
	json_object *out = NULL;
	int err;

	err = set_holder_spec(l, l->lease, taking);
	if (!err)
		err = k8s_replace(l->client, l->path, l->lease, &out, aerr);
	if (err)
		return err;
	keep(l, out);
	return 0;
}

static void became_leader(struct leader *l, uint64_t now)
{
	if (!l->leading)
		log_info(MOD, "%s is now the leader (Lease %s/%s)", l->identity, l->ns, l->name);
	l->leading = true;
	l->last_renew_ms = now;
	l->due_ms = now + l->retry_ms;
	snprintf(l->obs.holder, sizeof(l->obs.holder), "%s", l->identity);
	snprintf(l->obs.rv, sizeof(l->obs.rv), "%s", meta_rv(l->lease) ? meta_rv(l->lease) : "");
	l->obs.seen_ms = now;
}

int leader_try(struct leader *l)
{
	struct k8s_api_error aerr = {0};
	json_object *lease = NULL;
	enum leader_action act;
	const char *holder;
	uint64_t now;
	int err;

	err = k8s_get(l->client, l->path, &lease, &aerr);
	if (err == -ENOENT) {
		memset(&aerr, 0, sizeof(aerr));
		err = create_lease(l, &aerr);
		if (err == -EEXIST || err == -EAGAIN)
			return 0; /* another replica created it first */
		if (err) {
			log_api_error(l, "create", err, &aerr);
			return err;
		}
		became_leader(l, clock_mono_ms());
		return 1;
	}
	if (err) {
		log_api_error(l, "read", err, &aerr);
		return err;
	}
	keep(l, lease);
	now = clock_mono_ms();
	holder = spec_str(lease, "holderIdentity");
	act = leader_decide(l->identity, &l->obs, holder, meta_rv(lease),
			    spec_int(lease, "leaseDurationSeconds"), now);
	if (act == LEADER_WAIT) {
		if (strcmp(l->logged_holder, holder)) {
			log_info(MOD, "Lease %s/%s is held by %s; %s waits", l->ns, l->name, holder,
				 l->identity);
			snprintf(l->logged_holder, sizeof(l->logged_holder), "%s", holder);
		}
		l->leading = false;
		return 0;
	}
	if (act == LEADER_TAKE && holder && holder[0])
		log_info(MOD, "Lease %s/%s of %s expired; %s takes over", l->ns, l->name, holder,
			 l->identity);
	memset(&aerr, 0, sizeof(aerr));
	err = write_lease(l, act == LEADER_TAKE, &aerr);
	if (err == -EAGAIN)
		return 0; /* someone wrote in between: read again next time */
	if (err) {
		log_api_error(l, "update", err, &aerr);
		return err;
	}
	became_leader(l, clock_mono_ms());
	return 1;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int leader_acquire(struct leader *l, const atomic_int *stop)
{
	for (;;) {
		int r;

		if (stop && atomic_load(stop))
			return -ECANCELED;
		r = leader_try(l);
		if (r == 1)
			return 0;
		if (r == -EPERM)
			return r;
		/* Sleep in slices so a stop request is noticed quickly. */
		for (unsigned slept = 0; slept < l->retry_ms; slept += 100) {
			if (stop && atomic_load(stop))
				return -ECANCELED;
			sleep_ms(l->retry_ms - slept < 100 ? l->retry_ms - slept : 100);
		}
	}
}

int leader_renew(struct leader *l)
{
	struct k8s_api_error aerr = {0};
	json_object *lease = NULL;
	const char *holder;
	uint64_t now;
	int err;

	if (!l->leading || !l->lease)
		return -EBUSY;
	err = write_lease(l, false, &aerr);
	if (err == -EAGAIN) {
		/* Someone else wrote the Lease: see who holds it now. */
		memset(&aerr, 0, sizeof(aerr));
		err = k8s_get(l->client, l->path, &lease, &aerr);
		if (!err) {
			keep(l, lease);
			holder = spec_str(lease, "holderIdentity");
			if (!holder || strcmp(holder, l->identity)) {
				log_error(MOD, "lost Lease %s/%s to %s", l->ns, l->name,
					  holder && holder[0] ? holder : "(nobody)");
				l->leading = false;
				return -EBUSY;
			}
			memset(&aerr, 0, sizeof(aerr));
			err = write_lease(l, false, &aerr);
		}
	}
	now = clock_mono_ms();
	if (!err) {
		l->last_renew_ms = now;
		l->due_ms = now + l->retry_ms;
		return 0;
	}
	if (err == -EPERM || err == -ENOENT) {
		log_api_error(l, "renew", err, &aerr);
		log_error(MOD, "%s gives up leadership of Lease %s/%s", l->identity, l->ns,
			  l->name);
		l->leading = false;
		return err;
	}
	if (now - l->last_renew_ms >= l->deadline_ms) {
		log_error(MOD, "could not renew Lease %s/%s for %llu ms (%s): leadership lost",
			  l->ns, l->name, (unsigned long long)(now - l->last_renew_ms),
			  strerror(-err));
		l->leading = false;
		return -ETIMEDOUT;
	}
	log_api_error(l, "renew", err, &aerr);
	/* Retry soon, while the lease still covers us. */
	l->due_ms = now + (l->retry_ms / 2 > MIN_RETRY_MS / 2 ? l->retry_ms / 2 : MIN_RETRY_MS / 2);
	return 0;
}

uint64_t leader_renew_due_ms(const struct leader *l)
{
	return l->due_ms;
}

bool leader_is_leader(const struct leader *l)
{
	return l && l->leading;
}

int leader_release(struct leader *l)
{
	struct k8s_api_error aerr = {0};
	json_object *spec, *out = NULL;
	char now[40];
	int err;

	if (!l || !l->leading || !l->lease)
		return 0;
	l->leading = false;
	if (!json_object_object_get_ex(l->lease, "spec", &spec))
		return -EPROTO;
	now_micro(now, sizeof(now));
	json_object_object_del(spec, "holderIdentity");
	json_object_object_add(spec, "leaseDurationSeconds", json_object_new_int(1));
	json_object_object_add(spec, "renewTime", json_object_new_string(now));
	err = k8s_replace(l->client, l->path, l->lease, &out, &aerr);
	if (err) {
		log_api_error(l, "release", err, &aerr);
		return err;
	}
	keep(l, out);
	log_info(MOD, "%s released Lease %s/%s", l->identity, l->ns, l->name);
	return 0;
}
