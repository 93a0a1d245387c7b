// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: arbitrary bytes as a pool image (see fuzz_pool.h for
 * the three input forms). On every image it runs what a tool or an agent
 * runs on a pool it did not write:
 *   - famfs_sb_load (both copies),
 *   - famfs_fsck with the "none" cache ops,
 *   - a logdump-style walk: log open with a damage hook that checks every
 *     report names a place that exists, tail, every checkpoint item and
 *     every record read, decoded, its bytes touched, its names checked,
 *     and rebuilt through famfs_rec_build to check
 *     decode(build(decode(x))) == decode(x),
 *   - the scrub and its repair: famfs_log_verify over every part, then
 *     famfs_log_repair of each damaged copy whose twin is good; fsck must
 *     then find the very state it found before (a repair copies what
 *     readers already read), and a second scrub none of what was mended,
 *   - famfs_lease_read,
 *   - the election slots (famfs_elect_view) and the agent roster
 *     (famfs_roster_load), each as the image holds them and again with
 *     every slot's and entry's CRC made right, so the checks behind the
 *     CRC see arbitrary values.
 * Crashes, sanitizer reports and hangs are the findings; on top of that,
 * abort() marks a broken promise between these functions (fsck clean but
 * a record unreadable, a failure with no place named, a repair that
 * changed the state, ...).
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "checkpoint.h"
#include "crc.h"
#include "elect.h"
#include "fsck.h"
#include "lease.h"
#include "log.h"
#include "names.h"
#include "record.h"
#include "replay.h"
#include "roster.h"
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
	for (uint32_t i = 0; i < r->n_reclaims; i++)
		sum += (uint32_t)(le64toh(r->reclaims[i].ino) ^
				  le64toh(r->reclaims[i].delete_seq));
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
		CHECK(back.n_reclaims == r->n_reclaims);
		CHECK(memcmp(back.reclaims, r->reclaims,
			     r->n_reclaims * sizeof(*r->reclaims)) == 0);
		break;
	case FAMFS_REC_PENDING:
		CHECK(back.ino == r->ino && back.delete_seq == r->delete_seq &&
		      back.n_extents == r->n_extents);
		CHECK(!r->n_extents || memcmp(back.extents, r->extents,
					      r->n_extents * sizeof(*r->extents)) == 0);
		break;
	default:
		abort();		/* decode accepted an unknown type */
	}
}

/* What a damage hook collects, and what it needs to check a report. */
#define FUZZ_MAX_DAMAGE	32

struct damage_ctx {
	uint64_t log_size, generation, capacity;
	unsigned int n;
	struct famfs_log_damage d[FUZZ_MAX_DAMAGE];
};

/* Every report names a part, a copy and a place inside the log. */
static void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct damage_ctx *c = ctx;
	uint64_t area;

	CHECK(d->copy < FAMFS_LOG_COPIES && d->reason != NULL);
	area = famfs_log_area_offset(c->log_size, c->generation, d->copy);
	switch (d->part) {
	case FAMFS_LOG_PART_HEADER:
		CHECK(d->offset == 0 && d->log_offset == area);
		break;
	case FAMFS_LOG_PART_TAIL:
		CHECK(d->seq < 2 && d->len == sizeof(struct famfs_log_tail));
		CHECK(d->offset == offsetof(struct famfs_log_hdr, tail) +
		      d->seq * sizeof(struct famfs_log_tail));
		CHECK(d->log_offset == area + d->offset);
		break;
	case FAMFS_LOG_PART_ITEM:
	case FAMFS_LOG_PART_RECORD:
		CHECK(d->seq > 0 && d->offset < c->capacity);
		CHECK(d->log_offset == area + FAMFS_LOG_HDR_SIZE + d->offset);
		/* A good twin gives the length to copy, inside the body. */
		CHECK(d->both || (d->len >= sizeof(struct famfs_rec_hdr) &&
				  d->len <= c->capacity - d->offset));
		break;
	default:
		abort();
	}
	if (c->n < FUZZ_MAX_DAMAGE)
		c->d[c->n] = *d;
	c->n++;
}

/* The log the superblock names, the hook listening; NULL if it does not open. */
static struct famfs_log *open_log(uint8_t *base, size_t size,
				  struct famfs_pool_info *info,
				  struct damage_ctx *dc)
{
	struct famfs_log_error err;
	struct famfs_log *log;

