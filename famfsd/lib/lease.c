// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crc.h"
#include "guard.h"
#include "lease.h"

/*
 * Lease check: another host may have renewed it; drop our copy, then read
 * the line under a guard (lib/guard.h). False when it faults.
 */
static bool lease_copy(const struct famfs_lease *src,
		       const struct famfs_cache_ops *ops, struct famfs_lease *ret)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	ops->invalidate(src, sizeof(*src));
	ops->rfence();
	memcpy(ret, src, sizeof(*ret));
	famfs_guard_end(&g);
	return true;
}

int famfs_lease_read(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_lease_info *ret)
{
	static const struct famfs_lease zero;
	struct famfs_lease copy, *l = &copy;

	memset(ret, 0, sizeof(*ret));
	/* A lease line that faults (poisoned, truncated) cannot be read. */
	if (!lease_copy((const void *)(base + FAMFS_LEASE_OFFSET), ops, &copy))
		return -EIO;
	if (memcmp(l, &zero, sizeof(zero)) == 0)
		return -ENOENT;
	if (le32toh(l->crc) != famfs_crc_struct(l, sizeof(*l)))
		return -EUCLEAN;
	ret->epoch = le64toh(l->epoch);
	ret->acquired_ns = le64toh(l->acquired_ns);
	ret->renewed_ns = le64toh(l->renewed_ns);
	ret->lease_ns = le64toh(l->lease_ns);
	ret->pid = le32toh(l->pid);
	ret->released = le32toh(l->released) != 0;
	memcpy(ret->host, l->host, FAMFS_HOST_MAX);
	ret->host[FAMFS_HOST_MAX] = '\0';
	memcpy(ret->holder_uuid, l->holder_uuid, 16);
	return 0;
}

void famfs_lease_write(uint8_t *base, const struct famfs_cache_ops *ops,
		       const struct famfs_lease_info *in)
{
	struct famfs_lease *l = (void *)(base + FAMFS_LEASE_OFFSET);
	struct famfs_guard g;
	struct famfs_lease tmp = {
		.epoch = htole64(in->epoch),
		.acquired_ns = htole64(in->acquired_ns),
		.renewed_ns = htole64(in->renewed_ns),
		.lease_ns = htole64(in->lease_ns),
		.pid = htole32(in->pid),
		.released = htole32(in->released ? 1 : 0),
	};

	memcpy(tmp.host, in->host, strnlen(in->host, FAMFS_HOST_MAX));
	memcpy(tmp.holder_uuid, in->holder_uuid, 16);
	tmp.crc = htole32(famfs_crc_struct(&tmp, sizeof(tmp)));
	/*
	 * Under a guard: a line that faults loses the write, and the next
	 * famfs_lease_read() says -EIO.
	 */
	if (!famfs_guard_begin(&g))
		return;
	memcpy(l, &tmp, sizeof(tmp));
	/* Lease update: visible to other hosts before we act as master. */
	ops->flush(l, sizeof(*l));
	ops->wfence();
	famfs_guard_end(&g);
}

bool famfs_lease_live(const struct famfs_lease_info *l, uint64_t now_ns)
{
	if (!l->epoch || l->released)
		return false;
	return now_ns < l->renewed_ns || now_ns - l->renewed_ns < l->lease_ns;
}

/*
 * What a live master or standby rewrites: the lease area and every
 * election slot (docs/failover.md), as the pool holds them now.
 */
struct lease_snapshot {
	struct famfs_lease lease;
	uint8_t elect[FAMFS_ELECT_SLOTS * FAMFS_ELECT_SLOT_SIZE];
};

/* False if the lines fault. */
static bool snapshot(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct lease_snapshot *ret)
{
	const uint8_t *slots = base + FAMFS_ELECT_OFFSET;
	struct famfs_guard g;

	if (!lease_copy((const void *)(base + FAMFS_LEASE_OFFSET), ops, &ret->lease))
		return false;
	if (!famfs_guard_begin(&g))
		return false;
	ops->invalidate(slots, sizeof(ret->elect));
	ops->rfence();
	memcpy(ret->elect, slots, sizeof(ret->elect));
	famfs_guard_end(&g);
	return true;
}

int famfs_lease_watch(const uint8_t *base, const struct famfs_cache_ops *ops,
		      unsigned int wait_ms, unsigned int poll_ms)
{
	struct timespec step = {
		.tv_sec = poll_ms / 1000, .tv_nsec = (long)(poll_ms % 1000) * 1000000L,
	};
	struct lease_snapshot *first, *now;
	unsigned int waited = 0;
	int r = 0;

	if (!poll_ms)
		return -EINVAL;
	first = malloc(sizeof(*first));
	now = malloc(sizeof(*now));
	if (!first || !now) {
		r = -ENOMEM;
		goto out;
	}
	if (!snapshot(base, ops, first)) {
		r = -EIO;
		goto out;
	}
	while (waited < wait_ms) {
		nanosleep(&step, NULL);
		waited += poll_ms;
		if (!snapshot(base, ops, now)) {
			r = -EIO;
			break;
		}
		if (memcmp(first, now, sizeof(*now)) != 0) {
			r = 1;
			break;
		}
	}
out:
	free(first);
	free(now);
	return r;
}
