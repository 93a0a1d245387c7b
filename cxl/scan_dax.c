// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Dax regions and dax devices through libdaxctl. A device's mode is the
 * driver bound to it (device_dax: devdax; kmem: system-ram; none:
 * disabled). A dax region belongs to the namespace that created it (same
 * dax region id) and, by address, to a CXL region.
 */
#include <daxctl/libdaxctl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "private.h"

static void forward(struct daxctl_ctx *c, int priority, const char *file,
		    int line, const char *fn, const char *fmt, va_list ap)
{
	cxl_forward_log(daxctl_get_userdata(c), priority, file, line, fn, fmt, ap);
}

const char *cxl_dax_mode(const char *devname)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *drv;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/dax/devices/%s/driver", devname);
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return NULL;
	target[n] = '\0';
	drv = strrchr(target, '/');
	drv = drv ? drv + 1 : target;
	if (!strcmp(drv, "kmem"))
		return "system-ram";
	if (!strcmp(drv, "device_dax"))
		return "devdax";
	return NULL;
}

static int dax_numa_node(const char *devname)
{
	char path[PATH_MAX], buf[32];

	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/numa_node", devname);
	if (cxl_sysfs_read(path, buf, sizeof(buf)) < 0)
		return -1;
	return atoi(buf);
}

static struct famfs_cxl_namespace *ns_by_dax_region(struct famfs_cxl_ctx *ctx,
						    int id)
{
	struct famfs_cxl_namespace *n;

	famfs_cxl_namespace_foreach(ctx, n)
		if (n->dax_region_id == id)
			return n;
	return NULL;
}

static int add_dev(struct famfs_cxl_ctx *ctx, struct famfs_cxl_dax_region *d,
		   struct daxctl_dev *dev, struct famfs_cxl_daxdev ***tail)
{
	struct famfs_cxl_daxdev *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	**tail = x;
	*tail = &x->next;
	x->devname = cxl_strdup_or_null(daxctl_dev_get_devname(dev));
	if (!x->devname)
		return -ENOMEM;
	x->dax_region = d;
	x->size = daxctl_dev_get_size(dev);
	x->align = daxctl_dev_get_align(dev);
	x->resource = daxctl_dev_get_resource(dev);
	x->target_node = daxctl_dev_get_target_node(dev);
	x->numa_node = dax_numa_node(x->devname);
	x->enabled = daxctl_dev_is_enabled(dev) > 0;
	x->mode = cxl_dax_mode(x->devname);
	if (x->mode && !strcmp(x->mode, "system-ram")) {
		struct daxctl_memory *mem = daxctl_dev_get_memory(dev);

		if (mem) {
			x->online_blocks = daxctl_memory_is_online(mem);
			if (x->online_blocks < 0)
				x->online_blocks = 0;
			x->movable = daxctl_memory_is_movable(mem) > 0;
		}
	}
	x->region = d->region ? d->region : cxl_region_by_address(ctx, x->resource);
	if (asprintf(&x->check.path, "/dev/%s", x->devname) < 0) {
		x->check.path = NULL;
		return -ENOMEM;
	}
	x->check.rdev = makedev(daxctl_dev_get_major(dev), daxctl_dev_get_minor(dev));
	x->check.size = x->size;
	x->check.align = x->align;
	cxl_dbg(ctx, "dax device %s: %s, %llu bytes", x->devname,
		x->mode ? x->mode : "disabled", (unsigned long long)x->size);
	return 0;
}

int cxl_scan_dax(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_dax_region **rtail = &ctx->dax_regions;
	struct famfs_cxl_daxdev **xtail = &ctx->daxdevs;
	struct daxctl_ctx *c = NULL;
	struct daxctl_region *dr;
	int r;

	r = daxctl_new(&c);
	if (r < 0) {
		cxl_dbg(ctx, "daxctl_new: %s, no dax devices", strerror(-r));
		return 0;
	}
	daxctl_set_userdata(c, ctx);
	daxctl_set_log_fn(c, forward);
	daxctl_set_log_priority(c, ctx->log_priority);
	daxctl_region_foreach(c, dr) {
		struct famfs_cxl_dax_region *d = calloc(1, sizeof(*d));
		struct daxctl_dev *dev;

		if (!d) {
			r = -ENOMEM;
			goto out;
		}
		*rtail = d;
		rtail = &d->next;
		d->ctx = ctx;
		d->id = daxctl_region_get_id(dr);
		d->size = daxctl_region_get_size(dr);
		d->align = daxctl_region_get_align(dr);
		d->ns = ns_by_dax_region(ctx, d->id);
		d->region = d->ns ? d->ns->region : NULL;
		daxctl_dev_foreach(dr, dev) {
			/* Size 0: the seed of a dynamic region, not a device. */
			if (!daxctl_dev_get_size(dev))
				continue;
			r = add_dev(ctx, d, dev, &xtail);
			if (r < 0)
				goto out;
		}
		if (!d->region && ctx->daxdevs) {
			struct famfs_cxl_daxdev *x;

			famfs_cxl_daxdev_foreach(ctx, x)
				if (x->dax_region == d && x->region)
					d->region = x->region;
		}
	}
	r = 0;
out:
	daxctl_unref(c);
	return r;
}

/* ---- getters ------------------------------------------------------------ */

struct famfs_cxl_daxdev *famfs_cxl_daxdev_get_first(struct famfs_cxl_ctx *ctx)
{
	return ctx->daxdevs;
}

struct famfs_cxl_daxdev *famfs_cxl_daxdev_get_next(struct famfs_cxl_daxdev *x)
{
	return x->next;
}

const char *famfs_cxl_daxdev_get_devname(struct famfs_cxl_daxdev *x)
{
	return x->devname;
}

uint64_t famfs_cxl_daxdev_get_size(struct famfs_cxl_daxdev *x)
{
	return x->size;
}

uint64_t famfs_cxl_daxdev_get_align(struct famfs_cxl_daxdev *x)
{
	return x->align;
}

const char *famfs_cxl_daxdev_get_mode(struct famfs_cxl_daxdev *x)
{
	return x->mode;
}

struct famfs_cxl_region *famfs_cxl_daxdev_get_region(struct famfs_cxl_daxdev *x)
{
	return x->region;
}

struct famfs_cxl_check *famfs_cxl_daxdev_get_check(struct famfs_cxl_daxdev *x)
{
	return &x->check;
}
