/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helper: builds real pools in a malloc'd buffer with the library's
 * own writer API (plan, log format, superblock write, record build,
 * append, publish), the way mkfs and the master do. Shared by the unit
 * tests and the fuzz seed generator, so it uses no test framework: every
 * helper returns 0 or -errno and the caller asserts.
 *
 * Header-only (static inline) because each unit test is one source file.
 */
#ifndef FAMFSD_TESTPOOL_H
#define FAMFSD_TESTPOOL_H

#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cache.h"
#include "checkpoint.h"
#include "log.h"
#include "record.h"
#include "replay.h"
#include "state.h"
#include "super.h"

struct tpool {
	uint8_t *base;			/* pool offset 0, 4 KiB aligned */
	uint64_t size;			/* bytes in the buffer */
	struct famfs_pool_info info;
	const struct famfs_cache_ops *ops;
	struct famfs_log *log;		/* the writer's handle */
	struct famfs_alloc *alloc;	/* the writer's view of free space */
	uint64_t epoch;			/* stamped on every record */
	uint64_t next_ino;		/* next inode number handed out */
};

/*
 * The smallest layout the superblock checks accept: log right after the
 * lease area instead of at 2 MiB, so a whole pool fits in ~1 MiB plus
 * its data units (mkfs always uses famfs_sb_plan's layout).
 */
#define TPOOL_COMPACT_LOG_OFFSET	16384ull

static inline void tpool_compact_info(struct famfs_pool_info *info,
				      uint64_t log_size, uint64_t unit,
				      uint64_t data_units)
{
	memset(info, 0, sizeof(*info));
	info->version = FAMFS_FORMAT_VERSION;
	info->alloc_unit = unit;
	info->log_offset = TPOOL_COMPACT_LOG_OFFSET;
	info->log_size = log_size;
	info->data_offset = (info->log_offset + log_size + unit - 1) / unit * unit;
	info->device_size = info->data_offset + data_units * unit;
	info->log_generation = 1;
	info->sb_seq = 1;
	info->created_ns = 1700000000ull * 1000000000ull;
	for (int i = 0; i < 16; i++)
		info->pool_uuid[i] = (uint8_t)(0xa0 + i);
}

/* Formats a pool with the given geometry into a fresh buffer. */
static inline int tpool_init_info(struct tpool *p,
				  const struct famfs_pool_info *info,
				  const struct famfs_cache_ops *ops)
{
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	uint64_t units;
	int r;

	memset(p, 0, sizeof(*p));
	p->size = (info->device_size + 4095) & ~4095ull;
	p->base = aligned_alloc(4096, p->size);
	if (!p->base)
		return -ENOMEM;
	memset(p->base, 0, p->size);
	p->info = *info;
	p->ops = ops;
	p->epoch = 1;
	p->next_ino = FAMFS_ROOT_INO + 1;
	famfs_log_format(p->base + info->log_offset, info->log_size,
			 info->log_generation, ops);
	famfs_sb_write(p->base, info, ops);
	r = famfs_log_open(p->base + info->log_offset, info->log_size,
			   info->log_generation, ops, &p->log, &err);
	if (r < 0)
		return r;
	r = famfs_log_read_tail(p->log, &tail, &err);
	if (r < 0)
		return r;
	famfs_log_writer_start(p->log, &tail);
	units = (info->device_size - info->data_offset) / info->alloc_unit;
	return famfs_alloc_new(info->data_offset, units, info->alloc_unit,
			       &p->alloc);
}

/*
 * Formats a pool laid out by famfs_sb_plan (as mkfs does) with data_units
 * units of data after the metadata.
 */
static inline int tpool_init(struct tpool *p, uint64_t unit, uint64_t log_size,
			     uint64_t data_units,
			     const struct famfs_cache_ops *ops)
{
	struct famfs_pool_info info;
	int r;

	/* First pass learns where data starts, the second plans for real. */
	r = famfs_sb_plan(1ull << 40, unit, log_size, &info, NULL);
	if (r < 0)
		return r;
	r = famfs_sb_plan(info.data_offset + data_units * unit, unit, log_size,
			  &info, NULL);
	if (r < 0)
		return r;
	info.created_ns = 1700000000ull * 1000000000ull;
	return tpool_init_info(p, &info, ops);
}

static inline void tpool_fini(struct tpool *p)
{
	famfs_log_free(p->log);
	famfs_alloc_free(p->alloc);
	free(p->base);
	memset(p, 0, sizeof(*p));
}

static inline uint8_t *tpool_log_base(const struct tpool *p)
{
	return p->base + p->info.log_offset;
}

/* Copy `copy` (0 or 1) of generation gen's area. */
static inline uint8_t *tpool_gen_area(const struct tpool *p, uint64_t gen,
				      unsigned int copy)
{
	return tpool_log_base(p) +
	       famfs_log_area_offset(p->info.log_size, gen, copy);
}

