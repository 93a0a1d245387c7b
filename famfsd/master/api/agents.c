// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /v1/agents: heartbeats (an agent's applied sequence and open inodes, the
 * inputs of safe reclaim), the agent list, and eviction of dead hosts.
 * Heartbeats go to /v1/agents/{agent_id}/heartbeat; the path of 0.1,
 * /v1/agents/heartbeat with the id in the body, stays for one release so a
 * master can be upgraded before its agents.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "master/api/api.h"

static const char *agent_id_check(const char *id, size_t len)
{
	if (!len || len > 128)
		return "agent_id: must be 1 to 128 characters";
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '-'))
			return "agent_id: may hold only A-Z a-z 0-9 . _ : -";
	}
	return NULL;
}

/* The open_inos array, malloc'd. -EINVAL with w set. */
static int open_inos(struct json_object *body, uint64_t **ret, size_t *ret_n,
		     struct master_why *w)
{
	struct json_object *a;
	uint64_t *v;
	size_t n;

	if (!json_object_object_get_ex(body, "open_inos", &a)) {
		master_why_set(w, "open_inos: required");
		return -EINVAL;
	}
	if (!json_object_is_type(a, json_type_array)) {
		master_why_set(w, "open_inos: must be an array of inode numbers");
		return -EINVAL;
	}
	n = json_object_array_length(a);
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v) {
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *x = json_object_array_get_idx(a, i);

		if (!json_object_is_type(x, json_type_int) ||
		    json_object_get_int64(x) < 1) {
			free(v);
			master_why_set(w, "open_inos[%zu]: must be an integer "
				       ">= 1", i);
			return -EINVAL;
		}
		v[i] = json_object_get_uint64(x);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/*
 * The body's agent_id: at /v1/agents/{agent_id}/heartbeat (path_id set) it
 * may be left out and must equal the path's when given; at the deprecated
 * /v1/agents/heartbeat it is required.
 */
static int body_agent_id(struct json_object *body, const char *path_id,
			 const char **ret, size_t *ret_len, struct master_why *w)
{
	const char *id = NULL, *why;
	size_t len = 0;
	int err = api_string(body, "agent_id", !path_id, 1, 128, &id, &len, w);

	if (err)
		return err;
	if (path_id && !id) {
		id = path_id;
		len = strlen(path_id);
	} else if (path_id && (len != strlen(path_id) ||
				memcmp(id, path_id, len) != 0)) {
		master_why_set(w, "agent_id: '%.*s' is not the path's '%s'",
			       (int)len, id, path_id);
		return -EINVAL;
	}
	why = agent_id_check(id, len);
	if (why) {
		master_why_set(w, "%s", why);
		return -EINVAL;
	}
	*ret = id;
	*ret_len = len;
	return 0;
}

/* The body's optional pool_uuid; *ret_given false when left out. */
static int body_pool_uuid(struct json_object *body, uuid_t ret, bool *ret_given,
			  struct master_why *w)
{
	const char *text = NULL;
	size_t len = 0;
	int err = api_string(body, "pool_uuid", false, 36, 36, &text, &len, w);

	*ret_given = false;
	if (err || !text)
		return err;
	if (uuid_parse(text, ret) < 0) {
		master_why_set(w, "pool_uuid: '%s' is not a UUID", text);
		return -EINVAL;
	}
	*ret_given = true;
	return 0;
}

/*
 * Under m->lock: an agent that follows another pool (one formatted anew
 * under it or under us) must not have its positions taken for positions
 * in ours. If the superblock says it is our pool that is gone, the master
 * fences (-ESHUTDOWN, 503); else -ESTALE (409) names both pools.
 */
static int same_pool(struct master *m, const uuid_t theirs, struct master_why *w)
{
	char a[37], b[37];

	if (memcmp(theirs, m->pool->info.pool_uuid, 16) == 0)
		return 0;
	if (master_pool_check(m) < 0) {
		master_why_set(w, "the master is fenced: %s", m->fenced);
		return -ESHUTDOWN;
	}
	uuid_unparse_lower(theirs, a);
	uuid_unparse_lower(m->pool->info.pool_uuid, b);
	/* agent/heartbeat.c knows this reply by its "pool_uuid:" start. */
	master_why_set(w, "pool_uuid: this agent follows pool %s, this master "
		       "serves pool %s", a, b);
	return -ESTALE;
}

/* Faults an agent keeps meeting are logged at most this often. */
#define MEDIA_LOG_EVERY_NS	(60 * 1000000000ull)

/*
 * The faults in pool memory an agent reports (master/media.c counts them):
 * logged when they start, then at most once a minute with the count since.
 */
static void media_errors_store(struct master *m, const struct master_agent *rep)
{
	struct master_agent *ag = master_agents_find(m->agents, rep->id);
	uint64_t now = clock_mono_ns();

	if (!ag || rep->media_errors == ag->media_errors)
		return;
	if (rep->media_errors > ag->media_errors &&
	    (!ag->media_logged_mono ||
	     now - ag->media_logged_mono >= MEDIA_LOG_EVERY_NS)) {
		msg(MSG_ERR, "Agent %s met %" PRIu64 " fault(s) in pool memory "
		    "in all, the last at pool offset %" PRIu64, rep->id,
		    rep->media_errors, rep->media_error_offset);
		ag->media_logged_mono = now;
	}
	ag->media_errors = rep->media_errors;
	ag->media_error_offset = rep->media_error_offset;
	ag->media_error_ns = rep->media_error_ns;
}

static enum MHD_Result heartbeat(struct http_req *rq, const char *path_id)
{
	static const char *const fields[] = {
		"agent_id", "host", "address", "applied_seq", "open_inos",
		"generation", "devices", "pool_uuid", "media_errors",
		"media_error_offset", "media_error_ns", NULL
	};
	_cleanup_json_ struct json_object *body = NULL;
	struct master_agent rep = { 0 };
	struct master_why w = { { 0 } };
	const char *id = NULL, *host = NULL, *addr = NULL;
	size_t id_len = 0, host_len = 0, addr_len = 0, n_open = 0;
	uint64_t *inos = NULL, last = 0;
	bool pool_given = false;
	char *devices = NULL;
	uuid_t pool;
	struct json_object *o;
	struct master *m = rq->m;
	int err;

	err = api_body(rq, true, fields, &body, &w);
	if (!err)
		err = body_agent_id(body, path_id, &id, &id_len, &w);
	if (!err)
		err = api_string(body, "host", true, 1, 255, &host, &host_len, &w);
	if (!err)
		err = api_string(body, "address", true, 0, 255, &addr, &addr_len,
				 &w);
	if (!err)
		err = api_uint(body, "applied_seq", true, 0, INT64_MAX,
			       &rep.applied_seq, &w);
	if (!err)
		err = api_uint(body, "generation", true, 0, INT64_MAX,
			       &rep.generation, &w);
	if (!err)
		err = body_pool_uuid(body, pool, &pool_given, &w);
	if (!err)
		err = api_uint(body, "media_errors", false, 0, INT64_MAX,
			       &rep.media_errors, &w);
	if (!err)
		err = api_uint(body, "media_error_offset", false, 0, INT64_MAX,
			       &rep.media_error_offset, &w);
	if (!err)
		err = api_uint(body, "media_error_ns", false, 0, INT64_MAX,
			       &rep.media_error_ns, &w);
	if (!err)
		err = api_heartbeat_devices(body, &devices, &w);
	if (!err)
		err = open_inos(body, &inos, &n_open, &w);
	if (err) {
		free(devices);
		return api_reply_err(rq, err, &w);
	}
	memcpy(rep.id, id, id_len);
	memcpy(rep.host, host, host_len);
	memcpy(rep.address, addr, addr_len);

	master_lock(m);
	err = pool_given ? same_pool(m, pool, &w) : 0;
	if (err)
		free(inos);
	else
		err = master_heartbeat(m, &rep, inos, n_open, &w);
	if (!err)
		media_errors_store(m, &rep);
	if (!err && devices) {
		struct master_agent *ag = master_agents_find(m->agents, rep.id);

		if (ag) {
			free(ag->devices);
			ag->devices = devices;
			ag->devices_ns = ag->last_heartbeat_ns;
			devices = NULL;
		}
	}
	free(devices);
	last = famfs_log_published(m->pool->log).seq;
	master_unlock(m);
	if (err)
		return api_reply_err(rq, err, &w);
	o = json_object_new_object();
	json_object_object_add(o, "seq", json_u64(last));
	json_object_object_add(o, "epoch", json_u64(m->epoch));
	return http_reply_json(rq, 200, o);
}

/* The segment of a route: an agent id, checked. -EINVAL with w set. */
static int path_agent_id(const char *arg, char *id, size_t size,
			 struct master_why *w)
{
	const char *why;
	int err = api_segment_decode(arg, id, size, w);

	if (err < 0)
		return err;
	why = agent_id_check(id, strlen(id));
	if (why) {
		master_why_set(w, "%s", why);
		return -EINVAL;
	}
	return 0;
}

enum MHD_Result api_post_heartbeat(struct http_req *rq, const char *arg)
{
	struct master_why w = { { 0 } };
	char id[130];

	if (path_agent_id(arg, id, sizeof(id), &w) < 0)
		return http_reply_problem(rq, PROB_VALIDATION, "%s", w.msg);
	return heartbeat(rq, id);
}

enum MHD_Result api_post_heartbeat_legacy(struct http_req *rq, const char *arg)
{
	(void)arg;
	return heartbeat(rq, NULL);
}

enum MHD_Result api_reply_per_agent(struct http_req *rq, const char *key,
				    struct json_object *(*one)(struct master *m,
					const struct master_agent *ag))
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_new_array();
	struct master *m = rq->m;

	master_lock(m);
	for (size_t i = 0; i < master_agents_count(m->agents); i++)
		json_object_array_add(a, one(m, master_agents_at(m->agents, i)));
	master_unlock(m);
	json_object_object_add(o, key, a);
	return http_reply_json(rq, 200, o);
}

enum MHD_Result api_list_agents(struct http_req *rq, const char *arg)
{
	(void)arg;
	return api_reply_per_agent(rq, "agents", api_agent_json);
}

enum MHD_Result api_delete_agent(struct http_req *rq, const char *arg)
{
	struct master_why w = { { 0 } };
	struct json_object *o = NULL;
	struct master_agent *ag;
	struct master *m = rq->m;
	char id[130];
	int err;

	if (path_agent_id(arg, id, sizeof(id), &w) < 0)
		return http_reply_problem(rq, PROB_VALIDATION, "%s", w.msg);
	master_lock(m);
	err = master_evict(m, id, &ag, &w);
	if (!err)
		o = api_agent_json(m, ag);
	master_unlock(m);
	if (err)
		return api_reply_err(rq, err, &w);
	return http_reply_json(rq, 200, o);
}
