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
	uint64_t free_units;	/* neither used nor held */
	uint64_t held_units;
	uint64_t rover;		/* next-fit start, a unit index */
	uint64_t words;		/* per bitmap */
	uint64_t *used;		/* 1 = used; bits past units are set */
	uint64_t *held;		/* 1 = held; NULL until the first reserve */
	uint64_t cut_from;	/* units from here on are cut (held for good) */
	uint64_t cut_units;	/* of them, how many */
};

#define WORD_BITS 64u

/* The bits of word i / WORD_BITS that [i, i + n) covers, and how many. */
static uint64_t word_mask(uint64_t i, uint64_t n, uint64_t *ret_take)
{
	uint64_t b = i % WORD_BITS;
	uint64_t take = WORD_BITS - b < n ? WORD_BITS - b : n;

	*ret_take = take;
	return (take == WORD_BITS ? ~0ull : ((1ull << take) - 1)) << b;
}

/* Sets (on=true) or clears bits [i, i + n) of map, a word at a time. */
static void set_range(uint64_t *map, uint64_t i, uint64_t n, bool on)
{
	while (n) {
		uint64_t take, mask = word_mask(i, n, &take);

		if (on)
			map[i / WORD_BITS] |= mask;
		else
			map[i / WORD_BITS] &= ~mask;
		i += take;
		n -= take;
	}
}

/*
 * Whether bits [i, i + n) of map are all set (want_set) or all clear; a
 * NULL map has none set. Compares masked words, so the replay path needs
 * no population count.
 */
static bool range_is(const uint64_t *map, uint64_t i, uint64_t n, bool want_set)
{
	if (!map)
		return !want_set;
	while (n) {
		uint64_t take, mask = word_mask(i, n, &take);

		if ((map[i / WORD_BITS] & mask) != (want_set ? mask : 0))
			return false;
		i += take;
		n -= take;
	}
	return true;
}

/* Number of set bits of map in [i, i + n); a NULL map has none. */
static uint64_t count_set(const uint64_t *map, uint64_t i, uint64_t n)
{
	uint64_t set = 0;

	while (map && n) {
		uint64_t take, mask = word_mask(i, n, &take);
		uint64_t bits = map[i / WORD_BITS] & mask;

		/*
		 * Ranges are mostly all set or all clear; without -mpopcnt the
		 * count is a library call, so it is left for mixed words.
		 */
		if (bits == mask)
			set += take;
		else if (bits)
			set += (uint64_t)__builtin_popcountll(bits);
		i += take;
		n -= take;
	}
	return set;
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
	a->words = words ? words : 1;
	a->used = calloc(a->words, sizeof(uint64_t));
	if (!a->used) {
		free(a);
		return -ENOMEM;
	}
	a->base = base;
	a->unit = unit;
	a->shift = (unsigned int)__builtin_ctzll(unit);
	a->units = units;
	a->cut_from = units;
	a->free_units = units;
	/* Bits past the end read as used so searches never return them. */
	if (units % WORD_BITS)
		a->used[words - 1] = ~0ull << (units % WORD_BITS);
	*ret = a;
	return 0;
}

void famfs_alloc_free(struct famfs_alloc *a)
{
	if (!a)
		return;
	free(a->used);
	free(a->held);
	free(a);
}

/*
 * Converts a byte range to units; false when misaligned or out of range.
 * The unit is a power of two: a mask, not a division, on the replay path.
 */
static bool to_units(const struct famfs_alloc *a, uint64_t offset, uint64_t len,
		     uint64_t *first, uint64_t *n)
{
	uint64_t misaligned = a->unit - 1;

	if (!len || offset < a->base || ((offset - a->base) & misaligned) ||
	    (len & misaligned))
		return false;
	*first = (offset - a->base) >> a->shift;
	*n = len >> a->shift;
	return *first < a->units && *n <= a->units - *first;
}

static bool overlap(const struct famfs_extent *x, const struct famfs_extent *y)
{
	return x->offset < y->offset + y->len && y->offset < x->offset + x->len;
}

/*
 * The one check behind every range operation: each extent is inside the
 * area, each of its units has the wanted bit of map (set or clear), and no
 * two extents overlap (n is at most FAMFS_MAX_EXTENTS, so the pairwise
 * test stays cheap; a record has one extent in the common case). Returns 0,
 * -ERANGE, or err_state for the first extent that fails.
 */
