// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsck and the two copies of the log: a damaged copy of a record (either
 * copy), of a checkpoint item, of a tail slot and of the area header is
 * named with its exact place and rewritten from the good copy by
 * famfs_fsck_repair, after which both copies are byte for byte the same
 * and fsck is clean; more damaged copies than the report lists are
 * mended in further rounds; both copies of a record bad: fsck says which
 * records are lost, the repair cuts the log after the last good one in
 * both copies and a writer goes on from there; both copies of an item
 * bad cannot be repaired offline and the repair says so.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "checkpoint.h"
#include "fsck.h"
#include "replay.h"
#include "testpool.h"

#define U	4096ull

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

static void build(struct tpool *p, struct tpool_expect *ex)
{
	assert_int_equal(tpool_init(p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	assert_int_equal(tpool_populate(p, ex), 0);
}

/* Offset in the log region of copy c of the current generation's area. */
static uint64_t area_off(const struct tpool *p, unsigned int c)
{
	return famfs_log_area_offset(p->info.log_size, p->info.log_generation, c);
}

static uint8_t *area(const struct tpool *p, unsigned int c)
{
	return tpool_log_base(p) + area_off(p, c);
}

static bool copies_equal(const struct tpool *p)
{
	return memcmp(area(p, 0), area(p, 1),
		      famfs_log_area_size(p->info.log_size)) == 0;
}

/* Body offset of record seq, walked through a reader of our own. */
static uint64_t record_at(const struct tpool *p, uint64_t seq)
{
	struct famfs_log_pos pos, tail, before;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log *log;

	assert_int_equal(famfs_log_open(tpool_log_base(p), p->info.log_size,
					p->info.log_generation, none(), &log, &err), 0);
	assert_int_equal(famfs_log_read_tail(log, &tail, &err), 0);
	pos = famfs_log_start(log);
	do {
		before = pos;
		assert_int_equal(famfs_log_next(log, &pos, &tail, &h, &err), 1);
	} while (pos.seq < seq);
	famfs_log_free(log);
	return before.end;
}

/* Body offset of checkpoint item n (from 1), by the items' lengths. */
static uint64_t item_at(const struct tpool *p, uint64_t n)
{
	uint64_t off = 0;

	for (uint64_t i = 1; i < n; i++)
		off += le32toh(((const struct famfs_rec_hdr *)
				(area(p, 0) + FAMFS_LOG_HDR_SIZE + off))->len);
	return off;
}

/* Bytes [off, off + len) of the body of copy c become garbage. */
static void smash(const struct tpool *p, unsigned int c, uint64_t off, size_t len)
{
	memset(area(p, c) + FAMFS_LOG_HDR_SIZE + off, 0xa5, len);
}

static void fsck(const struct tpool *p, struct famfs_fsck_report *rep, int want)
{
	assert_int_equal(famfs_fsck(p->base, p->size, none(), rep), want);
}

static void assert_clean(const struct tpool *p, uint64_t records)
{
	struct famfs_fsck_report rep;

	fsck(p, &rep, 0);
	assert_int_equal(rep.where, FAMFS_FSCK_OK);
	assert_int_equal(rep.n_damage, 0);
	assert_int_equal(rep.records, records);
	assert_true(copies_equal(p));
}

static void test_one_copy_of_a_record(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;
	uint64_t off;

	(void)state;
	for (unsigned int c = 0; c < 2; c++) {
		build(&p, &ex);
		off = record_at(&p, 5);
		/* A poisoned line: the replay reads copy 0 first, the verify both. */
		smash(&p, c, off, 8);
		fsck(&p, &rep, 0);
		assert_int_equal(rep.where, FAMFS_FSCK_OK);
		assert_int_equal(rep.records, ex.records);
		assert_int_equal(rep.n_damage, 1);
		assert_int_equal(rep.damage[0].d.part, FAMFS_LOG_PART_RECORD);
		assert_int_equal(rep.damage[0].d.copy, c);
		assert_false(rep.damage[0].d.both);
		assert_int_equal(rep.damage[0].d.seq, 5);
		assert_int_equal(rep.damage[0].d.offset, off);
		assert_int_equal(rep.damage[0].d.log_offset,
				 area_off(&p, c) + FAMFS_LOG_HDR_SIZE + off);
		assert_int_equal(rep.damage[0].pool_offset,
				 p.info.log_offset + rep.damage[0].d.log_offset);
		assert_false(copies_equal(&p));
		assert_int_equal(famfs_fsck_repair(p.base, p.size, none(), &rep), 0);
		assert_int_equal(rep.damage[0].repair, 1);
		assert_int_equal(rep.repaired, 1);
		assert_false(rep.truncated);
		assert_clean(&p, ex.records);
		tpool_fini(&p);
	}
}

static void test_header_and_tail_slot(void **state)
{
	struct famfs_fsck_report rep;
	struct famfs_log_hdr *h1;
	struct tpool_expect ex;
	struct tpool p;
	bool header = false, slot = false;

	(void)state;
	build(&p, &ex);
	h1 = (struct famfs_log_hdr *)area(&p, 1);
	h1->max_ino ^= 1;
	memset(&((struct famfs_log_hdr *)area(&p, 0))->tail[1], 0x5a,
	       sizeof(struct famfs_log_tail));
	fsck(&p, &rep, 0);
	assert_int_equal(rep.records, ex.records);
	assert_int_equal(rep.n_damage, 2);
	for (int i = 0; i < 2; i++) {
		const struct famfs_log_damage *d = &rep.damage[i].d;

		if (d->part == FAMFS_LOG_PART_HEADER) {
			header = true;
			assert_int_equal(d->copy, 1);
			assert_int_equal(d->log_offset, area_off(&p, 1));
		} else {
			slot = true;
			assert_int_equal(d->part, FAMFS_LOG_PART_TAIL);
			assert_int_equal(d->copy, 0);
			assert_int_equal(d->seq, 1);
			assert_int_equal(d->log_offset, area_off(&p, 0) +
					 offsetof(struct famfs_log_hdr, tail[1]));
		}
	}
	assert_true(header && slot);
	assert_int_equal(famfs_fsck_repair(p.base, p.size, none(), &rep), 0);
	assert_clean(&p, ex.records);
	tpool_fini(&p);
}

static void test_both_copies_of_a_record(void **state)
{
	struct famfs_fsck_report rep;
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	struct tpool_expect ex;
	struct tpool p;
	uint64_t off, from, to, dir;

	(void)state;
	build(&p, &ex);
	off = record_at(&p, 9);
	smash(&p, 0, off + 40, 4);
	smash(&p, 1, off, 64);
	fsck(&p, &rep, -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_RECORD);
	assert_int_equal(rep.bad_seq, 9);
	assert_int_equal(rep.bad_offset, off);
	assert_int_equal(rep.replayed.seq, 8);
	assert_int_equal(rep.replayed.end, off);
	assert_true(famfs_fsck_lost_records(&rep, &from, &to));
	assert_int_equal(from, 9);
	assert_int_equal(to, ex.records);
	/* Both copies named; the verify cannot step over the record. */
	assert_int_equal(rep.n_damage, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rep.damage[i].d.seq, 9);
		assert_true(rep.damage[i].d.both);
	}
	assert_int_equal(famfs_fsck_repair(p.base, p.size, none(), &rep), 0);
	assert_true(rep.truncated);
	assert_int_equal(rep.damage[0].repair, 2);
	fsck(&p, &rep, 0);
	assert_int_equal(rep.records, 8);
	assert_int_equal(rep.tail_seq, 8);
	assert_int_equal(rep.log_used, off);
	assert_int_equal(rep.n_damage, 0);

	/* A writer goes on after the cut: record 9 again, over the damage. */
	famfs_log_free(p.log);
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size,
					p.info.log_generation, none(), &p.log, &err), 0);
	assert_int_equal(famfs_log_read_tail(p.log, &tail, &err), 0);
	famfs_log_writer_start(p.log, &tail);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "after-the-cut", &dir), 0);
	tpool_publish(&p);
	assert_clean(&p, 9);
	tpool_fini(&p);
}

