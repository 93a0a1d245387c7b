// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Master election and lease (lib/elect.c): slot encoding and bad bytes,
 * the barriers of every protocol step, and hosts simulated over one
 * buffer, each with its own clock.
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <sys/mman.h>
#include <unistd.h>

#include "elect.h"
#include "guard.h"

#define POOL_SIZE	(32u << 10)
#define W		100000000ull		/* 100 ms of simulated time */
#define NHOST		4
/* A byte in line 3 of a slot (host, url): a torn store's old line. */
#define ELECT_TORN_AT	200

static uint8_t pool[POOL_SIZE] __attribute__((aligned(4096)));

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

/* ---- clocks: one per simulated host, the caller says whose it is -------- */

static uint64_t clk[NHOST];
static uint64_t tick[NHOST];		/* added at every read of the clock */
static __thread int cur;

static uint64_t host_now(void)
{
	uint64_t t = clk[cur];

	clk[cur] += tick[cur];
	return t;
}

static void clocks_reset(void)
{
	for (int i = 0; i < NHOST; i++) {
		clk[i] = 1000000000ull * (uint64_t)(i + 1);	/* unrelated bases */
		tick[i] = 0;
	}
}

static struct famfs_elect *host_new(int h, unsigned int slot,
				    const struct famfs_cache_ops *ops)
{
	char name[16], url[32];
	struct famfs_elect_opts o = {
		.slot = slot, .lease_ns = W, .host = name, .pid = 100u + (unsigned)h,
		.url = url, .now = host_now,
	};
	struct famfs_elect *e = NULL;

	snprintf(name, sizeof(name), "host%d", h);
	snprintf(url, sizeof(url), "http://10.0.0.%d:8080", h + 1);
	cur = h;
	assert_int_equal(famfs_elect_new(pool, ops ? ops : none(), &o, &e), 0);
	return e;
}

static void fresh_pool(void)
{
	memset(pool, 0, sizeof(pool));
	clocks_reset();
}

static uint8_t *slot_bytes(unsigned int i)
{
	return pool + FAMFS_ELECT_OFFSET + i * FAMFS_ELECT_SLOT_SIZE;
}

/* ---- encoding and bad bytes ------------------------------------------- */

static struct famfs_elect_slot_info sample(unsigned int slot)
{
	struct famfs_elect_slot_info s = {
		.slot = slot, .state = FAMFS_ELECT_ACTIVE, .heartbeat = 9,
		.lease_ns = W, .epoch = 5, .epoch_start_seq = 77,
		.applied_seq = 76, .inst = 5, .mbal = 35, .bal = 35,
		.inp = slot + 1, .pid = 4242,
	};

	for (int i = 0; i < 16; i++)
		s.run_uuid[i] = (uint8_t)(i * 7 + 1);
	strcpy(s.host, "node-a");
	strcpy(s.url, "http://node-a:8080");
	return s;
}

static void test_round_trip(void **state)
{
	struct famfs_elect_slot_info in = sample(3), out;

	(void)state;
	fresh_pool();
	assert_int_equal(famfs_elect_read(pool, none(), 3, &out), -ENOENT);
	assert_int_equal(famfs_elect_write(pool, none(), &in), 0);
	assert_int_equal(famfs_elect_read(pool, none(), 3, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* Only slot 3's bytes were written. */
	for (size_t i = 0; i < sizeof(pool); i++)
		if (i < FAMFS_ELECT_OFFSET + 3 * 512 || i >= FAMFS_ELECT_OFFSET + 4 * 512)
			assert_int_equal(pool[i], 0);
	/* Full-length names have no NUL on the media. */
	memset(in.host, 'h', FAMFS_HOST_MAX);
	in.host[FAMFS_HOST_MAX] = '\0';
	memset(in.url, 'u', FAMFS_URL_MAX);
	in.url[FAMFS_URL_MAX] = '\0';
	assert_int_equal(famfs_elect_write(pool, none(), &in), 0);
	assert_int_equal(famfs_elect_read(pool, none(), 3, &out), 0);
	assert_int_equal(strlen(out.host), FAMFS_HOST_MAX);
	assert_int_equal(strlen(out.url), FAMFS_URL_MAX);
	assert_int_equal(famfs_elect_read(pool, none(), FAMFS_ELECT_SLOTS, &out), -EINVAL);
	in.slot = FAMFS_ELECT_SLOTS;
	assert_int_equal(famfs_elect_write(pool, none(), &in), -EINVAL);
}

static void test_bad_bytes(void **state)
{
	struct famfs_elect_slot_info in = sample(2), out;
	struct famfs_elect_view v;

	(void)state;
	fresh_pool();
	assert_int_equal(famfs_elect_write(pool, none(), &in), 0);
	/* Any one flipped bit, anywhere in the slot. */
	for (size_t b = 0; b < FAMFS_ELECT_SLOT_SIZE; b++) {
		slot_bytes(2)[b] ^= 0x10;
		assert_int_equal(famfs_elect_read(pool, none(), 2, &out), -EUCLEAN);
		slot_bytes(2)[b] ^= 0x10;
	}
	assert_int_equal(famfs_elect_read(pool, none(), 2, &out), 0);
	/* Torn: the first half of a newer write over the old one. */
	in.heartbeat++;
	in.epoch++;
	memcpy(slot_bytes(5), slot_bytes(2), 512);
	assert_int_equal(famfs_elect_write(pool, none(), &in), 0);
	memcpy(slot_bytes(2) + 256, slot_bytes(5) + 256, 256);
	assert_int_equal(famfs_elect_read(pool, none(), 2, &out), -EUCLEAN);
	/* A whole slot copied to the wrong index. */
	assert_int_equal(famfs_elect_read(pool, none(), 5, &out), -EUCLEAN);
	/* CRC-clean but absurd values a buggy writer could leave. */
	struct famfs_elect_slot_info bad[6];

	for (int i = 0; i < 6; i++)
		bad[i] = sample(7);
	bad[0].state = 9;
	bad[1].epoch = UINT64_MAX;
	bad[2].mbal = UINT64_MAX - 3;
	bad[3].inp = 99;
	bad[4].lease_ns = 0;
	bad[5].bal = bad[5].mbal + 1;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(famfs_elect_write(pool, none(), &bad[i]), 0);
		assert_int_equal(famfs_elect_read(pool, none(), 7, &out), -EUCLEAN);
	}
	/* Random garbage in every slot: no crash, nothing active. */
	srandom(7);
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < FAMFS_ELECT_SLOTS * 512; i++)
			pool[FAMFS_ELECT_OFFSET + i] = (uint8_t)random();
		assert_int_equal(famfs_elect_view(pool, none(), &v), 0);
		assert_int_equal(v.active, -1);
		assert_int_equal(v.n_used, FAMFS_ELECT_SLOTS);
		for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
			assert_int_equal(v.status[i], -EUCLEAN);
	}
}

