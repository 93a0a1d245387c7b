// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Record payloads: build/decode round trips for every type, the builders'
 * limits, and the decoder's refusal of every length that does not add up.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"
#include "record.h"

/* A framed record in an 8-byte aligned buffer, as the log would hold it. */
static union {
	struct famfs_rec_hdr h;
	uint8_t b[FAMFS_REC_MAX_SIZE + 64];
	uint64_t align;
} frame;

/* Frames payload[0..n) plus pad extra bytes (zeroed) behind a header. */
static const struct famfs_rec_hdr *framed(uint16_t type, const void *payload,
					  size_t n, size_t pad)
{
	memset(&frame, 0, sizeof(frame));
	frame.h.type = htole16(type);
	frame.h.len = htole32((uint32_t)(sizeof(frame.h) + n + pad));
	frame.h.seq = htole64(42);
	frame.h.epoch = htole64(7);
	memcpy(frame.b + sizeof(frame.h), payload, n);
	return &frame.h;
}

/* Builds r, frames it with its 8-byte padding, decodes it into out. */
static void round_trip(const struct famfs_rec *r, struct famfs_rec *out)
{
	static uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	const char *why = NULL;
	int n = famfs_rec_build(r, buf, sizeof(buf));

	assert_true(n > 0);
	size_t pad = famfs_rec_size((uint32_t)n) - sizeof(struct famfs_rec_hdr) -
		     (size_t)n;

	assert_int_equal(famfs_rec_decode(framed(r->type, buf, (size_t)n, pad),
					  out, &why), 0);
	assert_int_equal(out->type, r->type);
	assert_int_equal(out->seq, 42);
	assert_int_equal(out->epoch, 7);
}

static void test_mkdir_round_trip(void **state)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_MKDIR, .ino = 0x1122334455667788ull,
		.parent = 1, .mtime_ns = 1700000000123456789ull, .mode = 0750,
		.uid = 1000, .gid = 0xfffffffeu, .name = "dir\xc3\xa9",
		.name_len = 5,
	}, d;

	(void)state;
	round_trip(&r, &d);
	assert_int_equal(d.ino, r.ino);
	assert_int_equal(d.parent, 1);
	assert_int_equal(d.mtime_ns, r.mtime_ns);
	assert_int_equal(d.mode, 0750);
	assert_int_equal(d.uid, 1000);
	assert_int_equal(d.gid, 0xfffffffeu);
	assert_int_equal(d.name_len, 5);
	assert_memory_equal(d.name, "dir\xc3\xa9", 5);
	/* The decoded name points into the record, after the fixed part. */
	assert_ptr_equal(d.name, (const char *)frame.b + sizeof(frame.h) +
			 sizeof(struct famfs_rec_mkdir));
}

static void test_create_round_trip(void **state)
{
	static struct famfs_extent ext[FAMFS_MAX_EXTENTS];
	char name[FAMFS_NAME_MAX], tenant[FAMFS_TENANT_MAX];
	struct famfs_rec r = {
		.type = FAMFS_REC_CREATE, .ino = 99, .parent = 5,
		.size = 123456789, .mtime_ns = 5, .mode = 0600, .uid = 1,
		.gid = 2, .name = name, .name_len = sizeof(name),
		.tenant = tenant, .tenant_len = sizeof(tenant),
		.extents = ext, .n_extents = FAMFS_MAX_EXTENTS,
	}, d;

	(void)state;
	memset(name, 'n', sizeof(name));
	memset(tenant, 't', sizeof(tenant));
	for (uint32_t i = 0; i < FAMFS_MAX_EXTENTS; i++) {
		ext[i].offset = htole64((4ull << 20) + i * (8ull << 20));
		ext[i].len = htole64((i + 1) * 4096ull);
	}
	/* The largest create there is: every limit at once. */
	round_trip(&r, &d);
	assert_int_equal(d.ino, 99);
	assert_int_equal(d.size, 123456789);
	assert_int_equal(d.n_extents, FAMFS_MAX_EXTENTS);
	for (uint32_t i = 0; i < FAMFS_MAX_EXTENTS; i++) {
		assert_int_equal(famfs_extent_offset(&d.extents[i]),
				 (4ull << 20) + i * (8ull << 20));
		assert_int_equal(famfs_extent_len(&d.extents[i]), (i + 1) * 4096ull);
	}
	assert_int_equal(d.name_len, FAMFS_NAME_MAX);
	assert_memory_equal(d.name, name, sizeof(name));
	assert_int_equal(d.tenant_len, FAMFS_TENANT_MAX);
	assert_memory_equal(d.tenant, tenant, sizeof(tenant));

	/* And the smallest: empty file, no tenant. */
	r.n_extents = 0;
	r.tenant_len = 0;
	r.name_len = 1;
	r.size = 0;
	round_trip(&r, &d);
	assert_int_equal(d.n_extents, 0);
	assert_int_equal(d.tenant_len, 0);
	assert_int_equal(d.name_len, 1);
}

