// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The metadata log through a recording famfs_cache_ops: the writer flushes
 * exactly the cache lines of each record it appends (P1-P2), publish is
 * fence -> tail slot write -> flush of that one line -> fence (P3-P6),
 * readers invalidate before they read (R1-R2) and retry a bad record before
 * naming it (R3). Torn and corrupt tails, a tail past the end, CRC flips in
 * every byte of the record area, batches, a full log, an aborted batch.
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

#include "crc.h"
#include "testpool.h"

#define LINE	FAMFS_CACHELINE
#define MAX_EV	4096

/* ---- the recording cache ops ------------------------------------------ */

struct ev {
	char kind;			/* F flush, I invalidate, W wfence, R rfence */
	uintptr_t addr;
	size_t len;
	uint32_t range_crc;		/* F: CRC of the flushed bytes at the call */
	struct famfs_log_tail tail[2];	/* both tail slots at the call */
};

static struct {
	struct ev ev[MAX_EV];
	int n;
	bool overflow;
	const struct famfs_log_hdr *hdr;	/* snapshot its tail slots */
	/* On the heal_after-th invalidate covering heal_at, store heal_val. */
	uint8_t *heal_at;
	uint8_t heal_val;
	int heal_after;
} rec;

static void record(char kind, const void *addr, size_t len)
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
	if (rec.hdr)
		memcpy(e->tail, rec.hdr->tail, sizeof(e->tail));
}

static void rec_flush(const void *addr, size_t len)
{
	record('F', addr, len);
}

/* An invalidate may "reload" a line: the stale-cache case R3 retries for. */
static void rec_invalidate(const void *addr, size_t len)
{
	record('I', addr, len);
	if (rec.heal_at && (uintptr_t)rec.heal_at >= (uintptr_t)addr &&
	    (uintptr_t)rec.heal_at < (uintptr_t)addr + len &&
	    --rec.heal_after == 0) {
		*rec.heal_at = rec.heal_val;
		rec.heal_at = NULL;
	}
}

static void rec_wfence(void)
{
	record('W', NULL, 0);
}

static void rec_rfence(void)
{
	record('R', NULL, 0);
}

static const struct famfs_cache_ops rec_ops = {
	.name = "record", .flush = rec_flush, .invalidate = rec_invalidate,
	.wfence = rec_wfence, .rfence = rec_rfence,
};

static void rec_reset(void)
{
	rec.n = 0;
	rec.overflow = false;
	rec.heal_at = NULL;
}

/* ---- line sets ---------------------------------------------------------- */

struct lines {
	uintptr_t v[1024];
	size_t n;
};

static void lines_add(struct lines *s, uintptr_t addr, size_t len)
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

static bool lines_has(const struct lines *s, uintptr_t l)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == l)
			return true;
	return false;
}

static void assert_same_lines(const struct lines *a, const struct lines *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_true(lines_has(b, a->v[i]));
}

/* ---- helpers ------------------------------------------------------------ */

static void assert_pos_equal(struct famfs_log_pos a, struct famfs_log_pos b)
{
	assert_int_equal(a.seq, b.seq);
	assert_int_equal(a.end, b.end);
	assert_int_equal(a.epoch, b.epoch);
}

static void pool_new(struct tpool *p, const struct famfs_cache_ops *ops)
{
	assert_int_equal(tpool_init(p, 4096, FAMFS_MIN_LOG_SIZE, 256, ops), 0);
	rec.hdr = (const void *)tpool_log_base(p);
	rec_reset();
}

static void pool_free(struct tpool *p)
{
	rec.hdr = NULL;
	tpool_fini(p);
}

static struct famfs_log *reader(struct tpool *p, const struct famfs_cache_ops *ops)
{
	struct famfs_log *log = NULL;
	struct famfs_log_error err;

	assert_int_equal(famfs_log_open(tpool_log_base(p), p->info.log_size,
					p->info.log_generation, ops, &log, &err), 0);
	return log;
}

