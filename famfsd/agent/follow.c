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
 * A new log generation (compaction) is followed by agent/generation.c:
 * usually the state stays and only the reader moves; an agent that fell
 * behind the new checkpoint rebuilds from it. A pool formatted anew, or
 * whose geometry changed (any field famfs_sb_compare() names but the
 * generation), is rebuilt from the start (agent_pool_replaced): the old
 * tree is never served from the new pool's bytes; when the new pool
 * cannot be read yet, the old tree is dropped all the same. An eviction by the
 * master (heartbeat 409) is not a reason to read anything again: the log
 * did not change, so the follower keeps its state and position and only
 * revokes what is open here (revoke_open).
 *
 * The mount follows through the back-end (agent/backend.h): apply for each
 * record and resync after a swap, both under the write lock, revoke after
 * an eviction, then notify once the write lock is dropped (FUSE tells the
 * kernel's caches there: a FUSE handler waiting for the read lock may hold
 * the directory's inode lock that a notification needs).
 *
 * A replay that applied a delete kicks the heartbeat, so the master hears
 * at once that this agent is past it and can reclaim the space (the kicks
 * coalesce: agent/heartbeat.c).
 */
#include <endian.h>
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
	bool generation;		/* seq is a log generation */
	bool no_superblock;		/* said that none is valid */
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
	if (!r->checkpoint) {
		/* Read just now, so the pool still holds it as checked. */
		a->mark = (struct agent_mark){
			.generation = a->generation, .crc = le32toh(r->hdr->crc),
			.len = le32toh(r->hdr->len),
		};
		if (r->type == FAMFS_REC_DELETE)
			a->applied_delete = true;
		agent_epoch_note(a, r);
	}
	a->o.backend->apply(a->be_priv, r);
	return 0;
}

/* The back-end passes on what the last step changed; no lock held. */
static void notify_backend(struct agent *a)
{
	if (a->o.backend->notify)
		a->o.backend->notify(a->be_priv);
}

/* Whether this failure was the last one reported; if not, it is now. */
static bool reported(uint64_t seq, const char *reason, bool generation)
{
	if (report.seq == seq && report.reason == reason &&
	    report.generation == generation)
		return true;
	report.seq = seq;
	report.reason = reason;
	report.generation = generation;
	return false;
}

void agent_follow_report(uint64_t seq, const char *what, const char *reason)
{
	if (!reported(seq, reason, false))
		msg(MSG_ERR, "%s at record %" PRIu64 ": %s; serving the state "
		    "as of the record before, will retry", what, seq, reason);
}

void agent_follow_report_gen(uint64_t generation, const char *what,
			     const char *reason)
{
	if (!reported(generation, reason, true))
		msg(MSG_ERR, "Failed to %s log generation %" PRIu64 ": %s; "
		    "serving the state as of the generation before, will retry",
		    what, generation, reason);
}

void agent_follow_recovered(void)
{
	if (!report.reason)
		return;
	if (report.generation)
		msg(MSG_INFO, "log generation %" PRIu64 " followed, resuming",
		    report.seq);
	else
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
	agent_follow_report(err->seq, err->bad_record ? "Failed to read the log" :
			    "Failed to apply a log record", err->reason);
}

/*
 * Replays from the agent's position to the published tail under the write
 * lock. Returns records applied or -errno (the position then stops before
 * the bad record and the mount keeps serving what was applied), with why
 * in *err, for the caller to report.
 */
long agent_follow_replay(struct agent *a, const struct famfs_log_pos *tail,
			 struct famfs_replay_error *err)
{
	long n;

	a->applied_delete = false;
	pthread_rwlock_wrlock(&a->lock);
	n = famfs_replay(a->pool->log, &a->pos, tail, a->st, on_record, a, err);
	pthread_rwlock_unlock(&a->lock);
	notify_backend(a);
	if (a->applied_delete)
		agent_heartbeat_kick(a);
	else if (n > 0)
		agent_heartbeat_soon(a);
	return n;
}

/* What the superblock says, next to what the follower follows. */
enum pool_change {
	POOL_SAME,		/* the pool and generation followed */
	POOL_FOLLOWED,		/* another one, followed now */
	POOL_NOT_YET,		/* another one, not followed yet (reported) */
	POOL_UNREADABLE,	/* no good superblock copy */
};

