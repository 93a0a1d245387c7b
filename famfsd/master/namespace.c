// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Namespace and quota changes as the API asks for them: each checks the
 * request against the replayed state, turns it into one log record and
 * commits it (master/commit.c). Every function runs with m->lock held, so
 * the checks and the record they justify see the same state.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "master/master.h"
#include "names.h"

static const char *node_tenant(const struct master *m, const struct famfs_node *n)
{
	const struct famfs_tenant *tn = famfs_tenants_by_id(m->st->tenants,
							    n->tenant);

	return tn ? tn->name : "";
}

/* A replayed node as an entry. */
static void entry_of(const struct master *m, struct famfs_node *n,
		     struct master_entry *e)
{
	*e = (struct master_entry){
		.node = n, .ino = n->ino, .dir = famfs_node_is_dir(n),
		.mode = n->mode & 07777, .uid = n->uid, .gid = n->gid,
		.size = n->size, .tenant = node_tenant(m, n),
		.n_children = famfs_node_is_dir(n) ? n->dir.n_children : 0,
	};
	e->tenant_len = strlen(e->tenant);
}

/*
 * The child name of dir, whose path is path[0..end) (name ends there): what
 * the batch's earlier ops left there, else the replayed node. A directory
 * the batch makes has no replayed children, even where it replaces one.
 */
static int lookup(const struct master *m, const struct master_overlay *ov,
		  const struct master_entry *dir, const char *path, size_t end,
		  const char *name, size_t name_len, struct master_entry *ret)
{
	struct famfs_node *n;
	int r = ov ? master_overlay_find(ov, path, end, ret) : 0;

	if (r)
		return r < 0 ? r : 0;
	if (!dir->node)
		return -ENOENT;
	n = famfs_ns_lookup(m->st->ns, dir->node, name, name_len);
	if (!n)
		return -ENOENT;
	entry_of(m, n, ret);
	return 0;
}

/* Bytes of path up to and including the component that ends at end. */
static size_t prefix_len(const char *path, const char *end)
{
	return (size_t)(end - path);
}

/*
 * Walks every component but the last, which it puts in k->name (NULL for
 * the root), with its parent in k->dir. A missing or non-directory parent
 * is named.
 */
static int walk_parent(struct master *m, const struct master_overlay *ov,
		       const char *path, size_t len, struct master_check *k,
		       struct master_why *w)
{
	const char *name = NULL, *c, *reason = NULL;
	size_t name_len = 0, clen, end;
	struct famfs_path_iter it;
	struct master_entry n;
	int r;

	/* The root, whose children the batch may have changed. */
	if (!ov || master_overlay_find(ov, path, 0, &k->dir) <= 0)
		entry_of(m, famfs_ns_root(m->st->ns), &k->dir);
	k->dir_len = 0;
	famfs_path_iter_init(&it, path, len);
	while ((r = famfs_path_next(&it, &c, &clen, &reason)) > 0) {
		if (name) {
			end = prefix_len(path, name + name_len);
			if (lookup(m, ov, &k->dir, path, end, name, name_len,
				   &n) < 0) {
				master_why_set(w, "/%.*s does not exist",
					       (int)end, path);
				return -ENOENT;
			}
			if (!n.dir) {
				master_why_set(w, "/%.*s is a file, not a directory",
					       (int)end, path);
				return -ENOTDIR;
			}
			k->dir = n;
			k->dir_len = end;
		}
		name = c;
		name_len = clen;
	}
	if (r < 0) {
		master_why_set(w, "%s", reason);
		return -EINVAL;
	}
	k->name = name;
	k->name_len = name_len;
	return 0;
}

/* The entry at path into k->found: 0, or -ENOENT with w set. */
static int find(struct master *m, const struct master_overlay *ov,
		const char *path, size_t len, struct master_check *k,
		struct master_why *w)
{
	int err = walk_parent(m, ov, path, len, k, w);

	if (err < 0)
		return err;
	if (!k->name) {
		k->found = k->dir;
		return 0;
	}
	if (lookup(m, ov, &k->dir, path, len, k->name, k->name_len,
		   &k->found) < 0) {
		master_why_set(w, "/%.*s does not exist", (int)len, path);
		return -ENOENT;
	}
	return 0;
}

int master_resolve(struct master *m, const char *path, size_t len,
		   struct famfs_node **ret, struct master_why *w)
{
	struct master_check k;
	int err = find(m, NULL, path, len, &k, w);

	if (err < 0)
		return err;
	*ret = k.found.node;
	return 0;
}

/* True when the existing entry is what the request would have created. */
static bool same_entry(const struct master_entry *n,
		       const struct master_create *c)
{
	if (n->dir != c->dir || n->mode != c->mode || n->uid != c->uid ||
	    n->gid != c->gid)
		return false;
	if (c->dir)
		return true;
	return n->size == c->size && n->tenant_len == c->tenant_len &&
	       memcmp(n->tenant, c->tenant, c->tenant_len) == 0;
}

static int conflict(const struct master_entry *n, const struct master_create *c,
		    struct master_why *w)
{
	int len = (int)c->path_len;

