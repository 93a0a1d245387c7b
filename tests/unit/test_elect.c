// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Master election and lease (lib/elect.c): slot encoding and bad bytes,
 * the barriers of every protocol step, and hosts simulated over one
 * buffer, each with its own clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "elect.h"

#define POOL_SIZE	(32u << 10)
#define W		100000000ull		/* 100 ms of simulated time */
#define NHOST		4

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
