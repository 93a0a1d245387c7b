// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent roster: round trip, the flush and fence of R-W1 and R-W2, a
 * crash inside or between them, damaged copies and garbage bytes, a full
 * roster, and a writer that may not write any more.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crc.h"
#include "roster.h"

#define POOL_BYTES	(FAMFS_ROSTER_COPY1 + (128u << 10))

static uint8_t *pool;

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

static uint8_t *entry(unsigned int copy, unsigned int i)
{
	return pool + (copy ? FAMFS_ROSTER_COPY1 : FAMFS_ROSTER_OFFSET) +
	       (size_t)i * FAMFS_ROSTER_ENTRY_SIZE;
}

static int setup(void **state)
{
	(void)state;
	pool = aligned_alloc(4096, POOL_BYTES);
	if (!pool)
		return -1;
	memset(pool, 0, POOL_BYTES);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(pool);
	return 0;
}

static int clear(void **state)
{
	(void)state;
	memset(pool, 0, POOL_BYTES);
	return 0;
}

static struct famfs_roster *load(void)
{
	struct famfs_roster *r = NULL;

	assert_int_equal(famfs_roster_load(pool, none(), &r), 0);
	return r;
}

static int put(struct famfs_roster *r, const char *id,
	       enum famfs_roster_state s)
{
	return famfs_roster_put(r, pool, none(), id, "host-a", s, 7, 42,
				NULL, NULL);
}

static void test_empty_and_round_trip(void **state)
{
	struct famfs_roster *r = load(), *r2;
	const struct famfs_roster_info *e;
	struct famfs_roster_info one;

	(void)state;
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
		assert_int_equal(famfs_roster_health(r, i), FAMFS_ROSTER_H_EMPTY);
	assert_int_equal(famfs_roster_find(r, "a"), -ENOENT);
	assert_int_equal(put(r, "node-1", FAMFS_ROSTER_LIVE), 0);
	assert_int_equal(put(r, "node-2", FAMFS_ROSTER_LIVE), 1);
	/* Again: the same index, updated in place. */
	assert_int_equal(put(r, "node-1", FAMFS_ROSTER_EVICTED), 0);
	r2 = load();
	assert_int_equal(famfs_roster_find(r2, "node-2"), 1);
	e = famfs_roster_get(r2, 0);
	assert_non_null(e);
	assert_string_equal(e->id, "node-1");
	assert_string_equal(e->host, "host-a");
	assert_int_equal(e->state, FAMFS_ROSTER_EVICTED);
	assert_int_equal(e->epoch, 7);
	assert_int_equal(e->seq, 42);
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_OK);
	assert_int_equal(famfs_roster_to_mend(r2), 0);
	/* Both copies say the same. */
	assert_int_equal(famfs_roster_read_entry(pool, none(), 1, 0, &one), 0);
	assert_string_equal(one.id, "node-1");
	assert_memory_equal(entry(0, 0), entry(1, 0), FAMFS_ROSTER_ENTRY_SIZE);
	/* An evicted agent that registers again is live again, same index. */
	assert_int_equal(put(r2, "node-1", FAMFS_ROSTER_LIVE), 0);
	assert_int_equal(famfs_roster_get(r2, 0)->state, FAMFS_ROSTER_LIVE);
	/* Bad input writes nothing. */
	assert_int_equal(put(r2, "", FAMFS_ROSTER_LIVE), -EINVAL);
	assert_int_equal(put(r2, "a/b", FAMFS_ROSTER_LIVE), -EINVAL);
	assert_int_equal(put(r2, "x", FAMFS_ROSTER_EMPTY), -EINVAL);
	assert_int_equal(famfs_roster_read_entry(pool, none(), 2, 0, &one),
			 -EINVAL);
	assert_int_equal(famfs_roster_read_entry(pool, none(), 0,
						 FAMFS_ROSTER_ENTRIES, &one),
			 -EINVAL);
	famfs_roster_free(r);
	famfs_roster_free(r2);
	memset(pool, 0, POOL_BYTES);
}

