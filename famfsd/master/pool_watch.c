// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pool under the master: is it still the one it replayed? Someone may
 * format it anew, restore an image over it or rewrite its superblock while
 * the master runs (famfsctl mkfs refuses a pool whose lease is renewed,
 * but not every tool asks, and --dead-master can be wrong). The master's
 * memory then describes a pool that is gone, and its next publish would
 * write the old tail, records and lease into the new one: the old records
 * reappear under the new pool's UUID.
 *
 * So every writer of the pool asks master_may_write() right before it
 * writes (the write path's publish, compaction's C2-C6 steps, the damage
 * thread's repairs, the lease renewal), and the main loop asks once a
 * second, so an idle master notices too. It re-reads the lease (another
 * master took over) and the superblock, and compares the superblock with
 * the master's (famfs_sb_compare: identity, geometry and the log
 * generation, which only this master advances, under m->lock). The usual
 * case costs four cache lines invalidated and compared: both copies' first
 * two lines, which hold every field, against the bytes last found ours.
 *
 * A changed pool fences the master for good, but unlike the other fences
 * (master_fence()) the process stays up: writes, namespace reads and
 * heartbeats get 503 fenced, while GET /v1/pool, /metrics and /healthz
 * keep saying what happened, until an operator restarts it onto the new
 * pool. The lease is neither renewed nor released any more: the area
 * belongs to the new pool.
 *
 * What stays open: a change between the check and the write it guards
 * (microseconds for a publish, the length of a checkpoint's items for a
 * compaction's C2). Only a writer that ignores the lease can land there;
 * famfsctl mkfs refuses while the lease is renewed, and the master renews
 * it (checking first) every second, so mkfs cannot pass its watch while
 * this master lives. docs/master.md, "A pool changed underneath".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "elect.h"
#include "guard.h"
#include "master/master.h"
#include "super.h"

/*
 * One superblock copy, invalidated first, into dst, under a guard
 * (lib/guard.h): a copy whose lines fault (poisoned) reads as zeros, a bad
 * copy to famfs_sb_load, which then takes the other.
 */
static void snapshot_copy(struct master *m, uint32_t at, uint8_t *dst)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g)) {
		memset(dst, 0, sizeof(struct famfs_sb));
		return;
	}
	m->pool->ops->invalidate(m->pool->base + at, sizeof(struct famfs_sb));
	m->pool->ops->rfence();
	memcpy(dst, m->pool->base + at, sizeof(struct famfs_sb));
	famfs_guard_end(&g);
}

/* The pool's two superblock copies into snap. */
static void snapshot(struct master *m, uint8_t *snap)
{
	snapshot_copy(m, FAMFS_SB_A_OFFSET, snap + FAMFS_SB_A_OFFSET);
	snapshot_copy(m, FAMFS_SB_B_OFFSET, snap + FAMFS_SB_B_OFFSET);
}

/*
 * The fast path: both copies' first two lines (every field but the CRC
 * line's reserved bytes) still hold the bytes the last full check found
 * ours. Four lines invalidated and compared, 0.6-0.7 us here, against
 * 1.4-1.8 us for a load that decodes and CRCs both copies.
 */
static bool lines_unchanged(struct master *m)
{
	const struct famfs_cache_ops *ops = m->pool->ops;
	const uint8_t *a = m->pool->base + FAMFS_SB_A_OFFSET;
	const uint8_t *b = m->pool->base + FAMFS_SB_B_OFFSET;
	struct famfs_guard g;
	bool same;

	/* Lines that fault (lib/guard.h): not known unchanged, look fully. */
	if (!famfs_guard_begin(&g))
		return false;
	ops->invalidate(a, SB_WATCHED);
	ops->invalidate(b, SB_WATCHED);
	ops->rfence();
	same = memcmp(a, m->sb_watched[0], SB_WATCHED) == 0 &&
	       memcmp(b, m->sb_watched[1], SB_WATCHED) == 0;
	famfs_guard_end(&g);
	return same;
}

