// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pool map (master/pool_map.c) over states built by the replay engine
 * from real records, plus holds and a cut made on its allocator: every
 * unit's class (files by tenant in name order, untenanted, pending, held,
 * cut, free), the cell vote (majority, lowest class on a tie, the last
 * short cell), a tenant's view (only "other" and its own), the items of a
 * unit range, and, at length, random states whose maps of every cell
 * count are compared with a unit-by-unit model voted the slow way.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "master/pool_map.h"

#define U	4096ull
#define UNITS	64ull

static struct famfs_pool_info info;

static struct famfs_state *new_state(uint64_t units)
{
	struct famfs_state *st = NULL;

	assert_int_equal(famfs_sb_plan(1ull << 40, U, 1ull << 20, &info, NULL), 0);
	assert_int_equal(famfs_sb_plan(info.data_offset + units * U, U, 1ull << 20,
				       &info, NULL), 0);
	assert_int_equal(famfs_state_new(&info, &st), 0);
	assert_int_equal(famfs_alloc_units(st->alloc), units);
	return st;
}

static void apply(struct famfs_state *st, struct famfs_rec r)
{
	const char *why = NULL;

	r.seq = st->last_seq + 1;
	r.epoch = 1;
	if (famfs_state_apply(st, &r, &why))
		fail_msg("record refused: %s", why ? why : "?");
}

/* A file of n units from unit first, in the root (tenant NULL: none). */
static void file(struct famfs_state *st, uint64_t ino, const char *tenant,
		 uint64_t first, uint64_t n)
{
	struct famfs_extent e = {
		.offset = htole64(info.data_offset + first * U),
		.len = htole64(n * U),
	};
	char name[32];

	snprintf(name, sizeof(name), "f%llu", (unsigned long long)ino);
	apply(st, (struct famfs_rec){
		.type = FAMFS_REC_CREATE, .ino = ino, .parent = FAMFS_ROOT_INO,
		.size = n * U, .mode = 0644, .name = name,
		.name_len = (uint32_t)strlen(name), .tenant = tenant,
		.tenant_len = tenant ? (uint32_t)strlen(tenant) : 0,
		.extents = &e, .n_extents = 1,
	});
}

static void delete(struct famfs_state *st, uint64_t ino)
{
	char name[32];

	snprintf(name, sizeof(name), "f%llu", (unsigned long long)ino);
	apply(st, (struct famfs_rec){
		.type = FAMFS_REC_DELETE, .ino = ino, .parent = FAMFS_ROOT_INO,
		.name = name, .name_len = (uint32_t)strlen(name),
	});
}

static struct pool_map *snapshot(const struct famfs_state *st)
{
	struct pool_map_key key = { .seq = st->last_seq };
	struct pool_map *pm;

	assert_int_equal(pool_map_new(0, &pm), 0);
	assert_int_equal(pool_map_collect(pm, st, &key), 0);
	assert_int_equal(pool_map_finish(pm), 0);
	return pm;
}

/* Every unit's class in a view, from the snapshot's runs. */
static void unit_classes(const struct pool_map_view *v, uint32_t *out)
{
	const struct pool_map *pm = v->pm;
	uint64_t at = 0;

	for (size_t i = 0; i < pm->n_runs; i++) {
		const struct pool_map_run *r = &pm->runs[i];

		assert_int_equal(r->first, at);	/* sorted, no gap, no overlap */
		assert_true(r->units > 0);
		for (uint64_t u = 0; u < r->units; u++)
			out[at + u] = v->map[r->cls];
		at += r->units;
	}
	assert_int_equal(at, pm->units);
}

/* The model's vote of cell [start, end): most units, lowest class on a tie. */
static uint32_t slow_vote(const uint32_t *cls, uint64_t start, uint64_t end,
			  uint32_t n_classes)
{
	uint64_t count[64] = { 0 };
	uint32_t best = 0;

	assert_true(n_classes <= 64);
	for (uint64_t u = start; u < end; u++)
		count[cls[u]]++;
	for (uint32_t c = 1; c < n_classes; c++)
		if (count[c] > count[best])
			best = c;
	return best;
}