	if (n->dir != c->dir)
		master_why_set(w, "/%.*s exists as a %s", len, c->path,
			       n->dir ? "directory" : "file");
	else if (c->dir)
		master_why_set(w, "/%.*s exists with mode 0%o, uid %u, gid %u",
			       len, c->path, n->mode, n->uid, n->gid);
	else
		master_why_set(w, "/%.*s exists with size %" PRIu64 ", mode 0%o, "
			       "uid %u, gid %u, tenant '%.*s'", len, c->path,
			       n->size, n->mode, n->uid, n->gid,
			       (int)n->tenant_len, n->tenant);
	return -EEXIST;
}

/*
 * Refuses a create that would take the tenant past its quota; the tenant
 * already uses d_bytes, d_files more than the state says (a batch's
 * earlier creates and deletes).
 */
static int check_quota(struct master *m, const struct master_create *c,
		       uint64_t bytes, int64_t d_bytes, int64_t d_files,
		       struct master_why *w)
{
	struct famfs_tenant *tn, t;

	if (!c->tenant_len)
		return 0;		/* files without a tenant have no quota */
	tn = famfs_tenants_find(m->st->tenants, c->tenant, c->tenant_len);
	if (!tn)
		return 0;
	t = *tn;
	t.used_bytes += (uint64_t)d_bytes;
	t.used_files += (uint64_t)d_files;
	if (famfs_tenant_check_quota(&t, bytes, 1) == 0)
		return 0;
	master_why_set(w, "tenant %s would use %" PRIu64 " bytes in %" PRIu64
		       " files; its quota is %" PRIu64 " bytes, %" PRIu64
		       " files (0 = unlimited)", t.name, t.used_bytes + bytes,
		       t.used_files + 1, t.max_bytes, t.max_files);
	return -EDQUOT;
}

/* Why famfs_alloc_reserve() refused bytes with avail free. */
static int reserve_error(const struct master *m, int err, uint64_t bytes,
			 uint64_t avail, struct master_why *w)
{
	uint64_t cut = famfs_alloc_cut_bytes(m->st->alloc);

	if (err != -ENOSPC) {
		master_why_set(w, "failed to reserve %" PRIu64 " bytes: %s",
			       bytes, strerror(-err));
		return err;
	}
	if (bytes <= avail)
		master_why_set(w, "%" PRIu64 " bytes requested, %" PRIu64
			       " free but too fragmented for %u extents",
			       bytes, avail, FAMFS_MAX_EXTENTS);
	else if (cut)
		master_why_set(w, "%" PRIu64 " bytes requested, %" PRIu64
			       " free below the end of the pool device, which "
			       "shrank to %" PRIu64 " bytes (%" PRIu64 " bytes "
			       "past it are out of service)", bytes, avail,
			       m->dev_size, cut);
	else
		master_why_set(w, "%" PRIu64 " bytes requested, %" PRIu64
			       " free", bytes, avail);
	return -ENOSPC;
}

/*
 * Space for a create is held, not marked (famfs_alloc_reserve): the record
 * carries the extents little-endian, and applying the record is what marks
 * them used, here as on every agent. The hold keeps any other create (a
 * later one of the same batch too) from getting the same units meanwhile,
 * and ends once the record is applied or the create failed
 * (famfs_alloc_unreserve).
 */
static int reserve_space(struct master *m, const struct master_create *c,
			 int64_t d_bytes, int64_t d_files,
			 struct master_check *k, struct famfs_extent *ext,
			 struct master_why *w)
{
	struct famfs_alloc *a = m->st->alloc;
	uint64_t avail = famfs_alloc_free_bytes(a);
	int n, err;

	if (c->size > UINT64_MAX - famfs_alloc_unit(a)) {
		master_why_set(w, "%" PRIu64 " bytes requested, %" PRIu64 " free",
			       c->size, avail);
		return -ENOSPC;
	}
	k->bytes = famfs_state_alloc_bytes(m->st, c->size);
	err = check_quota(m, c, k->bytes, d_bytes, d_files, w);
	if (err < 0)
		return err;
	n = famfs_alloc_reserve(a, c->size, ext, FAMFS_MAX_EXTENTS);
	if (n < 0)
		return reserve_error(m, n, k->bytes, avail, w);
	err = master_media_check_extents(m, ext, (unsigned int)n, w);
	if (err < 0) {
		(void)famfs_alloc_unreserve(a, ext, (unsigned int)n);
		return err;
	}
	k->n_ext = (unsigned int)n;
	return 0;
}

int master_check_create(struct master *m, const struct master_overlay *ov,
			const struct master_create *c, bool exist_ok,
			int64_t d_bytes, int64_t d_files,
			struct master_check *ret, struct famfs_extent *ext,
			struct master_why *w)
{
	int err;

