// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Superblock: geometry planning, every decode check, and the two-copy
 * load: a torn copy A or B is recovered from the other, both bad is
 * -EUCLEAN, no magic at all is -ENODEV. Also the write order that keeps
 * one copy whole at every instant.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "crc.h"
#include "log.h"
#include "super.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define DEV (8 * MiB)		/* the small test pool */

static const struct famfs_cache_ops *none(void)
{
	return famfs_cache_ops_get(FAMFS_COH_NONE);
}

static void test_plan_defaults(void **state)
{
	struct famfs_pool_info in;

	(void)state;
	assert_int_equal(famfs_sb_plan(64 * GiB, 0, 0, &in, NULL), 0);
	assert_int_equal(in.version, FAMFS_FORMAT_VERSION);
	assert_int_equal(in.alloc_unit, FAMFS_DEFAULT_ALLOC_UNIT);
	assert_int_equal(in.log_size, FAMFS_DEFAULT_LOG_SIZE);
	assert_int_equal(in.log_offset, FAMFS_META_ALIGN);
	assert_int_equal(in.data_offset, 66 * MiB);
	assert_int_equal(in.device_size, 64 * GiB);
	assert_int_equal(in.log_generation, 1);
	assert_int_equal(in.sb_seq, 1);
	/* A big unit aligns the data area to itself. */
	assert_int_equal(famfs_sb_plan(64 * GiB, GiB, 0, &in, NULL), 0);
	assert_int_equal(in.data_offset, GiB);
	/* A small unit and log: data at the next 2 MiB boundary after it. */
	assert_int_equal(famfs_sb_plan(64 * MiB, 4096, MiB, &in, NULL), 0);
	assert_int_equal(in.data_offset, 4 * MiB);
	assert_int_equal(famfs_sb_plan(64 * MiB, 4096, 3 * MiB, &in, NULL), 0);
	assert_int_equal(in.data_offset, 6 * MiB);
}

static void test_plan_refusals(void **state)
{
	struct famfs_pool_info in;
	uint64_t min = 0;

	(void)state;
	assert_int_equal(famfs_sb_plan(GiB, 3000, 0, &in, NULL), -EINVAL);
	assert_int_equal(famfs_sb_plan(GiB, 2048, 0, &in, NULL), -EINVAL);
	assert_int_equal(famfs_sb_plan(GiB, 2 * GiB, 0, &in, NULL), -EINVAL);
	assert_int_equal(famfs_sb_plan(GiB, 0, MiB - 64, &in, NULL), -EINVAL);
	assert_int_equal(famfs_sb_plan(GiB, 0, MiB + 1, &in, NULL), -EINVAL);
	/* The log is four areas of whole pages: 16 KiB multiples only. */
	assert_int_equal(famfs_sb_plan(GiB, 0, MiB + 4096, &in, NULL), -EINVAL);
	assert_int_equal(famfs_sb_plan(GiB, 0, MiB + 12288, &in, NULL), -EINVAL);
	assert_int_equal(famfs_sb_plan(GiB, 0, MiB + 16384, &in, NULL), 0);
	assert_int_equal(famfs_log_area_size(in.log_size), (MiB + 16384) / 4);
	assert_int_equal(famfs_sb_plan(UINT64_MAX, 0, (1ull << 40) + 64, &in,
				       NULL), -EINVAL);
	/* Too small: the minimum is reported, and it is exact. */
	assert_int_equal(famfs_sb_plan(4 * MiB, 4096, MiB, &in, &min), -ENOSPC);
	assert_int_equal(min, 4 * MiB + 4096);
	assert_int_equal(famfs_sb_plan(min, 4096, MiB, &in, NULL), 0);
	assert_int_equal(famfs_sb_plan(min - 1, 4096, MiB, &in, &min), -ENOSPC);
	assert_int_equal(famfs_sb_plan(0, 0, 0, &in, &min), -ENOSPC);
	assert_int_equal(min, 66 * MiB + 2 * MiB);
}

