/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Superblock: geometry planning at mkfs, encode/decode with CRC32C, and the
 * two-copy load that survives one torn or corrupt copy.
 */
#ifndef FAMFSD_SUPER_H
#define FAMFSD_SUPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "famfsd_format.h"

/* The superblock in host byte order. */
struct famfs_pool_info {
	uint32_t version;
	uint32_t flags;
	uint8_t pool_uuid[16];
	uint8_t device_uuid[16];
	uint64_t device_size;
	uint64_t alloc_unit;
	uint64_t log_offset;
	uint64_t log_size;
	uint64_t data_offset;
	uint64_t log_generation;
	uint64_t created_ns;
	uint64_t sb_seq;
};

/* What the load found in each copy; reason is NULL for a good copy. */
struct famfs_sb_status {
	const char *reason[2];		/* copy A, copy B */
	int used;			/* 0 = A, 1 = B */
};

/*
 * Fills info with the layout for a device of dev_size bytes. alloc_unit and
 * log_size 0 mean the defaults. -EINVAL for a bad unit or log size, -ENOSPC
 * when the device is too small (*ret_min_size then holds the minimum).
 */
int famfs_sb_plan(uint64_t dev_size, uint64_t alloc_unit, uint64_t log_size,
		  struct famfs_pool_info *info, uint64_t *ret_min_size);

void famfs_sb_encode(const struct famfs_pool_info *info, struct famfs_sb *sb);

/*
 * Decodes and checks one copy against a device of dev_size bytes. Returns 0,
 * or -EUCLEAN with *reason naming the first failed check.
 */
int famfs_sb_decode(const struct famfs_sb *sb, uint64_t dev_size,
		    struct famfs_pool_info *info, const char **reason);

/*
 * Reads both copies from the pool at base (invalidating first) and returns
 * the good one with the higher sb_seq (*ret_status says what each copy held,
 * also on failure). -EUCLEAN when neither is good,
 * -ENODEV when neither even has the magic (no pool here).
 */
int famfs_sb_load(const uint8_t *base, uint64_t dev_size,
		  const struct famfs_cache_ops *ops,
		  struct famfs_pool_info *ret_info,
		  struct famfs_sb_status *ret_status);

/*
 * What differs between the superblock a process works with (known) and the
 * one the pool holds now, in the order a reader should hear of it: the
 * first field that does not match, FAMFS_SB_SAME when none. A new pool
 * UUID or creation time is another pool (formatted anew); the geometry
 * fields mean the log or the data area moved under the process. The log
 * generation counts only with FAMFS_SB_CMP_GENERATION (the master, the
 * only one that advances it); readers, who follow compactions, pass 0 and
 * hear only of a generation that went back (a restored pool).
 */
enum famfs_sb_field {
	FAMFS_SB_SAME = 0,
	FAMFS_SB_POOL_UUID,
	FAMFS_SB_CREATED,
	FAMFS_SB_VERSION,
	FAMFS_SB_DEVICE_UUID,
	FAMFS_SB_DEVICE_SIZE,
	FAMFS_SB_ALLOC_UNIT,
	FAMFS_SB_LOG_OFFSET,
	FAMFS_SB_LOG_SIZE,
	FAMFS_SB_DATA_OFFSET,
	FAMFS_SB_FLAGS,
	FAMFS_SB_GENERATION,
};

#define FAMFS_SB_CMP_GENERATION	0x1u	/* the generation must be equal */

enum famfs_sb_field famfs_sb_compare(const struct famfs_pool_info *known,
				     const struct famfs_pool_info *now,
				     unsigned int flags);

/* "pool UUID", "log size", ...; "nothing" for FAMFS_SB_SAME. */
const char *famfs_sb_field_name(enum famfs_sb_field f);

/*
 * One line saying what changed, "pool UUID 0a1b... -> 9f8e..." or "log
 * size 1048576 -> 16777216", into buf (always NUL terminated).
 */
void famfs_sb_describe(enum famfs_sb_field f, const struct famfs_pool_info *known,
		       const struct famfs_pool_info *now, char *buf, size_t size);

/*
 * Writes copy A, flush, fence, then copy B, flush, fence. A copy whose
 * lines fault (lib/guard.h) is skipped; -EIO when both do (nothing new is
 * in the pool then), else 0.
 */
int famfs_sb_write(uint8_t *base, const struct famfs_pool_info *info,
		   const struct famfs_cache_ops *ops);

#endif
