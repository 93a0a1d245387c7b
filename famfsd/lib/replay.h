/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replay: reads records from a log position up to a published tail and
 * applies each to a state, calling an optional hook after each one (the
 * agent's mount back-end). Catching up costs O(new records): the position
 * is kept by the caller between calls.
 */
#ifndef FAMFSD_REPLAY_H
#define FAMFSD_REPLAY_H

#include <stdbool.h>

#include "log.h"
#include "record.h"
#include "state.h"

struct famfs_replay_error {
	int bad_record;			/* 1: framing/CRC/seq, 0: a rule */
	bool checkpoint;		/* in the checkpoint: seq is the item index */
	uint64_t seq;			/* index of the failing record */
	uint64_t offset;		/* its byte offset in the area's body */
	const char *reason;
};

/*
 * Called after a record was applied to the state, with the state already
 * updated (for a delete, the node is gone: old holds its inode number).
 * A negative return stops the replay and is passed back.
 */
typedef int (*famfs_replay_hook_t)(void *ctx, const struct famfs_rec *r,
				   struct famfs_state *st);

/*
 * Applies every record after *pos up to tail. From scratch (*pos and st
 * both at zero) it first applies the generation's checkpoint, each item
 * with r->checkpoint set and passed to the hook too, and moves *pos to the
 * checkpoint's end. Returns the number of records and items applied, or
 * -EUCLEAN with *err (state and *pos stop just before the bad record; a
 * bad checkpoint leaves *pos at zero), -ENOMEM, or the hook's error.
 */
long famfs_replay(struct famfs_log *log, struct famfs_log_pos *pos,
		  const struct famfs_log_pos *tail, struct famfs_state *st,
		  famfs_replay_hook_t hook, void *ctx,
		  struct famfs_replay_error *err);

#endif
