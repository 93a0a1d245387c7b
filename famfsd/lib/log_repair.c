// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Scrub and repair of the log: each copy of every part checked on its
 * own (famfs_log_verify), a damaged copy rewritten from the good one
 * (famfs_log_repair), and the tail slots made to agree.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "guard.h"
#include "log_private.h"

/* ---- scrub and repair ------------------------------------------------------ */

static long verify_header(struct famfs_log *log)
{
	struct famfs_log_base b[2];
	const char *why[2];

	log_hdr_read(log, b, why);
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (why[c])
			log_report(log, &(struct famfs_log_damage){
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
		why[c] = log_check_retry(log, c, pos->end, limit, want);
		if (!why[c] && !len)
			len = le32toh(((const struct famfs_rec_hdr *)
				       log->bounce)->len);
	}
	if (!why[0] && !why[1] &&
	    log_differ(body_of(log, 0) + pos->end, body_of(log, 1) + pos->end, len))
		why[1] = "record: copy 1 differs from copy 0";
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (why[c])
			log_report(log, &(struct famfs_log_damage){
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
	if (log_hdr_read_one(log, !bad, &b))
		return -EUCLEAN;
	if (copy_over(log, bad, 0, offsetof(struct famfs_log_hdr, tail)) < 0 ||
	    log_hdr_read_one(log, bad, &b))
		return -EAGAIN;
	log->hdr_why[bad] = NULL;
	return 0;
}

int famfs_log_repair(struct famfs_log *log, const struct famfs_log_damage *d)
{
	uint64_t limit, want;

	if (d->both)
		return -EUCLEAN;
	if (!log_may_store(log))
		return -ESHUTDOWN;
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
	if (log_check_retry(log, !d->copy, d->offset, limit, want))
		return -EUCLEAN;
	if (copy_over(log, d->copy, FAMFS_LOG_HDR_SIZE + d->offset, d->len) < 0)
		return -EAGAIN;
	log->inval_start[d->copy] = log->inval_end[d->copy] = 0;
	return log_check_retry(log, d->copy, d->offset, limit, want) ? -EAGAIN : 0;
}

int famfs_log_repair_tail(struct famfs_log *log)
{
	struct famfs_log_pos slot[FAMFS_LOG_TAIL_SLOTS], tail;
	struct famfs_log_error err;
	const char *why[FAMFS_LOG_TAIL_SLOTS];
	int r = famfs_log_read_tail(log, &tail, &err);

	if (r < 0)
		return r;
	if (!log_may_store(log))
		return -ESHUTDOWN;
	(void)log_tail_scan(log, slot, why);
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
		log_tail_write(log, i, good);
	}
	log->ops->wfence();
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		log->slot_why[s] = NULL;
	return 0;
}
