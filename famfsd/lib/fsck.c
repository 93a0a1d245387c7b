// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <string.h>

#include "fsck.h"
#include "lease.h"
#include "log.h"
#include "replay.h"

const char *famfs_fsck_where_name(enum famfs_fsck_where w)
{
	static const char *const names[] = {
		[FAMFS_FSCK_OK] = "ok",
		[FAMFS_FSCK_SUPERBLOCK] = "superblock",
		[FAMFS_FSCK_LOG_HEADER] = "log header",
		[FAMFS_FSCK_TAIL] = "log tail",
		[FAMFS_FSCK_RECORD] = "record",
		[FAMFS_FSCK_SEMANTIC] = "record contents",
		[FAMFS_FSCK_NOMEM] = "memory",
	};

	return w <= FAMFS_FSCK_NOMEM ? names[w] : "unknown";
}

static int fail(struct famfs_fsck_report *rep, enum famfs_fsck_where w,
		uint64_t seq, uint64_t off, const char *reason)
{
	rep->where = w;
	rep->bad_seq = seq;
	rep->bad_offset = off;
	rep->reason = reason;
	return w == FAMFS_FSCK_NOMEM ? -ENOMEM : -EUCLEAN;
}

static void summarize(struct famfs_fsck_report *rep,
		      const struct famfs_state *st)
{
	rep->files = st->files;
	rep->dirs = st->dirs;
	rep->tenants = famfs_tenants_count(st->tenants);
	rep->used_bytes = famfs_alloc_total_bytes(st->alloc) -
			  famfs_alloc_free_bytes(st->alloc) - st->pending_bytes;
	rep->pending_bytes = st->pending_bytes;
}

/* Walks the log of a pool whose superblock decoded. */
static int check_log(uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_fsck_report *rep)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_replay_error rerr;
	struct famfs_log_error lerr;
	struct famfs_state *st = NULL;
	struct famfs_log *log = NULL;
	long n;
	int r;

	r = famfs_log_open(base + rep->info.log_offset, rep->info.log_size,
			   rep->info.log_generation, ops, &log, &lerr);
	if (r < 0)
		return r == -ENOMEM ? fail(rep, FAMFS_FSCK_NOMEM, 0, 0, NULL) :
		       fail(rep, FAMFS_FSCK_LOG_HEADER, 0, 0, lerr.reason);
	r = famfs_log_read_tail(log, &tail, &lerr);
	famfs_log_tail_status(log, rep->tail_slot);
	if (r < 0) {
		r = fail(rep, FAMFS_FSCK_TAIL, lerr.seq, lerr.offset, lerr.reason);
		goto out;
	}
	rep->tail_seq = tail.seq;
	rep->log_used = tail.end;
	r = famfs_state_new(&rep->info, &st);
	if (r < 0) {
		r = fail(rep, FAMFS_FSCK_NOMEM, 0, 0, "out of memory");
		goto out;
	}
	n = famfs_replay(log, &pos, &tail, st, NULL, NULL, &rerr);
	rep->records = pos.seq;
	summarize(rep, st);
	if (n == -ENOMEM)
		r = fail(rep, FAMFS_FSCK_NOMEM, rerr.seq, rerr.offset, rerr.reason);
	else if (n < 0)
		r = fail(rep, rerr.bad_record ? FAMFS_FSCK_RECORD :
			 FAMFS_FSCK_SEMANTIC, rerr.seq, rerr.offset, rerr.reason);
	else
		r = 0;
out:
	famfs_state_free(st);
	famfs_log_free(log);
	return r;
}

int famfs_fsck(const uint8_t *base, uint64_t size,
	       const struct famfs_cache_ops *ops,
	       struct famfs_fsck_report *rep)
{
	struct famfs_lease_info lease;
	int r;

	memset(rep, 0, sizeof(*rep));
	r = famfs_sb_load(base, size, ops, &rep->info, &rep->sb);
	if (r == -ENODEV) {
		fail(rep, FAMFS_FSCK_SUPERBLOCK, 0, 0, "no famfsd superblock");
		return r;
	}
	if (r < 0)
		return fail(rep, FAMFS_FSCK_SUPERBLOCK, 0, 0,
			    "both superblock copies are bad");
	/* A lease never written reads as -ENOENT: that is no finding. */
	if (famfs_lease_read(base, ops, &lease) == -EUCLEAN)
		rep->lease = "lease area CRC mismatch";
	/* fsck only reads; the log code takes a writable pointer. */
	return check_log((uint8_t *)base, ops, rep);
}
