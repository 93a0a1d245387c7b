/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The log's internals, shared by its three files: log.c (opening, the
 * header and tail codecs' read side, reading records: R1-R3), log_write.c
 * (the writer's publish P1-P6, a new generation's checkpoint C2-C3, mkfs)
 * and log_repair.c (scrub and repair of a damaged copy). Nothing outside
 * famfsd/lib/log*.c includes this; everyone else has log.h.
 */
#ifndef FAMFSD_LIB_LOG_PRIVATE_H
#define FAMFSD_LIB_LOG_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* Readers invalidate ahead in windows this large, not line by line. */
#define INVALIDATE_WINDOW	(64u << 10)

/*
 * What a reader says of a copy whose lines faulted (SIGBUS caught by the
 * guard, lib/guard.h): it is damaged like any other bad copy, so the other
 * copy is read and the master repairs (or finds the line still bad).
 */
#define FAULT_WHY	"memory error: the lines fault (poisoned, or the pool file was truncated)"

/* Bytes of the area header that hold anything: line 0 and the two slots. */
#define HDR_USED		sizeof(struct famfs_log_hdr)

struct famfs_log {
	uint8_t *area[FAMFS_LOG_COPIES];	/* this generation's two copies */
	uint64_t area_off[FAMFS_LOG_COPIES];	/* from the log region's start */
	uint64_t capacity;		/* bytes in an area's body */
	uint64_t generation;
	uint32_t crc_seed;
	struct famfs_log_base base;
	const struct famfs_cache_ops *ops;
	famfs_log_damage_fn damage_fn;
	void *damage_ctx;
	const char *hdr_why[FAMFS_LOG_COPIES];	/* found at open */
	/* reader: [inval_start, inval_end) of each copy, since the tail read */
	uint64_t inval_start[FAMFS_LOG_COPIES], inval_end[FAMFS_LOG_COPIES];
	const char *slot_why[FAMFS_LOG_TAIL_SLOTS];	/* R1's verdicts */
	/* writer's fence (famfs_log_set_write_guard); NULL: none */
	bool (*guard_fn)(void *ctx);
	void *guard_ctx;
	/* readers' epoch fence (famfs_log_set_epoch_fence); 0: none */
	uint64_t fence_epoch, fence_seq;
	/* writer */
	struct famfs_log_pos appended;	/* after the last appended record */
	struct famfs_log_pos published;	/* what the tail says */
	unsigned int next_slot;		/* tail slot the next publish writes */
	bool ckpt_mode;			/* created, checkpoint not sealed yet */
	/*
	 * Readers check a record here, copied out of the pool under a guard,
	 * and hand this copy out: the bytes the CRC passed are the bytes the
	 * caller decodes, and a line that goes bad after the check cannot
	 * fault in the caller (which holds locks and half-applied state).
	 */
	uint64_t bounce[FAMFS_REC_MAX_SIZE / sizeof(uint64_t)];
};

static inline struct famfs_log_hdr *hdr_of(const struct famfs_log *log,
					   unsigned int c)
{
	return (struct famfs_log_hdr *)log->area[c];
}

static inline uint8_t *body_of(const struct famfs_log *log, unsigned int c)
{
	return log->area[c] + FAMFS_LOG_HDR_SIZE;
}

/* log.c */
void log_report(struct famfs_log *log, const struct famfs_log_damage *d);
bool log_differ(const void *x, const void *y, size_t len);
const char *log_hdr_read_one(struct famfs_log *log, unsigned int c,
			     struct famfs_log_base *b);
void log_hdr_read(struct famfs_log *log, struct famfs_log_base b[2],
		  const char *why[2]);
int log_new(uint8_t *log_base, uint64_t log_size, uint64_t generation,
	    const struct famfs_cache_ops *ops, struct famfs_log **ret,
	    const char **why);
const char *log_tail_decode(const struct famfs_log_tail *src,
			    uint64_t generation, struct famfs_log_pos *p);
int log_tail_scan(struct famfs_log *log, struct famfs_log_pos slot[4],
		  const char *why[4]);
const char *log_check_retry(struct famfs_log *log, unsigned int c,
			    uint64_t off, uint64_t limit, uint64_t want_seq);

/* The writer's fence: may this log store into the pool now? */
static inline bool log_may_store(const struct famfs_log *log)
{
	return !log->guard_fn || log->guard_fn(log->guard_ctx);
}

/* NULL, or why pos breaks the readers' epoch fence. */
const char *log_fence_check(const struct famfs_log *log, uint64_t seq,
			    uint64_t epoch);

/* log_write.c */
void log_tail_write(struct famfs_log *log, unsigned int i,
		    const struct famfs_log_pos *t);

#endif /* FAMFSD_LIB_LOG_PRIVATE_H */
