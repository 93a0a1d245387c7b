// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "guard.h"
#include "log.h"

/* Readers invalidate ahead in windows this large, not line by line. */
#define INVALIDATE_WINDOW	(64u << 10)

/*
 * What a reader says of a copy whose lines faulted (SIGBUS caught by the
 * guard, lib/guard.h): it is damaged like any other bad copy, so the other
 * copy is read and the master repairs (or finds the line still bad).
 */
#define FAULT_WHY	"memory error: the lines fault (poisoned, or the pool file was truncated)"

/* Bytes of the area header that hold anything: line 0 and the two slots. */
#define HDR_USED		sizeof(struct famfs_log_hdr)

struct famfs_log {
	uint8_t *area[FAMFS_LOG_COPIES];	/* this generation's two copies */
	uint64_t area_off[FAMFS_LOG_COPIES];	/* from the log region's start */
	uint64_t capacity;		/* bytes in an area's body */
	uint64_t generation;
	uint32_t crc_seed;
	struct famfs_log_base base;
	const struct famfs_cache_ops *ops;
	famfs_log_damage_fn damage_fn;
	void *damage_ctx;
	const char *hdr_why[FAMFS_LOG_COPIES];	/* found at open */
	/* reader: [inval_start, inval_end) of each copy, since the tail read */
	uint64_t inval_start[FAMFS_LOG_COPIES], inval_end[FAMFS_LOG_COPIES];
	const char *slot_why[FAMFS_LOG_TAIL_SLOTS];	/* R1's verdicts */
	/* writer */
	struct famfs_log_pos appended;	/* after the last appended record */
	struct famfs_log_pos published;	/* what the tail says */
	unsigned int next_slot;		/* tail slot the next publish writes */
	bool ckpt_mode;			/* created, checkpoint not sealed yet */
	/*
	 * Readers check a record here, copied out of the pool under a guard,
	 * and hand this copy out: the bytes the CRC passed are the bytes the
	 * caller decodes, and a line that goes bad after the check cannot
	 * fault in the caller (which holds locks and half-applied state).
	 */
	uint64_t bounce[FAMFS_REC_MAX_SIZE / sizeof(uint64_t)];
};

static struct famfs_log_hdr *hdr_of(const struct famfs_log *log, unsigned int c)
{
	return (struct famfs_log_hdr *)log->area[c];
}

static uint8_t *body_of(const struct famfs_log *log, unsigned int c)
{
	return log->area[c] + FAMFS_LOG_HDR_SIZE;
}

uint32_t famfs_rec_crc(const struct famfs_rec_hdr *h, uint32_t len,
		       uint64_t generation)
{
	uint32_t s = famfs_crc32c_init() ^ FAMFS_REC_CRC_SEED(generation);

	s = famfs_crc32c_update(s, (const uint8_t *)h + sizeof(h->crc),
				len - sizeof(h->crc));
	return famfs_crc32c_final(s);
}

const char *famfs_log_part_name(enum famfs_log_part p)
{
	switch (p) {
	case FAMFS_LOG_PART_HEADER:
		return "area header";
	case FAMFS_LOG_PART_TAIL:
		return "tail slot";
	case FAMFS_LOG_PART_ITEM:
		return "checkpoint item";
	case FAMFS_LOG_PART_RECORD:
		return "record";
	}
	return "unknown";
}

static void report(struct famfs_log *log, const struct famfs_log_damage *d)
{
	struct famfs_log_damage full = *d;

	if (!log->damage_fn)
		return;
	full.log_offset = log->area_off[d->copy] +
			  (d->part == FAMFS_LOG_PART_ITEM ||
			   d->part == FAMFS_LOG_PART_RECORD ?
			   FAMFS_LOG_HDR_SIZE + d->offset : d->offset);
	log->damage_fn(log->damage_ctx, &full);
}

/* ---- the area header ------------------------------------------------------ */

/*
 * The pool's slots and headers are read while the master writes them (and,
 * across hosts, without coherent caches): the master builds each in a
 * private copy and stores it with one memcpy, so a slot is never seen
 * zeroed half way; readers decode a private snapshot, so the bytes the CRC
 * vouched for are the bytes decoded.
 */
static void tail_encode(struct famfs_log_tail *dst, const struct famfs_log_pos *p,
			uint64_t generation)
{
	struct famfs_log_tail t = {
		.seq = htole64(p->seq),
		.end = htole64(p->end),
		.generation = htole64(generation),
		.epoch = htole64(p->epoch),
	};

	t.crc = htole32(famfs_crc_struct(&t, sizeof(t)));
	memcpy(dst, &t, sizeof(t));
}

