// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Following the log into another generation. A compaction (master/
 * compact.c, C0-C7) wrote the live state as the checkpoint of generation
 * g + 1, the state after record S (its base), copied the records of g
 * after S behind it (the same bytes, re-CRC'd for the new seed), and then
 * switched the superblock. Sequence numbers go on across generations, so
 * the agent's position P means the same record in both.
 *
 * Move (P >= S, the usual case): the state stays as it is; only the reader
 * moves, to record P of the new generation, found by walking the records
 * after its checkpoint (those copied in C4-C5: a few). That record must be
 * the one applied here: its bytes, CRC'd with the seed of the generation
 * the agent read it in, must give the CRC it had there (a copy differs
 * only in its CRC, so this is a check of every byte, for one CRC pass).
 * At P = S the record is not in the new generation, and the checkpoint's
 * base must match the state instead: the epoch of record S, the highest
 * inode number and the number of items. Nothing of the mount changes: open
 * FUSE handles and module inodes are untouched (the kernel back-end only
 * records the new generation).
 *
 * Rebuild (P < S: the agent was stopped or cut off across a compaction, or
 * the check failed): the new generation is replayed from its checkpoint
 * into a new state, which replaces the old one under the write lock, and
 * the back-end's resync makes the mount follow (agent_ns_diff: what still
 * exists keeps its handles and inodes, what was deleted meanwhile takes the
 * delete-while-open path, and what was deleted and reclaimed meanwhile,
 * neither live nor pending in the new state, is revoked).
 *
 * Before either, the agent finishes the generation it reads: the master
 * reuses a generation's areas only once every live agent reports a later
 * one (C0), so that generation is intact for a live agent, and its tail is
 * at or past S. An agent a few records behind when the switch came then
 * moves rather than rebuilds. A stale agent may find its areas reused:
 * record CRCs are seeded by the generation, so what it reads there is
 * corruption, never records, and nothing of it is applied; it then moves
 * or rebuilds from the superblock's generation.
 *
 * A generation that cannot be read whole (its header, its tail, a record
 * on the way to P, its checkpoint) is not adopted: the follower stays
 * where it is and tries again at its next poll.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "replay.h"

/* A generation opened by the follower, not adopted yet. */
struct next_gen {
	uint64_t t0;			/* when the follower saw it named */
	struct famfs_pool_info info;	/* the superblock that names it */
	struct famfs_log *log;
	struct famfs_log_pos tail;
	struct famfs_log_base base;
};

static double ms_since(uint64_t t0)
{
	return (double)(clock_mono_ns() - t0) / 1e6;
}

/*
 * The superblock still names generation gen: a failure to read it is
 * damage, not areas reused under a stale agent (which is not reported).
 */
static bool still_named(struct agent *a, uint64_t gen)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;

	return famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info,
			     &sbs) < 0 || info.log_generation == gen;
}

static void report_gen(struct agent *a, uint64_t gen, const char *verb,
		       const char *reason)
{
	if (still_named(a, gen))
		agent_follow_report_gen(gen, verb, reason);
	else
		msg(MSG_DEBUG, "log generation %" PRIu64 " unreadable (%s), "
		    "no longer named: its areas were being reused", gen, reason);
}

/* Opens the generation the superblock info names and reads its tail. */
static int open_next(struct agent *a, const struct famfs_pool_info *info,
		     struct next_gen *ret)
{
	struct famfs_log_error lerr;
	int r;

	*ret = (struct next_gen){ .t0 = clock_mono_ns(), .info = *info };
	r = famfs_log_open(a->pool->base + info->log_offset, info->log_size,
			   info->log_generation, a->ops, &ret->log, &lerr);
	if (r < 0) {
		if (r == -ENOMEM)
			agent_follow_report_gen(info->log_generation, "open",
						"out of memory");
		else
			report_gen(a, info->log_generation, "open", lerr.reason);
		return r;
	}
	agent_damage_watch(a, ret->log);
	/* The readers' epoch fence holds in every generation (epoch_fence.c). */
	famfs_log_set_epoch_fence(ret->log, a->fence_epoch, a->fence_seq);
	r = famfs_log_read_tail(ret->log, &ret->tail, &lerr);
	if (r < 0) {
		report_gen(a, info->log_generation, "read the tail of",
			   lerr.reason);
		famfs_log_free(ret->log);
		ret->log = NULL;
		return r;
	}
	ret->base = famfs_log_base(ret->log);
	return 0;
}

