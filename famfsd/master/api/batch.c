// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * POST /v1/batch (docs/batch.md): a job's whole set of creates and
 * deletes, all or nothing. The body is decoded and every op checked the
 * way the single calls check theirs (master/api/batch_body.c), then the
 * list goes to master_batch() under m->lock. A refusal names the op: its
 * index and path go into the problem document as op_index and op_path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/api/api.h"
#include "names.h"

const char *const api_batch_kind_names[3] = {
	[BATCH_CREATE] = "create", [BATCH_MKDIR] = "mkdir",
	[BATCH_DELETE] = "delete",
};

static const char *const status_names[] = {
	[BATCH_CREATED] = "created", [BATCH_EXISTS] = "exists",
	[BATCH_DELETED] = "deleted", [BATCH_ABSENT] = "absent",
};

/* The problem for op (ops[i]; NULL: the batch as a whole). */
static enum MHD_Result reply_op_err(struct http_req *rq, int err,
				    const struct master_batch_op *op, size_t i,
				    const struct master_why *w)
{
	struct json_object *members;
	char path[FAMFS_PATH_MAX + 2];
	const char *detail = w->msg[0] ? w->msg : strerror(-err);

	if (!op)
		return api_reply_err(rq, err, w);
	members = json_object_new_object();
	json_object_object_add(members, "op_index", json_u64(i));
	if (!op->c.path)	/* its path is what was wrong, or not reached */
		return http_reply_problem_ext(rq, api_problem_of(err), members,
					      "ops[%zu]: %s", i, detail);
	snprintf(path, sizeof(path), "/%.*s", (int)op->c.path_len, op->c.path);
	json_object_object_add(members, "op_path", json_object_new_string(path));
	return http_reply_problem_ext(rq, api_problem_of(err), members,
				      "ops[%zu] (%s %s): %s", i,
				      api_batch_kind_names[op->kind], path, detail);
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
	char num[20];
	size_t n = sizeof(num);

	/* Two per result: printf's machinery showed in the profile. */
	do {
		num[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	text_add(t, num + n, sizeof(num) - n);
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
	struct master_why w = { { 0 } };
	struct master *m = rq->m;
	struct api_batch b;
	size_t failed;
	uint64_t seq = 0;
	enum MHD_Result reply;
	int err;

	(void)arg;
	err = api_batch_decode(rq, &b, &failed, &w);
	if (err) {
		reply = reply_op_err(rq, err, failed == SIZE_MAX ? NULL : &b.failed,
				     failed, &w);
		api_batch_free(&b);
		return reply;
	}
	master_lock(m);
	err = master_batch(m, b.ops, b.n, &seq, &failed, &w);
	master_unlock(m);
	if (err < 0)
		reply = reply_op_err(rq, err, failed < b.n ? &b.ops[failed] : NULL,
				     failed, &w);
	else
		reply = reply_results(rq, b.ops, b.n, seq);
	api_batch_free(&b);
	return reply;
}
