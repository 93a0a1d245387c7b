// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fsck on pools built with the real API, in memory and in a file: a clean
 * pool, truncated images, a bit flip at thousands of positions (each one
 * either changes nothing or is named where it is; a torn superblock copy,
 * and any bit of either copy of the log, is survived: the state stays the
 * same and the damaged copy is named at its exact place; the same bit in
 * both copies of the log is fatal where the log needs it, named at its
 * exact record, or for a tail slot the previous tail serves), a tail past
 * the end, bad records, and plain garbage. fsck never crashes and never
 * hangs.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "crc.h"
#include "fsck.h"
#include "lease.h"
#include "pool.h"
#include "testpool.h"

#define U	4096ull

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

/* A populated pool with a live lease; *ex says what fsck must find. */
static void build(struct tpool *p, struct tpool_expect *ex)
{
	struct famfs_lease_info l = {
		.epoch = 1, .acquired_ns = 5, .renewed_ns = 6, .lease_ns = 10,
		.pid = 42, .host = "node-a",
	};

	assert_int_equal(tpool_init(p, U, FAMFS_MIN_LOG_SIZE, 64, none()), 0);
	assert_int_equal(tpool_populate(p, ex), 0);
	famfs_lease_write(p->base, none(), &l);
}

static void assert_expected(const struct famfs_fsck_report *rep,
			    const struct tpool_expect *ex)
{
	assert_int_equal(rep->where, FAMFS_FSCK_OK);
	assert_int_equal(rep->records, ex->records);
	assert_int_equal(rep->tail_seq, ex->records);
	assert_int_equal(rep->files, ex->files);
	assert_int_equal(rep->dirs, ex->dirs);
	assert_int_equal(rep->tenants, ex->tenants);
	assert_int_equal(rep->used_bytes, ex->used_bytes);
	assert_int_equal(rep->pending_bytes, ex->pending_bytes);
}

static void assert_no_findings(const struct famfs_fsck_report *rep)
{
	assert_null(rep->sb.reason[0]);
	assert_null(rep->sb.reason[1]);
	for (unsigned int i = 0; i < FAMFS_LOG_TAIL_SLOTS; i++)
		assert_null(rep->tail_slot[i]);
	assert_null(rep->lease);
	assert_int_equal(rep->n_damage, 0);
}

/* The replayed state of two reports is the same. */
static void assert_same_state(const struct famfs_fsck_report *a,
			      const struct famfs_fsck_report *b)
{
	assert_int_equal(a->where, b->where);
	assert_int_equal(a->records, b->records);
	assert_int_equal(a->tail_seq, b->tail_seq);
	assert_int_equal(a->log_used, b->log_used);
	assert_int_equal(a->files, b->files);
	assert_int_equal(a->dirs, b->dirs);
	assert_int_equal(a->tenants, b->tenants);
	assert_int_equal(a->used_bytes, b->used_bytes);
	assert_int_equal(a->pending_bytes, b->pending_bytes);
	assert_memory_equal(&a->info, &b->info, sizeof(a->info));
}

static void test_clean_pool(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;

	(void)state;
	build(&p, &ex);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), 0);
	assert_expected(&rep, &ex);
	assert_no_findings(&rep);
	assert_null(rep.reason);
	assert_int_equal(rep.log_used, famfs_log_published(p.log).end);
	assert_memory_equal(&rep.info, &p.info, sizeof(p.info));
	/* A device bigger than the pool is fine too. */
	assert_int_equal(famfs_fsck(p.base, p.info.device_size - 1, none(), &rep),
			 -EUCLEAN);
	tpool_fini(&p);

	/* A freshly formatted pool: clean and empty. */
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 1, none()), 0);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), 0);
	assert_int_equal(rep.records, 0);
	assert_int_equal(rep.files + rep.dirs + rep.used_bytes, 0);
	assert_no_findings(&rep);
	tpool_fini(&p);
}

