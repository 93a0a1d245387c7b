// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The web pool map's endpoints (docs/ui.md): GET /v1/whoami, GET
 * /v1/pool/map and GET /v1/pool/units/{unit}.
 *
 * The map is made from one snapshot of the data area (master/pool_map.c),
 * cached in m->map until what it shows changes: the records applied, the
 * log generation, the held and the cut bytes. m->map_lock serialises the
 * builds, so a crowd of pages asking at once after a change costs one
 * build, and the state lock is held only for the snapshot's copy. Lock
 * order: m->map_lock, then m->lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/api/api.h"
#include "master/pool_map.h"

enum MHD_Result api_get_whoami(struct http_req *rq, const char *arg)
{
	struct json_object *o = json_object_new_object();
	bool tenant = rq->who->role == AUTH_TENANT;

	(void)arg;
	if (!o)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	json_object_object_add(o, "role", json_object_new_string(
			       auth_role_name(rq->who->role)));
	json_object_object_add(o, "tenant", tenant ?
			       json_object_new_string(rq->who->tenant) : NULL);
	return http_reply_json(rq, 200, o);
}

/* What the snapshot depends on, read under m->lock. */
static void map_key(const struct master *m, struct pool_map_key *ret)
{
	*ret = (struct pool_map_key){
		.seq = m->applied.seq,
		.generation = m->pool->info.log_generation,
		.held_bytes = famfs_alloc_held_bytes(m->st->alloc),
		.cut_bytes = famfs_alloc_cut_bytes(m->st->alloc),
	};
}

static bool key_holds(const struct master *m, const struct pool_map *pm)
{
	struct pool_map_key key;

	map_key(m, &key);
	return !memcmp(&key, &pm->key, sizeof(key));
}

/*
 * The snapshot of the state as it is now, into *ret (valid while
 * m->map_lock is held): the cached one while its key holds, else a new
 * one, copied under m->lock (taken here) and finished outside it. Its
 * room is allocated between two holds of the lock, sized by the files
 * then (a file has one extent mostly; more grow under the lock).
 */
static int map_snapshot(struct master *m, struct pool_map **ret)
{
	struct pool_map_key key;
	struct pool_map *pm;
	uint64_t files;
	int err;

	master_lock(m);
	if (m->map && key_holds(m, m->map)) {
		master_unlock(m);
		*ret = m->map;
		return 0;
	}
	files = m->st->files;
	master_unlock(m);
	err = pool_map_new(files + files / 64, &pm);
	if (err)
		return err;
	master_lock(m);
	map_key(m, &key);
	err = pool_map_collect(pm, m->st, &key);
	master_unlock(m);
	if (!err)
		err = pool_map_finish(pm);
	if (err) {
		pool_map_put(pm);
		return err;
	}
	atomic_fetch_add(&m->map_builds, 1);
	atomic_store(&m->map_lock_ns, pm->lock_ns);
	atomic_store(&m->map_build_ns, pm->build_ns);
	pool_map_put(m->map);
	m->map = pm;
	*ret = pm;
	return 0;
}

/* A reference to the snapshot of now, for use without any lock. */
static int map_get(struct master *m, struct pool_map **ret)
{
	struct pool_map *pm;
	int err;

	pthread_mutex_lock(&m->map_lock);
	err = map_snapshot(m, &pm);
	if (!err)
		*ret = pool_map_get(pm);
	pthread_mutex_unlock(&m->map_lock);
	return err;
}

/* A tenant token's view is its tenant's; NULL: the admin's. */
static const char *view_tenant(const struct http_req *rq)
{
	return rq->who->role == AUTH_TENANT ? rq->who->tenant : NULL;
}

enum MHD_Result api_get_pool_map(struct http_req *rq, const char *arg)
{
	struct master_why w = { { 0 } };
	struct pool_map_cells c = { 0 };
	struct pool_map_view v = { 0 };
	struct pool_map *pm = NULL;
	uint64_t n;
	size_t len;
	char *buf;
	int err;

