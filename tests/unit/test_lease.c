// SPDX-License-Identifier: GPL-2.0-or-later
/* The master lease area: round trip, corruption, flush order, liveness. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lease.h"

/* The lease area and the election slots famfs_lease_watch also reads. */
static uint8_t pool[32768] __attribute__((aligned(4096)));

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

static void test_never_written(void **state)
{
	struct famfs_lease_info l;

	(void)state;
	memset(pool, 0, sizeof(pool));
	memset(&l, 0x77, sizeof(l));
	assert_int_equal(famfs_lease_read(pool, none(), &l), -ENOENT);
	assert_int_equal(l.epoch, 0);
	assert_false(famfs_lease_live(&l, 12345));
}

static void test_round_trip(void **state)
{
	struct famfs_lease_info in = {
		.epoch = 7, .acquired_ns = 100, .renewed_ns = 200,
		.lease_ns = 5000000000ull, .pid = 4242, .released = false,
	}, out;

	(void)state;
	memset(pool, 0, sizeof(pool));
	for (int i = 0; i < 16; i++)
		in.holder_uuid[i] = (uint8_t)(i * 17);
	/* A host name of exactly 64 bytes has no room for a NUL on media. */
	memset(in.host, 'h', FAMFS_HOST_MAX);
	in.host[FAMFS_HOST_MAX] = '\0';
	famfs_lease_write(pool, none(), &in);
	assert_int_equal(famfs_lease_read(pool, none(), &out), 0);
	assert_int_equal(out.epoch, 7);
	assert_int_equal(out.acquired_ns, 100);
	assert_int_equal(out.renewed_ns, 200);
	assert_int_equal(out.lease_ns, 5000000000ull);
	assert_int_equal(out.pid, 4242);
	assert_false(out.released);
	assert_int_equal(strlen(out.host), FAMFS_HOST_MAX);
	assert_memory_equal(out.holder_uuid, in.holder_uuid, 16);
	/* Only the lease area was written. */
	for (size_t i = 0; i < sizeof(pool); i++)
		if (i < FAMFS_LEASE_OFFSET ||
		    i >= FAMFS_LEASE_OFFSET + sizeof(struct famfs_lease))
			assert_int_equal(pool[i], 0);

	strcpy(in.host, "node-b");
	in.released = true;
	famfs_lease_write(pool, none(), &in);
	assert_int_equal(famfs_lease_read(pool, none(), &out), 0);
	assert_string_equal(out.host, "node-b");	/* old bytes cleared */
	assert_true(out.released);
}

static void test_corruption_detected(void **state)
{
	struct famfs_lease_info in = { .epoch = 3, .host = "a" }, out;

	(void)state;
	memset(pool, 0, sizeof(pool));
	famfs_lease_write(pool, none(), &in);
	for (size_t b = 0; b < sizeof(struct famfs_lease); b++) {
		pool[FAMFS_LEASE_OFFSET + b] ^= 0x08;
		assert_int_equal(famfs_lease_read(pool, none(), &out), -EUCLEAN);
		pool[FAMFS_LEASE_OFFSET + b] ^= 0x08;
	}
	assert_int_equal(famfs_lease_read(pool, none(), &out), 0);
}

static struct { char kind[8]; uintptr_t addr[8]; size_t len[8]; int n; } ev;

static void rec_flush(const void *a, size_t len)
{
	ev.kind[ev.n] = 'F';
	ev.addr[ev.n] = (uintptr_t)a;
	ev.len[ev.n++] = len;
}

static void rec_inval(const void *a, size_t len)
{
	ev.kind[ev.n] = 'I';
	ev.addr[ev.n] = (uintptr_t)a;
	ev.len[ev.n++] = len;
}

static void rec_wfence(void) { ev.kind[ev.n++] = 'W'; }
static void rec_rfence(void) { ev.kind[ev.n++] = 'R'; }

