// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master's API routing (famfsd/master/api/router.c) with the real
 * replies (famfsd/http/reply.c) and bearer tokens (famfsd/master/tokens.c),
 * every handler replaced by a recorder: which handler a method and path
 * reach and with which raw rest of the path, which get 404 or 405 (with
 * Allow, HEAD wherever GET), and which token roles each route admits (401,
 * 403), in that order. The tables follow api/openapi.yaml; a route change
 * is a table row. A standby's answers (famfsd/master/api/standby.c) run
 * against election slots the test makes up (famfs_elect_view() below).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "elect.h"
#include "httpstub.h"
#include "master/api/api.h"
#include "master/tokens.h"

#define ADMIN	"admin-0123456789abcdef"
#define AGENT	"agent-0123456789abcdef"
#define TENANT	"tenant-a-0123456789abcdef"	/* tenant tA */

/* ---- handlers that only say they were called ----------------------------- */

static struct {
	const char *fn;
	char arg[2048];
	int calls;
	enum auth_role role;		/* of the identity the router set */
} hit;

#define HANDLER(name)							\
	enum MHD_Result name(struct http_req *rq, const char *arg)	\
	{								\
		hit.fn = #name;						\
		snprintf(hit.arg, sizeof(hit.arg), "%s", arg);		\
		hit.calls++;						\
		hit.role = rq->who ? rq->who->role : 0;			\
		return MHD_YES;						\
	}

HANDLER(api_get_health)
HANDLER(api_get_metrics)
HANDLER(api_get_pool)
HANDLER(api_post_compact)
HANDLER(api_put_file)
HANDLER(api_post_batch)
HANDLER(api_get_file)
HANDLER(api_delete_file)
HANDLER(api_put_dir)
HANDLER(api_get_dir)
HANDLER(api_delete_dir)
HANDLER(api_list_tenants)
HANDLER(api_get_tenant)
HANDLER(api_put_quota)
HANDLER(api_post_heartbeat)
HANDLER(api_post_heartbeat_legacy)
HANDLER(api_list_agents)
HANDLER(api_delete_agent)
HANDLER(api_list_devices)
HANDLER(api_get_log)
HANDLER(api_get_masters)
HANDLER(api_get_ui)
HANDLER(api_get_root)
/* The page's headers (master/api/ui.c): only their presence is routed. */
const char *const api_ui_headers[] = { "X-Page", "1", NULL };
HANDLER(api_get_whoami)
HANDLER(api_get_pool_map)
HANDLER(api_get_pool_units)

/* ---- the pool's election slots, as the test sets them ------------------- */

static struct famfs_elect_view view;
static int view_err;
static int view_reads;

int famfs_elect_view(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_elect_view *ret)
{
	(void)base;
	(void)ops;
	view_reads++;
	if (view_err)
		return view_err;
	*ret = view;
	return 0;
}

/* ---- a request through api_dispatch() ------------------------------------ */

static struct master m;

static int setup(void **state)
{
	char path[] = "/tmp/famfsd-test-tokens-XXXXXX", why[256] = "";
	static const char text[] = ADMIN " admin\n" AGENT " agent\n"
				   TENANT " tenant tA\n";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
	close(fd);
	if (auth_tokens_load(path, &m.tokens, why, sizeof(why)) < 0)
		fail_msg("tokens: %s", why);
	unlink(path);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	auth_tokens_free(m.tokens);
	return 0;
}

/* Dispatches one request; token NULL sends no Authorization header. */
static void dispatch_q(const char *method, const char *path, char *query,
		       const char *token, bool standby)
{
	static char auth[512];
	struct http_req rq = { .m = &m, .method = method, .query = query,
			       .standby = standby };

	rq.path = strdup(path);
	assert_non_null(rq.path);
	stub_reset();
	memset(&hit, 0, sizeof(hit));
	if (token) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		stub_header(MHD_HTTP_HEADER_AUTHORIZATION, auth);
	}
	assert_int_equal(api_dispatch(&rq), MHD_YES);
	free(rq.path);
	/* Exactly one outcome: a handler, or one reply of the router's. */
	assert_int_equal(hit.calls + reply.queued, 1);
}

