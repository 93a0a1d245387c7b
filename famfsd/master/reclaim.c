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
 * After a master start, agents are unknown until they heartbeat again, so
 * nothing is reclaimed during a grace period (cfg.reclaim_grace_ms).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "master/master.h"

struct candidate {
	uint64_t ino, delete_seq;
};

int master_reclaim(struct master *m)
{
	struct candidate *c = NULL;
	struct famfs_pending *p;
	struct master_why w;
	size_t n = 0, cap = 0, done = 0;
	uint64_t min_applied;
	int err = 0;

	if (!m->st->pending_first || m->fenced ||
	    clock_mono_ns() < m->reclaim_after_ns)
		return 0;
	/*
	 * Collect first: applying a RECLAIM unlinks its pending entry. The
	 * list is in delete order, so past the slowest agent's position
	 * everything is held back and the walk can stop.
	 */
	min_applied = master_agents_min_applied(m->agents);
	for (p = m->st->pending_first; p && p->delete_seq <= min_applied;
	     p = p->next) {
		if (master_agents_hold(m->agents, p->ino, p->delete_seq))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct candidate *nc = realloc(c, ncap * sizeof(*c));

			if (!nc)
				break;	/* reclaim what we have; retried later */
			c = nc;
			cap = ncap;
		}
		c[n++] = (struct candidate){ p->ino, p->delete_seq };
	}
	/*
	 * One publish per record (master_commit): each is checked against the
	 * state with the one before it applied.
	 */
	for (size_t i = 0; i < n; i++) {
		struct famfs_rec rec = {
			.type = FAMFS_REC_RECLAIM, .ino = c[i].ino,
			.delete_seq = c[i].delete_seq,
		};

		err = master_commit(m, &rec, NULL, &w);
		if (err < 0)
			break;
		done++;
	}
	free(c);
	if (m->fenced)
		return -ESHUTDOWN;
	/* Say it once, not every second while the log stays full. */
	if (err < 0 && !m->reclaim_failing)
		msg(MSG_WARN, "Failed to reclaim deleted files: "
			"%s, will retry", w.msg);
	m->reclaim_failing = err < 0;
	return (int)done;
}
