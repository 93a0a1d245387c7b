// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pool map's snapshot and cell vote (pool_map.h, docs/ui.md).
 *
 * Collected runs carry what they are in kind and, for files, the tenant id
 * in cls; pool_map_finish() turns both into the class once the tenant
 * names are sorted, so nothing under the state lock sorts or compares.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "master/pool_map.h"

enum run_kind { RUN_FREE, RUN_HELD, RUN_PENDING, RUN_CUT, RUN_FILE };

static const char *const kind_names[] = {
	[POOL_CLASS_FREE] = "free", [POOL_CLASS_HELD] = "held",
	[POOL_CLASS_PENDING] = "pending", [POOL_CLASS_CUT] = "cut",
	[POOL_CLASS_OTHER] = "other", [POOL_CLASS_UNTENANTED] = "untenanted",
	[POOL_CLASS_TENANT] = "tenant",
};

const char *pool_map_kind_name(uint32_t cls)
{
	return kind_names[cls < POOL_CLASS_TENANT ? cls : POOL_CLASS_TENANT];
}

/* ---- collecting, under the state lock ------------------------------------ */

static int add_run(struct pool_map *pm, uint64_t first, uint64_t units,
		   uint64_t ino, uint32_t cls, uint32_t kind)
{
	if (pm->n_runs == pm->cap_runs) {
		size_t cap = pm->cap_runs ? pm->cap_runs * 2 : 1024;
		struct pool_map_run *r = realloc(pm->runs, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		pm->runs = r;
		pm->cap_runs = cap;
	}
	pm->runs[pm->n_runs++] = (struct pool_map_run){
		.first = first, .units = units, .ino = ino, .cls = cls,
		.kind = kind,
	};
	return 0;
}

/* Extents as runs; the replay engine made them aligned and in the area. */
static int add_extents(struct pool_map *pm, const struct famfs_extent *e,
		       uint32_t n, uint64_t ino, uint32_t tenant, uint32_t kind)
{
	unsigned int shift = (unsigned int)__builtin_ctzll(pm->alloc_unit);

	for (uint32_t i = 0; i < n; i++) {
		int err = add_run(pm, (e[i].offset - pm->data_offset) >> shift,
				  e[i].len >> shift, ino, tenant, kind);

		if (err)
			return err;
	}
	return 0;
}

/* Every file of the tree, depth first without a stack (parent links). */
static int collect_files(struct pool_map *pm, const struct famfs_ns *ns)
{
	struct famfs_node *root = famfs_ns_root(ns), *n = root->dir.first;

	while (n) {
		if (famfs_node_is_dir(n) && n->dir.first) {
			n = n->dir.first;
			continue;
		}
		if (!famfs_node_is_dir(n) && n->n_extents &&
		    add_extents(pm, famfs_node_extents(n), n->n_extents, n->ino,
				n->tenant, RUN_FILE))
			return -ENOMEM;
		while (n != root && !n->next)
			n = n->parent;
		n = n == root ? NULL : n->next;
	}
	return 0;
}

static int collect_pending(struct pool_map *pm, const struct famfs_state *st)
{
	for (const struct famfs_pending *p = st->pending_first; p; p = p->next)
		if (add_extents(pm, p->extents, p->n_extents, p->ino, 0,
				RUN_PENDING))
			return -ENOMEM;
	return 0;
}

static int collect_held(struct pool_map *pm, const struct famfs_alloc *a)
{
	uint64_t at = 0, first, n;

	while (famfs_alloc_next_held(a, at, &first, &n) == 0) {
		if (add_run(pm, first, n, 0, 0, RUN_HELD))
			return -ENOMEM;
		at = first + n;
	}
	return 0;
}

/* Names by tenant id (id 1 at index 0), sorted later. */
static int collect_tenants(struct pool_map *pm, const struct famfs_tenants *t)
{
	uint32_t n = famfs_tenants_count(t);

	pm->tenants = calloc(n ? n : 1, sizeof(*pm->tenants));
	if (!pm->tenants)
		return -ENOMEM;
	for (uint32_t id = 1; id <= n; id++) {
		const struct famfs_tenant *tn = famfs_tenants_by_id(t, id);

		if (tn)
			memcpy(pm->tenants[id - 1], tn->name, sizeof(tn->name));
	}
	pm->n_tenants = n;
	return 0;
}

int pool_map_new(size_t runs, struct pool_map **ret)
{
	struct pool_map *pm = calloc(1, sizeof(*pm));

	if (!pm)
		return -ENOMEM;
	atomic_init(&pm->refs, 1);
	pm->cap_runs = runs > 1024 ? runs : 1024;
	pm->runs = malloc(pm->cap_runs * sizeof(*pm->runs));
	if (!pm->runs) {
		free(pm);
		return -ENOMEM;
	}
	/*
	 * Faulted in now, not under the lock: 32 MB for 1M files is 8,000
	 * page faults. A write per page (a memset of zeros after malloc may
	 * be compiled into a calloc, which touches nothing).
	 */
	for (size_t off = 0; off < pm->cap_runs * sizeof(*pm->runs); off += 4096)
		((volatile char *)pm->runs)[off] = 0;
	*ret = pm;
	return 0;
}

int pool_map_collect(struct pool_map *pm, const struct famfs_state *st,
		     const struct pool_map_key *key)
{
	uint64_t t0 = clock_mono_ns();
	int err;

	pm->key = *key;
	pm->alloc_unit = famfs_alloc_unit(st->alloc);
	pm->data_offset = st->info.data_offset;
	pm->units = famfs_alloc_units(st->alloc);
	pm->cut_from = famfs_alloc_cut_from(st->alloc);
	err = collect_tenants(pm, st->tenants);
	if (!err)
		err = collect_files(pm, st->ns);
	if (!err)
		err = collect_pending(pm, st);
	if (!err)
		err = collect_held(pm, st->alloc);
	pm->lock_ns = clock_mono_ns() - t0;
	return err;
}

/* ---- finishing, without a lock ------------------------------------------- */

static int by_name(const void *a, const void *b, void *names)
{
	const char (*v)[FAMFS_TENANT_MAX + 1] = names;

	return strcmp(v[*(const uint32_t *)a], v[*(const uint32_t *)b]);
}

/* Sorts the names and gives each tenant id its class. */
static int class_tenants(struct pool_map *pm)
{
	uint32_t n = pm->n_tenants;
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	char (*sorted)[FAMFS_TENANT_MAX + 1] = calloc(n ? n : 1,
						      sizeof(*sorted));

	pm->class_of_id = malloc((n + 1) * sizeof(*pm->class_of_id));
	if (!order || !sorted || !pm->class_of_id) {
		free(order);
		free(sorted);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), by_name, pm->tenants);
	pm->class_of_id[0] = POOL_CLASS_UNTENANTED;
	for (uint32_t rank = 0; rank < n; rank++) {
		memcpy(sorted[rank], pm->tenants[order[rank]], sizeof(*sorted));
		pm->class_of_id[order[rank] + 1] = POOL_CLASS_TENANT + rank;
	}
	pm->n_ids = n + 1;
	free(pm->tenants);
	pm->tenants = sorted;
	free(order);
	return 0;
}