/* Line 0 of an area header (the tail slots are not touched). */
static void hdr_encode(struct famfs_log_hdr *dst, uint64_t generation,
		       const struct famfs_log_base *b)
{
	struct famfs_log_hdr h = {
		.magic = htole64(FAMFS_LOG_MAGIC),
		.generation = htole64(generation),
		.base_seq = htole64(b->seq),
		.base_epoch = htole64(b->epoch),
		.max_ino = htole64(b->max_ino),
		.ckpt_bytes = htole64(b->ckpt_bytes),
		.ckpt_items = htole64(b->ckpt_items),
	};

	h.crc = htole32(famfs_crc32c(&h, offsetof(struct famfs_log_hdr, crc)));
	memcpy(dst, &h, offsetof(struct famfs_log_hdr, tail));
}

/* Decodes header line 0; NULL when it is good, else why not. */
static const char *hdr_decode(const struct famfs_log_hdr *src, uint64_t generation,
			      uint64_t capacity, struct famfs_log_base *b)
{
	struct famfs_log_hdr snap, *h = &snap;

	memcpy(h, src, offsetof(struct famfs_log_hdr, tail));
	if (le64toh(h->magic) != FAMFS_LOG_MAGIC)
		return "log header: bad magic";
	if (le32toh(h->crc) != famfs_crc32c(h, offsetof(struct famfs_log_hdr, crc)))
		return "log header: CRC mismatch";
	if (le64toh(h->generation) != generation)
		return "log header: generation differs from superblock";
	b->seq = le64toh(h->base_seq);
	b->epoch = le64toh(h->base_epoch);
	b->max_ino = le64toh(h->max_ino);
	b->ckpt_bytes = le64toh(h->ckpt_bytes);
	b->ckpt_items = le64toh(h->ckpt_items);
	if (b->ckpt_bytes > capacity || b->ckpt_bytes % FAMFS_REC_ALIGN ||
	    b->ckpt_items > b->ckpt_bytes / sizeof(struct famfs_rec_hdr) ||
	    (b->ckpt_items == 0) != (b->ckpt_bytes == 0) ||
	    b->max_ino < FAMFS_ROOT_INO)
		return "log header: checkpoint size or count is impossible";
	return NULL;
}

/* memcmp of two pool ranges under a guard; a fault counts as a difference. */
static bool differ(const void *x, const void *y, size_t len)
{
	struct famfs_guard g;
	bool d;

	if (!famfs_guard_begin(&g))
		return true;
	d = memcmp(x, y, len) != 0;
	famfs_guard_end(&g);
	return d;
}

/* Line 0 of copy c, invalidated first, under a guard: NULL when good. */
static const char *hdr_read_one(struct famfs_log *log, unsigned int c,
				struct famfs_log_base *b)
{
	struct famfs_guard g;
	const char *why;

	if (!famfs_guard_begin(&g))
		return "log header: " FAULT_WHY;
	log->ops->invalidate(hdr_of(log, c), offsetof(struct famfs_log_hdr, tail));
	log->ops->rfence();
	why = hdr_decode(hdr_of(log, c), log->generation, log->capacity, b);
	famfs_guard_end(&g);
	return why;
}

/* Both copies of line 0; which are good. */
static void hdr_read(struct famfs_log *log, struct famfs_log_base b[2],
		     const char *why[2])
{
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		why[c] = hdr_read_one(log, c, &b[c]);
	if (!why[0] && !why[1] &&
	    differ(hdr_of(log, 0), hdr_of(log, 1), offsetof(struct famfs_log_hdr, tail)))
		why[1] = "log header: copy 1 differs from copy 0";
}

static int log_new(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		   const struct famfs_cache_ops *ops, struct famfs_log **ret,
		   const char **why)
{
	uint64_t area = famfs_log_area_size(log_size);
	struct famfs_log *log;

	if (generation == 0) {
		*why = "log generation 0 does not exist";
		return -EUCLEAN;
	}
	if (area <= FAMFS_LOG_HDR_SIZE) {
		*why = "log region smaller than its headers";
		return -EUCLEAN;
	}
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		log->area_off[c] = famfs_log_area_offset(log_size, generation, c);
		log->area[c] = log_base + log->area_off[c];
	}
	log->capacity = area - FAMFS_LOG_HDR_SIZE;
	log->generation = generation;
	log->crc_seed = FAMFS_REC_CRC_SEED(generation);
	log->ops = ops;
	*ret = log;
	return 0;
}

int famfs_log_open(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		   const struct famfs_cache_ops *ops, struct famfs_log **ret,
		   struct famfs_log_error *err)
{
	struct famfs_log_base b[2];
	struct famfs_log *log;
	const char *why[2];
	int r;

