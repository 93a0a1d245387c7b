// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * POST /v1/batch (docs/batch.md): a job's whole set of creates and
 * deletes, all or nothing. The handler decodes and checks every op the
 * way the single calls check theirs (closed objects, the same fields and
 * ranges, the token's scope and tenant), then hands the list to
 * master_batch() under m->lock. A refusal names the op: its index and
 * path go into the problem document as op_index and op_path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/api/api.h"
#include "names.h"

static const char *const kind_names[] = {
	[BATCH_CREATE] = "create", [BATCH_MKDIR] = "mkdir",
	[BATCH_DELETE] = "delete",
};

static const char *const status_names[] = {
	[BATCH_CREATED] = "created", [BATCH_EXISTS] = "exists",
	[BATCH_DELETED] = "deleted", [BATCH_ABSENT] = "absent",
};

/* Fields each kind of op may carry. */
static const char *const create_fields[] = {
	"op", "path", "size", "mode", "uid", "gid", "tenant", NULL
};
static const char *const mkdir_fields[] = {
	"op", "path", "mode", "uid", "gid", "exist_ok", NULL
};
static const char *const delete_fields[] = {
	"op", "path", "missing_ok", NULL
};

/* An optional boolean field (absent: false). */
static int bool_field(struct json_object *o, const char *key, bool *ret,
		    struct master_why *w)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		master_why_set(w, "%s: must be true or false", key);
		return -EINVAL;
	}
	*ret = json_object_get_boolean(v);
	return 0;
}

static int op_kind(struct json_object *o, enum master_batch_kind *ret,
		   struct master_why *w)
{
	const char *s;
	size_t len;
	int err = api_string(o, "op", true, 1, 16, &s, &len, w);

	if (err)
		return err;
	for (size_t k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++)
		if (strcmp(s, kind_names[k]) == 0) {
			*ret = (enum master_batch_kind)k;
			return 0;
		}
	master_why_set(w, "op: must be create, mkdir or delete");
	return -EINVAL;
}

/* One op of the body into *op (its strings stay in o): 0 or -errno. */
static int decode_op(const struct http_req *rq, struct json_object *o,
		     struct master_batch_op *op, struct master_why *w)
{
	struct master_create *c = &op->c;
	uint64_t size = 0, mode, uid = 0, gid = 0;
	const char *path;
	size_t len;
	int err;

	if (!json_object_is_type(o, json_type_object)) {
		master_why_set(w, "must be an object");
		return -EINVAL;
	}
	err = op_kind(o, &op->kind, w);
	if (err)
		return err;
	err = api_fields(o, op->kind == BATCH_CREATE ? create_fields :
			    op->kind == BATCH_MKDIR ? mkdir_fields :
			    delete_fields, w);
	if (!err)
		err = api_string(o, "path", true, 0, FAMFS_PATH_MAX + 1, &path,
				 &len, w);
	if (!err)
		err = api_path_check(path, len, &c->path_len, w);
	if (err)
		return err;
	c->path = path;
	if (!api_path_allowed(rq, path, c->path_len)) {
		master_why_set(w, "a tenant token for %s may not act on /%.*s",
			       rq->who->tenant, (int)c->path_len, path);
		return -EPERM;
	}
	c->tenant = "";
	if (op->kind == BATCH_DELETE)
		return bool_field(o, "missing_ok", &op->missing_ok, w);
	c->dir = op->kind == BATCH_MKDIR;
	mode = c->dir ? 0755 : 0644;
	if (!c->dir)
		err = api_uint(o, "size", true, 1, INT64_MAX, &size, w);
	if (!err)
		err = api_mode_and_owner(o, &mode, &uid, &gid, w);
	if (!err && c->dir)
		err = bool_field(o, "exist_ok", &op->exist_ok, w);
	if (!err && !c->dir)
		err = api_file_tenant(rq, o, &c->tenant, &c->tenant_len, w);
	c->size = size;
	c->mode = (uint32_t)mode;
	c->uid = (uint32_t)uid;
	c->gid = (uint32_t)gid;
	return err;
}

/* The problem for ops[i] (i == n: the batch as a whole). */
static enum MHD_Result reply_op_err(struct http_req *rq, int err,
				    const struct master_batch_op *ops,
				    size_t i, size_t n, const char *kind,
				    const struct master_why *w)
{
	struct json_object *members;
	char path[FAMFS_PATH_MAX + 2];
	const char *detail = w->msg[0] ? w->msg : strerror(-err);

	if (i >= n)
		return api_reply_err(rq, err, w);
	members = json_object_new_object();
	json_object_object_add(members, "op_index", json_u64(i));
	if (ops[i].c.path) {
		snprintf(path, sizeof(path), "/%.*s", (int)ops[i].c.path_len,
			 ops[i].c.path);
		json_object_object_add(members, "op_path",
				       json_object_new_string(path));
		return http_reply_problem_ext(rq, api_problem_of(err), members,
					      "ops[%zu] (%s %s): %s", i, kind,
					      path, detail);
	}
	return http_reply_problem_ext(rq, api_problem_of(err), members,
				      "ops[%zu]: %s", i, detail);
}

