/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The data-area allocator: one bit per allocation unit. It holds no state of
 * its own on the media: every role rebuilds it from the log's create and
 * reclaim records, so a crash can neither leak nor double-allocate.
 *
 * A unit is free, used, held, or used and held:
 *   used  the log gives it to a file (or to a deleted file not yet
 *         reclaimed): famfs_alloc_commit() on a create, famfs_alloc_release()
 *         on its reclaim. This is all the replay engine knows.
 *   held  the master reserved it for a create whose record is not applied
 *         yet (famfs_alloc_reserve()), so no other create gets it meanwhile;
 *         famfs_alloc_unreserve() ends the hold once the record is applied
 *         or the create failed. Holds never change what a record means:
 *         committing a held unit is allowed, exactly as on an agent, which
 *         holds nothing.
 *
 * The range functions take an array of extents (host byte order) and act
 * on all of them or, with an error, on none.
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
 * Whether famfs_alloc_commit() of these extents would succeed, changing
 * nothing: 0, -ERANGE when one is misaligned, empty or outside the managed
 * area, -EEXIST when one overlaps used space or another of them. The
 * extents are checked in order and the first failing one decides.
 */
int famfs_alloc_check(const struct famfs_alloc *a,
		      const struct famfs_extent *ext, unsigned int n);

/* Marks the extents used, after famfs_alloc_check() (its errors). */
int famfs_alloc_commit(struct famfs_alloc *a, const struct famfs_extent *ext,
		       unsigned int n);

/*
 * Marks used extents free again (a reclaim, or undoing a commit). -ERANGE,
 * -EINVAL if a unit is not used or two extents overlap.
 */
int famfs_alloc_release(struct famfs_alloc *a, const struct famfs_extent *ext,
			unsigned int n);

/*
 * Holds size bytes (rounded up to units) of units neither used nor held as
 * at most max_extents extents, largest pieces first fit from a roving
 * cursor. Returns the extent count; -ENOSPC when the pool is full or too
 * fragmented, -ENOMEM (nothing is held then).
 */
int famfs_alloc_reserve(struct famfs_alloc *a, uint64_t size,
			struct famfs_extent *ext, unsigned int max_extents);

/*
 * Ends the holds of famfs_alloc_reserve(): committed units stay used, the
 * others are free again. -ERANGE, -EINVAL if a unit is not held or two
 * extents overlap.
 */
int famfs_alloc_unreserve(struct famfs_alloc *a,
			  const struct famfs_extent *ext, unsigned int n);

/*
 * The device now ends at pool offset end (it shrank): every unit not
 * wholly before end is held for good, so no reserve hands it out again;
 * what is used there stays used (its files answer EIO on access) and is
 * not free after its reclaim either. Only shrinks (an end past an earlier
 * one changes nothing). *ret_bytes: the bytes newly cut. 0 or -ENOMEM.
 */
int famfs_alloc_cut(struct famfs_alloc *a, uint64_t end, uint64_t *ret_bytes);
/* Bytes cut so far. */
uint64_t famfs_alloc_cut_bytes(const struct famfs_alloc *a);

/*
 * The pool map's walk of the holds: the first run of units at or after
 * from, below the cut, that are held and not used, as unit indices into
 * *ret_first and *ret_n. 0, or -ENOENT when there is none.
 */
int famfs_alloc_next_held(const struct famfs_alloc *a, uint64_t from,
			  uint64_t *ret_first, uint64_t *ret_n);
/* The first unit cut (famfs_alloc_units() when none is). */
uint64_t famfs_alloc_cut_from(const struct famfs_alloc *a);
uint64_t famfs_alloc_units(const struct famfs_alloc *a);

uint64_t famfs_alloc_unit(const struct famfs_alloc *a);
/* Bytes neither used nor held. */
uint64_t famfs_alloc_free_bytes(const struct famfs_alloc *a);
uint64_t famfs_alloc_held_bytes(const struct famfs_alloc *a);
uint64_t famfs_alloc_total_bytes(const struct famfs_alloc *a);
/* Memory the allocator uses, for the per-file accounting. */
uint64_t famfs_alloc_mem_bytes(const struct famfs_alloc *a);

#endif
