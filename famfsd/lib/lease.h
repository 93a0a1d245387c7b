/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The master lease area: who holds the pool's write side, since when, and
 * with which epoch. See struct famfs_lease for what it can and cannot
 * guarantee across hosts.
 */
#ifndef FAMFSD_LEASE_H
#define FAMFSD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "famfsd_format.h"

struct famfs_lease_info {
	uint64_t epoch;
	uint64_t acquired_ns, renewed_ns, lease_ns;
	uint32_t pid;
	bool released;
	char host[FAMFS_HOST_MAX + 1];
	uint8_t holder_uuid[16];
};

/*
 * Reads the lease (invalidating first). 0, or -EUCLEAN for a corrupt area,
 * -EIO when its line faults (lib/guard.h),
 * -ENOENT when it was never written (epoch 0 then).
 */
int famfs_lease_read(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_lease_info *ret);

/* Writes the lease, flushed and fenced. */
void famfs_lease_write(uint8_t *base, const struct famfs_cache_ops *ops,
		       const struct famfs_lease_info *l);

/*
 * How often a live master rewrites its lease (master/lease.c renews it
 * once a second), and how long a watcher looks for a renewal before it
 * takes the holder for dead: three renewals, so a master whose loop was
 * held up for a moment is still seen.
 */
#define FAMFS_LEASE_RENEW_MS	1000u
#define FAMFS_LEASE_WATCH_MS	(3 * FAMFS_LEASE_RENEW_MS)

/*
 * Watches the lease area and the election slots for up to wait_ms,
 * reading them (invalidated first) every poll_ms: 1 as soon as their
 * bytes change (a master renewing, a standby beating), 0 when they stayed
 * the same throughout. This decides whether a holder is alive without
 * comparing its wall clock with ours: a live master rewrites renewed_ns at
 * every renewal, whatever its clock says, so its bytes change within one
 * renewal period. -EIO when the lease line faults (lib/guard.h).
 */
int famfs_lease_watch(const uint8_t *base, const struct famfs_cache_ops *ops,
		      unsigned int wait_ms, unsigned int poll_ms);

/* True when the holder renewed within its lease period before now_ns. */
bool famfs_lease_live(const struct famfs_lease_info *l, uint64_t now_ns);

#endif
