// SPDX-License-Identifier: GPL-2.0-or-later
/* CRC32C: published check values, the incremental form, struct CRCs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "crc.h"
#include "famfsd_format.h"

/* Check values from RFC 3720 appendix B.4 and the CRC catalogue. */
static void test_known_vectors(void **state)
{
	uint8_t buf[32];

	(void)state;
	assert_int_equal(famfs_crc32c("123456789", 9), 0xe3069283u);
	assert_int_equal(famfs_crc32c("", 0), 0u);
	assert_int_equal(famfs_crc32c("a", 1), 0xc1d04330u);
	assert_int_equal(famfs_crc32c("The quick brown fox jumps over the lazy dog",
				      43), 0x22620404u);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(famfs_crc32c(buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(famfs_crc32c(buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(famfs_crc32c(buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(famfs_crc32c(buf, 32), 0x113fdb5cu);
}

/* Any split of the input gives the same CRC through init/update/final. */
static void test_incremental_every_split(void **state)
{
	uint8_t buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	uint32_t whole = famfs_crc32c(buf, sizeof(buf));

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

/* Same bytes at any alignment give the same CRC (ISA-L has SIMD paths). */
static void test_alignment_independent(void **state)
{
	static uint8_t big[4096 + 64];
	uint8_t ref[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(ref); i++)
		ref[i] = (uint8_t)(i ^ (i >> 8));
	for (size_t len = 1; len <= sizeof(ref); len = len * 3 + 1) {
		uint32_t want = famfs_crc32c(ref, len);

		for (size_t off = 0; off < 64; off += 5) {
			memcpy(big + off, ref, len);
			assert_int_equal(famfs_crc32c(big + off, len), want);
		}
	}
}

/* Every single-bit flip changes the CRC (CRC32C detects all of them). */
static void test_single_bit_flips_detected(void **state)
{
	uint8_t buf[160];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 31);
	uint32_t base = famfs_crc32c(buf, sizeof(buf));

	for (size_t bit = 0; bit < sizeof(buf) * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_not_equal(famfs_crc32c(buf, sizeof(buf)), base);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
}

/* famfs_crc_struct covers every byte before the trailing crc field. */
static void test_crc_struct(void **state)
{
	struct famfs_log_tail t;

	(void)state;
	memset(&t, 0x5a, sizeof(t));
	uint32_t c = famfs_crc_struct(&t, sizeof(t));

	assert_int_equal(c, famfs_crc32c(&t, sizeof(t) - 4));
	t.crc = 0;			/* the crc field itself is not covered */
	assert_int_equal(famfs_crc_struct(&t, sizeof(t)), c);
	t.seq ^= 1;
	assert_int_not_equal(famfs_crc_struct(&t, sizeof(t)), c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_incremental_every_split),
		cmocka_unit_test(test_alignment_independent),
		cmocka_unit_test(test_single_bit_flips_detected),
		cmocka_unit_test(test_crc_struct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
