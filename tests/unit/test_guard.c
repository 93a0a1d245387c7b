// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * lib/guard: a fault in a registered mapping inside a guarded block is an
 * error for that block (a memfd mapped, then truncated under the mapping);
 * any other SIGBUS still kills the process (checked in a child).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "guard.h"
#include "log.h"
#include "super.h"

#define PAGE	4096u
#define PAGES	4u
#define ORIGIN	(1ull << 30)	/* pool offset of the mapping's first byte */

/*
 * Ours, saved in main: cmocka puts its own handler on SIGBUS while a test
 * runs, so each test puts ours back for its duration.
 */
static struct sigaction guard_action;

static void ours(void)
{
	assert_int_equal(sigaction(SIGBUS, &guard_action, NULL), 0);
}

struct mapping {
	int fd;
	uint8_t *p;
};

/* PAGES pages of a memfd, written, then cut to keep pages. */
static void map_truncated(struct mapping *m, unsigned int keep, bool reg)
{
	m->fd = memfd_create("guard-test", MFD_CLOEXEC);
	assert_true(m->fd >= 0);
	assert_int_equal(ftruncate(m->fd, PAGES * PAGE), 0);
	m->p = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		    m->fd, 0);
	assert_true(m->p != MAP_FAILED);
	memset(m->p, 0x5a, PAGES * PAGE);
	if (reg)
		assert_int_equal(famfs_guard_register(m->p, PAGES * PAGE, ORIGIN), 0);
	assert_int_equal(ftruncate(m->fd, (off_t)keep * PAGE), 0);
}

static void unmap(struct mapping *m)
{
	famfs_guard_unregister(m->p);
	munmap(m->p, PAGES * PAGE);
	close(m->fd);
}

static void test_copy_survives_truncation(void **state)
{
	struct famfs_guard_stats before, after;
	uint8_t buf[PAGE];
	struct mapping m;
	uint64_t off = 0;

	(void)state;
	ours();
	map_truncated(&m, 1, true);
	famfs_guard_get_stats(&before);
	/* The page still there reads right. */
	assert_int_equal(famfs_guard_copy(buf, m.p + 100, 64, &off), 0);
	assert_int_equal(buf[0], 0x5a);
	/* A page past the new end: -EIO, and where. */
	assert_int_equal(famfs_guard_copy(buf, m.p + 2 * PAGE + 8, 64, &off), -EIO);
	assert_int_equal(off, ORIGIN + 2 * PAGE + 8);
	/* Stores fault the same way. */
	assert_int_equal(famfs_guard_copy(m.p + 3 * PAGE, buf, 16, &off), -EIO);
	assert_int_equal(off, ORIGIN + 3 * PAGE);
	famfs_guard_get_stats(&after);
	assert_int_equal(after.count, before.count + 2);
	assert_int_equal(after.last_off, ORIGIN + 3 * PAGE);
	assert_int_equal(after.last_code, BUS_ADRERR);
	assert_true(after.last_ns > 0);
	/* The thread is usable afterwards: the signal is not left blocked. */
	assert_int_equal(famfs_guard_copy(buf, m.p + 2 * PAGE, 1, &off), -EIO);
	unmap(&m);
}

/*
 * A wrapper of sigaction may run our handler with every signal blocked
 * (ThreadSanitizer's does); the jump must leave the thread with the mask
 * the fault interrupted, or it takes no cancellation and no other signal.
 */
static void test_fault_keeps_the_signal_mask(void **state)
{
	struct sigaction wrapped = guard_action;
	sigset_t before, after;
	uint8_t buf[8];
	struct mapping m;
	uint64_t off = 0;

	(void)state;
	sigfillset(&wrapped.sa_mask);
	wrapped.sa_flags &= ~SA_NODEFER;
	assert_int_equal(sigaction(SIGBUS, &wrapped, NULL), 0);
	map_truncated(&m, 1, true);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &before), 0);
	assert_int_equal(famfs_guard_copy(buf, m.p + 2 * PAGE, 8, &off), -EIO);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &after), 0);
	for (int sig = 1; sig < NSIG; sig++)
		assert_int_equal(sigismember(&after, sig), sigismember(&before, sig));
	unmap(&m);
	ours();
}

/* An inner block's fault returns to the inner block, the outer goes on. */
static void test_nested(void **state)
{
	struct famfs_guard outer, inner;
	struct mapping m;

	(void)state;
	ours();
	map_truncated(&m, 2, true);
	if (!famfs_guard_begin(&outer))
		fail_msg("the outer block saw the inner block's fault");
	assert_true(famfs_guard_probe(m.p + 3 * PAGE, &inner));
	assert_int_equal(inner.fault_off, ORIGIN + 3 * PAGE);
	assert_false(famfs_guard_probe(m.p + PAGE, &inner));
	famfs_guard_end(&outer);
	unmap(&m);
}

/*
 * Runs fn in a child: the signal that ended it, -1 for a sanitizer's exit
 * status, 0 for any other exit.
 */