static void test_view(void **state)
{
	struct famfs_elect_slot_info a = sample(1), b = sample(4), c = sample(9);
	struct famfs_elect_view v;

	(void)state;
	fresh_pool();
	assert_int_equal(famfs_elect_view(pool, none(), &v), 0);
	assert_int_equal(v.active, -1);
	assert_int_equal(v.n_used, 0);
	a.epoch = 3;					/* an old master */
	b.epoch = 6;
	b.epoch_start_seq = 1000;
	strcpy(b.url, "http://b:1");
	strcpy(b.host, "b");
	c.state = FAMFS_ELECT_STANDBY;
	c.epoch = 6;
	assert_int_equal(famfs_elect_write(pool, none(), &a), 0);
	assert_int_equal(famfs_elect_write(pool, none(), &b), 0);
	assert_int_equal(famfs_elect_write(pool, none(), &c), 0);
	slot_bytes(12)[100] = 1;			/* garbage */
	assert_int_equal(famfs_elect_view(pool, none(), &v), 0);
	assert_int_equal(v.active, 4);
	assert_int_equal(v.epoch, 6);
	assert_int_equal(v.epoch_start_seq, 1000);
	assert_int_equal(v.highest_epoch, 6);
	assert_string_equal(v.url, "http://b:1");
	assert_string_equal(v.host, "b");
	assert_int_equal(v.n_used, 4);
	assert_int_equal(v.status[12], -EUCLEAN);
	assert_int_equal(v.status[0], -ENOENT);
}

/* ---- barriers: what every step flushes, fences and invalidates ---------- */

static char trace[16384];
static size_t trace_n;
static bool trace_bad;		/* an op out of its pair, or off a slot */
static char pending;		/* 'F' or 'I' awaiting its fence */

static int addr_slot(const void *a, size_t len)
{
	uintptr_t off = (uintptr_t)a - (uintptr_t)(pool + FAMFS_ELECT_OFFSET);

	if ((uintptr_t)a < (uintptr_t)(pool + FAMFS_ELECT_OFFSET) || off % 512 ||
	    off / 512 >= FAMFS_ELECT_SLOTS || len != 512)
		return -1;
	return (int)(off / 512);
}

static void trace_put(const char *s)
{
	size_t n = strlen(s);

	if (trace_n + n + 1 < sizeof(trace)) {
		memcpy(trace + trace_n, s, n + 1);
		trace_n += n;
	}
}

static void tr_op(char kind, const void *a, size_t len)
{
	char buf[8];
	int s = addr_slot(a, len);

	if (s < 0 || pending)
		trace_bad = true;
	pending = kind;
	snprintf(buf, sizeof(buf), "%c%x", kind == 'F' ? 'w' : 'r', s & 0xf);
	trace_put(buf);
}

static void tr_flush(const void *a, size_t len) { tr_op('F', a, len); }
static void tr_inval(const void *a, size_t len) { tr_op('I', a, len); }

static void tr_wfence(void)
{
	if (pending != 'F')
		trace_bad = true;
	pending = 0;
}

static void tr_rfence(void)
{
	if (pending != 'I')
		trace_bad = true;
	pending = 0;
}

static const struct famfs_cache_ops tr_ops = {
	.name = "trace", .flush = tr_flush, .invalidate = tr_inval,
	.wfence = tr_wfence, .rfence = tr_rfence,
};

static void trace_reset(void)
{
	trace_n = 0;
	trace[0] = '\0';
	trace_bad = false;
	pending = 0;
}

/* "r0r1...rf" less slot `skip` (-1: none). */
static const char *all_reads(int skip)
{
	static char buf[8][64];
	static int k;
	char *b = buf[k++ % 8];

	b[0] = '\0';
	for (int i = 0; i < 16; i++)
		if (i != skip)
			sprintf(b + strlen(b), "r%x", i);
	return b;
}

