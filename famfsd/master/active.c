// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master's side of the election (lib/elect.h, docs/failover.md): its
 * slot opened at start, the takeover once it wins, the renewal thread of
 * the active master, and the release at a clean stop.
 *
 * Takeover, in order (docs/master.md "Active and standby"):
 *   T1 catch up: replay to the published tail once more (the standby did
 *      just before its election; a forced one may find the old master's
 *      last stores, which the epoch fence then refuses);
 *   T2 the writer starts after the last record we applied, the tail
 *      rewritten to it when the pool's says anything else (a check of
 *      master_may_write() before each store);
 *   T3 our epoch, elected above every replayed record, stamps every record
 *      from epoch_start_seq on; the log's readers get the same fence;
 *   T4 the legacy lease area (lib/lease.h) is written once for old tools;
 *   T5 the roster (master_agents_takeover), then the compaction and damage
 *      threads, the reclaim and compaction grace, the renewal thread;
 *   T6 m->active: the API stops redirecting.
 *
 * The legacy lease area (struct famfs_lease) now: epoch, host and pid of
 * the master that last became active, holder_uuid its run; acquired_ns
 * and renewed_ns (CLOCK_REALTIME) when it did; lease_ns LEGACY_HELD, "held
 * until released". It is written once per takeover and once more with
 * released=1 at a clean stop, never renewed: liveness is in the election
 * slots only. So a tool or master older than the election sees a pool held
 * by a live master for as long as one is active (it refuses to start on
 * it), and after a crash a lease its own watch finds unchanged.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "elect.h"
#include "http/server.h"
#include "lease.h"
#include "master/master.h"
#include "super.h"

/* The legacy lease's period: never expires by time (see above). */
#define LEGACY_HELD		(UINT64_MAX >> 1)

struct master_renew {
	struct famfs_pool_info pool;	/* the pool we took over, a copy */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

/*
 * --advertise, else http(s)://ADDR:PORT of --listen when ADDR is an
 * address others can reach; "" for a wildcard (warned once).
 */
static void advertise_url(struct master *m)
{
	const char *l = m->cfg.listen, *scheme = m->cfg.tls_cert ? "https" : "http";

	if (m->cfg.advertise) {
		snprintf(m->url, sizeof(m->url), "%s", m->cfg.advertise);
		return;
	}
	if (!strncmp(l, "0.0.0.0:", 8) || !strncmp(l, "[::]:", 5)) {
		m->url[0] = '\0';
		msg(MSG_WARN, "--listen %s names no address others can reach: "
		    "the pool publishes no API address for this master; agents "
		    "and famfsctl cannot follow it there (set --advertise URL)",
		    l);
		return;
	}
	snprintf(m->url, sizeof(m->url), "%s://%s", scheme, l);
}

/* Who holds our slot, for the one error line of a second start. */
static void slot_busy(struct master *m, unsigned int slot)
{
	struct famfs_elect_slot_info s;

	if (famfs_elect_read(m->pool->base, m->pool->ops, slot, &s) < 0) {
		msg(MSG_ERR, "Failed to start: election slot %u of '%s' is "
		    "used by another live master", slot + 1, m->cfg.pool_path);
		return;
	}
	msg(MSG_ERR, "Failed to start: election slot %u of '%s' is held by "
	    "host %s pid %u epoch %llu (%s); run this master with another "
	    "--slot, or stop that one first", slot + 1, m->cfg.pool_path,
	    s.host, s.pid, (unsigned long long)s.epoch,
	    s.state == FAMFS_ELECT_ACTIVE ? "active" : "standby");
}

int master_elect_open(struct master *m)
{
	struct famfs_elect_opts o = {
		.slot = m->cfg.slot - 1,
		.lease_ns = (uint64_t)m->cfg.lease_seconds * 1000000000ull,
		.host = m->host, .pid = (uint32_t)getpid(), .url = m->url,
	};
	int r;

	advertise_url(m);
	r = famfs_elect_new(m->pool->base, m->pool->ops, &o, &m->elect);
	if (r == -EBUSY)
		slot_busy(m, o.slot);
	else if (r < 0)
		msg(MSG_ERR, "Failed to open election slot %u of '%s': %s",
		    m->cfg.slot, m->cfg.pool_path, strerror(-r));
	return r;
}

/* T4: the legacy lease, for tools older than the election. */
static void legacy_lease(struct master *m, bool released)
{
	struct famfs_lease_info l = {
		.epoch = m->epoch, .pid = (uint32_t)getpid(),
		.lease_ns = LEGACY_HELD, .released = released,
	};

	l.acquired_ns = l.renewed_ns = released ? clock_real_ns() :
				       m->active_since_real_ns;
	memcpy(l.host, m->host, sizeof(l.host));
	memcpy(l.holder_uuid, m->holder_uuid, sizeof(l.holder_uuid));
	if (master_may_write(m) == 0)
		famfs_lease_write(m->pool->base, m->pool->ops, &l);
}

/* CLOCK_MONOTONIC now + ns, for a condition made by clock_cond_init(). */
static struct timespec deadline_in(uint64_t ns)
{
	uint64_t t = clock_mono_ns() + ns;

