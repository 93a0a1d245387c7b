// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The replay engine's rules, one by one: sequence, epoch, inode order,
 * names, parents, duplicates, extents (overlap, alignment, data area,
 * size), delete of non-empty directories, reclaim of non-pending inodes,
 * quota usage. Every refused record must leave the state exactly as it was.
 * Every record here goes through famfs_state_check() first, which must
 * give apply's verdict and reason and change nothing; a random walk over
 * generated records compares the two at length.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "state.h"

#define U	4096ull
#define UNITS	64ull

static struct famfs_pool_info info;

/* A state over a pool with 64 data units of 4 KiB. */
static struct famfs_state *new_state(void)
{
	struct famfs_state *st = NULL;

	assert_int_equal(famfs_sb_plan(1ull << 40, U, 1ull << 20, &info, NULL), 0);
	assert_int_equal(famfs_sb_plan(info.data_offset + UNITS * U, U, 1ull << 20,
				       &info, NULL), 0);
	assert_int_equal(famfs_state_new(&info, &st), 0);
	assert_int_equal(st->last_seq, 0);
	assert_int_equal(st->max_ino, FAMFS_ROOT_INO);
	return st;
}

/* Byte offset of data unit i. */
static uint64_t du(uint64_t i)
{
	return info.data_offset + i * U;
}

/* Everything a refused record must leave untouched. */
struct snap {
	uint64_t last_seq, last_epoch, max_ino, files, dirs, pending_bytes;
	uint64_t free_bytes, nodes, tenants, used_bytes[4], used_files[4];
};

static struct snap snap(const struct famfs_state *st)
{
	struct snap s = {
		.last_seq = st->last_seq, .last_epoch = st->last_epoch,
		.max_ino = st->max_ino, .files = st->files, .dirs = st->dirs,
		.pending_bytes = st->pending_bytes,
		.free_bytes = famfs_alloc_free_bytes(st->alloc),
		.nodes = famfs_ns_count(st->ns),
		.tenants = famfs_tenants_count(st->tenants),
	};

	for (uint32_t id = 1; id <= 4; id++) {
		struct famfs_tenant *tn = famfs_tenants_by_id(st->tenants, id);

		if (tn) {
			s.used_bytes[id - 1] = tn->used_bytes;
			s.used_files[id - 1] = tn->used_files;
		}
	}
	return s;
}

/*
 * famfs_state_check() then famfs_state_apply() of r: the check changes
 * nothing and gives the same verdict and reason as the apply.
 */
static int check_then_apply(struct famfs_state *st, const struct famfs_rec *r,
			    const char **why)
{
	struct snap before = snap(st), after;
	const char *check_why = NULL;
	int check_err = famfs_state_check(st, r, &check_why), err;

	after = snap(st);
	assert_memory_equal(&before, &after, sizeof(before));
	err = famfs_state_apply(st, r, why);
	assert_int_equal(check_err, err);
	if (err == 0)
		assert_null(check_why);
	else if (!check_why || !*why || strcmp(check_why, *why) != 0)
		fail_msg("check says '%s', apply says '%s'",
			 check_why ? check_why : "(none)", *why ? *why : "(none)");
	return err;
}

/* Stamps the next sequence (unless set) and epoch 1 (unless set). */
static int apply(struct famfs_state *st, struct famfs_rec *r, const char **why)
{
	if (!r->seq)
		r->seq = st->last_seq + 1;
	if (!r->epoch)
		r->epoch = st->last_epoch ? st->last_epoch : 1;
	return check_then_apply(st, r, why);
}

static void ok(struct famfs_state *st, struct famfs_rec r)
{
	const char *why = NULL;
	int err = apply(st, &r, &why);

	if (err)
		fail_msg("record refused (%d): %s", err, why ? why : "?");
	assert_null(why);
}

static void refused(struct famfs_state *st, struct famfs_rec r,
		    const char *want)
{
	struct snap before = snap(st), after;
	const char *why = NULL;

	assert_int_equal(apply(st, &r, &why), -EUCLEAN);
	assert_non_null(why);
	if (!strstr(why, want))
		fail_msg("reason '%s' does not mention '%s'", why, want);
	after = snap(st);
	assert_memory_equal(&before, &after, sizeof(before));
}

static struct famfs_rec mkdir_rec(uint64_t ino, uint64_t parent,
				  const char *name)
{
	return (struct famfs_rec){
		.type = FAMFS_REC_MKDIR, .ino = ino, .parent = parent,
		.mode = 0755, .name = name, .name_len = (uint32_t)strlen(name),
	};
}

/* Little-endian extents as a record carries them. */
static struct famfs_extent ext_buf[8][4];
static int ext_next;

static const struct famfs_extent *exts(int n, const uint64_t *off_len)
{
	struct famfs_extent *e = ext_buf[ext_next++ % 8];

	for (int i = 0; i < n; i++) {
		e[i].offset = htole64(off_len[2 * i]);
		e[i].len = htole64(off_len[2 * i + 1]);
	}
	return e;
}

static struct famfs_rec create_rec(uint64_t ino, uint64_t parent,
				   const char *name, uint64_t size,
				   const char *tenant, int n,
				   const uint64_t *off_len)
{
	return (struct famfs_rec){
		.type = FAMFS_REC_CREATE, .ino = ino, .parent = parent,
		.size = size, .mode = 0644, .name = name,
		.name_len = (uint32_t)strlen(name), .tenant = tenant,
		.tenant_len = tenant ? (uint32_t)strlen(tenant) : 0,
		.extents = n ? exts(n, off_len) : NULL, .n_extents = (uint32_t)n,
	};
}

