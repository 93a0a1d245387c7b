// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reclaim records of several files: built and decoded with every entry,
 * applied all or nothing, refused when an entry is not pending, is out of
 * delete order or names a file twice; and through famfs_replay, the hook
 * sees one reclaimed inode at a time.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "record.h"
#include "state.h"

#define U	4096ull

static struct famfs_pool_info info;

static struct famfs_state *new_state(void)
{
	struct famfs_state *st = NULL;

	assert_int_equal(famfs_sb_plan(1ull << 30, U, 1ull << 20, &info, NULL), 0);
	assert_int_equal(famfs_state_new(&info, &st), 0);
	return st;
}

static void apply_ok(struct famfs_state *st, struct famfs_rec *r)
{
	const char *why = NULL;

	r->seq = st->last_seq + 1;
	r->epoch = 1;
	assert_int_equal(famfs_state_apply(st, r, &why), 0);
}

/* Creates file ino in unit ino, then deletes it: it is pending. */
static void create_and_delete(struct famfs_state *st, uint64_t ino)
{
	char name[16];
	struct famfs_extent e = {
		htole64(info.data_offset + ino * U), htole64(U),
	};
	int len = snprintf(name, sizeof(name), "f%llu", (unsigned long long)ino);
	struct famfs_rec c = {
		.type = FAMFS_REC_CREATE, .ino = ino, .parent = FAMFS_ROOT_INO,
		.size = U, .mode = 0644, .name = name, .name_len = (uint32_t)len,
		.extents = &e, .n_extents = 1,
	};
	struct famfs_rec d = {
		.type = FAMFS_REC_DELETE, .ino = ino, .parent = FAMFS_ROOT_INO,
		.name = name, .name_len = (uint32_t)len,
	};

	apply_ok(st, &c);
	apply_ok(st, &d);
}

/* The delete_seq of pending file ino. */
static uint64_t del_seq(const struct famfs_state *st, uint64_t ino)
{
	const struct famfs_pending *p = famfs_state_pending_find(st, ino);

	assert_non_null(p);
	return p->delete_seq;
}

static void test_build_decode_every_entry(void **state)
{
	struct famfs_rec_reclaim e[3] = {
		{ htole64(5), htole64(10) }, { htole64(7), htole64(12) },
		{ htole64(9), htole64(14) },
	};
	struct famfs_rec r = {
		.type = FAMFS_REC_RECLAIM, .ino = 5, .delete_seq = 10,
		.reclaims = e, .n_reclaims = 3,
	}, out;
	uint8_t buf[sizeof(struct famfs_rec_hdr) + 64] = { 0 };
	struct famfs_rec_hdr *h = (void *)buf;
	const char *why = NULL;
	int len;

	(void)state;
	len = famfs_rec_build(&r, h + 1, sizeof(buf) - sizeof(*h));
	assert_int_equal(len, 48);
	h->type = htole16(FAMFS_REC_RECLAIM);
	h->len = htole32(sizeof(*h) + (uint32_t)len);
	assert_int_equal(famfs_rec_decode(h, &out, &why), 0);
	assert_int_equal(out.n_reclaims, 3);
	assert_int_equal(out.ino, 5);
	assert_int_equal(out.delete_seq, 10);
	assert_int_equal(le64toh(out.reclaims[2].ino), 9);
	assert_int_equal(le64toh(out.reclaims[2].delete_seq), 14);
	/* A ragged tail is refused, and so is a record of no entry. */
	h->len = htole32(sizeof(*h) + 40);
	assert_int_equal(famfs_rec_decode(h, &out, &why), -EUCLEAN);
	h->len = htole32(sizeof(*h));
	assert_int_equal(famfs_rec_decode(h, &out, &why), -EUCLEAN);
	/* More entries than a record may hold cannot be built. */
	r.n_reclaims = FAMFS_RECLAIM_MAX + 1;
	assert_int_equal(famfs_rec_build(&r, h + 1, sizeof(buf) - sizeof(*h)),
			 -EINVAL);
}

static void test_batch_frees_all_and_keeps_the_rest(void **state)
{
	struct famfs_state *st = new_state();
	uint64_t free0 = famfs_alloc_free_bytes(st->alloc);
	struct famfs_rec_reclaim e[2];
	struct famfs_rec r = { .type = FAMFS_REC_RECLAIM };

	(void)state;
	for (uint64_t ino = 2; ino <= 5; ino++)
		create_and_delete(st, ino);
	assert_int_equal(st->pending_bytes, 4 * U);
	/* Files 3 and 5 (the head, 2, stays: an agent might hold it). */
	e[0] = (struct famfs_rec_reclaim){ htole64(3), htole64(del_seq(st, 3)) };
	e[1] = (struct famfs_rec_reclaim){ htole64(5), htole64(del_seq(st, 5)) };
	r.ino = 3;
	r.delete_seq = del_seq(st, 3);
	r.reclaims = e;
	r.n_reclaims = 2;
	apply_ok(st, &r);
	assert_int_equal(st->pending_bytes, 2 * U);
	assert_null(famfs_state_pending_find(st, 3));
	assert_null(famfs_state_pending_find(st, 5));
	assert_non_null(famfs_state_pending_find(st, 2));
	assert_non_null(famfs_state_pending_find(st, 4));
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - 2 * U);
	famfs_state_free(st);
}

/* Refused whole: nothing of the record may be applied. */
static void refused(struct famfs_state *st, struct famfs_rec_reclaim *e,
		    uint32_t n)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_RECLAIM, .ino = le64toh(e[0].ino),
		.delete_seq = le64toh(e[0].delete_seq), .reclaims = e,
		.n_reclaims = n, .seq = st->last_seq + 1, .epoch = 1,
	};
	uint64_t pending = st->pending_bytes, last = st->last_seq;
	const char *why = NULL;

	assert_int_equal(famfs_state_check(st, &r, &why), -EUCLEAN);
	assert_int_equal(famfs_state_apply(st, &r, &why), -EUCLEAN);
	assert_non_null(why);
	assert_int_equal(st->pending_bytes, pending);
	assert_int_equal(st->last_seq, last);
}

static void test_bad_entries_refuse_the_whole_record(void **state)
{
	struct famfs_state *st = new_state();
	struct famfs_rec_reclaim e[3];

	(void)state;
	for (uint64_t ino = 2; ino <= 4; ino++)
		create_and_delete(st, ino);
	/* The last entry is not pending. */
	e[0] = (struct famfs_rec_reclaim){ htole64(2), htole64(del_seq(st, 2)) };
	e[1] = (struct famfs_rec_reclaim){ htole64(3), htole64(del_seq(st, 3)) };
	e[2] = (struct famfs_rec_reclaim){ htole64(99), htole64(del_seq(st, 4)) };
	refused(st, e, 3);
	/* Out of delete order. */
	e[0] = (struct famfs_rec_reclaim){ htole64(3), htole64(del_seq(st, 3)) };
	e[1] = (struct famfs_rec_reclaim){ htole64(2), htole64(del_seq(st, 2)) };
	refused(st, e, 2);
	/* The same file twice. */
	e[1] = e[0];
	refused(st, e, 2);
	/* A right inode with another delete's sequence. */
	e[0] = (struct famfs_rec_reclaim){ htole64(2), htole64(del_seq(st, 3)) };
	refused(st, e, 1);
	famfs_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_decode_every_entry),
		cmocka_unit_test(test_batch_frees_all_and_keeps_the_rest),
		cmocka_unit_test(test_bad_entries_refuse_the_whole_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
