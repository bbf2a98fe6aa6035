/* SPDX-License-Identifier: Apache-2.0 */
/* storage_s3.c -- signed S3 PUT/GET through libcurl (CURLOPT_AWS_SIGV4).
 *
 * libcurl computes the SigV4 signature; we supply x-amz-content-sha256 with
 * the body's real SHA-256 because S3 servers require that header and
 * libcurl cannot hash a body it streams from a read callback.
 */
#include "storage_int.h"

#include "capbuf.h"
#include "log.h"
#include "sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Percent-encode everything but RFC 3986 unreserved characters and '/',
 * matching the canonical URI S3 expects for SigV4. */
static char *encode_key(const char *key)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(key);
	char *out = malloc(len * 3 + 1), *p = out;

	if (!out)
		return NULL;
	for (const unsigned char *k = (const unsigned char *)key; *k; k++) {
		if ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
		    (*k >= '0' && *k <= '9') || *k == '-' || *k == '_' || *k == '.' || *k == '~' ||
		    *k == '/') {
			*p++ = (char)*k;
		} else {
			*p++ = '%';
			*p++ = hex[*k >> 4];
			*p++ = hex[*k & 15];
		}
	}
	*p = '\0';
	return out;
}

int s3_object_url(const struct storage_config *cfg, const char *key, char **out)
{
	char *ek = encode_key(key), *u = NULL;
	const char *ep = cfg->endpoint;
	int n;

	*out = NULL;
	if (!ek)
		return -ENOMEM;
	if (ep) {
		size_t eplen = strlen(ep);

		while (eplen > 0 && ep[eplen - 1] == '/')
			eplen--;
		if (cfg->path_style) {
			n = asprintf(&u, "%.*s/%s/%s", (int)eplen, ep, cfg->bucket, ek);
		} else {
			/* Virtual-hosted: the bucket becomes the first host label. */
			const char *host = strstr(ep, "://") + 3;

			n = asprintf(&u, "%.*s%s.%.*s/%s", (int)(host - ep), ep, cfg->bucket,
				     (int)(eplen - (size_t)(host - ep)), host, ek);
		}
	} else if (cfg->path_style) {
		n = asprintf(&u, "https://s3.%s.amazonaws.com/%s/%s", cfg->region, cfg->bucket, ek);
	} else {
		n = asprintf(&u, "https://%s.s3.%s.amazonaws.com/%s", cfg->bucket, cfg->region, ek);
	}
	free(ek);
	if (n < 0)
		return -ENOMEM;
	*out = u;
	return 0;
}

/* libcurl write callback: collect into a capbuf; 0 (an error) past its cap. */
static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	size_t n = size * nmemb;

	return capbuf_add(ud, ptr, n) ? 0 : n;
}

struct readbuf {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct readbuf *r = ud;
	size_t n = size * nmemb;

	if (n > r->len - r->off)
		n = r->len - r->off;
	memcpy(ptr, r->data + r->off, n);
	r->off += n;
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const volatile sig_atomic_t *abort_flag = ud;

	(void)dt, (void)dn, (void)ut, (void)un;
	return abort_flag && *abort_flag ? 1 : 0;
}

/* Copy the text between <tag> and </tag> into out (bounded). */
static void xml_field(const char *body, size_t len, const char *tag, char *out, size_t out_len)
{
	char open[32], close[32];
	const char *a, *b;

	out[0] = '\0';
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = memmem(body, len, open, strlen(open));
	if (!a)
		return;
	a += strlen(open);
	b = memmem(a, len - (size_t)(a - body), close, strlen(close));
	if (!b)
		return;
	snprintf(out, out_len, "%.*s", (int)(b - a), a);
}

void s3_error_message(const char *body, size_t len, long status, char *buf, size_t buf_len)
{
	char code[128] = "", msg[320] = "";

	if (body && len) {
		xml_field(body, len, "Code", code, sizeof(code));
		xml_field(body, len, "Message", msg, sizeof(msg));
	}
	if (code[0])
		snprintf(buf, buf_len, "HTTP %ld %s: %s", status, code, msg);
	else
		snprintf(buf, buf_len, "HTTP %ld", status);
}