	*err = (struct famfs_log_error){ 0 };
	r = log_new(log_base, log_size, generation, ops, &log, &err->reason);
	if (r < 0)
		return r;
	hdr_read(log, b, why);
	if (why[0] && why[1]) {
		err->reason = why[0];
		free(log);
		return -EUCLEAN;
	}
	log->base = b[why[0] ? 1 : 0];
	log->hdr_why[0] = why[0];
	log->hdr_why[1] = why[1];
	*ret = log;
	return 0;
}

void famfs_log_free(struct famfs_log *log)
{
	free(log);
}

void famfs_log_set_damage_hook(struct famfs_log *log, famfs_log_damage_fn fn,
			       void *ctx)
{
	log->damage_fn = fn;
	log->damage_ctx = ctx;
	/* What the open found, now that someone listens. */
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (log->hdr_why[c])
			report(log, &(struct famfs_log_damage){
				.part = FAMFS_LOG_PART_HEADER, .copy = c,
				.len = FAMFS_CACHELINE, .reason = log->hdr_why[c],
			});
}

uint64_t famfs_log_capacity(const struct famfs_log *log)
{
	return log->capacity;
}

uint64_t famfs_log_generation(const struct famfs_log *log)
{
	return log->generation;
}

struct famfs_log_base famfs_log_base(const struct famfs_log *log)
{
	return log->base;
}

struct famfs_log_pos famfs_log_start(const struct famfs_log *log)
{
	return (struct famfs_log_pos){
		.seq = log->base.seq, .end = log->base.ckpt_bytes,
		.epoch = log->base.epoch,
	};
}

/* ---- tail slots ------------------------------------------------------------ */

/* Decodes one tail slot; NULL when it is usable, else why not. */
static const char *tail_decode(const struct famfs_log_tail *src,
			       uint64_t generation, struct famfs_log_pos *p)
{
	struct famfs_log_tail snap, *t = &snap;

	memcpy(t, src, sizeof(*t));
	if (le32toh(t->crc) != famfs_crc_struct(t, sizeof(*t)))
		return "CRC mismatch";
	if (le64toh(t->generation) != generation)
		return "generation differs from the log";
	p->seq = le64toh(t->seq);
	p->end = le64toh(t->end);
	p->epoch = le64toh(t->epoch);
	return NULL;
}

static struct famfs_log_tail *slot_of(const struct famfs_log *log, unsigned int s)
{
	return &hdr_of(log, s / 2)->tail[s % 2];
}

/* R1 for one slot, under a guard: NULL when usable. */
static const char *slot_read(struct famfs_log *log, unsigned int s,
			     struct famfs_log_pos *ret)
{
	struct famfs_guard g;
	const char *why;

	if (!famfs_guard_begin(&g))
		return FAULT_WHY;
	log->ops->invalidate(slot_of(log, s), sizeof(struct famfs_log_tail));
	log->ops->rfence();
	why = tail_decode(slot_of(log, s), log->generation, ret);
	famfs_guard_end(&g);
	return why;
}

/* The best valid slot of why[] and slot[], or -1. */
static int best_slot(const struct famfs_log_pos slot[4], const char *why[4])
{
	int best = -1;

	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		if (!why[s] && (best < 0 || slot[s].seq > slot[best].seq))
			best = (int)s;
	return best;
}

/* One pass over the four slots; the best valid one, or -1. */
static int tail_scan(struct famfs_log *log, struct famfs_log_pos slot[4],
		     const char *why[4])
{
	struct famfs_guard g;

	if (famfs_guard_begin(&g)) {
		for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
			log->ops->invalidate(hdr_of(log, c)->tail,
					     sizeof(hdr_of(log, c)->tail));
		log->ops->rfence();
		for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
			why[s] = tail_decode(slot_of(log, s), log->generation,
					     &slot[s]);
		famfs_guard_end(&g);
		return best_slot(slot, why);
	}
	/* A slot's line faulted: each slot on its own, to know which. */
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		why[s] = slot_read(log, s, &slot[s]);
	return best_slot(slot, why);
}

static const char *tail_check(const struct famfs_log *log,
			      const struct famfs_log_pos *t)
{
	const struct famfs_log_base *b = &log->base;

	if (t->end > log->capacity || t->end % FAMFS_REC_ALIGN ||
	    t->end < b->ckpt_bytes || t->seq < b->seq ||
	    (t->seq == b->seq) != (t->end == b->ckpt_bytes))
		return "tail points past the end of the log";
	return NULL;
}

int famfs_log_read_tail(struct famfs_log *log, struct famfs_log_pos *ret,
			struct famfs_log_error *err)
{
	struct famfs_log_pos slot[FAMFS_LOG_TAIL_SLOTS];
	const char *why[FAMFS_LOG_TAIL_SLOTS], *bad;
	int best = -1;

