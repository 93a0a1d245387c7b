/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The metadata log of one generation: a checkpoint (the live state as of
 * record base_seq) and the records after it, kept in two copies (areas
 * half the log apart, byte for byte the same), published through tail
 * slots. docs/format.md gives the layout and the protocols in full.
 *
 * Publish protocol (writer, the master only):
 *   P1 write the record bytes past the published end, in both copies;
 *   P2 flush exactly the cache lines of the record, in both copies;
 *   P3 fence (the record is in the pool before the tail names it);
 *   P4 write the other tail slot of each copy: sequence, end offset, CRC;
 *   P5 flush those two lines;
 *   P6 fence (the tail is in the pool before the client hears "done").
 * Several records may share one publish (P1-P2 per record, P3-P6 once).
 *
 * Read protocol (every agent and tool):
 *   R1 invalidate the four tail slots, fence, take the valid one with the
 *      highest sequence;
 *   R2 never read past its end; invalidate record lines before reading;
 *   R3 verify framing, CRC and sequence; on a mismatch invalidate and retry
 *      a few times, then read the other copy; only when both copies are
 *      bad report corruption at the exact record. A bad copy is reported
 *      to the damage hook either way.
 *
 * A new generation is written by compaction (famfs_log_create, ckpt_add
 * for each item, ckpt_seal, then append/publish as usual) before the
 * superblock names it; see master/compact.c for the switch (C1-C7).
 */
#ifndef FAMFSD_LOG_H
#define FAMFSD_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "famfsd_format.h"

struct famfs_log;

/* A position in the log: the last record consumed and where the next starts. */
struct famfs_log_pos {
	uint64_t seq;		/* sequence of the last record before end */
	uint64_t end;		/* byte offset in the area's body */
	uint64_t epoch;		/* epoch of the master that published it */
};

/* Where and why reading failed: record seq at byte offset off. */
struct famfs_log_error {
	uint64_t seq;
	uint64_t offset;
	const char *reason;
};

/* What a generation starts from: its area header's checkpoint fields. */
struct famfs_log_base {
	uint64_t seq;		/* the checkpoint is the state after this record */
	uint64_t epoch;
	uint64_t max_ino;
	uint64_t ckpt_bytes;	/* the records start here in the body */
	uint64_t ckpt_items;
};

/* One damaged copy of something in the log, as a reader found it. */
enum famfs_log_part {
	FAMFS_LOG_PART_HEADER,		/* area header line 0 */
	FAMFS_LOG_PART_TAIL,		/* a tail slot */
	FAMFS_LOG_PART_ITEM,		/* a checkpoint item */
	FAMFS_LOG_PART_RECORD,
};

struct famfs_log_damage {
	enum famfs_log_part part;
	unsigned int copy;		/* 0 or 1: the copy that is bad */
	bool both;			/* neither copy is good: data lost */
	uint64_t seq;			/* record sequence, item index, slot */
	uint64_t offset;		/* in the area's body (header: 0) */
	uint64_t log_offset;		/* from the start of the log region */
	uint32_t len;			/* bytes to copy from the good copy */
	const char *reason;
};

typedef void (*famfs_log_damage_fn)(void *ctx, const struct famfs_log_damage *d);

/* "area header", "tail slot", "checkpoint item", "record". */
const char *famfs_log_part_name(enum famfs_log_part p);

#define FAMFS_LOG_READ_RETRIES	3

/* Bytes of one area of a log region of log_size bytes. */
static inline uint64_t famfs_log_area_size(uint64_t log_size)
{
	return log_size / FAMFS_LOG_AREAS & ~(uint64_t)(FAMFS_LOG_HDR_SIZE - 1);
}

/* Offset in the log region of copy `copy` of generation gen's area. */
static inline uint64_t famfs_log_area_offset(uint64_t log_size, uint64_t gen,
					     unsigned int copy)
{
	return famfs_log_area_size(log_size) * (copy * 2 + ((gen - 1) & 1));
}

/*
 * mkfs: writes generation `generation` as an empty log (both copies) and
 * clears the other pair's headers.
 */
