// SPDX-License-Identifier: GPL-2.0-or-later
/* Name rules: strict UTF-8, components, tenants, path iteration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "famfsd_format.h"
#include "names.h"

#define U8(s) (s), (sizeof(s) - 1)

static void test_utf8_valid_boundaries(void **state)
{
	(void)state;
	assert_true(famfs_utf8_valid(U8("")));
	assert_true(famfs_utf8_valid(U8("plain ascii ~\x7f")));
	assert_true(famfs_utf8_valid(U8("\xc2\x80")));		/* U+0080 */
	assert_true(famfs_utf8_valid(U8("\xdf\xbf")));		/* U+07FF */
	assert_true(famfs_utf8_valid(U8("\xe0\xa0\x80")));	/* U+0800 */
	assert_true(famfs_utf8_valid(U8("\xed\x9f\xbf")));	/* U+D7FF */
	assert_true(famfs_utf8_valid(U8("\xee\x80\x80")));	/* U+E000 */
	assert_true(famfs_utf8_valid(U8("\xef\xbf\xbf")));	/* U+FFFF */
	assert_true(famfs_utf8_valid(U8("\xf0\x90\x80\x80")));	/* U+10000 */
	assert_true(famfs_utf8_valid(U8("\xf4\x8f\xbf\xbf")));	/* U+10FFFF */
	assert_true(famfs_utf8_valid(U8("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac "
					 "\xf0\x9f\x98\x80")));
}

