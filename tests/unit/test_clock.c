// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * clock_rfc3339(): the API's string twin of every _ns time must name the
 * same nanosecond (the reason it exists: a double cannot hold an _ns value
 * past 2^53), in UTC with all nine fraction digits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/clock.h"

static void check(uint64_t ns, const char *want)
{
	char buf[CLOCK_RFC3339_SIZE];

	memset(buf, 'x', sizeof(buf));
	clock_rfc3339(ns, buf);
	assert_string_equal(buf, want);
}

static void test_rfc3339_epoch_and_leading_zeros(void **state)
{
	(void)state;
	check(0, "1970-01-01T00:00:00.000000000Z");
	check(1, "1970-01-01T00:00:00.000000001Z");
	check(999999999, "1970-01-01T00:00:00.999999999Z");
	check(1000000000, "1970-01-01T00:00:01.000000000Z");
}

static void test_rfc3339_calendar(void **state)
{
	(void)state;
	check(951782400123456789ull, "2000-02-29T00:00:00.123456789Z");
	check(4102444799999999999ull, "2099-12-31T23:59:59.999999999Z");
}

/* Past 2^53 a double drops the last digits; the string must not. */
static void test_rfc3339_exact_beyond_a_double(void **state)
{
	uint64_t ns = 1796111529123456789ull;

	(void)state;
	assert_true(ns > (1ull << 53));
	assert_true((uint64_t)(double)ns != ns);
	check(ns, "2026-12-01T07:52:09.123456789Z");
	check(ns + 1, "2026-12-01T07:52:09.123456790Z");
	check(UINT64_MAX, "2554-07-21T23:34:33.709551615Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_epoch_and_leading_zeros),
		cmocka_unit_test(test_rfc3339_calendar),
		cmocka_unit_test(test_rfc3339_exact_beyond_a_double),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