/*
 * Adopts ng's log and superblock, write lock held; returns the log it
 * replaces, for the caller to free once the lock is dropped.
 */
static struct famfs_log *adopt(struct agent *a, struct next_gen *ng,
			       const struct famfs_log_pos *pos,
			       const struct agent_mark *mark)
{
	struct famfs_log *old = a->pool->log;

	a->pool->log = ng->log;
	a->pool->info = ng->info;
	a->pos = *pos;
	a->mark = *mark;
	a->generation = ng->info.log_generation;
	ng->log = NULL;
	return old;
}

/* The checkpoint's base is the state the agent holds at P = S. */
static bool base_matches(const struct agent *a, const struct famfs_log_base *b)
{
	const struct famfs_state *st = a->st;
	uint64_t items = famfs_tenants_count(st->tenants) + st->files + st->dirs;

	for (const struct famfs_pending *p = st->pending_first; p; p = p->next)
		items++;
	return st->last_seq == b->seq && a->pos.epoch == b->epoch &&
	       st->max_ino == b->max_ino && items == b->ckpt_items;
}

/*
 * Where record P is in ng, checked to be the one applied here. 0 with
 * *ret_pos and *ret_mark, -ESTALE when it is not (or P is not there), or
 * -EUCLEAN when a record on the way cannot be read.
 */
static int find_position(struct agent *a, struct next_gen *ng,
			 struct famfs_log_pos *ret_pos, struct agent_mark *ret_mark)
{
	struct famfs_log_pos pos = famfs_log_start(ng->log);
	const struct famfs_rec_hdr *h = NULL;
	struct famfs_log_error lerr;
	uint64_t p = a->pos.seq;
	uint32_t len;
	int r;

	*ret_mark = (struct agent_mark){ .generation = ng->info.log_generation };
	if (p == ng->base.seq) {
		*ret_pos = pos;
		return base_matches(a, &ng->base) ? 0 : -ESTALE;
	}
	if (!a->mark.len || p > ng->tail.seq)
		return -ESTALE;
	while (pos.seq < p) {
		r = famfs_log_next(ng->log, &pos, &ng->tail, &h, &lerr);
		if (r == 0)
			return -ESTALE;		/* the tail came first */
		if (r < 0) {
			report_gen(a, ng->info.log_generation, "walk",
				   lerr.reason);
			return -EUCLEAN;
		}
	}
	len = le32toh(h->len);
	if (len != a->mark.len || pos.epoch != a->pos.epoch ||
	    famfs_rec_crc(h, len, a->mark.generation) != a->mark.crc)
		return -ESTALE;
	ret_mark->crc = le32toh(h->crc);
	ret_mark->len = len;
	*ret_pos = pos;
	return 0;
}

/* The fast path: the state stays, the reader moves to P in ng. */
static int move(struct agent *a, struct next_gen *ng)
{
	const struct agent_backend *be = a->o.backend;
	uint64_t from = a->generation, walked;
	struct famfs_log_pos pos;
	struct agent_mark mark;
	struct famfs_log *old;
	int r;

	r = find_position(a, ng, &pos, &mark);
	if (r < 0)
		return r;
	walked = pos.seq - ng->base.seq;
	pthread_rwlock_wrlock(&a->lock);
	old = adopt(a, ng, &pos, &mark);
	if (be->moved)
		be->moved(a->be_priv);
	pthread_rwlock_unlock(&a->lock);
	famfs_log_free(old);
	msg(MSG_DEBUG, "followed log generation %" PRIu64 " (from %" PRIu64
	    "): state kept at seq %" PRIu64 ", %" PRIu64 " record(s) after its "
	    "checkpoint walked, in %.3f ms", a->generation, from, pos.seq,
	    walked, ms_since(ng->t0));
	return 0;
}