static void dispatch(const char *method, const char *path, const char *token)
{
	dispatch_q(method, path, NULL, token, false);
}

static const char *problem_name(void)
{
	const char *type = stub_body_string("type");
	const char *slash = strrchr(type, '/');

	return slash ? slash + 1 : type;
}

/* ---- routes -------------------------------------------------------------- */

/* fn: the handler (arg: the rest it gets); else status, and Allow for 405. */
struct route_case {
	const char *method, *path;
	const char *fn, *arg;
	unsigned int status;
	const char *allow;
};

#define TO(mt, p, fn, arg)	{ mt, p, fn, arg, 0, NULL }
#define NOT_FOUND(mt, p)	{ mt, p, NULL, NULL, 404, NULL }
#define NOT_ALLOWED(mt, p, allow) { mt, p, NULL, NULL, 405, allow }

static const struct route_case routes[] = {
	TO("GET", "/healthz", "api_get_health", ""),
	TO("HEAD", "/healthz", "api_get_health", ""),
	NOT_ALLOWED("POST", "/healthz", "GET, HEAD"),
	NOT_FOUND("GET", "/healthz/"),
	NOT_FOUND("GET", "/healthzz"),
	TO("GET", "/metrics", "api_get_metrics", ""),
	NOT_ALLOWED("PUT", "/metrics", "GET, HEAD"),
	TO("GET", "/v1/pool", "api_get_pool", ""),
	TO("HEAD", "/v1/pool", "api_get_pool", ""),
	NOT_ALLOWED("DELETE", "/v1/pool", "GET, HEAD"),
	NOT_FOUND("GET", "/v1/pool/x"),
	NOT_FOUND("HEAD", "/v1/pool/x"),
	TO("POST", "/v1/pool/compact", "api_post_compact", ""),
	NOT_ALLOWED("GET", "/v1/pool/compact", "POST"),
	NOT_FOUND("POST", "/v1/pool/compact/"),
	TO("GET", "/v1/pool/map", "api_get_pool_map", ""),
	TO("HEAD", "/v1/pool/map", "api_get_pool_map", ""),
	NOT_ALLOWED("POST", "/v1/pool/map", "GET, HEAD"),
	NOT_FOUND("GET", "/v1/pool/map/1"),
	TO("GET", "/v1/pool/units/42", "api_get_pool_units", "42"),
	TO("HEAD", "/v1/pool/units/x", "api_get_pool_units", "x"),
	NOT_ALLOWED("PUT", "/v1/pool/units/42", "GET, HEAD"),
	NOT_FOUND("GET", "/v1/pool/units"),
	NOT_FOUND("GET", "/v1/pool/units/"),
	NOT_FOUND("GET", "/v1/pool/units/1/2"),
	TO("GET", "/v1/whoami", "api_get_whoami", ""),
	TO("HEAD", "/v1/whoami", "api_get_whoami", ""),
	NOT_ALLOWED("DELETE", "/v1/whoami", "GET, HEAD"),
	/* Files and dirs: the raw (still encoded) rest after "prefix/". */
	TO("GET", "/v1/files", "api_get_file", ""),
	TO("GET", "/v1/files/", "api_get_file", ""),
	TO("GET", "/v1/files/a", "api_get_file", "a"),
	TO("HEAD", "/v1/files/a", "api_get_file", "a"),
	TO("PUT", "/v1/files/d/e%20f", "api_put_file", "d/e%20f"),
	TO("DELETE", "/v1/files/a/b/", "api_delete_file", "a/b/"),
	TO("GET", "/v1/files//x", "api_get_file", "/x"),
	NOT_ALLOWED("POST", "/v1/files/a", "GET, HEAD, PUT, DELETE"),
	NOT_FOUND("GET", "/v1/filesx"),
	TO("GET", "/v1/dirs", "api_get_dir", ""),
	TO("GET", "/v1/dirs/", "api_get_dir", ""),
	TO("HEAD", "/v1/dirs", "api_get_dir", ""),
	TO("PUT", "/v1/dirs/x", "api_put_dir", "x"),
	TO("DELETE", "/v1/dirs/x/y", "api_delete_dir", "x/y"),
	NOT_ALLOWED("PATCH", "/v1/dirs/x", "GET, HEAD, PUT, DELETE"),
	/* A batch: one path, POST only. */
	TO("POST", "/v1/batch", "api_post_batch", ""),
	NOT_ALLOWED("GET", "/v1/batch", "POST"),
	NOT_ALLOWED("PUT", "/v1/batch", "POST"),
	NOT_FOUND("POST", "/v1/batch/"),
	NOT_FOUND("POST", "/v1/batchx"),
	/* Tenants: the list, one tenant, its quota. */
	TO("GET", "/v1/tenants", "api_list_tenants", ""),
	NOT_ALLOWED("PUT", "/v1/tenants", "GET, HEAD"),
	TO("GET", "/v1/tenants/tA", "api_get_tenant", "tA"),
	NOT_ALLOWED("DELETE", "/v1/tenants/tA", "GET, HEAD"),
	TO("PUT", "/v1/tenants/tA/quota", "api_put_quota", "tA"),
	NOT_ALLOWED("GET", "/v1/tenants/tA/quota", "PUT"),
	NOT_ALLOWED("HEAD", "/v1/tenants/tA/quota", "PUT"),
	TO("PUT", "/v1/tenants/t%41/quota", "api_put_quota", "t%41"),
	TO("GET", "/v1/tenants/quota", "api_get_tenant", "quota"),
	NOT_FOUND("GET", "/v1/tenants/"),
	NOT_FOUND("GET", "/v1/tenants/tA/"),
	NOT_FOUND("GET", "/v1/tenants/tA/other"),
	NOT_FOUND("PUT", "/v1/tenants/tA/quota/x"),
	/* Agents: the list, heartbeats, eviction of one. */
	TO("GET", "/v1/agents", "api_list_agents", ""),
	NOT_ALLOWED("POST", "/v1/agents", "GET, HEAD"),
	TO("POST", "/v1/agents/h1/heartbeat", "api_post_heartbeat", "h1"),
	TO("POST", "/v1/agents/a%3Ab/heartbeat", "api_post_heartbeat", "a%3Ab"),
	NOT_ALLOWED("GET", "/v1/agents/h1/heartbeat", "POST"),
	NOT_FOUND("POST", "/v1/agents/h1/heartbeat/x"),
	NOT_FOUND("POST", "/v1/agents/h1/heartbeats"),
	/* The path of 0.1, deprecated, beside an agent named "heartbeat"
	 * (issue 11 point 6: its DELETE was 405). */
	TO("POST", "/v1/agents/heartbeat", "api_post_heartbeat_legacy", ""),
	TO("DELETE", "/v1/agents/heartbeat", "api_delete_agent", "heartbeat"),
	NOT_ALLOWED("GET", "/v1/agents/heartbeat", "POST, DELETE"),
	TO("POST", "/v1/agents/heartbeat/heartbeat", "api_post_heartbeat",
	   "heartbeat"),
	TO("DELETE", "/v1/agents/h1", "api_delete_agent", "h1"),
	NOT_ALLOWED("GET", "/v1/agents/h1", "DELETE"),
	NOT_ALLOWED("HEAD", "/v1/agents/h1", "DELETE"),
	NOT_ALLOWED("POST", "/v1/agents/h1", "DELETE"),
	NOT_FOUND("DELETE", "/v1/agents/h1/x"),
	NOT_FOUND("DELETE", "/v1/agents/"),
	TO("GET", "/v1/devices", "api_list_devices", ""),
	TO("GET", "/v1/log", "api_get_log", ""),
	TO("HEAD", "/v1/log", "api_get_log", ""),
	NOT_ALLOWED("POST", "/v1/log", "GET, HEAD"),
	TO("GET", "/v1/masters", "api_get_masters", ""),
	TO("HEAD", "/v1/masters", "api_get_masters", ""),
	NOT_ALLOWED("PUT", "/v1/masters", "GET, HEAD"),
	NOT_FOUND("GET", "/v1/masters/1"),
	TO("GET", "/ui", "api_get_ui", ""),
	TO("GET", "/ui/", "api_get_ui", ""),
	TO("HEAD", "/ui/", "api_get_ui", ""),
	TO("GET", "/ui/app.js", "api_get_ui", "app.js"),
	TO("GET", "/ui/x/y", "api_get_ui", "x/y"),
	NOT_ALLOWED("POST", "/ui/", "GET, HEAD"),
	NOT_ALLOWED("DELETE", "/ui", "GET, HEAD"),
	NOT_FOUND("GET", "/uix"),
	TO("GET", "/", "api_get_root", ""),	/* a 302 to the page */
	NOT_ALLOWED("POST", "/", "GET, HEAD"),
	/* Nothing else. */
	NOT_FOUND("GET", ""),
	NOT_FOUND("GET", "/v1"),
	NOT_FOUND("GET", "/v2/pool"),
	NOT_FOUND("GET", "/V1/pool"),
	NOT_ALLOWED("get", "/v1/pool", "GET, HEAD"),	/* methods are exact */
	NOT_ALLOWED("head", "/v1/pool", "GET, HEAD"),
};

