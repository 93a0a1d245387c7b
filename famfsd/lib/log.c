// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The metadata log (docs/format.md): attaching to a generation, the read
 * side of the area header and the tail slots (R1), reading records and
 * checkpoint items (R2-R3). The writer is in log_write.c, scrub and repair
 * in log_repair.c.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "guard.h"
#include "log_private.h"

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

void log_report(struct famfs_log *log, const struct famfs_log_damage *d)
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
bool log_differ(const void *x, const void *y, size_t len)
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
const char *log_hdr_read_one(struct famfs_log *log, unsigned int c,
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
void log_hdr_read(struct famfs_log *log, struct famfs_log_base b[2],
		  const char *why[2])
{
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		why[c] = log_hdr_read_one(log, c, &b[c]);
	if (!why[0] && !why[1] &&
	    log_differ(hdr_of(log, 0), hdr_of(log, 1), offsetof(struct famfs_log_hdr, tail)))
		why[1] = "log header: copy 1 differs from copy 0";
}

int log_new(uint8_t *log_base, uint64_t log_size, uint64_t generation,
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
	log_hdr_read(log, b, why);
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
			log_report(log, &(struct famfs_log_damage){
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
const char *log_tail_decode(const struct famfs_log_tail *src,
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

void famfs_log_set_epoch_fence(struct famfs_log *log, uint64_t epoch,
			       uint64_t start_seq)
{
	if (epoch <= log->fence_epoch)
		return;
	log->fence_epoch = epoch;
	log->fence_seq = start_seq;
}

const char *log_fence_check(const struct famfs_log *log, uint64_t seq,
			    uint64_t epoch)
{
	if (log->fence_epoch && seq >= log->fence_seq &&
	    epoch < log->fence_epoch)
		return "epoch older than the active master's from its first "
		       "record on (a fenced master's store)";
	return NULL;
}

/* A decoded slot against the readers' epoch fence: NULL when usable. */
static const char *slot_decode(const struct famfs_log *log,
			       const struct famfs_log_tail *t,
			       struct famfs_log_pos *p)
{
	const char *why = log_tail_decode(t, log->generation, p);

	return why ? why : log_fence_check(log, p->seq, p->epoch);
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
	why = slot_decode(log, slot_of(log, s), ret);
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
int log_tail_scan(struct famfs_log *log, struct famfs_log_pos slot[4],
		  const char *why[4])
{
	struct famfs_guard g;

	if (famfs_guard_begin(&g)) {
		for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
			log->ops->invalidate(hdr_of(log, c)->tail,
					     sizeof(hdr_of(log, c)->tail));
		log->ops->rfence();
		for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
			why[s] = slot_decode(log, slot_of(log, s), &slot[s]);
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
		best = log_tail_scan(log, slot, why);
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++) {
		/* Reported once, when a slot turns bad. */
		if (why[s] && !log->slot_why[s])
			log_report(log, &(struct famfs_log_damage){
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
	/* Items (want_seq 0) are the checkpoint's, below any fence. */
	if (want_seq)
		return log_fence_check(log, want_seq, le64toh(b->epoch));
	return NULL;
}

/*
 * check_at with retries: a stale line is the harmless cause. Under a
 * guard: lines that fault make this copy bad, not the process dead. On
 * success the log's bounce buffer holds the record.
 */
const char *log_check_retry(struct famfs_log *log, unsigned int c,
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

	*why = log_check_retry(log, 0, off, limit, want_seq);
	if (!*why)
		return (const void *)log->bounce;
	why1 = log_check_retry(log, 1, off, limit, want_seq);
	h = why1 ? NULL : (const void *)log->bounce;
	log_report(log, &(struct famfs_log_damage){
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