static struct famfs_rec delete_rec(uint64_t ino, uint64_t parent,
				   const char *name)
{
	return (struct famfs_rec){
		.type = FAMFS_REC_DELETE, .ino = ino, .parent = parent,
		.name = name, .name_len = (uint32_t)strlen(name),
	};
}

static struct famfs_rec reclaim_rec(uint64_t ino, uint64_t delete_seq)
{
	return (struct famfs_rec){
		.type = FAMFS_REC_RECLAIM, .ino = ino, .delete_seq = delete_seq,
	};
}

static struct famfs_rec quota_rec(const char *tenant, uint64_t bytes,
				  uint64_t files)
{
	return (struct famfs_rec){
		.type = FAMFS_REC_SET_QUOTA, .tenant = tenant,
		.tenant_len = (uint32_t)strlen(tenant), .max_bytes = bytes,
		.max_files = files,
	};
}

/* ---- ordering ----------------------------------------------------------- */

static void test_sequence_gap(void **state)
{
	struct famfs_state *st = new_state();
	struct famfs_rec r;

	(void)state;
	r = mkdir_rec(2, 1, "a");
	r.seq = 2;
	refused(st, r, "sequence gap");
	r.seq = 0xffffffffffffffffull;
	refused(st, r, "sequence gap");
	ok(st, mkdir_rec(2, 1, "a"));
	assert_int_equal(st->last_seq, 1);
	r = mkdir_rec(3, 1, "b");
	r.seq = 1;				/* replayed twice */
	refused(st, r, "sequence gap");
	r.seq = 3;
	refused(st, r, "sequence gap");
	r.seq = 2;
	ok(st, r);
	famfs_state_free(st);
}

static void test_epoch_never_goes_back(void **state)
{
	struct famfs_state *st = new_state();
	struct famfs_rec r;

	(void)state;
	r = mkdir_rec(2, 1, "a");
	r.epoch = 0;
	r.seq = 1;
	/* apply() would stamp epoch 1 over 0: call the engine directly. */
	const char *why = NULL;

	assert_int_equal(check_then_apply(st, &r, &why), -EUCLEAN);
	assert_non_null(strstr(why, "epoch"));
	r.epoch = 3;
	ok(st, r);
	assert_int_equal(st->last_epoch, 3);
	r = mkdir_rec(3, 1, "b");
	r.epoch = 2;
	refused(st, r, "epoch");
	r.epoch = 3;				/* same master: fine */
	ok(st, r);
	r = mkdir_rec(4, 1, "c");
	r.epoch = 9;				/* a new master: fine */
	ok(st, r);
	assert_int_equal(st->last_epoch, 9);
	famfs_state_free(st);
}

static void test_inode_numbers_strictly_increase(void **state)
{
	struct famfs_state *st = new_state();

	(void)state;
	refused(st, mkdir_rec(1, 1, "root-again"), "inode");
	refused(st, mkdir_rec(0, 1, "zero"), "inode");
	ok(st, mkdir_rec(10, 1, "a"));
	assert_int_equal(st->max_ino, 10);
	refused(st, mkdir_rec(10, 1, "b"), "inode");
	refused(st, mkdir_rec(9, 1, "b"), "inode");
	refused(st, create_rec(5, 1, "f", 0, NULL, 0, NULL), "inode");
	/* Deleted numbers are never reused either. */
	ok(st, mkdir_rec(11, 1, "b"));
	ok(st, delete_rec(11, 1, "b"));
	refused(st, mkdir_rec(11, 1, "b"), "inode");
	ok(st, mkdir_rec(12, 1, "b"));
	famfs_state_free(st);
}

static void test_unknown_type(void **state)
{
	struct famfs_state *st = new_state();
	struct famfs_rec r = mkdir_rec(2, 1, "a");

	(void)state;
	r.type = FAMFS_REC_TYPE_MAX;
	refused(st, r, "unknown record type");
	r.type = 0;
	refused(st, r, "unknown record type");
	famfs_state_free(st);
}

/* ---- names and parents ------------------------------------------------- */

