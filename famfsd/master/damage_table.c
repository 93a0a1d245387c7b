// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/damage_table.h"

void damage_table_init(struct damage_table *t)
{
	memset(t, 0, sizeof(*t));
	t->next_id = 1;
}

void damage_table_fini(struct damage_table *t)
{
	free(t->open);
	memset(t, 0, sizeof(*t));
}

/* The same copy of the same thing: its place says it all. */
static bool same_place(const struct damage_entry *a, const struct damage_entry *b)
{
	return a->generation == b->generation && a->d.part == b->d.part &&
	       a->d.copy == b->d.copy && a->d.log_offset == b->d.log_offset;
}

/* The ring of recent entries follows every change of an entry it holds. */
static void sync_last(struct damage_table *t, const struct damage_entry *e)
{
	struct damage_entry *slot = &t->last[e->id % DAMAGE_LAST];

	if (slot->id == e->id)
		*slot = *e;
}

static struct damage_entry *find_open(struct damage_table *t, uint64_t id)
{
	for (size_t i = 0; i < t->n_open; i++)
		if (t->open[i].id == id)
			return &t->open[i];
	return NULL;
}

static void drop_open(struct damage_table *t, struct damage_entry *e)
{
	size_t i = (size_t)(e - t->open);

	memmove(e, e + 1, (t->n_open - i - 1) * sizeof(*e));
	t->n_open--;
}

static int grow(struct damage_table *t)
{
	size_t cap = t->cap_open ? t->cap_open * 2 : 16;
	struct damage_entry *n;

	if (t->n_open < t->cap_open)
		return 0;
	n = realloc(t->open, cap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->open = n;
	t->cap_open = cap;
	return 0;
}

/* A report of an entry already open: worse, due for a retry, or nothing new. */
static enum damage_add known(struct damage_table *t, struct damage_entry *o,
			     const struct damage_entry *e, uint64_t mono_ns,
			     uint64_t retry_ns)
{
	if (e->d.both && !o->d.both) {
		o->d.both = true;
		o->d.reason = e->d.reason;
		o->state = DAMAGE_PENDING;
		sync_last(t, o);
		return DAMAGE_ADD_WORSE;
	}
	if (o->state == DAMAGE_UNREPAIRED && mono_ns - o->tried_ns >= retry_ns) {
		/* A good copy seen now may let the repair succeed this time. */
		if (!e->d.both && e->d.len)
			o->d.len = e->d.len;
		o->state = DAMAGE_PENDING;
		sync_last(t, o);
		return DAMAGE_ADD_RETRY;
	}
	return DAMAGE_ADD_KNOWN;
}

enum damage_add damage_table_add(struct damage_table *t,
				 const struct damage_entry *e, uint64_t mono_ns,
				 uint64_t retry_ns, struct damage_entry *ret)
{
	enum damage_add r;
	struct damage_entry *n;

	for (size_t i = 0; i < t->n_open; i++) {
		if (!same_place(&t->open[i], e))
			continue;
		r = known(t, &t->open[i], e, mono_ns, retry_ns);
		if (ret)
			*ret = t->open[i];
		return r;
	}
	if (t->n_open >= DAMAGE_OPEN_MAX || grow(t) < 0) {
		t->dropped++;
		return DAMAGE_ADD_DROPPED;
	}
	n = &t->open[t->n_open++];
	*n = *e;
	n->id = t->next_id++;
	n->state = DAMAGE_PENDING;
	n->fixed_by = DAMAGE_FIX_NONE;
	n->tries = 0;
	n->tried_ns = 0;
	t->found++;
	t->last[n->id % DAMAGE_LAST] = *n;
	if (ret)
		*ret = *n;
	return DAMAGE_ADD_NEW;
}

size_t damage_table_pending(const struct damage_table *t,
			    struct damage_entry *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n_open && n < max; i++)
		if (t->open[i].state == DAMAGE_PENDING)
			out[n++] = t->open[i];
	return n;
}

int damage_table_resolve(struct damage_table *t, uint64_t id,
			 enum damage_state state, enum damage_fix fix,
			 uint64_t mono_ns)
{
	struct damage_entry *e = find_open(t, id);

	if (!e)
		return -ENOENT;
	e->tries++;
	e->tried_ns = mono_ns;
	e->state = state;
	e->fixed_by = fix;
	sync_last(t, e);
	if (state == DAMAGE_REPAIRED) {
		t->repaired++;
		drop_open(t, e);
	}
	return 0;
}

size_t damage_table_switch(struct damage_table *t, uint64_t gen)
{
	size_t n = 0, i = 0;

	while (i < t->n_open) {
		struct damage_entry *e = &t->open[i];

		if (e->generation >= gen) {
			i++;
			continue;
		}
		e->state = DAMAGE_REPAIRED;
		e->fixed_by = DAMAGE_FIX_COMPACTION;
		sync_last(t, e);
		t->repaired++;
		drop_open(t, e);
		n++;
	}
	return n;
}

size_t damage_table_last(const struct damage_table *t,
			 struct damage_entry out[DAMAGE_LAST])
{
	size_t n = 0;

	for (uint64_t id = t->next_id - 1; id >= 1 && n < DAMAGE_LAST; id--)
		out[n++] = t->last[id % DAMAGE_LAST];
	return n;
}
