// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "famfsctl.h"
#include "fsck.h"

/* Findings the pool survives: torn copies and slots, a corrupt lease. */
static bool survivable_findings(const struct famfs_fsck_report *rep)
{
	if (rep->where == FAMFS_FSCK_SUPERBLOCK)
		return false;
	for (unsigned int i = 0; i < FAMFS_LOG_TAIL_SLOTS; i++)
		if (rep->tail_slot[i])
			return true;
	return rep->sb.reason[0] || rep->sb.reason[1] || rep->lease;
}

static struct json_object *list_json(const char *const *why, int n)
{
	struct json_object *a = json_object_new_array();

	for (int i = 0; i < n; i++)
		json_object_array_add(a, why[i] ? json_object_new_string(why[i]) :
				      NULL);
	return a;
}

static struct json_object *report_json(const struct famfs_fsck_report *rep,
				       bool clean, bool repaired)
{
	struct json_object *o = json_object_new_object();
	struct json_object *sb = list_json(rep->sb.reason, 2);

	json_object_object_add(o, "clean", json_object_new_boolean(clean));
	json_object_object_add(o, "repaired", json_object_new_boolean(repaired));
	json_object_object_add(o, "superblock_errors", sb);
	json_object_object_add(o, "tail_slot_errors", list_json(rep->tail_slot, FAMFS_LOG_TAIL_SLOTS));
	json_object_object_add(o, "lease_error", rep->lease ?
			       json_object_new_string(rep->lease) : NULL);
	json_object_object_add(o, "records",
			       json_object_new_int64((int64_t)rep->records));
	json_object_object_add(o, "tail_seq",
			       json_object_new_int64((int64_t)rep->tail_seq));
	json_object_object_add(o, "log_used",
			       json_object_new_int64((int64_t)rep->log_used));
	json_object_object_add(o, "files", json_object_new_int64((int64_t)rep->files));
	json_object_object_add(o, "dirs", json_object_new_int64((int64_t)rep->dirs));
	json_object_object_add(o, "used_bytes",
			       json_object_new_int64((int64_t)rep->used_bytes));
	json_object_object_add(o, "pending_reclaim_bytes",
			       json_object_new_int64((int64_t)rep->pending_bytes));
	if (rep->where != FAMFS_FSCK_OK) {
		json_object_object_add(o, "error_in",
			json_object_new_string(famfs_fsck_where_name(rep->where)));
		json_object_object_add(o, "error_record",
				       json_object_new_int64((int64_t)rep->bad_seq));
		json_object_object_add(o, "error_offset",
				       json_object_new_int64((int64_t)rep->bad_offset));
		json_object_object_add(o, "error",
			json_object_new_string(rep->reason ? rep->reason : ""));
	}
	return o;
}

static void report_text(const char *dev, const struct famfs_fsck_report *rep,
			bool repaired)
{
	static const char copy[2] = { 'A', 'B' };

	for (int i = 0; i < 2; i++)
		if (rep->sb.reason[i])
			printf("%s: superblock copy %c: %s%s\n", dev, copy[i],
			       rep->sb.reason[i],
			       rep->where == FAMFS_FSCK_SUPERBLOCK ? "" :
			       repaired ? " (repaired from the other copy)" :
			       " (the other copy is good; --repair rewrites it)");
	for (unsigned int i = 0; i < FAMFS_LOG_TAIL_SLOTS; i++)
		if (rep->tail_slot[i])
			printf("%s: log copy %u tail slot %u: %s%s\n", dev, i / 2, i % 2,
			       rep->tail_slot[i], repaired ?
			       " (rewritten from the other slot)" :
			       " (the previous tail is used; --repair rewrites the slot)");
	if (rep->lease)
		printf("%s: master lease: %s%s\n", dev, rep->lease,
		       repaired ? " (cleared; the next master takes a new epoch)" :
		       " (--repair clears it)");
	if (rep->where == FAMFS_FSCK_SUPERBLOCK || rep->where == FAMFS_FSCK_LOG_HEADER)
		printf("%s: %s: %s\n", dev, famfs_fsck_where_name(rep->where),
		       rep->reason);
	else if (rep->where != FAMFS_FSCK_OK)
		printf("%s: %s %" PRIu64 " at log offset %" PRIu64 ": %s\n", dev,
		       famfs_fsck_where_name(rep->where), rep->bad_seq,
		       rep->bad_offset, rep->reason);
	if (rep->where == FAMFS_FSCK_OK || rep->where >= FAMFS_FSCK_RECORD)
		printf("%s: %" PRIu64 " records checked, %" PRIu64 " files, %"
		       PRIu64 " directories, %" PRIu64 " bytes used, %" PRIu64
		       " pending reclaim\n", dev, rep->records, rep->files,
		       rep->dirs, rep->used_bytes, rep->pending_bytes);
}

/*
 * --repair, with no master running: torn superblock copy rewritten from
 * the good one, torn tail slot from the good slot, a corrupt lease cleared
 * (a master raises its epoch above every record's, so none is reused).
 */
static int repair_findings(struct famfs_pooldev *dev,
			   const struct famfs_fsck_report *rep,
			   const struct famfs_cache_ops *ops)
{
	uint8_t *base = famfs_pooldev_base(dev);
	struct famfs_log_error lerr;
	struct famfs_log *log;
	int r = 0;

	if (rep->sb.reason[0] || rep->sb.reason[1])
		famfs_sb_write(base, &rep->info, ops);
	if (rep->lease) {
		memset(base + FAMFS_LEASE_OFFSET, 0, sizeof(struct famfs_lease));
		ops->flush(base + FAMFS_LEASE_OFFSET, sizeof(struct famfs_lease));
		ops->wfence();
	}
	if (survivable_findings(rep)) {
		r = famfs_log_open(base + rep->info.log_offset, rep->info.log_size,
				   rep->info.log_generation, ops, &log, &lerr);
		if (r == 0) {
			r = famfs_log_repair_tail(log);
			famfs_log_free(log);
		}
	}
	/* On a block device the repair is done once written back. */
	return r < 0 ? r : famfs_pooldev_sync(dev);
}

static int cmd_fsck(const struct famfsctl_args *a)
{
	const struct famfsctl_global *g = &a->g;
	const struct famfs_cache_ops *ops = famfs_cache_ops_get(g->coherence);
	struct famfs_pooldev *dev;
	struct famfs_fsck_report rep;
	bool repair = a->n_opts > 0, repaired = false, findings;	/* --repair */
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
	findings = survivable_findings(&rep);
	if (repair && findings)
		repaired = repair_findings(dev, &rep, ops) == 0;
	famfs_pooldev_close(dev);
	if (g->json)
		famfsctl_print_json(report_json(&rep, r == 0 && !findings, repaired));
	else
		report_text(path, &rep, repaired);
	if (r == -ENOMEM)
		return EXIT_OPERATIONAL;
	if (r < 0)
		return EXIT_UNCORRECTED;
	if (findings)
		return repaired ? EXIT_CORRECTED : EXIT_UNCORRECTED;
	return EXIT_CLEAN;
}

static const struct famfsctl_opt fsck_opts[] = {
	{ "repair", 'r', NULL, "mend torn copies, clear a bad lease" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_fsck = {
	.name = "fsck",
	.fn = cmd_fsck,
	.operands = "DEVICE",
	.summary = "check a pool: superblocks, lease, log, every record",
	.opts = fsck_opts,
	.flags = CMD_JSON | CMD_POOL,
};