static void test_flush_and_invalidate(void **state)
{
	static const struct famfs_cache_ops ops = {
		.name = "rec", .flush = rec_flush, .invalidate = rec_inval,
		.wfence = rec_wfence, .rfence = rec_rfence,
	};
	struct famfs_lease_info in = { .epoch = 1 }, out;

	(void)state;
	ev.n = 0;
	famfs_lease_write(pool, &ops, &in);
	assert_int_equal(ev.n, 2);
	assert_int_equal(ev.kind[0], 'F');
	assert_int_equal(ev.addr[0], (uintptr_t)pool + FAMFS_LEASE_OFFSET);
	assert_int_equal(ev.len[0], sizeof(struct famfs_lease));
	assert_int_equal(ev.kind[1], 'W');
	ev.n = 0;
	assert_int_equal(famfs_lease_read(pool, &ops, &out), 0);
	assert_int_equal(ev.n, 2);
	assert_int_equal(ev.kind[0], 'I');
	assert_int_equal(ev.addr[0], (uintptr_t)pool + FAMFS_LEASE_OFFSET);
	assert_int_equal(ev.len[0], sizeof(struct famfs_lease));
	assert_int_equal(ev.kind[1], 'R');
}

static void test_liveness(void **state)
{
	struct famfs_lease_info l = {
		.epoch = 2, .renewed_ns = 1000, .lease_ns = 500,
	};

	(void)state;
	assert_true(famfs_lease_live(&l, 1000));
	assert_true(famfs_lease_live(&l, 1499));
	assert_false(famfs_lease_live(&l, 1500));	/* expired at the limit */
	assert_false(famfs_lease_live(&l, UINT64_MAX));
	assert_true(famfs_lease_live(&l, 10));		/* our clock behind theirs */
	l.released = true;
	assert_false(famfs_lease_live(&l, 1000));
	l.released = false;
	l.epoch = 0;
	assert_false(famfs_lease_live(&l, 1000));
}

/*
 * Stands for another host renewing: its write reaches this reader only
 * once the reader invalidates (the third time here), so a watch that read
 * without invalidating would never see it.
 */
static int watch_invals;

static void renew_on_inval(const void *a, size_t len)
{
	struct famfs_lease *l = (void *)(pool + FAMFS_LEASE_OFFSET);

	(void)len;
	if (a != (void *)l)
		return;			/* the election slots: test_elect */
	if (++watch_invals == 3)
		l->renewed_ns ^= 1;	/* the holder's clock is no concern */
}

static void no_fence(void) { }

static void test_watch_sees_a_renewal(void **state)
{
	static const struct famfs_cache_ops ops = {
		.name = "renewing", .flush = rec_flush, .invalidate = renew_on_inval,
		.wfence = no_fence, .rfence = no_fence,
	};
	struct famfs_lease_info in = { .epoch = 4, .renewed_ns = 1, .host = "a" };

	(void)state;
	memset(pool, 0, sizeof(pool));
	famfs_lease_write(pool, none(), &in);
	watch_invals = 0;
	assert_int_equal(famfs_lease_watch(pool, &ops, 5000, 10), 1);
	assert_int_equal(watch_invals, 3);	/* at the first read after it */
	/* Nobody renews: unchanged for the whole wait, every read invalidated. */
	watch_invals = 100;
	assert_int_equal(famfs_lease_watch(pool, &ops, 50, 10), 0);
	assert_int_equal(watch_invals, 100 + 1 + 5);
	assert_int_equal(famfs_lease_watch(pool, &ops, 50, 0), -EINVAL);
}

/* A standby beating its election slot: the third read of the slots sees it. */
static int slot_invals;

static void beat_on_inval(const void *a, size_t len)
{
	(void)len;
	if (a == (void *)(pool + FAMFS_ELECT_OFFSET) && ++slot_invals == 3)
		pool[FAMFS_ELECT_OFFSET + 5 * FAMFS_ELECT_SLOT_SIZE + 40] ^= 1;
}

static void test_watch_sees_an_election_slot(void **state)
{
	static const struct famfs_cache_ops ops = {
		.name = "beating", .flush = rec_flush, .invalidate = beat_on_inval,
		.wfence = no_fence, .rfence = no_fence,
	};

	(void)state;
	memset(pool, 0, sizeof(pool));
	slot_invals = 0;
	assert_int_equal(famfs_lease_watch(pool, &ops, 5000, 10), 1);
	assert_int_equal(slot_invals, 3);
	slot_invals = 100;
	assert_int_equal(famfs_lease_watch(pool, &ops, 50, 10), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_never_written),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_corruption_detected),
		cmocka_unit_test(test_flush_and_invalidate),
		cmocka_unit_test(test_liveness),
		cmocka_unit_test(test_watch_sees_a_renewal),
		cmocka_unit_test(test_watch_sees_an_election_slot),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
