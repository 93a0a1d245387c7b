// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent_backend_auto() (famfsd/agent/backend_auto.c), the default
 * --backend: FUSE without the module, or with it for a pool the module
 * cannot mount (a regular file, an --offset); the module for a pmem or dax
 * device once /sys/module/famfsd or /proc/filesystems shows it. A fake
 * root holds the /sys and /proc the function reads; the devices are the
 * real /dev/null (a character device, as /dev/daxX.Y) and a block device
 * node made in the fake root (stat() says block device whatever its
 * numbers), else one of this host's /dev.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/backend.h"

static char root[64];
static char pool_file[96];

static void put(const char *rel, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	char path[160];

	(void)state;
	snprintf(root, sizeof(root), "/tmp/famfsd-auto.XXXXXX");
	assert_non_null(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/proc", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sys", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/sys/module", root);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(pool_file, sizeof(pool_file), "%s/pool.img", root);
	put("pool.img", "");
	/* What a host without the module lists (fuse among them). */
	put("proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\n\text4\n"
				"nodev\tfuse\nnodev\tfamfsdx\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *pick(const char *pool, uint64_t offset, const char **why)
{
	*why = NULL;
	return agent_backend_auto(root, pool, offset, why);
}

static void test_no_module_is_fuse(void **state)
{
	const char *why;

	(void)state;
	assert_string_equal(pick("/dev/null", 0, &why), "fuse");
	assert_string_equal(why, "the famfsd kernel module is not loaded");
	assert_string_equal(pick(pool_file, 0, &why), "fuse");
}

static void test_sys_module_is_kmod_for_a_device(void **state)
{
	char path[160];
	const char *why;

	(void)state;
	snprintf(path, sizeof(path), "%s/sys/module/famfsd", root);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_string_equal(pick("/dev/null", 0, &why), "kmod");
	assert_string_equal(why, "the famfsd kernel module is loaded and the "
			    "pool is a dax device");
	/* A pool in a file, or at an offset, stays FUSE's. */
	assert_string_equal(pick(pool_file, 0, &why), "fuse");
	assert_non_null(strstr(why, "not a pmem or dax device"));
	assert_string_equal(pick("/dev/null", 4096, &why), "fuse");
	assert_non_null(strstr(why, "--offset"));
	assert_string_equal(pick("/nonexistent/dax9.9", 0, &why), "fuse");
	assert_int_equal(rmdir(path), 0);
	assert_string_equal(pick("/dev/null", 0, &why), "fuse");
}

static void test_proc_filesystems_is_kmod(void **state)
{
	const char *why;

	(void)state;
	/* "famfsdx" is not "famfsd": a whole name, not a prefix. */
	assert_string_equal(pick("/dev/null", 0, &why), "fuse");
	put("proc/filesystems", "nodev\tsysfs\nnodev\tfamfsd\n");
	assert_string_equal(pick("/dev/null", 0, &why), "kmod");
	put("proc/filesystems", "nodev\tsysfs\n");
	assert_string_equal(pick("/dev/null", 0, &why), "fuse");
}

/* A block device node (the fake root's, else one of /dev) is the pmem case. */
static void test_block_device_is_pmem(void **state)
{
	char path[160], dev[300];
	struct dirent *e;
	const char *why;
	struct stat st;
	DIR *d;

	(void)state;
	snprintf(dev, sizeof(dev), "%s/pmem0", root);
	if (mknod(dev, S_IFBLK | 0600, makedev(259, 0)) < 0) {
		dev[0] = '\0';
		d = opendir("/dev");
		assert_non_null(d);
		while (!dev[0] && (e = readdir(d))) {
			snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
			if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode))
				dev[0] = '\0';
		}
		closedir(d);
		if (!dev[0])
			fail_msg("no block device node: mknod refused and "
				 "/dev has none");
	}
	snprintf(path, sizeof(path), "%s/sys/module/famfsd", root);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_string_equal(pick(dev, 0, &why), "kmod");
	assert_string_equal(why, "the famfsd kernel module is loaded and the "
			    "pool is a pmem device");
	assert_int_equal(rmdir(path), 0);
	assert_string_equal(pick(dev, 0, &why), "fuse");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_module_is_fuse),
		cmocka_unit_test(test_sys_module_is_kmod_for_a_device),
		cmocka_unit_test(test_proc_filesystems_is_kmod),
		cmocka_unit_test(test_block_device_is_pmem),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
