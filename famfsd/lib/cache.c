// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cache.h"
#include "famfsd_format.h"

#define LINE_MASK ((uintptr_t)FAMFS_CACHELINE - 1)

/*
 * The only places that execute a cache or fence instruction. The unit test
 * tests/unit/test_cache_lines.c compiles this file with FAMFS_CACHE_TEST
 * defined and its own recorders in their place, to check which lines each
 * op touches and which instruction it uses; the library build has no hook.
 */
#ifndef FAMFS_CACHE_TEST
#define LINE_OP(insn, p) \
	__asm__ volatile(insn " %0" : "+m"(*(volatile char *)(p)))
#define FENCE_OP(insn)	__asm__ volatile(insn ::: "memory")
#define FULL_FENCE()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

/*
 * Walks p over every cache line that overlaps [addr, addr+len); an empty
 * range overlaps none (rounding addr down must not make it one line).
 */
#define for_each_line(p, addr, len)					\
	for (uintptr_t p = (uintptr_t)(addr) & ~LINE_MASK,		\
	     p##_end = (len) ? (uintptr_t)(addr) + (len) : 0;		\
	     p < p##_end; p += FAMFS_CACHELINE)

static void coherent_nop(const void *addr, size_t len)
{
	(void)addr;
	(void)len;
}

static void full_fence(void)
{
	FULL_FENCE();
}

#if defined(__x86_64__)
#include <cpuid.h>

static void x86_sfence(void)
{
	FENCE_OP("sfence");
}

static void x86_mfence(void)
{
	FENCE_OP("mfence");
}

static void clwb_range(const void *addr, size_t len)
{
	for_each_line(p, addr, len)
		LINE_OP("clwb", p);
}

static void clflushopt_range(const void *addr, size_t len)
{
	for_each_line(p, addr, len)
		LINE_OP("clflushopt", p);
}

static void clflush_range(const void *addr, size_t len)
{
	for_each_line(p, addr, len)
		LINE_OP("clflush", p);
}

/*
 * CLWB may keep the line cached, so it cannot serve as an invalidate;
 * CLWB mode invalidates with CLFLUSHOPT, which every CLWB CPU also has.
 */
static const struct famfs_cache_ops ops_clwb = {
	.name = "clwb", .flush = clwb_range, .invalidate = clflushopt_range,
	.wfence = x86_sfence, .rfence = x86_mfence,
};
static const struct famfs_cache_ops ops_clflushopt = {
	.name = "clflushopt", .flush = clflushopt_range,
	.invalidate = clflushopt_range,
	.wfence = x86_sfence, .rfence = x86_mfence,
};
static const struct famfs_cache_ops ops_clflush = {
	.name = "clflush", .flush = clflush_range, .invalidate = clflush_range,
	.wfence = x86_sfence, .rfence = x86_mfence,
};

static int cpu_has(unsigned int leaf, int reg_ebx, unsigned int bit)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid_count(leaf, 0, &a, &b, &c, &d))
		return 0;
	return ((reg_ebx ? b : d) >> bit) & 1;
}

/* The CPU features the choice depends on, as a mask. */
enum { X86_CLFLUSH = 1, X86_CLFLUSHOPT = 2, X86_CLWB = 4 };

static unsigned int x86_features(void)
{
	return (cpu_has(1, 0, 19) ? X86_CLFLUSH : 0) |
	       (cpu_has(7, 1, 23) ? X86_CLFLUSHOPT : 0) |
	       (cpu_has(7, 1, 24) ? X86_CLWB : 0);
}

/* The ops for a mode on a CPU with these features; NULL if it lacks them. */
static const struct famfs_cache_ops *x86_ops(enum famfs_coherence mode,
					     unsigned int features)
{
	bool clwb = features & X86_CLWB, clflushopt = features & X86_CLFLUSHOPT;
	bool clflush = features & X86_CLFLUSH;

	switch (mode) {
	case FAMFS_COH_AUTO:
		if (clwb && clflushopt)
			return &ops_clwb;
		if (clflushopt)
			return &ops_clflushopt;
		return clflush ? &ops_clflush : NULL;
	case FAMFS_COH_CLWB:
		return clwb && clflushopt ? &ops_clwb : NULL;
	case FAMFS_COH_CLFLUSHOPT:
		return clflushopt ? &ops_clflushopt : NULL;
	case FAMFS_COH_CLFLUSH:
		return clflush ? &ops_clflush : NULL;
	default:
		return NULL;
	}
}
#endif

static const struct famfs_cache_ops ops_none = {
	.name = "none", .flush = coherent_nop, .invalidate = coherent_nop,
	.wfence = full_fence, .rfence = full_fence,
};

const struct famfs_cache_ops *famfs_cache_ops_get(enum famfs_coherence mode)
{
	if (mode == FAMFS_COH_NONE)
		return &ops_none;
#if defined(__x86_64__)
	return x86_ops(mode, x86_features());
#else
	/* No portable cache flush: only hardware-coherent pools work here. */
	return mode == FAMFS_COH_AUTO ? &ops_none : NULL;
#endif
}

int famfs_coherence_parse(const char *s, enum famfs_coherence *ret)
{
	static const char *const names[] = {
		[FAMFS_COH_AUTO] = "auto", [FAMFS_COH_CLWB] = "clwb",
		[FAMFS_COH_CLFLUSHOPT] = "clflushopt",
		[FAMFS_COH_CLFLUSH] = "clflush", [FAMFS_COH_NONE] = "none",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*ret = (enum famfs_coherence)i;
			return 0;
		}
	}
	return -EINVAL;
}
