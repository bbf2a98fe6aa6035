/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_elf_file.c -- whole ELF files of any apparent size, through elfsym.
 *
 * fuzz_elfsym loads the input itself as a file, so every table lies in the
 * first 64 KiB. Hostile files are sparse: a header claiming millions of
 * sections, or a string table of hundreds of MiB that is all holes. Here
 * the input describes a file instead: an apparent size, then chunks placed
 * at any offset below it; the rest are holes. That reaches the size, count
 * and sparse-table checks with inputs of a few hundred bytes, and a loader
 * that allocated for such a header would hit the fuzzer's RSS and malloc
 * limits.
 *
 * Input: u64 apparent size (taken modulo 2 * ELFSYM_MAX_FILE), then
 * { u64 offset (modulo the apparent size), u16 length, bytes } repeated;
 * all little-endian.
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
	memfd = memfd_create("fuzz-elf-file", 0);
	if (memfd < 0)
		abort();
	return 0;
}

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elfsym *e = NULL;
	uint64_t apparent;
	size_t pos = 8;

	if (size < 8 || ftruncate(memfd, 0) < 0)
		return 0;
	apparent = get_le(data, 8) % (2 * ELFSYM_MAX_FILE) + 1;
	while (pos + 10 <= size) {
		uint64_t off = get_le(data + pos, 8) % apparent;
		size_t len = (size_t)get_le(data + pos + 8, 2);

		pos += 10;
		if (len > size - pos)
			len = size - pos;
		if (len > apparent - off)
			len = (size_t)(apparent - off);
		if (pwrite(memfd, data + pos, len, (off_t)off) != (ssize_t)len)
			return 0;
		pos += len;
	}
	if (ftruncate(memfd, (off_t)apparent) < 0)
		return 0;
	if (elfsym_load_fd(memfd, &e) < 0) {
		fuzz_check(e == NULL);
		return 0;
	}
	/* What is kept is bounded by the read budget, whatever the header said. */
	fuzz_check(elfsym_mem(e) <= 2 * (size_t)ELFSYM_MAX_READ);
	fuzz_check(elfsym_count(e) <= ELFSYM_MAX_SYMBOLS);
	elfsym_lookup(e, 0, NULL);
	elfsym_lookup(e, UINT64_MAX, NULL);
	elfsym_free(e);
	return 0;
}
