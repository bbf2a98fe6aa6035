/* SPDX-License-Identifier: Apache-2.0 */
/* sha256.h -- SHA-256 digests (S3 payload hashes, token cache keys).
 *
 * A low-level primitive: the one module that calls OpenSSL's libcrypto (EVP),
 * already loaded through libcurl and libwebsockets. It exists because S3
 * SigV4 signs the request body's SHA-256 (x-amz-content-sha256), which
 * libcurl does not compute for us, and the hub keys its TokenReview cache by
 * a token's digest so the cache never holds tokens.
 *
 * Return convention: 0 on success, negative errno on failure (-ENOMEM when
 * libcrypto cannot allocate, -EIO when it refuses the digest, e.g. a
 * crypto policy without SHA-256). No output is written on failure.
 */
#ifndef PODPROF_SHA256_H
#define PODPROF_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN	  65 /* 64 hex digits + NUL */

/* Digest of data[0..len) into out[32]. */
int sha256_digest(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN]);

/* The same as 64 lowercase hex digits + NUL. */
int sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN]);

#endif
