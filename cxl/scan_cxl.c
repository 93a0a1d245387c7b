// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CXL memdevs and regions through libcxl. Regions hang off the root
 * decoders of each CXL bus's root port; a region's mappings name the
 * endpoint decoders, hence the memdevs, at each interleave position.
 */
#include <cxl/libcxl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static void forward(struct cxl_ctx *c, int priority, const char *file,
		    int line, const char *fn, const char *fmt, va_list ap)
{
	cxl_forward_log(cxl_get_userdata(c), priority, file, line, fn, fmt, ap);
}

static struct famfs_cxl_memdev *memdev_by_name(struct famfs_cxl_ctx *ctx,
					       const char *name)
{
	struct famfs_cxl_memdev *m;

	famfs_cxl_memdev_foreach(ctx, m)
		if (name && !strcmp(m->devname, name))
			return m;
	return NULL;
}

static int add_memdev(struct famfs_cxl_ctx *ctx, struct cxl_memdev *cm,
		      struct famfs_cxl_memdev ***tail)
{
	struct famfs_cxl_memdev *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	m->devname = cxl_strdup_or_null(cxl_memdev_get_devname(cm));
	m->host = cxl_strdup_or_null(cxl_memdev_get_host(cm));
	m->serial = cxl_memdev_get_serial(cm);
	m->ram_size = cxl_memdev_get_ram_size(cm);
	m->pmem_size = cxl_memdev_get_pmem_size(cm);
	m->numa_node = cxl_memdev_get_numa_node(cm);
	m->enabled = cxl_memdev_is_enabled(cm) > 0;
	**tail = m;
	*tail = &m->next;
	if (!m->devname)
		return -ENOMEM;
	cxl_dbg(ctx, "memdev %s: pmem %llu ram %llu", m->devname,
		(unsigned long long)m->pmem_size, (unsigned long long)m->ram_size);
	return 0;
}

static int add_region(struct famfs_cxl_ctx *ctx, struct cxl_region *cr,
		      struct famfs_cxl_region ***tail)
{
	struct famfs_cxl_region *r = calloc(1, sizeof(*r));
	struct cxl_memdev_mapping *map;
	static const uint8_t null_uuid[16];

	if (!r)
		return -ENOMEM;
	**tail = r;
	*tail = &r->next;
	r->devname = cxl_strdup_or_null(cxl_region_get_devname(cr));
	if (!r->devname)
		return -ENOMEM;
	cxl_region_get_uuid(cr, r->uuid);
	r->has_uuid = memcmp(r->uuid, null_uuid, 16) != 0;
	r->size = cxl_region_get_size(cr);
	r->resource = cxl_region_get_resource(cr);
	r->ways = cxl_region_get_interleave_ways(cr);
	r->granularity = cxl_region_get_interleave_granularity(cr);
	r->committed = cxl_region_decode_is_committed(cr) > 0;
	r->enabled = cxl_region_is_enabled(cr) > 0;
	cxl_mapping_foreach(cr, map) {
		struct cxl_decoder *d = cxl_mapping_get_decoder(map);
		unsigned int pos = cxl_mapping_get_position(map);
		enum cxl_decoder_mode mode;

		if (!d || pos >= CXL_MAX_WAYS)
			continue;
		r->target[pos] = memdev_by_name(ctx, cxl_memdev_get_devname(
						cxl_decoder_get_memdev(d)));
		r->target_decoder[pos] = cxl_strdup_or_null(
						cxl_decoder_get_devname(d));
		/* The endpoint decoders' mode is the region's (6.1 has no
		 * region mode attribute). */
		mode = cxl_decoder_get_mode(d);
		if (mode == CXL_DECODER_MODE_PMEM)
			r->mode = "pmem";
		else if (mode == CXL_DECODER_MODE_RAM)
			r->mode = "ram";
	}
	cxl_dbg(ctx, "region %s: %u way(s), %llu bytes", r->devname, r->ways,
		(unsigned long long)r->size);
	return 0;
}

