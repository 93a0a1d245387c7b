// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent's HTTP client (libcurl): one per thread that talks to the
 * master, keeping its connection alive between requests. A request runs on
 * a private multi handle so another thread can cut a long poll short at
 * shutdown (curl_multi_wakeup) instead of waiting for its timeout.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "http/client.h"

#define BODY_MAX	(1u << 20)	/* the API's replies are far smaller */

struct agent_http {
	CURLM *multi;
	CURL *easy;
	struct curl_slist *headers;	/* for GET */
	struct curl_slist *headers_json;	/* for requests with a body */
	char *base;			/* master URL without a trailing '/' */
	char *token;			/* sent as a bearer token, or NULL */
	const atomic_bool *stop;
	char *body;
	size_t len, cap;
	char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct agent_http *h = userdata;
	size_t n = size * nmemb;

	if (h->len + n + 1 > BODY_MAX)
		return 0;	/* fails the transfer: a runaway reply */
	if (h->len + n + 1 > h->cap) {
		size_t cap = h->cap ? h->cap : 4096;
		char *p;

		while (cap < h->len + n + 1)
			cap *= 2;
		p = realloc(h->body, cap);
		if (!p)
			return 0;
		h->body = p;
		h->cap = cap;
	}
	memcpy(h->body + h->len, data, n);
	h->len += n;
	h->body[h->len] = '\0';
	return n;
}

void agent_http_free(struct agent_http *h)
{
	if (!h)
		return;
	if (h->multi)
		curl_multi_cleanup(h->multi);
	if (h->easy)
		curl_easy_cleanup(h->easy);
	curl_slist_free_all(h->headers);
	curl_slist_free_all(h->headers_json);
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	free(h->base);
	free(h->body);
	free(h);
}

/* The header lists of every request, with token as the bearer token. */
int agent_http_set_token(struct agent_http *h, const char *token)
{
	struct curl_slist *lists[2] = { NULL, NULL };
	char *auth = NULL, *copy = NULL;

	if (token && (asprintf(&auth, "Authorization: Bearer %s", token) < 0 ||
		      !(copy = strdup(token)))) {
		free(auth);
		return -ENOMEM;
	}
	for (int i = 0; i < 2; i++) {
		struct curl_slist *l = NULL;

		l = curl_slist_append(l, "Accept: application/json");
		/* No "Expect: 100-continue" round trip on small POSTs. */
		if (l)
			l = curl_slist_append(l, "Expect:");
		if (l && auth)
			l = curl_slist_append(l, auth);
		if (l && i)
			l = curl_slist_append(l, "Content-Type: application/json");
		lists[i] = l;
	}
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	if (!lists[0] || !lists[1]) {
		curl_slist_free_all(lists[0]);
		curl_slist_free_all(lists[1]);
		free(copy);
		return -ENOMEM;
	}
	curl_slist_free_all(h->headers);
	curl_slist_free_all(h->headers_json);
	h->headers = lists[0];
	h->headers_json = lists[1];
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	h->token = copy;
	return 0;
}

bool agent_http_has_token(const struct agent_http *h, const char *token)
{
	if (!h->token || !token)
		return !h->token && !token;
	return strcmp(h->token, token) == 0;
}

int agent_http_new(const char *base_url, const char *token,
		   const atomic_bool *stop, struct agent_http **ret)
{
	struct agent_http *h = calloc(1, sizeof(*h));
	size_t len;

	if (!h)
		return -ENOMEM;
	h->stop = stop;
	h->base = strdup(base_url);
	h->multi = curl_multi_init();
	h->easy = curl_easy_init();
	if (!h->base || !h->multi || !h->easy)
		goto nomem;
	len = strlen(h->base);
	while (len && h->base[len - 1] == '/')
		h->base[--len] = '\0';
	if (agent_http_set_token(h, token) < 0)
		goto nomem;
	curl_easy_setopt(h->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->easy, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h->easy, CURLOPT_TCP_NODELAY, 1L);
	*ret = h;
	return 0;
nomem:
	agent_http_free(h);
	return -ENOMEM;
}