	ret->n_ext = 0;
	ret->bytes = 0;
	err = walk_parent(m, ov, c->path, c->path_len, ret, w);
	if (err < 0)
		return err;
	if (!ret->name)
		ret->found = ret->dir;
	else
		err = lookup(m, ov, &ret->dir, c->path, c->path_len, ret->name,
			     ret->name_len, &ret->found);
	if (err == 0) {
		if (same_entry(&ret->found, c) ||
		    (exist_ok && c->dir && ret->found.dir))
			return 0;
		return conflict(&ret->found, c, w);
	}
	if (c->dir)
		return 1;
	err = reserve_space(m, c, d_bytes, d_files, ret, ext, w);
	return err < 0 ? err : 1;
}

int master_check_delete(struct master *m, const struct master_overlay *ov,
			const char *path, size_t len, bool dir_only,
			struct master_check *k, struct master_why *w)
{
	int err = find(m, ov, path, len, k, w);

	if (err < 0)
		return err;
	if (!k->name) {
		master_why_set(w, "the root directory cannot be deleted");
		return -EINVAL;
	}
	if (dir_only && !k->found.dir) {
		master_why_set(w, "/%.*s is a file; delete it with DELETE "
			       "/v1/files", (int)len, path);
		return -ENOTDIR;
	}
	if (k->found.dir && k->found.n_children) {
		master_why_set(w, "/%.*s is not empty (%" PRIu64 " entries)",
			       (int)len, path, k->found.n_children);
		return -ENOTEMPTY;
	}
	return 0;
}

void master_rec_create(struct famfs_rec *rec, const struct master_check *k,
		       const struct master_create *c, uint64_t ino,
		       uint64_t mtime_ns, struct famfs_extent *le,
		       const struct famfs_extent *ext)
{
	*rec = (struct famfs_rec){
		.type = c->dir ? FAMFS_REC_MKDIR : FAMFS_REC_CREATE,
		.ino = ino, .parent = k->dir.ino, .mtime_ns = mtime_ns,
		.mode = c->mode, .uid = c->uid, .gid = c->gid,
		.name = k->name, .name_len = (uint32_t)k->name_len,
	};
	if (c->dir)
		return;
	rec->size = c->size;
	rec->tenant = c->tenant;
	rec->tenant_len = (uint32_t)c->tenant_len;
	for (unsigned int i = 0; i < k->n_ext; i++) {
		le[i].offset = htole64(ext[i].offset);
		le[i].len = htole64(ext[i].len);
	}
	rec->extents = le;
	rec->n_extents = k->n_ext;
}

void master_rec_delete(struct famfs_rec *rec, const struct master_check *k)
{
	*rec = (struct famfs_rec){
		.type = FAMFS_REC_DELETE, .ino = k->found.ino,
		.parent = k->dir.ino, .name = k->name,
		.name_len = (uint32_t)k->name_len,
	};
}

int master_op_create(struct master *m, const struct master_create *c,
		     struct famfs_node **ret_node, struct master_why *w)
{
	struct famfs_extent ext[FAMFS_MAX_EXTENTS], le[FAMFS_MAX_EXTENTS];
	struct master_check k;
	struct famfs_rec rec;
	int err;

	/* The device may have shrunk since the last tick: never past its end. */
	if (!c->dir)
		master_media_check(m);
	err = master_check_create(m, NULL, c, false, 0, 0, &k, ext, w);
	if (err <= 0) {
		if (err == 0)
			*ret_node = k.found.node;
		return err;
	}
	master_rec_create(&rec, &k, c, m->st->max_ino + 1, clock_real_ns(), le,
			  ext);
	err = master_commit(m, &rec, NULL, w);
	/* Held by the check, under the same lock: this cannot fail. */
	(void)famfs_alloc_unreserve(m->st->alloc, ext, k.n_ext);
	if (err < 0)
		return err;
	*ret_node = famfs_ns_get(m->st->ns, rec.ino);
	return 1;
}

int master_op_delete(struct master *m, const char *path, size_t len,
		     bool dir_only, char *ret_path, uint64_t *ret_seq,
		     struct master_why *w)
{
	struct master_check k;
	struct famfs_rec rec;
	int err;

	err = master_check_delete(m, NULL, path, len, dir_only, &k, w);
	if (err < 0)
		return err;
	snprintf(ret_path, FAMFS_PATH_MAX + 2, "/%.*s", (int)len, path);
	master_rec_delete(&rec, &k);
	err = master_commit(m, &rec, ret_seq, w);
	if (err < 0)
		return err;
	/* With no agent holding it back the space is free at once. */
	if (!k.found.dir)
		master_reclaim(m);
	return 0;
}

int master_op_set_quota(struct master *m, const char *tenant, size_t len,
			uint64_t max_bytes, uint64_t max_files,
			uint64_t *ret_seq, struct master_why *w)
{
	struct famfs_rec rec = {
		.type = FAMFS_REC_SET_QUOTA, .tenant = tenant,
		.tenant_len = (uint32_t)len, .max_bytes = max_bytes,
		.max_files = max_files,
	};
	const char *why = len ? famfs_tenant_check(tenant, len) :
				"tenant name is empty";

	if (why) {
		master_why_set(w, "%s", why);
		return -EINVAL;
	}
	return master_commit(m, &rec, ret_seq, w);
}
