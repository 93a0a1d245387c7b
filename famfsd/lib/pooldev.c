// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "guard.h"
#include "pooldev.h"

struct famfs_pooldev {
	char *path;
	int fd;
	enum famfs_pooldev_kind kind;
	bool writable;
	uint64_t offset;	/* where the pool starts in the device */
	uint64_t size;		/* bytes mapped, from offset to the end */
	uint8_t *map;		/* mapping of [map_off, offset + size) */
	uint64_t map_off;	/* offset rounded down to the map alignment */
};

/* Reads one unsigned decimal or hex number from a sysfs attribute. */
static int sysfs_read_u64(const char *path, uint64_t *ret)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	errno = 0;
	*ret = strtoull(buf, NULL, 0);
	return errno ? -errno : 0;
}

/* Size and mapping alignment of a character dax device, from sysfs. */
static int dax_geometry(dev_t rdev, uint64_t *ret_size, uint64_t *ret_align)
{
	char path[128];
	uint64_t size, align = 2u << 20;
	int r;

	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/size",
		 major(rdev), minor(rdev));
	r = sysfs_read_u64(path, &size);
	if (r < 0)
		return r == -ENOENT ? -ENODEV : r;
	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/align",
		 major(rdev), minor(rdev));
	(void)sysfs_read_u64(path, &align);	/* older kernels: 2 MiB */
	*ret_size = size;
	*ret_align = align ? align : 4096;
	return 0;
}

int famfs_pooldev_create_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	close(fd);
	return r;
}

static int geometry(struct famfs_pooldev *dev, uint64_t *ret_total,
		    uint64_t *ret_align)
{
	struct stat st;

	if (fstat(dev->fd, &st) < 0)
		return -errno;
	if (S_ISREG(st.st_mode)) {
		dev->kind = FAMFS_DEV_FILE;
		*ret_total = (uint64_t)st.st_size;
		*ret_align = (uint64_t)sysconf(_SC_PAGESIZE);
		return 0;
	}
	if (S_ISCHR(st.st_mode)) {
		dev->kind = FAMFS_DEV_DAX;
		return dax_geometry(st.st_rdev, ret_total, ret_align);
	}
	if (S_ISBLK(st.st_mode)) {
		dev->kind = FAMFS_DEV_BLOCK;
		*ret_align = (uint64_t)sysconf(_SC_PAGESIZE);
		return ioctl(dev->fd, BLKGETSIZE64, ret_total) < 0 ? -errno : 0;
	}
	return -ENODEV;
}

/*
 * A block device, for the offline tools: opened exclusively (a mounted
 * device answers EBUSY, as for mkfs.ext4), and with the pages this host's
 * page cache may still hold from before a DAX mount wrote the device
 * dropped, so the mapping shows what is on the device.
 */
static int open_block(struct famfs_pooldev *dev, unsigned int flags)
{
	int fd;

	if (!(flags & FAMFS_DEV_BLOCK_OK))
		return -EMEDIUMTYPE;
	fd = open(dev->path, (dev->writable ? O_RDWR : O_RDONLY) | O_EXCL |
		  O_CLOEXEC);
	if (fd < 0)
		return -errno;
	close(dev->fd);
	dev->fd = fd;
	if (ioctl(dev->fd, BLKFLSBUF, 0) < 0)
		return -errno;
	return 0;
}

const char *famfs_pooldev_strerror(int err)
{
	switch (err) {
	case -ENODEV:
		return "not a regular file, dax device or block device";
	case -EMEDIUMTYPE:
		return "a block device: its page cache is this host's alone, "
		       "so a pool served from it would not be shared; mount it "
		       "with the kernel module (famfsd agent --backend kmod) and "
		       "use MOUNT/.famfsd/pool";
	case -EBUSY:
		return "the device is in use (mounted?); offline commands need "
		       "it unmounted, a mounted pool is MOUNT/.famfsd/pool";
	case -EINVAL:
		return "the offset is past the end or not aligned for the device";
	default:
		return strerror(-err);
	}
}

