// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The follower: the one thread that reads the pool's log and applies new
 * records to the agent's replayed state, which the back-end serves.
 *
 * It keeps its position (sequence and byte offset of the last applied
 * record), so each step costs O(new records): read the published tail
 * (log read protocol R1), and if it moved, replay from the position to the
 * tail (R2-R3, inside famfs_replay). It wakes every --poll-ms, which alone
 * keeps it converging with the network down, and at once when the master's
 * change feed or a heartbeat reply announces a newer sequence.
 *
 * The log is read from the start again only when its generation changed
 * (compaction) or the pool was formatted anew; the new state is built
 * aside while the old one keeps serving, then swapped in under the write
 * lock. An eviction by the master (heartbeat 409) is not a reason: the log
 * did not change, so the follower keeps its state and position and only
 * revokes what is open here (revoke_open).
 *
 * The mount follows through the back-end (agent/backend.h): apply for each
 * record under the write lock, resync after a swap, revoke after an
 * eviction, then notify once the write lock is dropped (FUSE tells the
 * kernel's caches there: a FUSE handler waiting for the read lock may hold
 * the directory's inode lock that a notification needs).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "replay.h"

/* What was last reported, so a repeating failure is logged once. */
struct follow_report {
	uint64_t seq;
	const char *reason;
	uint64_t last_status_ns;
};

static struct follow_report report;

/*
 * Replay hook, called with the write lock held after each applied record.
 * For a delete the node is already gone from the state.
 */
static int on_record(void *ctx, const struct famfs_rec *r, struct famfs_state *st)
{
	struct agent *a = ctx;

	(void)st;
	a->o.backend->apply(a->be_priv, r);
	return 0;
}

/* The back-end passes on what the last step changed; no lock held. */
static void notify_backend(struct agent *a)
{
	if (a->o.backend->notify)
		a->o.backend->notify(a->be_priv);
}

static void report_failure(uint64_t seq, const char *what, const char *reason)
{
	if (report.seq == seq && report.reason == reason)
		return;
	report.seq = seq;
	report.reason = reason;
	msg(MSG_ERR, "%s at record %" PRIu64 ": %s; serving the "
		  "state as of the record before, will retry", what, seq, reason);
}

static void report_recovered(void)
{
	if (!report.reason)
		return;
	msg(MSG_INFO, "log readable again after record %" PRIu64
		  ", resuming", report.seq);
	report.reason = NULL;
	report.seq = 0;
}

/* systemd: keep the watchdog fed and the status line current, at most 1/s. */
static void notify_systemd(struct agent *a, uint64_t seq)
{
	uint64_t now = clock_mono_ns();

	if (now - report.last_status_ns < 1000000000ull)
		return;
	report.last_status_ns = now;
	/* The follower is the only writer of a->st: no lock needed here. */
	sd_notifyf(0, "WATCHDOG=1\nSTATUS=agent: applied seq %" PRIu64
		   ", epoch %" PRIu64 ", generation %" PRIu64 ", mounted at %s",
		   seq, a->st->last_epoch, a->generation, a->o.mount);
}

static void report_replay(long n, struct famfs_replay_error *err)
{
	if (n == -ENOMEM)
		err->reason = "out of memory";
	report_failure(err->seq, err->bad_record ? "Failed to read the log" :
		       "Failed to apply a log record", err->reason);
}

/*
 * Replays from the agent's position to the published tail under the write
 * lock. Returns records applied or -errno (the position then stops before
 * the bad record and the mount keeps serving what was applied), with why
 * in *err, for the caller to report.
 */
static long replay_to_tail(struct agent *a, const struct famfs_log_pos *tail,
			   struct famfs_replay_error *err)
{
	long n;

	pthread_rwlock_wrlock(&a->lock);
	n = famfs_replay(a->pool->log, &a->pos, tail, a->st, on_record, a, err);
	pthread_rwlock_unlock(&a->lock);
	notify_backend(a);
	return n;
}

/*
 * A damaged log does not keep the mount away: the agent mounts what it
 * could replay (reported once, with the exact record) and the follower
 * keeps retrying. Only running out of memory is fatal here.
 */
int agent_follow_initial(struct agent *a)
{
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	long n;

	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0) {
		report_failure(lerr.seq, "Failed to read the log tail", lerr.reason);
		return 0;
	}
	n = replay_to_tail(a, &tail, &err);
	if (n < 0)
		report_replay(n, &err);
	if (n == -ENOMEM)
		return -ENOMEM;
	if (n >= 0)
		report_recovered();
	return 0;
}