static void test_delete_quota_reclaim_round_trip(void **state)
{
	struct famfs_rec del = {
		.type = FAMFS_REC_DELETE, .ino = 77, .parent = 3, .name = "gone",
		.name_len = 4,
	}, q = {
		.type = FAMFS_REC_SET_QUOTA, .tenant = "acme", .tenant_len = 4,
		.max_bytes = UINT64_MAX, .max_files = 12,
	}, rc = {
		.type = FAMFS_REC_RECLAIM, .ino = 77, .delete_seq = 1234,
	}, d;

	(void)state;
	round_trip(&del, &d);
	assert_int_equal(d.ino, 77);
	assert_int_equal(d.parent, 3);
	assert_int_equal(d.name_len, 4);
	assert_memory_equal(d.name, "gone", 4);
	round_trip(&q, &d);
	assert_int_equal(d.max_bytes, UINT64_MAX);
	assert_int_equal(d.max_files, 12);
	assert_int_equal(d.tenant_len, 4);
	assert_memory_equal(d.tenant, "acme", 4);
	round_trip(&rc, &d);
	assert_int_equal(d.ino, 77);
	assert_int_equal(d.delete_seq, 1234);
}

/* The payload is little-endian on the media whatever the host. */
static void test_payload_is_little_endian(void **state)
{
	struct famfs_rec r = {
		.type = FAMFS_REC_RECLAIM, .ino = 0x0102030405060708ull,
		.delete_seq = 0x1112131415161718ull,
	};
	static const uint8_t want[16] = {
		8, 7, 6, 5, 4, 3, 2, 1, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
	};
	uint8_t buf[64];

	(void)state;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), 16);
	assert_memory_equal(buf, want, 16);
}

static void test_builder_limits(void **state)
{
	static uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	static struct famfs_extent ext[FAMFS_MAX_EXTENTS + 1];
	char name[FAMFS_NAME_MAX + 1], tenant[FAMFS_TENANT_MAX + 1];
	struct famfs_rec r = {
		.type = FAMFS_REC_MKDIR, .ino = 2, .parent = 1, .name = name,
		.name_len = FAMFS_NAME_MAX + 1,
	};
	int n;

	(void)state;
	memset(name, 'x', sizeof(name));
	memset(tenant, 'y', sizeof(tenant));
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.type = FAMFS_REC_DELETE;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.type = FAMFS_REC_CREATE;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.name_len = 3;
	r.tenant = tenant;
	r.tenant_len = FAMFS_TENANT_MAX + 1;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.type = FAMFS_REC_SET_QUOTA;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.type = FAMFS_REC_CREATE;
	r.tenant_len = 0;
	r.extents = ext;
	r.n_extents = FAMFS_MAX_EXTENTS + 1;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.n_extents = 2;
	n = famfs_rec_build(&r, buf, sizeof(buf));
	assert_int_equal(n, (int)(sizeof(struct famfs_rec_create) +
				  2 * sizeof(struct famfs_extent) + 3));
	/* Exactly enough room works, one byte less does not. */
	assert_int_equal(famfs_rec_build(&r, buf, (size_t)n), n);
	assert_int_equal(famfs_rec_build(&r, buf, (size_t)n - 1), -EINVAL);
	assert_int_equal(famfs_rec_build(&r, buf, 0), -EINVAL);
	r.type = 0;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
	r.type = FAMFS_REC_TYPE_MAX;
	assert_int_equal(famfs_rec_build(&r, buf, sizeof(buf)), -EINVAL);
}