static int child_signal(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* The sanitizer's report of the expected crash is noise here. */
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		return WTERMSIG(status);
	/* A sanitizer's exit after its report (ASan 1, TSan 66); 3, 4 are ours. */
	switch (WEXITSTATUS(status)) {
	case 1:
	case 66:
		return -1;
	default:
		return 0;
	}
}

/* A guarded block touching a mapping nobody registered. */
static void touch_unregistered(void)
{
	struct famfs_guard g;
	struct mapping m;

	map_truncated(&m, 1, false);
	if (!famfs_guard_begin(&g))
		_exit(3);	/* wrongly caught */
	(void)*(volatile uint8_t *)(m.p + 2 * PAGE);
	famfs_guard_end(&g);
	_exit(4);
}

/* A registered mapping touched outside any guarded block. */
static void touch_unguarded(void)
{
	struct mapping m;

	map_truncated(&m, 1, true);
	(void)*(volatile uint8_t *)(m.p + 2 * PAGE);
	_exit(4);
}

/* A SIGBUS somebody sent, inside a guarded block. */
static void sent_signal(void)
{
	struct famfs_guard g;

	assert_int_equal(famfs_guard_init(), 0);
	if (!famfs_guard_begin(&g))
		_exit(3);
	kill(getpid(), SIGBUS);
	famfs_guard_end(&g);
	_exit(4);
}

/*
 * What a SIGBUS not ours ends in: the action before ours, which is the
 * default (death by SIGBUS) or, in a sanitizer build, the sanitizer's
 * handler (a report, then its exit status).
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KILLED_BY_SIGBUS	(-1)
#else
#define KILLED_BY_SIGBUS	SIGBUS
#endif

static void test_not_ours_still_kills(void **state)
{
	(void)state;
	ours();
	assert_int_equal(child_signal(touch_unregistered), KILLED_BY_SIGBUS);
	assert_int_equal(child_signal(touch_unguarded), KILLED_BY_SIGBUS);
	assert_int_equal(child_signal(sent_signal), KILLED_BY_SIGBUS);
}

/*
 * The superblock: a copy whose page faults is skipped on write and read
 * as a bad copy; both faulting is -EIO for the write, nothing crashes.
 */
static void test_superblock_copy_that_faults(void **state)
{
	const struct famfs_cache_ops *ops = famfs_cache_ops_get(FAMFS_COH_NONE);
	struct famfs_pool_info info, got;
	struct famfs_sb_status st;
	struct mapping m;

	(void)state;
	ours();
	assert_int_equal(famfs_sb_plan(64u << 20, 0, 4u << 20, &info, NULL), 0);
	info.log_generation = 1;
	map_truncated(&m, 1, true);		/* copy A's page only */
	assert_int_equal(famfs_sb_write(m.p, &info, ops), 0);
	assert_int_equal(famfs_sb_load(m.p, 64u << 20, ops, &got, &st), 0);
	assert_int_equal(st.used, 0);
	assert_non_null(strstr(st.reason[1], "memory error"));
	assert_int_equal(ftruncate(m.fd, 0), 0);
	assert_int_equal(famfs_sb_write(m.p, &info, ops), -EIO);
	assert_int_equal(famfs_sb_load(m.p, 64u << 20, ops, &got, &st), -EUCLEAN);
	unmap(&m);
}

/* ---- the log over memory that faults ------------------------------------- */

#define LOG_SIZE	(1u << 20)	/* four areas of 256 KiB */
#define AREA		(LOG_SIZE / 4)
#define N_RECORDS	40

struct faults {
	unsigned int n, record_copy0;
	const char *reason;
};

static void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct faults *f = ctx;

	f->n++;
	if (d->part == FAMFS_LOG_PART_RECORD && d->copy == 0 && !d->both)
		f->record_copy0++;
	f->reason = d->reason;
}

/*
 * A log region whose first area (copy 0 of generation 1) is a memfd of
 * its own, the rest another: cutting the first memfd makes every line of
 * copy 0 fault, as a poisoned or truncated range would, copy 1 intact.
 */
struct split_log {
	int fd0, fd1;
	uint8_t *base;
};