/*
 * Evicted by the master. The state is still the log's up to our position,
 * so nothing is replayed: the back-end cuts off what is open here, and the
 * heartbeat may then register this agent afresh.
 */
static void revoke_open(struct agent *a)
{
	a->o.backend->revoke(a->be_priv);
	notify_backend(a);
	msg(MSG_INFO, "evicted by the master: open handles "
		  "revoked, state kept at seq %" PRIu64 " (no replay)",
		  a->pos.seq);
	atomic_fetch_add(&a->revokes_done, 1);
}

/*
 * Builds the state from the start of the log (reloading the superblock:
 * the generation or the whole pool may have changed), then swaps it in.
 * anew: the log went back, so the pool was formatted anew (or restored);
 * another pool UUID says so too. Then nothing open here belongs to the
 * new pool: the back-end's reformat revokes it all, under the write lock
 * of the swap, so no open of the new state finds an old handle.
 */
static int rebuild(struct agent *a, const char *why, bool anew)
{
	struct famfs_pool *pool = a->pool;
	struct famfs_log *log = pool->log, *new_log = NULL;
	struct famfs_state *st = NULL, *old;
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;
	struct famfs_log_pos pos = { 0 }, tail;
	long n;
	int r;

	r = famfs_sb_load(pool->base, pool->size, a->ops, &info, &sbs);
	if (r < 0) {
		report_failure(0, "Failed to reload the superblock",
			       sbs.reason[0] ? sbs.reason[0] : "no superblock");
		return r;
	}
	if (info.log_generation != a->generation ||
	    info.log_offset != pool->info.log_offset ||
	    info.log_size != pool->info.log_size) {
		r = famfs_log_open(pool->base + info.log_offset, info.log_size,
				   info.log_generation, a->ops, &new_log, &lerr);
		if (r < 0) {
			/* A compaction half way: the next poll tries again. */
			report_failure(0, "Failed to open the new log generation",
				       lerr.reason);
			return r;
		}
		log = new_log;
	}
	r = famfs_log_read_tail(log, &tail, &lerr);
	if (r == 0)
		r = famfs_state_new(&info, &st);
	else
		report_failure(lerr.seq, "Failed to read the log tail", lerr.reason);
	if (r == 0) {
		n = famfs_replay(log, &pos, &tail, st, NULL, NULL, &err);
		if (n < 0) {
			report_failure(err.seq, "Failed to replay the log",
				       n == -ENOMEM ? "out of memory" : err.reason);
			r = (int)n;
		}
	}
	if (r < 0) {
		famfs_state_free(st);
		famfs_log_free(new_log);
		return r;
	}

	anew = anew || memcmp(info.pool_uuid, pool->info.pool_uuid, 16) != 0;
	pthread_rwlock_wrlock(&a->lock);
	if (anew)
		a->o.backend->reformat(a->be_priv, &info);
	old = a->st;
	a->st = st;
	a->pos = pos;
	a->generation = info.log_generation;
	pool->info = info;
	if (new_log) {
		log = pool->log;	/* the old generation's, freed below */
		pool->log = new_log;
	}
	pthread_rwlock_unlock(&a->lock);
	if (new_log)
		famfs_log_free(log);

	/* The follower is the only writer of both: no lock to read them. */
	a->o.backend->resync(a->be_priv, old->ns, st->ns);
	famfs_state_free(old);
	notify_backend(a);
	msg(MSG_INFO, "replayed the log from the start (%s%s): "
		  "generation %" PRIu64 ", seq %" PRIu64 ", %" PRIu64 " files, %"
		  PRIu64 " directories", why, anew ? "; every open file "
		  "revoked" : "", info.log_generation, pos.seq,
		  st->files, st->dirs);
	report_recovered();
	return 0;
}

/*
 * Whether the superblock names another pool or log generation than the one
 * followed; if so, rebuilds from it. Asked at every follow step, before the
 * tail is trusted: a pool formatted anew can reach or pass our position
 * before we look, and then its tail alone looks like ours (nothing new) or
 * like more of ours (its records at our old offset would be replayed onto
 * the old tree). Loading the superblock is a few cache lines and one CRC,
 * next to a poll period of milliseconds.
 */
