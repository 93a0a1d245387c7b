// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Probing devices for a pool (famfs_sb_probe) and the size parser every
 * command line shares (famfs_parse_size).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pool.h"
#include "probe.h"

#define MiB (1ull << 20)

static char dir[64], path[96];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/famfsd-probe-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/pool", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "4096", 4096 }, { "64M", 64 * MiB },
		{ "2MiB", 2 * MiB }, { "1g", 1ull << 30 }, { "3T", 3ull << 40 },
		{ "7k", 7 << 10 }, { "18446744073709551615", UINT64_MAX },
	};
	static const char *const bad[] = {
		"", "M", "-1", " 1", "1 M", "1.5G", "0x10", "12Q", "1MB",
	};
	uint64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = 1;
		assert_int_equal(famfs_parse_size(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(famfs_parse_size(bad[i], &v), -EINVAL);
	assert_int_equal(famfs_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(famfs_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(famfs_parse_size("18446744073709551616", &v), -ERANGE);
}

static void test_probe_finds_the_pool_uuid(void **state)
{
	struct famfs_mkfs_opts o = { .alloc_unit = 4096, .log_size = MiB };
	struct famfs_pool_info made, found;
	struct famfs_pooldev *dev;

	(void)state;
	assert_int_equal(famfs_pooldev_create_file(path, 16 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pool_format(dev, famfs_cache_ops_get(FAMFS_COH_NONE),
					   &o, &made, NULL), 0);
	famfs_pooldev_close(dev);
	assert_int_equal(famfs_sb_probe(path, 0, &found), 0);
	assert_memory_equal(found.pool_uuid, made.pool_uuid, 16);
	assert_true(found.data_offset == made.data_offset);
}

static void test_probe_refusals(void **state)
{
	struct famfs_pool_info info;

	(void)state;
	assert_int_equal(famfs_sb_probe("/nonexistent/famfsd", 0, &info), -ENOENT);
	assert_int_equal(famfs_sb_probe("/tmp", 0, &info), -ENODEV);
	/* A file of zeros holds no pool. */
	assert_int_equal(famfs_pooldev_create_file(path, 16 * MiB), 0);
	assert_int_equal(famfs_sb_probe(path, 0, &info), -ENODEV);
	/* An offset past the end maps nothing. */
	assert_int_equal(famfs_sb_probe(path, 32 * MiB, &info), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test_setup_teardown(test_probe_finds_the_pool_uuid,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_refusals, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
