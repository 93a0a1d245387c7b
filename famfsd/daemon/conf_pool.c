// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A pool named by its UUID: every path the devices= globs match is asked
 * for its superblock (famfs_sb_load), and the one carrying the UUID is the
 * pool. Files and dax devices are mapped read-only (a dax device cannot be
 * read(2)); a pmem block device (the kernel module's back-end) is read
 * with O_DIRECT, so its page cache cannot answer with a superblock this
 * host saw before another host formatted the pool anew.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "cache.h"
#include "conf.h"
#include "pooldev.h"
#include "super.h"

#define SB_AREA	(FAMFS_SB_B_OFFSET + FAMFS_SB_SLOT)

static const struct famfs_cache_ops *ops(void)
{
	const struct famfs_cache_ops *o = famfs_cache_ops_get(FAMFS_COH_AUTO);

	return o ? o : famfs_cache_ops_get(FAMFS_COH_NONE);
}

static int uuid_mapped(const char *path, uint64_t offset, uint8_t ret[16])
{
	struct famfs_pooldev *dev = NULL;
	struct famfs_pool_info info;
	int r;

	r = famfs_pooldev_open(path, offset, 0, &dev);
	if (r < 0)
		return r;
	r = famfs_sb_load(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
			  ops(), &info, NULL);
	famfs_pooldev_close(dev);
	if (r == 0)
		memcpy(ret, info.pool_uuid, 16);
	return r;
}

static int uuid_block(const char *path, uint64_t offset, uint8_t ret[16])
{
	struct famfs_pool_info info;
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
	/* Only the two copies are read; the size is the device's. */
	r = famfs_sb_load(buf, size - offset, ops(), &info, NULL);
	if (r == 0)
		memcpy(ret, info.pool_uuid, 16);
out:
	free(buf);
	close(fd);
	return r;
}

int conf_pool_uuid(const char *path, uint64_t offset, uint8_t ret_uuid[16])
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return uuid_block(path, offset, ret_uuid);
	if (S_ISREG(st.st_mode) || S_ISCHR(st.st_mode))
		return uuid_mapped(path, offset, ret_uuid);
	return -ENODEV;
}

int conf_pool_find(const char *globs, uint64_t offset, const uint8_t uuid[16],
		   FILE *err, char **ret_path)
{
	char *copy = strdup(globs), *save = NULL, *pat, *found = NULL;
	glob_t g = { 0 };
	char want[37];
	unsigned int seen = 0, matches = 0;
	int flags = 0, r = 0;

	if (!copy)
		return -ENOMEM;
	for (pat = strtok_r(copy, " \t", &save); pat;
	     pat = strtok_r(NULL, " \t", &save)) {
		r = glob(pat, flags, NULL, &g);
		if (r == GLOB_NOSPACE) {
			r = -ENOMEM;
			goto out;
		}
		if (r == 0)
			flags = GLOB_APPEND;
	}
	r = 0;
	uuid_unparse_lower(uuid, want);
	for (size_t i = 0; flags && i < g.gl_pathc; i++) {
		const char *p = g.gl_pathv[i];
		uint8_t u[16];

		seen++;
		if (conf_pool_uuid(p, offset, u) < 0 || memcmp(u, uuid, 16) != 0)
			continue;
		if (found && !strcmp(found, p))
			continue;	/* matched by two patterns */
		if (++matches == 1) {
			found = strdup(p);
			if (!found) {
				r = -ENOMEM;
				goto out;
			}
		} else {
			if (matches == 2)
				fprintf(err, "famfsd: pool %s is on more than one device: "
					"%s", want, found);
			fprintf(err, " %s", p);
		}
	}
	if (matches > 1) {
		fprintf(err, "; name one with [pool] path\n");
		r = -ENOTUNIQ;
	} else if (!matches) {
		fprintf(err, "famfsd: pool %s not found on any of the %u device(s) "
			"matching '%s'%s\n", want, seen, globs,
			seen ? "" : " (no such devices: check [pool] devices)");
		r = -ENOENT;
	} else {
		*ret_path = found;
		found = NULL;
	}
out:
	globfree(&g);		/* safe after a failed glob() too */
	free(found);
	free(copy);
	return r;
}