/* Replay hook of a rebuild: the record the new state is after. */
static int mark_record(void *ctx, const struct famfs_rec *r, struct famfs_state *st)
{
	struct agent_mark *mark = ctx;

	(void)st;
	if (!r->checkpoint) {
		mark->crc = le32toh(r->hdr->crc);
		mark->len = le32toh(r->hdr->len);
	}
	return 0;
}

/*
 * Replays ng from its checkpoint into a new state, then swaps it in; the
 * back-end's resync (and, for a pool formatted anew, reformat before it)
 * runs under the same write lock, so no heartbeat reports the new position
 * before the mount holds the new tree.
 */
static int rebuild(struct agent *a, struct next_gen *ng, const char *why,
		   bool anew)
{
	struct agent_mark mark = { .generation = ng->info.log_generation };
	const struct agent_backend *be = a->o.backend;
	struct famfs_log_pos pos = { 0 };
	struct famfs_replay_error err;
	struct famfs_state *st, *old;
	struct famfs_log *old_log;
	long n;
	int r;

	r = famfs_state_new(&ng->info, &st);
	if (r < 0) {
		agent_follow_report_gen(ng->info.log_generation, "rebuild from",
					"out of memory");
		return r;
	}
	n = famfs_replay(ng->log, &pos, &ng->tail, st, mark_record, &mark, &err);
	if (n < 0 && (n == -ENOMEM || err.checkpoint || pos.end == 0)) {
		/* No whole checkpoint: nothing to adopt. */
		if (n == -ENOMEM || still_named(a, ng->info.log_generation))
			agent_follow_report(err.seq, "Failed to read the new "
					    "checkpoint", n == -ENOMEM ?
					    "out of memory" : err.reason);
		famfs_state_free(st);
		return (int)n;
	}
	/*
	 * A record after the checkpoint that cannot be read: the state up to
	 * it is the log's, as after any bad record. Adopted; the follower's
	 * next step retries from there and reports it if it stays bad.
	 */
	anew = anew || memcmp(ng->info.pool_uuid, a->pool->info.pool_uuid, 16);
	pthread_rwlock_wrlock(&a->lock);
	if (anew)
		be->reformat(a->be_priv, &ng->info);
	old = a->st;
	a->st = st;
	old_log = adopt(a, ng, &pos, &mark);
	be->resync(a->be_priv, old->ns, st->ns);
	pthread_rwlock_unlock(&a->lock);
	famfs_log_free(old_log);
	famfs_state_free(old);
	if (be->notify)
		be->notify(a->be_priv);
	if (anew)
		msg(MSG_INFO, "replayed the log from the start (%s; every open "
		    "file revoked): generation %" PRIu64 ", seq %" PRIu64 ", %"
		    PRIu64 " files, %" PRIu64 " directories, in %.1f ms", why,
		    a->generation, pos.seq, st->files, st->dirs, ms_since(ng->t0));
	else
		msg(MSG_INFO, "rebuilt the state from the checkpoint of log "
		    "generation %" PRIu64 " (%s): seq %" PRIu64 ", %" PRIu64
		    " files, %" PRIu64 " directories, in %.1f ms", a->generation,
		    why, pos.seq, st->files, st->dirs, ms_since(ng->t0));
	return 0;
}

/*
 * Replays what the generation followed still has after our position. Its
 * areas are intact unless this agent was stale (then the read fails and
 * nothing is applied): not reported, the new generation decides.
 */
static void finish_current(struct agent *a)
{
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;

	if (famfs_log_read_tail(a->pool->log, &tail, &lerr) < 0 ||
	    tail.seq <= a->pos.seq || tail.end < a->pos.end)
		return;
	(void)agent_follow_replay(a, &tail, &err);
}

