// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoints round trip: a state built by replaying a log (directories,
 * files with tenants and several extents, quotas, deletes reclaimed and
 * pending), written with famfs_ckpt_write as the checkpoint of a new
 * generation and replayed from scratch into a fresh state, is the same
 * state in every field the engine keeps: each node's number, parent,
 * name, mode, owner, size, mtime, creating sequence, extents, tenant and
 * place among its siblings; every tenant's quota and usage; the pending
 * list with its delete sequences and extents, in order; the counts; the
 * last sequence, epoch and inode number; every allocation unit. Records
 * appended after base_seq continue that state exactly as they would have
 * continued the old one, through a second compaction too.
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

#include "testpool.h"

#define U	4096ull

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

/* ---- building the log ------------------------------------------------ */

/* A directory with its own mode, owner and mtime. */
static uint64_t mkdir_at(struct tpool *p, uint64_t parent, const char *name,
			 uint32_t mode, uint32_t uid)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_MKDIR, .ino = p->next_ino, .parent = parent,
		.mtime_ns = 7000000 + p->next_ino * 13, .mode = mode, .uid = uid,
		.gid = uid + 100, .name = name, .name_len = (uint32_t)strlen(name),
	};

	assert_int_equal(tpool_append(p, &r, NULL), 0);
	return p->next_ino++;
}

/*
 * A file over the given data units (unit index, count pairs: one extent
 * each, in that order), committed in the writer's allocator too.
 */
static uint64_t create_at(struct tpool *p, uint64_t parent, const char *name,
			  uint64_t size, const char *tenant, int n,
			  const uint64_t *units)
{
	struct famfs_extent host[8], le[8];
	struct famfs_rec r = {
		.type = FAMFS_REC_CREATE, .ino = p->next_ino, .parent = parent,
		.size = size, .mtime_ns = 9000000 + p->next_ino * 7,
		.mode = 0600 | (uint32_t)(p->next_ino % 7) << 3,
		.uid = 1000 + (uint32_t)p->next_ino, .gid = 50,
		.name = name, .name_len = (uint32_t)strlen(name),
		.tenant = tenant, .tenant_len = tenant ? (uint32_t)strlen(tenant) : 0,
		.extents = le, .n_extents = (uint32_t)n,
	};

	assert_true(n <= 8);
	for (int i = 0; i < n; i++) {
		host[i].offset = p->info.data_offset + units[2 * i] * U;
		host[i].len = units[2 * i + 1] * U;
		le[i].offset = htole64(host[i].offset);
		le[i].len = htole64(host[i].len);
	}
	assert_int_equal(famfs_alloc_commit(p->alloc, host, (unsigned int)n), 0);
	assert_int_equal(tpool_append(p, &r, NULL), 0);
	return p->next_ino++;
}

static uint64_t delete_of(struct tpool *p, const struct famfs_state *st,
			  uint64_t ino)
{
	const struct famfs_node *n = famfs_ns_get(st->ns, ino);
	uint64_t seq = 0;

	assert_non_null(n);
	assert_int_equal(tpool_delete(p, ino, n->parent->ino, n->name, &seq), 0);
	return seq;
}

/*
 * The state to round-trip, in several publishes. The writer's own view of
 * names (for the deletes) comes from replaying what it published so far.
 */
