// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pool devices over sparse files (size, offsets, read-only maps, refusals)
 * and pools on them: format, open, the lease cleared by mkfs; probing a
 * device for its pool (famfs_sb_probe) and the shared size parser.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "checkpoint.h"
#include "lease.h"
#include "pool.h"
#include "probe.h"

#define MiB (1ull << 20)

static char dir[64], path[96];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/famfsd-pool-XXXXXX");
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

static void test_pooldev_file(void **state)
{
	struct famfs_pooldev *dev = NULL;
	uint8_t *b;

	(void)state;
	assert_int_equal(famfs_pooldev_create_file(path, 3 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pooldev_size(dev), 3 * MiB);
	assert_int_equal(famfs_pooldev_kind(dev), FAMFS_DEV_FILE);
	assert_string_equal(famfs_pooldev_path(dev), path);
	assert_true(famfs_pooldev_writable(dev));
	assert_true(famfs_pooldev_fd(dev) >= 0);
	b = famfs_pooldev_base(dev);
	assert_int_equal(b[0], 0);			/* sparse: zeros */
	b[0] = 0x11;
	b[4096] = 0x22;
	b[4096 + 100] = 0x33;
	b[3 * MiB - 1] = 0x44;
	famfs_pooldev_close(dev);

	/* Read-only, at offsets: page aligned and not. */
	assert_int_equal(famfs_pooldev_open(path, 0, 0, &dev), 0);
	assert_false(famfs_pooldev_writable(dev));
	assert_int_equal(famfs_pooldev_base(dev)[0], 0x11);
	assert_int_equal(famfs_pooldev_base(dev)[3 * MiB - 1], 0x44);
	famfs_pooldev_close(dev);
	assert_int_equal(famfs_pooldev_open(path, 4096, 0, &dev), 0);
	assert_int_equal(famfs_pooldev_size(dev), 3 * MiB - 4096);
	assert_int_equal(famfs_pooldev_base(dev)[0], 0x22);
	famfs_pooldev_close(dev);
	assert_int_equal(famfs_pooldev_open(path, 4096 + 100, 0, &dev), 0);
	assert_int_equal(famfs_pooldev_size(dev), 3 * MiB - 4196);
	assert_int_equal(famfs_pooldev_base(dev)[0], 0x33);
	assert_int_equal(famfs_pooldev_base(dev)[famfs_pooldev_size(dev) - 1], 0x44);
	famfs_pooldev_close(dev);
	famfs_pooldev_close(NULL);

	/* Extending keeps the data. */
	assert_int_equal(famfs_pooldev_create_file(path, 4 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, 0, &dev), 0);
	assert_int_equal(famfs_pooldev_size(dev), 4 * MiB);
	assert_int_equal(famfs_pooldev_base(dev)[0], 0x11);
	famfs_pooldev_close(dev);
}

static void test_pooldev_refusals(void **state)
{
	struct famfs_pooldev *dev = NULL;
	char missing[128];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	assert_int_equal(famfs_pooldev_open(missing, 0, 0, &dev), -ENOENT);
	assert_int_equal(famfs_pooldev_open(dir, 0, 0, &dev), -ENODEV);
	/* A character device that is not a dax device. */
	assert_int_equal(famfs_pooldev_open("/dev/null", 0, 0, &dev), -ENODEV);
	assert_int_equal(famfs_pooldev_create_file(path, MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, MiB, 0, &dev), -EINVAL);
	assert_int_equal(famfs_pooldev_open(path, 2 * MiB, 0, &dev), -EINVAL);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, 0, &dev), -EINVAL);
	assert_null(dev);
}

static void test_format_and_open(void **state)
{
	struct famfs_mkfs_opts mk = { .alloc_unit = 4096, .log_size = MiB };
	struct famfs_pool_open_opts o = { .coherence = FAMFS_COH_NONE };
	const struct famfs_cache_ops *none = famfs_cache_ops_get(FAMFS_COH_NONE);
	struct famfs_lease_info l = { .epoch = 9, .host = "old" };
	struct famfs_pooldev *dev = NULL;
	struct famfs_pool *pool = NULL;
	struct famfs_pool_info info;
	const char *why = NULL;
	uint64_t min = 0;

	(void)state;
	/* Too small: refused with the size that would do. */
	assert_int_equal(famfs_pooldev_create_file(path, 4 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pool_format(dev, none, &mk, &info, &min), -ENOSPC);
	assert_int_equal(min, 4 * MiB + 4096);
	famfs_pooldev_close(dev);
	/* Not a pool yet. */
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), -ENODEV);
	assert_non_null(why);

	assert_int_equal(famfs_pooldev_create_file(path, 5 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	famfs_lease_write(famfs_pooldev_base(dev), none, &l);	/* a stale lease */
	mk.flags = FAMFS_SB_F_COHERENT;
	assert_int_equal(famfs_pool_format(dev, none, &mk, &info, &min), 0);
	assert_int_equal(info.device_size, 5 * MiB);
	assert_int_equal(info.alloc_unit, 4096);
	assert_int_equal(info.flags, FAMFS_SB_F_COHERENT);
	assert_true(info.created_ns > 0);
	assert_int_equal(famfs_lease_read(famfs_pooldev_base(dev), none, &l),
			 -ENOENT);				/* cleared */
	famfs_pooldev_close(dev);

	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_memory_equal(&pool->info, &info, sizeof(info));
	assert_null(pool->sb_status.reason[0]);
	assert_null(pool->sb_status.reason[1]);
	assert_ptr_equal(pool->ops, none);
	assert_non_null(pool->log);
	/* Four areas of a quarter each; a generation's body is one less its header. */
	assert_int_equal(famfs_log_capacity(pool->log), MiB / 4 - FAMFS_LOG_HDR_SIZE);
	assert_int_equal(famfs_log_generation(pool->log), 1);
	assert_ptr_equal(famfs_pool_log_base(pool), pool->base + info.log_offset);
	famfs_pool_close(pool);
	famfs_pool_close(NULL);

	/* Two pools with distinct identities. */
	uint8_t first[16];

	memcpy(first, info.pool_uuid, 16);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pool_format(dev, none, &mk, &info, &min), 0);
	famfs_pooldev_close(dev);
	assert_memory_not_equal(first, info.pool_uuid, 16);

	/*
	 * A log header gone bad in one copy: the pool opens from the other.
	 * In both copies: it does not open, and says why.
	 */
	int fd = open(path, O_WRONLY);
	off_t copy1 = (off_t)(info.log_offset +
			      famfs_log_area_offset(info.log_size, 1, 1));

	assert_true(fd >= 0);
	assert_int_equal(copy1, (off_t)(info.log_offset + MiB / 2));
	assert_int_equal(pwrite(fd, "X", 1, (off_t)info.log_offset), 1);
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_int_equal(famfs_log_base(pool->log).max_ino, FAMFS_ROOT_INO);
	famfs_pool_close(pool);
	assert_int_equal(pwrite(fd, "Y", 1, copy1), 1);
	close(fd);
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), -EUCLEAN);
	assert_string_equal(why, "log header: bad magic");
}