#define RADIX_BITS	11u
#define RADIX		(1u << RADIX_BITS)

/*
 * Sorts runs by first unit: an LSD radix sort of as many 11-bit digits as
 * the largest unit index needs (two for a pool of 4M units), so a million
 * runs cost a few passes over memory rather than qsort's 20 compares each.
 * Runs that are already in order (a fresh pool fills from the start) cost
 * one pass.
 */
static int sort_runs(struct pool_map_run *runs, size_t n, uint64_t units)
{
	struct pool_map_run *tmp, *src = runs, *dst;
	unsigned int bits = units > 1 ?
			    64 - (unsigned int)__builtin_clzll(units - 1) : 1;
	size_t count[RADIX];
	bool sorted = true;

	for (size_t i = 1; i < n && sorted; i++)
		sorted = runs[i - 1].first <= runs[i].first;
	if (sorted)
		return 0;
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	dst = tmp;
	for (unsigned int shift = 0; shift < bits; shift += RADIX_BITS) {
		size_t sum = 0;

		memset(count, 0, sizeof(count));
		for (size_t i = 0; i < n; i++)
			count[(src[i].first >> shift) & (RADIX - 1)]++;
		for (size_t d = 0; d < RADIX; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].first >> shift) & (RADIX - 1)]++] = src[i];
		dst = src;
		src = src == runs ? tmp : runs;
	}
	if (src != runs)
		memcpy(runs, src, n * sizeof(*runs));
	free(tmp);
	return 0;
}

static uint32_t class_of(const struct pool_map *pm, const struct pool_map_run *r)
{
	switch (r->kind) {
	case RUN_HELD:
		return POOL_CLASS_HELD;
	case RUN_PENDING:
		return POOL_CLASS_PENDING;
	default:
		return r->cls < pm->n_ids ? pm->class_of_id[r->cls] :
					    POOL_CLASS_UNTENANTED;
	}
}