	/* R1: the tail lines may be stale in our cache. */
	for (int attempt = 0; attempt < FAMFS_LOG_READ_RETRIES && best < 0; attempt++)
		best = tail_scan(log, slot, why);
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++) {
		/* Reported once, when a slot turns bad. */
		if (why[s] && !log->slot_why[s])
			report(log, &(struct famfs_log_damage){
				.part = FAMFS_LOG_PART_TAIL, .copy = s / 2,
				.seq = s % 2, .offset = offsetof(struct famfs_log_hdr, tail) +
				s % 2 * sizeof(struct famfs_log_tail),
				.len = sizeof(struct famfs_log_tail),
				.both = why[s ^ 2] != NULL, .reason = why[s],
			});
		log->slot_why[s] = why[s];
	}
	if (best < 0) {
		*err = (struct famfs_log_error){ .reason = "every tail slot is corrupt" };
		return -EUCLEAN;
	}
	bad = tail_check(log, &slot[best]);
	if (bad) {
		*err = (struct famfs_log_error){
			.seq = slot[best].seq, .offset = slot[best].end,
			.reason = bad,
		};
		return -EUCLEAN;
	}
	*ret = slot[best];
	memset(log->inval_start, 0, sizeof(log->inval_start));
	memset(log->inval_end, 0, sizeof(log->inval_end));
	return 0;
}

void famfs_log_tail_status(const struct famfs_log *log,
			   const char *ret_why[FAMFS_LOG_TAIL_SLOTS])
{
	memcpy(ret_why, log->slot_why, sizeof(log->slot_why));
}

/* Writes slot i of copy c with t and flushes it; false when it faulted. */
static bool slot_write(struct famfs_log *log, unsigned int c, unsigned int i,
		       const struct famfs_log_pos *t)
{
	struct famfs_log_tail *slot = &hdr_of(log, c)->tail[i];
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	tail_encode(slot, t, log->generation);
	log->ops->flush(slot, sizeof(*slot));
	famfs_guard_end(&g);
	return true;
}

/*
 * Writes slot i of both copies with t and flushes them (P4-P5). A copy
 * whose line faults is reported as a damaged slot: readers take the other
 * copy's, as they would for any bad slot.
 */
static void tail_write(struct famfs_log *log, unsigned int i,
		       const struct famfs_log_pos *t)
{
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (!slot_write(log, c, i, t))
			report(log, &(struct famfs_log_damage){
				.part = FAMFS_LOG_PART_TAIL, .copy = c, .seq = i,
				.offset = offsetof(struct famfs_log_hdr, tail) +
					  i * sizeof(struct famfs_log_tail),
				.len = sizeof(struct famfs_log_tail),
				.reason = FAULT_WHY,
			});
}

int famfs_log_repair_tail(struct famfs_log *log)
{
	struct famfs_log_pos slot[FAMFS_LOG_TAIL_SLOTS], tail;
	struct famfs_log_error err;
	const char *why[FAMFS_LOG_TAIL_SLOTS];
	int r = famfs_log_read_tail(log, &tail, &err);

	if (r < 0)
		return r;
	(void)tail_scan(log, slot, why);
	/*
	 * Repair: slot i of both copies must say the same, or one damaged
	 * line later could hide a published record. Where they differ, or
	 * one is bad, both take the better of the two (the current tail
	 * when neither is good); flushed, then fenced once.
	 */
	for (unsigned int i = 0; i < 2; i++) {
		const char *w0 = why[i], *w1 = why[i + 2];
		struct famfs_log_pos *good = &tail;

		if (!w0 && !w1 && slot[i].seq == slot[i + 2].seq &&
		    slot[i].end == slot[i + 2].end &&
		    slot[i].epoch == slot[i + 2].epoch)
			continue;
		if (!w0 && (w1 || slot[i].seq >= slot[i + 2].seq))
			good = &slot[i];
		else if (!w1)
			good = &slot[i + 2];
		tail_write(log, i, good);
	}
	log->ops->wfence();
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		log->slot_why[s] = NULL;
	return 0;
}

void famfs_log_set_tail(struct famfs_log *log, const struct famfs_log_pos *pos)
{
	/*
	 * Both slots say the same: a torn write of the next publish (to
	 * either slot) leaves the other one naming pos.
	 */
	tail_write(log, 0, pos);
	tail_write(log, 1, pos);
	log->ops->wfence();
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		log->slot_why[s] = NULL;
}

/* ---- reading records and items ------------------------------------------- */

