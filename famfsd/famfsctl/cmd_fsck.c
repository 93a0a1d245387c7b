// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl fsck DEVICE [--repair]: famfs_fsck() of the image, said in
 * text or JSON. Every damaged copy in the log is named with its place
 * (copy, part, sequence, log and pool offsets); where both copies of a
 * record are bad, what is lost: the records from that one on cannot be
 * replayed in order. --repair (no master may run) rewrites each damaged
 * copy from the good one, torn superblock copies and tail slots, clears a
 * corrupt lease or election slot, mends an agent roster entry with one
 * bad copy (docs/failover.md), and cuts the log
 * after the last good record when records are lost; then the image is
 * checked again, and only a clean second check counts as repaired.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <uuid/uuid.h>

#include "elect.h"
#include "famfsctl.h"
#include "fsck.h"

/*
 * Election slots (docs/failover.md) bad in a way a re-read does not fix:
 * a write in flight settles within microseconds, so a slot still bad after
 * a few reads spread over 30 ms is damaged, or torn by a host that died
 * while writing it.
 */
struct slot_findings {
	unsigned int n;
	int status[FAMFS_ELECT_SLOTS];		/* 0: fine */
};

static void check_slots(const uint8_t *base, const struct famfs_cache_ops *ops,
			struct slot_findings *ret)
{
	struct timespec pause = { .tv_nsec = 10 * 1000000L };
	struct famfs_elect_slot_info x;

	memset(ret, 0, sizeof(*ret));
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int r = famfs_elect_read(base, ops, i, &x);

		for (int t = 0; t < 3 && (r == -EUCLEAN || r == -EIO); t++) {
			nanosleep(&pause, NULL);
			r = famfs_elect_read(base, ops, i, &x);
		}
		if (r == -EUCLEAN || r == -EIO) {
			ret->status[i] = r;
			ret->n++;
		}
	}
}

static const char *slot_reason(int status)
{
	return status == -EIO ? "its memory faults" :
	       "bad magic, index, CRC or values (damaged, or torn by a host "
	       "that died writing it)";
}

static struct json_object *slots_json(const struct slot_findings *sf, bool repaired)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		struct json_object *o;

		if (!sf->status[i])
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "slot", json_object_new_int((int)i));
		json_object_object_add(o, "reason", json_object_new_string(
				       slot_reason(sf->status[i])));
		json_object_object_add(o, "cleared", json_object_new_boolean(repaired));
		json_object_array_add(a, o);
	}
	return a;
}

static void slots_text(const char *dev, const struct slot_findings *sf,
		       bool repaired)
{
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
		if (sf->status[i])
			printf("%s: election slot %u: %s%s\n", dev, i,
			       slot_reason(sf->status[i]), repaired ?
			       " (cleared; its host starts afresh)" :
			       " (--repair clears it; only with its host down)");
}

/*
 * --repair of a slot: zeroed (never written). Its owner, if it comes back,
 * starts as a new standby; the next election's epoch stays above the
 * log's (docs/failover.md).
 */
static void repair_slots(uint8_t *base, const struct famfs_cache_ops *ops,
			 const struct slot_findings *sf)
{
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		uint8_t *p = base + FAMFS_ELECT_OFFSET + (size_t)i * FAMFS_ELECT_SLOT_SIZE;

		if (!sf->status[i])
			continue;
		memset(p, 0, FAMFS_ELECT_SLOT_SIZE);
		ops->flush(p, FAMFS_ELECT_SLOT_SIZE);
	}
	ops->wfence();
}

/* Findings the pool survives: torn copies and slots, a corrupt lease. */
static bool survivable_findings(const struct famfs_fsck_report *rep)
{
	if (rep->where == FAMFS_FSCK_SUPERBLOCK)
		return false;
	for (unsigned int i = 0; i < FAMFS_LOG_TAIL_SLOTS; i++)
		if (rep->tail_slot[i])
			return true;
	return rep->sb.reason[0] || rep->sb.reason[1] || rep->lease ||
	       rep->n_damage;
}

/* Offsets of body offset off of copy 0: from the log region and the pool. */
static void copy0_offsets(const struct famfs_fsck_report *rep, uint64_t off,
			  uint64_t *ret_log, uint64_t *ret_pool)
{
	*ret_log = famfs_log_area_offset(rep->info.log_size,
					 rep->info.log_generation, 0) +
		   FAMFS_LOG_HDR_SIZE + off;
	*ret_pool = rep->info.log_offset + *ret_log;
}

