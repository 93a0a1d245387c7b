// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The log's writer: records appended past the published end and made
 * visible by one tail slot (P1-P6), a new generation written as a
 * checkpoint and sealed (C2-C3), and mkfs's empty log. docs/format.md
 * names the steps; each flush and fence below says which it belongs to.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "guard.h"
#include "log_private.h"

/* ---- encoding a slot and a header line ----------------------------------- */

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

/* ---- tail slots ------------------------------------------------------------ */

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
void log_tail_write(struct famfs_log *log, unsigned int i,
		    const struct famfs_log_pos *t)
{
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (!slot_write(log, c, i, t))
			log_report(log, &(struct famfs_log_damage){
				   .part = FAMFS_LOG_PART_TAIL, .copy = c, .seq = i,
				   .offset = offsetof(struct famfs_log_hdr, tail) +
				   i * sizeof(struct famfs_log_tail),
				   .len = sizeof(struct famfs_log_tail),
				   .reason = FAULT_WHY,
				   });
}

void famfs_log_set_write_guard(struct famfs_log *log, bool (*fn)(void *ctx),
			       void *ctx)
{
	log->guard_fn = fn;
	log->guard_ctx = ctx;
}

void famfs_log_set_tail(struct famfs_log *log, const struct famfs_log_pos *pos)
{
	if (!log_may_store(log))
		return;
	/*
	 * Both slots say the same: a torn write of the next publish (to
	 * either slot) leaves the other one naming pos.
	 */
	log_tail_write(log, 0, pos);
	log_tail_write(log, 1, pos);
	log->ops->wfence();
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		log->slot_why[s] = NULL;
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
		if (!log_tail_decode(&hdr_of(log, c)->tail[0], log->generation, &s) &&
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
 * The writer reads back what it appends (the master applies each record by
 * replaying it from the pool, a batch's before its one publish): the lines
 * this process just stored are coherent for its own loads on this host, so
 * reading them needs neither R2's invalidation nor its fence, which after
 * P2's flushes would wait for each record's write-back in turn. Marked as
 * already invalidated in the copy's window (famfs_log_forget_own() undoes
 * it, for a read that must see the pool's bytes); readers on other hosts,
 * and the master's other readers (scrub, compaction), keep their own.
 */
static void own_lines(struct famfs_log *log, unsigned int c, uint64_t off,
		      uint32_t size)
{
	if (log->inval_end[c] != off || log->inval_start[c] > off)
		log->inval_start[c] = off;
	log->inval_end[c] = off + size;
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
	/* The writer's fence, right before P1 (or C2's item). */
	if (!log_may_store(log))
		return -ESHUTDOWN;
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
		if (put_copy(log, c, rec, size)) {
			own_lines(log, c, log->appended.end, size);
			continue;
		}
		if (faulted++)
			return -EIO;
		log_report(log, &(struct famfs_log_damage){
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
	/* The writer's fence, right before P4: refused, nothing is published. */
	if (!log_may_store(log))
		return;
	/* P3: every appended record is in the pool before the tail names it. */
	log->ops->wfence();
	/*
	 * P4-P5: the other slot of each copy, so a torn write leaves the
	 * previous tail whole.
	 */
	log_tail_write(log, log->next_slot, &log->appended);
	/* P6: the tail is in the pool before anyone is told "published". */
	log->ops->wfence();
	log->published = log->appended;
	log->next_slot ^= 1;
}

void famfs_log_forget_own(struct famfs_log *log)
{
	memset(log->inval_start, 0, sizeof(log->inval_start));
	memset(log->inval_end, 0, sizeof(log->inval_end));
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

	if (!log_may_store(log))
		return -ESHUTDOWN;
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
		log_report(log, &(struct famfs_log_damage){
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