/* R2: makes sure [off, off + len) of copy c was invalidated since the tail read. */
static void reader_invalidate(struct famfs_log *log, unsigned int c, uint64_t off,
			      uint64_t len, uint64_t limit)
{
	uint64_t end;

	if (off >= log->inval_start[c] && off + len <= log->inval_end[c])
		return;
	end = off + (len > INVALIDATE_WINDOW ? len : INVALIDATE_WINDOW);
	if (end > limit)
		end = limit;
	log->ops->invalidate(body_of(log, c) + off, end - off);
	log->ops->rfence();
	log->inval_start[c] = off;
	log->inval_end[c] = end;
}

/*
 * R3: one attempt at checking the record or item at body offset off of
 * copy c, which must end by limit (want_seq 0: any sequence, for items);
 * NULL when it is good.
 */
static const char *check_at(struct famfs_log *log, unsigned int c, uint64_t off,
			    uint64_t limit, uint64_t want_seq)
{
	const struct famfs_rec_hdr *h = (const void *)(body_of(log, c) + off);
	struct famfs_rec_hdr *b = (void *)log->bounce;
	uint32_t len;

	if (limit - off < sizeof(*h))
		return "record header runs past the published tail";
	reader_invalidate(log, c, off, sizeof(*h), limit);
	len = le32toh(h->len);
	if (len < sizeof(*h) || len % FAMFS_REC_ALIGN || len > FAMFS_REC_MAX_SIZE)
		return "record length is invalid";
	if (len > limit - off)
		return "record runs past the published tail";
	reader_invalidate(log, c, off, len, limit);
	memcpy(b, h, len);
	if (le32toh(b->len) != len)
		return "record length is invalid";
	if (le32toh(b->crc) != famfs_rec_crc(b, len, log->generation))
		return "record CRC mismatch";
	if (want_seq && le64toh(b->seq) != want_seq)
		return "record sequence is out of order";
	return NULL;
}

/*
 * check_at with retries: a stale line is the harmless cause. Under a
 * guard: lines that fault make this copy bad, not the process dead. On
 * success the log's bounce buffer holds the record.
 */
static const char *check_retry(struct famfs_log *log, unsigned int c,
			       uint64_t off, uint64_t limit, uint64_t want_seq)
{
	const char *why = NULL;
	struct famfs_guard g;

	if (!famfs_guard_begin(&g)) {
		log->inval_start[c] = log->inval_end[c] = 0;
		return FAULT_WHY;
	}
	for (int attempt = 0; attempt < FAMFS_LOG_READ_RETRIES; attempt++) {
		why = check_at(log, c, off, limit, want_seq);
		if (!why)
			break;
		/* R3: force a reload of this copy's lines. */
		log->inval_start[c] = log->inval_end[c] = 0;
	}
	famfs_guard_end(&g);
	return why;
}

/*
 * The good copy of the thing at off: copy 0, else copy 1 (the bad one
 * reported). NULL with *why (copy 0's reason) when neither is good.
 */
static const struct famfs_rec_hdr *
read_copies(struct famfs_log *log, enum famfs_log_part part, uint64_t off,
	    uint64_t limit, uint64_t want_seq, uint64_t index, const char **why)
{
	const struct famfs_rec_hdr *h;
	const char *why1;

	*why = check_retry(log, 0, off, limit, want_seq);
	if (!*why)
		return (const void *)log->bounce;
	why1 = check_retry(log, 1, off, limit, want_seq);
	h = why1 ? NULL : (const void *)log->bounce;
	report(log, &(struct famfs_log_damage){
		.part = part, .copy = 0, .both = !h, .seq = index, .offset = off,
		.len = h ? le32toh(h->len) : 0, .reason = *why,
	});
	return h;
}

int famfs_log_next(struct famfs_log *log, struct famfs_log_pos *pos,
		   const struct famfs_log_pos *tail,
		   const struct famfs_rec_hdr **ret_rec,
		   struct famfs_log_error *err)
{
	const struct famfs_rec_hdr *h;
	const char *why;

	if (pos->end < tail->end && pos->seq >= tail->seq) {
		/*
		 * R2 by sequence: bytes remain but the tail counted no more
		 * records. Never hand out a record the tail did not publish.
		 */
		*err = (struct famfs_log_error){
			.seq = pos->seq + 1, .offset = pos->end,
			.reason = "record beyond the tail's sequence",
		};
		return -EUCLEAN;
	}
	if (pos->end >= tail->end) {
		if (pos->end > tail->end || pos->seq != tail->seq) {
			*err = (struct famfs_log_error){
				.seq = pos->seq, .offset = pos->end,
				.reason = "tail sequence does not match its records",
			};
			return -EUCLEAN;
		}
		return 0;
	}
	h = read_copies(log, FAMFS_LOG_PART_RECORD, pos->end, tail->end,
			pos->seq + 1, pos->seq + 1, &why);
	if (!h) {
		*err = (struct famfs_log_error){
			.seq = pos->seq + 1, .offset = pos->end, .reason = why,
		};
		return -EUCLEAN;
	}
	pos->seq++;
	pos->end += le32toh(h->len);
	pos->epoch = le64toh(h->epoch);
	*ret_rec = h;
	return 1;
}