/* ---- recorded cache calls ------------------------------------------------ */

static struct {
	char kind[64];
	uintptr_t addr[64];
	size_t len[64];
	int n;
} ev;

static void rec(char k, const void *a, size_t len)
{
	/* Past the first 64 only counted. */
	if (ev.n < 64) {
		ev.kind[ev.n] = k;
		ev.addr[ev.n] = (uintptr_t)a;
		ev.len[ev.n] = len;
	}
	ev.n++;
}

static void rec_flush(const void *a, size_t len) { rec('F', a, len); }
static void rec_inval(const void *a, size_t len) { rec('I', a, len); }
static void rec_wfence(void) { rec('W', NULL, 0); }
static void rec_rfence(void) { rec('R', NULL, 0); }

static const struct famfs_cache_ops rec_ops = {
	.name = "rec", .flush = rec_flush, .invalidate = rec_inval,
	.wfence = rec_wfence, .rfence = rec_rfence,
};

/* The gate sees what the pool holds when it is asked. */
static int gate_calls, gate_refuse_at;
static uint8_t gate_seen_copy0[FAMFS_ROSTER_ENTRY_SIZE];

static int gate(void *ctx)
{
	(void)ctx;
	rec('G', NULL, 0);
	if (++gate_calls == 2)
		memcpy(gate_seen_copy0, entry(0, 3), sizeof(gate_seen_copy0));
	return gate_calls == gate_refuse_at ? -ESHUTDOWN : 0;
}

static void test_write_steps_flush_and_fence(void **state)
{
	struct famfs_roster *r = load();
	struct famfs_roster_info got;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(put(r, (const char *[]){ "a", "b", "c" }[i],
				     FAMFS_ROSTER_LIVE), i);
	ev.n = 0;
	gate_calls = 0;
	gate_refuse_at = 0;
	assert_int_equal(famfs_roster_put(r, pool, &rec_ops, "d", "h",
					  FAMFS_ROSTER_LIVE, 1, 2, gate, NULL),
			 3);
	/* G, then R-W1: flush of copy 0's entry, fence; G, then R-W2. */
	assert_int_equal(ev.n, 6);
	assert_memory_equal(ev.kind, "GFWGFW", 6);
	assert_int_equal(ev.addr[1], (uintptr_t)entry(0, 3));
	assert_int_equal(ev.len[1], FAMFS_ROSTER_ENTRY_SIZE);
	assert_int_equal(ev.addr[4], (uintptr_t)entry(1, 3));
	assert_int_equal(ev.len[4], FAMFS_ROSTER_ENTRY_SIZE);
	/* Copy 0 was complete before copy 1's gate was asked. */
	assert_memory_equal(gate_seen_copy0, entry(0, 3), FAMFS_ROSTER_ENTRY_SIZE);

	/* A read: invalidate the entry's lines, fence, then copy. */
	ev.n = 0;
	assert_int_equal(famfs_roster_read_entry(pool, &rec_ops, 1, 3, &got), 0);
	assert_int_equal(ev.n, 2);
	assert_memory_equal(ev.kind, "IR", 2);
	assert_int_equal(ev.addr[0], (uintptr_t)entry(1, 3));
	assert_int_equal(ev.len[0], FAMFS_ROSTER_ENTRY_SIZE);
	assert_string_equal(got.id, "d");

	/* A load reads every entry of both copies that way. */
	famfs_roster_free(r);
	ev.n = 0;
	assert_int_equal(famfs_roster_load(pool, &rec_ops, &r), 0);
	assert_int_equal(ev.n, FAMFS_ROSTER_ENTRIES * 2 * 2);
	assert_memory_equal(ev.kind, "IRIR", 4);
	assert_int_equal(ev.addr[0], (uintptr_t)entry(0, 0));
	assert_int_equal(ev.addr[2], (uintptr_t)entry(1, 0));
	famfs_roster_free(r);
	memset(pool, 0, POOL_BYTES);
}

