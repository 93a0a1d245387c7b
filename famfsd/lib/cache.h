/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Cache maintenance for a pool shared by hosts whose caches are not coherent
 * with each other. Writers flush the lines they wrote and fence before the
 * next protocol step; readers invalidate lines before they read them.
 *
 * The instruction is chosen at run time (CLWB, CLFLUSHOPT or CLFLUSH on
 * x86-64). "coherent" mode keeps only the compiler/CPU fences, for
 * hardware-coherent pools, single-host use, and other architectures.
 * Callers go through a struct famfs_cache_ops so tests can record calls.
 */
#ifndef FAMFSD_CACHE_H
#define FAMFSD_CACHE_H

#include <stddef.h>

enum famfs_coherence {
	FAMFS_COH_AUTO = 0,	/* best flush this CPU has */
	FAMFS_COH_CLWB,
	FAMFS_COH_CLFLUSHOPT,
	FAMFS_COH_CLFLUSH,
	FAMFS_COH_NONE,		/* hardware coherent: fences only */
};

struct famfs_cache_ops {
	const char *name;
	/* Write back dirty lines covering [addr, addr+len) toward the pool. */
	void (*flush)(const void *addr, size_t len);
	/* Drop lines covering [addr, addr+len) so the next load reads the pool. */
	void (*invalidate)(const void *addr, size_t len);
	/* Order earlier flushes and stores before later stores (SFENCE). */
	void (*wfence)(void);
	/* Order earlier invalidations before later loads (MFENCE). */
	void (*rfence)(void);
};

/*
 * Ops for a mode; AUTO picks the best the CPU supports. Returns NULL when the
 * CPU lacks the requested instruction.
 */
const struct famfs_cache_ops *famfs_cache_ops_get(enum famfs_coherence mode);

/* Parse "auto", "clwb", "clflushopt", "clflush", "none"; -EINVAL otherwise. */
int famfs_coherence_parse(const char *s, enum famfs_coherence *ret);

#endif
