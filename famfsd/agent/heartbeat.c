// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Heartbeat: every second, POST /v1/agents/{agent_id}/heartbeat with the
 * applied sequence, the log generation and the inodes open here (the body
 * keeps agent_id too; the master checks it is the path's). The master uses
 * the sequence and the open inodes to decide when a deleted file's space
 * may be reused, so the report is taken under the state's read lock: an
 * inode opened before a delete was applied is in the table before
 * applied_seq can pass it. It reclaims in its heartbeat handler, so the
 * follower kicks a heartbeat when it applied a delete (the space is then
 * reusable a round trip later, not at the next tick), and when it moved
 * to a new log generation (the master's next compaction waits for every
 * live agent to report it, C0); the last handle on a deleted file kicks
 * one too. Kicks within AGENT_HEARTBEAT_GAP_MS of a heartbeat wait for
 * the gap and coalesce.
 *
 * The heartbeat also carries this host's CXL and dax inventory
 * (agent/devices.c: rescanned when the kernel announces a change) as
 * "devices", but only when the master may not have it: after a change, a
 * failed or refused heartbeat, or a new master epoch.
 *
 * A new master epoch (seen in the pool's election slots by the follower,
 * agent/epoch_fence.c, or in a heartbeat's reply) kicks a heartbeat at
 * once: the new master holds every reclaim back until each agent of the
 * pool's roster has reported to it (master/agents.c).
 *
 * Every heartbeat names the pool its position is in (pool_uuid): a master
 * serving another pool answers 409, one whose own pool changed underneath
 * it 503 fenced, so no master takes a position in one pool for one in
 * another.
 *
 * Replies: 200 carries the master's last sequence (a hint that the
 * follower is behind) and epoch (a change means a new master); 409 means
 * this agent was evicted, or follows another log: it revokes its open
 * handles (keeping its state and position: the log did not change) before
 * it heartbeats (and so registers) again; a 409 because the master serves
 * another pool revokes nothing (other_pool()). Failures are logged once per
 * kind and retried every second.
 *
 * Which master: agent/masters.c (the pool's published address, then the
 * --master list; a standby's 307 followed).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "guard.h"
#include "http/client.h"

#define HB_TIMEOUT_MS	2000L

struct hb {
	struct agent *a;
	char host[256];
	bool ok;			/* last heartbeat was accepted */
	long last_failure;		/* status or -errno last logged */
	uint64_t epoch;			/* master epoch last seen */
	unsigned int wait_revoke;	/* revokes_done value to wait past */
	bool waiting_revoke;
	struct agent_devices *devices;	/* this host's inventory */
	bool devices_sent;		/* the master accepted the last one */
	bool devices_in_body;		/* the body being sent carries it */
};


/*
 * Faults this process met in pool memory (lib/guard.h: the FUSE data path,
 * the log readers), for the master's media_errors; only once there is one.
 */
static void media_errors(struct json_object *o)
{
	struct famfs_guard_stats g;

	famfs_guard_get_stats(&g);
	if (!g.count)
		return;
	json_object_object_add(o, "media_errors", json_object_new_int64((int64_t)g.count));
	json_object_object_add(o, "media_error_offset",
			       json_object_new_int64((int64_t)g.last_off));
	json_object_object_add(o, "media_error_ns",
			       json_object_new_int64((int64_t)g.last_ns));
}

/* The request body; NULL when out of memory. */
static char *build_body(struct hb *hb)
{
	struct agent *a = hb->a;
	struct json_object *o, *arr;
	uint64_t seq, gen, *inos = NULL;
	char pool[37];
	long n;
	char *s = NULL;

	/*
	 * The position and the pool it is a position in, read together: a
	 * master of another pool (formatted anew under one of us) refuses it
	 * rather than take our sequence for one of its own.
	 */
	pthread_rwlock_rdlock(&a->lock);
	seq = a->pos.seq;
	gen = a->generation;
	uuid_unparse_lower(a->pool->info.pool_uuid, pool);
	n = a->o.backend->open_inos(a->be_priv, &inos);
	pthread_rwlock_unlock(&a->lock);
	if (n < 0)
		return NULL;
	o = json_object_new_object();
	arr = json_object_new_array_ext((int)n);
	if (!o || !arr)
		goto out;
	for (long i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_int64((int64_t)inos[i]));
	json_object_object_add(o, "agent_id", json_object_new_string(a->o.agent_id));
	json_object_object_add(o, "host", json_object_new_string(hb->host));
	json_object_object_add(o, "address", json_object_new_string(a->o.address));
	json_object_object_add(o, "applied_seq", json_object_new_int64((int64_t)seq));
	json_object_object_add(o, "open_inos", arr);
	arr = NULL;
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)gen));
	json_object_object_add(o, "pool_uuid", json_object_new_string(pool));
	media_errors(o);
	hb->devices_in_body = false;
	if (agent_devices_json(hb->devices) && !hb->devices_sent) {
		struct json_object *d =
			json_tokener_parse(agent_devices_json(hb->devices));

		if (d) {
			json_object_object_add(o, "devices", d);
			hb->devices_in_body = true;
		}
	}
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
out:
	json_object_put(arr);
	json_object_put(o);
	free(inos);
	return s;
}

