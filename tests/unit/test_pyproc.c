/* SPDX-License-Identifier: Apache-2.0 */
/* test_pyproc.c -- CPython line tables per version, the offsets table and the Python frame encoding. */
#include "profile.h"
#include "pyoffsets.h"
#include "pyproc.h"
#include "unit.h"

#include <stdint.h>

/* 3.8/3.9 co_lnotab: (bytecode bytes, line delta) pairs; offsets in bytes. */
UNIT_TEST(pysym_line_lnotab)
{
	static const uint8_t t[] = {0, 1, 6, 1, 8, 2};

	CHECK_EQ_INT(pysym_line(8, t, sizeof(t), 10, 0), 11);
	CHECK_EQ_INT(pysym_line(8, t, sizeof(t), 10, 5), 11);
	CHECK_EQ_INT(pysym_line(9, t, sizeof(t), 10, 6), 12);
	CHECK_EQ_INT(pysym_line(9, t, sizeof(t), 10, 13), 12);
	CHECK_EQ_INT(pysym_line(8, t, sizeof(t), 10, 14), 14);
	/* A table cut short (odd length, empty) gives what it has. */
	CHECK_EQ_INT(pysym_line(8, t, 3, 10, 14), 11);
	CHECK_EQ_INT(pysym_line(8, t, 0, 10, 14), 10);
}

/* 3.10 co_linetable: (bytes covered, line delta or -128 for none); offsets in code units. */
UNIT_TEST(pysym_line_310)
{
	static const uint8_t t[] = {6, 1, 4, 0x80, 8, 2};

	CHECK_EQ_INT(pysym_line(10, t, sizeof(t), 10, 0), 11);
	CHECK_EQ_INT(pysym_line(10, t, sizeof(t), 10, 2), 11);
	CHECK_EQ_INT(pysym_line(10, t, sizeof(t), 10, 3), 11); /* a range without a line */
	CHECK_EQ_INT(pysym_line(10, t, sizeof(t), 10, 5), 13);
	CHECK_EQ_INT(pysym_line(10, t, sizeof(t), 10, 500), 13);
}

/* 3.11+ location table: header 0x80 | code << 3 | (units - 1), then the code's data. */
UNIT_TEST(pysym_line_311)
{
	static const uint8_t t[] = {
	    0xe9, 0x02,		    /* code 13 (no columns), 2 units, line +1 */
	    0xd8, 0x01, 0x02,	    /* code 11 (one line), 1 unit, line +1, columns */
	    0xf2, 0x06, 0,    1, 2, /* code 14 (long), 3 units, line +3, end line, columns */
	    0xf8,		    /* code 15 (no location), 1 unit */
	    0x80, 0x00,		    /* code 0 (short), 1 unit, same line */
	    0xe8, 0x05,		    /* code 13, 1 unit, line -2 */
	};
	static const uint8_t bad[] = {0x12, 0x34}; /* no header bit */
	static const uint8_t cut[] = {0xe9, 0x42}; /* varint continued past the end */

	CHECK_EQ_INT(pysym_line(11, t, sizeof(t), 10, 0), 11);
	CHECK_EQ_INT(pysym_line(11, t, sizeof(t), 10, 1), 11);
	CHECK_EQ_INT(pysym_line(12, t, sizeof(t), 10, 2), 12);
	CHECK_EQ_INT(pysym_line(12, t, sizeof(t), 10, 3), 15);
	CHECK_EQ_INT(pysym_line(13, t, sizeof(t), 10, 5), 15);
	CHECK_EQ_INT(pysym_line(13, t, sizeof(t), 10, 6), 15);
	CHECK_EQ_INT(pysym_line(13, t, sizeof(t), 10, 7), 15);
	CHECK_EQ_INT(pysym_line(11, t, sizeof(t), 10, 8), 13);
	CHECK_EQ_INT(pysym_line(11, t, sizeof(t), 10, 100), 13);
	/* Garbage gives the first line; a cut varint keeps what it read (ASan
	 * checks nothing past len is read). */
	CHECK_EQ_INT(pysym_line(11, bad, sizeof(bad), 10, 3), 10);
	CHECK_EQ_INT(pysym_line(11, cut, sizeof(cut), 10, 9), 11);
}

UNIT_TEST(pyoffsets_versions)
{
	for (unsigned minor = 8; minor <= 13; minor++) {
		const struct profile_py_offsets *o = pyoffsets_find(3, minor);

		CHECK(o != NULL);
		if (o)
			CHECK_EQ_INT(o->version, 3 << 8 | minor);
	}
	CHECK(pyoffsets_find(3, 7) == NULL);
	CHECK(pyoffsets_find(3, 14) == NULL);
	CHECK(pyoffsets_find(2, 7) == NULL);
}

UNIT_TEST(py_frame_encoding)
{
	uint64_t code = 0x7f1234567880ULL, f = profile_py_frame(code, 300);

	CHECK(profile_frame_is_python(f));
	CHECK(f >= 1ULL << 57); /* never taken for a user address by the symbolizer */
	CHECK_EQ_INT(profile_py_frame_code(f), code);
	CHECK_EQ_INT(profile_py_frame_lasti(f), 300);
	/* Offsets past the field are capped, never spill into the code address. */
	f = profile_py_frame(code, 1ULL << 40);
	CHECK_EQ_INT(profile_py_frame_lasti(f), PROFILE_PY_LASTI_MAX);
	CHECK_EQ_INT(profile_py_frame_code(f), code);
	CHECK(!profile_frame_is_python(PROFILE_FRAME_MARKER | PROFILE_FRAME_PYTHON | 3));
	CHECK(!profile_frame_is_python(0x401000));
}