static void test_mkfs_clear(void **state)
{
	struct famfs_roster *r = load();

	(void)state;
	assert_int_equal(put(r, "gone", FAMFS_ROSTER_LIVE), 0);
	ev.n = 0;
	famfs_roster_clear(pool, &rec_ops);
	assert_memory_equal(ev.kind, "FFW", 3);
	assert_int_equal(ev.addr[0], (uintptr_t)entry(0, 0));
	assert_int_equal(ev.addr[1], (uintptr_t)entry(1, 0));
	assert_int_equal(ev.len[0], FAMFS_ROSTER_ENTRIES * FAMFS_ROSTER_ENTRY_SIZE);
	famfs_roster_free(r);
	r = load();
	assert_int_equal(famfs_roster_find(r, "gone"), -ENOENT);
	famfs_roster_free(r);
}

static void test_may_write_refused(void **state)
{
	struct famfs_roster *r = load(), *r2;

	(void)state;
	assert_int_equal(put(r, "x", FAMFS_ROSTER_LIVE), 0);
	/* Refused before R-W1: nothing at all changes. */
	gate_calls = 0;
	gate_refuse_at = 1;
	assert_int_equal(famfs_roster_put(r, pool, none(), "x", "h",
					  FAMFS_ROSTER_EVICTED, 9, 9, gate, NULL),
			 -ESHUTDOWN);
	assert_int_equal(famfs_roster_get(r, 0)->state, FAMFS_ROSTER_LIVE);
	r2 = load();
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_OK);
	assert_int_equal(famfs_roster_get(r2, 0)->state, FAMFS_ROSTER_LIVE);
	famfs_roster_free(r2);
	/* Refused before R-W2: copy 0 is new, the image is not. */
	gate_calls = 0;
	gate_refuse_at = 2;
	assert_int_equal(famfs_roster_put(r, pool, none(), "x", "h",
					  FAMFS_ROSTER_EVICTED, 9, 9, gate, NULL),
			 -ESHUTDOWN);
	assert_int_equal(famfs_roster_get(r, 0)->state, FAMFS_ROSTER_LIVE);
	/* A reader takes copy 0 (written first: the newer) and mends copy 1. */
	r2 = load();
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_MEND);
	assert_int_equal(famfs_roster_get(r2, 0)->state, FAMFS_ROSTER_EVICTED);
	assert_int_equal(famfs_roster_mend(r2, pool, none(), NULL, NULL), 1);
	assert_memory_equal(entry(0, 0), entry(1, 0), FAMFS_ROSTER_ENTRY_SIZE);
	famfs_roster_free(r2);
	r2 = load();
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_OK);
	famfs_roster_free(r2);
	famfs_roster_free(r);
	memset(pool, 0, POOL_BYTES);
}

/* A store torn inside R-W1 or R-W2: half the entry's bytes are new. */
static void tear(unsigned int copy, unsigned int i, const uint8_t *new_bytes)
{
	memcpy(entry(copy, i), new_bytes, FAMFS_ROSTER_ENTRY_SIZE / 2);
}

