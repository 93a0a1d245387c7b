// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * POST /v1/batch: many creates and deletes, all or nothing, with one
 * publish (docs/batch.md, "How the master applies a batch"). All under
 * m->lock, so no other request sees a part of a batch:
 *
 *   1. plan: every op is checked in order by the single calls' own checks
 *      (master_check_create/_delete) against the replayed state seen
 *      through an overlay of what the batch's earlier ops do; space is
 *      reserved and held for each create; tenants' use is summed; the
 *      records are built and the log room for all of them is made sure
 *      of. A refusal releases every hold: nothing was written.
 *   2. append: each record is checked by the replay engine
 *      (famfs_state_check) against the state with the batch's earlier
 *      records applied, appended (P1-P2, no reader sees it: the tail does
 *      not name it) and applied by replaying it, as master/commit.c
 *      does for one record (read back from this host's caches: the
 *      writer's own lines, lib/log_write.c); then both copies of every
 *      record are read again from the pool (verify_appended);
 *   3. publish once (P3-P6): one tail store makes every record visible.
 *
 * A crash (or kill) at any point before step 3's tail store leaves the
 * published tail where it was: the appended bytes lie past it, and every
 * reader (agents, fsck, a restarted master) stops at the tail, so the
 * batch never happened; the next append overwrites them. After the store,
 * every record is published and a restart replays all of them. Step 2's
 * memory (m->st) is the only thing ahead of the log meanwhile, which is
 * why a failure there (a bug, or a lost lease) fences the master
 * (FENCE_DIVERGED): its memory holds records the log will never have, and
 * a restart replays the log.
 *
 * Fences: P2 flushes each record's lines and P3 fences once for all of
 * them (the log allows several appends per publish), so a batch of N
 * records costs 2N flushes of its own lines and two fences, not 2N.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "master/master.h"
#include "record.h"
#include "replay.h"

/* ---- the overlay: what the batch's earlier ops did, by path -------------- */

enum ov_kind {
	OV_FREE,
	OV_KEPT,	/* the replayed entry stands; its children changed */
	OV_MADE,	/* an earlier op makes it */
	OV_GONE,	/* an earlier op deletes it */
	OV_TENANT,	/* key is a tenant name: its use changed */
};

/* What the overlay knows of a path (KEPT, MADE) or a tenant. */
struct ov_value {
	struct master_entry e;
	int64_t d_bytes, d_files;	/* a tenant's use, beyond the state's */
};

struct ov_slot {
	const char *key;		/* a path or tenant, not NUL terminated */
	uint64_t hash;
	uint32_t len;
	uint32_t val;			/* its value in vals */
	enum ov_kind kind;
};

/*
 * Open addressing, linear probing, never resized: each op adds at most
 * its path, its parent and its tenant, so 3n keys fill at most half of
 * the 6n slots rounded up to a power of two. Slots are small (the values
 * are apart) so that a large batch touches few pages.
 */
struct master_overlay {
	struct ov_slot *slot;
	size_t mask;
	unsigned int bits;		/* mask + 1 == 1 << bits */
	struct ov_value *vals;		/* 3n */
	size_t n_vals;
};

/*
 * Every op hashes each prefix of its path: the namespace index's hash,
 * seeded apart for tenants and paths. Its best bits are the top ones.
 */
static uint64_t ov_hash(const char *key, size_t len, bool tenant)
{
	return famfs_ns_hash(tenant ? 1 : 0, key, len);
}

static int ov_init(struct master_overlay *ov, size_t n_ops)
{
	size_t cap = 16;

	while (cap < 6 * n_ops)
		cap *= 2;
	ov->slot = calloc(cap, sizeof(*ov->slot));
	ov->vals = malloc(3 * n_ops * sizeof(*ov->vals));
	if (!ov->slot || !ov->vals) {
		free(ov->slot);
		free(ov->vals);
		ov->slot = NULL;
		ov->vals = NULL;
		return -ENOMEM;
	}
	ov->mask = cap - 1;
	ov->bits = (unsigned int)__builtin_ctzll(cap);
	ov->n_vals = 0;
	return 0;
}

static void ov_free(struct master_overlay *ov)
{
	free(ov->slot);
	free(ov->vals);
}

/* The slot of key (tenant: a tenant's, else a path's), or the free one. */
static struct ov_slot *ov_slot(const struct master_overlay *ov,
			       const char *key, size_t len, bool tenant,
			       uint64_t *ret_hash)
{
	uint64_t h = ov_hash(key, len, tenant);
	struct ov_slot *s;

	for (size_t i = (size_t)(h >> (64 - ov->bits));; i = (i + 1) & ov->mask) {
		s = &ov->slot[i];
		if (s->kind == OV_FREE)
			break;
		if (s->hash == h && s->len == len &&
		    (s->kind == OV_TENANT) == tenant &&
		    memcmp(s->key, key, len) == 0)
			break;
	}
	*ret_hash = h;
	return s;
}

int master_overlay_find(const struct master_overlay *ov, const char *path,
			size_t len, struct master_entry *ret)
{
	uint64_t h;
	const struct ov_slot *s = ov_slot(ov, path, len, false, &h);

	switch (s->kind) {
	case OV_KEPT:
	case OV_MADE:
		*ret = ov->vals[s->val].e;
		return 1;
	case OV_GONE:
		return -ENOENT;
	default:
		return 0;
	}
}

/* The slot of key, taken when it was free (its value zeroed). */
static struct ov_slot *ov_take(struct master_overlay *ov, const char *key,
			       size_t len, bool tenant)
{
	uint64_t h;
	struct ov_slot *s = ov_slot(ov, key, len, tenant, &h);

	if (s->kind == OV_FREE) {
		s->key = key;
		s->len = (uint32_t)len;
		s->hash = h;
		s->val = (uint32_t)ov->n_vals++;
		s->kind = tenant ? OV_TENANT : OV_GONE;
		memset(&ov->vals[s->val], 0, sizeof(ov->vals[s->val]));
	}
	return s;
}

static void ov_put(struct master_overlay *ov, const char *path, size_t len,
		   enum ov_kind kind, const struct master_entry *e)
{
	struct ov_slot *s = ov_take(ov, path, len, false);

	s->kind = kind;
	if (e)
		ov->vals[s->val].e = *e;
}

/* The parent k->dir (at path[0..k->dir_len)) gains or loses a child. */
static void ov_children(struct master_overlay *ov, const char *path,
			const struct master_check *k, int delta)
{
	struct master_entry e = k->dir;

	e.n_children += (uint64_t)(int64_t)delta;
	ov_put(ov, path, k->dir_len, e.node ? OV_KEPT : OV_MADE, &e);
}

static struct ov_value *ov_tenant(struct master_overlay *ov, const char *name,
				  size_t len)
{
	return &ov->vals[ov_take(ov, name, len, true)->val];
}

/* ---- the plan ------------------------------------------------------------- */

/* What one op will write. */
struct planned {
	struct famfs_rec rec;		/* extents: set once the arena is final */
	size_t ext_at;			/* its extents in the arenas */
	size_t payload_at;		/* its built payload */
	uint32_t payload_len;
	bool writes;			/* a record was planned */
	bool held;			/* ext_at..+rec.n_extents are held */
};

struct plan {
	struct master *m;
	struct master_overlay ov;
	struct planned *p;		/* one per op */
	size_t n_planned;		/* p[0..n_planned) to look at */
	struct famfs_extent *ext, *le;	/* held (host order), little-endian */
	size_t n_ext, ext_cap, le_cap;
	uint8_t *payload;
	size_t payload_len, payload_cap;
	uint64_t log_bytes;		/* of all the records, framed */
	size_t n_records;
	uint64_t creates_made;		/* inode numbers the plan handed out */
	uint64_t mtime_ns;		/* of every entry the batch makes */
	bool deletes_files;
};

static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 64;
	void *b;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	b = realloc(*buf, c * size);
	if (!b)
		return -ENOMEM;
	*buf = b;
	*cap = c;
	return 0;
}