/*
 * The reply for n cells, expanded, equals the model's vote of each cell;
 * the pairs merge equal neighbours and add up to cells; class_units are
 * the model's counts.
 */
static void check_cells(const struct pool_map_view *v, const uint32_t *cls,
			uint64_t n)
{
	const struct pool_map *pm = v->pm;
	struct pool_map_cells c;
	uint64_t cu, cells, cell = 0, counts[64] = { 0 };

	assert_int_equal(pool_map_cells(v, n, &c), 0);
	cu = (pm->units + n - 1) / n;
	cells = (pm->units + cu - 1) / cu;
	assert_int_equal(c.cell_units, cu);
	assert_int_equal(c.cells, cells);
	for (size_t i = 0; i < c.n_runs; i++) {
		uint64_t k = c.runs[2 * i + 1];

		assert_true(k > 0);
		assert_true(c.runs[2 * i] < v->n_classes);
		if (i)
			assert_int_not_equal(c.runs[2 * i], c.runs[2 * i - 2]);
		for (; k; k--, cell++) {
			uint64_t end = (cell + 1) * cu < pm->units ?
				       (cell + 1) * cu : pm->units;

			if (c.runs[2 * i] != slow_vote(cls, cell * cu, end,
						       v->n_classes))
				fail_msg("n=%llu cell %llu: class %llu, the model "
					 "says %u", (unsigned long long)n,
					 (unsigned long long)cell,
					 (unsigned long long)c.runs[2 * i],
					 slow_vote(cls, cell * cu, end,
						   v->n_classes));
		}
	}
	assert_int_equal(cell, cells);
	for (uint64_t u = 0; u < pm->units; u++)
		counts[cls[u]]++;
	for (uint32_t k = 0; k < v->n_classes; k++)
		assert_int_equal(v->class_units[k], counts[k]);
	pool_map_cells_free(&c);
}

/* ---- classes ------------------------------------------------------------- */

static void test_empty_pool_is_free(void **state)
{
	struct famfs_state *st = new_state(UNITS);
	struct pool_map *pm = snapshot(st);
	struct pool_map_view v;
	struct pool_map_cells c;

	(void)state;
	assert_int_equal(pm->n_runs, 1);
	assert_int_equal(pm->n_tenants, 0);
	assert_int_equal(pool_map_view_init(&v, pm, NULL), 0);
	assert_int_equal(v.n_classes, POOL_CLASS_TENANT);
	assert_int_equal(v.class_units[POOL_CLASS_FREE], UNITS);
	assert_int_equal(pool_map_cells(&v, 1u << 20, &c), 0);
	assert_int_equal(c.cell_units, 1);
	assert_int_equal(c.cells, UNITS);
	assert_int_equal(c.n_runs, 1);
	assert_int_equal(c.runs[0], POOL_CLASS_FREE);
	assert_int_equal(c.runs[1], UNITS);
	pool_map_cells_free(&c);
	pool_map_view_free(&v);
	pool_map_put(pm);
	famfs_state_free(st);
}

/*
 * Every class at once, unit by unit: files made out of unit order (the
 * snapshot sorts), tenants whose ids are not their name order, a pending
 * delete, a hold and a cut with a file inside it.
 */
