/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The in-memory namespace index: every directory and file of the pool,
 * found by inode number or by (parent, name) in O(1) through two
 * open-addressing hash tables. Children of a directory are kept in creation order (which
 * is ascending inode order), so a listing can resume after any inode.
 *
 * Not thread safe: the owner serialises access.
 */
#ifndef FAMFSD_NS_H
#define FAMFSD_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "famfsd_format.h"

struct famfs_node {
	uint64_t ino;
	uint64_t size;			/* files: bytes; dirs: 0 */
	uint64_t mtime_ns;
	uint64_t seq;			/* record that created it; root: 0 */
	uint32_t mode;			/* S_IFDIR or S_IFREG | permissions */
	uint32_t uid, gid;
	uint32_t tenant;		/* tenant id, 0 = none */
	uint32_t n_extents;		/* files */
	uint16_t name_len;
	uint16_t flags;			/* FAMFS_NODE_F_* for the owner's use */
	struct famfs_node *parent;	/* root: NULL */
	struct famfs_node *prev, *next;	/* siblings, in creation order */
	union {
		struct {			/* directories */
			struct famfs_node *first, *last;
			uint64_t n_children;
		} dir;
		struct {			/* files, host byte order */
			struct famfs_extent one;	/* when n_extents == 1 */
			struct famfs_extent *many;	/* when > 1 */
		} file;
	};
	char name[];			/* name_len bytes, then NUL */
};

#define FAMFS_NODE_F_OWNER	0x00ffu	/* free for the index's owner */

static inline bool famfs_node_is_dir(const struct famfs_node *n)
{
	return S_ISDIR(n->mode);
}

static inline const struct famfs_extent *
famfs_node_extents(const struct famfs_node *n)
{
	return n->n_extents > 1 ? n->file.many : &n->file.one;
}

/* What a new node is made of. Extents are in host byte order. */
struct famfs_node_attr {
	uint64_t ino, parent, size, mtime_ns, seq;
	uint32_t mode, uid, gid, tenant;
	const char *name;
	size_t name_len;
	const struct famfs_extent *extents;
	uint32_t n_extents;
};

struct famfs_ns;

/* A new index holding only the root directory (inode 1, mode 0755). */
int famfs_ns_new(struct famfs_ns **ret);
void famfs_ns_free(struct famfs_ns *ns);

struct famfs_node *famfs_ns_root(const struct famfs_ns *ns);
struct famfs_node *famfs_ns_get(const struct famfs_ns *ns, uint64_t ino);
struct famfs_node *famfs_ns_lookup(const struct famfs_ns *ns,
				   const struct famfs_node *dir,
				   const char *name, size_t len);

/*
 * Adds a node. -ENOENT: no such parent; -ENOTDIR: parent is a file;
 * -EEXIST: the name or the inode number is taken; -ENOMEM.
 */
int famfs_ns_insert(struct famfs_ns *ns, const struct famfs_node_attr *attr,
		    struct famfs_node **ret);

/*
 * famfs_ns_insert() in two steps, for a caller that checks everything
 * before it changes anything (the replay engine). The check returns what
 * the insert would, short of -ENOMEM, changes nothing, and gives the parent
 * (ret_parent may be NULL); insert_under then adds the node below that
 * parent without looking again: only -ENOMEM. Nothing may change the index
 * in between.
 */
int famfs_ns_insert_check(const struct famfs_ns *ns,
			  const struct famfs_node_attr *attr,
			  struct famfs_node **ret_parent);
int famfs_ns_insert_under(struct famfs_ns *ns, struct famfs_node *parent,
			  const struct famfs_node_attr *attr,
			  struct famfs_node **ret);

/*
 * A hint: starts loading the table slots an insert of attr looks at. In a
 * large index each is a cache miss; started early, they overlap each other
 * and whatever the caller checks meanwhile, instead of following it.
 */
void famfs_ns_prefetch_insert(const struct famfs_ns *ns,
			      const struct famfs_node_attr *attr);

/*
 * Sizes the hash tables for count nodes at once, so a replay of a large log
 * does not rehash at every doubling. A hint: -ENOMEM changes nothing.
 */
int famfs_ns_reserve(struct famfs_ns *ns, uint64_t count);

/* Removes and frees a node. -ENOTEMPTY for a directory with children. */
int famfs_ns_remove(struct famfs_ns *ns, struct famfs_node *node);

/* Resolves a '/'-separated path. -ENOENT, -ENOTDIR, or -EINVAL (*reason). */
int famfs_ns_resolve(const struct famfs_ns *ns, const char *path, size_t len,
		     struct famfs_node **ret, const char **reason);

/* The first child of dir with an inode number above after (0: the first). */
struct famfs_node *famfs_ns_child_after(const struct famfs_ns *ns,
					const struct famfs_node *dir,
					uint64_t after);

/* Writes the absolute path of node ("/" for the root); -ENAMETOOLONG. */
int famfs_ns_path(const struct famfs_node *node, char *buf, size_t size);

/*
 * The index's hash of a byte string under a seed (its (parent, name) key
 * is seed = parent inode), for owners' tables of their own: the top bits
 * are the well mixed ones.
 */
uint64_t famfs_ns_hash(uint64_t seed, const char *s, size_t len);

uint64_t famfs_ns_count(const struct famfs_ns *ns);	/* nodes, root too */
/* Heap bytes the index uses: nodes, names, extents and hash buckets. */
uint64_t famfs_ns_mem_bytes(const struct famfs_ns *ns);

#endif