/*
 * Clips the sorted collected runs so they cover each unit once at most
 * (they never overlap: the allocator gives a unit to one owner; should
 * they, the later one loses), drops what is left empty, gives each its
 * class, and returns how many runs the gaps between them will add.
 */
static size_t clip(struct pool_map *pm)
{
	uint64_t at = 0;
	size_t n = 0, gaps = 0;

	for (size_t i = 0; i < pm->n_runs; i++) {
		struct pool_map_run r = pm->runs[i];
		uint64_t end = r.first + r.units < pm->units ?
			       r.first + r.units : pm->units;

		if (r.first < at)
			r.first = at;
		if (r.first >= end)
			continue;
		/* A gap across the cut is two runs. */
		gaps += (r.first > at) +
			(at < pm->cut_from && r.first > pm->cut_from);
		r.units = end - r.first;
		r.cls = class_of(pm, &r);
		pm->runs[n++] = r;
		at = end;
	}
	pm->n_runs = n;
	return gaps + (at < pm->units) + (at < pm->cut_from &&
					  pm->units > pm->cut_from);
}

/* Puts a gap's runs (free, then cut) before *out, moving it down. */
static void gap_down(const struct pool_map *pm, struct pool_map_run **out,
		     uint64_t from, uint64_t to)
{
	uint64_t cut = pm->cut_from;
	uint64_t mid = to < cut ? to : from > cut ? from : cut;

	if (mid < to)
		*--*out = (struct pool_map_run){
			.first = mid, .units = to - mid, .cls = POOL_CLASS_CUT,
			.kind = RUN_CUT };
	if (from < mid)
		*--*out = (struct pool_map_run){
			.first = from, .units = mid - from,
			.cls = POOL_CLASS_FREE, .kind = RUN_FREE };
}

/*
 * Adds the free and cut runs between the clipped runs, in place: the
 * array grows by the gaps' count once, and is filled from its end, each
 * run moving up by the number of gaps before it. One pass, no second
 * array of a million runs.
 */
static int fill(struct pool_map *pm)
{
	size_t gaps = clip(pm), n = pm->n_runs;
	struct pool_map_run *runs, *out;
	uint64_t end = pm->units;

	if (n + gaps > pm->cap_runs) {
		runs = realloc(pm->runs, (n + gaps) * sizeof(*runs));
		if (!runs)
			return -ENOMEM;
		pm->runs = runs;
		pm->cap_runs = n + gaps;
	}
	out = pm->runs + n + gaps;
	for (size_t i = n; i-- > 0;) {
		struct pool_map_run r = pm->runs[i];

		gap_down(pm, &out, r.first + r.units, end);
		*--out = r;
		end = r.first;
	}
	gap_down(pm, &out, 0, end);
	/* clip() counted the gaps gap_down() made: out is back at the start. */
	if (out != pm->runs)
		return -EUCLEAN;
	pm->n_runs = n + gaps;
	return 0;
}

int pool_map_finish(struct pool_map *pm)
{
	uint64_t t0 = clock_mono_ns();
	int err = class_tenants(pm);

	if (!err)
		err = sort_runs(pm->runs, pm->n_runs, pm->units);
	if (!err)
		err = fill(pm);
	if (!err) {
		pm->class_units = calloc(pool_map_classes(pm),
					 sizeof(*pm->class_units));
		err = pm->class_units ? 0 : -ENOMEM;
	}
	if (err)
		return err;
	for (size_t i = 0; i < pm->n_runs; i++)
		pm->class_units[pm->runs[i].cls] += pm->runs[i].units;
	pm->build_ns = clock_mono_ns() - t0;
	return 0;
}

struct pool_map *pool_map_get(struct pool_map *pm)
{
	atomic_fetch_add(&pm->refs, 1);
	return pm;
}

void pool_map_put(struct pool_map *pm)
{
	if (!pm || atomic_fetch_sub(&pm->refs, 1) != 1)
		return;
	free(pm->tenants);
	free(pm->class_of_id);
	free(pm->runs);
	free(pm->class_units);
	free(pm);
}

/* ---- views, cells, items ------------------------------------------------- */

