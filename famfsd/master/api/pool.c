// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /v1/pool: the pool as a whole. GET: capacity, log use and generation,
 * tenants, damage found in the log and what became of it. POST /v1/pool/compact: a compaction now (master/compact.c); the
 * connection is suspended, not a thread, until it ends, so a long one
 * does not take an HTTP thread from everyone else.
 */
#include <errno.h>
#include <stdio.h>
#include <uuid/uuid.h>

#include "master/api/api.h"

static struct json_object *damage_entry_json(const struct damage_entry *e)
{
	static const char *const fixes[] = {
		[DAMAGE_FIX_COPY] = "copy", [DAMAGE_FIX_COMPACTION] = "compaction",
	};
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "part",
			       json_object_new_string(famfs_log_part_name(e->d.part)));
	json_object_object_add(o, "copy", json_object_new_int(e->d.copy));
	json_object_object_add(o, "both", json_object_new_boolean(e->d.both));
	json_object_object_add(o, "generation", json_u64(e->generation));
	json_object_object_add(o, "seq", json_u64(e->d.seq));
	json_object_object_add(o, "log_offset", json_u64(e->d.log_offset));
	json_object_object_add(o, "pool_offset", json_u64(e->pool_offset));
	json_object_object_add(o, "reason", json_object_new_string(e->d.reason ?
			       e->d.reason : "unknown"));
	json_object_object_add(o, "found_by", json_object_new_string(
			       e->found_by == DAMAGE_BY_SCRUB ? "scrub" : "reader"));
	json_object_object_add(o, "repaired", json_object_new_boolean(
			       e->state == DAMAGE_REPAIRED));
	json_object_object_add(o, "repaired_by", e->fixed_by == DAMAGE_FIX_NONE ?
			       NULL : json_object_new_string(fixes[e->fixed_by]));
	json_object_object_add(o, "found_at", json_time(e->found_ns));
	return o;
}

/* "damage": damaged copies of the log, counted, and the newest ones. */
static struct json_object *damage_json(struct master *m)
{
	struct json_object *o = json_object_new_object(), *last;
	struct damage_entry e[DAMAGE_LAST];
	struct master_damage_stats s;
	size_t n;

	master_damage_stats(m, &s, e, &n);
	json_object_object_add(o, "found", json_u64(s.found));
	json_object_object_add(o, "repaired", json_u64(s.repaired));
	json_object_object_add(o, "unrepaired", json_u64(s.unrepaired));
	json_object_object_add(o, "scrub_passes", json_u64(s.scrub_passes));
	last = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(last, damage_entry_json(&e[i]));
	json_object_object_add(o, "last", last);
	return o;
}

/*
 * "fenced": null while the master writes, else why it stopped (reason as
 * famfsd_master_fenced's label, detail, since). m->lock held.
 */
static struct json_object *fenced_json(const struct master *m)
{
	struct json_object *o;

	if (!m->fenced)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(
		master_fence_kind_name(atomic_load(&m->fence_kind))));
	json_object_object_add(o, "detail", json_object_new_string(m->fenced));
	json_object_object_add(o, "since", json_time(m->fenced_at_ns));
	return o;
}

/* "media_errors": faults in pool memory and the device's size (lock). */
static struct json_object *media_json(struct master *m)
{
	struct json_object *o = json_object_new_object();
	struct master_media_stats s;

	master_media_stats(m, &s);
	json_object_object_add(o, "count", json_u64(s.count));
	json_object_object_add(o, "master_count", json_u64(s.master_count));
	json_object_object_add(o, "last_offset", s.last_ns ?
			       json_u64(s.last_offset) : NULL);
	json_object_object_add(o, "last_at", s.last_ns ? json_time(s.last_ns) :
			       NULL);
	json_object_object_add(o, "device_bytes", json_u64(s.device_bytes));
	json_object_object_add(o, "formatted_bytes", json_u64(s.formatted_bytes));
	json_object_object_add(o, "cut_bytes", json_u64(s.cut_bytes));
	json_object_object_add(o, "shrunk_at", s.shrunk_ns ?
			       json_time(s.shrunk_ns) : NULL);
	return o;
}

enum MHD_Result api_get_pool(struct http_req *rq, const char *arg)
{
	struct json_object *o = json_object_new_object(), *tenants;
	struct master *m = rq->m;
	struct famfs_log_base base;
	struct famfs_state *st;
	struct famfs_log_pos pub;
	uint64_t total, free_b, done, failed;
	char uuid[37];

