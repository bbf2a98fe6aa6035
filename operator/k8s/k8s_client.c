/* SPDX-License-Identifier: Apache-2.0 */
/* k8s_client.c -- libcurl transport for the Kubernetes API.
 *
 * TLS material from the kubeconfig stays in memory: PEM data is handed to
 * libcurl as blobs (CAINFO/SSLCERT/SSLKEY_BLOB), so no private temp files
 * hold client keys.
 */
#include "k8s_client.h"
#include "capbuf.h"
#include "k8s_client_int.h"
#include "log.h"
#include "readfile.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN_MAX_BYTES	  (16u << 10)
#define JSON_MAX_DEPTH	  128
#define REQUEST_TIMEOUT_S 30L
#define CONNECT_TIMEOUT_S 10L

struct k8s_client {
	struct k8s_config cfg;	   /* private deep copy */
	pthread_mutex_t lock;	   /* guards token and the token file identity below */
	char *token;		   /* current bearer token (static or from token_file) */
	struct stat token_st;	   /* identity of token_file when last read */
	pthread_mutex_t easy_lock; /* held while `easy` is in use */
	CURL *easy;		   /* cached handle for keep-alive, created lazily */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- helpers ------------------------------------------------------------ */

int k8s_errno_from_http(long code, const char *reason)
{
	switch (code) {
	case 400:
	case 415:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 405:
		return -EOPNOTSUPP;
	case 409:
		return reason && !strcmp(reason, "AlreadyExists") ? -EEXIST : -EAGAIN;
	case 410:
		return -ESTALE;
	case 413:
		return -EFBIG;
	case 429:
	case 503:
		return -EBUSY;
	case 504:
		return -ETIMEDOUT;
	default:
		break;
	}
	if (code >= 500 && code < 600)
		return -EIO;
	return -EPROTO;
}

static int errno_from_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return -ECONNRESET;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

static bool valid_name(const char *s)
{
	if (!s[0] || strlen(s) > 253)
		return false;
	for (; *s; s++) {
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' ||
		      *s == '.'))
			return false;
	}
	return true;
}

int k8s_build_path(char *buf, size_t len, const char *prefix, const char *ns, const char *plural,
		   const char *name, const char *sub)
{
	int n;

	if (!prefix || prefix[0] != '/' || !plural || !valid_name(plural) ||
	    (ns && !valid_name(ns)) || (name && !valid_name(name)) || (sub && !valid_name(sub)) ||
	    (sub && !name))
		return -EINVAL;
	n = snprintf(buf, len, "%s%s%s/%s%s%s%s%s", prefix, ns ? "/namespaces/" : "", ns ? ns : "",
		     plural, name ? "/" : "", name ? name : "", sub ? "/" : "", sub ? sub : "");
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

char *k8s_query_escape(const char *s)
{
	char *e, *out;

	pthread_once(&curl_once, curl_init_once);
	e = curl_easy_escape(NULL, s, 0);
	if (!e)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}

/* ---- lifetime ----------------------------------------------------------- */

static int dup_opt(const char *src, char **dst)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

static int dup_mem(const char *src, size_t len, char **dst)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = malloc(len + 1);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, len);
	(*dst)[len] = '\0';
	return 0;
}

int k8s_client_new(const struct k8s_config *cfg, struct k8s_client **out)
{
	struct k8s_client *c;
	struct k8s_config *d;
	int err = 0;

	if (!cfg || !cfg->server)
		return -EINVAL;
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return -EIO;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	d = &c->cfg;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->easy_lock, NULL);
	err = dup_opt(cfg->server, &d->server);
	err = err ?: dup_opt(cfg->ca_file, &d->ca_file);
	err = err ?: dup_mem(cfg->ca_data, cfg->ca_data_len, &d->ca_data);
	err = err ?: dup_opt(cfg->token_file, &d->token_file);
	err = err ?: dup_opt(cfg->cert_file, &d->cert_file);
	err = err ?: dup_mem(cfg->cert_data, cfg->cert_data_len, &d->cert_data);
	err = err ?: dup_opt(cfg->key_file, &d->key_file);
	err = err ?: dup_mem(cfg->key_data, cfg->key_data_len, &d->key_data);
	err = err ?: dup_opt(cfg->namespace ? cfg->namespace : "default", &d->namespace);
	err = err ?: dup_opt(cfg->token, &c->token);
	if (err)
		goto cleanup;
	d->ca_data_len = cfg->ca_data_len;
	d->cert_data_len = cfg->cert_data_len;
	d->key_data_len = cfg->key_data_len;
	d->insecure = cfg->insecure;
	if (d->insecure)
		log_warn("k8s", "TLS verification of %s is disabled (insecure-skip-tls-verify)",
			 d->server);
	*out = c;
	return 0;
