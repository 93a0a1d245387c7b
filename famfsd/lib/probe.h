/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Probing a device for a pool without opening it as one: which pool (if
 * any) a file, dax device or pmem block device holds. Used to find a pool
 * by UUID and to list what each device holds.
 */
#ifndef FAMFSD_PROBE_H
#define FAMFSD_PROBE_H

#include <stdint.h>

#include "super.h"

/*
 * Reads the superblock of the pool starting offset bytes into path. Regular
 * files and dax devices are mapped read-only (a dax device cannot be
 * read(2)); a block device is read with O_DIRECT, so this host's page
 * cache cannot answer with a superblock from before another host formatted
 * it anew. Returns 0, -ENODEV (nothing that can hold a pool, or no pool),
 * -EUCLEAN (both copies bad), or another -errno from opening it.
 */
int famfs_sb_probe(const char *path, uint64_t offset,
		   struct famfs_pool_info *ret);

/*
 * "4096", "64M", "2MiB", "1g": a byte count, decimal, with an optional
 * K/M/G/T suffix (powers of 1024, "iB" optional, any case). -EINVAL for
 * anything else, -ERANGE when it does not fit 64 bits.
 */
int famfs_parse_size(const char *s, uint64_t *ret);

#endif