int famfs_log_ckpt_next(struct famfs_log *log, struct famfs_log_pos *pos,
			const struct famfs_rec_hdr **ret_item,
			struct famfs_log_error *err)
{
	const struct famfs_log_base *b = &log->base;
	const struct famfs_rec_hdr *h;
	const char *why;

	if (pos->end >= b->ckpt_bytes || pos->seq >= b->ckpt_items) {
		if (pos->end == b->ckpt_bytes && pos->seq == b->ckpt_items)
			return 0;
		*err = (struct famfs_log_error){
			.seq = pos->seq, .offset = pos->end,
			.reason = "checkpoint items do not add up to its header",
		};
		return -EUCLEAN;
	}
	if (pos->seq == 0)
		memset(log->inval_end, 0, sizeof(log->inval_end));
	h = read_copies(log, FAMFS_LOG_PART_ITEM, pos->end, b->ckpt_bytes, 0,
			pos->seq + 1, &why);
	if (!h) {
		*err = (struct famfs_log_error){
			.seq = pos->seq + 1, .offset = pos->end, .reason = why,
		};
		return -EUCLEAN;
	}
	pos->seq++;
	pos->end += le32toh(h->len);
	*ret_item = h;
	return 1;
}

/* ---- scrub and repair ------------------------------------------------------ */

static long verify_header(struct famfs_log *log)
{
	struct famfs_log_base b[2];
	const char *why[2];

	hdr_read(log, b, why);
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (why[c])
			report(log, &(struct famfs_log_damage){
				.part = FAMFS_LOG_PART_HEADER, .copy = c,
				.both = why[!c] != NULL, .len = FAMFS_CACHELINE,
				.reason = why[c],
			});
	return why[0] && why[1] ? -EUCLEAN : (long)HDR_USED;
}

/*
 * Both copies of the thing after pos, each on its own; the good length.
 * Readers take copy 0 when it is good, so the length is copy 0's then,
 * and a copy 1 that passes but differs is named (its CRC could pass for
 * other bytes than copy 0's; left alone it would be read the day copy 0
 * goes bad, and walking by its length would lose the readers' place).
 */
static long verify_thing(struct famfs_log *log, enum famfs_log_part part,
			 struct famfs_log_pos *pos, uint64_t limit)
{
	uint64_t want = part == FAMFS_LOG_PART_RECORD ? pos->seq + 1 : 0;
	const char *why[2];
	uint32_t len = 0;

	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		why[c] = check_retry(log, c, pos->end, limit, want);
		if (!why[c] && !len)
			len = le32toh(((const struct famfs_rec_hdr *)
				       log->bounce)->len);
	}
	if (!why[0] && !why[1] &&
	    differ(body_of(log, 0) + pos->end, body_of(log, 1) + pos->end, len))
		why[1] = "record: copy 1 differs from copy 0";
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (why[c])
			report(log, &(struct famfs_log_damage){
				.part = part, .copy = c, .both = why[!c] != NULL,
				.seq = pos->seq + 1, .offset = pos->end,
				.len = len, .reason = why[c],
			});
	if (!len)
		return -EUCLEAN;
	pos->seq++;
	pos->end += len;
	return len;
}

long famfs_log_verify(struct famfs_log *log, enum famfs_log_part part,
		      struct famfs_log_pos *pos, const struct famfs_log_pos *tail)
{
	struct famfs_log_error err;
	struct famfs_log_pos t;

	switch (part) {
	case FAMFS_LOG_PART_HEADER:
		return verify_header(log);
	case FAMFS_LOG_PART_TAIL:
		return famfs_log_read_tail(log, &t, &err) < 0 ? -EUCLEAN :
			(long)(2 * sizeof(struct famfs_log_tail));
	case FAMFS_LOG_PART_ITEM:
		if (pos->end >= log->base.ckpt_bytes)
			return 0;
		return verify_thing(log, part, pos, log->base.ckpt_bytes);
	case FAMFS_LOG_PART_RECORD:
		if (pos->end >= tail->end)
			return 0;
		return verify_thing(log, part, pos, tail->end);
	}
	return -EINVAL;
}

/*
 * Copies len bytes at off of copy !bad over copy bad: flush, fence.
 * -EAGAIN when a line faults: it stays bad (poisoned until the device
 * maps it out, or gone with a truncated file).
 */
static int copy_over(struct famfs_log *log, unsigned int bad, uint64_t off,
		     uint64_t len)
{
	uint8_t *dst = log->area[bad] + off;
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return -EAGAIN;
	memcpy(dst, log->area[!bad] + off, len);
	/* Repair: the rewritten lines reach the pool before we check them. */
	log->ops->flush(dst, len);
	log->ops->wfence();
	famfs_guard_end(&g);
	return 0;
}