void famfs_log_format(uint8_t *log_base, uint64_t log_size,
		      uint64_t generation, const struct famfs_cache_ops *ops);

/*
 * Attaches to generation `generation` of the log region [log_base,
 * log_base + log_size). -EUCLEAN with *err set when no copy of its area
 * header is good or names this generation.
 */
int famfs_log_open(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		   const struct famfs_cache_ops *ops, struct famfs_log **ret,
		   struct famfs_log_error *err);
void famfs_log_free(struct famfs_log *log);

/*
 * Readers report every damaged copy they find here (NULL: nobody). The
 * hook runs inside the read and must not call into this log.
 */
void famfs_log_set_damage_hook(struct famfs_log *log, famfs_log_damage_fn fn,
			       void *ctx);

/* Bytes of an area's body: checkpoint and records. */
uint64_t famfs_log_capacity(const struct famfs_log *log);
uint64_t famfs_log_generation(const struct famfs_log *log);
struct famfs_log_base famfs_log_base(const struct famfs_log *log);
/* The position before the first record: after the checkpoint. */
struct famfs_log_pos famfs_log_start(const struct famfs_log *log);

/*
 * The readers' epoch fence (docs/failover.md): the active master's epoch E
 * began at record start_seq S, so every record and tail slot with a
 * sequence >= S carries an epoch >= E. From now on this log's readers
 * take one that does not (the store of an old master paused between its
 * deadline check and its store) for a damaged copy: the other copy is
 * read, and when it is no better the record is reported corrupt, never
 * applied. The fence only rises: a lower epoch than the one set is
 * ignored. Call from the reader's thread, between reads.
 */
void famfs_log_set_epoch_fence(struct famfs_log *log, uint64_t epoch,
			       uint64_t start_seq);

/* R1: reads the published tail. -EUCLEAN with *err on a bad tail. */
int famfs_log_read_tail(struct famfs_log *log, struct famfs_log_pos *ret,
			struct famfs_log_error *err);

#define FAMFS_LOG_TAIL_SLOTS	(2 * FAMFS_LOG_COPIES)

/*
 * What the last famfs_log_read_tail() found in each slot (copy 0 slots 0
 * and 1, then copy 1's): NULL for a usable slot, else why not. A slot that
 * is valid but behind is fine (the other slot of its copy is the newer).
 */
void famfs_log_tail_status(const struct famfs_log *log,
			   const char *ret_why[FAMFS_LOG_TAIL_SLOTS]);

/*
 * Rewrites every bad tail slot with the tail readers use now, flushed and
 * fenced. Only by the log's writer (the master, under its lock) or with
 * no master running (fsck --repair). -EUCLEAN when no slot is good.
 */
int famfs_log_repair_tail(struct famfs_log *log);

/*
 * Writes both slots of both copies with pos, flushed, fenced. For the
 * writer, pos is its published position: the repair of any tail damage,
 * both copies of a slot included, from what the writer knows rather than
 * from what is left in the pool. With no master running (fsck --repair),
 * pos is the end of the last good record: the log is cut after it.
 */
void famfs_log_set_tail(struct famfs_log *log, const struct famfs_log_pos *pos);

/*
 * R2-R3: reads the record after pos, which must not pass tail. Returns 1
 * with *ret_rec and pos advanced, 0 when pos has reached tail, -EUCLEAN
 * with *err filled when both copies are bad. *ret_rec is the reader's
 * copy of the record (the bytes its checks passed, copied out of the pool
 * under a guard: lib/guard.h), valid until the next call on this log. A
 * copy whose lines fault (SIGBUS) is a bad copy like any other.
 */
int famfs_log_next(struct famfs_log *log, struct famfs_log_pos *pos,
		   const struct famfs_log_pos *tail,
		   const struct famfs_rec_hdr **ret_rec,
		   struct famfs_log_error *err);

/*
 * The checkpoint item after pos (start from { 0 }: pos.seq counts items,
 * pos.end is the body offset). Returns 1, 0 after the last item, or
 * -EUCLEAN with *err when both copies are bad or the items do not add up
 * to the header's count and size. *ret_item as for famfs_log_next().
 */
