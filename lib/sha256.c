/* SPDX-License-Identifier: Apache-2.0 */
/* sha256.c -- SHA-256 through OpenSSL's EVP digest API. */
#include "sha256.h"

#include <errno.h>
#include <openssl/evp.h>

int sha256_digest(const void *data, size_t len, uint8_t out[SHA256_DIGEST_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;
	int err = -EIO;

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, data, len) &&
	    EVP_DigestFinal_ex(ctx, out, &n) && n == SHA256_DIGEST_LEN)
		err = 0;
	EVP_MD_CTX_free(ctx);
	return err;
}

int sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t d[SHA256_DIGEST_LEN];
	int err = sha256_digest(data, len, d);

	if (err)
		return err;
	for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * SHA256_DIGEST_LEN] = '\0';
	return 0;
}
