// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A standby master's answer to the API (docs/failover.md, "Finding the
 * active master"): every /v1/ request but GET /v1/masters and GET
 * /v1/pool goes to the active master as a 307 with the same path and
 * query, so a client sends the same method and body there; those two,
 * /healthz and /metrics stay local (they describe this process). The web
 * page under /ui goes there as well. When it cannot name one (no slot is active, the
 * active one advertises no address, or the address is this master's own,
 * which would loop, or the active one has not renewed its lease for longer
 * than a live master would) it answers 503 not-active with Retry-After: 1
 * and a detail naming the state.
 *
 * The decision to redirect is taken once the headers are in
 * (http/server.c), so the body is dropped rather than stored; where to is
 * read from the pool's election slots when the reply is made. While no
 * master is active the decision waits a little (settle()): at a master's
 * start, or during its takeover, a request is then served by it rather
 * than refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/url_list.h"
#include "elect.h"
#include "master/api/api.h"

/*
 * What a standby answers itself under /v1/ (GET and HEAD): where the
 * masters are, and the pool as this process sees it (its role, slot and
 * how far it followed: master/api/pool.c), as /metrics does. Everything
 * else there is the active master's to answer, so a client reads what it
 * wrote (a standby's state lags the log).
 */
static const char *const local_paths[] = { "/v1/masters", "/v1/pool" };

static bool served_here(const char *method, const char *path)
{
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return false;
	for (size_t i = 0; i < sizeof(local_paths) / sizeof(local_paths[0]); i++)
		if (!strcmp(path, local_paths[i]))
			return true;
	return false;
}

/*
 * No other master is active, but one may be in a moment: this one (its
 * takeover under way, or its first election at start) or another. Waits
 * up to STANDBY_SETTLE_MS for that, rather than answer 503 to a request
 * that arrives just before: true when this master became active, false
 * when another is or none yet. Blocks an HTTP thread for that long at
 * most, only while no master is active, and never all of them: a flood
 * during an election is answered 503 at once by the others (and /healthz
 * keeps answering).
 */
#define STANDBY_SETTLE_MS	1000u
#define STANDBY_SETTLE_STEP_MS	10u

static atomic_uint settling;		/* HTTP threads in settle() */

static bool settle(struct master *m)
{
	struct timespec step = { .tv_nsec = STANDBY_SETTLE_STEP_MS * 1000000L };
	unsigned int may = m->cfg.http_threads > 1 ? m->cfg.http_threads - 1 : 0;
	struct famfs_elect_view *v;
	bool active = false;

	if (atomic_fetch_add(&settling, 1) >= may) {
		atomic_fetch_sub(&settling, 1);
		return atomic_load(&m->active);
	}
	v = malloc(sizeof(*v));

	for (unsigned int waited = 0; v; waited += STANDBY_SETTLE_STEP_MS) {
		int self;

		if ((active = atomic_load(&m->active)))
			break;
		if (api_master_view(m, v) < 0)
			break;
		self = api_master_self(m, v);
		if ((v->active >= 0 && v->active != self) ||
		    waited >= STANDBY_SETTLE_MS)
			break;
		nanosleep(&step, NULL);
	}
	free(v);
	atomic_fetch_sub(&settling, 1);
	return active;
}

/*
 * The web page (/ui, /ui/...) goes to the active master too: loaded from
 * there, its API calls are same-origin (its Content-Security-Policy allows
 * no other), so it shows the active master's state.
 */
static bool of_the_page(const char *path)
{
	return strncmp(path, "/ui", 3) == 0 && (path[3] == '\0' || path[3] == '/');
}

bool api_standby_redirects(const struct http_req *rq)
{
	if (atomic_load(&rq->m->active))
		return false;
	if (strncmp(rq->path, "/v1/", 4) != 0 && !of_the_page(rq->path))
		return false;
	if (served_here(rq->method, rq->path))
		return false;
	return !settle(rq->m);
}

int api_master_view(struct master *m, struct famfs_elect_view *ret)
{
	/* The pool is opened before the server starts and closed after it
	 * stops; m->elect is not needed to read the slots. */
	if (!m->pool || !m->pool->base)
		return -ENOENT;
	return famfs_elect_view(m->pool->base, m->pool->ops, ret);
}

int api_master_self(const struct master *m, const struct famfs_elect_view *v)
{
	uint32_t pid = (uint32_t)getpid();

	/* --slot N is slot N - 1, ours alone. */
	if (m->cfg.slot >= 1 && m->cfg.slot <= FAMFS_ELECT_SLOTS)
		return (int)m->cfg.slot - 1;
	/* Else the slot that carries our pid and host name (what
	 * famfs_elect_new() was given). */
	for (int i = 0; i < (int)FAMFS_ELECT_SLOTS; i++)
		if (v->status[i] == 0 && v->slot[i].pid == pid &&
		    !strcmp(v->slot[i].host, m->host))
			return i;
	return -1;
}

uint64_t api_standby_quiet_ns(uint64_t lease_ns)
{
	return lease_ns / 4 * 3 / 2;
}

