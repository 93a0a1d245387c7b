// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Under ThreadSanitizer, siglongjmp must be the one it intercepts (it
 * notes that the jump left the signal handler): _FORTIFY_SOURCE would make
 * it __longjmp_chk, which it does not see, and every later malloc on the
 * thread would count as a call inside the handler.
 */
#if defined(__SANITIZE_THREAD__)
#undef _FORTIFY_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "guard.h"

#define MAX_REGIONS	64

/*
 * A registered mapping. The handler reads the table without a lock (it
 * may not take one): base is written last on register, cleared first on
 * unregister, so a slot it finds in use has its len and origin.
 */
struct region {
	_Atomic(uintptr_t) base;	/* 0: slot free */
	_Atomic(size_t) len;
	_Atomic(uint64_t) origin;	/* pool offset of base */
};

static struct region regions[MAX_REGIONS];
static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_err;
static struct sigaction prev_action;	/* restored for a SIGBUS not ours */

/* This thread's innermost guarded block; only this thread and its handler. */
static _Thread_local struct famfs_guard *current;

static _Atomic(uint64_t) st_count, st_off, st_ns;
static _Atomic(int) st_code;

bool famfs_guard_on;

/* Async-signal-safe: atomics and clock_gettime only. */
static void note(uint64_t off, int code)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	atomic_store(&st_off, off);
	atomic_store(&st_code, code);
	atomic_store(&st_ns, (uint64_t)ts.tv_sec * 1000000000ull +
		     (uint64_t)ts.tv_nsec);
	atomic_fetch_add(&st_count, 1);
}

bool famfs_guard_offset(const void *addr, uint64_t *ret_off)
{
	uintptr_t a = (uintptr_t)addr;

	for (unsigned int i = 0; i < MAX_REGIONS; i++) {
		uintptr_t b = atomic_load(&regions[i].base);

		if (b && a >= b && a - b < atomic_load(&regions[i].len)) {
			*ret_off = atomic_load(&regions[i].origin) + (a - b);
			return true;
		}
	}
	return false;
}

/*
 * Not a fault we can answer: die of it exactly as without our handler.
 * Put the previous action back (the default, or a sanitizer's handler);
 * a fault then recurs when the instruction runs again on return, and a
 * signal somebody sent is sent again.
 */
static void not_ours(int sig, const siginfo_t *si)
{
	sigaction(SIGBUS, &prev_action, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	struct famfs_guard *g = current;
	int saved_errno = errno;
	uint64_t off;

	/* si_code > 0: raised by the kernel for this access, not sent. */
	if (si->si_code > 0 && famfs_guard_offset(si->si_addr, &off)) {
		if (si->si_code == BUS_MCEERR_AO) {
			/* Early notice of a bad line nobody touched yet. */
			note(off, si->si_code);
			errno = saved_errno;
			return;
		}
		if (g) {
			note(off, si->si_code);
			/*
			 * The jump keeps the handler's signal mask. Ours blocks
			 * nothing (SA_NODEFER, empty sa_mask), but a wrapper of
			 * sigaction may install another: ThreadSanitizer's
			 * blocks nearly every signal, and a thread left so
			 * would take no further SIGBUS and no cancellation
			 * (libfuse stops its workers with pthread_cancel: the
			 * agent hung at exit). Put back the mask the fault
			 * interrupted; a system call on the fault path only.
			 */
			pthread_sigmask(SIG_SETMASK,
					&((ucontext_t *)uctx)->uc_sigmask, NULL);
			current = g->prev;
			g->fault_addr = si->si_addr;
			g->fault_off = off;
			g->fault_code = si->si_code;
			siglongjmp(g->env, 1);
		}
	}
	not_ours(sig, si);
	errno = saved_errno;
}

bool famfs_guard_enabled(void)
{
	const char *e = getenv("FAMFSD_GUARD");

	return !e || strcmp(e, "off") != 0;
}

static void install(void)
{
	struct sigaction sa;

	if (!famfs_guard_enabled())
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	/*
	 * SA_NODEFER: SIGBUS stays unblocked in the handler, so the jump
	 * out of it (sigsetjmp without the mask, no system call per guard)
	 * leaves the thread's mask as it was. SA_ONSTACK: a thread that has
	 * an alternate stack (sanitizers set one) uses it; the others take
	 * the handler on their own stack, which a pool fault leaves intact.
	 */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &prev_action) < 0) {
		init_err = -errno;
		return;
	}
	famfs_guard_on = true;
}