static void test_truncated_image(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;
	uint64_t sizes[] = {
		0, 1, 100, FAMFS_SB_B_OFFSET + 159, FAMFS_SB_B_OFFSET + 160, 8192,
		12288, 0, 0, 0, 0, 0,
	};

	(void)state;
	build(&p, &ex);
	sizes[7] = p.info.log_offset + 100;
	sizes[8] = p.info.log_offset + p.info.log_size - 1;
	sizes[9] = p.info.data_offset;
	sizes[10] = p.info.device_size - U;
	sizes[11] = p.info.device_size - 1;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		int r = famfs_fsck(p.base, sizes[i], none(), &rep);

		assert_int_equal(rep.where, FAMFS_FSCK_SUPERBLOCK);
		assert_non_null(rep.reason);
		assert_non_null(rep.sb.reason[0]);
		assert_non_null(rep.sb.reason[1]);
		if (sizes[i] < FAMFS_SB_B_OFFSET + sizeof(struct famfs_sb)) {
			assert_int_equal(r, -ENODEV);
		} else {
			assert_int_equal(r, -EUCLEAN);
			assert_non_null(strstr(rep.sb.reason[0], "truncated"));
			assert_non_null(strstr(rep.sb.reason[1], "truncated"));
		}
	}
	tpool_fini(&p);
}

enum region { R_OTHER, R_SB, R_LEASE, R_LOGHDR, R_SLOT, R_RECORD };

/* Image offset of copy c of generation 1's area. */
static uint64_t area_at(const struct tpool *p, unsigned int c)
{
	return p->info.log_offset + famfs_log_area_offset(p->info.log_size, 1, c);
}

/*
 * Where a byte of the image lies, for the bit-flip verdicts: *which is
 * the superblock copy or the tail slot, *copy the log copy.
 */
static enum region region_of(const struct tpool *p, uint64_t at,
			     uint64_t used, int *which, unsigned int *copy)
{
	uint64_t sb = sizeof(struct famfs_sb);

	if (at < sb || (at >= FAMFS_SB_B_OFFSET && at < FAMFS_SB_B_OFFSET + sb)) {
		*which = at >= FAMFS_SB_B_OFFSET;
		return R_SB;
	}
	if (at >= FAMFS_LEASE_OFFSET &&
	    at < FAMFS_LEASE_OFFSET + sizeof(struct famfs_lease))
		return R_LEASE;
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		uint64_t lo = area_at(p, c), recs = lo + FAMFS_LOG_HDR_SIZE;

		*copy = c;
		if (at >= lo && at < lo + FAMFS_CACHELINE)
			return R_LOGHDR;
		if (at >= lo + FAMFS_CACHELINE && at < lo + 3 * FAMFS_CACHELINE) {
			*which = (int)((at - lo) / FAMFS_CACHELINE) - 1;
			return R_SLOT;
		}
		if (at >= recs && at < recs + used)
			return R_RECORD;
	}
	return R_OTHER;
}

/* The one damaged copy fsck found: part, copy, index, body offset. */
static void assert_one_damage(const struct famfs_fsck_report *rep,
			      enum famfs_log_part part, unsigned int copy,
			      uint64_t seq, uint64_t off)
{
	assert_int_equal(rep->n_damage, 1);
	assert_int_equal(rep->damage[0].d.part, part);
	assert_int_equal(rep->damage[0].d.copy, copy);
	assert_false(rep->damage[0].d.both);
	assert_int_equal(rep->damage[0].d.seq, seq);
	assert_int_equal(rep->damage[0].d.offset, off);
}

struct flip_ctx {
	struct tpool *p;
	struct famfs_fsck_report clean;
	uint64_t rec_off[32];		/* record k+1 starts at rec_off[k] */
	int n_recs;
	int newer_slot;			/* slot holding the latest tail */
	uint64_t older_seq;		/* what the other slot holds */
	unsigned long flips[R_RECORD + 1];
	unsigned long both_flips[R_RECORD + 1];
};

