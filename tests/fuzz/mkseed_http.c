// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Writes the HTTP fuzz target's seed corpus into DIR (the layout is
 * fuzz_http.h's): every operation of api/openapi.yaml with a body of its
 * schema and each kind of token (the role it needs, a role it does not,
 * none, malformed), paths that decode and paths that must not, the
 * framings the flags choose, and sequences that build state and then use
 * it (a tenant's quota, then its files; an agent's heartbeat, then the
 * devices list and its eviction; a long poll woken by a create).
 *
 * usage: mkseed_http DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famfsd_format.h"
#include "fuzz_http.h"

struct seed_req {
	unsigned char method, auth, route, flags;
	const char *line, *body;
};

#define CT_NONE		(1u << 1)
#define CT_CHARSET	(2u << 1)
#define CT_TEXT		(3u << 1)
#define SAME		FZF_SAME_CONN

#define HB_BODY(id) "{\"agent_id\":\"" id "\",\"host\":\"h1\",\"address\":" \
	"\"10.0.0.1:7471\",\"applied_seq\":0,\"generation\":1,\"open_inos\":[]}"
#define INVENTORY "{\"memdevs\":[{\"memdev\":\"mem0\",\"serial\":1," \
	"\"host\":\"0000:0d:00.0\",\"ram_size\":0,\"pmem_size\":268435456," \
	"\"numa_node\":0,\"regions\":[\"region0\"]}],\"regions\":[{\"region\":" \
	"\"region0\",\"type\":\"pmem\",\"resource\":4294967296,\"size\":" \
	"268435456,\"interleave_ways\":1,\"interleave_granularity\":256," \
	"\"decode_state\":\"commit\",\"mappings\":[{\"position\":0,\"memdev\":" \
	"\"mem0\"}]}],\"namespaces\":[{\"dev\":\"namespace0.0\",\"mode\":" \
	"\"devdax\",\"size\":266338304,\"nd_region\":\"region0\",\"region\":" \
	"\"region0\"}],\"dax_regions\":[{\"id\":0,\"size\":266338304,\"align\":" \
	"2097152,\"region\":\"region0\",\"namespace\":\"namespace0.0\"," \
	"\"devices\":[\"dax0.0\"]}],\"dax_devices\":[{\"chardev\":\"dax0.0\"," \
	"\"size\":266338304,\"align\":2097152,\"mode\":\"devdax\",\"memdevs\":" \
	"[\"mem0\"],\"path\":\"/dev/dax0.0\",\"pool_capable\":true,\"problems\":[]}]}"