static void build(struct tpool *p)
{
	struct famfs_state *st = NULL;
	uint64_t home, proj, deep, tmp, x, y, z, w, e, seq;

	home = mkdir_at(p, FAMFS_ROOT_INO, "home", 0755, 1);
	proj = mkdir_at(p, home, "proj\xc3\xa9", 0700, 2);
	deep = mkdir_at(p, proj, "deep", 0750, 3);
	tmp = mkdir_at(p, FAMFS_ROOT_INO, "tmp", 01777, 0);
	assert_int_equal(tpool_quota(p, "acme", 1000 * U, 50), 0);
	assert_int_equal(tpool_quota(p, "unused", 3, 4), 0);
	tpool_publish(p);
	/* Several extents each, out of address order, some sharing tenants. */
	create_at(p, deep, "big", 5 * U + 17, "acme", 3,
		  (uint64_t[]){ 40, 2, 10, 3, 60, 1 });
	create_at(p, proj, "mid", 2 * U, "beta", 2, (uint64_t[]){ 3, 1, 1, 1 });
	create_at(p, home, "empty", 0, NULL, 0, NULL);
	create_at(p, deep, "one", 1, NULL, 1, (uint64_t[]){ 20, 1 });
	x = create_at(p, tmp, "x", 4 * U, "acme", 2, (uint64_t[]){ 70, 2, 80, 2 });
	y = create_at(p, tmp, "y", 3 * U, "beta", 3,
		      (uint64_t[]){ 90, 1, 92, 1, 94, 1 });
	z = create_at(p, tmp, "z", U, "zeta", 1, (uint64_t[]){ 100, 1 });
	w = create_at(p, tmp, "w", 0, "acme", 0, NULL);
	e = mkdir_at(p, tmp, "gone", 0755, 9);
	assert_int_equal(tpool_quota(p, "beta", 0, 9), 0);
	tpool_publish(p);
	assert_int_equal(tpool_replay(p, p->log, &st), 0);
	/* x reclaimed; y, z and w pending (z's tenant then has nothing). */
	seq = delete_of(p, st, x);
	assert_int_equal(tpool_reclaim(p, x, seq), 0);
	delete_of(p, st, y);
	delete_of(p, st, e);
	delete_of(p, st, z);
	delete_of(p, st, w);
	assert_int_equal(tpool_quota(p, "acme", 900 * U, 40), 0);
	create_at(p, tmp, "after", 2 * U, "acme", 1, (uint64_t[]){ 110, 2 });
	tpool_publish(p);
	famfs_state_free(st);
}

/* ---- comparing two states -------------------------------------------- */

static const char *tenant_name(const struct famfs_state *st, uint32_t id)
{
	const struct famfs_tenant *tn = famfs_tenants_by_id(st->tenants, id);

	return tn ? tn->name : "";
}

static void same_node(const struct famfs_state *a, const struct famfs_state *b,
		      const struct famfs_node *x, const struct famfs_node *y)
{
	assert_int_equal(x->ino, y->ino);
	assert_int_equal(x->parent ? x->parent->ino : 0,
			 y->parent ? y->parent->ino : 0);
	assert_int_equal(x->name_len, y->name_len);
	assert_memory_equal(x->name, y->name, x->name_len + 1u);
	assert_int_equal(x->mode, y->mode);
	assert_int_equal(x->uid, y->uid);
	assert_int_equal(x->gid, y->gid);
	assert_int_equal(x->size, y->size);
	assert_int_equal(x->mtime_ns, y->mtime_ns);
	assert_int_equal(x->seq, y->seq);
	assert_int_equal(x->tenant, y->tenant);
	assert_string_equal(tenant_name(a, x->tenant), tenant_name(b, y->tenant));
	if (famfs_node_is_dir(x)) {
		const struct famfs_node *cx = x->dir.first, *cy = y->dir.first;

		assert_true(famfs_node_is_dir(y));
		assert_int_equal(x->dir.n_children, y->dir.n_children);
		/* The same children in the same order (listings resume by it). */
		for (; cx && cy; cx = cx->next, cy = cy->next) {
			assert_int_equal(cx->ino, cy->ino);
			assert_true(!cx->next || cx->next->ino > cx->ino);
		}
		assert_null(cx);
		assert_null(cy);
		return;
	}
	assert_int_equal(x->n_extents, y->n_extents);
	if (x->n_extents)
		assert_memory_equal(famfs_node_extents(x), famfs_node_extents(y),
				    x->n_extents * sizeof(struct famfs_extent));
}

static void same_tenants(const struct famfs_state *a, const struct famfs_state *b)
{
	uint32_t n = famfs_tenants_count(a->tenants);

	assert_int_equal(n, famfs_tenants_count(b->tenants));
	for (uint32_t id = 1; id <= n; id++) {
		const struct famfs_tenant *x = famfs_tenants_by_id(a->tenants, id);
		const struct famfs_tenant *y = famfs_tenants_by_id(b->tenants, id);

		assert_string_equal(x->name, y->name);
		assert_int_equal(x->max_bytes, y->max_bytes);
		assert_int_equal(x->max_files, y->max_files);
		assert_int_equal(x->used_bytes, y->used_bytes);
		assert_int_equal(x->used_files, y->used_files);
	}
}

