// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The HTTP client behind famfsctl's online commands: one libcurl easy
 * handle (so several calls of one command share a keep-alive connection),
 * bearer token, JSON in and out.
 *
 * Several masters (--url A,B): a call goes where the last one was
 * answered (a 307's target, else the list item), then to the others in
 * order. A 307 or 308 is followed by hand, at most ONLINE_HOPS times, so
 * the bearer token goes along (libcurl drops it on a move to another
 * host, as it should for a redirect it does not know to trust). Only a
 * master that was not reached, or answered 503 not-active, gives way to
 * the next: a request cut short after it was sent may have been applied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/token_file.h"
#include "online.h"

#define DEFAULT_URL "http://127.0.0.1:7470"
/* 307s followed per call: a standby's, and one more for a takeover. */
#define ONLINE_HOPS	2

void online_init(struct online *o, const struct famfsctl_global *g)
{
	memset(o, 0, sizeof(*o));
	o->url = g->url ? g->url : getenv("FAMFSD_URL") ? getenv("FAMFSD_URL") :
		 DEFAULT_URL;
	/* --token or --token-file (the later one) beats both variables. */
	if (g->token || g->token_file) {
		o->token = g->token;
		o->token_file = g->token_file;
	} else {
		o->token = getenv("FAMFSD_TOKEN");
		o->token_file = getenv("FAMFSD_TOKEN_FILE");
	}
	o->cacert = g->cacert ? g->cacert : getenv("FAMFSD_CACERT");
	o->json = g->json;
	o->human = g->human;
}

/* The rules of every token file: common/token_file.h. */
static int read_token(struct online *o)
{
	const char *why = NULL;
	int r = token_file_read_one(o->token_file, &o->token_buf, &why);

	if (r < 0) {
		fprintf(stderr, "famfsctl: failed to read token file '%s': %s\n",
			o->token_file, r == -ENODATA ? "no token in it" :
			r == -EINVAL ? why : strerror(-r));
		return r;
	}
	o->token = o->token_buf;
	return 0;
}

int online_open(struct online *o)
{
	const char *why = NULL;
	int r;

	if (o->token_file && !o->token) {
		r = read_token(o);
		if (r < 0)
			return r;
	}
	if (!o->token) {
		fprintf(stderr, "famfsctl: no token: use --token, --token-file, "
			"FAMFSD_TOKEN or FAMFSD_TOKEN_FILE\n");
		return -EINVAL;
	}
	o->urls = calloc(1, sizeof(*o->urls));
	if (!o->urls) {
		fprintf(stderr, "famfsctl: out of memory\n");
		return -ENOMEM;
	}
	if (url_list_parse(o->url, o->urls, &why) < 0) {
		fprintf(stderr, "famfsctl: bad --url '%s': %s\n", o->url, why);
		return -EINVAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	o->curl = curl_easy_init();
	if (!o->curl) {
		fprintf(stderr, "famfsctl: failed to set up libcurl\n");
		return -ENOMEM;
	}
	return 0;
}

void online_close(struct online *o)
{
	if (o->curl)
		curl_easy_cleanup(o->curl);
	o->curl = NULL;
	free(o->urls);
	o->urls = NULL;
	if (o->token_buf) {
		explicit_bzero(o->token_buf, strlen(o->token_buf));
		free(o->token_buf);
		o->token_buf = NULL;
	}
}

struct buf {
	char *data;
	size_t len, cap;
	bool too_big;		/* the reply passed ONLINE_REPLY_MAX */
};

/* Grows by doubling: a batch's reply of 10+ MiB comes in 16 KiB pieces. */
static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct buf *b = ctx;
	size_t add = size * n, cap = b->cap ? b->cap : 4096;
	char *d;

	if (b->len + add + 1 > ONLINE_REPLY_MAX) {
		b->too_big = true;
		return 0;		/* libcurl aborts the transfer */
	}
	while (cap < b->len + add + 1)
		cap *= 2;
	if (cap != b->cap) {
		d = realloc(b->data, cap);
		if (!d)
			return 0;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, add);
	b->len += add;
	b->data[b->len] = '\0';
	return add;
}

/* One exchange with url into b; the libcurl result. */
static CURLcode exchange(struct online *o, const char *url, const char *method,
			 struct curl_slist *hdrs, const char *payload,
			 struct buf *b, char *err)
{
	free(b->data);
	*b = (struct buf){ 0 };
	err[0] = '\0';
	curl_easy_reset(o->curl);
	curl_easy_setopt(o->curl, CURLOPT_URL, url);
	curl_easy_setopt(o->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(o->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(o->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(o->curl, CURLOPT_TIMEOUT,
			 o->timeout_s ? o->timeout_s : ONLINE_TIMEOUT_S);
	curl_easy_setopt(o->curl, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(o->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(o->curl, CURLOPT_WRITEDATA, b);
	if (o->cacert)
		curl_easy_setopt(o->curl, CURLOPT_CAINFO, o->cacert);
	if (payload) {
		curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	}
	return curl_easy_perform(o->curl);
}

/* Nothing reached the master: another one may be tried. */
static bool unreached(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_COULDNT_RESOLVE_PROXY;
}

/*
 * METHOD base+path, following up to ONLINE_HOPS 307s (o->base learns
 * where they led). The status, or -ECONNREFUSED when base was not reached
 * (why says so), or -ETIMEDOUT / -EHOSTUNREACH after printing why.
 */
static int call_at(struct online *o, const char *base, const char *method,
		   const char *path, struct curl_slist *hdrs,
		   const char *payload, struct json_object **ret, char *why,
		   size_t why_size)
{
	char err[CURL_ERROR_SIZE], *url, *next;
	const char *loc = NULL;
	struct buf b = { 0 };
	unsigned int hops = 0;
	long status = 0;
	CURLcode rc;
	int r;

	if (asprintf(&url, "%s%s", base, path) < 0)
		return -ENOMEM;
	for (;;) {
		rc = exchange(o, url, method, hdrs, payload, &b, err);
		if (rc != CURLE_OK)
			break;
		curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, &status);
		if ((status != 307 && status != 308) || hops == ONLINE_HOPS ||
		    curl_easy_getinfo(o->curl, CURLINFO_REDIRECT_URL, &loc) !=
		    CURLE_OK || !loc || !strcmp(loc, url) || !(next = strdup(loc)))
			break;
		free(url);
		url = next;
		hops++;
		if (url_redirect_base(url, path, o->base, sizeof(o->base)) < 0)
			o->base[0] = '\0';
	}
	/* Messages name the master, not the request. */
	if (hops && o->base[0])
		base = o->base;
	if (rc == CURLE_WRITE_ERROR && b.too_big) {
		fprintf(stderr, "famfsctl: the reply of the master at '%s' is "
			"larger than %u MiB: refused\n", base, ONLINE_REPLY_MAX >> 20);
		r = -EFBIG;
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		fprintf(stderr, "famfsctl: the master at '%s' did not answer "
			"within %ld s\n", base,
			o->timeout_s ? o->timeout_s : ONLINE_TIMEOUT_S);
		r = -ETIMEDOUT;
	} else if (rc != CURLE_OK && unreached(rc)) {
		snprintf(why, why_size, "%s", err[0] ? err : curl_easy_strerror(rc));
		r = -ECONNREFUSED;
	} else if (rc != CURLE_OK) {
		fprintf(stderr, "famfsctl: failed to reach the master at '%s': "
			"%s\n", base, err[0] ? err : curl_easy_strerror(rc));
		r = -EHOSTUNREACH;
	} else {
		if (b.data)
			*ret = json_tokener_parse(b.data);
		r = (int)status;
	}
	free(url);
	free(b.data);
	return r;
}

/* A standby's 503 that names no active master. */
static bool not_active(int status, struct json_object *reply)
{
	const char *type, *slash;

	if (status != 503 || !reply || !json_object_is_type(reply, json_type_object))
		return false;
	type = online_str(reply, "type");
	slash = strrchr(type, '/');
	return slash && !strcmp(slash + 1, "not-active");
}

/* Where to try, in order: a 307's target, the last to answer, the rest. */
static void candidates(const struct online *o, struct url_list *ret)
{
	ret->n = 0;
	if (o->base[0])
		url_list_add(ret, o->base);
	url_list_add(ret, o->urls->url[o->cur]);
	for (unsigned int i = 0; i < o->urls->n; i++)
		url_list_add(ret, o->urls->url[i]);
}

/* The list index of url, or the current one when it is not in the list. */
static unsigned int index_of(const struct online *o, const char *url)
{
	for (unsigned int i = 0; i < o->urls->n; i++)
		if (url_same(o->urls->url[i], url))
			return i;
	return o->cur;
}

static int call_any(struct online *o, const char *method, const char *path,
		    struct curl_slist *hdrs, const char *payload,
		    struct json_object **ret)
{
	struct url_list *c = malloc(sizeof(*c));
	char why[URL_LIST_MAX][CURL_ERROR_SIZE];
	bool answered[URL_LIST_MAX] = { false };	/* 503 not-active */
	int r = -EHOSTUNREACH;

	if (!c)
		return -ENOMEM;
	candidates(o, c);
	for (unsigned int i = 0; i < c->n; i++) {
		json_object_put(*ret);
		*ret = NULL;
		o->base[0] = '\0';
		r = call_at(o, c->url[i], method, path, hdrs, payload, ret,
			    why[i], sizeof(why[i]));
		if (r == -ECONNREFUSED)
			continue;
		if (not_active(r, *ret) && i + 1 < c->n) {
			answered[i] = true;	/* curl left why[i] unset */
			continue;
		}
		if (r >= 0)
			o->cur = index_of(o, c->url[i]);
		break;
	}
	/* Said only when the last one could not be reached. */
	for (unsigned int i = 0; r == -ECONNREFUSED && i < c->n; i++)
		if (answered[i])
			fprintf(stderr, "famfsctl: the master at '%s' answered "
				"503: not the active master\n", c->url[i]);
		else
			fprintf(stderr, "famfsctl: failed to reach the master "
				"at '%s': %s\n", c->url[i], why[i]);
	free(c);
	return r;
}

int online_call_text(struct online *o, const char *method, const char *path,
		     const char *json, struct json_object **ret)
{
	struct curl_slist *hdrs = NULL;
	char *auth;
	int r;

	*ret = NULL;
	if (asprintf(&auth, "Authorization: Bearer %s", o->token) < 0)
		return -ENOMEM;
	hdrs = curl_slist_append(hdrs, auth);
	/* Without it libcurl waits for a 100 Continue before a large body. */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (json)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	r = call_any(o, method, path, hdrs, json, ret);
	curl_slist_free_all(hdrs);
	explicit_bzero(auth, strlen(auth));
	free(auth);
	return r;
}

int online_call(struct online *o, const char *method, const char *path,
		struct json_object *body, struct json_object **ret)
{
	return online_call_text(o, method, path, body ?
				json_object_to_json_string_ext(body,
							       JSON_C_TO_STRING_PLAIN) :
				NULL, ret);
}

int online_request(struct online *o, const char *cmd, const char *method,
		   const char *path, struct json_object *body,
		   struct json_object **ret)
{
	int status;

	if (!o->curl && online_open(o) < 0)
		return EXIT_OPERATIONAL;
	status = online_call(o, method, path, body, ret);
	if (status < 0)
		return EXIT_OPERATIONAL;
	if (status >= 300) {
		online_problem(cmd, status, *ret);
		json_object_put(*ret);
		*ret = NULL;
		return EXIT_REFUSED;
	}
	return EXIT_CLEAN;
}

void online_problem(const char *cmd, int status, struct json_object *reply)
{
	if (reply && json_object_is_type(reply, json_type_object))
		fprintf(stderr, "famfsctl %s: %s (%d %s): %s\n", cmd,
			online_str(reply, "title"), status,
			strrchr(online_str(reply, "type"), '/') ?
			strrchr(online_str(reply, "type"), '/') + 1 : "",
			online_str(reply, "detail"));
	else
		fprintf(stderr, "famfsctl %s: the master answered %d\n", cmd, status);
}

char *online_escape_path(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *out = malloc(3 * n + 1), *p = out;

	if (!out)
		return NULL;
	while (*path == '/')
		path++;
	for (; *path; path++) {
		unsigned char c = (unsigned char)*path;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/", c)) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

void online_print_bytes(FILE *f, uint64_t bytes)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		fprintf(f, "%llu B", (unsigned long long)bytes);
	else
		fprintf(f, "%.1f %s", v, units[u]);
}

int online_show(struct online *o, struct json_object *reply,
		void (*print)(struct json_object *reply, bool human))
{
	if (o->json) {
		famfsctl_print_json(reply);
		return EXIT_CLEAN;
	}
	print(reply, o->human);
	json_object_put(reply);
	return EXIT_CLEAN;
}

char *online_api_path(const char *prefix, const char *fs_path)
{
	char *esc = online_escape_path(fs_path), *p = NULL;

	if (esc && asprintf(&p, "%s%s", prefix, esc) < 0)
		p = NULL;
	free(esc);
	return p;
}
