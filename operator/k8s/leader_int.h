/* SPDX-License-Identifier: Apache-2.0 */
/* leader_int.h -- leader election internals shared with its unit test only. */
#ifndef PODPROF_LEADER_INT_H
#define PODPROF_LEADER_INT_H

#include <stdint.h>

#include <json-c/json.h>

#define LEADER_MAX_IDENTITY 253 /* holderIdentity cap: a pod name at most */

/* What a candidate should do after reading the Lease. */
enum leader_action {
	LEADER_WAIT,  /* someone else holds a lease that has not expired */
	LEADER_TAKE,  /* free or expired: write our identity */
	LEADER_RENEW, /* we already hold it: refresh renewTime */
};

/* The last Lease record this replica saw, and when (monotonic ms) it
 * changed: expiry is judged on the observer's own clock. */
struct leader_observed {
	char holder[LEADER_MAX_IDENTITY + 1]; /* holderIdentity, "" when free */
	char rv[64];			      /* metadata.resourceVersion */
	int duration_s;			      /* spec.leaseDurationSeconds */
	uint64_t seen_ms;		      /* when rv was first seen */
};

/* Decide from a freshly read Lease (holder may be NULL/"" for free) and
 * update obs. A record not seen before starts its expiry clock now. */
enum leader_action leader_decide(const char *identity, struct leader_observed *obs,
				 const char *holder, const char *rv, int duration_s,
				 uint64_t now_ms);

/* Format a metav1.MicroTime ("2006-01-02T15:04:05.000000Z") for the given
 * wall-clock time into buf (>= 32 bytes). */
void leader_micro_time(char *buf, size_t len, int64_t sec, long nsec);

#endif