static void same_pending(const struct famfs_state *a, const struct famfs_state *b)
{
	const struct famfs_pending *x = a->pending_first, *y = b->pending_first;

	for (; x && y; x = x->next, y = y->next) {
		assert_int_equal(x->ino, y->ino);
		assert_int_equal(x->delete_seq, y->delete_seq);
		assert_int_equal(x->bytes, y->bytes);
		assert_int_equal(x->n_extents, y->n_extents);
		if (x->n_extents)
			assert_memory_equal(x->extents, y->extents,
					    x->n_extents * sizeof(*x->extents));
		assert_true(!x->next || x->next->delete_seq > x->delete_seq);
		assert_ptr_equal(y->next ? y->next->prev : b->pending_last, y);
	}
	assert_null(x);
	assert_null(y);
	assert_int_equal(a->pending_bytes, b->pending_bytes);
}

/* Every allocation unit used in one is used in the other. */
static void same_alloc(const struct famfs_state *a, const struct famfs_state *b)
{
	uint64_t units = (a->info.device_size - a->info.data_offset) / U;

	assert_int_equal(famfs_alloc_free_bytes(a->alloc),
			 famfs_alloc_free_bytes(b->alloc));
	for (uint64_t u = 0; u < units; u++) {
		struct famfs_extent e = { a->info.data_offset + u * U, U };

		assert_int_equal(famfs_alloc_check(a->alloc, &e, 1),
				 famfs_alloc_check(b->alloc, &e, 1));
	}
}

static void same_state(const struct famfs_state *a, const struct famfs_state *b)
{
	uint64_t nodes = 0;

	assert_int_equal(a->last_seq, b->last_seq);
	assert_int_equal(a->last_epoch, b->last_epoch);
	assert_int_equal(a->max_ino, b->max_ino);
	assert_int_equal(a->files, b->files);
	assert_int_equal(a->dirs, b->dirs);
	assert_int_equal(famfs_ns_count(a->ns), famfs_ns_count(b->ns));
	for (uint64_t ino = FAMFS_ROOT_INO; ino <= a->max_ino + 1; ino++) {
		const struct famfs_node *x = famfs_ns_get(a->ns, ino);
		const struct famfs_node *y = famfs_ns_get(b->ns, ino);

		assert_true(!x == !y);
		if (!x)
			continue;
		same_node(a, b, x, y);
		nodes++;
	}
	assert_int_equal(nodes, famfs_ns_count(a->ns));
	same_tenants(a, b);
	same_pending(a, b);
	same_alloc(a, b);
}

/* ---- the tests ------------------------------------------------------- */

/* Applies the records of log after pos up to its tail to st directly. */
static void apply_records(struct famfs_log *log, struct famfs_log_pos pos,
			  struct famfs_state *st)
{
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	struct famfs_rec r;
	const char *why;
	int got;

	assert_int_equal(famfs_log_read_tail(log, &tail, &err), 0);
	while ((got = famfs_log_next(log, &pos, &tail, &h, &err)) == 1) {
		assert_int_equal(famfs_rec_decode(h, &r, &why), 0);
		if (famfs_state_apply(st, &r, &why) < 0)
			fail_msg("record %llu refused: %s",
				 (unsigned long long)r.seq, why);
	}
	assert_int_equal(got, 0);
}