static void check_route(const struct route_case *c, const char *token)
{
	dispatch(c->method, c->path, token);
	if (c->fn) {
		if (!hit.fn)
			fail_msg("%s %s: %u, want %s", c->method, c->path,
				 reply.status, c->fn);
		assert_string_equal(hit.fn, c->fn);
		assert_string_equal(hit.arg, c->arg);
		return;
	}
	if (hit.fn)
		fail_msg("%s %s reached %s, want %u", c->method, c->path,
			 hit.fn, c->status);
	assert_int_equal(reply.status, c->status);
	assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_CONTENT_TYPE),
			    "application/problem+json");
	assert_string_equal(stub_body_string("instance"), c->path);
	/* The page's headers on its errors too, and on nothing else. */
	if (!strncmp(c->path, "/ui", 3) && (!c->path[3] || c->path[3] == '/'))
		assert_string_equal(stub_reply_header("X-Page"), "1");
	else
		assert_null(stub_reply_header("X-Page"));
	if (c->status == 405) {
		assert_string_equal(problem_name(), "method-not-allowed");
		assert_non_null(stub_reply_header(MHD_HTTP_HEADER_ALLOW));
		assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_ALLOW),
				    c->allow);
	} else {
		assert_string_equal(problem_name(), "not-found");
		assert_null(stub_reply_header(MHD_HTTP_HEADER_ALLOW));
	}
}

