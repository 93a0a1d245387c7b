// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The readers' epoch fence (docs/failover.md): once a reader knows the
 * active master's epoch E began at record S, a record or tail slot at or
 * after S with an epoch below E (an old master's store, paused between its
 * deadline check and its store) is a damaged copy: the other copy is read,
 * and when it is no better nothing is applied. Each case is run without
 * the fence too, to show the log itself would have been applied. And the
 * writer's side: a log whose write guard says no stores nothing at all.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "replay.h"
#include "testpool.h"

#define U	4096ull

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

struct damage_seen {
	int n;
	struct famfs_log_damage last;
};

static void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct damage_seen *s = ctx;

	s->n++;
	s->last = *d;
}

/* A reader from scratch, fenced at (epoch, seq) unless epoch is 0. */
struct reader {
	struct famfs_log *log;
	struct famfs_state *st;
	struct famfs_log_pos pos;
	struct damage_seen dmg;
};

static void reader_init(struct reader *rd, struct tpool *p, uint64_t epoch,
			uint64_t seq)
{
	struct famfs_log_error err;

	memset(rd, 0, sizeof(*rd));
	assert_int_equal(famfs_log_open(tpool_log_base(p), p->info.log_size,
					p->info.log_generation, none(), &rd->log,
					&err), 0);
	famfs_log_set_damage_hook(rd->log, on_damage, &rd->dmg);
	if (epoch)
		famfs_log_set_epoch_fence(rd->log, epoch, seq);
	assert_int_equal(famfs_state_new(&p->info, &rd->st), 0);
}

static void reader_fini(struct reader *rd)
{
	famfs_state_free(rd->st);
	famfs_log_free(rd->log);
}

/* Reads the tail and replays up to it: famfs_replay's result. */
static long reader_step(struct reader *rd, struct famfs_log_pos *ret_tail,
			struct famfs_replay_error *err)
{
	struct famfs_log_error lerr;

	assert_int_equal(famfs_log_read_tail(rd->log, ret_tail, &lerr), 0);
	return famfs_replay(rd->log, &rd->pos, ret_tail, rd->st, NULL, NULL, err);
}

/* Records 1-2 of epoch 1 (the old master), then the new master's E = 3. */
static void two_of_epoch_one(struct tpool *p)
{
	assert_int_equal(tpool_init(p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	assert_int_equal(tpool_mkdir(p, FAMFS_ROOT_INO, "a", NULL), 0);
	assert_int_equal(tpool_mkdir(p, FAMFS_ROOT_INO, "b", NULL), 0);
	tpool_publish(p);
}

/* The new master's own records from S pass the fence, as do older ones. */
static void test_records_of_the_active_epoch_pass(void **state)
{
	struct famfs_replay_error err;
	struct famfs_log_pos tail;
	struct reader rd;
	struct tpool p;

	(void)state;
	two_of_epoch_one(&p);
	p.epoch = 3;
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "c", NULL), 0);
	tpool_publish(&p);
	reader_init(&rd, &p, 3, 3);
	assert_int_equal(reader_step(&rd, &tail, &err), 3);
	assert_int_equal(tail.seq, 3);
	assert_int_equal(rd.st->last_seq, 3);
	assert_int_equal(rd.st->last_epoch, 3);
	assert_int_equal(rd.dmg.n, 0);
	reader_fini(&rd);
	tpool_fini(&p);
}

/*
 * The old master published record S (and its tail) of epoch 1: the fenced
 * reader refuses that tail slot and stays at S - 1 on the other slot; an
 * unfenced one applies it.
 */
static void test_stale_tail_at_s_is_refused(void **state)
{
	struct famfs_replay_error err;
	struct famfs_log_pos tail;
	struct reader rd;
	struct tpool p;

	(void)state;
	two_of_epoch_one(&p);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "late", NULL), 0);
	tpool_publish(&p);

	reader_init(&rd, &p, 0, 0);
	assert_int_equal(reader_step(&rd, &tail, &err), 3);
	assert_int_equal(rd.st->last_seq, 3);
	reader_fini(&rd);

	reader_init(&rd, &p, 3, 3);
	assert_int_equal(reader_step(&rd, &tail, &err), 2);
	assert_int_equal(tail.seq, 2);
	assert_int_equal(rd.st->last_seq, 2);
	assert_int_equal(rd.st->dirs, 2);		/* a, b */
	/* Both copies' slot of seq 3 refused, each reported. */
	assert_int_equal(rd.dmg.n, 2);
	assert_int_equal(rd.dmg.last.part, FAMFS_LOG_PART_TAIL);
	assert_non_null(strstr(rd.dmg.last.reason, "epoch"));
	reader_fini(&rd);
	tpool_fini(&p);
}

/*
 * A stale record at S under a tail of the new epoch (the old master's
 * record store landed after the new master's, which then went on): never
 * applied, the replay stops at S - 1 naming record S.
 */