cleanup:
	k8s_client_free(c);
	return err;
}

void k8s_client_free(struct k8s_client *c)
{
	if (!c)
		return;
	if (c->easy)
		curl_easy_cleanup(c->easy);
	c->easy = NULL;
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->cfg.server);
	free(c->cfg.ca_file);
	free(c->cfg.ca_data);
	free(c->cfg.token_file);
	free(c->cfg.cert_file);
	free(c->cfg.cert_data);
	free(c->cfg.key_file);
	if (c->cfg.key_data) {
		explicit_bzero(c->cfg.key_data, c->cfg.key_data_len);
		free(c->cfg.key_data);
	}
	free(c->cfg.namespace);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->easy_lock);
	free(c);
}

const char *k8s_client_namespace(const struct k8s_client *c)
{
	return c->cfg.namespace;
}

/* ---- token -------------------------------------------------------------- */

/* Re-read the token file when its identity changed. Caller holds c->lock. */
static void refresh_token_locked(struct k8s_client *c)
{
	struct stat st;
	void *data = NULL;
	char *buf;
	size_t len = 0;
	int err;

	if (!c->cfg.token_file)
		return;
	if (stat(c->cfg.token_file, &st) != 0) {
		log_warn("k8s", "token file %s: %s (keeping the previous token)", c->cfg.token_file,
			 strerror(errno));
		return;
	}
	if (c->token && st.st_ino == c->token_st.st_ino && st.st_size == c->token_st.st_size &&
	    st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
		return;
	err = read_file_capped(c->cfg.token_file, TOKEN_MAX_BYTES, &data, &len);
	if (err) {
		log_warn("k8s", "token file %s unreadable or larger than %u bytes: %s",
			 c->cfg.token_file, TOKEN_MAX_BYTES, strerror(-err));
		return;
	}
	buf = data;
	while (len && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = buf; /* read_file_capped's buffer, handed over */
	c->token_st = st;
	log_debug("k8s", "loaded bearer token from %s", c->cfg.token_file);
}

/* Build the Authorization header list (NULL when no token). Caller frees
 * with k8s_free_headers(), which wipes the token copy. */
struct curl_slist *k8s_auth_headers(struct k8s_client *c, struct curl_slist *h)
{
	char *line = NULL;

	pthread_mutex_lock(&c->lock);
	refresh_token_locked(c);
	if (c->token && c->token[0] && asprintf(&line, "Authorization: Bearer %s", c->token) < 0)
		line = NULL;
	pthread_mutex_unlock(&c->lock);
	if (line) {
		struct curl_slist *n = curl_slist_append(h, line);

		explicit_bzero(line, strlen(line));
		free(line);
		if (n)
			h = n;
	}
	return h;
}

void k8s_free_headers(struct curl_slist *h)
{
	for (struct curl_slist *p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
}

/* ---- transfers ---------------------------------------------------------- */

static size_t capbuf_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	return capbuf_add(arg, data, size * nmemb) ? 0 : size * nmemb;
}

static int parse_json(const char *data, size_t len, json_object **out)
{
	struct json_tokener *tok;
	json_object *obj;

	*out = NULL;
	if (len == 0)
		return 0;
	if (len > INT32_MAX)
		return -EFBIG;
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	obj = json_tokener_parse_ex(tok, data, (int)len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(obj);
		json_tokener_free(tok);
		return -EBADMSG;
	}
	json_tokener_free(tok);
	*out = obj;
	return 0;
}

/* Fill aerr from a Status body (or the raw text when it is not JSON), log it,
 * and return the errno for the HTTP code. */
int k8s_api_failure(const char *method, const char *path, long code, const char *body, size_t len,
		    struct k8s_api_error *aerr)
{
	struct k8s_api_error local = {.http_code = code};
	json_object *st = NULL, *v;

	if (body && parse_json(body, len, &st) == 0 && st &&
	    json_object_is_type(st, json_type_object)) {
		if (json_object_object_get_ex(st, "reason", &v))
			snprintf(local.reason, sizeof(local.reason), "%s",
				 json_object_get_string(v));
		if (json_object_object_get_ex(st, "message", &v))
			snprintf(local.message, sizeof(local.message), "%s",
				 json_object_get_string(v));
	} else if (body && len) {
		snprintf(local.message, sizeof(local.message), "%.*s", (int)(len < 200 ? len : 200),
			 body);
	}
	json_object_put(st);
	/* 404 and 409 are routine (lookups, optimistic concurrency): debug only. */
	if (code == 404 || code == 409)
		log_debug("k8s", "%s %s: HTTP %ld %s: %s", method, path, code, local.reason,
			  local.message);
	else
		log_warn("k8s", "%s %s: HTTP %ld %s: %s", method, path, code, local.reason,
			 local.message);
	if (aerr)
		*aerr = local;
	return k8s_errno_from_http(code, local.reason[0] ? local.reason : NULL);
}

int k8s_transport_failure(const char *method, const char *path, CURLcode rc, const char *errtext,
			  struct k8s_api_error *aerr)
{
	const char *txt = errtext && errtext[0] ? errtext : curl_easy_strerror(rc);

	if (rc != CURLE_ABORTED_BY_CALLBACK)
		log_warn("k8s", "%s %s: %s", method, path, txt);
	if (aerr) {
		memset(aerr, 0, sizeof(*aerr));
		snprintf(aerr->message, sizeof(aerr->message), "%s", txt);
	}
	return errno_from_curl(rc);
}

/* Common TLS/auth/URL setup for an easy handle. */
int k8s_setup_easy(struct k8s_client *c, CURL *h, const char *path, char *errbuf)
{
	char *url = NULL;
	struct k8s_config *cfg = &c->cfg;

	if (asprintf(&url, "%s%s", cfg->server, path) < 0)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "podprof-operator");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (cfg->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		if (cfg->ca_data) {
			struct curl_blob b = {.data = cfg->ca_data,
					      .len = cfg->ca_data_len,
					      .flags = CURL_BLOB_NOCOPY};

			curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
		} else if (cfg->ca_file) {
			curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
		}
	}
	if (cfg->cert_data) {
		struct curl_blob b = {
		    .data = cfg->cert_data, .len = cfg->cert_data_len, .flags = CURL_BLOB_NOCOPY};

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (cfg->cert_file) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->cert_file);
	}
	if (cfg->key_data) {
		struct curl_blob b = {
		    .data = cfg->key_data, .len = cfg->key_data_len, .flags = CURL_BLOB_NOCOPY};

		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (cfg->key_file) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->key_file);
	}
	return 0;
}

