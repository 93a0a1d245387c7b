// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The change feed behind GET /v1/log: a compact summary (type, epoch) of
 * every record in the log, and the long-poll waiters.
 *
 * The summaries are a ring of the last FEED_KEEP records (one byte each):
 * agents use the feed as a wake-up, never as the log itself, so a feed
 * that forgets old records loses nothing, and an endless churn of creates
 * and deletes costs bounded memory.
 *
 * A waiting request is not parked on a thread: its HTTP connection is
 * suspended (the HTTP server keeps serving others) and queued here. A
 * publish signals the feed's condition variable; the feed thread then wakes
 * (resumes) every waiter with a record past its `after`, and every waiter
 * whose deadline passed. Wake-ups happen under the feed lock, and so does
 * the suspension, so a wake-up can never overtake it.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "master/master.h"

#define FEED_KEEP	(1u << 20)

struct epoch_run {
	uint64_t first_seq, epoch;
};

struct master_feed {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* publish, new waiter, stop */
	pthread_t thread;
	bool running, stopping;
	uint64_t published;		/* last published sequence */
	uint64_t base, known;		/* summaries held: seq base+1..known */
	uint64_t generation;		/* the log's */
	uint8_t *types;			/* types[(seq - 1) % FEED_KEEP] */
	struct epoch_run *runs;		/* epochs change rarely: runs */
	size_t n_runs, runs_cap;
	struct feed_waiter *waiters;
};

int master_feed_new(struct master_feed **ret)
{
	struct master_feed *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	clock_cond_init(&f->cond);
	*ret = f;
	return 0;
}

void master_feed_free(struct master_feed *f)
{
	if (!f)
		return;
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f->types);
	free(f->runs);
	free(f);
}

static void unqueue(struct master_feed *f, struct feed_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		f->waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->queued = false;
}

/* Wakes due waiters; returns the earliest deadline still pending. */
static uint64_t wake_due(struct master_feed *f, uint64_t now)
{
	uint64_t next = now + 1000000000ull;
	struct feed_waiter *w = f->waiters, *nw;

	for (; w; w = nw) {
		nw = w->next;
		if (f->stopping || f->published > w->after ||
		    f->generation != w->generation || now >= w->deadline_ns) {
			unqueue(f, w);
			w->wake(w);
		} else if (w->deadline_ns < next) {
			next = w->deadline_ns;
		}
	}
	return next;
}

static void *feed_thread(void *arg)
{
	struct master_feed *f = arg;
	struct timespec ts;
	uint64_t next;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		next = wake_due(f, clock_mono_ns());
		if (f->stopping)
			break;
		ts.tv_sec = (time_t)(next / 1000000000ull);
		ts.tv_nsec = (long)(next % 1000000000ull);
		pthread_cond_timedwait(&f->cond, &f->lock, &ts);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int master_feed_start(struct master_feed *f)
{
	int r = pthread_create(&f->thread, NULL, feed_thread, f);

	if (r)
		return -r;
	f->running = true;
	return 0;
}

void master_feed_stop(struct master_feed *f)
{
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	if (!f->running)
		wake_due(f, clock_mono_ns());
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->running) {
		pthread_join(f->thread, NULL);
		f->running = false;
	}
}

int master_feed_add(struct master_feed *f, uint64_t seq, uint16_t type,
		    uint64_t epoch)
{
	int err = 0;

	pthread_mutex_lock(&f->lock);
	/* A master starts after a checkpoint: the feed starts there too. */
	if (f->known == 0 && seq > 1)
		f->base = f->known = seq - 1;
	/*
	 * A RECLAIM of several inodes reaches the replay hook once per
	 * inode, each time with the record's seq: announced at the first.
	 */
	if (seq == f->known && seq > f->base && type == FAMFS_REC_RECLAIM &&
	    f->types[(seq - 1) % FEED_KEEP] == type)
		goto out;
	if (seq != f->known + 1) {
		err = -EINVAL;		/* replay hands records in order */
		goto out;
	}
	if (!f->types) {
		f->types = malloc(FEED_KEEP);
		if (!f->types) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (!f->n_runs || f->runs[f->n_runs - 1].epoch != epoch) {
		if (f->n_runs == f->runs_cap) {
			size_t cap = f->runs_cap ? f->runs_cap * 2 : 8;
			struct epoch_run *r = realloc(f->runs, cap * sizeof(*r));

			if (!r) {
				err = -ENOMEM;
				goto out;
			}
			f->runs = r;
			f->runs_cap = cap;
		}
		f->runs[f->n_runs++] = (struct epoch_run){ seq, epoch };
	}
	f->types[(seq - 1) % FEED_KEEP] = (uint8_t)type;
	f->known = seq;
	if (f->known - f->base > FEED_KEEP)
		f->base = f->known - FEED_KEEP;
out:
	pthread_mutex_unlock(&f->lock);
	return err;
}

void master_feed_published(struct master_feed *f, uint64_t seq)
{
	pthread_mutex_lock(&f->lock);
	f->published = seq;
	if (f->waiters)
		pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

void master_feed_generation(struct master_feed *f, uint64_t gen)
{
	pthread_mutex_lock(&f->lock);
	f->generation = gen;
	if (f->waiters)
		pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

uint64_t master_feed_last_seq(struct master_feed *f)
{
	uint64_t s;

	pthread_mutex_lock(&f->lock);
	s = f->published;
	pthread_mutex_unlock(&f->lock);
	return s;
}

bool master_feed_wait(struct master_feed *f, struct feed_waiter *w,
		      void (*suspend)(void *ctx), void *ctx)
{
	bool queued = false;

	pthread_mutex_lock(&f->lock);
	if (!f->stopping && f->published <= w->after) {
		w->generation = f->generation;
		suspend(ctx);
		w->prev = NULL;
		w->next = f->waiters;
		if (f->waiters)
			f->waiters->prev = w;
		f->waiters = w;
		w->queued = queued = true;
		pthread_cond_signal(&f->cond);	/* maybe an earlier deadline */
	}
	pthread_mutex_unlock(&f->lock);
	return queued;
}

void master_feed_cancel(struct master_feed *f, struct feed_waiter *w)
{
	pthread_mutex_lock(&f->lock);
	if (w->queued)
		unqueue(f, w);
	pthread_mutex_unlock(&f->lock);
}

static uint64_t epoch_of(const struct master_feed *f, uint64_t seq)
{
	for (size_t i = f->n_runs; i-- > 0;)
		if (f->runs[i].first_seq <= seq)
			return f->runs[i].epoch;
	return 0;
}

size_t master_feed_read(struct master_feed *f, uint64_t after,
			struct feed_record *out, size_t max,
			uint64_t *ret_last_seq, uint64_t *ret_first)
{
	size_t n = 0;
	uint64_t s;

	pthread_mutex_lock(&f->lock);
	s = after > f->base ? after + 1 : f->base + 1;
	for (; s <= f->published && s <= f->known && n < max; s++) {
		out[n].seq = s;
		out[n].type = f->types[(s - 1) % FEED_KEEP];
		out[n].epoch = epoch_of(f, s);
		n++;
	}
	*ret_last_seq = f->published;
	*ret_first = f->base + 1;
	pthread_mutex_unlock(&f->lock);
	return n;
}
