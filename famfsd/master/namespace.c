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
#include <string.h>

#include "master/master.h"
#include "names.h"

/* Bytes of path up to and including the component that ends at end. */
static int prefix_len(const char *path, const char *end)
{
	return (int)(end - path);
}

/*
 * Walks every component but the last, which it returns in *ret_name
 * (NULL for the root). A missing or non-directory parent is named.
 */
static int walk_parent(struct master *m, const char *path, size_t len,
		       struct famfs_node **ret_dir, const char **ret_name,
		       size_t *ret_name_len, struct master_why *w)
{
	struct famfs_node *dir = famfs_ns_root(m->st->ns), *n;
	const char *name = NULL, *c, *reason = NULL;
	size_t name_len = 0, clen;
	struct famfs_path_iter it;
	int r;

	famfs_path_iter_init(&it, path, len);
	while ((r = famfs_path_next(&it, &c, &clen, &reason)) > 0) {
		if (name) {
			n = famfs_ns_lookup(m->st->ns, dir, name, name_len);
			if (!n) {
				master_why_set(w, "/%.*s does not exist",
					       prefix_len(path, name + name_len), path);
				return -ENOENT;
			}
			if (!famfs_node_is_dir(n)) {
				master_why_set(w, "/%.*s is a file, not a directory",
					       prefix_len(path, name + name_len), path);
				return -ENOTDIR;
			}
			dir = n;
		}
		name = c;
		name_len = clen;
	}
	if (r < 0) {
		master_why_set(w, "%s", reason);
		return -EINVAL;
	}
	*ret_dir = dir;
	*ret_name = name;
	*ret_name_len = name_len;
	return 0;
}

int master_resolve(struct master *m, const char *path, size_t len,
		   struct famfs_node **ret, struct master_why *w)
{
	struct famfs_node *dir, *n;
	const char *name;
	size_t name_len;
	int err;

	err = walk_parent(m, path, len, &dir, &name, &name_len, w);
	if (err < 0)
		return err;
	if (!name) {
		*ret = dir;
		return 0;
	}
	n = famfs_ns_lookup(m->st->ns, dir, name, name_len);
	if (!n) {
		master_why_set(w, "/%.*s does not exist",
			       prefix_len(path, name + name_len), path);
		return -ENOENT;
	}
	*ret = n;
	return 0;
}

static const char *node_tenant(const struct master *m, const struct famfs_node *n)
{
	const struct famfs_tenant *tn = famfs_tenants_by_id(m->st->tenants,
							    n->tenant);

	return tn ? tn->name : "";
}

/* True when the existing node is what the request would have created. */
static bool same_entry(const struct master *m, const struct famfs_node *n,
		       const struct master_create *c)
{
	const char *tenant;

	if (famfs_node_is_dir(n) != c->dir || (n->mode & 07777) != c->mode ||
	    n->uid != c->uid || n->gid != c->gid)
		return false;
	if (c->dir)
		return true;
	tenant = node_tenant(m, n);
	return n->size == c->size && strlen(tenant) == c->tenant_len &&
	       memcmp(tenant, c->tenant, c->tenant_len) == 0;
}

static int conflict(const struct master *m, const struct famfs_node *n,
		    const struct master_create *c, struct master_why *w)
{
	char path[FAMFS_PATH_MAX + 2];

	if (famfs_ns_path(n, path, sizeof(path)) < 0)
		strcpy(path, "the entry");
	if (famfs_node_is_dir(n) != c->dir)
		master_why_set(w, "%s exists as a %s", path,
			       famfs_node_is_dir(n) ? "directory" : "file");
	else if (c->dir)
		master_why_set(w, "%s exists with mode 0%o, uid %u, gid %u", path,
			       n->mode & 07777, n->uid, n->gid);
	else
		master_why_set(w, "%s exists with size %" PRIu64 ", mode 0%o, "
			       "uid %u, gid %u, tenant '%s'", path, n->size,
			       n->mode & 07777, n->uid, n->gid,
			       node_tenant(m, n));
	return -EEXIST;
}

static int make_dir(struct master *m, const struct famfs_node *dir,
		    const char *name, size_t name_len,
		    const struct master_create *c, struct famfs_node **ret,
		    struct master_why *w)
{
	struct famfs_rec rec = {
		.type = FAMFS_REC_MKDIR, .ino = m->st->max_ino + 1,
		.parent = dir->ino, .mtime_ns = clock_real_ns(),
		.mode = c->mode, .uid = c->uid, .gid = c->gid,
		.name = name, .name_len = (uint32_t)name_len,
	};
	int err = master_commit(m, &rec, NULL, w);

	if (err < 0)
		return err;
	*ret = famfs_ns_get(m->st->ns, rec.ino);
	return 1;
}