static void test_torn_writes(void **state)
{
	uint8_t newer[FAMFS_ROSTER_ENTRY_SIZE];
	struct famfs_roster *r = load(), *r2;

	(void)state;
	/* Index 0: "old" live; then its eviction is torn inside R-W1. */
	assert_int_equal(put(r, "old", FAMFS_ROSTER_LIVE), 0);
	memcpy(newer, entry(0, 0), sizeof(newer));
	newer[offsetof(struct famfs_roster_entry, state)] = FAMFS_ROSTER_EVICTED;
	tear(0, 0, newer);
	/* Index 1: written, then R-W2 of an update torn. */
	assert_int_equal(put(r, "two", FAMFS_ROSTER_LIVE), 1);
	memset(entry(1, 1) + 100, 0x5a, 20);
	/* Index 2: a first write torn inside R-W1: never acknowledged. */
	memcpy(newer, entry(0, 0), sizeof(newer));
	newer[offsetof(struct famfs_roster_entry, index)] = 2;
	tear(0, 2, newer);
	r2 = load();
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_MEND);
	assert_int_equal(famfs_roster_get(r2, 0)->state, FAMFS_ROSTER_LIVE);
	assert_int_equal(famfs_roster_health(r2, 1), FAMFS_ROSTER_H_MEND);
	assert_string_equal(famfs_roster_get(r2, 1)->id, "two");
	assert_int_equal(famfs_roster_health(r2, 2), FAMFS_ROSTER_H_EMPTY);
	assert_int_equal(famfs_roster_to_mend(r2), 2);
	assert_int_equal(famfs_roster_mend(r2, pool, none(), NULL, NULL), 2);
	famfs_roster_free(r2);
	r2 = load();
	assert_int_equal(famfs_roster_to_mend(r2), 0);
	assert_int_equal(famfs_roster_find(r2, "old"), 0);
	/* The half-written index 2 is taken by the next new agent. */
	assert_int_equal(put(r2, "next", FAMFS_ROSTER_LIVE), 2);
	famfs_roster_free(r2);
	famfs_roster_free(r);
	memset(pool, 0, POOL_BYTES);
}

static void test_both_copies_bad_is_lost(void **state)
{
	struct famfs_roster *r = load(), *r2;
	struct famfs_roster_info got;

	(void)state;
	assert_int_equal(put(r, "held", FAMFS_ROSTER_LIVE), 0);
	/* Every single bit flip of either copy is caught, and mended. */
	for (unsigned int c = 0; c < 2; c++)
		for (size_t b = 0; b < FAMFS_ROSTER_ENTRY_SIZE; b++) {
			entry(c, 0)[b] ^= 0x10;
			assert_int_equal(famfs_roster_read_entry(pool, none(), c,
								 0, &got),
					 -EUCLEAN);
			r2 = load();
			assert_int_equal(famfs_roster_health(r2, 0),
					 FAMFS_ROSTER_H_MEND);
			assert_string_equal(famfs_roster_get(r2, 0)->id, "held");
			famfs_roster_free(r2);
			entry(c, 0)[b] ^= 0x10;
		}
	entry(0, 0)[40] ^= 1;
	entry(1, 0)[41] ^= 1;
	r2 = load();
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_LOST);
	assert_null(famfs_roster_get(r2, 0));
	assert_int_equal(famfs_roster_find(r2, "held"), -ENOENT);
	/* A lost index is never handed to someone else. */
	assert_int_equal(put(r2, "other", FAMFS_ROSTER_LIVE), 1);
	/* Until an admin's eviction writes it whole again. */
	assert_int_equal(famfs_roster_set(r2, pool, none(), 0, "roster-lost-0",
					  NULL, FAMFS_ROSTER_EVICTED, 1, 1,
					  NULL, NULL), 0);
	assert_int_equal(famfs_roster_health(r2, 0), FAMFS_ROSTER_H_OK);
	assert_int_equal(famfs_roster_get(r2, 0)->state, FAMFS_ROSTER_EVICTED);
	assert_string_equal(famfs_roster_get(r2, 0)->id, "roster-lost-0");
	famfs_roster_free(r2);
	famfs_roster_free(r);
	memset(pool, 0, POOL_BYTES);
}

/* Valid CRC over bytes that say nonsense: refused all the same. */
static void forge(unsigned int copy, unsigned int i,
		  void (*spoil)(struct famfs_roster_entry *))
{
	struct famfs_roster_entry *e = (void *)entry(copy, i);

	spoil(e);
	e->crc = htole32(famfs_crc_struct(e, sizeof(*e)));
}

static void spoil_index(struct famfs_roster_entry *e) { e->index = htole32(9); }
static void spoil_state(struct famfs_roster_entry *e) { e->state = htole32(7); }
static void spoil_magic(struct famfs_roster_entry *e) { e->magic ^= 1; }
static void spoil_id_nul(struct famfs_roster_entry *e)
{
	memset(e->id, 'a', sizeof(e->id));	/* no NUL: 128 bytes is fine */
}
static void spoil_id_char(struct famfs_roster_entry *e) { e->id[0] = '/'; }
static void spoil_id_empty(struct famfs_roster_entry *e) { e->id[0] = 0; }

