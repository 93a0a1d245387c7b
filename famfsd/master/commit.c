// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master's write path: append records, publish them, then apply them
 * to the in-memory state by replaying them from the pool with the same
 * engine every agent and fsck uses. Memory therefore always equals what a
 * restarted master would rebuild, and a record that the replay engine would
 * refuse is caught here, before anything else is built on top of it.
 *
 * Nothing is acknowledged to a client before master_publish() returns.
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
	return master_feed_add(m->feed, r->seq, r->type, r->epoch);
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

void master_fence(struct master *m, const char *why)
{
	if (m->fenced)
		return;
	m->fenced = why;
	msg(MSG_ERR, "refusing all further writes: %s", why);
	stop_request(1);
}

int master_append(struct master *m, const struct famfs_rec *r,
		  uint64_t *ret_seq, struct master_why *w)
{
	uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	int len, err;

	/* A forced takeover must stop us before we write past the tail. */
	if (!m->fenced && master_lease_check(m) < 0) {
		msg(MSG_ERR, "lost the master lease to a forced "
			"takeover");
		master_fence(m, "another master took the lease");
	}
	if (m->fenced) {
		master_why_set(w, "the master is fenced: %s", m->fenced);
		return -ESHUTDOWN;
	}
	len = famfs_rec_build(r, buf, sizeof(buf));
	if (len < 0) {
		master_why_set(w, "a %s record cannot hold this request",
			       famfs_rec_type_name(r->type));
		return -EINVAL;
	}
	err = famfs_log_append(m->pool->log, r->type, m->epoch, buf,
			       (uint32_t)len, ret_seq);
	if (err == -ENOSPC) {
		master_why_set(w, "the metadata log has no room for another "
			       "record (%llu of %llu bytes used)",
			       (unsigned long long)famfs_log_appended(m->pool->log).end,
			       (unsigned long long)famfs_log_capacity(m->pool->log));
		return -ENOBUFS;
	}
	if (err < 0) {
		master_why_set(w, "failed to append a %s record: %s",
			       famfs_rec_type_name(r->type), strerror(-err));
		return err;
	}
	return 0;
}

int master_publish(struct master *m, struct master_why *w)
{
	struct famfs_log_pos tail;
	int err;

	famfs_log_publish(m->pool->log);
	tail = famfs_log_published(m->pool->log);
	err = master_replay(m, &tail, w);
	if (err < 0) {
		/*
		 * The record is published, so agents will apply it, but our
		 * state could not: it no longer matches the log. Stop writing;
		 * a restart replays the log and either agrees or names the bad
		 * record.
		 */
		msg(MSG_ERR, "Failed to apply published "
			"record %llu: %s",
			(unsigned long long)tail.seq, w->msg);
		master_fence(m, "the state diverged from the published log");
		master_why_set(w, "the master is fenced: %s", m->fenced);
		return -ESHUTDOWN;
	}
	master_feed_published(m->feed, tail.seq);
	return 0;
}

int master_commit(struct master *m, const struct famfs_rec *r,
		  uint64_t *ret_seq, struct master_why *w)
{
	int err = master_append(m, r, ret_seq, w);

	return err < 0 ? err : master_publish(m, w);
}
