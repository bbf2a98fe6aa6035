/* SPDX-License-Identifier: Apache-2.0 */
/* test_cli_args.c -- kubectl-podprof flags and label selectors parse as kubectl's do. */
#include "unit.h"

#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse a NULL-terminated word list (argv[0] added) silently. */
static int parse(struct cli_opts *o, const char *const *words)
{
	char *argv[32];
	int argc = 0, rc;
	FILE *saved = stderr;

	argv[argc++] = "kubectl-podprof";
	for (; *words && argc < 31; words++)
		argv[argc++] = (char *)*words;
	argv[argc] = NULL;
	stderr = fopen("/dev/null", "w");
	rc = cli_parse_args(argc, argv, o);
	fclose(stderr);
	stderr = saved;
	return rc;
}

static char *sel(const char *s)
{
	json_object *o = NULL;
	char *out;

	if (cli_selector_json(s, &o, NULL))
		return NULL;
	out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return out;
}

UNIT_TEST(cli_args_run_defaults_and_flags)
{
	struct cli_opts o;

	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-n", "shop", "-l", "app=x", NULL}), 0);
	CHECK_EQ_STR(o.command, "run");
	CHECK_EQ_STR(o.ns, "shop");
	CHECK_EQ_INT(o.duration_ms, 30000);
	CHECK_EQ_INT(o.frequency, 99);
	CHECK(!o.kernel_stacks && !o.output);
	CHECK_EQ_STR(o.op_service, "podprof-hub");
	/* Flags after the command and in --flag=value form, like kubectl. */
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "--selector=app=x", "--duration", "1m30s",
						"--frequency=199", "--kernel-stacks", "-o", "out",
						"--context", "kind", "--kubeconfig", "/k", NULL}),
		     0);
	CHECK_EQ_INT(o.duration_ms, 90000);
	CHECK_EQ_INT(o.frequency, 199);
	CHECK(o.kernel_stacks);
	CHECK_EQ_STR(o.output, "out");
	CHECK_EQ_STR(o.context, "kind");
	CHECK_EQ_STR(o.kubeconfig, "/k");
}

UNIT_TEST(cli_args_refuse_bad_usage)
{
	struct cli_opts o;

	CHECK_EQ_INT(parse(&o, (const char *[]){NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"profile", NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", NULL}), -EINVAL); /* no -l */
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "--duration", "500ms", NULL}),
		     -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "--duration", "2h", NULL}),
		     -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "--frequency", "0", NULL}),
		     -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "--bogus", NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "-n", NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "extra", NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"top", NULL}), -EINVAL); /* needs NAME */
	CHECK_EQ_INT(parse(&o, (const char *[]){"top", "a", "--duration", "3s", NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"fetch", "a", "--window", "../x", NULL}), -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"diff", "a", "b", NULL}), -EINVAL); /* needs -o */
	CHECK_EQ_INT(parse(&o, (const char *[]){"diff", "a", NULL}), -EINVAL);
	CHECK_EQ_INT(
	    parse(&o, (const char *[]){"run", "-l", "app=x", "--operator-scheme", "ftp", NULL}),
	    -EINVAL);
	/* --help needs nothing else. */
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "--help", NULL}), 0);
	CHECK(o.help);
}

UNIT_TEST(cli_args_names_and_outputs)
{
	struct cli_opts o;

	CHECK_EQ_INT(parse(&o, (const char *[]){"top", "t1", "--lines", "25", NULL}), 0);
	CHECK_EQ_STR(o.names[0], "t1");
	CHECK_EQ_INT(o.lines, 25);
	CHECK_EQ_INT(parse(&o, (const char *[]){"diff", "a.pb.gz", "b", "-o", "d.svg", NULL}), 0);
	CHECK_EQ_INT(o.n_names, 2);
	CHECK_EQ_STR(o.names[1], "b");
	CHECK_EQ_STR(o.output, "d.svg");
	CHECK_EQ_INT(
	    parse(&o, (const char *[]){"fetch", "t", "--window", "20261127T101500Z", NULL}), 0);
	CHECK_EQ_STR(o.window, "20261127T101500Z");
}

