// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master's table of damaged log copies (master/damage_table.c): each
 * damaged copy counted once however often it is reported, a repair that
 * did not hold retried no sooner than the retry period, an entry made
 * worse (the other copy bad too) looked at again, a generation switch
 * closing what the old generation held, the ring of the 16 newest
 * following every change, and a full table dropping rather than growing.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "master/damage_table.h"

#define SEC	1000000000ull
#define RETRY	(5 * SEC)

/* A damaged record copy of generation gen at log offset off. */
static struct damage_entry rec(uint64_t gen, unsigned int copy, uint64_t off,
			       bool both)
{
	return (struct damage_entry){
		.generation = gen, .found_by = DAMAGE_BY_SCRUB,
		.d = { .part = FAMFS_LOG_PART_RECORD, .copy = copy, .both = both,
		       .seq = off / 64, .offset = off, .log_offset = off + 4096,
		       .len = 64, .reason = "record CRC mismatch" },
	};
}

static struct damage_table *table(void)
{
	struct damage_table *t = malloc(sizeof(*t));

	assert_non_null(t);
	damage_table_init(t);
	return t;
}

static void drop(struct damage_table *t)
{
	damage_table_fini(t);
	free(t);
}

static size_t pending(const struct damage_table *t)
{
	static struct damage_entry e[DAMAGE_OPEN_MAX];

	return damage_table_pending(t, e, DAMAGE_OPEN_MAX);
}

static void test_each_copy_counted_once(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e = rec(1, 0, 128, false), got;

	(void)state;
	assert_int_equal(damage_table_add(t, &e, 0, RETRY, &got), DAMAGE_ADD_NEW);
	assert_int_equal(got.id, 1);
	assert_int_equal(got.state, DAMAGE_PENDING);
	/* The reader and every scrub pass report it again: nothing new. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(damage_table_add(t, &e, SEC * i, RETRY, NULL),
				 DAMAGE_ADD_KNOWN);
	/* The other copy of the same record, or a record of the other generation, is another. */
	e = rec(1, 1, 128, false);
	assert_int_equal(damage_table_add(t, &e, 0, RETRY, NULL), DAMAGE_ADD_NEW);
	e = rec(2, 0, 128, false);
	assert_int_equal(damage_table_add(t, &e, 0, RETRY, NULL), DAMAGE_ADD_NEW);
	assert_int_equal(t->found, 3);
	assert_int_equal(damage_table_unrepaired(t), 3);
	assert_int_equal(pending(t), 3);
	drop(t);
}

static void test_repaired_leaves_and_may_come_back(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e = rec(1, 0, 128, false), last[DAMAGE_LAST];

	(void)state;
	damage_table_add(t, &e, 0, RETRY, NULL);
	assert_int_equal(damage_table_resolve(t, 1, DAMAGE_REPAIRED,
					      DAMAGE_FIX_COPY, SEC), 0);
	assert_int_equal(damage_table_unrepaired(t), 0);
	assert_int_equal(t->repaired, 1);
	assert_int_equal(pending(t), 0);
	/* Closed: a second resolve finds nothing. */
	assert_int_equal(damage_table_resolve(t, 1, DAMAGE_REPAIRED,
					      DAMAGE_FIX_COPY, SEC), -ENOENT);
	assert_int_equal(damage_table_last(t, last), 1);
	assert_int_equal(last[0].state, DAMAGE_REPAIRED);
	assert_int_equal(last[0].fixed_by, DAMAGE_FIX_COPY);
	assert_int_equal(last[0].tries, 1);
	/* The same place damaged again later is new damage. */
	assert_int_equal(damage_table_add(t, &e, 2 * SEC, RETRY, NULL),
			 DAMAGE_ADD_NEW);
	assert_int_equal(t->found, 2);
	drop(t);
}

static void test_unrepaired_retried_after_the_period(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e = rec(1, 0, 128, false), got;

	(void)state;
	damage_table_add(t, &e, 0, RETRY, NULL);
	damage_table_resolve(t, 1, DAMAGE_UNREPAIRED, DAMAGE_FIX_NONE, 10 * SEC);
	assert_int_equal(pending(t), 0);
	assert_int_equal(damage_table_unrepaired(t), 1);
	/* Found again too soon: left alone, so a poisoned line is not hammered. */
	assert_int_equal(damage_table_add(t, &e, 10 * SEC + RETRY - 1, RETRY, NULL),
			 DAMAGE_ADD_KNOWN);
	assert_int_equal(pending(t), 0);
	assert_int_equal(damage_table_add(t, &e, 10 * SEC + RETRY, RETRY, &got),
			 DAMAGE_ADD_RETRY);
	assert_int_equal(got.state, DAMAGE_PENDING);
	assert_int_equal(got.tries, 1);
	assert_int_equal(pending(t), 1);
	assert_int_equal(t->found, 1);
	drop(t);
}

static void test_worse_is_looked_at_again_at_once(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e = rec(1, 0, 128, false), got, out[4];

	(void)state;
	damage_table_add(t, &e, 0, RETRY, NULL);
	damage_table_resolve(t, 1, DAMAGE_UNREPAIRED, DAMAGE_FIX_NONE, SEC);
	/* Now the other copy is bad too: no waiting, it needs a compaction. */
	e.d.both = true;
	assert_int_equal(damage_table_add(t, &e, SEC, RETRY, &got), DAMAGE_ADD_WORSE);
	assert_true(got.d.both);
	assert_int_equal(damage_table_pending(t, out, 4), 1);
	assert_true(out[0].d.both);
	assert_int_equal(out[0].id, 1);
	/* Both stays both: a report of one copy bad changes nothing. */
	e.d.both = false;
	assert_int_equal(damage_table_add(t, &e, SEC, RETRY, &got), DAMAGE_ADD_KNOWN);
	assert_true(got.d.both);
	assert_int_equal(t->found, 1);
	drop(t);
}