static int repair_header(struct famfs_log *log, unsigned int bad)
{
	struct famfs_log_base b;
	if (hdr_read_one(log, !bad, &b))
		return -EUCLEAN;
	if (copy_over(log, bad, 0, offsetof(struct famfs_log_hdr, tail)) < 0 ||
	    hdr_read_one(log, bad, &b))
		return -EAGAIN;
	log->hdr_why[bad] = NULL;
	return 0;
}

int famfs_log_repair(struct famfs_log *log, const struct famfs_log_damage *d)
{
	uint64_t limit, want;

	if (d->both)
		return -EUCLEAN;
	switch (d->part) {
	case FAMFS_LOG_PART_HEADER:
		return repair_header(log, d->copy);
	case FAMFS_LOG_PART_TAIL:
		return famfs_log_repair_tail(log);
	case FAMFS_LOG_PART_ITEM:
	case FAMFS_LOG_PART_RECORD:
		break;
	default:
		return -EINVAL;
	}
	limit = d->offset + d->len;
	if (d->len < sizeof(struct famfs_rec_hdr) || limit > log->capacity)
		return -EINVAL;
	want = d->part == FAMFS_LOG_PART_RECORD ? d->seq : 0;
	if (check_retry(log, !d->copy, d->offset, limit, want))
		return -EUCLEAN;
	if (copy_over(log, d->copy, FAMFS_LOG_HDR_SIZE + d->offset, d->len) < 0)
		return -EAGAIN;
	log->inval_start[d->copy] = log->inval_end[d->copy] = 0;
	return check_retry(log, d->copy, d->offset, limit, want) ? -EAGAIN : 0;
}

/* ---- the writer ------------------------------------------------------------- */

void famfs_log_writer_start(struct famfs_log *log,
			    const struct famfs_log_pos *tail)
{
	struct famfs_log_pos s;

	log->appended = *tail;
	log->published = *tail;
	/*
	 * Keep the slot that holds the current tail; write the other. Slot 0
	 * holds it only if it is valid in some copy and says so: a corrupt
	 * slot can still carry the tail's numbers, and overwriting the other
	 * slot then would risk the only good copy of the tail.
	 */
	log->next_slot = 0;
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (!tail_decode(&hdr_of(log, c)->tail[0], log->generation, &s) &&
		    s.seq == tail->seq && s.end == tail->end)
			log->next_slot = 1;
}

/* P1-P2 into copy c, under a guard: false when its lines fault. */
static bool put_copy(struct famfs_log *log, unsigned int c,
		     const struct famfs_rec_hdr *rec, uint32_t size)
{
	uint8_t *dst = body_of(log, c) + log->appended.end;
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	memcpy(dst, rec, size);
	/* P2: write back exactly the lines this record touched. */
	log->ops->flush(dst, size);
	famfs_guard_end(&g);
	return true;
}

/*
 * Writes one framed record or item at the appended end of both copies;
 * -EIO when the lines of both fault.
 */
static int put(struct famfs_log *log, uint16_t type, uint64_t seq,
	       uint64_t epoch, const void *payload, uint32_t len)
{
	struct famfs_rec_hdr h = { 0 };
	uint32_t size = famfs_rec_size(len);
	struct famfs_rec_hdr *rec;
	unsigned int faulted = 0;

	if (len > FAMFS_REC_MAX_SIZE - sizeof(h) || size > FAMFS_REC_MAX_SIZE)
		return -EINVAL;
	if (size > log->capacity - log->appended.end)
		return -ENOSPC;
	h.type = htole16(type);
	h.len = htole32(size);
	h.seq = htole64(seq);
	h.epoch = htole64(epoch);

	/*
	 * P1 (C2 for an item): the record goes past the published end,
	 * unseen by readers. It is framed in the bounce buffer, then copied
	 * into each copy under its own guard: a copy whose lines fault is
	 * reported damaged (readers use the other), and only when both fault
	 * does the append fail.
	 */
	rec = (void *)log->bounce;
	memcpy(rec, &h, sizeof(h));
	memcpy(rec + 1, payload, len);
	memset((uint8_t *)(rec + 1) + len, 0, size - sizeof(h) - len);
	rec->crc = htole32(famfs_rec_crc(rec, size, log->generation));
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		if (put_copy(log, c, rec, size))
			continue;
		if (faulted++)
			return -EIO;
		report(log, &(struct famfs_log_damage){
			.part = log->ckpt_mode ? FAMFS_LOG_PART_ITEM :
				FAMFS_LOG_PART_RECORD,
			.copy = c, .seq = seq,
			.offset = log->appended.end, .len = size,
			.reason = FAULT_WHY,
		});
	}
	log->appended.end += size;
	return 0;
}

