/* SPDX-License-Identifier: Apache-2.0 */
/* test_fuzz_regress.c -- inputs found by the fuzz/ targets, replayed after their fix.
 *
 * Each input in tests/unit/data/fuzz/ once made a parser misbehave under
 * ASan/UBSan. The unit builds replay them through the same calls the fuzz
 * target made. Note: the first one is undefined behaviour that clang's UBSan
 * reports (fuzz/ builds) and gcc's does not, so under gcc this checks the
 * results only; `fuzz/run.sh --smoke` replays the corpus under clang.
 */
#include "pprof.h"
#include "unit.h"

#include <stdlib.h>

/* A profile whose samples carry no labels (or no frames) before any other:
 * merging it once did pointer arithmetic on the NULL label pool (UBSan). */
UNIT_TEST(fuzz_pprof_merge_sample_before_any_pool)
{
	struct pprof_builder *b = NULL, *b2 = NULL;
	size_t len = 0, out_len = 0;
	char *data = unit_read_file("fuzz/pprof_merge-null-pool.pb", &len);
	void *out = NULL;

	CHECK(data != NULL);
	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 1), 0);
	if (!data || !b)
		goto out;
	CHECK_EQ_INT(pprof_builder_merge(b, data, len, 8u << 20), 0);
	CHECK(pprof_builder_total(b) > 0);
	CHECK_EQ_INT(pprof_builder_encode(b, true, &out, &out_len), 0);
	CHECK_EQ_INT(pprof_builder_new(&b2, 10101010, 1), 0);
	CHECK_EQ_INT(pprof_builder_merge(b2, out, out_len, 32u << 20), 0);
	CHECK(pprof_builder_total(b2) == pprof_builder_total(b));
out:
	free(out);
	free(data);
	pprof_builder_free(b2);
	pprof_builder_free(b);
}

/* The smallest form of the same case, through the builder API: a first
 * sample with neither frames nor labels, then the same sample again. */
UNIT_TEST(fuzz_pprof_empty_first_sample)
{
	struct pprof_builder *b = NULL;

	CHECK_EQ_INT(pprof_builder_new(&b, 1000, 0), 0);
	if (!b)
		return;
	CHECK_EQ_INT(pprof_builder_add(b, NULL, 0, 3, NULL, 0), 0);
	CHECK_EQ_INT(pprof_builder_add(b, NULL, 0, 2, NULL, 0), 0);
	CHECK(pprof_builder_total(b) == 5);
	pprof_builder_free(b);
}

/* A merged sample with no frames or no labels, then encoded: the encoder
 * once formed &array[0] of an array never allocated (UBSan, clang). */
UNIT_TEST(fuzz_pprof_encode_sample_without_frames_or_labels)
{
	struct pprof_builder *b = NULL;
	size_t len = 0, out_len = 0;
	char *data = unit_read_file("fuzz/pprof_merge-encode-empty.pb", &len);
	void *out = NULL;

	CHECK(data != NULL);
	CHECK_EQ_INT(pprof_builder_new(&b, 10101010, 1), 0);
	if (!data || !b)
		goto out;
	/* Refused or merged, the encode that follows must be well defined. */
	pprof_builder_merge(b, data, len, 8u << 20);
	CHECK_EQ_INT(pprof_builder_encode(b, false, &out, &out_len), 0);
out:
	free(out);
	free(data);
	pprof_builder_free(b);
}
