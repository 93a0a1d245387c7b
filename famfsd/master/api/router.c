// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Routing and authorization. A request's raw path and method pick a route's
 * handler (405 with Allow otherwise); then the bearer token must
 * exist (401) and its role must be one the handler accepts (403). All of
 * this happens before any handler looks anything up, so a 403 never tells
 * whether a path exists. Tenant scoping of paths happens in the handlers,
 * right after they decode the path and before they take the state lock.
 */
#include <stdio.h>
#include <string.h>

#include "master/api/api.h"

#define ANY_USER (AUTH_ADMIN | AUTH_TENANT)
#define ANY_TOKEN (AUTH_ADMIN | AUTH_TENANT | AUTH_AGENT)

enum match {
	M_EXACT,		/* the path itself */
	M_TREE,			/* prefix, prefix/ or prefix/anything */
	M_SEGMENT,		/* prefix/one-segment */
	M_SUB,			/* prefix/one-segment + suffix */
};

struct api_method {
	const char *method;
	unsigned int roles;	/* 0: no token needed */
	api_handler_fn fn;
};

struct api_route {
	const char *prefix;
	enum match match;
	const char *suffix;	/* M_SUB only: "/quota", "/heartbeat" */
	struct api_method methods[3];
};

/*
 * A request takes the first route that matches its path and has its
 * method, so two routes can share a path: the deprecated POST
 * /v1/agents/heartbeat lives beside DELETE /v1/agents/{agent_id}, and
 * DELETE /v1/agents/heartbeat still evicts an agent of that name. A path
 * that matches only routes without the method is 405, and Allow lists
 * the methods of all of them (HEAD wherever GET is: it runs GET's handler
 * and libmicrohttpd sends the headers only).
 */
static const struct api_route routes[] = {
	{ "/healthz", M_EXACT, NULL, {
		{ "GET", 0, api_get_health } } },
	{ "/metrics", M_EXACT, NULL, {
		{ "GET", AUTH_ADMIN, api_get_metrics } } },
	{ "/v1/pool", M_EXACT, NULL, {
		{ "GET", AUTH_ADMIN, api_get_pool } } },
	{ "/v1/pool/compact", M_EXACT, NULL, {
		{ "POST", AUTH_ADMIN, api_post_compact } } },
	{ "/v1/pool/map", M_EXACT, NULL, {
		{ "GET", ANY_USER, api_get_pool_map } } },
	{ "/v1/pool/units", M_SEGMENT, NULL, {
		{ "GET", ANY_USER, api_get_pool_units } } },
	{ "/v1/whoami", M_EXACT, NULL, {
		{ "GET", ANY_TOKEN, api_get_whoami } } },
	{ "/v1/files", M_TREE, NULL, {
		{ "GET", ANY_USER, api_get_file },
		{ "PUT", ANY_USER, api_put_file },
		{ "DELETE", ANY_USER, api_delete_file } } },
	{ "/v1/dirs", M_TREE, NULL, {
		{ "GET", ANY_USER, api_get_dir },
		{ "PUT", ANY_USER, api_put_dir },
		{ "DELETE", ANY_USER, api_delete_dir } } },
	{ "/v1/batch", M_EXACT, NULL, {
		{ "POST", ANY_USER, api_post_batch } } },
	{ "/v1/tenants", M_EXACT, NULL, {
		{ "GET", ANY_USER, api_list_tenants } } },
	{ "/v1/tenants", M_SUB, "/quota", {
		{ "PUT", AUTH_ADMIN, api_put_quota } } },
	{ "/v1/tenants", M_SEGMENT, NULL, {
		{ "GET", ANY_USER, api_get_tenant } } },
	{ "/v1/agents", M_EXACT, NULL, {
		{ "GET", AUTH_ADMIN, api_list_agents } } },
	{ "/v1/agents", M_SUB, "/heartbeat", {
		{ "POST", AUTH_ADMIN | AUTH_AGENT, api_post_heartbeat } } },
	/* Deprecated in 0.2, for agents of 0.1; goes in the next release. */
	{ "/v1/agents/heartbeat", M_EXACT, NULL, {
		{ "POST", AUTH_ADMIN | AUTH_AGENT, api_post_heartbeat_legacy } } },
	{ "/v1/agents", M_SEGMENT, NULL, {
		{ "DELETE", AUTH_ADMIN, api_delete_agent } } },
	{ "/v1/devices", M_EXACT, NULL, {
		{ "GET", AUTH_ADMIN, api_list_devices } } },
	{ "/v1/log", M_EXACT, NULL, {
		{ "GET", AUTH_ADMIN | AUTH_AGENT, api_get_log } } },
	{ "/v1/masters", M_EXACT, NULL, {
		{ "GET", AUTH_ADMIN, api_get_masters } } },
	{ "/ui", M_TREE, NULL, {
		{ "GET", 0, api_get_ui } } },
	{ "/", M_EXACT, NULL, {
		{ "GET", 0, api_get_root } } },
};

