/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fsck: checks a pool image without changing it. Both superblocks, the log
 * header, the tail, then the current log generation through the replay
 * engine (its checkpoint, then every record in order: framing, CRC,
 * sequence, epochs, names, parents, extents inside the data area and never
 * overlapping), which stops at the first thing neither copy of which is
 * good and names it. Then both copies of everything of the generation on
 * their own (famfs_log_verify: area header, tail slots, checkpoint items,
 * records), each damaged copy listed with its place. Works on any bytes:
 * the fuzz target feeds it garbage. famfs_fsck_repair() mends what can be.
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
	FAMFS_FSCK_CHECKPOINT,		/* an item bad in both copies */
	FAMFS_FSCK_RECORD,		/* framing, CRC or sequence */
	FAMFS_FSCK_SEMANTIC,		/* a record that breaks a rule */
	FAMFS_FSCK_NOMEM,
};

/* One damaged copy, and what famfs_fsck_repair() did with it. */
struct famfs_fsck_damage {
	struct famfs_log_damage d;	/* d.reason: a string constant */
	uint64_t pool_offset;		/* of the damaged copy */
	int repair;			/* 0 not tried, 1 rewritten, -errno */
};

#define FAMFS_FSCK_DAMAGE_MAX	64u

struct famfs_fsck_report {
	struct famfs_pool_info info;
	struct famfs_sb_status sb;	/* a torn copy shows here */
	const char *tail_slot[FAMFS_LOG_TAIL_SLOTS];	/* torn tail slots */
	const char *lease;		/* a corrupt lease area shows here */
	uint64_t records;		/* good records read */
	uint64_t tail_seq, log_used;
	uint64_t files, dirs, tenants, used_bytes, pending_bytes;
	struct famfs_log_base base;	/* the generation's checkpoint */
	struct famfs_log_pos replayed;	/* after the last thing replayed */
	enum famfs_fsck_where where;
	uint64_t bad_seq;		/* the failing record's (item's) index */
	uint64_t bad_offset;		/* its byte offset in the area's body */
	const char *reason;
	/* Damaged copies, each once; the first FAMFS_FSCK_DAMAGE_MAX listed. */
	struct famfs_fsck_damage damage[FAMFS_FSCK_DAMAGE_MAX];
	uint64_t n_damage;
	/* famfs_fsck_repair(): */
	uint64_t repaired;		/* copies rewritten from the good one */
	bool truncated;			/* the log now ends at replayed */
};

/*
 * Returns 0 when the image is clean, -EUCLEAN when not, -ENODEV when it
 * holds no pool, -ENOMEM. Damage that the reader survives still counts as
 * a finding with a 0 return: a torn superblock copy (report.sb), a torn
 * tail slot (report.tail_slot: the previous tail was used, so the newest
 * publish may be missing), a corrupt lease area (report.lease), a copy of
 * anything in the log whose other copy is good (report.damage).
 */
int famfs_fsck(const uint8_t *base, uint64_t size,
	       const struct famfs_cache_ops *ops,
	       struct famfs_fsck_report *report);

/*
 * Records that cannot be replayed in order: a record of the generation
 * bad in both copies (or records the tail names that are not there) from
 * replayed.seq + 1 on. True with their range for a report of where ==
 * FAMFS_FSCK_RECORD; *ret_to < *ret_from when only bytes are lost.
 */
bool famfs_fsck_lost_records(const struct famfs_fsck_report *rep,
			     uint64_t *ret_from, uint64_t *ret_to);

/*
 * The number of damaged copies in the current generation (verified as
 * famfs_fsck does, without the replay): records up to tail (NULL: none).
 */
uint64_t famfs_fsck_count_damage(uint8_t *base, const struct famfs_pool_info *info,
				 const struct famfs_cache_ops *ops,
				 const struct famfs_log_pos *tail);

/*
 * With no master running, after famfs_fsck() on the same image: every
 * damaged copy whose other copy is good is rewritten from it (each
 * damage[].repair says how it went; copies beyond the listed ones are
 * found again and mended in further rounds), every tail slot from the
 * best tail; then, when records are lost (famfs_fsck_lost_records), the
 * tail of both copies is cut after the last good record (truncated).
 * The superblock and the lease are the caller's. Returns 0 when all of
 * that was done, -EUCLEAN when some damage is left (both copies of an
 * item or the header, a rewrite that did not hold), -ENOMEM.
 */
int famfs_fsck_repair(uint8_t *base, uint64_t size,
		      const struct famfs_cache_ops *ops,
		      struct famfs_fsck_report *report);

const char *famfs_fsck_where_name(enum famfs_fsck_where w);

#endif