/* Appends a raw record of n payload bytes (a recognisable pattern). */
static uint64_t append_raw(struct tpool *p, uint32_t n)
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
static long read_all(struct famfs_log *log, struct famfs_log_error *err)
{
	struct famfs_log_pos pos = { 0 }, tail;
	const struct famfs_rec_hdr *h;
	long n = 0;
	int r;

	r = famfs_log_read_tail(log, &tail, err);
	if (r < 0)
		return r;
	while ((r = famfs_log_next(log, &pos, &tail, &h, err)) > 0) {
		assert_int_equal(le64toh(h->seq), pos.seq);
		n++;
	}
	return r < 0 ? r : n;
}

/* Rewrites tail slot i with a valid CRC. */
static void write_slot(struct tpool *p, int i, uint64_t seq, uint64_t end,
		       uint64_t generation)
{
	struct famfs_log_hdr *hdr = (void *)tpool_log_base(p);
	struct famfs_log_tail *t = &hdr->tail[i];

	memset(t, 0, sizeof(*t));
	t->seq = htole64(seq);
	t->end = htole64(end);
	t->generation = htole64(generation);
	t->epoch = htole64(1);
	t->crc = htole32(famfs_crc_struct(t, sizeof(*t)));
}

static struct famfs_log_hdr *hdr_of(struct tpool *p)
{
	return (void *)tpool_log_base(p);
}

/* ---- writer ------------------------------------------------------------- */

static void test_format_flushes_header_then_fences(void **state)
{
	struct tpool p;

	(void)state;
	pool_new(&p, &rec_ops);
	rec_reset();
	famfs_log_format(tpool_log_base(&p), p.info.log_size, 1, &rec_ops);
	assert_int_equal(rec.n, 2);
	assert_int_equal(rec.ev[0].kind, 'F');
	assert_int_equal(rec.ev[0].addr, (uintptr_t)tpool_log_base(&p));
	assert_true(rec.ev[0].len >= sizeof(struct famfs_log_hdr));
	assert_int_equal(rec.ev[1].kind, 'W');
	pool_free(&p);
}

/*
 * P1-P2: each append flushes exactly the lines its record covers, with the
 * record complete at the time of the flush; no fence, no tail change.
 */
static void test_append_flushes_exactly_its_lines(void **state)
{
	static const uint32_t sizes[] = {
		0, 1, 7, 8, 24, 32, 33, 56, 64, 100, 120, 200, 255, 300, 1000,
		4000, FAMFS_REC_PAYLOAD_MAX, 5, 40,
	};
	struct tpool p;

	(void)state;
	pool_new(&p, &rec_ops);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct famfs_log_pos before = famfs_log_appended(p.log);
		struct famfs_log_hdr tails = *hdr_of(&p);
		uint8_t *at = tpool_recs(&p) + before.end;
		uint32_t size = famfs_rec_size(sizes[k]);
		struct lines flushed = { .n = 0 }, want = { .n = 0 };

		rec_reset();
		assert_int_equal(append_raw(&p, sizes[k]), before.seq + 1);
		assert_false(rec.overflow);
		assert_true(rec.n >= 1);
		for (int i = 0; i < rec.n; i++) {
			assert_int_equal(rec.ev[i].kind, 'F');
			lines_add(&flushed, rec.ev[i].addr, rec.ev[i].len);
			/* The bytes flushed were already the final bytes. */
			assert_int_equal(rec.ev[i].range_crc,
					 famfs_crc32c((void *)rec.ev[i].addr,
						      rec.ev[i].len));
		}
		lines_add(&want, (uintptr_t)at, size);
		assert_same_lines(&flushed, &want);
		/* Every byte of the record was covered (not just its lines). */
		assert_int_equal(famfs_log_appended(p.log).end, before.end + size);
		/* Unpublished: the tail slots did not move. */
		assert_memory_equal(&tails, hdr_of(&p), sizeof(tails));
		assert_int_equal(famfs_log_published(p.log).seq, 0);
	}
	pool_free(&p);
}

