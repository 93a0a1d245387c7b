/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the HTTP fuzz target (fuzz_http.c) and its seed generator
 * (mkseed_http.c) agree on: the input's layout, the tokens of the test
 * master's token file, and the request templates.
 *
 * An input is up to FZH_MAX_REQ requests separated by FZH_SEP. A request
 * is FZH_CTL control bytes, a line (up to the first '\n') and a body (the
 * rest):
 *   ctl[0]  bits 0-2: method, fzh_methods[ctl[0] % FZH_N_METHODS];
 *           bits 3-6: the body's size, FZH_SIZE() below; bit 7
 *           (FZH_CONCURRENT) on a connection's first request: that
 *           connection is sent before the replies of those before it
 *           are read, so their requests are in flight at once
 *   ctl[1]  Authorization header, fzh_auth[(ctl[1] & ~FZH_RELOAD) %
 *           FZH_N_AUTH]; with FZH_RELOAD on a connection's first request,
 *           the master gets a SIGHUP (a reload of its token file) once
 *           that connection is sent
 *   ctl[2]  route template, fzh_routes[ctl[2] % FZH_N_ROUTES]: the line up
 *           to its first '?' goes between the template's prefix and
 *           suffix, the '?' and what follows after the suffix; FZR_TARGET
 *           takes the line as the whole request target, FZR_BYTES sends
 *           line, '\n' and body to the socket exactly as they are
 *   ctl[3]  FZF_* flags (framing, headers, which connection)
 * The harness writes the request line, Host, Authorization, Content-Type
 * and Content-Length (or chunked framing) itself, so the mutator spends
 * its time on paths, queries, tokens and JSON bodies rather than on
 * keeping the framing right; FZR_BYTES and the flags reach the rest.
 */
#ifndef FAMFSD_FUZZ_HTTP_H
#define FAMFSD_FUZZ_HTTP_H

#define FZH_SEP		"\n=====\n"
#define FZH_CTL		4u
#define FZH_MAX_REQ	8u
#define FZH_CONCURRENT	0x80u		/* in ctl[0] */
#define FZH_RELOAD	0x80u		/* in ctl[1] */

enum { FZM_GET, FZM_HEAD, FZM_PUT, FZM_POST, FZM_DELETE, FZM_OPTIONS,
       FZM_PATCH, FZM_LOWER_GET };

static const char *const fzh_methods[] = {
	[FZM_GET] = "GET", [FZM_HEAD] = "HEAD", [FZM_PUT] = "PUT",
	[FZM_POST] = "POST", [FZM_DELETE] = "DELETE", [FZM_OPTIONS] = "OPTIONS",
	[FZM_PATCH] = "PATCH", [FZM_LOWER_GET] = "get",
};
#define FZH_N_METHODS	(sizeof(fzh_methods) / sizeof(fzh_methods[0]))

/* The test master's token file (every token 16 bytes or more). */
#define FZH_TOK_ADMIN	"fuzz-admin-0123456789abcdef"
#define FZH_TOK_T1	"fuzz-tenant-one-0123456789"
#define FZH_TOK_T2	"fuzz-tenant-two-0123456789"
#define FZH_TOK_AGENT	"fuzz-agent-0123456789abcdef"
#define FZH_TENANT1	"t1"
#define FZH_TENANT2	"t2"

enum {
	FZA_NONE, FZA_ADMIN, FZA_T1, FZA_T2, FZA_AGENT, FZA_UNKNOWN,
	FZA_EMPTY, FZA_BASIC, FZA_NO_SCHEME, FZA_LOWER, FZA_TRAILING,
	FZA_SHORT, FZA_TWO_SPACES,
};

/* Authorization header values; NULL: none sent. */
static const char *const fzh_auth[] = {
	[FZA_NONE] = NULL,
	[FZA_ADMIN] = "Bearer " FZH_TOK_ADMIN,
	[FZA_T1] = "Bearer " FZH_TOK_T1,
	[FZA_T2] = "Bearer " FZH_TOK_T2,
	[FZA_AGENT] = "Bearer " FZH_TOK_AGENT,
	/* Well formed, not in the file. */
	[FZA_UNKNOWN] = "Bearer fuzz-unknown-0123456789abcdef",
	[FZA_EMPTY] = "Bearer ",
	[FZA_BASIC] = "Basic ZnV6ejpmdXp6",
	[FZA_NO_SCHEME] = FZH_TOK_ADMIN,
	[FZA_LOWER] = "bearer " FZH_TOK_ADMIN,
	[FZA_TRAILING] = "Bearer " FZH_TOK_ADMIN " ",
	[FZA_SHORT] = "Bearer fuzz-admin-0123456789abcde",
	[FZA_TWO_SPACES] = "Bearer  " FZH_TOK_ADMIN,
};
#define FZH_N_AUTH	(sizeof(fzh_auth) / sizeof(fzh_auth[0]))

