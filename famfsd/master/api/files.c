// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /v1/files/{path} and /v1/dirs/{path}: create (idempotent), stat, list
 * and delete. Each handler decodes and scopes the path, validates the body,
 * then does its work under m->lock, building the reply's JSON there too
 * (nodes are only valid under the lock) and sending it after unlocking.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "master/api/api.h"
#include "names.h"

/* Decodes the path and checks the token may act on it; replies if not. */
static bool fs_path(struct http_req *rq, const char *arg, char *path,
		    size_t *len, enum MHD_Result *reply)
{
	struct master_why w;

	if (api_path_decode(arg, path, len, &w) < 0) {
		*reply = http_reply_problem(rq, PROB_VALIDATION, "%s", w.msg);
		return false;
	}
	if (!api_path_allowed(rq, path, *len)) {
		*reply = http_reply_problem(rq, PROB_FORBIDDEN,
					    "a tenant token for %s may not act "
					    "on /%s", rq->who->tenant, path);
		return false;
	}
	return true;
}

/* Creates (or finds the identical) entry and replies 201 or 200. */
static enum MHD_Result create(struct http_req *rq, const struct master_create *c)
{
	struct master *m = rq->m;
	struct json_object *o = NULL;
	struct famfs_node *n;
	struct master_why w = { { 0 } };
	int r;

	master_lock(m);
	r = master_wait_log_room(m, false, &w);
	if (r == 0 && !c->dir)
		master_wait_space(m, famfs_state_alloc_bytes(m->st, c->size));
	if (r == 0)
		r = master_op_create(m, c, &n, &w);
	if (r >= 0)
		o = api_node_json(m, n, NULL, !c->dir);
	master_unlock(m);
	if (r < 0)
		return api_reply_err(rq, r, &w);
	if (!c->dir)
		master_metrics_create_latency(m->metrics,
					      clock_mono_ns() - rq->start_ns);
	return http_reply_json(rq, r ? 201 : 200, o);
}

int api_mode_and_owner(struct json_object *body, uint64_t *mode,
		       uint64_t *uid, uint64_t *gid, struct master_why *w)
{
	int err = api_uint(body, "mode", false, 0, 07777, mode, w);

	if (!err)
		err = api_uint(body, "uid", false, 0, API_ID_MAX, uid, w);
	if (!err)
		err = api_uint(body, "gid", false, 0, API_ID_MAX, gid, w);
	return err;
}

int api_file_tenant(const struct http_req *rq, struct json_object *body,
		    const char **ret, size_t *ret_len, struct master_why *w)
{
	const char *tenant = "";
	size_t tlen = 0;
	int err;

	err = api_string(body, "tenant", false, 1, FAMFS_TENANT_MAX, &tenant,
			 &tlen, w);
	if (err)
		return err;
	return api_tenant_for(rq, tenant, tlen, ret, ret_len, w);
}

int api_tenant_for(const struct http_req *rq, const char *tenant, size_t tlen,
		   const char **ret, size_t *ret_len, struct master_why *w)
{
	const char *why = famfs_tenant_check(tenant, tlen);

	if (why) {
		master_why_set(w, "tenant: %s", why);
		return -EINVAL;
	}
	if (rq->who->role == AUTH_TENANT) {
		/* A tenant's files are charged to it, and only to it. */
		if (tlen && (tlen != strlen(rq->who->tenant) ||
			     memcmp(tenant, rq->who->tenant, tlen) != 0)) {
			master_why_set(w, "a tenant token for %s may not charge "
				       "tenant %.*s", rq->who->tenant, (int)tlen,
				       tenant);
			return -EPERM;
		}
		tenant = rq->who->tenant;
		tlen = strlen(tenant);
	}
	*ret = tenant;
	*ret_len = tlen;
	return 0;
}

enum MHD_Result api_put_file(struct http_req *rq, const char *arg)
{
	static const char *const fields[] = {
		"size", "mode", "uid", "gid", "tenant", NULL
	};
	_cleanup_json_ struct json_object *body = NULL;
	char path[FAMFS_PATH_MAX + 2];
	uint64_t size = 0, mode = 0644, uid = 0, gid = 0;
	const char *tenant = "";
	size_t len, tlen = 0;
	struct master_why w;
	enum MHD_Result reply;
	int err;

	if (!fs_path(rq, arg, path, &len, &reply))
		return reply;
	err = api_body(rq, true, fields, &body, &w);
	if (!err)
		err = api_uint(body, "size", true, 1, INT64_MAX, &size, &w);
	if (!err)
		err = api_mode_and_owner(body, &mode, &uid, &gid, &w);
	if (!err)
		err = api_file_tenant(rq, body, &tenant, &tlen, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	return create(rq, &(struct master_create){
		.path = path, .path_len = len, .size = size,
		.mode = (uint32_t)mode, .uid = (uint32_t)uid,
		.gid = (uint32_t)gid, .tenant = tenant, .tenant_len = tlen,
	});
}

enum MHD_Result api_put_dir(struct http_req *rq, const char *arg)
{
	static const char *const fields[] = { "mode", "uid", "gid", NULL };
	_cleanup_json_ struct json_object *body = NULL;
	char path[FAMFS_PATH_MAX + 2];
	uint64_t mode = 0755, uid = 0, gid = 0;
	struct master_why w;
	enum MHD_Result reply;
	size_t len;
	int err;

