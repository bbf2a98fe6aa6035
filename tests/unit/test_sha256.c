/* SPDX-License-Identifier: Apache-2.0 */
/* test_sha256.c -- SHA-256 matches the FIPS 180-2 example vectors (S3 payload hashes). */
#include "unit.h"

#include "sha256.h"

#include <stdlib.h>

UNIT_TEST(sha256_fips_vectors)
{
	char hex[SHA256_HEX_LEN];
	uint8_t d[SHA256_DIGEST_LEN];
	char *million = malloc(1000000);

	CHECK_EQ_INT(sha256_hex("abc", 3, hex), 0);
	CHECK_EQ_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_EQ_INT(sha256_hex("", 0, hex), 0);
	CHECK_EQ_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_EQ_INT(
	    sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex), 0);
	CHECK_EQ_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK(million != NULL);
	if (!million)
		return;
	memset(million, 'a', 1000000);
	CHECK_EQ_INT(sha256_hex(million, 1000000, hex), 0);
	CHECK_EQ_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* The raw digest is the same bytes the hex spells. */
	CHECK_EQ_INT(sha256_digest(million, 1000000, d), 0);
	CHECK_EQ_INT(d[0], 0xcd);
	CHECK_EQ_INT(d[1], 0xc7);
	CHECK_EQ_INT(d[31], 0xd0);
	free(million);
}
