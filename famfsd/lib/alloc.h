/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The data-area allocator: one bit per allocation unit. It holds no state of
 * its own on the media: the master rebuilds it from the log's create and
 * reclaim records at start, so a crash can neither leak nor double-allocate.
 */
#ifndef FAMFSD_ALLOC_H
#define FAMFSD_ALLOC_H

#include <stdint.h>

#include "famfsd_format.h"

struct famfs_alloc;

/* Manages [base, base + units * unit) of the pool. */
int famfs_alloc_new(uint64_t base, uint64_t units, uint64_t unit,
		    struct famfs_alloc **ret);
void famfs_alloc_free(struct famfs_alloc *a);

/*
 * Marks [offset, offset + len) used. -ERANGE when it is misaligned or
 * outside the managed area, -EEXIST when any unit is already used (nothing
 * is changed then).
 */
int famfs_alloc_mark(struct famfs_alloc *a, uint64_t offset, uint64_t len);

/* Marks [offset, offset + len) free. -ERANGE, or -EINVAL if any was free. */
int famfs_alloc_release(struct famfs_alloc *a, uint64_t offset, uint64_t len);

/*
 * Allocates size bytes (rounded up to units) as at most max_extents extents,
 * host byte order, largest pieces first fit from a roving cursor. Returns
 * the extent count, or -ENOSPC (pool full or too fragmented; nothing is
 * allocated then).
 */
int famfs_alloc_alloc(struct famfs_alloc *a, uint64_t size,
		      struct famfs_extent *ext, unsigned int max_extents);

uint64_t famfs_alloc_unit(const struct famfs_alloc *a);
uint64_t famfs_alloc_free_bytes(const struct famfs_alloc *a);
uint64_t famfs_alloc_total_bytes(const struct famfs_alloc *a);
/* Memory the allocator uses, for the per-file accounting. */
uint64_t famfs_alloc_mem_bytes(const struct famfs_alloc *a);

#endif