/* The tenant's index in the sorted names, or -1. */
static int64_t tenant_index(const struct pool_map *pm, const char *tenant)
{
	uint32_t lo = 0, hi = pm->n_tenants;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(pm->tenants[mid], tenant);

		if (!c)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int pool_map_view_init(struct pool_map_view *v, const struct pool_map *pm,
		       const char *tenant)
{
	uint32_t n = pool_map_classes(pm);
	int64_t own = tenant ? tenant_index(pm, tenant) : -1;

	*v = (struct pool_map_view){
		.pm = pm, .tenant = tenant,
		.n_classes = tenant ? POOL_CLASS_TENANT + 1 : n,
	};
	v->map = malloc(n * sizeof(*v->map));
	v->class_units = calloc(v->n_classes, sizeof(*v->class_units));
	if (!v->map || !v->class_units)
		return -ENOMEM;
	for (uint32_t c = 0; c < n; c++) {
		if (!tenant)
			v->map[c] = c;
		else
			v->map[c] = own >= 0 && c == POOL_CLASS_TENANT + own ?
				    POOL_CLASS_TENANT : POOL_CLASS_OTHER;
		v->class_units[v->map[c]] += pm->class_units[c];
	}
	return 0;
}

void pool_map_view_free(struct pool_map_view *v)
{
	free(v->map);
	free(v->class_units);
	v->map = NULL;
	v->class_units = NULL;
}

/* Appends k cells of class cls, merged with the last pair when equal. */
static int emit(struct pool_map_cells *c, size_t *cap, uint64_t cls, uint64_t k)
{
	if (c->n_runs && c->runs[2 * c->n_runs - 2] == cls) {
		c->runs[2 * c->n_runs - 1] += k;
		return 0;
	}
	if (c->n_runs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		uint64_t *r = realloc(c->runs, 2 * ncap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		c->runs = r;
		*cap = ncap;
	}
	c->runs[2 * c->n_runs] = cls;
	c->runs[2 * c->n_runs + 1] = k;
	c->n_runs++;
	return 0;
}

/* Scratch for the vote of a cell that several runs share. */
struct tally {
	uint64_t *units;		/* by view class */
	uint32_t *touched;		/* classes with units, to reset */
	uint32_t n_touched;
};

/*
 * The vote of cell [start, end) from run *i on: most units, lowest class
 * on a tie. Leaves *i at the run holding end (or past the last).
 */
static uint32_t vote(const struct pool_map_view *v, struct tally *t,
		     size_t *i, uint64_t start, uint64_t end)
{
	const struct pool_map *pm = v->pm;
	uint32_t best = 0;
	uint64_t most = 0;

	for (; *i < pm->n_runs && pm->runs[*i].first < end; ++*i) {
		const struct pool_map_run *r = &pm->runs[*i];
		uint64_t from = r->first > start ? r->first : start;
		uint64_t to = r->first + r->units < end ? r->first + r->units : end;
		uint32_t cls = v->map[r->cls];

		if (!t->units[cls])
			t->touched[t->n_touched++] = cls;
		t->units[cls] += to - from;
		if (r->first + r->units > end)
			break;
	}
	for (uint32_t k = 0; k < t->n_touched; k++) {
		uint32_t cls = t->touched[k];

		if (t->units[cls] > most || (t->units[cls] == most && cls < best)) {
			most = t->units[cls];
			best = cls;
		}
		t->units[cls] = 0;
	}
	t->n_touched = 0;
	return best;
}

/*
 * Walks cells and runs together: a run that covers whole cells gives them
 * its class at once (one step for a large free area however many cells it
 * spans), a cell shared by several runs is voted. O(runs + pairs).
 */
static int walk_cells(const struct pool_map_view *v, struct tally *t,
		      struct pool_map_cells *c)
{
	const struct pool_map *pm = v->pm;
	size_t i = 0, cap = 0;
	uint64_t cell = 0;

	while (cell < c->cells) {
		uint64_t start = cell * c->cell_units;
		uint64_t end = start + c->cell_units < pm->units ?
			       start + c->cell_units : pm->units;
		const struct pool_map_run *r = &pm->runs[i];
		uint64_t rend = r->first + r->units, k = 1;
		uint32_t cls;

		if (r->first <= start && rend >= end) {
			cls = v->map[r->cls];
			k = rend >= pm->units ? c->cells - cell :
				(rend - start) / c->cell_units;
		} else {
			cls = vote(v, t, &i, start, end);
		}
		if (emit(c, &cap, cls, k))
			return -ENOMEM;
		cell += k;
		while (i < pm->n_runs &&
		       pm->runs[i].first + pm->runs[i].units <= cell * c->cell_units)
			i++;
	}
	return 0;
}

int pool_map_cells(const struct pool_map_view *v, uint64_t n,
		   struct pool_map_cells *ret)
{
	const struct pool_map *pm = v->pm;
	struct tally t = { 0 };
	int err;

	*ret = (struct pool_map_cells){ .cell_units = 1 };
	if (!pm->units)
		return 0;
	ret->cell_units = pm->units / n + (pm->units % n != 0);
	ret->cells = pm->units / ret->cell_units +
		     (pm->units % ret->cell_units != 0);
	t.units = calloc(v->n_classes, sizeof(*t.units));
	t.touched = malloc(v->n_classes * sizeof(*t.touched));
	err = t.units && t.touched ? walk_cells(v, &t, ret) : -ENOMEM;
	free(t.units);
	free(t.touched);
	if (err)
		pool_map_cells_free(ret);
	return err;
}

void pool_map_cells_free(struct pool_map_cells *c)
{
	free(c->runs);
	c->runs = NULL;
	c->n_runs = 0;
}

size_t pool_map_find(const struct pool_map *pm, uint64_t unit)
{
	size_t lo = 0, hi = pm->n_runs;

	/* The last run starting at or before unit: runs cover every unit. */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->runs[mid].first <= unit)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

size_t pool_map_items(const struct pool_map_view *v, uint64_t unit,
		      uint64_t count, struct pool_map_item *ret,
		      bool *ret_truncated)
{
	const struct pool_map *pm = v->pm;
	uint64_t end = count < pm->units - unit ? unit + count : pm->units;
	size_t n = 0;

	*ret_truncated = false;
	for (size_t i = pool_map_find(pm, unit);
	     i < pm->n_runs && pm->runs[i].first < end; i++) {
		const struct pool_map_run *r = &pm->runs[i];
		uint32_t cls = v->map[r->cls];
		/* A tenant learns nothing of what is not its own. */
		uint64_t ino = cls == POOL_CLASS_OTHER ? 0 : r->ino;
		uint64_t from = r->first > unit ? r->first : unit;
		uint64_t to = r->first + r->units < end ? r->first + r->units : end;
		struct pool_map_item *last = n ? &ret[n - 1] : NULL;

		if (last && last->cls == cls && last->ino == ino &&
		    last->first + last->units == from) {
			last->units += to - from;
			continue;
		}
		if (n == POOL_MAP_ITEMS_MAX) {
			*ret_truncated = true;
			break;
		}
		ret[n++] = (struct pool_map_item){
			.first = from, .units = to - from, .cls = cls, .ino = ino,
		};
	}
	return n;
}

/* ---- the reply's text ---------------------------------------------------- */

/* Appends v in decimal at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_str(char *p, const char *s)
{
	size_t len = strlen(s);

	memcpy(p, s, len);
	return p + len;
}

static char *put_field(char *p, const char *key, uint64_t v)
{
	p = put_str(p, key);
	return put_u64(p, v);
}

/*
 * Written by hand: a map of 1M cells is up to 2M numbers, which json-c
 * would hold as 2M objects. Tenant names need no escaping: they are
 * A-Z a-z 0-9 . _ - only (famfs_tenant_check()).
 */
int pool_map_json(const struct pool_map_view *v,
		  const struct pool_map_cells *c, char **ret, size_t *ret_len)
{
	const struct pool_map *pm = v->pm;
	uint32_t n_names = v->tenant ? 1 : pm->n_tenants;
	size_t size = 512 + (size_t)n_names * (FAMFS_TENANT_MAX + 4) +
		      (size_t)v->n_classes * 21 + c->n_runs * 2 * 21;
	char *buf = malloc(size), *p = buf;

	if (!buf)
		return -ENOMEM;
	p = put_field(p, "{\"seq\":", pm->key.seq);
	p = put_field(p, ",\"generation\":", pm->key.generation);
	p = put_field(p, ",\"alloc_unit\":", pm->alloc_unit);
	p = put_field(p, ",\"data_offset\":", pm->data_offset);
	p = put_field(p, ",\"units\":", pm->units);
	p = put_field(p, ",\"cell_units\":", c->cell_units);
	p = put_field(p, ",\"cells\":", c->cells);
	p = put_str(p, ",\"tenants\":[");
	for (uint32_t i = 0; i < n_names; i++) {
		p = put_str(p, i ? ",\"" : "\"");
		p = put_str(p, v->tenant ? v->tenant : pm->tenants[i]);
		p = put_str(p, "\"");
	}
	p = put_str(p, "],\"class_units\":[");
	for (uint32_t i = 0; i < v->n_classes; i++)
		p = put_field(p, i ? "," : "", v->class_units[i]);
	p = put_str(p, "],\"runs\":[");
	for (size_t i = 0; i < 2 * c->n_runs; i++)
		p = put_field(p, i ? "," : "", c->runs[i]);
	p = put_str(p, "]}");
	*ret = buf;
	*ret_len = (size_t)(p - buf);
	return 0;
}
