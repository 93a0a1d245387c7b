/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the log's unit tests (test_log.c, test_log_copies.c): a
 * famfs_cache_ops that records every flush, invalidate and fence (with a
 * CRC of the flushed bytes and snapshots of two watched area headers at
 * each call, and a stale line it can "heal" on an invalidate), sets of
 * cache lines, a collector for damage reports, and pool helpers.
 *
 * Header-only (static inline) because each unit test is one source file.
 */
#ifndef FAMFSD_TEST_LOGREC_H
#define FAMFSD_TEST_LOGREC_H

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

#include "crc.h"
#include "testpool.h"

#define LINE	FAMFS_CACHELINE
#define MAX_EV	4096
/* Bytes of an area header that hold anything: line 0 and two slots. */
#define HDR_USED	sizeof(struct famfs_log_hdr)

/* ---- the recording cache ops ------------------------------------------ */

struct ev {
	char kind;			/* F flush, I invalidate, W wfence, R rfence */
	uintptr_t addr;
	size_t len;
	uint32_t range_crc;		/* F: CRC of the flushed bytes at the call */
	uint8_t watch[2][HDR_USED];	/* the watched headers at the call */
};

static struct {
	struct ev ev[MAX_EV];
	int n;
	bool overflow;
	const uint8_t *watch[2];	/* two area headers to snapshot */
	/* On the heal_after-th invalidate covering heal_at, store heal_val. */
	uint8_t *heal_at;
	uint8_t heal_val;
	int heal_after;
} rec;

static inline void record(char kind, const void *addr, size_t len)
{
	struct ev *e;

	if (rec.n == MAX_EV) {
		rec.overflow = true;
		return;
	}
	e = &rec.ev[rec.n++];
	e->kind = kind;
	e->addr = (uintptr_t)addr;
	e->len = len;
	e->range_crc = kind == 'F' ? famfs_crc32c(addr, len) : 0;
	for (int c = 0; c < 2; c++)
		if (rec.watch[c])
			memcpy(e->watch[c], rec.watch[c], HDR_USED);
}

static inline void rec_flush(const void *addr, size_t len)
{
	record('F', addr, len);
}

/* An invalidate may "reload" a line: the stale-cache case R3 retries for. */
static inline void rec_invalidate(const void *addr, size_t len)
{
	record('I', addr, len);
	if (rec.heal_at && (uintptr_t)rec.heal_at >= (uintptr_t)addr &&
	    (uintptr_t)rec.heal_at < (uintptr_t)addr + len &&
	    --rec.heal_after == 0) {
		*rec.heal_at = rec.heal_val;
		rec.heal_at = NULL;
	}
}

static inline void rec_wfence(void)
{
	record('W', NULL, 0);
}

static inline void rec_rfence(void)
{
	record('R', NULL, 0);
}

static const struct famfs_cache_ops rec_ops = {
	.name = "record", .flush = rec_flush, .invalidate = rec_invalidate,
	.wfence = rec_wfence, .rfence = rec_rfence,
};

static inline void rec_reset(void)
{
	rec.n = 0;
	rec.overflow = false;
	rec.heal_at = NULL;
}

static inline const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

/* ---- line sets ---------------------------------------------------------- */

struct lines {
	uintptr_t v[1024];
	size_t n;
};

static inline void lines_add(struct lines *s, uintptr_t addr, size_t len)
{
	if (!len)
		return;
	for (uintptr_t l = addr & ~(uintptr_t)(LINE - 1); l < addr + len; l += LINE) {
		size_t i;

		for (i = 0; i < s->n && s->v[i] != l; i++)
			;
		if (i == s->n) {
			assert_true(s->n < 1024);
			s->v[s->n++] = l;
		}
	}
}

static inline bool lines_has(const struct lines *s, uintptr_t l)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == l)
			return true;
	return false;
}

static inline void assert_same_lines(const struct lines *a,
				     const struct lines *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_true(lines_has(b, a->v[i]));
}

/* The lines every F event from `from` on named; each F's bytes were final. */
static inline void flushed_lines(int from, int to, struct lines *out)
{
	for (int i = from; i < to; i++) {
		assert_int_equal(rec.ev[i].kind, 'F');
		lines_add(out, rec.ev[i].addr, rec.ev[i].len);
		assert_int_equal(rec.ev[i].range_crc,
				 famfs_crc32c((void *)rec.ev[i].addr, rec.ev[i].len));
	}
}

/* ---- damage reports ------------------------------------------------------ */

struct damages {
	struct famfs_log_damage d[64];
	int n;
};

static inline void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct damages *s = ctx;

	assert_true(s->n < 64);
	assert_non_null(d->reason);
	s->d[s->n++] = *d;
}

