// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The API's pure rules (famfsd/master/api/json.c) with the real replies
 * (famfsd/http/reply.c): which paths and segments a URL may name and what
 * they decode to, which paths a token's tenant may act on, which bodies
 * are one JSON object with no key named twice, and the problem document
 * (status, type, detail, Retry-After) each operation errno becomes. The
 * expected mapping is the one master.h documents and api/openapi.yaml
 * lists; a change of rule is a table row.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "httpstub.h"
#include "master/api/api.h"

/* ---- what json.o calls beyond json.c and reply.c ---------------------------- */

void master_why_set(struct master_why *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

const char *master_agent_state(const struct master *m,
			       const struct master_agent *ag, uint64_t mono_ns)
{
	(void)m;
	(void)ag;
	(void)mono_ns;
	fail_msg("master_agent_state: not part of these tests");
	return NULL;
}

const char *http_arg(const struct http_req *rq, const char *name)
{
	(void)rq;
	(void)name;
	return NULL;
}

/* ---- paths ------------------------------------------------------------------ */

static char long_path[FAMFS_PATH_MAX + 8];

/* n bytes of 255-byte components ("aaa/aaa/..."), NUL terminated. */
static char *path_of(size_t n)
{
	for (size_t i = 0; i < n; i++)
		long_path[i] = i % 256 == 255 ? '/' : 'a';
	long_path[n] = '\0';
	return long_path;
}

static void test_path_decode_accepts(void **state)
{
	static const struct { const char *raw, *path; } ok[] = {
		{ "", "" },			/* the root */
		{ "/", "" },			/* the root, one trailing '/' */
		{ "a", "a" },
		{ "a/", "a" },
		{ "a/b/c", "a/b/c" },
		{ "a%20b", "a b" },
		{ "a b", "a b" },
		{ "%41%62", "Ab" },
		{ "caf%C3%A9", "caf\xc3\xa9" },
		{ "caf%c3%a9", "caf\xc3\xa9" },
		{ "caf\xc3\xa9", "caf\xc3\xa9" },
		{ "x%25y", "x%y" },
		{ "...", "..." },
		{ ".a/a.", ".a/a." },
		{ "%2e%2e%2e", "..." },
	};
	char out[FAMFS_PATH_MAX + 2];
	struct master_why w;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		len = 12345;
		w.msg[0] = '\0';
		if (api_path_decode(ok[i].raw, out, &len, &w) != 0)
			fail_msg("'%s' refused: %s", ok[i].raw, w.msg);
		assert_string_equal(out, ok[i].path);
		assert_int_equal(len, strlen(ok[i].path));
	}
	/* The longest path: 4095 bytes, with or without a trailing '/'. */
	assert_int_equal(api_path_decode(path_of(FAMFS_PATH_MAX), out, &len, &w), 0);
	assert_int_equal(len, FAMFS_PATH_MAX);
	strcat(long_path, "/");
	assert_int_equal(api_path_decode(long_path, out, &len, &w), 0);
	assert_int_equal(len, FAMFS_PATH_MAX);
}

static void test_path_decode_refuses(void **state)
{
	static const struct { const char *raw, *why; } bad[] = {
		{ "/a", "empty path component" },
		{ "a//b", "empty path component" },
		{ "a//", "empty path component" },
		{ "//", "empty path component" },
		{ "%2F", "encoded '/'" },
		{ "a%2fb", "encoded '/'" },
		{ "%00", "NUL" },
		{ "a%00b", "NUL" },
		{ "%", "bad percent-encoding" },
		{ "a%4", "bad percent-encoding" },
		{ "%zz", "bad percent-encoding" },
		{ "%g1", "bad percent-encoding" },
		{ "%1g", "bad percent-encoding" },
		{ ".", "'.' or '..'" },
		{ "..", "'.' or '..'" },
		{ "a/../b", "'.' or '..'" },
		{ "a/.", "'.' or '..'" },
		{ "%2e%2E", "'.' or '..'" },	/* encoded, still '..' */
		{ "%FF", "not valid UTF-8" },
		{ "a/%C3", "not valid UTF-8" },
		{ "%C0%AF", "not valid UTF-8" },	/* overlong '/' */
		{ "\xff", "not valid UTF-8" },
	};
	char out[FAMFS_PATH_MAX + 2];
	struct master_why w;
	size_t len;
	char name[FAMFS_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		w.msg[0] = '\0';
		len = 12345;
		if (api_path_decode(bad[i].raw, out, &len, &w) != -EINVAL)
			fail_msg("'%s' accepted as '%s'", bad[i].raw, out);
		if (!strstr(w.msg, bad[i].why))
			fail_msg("'%s': reason '%s', want '%s'", bad[i].raw,
				 w.msg, bad[i].why);
		assert_int_equal(len, 12345);	/* untouched on refusal */
	}
	memset(name, 'n', FAMFS_NAME_MAX + 1);
	name[FAMFS_NAME_MAX + 1] = '\0';
	assert_int_equal(api_path_decode(name, out, &len, &w), -EINVAL);
	assert_non_null(strstr(w.msg, "longer than 255"));
	name[FAMFS_NAME_MAX] = '\0';
	assert_int_equal(api_path_decode(name, out, &len, &w), 0);
	/* One byte over the limit, and far over it. */
	strcat(path_of(FAMFS_PATH_MAX), "b");
	assert_int_equal(api_path_decode(long_path, out, &len, &w), -EINVAL);
	assert_non_null(strstr(w.msg, "path longer than 4095 bytes"));
	strcpy(long_path + FAMFS_PATH_MAX + 1, "xxxxx");
	assert_int_equal(api_path_decode(long_path, out, &len, &w), -EINVAL);
}

