/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_unwind_table.c -- unwind tables from hostile ELF images.
 *
 * The input is the image itself, as a profiled container could map it; the
 * table builder (worker/unwind_table.c) reads .eh_frame_hdr, .eh_frame and
 * .debug_frame through libelf/libdw. Whatever the file says, the table must
 * stay within its caps, sorted, and inside the executable range it reports.
 */
#include "fuzz_util.h"
#include "unwind_table.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unwind_table t = {0};
	int rc = unwind_table_build_mem(data, size, &t);

	if (rc == 0) {
		fuzz_check(t.rows != NULL || t.n == 0);
		for (size_t i = 1; i < t.n; i++)
			fuzz_check(t.rows[i - 1].pc <= t.rows[i].pc);
		unwind_table_find(&t, 0);
		unwind_table_find(&t, UINT64_MAX);
		if (t.n)
			unwind_table_find(&t, t.rows[t.n / 2].pc);
	}
	unwind_table_release(&t);
	return 0;
}