static void test_names_and_parents(void **state)
{
	struct famfs_state *st = new_state();
	char longname[FAMFS_NAME_MAX + 1];
	struct famfs_rec r;

	(void)state;
	ok(st, mkdir_rec(2, 1, "dir"));
	ok(st, create_rec(3, 2, "file", 0, NULL, 0, NULL));
	refused(st, mkdir_rec(4, 99, "x"), "parent directory does not exist");
	refused(st, create_rec(4, 99, "x", 0, NULL, 0, NULL),
		"parent directory does not exist");
	refused(st, mkdir_rec(4, 3, "x"), "parent is not a directory");
	refused(st, create_rec(4, 3, "x", 0, NULL, 0, NULL),
		"parent is not a directory");
	refused(st, mkdir_rec(4, 2, "file"), "name already exists");
	refused(st, create_rec(4, 1, "dir", 0, NULL, 0, NULL),
		"name already exists");
	refused(st, mkdir_rec(4, 2, ""), "empty");
	refused(st, mkdir_rec(4, 2, "."), "'.'");
	refused(st, mkdir_rec(4, 2, ".."), "'..'");
	refused(st, mkdir_rec(4, 2, "a/b"), "'/'");
	refused(st, mkdir_rec(4, 2, "bad\xc0\xaf"), "UTF-8");
	r = mkdir_rec(4, 2, "a");
	r.name = "a\0b";
	r.name_len = 3;
	refused(st, r, "NUL");
	memset(longname, 'l', sizeof(longname));
	r.name = longname;
	r.name_len = FAMFS_NAME_MAX + 1;
	refused(st, r, "255");
	r.name_len = FAMFS_NAME_MAX;
	ok(st, r);
	/* Mode carries permission bits only; the type comes from the record. */
	r = mkdir_rec(5, 2, "m");
	r.mode = S_IFDIR | 0755;
	refused(st, r, "mode");
	r = create_rec(5, 2, "m", 0, NULL, 0, NULL);
	r.mode = 010644;
	refused(st, r, "mode");
	r.mode = 07777;
	ok(st, r);
	assert_true(S_ISREG(famfs_ns_get(st->ns, 5)->mode));
	assert_int_equal(famfs_ns_get(st->ns, 5)->mode & 07777, 07777);
	assert_true(S_ISDIR(famfs_ns_get(st->ns, 2)->mode));
	assert_int_equal(st->dirs, 2);
	assert_int_equal(st->files, 2);
	famfs_state_free(st);
}

/* ---- extents ------------------------------------------------------------ */

static void test_extents(void **state)
{
	struct famfs_state *st = new_state();
	uint64_t free0;

	(void)state;
	free0 = famfs_alloc_free_bytes(st->alloc);
	assert_int_equal(free0, UNITS * U);
	ok(st, create_rec(2, 1, "a", 3 * U, NULL, 1,
			  (uint64_t[]){ du(0), 3 * U }));
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - 3 * U);

	/* Overlap with a live file, whole or partial. */
	refused(st, create_rec(3, 1, "b", U, NULL, 1, (uint64_t[]){ du(2), U }),
		"overlaps");
	refused(st, create_rec(3, 1, "b", 4 * U, NULL, 1,
			       (uint64_t[]){ du(2), 4 * U }), "overlaps");
	/* Overlap inside one record: the first extent is rolled back too. */
	refused(st, create_rec(3, 1, "b", 2 * U, NULL, 2,
			       (uint64_t[]){ du(10), U, du(10), U }), "overlaps");
	refused(st, create_rec(3, 1, "b", 4 * U, NULL, 3,
			       (uint64_t[]){ du(10), 2 * U, du(20), U, du(11), U }),
		"overlaps");
	/* Misaligned. */
	refused(st, create_rec(3, 1, "b", U, NULL, 1,
			       (uint64_t[]){ du(10) + 512, U }), "misaligned");
	refused(st, create_rec(3, 1, "b", U, NULL, 1,
			       (uint64_t[]){ du(10), U - 1 }), "misaligned");
	refused(st, create_rec(3, 1, "b", 0, NULL, 1,
			       (uint64_t[]){ du(10), 0 }), "misaligned");
	/* Outside the data area: in the log, before the pool, past the end. */
	refused(st, create_rec(3, 1, "b", U, NULL, 1,
			       (uint64_t[]){ info.log_offset, U }), "outside");
	refused(st, create_rec(3, 1, "b", U, NULL, 1,
			       (uint64_t[]){ info.data_offset - U, U }), "outside");
	refused(st, create_rec(3, 1, "b", U, NULL, 1, (uint64_t[]){ 0, U }),
		"outside");
	refused(st, create_rec(3, 1, "b", U, NULL, 1, (uint64_t[]){ du(UNITS), U }),
		"outside");
	refused(st, create_rec(3, 1, "b", 2 * U, NULL, 1,
			       (uint64_t[]){ du(UNITS - 1), 2 * U }), "outside");
	refused(st, create_rec(3, 1, "b", U, NULL, 1,
			       (uint64_t[]){ UINT64_MAX - U + 1, U }), "outside");
	refused(st, create_rec(3, 1, "b", U, NULL, 1,
			       (uint64_t[]){ du(1), UINT64_MAX - U + 1 }), "outside");
	/* Extents smaller than the size. */
	refused(st, create_rec(3, 1, "b", 2 * U + 1, NULL, 2,
			       (uint64_t[]){ du(10), U, du(12), U }), "smaller");
	refused(st, create_rec(3, 1, "b", 1, NULL, 0, NULL), "smaller");
	/* More extents than any record may carry (a decoded one cannot). */
	static struct famfs_extent many[FAMFS_MAX_EXTENTS + 1];
	struct famfs_rec r = create_rec(3, 1, "b", 0, NULL, 0, NULL);

	for (uint32_t i = 0; i <= FAMFS_MAX_EXTENTS; i++)
		many[i] = (struct famfs_extent){ htole64(du(i % UNITS)), htole64(U) };
	r.extents = many;
	r.n_extents = FAMFS_MAX_EXTENTS + 1;
	refused(st, r, "too many extents");
	/* A later rule failing (duplicate name) also releases the extents. */
	refused(st, create_rec(3, 1, "a", U, NULL, 1, (uint64_t[]){ du(10), U }),
		"name already exists");
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - 3 * U);

	/* Every unit the refused records named is still free. */
	ok(st, create_rec(3, 1, "b", 4 * U, NULL, 4,
			  (uint64_t[]){ du(10), 2 * U, du(20), U, du(12), U,
					du(UNITS - 1), U }));
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - 8 * U);
	const struct famfs_node *b = famfs_ns_get(st->ns, 3);

	assert_int_equal(b->n_extents, 4);
	assert_int_equal(famfs_node_extents(b)[3].offset, du(UNITS - 1));
	/* Sizes below the allocation are fine (the tail of a unit). */
	ok(st, create_rec(4, 1, "c", U + 1, NULL, 1, (uint64_t[]){ du(30), 2 * U }));
	ok(st, create_rec(5, 1, "empty", 0, NULL, 0, NULL));
	assert_int_equal(st->files, 4);
	famfs_state_free(st);
}

