// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "common/clock.h"
#include "elect.h"
#include "roster.h"
#include "famfsctl.h"
#include "fsck.h"
#include "lease.h"

static struct json_object *lease_json(const struct famfs_lease_info *l, int r)
{
	struct json_object *o = json_object_new_object();

	/* The lease holds CLOCK_REALTIME times (famfsd_format.h). */
	json_object_object_add(o, "state", json_object_new_string(
		r == 0 ? (famfs_lease_live(l, clock_real_ns()) ? "held" : "expired") :
		r == -ENOENT ? "never held" : "corrupt"));
	if (r < 0)
		return o;
	json_object_object_add(o, "epoch", json_object_new_int64((int64_t)l->epoch));
	json_object_object_add(o, "host", json_object_new_string(l->host));
	json_object_object_add(o, "pid", json_object_new_int64(l->pid));
	json_object_object_add(o, "released", json_object_new_boolean(l->released));
	json_object_object_add(o, "renewed_ns",
			       json_object_new_int64((int64_t)l->renewed_ns));
	return o;
}

static const char *slot_state_name(const struct famfs_elect_view *v, unsigned int i)
{
	static const char *const names[] = { "empty", "standby", "active", "stopped" };

	if (v->status[i] == -EUCLEAN)
		return "unreadable";
	if (v->status[i] == -EIO)
		return "faulting";
	if ((int)i == v->active)
		return "active";
	/* ACTIVE below the highest epoch: a master that has not noticed yet. */
	if (v->slot[i].state == FAMFS_ELECT_ACTIVE)
		return "superseded";
	return names[v->slot[i].state];
}

/*
 * The used election slots (docs/failover.md). Heartbeats say nothing
 * about liveness by themselves: only watching them change does.
 */
static struct json_object *masters_json(const struct famfs_elect_view *v)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		const struct famfs_elect_slot_info *x = &v->slot[i];
		struct json_object *o;

		if (v->status[i] == -ENOENT)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "slot", json_object_new_int((int)i));
		json_object_object_add(o, "state", json_object_new_string(
				       slot_state_name(v, i)));
		json_object_array_add(a, o);
		if (v->status[i])
			continue;
		json_object_object_add(o, "host", json_object_new_string(x->host));
		json_object_object_add(o, "pid", json_object_new_int64(x->pid));
		json_object_object_add(o, "epoch", json_object_new_int64((int64_t)x->epoch));
		json_object_object_add(o, "epoch_start_seq",
				       json_object_new_int64((int64_t)x->epoch_start_seq));
		json_object_object_add(o, "applied_seq",
				       json_object_new_int64((int64_t)x->applied_seq));
		json_object_object_add(o, "heartbeat",
				       json_object_new_int64((int64_t)x->heartbeat));
		json_object_object_add(o, "url", json_object_new_string(x->url));
		json_object_object_add(o, "lease_ns",
				       json_object_new_int64((int64_t)x->lease_ns));
	}
	return a;
}

static const char *roster_state_name(const struct famfs_roster *r,
				     unsigned int i)
{
	const struct famfs_roster_info *e = famfs_roster_get(r, i);

	if (famfs_roster_health(r, i) == FAMFS_ROSTER_H_LOST)
		return "lost";
	return e->state == FAMFS_ROSTER_LIVE ? "live" : "evicted";
}

/*
 * The agent roster (docs/failover.md): every entry in use, as a new master
 * would load it. "lost": both copies bad (it holds reclaim as
 * roster-lost-N); "mend": one copy bad, the next takeover rewrites it.
 * NULL when the pool has no room for a roster.
 */
static struct json_object *roster_json(struct famfs_pool *pool)
{
	struct famfs_roster *r = NULL;
	struct json_object *a;

	if (!famfs_roster_fits(pool->info.log_offset) ||
	    famfs_roster_load(pool->base, pool->ops, &r) < 0)
		return NULL;
	a = json_object_new_array();
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		enum famfs_roster_health h = famfs_roster_health(r, i);
		const struct famfs_roster_info *e = famfs_roster_get(r, i);
		struct json_object *o;

		if (h == FAMFS_ROSTER_H_EMPTY)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int((int)i));
		json_object_object_add(o, "state", json_object_new_string(
				       roster_state_name(r, i)));
		if (e) {
			json_object_object_add(o, "agent_id",
					       json_object_new_string(e->id));
			json_object_object_add(o, "host",
					       json_object_new_string(e->host));
			json_object_object_add(o, "epoch",
					       json_object_new_int64((int64_t)e->epoch));
			json_object_object_add(o, "seq",
					       json_object_new_int64((int64_t)e->seq));
		}
		json_object_object_add(o, "mend", json_object_new_boolean(
				       h == FAMFS_ROSTER_H_MEND));
		json_object_array_add(a, o);
	}
	famfs_roster_free(r);
	return a;
}

/*
 * One line per row of a: "PREFIX.N  state key=value ...", N the row's
 * id_key (a roster entry's index, a master's slot), lease_ns in seconds.
 */