/*
 * The reply is written as text, not as a json-c tree: 65,536 results
 * would be that many objects, each with its own hash table, built, printed
 * and freed, several times the cost of the whole batch in the master.
 */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void text_reserve(struct text *t, size_t more)
{
	size_t cap = t->cap ? t->cap : 4096;
	char *b;

	if (t->failed || t->len + more <= t->cap)
		return;
	while (cap < t->len + more)
		cap *= 2;
	b = realloc(t->buf, cap);
	if (!b) {
		t->failed = true;
		return;
	}
	t->buf = b;
	t->cap = cap;
}

static void text_add(struct text *t, const char *s, size_t len)
{
	text_reserve(t, len);
	if (t->failed)
		return;
	memcpy(t->buf + t->len, s, len);
	t->len += len;
}

static void text_u64(struct text *t, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, v);

	text_add(t, num, (size_t)n);
}

/* A JSON string of the path, '/' in front; it is UTF-8 (the body was). */
static void text_path(struct text *t, const char *path, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	/* At worst every byte becomes \u00XX. */
	text_reserve(t, 3 + 6 * len);
	if (t->failed)
		return;
	t->buf[t->len++] = '"';
	t->buf[t->len++] = '/';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c == '"' || c == '\\') {
			t->buf[t->len++] = '\\';
			t->buf[t->len++] = (char)c;
		} else if (c < 0x20) {
			t->buf[t->len++] = '\\';
			t->buf[t->len++] = 'u';
			t->buf[t->len++] = '0';
			t->buf[t->len++] = '0';
			t->buf[t->len++] = hex[c >> 4];
			t->buf[t->len++] = hex[c & 15];
		} else {
			t->buf[t->len++] = (char)c;
		}
	}
	t->buf[t->len++] = '"';
}

#define TEXT_LIT(t, s)	text_add(t, s, sizeof(s) - 1)

static enum MHD_Result reply_results(struct http_req *rq,
				     const struct master_batch_op *ops,
				     size_t n, uint64_t seq)
{
	struct text t = { 0 };

	text_reserve(&t, n * 96);
	TEXT_LIT(&t, "{\"seq\":");
	text_u64(&t, seq);
	TEXT_LIT(&t, ",\"results\":[");
	for (size_t i = 0; i < n; i++) {
		const struct master_batch_op *op = &ops[i];
		const char *status = status_names[op->status];

		TEXT_LIT(&t, "{\"path\":");
		text_path(&t, op->c.path, op->c.path_len);
		TEXT_LIT(&t, ",\"status\":\"");
		text_add(&t, status, strlen(status));
		TEXT_LIT(&t, "\",\"seq\":");
		text_u64(&t, op->seq);
		if (op->status == BATCH_CREATED || op->status == BATCH_EXISTS) {
			TEXT_LIT(&t, ",\"ino\":");
			text_u64(&t, op->ino);
		}
		if (i + 1 < n)
			TEXT_LIT(&t, "},");
		else
			TEXT_LIT(&t, "}");
	}
	TEXT_LIT(&t, "]}");
	if (t.failed) {
		free(t.buf);
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	}
	return http_reply_text(rq, 200, "application/json", t.buf, t.len);
}

enum MHD_Result api_post_batch(struct http_req *rq, const char *arg)
{
	static const char *const fields[] = { "ops", NULL };
	_cleanup_json_ struct json_object *body = NULL;
	struct master_why w = { { 0 } };
	struct master_batch_op *ops;
	struct json_object *list;
	struct master *m = rq->m;
	size_t n, failed = 0;
	uint64_t seq = 0;
	enum MHD_Result reply;
	int err;

	(void)arg;
	err = api_body(rq, true, fields, &body, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	if (!json_object_object_get_ex(body, "ops", &list) ||
	    !json_object_is_type(list, json_type_array))
		return http_reply_problem(rq, PROB_VALIDATION,
					  "ops: required, an array");
	n = json_object_array_length(list);
	if (n < 1 || n > MASTER_BATCH_MAX)
		return http_reply_problem(rq, PROB_VALIDATION,
					  "ops: must hold 1 to %u operations, "
					  "not %zu", MASTER_BATCH_MAX, n);
	ops = calloc(n, sizeof(*ops));
	if (!ops)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		err = decode_op(rq, json_object_array_get_idx(list, i), &ops[i],
				&w);
		if (err) {
			reply = reply_op_err(rq, err, ops, i, n,
					     kind_names[ops[i].kind], &w);
			free(ops);
			return reply;
		}
	}
	master_lock(m);
	err = master_batch(m, ops, n, &seq, &failed, &w);
	master_unlock(m);
	if (err < 0) {
		reply = reply_op_err(rq, err, ops, failed, n,
				     failed < n ? kind_names[ops[failed].kind] : "",
				     &w);
		free(ops);
		return reply;
	}
	reply = reply_results(rq, ops, n, seq);
	free(ops);
	return reply;
}