/* ---- delete and reclaim ------------------------------------------------- */

static void test_delete_rules(void **state)
{
	struct famfs_state *st = new_state();

	(void)state;
	ok(st, mkdir_rec(2, 1, "d"));
	ok(st, mkdir_rec(3, 2, "sub"));
	ok(st, create_rec(4, 2, "f", U, NULL, 1, (uint64_t[]){ du(0), U }));
	refused(st, delete_rec(99, 1, "x"), "unknown inode");
	refused(st, delete_rec(FAMFS_ROOT_INO, 1, ""), "root");
	refused(st, delete_rec(4, 1, "f"), "another parent or name");
	refused(st, delete_rec(4, 2, "g"), "another parent or name");
	refused(st, delete_rec(4, 2, "ff"), "another parent or name");
	refused(st, delete_rec(4, 2, ""), "another parent or name");
	refused(st, delete_rec(2, 1, "d"), "not empty");
	ok(st, delete_rec(3, 2, "sub"));
	assert_int_equal(st->dirs, 1);
	refused(st, delete_rec(2, 1, "d"), "not empty");
	ok(st, delete_rec(4, 2, "f"));
	assert_int_equal(st->files, 0);
	assert_null(famfs_ns_get(st->ns, 4));
	refused(st, delete_rec(4, 2, "f"), "unknown inode");	/* twice */
	ok(st, delete_rec(2, 1, "d"));
	assert_int_equal(st->dirs, 0);
	assert_int_equal(famfs_ns_count(st->ns), 1);
	/* The parent is gone: nothing can be created under it. */
	refused(st, mkdir_rec(5, 2, "x"), "parent directory does not exist");
	famfs_state_free(st);
}

static void test_reclaim_rules(void **state)
{
	struct famfs_state *st = new_state();
	uint64_t del_seq, free0 = UNITS * U;
	struct famfs_pending *p;

	(void)state;
	ok(st, create_rec(2, 1, "f", 3 * U, NULL, 2,
			  (uint64_t[]){ du(0), 2 * U, du(5), U }));
	ok(st, create_rec(3, 1, "live", U, NULL, 1, (uint64_t[]){ du(9), U }));
	refused(st, reclaim_rec(2, 1), "not pending");	/* still live */
	refused(st, reclaim_rec(3, 2), "not pending");
	refused(st, reclaim_rec(77, 1), "not pending");	/* never existed */
	ok(st, delete_rec(2, 1, "f"));
	del_seq = st->last_seq;
	p = famfs_state_pending_find(st, 2);
	assert_non_null(p);
	assert_int_equal(p->delete_seq, del_seq);
	assert_int_equal(p->bytes, 3 * U);
	assert_int_equal(p->n_extents, 2);
	assert_int_equal(st->pending_bytes, 3 * U);
	/* Deleted but not reclaimed: agents may still map it, no reuse. */
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - 4 * U);
	refused(st, create_rec(4, 1, "g", U, NULL, 1, (uint64_t[]){ du(5), U }),
		"overlaps");
	refused(st, reclaim_rec(2, del_seq - 1), "not pending");
	refused(st, reclaim_rec(2, del_seq + 1), "not pending");
	ok(st, reclaim_rec(2, del_seq));
	assert_null(famfs_state_pending_find(st, 2));
	assert_int_equal(st->pending_bytes, 0);
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - U);
	refused(st, reclaim_rec(2, del_seq), "not pending");	/* twice */
	/* Reclaimed space is reusable. */
	ok(st, create_rec(4, 1, "g", 3 * U, NULL, 2,
			  (uint64_t[]){ du(5), U, du(0), 2 * U }));

	/* Pending list order and an empty file's reclaim. */
	ok(st, create_rec(5, 1, "e", 0, NULL, 0, NULL));
	ok(st, delete_rec(5, 1, "e"));
	uint64_t e_seq = st->last_seq;

	ok(st, delete_rec(4, 1, "g"));
	assert_int_equal(st->pending_first->ino, 5);
	assert_int_equal(st->pending_last->ino, 4);
	assert_int_equal(st->pending_bytes, 3 * U);
	ok(st, reclaim_rec(4, st->last_seq));
	ok(st, reclaim_rec(5, e_seq));
	assert_null(st->pending_first);
	assert_null(st->pending_last);
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - U);
	famfs_state_free(st);
}

/* ---- tenants and quotas ------------------------------------------------- */

