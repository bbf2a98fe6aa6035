/* SPDX-License-Identifier: Apache-2.0 */
/* sha256.h -- SHA-256 (FIPS 180-4) for S3 payload hashes.
 *
 * A low-level primitive (libc only). It exists because S3 SigV4 signs the
 * request body's SHA-256 (x-amz-content-sha256) and none of podprof's
 * libraries exposes a digest API: libcurl hashes internally but only for
 * bodies it can see, and OpenSSL is not a direct dependency.
 *
 * Functions cannot fail; no allocation.
 */
#ifndef PODPROF_SHA256_H
#define PODPROF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN	  65 /* 64 hex digits + NUL */

struct sha256_ctx {
	uint32_t h[8];	 /* chaining state */
	uint64_t total;	 /* bytes hashed so far */
	uint8_t buf[64]; /* partial block */
	size_t buf_len;	 /* bytes used in buf */
};

/* Start a new digest. */
void sha256_init(struct sha256_ctx *c);

/* Hash `len` more bytes. */
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);

/* Finish into out[32]; the context must be re-initialised before reuse. */
void sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_DIGEST_LEN]);

/* One-shot digest of a buffer as 64 lowercase hex digits + NUL. */
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN]);

#endif