static void test_more_than_the_report_lists(void **state)
{
	struct famfs_fsck_report rep;
	struct famfs_log_pos pub;
	struct tpool p;
	char name[16];

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "d%03d", i);
		assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, name, NULL), 0);
	}
	tpool_publish(&p);
	pub = famfs_log_published(p.log);
	/* Every record of copy 0: one damaged copy each. */
	smash(&p, 0, 0, pub.end);
	fsck(&p, &rep, 0);
	assert_int_equal(rep.records, 200);
	assert_int_equal(rep.n_damage, 200);
	assert_int_equal(famfs_fsck_count_damage(p.base, &p.info, none(), &pub), 200);
	assert_int_equal(famfs_fsck_repair(p.base, p.size, none(), &rep), 0);
	assert_int_equal(rep.repaired, 200);
	assert_clean(&p, 200);
	tpool_fini(&p);
}

/* Generation 2 of p: its checkpoint is the state of generation 1. */
static void compact(struct tpool *p)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_replay_error rerr;
	struct famfs_log_error err;
	struct famfs_state *st;
	struct famfs_log *nlog;

	assert_int_equal(famfs_log_read_tail(p->log, &tail, &err), 0);
	assert_int_equal(famfs_state_new(&p->info, &st), 0);
	assert_true(famfs_replay(p->log, &pos, &tail, st, NULL, NULL, &rerr) >= 0);
	assert_int_equal(famfs_log_create(tpool_log_base(p), p->info.log_size,
					  p->info.log_generation + 1, none(), &nlog), 0);
	assert_int_equal(famfs_ckpt_write(st, nlog), 0);
	famfs_state_free(st);
	p->info.log_generation++;
	p->info.sb_seq++;
	famfs_sb_write(p->base, &p->info, none());
	famfs_log_free(p->log);
	p->log = nlog;
}

