// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CRC32C: our seed and finalisation against published vectors, the
 * incremental form, lengths past ISA-L's int, and the on-media definition
 * of every CRC the format names: each stored crc field holds, in little-
 * endian bytes, the standard CRC32C of exactly the bytes docs/format.md
 * says it covers, computed here by a bitwise reference that shares no code
 * with famfsd/lib/crc.c (the kernel module checks the superblock with the
 * kernel's own CRC32C). Flipping any covered byte makes the decoder refuse
 * it for its CRC, not for some later check.
 */
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "crc.h"
#include "lease.h"
#include "testpool.h"

/*
 * CRC32C bit by bit: reflected polynomial 0x82F63B78, the register
 * starting at `start`, inverted out.
 */
static uint32_t ref_crc32c_from(uint32_t start, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = start;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
	}
	return ~c;
}

/* The standard CRC32C: ~0 in and out. */
static uint32_t ref_crc32c(const void *buf, size_t len)
{
	return ref_crc32c_from(0xffffffffu, buf, len);
}

/*
 * A record or item of log generation g (docs/format.md): the register
 * starts at ~0 XOR the seed, the low and high halves of g XORed with
 * "SMAF" (0x46414d53), over every byte after the crc field.
 */
static uint32_t ref_record_crc(const void *rec, uint32_t len, uint64_t g)
{
	uint32_t seed = (uint32_t)g ^ (uint32_t)(g >> 32) ^ 0x46414d53u;

	return ref_crc32c_from(0xffffffffu ^ seed, (const uint8_t *)rec + 4,
			       len - 4);
}