/*
 * Under m->lock: what differs, into buf; false when the pool is ours. The
 * full check decodes a private snapshot, so the bytes it then remembers
 * for the fast path are exactly the ones it judged (a write landing
 * between the two could otherwise be remembered as ours). Our own C6
 * changes the generation and sb_seq: the fast path misses once, the full
 * check finds the generation it now expects and remembers the new bytes.
 */
static bool pool_changed(struct master *m, char *buf, size_t size)
{
	uint8_t snap[FAMFS_SB_B_OFFSET + sizeof(struct famfs_sb)];
	struct famfs_pool_info now;
	struct famfs_sb_status st;
	enum famfs_sb_field f;
	int r;

	if (m->sb_watch_valid && lines_unchanged(m))
		return false;
	snapshot(m, snap);
	r = famfs_sb_load(snap, m->pool->size, famfs_cache_ops_get(FAMFS_COH_NONE),
			  &now, &st);
	if (r < 0) {
		snprintf(buf, size, "no valid superblock any more (copy A: %s; "
			 "copy B: %s)", st.reason[0] ? st.reason[0] : "good",
			 st.reason[1] ? st.reason[1] : "good");
		return true;
	}
	f = famfs_sb_compare(&m->pool->info, &now, FAMFS_SB_CMP_GENERATION);
	if (f == FAMFS_SB_SAME) {
		memcpy(m->sb_watched[0], snap + FAMFS_SB_A_OFFSET, SB_WATCHED);
		memcpy(m->sb_watched[1], snap + FAMFS_SB_B_OFFSET, SB_WATCHED);
		m->sb_watch_valid = true;
		return false;
	}
	famfs_sb_describe(f, &m->pool->info, &now, buf, size);
	return true;
}

int master_pool_check(struct master *m)
{
	char what[192], why[sizeof(m->fence_why)];

	if (m->fenced)
		return -ESHUTDOWN;
	if (!pool_changed(m, what, sizeof(what)))
		return 0;
	snprintf(why, sizeof(why), "the pool changed underneath: %s", what);
	master_fence(m, FENCE_POOL_CHANGED, why);
	return -ESHUTDOWN;
}

/*
 * The election first (lock-free, ~20 ns): a standby never writes, the
 * active master only before its lease's deadline (docs/failover.md,
 * "Time"). A deadline passed because the renewal thread was late only
 * pauses writes until its next good renewal; a renewal that found a
 * successor (famfs_elect_fenced) fences for good.
 */
int master_may_write(struct master *m)
{
	if (m->fenced)
		return -ESHUTDOWN;
	if (!m->elect || !atomic_load(&m->elected))
		return -ESHUTDOWN;
	if (!famfs_elect_may_write(m->elect)) {
		if (famfs_elect_fenced(m->elect))
			master_fence(m, FENCE_LEASE_LOST, "lost the master "
				     "lease: another master took the lease (a "
				     "higher epoch in the election slots)");
		else	/* a pool formatted anew is the reason to name */
			master_pool_check(m);
		return -ESHUTDOWN;
	}
	return master_pool_check(m);
}

void master_why_refused(const struct master *m, struct master_why *w)
{
	if (m->fenced)
		master_why_set(w, "the master is fenced: %s", m->fenced);
	else
		master_why_set(w, "%s", master_write_refusal(m));
}

const char *master_write_refusal(const struct master *m)
{
	if (m->fenced)
		return m->fenced;
	if (!atomic_load(&m->elected))
		return "this master is a standby: only the active master writes";
	return "the lease's write deadline passed before a renewal (the "
	       "renewal is late); writes resume at the next good renewal";
}

const char *master_fence_kind_name(enum master_fence_kind k)
{
	static const char *const names[] = {
		[FENCE_NONE] = "none",
		[FENCE_LEASE_LOST] = "lease-lost",
		[FENCE_DIVERGED] = "state-diverged",
		[FENCE_POOL_CHANGED] = "pool-changed",
	};

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "unknown";
}