/*
 * After a compaction (the checkpoint sealed in generation 2, then the
 * superblock naming it) a pool opens generation 2, and a superblock that
 * names a generation the log does not hold is refused.
 */
static void test_open_follows_the_generation(void **state)
{
	struct famfs_mkfs_opts mk = { .alloc_unit = 4096, .log_size = MiB };
	struct famfs_pool_open_opts o = {
		.dev_flags = FAMFS_DEV_WRITE, .coherence = FAMFS_COH_NONE,
	};
	const struct famfs_cache_ops *none = famfs_cache_ops_get(FAMFS_COH_NONE);
	struct famfs_pooldev *dev = NULL;
	struct famfs_pool *pool = NULL;
	struct famfs_state *st = NULL;
	struct famfs_log *next = NULL;
	struct famfs_pool_info info;
	const char *why = NULL;
	uint64_t min = 0;

	(void)state;
	assert_int_equal(famfs_pooldev_create_file(path, 5 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pool_format(dev, none, &mk, &info, &min), 0);
	famfs_pooldev_close(dev);

	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_int_equal(famfs_state_new(&pool->info, &st), 0);
	st->last_seq = 7;		/* as if seven records had been applied */
	st->last_epoch = 2;
	st->max_ino = 9;
	assert_int_equal(famfs_log_create(famfs_pool_log_base(pool),
					  pool->info.log_size, 2, none, &next), 0);
	assert_int_equal(famfs_ckpt_write(st, next), 0);
	famfs_log_free(next);
	famfs_state_free(st);
	info = pool->info;
	famfs_pool_close(pool);
	/* Not named yet: the pool still opens generation 1. */
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_int_equal(famfs_log_generation(pool->log), 1);
	info.log_generation = 2;
	info.sb_seq++;
	famfs_sb_write(pool->base, &info, none);
	famfs_pool_close(pool);

	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_int_equal(pool->info.log_generation, 2);
	assert_int_equal(famfs_log_generation(pool->log), 2);
	assert_int_equal(famfs_log_base(pool->log).seq, 7);
	assert_int_equal(famfs_log_base(pool->log).epoch, 2);
	assert_int_equal(famfs_log_base(pool->log).max_ino, 9);
	info = pool->info;
	info.log_generation = 3;	/* generation 1's areas: not 3 */
	info.sb_seq++;
	famfs_sb_write(pool->base, &info, none);
	famfs_pool_close(pool);
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), -EUCLEAN);
	assert_string_equal(why, "log header: generation differs from superblock");
}

/* A pool that starts at an offset inside its device. */
static void test_pool_at_offset(void **state)
{
	struct famfs_mkfs_opts mk = { .alloc_unit = 4096, .log_size = MiB };
	struct famfs_pool_open_opts o = { .offset = 2 * MiB,
					  .coherence = FAMFS_COH_NONE };
	const struct famfs_cache_ops *none = famfs_cache_ops_get(FAMFS_COH_NONE);
	struct famfs_pooldev *dev = NULL;
	struct famfs_pool *pool = NULL;
	struct famfs_pool_info info;
	const char *why;
	uint64_t min;

	(void)state;
	assert_int_equal(famfs_pooldev_create_file(path, 8 * MiB), 0);
	assert_int_equal(famfs_pooldev_open(path, 0, FAMFS_DEV_WRITE, &dev), 0);
	memset(famfs_pooldev_base(dev), 0, 3 * 4096);		/* no pool at 0 */
	famfs_pooldev_close(dev);
	assert_int_equal(famfs_pooldev_open(path, 2 * MiB, FAMFS_DEV_WRITE, &dev), 0);
	assert_int_equal(famfs_pool_format(dev, none, &mk, &info, &min), 0);
	assert_int_equal(info.device_size, 6 * MiB);
	famfs_pooldev_close(dev);
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), 0);
	assert_int_equal(pool->size, 6 * MiB);
	famfs_pool_close(pool);
	o.offset = 0;
	assert_int_equal(famfs_pool_open(path, &o, &pool, &why), -ENODEV);
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
		cmocka_unit_test_setup_teardown(test_pooldev_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pooldev_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_and_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_follows_the_generation,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_at_offset, setup, teardown),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test_setup_teardown(test_probe_finds_the_pool_uuid,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_refusals, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
