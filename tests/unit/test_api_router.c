// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master's API routing (famfsd/master/api/router.c) with the real
 * replies (famfsd/http/reply.c) and bearer tokens (famfsd/master/tokens.c),
 * every handler replaced by a recorder: which handler a method and path
 * reach and with which raw rest of the path, which get 404 or 405 (with
 * Allow, HEAD wherever GET), and which token roles each route admits (401,
 * 403), in that order. The tables follow api/openapi.yaml; a route change
 * is a table row.
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
#include <unistd.h>
#include <cmocka.h>

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
static void dispatch(const char *method, const char *path, const char *token)
{
	static char auth[512];
	struct http_req rq = { .m = &m, .method = method };

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
	/* Nothing else. */
	NOT_FOUND("GET", "/"),
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
	{ "GET", "/v1/files/tA/f", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "PUT", "/v1/files/tA/f", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "DELETE", "/v1/files/tA/f", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "GET", "/v1/dirs/tA", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "PUT", "/v1/dirs/tA", NO_TOKEN, OK, OK, BAD_ROLE },
	{ "DELETE", "/v1/dirs/tA", NO_TOKEN, OK, OK, BAD_ROLE },
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_404_and_405_need_no_token),
		cmocka_unit_test(test_overlong_segment),
		cmocka_unit_test(test_roles),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