static void test_quota_accounting(void **state)
{
	struct famfs_state *st = new_state();
	struct famfs_tenant *acme;
	char longt[FAMFS_TENANT_MAX + 2];

	(void)state;
	refused(st, quota_rec("", 1, 1), "without a tenant");
	refused(st, quota_rec(".x", 1, 1), "tenant");
	refused(st, quota_rec("a b", 1, 1), "tenant");
	memset(longt, 't', sizeof(longt));
	longt[FAMFS_TENANT_MAX + 1] = '\0';
	refused(st, quota_rec(longt, 1, 1), "63");
	ok(st, quota_rec("acme", 10 * U, 5));
	acme = famfs_tenants_find(st->tenants, "acme", 4);
	assert_non_null(acme);
	assert_int_equal(acme->max_bytes, 10 * U);
	assert_int_equal(acme->max_files, 5);
	assert_int_equal(acme->used_bytes, 0);

	/* Usage counts allocated bytes (whole units), per file. */
	ok(st, create_rec(2, 1, "a", 3 * U + 1, "acme", 1,
			  (uint64_t[]){ du(0), 4 * U }));
	assert_int_equal(acme->used_bytes, 4 * U);
	assert_int_equal(acme->used_files, 1);
	ok(st, create_rec(3, 1, "b", 0, "acme", 0, NULL));
	assert_int_equal(acme->used_bytes, 4 * U);
	assert_int_equal(acme->used_files, 2);
	assert_int_equal(famfs_ns_get(st->ns, 2)->tenant, acme->id);
	/* A file without a tenant counts for nobody. */
	ok(st, create_rec(4, 1, "c", U, NULL, 1, (uint64_t[]){ du(8), U }));
	assert_int_equal(famfs_ns_get(st->ns, 4)->tenant, 0);
	assert_int_equal(acme->used_bytes, 4 * U);
	/* A file names a tenant never given a quota: it appears, unlimited. */
	ok(st, create_rec(5, 1, "d", 2 * U, "beta", 1, (uint64_t[]){ du(10), 2 * U }));
	struct famfs_tenant *beta = famfs_tenants_find(st->tenants, "beta", 4);

	assert_non_null(beta);
	assert_int_equal(beta->max_bytes, 0);
	assert_int_equal(beta->used_bytes, 2 * U);
	assert_int_equal(famfs_tenants_count(st->tenants), 2);
	/* Bad tenant names in a create. */
	refused(st, create_rec(6, 1, "e", 0, ".x", 0, NULL), "tenant");
	refused(st, create_rec(6, 1, "e", 0, "a/b", 0, NULL), "tenant");

	/* Delete gives the usage back (at delete, not at reclaim). */
	ok(st, delete_rec(2, 1, "a"));
	assert_int_equal(acme->used_bytes, 0);
	assert_int_equal(acme->used_files, 1);
	ok(st, reclaim_rec(2, st->last_seq));
	assert_int_equal(acme->used_bytes, 0);
	ok(st, delete_rec(3, 1, "b"));
	assert_int_equal(acme->used_files, 0);
	/* A new quota changes the limits, never the usage. */
	ok(st, quota_rec("beta", U, 1));
	assert_int_equal(beta->max_bytes, U);
	assert_int_equal(beta->used_bytes, 2 * U);	/* over: still valid */
	assert_int_equal(famfs_tenant_check_quota(beta, 1, 0), -EDQUOT);
	famfs_state_free(st);
}

/* A refused create must not leave behind the tenant it named. */
static void test_refused_create_adds_no_tenant(void **state)
{
	struct famfs_state *st = new_state();

	(void)state;
	ok(st, create_rec(2, 1, "a", U, NULL, 1, (uint64_t[]){ du(0), U }));
	/* refused() compares tenant counts before and after */
	refused(st, create_rec(3, 1, "b", U, "newt", 1, (uint64_t[]){ du(0), U }),
		"overlaps");
	refused(st, create_rec(3, 1, "a", U, "newt", 1, (uint64_t[]){ du(1), U }),
		"name already exists");
	refused(st, create_rec(3, 99, "b", U, "newt", 1, (uint64_t[]){ du(1), U }),
		"parent");
	refused(st, create_rec(3, 1, "b", 2 * U, "newt", 1,
			       (uint64_t[]){ du(1), U }), "smaller");
	assert_null(famfs_tenants_find(st->tenants, "newt", 4));
	ok(st, create_rec(3, 1, "b", U, "newt", 1, (uint64_t[]){ du(1), U }));
	assert_int_equal(famfs_tenants_find(st->tenants, "newt", 4)->used_files, 1);
	famfs_state_free(st);
}

/* ---- check and apply agree ----------------------------------------------- */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % n;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd(n)];
}

#define PICK(v) pick(v, sizeof(v) / sizeof(v[0]))

/* Mostly an existing directory, sometimes any number at all. */
static uint64_t random_parent(const struct famfs_state *st)
{
	const struct famfs_node *n = famfs_ns_get(st->ns, 1 + rnd(st->max_ino));

	if (rnd(10) == 0)
		return rnd(st->max_ino + 2);
	return n && famfs_node_is_dir(n) ? n->ino : FAMFS_ROOT_INO;
}