static int64_t get_i64(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v))
		return -1;
	return json_object_get_int64(v);
}

/* The "detail" (or "title") of a problem document, for the log. */
static const char *problem_detail(struct json_object *o)
{
	struct json_object *v;

	if (o && (json_object_object_get_ex(o, "detail", &v) ||
		  json_object_object_get_ex(o, "title", &v)))
		return json_object_get_string(v);
	return "no detail";
}

static void on_accepted(struct hb *hb, const char *body, const char *by)
{
	struct agent *a = hb->a;
	struct json_object *o = json_tokener_parse(body);
	int64_t seq = get_i64(o, "seq"), epoch = get_i64(o, "epoch");
	uint64_t applied;

	pthread_rwlock_rdlock(&a->lock);
	applied = a->pos.seq;
	pthread_rwlock_unlock(&a->lock);
	if (!hb->ok)
		msg(MSG_INFO, "heartbeat accepted by %s as '%s': "
			  "master seq %" PRId64 ", epoch %" PRId64 "; applied %"
			  PRIu64, by, a->o.agent_id, seq, epoch,
			  applied);
	else
		msg(MSG_DEBUG, "heartbeat reply: master seq %" PRId64
			  ", epoch %" PRId64 "; applied %" PRIu64, seq, epoch,
			  applied);
	if (hb->devices_in_body)
		hb->devices_sent = true;
	if (epoch > 0 && hb->epoch && (uint64_t)epoch != hb->epoch) {
		msg(MSG_INFO, "master epoch changed from %" PRIu64
			  " to %" PRId64 ": a new master runs", hb->epoch, epoch);
		hb->devices_sent = false;	/* it knows nothing of us */
		/* Our inventory (and position) to it now, not in a second. */
		agent_heartbeat_kick(a);
	}
	if (epoch > 0)
		hb->epoch = (uint64_t)epoch;
	/* The master published more than this agent applied: look now. */
	if (seq > 0 && (uint64_t)seq > applied)
		agent_follow_wake(a);
	hb->ok = true;
	hb->last_failure = 0;
	json_object_put(o);
}

static void on_failure(struct hb *hb, long kind, const char *what)
{
	char url[URL_MAX + 1];

	hb->ok = false;
	hb->devices_sent = false;
	if (hb->last_failure == kind)
		return;
	hb->last_failure = kind;
	msg(MSG_WARN, "heartbeat to %s failed: %s; retrying every "
		  "second", agent_master_current(hb->a, url, sizeof(url)), what);
}

/*
 * 409 because the master serves another pool (master/api/agents.c starts
 * that detail with "pool_uuid:"): nothing here is the master's to revoke.
 * The follower looks at the superblock now (it may be this agent that is
 * behind a reformat); the heartbeat retries every second, logged once.
 */
static bool other_pool(struct hb *hb, struct json_object *o)
{
	const char *d = problem_detail(o);

	if (strncmp(d, "pool_uuid:", 10) != 0)
		return false;
	agent_follow_wake(hb->a);
	on_failure(hb, 4090, d);
	return true;
}

static void on_conflict(struct hb *hb, const char *body)
{
	struct json_object *o = json_tokener_parse(body);

	if (other_pool(hb, o)) {
		json_object_put(o);
		return;
	}
	msg(MSG_WARN, "master answered 409 to the heartbeat (%s): "
		  "evicted, or following another log; revoking open handles "
		  "before registering again",
		  problem_detail(o));
	json_object_put(o);
	hb->ok = false;
	hb->devices_sent = false;
	hb->last_failure = 409;
	hb->wait_revoke = atomic_load(&hb->a->revokes_done);
	hb->waiting_revoke = true;
	agent_follow_request_revoke(hb->a);
}

