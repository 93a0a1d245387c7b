// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Change feed: a long poll on the master's GET /v1/log?after=SEQ&wait=30
 * that returns as soon as a record past SEQ is published. The feed is only
 * a wake-up: the follower reads the records from the pool itself, so a lost
 * or late reply costs at most one --poll-ms period, never correctness.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <time.h>

#include "agent/agent.h"
#include "http/client.h"

/* Sleeps ms, or less when the agent stops. */
static void nap(struct agent *a, unsigned int ms)
{
	struct timespec step = { 0, 50 * 1000000L };

	for (unsigned int t = 0; t < ms && !atomic_load(&a->stop); t += 50)
		nanosleep(&step, NULL);
}

static uint64_t applied_seq(struct agent *a, uint64_t *ret_gen)
{
	uint64_t seq;

	pthread_rwlock_rdlock(&a->lock);
	seq = a->pos.seq;
	*ret_gen = a->generation;
	pthread_rwlock_unlock(&a->lock);
	return seq;
}

static int64_t get_i64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return -1;
	return json_object_get_int64(v);
}

static void *feed_main(void *arg)
{
	struct agent *a = arg;
	uint64_t gen, after = applied_seq(a, &gen), t0;
	long last_failure = 0;
	char path[96];

	while (!atomic_load(&a->stop)) {
		struct agent_http_reply rep;
		struct json_object *o;
		int64_t last, g;
		uint64_t applied;
		bool news;
		int r;

		snprintf(path, sizeof(path), "/v1/log?after=%" PRIu64 "&wait=%d",
			 after, AGENT_FEED_WAIT_S);
		t0 = clock_mono_ns();
		r = agent_master_request(a, a->feed_http, "GET", path, NULL,
					 (AGENT_FEED_WAIT_S + 5) * 1000L, &rep);
		if (r == -ECANCELED)
			break;
		if (r == 0 && (rep.status == 401 || rep.status == 403) &&
		    agent_token_refresh(a, a->feed_http))
			continue;	/* ask again with the new token */
		if (r < 0 || rep.status != 200) {
			long kind = r < 0 ? r : rep.status;
			char what[320];

			if (r < 0)
				snprintf(what, sizeof(what), "%s", rep.error);
			else
				snprintf(what, sizeof(what), "HTTP %ld%s",
					 rep.status, rep.status == 401 ||
					 rep.status == 403 ? " (check the token)" : "");
			if (kind != last_failure)
				msg(MSG_WARN, "change feed from %s "
					  "failed: %s; polling the pool tail every "
					  "%u ms meanwhile", rep.base[0] ? rep.base :
					  a->o.master_url, what,
					  a->o.poll_ms);
			last_failure = kind;
			nap(a, 1000);
			continue;
		}
		if (last_failure)
			msg(MSG_INFO, "change feed from %s is back",
				  rep.base);
		last_failure = 0;
		o = json_tokener_parse(rep.body);
		last = get_i64(o, "last_seq");
		g = get_i64(o, "generation");
		json_object_put(o);
		applied = applied_seq(a, &gen);
		news = (last >= 0 && (uint64_t)last > after) ||
		       (g >= 0 && (uint64_t)g != gen);
		if ((last >= 0 && (uint64_t)last > applied) ||
		    (g >= 0 && (uint64_t)g != gen))
			agent_follow_wake(a);
		if (g >= 0 && (uint64_t)g != gen) {
			/* A new generation: its sequence may start over. */
			after = last >= 0 ? (uint64_t)last : 0;
		} else {
			/* Ask for what comes after what the master announced. */
			if (last >= 0 && (uint64_t)last > after)
				after = (uint64_t)last;
			if (after < applied)
				after = applied;
		}
		/*
		 * An instant empty reply means the master is behind this
		 * agent's view (another log?) or does not wait: do not spin.
		 */
		if (!news && clock_mono_ns() - t0 < 100000000ull)
			nap(a, 1000);
	}
	return NULL;
}

int agent_feed_start(struct agent *a)
{
	char first[URL_MAX + 1];
	/* Its own URL is a default only: agent_master_request() says where. */
	int r = agent_http_new(agent_master_current(a, first, sizeof(first)),
			       a->o.token, &a->stop, &a->feed_http);

	if (r < 0)
		return r;
	r = pthread_create(&a->feed, NULL, feed_main, a);
	if (r) {
		agent_http_free(a->feed_http);
		a->feed_http = NULL;
		return -r;
	}
	a->feed_started = true;
	return 0;
}

void agent_feed_stop(struct agent *a)
{
	if (!a->feed_started)
		return;
	agent_http_wakeup(a->feed_http);
	pthread_join(a->feed, NULL);
	agent_http_free(a->feed_http);
	a->feed_http = NULL;
	a->feed_started = false;
}
