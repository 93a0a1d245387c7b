/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsck: checks a pool image without changing it. Both superblocks, the log
 * header, the tail, then every record in order through the replay engine
 * (framing, CRC, sequence, epochs, names, parents, extents inside the data
 * area and never overlapping). It stops at the first bad record and names
 * its index. Works on any bytes: the fuzz target feeds it garbage.
 */
#ifndef FAMFSD_FSCK_H
#define FAMFSD_FSCK_H

#include <stdint.h>

#include "cache.h"
#include "log.h"
#include "state.h"
#include "super.h"

enum famfs_fsck_where {
	FAMFS_FSCK_OK = 0,
	FAMFS_FSCK_SUPERBLOCK,		/* neither copy usable */
	FAMFS_FSCK_LOG_HEADER,
	FAMFS_FSCK_TAIL,
	FAMFS_FSCK_RECORD,		/* framing, CRC or sequence */
	FAMFS_FSCK_SEMANTIC,		/* a record that breaks a rule */
	FAMFS_FSCK_NOMEM,
};

struct famfs_fsck_report {
	struct famfs_pool_info info;
	struct famfs_sb_status sb;	/* a torn copy shows here */
	const char *tail_slot[FAMFS_LOG_TAIL_SLOTS];	/* torn tail slots */
	const char *lease;		/* a corrupt lease area shows here */
	uint64_t records;		/* good records read */
	uint64_t tail_seq, log_used;
	uint64_t files, dirs, tenants, used_bytes, pending_bytes;
	enum famfs_fsck_where where;
	uint64_t bad_seq;		/* the failing record's index */
	uint64_t bad_offset;		/* its byte offset in the record area */
	const char *reason;
};

/*
 * Returns 0 when the image is clean, -EUCLEAN when not, -ENODEV when it
 * holds no pool, -ENOMEM. Damage that the reader survives still counts as
 * a finding with a 0 return: a torn superblock copy (report.sb), a torn
 * tail slot (report.tail_slot: the previous tail was used, so the newest
 * publish may be missing), a corrupt lease area (report.lease).
 */
int famfs_fsck(const uint8_t *base, uint64_t size,
	       const struct famfs_cache_ops *ops,
	       struct famfs_fsck_report *report);

const char *famfs_fsck_where_name(enum famfs_fsck_where w);

#endif
