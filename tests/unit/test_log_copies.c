// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The log's two copies: a flip in every byte of the records in both
 * copies is named at its exact record after retries (R3); in one copy the
 * reader returns the good copy and reports the bad one with its exact
 * copy, sequence and offsets. A record of another generation does not
 * pass (seeded CRCs). Four tail slots: one bad copy of the newest still
 * serves, famfs_log_repair_tail makes the copies agree. The scrub
 * (famfs_log_verify) finds damage in a header line, a tail slot, a
 * checkpoint item, a record, in either copy; famfs_log_repair mends it
 * (copy, flush, fence, check) and a second scrub is clean; damage in both
 * copies is reported as lost and not "repaired".
 */
#include "logrec.h"

/*
 * A flipped bit anywhere in the published records, at the same place in
 * both copies, is reported at exactly the record holding it, after
 * retries of both copies, and the reader never passes it.
 */
static void test_record_flip_named_at_exact_seq(void **state)
{
	struct famfs_log_pos pos, tail;
	const struct famfs_rec_hdr *h;
	struct damages dm = { .n = 0 };
	struct famfs_log_error err;
	uint64_t off[32];
	struct famfs_log *r;
	struct tpool p;
	uint8_t *b0;
	int n;

	(void)state;
	pool_new(&p, none());
	assert_int_equal(tpool_populate(&p, NULL), 0);
	n = record_offsets(&p, off, 31);
	assert_int_equal(n, 15);
	b0 = tpool_body(&p, 0);
	r = reader(&p, &rec_ops);
	famfs_log_set_damage_hook(r, on_damage, &dm);
	for (int k = 0; k < n; k++) {
		for (uint64_t b = off[k]; b < off[k + 1]; b++) {
			tpool_flip(&p, b, (uint8_t)(1u << (b % 8)), TPOOL_BOTH);
			rec_reset();
			dm.n = 0;
			assert_int_equal(read_all(r, &err), -EUCLEAN);
			assert_int_equal(err.seq, (uint64_t)k + 1);
			assert_int_equal(err.offset, off[k]);
			assert_non_null(err.reason);
			/* Reported once, as lost in both copies. */
			assert_int_equal(dm.n, 1);
			assert_true(dm.d[0].both);
			assert_int_equal(dm.d[0].part, FAMFS_LOG_PART_RECORD);
			assert_int_equal(dm.d[0].seq, (uint64_t)k + 1);
			assert_int_equal(dm.d[0].offset, off[k]);
			tpool_flip(&p, b, (uint8_t)(1u << (b % 8)), TPOOL_BOTH);
		}
	}
	dm.n = 0;
	assert_int_equal(read_all(r, &err), n);
	assert_int_equal(dm.n, 0);

	/* The exact retry behaviour on one CRC flip (record 7). */
	tpool_flip(&p, off[6] + 40, 0x01, TPOOL_BOTH);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	pos = famfs_log_start(r);
	for (int k = 0; k < 6; k++)
		assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), 1);
	struct famfs_log_pos stuck = pos;
	int covering[2] = { 0, 0 };

	rec_reset();
	assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), -EUCLEAN);
	assert_string_equal(err.reason, "record CRC mismatch");
	assert_int_equal(err.seq, 7);
	assert_int_equal(err.offset, off[6]);
	assert_pos_equal(pos, stuck);			/* did not advance */
	for (unsigned int c = 0; c < 2; c++) {
		uintptr_t bad = (uintptr_t)tpool_body(&p, c) + off[6] + 40;

		for (int i = 0; i < rec.n; i++)
			covering[c] += rec.ev[i].kind == 'I' &&
				       rec.ev[i].addr <= bad &&
				       rec.ev[i].addr + rec.ev[i].len > bad;
		/* Re-read from the pool at least on every retry after the first. */
		assert_true(covering[c] >= FAMFS_LOG_READ_RETRIES - 1);
	}
	/* Asking again gives the same answer, never a later record. */
	assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), -EUCLEAN);
	assert_int_equal(err.seq, 7);

	/* A stale line in copy 0 that the re-read fixes: copy 0 is returned. */
	tpool_flip(&p, off[6] + 40, 0x01, TPOOL_COPY1);
	rec_reset();
	dm.n = 0;
	rec.heal_at = b0 + off[6] + 40;
	rec.heal_val = b0[off[6] + 40] ^ 0x01;
	rec.heal_after = 1;
	assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), 1);
	assert_int_equal(pos.seq, 7);
	assert_memory_equal(h, b0 + off[6], le32toh(h->len));
	assert_int_equal(dm.n, 0);			/* nothing was damaged */
	famfs_log_free(r);
	pool_free(&p);
}

