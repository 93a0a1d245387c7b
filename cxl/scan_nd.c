// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libnvdimm namespaces through libndctl: what a CXL pmem region (or a
 * legacy nvdimm, or memmap= pmem) is carved into. An fsdax namespace is a
 * pool candidate of its own (/dev/pmemN, the kernel module's back-end); a
 * devdax namespace leads to a dax region whose device is the candidate.
 *
 * On 6.1 the nd region of a CXL pmem region sits under the nvdimm bridge,
 * not under the CXL region in sysfs, so the two are tied by address: the
 * CXL region whose range holds the nd region's start.
 */
#include <daxctl/libdaxctl.h>
#include <errno.h>
#include <ndctl/libndctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "private.h"

static void forward(struct ndctl_ctx *c, int priority, const char *file,
		    int line, const char *fn, const char *fmt, va_list ap)
{
	cxl_forward_log(ndctl_get_userdata(c), priority, file, line, fn, fmt, ap);
}

static const char *mode_name(enum ndctl_namespace_mode m)
{
	switch (m) {
	case NDCTL_NS_MODE_FSDAX: return "fsdax";
	case NDCTL_NS_MODE_DEVDAX: return "devdax";
	case NDCTL_NS_MODE_SECTOR: return "sector";
	case NDCTL_NS_MODE_RAW: return "raw";
	default: return NULL;
	}
}

/* An fsdax namespace's candidate: /dev/pmemN. */
static int add_check(struct famfs_cxl_namespace *n)
{
	struct stat st;

	n->check = calloc(1, sizeof(*n->check));
	if (!n->check)
		return -ENOMEM;
	if (asprintf(&n->check->path, "/dev/%s", n->blockdev) < 0) {
		n->check->path = NULL;
		return -ENOMEM;
	}
	n->check->block = true;
	n->check->size = n->size;
	n->check->align = n->align;
	if (stat(n->check->path, &st) == 0 && S_ISBLK(st.st_mode))
		n->check->rdev = st.st_rdev;
	return 0;
}

static int add_namespace(struct famfs_cxl_ctx *ctx, struct ndctl_region *reg,
			 struct ndctl_namespace *ns,
			 struct famfs_cxl_namespace ***tail)
{
	enum ndctl_namespace_mode mode = ndctl_namespace_get_mode(ns);
	struct famfs_cxl_namespace *n = calloc(1, sizeof(*n));
	struct ndctl_pfn *pfn = ndctl_namespace_get_pfn(ns);
	struct ndctl_dax *dax = ndctl_namespace_get_dax(ns);
	static const uint8_t null_uuid[16];

	if (!n)
		return -ENOMEM;
	**tail = n;
	*tail = &n->next;
	n->devname = cxl_strdup_or_null(ndctl_namespace_get_devname(ns));
	n->nd_region = cxl_strdup_or_null(ndctl_region_get_devname(reg));
	if (!n->devname || !n->nd_region)
		return -ENOMEM;
	n->mode = mode_name(mode);
	n->size = ndctl_namespace_get_size(ns);
	n->dax_region_id = -1;
	ndctl_namespace_get_uuid(ns, n->raw_uuid);
	n->has_raw_uuid = memcmp(n->raw_uuid, null_uuid, 16) != 0;
	/* ndctl lists the claiming device's UUID as the namespace's. */
	if (mode == NDCTL_NS_MODE_FSDAX && pfn)
		ndctl_pfn_get_uuid(pfn, n->uuid);
	else if (mode == NDCTL_NS_MODE_DEVDAX && dax)
		ndctl_dax_get_uuid(dax, n->uuid);
	else
		memcpy(n->uuid, n->raw_uuid, 16);
	n->has_uuid = memcmp(n->uuid, null_uuid, 16) != 0;
	n->nd_resource = ndctl_region_get_resource(reg);
	n->region = cxl_region_by_address(ctx, n->nd_resource);
	if (mode == NDCTL_NS_MODE_FSDAX && pfn) {
		/* The usable size is after the info block (and memmap). */
		n->size = ndctl_pfn_get_size(pfn);
		n->align = ndctl_pfn_get_align(pfn);
		n->blockdev = cxl_strdup_or_null(ndctl_pfn_get_block_device(pfn));
	} else if (mode == NDCTL_NS_MODE_DEVDAX && dax) {
		struct daxctl_region *dr = ndctl_dax_get_daxctl_region(dax);
		struct daxctl_dev *dev = dr ? daxctl_dev_get_first(dr) : NULL;

		n->size = ndctl_dax_get_size(dax);
		n->align = ndctl_dax_get_align(dax);
		n->dax_region_id = dr ? daxctl_region_get_id(dr) : -1;
		if (dev)
			n->chardev = cxl_strdup_or_null(daxctl_dev_get_devname(dev));
	} else if (mode == NDCTL_NS_MODE_FSDAX || mode == NDCTL_NS_MODE_RAW) {
		n->blockdev = cxl_strdup_or_null(ndctl_namespace_get_block_device(ns));
	}
	cxl_dbg(ctx, "namespace %s: %s, %llu bytes", n->devname,
		n->mode ? n->mode : "unknown", (unsigned long long)n->size);
	/* fsdax without a pfn device (no struct pages) cannot do DAX: it
	 * shows as raw; only a real fsdax block device is a candidate. */
	if (mode == NDCTL_NS_MODE_FSDAX && pfn && n->blockdev && n->blockdev[0])
		return add_check(n);
	return 0;
}

int cxl_scan_namespaces(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_namespace **tail = &ctx->namespaces;
	struct ndctl_ctx *c = NULL;
	struct ndctl_bus *bus;
	int r;

	r = ndctl_new(&c);
	if (r < 0) {
		cxl_dbg(ctx, "ndctl_new: %s, no namespaces", strerror(-r));
		return 0;
	}
	ndctl_set_userdata(c, ctx);
	ndctl_set_log_fn(c, forward);
	ndctl_set_log_priority(c, ctx->log_priority);
	ndctl_bus_foreach(c, bus) {
		struct ndctl_region *reg;

		ndctl_region_foreach(bus, reg) {
			struct ndctl_namespace *ns;

			const char *type = ndctl_region_get_type_name(reg);

			if (!type || strcmp(type, "pmem"))
				continue;
			ndctl_namespace_foreach(reg, ns) {
				/* Seeds (size 0) and inactive ones are not
				 * devices anyone could use. */
				if (!ndctl_namespace_get_size(ns) ||
				    !ndctl_namespace_is_active(ns))
					continue;
				r = add_namespace(ctx, reg, ns, &tail);
				if (r < 0)
					goto out;
			}
		}
	}
	r = 0;
out:
	ndctl_unref(c);
	return r;
}

struct famfs_cxl_namespace *famfs_cxl_namespace_get_first(struct famfs_cxl_ctx *ctx)
{
	return ctx->namespaces;
}

struct famfs_cxl_namespace *famfs_cxl_namespace_get_next(struct famfs_cxl_namespace *n)
{
	return n->next;
}

const char *famfs_cxl_namespace_get_devname(struct famfs_cxl_namespace *n)
{
	return n->devname;
}

const char *famfs_cxl_namespace_get_mode(struct famfs_cxl_namespace *n)
{
	return n->mode;
}

uint64_t famfs_cxl_namespace_get_size(struct famfs_cxl_namespace *n)
{
	return n->size;
}

const char *famfs_cxl_namespace_get_blockdev(struct famfs_cxl_namespace *n)
{
	return n->blockdev;
}

const char *famfs_cxl_namespace_get_chardev(struct famfs_cxl_namespace *n)
{
	return n->chardev;
}

uint64_t famfs_cxl_namespace_get_align(struct famfs_cxl_namespace *n)
{
	return n->align;
}

const char *famfs_cxl_namespace_get_nd_region(struct famfs_cxl_namespace *n)
{
	return n->nd_region;
}

struct famfs_cxl_region *famfs_cxl_namespace_get_region(struct famfs_cxl_namespace *n)
{
	return n->region;
}

struct famfs_cxl_check *famfs_cxl_namespace_get_check(struct famfs_cxl_namespace *n)
{
	return n->check;
}
