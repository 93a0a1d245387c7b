/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON API of api/openapi.yaml: one handler per operation, one file
 * per resource family (files, tenants, agents, devices, feed, health),
 * routed and authorized by router.c, sharing the request decoding and JSON
 * encoding helpers of json.c.
 *
 * A handler gets the request and the raw (percent-encoded) rest of the URL
 * path after its route's prefix, and ends in exactly one reply (or, for the
 * long poll, a suspension).
 */
#ifndef FAMFSD_API_H
#define FAMFSD_API_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/server.h"
#include "master/master.h"

typedef enum MHD_Result (*api_handler_fn)(struct http_req *rq, const char *arg);

/* master/api/health.c */
enum MHD_Result api_get_health(struct http_req *rq, const char *arg);
enum MHD_Result api_get_metrics(struct http_req *rq, const char *arg);
enum MHD_Result api_get_pool(struct http_req *rq, const char *arg);
enum MHD_Result api_post_compact(struct http_req *rq, const char *arg);
/* master/api/files.c */
enum MHD_Result api_put_file(struct http_req *rq, const char *arg);
enum MHD_Result api_get_file(struct http_req *rq, const char *arg);
enum MHD_Result api_delete_file(struct http_req *rq, const char *arg);
enum MHD_Result api_put_dir(struct http_req *rq, const char *arg);
enum MHD_Result api_get_dir(struct http_req *rq, const char *arg);
enum MHD_Result api_delete_dir(struct http_req *rq, const char *arg);
/* uid/gid; (uint32_t)-1 is reserved */
#define API_ID_MAX	4294967294ull
/* The optional "mode", "uid" and "gid" of a new file or directory. */
int api_mode_and_owner(struct json_object *body, uint64_t *mode,
		       uint64_t *uid, uint64_t *gid, struct master_why *w);
/*
 * A new file's optional "tenant", checked; a tenant token's own is forced
 * (-EPERM when the body names another). -EINVAL with w set.
 */
int api_file_tenant(const struct http_req *rq, struct json_object *body,
		    const char **ret, size_t *ret_len, struct master_why *w);
/* The same for a tenant already read (tenant "" when there is none). */
int api_tenant_for(const struct http_req *rq, const char *tenant, size_t tlen,
		   const char **ret, size_t *ret_len, struct master_why *w);
/* master/api/batch.c: POST /v1/batch */
#define API_BATCH_BODY_MAX	(8u << 20)
enum MHD_Result api_post_batch(struct http_req *rq, const char *arg);
/* "create", "mkdir", "delete", by enum master_batch_kind. */
extern const char *const api_batch_kind_names[3];

/* master/api/batch_body.c: a batch's body, decoded. */
struct api_batch {
	struct master_batch_op *ops;	/* n of them */
	size_t n;
	char *arena;			/* the strings ops point into */
	struct master_batch_op failed;	/* as far as the refused op decoded */
};

/*
 * Decodes and checks POST /v1/batch's body (every rule of api_body() and
 * of the single calls' fields, the token's scope and tenant per op): 0, or
 * -EINVAL/-EPERM/-ENOMEM with w set and *ret_failed the index of the op
 * at fault (SIZE_MAX: the body as a whole). api_batch_free() either way.
 */
int api_batch_decode(const struct http_req *rq, struct api_batch *ret,
		     size_t *ret_failed, struct master_why *w);
void api_batch_free(struct api_batch *b);
/* master/api/tenants.c */
enum MHD_Result api_list_tenants(struct http_req *rq, const char *arg);
enum MHD_Result api_get_tenant(struct http_req *rq, const char *arg);
enum MHD_Result api_put_quota(struct http_req *rq, const char *arg);
/* master/api/agents.c */
enum MHD_Result api_post_heartbeat(struct http_req *rq, const char *arg);
/* The deprecated POST /v1/agents/heartbeat (agent_id in the body). */
enum MHD_Result api_post_heartbeat_legacy(struct http_req *rq, const char *arg);
enum MHD_Result api_list_agents(struct http_req *rq, const char *arg);
enum MHD_Result api_delete_agent(struct http_req *rq, const char *arg);
/* master/api/devices.c */
enum MHD_Result api_list_devices(struct http_req *rq, const char *arg);
/* The optional "devices" of a heartbeat, checked: a JSON string in *ret
 * (malloc'd, NULL when absent). -EINVAL with w set. */
int api_heartbeat_devices(struct json_object *body, char **ret,
			  struct master_why *w);
/* master/api/feed.c */
enum MHD_Result api_get_log(struct http_req *rq, const char *arg);
/* master/api/map.c: the web pool map (docs/ui.md) */
enum MHD_Result api_get_whoami(struct http_req *rq, const char *arg);
enum MHD_Result api_get_pool_map(struct http_req *rq, const char *arg);
enum MHD_Result api_get_pool_units(struct http_req *rq, const char *arg);
/* master/api/masters.c: GET /v1/masters */
enum MHD_Result api_get_masters(struct http_req *rq, const char *arg);

/* master/api/ui.c: the web page, GET /ui/... (no token) */
enum MHD_Result api_get_ui(struct http_req *rq, const char *arg);
/* GET /: a 302 to the page (no token). */
enum MHD_Result api_get_root(struct http_req *rq, const char *arg);
/* The page's security headers: name, value pairs, NULL ended. */
extern const char *const api_ui_headers[];

/* ---- master/api/standby.c: a standby's 307 ------------------------------- */

struct famfs_elect_view;