void agent_http_wakeup(struct agent_http *h)
{
	if (h)
		curl_multi_wakeup(h->multi);
}

/* One exchange with url; *ret_status the HTTP status. */
static int perform(struct agent_http *h, const char *url, const char *method,
		   const char *json, long timeout_ms,
		   struct agent_http_reply *ret, long *ret_status)
{
	CURLcode result = CURLE_OK;
	int running = 1, r = 0;
	CURLMsg *msg;
	long status = 0;

	h->len = 0;
	h->errbuf[0] = '\0';
	if (h->body)
		h->body[0] = '\0';
	curl_easy_setopt(h->easy, CURLOPT_URL, url);
	curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (json) {
		curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers_json);
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(h->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
		curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST, method);
	} else {
		curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, h->headers);
		curl_easy_setopt(h->easy, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h->easy, CURLOPT_CUSTOMREQUEST, NULL);
	}
	curl_multi_add_handle(h->multi, h->easy);
	while (running) {
		if (curl_multi_perform(h->multi, &running) != CURLM_OK) {
			r = -EIO;
			break;
		}
		if (!running)
			break;
		if (atomic_load(h->stop)) {
			r = -ECANCELED;
			break;
		}
		curl_multi_poll(h->multi, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(h->multi, &running)))
		if (msg->msg == CURLMSG_DONE)
			result = msg->data.result;
	curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(h->multi, h->easy);
	if (r < 0) {
		ret->error = r == -ECANCELED ? "stopped" : "transfer failed";
		return r;
	}
	if (result != CURLE_OK) {
		ret->error = h->errbuf[0] ? h->errbuf : curl_easy_strerror(result);
		switch (result) {
		case CURLE_COULDNT_CONNECT:
			return -ECONNREFUSED;
		case CURLE_OPERATION_TIMEDOUT:
			return -ETIMEDOUT;
		case CURLE_COULDNT_RESOLVE_HOST:
			return -EHOSTUNREACH;
		default:
			return -EIO;
		}
	}
	*ret_status = status;
	return 0;
}

static bool is_redirect(long status)
{
	return status == 307 || status == 308;
}

int agent_http_request_to(struct agent_http *h, const char *base,
			  const char *method, const char *path,
			  const char *json, long timeout_ms,
			  struct agent_http_reply *ret)
{
	char *url = NULL, *next;
	const char *loc = NULL;
	long status = 0;
	int r;

	*ret = (struct agent_http_reply){ .body = "" };
	snprintf(ret->base, sizeof(ret->base), "%s", base);
	if (asprintf(&url, "%s%s", base, path) < 0)
		return -ENOMEM;
	for (;;) {
		r = perform(h, url, method, json, timeout_ms, ret, &status);
		if (r < 0 || !is_redirect(status) || ret->hops == AGENT_HTTP_HOPS)
			break;
		if (curl_easy_getinfo(h->easy, CURLINFO_REDIRECT_URL, &loc) !=
		    CURLE_OK || !loc || !strcmp(loc, url))
			break;		/* nowhere, or here again: a loop */
		next = strdup(loc);
		if (!next) {
			r = -ENOMEM;
			break;
		}
		free(url);
		url = next;
		ret->hops++;
		if (url_redirect_base(url, path, ret->base, sizeof(ret->base)) < 0)
			ret->base[0] = '\0';
	}
	free(url);
	if (r < 0)
		return r;
	ret->status = status;
	ret->body = h->body ? h->body : "";
	return 0;
}

int agent_http_request(struct agent_http *h, const char *method,
		       const char *path, const char *json, long timeout_ms,
		       struct agent_http_reply *ret)
{
	return agent_http_request_to(h, h->base, method, path, json,
				     timeout_ms, ret);
}