static void random_name(struct famfs_rec *r)
{
	static const char *const bad[] = { "", ".", "..", "x/y", "bad\xc0\xaf" };
	static char name[8];

	if (rnd(10) == 0) {
		r->name = PICK(bad);
	} else {
		snprintf(name, sizeof(name), "n%u", (unsigned int)rnd(40));
		r->name = name;
	}
	r->name_len = (uint32_t)strlen(r->name);
}

/* Up to three extents, now and then misaligned or off the end. */
static void random_extents(struct famfs_rec *r)
{
	static struct famfs_extent ext[3];
	uint64_t total = 0;

	r->n_extents = (uint32_t)rnd(4);
	for (uint32_t i = 0; i < r->n_extents; i++) {
		uint64_t off = du(rnd(UNITS + 1)) + (rnd(30) ? 0 : 512);
		uint64_t len = (1 + rnd(2)) * U;

		ext[i] = (struct famfs_extent){ htole64(off), htole64(len) };
		total += len;
	}
	r->extents = ext;
	r->size = rnd(10) ? rnd(total + 1) : total + 1;
}

/* A file or directory to delete: mostly one that exists, by its name. */
static void random_victim(const struct famfs_state *st, struct famfs_rec *r)
{
	const struct famfs_node *n = famfs_ns_get(st->ns, 1 + rnd(st->max_ino));

	if (!n || rnd(8) == 0) {
		r->ino = rnd(st->max_ino + 2);
		r->parent = random_parent(st);
		random_name(r);
		return;
	}
	r->ino = n->ino;
	r->parent = n->parent ? n->parent->ino : 0;
	r->name = n->name;
	r->name_len = n->name_len;
	if (rnd(10) == 0)
		r->parent++;
}

/* A record about the state as it is: mostly right, or wrong in some way. */
static struct famfs_rec random_rec(const struct famfs_state *st)
{
	static const uint16_t types[] = {
		FAMFS_REC_MKDIR, FAMFS_REC_MKDIR, FAMFS_REC_CREATE,
		FAMFS_REC_CREATE, FAMFS_REC_CREATE, FAMFS_REC_DELETE,
		FAMFS_REC_DELETE, FAMFS_REC_DELETE, FAMFS_REC_SET_QUOTA,
		FAMFS_REC_RECLAIM, FAMFS_REC_RECLAIM, FAMFS_REC_RECLAIM,
	};
	static const char *const tenants[] = { NULL, NULL, "t1", "t2", ".bad" };
	struct famfs_rec r = {
		.type = rnd(50) ? types[rnd(sizeof(types) / sizeof(types[0]))] :
				  (uint16_t)(rnd(2) ? 0 : FAMFS_REC_TYPE_MAX),
		.seq = st->last_seq + 1,
		.epoch = st->last_epoch ? st->last_epoch + (rnd(50) == 0) : 1,
		.ino = rnd(20) ? st->max_ino + 1 : rnd(st->max_ino + 1),
		.mode = rnd(30) ? 0644 : 010644,
		.max_bytes = rnd(100) * U,
	};

	if (rnd(40) == 0)
		r.seq += rnd(2) ? 1 : -1ull;
	if (rnd(40) == 0)
		r.epoch = rnd(2) ? 0 : r.epoch - 1;
	r.parent = random_parent(st);
	random_name(&r);
	random_extents(&r);
	r.tenant = PICK(tenants);
	r.tenant_len = r.tenant ? (uint32_t)strlen(r.tenant) : 0;
	if (r.type == FAMFS_REC_DELETE)
		random_victim(st, &r);
	if (st->pending_first && rnd(5)) {
		const struct famfs_pending *p = st->pending_first;

		for (uint64_t k = rnd(4); k && p->next; k--)
			p = p->next;
		r.ino = r.type == FAMFS_REC_RECLAIM ? p->ino : r.ino;
		r.delete_seq = p->delete_seq + (rnd(10) == 0);
	} else {
		r.delete_seq = rnd(st->last_seq + 2);
	}
	return r;
}

/*
 * Thousands of generated records, most of them refused for one reason or
 * another, through check then apply: the two always agree, the check never
 * changes anything, and a refused apply changes nothing either.
 */
static void test_check_agrees_with_apply(void **state)
{
	struct famfs_state *st = new_state();
	unsigned int accepted = 0, refusals = 0;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct famfs_rec r = random_rec(st);
		struct snap before = snap(st), after;
		const char *why = NULL;
		int err = check_then_apply(st, &r, &why);

		if (err == 0) {
			accepted++;
			continue;
		}
		assert_int_equal(err, -EUCLEAN);
		after = snap(st);
		assert_memory_equal(&before, &after, sizeof(before));
		refusals++;
	}
	/* Enough of both for the comparison to mean something. */
	assert_true(accepted > 2000);
	assert_true(refusals > 2000);
	assert_true(st->files > 0 || st->pending_bytes > 0 ||
		    famfs_alloc_free_bytes(st->alloc) < UNITS * U);
	famfs_state_free(st);
}

/* ---- checkpoint items ------------------------------------------------- */

/* The state of a checkpoint's base: as of record 50, numbers up to 20. */
static struct famfs_state *ckpt_state(void)
{
	struct famfs_state *st = new_state();

	famfs_state_set_base(st, &(struct famfs_log_base){
		.seq = 50, .epoch = 3, .max_ino = 20,
	});
	assert_int_equal(st->last_seq, 50);
	assert_int_equal(st->last_epoch, 3);
	assert_int_equal(st->max_ino, 20);
	return st;
}