static void test_every_class_exact(void **state)
{
	struct famfs_state *st = new_state(UNITS);
	struct famfs_extent held[4];
	uint32_t want[UNITS], got[UNITS];
	struct pool_map_view v;
	struct pool_map *pm;
	uint64_t cut;

	(void)state;
	for (uint64_t u = 0; u < UNITS; u++)
		want[u] = POOL_CLASS_FREE;
	file(st, 2, "zeta", 40, 4);		/* id 1, index 1 by name */
	file(st, 3, "alpha", 10, 2);		/* id 2, index 0 */
	file(st, 4, NULL, 0, 3);
	file(st, 5, "zeta", 20, 5);
	file(st, 6, "alpha", 58, 2);		/* inside the cut below */
	delete(st, 5);
	for (uint64_t u = 40; u < 44; u++)
		want[u] = POOL_CLASS_TENANT + 1;
	want[10] = want[11] = want[58] = want[59] = POOL_CLASS_TENANT;
	want[0] = want[1] = want[2] = POOL_CLASS_UNTENANTED;
	for (uint64_t u = 20; u < 25; u++)
		want[u] = POOL_CLASS_PENDING;
	/* Held from the rover (the start): units 3..8, before the gap at 10. */
	assert_int_equal(famfs_alloc_reserve(st->alloc, 6 * U, held, 4), 1);
	for (uint64_t u = (le64toh(held[0].offset) - info.data_offset) / U, k = 0;
	     k < 6; k++)
		want[u + k] = POOL_CLASS_HELD;
	assert_int_equal(famfs_alloc_cut(st->alloc, info.data_offset + 56 * U,
					 &cut), 0);
	assert_int_equal(cut, 8 * U);
	for (uint64_t u = 56; u < UNITS; u++)
		if (u != 58 && u != 59)
			want[u] = POOL_CLASS_CUT;
	pm = snapshot(st);
	assert_int_equal(pm->n_tenants, 2);
	assert_string_equal(pm->tenants[0], "alpha");
	assert_string_equal(pm->tenants[1], "zeta");
	assert_int_equal(pool_map_view_init(&v, pm, NULL), 0);
	unit_classes(&v, got);
	assert_memory_equal(got, want, sizeof(want));
	check_cells(&v, want, UNITS);
	assert_int_equal(v.class_units[POOL_CLASS_HELD], 6);
	assert_int_equal(v.class_units[POOL_CLASS_PENDING], 5);
	assert_int_equal(v.class_units[POOL_CLASS_CUT], 6);
	assert_int_equal(v.class_units[POOL_CLASS_UNTENANTED], 3);
	assert_int_equal(v.class_units[POOL_CLASS_TENANT], 4);
	assert_int_equal(v.class_units[POOL_CLASS_TENANT + 1], 4);
	pool_map_view_free(&v);
	pool_map_put(pm);
	famfs_state_free(st);
}

/* ---- the vote ------------------------------------------------------------ */

static void test_majority_tie_and_short_last_cell(void **state)
{
	struct famfs_state *st = new_state(UNITS);
	uint32_t cls[UNITS];
	struct pool_map_cells c;
	struct pool_map_view v;
	struct pool_map *pm;

	(void)state;
	file(st, 2, "b", 0, 3);		/* cell 0 (0-3): b 3, free 1 -> b */
	file(st, 3, "a", 4, 2);		/* cell 1 (4-7): a 2, free 2 -> free */
	file(st, 4, "b", 8, 2);		/* cell 2 (8-11): b 2, a 2 -> a */
	file(st, 5, "a", 10, 2);
	file(st, 6, NULL, 12, 1);	/* cell 3: one each of untenanted, */
	file(st, 7, "a", 13, 1);	/* a, b and free -> free */
	file(st, 8, "b", 14, 1);
	file(st, 9, "a", 63, 1);	/* the last cell (60-63): free 3 */
	pm = snapshot(st);
	assert_int_equal(pool_map_view_init(&v, pm, NULL), 0);
	unit_classes(&v, cls);
	assert_int_equal(pool_map_cells(&v, 16, &c), 0);
	assert_int_equal(c.cell_units, 4);
	assert_int_equal(c.cells, 16);
	{
		const uint64_t want[] = {
			POOL_CLASS_TENANT + 1, 1, POOL_CLASS_FREE, 1,
			POOL_CLASS_TENANT, 1, POOL_CLASS_FREE, 13,
		};

		assert_int_equal(c.n_runs, 4);
		assert_memory_equal(c.runs, want, sizeof(want));
	}
	pool_map_cells_free(&c);
	/* 64 units in 10 cells: 7 each, the tenth holds 1 (unit 63: a's). */
	assert_int_equal(pool_map_cells(&v, 10, &c), 0);
	assert_int_equal(c.cell_units, 7);
	assert_int_equal(c.cells, 10);
	assert_int_equal(c.runs[2 * c.n_runs - 2], POOL_CLASS_TENANT);
	assert_int_equal(c.runs[2 * c.n_runs - 1], 1);
	pool_map_cells_free(&c);
	for (uint64_t n = 1; n <= UNITS + 3; n++)
		check_cells(&v, cls, n);
	check_cells(&v, cls, 1u << 20);
	pool_map_view_free(&v);
	pool_map_put(pm);
	famfs_state_free(st);
}