static struct json_object *u64_json(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

static struct json_object *list_json(const char *const *why, int n)
{
	struct json_object *a = json_object_new_array();

	for (int i = 0; i < n; i++)
		json_object_array_add(a, why[i] ? json_object_new_string(why[i]) :
				      NULL);
	return a;
}

static struct json_object *damage_json(const struct famfs_fsck_damage *x,
				       bool tried)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "part", json_object_new_string(famfs_log_part_name(x->d.part)));
	json_object_object_add(o, "copy", json_object_new_int((int)x->d.copy));
	json_object_object_add(o, "both", json_object_new_boolean(x->d.both));
	json_object_object_add(o, "seq", u64_json(x->d.seq));
	json_object_object_add(o, "log_offset", u64_json(x->d.log_offset));
	json_object_object_add(o, "pool_offset", u64_json(x->pool_offset));
	json_object_object_add(o, "reason", json_object_new_string(x->d.reason ?
			       x->d.reason : "unknown"));
	/* null: no --repair; else whether it was mended, and how. */
	json_object_object_add(o, "repaired", tried ?
			       json_object_new_boolean(x->repair > 0) : NULL);
	json_object_object_add(o, "repaired_by", x->repair == 1 ?
			       json_object_new_string("copy") : x->repair == 2 ?
			       json_object_new_string("truncation") : NULL);
	return o;
}

/* What cannot be replayed any more; NULL when nothing is lost. */
static struct json_object *lost_json(const struct famfs_fsck_report *rep)
{
	struct json_object *o;
	uint64_t from, to, lo, po;
	bool ckpt = rep->where == FAMFS_FSCK_CHECKPOINT;

	if (!ckpt && !famfs_fsck_lost_records(rep, &from, &to))
		return NULL;
	if (ckpt) {
		from = rep->base.seq + 1;
		to = rep->tail_seq;
	}
	copy0_offsets(rep, rep->bad_offset, &lo, &po);
	o = json_object_new_object();
	json_object_object_add(o, "in", json_object_new_string(ckpt ? "checkpoint" :
			       "records"));
	if (ckpt)
		json_object_object_add(o, "item", u64_json(rep->bad_seq));
	json_object_object_add(o, "from_seq", u64_json(from));
	json_object_object_add(o, "to_seq", u64_json(to));
	json_object_object_add(o, "records", u64_json(to >= from ? to - from + 1 : 0));
	json_object_object_add(o, "log_offset", u64_json(lo));
	json_object_object_add(o, "pool_offset", u64_json(po));
	json_object_object_add(o, "reason", json_object_new_string(rep->reason ?
			       rep->reason : ""));
	return o;
}

static void log_json(struct json_object *o, const struct famfs_fsck_report *rep,
		     bool tried)
{
	struct json_object *a = json_object_new_array();
	size_t n = rep->n_damage < FAMFS_FSCK_DAMAGE_MAX ? rep->n_damage :
		   FAMFS_FSCK_DAMAGE_MAX;

	json_object_object_add(o, "log_generation", u64_json(rep->info.log_generation));
	json_object_object_add(o, "base_seq", u64_json(rep->base.seq));
	json_object_object_add(o, "checkpoint_items", u64_json(rep->base.ckpt_items));
	json_object_object_add(o, "checkpoint_bytes", u64_json(rep->base.ckpt_bytes));
	json_object_object_add(o, "damage_count", u64_json(rep->n_damage));
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, damage_json(&rep->damage[i], tried));
	json_object_object_add(o, "damage", a);
	json_object_object_add(o, "lost", lost_json(rep));
	json_object_object_add(o, "truncated", json_object_new_boolean(rep->truncated));
	json_object_object_add(o, "repaired_copies", u64_json(rep->repaired));
}