	if (famfs_sb_load(base, size, ops, info, NULL) < 0)
		return NULL;
	if (famfs_log_open(base + info->log_offset, info->log_size,
			   info->log_generation, ops, &log, &err) < 0) {
		CHECK(err.reason != NULL);
		return NULL;
	}
	memset(dc, 0, sizeof(*dc));
	dc->log_size = info->log_size;
	dc->generation = info->log_generation;
	dc->capacity = famfs_log_capacity(log);
	famfs_log_set_damage_hook(log, on_damage, dc);
	return log;
}

/* Decodes, touches and round-trips an item or record; false if it does not decode. */
static bool look_at(const struct famfs_rec_hdr *h)
{
	struct famfs_rec r;
	const char *why;

	if (famfs_rec_decode(h, &r, &why) < 0) {
		CHECK(why != NULL);
		return false;
	}
	(void)touch(&r);
	round_trip(h, &r);
	return true;
}

/*
 * The logdump walk: the checkpoint's items, then the records. Returns the
 * sequence of the last record read (the base's with none), or -1 when the
 * superblock, log header or tail refused, -2 when an item or record did.
 */
static long walk(uint8_t *base, size_t size)
{
	struct famfs_log_pos pos = { 0 }, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_pool_info info;
	struct famfs_log_error err;
	struct famfs_log_base b;
	struct damage_ctx dc;
	struct famfs_log *log;
	int got;

	log = open_log(base, size, &info, &dc);
	if (!log)
		return -1;
	if (famfs_log_read_tail(log, &tail, &err) < 0) {
		famfs_log_free(log);
		return -1;
	}
	CHECK(tail.end <= famfs_log_capacity(log));
	b = famfs_log_base(log);
	while ((got = famfs_log_ckpt_next(log, &pos, &h, &err)) > 0) {
		CHECK(pos.end <= b.ckpt_bytes && pos.seq <= b.ckpt_items);
		if (!look_at(h)) {
			got = -1;
			break;
		}
	}
	if (got == 0) {
		CHECK(pos.end == b.ckpt_bytes && pos.seq == b.ckpt_items);
		pos = famfs_log_start(log);
		while ((got = famfs_log_next(log, &pos, &tail, &h, &err)) > 0) {
			/* The record lies inside the published part of the log. */
			CHECK(pos.end <= tail.end && le64toh(h->seq) == pos.seq);
			if (!look_at(h)) {
				got = -1;
				break;
			}
		}
	}
	if (got < 0)
		CHECK(err.reason != NULL || got == -1);
	famfs_log_free(log);
	return got < 0 ? -2 : (long)pos.seq;
}

/* famfs_log_verify over every part of the log, reporting to its hook. */
static void scrub(struct famfs_log *log)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_log_error err;

	(void)famfs_log_verify(log, FAMFS_LOG_PART_HEADER, &pos, NULL);
	(void)famfs_log_verify(log, FAMFS_LOG_PART_TAIL, &pos, NULL);
	while (famfs_log_verify(log, FAMFS_LOG_PART_ITEM, &pos, NULL) > 0)
		CHECK(pos.end <= famfs_log_base(log).ckpt_bytes);
	if (famfs_log_read_tail(log, &tail, &err) < 0)
		return;
	pos = famfs_log_start(log);
	while (famfs_log_verify(log, FAMFS_LOG_PART_RECORD, &pos, &tail) > 0)
		CHECK(pos.end <= tail.end);
}

static bool same_damage(const struct famfs_log_damage *a,
			const struct famfs_log_damage *b)
{
	return a->part == b->part && a->copy == b->copy && a->offset == b->offset;
}

/* What readers see of the image: fsck's findings but the survivable ones. */
static bool same_view(const struct famfs_fsck_report *a,
		      const struct famfs_fsck_report *b)
{
	return a->where == b->where && a->records == b->records &&
	       a->tail_seq == b->tail_seq && a->log_used == b->log_used &&
	       a->files == b->files && a->dirs == b->dirs &&
	       a->tenants == b->tenants && a->used_bytes == b->used_bytes &&
	       a->pending_bytes == b->pending_bytes &&
	       a->bad_seq == b->bad_seq && a->bad_offset == b->bad_offset;
}

/*
 * The scrub and its repair. Returns how far into the image it may have
 * written (0: nowhere). before is fsck's report on the image as it was.
 */
