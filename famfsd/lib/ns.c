// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "names.h"
#include "ns.h"

#define MIN_BUCKETS 1024u

/* Both tables grow together: at most one node per bucket on average. */
struct famfs_ns {
	struct famfs_node **by_ino;	/* chained on ino_chain */
	struct famfs_node **by_name;	/* chained on name_chain */
	uint64_t n_buckets;		/* power of two */
	uint64_t count;
	uint64_t mem;			/* heap bytes in nodes and extent arrays */
	struct famfs_node *root;
};

static uint64_t ino_hash(uint64_t ino)
{
	return ino * 0x9e3779b97f4a7c15ull;	/* Fibonacci hashing */
}

static uint64_t name_hash(uint64_t parent, const char *name, size_t len)
{
	uint32_t h = famfs_crc32c_update((uint32_t)parent, name, len);

	return ino_hash(((uint64_t)h << 32) ^ parent);
}

static uint64_t bucket(const struct famfs_ns *ns, uint64_t hash)
{
	return hash >> (64 - __builtin_ctzll(ns->n_buckets));
}

static void link_node(struct famfs_ns *ns, struct famfs_node *n)
{
	uint64_t bi = bucket(ns, ino_hash(n->ino));
	uint64_t parent = n->parent ? n->parent->ino : 0;
	uint64_t bn = bucket(ns, name_hash(parent, n->name, n->name_len));

	n->ino_chain = ns->by_ino[bi];
	ns->by_ino[bi] = n;
	n->name_chain = ns->by_name[bn];
	ns->by_name[bn] = n;
}

static int alloc_tables(uint64_t n, struct famfs_node ***ino,
			struct famfs_node ***name)
{
	*ino = calloc(n, sizeof(**ino));
	*name = calloc(n, sizeof(**name));
	if (*ino && *name)
		return 0;
	free(*ino);
	free(*name);
	return -ENOMEM;
}

/* Doubles both tables; on failure the index keeps working, just slower. */
static void grow(struct famfs_ns *ns)
{
	struct famfs_node **old_ino = ns->by_ino, **old_name = ns->by_name;
	uint64_t old_n = ns->n_buckets;

	if (alloc_tables(old_n * 2, &ns->by_ino, &ns->by_name) < 0) {
		ns->by_ino = old_ino;
		ns->by_name = old_name;
		return;
	}
	ns->n_buckets = old_n * 2;
	for (uint64_t b = 0; b < old_n; b++) {
		struct famfs_node *n = old_ino[b], *next;

		for (; n; n = next) {
			next = n->ino_chain;
			link_node(ns, n);
		}
	}
	free(old_ino);
	free(old_name);
}

static struct famfs_node *new_node(const struct famfs_node_attr *a)
{
	struct famfs_node *n = calloc(1, sizeof(*n) + a->name_len + 1);

	if (!n)
		return NULL;
	n->ino = a->ino;
	n->size = a->size;
	n->mtime_ns = a->mtime_ns;
	n->seq = a->seq;
	n->mode = a->mode;
	n->uid = a->uid;
	n->gid = a->gid;
	n->tenant = a->tenant;
	n->name_len = (uint16_t)a->name_len;
	memcpy(n->name, a->name, a->name_len);
	if (S_ISDIR(a->mode) || !a->n_extents)
		return n;
	n->n_extents = a->n_extents;
	if (a->n_extents == 1) {
		n->file.one = a->extents[0];
		return n;
	}
	n->file.many = malloc(a->n_extents * sizeof(*a->extents));
	if (!n->file.many) {
		free(n);
		return NULL;
	}
	memcpy(n->file.many, a->extents, a->n_extents * sizeof(*a->extents));
	return n;
}

static void free_node(struct famfs_ns *ns, struct famfs_node *n)
{
	if (!famfs_node_is_dir(n) && n->n_extents > 1) {
		ns->mem -= malloc_usable_size(n->file.many);
		free(n->file.many);
	}
	ns->mem -= malloc_usable_size(n);
	free(n);
}

int famfs_ns_new(struct famfs_ns **ret)
{
	struct famfs_node_attr root = {
		.ino = FAMFS_ROOT_INO, .mode = S_IFDIR | 0755, .name = "",
	};
	struct famfs_ns *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	ns->n_buckets = MIN_BUCKETS;
	if (alloc_tables(MIN_BUCKETS, &ns->by_ino, &ns->by_name) < 0) {
		free(ns);
		return -ENOMEM;
	}
	ns->root = new_node(&root);
	if (!ns->root) {
		famfs_ns_free(ns);
		return -ENOMEM;
	}
	ns->mem += malloc_usable_size(ns->root);
	link_node(ns, ns->root);
	ns->count = 1;
	*ret = ns;
	return 0;
}

void famfs_ns_free(struct famfs_ns *ns)
{
	if (!ns)
		return;
	for (uint64_t b = 0; b < ns->n_buckets; b++) {
		struct famfs_node *n = ns->by_ino[b], *next;

		for (; n; n = next) {
			next = n->ino_chain;
			free_node(ns, n);
		}
	}
	free(ns->by_ino);
	free(ns->by_name);
	free(ns);
}

struct famfs_node *famfs_ns_root(const struct famfs_ns *ns)
{
	return ns->root;
}

