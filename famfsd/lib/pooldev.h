/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pool device access: one small interface over a regular file (sparse, any
 * size: the embedded default for demos and tests), a character dax device
 * (/dev/daxX.Y, size read from sysfs) and, for the offline tools only, a
 * pmem block device; each with an optional byte offset. The whole range is
 * mapped MAP_SHARED once; callers address it by offset.
 *
 * A block device is mapped through this host's page cache, which no other
 * host sees and which a DAX mount of the same device bypasses: so only
 * callers that pass FAMFS_DEV_BLOCK_OK get one (famfsctl's offline
 * commands), it is opened exclusively (not while mounted), its stale cached
 * pages are dropped at open, and famfs_pooldev_sync() writes it back.
 */
#ifndef FAMFSD_POOLDEV_H
#define FAMFSD_POOLDEV_H

#include <stdbool.h>
#include <stdint.h>

struct famfs_pooldev;

enum famfs_pooldev_kind {
	FAMFS_DEV_FILE,
	FAMFS_DEV_DAX,
	FAMFS_DEV_BLOCK,
};

#define FAMFS_DEV_WRITE		0x1u	/* map read-write, not read-only */
#define FAMFS_DEV_BLOCK_OK	0x2u	/* a block device may be opened */

/*
 * Opens path and maps [offset, end of device). Returns 0 or -errno:
 * -ENOENT, -EACCES, -ENODEV (not a file, dax or block device), -EINVAL
 * (offset past the end or misaligned for the device), -EMEDIUMTYPE (a block
 * device without FAMFS_DEV_BLOCK_OK), -EBUSY (a block device in use).
 */
int famfs_pooldev_open(const char *path, uint64_t offset, unsigned int flags,
		       struct famfs_pooldev **ret);
/*
 * Writes what was stored through the mapping back to the device and waits
 * for it (msync, fsync): needed for a block device, harmless for a file,
 * nothing to do for dax. Returns 0 or -errno.
 */
int famfs_pooldev_sync(struct famfs_pooldev *dev);
/* Closes; a writable block device is synced first (errors are lost: call
 * famfs_pooldev_sync() to see them). */
void famfs_pooldev_close(struct famfs_pooldev *dev);
/* A sentence for an error of famfs_pooldev_open(), for users. */
const char *famfs_pooldev_strerror(int err);

/* Creates (or extends) a sparse regular file of size bytes. */
int famfs_pooldev_create_file(const char *path, uint64_t size);

/*
 * The device's size now, from the offset on (0 when it shrank below it):
 * fstat for a file, BLKGETSIZE64 for a block device, sysfs for devdax.
 * The mapping keeps its size; bytes past the new end fault on access.
 */
int famfs_pooldev_current_size(const struct famfs_pooldev *dev,
			       uint64_t *ret_size);

/*
 * Faults in the mapping are reported (lib/guard.h) as offsets from the
 * device start unless told the pool offset of the mapping's first byte.
 */
void famfs_pooldev_set_origin(struct famfs_pooldev *dev, uint64_t pool_off);

uint8_t *famfs_pooldev_base(const struct famfs_pooldev *dev);
uint64_t famfs_pooldev_size(const struct famfs_pooldev *dev);
enum famfs_pooldev_kind famfs_pooldev_kind(const struct famfs_pooldev *dev);
const char *famfs_pooldev_path(const struct famfs_pooldev *dev);
bool famfs_pooldev_writable(const struct famfs_pooldev *dev);
int famfs_pooldev_fd(const struct famfs_pooldev *dev);

static inline void famfs_pooldev_closep(struct famfs_pooldev **dev)
{
	famfs_pooldev_close(*dev);
}

#endif