#define N_ROUTES	(sizeof(routes) / sizeof(routes[0]))
#define N_METHODS	(sizeof(routes[0].methods) / sizeof(routes[0].methods[0]))

/*
 * Matches path against a route; *ret_arg gets the raw rest: everything
 * after "prefix/" for M_TREE (pointing into path), the segment (copied into
 * buf, "" when it does not fit) for M_SEGMENT and M_SUB.
 */
static bool match(const struct api_route *r, const char *path,
		  const char **ret_arg, char *buf, size_t size)
{
	size_t pl = strlen(r->prefix);
	const char *rest, *slash;
	size_t n;

	if (strncmp(path, r->prefix, pl) != 0)
		return false;
	rest = path + pl;
	if (r->match == M_EXACT) {
		*ret_arg = rest;
		return *rest == '\0';
	}
	if (r->match == M_TREE) {
		if (*rest && *rest != '/')
			return false;
		*ret_arg = rest + (*rest == '/');
		return true;
	}
	if (*rest != '/' || !rest[1])
		return false;
	rest++;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (r->match == M_SEGMENT ? slash != NULL : !slash ||
	    strcmp(slash, r->suffix) != 0)
		return false;
	if (n >= size)
		n = 0;
	memcpy(buf, rest, n);
	buf[n] = '\0';
	*ret_arg = buf;
	return true;
}

/* The route's handler for method, or NULL; HEAD is served as GET. */
static const struct api_method *find_method(const struct api_route *r,
					    const char *method)
{
	bool head = strcmp(method, "HEAD") == 0;

	for (size_t k = 0; k < N_METHODS && r->methods[k].method; k++) {
		const char *mm = r->methods[k].method;

		if (strcmp(mm, method) == 0 || (head && strcmp(mm, "GET") == 0))
			return &r->methods[k];
	}
	return NULL;
}

/* "GET, HEAD, PUT": the methods of every route matching path. */
static void allow_list(const char *path, char *out, size_t size)
{
	char seg[1024];
	const char *arg;
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < N_ROUTES; i++) {
		const struct api_route *r = &routes[i];

		if (!match(r, path, &arg, seg, sizeof(seg)))
			continue;
		for (size_t k = 0; k < N_METHODS && r->methods[k].method; k++) {
			const char *mm = r->methods[k].method;
			bool get = strcmp(mm, "GET") == 0;

			/* Two routes share a path at most: it always fits. */
			len += (size_t)snprintf(out + len, size - len, "%s%s%s",
						len ? ", " : "", mm,
						get ? ", HEAD" : "");
			if (len >= size)
				return;
		}
	}
}

/* False when it replied 401 or 403 (*reply holds the result). */
static bool authorize(struct http_req *rq, const struct api_method *am,
		      enum MHD_Result *reply)
{
	const char *hdr;

