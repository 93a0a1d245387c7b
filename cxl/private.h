/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libfamfscxl internals: the layouts behind the opaque types of
 * famfs_cxl.h. A scan copies what it needs out of libcxl, libdaxctl and
 * libndctl into these structs (strings strdup'd), so the inventory does not
 * change under a caller and needs none of those contexts afterwards.
 * Objects are kept in singly linked lists in discovery order.
 */
#ifndef FAMFS_CXL_PRIVATE_H
#define FAMFS_CXL_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "famfs_cxl.h"

/*
 * Why a candidate cannot hold a pool (docs/cxl.md); the JSON "code" of
 * each is stable.
 */
enum famfs_cxl_problem {
	FAMFS_CXL_P_SYSTEM_RAM,		/* onlined as system RAM (kmem) */
	FAMFS_CXL_P_DISABLED,		/* no driver bound */
	FAMFS_CXL_P_ALIGN,		/* alignment is not 2 MiB */
	FAMFS_CXL_P_IN_USE,		/* open, mapped, mounted or held */
	FAMFS_CXL_P_TOO_SMALL,		/* below the smallest pool */
	FAMFS_CXL_P__COUNT
};

#define CXL_MAX_PROBLEMS	FAMFS_CXL_P__COUNT
#define CXL_MAX_WAYS		16u	/* CXL 2.0/3.0 interleave limit */
#define CXL_POOL_ALIGN		(2ull << 20)

struct famfs_cxl_check {
	char *path;			/* /dev/dax0.0, /dev/pmem0 */
	dev_t rdev;			/* 0: unknown */
	bool block;			/* a block device (fsdax namespace) */
	uint64_t size;
	uint64_t align;			/* 0: unknown */
	unsigned int n_problems;
	enum famfs_cxl_problem problem[CXL_MAX_PROBLEMS];
	char *message[CXL_MAX_PROBLEMS];
	bool has_pool;
	uint8_t pool_uuid[16];
	char *users;			/* "famfsd[42] mounted", NULL: none */
};

struct famfs_cxl_memdev {
	struct famfs_cxl_memdev *next;
	struct famfs_cxl_ctx *ctx;	/* owner, for memdev -> region */
	char *devname;
	char *host;
	uint64_t serial;
	uint64_t ram_size, pmem_size;
	int numa_node;			/* -1: unknown */
	bool enabled;
};

struct famfs_cxl_region {
	struct famfs_cxl_region *next;
	char *devname;
	bool has_uuid;
	uint8_t uuid[16];
	const char *mode;		/* static: pmem, ram; NULL */
	uint64_t size;
	uint64_t resource;		/* UINT64_MAX: unknown */
	unsigned int ways, granularity;
	bool committed, enabled;
	struct famfs_cxl_memdev *target[CXL_MAX_WAYS];	/* by position */
	char *target_decoder[CXL_MAX_WAYS];
};

struct famfs_cxl_namespace {
	struct famfs_cxl_namespace *next;
	char *devname;
	const char *mode;		/* static: fsdax, devdax, raw, sector */
	uint64_t size;
	bool has_uuid, has_raw_uuid;
	uint8_t uuid[16];		/* the pfn's or dax's, as ndctl lists */
	uint8_t raw_uuid[16];		/* the namespace's own label UUID */
	char *blockdev, *chardev;	/* NULL when not that mode */
	uint64_t align;
	char *nd_region;
	uint64_t nd_resource;		/* the nd region's start, UINT64_MAX */
	int dax_region_id;		/* devdax: its dax region, -1 */
	struct famfs_cxl_region *region;
	struct famfs_cxl_check *check;	/* fsdax namespaces only */
};

struct famfs_cxl_dax_region {
	struct famfs_cxl_dax_region *next;
	struct famfs_cxl_ctx *ctx;	/* owner, for dax region -> devices */
	int id;
	uint64_t size, align;
	struct famfs_cxl_region *region;
	struct famfs_cxl_namespace *ns;
};

struct famfs_cxl_daxdev {
	struct famfs_cxl_daxdev *next;
	char *devname;
	uint64_t size, align;
	uint64_t resource;		/* UINT64_MAX: unknown */
	const char *mode;		/* static: devdax, system-ram; NULL */
	int target_node, numa_node;
	bool enabled;
	int online_blocks;
	bool movable;
	struct famfs_cxl_dax_region *dax_region;
	struct famfs_cxl_region *region;
	struct famfs_cxl_check check;
};

struct famfs_cxl_ctx {
	int log_priority;		/* FAMFS_CXL_LOG, syslog priority */
	struct famfs_cxl_memdev *memdevs;
	struct famfs_cxl_region *regions;
	struct famfs_cxl_namespace *namespaces;
	struct famfs_cxl_dax_region *dax_regions;
	struct famfs_cxl_daxdev *daxdevs;
};

/* ctx.c */
__attribute__((format(printf, 3, 4)))
void cxl_log(struct famfs_cxl_ctx *ctx, int priority, const char *fmt, ...);
#define cxl_dbg(ctx, ...)	cxl_log(ctx, 7, __VA_ARGS__)
#define cxl_err(ctx, ...)	cxl_log(ctx, 3, __VA_ARGS__)
/* Forwards the ndctl libraries' own log lines into ours (debug level). */
void cxl_forward_log(struct famfs_cxl_ctx *ctx, int priority, const char *file,
		     int line, const char *fn, const char *fmt, va_list ap);

/* Scans again; the objects of the previous scan are freed. 0 or -errno. */
int cxl_scan(struct famfs_cxl_ctx *ctx);

/* scan_cxl.c, scan_nd.c, scan_dax.c: each appends to ctx's lists. */
int cxl_scan_memdevs_regions(struct famfs_cxl_ctx *ctx);
int cxl_scan_namespaces(struct famfs_cxl_ctx *ctx);
int cxl_scan_dax(struct famfs_cxl_ctx *ctx);
/* "devdax", "system-ram" or NULL, from the driver bound to a dax device. */
const char *cxl_dax_mode(const char *devname);
/* The CXL region whose address range holds addr, or NULL. */
struct famfs_cxl_region *cxl_region_by_address(struct famfs_cxl_ctx *ctx,
					       uint64_t addr);

/* check.c: fills the problems, users and pool UUID of one candidate. */
int cxl_check_run(struct famfs_cxl_ctx *ctx, struct famfs_cxl_check *c);
int cxl_check_add(struct famfs_cxl_check *c, enum famfs_cxl_problem p,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cxl_check_clear(struct famfs_cxl_check *c);
const char *cxl_problem_code(enum famfs_cxl_problem p);	/* "system-ram" ... */
/* Marks which candidates are open, mapped, mounted or held (one /proc walk). */
void cxl_check_users(struct famfs_cxl_ctx *ctx);

/* ctx.c: small helpers */
int cxl_sysfs_read(const char *path, char *buf, size_t size);
char *cxl_strdup_or_null(const char *s);
int cxl_str_add(char **s, const char *add);

#endif
