// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "log.h"

/* Readers invalidate ahead in windows this large, not line by line. */
#define INVALIDATE_WINDOW	(64u << 10)

struct famfs_log {
	struct famfs_log_hdr *hdr;
	uint8_t *recs;			/* record area */
	uint64_t capacity;		/* bytes in the record area */
	uint64_t generation;
	const struct famfs_cache_ops *ops;
	/* reader: [inval_start, inval_end) was invalidated since the tail read */
	uint64_t inval_start, inval_end;
	const char *slot_why[2];	/* R1's verdict on each tail slot */
	/* writer */
	struct famfs_log_pos appended;	/* after the last appended record */
	struct famfs_log_pos published;	/* what the tail says */
	unsigned int next_slot;		/* tail slot the next publish writes */
};

static void tail_encode(struct famfs_log_tail *t, const struct famfs_log_pos *p,
			uint64_t generation)
{
	memset(t, 0, sizeof(*t));
	t->seq = htole64(p->seq);
	t->end = htole64(p->end);
	t->generation = htole64(generation);
	t->epoch = htole64(p->epoch);
	t->crc = htole32(famfs_crc_struct(t, sizeof(*t)));
}

void famfs_log_format(uint8_t *log_base, uint64_t log_size,
		      uint64_t generation, const struct famfs_cache_ops *ops)
{
	struct famfs_log_hdr *hdr = (void *)log_base;
	struct famfs_log_pos empty = { 0 };

	(void)log_size;
	memset(hdr, 0, FAMFS_LOG_HDR_SIZE);
	hdr->magic = htole64(FAMFS_LOG_MAGIC);
	hdr->generation = htole64(generation);
	hdr->crc = htole32(famfs_crc32c(hdr, offsetof(struct famfs_log_hdr, crc)));
	tail_encode(&hdr->tail[0], &empty, generation);
	tail_encode(&hdr->tail[1], &empty, generation);
	/* Format: the whole header reaches the pool before the superblock. */
	ops->flush(hdr, FAMFS_LOG_HDR_SIZE);
	ops->wfence();
}

int famfs_log_open(uint8_t *log_base, uint64_t log_size, uint64_t generation,
		   const struct famfs_cache_ops *ops, struct famfs_log **ret,
		   struct famfs_log_error *err)
{
	struct famfs_log_hdr *hdr = (void *)log_base;
	struct famfs_log *log;

	*err = (struct famfs_log_error){ 0 };
	if (log_size <= FAMFS_LOG_HDR_SIZE) {
		err->reason = "log region smaller than its header";
		return -EUCLEAN;
	}
	ops->invalidate(hdr, offsetof(struct famfs_log_hdr, tail));
	ops->rfence();
	if (le64toh(hdr->magic) != FAMFS_LOG_MAGIC) {
		err->reason = "log header: bad magic";
		return -EUCLEAN;
	}
	if (le32toh(hdr->crc) !=
	    famfs_crc32c(hdr, offsetof(struct famfs_log_hdr, crc))) {
		err->reason = "log header: CRC mismatch";
		return -EUCLEAN;
	}
	if (le64toh(hdr->generation) != generation) {
		err->reason = "log header: generation differs from superblock";
		return -EUCLEAN;
	}
	log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	log->hdr = hdr;
	log->recs = log_base + FAMFS_LOG_HDR_SIZE;
	log->capacity = log_size - FAMFS_LOG_HDR_SIZE;
	log->generation = generation;
	log->ops = ops;
	*ret = log;
	return 0;
}

void famfs_log_free(struct famfs_log *log)
{
	free(log);
}

uint64_t famfs_log_capacity(const struct famfs_log *log)
{
	return log->capacity;
}

uint64_t famfs_log_generation(const struct famfs_log *log)
{
	return log->generation;
}