/* Checks one publish: W, tail slot written, F of exactly its line, W. */
static void check_publish(struct tpool *p, uint64_t want_seq, uint64_t want_end)
{
	struct famfs_log_hdr *hdr = hdr_of(p), before = *hdr;
	int slot, other;

	rec_reset();
	tpool_publish(p);
	assert_int_equal(rec.n, 3);
	assert_int_equal(rec.ev[0].kind, 'W');
	assert_int_equal(rec.ev[1].kind, 'F');
	assert_int_equal(rec.ev[2].kind, 'W');
	/* The flush names exactly one tail slot's line. */
	assert_int_equal(rec.ev[1].addr % LINE, 0);
	assert_int_equal(rec.ev[1].len, LINE);
	slot = rec.ev[1].addr == (uintptr_t)&hdr->tail[0] ? 0 :
	       rec.ev[1].addr == (uintptr_t)&hdr->tail[1] ? 1 : -1;
	assert_true(slot >= 0);
	other = slot ^ 1;
	/* P3 came before P4: at the first fence the slot was still old. */
	assert_memory_equal(&rec.ev[0].tail[slot], &before.tail[slot], LINE);
	/* P4 before P5: at the flush the slot held the new tail. */
	assert_memory_not_equal(&rec.ev[1].tail[slot], &before.tail[slot], LINE);
	assert_memory_equal(&rec.ev[1].tail[slot], &hdr->tail[slot], LINE);
	assert_int_equal(le64toh(hdr->tail[slot].seq), want_seq);
	assert_int_equal(le64toh(hdr->tail[slot].end), want_end);
	assert_int_equal(le32toh(hdr->tail[slot].crc),
			 famfs_crc_struct(&hdr->tail[slot], LINE));
	/* Nothing else in the header changed, the other slot least of all. */
	assert_memory_equal(&hdr->tail[other], &before.tail[other], LINE);
	assert_memory_equal(hdr, &before, offsetof(struct famfs_log_hdr, tail));
	for (int i = 0; i < 3; i++)
		assert_memory_equal(&rec.ev[i].tail[other], &before.tail[other],
				    LINE);
	assert_int_equal(famfs_log_published(p->log).seq, want_seq);
}

static void test_publish_protocol_order(void **state)
{
	struct tpool p;
	struct famfs_log_hdr *hdr;
	int first_slot;

	(void)state;
	pool_new(&p, &rec_ops);
	hdr = hdr_of(&p);
	/* Append then publish, as one event stream: P2 flushes precede P3. */
	rec_reset();
	append_raw(&p, 100);
	int flushes = rec.n;

	tpool_publish(&p);
	assert_int_equal(rec.n, flushes + 3);
	for (int i = 0; i < flushes; i++)
		assert_int_equal(rec.ev[i].kind, 'F');
	assert_int_equal(rec.ev[flushes].kind, 'W');

	/* Each later publish alternates the slot. */
	first_slot = le64toh(hdr->tail[0].seq) == 1 ? 0 : 1;
	append_raw(&p, 8);
	check_publish(&p, 2, famfs_log_appended(p.log).end);
	assert_int_equal(le64toh(hdr->tail[first_slot ^ 1].seq), 2);
	append_raw(&p, 500);
	check_publish(&p, 3, famfs_log_appended(p.log).end);
	assert_int_equal(le64toh(hdr->tail[first_slot].seq), 3);
	append_raw(&p, 1);
	check_publish(&p, 4, famfs_log_appended(p.log).end);

	/* Nothing appended: publish does nothing at all. */
	rec_reset();
	tpool_publish(&p);
	assert_int_equal(rec.n, 0);
	pool_free(&p);
}

