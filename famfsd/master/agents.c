// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Agents as they report themselves through heartbeats: replay position,
 * open inodes, liveness. Kept in memory only; after a master restart the
 * table refills as heartbeats arrive (reclaim waits out a grace period for
 * that, see master/reclaim.c). Hosts are few, so a sorted array does.
 * Everything here runs under m->lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/master.h"

struct master_agents {
	struct master_agent **v;	/* sorted by id */
	size_t n, cap;
};

int master_agents_new(struct master_agents **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

static void agent_free(struct master_agent *ag)
{
	if (!ag)
		return;
	free(ag->open_inos);
	free(ag->devices);
	free(ag);
}

void master_agents_free(struct master_agents *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		agent_free(a->v[i]);
	free(a->v);
	free(a);
}

size_t master_agents_count(const struct master_agents *a)
{
	return a->n;
}

struct master_agent *master_agents_at(const struct master_agents *a, size_t i)
{
	return i < a->n ? a->v[i] : NULL;
}

/* Index of id, or where it would go (*found says which). */
static size_t search(const struct master_agents *a, const char *id, bool *found)
{
	size_t lo = 0, hi = a->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(a->v[mid]->id, id);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

struct master_agent *master_agents_find(const struct master_agents *a,
					const char *id)
{
	bool found;
	size_t i = search(a, id, &found);

	return found ? a->v[i] : NULL;
}

static void agents_remove(struct master_agents *a, const char *id)
{
	bool found;
	size_t i = search(a, id, &found);

	if (!found)
		return;
	agent_free(a->v[i]);
	memmove(&a->v[i], &a->v[i + 1], (a->n - i - 1) * sizeof(*a->v));
	a->n--;
}

static int agents_insert(struct master_agents *a, struct master_agent *ag)
{
	bool found;
	size_t i = search(a, ag->id, &found);

	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 8;
		struct master_agent **v = realloc(a->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	memmove(&a->v[i + 1], &a->v[i], (a->n - i) * sizeof(*a->v));
	a->v[i] = ag;
	a->n++;
	return 0;
}

const char *master_agent_state(const struct master *m,
			       const struct master_agent *ag, uint64_t mono_ns)
{
	if (ag->evicted)
		return "evicted";
	if (mono_ns - ag->last_heartbeat_mono >
	    (uint64_t)m->cfg.agent_timeout_s * 1000000000ull)
		return "stale";
	return "live";
}

static bool has_ino(const struct master_agent *ag, uint64_t ino)
{
	size_t lo = 0, hi = ag->n_open;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ag->open_inos[mid] == ino)
			return true;
		if (ag->open_inos[mid] < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

bool master_agents_hold(const struct master_agents *a, uint64_t ino,
			uint64_t delete_seq)
{
	/* A stale agent still holds: it may be alive behind a broken link. */
	for (size_t i = 0; i < a->n; i++) {
		const struct master_agent *ag = a->v[i];

		if (ag->evicted)
			continue;
		if (ag->applied_seq < delete_seq || has_ino(ag, ino))
			return true;
	}
	return false;
}

bool master_agents_have_open(const struct master_agents *a, uint64_t ino)
{
	for (size_t i = 0; i < a->n; i++)
		if (!a->v[i]->evicted && has_ino(a->v[i], ino))
			return true;
	return false;
}

uint64_t master_agents_min_applied(const struct master_agents *a)
{
	uint64_t min = UINT64_MAX;

	for (size_t i = 0; i < a->n; i++)
		if (!a->v[i]->evicted && a->v[i]->applied_seq < min)
			min = a->v[i]->applied_seq;
	return min;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int master_heartbeat(struct master *m, const struct master_agent *report,
		     uint64_t *open_inos, size_t n_open, struct master_why *w)
{
	struct master_agent *ag = master_agents_find(m->agents, report->id);
	uint64_t last = famfs_log_published(m->pool->log).seq;
	int err;

	if (ag && ag->evicted) {
		agents_remove(m->agents, report->id);
		free(open_inos);
		master_why_set(w, "agent %s was evicted: drop every handle and "
			       "mapping of pool files before heartbeating "
			       "again", report->id);
		return -ESTALE;
	}
	if (report->applied_seq > last) {
		free(open_inos);
		master_why_set(w, "applied_seq %llu is past the log's last "
			       "record %llu: the agent follows another pool or "
			       "log", (unsigned long long)report->applied_seq,
			       (unsigned long long)last);
		return -ERANGE;
	}
	if (!ag) {
		ag = calloc(1, sizeof(*ag));
		if (!ag) {
			free(open_inos);
			master_why_set(w, "out of memory");
			return -ENOMEM;
		}
		memcpy(ag->id, report->id, sizeof(ag->id));
		err = agents_insert(m->agents, ag);
		if (err < 0) {
			agent_free(ag);
			free(open_inos);
			master_why_set(w, "out of memory");
			return err;
		}
	}
	memcpy(ag->host, report->host, sizeof(ag->host));
	memcpy(ag->address, report->address, sizeof(ag->address));
	ag->applied_seq = report->applied_seq;
	if (ag->generation != report->generation)
		master_compact_poke(m);	/* C0 may wait for this one */
	ag->generation = report->generation;
	ag->last_heartbeat_ns = clock_real_ns();
	ag->last_heartbeat_mono = clock_mono_ns();
	qsort(open_inos, n_open, sizeof(*open_inos), cmp_u64);
	free(ag->open_inos);
	ag->open_inos = open_inos;
	ag->n_open = n_open;
	master_reclaim(m);
	return 0;
}

int master_evict(struct master *m, const char *id,
		 struct master_agent **ret, struct master_why *w)
{
	struct master_agent *ag = master_agents_find(m->agents, id);

	if (!ag) {
		master_why_set(w, "agent %s is not known", id);
		return -ENOENT;
	}
	if (!ag->evicted) {
		ag->evicted = true;
		master_reclaim(m);
	}
	*ret = ag;
	return 0;
}

/* A stand-in until the agent roster lands (issue 15, helper "roster"). */
int master_agents_takeover(struct master *m)
{
	(void)m;
	return 0;
}
