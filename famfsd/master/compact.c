// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Compaction: the live state becomes the checkpoint of the next log
 * generation, the records published meanwhile are copied after it, and the
 * superblock switches to it. Creates and deletes go on during all of it:
 * only the last copy and the switch (C5-C7) hold m->lock, for as long as a
 * few records and a superblock write take. docs/format.md ("Compaction")
 * gives the protocol and why a crash between any two steps is safe:
 *
 *   C0 (lock) the other pair of areas is free: every live agent reports
 *      the current generation (none still reads the one before);
 *   C1 bring a private copy of the state up to the published tail S of
 *      the current generation, replaying from the pool with a reader of
 *      our own (only the records since the last compaction, see struct
 *      shadow);
 *   C2 write that state's items into the new generation, both copies;
 *   C3 seal it: fence, header line and tail slots, flush, fence;
 *   C4 copy the records published since S, a batch at a time (no lock);
 *   C5 (lock) copy the last ones: the new generation holds all of ours;
 *   C6 (lock) the superblock names the new generation: the commit point;
 *   C7 (lock) the writer moves to it; agents and the feed are told.
 *
 * When the current generation cannot be read back in full (a record, an
 * item or its header bad in both copies: C1, C4 or C5 fails with
 * -EUCLEAN), the new generation is written from m->st instead, C2-C3 and
 * C6-C7 all under m->lock (compact_from_memory): the state in memory is
 * the one copy of the metadata left, and the way back to two.
 *
 * FAMFSD_TEST_CRASH_AT=C<n> in the environment kills the master with
 * SIGKILL right after step C<n>, for the crash tests;
 * FAMFSD_TEST_COMPACT_PAUSE_MS=N makes each compaction sleep N ms after C3
 * and again after C4, without the lock, so that writes published meanwhile
 * are sure to be there for C4 and C5 to copy.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "master/master.h"
#include "replay.h"

/* Room a write request needs before it starts: one record of any size. */
#define ROOM_BYTES		(2u * FAMFS_REC_MAX_SIZE)
/* How long a write waits for a compaction to make room. */
#define ROOM_WAIT_MS		10000u
/* C4 stops when this few records remain for C5 to copy under the lock. */
#define C5_MAX_RECORDS		64u
/* A blocked compaction looks again this often. */
#define RETRY_MS		5u
/* After a failure, the fill level asks again only after this long. */
#define BACKOFF_MS		1000u
/* The shadow follows the log between compactions (shadow_catch_up()). */
#define FOLLOW_MS		1000u
#define FOLLOW_RECORDS		4096u

/*
 * The compaction's own copy of the state (C1), kept from one compaction to
 * the next: each brings it up to date by replaying only the records since
 * the last, in the generation it switched to, instead of the whole
 * generation (0.55 s of a million files' replay, the larger part of a
 * compaction). The price is a second copy of the state in memory, about
 * 160 bytes a file (docs/master.md). Only the compaction thread uses it.
 */
struct shadow {
	struct famfs_state *st;		/* the state as of pos */
	struct famfs_log *log;		/* its reader */
	struct famfs_log_pos pos;
	struct master_damage_src src;	/* the reader's damage hook */
};

struct master_compact {
	struct shadow shadow;
	pthread_t thread;
	bool started;
	pthread_cond_t cond;		/* (m->lock) request, stop, a switch done */
	bool requested, running, stopping;
	uint64_t finished;		/* compactions tried to the end, either way */
	uint64_t done;			/* of which switched */
	int last_err;
	char last_why[256];
	struct master_compact_stats last;
	struct feed_waiter *waiters;	/* suspended POST /v1/pool/compact */
	const char *crash_at;		/* test hooks */
	unsigned int pause_ms;
	const char *blocked;		/* why C0 waits, said once */
	uint64_t backoff_until;		/* CLOCK_MONOTONIC: after a failure */
	uint64_t switched_seq;		/* the last switch was at this record */
	bool failing;			/* said so; the next success says so too */
};