int cxl_scan_memdevs_regions(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_memdev **mtail = &ctx->memdevs;
	struct famfs_cxl_region **rtail = &ctx->regions;
	struct cxl_ctx *c = NULL;
	struct cxl_memdev *cm;
	struct cxl_bus *bus;
	int r;

	r = cxl_new(&c);
	if (r < 0) {
		/* No libcxl context: no CXL here, which is not an error. */
		cxl_dbg(ctx, "cxl_new: %s, no CXL devices", strerror(-r));
		return 0;
	}
	cxl_set_userdata(c, ctx);
	cxl_set_log_fn(c, forward);
	cxl_set_log_priority(c, ctx->log_priority);
	cxl_memdev_foreach(c, cm) {
		r = add_memdev(ctx, cm, &mtail);
		if (r < 0)
			goto out;
	}
	cxl_bus_foreach(c, bus) {
		struct cxl_port *root = cxl_bus_get_port(bus);
		struct cxl_decoder *d;

		if (!root)
			continue;
		cxl_decoder_foreach(root, d) {
			struct cxl_region *cr;

			cxl_region_foreach(d, cr) {
				r = add_region(ctx, cr, &rtail);
				if (r < 0)
					goto out;
			}
		}
	}
	r = 0;
out:
	cxl_unref(c);
	return r;
}

struct famfs_cxl_region *cxl_region_by_address(struct famfs_cxl_ctx *ctx,
					       uint64_t addr)
{
	struct famfs_cxl_region *r;

	if (addr == UINT64_MAX)
		return NULL;
	famfs_cxl_region_foreach(ctx, r)
		if (r->resource != UINT64_MAX && addr >= r->resource &&
		    addr - r->resource < r->size)
			return r;
	return NULL;
}

/* ---- memdev getters ----------------------------------------------------- */

struct famfs_cxl_memdev *famfs_cxl_memdev_get_first(struct famfs_cxl_ctx *ctx)
{
	return ctx->memdevs;
}

struct famfs_cxl_memdev *famfs_cxl_memdev_get_next(struct famfs_cxl_memdev *m)
{
	return m->next;
}

const char *famfs_cxl_memdev_get_devname(struct famfs_cxl_memdev *m)
{
	return m->devname;
}

uint64_t famfs_cxl_memdev_get_serial(struct famfs_cxl_memdev *m)
{
	return m->serial;
}

const char *famfs_cxl_memdev_get_host(struct famfs_cxl_memdev *m)
{
	return m->host;
}

uint64_t famfs_cxl_memdev_get_ram_size(struct famfs_cxl_memdev *m)
{
	return m->ram_size;
}

uint64_t famfs_cxl_memdev_get_pmem_size(struct famfs_cxl_memdev *m)
{
	return m->pmem_size;
}

int famfs_cxl_memdev_get_numa_node(struct famfs_cxl_memdev *m)
{
	return m->numa_node;
}

bool famfs_cxl_memdev_is_enabled(struct famfs_cxl_memdev *m)
{
	return m->enabled;
}

/* ---- region getters ----------------------------------------------------- */

struct famfs_cxl_region *famfs_cxl_region_get_first(struct famfs_cxl_ctx *ctx)
{
	return ctx->regions;
}

struct famfs_cxl_region *famfs_cxl_region_get_next(struct famfs_cxl_region *r)
{
	return r->next;
}

const char *famfs_cxl_region_get_devname(struct famfs_cxl_region *r)
{
	return r->devname;
}

bool famfs_cxl_region_get_uuid(struct famfs_cxl_region *r, uint8_t uuid[16])
{
	if (r->has_uuid)
		memcpy(uuid, r->uuid, 16);
	return r->has_uuid;
}

const char *famfs_cxl_region_get_mode(struct famfs_cxl_region *r)
{
	return r->mode;
}

uint64_t famfs_cxl_region_get_size(struct famfs_cxl_region *r)
{
	return r->size;
}

unsigned int famfs_cxl_region_get_interleave_ways(struct famfs_cxl_region *r)
{
	return r->ways;
}

unsigned int famfs_cxl_region_get_interleave_granularity(struct famfs_cxl_region *r)
{
	return r->granularity;
}

const char *famfs_cxl_region_get_decode_state(struct famfs_cxl_region *r)
{
	return r->committed ? "commit" : "reset";
}

bool famfs_cxl_region_is_enabled(struct famfs_cxl_region *r)
{
	return r->enabled;
}

struct famfs_cxl_memdev *famfs_cxl_region_get_memdev(struct famfs_cxl_region *r,
						     unsigned int position)
{
	return position < CXL_MAX_WAYS ? r->target[position] : NULL;
}

bool famfs_cxl_region_has_memdev(struct famfs_cxl_region *r,
				 struct famfs_cxl_memdev *m)
{
	for (unsigned int i = 0; i < CXL_MAX_WAYS; i++)
		if (r->target[i] == m)
			return m != NULL;
	return false;
}
