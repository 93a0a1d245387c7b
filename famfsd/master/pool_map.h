/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The pool map (docs/ui.md): a snapshot of the data area as sorted runs of
 * units, each of one class (free, held, pending, cut, untenanted, a
 * tenant's) and owner, and the cell vote that divides it into any number
 * of cells for GET /v1/pool/map.
 *
 * A snapshot is made in three steps so the state lock is held only for
 * the copy: pool_map_new() (no lock) allocates room for the runs and
 * touches it, so no page fault happens under the lock;
 * pool_map_collect() (state lock held) copies every file's extents, the
 * pending reclaim list, the held runs and the tenant names as they are;
 * pool_map_finish() (no lock) sorts them by unit, fills the gaps with
 * free and cut runs and gives each run its class. A finished snapshot is
 * read only: it is refcounted and shared by every reply made from it.
 * No locking here; master/api/map.c caches the snapshot and holds the locks.
 */
#ifndef FAMFSD_MASTER_POOL_MAP_H
#define FAMFSD_MASTER_POOL_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* The fixed classes; a tenant's is POOL_CLASS_TENANT + its index by name. */
enum pool_map_class {
	POOL_CLASS_FREE,
	POOL_CLASS_HELD,
	POOL_CLASS_PENDING,
	POOL_CLASS_CUT,
	POOL_CLASS_OTHER,	/* a tenant's view: not its tenant's */
	POOL_CLASS_UNTENANTED,
	POOL_CLASS_TENANT,
};

/* "free", "held", ... "tenant" (any class >= POOL_CLASS_TENANT). */
const char *pool_map_kind_name(uint32_t cls);

/* Units [first, first + units) of one owner. */
struct pool_map_run {
	uint64_t first;
	uint64_t units;
	uint64_t ino;		/* files and pending: its inode; else 0 */
	uint32_t cls;		/* collected: tenant id for files (see .c) */
	uint32_t kind;		/* collected: what the run is (see .c) */
};

/* What a snapshot shows: the state at seq, cached while this key holds. */
struct pool_map_key {
	uint64_t seq;		/* records applied */
	uint64_t generation;	/* of the log */
	uint64_t held_bytes;
	uint64_t cut_bytes;
};

struct pool_map {
	atomic_uint refs;
	struct pool_map_key key;
	uint64_t alloc_unit;
	uint64_t data_offset;
	uint64_t units;
	uint64_t cut_from;		/* first unit cut; units: none */
	uint32_t n_tenants;
	char (*tenants)[FAMFS_TENANT_MAX + 1];	/* by name */
	uint32_t *class_of_id;		/* collected tenant ids: their class */
	uint32_t n_ids;			/* tenant ids 0..n_ids - 1 */
	struct pool_map_run *runs;	/* sorted, covering [0, units) */
	size_t n_runs, cap_runs;
	uint64_t *class_units;		/* n_classes() of them, admin's view */
	uint64_t lock_ns;		/* time pool_map_collect() took */
	uint64_t build_ns;		/* time pool_map_finish() took */
};

static inline uint32_t pool_map_classes(const struct pool_map *pm)
{
	return POOL_CLASS_TENANT + pm->n_tenants;
}

/*
 * A new, empty snapshot (one reference) with room for about runs runs
 * (more grow under the lock). 0 or -ENOMEM.
 */
int pool_map_new(size_t runs, struct pool_map **ret);
/*
 * Copies what the state holds into pm (the state's lock held, and key
 * read under the same hold). 0 or -ENOMEM (then only pool_map_put()).
 */
int pool_map_collect(struct pool_map *pm, const struct famfs_state *st,
		     const struct pool_map_key *key);
/*
 * Sorts, fills and classes a collected snapshot (no lock). 0, -ENOMEM,
 * or -EUCLEAN when the runs did not add up (a bug, never seen).
 */
int pool_map_finish(struct pool_map *pm);

struct pool_map *pool_map_get(struct pool_map *pm);
/* Drops a reference; NULL is fine. */
void pool_map_put(struct pool_map *pm);

/*
 * A view: the admin's (tenant NULL) or one tenant's, in which every unit
 * not of its files is POOL_CLASS_OTHER and its own class is
 * POOL_CLASS_TENANT (its tenant list is just its name).
 */
struct pool_map_view {
	const struct pool_map *pm;
	uint32_t *map;			/* snapshot class -> view class */
	uint32_t n_classes;		/* of the view */
	const char *tenant;		/* NULL: the admin's */
	uint64_t *class_units;		/* n_classes of them */
};

/* 0 or -ENOMEM; pool_map_view_free() either way. */
int pool_map_view_init(struct pool_map_view *v, const struct pool_map *pm,
		       const char *tenant);
void pool_map_view_free(struct pool_map_view *v);

/* The cells of GET /v1/pool/map for a request of n (>= 1) cells. */
struct pool_map_cells {
	uint64_t cell_units;
	uint64_t cells;
	uint64_t *runs;			/* pairs: class, cells */
	size_t n_runs;			/* pairs */
};

/*
 * Each cell takes the class holding most of its units, the lowest on a
 * tie; runs of equal cells are merged. 0 or -ENOMEM; pool_map_cells_free().
 */
int pool_map_cells(const struct pool_map_view *v, uint64_t n,
		   struct pool_map_cells *ret);
void pool_map_cells_free(struct pool_map_cells *c);

/* Index of the run holding unit (< units). */
size_t pool_map_find(const struct pool_map *pm, uint64_t unit);

/* What units [first, first + units) hold in a view: one owner each. */
struct pool_map_item {
	uint64_t first;
	uint64_t units;
	uint32_t cls;			/* the view's */
	uint64_t ino;			/* files, pending; 0 when hidden */
};

#define POOL_MAP_ITEMS_MAX	16u

/*
 * Up to POOL_MAP_ITEMS_MAX items of [unit, unit + count) (count clipped
 * at the data area's end) in unit order; adjacent runs of the same class
 * and owner are one item. Returns how many; *ret_truncated when there was
 * more.
 */
size_t pool_map_items(const struct pool_map_view *v, uint64_t unit,
		      uint64_t count, struct pool_map_item *ret,
		      bool *ret_truncated);

/* The JSON text of a map reply (malloc'd, *ret_len bytes). 0 or -ENOMEM. */
int pool_map_json(const struct pool_map_view *v,
		  const struct pool_map_cells *c, char **ret, size_t *ret_len);

#endif