static void test_garbage(void **state)
{
	void (*spoil[])(struct famfs_roster_entry *) = {
		spoil_index, spoil_state, spoil_magic, spoil_id_char,
		spoil_id_empty,
	};
	struct famfs_roster_info got;
	struct famfs_roster *r = load(), *r2;

	(void)state;
	for (size_t k = 0; k < sizeof(spoil) / sizeof(spoil[0]); k++) {
		memset(pool, 0, POOL_BYTES);
		assert_int_equal(put(r, "g", FAMFS_ROSTER_LIVE), 0);
		forge(0, 0, spoil[k]);
		assert_int_equal(famfs_roster_read_entry(pool, none(), 0, 0, &got),
				 -EUCLEAN);
	}
	memset(pool, 0, POOL_BYTES);
	famfs_roster_free(r);
	r = load();
	assert_int_equal(put(r, "g", FAMFS_ROSTER_LIVE), 0);
	forge(0, 0, spoil_id_nul);
	assert_int_equal(famfs_roster_read_entry(pool, none(), 0, 0, &got), 0);
	assert_int_equal(strlen(got.id), FAMFS_AGENT_ID_MAX);
	famfs_roster_free(r);

	/* Random bytes everywhere: every index lost, nothing crashes. */
	srand(15);
	for (size_t i = 0; i < POOL_BYTES; i++)
		pool[i] = (uint8_t)rand();
	r2 = load();
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
		assert_int_equal(famfs_roster_health(r2, i), FAMFS_ROSTER_H_LOST);
	assert_int_equal(put(r2, "new", FAMFS_ROSTER_LIVE), -ENOSPC);
	famfs_roster_free(r2);
	memset(pool, 0, POOL_BYTES);
}

static void test_full(void **state)
{
	struct famfs_roster *r = load(), *r2;
	char id[32];

	(void)state;
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		snprintf(id, sizeof(id), "agent-%u", i);
		assert_int_equal(put(r, id, FAMFS_ROSTER_LIVE), (int)i);
	}
	/* The 257th is refused, and nothing was overwritten for it. */
	assert_int_equal(put(r, "agent-256", FAMFS_ROSTER_LIVE), -ENOSPC);
	/* Those in it are updated in place as before. */
	assert_int_equal(put(r, "agent-17", FAMFS_ROSTER_EVICTED), 17);
	/* An evicted agent's index goes to a new one. */
	assert_int_equal(put(r, "agent-256", FAMFS_ROSTER_LIVE), 17);
	assert_int_equal(put(r, "agent-257", FAMFS_ROSTER_LIVE), -ENOSPC);
	r2 = load();
	assert_int_equal(famfs_roster_find(r2, "agent-17"), -ENOENT);
	assert_int_equal(famfs_roster_find(r2, "agent-256"), 17);
	assert_int_equal(famfs_roster_find(r2, "agent-255"), 255);
	famfs_roster_free(r2);
	famfs_roster_free(r);
	memset(pool, 0, POOL_BYTES);
}

static void test_fits(void **state)
{
	(void)state;
	assert_true(famfs_roster_fits(FAMFS_META_ALIGN));
	assert_false(famfs_roster_fits(16384));
	assert_false(famfs_roster_fits(FAMFS_ROSTER_COPY1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty_and_round_trip, clear),
		cmocka_unit_test_setup(test_write_steps_flush_and_fence, clear),
		cmocka_unit_test_setup(test_mkfs_clear, clear),
		cmocka_unit_test_setup(test_may_write_refused, clear),
		cmocka_unit_test_setup(test_torn_writes, clear),
		cmocka_unit_test_setup(test_both_copies_bad_is_lost, clear),
		cmocka_unit_test_setup(test_garbage, clear),
		cmocka_unit_test_setup(test_full, clear),
		cmocka_unit_test_setup(test_fits, clear),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