/* r as a checkpoint item: stamped with the base epoch, no sequence rule. */
static struct famfs_rec item(struct famfs_rec r)
{
	r.checkpoint = true;
	r.epoch = 3;
	if (!r.seq)
		r.seq = 7;		/* the record that made it, long ago */
	return r;
}

static struct famfs_rec pending_rec(uint64_t ino, uint64_t delete_seq, int n,
				    const uint64_t *off_len)
{
	return (struct famfs_rec){
		.type = FAMFS_REC_PENDING, .ino = ino, .delete_seq = delete_seq,
		.seq = delete_seq, .extents = n ? exts(n, off_len) : NULL,
		.n_extents = (uint32_t)n,
	};
}

/* Nodes: below the header's highest number, in any order, never above. */
static void test_checkpoint_node_items(void **state)
{
	struct famfs_state *st = ckpt_state();
	struct famfs_rec r;

	(void)state;
	ok(st, item(mkdir_rec(17, 1, "d")));
	ok(st, item(mkdir_rec(3, 17, "sub")));	/* parents first, not by number */
	ok(st, item(create_rec(20, 3, "f", U, "acme", 1, (uint64_t[]){ du(0), U })));
	ok(st, item(quota_rec("acme", 10 * U, 3)));
	ok(st, item(create_rec(4, 17, "g", 2 * U, "acme", 2,
			       (uint64_t[]){ du(4), U, du(2), U })));
	refused(st, item(mkdir_rec(21, 1, "hi")),
		"inode number above the checkpoint's highest");
	refused(st, item(mkdir_rec(FAMFS_ROOT_INO, 1, "root")),
		"inode number above the checkpoint's highest");
	refused(st, item(mkdir_rec(0, 1, "zero")),
		"inode number above the checkpoint's highest");
	refused(st, item(mkdir_rec(17, 1, "again")), "already exists");
	refused(st, item(create_rec(5, 17, "f2", U, NULL, 1,
				    (uint64_t[]){ du(0), U })), "overlaps");
	refused(st, item(mkdir_rec(6, 99, "orphan")), "parent directory does not exist");
	/* History has no place in a checkpoint. */
	refused(st, item(delete_rec(20, 3, "f")),
		"record type not allowed in a checkpoint");
	refused(st, item(reclaim_rec(20, 1)), "record type not allowed in a checkpoint");
	r = item(mkdir_rec(8, 1, "t"));
	r.type = FAMFS_REC_TYPE_MAX;
	refused(st, r, "record type not allowed in a checkpoint");
	/* Items change neither the sequence, the epoch nor the highest number. */
	assert_int_equal(st->last_seq, 50);
	assert_int_equal(st->last_epoch, 3);
	assert_int_equal(st->max_ino, 20);
	assert_int_equal(st->dirs, 2);
	assert_int_equal(st->files, 2);
	assert_int_equal(famfs_tenants_by_id(st->tenants, 1)->used_bytes, 3 * U);
	assert_int_equal(famfs_tenants_by_id(st->tenants, 1)->max_files, 3);
	/* The records after the checkpoint: from base_seq + 1, numbers above. */
	r = mkdir_rec(20, 1, "next");
	r.seq = 51;
	refused(st, r, "inode number reused or out of order");
	r = mkdir_rec(21, 1, "next");
	r.seq = 50;
	refused(st, r, "sequence gap");
	r.seq = 51;
	r.epoch = 2;
	refused(st, r, "epoch");
	r.epoch = 3;
	ok(st, r);
	assert_int_equal(st->max_ino, 21);
	famfs_state_free(st);
}

/*
 * PENDING: only in a checkpoint; a deleted file (not live, its number
 * used, once), deleted before the base, in delete order, over space no
 * node nor other pending file holds.
 */