/* Flips one bit at image offset at, runs fsck, checks the verdict. */
static void flip_one(struct flip_ctx *c, uint64_t at, uint8_t mask)
{
	struct famfs_fsck_report rep;
	int which = -1, r;
	unsigned int copy = 0;
	enum region reg = region_of(c->p, at, c->clean.log_used, &which, &copy);

	c->p->base[at] ^= mask;
	r = famfs_fsck(c->p->base, c->p->size, none(), &rep);
	c->p->base[at] ^= mask;
	c->flips[reg]++;
	switch (reg) {
	case R_SB:		/* recovered from the other copy, and named */
		assert_int_equal(r, 0);
		assert_non_null(rep.sb.reason[which]);
		assert_null(rep.sb.reason[!which]);
		assert_int_equal(rep.sb.used, !which);
		assert_same_state(&rep, &c->clean);
		break;
	case R_LEASE:
		assert_int_equal(r, 0);
		assert_non_null(rep.lease);
		assert_same_state(&rep, &c->clean);
		break;
	/* The log: the other copy serves, and the bad one is named. */
	case R_LOGHDR:
		assert_int_equal(r, 0);
		assert_one_damage(&rep, FAMFS_LOG_PART_HEADER, copy, 0, 0);
		assert_same_state(&rep, &c->clean);
		break;
	case R_SLOT:
		assert_int_equal(r, 0);
		for (int i = 0; i < (int)FAMFS_LOG_TAIL_SLOTS; i++)
			if (i == (int)copy * 2 + which)
				assert_non_null(rep.tail_slot[i]);
			else
				assert_null(rep.tail_slot[i]);
		assert_one_damage(&rep, FAMFS_LOG_PART_TAIL, copy, (uint64_t)which,
				  offsetof(struct famfs_log_hdr, tail[which]));
		assert_same_state(&rep, &c->clean);
		break;
	case R_RECORD: {	/* named at exactly the record that holds it */
		uint64_t off = at - area_at(c->p, copy) - FAMFS_LOG_HDR_SIZE;
		int k = 0;

		while (k + 1 < c->n_recs && c->rec_off[k + 1] <= off)
			k++;
		assert_int_equal(r, 0);
		assert_one_damage(&rep, FAMFS_LOG_PART_RECORD, copy,
				  (uint64_t)k + 1, c->rec_off[k]);
		assert_non_null(rep.damage[0].d.reason);
		assert_same_state(&rep, &c->clean);
		break;
	}
	default:		/* bytes nobody reads: nothing changes */
		assert_int_equal(r, 0);
		assert_no_findings(&rep);
		assert_same_state(&rep, &c->clean);
	}
}

/*
 * The same bit flipped at offset at of log copy 0 and at its twin in copy
 * 1: nothing to fall back on. The header is fatal, a record is named at
 * exactly its index, a tail slot leaves the other slot's (older) tail.
 */
static void flip_both(struct flip_ctx *c, uint64_t at, uint8_t mask)
{
	uint64_t twin = at + area_at(c->p, 1) - area_at(c->p, 0);
	struct famfs_fsck_report rep;
	int which = -1, r;
	unsigned int copy = 0;
	enum region reg = region_of(c->p, at, c->clean.log_used, &which, &copy);

	assert_int_equal(copy, 0);
	c->p->base[at] ^= mask;
	c->p->base[twin] ^= mask;
	r = famfs_fsck(c->p->base, c->p->size, none(), &rep);
	c->p->base[at] ^= mask;
	c->p->base[twin] ^= mask;
	c->both_flips[reg]++;
	switch (reg) {
	case R_LOGHDR:
		assert_int_equal(r, -EUCLEAN);
		assert_int_equal(rep.where, FAMFS_FSCK_LOG_HEADER);
		assert_non_null(rep.reason);
		break;
	case R_SLOT:
		assert_int_equal(r, 0);
		for (int i = 0; i < (int)FAMFS_LOG_TAIL_SLOTS; i++)
			assert_true((rep.tail_slot[i] != NULL) == (i % 2 == which));
		if (which == c->newer_slot) {
			assert_int_equal(rep.tail_seq, c->older_seq);
			assert_int_equal(rep.records, c->older_seq);
		} else {
			assert_same_state(&rep, &c->clean);
		}
		break;
	case R_RECORD: {
		uint64_t off = at - area_at(c->p, 0) - FAMFS_LOG_HDR_SIZE;
		int k = 0;

		while (k + 1 < c->n_recs && c->rec_off[k + 1] <= off)
			k++;
		assert_int_equal(r, -EUCLEAN);
		assert_int_equal(rep.where, FAMFS_FSCK_RECORD);
		assert_int_equal(rep.bad_seq, (uint64_t)k + 1);
		assert_int_equal(rep.bad_offset, c->rec_off[k]);
		assert_int_equal(rep.records, (uint64_t)k);
		assert_non_null(rep.reason);
		break;
	}
	default:
		fail_msg("offset %llu is no part of log copy 0",
			 (unsigned long long)at);
	}
}

