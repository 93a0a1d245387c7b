// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A standby master (docs/failover.md, docs/master.md "Active and
 * standby"): it serves the API (the router redirects to the active
 * master), writes nothing into the pool but its own election slot, and
 * keeps its state warm by following the log as an agent does. Every
 * STANDBY_STEP_MS:
 *
 *   1. famfs_elect_watch(): read every slot, beat ours once per renewal
 *      period with how far we have applied;
 *   2. follow: the superblock still names our generation (else rebuild the
 *      state from the new one: the active master compacted), the readers'
 *      epoch fence of the active slot is set on our log (a state that
 *      already holds a record it refuses is rebuilt), then replay up to
 *      the published tail;
 *   3. when the watch says VACANT (no active master, or its heartbeat
 *      unchanged for W on our clock): catch up to the tail once more and
 *      run the election for the epoch after the log's last, with our next
 *      record as its epoch_start_seq. -EAGAIN (a competing ballot) backs
 *      off and watches again.
 *
 * Everything that touches the state holds m->lock, so the API threads read
 * a consistent state between two steps.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "elect.h"
#include "master/master.h"
#include "replay.h"
#include "super.h"

#define STANDBY_STEP_MS		50u

/* Replay hook of a rebuild: the feed hears only records it did not have. */
struct rebuild_ctx {
	struct master *m;
	uint64_t fed;			/* the feed's last seq before */
};

static int rebuild_hook(void *ctx, const struct famfs_rec *r,
			struct famfs_state *st)
{
	struct rebuild_ctx *c = ctx;

	(void)st;
	master_note_epoch(c->m, r);
	if (r->checkpoint || r->seq <= c->fed)
		return 0;
	return master_feed_add(c->m->feed, r->seq, r->type, r->epoch);
}

/*
 * Under m->lock: a new state from log (the current generation, or the one
 * a compaction switched to), replayed up to its tail. The old state stays
 * when this fails. -EUCLEAN with why.
 */
int master_state_rebuild(struct master *m, struct famfs_log *log,
			 struct master_why *w)
{
	struct rebuild_ctx ctx = { .m = m, .fed = master_feed_last_seq(m->feed) };
	struct famfs_replay_error err = { 0 };
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_log_error lerr;
	struct famfs_state *st;
	long n;
	int r;

	r = famfs_log_read_tail(log, &tail, &lerr);
	if (r < 0) {
		master_why_set(w, "the log tail: %s", lerr.reason);
		return r;
	}
	r = famfs_state_new(&m->pool->info, &st);
	if (r < 0) {
		master_why_set(w, "%s", strerror(-r));
		return r;
	}
	/* The checkpoint is the writer's own: nothing in it is refused. */
	m->seen_epoch = famfs_log_base(log).epoch;
	m->seen_epoch_seq = 0;
	n = famfs_replay(log, &pos, &tail, st, rebuild_hook, &ctx, &err);
	if (n < 0) {
		master_why_set(w, "record %llu (offset %llu in the log): %s",
			       (unsigned long long)err.seq,
			       (unsigned long long)err.offset,
			       err.reason ? err.reason : strerror((int)-n));
		famfs_state_free(st);
		return n == -EUCLEAN ? -EUCLEAN : (int)n;
	}
	famfs_state_free(m->st);
	m->st = st;
	m->applied = pos;
	master_feed_published(m->feed, pos.seq);
	return 0;
}

/*
 * Step 2's first half, under m->lock: the active master compacted into a
 * new generation. Opens it, rebuilds the state from it and moves there;
 * on any failure stays where it is and tries again at the next step.
 * Another pool entirely (a new UUID, a new geometry) is the pool watch's
 * business: it fences us.
 */
static void follow_generation(struct master *m)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;
	struct famfs_log_error lerr;
	struct famfs_log *log;
	struct master_why w;
	uint64_t t0 = clock_mono_ns(), from = m->pool->info.log_generation;

	if (famfs_sb_load(m->pool->base, m->pool->size, m->pool->ops, &info,
			  &sbs) < 0)
		return;
	if (famfs_sb_compare(&m->pool->info, &info, 0) != FAMFS_SB_SAME) {
		master_pool_check(m);
		return;
	}
	if (info.log_generation == from)
		return;
	if (famfs_log_open(famfs_pool_log_base(m->pool), info.log_size,
			   info.log_generation, m->pool->ops, &log, &lerr) < 0)
		return;
	famfs_log_set_epoch_fence(log, m->fence_epoch, m->fence_seq);
	if (master_state_rebuild(m, log, &w) < 0) {
		msg(MSG_WARN, "standby: could not follow the log into "
		    "generation %llu yet (%s), will retry",
		    (unsigned long long)info.log_generation, w.msg);
		famfs_log_free(log);
		return;
	}
	famfs_log_free(m->pool->log);
	m->pool->log = log;
	m->pool->info = info;
	m->sb_watch_valid = false;
	master_log_attached(m);
	atomic_store(&m->generation, info.log_generation);
	master_feed_generation(m->feed, info.log_generation);
	atomic_fetch_add(&m->standby_rebuilds, 1);
	msg(MSG_INFO, "standby: the active master compacted the log: "
	    "rebuilt the state from generation %llu (was %llu) in %.1f ms, "
	    "applied seq %llu", (unsigned long long)info.log_generation,
	    (unsigned long long)from, (double)(clock_mono_ns() - t0) / 1e6,
	    (unsigned long long)m->applied.seq);
}

/*
 * Step 2's second half, under m->lock: the active slot's readers' epoch
 * fence (epoch E from record S) on our log. A state that already applied
 * a record at or after S of an epoch below E (read before the fence was
 * known) holds what every reader now refuses: rebuild it.
 */
