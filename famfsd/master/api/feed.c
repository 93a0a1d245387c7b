// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * GET /v1/log?after=SEQ&wait=SECONDS: the change feed, a wake-up hint for
 * agents (they read the records themselves from the pool). When nothing
 * past `after` is published yet and the caller is willing to wait, the
 * connection is suspended and queued on the feed (master/feed.c); a
 * publish or the deadline resumes it, and this handler runs a second time
 * to answer with whatever is there then.
 */
#include <stddef.h>
#include <stdlib.h>

#include "master/api/api.h"
#include "record.h"

#define FEED_MAX_RECORDS	1000u
#define FEED_MAX_WAIT_S		60u

enum {
	POLL_FIRST = 0,
	POLL_WAITING,		/* suspended, answers when resumed */
};

static void wake(struct feed_waiter *w)
{
	struct http_req *rq = (struct http_req *)((char *)w -
						  offsetof(struct http_req, waiter));

	http_resume(rq);
}

static void suspend(void *ctx)
{
	http_suspend(ctx);
}

static enum MHD_Result reply(struct http_req *rq, uint64_t after)
{
	struct feed_record *recs = malloc(FEED_MAX_RECORDS * sizeof(*recs));
	struct json_object *o, *a;
	uint64_t last, first;
	size_t n;

	if (!recs)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	n = master_feed_read(rq->m->feed, after, recs, FEED_MAX_RECORDS, &last,
			     &first);
	o = json_object_new_object();
	a = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "seq", json_u64(recs[i].seq));
		json_object_object_add(r, "type", json_object_new_string(
			famfs_rec_type_name(recs[i].type)));
		json_object_object_add(r, "epoch", json_u64(recs[i].epoch));
		json_object_array_add(a, r);
	}
	free(recs);
	json_object_object_add(o, "last_seq", json_u64(last));
	json_object_object_add(o, "epoch", json_u64(rq->m->epoch));
	json_object_object_add(o, "first_seq", json_u64(first));
	json_object_object_add(o, "generation",
			       json_u64(atomic_load(&rq->m->generation)));
	json_object_object_add(o, "records", a);
	return http_reply_json(rq, 200, o);
}

enum MHD_Result api_get_log(struct http_req *rq, const char *arg)
{
	struct master_why w;
	uint64_t after, wait_s;
	int err;

	(void)arg;
	err = api_query_uint(rq, "after", 0, 0, INT64_MAX, &after, &w);
	if (!err)
		err = api_query_uint(rq, "wait", 0, 0, FEED_MAX_WAIT_S, &wait_s, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	if (rq->poll == POLL_WAITING)
		return reply(rq, after);
	/* Past the end: the caller follows another log; answer at once. */
	if (!wait_s || after != master_feed_last_seq(rq->m->feed))
		return reply(rq, after);
	rq->waiter = (struct feed_waiter){
		.after = after,
		.deadline_ns = clock_mono_ns() + wait_s * 1000000000ull,
		.wake = wake,
	};
	rq->poll = POLL_WAITING;
	if (master_feed_wait(rq->m->feed, &rq->waiter, suspend, rq))
		return MHD_YES;		/* parked; dispatched again on wake */
	return reply(rq, after);
}
