// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Replay: one-shot and incremental (O(new records), position kept by the
 * caller), the hook, where it stops on a bad record or a broken rule, and
 * convergence: replaying in any number of steps gives the same tree.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "replay.h"
#include "testpool.h"

#define U	4096ull

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

struct follower {
	struct famfs_log *log;
	struct famfs_state *st;
	struct famfs_log_pos pos;
};

static void follower_init(struct follower *f, struct tpool *p)
{
	struct famfs_log_error err;

	memset(f, 0, sizeof(*f));
	assert_int_equal(famfs_log_open(tpool_log_base(p), p->info.log_size,
					p->info.log_generation, none(), &f->log,
					&err), 0);
	assert_int_equal(famfs_state_new(&p->info, &f->st), 0);
}

static void follower_fini(struct follower *f)
{
	famfs_state_free(f->st);
	famfs_log_free(f->log);
}

/* What the hook saw. */
struct seen {
	uint64_t seqs[64];
	uint16_t types[64];
	int n;
	int fail_at_seq;		/* return -EIO after this record */
};

static int hook(void *ctx, const struct famfs_rec *r, struct famfs_state *st)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	/* The state already holds the record. */
	assert_int_equal(st->last_seq, r->seq);
	if (r->type == FAMFS_REC_DELETE)
		assert_null(famfs_ns_get(st->ns, r->ino));
	else if (r->type == FAMFS_REC_MKDIR || r->type == FAMFS_REC_CREATE)
		assert_non_null(famfs_ns_get(st->ns, r->ino));
	s->seqs[s->n] = r->seq;
	s->types[s->n] = r->type;
	s->n++;
	return (int)r->seq == s->fail_at_seq ? -EIO : 0;
}

static long step(struct follower *f, struct seen *s,
		 struct famfs_replay_error *err)
{
	struct famfs_log_pos tail;
	struct famfs_log_error lerr;

	assert_int_equal(famfs_log_read_tail(f->log, &tail, &lerr), 0);
	return famfs_replay(f->log, &f->pos, &tail, f->st, s ? hook : NULL, s,
			    err);
}

/* Every path in the tree, sorted into one string: the tree's identity. */
static void tree_paths(const struct famfs_state *st, char *out, size_t size)
{
	char path[FAMFS_PATH_MAX + 1];
	size_t at = 0;

	out[0] = '\0';
	for (uint64_t ino = 1; ino <= st->max_ino; ino++) {
		const struct famfs_node *n = famfs_ns_get(st->ns, ino);

		if (!n)
			continue;
		assert_int_equal(famfs_ns_path(n, path, sizeof(path)), 0);
		at += (size_t)snprintf(out + at, size - at, "%s:%" PRIu64 ":%" PRIu64
				       ";", path, n->size, (uint64_t)n->n_extents);
		assert_true(at < size);
	}
}

static void test_full_replay(void **state)
{
	struct famfs_replay_error err;
	struct tpool_expect ex;
	struct follower f;
	struct seen s = { .n = 0 };
	struct tpool p;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	follower_init(&f, &p);
	assert_int_equal(step(&f, &s, &err), 0);	/* empty log */
	assert_int_equal(tpool_populate(&p, &ex), 0);
	assert_int_equal(step(&f, &s, &err), (long)ex.records);
	assert_int_equal(s.n, (int)ex.records);
	for (int i = 0; i < s.n; i++)
		assert_int_equal(s.seqs[i], (uint64_t)i + 1);
	assert_int_equal(s.types[0], FAMFS_REC_MKDIR);
	assert_int_equal(s.types[2], FAMFS_REC_SET_QUOTA);
	assert_int_equal(s.types[12], FAMFS_REC_RECLAIM);
	assert_int_equal(f.st->files, ex.files);
	assert_int_equal(f.st->dirs, ex.dirs);
	assert_int_equal(f.st->pending_bytes, ex.pending_bytes);
	assert_int_equal(famfs_tenants_count(f.st->tenants), ex.tenants);
	assert_int_equal(f.pos.seq, ex.records);
	assert_int_equal(f.pos.end, famfs_log_published(p.log).end);
	/* Nothing new: nothing applied, the hook is not called. */
	assert_int_equal(step(&f, &s, &err), 0);
	assert_int_equal(s.n, (int)ex.records);

	/* Names resolve as the writer made them. */
	struct famfs_node *n;
	const char *why;

	assert_int_equal(famfs_ns_resolve(f.st->ns, "/jobs/1234/a", 12, &n, &why), 0);
	assert_int_equal(n->size, 3 * U);
	assert_int_equal(famfs_tenants_by_id(f.st->tenants, n->tenant)->used_files, 2);
	assert_int_equal(famfs_ns_resolve(f.st->ns, "/scratch/x", 10, &n, &why),
			 -ENOENT);
	follower_fini(&f);
	tpool_fini(&p);
}