static void test_round_trip(void **state)
{
	struct famfs_state *a = NULL, *b = NULL, *c = NULL;
	struct famfs_log_pos start;
	struct famfs_log *g2 = NULL;
	struct famfs_log_error err;
	struct famfs_log_base base;
	struct tpool p;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 128, none()), 0);
	build(&p);
	assert_int_equal(tpool_replay(&p, p.log, &a), 0);
	/* What the state must hold for the comparison to mean anything. */
	assert_int_equal(a->files, 5);
	assert_int_equal(a->dirs, 4);
	assert_int_equal(famfs_tenants_count(a->tenants), 4);
	assert_non_null(a->pending_first);
	assert_int_equal(a->pending_first->n_extents, 3);	/* y */
	assert_int_equal(a->pending_last->n_extents, 0);	/* w */
	assert_true(a->max_ino > famfs_ns_count(a->ns));	/* deleted numbers */

	assert_int_equal(tpool_compact(&p), 0);
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size, 2,
					none(), &g2, &err), 0);
	base = famfs_log_base(g2);
	assert_int_equal(base.seq, a->last_seq);
	assert_int_equal(base.epoch, a->last_epoch);
	assert_int_equal(base.max_ino, a->max_ino);
	/* 4 tenants, 4 dirs + 5 files, 3 pending. */
	assert_int_equal(base.ckpt_items, 4 + 9 + 3);
	assert_int_equal(tpool_replay(&p, g2, &b), 0);
	same_state(a, b);

	/*
	 * Records after base_seq continue it: a reclaim of a pending file
	 * deleted in the old generation, a new file in its space, a delete
	 * of a checkpointed file, quotas, a directory.
	 */
	static const char big[] = "/home/proj\xc3\xa9/deep/big";
	const struct famfs_pending *y = b->pending_first;
	struct famfs_node *n;
	const char *why;
	uint64_t tmp, big_ino, big_seq;

	assert_int_equal(famfs_ns_resolve(b->ns, "/tmp", 4, &n, &why), 0);
	tmp = n->ino;
	assert_int_equal(tpool_reclaim(&p, y->ino, y->delete_seq), 0);
	/* The writer reuses y's units (the test writer keeps them otherwise). */
	assert_int_equal(famfs_alloc_release(p.alloc, y->extents, y->n_extents), 0);
	create_at(&p, tmp, "reuse", 2 * U, "beta", 2, (uint64_t[]){ 90, 1, 94, 1 });
	assert_int_equal(famfs_ns_resolve(b->ns, big, sizeof(big) - 1, &n, &why), 0);
	big_ino = n->ino;
	assert_int_equal(tpool_delete(&p, big_ino, n->parent->ino, "big", &big_seq),
			 0);
	tpool_publish(&p);
	mkdir_at(&p, FAMFS_ROOT_INO, "later", 0711, 4);
	assert_int_equal(tpool_quota(&p, "newt", 5, 5), 0);
	tpool_publish(&p);
	start = famfs_log_start(g2);
	apply_records(g2, start, a);		/* the old state, continued */
	famfs_state_free(b);
	b = NULL;
	assert_int_equal(tpool_replay(&p, g2, &b), 0);	/* the new, from scratch */
	same_state(a, b);
	assert_int_equal(b->last_seq, base.seq + 5);
	assert_int_equal(famfs_state_pending_find(b, big_ino)->delete_seq, big_seq);
	assert_null(famfs_ns_get(b->ns, big_ino));

	/* A second compaction: generation 3 over generation 1's areas. */
	assert_int_equal(tpool_compact(&p), 0);
	assert_int_equal(p.info.log_generation, 3);
	famfs_log_free(g2);
	g2 = NULL;
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size, 3,
					none(), &g2, &err), 0);
	assert_int_equal(tpool_replay(&p, g2, &c), 0);
	same_state(a, c);
	famfs_state_free(c);
	famfs_log_free(g2);
	famfs_state_free(b);
	famfs_state_free(a);
	tpool_fini(&p);
}

/*
 * After a checkpoint, the inode numbers of files deleted before it stay
 * used: a record reusing one is refused, the next number is taken; and the
 * space of a pending file stays taken until its reclaim.
 */
