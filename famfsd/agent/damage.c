// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Damage the agent's log reader finds. The library hands every bad copy of
 * a header line, tail slot, checkpoint item or record it reads past to the
 * log's damage hook (log.h, R3) and reads the other copy; the master finds
 * the same damage with its scrub and repairs it (agents only read), so the
 * agent only says where, once per place.
 *
 * A report waits until the follow step ends and is logged only if the
 * superblock still names the generation it was found in. A generation's
 * areas are reused two compactions later: an agent that was stopped
 * meanwhile reads the new contents as corruption (record CRCs are seeded
 * by the generation), which is no damage. That reuse begins only once the
 * superblock names the next generation (C0 of the compaction after it), so
 * a report on the generation the superblock names after the read is real.
 * A bad tail slot is logged only if it is still bad when read again: the
 * master rewrites a slot at every publish (P4), and a read across that
 * write sees a torn slot, the previous tail in the other slot still whole.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

#define DAMAGE_PENDING	16	/* reports kept per follow step */
#define DAMAGE_SEEN	64	/* places remembered as logged */

/* The hook's context: which generation a log object reads. */
struct damage_watch {
	struct agent *a;
	uint64_t generation;
};

struct damage_found {
	struct famfs_log_damage d;	/* reason: the library's static text */
	uint64_t generation;
};

/* A place once logged: a generation, a part, a copy, a log offset. */
struct damage_key {
	uint64_t generation, log_offset;
	unsigned int part, copy;
};

struct agent_damage {
	/* The follower holds at most two logs: the one followed, the next. */
	struct damage_watch watch[2];
	struct damage_found found[DAMAGE_PENDING];
	unsigned int n_found, n_lost;
	struct damage_key seen[DAMAGE_SEEN];
	unsigned int n_seen, next_seen;
};

int agent_damage_new(struct agent *a)
{
	a->damage = calloc(1, sizeof(*a->damage));
	return a->damage ? 0 : -ENOMEM;
}

void agent_damage_free(struct agent *a)
{
	free(a->damage);
	a->damage = NULL;
}

static void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct damage_watch *w = ctx;
	struct agent_damage *ad = w->a->damage;

	if (ad->n_found == DAMAGE_PENDING) {
		ad->n_lost++;
		return;
	}
	ad->found[ad->n_found++] = (struct damage_found){
		.d = *d, .generation = w->generation,
	};
}

void agent_damage_watch(struct agent *a, struct famfs_log *log)
{
	struct agent_damage *ad = a->damage;
	uint64_t gen = famfs_log_generation(log);
	struct damage_watch *w;

	/*
	 * The slot of this generation if one has it (a pool formatted anew
	 * starts at generation 1 again: the same context), else the one that
	 * is not the followed generation's: its log was replaced, or was
	 * discarded before this one was opened.
	 */
	if (ad->watch[0].generation == gen)
		w = &ad->watch[0];
	else if (ad->watch[1].generation == gen)
		w = &ad->watch[1];
	else
		w = &ad->watch[ad->watch[0].generation == a->generation];
	w->a = a;
	w->generation = gen;
	famfs_log_set_damage_hook(log, on_damage, w);
}

static bool seen(struct agent_damage *ad, const struct damage_found *f)
{
	struct damage_key k = {
		.generation = f->generation, .log_offset = f->d.log_offset,
		.part = f->d.part, .copy = f->d.copy,
	};

	for (unsigned int i = 0; i < ad->n_seen; i++)
		if (!memcmp(&ad->seen[i], &k, sizeof(k)))
			return true;
	ad->seen[ad->next_seen] = k;
	ad->next_seen = (ad->next_seen + 1) % DAMAGE_SEEN;
	if (ad->n_seen < DAMAGE_SEEN)
		ad->n_seen++;
	return false;
}

/* A tail slot found bad is still bad on a second read of the tail. */
static bool tail_still_bad(struct agent *a, const struct famfs_log_damage *d)
{
	const char *why[FAMFS_LOG_TAIL_SLOTS];
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;

	(void)famfs_log_read_tail(a->pool->log, &tail, &lerr);
	famfs_log_tail_status(a->pool->log, why);
	return why[d->copy * 2 + (d->seq & 1)] != NULL;
}

static void log_one(const struct damage_found *f)
{
	const struct famfs_log_damage *d = &f->d;
	char what[64] = "";

	if (d->part != FAMFS_LOG_PART_HEADER)
		snprintf(what, sizeof(what), " %" PRIu64, d->seq);
	msg(MSG_WARN, "log damage in generation %" PRIu64 ": copy %u of %s%s "
	    "at log offset %" PRIu64 " (body offset %" PRIu64 "): %s; %s",
	    f->generation, d->copy, famfs_log_part_name(d->part), what, d->log_offset,
	    d->offset, d->reason, d->both ? "the other copy is bad too" :
	    "read from the other copy (the master repairs it)");
}

void agent_damage_flush(struct agent *a)
{
	struct agent_damage *ad = a->damage;
	struct famfs_pool_info info;
	struct famfs_sb_status sbs;
	unsigned int n = ad->n_found, lost = ad->n_lost, reused = 0;

	if (!n)
		return;
	ad->n_found = ad->n_lost = 0;
	if (famfs_sb_load(a->pool->base, a->pool->size, a->ops, &info, &sbs) < 0)
		return;
	for (unsigned int i = 0; i < n; i++) {
		const struct damage_found *f = &ad->found[i];

		if (f->generation != info.log_generation) {
			reused++;
			continue;
		}
		if (f->d.part == FAMFS_LOG_PART_TAIL &&
		    (f->generation != a->generation || !tail_still_bad(a, &f->d)))
			continue;
		if (!seen(ad, f))
			log_one(f);
	}
	if (reused)
		msg(MSG_DEBUG, "%u bad cop%s found in a log generation the "
		    "superblock no longer names (now %" PRIu64 "): its areas "
		    "were being reused, not damage", reused, reused > 1 ? "ies" : "y",
		    info.log_generation);
	if (lost)
		msg(MSG_WARN, "log damage: %u more damaged copies found in one "
		    "follow step, not listed", lost);
}
