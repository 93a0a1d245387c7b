/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pool device access: one small interface over a regular file (sparse, any
 * size: the embedded default for demos and tests) and a character dax device
 * (/dev/daxX.Y, size read from sysfs), each with an optional byte offset.
 * The whole range is mapped MAP_SHARED once; callers address it by offset.
 */
#ifndef FAMFSD_POOLDEV_H
#define FAMFSD_POOLDEV_H

#include <stdbool.h>
#include <stdint.h>

struct famfs_pooldev;

enum famfs_pooldev_kind {
	FAMFS_DEV_FILE,
	FAMFS_DEV_DAX,
};

#define FAMFS_DEV_WRITE		0x1u	/* map read-write, not read-only */

/*
 * Opens path and maps [offset, end of device). Returns 0 or -errno:
 * -ENOENT, -EACCES, -ENODEV (not a file or dax device), -EINVAL (offset
 * past the end or misaligned for the device).
 */
int famfs_pooldev_open(const char *path, uint64_t offset, unsigned int flags,
		       struct famfs_pooldev **ret);
void famfs_pooldev_close(struct famfs_pooldev *dev);

/* Creates (or extends) a sparse regular file of size bytes. */
int famfs_pooldev_create_file(const char *path, uint64_t size);

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