static void rows_text(struct json_object *a, const char *prefix,
		      const char *id_key)
{
	size_t n = a ? json_object_array_length(a) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(a, i), *v;
		char name[32];

		json_object_object_get_ex(o, id_key, &v);
		snprintf(name, sizeof(name), "%s.%d", prefix, json_object_get_int(v));
		json_object_object_get_ex(o, "state", &v);
		printf("%-16s %s", name, json_object_get_string(v));
		json_object_object_foreach(o, key, val) {
			if (!strcmp(key, id_key) || !strcmp(key, "state"))
				continue;
			if (!strcmp(key, "lease_ns"))
				printf(" lease=%.3fs", (double)json_object_get_int64(val) / 1e9);
			else
				printf(" %s=%s", key, json_object_get_string(val));
		}
		printf("\n");
	}
}

/*
 * The current generation: its checkpoint, how full it is, and how many
 * damaged copies a verify of both copies finds (famfsctl fsck names them).
 * tail NULL: unreadable, no records counted.
 */
static void log_json(struct json_object *o, struct famfs_pool *pool,
		     const struct famfs_log_pos *tail)
{
	struct famfs_log_base b = famfs_log_base(pool->log);
	uint64_t cap = famfs_log_capacity(pool->log), used = tail ? tail->end : 0;
	uint64_t last = tail ? tail->seq : 0;
	char fill[32];

	snprintf(fill, sizeof(fill), "%.1f", cap ? 100.0 * (double)used / (double)cap : 0);
	json_object_object_add(o, "log_capacity", json_object_new_int64((int64_t)cap));
	json_object_object_add(o, "log_used", json_object_new_int64((int64_t)used));
	json_object_object_add(o, "log_fill_percent",
			       json_object_new_double_s(atof(fill), fill));
	json_object_object_add(o, "last_seq", json_object_new_int64((int64_t)last));
	json_object_object_add(o, "base_seq", json_object_new_int64((int64_t)b.seq));
	json_object_object_add(o, "log_records", json_object_new_int64(
			       (int64_t)(last > b.seq ? last - b.seq : 0)));
	json_object_object_add(o, "checkpoint_items",
			       json_object_new_int64((int64_t)b.ckpt_items));
	json_object_object_add(o, "checkpoint_bytes",
			       json_object_new_int64((int64_t)b.ckpt_bytes));
	json_object_object_add(o, "log_damage", json_object_new_int64((int64_t)
			       famfs_fsck_count_damage(pool->base, &pool->info,
						       pool->ops, tail)));
}

/* "key   value", the value as famfsctl_int_str writes integers. */
static void print_field(const char *prefix, const char *key,
			struct json_object *val, bool human)
{
	char k[FAMFSCTL_STR_MAX], v[FAMFSCTL_STR_MAX], name[64];

	snprintf(name, sizeof(name), "%s%s", prefix, famfsctl_key_str(key, human, k));
	printf("%-16s %s\n", name, json_object_is_type(val, json_type_int) ?
	       famfsctl_int_str(key, json_object_get_int64(val), human, v) :
	       json_object_get_string(val));
}

static int cmd_info(const struct famfsctl_args *a)
{
	const struct famfsctl_global *g = &a->g;
	_cleanup_pool_ struct famfs_pool *pool = NULL;
	struct famfs_log_pos tail = { 0 };
	struct famfs_log_error lerr;
	struct famfs_lease_info lease;
	struct famfs_elect_view view;
	struct json_object *o, *lo, *ma, *ro;
	int lr, tr;

	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one DEVICE only" : "no DEVICE");
	if (famfsctl_open_pool(a->argv[0], g, false, &pool) < 0)
		return EXIT_OPERATIONAL;
	tr = famfs_log_read_tail(pool->log, &tail, &lerr);
	if (tr < 0)
		fprintf(stderr, "famfsctl info: log tail: %s\n", lerr.reason);
	lr = famfs_lease_read(pool->base, pool->ops, &lease);

	o = famfsctl_info_json(&pool->info);
	log_json(o, pool, tr == 0 ? &tail : NULL);
	json_object_object_add(o, "cache_ops", json_object_new_string(pool->ops->name));
	lo = lease_json(&lease, lr);
	json_object_object_add(o, "master_lease", lo);
	ma = json_object_new_array();
	if (famfs_elect_view(pool->base, pool->ops, &view) == 0) {
		json_object_put(ma);
		ma = masters_json(&view);
		json_object_object_add(o, "active_master_slot", view.active < 0 ? NULL :
				       json_object_new_int(view.active));
		json_object_object_add(o, "highest_epoch",
				       json_object_new_int64((int64_t)view.highest_epoch));
	}
	json_object_object_add(o, "masters", ma);
	ro = roster_json(pool);
	json_object_object_add(o, "agent_roster", ro);
	if (g->json) {
		famfsctl_print_json(o);
		return EXIT_CLEAN;
	}
	json_object_object_foreach(o, key, val)
		if (val != lo && val != ma && val != ro && val)
			print_field("", key, val, g->human);
	json_object_object_foreach(lo, lkey, lval)
		print_field("lease.", lkey, lval, g->human);
	rows_text(ma, "master", "slot");
	rows_text(ro, "agent", "index");
	json_object_put(o);
	return EXIT_CLEAN;
}

const struct famfsctl_cmd famfsctl_info = {
	.name = "info",
	.fn = cmd_info,
	.operands = "DEVICE",
	.summary = "a pool's superblock, log, lease, election slots, agent roster",
	.flags = CMD_JSON | CMD_HUMAN | CMD_POOL,
};
