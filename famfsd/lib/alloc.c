// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "alloc.h"

struct famfs_alloc {
	uint64_t base;		/* pool offset of unit 0 */
	uint64_t unit;		/* bytes per unit, a power of two */
	unsigned int shift;	/* log2(unit) */
	uint64_t units;
	uint64_t free_units;
	uint64_t rover;		/* next-fit start, a unit index */
	uint64_t *bits;		/* 1 = used; bits past units are set */
};

#define WORD_BITS 64u

/* Sets (used=true) or clears units [i, i + n), a word at a time. */
static void set_range(struct famfs_alloc *a, uint64_t i, uint64_t n, bool used)
{
	while (n) {
		uint64_t w = i / WORD_BITS, b = i % WORD_BITS;
		uint64_t take = WORD_BITS - b < n ? WORD_BITS - b : n;
		uint64_t mask = (take == WORD_BITS ? ~0ull :
				 ((1ull << take) - 1)) << b;

		if (used)
			a->bits[w] |= mask;
		else
			a->bits[w] &= ~mask;
		i += take;
		n -= take;
	}
}

/* Number of used units in [i, i + n). */
static uint64_t count_used(const struct famfs_alloc *a, uint64_t i, uint64_t n)
{
	uint64_t used = 0;

	while (n) {
		uint64_t w = i / WORD_BITS, b = i % WORD_BITS;
		uint64_t take = WORD_BITS - b < n ? WORD_BITS - b : n;
		uint64_t mask = (take == WORD_BITS ? ~0ull :
				 ((1ull << take) - 1)) << b;

		used += (uint64_t)__builtin_popcountll(a->bits[w] & mask);
		i += take;
		n -= take;
	}
	return used;
}

int famfs_alloc_new(uint64_t base, uint64_t units, uint64_t unit,
		    struct famfs_alloc **ret)
{
	struct famfs_alloc *a;
	uint64_t words = (units + WORD_BITS - 1) / WORD_BITS;

	if (!unit || (unit & (unit - 1)) || base % unit)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->bits = calloc(words ? words : 1, sizeof(uint64_t));
	if (!a->bits) {
		free(a);
		return -ENOMEM;
	}
	a->base = base;
	a->unit = unit;
	a->shift = (unsigned int)__builtin_ctzll(unit);
	a->units = units;
	a->free_units = units;
	/* Bits past the end read as used so searches never return them. */
	if (units % WORD_BITS)
		a->bits[words - 1] = ~0ull << (units % WORD_BITS);
	*ret = a;
	return 0;
}

void famfs_alloc_free(struct famfs_alloc *a)
{
	if (!a)
		return;
	free(a->bits);
	free(a);
}

/* Converts a byte range to units; false when misaligned or out of range. */
static bool to_units(const struct famfs_alloc *a, uint64_t offset, uint64_t len,
		     uint64_t *first, uint64_t *n)
{
	if (!len || offset < a->base || (offset - a->base) % a->unit ||
	    len % a->unit)
		return false;
	*first = (offset - a->base) >> a->shift;
	*n = len >> a->shift;
	return *first < a->units && *n <= a->units - *first;
}

int famfs_alloc_mark(struct famfs_alloc *a, uint64_t offset, uint64_t len)
{
	uint64_t first, n;

	if (!to_units(a, offset, len, &first, &n))
		return -ERANGE;
	if (count_used(a, first, n))
		return -EEXIST;
	set_range(a, first, n, true);
	a->free_units -= n;
	return 0;
}

int famfs_alloc_release(struct famfs_alloc *a, uint64_t offset, uint64_t len)
{
	uint64_t first, n;

	if (!to_units(a, offset, len, &first, &n))
		return -ERANGE;
	if (count_used(a, first, n) != n)
		return -EINVAL;
	set_range(a, first, n, false);
	a->free_units += n;
	return 0;
}

/* First free unit at or after i, or a->units. Skips full words at once. */
static uint64_t next_free(const struct famfs_alloc *a, uint64_t i)
{
	while (i < a->units) {
		uint64_t w = i / WORD_BITS;
		uint64_t word = a->bits[w] | ((1ull << (i % WORD_BITS)) - 1);

		if (word != ~0ull)
			return w * WORD_BITS + (uint64_t)__builtin_ctzll(~word);
		i = (w + 1) * WORD_BITS;
	}
	return a->units;
}

/* Length of the free run starting at i, capped at max. */
static uint64_t run_length(const struct famfs_alloc *a, uint64_t i, uint64_t max)
{
	uint64_t n = 0;

	while (n < max && i + n < a->units) {
		uint64_t w = (i + n) / WORD_BITS, b = (i + n) % WORD_BITS;
		uint64_t word = a->bits[w] >> b;
		uint64_t run = word ? (uint64_t)__builtin_ctzll(word) :
				      WORD_BITS - b;

		n += run;
		if (run < WORD_BITS - b)
			break;
	}
	return n < max ? n : max;
}

/*
 * Finds one free run of want units from the rover, wrapping once; when
 * none is that long, returns the longest seen (at least one unit).
 */
static uint64_t find_run(const struct famfs_alloc *a, uint64_t want,
			 uint64_t *ret_start)
{
	uint64_t best = 0, best_start = 0, scanned = 0, i = a->rover;

	while (scanned < a->units) {
		uint64_t f = next_free(a, i), len;

		if (f >= a->units) {
			scanned += a->units - i;
			i = 0;
			continue;
		}
		scanned += f - i;
		if (scanned >= a->units)
			break;
		len = run_length(a, f, want);
		if (len > best) {
			best = len;
			best_start = f;
			if (len == want)
				break;
		}
		scanned += len;
		i = f + len;
	}
	*ret_start = best_start;
	return best;
}

int famfs_alloc_alloc(struct famfs_alloc *a, uint64_t size,
		      struct famfs_extent *ext, unsigned int max_extents)
{
	uint64_t need = (size + a->unit - 1) >> a->shift;
	unsigned int n = 0;

	if (!size || need > a->free_units || size > UINT64_MAX - a->unit)
		return -ENOSPC;
	while (need) {
		uint64_t start, len;

		if (n == max_extents)
			goto undo;
		len = find_run(a, need, &start);
		if (!len)
			goto undo;
		set_range(a, start, len, true);
		a->free_units -= len;
		a->rover = start + len < a->units ? start + len : 0;
		ext[n].offset = a->base + (start << a->shift);
		ext[n].len = len << a->shift;
		n++;
		need -= len;
	}
	return (int)n;
undo:
	while (n--)
		famfs_alloc_release(a, ext[n].offset, ext[n].len);
	return -ENOSPC;
}

uint64_t famfs_alloc_unit(const struct famfs_alloc *a)
{
	return a->unit;
}

uint64_t famfs_alloc_free_bytes(const struct famfs_alloc *a)
{
	return a->free_units << a->shift;
}

uint64_t famfs_alloc_total_bytes(const struct famfs_alloc *a)
{
	return a->units << a->shift;
}

uint64_t famfs_alloc_mem_bytes(const struct famfs_alloc *a)
{
	return sizeof(*a) + (a->units + WORD_BITS - 1) / WORD_BITS * 8;
}
