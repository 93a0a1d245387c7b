// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Safe reclaim. A DELETE record removes the name and the tenant's charge at
 * once, but the file's extents go onto the state's pending list: a host
 * that has not replayed the delete, or still has the file open or mapped,
 * may touch those bytes. Only when every agent that is not evicted has
 * reported an applied sequence at or past the delete, and none reports the
 * inode open, does a RECLAIM record return the space to the allocator
 * (applying it is what frees the extents, on every host alike).
 *
 * After a master start or a failover, the agents an earlier master
 * acknowledged come from the pool's agent roster (master/agents.c): each
 * holds every reclaim back until it has heartbeated to this master or is
 * evicted. Only a start without a usable roster (an empty one: a pool used
 * before the roster existed, or one that cannot be read) waits out the
 * grace period (cfg.reclaim_grace_ms, m->reclaim_after_ns) instead.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "master/master.h"

/*
 * Up to FAMFS_RECLAIM_MAX files per record, the pending list walked once in
 * delete order: a burst of deletes costs a few records, not one each.
 * Returns how many entries went into e; *ret_next is where the next batch
 * starts looking.
 */
static uint32_t collect(struct master *m, const struct famfs_pending *p,
			uint64_t min_applied, struct famfs_rec_reclaim *e,
			const struct famfs_pending **ret_next)
{
	uint32_t n = 0;

	for (; p && p->delete_seq <= min_applied && n < FAMFS_RECLAIM_MAX;
	     p = p->next) {
		if (master_agents_hold(m->agents, p->ino, p->delete_seq))
			continue;
		e[n].ino = htole64(p->ino);
		e[n].delete_seq = htole64(p->delete_seq);
		n++;
	}
	*ret_next = p;
	return n;
}

int master_reclaim(struct master *m)
{
	struct famfs_rec_reclaim e[FAMFS_RECLAIM_MAX];
	const struct famfs_pending *next;
	uint64_t min_applied;
	struct master_why w;
	int done = 0, err = 0;
	uint32_t n;

	/* A standby reclaims nothing: its successor's grace starts at takeover. */
	if (!m->st->pending_first || m->fenced || !atomic_load(&m->elected) ||
	    clock_mono_ns() < m->reclaim_after_ns)
		return 0;
	/*
	 * The list is in delete order, so past the slowest agent's position
	 * everything is held back and the walk can stop. A batch is collected
	 * before its record is committed (applying it frees its entries); the
	 * next batch goes on from the first entry the last one did not look
	 * at, which is still there.
	 */
	min_applied = master_agents_min_applied(m->agents);
	next = m->st->pending_first;
	while ((n = collect(m, next, min_applied, e, &next)) > 0) {
		struct famfs_rec rec = {
			.type = FAMFS_REC_RECLAIM, .ino = le64toh(e[0].ino),
			.delete_seq = le64toh(e[0].delete_seq),
			.reclaims = e, .n_reclaims = n,
		};

		err = master_commit(m, &rec, NULL, &w);
		if (err < 0)
			break;
		done += (int)n;
		pthread_cond_broadcast(&m->reclaimed);
		/* Entries before next were all either reclaimed or held. */
		if (!next)
			break;
	}
	if (m->fenced)
		return -ESHUTDOWN;
	/* Say it once, not every second while the log stays full. */
	if (err < 0 && !m->reclaim_failing)
		msg(MSG_WARN, "Failed to reclaim deleted files: "
			"%s, will retry", w.msg);
	m->reclaim_failing = err < 0;
	return (int)done;
}

/* How long a create waits for a reclaim that is on its way. */
#define SPACE_WAIT_MS	3000u
/* Pending files looked at for one that only waits for acknowledgements. */
#define SPACE_SCAN	64u

/* Whether some pending space will come back soon without anyone closing. */
static bool reclaim_coming(struct master *m)
{
	const struct famfs_pending *p = m->st->pending_first;

	if (clock_mono_ns() < m->reclaim_after_ns)
		return p != NULL;
	for (unsigned int i = 0; p && i < SPACE_SCAN; p = p->next, i++)
		if (!master_agents_have_open(m->agents, p->ino))
			return true;
	return false;
}

void master_wait_space(struct master *m, uint64_t bytes)
{
	uint64_t dl = clock_mono_ns() + SPACE_WAIT_MS * 1000000ull;
	struct timespec ts = {
		.tv_sec = (time_t)(dl / 1000000000ull),
		.tv_nsec = (long)(dl % 1000000000ull),
	};

	while (famfs_alloc_free_bytes(m->st->alloc) < bytes && !m->fenced &&
	       reclaim_coming(m)) {
		/* The grace after a start ends by the clock, not a signal. */
		if (clock_mono_ns() >= m->reclaim_after_ns)
			master_reclaim(m);
		if (famfs_alloc_free_bytes(m->st->alloc) >= bytes)
			return;
		if (pthread_cond_timedwait(&m->reclaimed, &m->lock, &ts) == ETIMEDOUT)
			return;
	}
}

