// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The data-area allocator: edges (full pool, fragmentation, extent limit
 * with roll back, overlap, misalignment, bad releases), reservations (held
 * space is never handed out twice, commits after a reserve count it once,
 * ending a hold gives back exactly the uncommitted space), and a random
 * sequence checked against a model with one used and one held flag a unit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "alloc.h"

#define U	4096ull
#define BASE	(3ull << 20)

static struct famfs_alloc *new_alloc(uint64_t units)
{
	struct famfs_alloc *a = NULL;

	assert_int_equal(famfs_alloc_new(BASE, units, U, &a), 0);
	assert_non_null(a);
	return a;
}

/* The one-extent forms of the range operations. */
static int commit1(struct famfs_alloc *a, uint64_t off, uint64_t len)
{
	return famfs_alloc_commit(a, &(struct famfs_extent){ off, len }, 1);
}

static int release1(struct famfs_alloc *a, uint64_t off, uint64_t len)
{
	return famfs_alloc_release(a, &(struct famfs_extent){ off, len }, 1);
}

static int unreserve1(struct famfs_alloc *a, uint64_t off, uint64_t len)
{
	return famfs_alloc_unreserve(a, &(struct famfs_extent){ off, len }, 1);
}

/* Unit index of a byte offset. */
static uint64_t ui(uint64_t off)
{
	return (off - BASE) / U;
}

/* Asserts extents are aligned, inside the area, and pairwise disjoint. */
static void check_extents(const struct famfs_extent *e, int n, uint64_t units)
{
	for (int i = 0; i < n; i++) {
		assert_true(e[i].len > 0 && e[i].len % U == 0);
		assert_true(e[i].offset >= BASE && (e[i].offset - BASE) % U == 0);
		assert_true(ui(e[i].offset) + e[i].len / U <= units);
		for (int j = 0; j < i; j++)
			assert_true(e[i].offset + e[i].len <= e[j].offset ||
				    e[j].offset + e[j].len <= e[i].offset);
	}
}

static void test_new_rejects_bad_geometry(void **state)
{
	struct famfs_alloc *a = NULL;

	(void)state;
	assert_int_equal(famfs_alloc_new(BASE, 10, 0, &a), -EINVAL);
	assert_int_equal(famfs_alloc_new(BASE, 10, 3 * U, &a), -EINVAL);
	assert_int_equal(famfs_alloc_new(BASE + U / 2, 10, U, &a), -EINVAL);
	assert_null(a);
	famfs_alloc_free(NULL);		/* destructors accept NULL */
}

static void test_counts_and_rounding(void **state)
{
	struct famfs_alloc *a = new_alloc(100);
	struct famfs_extent e[4];

	(void)state;
	assert_int_equal(famfs_alloc_unit(a), U);
	assert_int_equal(famfs_alloc_total_bytes(a), 100 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 0);
	assert_true(famfs_alloc_mem_bytes(a) >= 100 / 8);

	assert_int_equal(famfs_alloc_reserve(a, 1, e, 4), 1);	/* 1 byte: a unit */
	assert_int_equal(e[0].len, U);
	assert_int_equal(famfs_alloc_free_bytes(a), 99 * U);
	assert_int_equal(famfs_alloc_reserve(a, U + 1, e, 4), 1);
	assert_int_equal(e[0].len, 2 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 97 * U);
	assert_int_equal(famfs_alloc_reserve(a, 5 * U, e, 4), 1);
	assert_int_equal(e[0].len, 5 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 92 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 8 * U);
	assert_int_equal(famfs_alloc_unreserve(a, e, 1), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 97 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 3 * U);
	famfs_alloc_free(a);
}

