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
 * -ENOENT when it was never written (epoch 0 then).
 */
int famfs_lease_read(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_lease_info *ret);

/* Writes the lease, flushed and fenced. */
void famfs_lease_write(uint8_t *base, const struct famfs_cache_ops *ops,
		       const struct famfs_lease_info *l);

/* True when the holder renewed within its lease period before now_ns. */
bool famfs_lease_live(const struct famfs_lease_info *l, uint64_t now_ns);

#endif
