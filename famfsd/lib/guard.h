/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guarded access to pool memory. A load or store to the pool mapping can
 * raise SIGBUS: the pool file was truncated under us (the page is gone), or
 * the memory reported an uncorrectable error (a poisoned line or page:
 * BUS_MCEERR_AR). Left alone, that kills the daemon and every mount it
 * serves. With the guard it is an error for the one file or record.
 *
 * How: every pool mapping is registered (famfs_pooldev does it), and one
 * process-wide SIGBUS handler looks at the faulting address. If the
 * faulting thread is inside a guarded block and the address is inside a
 * registered mapping, the handler jumps back to the start of that block
 * (siglongjmp), which then reports the fault; any other SIGBUS (a bug, a
 * file we did not register, a signal sent with kill) still kills the
 * process with SIGBUS as if there were no handler.
 *
 *	struct famfs_guard g;
 *
 *	if (famfs_guard_begin(&g)) {
 *		... loads and stores to the pool ...
 *		famfs_guard_end(&g);
 *	} else {
 *		... g.fault_off: the pool offset that faulted ...
 *	}
 *
 * The block must end with famfs_guard_end() on every path that leaves it
 * normally (no return, break or goto out of it), must not be entered by a
 * jump, and must not hold a lock or an allocation a jump would lose:
 * after a fault, control resumes at famfs_guard_begin() with whatever the
 * block changed left as it was. Locals the block modifies and the fault
 * path reads must be volatile. The cost is one sigsetjmp without the signal
 * mask (no system call), so guard a request or a record, not a cache line.
 */
#ifndef FAMFSD_GUARD_H
#define FAMFSD_GUARD_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct famfs_guard {
	sigjmp_buf env;
	struct famfs_guard *prev;	/* the enclosing guard of this thread */
	const void *fault_addr;		/* set when the block faulted */
	uint64_t fault_off;		/* its offset in the registered mapping */
	int fault_code;			/* si_code: BUS_ADRERR, BUS_MCEERR_AR, ... */
};

/* Process-wide count of pool faults caught (and of famfs_guard_note()). */
struct famfs_guard_stats {
	uint64_t count;
	uint64_t last_off;		/* pool offset of the last one */
	uint64_t last_ns;		/* CLOCK_REALTIME of the last one; 0: none */
	int last_code;			/* its si_code, 0 for a noted EFAULT */
};

/*
 * Installs the SIGBUS handler (once; later calls do nothing). Returns 0 or
 * -errno. famfs_guard_register() calls it.
 */
int famfs_guard_init(void);

/*
 * Registers [base, base + len) as pool memory; origin is the pool offset of
 * base, so faults are reported as pool offsets. -ENOSPC when the table of
 * mappings (64) is full. famfs_guard_unregister(base) before unmapping.
 */
int famfs_guard_register(const void *base, size_t len, uint64_t origin);
void famfs_guard_set_origin(const void *base, uint64_t origin);
void famfs_guard_unregister(const void *base);

/* The pool offset of addr, if it lies in a registered mapping. */
bool famfs_guard_offset(const void *addr, uint64_t *ret_off);

/* Internal to famfs_guard_begin(): links g as this thread's guard. */
void famfs_guard_push(struct famfs_guard *g);

/*
 * True on entry; false when the block faulted, with g->fault_* set and g
 * already unlinked. A macro: sigsetjmp must run in the caller's frame.
 * savemask 0 (no system call): the handler runs with SA_NODEFER, so the
 * jump leaves the signal mask as it was at the fault.
 */
#define famfs_guard_begin(g) \
	(famfs_guard_push(g), !famfs_guard_on || sigsetjmp((g)->env, 0) == 0)

/* Whether the handler is installed (famfs_guard_enabled()). */
extern bool famfs_guard_on;

/* Leaves the block normally. */
void famfs_guard_end(struct famfs_guard *g);

/*
 * memcpy that survives a fault in dst or src: 0, or -EIO with *ret_off
 * the pool offset that faulted.
 */
int famfs_guard_copy(void *dst, const void *src, size_t n, uint64_t *ret_off);

/*
 * One load at p under a guard: true when it faults, with ret's fault_*
 * fields saying where and how (to find the exact page of a failed copy).
 */
bool famfs_guard_probe(const void *p, struct famfs_guard *ret);

/*
 * Counts a media error that no signal told us about (a kernel copy from the
 * mapping that failed with EFAULT), at pool offset off.
 */
void famfs_guard_note(uint64_t off);

void famfs_guard_get_stats(struct famfs_guard_stats *ret);

/* "missing page (pool file truncated?)", "memory error (poisoned)", ... */
const char *famfs_guard_code_name(int code);

/*
 * Tests and benchmarks: FAMFSD_GUARD=off in the environment makes
 * famfs_guard_init() install nothing (a fault then kills, as before), so
 * make bench can measure the guards' cost in the same run.
 */
bool famfs_guard_enabled(void);

#endif