/* Several records, one publish: readers see none, then all. */
static void test_batch_publish(void **state)
{
	struct tpool p;
	struct famfs_log_error err;
	struct famfs_log *r;
	uint64_t end0;

	(void)state;
	pool_new(&p, &rec_ops);
	r = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	append_raw(&p, 10);
	append_raw(&p, 20);
	check_publish(&p, 2, famfs_log_appended(p.log).end);
	end0 = famfs_log_appended(p.log).end;
	rec_reset();
	for (uint32_t i = 0; i < 5; i++)
		append_raw(&p, 50 + i * 40);
	for (int i = 0; i < rec.n; i++)
		assert_int_equal(rec.ev[i].kind, 'F');	/* no fence per record */
	assert_int_equal(read_all(r, &err), 2);		/* not yet visible */
	check_publish(&p, 7, famfs_log_appended(p.log).end);
	assert_true(famfs_log_published(p.log).end > end0);
	assert_int_equal(read_all(r, &err), 7);
	famfs_log_free(r);
	pool_free(&p);
}

static void test_append_limits_and_full_log(void **state)
{
	static uint8_t big[FAMFS_REC_MAX_SIZE];
	struct famfs_log_error err;
	struct famfs_log_pos before;
	struct famfs_log *r;
	struct tpool p;
	long n = 0;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(famfs_log_append(p.log, 1, 1, big,
					  FAMFS_REC_PAYLOAD_MAX + 1, NULL), -EINVAL);
	assert_int_equal(famfs_log_append(p.log, 1, 1, big, UINT32_MAX, NULL),
			 -EINVAL);
	assert_int_equal(famfs_log_appended(p.log).seq, 0);
	/* Fill: the largest records until one no longer fits. */
	while (famfs_log_append(p.log, 1, 1, big, FAMFS_REC_PAYLOAD_MAX, NULL) == 0)
		n++;
	before = famfs_log_appended(p.log);
	assert_int_equal(before.seq, (uint64_t)n);
	assert_true(famfs_log_capacity(p.log) - before.end < FAMFS_REC_MAX_SIZE);
	assert_int_equal(famfs_log_append(p.log, 1, 1, big, FAMFS_REC_PAYLOAD_MAX,
					  NULL), -ENOSPC);
	assert_pos_equal(before, famfs_log_appended(p.log));
	/* The remainder still takes small records, to the last byte. */
	while (famfs_log_append(p.log, 1, 1, big, 0, NULL) == 0)
		n++;
	assert_int_equal(famfs_log_appended(p.log).end, famfs_log_capacity(p.log));
	assert_int_equal(famfs_log_append(p.log, 1, 1, big, 0, NULL), -ENOSPC);
	tpool_publish(&p);
	r = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(read_all(r, &err), n);
	famfs_log_free(r);
	pool_free(&p);
}

/* An aborted batch leaves no trace: the next append reuses its place. */
static void test_discard(void **state)
{
	struct famfs_log_error err;
	struct famfs_log_pos pub;
	struct famfs_log *r;
	struct tpool p;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	append_raw(&p, 16);
	tpool_publish(&p);
	pub = famfs_log_published(p.log);
	append_raw(&p, 100);
	append_raw(&p, 100);
	famfs_log_discard(p.log);
	assert_pos_equal(pub, famfs_log_appended(p.log));
	assert_int_equal(append_raw(&p, 24), 2);
	tpool_publish(&p);
	assert_int_equal(famfs_log_published(p.log).end,
			 pub.end + famfs_rec_size(24));
	r = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(read_all(r, &err), 2);
	famfs_log_free(r);
	pool_free(&p);
}

/*
 * A writer restarting on a log whose slot 0 is corrupt (but happens to
 * hold the same sequence and end as the valid slot 1) must overwrite the
 * corrupt slot, never the only valid one.
 */