static void test_stale_record_at_s_is_never_applied(void **state)
{
	struct famfs_replay_error err;
	struct famfs_log_pos tail;
	struct reader rd;
	struct tpool p;

	(void)state;
	two_of_epoch_one(&p);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "stale", NULL), 0);
	p.epoch = 3;
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "new", NULL), 0);
	tpool_publish(&p);

	reader_init(&rd, &p, 0, 0);
	assert_int_equal(reader_step(&rd, &tail, &err), 4);
	reader_fini(&rd);

	reader_init(&rd, &p, 3, 3);
	assert_int_equal(reader_step(&rd, &tail, &err), -EUCLEAN);
	assert_int_equal(tail.seq, 4);
	assert_int_equal(err.bad_record, 1);
	assert_int_equal(err.seq, 3);
	assert_non_null(strstr(err.reason, "epoch"));
	assert_int_equal(rd.pos.seq, 2);
	assert_int_equal(rd.st->last_seq, 2);
	assert_int_equal(rd.st->dirs, 2);
	assert_int_equal(rd.dmg.n, 1);
	assert_true(rd.dmg.last.both);
	assert_int_equal(rd.dmg.last.seq, 3);
	reader_fini(&rd);
	tpool_fini(&p);
}

/* Copy 0 of record S stale, copy 1 the new master's: copy 1 is applied. */
static void test_stale_copy_reads_the_other(void **state)
{
	struct famfs_replay_error err;
	struct famfs_log_pos tail, at;
	struct famfs_rec_hdr *h;
	struct reader rd;
	struct tpool p;
	uint32_t len;

	(void)state;
	two_of_epoch_one(&p);
	at = famfs_log_appended(p.log);
	p.epoch = 3;
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "c", NULL), 0);
	tpool_publish(&p);
	/* Copy 0 rewritten as epoch 1, with a CRC that holds. */
	h = (struct famfs_rec_hdr *)(tpool_body(&p, 0) + at.end);
	len = le32toh(h->len);
	h->epoch = htole64(1);
	h->crc = htole32(famfs_rec_crc(h, len, p.info.log_generation));

	reader_init(&rd, &p, 3, 3);
	assert_int_equal(reader_step(&rd, &tail, &err), 3);
	assert_int_equal(rd.st->last_seq, 3);
	assert_int_equal(rd.st->last_epoch, 3);
	assert_int_equal(rd.dmg.n, 1);
	assert_int_equal(rd.dmg.last.copy, 0);
	assert_false(rd.dmg.last.both);
	reader_fini(&rd);
	tpool_fini(&p);
}

/* The fence only rises: a lower epoch set later changes nothing. */
static void test_fence_only_rises(void **state)
{
	struct famfs_replay_error err;
	struct famfs_log_pos tail;
	struct reader rd;
	struct tpool p;

	(void)state;
	two_of_epoch_one(&p);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "late", NULL), 0);
	tpool_publish(&p);
	reader_init(&rd, &p, 3, 3);
	famfs_log_set_epoch_fence(rd.log, 2, 100);
	assert_int_equal(reader_step(&rd, &tail, &err), 2);
	assert_int_equal(tail.seq, 2);
	reader_fini(&rd);
	tpool_fini(&p);
}

static bool guard_open;

static bool guard(void *ctx)
{
	(*(int *)ctx)++;
	return guard_open;
}

/* Snapshot of both copies of the area, to prove nothing was written. */
static void area_copy(const struct tpool *p, uint8_t *dst, size_t n)
{
	memcpy(dst, tpool_area(p, 0), n);
	memcpy(dst + n, tpool_area(p, 1), n);
}

static void test_write_guard_refuses_every_store(void **state)
{
	struct famfs_log_damage d = {
		.part = FAMFS_LOG_PART_TAIL, .len = sizeof(struct famfs_log_tail),
	};
	struct famfs_log_pos pub;
	uint8_t *before, *after;
	struct tpool p;
	size_t n;
	int asked = 0;

	(void)state;
	two_of_epoch_one(&p);
	n = famfs_log_area_size(p.info.log_size);
	before = malloc(2 * n);
	after = malloc(2 * n);
	assert_non_null(before);
	assert_non_null(after);
	famfs_log_set_write_guard(p.log, guard, &asked);
	guard_open = false;
	pub = famfs_log_published(p.log);
	area_copy(&p, before, n);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "no", NULL), -ESHUTDOWN);
	assert_int_equal(famfs_log_appended(p.log).seq, pub.seq);
	famfs_log_set_tail(p.log, &pub);
	assert_int_equal(famfs_log_repair_tail(p.log), -ESHUTDOWN);
	assert_int_equal(famfs_log_repair(p.log, &d), -ESHUTDOWN);
	area_copy(&p, after, n);
	assert_memory_equal(before, after, 2 * n);
	free(before);
	free(after);
	assert_true(asked >= 4);

	/* Appended while open, refused at the publish: nothing published. */
	guard_open = true;
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "late", NULL), 0);
	guard_open = false;
	tpool_publish(&p);
	assert_int_equal(famfs_log_published(p.log).seq, pub.seq);
	famfs_log_discard(p.log);
	guard_open = true;
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "yes", NULL), 0);
	tpool_publish(&p);
	assert_int_equal(famfs_log_published(p.log).seq, pub.seq + 1);
	tpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_records_of_the_active_epoch_pass),
		cmocka_unit_test(test_stale_tail_at_s_is_refused),
		cmocka_unit_test(test_stale_record_at_s_is_never_applied),
		cmocka_unit_test(test_stale_copy_reads_the_other),
		cmocka_unit_test(test_fence_only_rises),
		cmocka_unit_test(test_write_guard_refuses_every_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
