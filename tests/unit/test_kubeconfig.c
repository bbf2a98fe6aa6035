/* SPDX-License-Identifier: Apache-2.0 */
/* test_kubeconfig.c -- kubeconfig/in-cluster loading and YAML reading. */
#include "kubeconfig.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A kubectl-written kubeconfig with a token user yields server, CA path and token. */
UNIT_TEST(kubeconfig_token_yaml)
{
	size_t len = 0;
	char *buf = unit_read_k8s("kubeconfig-token.yaml", &len), err[256] = "";
	struct k8s_config *cfg = NULL;

	CHECK(buf != NULL);
	if (!buf)
		return;
	CHECK_EQ_INT(kubeconfig_parse(buf, len, "/etc/kube", NULL, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->server, "https://127.0.0.1:6443");
		CHECK_EQ_STR(cfg->ca_file, "/etc/kube/pki/ca.crt");
		CHECK_EQ_STR(cfg->token, "abc.defA");
		CHECK_EQ_STR(cfg->namespace, "team-a");
		CHECK_EQ_STR(cfg->context, "dev-alice");
		CHECK(!cfg->insecure);
		CHECK(cfg->cert_data == NULL && cfg->key_file == NULL);
	}
	k8s_config_free(cfg);
	cfg = NULL;
	/* An explicit context overrides current-context. */
	CHECK_EQ_INT(kubeconfig_parse(buf, len, NULL, "other-bob", &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->server, "https://10.0.0.1:443");
		CHECK(cfg->insecure);
		CHECK(cfg->token == NULL);
		CHECK_EQ_STR(cfg->token_file, "/var/run/bob-token");
		CHECK_EQ_STR(cfg->namespace, "default");
	}
	k8s_config_free(cfg);
	cfg = NULL;
	CHECK_EQ_INT(kubeconfig_parse(buf, len, NULL, "nope", &cfg, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "\"nope\"") != NULL);
	CHECK(cfg == NULL);
	free(buf);
}

/* Client certificate, key and CA given inline (base64 *-data) are decoded to PEM. */
UNIT_TEST(kubeconfig_cert_data)
{
	size_t len = 0;
	char *buf = unit_read_k8s("kubeconfig-certdata.yaml", &len), err[256] = "";
	struct k8s_config *cfg = NULL;

	CHECK(buf != NULL);
	if (!buf)
		return;
	CHECK_EQ_INT(kubeconfig_parse(buf, len, NULL, NULL, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->server, "https://[::1]:39211");
		CHECK_EQ_STR(cfg->ca_data,
			     "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n");
		CHECK_EQ_INT(cfg->ca_data_len, strlen(cfg->ca_data));
		CHECK(strstr(cfg->cert_data, "CLIENTCERT") != NULL);
		CHECK(strstr(cfg->key_data, "CLIENTKEY") != NULL);
		CHECK(cfg->token == NULL && cfg->ca_file == NULL);
	}
	k8s_config_free(cfg);
	free(buf);
}

/* A kubeconfig without current-context fails with a message naming the fix. */
UNIT_TEST(kubeconfig_missing_current_context)
{
	size_t len = 0;
	char *buf = unit_read_k8s("kubeconfig-nocontext.yaml", &len), err[256] = "";
	struct k8s_config *cfg = NULL;

	CHECK(buf != NULL);
	if (!buf)
		return;
	CHECK_EQ_INT(kubeconfig_parse(buf, len, NULL, NULL, &cfg, err, sizeof(err)), -ENOENT);
	CHECK(cfg == NULL);
	CHECK(strstr(err, "current-context") != NULL);
	free(buf);
}

/* JSON kubeconfigs (as the e2e stack writes) load like YAML ones. */
UNIT_TEST(kubeconfig_json)
{
	char path[512], err[256] = "";
	struct k8s_config *cfg = NULL;

	snprintf(path, sizeof(path), "%s/k8s/kubeconfig.json", unit_data_dir());
	CHECK_EQ_INT(kubeconfig_load_file(path, NULL, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->server, "https://127.0.0.1:36427");
		CHECK_EQ_STR(cfg->token, "0123456789abcdef");
		CHECK_EQ_STR(cfg->ca_file, "/tmp/ca.crt");
	}
	k8s_config_free(cfg);
}