/* Copy `copy` of the area of the generation the superblock names. */
static inline uint8_t *tpool_area(const struct tpool *p, unsigned int copy)
{
	return tpool_gen_area(p, p->info.log_generation, copy);
}

static inline struct famfs_log_hdr *tpool_hdr(const struct tpool *p,
					      unsigned int copy)
{
	return (struct famfs_log_hdr *)tpool_area(p, copy);
}

/* The body (checkpoint, then records) of copy `copy`. */
static inline uint8_t *tpool_body(const struct tpool *p, unsigned int copy)
{
	return tpool_area(p, copy) + FAMFS_LOG_HDR_SIZE;
}

/* Which copies a damage helper touches. */
enum { TPOOL_COPY0 = 1, TPOOL_COPY1 = 2, TPOOL_BOTH = 3 };

/* XORs mask into the byte at offset `at` of the area, in the copies named. */
static inline void tpool_flip_area(const struct tpool *p, uint64_t at,
				   uint8_t mask, unsigned int copies)
{
	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		if (copies & (1u << c))
			tpool_area(p, c)[at] ^= mask;
}

/* The same at body offset `off` (a checkpoint item or a record). */
static inline void tpool_flip(const struct tpool *p, uint64_t off, uint8_t mask,
			      unsigned int copies)
{
	tpool_flip_area(p, FAMFS_LOG_HDR_SIZE + off, mask, copies);
}

/* Builds r's payload and appends it (not yet published). */
static inline int tpool_append(struct tpool *p, const struct famfs_rec *r,
			       uint64_t *ret_seq)
{
	static uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	int n = famfs_rec_build(r, buf, sizeof(buf));

	if (n < 0)
		return n;
	return famfs_log_append(p->log, r->type, p->epoch, buf, (uint32_t)n,
				ret_seq);
}

static inline int tpool_mkdir(struct tpool *p, uint64_t parent,
			      const char *name, uint64_t *ret_ino)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_MKDIR, .ino = p->next_ino, .parent = parent,
		.mtime_ns = 1000 + p->next_ino, .mode = 0755, .uid = 1,
		.gid = 2, .name = name, .name_len = (uint32_t)strlen(name),
	};
	int err = tpool_append(p, &r, NULL);

	if (err < 0)
		return err;
	if (ret_ino)
		*ret_ino = p->next_ino;
	p->next_ino++;
	return 0;
}

/* Allocates size bytes from the writer's allocator and appends a create. */
static inline int tpool_create(struct tpool *p, uint64_t parent,
			       const char *name, uint64_t size,
			       const char *tenant, uint64_t *ret_ino)
{
	static struct famfs_extent ext[FAMFS_MAX_EXTENTS];
	struct famfs_rec r = {
		.type = FAMFS_REC_CREATE, .ino = p->next_ino, .parent = parent,
		.size = size, .mtime_ns = 2000 + p->next_ino, .mode = 0644,
		.uid = 3, .gid = 4, .name = name,
		.name_len = (uint32_t)strlen(name), .tenant = tenant,
		.tenant_len = tenant ? (uint32_t)strlen(tenant) : 0,
		.extents = ext,
	};
	int n = 0, err;

	if (size) {
		/* No state applies this writer's records: it commits itself. */
		n = famfs_alloc_reserve(p->alloc, size, ext, FAMFS_MAX_EXTENTS);
		if (n < 0)
			return n;
		err = famfs_alloc_commit(p->alloc, ext, (unsigned int)n) ?:
		      famfs_alloc_unreserve(p->alloc, ext, (unsigned int)n);
		if (err < 0)
			return err;
		for (int i = 0; i < n; i++) {
			ext[i].offset = htole64(ext[i].offset);
			ext[i].len = htole64(ext[i].len);
		}
	}
	r.n_extents = (uint32_t)n;
	err = tpool_append(p, &r, NULL);
	if (err < 0)
		return err;
	if (ret_ino)
		*ret_ino = p->next_ino;
	p->next_ino++;
	return 0;
}

static inline int tpool_delete(struct tpool *p, uint64_t ino, uint64_t parent,
			       const char *name, uint64_t *ret_seq)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_DELETE, .ino = ino, .parent = parent,
		.name = name, .name_len = (uint32_t)strlen(name),
	};

	return tpool_append(p, &r, ret_seq);
}

static inline int tpool_quota(struct tpool *p, const char *tenant,
			      uint64_t max_bytes, uint64_t max_files)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_SET_QUOTA, .tenant = tenant,
		.tenant_len = (uint32_t)strlen(tenant),
		.max_bytes = max_bytes, .max_files = max_files,
	};

	return tpool_append(p, &r, NULL);
}