/* Decodes one tail slot; NULL when it is usable, else why not. */
static const char *tail_decode(const struct famfs_log_tail *t,
			       uint64_t generation, struct famfs_log_pos *p)
{
	if (le32toh(t->crc) != famfs_crc_struct(t, sizeof(*t)))
		return "CRC mismatch";
	if (le64toh(t->generation) != generation)
		return "generation differs from the log";
	p->seq = le64toh(t->seq);
	p->end = le64toh(t->end);
	p->epoch = le64toh(t->epoch);
	return NULL;
}

int famfs_log_read_tail(struct famfs_log *log, struct famfs_log_pos *ret,
			struct famfs_log_error *err)
{
	struct famfs_log_pos slot[2];
	const char *why[2];
	int best;

	for (int attempt = 0; attempt < FAMFS_LOG_READ_RETRIES; attempt++) {
		/* R1: the tail lines may be stale in our cache. */
		log->ops->invalidate(log->hdr->tail, sizeof(log->hdr->tail));
		log->ops->rfence();
		why[0] = tail_decode(&log->hdr->tail[0], log->generation, &slot[0]);
		why[1] = tail_decode(&log->hdr->tail[1], log->generation, &slot[1]);
		if (!why[0] || !why[1])
			break;
	}
	log->slot_why[0] = why[0];
	log->slot_why[1] = why[1];
	if (why[0] && why[1]) {
		*err = (struct famfs_log_error){ .reason = "both tail slots are corrupt" };
		return -EUCLEAN;
	}
	if (why[0])
		best = 1;
	else if (why[1])
		best = 0;
	else
		best = slot[1].seq > slot[0].seq;
	if (slot[best].end > log->capacity || slot[best].end % FAMFS_REC_ALIGN ||
	    (slot[best].seq == 0) != (slot[best].end == 0)) {
		*err = (struct famfs_log_error){
			.seq = slot[best].seq, .offset = slot[best].end,
			.reason = "tail points past the end of the log",
		};
		return -EUCLEAN;
	}
	*ret = slot[best];
	log->inval_start = log->inval_end = 0;
	return 0;
}

void famfs_log_tail_status(const struct famfs_log *log, const char *ret_why[2])
{
	ret_why[0] = log->slot_why[0];
	ret_why[1] = log->slot_why[1];
}

int famfs_log_repair_tail(struct famfs_log *log)
{
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	int r = famfs_log_read_tail(log, &tail, &err);

	if (r < 0)
		return r;
	for (int i = 0; i < 2; i++) {
		if (!log->slot_why[i])
			continue;
		/* Repair: the bad slot takes the good tail, flushed and fenced. */
		tail_encode(&log->hdr->tail[i], &tail, log->generation);
		log->ops->flush(&log->hdr->tail[i], sizeof(log->hdr->tail[i]));
		log->ops->wfence();
		log->slot_why[i] = NULL;
	}
	return 0;
}

/* R2: makes sure [off, off + len) was invalidated since the tail read. */
static void reader_invalidate(struct famfs_log *log, uint64_t off, uint64_t len,
			      uint64_t limit)
{
	uint64_t end;

	if (off >= log->inval_start && off + len <= log->inval_end)
		return;
	end = off + (len > INVALIDATE_WINDOW ? len : INVALIDATE_WINDOW);
	if (end > limit)
		end = limit;
	log->ops->invalidate(log->recs + off, end - off);
	log->ops->rfence();
	log->inval_start = off;
	log->inval_end = end;
}

/* CRC of a record as stored: every byte after the crc field. */
static uint32_t rec_crc(const struct famfs_rec_hdr *h, uint32_t len)
{
	return famfs_crc32c((const uint8_t *)h + sizeof(h->crc),
			    len - sizeof(h->crc));
}