static void plan_small(struct famfs_pool_info *in)
{
	assert_int_equal(famfs_sb_plan(DEV, 4096, MiB, in, NULL), 0);
	for (int i = 0; i < 16; i++) {
		in->pool_uuid[i] = (uint8_t)i;
		in->device_uuid[i] = (uint8_t)(255 - i);
	}
	in->flags = FAMFS_SB_F_COHERENT;
	in->created_ns = 123456789;
}

static void test_encode_decode_round_trip(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb sb;
	const char *why = "unset";

	(void)state;
	plan_small(&in);
	famfs_sb_encode(&in, &sb);
	assert_int_equal(le64toh(sb.magic), FAMFS_SB_MAGIC);
	assert_memory_equal(&sb, "FAMFSD01", 8);
	assert_int_equal(famfs_sb_decode(&sb, DEV, &out, &why), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* A larger device is fine (the pool need not span all of it). */
	assert_int_equal(famfs_sb_decode(&sb, 2 * DEV, &out, &why), 0);
}

/* Every single-bit flip in the encoded copy is refused. */
static void test_decode_detects_every_bit_flip(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb sb;
	const char *why;

	(void)state;
	plan_small(&in);
	famfs_sb_encode(&in, &sb);
	for (size_t bit = 0; bit < sizeof(sb) * 8; bit++) {
		((uint8_t *)&sb)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		why = NULL;
		assert_int_equal(famfs_sb_decode(&sb, DEV, &out, &why), -EUCLEAN);
		assert_non_null(why);
		((uint8_t *)&sb)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* Encodes a modified geometry (valid CRC) and expects the named refusal. */
static void bad_geometry(const struct famfs_pool_info *in, uint64_t dev,
			 const char *want)
{
	struct famfs_pool_info out;
	struct famfs_sb sb;
	const char *why = NULL;

	famfs_sb_encode(in, &sb);
	assert_int_equal(famfs_sb_decode(&sb, dev, &out, &why), -EUCLEAN);
	assert_non_null(why);
	if (!strstr(why, want))
		fail_msg("reason '%s' does not mention '%s'", why, want);
}

static void test_decode_geometry_checks(void **state)
{
	struct famfs_pool_info in, g;
	struct famfs_sb sb;
	const char *why = NULL;

	(void)state;
	plan_small(&in);
	famfs_sb_encode(&in, &sb);
	sb.magic ^= 1;
	assert_int_equal(famfs_sb_decode(&sb, DEV, &g, &why), -EUCLEAN);
	assert_string_equal(why, "bad magic");
	sb.magic ^= 1;
	sb.data_offset ^= htole64(4096);
	assert_int_equal(famfs_sb_decode(&sb, DEV, &g, &why), -EUCLEAN);
	assert_string_equal(why, "CRC mismatch (torn or corrupt)");

	/* Format 1 (one copy of the log, no checkpoints) is not read as 2. */
	g = in; g.version = FAMFS_FORMAT_VERSION - 1;
	bad_geometry(&g, DEV, "version");
	g = in; g.version = FAMFS_FORMAT_VERSION + 1;
	bad_geometry(&g, DEV, "version");
	g = in; g.alloc_unit = 3 * 4096;
	bad_geometry(&g, DEV, "allocation unit");
	g = in; g.alloc_unit = 2048;
	bad_geometry(&g, DEV, "allocation unit");
	g = in; g.alloc_unit = 2 * GiB;
	bad_geometry(&g, DEV, "allocation unit");
	g = in;
	bad_geometry(&g, DEV - 4096, "truncated");
	g = in; g.log_offset = 8192;
	bad_geometry(&g, DEV, "log offset");
	g = in; g.log_offset += 8;
	bad_geometry(&g, DEV, "log offset");
	g = in; g.log_size = MiB / 2;
	bad_geometry(&g, DEV, "log region");
	g = in; g.log_size += 32;
	bad_geometry(&g, DEV, "log region");
	/* Four areas of whole 4 KiB pages: a multiple of 16 KiB. */
	g = in; g.log_size += 4096;
	bad_geometry(&g, DEV, "log region");
	g = in; g.log_size += 8192;
	bad_geometry(&g, DEV, "log region");
	g = in; g.log_size = DEV;
	bad_geometry(&g, DEV, "log region");
	g = in; g.log_offset = DEV - MiB + 64;
	bad_geometry(&g, DEV, "log region");
	g = in; g.log_offset = UINT64_MAX - 63;	/* offset + size wraps */
	bad_geometry(&g, DEV, "log region");
	g = in; g.data_offset = 3 * MiB - 4096;
	bad_geometry(&g, DEV, "data offset");
	g = in; g.data_offset += 512;
	bad_geometry(&g, DEV, "data offset");
	g = in; g.data_offset = DEV;
	bad_geometry(&g, DEV, "data offset");
	g = in; g.log_generation = 0;
	bad_geometry(&g, DEV, "generation");
}

/* A pool-sized buffer with both copies written. */
static uint8_t *pool_with_sb(struct famfs_pool_info *in)
{
	uint8_t *base = aligned_alloc(4096, DEV);

	assert_non_null(base);
	memset(base, 0, DEV);
	plan_small(in);
	famfs_sb_write(base, in, none());
	return base;
}

static void test_load_both_good(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb_status st;
	uint8_t *base = pool_with_sb(&in);

	(void)state;
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_null(st.reason[0]);
	assert_null(st.reason[1]);
	assert_int_equal(st.used, 0);
	/* The status is optional. */
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, NULL), 0);
	free(base);
}

static void test_load_torn_copy_recovered(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb_status st;
	uint8_t *base = pool_with_sb(&in);
	struct famfs_pool_info newer = in;
	struct famfs_sb half;

	(void)state;
	/* Copy A torn: the first half of a newer copy landed, not the rest. */
	newer.sb_seq = 2;
	newer.log_generation = 2;
	famfs_sb_encode(&newer, &half);
	memcpy(base + FAMFS_SB_A_OFFSET + 64, (uint8_t *)&half + 64, 32);
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), 0);
	assert_int_equal(st.used, 1);
	assert_non_null(st.reason[0]);
	assert_string_equal(st.reason[0], "CRC mismatch (torn or corrupt)");
	assert_null(st.reason[1]);
	assert_memory_equal(&in, &out, sizeof(in));

	/* Repaired by rewriting both, then copy B torn instead. */
	famfs_sb_write(base, &in, none());
	base[FAMFS_SB_B_OFFSET + 100] ^= 0x40;
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), 0);
	assert_int_equal(st.used, 0);
	assert_null(st.reason[0]);
	assert_non_null(st.reason[1]);
	assert_memory_equal(&in, &out, sizeof(in));

	/* Copy A zeroed entirely (a crash right after mkfs cleared it). */
	famfs_sb_write(base, &in, none());
	memset(base + FAMFS_SB_A_OFFSET, 0, FAMFS_SB_SLOT);
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), 0);
	assert_int_equal(st.used, 1);
	assert_string_equal(st.reason[0], "bad magic");
	assert_memory_equal(&in, &out, sizeof(in));
	free(base);
}