int api_standby_target(const struct famfs_elect_view *v, int self,
		       const char *self_url, uint64_t quiet_ns, char *url,
		       size_t url_size, char *why, size_t why_size)
{
	int a = v->active;

	if (a < 0 || a >= (int)FAMFS_ELECT_SLOTS) {
		snprintf(why, why_size, "no master is active: an election is in "
			 "progress");
		return -EAGAIN;
	}
	if (a == self) {
		snprintf(why, why_size, "this master (slot %d) is taking over or "
			 "stepping down: no master serves yet", a + 1);
		return -EAGAIN;
	}
	if (!v->url[0]) {
		snprintf(why, why_size, "the active master, slot %d on host %s, "
			 "advertises no address", a + 1, v->host);
		return -EAGAIN;
	}
	if (self_url && self_url[0] && url_same(v->url, self_url)) {
		snprintf(why, why_size, "the active master, slot %d on host %s, "
			 "advertises this master's own address %s", a + 1,
			 v->host, v->url);
		return -EAGAIN;
	}
	if (quiet_ns > api_standby_quiet_ns(v->slot[a].lease_ns)) {
		snprintf(why, why_size, "the active master, slot %d on host %s, "
			 "has not renewed its lease for %.1f s (paused or dead; "
			 "an election follows when its lease of %.1f s ends)",
			 a + 1, v->host, quiet_ns / 1e9, v->slot[a].lease_ns / 1e9);
		return -EAGAIN;
	}
	if (strlen(v->url) >= url_size)
		return -ENAMETOOLONG;
	memcpy(url, v->url, strlen(v->url) + 1);
	return 0;
}

int master_active_url(struct master *m, char *buf, size_t len)
{
	struct famfs_elect_view *v = malloc(sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	r = api_master_view(m, v);
	if (r == 0 && (v->active < 0 || !v->url[0]))
		r = -ENOENT;
	else if (r == 0 && strlen(v->url) >= len)
		r = -ENAMETOOLONG;
	if (r == 0)
		memcpy(buf, v->url, strlen(v->url) + 1);
	free(v);
	return r;
}

/*
 * How long the active slot's heartbeat has been seen unchanged, on this
 * process's monotonic clock, between the requests that read it (never
 * longer than it really was: a first sight counts as a change). One
 * master per process: the one watch is this file's.
 */
static struct {
	pthread_mutex_t lock;
	int slot;
	uint64_t epoch, heartbeat;
	uint64_t since_ns;		/* CLOCK_MONOTONIC it was first seen */
} quiet = { PTHREAD_MUTEX_INITIALIZER, -1, 0, 0, 0 };

static uint64_t quiet_for(const struct famfs_elect_view *v)
{
	const struct famfs_elect_slot_info *s;
	uint64_t now = clock_mono_ns(), ret = 0;

	if (v->active < 0)
		return 0;
	s = &v->slot[v->active];
	pthread_mutex_lock(&quiet.lock);
	if (quiet.slot == v->active && quiet.epoch == s->epoch &&
	    quiet.heartbeat == s->heartbeat) {
		ret = now - quiet.since_ns;
	} else {
		quiet.slot = v->active;
		quiet.epoch = s->epoch;
		quiet.heartbeat = s->heartbeat;
		quiet.since_ns = now;
	}
	pthread_mutex_unlock(&quiet.lock);
	return ret;
}

/* rq's 307 to base + its raw path and query. */
static enum MHD_Result redirect(struct http_req *rq, const char *base,
				const struct famfs_elect_view *v)
{
	enum MHD_Result ret;
	char *loc;

	if (asprintf(&loc, "%s%s%s%s", base, rq->path, rq->query ? "?" : "",
		     rq->query ? rq->query : "") < 0)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	ret = http_reply_redirect(rq, loc, "this master is a standby; the "
				  "active master is slot %d on host %s at %s",
				  v->active + 1, v->host, base);
	free(loc);
	return ret;
}

enum MHD_Result api_reply_standby(struct http_req *rq)
{
	struct famfs_elect_view *v = malloc(sizeof(*v));
	char url[FAMFS_URL_MAX + 1], why[512];
	const char *own;
	enum MHD_Result ret;
	int r, self;

	if (!v)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	r = api_master_view(rq->m, v);
	if (r < 0) {
		ret = http_reply_problem(rq, PROB_NOT_ACTIVE, "this master is a "
					 "standby and cannot read the election "
					 "slots: %s", strerror(-r));
		free(v);
		return ret;
	}
	self = api_master_self(rq->m, v);
	/* What we publish, else what we were told to. */
	own = self >= 0 && v->status[self] == 0 && v->slot[self].url[0] ?
	      v->slot[self].url : rq->m->cfg.advertise;
	r = api_standby_target(v, self, own, quiet_for(v), url, sizeof(url),
			       why, sizeof(why));
	if (r == 0)
		ret = redirect(rq, url, v);
	else
		ret = http_reply_problem(rq, PROB_NOT_ACTIVE, "%s", why);
	free(v);
	return ret;
}