/* The stored crc field at p, as the media holds it (little-endian). */
static uint32_t stored_le32(const void *p)
{
	const uint8_t *b = p;

	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/* RFC 3720 appendix B.4 (CRC bytes as sent, i.e. stored) and the check value. */
static void test_rfc3720_vectors(void **state)
{
	static const uint8_t read10_pdu[48] = {
		0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18,
		0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
	};
	static const struct { int fill; uint8_t crc[4]; } v32[] = {
		{ 0x00, { 0xaa, 0x36, 0x91, 0x8a } },	/* 32 bytes of zero */
		{ 0xff, { 0x43, 0xab, 0xa8, 0x62 } },	/* 32 bytes of ones */
		{ -1,   { 0x4e, 0x79, 0xdd, 0x46 } },	/* 00 01 .. 1f */
		{ -2,   { 0x5c, 0xdb, 0x3f, 0x11 } },	/* 1f 1e .. 00 */
	};
	static const uint8_t pdu_crc[4] = { 0x56, 0x3a, 0x96, 0xd9 };
	uint8_t buf[32], got[4];
	uint32_t c;

	(void)state;
	for (size_t i = 0; i < sizeof(v32) / sizeof(v32[0]); i++) {
		for (int k = 0; k < 32; k++)
			buf[k] = (uint8_t)(v32[i].fill >= 0 ? v32[i].fill :
					   v32[i].fill == -1 ? k : 31 - k);
		c = htole32(famfs_crc32c(buf, sizeof(buf)));
		memcpy(got, &c, 4);
		assert_memory_equal(got, v32[i].crc, 4);
		assert_int_equal(ref_crc32c(buf, sizeof(buf)), le32toh(c));
	}
	c = htole32(famfs_crc32c(read10_pdu, sizeof(read10_pdu)));
	memcpy(got, &c, 4);
	assert_memory_equal(got, pdu_crc, 4);
	/* The catalogue's check value, and nothing in, nothing out. */
	assert_int_equal(famfs_crc32c("123456789", 9), 0xe3069283u);
	assert_int_equal(ref_crc32c("123456789", 9), 0xe3069283u);
	assert_int_equal(famfs_crc32c("", 0), 0u);
}

/* Any split of the input gives the same CRC through init/update/final. */
static void test_incremental_every_split(void **state)
{
	uint8_t buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t whole = famfs_crc32c(buf, sizeof(buf));

	assert_int_equal(whole, ref_crc32c(buf, sizeof(buf)));
	for (size_t cut = 0; cut <= sizeof(buf); cut++) {
		uint32_t s = famfs_crc32c_init();

		s = famfs_crc32c_update(s, buf, cut);
		s = famfs_crc32c_update(s, buf + cut, sizeof(buf) - cut);
		assert_int_equal(famfs_crc32c_final(s), whole);
	}
	/* Three pieces, one of them empty. */
	uint32_t s = famfs_crc32c_update(famfs_crc32c_init(), buf, 100);

	s = famfs_crc32c_update(s, buf + 100, 0);
	s = famfs_crc32c_update(s, buf + 100, 200);
	assert_int_equal(famfs_crc32c_final(s), whole);
}

/*
 * ISA-L takes an int length; famfs_crc32c_update() feeds it longer buffers
 * in pieces. Past 4 GiB, because ISA-L happens to read a length up to 4 GiB
 * as unsigned. Zero pages (huge ones if the kernel has them: the advice
 * only saves time), never written but for marks on both sides of INT_MAX
 * and UINT32_MAX; the reference is the same bytes fed in 1 GiB pieces.
 */
static void test_update_past_32_bits(void **state)
{
	const size_t len = (4ull << 30) + 4097, piece = 1ull << 30;
	const size_t marks[] = { 0, (size_t)INT_MAX - 1, INT_MAX, UINT32_MAX,
				 (size_t)UINT32_MAX + 1, len - 1 };
	uint32_t want = famfs_crc32c_init();
	uint8_t *p;

	(void)state;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(p != MAP_FAILED);
	(void)madvise(p, len, MADV_HUGEPAGE);
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		p[marks[i]] = (uint8_t)(0x11 * (i + 1));
	for (size_t off = 0; off < len; off += piece)
		want = famfs_crc32c_update(want, p + off,
					   len - off < piece ? len - off : piece);
	assert_int_equal(famfs_crc32c(p, len), famfs_crc32c_final(want));
	assert_int_equal(munmap(p, len), 0);
}

/* famfs_crc_struct covers every byte before the trailing crc field. */
static void test_crc_struct(void **state)
{
	struct famfs_log_tail t;

	(void)state;
	for (size_t i = 0; i < sizeof(t); i++)
		((uint8_t *)&t)[i] = (uint8_t)(i * 37 + 1);
	assert_int_equal(famfs_crc_struct(&t, sizeof(t)),
			 ref_crc32c(&t, sizeof(t) - 4));
	t.crc = 0;			/* the crc field itself is not covered */
	assert_int_equal(famfs_crc_struct(&t, sizeof(t)),
			 ref_crc32c(&t, sizeof(t) - 4));
}

/* A pool with one published record (a mkdir) for the log's CRCs. */
static void pool_with_one_record(struct tpool *p)
{
	assert_int_equal(tpool_init(p, 4096, FAMFS_MIN_LOG_SIZE, 16,
				    famfs_cache_ops_get(FAMFS_COH_NONE)), 0);
	assert_int_equal(tpool_mkdir(p, FAMFS_ROOT_INO, "dir-with-a-name", NULL), 0);
	tpool_publish(p);
}

/*
 * Both header copies of the current generation: line 0 and each tail
 * slot; the newest tail, in slot `slot`, is `seq`.
 */
static void check_header_crcs(const struct tpool *p, int slot, uint64_t seq)
{
	for (unsigned int c = 0; c < 2; c++) {
		const struct famfs_log_hdr *hdr = tpool_hdr(p, c);

		assert_int_equal(stored_le32(&hdr->crc),
				 ref_crc32c(hdr, offsetof(struct famfs_log_hdr, crc)));
		for (int i = 0; i < 2; i++)
			assert_int_equal(stored_le32(&hdr->tail[i].crc),
					 ref_crc32c(&hdr->tail[i],
						    offsetof(struct famfs_log_tail, crc)));
		assert_int_equal(le64toh(hdr->generation), p->info.log_generation);
		assert_int_equal(le64toh(hdr->tail[slot].seq), seq);
		assert_true(le64toh(hdr->tail[!slot].seq) < seq);
	}
}

/* Each crc field against the reference over its documented bytes. */
static void test_on_media_crcs(void **state)
{
	struct famfs_lease_info li = { .epoch = 7, .pid = 42, .host = "h" };
	const struct famfs_rec_hdr *rec;
	const struct famfs_lease *l;
	const struct famfs_sb *sb;
	struct tpool p;
	uint32_t len;

	(void)state;
	/* The seed the format names, for the generations used here and a wide one. */
	assert_int_equal(FAMFS_REC_CRC_SEED(1), 0x46414d52u);
	assert_int_equal(FAMFS_REC_CRC_SEED(2), 0x46414d51u);
	assert_int_equal(FAMFS_REC_CRC_SEED(0x100000001ull), 0x46414d53u);
	pool_with_one_record(&p);
	/* Superblock, both copies: bytes 0 .. crc. */
	for (int i = 0; i < 2; i++) {
		sb = (const void *)(p.base + (i ? FAMFS_SB_B_OFFSET :
					      FAMFS_SB_A_OFFSET));
		assert_int_equal(stored_le32(&sb->crc),
				 ref_crc32c(sb, offsetof(struct famfs_sb, crc)));
	}
	/* Log header, both copies: line 0 up to crc; each tail slot likewise. */
	check_header_crcs(&p, 1, 1);		/* the first publish: slot 1 */
	/* A record, both copies: every byte after its crc field, up to len. */
	for (unsigned int c = 0; c < 2; c++) {
		rec = (const void *)tpool_body(&p, c);
		len = le32toh(rec->len);
		assert_int_equal(le64toh(rec->seq), 1);
		assert_int_equal(stored_le32(&rec->crc), ref_record_crc(rec, len, 1));
		/* Not the unseeded CRC: a generation's records are its own. */
		assert_int_not_equal(stored_le32(&rec->crc),
				     ref_crc32c((const uint8_t *)rec + 4, len - 4));
	}
	/* The lease: bytes 0 .. crc. */
	famfs_lease_write(p.base, p.ops, &li);
	l = (const void *)(p.base + FAMFS_LEASE_OFFSET);
	assert_int_equal(stored_le32(&l->crc),
			 ref_crc32c(l, offsetof(struct famfs_lease, crc)));

	/* Generation 2: its checkpoint items and records, seeded with 2. */
	assert_int_equal(tpool_compact(&p), 0);
	assert_int_equal(tpool_mkdir(&p, FAMFS_ROOT_INO, "later", NULL), 0);
	tpool_publish(&p);
	check_header_crcs(&p, 0, 2);		/* the seal wrote both with 1 */
	for (unsigned int c = 0; c < 2; c++) {
		const uint8_t *body = tpool_body(&p, c);
		uint64_t at = 0;

		for (int k = 0; k < 2; k++) {		/* the item, then the record */
			rec = (const void *)(body + at);
			len = le32toh(rec->len);
			assert_int_equal(le64toh(rec->seq), k + 1);
			assert_int_equal(stored_le32(&rec->crc),
					 ref_record_crc(rec, len, 2));
			at += len;
		}
		assert_int_equal(at, famfs_log_published(p.log).end);
	}
	tpool_fini(&p);
}

/* Every byte of a superblock copy: bad magic, else refused for its CRC. */
static void test_superblock_crc_covers_every_byte(void **state)
{
	struct famfs_pool_info in, out;
	struct famfs_sb sb;
	const char *why;
	struct tpool p;

	(void)state;
	pool_with_one_record(&p);
	in = p.info;
	famfs_sb_encode(&in, &sb);
	for (size_t b = 0; b < sizeof(sb); b++) {
		((uint8_t *)&sb)[b] ^= 0x40;
		why = NULL;
		assert_int_equal(famfs_sb_decode(&sb, p.size, &out, &why), -EUCLEAN);
		assert_string_equal(why, b < 8 ? "bad magic" :
				    "CRC mismatch (torn or corrupt)");
		((uint8_t *)&sb)[b] ^= 0x40;
	}
	assert_int_equal(famfs_sb_decode(&sb, p.size, &out, &why), 0);
	tpool_fini(&p);
}

struct seen {
	int n;
	struct famfs_log_damage d;
};

static void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct seen *s = ctx;

	s->n++;
	s->d = *d;
}