#define R(m, a, r, f, l, b) { FZM_##m, FZA_##a, FZR_##r, f, l, b }
/* The same with a body of size FZS_<z>. */
#define S(z, m, a, r, f, l, b) \
	{ FZM_##m | FZH_SIZE_BITS(FZS_##z), FZA_##a, FZR_##r, f, l, b }
/* The same, its connection in flight with the ones before it. */
#define C(m, a, r, f, l, b) \
	{ FZM_##m | FZH_CONCURRENT, FZA_##a, FZR_##r, f, l, b }

struct seed {
	const char *name;
	struct seed_req reqs[FZH_MAX_REQ];
};

static const struct seed seeds[] = {
	{ "healthz", { R(GET, NONE, HEALTHZ, 0, "", "") } },
	{ "healthz-head", { R(HEAD, NONE, HEALTHZ, 0, "", "") } },
	{ "healthz-post", { R(POST, NONE, HEALTHZ, 0, "", "") } },
	{ "metrics", { R(GET, ADMIN, METRICS, 0, "", "") } },
	{ "metrics-tenant", { R(GET, T1, METRICS, 0, "", "") } },
	{ "metrics-none", { R(GET, NONE, METRICS, 0, "", "") } },
	{ "pool", { R(GET, ADMIN, POOL, 0, "", "") } },
	{ "pool-agent", { R(GET, AGENT, POOL, 0, "", "") } },
	{ "pool-unknown", { R(GET, UNKNOWN, POOL, 0, "", "") } },
	{ "pool-lower", { R(GET, LOWER, POOL, 0, "", "") } },
	{ "pool-trailing", { R(GET, TRAILING, POOL, 0, "", "") } },
	{ "pool-short", { R(GET, SHORT, POOL, 0, "", "") } },
	{ "pool-basic", { R(GET, BASIC, POOL, 0, "", "") } },
	{ "compact", { R(POST, ADMIN, COMPACT, 0, "", "") } },
	{ "compact-after-files", {
		R(PUT, ADMIN, FILES, 0, "c1", "{\"size\":65536}"),
		R(DELETE, ADMIN, FILES, SAME, "c1", ""),
		R(POST, ADMIN, COMPACT, 0, "", ""),
		R(GET, ADMIN, POOL, 0, "", "") } },
	{ "file-put", { R(PUT, ADMIN, FILES, 0, "b",
		"{\"size\":4096,\"mode\":420,\"uid\":1000,\"gid\":1000}") } },
	{ "file-put-tenant", {
		R(PUT, ADMIN, DIRS, 0, "t1", ""),
		R(PUT, T1, FILES, 0, "t1/data", "{\"size\":131072,\"tenant\":\"t1\"}"),
		R(PUT, T1, FILES, 0, "t1/other", "{\"size\":1,\"tenant\":\"t2\"}"),
		R(GET, T1, FILES, 0, "t1/data", "") } },
	{ "file-put-other-tenant", { R(PUT, T1, FILES, 0, "t2/data",
		"{\"size\":1}") } },
	{ "file-put-agent", { R(PUT, AGENT, FILES, 0, "x", "{\"size\":1}") } },
	{ "file-put-text", { R(PUT, ADMIN, FILES, CT_TEXT, "x", "{\"size\":1}") } },
	{ "file-put-charset", { R(PUT, ADMIN, FILES, CT_CHARSET, "x",
		"{\"size\":1}") } },
	{ "file-put-no-ctype", { R(PUT, ADMIN, FILES, CT_NONE, "x",
		"{\"size\":1}") } },
	{ "file-put-dup-key", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\":1,\"size\":2000000}") } },
	{ "file-put-unknown-key", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\":1,\"colour\":\"red\"}") } },
	{ "file-put-nul-key", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\\u0000x\":1}") } },
	{ "file-put-trailing", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\":1} \r\n{}") } },
	{ "file-put-bad-utf8", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\":1,\"tenant\":\"\xc3\x28\"}") } },
	{ "file-put-escapes", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"\\u0073ize\":1,\"tenant\":\"a\\\"b\\u00e9\"}") } },
	{ "file-put-huge-size", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\":18446744073709551615}") } },
	{ "file-put-negative", { R(PUT, ADMIN, FILES, 0, "x",
		"{\"size\":-1,\"mode\":1e3}") } },
	{ "file-put-chunked", { R(PUT, ADMIN, FILES, FZF_CHUNKED, "chunked",
		"{\"size\":8192}") } },
	{ "file-put-expect", { R(PUT, ADMIN, FILES, FZF_EXPECT, "expect",
		"{\"size\":8192}") } },
	{ "file-put-http10", { R(PUT, ADMIN, FILES, FZF_HTTP10, "old",
		"{\"size\":8192}") } },
	{ "file-put-at-limit", { S(AT_LIMIT, PUT, ADMIN, FILES, 0, "pad",
		"{\"size\":1}") } },
	{ "file-put-over-limit", { S(OVER_LIMIT, PUT, ADMIN, FILES, 0, "pad",
		"{\"size\":1}") } },
	{ "file-put-chunked-over-limit", { S(OVER_LIMIT, PUT, ADMIN, FILES,
		FZF_CHUNKED, "pad", "{\"size\":1}") } },
	{ "file-put-absurd-length", { S(ABSURD, PUT, ADMIN, FILES, 0, "pad",
		"{\"size\":1}") } },
	{ "file-get", {
		R(PUT, ADMIN, DIRS, 0, "g", ""),
		R(PUT, ADMIN, FILES, 0, "g/f", "{\"size\":65536}"),
		R(GET, ADMIN, FILES, 0, "g/f", ""),
		R(HEAD, ADMIN, FILES, SAME, "g/f", ""),
		R(GET, T1, FILES, 0, "g/f", "") } },
	{ "file-delete", {
		R(PUT, ADMIN, DIRS, 0, "d", ""),
		R(PUT, ADMIN, FILES, 0, "d/f", "{\"size\":65536}"),
		R(DELETE, ADMIN, FILES, 0, "d/f", ""),
		R(DELETE, ADMIN, FILES, 0, "d/f", ""),
		R(DELETE, ADMIN, DIRS, 0, "d", "") } },
	{ "file-delete-dir", {
		R(PUT, ADMIN, DIRS, 0, "dd", ""),
		R(DELETE, ADMIN, FILES, 0, "dd", "") } },
	{ "path-encoded", { R(GET, ADMIN, FILES, 0, "a%2Fb", "") } },
	{ "path-nul", { R(GET, ADMIN, FILES, 0, "a%00b", "") } },
	{ "path-bad-percent", { R(GET, ADMIN, FILES, 0, "a%4", "") } },
	{ "path-utf8", { R(PUT, ADMIN, FILES, 0, "%E2%82%AC%C3%A9",
		"{\"size\":1}") } },
	{ "path-dots", { R(GET, ADMIN, FILES, 0, "a/../b/./c", "") } },
	{ "path-empty-component", { R(GET, ADMIN, FILES, 0, "a//b", "") } },
	{ "path-trailing-slash", { R(GET, ADMIN, DIRS, 0, "a/", "") } },
	{ "path-tenant-prefix", { R(GET, T1, FILES, 0, "t10/x", "") } },
	{ "path-tenant-encoded", { R(GET, T1, FILES, 0, "%74%31/x", "") } },
	{ "path-long", { R(GET, ADMIN, FILES, 0,
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "") } },
	{ "files-root", { R(GET, ADMIN, FILES, 0, "", "") } },
	{ "files-no-slash", { R(GET, ADMIN, TARGET, 0, "/v1/files", "") } },
	{ "files-method", { R(PATCH, ADMIN, FILES, 0, "x", "{}") } },
	{ "files-options", { R(OPTIONS, NONE, FILES, 0, "x", "") } },
	{ "files-lower-method", { R(LOWER_GET, ADMIN, FILES, 0, "x", "") } },
	{ "dir-put", { R(PUT, ADMIN, DIRS, 0, "p",
		"{\"mode\":493,\"uid\":1,\"gid\":2}") } },
	{ "dir-put-empty", { R(PUT, ADMIN, DIRS, 0, "e", "") } },
	{ "dir-list", {
		R(PUT, ADMIN, DIRS, 0, "l", ""),
		R(PUT, ADMIN, FILES, SAME, "l/1", "{\"size\":1}"),
		R(PUT, ADMIN, FILES, SAME, "l/2", "{\"size\":1}"),
		R(PUT, ADMIN, DIRS, SAME, "l/3", ""),
		R(GET, ADMIN, DIRS, 0, "l?limit=2", ""),
		R(GET, ADMIN, DIRS, 0, "l?limit=2&cursor=2", ""),
		R(GET, ADMIN, DIRS, 0, "?limit=1000&cursor=1", ""),
		R(DELETE, ADMIN, DIRS, 0, "l", "") } },
	{ "dir-list-bad-query", { R(GET, ADMIN, DIRS, 0,
		"?limit=0&cursor=-1&limit=x", "") } },
	{ "dir-list-encoded-query", { R(GET, ADMIN, DIRS, 0,
		"?limit=%31%30&cursor=+1", "") } },
	{ "dir-tenant", {
		R(PUT, T2, DIRS, 0, "t2", ""),
		R(PUT, T2, FILES, 0, "t2/f", "{\"size\":1,\"tenant\":\"t2\"}"),
		R(GET, T2, DIRS, 0, "t2", ""),
		R(GET, T2, DIRS, 0, "", ""),
		R(DELETE, T1, DIRS, 0, "t2", "") } },
	{ "whoami", { R(GET, ADMIN, WHOAMI, 0, "", "") } },
	{ "whoami-tenant", { R(GET, T1, WHOAMI, 0, "", "") } },
	{ "whoami-agent", { R(HEAD, AGENT, WHOAMI, 0, "", "") } },
	{ "whoami-none", { R(GET, NONE, WHOAMI, 0, "", "") } },
	{ "whoami-post", { R(POST, ADMIN, WHOAMI, 0, "", "{}") } },
	{ "map", { R(GET, ADMIN, MAP, 0, "", "") } },
	{ "map-cells", { R(GET, ADMIN, MAP, 0, "?cells=1048576", "") } },
	{ "map-one-cell", { R(HEAD, ADMIN, MAP, 0, "?cells=1", "") } },
	{ "map-bad-cells", { R(GET, ADMIN, MAP, 0,
		"?cells=0&cells=1048577&cells=-1", "") } },
	{ "map-agent", { R(GET, AGENT, MAP, 0, "", "") } },
	{ "map-extra-segment", { R(GET, ADMIN, MAP, 0, "/1", "") } },
	{ "units", { R(GET, ADMIN, UNITS, 0, "0?count=1048576", "") } },
	{ "units-past-end", { R(GET, ADMIN, UNITS, 0,
		"18446744073709551615", "") } },
	{ "units-bad", { R(GET, ADMIN, UNITS, 0, "1e3?count=0", "") } },
	{ "units-overflow", { R(GET, ADMIN, UNITS, 0,
		"18446744073709551616?count=x", "") } },
	{ "units-tenant", { R(GET, T2, UNITS, 0, "0?count=64", "") } },
	{ "map-tenant-files", {
		R(PUT, ADMIN, DIRS, 0, "t1", ""),
		R(PUT, T1, FILES, 0, "t1/m", "{\"size\":131072}"),
		R(PUT, ADMIN, FILES, 0, "elsewhere",
		  "{\"size\":65536,\"tenant\":\"t1\"}"),
		R(PUT, ADMIN, FILES, 0, "t2x", "{\"size\":65536,\"tenant\":\"t2\"}"),
		R(GET, T1, MAP, 0, "?cells=64", ""),
		R(GET, T1, UNITS, 0, "0?count=1048576", ""),
		R(GET, T2, MAP, 0, "", ""),
		R(GET, ADMIN, UNITS, 0, "0?count=100", "") } },
	{ "map-pending", {
		R(PUT, ADMIN, FILES, 0, "p", "{\"size\":65536}"),
		R(POST, AGENT, HEARTBEAT, 0, "ag20", HB_BODY("ag20")),
		R(DELETE, ADMIN, FILES, 0, "p", ""),
		R(GET, ADMIN, MAP, 0, "?cells=4096", ""),
		R(GET, ADMIN, UNITS, 0, "0?count=4", ""),
		R(DELETE, ADMIN, AGENT, 0, "ag20", ""),
		R(GET, ADMIN, MAP, 0, "?cells=4096", "") } },
	{ "map-beside-writes", {
		R(GET, ADMIN, MAP, 0, "", ""),
		C(PUT, ADMIN, FILES, 0, "mw1", "{\"size\":65536}"),
		C(GET, ADMIN, MAP, 0, "?cells=7", ""),
		C(GET, T1, MAP, 0, "", ""),
		C(DELETE, ADMIN, FILES, 0, "mw1", ""),
		C(GET, ADMIN, UNITS, 0, "0?count=16", "") } },
	{ "tenants", { R(GET, ADMIN, TENANTS, 0, "", "") } },
	{ "tenants-as-tenant", { R(GET, T1, TENANTS, 0, "", "") } },
	{ "tenant-get", { R(GET, T1, TENANT, 0, "t1", "") } },
	{ "tenant-get-other", { R(GET, T1, TENANT, 0, "t2", "") } },
	{ "tenant-get-encoded", { R(GET, ADMIN, TENANT, 0, "t%31", "") } },
	{ "quota-put", { R(PUT, ADMIN, QUOTA, 0, "t1",
		"{\"max_bytes\":1048576,\"max_files\":10}") } },
	{ "quota-put-tenant", { R(PUT, T1, QUOTA, 0, "t1",
		"{\"max_bytes\":1,\"max_files\":1}") } },
	{ "quota-put-missing", { R(PUT, ADMIN, QUOTA, 0, "t1",
		"{\"max_bytes\":1}") } },
	{ "quota-then-files", {
		R(PUT, ADMIN, QUOTA, 0, "t1", "{\"max_bytes\":131072,\"max_files\":2}"),
		R(PUT, T1, DIRS, 0, "t1", ""),
		R(PUT, T1, FILES, 0, "t1/a", "{\"size\":65536,\"tenant\":\"t1\"}"),
		R(PUT, T1, FILES, 0, "t1/b", "{\"size\":65536,\"tenant\":\"t1\"}"),
		R(PUT, T1, FILES, 0, "t1/c", "{\"size\":65536,\"tenant\":\"t1\"}"),
		R(GET, T1, TENANT, 0, "t1", ""),
		R(DELETE, T1, FILES, 0, "t1/a", ""),
		R(PUT, ADMIN, QUOTA, 0, "t1", "{\"max_bytes\":0,\"max_files\":0}") } },
	{ "agents", { R(GET, ADMIN, AGENTS, 0, "", "") } },
	{ "heartbeat", { R(POST, AGENT, HEARTBEAT, 0, "ag1", HB_BODY("ag1")) } },
	{ "heartbeat-no-id", { R(POST, AGENT, HEARTBEAT, 0, "ag1",
		"{\"host\":\"h1\",\"address\":\"\",\"applied_seq\":0,"
		"\"generation\":1,\"open_inos\":[]}") } },
	{ "heartbeat-id-mismatch", { R(POST, AGENT, HEARTBEAT, 0, "ag2",
		HB_BODY("ag1")) } },
	{ "heartbeat-tenant", { R(POST, T1, HEARTBEAT, 0, "ag1",
		HB_BODY("ag1")) } },
	{ "heartbeat-open", {
		R(PUT, ADMIN, FILES, 0, "o", "{\"size\":65536}"),
		R(POST, AGENT, HEARTBEAT, 0, "ag3",
		  "{\"host\":\"h3\",\"address\":\"a\",\"applied_seq\":1,"
		  "\"generation\":1,\"open_inos\":[1,2,3,18446744073709551615]}"),
		R(DELETE, ADMIN, FILES, 0, "o", ""),
		R(GET, ADMIN, AGENTS, 0, "", ""),
		R(DELETE, ADMIN, AGENT, 0, "ag3", ""),
		R(GET, ADMIN, POOL, 0, "", "") } },
	{ "heartbeat-future-seq", { R(POST, AGENT, HEARTBEAT, 0, "ag4",
		"{\"host\":\"h\",\"address\":\"\",\"applied_seq\":99999,"
		"\"generation\":1,\"open_inos\":[]}") } },
	{ "heartbeat-devices", {
		R(POST, AGENT, HEARTBEAT, 0, "ag5",
		  "{\"host\":\"h5\",\"address\":\"\",\"applied_seq\":0,"
		  "\"generation\":1,\"open_inos\":[],\"devices\":" INVENTORY "}"),
		R(GET, ADMIN, DEVICES, 0, "", "") } },
	{ "heartbeat-bad-devices", { R(POST, AGENT, HEARTBEAT, 0, "ag6",
		"{\"host\":\"h\",\"address\":\"\",\"applied_seq\":0,"
		"\"generation\":1,\"open_inos\":[],\"devices\":{\"memdevs\":[{}]}}") } },
	{ "heartbeat-legacy", { R(POST, AGENT, HEARTBEAT_OLD, 0, "",
		HB_BODY("ag7")) } },
	{ "heartbeat-legacy-no-id", { R(POST, AGENT, HEARTBEAT_OLD, 0, "",
		"{\"host\":\"h\",\"address\":\"\",\"applied_seq\":0,"
		"\"generation\":1}") } },
	{ "agent-delete", {
		R(POST, ADMIN, HEARTBEAT, 0, "ag8", HB_BODY("ag8")),
		R(DELETE, ADMIN, AGENT, 0, "ag8", ""),
		R(DELETE, ADMIN, AGENT, 0, "ag8", ""),
		R(POST, AGENT, HEARTBEAT, 0, "ag8", HB_BODY("ag8")) } },
	{ "agent-delete-heartbeat-name", { R(DELETE, ADMIN, AGENT, 0,
		"heartbeat", "") } },
	{ "agent-id-encoded", { R(POST, AGENT, HEARTBEAT, 0, "a%2Fb",
		HB_BODY("a/b")) } },
	{ "devices", { R(GET, ADMIN, DEVICES, 0, "", "") } },
	{ "devices-agent", { R(GET, AGENT, DEVICES, 0, "", "") } },
	{ "log", { R(GET, AGENT, LOG, 0, "?after=0", "") } },
	{ "log-bad-query", { R(GET, AGENT, LOG, 0, "?after=abc&wait=61", "") } },
	{ "log-wait", {
		R(PUT, ADMIN, DIRS, 0, "w", ""),
		R(GET, AGENT, LOG, 0, "?after=1&wait=1", "") } },
	{ "log-past-end", { R(GET, AGENT, LOG, 0, "?after=1000&wait=5", "") } },
	{ "concurrent-creates", {
		R(PUT, ADMIN, DIRS, 0, "cc", ""),
		R(PUT, ADMIN, FILES, 0, "cc/1", "{\"size\":65536}"),
		C(PUT, ADMIN, FILES, 0, "cc/2", "{\"size\":65536}"),
		C(DELETE, ADMIN, FILES, 0, "cc/1", ""),
		C(PUT, ADMIN, FILES, 0, "cc/1", "{\"size\":131072}"),
		C(DELETE, ADMIN, DIRS, 0, "cc", ""),
		C(GET, ADMIN, DIRS, 0, "cc", "") } },
	{ "concurrent-poll", {
		R(GET, AGENT, LOG, 0, "?after=0&wait=2", ""),
		C(PUT, ADMIN, DIRS, 0, "cp", ""),
		C(GET, AGENT, LOG, 0, "?after=1&wait=2", ""),
		C(DELETE, ADMIN, DIRS, 0, "cp", "") } },
	{ "concurrent-compact", {
		R(PUT, ADMIN, FILES, 0, "k1", "{\"size\":65536}"),
		R(POST, ADMIN, COMPACT, 0, "", ""),
		C(DELETE, ADMIN, FILES, 0, "k1", ""),
		C(POST, ADMIN, COMPACT, 0, "", ""),
		C(PUT, ADMIN, FILES, 0, "k2", "{\"size\":65536}"),
		C(GET, AGENT, LOG, 0, "?after=2&wait=1", "") } },
	{ "concurrent-heartbeat-evict", {
		R(PUT, ADMIN, FILES, 0, "he", "{\"size\":65536}"),
		R(POST, AGENT, HEARTBEAT, 0, "ag9",
		  "{\"host\":\"h\",\"address\":\"\",\"applied_seq\":1,"
		  "\"generation\":1,\"open_inos\":[2]}"),
		C(DELETE, ADMIN, FILES, 0, "he", ""),
		C(DELETE, ADMIN, AGENT, 0, "ag9", ""),
		C(POST, AGENT, HEARTBEAT, 0, "ag9",
		  "{\"host\":\"h\",\"address\":\"\",\"applied_seq\":2,"
		  "\"generation\":1,\"open_inos\":[]}"),
		C(PUT, ADMIN, FILES, 0, "he", "{\"size\":65536}") } },
	{ "concurrent-quota", {
		R(PUT, ADMIN, DIRS, 0, "t2", ""),
		R(PUT, T2, FILES, 0, "t2/a", "{\"size\":65536}"),
		C(PUT, ADMIN, QUOTA, 0, "t2",
		  "{\"max_bytes\":65536,\"max_files\":1}"),
		C(PUT, T2, FILES, 0, "t2/b", "{\"size\":65536}"),
		C(DELETE, T2, FILES, 0, "t2/a", ""),
		C(GET, T2, TENANT, 0, "t2", "") } },
	{ "reload", {
		R(GET, ADMIN, POOL, 0, "", ""),
		{ FZM_GET | FZH_CONCURRENT, FZA_T1 | FZH_RELOAD, FZR_TENANT, 0,
		  "t1", "" },
		C(POST, AGENT, HEARTBEAT, 0, "ag10", HB_BODY("ag10")),
		C(GET, ADMIN, AGENTS, 0, "", "") } },
	{ "not-found", { R(GET, ADMIN, TARGET, 0, "/v2/files/x", "") } },
	{ "target-star", { R(OPTIONS, NONE, TARGET, 0, "*", "") } },
	{ "target-absolute", { R(GET, NONE, TARGET, 0,
		"http://fuzz/healthz", "") } },
	{ "target-query-only", { R(GET, ADMIN, TARGET, 0, "/v1/pool?", "") } },
	{ "target-percent", { R(GET, ADMIN, TARGET, 0, "/v1/%70ool", "") } },
	/* POST /v1/batch: every kind of op, refusals naming one, retries. */
	{ "batch", { R(POST, ADMIN, BATCH, 0, "",
		"{\"ops\":[{\"op\":\"mkdir\",\"path\":\"j\",\"exist_ok\":true},"
		"{\"op\":\"mkdir\",\"path\":\"j/1\",\"mode\":448,\"uid\":7,"
		"\"gid\":7},{\"op\":\"create\",\"path\":\"j/1/f\",\"size\":65536,"
		"\"mode\":384,\"tenant\":\"t1\"},{\"op\":\"delete\",\"path\":"
		"\"j/0\",\"missing_ok\":true}]}"),
		R(POST, ADMIN, BATCH, SAME, "",
		"{\"ops\":[{\"op\":\"delete\",\"path\":\"j/1/f\"},"
		"{\"op\":\"delete\",\"path\":\"j/1\"},{\"op\":\"create\","
		"\"path\":\"j/1\",\"size\":1}]}"),
		R(GET, ADMIN, DIRS, 0, "j", "") } },
	{ "batch-refused", { R(POST, ADMIN, BATCH, 0, "",
		"{\"ops\":[{\"op\":\"mkdir\",\"path\":\"k\"},{\"op\":\"create\","
		"\"path\":\"k/f\",\"size\":1},{\"op\":\"delete\",\"path\":\"k\"}]}"),
		R(POST, ADMIN, BATCH, SAME, "",
		"{\"ops\":[{\"op\":\"create\",\"path\":\"k/../x\",\"size\":1}]}"),
		R(POST, ADMIN, BATCH, SAME, "",
		"{\"ops\":[{\"op\":\"create\",\"path\":\"n/f\",\"size\":"
		"9223372036854775807}]}") } },
	{ "batch-tenant", {
		R(PUT, ADMIN, QUOTA, 0, FZH_TENANT1, "{\"max_bytes\":0,\"max_files\":1}"),
		R(PUT, ADMIN, DIRS, 0, FZH_TENANT1, ""),
		R(POST, T1, BATCH, 0, "",
		"{\"ops\":[{\"op\":\"create\",\"path\":\"t1/a\",\"size\":1},"
		"{\"op\":\"create\",\"path\":\"t1/b\",\"size\":1}]}"),
		R(POST, T1, BATCH, 0, "",
		"{\"ops\":[{\"op\":\"create\",\"path\":\"t2/a\",\"size\":1,"
		"\"tenant\":\"t2\"}]}") } },
	{ "batch-bad-bodies", {
		R(POST, ADMIN, BATCH, 0, "", "{\"ops\":[]}"),
		R(POST, ADMIN, BATCH, SAME, "", "{\"ops\":[1,{}]}"),
		R(POST, ADMIN, BATCH, SAME, "",
		"{\"ops\":[{\"op\":\"mkdir\",\"path\":\"a\",\"path\":\"b\"}]}"),
		R(POST, ADMIN, BATCH, SAME, "",
		"{\"ops\":[{\"op\":\"rename\",\"path\":\"a\"}],\"x\":1}"),
		R(POST, ADMIN, BATCH, SAME, "",
		"{\"ops\":[{\"op\":\"mkdir\",\"path\":\"a\\u0000\"}]}"),
		R(POST, AGENT, BATCH, 0, "", "{\"ops\":[]}") } },
	{ "batch-large", { S(AT_LIMIT, POST, ADMIN, BATCH, 0, "",
		"{\"ops\":[{\"op\":\"mkdir\",\"path\":\"big\"}]}") } },
	{ "bytes-pipelined", { R(GET, NONE, BYTES, 0,
		"GET /healthz HTTP/1.1\r",
		"Host: x\r\n\r\nGET /v1/pool HTTP/1.1\r\nHost: x\r\nAuthorization: "
		"Bearer " FZH_TOK_ADMIN "\r\nConnection: close\r\n\r\n") } },
	{ "bytes-chunked", { R(GET, NONE, BYTES, 0,
		"PUT /v1/files/raw HTTP/1.1\r",
		"Host: x\r\nAuthorization: Bearer " FZH_TOK_ADMIN "\r\n"
		"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
		"Connection: close\r\n\r\n5\r\n{\"siz\r\n7\r\ne\":4096\r\n1\r\n}\r\n"
		"0\r\n\r\n") } },
	{ "bytes-two-lengths", { R(GET, NONE, BYTES, 0,
		"PUT /v1/files/raw2 HTTP/1.1\r",
		"Host: x\r\nAuthorization: Bearer " FZH_TOK_ADMIN "\r\n"
		"Content-Type: application/json\r\nContent-Length: 12\r\n"
		"Content-Length: 13\r\nConnection: close\r\n\r\n{\"size\":4096}") } },
	{ "bytes-two-tokens", { R(GET, NONE, BYTES, 0,
		"GET /v1/pool HTTP/1.1\r",
		"Host: x\r\nAuthorization: Bearer " FZH_TOK_T1 "\r\n"
		"Authorization: Bearer " FZH_TOK_ADMIN "\r\n"
		"Connection: close\r\n\r\n") } },
	{ "bytes-folded-header", { R(GET, NONE, BYTES, 0,
		"GET /v1/pool HTTP/1.1\r",
		"Host: x\r\nAuthorization: Bearer\r\n " FZH_TOK_ADMIN "\r\n"
		"Connection: close\r\n\r\n") } },
	{ "bytes-garbage", { R(GET, NONE, BYTES, 0, "\x01\x02 / HTTP/9.9\r",
		"\r\n") } },
	{ "bytes-lf-only", { R(GET, NONE, BYTES, 0, "GET /healthz HTTP/1.1",
		"Host: x\nConnection: close\n\n") } },
};