static void test_load_prefers_higher_seq(void **state)
{
	struct famfs_pool_info in, out, newer;
	struct famfs_sb_status st;
	uint8_t *base = pool_with_sb(&in);
	struct famfs_sb sb;

	(void)state;
	newer = in;
	newer.sb_seq = 2;
	newer.log_generation = 5;
	famfs_sb_encode(&newer, &sb);
	memcpy(base + FAMFS_SB_B_OFFSET, &sb, sizeof(sb));	/* B is newer */
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), 0);
	assert_int_equal(st.used, 1);
	assert_int_equal(out.log_generation, 5);
	newer.sb_seq = 3;
	newer.log_generation = 6;
	famfs_sb_encode(&newer, &sb);
	memcpy(base + FAMFS_SB_A_OFFSET, &sb, sizeof(sb));	/* now A is */
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), 0);
	assert_int_equal(st.used, 0);
	assert_int_equal(out.log_generation, 6);
	free(base);
}

static void test_load_both_bad_or_absent(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb_status st;
	uint8_t *base = pool_with_sb(&in);

	(void)state;
	base[FAMFS_SB_A_OFFSET + 20] ^= 1;
	base[FAMFS_SB_B_OFFSET + 150] ^= 1;
	memset(&out, 0xab, sizeof(out));
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), -EUCLEAN);
	assert_non_null(st.reason[0]);
	assert_non_null(st.reason[1]);
	assert_int_equal(st.used, -1);
	assert_int_equal(out.version, 0xabababab);	/* untouched on failure */

	/* One copy has the magic, the other is gone: still "corrupt". */
	memset(base + FAMFS_SB_B_OFFSET, 0, FAMFS_SB_SLOT);
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), -EUCLEAN);

	/* A device larger than the pool's claim but truncated below it. */
	famfs_sb_write(base, &in, none());
	assert_int_equal(famfs_sb_load(base, DEV / 2, none(), &out, &st), -EUCLEAN);
	assert_non_null(strstr(st.reason[0], "truncated"));
	assert_non_null(strstr(st.reason[1], "truncated"));

	/* No magic anywhere: not a pool at all. */
	memset(base, 0, 3 * FAMFS_SB_SLOT);
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), -ENODEV);
	assert_string_equal(st.reason[0], "bad magic");
	assert_string_equal(st.reason[1], "bad magic");
	memset(base, 0x5a, 3 * FAMFS_SB_SLOT);
	assert_int_equal(famfs_sb_load(base, DEV, none(), &out, &st), -ENODEV);
	free(base);
}

