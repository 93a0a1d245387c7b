// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The readers' epoch fence on an agent (docs/failover.md): the active
 * master's slot says its epoch E began at record S, so every record and
 * tail slot from S on carries an epoch >= E. A record of a lower epoch
 * there is the store of an old master paused past its lease (between its
 * deadline check and its store): the log readers refuse it as a damaged
 * copy (famfs_log_set_epoch_fence) on every log the follower opens.
 *
 * The follower reads the election slots at most every FENCE_READ_MS (a
 * view is 16 slots, 8 KiB, invalidated and CRC-checked), so a new epoch is
 * known within that of the election. An agent that had already applied a
 * record at or after S of a lower epoch (read before the fence was known)
 * holds a tree no reader will agree with: it rebuilds from the log with
 * the fence set, which leaves that record out. A new epoch also kicks a
 * heartbeat at once: the new master waits for it before it reclaims.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "elect.h"

#define FENCE_READ_MS		100u

/* Follower only: remembers where the epoch of the records applied began. */
void agent_epoch_note(struct agent *a, const struct famfs_rec *r)
{
	if (r->checkpoint || r->epoch == a->seen_epoch)
		return;
	a->seen_epoch = r->epoch;
	a->seen_epoch_seq = r->seq;
}

/* Whether a record at or after seq s of an epoch below e is applied. */
static bool applied_stale(const struct agent *a, uint64_t e, uint64_t s)
{
	uint64_t below;

	if (a->pos.seq < s)
		return false;
	below = a->seen_epoch < e ? a->pos.seq :
		a->seen_epoch_seq ? a->seen_epoch_seq - 1 : 0;
	return below >= s;
}

/* A new fence: the tree rebuilt when it holds what the fence refuses. */
static void resync(struct agent *a)
{
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;

	if (!applied_stale(a, a->fence_epoch, a->fence_seq))
		return;
	msg(MSG_WARN, "the active master's epoch %" PRIu64 " began at seq %"
	    PRIu64 ", but records from there on of an older epoch were "
	    "applied here (an old master's stores): rebuilding the tree",
	    a->fence_epoch, a->fence_seq);
	if (famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info, &sbs) == 0)
		agent_generation_anew(a, &info, "the readers' epoch fence");
}

void agent_epoch_fence(struct agent *a)
{
	struct famfs_elect_view *v;
	uint64_t now = clock_mono_ns();

	if (now - a->fence_read_ns >= FENCE_READ_MS * 1000000ull) {
		a->fence_read_ns = now;
		v = malloc(sizeof(*v));
		if (v && famfs_elect_view(a->pool->base, a->ops, v) == 0 &&
		    v->active >= 0 && v->epoch > a->fence_epoch) {
			a->fence_epoch = v->epoch;
			a->fence_seq = v->epoch_start_seq;
			famfs_log_set_epoch_fence(a->pool->log, a->fence_epoch,
						  a->fence_seq);
			resync(a);
			/*
			 * A new master holds every reclaim back until this
			 * agent reports to it (the agent roster,
			 * docs/failover.md): report now, not at the next tick.
			 */
			agent_heartbeat_kick(a);
		}
		free(v);
	}
	if (a->fence_epoch)
		famfs_log_set_epoch_fence(a->pool->log, a->fence_epoch,
					  a->fence_seq);
}