static size_t scrub_and_repair(uint8_t *base, size_t size, int fsck_r,
			       const struct famfs_fsck_report *before)
{
	struct famfs_log_damage fixed[FUZZ_MAX_DAMAGE];
	struct famfs_fsck_report after;
	struct famfs_pool_info info;
	struct damage_ctx dc;
	struct famfs_log *log;
	unsigned int n_fixed = 0;

	log = open_log(base, size, &info, &dc);
	if (!log)
		return 0;
	scrub(log);
	for (unsigned int i = 0; i < dc.n && i < FUZZ_MAX_DAMAGE; i++) {
		int r = famfs_log_repair(log, &dc.d[i]);

		/* Lost in both copies: nothing to copy from. */
		CHECK(!dc.d[i].both || r == -EUCLEAN);
		/* In memory a rewritten copy reads back as written. */
		CHECK(r == 0 || r == -EUCLEAN || r == -EINVAL);
		if (r == 0)
			fixed[n_fixed++] = dc.d[i];
	}
	famfs_log_free(log);
	if (!n_fixed)
		return 0;
	/* Readers see what they saw before the repair, exactly. */
	CHECK(famfs_fsck(base, size, ops, &after) == fsck_r);
	CHECK(same_view(&after, before));
	/* And what was mended does not turn up again. */
	log = open_log(base, size, &info, &dc);
	CHECK(log != NULL);
	scrub(log);
	for (unsigned int i = 0; i < dc.n && i < FUZZ_MAX_DAMAGE; i++)
		for (unsigned int k = 0; k < n_fixed; k++)
			CHECK(!same_damage(&dc.d[i], &fixed[k]));
	famfs_log_free(log);
	return info.log_offset + info.log_size;
}

/* What any reader of the slots relies on, whatever the bytes. */
static void check_elect(const uint8_t *base)
{
	struct famfs_elect_view v;
	unsigned int used = 0;

	CHECK(famfs_elect_view(base, ops, &v) == 0);
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int st = v.status[i];

		CHECK(st == 0 || st == -ENOENT || st == -EUCLEAN || st == -EIO);
		used += st != -ENOENT;
		if (st)
			continue;
		CHECK(v.slot[i].slot == i && v.slot[i].state <= FAMFS_ELECT_STOPPED);
		CHECK(strlen(v.slot[i].url) <= FAMFS_URL_MAX);
		CHECK(strlen(v.slot[i].host) <= FAMFS_HOST_MAX);
		CHECK(v.slot[i].epoch <= v.highest_epoch);
	}
	CHECK(v.n_used == used);
	if (v.active >= 0) {
		CHECK(v.active < (int)FAMFS_ELECT_SLOTS && v.status[v.active] == 0);
		CHECK(v.slot[v.active].state == FAMFS_ELECT_ACTIVE);
		CHECK(v.epoch == v.slot[v.active].epoch);
	} else {
		CHECK(v.epoch == 0 && v.url[0] == '\0');
	}
}

static void check_roster(const uint8_t *base)
{
	struct famfs_roster *r = NULL;
	int err = famfs_roster_load(base, ops, &r);

	CHECK(err == 0 || err == -ENOMEM);
	if (err)
		return;
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		const struct famfs_roster_info *e = famfs_roster_get(r, i);
		enum famfs_roster_health h = famfs_roster_health(r, i);

		CHECK(h <= FAMFS_ROSTER_H_LOST);
		/* An entry is readable exactly when some copy of it is good. */
		CHECK(!e == (h == FAMFS_ROSTER_H_EMPTY || h == FAMFS_ROSTER_H_LOST));
		if (!e)
			continue;
		CHECK(e->index == i && e->id[0] != '\0');
		CHECK(strlen(e->id) <= FAMFS_AGENT_ID_MAX);
		CHECK(strlen(e->host) <= FAMFS_HOST_MAX);
		CHECK(famfs_roster_find(r, e->id) >= 0);
	}
	famfs_roster_free(r);
}

/* The two, on the image, then on a copy whose every block has a good CRC. */
static void check_meta_blocks(const uint8_t *base)
{
	static uint8_t fixed[FAMFS_ROSTER_COPY1 + FAMFS_ROSTER_ENTRIES *
			     FAMFS_ROSTER_ENTRY_SIZE];

	check_elect(base);
	check_roster(base);
	memcpy(fixed, base, sizeof(fixed));
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		struct famfs_elect_slot *sl = (void *)(fixed + FAMFS_ELECT_OFFSET +
						       i * FAMFS_ELECT_SLOT_SIZE);

		sl->crc = htole32(famfs_crc_struct(sl, sizeof(*sl)));
	}
	for (unsigned int c = 0; c < 2; c++)
		for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
			struct famfs_roster_entry *e = (void *)(fixed +
				(c ? FAMFS_ROSTER_COPY1 : FAMFS_ROSTER_OFFSET) +
				i * FAMFS_ROSTER_ENTRY_SIZE);

			e->crc = htole32(famfs_crc_struct(e, sizeof(*e)));
		}
	check_elect(fixed);
	check_roster(fixed);
}

