/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The master's HTTP server (libmicrohttpd) and the reply helpers every API
 * handler uses. A request is collected (headers, then a body of at most
 * api_body_max() bytes: HTTP_BODY_MAX but on the routes that say more)
 * before api_dispatch() sees it; each dispatch ends in exactly one
 * http_reply_*() or an http_suspend() (long poll).
 */
#ifndef FAMFSD_HTTP_H
#define FAMFSD_HTTP_H

#include <json-c/json.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "master/tokens.h"
#include "master/master.h"

#define HTTP_BODY_MAX		(1u << 20)
#define HTTP_PROBLEM_BASE	"https://famfsd.dev/problems/"
/* Retry-After of a 503 log-full (seconds). */
#define HTTP_RETRY_LOG_FULL_S	60u
/* Retry-After of a 503 not-active: an election takes about a lease. */
#define HTTP_RETRY_NOT_ACTIVE_S	1u

/* RFC 9457 problem types; the stable names are in api/openapi.yaml. */
enum http_problem {
	PROB_VALIDATION,
	PROB_UNAUTHORIZED,
	PROB_FORBIDDEN,
	PROB_NOT_FOUND,
	PROB_METHOD,
	PROB_CONFLICT,
	PROB_TOO_LARGE,
	PROB_INTERNAL,
	PROB_LOG_FULL,
	PROB_FENCED,
	PROB_QUOTA,
	PROB_POOL_FULL,
	PROB_STANDBY,		/* 307: the body of a standby's redirect */
	PROB_NOT_ACTIVE,	/* 503: a standby that cannot redirect */
};

struct http_req {
	struct master *m;
	struct MHD_Connection *conn;
	const char *method;
	char *path;			/* raw, still percent-encoded */
	char *query;			/* raw, or NULL */
	char *body;			/* NUL terminated */
	size_t body_len, body_cap;
	size_t body_max;		/* api_body_max(), once the headers are in */
	bool started, too_large;
	/*
	 * A standby's request it does not serve (api_standby_redirects()):
	 * decided once the headers are in; its body is read and dropped,
	 * never stored, and the reply is a 307 or a 503 not-active.
	 */
	bool standby;
	size_t dropped;			/* body bytes dropped so far */
	uint64_t start_ns;		/* CLOCK_MONOTONIC, request line seen */
	const struct auth_ident *who;	/* set by the router: &ident or NULL */
	/* Name, value pairs, NULL ended, added to every reply: the route's
	 * (router.c), or NULL. */
	const char *const *headers;
	struct auth_ident ident;	/* the token's, copied at lookup */
	int poll;			/* long-poll phase (master/api/feed.c) */
	bool waits_compaction;		/* waiter is on master/compact.c's list */
	struct feed_waiter waiter;
};

struct http_server;

/*
 * Starts serving cfg.listen, or the listening socket systemd passed in
 * (socket activation: LISTEN_FDS); logs why not on failure.
 */
int http_server_start(struct master *m, struct http_server **ret);
/*
 * Stops accepting connections and waits up to timeout_ms for the requests
 * in progress to be answered (call after master_feed_stop(), which answers
 * the parked long polls). Safe with NULL.
 */
void http_server_drain(struct http_server *s, unsigned int timeout_ms);
void http_server_stop(struct http_server *s);
unsigned int http_server_port(const struct http_server *s);
/* The connection guard's gauges and counters, Prometheus text. */
void http_server_metrics(struct http_server *s, FILE *f);

/* Header and query values (query values percent-decoded), or NULL. */
const char *http_header(const struct http_req *rq, const char *name);
const char *http_arg(const struct http_req *rq, const char *name);

/* The replies. Each queues one response; o and buf are consumed. */
enum MHD_Result http_reply_json(struct http_req *rq, unsigned int status,
				struct json_object *o);
enum MHD_Result http_reply_text(struct http_req *rq, unsigned int status,
				const char *content_type, char *buf,
				size_t len);
/*
 * Bytes of static storage (never freed, never copied), with a content
 * type (NULL: none) and one extra header (hname NULL: none).
 */
enum MHD_Result http_reply_static(struct http_req *rq, unsigned int status,
				  const char *content_type, const void *data,
				  size_t len, const char *hname,
				  const char *hval);
__attribute__((format(printf, 3, 4)))
enum MHD_Result http_reply_problem(struct http_req *rq, enum http_problem p,
				   const char *fmt, ...);
/*
 * The same with extension members (an object, consumed; NULL: none)
 * added after type, title, status, detail and instance.
 */
__attribute__((format(printf, 4, 5)))
enum MHD_Result http_reply_problem_ext(struct http_req *rq, enum http_problem p,
				       struct json_object *members,
				       const char *fmt, ...);
/* 405 with an Allow header. */
enum MHD_Result http_reply_method(struct http_req *rq, const char *allow);
/* 307 to location (the problem PROB_STANDBY says why in its detail). */
__attribute__((format(printf, 3, 4)))
enum MHD_Result http_reply_redirect(struct http_req *rq, const char *location,
				    const char *fmt, ...);

/*
 * Long poll: parks the connection (no thread waits) until http_resume();
 * the request is then dispatched again. Only from inside a dispatch.
 */
void http_suspend(struct http_req *rq);
void http_resume(struct http_req *rq);

/* master/api/router.c: routes one complete request. */
enum MHD_Result api_dispatch(struct http_req *rq);
/*
 * The largest body the request's route (method, raw path) takes from its
 * token, once the headers are in: HTTP_BODY_MAX but where a route says
 * more.
 */
size_t api_body_max(const struct http_req *rq);
/*
 * master/api/masters.c: true when this master is a standby and the request
 * (method and raw path) is one it hands to the active master. Once the
 * headers are in, before any of the body.
 */
bool api_standby_redirects(const struct http_req *rq);

#endif
