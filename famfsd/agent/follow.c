// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The follower: the one thread that reads the pool's log and applies new
 * records to the agent's replayed state, which the FUSE threads serve.
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
 * Kernel caches: a replayed delete is pushed to the kernel with
 * fuse_lowlevel_notify_delete() after the write lock is dropped (a FUSE
 * handler waiting for the read lock may hold the directory's inode lock
 * that the notification needs). Creates need nothing: a lookup that missed
 * is answered without an entry timeout, so the kernel asks again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "replay.h"

/*
 * What the kernel may still cache, sent after the write lock is dropped: a
 * name (parent != 0), or the pages and attributes of an inode (parent 0).
 */
struct note {
	struct note *next;
	uint64_t parent, ino;
	uint32_t len;
	char name[];
};

struct follow_ctx {
	struct agent *a;
	struct note *notes, **tail;	/* in replay order */
	bool notes_lost;		/* out of memory: drop all dentries */
};

/* What was last reported, so a repeating failure is logged once. */
struct follow_report {
	uint64_t seq;
	const char *reason;
	uint64_t last_status_ns;
};

static struct follow_report report;

static void ctx_init(struct follow_ctx *c, struct agent *a)
{
	c->a = a;
	c->notes = NULL;
	c->tail = &c->notes;
	c->notes_lost = false;
}

static void queue_note(struct follow_ctx *c, uint64_t parent, uint64_t ino,
		       const char *name, size_t len)
{
	struct note *n = malloc(sizeof(*n) + len);

	if (!n) {
		c->notes_lost = true;
		return;
	}
	n->next = NULL;
	n->parent = parent;
	n->ino = ino;
	n->len = (uint32_t)len;
	memcpy(n->name, name, len);
	*c->tail = n;
	c->tail = &n->next;
}

/* Sends the queued notes to the kernel; called without the state lock. */
static void flush_notes(struct follow_ctx *c)
{
	struct note *n = c->notes, *next;

	for (; n; n = next) {
		next = n->next;
		if (c->a->se && !c->notes_lost && n->parent)
			fuse_backend_forget_name(c->a, n->parent, n->ino,
						 n->name, n->len);
		else if (c->a->se && !n->parent)
			fuse_backend_inval_inode(c->a, n->ino);
		free(n);
	}
	if (c->a->se && c->notes_lost)
		fuse_backend_inval_inode(c->a, FAMFS_ROOT_INO);
	ctx_init(c, c->a);
}

/*
 * Replay hook, called with the write lock held after each applied record.
 * For a delete the node is already gone from the state.
 */
static int on_record(void *ctx, const struct famfs_rec *r, struct famfs_state *st)
{
	struct follow_ctx *c = ctx;

	(void)st;
	/* The kernel module's mount takes every change as it is replayed. */
	if (c->a->o.backend->apply)
		c->a->o.backend->apply(c->a, r);
	switch (r->type) {
	case FAMFS_REC_DELETE:
		if (agent_files_mark_orphan(c->a->files, r->ino))
			msg(MSG_INFO, "inode %" PRIu64 " deleted "
				  "(seq %" PRIu64 ") while open here: its extents "
				  "stay usable by the open handles until the last "
				  "one closes", r->ino, r->seq);
		queue_note(c, r->parent, r->ino, r->name, r->name_len);
		break;
	case FAMFS_REC_RECLAIM:
		/*
		 * The master reclaims only what no agent reports open; this
		 * one still has it open, so it was evicted or its reports were
		 * lost. The space may be reused: stop touching it.
		 */
		if (agent_files_revoke(c->a->files, r->ino)) {
			msg(MSG_WARN, "space of inode %" PRIu64
				  " reclaimed (seq %" PRIu64 ") while open here; "
				  "its handles now fail with EIO", r->ino, r->seq);
			/* Cached pages would still answer reads: drop them. */
			queue_note(c, 0, r->ino, "", 0);
		}
		break;
	default:
		break;
	}
	return 0;
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

/*
 * Replays from the agent's position to the published tail under the write
 * lock. Returns records applied or -errno (the position then stops before
 * the bad record and the mount keeps serving what was applied).
 */
static long replay_to_tail(struct agent *a, const struct famfs_log_pos *tail,
			   struct follow_ctx *c)
{
	struct famfs_replay_error err;
	long n;

	pthread_rwlock_wrlock(&a->lock);
	n = famfs_replay(a->pool->log, &a->pos, tail, a->st, on_record, c, &err);
	pthread_rwlock_unlock(&a->lock);
	if (n < 0) {
		if (n == -ENOMEM)
			err.reason = "out of memory";
		report_failure(err.seq, err.bad_record ?
			       "Failed to read the log" :
			       "Failed to apply a log record", err.reason);
	}
	return n;
}

/*
 * A damaged log does not keep the mount away: the agent mounts what it
 * could replay (reported once, with the exact record) and the follower
 * keeps retrying. Only running out of memory is fatal here.
 */
int agent_follow_initial(struct agent *a)
{
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	struct follow_ctx c;
	long n;

	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0) {
		report_failure(lerr.seq, "Failed to read the log tail", lerr.reason);
		return 0;
	}
	ctx_init(&c, a);
	n = replay_to_tail(a, &tail, &c);
	flush_notes(&c);
	if (n == -ENOMEM)
		return -ENOMEM;
	if (n >= 0)
		report_recovered();
	return 0;
}