/* Too small to hold copy B: no pool, and the status still says why. */
static void test_load_tiny_device(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb_status st;
	uint8_t *base = pool_with_sb(&in);
	static const uint64_t sizes[] = {
		0, 1, 159, 160, FAMFS_SB_B_OFFSET,
		FAMFS_SB_B_OFFSET + sizeof(struct famfs_sb) - 1,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(&st, 0, sizeof(st));
		assert_int_equal(famfs_sb_load(base, sizes[i], none(), &out, &st),
				 -ENODEV);
		assert_non_null(st.reason[0]);
		assert_non_null(st.reason[1]);
		assert_int_equal(st.used, -1);
	}
	free(base);
}

/*
 * The write order: copy A complete and flushed, fence, and only then
 * copy B, so a crash at any instant leaves one whole copy.
 */
static struct {
	const uint8_t *base;
	int n;
	struct {
		char kind;
		uintptr_t addr;
		size_t len;
		struct famfs_sb a, b;	/* both copies at the time of the call */
	} ev[16];
} rec;

static void snap(char kind, const void *addr, size_t len)
{
	assert_true(rec.n < 16);
	rec.ev[rec.n].kind = kind;
	rec.ev[rec.n].addr = (uintptr_t)addr;
	rec.ev[rec.n].len = len;
	memcpy(&rec.ev[rec.n].a, rec.base + FAMFS_SB_A_OFFSET,
	       sizeof(struct famfs_sb));
	memcpy(&rec.ev[rec.n].b, rec.base + FAMFS_SB_B_OFFSET,
	       sizeof(struct famfs_sb));
	rec.n++;
}

static void rec_flush(const void *addr, size_t len) { snap('F', addr, len); }
static void rec_inval(const void *addr, size_t len) { snap('I', addr, len); }
static void rec_wfence(void) { snap('W', NULL, 0); }
static void rec_rfence(void) { snap('R', NULL, 0); }

static const struct famfs_cache_ops rec_ops = {
	.name = "record", .flush = rec_flush, .invalidate = rec_inval,
	.wfence = rec_wfence, .rfence = rec_rfence,
};

