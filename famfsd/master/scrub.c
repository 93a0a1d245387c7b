// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The scrub: a reader of its own that re-reads the current log generation,
 * both copies of everything, so that damage is found (and repaired, see
 * master/damage.c) while the other copy is still good, not by the restart
 * that needs it. The damage thread runs it a slice at a time at
 * --scrub-rate; a pass is
 *
 *   1. see where the log is (m->lock): the generation and its published
 *      tail; open the generation with a fresh reader;
 *   2. the area header line of both copies;
 *   3. the four tail slots, under m->lock: the writer rewrites a slot in
 *      place at every publish, and a slot read half way through one is
 *      no damage;
 *   4. every checkpoint item;
 *   5. every record up to the tail of step 1.
 *
 * Items and records below the published tail never change (a repair is
 * the damage thread's own, between slices), so steps 2, 4 and 5 run
 * without the lock. A generation switch abandons the pass: the next one
 * starts on the new generation.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "master/master.h"

enum scrub_phase {
	PHASE_START,
	PHASE_HEADER,
	PHASE_TAIL,
	PHASE_ITEMS,
	PHASE_RECORDS,
};

struct master_scrub {
	struct famfs_log *log;		/* this pass's reader */
	struct master_damage_src src;	/* its damage hook's context */
	enum scrub_phase phase;
	struct famfs_log_pos pos;	/* the next item or record */
	struct famfs_log_pos tail;	/* published when the pass began */
};

int master_scrub_new(struct master_scrub **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

static void pass_end(struct master_scrub *s)
{
	famfs_log_free(s->log);
	s->log = NULL;
	s->phase = PHASE_START;
}

void master_scrub_free(struct master_scrub *s)
{
	if (!s)
		return;
	pass_end(s);
	free(s);
}

/* Neither copy of the area header is good: the open says so, no hook can. */
static void report_headers(struct master *m, const struct famfs_pool_info *info,
			   const char *why)
{
	struct master_damage_src src = {
		.m = m, .generation = info->log_generation,
		.found_by = DAMAGE_BY_SCRUB,
	};

	for (unsigned int c = 0; c < FAMFS_LOG_COPIES; c++)
		master_damage_report(&src, &(struct famfs_log_damage){
			.part = FAMFS_LOG_PART_HEADER, .copy = c, .both = true,
			.log_offset = famfs_log_area_offset(info->log_size,
							    info->log_generation, c),
			.len = FAMFS_CACHELINE, .reason = why,
		});
}

/* Step 1. -EUCLEAN, -ENOMEM: no pass this time. */
static int pass_start(struct master *m, struct master_scrub *s)
{
	struct famfs_pool_info info;
	struct famfs_log_error lerr;
	int r;

	master_lock(m);
	info = m->pool->info;
	s->tail = famfs_log_published(m->pool->log);
	master_unlock(m);
	r = famfs_log_open(m->pool->base + info.log_offset, info.log_size,
			   info.log_generation, m->pool->ops, &s->log, &lerr);
	if (r == -EUCLEAN)
		report_headers(m, &info, lerr.reason);
	if (r < 0)
		return r;
	/* Reports what the open found in the header already. */
	master_damage_listen(m, s->log, &s->src, DAMAGE_BY_SCRUB);
	s->phase = PHASE_HEADER;
	return 0;
}

/* Steps 2-5, one thing each call: its bytes, 0 at the end of the pass. */
static long verify_next(struct master *m, struct master_scrub *s)
{
	long n;

	switch (s->phase) {
	case PHASE_HEADER:
		s->phase = PHASE_TAIL;
		return famfs_log_verify(s->log, FAMFS_LOG_PART_HEADER, &s->pos, NULL);
	case PHASE_TAIL:
		master_lock(m);
		n = famfs_log_verify(s->log, FAMFS_LOG_PART_TAIL, &s->pos, NULL);
		master_unlock(m);
		s->phase = PHASE_ITEMS;
		s->pos = (struct famfs_log_pos){ 0 };
		return n;
	case PHASE_ITEMS:
		n = famfs_log_verify(s->log, FAMFS_LOG_PART_ITEM, &s->pos, NULL);
		if (n > 0)
			return n;
		/* Past the last item, or one bad in both copies: no way over it. */
		s->phase = PHASE_RECORDS;
		s->pos = famfs_log_start(s->log);
		return -EAGAIN;
	case PHASE_RECORDS:
		n = famfs_log_verify(s->log, FAMFS_LOG_PART_RECORD, &s->pos, &s->tail);
		return n > 0 ? n : 0;
	case PHASE_START:
		break;
	}
	return 0;
}

uint64_t master_scrub_step(struct master *m, struct master_scrub *s,
			   uint64_t budget, enum master_scrub_end *ret_end)
{
	uint64_t bytes = 0;
	long n;

	*ret_end = SCRUB_GOING;
	if (s->phase == PHASE_START && pass_start(m, s) < 0) {
		*ret_end = SCRUB_PASS_FAILED;
		return 0;
	}
	while (bytes < budget) {
		if (atomic_load(&m->generation) != s->src.generation) {
			pass_end(s);
			*ret_end = SCRUB_ABANDONED;
			break;
		}
		n = verify_next(m, s);
		if (n == 0) {
			pass_end(s);
			*ret_end = SCRUB_PASS_DONE;
			break;
		}
		/* Both copies read: each counts. */
		if (n > 0)
			bytes += 2 * (uint64_t)n;
	}
	return bytes;
}