static struct json_object *report_json(const struct famfs_fsck_report *rep,
				       bool clean, bool tried, bool repaired)
{
	struct json_object *o = json_object_new_object();
	struct json_object *sb = list_json(rep->sb.reason, 2);

	json_object_object_add(o, "clean", json_object_new_boolean(clean));
	json_object_object_add(o, "repaired", json_object_new_boolean(repaired));
	json_object_object_add(o, "superblock_errors", sb);
	json_object_object_add(o, "tail_slot_errors", list_json(rep->tail_slot, FAMFS_LOG_TAIL_SLOTS));
	json_object_object_add(o, "lease_error", rep->lease ?
			       json_object_new_string(rep->lease) : NULL);
	json_object_object_add(o, "records", u64_json(rep->records));
	json_object_object_add(o, "tail_seq", u64_json(rep->tail_seq));
	json_object_object_add(o, "log_used", u64_json(rep->log_used));
	if (rep->where != FAMFS_FSCK_SUPERBLOCK)
		log_json(o, rep, tried);
	json_object_object_add(o, "files", u64_json(rep->files));
	json_object_object_add(o, "dirs", u64_json(rep->dirs));
	json_object_object_add(o, "used_bytes", u64_json(rep->used_bytes));
	json_object_object_add(o, "pending_reclaim_bytes", u64_json(rep->pending_bytes));
	if (rep->where != FAMFS_FSCK_OK) {
		json_object_object_add(o, "error_in",
			json_object_new_string(famfs_fsck_where_name(rep->where)));
		json_object_object_add(o, "error_record", u64_json(rep->bad_seq));
		json_object_object_add(o, "error_offset", u64_json(rep->bad_offset));
		json_object_object_add(o, "error",
			json_object_new_string(rep->reason ? rep->reason : ""));
	}
	return o;
}

/* " (repaired from copy 1)", or what --repair would do, or did not. */
static const char *damage_outcome(const struct famfs_fsck_damage *x, bool tried,
				  char *buf, size_t size)
{
	bool tail = x->d.part == FAMFS_LOG_PART_TAIL;

	if (!tried)
		snprintf(buf, size, !x->d.both ? "; copy %u is good (--repair "
			 "copies it over)" : tail ? "; the same slot of copy %u "
			 "is bad too (--repair rewrites both)" :
			 "; copy %u is bad too", !x->d.copy);
	else if (x->repair == 1)
		snprintf(buf, size, tail ? " (rewritten from the best tail)" :
			 " (repaired from copy %u)", !x->d.copy);
	else if (x->repair == 2)
		snprintf(buf, size, tail ? " (rewritten when the log was cut)" :
			 " (cut off with the lost records)");
	else
		snprintf(buf, size, x->repair == -EAGAIN ? " (rewritten from copy "
			 "%u, but it still does not verify)" : "; copy %u is bad "
			 "too: not repaired", !x->d.copy);
	return buf;
}

static void damage_text(const char *dev, const struct famfs_fsck_report *rep,
			bool tried)
{
	size_t n = rep->n_damage < FAMFS_FSCK_DAMAGE_MAX ? rep->n_damage :
		   FAMFS_FSCK_DAMAGE_MAX;
	char seq[32], what[128];

	for (size_t i = 0; i < n; i++) {
		const struct famfs_fsck_damage *x = &rep->damage[i];

		snprintf(seq, sizeof(seq), " %" PRIu64, x->d.seq);
		printf("%s: log copy %u %s%s (generation %" PRIu64 ") at log offset "
		       "%" PRIu64 ", pool offset %" PRIu64 ": %s%s\n", dev, x->d.copy,
		       famfs_log_part_name(x->d.part), x->d.part == FAMFS_LOG_PART_HEADER ?
		       "" : seq, rep->info.log_generation, x->d.log_offset,
		       x->pool_offset, x->d.reason,
		       damage_outcome(x, tried, what, sizeof(what)));
	}
	if (rep->n_damage > n)
		printf("%s: and %" PRIu64 " more damaged copies in the log%s\n", dev,
		       rep->n_damage - n, tried ? " (repaired in further rounds "
		       "where the other copy was good)" : "");
}