static void split_log_map(struct split_log *l)
{
	l->base = mmap(NULL, LOG_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	assert_true(l->base != MAP_FAILED);
	l->fd0 = memfd_create("copy0", MFD_CLOEXEC);
	l->fd1 = memfd_create("rest", MFD_CLOEXEC);
	assert_int_equal(ftruncate(l->fd0, AREA), 0);
	assert_int_equal(ftruncate(l->fd1, LOG_SIZE - AREA), 0);
	assert_true(mmap(l->base, AREA, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, l->fd0, 0) == l->base);
	assert_true(mmap(l->base + AREA, LOG_SIZE - AREA, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, l->fd1, 0) == l->base + AREA);
	assert_int_equal(famfs_guard_register(l->base, LOG_SIZE, 0), 0);
}

static void split_log_unmap(struct split_log *l)
{
	famfs_guard_unregister(l->base);
	munmap(l->base, LOG_SIZE);
	close(l->fd0);
	close(l->fd1);
}

/* Reads every record; the count read. */
static int read_records(struct famfs_log *r, struct famfs_log_pos *tail)
{
	const struct famfs_rec_hdr *h;
	struct famfs_log_error err;
	struct famfs_log_pos pos;
	int n = 0, got;

	assert_int_equal(famfs_log_read_tail(r, tail, &err), 0);
	pos = famfs_log_start(r);
	while ((got = famfs_log_next(r, &pos, tail, &h, &err)) == 1) {
		assert_int_equal(le64toh(h->seq), (uint64_t)n + 1);
		n++;
	}
	assert_int_equal(got, 0);
	return n;
}

/*
 * Copy 0 of the whole log faults: the reader still opens it, reads every
 * record from copy 1 and reports each copy-0 record as damaged by a memory
 * error; repair answers -EAGAIN (the lines stay bad); the writer goes on
 * appending into copy 1 (copy 0 reported) and readers see the new record;
 * with everything gone appends and a new generation's seal fail with -EIO.
 */
static void test_log_copy_that_faults(void **state)
{
	const struct famfs_cache_ops *ops = famfs_cache_ops_get(FAMFS_COH_NONE);
	struct famfs_log_damage last;
	struct famfs_log_error err;
	struct famfs_log_pos tail;
	struct faults f = { 0 };
	struct famfs_log *w, *r, *g2;
	struct split_log l;
	uint8_t payload[100];

	(void)state;
	ours();
	split_log_map(&l);
	famfs_log_format(l.base, LOG_SIZE, 1, ops);
	assert_int_equal(famfs_log_open(l.base, LOG_SIZE, 1, ops, &w, &err), 0);
	famfs_log_writer_start(w, &(struct famfs_log_pos){ 0 });
	memset(payload, 0x33, sizeof(payload));
	for (int i = 0; i < N_RECORDS; i++)
		assert_int_equal(famfs_log_append(w, FAMFS_REC_SET_QUOTA, 1, payload,
						  sizeof(payload), NULL), 0);
	famfs_log_publish(w);

	assert_int_equal(ftruncate(l.fd0, 0), 0);
	assert_int_equal(famfs_log_open(l.base, LOG_SIZE, 1, ops, &r, &err), 0);
	famfs_log_set_damage_hook(r, on_damage, &f);
	assert_true(f.n >= 1);			/* the header line of copy 0 */
	assert_non_null(strstr(f.reason, "memory error"));
	assert_int_equal(read_records(r, &tail), N_RECORDS);
	assert_int_equal(tail.seq, N_RECORDS);
	assert_int_equal(f.record_copy0, N_RECORDS);
	assert_non_null(strstr(f.reason, "memory error"));

	last = (struct famfs_log_damage){
		.part = FAMFS_LOG_PART_RECORD, .copy = 0, .seq = 1,
		.offset = 0, .len = famfs_rec_size(sizeof(payload)),
	};
	assert_int_equal(famfs_log_repair(r, &last), -EAGAIN);

	/* The writer: copy 0 reported, copy 1 written, the record readable. */
	f = (struct faults){ 0 };
	famfs_log_set_damage_hook(w, on_damage, &f);
	f = (struct faults){ 0 };
	assert_int_equal(famfs_log_append(w, FAMFS_REC_SET_QUOTA, 1, payload,
					  sizeof(payload), NULL), 0);
	assert_int_equal(f.record_copy0, 1);
	famfs_log_publish(w);
	assert_int_equal(read_records(r, &tail), N_RECORDS + 1);

	/* Both copies gone: the append fails, nothing crashes. */
	assert_int_equal(ftruncate(l.fd1, 0), 0);
	/* Generation 2 (areas 1 and 3, both gone): its seal says so. */
	assert_int_equal(famfs_log_create(l.base, LOG_SIZE, 2, ops, &g2), 0);
	assert_int_equal(famfs_log_ckpt_seal(g2, &(struct famfs_log_base){
		.max_ino = 1 }), -EIO);
	famfs_log_free(g2);
	assert_int_equal(famfs_log_append(w, FAMFS_REC_SET_QUOTA, 1, payload,
					  sizeof(payload), NULL), -EIO);
	assert_int_equal(famfs_log_read_tail(r, &tail, &err), -EUCLEAN);
	famfs_log_free(r);
	famfs_log_free(w);
	split_log_unmap(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_survives_truncation),
		cmocka_unit_test(test_fault_keeps_the_signal_mask),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_not_ours_still_kills),
		cmocka_unit_test(test_superblock_copy_that_faults),
		cmocka_unit_test(test_log_copy_that_faults),
	};

	unsetenv("FAMFSD_GUARD");	/* the guard is what is tested */
	if (famfs_guard_init() < 0 || sigaction(SIGBUS, NULL, &guard_action) < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
