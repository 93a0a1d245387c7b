// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Core benchmarks on a file-backed pool holding a 1,000,000-record log:
 * append+publish, replay, fsck, allocator and index memory. Each figure is
 * printed beside a baseline measured in the same run: memcpy of the same
 * bytes, so the ratio says how far the code is from moving the data alone.
 *
 * usage: famfs-bench [RECORDS] [POOL_FILE]
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "fsck.h"
#include "pool.h"
#include "record.h"
#include "guard.h"
#include "replay.h"

#define FILES_PER_DIR	1000u
#define UNIT		4096ull

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "famfs-bench: %s: %s\n", what, strerror(-err));
	exit(1);
}

/* One prebuilt payload per record: mkdirs every FILES_PER_DIR creates. */
struct workload {
	uint8_t *payloads;	/* n slots of FAMFS_REC_PAYLOAD_MAX... packed */
	uint32_t *len;
	uint16_t *type;
	uint64_t *at;		/* offset of each payload in payloads */
	uint64_t n, bytes, name_bytes, files;
};

static void build_workload(struct workload *w, uint64_t n,
			   const struct famfs_pool_info *info)
{
	uint64_t dir = FAMFS_ROOT_INO, ino = FAMFS_ROOT_INO, off = 0;
	uint64_t data = info->data_offset;

	w->n = n;
	w->payloads = malloc(n * 128);
	w->len = malloc(n * sizeof(*w->len));
	w->type = malloc(n * sizeof(*w->type));
	w->at = malloc(n * sizeof(*w->at));
	if (!w->payloads || !w->len || !w->type || !w->at)
		die("malloc", -ENOMEM);
	for (uint64_t i = 0; i < n; i++) {
		char name[32];
		struct famfs_extent ext;
		struct famfs_rec r = { .ino = ++ino, .mode = 0644,
				       .mtime_ns = i, .name = name };
		int len;

		if (i % (FILES_PER_DIR + 1) == 0) {
			r.type = FAMFS_REC_MKDIR;
			r.parent = FAMFS_ROOT_INO;
			r.mode = 0755;
			dir = r.ino;
			r.name_len = (uint32_t)snprintf(name, sizeof(name),
							"job%06" PRIu64, i);
		} else {
			r.type = FAMFS_REC_CREATE;
			r.parent = dir;
			r.size = UNIT;
			ext.offset = htole64(data);
			ext.len = htole64(UNIT);
			data += UNIT;
			r.extents = &ext;
			r.n_extents = 1;
			r.tenant = "bench";
			r.tenant_len = 5;
			r.name_len = (uint32_t)snprintf(name, sizeof(name),
							"f%07" PRIu64, i);
			w->files++;
		}
		w->name_bytes += r.name_len + 1;
		len = famfs_rec_build(&r, w->payloads + off, 128);
		if (len < 0)
			die("build record", len);
		w->type[i] = r.type;
		w->len[i] = (uint32_t)len;
		w->at[i] = off;
		off += (uint64_t)len;
		w->bytes += famfs_rec_size((uint32_t)len);
	}
}

static void report(const char *what, double value, const char *unit,
		   double baseline, const char *target)
{
	printf("%-28s %14.1f %-10s baseline(memcpy) %14.1f  ratio %6.3f  target %s\n",
	       what, value, unit, baseline, baseline ? value / baseline : 0.0,
	       target);
}

/* memcpy of the same bytes the measured step moves, as units/s. */
static double memcpy_rate(const uint8_t *src, uint8_t *dst, uint64_t bytes,
			  uint64_t units)
{
	double t = now_s();

	memcpy(dst, src, bytes);
	__asm__ volatile("" ::: "memory");
	return (double)units / (now_s() - t);
}

static void bench_append(struct famfs_pool *pool, const struct workload *w)
{
	uint8_t *dst = malloc(w->bytes);
	double t, rate;

	if (!dst)
		die("malloc", -ENOMEM);
	memset(dst, 1, w->bytes);
	famfs_log_writer_start(pool->log, &(struct famfs_log_pos){ 0 });
	t = now_s();
	for (uint64_t i = 0; i < w->n; i++) {
		int r = famfs_log_append(pool->log, w->type[i], 1,
					 w->payloads + w->at[i], w->len[i], NULL);
		if (r < 0)
			die("append", r);
		famfs_log_publish(pool->log);
	}
	rate = (double)w->n / (now_s() - t);
	report("append+publish", rate, "records/s",
	       memcpy_rate(famfs_pool_log_base(pool) + FAMFS_LOG_HDR_SIZE, dst,
			   w->bytes, w->n), ">= 500000");
	free(dst);
}

/*
 * Replays the whole log into a fresh state; returns records/s. *ret_st
 * receives the state.
 */