/*
 * A flipped bit anywhere in one copy of the records: the reader returns
 * every record (the good copy's bytes) and reports the bad copy with its
 * exact record, offsets and length; a bad copy 1 is not read at all.
 */
static void test_record_flip_in_one_copy(void **state)
{
	const struct famfs_rec_hdr *h;
	struct damages dm = { .n = 0 };
	struct famfs_log_pos pos, tail;
	struct famfs_log_error err;
	uint64_t off[32], area0;
	struct famfs_log *r;
	struct tpool p;
	int n;

	(void)state;
	pool_new(&p, none());
	assert_int_equal(tpool_populate(&p, NULL), 0);
	n = record_offsets(&p, off, 31);
	area0 = (uint64_t)(tpool_area(&p, 0) - tpool_log_base(&p));
	r = reader(&p, none());
	famfs_log_set_damage_hook(r, on_damage, &dm);
	for (int k = 0; k < n; k++) {
		for (uint64_t b = off[k]; b < off[k + 1]; b++) {
			uint8_t mask = (uint8_t)(1u << (b % 8));

			tpool_flip(&p, b, mask, TPOOL_COPY0);
			dm.n = 0;
			assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
			pos = famfs_log_start(r);
			for (int i = 0; i < n; i++) {
				assert_int_equal(famfs_log_next(r, &pos, &tail, &h,
								&err), 1);
				/* Record k from copy 1, the others from copy 0. */
				assert_memory_equal(h, tpool_body(&p, i == k) + off[i],
						    le32toh(h->len));
			}
			assert_int_equal(famfs_log_next(r, &pos, &tail, &h, &err), 0);
			assert_int_equal(dm.n, 1);
			assert_int_equal(dm.d[0].part, FAMFS_LOG_PART_RECORD);
			assert_int_equal(dm.d[0].copy, 0);
			assert_false(dm.d[0].both);
			assert_int_equal(dm.d[0].seq, (uint64_t)k + 1);
			assert_int_equal(dm.d[0].offset, off[k]);
			assert_int_equal(dm.d[0].log_offset,
					 area0 + FAMFS_LOG_HDR_SIZE + off[k]);
			assert_int_equal(dm.d[0].len, off[k + 1] - off[k]);
			tpool_flip(&p, b, mask, TPOOL_COPY0);

			/* Copy 1 alone bad: the reader reads copy 0, unaware. */
			tpool_flip(&p, b, mask, TPOOL_COPY1);
			dm.n = 0;
			assert_int_equal(read_all(r, &err), n);
			assert_int_equal(dm.n, 0);
			tpool_flip(&p, b, mask, TPOOL_COPY1);
		}
	}
	/* Different records bad in different copies: all still read. */
	tpool_flip(&p, off[2] + 3, 0x20, TPOOL_COPY0);
	tpool_flip(&p, off[3] + 3, 0x20, TPOOL_COPY1);
	tpool_flip(&p, off[4], 0xff, TPOOL_COPY0);	/* its CRC field */
	dm.n = 0;
	assert_int_equal(read_all(r, &err), n);
	assert_int_equal(dm.n, 2);
	assert_int_equal(dm.d[0].seq, 3);
	assert_int_equal(dm.d[1].seq, 5);
	famfs_log_free(r);
	pool_free(&p);
}