	return (struct timespec){ .tv_sec = (time_t)(t / 1000000000ull),
				  .tv_nsec = (long)(t % 1000000000ull) };
}

/*
 * Before each renewal: the superblock still names the pool we took over
 * (a hung master resumed after a mkfs must not beat its slot into the new
 * pool, and the main loop's check may come up to a second later). No lock:
 * a private copy of the identity, the superblock read invalidated. A
 * change is handed to the pool watch under m->lock once, which fences.
 */
static bool same_pool(struct master *m, const struct master_renew *rn)
{
	struct famfs_pool_info now;
	struct famfs_sb_status st;

	if (famfs_sb_load(m->pool->base, m->pool->size, m->pool->ops, &now,
			  &st) == 0 &&
	    famfs_sb_compare(&rn->pool, &now, 0) == FAMFS_SB_SAME)
		return true;
	master_lock(m);
	master_pool_check(m);
	master_unlock(m);
	return false;
}

/*
 * The renewal thread: every W/4, never under m->lock, so a long request
 * or a compaction's C5-C7 cannot starve the lease. Step "renewal" of
 * docs/failover.md; the store, flush and fence are famfs_elect_renew's.
 */
static void *renew_main(void *arg)
{
	struct master *m = arg;
	struct master_renew *rn = m->renew;
	uint64_t period = famfs_elect_renew_ns(m->elect);
	struct timespec until;
	int r;

	pthread_mutex_lock(&rn->lock);
	while (!rn->stopping) {
		pthread_mutex_unlock(&rn->lock);
		/* A pool changed underneath is not ours to renew into. */
		if (atomic_load(&m->fence_kind) != FENCE_NONE ||
		    !same_pool(m, rn))
			r = 0;
		else
			r = famfs_elect_renew(m->elect,
					      master_feed_last_seq(m->feed));
		if (r == -ESTALE) {
			master_lock(m);
			master_fence(m, FENCE_LEASE_LOST, "lost the master "
				     "lease: another master took the lease "
				     "(a higher epoch in the election slots)");
			master_unlock(m);
			pthread_mutex_lock(&rn->lock);
			break;
		}
		if (r < 0)
			msg(MSG_WARN, "Failed to renew the lease: %s, writes "
			    "pause until a renewal succeeds", strerror(-r));
		until = deadline_in(period);
		pthread_mutex_lock(&rn->lock);
		while (!rn->stopping &&
		       pthread_cond_timedwait(&rn->wake, &rn->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&rn->lock);
	return NULL;
}

static int renew_start(struct master *m)
{
	struct master_renew *rn = calloc(1, sizeof(*rn));
	int r;

	if (!rn)
		return -ENOMEM;
	pthread_mutex_init(&rn->lock, NULL);
	clock_cond_init(&rn->wake);
	master_lock(m);
	rn->pool = m->pool->info;
	master_unlock(m);
	m->renew = rn;
	r = pthread_create(&rn->thread, NULL, renew_main, m);
	if (r != 0) {
		m->renew = NULL;
		free(rn);
		return -r;
	}
	return 0;
}

void master_renew_stop(struct master *m)
{
	struct master_renew *rn = m->renew;

	if (!rn)
		return;
	pthread_mutex_lock(&rn->lock);
	rn->stopping = true;
	pthread_cond_signal(&rn->wake);
	pthread_mutex_unlock(&rn->lock);
	pthread_join(rn->thread, NULL);
	pthread_cond_destroy(&rn->wake);
	pthread_mutex_destroy(&rn->lock);
	free(rn);
	m->renew = NULL;
}

/* The log's writer fence: the lease's deadline, lock-free. */
static bool lease_guard(void *ctx)
{
	const struct master *m = ctx;

	return m->elect && famfs_elect_may_write(m->elect);
}

void master_guard_log(struct master *m, struct famfs_log *log)
{
	famfs_log_set_write_guard(log, lease_guard, m);
}

/* T1-T2, under m->lock. */
static int takeover_log(struct master *m, struct master_why *w)
{
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	int r;

	famfs_log_set_epoch_fence(m->pool->log, m->epoch, m->epoch_start_seq);
	master_guard_log(m, m->pool->log);
	r = famfs_log_read_tail(m->pool->log, &tail, &lerr);
	if (r == 0 && tail.seq > m->applied.seq)
		r = master_replay(m, &tail, w);
	else if (r < 0)
		msg(MSG_WARN, "takeover: the log tail reads bad (%s): "
		    "rewriting it from the last record applied", lerr.reason);
	if (r < 0 && r != -EUCLEAN)
		return r;
	famfs_log_writer_start(m->pool->log, &m->applied);
	if (master_may_write(m) < 0) {
		master_why_set(w, "fenced before the first write");
		return -ESHUTDOWN;
	}
	if (r == 0 && tail.seq == m->applied.seq) {
		/* A torn slot, or copies that disagree: made whole first. */
		if (famfs_log_repair_tail(m->pool->log) < 0)
			msg(MSG_WARN, "could not rewrite the log's tail slots");
		return 0;
	}
	/*
	 * The pool's tail names stores the epoch fence refuses (an old
	 * master's past its deadline): the tail becomes ours, so every reader
	 * goes on from the last record this epoch follows.
	 */
	msg(MSG_WARN, "takeover: the log past seq %llu is not ours to "
	    "follow (%s); the tail is set back to it",
	    (unsigned long long)m->applied.seq, r < 0 ? w->msg : lerr.reason);
	famfs_log_set_tail(m->pool->log, &m->applied);
	return 0;
}

/* T5's threads and graces, as a start without failover had them. */
static int takeover_threads(struct master *m)
{
	uint64_t now = clock_mono_ns(), grace = m->cfg.reclaim_grace_ms;
	int r;

	m->reclaim_after_ns = now + grace * 1000000ull;
	/* Two heartbeats: every live agent has said where it is. */
	m->compact_after_ns = now + (grace < 2000 ? grace : 2000) * 1000000ull;
	r = master_agents_takeover(m);
	if (r < 0)
		msg(MSG_WARN, "takeover: Failed to load the agent roster: %s, "
		    "ignoring", strerror(-r));
	r = master_compact_start(m);
	if (r == 0)
		r = master_damage_start(m);
	if (r == 0)
		r = renew_start(m);
	return r;
}

int master_takeover(struct master *m, uint64_t epoch,
		    const struct master_takeover_from *from)
{
	struct master_why w;
	uint64_t ms;
	int r;

	master_lock(m);
	m->epoch = epoch;
	m->epoch_start_seq = m->applied.seq + 1;
	m->active_since_real_ns = clock_real_ns();
	uuid_generate_random(m->holder_uuid);
	atomic_store(&m->elected, true);
	r = takeover_log(m, &w);
	if (r == 0) {
		legacy_lease(m, false);
		master_feed_published(m->feed, m->applied.seq);
	}
	master_unlock(m);
	if (r == 0)
		r = takeover_threads(m);
	if (r < 0) {
		msg(MSG_ERR, "Failed to take over as the active master: %s",
		    r == -ESHUTDOWN || r == -EUCLEAN ? w.msg : strerror(-r));
		return r;
	}
	atomic_store(&m->active, true);
	ms = from->slot >= 0 ? (clock_mono_ns() - from->last_seen_ns) / 1000000 : 0;
	if (from->slot >= 0)
		msg(MSG_INFO, "active: epoch %llu from seq %llu (took over from "
		    "slot %d host %s after %llu ms)", (unsigned long long)epoch,
		    (unsigned long long)m->epoch_start_seq, from->slot + 1,
		    from->host, (unsigned long long)ms);
	else
		msg(MSG_INFO, "active: epoch %llu from seq %llu (no master was "
		    "active)", (unsigned long long)epoch,
		    (unsigned long long)m->epoch_start_seq);
	master_notify_status(m);
	return 1;
}

void master_elect_stop(struct master *m)
{
	bool wrote = atomic_load(&m->elected);

	master_renew_stop(m);
	if (!m->elect)
		return;
	/* A fenced master writes nothing more, its slot included. */
	if (m->fenced || famfs_elect_fenced(m->elect))
		return;
	if (wrote) {
		master_lock(m);
		legacy_lease(m, true);
		master_unlock(m);
	}
	famfs_elect_release(m->elect);
}