/* One segment of a URL (tenant name, agent id) into a bounded buffer. */
static void test_segment_decode(void **state)
{
	char out[8];
	struct master_why w;

	(void)state;
	assert_int_equal(api_segment_decode("tA", out, sizeof(out), &w), 0);
	assert_string_equal(out, "tA");
	assert_int_equal(api_segment_decode("t%41%2d1", out, sizeof(out), &w), 0);
	assert_string_equal(out, "tA-1");
	assert_int_equal(api_segment_decode("", out, sizeof(out), &w), 0);
	assert_string_equal(out, "");
	assert_int_equal(api_segment_decode("abcdefg", out, sizeof(out), &w), 0);
	assert_int_equal(api_segment_decode("abcdefgh", out, sizeof(out), &w),
			 -EINVAL);
	assert_int_equal(api_segment_decode("abcdef%41", out, sizeof(out), &w), 0);
	assert_string_equal(out, "abcdefA");
	assert_int_equal(api_segment_decode("a%2Fb", out, sizeof(out), &w), -EINVAL);
	assert_non_null(strstr(w.msg, "encoded '/'"));
	assert_int_equal(api_segment_decode("a%00", out, sizeof(out), &w), -EINVAL);
	assert_int_equal(api_segment_decode("a%0", out, sizeof(out), &w), -EINVAL);
}

/* A tenant acts on its top-level directory and below; admin anywhere. */
static void test_path_allowed(void **state)
{
	static const struct { enum auth_role role; const char *path; bool ok; } c[] = {
		{ AUTH_ADMIN, "", true },
		{ AUTH_ADMIN, "tB/x", true },
		{ AUTH_TENANT, "tA", true },
		{ AUTH_TENANT, "tA/x", true },
		{ AUTH_TENANT, "tA/x/y", true },
		{ AUTH_TENANT, "", false },		/* the root */
		{ AUTH_TENANT, "tAx", false },
		{ AUTH_TENANT, "tAx/y", false },
		{ AUTH_TENANT, "t", false },
		{ AUTH_TENANT, "tB", false },
		{ AUTH_TENANT, "tB/tA", false },
		{ AUTH_TENANT, "TA", false },
		{ AUTH_AGENT, "tA", false },
		{ AUTH_AGENT, "", false },
	};
	struct auth_ident who = { .tenant = "tA" };
	struct http_req rq = { .who = &who };

	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		who.role = c[i].role;
		if (api_path_allowed(&rq, c[i].path, strlen(c[i].path)) != c[i].ok)
			fail_msg("role %d on '%s': %s, want %s",
				 (int)c[i].role, c[i].path,
				 c[i].ok ? "refused" : "allowed",
				 c[i].ok ? "allowed" : "refused");
	}
	/* The length given, not the NUL, bounds the path. */
	who.role = AUTH_TENANT;
	assert_true(api_path_allowed(&rq, "tA/more", 2));
	assert_false(api_path_allowed(&rq, "tAx", 3));
}

/* ---- problems ------------------------------------------------------------------ */