/* With the admin token, which every route but none admits. */
static void test_routes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		check_route(&routes[i], ADMIN);
}

/* A 404 or 405 is decided before the token is looked at. */
static void test_404_and_405_need_no_token(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (routes[i].fn)
			continue;
		check_route(&routes[i], NULL);
		check_route(&routes[i], "not-a-token-of-this-master");
	}
}

/* A path segment too long for the router's buffer reaches the handler as "". */
static void test_overlong_segment(void **state)
{
	char path[1200] = "/v1/agents/";

	(void)state;
	memset(path + strlen(path), 'a', 1100);
	path[sizeof("/v1/agents/") - 1 + 1100] = '\0';
	dispatch("DELETE", path, ADMIN);
	assert_string_equal(hit.fn, "api_delete_agent");
	assert_string_equal(hit.arg, "");
	path[sizeof("/v1/agents/") - 1 + 1023] = '\0';	/* the largest that fits */
	dispatch("DELETE", path, ADMIN);
	assert_int_equal(strlen(hit.arg), 1023);
}

/* ---- roles --------------------------------------------------------------- */

enum { OK = 0, NO_TOKEN = 401, BAD_ROLE = 403 };

/* For each route: the outcome with no token, admin, tenant, agent. */
static const struct {
	const char *method, *path;
	int none, admin, tenant, agent;
} roles[] = {
	{ "GET", "/healthz", OK, OK, OK, OK },
	{ "HEAD", "/healthz", OK, OK, OK, OK },
	{ "GET", "/metrics", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "GET", "/v1/pool", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "HEAD", "/v1/pool", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "POST", "/v1/pool/compact", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "GET", "/v1/pool/map", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "GET", "/v1/pool/units/0", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "GET", "/v1/whoami", NO_TOKEN, OK, OK, OK },
	{ "HEAD", "/v1/whoami", NO_TOKEN, OK, OK, OK },
	{ "GET", "/v1/files/tA/f", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "PUT", "/v1/files/tA/f", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "DELETE", "/v1/files/tA/f", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "GET", "/v1/dirs/tA", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "PUT", "/v1/dirs/tA", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "DELETE", "/v1/dirs/tA", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "POST", "/v1/batch", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "GET", "/v1/tenants", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "GET", "/v1/tenants/tA", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "PUT", "/v1/tenants/tA/quota", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "GET", "/v1/agents", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "POST", "/v1/agents/h1/heartbeat", NO_TOKEN, OK, BAD_ROLE, OK },
	{ "POST", "/v1/agents/heartbeat", NO_TOKEN, OK, BAD_ROLE, OK },
	{ "DELETE", "/v1/agents/heartbeat", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "DELETE", "/v1/agents/h1", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "GET", "/v1/devices", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
	{ "GET", "/v1/log", NO_TOKEN, OK, BAD_ROLE, OK },
	{ "GET", "/v1/masters", NO_TOKEN, OK, BAD_ROLE, BAD_ROLE },
};

/* open: a route that needs no token, and so never looks one up. */
static void check_role(const char *method, const char *path, const char *token,
		       enum auth_role role, int want, bool open)
{
	dispatch(method, path, token);
	if (want == OK) {
		if (!hit.fn)
			fail_msg("%s %s as %s: %u", method, path,
				 token ? auth_role_name(role) : "nobody",
				 reply.status);
		assert_int_equal(hit.role, open ? 0 : role);
		return;
	}
	if (hit.fn)
		fail_msg("%s %s as %s reached %s", method, path,
			 token ? auth_role_name(role) : "nobody", hit.fn);
	assert_int_equal(reply.status, want);
	if (want == NO_TOKEN) {
		assert_string_equal(problem_name(), "unauthorized");
		assert_string_equal(stub_reply_header(
			MHD_HTTP_HEADER_WWW_AUTHENTICATE), "Bearer");
	} else {
		assert_string_equal(problem_name(), "forbidden");
		assert_null(stub_reply_header(MHD_HTTP_HEADER_WWW_AUTHENTICATE));
	}
}

/* The body limit of method, path with token (NULL: no header). */
static size_t body_max(const char *method, const char *path, const char *token)
{
	static char auth[512];
	struct http_req rq = { .m = &m, .method = method, .path = (char *)path };

	stub_reset();
	if (token) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		stub_header(MHD_HTTP_HEADER_AUTHORIZATION, auth);
	}
	return api_body_max(&rq);
}

