// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "state.h"

int famfs_state_new(const struct famfs_pool_info *info,
		    struct famfs_state **ret)
{
	struct famfs_state *st = calloc(1, sizeof(*st));
	uint64_t units;
	int r;

	if (!st)
		return -ENOMEM;
	st->info = *info;
	st->max_ino = FAMFS_ROOT_INO;
	units = (info->device_size - info->data_offset) / info->alloc_unit;
	r = famfs_ns_new(&st->ns);
	if (r == 0)
		r = famfs_alloc_new(info->data_offset, units, info->alloc_unit,
				    &st->alloc);
	if (r == 0)
		r = famfs_tenants_new(&st->tenants);
	if (r < 0) {
		famfs_state_free(st);
		return r;
	}
	*ret = st;
	return 0;
}

static void pending_unlink(struct famfs_state *st, struct famfs_pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		st->pending_first = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		st->pending_last = p->prev;
}

void famfs_state_free(struct famfs_state *st)
{
	if (!st)
		return;
	while (st->pending_first) {
		struct famfs_pending *p = st->pending_first;

		pending_unlink(st, p);
		free(p->extents);
		free(p);
	}
	famfs_ns_free(st->ns);
	famfs_alloc_free(st->alloc);
	famfs_tenants_free(st->tenants);
	free(st);
}

struct famfs_pending *famfs_state_pending_find(const struct famfs_state *st,
					       uint64_t ino)
{
	struct famfs_pending *p;

	for (p = st->pending_first; p && p->ino != ino; p = p->next)
		;
	return p;
}

/*
 * What the checks of a record found, handed to the commit that follows so
 * it neither decodes nor looks anything up again.
 */
struct plan {
	struct famfs_extent ext[FAMFS_MAX_EXTENTS];	/* create, host order */
	uint64_t bytes;				/* create: sum of ext */
	struct famfs_node *parent;		/* mkdir, create */
	struct famfs_node *node;		/* delete */
	struct famfs_pending *pending[FAMFS_RECLAIM_MAX];	/* reclaim */
	uint32_t n_pending;
};

static const char *insert_error(int err)
{
	switch (err) {
	case -ENOENT:
		return "parent directory does not exist";
	case -ENOTDIR:
		return "parent is not a directory";
	default:
		return "name already exists in the directory";
	}
}

static const char *extent_error(int err)
{
	return err == -EEXIST ?
		"extent overlaps space already in use or another extent" :
		"extent is misaligned or outside the data area";
}

/* The node a mkdir or create record adds; extents from the plan. */
static struct famfs_node_attr node_attr(const struct famfs_rec *r,
					const struct plan *p)
{
	bool dir = r->type == FAMFS_REC_MKDIR;

	return (struct famfs_node_attr){
		.ino = r->ino, .parent = r->parent, .size = dir ? 0 : r->size,
		.mtime_ns = r->mtime_ns, .seq = r->seq,
		.mode = (dir ? S_IFDIR : S_IFREG) | r->mode, .uid = r->uid,
		.gid = r->gid, .name = r->name, .name_len = r->name_len,
		.extents = dir ? NULL : p->ext,
		.n_extents = dir ? 0 : r->n_extents,
	};
}

/* ---- checks: the rules, never changing the state -------------------------- */

/* Rules every new node obeys: fresh inode number, a valid name. */
static const char *check_new_node(const struct famfs_state *st,
				  const struct famfs_rec *r)
{
	/*
	 * A checkpoint lists nodes parents first, not by inode number, below
	 * the highest number its header gives (st->max_ino already).
	 */
	if (r->checkpoint ? r->ino > st->max_ino || r->ino <= FAMFS_ROOT_INO :
			    r->ino <= st->max_ino)
		return r->checkpoint ? "inode number above the checkpoint's highest" :
		       "inode number reused or out of order";
	/*
	 * Nodes before pending files, as famfs_ckpt_write lists them: else a
	 * node could take the number of a file pending already, live and
	 * deleted at once (check_pending looks for live numbers only).
	 */
	if (r->checkpoint && st->pending_last)
		return "node item after the checkpoint's pending items";
	if (r->mode & ~07777u)
		return "mode has bits beyond the permissions";
	return famfs_name_check(r->name, r->name_len);
}

/* The index slots check_insert() will look at, loading while we check. */
static void prefetch_insert(const struct famfs_state *st,
			    const struct famfs_rec *r, const struct plan *p)
{
	struct famfs_node_attr a = node_attr(r, p);

	famfs_ns_prefetch_insert(st->ns, &a);
}