static void test_utf8_invalid(void **state)
{
	static const struct { const char *s; size_t len; const char *what; } bad[] = {
		{ U8("\x80"), "lone continuation byte" },
		{ U8("a\xbf"), "continuation after ascii" },
		{ U8("\xc0\x80"), "overlong NUL" },
		{ U8("\xc1\xbf"), "overlong 2-byte" },
		{ U8("\xe0\x80\x80"), "overlong 3-byte NUL" },
		{ U8("\xe0\x9f\xbf"), "overlong U+07FF" },
		{ U8("\xf0\x80\x80\x80"), "overlong 4-byte NUL" },
		{ U8("\xf0\x8f\xbf\xbf"), "overlong U+FFFF" },
		{ U8("\xed\xa0\x80"), "surrogate U+D800" },
		{ U8("\xed\xbf\xbf"), "surrogate U+DFFF" },
		{ U8("\xf4\x90\x80\x80"), "U+110000" },
		{ U8("\xf5\x80\x80\x80"), "lead byte F5" },
		{ U8("\xf8\x88\x80\x80\x80"), "5-byte form" },
		{ U8("\xfe"), "byte FE" },
		{ U8("\xff"), "byte FF" },
		{ U8("\xc3"), "truncated 2-byte at end" },
		{ U8("\xe6\x97"), "truncated 3-byte at end" },
		{ U8("\xf0\x9f\x98"), "truncated 4-byte at end" },
		{ U8("\xc3(a"), "bad continuation" },
		{ U8("\xe6\x97("), "bad third byte" },
		{ U8("\xf0\x9f\x98("), "bad fourth byte" },
		{ U8("ok\xe6\x97\xa5\xc3"), "valid then truncated" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (famfs_utf8_valid(bad[i].s, bad[i].len))
			fail_msg("accepted invalid UTF-8: %s", bad[i].what);
	}
	/* The length bounds the check: a truncated prefix is invalid. */
	assert_false(famfs_utf8_valid("\xe6\x97\xa5", 2));
	assert_true(famfs_utf8_valid("\xe6\x97\xa5\xff", 3));
}

static void test_name_check(void **state)
{
	char name[FAMFS_NAME_MAX + 2];

	(void)state;
	assert_null(famfs_name_check(U8("file")));
	assert_null(famfs_name_check(U8(".hidden")));
	assert_null(famfs_name_check(U8("...")));
	assert_null(famfs_name_check(U8("..x")));
	assert_null(famfs_name_check(U8("a b\tc")));
	assert_null(famfs_name_check(U8("\xe6\x97\xa5\xe6\x9c\xac")));
	assert_non_null(famfs_name_check(U8("")));
	assert_non_null(famfs_name_check(U8(".")));
	assert_non_null(famfs_name_check(U8("..")));
	assert_non_null(famfs_name_check(U8("a/b")));
	assert_non_null(famfs_name_check(U8("/")));
	assert_non_null(famfs_name_check("a\0b", 3));
	assert_non_null(famfs_name_check(U8("bad\xc0\x80")));
	assert_string_equal(famfs_name_check(U8("a/b")),
			    "path component contains '/'");

	memset(name, 'n', sizeof(name));
	assert_null(famfs_name_check(name, FAMFS_NAME_MAX));
	assert_string_equal(famfs_name_check(name, FAMFS_NAME_MAX + 1),
			    "path component longer than 255 bytes");
	/* 255 bytes of multibyte characters (85 x 3 bytes) is fine. */
	for (int i = 0; i < 85; i++)
		memcpy(name + 3 * i, "\xe2\x82\xac", 3);
	assert_null(famfs_name_check(name, 255));
	/* ...but cutting a character in half is not. */
	assert_non_null(famfs_name_check(name, 254));
}

static void test_tenant_check(void **state)
{
	char t[FAMFS_TENANT_MAX + 2];

	(void)state;
	assert_null(famfs_tenant_check(U8("")));		/* none */
	assert_null(famfs_tenant_check(U8("acme")));
	assert_null(famfs_tenant_check(U8("Team_A-1.prod")));
	assert_null(famfs_tenant_check(U8("a.")));
	assert_non_null(famfs_tenant_check(U8(".acme")));
	assert_non_null(famfs_tenant_check(U8("a b")));
	assert_non_null(famfs_tenant_check(U8("a/b")));
	assert_non_null(famfs_tenant_check(U8("caf\xc3\xa9")));
	assert_non_null(famfs_tenant_check("a\0", 2));
	memset(t, 'x', sizeof(t));
	assert_null(famfs_tenant_check(t, FAMFS_TENANT_MAX));
	assert_non_null(famfs_tenant_check(t, FAMFS_TENANT_MAX + 1));
}

/* Collects the components of a path joined by '|', or the error. */
static int walk(const char *path, size_t len, char *out, size_t size,
		const char **reason)
{
	struct famfs_path_iter it;
	const char *name;
	size_t n, at = 0;
	int r;

	out[0] = '\0';
	famfs_path_iter_init(&it, path, len);
	while ((r = famfs_path_next(&it, &name, &n, reason)) > 0) {
		assert_true(at + n + 2 < size);
		if (at)
			out[at++] = '|';
		memcpy(out + at, name, n);
		at += n;
		out[at] = '\0';
	}
	return r;
}

static void test_path_iter(void **state)
{
	static char path[FAMFS_PATH_MAX + 2];
	char out[8192];
	const char *why = NULL;

	(void)state;
	assert_int_equal(walk(U8("/a/b/c"), out, sizeof(out), &why), 0);
	assert_string_equal(out, "a|b|c");
	assert_int_equal(walk(U8("//a///b//"), out, sizeof(out), &why), 0);
	assert_string_equal(out, "a|b");
	assert_int_equal(walk(U8("rel/x"), out, sizeof(out), &why), 0);
	assert_string_equal(out, "rel|x");
	assert_int_equal(walk(U8("/"), out, sizeof(out), &why), 0);
	assert_string_equal(out, "");
	assert_int_equal(walk(U8(""), out, sizeof(out), &why), 0);
	assert_string_equal(out, "");

	assert_int_equal(walk(U8("/a/../b"), out, sizeof(out), &why), -EINVAL);
	assert_string_equal(why, "path component is '.' or '..'");
	assert_int_equal(walk(U8("/a/./b"), out, sizeof(out), &why), -EINVAL);
	assert_int_equal(walk("/a/\0/b", 6, out, sizeof(out), &why), -EINVAL);
	assert_int_equal(walk(U8("/a/\xff"), out, sizeof(out), &why), -EINVAL);

	/* 4095 bytes is the limit, 4096 is refused before any component. */
	memset(path, 'p', sizeof(path));
	for (size_t i = 0; i < sizeof(path); i += 200)
		path[i] = '/';
	assert_int_equal(walk(path, FAMFS_PATH_MAX, out, sizeof(out), &why), 0);
	assert_int_equal(walk(path, FAMFS_PATH_MAX + 1, out, sizeof(out), &why),
			 -EINVAL);
	assert_string_equal(why, "path longer than 4095 bytes");

	/* A component of 256 bytes inside a valid-length path. */
	memset(path, 'q', 300);
	path[0] = '/';
	assert_int_equal(walk(path, 257, out, sizeof(out), &why), -EINVAL);
	assert_int_equal(walk(path, 256, out, sizeof(out), &why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_valid_boundaries),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_tenant_check),
		cmocka_unit_test(test_path_iter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