/* Both copies of a record or item bad: what cannot be replayed, exactly. */
static void lost_text(const char *dev, const struct famfs_fsck_report *rep)
{
	uint64_t from, to, lo, po;

	copy0_offsets(rep, rep->bad_offset, &lo, &po);
	if (rep->where == FAMFS_FSCK_CHECKPOINT) {
		printf("%s: lost: checkpoint item %" PRIu64 " at log offset %" PRIu64
		       ", pool offset %" PRIu64 ": %s, in both copies; generation %"
		       PRIu64 " cannot be replayed from its checkpoint (the items "
		       "from this one on and records %" PRIu64 " to %" PRIu64 "); "
		       "--repair cannot rebuild it (a running master rewrites it "
		       "from its memory)\n", dev, rep->bad_seq, lo, po, rep->reason,
		       rep->info.log_generation, rep->base.seq + 1, rep->tail_seq);
		return;
	}
	if (!famfs_fsck_lost_records(rep, &from, &to))
		return;
	if (to >= from)
		printf("%s: lost: records %" PRIu64 " to %" PRIu64 " (%" PRIu64
		       " records, from log offset %" PRIu64 ", pool offset %" PRIu64
		       ") cannot be replayed in order: record %" PRIu64 ": %s%s; "
		       "the state is as of record %" PRIu64 "\n", dev, from, to,
		       to - from + 1, lo, po, rep->bad_seq, rep->reason,
		       rep->where == FAMFS_FSCK_RECORD ? " in both copies" : "",
		       rep->replayed.seq);
	else
		printf("%s: the log holds bytes after record %" PRIu64 " at log "
		       "offset %" PRIu64 " that no published record accounts for: "
		       "%s\n", dev, rep->replayed.seq, lo, rep->reason);
	if (rep->truncated)
		printf("%s: repaired: the log now ends after record %" PRIu64
		       " in both copies; records %" PRIu64 " to %" PRIu64 " are "
		       "gone\n", dev, rep->replayed.seq, from, to);
	else
		printf("%s: --repair cuts the log after record %" PRIu64 "\n", dev,
		       rep->replayed.seq);
}

static void report_text(const char *dev, const struct famfs_fsck_report *rep,
			bool tried, bool repaired)
{
	static const char copy[2] = { 'A', 'B' };

	for (int i = 0; i < 2; i++)
		if (rep->sb.reason[i])
			printf("%s: superblock copy %c: %s%s\n", dev, copy[i],
			       rep->sb.reason[i],
			       rep->where == FAMFS_FSCK_SUPERBLOCK ? "" :
			       repaired ? " (repaired from the other copy)" :
			       " (the other copy is good; --repair rewrites it)");
	if (rep->lease)
		printf("%s: master lease: %s%s\n", dev, rep->lease,
		       repaired ? " (cleared; the next master takes a new epoch)" :
		       " (--repair clears it)");
	damage_text(dev, rep, tried);
	if (rep->where == FAMFS_FSCK_SUPERBLOCK || rep->where == FAMFS_FSCK_LOG_HEADER ||
	    rep->where == FAMFS_FSCK_TAIL)
		printf("%s: %s: %s\n", dev, famfs_fsck_where_name(rep->where),
		       rep->reason);
	else if (rep->where == FAMFS_FSCK_SEMANTIC)
		printf("%s: %s %" PRIu64 " at offset %" PRIu64 " of the log area: "
		       "%s\n", dev, famfs_fsck_where_name(rep->where), rep->bad_seq,
		       rep->bad_offset, rep->reason);
	else
		lost_text(dev, rep);
	if (rep->where == FAMFS_FSCK_OK || rep->where >= FAMFS_FSCK_CHECKPOINT)
		printf("%s: generation %" PRIu64 ": checkpoint of %" PRIu64
		       " items (%" PRIu64 " bytes) as of record %" PRIu64 ", %"
		       PRIu64 " records after it checked; %" PRIu64 " files, %"
		       PRIu64 " directories, %" PRIu64 " bytes used, %" PRIu64
		       " pending reclaim\n", dev, rep->info.log_generation,
		       rep->base.ckpt_items, rep->base.ckpt_bytes, rep->base.seq,
		       rep->records - rep->base.seq, rep->files, rep->dirs,
		       rep->used_bytes, rep->pending_bytes);
	if (tried)
		printf("%s: %s\n", dev, repaired ? "repaired: a second check finds "
		       "the pool clean" : "a second check still finds errors");
}

/*
 * --repair, with no master running: torn superblock copy rewritten from
 * the good one, a corrupt lease cleared (a master raises its epoch above
 * every record's, so none is reused), then the log (famfs_fsck_repair).
 */
static int repair_findings(struct famfs_pooldev *dev,
			   struct famfs_fsck_report *rep,
			   const struct famfs_cache_ops *ops)
{
	uint8_t *base = famfs_pooldev_base(dev);
	int r = 0;

	if (rep->sb.reason[0] || rep->sb.reason[1])
		famfs_sb_write(base, &rep->info, ops);
	if (rep->lease) {
		memset(base + FAMFS_LEASE_OFFSET, 0, sizeof(struct famfs_lease));
		ops->flush(base + FAMFS_LEASE_OFFSET, sizeof(struct famfs_lease));
		ops->wfence();
	}
	if (rep->where == FAMFS_FSCK_OK || rep->where >= FAMFS_FSCK_CHECKPOINT)
		r = famfs_fsck_repair(base, famfs_pooldev_size(dev), ops, rep);
	/* On a block device the repair is done once written back. */
	return famfs_pooldev_sync(dev) ?: r;
}