static FILE *create(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f) {
		fprintf(stderr, "mkseed_http: cannot write '%s'\n", path);
		exit(1);
	}
	return f;
}

static void close_seed(FILE *f)
{
	if (fclose(f) != 0) {
		fprintf(stderr, "mkseed_http: cannot write a seed\n");
		exit(1);
	}
}

/* names components of len bytes joined by '/', then tail. */
static void put_long(const char *dir, const char *name, unsigned char method,
		     unsigned char route, unsigned int names, unsigned int len,
		     const char *tail, const char *body)
{
	FILE *f = create(dir, name);

	fputc(method, f);
	fputc(FZA_ADMIN, f);
	fputc(route, f);
	fputc(0, f);
	for (unsigned int i = 0; i < names; i++) {
		if (i)
			fputc('/', f);
		for (unsigned int k = 0; k < len; k++)
			fputc('a' + (int)(i % 26), f);
	}
	fprintf(f, "%s\n%s", tail, body);
	close_seed(f);
}

/* At the limits: path, component, tenant, router segment. */
static int put_limits(const char *dir)
{
	put_long(dir, "path-max", FZM_GET, FZR_FILES, 16, FAMFS_NAME_MAX,
		 "", "");
	put_long(dir, "path-max-slash", FZM_GET, FZR_DIRS, 16, FAMFS_NAME_MAX,
		 "/", "");
	put_long(dir, "path-over-max", FZM_GET, FZR_FILES, 16, FAMFS_NAME_MAX,
		 "b", "");
	put_long(dir, "name-max", FZM_PUT, FZR_FILES, 1, FAMFS_NAME_MAX, "",
		 "{\"size\":1}");
	put_long(dir, "name-over-max", FZM_PUT, FZR_DIRS, 1, FAMFS_NAME_MAX + 1,
		 "", "");
	put_long(dir, "tenant-max", FZM_PUT, FZR_QUOTA, 1, FAMFS_TENANT_MAX, "",
		 "{\"max_bytes\":1,\"max_files\":1}");
	put_long(dir, "tenant-over-max", FZM_GET, FZR_TENANT, 1,
		 FAMFS_TENANT_MAX + 1, "", "");
	put_long(dir, "agent-id-max", FZM_DELETE, FZR_AGENT, 1, 128, "", "");
	/* Longer than the router's segment buffer. */
	put_long(dir, "segment-over-buffer", FZM_DELETE, FZR_AGENT, 1, 1100,
		 "", "");
	put_long(dir, "segment-over-buffer-quota", FZM_PUT, FZR_QUOTA, 1, 1100,
		 "", "{\"max_bytes\":1,\"max_files\":1}");
	return 10;
}

static void put(const char *dir, const struct seed *s)
{
	FILE *f = create(dir, s->name);

	for (size_t i = 0; i < FZH_MAX_REQ && s->reqs[i].line; i++) {
		const struct seed_req *r = &s->reqs[i];

		if (i)
			fputs(FZH_SEP, f);
		fputc(r->method, f);
		fputc(r->auth, f);
		fputc(r->route, f);
		fputc(r->flags, f);
		fprintf(f, "%s\n%s", r->line, r->body);
	}
	close_seed(f);
}

int main(int argc, char **argv)
{
	size_t n = sizeof(seeds) / sizeof(seeds[0]);

	if (argc != 2) {
		fprintf(stderr, "usage: mkseed_http DIR\n");
		return 2;
	}
	for (size_t i = 0; i < n; i++)
		put(argv[1], &seeds[i]);
	n += (size_t)put_limits(argv[1]);
	printf("mkseed_http: %zu seeds in %s\n", n, argv[1]);
	return 0;
}
