// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Operations endpoints: /healthz (no token; the master serves HTTP only
 * once the pool is replayed, so any answer means ready), /metrics
 * (Prometheus text) and /v1/pool (capacity, log use, tenants).
 */
#include <uuid/uuid.h>

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

enum MHD_Result api_get_pool(struct http_req *rq, const char *arg)
{
	struct json_object *o = json_object_new_object(), *tenants;
	struct master *m = rq->m;
	struct famfs_state *st;
	struct famfs_log_pos pub;
	uint64_t total, free_b;
	char uuid[37];

	(void)arg;
	uuid_unparse_lower(m->pool->info.pool_uuid, uuid);
	master_lock(m);
	st = m->st;
	pub = famfs_log_published(m->pool->log);
	total = famfs_alloc_total_bytes(st->alloc);
	free_b = famfs_alloc_free_bytes(st->alloc);
	json_object_object_add(o, "uuid", json_object_new_string(uuid));
	json_object_object_add(o, "size_bytes", json_u64(total));
	json_object_object_add(o, "used_bytes",
			       json_u64(total - free_b - st->pending_bytes));
	json_object_object_add(o, "free_bytes", json_u64(free_b));
	json_object_object_add(o, "pending_reclaim_bytes",
			       json_u64(st->pending_bytes));
	json_object_object_add(o, "alloc_unit", json_u64(st->info.alloc_unit));
	json_object_object_add(o, "log_used_bytes", json_u64(pub.end));
	json_object_object_add(o, "log_capacity_bytes",
			       json_u64(famfs_log_capacity(m->pool->log)));
	json_object_object_add(o, "log_records", json_u64(pub.seq));
	json_object_object_add(o, "last_seq", json_u64(pub.seq));
	json_object_object_add(o, "epoch", json_u64(m->epoch));
	json_object_object_add(o, "master_host", json_object_new_string(m->host));
	json_object_object_add(o, "files", json_u64(st->files));
	json_object_object_add(o, "dirs", json_u64(st->dirs));
	tenants = api_tenants_json(m, NULL);
	master_unlock(m);
	if (!tenants) {
		json_object_put(o);
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	}
	json_object_object_add(o, "tenants", tenants);
	return http_reply_json(rq, 200, o);
}