static void test_bit_flips_everywhere(void **state)
{
	static struct flip_ctx c;
	struct famfs_log_pos pos = { 0 }, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log *r = NULL;
	struct tpool_expect ex;
	struct tpool p;
	uint64_t lo, at;

	(void)state;
	build(&p, &ex);
	memset(&c, 0, sizeof(c));
	c.p = &p;
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &c.clean), 0);
	assert_expected(&c.clean, &ex);
	/* Record offsets, and which slot holds which tail. */
	lo = p.info.log_offset;
	assert_int_equal(famfs_log_open(p.base + lo, p.info.log_size, 1, none(),
					&r, &err), 0);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	while (c.n_recs < 31) {
		c.rec_off[c.n_recs] = pos.end;
		if (famfs_log_next(r, &pos, &tail, &h, &err) != 1)
			break;
		c.n_recs++;
	}
	famfs_log_free(r);
	assert_int_equal(c.n_recs, (int)ex.records);
	const struct famfs_log_hdr *hdr = tpool_hdr(&p, 0);

	c.newer_slot = le64toh(hdr->tail[0].seq) == tail.seq ? 0 : 1;
	c.older_seq = le64toh(hdr->tail[!c.newer_slot].seq);
	assert_true(c.older_seq < tail.seq);

	/* Every bit of both superblocks, the lease and the log header lines. */
	for (at = 0; at < sizeof(struct famfs_sb); at++)
		for (int b = 0; b < 8; b++) {
			flip_one(&c, at, (uint8_t)(1u << b));
			flip_one(&c, FAMFS_SB_B_OFFSET + at, (uint8_t)(1u << b));
		}
	for (at = 0; at < sizeof(struct famfs_lease); at++)
		for (int b = 0; b < 8; b++)
			flip_one(&c, FAMFS_LEASE_OFFSET + at, (uint8_t)(1u << b));
	for (unsigned int cp = 0; cp < FAMFS_LOG_COPIES; cp++)
		for (at = 0; at < 3 * FAMFS_CACHELINE; at++)
			for (int b = 0; b < 8; b++)
				flip_one(&c, area_at(&p, cp) + at, (uint8_t)(1u << b));
	/* Every byte of every record in both copies (one bit each, rotating). */
	for (unsigned int cp = 0; cp < FAMFS_LOG_COPIES; cp++)
		for (at = 0; at < c.clean.log_used; at++)
			flip_one(&c, area_at(&p, cp) + FAMFS_LOG_HDR_SIZE + at,
				 (uint8_t)(1u << (at % 8)));
	/* The same bits in both copies at once. */
	for (at = 0; at < 3 * FAMFS_CACHELINE; at++)
		for (int b = 0; b < 8; b++)
			flip_both(&c, area_at(&p, 0) + at, (uint8_t)(1u << b));
	for (at = 0; at < c.clean.log_used; at++)
		flip_both(&c, area_at(&p, 0) + FAMFS_LOG_HDR_SIZE + at,
			  (uint8_t)(1u << (at % 8)));
	/* Samples of everything else: slack, unused header, free log, data. */
	for (at = sizeof(struct famfs_sb); at < lo; at += 61)
		flip_one(&c, at, 0x80);
	for (at = lo + 3 * FAMFS_CACHELINE; at < lo + FAMFS_LOG_HDR_SIZE; at += 29)
		flip_one(&c, at, 0x01);
	for (at = lo + FAMFS_LOG_HDR_SIZE + c.clean.log_used;
	     at < p.info.data_offset; at += 997)
		flip_one(&c, at, 0x04);
	for (at = p.info.data_offset; at < p.size; at += 4093)
		flip_one(&c, at, 0xff);

	for (int reg = R_OTHER; reg <= R_RECORD; reg++)
		assert_true(c.flips[reg] > 0);
	for (int reg = R_LOGHDR; reg <= R_RECORD; reg++)
		assert_true(c.both_flips[reg] > 0);
	/* And after all that the image is untouched. */
	struct famfs_fsck_report again;

	assert_int_equal(famfs_fsck(p.base, p.size, none(), &again), 0);
	assert_same_state(&again, &c.clean);
	tpool_fini(&p);
}