int famfs_guard_init(void)
{
	pthread_once(&init_once, install);
	return init_err;
}

int famfs_guard_register(const void *base, size_t len, uint64_t origin)
{
	int r = famfs_guard_init();

	if (r < 0)
		return r;
	pthread_mutex_lock(&regions_lock);
	r = -ENOSPC;
	for (unsigned int i = 0; i < MAX_REGIONS; i++) {
		if (atomic_load(&regions[i].base))
			continue;
		atomic_store(&regions[i].len, len);
		atomic_store(&regions[i].origin, origin);
		atomic_store(&regions[i].base, (uintptr_t)base);
		r = 0;
		break;
	}
	pthread_mutex_unlock(&regions_lock);
	return r;
}

void famfs_guard_set_origin(const void *base, uint64_t origin)
{
	pthread_mutex_lock(&regions_lock);
	for (unsigned int i = 0; i < MAX_REGIONS; i++)
		if (atomic_load(&regions[i].base) == (uintptr_t)base)
			atomic_store(&regions[i].origin, origin);
	pthread_mutex_unlock(&regions_lock);
}

void famfs_guard_unregister(const void *base)
{
	pthread_mutex_lock(&regions_lock);
	for (unsigned int i = 0; i < MAX_REGIONS; i++)
		if (atomic_load(&regions[i].base) == (uintptr_t)base)
			atomic_store(&regions[i].base, 0);
	pthread_mutex_unlock(&regions_lock);
}

void famfs_guard_push(struct famfs_guard *g)
{
	g->prev = current;
	g->fault_addr = NULL;
	g->fault_off = 0;
	g->fault_code = 0;
	current = g;
	/* Linked before the block's first access, as the handler sees it. */
	atomic_signal_fence(memory_order_seq_cst);
}

void famfs_guard_end(struct famfs_guard *g)
{
	atomic_signal_fence(memory_order_seq_cst);
	/*
	 * Blocks end innermost first: anything else is a block left without
	 * its end, whose frame a later fault would jump into.
	 */
	if (current != g)
		abort();
	current = g->prev;
}

int famfs_guard_copy(void *dst, const void *src, size_t n, uint64_t *ret_off)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g)) {
		*ret_off = g.fault_off;
		return -EIO;
	}
	memcpy(dst, src, n);
	famfs_guard_end(&g);
	return 0;
}

bool famfs_guard_probe(const void *p, struct famfs_guard *ret)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g)) {
		*ret = g;
		return true;
	}
	(void)*(const volatile uint8_t *)p;
	famfs_guard_end(&g);
	return false;
}

void famfs_guard_note(uint64_t off)
{
	note(off, 0);
}

void famfs_guard_get_stats(struct famfs_guard_stats *ret)
{
	ret->count = atomic_load(&st_count);
	ret->last_off = atomic_load(&st_off);
	ret->last_ns = atomic_load(&st_ns);
	ret->last_code = atomic_load(&st_code);
}

const char *famfs_guard_code_name(int code)
{
	switch (code) {
	case BUS_ADRERR:
		return "no memory behind it (the pool file was truncated?)";
	case BUS_MCEERR_AR:
	case BUS_MCEERR_AO:
		return "uncorrectable memory error (poisoned)";
	case BUS_OBJERR:
		return "hardware error";
	case 0:
		return "the kernel could not copy from it";
	default:
		return "bus error";
	}
}
