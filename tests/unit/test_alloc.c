// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The data-area allocator: edges (full pool, fragmentation, extent limit
 * with roll back, overlap, misalignment, bad releases) and a random
 * sequence checked against a one-byte-per-unit model.
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
	assert_true(famfs_alloc_mem_bytes(a) >= 100 / 8);

	assert_int_equal(famfs_alloc_alloc(a, 1, e, 4), 1);	/* 1 byte: a unit */
	assert_int_equal(e[0].len, U);
	assert_int_equal(famfs_alloc_free_bytes(a), 99 * U);
	assert_int_equal(famfs_alloc_alloc(a, U + 1, e, 4), 1);
	assert_int_equal(e[0].len, 2 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 97 * U);
	assert_int_equal(famfs_alloc_alloc(a, 5 * U, e, 4), 1);
	assert_int_equal(e[0].len, 5 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 92 * U);
	assert_int_equal(famfs_alloc_release(a, e[0].offset, e[0].len), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 97 * U);
	famfs_alloc_free(a);
}

static void test_full_pool(void **state)
{
	struct famfs_alloc *a = new_alloc(130);	/* not a multiple of 64 */
	struct famfs_extent e[4];

	(void)state;
	assert_int_equal(famfs_alloc_alloc(a, 131 * U, e, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_free_bytes(a), 130 * U);
	assert_int_equal(famfs_alloc_alloc(a, 130 * U, e, 4), 1);
	assert_int_equal(e[0].offset, BASE);
	assert_int_equal(e[0].len, 130 * U);
	assert_int_equal(famfs_alloc_free_bytes(a), 0);
	assert_int_equal(famfs_alloc_alloc(a, 1, e, 4), -ENOSPC);
	/* Free the last unit: exactly that one comes back, never one past it. */
	assert_int_equal(famfs_alloc_release(a, BASE + 129 * U, U), 0);
	assert_int_equal(famfs_alloc_alloc(a, U, e, 4), 1);
	assert_int_equal(e[0].offset, BASE + 129 * U);
	assert_int_equal(famfs_alloc_alloc(a, U, e, 4), -ENOSPC);
	/* Sizes that would overflow when rounded up. */
	assert_int_equal(famfs_alloc_release(a, BASE, U), 0);
	assert_int_equal(famfs_alloc_alloc(a, UINT64_MAX, e, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_alloc(a, UINT64_MAX - U + 2, e, 4), -ENOSPC);
	assert_true(famfs_alloc_alloc(a, 0, e, 4) < 0);
	assert_int_equal(famfs_alloc_free_bytes(a), U);
	famfs_alloc_free(a);
}

static void test_empty_area(void **state)
{
	struct famfs_alloc *a = new_alloc(0);
	struct famfs_extent e[1];

	(void)state;
	assert_int_equal(famfs_alloc_total_bytes(a), 0);
	assert_int_equal(famfs_alloc_alloc(a, 1, e, 1), -ENOSPC);
	assert_int_equal(famfs_alloc_mark(a, BASE, U), -ERANGE);
	famfs_alloc_free(a);
}

/* Every other unit used: a request needs one extent per unit. */
static void test_fragmentation_needs_several_extents(void **state)
{
	struct famfs_alloc *a = new_alloc(200);
	struct famfs_extent e[16];
	int n;

	(void)state;
	for (uint64_t i = 0; i < 200; i += 2)
		assert_int_equal(famfs_alloc_mark(a, BASE + i * U, U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	n = famfs_alloc_alloc(a, 7 * U, e, 16);
	assert_int_equal(n, 7);
	check_extents(e, n, 200);
	for (int i = 0; i < n; i++) {
		assert_int_equal(e[i].len, U);
		assert_int_equal(ui(e[i].offset) % 2, 1);	/* were free */
	}
	assert_int_equal(famfs_alloc_free_bytes(a), 93 * U);
	/* Those units are now used: marking any of them collides. */
	for (int i = 0; i < n; i++)
		assert_int_equal(famfs_alloc_mark(a, e[i].offset, U), -EEXIST);
	famfs_alloc_free(a);
}

/* Runs of 1, 3 and 2 units: a 6-unit request takes the largest first. */
static void test_largest_pieces_first(void **state)
{
	struct famfs_alloc *a = new_alloc(64);
	struct famfs_extent e[8];

	(void)state;
	/* Free: [1], [3..5], [7..8]; everything else used. */
	assert_int_equal(famfs_alloc_mark(a, BASE, U), 0);
	assert_int_equal(famfs_alloc_mark(a, BASE + 2 * U, U), 0);
	assert_int_equal(famfs_alloc_mark(a, BASE + 6 * U, U), 0);
	assert_int_equal(famfs_alloc_mark(a, BASE + 9 * U, 55 * U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 6 * U);
	assert_int_equal(famfs_alloc_alloc(a, 6 * U, e, 8), 3);
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

/* Running out of extents rolls back every extent already taken. */
static void test_max_extents_exhausted_rolls_back(void **state)
{
	struct famfs_alloc *a = new_alloc(64);
	struct famfs_extent e[8], again[8];
	int n;

	(void)state;
	for (uint64_t i = 0; i < 64; i += 2)
		assert_int_equal(famfs_alloc_mark(a, BASE + i * U, U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 32 * U);
	assert_int_equal(famfs_alloc_alloc(a, 5 * U, e, 4), -ENOSPC);
	assert_int_equal(famfs_alloc_free_bytes(a), 32 * U);
	assert_int_equal(famfs_alloc_alloc(a, U, e, 0), -ENOSPC);
	assert_int_equal(famfs_alloc_free_bytes(a), 32 * U);
	/* Nothing stayed marked: every odd unit can still be marked... */
	for (uint64_t i = 1; i < 64; i += 2) {
		assert_int_equal(famfs_alloc_mark(a, BASE + i * U, U), 0);
		assert_int_equal(famfs_alloc_release(a, BASE + i * U, U), 0);
	}
	/* ...and with enough extents the same request succeeds. */
	n = famfs_alloc_alloc(a, 5 * U, again, 5);
	assert_int_equal(n, 5);
	check_extents(again, n, 64);
	assert_int_equal(famfs_alloc_free_bytes(a), 27 * U);
	famfs_alloc_free(a);
}

static void test_mark_overlap_and_range(void **state)
{
	struct famfs_alloc *a = new_alloc(100);

	(void)state;
	/* Units 60..69 straddle two bitmap words. */
	assert_int_equal(famfs_alloc_mark(a, BASE + 60 * U, 10 * U), 0);
	assert_int_equal(famfs_alloc_free_bytes(a), 90 * U);
	assert_int_equal(famfs_alloc_mark(a, BASE + 50 * U, 11 * U), -EEXIST);
	assert_int_equal(famfs_alloc_mark(a, BASE + 69 * U, 2 * U), -EEXIST);
	assert_int_equal(famfs_alloc_mark(a, BASE + 64 * U, U), -EEXIST);
	assert_int_equal(famfs_alloc_free_bytes(a), 90 * U);
	/* A failed mark changed nothing: its free neighbours are still free. */
	assert_int_equal(famfs_alloc_mark(a, BASE + 50 * U, 10 * U), 0);
	assert_int_equal(famfs_alloc_mark(a, BASE + 70 * U, U), 0);

	/* Misaligned or outside the managed area. */
	assert_int_equal(famfs_alloc_mark(a, BASE + 1, U), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, BASE, U + 1), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, BASE, 0), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, BASE - U, U), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, BASE + 100 * U, U), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, BASE + 99 * U, 2 * U), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, BASE, UINT64_MAX - U + 1), -ERANGE);
	assert_int_equal(famfs_alloc_mark(a, UINT64_MAX - U + 1, U), -ERANGE);
	assert_int_equal(famfs_alloc_release(a, BASE + 50 * U + 8, U), -ERANGE);
	assert_int_equal(famfs_alloc_release(a, BASE + 100 * U, U), -ERANGE);
	assert_int_equal(famfs_alloc_free_bytes(a), 79 * U);
	famfs_alloc_free(a);
}

static void test_release_of_free_units_refused(void **state)
{
	struct famfs_alloc *a = new_alloc(100);

	(void)state;
	assert_int_equal(famfs_alloc_release(a, BASE, U), -EINVAL);
	assert_int_equal(famfs_alloc_mark(a, BASE + 10 * U, 5 * U), 0);
	/* Partly free: refused as a whole, the used part stays used. */
	assert_int_equal(famfs_alloc_release(a, BASE + 8 * U, 5 * U), -EINVAL);
	assert_int_equal(famfs_alloc_release(a, BASE + 14 * U, 2 * U), -EINVAL);
	assert_int_equal(famfs_alloc_free_bytes(a), 95 * U);
	assert_int_equal(famfs_alloc_mark(a, BASE + 12 * U, U), -EEXIST);
	assert_int_equal(famfs_alloc_release(a, BASE + 10 * U, 5 * U), 0);
	/* Double release. */
	assert_int_equal(famfs_alloc_release(a, BASE + 10 * U, 5 * U), -EINVAL);
	assert_int_equal(famfs_alloc_free_bytes(a), 100 * U);
	famfs_alloc_free(a);
}

/* The roving cursor wraps to space freed behind it. */
static void test_rover_wraps(void **state)
{
	struct famfs_alloc *a = new_alloc(10);
	struct famfs_extent e[4], first;

	(void)state;
	assert_int_equal(famfs_alloc_alloc(a, 3 * U, &first, 1), 1);
	assert_int_equal(famfs_alloc_alloc(a, 7 * U, e, 1), 1);
	assert_int_equal(famfs_alloc_free_bytes(a), 0);
	assert_int_equal(famfs_alloc_release(a, first.offset, first.len), 0);
	assert_int_equal(famfs_alloc_alloc(a, 2 * U, e, 1), 1);
	assert_int_equal(e[0].offset, first.offset);
	assert_int_equal(famfs_alloc_alloc(a, U, e, 1), 1);
	assert_int_equal(e[0].offset, first.offset + 2 * U);
	assert_int_equal(famfs_alloc_alloc(a, U, e, 1), -ENOSPC);
	famfs_alloc_free(a);
}

/*
 * Units covered by the k longest free runs of the model: a request of more
 * units than this cannot fit in k extents, and one of fewer always can.
 */
static uint64_t largest_runs(const bool *used, uint64_t units, int k)
{
	uint64_t best[8] = { 0 }, sum = 0;

	assert_true(k <= 8);
	for (uint64_t i = 0; i < units;) {
		uint64_t run = 0;

		if (used[i]) {
			i++;
			continue;
		}
		while (i + run < units && !used[i + run])
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

/* Random marks, releases and allocations against a simple model. */
static void test_random_against_model(void **state)
{
	enum { UNITS = 301, OPS = 4000, MAXE = 6 };
	struct famfs_alloc *a = new_alloc(UNITS);
	bool used[UNITS] = { false };
	uint64_t nfree = UNITS, rng = 12345;
	struct famfs_extent e[MAXE];

	(void)state;
	for (int op = 0; op < OPS; op++) {
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t r = rng >> 33, first = r % UNITS;
		uint64_t n = 1 + (r >> 9) % 12;
		bool any_used = false, all_used = true, in = first + n <= UNITS;

		for (uint64_t i = first; in && i < first + n; i++) {
			any_used |= used[i];
			all_used &= used[i];
		}
		switch ((r >> 20) % 3) {
		case 0:
			if (!in) {
				assert_int_equal(famfs_alloc_mark(a, BASE + first * U,
								  n * U), -ERANGE);
				break;
			}
			assert_int_equal(famfs_alloc_mark(a, BASE + first * U, n * U),
					 any_used ? -EEXIST : 0);
			if (!any_used) {
				memset(used + first, true, n);
				nfree -= n;
			}
			break;
		case 1:
			if (!in)
				break;
			assert_int_equal(famfs_alloc_release(a, BASE + first * U,
							     n * U),
					 all_used ? 0 : -EINVAL);
			if (all_used) {
				memset(used + first, false, n);
				nfree += n;
			}
			break;
		default: {
			int got = famfs_alloc_alloc(a, n * U - (r & 1), e, MAXE);
			uint64_t sum = 0;

			if (n > nfree) {
				assert_int_equal(got, -ENOSPC);
				break;
			}
			if (got < 0) {
				/* Only fragmentation may refuse it. */
				assert_int_equal(got, -ENOSPC);
				assert_true(largest_runs(used, UNITS, MAXE) < n);
				break;
			}
			assert_true(got >= 1 && got <= MAXE);
			check_extents(e, got, UNITS);
			for (int k = 0; k < got; k++) {
				for (uint64_t i = ui(e[k].offset);
				     i < ui(e[k].offset) + e[k].len / U; i++) {
					assert_false(used[i]);
					used[i] = true;
				}
				sum += e[k].len;
			}
			assert_int_equal(sum, n * U);
			nfree -= n;
		}
		}
		assert_int_equal(famfs_alloc_free_bytes(a), nfree * U);
	}
	famfs_alloc_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_bad_geometry),
		cmocka_unit_test(test_counts_and_rounding),
		cmocka_unit_test(test_full_pool),
		cmocka_unit_test(test_empty_area),
		cmocka_unit_test(test_fragmentation_needs_several_extents),
		cmocka_unit_test(test_largest_pieces_first),
		cmocka_unit_test(test_max_extents_exhausted_rolls_back),
		cmocka_unit_test(test_mark_overlap_and_range),
		cmocka_unit_test(test_release_of_free_units_refused),
		cmocka_unit_test(test_rover_wraps),
		cmocka_unit_test(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
