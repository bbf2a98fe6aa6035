/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_kallsyms.c -- the /proc/kallsyms reader (kernel text, modules).
 *
 * The kernel writes this file, but the worker may be pointed at a host /proc
 * mounted elsewhere; the reader caps and validates anyway. The input is
 * served from a memfd through its /proc/self/fd path.
 */
#include "fuzz_util.h"
#include "kallsyms.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	memfd = memfd_create("fuzz-kallsyms", 0);
	if (memfd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kallsyms *k = NULL;

	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		return 0;
	if (kallsyms_load(path, &k) < 0)
		return 0;
	for (size_t i = 0; i + 8 <= size && i < 2048; i += 32) {
		uint64_t v, start = 0, lo, hi;
		unsigned int mod = 0;

		memcpy(&v, data + i, sizeof(v));
		if (kallsyms_lookup(k, v, &start, &mod))
			fuzz_check(start <= v);
		kallsyms_module(k, mod, &lo, &hi);
	}
	(void)kallsyms_count(k);
	kallsyms_free(k);
	return 0;
}
