/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The master's table of damaged copies of the log: every report its
 * readers and its scrub make, each kept once (the same copy of the same
 * thing is reported again by every reader that trips on it and by every
 * scrub pass until it is mended), with what became of it. No locking and
 * no I/O here: master/damage.c holds the lock, repairs, and logs.
 *
 * An entry's life: PENDING (to be repaired) -> REPAIRED (rewritten from
 * the other copy, or its generation replaced by a compaction), or ->
 * UNREPAIRED (the repair did not hold, or both copies are bad and a
 * compaction from memory is asked for), which a later report of the same
 * damage, no sooner than a retry period after the last try, makes PENDING
 * again.
 */
#ifndef FAMFSD_MASTER_DAMAGE_TABLE_H
#define FAMFSD_MASTER_DAMAGE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum damage_state {
	DAMAGE_PENDING,
	DAMAGE_UNREPAIRED,
	DAMAGE_REPAIRED,
};

enum damage_fix {
	DAMAGE_FIX_NONE,
	DAMAGE_FIX_COPY,		/* the good copy written over the bad */
	DAMAGE_FIX_COMPACTION,		/* a new generation replaced it */
};

enum damage_finder {
	DAMAGE_BY_READER,		/* the master's replay or its compaction */
	DAMAGE_BY_SCRUB,
};

struct damage_entry {
	uint64_t id;			/* 1, 2, ... in the order found */
	uint64_t generation;		/* of the log the copy belongs to */
	struct famfs_log_damage d;	/* reason: a string constant of log.c */
	uint64_t pool_offset;		/* of the damaged copy's first byte */
	enum damage_finder found_by;
	uint64_t found_ns;		/* CLOCK_REALTIME */
	enum damage_state state;
	enum damage_fix fixed_by;
	unsigned int tries;		/* repairs attempted */
	uint64_t tried_ns;		/* CLOCK_MONOTONIC of the last try */
};

/* How many entries GET /v1/pool shows. */
#define DAMAGE_LAST		16
/* Open entries kept; reports beyond are dropped (the scrub finds them again). */
#define DAMAGE_OPEN_MAX		4096

struct damage_table {
	struct damage_entry *open;	/* PENDING and UNREPAIRED, by id */
	size_t n_open, cap_open;
	struct damage_entry last[DAMAGE_LAST];	/* slot id % DAMAGE_LAST */
	uint64_t next_id;
	uint64_t found, repaired, dropped;
};

enum damage_add {
	DAMAGE_ADD_NEW,			/* a new entry, PENDING */
	DAMAGE_ADD_KNOWN,		/* nothing changed */
	DAMAGE_ADD_RETRY,		/* known, unrepaired: PENDING again */
	DAMAGE_ADD_WORSE,		/* known; now both copies: PENDING again */
	DAMAGE_ADD_DROPPED,		/* the table is full */
};

void damage_table_init(struct damage_table *t);
void damage_table_fini(struct damage_table *t);

/*
 * Records e (its id, state, fix and tries are set here) unless the same
 * copy of the same thing of the same generation is open already. A known
 * UNREPAIRED entry becomes PENDING again when its last try is retry_ns or
 * more before mono_ns. *ret (may be NULL) gets the entry as it is now.
 */
enum damage_add damage_table_add(struct damage_table *t,
				 const struct damage_entry *e, uint64_t mono_ns,
				 uint64_t retry_ns, struct damage_entry *ret);

/* Copies up to max PENDING entries, oldest first; how many. */
size_t damage_table_pending(const struct damage_table *t,
			    struct damage_entry *out, size_t max);

/*
 * What a repair of entry id did: REPAIRED (leaves the open list) or
 * UNREPAIRED, tried at mono_ns. -ENOENT when id is not open (a switch
 * resolved it meanwhile).
 */
int damage_table_resolve(struct damage_table *t, uint64_t id,
			 enum damage_state state, enum damage_fix fix,
			 uint64_t mono_ns);

/*
 * The log moved to generation gen: every open entry of an older one is
 * REPAIRED by compaction (its copies are no longer part of the log).
 * Returns how many.
 */
size_t damage_table_switch(struct damage_table *t, uint64_t gen);

/* Open entries: those not repaired. */
static inline size_t damage_table_unrepaired(const struct damage_table *t)
{
	return t->n_open;
}

/* Up to DAMAGE_LAST most recent entries, newest first; how many. */
size_t damage_table_last(const struct damage_table *t,
			 struct damage_entry out[DAMAGE_LAST]);


#endif
