/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A pool: the mapped device, its superblock, its cache maintenance and its
 * log, opened together. Formatting (mkfs) lives here too.
 */
#ifndef FAMFSD_POOL_H
#define FAMFSD_POOL_H

#include <stdint.h>

#include "cache.h"
#include "log.h"
#include "pooldev.h"
#include "super.h"

struct famfs_pool {
	struct famfs_pooldev *dev;
	uint8_t *base;			/* pool offset 0 */
	uint64_t size;
	const struct famfs_cache_ops *ops;
	struct famfs_pool_info info;
	struct famfs_sb_status sb_status;
	struct famfs_log *log;
};

struct famfs_pool_open_opts {
	uint64_t offset;		/* pool start within the device */
	unsigned int dev_flags;		/* FAMFS_DEV_WRITE, _BLOCK_OK */
	enum famfs_coherence coherence;
};

/*
 * Opens and validates a pool. -ENODEV: no pool there; -EUCLEAN: both
 * superblocks or the log header are bad (*reason says which check failed).
 */
int famfs_pool_open(const char *path, const struct famfs_pool_open_opts *o,
		    struct famfs_pool **ret, const char **reason);
void famfs_pool_close(struct famfs_pool *pool);

static inline void famfs_pool_closep(struct famfs_pool **p)
{
	famfs_pool_close(*p);
}

struct famfs_mkfs_opts {
	uint64_t alloc_unit;		/* 0: default 2 MiB */
	uint64_t log_size;		/* 0: default */
	uint32_t flags;			/* FAMFS_SB_F_* */
};

/*
 * Formats the mapped device: empty log, master lease cleared, both
 * superblocks. Fills *info. -ENOSPC when too small (*min_size says how big).
 */
int famfs_pool_format(struct famfs_pooldev *dev, const struct famfs_cache_ops *ops,
		      const struct famfs_mkfs_opts *o,
		      struct famfs_pool_info *info, uint64_t *min_size);

/* The log region of a pool. */
static inline uint8_t *famfs_pool_log_base(const struct famfs_pool *pool)
{
	return pool->base + pool->info.log_offset;
}

#endif