static void test_writer_start_keeps_the_valid_slot(void **state)
{
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	struct famfs_log_tail keep;
	struct famfs_log *w;
	struct tpool p;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	hdr_of(&p)->tail[0].crc ^= htole32(1);		/* fresh log: both {0, 0} */
	keep = hdr_of(&p)->tail[1];
	w = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(famfs_log_read_tail(w, &tail, &err), 0);
	assert_int_equal(tail.seq, 0);
	famfs_log_writer_start(w, &tail);
	assert_int_equal(famfs_log_append(w, 1, 1, "x", 1, NULL), 0);
	famfs_log_publish(w);
	assert_memory_equal(&keep, &hdr_of(&p)->tail[1], sizeof(keep));
	assert_int_equal(le64toh(hdr_of(&p)->tail[0].seq), 1);
	assert_int_equal(famfs_log_read_tail(w, &tail, &err), 0);
	assert_int_equal(tail.seq, 1);
	famfs_log_free(w);

	/* Restart after a normal publish: the slot with the tail survives. */
	w = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(famfs_log_read_tail(w, &tail, &err), 0);
	famfs_log_writer_start(w, &tail);
	keep = hdr_of(&p)->tail[0];
	assert_int_equal(famfs_log_append(w, 1, 1, "y", 1, NULL), 0);
	famfs_log_publish(w);
	assert_memory_equal(&keep, &hdr_of(&p)->tail[0], sizeof(keep));
	assert_int_equal(le64toh(hdr_of(&p)->tail[1].seq), 2);
	famfs_log_free(w);

	/* Restart after a torn publish (newest slot bad): it is rewritten. */
	hdr_of(&p)->tail[1].seq ^= htole64(0x100);
	w = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(famfs_log_read_tail(w, &tail, &err), 0);
	assert_int_equal(tail.seq, 1);
	famfs_log_writer_start(w, &tail);
	keep = hdr_of(&p)->tail[0];
	assert_int_equal(famfs_log_append(w, 1, 1, "z", 1, NULL), 0);
	famfs_log_publish(w);
	assert_memory_equal(&keep, &hdr_of(&p)->tail[0], sizeof(keep));
	assert_int_equal(famfs_log_read_tail(w, &tail, &err), 0);
	assert_int_equal(tail.seq, 2);
	assert_int_equal(read_all(w, &err), 2);
	famfs_log_free(w);
	pool_free(&p);
}

/* ---- reader ------------------------------------------------------------- */

static void test_open_errors(void **state)
{
	struct famfs_log_error err;
	struct famfs_log *log = NULL;
	struct tpool p;
	uint8_t *lb;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	lb = tpool_log_base(&p);
	assert_int_equal(famfs_log_open(lb, FAMFS_LOG_HDR_SIZE, 1,
					p.ops, &log, &err), -EUCLEAN);
	assert_non_null(err.reason);
	assert_int_equal(famfs_log_open(lb, p.info.log_size, 2, p.ops, &log, &err),
			 -EUCLEAN);
	assert_string_equal(err.reason,
			    "log header: generation differs from superblock");
	lb[0] ^= 1;
	assert_int_equal(famfs_log_open(lb, p.info.log_size, 1, p.ops, &log, &err),
			 -EUCLEAN);
	assert_string_equal(err.reason, "log header: bad magic");
	lb[0] ^= 1;
	lb[20] ^= 1;					/* reserved bytes */
	assert_int_equal(famfs_log_open(lb, p.info.log_size, 1, p.ops, &log, &err),
			 -EUCLEAN);
	assert_string_equal(err.reason, "log header: CRC mismatch");
	lb[20] ^= 1;
	assert_null(log);
	assert_int_equal(famfs_log_open(lb, p.info.log_size, 1, p.ops, &log, &err),
			 0);
	assert_int_equal(famfs_log_capacity(log),
			 p.info.log_size - FAMFS_LOG_HDR_SIZE);
	assert_int_equal(famfs_log_generation(log), 1);
	famfs_log_free(log);
	pool_free(&p);
}

