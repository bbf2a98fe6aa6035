/* SPDX-License-Identifier: Apache-2.0 */
/* k8s_stream.c -- long-lived GETs (watches) whose body is handed to a
 * consumer as it arrives, on its own libcurl handle, cancellable through a
 * stop flag. */
#include "k8s_client.h"
#include "capbuf.h"
#include "k8s_client_int.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>

struct stream_ctx {
	CURL *h;		/* the transfer, to read the status code */
	k8s_stream_fn fn;	/* consumer of 200 bodies */
	void *arg;		/* fn's argument */
	const atomic_int *stop; /* abort when non-zero */
	long code;		/* HTTP status, learned at the first body byte */
	struct capbuf err_body; /* body of a non-200 reply (capped) */
	int fn_err;		/* error returned by fn */
};

static size_t stream_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct stream_ctx *s = arg;
	size_t n = size * nmemb;

	if (!s->code)
		curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &s->code);
	if (s->code != 200) {
		/* Keep the start of an error body; the rest is not needed. */
		if (s->err_body.len < s->err_body.max)
			capbuf_add(&s->err_body, data,
				   n < s->err_body.max - s->err_body.len
				       ? n
				       : s->err_body.max - s->err_body.len);
		return n;
	}
	s->fn_err = s->fn(s->arg, data, n);
	return s->fn_err ? 0 : n;
}

static int stream_progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct stream_ctx *s = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return s->stop && atomic_load(s->stop) ? 1 : 0;
}

int k8s_stream(struct k8s_client *c, const char *path, k8s_stream_fn fn, void *arg,
	       const atomic_int *stop, struct k8s_api_error *aerr)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct stream_ctx s = {.fn = fn, .arg = arg, .stop = stop, .err_body.max = ERROR_BODY_MAX};
	struct curl_slist *hdrs = NULL;
	CURLcode rc;
	int err;

	s.h = curl_easy_init();
	if (!s.h)
		return -ENOMEM;
	err = k8s_setup_easy(c, s.h, path, errbuf);
	if (err)
		goto cleanup;
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = k8s_auth_headers(c, hdrs);
	if (!hdrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	curl_easy_setopt(s.h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(s.h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, stream_write_cb);
	curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(s.h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(s.h, CURLOPT_XFERINFOFUNCTION, stream_progress_cb);
	curl_easy_setopt(s.h, CURLOPT_XFERINFODATA, &s);
	/* A watch idles between events; the server bounds it with timeoutSeconds
	 * and sends bookmarks, so only a stalled-dead link needs a local limit. */
	curl_easy_setopt(s.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s.h, CURLOPT_LOW_SPEED_TIME, 600L);
	rc = curl_easy_perform(s.h);
	if (!s.code)
		curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, &s.code);
	if (rc == CURLE_WRITE_ERROR && s.fn_err) {
		err = s.fn_err;
		goto cleanup;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && stop && atomic_load(stop)) {
		err = -ECANCELED;
		goto cleanup;
	}
	if (rc != CURLE_OK) {
		err = k8s_transport_failure("WATCH", path, rc, errbuf, aerr);
		goto cleanup;
	}
	if (s.code != 200) {
		err = k8s_api_failure("WATCH", path, s.code, s.err_body.p, s.err_body.len, aerr);
		goto cleanup;
	}
	err = 0;
cleanup:
	curl_easy_cleanup(s.h);
	k8s_free_headers(hdrs);
	free(s.err_body.p);
	return err;
}
