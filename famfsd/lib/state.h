/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The replay engine: applies decoded log records, in order, to a namespace
 * index, the allocator and the tenant table, checking every rule a record
 * must obey. The master rebuilds from it and checks every record with it
 * before appending it, fsck checks with it, agents follow the log with it;
 * one engine, so all three agree.
 */
#ifndef FAMFSD_STATE_H
#define FAMFSD_STATE_H

#include <stdint.h>

#include "alloc.h"
#include "log.h"
#include "ns.h"
#include "record.h"
#include "super.h"
#include "tenant.h"

/* A deleted file whose space waits for every agent to let go of it. */
struct famfs_pending {
	uint64_t ino;
	uint64_t delete_seq;
	uint64_t bytes;			/* allocated bytes */
	uint32_t n_extents;
	struct famfs_extent *extents;	/* host byte order */
	struct famfs_pending *prev, *next;
};

struct famfs_state {
	struct famfs_pool_info info;
	struct famfs_ns *ns;
	struct famfs_alloc *alloc;
	struct famfs_tenants *tenants;
	uint64_t last_seq;		/* last record applied */
	uint64_t last_epoch;
	uint64_t max_ino;		/* highest inode number ever used */
	uint64_t files, dirs;		/* live, root not counted */
	uint64_t pending_bytes;
	struct famfs_pending *pending_first, *pending_last;	/* by delete_seq */
};

int famfs_state_new(const struct famfs_pool_info *info,
		    struct famfs_state **ret);
void famfs_state_free(struct famfs_state *st);

/*
 * Checks one record against every rule, changing nothing: 0, or -EUCLEAN
 * with *reason when it breaks one (sequence gap, epoch going back, unknown
 * parent, duplicate name, extent overlapping another or outside the data
 * area, ...). The master runs it on each record before appending it, so
 * it never publishes one that agents refuse. The checks are
 * famfs_state_apply()'s own: the verdicts and reasons are the same.
 */
int famfs_state_check(const struct famfs_state *st, const struct famfs_rec *r,
		      const char **reason);

/*
 * Applies one record: famfs_state_check(), then its changes. Returns 0,
 * -EUCLEAN with *reason as there, or -ENOMEM; the state is unchanged after
 * either error.
 */
int famfs_state_apply(struct famfs_state *st, const struct famfs_rec *r,
		      const char **reason);

/*
 * Before a checkpoint's items are applied (r->checkpoint set; they carry
 * no sequence of their own): the state is as of record b->seq, and no
 * inode number above b->max_ino was ever used.
 */
void famfs_state_set_base(struct famfs_state *st, const struct famfs_log_base *b);

struct famfs_pending *famfs_state_pending_find(const struct famfs_state *st,
					       uint64_t ino);

/* Bytes a file of size bytes takes once rounded up to allocation units. */
static inline uint64_t famfs_state_alloc_bytes(const struct famfs_state *st,
					       uint64_t size)
{
	uint64_t u = st->info.alloc_unit;

	return (size + u - 1) / u * u;
}

#endif