/*
 * Queues a note for every node of old that new lacks (same inode under the
 * same parent and name), and marks open inodes that vanished as orphans.
 */
static void diff_trees(struct agent *a, const struct famfs_ns *old,
		       const struct famfs_ns *new, struct follow_ctx *c)
{
	const struct famfs_node *n = famfs_ns_root(old)->dir.first;

	while (n) {
		const struct famfs_node *m = famfs_ns_get(new, n->ino);

		if (!m || !m->parent || m->parent->ino != n->parent->ino ||
		    m->name_len != n->name_len ||
		    memcmp(m->name, n->name, n->name_len) != 0) {
			queue_note(c, n->parent->ino, n->ino, n->name, n->name_len);
			if (!m)
				agent_files_mark_orphan(a->files, n->ino);
		}
		/* Depth first: children, then siblings, then up. */
		if (famfs_node_is_dir(n) && n->dir.first) {
			n = n->dir.first;
			continue;
		}
		while (n && !n->next)
			n = n->parent && n->parent->parent ? n->parent : NULL;
		if (n)
			n = n->next;
	}
}

/*
 * Revokes every handle open here (later reads and writes get EIO) and
 * queues the drop of their cached pages: after an eviction the master no
 * longer waits for this host, so their space may be reused.
 */
static void revoke_handles(struct agent *a, struct follow_ctx *c)
{
	uint64_t *inos = NULL;
	long k = agent_files_list(a->files, &inos);

	agent_files_revoke(a->files, 0);
	for (long i = 0; i < k; i++)
		queue_note(c, 0, inos[i], "", 0);
	free(inos);
	if (k)
		msg(MSG_WARN, "%ld open inode(s) on pool files "
			  "revoked: their handles now fail with EIO", k);
}

/*
 * Evicted by the master. The state is still the log's up to our position,
 * so nothing is replayed: the open handles are revoked, the back-end drops
 * what it holds open of files the log no longer has, and the heartbeat may
 * then register this agent afresh.
 */
static void revoke_open(struct agent *a)
{
	struct follow_ctx c;

	ctx_init(&c, a);
	revoke_handles(a, &c);
	/* The follower is the state's only writer: no lock to read it. */
	if (a->o.backend->resync)
		a->o.backend->resync(a, a->st->ns, a->st->ns, true);
	flush_notes(&c);
	if (a->se)
		fuse_backend_inval_inode(a, FAMFS_ROOT_INO);
	msg(MSG_INFO, "evicted by the master: open handles "
		  "revoked, state kept at seq %" PRIu64 " (no replay)",
		  a->pos.seq);
	atomic_fetch_add(&a->revokes_done, 1);
}

/*
 * Builds the state from the start of the log (reloading the superblock:
 * the generation or the whole pool may have changed), then swaps it in.
 */
static int rebuild(struct agent *a, const char *why)
{
	struct famfs_pool *pool = a->pool;
	struct famfs_log *log = pool->log, *new_log = NULL;
	struct famfs_state *st = NULL, *old;
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;
	struct famfs_log_pos pos = { 0 }, tail;
	struct follow_ctx c;
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

	pthread_rwlock_wrlock(&a->lock);
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

	ctx_init(&c, a);
	diff_trees(a, old->ns, st->ns, &c);
	if (a->o.backend->resync)
		a->o.backend->resync(a, old->ns, st->ns, false);
	famfs_state_free(old);
	flush_notes(&c);
	msg(MSG_INFO, "replayed the log from the start (%s): "
		  "generation %" PRIu64 ", seq %" PRIu64 ", %" PRIu64 " files, %"
		  PRIu64 " directories", why, info.log_generation, pos.seq,
		  st->files, st->dirs);
	report_recovered();
	return 0;
}

/* The tail could not be read: a new generation, a new pool, or damage. */
static void check_pool_changed(struct agent *a, const struct famfs_log_error *lerr)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;

	if (famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info, &sbs) == 0 &&
	    (info.log_generation != a->generation ||
	     memcmp(info.pool_uuid, a->pool->info.pool_uuid, 16) != 0)) {
		rebuild(a, "the log generation changed");
		return;
	}
	report_failure(lerr->seq, "Failed to read the log tail", lerr->reason);
}

/* One follow step: read the tail, replay what is new. */
static void follow_once(struct agent *a)
{
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	struct follow_ctx c;
	long n;

	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0) {
		check_pool_changed(a, &lerr);
		return;
	}
	if (tail.seq == a->pos.seq && tail.end == a->pos.end)
		return;
	if (tail.seq < a->pos.seq || tail.end < a->pos.end) {
		/* The log went back: formatted anew, or restored. */
		rebuild(a, "the published tail went backwards");
		return;
	}
	ctx_init(&c, a);
	n = replay_to_tail(a, &tail, &c);
	flush_notes(&c);
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
	bool evicted, tuned = false;

	while (!atomic_load(&a->stop)) {
		struct timespec until;

		if (!tuned && atomic_load(&a->fuse_inited)) {
			fuse_backend_tune(a);
			tuned = true;
		}

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