int master_compact_new(struct master *m)
{
	struct master_compact *c = calloc(1, sizeof(*c));
	const char *pause;

	if (!c)
		return -ENOMEM;
	clock_cond_init(&c->cond);
	c->crash_at = getenv("FAMFSD_TEST_CRASH_AT");
	pause = getenv("FAMFSD_TEST_COMPACT_PAUSE_MS");
	if (pause)
		c->pause_ms = (unsigned int)strtoul(pause, NULL, 10);
	m->compact = c;
	return 0;
}

void master_compact_free(struct master *m)
{
	if (!m->compact)
		return;
	famfs_state_free(m->compact->shadow.st);
	famfs_log_free(m->compact->shadow.log);
	pthread_cond_destroy(&m->compact->cond);
	free(m->compact);
	m->compact = NULL;
}

/* The crash tests' hook: dies here if the environment named this step. */
static void step_done(const struct master_compact *c, const char *step)
{
	if (c->crash_at && strcmp(c->crash_at, step) == 0) {
		msg(MSG_WARN, "FAMFSD_TEST_CRASH_AT=%s: killing the master after "
		    "compaction step %s", c->crash_at, step);
		raise(SIGKILL);
	}
}

/* The crash tests' other hook: time for writes to land before C4 and C5. */
static void test_pause(const struct master_compact *c)
{
	struct timespec ts = { .tv_sec = c->pause_ms / 1000,
			       .tv_nsec = (long)(c->pause_ms % 1000) * 1000000L };

	if (c->pause_ms)
		nanosleep(&ts, NULL);
}

static void deadline_after(struct timespec *ts, uint64_t ms)
{
	uint64_t t = clock_mono_ns() + ms * 1000000ull;

	ts->tv_sec = (time_t)(t / 1000000000ull);
	ts->tv_nsec = (long)(t % 1000000000ull);
}

/* Wakes the suspended API requests: a compaction ended, or we stop. */
static void wake_waiters(struct master_compact *c)
{
	struct feed_waiter *w, *next;

	for (w = c->waiters; w; w = next) {
		next = w->next;
		if (!c->stopping && w->after >= c->finished)
			continue;
		if (w->prev)
			w->prev->next = w->next;
		else
			c->waiters = w->next;
		if (w->next)
			w->next->prev = w->prev;
		w->prev = w->next = NULL;
		w->queued = false;
		w->wake(w);
	}
}

/* C0: why the other pair of areas may not be overwritten yet, or NULL. */
static const char *why_blocked(struct master *m)
{
	uint64_t gen = m->pool->info.log_generation, now = clock_mono_ns();

	if (m->fenced)
		return "the master is fenced";
	/*
	 * After a start, agents are unknown until they heartbeat (each does
	 * every second): one may still read the generation before.
	 */
	if (now < m->compact_after_ns)
		return "agents have not reported since the master started";
	for (size_t i = 0; i < master_agents_count(m->agents); i++) {
		const struct master_agent *ag = master_agents_at(m->agents, i);

		/*
		 * Named by the roster, not heard since the takeover: it may
		 * still read the generation before. It counts as stale (and
		 * stops holding C0) once agent_timeout has passed without a
		 * word; a living one then notices the reused areas by their
		 * generation's CRC seed and resyncs.
		 */
		if (ag->unreported && !ag->evicted &&
		    now < m->compact_after_ns +
			  (uint64_t)m->cfg.agent_timeout_s * 1000000000ull)
			return "an agent of the roster has not reported since "
			       "the master became active";
		if (ag->generation < gen &&
		    strcmp(master_agent_state(m, ag, now), "live") == 0)
			return "a live agent still follows the generation before";
	}
	return NULL;
}