int famfs_log_append(struct famfs_log *log, uint16_t type, uint64_t epoch,
		     const void *payload, uint32_t len, uint64_t *ret_seq)
{
	int r;

	if (log->ckpt_mode)
		return -EINVAL;
	r = put(log, type, log->appended.seq + 1, epoch, payload, len);
	if (r < 0)
		return r;
	log->appended.seq++;
	log->appended.epoch = epoch;
	if (ret_seq)
		*ret_seq = log->appended.seq;
	return 0;
}

void famfs_log_publish(struct famfs_log *log)
{
	if (log->appended.seq == log->published.seq)
		return;
	/* P3: every appended record is in the pool before the tail names it. */
	log->ops->wfence();
	/*
	 * P4-P5: the other slot of each copy, so a torn write leaves the
	 * previous tail whole.
	 */
	tail_write(log, log->next_slot, &log->appended);
	/* P6: the tail is in the pool before anyone is told "published". */
	log->ops->wfence();
	log->published = log->appended;
	log->next_slot ^= 1;
}

struct famfs_log_pos famfs_log_appended(const struct famfs_log *log)
{
	return log->appended;
}

struct famfs_log_pos famfs_log_published(const struct famfs_log *log)
{
	return log->published;
}

void famfs_log_discard(struct famfs_log *log)
{
	log->appended = log->published;
}

/* ---- a new generation ------------------------------------------------------- */

int famfs_log_create(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		     const struct famfs_cache_ops *ops, struct famfs_log **ret)
{
	const char *why;
	int r = log_new(log_base, log_size, generation, ops, ret, &why);

	if (r < 0)
		return r == -EUCLEAN ? -EINVAL : r;
	(*ret)->ckpt_mode = true;
	return 0;
}

int famfs_log_ckpt_add(struct famfs_log *log, uint16_t type, uint64_t seq,
		       uint64_t epoch, const void *payload, uint32_t len)
{
	int r;

	if (!log->ckpt_mode)
		return -EINVAL;
	r = put(log, type, seq, epoch, payload, len);
	if (r == 0)
		log->appended.seq++;	/* counts items until the seal */
	return r;
}

/* C3 for copy c, under a guard: false when its lines fault. */
static bool seal_copy(struct famfs_log *log, unsigned int c,
		      const struct famfs_log_pos *start)
{
	struct famfs_log_hdr *h = hdr_of(log, c);
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	hdr_encode(h, log->generation, &log->base);
	tail_encode(&h->tail[0], start, log->generation);
	tail_encode(&h->tail[1], start, log->generation);
	log->ops->flush(h, HDR_USED);
	famfs_guard_end(&g);
	return true;
}

int famfs_log_ckpt_seal(struct famfs_log *log, const struct famfs_log_base *base)
{
	struct famfs_log_pos start;
	unsigned int faulted = 0;

	log->base = *base;
	log->base.ckpt_bytes = log->appended.end;
	log->base.ckpt_items = log->appended.seq;
	start = famfs_log_start(log);
	/* C3: the items are in the pool before the header that counts them. */
	log->ops->wfence();
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		if (seal_copy(log, c, &start))
			continue;
		faulted++;
		log->hdr_why[c] = "log header: " FAULT_WHY;
		report(log, &(struct famfs_log_damage){
			.part = FAMFS_LOG_PART_HEADER, .copy = c,
			.both = faulted == FAMFS_LOG_COPIES,
			.len = FAMFS_CACHELINE, .reason = log->hdr_why[c],
		});
	}
	/* C3: the header is whole in the pool before the superblock names it. */
	log->ops->wfence();
	log->ckpt_mode = false;
	log->appended = log->published = start;
	log->next_slot = 0;
	return faulted == FAMFS_LOG_COPIES ? -EIO : 0;
}

void famfs_log_format(uint8_t *log_base, uint64_t log_size,
		      uint64_t generation, const struct famfs_cache_ops *ops)
{
	struct famfs_log_base empty = { .max_ino = FAMFS_ROOT_INO };
	struct famfs_log *log;

	/*
	 * The other pair of areas: no header there may pass for the next
	 * generation's before a compaction writes it.
	 */
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
		uint8_t *other = log_base +
				 famfs_log_area_offset(log_size, generation + 1, c);

		memset(other, 0, HDR_USED);
		ops->flush(other, HDR_USED);
	}
	if (famfs_log_create(log_base, log_size, generation, ops, &log) < 0) {
		ops->wfence();
		return;
	}
	famfs_log_ckpt_seal(log, &empty);
	famfs_log_free(log);
}
