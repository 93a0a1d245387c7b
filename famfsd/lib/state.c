// SPDX-License-Identifier: GPL-2.0-or-later
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

/* Rules every new node obeys: fresh inode number, a valid name. */
static const char *check_new_node(const struct famfs_state *st,
				  const struct famfs_rec *r)
{
	const char *why;

	if (r->ino <= st->max_ino)
		return "inode number reused or out of order";
	if (r->mode & ~07777u)
		return "mode has bits beyond the permissions";
	why = famfs_name_check(r->name, r->name_len);
	if (why)
		return why;
	return NULL;
}

static const char *insert_error(int err)
{
	switch (err) {
	case -ENOENT:
		return "parent directory does not exist";
	case -ENOTDIR:
		return "parent is not a directory";
	case -EEXIST:
		return "name already exists in the directory";
	default:
		return "out of memory";
	}
}

static int apply_mkdir(struct famfs_state *st, const struct famfs_rec *r,
		       const char **reason)
{
	struct famfs_node_attr a = {
		.ino = r->ino, .parent = r->parent, .mtime_ns = r->mtime_ns,
		.seq = r->seq, .mode = S_IFDIR | r->mode, .uid = r->uid,
		.gid = r->gid, .name = r->name, .name_len = r->name_len,
	};
	int err;

	*reason = check_new_node(st, r);
	if (*reason)
		return -EUCLEAN;
	err = famfs_ns_insert(st->ns, &a, NULL);
	if (err < 0) {
		*reason = insert_error(err);
		return err == -ENOMEM ? err : -EUCLEAN;
	}
	st->max_ino = r->ino;
	st->dirs++;
	return 0;
}

/* Decodes and commits the extents of a create: all of them or none. */
static int mark_extents(struct famfs_state *st, const struct famfs_rec *r,
			struct famfs_extent *ext, uint64_t *ret_bytes,
			const char **reason)
{
	uint64_t total = 0;
	int err;

	for (uint32_t i = 0; i < r->n_extents; i++) {
		ext[i].offset = famfs_extent_offset(&r->extents[i]);
		ext[i].len = famfs_extent_len(&r->extents[i]);
		total += ext[i].len;	/* wraps only for refused ones */
	}
	err = famfs_alloc_commit(st->alloc, ext, r->n_extents);
	if (err < 0) {
		*reason = err == -EEXIST ?
			"extent overlaps space already in use or another extent" :
			"extent is misaligned or outside the data area";
		return -EUCLEAN;
	}
	*ret_bytes = total;
	return 0;
}

static int apply_create(struct famfs_state *st, const struct famfs_rec *r,
			const char **reason)
{
	struct famfs_extent ext[FAMFS_MAX_EXTENTS];
	struct famfs_node_attr a = {
		.ino = r->ino, .parent = r->parent, .size = r->size,
		.mtime_ns = r->mtime_ns, .seq = r->seq,
		.mode = S_IFREG | r->mode, .uid = r->uid, .gid = r->gid,
		.name = r->name, .name_len = r->name_len,
		.extents = ext, .n_extents = r->n_extents,
	};
	struct famfs_tenant *tn = NULL;
	struct famfs_node *node;
	uint64_t bytes;
	int err;

	*reason = check_new_node(st, r);
	if (!*reason && r->tenant_len)
		*reason = famfs_tenant_check(r->tenant, r->tenant_len);
	if (*reason)
		return -EUCLEAN;
	err = mark_extents(st, r, ext, &bytes, reason);
	if (err < 0)
		return err;
	if (bytes < r->size) {
		*reason = "extents are smaller than the file size";
		err = -EUCLEAN;
		goto unmark;
	}
	err = famfs_ns_insert(st->ns, &a, &node);
	if (err < 0) {
		*reason = insert_error(err);
		err = err == -ENOMEM ? err : -EUCLEAN;
		goto unmark;
	}
	/*
	 * The tenant last: naming a new one creates it, so it must wait until
	 * nothing else can refuse the record (a refused record changes nothing).
	 */
	if (r->tenant_len) {
		err = famfs_tenants_get(st->tenants, r->tenant, r->tenant_len, &tn);
		if (err < 0) {
			famfs_ns_remove(st->ns, node);
			goto unmark;
		}
		node->tenant = tn->id;
		tn->used_bytes += bytes;
		tn->used_files++;
	}
	st->max_ino = r->ino;
	st->files++;
	return 0;
unmark:
	/* Committed just above, so this cannot fail. */
	(void)famfs_alloc_release(st->alloc, ext, r->n_extents);
	return err;
}