/* Exec plugins and half a client certificate are refused with a reason, not ignored. */
UNIT_TEST(kubeconfig_refuses_unsupported_users)
{
	static const char exec_cfg[] =
	    "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
	    "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
	    "current-context: x\n"
	    "users:\n- name: u\n  user:\n    exec:\n      command: aws\n";
	static const char half_cert[] =
	    "clusters:\n- name: c\n  cluster:\n    server: https://h\n"
	    "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
	    "current-context: x\n"
	    "users:\n- name: u\n  user:\n    client-certificate: /a.crt\n";
	static const char no_server[] = "clusters:\n- name: c\n  cluster:\n    server: ftp://h\n"
					"contexts:\n- name: x\n  context:\n    cluster: c\n"
					"current-context: x\n";
	struct k8s_config *cfg = NULL;
	char err[256] = "";

	CHECK_EQ_INT(
	    kubeconfig_parse(exec_cfg, sizeof(exec_cfg) - 1, NULL, NULL, &cfg, err, sizeof(err)),
	    -ENOTSUP);
	CHECK(strstr(err, "exec") != NULL);
	CHECK_EQ_INT(
	    kubeconfig_parse(half_cert, sizeof(half_cert) - 1, NULL, NULL, &cfg, err, sizeof(err)),
	    -EINVAL);
	CHECK_EQ_INT(
	    kubeconfig_parse(no_server, sizeof(no_server) - 1, NULL, NULL, &cfg, err, sizeof(err)),
	    -EINVAL);
	CHECK(cfg == NULL);
}

static json_object *yparse(const char *s, int *rc)
{
	json_object *o = NULL;
	char err[256];

	*rc = kubeconfig_yaml_parse(s, strlen(s), &o, err, sizeof(err));
	return o;
}

/* Block YAML: nesting, sequences at the key's indent, quoting, scalars, comments, "...". */
UNIT_TEST(kubeconfig_yaml_subset)
{
	int rc;
	json_object *o = yparse("---\n"
				"a:\n"
				"  b: 'it''s'   # comment\n"
				"  c: \"x\\ty\\u00e9\"\n"
				"  empty:\n"
				"  t: true\n"
				"  n: ~\n"
				"list:\n"
				"- one\n"
				"- k: v\n"
				"  k2: v2\n"
				"- - nested\n"
				"-\n"
				"  deep: 1\n"
				"url: http://h:1/p#frag\n"
				"\"quoted key\": q\n"
				"obj: {}\n"
				"...\n"
				"ignored: after end\n",
				&rc);

	CHECK_EQ_INT(rc, 0);
	if (!o)
		return;
	CHECK_EQ_STR(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE),
		     "{\"a\":{\"b\":\"it's\",\"c\":\"x\\ty\xc3\xa9\",\"empty\":null,\"t\":true,"
		     "\"n\":null},\"list\":[\"one\",{\"k\":\"v\",\"k2\":\"v2\"},[\"nested\"],"
		     "{\"deep\":\"1\"}],\"url\":\"http://h:1/p#frag\",\"quoted key\":\"q\","
		     "\"obj\":{}}");
	json_object_put(o);
}

/* Invalid or unsupported YAML is refused with a line number instead of being misread. */
UNIT_TEST(kubeconfig_yaml_refuses_unsupported)
{
	static const char *const bad[] = {
	    "a:\n\tb: 1\n",	       /* tab indent */
	    "a: x\n  b: y\n",	       /* bad indentation */
	    "a: x\n---\nb: y\n",       /* second document */
	    "a: \"bad \\q escape\"\n", /* unknown escape */
	    "- a\nb: c\n",	       /* sequence then mapping at one level */
	    "a: *nowhere\n",	       /* alias to an unknown anchor */
	    "a: !custom x\n",	       /* application tag */
	    "? [k]\n: v\n",	       /* sequence as a key */
	    "a: !!bool yes\n",	       /* !!bool that kubectl would not read as one */
	    "a: \"nul \\0 inside\"\n", /* NUL would cut C strings */
	    "a: [1, 2\n",	       /* unclosed flow sequence */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *o = NULL;
		char err[256] = "";
		int rc = kubeconfig_yaml_parse(bad[i], strlen(bad[i]), &o, err, sizeof(err));

		CHECK_EQ_INT(rc, -EINVAL);
		CHECK(o == NULL);
		CHECK(strstr(err, "line ") != NULL);
		json_object_put(o);
	}
}

