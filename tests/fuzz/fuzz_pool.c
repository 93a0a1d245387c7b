// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: arbitrary bytes as a pool image (see fuzz_pool.h for
 * the two input forms). On every image it runs what a tool or an agent
 * runs on a pool it did not write:
 *   - famfs_sb_load (both copies),
 *   - famfs_fsck with the "none" cache ops,
 *   - a logdump-style walk: log open, tail, every record read, decoded,
 *     its bytes touched, its names checked, and rebuilt through
 *     famfs_rec_build to check decode(build(decode(x))) == decode(x),
 *   - famfs_lease_read.
 * Crashes, sanitizer reports and hangs are the findings; on top of that,
 * abort() marks a broken promise between these functions (fsck clean but
 * a record unreadable, a failure with no place named, ...).
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "fsck.h"
#include "lease.h"
#include "log.h"
#include "names.h"
#include "record.h"
#include "super.h"

#include "../unit/testpool.h"
#include "fuzz_pool.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct famfs_cache_ops *ops;
static uint8_t *img;			/* zero outside of one run */
static size_t img_size;
static struct famfs_pool_info stream_info;

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/*
	 * Each fsck builds a namespace whose node arena maps a 2 MiB chunk:
	 * with transparent huge pages every input would clear a huge page.
	 */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	ops = famfs_cache_ops_get(FAMFS_COH_NONE);
	tpool_compact_info(&stream_info, FUZZ_LOG_SIZE, FUZZ_UNIT,
			   FUZZ_DATA_UNITS);
	return 0;
}

/* An image buffer of at least size bytes, 4 KiB aligned, all zero. */
static uint8_t *image(size_t size)
{
	if (size > img_size) {
		free(img);
		img_size = (size + 4095) & ~(size_t)4095;
		img = aligned_alloc(4096, img_size);
		CHECK(img);
		memset(img, 0, img_size);
	}
	return img;
}

/* Reads every byte a decoded record points at (ASan checks the bounds). */
static uint32_t touch(const struct famfs_rec *r)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i < r->name_len; i++)
		sum += (uint8_t)r->name[i];
	for (uint32_t i = 0; i < r->tenant_len; i++)
		sum += (uint8_t)r->tenant[i];
	for (uint32_t i = 0; i < r->n_extents; i++)
		sum += (uint32_t)(famfs_extent_offset(&r->extents[i]) ^
				  famfs_extent_len(&r->extents[i]));
	sum += (uint32_t)strlen(famfs_rec_type_name(r->type));
	if (r->name_len)
		sum += famfs_name_check(r->name, r->name_len) != NULL;
	if (r->tenant_len)
		sum += famfs_tenant_check(r->tenant, r->tenant_len) != NULL;
	return sum;
}

static bool same_bytes(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
	return alen == blen && (!alen || memcmp(a, b, alen) == 0);
}

/* decode(build(r)) must give r back, for every record the builder takes. */
static void round_trip(const struct famfs_rec_hdr *h, const struct famfs_rec *r)
{
	static union {
		struct famfs_rec_hdr h;
		uint8_t b[FAMFS_REC_MAX_SIZE];
		uint64_t align;
	} f;
	struct famfs_rec back;
	const char *why;
	int n;

	n = famfs_rec_build(r, f.b + sizeof(f.h), FAMFS_REC_PAYLOAD_MAX);
	if (n < 0) {
		/* The decoder is laxer here: tenants of 64..255 bytes. */
		CHECK(r->tenant_len > FAMFS_TENANT_MAX);
		return;
	}
	f.h = *h;
	f.h.len = htole32(famfs_rec_size((uint32_t)n));
	memset(f.b + sizeof(f.h) + n, 0, famfs_rec_size((uint32_t)n) -
	       sizeof(f.h) - (uint32_t)n);
	CHECK(famfs_rec_decode(&f.h, &back, &why) == 0);
	CHECK(back.type == r->type && back.seq == r->seq &&
	      back.epoch == r->epoch);
	switch (r->type) {
	case FAMFS_REC_CREATE:
		CHECK(back.size == r->size && back.n_extents == r->n_extents);
		CHECK(!r->n_extents || memcmp(back.extents, r->extents,
					      r->n_extents * sizeof(*r->extents)) == 0);
		CHECK(same_bytes(back.tenant, back.tenant_len, r->tenant,
				 r->tenant_len));
		/* fall through */
	case FAMFS_REC_MKDIR:
		CHECK(back.mtime_ns == r->mtime_ns && back.mode == r->mode &&
		      back.uid == r->uid && back.gid == r->gid);
		/* fall through */
	case FAMFS_REC_DELETE:
		CHECK(back.ino == r->ino && back.parent == r->parent);
		CHECK(same_bytes(back.name, back.name_len, r->name, r->name_len));
		break;
	case FAMFS_REC_SET_QUOTA:
		CHECK(back.max_bytes == r->max_bytes &&
		      back.max_files == r->max_files);
		CHECK(same_bytes(back.tenant, back.tenant_len, r->tenant,
				 r->tenant_len));
		break;
	case FAMFS_REC_RECLAIM:
		CHECK(back.ino == r->ino && back.delete_seq == r->delete_seq);
		break;
	default:
		abort();		/* decode accepted an unknown type */
	}
}

/*
 * The logdump walk. Returns the number of records read and decoded, or -1
 * when the superblock, log header or tail refused, -2 when a record did.
 */