static double replay_once(struct famfs_pool *pool, const struct workload *w,
			  struct famfs_state **ret_st)
{
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_replay_error err;
	struct famfs_log_error lerr;
	double t = now_s();
	long n;
	int r;

	r = famfs_log_read_tail(pool->log, &tail, &lerr);
	if (r == 0)
		r = famfs_state_new(&pool->info, ret_st);
	if (r < 0)
		die("replay setup", r);
	n = famfs_replay(pool->log, &pos, &tail, *ret_st, NULL, NULL, &err);
	t = now_s() - t;
	if (n != (long)w->n) {
		fprintf(stderr, "replay stopped at %" PRIu64 ": %s\n", err.seq,
			err.reason);
		exit(1);
	}
	return (double)n / t;
}

/*
 * Cold: the first replay in this process, whose index memory is fresh
 * pages the kernel must zero (on this VM that is most of the time). Warm:
 * a second replay into memory the process already has, as after a log
 * generation change.
 */
static void bench_replay(struct famfs_pool *pool, const struct workload *w)
{
	struct famfs_state *st;
	uint8_t *dst = malloc(w->bytes);
	double cold, warm, base, per, names;

	if (!dst)
		die("malloc", -ENOMEM);
	memset(dst, 1, w->bytes);
	base = memcpy_rate(famfs_pool_log_base(pool) + FAMFS_LOG_HDR_SIZE, dst,
			   w->bytes, w->n);
	cold = replay_once(pool, w, &st);
	/* Index memory: nodes, names, extents, hash tables. */
	per = (double)famfs_ns_mem_bytes(st->ns) / (double)famfs_ns_count(st->ns);
	names = (double)w->name_bytes / (double)w->n;
	famfs_state_free(st);
	warm = replay_once(pool, w, &st);
	famfs_state_free(st);
	report("replay (cold heap)", cold, "records/s", base, ">= 2000000");
	report("replay (warm heap)", warm, "records/s", base, ">= 2000000");
	printf("%-28s %14.1f %-10s (name and its NUL %.1f of it; index without "
	       "name %.1f)  target <= 200 + name\n", "index memory", per,
	       "bytes/file", names, per - names);
	free(dst);
}

/*
 * One guarded block around the copy of a typical record (112 bytes), as
 * the log readers do per record and copy, beside the bare copy: ns each,
 * best of five rounds.
 */
static uint8_t guard_src[112], guard_dst[112];

static void guarded_copy(void)
{
	struct famfs_guard g;

	if (famfs_guard_begin(&g)) {
		memcpy(guard_dst, guard_src, sizeof(guard_dst));
		__asm__ volatile("" ::: "memory");
		famfs_guard_end(&g);
	}
}

static void bench_guard_block(void)
{
	uint8_t *src = guard_src, *dst = guard_dst;
	const int n = 10000000;
	double g_ns = 1e9, c_ns = 1e9;

	for (int k = 0; k < 5; k++) {
		double t = now_s(), a, b;

		for (int i = 0; i < n; i++)
			guarded_copy();
		a = (now_s() - t) * 1e9 / n;
		t = now_s();
		for (int i = 0; i < n; i++) {
			memcpy(dst, src, sizeof(guard_dst));
			__asm__ volatile("" ::: "memory");
		}
		b = (now_s() - t) * 1e9 / n;
		g_ns = a < g_ns ? a : g_ns;
		c_ns = b < c_ns ? b : c_ns;
	}
	printf("%-28s %14.1f %-10s baseline(memcpy) %14.1f  (one guard per "
	       "record and copy read; a FUSE request takes one)\n",
	       "guarded 112-byte copy", g_ns, "ns", c_ns);
}

/*
 * What the SIGBUS guards (lib/guard.h) cost the readers: warm replays with
 * them and without (famfs_guard_on false skips the sigsetjmp), in turns,
 * best of three each.
 */
static void bench_guard(struct famfs_pool *pool, const struct workload *w)
{
	bool was = famfs_guard_on;
	double on = 0, off = 0, r;
	struct famfs_state *st;

	for (int i = 0; i < 3; i++) {
		famfs_guard_on = false;
		r = replay_once(pool, w, &st);
		famfs_state_free(st);
		off = r > off ? r : off;
		famfs_guard_on = was;
		r = replay_once(pool, w, &st);
		famfs_state_free(st);
		on = r > on ? r : on;
	}
	printf("%-28s %14.1f %-10s baseline(no guards) %11.1f  ratio %6.3f  "
	       "(guards %s)\n", "replay, guarded (warm)", on, "records/s", off,
	       on / off, was ? "on" : "off: FAMFSD_GUARD=off");
	bench_guard_block();
}