/* The parent exists, is a directory, and holds no node of that name. */
static const char *check_insert(const struct famfs_state *st,
				const struct famfs_rec *r, struct plan *p)
{
	struct famfs_node_attr a = node_attr(r, p);
	int err = famfs_ns_insert_check(st->ns, &a, &p->parent);

	return err < 0 ? insert_error(err) : NULL;
}

static const char *check_mkdir(const struct famfs_state *st,
			       const struct famfs_rec *r, struct plan *p)
{
	const char *why;

	prefetch_insert(st, r, p);
	why = check_new_node(st, r);

	return why ? why : check_insert(st, r, p);
}

/* Decodes the extents into the plan and checks them against the space. */
static const char *check_extents(const struct famfs_state *st,
				 const struct famfs_rec *r, struct plan *p)
{
	int err;

	p->bytes = 0;
	for (uint32_t i = 0; i < r->n_extents; i++) {
		p->ext[i].offset = famfs_extent_offset(&r->extents[i]);
		p->ext[i].len = famfs_extent_len(&r->extents[i]);
		p->bytes += p->ext[i].len;	/* wraps only for refused ones */
	}
	err = famfs_alloc_check(st->alloc, p->ext, r->n_extents);
	if (err < 0)
		return extent_error(err);
	if (p->bytes < r->size)
		return "extents are smaller than the file size";
	return NULL;
}

static const char *check_create(const struct famfs_state *st,
				const struct famfs_rec *r, struct plan *p)
{
	const char *why;

	prefetch_insert(st, r, p);
	why = check_new_node(st, r);

	if (!why && r->tenant_len)
		why = famfs_tenant_check(r->tenant, r->tenant_len);
	if (!why && r->n_extents > FAMFS_MAX_EXTENTS)
		why = "create record has too many extents";
	if (!why)
		why = check_extents(st, r, p);
	return why ? why : check_insert(st, r, p);
}

static const char *check_delete(const struct famfs_state *st,
				const struct famfs_rec *r, struct plan *p)
{
	struct famfs_node *n = famfs_ns_get(st->ns, r->ino);

	if (!n || !n->parent)
		return n ? "delete of the root" : "delete of an unknown inode";
	if (n->parent->ino != r->parent || n->name_len != r->name_len ||
	    memcmp(n->name, r->name, r->name_len) != 0)
		return "delete names another parent or name than the inode has";
	if (famfs_node_is_dir(n) && n->dir.n_children)
		return "delete of a directory that is not empty";
	p->node = n;
	return NULL;
}

static const char *check_quota(const struct famfs_rec *r)
{
	return r->tenant_len ? famfs_tenant_check(r->tenant, r->tenant_len) :
			       "set_quota without a tenant";
}

/* Entry i of a reclaim record (n_reclaims 0: the one in ino, delete_seq). */
static void reclaim_entry(const struct famfs_rec *r, uint32_t i, uint64_t *ino,
			  uint64_t *seq)
{
	if (!r->n_reclaims) {
		*ino = r->ino;
		*seq = r->delete_seq;
		return;
	}
	*ino = le64toh(r->reclaims[i].ino);
	*seq = le64toh(r->reclaims[i].delete_seq);
}

/*
 * Every entry names a pending file by inode and delete, in increasing
 * delete order: one walk of the pending list (kept in that order) finds
 * them all, and no file can be named twice.
 */
static const char *check_reclaim(const struct famfs_state *st,
				 const struct famfs_rec *r, struct plan *p)
{
	uint32_t n = r->n_reclaims ? r->n_reclaims : 1;
	struct famfs_pending *pd = st->pending_first;
	uint64_t ino, seq, prev = 0;

	if (n > FAMFS_RECLAIM_MAX)
		return "reclaim record has too many entries";
	for (uint32_t i = 0; i < n; i++) {
		reclaim_entry(r, i, &ino, &seq);
		if (i && seq <= prev)
			return "reclaim entries are not in delete order";
		prev = seq;
		while (pd && pd->delete_seq < seq)
			pd = pd->next;
		if (!pd || pd->delete_seq != seq || pd->ino != ino)
			return "reclaim of an inode that is not pending reclaim";
		p->pending[i] = pd;
		pd = pd->next;
	}
	p->n_pending = n;
	return NULL;
}

/*
 * A checkpoint's PENDING item: a deleted file (not live, its number used
 * before), deleted before the checkpoint, listed in delete order (one
 * delete record deletes one file, so strictly), whose extents are free so
 * far. Node items all come before (check_new_node), so "not live" holds
 * for the whole checkpoint.
 */
