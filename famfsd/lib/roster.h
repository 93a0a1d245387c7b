/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent roster (docs/failover.md, "Agent roster"): every agent a
 * master has acknowledged, kept in the pool so that a new master (after a
 * failover or a restart) knows who may hold pool space before it reclaims
 * any. Only the active master writes it; any host may read it.
 *
 * Two copies of FAMFS_ROSTER_ENTRIES entries. An entry is written whole
 * into copy 0, flushed and fenced (step R-W1), then into copy 1, flushed
 * and fenced (R-W2): a crash inside R-W1 leaves copy 1 as it was, one
 * inside R-W2 leaves copy 0 complete, so one good copy always says either
 * the old or the new entry. A reader invalidates an entry's lines, copies
 * them and checks the copy (magic, index, CRC, state, id) before it
 * believes any byte, and reports a bad copy so the writer can mend it.
 *
 * struct famfs_roster is the master's image of the area: loaded once at
 * takeover, then changed only through famfs_roster_put(), which writes the
 * pool first and the image after.
 */
#ifndef FAMFSD_ROSTER_H
#define FAMFSD_ROSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "famfsd_format.h"

#define FAMFS_ROSTER_COPIES	2u

/* An entry as decoded from a private copy of the pool's bytes. */
struct famfs_roster_info {
	unsigned int index;
	enum famfs_roster_state state;
	uint64_t epoch;
	uint64_t seq;
	char id[FAMFS_AGENT_ID_MAX + 1];
	char host[FAMFS_HOST_MAX + 1];
};

/* What a load found at one index. */
enum famfs_roster_health {
	FAMFS_ROSTER_H_EMPTY = 0,	/* never written (both copies zero) */
	FAMFS_ROSTER_H_OK,		/* both copies good and equal */
	FAMFS_ROSTER_H_MEND,		/* one copy good, the other to rewrite */
	FAMFS_ROSTER_H_LOST,		/* no good copy: someone may be there */
};

/* True when a pool whose log starts at log_offset has room for both copies. */
bool famfs_roster_fits(uint64_t log_offset);

/*
 * Reads entry i of copy `copy`: invalidate, copy, check. 0; -ENOENT never
 * written (all zero); -EUCLEAN bad (CRC, magic, index, state or id); -EIO
 * when its lines fault (lib/guard.h); -EINVAL for copy or i out of range.
 */
int famfs_roster_read_entry(const uint8_t *base,
			    const struct famfs_cache_ops *ops,
			    unsigned int copy, unsigned int i,
			    struct famfs_roster_info *ret);

/*
 * Writes in->index of copy `copy` whole, then flush and fence. -EIO when
 * the lines fault, -EINVAL for a bad copy, index, state or id.
 */
int famfs_roster_write_entry(uint8_t *base, const struct famfs_cache_ops *ops,
			     unsigned int copy,
			     const struct famfs_roster_info *in);

/* Zeroes both copies, flushed and fenced (mkfs). */
void famfs_roster_clear(uint8_t *base, const struct famfs_cache_ops *ops);

struct famfs_roster;

/*
 * Checked right before each copy's store (the master passes its
 * master_may_write()): 0 to go on, negative errno to write nothing more.
 */
typedef int (*famfs_roster_may_write_fn)(void *ctx);

/* Reads every entry of both copies. -ENOMEM; bad entries are not errors. */
int famfs_roster_load(const uint8_t *base, const struct famfs_cache_ops *ops,
		      struct famfs_roster **ret);
void famfs_roster_free(struct famfs_roster *r);

enum famfs_roster_health famfs_roster_health(const struct famfs_roster *r,
					     unsigned int i);
/* Entry i as loaded or last put; NULL when it is empty or lost. */
const struct famfs_roster_info *famfs_roster_get(const struct famfs_roster *r,
						 unsigned int i);
/* The index of id, or -ENOENT. */
int famfs_roster_find(const struct famfs_roster *r, const char *id);
/* Indexes whose load found FAMFS_ROSTER_H_MEND. */
unsigned int famfs_roster_to_mend(const struct famfs_roster *r);

/*
 * Sets id's entry (a new one in the first empty index, else in an evicted
 * one's) to state, stamped with epoch and seq, through R-W1 and R-W2.
 * Returns the index, or -ENOSPC when every index holds an agent that is
 * not evicted (or is lost), -EINVAL for a bad id or state, what may_write
 * returned, or -EIO. The image changes only once both copies are written.
 */
int famfs_roster_put(struct famfs_roster *r, uint8_t *base,
		     const struct famfs_cache_ops *ops, const char *id,
		     const char *host, enum famfs_roster_state state,
		     uint64_t epoch, uint64_t seq,
		     famfs_roster_may_write_fn may_write, void *ctx);

/*
 * The same at index i whatever it holds (an admin's eviction of an agent
 * whose entry was lost: the index is free again once it says evicted).
 * 0 or negative errno as famfs_roster_put().
 */
int famfs_roster_set(struct famfs_roster *r, uint8_t *base,
		     const struct famfs_cache_ops *ops, unsigned int i,
		     const char *id, const char *host,
		     enum famfs_roster_state state, uint64_t epoch,
		     uint64_t seq, famfs_roster_may_write_fn may_write,
		     void *ctx);

/*
 * Rewrites both copies of every FAMFS_ROSTER_H_MEND entry from its good
 * one (R-W1, R-W2 each). Returns how many, or the first error.
 */
int famfs_roster_mend(struct famfs_roster *r, uint8_t *base,
		      const struct famfs_cache_ops *ops,
		      famfs_roster_may_write_fn may_write, void *ctx);

#endif