/* R3: one attempt at checking the record at pos; NULL when it is good. */
static const char *check_record(struct famfs_log *log,
				const struct famfs_log_pos *pos,
				const struct famfs_log_pos *tail)
{
	const struct famfs_rec_hdr *h = (const void *)(log->recs + pos->end);
	uint32_t len;

	if (tail->end - pos->end < sizeof(*h))
		return "record header runs past the published tail";
	reader_invalidate(log, pos->end, sizeof(*h), tail->end);
	len = le32toh(h->len);
	if (len < sizeof(*h) || len % FAMFS_REC_ALIGN || len > FAMFS_REC_MAX_SIZE)
		return "record length is invalid";
	if (len > tail->end - pos->end)
		return "record runs past the published tail";
	reader_invalidate(log, pos->end, len, tail->end);
	if (le32toh(h->crc) != rec_crc(h, len))
		return "record CRC mismatch";
	if (le64toh(h->seq) != pos->seq + 1)
		return "record sequence is out of order";
	return NULL;
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
	for (int attempt = 0;; attempt++) {
		why = check_record(log, pos, tail);
		if (!why)
			break;
		if (attempt + 1 == FAMFS_LOG_READ_RETRIES) {
			*err = (struct famfs_log_error){
				.seq = pos->seq + 1, .offset = pos->end,
				.reason = why,
			};
			return -EUCLEAN;
		}
		/* R3: a stale line is the harmless cause; force a reload. */
		log->inval_start = log->inval_end = 0;
	}
	h = (const void *)(log->recs + pos->end);
	pos->seq++;
	pos->end += le32toh(h->len);
	pos->epoch = le64toh(h->epoch);
	*ret_rec = h;
	return 1;
}

void famfs_log_writer_start(struct famfs_log *log,
			    const struct famfs_log_pos *tail)
{
	struct famfs_log_pos s0;

	log->appended = *tail;
	log->published = *tail;
	/*
	 * Keep the slot that holds the current tail; write the other. Slot 0
	 * holds it only if it is valid too: a corrupt slot 0 can still carry
	 * the tail's sequence and end (a fresh log has {0, 0} in both), and
	 * overwriting slot 1 then would risk the only good copy.
	 */
	log->next_slot = !tail_decode(&log->hdr->tail[0], log->generation, &s0) &&
			 s0.seq == tail->seq && s0.end == tail->end ? 1 : 0;
}

int famfs_log_append(struct famfs_log *log, uint16_t type, uint64_t epoch,
		     const void *payload, uint32_t len, uint64_t *ret_seq)
{
	struct famfs_rec_hdr h = { 0 };
	uint32_t size = famfs_rec_size(len);
	struct famfs_rec_hdr *dst;

	if (len > FAMFS_REC_MAX_SIZE - sizeof(h) || size > FAMFS_REC_MAX_SIZE)
		return -EINVAL;
	if (size > log->capacity - log->appended.end)
		return -ENOSPC;
	h.type = htole16(type);
	h.len = htole32(size);
	h.seq = htole64(log->appended.seq + 1);
	h.epoch = htole64(epoch);

	/*
	 * P1: the record goes past the published end, unseen by readers. Its
	 * CRC is computed over the bytes just written (still in our cache).
	 */
	dst = (void *)(log->recs + log->appended.end);
	memcpy(dst, &h, sizeof(h));
	memcpy(dst + 1, payload, len);
	memset((uint8_t *)(dst + 1) + len, 0, size - sizeof(h) - len);
	dst->crc = htole32(rec_crc(dst, size));
	/* P2: write back exactly the lines this record touched. */
	log->ops->flush(dst, size);

	log->appended.seq++;
	log->appended.end += size;
	log->appended.epoch = epoch;
	if (ret_seq)
		*ret_seq = log->appended.seq;
	return 0;
}

void famfs_log_publish(struct famfs_log *log)
{
	struct famfs_log_tail *slot = &log->hdr->tail[log->next_slot];

	if (log->appended.seq == log->published.seq)
		return;
	/* P3: every appended record is in the pool before the tail names it. */
	log->ops->wfence();
	/* P4: the other slot, so a torn write leaves the previous tail whole. */
	tail_encode(slot, &log->appended, log->generation);
	/* P5 */
	log->ops->flush(slot, sizeof(*slot));
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