/* C4/C5: copies the records of rlog after *pos up to tail into nlog. */
static int copy_records(struct famfs_log *rlog, struct famfs_log_pos *pos,
			const struct famfs_log_pos *tail, struct famfs_log *nlog,
			uint64_t *copied, struct master_why *w)
{
	const struct famfs_rec_hdr *h;
	struct famfs_log_error lerr;
	uint64_t seq;
	int r;

	while ((r = famfs_log_next(rlog, pos, tail, &h, &lerr)) > 0) {
		r = famfs_log_append(nlog, le16toh(h->type), le64toh(h->epoch),
				     h + 1, le32toh(h->len) - sizeof(*h), &seq);
		if (r < 0) {
			master_why_set(w, "the new generation has no room for "
				       "record %llu", (unsigned long long)pos->seq);
			return r;
		}
		if (seq != pos->seq) {
			master_why_set(w, "copied record %llu became %llu",
				       (unsigned long long)pos->seq,
				       (unsigned long long)seq);
			return -EUCLEAN;
		}
		(*copied)++;
	}
	if (r < 0) {
		master_why_set(w, "record %llu (offset %llu) of the current "
			       "generation: %s", (unsigned long long)lerr.seq,
			       (unsigned long long)lerr.offset, lerr.reason);
		return -EUCLEAN;
	}
	return 0;
}

static void shadow_drop(struct shadow *sh)
{
	famfs_state_free(sh->st);
	famfs_log_free(sh->log);
	*sh = (struct shadow){ 0 };
}

/*
 * A reader of generation gen for the shadow. What it finds damaged goes to
 * the damage table. It reads no tail slot: C4 takes the tail from the
 * writer (writer_tail()).
 */
static int shadow_open(struct master *m, const struct famfs_pool_info *info,
		       uint64_t gen, struct master_why *w)
{
	struct shadow *sh = &m->compact->shadow;
	struct famfs_log_error lerr;
	int r;

	r = famfs_log_open(m->pool->base + info->log_offset, info->log_size,
			   gen, m->pool->ops, &sh->log, &lerr);
	if (r < 0) {
		sh->log = NULL;
		master_why_set(w, "cannot read log generation %llu: %s",
			       (unsigned long long)gen,
			       lerr.reason ? lerr.reason : strerror(-r));
		return r;
	}
	master_damage_listen(m, sh->log, &sh->src, DAMAGE_BY_READER);
	return 0;
}

/* C1: the shadow brought to snap, from scratch if it has none of this generation. */
static int shadow_advance(struct master *m, const struct famfs_pool_info *info,
			  const struct famfs_log_pos *snap, struct master_why *w)
{
	struct shadow *sh = &m->compact->shadow;
	struct famfs_replay_error rerr;
	long n;
	int r;

	if (sh->log && famfs_log_generation(sh->log) != info->log_generation)
		shadow_drop(sh);
	if (!sh->log) {
		r = shadow_open(m, info, info->log_generation, w);
		if (r == 0)
			r = famfs_state_new(info, &sh->st);
		if (r < 0) {
			if (r == -ENOMEM)
				master_why_set(w, "out of memory");
			shadow_drop(sh);
			return r;
		}
		sh->pos = (struct famfs_log_pos){ 0 };
	}
	n = famfs_replay(sh->log, &sh->pos, snap, sh->st, NULL, NULL, &rerr);
	if (n < 0) {
		master_why_set(w, "replaying the current generation: %s at %s %llu",
			       rerr.reason ? rerr.reason : strerror((int)-n),
			       rerr.checkpoint ? "item" : "record",
			       (unsigned long long)rerr.seq);
		shadow_drop(sh);
		return (int)n;
	}
	return 0;
}

/*
 * After C7: the shadow goes on in the new generation, where its state is
 * the checkpoint's (the records after it are the ones it has not seen).
 */
static void shadow_follow(struct master *m, const struct famfs_pool_info *info,
			  uint64_t gen)
{
	struct shadow *sh = &m->compact->shadow;
	struct master_why w;

	famfs_log_free(sh->log);
	sh->log = NULL;
	if (shadow_open(m, info, gen, &w) < 0) {
		shadow_drop(sh);	/* rebuilt from scratch next time */
		return;
	}
	sh->pos = famfs_log_start(sh->log);
}

static int switch_allowed(struct master *m, struct master_why *w);
static int may_write_unlocked(struct master *m, struct master_why *w);

/*
 * C2-C3: the checkpoint of st as the new generation. locked: m->lock is
 * held (from memory), else the pool is checked under it before each step.
 */
