// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The cache ops as the instructions see them: famfsd/lib/cache.c compiled
 * into this test with FAMFS_CACHE_TEST, its instruction macros replaced by
 * a recorder. Checks that a range op issues its mode's instruction once
 * for every cache line the range overlaps, in order, and for no other
 * line; that each op uses the instruction its mode names (an invalidate
 * must never be a CLWB, which may leave the line cached); and which ops
 * each mode gets on every combination of CPU features.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#define MAX_SEEN 512

/* What the ops executed: an instruction, and the line for a line op. */
static struct {
	const char *insn[MAX_SEEN];
	uintptr_t at[MAX_SEEN];
	int n;
	int lost;		/* calls past MAX_SEEN */
} seen;

static void seen_add(const char *insn, uintptr_t at)
{
	if (seen.n == MAX_SEEN) {
		seen.lost++;
		return;
	}
	seen.insn[seen.n] = insn;
	seen.at[seen.n++] = at;
}

static void seen_reset(void)
{
	seen.n = 0;
	seen.lost = 0;
}

/* The library's instruction macros, recorded instead of executed. */
#define FAMFS_CACHE_TEST
#define LINE_OP(insn, p)	seen_add(insn, (uintptr_t)(p))
#define FENCE_OP(insn)		seen_add(insn, 0)
#define FULL_FENCE()		seen_add("full fence", 0)
#include "lib/cache.c"	/* famfsd/lib/cache.c, through -Ifamfsd */

#define LINE ((uintptr_t)FAMFS_CACHELINE)

/* Checks the record of one range op: insn on each line of [a, a+len). */
static void assert_lines(const char *insn, uintptr_t a, size_t len)
{
	uintptr_t first = a / LINE * LINE;
	int want = len ? (int)((a + len - 1) / LINE - a / LINE + 1) : 0;

	assert_int_equal(seen.lost, 0);
	if (seen.n != want)
		fail_msg("%s of [%#lx, +%zu): %d line ops, want %d", insn,
			 (unsigned long)a, len, seen.n, want);
	for (int i = 0; i < seen.n; i++) {
		assert_string_equal(seen.insn[i], insn);
		assert_int_equal(seen.at[i], first + (uintptr_t)i * LINE);
	}
}

/* A mode's ops and what each one must execute (NULL: nothing at all). */
struct mode_want {
	enum famfs_coherence mode;
	const char *name, *flush, *invalidate, *wfence, *rfence;
};

static const struct mode_want modes[] = {
#if defined(__x86_64__)
	{ FAMFS_COH_CLWB, "clwb", "clwb", "clflushopt", "sfence", "mfence" },
	{ FAMFS_COH_CLFLUSHOPT, "clflushopt", "clflushopt", "clflushopt",
	  "sfence", "mfence" },
	{ FAMFS_COH_CLFLUSH, "clflush", "clflush", "clflush", "sfence", "mfence" },
#endif
	{ FAMFS_COH_NONE, "none", NULL, NULL, "full fence", "full fence" },
};

static const struct famfs_cache_ops *ops_of(enum famfs_coherence mode)
{
#if defined(__x86_64__)
	if (mode != FAMFS_COH_NONE)
		return x86_ops(mode, X86_CLFLUSH | X86_CLFLUSHOPT | X86_CLWB);
#endif
	return famfs_cache_ops_get(mode);
}

/* One flush and one invalidate of [a, a+len) through mode m's ops. */
static void check_range(const struct mode_want *m, uintptr_t a, size_t len)
{
	const struct famfs_cache_ops *ops = ops_of(m->mode);

	seen_reset();
	ops->flush((const void *)a, len);
	if (m->flush)
		assert_lines(m->flush, a, len);
	else
		assert_int_equal(seen.n, 0);
	seen_reset();
	ops->invalidate((const void *)a, len);
	if (m->invalidate)
		assert_lines(m->invalidate, a, len);
	else
		assert_int_equal(seen.n, 0);
}

/* Every offset within two lines, every length up to five lines, and big. */
static void test_range_ops_cover_exactly_their_lines(void **state)
{
	static const size_t big[] = { 4095, 4096, 4097, 8192 + 63 };
	/* Never dereferenced: the recorder only notes addresses. */
	const uintptr_t base = (uintptr_t)0x7f0000100000ull;

	(void)state;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		assert_non_null(ops_of(modes[m].mode));
		assert_string_equal(ops_of(modes[m].mode)->name, modes[m].name);
		for (uintptr_t a = base; a < base + 2 * LINE; a++) {
			for (size_t len = 0; len <= 5 * LINE + 1; len++)
				check_range(&modes[m], a, len);
			for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++)
				check_range(&modes[m], a, big[i]);
		}
	}
}

/* Each fence is exactly one instruction, the one its mode names. */
static void test_fences(void **state)
{
	(void)state;
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		const struct famfs_cache_ops *ops = ops_of(modes[m].mode);

		seen_reset();
		ops->wfence();
		assert_int_equal(seen.n, 1);
		assert_string_equal(seen.insn[0], modes[m].wfence);
		seen_reset();
		ops->rfence();
		assert_int_equal(seen.n, 1);
		assert_string_equal(seen.insn[0], modes[m].rfence);
	}
}

#if defined(__x86_64__)
/*
 * The choice on every combination of the three CPU features: CLWB mode
 * needs CLFLUSHOPT too (its invalidate), AUTO takes the best available.
 */
static void test_choice_on_every_cpu(void **state)
{
	enum { F = X86_CLFLUSH, O = X86_CLFLUSHOPT, W = X86_CLWB };
	static const struct {
		unsigned int cpu;
		const char *autom, *clwb, *clflushopt, *clflush;
	} want[] = {
		{ 0,         NULL,         NULL,   NULL,         NULL },
		{ F,         "clflush",    NULL,   NULL,         "clflush" },
		{ O,         "clflushopt", NULL,   "clflushopt", NULL },
		{ F | O,     "clflushopt", NULL,   "clflushopt", "clflush" },
		{ W,         NULL,         NULL,   NULL,         NULL },
		{ W | F,     "clflush",    NULL,   NULL,         "clflush" },
		{ W | O,     "clwb",       "clwb", "clflushopt", NULL },
		{ W | O | F, "clwb",       "clwb", "clflushopt", "clflush" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *exp[] = {
			[FAMFS_COH_AUTO] = want[i].autom,
			[FAMFS_COH_CLWB] = want[i].clwb,
			[FAMFS_COH_CLFLUSHOPT] = want[i].clflushopt,
			[FAMFS_COH_CLFLUSH] = want[i].clflush,
		};

		for (int mode = FAMFS_COH_AUTO; mode <= FAMFS_COH_CLFLUSH; mode++) {
			const struct famfs_cache_ops *ops =
				x86_ops((enum famfs_coherence)mode, want[i].cpu);

			if (!exp[mode]) {
				if (ops)
					fail_msg("cpu %#x mode %d: got '%s', want "
						 "none", want[i].cpu, mode, ops->name);
				continue;
			}
			assert_non_null(ops);
			assert_string_equal(ops->name, exp[mode]);
		}
		assert_null(x86_ops((enum famfs_coherence)42, want[i].cpu));
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range_ops_cover_exactly_their_lines),
		cmocka_unit_test(test_fences),
#if defined(__x86_64__)
		cmocka_unit_test(test_choice_on_every_cpu),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
