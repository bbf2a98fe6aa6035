/* SPDX-License-Identifier: Apache-2.0 */
/* hub_auth.c -- local-mode worker authentication: a shared secret file.
 *
 * Cluster mode uses TokenReview through the Kubernetes client instead; both
 * plug into the hub as a hub_auth_fn.
 */
#include "hub.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD	       "hub"
#define TOKEN_FILE_MAX 4096

struct hub_token_file {
	size_t len;
	char tok[TOKEN_FILE_MAX + 1];
};

int hub_token_file_load(const char *path, struct hub_token_file **out)
{
	struct hub_token_file *tf = NULL;
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = -1, err;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error(MOD, "token file %s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn(MOD, "token file %s is world-readable", path);
	tf = calloc(1, sizeof(*tf));
	if (!tf) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* Read one byte more than the cap to tell "exactly full" from "too big". */
	n = read(fd, tf->tok, TOKEN_FILE_MAX + 1);
	if (n < 0) {
		err = -errno;
		goto cleanup;
	}
	if (n > TOKEN_FILE_MAX) {
		log_error(MOD, "token file %s is over %d bytes", path, TOKEN_FILE_MAX);
		err = -EFBIG;
		goto cleanup;
	}
	tf->tok[n] = '\0';
	len = strcspn(tf->tok, "\r\n");
	while (len && (tf->tok[len - 1] == ' ' || tf->tok[len - 1] == '\t'))
		len--;
	explicit_bzero(tf->tok + len, sizeof(tf->tok) - len);
	if (!len) {
		log_error(MOD, "token file %s is empty", path);
		err = -EINVAL;
		goto cleanup;
	}
	tf->len = len;
	*out = tf;
	tf = NULL;
	err = 0;
cleanup:
	if (fd >= 0)
		close(fd);
	hub_token_file_free(tf);
	return err;
}

void hub_token_file_free(struct hub_token_file *tf)
{
	if (!tf)
		return;
	explicit_bzero(tf, sizeof(*tf));
	free(tf);
}

int hub_token_file_auth(void *ctx, const char *token, char *identity, size_t idlen)
{
	const struct hub_token_file *tf = ctx;
	size_t tlen = token ? strnlen(token, TOKEN_FILE_MAX + 1) : 0;
	unsigned char diff;

	if (!tf || !token)
		return -EACCES;
	/* Time depends on the secret's length only, never on where they differ. */
	diff = (unsigned char)(tlen != tf->len);
	for (size_t i = 0; i < tf->len; i++)
		diff |= (unsigned char)(tf->tok[i] ^ (i < tlen ? token[i] : 0));
	if (diff)
		return -EACCES;
	if (idlen)
		snprintf(identity, idlen, "token-file");
	return 0;
}