/* R1/R2: every line is invalidated, then fenced, before it is read. */
static void test_reader_invalidates_before_reading(void **state)
{
	struct famfs_log_pos pos = { 0 }, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct lines inval = { .n = 0 };
	struct famfs_log *r;
	struct tpool p;
	uint8_t *recs;
	int k = 0, got;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(tpool_populate(&p, NULL), 0);
	recs = tpool_recs(&p);
	r = reader(&p, &rec_ops);
	rec_reset();
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_true(rec.n >= 2);
	assert_int_equal(rec.ev[0].kind, 'I');
	assert_true(rec.ev[0].addr <= (uintptr_t)&hdr_of(&p)->tail[0]);
	assert_true(rec.ev[0].addr + rec.ev[0].len >=
		    (uintptr_t)&hdr_of(&p)->tail[1] + LINE);
	assert_int_equal(rec.ev[1].kind, 'R');

	for (;;) {
		rec_reset();
		got = famfs_log_next(r, &pos, &tail, &h, &err);
		if (got <= 0)
			break;
		k++;
		/* Lines invalidated in this call count once a fence followed. */
		for (int i = 0; i < rec.n; i++) {
			if (rec.ev[i].kind != 'I')
				continue;
			assert_true(i + 1 < rec.n && rec.ev[i + 1].kind == 'R');
			/* Never beyond the published end. */
			assert_true(rec.ev[i].addr >= (uintptr_t)recs);
			assert_true(rec.ev[i].addr + rec.ev[i].len <=
				    (uintptr_t)recs + tail.end);
			lines_add(&inval, rec.ev[i].addr, rec.ev[i].len);
		}
		for (uintptr_t l = (uintptr_t)h & ~(uintptr_t)(LINE - 1);
		     l < (uintptr_t)h + le32toh(h->len); l += LINE)
			assert_true(lines_has(&inval, l));
	}
	assert_int_equal(got, 0);
	assert_int_equal(k, 15);
	assert_int_equal(pos.seq, tail.seq);
	assert_int_equal(pos.end, tail.end);
	assert_int_equal(pos.epoch, 1);
	famfs_log_free(r);
	pool_free(&p);
}

/* Publishes two batches; returns which slot holds the newer tail. */
static int two_batches(struct tpool *p, struct famfs_log_pos *older,
		       struct famfs_log_pos *newer)
{
	append_raw(p, 40);
	append_raw(p, 40);
	tpool_publish(p);
	*older = famfs_log_published(p->log);
	append_raw(p, 40);
	tpool_publish(p);
	*newer = famfs_log_published(p->log);
	return le64toh(hdr_of(p)->tail[0].seq) == newer->seq ? 0 : 1;
}

static void test_torn_tail_uses_other_slot(void **state)
{
	struct famfs_log_pos older, newer, tail;
	struct famfs_log_error err;
	struct famfs_log *r;
	struct tpool p;
	int nslot;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	nslot = two_batches(&p, &older, &newer);
	const char *why[FAMFS_LOG_TAIL_SLOTS];

	r = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_int_equal(tail.seq, newer.seq);
	famfs_log_tail_status(r, why);
	assert_null(why[0]);
	assert_null(why[1]);

	/* The newest slot torn: the previous tail, whole, is used. */
	for (size_t b = 0; b < LINE; b++) {
		((uint8_t *)&hdr_of(&p)->tail[nslot])[b] ^= 0x10;
		assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
		assert_int_equal(tail.seq, older.seq);
		assert_int_equal(tail.end, older.end);
		famfs_log_tail_status(r, why);
		assert_non_null(why[nslot]);	/* and the reader can say so */
		assert_null(why[nslot ^ 1]);
		assert_int_equal(read_all(r, &err), (long)older.seq);
		((uint8_t *)&hdr_of(&p)->tail[nslot])[b] ^= 0x10;
	}
	/* The older slot corrupt: the newer one still wins. */
	hdr_of(&p)->tail[nslot ^ 1].end ^= htole64(8);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_int_equal(tail.seq, newer.seq);
	hdr_of(&p)->tail[nslot ^ 1].end ^= htole64(8);
	/* A slot of another log generation (valid CRC) does not count. */
	write_slot(&p, nslot, newer.seq + 5, newer.end, 2);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_int_equal(tail.seq, older.seq);
	famfs_log_tail_status(r, why);
	assert_string_equal(why[nslot], "generation differs from the log");
	famfs_log_free(r);
	pool_free(&p);
}

