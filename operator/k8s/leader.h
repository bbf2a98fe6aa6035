/* SPDX-License-Identifier: Apache-2.0 */
/* leader.h -- leader election through a coordination.k8s.io/v1 Lease.
 *
 * With several operator replicas exactly one may reconcile. Each replica
 * tries to write its identity into one Lease (holderIdentity, renewTime,
 * leaseDurationSeconds); the API server's resourceVersion check makes the
 * write atomic, so two replicas can never both win. A holder renews well
 * before the lease runs out; the others take over only after they have seen
 * the record unchanged for a whole lease duration. Expiry is measured on the
 * observer's monotonic clock (as client-go does), never by comparing
 * renewTime with the local wall clock, so clock skew between nodes is
 * harmless.
 *
 * Built on k8s_client.h only. Needs RBAC: get, create, update on
 * coordination.k8s.io leases in the Lease's namespace.
 *
 * Threading: one struct leader is used by one thread at a time. Calls block
 * on the API server (one or two requests each).
 *
 * Return convention: 0 on success, negative errno on failure.
 */
#ifndef PODPROF_LEADER_H
#define PODPROF_LEADER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "k8s_client.h"

struct leader;

/* Create an elector for Lease ns/name, competing as identity (e.g. the pod
 * name; unique per replica). lease_ms (1000..3600000) is how long a silent
 * holder stays leader; renewals happen every lease_ms/7 and leadership is
 * given up when no renewal succeeded for 2/3 of lease_ms. The client is
 * borrowed and must outlive the elector. -EINVAL on bad arguments. Free with
 * leader_free(). */
int leader_new(struct k8s_client *client, const char *ns, const char *name, const char *identity,
	       unsigned lease_ms, struct leader **out);

/* Release memory; does not touch the Lease (see leader_release). NULL is fine. */
void leader_free(struct leader *l);

/* One attempt to take or keep the Lease: 1 when this identity now holds it,
 * 0 when someone else validly does (or won a race), negative errno when the
 * API call failed (-EPERM: RBAC forbids it; the reason is logged). */
int leader_try(struct leader *l);

/* Block until this identity holds the Lease (0), retrying every lease_ms/7
 * and logging once who else holds it. Returns -ECANCELED soon after *stop
 * becomes non-zero (stop may be NULL). API errors are logged and retried,
 * except -EPERM, which is returned at once: a missing RBAC rule never fixes
 * itself. */
int leader_acquire(struct leader *l, const atomic_int *stop);

/* Renew the Lease now. 0: still the leader (renewed, or a transient API
 * error while the last renewal is recent enough; call again at
 * leader_renew_due_ms()). Negative: leadership is lost and the caller must
 * stop reconciling at once (exiting is simplest):
 *   -EBUSY      another identity holds the Lease
 *   -ETIMEDOUT  no renewal succeeded within 2/3 of the lease duration
 *   -EPERM      RBAC forbids updating the Lease
 *   -ENOENT     the Lease was deleted
 * Calling it when not the leader returns -EBUSY. */
int leader_renew(struct leader *l);

/* Monotonic time (ms, CLOCK_MONOTONIC) at which leader_renew() should next
 * run: lease_ms/7 after the last successful renewal, sooner after a failed
 * one. */
uint64_t leader_renew_due_ms(const struct leader *l);

/* True between a successful acquire and a lost renewal or release. */
bool leader_is_leader(const struct leader *l);

/* On clean shutdown: if leading, mark the Lease free (no holder, 1 s
 * duration) so another replica takes over at once instead of waiting for
 * expiry. 0 also when not leading. */
int leader_release(struct leader *l);

#endif
