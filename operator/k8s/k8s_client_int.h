/* SPDX-License-Identifier: Apache-2.0 */
/* k8s_client_int.h -- shared by k8s_client.c and k8s_stream.c: handle set-up
 * and error reporting of one API request. Same conventions as k8s_client.h.
 */
#ifndef PODPROF_K8S_CLIENT_INT_H
#define PODPROF_K8S_CLIENT_INT_H

#include <curl/curl.h>

#include "k8s_client.h"

#define ERROR_BODY_MAX (64u << 10) /* start of an error reply kept */

/* Point h at path on c's server with c's TLS settings and timeouts; errbuf
 * (CURL_ERROR_SIZE) receives libcurl's message. */
int k8s_setup_easy(struct k8s_client *c, CURL *h, const char *path, char *errbuf);

/* Build the Authorization header list (NULL when no token). Caller frees
 * with k8s_free_headers(), which wipes the token copy. */
struct curl_slist *k8s_auth_headers(struct k8s_client *c, struct curl_slist *h);

/* Free a header list, wiping the bearer token in it. */
void k8s_free_headers(struct curl_slist *h);

/* Fill aerr from a Status body (or the raw text when it is not JSON), log it,
 * and return the errno for the HTTP code. */
int k8s_api_failure(const char *method, const char *path, long code, const char *body, size_t len,
		    struct k8s_api_error *aerr);

/* Log and map a failed transfer. */
int k8s_transport_failure(const char *method, const char *path, CURLcode rc, const char *errtext,
			  struct k8s_api_error *aerr);

#endif