/* The request api_standby_redirects() picked: 307, or 503 not-active. */
enum MHD_Result api_reply_standby(struct http_req *rq);
/* The pool's election slots now; -ENOENT before the pool is open. */
int api_master_view(struct master *m, struct famfs_elect_view *ret);
/* Index of this process's own slot (--slot N: N - 1; else found in v by
 * pid and host), -1 when it has none. */
int api_master_self(const struct master *m, const struct famfs_elect_view *v);
/*
 * Where a standby sends a request: the active master's address into url
 * (0), or -EAGAIN with why when there is none to name: no active slot,
 * the active slot is self (index; -1 none), it has no address, its
 * address is self_url (a loop), or its heartbeat was seen unchanged for
 * quiet_ns, longer than api_standby_quiet_ns() allows a live master.
 * -ENAMETOOLONG when url is too short.
 */
int api_standby_target(const struct famfs_elect_view *v, int self,
		       const char *self_url, uint64_t quiet_ns, char *url,
		       size_t url_size, char *why, size_t why_size);
/*
 * How long a live active master's heartbeat may stay unchanged: one and a
 * half renewal periods (W / 4 each) of its lease W.
 */
uint64_t api_standby_quiet_ns(uint64_t lease_ns);

/* ---- master/api/json.c ---------------------------------------------------------- */

/* The problem an operation's negative errno stands for. */
enum http_problem api_problem_of(int err);
/* Replies with it. */
enum MHD_Result api_reply_err(struct http_req *rq, int err,
			      const struct master_why *w);

/*
 * Decodes a multi-segment file-system path (percent-decoding, rejecting an
 * encoded '/' or NUL and empty components, dropping one trailing '/') into
 * out (FAMFS_PATH_MAX + 2 bytes). "" is the root. -EINVAL with w set.
 */
int api_path_decode(const char *raw, char *out, size_t *ret_len,
		    struct master_why *w);

/*
 * The checks of api_path_decode() on a path that needs no decoding (a
 * batch's, from a JSON string): *ret_len drops one trailing '/'.
 */
int api_path_check(const char *path, size_t len, size_t *ret_len,
		   struct master_why *w);

/* Decodes one path segment (a tenant name, an agent id) into out. */
int api_segment_decode(const char *raw, char *out, size_t size,
		       struct master_why *w);

/* True when the request's identity may act on path (tenant scope). */
bool api_path_allowed(const struct http_req *rq, const char *path, size_t len);

/*
 * The body as a JSON object whose keys are all in allowed (NULL ended).
 * With !required an empty body gives *ret = NULL. -EINVAL with w set.
 */
int api_body(struct http_req *rq, bool required, const char *const *allowed,
	     struct json_object **ret, struct master_why *w);

/* Every key of object o is in allowed (NULL ended): 0, or -EINVAL. */
int api_fields(struct json_object *o, const char *const *allowed,
	       struct master_why *w);

/*
 * A body is there and says it is JSON (Content-Type absent or
 * application/json): what api_body() checks before parsing. -EINVAL.
 */
int api_body_present(const struct http_req *rq, struct master_why *w);

/*
 * The checks of api_uint() and api_string() on a value already decoded
 * (key names it in the message): an integer (is_int; negative for one
 * below 0) in [min, max]; a string (s NULL: another type) of min..max
 * bytes without NUL. 0 or -EINVAL with w set.
 */
int api_check_uint(const char *key, bool is_int, bool negative, uint64_t u,
		   uint64_t min, uint64_t max, uint64_t *ret,
		   struct master_why *w);
int api_check_string(const char *key, const char *s, size_t len, size_t min,
		     size_t max, struct master_why *w);

/* An integer field in [min, max]; absent: -ENOENT if required, else 0. */
int api_uint(struct json_object *o, const char *key, bool required,
	     uint64_t min, uint64_t max, uint64_t *ret, struct master_why *w);

/* A string field of min..max bytes, valid UTF-8 (absent as for api_uint). */
int api_string(struct json_object *o, const char *key, bool required,
	       size_t min, size_t max, const char **ret, size_t *ret_len,
	       struct master_why *w);

/* A query parameter in [min, max], dflt when absent. */
int api_query_uint(struct http_req *rq, const char *key, uint64_t dflt,
		   uint64_t min, uint64_t max, uint64_t *ret,
		   struct master_why *w);

/* A File object; path NULL: computed from the node. (m->lock held) */
struct json_object *api_node_json(struct master *m, const struct famfs_node *n,
				  const char *path, bool extents);
/* A Tenant object; seq 0 leaves "seq" out. */
struct json_object *api_tenant_json(const struct famfs_tenant *tn,
				    uint64_t seq);
/* Tenants the identity may see (all for NULL), by name. (m->lock held) */
struct json_object *api_tenants_json(struct master *m,
				     const struct auth_ident *who);
/* An Agent object. (m->lock held) */
struct json_object *api_agent_json(struct master *m,
				   const struct master_agent *ag);
/*
 * 200 with {key: [one(agent) for every registered agent]}, the table read
 * under m->lock (taken here): GET /v1/agents and GET /v1/devices.
 * (agents.c)
 */
enum MHD_Result api_reply_per_agent(struct http_req *rq, const char *key,
				    struct json_object *(*one)(struct master *m,
					const struct master_agent *ag));

static inline void json_object_putp(struct json_object **o)
{
	json_object_put(*o);
}

#define _cleanup_json_ __attribute__((cleanup(json_object_putp)))

static inline struct json_object *json_u64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* The RFC 3339 string that goes beside every "*_ns" time of a reply. */
static inline struct json_object *json_time(uint64_t ns)
{
	char buf[CLOCK_RFC3339_SIZE];

	clock_rfc3339(ns, buf);
	return json_object_new_string(buf);
}

#endif
