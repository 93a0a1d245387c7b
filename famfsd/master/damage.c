// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Damaged copies of the log, found and repaired while the master runs.
 *
 * Every reader of the log the master owns reports a copy it found bad
 * (famfs_log_set_damage_hook) and goes on with the good one: its own
 * replay of each published record, the compaction's private reader, and
 * the scrub (master/scrub.c), which re-reads the whole current generation
 * in the background at --scrub-rate. A report only enters the table
 * (master/damage_table.c: each damaged copy once, with its place); one
 * thread, the damage thread, then repairs under m->lock and scrubs
 * without it:
 *
 *   - a record, checkpoint item or area header bad in one copy: the good
 *     copy is written over it (famfs_log_repair on the writer's log),
 *     flushed, fenced and checked;
 *   - a tail slot, in one copy or both: every slot is rewritten with the
 *     writer's published tail, which the master knows whatever the pool
 *     holds (famfs_log_set_tail);
 *   - anything else bad in both copies: the pool no longer holds that part
 *     of the state, but m->st does; a compaction is asked for, and when
 *     its private replay trips on the damage it writes the new generation
 *     from m->st under the lock (master/compact.c);
 *   - a report for a generation the log has left is moot: the switch
 *     (master_log_attached) marks it repaired by the compaction.
 *
 * Locking: d->lock guards the table and is taken inside m->lock (readers
 * report while the master holds it), never around it. Repairs hold
 * m->lock, so no publish runs meanwhile; agents reading the copy being
 * rewritten see a bad CRC, retry, and read the other copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "master/master.h"

/* An unrepaired entry is tried again on a report this long after its try. */
#define RETRY_NS		(5ull * 1000000000ull)
/* Entries repaired per hold of m->lock. */
#define REPAIR_BATCH		32u
/* The scrub looks at the clock and the queue after this many bytes. */
#define SCRUB_SLICE		(256u << 10)
/* A scrub pass starts at most this often (a small log takes no time). */
#define SCRUB_MIN_PASS_NS	1000000000ull

struct master_damage {
	pthread_mutex_t lock;		/* the table; inside m->lock */
	pthread_cond_t cond;		/* (lock) a report, a switch, stop */
	struct damage_table table;	/* (lock) */
	struct master_damage_src writer;	/* (lock) the writer's log hook */
	uint64_t log_offset;		/* (lock) the log region in the pool */
	bool stopping;			/* (lock) */
	pthread_t thread;
	bool started;
	struct master_scrub *scrub;	/* the damage thread's */
	_Atomic uint64_t scrub_bytes, scrub_passes;
};

int master_damage_new(struct master *m)
{
	struct master_damage *d = calloc(1, sizeof(*d));
	int r;

	if (!d)
		return -ENOMEM;
	r = master_scrub_new(&d->scrub);
	if (r < 0) {
		free(d);
		return r;
	}
	pthread_mutex_init(&d->lock, NULL);
	clock_cond_init(&d->cond);
	damage_table_init(&d->table);
	m->damage = d;
	return 0;
}

void master_damage_free(struct master *m)
{
	struct master_damage *d = m->damage;

	if (!d)
		return;
	master_damage_stop(m);
	master_scrub_free(d->scrub);
	damage_table_fini(&d->table);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
	m->damage = NULL;
}

/* "record 12 (generation 3, copy 0) at log offset 4392, pool offset 2101544" */
static void place(const struct damage_entry *e, char *buf, size_t size)
{
	snprintf(buf, size, "%s %" PRIu64 " (generation %" PRIu64 ", copy %u) "
		 "at log offset %" PRIu64 ", pool offset %" PRIu64,
		 famfs_log_part_name(e->d.part), e->d.seq, e->generation, e->d.copy,
		 e->d.log_offset, e->pool_offset);
}

static void log_found(const struct damage_entry *e, enum damage_add how)
{
	char at[256];

	place(e, at, sizeof(at));
	if (how == DAMAGE_ADD_NEW || how == DAMAGE_ADD_WORSE)
		msg(MSG_WARN, "log damage: %s: %s; found by the %s; %s", at,
		    e->d.reason, e->found_by == DAMAGE_BY_SCRUB ? "scrub" : "reader",
		    !e->d.both ? "the other copy is good, repairing from it" :
		    e->d.part == FAMFS_LOG_PART_TAIL ?
		    "both copies are bad, rewriting from the published tail" :
		    "both copies are bad, the master's state still holds it");
	else if (how == DAMAGE_ADD_DROPPED)
		msg(MSG_WARN, "log damage: %s: %s; too many open reports, the "
		    "scrub will find it again", at, e->d.reason);
}

void master_damage_report(void *ctx, const struct famfs_log_damage *dmg)
{
	const struct master_damage_src *src = ctx;
	struct master_damage *d = src->m->damage;
	struct damage_entry e = { .d = *dmg }, now;
	enum damage_add how;

	e.found_by = src->found_by;
	e.found_ns = clock_real_ns();
	pthread_mutex_lock(&d->lock);
	e.generation = src->generation;
	e.pool_offset = d->log_offset + dmg->log_offset;
	how = damage_table_add(&d->table, &e, clock_mono_ns(), RETRY_NS, &now);
	if (how != DAMAGE_ADD_KNOWN)
		pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	log_found(how == DAMAGE_ADD_DROPPED ? &e : &now, how);
}

void master_damage_listen(struct master *m, struct famfs_log *log,
			  struct master_damage_src *src,
			  enum damage_finder found_by)
{
	*src = (struct master_damage_src){
		.m = m, .generation = famfs_log_generation(log),
		.found_by = found_by,
	};
	famfs_log_set_damage_hook(log, master_damage_report, src);
}

void master_log_attached(struct master *m)
{
	struct master_damage *d = m->damage;
	uint64_t gen = m->pool->info.log_generation;
	size_t gone;

	pthread_mutex_lock(&d->lock);
	d->log_offset = m->pool->info.log_offset;
	d->writer = (struct master_damage_src){
		.m = m, .generation = gen, .found_by = DAMAGE_BY_READER,
	};
	gone = damage_table_switch(&d->table, gen);
	/* The scrub starts over on the new generation. */
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	/* Only used under m->lock, as d->writer is written. */
	famfs_log_set_damage_hook(m->pool->log, master_damage_report, &d->writer);
	if (gone)
		msg(MSG_INFO, "log damage: %zu damaged cop%s of generation %" PRIu64
		    " left with it; generation %" PRIu64 " holds the whole state",
		    gone, gone == 1 ? "y" : "ies", gen - 1, gen);
}

/* ---- repairs, under m->lock ------------------------------------------------ */

/* Any tail damage: every slot names the writer's published tail again. */
static int repair_tail(struct master *m)
{
	struct famfs_log_pos pub = famfs_log_published(m->pool->log), t;
	const char *why[FAMFS_LOG_TAIL_SLOTS];
	struct famfs_log_error lerr;

	famfs_log_set_tail(m->pool->log, &pub);
	if (famfs_log_read_tail(m->pool->log, &t, &lerr) < 0)
		return -EAGAIN;
	famfs_log_tail_status(m->pool->log, why);
	for (unsigned int s = 0; s < FAMFS_LOG_TAIL_SLOTS; s++)
		if (why[s])
			return -EAGAIN;
	return t.seq == pub.seq && t.end == pub.end ? 0 : -EAGAIN;
}

/* 0 repaired, -EUCLEAN both copies bad, -EAGAIN the rewrite did not hold. */
static int repair_copy(struct master *m, const struct damage_entry *e)
{
	if (e->d.part == FAMFS_LOG_PART_TAIL)
		return repair_tail(m);
	if (e->d.both)
		return -EUCLEAN;
	return famfs_log_repair(m->pool->log, &e->d);
}

static void log_outcome(const struct damage_entry *e, int r, bool moot)
{
	char at[256];
	/* A retry that fails again was said before: no new line for it. */
	enum msg_level quiet = e->tries ? MSG_DEBUG : MSG_WARN;

	place(e, at, sizeof(at));
	if (moot)
		msg(MSG_INFO, "log damage: %s: its generation was replaced "
		    "meanwhile", at);
	else if (r == 0 && e->d.part == FAMFS_LOG_PART_TAIL)
		msg(MSG_INFO, "log damage repaired: %s: every tail slot rewritten "
		    "from the published tail", at);
	else if (r == 0)
		msg(MSG_INFO, "log damage repaired: %s: rewritten from copy %u",
		    at, !e->d.copy);
	else if (r == -EUCLEAN)
		msg(quiet, "log damage: %s: both copies are bad; compacting into "
		    "a new generation from the master's state", at);
	else
		msg(quiet == MSG_WARN ? MSG_ERR : quiet, "Failed to repair log "
		    "damage at %s: %s; will retry when it is found again", at,
		    r == -EAGAIN ? "the rewritten copy still does not verify "
		    "(a poisoned line?)" : strerror(-r));
}

static void repair_one(struct master *m, const struct damage_entry *e)
{
	struct master_damage *d = m->damage;
	bool moot = e->generation != m->pool->info.log_generation;
	enum damage_state state = DAMAGE_REPAIRED;
	enum damage_fix fix = DAMAGE_FIX_COMPACTION;
	int r = 0, r2;

	if (!moot) {
		r = repair_copy(m, e);
		fix = r == 0 ? DAMAGE_FIX_COPY : DAMAGE_FIX_NONE;
		state = r == 0 ? DAMAGE_REPAIRED : DAMAGE_UNREPAIRED;
	}
	/* The state in memory has it all: a new generation from it. */
	if (r == -EUCLEAN)
		master_compact_request(m);
	pthread_mutex_lock(&d->lock);
	r2 = damage_table_resolve(&d->table, e->id, state, fix, clock_mono_ns());
	pthread_mutex_unlock(&d->lock);
	/* -ENOENT: a switch resolved it meanwhile, and said so. */
	if (r2 == 0)
		log_outcome(e, r, moot);
}

static void repair_pending(struct master *m)
{
	struct master_damage *d = m->damage;
	struct damage_entry e[REPAIR_BATCH];
	size_t n;

	master_lock(m);
	pthread_mutex_lock(&d->lock);
	n = damage_table_pending(&d->table, e, REPAIR_BATCH);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < n; i++) {
		/* Not into a pool that changed underneath (pool_watch.c). */
		if (master_may_write(m) == 0) {
			repair_one(m, &e[i]);
			continue;
		}
		/* A fenced master writes nothing, repairs included. */
		pthread_mutex_lock(&d->lock);
		damage_table_resolve(&d->table, e[i].id, DAMAGE_UNREPAIRED,
				     DAMAGE_FIX_NONE, clock_mono_ns());
		pthread_mutex_unlock(&d->lock);
	}
	master_unlock(m);
}

