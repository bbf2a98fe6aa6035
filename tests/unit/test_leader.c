/* SPDX-License-Identifier: Apache-2.0 */
/* test_leader.c -- leader election: the expiry decision, MicroTime format, and
 * (with PODPROF_LEADER_KUBECONFIG, _NAMESPACE and optionally _LEASE set, as
 * e2e/test_chart.py does with the chart's operator identity) two
 * electors racing for one Lease on a real kube-apiserver. */
#include <errno.h>
#include <stdlib.h>

#include "k8s_client.h"
#include "kubeconfig.h"
#include "leader.h"
#include "leader_int.h"
#include "unit.h"

/* A free Lease (no holder) is taken at once. */
UNIT_TEST(leader_decide_free_lease_is_taken)
{
	struct leader_observed obs = {0};

	CHECK_EQ_INT(leader_decide("a", &obs, NULL, "1", 15, 1000), LEADER_TAKE);
	CHECK_EQ_INT(leader_decide("a", &obs, "", "2", 15, 1000), LEADER_TAKE);
}

/* Another holder's lease expires only after a full duration of silence on our clock. */
UNIT_TEST(leader_decide_expiry_on_observer_clock)
{
	struct leader_observed obs = {0};

	CHECK_EQ_INT(leader_decide("a", &obs, "b", "10", 15, 5000), LEADER_WAIT);
	CHECK_EQ_INT(leader_decide("a", &obs, "b", "10", 15, 19999), LEADER_WAIT);
	CHECK_EQ_INT(leader_decide("a", &obs, "b", "10", 15, 20000), LEADER_TAKE);
	/* A renewal (new resourceVersion) restarts the clock. */
	CHECK_EQ_INT(leader_decide("a", &obs, "b", "11", 15, 20000), LEADER_WAIT);
	CHECK_EQ_INT(leader_decide("a", &obs, "b", "11", 15, 34999), LEADER_WAIT);
	CHECK_EQ_INT(leader_decide("a", &obs, "b", "11", 15, 35000), LEADER_TAKE);
	/* A new holder also restarts it, even with an unchanged version string. */
	CHECK_EQ_INT(leader_decide("a", &obs, "c", "11", 15, 35000), LEADER_WAIT);
}

/* Our own record means renew, whatever its age. */
UNIT_TEST(leader_decide_own_lease_renews)
{
	struct leader_observed obs = {0};

	CHECK_EQ_INT(leader_decide("a", &obs, "a", "3", 15, 0), LEADER_RENEW);
	CHECK_EQ_INT(leader_decide("a", &obs, "a", "3", 15, 999999), LEADER_RENEW);
}

/* renewTime is written in the metav1.MicroTime form the API server accepts. */
UNIT_TEST(leader_micro_time_format)
{
	char buf[40];

	leader_micro_time(buf, sizeof(buf), 1700000000, 123456789);
	CHECK_EQ_STR(buf, "2023-11-14T22:13:20.123456Z");
	leader_micro_time(buf, sizeof(buf), 0, 0);
	CHECK_EQ_STR(buf, "1970-01-01T00:00:00.000000Z");
}

/* Bad arguments are refused before any API call. */
UNIT_TEST(leader_new_rejects_bad_arguments)
{
	struct leader *l = (struct leader *)1;

	CHECK_EQ_INT(leader_new(NULL, "ns", "n", "id", 15000, &l), -EINVAL);
	CHECK(l == NULL);
	leader_free(NULL);
}

static struct k8s_client *api_client(void)
{
	const char *path = getenv("PODPROF_LEADER_KUBECONFIG");
	struct k8s_config *cfg = NULL;
	struct k8s_client *c = NULL;
	char errbuf[256];

	if (!path || kubeconfig_load_auto(path, &cfg, errbuf, sizeof(errbuf)) < 0)
		return NULL;
	if (k8s_client_new(cfg, &c) < 0)
		c = NULL;
	k8s_config_free(cfg);
	return c;
}

/* Real API server: one of two replicas leads; the other takes over only on
 * release or after the holder stops renewing, and the old holder then learns
 * it lost. */
UNIT_TEST(leader_api_two_replicas)
{
	const char *ns = getenv("PODPROF_LEADER_NAMESPACE");
	const char *lease =
	    getenv("PODPROF_LEADER_LEASE") ? getenv("PODPROF_LEADER_LEASE") : "unit-lease";
	struct k8s_client *c = api_client();
	struct leader *a = NULL, *b = NULL;
	atomic_int stop = 0;

	if (!c || !ns) {
		printf("    leader_api: PODPROF_LEADER_KUBECONFIG/NAMESPACE unset: skipped\n");
		k8s_client_free(c);
		return;
	}
	CHECK_EQ_INT(leader_new(c, ns, lease, "replica-a", 2000, &a), 0);
	CHECK_EQ_INT(leader_new(c, ns, lease, "replica-b", 2000, &b), 0);
	if (!a || !b)
		goto cleanup;
	/* a creates the Lease; b sees a valid holder. A missing RBAC rule
	 * returns -EPERM at once, so the test ends instead of waiting. */
	CHECK_EQ_INT(leader_acquire(a, &stop), 0);
	if (!leader_is_leader(a))
		goto cleanup;
	CHECK(leader_is_leader(a));
	CHECK_EQ_INT(leader_try(b), 0);
	CHECK(!leader_is_leader(b));
	CHECK_EQ_INT(leader_renew(a), 0);
	/* Release hands over without waiting for expiry. */
	CHECK_EQ_INT(leader_release(a), 0);
	CHECK_EQ_INT(leader_try(b), 1);
	CHECK_EQ_INT(leader_renew(a), -EBUSY);
	/* a competes again; b stops renewing (as if hung), so a waits out the
	 * lease and takes over; b's next renewal reports the loss. */
	CHECK_EQ_INT(leader_try(a), 0);
	CHECK_EQ_INT(leader_acquire(a, &stop), 0);
	CHECK_EQ_INT(leader_renew(b), -EBUSY);
	CHECK(!leader_is_leader(b));
	CHECK(leader_is_leader(a));
	/* A stop request ends a blocked acquire. */
	atomic_store(&stop, 1);
	CHECK_EQ_INT(leader_acquire(b, &stop), -ECANCELED);
	printf("    leader_api: ran against the API server\n");
cleanup:
	leader_release(a);
	leader_free(a);
	leader_free(b);
	k8s_client_free(c);
}