static int write_generation(struct master *m, const struct famfs_pool_info *info,
			    const struct famfs_state *st, struct famfs_log **ret,
			    bool locked, struct master_why *w)
{
	int r = locked ? 0 : may_write_unlocked(m, w);

	if (r < 0)
		return r;
	r = famfs_log_create(m->pool->base + info->log_offset, info->log_size,
			     info->log_generation + 1, m->pool->ops, ret);

	if (r < 0) {
		master_why_set(w, "%s", strerror(-r));
		return r;
	}
	/* Each item's store asks the lease (C2 can take a while). */
	master_guard_log(m, *ret);
	r = famfs_ckpt_put_items(st, *ret);
	if (r == -ENOSPC)
		master_why_set(w, "the live state does not fit in one log "
			       "generation (%llu bytes): delete files or make "
			       "the pool with a larger --log-size",
			       (unsigned long long)famfs_log_capacity(*ret));
	else if (r < 0)
		master_why_set(w, "%s", strerror(-r));
	if (r < 0)
		return r;
	step_done(m->compact, "C2");
	/* The seal makes C2's items count: not into a pool that changed. */
	r = locked ? switch_allowed(m, w) : may_write_unlocked(m, w);
	if (r < 0)
		return r;
	r = famfs_ckpt_seal(st, *ret);
	if (r < 0) {
		master_why_set(w, "both copies of the new generation's area "
			       "header fault (memory error)");
		return r;
	}
	step_done(m->compact, "C3");
	return 0;
}