int famfs_pooldev_open(const char *path, uint64_t offset, unsigned int flags,
		       struct famfs_pooldev **ret)
{
	struct famfs_pooldev *dev;
	uint64_t total = 0, align = 4096;
	int prot = PROT_READ, r;

	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fd = -1;
	dev->writable = flags & FAMFS_DEV_WRITE;
	dev->path = strdup(path);
	if (!dev->path) {
		r = -ENOMEM;
		goto fail;
	}
	dev->fd = open(path, (dev->writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (dev->fd < 0) {
		r = -errno;
		goto fail;
	}
	r = geometry(dev, &total, &align);
	if (r == 0 && dev->kind == FAMFS_DEV_BLOCK)
		r = open_block(dev, flags);
	if (r < 0)
		goto fail;
	if (offset >= total) {
		r = -EINVAL;
		goto fail;
	}
	/* devdax maps only at its alignment: the offset must honour it. */
	if (dev->kind == FAMFS_DEV_DAX && offset % align) {
		r = -EINVAL;
		goto fail;
	}
	dev->offset = offset;
	dev->size = total - offset;
	dev->map_off = offset - offset % align;
	if (dev->writable)
		prot |= PROT_WRITE;
	dev->map = mmap(NULL, total - dev->map_off, prot, MAP_SHARED, dev->fd,
			(off_t)dev->map_off);
	if (dev->map == MAP_FAILED) {
		dev->map = NULL;
		r = -errno;
		goto fail;
	}
	/*
	 * Every pool access may fault (a truncated file, poisoned memory):
	 * the guard must know the mapping to answer that fault. Without a
	 * slot the pool still works, unguarded.
	 */
	(void)famfs_guard_register(famfs_pooldev_base(dev), dev->size, offset);
	*ret = dev;
	return 0;
fail:
	famfs_pooldev_close(dev);
	return r;
}

int famfs_pooldev_sync(struct famfs_pooldev *dev)
{
	if (!dev->writable || dev->kind == FAMFS_DEV_DAX)
		return 0;
	if (msync(dev->map, dev->offset + dev->size - dev->map_off, MS_SYNC) < 0 ||
	    fsync(dev->fd) < 0)
		return -errno;
	return 0;
}

void famfs_pooldev_close(struct famfs_pooldev *dev)
{
	if (!dev)
		return;
	if (dev->map && dev->kind == FAMFS_DEV_BLOCK)
		(void)famfs_pooldev_sync(dev);
	if (dev->map) {
		famfs_guard_unregister(famfs_pooldev_base(dev));
		munmap(dev->map, dev->offset + dev->size - dev->map_off);
	}
	if (dev->fd >= 0)
		close(dev->fd);
	free(dev->path);
	free(dev);
}

int famfs_pooldev_current_size(const struct famfs_pooldev *dev,
			       uint64_t *ret_size)
{
	struct famfs_pooldev probe = { .fd = dev->fd };
	uint64_t total = 0, align;
	int r = geometry(&probe, &total, &align);

	if (r < 0)
		return r;
	*ret_size = total > dev->offset ? total - dev->offset : 0;
	return 0;
}

void famfs_pooldev_set_origin(struct famfs_pooldev *dev, uint64_t pool_off)
{
	famfs_guard_set_origin(famfs_pooldev_base(dev), pool_off);
}

uint8_t *famfs_pooldev_base(const struct famfs_pooldev *dev)
{
	return dev->map + (dev->offset - dev->map_off);
}

uint64_t famfs_pooldev_size(const struct famfs_pooldev *dev)
{
	return dev->size;
}

enum famfs_pooldev_kind famfs_pooldev_kind(const struct famfs_pooldev *dev)
{
	return dev->kind;
}

const char *famfs_pooldev_path(const struct famfs_pooldev *dev)
{
	return dev->path;
}

bool famfs_pooldev_writable(const struct famfs_pooldev *dev)
{
	return dev->writable;
}

int famfs_pooldev_fd(const struct famfs_pooldev *dev)
{
	return dev->fd;
}