static void test_both_superblocks_bad_or_absent(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;

	(void)state;
	build(&p, &ex);
	p.base[10] ^= 1;
	p.base[FAMFS_SB_B_OFFSET + 10] ^= 1;
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_SUPERBLOCK);
	assert_string_equal(rep.reason, "both superblock copies are bad");
	memset(p.base, 0, 2 * FAMFS_SB_SLOT);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -ENODEV);
	assert_int_equal(rep.where, FAMFS_FSCK_SUPERBLOCK);
	tpool_fini(&p);
}

/* A superblock that names another log generation than the log holds. */
static void test_log_generation_mismatch(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;

	(void)state;
	build(&p, &ex);
	/* Generation 2 lives in the other pair of areas, still empty. */
	p.info.log_generation = 2;
	p.info.sb_seq = 2;
	famfs_sb_write(p.base, &p.info, none());
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_LOG_HEADER);
	assert_non_null(strstr(rep.reason, "magic"));
	/* Generation 3 shares generation 1's pair: its headers say 1. */
	p.info.log_generation = 3;
	p.info.sb_seq = 3;
	famfs_sb_write(p.base, &p.info, none());
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_LOG_HEADER);
	assert_non_null(strstr(rep.reason, "generation"));
	tpool_fini(&p);
}

/* Rewrites both tail slots of both copies with valid CRCs. */
static void set_tail(struct tpool *p, uint64_t seq, uint64_t end)
{
	for (int i = 0; i < (int)FAMFS_LOG_TAIL_SLOTS; i++) {
		struct famfs_log_hdr *hdr = (void *)(p->base + area_at(p, i / 2));
		struct famfs_log_tail *t = &hdr->tail[i % 2];

		memset(t, 0, sizeof(*t));
		t->seq = htole64(seq);
		t->end = htole64(end);
		t->generation = htole64(p->info.log_generation);
		t->epoch = htole64(1);
		t->crc = htole32(famfs_crc_struct(t, sizeof(*t)));
	}
}

static void test_tail_past_end(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;
	uint64_t cap, used;

	(void)state;
	build(&p, &ex);
	cap = famfs_log_capacity(p.log);
	used = famfs_log_published(p.log).end;
	set_tail(&p, ex.records + 1, cap + 8);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_TAIL);
	assert_string_equal(rep.reason, "tail points past the end of the log");
	assert_int_equal(rep.bad_offset, cap + 8);
	set_tail(&p, ex.records + 1, UINT64_MAX & ~7ull);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_TAIL);
	/* Inside the log, past the last record: the next record is bad. */
	set_tail(&p, ex.records + 1, used + 64);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_RECORD);
	assert_int_equal(rep.bad_seq, ex.records + 1);
	assert_int_equal(rep.bad_offset, used);
	assert_int_equal(rep.records, ex.records);
	/* Every slot of both copies corrupt. */
	set_tail(&p, ex.records, used);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), 0);
	for (unsigned int cp = 0; cp < FAMFS_LOG_COPIES; cp++) {
		p.base[area_at(&p, cp) + FAMFS_CACHELINE] ^= 1;
		p.base[area_at(&p, cp) + 2 * FAMFS_CACHELINE] ^= 1;
	}
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_TAIL);
	for (unsigned int i = 0; i < FAMFS_LOG_TAIL_SLOTS; i++)
		assert_non_null(rep.tail_slot[i]);
	tpool_fini(&p);
}