/* Runs everything on the image; returns how far into it a repair wrote. */
static size_t check_image(uint8_t *base, size_t size)
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
	/* Images are at least FUZZ_IMAGE_MIN bytes: both areas are inside. */
	check_meta_blocks(base);
	return r == -ENOMEM ? 0 : scrub_and_repair(base, size, r, &rep);
}

/* The stream form's writer: its pool's superblock and log. */
struct stream {
	struct famfs_pool_info info;
	struct famfs_log *log;
	int compactions;
};

/* FUZZ_OP_COMPACT: the published state as the next generation's checkpoint. */
static void stream_compact(uint8_t *base, struct stream *s)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_replay_error rerr;
	struct famfs_log_error err;
	struct famfs_state *st;
	struct famfs_log *next;
	int r;

	if (s->compactions++ >= FUZZ_MAX_COMPACTIONS)
		return;
	famfs_log_publish(s->log);
	if (famfs_log_read_tail(s->log, &tail, &err) < 0)
		return;		/* a DAMAGE op hit every slot */
	CHECK(famfs_state_new(&s->info, &st) == 0);
	/* The master only ever compacts a state that replays. */
	if (famfs_replay(s->log, &pos, &tail, st, NULL, NULL, &rerr) < 0) {
		famfs_state_free(st);
		return;
	}
	CHECK(famfs_log_create(base + s->info.log_offset, s->info.log_size,
			       s->info.log_generation + 1, ops, &next) == 0);
	r = famfs_ckpt_write(st, next);
	famfs_state_free(st);
	CHECK(r == 0 || r == -ENOSPC);
	if (r < 0) {
		famfs_log_free(next);
		return;
	}
	s->info.log_generation++;
	s->info.sb_seq++;
	famfs_sb_write(base, &s->info, ops);
	famfs_log_free(s->log);
	s->log = next;
}

/* FUZZ_OP_DAMAGE: one byte of the current area changed in some copies. */
static void stream_damage(uint8_t *base, const struct stream *s,
			  const uint8_t *p, uint32_t len)
{
	uint64_t area = famfs_log_area_size(s->info.log_size), off;

	if (len < 6)
		return;
	off = ((uint64_t)p[2] | (uint64_t)p[3] << 8 | (uint64_t)p[4] << 16 |
	       (uint64_t)p[5] << 24) % area;
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (p[0] & (1u << c))
			base[s->info.log_offset + off +
			     famfs_log_area_offset(s->info.log_size,
						   s->info.log_generation, c)] ^= p[1];
}

/* Stream form: the library writes the records; returns bytes to clear. */
static size_t build_stream(uint8_t *base, const uint8_t *p, size_t n)
{
	struct stream s = { .info = stream_info };
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	size_t at = 0;

	famfs_log_format(base + s.info.log_offset, s.info.log_size,
			 s.info.log_generation, ops);
	famfs_sb_write(base, &s.info, ops);
	CHECK(famfs_log_open(base + s.info.log_offset, s.info.log_size,
			     s.info.log_generation, ops, &s.log, &err) == 0);
	CHECK(famfs_log_read_tail(s.log, &tail, &err) == 0);
	famfs_log_writer_start(s.log, &tail);
	while (n - at >= 4) {
		uint8_t type = p[at], epoch = p[at + 1];
		uint8_t op = type & ~FUZZ_PUBLISH;
		uint32_t len = (uint32_t)p[at + 2] | (uint32_t)p[at + 3] << 8;

		at += 4;
		if (len > n - at)
			len = (uint32_t)(n - at);
		if (len > FAMFS_REC_PAYLOAD_MAX)
			len = FAMFS_REC_PAYLOAD_MAX;
		if (op == FUZZ_OP_COMPACT)
			stream_compact(base, &s);
		else if (op == FUZZ_OP_DAMAGE)
			stream_damage(base, &s, p + at, len);
		else if (famfs_log_append(s.log, op, epoch, p + at, len, NULL) < 0)
			break;
		at += len;
		if (type & FUZZ_PUBLISH)
			famfs_log_publish(s.log);
	}
	famfs_log_publish(s.log);
	famfs_log_free(s.log);
	/* Both copies, and after a compaction the other areas too. */
	return s.info.log_offset + s.info.log_size;
}