static int check_ranges(const struct famfs_alloc *a, const uint64_t *map,
			bool want_set, int err_state,
			const struct famfs_extent *ext, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t first, units;

		if (!to_units(a, ext[i].offset, ext[i].len, &first, &units))
			return -ERANGE;
		if (!range_is(map, first, units, want_set))
			return err_state;
		for (unsigned int j = 0; j < i; j++)
			if (overlap(&ext[i], &ext[j]))
				return err_state;
	}
	return 0;
}

/* Unit index of an extent that check_ranges() accepted. */
static uint64_t first_unit(const struct famfs_alloc *a,
			   const struct famfs_extent *e)
{
	return (e->offset - a->base) >> a->shift;
}

/*
 * Sets (on) or clears the used bits of extents check_ranges() accepted.
 * Held units left the free count when they were reserved.
 */
static void set_used(struct famfs_alloc *a, const struct famfs_extent *ext,
		     unsigned int n, bool on)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t first = first_unit(a, &ext[i]);
		uint64_t units = ext[i].len >> a->shift;
		uint64_t counted = units - count_set(a->held, first, units);

		if (on)
			a->free_units -= counted;
		else
			a->free_units += counted;
		set_range(a->used, first, units, on);
	}
}

/* Ends holds check_ranges() accepted; used units stay out of the count. */
static void drop_holds(struct famfs_alloc *a, const struct famfs_extent *ext,
		       unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		uint64_t first = first_unit(a, &ext[i]);
		uint64_t units = ext[i].len >> a->shift;

		a->free_units += units - count_set(a->used, first, units);
		a->held_units -= units;
		set_range(a->held, first, units, false);
	}
}

int famfs_alloc_check(const struct famfs_alloc *a,
		      const struct famfs_extent *ext, unsigned int n)
{
	return check_ranges(a, a->used, false, -EEXIST, ext, n);
}

int famfs_alloc_commit(struct famfs_alloc *a, const struct famfs_extent *ext,
		       unsigned int n)
{
	int err = famfs_alloc_check(a, ext, n);

	if (err < 0)
		return err;
	set_used(a, ext, n, true);
	return 0;
}

int famfs_alloc_release(struct famfs_alloc *a, const struct famfs_extent *ext,
			unsigned int n)
{
	int err = check_ranges(a, a->used, true, -EINVAL, ext, n);

	if (err < 0)
		return err;
	set_used(a, ext, n, false);
	return 0;
}

int famfs_alloc_unreserve(struct famfs_alloc *a,
			  const struct famfs_extent *ext, unsigned int n)
{
	/* With no hold map yet nothing is held: every extent is refused. */
	int err = check_ranges(a, a->held, true, -EINVAL, ext, n);

	if (err < 0)
		return err;
	drop_holds(a, ext, n);
	return 0;
}

static int ensure_held(struct famfs_alloc *a)
{
	if (!a->held)
		a->held = calloc(a->words, sizeof(uint64_t));
	return a->held ? 0 : -ENOMEM;
}

/* Word w of the units a search must skip: used or held. */
static uint64_t taken(const struct famfs_alloc *a, uint64_t w)
{
	return a->used[w] | a->held[w];
}