static void test_checkpoint_item(void **state)
{
	struct famfs_fsck_report rep;
	struct famfs_log_base b;
	struct tpool_expect ex;
	struct tpool p;

	(void)state;
	build(&p, &ex);
	compact(&p);
	b = famfs_log_base(p.log);
	assert_true(b.ckpt_items > 3);
	assert_clean(&p, ex.records);
	smash(&p, 1, item_at(&p, 2), 4);
	fsck(&p, &rep, 0);
	assert_int_equal(rep.base.seq, ex.records);
	assert_int_equal(rep.base.ckpt_items, b.ckpt_items);
	assert_int_equal(rep.n_damage, 1);
	assert_int_equal(rep.damage[0].d.part, FAMFS_LOG_PART_ITEM);
	assert_int_equal(rep.damage[0].d.copy, 1);
	assert_int_equal(rep.damage[0].d.seq, 2);
	assert_int_equal(famfs_fsck_repair(p.base, p.size, none(), &rep), 0);
	assert_clean(&p, ex.records);

	/* Both copies of item 2: the generation cannot be replayed, nor cut. */
	smash(&p, 0, item_at(&p, 2) + 8, 4);
	smash(&p, 1, item_at(&p, 2), 4);
	fsck(&p, &rep, -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_CHECKPOINT);
	assert_int_equal(rep.bad_seq, 2);
	assert_string_equal(famfs_fsck_where_name(rep.where), "checkpoint item");
	assert_int_equal(famfs_fsck_repair(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_false(rep.truncated);
	tpool_fini(&p);
}

static void test_set_tail(void **state)
{
	const char *why[FAMFS_LOG_TAIL_SLOTS];
	struct famfs_log_pos pos, tail;
	struct famfs_log_error err;
	struct tpool_expect ex;
	struct tpool p;

	(void)state;
	build(&p, &ex);
	/* Both copies of slot 0 and slot 1 of copy 0 gone: one slot left. */
	for (unsigned int s = 0; s < 3; s++)
		memset(&((struct famfs_log_hdr *)area(&p, s == 2))->tail[s % 2 ? 1 : 0],
		       0, sizeof(struct famfs_log_tail));
	pos = famfs_log_published(p.log);
	famfs_log_set_tail(p.log, &pos);
	assert_int_equal(famfs_log_read_tail(p.log, &tail, &err), 0);
	famfs_log_tail_status(p.log, why);
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		assert_null(why[s]);
	assert_int_equal(tail.seq, pos.seq);
	assert_int_equal(tail.end, pos.end);
	assert_int_equal(tail.epoch, pos.epoch);
	assert_clean(&p, ex.records);
	tpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_copy_of_a_record),
		cmocka_unit_test(test_header_and_tail_slot),
		cmocka_unit_test(test_both_copies_of_a_record),
		cmocka_unit_test(test_more_than_the_report_lists),
		cmocka_unit_test(test_checkpoint_item),
		cmocka_unit_test(test_set_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