/* ---- a tenant's view ----------------------------------------------------- */

static void test_tenant_view_shows_only_its_own(void **state)
{
	struct famfs_state *st = new_state(UNITS);
	struct famfs_extent held[1];
	uint32_t cls[UNITS];
	struct pool_map_view v;
	struct pool_map *pm;

	(void)state;
	file(st, 2, "a", 0, 4);
	file(st, 3, "b", 4, 4);
	file(st, 4, NULL, 8, 4);
	file(st, 5, "b", 12, 4);
	delete(st, 5);
	assert_int_equal(famfs_alloc_reserve(st->alloc, U, held, 1), 1);
	pm = snapshot(st);
	assert_int_equal(pool_map_view_init(&v, pm, "b"), 0);
	assert_int_equal(v.n_classes, POOL_CLASS_TENANT + 1);
	unit_classes(&v, cls);
	for (uint64_t u = 0; u < UNITS; u++)
		assert_int_equal(cls[u], u >= 4 && u < 8 ? POOL_CLASS_TENANT :
					  POOL_CLASS_OTHER);
	for (uint32_t k = 0; k < v.n_classes; k++)
		assert_int_equal(v.class_units[k], k == POOL_CLASS_TENANT ? 4 :
				 k == POOL_CLASS_OTHER ? UNITS - 4 : 0);
	for (uint64_t n = 1; n <= UNITS; n++)
		check_cells(&v, cls, n);
	pool_map_view_free(&v);
	/* A tenant with no file yet: everything is someone else's. */
	assert_int_equal(pool_map_view_init(&v, pm, "nobody"), 0);
	assert_int_equal(v.class_units[POOL_CLASS_OTHER], UNITS);
	assert_int_equal(v.class_units[POOL_CLASS_TENANT], 0);
	pool_map_view_free(&v);
	pool_map_put(pm);
	famfs_state_free(st);
}

/* ---- items --------------------------------------------------------------- */

static void test_items_merge_clip_and_truncate(void **state)
{
	struct famfs_state *st = new_state(UNITS);
	struct pool_map_item it[POOL_MAP_ITEMS_MAX];
	struct pool_map_view v;
	struct pool_map *pm;
	bool truncated;
	size_t n;

	(void)state;
	file(st, 2, "a", 2, 3);
	file(st, 3, "a", 5, 1);		/* adjacent, another file: two items */
	file(st, 4, "b", 6, 2);
	for (uint64_t i = 0; i < 20; i++)	/* 20 one-unit files from 30 */
		file(st, 10 + i, NULL, 30 + i, 1);
	pm = snapshot(st);
	assert_int_equal(pool_map_view_init(&v, pm, NULL), 0);
	n = pool_map_items(&v, 3, 6, it, &truncated);	/* units 3..8 */
	assert_false(truncated);
	assert_int_equal(n, 4);
	assert_int_equal(it[0].first, 3);		/* clipped at the start */
	assert_int_equal(it[0].units, 2);
	assert_int_equal(it[0].ino, 2);
	assert_int_equal(it[0].cls, POOL_CLASS_TENANT);
	assert_int_equal(it[1].ino, 3);
	assert_int_equal(it[2].ino, 4);
	assert_int_equal(it[2].cls, POOL_CLASS_TENANT + 1);
	assert_int_equal(it[3].cls, POOL_CLASS_FREE);
	assert_int_equal(it[3].first, 8);		/* clipped at the end */
	assert_int_equal(it[3].units, 1);
	n = pool_map_items(&v, 29, 1u << 20, it, &truncated);
	assert_true(truncated);
	assert_int_equal(n, POOL_MAP_ITEMS_MAX);
	assert_int_equal(it[0].cls, POOL_CLASS_FREE);
	assert_int_equal(it[15].ino, 10 + 14);
	n = pool_map_items(&v, UNITS - 1, 1u << 20, it, &truncated);
	assert_int_equal(n, 1);
	assert_int_equal(it[0].units, 1);
	pool_map_view_free(&v);
	/* b's view: a's files and the free space are one "other" run. */
	assert_int_equal(pool_map_view_init(&v, pm, "b"), 0);
	n = pool_map_items(&v, 0, 30, it, &truncated);
	assert_int_equal(n, 3);
	assert_int_equal(it[0].cls, POOL_CLASS_OTHER);
	assert_int_equal(it[0].units, 6);
	assert_int_equal(it[0].ino, 0);
	assert_int_equal(it[1].cls, POOL_CLASS_TENANT);
	assert_int_equal(it[1].ino, 4);
	assert_int_equal(it[2].ino, 0);
	assert_int_equal(it[2].units, 22);
	pool_map_view_free(&v);
	pool_map_put(pm);
	famfs_state_free(st);
}