static bool pool_changed(struct agent *a)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;

	if (famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info, &sbs) < 0)
		return false;
	if (memcmp(info.pool_uuid, a->pool->info.pool_uuid, 16) != 0) {
		rebuild(a, "the pool was formatted anew", true);
		return true;
	}
	if (info.log_generation != a->generation) {
		rebuild(a, "the log generation changed", false);
		return true;
	}
	return false;
}

/* One follow step: read the tail, replay what is new. */
static void follow_once(struct agent *a)
{
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	long n;

	if (pool_changed(a))
		return;
	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0) {
		/* A new generation, a new pool, or damage. */
		if (!pool_changed(a))
			report_failure(lerr.seq, "Failed to read the log tail",
				       lerr.reason);
		return;
	}
	if (tail.seq == a->pos.seq && tail.end == a->pos.end)
		return;
	if (tail.seq < a->pos.seq || tail.end < a->pos.end) {
		/*
		 * The log went back: a compaction (another generation), or,
		 * in the same pool and generation, formatted anew or restored.
		 */
		if (!pool_changed(a))
			rebuild(a, "the published tail went backwards", true);
		return;
	}
	n = replay_to_tail(a, &tail, &err);
	if (n < 0 && n != -ENOMEM && pool_changed(a))
		return;
	if (n < 0)
		report_replay(n, &err);
	if (n > 0) {
		msg(MSG_DEBUG, "applied %ld record(s), now at seq %"
			  PRIu64, n, tail.seq);
		if (a->pos.seq == tail.seq)
			report_recovered();
	}
}

static void *follower_main(void *arg)
{
	struct agent *a = arg;
	bool evicted;

	while (!atomic_load(&a->stop)) {
		struct timespec until;

		if (a->o.backend->tick)
			a->o.backend->tick(a->be_priv);

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)(a->o.poll_ms % 1000) * 1000000L;
		until.tv_sec += a->o.poll_ms / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;

		pthread_mutex_lock(&a->wake_lock);
		while (!a->wake && !a->evicted && !atomic_load(&a->stop))
			if (pthread_cond_timedwait(&a->wake_cond, &a->wake_lock,
						   &until) == ETIMEDOUT)
				break;
		evicted = a->evicted;
		a->evicted = false;
		a->wake = false;
		pthread_mutex_unlock(&a->wake_lock);
		if (atomic_load(&a->stop))
			break;

		if (evicted)
			revoke_open(a);
		follow_once(a);
		notify_systemd(a, a->pos.seq);
	}
	return NULL;
}

/*
 * Capacity from the replayed allocator: space of deleted files still
 * pending reclaim is not free yet (the allocator keeps it marked until the
 * reclaim record). Inodes are bounded by the log: free_inodes estimates how
 * many more one-extent creates with a short name fit in what is left of it.
 */
void agent_usage(struct agent *a, struct agent_usage *ret)
{
	uint32_t min_create = famfs_rec_size(sizeof(struct famfs_rec_create) +
					     sizeof(struct famfs_extent) + 8);

	pthread_rwlock_rdlock(&a->lock);
	ret->total_bytes = famfs_alloc_total_bytes(a->st->alloc);
	ret->free_bytes = famfs_alloc_free_bytes(a->st->alloc);
	ret->nodes = famfs_ns_count(a->st->ns);
	/* Under the lock: a pool formatted anew replaces pool->info. */
	ret->alloc_unit = a->pool->info.alloc_unit;
	ret->free_inodes = (famfs_log_capacity(a->pool->log) - a->pos.end) /
			   min_create;
	pthread_rwlock_unlock(&a->lock);
}

void agent_follow_wake(struct agent *a)
{
	pthread_mutex_lock(&a->wake_lock);
	a->wake = true;
	pthread_cond_signal(&a->wake_cond);
	pthread_mutex_unlock(&a->wake_lock);
}

void agent_follow_request_revoke(struct agent *a)
{
	pthread_mutex_lock(&a->wake_lock);
	a->evicted = true;
	pthread_cond_signal(&a->wake_cond);
	pthread_mutex_unlock(&a->wake_lock);
}

int agent_follow_start(struct agent *a)
{
	int r = pthread_create(&a->follower, NULL, follower_main, a);

	if (r)
		return -r;
	a->follower_started = true;
	return 0;
}

void agent_follow_stop(struct agent *a)
{
	if (!a->follower_started)
		return;
	pthread_mutex_lock(&a->wake_lock);
	pthread_cond_broadcast(&a->wake_cond);
	pthread_mutex_unlock(&a->wake_lock);
	pthread_join(a->follower, NULL);
	a->follower_started = false;
}