/* Ends every hold the plan took. */
static void release_holds(struct plan *pl)
{
	for (size_t i = 0; i < pl->n_planned; i++) {
		struct planned *p = &pl->p[i];

		if (!p->held)
			continue;
		/* Held by this plan, under the same lock: cannot fail. */
		(void)famfs_alloc_unreserve(pl->m->st->alloc, pl->ext + p->ext_at,
					    p->rec.n_extents);
		p->held = false;
	}
}

static int plan_init(struct plan *pl, struct master *m, size_t n)
{
	memset(pl, 0, sizeof(*pl));
	pl->m = m;
	/* The set is made at once: one time for all its entries. */
	pl->mtime_ns = clock_real_ns();
	pl->p = calloc(n, sizeof(*pl->p));
	if (!pl->p || ov_init(&pl->ov, n) < 0) {
		free(pl->p);
		pl->p = NULL;
		return -ENOMEM;
	}
	return 0;
}

static void plan_free(struct plan *pl)
{
	release_holds(pl);
	ov_free(&pl->ov);
	free(pl->p);
	free(pl->ext);
	free(pl->le);
	free(pl->payload);
	memset(pl, 0, sizeof(*pl));
}

/* Builds p->rec's payload into the plan's arena and counts its log bytes. */
static int plan_record(struct plan *pl, struct planned *p, struct master_why *w)
{
	int len;

	if (grow((void **)&pl->payload, &pl->payload_cap,
		 pl->payload_len + FAMFS_REC_PAYLOAD_MAX, 1) < 0) {
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	len = famfs_rec_build(&p->rec, pl->payload + pl->payload_len,
			      FAMFS_REC_PAYLOAD_MAX);
	if (len < 0) {
		master_why_set(w, "a %s record cannot hold this operation",
			       famfs_rec_type_name(p->rec.type));
		return -EINVAL;
	}
	p->payload_at = pl->payload_len;
	p->payload_len = (uint32_t)len;
	pl->payload_len += (size_t)len;
	pl->log_bytes += famfs_rec_size((uint32_t)len);
	pl->n_records++;
	p->writes = true;
	return 0;
}

/* Keeps a create's held extents (both orders) in the plan's arenas. */
static int keep_extents(struct plan *pl, struct planned *p,
			const struct famfs_extent *ext,
			const struct famfs_extent *le, unsigned int n)
{
	p->held = false;
	if (!n)				/* a directory */
		return 0;
	if (grow((void **)&pl->ext, &pl->ext_cap, pl->n_ext + n,
		 sizeof(*ext)) < 0 ||
	    grow((void **)&pl->le, &pl->le_cap, pl->n_ext + n, sizeof(*le)) < 0)
		return -ENOMEM;
	memcpy(pl->ext + pl->n_ext, ext, n * sizeof(*ext));
	memcpy(pl->le + pl->n_ext, le, n * sizeof(*le));
	p->ext_at = pl->n_ext;
	p->held = true;
	pl->n_ext += n;
	return 0;
}

static int plan_create(struct plan *pl, struct master_batch_op *op,
		       struct planned *p, struct master_why *w)
{
	struct famfs_extent ext[FAMFS_MAX_EXTENTS], le[FAMFS_MAX_EXTENTS];
	struct master *m = pl->m;
	const struct master_create *c = &op->c;
	struct ov_value *tn = NULL;
	struct master_check k;
	struct master_entry e;
	int r;

	if (!c->dir && c->tenant_len)
		tn = ov_tenant(&pl->ov, c->tenant, c->tenant_len);
	r = master_check_create(m, &pl->ov, c, op->exist_ok,
				tn ? tn->d_bytes : 0, tn ? tn->d_files : 0,
				&k, ext, w);
	if (r < 0)
		return r;
	if (r == 0) {
		op->status = BATCH_EXISTS;
		op->ino = k.found.ino;
		return 0;
	}
	/* Inode numbers are handed out in order: the records will say so. */
	op->ino = m->st->max_ino + 1 + pl->creates_made;
	op->status = BATCH_CREATED;
	master_rec_create(&p->rec, &k, c, op->ino, pl->mtime_ns, le, ext);
	if (keep_extents(pl, p, ext, le, k.n_ext) < 0) {
		(void)famfs_alloc_unreserve(m->st->alloc, ext, k.n_ext);
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	pl->creates_made++;
	e = (struct master_entry){
		.ino = op->ino, .dir = c->dir, .mode = c->mode, .uid = c->uid,
		.gid = c->gid, .size = c->size, .tenant = c->dir ? "" : c->tenant,
		.tenant_len = c->dir ? 0 : c->tenant_len,
	};
	ov_put(&pl->ov, c->path, c->path_len, OV_MADE, &e);
	ov_children(&pl->ov, c->path, &k, 1);
	if (tn) {
		tn->d_bytes += (int64_t)k.bytes;
		tn->d_files++;
	}
	/* Built with the local little-endian copy; the arena's from now on. */
	r = plan_record(pl, p, w);
	p->rec.extents = NULL;
	return r;
}

/* Bytes a deleted file gives back to its tenant's use. */
static uint64_t file_bytes(const struct master *m, const struct master_entry *e)
{
	const struct famfs_extent *x;
	uint64_t bytes = 0;

	if (!e->node)
		return famfs_state_alloc_bytes(m->st, e->size);
	x = famfs_node_extents(e->node);
	for (uint32_t i = 0; i < e->node->n_extents; i++)
		bytes += x[i].len;
	return bytes;
}

static int plan_delete(struct plan *pl, struct master_batch_op *op,
		       struct planned *p, struct master_why *w)
{
	const struct master_create *c = &op->c;
	struct master_check k;
	struct ov_value *tn;
	int r;

	r = master_check_delete(pl->m, &pl->ov, c->path, c->path_len, false,
				&k, w);
	if (r == -ENOENT && op->missing_ok) {
		op->status = BATCH_ABSENT;
		return 0;
	}
	if (r < 0)
		return r;
	op->status = BATCH_DELETED;
	master_rec_delete(&p->rec, &k);
	ov_put(&pl->ov, c->path, c->path_len, OV_GONE, NULL);
	ov_children(&pl->ov, c->path, &k, -1);
	if (!k.found.dir) {
		pl->deletes_files = true;
		if (k.found.tenant_len) {
			tn = ov_tenant(&pl->ov, k.found.tenant,
				       k.found.tenant_len);
			tn->d_bytes -= (int64_t)file_bytes(pl->m, &k.found);
			tn->d_files--;
		}
	}
	return plan_record(pl, p, w);
}

/* Step 1 for every op: 0, or the first refusal (*ret_failed its index). */
static int plan_ops(struct plan *pl, struct master_batch_op *ops, size_t n,
		    size_t *ret_failed, struct master_why *w)
{
	int err;

	for (size_t i = 0; i < n; i++) {
		ops[i].seq = 0;
		ops[i].ino = 0;
		pl->n_planned = i + 1;
		if (ops[i].kind == BATCH_DELETE)
			err = plan_delete(pl, &ops[i], &pl->p[i], w);
		else
			err = plan_create(pl, &ops[i], &pl->p[i], w);
		if (err < 0) {
			*ret_failed = i;
			return err;
		}
	}
	/* The arenas stop moving: each record's extents point into them. */
	for (size_t i = 0; i < n; i++)
		if (pl->p[i].rec.type == FAMFS_REC_CREATE)
			pl->p[i].rec.extents = pl->le + pl->p[i].ext_at;
	return 0;
}

/* ---- append, publish ------------------------------------------------------ */

/*
 * Step 2 or 3 failed after records were applied to m->st: memory is ahead
 * of the log, which will never hold them (discarded: no reader saw them).
 */
static int diverged(struct master *m, const char *what, struct master_why *w)
{
	famfs_log_discard(m->pool->log);
	msg(MSG_ERR, "Failed to %s a planned batch: %s", what, w->msg);
	master_fence(m, FENCE_DIVERGED, "a batch failed after its records "
		     "were applied: the state is ahead of the log");
	master_why_set(w, "the master is fenced: %s", m->fenced);
	return -ESHUTDOWN;
}

/* Step 2 for one planned record: check, append (P1-P2), apply. */
static int append_one(struct master *m, const struct plan *pl,
		      const struct planned *p, uint64_t *ret_seq,
		      struct master_why *w)
{
	struct famfs_log_pos appended;
	struct famfs_rec next = p->rec;
	const char *why;
	int err;

	next.seq = famfs_log_appended(m->pool->log).seq + 1;
	next.epoch = m->epoch;
	if (famfs_state_check(m->st, &next, &why) < 0) {
		/* The plan let through what the log forbids: a bug. */
		master_why_set(w, "the %s record would break a rule of the log "
			       "(%s)", famfs_rec_type_name(p->rec.type), why);
		return -EUCLEAN;
	}
	err = famfs_log_append(m->pool->log, p->rec.type, m->epoch,
			       pl->payload + p->payload_at, p->payload_len,
			       ret_seq);
	if (err < 0) {
		if (err == -ESHUTDOWN)
			master_why_refused(m, w);
		else
			master_why_set(w, "failed to append a %s record: %s",
				       famfs_rec_type_name(p->rec.type),
				       strerror(-err));
		return err;
	}
	/*
	 * Replayed up to the appended end, which no tail names yet: the
	 * replay reads what the tail it is given allows, and the change
	 * feed hands out records only up to the published seq.
	 */
	appended = famfs_log_appended(m->pool->log);
	return master_replay(m, &appended, w);
}

static int append_all(struct master *m, const struct plan *pl,
		      struct master_batch_op *ops, size_t n,
		      struct master_why *w)
{
	size_t applied = 0;
	int err;

	for (size_t i = 0; i < n; i++) {
		if (!pl->p[i].writes)
			continue;
		err = append_one(m, pl, &pl->p[i], &ops[i].seq, w);
		if (err < 0) {
			/* Nothing applied yet: the log's discard undoes it all. */
			if (!applied && err != -EUCLEAN) {
				famfs_log_discard(m->pool->log);
				return err;
			}
			return diverged(m, "append", w);
		}
		applied++;
	}
	return 0;
}

/*
 * Between steps 2 and 3: the records as the pool holds them. Step 2 read
 * each back from this host's caches (famfs_log_forget_own()); before any
 * reader is shown them, both copies of every one are read again from the
 * pool (invalidated, one fence per window, not per record). A bad copy
 * goes to the damage table to be rewritten from the good one; a record
 * bad in both would be refused by every agent: the batch is not published.
 */
static int verify_appended(struct master *m, struct master_why *w)
{
	struct famfs_log *log = m->pool->log;
	struct famfs_log_pos pos = famfs_log_published(log);
	struct famfs_log_pos end = famfs_log_appended(log);
	long r;

	famfs_log_forget_own(log);
	while ((r = famfs_log_verify(log, FAMFS_LOG_PART_RECORD, &pos, &end)) > 0)
		;
	if (r < 0) {
		master_why_set(w, "record %llu (offset %llu in the log) is not "
			       "in the pool as written, in either copy",
			       (unsigned long long)pos.seq + 1,
			       (unsigned long long)pos.end);
		return diverged(m, "verify", w);
	}
	return 0;
}

/* Step 3: P3-P6, once. */
static int publish(struct master *m, struct master_why *w)
{
	struct famfs_log *log = m->pool->log;

	/* The lease's deadline, as near the tail's store as can be. */
	if (master_may_write(m) < 0) {
		master_why_refused(m, w);
		return diverged(m, "publish", w);
	}
	famfs_log_publish(log);
	/* The log's own fence refused P4 (the deadline passed meanwhile). */
	if (famfs_log_published(log).seq != famfs_log_appended(log).seq) {
		master_why_refused(m, w);
		return diverged(m, "publish", w);
	}
	master_feed_published(m->feed, famfs_log_published(log).seq);
	return 0;
}

/* Creates' bytes: what master_wait_space() waits for. */
static uint64_t create_bytes(const struct master *m,
			     const struct master_batch_op *ops, size_t n)
{
	uint64_t bytes = 0, b;

	for (size_t i = 0; i < n; i++) {
		if (ops[i].kind != BATCH_CREATE)
			continue;
		b = famfs_state_alloc_bytes(m->st, ops[i].c.size);
		bytes = b > UINT64_MAX - bytes ? UINT64_MAX : bytes + b;
	}
	return bytes;
}

/*
 * Step 1 whole: the plan, and log room for its records. Waiting for room
 * releases m->lock, so the plan lets go of everything first (no hold and
 * no node of the state is kept across the wait) and is made again after
 * it, against the state as it is then (a few times at most: each wait
 * takes up to ROOM_WAIT_MS).
 */
static int plan_batch(struct master *m, struct plan *pl,
		      struct master_batch_op *ops, size_t n,
		      size_t *ret_failed, struct master_why *w)
{
	char why[sizeof(w->msg)];
	uint64_t need;
	size_t records;
	bool shrinks;
	int err;

	for (int attempt = 0; attempt < 3; attempt++) {
		err = plan_init(pl, m, n);
		if (err < 0) {
			master_why_set(w, "out of memory");
			*ret_failed = n;
			return err;
		}
		master_media_check(m);
		err = plan_ops(pl, ops, n, ret_failed, w);
		if (err < 0)
			return err;
		need = pl->log_bytes;
		records = pl->n_records;
		shrinks = pl->creates_made == 0;
		if (m->fenced || master_log_has_room(m, need, shrinks))
			return 0;
		plan_free(pl);
		err = master_wait_log_room_for(m, need, shrinks, w);
		if (err < 0) {
			memcpy(why, w->msg, sizeof(why));
			master_why_set(w, "the batch's %zu records (%" PRIu64
				       " bytes) do not fit in the metadata log: "
				       "%s", records, need, why);
			*ret_failed = n;
			return err;
		}
	}
	master_why_set(w, "the log kept filling while the batch waited for "
		       "room in it; try again");
	*ret_failed = n;
	return -ENOBUFS;
}

int master_batch(struct master *m, struct master_batch_op *ops, size_t n,
		 uint64_t *ret_seq, size_t *ret_failed, struct master_why *w)
{
	struct plan pl = { 0 };
	size_t records;
	bool reclaim;
	int err;

	*ret_failed = n;
	if (master_may_write(m) < 0) {
		master_why_refused(m, w);
		return -ESHUTDOWN;
	}
	master_wait_space(m, create_bytes(m, ops, n));
	err = plan_batch(m, &pl, ops, n, ret_failed, w);
	if (err == 0 && pl.n_records) {
		/* Checked at the start and by the log before each store. */
		if (master_may_write(m) < 0) {
			master_why_refused(m, w);
			err = -ESHUTDOWN;
		}
		if (!err)
			err = append_all(m, &pl, ops, n, w);
		if (!err)
			err = verify_appended(m, w);
		if (!err)
			err = publish(m, w);
	}
	records = pl.n_records;
	reclaim = pl.deletes_files;
	/* Applied records made the held units used; the rest go back. */
	plan_free(&pl);
	if (err < 0) {
		for (size_t i = 0; i < n; i++)
			ops[i].seq = 0;
		return err;
	}
	*ret_seq = famfs_log_published(m->pool->log).seq;
	if (records) {
		/* With no agent holding them back, the space is free at once. */
		if (reclaim)
			master_reclaim(m);
		master_compact_maybe(m);
	}
	return 0;
}
