// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elect.h"
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
		[FAMFS_FSCK_CHECKPOINT] = "checkpoint item",
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

/* What a verify pass gathers: each damaged copy once. */
struct collector {
	struct famfs_fsck_damage *list;
	size_t max;
	uint64_t n;			/* found; the first max listed */
	uint64_t log_offset;		/* the log region in the pool */
};

static bool same_place(const struct famfs_log_damage *a,
		       const struct famfs_log_damage *b)
{
	return a->part == b->part && a->copy == b->copy &&
	       a->log_offset == b->log_offset;
}

/*
 * The verify reader's damage hook. Only the area header is reported twice
 * (at the open and by its verify), and it comes first, so the list always
 * holds what a repeat must be matched against.
 */
static void collect(void *ctx, const struct famfs_log_damage *d)
{
	struct collector *c = ctx;

	for (size_t i = 0; i < c->n && i < c->max; i++) {
		if (!same_place(&c->list[i].d, d))
			continue;
		c->list[i].d.both |= d->both;
		return;
	}
	if (c->n < c->max)
		c->list[c->n] = (struct famfs_fsck_damage){
			.d = *d, .pool_offset = c->log_offset + d->log_offset,
		};
	c->n++;
}

/*
 * Both copies of everything of the generation, each on its own, with a
 * reader of its own (the replay's reported only what it tripped on): the
 * area header, the tail slots, every checkpoint item, every record up to
 * tail (NULL: the tail is unreadable, no records). A thing bad in both
 * copies has no length to step over it by: the pass over items or
 * records stops there.
 */
/*
 * The readers' epoch fence (docs/failover.md) of the active election slot
 * on log: a record or tail slot at or after its epoch_start_seq of a lower
 * epoch (an old master's store past its lease) is a finding, as damage.
 */
static void fence_log(const uint8_t *base, const struct famfs_cache_ops *ops,
		      struct famfs_log *log)
{
	struct famfs_elect_view *v = malloc(sizeof(*v));

	if (v && famfs_elect_view(base, ops, v) == 0 && v->active >= 0)
		famfs_log_set_epoch_fence(log, v->epoch, v->epoch_start_seq);
	free(v);
}

static void verify_all(uint8_t *base, const struct famfs_pool_info *info,
		       const struct famfs_cache_ops *ops,
		       const struct famfs_log_pos *tail, struct collector *c)
{
	struct famfs_log_pos pos = { 0 };
	struct famfs_log_error lerr;
	struct famfs_log *log;

	if (famfs_log_open(base + info->log_offset, info->log_size,
			   info->log_generation, ops, &log, &lerr) < 0)
		return;
	c->log_offset = info->log_offset;
	famfs_log_set_damage_hook(log, collect, c);
	fence_log(base, ops, log);
	famfs_log_verify(log, FAMFS_LOG_PART_HEADER, &pos, NULL);
	famfs_log_verify(log, FAMFS_LOG_PART_TAIL, &pos, NULL);
	while (famfs_log_verify(log, FAMFS_LOG_PART_ITEM, &pos, NULL) > 0)
		;
	pos = famfs_log_start(log);
	while (tail && famfs_log_verify(log, FAMFS_LOG_PART_RECORD, &pos, tail) > 0)
		;
	famfs_log_free(log);
}

uint64_t famfs_fsck_count_damage(uint8_t *base, const struct famfs_pool_info *info,
				 const struct famfs_cache_ops *ops,
				 const struct famfs_log_pos *tail)
{
	struct famfs_fsck_damage list[FAMFS_FSCK_DAMAGE_MAX];
	struct collector c = { .list = list, .max = FAMFS_FSCK_DAMAGE_MAX };

	verify_all(base, info, ops, tail, &c);
	return c.n;
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
	rep->base = famfs_log_base(log);
	fence_log(base, ops, log);
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
	rep->replayed = pos;
	summarize(rep, st);
	if (n == -ENOMEM)
		r = fail(rep, FAMFS_FSCK_NOMEM, rerr.seq, rerr.offset, rerr.reason);
	else if (n < 0)
		r = fail(rep, !rerr.bad_record ? FAMFS_FSCK_SEMANTIC :
			 rerr.checkpoint ? FAMFS_FSCK_CHECKPOINT :
			 FAMFS_FSCK_RECORD, rerr.seq, rerr.offset, rerr.reason);
	else
		r = 0;
out:
	famfs_state_free(st);
	famfs_log_free(log);
	return r;
}

/* The log of a pool whose superblock decoded: replay, then both copies. */
static int check_generation(uint8_t *base, const struct famfs_cache_ops *ops,
			    struct famfs_fsck_report *rep)
{
	struct collector c = { .list = rep->damage, .max = FAMFS_FSCK_DAMAGE_MAX };
	struct famfs_log_pos tail;
	int r = check_log(base, ops, rep);

