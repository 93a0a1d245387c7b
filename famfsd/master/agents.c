// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Agents as they report themselves through heartbeats: replay position,
 * open inodes, liveness. Hosts are few, so a sorted array does.
 * Everything here runs under m->lock.
 *
 * Who they are also goes into the pool's agent roster (lib/roster.h,
 * docs/failover.md): the active master writes an agent's entry before it
 * acknowledges the agent's first heartbeat, and marks it evicted before it
 * answers an eviction. A new master (a failover, a restart) loads the
 * roster at takeover: every agent in it that is not evicted becomes an
 * "unreported" agent that holds every reclaim back until it heartbeats to
 * this master or is evicted. So no agent that a master ever acknowledged
 * can lose the space it may still use to a reclaim across a failover.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/master.h"
#include "roster.h"

struct master_agents {
	struct master_agent **v;	/* sorted by id */
	size_t n, cap;
	struct famfs_roster *roster;	/* the pool's as we wrote it; NULL: none */
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
	famfs_roster_free(a->roster);
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
	if (ag->unreported)
		return "unreported";
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
		/* From the roster: where it is and what it holds is unknown. */
		if (ag->unreported)
			return true;
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

/* ---- the roster ---------------------------------------------------------- */

/* Right before each roster store (R-W1, R-W2): still the writer? */
static int roster_gate(void *ctx)
{
	return master_may_write(ctx);
}

/*
 * Writes ag's roster entry as state, through master_may_write() before
 * each copy. 0 without a roster (the grace after a start covers that
 * case, master_agents_takeover()). -ENOSPC full, -ESHUTDOWN fenced, -EIO.
 */
static int roster_write(struct master *m, struct master_agent *ag,
			enum famfs_roster_state state, struct master_why *w)
{
	struct famfs_roster *r = m->agents->roster;
	uint64_t seq = famfs_log_published(m->pool->log).seq;
	int i = ag->roster_index, err;

	if (!r)
		return 0;
	if (i < 0)
		i = famfs_roster_find(r, ag->id);
	/* An eviction never takes an index: it must work on a full roster. */
	if (i < 0 && state == FAMFS_ROSTER_EVICTED)
		return 0;
	if (i >= 0)
		err = famfs_roster_set(r, m->pool->base, m->pool->ops,
				       (unsigned int)i, ag->id, ag->host, state,
				       m->epoch, seq, roster_gate, m);
	else
		err = i = famfs_roster_put(r, m->pool->base, m->pool->ops,
					   ag->id, ag->host, state, m->epoch,
					   seq, roster_gate, m);
	if (err >= 0) {
		ag->roster_index = i;
		return 0;
	}
	if (err == -ENOSPC) {
		master_why_set(w, "the agent roster is full: %u agents that are "
			       "not evicted are in it; evict one that is gone "
			       "(DELETE /v1/agents/{agent_id}) before agent %s "
			       "can register", FAMFS_ROSTER_ENTRIES, ag->id);
		return -ENOSPC;
	}
	if (err == -ESHUTDOWN) {
		master_why_set(w, "the master is fenced: %s",
			       m->fenced ? m->fenced : "not the pool's writer");
		return -ESHUTDOWN;
	}
	master_why_set(w, "could not write agent %s into the roster: %s",
		       ag->id, strerror(-err));
	return -EIO;
}

/* A table entry for an agent that has not reported to this master yet. */
static int add_unreported(struct master *m, const char *id, const char *host,
			  unsigned int index)
{
	struct master_agent *ag = master_agents_find(m->agents, id);
	int err;

	if (ag) {
		ag->roster_index = (int)index;
		return 0;
	}
	ag = calloc(1, sizeof(*ag));
	if (!ag)
		return -ENOMEM;
	snprintf(ag->id, sizeof(ag->id), "%s", id);
	snprintf(ag->host, sizeof(ag->host), "%s", host);
	ag->unreported = true;
	ag->roster_index = (int)index;
	err = agents_insert(m->agents, ag);
	if (err < 0)
		agent_free(ag);
	return err;
}

/*
 * An index whose both copies are bad may have named an agent that holds
 * space: it stands in the table as roster-lost-N, unreported, until an
 * admin evicts it (which writes the index whole again).
 */
static int add_lost(struct master *m, unsigned int i)
{
	char id[32];

	snprintf(id, sizeof(id), "roster-lost-%u", i);
	msg(MSG_ERR, "Agent roster entry %u is damaged in both copies: an "
	    "agent this master cannot name may hold pool space; reclaim waits "
	    "until %s is evicted (DELETE /v1/agents/%s) once no host uses "
	    "files deleted before now", i, id, id);
	return add_unreported(m, id, "", i);
}

/* Fills the table from the roster; *ret_used: entries in it. */
static int roster_takeover(struct master *m, unsigned int *ret_used)
{
	struct master_agents *a = m->agents;
	struct famfs_roster *r = NULL;
	unsigned int n = 0;
	int err;

	if (!famfs_roster_fits(m->pool->info.log_offset))
		return -EMSGSIZE;
	err = famfs_roster_load(m->pool->base, m->pool->ops, &r);
	if (err < 0)
		return err;
	famfs_roster_free(a->roster);
	a->roster = r;
	if (famfs_roster_to_mend(r)) {
		err = famfs_roster_mend(r, m->pool->base, m->pool->ops,
					roster_gate, m);
		if (err < 0)
			msg(MSG_WARN, "Failed to mend the agent roster's bad "
			    "copies: %s, ignoring", strerror(-err));
		else
			msg(MSG_WARN, "agent roster: %d entries had a bad copy, "
			    "rewritten from the good one", err);
	}
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		const struct famfs_roster_info *e = famfs_roster_get(r, i);

		if (famfs_roster_health(r, i) == FAMFS_ROSTER_H_LOST)
			err = add_lost(m, i);
		else if (e)
			err = add_unreported(m, e->id, e->host, i);
		else
			continue;
		if (err < 0)
			return err;
		/*
		 * Evicted stays evicted: its next heartbeat is refused once
		 * (409), so it drops what it held before it registers again.
		 */
		if (e && e->state == FAMFS_ROSTER_EVICTED) {
			struct master_agent *ag = master_agents_find(a, e->id);

			ag->evicted = true;
			ag->unreported = false;
		}
		n++;
	}
	*ret_used = n;
	return 0;
}

