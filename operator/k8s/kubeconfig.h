/* SPDX-License-Identifier: Apache-2.0 */
/* kubeconfig.h -- where the Kubernetes API is and how to authenticate to it.
 *
 * Two sources: the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT
 * plus /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace})
 * and a kubeconfig file (--kubeconfig, then $KUBECONFIG, then ~/.kube/config;
 * its current-context). The result is a plain struct k8s_config consumed by
 * k8s_client; this module does no network I/O and does not touch libcurl.
 *
 * kubeconfig files are YAML (or JSON, which is YAML too), read with libyaml
 * (kubeconfig_yaml.c, the only user of it): block and flow collections,
 * plain, quoted and block (| and >) scalars, anchors, aliases and "<<" merge
 * keys, comments, a UTF-8 BOM, LF/CRLF/CR line ends -- what kubectl reads.
 * Scalars mean what kubectl makes of them for kubeconfig fields: plain
 * true/false (any case style: true, True, TRUE) are booleans, plain null, ~
 * or nothing is null, everything else is a string (quoted "true" too, so a
 * field that needs a boolean refuses it). Refused with -EINVAL and a line
 * number: a second document (text after an explicit "..." is ignored, as
 * kubectl does), tags other than YAML's standard ones, mapping or sequence
 * keys, aliases to unknown anchors. Duplicate keys: last wins. Caps: 1 MiB
 * input (checked before parsing), 64 nesting levels, 2^20 nodes counted
 * with every alias expanded (so "billion laughs" documents are refused).
 *
 * Returns: 0 on success, negative errno on failure. Errors also fill a
 * caller-provided message buffer when one is given (never containing secrets).
 */
#ifndef PODPROF_KUBECONFIG_H
#define PODPROF_KUBECONFIG_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#define KUBECONFIG_MAX_BYTES (1u << 20)

/* Default in-cluster service-account directory. */
#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Connection settings for one API server. All strings are owned by the struct
 * and freed by k8s_config_free(). The *_data members hold decoded PEM bytes
 * (NUL-terminated for convenience, length excludes the NUL). */
struct k8s_config {
	char *server;	      /* base URL, "https://host:port", no trailing slash */
	char *ca_file;	      /* CA bundle path, or NULL */
	char *ca_data;	      /* CA bundle PEM bytes, or NULL */
	size_t ca_data_len;   /* bytes in ca_data */
	bool insecure;	      /* insecure-skip-tls-verify: no server cert check */
	char *token;	      /* static bearer token, or NULL */
	char *token_file;     /* bearer token file, re-read when it changes, or NULL */
	char *cert_file;      /* client certificate path, or NULL */
	char *cert_data;      /* client certificate PEM bytes, or NULL */
	size_t cert_data_len; /* bytes in cert_data */
	char *key_file;	      /* client key path, or NULL */
	char *key_data;	      /* client key PEM bytes, or NULL */
	size_t key_data_len;  /* bytes in key_data */
	char *namespace;      /* context/service-account namespace, or NULL */
	char *context;	      /* name of the context used, or NULL (in-cluster) */
};

/* ---- loading ----------------------------------------------------------- */

/* Parse kubeconfig text (YAML or JSON) of len bytes and resolve the
 * context named `context` (NULL: current-context). Relative file paths in the
 * file are resolved against base_dir (NULL: the working directory). On
 * success *out is a new config the caller frees with k8s_config_free(). On
 * failure *out is untouched and errbuf (if non-NULL) says why, e.g. a missing
 * current-context or an unknown cluster name. Pure: touches no files. */
int kubeconfig_parse(const char *buf, size_t len, const char *base_dir, const char *context,
		     struct k8s_config **out, char *errbuf, size_t errlen);

/* Read and parse the kubeconfig at path (capped at KUBECONFIG_MAX_BYTES).
 * Relative paths inside resolve against the file's directory. */
int kubeconfig_load_file(const char *path, const char *context, struct k8s_config **out,
			 char *errbuf, size_t errlen);

/* Pick the kubeconfig like kubectl: explicit path (may be NULL), else the
 * first entry of $KUBECONFIG (colon-separated lists: first existing file),
 * else ~/.kube/config. -ENOENT when none exists. */
int kubeconfig_load_default(const char *explicit_path, const char *context, struct k8s_config **out,
			    char *errbuf, size_t errlen);

/* The operator's rule: explicit_path if given; else the in-cluster service
 * account when KUBERNETES_SERVICE_HOST is set; else kubeconfig_load_default(). */
int kubeconfig_load_auto(const char *explicit_path, struct k8s_config **out, char *errbuf,
			 size_t errlen);

/* In-cluster config from KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT and
 * the service-account directory sa_dir (NULL: K8S_SA_DIR). The token is
 * referenced by path (token_file), so the client re-reads it on rotation.
 * -ENOENT when not running in a cluster. */
int kubeconfig_in_cluster(const char *sa_dir, struct k8s_config **out, char *errbuf, size_t errlen);

/* Release a config and every string in it; NULL is fine. Secret buffers
 * (token, key_data) are zeroed before being freed. */
void k8s_config_free(struct k8s_config *cfg);

/* ---- building blocks (exposed for tests and fuzzing) -------------------- */

/* Parse kubeconfig YAML (or JSON) as described above into a json-c tree; an
 * empty document gives an empty object. Aliases share objects: treat the
 * tree as read-only. *out is a new reference the caller releases with
 * json_object_put(). */
int kubeconfig_yaml_parse(const char *buf, size_t len, json_object **out, char *errbuf,
			  size_t errlen);

/* Decode standard base64 (whitespace ignored, padding optional). *out is
 * malloc'd, NUL-terminated, caller frees; *out_len excludes the NUL.
 * -EINVAL on a character outside the alphabet. */
int kubeconfig_base64_decode(const char *in, size_t len, char **out, size_t *out_len);

#endif
