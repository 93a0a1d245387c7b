// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"
#include "pooldev.h"
#include "probe.h"

/* The bytes that hold both superblock copies. */
#define SB_AREA	(FAMFS_SB_B_OFFSET + FAMFS_SB_SLOT)

/* Probing reads what another host wrote: drop stale lines if we can. */
static const struct famfs_cache_ops *probe_ops(void)
{
	const struct famfs_cache_ops *o = famfs_cache_ops_get(FAMFS_COH_AUTO);

	return o ? o : famfs_cache_ops_get(FAMFS_COH_NONE);
}

static int probe_mapped(const char *path, uint64_t offset,
			struct famfs_pool_info *ret)
{
	struct famfs_pooldev *dev = NULL;
	int r = famfs_pooldev_open(path, offset, 0, &dev);

	if (r < 0)
		return r;
	r = famfs_sb_load(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
			  probe_ops(), ret, NULL);
	famfs_pooldev_close(dev);
	return r;
}

static int probe_block(const char *path, uint64_t offset,
		       struct famfs_pool_info *ret)
{
	uint64_t size;
	void *buf = NULL;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
		r = -errno;
		goto out;
	}
	/* O_DIRECT wants aligned offsets, and a pool needs both copies. */
	if (offset > size || size - offset < SB_AREA || offset % 4096) {
		r = -ENODEV;
		goto out;
	}
	r = posix_memalign(&buf, 4096, SB_AREA);
	if (r) {
		r = -r;
		buf = NULL;
		goto out;
	}
	n = pread(fd, buf, SB_AREA, (off_t)offset);
	if (n != (ssize_t)SB_AREA) {
		r = n < 0 ? -errno : -EIO;
		goto out;
	}
	/* Only the two copies were read; the geometry checks use the size. */
	r = famfs_sb_load(buf, size - offset, probe_ops(), ret, NULL);
out:
	free(buf);
	close(fd);
	return r;
}

int famfs_sb_probe(const char *path, uint64_t offset,
		   struct famfs_pool_info *ret)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return probe_block(path, offset, ret);
	if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))
		return probe_mapped(path, offset, ret);
	return -ENODEV;
}

int famfs_parse_size(const char *s, uint64_t *ret)
{
	static const struct { const char *suffix; unsigned int shift; } units[] = {
		{ "", 0 }, { "k", 10 }, { "kib", 10 }, { "m", 20 }, { "mib", 20 },
		{ "g", 30 }, { "gib", 30 }, { "t", 40 }, { "tib", 40 },
	};
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].suffix) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift))
			return -ERANGE;
		*ret = (uint64_t)v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}