UNIT_TEST(cli_selector_kubectl_syntax)
{
	char *s;

	s = sel("app=checkout");
	CHECK_EQ_STR(s, "{\"matchLabels\":{\"app\":\"checkout\"}}");
	free(s);
	s = sel(" app == x , env!=dev,tier in (a, b),example.com/canary notin(c),has,!gone");
	CHECK_EQ_STR(s,
		     "{\"matchLabels\":{\"app\":\"x\"},\"matchExpressions\":["
		     "{\"key\":\"env\",\"operator\":\"NotIn\",\"values\":[\"dev\"]},"
		     "{\"key\":\"tier\",\"operator\":\"In\",\"values\":[\"a\",\"b\"]},"
		     "{\"key\":\"example.com\\/canary\",\"operator\":\"NotIn\",\"values\":[\"c\"]},"
		     "{\"key\":\"has\",\"operator\":\"Exists\"},"
		     "{\"key\":\"gone\",\"operator\":\"DoesNotExist\"}]}");
	free(s);
	/* An empty value is a valid label value. */
	s = sel("app=");
	CHECK_EQ_STR(s, "{\"matchLabels\":{\"app\":\"\"}}");
	free(s);
	CHECK(sel("") == NULL); /* would select every pod */
	CHECK(sel("   ") == NULL);
	CHECK(sel("app=x,") == NULL);
	CHECK(sel("app in a,b") == NULL);
	CHECK(sel("app in (a,") == NULL);
	CHECK(sel("app=x y") == NULL);
	CHECK(sel("app>3") == NULL);
	CHECK(sel(",") == NULL);
}

UNIT_TEST(cli_duration_format_is_crd_valid)
{
	char b[32];

	cli_format_duration(30000, b, sizeof(b));
	CHECK_EQ_STR(b, "30s");
	cli_format_duration(120000, b, sizeof(b));
	CHECK_EQ_STR(b, "2m");
	cli_format_duration(1500, b, sizeof(b));
	CHECK_EQ_STR(b, "1500ms");
}

/* The relative object key comes from the status URL, whatever the store. */
UNIT_TEST(cli_profile_rel_from_status_url)
{
	json_object *t = json_tokener_parse(
	    "{\"metadata\":{\"name\":\"t\"},\"status\":{\"profile\":{\"url\":"
	    "\"http://minio:9000/bucket/pre/fix/ns/t/0a1b-2c/20261127T101500Z.pb.gz\"}}}");
	char rel[256];

	CHECK_EQ_INT(cli_profile_rel(t, NULL, "pb.gz", rel, sizeof(rel)), 0);
	CHECK_EQ_STR(rel, "ns/t/0a1b-2c/20261127T101500Z.pb.gz");
	CHECK_EQ_INT(cli_profile_rel(t, NULL, "svg", rel, sizeof(rel)), 0);
	CHECK_EQ_STR(rel, "ns/t/0a1b-2c/20261127T101500Z.svg");
	CHECK_EQ_INT(cli_profile_rel(t, "20261127T111500Z", "pb.gz", rel, sizeof(rel)), 0);
	CHECK_EQ_STR(rel, "ns/t/0a1b-2c/20261127T111500Z.pb.gz");
	json_object_put(t);
	t = json_tokener_parse("{\"metadata\":{\"name\":\"t\"},\"status\":{}}");
	{
		FILE *saved = stderr;

		stderr = fopen("/dev/null", "w");
		CHECK_EQ_INT(cli_profile_rel(t, NULL, "pb.gz", rel, sizeof(rel)), -ENOENT);
		fclose(stderr);
		stderr = saved;
	}
	json_object_put(t);
}

/* run --offcpu [--min-block D]: the kind and threshold, checked like the CRD;
 * other commands refuse them. */
UNIT_TEST(cli_args_offcpu)
{
	struct cli_opts o;

	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", NULL}), 0);
	CHECK(!o.offcpu && !o.min_block);
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "--offcpu", "--min-block",
						"250us", NULL}),
		     0);
	CHECK(o.offcpu);
	CHECK_EQ_STR(o.min_block, "250us");
	CHECK_EQ_INT(parse(&o, (const char *[]){"run", "-l", "app=x", "--offcpu", "--min-block",
						"11s", NULL}),
		     -EINVAL);
	CHECK_EQ_INT(parse(&o, (const char *[]){"top", "t", "--offcpu", NULL}), -EINVAL);
}