enum {
	FZR_TARGET,		/* the line is the whole request target */
	FZR_BYTES,		/* line, '\n', body: sent as they are */
	FZR_HEALTHZ, FZR_METRICS, FZR_POOL, FZR_COMPACT, FZR_FILES, FZR_DIRS,
	FZR_TENANTS, FZR_QUOTA, FZR_TENANT, FZR_AGENTS, FZR_HEARTBEAT,
	FZR_HEARTBEAT_OLD, FZR_AGENT, FZR_DEVICES, FZR_LOG, FZR_BATCH,
	FZR_MAP, FZR_UNITS, FZR_WHOAMI,
};

struct fzh_route {
	const char *prefix, *suffix;
};

/* Every path of api/openapi.yaml; the line fills the {parameter}. */
static const struct fzh_route fzh_routes[] = {
	[FZR_TARGET] = { "", "" },
	[FZR_BYTES] = { "", "" },
	[FZR_HEALTHZ] = { "/healthz", "" },
	[FZR_METRICS] = { "/metrics", "" },
	[FZR_POOL] = { "/v1/pool", "" },
	[FZR_COMPACT] = { "/v1/pool/compact", "" },
	[FZR_FILES] = { "/v1/files/", "" },
	[FZR_DIRS] = { "/v1/dirs/", "" },
	[FZR_TENANTS] = { "/v1/tenants", "" },
	[FZR_QUOTA] = { "/v1/tenants/", "/quota" },
	[FZR_TENANT] = { "/v1/tenants/", "" },
	[FZR_AGENTS] = { "/v1/agents", "" },
	[FZR_HEARTBEAT] = { "/v1/agents/", "/heartbeat" },
	[FZR_HEARTBEAT_OLD] = { "/v1/agents/heartbeat", "" },
	[FZR_AGENT] = { "/v1/agents/", "" },
	[FZR_DEVICES] = { "/v1/devices", "" },
	[FZR_LOG] = { "/v1/log", "" },
	[FZR_BATCH] = { "/v1/batch", "" },
	[FZR_MAP] = { "/v1/pool/map", "" },
	[FZR_UNITS] = { "/v1/pool/units/", "" },
	[FZR_WHOAMI] = { "/v1/whoami", "" },
};
#define FZH_N_ROUTES	(sizeof(fzh_routes) / sizeof(fzh_routes[0]))

/* ctl[3] */
enum {
	FZF_SAME_CONN	= 1u << 0,	/* pipelined after the previous request */
	FZF_CTYPE_MASK	= 3u << 1,	/* Content-Type, below */
	FZF_CHUNKED	= 1u << 3,	/* Transfer-Encoding: chunked, 2 chunks */
	FZF_EXPECT	= 1u << 4,	/* Expect: 100-continue */
	FZF_HTTP10	= 1u << 5,	/* HTTP/1.0 */
	/* bits 6 and 7: not used */
};

/*
 * ctl[0] bits 3-6: the body's size. FZS_AT_LIMIT pads it with spaces to
 * exactly the body limit (1 MiB), FZS_OVER_LIMIT to one byte more, and
 * FZS_ABSURD announces a 17 MiB Content-Length and sends only the body;
 * the other values leave it as it is (a megabyte costs some 10 ms: three
 * values in sixteen are enough).
 */
#define FZH_SIZE(ctl0)	(((ctl0) >> 3) & 15u)
#define FZH_SIZE_BITS(size)	((size) << 3)
enum { FZS_ABSURD = 13, FZS_AT_LIMIT = 14, FZS_OVER_LIMIT = 15 };

static const char *const fzh_ctypes[] = {
	"application/json", NULL, "application/json; charset=utf-8",
	"text/plain",
};

#endif