/*
 * Following the writer batch by batch applies only the new records each
 * time and ends in the same tree as a one-shot replay.
 */
static void test_incremental_converges(void **state)
{
	static char one_shot[16384], stepwise[16384];
	struct famfs_replay_error err;
	struct follower f, g;
	struct seen s = { .n = 0 };
	struct tpool p;
	uint64_t dir = 0, total = 0;
	char name[16];

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 256, none()), 0);
	follower_init(&f, &p);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "d", &dir), 0);
	tpool_publish(&p);
	for (int batch = 0; batch < 8; batch++) {
		uint64_t before = f.pos.end;
		int n = batch + 1;

		for (int i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "f%d.%d", batch, i);
			assert_int_equal(tpool_create(&p, dir, name, U * (1 + i % 3),
						      NULL, NULL), 0);
		}
		tpool_publish(&p);
		long got = step(&f, &s, &err);

		assert_int_equal(got, batch == 0 ? n + 1 : n);
		total += (uint64_t)got;
		assert_true(f.pos.end > before);
		assert_int_equal(f.pos.seq, total);
	}
	assert_int_equal(s.n, (int)total);
	/* A fresh follower replaying everything at once. */
	follower_init(&g, &p);
	assert_int_equal(step(&g, NULL, &err), (long)total);
	tree_paths(f.st, stepwise, sizeof(stepwise));
	tree_paths(g.st, one_shot, sizeof(one_shot));
	assert_string_equal(stepwise, one_shot);
	assert_int_equal(famfs_alloc_free_bytes(f.st->alloc),
			 famfs_alloc_free_bytes(g.st->alloc));
	assert_int_equal(f.st->files, 36);
	follower_fini(&g);
	follower_fini(&f);
	tpool_fini(&p);
}

static void test_hook_error_stops(void **state)
{
	struct famfs_replay_error err;
	struct follower f;
	struct seen s = { .n = 0, .fail_at_seq = 5 };
	struct tpool p;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	assert_int_equal(tpool_populate(&p, NULL), 0);
	follower_init(&f, &p);
	assert_int_equal(step(&f, &s, &err), -EIO);
	assert_int_equal(s.n, 5);
	/* Record 5 was applied before the hook refused it. */
	assert_int_equal(f.st->last_seq, 5);
	assert_int_equal(f.pos.seq, 5);
	/* Resuming goes on from there, without applying 5 twice. */
	s.fail_at_seq = 0;
	assert_int_equal(step(&f, &s, &err), 10);
	assert_int_equal(s.seqs[5], 6);
	follower_fini(&f);
	tpool_fini(&p);
}

/* A broken rule stops replay just before the record, named exactly. */
static void test_stops_before_bad_record(void **state)
{
	struct famfs_replay_error err;
	struct famfs_log_pos before;
	struct follower f;
	struct tpool p;
	uint64_t d = 0;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	follower_init(&f, &p);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "a", &d), 0);
	assert_int_equal(tpool_mkdir(&p, d, "b", NULL), 0);
	tpool_publish(&p);
	before = famfs_log_published(p.log);
	assert_int_equal(tpool_mkdir(&p, d, "b", NULL), 0);	/* duplicate */
	assert_int_equal(tpool_mkdir(&p, d, "c", NULL), 0);
	tpool_publish(&p);
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.bad_record, 0);
	assert_int_equal(err.seq, 3);
	assert_int_equal(err.offset, before.end);
	assert_string_equal(err.reason, "name already exists in the directory");
	assert_int_equal(f.pos.seq, 2);
	assert_int_equal(f.pos.end, before.end);
	assert_int_equal(f.st->last_seq, 2);
	assert_int_equal(f.st->dirs, 2);
	/* It stays stopped there: asking again names the same record. */
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.seq, 3);
	follower_fini(&f);
	tpool_fini(&p);

	/* A record that does not decode: bad_record, same position rules. */
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	follower_init(&f, &p);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "a", NULL), 0);
	before = famfs_log_appended(p.log);
	assert_int_equal(famfs_log_append(p.log, FAMFS_REC_CREATE, 1, "short", 5,
					  NULL), 0);
	tpool_publish(&p);
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.bad_record, 1);
	assert_int_equal(err.seq, 2);
	assert_int_equal(err.offset, before.end);
	assert_string_equal(err.reason, "create record too short");
	assert_int_equal(f.pos.seq, 1);
	follower_fini(&f);

	/* A CRC flip: bad_record, at the record holding it. */
	follower_init(&f, &p);
	tpool_recs(&p)[before.end + 36] ^= 0x20;
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.bad_record, 1);
	assert_int_equal(err.seq, 2);
	assert_string_equal(err.reason, "record CRC mismatch");
	assert_int_equal(f.st->last_seq, 1);
	follower_fini(&f);
	tpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_replay),
		cmocka_unit_test(test_incremental_converges),
		cmocka_unit_test(test_hook_error_stops),
		cmocka_unit_test(test_stops_before_bad_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