/*
 * Record CRCs are seeded with the generation: generation 3 reuses
 * generation 1's areas, and generation 1's records there, at the very
 * offsets a tail of generation 3 would name, are refused; re-sealed with
 * generation 3's seed, the same bytes read.
 */
static void test_other_generation_record_refused(void **state)
{
	struct famfs_log_pos g1_tail;
	struct famfs_log_error err;
	struct famfs_log *g3, *r = NULL;
	uint64_t off[32];
	struct tpool p;
	int n;

	(void)state;
	pool_new(&p, none());
	assert_int_equal(tpool_populate(&p, NULL), 0);
	n = record_offsets(&p, off, 31);
	g1_tail = famfs_log_published(p.log);
	assert_int_equal(tpool_compact(&p), 0);		/* now generation 2 */
	/* An empty generation 3 (no checkpoint), sealed over generation 1's. */
	assert_int_equal(famfs_log_create(tpool_log_base(&p), p.info.log_size, 3,
					  none(), &g3), 0);
	famfs_log_ckpt_seal(g3, &(struct famfs_log_base){ .max_ino = 1 });
	famfs_log_free(g3);
	assert_int_equal(famfs_log_open(tpool_log_base(&p), p.info.log_size, 3,
					none(), &r, &err), 0);
	/* A tail of generation 3 claiming generation 1's records. */
	for (unsigned int c = 0; c < 2; c++) {
		struct famfs_log_tail *t = &((struct famfs_log_hdr *)
					     tpool_gen_area(&p, 3, c))->tail[1];

		memset(t, 0, sizeof(*t));
		t->seq = htole64(g1_tail.seq);
		t->end = htole64(g1_tail.end);
		t->generation = htole64(3);
		t->epoch = htole64(1);
		t->crc = htole32(famfs_crc_struct(t, sizeof(*t)));
	}
	assert_int_equal(read_all(r, &err), -EUCLEAN);
	assert_int_equal(err.seq, 1);
	assert_int_equal(err.offset, 0);
	assert_string_equal(err.reason, "record CRC mismatch");
	/* The seed is the only difference: with generation 3's, they read. */
	for (int k = 0; k < n; k++)
		for (unsigned int c = 0; c < 2; c++) {
			struct famfs_rec_hdr *h = (void *)(tpool_gen_area(&p, 3, c) +
							   FAMFS_LOG_HDR_SIZE + off[k]);

			h->crc = htole32(famfs_rec_crc(h, le32toh(h->len), 3));
		}
	assert_int_equal(read_all(r, &err), n);
	famfs_log_free(r);
	pool_free(&p);
}

/*
 * Four tail slots: the newest damaged in copy 0 only is still read from
 * copy 1, reported with its place; famfs_log_repair_tail then makes both
 * copies' slots agree, flushing only the slots it rewrote, fenced once.
 */