static void beat(struct hb *hb, struct agent_http *h)
{
	struct agent_http_reply rep;
	char what[512];
	/* The id needs no escaping: A-Z a-z 0-9 . _ : - only (agent_id_valid). */
	char path[sizeof("/v1/agents//heartbeat") + AGENT_ID_MAX];
	char *body;
	int r;

	if (hb->waiting_revoke) {
		if (atomic_load(&hb->a->revokes_done) == hb->wait_revoke)
			return;
		hb->waiting_revoke = false;
	}
	/* A changed inventory goes with this heartbeat. */
	if (agent_devices_update(hb->devices))
		hb->devices_sent = false;
	body = build_body(hb);
	if (!body) {
		on_failure(hb, -ENOMEM, "out of memory");
		return;
	}
	snprintf(path, sizeof(path), "/v1/agents/%s/heartbeat",
		 hb->a->o.agent_id);
	r = agent_master_request(hb->a, h, "POST", path, body, HB_TIMEOUT_MS,
				 &rep);
	free(body);
	if (r == -ECANCELED)
		return;
	if (r < 0) {
		on_failure(hb, r, rep.error);
		return;
	}
	if (rep.status == 200) {
		on_accepted(hb, rep.body, rep.base);
	} else if (rep.status == 409) {
		on_conflict(hb, rep.body);
	} else if (rep.status == 400 && hb->devices_in_body) {
		struct json_object *o = json_tokener_parse(rep.body);

		/* An older master, or one that reads the report differently:
		 * the heartbeat matters more than the inventory. */
		msg(MSG_WARN, "master refused this host's device "
			  "report (%s); heartbeating without it until the "
			  "devices change", problem_detail(o));
		json_object_put(o);
		hb->devices_sent = true;
		agent_heartbeat_kick(hb->a);
	} else if ((rep.status == 401 || rep.status == 403) &&
		   agent_token_refresh(hb->a, h)) {
		agent_heartbeat_kick(hb->a);	/* again now, with it */
	} else {
		struct json_object *o = json_tokener_parse(rep.body);

		snprintf(what, sizeof(what), "HTTP %ld (%s)%s", rep.status,
			 problem_detail(o), rep.status == 401 || rep.status == 403 ?
			 "; check --token/--token-file (an agent or admin token)" : "");
		json_object_put(o);
		on_failure(hb, rep.status, what);
	}
}

static void mono_timespec(uint64_t ns, struct timespec *ret)
{
	ret->tv_sec = (time_t)(ns / 1000000000ull);
	ret->tv_nsec = (long)(ns % 1000000000ull);
}

/*
 * Until the next heartbeat is due: a second after the last one began; a
 * kick, but no sooner than AGENT_HEARTBEAT_GAP_MS after it began; records
 * applied, no sooner than AGENT_HEARTBEAT_SOON_MS after it. Kicks
 * meanwhile coalesce into one: a burst of deletes costs a heartbeat per
 * gap (and per round trip, which the beat itself takes), not one each.
 */
static void wait_next(struct agent *a, uint64_t began)
{
	uint64_t gap_ns = began + AGENT_HEARTBEAT_GAP_MS * 1000000ull;
	uint64_t soon_ns = began + AGENT_HEARTBEAT_SOON_MS * 1000000ull;
	uint64_t tick_ns = began + AGENT_HEARTBEAT_MS * 1000000ull;
	struct timespec until;

	pthread_mutex_lock(&a->wake_lock);
	while (!atomic_load(&a->stop)) {
		uint64_t due = a->hb_kick ? gap_ns : a->hb_soon ? soon_ns :
			       tick_ns;

		if (clock_mono_ns() >= due)
			break;
		mono_timespec(due, &until);
		pthread_cond_timedwait(&a->hb_cond, &a->wake_lock, &until);
	}
	a->hb_kick = false;
	a->hb_soon = false;
	pthread_mutex_unlock(&a->wake_lock);
}

static void *heartbeat_main(void *arg)
{
	struct hb hb = { .a = arg };
	struct agent *a = arg;

	if (gethostname(hb.host, sizeof(hb.host) - 1) < 0 || !hb.host[0])
		strcpy(hb.host, "unknown");
	if (agent_devices_new(&hb.devices) < 0)
		msg(MSG_WARN, "Failed to set up this host's device report: "
			  "out of memory; heartbeating without it");
	while (!atomic_load(&a->stop)) {
		uint64_t began = clock_mono_ns();

		beat(&hb, a->hb_http);
		wait_next(a, began);
	}
	agent_devices_free(hb.devices);
	return NULL;
}

void agent_heartbeat_soon(struct agent *a)
{
	pthread_mutex_lock(&a->wake_lock);
	if (!a->hb_soon && !a->hb_kick) {
		a->hb_soon = true;
		pthread_cond_signal(&a->hb_cond);
	}
	pthread_mutex_unlock(&a->wake_lock);
}

void agent_heartbeat_kick(struct agent *a)
{
	pthread_mutex_lock(&a->wake_lock);
	a->hb_kick = true;
	pthread_cond_signal(&a->hb_cond);
	pthread_mutex_unlock(&a->wake_lock);
}

int agent_heartbeat_start(struct agent *a)
{
	char first[URL_MAX + 1];
	/* Its own URL is a default only: agent_master_request() says where. */
	int r = agent_http_new(agent_master_current(a, first, sizeof(first)),
			       a->o.token, &a->stop, &a->hb_http);

	if (r < 0)
		return r;
	r = pthread_create(&a->heartbeat, NULL, heartbeat_main, a);
	if (r) {
		agent_http_free(a->hb_http);
		a->hb_http = NULL;
		return -r;
	}
	a->heartbeat_started = true;
	return 0;
}

void agent_heartbeat_stop(struct agent *a)
{
	if (!a->heartbeat_started)
		return;
	pthread_mutex_lock(&a->wake_lock);
	pthread_cond_broadcast(&a->hb_cond);
	pthread_mutex_unlock(&a->wake_lock);
	agent_http_wakeup(a->hb_http);
	pthread_join(a->heartbeat, NULL);
	agent_http_free(a->hb_http);
	a->hb_http = NULL;
	a->heartbeat_started = false;
}
