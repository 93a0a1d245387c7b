// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The difference between two replayed trees, for a back-end whose mount
 * must follow a replay from scratch (agent/backend.h, resync): FUSE drops
 * the kernel's cached names of what went away, the kernel module deletes
 * and adds entries through its ioctls.
 *
 * A node stays when it is the same in both trees: the same file (the
 * record that created it, its attributes, size and extents, all fixed at
 * creation, creation time to the nanosecond included) under the same
 * inode, parent and name, and a parent that stays too. A tree rebuilt
 * from a checkpoint has the same nodes as one that followed the records:
 * each item carries its node's creation record. A pool formatted anew reuses inode numbers and
 * names, so a directory may come back elsewhere with the same children,
 * and a new file may take an old one's inode, parent and name: only its
 * content tells them apart, and taking it for the old one would let the
 * mount keep the old one's cached pages and size. Removals come children
 * first, so a directory is empty when its own turn comes; additions
 * parents first, so a parent exists before its children. The recursion is
 * as deep as the tree, at most
 * FAMFS_PATH_MAX / 2 levels.
 */
#include <string.h>

#include "agent/backend.h"

/*
 * m and n are one file or directory: what creation fixed is equal, the
 * record that created it included (a checkpoint item carries it).
 */
static bool same_node(const struct famfs_node *m, const struct famfs_node *n)
{
	return m->seq == n->seq && m->mode == n->mode && m->uid == n->uid &&
	       m->gid == n->gid &&
	       m->mtime_ns == n->mtime_ns && m->size == n->size &&
	       m->n_extents == n->n_extents &&
	       (!m->n_extents ||
		memcmp(famfs_node_extents(m), famfs_node_extents(n),
		       m->n_extents * sizeof(struct famfs_extent)) == 0);
}

/* n lives in other as itself (no renames in a log). */
static bool same_in(const struct famfs_ns *other, const struct famfs_node *n)
{
	const struct famfs_node *m = famfs_ns_get(other, n->ino);

	return m && m->parent && n->parent && m->parent->ino == n->parent->ino &&
	       m->name_len == n->name_len &&
	       memcmp(m->name, n->name, n->name_len) == 0 && same_node(m, n);
}

/* n's inode is not in other at all, or is another file there. */
static bool deleted_in(const struct famfs_ns *other, const struct famfs_node *n)
{
	const struct famfs_node *m = famfs_ns_get(other, n->ino);

	return !m || !same_node(m, n);
}

/* dir_gone: dir itself goes, so all below it does. */
static void walk_gone(const struct famfs_node *dir, bool dir_gone,
		      const struct famfs_ns *new,
		      void (*gone)(void *ctx, const struct famfs_node *n,
				   bool deleted),
		      void *ctx)
{
	for (const struct famfs_node *n = dir->dir.first; n; n = n->next) {
		bool g = dir_gone || !same_in(new, n);

		if (famfs_node_is_dir(n))
			walk_gone(n, g, new, gone, ctx);
		if (g)
			gone(ctx, n, deleted_in(new, n));
	}
}

/* dir_added: dir itself is new here, so all below it is. */
static void walk_added(const struct famfs_node *dir, bool dir_added,
		       const struct famfs_ns *old,
		       void (*added)(void *ctx, const struct famfs_node *n),
		       void *ctx)
{
	for (const struct famfs_node *n = dir->dir.first; n; n = n->next) {
		bool a = dir_added || !same_in(old, n);

		if (a)
			added(ctx, n);
		if (famfs_node_is_dir(n))
			walk_added(n, a, old, added, ctx);
	}
}

void agent_ns_diff(const struct famfs_ns *old, const struct famfs_ns *new,
		   void (*gone)(void *ctx, const struct famfs_node *n,
				bool deleted),
		   void (*added)(void *ctx, const struct famfs_node *n),
		   void *ctx)
{
	if (gone)
		walk_gone(famfs_ns_root(old), false, new, gone, ctx);
	if (added)
		walk_added(famfs_ns_root(new), false, old, added, ctx);
}