/* Sparse form: chunks over zeros; returns bytes to clear. */
static size_t build_sparse(uint8_t *base, size_t span, const uint8_t *p,
			   size_t n)
{
	size_t at = 0, dirty = 0;

	while (n - at >= 6) {
		size_t off = ((size_t)p[at] | (size_t)p[at + 1] << 8 |
			      (size_t)p[at + 2] << 16 |
			      (size_t)p[at + 3] << 24) % span;
		size_t len = (size_t)p[at + 4] | (size_t)p[at + 5] << 8;

		at += 6;
		if (len > n - at)
			len = n - at;
		if (len > span - off)
			len = span - off;
		memcpy(base + off, p + at, len);
		at += len;
		if (off + len > dirty)
			dirty = off + len;
	}
	return dirty;
}

/* Every record or item that frames, from the start of an area's body. */
static void fix_record_crcs(uint8_t *body, uint64_t capacity, uint64_t gen)
{
	uint64_t off = 0;

	while (capacity - off >= sizeof(struct famfs_rec_hdr)) {
		struct famfs_rec_hdr *h = (void *)(body + off);
		uint32_t len = le32toh(h->len);

		if (len < sizeof(*h) || len % FAMFS_REC_ALIGN ||
		    len > FAMFS_REC_MAX_SIZE || len > capacity - off)
			return;
		h->crc = htole32(famfs_rec_crc(h, len, gen));
		off += len;
	}
}

/* The sparse form with CRCs: right CRCs everywhere in the compact layout. */
static void fix_crcs(uint8_t *base)
{
	const struct famfs_pool_info *info = &stream_info;
	uint64_t capacity = famfs_log_area_size(info->log_size) - FAMFS_LOG_HDR_SIZE;

	for (int i = 0; i < 2; i++) {
		struct famfs_sb *sb = (void *)(base + (i ? FAMFS_SB_B_OFFSET :
						       FAMFS_SB_A_OFFSET));

		sb->crc = htole32(famfs_crc_struct(sb, sizeof(*sb)));
	}
	for (uint64_t gen = 1; gen <= 2; gen++)
		for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++) {
			uint8_t *area = base + info->log_offset +
					famfs_log_area_offset(info->log_size, gen, c);
			struct famfs_log_hdr *h = (void *)area;

			h->crc = htole32(famfs_crc32c(h, offsetof(struct famfs_log_hdr,
								  crc)));
			for (int k = 0; k < 2; k++)
				h->tail[k].crc = htole32(famfs_crc_struct(&h->tail[k],
									  sizeof(h->tail[k])));
			fix_record_crcs(area + FAMFS_LOG_HDR_SIZE, capacity,
					le64toh(h->generation));
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t span = size > FUZZ_IMAGE_MIN ? size : FUZZ_IMAGE_MIN, dirty, wrote;
	uint8_t *base = image(span);

	if (size >= FUZZ_MAGIC_LEN &&
	    memcmp(data, FUZZ_STREAM_MAGIC, FUZZ_MAGIC_LEN) == 0) {
		dirty = build_stream(base, data + FUZZ_MAGIC_LEN,
				     size - FUZZ_MAGIC_LEN);
	} else if (size >= FUZZ_MAGIC_LEN &&
		   memcmp(data, FUZZ_SPARSE_MAGIC, FUZZ_MAGIC_LEN) == 0) {
		dirty = build_sparse(base, span, data + FUZZ_MAGIC_LEN,
				     size - FUZZ_MAGIC_LEN);
	} else if (size >= FUZZ_MAGIC_LEN &&
		   memcmp(data, FUZZ_SPARSE_CRC_MAGIC, FUZZ_MAGIC_LEN) == 0) {
		(void)build_sparse(base, span, data + FUZZ_MAGIC_LEN,
				   size - FUZZ_MAGIC_LEN);
		fix_crcs(base);
		dirty = stream_info.log_offset + stream_info.log_size;
	} else {
		memcpy(base, data, size);
		dirty = size;
	}
	wrote = check_image(base, span);
	if (wrote > dirty)
		dirty = wrote;
	memset(base, 0, dirty);		/* the next input starts from zeros */
	return 0;
}