static void test_step_barriers(void **state)
{
	struct famfs_elect *e;
	uint64_t epoch = 0;
	char want[512];

	(void)state;
	fresh_pool();
	trace_reset();
	e = host_new(0, 2, &tr_ops);
	/* Start: our slot (claim check), every slot, then our store. */
	snprintf(want, sizeof(want), "r2%sw2", all_reads(-1));
	assert_string_equal(trace, want);
	assert_false(trace_bad);

	trace_reset();
	assert_int_equal(famfs_elect_run(e, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 1);
	/*
	 * Vacancy scan; step 1 intent store; (nobody to re-check); step 3
	 * reads every other block; step 4 store; its reads; step 5 store.
	 */
	snprintf(want, sizeof(want), "%sw2%sw2%sw2", all_reads(-1), all_reads(2),
		 all_reads(2));
	assert_string_equal(trace, want);
	assert_false(trace_bad);
	assert_int_equal(pending, 0);

	trace_reset();
	assert_int_equal(famfs_elect_renew(e, 5), 0);
	/* Renewal: read all, store ours, read all again. */
	snprintf(want, sizeof(want), "%sw2%s", all_reads(-1), all_reads(-1));
	assert_string_equal(trace, want);
	assert_false(trace_bad);

	trace_reset();
	famfs_elect_release(e);
	assert_string_equal(trace, "r2w2");
	assert_false(trace_bad);
	famfs_elect_free(e);
}

static void test_watch_barriers(void **state)
{
	struct famfs_elect *a, *b;
	uint64_t epoch;
	char want[512];

	(void)state;
	fresh_pool();
	a = host_new(0, 0, NULL);
	cur = 0;
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	b = host_new(1, 5, &tr_ops);
	cur = 1;
	trace_reset();
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	/* Beat written at start: no store until R has passed. */
	assert_string_equal(trace, all_reads(-1));
	clk[1] += W / 4;
	trace_reset();
	assert_int_equal(famfs_elect_watch(b, 3, NULL), FAMFS_ELECT_FOLLOW);
	snprintf(want, sizeof(want), "%sw5", all_reads(-1));
	assert_string_equal(trace, want);
	assert_false(trace_bad);
	/* Step 2 re-reads the timed master's slot between intent and phase 1. */
	clk[1] += W;
	trace_reset();
	assert_int_equal(famfs_elect_run(b, 0, 1, false, &epoch), 1);
	snprintf(want, sizeof(want), "%sw5r0%sw5%sw5", all_reads(-1), all_reads(5),
		 all_reads(5));
	assert_string_equal(trace, want);
	assert_false(trace_bad);
	assert_int_equal(epoch, 2);
	famfs_elect_free(a);
	famfs_elect_free(b);
}

/* ---- protocol, one step at a time ----------------------------------------- */

static void test_first_election(void **state)
{
	struct famfs_elect_view v;
	struct famfs_elect *e;
	uint64_t epoch = 0;

	(void)state;
	fresh_pool();
	e = host_new(0, 3, NULL);
	assert_false(famfs_elect_may_write(e));
	assert_int_equal(famfs_elect_renew(e, 0), -EINVAL);	/* not active */
	assert_int_equal(famfs_elect_renew_ns(e), W / 4);
	assert_int_equal(famfs_elect_watch(e, 0, &v), FAMFS_ELECT_VACANT);
	assert_int_equal(v.active, -1);
	assert_int_equal(famfs_elect_run(e, 41, 100, false, &epoch), 1);
	assert_int_equal(epoch, 42);			/* above min_epoch */
	assert_true(famfs_elect_may_write(e));
	assert_int_equal(famfs_elect_run(e, 0, 0, false, &epoch), -EALREADY);
	assert_int_equal(famfs_elect_view(pool, none(), &v), 0);
	assert_int_equal(v.active, 3);
	assert_int_equal(v.epoch, 42);
	assert_int_equal(v.epoch_start_seq, 100);
	assert_string_equal(v.url, "http://10.0.0.1:8080");
	assert_string_equal(v.host, "host0");
	assert_int_equal(v.slot[3].pid, 100);
	/* The lease: F after the renewal's start, not a nanosecond more. */
	clk[0] += W / 2;
	assert_true(famfs_elect_may_write(e));
	clk[0] += W;
	assert_false(famfs_elect_may_write(e));
	assert_int_equal(famfs_elect_renew(e, 7), 0);
	assert_true(famfs_elect_may_write(e));
	{
		uint64_t t = clk[0];
		double f = (double)W / ((1.001) * (1.001)) - (double)W / 4;

		clk[0] = t + (uint64_t)f - 2;
		assert_true(famfs_elect_may_write(e));
		clk[0] = t + (uint64_t)f + 2;
		assert_false(famfs_elect_may_write(e));
	}
	famfs_elect_free(e);
}

static void test_takeover_after_silence(void **state)
{
	struct famfs_elect *a, *b;
	uint64_t epoch;

	(void)state;
	fresh_pool();
	a = host_new(0, 0, NULL);
	b = host_new(1, 1, NULL);
	cur = 0;
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 1);
	/* b first saw a's slot as STANDBY at start: a changed since. */
	for (int i = 0; i < 12; i++) {
		cur = 0;
		clk[0] += W / 4;
		assert_int_equal(famfs_elect_renew(a, (uint64_t)i), 0);
		cur = 1;
		clk[1] += W / 4;
		assert_int_equal(famfs_elect_watch(b, (uint64_t)i, NULL),
				 FAMFS_ELECT_FOLLOW);
		assert_int_equal(famfs_elect_run(b, 0, 1, false, &epoch), 0);
	}
	/* a stops renewing: vacant only W after b first saw the last beat. */
	clk[1] += W - 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[1] += 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_VACANT);
	assert_int_equal(famfs_elect_run(b, 0, 20, false, &epoch), 1);
	assert_int_equal(epoch, 2);
	assert_true(famfs_elect_may_write(b));
	/* a resumes (its clock ran on meanwhile): fenced, nothing written. */
	cur = 0;
	clk[0] += W;
	assert_false(famfs_elect_may_write(a));
	{
		uint8_t before[512];

		memcpy(before, slot_bytes(0), 512);
		assert_int_equal(famfs_elect_renew(a, 99), -ESTALE);
		assert_memory_equal(before, slot_bytes(0), 512);
	}
	assert_true(famfs_elect_fenced(a));
	assert_false(famfs_elect_may_write(a));
	assert_int_equal(famfs_elect_renew(a, 99), -ESTALE);
	cur = 1;
	clk[1] += W / 4;
	assert_int_equal(famfs_elect_renew(b, 21), 0);
	famfs_elect_free(a);
	famfs_elect_free(b);
}

static void test_release_hands_over_at_once(void **state)
{
	struct famfs_elect *a, *b;
	uint64_t epoch;

	(void)state;
	fresh_pool();
	a = host_new(0, 6, NULL);
	b = host_new(1, 2, NULL);
	cur = 0;
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	cur = 1;
	clk[1] += W / 4;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	cur = 0;
	famfs_elect_release(a);
	assert_false(famfs_elect_may_write(a));
	cur = 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_VACANT);
	assert_int_equal(famfs_elect_run(b, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 2);
	famfs_elect_free(a);
	famfs_elect_free(b);
}

static void test_force_waits_w(void **state)
{
	struct famfs_elect *a, *b;
	uint64_t epoch, t0;

	(void)state;
	fresh_pool();
	a = host_new(0, 0, NULL);
	b = host_new(1, 1, NULL);
	cur = 0;
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	cur = 1;
	clk[1] += W / 4;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	assert_int_equal(famfs_elect_run(b, 0, 1, false, &epoch), 0);
	/* b's clock moves 1 ms at every read of it while it waits. */
	tick[1] = 1000000;
	t0 = clk[1];
	assert_int_equal(famfs_elect_run(b, 0, 1, true, &epoch), 1);
	assert_true(clk[1] - t0 >= W);
	assert_int_equal(epoch, 2);
	tick[1] = 0;
	assert_true(famfs_elect_may_write(b));
	/* a, renewing on time, is fenced by the forced election. */
	cur = 0;
	assert_int_equal(famfs_elect_renew(a, 1), -ESTALE);
	assert_false(famfs_elect_may_write(a));
	famfs_elect_free(a);
	famfs_elect_free(b);
}

/* Stands for a first run still beating slot 4 while a second one starts. */
static int beat_every;		/* 0: nobody beats */
static int busy_invals;

static void busy_inval(const void *a, size_t len)
{
	struct famfs_elect_slot_info x;

	(void)len;
	if (a != slot_bytes(4) || !beat_every || ++busy_invals % beat_every)
		return;
	assert_int_equal(famfs_elect_read(pool, none(), 4, &x), 0);
	x.heartbeat++;
	assert_int_equal(famfs_elect_write(pool, none(), &x), 0);
}

static void nop_fence(void) { }
static void nop_flush(const void *a, size_t len) { (void)a; (void)len; }