static void test_tail_slot_copies_and_repair(void **state)
{
	const char *why[FAMFS_LOG_TAIL_SLOTS];
	struct famfs_log_pos older, newer, tail;
	struct damages dm = { .n = 0 };
	struct famfs_log_error err;
	struct lines flushed = { .n = 0 }, want = { .n = 0 };
	struct famfs_log *r;
	struct tpool p;
	uint64_t area0, area1;
	int nslot;

	(void)state;
	pool_new(&p, none());
	nslot = two_batches(&p, &older, &newer);
	area0 = (uint64_t)(tpool_area(&p, 0) - tpool_log_base(&p));
	area1 = (uint64_t)(tpool_area(&p, 1) - tpool_log_base(&p));
	r = reader(&p, &rec_ops);
	famfs_log_set_damage_hook(r, on_damage, &dm);

	for (size_t b = 0; b < LINE; b++) {
		((uint8_t *)&hdr_of(&p, 0)->tail[nslot])[b] ^= 0x40;
		dm.n = 0;
		assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
		assert_pos_equal(tail, newer);
		famfs_log_tail_status(r, why);
		for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
			assert_true((why[s] != NULL) == (s == (unsigned int)nslot));
		assert_int_equal(dm.n, 1);
		assert_int_equal(dm.d[0].part, FAMFS_LOG_PART_TAIL);
		assert_int_equal(dm.d[0].copy, 0);
		assert_false(dm.d[0].both);
		assert_int_equal(dm.d[0].seq, (uint64_t)nslot);
		assert_int_equal(dm.d[0].offset, (uint64_t)(LINE + nslot * LINE));
		assert_int_equal(dm.d[0].log_offset, area0 + LINE + nslot * LINE);
		assert_int_equal(dm.d[0].len, LINE);
		assert_int_equal(read_all(r, &err), (long)newer.seq);
		((uint8_t *)&hdr_of(&p, 0)->tail[nslot])[b] ^= 0x40;
		/* A slot is reported when it turns bad, not on every read. */
		assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	}

	/* The older slot bad in copy 1, the newer in copy 0: both repaired. */
	((uint8_t *)&hdr_of(&p, 0)->tail[nslot])[9] ^= 0x01;
	((uint8_t *)&hdr_of(&p, 1)->tail[nslot ^ 1])[17] ^= 0x80;
	dm.n = 0;
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_pos_equal(tail, newer);
	assert_int_equal(dm.n, 2);
	assert_int_equal(dm.d[1].copy, 1);
	assert_int_equal(dm.d[1].log_offset, area1 + LINE + (nslot ^ 1) * LINE);
	rec_reset();
	assert_int_equal(famfs_log_repair_tail(r), 0);
	for (int i = 0; i < rec.n; i++)
		if (rec.ev[i].kind == 'F')
			lines_add(&flushed, rec.ev[i].addr, rec.ev[i].len);
	assert_int_equal(rec.ev[rec.n - 1].kind, 'W');
	for (int i = 0; i < rec.n - 1; i++)
		assert_int_not_equal(rec.ev[i].kind, 'W');
	for (unsigned int c = 0; c < 2; c++)
		lines_add(&want, (uintptr_t)&hdr_of(&p, c)->tail[c ? nslot ^ 1 : nslot],
			  LINE);
	/* Rewriting a slot writes it in both copies; the others are left. */
	for (size_t i = 0; i < want.n; i++)
		assert_true(lines_has(&flushed, want.v[i]));
	assert_true(flushed.n <= 4);
	for (size_t i = 0; i < flushed.n; i++) {
		int hit = 0;

		for (unsigned int c = 0; c < 2; c++)
			for (int s = 0; s < 2; s++)
				hit += flushed.v[i] ==
				       (uintptr_t)&hdr_of(&p, c)->tail[s];
		assert_int_equal(hit, 1);
	}
	assert_memory_equal(hdr_of(&p, 0)->tail, hdr_of(&p, 1)->tail,
			    sizeof(hdr_of(&p, 0)->tail));
	assert_int_equal(le64toh(hdr_of(&p, 1)->tail[nslot].seq), newer.seq);
	assert_int_equal(le64toh(hdr_of(&p, 0)->tail[nslot ^ 1].seq), older.seq);
	dm.n = 0;
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_pos_equal(tail, newer);
	famfs_log_tail_status(r, why);
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		assert_null(why[s]);
	assert_int_equal(dm.n, 0);

	/* The newest slot bad in both copies: each named, both lost. */
	((uint8_t *)&hdr_of(&p, 0)->tail[nslot])[3] ^= 0x01;
	((uint8_t *)&hdr_of(&p, 1)->tail[nslot])[40] ^= 0x01;
	dm.n = 0;
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_pos_equal(tail, older);
	assert_int_equal(dm.n, 2);
	for (unsigned int c = 0; c < 2; c++) {
		assert_int_equal(dm.d[c].copy, c);
		assert_int_equal(dm.d[c].seq, (uint64_t)nslot);
		assert_true(dm.d[c].both);
	}
	assert_int_equal(famfs_log_repair(r, &dm.d[0]), -EUCLEAN);
	((uint8_t *)&hdr_of(&p, 0)->tail[nslot])[3] ^= 0x01;
	((uint8_t *)&hdr_of(&p, 1)->tail[nslot])[40] ^= 0x01;
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), 0);
	assert_pos_equal(tail, newer);

	/* Nothing to mend: the slots stay as they are. */
	rec_reset();
	assert_int_equal(famfs_log_repair_tail(r), 0);
	for (int i = 0; i < rec.n; i++)
		assert_int_not_equal(rec.ev[i].kind, 'F');
	/* No good slot anywhere: nothing to repair from. */
	for (unsigned int c = 0; c < 2; c++)
		for (int s = 0; s < 2; s++)
			hdr_of(&p, c)->tail[s].crc ^= htole32(2);
	assert_int_equal(famfs_log_repair_tail(r), -EUCLEAN);
	famfs_log_free(r);
	pool_free(&p);
}