	if (rep->where == FAMFS_FSCK_NOMEM)
		return r;
	tail = (struct famfs_log_pos){ .seq = rep->tail_seq, .end = rep->log_used };
	verify_all(base, &rep->info, ops, rep->where == FAMFS_FSCK_TAIL ||
		   rep->where == FAMFS_FSCK_LOG_HEADER ? NULL : &tail, &c);
	rep->n_damage = c.n;
	return r;
}

bool famfs_fsck_lost_records(const struct famfs_fsck_report *rep,
			     uint64_t *ret_from, uint64_t *ret_to)
{
	if (rep->where != FAMFS_FSCK_RECORD)
		return false;
	*ret_from = rep->replayed.seq + 1;
	*ret_to = rep->tail_seq;
	return true;
}

/* Damage that cutting the log after rep->replayed does away with. */
static bool cut_away(const struct famfs_log_damage *d,
		     const struct famfs_fsck_report *rep)
{
	return d->part == FAMFS_LOG_PART_TAIL ||
	       (d->part == FAMFS_LOG_PART_RECORD && d->offset >= rep->replayed.end);
}

/* 1 rewritten, 2 gone with the cut, -EUCLEAN no good copy, -EAGAIN. */
static int repair_one(struct famfs_log *log, const struct famfs_log_damage *d,
		      const struct famfs_fsck_report *rep, bool cut)
{
	int r;

	if (cut && cut_away(d, rep))
		return 2;
	/* A slot bad in both copies takes the tail readers use now. */
	if (d->part == FAMFS_LOG_PART_TAIL)
		return famfs_log_repair_tail(log) == 0 ? 1 : -EUCLEAN;
	r = famfs_log_repair(log, d);
	return r == 0 ? 1 : r;
}

/* Repairs what list holds; true when all of it is mended or cut away. */
static bool repair_list(struct famfs_log *log, struct famfs_fsck_damage *list,
			size_t n, struct famfs_fsck_report *rep, bool cut)
{
	bool all = true;

	for (size_t i = 0; i < n; i++) {
		list[i].repair = repair_one(log, &list[i].d, rep, cut);
		rep->repaired += list[i].repair == 1;
		all &= list[i].repair > 0;
	}
	return all;
}

/*
 * More damaged copies than the report lists: verify and repair again
 * until a pass sees all that is left (or mends nothing more).
 */
static bool repair_rounds(uint8_t *base, const struct famfs_cache_ops *ops,
			  struct famfs_log *log, struct famfs_fsck_report *rep,
			  bool cut)
{
	struct famfs_log_pos tail = { .seq = rep->tail_seq, .end = rep->log_used };
	struct famfs_fsck_damage more[FAMFS_FSCK_DAMAGE_MAX];
	struct collector c;
	uint64_t before;
	bool all = false;

	for (;;) {
		c = (struct collector){ .list = more, .max = FAMFS_FSCK_DAMAGE_MAX };
		verify_all(base, &rep->info, ops, &tail, &c);
		before = rep->repaired;
		all = repair_list(log, more, c.n < c.max ? c.n : c.max, rep, cut);
		if (c.n <= c.max || rep->repaired == before)
			return all && c.n <= c.max;
	}
}

int famfs_fsck_repair(uint8_t *base, uint64_t size,
		      const struct famfs_cache_ops *ops,
		      struct famfs_fsck_report *rep)
{
	struct famfs_log_error lerr;
	struct famfs_log *log;
	uint64_t from, to;
	bool cut = famfs_fsck_lost_records(rep, &from, &to), all;
	int r;

	(void)size;
	r = famfs_log_open(base + rep->info.log_offset, rep->info.log_size,
			   rep->info.log_generation, ops, &log, &lerr);
	if (r < 0)
		return r == -ENOMEM ? r : -EUCLEAN;
	all = repair_list(log, rep->damage, rep->n_damage < FAMFS_FSCK_DAMAGE_MAX ?
			  rep->n_damage : FAMFS_FSCK_DAMAGE_MAX, rep, cut);
	if (rep->n_damage > FAMFS_FSCK_DAMAGE_MAX)
		all = repair_rounds(base, ops, log, rep, cut) && all;
	/* Both copies of record from are bad: the log ends before it. */
	if (cut) {
		famfs_log_set_tail(log, &rep->replayed);
		rep->truncated = true;
	}
	famfs_log_free(log);
	return all ? 0 : -EUCLEAN;
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
	return check_generation((uint8_t *)base, ops, rep);
}
