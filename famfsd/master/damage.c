// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Damaged copies of the log. Every reader of the pool's log reports a copy
 * it found bad (famfs_log_set_damage_hook) and goes on with the good one;
 * here the master counts and remembers them, and logs each once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "master/master.h"

struct master_damage {
	pthread_mutex_t lock;		/* readers report from any thread */
	uint64_t found;
};

int master_damage_new(struct master *m)
{
	struct master_damage *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	m->damage = d;
	return 0;
}

void master_damage_free(struct master *m)
{
	if (!m->damage)
		return;
	pthread_mutex_destroy(&m->damage->lock);
	free(m->damage);
	m->damage = NULL;
}

static const char *part_name(enum famfs_log_part p)
{
	switch (p) {
	case FAMFS_LOG_PART_HEADER:
		return "area header";
	case FAMFS_LOG_PART_TAIL:
		return "tail slot";
	case FAMFS_LOG_PART_ITEM:
		return "checkpoint item";
	default:
		return "record";
	}
}

static void on_damage(void *ctx, const struct famfs_log_damage *d)
{
	struct master *m = ctx;

	pthread_mutex_lock(&m->damage->lock);
	m->damage->found++;
	pthread_mutex_unlock(&m->damage->lock);
	msg(MSG_WARN, "log damage: %s %" PRIu64 " in copy %u at log offset %"
	    PRIu64 " (pool offset %" PRIu64 "): %s%s", part_name(d->part),
	    d->seq, d->copy, d->log_offset,
	    m->pool->info.log_offset + d->log_offset, d->reason,
	    d->both ? "; the other copy is bad too" : "; the other copy is good");
}

void master_log_attached(struct master *m)
{
	famfs_log_set_damage_hook(m->pool->log, on_damage, m);
}