/* Moves a deleted file's extents onto the pending-reclaim list. */
static int add_pending(struct famfs_state *st, const struct famfs_node *n,
		       uint64_t seq, uint64_t *ret_bytes)
{
	struct famfs_pending *p = calloc(1, sizeof(*p));
	const struct famfs_extent *ext = famfs_node_extents(n);

	if (!p)
		return -ENOMEM;
	p->extents = malloc((n->n_extents ? n->n_extents : 1) * sizeof(*ext));
	if (!p->extents) {
		free(p);
		return -ENOMEM;
	}
	p->ino = n->ino;
	p->delete_seq = seq;
	p->n_extents = n->n_extents;
	for (uint32_t i = 0; i < n->n_extents; i++) {
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

static int apply_delete(struct famfs_state *st, const struct famfs_rec *r,
			const char **reason)
{
	struct famfs_node *n = famfs_ns_get(st->ns, r->ino);
	struct famfs_tenant *tn;
	uint64_t bytes;
	bool dir;
	int err;

	if (!n || !n->parent) {
		*reason = n ? "delete of the root" : "delete of an unknown inode";
		return -EUCLEAN;
	}
	if (n->parent->ino != r->parent || n->name_len != r->name_len ||
	    memcmp(n->name, r->name, r->name_len) != 0) {
		*reason = "delete names another parent or name than the inode has";
		return -EUCLEAN;
	}
	dir = famfs_node_is_dir(n);
	if (dir && n->dir.n_children) {
		*reason = "delete of a directory that is not empty";
		return -EUCLEAN;
	}
	if (!dir) {
		err = add_pending(st, n, r->seq, &bytes);
		if (err < 0)
			return err;
		tn = famfs_tenants_by_id(st->tenants, n->tenant);
		if (tn) {
			tn->used_bytes -= bytes;
			tn->used_files--;
		}
		st->files--;
	} else {
		st->dirs--;
	}
	famfs_ns_remove(st->ns, n);
	return 0;
}

static int apply_quota(struct famfs_state *st, const struct famfs_rec *r,
		       const char **reason)
{
	struct famfs_tenant *tn;
	int err;

	*reason = r->tenant_len ? famfs_tenant_check(r->tenant, r->tenant_len) :
				  "set_quota without a tenant";
	if (*reason)
		return -EUCLEAN;
	err = famfs_tenants_get(st->tenants, r->tenant, r->tenant_len, &tn);
	if (err < 0)
		return err;
	tn->max_bytes = r->max_bytes;
	tn->max_files = r->max_files;
	return 0;
}

static int apply_reclaim(struct famfs_state *st, const struct famfs_rec *r,
			 const char **reason)
{
	struct famfs_pending *p = famfs_state_pending_find(st, r->ino);

	if (!p || p->delete_seq != r->delete_seq) {
		*reason = "reclaim of an inode that is not pending reclaim";
		return -EUCLEAN;
	}
	if (famfs_alloc_release(st->alloc, p->extents, p->n_extents) < 0) {
		*reason = "pending extents are not in use";
		return -EUCLEAN;
	}
	st->pending_bytes -= p->bytes;
	pending_unlink(st, p);
	free(p->extents);
	free(p);
	return 0;
}

int famfs_state_apply(struct famfs_state *st, const struct famfs_rec *r,
		      const char **reason)
{
	int err;

	*reason = NULL;
	if (r->seq != st->last_seq + 1) {
		*reason = "sequence gap";
		return -EUCLEAN;
	}
	if (r->epoch < st->last_epoch || r->epoch == 0) {
		*reason = "master epoch went backwards or is zero";
		return -EUCLEAN;
	}
	switch (r->type) {
	case FAMFS_REC_MKDIR:
		err = apply_mkdir(st, r, reason);
		break;
	case FAMFS_REC_CREATE:
		err = apply_create(st, r, reason);
		break;
	case FAMFS_REC_DELETE:
		err = apply_delete(st, r, reason);
		break;
	case FAMFS_REC_SET_QUOTA:
		err = apply_quota(st, r, reason);
		break;
	case FAMFS_REC_RECLAIM:
		err = apply_reclaim(st, r, reason);
		break;
	default:
		*reason = "unknown record type";
		err = -EUCLEAN;
	}
	if (err < 0) {
		if (!*reason)
			*reason = "out of memory";
		return err;
	}
	st->last_seq = r->seq;
	st->last_epoch = r->epoch;
	return 0;
}
