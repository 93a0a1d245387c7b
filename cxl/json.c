// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * JSON: one *_to_json per object, field names as `cxl list`, `daxctl
 * list` and `ndctl list` print them (memdev, serial, ram_size, region,
 * interleave_ways, chardev, align, mode, target_node, ...), unknown values
 * left out. "region" always names a CXL region; a namespace's libnvdimm
 * region is "nd_region".
 *
 * famfs_cxl_inventory_check() holds the same shape as tables: the master
 * stores an agent's report only when it has exactly this shape, so what it
 * serves always matches api/openapi.yaml (DeviceInventory).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "private.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
	if (v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_int(struct json_object *o, const char *k, int v)
{
	json_object_object_add(o, k, json_object_new_int(v));
}

static void add_uuid(struct json_object *o, const char *k, const uint8_t u[16])
{
	char s[37];

	uuid_unparse_lower(u, s);
	add_str(o, k, s);
}

/* The memdevs behind a CXL region, by interleave position. */
static struct json_object *region_memdevs(struct famfs_cxl_region *r)
{
	struct json_object *a = json_object_new_array();

	for (unsigned int i = 0; r && i < CXL_MAX_WAYS; i++)
		if (r->target[i])
			json_object_array_add(a, json_object_new_string(
						      r->target[i]->devname));
	return a;
}

static struct json_object *memdev_to_json(struct famfs_cxl_memdev *m)
{
	struct json_object *o = json_object_new_object();
	struct json_object *regions = json_object_new_array();
	struct famfs_cxl_region *r;

	add_str(o, "memdev", m->devname);
	add_u64(o, "serial", m->serial);
	add_str(o, "host", m->host);
	add_u64(o, "ram_size", m->ram_size);
	add_u64(o, "pmem_size", m->pmem_size);
	if (m->numa_node >= 0)
		add_int(o, "numa_node", m->numa_node);
	if (!m->enabled)
		add_str(o, "state", "disabled");
	famfs_cxl_region_foreach(m->ctx, r)
		if (famfs_cxl_region_has_memdev(r, m))
			json_object_array_add(regions, json_object_new_string(r->devname));
	json_object_object_add(o, "regions", regions);
	return o;
}

static struct json_object *region_to_json(struct famfs_cxl_region *r)
{
	struct json_object *o = json_object_new_object();
	struct json_object *maps = json_object_new_array();

	add_str(o, "region", r->devname);
	if (r->has_uuid)
		add_uuid(o, "uuid", r->uuid);
	add_str(o, "type", r->mode);
	if (r->resource != UINT64_MAX)
		add_u64(o, "resource", r->resource);
	add_u64(o, "size", r->size);
	add_int(o, "interleave_ways", (int)r->ways);
	add_int(o, "interleave_granularity", (int)r->granularity);
	add_str(o, "decode_state", r->committed ? "commit" : "reset");
	if (!r->enabled)
		add_str(o, "state", "disabled");
	for (unsigned int i = 0; i < CXL_MAX_WAYS; i++) {
		struct json_object *m;

		if (!r->target[i] && !r->target_decoder[i])
			continue;
		m = json_object_new_object();
		add_int(m, "position", (int)i);
		if (r->target[i])
			add_str(m, "memdev", r->target[i]->devname);
		add_str(m, "decoder", r->target_decoder[i]);
		json_object_array_add(maps, m);
	}
	json_object_object_add(o, "mappings", maps);
	return o;
}

/* The candidate fields shared by dax devices and fsdax namespaces. */
static void add_check(struct json_object *o, struct famfs_cxl_check *c)
{
	struct json_object *p = json_object_new_array();

	add_str(o, "path", c->path);
	json_object_object_add(o, "pool_capable",
			       json_object_new_boolean(c->n_problems == 0));
	for (unsigned int i = 0; i < c->n_problems; i++) {
		struct json_object *e = json_object_new_object();

		add_str(e, "code", cxl_problem_code(c->problem[i]));
		add_str(e, "message", c->message[i]);
		json_object_array_add(p, e);
	}
	json_object_object_add(o, "problems", p);
	if (c->has_pool)
		add_uuid(o, "pool_uuid", c->pool_uuid);
}

static struct json_object *namespace_to_json(struct famfs_cxl_namespace *n)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "dev", n->devname);
	add_str(o, "mode", n->mode);
	add_u64(o, "size", n->size);
	if (n->has_uuid)
		add_uuid(o, "uuid", n->uuid);
	if (n->has_raw_uuid)
		add_uuid(o, "raw_uuid", n->raw_uuid);
	add_str(o, "blockdev", n->blockdev);
	add_str(o, "chardev", n->chardev);
	if (n->align)
		add_u64(o, "align", n->align);
	add_str(o, "nd_region", n->nd_region);
	if (n->region)
		add_str(o, "region", n->region->devname);
	if (n->check)
		add_check(o, n->check);
	return o;
}

static struct json_object *dax_region_to_json(struct famfs_cxl_dax_region *d)
{
	struct json_object *o = json_object_new_object();
	struct json_object *devs = json_object_new_array();
	struct famfs_cxl_daxdev *x;

	add_int(o, "id", d->id);
	add_u64(o, "size", d->size);
	add_u64(o, "align", d->align);
	if (d->region)
		add_str(o, "region", d->region->devname);
	if (d->ns)
		add_str(o, "namespace", d->ns->devname);
	famfs_cxl_daxdev_foreach(d->ctx, x)
		if (x->dax_region == d)
			json_object_array_add(devs, json_object_new_string(x->devname));
	json_object_object_add(o, "devices", devs);
	return o;
}

struct json_object *famfs_cxl_daxdev_to_json(struct famfs_cxl_daxdev *x,
					     unsigned int flags)
{
	struct json_object *o = json_object_new_object();

	(void)flags;
	add_str(o, "chardev", x->devname);
	add_u64(o, "size", x->size);
	if (x->align)
		add_u64(o, "align", x->align);
	add_str(o, "mode", x->mode);
	if (x->target_node >= 0)
		add_int(o, "target_node", x->target_node);
	if (x->numa_node >= 0)
		add_int(o, "numa_node", x->numa_node);
	if (!x->enabled)
		add_str(o, "state", "disabled");
	if (x->mode && !strcmp(x->mode, "system-ram")) {
		add_int(o, "online_memblocks", x->online_blocks);
		json_object_object_add(o, "movable", json_object_new_boolean(x->movable));
	}
	if (x->dax_region)
		add_int(o, "dax_region", x->dax_region->id);
	if (x->dax_region && x->dax_region->ns)
		add_str(o, "namespace", x->dax_region->ns->devname);
	if (x->region)
		add_str(o, "region", x->region->devname);
	json_object_object_add(o, "memdevs", region_memdevs(x->region));
	add_check(o, &x->check);
	return o;
}

struct json_object *famfs_cxl_to_json(struct famfs_cxl_ctx *ctx, unsigned int flags)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a;
	struct famfs_cxl_memdev *m;
	struct famfs_cxl_region *r;
	struct famfs_cxl_namespace *n;
	struct famfs_cxl_dax_region *d;
	struct famfs_cxl_daxdev *x;

	a = json_object_new_array();
	famfs_cxl_memdev_foreach(ctx, m)
		json_object_array_add(a, memdev_to_json(m));
	json_object_object_add(o, "memdevs", a);
	a = json_object_new_array();
	famfs_cxl_region_foreach(ctx, r)
		json_object_array_add(a, region_to_json(r));
	json_object_object_add(o, "regions", a);
	a = json_object_new_array();
	famfs_cxl_namespace_foreach(ctx, n)
		json_object_array_add(a, namespace_to_json(n));
	json_object_object_add(o, "namespaces", a);
	a = json_object_new_array();
	for (d = ctx->dax_regions; d; d = d->next)
		json_object_array_add(a, dax_region_to_json(d));
	json_object_object_add(o, "dax_regions", a);
	a = json_object_new_array();
	famfs_cxl_daxdev_foreach(ctx, x)
		json_object_array_add(a, famfs_cxl_daxdev_to_json(x, flags));
	json_object_object_add(o, "dax_devices", a);
	return o;
}

/* ---- the shape, for checking reports ------------------------------------- */

enum ftype { T_STR, T_TEXT, T_UINT, T_INT, T_BOOL, T_STRS, T_OBJS };

struct field {
	const char *name;
	enum ftype type;
	bool required;
	const struct field *sub;	/* T_OBJS: the items' fields */
};

#define END { NULL, T_STR, false, NULL }

static const struct field problem_fields[] = {
	{ "code", T_STR, true, NULL }, { "message", T_TEXT, true, NULL }, END
};
static const struct field mapping_fields[] = {
	{ "position", T_UINT, true, NULL }, { "memdev", T_STR, false, NULL },
	{ "decoder", T_STR, false, NULL }, END
};
static const struct field memdev_fields[] = {
	{ "memdev", T_STR, true, NULL }, { "serial", T_UINT, true, NULL },
	{ "host", T_STR, false, NULL }, { "ram_size", T_UINT, true, NULL },
	{ "pmem_size", T_UINT, true, NULL }, { "numa_node", T_INT, false, NULL },
	{ "state", T_STR, false, NULL }, { "regions", T_STRS, true, NULL }, END
};
static const struct field region_fields[] = {
	{ "region", T_STR, true, NULL }, { "uuid", T_STR, false, NULL },
	{ "type", T_STR, false, NULL }, { "resource", T_UINT, false, NULL },
	{ "size", T_UINT, true, NULL }, { "interleave_ways", T_UINT, true, NULL },
	{ "interleave_granularity", T_UINT, true, NULL },
	{ "decode_state", T_STR, true, NULL }, { "state", T_STR, false, NULL },
	{ "mappings", T_OBJS, true, mapping_fields }, END
};
/* Candidate fields: in dax devices always, in namespaces for fsdax. */
#define CHECK_FIELDS(req)						\
	{ "path", T_STR, req, NULL }, { "pool_capable", T_BOOL, req, NULL }, \
	{ "problems", T_OBJS, req, problem_fields },			\
	{ "pool_uuid", T_STR, false, NULL }
static const struct field namespace_fields[] = {
	{ "dev", T_STR, true, NULL }, { "mode", T_STR, false, NULL },
	{ "size", T_UINT, true, NULL }, { "uuid", T_STR, false, NULL },
	{ "raw_uuid", T_STR, false, NULL }, { "blockdev", T_STR, false, NULL }, { "chardev", T_STR, false, NULL },
	{ "align", T_UINT, false, NULL }, { "nd_region", T_STR, true, NULL },
	{ "region", T_STR, false, NULL }, CHECK_FIELDS(false), END
};
static const struct field dax_region_fields[] = {
	{ "id", T_INT, true, NULL }, { "size", T_UINT, true, NULL },
	{ "align", T_UINT, true, NULL }, { "region", T_STR, false, NULL },
	{ "namespace", T_STR, false, NULL }, { "devices", T_STRS, true, NULL }, END
};
static const struct field daxdev_fields[] = {
	{ "chardev", T_STR, true, NULL }, { "size", T_UINT, true, NULL },
	{ "align", T_UINT, false, NULL }, { "mode", T_STR, false, NULL },
	{ "target_node", T_INT, false, NULL }, { "numa_node", T_INT, false, NULL },
	{ "state", T_STR, false, NULL }, { "online_memblocks", T_UINT, false, NULL },
	{ "movable", T_BOOL, false, NULL }, { "dax_region", T_INT, false, NULL },
	{ "namespace", T_STR, false, NULL }, { "region", T_STR, false, NULL },
	{ "memdevs", T_STRS, true, NULL }, CHECK_FIELDS(true), END
};
static const struct field inventory_fields[] = {
	{ "memdevs", T_OBJS, true, memdev_fields },
	{ "regions", T_OBJS, true, region_fields },
	{ "namespaces", T_OBJS, true, namespace_fields },
	{ "dax_regions", T_OBJS, true, dax_region_fields },
	{ "dax_devices", T_OBJS, true, daxdev_fields },
	END
};

#define MAX_STR		255	/* names */
#define MAX_TEXT	1024	/* messages */
#define MAX_ITEMS	1024

static int fail(char *why, size_t size, const char *path, const char *what)
{
	snprintf(why, size, "%s: %s", path, what);
	return -EINVAL;
}

static int check_obj(struct json_object *o, const struct field *f,
		     const char *path, char *why, size_t size);

static int check_value(struct json_object *v, const struct field *f,
		       const char *path, char *why, size_t size)
{
	char sub[256];
	size_t n;

	switch (f->type) {
	case T_STR:
	case T_TEXT:
		if (!json_object_is_type(v, json_type_string))
			return fail(why, size, path, "must be a string");
		if (json_object_get_string_len(v) > (f->type == T_STR ? MAX_STR : MAX_TEXT))
			return fail(why, size, path, "too long");
		return 0;
	case T_UINT:
	case T_INT:
		if (!json_object_is_type(v, json_type_int))
			return fail(why, size, path, "must be an integer");
		if (f->type == T_UINT && json_object_get_int64(v) < 0)
			return fail(why, size, path, "must not be negative");
		return 0;
	case T_BOOL:
		return json_object_is_type(v, json_type_boolean) ? 0 :
		       fail(why, size, path, "must be true or false");
	case T_STRS:
	case T_OBJS:
		if (!json_object_is_type(v, json_type_array))
			return fail(why, size, path, "must be an array");
		n = json_object_array_length(v);
		if (n > MAX_ITEMS)
			return fail(why, size, path, "more than 1024 items");
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			struct field s = { NULL, T_STR, true, NULL };
			int r;

			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			r = f->type == T_STRS ? check_value(e, &s, sub, why, size) :
			    check_obj(e, f->sub, sub, why, size);
			if (r < 0)
				return r;
		}
		return 0;
	}
	return fail(why, size, path, "unknown type");
}

static int check_obj(struct json_object *o, const struct field *fields,
		     const char *path, char *why, size_t size)
{
	char sub[256];

	if (!json_object_is_type(o, json_type_object))
		return fail(why, size, path, "must be an object");
	json_object_object_foreach(o, key, val) {
		const struct field *f = fields;

		while (f->name && strcmp(f->name, key))
			f++;
		snprintf(sub, sizeof(sub), "%s.%s", path, key);
		if (!f->name)
			return fail(why, size, sub, "unknown field");
		if (check_value(val, f, sub, why, size) < 0)
			return -EINVAL;
	}
	for (const struct field *f = fields; f->name; f++) {
		snprintf(sub, sizeof(sub), "%s.%s", path, f->name);
		if (f->required && !json_object_object_get_ex(o, f->name, NULL))
			return fail(why, size, sub, "required");
	}
	return 0;
}

int famfs_cxl_inventory_check(struct json_object *obj, char *why, size_t size)
{
	return check_obj(obj, inventory_fields, "devices", why, size);
}
