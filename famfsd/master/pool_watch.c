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
 * master took over) and the superblock (both copies invalidated and
 * loaded: a few cache lines and two CRCs, ~0.5 us) and compares the
 * superblock with the master's (famfs_sb_compare: identity, geometry and
 * the log generation, which only this master advances, under m->lock).
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

#include "master/master.h"
#include "super.h"

/* Under m->lock: what differs, into buf; false when the pool is ours. */
static bool pool_changed(struct master *m, char *buf, size_t size)
{
	struct famfs_pool_info now;
	struct famfs_sb_status st;
	enum famfs_sb_field f;
	int r;

	r = famfs_sb_load(m->pool->base, m->pool->size, m->pool->ops, &now, &st);
	if (r < 0) {
		snprintf(buf, size, "no valid superblock any more (copy A: %s; "
			 "copy B: %s)", st.reason[0] ? st.reason[0] : "good",
			 st.reason[1] ? st.reason[1] : "good");
		return true;
	}
	f = famfs_sb_compare(&m->pool->info, &now, FAMFS_SB_CMP_GENERATION);
	if (f == FAMFS_SB_SAME)
		return false;
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

int master_may_write(struct master *m)
{
	if (m->fenced)
		return -ESHUTDOWN;
	/* A forced takeover must stop us before we write past the tail. */
	if (master_lease_check(m) < 0) {
		msg(MSG_ERR, "lost the master lease to a forced takeover");
		master_fence(m, FENCE_LEASE_LOST, "another master took the lease");
		return -ESHUTDOWN;
	}
	return master_pool_check(m);
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
