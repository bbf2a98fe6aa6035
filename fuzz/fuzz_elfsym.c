/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_elfsym.c -- ELF symbol tables, load segments and build-ID notes.
 *
 * The worker opens binaries from inside containers, so each file is hostile.
 * The input is written to a memfd and loaded exactly as a mapped binary is;
 * lookups then probe addresses derived from the input.
 */
#include "elfsym.h"
#include "fuzz_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int memfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	memfd = memfd_create("fuzz-elf", 0);
	if (memfd < 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elfsym *e = NULL;
	const char *bid;

	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		return 0;
	if (elfsym_load_fd(memfd, &e) < 0) {
		fuzz_check(e == NULL);
		return 0;
	}
	bid = elfsym_build_id(e);
	if (bid)
		fuzz_check(strlen(bid) <= 2 * ELFSYM_MAX_BUILD_ID);
	for (size_t i = 0; i + 8 <= size && i < 4096; i += 64) {
		uint64_t v, vaddr, start;
		const char *name;

		memcpy(&v, data + i, sizeof(v));
		if (elfsym_file_to_vaddr(e, v % (size + 1), &vaddr) == 0)
			elfsym_lookup(e, vaddr, &start);
		name = elfsym_lookup(e, v, &start);
		if (name)
			fuzz_check(start <= v);
	}
	elfsym_lookup(e, 0, NULL);
	elfsym_lookup(e, UINT64_MAX, NULL);
	(void)elfsym_count(e);
	elfsym_free(e);
	return 0;
}