static void reply_err(const char *path, int err, const char *why)
{
	static struct master m;		/* reply.c counts the status in it */
	struct http_req rq = { .m = &m, .method = "PUT" };

	m.cfg.lease_seconds = 7;	/* a fenced master's Retry-After */
	struct master_why w;

	rq.path = (char *)path;
	stub_reset();
	snprintf(w.msg, sizeof(w.msg), "%s", why ? why : "");
	assert_int_equal(api_reply_err(&rq, err, why ? &w : NULL), MHD_YES);
	assert_int_equal(reply.queued, 1);
	assert_string_equal(stub_reply_header(MHD_HTTP_HEADER_CONTENT_TYPE),
			    "application/problem+json");
}

static void test_errno_to_problem(void **state)
{
	/* retry: the Retry-After every 503 carries, NULL for none. */
	static const struct {
		int err;
		unsigned int status;
		const char *type, *retry;
	} map[] = {
		{ EINVAL, 400, "validation", NULL },
		{ EPERM, 403, "forbidden", NULL },
		{ EACCES, 403, "forbidden", NULL },
		{ ENOENT, 404, "not-found", NULL },
		{ EEXIST, 409, "conflict", NULL },
		{ ENOTEMPTY, 409, "conflict", NULL },
		{ ENOTDIR, 409, "conflict", NULL },
		{ EISDIR, 409, "conflict", NULL },
		{ ESTALE, 409, "conflict", NULL },
		{ ERANGE, 409, "conflict", NULL },
		{ ENOBUFS, 503, "log-full", "60" },
		{ ESHUTDOWN, 503, "fenced", "7" },	/* the lease period */
		{ EDQUOT, 507, "quota-exceeded", NULL },
		{ ENOSPC, 507, "pool-full", NULL },
		{ EIO, 500, "internal", NULL },
		{ ENOMEM, 500, "internal", NULL },
		{ EUCLEAN, 500, "internal", NULL },
	};
	char type[128], status[8];

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		snprintf(type, sizeof(type), "https://famfsd.dev/problems/%s",
			 map[i].type);
		snprintf(status, sizeof(status), "%u", map[i].status);
		/* The operation's reason is the detail ... */
		reply_err("/v1/files/a", -map[i].err, "the reason");
		if (reply.status != map[i].status)
			fail_msg("%s: %u, want %u", strerror(map[i].err),
				 reply.status, map[i].status);
		assert_string_equal(stub_body_string("type"), type);
		assert_string_equal(stub_body_string("status"), status);
		assert_string_equal(stub_body_string("detail"), "the reason");
		assert_string_equal(stub_body_string("instance"), "/v1/files/a");
		assert_true(strlen(stub_body_string("title")) > 0);
		/* ... and without one, the errno's text. */
		reply_err("/v1/files/a", -map[i].err, NULL);
		assert_int_equal(reply.status, map[i].status);
		assert_string_equal(stub_body_string("detail"), strerror(map[i].err));
		/* Only a 401 asks for credentials. */
		assert_null(stub_reply_header(MHD_HTTP_HEADER_WWW_AUTHENTICATE));
		if (map[i].retry)
			assert_string_equal(stub_reply_header(
				MHD_HTTP_HEADER_RETRY_AFTER), map[i].retry);
		else
			assert_null(stub_reply_header(MHD_HTTP_HEADER_RETRY_AFTER));
	}
}

/* ---- request bodies ------------------------------------------------------ */

static const char *const body_fields[] = { "size", "mode", "devices", NULL };