struct famfs_node *famfs_ns_get(const struct famfs_ns *ns, uint64_t ino)
{
	struct famfs_node *n = ns->by_ino[bucket(ns, ino_hash(ino))];

	while (n && n->ino != ino)
		n = n->ino_chain;
	return n;
}

struct famfs_node *famfs_ns_lookup(const struct famfs_ns *ns,
				   const struct famfs_node *dir,
				   const char *name, size_t len)
{
	struct famfs_node *n;

	n = ns->by_name[bucket(ns, name_hash(dir->ino, name, len))];
	for (; n; n = n->name_chain)
		if (n->parent == dir && n->name_len == len &&
		    memcmp(n->name, name, len) == 0)
			return n;
	return NULL;
}

int famfs_ns_insert(struct famfs_ns *ns, const struct famfs_node_attr *attr,
		    struct famfs_node **ret)
{
	struct famfs_node *dir = famfs_ns_get(ns, attr->parent), *n;

	if (!dir)
		return -ENOENT;
	if (!famfs_node_is_dir(dir))
		return -ENOTDIR;
	if (famfs_ns_get(ns, attr->ino) ||
	    famfs_ns_lookup(ns, dir, attr->name, attr->name_len))
		return -EEXIST;
	n = new_node(attr);
	if (!n)
		return -ENOMEM;
	ns->mem += malloc_usable_size(n);
	if (n->n_extents > 1)
		ns->mem += malloc_usable_size(n->file.many);
	n->parent = dir;
	n->prev = dir->dir.last;
	if (dir->dir.last)
		dir->dir.last->next = n;
	else
		dir->dir.first = n;
	dir->dir.last = n;
	dir->dir.n_children++;
	if (ns->count >= ns->n_buckets)
		grow(ns);
	link_node(ns, n);
	ns->count++;
	if (ret)
		*ret = n;
	return 0;
}

/* Removes n from the chain whose head is *head, following link at off. */
static void unchain(struct famfs_node **head, struct famfs_node *n, size_t off)
{
	for (; *head; head = (struct famfs_node **)((char *)*head + off)) {
		if (*head == n) {
			*head = *(struct famfs_node **)((char *)n + off);
			return;
		}
	}
}

int famfs_ns_remove(struct famfs_ns *ns, struct famfs_node *n)
{
	struct famfs_node *dir = n->parent;

	if (!dir)
		return -EBUSY;		/* the root stays */
	if (famfs_node_is_dir(n) && n->dir.n_children)
		return -ENOTEMPTY;
	unchain(&ns->by_ino[bucket(ns, ino_hash(n->ino))], n,
		offsetof(struct famfs_node, ino_chain));
	unchain(&ns->by_name[bucket(ns, name_hash(dir->ino, n->name,
						  n->name_len))], n,
		offsetof(struct famfs_node, name_chain));
	if (n->prev)
		n->prev->next = n->next;
	else
		dir->dir.first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		dir->dir.last = n->prev;
	dir->dir.n_children--;
	ns->count--;
	free_node(ns, n);
	return 0;
}

int famfs_ns_resolve(const struct famfs_ns *ns, const char *path, size_t len,
		     struct famfs_node **ret, const char **reason)
{
	struct famfs_path_iter it;
	struct famfs_node *n = ns->root;
	const char *name;
	size_t nlen;
	int r;

	*reason = NULL;
	famfs_path_iter_init(&it, path, len);
	while ((r = famfs_path_next(&it, &name, &nlen, reason)) > 0) {
		if (!famfs_node_is_dir(n))
			return -ENOTDIR;
		n = famfs_ns_lookup(ns, n, name, nlen);
		if (!n)
			return -ENOENT;
	}
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

struct famfs_node *famfs_ns_child_after(const struct famfs_ns *ns,
					const struct famfs_node *dir,
					uint64_t after)
{
	struct famfs_node *n;

	if (!after)
		return dir->dir.first;
	/* Fast path: the cursor's node still exists in this directory. */
	n = famfs_ns_get(ns, after);
	if (n && n->parent == dir)
		return n->next;
	/* It was deleted: children are in ascending inode order. */
	for (n = dir->dir.first; n && n->ino <= after; n = n->next)
		;
	return n;
}

int famfs_ns_path(const struct famfs_node *node, char *buf, size_t size)
{
	size_t len = 0, at;
	const struct famfs_node *n;

	if (!node->parent) {
		if (size < 2)
			return -ENAMETOOLONG;
		memcpy(buf, "/", 2);
		return 0;
	}
	for (n = node; n->parent; n = n->parent)
		len += 1u + n->name_len;
	if (len >= size)
		return -ENAMETOOLONG;
	buf[len] = '\0';
	at = len;
	for (n = node; n->parent; n = n->parent) {
		at -= n->name_len;
		memcpy(buf + at, n->name, n->name_len);
		buf[--at] = '/';
	}
	return 0;
}

uint64_t famfs_ns_count(const struct famfs_ns *ns)
{
	return ns->count;
}

uint64_t famfs_ns_mem_bytes(const struct famfs_ns *ns)
{
	return sizeof(*ns) + ns->mem + 2 * ns->n_buckets * sizeof(void *);
}
