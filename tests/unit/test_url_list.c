// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Lists of master addresses (famfsd/common/url_list.c): what the agent's
 * --master and famfsctl's --url accept and refuse, how items are
 * normalized and deduplicated, and the base a 307's Location gives.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/url_list.h"

static void test_parse_good(void **state)
{
	struct url_list l;
	const char *why = NULL;

	(void)state;
	assert_int_equal(url_list_parse("http://10.0.0.1:7470", &l, &why), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.url[0], "http://10.0.0.1:7470");
	/* Spaces around items, a trailing '/', a repeat (scheme and host
	 * case-blind): three addresses. */
	assert_int_equal(url_list_parse(" http://a:1/ ,https://b:2,HTTP://A:1,"
					"http://c:3/api", &l, &why), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.url[0], "http://a:1");
	assert_string_equal(l.url[1], "https://b:2");
	assert_string_equal(l.url[2], "http://c:3/api");
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", ",", "http://a:1,", ",http://a:1", "http://a:1,,http://b:2",
		"ftp://a:1", "http://", "http:///x", "http://a b:1",
		"http://a:1, ftp://b", "a:1", "http://:80", "http://a\x01",
	};
	struct url_list l;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		l.n = 5;
		if (url_list_parse(bad[i], &l, &why) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_non_null(why);
		assert_int_equal(l.n, 0);
	}
}

static void test_parse_limits(void **state)
{
	char s[32 * 24] = "", one[32], longurl[URL_MAX + 16];
	struct url_list l;
	const char *why = NULL;

	(void)state;
	for (unsigned int i = 0; i < URL_LIST_MAX; i++) {
		snprintf(one, sizeof(one), "%shttp://h%u:1", i ? "," : "", i);
		strcat(s, one);
	}
	assert_int_equal(url_list_parse(s, &l, &why), 0);
	assert_int_equal(l.n, URL_LIST_MAX);
	strcat(s, ",http://one-too-many:1");
	assert_int_equal(url_list_parse(s, &l, &why), -EINVAL);
	assert_non_null(strstr(why, "16"));
	/* Exactly URL_MAX bytes fit; one more does not. */
	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "http://", 7);
	longurl[URL_MAX] = '\0';
	assert_int_equal(url_list_parse(longurl, &l, &why), 0);
	longurl[URL_MAX] = 'a';
	longurl[URL_MAX + 1] = '\0';
	assert_int_equal(url_list_parse(longurl, &l, &why), -EINVAL);
}

static void test_add(void **state)
{
	struct url_list l = { 0 };

	(void)state;
	assert_int_equal(url_list_add(&l, "http://a:1/"), 1);
	assert_int_equal(url_list_add(&l, "http://A:1"), 0);
	assert_int_equal(url_list_add(&l, "http://b:1"), 1);
	assert_int_equal(url_list_add(&l, "nonsense"), -EINVAL);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.url[0], "http://a:1");
}

static void test_same(void **state)
{
	(void)state;
	assert_true(url_same("http://h:1", "HTTP://H:1/"));
	assert_false(url_same("http://h:1", "https://h:1"));
	assert_false(url_same("http://h:1", "http://h:2"));
	assert_false(url_same("http://h:1/A", "http://h:1/a"));	/* paths are not */
	assert_false(url_same("http://h:1", "http://h:10"));
	assert_false(url_same("h:1", "h:1"));
}

static void test_redirect_base(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(url_redirect_base("http://b:2/v1/files/x?q=1,2",
					   "/v1/files/x?q=1,2", out,
					   sizeof(out)), 0);
	assert_string_equal(out, "http://b:2");
	assert_int_equal(url_redirect_base("https://b:2/api/v1/log?wait=30",
					   "/v1/log?wait=30", out, sizeof(out)), 0);
	assert_string_equal(out, "https://b:2/api");
	/* Not our path: a redirect somewhere else. */
	assert_int_equal(url_redirect_base("http://b:2/elsewhere", "/v1/log",
					   out, sizeof(out)), -EINVAL);
	/* Nothing left of an address, or no http(s) at all. */
	assert_int_equal(url_redirect_base("http:///v1/log", "/v1/log", out,
					   sizeof(out)), -EINVAL);
	assert_int_equal(url_redirect_base("/v1/log", "/v1/log", out,
					   sizeof(out)), -EINVAL);
	assert_int_equal(url_redirect_base("http://a-rather-long-host-name:7470"
					   "/v1/log", "/v1/log", out, 16),
			 -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_limits),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_same),
		cmocka_unit_test(test_redirect_base),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
