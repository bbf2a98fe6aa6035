/* SPDX-License-Identifier: Apache-2.0 */
/* view.c -- kubectl podprof top, fetch and diff: read stored profiles. */
#include "cli.h"

#include "flamegraph.h"
#include "readfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_top(struct cli_opts *o)
{
	struct k8s_client *c = NULL;
	void *data = NULL;
	size_t len = 0;
	int err;

	err = cli_connect(o, &c);
	if (!err)
		err = cli_fetch_profile(c, o, o->names[0], NULL, &data, &len);
	if (!err)
		err = cli_print_top(data, len, o->lines);
	free(data);
	k8s_client_free(c);
	return err ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_fetch(struct cli_opts *o)
{
	struct k8s_client *c = NULL;
	int err;

	err = cli_connect(o, &c);
	if (!err)
		err = cli_fetch_profile(c, o, o->names[0], o->output ? o->output : ".", NULL, NULL);
	k8s_client_free(c);
	return err ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* A local file (capped), read whole; -ENOENT when there is none (a
 * directory counts as none: then the operand names a target). */
static int read_local(const char *path, void **out, size_t *len)
{
	int err = read_file_capped(path, CLI_MAX_PROFILE, out, len);

	return err == -EISDIR ? -ENOENT : err;
}

/* A diff operand: a local file when one exists at that path, else a target. */
static int load_operand(struct cli_opts *o, struct k8s_client **c, const char *arg, void **out,
			size_t *len)
{
	int err = read_local(arg, out, len);

	if (err != -ENOENT) {
		if (err)
			fprintf(stderr, "error: cannot read %s: %s\n", arg, strerror(-err));
		return err;
	}
	if (!*c) {
		err = cli_connect(o, c);
		if (err)
			return err;
	}
	return cli_fetch_profile(*c, o, arg, NULL, out, len);
}

int cmd_diff(struct cli_opts *o)
{
	struct k8s_client *c = NULL;
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0, svg_len = 0;
	char *svg = NULL, title[600];
	int err;

	err = load_operand(o, &c, o->names[0], &a, &alen);
	if (!err)
		err = load_operand(o, &c, o->names[1], &b, &blen);
	if (err)
		goto cleanup;
	snprintf(title, sizeof(title), "%s -> %s", o->names[0], o->names[1]);
	err = flamegraph_diff_svg(a, alen, b, blen, title, &svg, &svg_len);
	if (err) {
		fprintf(stderr, "error: cannot render the diff: %s\n", strerror(-err));
		goto cleanup;
	}
	err = cli_write_file(NULL, o->output, svg, svg_len, o->quiet);
cleanup:
	free(svg);
	free(a);
	free(b);
	k8s_client_free(c);
	return err ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