static void test_checkpoint_pending_items(void **state)
{
	struct famfs_state *st = ckpt_state();
	uint64_t free0 = UNITS * U;
	struct famfs_rec r;

	(void)state;
	ok(st, item(create_rec(5, 1, "live", U, NULL, 1, (uint64_t[]){ du(0), U })));
	ok(st, item(create_rec(6, 1, "near", U, NULL, 1, (uint64_t[]){ du(12), U })));
	r = pending_rec(9, 40, 1, (uint64_t[]){ du(3), 2 * U });
	refused(st, r, "pending item outside a checkpoint");
	ok(st, item(r));
	assert_int_equal(st->pending_bytes, 2 * U);
	assert_int_equal(famfs_alloc_free_bytes(st->alloc), free0 - 4 * U);
	assert_int_equal(famfs_state_pending_find(st, 9)->delete_seq, 40);
	refused(st, item(pending_rec(5, 41, 0, NULL)), "live or impossible");
	refused(st, item(pending_rec(21, 41, 0, NULL)), "live or impossible");
	refused(st, item(pending_rec(FAMFS_ROOT_INO, 41, 0, NULL)),
		"live or impossible");
	refused(st, item(pending_rec(10, 39, 0, NULL)), "out of order");
	/* One delete record deletes one file; and none after the base. */
	refused(st, item(pending_rec(10, 40, 0, NULL)), "out of order");
	refused(st, item(pending_rec(10, 51, 0, NULL)), "out of order");
	refused(st, item(pending_rec(10, 0, 0, NULL)), "out of order");
	/* Space: not a node's, not another pending file's, aligned, inside. */
	/* A pending file may not take a node's space. */
	refused(st, item(pending_rec(10, 45, 1, (uint64_t[]){ du(0), U })),
		"overlaps");
	refused(st, item(pending_rec(10, 45, 1, (uint64_t[]){ du(11), 2 * U })),
		"overlaps");
	refused(st, item(pending_rec(10, 45, 2, (uint64_t[]){ du(7), U, du(4), U })),
		"overlaps");
	refused(st, item(pending_rec(10, 45, 2, (uint64_t[]){ du(8), U, du(8), U })),
		"overlaps");
	refused(st, item(pending_rec(10, 45, 1, (uint64_t[]){ du(8) + 512, U })),
		"misaligned");
	refused(st, item(pending_rec(10, 45, 1, (uint64_t[]){ du(UNITS), U })),
		"outside");
	ok(st, item(pending_rec(10, 45, 2, (uint64_t[]){ du(9), U, du(8), U })));
	ok(st, item(pending_rec(11, 50, 0, NULL)));	/* an empty file, at the base */
	assert_int_equal(st->pending_first->ino, 9);
	assert_int_equal(st->pending_last->ino, 11);
	assert_int_equal(st->pending_bytes, 4 * U);
	/* No node item after the pending ones (it could be a pending number). */
	refused(st, item(create_rec(12, 1, "late", U, NULL, 1,
				    (uint64_t[]){ du(20), U })),
		"node item after the checkpoint's pending items");
	refused(st, item(mkdir_rec(9, 1, "nine")),
		"node item after the checkpoint's pending items");
	ok(st, item(quota_rec("late", 1, 1)));
	/* Nor may a record after the checkpoint, until the reclaim. */
	r = create_rec(21, 1, "steal", U, NULL, 1, (uint64_t[]){ du(9), U });
	r.seq = 51;
	r.epoch = 3;
	refused(st, r, "overlaps");
	r = reclaim_rec(10, 45);
	r.seq = 51;
	r.epoch = 3;
	ok(st, r);
	r = create_rec(21, 1, "steal", U, NULL, 1, (uint64_t[]){ du(9), U });
	r.seq = 52;
	r.epoch = 3;
	ok(st, r);
	assert_int_equal(st->pending_bytes, 2 * U);
	famfs_state_free(st);
}

/*
 * Thousands of generated items (and some records), right and wrong:
 * check and apply agree, refusals change nothing, and what is accepted
 * keeps the invariants later records rely on: never both pending and
 * live, the pending list in strict delete order, the base untouched.
 */
static void test_item_walk(void **state)
{
	static const uint16_t types[] = {
		FAMFS_REC_MKDIR, FAMFS_REC_CREATE, FAMFS_REC_CREATE,
		FAMFS_REC_SET_QUOTA, FAMFS_REC_PENDING, FAMFS_REC_PENDING,
		FAMFS_REC_PENDING, FAMFS_REC_DELETE, FAMFS_REC_RECLAIM,
	};
	struct famfs_state *st = new_state();
	unsigned int accepted = 0, pending = 0;

	(void)state;
	famfs_state_set_base(st, &(struct famfs_log_base){
		.seq = 500, .epoch = 2, .max_ino = 60,
	});
	for (int i = 0; i < 20000; i++) {
		struct famfs_rec r = random_rec(st);
		struct snap before = snap(st), after;
		const char *why = NULL;

		r.type = types[rnd(sizeof(types) / sizeof(types[0]))];
		/* Records after the base are test_check_agrees_with_apply's. */
		r.checkpoint = r.type != FAMFS_REC_PENDING || rnd(20) != 0;
		r.epoch = 2;
		r.ino = rnd(64);
		r.delete_seq = (st->pending_last ? st->pending_last->delete_seq : 0) +
			       rnd(4) - (rnd(8) == 0);
		if (r.type == FAMFS_REC_PENDING)
			r.size = 0;
		if (check_then_apply(st, &r, &why) == 0) {
			accepted++;
			pending += r.type == FAMFS_REC_PENDING;
			continue;
		}
		after = snap(st);
		assert_memory_equal(&before, &after, sizeof(before));
	}
	assert_true(accepted > 100);
	assert_true(pending > 10);
	assert_int_equal(st->last_seq, 500);
	assert_int_equal(st->max_ino, 60);
	for (const struct famfs_pending *p = st->pending_first; p; p = p->next) {
		assert_null(famfs_ns_get(st->ns, p->ino));
		assert_true(!p->next || p->next->delete_seq > p->delete_seq);
	}
	famfs_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_gap),
		cmocka_unit_test(test_epoch_never_goes_back),
		cmocka_unit_test(test_inode_numbers_strictly_increase),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_names_and_parents),
		cmocka_unit_test(test_extents),
		cmocka_unit_test(test_delete_rules),
		cmocka_unit_test(test_reclaim_rules),
		cmocka_unit_test(test_quota_accounting),
		cmocka_unit_test(test_refused_create_adds_no_tenant),
		cmocka_unit_test(test_check_agrees_with_apply),
		cmocka_unit_test(test_checkpoint_node_items),
		cmocka_unit_test(test_checkpoint_pending_items),
		cmocka_unit_test(test_item_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