/* ---- the damage thread ------------------------------------------------------ */

static void wait_until(struct master_damage *d, uint64_t mono_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(mono_ns / 1000000000ull),
		.tv_nsec = (long)(mono_ns % 1000000000ull),
	};

	pthread_cond_timedwait(&d->cond, &d->lock, &ts);
}

/*
 * One slice of scrub, then when the next may start: rate MiB/s over what
 * was read, and a whole pass no sooner than SCRUB_MIN_PASS_NS after the
 * last began.
 */
static uint64_t scrub_slice(struct master *m, uint64_t *pass_start)
{
	struct master_damage *d = m->damage;
	uint64_t rate = (uint64_t)m->cfg.scrub_rate << 20;
	uint64_t now = clock_mono_ns(), bytes, next;
	enum master_scrub_end end;

	if (!*pass_start)
		*pass_start = now;
	bytes = master_scrub_step(m, d->scrub, SCRUB_SLICE, &end);
	atomic_fetch_add(&d->scrub_bytes, bytes);
	next = now + (uint64_t)((double)bytes * 1e9 / (double)rate);
	if (end == SCRUB_PASS_DONE)
		atomic_fetch_add(&d->scrub_passes, 1);
	if ((end == SCRUB_PASS_DONE || end == SCRUB_PASS_FAILED) &&
	    next < *pass_start + SCRUB_MIN_PASS_NS)
		next = *pass_start + SCRUB_MIN_PASS_NS;
	if (end != SCRUB_GOING)
		*pass_start = 0;
	/* Abandoned at a generation switch: the new one at once. */
	return end == SCRUB_ABANDONED ? now : next;
}