static void test_switch_closes_the_old_generation(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e, last[DAMAGE_LAST];

	(void)state;
	e = rec(1, 0, 128, true);
	damage_table_add(t, &e, 0, RETRY, NULL);
	e = rec(1, 1, 128, true);
	damage_table_add(t, &e, 0, RETRY, NULL);
	damage_table_resolve(t, 2, DAMAGE_UNREPAIRED, DAMAGE_FIX_NONE, SEC);
	e = rec(2, 0, 256, false);
	damage_table_add(t, &e, 0, RETRY, NULL);
	assert_int_equal(damage_table_switch(t, 2), 2);
	assert_int_equal(damage_table_unrepaired(t), 1);
	assert_int_equal(t->repaired, 2);
	assert_int_equal(damage_table_last(t, last), 3);
	/* Newest first: generation 2's entry, then the two closed ones. */
	assert_int_equal(last[0].id, 3);
	assert_int_equal(last[0].state, DAMAGE_PENDING);
	for (int i = 1; i < 3; i++) {
		assert_int_equal(last[i].state, DAMAGE_REPAIRED);
		assert_int_equal(last[i].fixed_by, DAMAGE_FIX_COMPACTION);
	}
	/* A repair of an entry the switch closed meanwhile is told so. */
	assert_int_equal(damage_table_resolve(t, 1, DAMAGE_REPAIRED,
					      DAMAGE_FIX_COMPACTION, SEC), -ENOENT);
	assert_int_equal(t->repaired, 2);
	drop(t);
}

static void test_last_holds_the_newest_sixteen(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e, last[DAMAGE_LAST];

	(void)state;
	assert_int_equal(damage_table_last(t, last), 0);
	for (uint64_t i = 0; i < 20; i++) {
		e = rec(1, 0, 64 * i, false);
		damage_table_add(t, &e, 0, RETRY, NULL);
	}
	/* Entry 2 is out of the ring: its repair must not touch entry 18's slot. */
	damage_table_resolve(t, 2, DAMAGE_REPAIRED, DAMAGE_FIX_COPY, SEC);
	damage_table_resolve(t, 19, DAMAGE_REPAIRED, DAMAGE_FIX_COPY, SEC);
	assert_int_equal(damage_table_last(t, last), DAMAGE_LAST);
	for (size_t i = 0; i < DAMAGE_LAST; i++) {
		assert_int_equal(last[i].id, 20 - i);
		assert_int_equal(last[i].d.offset, 64 * (19 - i));
		assert_int_equal(last[i].state, last[i].id == 19 ?
				 DAMAGE_REPAIRED : DAMAGE_PENDING);
	}
	assert_int_equal(damage_table_unrepaired(t), 18);
	drop(t);
}

static void test_full_table_drops(void **state)
{
	struct damage_table *t = table();
	struct damage_entry e;

	(void)state;
	for (uint64_t i = 0; i < DAMAGE_OPEN_MAX; i++) {
		e = rec(1, 0, 64 * i, false);
		assert_int_equal(damage_table_add(t, &e, 0, RETRY, NULL),
				 DAMAGE_ADD_NEW);
	}
	e = rec(1, 1, 0, false);
	assert_int_equal(damage_table_add(t, &e, 0, RETRY, NULL), DAMAGE_ADD_DROPPED);
	assert_int_equal(t->dropped, 1);
	assert_int_equal(t->found, DAMAGE_OPEN_MAX);
	/* A known one is still known, and room comes back with a repair. */
	e = rec(1, 0, 0, false);
	assert_int_equal(damage_table_add(t, &e, 0, RETRY, NULL), DAMAGE_ADD_KNOWN);
	damage_table_resolve(t, 1, DAMAGE_REPAIRED, DAMAGE_FIX_COPY, SEC);
	e = rec(1, 1, 0, false);
	assert_int_equal(damage_table_add(t, &e, 0, RETRY, NULL), DAMAGE_ADD_NEW);
	drop(t);
}

static void test_part_names(void **state)
{
	(void)state;
	assert_string_equal(famfs_log_part_name(FAMFS_LOG_PART_RECORD), "record");
	assert_string_equal(famfs_log_part_name(FAMFS_LOG_PART_ITEM), "checkpoint item");
	assert_string_equal(famfs_log_part_name(FAMFS_LOG_PART_TAIL), "tail slot");
	assert_string_equal(famfs_log_part_name(FAMFS_LOG_PART_HEADER), "area header");
	assert_string_equal(famfs_log_part_name((enum famfs_log_part)9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_copy_counted_once),
		cmocka_unit_test(test_repaired_leaves_and_may_come_back),
		cmocka_unit_test(test_unrepaired_retried_after_the_period),
		cmocka_unit_test(test_worse_is_looked_at_again_at_once),
		cmocka_unit_test(test_switch_closes_the_old_generation),
		cmocka_unit_test(test_last_holds_the_newest_sixteen),
		cmocka_unit_test(test_full_table_drops),
		cmocka_unit_test(test_part_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