static long walk(uint8_t *base, size_t size)
{
	struct famfs_log_pos pos = { 0 }, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_pool_info info;
	struct famfs_log *log;
	struct famfs_rec r;
	const char *why;
	long n = 0;
	int got;

	if (famfs_sb_load(base, size, ops, &info, NULL) < 0)
		return -1;
	if (famfs_log_open(base + info.log_offset, info.log_size,
			   info.log_generation, ops, &log, &err) < 0)
		return -1;
	if (famfs_log_read_tail(log, &tail, &err) < 0) {
		famfs_log_free(log);
		return -1;
	}
	CHECK(tail.end <= famfs_log_capacity(log));
	while ((got = famfs_log_next(log, &pos, &tail, &h, &err)) > 0) {
		/* The record lies inside the published part of the log. */
		CHECK(pos.end <= tail.end && le64toh(h->seq) == pos.seq);
		if (famfs_rec_decode(h, &r, &why) < 0) {
			CHECK(why != NULL);
			got = -1;
			break;
		}
		(void)touch(&r);
		round_trip(h, &r);
		n++;
	}
	if (got < 0)
		CHECK(err.reason != NULL || got == -1);
	famfs_log_free(log);
	return got < 0 ? -2 : n;
}

static void check_image(uint8_t *base, size_t size)
{
	struct famfs_fsck_report rep;
	struct famfs_lease_info lease;
	struct famfs_pool_info info;
	struct famfs_sb_status st;
	int r, sb;
	long n;

	sb = famfs_sb_load(base, size, ops, &info, &st);
	CHECK(sb == 0 || sb == -EUCLEAN || sb == -ENODEV);
	if (sb < 0)
		CHECK(st.reason[0] && st.reason[1] && st.used == -1);
	else
		CHECK((st.used == 0 || st.used == 1) && !st.reason[st.used]);

	r = famfs_fsck(base, size, ops, &rep);
	CHECK(r == 0 || r == -EUCLEAN || r == -ENODEV || r == -ENOMEM);
	if (r == 0) {
		CHECK(rep.where == FAMFS_FSCK_OK && rep.records == rep.tail_seq);
	} else if (r != -ENOMEM) {
		/* Every failure names its place and its reason. */
		CHECK(rep.where != FAMFS_FSCK_OK && rep.where != FAMFS_FSCK_NOMEM);
		CHECK(rep.reason != NULL);
		CHECK(strcmp(famfs_fsck_where_name(rep.where), "unknown") != 0);
		/* No record beyond what the tail published was applied. */
		CHECK(rep.records <= rep.tail_seq);
	}
	/* fsck and the superblock loader agree on whether there is a pool. */
	CHECK((sb < 0) == (r < 0 && rep.where == FAMFS_FSCK_SUPERBLOCK));

	n = walk(base, size);
	if (r == 0)		/* clean: every published record reads back */
		CHECK(n >= 0 && (uint64_t)n == rep.records);
	if (r < 0 && rep.where >= FAMFS_FSCK_LOG_HEADER &&
	    rep.where <= FAMFS_FSCK_TAIL)
		CHECK(n == -1);
	if (r < 0 && rep.where == FAMFS_FSCK_RECORD)
		CHECK(n == -2);

	if (sb == 0)
		(void)famfs_lease_read(base, ops, &lease);
}

/* Stream form: the library writes the records; returns bytes to clear. */
static size_t build_stream(uint8_t *base, const uint8_t *p, size_t n)
{
	const struct famfs_pool_info *info = &stream_info;
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	struct famfs_log *log;
	size_t at = 0;

	famfs_log_format(base + info->log_offset, info->log_size,
			 info->log_generation, ops);
	famfs_sb_write(base, info, ops);
	CHECK(famfs_log_open(base + info->log_offset, info->log_size,
			     info->log_generation, ops, &log, &err) == 0);
	CHECK(famfs_log_read_tail(log, &tail, &err) == 0);
	famfs_log_writer_start(log, &tail);
	while (n - at >= 4) {
		uint8_t type = p[at], epoch = p[at + 1];
		uint32_t len = (uint32_t)p[at + 2] | (uint32_t)p[at + 3] << 8;

		at += 4;
		if (len > n - at)
			len = (uint32_t)(n - at);
		if (len > FAMFS_REC_PAYLOAD_MAX)
			len = FAMFS_REC_PAYLOAD_MAX;
		if (famfs_log_append(log, type & ~FUZZ_PUBLISH, epoch, p + at,
				     len, NULL) < 0)
			break;
		at += len;
		if (type & FUZZ_PUBLISH)
			famfs_log_publish(log);
	}
	famfs_log_publish(log);
	at = info->log_offset + FAMFS_LOG_HDR_SIZE +
	     famfs_log_appended(log).end;
	famfs_log_free(log);
	return at;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t span = size > FUZZ_IMAGE_MIN ? size : FUZZ_IMAGE_MIN, dirty;
	uint8_t *base = image(span);

	if (size >= FUZZ_STREAM_MAGIC_LEN &&
	    memcmp(data, FUZZ_STREAM_MAGIC, FUZZ_STREAM_MAGIC_LEN) == 0) {
		dirty = build_stream(base, data + FUZZ_STREAM_MAGIC_LEN,
				     size - FUZZ_STREAM_MAGIC_LEN);
	} else {
		memcpy(base, data, size);
		dirty = size;
	}
	check_image(base, span);
	memset(base, 0, dirty);		/* the next input starts from zeros */
	return 0;
}