/* ---- scrub and repair ------------------------------------------------------ */

/*
 * A whole scrub: header, tails, every item, every record, each with both
 * copies checked. Returns how many parts were lost in both copies.
 */
static int scrub(struct famfs_log *log, struct damages *dm)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_log_error err;
	int lost = 0;
	long n;

	dm->n = 0;
	lost += famfs_log_verify(log, FAMFS_LOG_PART_HEADER, &pos, NULL) < 0;
	n = famfs_log_verify(log, FAMFS_LOG_PART_TAIL, &pos, NULL);
	if (n < 0)
		return lost + 1;
	assert_int_equal(n, 2 * LINE);
	assert_int_equal(famfs_log_read_tail(log, &tail, &err), 0);
	while ((n = famfs_log_verify(log, FAMFS_LOG_PART_ITEM, &pos, &tail)) > 0)
		;
	lost += n < 0;
	pos = famfs_log_start(log);
	while ((n = famfs_log_verify(log, FAMFS_LOG_PART_RECORD, &pos, &tail)) > 0)
		;
	lost += n < 0;
	if (n == 0) {		/* the scrub keeps seq and end (not the epoch) */
		assert_int_equal(pos.seq, tail.seq);
		assert_int_equal(pos.end, tail.end);
	}
	return lost;
}

/* A generation with a checkpoint (9 items) and 4 records after it. */
static void compacted_pool(struct tpool *p, uint64_t *item_off, int *n_items,
			   uint64_t *rec_off, int *n_recs)
{
	struct famfs_log_pos pos = { 0 };
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log *r;

	pool_new(p, none());
	assert_int_equal(tpool_populate(p, NULL), 0);
	assert_int_equal(tpool_compact(p), 0);
	watch_gen(p, 2);
	assert_int_equal(tpool_mkdir(p, FAMFS_ROOT_INO, "after", NULL), 0);
	assert_int_equal(tpool_create(p, FAMFS_ROOT_INO, "f", 4096, "acme", NULL), 0);
	tpool_publish(p);
	assert_int_equal(tpool_mkdir(p, FAMFS_ROOT_INO, "again", NULL), 0);
	assert_int_equal(tpool_quota(p, "gamma", 1, 2), 0);
	tpool_publish(p);
	r = reader(p, none());
	*n_items = 0;
	for (;;) {
		item_off[*n_items] = pos.end;
		if (famfs_log_ckpt_next(r, &pos, &h, &err) != 1)
			break;
		++*n_items;
	}
	assert_int_equal(*n_items, 9);
	famfs_log_free(r);
	*n_recs = record_offsets(p, rec_off, 31);
	assert_int_equal(*n_recs, 4);
	assert_int_equal(rec_off[0], item_off[*n_items]);
}

