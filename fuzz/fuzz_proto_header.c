/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_proto_header.c -- header of binary profile frames sent by workers.
 *
 * A decoded header must re-encode to the same bytes it was read from.
 */
#include "fuzz_util.h"
#include "proto.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_profile_header h;
	struct proto_err err;
	uint8_t buf[PROTO_PROFILE_HEADER_MAX];
	int n, m;

	fuzz_quiet();
	n = proto_profile_header_decode(data, size, &h, &err);
	if (n < 0)
		return 0;
	fuzz_check((size_t)n <= size && n <= PROTO_PROFILE_HEADER_MAX);
	m = proto_profile_header_encode(buf, sizeof(buf), h.job_id, h.flags);
	fuzz_check(m == n);
	fuzz_check(memcmp(buf, data, (size_t)n) == 0);
	return 0;
}