/* Take the cached handle if free, else a fresh one. *cached says which. */
static CURL *acquire_easy(struct k8s_client *c, bool *cached)
{
	if (pthread_mutex_trylock(&c->easy_lock) == 0) {
		if (!c->easy)
			c->easy = curl_easy_init();
		if (c->easy) {
			curl_easy_reset(c->easy);
			*cached = true;
			return c->easy;
		}
		pthread_mutex_unlock(&c->easy_lock);
	}
	*cached = false;
	return curl_easy_init();
}

static void release_easy(struct k8s_client *c, CURL *h, bool cached)
{
	if (cached)
		pthread_mutex_unlock(&c->easy_lock);
	else if (h)
		curl_easy_cleanup(h);
}

/* One transfer: the reply body lands in rb (capped by rb->max). Non-2xx
 * replies and transport errors become an errno (and aerr). */
static int perform(struct k8s_client *c, const char *method, const char *path,
		   const char *content_type, const char *body, const char *accept,
		   struct capbuf *rb, struct k8s_api_error *aerr)
{
	char errbuf[CURL_ERROR_SIZE] = "", ctype[128];
	struct curl_slist *hdrs = NULL;
	bool cached = false;
	CURL *h;
	CURLcode rc;
	long code = 0;
	int err = 0;