/* Damage at area offset `at` in the copies named; scrub; repair each. */
static void damage_and_repair(struct tpool *p, uint64_t at, uint8_t mask,
			      unsigned int copies, enum famfs_log_part part,
			      uint64_t want_seq, uint64_t want_off)
{
	struct damages dm = { .n = 0 }, again = { .n = 0 };
	struct famfs_log *r = reader(p, none());
	unsigned int bad = copies == TPOOL_COPY1;
	uint64_t area = (uint64_t)(tpool_area(p, bad) - tpool_log_base(p));
	int lost;

	/* Damage while the reader runs (a bad header before: test_open_errors). */
	famfs_log_set_damage_hook(r, on_damage, &dm);
	tpool_flip_area(p, at, mask, copies);
	lost = scrub(r, &dm);
	assert_int_equal(lost, copies == TPOOL_BOTH);
	assert_true(dm.n >= 1);
	assert_int_equal(dm.d[0].part, part);
	assert_int_equal(dm.d[0].seq, want_seq);
	assert_int_equal(dm.d[0].offset, want_off);
	if (copies == TPOOL_BOTH) {
		/* Both copies named, each lost, and no repair possible. */
		assert_int_equal(dm.n, 2);
		assert_int_equal(dm.d[0].copy, 0);
		assert_int_equal(dm.d[1].copy, 1);
		assert_true(dm.d[0].both && dm.d[1].both);
		assert_int_equal(famfs_log_repair(r, &dm.d[0]), -EUCLEAN);
		assert_int_equal(famfs_log_repair(r, &dm.d[1]), -EUCLEAN);
		tpool_flip_area(p, at, mask, copies);
	} else {
		assert_int_equal(dm.n, 1);
		assert_int_equal(dm.d[0].copy, bad);
		assert_false(dm.d[0].both);
		assert_int_equal(dm.d[0].log_offset,
				 area + (part == FAMFS_LOG_PART_ITEM ||
					 part == FAMFS_LOG_PART_RECORD ?
					 FAMFS_LOG_HDR_SIZE : 0) + want_off);
		assert_int_equal(famfs_log_repair(r, &dm.d[0]), 0);
		/* Mended in place: the copies are the same again. */
		assert_int_equal(tpool_area(p, bad)[at], tpool_area(p, !bad)[at]);
	}
	famfs_log_free(r);
	/* A second scrub, on a fresh reader, is clean. */
	r = reader(p, none());
	famfs_log_set_damage_hook(r, on_damage, &again);
	assert_int_equal(scrub(r, &again), 0);
	assert_int_equal(again.n, 0);
	famfs_log_free(r);
	assert_memory_equal(tpool_area(p, 0), tpool_area(p, 1),
			    FAMFS_LOG_HDR_SIZE + famfs_log_published(p->log).end);
}

/*
 * famfs_log_verify finds damage in a header line, a tail slot, a
 * checkpoint item and a record, in either copy; famfs_log_repair mends
 * it and a second scrub is clean. Lost in both copies: both reported,
 * both=true, and repair refuses with -EUCLEAN.
 */