static void test_write_order_and_load_invalidates(void **state)
{
	struct famfs_pool_info in, out;
	uint8_t *base = pool_with_sb(&in);
	struct famfs_sb sb, old;

	(void)state;
	rec.base = base;
	rec.n = 0;
	memcpy(&old, base + FAMFS_SB_B_OFFSET, sizeof(old));
	in.sb_seq = 9;
	famfs_sb_encode(&in, &sb);
	assert_memory_not_equal(&sb, &old, sizeof(sb));

	famfs_sb_write(base, &in, &rec_ops);
	assert_int_equal(rec.n, 4);
	/* flush A (A new, B old), fence, flush B (both new), fence */
	assert_int_equal(rec.ev[0].kind, 'F');
	assert_int_equal(rec.ev[0].addr, (uintptr_t)base + FAMFS_SB_A_OFFSET);
	assert_true(rec.ev[0].len >= sizeof(sb));
	assert_memory_equal(&rec.ev[0].a, &sb, sizeof(sb));
	assert_memory_equal(&rec.ev[0].b, &old, sizeof(sb));
	assert_int_equal(rec.ev[1].kind, 'W');
	assert_memory_equal(&rec.ev[1].b, &old, sizeof(sb));
	assert_int_equal(rec.ev[2].kind, 'F');
	assert_int_equal(rec.ev[2].addr, (uintptr_t)base + FAMFS_SB_B_OFFSET);
	assert_true(rec.ev[2].len >= sizeof(sb));
	assert_memory_equal(&rec.ev[2].b, &sb, sizeof(sb));
	assert_int_equal(rec.ev[3].kind, 'W');

	/* Load: each copy is invalidated, then fenced, before it is read. */
	rec.n = 0;
	assert_int_equal(famfs_sb_load(base, DEV, &rec_ops, &out, NULL), 0);
	assert_int_equal(out.sb_seq, 9);
	int seen_a = 0, seen_b = 0;

	for (int i = 0; i < rec.n; i++) {
		if (rec.ev[i].kind != 'I')
			continue;
		assert_true(i + 1 < rec.n && rec.ev[i + 1].kind == 'R');
		if (rec.ev[i].addr <= (uintptr_t)base &&
		    rec.ev[i].addr + rec.ev[i].len >= (uintptr_t)base + sizeof(sb))
			seen_a = 1;
		if (rec.ev[i].addr <= (uintptr_t)base + FAMFS_SB_B_OFFSET &&
		    rec.ev[i].addr + rec.ev[i].len >=
		    (uintptr_t)base + FAMFS_SB_B_OFFSET + sizeof(sb))
			seen_b = 1;
	}
	assert_true(seen_a && seen_b);
	free(base);
}

/* A pool as mkfs plans it, with a fixed identity. */
static void planned(struct famfs_pool_info *in, uint64_t log_size)
{
	assert_int_equal(famfs_sb_plan(64 * MiB, 0, log_size, in, NULL), 0);
	memset(in->pool_uuid, 0x11, 16);
	in->created_ns = 1000;
}

static void test_compare_same_and_sequence(void **state)
{
	struct famfs_pool_info a, b;

	(void)state;
	planned(&a, MiB);
	b = a;
	assert_int_equal(famfs_sb_compare(&a, &b, FAMFS_SB_CMP_GENERATION),
			 FAMFS_SB_SAME);
	/* sb_seq moves with every rewrite of the same pool: never a change. */
	b.sb_seq += 7;
	assert_int_equal(famfs_sb_compare(&a, &b, FAMFS_SB_CMP_GENERATION),
			 FAMFS_SB_SAME);
}

/* Each field alone is found, and named; the first in order wins. */
static void test_compare_each_field(void **state)
{
	struct famfs_pool_info a, b;
	char line[160];

	(void)state;
	planned(&a, MiB);
#define CHANGED(field, stmt, name) do {					\
		b = a;							\
		stmt;							\
		assert_int_equal(famfs_sb_compare(&a, &b, 0), field);	\
		assert_string_equal(famfs_sb_field_name(field), name);	\
	} while (0)
	CHANGED(FAMFS_SB_POOL_UUID, b.pool_uuid[15] ^= 1, "pool UUID");
	CHANGED(FAMFS_SB_CREATED, b.created_ns++, "creation time");
	CHANGED(FAMFS_SB_VERSION, b.version++, "format version");
	CHANGED(FAMFS_SB_DEVICE_UUID, b.device_uuid[0] = 1, "device UUID");
	CHANGED(FAMFS_SB_DEVICE_SIZE, b.device_size += MiB, "pool size");
	CHANGED(FAMFS_SB_ALLOC_UNIT, b.alloc_unit = 4096, "allocation unit");
	CHANGED(FAMFS_SB_LOG_OFFSET, b.log_offset += 4096, "log offset");
	CHANGED(FAMFS_SB_LOG_SIZE, b.log_size = 16 * MiB, "log size");
	CHANGED(FAMFS_SB_DATA_OFFSET, b.data_offset += 2 * MiB, "data offset");
	CHANGED(FAMFS_SB_FLAGS, b.flags = FAMFS_SB_F_COHERENT, "flags");