static void *damage_thread(void *arg)
{
	struct master *m = arg;
	struct master_damage *d = m->damage;
	uint64_t next = 0, pass_start = 0;
	struct damage_entry one;

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		if (damage_table_pending(&d->table, &one, 1)) {
			pthread_mutex_unlock(&d->lock);
			repair_pending(m);
			pthread_mutex_lock(&d->lock);
			continue;
		}
		if (!m->cfg.scrub_rate) {
			pthread_cond_wait(&d->cond, &d->lock);
			continue;
		}
		if (clock_mono_ns() < next) {
			wait_until(d, next);
			continue;
		}
		pthread_mutex_unlock(&d->lock);
		next = scrub_slice(m, &pass_start);
		pthread_mutex_lock(&d->lock);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

int master_damage_start(struct master *m)
{
	int r = pthread_create(&m->damage->thread, NULL, damage_thread, m);

	if (r)
		return -r;
	m->damage->started = true;
	return 0;
}

void master_damage_stop(struct master *m)
{
	struct master_damage *d = m->damage;

	if (!d || !d->started)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	d->started = false;
}

void master_damage_stats(struct master *m, struct master_damage_stats *ret,
			 struct damage_entry last[DAMAGE_LAST], size_t *ret_n_last)
{
	struct master_damage *d = m->damage;

	pthread_mutex_lock(&d->lock);
	*ret = (struct master_damage_stats){
		.found = d->table.found, .repaired = d->table.repaired,
		.unrepaired = damage_table_unrepaired(&d->table),
		.dropped = d->table.dropped,
	};
	if (last)
		*ret_n_last = damage_table_last(&d->table, last);
	pthread_mutex_unlock(&d->lock);
	ret->scrub_bytes = atomic_load(&d->scrub_bytes);
	ret->scrub_passes = atomic_load(&d->scrub_passes);
}