static const char *check_pending(const struct famfs_state *st,
				 const struct famfs_rec *r, struct plan *p)
{
	if (r->ino <= FAMFS_ROOT_INO || r->ino > st->max_ino ||
	    famfs_ns_get(st->ns, r->ino))
		return "pending item names a live or impossible inode";
	if (r->delete_seq == 0 || r->delete_seq > st->last_seq ||
	    (st->pending_last && r->delete_seq <= st->pending_last->delete_seq))
		return "pending item's delete is out of order";
	if (r->n_extents > FAMFS_MAX_EXTENTS)
		return "pending item has too many extents";
	/* r->size is 0: only the extents come back. */
	return check_extents(st, r, p);
}

/* The types a checkpoint holds: the live state, no history. */
static const char *check_item_type(const struct famfs_rec *r)
{
	switch (r->type) {
	case FAMFS_REC_MKDIR:
	case FAMFS_REC_CREATE:
	case FAMFS_REC_SET_QUOTA:
	case FAMFS_REC_PENDING:
		return r->checkpoint ? NULL : "pending item outside a checkpoint";
	default:
		return "record type not allowed in a checkpoint";
	}
}

/* Every rule r must obey against st; NULL when it obeys them all. */
static const char *check_record(const struct famfs_state *st,
				const struct famfs_rec *r, struct plan *p)
{
	if (r->checkpoint || r->type == FAMFS_REC_PENDING) {
		const char *why = check_item_type(r);

		if (why)
			return why;
	} else if (r->seq != st->last_seq + 1) {
		return "sequence gap";
	} else if (r->epoch < st->last_epoch || r->epoch == 0) {
		return "master epoch went backwards or is zero";
	}
	switch (r->type) {
	case FAMFS_REC_MKDIR:
		return check_mkdir(st, r, p);
	case FAMFS_REC_CREATE:
		return check_create(st, r, p);
	case FAMFS_REC_DELETE:
		return check_delete(st, r, p);
	case FAMFS_REC_SET_QUOTA:
		return check_quota(r);
	case FAMFS_REC_RECLAIM:
		return check_reclaim(st, r, p);
	case FAMFS_REC_PENDING:
		return check_pending(st, r, p);
	default:
		return "unknown record type";
	}
}

int famfs_state_check(const struct famfs_state *st, const struct famfs_rec *r,
		      const char **reason)
{
	struct plan p;

	*reason = check_record(st, r, &p);
	return *reason ? -EUCLEAN : 0;
}

/*
 * ---- commits: a checked record's changes ---------------------------------
 *
 * After check_record() only memory can run out (-ENOMEM, undone like any
 * failure). The namespace insert trusts the check (nothing changed since);
 * the allocator's commit and release check their own contracts again, and
 * a failure there would mean a check above is missing: it is refused like
 * a broken rule, changing nothing.
 */

static int commit_mkdir(struct famfs_state *st, const struct famfs_rec *r,
			struct plan *p)
{
	struct famfs_node_attr a = node_attr(r, p);
	int err = famfs_ns_insert_under(st->ns, p->parent, &a, NULL);

	if (err < 0)
		return err;
	if (!r->checkpoint)
		st->max_ino = r->ino;
	st->dirs++;
	return 0;
}

static int commit_create(struct famfs_state *st, const struct famfs_rec *r,
			 struct plan *p, const char **reason)
{
	struct famfs_node_attr a = node_attr(r, p);
	struct famfs_tenant *tn = NULL;
	struct famfs_node *node;
	int err;

	err = famfs_alloc_commit(st->alloc, p->ext, r->n_extents);
	if (err < 0) {
		*reason = extent_error(err);
		return -EUCLEAN;
	}
	err = famfs_ns_insert_under(st->ns, p->parent, &a, &node);
	if (err < 0)
		goto release;
	/* The tenant last: naming a new one creates it, and cannot be undone. */
	if (r->tenant_len) {
		err = famfs_tenants_get(st->tenants, r->tenant, r->tenant_len, &tn);
		if (err < 0) {
			famfs_ns_remove(st->ns, node);
			goto release;
		}
		node->tenant = tn->id;
		tn->used_bytes += p->bytes;
		tn->used_files++;
	}
	if (!r->checkpoint)
		st->max_ino = r->ino;
	st->files++;
	return 0;
release:
	/* Committed just above, so this cannot fail. */
	(void)famfs_alloc_release(st->alloc, p->ext, r->n_extents);
	return err;
}

