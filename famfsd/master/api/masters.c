// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * GET /v1/masters: the pool's master-capable processes as their election
 * slots say (docs/failover.md), which one is active, and who answers.
 * Served by every master, the standbys too (a client that reached any of
 * them learns where to go). Slots are numbered as --slot numbers them,
 * from 1. The slots are read from the pool at each request, without
 * m->lock: this says what the pool says now, not what this process thinks.
 */
#include <stdlib.h>
#include <string.h>

#include "elect.h"
#include "master/api/api.h"

static const char *state_name(enum famfs_elect_state s)
{
	switch (s) {
	case FAMFS_ELECT_EMPTY:
		break;
	case FAMFS_ELECT_STANDBY:
		return "standby";
	case FAMFS_ELECT_ACTIVE:
		return "active";
	case FAMFS_ELECT_STOPPED:
		return "stopped";
	}
	return "unknown";
}

/* A slot in use, in a state the spec names. */
static bool listed(enum famfs_elect_state s)
{
	return s == FAMFS_ELECT_STANDBY || s == FAMFS_ELECT_ACTIVE ||
	       s == FAMFS_ELECT_STOPPED;
}

/* A lease in seconds, whole where it is whole. */
static struct json_object *lease_json(uint64_t ns)
{
	if (ns % 1000000000ull == 0)
		return json_u64(ns / 1000000000ull);
	return json_object_new_double((double)ns / 1e9);
}

static struct json_object *slot_json(const struct famfs_elect_slot_info *s)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "slot", json_object_new_int((int)s->slot + 1));
	json_object_object_add(o, "state", json_object_new_string(state_name(s->state)));
	json_object_object_add(o, "host", json_object_new_string(s->host));
	json_object_object_add(o, "pid", json_u64(s->pid));
	json_object_object_add(o, "url", s->url[0] ?
			       json_object_new_string(s->url) : NULL);
	json_object_object_add(o, "epoch", json_u64(s->epoch));
	json_object_object_add(o, "epoch_start_seq", json_u64(s->epoch_start_seq));
	json_object_object_add(o, "heartbeat", json_u64(s->heartbeat));
	json_object_object_add(o, "applied_seq", json_u64(s->applied_seq));
	json_object_object_add(o, "lease_seconds", lease_json(s->lease_ns));
	return o;
}

static struct json_object *self_json(struct master *m, int self)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "slot", self >= 0 ?
			       json_object_new_int(self + 1) : NULL);
	json_object_object_add(o, "role", json_object_new_string(
		atomic_load(&m->active) ? "active" : "standby"));
	return o;
}

static struct json_object *masters_json(struct master *m,
					const struct famfs_elect_view *v)
{
	struct json_object *o = json_object_new_object();
	struct json_object *arr = json_object_new_array();

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
		if (v->status[i] == 0 && listed(v->slot[i].state))
			json_object_array_add(arr, slot_json(&v->slot[i]));
	json_object_object_add(o, "masters", arr);
	json_object_object_add(o, "active", v->active >= 0 ?
			       json_object_new_int(v->active + 1) : NULL);
	json_object_object_add(o, "epoch", json_u64(v->epoch));
	json_object_object_add(o, "url", v->active >= 0 && v->url[0] ?
			       json_object_new_string(v->url) : NULL);
	json_object_object_add(o, "self", self_json(m, api_master_self(m, v)));
	return o;
}

enum MHD_Result api_get_masters(struct http_req *rq, const char *arg)
{
	struct famfs_elect_view *v = malloc(sizeof(*v));
	enum MHD_Result ret;
	int r;

	(void)arg;
	if (!v)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	r = api_master_view(rq->m, v);
	if (r < 0)
		ret = http_reply_problem(rq, PROB_INTERNAL, "Failed to read the "
					 "election slots: %s", strerror(-r));
	else
		ret = http_reply_json(rq, 200, masters_json(rq->m, v));
	free(v);
	return ret;
}
