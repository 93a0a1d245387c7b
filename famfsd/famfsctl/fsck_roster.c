// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsck of the agent roster (docs/failover.md, "Agent roster"): each entry
 * as a new master would load it. One bad copy is mended from the good one
 * (--repair, R-W1 then R-W2, as a master mends it at takeover). Both
 * copies bad cannot be mended: the entry may have named an agent that
 * holds pool space, so fsck only says so; a master holds reclaim for it
 * as agent roster-lost-N until an admin evicts that.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "famfsctl.h"
#include "roster.h"

/*
 * A running master may be writing an entry: a store in flight settles
 * within microseconds, so what is still bad after a few loads spread over
 * 30 ms is damaged (or torn by a master that died writing it).
 */
static int load_settled(const uint8_t *base, const struct famfs_cache_ops *ops,
			struct famfs_roster **ret)
{
	struct timespec pause = { .tv_nsec = 10 * 1000000L };
	int r = famfs_roster_load(base, ops, ret);

	for (int t = 0; t < 3 && r == 0; t++) {
		bool bad = false;

		for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
			bad = bad || famfs_roster_health(*ret, i) >= FAMFS_ROSTER_H_MEND;
		if (!bad)
			break;
		famfs_roster_free(*ret);
		*ret = NULL;
		nanosleep(&pause, NULL);
		r = famfs_roster_load(base, ops, ret);
	}
	return r;
}

int famfsctl_fsck_roster(const uint8_t *base, const struct famfs_cache_ops *ops,
			 uint64_t log_offset, struct famfsctl_roster_findings *ret)
{
	struct famfs_roster *r = NULL;
	int err;

	memset(ret, 0, sizeof(*ret));
	/* An older layout has no room for a roster: nothing to check. */
	if (!famfs_roster_fits(log_offset))
		return 0;
	err = load_settled(base, ops, &r);
	if (err < 0)
		return err;
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		enum famfs_roster_health h = famfs_roster_health(r, i);

		ret->health[i] = (uint8_t)h;
		ret->n_mend += h == FAMFS_ROSTER_H_MEND;
		ret->n_lost += h == FAMFS_ROSTER_H_LOST;
	}
	famfs_roster_free(r);
	return 0;
}

int famfsctl_fsck_roster_repair(uint8_t *base, const struct famfs_cache_ops *ops,
				const struct famfsctl_roster_findings *rf)
{
	struct famfs_roster *r = NULL;
	int err;

	if (!rf->n_mend)
		return 0;
	err = famfs_roster_load(base, ops, &r);
	if (err < 0)
		return err;
	/* No master runs (--repair's rule): nothing else writes the roster. */
	err = famfs_roster_mend(r, base, ops, NULL, NULL);
	famfs_roster_free(r);
	return err < 0 ? err : 0;
}

static const char *problem(uint8_t health)
{
	return health == FAMFS_ROSTER_H_LOST ?
	       "both copies bad: it may have named an agent that holds pool "
	       "space" : "one copy bad, the other good";
}

struct json_object *famfsctl_fsck_roster_json(const struct famfsctl_roster_findings *rf,
					      bool mended)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		struct json_object *o;

		if (rf->health[i] < FAMFS_ROSTER_H_MEND)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int((int)i));
		json_object_object_add(o, "lost", json_object_new_boolean(
				       rf->health[i] == FAMFS_ROSTER_H_LOST));
		json_object_object_add(o, "reason", json_object_new_string(
				       problem(rf->health[i])));
		json_object_object_add(o, "mended", json_object_new_boolean(
				       mended && rf->health[i] == FAMFS_ROSTER_H_MEND));
		json_object_array_add(a, o);
	}
	return a;
}

void famfsctl_fsck_roster_text(const char *dev,
			       const struct famfsctl_roster_findings *rf,
			       bool mended)
{
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		uint8_t h = rf->health[i];

		if (h == FAMFS_ROSTER_H_MEND)
			printf("%s: agent roster entry %u: %s%s\n", dev, i,
			       problem(h), mended ? " (mended from the good copy)" :
			       " (--repair mends it; so does the next master)");
		else if (h == FAMFS_ROSTER_H_LOST)
			printf("%s: agent roster entry %u: %s (a master holds "
			       "reclaim for it as agent roster-lost-%u until an "
			       "admin evicts it: famfsctl agents --evict roster-lost-%u)\n",
			       dev, i, problem(h), i, i);
	}
}
