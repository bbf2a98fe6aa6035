/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_pprof_merge.c -- the operator merging profiles sent by workers.
 *
 * A worker's binary frame carries a gzip pprof that the operator decodes and
 * merges into the target's profile, then encodes, summarises (top functions)
 * and uploads. Whatever merges must encode, and the encoding must merge
 * again with the same sample total.
 */
#include "fuzz_util.h"
#include "pprof.h"

#include <stdint.h>
#include <stdlib.h>

#define MAX_DECODED (8u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pprof_builder *b = NULL, *b2 = NULL;
	struct pprof_top_entry *top = NULL;
	size_t ntop = 0, out_len = 0;
	void *out = NULL;

	fuzz_quiet();
	if (pprof_builder_new(&b, 10101010, 1) < 0)
		return 0;
	if (pprof_builder_merge(b, data, size, MAX_DECODED) < 0)
		goto cleanup;
	if (pprof_builder_top(b, 10, &top, &ntop) == 0)
		pprof_top_free(top, ntop);
	fuzz_check(pprof_builder_encode(b, size & 1, &out, &out_len) == 0);
	fuzz_check(pprof_builder_new(&b2, 10101010, 1) == 0);
	fuzz_check(pprof_builder_merge(b2, out, out_len, MAX_DECODED * 4) == 0);
	fuzz_check(pprof_builder_total(b2) == pprof_builder_total(b));
cleanup:
	free(out);
	pprof_builder_free(b2);
	pprof_builder_free(b);
	return 0;
}