/*
 * Every byte of the log header's first line, the same way: in both copies
 * refused for copy 0's reason; in one copy the log opens from the other
 * and names the bad copy for the same reason.
 */
static void test_log_header_crc_covers_every_byte(void **state)
{
	const size_t line = offsetof(struct famfs_log_hdr, tail);
	struct famfs_log_error err;
	struct famfs_log *log = NULL;
	struct tpool p;
	uint8_t *lb;

	(void)state;
	pool_with_one_record(&p);
	lb = tpool_log_base(&p);
	for (size_t b = 0; b < line; b++) {
		const char *want = b < 8 ? "log header: bad magic" :
				   "log header: CRC mismatch";

		tpool_flip_area(&p, b, 0x40, TPOOL_BOTH);
		assert_int_equal(famfs_log_open(lb, p.info.log_size, 1, p.ops,
						&log, &err), -EUCLEAN);
		assert_string_equal(err.reason, want);
		assert_null(log);
		tpool_flip_area(&p, b, 0x40, TPOOL_COPY1);
		for (unsigned int c = 0; c < 2; c++) {
			struct seen s = { .n = 0 };

			assert_int_equal(famfs_log_open(lb, p.info.log_size, 1, p.ops,
							&log, &err), 0);
			famfs_log_set_damage_hook(log, on_damage, &s);
			assert_int_equal(s.n, 1);
			assert_int_equal(s.d.copy, c);
			assert_string_equal(s.d.reason, want);
			famfs_log_free(log);
			log = NULL;
			tpool_flip_area(&p, b, 0x40, TPOOL_BOTH);	/* move it */
		}
		tpool_flip_area(&p, b, 0x40, TPOOL_COPY0);
	}
	assert_memory_equal(tpool_area(&p, 0), tpool_area(&p, 1), line);
	tpool_fini(&p);
}