/*
 * 8 MiB on POST /v1/batch alone, and only with a token that may batch;
 * every other route and every other token keeps 1 MiB.
 */
static void test_body_max(void **state)
{
	(void)state;
	assert_int_equal(HTTP_BODY_MAX, 1u << 20);
	assert_int_equal(body_max("POST", "/v1/batch", ADMIN), 8u << 20);
	assert_int_equal(body_max("POST", "/v1/batch", TENANT), 8u << 20);
	assert_int_equal(body_max("POST", "/v1/batch", AGENT), HTTP_BODY_MAX);
	assert_int_equal(body_max("POST", "/v1/batch", NULL), HTTP_BODY_MAX);
	assert_int_equal(body_max("POST", "/v1/batch", "not-a-token"),
			 HTTP_BODY_MAX);
	assert_int_equal(body_max("PUT", "/v1/batch", ADMIN), HTTP_BODY_MAX);
	assert_int_equal(body_max("POST", "/v1/batch/", ADMIN), HTTP_BODY_MAX);
	assert_int_equal(body_max("POST", "/v1/batchx", ADMIN), HTTP_BODY_MAX);
	assert_int_equal(body_max("PUT", "/v1/files/a", ADMIN), HTTP_BODY_MAX);
	assert_int_equal(body_max("POST", "/v1/agents/h/heartbeat", AGENT),
			 HTTP_BODY_MAX);
}