static void test_verify_and_repair(void **state)
{
	static const unsigned int which[] = { TPOOL_COPY0, TPOOL_COPY1, TPOOL_BOTH };
	uint64_t item_off[32], rec_off[32], base_seq;
	int n_items, n_recs;
	struct tpool p;

	(void)state;
	compacted_pool(&p, item_off, &n_items, rec_off, &n_recs);
	base_seq = famfs_log_base(p.log).seq;
	assert_int_equal(base_seq, 15);
	for (size_t w = 0; w < 3; w++) {
		/* Header line 0: a field, the CRC. */
		damage_and_repair(&p, 16, 0x04, which[w], FAMFS_LOG_PART_HEADER, 0, 0);
		damage_and_repair(&p, 60, 0x80, which[w], FAMFS_LOG_PART_HEADER, 0, 0);
		/* Each checkpoint item; each record. */
		for (int k = 0; k < n_items; k++)
			damage_and_repair(&p, FAMFS_LOG_HDR_SIZE + item_off[k] +
					  (uint64_t)(k * 5) % (item_off[k + 1] -
							       item_off[k]),
					  0x10, which[w], FAMFS_LOG_PART_ITEM,
					  (uint64_t)k + 1, item_off[k]);
		for (int k = 0; k < n_recs; k++)
			damage_and_repair(&p, FAMFS_LOG_HDR_SIZE + rec_off[k] + 33,
					  0x02, which[w], FAMFS_LOG_PART_RECORD,
					  base_seq + (uint64_t)k + 1, rec_off[k]);
	}
	/* A tail slot, either one, in one copy (both copies: see above). */
	for (size_t w = 0; w < 2; w++)
		for (uint64_t s = 0; s < 2; s++)
			damage_and_repair(&p, LINE + s * LINE + 8, 0x01, which[w],
					  FAMFS_LOG_PART_TAIL, s, LINE + s * LINE);
	pool_free(&p);
}

/*
 * Two copies that both pass their checks but differ (a record of copy 1
 * rewritten, valid CRC, 8 bytes shorter): readers take copy 0, so the
 * scrub must walk by copy 0's lengths too, name copy 1 as the bad one,
 * and repair must bring copy 1 in line; a scrub walking by copy 1's
 * length would lose its place and call the next record lost in both.
 */
static void test_copies_that_differ(void **state)
{
	struct damages dm = { .n = 0 };
	struct famfs_log_error err;
	struct famfs_rec_hdr *h1;
	uint64_t off[32];
	struct famfs_log *r;
	struct tpool p;
	uint32_t len;
	int n;

	(void)state;
	pool_new(&p, none());
	assert_int_equal(tpool_populate(&p, NULL), 0);
	n = record_offsets(&p, off, 31);
	len = (uint32_t)(off[5] - off[4]);		/* record 5 */
	assert_true(len >= 48);
	h1 = (void *)(tpool_body(&p, 1) + off[4]);
	h1->len = htole32(len - 8);
	h1->crc = htole32(famfs_rec_crc(h1, len - 8, p.info.log_generation));
	r = reader(&p, none());
	famfs_log_set_damage_hook(r, on_damage, &dm);
	assert_int_equal(read_all(r, &err), n);		/* copy 0 throughout */
	assert_int_equal(dm.n, 0);
	assert_int_equal(scrub(r, &dm), 0);
	assert_int_equal(dm.n, 1);
	assert_int_equal(dm.d[0].part, FAMFS_LOG_PART_RECORD);
	assert_int_equal(dm.d[0].copy, 1);
	assert_false(dm.d[0].both);
	assert_int_equal(dm.d[0].seq, 5);
	assert_int_equal(dm.d[0].offset, off[4]);
	assert_int_equal(dm.d[0].len, len);
	assert_int_equal(famfs_log_repair(r, &dm.d[0]), 0);
	assert_memory_equal(tpool_body(&p, 0), tpool_body(&p, 1), off[n]);
	assert_int_equal(scrub(r, &dm), 0);
	assert_int_equal(dm.n, 0);
	famfs_log_free(r);
	pool_free(&p);
}