/* Refuses a create that would take the tenant past its quota. */
static int check_quota(struct master *m, const struct master_create *c,
		       uint64_t bytes, struct master_why *w)
{
	struct famfs_tenant *tn;

	if (!c->tenant_len)
		return 0;		/* files without a tenant have no quota */
	tn = famfs_tenants_find(m->st->tenants, c->tenant, c->tenant_len);
	if (!tn || famfs_tenant_check_quota(tn, bytes, 1) == 0)
		return 0;
	master_why_set(w, "tenant %s would use %" PRIu64 " bytes in %" PRIu64
		       " files; its quota is %" PRIu64 " bytes, %" PRIu64
		       " files (0 = unlimited)", tn->name, tn->used_bytes + bytes,
		       tn->used_files + 1, tn->max_bytes, tn->max_files);
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
 * carries the extents little-endian, and applying the published record is
 * what marks them used, here as on every agent. The hold keeps any other
 * create from getting the same units meanwhile, and ends once the record
 * is applied or the create failed (famfs_alloc_unreserve).
 */
static int make_file(struct master *m, const struct famfs_node *dir,
		     const char *name, size_t name_len,
		     const struct master_create *c, struct famfs_node **ret,
		     struct master_why *w)
{
	struct famfs_extent ext[FAMFS_MAX_EXTENTS], le[FAMFS_MAX_EXTENTS];
	struct famfs_alloc *a = m->st->alloc;
	uint64_t unit = famfs_alloc_unit(a), bytes, avail;
	struct famfs_rec rec = {
		.type = FAMFS_REC_CREATE, .ino = m->st->max_ino + 1,
		.parent = dir->ino, .size = c->size,
		.mtime_ns = clock_real_ns(), .mode = c->mode, .uid = c->uid,
		.gid = c->gid, .name = name, .name_len = (uint32_t)name_len,
		.tenant = c->tenant, .tenant_len = (uint32_t)c->tenant_len,
		.extents = le,
	};
	int n, err;

	/* The device may have shrunk since the last tick: never past its end. */
	master_media_check(m);
	avail = famfs_alloc_free_bytes(a);
	if (c->size > UINT64_MAX - unit) {
		master_why_set(w, "%" PRIu64 " bytes requested, %" PRIu64 " free",
			       c->size, avail);
		return -ENOSPC;
	}
	bytes = famfs_state_alloc_bytes(m->st, c->size);
	err = check_quota(m, c, bytes, w);
	if (err < 0)
		return err;
	n = famfs_alloc_reserve(a, c->size, ext, FAMFS_MAX_EXTENTS);
	if (n < 0)
		return reserve_error(m, n, bytes, avail, w);
	err = master_media_check_extents(m, ext, (unsigned int)n, w);
	if (err < 0) {
		(void)famfs_alloc_unreserve(a, ext, (unsigned int)n);
		return err;
	}
	for (int i = 0; i < n; i++) {
		le[i].offset = htole64(ext[i].offset);
		le[i].len = htole64(ext[i].len);
	}
	rec.n_extents = (uint32_t)n;
	err = master_commit(m, &rec, NULL, w);
	/* Held just above, under the same lock: this cannot fail. */
	(void)famfs_alloc_unreserve(a, ext, (unsigned int)n);
	if (err < 0)
		return err;
	*ret = famfs_ns_get(m->st->ns, rec.ino);
	return 1;
}

int master_op_create(struct master *m, const struct master_create *c,
		     struct famfs_node **ret_node, struct master_why *w)
{
	struct famfs_node *dir, *n;
	const char *name;
	size_t name_len;
	int err;

	err = walk_parent(m, c->path, c->path_len, &dir, &name, &name_len, w);
	if (err < 0)
		return err;
	n = name ? famfs_ns_lookup(m->st->ns, dir, name, name_len) : dir;
	if (n) {
		if (!same_entry(m, n, c))
			return conflict(m, n, c, w);
		*ret_node = n;
		return 0;
	}
	if (c->dir)
		return make_dir(m, dir, name, name_len, c, ret_node, w);
	return make_file(m, dir, name, name_len, c, ret_node, w);
}

int master_op_delete(struct master *m, const char *path, size_t len,
		     bool dir_only, char *ret_path, uint64_t *ret_seq,
		     struct master_why *w)
{
	struct famfs_node *n;
	struct famfs_rec rec = { .type = FAMFS_REC_DELETE };
	bool file;
	int err;

	err = master_resolve(m, path, len, &n, w);
	if (err < 0)
		return err;
	if (!n->parent) {
		master_why_set(w, "the root directory cannot be deleted");
		return -EINVAL;
	}
	err = famfs_ns_path(n, ret_path, FAMFS_PATH_MAX + 2);
	if (err < 0) {
		master_why_set(w, "path too long");
		return err;
	}
	file = !famfs_node_is_dir(n);
	if (dir_only && file) {
		master_why_set(w, "%s is a file; delete it with DELETE /v1/files",
			       ret_path);
		return -ENOTDIR;
	}
	if (!file && n->dir.n_children) {
		master_why_set(w, "%s is not empty (%" PRIu64 " entries)", ret_path,
			       n->dir.n_children);
		return -ENOTEMPTY;
	}
	rec.ino = n->ino;
	rec.parent = n->parent->ino;
	rec.name = n->name;
	rec.name_len = n->name_len;
	err = master_commit(m, &rec, ret_seq, w);
	if (err < 0)
		return err;
	/* With no agent holding it back the space is free at once. */
	if (file)
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