	h = acquire_easy(c, &cached);
	if (!h)
		return -ENOMEM;
	err = k8s_setup_easy(c, h, path, errbuf);
	if (err)
		goto cleanup;
	hdrs = curl_slist_append(hdrs, accept);
	if (body) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 content_type ? content_type : "application/json");
		hdrs = curl_slist_append(hdrs, ctype);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	hdrs = k8s_auth_headers(c, hdrs);
	if (!hdrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (!strcmp(method, "GET"))
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, capbuf_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, rb);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_WRITE_ERROR && rb->too_big) {
		log_warn("k8s", "%s %s: reply larger than %zu bytes", method, path, rb->max);
		if (aerr) {
			memset(aerr, 0, sizeof(*aerr));
			aerr->http_code = code;
			snprintf(aerr->message, sizeof(aerr->message), "reply too large");
		}
		err = -EFBIG;
		goto cleanup;
	}
	if (rc != CURLE_OK) {
		err = k8s_transport_failure(method, path, rc, errbuf, aerr);
		goto cleanup;
	}
	if (code < 200 || code > 299)
		err = k8s_api_failure(method, path, code, rb->p, rb->len, aerr);
	else if (aerr)
		aerr->http_code = code;
cleanup:
	if (h)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	k8s_free_headers(hdrs);
	release_easy(c, h, cached);
	return err;
}

int k8s_request(struct k8s_client *c, const char *method, const char *path,
		const char *content_type, const char *body, size_t max_bytes, json_object **out,
		struct k8s_api_error *aerr)
{
	struct capbuf rb = {.max = max_bytes};
	int err;

	if (out)
		*out = NULL;
	err = perform(c, method, path, content_type, body, "Accept: application/json", &rb, aerr);
	if (!err && out) {
		err = parse_json(rb.p, rb.len, out);
		if (err) {
			log_warn("k8s", "%s %s: reply is not valid JSON", method, path);
			if (aerr) {
				long code = aerr->http_code;

				memset(aerr, 0, sizeof(*aerr));
				aerr->http_code = code;
				snprintf(aerr->message, sizeof(aerr->message),
					 "invalid JSON reply");
			}
		}
	}
	free(rb.p);
	return err;
}

int k8s_get_bytes(struct k8s_client *c, const char *path, size_t max_bytes, void **out,
		  size_t *out_len, struct k8s_api_error *aerr)
{
	struct capbuf rb = {.max = max_bytes};
	int err;

	*out = NULL;
	*out_len = 0;
	err = perform(c, "GET", path, NULL, NULL, "Accept: */*", &rb, aerr);
	if (err) {
		free(rb.p);
		return err;
	}
	*out = rb.p ? (void *)rb.p : calloc(1, 1);
	*out_len = rb.len;
	return *out ? 0 : -ENOMEM;
}

static int send_obj(struct k8s_client *c, const char *method, const char *path, const char *ctype,
		    json_object *obj, json_object **out, struct k8s_api_error *aerr)
{
	const char *body = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);

	if (!body)
		return -ENOMEM;
	return k8s_request(c, method, path, ctype, body, K8S_MAX_OBJECT_BYTES, out, aerr);
}

int k8s_get(struct k8s_client *c, const char *path, json_object **out, struct k8s_api_error *aerr)
{
	return k8s_request(c, "GET", path, NULL, NULL, K8S_MAX_LIST_BYTES, out, aerr);
}

int k8s_create(struct k8s_client *c, const char *path, json_object *obj, json_object **out,
	       struct k8s_api_error *aerr)
{
	return send_obj(c, "POST", path, "application/json", obj, out, aerr);
}

int k8s_replace(struct k8s_client *c, const char *path, json_object *obj, json_object **out,
		struct k8s_api_error *aerr)
{
	return send_obj(c, "PUT", path, "application/json", obj, out, aerr);
}

int k8s_patch(struct k8s_client *c, const char *path, enum k8s_patch_type type, json_object *patch,
	      json_object **out, struct k8s_api_error *aerr)
{
	static const char *const ctypes[] = {
	    [K8S_PATCH_MERGE] = "application/merge-patch+json",
	    [K8S_PATCH_JSON] = "application/json-patch+json",
	    [K8S_PATCH_STRATEGIC] = "application/strategic-merge-patch+json",
	};

	if ((unsigned int)type > K8S_PATCH_STRATEGIC)
		return -EINVAL;
	return send_obj(c, "PATCH", path, ctypes[type], patch, out, aerr);
}

int k8s_delete(struct k8s_client *c, const char *path, json_object **out,
	       struct k8s_api_error *aerr)
{
	return k8s_request(c, "DELETE", path, NULL, NULL, K8S_MAX_OBJECT_BYTES, out, aerr);
}