/* A record that frames and decodes but breaks a rule. */
static void test_semantic_error_named(void **state)
{
	struct famfs_fsck_report rep;
	struct famfs_log_pos before;
	struct tpool p;
	uint64_t d = 0;

	(void)state;
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 16, none()), 0);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "a", &d), 0);
	assert_int_equal(tpool_create(&p, d, "f", U, NULL, NULL), 0);
	tpool_publish(&p);
	before = famfs_log_published(p.log);
	assert_int_equal(tpool_mkdir(&p, 77, "orphan", NULL), 0);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "b", NULL), 0);
	tpool_publish(&p);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_SEMANTIC);
	assert_int_equal(rep.bad_seq, 3);
	assert_int_equal(rep.bad_offset, before.end);
	assert_string_equal(rep.reason, "parent directory does not exist");
	assert_int_equal(rep.records, 2);
	assert_int_equal(rep.files, 1);		/* the state before the record */
	assert_int_equal(rep.dirs, 1);
	assert_string_equal(famfs_fsck_where_name(rep.where), "record contents");
	tpool_fini(&p);

	/* A record whose payload does not decode (unknown type). */
	assert_int_equal(tpool_init(&p, U, FAMFS_MIN_LOG_SIZE, 16, none()), 0);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "a", NULL), 0);
	assert_int_equal(famfs_log_append(p.log, 99, 1, "junk", 4, NULL), 0);
	tpool_publish(&p);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_RECORD);
	assert_int_equal(rep.bad_seq, 2);
	assert_string_equal(rep.reason, "unknown record type");
	tpool_fini(&p);
}

/* Random bytes, with and without valid superblocks over them. */
static void test_garbage_never_crashes(void **state)
{
	struct famfs_fsck_report rep;
	struct tpool_expect ex;
	struct tpool p;
	uint64_t rng = 99;

	(void)state;
	build(&p, &ex);
	for (int round = 0; round < 40; round++) {
		/* Scribble over a random stretch of the metadata. */
		uint64_t lo = p.info.log_offset + FAMFS_LOG_HDR_SIZE;
		uint64_t at, len;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		at = (rng >> 20) % 3 == 0 ? (rng >> 24) % (3 * FAMFS_SB_SLOT) :
		     lo + (rng >> 24) % 2048;
		len = 1 + (rng >> 40) % 200;
		for (uint64_t i = 0; i < len; i++) {
			rng = rng * 6364136223846793005ull + 1;
			p.base[at + i] = (uint8_t)(rng >> 56);
		}
		int r = famfs_fsck(p.base, p.size, none(), &rep);

		assert_true(r == 0 || r == -EUCLEAN || r == -ENODEV);
		if (r < 0) {
			assert_int_not_equal(rep.where, FAMFS_FSCK_OK);
			assert_non_null(rep.reason);
			assert_string_not_equal(famfs_fsck_where_name(rep.where),
						"unknown");
		}
	}
	/* An image that is all noise. */
	for (uint64_t i = 0; i < p.size; i++) {
		rng = rng * 6364136223846793005ull + 1;
		p.base[i] = (uint8_t)(rng >> 56);
	}
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -ENODEV);
	memset(p.base, 0xff, p.size);
	assert_int_equal(famfs_fsck(p.base, p.size, none(), &rep), -ENODEV);
	tpool_fini(&p);
}

static void test_where_names(void **state)
{
	(void)state;
	assert_string_equal(famfs_fsck_where_name(FAMFS_FSCK_OK), "ok");
	assert_string_equal(famfs_fsck_where_name(FAMFS_FSCK_SUPERBLOCK),
			    "superblock");
	assert_string_equal(famfs_fsck_where_name(FAMFS_FSCK_LOG_HEADER),
			    "log header");
	assert_string_equal(famfs_fsck_where_name(FAMFS_FSCK_TAIL), "log tail");
	assert_string_equal(famfs_fsck_where_name(FAMFS_FSCK_RECORD), "record");
	assert_string_equal(famfs_fsck_where_name(FAMFS_FSCK_NOMEM), "memory");
	assert_string_equal(famfs_fsck_where_name((enum famfs_fsck_where)77),
			    "unknown");
}