/*
 * Every byte of a record: refused for its CRC, except the length, whose
 * framing check comes first by design (it says how many bytes to check).
 * In both copies the reader stops there; in one, it reads the other.
 */
static void test_record_crc_covers_every_byte(void **state)
{
	const size_t len_at = offsetof(struct famfs_rec_hdr, len);
	struct famfs_log_pos pos, tail;
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct tpool p;
	uint32_t len;

	(void)state;
	pool_with_one_record(&p);
	len = le32toh(((const struct famfs_rec_hdr *)tpool_body(&p, 0))->len);
	assert_true(len > sizeof(struct famfs_rec_hdr) + 15);
	assert_int_equal(famfs_log_read_tail(p.log, &tail, &err), 0);
	for (size_t b = 0; b < len; b++) {
		tpool_flip(&p, b, 0x40, TPOOL_BOTH);
		pos = (struct famfs_log_pos){ 0 };
		assert_int_equal(famfs_log_next(p.log, &pos, &tail, &h, &err),
				 -EUCLEAN);
		assert_int_equal(err.seq, 1);
		if (b < len_at || b >= len_at + 4)
			assert_string_equal(err.reason, "record CRC mismatch");
		tpool_flip(&p, b, 0x40, TPOOL_COPY0);
		pos = (struct famfs_log_pos){ 0 };
		assert_int_equal(famfs_log_next(p.log, &pos, &tail, &h, &err), 1);
		assert_memory_equal(h, tpool_body(&p, 0), le32toh(h->len));
		tpool_flip(&p, b, 0x40, TPOOL_BOTH);
		pos = (struct famfs_log_pos){ 0 };
		assert_int_equal(famfs_log_next(p.log, &pos, &tail, &h, &err), 1);
		assert_memory_equal(h, tpool_body(&p, 1), le32toh(h->len));	/* copy 0 is bad now */
		tpool_flip(&p, b, 0x40, TPOOL_COPY0);
	}
	pos = (struct famfs_log_pos){ 0 };
	assert_int_equal(famfs_log_next(p.log, &pos, &tail, &h, &err), 1);
	assert_memory_equal(h, tpool_body(&p, 0), le32toh(h->len));
	tpool_fini(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3720_vectors),
		cmocka_unit_test(test_incremental_every_split),
		cmocka_unit_test(test_update_past_32_bits),
		cmocka_unit_test(test_crc_struct),
		cmocka_unit_test(test_on_media_crcs),
		cmocka_unit_test(test_superblock_crc_covers_every_byte),
		cmocka_unit_test(test_log_header_crc_covers_every_byte),
		cmocka_unit_test(test_record_crc_covers_every_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