	if (!fs_path(rq, arg, path, &len, &reply))
		return reply;
	err = api_body(rq, false, fields, &body, &w);
	if (!err)
		err = api_mode_and_owner(body, &mode, &uid, &gid, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	return create(rq, &(struct master_create){
		.path = path, .path_len = len, .dir = true,
		.mode = (uint32_t)mode, .uid = (uint32_t)uid,
		.gid = (uint32_t)gid, .tenant = "",
	});
}

enum MHD_Result api_get_file(struct http_req *rq, const char *arg)
{
	struct master *m = rq->m;
	char path[FAMFS_PATH_MAX + 2];
	struct json_object *o = NULL;
	struct master_why w = { { 0 } };
	struct famfs_node *n;
	enum MHD_Result reply;
	size_t len;
	int err;

	if (!fs_path(rq, arg, path, &len, &reply))
		return reply;
	master_lock(m);
	err = master_resolve(m, path, len, &n, &w);
	if (!err)
		o = api_node_json(m, n, NULL, true);
	master_unlock(m);
	if (err)
		return api_reply_err(rq, err, &w);
	return http_reply_json(rq, 200, o);
}

static enum MHD_Result delete(struct http_req *rq, const char *arg,
			      bool dir_only)
{
	struct master *m = rq->m;
	char path[FAMFS_PATH_MAX + 2], abs[FAMFS_PATH_MAX + 2];
	struct master_why w = { { 0 } };
	struct json_object *o;
	enum MHD_Result reply;
	uint64_t seq = 0;
	size_t len;
	int err;

	if (!fs_path(rq, arg, path, &len, &reply))
		return reply;
	master_lock(m);
	err = master_wait_log_room(m, true, &w);
	if (!err)
		err = master_op_delete(m, path, len, dir_only, abs, &seq, &w);
	master_unlock(m);
	if (err)
		return api_reply_err(rq, err, &w);
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(abs));
	json_object_object_add(o, "seq", json_u64(seq));
	return http_reply_json(rq, 200, o);
}

enum MHD_Result api_delete_file(struct http_req *rq, const char *arg)
{
	return delete(rq, arg, false);
}

enum MHD_Result api_delete_dir(struct http_req *rq, const char *arg)
{
	return delete(rq, arg, true);
}

/*
 * One page of a directory. Children are kept in creation order, which is
 * ascending inode order, so the cursor is the last inode returned: it stays
 * valid whatever is created or deleted meanwhile.
 */
static void list_page(struct master *m, struct famfs_node *dir, uint64_t cursor,
		     uint64_t limit, struct json_object *o)
{
	struct json_object *entries = json_object_new_array();
	struct famfs_node *n;
	uint64_t count = 0, last = 0;
	char buf[32];

	for (n = famfs_ns_child_after(m->st->ns, dir, cursor);
	     n && count < limit; n = n->next, count++) {
		json_object_array_add(entries, api_node_json(m, n, NULL, false));
		last = n->ino;
	}
	json_object_object_add(o, "entries", entries);
	if (n) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)last);
		json_object_object_add(o, "next_cursor",
				       json_object_new_string(buf));
	} else {
		json_object_object_add(o, "next_cursor", NULL);
	}
}

enum MHD_Result api_get_dir(struct http_req *rq, const char *arg)
{
	struct master *m = rq->m;
	char path[FAMFS_PATH_MAX + 2], abs[FAMFS_PATH_MAX + 2];
	struct master_why w = { { 0 } };
	struct json_object *o;
	struct famfs_node *dir;
	enum MHD_Result reply;
	uint64_t limit, cursor;
	size_t len;
	int err;

	if (!fs_path(rq, arg, path, &len, &reply))
		return reply;
	err = api_query_uint(rq, "limit", 100, 1, 1000, &limit, &w);
	if (!err)
		err = api_query_uint(rq, "cursor", 0, 1, INT64_MAX, &cursor, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	o = json_object_new_object();
	master_lock(m);
	err = master_resolve(m, path, len, &dir, &w);
	if (!err && !famfs_node_is_dir(dir)) {
		famfs_ns_path(dir, abs, sizeof(abs));
		master_why_set(&w, "%s is a file, not a directory", abs);
		err = -ENOTDIR;
	}
	if (!err) {
		famfs_ns_path(dir, abs, sizeof(abs));
		json_object_object_add(o, "path", json_object_new_string(abs));
		list_page(m, dir, cursor, limit, o);
	}
	master_unlock(m);
	if (err) {
		json_object_put(o);
		return api_reply_err(rq, err, &w);
	}
	return http_reply_json(rq, 200, o);
}