static void test_roles(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const char *mt = roles[i].method, *p = roles[i].path;
		bool open = roles[i].none == OK;

		check_role(mt, p, NULL, 0, roles[i].none, open);
		check_role(mt, p, ADMIN, AUTH_ADMIN, roles[i].admin, open);
		check_role(mt, p, TENANT, AUTH_TENANT, roles[i].tenant, open);
		check_role(mt, p, AGENT, AUTH_AGENT, roles[i].agent, open);
		/* A token the master does not know is no token at all. */
		if (!open) {
			check_role(mt, p, ADMIN "x", 0, NO_TOKEN, open);
			assert_string_equal(stub_body_string("detail"),
					    "unknown bearer token");
		}
	}
	dispatch("GET", "/v1/pool", NULL);
	assert_string_equal(stub_body_string("detail"), "missing bearer token");
	dispatch("GET", "/v1/pool", TENANT);
	assert_string_equal(stub_body_string("detail"),
			    "tenant tokens may not GET /v1/pool");
}

/* ---- a standby ------------------------------------------------------------ */

/* Which requests a standby hands on, decided from method and path alone. */
static void test_standby_redirects(void **state)
{
	static const struct {
		const char *method, *path;
		bool standby;
	} cases[] = {
		{ "PUT", "/v1/files/a", true },
		{ "DELETE", "/v1/files/a", true },
		{ "GET", "/v1/files/a", true },
		{ "HEAD", "/v1/dirs", true },
		{ "GET", "/v1/tenants", true },
		{ "POST", "/v1/agents/h1/heartbeat", true },
		{ "GET", "/v1/log", true },
		{ "GET", "/v1/pool", false },	/* this process's view */
		{ "HEAD", "/v1/pool", false },
		{ "PUT", "/v1/pool", true },
		{ "POST", "/v1/pool/compact", true },
		{ "POST", "/v1/batch", true },
		{ "GET", "/v1/no-such-thing", true },	/* the active one says 404 */
		{ "PUT", "/v1/masters", true },		/* ... and 405 */
		{ "GET", "/v1/masters", false },
		{ "HEAD", "/v1/masters", false },
		{ "GET", "/v1/masters/", true },
		{ "GET", "/healthz", false },
		{ "GET", "/metrics", false },
		{ "GET", "/v1", false },
		{ "GET", "/", false },
		{ "GET", "/ui", true },		/* the page: same-origin there */
		{ "GET", "/ui/", true },
		{ "HEAD", "/ui/app.js", true },
		{ "GET", "/uix", false },
	};
	struct http_req rq = { .m = &m };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rq.method = cases[i].method;
		rq.path = (char *)cases[i].path;
		atomic_store(&m.active, false);
		if (api_standby_redirects(&rq) != cases[i].standby)
			fail_msg("standby: %s %s", rq.method, rq.path);
		atomic_store(&m.active, true);
		if (api_standby_redirects(&rq))
			fail_msg("active: %s %s redirected", rq.method, rq.path);
	}
	atomic_store(&m.active, false);
}