/* Under m->lock, before C5: may we switch at all? */
static int switch_allowed(struct master *m, struct master_why *w)
{
	if (m->fenced || m->compact->stopping) {
		master_why_set(w, "%s", m->fenced ? m->fenced : "stopping");
		return -ESHUTDOWN;
	}
	/*
	 * A forced takeover, or a pool formatted anew, must stop us before we
	 * touch the superblock (master/pool_watch.c).
	 */
	if (master_may_write(m) < 0) {
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	return 0;
}

/*
 * Without m->lock, before C2, C3 and each C4 batch write into the pool:
 * the same check as switch_allowed(), so a compaction never writes the old
 * pool's state into a new one. -ESHUTDOWN with why.
 */
static int may_write_unlocked(struct master *m, struct master_why *w)
{
	int r;

	master_lock(m);
	r = switch_allowed(m, w);
	master_unlock(m);
	return r;
}

/*
 * C6-C7, under m->lock: nlog, complete, becomes the writer's log. -EIO
 * when neither superblock copy could be written (their lines fault): the
 * superblock still names the current generation, which stays in use.
 */
static int switch_commit(struct master *m, struct famfs_log *nlog,
			 struct famfs_log **ret_old, struct master_why *w)
{
	struct famfs_pool_info info = m->pool->info;

	/* C6: the commit point; not past the lease's deadline (C5 took time). */
	if (master_may_write(m) < 0) {
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	/* The superblock's own write is two-copy. */
	info.log_generation++;
	info.sb_seq++;
	if (famfs_sb_write(m->pool->base, &info, m->pool->ops) < 0) {
		master_why_set(w, "both superblock copies fault (memory error)");
		return -EIO;
	}
	step_done(m->compact, "C6");
	/* C7 */
	m->pool->info = info;
	*ret_old = m->pool->log;
	m->pool->log = nlog;
	m->applied = famfs_log_published(nlog);
	atomic_store(&m->generation, info.log_generation);
	master_log_attached(m);
	master_feed_generation(m->feed, info.log_generation);
	/* Reclaims that found no room before may fit now. */
	master_reclaim(m);
	return 0;
}

/* C5-C7, under m->lock. */
static int switch_over(struct master *m, struct famfs_log *rlog,
		       struct famfs_log_pos *pos, struct famfs_log *nlog,
		       uint64_t *copied, struct famfs_log **ret_old,
		       struct master_why *w)
{
	struct famfs_log_pos tail = famfs_log_published(m->pool->log);
	int r = switch_allowed(m, w);

	if (r < 0)
		return r;
	r = copy_records(rlog, pos, &tail, nlog, copied, w);
	if (r < 0)
		return r;
	famfs_log_publish(nlog);
	step_done(m->compact, "C5");
	return switch_commit(m, nlog, ret_old, w);
}

/*
 * The current generation cannot be read back (a record, an item or its
 * header bad in both copies: C1, C4 or C5 failed with -EUCLEAN), but m->st
 * holds all it held. So C2-C3 from m->st, then C6-C7, all under m->lock:
 * no record is published meanwhile that the checkpoint would miss, and
 * there is nothing to copy. Writes wait for as long as writing the whole
 * state takes (s->lock_ns; docs/master.md gives figures). A snapshot of
 * m->st to write without the lock would cost a copy of the state.
 */
static int compact_from_memory(struct master *m, struct master_compact_stats *s,
			       struct famfs_log **ret_old, struct master_why *w)
{
	struct famfs_log *nlog = NULL;
	struct famfs_pool_info info;
	uint64_t t0;
	int r;

	master_lock(m);
	t0 = clock_mono_ns();
	info = m->pool->info;
	r = switch_allowed(m, w);
	if (r == 0 && m->st->last_seq != famfs_log_published(m->pool->log).seq) {
		master_why_set(w, "the master's state is behind the published log");
		r = -EUCLEAN;
	}
	if (r == 0)
		r = write_generation(m, &info, m->st, &nlog, true, w);
	if (r == 0) {
		s->base_seq = m->st->last_seq;
		s->ckpt_bytes = famfs_log_base(nlog).ckpt_bytes;
		s->ckpt_items = famfs_log_base(nlog).ckpt_items;
		s->copied = 0;
		r = switch_commit(m, nlog, ret_old, w);
	}
	if (r == 0)
		nlog = NULL;		/* the writer's now */
	s->lock_ns = clock_mono_ns() - t0;
	master_unlock(m);
	famfs_log_free(nlog);
	s->from_memory = true;
	return r;
}

/*
 * C4: how far the writer has published, from the writer itself. Not from
 * the tail slots in the pool: the writer rewrites them meanwhile, and this
 * thread shares its memory (a data race ThreadSanitizer reports), while
 * m->lock orders every record up to the tail before our reads of it.
 */
static struct famfs_log_pos writer_tail(struct master *m)
{
	struct famfs_log_pos tail;

	master_lock(m);
	tail = famfs_log_published(m->pool->log);
	master_unlock(m);
	return tail;
}

static int compact_once(struct master *m, struct master_compact_stats *s,
			struct master_why *w)
{
	struct shadow *sh = &m->compact->shadow;
	struct famfs_log *nlog = NULL, *old = NULL;
	struct famfs_log_pos snap, pos, tail;
	struct famfs_pool_info info;
	uint64_t t0 = clock_mono_ns(), t1;
	int r;

	master_lock(m);
	info = m->pool->info;
	snap = famfs_log_published(m->pool->log);
	master_unlock(m);
	*s = (struct master_compact_stats){ .base_seq = snap.seq };

	r = shadow_advance(m, &info, &snap, w);
	step_done(m->compact, "C1");
	if (r == 0)
		r = write_generation(m, &info, sh->st, &nlog, false, w);
	/* C4: most of what was published meanwhile, without the lock. */
	if (r == 0)
		test_pause(m->compact);
	pos = snap;
	for (int i = 0; r == 0 && i < 8; i++) {
		tail = writer_tail(m);
		if (tail.seq - pos.seq <= C5_MAX_RECORDS)
			break;
		r = may_write_unlocked(m, w);
		if (r == 0)
			r = copy_records(sh->log, &pos, &tail, nlog, &s->copied, w);
		if (r == 0)
			famfs_log_publish(nlog);
	}
	if (r == 0) {
		step_done(m->compact, "C4");
		test_pause(m->compact);
		master_lock(m);
		t1 = clock_mono_ns();
		r = switch_over(m, sh->log, &pos, nlog, &s->copied, &old, w);
		s->lock_ns = clock_mono_ns() - t1;
		master_unlock(m);
	}
	if (r == 0) {
		step_done(m->compact, "C7");
		s->ckpt_bytes = famfs_log_base(nlog).ckpt_bytes;
		s->ckpt_items = famfs_log_base(nlog).ckpt_items;
		nlog = NULL;		/* the writer's now */
		shadow_follow(m, &info, info.log_generation + 1);
	}
	if (r == -EUCLEAN) {
		msg(MSG_WARN, "compaction: %s; writing the new generation from "
		    "the master's state instead", w->msg);
		famfs_log_free(nlog);
		nlog = NULL;
		shadow_drop(sh);	/* of a generation that is no more */
		r = compact_from_memory(m, s, &old, w);
	}
	if (r == 0)
		s->generation = info.log_generation + 1;
	s->duration_ns = clock_mono_ns() - t0;
	famfs_log_free(old);
	famfs_log_free(nlog);
	return r;
}

/* What a finished compaction leaves for the API and the log. */
static void finish(struct master *m, int r, const struct master_compact_stats *s,
		   const struct master_why *w)
{
	struct master_compact *c = m->compact;

	c->finished++;
	c->last_err = r;
	if (r == 0) {
		c->done++;
		c->last = *s;
		master_metrics_compaction(m->metrics, s->duration_ns);
		c->switched_seq = famfs_log_appended(m->pool->log).seq;
		/* From memory, the writes waited: worth saying. */
		msg(s->from_memory ? MSG_INFO : MSG_DEBUG, "compacted into log "
		    "generation %llu%s: %llu items (%llu bytes) as of record "
		    "%llu, %llu records copied, %.1f ms, %.3f ms of it holding "
		    "the lock", (unsigned long long)s->generation,
		    s->from_memory ? " from the master's state" : "",
		    (unsigned long long)s->ckpt_items,
		    (unsigned long long)s->ckpt_bytes,
		    (unsigned long long)s->base_seq,
		    (unsigned long long)s->copied, s->duration_ns / 1e6,
		    s->lock_ns / 1e6);
		if (c->failing)
			msg(MSG_INFO, "compaction works again (log generation "
			    "%llu)", (unsigned long long)s->generation);
		c->failing = false;
	} else {
		/* Said once per reason, not at every retry. */
		if (!c->failing || strcmp(c->last_why, w->msg) != 0)
			msg(MSG_ERR, "Compaction failed: %s; the current log "
			    "generation stays in use, will retry", w->msg);
		snprintf(c->last_why, sizeof(c->last_why), "%s", w->msg);
		c->failing = true;
		c->backoff_until = clock_mono_ns() + BACKOFF_MS * 1000000ull;
	}
	pthread_cond_broadcast(&c->cond);
	wake_waiters(c);
}

/*
 * Between compactions the shadow follows the log in the background (at
 * start, then every FOLLOW_MS when FOLLOW_RECORDS or more came since), so
 * that C1 replays only the last moments instead of a whole generation
 * while clients write (measured: 3.5 s for the first compaction of a
 * million files under eight clients when C1 replayed them all, 0.4 s when
 * it replayed only the records since the last one). Called with m->lock
 * held, drops it while it replays; failing only costs that time at C1.
 */
static void shadow_catch_up(struct master *m, bool always)
{
	struct shadow *sh = &m->compact->shadow;
	struct famfs_pool_info info = m->pool->info;
	struct famfs_log_pos snap = famfs_log_published(m->pool->log);
	struct master_why w = { .msg = "" };
	int r;

	if (!always && sh->log && snap.seq - sh->pos.seq < FOLLOW_RECORDS &&
	    famfs_log_generation(sh->log) == info.log_generation)
		return;
	master_unlock(m);
	r = shadow_advance(m, &info, &snap, &w);
	master_lock(m);
	if (r < 0)
		msg(MSG_DEBUG, "compaction: could not follow the log ahead "
		    "(%s); the next compaction replays it", w.msg);
}

static void *compact_thread(void *arg)
{
	struct master *m = arg;
	struct master_compact *c = m->compact;
	struct master_compact_stats s;
	struct master_why w;
	struct timespec ts;
	const char *why;
	int r;

	master_lock(m);
	shadow_catch_up(m, true);
	while (!c->stopping) {
		if (!c->requested) {
			deadline_after(&ts, FOLLOW_MS);
			if (pthread_cond_timedwait(&c->cond, &m->lock, &ts) ==
			    ETIMEDOUT && !c->stopping)
				shadow_catch_up(m, false);
			continue;
		}
		why = why_blocked(m);
		if (why) {
			if (why != c->blocked)
				msg(MSG_DEBUG, "compaction waits: %s", why);
			c->blocked = why;
			deadline_after(&ts, RETRY_MS);
			pthread_cond_timedwait(&c->cond, &m->lock, &ts);
			continue;
		}
		c->blocked = NULL;
		c->requested = false;
		c->running = true;
		master_unlock(m);
		w.msg[0] = '\0';
		r = compact_once(m, &s, &w);
		master_lock(m);
		c->running = false;
		finish(m, r, &s, &w);
	}
	wake_waiters(c);
	master_unlock(m);
	return NULL;
}

int master_compact_start(struct master *m)
{
	int r = pthread_create(&m->compact->thread, NULL, compact_thread, m);

	if (r)
		return -r;
	m->compact->started = true;
	return 0;
}

void master_compact_stop(struct master *m)
{
	struct master_compact *c = m->compact;

	if (!c)
		return;
	master_lock(m);
	c->stopping = true;
	pthread_cond_broadcast(&c->cond);
	wake_waiters(c);
	master_unlock(m);
	if (c->started) {
		pthread_join(c->thread, NULL);
		c->started = false;
	}
}

void master_compact_request(struct master *m)
{
	struct master_compact *c = m->compact;

	if (c->requested || c->stopping)
		return;
	c->requested = true;
	pthread_cond_broadcast(&c->cond);
}

void master_compact_poke(struct master *m)
{
	if (m->compact->requested)
		pthread_cond_broadcast(&m->compact->cond);
}

void master_compact_maybe(struct master *m)
{
	struct famfs_log_pos pub = famfs_log_published(m->pool->log);
	struct famfs_log_base b = famfs_log_base(m->pool->log);
	uint64_t cap = famfs_log_capacity(m->pool->log);

	/*
	 * At the fill level asked for, but only when the records since the
	 * checkpoint are an eighth of the space: a live state that alone
	 * fills compact_at would otherwise compact after every record.
	 */
	if (pub.end * 100 >= cap * m->cfg.compact_at &&
	    pub.end - b.ckpt_bytes >= cap / 8 &&
	    clock_mono_ns() >= m->compact->backoff_until)
		master_compact_request(m);
}

/* True when a compaction now could not make more room than the last one. */
static bool compaction_futile(struct master *m)
{
	const struct master_compact *c = m->compact;

	if (c->requested || c->running)
		return false;
	/* Nothing was written since the last switch: the state is the same. */
	if (c->done && c->last_err == 0 &&
	    famfs_log_appended(m->pool->log).seq == c->switched_seq)
		return true;
	/* The last one failed moments ago (each try replays the whole state). */
	return c->failing && clock_mono_ns() < c->backoff_until;
}

/* Why a write found no room, for its 503. */
static int no_room(struct master *m, struct master_why *w)
{
	const struct master_compact *c = m->compact;

	if (c->failing)
		master_why_set(w, "the metadata log has no room: the last "
			       "compaction failed: %s", c->last_why);
	else if (c->requested || c->running)
		master_why_set(w, "the metadata log has no room: a compaction "
			       "is waiting (%s)", c->blocked ? c->blocked : "running");
	else
		master_why_set(w, "the live state fills a whole log generation "
			       "(%llu of %llu bytes after a compaction): delete "
			       "files, or make the pool with a larger --log-size",
			       (unsigned long long)famfs_log_appended(m->pool->log).end,
			       (unsigned long long)famfs_log_capacity(m->pool->log));
	return -ENOBUFS;
}

/* Until the reclaim grace after a start is over (or the deadline). */
static bool wait_grace(struct master *m, const struct timespec *deadline)
{
	uint64_t end = m->reclaim_after_ns;
	uint64_t dl = (uint64_t)deadline->tv_sec * 1000000000ull +
		      (uint64_t)deadline->tv_nsec;
	struct timespec ts;

	if (end > dl)
		return false;
	ts.tv_sec = (time_t)(end / 1000000000ull);
	ts.tv_nsec = (long)(end % 1000000000ull);
	while (clock_mono_ns() < end)
		pthread_cond_timedwait(&m->compact->cond, &m->lock, &ts);
	master_reclaim(m);
	return true;
}

/*
 * Waits until the log has want bytes free; when a compaction cannot make
 * that much, enough (at most want) is accepted instead.
 */
static int wait_room(struct master *m, uint64_t want, uint64_t enough,
		     bool shrinks, struct master_why *w)
{
	struct master_compact *c = m->compact;
	struct timespec ts;
	uint64_t left;

	deadline_after(&ts, ROOM_WAIT_MS);
	for (;;) {
		left = famfs_log_capacity(m->pool->log) -
		       famfs_log_appended(m->pool->log).end;
		if (left >= want || m->fenced)
			return 0;
		/*
		 * Deleted files wait out the grace after a start: once it is
		 * over their reclaims shrink the state, and a compaction then
		 * makes room. Waiting for that beats a 503.
		 */
		if (!shrinks && m->st->pending_first &&
		    clock_mono_ns() < m->reclaim_after_ns && wait_grace(m, &ts))
			continue;
		if (compaction_futile(m))
			return left >= enough ? 0 : no_room(m, w);
		master_compact_request(m);
		if (pthread_cond_timedwait(&c->cond, &m->lock, &ts) == ETIMEDOUT) {
			left = famfs_log_capacity(m->pool->log) -
			       famfs_log_appended(m->pool->log).end;
			return left >= enough ? 0 : no_room(m, w);
		}
	}
}

int master_wait_log_room(struct master *m, bool shrinks, struct master_why *w)
{
	/*
	 * A delete shrinks the state: it may use the reserve, or a log that
	 * the live state fills could never empty again.
	 */
	return wait_room(m, ROOM_BYTES, shrinks ? 0 : ROOM_BYTES, shrinks, w);
}

bool master_log_has_room(struct master *m, uint64_t need, bool shrinks)
{
	uint64_t left = famfs_log_capacity(m->pool->log) -
			famfs_log_appended(m->pool->log).end;

	return left >= need && (shrinks || left - need >= ROOM_BYTES);
}

int master_wait_log_room_for(struct master *m, uint64_t need, bool shrinks,
			     struct master_why *w)
{
	/* A batch must fit whole: its records are appended before one publish. */
	return wait_room(m, need + ROOM_BYTES, shrinks ? need : need + ROOM_BYTES,
			 shrinks, w);
}

bool master_compact_wait(struct master *m, struct feed_waiter *wt)
{
	struct master_compact *c = m->compact;

	if (c->stopping)
		return false;
	/* A compaction that started before the request does not answer it. */
	wt->after = c->finished + (c->running ? 1 : 0);
	wt->prev = NULL;
	wt->next = c->waiters;
	if (c->waiters)
		c->waiters->prev = wt;
	c->waiters = wt;
	wt->queued = true;
	master_compact_request(m);
	return true;
}

void master_compact_cancel(struct master *m, struct feed_waiter *wt)
{
	struct master_compact *c = m->compact;

	if (!wt->queued)
		return;
	if (wt->prev)
		wt->prev->next = wt->next;
	else
		c->waiters = wt->next;
	if (wt->next)
		wt->next->prev = wt->prev;
	wt->queued = false;
}

int master_compact_result(const struct master *m, uint64_t after,
			  struct master_compact_stats *ret, struct master_why *w)
{
	const struct master_compact *c = m->compact;

	if (c->finished <= after) {
		master_why_set(w, "the master is stopping");
		return -ESHUTDOWN;
	}
	if (c->last_err) {
		master_why_set(w, "%s", c->last_why);
		return c->last_err == -ENOSPC ? -ENOBUFS : c->last_err;
	}
	*ret = c->last;
	return 0;
}

void master_compact_counts(const struct master *m, uint64_t *ret_done,
			   uint64_t *ret_failed)
{
	*ret_done = m->compact->done;
	*ret_failed = m->compact->finished - m->compact->done;
}
