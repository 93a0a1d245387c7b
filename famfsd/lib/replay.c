// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>

#include "replay.h"

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

	/*
	 * The smallest record that adds a node (mkdir, one-byte name) is 80
	 * bytes: that bounds how many nodes the new records can hold.
	 */
	if (tail->end > pos->end)
		(void)famfs_ns_reserve(st->ns, famfs_ns_count(st->ns) +
				       (tail->end - pos->end) / 80);
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
		r = famfs_rec_decode(h, &rec, &err->reason);
		if (r < 0) {
			err->bad_record = 1;
			return r;
		}
		r = famfs_state_apply(st, &rec, &err->reason);
		if (r < 0)
			return r;
		*pos = next;
		applied++;
		if (hook) {
			r = hook(ctx, &rec, st);
			if (r < 0)
				return r;
		}
	}
}