static void test_same_slot_busy(void **state)
{
	static const struct famfs_cache_ops busy_ops = {
		.name = "busy", .flush = nop_flush, .invalidate = busy_inval,
		.wfence = nop_fence, .rfence = nop_fence,
	};
	struct famfs_elect_opts o = {
		.slot = 4, .lease_ns = W, .host = "x", .now = host_now,
	};
	struct famfs_elect_slot_info x;
	struct famfs_elect *a, *b = NULL;
	uint8_t run0[16];

	(void)state;
	fresh_pool();
	a = host_new(0, 4, NULL);
	assert_int_equal(famfs_elect_read(pool, none(), 4, &x), 0);
	memcpy(run0, x.run_uuid, 16);
	/* The second run's clock moves 1 ms per read: W is 100 reads. */
	cur = 1;
	tick[1] = 1000000;
	beat_every = 20;
	busy_invals = 0;
	assert_int_equal(famfs_elect_new(pool, &busy_ops, &o, &b), -EBUSY);
	assert_int_equal(famfs_elect_read(pool, none(), 4, &x), 0);
	assert_memory_equal(x.run_uuid, run0, 16);	/* left alone */
	/* The first run is gone: after W of no change the slot is ours. */
	beat_every = 0;
	assert_int_equal(famfs_elect_new(pool, &busy_ops, &o, &b), 0);
	assert_int_equal(famfs_elect_read(pool, none(), 4, &x), 0);
	assert_memory_not_equal(x.run_uuid, run0, 16);
	assert_int_equal(x.state, FAMFS_ELECT_STANDBY);
	/* The second run stops cleanly: a third takes the slot at once. */
	tick[1] = 0;
	famfs_elect_release(b);
	famfs_elect_free(b);
	assert_int_equal(famfs_elect_new(pool, none(), &o, &b), 0);
	famfs_elect_free(b);
	/* The first run, still around, does not stop what is not its own. */
	cur = 0;
	{
		uint8_t before[512];

		memcpy(before, slot_bytes(4), 512);
		famfs_elect_release(a);
		assert_memory_equal(before, slot_bytes(4), 512);
	}
	famfs_elect_free(a);
	cur = 1;
	o.slot = 16;
	assert_int_equal(famfs_elect_new(pool, none(), &o, &b), -EINVAL);
	o.slot = 1;
	o.lease_ns = 0;
	assert_int_equal(famfs_elect_new(pool, none(), &o, &b), -EINVAL);
}




/* A slot as a dead host left it, written straight into the pool. */
static void dead_slot(unsigned int slot, enum famfs_elect_state st,
		      uint64_t epoch, uint64_t inst, uint64_t mbal, uint64_t bal,
		      uint64_t inp)
{
	struct famfs_elect_slot_info x = sample(slot);

	x.state = st;
	x.epoch = epoch;
	x.inst = inst;
	x.mbal = mbal;
	x.bal = bal;
	x.inp = inp;
	assert_int_equal(famfs_elect_write(pool, none(), &x), 0);
}