static uint8_t fake_pool_bytes[64];
static struct famfs_pool fake_pool = { .base = fake_pool_bytes };

/* Slot i (index) as a live slot of host h, state s, address url. */
static void slot_set(int i, enum famfs_elect_state s, const char *h,
		     uint32_t pid, const char *url)
{
	struct famfs_elect_slot_info *si = &view.slot[i];

	memset(si, 0, sizeof(*si));
	si->slot = (unsigned int)i;
	si->state = s;
	si->pid = pid;
	si->epoch = 7;
	si->lease_ns = 2000000000ull;
	snprintf(si->host, sizeof(si->host), "%s", h);
	snprintf(si->url, sizeof(si->url), "%s", url);
	view.status[i] = 0;
	if (s == FAMFS_ELECT_ACTIVE) {
		view.active = i;
		view.epoch = 7;
		snprintf(view.url, sizeof(view.url), "%s", url);
		snprintf(view.host, sizeof(view.host), "%s", h);
	}
}

static int standby_setup(void **state)
{
	(void)state;
	memset(&view, 0, sizeof(view));
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
		view.status[i] = -ENOENT;
	view.active = -1;
	view_err = 0;
	snprintf(m.host, sizeof(m.host), "h1");
	m.pool = &fake_pool;
	atomic_store(&m.active, false);
	/* We are slot 1 (index 0), a standby at :7471. */
	slot_set(0, FAMFS_ELECT_STANDBY, "h1", (uint32_t)getpid(),
		 "http://10.0.0.1:7471");
	return 0;
}

static int standby_teardown(void **state)
{
	(void)state;
	m.pool = NULL;
	return 0;
}

/* The 307: the active master's address with the raw path and query. */
static void test_standby_307(void **state)
{
	char query[] = "limit=5&cursor=a%2Cb";

	(void)state;
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "http://10.0.0.2:7470");
	dispatch_q("PUT", "/v1/files/d/e%20f", NULL, NULL, true);
	assert_int_equal(reply.status, 307);
	assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_LOCATION),
			    "http://10.0.0.2:7470/v1/files/d/e%20f");
	assert_string_equal(problem_name(), "standby");
	assert_non_null(strstr(stub_body_string("detail"),
			       "slot 2 on host h2 at http://10.0.0.2:7470"));
	dispatch_q("GET", "/v1/dirs/x", query, ADMIN, true);
	assert_int_equal(reply.status, 307);
	assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_LOCATION),
			    "http://10.0.0.2:7470/v1/dirs/x?limit=5&cursor=a%2Cb");
	/* An address with a path of its own keeps it. */
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "https://m2.example:8443/api");
	dispatch_q("DELETE", "/v1/files/a", NULL, TENANT, true);
	assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_LOCATION),
			    "https://m2.example:8443/api/v1/files/a");
}

static void check_not_active(const char *detail)
{
	dispatch_q("PUT", "/v1/files/a", NULL, ADMIN, true);
	assert_int_equal(reply.status, 503);
	assert_string_equal(problem_name(), "not-active");
	assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_RETRY_AFTER), "1");
	assert_null(stub_reply_header(MHD_HTTP_HEADER_LOCATION));
	if (!strstr(stub_body_string("detail"), detail))
		fail_msg("detail '%s', want '%s'", stub_body_string("detail"),
			 detail);
}