int master_agents_takeover(struct master *m)
{
	unsigned int n = 0;
	int err;

	master_lock(m);
	err = roster_takeover(m, &n);
	/*
	 * The roster says who may hold space, so the grace's guess (agents
	 * heartbeat within it) is not needed: reclaim waits for exactly
	 * those. An empty roster keeps the grace: a pool used before the
	 * roster existed has agents nobody wrote down.
	 */
	if (err == 0 && n > 0)
		m->reclaim_after_ns = 0;
	master_unlock(m);
	if (err == -EMSGSIZE)
		msg(MSG_WARN, "agent roster: the pool's log starts at %llu, "
		    "inside the roster's area: reclaim after a start waits "
		    "--reclaim-grace-ms for agents to heartbeat instead",
		    (unsigned long long)m->pool->info.log_offset);
	else if (err < 0)
		msg(MSG_ERR, "Failed to load the agent roster: %s; reclaim "
		    "after a start waits --reclaim-grace-ms for agents to "
		    "heartbeat instead", strerror(-err));
	else if (n)
		msg(MSG_INFO, "agent roster: %u agent(s) in it; those not "
		    "evicted hold reclaim back until they heartbeat to this "
		    "master or are evicted", n);
	return err == -EMSGSIZE ? 0 : err;
}

/* ---- heartbeats and eviction ---------------------------------------------- */

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
		memcpy(ag->host, report->host, sizeof(ag->host));
		ag->roster_index = -1;
		/* In the pool before the 200: protected from this beat on. */
		err = roster_write(m, ag, FAMFS_ROSTER_LIVE, w);
		if (err < 0) {
			agent_free(ag);
			free(open_inos);
			return err;
		}
		err = agents_insert(m->agents, ag);
		if (err < 0) {
			agent_free(ag);
			free(open_inos);
			master_why_set(w, "out of memory");
			return err;
		}
	}
	/* Known from before the roster could be read: written down now. */
	if (ag->roster_index < 0 && m->agents->roster) {
		err = roster_write(m, ag, FAMFS_ROSTER_LIVE, w);
		if (err < 0) {
			free(open_inos);
			return err;
		}
	}
	if (ag->unreported) {
		msg(MSG_INFO, "agent %s reported to this master (applied seq "
		    "%llu)", ag->id, (unsigned long long)report->applied_seq);
		ag->unreported = false;
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
		/* In the pool before the answer: no later master waits for it. */
		int err = roster_write(m, ag, FAMFS_ROSTER_EVICTED, w);

		if (err < 0)
			return err;
		ag->evicted = true;
		ag->unreported = false;
		master_reclaim(m);
	}
	*ret = ag;
	return 0;
}
