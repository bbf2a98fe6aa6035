/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_procmaps.c -- /proc/PID/maps text (paths are chosen by the process).
 *
 * Parsed entries must be well formed whatever the input: ranges not
 * inverted, permissions NUL-terminated, paths present.
 */
#include "fuzz_util.h"
#include "procmaps.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procmaps m = {0};

	fuzz_quiet();
	if (procmaps_parse((const char *)data, size, 64, &m) == 0) {
		fuzz_check(m.n <= 64);
		for (size_t i = 0; i < m.n; i++) {
			fuzz_check(m.e[i].path != NULL);
			fuzz_check(memchr(m.e[i].perms, '\0', sizeof(m.e[i].perms)) != NULL);
			(void)procmaps_is_exec(&m.e[i]);
		}
	}
	procmaps_release(&m);
	procmaps_release(&m);
	return 0;
}