	if (!am->roles)
		return true;
	hdr = http_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
	rq->who = hdr && auth_lookup(rq->m->tokens, hdr, &rq->ident) ?
		  &rq->ident : NULL;
	if (!rq->who) {
		*reply = http_reply_problem(rq, PROB_UNAUTHORIZED, "%s",
					    hdr ? "unknown bearer token" :
						  "missing bearer token");
		return false;
	}
	if (!(rq->who->role & am->roles)) {
		*reply = http_reply_problem(rq, PROB_FORBIDDEN,
					    "%s tokens may not %s %s",
					    auth_role_name(rq->who->role),
					    rq->method, rq->path);
		return false;
	}
	return true;
}

/*
 * Routes that describe or change the pool's contents, or report positions
 * in its log: refused while the pool has changed underneath the master
 * (master/pool_watch.c), whose memory holds a pool that is gone. What
 * says so (GET /v1/pool, /metrics, /healthz) and what touches no pool
 * (the agent list, eviction, devices, the feed) stays.
 */
static bool of_the_pool(const struct api_route *r)
{
	static const char *const prefixes[] = {
		"/v1/files", "/v1/dirs", "/v1/batch", "/v1/tenants",
		"/v1/pool/compact", "/v1/pool/map", "/v1/pool/units",
		"/v1/agents/heartbeat",
	};

	if (r->suffix && strcmp(r->suffix, "/heartbeat") == 0)
		return true;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strcmp(r->prefix, prefixes[i]) == 0)
			return true;
	return false;
}

/* The web page's: its security headers on every reply, 404 and 405 too. */
static bool of_the_page(const struct api_route *r)
{
	return strcmp(r->prefix, "/ui") == 0;
}

static enum MHD_Result reply_pool_changed(struct http_req *rq)
{
	char why[sizeof(rq->m->fence_why)];

	master_lock(rq->m);
	snprintf(why, sizeof(why), "%s", rq->m->fenced ? rq->m->fenced : "");
	master_unlock(rq->m);
	return http_reply_problem(rq, PROB_FENCED, "the master is fenced: %s",
				  why);
}

size_t api_body_max(const struct http_req *rq)
{
	const char *hdr;
	struct auth_ident who;

	/* A job's whole set: 65,536 creates with 80-byte paths. */
	if (strcmp(rq->method, "POST") != 0 || strcmp(rq->path, "/v1/batch") != 0)
		return HTTP_BODY_MAX;
	/*
	 * Held in memory before the router runs: the larger limit only for
	 * a token that may send a batch, so a client without one cannot
	 * make every connection hold 8 MiB.
	 */
	hdr = http_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!hdr || !auth_lookup(rq->m->tokens, hdr, &who) ||
	    !(who.role & ANY_USER))
		return HTTP_BODY_MAX;
	return API_BATCH_BODY_MAX;
}

enum MHD_Result api_dispatch(struct http_req *rq)
{
	char seg[1024];		/* segments: tenant names, agent ids */
	char allow[128];
	enum MHD_Result reply;
	bool matched = false;
	const char *arg;

	/* A standby's: decided with the headers (http/server.c). */
	if (rq->standby)
		return api_reply_standby(rq);
	for (size_t i = 0; i < N_ROUTES; i++) {
		const struct api_route *r = &routes[i];
		const struct api_method *am;

		if (!match(r, rq->path, &arg, seg, sizeof(seg)))
			continue;
		matched = true;
		if (of_the_page(r))
			rq->headers = api_ui_headers;
		am = find_method(r, rq->method);
		if (!am)
			continue;
		if (!authorize(rq, am, &reply))
			return reply;
		if (atomic_load(&rq->m->fence_kind) == FENCE_POOL_CHANGED &&
		    of_the_pool(r))
			return reply_pool_changed(rq);
		return am->fn(rq, arg);
	}
	if (!matched)
		return http_reply_problem(rq, PROB_NOT_FOUND,
					  "no such resource: %s", rq->path);
	allow_list(rq->path, allow, sizeof(allow));
	return http_reply_method(rq, allow);
}
