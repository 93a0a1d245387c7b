/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metadata log: append-only records in the pool, published through a
 * separate tail record.
 *
 * Publish protocol (writer, the master only):
 *   P1 write the record bytes past the published end;
 *   P2 flush exactly the cache lines of the record;
 *   P3 fence (the record is in the pool before the tail names it);
 *   P4 write the other tail slot: sequence, end offset, CRC;
 *   P5 flush the tail slot's line;
 *   P6 fence (the tail is in the pool before the client hears "done").
 * Several records may share one publish (P1-P2 per record, P3-P6 once).
 *
 * Read protocol (every agent and tool):
 *   R1 invalidate both tail slots, fence, take the valid one with the
 *      higher sequence;
 *   R2 never read past its end; invalidate record lines before reading;
 *   R3 verify framing, CRC and sequence; on a mismatch invalidate and retry
 *      a few times, then report corruption at the exact record.
 */
#ifndef FAMFSD_LOG_H
#define FAMFSD_LOG_H

#include <stdint.h>

#include "cache.h"
#include "famfsd_format.h"

struct famfs_log;

/* A position in the log: the last record consumed and where the next starts. */
struct famfs_log_pos {
	uint64_t seq;		/* sequence of the last record before end */
	uint64_t end;		/* byte offset in the record area */
	uint64_t epoch;		/* epoch of the master that published it */
};

/* Where and why reading failed: record seq at byte offset off. */
struct famfs_log_error {
	uint64_t seq;
	uint64_t offset;
	const char *reason;
};

#define FAMFS_LOG_READ_RETRIES	3

/* Writes an empty log (header and both tail slots) at mkfs or compaction. */
void famfs_log_format(uint8_t *log_base, uint64_t log_size,
		      uint64_t generation, const struct famfs_cache_ops *ops);

/*
 * Attaches to the log region [log_base, log_base + log_size). -EUCLEAN
 * with *err set when the header is bad or belongs to another generation.
 */
int famfs_log_open(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		   const struct famfs_cache_ops *ops, struct famfs_log **ret,
		   struct famfs_log_error *err);
void famfs_log_free(struct famfs_log *log);

/* Bytes available for records. */
uint64_t famfs_log_capacity(const struct famfs_log *log);
uint64_t famfs_log_generation(const struct famfs_log *log);

/* R1: reads the published tail. -EUCLEAN with *err on a bad tail. */
int famfs_log_read_tail(struct famfs_log *log, struct famfs_log_pos *ret,
			struct famfs_log_error *err);

/*
 * What the last famfs_log_read_tail() found in each slot: NULL for a usable
 * slot, else why not. One bad slot is survivable (the other one's tail is
 * used) but is still a finding for fsck.
 */
void famfs_log_tail_status(const struct famfs_log *log, const char *ret_why[2]);

/*
 * fsck --repair: rewrites a torn tail slot with the good slot's tail (the
 * one readers already use). Only with no master running. -EUCLEAN when no
 * slot is good.
 */
int famfs_log_repair_tail(struct famfs_log *log);

/*
 * R2-R3: reads the record after pos, which must not pass tail. Returns 1
 * with *ret_rec pointing into the pool and pos advanced, 0 when pos has
 * reached tail, -EUCLEAN with *err filled on corruption. The record stays
 * valid while the log generation is unchanged.
 */
int famfs_log_next(struct famfs_log *log, struct famfs_log_pos *pos,
		   const struct famfs_log_pos *tail,
		   const struct famfs_rec_hdr **ret_rec,
		   struct famfs_log_error *err);

/* Sets the writer's position; call once after replaying up to tail. */
void famfs_log_writer_start(struct famfs_log *log,
			    const struct famfs_log_pos *tail);

/*
 * P1-P2: appends one record of the given type whose payload (after the
 * header) is len bytes, stamped with the next sequence and epoch. Not
 * visible to readers until famfs_log_publish(). -ENOSPC when the log is
 * full, -EINVAL when the record is too large.
 */
int famfs_log_append(struct famfs_log *log, uint16_t type, uint64_t epoch,
		     const void *payload, uint32_t len, uint64_t *ret_seq);

/* P3-P6: publishes every record appended so far. */
void famfs_log_publish(struct famfs_log *log);

/* The writer's view: appended (maybe unpublished) and published positions. */
struct famfs_log_pos famfs_log_appended(const struct famfs_log *log);
struct famfs_log_pos famfs_log_published(const struct famfs_log *log);

/* Drops appended but unpublished records (an aborted batch). */
void famfs_log_discard(struct famfs_log *log);

static inline uint32_t famfs_rec_size(uint32_t payload_len)
{
	return (uint32_t)(sizeof(struct famfs_rec_hdr) + payload_len +
			  FAMFS_REC_ALIGN - 1) & ~(FAMFS_REC_ALIGN - 1);
}

#endif
