/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_proto.c -- podprof.v1 control-message decoder (both sides of the hub).
 *
 * Every text frame a worker or the operator receives goes through
 * proto_decode(). Beyond "no crash, no leak", a decoded message must encode
 * again and decode to the same type: what one side accepts, the other side
 * can produce.
 */
#include "fuzz_util.h"
#include "proto.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_msg msg = {0}, again = {0};
	struct proto_err err;
	char *out = NULL;
	size_t out_len = 0;

	fuzz_quiet();
	if (proto_decode((const char *)data, size, &msg, &err) == 0) {
		fuzz_check(proto_encode(&msg, &out, &out_len, &err) == 0);
		fuzz_check(proto_decode(out, out_len, &again, &err) == 0);
		fuzz_check(again.type == msg.type);
		free(out);
		proto_msg_free(&again);
	}
	proto_msg_free(&msg);
	proto_msg_free(&msg); /* documented as safe on a freed message */
	return 0;
}
