// SPDX-License-Identifier: GPL-2.0-or-later
/* Cache maintenance ops: names, selection, and that every op is safe. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"

static void test_parse(void **state)
{
	static const struct { const char *s; enum famfs_coherence m; } ok[] = {
		{ "auto", FAMFS_COH_AUTO }, { "clwb", FAMFS_COH_CLWB },
		{ "clflushopt", FAMFS_COH_CLFLUSHOPT },
		{ "clflush", FAMFS_COH_CLFLUSH }, { "none", FAMFS_COH_NONE },
	};
	enum famfs_coherence m;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		m = (enum famfs_coherence)99;
		assert_int_equal(famfs_coherence_parse(ok[i].s, &m), 0);
		assert_int_equal(m, ok[i].m);
	}
	m = FAMFS_COH_CLWB;
	assert_int_equal(famfs_coherence_parse("", &m), -EINVAL);
	assert_int_equal(famfs_coherence_parse("NONE", &m), -EINVAL);
	assert_int_equal(famfs_coherence_parse("none ", &m), -EINVAL);
	assert_int_equal(famfs_coherence_parse("clflushop", &m), -EINVAL);
	assert_int_equal(m, FAMFS_COH_CLWB);	/* untouched on error */
}

static void test_none_and_auto(void **state)
{
	const struct famfs_cache_ops *n = famfs_cache_ops_get(FAMFS_COH_NONE);
	const struct famfs_cache_ops *a = famfs_cache_ops_get(FAMFS_COH_AUTO);

	(void)state;
	assert_non_null(n);
	assert_string_equal(n->name, "none");
	assert_non_null(a);		/* every CPU has some way to run */
	assert_non_null(a->name);
#if defined(__x86_64__)
	/* x86-64 always has CLFLUSH, so AUTO never falls back to "none". */
	assert_string_not_equal(a->name, "none");
	assert_non_null(famfs_cache_ops_get(FAMFS_COH_CLFLUSH));
#endif
	assert_null(famfs_cache_ops_get((enum famfs_coherence)42));
}

/* Each available mode flushes and invalidates any range without harm. */
static void test_ops_preserve_data(void **state)
{
	static uint8_t buf[8192] __attribute__((aligned(64)));
	static const size_t offs[] = { 0, 1, 63, 64, 100 };
	static const size_t lens[] = { 1, 63, 64, 65, 128, 1000, 4096 };

	(void)state;
	for (int mode = FAMFS_COH_AUTO; mode <= FAMFS_COH_NONE; mode++) {
		const struct famfs_cache_ops *ops =
			famfs_cache_ops_get((enum famfs_coherence)mode);

		if (!ops)
			continue;	/* this CPU lacks the instruction */
		assert_non_null(ops->flush);
		assert_non_null(ops->invalidate);
		assert_non_null(ops->wfence);
		assert_non_null(ops->rfence);
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
				uint8_t *p = buf + offs[i];

				memset(p, (int)(i * 16 + j), lens[j]);
				ops->flush(p, lens[j]);
				ops->wfence();
				ops->invalidate(p, lens[j]);
				ops->rfence();
				/* Write-back first: nothing written is lost. */
				for (size_t k = 0; k < lens[j]; k++)
					assert_int_equal(p[k], (uint8_t)(i * 16 + j));
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_none_and_auto),
		cmocka_unit_test(test_ops_preserve_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