/* Whether fsck --repair has anything to do. */
static bool repairable(const struct famfs_fsck_report *rep)
{
	uint64_t from, to;

	return survivable_findings(rep) || famfs_fsck_lost_records(rep, &from, &to);
}

static int cmd_fsck(const struct famfsctl_args *a)
{
	const struct famfsctl_global *g = &a->g;
	const struct famfs_cache_ops *ops = famfs_cache_ops_get(g->coherence);
	struct famfs_fsck_report rep, again;
	struct slot_findings sf, sf_again = { 0 };
	struct famfsctl_roster_findings rf = { 0 }, rf_again = { 0 };
	struct famfs_pooldev *dev;
	bool repair = a->n_opts > 0, tried = false, repaired = false, findings;
	const char *path;
	int r;

	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one DEVICE only" : "no DEVICE");
	path = a->argv[0];
	if (!ops) {
		fprintf(stderr, "famfsctl fsck: this CPU cannot do the cache "
			"maintenance asked for (--coherence)\n");
		return EXIT_OPERATIONAL;
	}
	r = famfs_pooldev_open(path, g->offset, FAMFS_DEV_BLOCK_OK |
			       (repair ? FAMFS_DEV_WRITE : 0), &dev);
	if (r < 0) {
		fprintf(stderr, "famfsctl fsck: failed to open '%s': %s\n",
			path, famfs_pooldev_strerror(r));
		return EXIT_OPERATIONAL;
	}
	r = famfs_fsck(famfs_pooldev_base(dev), famfs_pooldev_size(dev), ops, &rep);
	check_slots(famfs_pooldev_base(dev), ops, &sf);
	if (r != -ENODEV && r != -ENOMEM && rep.where != FAMFS_FSCK_SUPERBLOCK &&
	    famfsctl_fsck_roster(famfs_pooldev_base(dev), ops,
				 rep.info.log_offset, &rf) == -ENOMEM)
		r = -ENOMEM;
	findings = survivable_findings(&rep) || sf.n || rf.n_mend || rf.n_lost;
	if (repair && r != -ENOMEM && (repairable(&rep) || sf.n || rf.n_mend)) {
		tried = true;
		repair_slots(famfs_pooldev_base(dev), ops, &sf);
		famfsctl_fsck_roster_repair(famfs_pooldev_base(dev), ops, &rf);
		repair_findings(dev, &rep, ops);
		/* Only what a second look finds clean counts as repaired. */
		check_slots(famfs_pooldev_base(dev), ops, &sf_again);
		famfsctl_fsck_roster(famfs_pooldev_base(dev), ops,
				     rep.info.log_offset, &rf_again);
		repaired = famfs_fsck(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
				      ops, &again) == 0 && !survivable_findings(&again) &&
			   !sf_again.n && !rf_again.n_mend && !rf_again.n_lost;
	}
	famfs_pooldev_close(dev);
	if (g->json) {
		struct json_object *o = report_json(&rep, r == 0 && !findings, tried,
						    repaired);

		json_object_object_add(o, "election_slot_errors",
				       slots_json(&sf, tried && !sf_again.n));
		json_object_object_add(o, "roster_errors", famfsctl_fsck_roster_json(
				       &rf, tried && !rf_again.n_mend));
		famfsctl_print_json(o);
	} else {
		slots_text(path, &sf, tried && !sf_again.n);
		famfsctl_fsck_roster_text(path, &rf, tried && !rf_again.n_mend);
		report_text(path, &rep, tried, repaired);
	}
	if (r == -ENOMEM)
		return EXIT_OPERATIONAL;
	if (tried)
		return repaired ? EXIT_CORRECTED : EXIT_UNCORRECTED;
	return r < 0 || findings ? EXIT_UNCORRECTED : EXIT_CLEAN;
}

static const struct famfsctl_opt fsck_opts[] = {
	{ "repair", 'r', NULL, "mend damaged copies from the good one, cut lost "
	  "records, clear a bad lease or election slot, mend a roster entry" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_fsck = {
	.name = "fsck",
	.fn = cmd_fsck,
	.operands = "DEVICE",
	.summary = "check a pool: superblocks, lease, election slots, agent roster, both copies of the log",
	.opts = fsck_opts,
	.flags = CMD_JSON | CMD_POOL,
};