#undef CHANGED
	/* A reformat changes several: the UUID is named first. */
	planned(&b, 16 * MiB);
	memset(b.pool_uuid, 0x22, 16);
	assert_int_equal(famfs_sb_compare(&a, &b, 0), FAMFS_SB_POOL_UUID);
	famfs_sb_describe(FAMFS_SB_POOL_UUID, &a, &b, line, sizeof(line));
	assert_string_equal(line, "pool UUID 11111111-1111-1111-1111-111111111111"
			    " -> 22222222-2222-2222-2222-222222222222");
	/* The geometry alone, same identity: a different log size. */
	planned(&b, 16 * MiB);
	assert_int_equal(famfs_sb_compare(&a, &b, 0), FAMFS_SB_LOG_SIZE);
	famfs_sb_describe(FAMFS_SB_LOG_SIZE, &a, &b, line, sizeof(line));
	assert_string_equal(line, "log size 1048576 -> 16777216");
	/* A tiny buffer is cut, still terminated. */
	famfs_sb_describe(FAMFS_SB_LOG_SIZE, &a, &b, line, 5);
	assert_string_equal(line, "log ");
}

/*
 * The generation: the master (who alone advances it) wants it equal;
 * readers follow compactions forward and hear only of one going back.
 */
static void test_compare_generation(void **state)
{
	struct famfs_pool_info a, b;
	char line[80];

	(void)state;
	planned(&a, MiB);
	a.log_generation = 5;
	b = a;
	b.log_generation = 6;
	assert_int_equal(famfs_sb_compare(&a, &b, 0), FAMFS_SB_SAME);
	assert_int_equal(famfs_sb_compare(&a, &b, FAMFS_SB_CMP_GENERATION),
			 FAMFS_SB_GENERATION);
	b.log_generation = 4;
	assert_int_equal(famfs_sb_compare(&a, &b, 0), FAMFS_SB_GENERATION);
	famfs_sb_describe(FAMFS_SB_GENERATION, &a, &b, line, sizeof(line));
	assert_string_equal(line, "log generation 5 -> 4");
}

/* What a reader loads after a rewrite with another UUID is told apart. */
static void test_compare_after_rewrite(void **state)
{
	const struct famfs_cache_ops *ops = none();
	uint8_t *base = calloc(1, DEV);
	struct famfs_pool_info a, b, got;
	struct famfs_sb_status st;

	(void)state;
	assert_non_null(base);
	assert_int_equal(famfs_sb_plan(DEV, 0, MiB, &a, NULL), 0);
	memset(a.pool_uuid, 0x33, 16);
	famfs_sb_write(base, &a, ops);
	assert_int_equal(famfs_sb_load(base, DEV, ops, &got, &st), 0);
	assert_int_equal(famfs_sb_compare(&a, &got, FAMFS_SB_CMP_GENERATION),
			 FAMFS_SB_SAME);
	b = a;
	b.pool_uuid[3] = 0x44;
	famfs_sb_write(base, &b, ops);
	assert_int_equal(famfs_sb_load(base, DEV, ops, &got, &st), 0);
	assert_int_equal(famfs_sb_compare(&a, &got, FAMFS_SB_CMP_GENERATION),
			 FAMFS_SB_POOL_UUID);
	free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_defaults),
		cmocka_unit_test(test_plan_refusals),
		cmocka_unit_test(test_encode_decode_round_trip),
		cmocka_unit_test(test_decode_detects_every_bit_flip),
		cmocka_unit_test(test_decode_geometry_checks),
		cmocka_unit_test(test_load_both_good),
		cmocka_unit_test(test_load_torn_copy_recovered),
		cmocka_unit_test(test_load_prefers_higher_seq),
		cmocka_unit_test(test_load_both_bad_or_absent),
		cmocka_unit_test(test_load_tiny_device),
		cmocka_unit_test(test_write_order_and_load_invalidates),
		cmocka_unit_test(test_compare_same_and_sequence),
		cmocka_unit_test(test_compare_each_field),
		cmocka_unit_test(test_compare_generation),
		cmocka_unit_test(test_compare_after_rewrite),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