/* ---- random states against the model ------------------------------------ */

#define R_UNITS	509ull		/* a prime: no cell count divides it evenly */

static const char *const r_tenants[] = { NULL, "mid", "zeta", "alpha" };
/* Their classes: names sort alpha, mid, zeta. */
static const uint32_t r_class[] = {
	POOL_CLASS_UNTENANTED, POOL_CLASS_TENANT + 1, POOL_CLASS_TENANT + 2,
	POOL_CLASS_TENANT,
};

/* A random state and its model, one class per unit. */
static struct famfs_state *random_state(unsigned int seed, uint32_t *model)
{
	struct famfs_state *st = new_state(R_UNITS);
	uint64_t ino = 2, live[R_UNITS];
	size_t n_live = 0;

	srand(seed);
	for (uint64_t u = 0; u < R_UNITS; u++)
		model[u] = POOL_CLASS_FREE;
	for (int k = 0; k < 120; k++) {
		uint64_t first = (uint64_t)rand() % R_UNITS;
		uint64_t n = 1 + (uint64_t)rand() % 6, t = (uint64_t)rand() % 4;
		bool fits = first + n <= R_UNITS;

		for (uint64_t u = first; fits && u < first + n; u++)
			fits = model[u] == POOL_CLASS_FREE;
		if (!fits)
			continue;
		file(st, ino, r_tenants[t], first, n);
		for (uint64_t u = first; u < first + n; u++)
			model[u] = r_class[t];
		live[n_live++] = ino++;
	}
	for (size_t i = 0; i < n_live; i += 3 + (size_t)rand() % 5) {
		const struct famfs_node *f = famfs_ns_get(st->ns, live[i]);
		uint64_t first = (f->file.one.offset - info.data_offset) / U;

		for (uint64_t u = 0; u < f->file.one.len / U; u++)
			model[first + u] = POOL_CLASS_PENDING;
		delete(st, live[i]);
	}
	return st;
}

/* Holds a few runs and cuts the end, as the model says. */
static void random_holds_and_cut(struct famfs_state *st, uint32_t *model)
{
	struct famfs_extent e[4];
	uint64_t cut_at = R_UNITS - 1 - (uint64_t)rand() % 40, bytes;

	for (int k = 0; k < 3; k++) {
		uint64_t size = (1 + (uint64_t)rand() % 9) * U;
		int n = famfs_alloc_reserve(st->alloc, size, e, 4);

		for (int i = 0; i < n; i++)
			for (uint64_t u = 0; u < le64toh(e[i].len) / U; u++)
				model[(le64toh(e[i].offset) - info.data_offset) / U
				      + u] = POOL_CLASS_HELD;
	}
	assert_int_equal(famfs_alloc_cut(st->alloc, info.data_offset + cut_at * U,
					 &bytes), 0);
	for (uint64_t u = cut_at; u < R_UNITS; u++)
		if (model[u] == POOL_CLASS_FREE || model[u] == POOL_CLASS_HELD)
			model[u] = POOL_CLASS_CUT;
}