static void test_both_tail_slots_corrupt(void **state)
{
	struct famfs_log_pos older, newer, tail;
	struct famfs_log_error err;
	struct famfs_log *r;
	struct tpool p;
	int covering = 0;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	two_batches(&p, &older, &newer);
	hdr_of(&p)->tail[0].seq ^= htole64(1);
	hdr_of(&p)->tail[1].epoch ^= htole64(4);
	r = reader(&p, &rec_ops);
	rec_reset();
	memset(&tail, 0xcd, sizeof(tail));
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);
	assert_string_equal(err.reason, "both tail slots are corrupt");
	assert_int_equal(tail.seq, 0xcdcdcdcdcdcdcdcdull);	/* untouched */
	/* R3: it re-read (invalidate, fence) a few times before giving up. */
	for (int i = 0; i < rec.n; i++)
		covering += rec.ev[i].kind == 'I';
	assert_int_equal(covering, FAMFS_LOG_READ_RETRIES);
	assert_int_equal(read_all(r, &err), -EUCLEAN);

	/* A stale line that a re-read fixes: the retry finds the tail. */
	rec_reset();
	rec.heal_at = (uint8_t *)&hdr_of(&p)->tail[0].seq;
	rec.heal_val = *rec.heal_at ^ 1;
	rec.heal_after = 2;
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_int_equal(tail.seq, le64toh(hdr_of(&p)->tail[0].seq));
	famfs_log_free(r);
	pool_free(&p);
}

static void test_tail_past_end(void **state)
{
	struct famfs_log_pos older, newer, tail;
	struct famfs_log_error err;
	struct famfs_log *r;
	struct tpool p;
	uint64_t cap;
	int nslot;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	nslot = two_batches(&p, &older, &newer);
	r = reader(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	cap = famfs_log_capacity(r);

	/* Valid CRC, but the end lies beyond the record area. */
	write_slot(&p, nslot, newer.seq + 1, cap + 8, 1);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);
	assert_string_equal(err.reason, "tail points past the end of the log");
	assert_int_equal(err.offset, cap + 8);
	write_slot(&p, nslot, newer.seq + 1, UINT64_MAX - 7, 1);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);
	write_slot(&p, nslot, newer.seq + 1, newer.end + 4, 1);	/* misaligned */
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);
	write_slot(&p, nslot, newer.seq + 1, 0, 1);		/* records, no bytes */
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);
	write_slot(&p, nslot ^ 1, 0, 64, 1);			/* bytes, no records */
	write_slot(&p, nslot, 0, 64, 1);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);

	/* Inside the area but past the last record: named at that record. */
	write_slot(&p, nslot ^ 1, older.seq, older.end, 1);
	write_slot(&p, nslot, newer.seq + 1, newer.end + 64, 1);
	assert_int_equal(read_all(r, &err), -EUCLEAN);
	assert_int_equal(err.seq, newer.seq + 1);
	assert_int_equal(err.offset, newer.end);
	/* Claims more records than the bytes hold. */
	write_slot(&p, nslot, newer.seq + 2, newer.end, 1);
	assert_int_equal(read_all(r, &err), -EUCLEAN);
	assert_int_equal(err.offset, newer.end);
	assert_string_equal(err.reason, "tail sequence does not match its records");
	/* Claims fewer records than the bytes hold: the extra is not read. */
	write_slot(&p, nslot, newer.seq - 1, newer.end, 1);
	assert_int_equal(read_all(r, &err), -EUCLEAN);
	assert_int_equal(err.seq, newer.seq);
	assert_int_equal(err.offset, older.end);
	assert_string_equal(err.reason, "record beyond the tail's sequence");
	/* An end in the middle of a record. */
	write_slot(&p, nslot, newer.seq, newer.end - 8, 1);
	assert_int_equal(read_all(r, &err), -EUCLEAN);
	assert_int_equal(err.seq, newer.seq);
	/* Restored, it reads clean again. */
	write_slot(&p, nslot, newer.seq, newer.end, 1);
	assert_int_equal(read_all(r, &err), (long)newer.seq);
	famfs_log_free(r);
	pool_free(&p);
}

