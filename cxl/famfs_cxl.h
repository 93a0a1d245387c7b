/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libfamfscxl: the CXL and dax hardware of one host, seen and checked for
 * famfsd pools (docs/cxl.md).
 *
 * A context scans, through libcxl, libdaxctl and libndctl (never through
 * their command-line tools), five kinds of objects and how they connect:
 *
 *   memdev (CXL type-3 device) -> region (CXL, interleaved over memdevs)
 *     -> namespace (libnvdimm, pmem regions) -> dax region -> dax device
 *
 * Two kinds are pool candidates: dax devices (/dev/daxX.Y, the master's
 * and the FUSE agent's pool) and fsdax namespaces (/dev/pmemN, the kernel
 * module's). For each candidate the scan says whether it can hold a pool
 * and, when not, every reason why (a list of problems), and it reads the
 * superblock to report the UUID of a famfsd pool already there. Pools are
 * found by that UUID, never only by a /dev path, which may change across
 * boots and differs between hosts.
 *
 * The context owns every object it found; objects live until the next
 * scan or the last famfs_cxl_unref(). Getters return a documented
 * "unknown" sentinel (-1, NULL, 0) where the kernel did not say.
 */
#ifndef FAMFS_CXL_H
#define FAMFS_CXL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

struct famfs_cxl_ctx;
struct famfs_cxl_memdev;
struct famfs_cxl_region;
struct famfs_cxl_namespace;
struct famfs_cxl_daxdev;

/* ---- context ------------------------------------------------------------ */

/*
 * Creates a context and scans the host once. A host without CXL or dax
 * support is an empty inventory, not an error. 0 or -errno.
 *
 * The library logs to stderr at LOG_ERR (syslog priorities);
 * FAMFS_CXL_LOG=debug|info|err in the environment sets the priority.
 */
int famfs_cxl_new(struct famfs_cxl_ctx **ret);
/* Frees the context and everything it found. NULL is fine. */
void famfs_cxl_unref(struct famfs_cxl_ctx *ctx);

/* ---- memdevs: CXL type-3 memory devices ---------------------------------- */

struct famfs_cxl_memdev *famfs_cxl_memdev_get_first(struct famfs_cxl_ctx *ctx);
struct famfs_cxl_memdev *famfs_cxl_memdev_get_next(struct famfs_cxl_memdev *m);
#define famfs_cxl_memdev_foreach(ctx, m) \
	for (m = famfs_cxl_memdev_get_first(ctx); m; m = famfs_cxl_memdev_get_next(m))

const char *famfs_cxl_memdev_get_devname(struct famfs_cxl_memdev *m);	/* "mem0" */
uint64_t famfs_cxl_memdev_get_serial(struct famfs_cxl_memdev *m);
const char *famfs_cxl_memdev_get_host(struct famfs_cxl_memdev *m);	/* PCI address */
uint64_t famfs_cxl_memdev_get_ram_size(struct famfs_cxl_memdev *m);
uint64_t famfs_cxl_memdev_get_pmem_size(struct famfs_cxl_memdev *m);
int famfs_cxl_memdev_get_numa_node(struct famfs_cxl_memdev *m);	/* -1: unknown */
bool famfs_cxl_memdev_is_enabled(struct famfs_cxl_memdev *m);

/* ---- regions: CXL regions (interleave sets over memdevs) ------------------ */

struct famfs_cxl_region *famfs_cxl_region_get_first(struct famfs_cxl_ctx *ctx);
struct famfs_cxl_region *famfs_cxl_region_get_next(struct famfs_cxl_region *r);
#define famfs_cxl_region_foreach(ctx, r) \
	for (r = famfs_cxl_region_get_first(ctx); r; r = famfs_cxl_region_get_next(r))

const char *famfs_cxl_region_get_devname(struct famfs_cxl_region *r);	/* "region0" */
/* False (and uuid untouched) for a region without a UUID (ram regions). */
bool famfs_cxl_region_get_uuid(struct famfs_cxl_region *r, uint8_t uuid[16]);
const char *famfs_cxl_region_get_mode(struct famfs_cxl_region *r);	/* pmem, ram, NULL */
uint64_t famfs_cxl_region_get_size(struct famfs_cxl_region *r);
unsigned int famfs_cxl_region_get_interleave_ways(struct famfs_cxl_region *r);
unsigned int famfs_cxl_region_get_interleave_granularity(struct famfs_cxl_region *r);
const char *famfs_cxl_region_get_decode_state(struct famfs_cxl_region *r); /* commit, reset */
bool famfs_cxl_region_is_enabled(struct famfs_cxl_region *r);
/* The memdev at an interleave position (0 .. ways-1), NULL when not set. */
struct famfs_cxl_memdev *famfs_cxl_region_get_memdev(struct famfs_cxl_region *r,
						     unsigned int position);
/* True when m is one of r's targets. */
bool famfs_cxl_region_has_memdev(struct famfs_cxl_region *r,
				 struct famfs_cxl_memdev *m);

/* ---- namespaces: libnvdimm namespaces (pmem regions, legacy nvdimms) ------ */

struct famfs_cxl_namespace *famfs_cxl_namespace_get_first(struct famfs_cxl_ctx *ctx);
struct famfs_cxl_namespace *famfs_cxl_namespace_get_next(struct famfs_cxl_namespace *n);
#define famfs_cxl_namespace_foreach(ctx, n) \
	for (n = famfs_cxl_namespace_get_first(ctx); n; \
	     n = famfs_cxl_namespace_get_next(n))

const char *famfs_cxl_namespace_get_devname(struct famfs_cxl_namespace *n); /* namespace0.0 */
const char *famfs_cxl_namespace_get_mode(struct famfs_cxl_namespace *n); /* fsdax, devdax, raw, sector */
uint64_t famfs_cxl_namespace_get_size(struct famfs_cxl_namespace *n);
const char *famfs_cxl_namespace_get_blockdev(struct famfs_cxl_namespace *n); /* pmem0, NULL */
const char *famfs_cxl_namespace_get_chardev(struct famfs_cxl_namespace *n); /* dax0.0, NULL */
uint64_t famfs_cxl_namespace_get_align(struct famfs_cxl_namespace *n);	/* 0: unknown */
const char *famfs_cxl_namespace_get_nd_region(struct famfs_cxl_namespace *n); /* "region0" (ndctl) */
/* The CXL region under it, NULL for a legacy nvdimm namespace. */
struct famfs_cxl_region *famfs_cxl_namespace_get_region(struct famfs_cxl_namespace *n);

/* ---- dax devices ---------------------------------------------------------- */

struct famfs_cxl_daxdev *famfs_cxl_daxdev_get_first(struct famfs_cxl_ctx *ctx);
struct famfs_cxl_daxdev *famfs_cxl_daxdev_get_next(struct famfs_cxl_daxdev *x);
#define famfs_cxl_daxdev_foreach(ctx, x) \
	for (x = famfs_cxl_daxdev_get_first(ctx); x; x = famfs_cxl_daxdev_get_next(x))

const char *famfs_cxl_daxdev_get_devname(struct famfs_cxl_daxdev *x);	/* "dax0.0" */
uint64_t famfs_cxl_daxdev_get_size(struct famfs_cxl_daxdev *x);
uint64_t famfs_cxl_daxdev_get_align(struct famfs_cxl_daxdev *x);	/* 0: unknown */
/* "devdax" (device_dax driver), "system-ram" (kmem), NULL (no driver). */
const char *famfs_cxl_daxdev_get_mode(struct famfs_cxl_daxdev *x);
/* The CXL region the device's memory lies in, NULL when not CXL. */
struct famfs_cxl_region *famfs_cxl_daxdev_get_region(struct famfs_cxl_daxdev *x);

/* ---- pool candidates: dax devices and fsdax namespaces -------------------- */

/*
 * A dax device's or namespace's checks; NULL for a namespace that is not
 * a candidate of its own (devdax namespaces: see their dax device). Each
 * problem is one reason why the candidate cannot hold a pool; none means
 * it can. Their codes (JSON "code") are stable, the messages are for
 * people.
 */
struct famfs_cxl_check;
struct famfs_cxl_check *famfs_cxl_daxdev_get_check(struct famfs_cxl_daxdev *x);
struct famfs_cxl_check *famfs_cxl_namespace_get_check(struct famfs_cxl_namespace *n);

const char *famfs_cxl_check_get_path(struct famfs_cxl_check *c);	/* /dev/dax0.0 */
unsigned int famfs_cxl_check_get_problem_count(struct famfs_cxl_check *c);
const char *famfs_cxl_check_get_problem_message(struct famfs_cxl_check *c,
						unsigned int i);
/* True with the UUID when a famfsd superblock is there. */
bool famfs_cxl_check_get_pool_uuid(struct famfs_cxl_check *c, uint8_t uuid[16]);
/*
 * Scans this host and finds the device holding the pool with this UUID:
 * *ret_path (malloc'd, e.g. "/dev/dax0.0"). -ENOENT when none holds it,
 * -ENOTUNIQ when several do (two hosts' views of one pool are fine; two
 * devices of one host are not). Writes one line saying why not to err
 * (when not NULL).
 */
int famfs_cxl_find_pool_path(const char *uuid_str, FILE *err, char **ret_path);

/* ---- changing things ----------------------------------------------------- */

/*
 * Makes the dax device devname ("dax0.0" or "/dev/dax0.0") a devdax
 * device: enables it when no driver is bound; when it is system RAM
 * (kmem), rebinds it to device_dax once its memory is offline. Memory
 * that is online is refused (-EBUSY) unless flags has
 * FAMFS_CXL_PREPARE_OFFLINE, and then still when the kernel cannot offline
 * it (pages in use). *ret_what gets a static sentence of what was done or
 * why not. -ENODEV when there is no such device. Rescans on success.
 */
#define FAMFS_CXL_PREPARE_OFFLINE	0x1u
int famfs_cxl_daxdev_prepare(struct famfs_cxl_ctx *ctx, const char *devname,
			     unsigned int flags, const char **ret_what);

/* ---- JSON (names as `cxl list`, `daxctl list` and `ndctl list` use) ------- */

struct json_object *famfs_cxl_daxdev_to_json(struct famfs_cxl_daxdev *x,
					     unsigned int flags);
/* The whole inventory: {memdevs, regions, namespaces, dax_regions, dax_devices}. */
struct json_object *famfs_cxl_to_json(struct famfs_cxl_ctx *ctx, unsigned int flags);

/*
 * Checks that obj is an inventory as famfs_cxl_to_json writes it (closed
 * objects, the right types): the master accepts agents' reports only in
 * that shape. 0, or -EINVAL with why (a JSON path and what is wrong).
 */
int famfs_cxl_inventory_check(struct json_object *obj, char *why, size_t size);

#endif