/* Puts a deleted file's extents (host order) onto the pending-reclaim list. */
static int add_pending(struct famfs_state *st, uint64_t ino,
		       const struct famfs_extent *ext, uint32_t n_extents,
		       uint64_t seq, uint64_t *ret_bytes)
{
	struct famfs_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->extents = malloc((n_extents ? n_extents : 1) * sizeof(*ext));
	if (!p->extents) {
		free(p);
		return -ENOMEM;
	}
	p->ino = ino;
	p->delete_seq = seq;
	p->n_extents = n_extents;
	for (uint32_t i = 0; i < n_extents; i++) {
		p->extents[i] = ext[i];
		p->bytes += ext[i].len;
	}
	p->prev = st->pending_last;
	if (st->pending_last)
		st->pending_last->next = p;
	else
		st->pending_first = p;
	st->pending_last = p;
	st->pending_bytes += p->bytes;
	*ret_bytes = p->bytes;
	return 0;
}

static int commit_delete(struct famfs_state *st, const struct famfs_rec *r,
			 struct plan *p)
{
	struct famfs_node *n = p->node;
	struct famfs_tenant *tn;
	uint64_t bytes;
	int err;

	if (famfs_node_is_dir(n)) {
		st->dirs--;
	} else {
		err = add_pending(st, n->ino, famfs_node_extents(n),
				  n->n_extents, r->seq, &bytes);
		if (err < 0)
			return err;
		tn = famfs_tenants_by_id(st->tenants, n->tenant);
		if (tn) {
			tn->used_bytes -= bytes;
			tn->used_files--;
		}
		st->files--;
	}
	famfs_ns_remove(st->ns, n);
	return 0;
}

static int commit_quota(struct famfs_state *st, const struct famfs_rec *r)
{
	struct famfs_tenant *tn;
	int err;

	err = famfs_tenants_get(st->tenants, r->tenant, r->tenant_len, &tn);
	if (err < 0)
		return err;
	tn->max_bytes = r->max_bytes;
	tn->max_files = r->max_files;
	return 0;
}

static int commit_reclaim(struct famfs_state *st, struct plan *p,
			  const char **reason)
{
	for (uint32_t i = 0; i < p->n_pending; i++) {
		struct famfs_pending *pd = p->pending[i];

		/* In use since its create or checkpoint: cannot fail. */
		if (famfs_alloc_release(st->alloc, pd->extents, pd->n_extents) < 0) {
			*reason = "pending extents are not in use";
			return -EUCLEAN;
		}
		st->pending_bytes -= pd->bytes;
		pending_unlink(st, pd);
		free(pd->extents);
		free(pd);
	}
	return 0;
}

/* A checkpoint's pending file: its extents in use again, and pending. */
static int commit_pending(struct famfs_state *st, const struct famfs_rec *r,
			  struct plan *p, const char **reason)
{
	uint64_t bytes;
	int err;

	err = famfs_alloc_commit(st->alloc, p->ext, r->n_extents);
	if (err < 0) {
		*reason = extent_error(err);
		return -EUCLEAN;
	}
	err = add_pending(st, r->ino, p->ext, r->n_extents, r->delete_seq, &bytes);
	if (err < 0)
		(void)famfs_alloc_release(st->alloc, p->ext, r->n_extents);
	return err;
}

static int commit_record(struct famfs_state *st, const struct famfs_rec *r,
			 struct plan *p, const char **reason)
{
	switch (r->type) {
	case FAMFS_REC_MKDIR:
		return commit_mkdir(st, r, p);
	case FAMFS_REC_CREATE:
		return commit_create(st, r, p, reason);
	case FAMFS_REC_DELETE:
		return commit_delete(st, r, p);
	case FAMFS_REC_SET_QUOTA:
		return commit_quota(st, r);
	case FAMFS_REC_RECLAIM:
		return commit_reclaim(st, p, reason);
	case FAMFS_REC_PENDING:
		return commit_pending(st, r, p, reason);
	default:			/* check_record() refused it */
		*reason = "unknown record type";
		return -EUCLEAN;
	}
}

int famfs_state_apply(struct famfs_state *st, const struct famfs_rec *r,
		      const char **reason)
{
	struct plan p;
	int err;

	*reason = check_record(st, r, &p);
	if (*reason)
		return -EUCLEAN;
	err = commit_record(st, r, &p, reason);
	if (err < 0) {
		if (!*reason)
			*reason = "out of memory";
		return err;
	}
	if (r->checkpoint)
		return 0;
	st->last_seq = r->seq;
	st->last_epoch = r->epoch;
	return 0;
}

void famfs_state_set_base(struct famfs_state *st, const struct famfs_log_base *b)
{
	st->last_seq = b->seq;
	st->last_epoch = b->epoch;
	st->max_ino = b->max_ino;
}
