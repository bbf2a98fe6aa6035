/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_spool_sidecar.c -- the storage spool's sidecar files and S3 error bodies.
 *
 * Sidecars are read back after a restart (a disk or another process may
 * have damaged them); a parsed one must carry a valid object key. S3 error
 * replies come from the network. The first input byte picks the parser.
 */
#include "fuzz_util.h"
#include "storage_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *key = NULL, *ctype = NULL, msg[512];
	size_t sz = 0;

	fuzz_quiet();
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		s3_error_message((const char *)data + 1, size - 1, 500 + data[0] % 100, msg,
				 sizeof(msg));
		fuzz_check(memchr(msg, '\0', sizeof(msg)) != NULL);
		return 0;
	}
	if (spool_parse_sidecar((const char *)data + 1, size - 1, &key, &ctype, &sz) == 0) {
		fuzz_check(key && ctype);
		fuzz_check(storage_key_valid(key));
	}
	free(key);
	free(ctype);
	return 0;
}