int agent_generation_follow(struct agent *a, const struct famfs_pool_info *info)
{
	uint64_t t0 = clock_mono_ns();
	char why[160];
	struct next_gen ng;
	int r;

	if (info->log_generation < a->generation)
		return agent_generation_anew(a, info, "the log generation went "
					     "back: the pool was restored");
	finish_current(a);
	r = open_next(a, info, &ng);
	if (r < 0)
		return r;
	ng.t0 = t0;
	if (a->pos.seq >= ng.base.seq) {
		r = move(a, &ng);
		if (r != -ESTALE)
			goto out;
		snprintf(why, sizeof(why), "record %" PRIu64 " there is not the "
			 "one this agent applied", a->pos.seq);
	} else {
		snprintf(why, sizeof(why), "this agent was at seq %" PRIu64
			 ", before its base %" PRIu64, a->pos.seq, ng.base.seq);
	}
	r = rebuild(a, &ng, why, false);
out:
	famfs_log_free(ng.log);
	if (r == 0) {
		agent_follow_recovered();
		agent_heartbeat_kick(a);	/* C0 of the next compaction waits */
	}
	return r;
}

int agent_generation_anew(struct agent *a, const struct famfs_pool_info *info,
			  const char *why)
{
	struct next_gen ng;
	int r;

	r = open_next(a, info, &ng);
	if (r < 0)
		return r;
	r = rebuild(a, &ng, why, true);
	famfs_log_free(ng.log);
	if (r == 0) {
		agent_follow_recovered();
		agent_heartbeat_kick(a);
	}
	return r;
}

/*
 * The new pool cannot be read yet (mkfs half way, a superblock rewritten
 * over a log it does not describe): the old tree must not stay, so an
 * empty state replaces it, with every open file revoked, under the write
 * lock. pool->info and the reader stay the old ones, so the follower
 * still sees the change and retries the new pool at every step.
 */
static int drop_old_tree(struct agent *a, const struct famfs_pool_info *info)
{
	const struct agent_backend *be = a->o.backend;
	struct famfs_state *st, *old;
	int r = famfs_state_new(&a->pool->info, &st);

	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&a->lock);
	be->reformat(a->be_priv, info);
	old = a->st;
	a->st = st;
	a->pos = (struct famfs_log_pos){ 0 };
	a->mark = (struct agent_mark){ .generation = a->generation };
	be->resync(a->be_priv, old->ns, st->ns);
	pthread_rwlock_unlock(&a->lock);
	famfs_state_free(old);
	if (be->notify)
		be->notify(a->be_priv);
	a->old_tree_dropped = true;
	msg(MSG_ERR, "the new pool cannot be read yet: the old tree is dropped "
	    "(every open file revoked, EIO), the mount is empty until the new "
	    "pool can be followed");
	return 0;
}

int agent_pool_replaced(struct agent *a, const struct famfs_pool_info *info,
			enum famfs_sb_field f)
{
	bool anew = f == FAMFS_SB_POOL_UUID || f == FAMFS_SB_CREATED;
	char what[160];
	int r;

	/* Said once per new pool, not at every retry. */
	if (memcmp(a->replaced_by, info->pool_uuid, 16) != 0) {
		memcpy(a->replaced_by, info->pool_uuid, 16);
		famfs_sb_describe(f, &a->pool->info, info, what, sizeof(what));
		msg(MSG_WARN, "the pool under the mount changed (%s): the old "
		    "tree is no longer served, every open file is revoked (EIO) "
		    "and positions in the old log are never reported to a "
		    "master; following the pool now on the device", what);
	}
	r = agent_generation_anew(a, info, anew ? "the pool was formatted anew" :
				  "the pool's geometry changed");
	if (r == 0) {
		a->old_tree_dropped = false;
		return 0;
	}
	if (!a->old_tree_dropped && drop_old_tree(a, info) < 0)
		msg(MSG_ERR, "Failed to drop the old tree: out of memory");
	return r;
}