	(void)arg;
	err = api_query_uint(rq, "cells", 65536, 1, 1u << 20, &n, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	err = map_get(rq->m, &pm);
	if (!err)
		err = pool_map_view_init(&v, pm, view_tenant(rq));
	if (!err)
		err = pool_map_cells(&v, n, &c);
	if (!err)
		err = pool_map_json(&v, &c, &buf, &len);
	pool_map_cells_free(&c);
	pool_map_view_free(&v);
	pool_map_put(pm);
	if (err)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	return http_reply_text(rq, 200, "application/json", buf, len);
}

/* The unit of /v1/pool/units/{unit}: decimal digits, a 64-bit number. */
static int unit_arg(const char *arg, uint64_t *ret, struct master_why *w)
{
	uint64_t v = 0;

	if (!*arg)
		goto bad;
	for (const char *p = arg; *p; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (*p < '0' || *p > '9' || v > (UINT64_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
bad:
	master_why_set(w, "unit: must be a unit index (decimal digits)");
	return -EINVAL;
}

/*
 * Whether the snapshot's file item is the state's: the node exists, is a
 * file and one of its extents holds the item's first unit. The key held,
 * so it always is; checked anyway, as a stale entry must never name a
 * wrong file. (m->lock held)
 */
static const struct famfs_node *item_node(struct master *m,
					  const struct pool_map *pm,
					  const struct pool_map_item *it)
{
	const struct famfs_node *n = famfs_ns_get(m->st->ns, it->ino);
	uint64_t at = pm->data_offset + it->first * pm->alloc_unit;

	if (!n || famfs_node_is_dir(n))
		return NULL;
	for (uint32_t i = 0; i < n->n_extents; i++) {
		const struct famfs_extent *e = &famfs_node_extents(n)[i];

		if (e->offset <= at && at < e->offset + e->len)
			return n;
	}
	return NULL;
}

/*
 * A tenant token sees paths at or below /TENANT only (docs/master.md,
 * "Tokens"): an admin may charge a file elsewhere to its tenant, and then
 * the item says whose units they are but not where the file is.
 */
static bool path_shown(const char *tenant, const char *path)
{
	size_t tl = tenant ? strlen(tenant) : 0;

	return !tenant || (path[0] == '/' && !strncmp(path + 1, tenant, tl) &&
			   (path[tl + 1] == '\0' || path[tl + 1] == '/'));
}

static void add_file(struct master *m, const struct pool_map_view *v,
		     const struct famfs_node *n, struct json_object *o)
{
	char path[FAMFS_PATH_MAX + 2];

	if (famfs_ns_path(n, path, sizeof(path)) < 0 || !path_shown(v->tenant, path))
		return;
	json_object_object_add(o, "file", api_node_json(m, n, path, true));
}

/* One item's object, or NULL when the state disagrees. (m->lock held) */
static struct json_object *item_json(struct master *m,
				     const struct pool_map_view *v,
				     const struct pool_map_item *it)
{
	struct json_object *o = json_object_new_object(), *x;
	const struct famfs_pending *p;
	const struct famfs_node *n;

	json_object_object_add(o, "first_unit", json_u64(it->first));
	json_object_object_add(o, "units", json_u64(it->units));
	json_object_object_add(o, "kind", json_object_new_string(
			       pool_map_kind_name(it->cls)));
	if (it->cls == POOL_CLASS_PENDING) {
		p = famfs_state_pending_find(m->st, it->ino);
		if (!p)
			goto stale;
		x = json_object_new_object();
		json_object_object_add(x, "ino", json_u64(p->ino));
		json_object_object_add(x, "delete_seq", json_u64(p->delete_seq));
		json_object_object_add(x, "bytes", json_u64(p->bytes));
		json_object_object_add(o, "pending", x);
	} else if (it->cls == POOL_CLASS_UNTENANTED ||
		   it->cls >= POOL_CLASS_TENANT) {
		n = item_node(m, v->pm, it);
		if (!n)
			goto stale;
		if (it->cls >= POOL_CLASS_TENANT)
			json_object_object_add(o, "tenant", json_object_new_string(
				v->tenant ? v->tenant :
				v->pm->tenants[it->cls - POOL_CLASS_TENANT]));
		add_file(m, v, n, o);
	}
	return o;
stale:
	json_object_put(o);
	return NULL;
}

/* The reply's items under m->lock; -ESTALE when the state disagrees. */
static int items_json(struct master *m, const struct pool_map_view *v,
		      const struct pool_map_item *it, size_t n,
		      struct json_object *items)
{
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = item_json(m, v, &it[i]);

		if (!o)
			return -ESTALE;
		json_object_array_add(items, o);
	}
	return 0;
}

/*
 * Builds the units reply from the snapshot of now, resolving files and
 * pending entries under m->lock with the key still holding: a snapshot
 * that went stale meanwhile is rebuilt (a few times at most, then 409:
 * the pool changes faster than the map can follow).
 */
static int units_reply(struct master *m, const char *tenant, uint64_t unit,
		       uint64_t count, struct json_object *o,
		       struct master_why *w)
{
	struct pool_map_item it[POOL_MAP_ITEMS_MAX];
	struct json_object *items = NULL;
	struct pool_map_view v = { 0 };
	int err = -ESTALE;

	pthread_mutex_lock(&m->map_lock);
	for (int tries = 0; tries < 4 && err == -ESTALE; tries++) {
		struct pool_map *pm;
		bool truncated;
		size_t n;

		pool_map_view_free(&v);
		json_object_put(items);
		items = NULL;
		err = map_snapshot(m, &pm);
		if (!err)
			err = pool_map_view_init(&v, pm, tenant);
		if (err)
			break;
		if (unit >= pm->units) {
			master_why_set(w, "unit %" PRIu64 " is past the data area "
				       "(%" PRIu64 " units)", unit, pm->units);
			err = -ENOENT;
			break;
		}
		n = pool_map_items(&v, unit, count, it, &truncated);
		items = json_object_new_array();
		master_lock(m);
		err = key_holds(m, pm) ? items_json(m, &v, it, n, items) : -ESTALE;
		master_unlock(m);
		json_object_object_add(o, "seq", json_u64(pm->key.seq));
		json_object_object_add(o, "truncated",
				       json_object_new_boolean(truncated));
	}
	pool_map_view_free(&v);
	pthread_mutex_unlock(&m->map_lock);
	if (err == -ESTALE)
		master_why_set(w, "the pool changed while its map was read; retry");
	if (err) {
		json_object_put(items);
		return err;
	}
	json_object_object_add(o, "items", items);
	return 0;
}

enum MHD_Result api_get_pool_units(struct http_req *rq, const char *arg)
{
	struct master_why w = { { 0 } };
	struct json_object *o;
	uint64_t unit, count;
	int err;

	err = unit_arg(arg, &unit, &w);
	if (!err)
		err = api_query_uint(rq, "count", 1, 1, 1u << 20, &count, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	o = json_object_new_object();
	if (!o)
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	err = units_reply(rq->m, view_tenant(rq), unit, count, o, &w);
	if (err) {
		json_object_put(o);
		if (err == -ENOMEM)
			return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
		return api_reply_err(rq, err, &w);
	}
	return http_reply_json(rq, 200, o);
}