static void test_random_states_match_the_model(void **state)
{
	uint32_t model[R_UNITS], got[R_UNITS], tview[R_UNITS];

	(void)state;
	for (unsigned int seed = 1; seed <= 40; seed++) {
		struct famfs_state *st = random_state(seed, model);
		struct pool_map_view v;
		struct pool_map *pm;

		if (seed % 2)
			random_holds_and_cut(st, model);
		pm = snapshot(st);
		assert_int_equal(pool_map_view_init(&v, pm, NULL), 0);
		unit_classes(&v, got);
		assert_memory_equal(got, model, sizeof(model));
		for (uint64_t n = 1; n <= R_UNITS + 1; n += 1 + n / 8)
			check_cells(&v, model, n);
		pool_map_view_free(&v);
		assert_int_equal(pool_map_view_init(&v, pm, "zeta"), 0);
		for (uint64_t u = 0; u < R_UNITS; u++)
			tview[u] = model[u] == POOL_CLASS_TENANT + 2 ?
				   POOL_CLASS_TENANT : POOL_CLASS_OTHER;
		unit_classes(&v, got);
		assert_memory_equal(got, tview, sizeof(tview));
		for (uint64_t n = 1; n <= R_UNITS + 1; n += 1 + n / 4)
			check_cells(&v, tview, n);
		pool_map_view_free(&v);
		pool_map_put(pm);
		famfs_state_free(st);
	}
}

/* ---- the reply's text ---------------------------------------------------- */

static void test_json_text(void **state)
{
	struct famfs_state *st = new_state(UNITS);
	struct pool_map_cells c;
	struct pool_map_view v;
	struct pool_map *pm;
	char *buf, want[512];
	size_t len;

	(void)state;
	file(st, 2, "b", 0, 2);
	file(st, 3, "a", 2, 1);
	pm = snapshot(st);
	assert_int_equal(pool_map_view_init(&v, pm, NULL), 0);
	assert_int_equal(pool_map_cells(&v, 32, &c), 0);
	assert_int_equal(pool_map_json(&v, &c, &buf, &len), 0);
	snprintf(want, sizeof(want), "{\"seq\":2,\"generation\":0,"
		 "\"alloc_unit\":4096,\"data_offset\":%llu,\"units\":64,"
		 "\"cell_units\":2,\"cells\":32,\"tenants\":[\"a\",\"b\"],"
		 "\"class_units\":[61,0,0,0,0,0,1,2],\"runs\":[7,1,0,31]}",
		 (unsigned long long)info.data_offset);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
	pool_map_cells_free(&c);
	pool_map_view_free(&v);
	assert_int_equal(pool_map_view_init(&v, pm, "a"), 0);
	assert_int_equal(pool_map_cells(&v, 64, &c), 0);
	assert_int_equal(pool_map_json(&v, &c, &buf, &len), 0);
	assert_non_null(strstr(buf, "\"tenants\":[\"a\"],\"class_units\":"
				    "[0,0,0,0,63,0,1],\"runs\":[4,2,6,1,4,61]}"));
	free(buf);
	pool_map_cells_free(&c);
	pool_map_view_free(&v);
	pool_map_put(pm);
	famfs_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_pool_is_free),
		cmocka_unit_test(test_every_class_exact),
		cmocka_unit_test(test_majority_tie_and_short_last_cell),
		cmocka_unit_test(test_tenant_view_shows_only_its_own),
		cmocka_unit_test(test_items_merge_clip_and_truncate),
		cmocka_unit_test(test_random_states_match_the_model),
		cmocka_unit_test(test_json_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