/* Common handle setup; the slists are returned for the caller to free. */
static CURL *s3_handle(const struct storage_config *cfg, const char *url, char *errbuf,
		       char **userpwd, char **sigv4)
{
	CURL *h = curl_easy_init();

	*userpwd = *sigv4 = NULL;
	if (!h)
		return NULL;
	if (asprintf(userpwd, "%s:%s", cfg->access_key, cfg->secret_key) < 0 ||
	    asprintf(sigv4, "aws:amz:%s:s3", cfg->region) < 0) {
		curl_easy_cleanup(h);
		return NULL;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, *sigv4);
	curl_easy_setopt(h, CURLOPT_USERPWD, *userpwd);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)cfg->transfer_timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "podprof-operator");
	if (cfg->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
	if (cfg->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return h;
}

static void free_secret_str(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

/* Turn a finished transfer into err/x; returns 0 on a 2xx. */
static int classify(CURLcode rc, long status, const char *errbuf, const struct capbuf *body,
		    const char *method, const char *url, struct storage_xfer *x)
{
	char why[400];

	x->http_status = status;
	x->retryable = false;
	x->message[0] = '\0';
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && body->too_big)) {
		/* Network-level failures are worth retrying; a bad URL or TLS
		 * trust problem needs a human and is reported as permanent. */
		x->retryable = rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL &&
			       rc != CURLE_PEER_FAILED_VERIFICATION &&
			       rc != CURLE_SSL_CACERT_BADFILE && rc != CURLE_LOGIN_DENIED;
		snprintf(x->message, sizeof(x->message), "%s %s: %s", method, url,
			 errbuf[0] ? errbuf : curl_easy_strerror(rc));
		return -EIO;
	}
	if (body->too_big) {
		snprintf(x->message, sizeof(x->message), "%s %s: object larger than %zu bytes",
			 method, url, body->max);
		return -E2BIG;
	}
	if (status >= 200 && status < 300)
		return 0;
	x->retryable = status >= 500 || status == 408 || status == 429;
	s3_error_message(body->p, body->len, status, why, sizeof(why));
	snprintf(x->message, sizeof(x->message), "%s %s: %s", method, url, why);
	if (status == 404)
		return -ENOENT;
	if (status == 401 || status == 403)
		return -EACCES;
	return -EIO;
}

/* One signed request to url. `put` (may be NULL for GET) is the body to
 * upload; the reply body is collected into `body` (capped by body->max). */
static int s3_request_url(const struct storage_config *cfg, const char *url,
			  const struct readbuf *put, const char *content_type,
			  const volatile sig_atomic_t *abort_flag, struct capbuf *body,
			  struct storage_xfer *x)
{
	char errbuf[CURL_ERROR_SIZE] = "", hash[SHA256_HEX_LEN], hdr[128];
	char *userpwd = NULL, *sigv4 = NULL;
	struct readbuf rb = put ? *put : (struct readbuf){.data = ""};
	struct curl_slist *hdrs = NULL, *tmp;
	CURL *h = NULL;
	CURLcode rc;
	long status = 0;
	int err;

	memset(x, 0, sizeof(*x));
	h = s3_handle(cfg, url, errbuf, &userpwd, &sigv4);
	if (!h) {
		err = -ENOMEM;
		goto cleanup;
	}
	/* S3 requires the payload hash header; for GET it is the empty hash. */
	err = sha256_hex(rb.data, rb.len, hash);
	if (err)
		goto cleanup;
	snprintf(hdr, sizeof(hdr), "x-amz-content-sha256: %s", hash);
	tmp = curl_slist_append(hdrs, hdr);
	hdrs = tmp ? tmp : hdrs;
	if (tmp && put) {
		snprintf(hdr, sizeof(hdr), "Content-Type: %.100s", content_type);
		tmp = curl_slist_append(hdrs, hdr);
		hdrs = tmp ? tmp : hdrs;
		/* No "Expect:" override here: libcurl 7.88 signs a removed header
		 * as an empty one and the server then rejects the signature. */
	}
	if (!tmp) {
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (put) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &rb);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rb.len);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)abort_flag);
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	err = classify(rc, status, errbuf, body, put ? "PUT" : "GET", url, x);
cleanup:
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	free_secret_str(userpwd);
	free(sigv4);
	return err;
}

/* One signed request for key under cfg's bucket (see s3_request_url). */
static int s3_request(const struct storage_config *cfg, const char *key, const struct readbuf *put,
		      const char *content_type, const volatile sig_atomic_t *abort_flag,
		      struct capbuf *body, struct storage_xfer *x)
{
	char *url = NULL;
	int err = s3_object_url(cfg, key, &url);

	if (err) {
		memset(x, 0, sizeof(*x));
		return err;
	}
	err = s3_request_url(cfg, url, put, content_type, abort_flag, body, x);
	free(url);
	return err;
}

int s3_put(const struct storage_config *cfg, const char *key, const void *data, size_t len,
	   const char *content_type, const volatile sig_atomic_t *abort_flag,
	   struct storage_xfer *x)
{
	struct capbuf body = {.max = STORAGE_MAX_ERROR_BODY};
	struct readbuf rb = {.data = data, .len = len};
	int err = s3_request(cfg, key, &rb, content_type, abort_flag, &body, x);

	free(body.p);
	return err;
}

int s3_get(const struct storage_config *cfg, const char *key, const char *url, size_t max,
	   const volatile sig_atomic_t *abort_flag, void **out, size_t *out_len,
	   struct storage_xfer *x)
{
	struct capbuf body = {.max = max};
	int err = url ? s3_request_url(cfg, url, NULL, NULL, abort_flag, &body, x)
		      : s3_request(cfg, key, NULL, NULL, abort_flag, &body, x);

	*out = NULL;
	*out_len = 0;
	if (!err) {
		*out = body.p ? body.p : calloc(1, 1);
		*out_len = body.len;
		body.p = NULL;
		if (!*out)
			err = -ENOMEM;
	}
	free(body.p);
	return err;
}