static void bench_fsck(struct famfs_pool *pool, const struct workload *w)
{
	struct famfs_fsck_report rep;
	uint8_t *dst = malloc(w->bytes);
	double t, secs, base;
	int r;

	if (!dst)
		die("malloc", -ENOMEM);
	memset(dst, 1, w->bytes);
	t = now_s();
	r = famfs_fsck(pool->base, pool->size, pool->ops, &rep);
	secs = now_s() - t;
	if (r < 0 || rep.records != w->n) {
		fprintf(stderr, "fsck failed at %" PRIu64 ": %s\n", rep.bad_seq,
			rep.reason);
		exit(1);
	}
	base = (double)w->n / memcpy_rate(famfs_pool_log_base(pool) +
					  FAMFS_LOG_HDR_SIZE, dst, w->bytes, w->n);
	printf("%-28s %14.3f %-10s baseline(memcpy) %14.3f  ratio %6.3f  "
	       "target < 2 s\n", "fsck", secs, "seconds", base, secs / base);
	free(dst);
}

/*
 * One create's allocator work as the master does it: reserve, commit (the
 * record's apply), end the hold. *ret_ext receives the extent.
 */
static int alloc_one(struct famfs_alloc *a, uint64_t size,
		     struct famfs_extent *ret_ext)
{
	int n = famfs_alloc_reserve(a, size, ret_ext, 1);

	if (n != 1)
		return n < 0 ? n : -ENOSPC;
	return famfs_alloc_commit(a, ret_ext, 1) ?:
	       famfs_alloc_unreserve(a, ret_ext, 1);
}

static void bench_alloc(uint64_t n)
{
	struct famfs_extent *ext = malloc(n * sizeof(*ext)), *dst;
	struct famfs_alloc *a;
	double t, ns_op, base;
	int r = famfs_alloc_new(0, n * 4, UNIT, &a);

	dst = malloc(n * sizeof(*ext));
	if (r < 0 || !ext || !dst)
		die("alloc setup", r < 0 ? r : -ENOMEM);
	t = now_s();
	for (uint64_t i = 0; i < n; i++) {
		r = alloc_one(a, UNIT * (1 + i % 4), &ext[i]);
		if (r < 0)
			die("alloc", r);
	}
	/* Free every other one, then allocate into the holes. */
	for (uint64_t i = 0; i < n; i += 2)
		famfs_alloc_release(a, &ext[i], 1);
	for (uint64_t i = 0; i < n; i += 2) {
		r = alloc_one(a, UNIT * (1 + i % 4), &ext[i]);
		if (r < 0)
			die("alloc into holes", r);
	}
	ns_op = (now_s() - t) * 1e9 / ((double)n * 2);
	t = now_s();
	memcpy(dst, ext, n * sizeof(*ext));
	__asm__ volatile("" ::: "memory");
	base = (now_s() - t) * 1e9 / (double)n;
	printf("%-28s %14.1f %-10s baseline(memcpy) %14.1f  ratio %6.3f  "
	       "target (none; famfs has no allocator to compare)\n",
	       "allocator", ns_op, "ns/op", base, ns_op / base);
	famfs_alloc_free(a);
	free(ext);
	free(dst);
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	const char *path = argc > 2 ? argv[2] : "build/bench/pool.img";
	struct famfs_pool_open_opts o = { .dev_flags = FAMFS_DEV_WRITE };
	struct famfs_mkfs_opts m = { .alloc_unit = UNIT };
	struct famfs_pooldev *dev;
	struct famfs_pool_info info;
	struct famfs_pool *pool;
	struct workload w = { 0 };
	const char *why;
	int r;

	/* One generation's copy holds a quarter of the log (format 2). */
	m.log_size = (4 * n * 128 + (1u << 20)) & ~((1ull << 20) - 1);
	unlink(path);
	r = famfs_pooldev_create_file(path, FAMFS_META_ALIGN + m.log_size +
				      (n + 16) * UNIT + (2u << 20));
	if (r == 0)
		r = famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev);
	if (r == 0)
		r = famfs_pool_format(dev, famfs_cache_ops_get(FAMFS_COH_AUTO), &m,
				      &info, NULL);
	if (r < 0)
		die("mkfs", r);
	famfs_pooldev_close(dev);
	r = famfs_pool_open(path, &o, &pool, &why);
	if (r < 0)
		die(why ? why : "open", r);
	printf("famfs-bench: %" PRIu64 " records on %s (cache ops %s)\n", n,
	       path, pool->ops->name);
	build_workload(&w, n, &pool->info);
	bench_append(pool, &w);
	bench_replay(pool, &w);
	bench_guard(pool, &w);
	bench_fsck(pool, &w);
	bench_alloc(n);
	famfs_pool_close(pool);
	unlink(path);
	return 0;
}
