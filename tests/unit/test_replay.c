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
#include <stdbool.h>
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
	bool items[64];			/* a checkpoint item */
	int n;
	int fail_at_seq;		/* return -EIO after this record */
};

static int hook(void *ctx, const struct famfs_rec *r, struct famfs_state *st)
{
	struct seen *s = ctx;

	assert_true(s->n < 64);
	/* The state already holds the record (an item changes no sequence). */
	if (!r->checkpoint)
		assert_int_equal(st->last_seq, r->seq);
	if (r->type == FAMFS_REC_DELETE)
		assert_null(famfs_ns_get(st->ns, r->ino));
	else if (r->type == FAMFS_REC_MKDIR || r->type == FAMFS_REC_CREATE)
		assert_non_null(famfs_ns_get(st->ns, r->ino));
	s->seqs[s->n] = r->seq;
	s->types[s->n] = r->type;
	s->items[s->n] = r->checkpoint;
	s->n++;
	return s->fail_at_seq && !r->checkpoint &&
	       (int)r->seq == s->fail_at_seq ? -EIO : 0;
}

/* The follower stands right after the checkpoint. */
static void assert_pos_equal_start(const struct follower *f)
{
	struct famfs_log_pos start = famfs_log_start(f->log);

	assert_int_equal(f->pos.seq, start.seq);
	assert_int_equal(f->pos.end, start.end);
	assert_int_equal(f->pos.epoch, start.epoch);
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

	/* A CRC flip in both copies: bad_record, at the record holding it. */
	follower_init(&f, &p);
	tpool_flip(&p, before.end + 36, 0x20, TPOOL_BOTH);
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.bad_record, 1);
	assert_int_equal(err.seq, 2);
	assert_int_equal(err.offset, before.end);
	assert_string_equal(err.reason, "record CRC mismatch");
	assert_int_equal(f.st->last_seq, 1);
	follower_fini(&f);
	/* In copy 0 only: replay reads copy 1 and stops at the rule as before. */
	follower_init(&f, &p);
	tpool_flip(&p, before.end + 36, 0x20, TPOOL_COPY1);
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_string_equal(err.reason, "create record too short");
	assert_int_equal(err.seq, 2);
	follower_fini(&f);
	tpool_fini(&p);
}

/*
 * From scratch on a compacted generation: the checkpoint's items first
 * (quotas, nodes parents first, pending files), each passed to the hook
 * marked as an item, then the records after base_seq; then only new
 * records, in steps, ending in the tree of the generation before.
 */
static void test_replay_from_checkpoint(void **state)
{
	static char before[16384], after[16384];
	struct famfs_replay_error err;
	struct famfs_log_base base;
	struct tpool_expect ex;
	struct follower f, old;
	struct seen s = { .n = 0 };
	struct tpool p;
	uint64_t d = 0;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	assert_int_equal(tpool_populate(&p, &ex), 0);
	follower_init(&old, &p);
	assert_int_equal(step(&old, NULL, &err), (long)ex.records);
	assert_int_equal(tpool_compact(&p), 0);
	follower_init(&f, &p);
	base = famfs_log_base(f.log);
	assert_int_equal(base.seq, ex.records);
	assert_int_equal(base.ckpt_items, 9);
	/* The checkpoint alone: 9 items, no record. */
	assert_int_equal(step(&f, &s, &err), 9);
	assert_int_equal(s.n, 9);
	for (int i = 0; i < 9; i++)
		assert_true(s.items[i]);
	assert_int_equal(s.types[0], FAMFS_REC_SET_QUOTA);
	assert_int_equal(s.types[1], FAMFS_REC_SET_QUOTA);
	for (int i = 2; i < 8; i++)
		assert_true(s.types[i] == FAMFS_REC_MKDIR ||
			    s.types[i] == FAMFS_REC_CREATE);
	assert_int_equal(s.types[8], FAMFS_REC_PENDING);
	assert_int_equal(s.seqs[8], 14);		/* the delete of y */
	assert_int_equal(f.st->last_seq, ex.records);
	assert_pos_equal_start(&f);
	tree_paths(old.st, before, sizeof(before));
	tree_paths(f.st, after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(f.st->pending_bytes, ex.pending_bytes);
	assert_int_equal(famfs_alloc_free_bytes(f.st->alloc),
			 famfs_alloc_free_bytes(old.st->alloc));

	/* Records after the checkpoint: only they are applied, in steps. */
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "new", &d), 0);
	assert_int_equal(tpool_create(&p, d, "n", 2 * U, "acme", NULL), 0);
	tpool_publish(&p);
	assert_int_equal(step(&f, &s, &err), 2);
	assert_int_equal(s.n, 11);
	assert_false(s.items[9]);
	assert_int_equal(s.seqs[9], ex.records + 1);
	assert_int_equal(s.seqs[10], ex.records + 2);
	assert_int_equal(tpool_reclaim(&p, 10, 14), 0);	/* y's space back */
	tpool_publish(&p);
	assert_int_equal(step(&f, &s, &err), 1);
	assert_int_equal(f.st->pending_bytes, 0);
	assert_null(f.st->pending_first);
	assert_int_equal(f.pos.seq, ex.records + 3);
	assert_int_equal(f.pos.end, famfs_log_published(p.log).end);
	/* A fresh follower reaches the same state in one go. */
	follower_fini(&old);
	follower_init(&old, &p);
	assert_int_equal(step(&old, NULL, &err), 9 + 3);
	tree_paths(old.st, before, sizeof(before));
	tree_paths(f.st, after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(famfs_alloc_free_bytes(f.st->alloc),
			 famfs_alloc_free_bytes(old.st->alloc));
	follower_fini(&old);
	follower_fini(&f);
	tpool_fini(&p);
}