/* Appends a reclaim; the writer's allocator keeps the space (tests only). */
static inline int tpool_reclaim(struct tpool *p, uint64_t ino,
				uint64_t delete_seq)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_RECLAIM, .ino = ino, .delete_seq = delete_seq,
	};

	return tpool_append(p, &r, NULL);
}

static inline void tpool_publish(struct tpool *p)
{
	famfs_log_publish(p->log);
}

/*
 * Replays the published log from scratch into a new state (*ret, the
 * caller frees it), the way an agent mounts.
 */
static inline int tpool_replay(const struct tpool *p, struct famfs_log *log,
			       struct famfs_state **ret)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_replay_error rerr;
	struct famfs_log_error err;
	struct famfs_state *st;
	long n;
	int r;

	r = famfs_log_read_tail(log, &tail, &err);
	if (r < 0)
		return r;
	r = famfs_state_new(&p->info, &st);
	if (r < 0)
		return r;
	n = famfs_replay(log, &pos, &tail, st, NULL, NULL, &rerr);
	if (n < 0) {
		famfs_state_free(st);
		return (int)n;
	}
	*ret = st;
	return 0;
}

/*
 * Compaction as the master does it: the published state, replayed, is
 * written as the checkpoint of the next generation (famfs_log_create,
 * famfs_ckpt_write: C2 and C3), the superblock then names that
 * generation, and the writer goes on there after the checkpoint. The
 * writer's allocator is unchanged: the checkpoint holds the same extents.
 */
static inline int tpool_compact(struct tpool *p)
{
	struct famfs_state *st = NULL;
	struct famfs_log *next;
	int r;

	r = tpool_replay(p, p->log, &st);
	if (r < 0)
		return r;
	r = famfs_log_create(tpool_log_base(p), p->info.log_size,
			     p->info.log_generation + 1, p->ops, &next);
	if (r == 0) {
		r = famfs_ckpt_write(st, next);
		if (r < 0)
			famfs_log_free(next);
	}
	famfs_state_free(st);
	if (r < 0)
		return r;
	p->info.log_generation++;
	p->info.sb_seq++;
	famfs_sb_write(p->base, &p->info, p->ops);
	famfs_log_free(p->log);
	p->log = next;
	return 0;
}

/*
 * What tpool_populate builds, for tests that compare a replayed state with
 * the expected one.
 */
struct tpool_expect {
	uint64_t records, dirs, files, tenants, used_bytes, pending_bytes;
};

/*
 * A small tree that uses every record type, published in several batches:
 *   /jobs/1234/{a,b,c}  /jobs/empty (deleted)  /scratch/x (deleted,
 *   reclaimed)  /scratch/y (deleted, pending)  quotas for "acme", "beta".
 * Needs a pool with 4 KiB units and at least 32 data units.
 */
static inline int tpool_populate(struct tpool *p, struct tpool_expect *ex)
{
	uint64_t jobs, job, scratch, empty, x, y, seq, u = p->info.alloc_unit;
	int err;

#define TRY(e) do { err = (e); if (err < 0) return err; } while (0)
	TRY(tpool_mkdir(p, FAMFS_ROOT_INO, "jobs", &jobs));
	TRY(tpool_mkdir(p, jobs, "1234", &job));
	TRY(tpool_quota(p, "acme", 64 * u, 10));
	tpool_publish(p);
	TRY(tpool_create(p, job, "a", 3 * u, "acme", NULL));
	TRY(tpool_create(p, job, "b", u / 2, "acme", NULL));
	TRY(tpool_create(p, job, "c", 0, NULL, NULL));
	tpool_publish(p);
	TRY(tpool_mkdir(p, jobs, "empty", &empty));
	TRY(tpool_delete(p, empty, jobs, "empty", NULL));
	TRY(tpool_mkdir(p, FAMFS_ROOT_INO, "scratch", &scratch));
	TRY(tpool_create(p, scratch, "x", 2 * u, "beta", &x));
	TRY(tpool_create(p, scratch, "y\xc3\xa9", 5 * u, "beta", &y));
	tpool_publish(p);
	TRY(tpool_delete(p, x, scratch, "x", &seq));
	TRY(tpool_reclaim(p, x, seq));
	TRY(tpool_delete(p, y, scratch, "y\xc3\xa9", NULL));
	TRY(tpool_quota(p, "beta", 0, 3));
	tpool_publish(p);
#undef TRY
	if (ex)
		*ex = (struct tpool_expect){
			.records = 15, .dirs = 3, .files = 3, .tenants = 2,
			.used_bytes = 4 * u, .pending_bytes = 5 * u,
		};
	return 0;
}

#endif /* FAMFSD_TESTPOOL_H */
