// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master's write path, one record at a time, all under m->lock
 * (steps 3-6 of the list in docs/master.md):
 *
 *   1. check the record with the replay engine's own rules
 *      (famfs_state_check), stamped with the sequence and epoch the log
 *      will give it, against the state it will be applied to; a refusal
 *      writes nothing, so no agent is ever handed a record it must refuse;
 *   2. append it (P1-P2) and publish it (P3-P6);
 *   3. apply it by replaying it from the pool with the same engine every
 *      agent and fsck uses, so memory always equals what a restarted
 *      master would rebuild.
 *
 * One record per publish: the check of the next record needs the state
 * with the previous one applied. Nothing is acknowledged to a client
 * before step 2 is done.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "master/master.h"
#include "replay.h"

void master_why_set(struct master_why *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

/* Replay hook: every applied record becomes visible to the change feed. */
static int feed_hook(void *ctx, const struct famfs_rec *r,
		     struct famfs_state *st)
{
	struct master *m = ctx;

	(void)st;
	/* A checkpoint's items are the state, not changes to announce. */
	if (r->checkpoint)
		return 0;
	master_note_epoch(m, r);
	return master_feed_add(m->feed, r->seq, r->type, r->epoch);
}

void master_note_epoch(struct master *m, const struct famfs_rec *r)
{
	if (r->checkpoint || r->epoch == m->seen_epoch)
		return;
	m->seen_epoch = r->epoch;
	m->seen_epoch_seq = r->seq;
}

uint64_t master_applied_below(const struct master *m, uint64_t epoch)
{
	if (m->seen_epoch < epoch)
		return m->applied.seq;
	/* What came before the epoch we hold was of a lower one. */
	return m->seen_epoch_seq ? m->seen_epoch_seq - 1 : 0;
}

int master_replay(struct master *m, const struct famfs_log_pos *tail,
		  struct master_why *w)
{
	struct famfs_replay_error err = { 0 };
	long n;

	n = famfs_replay(m->pool->log, &m->applied, tail, m->st, feed_hook, m,
			 &err);
	if (n == -EUCLEAN) {
		master_why_set(w, "record %llu (offset %llu in the log) %s: %s",
			       (unsigned long long)err.seq,
			       (unsigned long long)err.offset,
			       err.bad_record ? "is corrupt" : "breaks a rule",
			       err.reason ? err.reason : "unknown");
		return -EUCLEAN;
	}
	if (n < 0) {
		master_why_set(w, "%s", strerror((int)-n));
		return (int)n;
	}
	return 0;
}

void master_fence(struct master *m, enum master_fence_kind kind,
		  const char *why)
{
	if (m->fenced)
		return;
	snprintf(m->fence_why, sizeof(m->fence_why), "%s", why);
	m->fenced = m->fence_why;
	m->fenced_at_ns = clock_real_ns();
	atomic_store(&m->fence_kind, (int)kind);
	if (kind == FENCE_POOL_CHANGED) {
		msg(MSG_ERR, "fenced: %s; refusing every write (503 fenced), "
		    "neither renewing nor releasing the lease, still answering "
		    "GET /v1/pool, /metrics and /healthz; restart the master to "
		    "serve the pool now on the device", why);
		return;
	}
	msg(MSG_ERR, "refusing all further writes: %s", why);
	stop_request(1);
}

/* Step 1: what every agent would say of r as the next record. */
static int check(struct master *m, const struct famfs_rec *r,
		 struct master_why *w)
{
	struct famfs_rec next = *r;
	const char *why;

	next.seq = famfs_log_appended(m->pool->log).seq + 1;
	next.epoch = m->epoch;
	if (famfs_state_check(m->st, &next, &why) == 0)
		return 0;
	/* Our own checks let through what the log forbids: a bug to report. */
	msg(MSG_ERR, "Refused to append a %s record the replay engine would "
	    "refuse: %s", famfs_rec_type_name(r->type), why);
	master_why_set(w, "the %s record for this request would break a rule "
		       "of the log (%s); nothing was written",
		       famfs_rec_type_name(r->type), why);
	return -EUCLEAN;
}

/* The payload of r into buf; its length, or -EINVAL. */
static int build(const struct famfs_rec *r, uint8_t *buf, size_t size,
		 struct master_why *w)
{
	int len = famfs_rec_build(r, buf, size);

	if (len < 0) {
		master_why_set(w, "a %s record cannot hold this request",
			       famfs_rec_type_name(r->type));
		return -EINVAL;
	}
	return len;
}

/* Step 2, first half: P1-P2. Not visible until publish(). */
static int append(struct master *m, uint16_t type, const uint8_t *buf,
		  int len, uint64_t *ret_seq, struct master_why *w)
{
	int err = famfs_log_append(m->pool->log, type, m->epoch, buf,
				   (uint32_t)len, ret_seq);

	if (err == -ENOSPC) {
		master_why_set(w, "the metadata log has no room for another "
			       "record (%llu of %llu bytes used)",
			       (unsigned long long)famfs_log_appended(m->pool->log).end,
			       (unsigned long long)famfs_log_capacity(m->pool->log));
		return -ENOBUFS;
	}
	if (err == -ESHUTDOWN) {	/* the log's own fence (the lease) */
		master_why_refused(m, w);
		return err;
	}
	if (err < 0) {
		master_why_set(w, "failed to append a %s record: %s",
			       famfs_rec_type_name(type), strerror(-err));
		return err;
	}
	return 0;
}

/* Step 2, second half (P3-P6), and step 3. */
static int publish(struct master *m, struct master_why *w)
{
	struct famfs_log_pos tail;
	int err;

	/*
	 * P3-P6 store the tail: not past the lease's deadline. A refusal here
	 * drops the appended record unpublished; the client hears 503.
	 */
	if (master_may_write(m) < 0) {
		famfs_log_discard(m->pool->log);
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	famfs_log_publish(m->pool->log);
	tail = famfs_log_published(m->pool->log);
	/* The log's own fence refused P4 (the deadline passed meanwhile). */
	if (tail.seq != famfs_log_appended(m->pool->log).seq) {
		famfs_log_discard(m->pool->log);
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	/* Step 3 reads what the pool holds, not what we stored (R2). */
	famfs_log_forget_own(m->pool->log);
	err = master_replay(m, &tail, w);
	if (err < 0) {
		/*
		 * The record is published, so agents will apply it, but our
		 * state could not (step 1 passed: memory ran out, or the pool
		 * did not hold what we wrote): it no longer matches the log.
		 * Stop writing; a restart replays the log and either agrees or
		 * names the bad record.
		 */
		msg(MSG_ERR, "Failed to apply published "
			"record %llu: %s",
			(unsigned long long)tail.seq, w->msg);
		master_fence(m, FENCE_DIVERGED,
			     "the state diverged from the published log");
		master_why_set(w, "the master is fenced: %s", m->fenced);
		return -ESHUTDOWN;
	}
	master_feed_published(m->feed, tail.seq);
	master_compact_maybe(m);
	return 0;
}

int master_commit(struct master *m, const struct famfs_rec *r,
		  uint64_t *ret_seq, struct master_why *w)
{
	uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	int len, err;

	/*
	 * A lease past its deadline, a successor, or a pool formatted anew
	 * underneath must stop us before we write past the tail
	 * (master/pool_watch.c). Checked again right before the append.
	 */
	if (master_may_write(m) < 0) {
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	len = build(r, buf, sizeof(buf), w);
	if (len < 0)
		return len;
	err = check(m, r, w);
	if (err < 0)
		return err;
	/* The lease's deadline, as near the store as it can be (P1). */
	if (master_may_write(m) < 0) {
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	err = append(m, r->type, buf, len, ret_seq, w);
	if (err < 0)
		return err;
	return publish(m, w);
}
