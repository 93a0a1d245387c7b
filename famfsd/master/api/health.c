// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Operations endpoints: /healthz (no token; the master serves HTTP only
 * once the pool is replayed, so any answer means ready) and /metrics
 * (Prometheus text). /v1/pool is in master/api/pool.c.
 */
#include "master/api/api.h"

enum MHD_Result api_get_health(struct http_req *rq, const char *arg)
{
	struct json_object *o = json_object_new_object();

	(void)arg;
	json_object_object_add(o, "status", json_object_new_string("ok"));
	json_object_object_add(o, "role", json_object_new_string("master"));
	json_object_object_add(o, "epoch", json_u64(rq->m->epoch));
	json_object_object_add(o, "last_seq",
			       json_u64(master_feed_last_seq(rq->m->feed)));
	return http_reply_json(rq, 200, o);
}

enum MHD_Result api_get_metrics(struct http_req *rq, const char *arg)
{
	char *buf;
	size_t len;

	(void)arg;
	if (master_metrics_render(rq->m, &buf, &len) < 0)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	return http_reply_text(rq, 200, "text/plain; version=0.0.4", buf, len);
}