/* First unit at or after i that is neither used nor held, or a->units. */
static uint64_t next_free(const struct famfs_alloc *a, uint64_t i)
{
	while (i < a->units) {
		uint64_t w = i / WORD_BITS;
		uint64_t word = taken(a, w) | ((1ull << (i % WORD_BITS)) - 1);

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
		uint64_t word = taken(a, w) >> b;
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

/* Holds run [start, start + len) and returns it as an extent. */
static struct famfs_extent hold_run(struct famfs_alloc *a, uint64_t start,
				    uint64_t len)
{
	set_range(a->held, start, len, true);
	a->free_units -= len;
	a->held_units += len;
	a->rover = start + len < a->units ? start + len : 0;
	return (struct famfs_extent){
		.offset = a->base + (start << a->shift), .len = len << a->shift,
	};
}

int famfs_alloc_reserve(struct famfs_alloc *a, uint64_t size,
			struct famfs_extent *ext, unsigned int max_extents)
{
	uint64_t need = (size + a->unit - 1) >> a->shift;
	unsigned int n = 0;

	if (!size || size > UINT64_MAX - a->unit || need > a->free_units)
		return -ENOSPC;
	/* Agents and fsck never reserve: only the master pays for the map. */
	if (ensure_held(a) < 0)
		return -ENOMEM;
	while (need) {
		uint64_t start, len;

		if (n == max_extents)
			goto undo;
		len = find_run(a, need, &start);
		if (!len)
			goto undo;
		ext[n++] = hold_run(a, start, len);
		need -= len;
	}
	return (int)n;
undo:
	drop_holds(a, ext, n);
	return -ENOSPC;
}

int famfs_alloc_cut(struct famfs_alloc *a, uint64_t end, uint64_t *ret_bytes)
{
	uint64_t first = end <= a->base ? 0 : (end - a->base) >> a->shift;
	uint64_t i, n;

	*ret_bytes = 0;
	if (first >= a->cut_from)
		return 0;
	if (ensure_held(a) < 0)
		return -ENOMEM;
	/*
	 * Held for good: the searches skip them, and a reclaim of a file
	 * there (set_used) leaves held units out of the free count.
	 */
	for (i = first, n = a->cut_from - first; n;) {
		uint64_t take, mask = word_mask(i, n, &take);
		uint64_t w = i / WORD_BITS;

		a->free_units -= (uint64_t)__builtin_popcountll(mask & ~taken(a, w));
		a->held[w] |= mask;
		i += take;
		n -= take;
	}
	a->cut_units += a->cut_from - first;
	*ret_bytes = (a->cut_from - first) << a->shift;
	a->cut_from = first;
	if (a->rover >= first)
		a->rover = 0;
	return 0;
}

uint64_t famfs_alloc_cut_bytes(const struct famfs_alloc *a)
{
	return a->cut_units << a->shift;
}

/* Word w of the units held and not used. */
static uint64_t held_only(const struct famfs_alloc *a, uint64_t w)
{
	return a->held[w] & ~a->used[w];
}

/* First unit at or after i below end whose held_only() bit is want, or end. */
static uint64_t next_held_bit(const struct famfs_alloc *a, uint64_t i,
			      uint64_t end, bool want)
{
	while (i < end) {
		uint64_t w = i / WORD_BITS;
		uint64_t word = want ? held_only(a, w) : ~held_only(a, w);

		word &= ~0ull << (i % WORD_BITS);
		if (word) {
			i = w * WORD_BITS + (uint64_t)__builtin_ctzll(word);
			return i < end ? i : end;
		}
		i = (w + 1) * WORD_BITS;
	}
	return end;
}

int famfs_alloc_next_held(const struct famfs_alloc *a, uint64_t from,
			  uint64_t *ret_first, uint64_t *ret_n)
{
	uint64_t first, end;

	/* Without a hold map nothing was ever held; cut units are not held. */
	if (!a->held || from >= a->cut_from)
		return -ENOENT;
	first = next_held_bit(a, from, a->cut_from, true);
	if (first == a->cut_from)
		return -ENOENT;
	end = next_held_bit(a, first, a->cut_from, false);
	*ret_first = first;
	*ret_n = end - first;
	return 0;
}

uint64_t famfs_alloc_cut_from(const struct famfs_alloc *a)
{
	return a->cut_from;
}

uint64_t famfs_alloc_units(const struct famfs_alloc *a)
{
	return a->units;
}

uint64_t famfs_alloc_unit(const struct famfs_alloc *a)
{
	return a->unit;
}

uint64_t famfs_alloc_free_bytes(const struct famfs_alloc *a)
{
	return a->free_units << a->shift;
}

uint64_t famfs_alloc_held_bytes(const struct famfs_alloc *a)
{
	return a->held_units << a->shift;
}

uint64_t famfs_alloc_total_bytes(const struct famfs_alloc *a)
{
	return a->units << a->shift;
}

uint64_t famfs_alloc_mem_bytes(const struct famfs_alloc *a)
{
	return sizeof(*a) + a->words * 8 * (a->held ? 2 : 1);
}