/* ---- helpers ------------------------------------------------------------ */

static inline void assert_pos_equal(struct famfs_log_pos a,
				    struct famfs_log_pos b)
{
	assert_int_equal(a.seq, b.seq);
	assert_int_equal(a.end, b.end);
	assert_int_equal(a.epoch, b.epoch);
}

static inline struct famfs_log_hdr *hdr_of(struct tpool *p, unsigned int c)
{
	return tpool_hdr(p, c);
}

/* The recorder snapshots both copies of generation gen's header. */
static inline void watch_gen(struct tpool *p, uint64_t gen)
{
	rec.watch[0] = tpool_gen_area(p, gen, 0);
	rec.watch[1] = tpool_gen_area(p, gen, 1);
}

static inline void pool_new(struct tpool *p,
			    const struct famfs_cache_ops *ops)
{
	assert_int_equal(tpool_init(p, 4096, FAMFS_MIN_LOG_SIZE, 256, ops), 0);
	watch_gen(p, p->info.log_generation);
	rec_reset();
}

static inline void pool_free(struct tpool *p)
{
	rec.watch[0] = rec.watch[1] = NULL;
	tpool_fini(p);
}

static inline struct famfs_log *reader(struct tpool *p,
				       const struct famfs_cache_ops *ops)
{
	struct famfs_log *log = NULL;
	struct famfs_log_error err;

	assert_int_equal(famfs_log_open(tpool_log_base(p), p->info.log_size,
					p->info.log_generation, ops, &log, &err), 0);
	return log;
}

/* Appends a raw record of n payload bytes (a recognisable pattern). */
static inline uint64_t append_raw(struct tpool *p, uint32_t n)
{
	static uint8_t payload[FAMFS_REC_PAYLOAD_MAX];
	uint64_t seq = 0;

	for (uint32_t i = 0; i < n; i++)
		payload[i] = (uint8_t)(i * 13 + n);
	assert_int_equal(famfs_log_append(p->log, FAMFS_REC_MKDIR, p->epoch,
					  payload, n, &seq), 0);
	return seq;
}

/* Reads every published record; returns how many, or -errno. */
static inline long read_all(struct famfs_log *log, struct famfs_log_error *err)
{
	struct famfs_log_pos pos, tail;
	const struct famfs_rec_hdr *h;
	long n = 0;
	int r;

	r = famfs_log_read_tail(log, &tail, err);
	if (r < 0)
		return r;
	pos = famfs_log_start(log);
	while ((r = famfs_log_next(log, &pos, &tail, &h, err)) > 0) {
		assert_int_equal(le64toh(h->seq), pos.seq);
		n++;
	}
	return r < 0 ? r : n;
}

/* Rewrites tail slot i of the copies named with a valid CRC. */
static inline void write_slot(struct tpool *p, int i, uint64_t seq, uint64_t end,
		       uint64_t generation, unsigned int copies)
{
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		struct famfs_log_tail *t = &hdr_of(p, c)->tail[i];

		if (!(copies & (1u << c)))
			continue;
		memset(t, 0, sizeof(*t));
		t->seq = htole64(seq);
		t->end = htole64(end);
		t->generation = htole64(generation);
		t->epoch = htole64(1);
		t->crc = htole32(famfs_crc_struct(t, sizeof(*t)));
	}
}

/* Body offsets of records 1..n (off[n]: the tail's end); returns n. */
static inline int record_offsets(struct tpool *p, uint64_t *off, int max)
{
	struct famfs_log_pos pos, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log *r = reader(p, none());
	int n = 0;

	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	pos = famfs_log_start(r);
	while (n < max) {
		uint64_t at = pos.end;

		if (famfs_log_next(r, &pos, &tail, &h, &err) != 1)
			break;
		off[n++] = at;
	}
	off[n] = tail.end;
	famfs_log_free(r);
	return n;
}

/* Publishes two batches; returns which slot holds the newer tail. */
static inline int two_batches(struct tpool *p, struct famfs_log_pos *older,
		       struct famfs_log_pos *newer)
{
	append_raw(p, 40);
	append_raw(p, 40);
	tpool_publish(p);
	*older = famfs_log_published(p->log);
	append_raw(p, 40);
	tpool_publish(p);
	*newer = famfs_log_published(p->log);
	assert_memory_equal(hdr_of(p, 0)->tail, hdr_of(p, 1)->tail,
			    sizeof(hdr_of(p, 0)->tail));
	return le64toh(hdr_of(p, 0)->tail[0].seq) == newer->seq ? 0 : 1;
}

#endif /* FAMFSD_TEST_LOGREC_H */
