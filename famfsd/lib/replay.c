// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>

#include "replay.h"

/*
 * The smallest record that adds a node (mkdir, one-byte name) is 80 bytes:
 * that bounds how many nodes bytes of records can hold.
 */
static void reserve(struct famfs_state *st, uint64_t bytes)
{
	(void)famfs_ns_reserve(st->ns, famfs_ns_count(st->ns) + bytes / 80);
}

/*
 * Decodes and applies one record or item into *rec. The caller moves its
 * position past it before calling the hook (call_hook), so that a hook
 * error leaves the position after a record the state already holds.
 */
static int apply_one(const struct famfs_rec_hdr *h, bool item,
		     struct famfs_state *st, struct famfs_rec *rec,
		     struct famfs_replay_error *err)
{
	int r;

	r = famfs_rec_decode(h, rec, &err->reason);
	if (r < 0) {
		err->bad_record = 1;
		return r;
	}
	rec->checkpoint = item;
	return famfs_state_apply(st, rec, &err->reason);
}

/* The hook, after an applied record or item. */
static int call_hook(const struct famfs_rec *rec, struct famfs_state *st,
		     famfs_replay_hook_t hook, void *ctx)
{
	int r = 0;

	if (!hook)
		return 0;
	if (rec->type != FAMFS_REC_RECLAIM || rec->n_reclaims <= 1)
		return hook(ctx, rec, st);
	/* Hooks see one reclaimed inode at a time, in ino and delete_seq. */
	for (uint32_t i = 0; i < rec->n_reclaims && r == 0; i++) {
		struct famfs_rec one = *rec;

		one.ino = le64toh(rec->reclaims[i].ino);
		one.delete_seq = le64toh(rec->reclaims[i].delete_seq);
		one.reclaims = NULL;
		one.n_reclaims = 0;
		r = hook(ctx, &one, st);
	}
	return r;
}

/* The checkpoint of the log into a fresh state; *pos to its end. */
static long replay_checkpoint(struct famfs_log *log, struct famfs_log_pos *pos,
			      struct famfs_state *st, famfs_replay_hook_t hook,
			      void *ctx, struct famfs_replay_error *err)
{
	struct famfs_log_base base = famfs_log_base(log);
	struct famfs_log_pos at = { 0 }, next;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error lerr;
	struct famfs_rec rec;
	long applied = 0;
	int r;

	famfs_state_set_base(st, &base);
	reserve(st, base.ckpt_bytes);
	for (;;) {
		next = at;
		r = famfs_log_ckpt_next(log, &next, &h, &lerr);
		if (r == 0)
			break;
		if (r < 0) {
			*err = (struct famfs_replay_error){
				.bad_record = 1, .checkpoint = true,
				.seq = lerr.seq, .offset = lerr.offset,
				.reason = lerr.reason,
			};
			return r;
		}
		*err = (struct famfs_replay_error){
			.checkpoint = true, .seq = next.seq, .offset = at.end,
		};
		r = apply_one(h, true, st, &rec, err);
		if (r < 0)
			return r;
		at = next;
		applied++;
		r = call_hook(&rec, st, hook, ctx);
		if (r < 0)
			return r;
	}
	*pos = famfs_log_start(log);
	return applied;
}

long famfs_replay(struct famfs_log *log, struct famfs_log_pos *pos,
		  const struct famfs_log_pos *tail, struct famfs_state *st,
		  famfs_replay_hook_t hook, void *ctx,
		  struct famfs_replay_error *err)
{
	const struct famfs_rec_hdr *h;
	struct famfs_log_error lerr;
	struct famfs_log_pos next;
	struct famfs_rec rec;
	long applied = 0;
	int r;

	if (pos->seq == 0 && pos->end == 0 && st->last_seq == 0 &&
	    famfs_ns_count(st->ns) == 1) {
		applied = replay_checkpoint(log, pos, st, hook, ctx, err);
		if (applied < 0)
			return applied;
	}
	if (tail->end > pos->end)
		reserve(st, tail->end - pos->end);
	for (;;) {
		next = *pos;
		r = famfs_log_next(log, &next, tail, &h, &lerr);
		if (r == 0)
			return applied;
		if (r < 0) {
			*err = (struct famfs_replay_error){
				.bad_record = 1, .seq = lerr.seq,
				.offset = lerr.offset, .reason = lerr.reason,
			};
			return r;
		}
		*err = (struct famfs_replay_error){
			.seq = next.seq, .offset = pos->end,
		};
		r = apply_one(h, false, st, &rec, err);
		if (r < 0)
			return r;
		*pos = next;
		applied++;
		r = call_hook(&rec, st, hook, ctx);
		if (r < 0)
			return r;
	}
}
