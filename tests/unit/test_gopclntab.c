/* SPDX-License-Identifier: Apache-2.0 */
/* test_gopclntab.c -- Go pc tables of a real Go binary (the toolchain's
 * gofmt) give names with file:line at every function entry, and cut or
 * corrupted tables are refused or looked up without reading out of bounds
 * (the ASan build checks the latter). */
#include "unit.h"
#include "elfsym.h"
#include "gopclntab.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define GO_BINARY "/usr/local/go/bin/gofmt"

static int read_table(void **data, size_t *len, uint64_t *text)
{
	int fd = open(GO_BINARY, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0)
		return -1;
	err = elfsym_read_section(fd, ".gopclntab", GOPCLNTAB_MAX_SIZE, data, len, NULL);
	if (!err)
		err = elfsym_read_section(fd, ".text", 0, NULL, NULL, text);
	close(fd);
	return err;
}

UNIT_TEST(gopclntab_real_go_binary)
{
	void *data = NULL;
	size_t len = 0, named = 0, with_line = 0, odd = 0;
	uint64_t text = 0;
	struct gopclntab *g = NULL;
	struct pprof_line l;
	bool saw_main = false;

	CHECK_EQ_INT(read_table(&data, &len, &text), 0);
	CHECK_EQ_INT(gopclntab_load(data, len, text, &g), 0);
	if (!g)
		return;
	CHECK(gopclntab_count(g) > 1000);
	/* Walk .text in 64-byte steps: most addresses are inside a function. */
	for (uint64_t a = text; a < text + (4u << 20); a += 64) {
		if (gopclntab_lookup(g, a, &l) != 1)
			continue;
		named++;
		/* Inlined code has no line, the rest a line inside the function
		 * (bar a few instructions the compiler moved out of inlined
		 * code without marking them). */
		with_line += l.filename && l.line > 0 && l.start_line > 0 && l.start_line <= l.line;
		odd += l.line && l.start_line > l.line;
		saw_main |= strcmp(l.function, "main.main") == 0;
	}
	CHECK(named > 10000);
	CHECK(with_line > named / 2);
	CHECK(odd < named / 100);
	CHECK(saw_main);
	CHECK_EQ_INT(gopclntab_lookup(g, text - 1, &l), 0);
	gopclntab_free(g);
}

UNIT_TEST(gopclntab_cut_and_corrupt_tables)
{
	void *data = NULL;
	size_t len = 0;
	uint64_t text = 0;
	struct pprof_line l;

	CHECK_EQ_INT(read_table(&data, &len, &text), 0);
	if (!data)
		return;
	for (size_t cut = 0; cut < len; cut = cut * 2 + 7) {
		uint8_t *copy = malloc(cut ? cut : 1);
		struct gopclntab *g = NULL;

		CHECK(copy != NULL);
		if (!copy)
			break;
		memcpy(copy, data, cut);
		/* Scribble over the offsets every other round. */
		if (cut > 64 && (cut & 1))
			memset(copy + 24, 0x7f, 16);
		if (gopclntab_load(copy, cut, text, &g) == 0) {
			for (uint64_t a = text; a < text + (1u << 20); a += 4093)
				(void)gopclntab_lookup(g, a, &l);
			gopclntab_free(g);
		}
	}
	free(data);
	{
		struct gopclntab *g = NULL;

		CHECK_EQ_INT(gopclntab_load(strdup("not a pclntab"), 14, 0, &g), -ENOEXEC);
		CHECK(g == NULL);
	}
}