/* api_body() on text; the detail it gave in why (on -EINVAL). */
static int body(const char *text, char *why, size_t size)
{
	static struct master m;
	struct http_req rq = { .m = &m, .method = "PUT" };
	struct master_why w = { { 0 } };
	struct json_object *o = NULL;
	int r;

	rq.body = (char *)text;
	rq.body_len = strlen(text);
	stub_reset();
	stub_header(MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	r = api_body(&rq, true, body_fields, &o, &w);
	assert_int_equal(reply.queued, 0);
	assert_true(r == 0 ? o != NULL : o == NULL);
	json_object_put(o);
	snprintf(why, size, "%s", w.msg);
	return r;
}

/* json-c keeps the last of two members of a name: they must be refused. */
static void test_body_duplicate_keys(void **state)
{
	static const char *const dup[] = {
		"{\"size\":1,\"size\":2000000}",
		"{\"size\":1,\"size\":1}",
		"{\"size\":1,\"si\\u007ae\":2}",		/* one key, escaped */
		" { \"size\" : 1 ,\n\"mode\":1, \"size\" : 2 } ",
		"{\"devices\":{\"a\":1,\"a\":2}}",
		"{\"devices\":[{\"a\":1},{\"b\":[{\"c\":1,\"c\":{}}]}]}",
		"{\"devices\":{\"a\":{\"x\":[1,2]},\"a\":null}}",
		"{\"devices\":{\"\":1,\"\":2}}",
	};
	static const char *const fine[] = {
		"{\"size\":1}",
		"{\"size\":1,\"mode\":2}",
		/* The same key in two objects; ':' '{' '\"' in strings. */
		"{\"devices\":[{\"a\":1},{\"a\":2}],\"size\":1}",
		"{\"devices\":{\"a:b\":\"x:y\",\"q\\\":\":\"}\\\\\"}}",
		"{\"devices\":{\"k\":\"a\\\":b\"}}",	/* an escaped quote */
		"{\"devices\":{\"a\":null,\"b\":[null,{}],\"\":[]}}",
		"{\"devices\":{}}",
	};
	char why[512];

	(void)state;
	for (size_t i = 0; i < sizeof(dup) / sizeof(dup[0]); i++) {
		if (body(dup[i], why, sizeof(why)) != -EINVAL)
			fail_msg("accepted: %s", dup[i]);
		assert_non_null(strstr(why, "twice"));
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		if (body(fine[i], why, sizeof(why)) != 0)
			fail_msg("refused: %s (%s)", fine[i], why);
}

/*
 * json-c cuts a key at its first NUL: "size\u0000x" must not pass as
 * "size" (seen while writing fuzz_http: such a body made a file).
 */
static void test_body_key_with_nul(void **state)
{
	static const char *const bad[] = {
		"{\"size\\u0000x\":1}",
		"{\"size\\\\u0000\":1,\"mode\\u0000\" :2}",	/* the second key */
		"{\"\\u0000\":1}",
		"{\"devices\":{\"a\\u0000b\"\n:1}}",
	};
	static const char *const fine[] = {
		"{\"size\":1}",
		"{\"devices\":{\"a\\\\u0000\":1}}",	/* a backslash, then u0000 */
		"{\"devices\":[\"\\u0000\",{\"k\":\"\\u0000\"}]}",	/* values */
	};
	char why[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (body(bad[i], why, sizeof(why)) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(why, "NUL"));
	}
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++)
		if (body(fine[i], why, sizeof(why)) != 0)
			fail_msg("refused: %s (%s)", fine[i], why);
}

/* Only whitespace may follow the object: a NUL byte is no whitespace. */
static void test_body_trailing_bytes(void **state)
{
	static const char ok[] = "{\"size\":1} \t\r\n";
	char text[] = "{\"size\":1}\0";
	static struct master m;
	struct http_req rq = { .m = &m, .method = "PUT", .body = text,
			       .body_len = sizeof(text) - 1 };
	struct master_why w = { { 0 } };
	struct json_object *o = NULL;
	char why[512];

	(void)state;
	assert_int_equal(body(ok, why, sizeof(why)), 0);
	assert_int_equal(body("{\"size\":1} x", why, sizeof(why)), -EINVAL);
	stub_reset();
	assert_int_equal(api_body(&rq, true, body_fields, &o, &w), -EINVAL);
	assert_null(o);
	assert_non_null(strstr(w.msg, "after the JSON value"));
}

/* Bytes that are not UTF-8 never reach the JSON document. */
static void test_problem_stays_utf8(void **state)
{
	(void)state;
	reply_err("/v1/files/caf\xc3\xa9", -ENOENT, "no 'x\xffy' here");
	assert_string_equal(stub_body_string("detail"), "no 'x?y' here");
	assert_string_equal(stub_body_string("instance"), "/v1/files/caf\xc3\xa9");
	reply_err("/v1/files/x\xff", -ENOENT, "caf\xc3\xa9 gone");
	assert_string_equal(stub_body_string("detail"), "caf\xc3\xa9 gone");
	assert_string_equal(stub_body_string("instance"), "");	/* left out */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_decode_accepts),
		cmocka_unit_test(test_path_decode_refuses),
		cmocka_unit_test(test_segment_decode),
		cmocka_unit_test(test_path_allowed),
		cmocka_unit_test(test_errno_to_problem),
		cmocka_unit_test(test_body_duplicate_keys),
		cmocka_unit_test(test_body_key_with_nul),
		cmocka_unit_test(test_body_trailing_bytes),
		cmocka_unit_test(test_problem_stays_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
