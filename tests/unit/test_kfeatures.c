/* SPDX-License-Identifier: Apache-2.0 */
/* test_kfeatures.c -- the start-up refusal: what counts as missing, and the probe on this host. */
#include "unit.h"

#include <errno.h>
#include <unistd.h>

#include "kfeatures.h"

UNIT_TEST(kfeatures_require_names_missing)
{
	struct kfeatures kf = {.release = "5.10.0-test"};

	/* Everything answered, everything present: nothing to refuse. */
	kf.probed = kf.have = (1ULL << KF__COUNT) - 1;
	CHECK_EQ_INT(kfeatures_require(&kf, KFEATURES_SAMPLER_NEEDS), 0);
	/* Features with a fallback absent (5.10 lacks both): not refused. */
	kf.have &= ~KFEATURES_SAMPLER_FALLBACKS;
	CHECK_EQ_INT(kfeatures_require(&kf, KFEATURES_SAMPLER_NEEDS), 0);
	CHECK(!(KFEATURES_SAMPLER_NEEDS & KFEATURES_SAMPLER_FALLBACKS));
	CHECK(KFEATURES_SAMPLER_FALLBACKS & KF_BIT(KF_ATTACH_COOKIE));
	CHECK(KFEATURES_SAMPLER_FALLBACKS & KF_BIT(KF_ANCESTOR_CGROUP));
	/* A needed feature absent: refused. */
	kf.have &= ~KF_BIT(KF_PERF_EVENT_PROG);
	CHECK_EQ_INT(kfeatures_require(&kf, KFEATURES_SAMPLER_NEEDS), -EOPNOTSUPP);
	/* An unneeded one absent: not refused. */
	CHECK_EQ_INT(kfeatures_require(&kf, KF_BIT(KF_BTF)), 0);
	/* A probe that could not run counts as missing. */
	kf.have = kf.probed = (1ULL << KF__COUNT) - 1;
	kf.probed &= ~KF_BIT(KF_BTF);
	kf.have &= ~KF_BIT(KF_BTF);
	kf.errs[KF_BTF] = -EACCES;
	CHECK_EQ_INT(kfeatures_require(&kf, KF_BIT(KF_BTF)), -EOPNOTSUPP);
	CHECK(kfeatures_has(&kf, KF_RINGBUF));
	CHECK(!kfeatures_has(&kf, KF__COUNT));
	CHECK_EQ_STR(kfeature_since(KF_ATTACH_COOKIE), "5.15");
}

UNIT_TEST(kfeatures_probe_this_host)
{
	struct kfeatures kf;

	if (geteuid() != 0) {
		fprintf(stderr, "    (skipped: probing needs root)\n");
		return;
	}
	/* The suite's host must run the sampler (the e2e suites need it too). */
	CHECK_EQ_INT(kfeatures_probe(&kf), 0);
	CHECK(kf.release[0] != '\0');
	CHECK_EQ_INT(kf.probed, (1ULL << KF__COUNT) - 1);
	CHECK_EQ_INT(kfeatures_require(&kf, KFEATURES_SAMPLER_NEEDS), 0);
}