/* Decodes payload[0..n) (+ pad zero bytes) and expects a refusal. */
static void refused(uint16_t type, const void *payload, size_t n, size_t pad)
{
	struct famfs_rec d;
	const char *why = NULL;

	assert_int_equal(famfs_rec_decode(framed(type, payload, n, pad), &d,
					  &why), -EUCLEAN);
	assert_non_null(why);
}

static void accepted(uint16_t type, const void *payload, size_t n, size_t pad)
{
	struct famfs_rec d;
	const char *why = NULL;

	assert_int_equal(famfs_rec_decode(framed(type, payload, n, pad), &d,
					  &why), 0);
}

static void test_decode_refuses_bad_lengths(void **state)
{
	uint8_t p[1024];
	struct famfs_rec_mkdir m = { .ino = htole64(2), .name_len = htole16(4) };
	struct famfs_rec_create c = { .ino = htole64(2), .name_len = htole16(2),
				      .tenant_len = 3, .n_extents = htole32(1) };
	struct famfs_rec_delete dl = { .ino = htole64(2), .name_len = htole16(1) };
	struct famfs_rec_quota q = { .tenant_len = 4 };
	struct famfs_rec_reclaim rc = { .ino = htole64(2) };
	size_t cn = sizeof(c) + sizeof(struct famfs_extent) + 2 + 3;

	(void)state;
	memset(p, 'a', sizeof(p));
	/* mkdir: fixed part + 4 name bytes; padding up to 7 bytes is fine. */
	memcpy(p, &m, sizeof(m));
	accepted(FAMFS_REC_MKDIR, p, sizeof(m) + 4, 4);
	accepted(FAMFS_REC_MKDIR, p, sizeof(m) + 4, 7);
	refused(FAMFS_REC_MKDIR, p, sizeof(m) + 4, 8);		/* stray bytes */
	refused(FAMFS_REC_MKDIR, p, sizeof(m) + 3, 0);		/* name cut */
	refused(FAMFS_REC_MKDIR, p, sizeof(m) - 8, 0);		/* too short */
	refused(FAMFS_REC_MKDIR, p, 0, 0);
	m.name_len = htole16(0xffff);				/* runs off */
	memcpy(p, &m, sizeof(m));
	refused(FAMFS_REC_MKDIR, p, sizeof(m) + 4, 4);
	/* A name longer than 255 bytes even when the bytes are there. */
	m.name_len = htole16(FAMFS_NAME_MAX + 1);
	memcpy(p, &m, sizeof(m));
	refused(FAMFS_REC_MKDIR, p, sizeof(m) + FAMFS_NAME_MAX + 1, 0);

	/* create: fixed + 1 extent + name 2 + tenant 3. */
	memcpy(p, &c, sizeof(c));
	accepted(FAMFS_REC_CREATE, p, cn, 3);
	refused(FAMFS_REC_CREATE, p, cn - 1, 0);
	refused(FAMFS_REC_CREATE, p, cn, 8);
	refused(FAMFS_REC_CREATE, p, sizeof(c) - 1, 0);
	c.n_extents = htole32(FAMFS_MAX_EXTENTS + 1);
	memcpy(p, &c, sizeof(c));
	refused(FAMFS_REC_CREATE, p, 1000, 0);
	c.n_extents = htole32(0xffffffffu);	/* size arithmetic must not wrap */
	memcpy(p, &c, sizeof(c));
	refused(FAMFS_REC_CREATE, p, 1000, 0);
	c.n_extents = htole32(2);
	memcpy(p, &c, sizeof(c));
	refused(FAMFS_REC_CREATE, p, cn, 0);	/* one extent short */
	c.n_extents = 0;
	c.name_len = htole16(FAMFS_NAME_MAX + 1);
	c.tenant_len = 0;
	memcpy(p, &c, sizeof(c));
	refused(FAMFS_REC_CREATE, p, sizeof(c) + FAMFS_NAME_MAX + 1, 0);

	/* delete */
	memcpy(p, &dl, sizeof(dl));
	accepted(FAMFS_REC_DELETE, p, sizeof(dl) + 1, 7);
	refused(FAMFS_REC_DELETE, p, sizeof(dl), 0);
	refused(FAMFS_REC_DELETE, p, sizeof(dl) + 1, 8);
	refused(FAMFS_REC_DELETE, p, 8, 0);

	/* set_quota */
	memcpy(p, &q, sizeof(q));
	accepted(FAMFS_REC_SET_QUOTA, p, sizeof(q) + 4, 4);
	refused(FAMFS_REC_SET_QUOTA, p, sizeof(q) + 3, 0);
	refused(FAMFS_REC_SET_QUOTA, p, sizeof(q) + 4, 8);
	refused(FAMFS_REC_SET_QUOTA, p, sizeof(q) - 1, 0);

	/* reclaim */
	memcpy(p, &rc, sizeof(rc));
	accepted(FAMFS_REC_RECLAIM, p, sizeof(rc), 0);
	refused(FAMFS_REC_RECLAIM, p, sizeof(rc) - 8, 0);
	refused(FAMFS_REC_RECLAIM, p, sizeof(rc), 8);

	/* Unknown types, whatever the payload. */
	refused(0, p, 64, 0);
	refused(FAMFS_REC_TYPE_MAX, p, 64, 0);
	refused(0xffff, p, 64, 0);
	/* Nothing but a header. */
	for (uint16_t t = 0; t <= FAMFS_REC_TYPE_MAX; t++)
		refused(t, p, 0, 0);
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(famfs_rec_type_name(FAMFS_REC_MKDIR), "mkdir");
	assert_string_equal(famfs_rec_type_name(FAMFS_REC_CREATE), "create");
	assert_string_equal(famfs_rec_type_name(FAMFS_REC_DELETE), "delete");
	assert_string_equal(famfs_rec_type_name(FAMFS_REC_SET_QUOTA), "set_quota");
	assert_string_equal(famfs_rec_type_name(FAMFS_REC_RECLAIM), "reclaim");
	assert_string_equal(famfs_rec_type_name(0), "unknown");
	assert_string_equal(famfs_rec_type_name(FAMFS_REC_TYPE_MAX), "unknown");
	assert_string_equal(famfs_rec_type_name(0xffff), "unknown");
}

static void test_rec_size(void **state)
{
	(void)state;
	assert_int_equal(famfs_rec_size(0), 32);
	assert_int_equal(famfs_rec_size(1), 40);
	assert_int_equal(famfs_rec_size(8), 40);
	assert_int_equal(famfs_rec_size(9), 48);
	assert_int_equal(famfs_rec_size(FAMFS_REC_PAYLOAD_MAX), FAMFS_REC_MAX_SIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mkdir_round_trip),
		cmocka_unit_test(test_create_round_trip),
		cmocka_unit_test(test_delete_quota_reclaim_round_trip),
		cmocka_unit_test(test_payload_is_little_endian),
		cmocka_unit_test(test_builder_limits),
		cmocka_unit_test(test_decode_refuses_bad_lengths),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_rec_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
