/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_util.h -- small helpers shared by the libFuzzer targets.
 *
 * Targets call fuzz_quiet() once so that the logging of refused inputs does
 * not drown the fuzzer's own output, and fuzz_check() for invariants: a
 * broken invariant aborts, which libFuzzer reports as a crash with the input.
 */
#ifndef PODPROF_FUZZ_UTIL_H
#define PODPROF_FUZZ_UTIL_H

#include "log.h"

#include <stdio.h>
#include <stdlib.h>

/* Only errors reach stderr; refusals are logged at warn/info. */
static inline void fuzz_quiet(void)
{
	log_set_level(LOG_LVL_ERROR);
}

#define fuzz_check(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", #cond, __FILE__,    \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