static void test_full_pool(void **state)
{
	struct famfs_alloc *a = new_alloc(130);	/* not a multiple of 64 */
	struct famfs_extent e[4];

	(void)state;
	assert_int_equal(famfs_alloc_reserve(a, 131 * U, e, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_free_bytes(a), 130 * U);
	assert_int_equal(famfs_alloc_reserve(a, 130 * U, e, 4), 1);
	assert_int_equal(e[0].offset, BASE);
	assert_int_equal(e[0].len, 130 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 0);
	assert_int_equal(famfs_alloc_reserve(a, 1, e, 4), -ENOSPC);
	/* End the last unit's hold: exactly that one comes back, never one past it. */
	assert_int_equal(unreserve1(a, BASE + 129 * U, U), 0);
	assert_int_equal(famfs_alloc_reserve(a, U, e, 4), 1);
	assert_int_equal(e[0].offset, BASE + 129 * U);
	assert_int_equal(famfs_alloc_reserve(a, U, e, 4), -ENOSPC);
	/* Sizes that would overflow when rounded up. */
	assert_int_equal(unreserve1(a, BASE, U), 0);
	assert_int_equal(famfs_alloc_reserve(a, UINT64_MAX, e, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_reserve(a, UINT64_MAX - U + 2, e, 4), -ENOSPC);
	assert_true(famfs_alloc_reserve(a, 0, e, 4) < 0);
	assert_int_equal(famfs_alloc_free_bytes(a), U);
	famfs_alloc_free(a);
}

static void test_empty_area(void **state)
{
	struct famfs_alloc *a = new_alloc(0);
	struct famfs_extent e[1];

	(void)state;
	assert_int_equal(famfs_alloc_total_bytes(a), 0);
	assert_int_equal(famfs_alloc_reserve(a, 1, e, 1), -ENOSPC);
	assert_int_equal(commit1(a, BASE, U), -ERANGE);
	famfs_alloc_free(a);
}

/* Every other unit used: a request needs one extent per unit. */
static void test_fragmentation_needs_several_extents(void **state)
{
	struct famfs_alloc *a = new_alloc(200);
	struct famfs_extent e[16], more[16];
	int n;

	(void)state;
	for (uint64_t i = 0; i < 200; i += 2)
		assert_int_equal(commit1(a, BASE + i * U, U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	n = famfs_alloc_reserve(a, 7 * U, e, 16);
	assert_int_equal(n, 7);
	check_extents(e, n, 200);
	for (int i = 0; i < n; i++) {
		assert_int_equal(e[i].len, U);
		assert_int_equal(ui(e[i].offset) % 2, 1);	/* were free */
	}
	assert_int_equal(famfs_alloc_free_bytes(a), 93 * U);
	/* The next reservation skips the held units as well as the used ones. */
	assert_int_equal(famfs_alloc_reserve(a, 93 * U, more, 16), -ENOSPC);
	assert_int_equal(famfs_alloc_reserve(a, 16 * U, more, 16), 16);
	check_extents(more, 16, 200);
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < n; j++)
			assert_int_not_equal(more[i].offset, e[j].offset);
	famfs_alloc_free(a);
}

/* Runs of 1, 3 and 2 units: a 6-unit request takes the largest first. */
static void test_largest_pieces_first(void **state)
{
	struct famfs_alloc *a = new_alloc(64);
	struct famfs_extent e[8];

	(void)state;
	/* Free: [1], [3..5], [7..8]; everything else used. */
	assert_int_equal(commit1(a, BASE, U), 0);
	assert_int_equal(commit1(a, BASE + 2 * U, U), 0);
	assert_int_equal(commit1(a, BASE + 6 * U, U), 0);
	assert_int_equal(commit1(a, BASE + 9 * U, 55 * U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 6 * U);
	assert_int_equal(famfs_alloc_reserve(a, 6 * U, e, 8), 3);
	check_extents(e, 3, 64);
	assert_int_equal(e[0].offset, BASE + 3 * U);
	assert_int_equal(e[0].len, 3 * U);
	assert_int_equal(e[1].offset, BASE + 7 * U);
	assert_int_equal(e[1].len, 2 * U);
	assert_int_equal(e[2].offset, BASE + 1 * U);
	assert_int_equal(e[2].len, U);
	assert_int_equal(famfs_alloc_free_bytes(a), 0);
	famfs_alloc_free(a);
}

/* Running out of extents rolls back every hold already taken. */
static void test_max_extents_exhausted_rolls_back(void **state)
{
	struct famfs_alloc *a = new_alloc(64);
	struct famfs_extent e[8], again[8];
	int n;

	(void)state;
	for (uint64_t i = 0; i < 64; i += 2)
		assert_int_equal(commit1(a, BASE + i * U, U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 32 * U);
	assert_int_equal(famfs_alloc_reserve(a, 5 * U, e, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_free_bytes(a), 32 * U);
	assert_int_equal(famfs_alloc_reserve(a, U, e, 0), -ENOSPC);
	assert_int_equal(famfs_alloc_free_bytes(a), 32 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 0);
	/* Nothing stayed held: no odd unit can be unreserved... */
	for (uint64_t i = 1; i < 64; i += 2)
		assert_int_equal(unreserve1(a, BASE + i * U, U), -EINVAL);
	/* ...and with enough extents the same request succeeds. */
	n = famfs_alloc_reserve(a, 5 * U, again, 5);
	assert_int_equal(n, 5);
	check_extents(again, n, 64);
	assert_int_equal(famfs_alloc_free_bytes(a), 27 * U);
	famfs_alloc_free(a);
}

static void test_commit_overlap_and_range(void **state)
{
	struct famfs_alloc *a = new_alloc(100);

	(void)state;
	/* Units 60..69 straddle two bitmap words. */
	assert_int_equal(commit1(a, BASE + 60 * U, 10 * U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 90 * U);
	assert_int_equal(commit1(a, BASE + 50 * U, 11 * U), -EEXIST);
	assert_int_equal(commit1(a, BASE + 69 * U, 2 * U), -EEXIST);
	assert_int_equal(commit1(a, BASE + 64 * U, U), -EEXIST);
	assert_int_equal(famfs_alloc_free_bytes(a), 90 * U);
	/* A failed commit changed nothing: its free neighbours are still free. */
	assert_int_equal(commit1(a, BASE + 50 * U, 10 * U), 0);
	assert_int_equal(commit1(a, BASE + 70 * U, U), 0);

	/* Misaligned or outside the managed area. */
	assert_int_equal(commit1(a, BASE + 1, U), -ERANGE);
	assert_int_equal(commit1(a, BASE, U + 1), -ERANGE);
	assert_int_equal(commit1(a, BASE, 0), -ERANGE);
	assert_int_equal(commit1(a, BASE - U, U), -ERANGE);
	assert_int_equal(commit1(a, BASE + 100 * U, U), -ERANGE);
	assert_int_equal(commit1(a, BASE + 99 * U, 2 * U), -ERANGE);
	assert_int_equal(commit1(a, BASE, UINT64_MAX - U + 1), -ERANGE);
	assert_int_equal(commit1(a, UINT64_MAX - U + 1, U), -ERANGE);
	assert_int_equal(release1(a, BASE + 50 * U + 8, U), -ERANGE);
	assert_int_equal(release1(a, BASE + 100 * U, U), -ERANGE);
	assert_int_equal(unreserve1(a, BASE + 100 * U, U), -ERANGE);
	assert_int_equal(famfs_alloc_free_bytes(a), 79 * U);
	famfs_alloc_free(a);
}

static void test_release_of_free_units_refused(void **state)
{
	struct famfs_alloc *a = new_alloc(100);

	(void)state;
	assert_int_equal(release1(a, BASE, U), -EINVAL);
	assert_int_equal(commit1(a, BASE + 10 * U, 5 * U), 0);
	/* Partly free: refused as a whole, the used part stays used. */
	assert_int_equal(release1(a, BASE + 8 * U, 5 * U), -EINVAL);
	assert_int_equal(release1(a, BASE + 14 * U, 2 * U), -EINVAL);
	assert_int_equal(famfs_alloc_free_bytes(a), 95 * U);
	assert_int_equal(commit1(a, BASE + 12 * U, U), -EEXIST);
	assert_int_equal(release1(a, BASE + 10 * U, 5 * U), 0);
	/* Double release. */
	assert_int_equal(release1(a, BASE + 10 * U, 5 * U), -EINVAL);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	famfs_alloc_free(a);
}

/* Several extents at once: all of them or, with an error, none. */
static void test_range_ops_are_all_or_nothing(void **state)
{
	struct famfs_alloc *a = new_alloc(100);
	struct famfs_extent bad_last[] = {
		{ BASE, U }, { BASE + 2 * U, U }, { BASE + 200 * U, U },
	};
	struct famfs_extent overlapping[] = {
		{ BASE + 10 * U, 4 * U }, { BASE + 20 * U, U },
		{ BASE + 13 * U, 2 * U },
	};
	struct famfs_extent twice[] = { { BASE + 30 * U, U }, { BASE + 30 * U, U } };
	struct famfs_extent pair[] = { { BASE + 40 * U, U }, { BASE + 42 * U, 2 * U } };

	(void)state;
	assert_int_equal(famfs_alloc_check(a, bad_last, 3), -ERANGE);
	assert_int_equal(famfs_alloc_commit(a, bad_last, 3), -ERANGE);
	assert_int_equal(famfs_alloc_check(a, overlapping, 3), -EEXIST);
	assert_int_equal(famfs_alloc_commit(a, overlapping, 3), -EEXIST);
	assert_int_equal(famfs_alloc_commit(a, twice, 2), -EEXIST);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	/* Each refused array's good extents are still free. */
	assert_int_equal(famfs_alloc_commit(a, bad_last, 2), 0);
	assert_int_equal(famfs_alloc_commit(a, overlapping, 2), 0);
	assert_int_equal(famfs_alloc_commit(a, twice, 1), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 92 * U);
	assert_int_equal(famfs_alloc_check(a, NULL, 0), 0);
	assert_int_equal(famfs_alloc_commit(a, NULL, 0), 0);

	/* Release: one extent not used refuses the lot; twice the same too. */
	assert_int_equal(famfs_alloc_commit(a, pair, 1), 0);
	assert_int_equal(famfs_alloc_release(a, pair, 2), -EINVAL);
	assert_int_equal(famfs_alloc_release(a, twice, 2), -EINVAL);
	assert_int_equal(famfs_alloc_free_bytes(a), 91 * U);
	assert_int_equal(famfs_alloc_release(a, pair, 1), 0);
	assert_int_equal(famfs_alloc_release(a, bad_last, 2), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 94 * U);

	/* Unreserve: never reserved, so nothing to end. */
	assert_int_equal(famfs_alloc_unreserve(a, pair, 1), -EINVAL);
	assert_int_equal(famfs_alloc_unreserve(a, NULL, 0), 0);
	famfs_alloc_free(a);
}

/*
 * The master's create: reserve, commit when the record is applied, then
 * end the hold; or end it without a commit when the create failed.
 */
static void test_reserve_commit_unreserve(void **state)
{
	struct famfs_alloc *a = new_alloc(100);
	struct famfs_extent x[4], y[4], z[4];
	int nx, ny, nz;

	(void)state;
	/* Three creates in flight: their holds never share a unit. */
	nx = famfs_alloc_reserve(a, 30 * U, x, 4);
	ny = famfs_alloc_reserve(a, 30 * U, y, 4);
	nz = famfs_alloc_reserve(a, 30 * U, z, 4);
	assert_true(nx > 0 && ny > 0 && nz > 0);
	struct famfs_extent all[12];
	int n = 0;

	for (int i = 0; i < nx; i++)
		all[n++] = x[i];
	for (int i = 0; i < ny; i++)
		all[n++] = y[i];
	for (int i = 0; i < nz; i++)
		all[n++] = z[i];
	check_extents(all, n, 100);
	assert_int_equal(famfs_alloc_free_bytes(a), 10 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 90 * U);
	assert_int_equal(famfs_alloc_reserve(a, 11 * U, all, 4), -ENOSPC);

	/* Held is not used: the record's apply may commit it, here as on an agent. */
	assert_int_equal(famfs_alloc_check(a, x, (unsigned int)nx), 0);
	assert_int_equal(famfs_alloc_commit(a, x, (unsigned int)nx), 0);
	/* Counted once: the units left the free count when reserved. */
	assert_int_equal(famfs_alloc_free_bytes(a), 10 * U);
	assert_int_equal(famfs_alloc_commit(a, x, (unsigned int)nx), -EEXIST);
	assert_int_equal(famfs_alloc_unreserve(a, x, (unsigned int)nx), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 10 * U);	/* still used */
	assert_int_equal(famfs_alloc_held_bytes(a), 60 * U);
	assert_int_equal(famfs_alloc_unreserve(a, x, (unsigned int)nx), -EINVAL);

	/* A failed create ends its hold: that space is free again. */
	assert_int_equal(famfs_alloc_unreserve(a, y, (unsigned int)ny), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 40 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 30 * U);
	assert_int_equal(famfs_alloc_release(a, y, (unsigned int)ny), -EINVAL);

	/* A reclaim of the committed file gives its space back. */
	assert_int_equal(famfs_alloc_release(a, x, (unsigned int)nx), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 70 * U);
	/* Released while still held (never by the master): stays out of reach. */
	assert_int_equal(famfs_alloc_commit(a, z, (unsigned int)nz), 0);
	assert_int_equal(famfs_alloc_release(a, z, (unsigned int)nz), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 70 * U);
	assert_int_equal(famfs_alloc_reserve(a, 71 * U, all, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_unreserve(a, z, (unsigned int)nz), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 0);
	assert_int_equal(famfs_alloc_reserve(a, 100 * U, all, 4), 1);
	famfs_alloc_free(a);
}

/* The roving cursor wraps to space freed behind it. */
static void test_rover_wraps(void **state)
{
	struct famfs_alloc *a = new_alloc(10);
	struct famfs_extent e[4], first;

	(void)state;
	assert_int_equal(famfs_alloc_reserve(a, 3 * U, &first, 1), 1);
	assert_int_equal(famfs_alloc_reserve(a, 7 * U, e, 1), 1);
	assert_int_equal(famfs_alloc_free_bytes(a), 0);
	assert_int_equal(famfs_alloc_unreserve(a, &first, 1), 0);
	assert_int_equal(famfs_alloc_reserve(a, 2 * U, e, 1), 1);
	assert_int_equal(e[0].offset, first.offset);
	assert_int_equal(famfs_alloc_reserve(a, U, e, 1), 1);
	assert_int_equal(e[0].offset, first.offset + 2 * U);
	assert_int_equal(famfs_alloc_reserve(a, U, e, 1), -ENOSPC);
	famfs_alloc_free(a);
}

/*
 * The device shrank: units not wholly before the new end are never handed
 * out again, used ones there stay used and do not come back free when
 * released; a second, later end changes nothing.
 */
static void test_cut_at_device_end(void **state)
{
	struct famfs_alloc *a = new_alloc(200);
	struct famfs_extent e[8];
	uint64_t cut;
	int n;

	(void)state;
	assert_int_equal(commit1(a, BASE + 150 * U, 10 * U), 0);
	assert_int_equal(commit1(a, BASE + 10 * U, 5 * U), 0);
	/* The end falls inside unit 100: that unit goes too. */
	assert_int_equal(famfs_alloc_cut(a, BASE + 100 * U + 17, &cut), 0);
	assert_int_equal(cut, 100 * U);
	assert_int_equal(famfs_alloc_cut_bytes(a), 100 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 95 * U);
	assert_int_equal(famfs_alloc_held_bytes(a), 0);
	assert_int_equal(famfs_alloc_cut(a, BASE + 150 * U, &cut), 0);
	assert_int_equal(cut, 0);
	/* Everything left is below the end, and nothing more fits. */
	n = famfs_alloc_reserve(a, 95 * U, e, 8);
	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		assert_true(e[i].offset + e[i].len <= BASE + 100 * U);
	assert_int_equal(famfs_alloc_reserve(a, U, &e[7], 1), -ENOSPC);
	assert_int_equal(famfs_alloc_unreserve(a, e, (unsigned int)n), 0);
	/* A file past the end reclaimed: its units stay out. */
	assert_int_equal(release1(a, BASE + 150 * U, 10 * U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 95 * U);
	assert_int_equal(release1(a, BASE + 10 * U, 5 * U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	/* Down to nothing. */
	assert_int_equal(famfs_alloc_cut(a, BASE - U, &cut), 0);
	assert_int_equal(cut, 100 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 0);
	assert_int_equal(famfs_alloc_reserve(a, U, e, 1), -ENOSPC);
	famfs_alloc_free(a);
}

/*
 * Units covered by the k longest free runs of the model: a request of more
 * units than this cannot fit in k extents, and one of fewer always can.
 */
static uint64_t largest_runs(const bool *taken, uint64_t units, int k)
{
	uint64_t best[8] = { 0 }, sum = 0;

	assert_true(k <= 8);
	for (uint64_t i = 0; i < units;) {
		uint64_t run = 0;

		if (taken[i]) {
			i++;
			continue;
		}
		while (i + run < units && !taken[i + run])
			run++;
		i += run;
		for (int j = 0; j < k; j++) {	/* keep the k longest */
			if (run > best[j]) {
				uint64_t t = best[j];

				best[j] = run;
				run = t;
			}
		}
	}
	for (int j = 0; j < k; j++)
		sum += best[j];
	return sum;
}

enum { M_UNITS = 301, M_MAXE = 6, M_HOLDS = 8 };

/* The model: a used and a held flag per unit, and the reservations out. */
struct model {
	bool used[M_UNITS], held[M_UNITS];
	struct famfs_extent hold[M_HOLDS][M_MAXE];
	int hold_n[M_HOLDS];		/* 0: slot empty */
};

/* Units used or held (taken), or held only. */
static uint64_t model_taken(const struct model *m)
{
	uint64_t n = 0;

	for (int i = 0; i < M_UNITS; i++)
		n += m->used[i] || m->held[i];
	return n;
}

static uint64_t model_held(const struct model *m)
{
	uint64_t n = 0;

	for (int i = 0; i < M_UNITS; i++)
		n += m->held[i];
	return n;
}

/* A reservation, checked against the model and recorded in slot k. */
static void model_reserve(struct famfs_alloc *a, struct model *m, int k,
			  uint64_t n, uint64_t r)
{
	bool taken[M_UNITS];
	uint64_t sum = 0;
	int got;

	for (int i = 0; i < M_UNITS; i++)
		taken[i] = m->used[i] || m->held[i];
	got = famfs_alloc_reserve(a, n * U - (r & 1), m->hold[k], M_MAXE);
	if (n > M_UNITS - model_taken(m)) {
		assert_int_equal(got, -ENOSPC);
		return;
	}
	if (got < 0) {
		/* Only fragmentation may refuse it. */
		assert_int_equal(got, -ENOSPC);
		assert_true(largest_runs(taken, M_UNITS, M_MAXE) < n);
		return;
	}
	assert_true(got >= 1 && got <= M_MAXE);
	check_extents(m->hold[k], got, M_UNITS);
	for (int e = 0; e < got; e++) {
		uint64_t first = ui(m->hold[k][e].offset);

		for (uint64_t i = first; i < first + m->hold[k][e].len / U; i++) {
			assert_false(taken[i]);	/* never handed out twice */
			m->held[i] = true;
		}
		sum += m->hold[k][e].len;
	}
	assert_int_equal(sum, n * U);
	m->hold_n[k] = got;
}

/* Commits reservation k (its record applied) and ends it, or only ends it. */
static void model_finish(struct famfs_alloc *a, struct model *m, int k,
			 bool commit)
{
	const struct famfs_extent *e = m->hold[k];
	unsigned int n = (unsigned int)m->hold_n[k];
	bool any_used = false;

	for (unsigned int j = 0; j < n; j++)
		for (uint64_t i = ui(e[j].offset); i < ui(e[j].offset) + e[j].len / U; i++)
			any_used |= m->used[i];
	if (commit) {
		/* Released behind the hold's back, then given to another file. */
		assert_int_equal(famfs_alloc_check(a, e, n), any_used ? -EEXIST : 0);
		assert_int_equal(famfs_alloc_commit(a, e, n), any_used ? -EEXIST : 0);
		for (unsigned int j = 0; !any_used && j < n; j++)
			memset(m->used + ui(e[j].offset), true, e[j].len / U);
	}
	assert_int_equal(famfs_alloc_unreserve(a, e, n), 0);
	for (unsigned int j = 0; j < n; j++)
		memset(m->held + ui(e[j].offset), false, e[j].len / U);
	m->hold_n[k] = 0;
}

/*
 * The pool map's walk of the holds: runs of units held and not used, in
 * order, across word boundaries, a held unit that a commit made used
 * splitting its run, and nothing at or past the cut.
 */
static void test_next_held_runs(void **state)
{
	struct famfs_alloc *a = new_alloc(200);
	struct famfs_extent x[2];
	uint64_t first, n, cut;

	(void)state;
	assert_int_equal(famfs_alloc_next_held(a, 0, &first, &n), -ENOENT);
	assert_int_equal(commit1(a, BASE, 60 * U), 0);
	/* Units 60..129: across the words of 0-63, 64-127 and 128-191. */
	assert_int_equal(famfs_alloc_reserve(a, 70 * U, x, 2), 1);
	assert_int_equal(ui(x[0].offset), 60);
	assert_int_equal(famfs_alloc_next_held(a, 0, &first, &n), 0);
	assert_int_equal(first, 60);
	assert_int_equal(n, 70);
	assert_int_equal(famfs_alloc_next_held(a, 100, &first, &n), 0);
	assert_int_equal(first, 100);
	assert_int_equal(n, 30);
	assert_int_equal(famfs_alloc_next_held(a, 130, &first, &n), -ENOENT);
	/* Committed while held: used, so no longer "held only". */
	assert_int_equal(commit1(a, BASE + 70 * U, U), 0);
	assert_int_equal(famfs_alloc_next_held(a, 0, &first, &n), 0);
	assert_int_equal(n, 10);
	assert_int_equal(famfs_alloc_next_held(a, 70, &first, &n), 0);
	assert_int_equal(first, 71);
	assert_int_equal(n, 59);
	/* Cut from 120: held for good there, but cut, not held. */
	assert_int_equal(famfs_alloc_cut_from(a), 200);
	assert_int_equal(famfs_alloc_cut(a, BASE + 120 * U, &cut), 0);
	assert_int_equal(famfs_alloc_cut_from(a), 120);
	assert_int_equal(famfs_alloc_units(a), 200);
	assert_int_equal(famfs_alloc_next_held(a, 71, &first, &n), 0);
	assert_int_equal(first, 71);
	assert_int_equal(n, 49);
	assert_int_equal(famfs_alloc_next_held(a, 120, &first, &n), -ENOENT);
	famfs_alloc_free(a);
}

/* Random commits, releases, reservations and their ends against a model. */
static void test_random_against_model(void **state)
{
	enum { OPS = 6000 };
	struct famfs_alloc *a = new_alloc(M_UNITS);
	static struct model m;
	uint64_t rng = 12345;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (int op = 0; op < OPS; op++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = rng >> 33, first = r % M_UNITS;
		uint64_t n = 1 + (r >> 9) % 12;
		int k = (int)((r >> 24) % M_HOLDS);
		bool any_used = false, all_used = true, in = first + n <= M_UNITS;
		struct famfs_extent x = { BASE + first * U, n * U };

		for (uint64_t i = first; in && i < first + n; i++) {
			any_used |= m.used[i];
			all_used &= m.used[i];
		}
		switch ((r >> 20) % 4) {
		case 0:		/* a record's extent, held or not */
			if (!in) {
				assert_int_equal(famfs_alloc_check(a, &x, 1), -ERANGE);
				assert_int_equal(famfs_alloc_commit(a, &x, 1), -ERANGE);
				break;
			}
			assert_int_equal(famfs_alloc_check(a, &x, 1),
					 any_used ? -EEXIST : 0);
			assert_int_equal(famfs_alloc_commit(a, &x, 1),
					 any_used ? -EEXIST : 0);
			if (!any_used)
				memset(m.used + first, true, n);
			break;
		case 1:		/* a reclaim */
			if (!in)
				break;
			assert_int_equal(famfs_alloc_release(a, &x, 1),
					 all_used ? 0 : -EINVAL);
			if (all_used)
				memset(m.used + first, false, n);
			break;
		case 2:
			if (m.hold_n[k])
				model_finish(a, &m, k, r & 2);
			else
				model_reserve(a, &m, k, n, r);
			break;
		default: {	/* ending a hold that is not one */
			bool all_held = in;

			for (uint64_t i = first; in && i < first + n; i++)
				all_held &= m.held[i];
			if (!all_held)
				assert_true(famfs_alloc_unreserve(a, &x, 1) < 0);
		}
		}
		assert_int_equal(famfs_alloc_free_bytes(a),
				 (M_UNITS - model_taken(&m)) * U);
		assert_int_equal(famfs_alloc_held_bytes(a), model_held(&m) * U);
	}
	famfs_alloc_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_geometry),
		cmocka_unit_test(test_cut_at_device_end),
		cmocka_unit_test(test_next_held_runs),
		cmocka_unit_test(test_counts_and_rounding),
		cmocka_unit_test(test_full_pool),
		cmocka_unit_test(test_empty_area),
		cmocka_unit_test(test_fragmentation_needs_several_extents),
		cmocka_unit_test(test_largest_pieces_first),
		cmocka_unit_test(test_max_extents_exhausted_rolls_back),
		cmocka_unit_test(test_commit_overlap_and_range),
		cmocka_unit_test(test_release_of_free_units_refused),
		cmocka_unit_test(test_range_ops_are_all_or_nothing),
		cmocka_unit_test(test_reserve_commit_unreserve),
		cmocka_unit_test(test_rover_wraps),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