/* An intent a dead host left above every epoch does not block for ever. */
static void test_stale_intent_is_joined(void **state)
{
	struct famfs_elect *e;
	uint64_t epoch = 0;

	(void)state;
	fresh_pool();
	dead_slot(2, FAMFS_ELECT_STOPPED, 3, 3, 35, 35, 3);
	dead_slot(8, FAMFS_ELECT_STANDBY, 3, 9, 9 * 32 + 9, 0, 0);
	e = host_new(0, 4, NULL);
	assert_int_equal(famfs_elect_run(e, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 9);
	famfs_elect_free(e);
}

/*
 * A phase 2 value for a host that never committed: watched W like a
 * master, then the next election is above it, never the same instance.
 */
static void test_dead_candidate_is_skipped(void **state)
{
	struct famfs_elect_view v;
	struct famfs_elect *e;
	uint64_t epoch = 0;

	(void)state;
	fresh_pool();
	dead_slot(1, FAMFS_ELECT_ACTIVE, 3, 3, 34, 34, 2);	/* old master */
	dead_slot(6, FAMFS_ELECT_STANDBY, 3, 4, 39, 39, 7);	/* decided 6? */
	e = host_new(0, 4, NULL);
	assert_int_equal(famfs_elect_watch(e, 0, &v), FAMFS_ELECT_FOLLOW);
	assert_int_equal(v.active, 1);
	assert_int_equal(famfs_elect_run(e, 0, 1, false, &epoch), 0);
	clk[0] += W - 1;
	assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[0] += 1;
	assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_VACANT);
	assert_int_equal(famfs_elect_run(e, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 5);
	famfs_elect_free(e);
}

/* Torn bytes left by a host that died writing: watched W, epoch one up. */
static void test_unreadable_slot_is_watched(void **state)
{
	struct famfs_elect *e;
	uint64_t epoch = 0;

	(void)state;
	fresh_pool();
	dead_slot(3, FAMFS_ELECT_STANDBY, 2, 0, 0, 0, 0);
	slot_bytes(9)[17] = 0x40;		/* garbage */
	e = host_new(0, 4, NULL);
	assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[0] += W / 2;
	slot_bytes(9)[18] ^= 1;			/* it changes: still written */
	assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[0] += W - 1;
	assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[0] += 1;
	assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_VACANT);
	assert_int_equal(famfs_elect_run(e, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 4);		/* 2, one for slot 9, + 1 */
	famfs_elect_free(e);
}



/*
 * A new master stopped in the middle of a store (SIGSTOP between two line
 * flushes) leaves its slot torn for as long as it is stopped. The old
 * master resuming must still see the newer epoch in the lines it reads.
 */
static void test_renewal_sees_through_a_stalled_store(void **state)
{
	struct famfs_elect *a, *b;
	uint8_t before[512];
	uint64_t epoch;

	(void)state;
	fresh_pool();
	a = host_new(0, 0, NULL);
	b = host_new(1, 1, NULL);
	cur = 0;
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	cur = 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[1] += W;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_VACANT);
	assert_int_equal(famfs_elect_run(b, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 2);
	/* b's next store: lines 0 and 1 new, the rest old: -EUCLEAN. */
	memcpy(before, slot_bytes(1), 512);
	slot_bytes(1)[ELECT_TORN_AT] ^= 0xff;
	assert_int_equal(famfs_elect_read(pool, none(), 1, &(struct famfs_elect_slot_info){ 0 }),
			 -EUCLEAN);
	/* a wakes from its own pause and renews. */
	cur = 0;
	clk[0] += W;
	assert_int_equal(famfs_elect_renew(a, 1), -ESTALE);
	assert_false(famfs_elect_may_write(a));
	memcpy(slot_bytes(1), before, 512);
	famfs_elect_free(a);
	famfs_elect_free(b);
}

/* Torn bytes that show nothing above us do not stop a master. */
static void test_renewal_past_a_dead_hosts_torn_slot(void **state)
{
	struct famfs_elect *a;
	uint64_t epoch;

	(void)state;
	fresh_pool();
	dead_slot(5, FAMFS_ELECT_STANDBY, 0, 0, 0, 0, 0);
	slot_bytes(5)[ELECT_TORN_AT] ^= 0xff;
	a = host_new(0, 0, NULL);
	cur = 0;
	assert_int_equal(famfs_elect_watch(a, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[0] += W;				/* slot 5 silent for W */
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	assert_int_equal(epoch, 2);		/* one up for the torn slot */
	clk[0] += W / 4;
	assert_int_equal(famfs_elect_renew(a, 1), 0);
	assert_true(famfs_elect_may_write(a));
	/* Garbage over the line of magic and index says nothing at all. */
	memset(slot_bytes(5), 0x7f, 64);
	clk[0] += W / 4;
	assert_int_equal(famfs_elect_renew(a, 1), 0);
	famfs_elect_free(a);
}


/*
 * A rival stopped in the middle of a store over its intent: its slot is
 * torn for as long as it is stopped, but its lines still count. With only
 * the intent showing (line 1 old), we join its instance with a higher
 * ballot, so its phase 2 read aborts it when it resumes; with its phase 2
 * value showing (line 1 new), that instance may be decided and we go
 * above it. Reading past the torn slot instead would elect epoch 5 while
 * the rival, resumed, could still win epoch 9.
 */
static void test_election_reads_a_stalled_store(void **state)
{
	struct famfs_elect_slot_info x;
	struct famfs_elect *e;
	uint64_t epoch = 0, m = 9 * 32 + 9;

	(void)state;
	for (int line1_new = 0; line1_new < 2; line1_new++) {
		fresh_pool();
		dead_slot(2, FAMFS_ELECT_STOPPED, 3, 3, 35, 35, 3);
		dead_slot(8, FAMFS_ELECT_STANDBY, 3, 9, m, 0, 0);	/* intent */
		if (line1_new) {
			*(uint64_t *)(slot_bytes(8) + 88) = htole64(m);	/* bal */
			*(uint64_t *)(slot_bytes(8) + 96) = htole64(9);	/* inp */
		}
		slot_bytes(8)[ELECT_TORN_AT] ^= 0xff;	/* a later line */
		assert_int_equal(famfs_elect_read(pool, none(), 8, &x), -EUCLEAN);
		e = host_new(0, 4, NULL);
		cur = 0;
		assert_int_equal(famfs_elect_watch(e, 0, NULL), FAMFS_ELECT_FOLLOW);
		clk[0] += W;
		assert_int_equal(famfs_elect_run(e, 0, 1, false, &epoch), 1);
		assert_int_equal(famfs_elect_read(pool, none(), 4, &x), 0);
		if (line1_new) {
			assert_int_equal(epoch, 11);	/* 9 may be decided; +1 torn */
		} else {
			assert_int_equal(epoch, 9);
			assert_true(x.mbal > m);
		}
		famfs_elect_free(e);
	}
}

/*
 * Slot memory that faults (a pool file cut under the mapping): every read
 * is -EIO under the guard, a store is lost with -EIO, nothing crashes,
 * and a watcher takes the faulting slot for one unchanging value.
 */
static void test_faulting_slots(void **state)
{
	size_t len = FAMFS_ELECT_OFFSET + FAMFS_ELECT_SLOTS * 512;
	struct famfs_elect_slot_info x = sample(2);
	struct famfs_elect_view v;
	struct famfs_elect_opts o = {
		.slot = 3, .lease_ns = W, .host = "h", .now = host_now,
	};
	struct famfs_elect *e = NULL;
	uint8_t *p;
	int fd;

	(void)state;
	clocks_reset();
	fd = memfd_create("elect-fault", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(famfs_guard_register(p, len, 0), 0);
	assert_int_equal(famfs_elect_write(p, none(), &x), 0);
	assert_int_equal(famfs_elect_read(p, none(), 2, &x), 0);
	/* Cut the file to its first 16 KiB: every slot's page is gone. */
	assert_int_equal(ftruncate(fd, FAMFS_ELECT_OFFSET), 0);
	assert_int_equal(famfs_elect_read(p, none(), 2, &x), -EIO);
	assert_int_equal(famfs_elect_write(p, none(), &x), -EIO);
	assert_int_equal(famfs_elect_view(p, none(), &v), 0);
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
		assert_int_equal(v.status[i], -EIO);
	assert_int_equal(v.active, -1);
	cur = 0;
	tick[0] = 1000000;
	assert_int_equal(famfs_elect_new(p, none(), &o, &e), -EIO);
	tick[0] = 0;
	famfs_guard_unregister(p);
	munmap(p, len);
	close(fd);
}


/* A master with a longer lease than ours is waited for its own W. */
static void test_watch_uses_the_slots_lease(void **state)
{
	struct famfs_elect_opts o = {
		.slot = 0, .lease_ns = 4 * W, .host = "slow", .now = host_now,
	};
	struct famfs_elect *a = NULL, *b;
	uint64_t epoch;

	(void)state;
	fresh_pool();
	cur = 0;
	assert_int_equal(famfs_elect_new(pool, none(), &o, &a), 0);
	assert_int_equal(famfs_elect_run(a, 0, 1, false, &epoch), 1);
	b = host_new(1, 1, NULL);			/* W */
	cur = 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[1] += 2 * W;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[1] += 2 * W - 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[1] += 1;
	assert_int_equal(famfs_elect_watch(b, 0, NULL), FAMFS_ELECT_VACANT);
	/* And a master with our W renews into a deadline within its own. */
	cur = 0;
	clk[0] += 4 * W;
	assert_false(famfs_elect_may_write(a));
	famfs_elect_free(a);
	famfs_elect_free(b);
}

/*
 * A renewal racing a takeover, both ways round (docs/failover.md). The
 * hook runs the other host inside a store in flight: its old bytes are
 * what the pool shows until the flush, so the other host misses it.
 */
static unsigned int hook_slot = 99;
static uint8_t hook_old[512];
static void (*hook_fn)(void);

static void hook_flush(const void *a, size_t len)
{
	int s = addr_slot(a, len);
	uint8_t now[512];
	void (*fn)(void) = hook_fn;

	if (s < 0 || (unsigned int)s != hook_slot || !fn)
		return;
	hook_fn = NULL;
	memcpy(now, slot_bytes((unsigned int)s), 512);
	memcpy(slot_bytes((unsigned int)s), hook_old, 512);
	fn();
	memcpy(slot_bytes((unsigned int)s), now, 512);
}

static const struct famfs_cache_ops hook_ops = {
	.name = "hook", .flush = hook_flush, .invalidate = nop_flush,
	.wfence = nop_fence, .rfence = nop_fence,
};

static struct famfs_elect *race_m, *race_s;
static int race_r;
static uint64_t race_epoch;

static void race_renew_m(void)
{
	int saved = cur;

	cur = 0;
	race_r = famfs_elect_renew(race_m, 1);
	cur = saved;
}

static void race_run_s(void)
{
	int saved = cur;

	cur = 1;
	race_r = famfs_elect_run(race_s, 0, 1, false, &race_epoch);
	cur = saved;
}

/* m active at epoch 1, s timed its last beat, then m paused for W. */
static void race_setup(void)
{
	uint64_t epoch;

	fresh_pool();
	race_m = host_new(0, 0, &hook_ops);
	race_s = host_new(1, 1, &hook_ops);
	cur = 0;
	assert_int_equal(famfs_elect_run(race_m, 0, 1, false, &epoch), 1);
	cur = 1;
	clk[1] += W / 4;
	assert_int_equal(famfs_elect_watch(race_s, 0, NULL), FAMFS_ELECT_FOLLOW);
	clk[0] += W + 1;
	clk[1] += W + 1;
}

static bool both_may_write(void)
{
	bool m, s;

	cur = 0;
	m = famfs_elect_may_write(race_m);
	cur = 1;
	s = famfs_elect_may_write(race_s);
	return m && s;
}

/* The master resumes during the standby's intent: the re-check sees it. */
static void test_race_renew_inside_intent(void **state)
{
	uint64_t epoch = 0;

	(void)state;
	race_setup();
	memcpy(hook_old, slot_bytes(1), 512);
	hook_slot = 1;
	hook_fn = race_renew_m;
	cur = 1;
	assert_int_equal(famfs_elect_run(race_s, 0, 1, false, &epoch), 0);
	assert_null(hook_fn);
	assert_int_equal(race_r, 0);		/* m missed the intent, renewed */
	assert_false(both_may_write());
	cur = 0;
	assert_true(famfs_elect_may_write(race_m));
	/* The intent was taken back: m goes on. */
	clk[0] += W / 4;
	assert_int_equal(famfs_elect_renew(race_m, 2), 0);
	famfs_elect_free(race_m);
	famfs_elect_free(race_s);
}

/* The standby takes over during the master's store: its second read sees it. */
static void test_race_takeover_inside_renewal(void **state)
{
	(void)state;
	race_setup();
	memcpy(hook_old, slot_bytes(0), 512);
	hook_slot = 0;
	hook_fn = race_run_s;
	cur = 0;
	assert_int_equal(famfs_elect_renew(race_m, 2), -ESTALE);
	assert_null(hook_fn);
	assert_int_equal(race_r, 1);		/* s saw m silent, and won */
	assert_int_equal(race_epoch, 2);
	assert_false(both_may_write());
	cur = 1;
	assert_true(famfs_elect_may_write(race_s));
	famfs_elect_free(race_m);
	famfs_elect_free(race_s);
}

/* ---- simulated hosts: threads over one buffer, one step at a time ------- */

/*
 * Each host is a thread running the master's loop (watch, run, renew,
 * sometimes release and restart). Only one runs at a time: every cache op
 * is a point where the running host hands back to the scheduler, which
 * picks the next one from a seeded random stream (so a seed replays one
 * interleaving), moves simulated real time on, and pauses hosts for
 * stretches longer than W. A store is in flight from its memcpy until its
 * flush returns: meanwhile other hosts read the old bytes, then a torn
 * mix, then the new ones (a regular register). Each host's clock runs at
 * its own rate within rho of the others. After every step the scheduler
 * asks every host's famfs_elect_may_write() at that instant: never two.
 */
#define SIM_W		1000000ull		/* 1 ms */
#define SIM_MAX_HOSTS	3
#define SIM_MAX_WINS	4096

struct sim_host {
	pthread_t th;
	int id;
	unsigned int slot;
	uint64_t base_ns, ppm;		/* clock = base + T * (1 + ppm / 1e6) */
	uint64_t wake;			/* real time it may run again */
	uint64_t pause_until;
	bool waiting, done;
	pthread_cond_t go;		/* the scheduler let this host run */
	struct famfs_elect *_Atomic e;
	unsigned int wins, fenced, releases, restarts, forced;
};

static struct sim {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int running;			/* host let go; -1: the scheduler */
	uint64_t T;			/* simulated real time, ns */
	bool stop;
	unsigned int nhost;
	struct sim_host h[SIM_MAX_HOSTS];
	uint64_t rng;
	uint8_t shadow[FAMFS_ELECT_SLOTS][512];	/* bytes as last flushed */
	int winner[SIM_MAX_WINS];	/* by epoch: host id, -1 none */
	unsigned int bad_epoch;		/* wins of an epoch already won */
	unsigned int overlap;		/* instants with two writers */
	unsigned int max_epoch;
} sim;

/* ELECT_SIM_TRACE=1: what each host did, printed for a failing seed. */
static bool sim_trace;

static void sim_note(const char *fmt, ...)
{
	va_list ap;

	if (!sim_trace)
		return;
	fprintf(stderr, "T=%llu host %d: ", (unsigned long long)sim.T, cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint64_t sim_rand(void)
{
	sim.rng ^= sim.rng >> 12;
	sim.rng ^= sim.rng << 25;
	sim.rng ^= sim.rng >> 27;
	return sim.rng * 0x2545f4914f6cdd1dull;
}

static uint64_t sim_clock(const struct sim_host *h, uint64_t T)
{
	return h->base_ns + T + T / 1000000u * h->ppm +
	       T % 1000000u * h->ppm / 1000000u;
}

static uint64_t sim_now(void)
{
	return sim_clock(&sim.h[cur], sim.T);
}

/* The running host hands over; it runs again after `delay` of real time. */
static void sim_yield(uint64_t delay)
{
	struct sim_host *h = &sim.h[cur];

	pthread_mutex_lock(&sim.mu);
	h->wake = sim.T + delay;
	h->waiting = true;
	sim.running = -1;
	pthread_cond_signal(&sim.cv);
	while (sim.running != h->id)
		pthread_cond_wait(&h->go, &sim.mu);
	h->waiting = false;
	pthread_mutex_unlock(&sim.mu);
}

static void sim_inval(const void *a, size_t len)
{
	(void)a;
	(void)len;
	sim_yield(0);
}

/* The store in flight: old bytes, then a torn mix, then the new ones. */
static void sim_flush(const void *a, size_t len)
{
	int s = addr_slot(a, len);
	uint8_t now[512], *p = (uint8_t *)(uintptr_t)a;

	assert_true(s >= 0);
	memcpy(now, p, 512);
	memcpy(p, sim.shadow[s], 512);
	sim_yield(0);
	for (int line = 0; line < 8; line++)
		if (sim_rand() & 1)
			memcpy(p + line * 64, now + line * 64, 64);
	sim_yield(0);
	memcpy(p, now, 512);
	memcpy(sim.shadow[s], now, 512);
}

static void sim_fence(void) { }

static const struct famfs_cache_ops sim_ops = {
	.name = "sim", .flush = sim_flush, .invalidate = sim_inval,
	.wfence = sim_fence, .rfence = sim_fence,
};

static void sim_sleep(uint64_t ns)
{
	sim_yield(ns);
}

static void sim_won(struct sim_host *h, uint64_t epoch)
{
	pthread_mutex_lock(&sim.mu);
	h->wins++;
	if (epoch >= SIM_MAX_WINS || sim.winner[epoch] >= 0)
		sim.bad_epoch++;
	else
		sim.winner[epoch] = h->id;
	if (epoch > sim.max_epoch)
		sim.max_epoch = (unsigned int)epoch;
	pthread_mutex_unlock(&sim.mu);
}

/* One run of a master-capable process until it is fenced or releases. */
static void sim_run_once(struct sim_host *h, struct famfs_elect *e)
{
	uint64_t epoch, R = SIM_W / 4;
	bool active = false, force;
	int r;

	while (!sim.stop) {
		if (active) {
			sim_sleep(R);
			r = famfs_elect_renew(e, 0);
			sim_note("renew %d may_write %d", r, famfs_elect_may_write(e));
			if (r == -ESTALE) {
				h->fenced++;
				return;
			}
			assert_int_equal(r, 0);
			if (sim_rand() % 64 == 0) {
				sim_note("release");
				famfs_elect_release(e);
				h->releases++;
				return;
			}
			continue;
		}
		r = famfs_elect_watch(e, 0, NULL);
		assert_true(r >= 0);
		/* Now and then an admin forces a takeover from a live master. */
		force = r == FAMFS_ELECT_FOLLOW && sim_rand() % 300 == 0;
		if (r == FAMFS_ELECT_VACANT || force) {
			sim_note("run force %d", force);
			r = famfs_elect_run(e, 0, 1, force, &epoch);
			sim_note("run -> %d epoch %llu may_write %d", r,
				 (unsigned long long)(r == 1 ? epoch : 0),
				 famfs_elect_may_write(e));
			if (force)
				h->forced++;
			/* A forced winner renewing through its wait may be fenced. */
			assert_true(r >= 0 || r == -EAGAIN || (force && r == -ESTALE));
			if (r == -ESTALE) {
				h->fenced++;
				return;
			}
			if (r == 1) {
				sim_won(h, epoch);
				active = true;
				continue;
			}
			if (r == -EAGAIN)
				sim_sleep(famfs_elect_backoff_ns(e));
		}
		sim_sleep(R / 4 + sim_rand() % (R / 4));
	}
}

static void *sim_host_main(void *arg)
{
	struct sim_host *h = arg;
	struct famfs_elect_opts o = {
		.slot = h->slot, .lease_ns = SIM_W, .host = "sim",
		.pid = (uint32_t)h->id, .url = "", .now = sim_now,
	};

	cur = h->id;
	sim_yield(0);
	while (!sim.stop) {
		struct famfs_elect *e = NULL;
		int r = famfs_elect_new(pool, &sim_ops, &o, &e);

		if (r == -EBUSY) {
			sim_sleep(SIM_W / 4);
			continue;
		}
		assert_int_equal(r, 0);
		atomic_store(&h->e, e);
		sim_run_once(h, e);
		atomic_store(&h->e, NULL);
		famfs_elect_free(e);
		h->restarts++;
	}
	pthread_mutex_lock(&sim.mu);
	h->done = true;
	sim.running = -1;
	pthread_cond_broadcast(&sim.cv);
	pthread_mutex_unlock(&sim.mu);
	return NULL;
}

/* Every host's view of may_write at this instant, on its own clock. */
static void sim_check_writers(void)
{
	int writers = 0, saved = cur;

	for (unsigned int i = 0; i < sim.nhost; i++) {
		struct famfs_elect *e = atomic_load(&sim.h[i].e);

		cur = (int)i;
		if (e && famfs_elect_may_write(e))
			writers++;
	}
	cur = saved;
	if (writers > 1) {
		sim.overlap++;
		cur = -1;
		if (sim_trace)
			fprintf(stderr, "T=%llu: TWO WRITERS\n", (unsigned long long)sim.T);
		cur = saved;
	}
}

/* Picks the next host to let go; false when every host has finished. */
static bool sim_pick(int *ret)
{
	uint64_t next = UINT64_MAX;
	int ready[SIM_MAX_HOSTS], n = 0;
	unsigned int alive = 0;

	for (unsigned int i = 0; i < sim.nhost; i++) {
		struct sim_host *h = &sim.h[i];
		uint64_t at = h->wake > h->pause_until ? h->wake : h->pause_until;

		if (h->done)
			continue;
		alive++;
		if (at <= sim.T)
			ready[n++] = (int)i;
		else if (at < next)
			next = at;
	}
	if (!alive)
		return false;
	if (!n) {
		/* Idle: time runs on, and every 2 us of it is checked too. */
		while (sim.T + 2000 < next) {
			sim.T += 2000;
			sim_check_writers();
		}
		sim.T = next;
		return sim_pick(ret);
	}
	*ret = ready[sim_rand() % (uint64_t)n];
	return true;
}

static void sim_schedule(unsigned long steps)
{
	pthread_mutex_lock(&sim.mu);
	for (unsigned long step = 0;; step++) {
		int next;

		while (sim.running != -1)
			pthread_cond_wait(&sim.cv, &sim.mu);
		sim_check_writers();
		if (step == steps)
			sim.stop = true;
		/* A host stops for up to 3 W now and then (SIGSTOP, a stall). */
		if (!sim.stop && sim_rand() % 700 == 0) {
			struct sim_host *h = &sim.h[sim_rand() % sim.nhost];

			/* Half of them end near W: inside a rival's takeover. */
			h->pause_until = sim.T + (sim_rand() & 1 ?
				SIM_W / 2 + sim_rand() % (3 * SIM_W) :
				SIM_W - SIM_W / 8 + sim_rand() % (SIM_W / 2));
			if (sim_trace)
				fprintf(stderr, "T=%llu: pause host %d until %llu\n",
					(unsigned long long)sim.T, h->id,
					(unsigned long long)h->pause_until);
		}
		if (!sim_pick(&next))
			break;
		sim.T += sim_rand() % 4000;	/* a step takes up to 4 us */
		sim.running = next;
		pthread_cond_signal(&sim.h[next].go);
	}
	pthread_mutex_unlock(&sim.mu);
}

static void sim_one(uint64_t seed, unsigned int nhost, unsigned long steps,
		    unsigned int *ret_max_epoch, unsigned int *ret_fenced)
{
	memset(pool, 0, sizeof(pool));
	memset(&sim, 0, sizeof(sim));
	pthread_mutex_init(&sim.mu, NULL);
	pthread_cond_init(&sim.cv, NULL);
	sim.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	sim.nhost = nhost;
	sim.running = -1;
	for (int i = 0; i < SIM_MAX_WINS; i++)
		sim.winner[i] = -1;
	for (unsigned int i = 0; i < nhost; i++) {
		struct sim_host *h = &sim.h[i];

		h->id = (int)i;
		h->slot = (unsigned int)(sim_rand() % FAMFS_ELECT_SLOTS);
		for (unsigned int j = 0; j < i; j++)
			if (sim.h[j].slot == h->slot)
				h->slot = (h->slot + 1 + j) % FAMFS_ELECT_SLOTS;
		/* Rates at the two ends of the bound, or anywhere between. */
		h->ppm = i == 0 ? 0 : i == 1 ? FAMFS_ELECT_DRIFT_PPM :
			 sim_rand() % (FAMFS_ELECT_DRIFT_PPM + 1);
		h->base_ns = sim_rand() % (1ull << 40);
		h->waiting = false;
	}
	/* Distinct slots, whatever the draws. */
	for (unsigned int i = 0; i < nhost; i++)
		sim.h[i].slot = (sim.h[0].slot + i * 5) % FAMFS_ELECT_SLOTS;
	for (unsigned int i = 0; i < nhost; i++) {
		sim.h[i].wake = 0;
		pthread_cond_init(&sim.h[i].go, NULL);
		assert_int_equal(pthread_create(&sim.h[i].th, NULL, sim_host_main,
						&sim.h[i]), 0);
	}
	/* Every thread reaches its first yield before the first pick. */
	pthread_mutex_lock(&sim.mu);
	for (;;) {
		unsigned int w = 0;

		for (unsigned int i = 0; i < nhost; i++)
			w += sim.h[i].waiting;
		if (w == nhost)
			break;
		pthread_cond_wait(&sim.cv, &sim.mu);
	}
	pthread_mutex_unlock(&sim.mu);
	sim_schedule(steps);
	for (unsigned int i = 0; i < nhost; i++)
		pthread_join(sim.h[i].th, NULL);
	if (sim.overlap || sim.bad_epoch)
		fprintf(stderr, "seed %llu hosts %u: %u instants with two writers, "
			"%u epochs won twice\n", (unsigned long long)seed, nhost,
			sim.overlap, sim.bad_epoch);
	assert_int_equal(sim.overlap, 0);
	assert_int_equal(sim.bad_epoch, 0);
	*ret_max_epoch = sim.max_epoch;
	*ret_fenced = 0;
	for (unsigned int i = 0; i < nhost; i++)
		*ret_fenced += sim.h[i].fenced;
	for (unsigned int i = 0; i < nhost; i++)
		pthread_cond_destroy(&sim.h[i].go);
	pthread_mutex_destroy(&sim.mu);
	pthread_cond_destroy(&sim.cv);
}

static unsigned long env_count(const char *name, unsigned long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 10) : dflt;
}

static void sim_many(unsigned int nhost)
{
	unsigned long seeds = env_count("ELECT_SIM_SEEDS", 12);
	unsigned long steps = env_count("ELECT_SIM_STEPS", 15000);
	unsigned long epochs = 0, fenced = 0, no_master = 0;

	unsigned long only = env_count("ELECT_SIM_SEED", 0);

	sim_trace = env_count("ELECT_SIM_TRACE", 0) != 0;
	for (unsigned long s = only ? only : 1; s <= (only ? only : seeds); s++) {
		unsigned int me, f;

		if (only)
			seeds = 1;
		sim_one(s * 7919 + nhost, nhost, steps, &me, &f);
		epochs += me;
		fenced += f;
		no_master += me == 0;
	}
	fprintf(stderr, "elect sim: %u hosts, %lu seeds x %lu steps: %lu epochs, "
		"%lu fenced masters, %lu runs with no master ever\n", nhost, seeds,
		steps, epochs, fenced, no_master);
	/* Liveness: elections end with a master, and pauses fence some. */
	assert_int_equal(no_master, 0);
	assert_true(epochs >= seeds);
}

static void test_sim_two_hosts(void **state)
{
	(void)state;
	sim_many(2);
}

static void test_sim_three_hosts(void **state)
{
	(void)state;
	sim_many(3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_bad_bytes),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_step_barriers),
		cmocka_unit_test(test_watch_barriers),
		cmocka_unit_test(test_first_election),
		cmocka_unit_test(test_takeover_after_silence),
		cmocka_unit_test(test_release_hands_over_at_once),
		cmocka_unit_test(test_force_waits_w),
		cmocka_unit_test(test_same_slot_busy),
		cmocka_unit_test(test_stale_intent_is_joined),
		cmocka_unit_test(test_dead_candidate_is_skipped),
		cmocka_unit_test(test_unreadable_slot_is_watched),
		cmocka_unit_test(test_renewal_sees_through_a_stalled_store),
		cmocka_unit_test(test_renewal_past_a_dead_hosts_torn_slot),
		cmocka_unit_test(test_election_reads_a_stalled_store),
		cmocka_unit_test(test_faulting_slots),
		cmocka_unit_test(test_watch_uses_the_slots_lease),
		cmocka_unit_test(test_race_renew_inside_intent),
		cmocka_unit_test(test_race_takeover_inside_renewal),
		cmocka_unit_test(test_sim_two_hosts),
		cmocka_unit_test(test_sim_three_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