/*
 * The same on a file-backed pool formatted by famfs_pool_format and
 * written through famfs_pool_open, then checked through a read-only map,
 * then truncated.
 */
static void test_file_pool(void **state)
{
	struct famfs_pool_open_opts o = {
		.dev_flags = FAMFS_DEV_WRITE, .coherence = FAMFS_COH_NONE,
	};
	struct famfs_mkfs_opts mk = { .alloc_unit = U, .log_size = 1u << 20 };
	char dir[] = "/tmp/famfsd-test-XXXXXX", path[64];
	struct famfs_pooldev *dev = NULL;
	struct famfs_fsck_report rep;
	struct famfs_pool_info info;
	struct famfs_pool *pool = NULL;
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	struct tpool_expect ex;
	struct tpool p;
	const char *why = NULL;
	uint64_t min = 0, size = (4u << 20) + 64 * U;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pool", dir);
	assert_int_equal(famfs_pooldev_create_file(path, size), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pool_format(dev, none(), &mk, &info, &min), 0);
	famfs_pooldev_close(dev);

	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_int_equal(famfs_log_read_tail(pool->log, &tail, &err), 0);
	famfs_log_writer_start(pool->log, &tail);
	/* Drive the shared helpers with the pool's own log. */
	memset(&p, 0, sizeof(p));
	p.base = pool->base;
	p.info = pool->info;
	p.log = pool->log;
	p.epoch = 1;
	p.next_ino = 2;
	assert_int_equal(famfs_alloc_new(info.data_offset,
					 (info.device_size - info.data_offset) / U,
					 U, &p.alloc), 0);
	assert_int_equal(tpool_populate(&p, &ex), 0);
	famfs_alloc_free(p.alloc);
	famfs_pool_close(pool);

	assert_int_equal(famfs_pooldev_open(path, 0, 0, &dev), 0);
	assert_int_equal(famfs_fsck(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
				    none(), &rep), 0);
	assert_expected(&rep, &ex);
	assert_no_findings(&rep);
	famfs_pooldev_close(dev);

	/* Truncated by one unit: no longer a whole pool. */
	assert_int_equal(truncate(path, (off_t)(size - U)), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, 0, &dev), 0);
	assert_int_equal(famfs_fsck(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
				    none(), &rep), -EUCLEAN);
	assert_int_equal(rep.where, FAMFS_FSCK_SUPERBLOCK);
	assert_non_null(strstr(rep.sb.reason[0], "truncated"));
	famfs_pooldev_close(dev);
	o.dev_flags = 0;
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), -EUCLEAN);
	assert_non_null(strstr(why, "truncated"));
	/* Truncated into the superblock area. */
	assert_int_equal(truncate(path, 4096), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, 0, &dev), 0);
	assert_int_equal(famfs_fsck(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
				    none(), &rep), -ENODEV);
	famfs_pooldev_close(dev);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clean_pool),
		cmocka_unit_test(test_truncated_image),
		cmocka_unit_test(test_bit_flips_everywhere),
		cmocka_unit_test(test_both_superblocks_bad_or_absent),
		cmocka_unit_test(test_log_generation_mismatch),
		cmocka_unit_test(test_tail_past_end),
		cmocka_unit_test(test_semantic_error_named),
		cmocka_unit_test(test_garbage_never_crashes),
		cmocka_unit_test(test_where_names),
		cmocka_unit_test(test_file_pool),
	};

	/*
	 * Every fsck builds a namespace whose node arena maps a 2 MiB chunk;
	 * with transparent huge pages each of the thousands of fscks here
	 * would clear a whole huge page (5x the run time). Small pages give
	 * the same results.
	 */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