/* Offsets of records 1..n in the record area; returns n. */
static int record_offsets(struct tpool *p, uint64_t *off, int max)
{
	struct famfs_log_pos pos = { 0 }, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log *r = reader(p, famfs_cache_ops_get(FAMFS_COH_NONE));
	int n = 0;

	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
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

/*
 * A flipped bit anywhere in the published records is reported at exactly
 * the record holding it, after retries, and the reader never passes it.
 */
static void test_record_flip_named_at_exact_seq(void **state)
{
	struct famfs_log_pos pos, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	uint64_t off[32];
	struct famfs_log *r;
	struct tpool p;
	uint8_t *recs;
	int n;

	(void)state;
	pool_new(&p, famfs_cache_ops_get(FAMFS_COH_NONE));
	assert_int_equal(tpool_populate(&p, NULL), 0);
	n = record_offsets(&p, off, 31);
	assert_int_equal(n, 15);
	recs = tpool_recs(&p);
	r = reader(&p, &rec_ops);
	for (int k = 0; k < n; k++) {
		for (uint64_t b = off[k]; b < off[k + 1]; b++) {
			recs[b] ^= (uint8_t)(1u << (b % 8));
			rec_reset();
			assert_int_equal(read_all(r, &err), -EUCLEAN);
			assert_int_equal(err.seq, (uint64_t)k + 1);
			assert_int_equal(err.offset, off[k]);
			assert_non_null(err.reason);
			recs[b] ^= (uint8_t)(1u << (b % 8));
		}
	}
	assert_int_equal(read_all(r, &err), n);

	/* The exact retry behaviour on one CRC flip (record 7). */
	recs[off[6] + 40] ^= 0x01;
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	pos = (struct famfs_log_pos){ 0 };
	for (int k = 0; k < 6; k++)
		assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), 1);
	struct famfs_log_pos stuck = pos;
	int covering = 0;

	rec_reset();
	assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), -EUCLEAN);
	assert_string_equal(err.reason, "record CRC mismatch");
	assert_int_equal(err.seq, 7);
	assert_int_equal(err.offset, off[6]);
	assert_pos_equal(pos, stuck);			/* did not advance */
	uintptr_t bad = (uintptr_t)recs + off[6] + 40;

	for (int i = 0; i < rec.n; i++)
		covering += rec.ev[i].kind == 'I' && rec.ev[i].addr <= bad &&
			    rec.ev[i].addr + rec.ev[i].len > bad;
	/* Re-read from the pool at least on every retry after the first. */
	assert_true(covering >= FAMFS_LOG_READ_RETRIES - 1);
	/* Asking again gives the same answer, never a later record. */
	assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), -EUCLEAN);
	assert_int_equal(err.seq, 7);

	/* A stale line that the re-read fixes: the record is returned. */
	rec_reset();
	rec.heal_at = recs + off[6] + 40;
	rec.heal_val = recs[off[6] + 40] ^ 0x01;
	rec.heal_after = 1;
	assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), 1);
	assert_int_equal(pos.seq, 7);
	assert_ptr_equal(h, (const void *)(recs + off[6]));
	famfs_log_free(r);
	pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_flushes_header_then_fences),
		cmocka_unit_test(test_append_flushes_exactly_its_lines),
		cmocka_unit_test(test_publish_protocol_order),
		cmocka_unit_test(test_batch_publish),
		cmocka_unit_test(test_append_limits_and_full_log),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_writer_start_keeps_the_valid_slot),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_reader_invalidates_before_reading),
		cmocka_unit_test(test_torn_tail_uses_other_slot),
		cmocka_unit_test(test_both_tail_slots_corrupt),
		cmocka_unit_test(test_tail_past_end),
		cmocka_unit_test(test_record_flip_named_at_exact_seq),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