/* The same cluster, context and user written the ways kubectl also reads:
 * one flow mapping, block style with flow values, and JSON. */
UNIT_TEST(kubeconfig_flow_style)
{
	static const char *const docs[] = {
	    "{apiVersion: v1, kind: Config, current-context: c,\n"
	    " clusters: [{name: k, cluster: {server: 'https://h:6443',\n"
	    "   insecure-skip-tls-verify: true}}],\n"
	    " contexts: [{name: c, context: {cluster: k, user: u, namespace: ns}}],\n"
	    " users: [{name: u, user: {token: \"t0k\"}}]}\n",
	    "# flow values inside block style\n"
	    "clusters: [ {name: k, cluster: {server: \"https://h:6443\", "
	    "insecure-skip-tls-verify: true}} ]\n"
	    "contexts:\n- {name: c, context: {cluster: k, user: u, namespace: ns}}\n"
	    "current-context: c\n"
	    "users: [{name: u, user: {token: t0k}}]\n",
	    "{\"current-context\":\"c\",\"clusters\":[{\"name\":\"k\",\"cluster\":"
	    "{\"server\":\"https:\\/\\/h:6443\",\"insecure-skip-tls-verify\":true}}],"
	    "\"contexts\":[{\"name\":\"c\",\"context\":{\"cluster\":\"k\",\"user\":\"u\","
	    "\"namespace\":\"ns\"}}],\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"t0k\"}}]}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct k8s_config *cfg = NULL;
		char err[256] = "";

		CHECK_EQ_INT(
		    kubeconfig_parse(docs[i], strlen(docs[i]), NULL, NULL, &cfg, err, sizeof(err)),
		    0);
		if (!cfg)
			continue;
		CHECK_EQ_STR(cfg->server, "https://h:6443");
		CHECK(cfg->insecure);
		CHECK_EQ_STR(cfg->token, "t0k");
		CHECK_EQ_STR(cfg->namespace, "ns");
		k8s_config_free(cfg);
	}
}

/* Certificate data as literal (|) and folded (>) block scalars, base64
 * wrapped over several lines, decodes to the same PEM as on one line. */
UNIT_TEST(kubeconfig_block_scalar_cert_data)
{
	static const char doc[] = "apiVersion: v1\n"
				  "clusters:\n"
				  "- name: k\n"
				  "  cluster:\n"
				  "    server: https://h:1\n"
				  "    certificate-authority-data: |\n"
				  "      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClRFU1RD\n"
				  "      QQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==\n"
				  "contexts:\n"
				  "- name: c\n"
				  "  context: {cluster: k, user: u}\n"
				  "current-context: c\n"
				  "users:\n"
				  "- name: u\n"
				  "  user:\n"
				  "    client-certificate-data: >-\n"
				  "      LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNMSUVOVENF\n"
				  "      UlQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n"
				  "    client-key-data: |+\n"
				  "      "
				  "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCkNMSUVOVEtFWQotLS0tLUVORCBQ"
				  "UklWQVRFIEtFWS0tLS0tCg==\n"
				  "\n";
	struct k8s_config *cfg = NULL;
	char err[256] = "";

	CHECK_EQ_INT(kubeconfig_parse(doc, sizeof(doc) - 1, NULL, NULL, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->ca_data,
			     "-----BEGIN CERTIFICATE-----\nTESTCA\n-----END CERTIFICATE-----\n");
		CHECK_EQ_STR(
		    cfg->cert_data,
		    "-----BEGIN CERTIFICATE-----\nCLIENTCERT\n-----END CERTIFICATE-----\n");
		CHECK_EQ_STR(cfg->key_data,
			     "-----BEGIN PRIVATE KEY-----\nCLIENTKEY\n-----END PRIVATE KEY-----\n");
	}
	k8s_config_free(cfg);
}

/* Anchors, aliases and "<<" merge keys: a shared cluster and a user that
 * overrides one key of the mapping it merges. */
