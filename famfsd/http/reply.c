// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replies: JSON documents, RFC 9457 problem documents and plain text. Each
 * helper queues exactly one response and counts its status for /metrics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "names.h"

static const struct {
	unsigned int status;
	const char *name;
	const char *title;
} problems[] = {
	[PROB_VALIDATION] = { 400, "validation", "Invalid request" },
	[PROB_UNAUTHORIZED] = { 401, "unauthorized", "Authentication required" },
	[PROB_FORBIDDEN] = { 403, "forbidden", "Forbidden" },
	[PROB_NOT_FOUND] = { 404, "not-found", "Not found" },
	[PROB_METHOD] = { 405, "method-not-allowed", "Method not allowed" },
	[PROB_CONFLICT] = { 409, "conflict", "Conflict" },
	[PROB_TOO_LARGE] = { 413, "payload-too-large", "Payload too large" },
	[PROB_INTERNAL] = { 500, "internal", "Internal error" },
	[PROB_LOG_FULL] = { 503, "log-full", "Log full" },
	[PROB_FENCED] = { 503, "fenced", "Master fenced" },
	[PROB_QUOTA] = { 507, "quota-exceeded", "Quota exceeded" },
	[PROB_POOL_FULL] = { 507, "pool-full", "Pool full" },
	[PROB_STANDBY] = { 307, "standby", "Standby master" },
	[PROB_NOT_ACTIVE] = { 503, "not-active", "No active master" },
};

/*
 * Queues resp with a content type, an extra header and the route's own
 * (rq->headers: the web page's security headers on every reply under
 * /ui/, errors included).
 */
static enum MHD_Result queue_resp(struct http_req *rq, unsigned int status,
				  struct MHD_Response *resp, const char *ctype,
				  const char *hname, const char *hval)
{
	enum MHD_Result ret;

	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (hname)
		MHD_add_response_header(resp, hname, hval);
	for (const char *const *h = rq->headers; h && h[0]; h += 2)
		MHD_add_response_header(resp, h[0], h[1]);
	master_metrics_count(rq->m->metrics, status);
	ret = MHD_queue_response(rq->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Queues buf (malloc'd, consumed) with a content type and extra header. */
static enum MHD_Result queue(struct http_req *rq, unsigned int status,
			     const char *ctype, char *buf, size_t len,
			     const char *hname, const char *hval)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(buf);
		return MHD_NO;		/* MHD closes the connection */
	}
	return queue_resp(rq, status, resp, ctype, hname, hval);
}

static enum MHD_Result queue_json(struct http_req *rq, unsigned int status,
				  const char *ctype, struct json_object *o,
				  const char *hname, const char *hval)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o,
		JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	char *buf = s ? malloc(len + 1) : NULL;

	if (buf)
		memcpy(buf, s, len + 1);
	json_object_put(o);
	if (!buf)
		return MHD_NO;
	return queue(rq, status, ctype, buf, len, hname, hval);
}

enum MHD_Result http_reply_json(struct http_req *rq, unsigned int status,
				struct json_object *o)
{
	if (!o)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	return queue_json(rq, status, "application/json", o, NULL, NULL);
}

enum MHD_Result http_reply_text(struct http_req *rq, unsigned int status,
				const char *content_type, char *buf, size_t len)
{
	return queue(rq, status, content_type, buf, len, NULL, NULL);
}

enum MHD_Result http_reply_static(struct http_req *rq, unsigned int status,
				  const char *content_type, const void *data,
				  size_t len, const char *hname,
				  const char *hval)
{
	struct MHD_Response *resp;

	/* The bytes outlive every response (static storage): no copy. */
	resp = MHD_create_response_from_buffer(len, (void *)data,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	return queue_resp(rq, status, resp, content_type, hname, hval);
}

/* Replaces bytes that are not UTF-8 so the JSON stays valid. */
static void sanitize(char *s)
{
	size_t len = strlen(s);

	if (famfs_utf8_valid(s, len))
		return;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			s[i] = '?';
}

/*
 * Seconds a client should wait before retrying a 503 (RFC 9110 15.6.4):
 * a fenced master exits, and a successor can hold the lease once it lapses;
 * a standby with no active master to name sees one within about a lease;
 * a full log stays full until an operator acts (there is no compaction
 * yet), so retrying often is pointless.
 */
static unsigned int retry_after_s(const struct http_req *rq, enum http_problem p)
{
	if (p == PROB_FENCED && rq->m->cfg.lease_seconds)
		return rq->m->cfg.lease_seconds;
	/* An election or a takeover is under way: soon another answer. */
	if (p == PROB_NOT_ACTIVE)
		return HTTP_RETRY_NOT_ACTIVE_S;
	return HTTP_RETRY_LOG_FULL_S;
}

static enum MHD_Result problem(struct http_req *rq, enum http_problem p,
			       const char *hname, const char *hval,
			       struct json_object *members, const char *fmt,
			       va_list ap)
{
	struct json_object *o = json_object_new_object();
	char detail[1024], type[64], retry[16];

	vsnprintf(detail, sizeof(detail), fmt, ap);
	sanitize(detail);
	snprintf(type, sizeof(type), HTTP_PROBLEM_BASE "%s", problems[p].name);
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "title",
			       json_object_new_string(problems[p].title));
	json_object_object_add(o, "status",
			       json_object_new_int((int)problems[p].status));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	if (rq->path && famfs_utf8_valid(rq->path, strlen(rq->path)))
		json_object_object_add(o, "instance",
				       json_object_new_string(rq->path));
	/* Extension members (RFC 9457 3.2), after the standard ones. */
	if (members) {
		json_object_object_foreach(members, key, val)
			json_object_object_add(o, key, json_object_get(val));
		json_object_put(members);
	}
	if (p == PROB_UNAUTHORIZED && !hname) {
		hname = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
		hval = "Bearer";
	}
	/* Every 503, whatever its type: the spec promises the header. */
	if (problems[p].status == MHD_HTTP_SERVICE_UNAVAILABLE && !hname) {
		snprintf(retry, sizeof(retry), "%u", retry_after_s(rq, p));
		hname = MHD_HTTP_HEADER_RETRY_AFTER;
		hval = retry;
	}
	return queue_json(rq, problems[p].status, "application/problem+json", o,
			  hname, hval);
}

enum MHD_Result http_reply_problem(struct http_req *rq, enum http_problem p,
				   const char *fmt, ...)
{
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	ret = problem(rq, p, NULL, NULL, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

enum MHD_Result http_reply_problem_ext(struct http_req *rq, enum http_problem p,
				       struct json_object *members,
				       const char *fmt, ...)
{
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	ret = problem(rq, p, NULL, NULL, members, fmt, ap);
	va_end(ap);
	return ret;
}

static enum MHD_Result problem_hdr(struct http_req *rq, enum http_problem p,
				   const char *hname, const char *hval,
				   const char *fmt, ...)
{
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	ret = problem(rq, p, hname, hval, NULL, fmt, ap);
	va_end(ap);
	return ret;
}

enum MHD_Result http_reply_method(struct http_req *rq, const char *allow)
{
	return problem_hdr(rq, PROB_METHOD, MHD_HTTP_HEADER_ALLOW, allow,
			   "%s is not supported on %s", rq->method, rq->path);
}

enum MHD_Result http_reply_redirect(struct http_req *rq, const char *location,
				    const char *fmt, ...)
{
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	ret = problem(rq, PROB_STANDBY, MHD_HTTP_HEADER_LOCATION, location,
		      NULL, fmt, ap);
	va_end(ap);
	return ret;
}