static void follow_fence(struct master *m, const struct famfs_elect_view *v)
{
	struct master_why w;
	bool stale;

	if (v->active < 0 || v->epoch <= m->fence_epoch)
		return;
	m->fence_epoch = v->epoch;
	m->fence_seq = v->epoch_start_seq;
	famfs_log_set_epoch_fence(m->pool->log, v->epoch, v->epoch_start_seq);
	stale = master_applied_below(m, v->epoch) >= v->epoch_start_seq &&
		m->applied.seq >= v->epoch_start_seq;
	if (!stale)
		return;
	msg(MSG_WARN, "standby: applied records from seq %llu on of an epoch "
	    "below %llu, which the active master's epoch fence refuses; "
	    "rebuilding the state", (unsigned long long)v->epoch_start_seq,
	    (unsigned long long)v->epoch);
	if (master_state_rebuild(m, m->pool->log, &w) < 0)
		msg(MSG_ERR, "standby: rebuild failed: %s, will retry", w.msg);
}

/* Replays up to the published tail; a failure is retried next step. */
static int follow_tail(struct master *m)
{
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	struct master_why w;
	int r;

	r = famfs_log_read_tail(m->pool->log, &tail, &lerr);
	if (r == 0 && tail.seq == m->applied.seq)
		return 0;
	if (r == 0)
		r = master_replay(m, &tail, &w);
	else
		snprintf(w.msg, sizeof(w.msg), "the log tail: %s", lerr.reason);
	if (r < 0 && !m->follow_failing)
		msg(MSG_WARN, "standby: could not follow the log past seq "
		    "%llu: %s, will retry", (unsigned long long)m->applied.seq,
		    w.msg);
	m->follow_failing = r < 0;
	if (r == 0)
		master_feed_published(m->feed, m->applied.seq);
	return r;
}

/* Step 2 as a whole. */
void master_follow(struct master *m, const struct famfs_elect_view *v)
{
	master_lock(m);
	if (!m->fenced) {
		follow_generation(m);
		if (v)
			follow_fence(m, v);
		follow_tail(m);
	}
	master_unlock(m);
}

/* Sleeps up to ns for a signal; true for a stop (SIGTERM, SIGINT). */
static bool wait_signal(struct master *m, const sigset_t *sigs, uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};
	int sig = sigtimedwait(sigs, NULL, &ts);

	if (sig == SIGTERM || sig == SIGINT)
		return true;
	if (sig == SIGHUP)
		master_reload(m);
	return stop_requested();
}

/*
 * Who was active before us, and when we last saw its heartbeat change, for
 * the takeover's line.
 */
static void note_active(struct master_takeover_from *from,
			const struct famfs_elect_view *v)
{
	uint64_t hb;

	if (v->active < 0)
		return;
	hb = v->slot[v->active].heartbeat;
	if (from->slot != v->active || from->heartbeat != hb) {
		from->slot = v->active;
		from->heartbeat = hb;
		from->last_seen_ns = clock_mono_ns();
	}
	snprintf(from->host, sizeof(from->host), "%s", v->host);
}

static uint64_t applied_seq(struct master *m)
{
	uint64_t seq;

	master_lock(m);
	seq = m->applied.seq;
	master_unlock(m);
	return seq;
}

/* Step 3: 1 won, 0 not (yet), <0 an error the caller logs. */
static int try_election(struct master *m, bool force, uint64_t *ret_epoch)
{
	uint64_t min_epoch, next_seq;

	master_follow(m, NULL);
	master_lock(m);
	min_epoch = m->st->last_epoch;
	next_seq = m->applied.seq + 1;
	master_unlock(m);
	return famfs_elect_run(m->elect, min_epoch, next_seq, force, ret_epoch);
}

int master_standby(struct master *m, const sigset_t *sigs, bool first)
{
	struct master_takeover_from from = { .slot = -1 };
	struct famfs_elect_view view, *v = &view;
	bool force = m->cfg.force_takeover, watch_failing = false;
	uint64_t epoch, step = STANDBY_STEP_MS * 1000000ull, last_status = 0;
	uint64_t said_epoch = 0;
	int r;

	for (;;) {
		r = famfs_elect_watch(m->elect, applied_seq(m), v);
		if (r < 0 && !watch_failing)
			msg(MSG_WARN, "standby: Failed to read the election "
			    "slots: %s, will retry", strerror(-r));
		watch_failing = r < 0;
		if (r >= 0) {
			note_active(&from, v);
			master_follow(m, v);
		}
		/* Said once per active master (a new epoch is a new one). */
		if (r == FAMFS_ELECT_FOLLOW && v->epoch != said_epoch) {
			msg(MSG_INFO, "standby in slot %u: slot %d (host %s) is "
			    "active with epoch %llu", m->cfg.slot, v->active + 1,
			    v->host, (unsigned long long)v->epoch);
			said_epoch = v->epoch;
		}
		if (r == FAMFS_ELECT_VACANT || (r >= 0 && force)) {
			/* Forcing is for a live active master only. */
			r = try_election(m, force && r == FAMFS_ELECT_FOLLOW, &epoch);
			if (r == 1)
				return master_takeover(m, epoch, &from);
			if (r == -EAGAIN)
				step = famfs_elect_backoff_ns(m->elect);
			else if (r < 0)
				msg(MSG_WARN, "standby: the election failed: "
				    "%s, will retry", strerror(-r));
			force = false;	/* once, at start */
		}
		if (first)
			return 2;
		if (clock_mono_ns() - last_status >= 1000000000ull) {
			master_notify_status(m);
			last_status = clock_mono_ns();
		}
		if (m->fenced || wait_signal(m, sigs, step))
			return 0;
		step = STANDBY_STEP_MS * 1000000ull;
	}
}