/* famfs_log_repair: the good bytes copied over, flushed, fenced, checked. */
static void test_repair_protocol(void **state)
{
	uint64_t item_off[32], rec_off[32];
	struct damages dm = { .n = 0 };
	struct lines flushed = { .n = 0 }, want = { .n = 0 };
	struct famfs_log *r;
	struct tpool p;
	int n_items, n_recs, w = -1;
	uint32_t len;

	(void)state;
	compacted_pool(&p, item_off, &n_items, rec_off, &n_recs);
	len = (uint32_t)(rec_off[2] - rec_off[1]);
	r = reader(&p, &rec_ops);
	famfs_log_set_damage_hook(r, on_damage, &dm);
	/* Record 2 after the checkpoint, bad in copy 1. */
	tpool_flip(&p, rec_off[1] + 20, 0x01, TPOOL_COPY1);
	assert_int_equal(scrub(r, &dm), 0);
	assert_int_equal(dm.n, 1);
	assert_int_equal(dm.d[0].len, len);
	rec_reset();
	assert_int_equal(famfs_log_repair(r, &dm.d[0]), 0);
	for (int i = 0; i < rec.n; i++)
		if (rec.ev[i].kind == 'F' || rec.ev[i].kind == 'W') {
			w = i;
			break;
		}
	/* Exactly the record's lines in copy 1, good bytes by then; fence. */
	assert_true(w >= 0);
	for (; w < rec.n && rec.ev[w].kind == 'F'; w++) {
		assert_int_equal(rec.ev[w].range_crc,
				 famfs_crc32c(tpool_body(&p, 0) + rec_off[1], len));
		lines_add(&flushed, rec.ev[w].addr, rec.ev[w].len);
	}
	lines_add(&want, (uintptr_t)tpool_body(&p, 1) + rec_off[1], len);
	assert_same_lines(&flushed, &want);
	assert_true(w < rec.n);
	assert_int_equal(rec.ev[w].kind, 'W');
	/* No other write-side step, and the rewrite is read back (I, R) after. */
	for (int i = w + 1; i < rec.n; i++)
		assert_true(rec.ev[i].kind == 'I' || rec.ev[i].kind == 'R');
	assert_true(rec.n > w + 2);
	assert_memory_equal(tpool_body(&p, 0) + rec_off[1],
			    tpool_body(&p, 1) + rec_off[1], len);

	/* The header line of copy 0: that one line, then a fence. */
	dm.n = 0;
	tpool_flip_area(&p, 8, 0x01, TPOOL_COPY0);
	assert_int_equal(famfs_log_verify(r, FAMFS_LOG_PART_HEADER, NULL, NULL),
			 (long)HDR_USED);
	assert_int_equal(dm.n, 1);
	rec_reset();
	assert_int_equal(famfs_log_repair(r, &dm.d[0]), 0);
	w = -1;
	for (int i = 0; i < rec.n; i++) {
		if (rec.ev[i].kind == 'F') {
			assert_int_equal(w, -1);
			assert_int_equal(rec.ev[i].addr, (uintptr_t)tpool_area(&p, 0));
			assert_int_equal(rec.ev[i].len, LINE);
			w = i;
		}
	}
	assert_true(w >= 0 && w + 1 < rec.n);
	assert_int_equal(rec.ev[w + 1].kind, 'W');
	for (int i = 0; i < rec.n; i++)
		assert_true(rec.ev[i].kind != 'W' || i == w + 1);
	assert_memory_equal(tpool_area(&p, 0), tpool_area(&p, 1), LINE);

	/* A damage report that does not fit the log is refused. */
	struct famfs_log_damage bogus = dm.d[0];

	bogus.part = FAMFS_LOG_PART_RECORD;
	bogus.offset = famfs_log_capacity(r) - 8;
	bogus.len = 64;
	assert_int_equal(famfs_log_repair(r, &bogus), -EINVAL);
	bogus.len = 8;
	assert_int_equal(famfs_log_repair(r, &bogus), -EINVAL);
	famfs_log_free(r);
	pool_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_flip_named_at_exact_seq),
		cmocka_unit_test(test_record_flip_in_one_copy),
		cmocka_unit_test(test_other_generation_record_refused),
		cmocka_unit_test(test_tail_slot_copies_and_repair),
		cmocka_unit_test(test_verify_and_repair),
		cmocka_unit_test(test_copies_that_differ),
		cmocka_unit_test(test_repair_protocol),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
