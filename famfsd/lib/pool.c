// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "pool.h"
#include "roster.h"

int famfs_pool_open(const char *path, const struct famfs_pool_open_opts *o,
		    struct famfs_pool **ret, const char **reason)
{
	struct famfs_log_error lerr;
	struct famfs_pool *pool;
	int r;

	*reason = NULL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return -ENOMEM;
	pool->ops = famfs_cache_ops_get(o->coherence);
	if (!pool->ops) {
		*reason = "this CPU lacks the requested cache flush instruction";
		r = -EOPNOTSUPP;
		goto fail;
	}
	r = famfs_pooldev_open(path, o->offset, o->dev_flags, &pool->dev);
	if (r < 0) {
		*reason = famfs_pooldev_strerror(r);
		goto fail;
	}
	famfs_pooldev_set_origin(pool->dev, 0);
	pool->base = famfs_pooldev_base(pool->dev);
	pool->size = famfs_pooldev_size(pool->dev);
	r = famfs_sb_load(pool->base, pool->size, pool->ops, &pool->info,
			  &pool->sb_status);
	if (r < 0) {
		*reason = r == -ENODEV ? "no famfsd superblock found" :
			  pool->sb_status.reason[0];
		goto fail;
	}
	r = famfs_log_open(famfs_pool_log_base(pool), pool->info.log_size,
			   pool->info.log_generation, pool->ops, &pool->log,
			   &lerr);
	if (r < 0) {
		*reason = lerr.reason;
		goto fail;
	}
	*ret = pool;
	return 0;
fail:
	famfs_pool_close(pool);
	return r;
}

void famfs_pool_close(struct famfs_pool *pool)
{
	if (!pool)
		return;
	famfs_log_free(pool->log);
	famfs_pooldev_close(pool->dev);
	free(pool);
}

/* mkfs: zeroes [off, off + len), flushed (the caller fences). */
static void pool_zero(uint8_t *base, const struct famfs_cache_ops *ops,
		      uint64_t off, uint64_t len)
{
	memset(base + off, 0, len);
	ops->flush(base + off, len);
}

int famfs_pool_format(struct famfs_pooldev *dev, const struct famfs_cache_ops *ops,
		      const struct famfs_mkfs_opts *o,
		      struct famfs_pool_info *info, uint64_t *min_size)
{
	uint8_t *base = famfs_pooldev_base(dev);
	struct timespec ts;
	int r;

	r = famfs_sb_plan(famfs_pooldev_size(dev), o->alloc_unit, o->log_size,
			  info, min_size);
	if (r < 0)
		return r;
	info->flags = o->flags;
	uuid_generate(info->pool_uuid);
	/*
	 * Not common/clock.h: the library stands below famfsd's folders and
	 * builds without them (scripts/fuzz.sh).
	 */
	clock_gettime(CLOCK_REALTIME, &ts);
	info->created_ns = (uint64_t)ts.tv_sec * 1000000000ull +
			   (uint64_t)ts.tv_nsec;

	/*
	 * mkfs order: invalidate the old superblocks first, so a crash half
	 * way leaves "no pool" rather than an old superblock over a new log.
	 */
	memset(base, 0, FAMFS_LEASE_OFFSET + FAMFS_SB_SLOT);
	ops->flush(base, FAMFS_LEASE_OFFSET + FAMFS_SB_SLOT);
	ops->wfence();
	/*
	 * No election slot or roster entry of an old pool survives into the
	 * new one: an old master's ACTIVE slot would be taken for a live
	 * master, an old roster for agents that hold space.
	 */
	pool_zero(base, ops, FAMFS_ELECT_OFFSET,
		  FAMFS_ELECT_SLOTS * FAMFS_ELECT_SLOT_SIZE);
	famfs_roster_clear(base, ops);	/* both copies, then a fence */
	famfs_log_format(base + info->log_offset, info->log_size,
			 info->log_generation, ops);
	famfs_sb_write(base, info, ops);
	return 0;
}