UNIT_TEST(kubeconfig_anchors_and_merge)
{
	static const char doc[] = "clusters:\n"
				  "- name: a\n"
				  "  cluster: &shared\n"
				  "    server: https://shared:6443\n"
				  "    insecure-skip-tls-verify: true\n"
				  "- name: b\n"
				  "  cluster: *shared\n"
				  "contexts:\n"
				  "- name: c\n"
				  "  context: {cluster: b, user: &who u2, namespace: ns}\n"
				  "current-context: c\n"
				  "users:\n"
				  "- name: u1\n"
				  "  user: &base\n"
				  "    token: first\n"
				  "    x-note: kept\n"
				  "- name: *who\n"
				  "  user:\n"
				  "    <<: *base\n"
				  "    token: second\n";
	struct k8s_config *cfg = NULL;
	json_object *tree = NULL, *v = NULL;
	char err[256] = "";

	CHECK_EQ_INT(kubeconfig_parse(doc, sizeof(doc) - 1, NULL, NULL, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->server, "https://shared:6443");
		CHECK(cfg->insecure);
		CHECK_EQ_STR(cfg->token, "second");
	}
	k8s_config_free(cfg);
	/* The merged mapping kept the key it did not override. */
	CHECK_EQ_INT(kubeconfig_yaml_parse(doc, sizeof(doc) - 1, &tree, err, sizeof(err)), 0);
	v = json_object_array_get_idx(json_object_object_get(tree, "users"), 1);
	v = json_object_object_get(json_object_object_get(v, "user"), "x-note");
	CHECK_EQ_STR(json_object_get_string(v), "kept");
	json_object_put(tree);
}

/* "Billion laughs": nine levels of ten aliases each would expand to 10^9
 * nodes; it is refused while being read, without expanding anything. */
UNIT_TEST(kubeconfig_alias_bomb_refused)
{
	char doc[2048], err[256] = "";
	json_object *tree = NULL;
	size_t n = 0;

	n += (size_t)snprintf(doc + n, sizeof(doc) - n, "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 9; i++) {
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "l%d: &l%d [", i, i);
		for (int j = 0; j < 10; j++)
			n += (size_t)snprintf(doc + n, sizeof(doc) - n, "%s*l%d", j ? ", " : "",
					      i - 1);
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "]\n");
	}
	CHECK(n < sizeof(doc));
	CHECK_EQ_INT(kubeconfig_yaml_parse(doc, n, &tree, err, sizeof(err)), -EINVAL);
	CHECK(tree == NULL);
	CHECK(strstr(err, "alias") != NULL);
	/* Four levels (10^4 nodes) are an ordinary document. */
	n = (size_t)(strstr(doc, "l4:") - doc);
	CHECK_EQ_INT(kubeconfig_yaml_parse(doc, n, &tree, err, sizeof(err)), 0);
	CHECK_EQ_INT(json_object_array_length(json_object_object_get(tree, "l3")), 10);
	json_object_put(tree);
}

/* Every truncation of a real kubeconfig parses or fails cleanly (no crash, no leak). */
UNIT_TEST(kubeconfig_truncations_never_crash)
{
	size_t len = 0;
	char *buf = unit_read_k8s("kubeconfig-token.yaml", &len);

	CHECK(buf != NULL);
	for (size_t n = 0; buf && n <= len; n++) {
		char *copy = malloc(n ? n : 1);
		struct k8s_config *cfg = NULL;
		int rc;

		memcpy(copy, buf, n);
		rc = kubeconfig_parse(copy, n, NULL, NULL, &cfg, NULL, 0);
		CHECK(rc <= 0);
		CHECK((rc == 0) == (cfg != NULL));
		k8s_config_free(cfg);
		free(copy);
	}
	free(buf);
}

/* base64 decoding accepts wrapped/unpadded input and rejects foreign characters. */
UNIT_TEST(kubeconfig_base64)
{
	char *out = NULL;
	size_t n = 0;

	CHECK_EQ_INT(kubeconfig_base64_decode("aGVs\nbG8", 8, &out, &n), 0);
	CHECK_EQ_STR(out, "hello");
	CHECK_EQ_INT(n, 5);
	free(out);
	CHECK_EQ_INT(kubeconfig_base64_decode("aGVsbG8=", 8, &out, &n), 0);
	CHECK_EQ_STR(out, "hello");
	free(out);
	CHECK_EQ_INT(kubeconfig_base64_decode("aGV$bG8=", 8, &out, &n), -EINVAL);
	CHECK_EQ_INT(kubeconfig_base64_decode("aG=Vs", 5, &out, &n), -EINVAL);
}