/*
 * A bad checkpoint: an item lost in both copies, or one that breaks a
 * rule, stops the replay at that item (checkpoint set, its index and
 * offset), with *pos left at zero; in one copy only, the other is used.
 */
static void test_bad_checkpoint_item(void **state)
{
	struct famfs_replay_error err;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error lerr;
	struct famfs_log_pos at = { 0 };
	uint64_t off[3];
	struct follower f;
	struct tpool p;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	assert_int_equal(tpool_populate(&p, NULL), 0);
	assert_int_equal(tpool_compact(&p), 0);
	follower_init(&f, &p);
	for (int k = 0; k < 3; k++) {
		off[k] = at.end;
		assert_int_equal(famfs_log_ckpt_next(f.log, &at, &h, &lerr), 1);
	}
	follower_fini(&f);

	tpool_flip(&p, off[2] + 40, 0x01, TPOOL_BOTH);	/* item 3 */
	follower_init(&f, &p);
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.bad_record, 1);
	assert_true(err.checkpoint);
	assert_int_equal(err.seq, 3);
	assert_int_equal(err.offset, off[2]);
	assert_string_equal(err.reason, "record CRC mismatch");
	assert_int_equal(f.pos.seq, 0);
	assert_int_equal(f.pos.end, 0);
	follower_fini(&f);

	tpool_flip(&p, off[2] + 40, 0x01, TPOOL_COPY1);	/* copy 0 only */
	follower_init(&f, &p);
	assert_int_equal(step(&f, NULL, &err), 9);
	follower_fini(&f);
	tpool_flip(&p, off[2] + 40, 0x01, TPOOL_COPY0);
	tpool_fini(&p);

	/* An item that frames but breaks a rule: a node above max_ino. */
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	struct famfs_log *g;
	uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	struct famfs_rec m = {
		.type = FAMFS_REC_MKDIR, .ino = 5, .parent = FAMFS_ROOT_INO,
		.mode = 0755, .name = "d", .name_len = 1,
	};
	int n = famfs_rec_build(&m, buf, sizeof(buf));

	assert_true(n > 0);
	assert_int_equal(famfs_log_create(tpool_log_base(&p), p.info.log_size, 2,
					  none(), &g), 0);
	assert_int_equal(famfs_log_ckpt_add(g, FAMFS_REC_MKDIR, 1, 1, buf,
					    (uint32_t)n), 0);
	m.ino = 9;
	m.name = "e";
	n = famfs_rec_build(&m, buf, sizeof(buf));
	assert_int_equal(famfs_log_ckpt_add(g, FAMFS_REC_MKDIR, 2, 1, buf,
					    (uint32_t)n), 0);
	famfs_log_ckpt_seal(g, &(struct famfs_log_base){
		.seq = 2, .epoch = 1, .max_ino = 8,
	});
	off[1] = famfs_rec_size((uint32_t)n);
	famfs_log_free(g);
	p.info.log_generation = 2;
	follower_init(&f, &p);
	assert_int_equal(step(&f, NULL, &err), -EUCLEAN);
	assert_int_equal(err.bad_record, 0);
	assert_true(err.checkpoint);
	assert_int_equal(err.seq, 2);
	assert_int_equal(err.offset, off[1]);
	assert_string_equal(err.reason, "inode number above the checkpoint's highest");
	assert_int_equal(f.pos.end, 0);
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
		cmocka_unit_test(test_replay_from_checkpoint),
		cmocka_unit_test(test_bad_checkpoint_item),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