/*
 * Whether the superblock names another pool or log generation than the one
 * followed; if so, follows it (a new pool: rebuild from the start; a new
 * generation: agent/generation.c). Asked at every follow step, before the
 * tail is trusted: a pool formatted anew can reach or pass our position
 * before we look, and then its tail alone looks like ours (nothing new) or
 * like more of ours (its records at our old offset would be replayed onto
 * the old tree). Loading the superblock is a few cache lines and one CRC,
 * next to a poll period of milliseconds.
 */
static enum pool_change pool_changed(struct agent *a)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;
	enum famfs_sb_field f;
	int r;

	if (famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info, &sbs) < 0)
		return POOL_UNREADABLE;
	/* A generation that went back is agent_generation_follow()'s. */
	f = famfs_sb_compare(&a->pool->info, &info, 0);
	if (f != FAMFS_SB_SAME && f != FAMFS_SB_GENERATION)
		r = agent_pool_replaced(a, &info, f);
	else if (info.log_generation != a->generation)
		r = agent_generation_follow(a, &info);
	else
		return POOL_SAME;
	return r < 0 ? POOL_NOT_YET : POOL_FOLLOWED;
}

/* After a failed read: a new pool or generation explains it (dealt with). */
static bool explained(struct agent *a)
{
	enum pool_change c = pool_changed(a);

	return c == POOL_FOLLOWED || c == POOL_NOT_YET;
}

/*
 * A damaged log does not keep the mount away: the agent mounts what it
 * could replay (reported once, with the exact record) and the follower
 * keeps retrying. A replay that failed because a compaction moved on
 * under it (the generation's areas reused) follows the superblock's
 * generation before the mount, so the mount starts whole. Only running
 * out of memory is fatal here.
 */
int agent_follow_initial(struct agent *a)
{
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	long n;

	agent_damage_watch(a, a->pool->log);
	agent_epoch_fence(a);
	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0) {
		if (!explained(a))
			agent_follow_report(lerr.seq, "Failed to read the log tail",
					    lerr.reason);
		agent_damage_flush(a);
		return 0;
	}
	n = agent_follow_replay(a, &tail, &err);
	if (n < 0 && n != -ENOMEM && explained(a))
		n = 0;
	if (n < 0)
		report_replay(n, &err);
	agent_damage_flush(a);
	if (n == -ENOMEM)
		return -ENOMEM;
	if (n >= 0)
		agent_follow_recovered();
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

/* The log went back in its own generation: formatted anew, or restored. */
static void log_went_back(struct agent *a)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;

	if (famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info, &sbs) == 0)
		agent_generation_anew(a, &info, "the published tail went backwards");
}

/* One follow step: follow the superblock, read the tail, replay what is new. */
static void follow_once(struct agent *a)
{
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	long n;

	switch (pool_changed(a)) {
	case POOL_NOT_YET:
		return;
	case POOL_UNREADABLE:
		/*
		 * mkfs half way (it clears both copies first): nothing is
		 * read from a log no superblock vouches for. Said once.
		 */
		if (!report.no_superblock)
			msg(MSG_WARN, "no valid superblock on the pool (being "
			    "formatted?): not following its log until there "
			    "is one; serving the state as of seq %" PRIu64,
			    a->pos.seq);
		report.no_superblock = true;
		return;
	default:
		report.no_superblock = false;
		break;
	}
	agent_epoch_fence(a);
	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0) {
		/* A new generation, a new pool, or damage. */
		if (!explained(a))
			agent_follow_report(lerr.seq, "Failed to read the log tail",
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
		if (pool_changed(a) == POOL_SAME)
			log_went_back(a);
		return;
	}
	n = agent_follow_replay(a, &tail, &err);
	if (n < 0 && n != -ENOMEM && explained(a))
		return;
	if (n < 0)
		report_replay(n, &err);
	if (n > 0) {
		msg(MSG_DEBUG, "applied %ld record(s), now at seq %"
			  PRIu64, n, tail.seq);
		if (a->pos.seq == tail.seq)
			agent_follow_recovered();
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
		agent_damage_flush(a);
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
