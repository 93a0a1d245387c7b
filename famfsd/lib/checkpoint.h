/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checkpoints: a state written as the first items of a new log generation,
 * so the generation describes the whole pool without the records before it.
 * Reading one back is famfs_replay()'s from-scratch step (replay.h).
 *
 * Items, in this order: a SET_QUOTA for every tenant (in id order, so a
 * reader hands out the same ids), a MKDIR or CREATE for every node but the
 * root, parents before children (each carries the sequence of the record
 * that made it), then a PENDING for every deleted file whose space waits
 * for reclaim, in delete order.
 */
#ifndef FAMFSD_CHECKPOINT_H
#define FAMFSD_CHECKPOINT_H

#include <stdint.h>

#include "log.h"
#include "state.h"

/*
 * C2 for a generation made by famfs_log_create(): writes every item of st
 * (the state as of st->last_seq). Returns 0, -ENOSPC when the state does
 * not fit in one generation, -ENOMEM, -EINVAL.
 */
int famfs_ckpt_put_items(const struct famfs_state *st, struct famfs_log *log);

/*
 * C3: seals the generation with st's base (sequence, epoch, max_ino).
 * -EIO when both copies of its header fault (famfs_log_ckpt_seal).
 */
int famfs_ckpt_seal(const struct famfs_state *st, struct famfs_log *log);

/* Both: C2, then C3 when C2 worked. */
int famfs_ckpt_write(const struct famfs_state *st, struct famfs_log *log);

#endif