static void test_checkpoint_keeps_the_rules(void **state)
{
	struct famfs_replay_error rerr;
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_log_error err;
	struct famfs_state *st = NULL;
	struct famfs_log *g = NULL;
	struct famfs_log_pos before;
	uint64_t max_ino;
	struct tpool p;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 128, none()), 0);
	build(&p);
	/* The highest number ever used becomes a deleted file's. */
	assert_int_equal(tpool_replay(&p, p.log, &st), 0);
	max_ino = p.next_ino - 1;
	assert_non_null(famfs_ns_get(st->ns, max_ino));
	delete_of(&p, st, max_ino);
	tpool_publish(&p);
	famfs_state_free(st);
	st = NULL;
	assert_int_equal(tpool_compact(&p), 0);
	before = famfs_log_published(p.log);
	assert_int_equal(famfs_log_base(p.log).max_ino, max_ino);
	p.next_ino = max_ino;
	mkdir_at(&p, FAMFS_ROOT_INO, "reused", 0755, 1);
	tpool_publish(&p);
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size, 2,
					none(), &g, &err), 0);
	assert_int_equal(famfs_log_read_tail(g, &tail, &err), 0);
	assert_int_equal(famfs_state_new(&p.info, &st), 0);
	assert_int_equal(famfs_replay(g, &pos, &tail, st, NULL, NULL, &rerr),
			 -EUCLEAN);
	assert_false(rerr.checkpoint);
	assert_int_equal(rerr.seq, before.seq + 1);
	assert_string_equal(rerr.reason, "inode number reused or out of order");
	famfs_state_free(st);
	famfs_log_free(g);
	tpool_fini(&p);

	/* A pending file's units (y: 90, 92, 94) are not free after it. */
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 128, none()), 0);
	build(&p);
	assert_int_equal(tpool_compact(&p), 0);
	struct famfs_rec r = {
		.type = FAMFS_REC_CREATE, .ino = p.next_ino, .parent = 1,
		.size = U, .name = "steal", .name_len = 5, .n_extents = 1,
		.extents = &(struct famfs_extent){
			htole64(p.info.data_offset + 92 * U), htole64(U) },
	};

	assert_int_equal(tpool_append(&p, &r, NULL), 0);
	tpool_publish(&p);
	g = NULL;
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size, 2,
					none(), &g, &err), 0);
	assert_int_equal(tpool_replay(&p, g, &st), -EUCLEAN);
	famfs_log_free(g);
	tpool_fini(&p);
}

/* A state too large for one generation is -ENOSPC, and nothing is sealed. */
static void test_checkpoint_that_does_not_fit(void **state)
{
	struct famfs_log_error err;
	struct famfs_state *st = NULL;
	struct famfs_log *g = NULL, *r = NULL;
	char name[32];
	struct tpool p;
	uint64_t d;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 16, none()), 0);
	d = mkdir_at(&p, FAMFS_ROOT_INO, "d", 0755, 1);
	/* Long names: each node a few hundred bytes, ~1000 fill an area. */
	for (int i = 0; ; i++) {
		char longname[201];

		snprintf(name, sizeof(name), "%04d", i);
		memset(longname, 'n', 200);
		memcpy(longname, name, 4);
		longname[200] = '\0';
		if (famfs_log_appended(p.log).end + 400 > famfs_log_capacity(p.log))
			break;
		mkdir_at(&p, d, longname, 0755, 1);
		if (i % 50 == 0)
			tpool_publish(&p);
	}
	tpool_publish(&p);
	assert_int_equal(tpool_replay(&p, p.log, &st), 0);
	/* The same state plus quotas is bigger than the area: it cannot fit. */
	for (int i = 0; i < 200; i++) {
		struct famfs_rec q = {
			.type = FAMFS_REC_SET_QUOTA, .tenant = name,
			.max_bytes = 1, .max_files = 1, .seq = st->last_seq + 1,
			.epoch = st->last_epoch,
		};
		const char *why;

		q.tenant_len = (uint32_t)snprintf(name, sizeof(name),
						  "tenant-with-a-long-name-%03d", i);
		assert_int_equal(famfs_state_apply(st, &q, &why), 0);
	}
	assert_int_equal(famfs_log_create(tpool_log_base(&p), p.info.log_size, 2,
					  none(), &g), 0);
	assert_int_equal(famfs_ckpt_write(st, g), -ENOSPC);
	famfs_log_free(g);
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size, 2,
					none(), &r, &err), -EUCLEAN);
	famfs_state_free(st);
	tpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_checkpoint_keeps_the_rules),
		cmocka_unit_test(test_checkpoint_that_does_not_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