int famfs_log_ckpt_next(struct famfs_log *log, struct famfs_log_pos *pos,
			const struct famfs_rec_hdr **ret_item,
			struct famfs_log_error *err);

/*
 * Scrub: re-reads both copies of the next thing, each on its own, and
 * reports every bad copy to the damage hook. part HEADER: the area header
 * line; TAIL: the tail slots; ITEM: the checkpoint item after *pos (from
 * { 0 }); RECORD: the record after *pos (from famfs_log_start()), up to
 * tail. Advances *pos past an item or record. Returns the bytes examined,
 * 0 when *pos is at the end, -EUCLEAN when both copies are bad (a record
 * then has no length to step over it by).
 */
long famfs_log_verify(struct famfs_log *log, enum famfs_log_part part,
		      struct famfs_log_pos *pos, const struct famfs_log_pos *tail);

/*
 * Copies the good copy over the bad one that d names (a header line, a
 * record, an item, a tail slot), flushed and fenced, then checks it.
 * -EUCLEAN when the other copy is not good either (d->both), -EAGAIN when
 * the rewritten copy still does not verify (the line may be poisoned).
 * Only by the log's writer or with no master running.
 */
int famfs_log_repair(struct famfs_log *log, const struct famfs_log_damage *d);

/*
 * The writer's fence (docs/failover.md): fn(ctx) is asked right before each
 * store this log makes into the pool: an append's or a checkpoint item's
 * bytes (P1, C2), a publish's tail (P4), the seal (C3), a tail rewrite or
 * repair. false refuses the store: -ESHUTDOWN, and a refused publish
 * publishes nothing (famfs_log_published() does not move). Any thread may
 * answer fn; NULL: no fence.
 */
void famfs_log_set_write_guard(struct famfs_log *log, bool (*fn)(void *ctx),
			       void *ctx);

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

/*
 * The writer reads what it appended itself without invalidating (its own
 * stores are coherent for its own loads on this host): reading back a
 * record to apply it costs no R2 fence. This makes the writer's next reads
 * invalidate again, so that they see what the pool holds rather than this
 * host's caches: before a read that verifies the pool.
 */
void famfs_log_forget_own(struct famfs_log *log);

/* The writer's view: appended (maybe unpublished) and published positions. */
struct famfs_log_pos famfs_log_appended(const struct famfs_log *log);
struct famfs_log_pos famfs_log_published(const struct famfs_log *log);

/* Drops appended but unpublished records (an aborted batch). */
void famfs_log_discard(struct famfs_log *log);

/*
 * Compaction, for a generation the superblock does not name yet: a writer
 * positioned at the start of the body, in checkpoint mode.
 */
int famfs_log_create(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		     const struct famfs_cache_ops *ops, struct famfs_log **ret);

/*
 * C2: writes one checkpoint item into both copies and flushes its lines
 * (fenced once, in ckpt_seal). -ENOSPC, -EINVAL as famfs_log_append().
 */
int famfs_log_ckpt_add(struct famfs_log *log, uint16_t type, uint64_t seq,
		       uint64_t epoch, const void *payload, uint32_t len);

/*
 * C3: fences the items, writes the area header line (base, the items'
 * count and size) and both tail slots of both copies (an empty record
 * area after base->seq), flushes, fences. The writer then appends records
 * from base->seq + 1. A copy whose lines fault is a damaged header copy
 * (reported); -EIO when both do: the generation must not be switched to.
 */
int famfs_log_ckpt_seal(struct famfs_log *log, const struct famfs_log_base *base);

static inline uint32_t famfs_rec_size(uint32_t payload_len)
{
	return (uint32_t)(sizeof(struct famfs_rec_hdr) + payload_len +
			  FAMFS_REC_ALIGN - 1) & ~(FAMFS_REC_ALIGN - 1);
}

/* The CRC a record or item of generation gen must carry. */
uint32_t famfs_rec_crc(const struct famfs_rec_hdr *h, uint32_t len,
		       uint64_t generation);

#endif