/* In a pod, the service-account files and KUBERNETES_SERVICE_* make the config. */
UNIT_TEST(kubeconfig_in_cluster)
{
	char dir[] = "/tmp/podprof-sa-XXXXXX", path[600], err[256] = "";
	struct k8s_config *cfg = NULL;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK_EQ_INT(kubeconfig_in_cluster(dir, &cfg, err, sizeof(err)), -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	/* No token file yet: not usable. */
	CHECK(kubeconfig_in_cluster(dir, &cfg, err, sizeof(err)) < 0);
	snprintf(path, sizeof(path), "%s/token", dir);
	f = fopen(path, "w");
	fputs("tok\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/namespace", dir);
	f = fopen(path, "w");
	fputs("podprof\n", f);
	fclose(f);
	CHECK_EQ_INT(kubeconfig_in_cluster(dir, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		snprintf(path, sizeof(path), "%s/token", dir);
		CHECK_EQ_STR(cfg->server, "https://[fd00::1]:443");
		CHECK_EQ_STR(cfg->token_file, path);
		CHECK(cfg->token == NULL);
		CHECK(cfg->ca_file == NULL); /* no ca.crt in this folder */
		CHECK_EQ_STR(cfg->namespace, "podprof");
	}
	k8s_config_free(cfg);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	snprintf(path, sizeof(path), "%s/token", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/namespace", dir);
	unlink(path);
	rmdir(dir);
}

/* Issue 17: a UTF-8 BOM, CR-only line ends, and a quoted "true" (a string,
 * refused by kubectl) for insecure-skip-tls-verify. */
UNIT_TEST(kubeconfig_bom_cr_and_string_bool)
{
	static const char body[] =
	    "apiVersion: v1\rkind: Config\rcurrent-context: c\rclusters:\r- name: k\r"
	    "  cluster:\r    server: https://10.1.2.3:6443\r    insecure-skip-tls-verify: %s\r"
	    "contexts:\r- name: c\r  context:\r    cluster: k\r    user: u\r"
	    "users:\r- name: u\r  user:\r    token: t0k\r";
	struct k8s_config *cfg = NULL;
	char buf[1024], err[256] = "";
	int n;

	/* BOM + CR-only + a real boolean. */
	n = snprintf(buf, sizeof(buf), "\xef\xbb\xbf");
	n += snprintf(buf + n, sizeof(buf) - (size_t)n, body, "true");
	CHECK_EQ_INT(kubeconfig_parse(buf, (size_t)n, NULL, NULL, &cfg, err, sizeof(err)), 0);
	if (cfg) {
		CHECK_EQ_STR(cfg->server, "https://10.1.2.3:6443");
		CHECK_EQ_STR(cfg->token, "t0k");
		CHECK(cfg->insecure);
	}
	k8s_config_free(cfg);
	cfg = NULL;
	/* The same with "true" quoted: refused, verification never silently off. */
	n = snprintf(buf, sizeof(buf), body, "\"true\"");
	CHECK_EQ_INT(kubeconfig_parse(buf, (size_t)n, NULL, NULL, &cfg, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "insecure-skip-tls-verify") != NULL);
	CHECK(cfg == NULL);
	/* CRLF still works, and false stays false. */
	n = snprintf(buf, sizeof(buf),
		     "apiVersion: v1\r\nkind: Config\r\ncurrent-context: c\r\n"
		     "clusters:\r\n- name: k\r\n  cluster:\r\n"
		     "    server: https://h:1\r\n    insecure-skip-tls-verify: false\r\n"
		     "contexts:\r\n- name: c\r\n  context:\r\n    cluster: k\r\n"
		     "    user: u\r\nusers:\r\n- name: u\r\n  user:\r\n    token: x\r\n");
	CHECK_EQ_INT(kubeconfig_parse(buf, (size_t)n, NULL, NULL, &cfg, err, sizeof(err)), 0);
	if (cfg)
		CHECK(!cfg->insecure);
	k8s_config_free(cfg);
}