/* 503 not-active wherever a 307 would go nowhere or back to us. */
static void test_standby_not_active(void **state)
{
	(void)state;
	check_not_active("no master is active: an election is in progress");
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "");
	check_not_active("the active master, slot 2 on host h2, advertises "
			 "no address");
	/* Its address is ours (a copied configuration): no loop. */
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "HTTP://10.0.0.1:7471/");
	check_not_active("advertises this master's own address");
	/* Our own slot is the active one: we are between two states. */
	slot_set(1, FAMFS_ELECT_STANDBY, "h2", 4242, "http://10.0.0.2:7470");
	slot_set(0, FAMFS_ELECT_ACTIVE, "h1", (uint32_t)getpid(),
		 "http://10.0.0.1:7471");
	check_not_active("this master (slot 1) is taking over");
	/* Slots that cannot be read. */
	view_err = -EIO;
	check_not_active("cannot read the election slots");
	view_err = 0;
	/* Before the pool is open. */
	m.pool = NULL;
	check_not_active("cannot read the election slots");
	m.pool = &fake_pool;
}

/*
 * An active slot whose heartbeat stays unchanged past one and a half
 * renewals: paused or dead, so no address to send anyone to. The decision
 * itself, then through the router with the heartbeat seen over time.
 */
static void test_standby_quiet_active(void **state)
{
	struct timespec pause = { .tv_nsec = 5 * 1000000L };
	char url[64], why[512];

	(void)state;
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "http://10.0.0.2:7470");
	assert_int_equal(api_standby_quiet_ns(2000000000ull), 750000000ull);
	assert_int_equal(api_standby_target(&view, 0, NULL, 750000000ull, url,
					    sizeof(url), why, sizeof(why)), 0);
	assert_string_equal(url, "http://10.0.0.2:7470");
	assert_int_equal(api_standby_target(&view, 0, NULL, 750000001ull, url,
					    sizeof(url), why, sizeof(why)),
			 -EAGAIN);
	assert_non_null(strstr(why, "slot 2 on host h2, has not renewed its "
			       "lease for 0.8 s"));
	/* A 4 ms lease: quiet past 1.5 ms. First sight is a change. */
	view.slot[1].lease_ns = 4000000ull;
	view.slot[1].heartbeat = 100;
	dispatch_q("GET", "/v1/pool", NULL, ADMIN, true);
	assert_int_equal(reply.status, 307);
	nanosleep(&pause, NULL);
	check_not_active("has not renewed its lease");
	/* It renews: redirected again. */
	view.slot[1].heartbeat++;
	dispatch_q("GET", "/v1/pool", NULL, ADMIN, true);
	assert_int_equal(reply.status, 307);
}

/* master_active_url(): the address, or -ENOENT / -ENAMETOOLONG. */
static void test_active_url(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(master_active_url(&m, buf, sizeof(buf)), -ENOENT);
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "");
	assert_int_equal(master_active_url(&m, buf, sizeof(buf)), -ENOENT);
	slot_set(1, FAMFS_ELECT_ACTIVE, "h2", 4242, "http://10.0.0.2:7470");
	assert_int_equal(master_active_url(&m, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "http://10.0.0.2:7470");
	assert_int_equal(master_active_url(&m, buf, 10), -ENAMETOOLONG);
	m.pool = NULL;
	assert_int_equal(master_active_url(&m, buf, sizeof(buf)), -ENOENT);
	m.pool = &fake_pool;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_404_and_405_need_no_token),
		cmocka_unit_test(test_overlong_segment),
		cmocka_unit_test(test_body_max),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_standby_redirects),
		cmocka_unit_test_setup_teardown(test_standby_307, standby_setup,
						standby_teardown),
		cmocka_unit_test_setup_teardown(test_standby_not_active,
						standby_setup, standby_teardown),
		cmocka_unit_test_setup_teardown(test_standby_quiet_active,
						standby_setup, standby_teardown),
		cmocka_unit_test_setup_teardown(test_active_url, standby_setup,
						standby_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