	(void)arg;
	master_lock(m);
	/* Under the lock: a compaction's switch rewrites pool->info. */
	uuid_unparse_lower(m->pool->info.pool_uuid, uuid);
	st = m->st;
	/* A standby's writer never started: it is where it has followed to. */
	pub = atomic_load(&m->active) ? famfs_log_published(m->pool->log) :
					m->applied;
	base = famfs_log_base(m->pool->log);
	total = famfs_alloc_total_bytes(st->alloc);
	free_b = famfs_alloc_free_bytes(st->alloc);
	master_compact_counts(m, &done, &failed);
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
	json_object_object_add(o, "log_records", json_u64(pub.seq - base.seq));
	json_object_object_add(o, "log_generation",
			       json_u64(m->pool->info.log_generation));
	json_object_object_add(o, "log_base_seq", json_u64(base.seq));
	json_object_object_add(o, "checkpoint_bytes", json_u64(base.ckpt_bytes));
	json_object_object_add(o, "checkpoint_items", json_u64(base.ckpt_items));
	json_object_object_add(o, "log_compactions", json_u64(done));
	json_object_object_add(o, "log_compactions_failed", json_u64(failed));
	json_object_object_add(o, "last_seq", json_u64(pub.seq));
	json_object_object_add(o, "epoch", json_u64(m->epoch));
	json_object_object_add(o, "role", json_object_new_string(
			       atomic_load(&m->active) ? "active" : "standby"));
	json_object_object_add(o, "slot", json_u64(m->cfg.slot));
	json_object_object_add(o, "epoch_start_seq", json_u64(m->epoch_start_seq));
	json_object_object_add(o, "applied_seq", json_u64(m->applied.seq));
	json_object_object_add(o, "master_host", json_object_new_string(m->host));
	json_object_object_add(o, "files", json_u64(st->files));
	json_object_object_add(o, "dirs", json_u64(st->dirs));
	json_object_object_add(o, "fenced", fenced_json(m));
	json_object_object_add(o, "media_errors", media_json(m));
	tenants = api_tenants_json(m, NULL);
	master_unlock(m);
	json_object_object_add(o, "damage", damage_json(m));
	if (!tenants) {
		json_object_put(o);
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	}
	json_object_object_add(o, "tenants", tenants);
	return http_reply_json(rq, 200, o);
}

static void wake(struct feed_waiter *w)
{
	struct http_req *rq = (struct http_req *)((char *)w -
						  offsetof(struct http_req, waiter));

	http_resume(rq);
}

/* Milliseconds to the microsecond, printed so (json-c prints 17 digits). */
static struct json_object *ms_json(uint64_t ns)
{
	char text[32];

	snprintf(text, sizeof(text), "%.3f", ns / 1e6);
	return json_object_new_double_s(ns / 1e6, text);
}

/* Second dispatch, after the wake: how the compaction went. */
static enum MHD_Result reply(struct http_req *rq)
{
	struct master_compact_stats s;
	struct master_why w = { { 0 } };
	struct json_object *o;
	int err;

	master_lock(rq->m);
	err = master_compact_result(rq->m, rq->waiter.after, &s, &w);
	master_unlock(rq->m);
	if (err)
		return api_reply_err(rq, err, &w);
	o = json_object_new_object();
	json_object_object_add(o, "generation", json_u64(s.generation));
	json_object_object_add(o, "base_seq", json_u64(s.base_seq));
	json_object_object_add(o, "checkpoint_bytes", json_u64(s.ckpt_bytes));
	json_object_object_add(o, "checkpoint_items", json_u64(s.ckpt_items));
	json_object_object_add(o, "records_copied", json_u64(s.copied));
	json_object_object_add(o, "duration_ms", ms_json(s.duration_ns));
	return http_reply_json(rq, 200, o);
}

enum MHD_Result api_post_compact(struct http_req *rq, const char *arg)
{
	struct master *m = rq->m;
	struct master_why w;
	bool queued;

	(void)arg;
	if (rq->waits_compaction)
		return reply(rq);
	rq->waiter = (struct feed_waiter){ .wake = wake };
	rq->waits_compaction = true;
	master_lock(m);
	/* A standby has no compaction thread: it would wait until a takeover. */
	if (m->fenced || !atomic_load(&m->elected)) {
		master_why_refused(m, &w);
		master_unlock(m);
		return api_reply_err(rq, -ESHUTDOWN, &w);
	}
	/* Under the lock: the wake-up cannot come before the suspension. */
	queued = master_compact_wait(m, &rq->waiter);
	if (queued)
		http_suspend(rq);
	master_unlock(m);
	if (queued)
		return MHD_YES;
	master_why_set(&w, "the master is stopping");
	return api_reply_err(rq, -ESHUTDOWN, &w);
}
