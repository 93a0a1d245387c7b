// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Cache maintenance ops with the real instructions: mode names, the modes
 * this CPU offers, and that the ops keep the data. test_cache_lines.c
 * checks which lines and instructions each op uses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

#if defined(__x86_64__)
/* True when the kernel lists flag among the first CPU's "flags". */
static bool cpu_flag(const char *flag)
{
	char line[8192], *save = NULL;
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && strncmp(line, "flags", 5) != 0)
		;
	assert_int_equal(strncmp(line, "flags", 5), 0);
	for (char *w = strtok_r(line + 5, " \t:\n", &save); w && !found;
	     w = strtok_r(NULL, " \t:\n", &save))
		found = strcmp(w, flag) == 0;
	fclose(f);
	return found;
}

/*
 * The modes this CPU offers are the ones the kernel's CPUID decoding
 * lists, and AUTO takes the best of them.
 */
static void test_modes_match_cpu_flags(void **state)
{
	bool clwb = cpu_flag("clwb"), clflushopt = cpu_flag("clflushopt");
	bool clflush = cpu_flag("clflush");
	const char *best = clwb && clflushopt ? "clwb" :
			   clflushopt ? "clflushopt" : "clflush";

	(void)state;
	assert_true(clflush);		/* every x86-64 CPU */
	assert_int_equal(famfs_cache_ops_get(FAMFS_COH_CLWB) != NULL,
			 clwb && clflushopt);
	assert_int_equal(famfs_cache_ops_get(FAMFS_COH_CLFLUSHOPT) != NULL,
			 clflushopt);
	assert_non_null(famfs_cache_ops_get(FAMFS_COH_CLFLUSH));
	assert_string_equal(famfs_cache_ops_get(FAMFS_COH_AUTO)->name, best);
}
#endif

/*
 * A smoke test of the real instructions of every mode this CPU has, on
 * ranges of any alignment: each runs (a wrong encoding would be SIGILL, an
 * address computed past the range SIGSEGV at the mapping's edge) and none
 * stores to memory. On coherent DRAM the bytes survive even a no-op flush,
 * so this cannot tell a flush from nothing: which lines an op flushes and
 * which fence it issues is test_cache_lines.c's business.
 */
static void test_real_ops_run_and_store_nothing(void **state)
{
	static uint8_t buf[3 * 4096] __attribute__((aligned(4096)));
	static const size_t offs[] = { 4096, 4097, 4096 + 63, 4096 + 64, 4196 };
	static const size_t lens[] = { 0, 1, 63, 64, 65, 128, 1000, 4096 };

	(void)state;
	for (int mode = FAMFS_COH_AUTO; mode <= FAMFS_COH_NONE; mode++) {
		const struct famfs_cache_ops *ops =
			famfs_cache_ops_get((enum famfs_coherence)mode);

		if (!ops)
			continue;	/* checked by test_modes_match_cpu_flags */
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
				uint8_t v = (uint8_t)(0x80 | (i * 8 + j));

				memset(buf, 0x5a, sizeof(buf));
				memset(buf + offs[i], v, lens[j]);
				ops->flush(buf + offs[i], lens[j]);
				ops->wfence();
				ops->invalidate(buf + offs[i], lens[j]);
				ops->rfence();
				for (size_t k = 0; k < sizeof(buf); k++) {
					bool in = k >= offs[i] && k < offs[i] + lens[j];

					if (buf[k] != (in ? v : 0x5a))
						fail_msg("%s: byte %zu is %#x after "
							 "[%zu, +%zu)", ops->name, k,
							 buf[k], offs[i], lens[j]);
				}
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_none_and_auto),
#if defined(__x86_64__)
		cmocka_unit_test(test_modes_match_cpu_flags),
#endif
		cmocka_unit_test(test_real_ops_run_and_store_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
