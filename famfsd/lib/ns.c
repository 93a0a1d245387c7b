// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "arena.h"
#include "names.h"
#include "ns.h"

#define MIN_SLOTS 1024u

/*
 * A hash table slot packs a node pointer (user-space pointers fit in 48
 * bits on x86-64 and arm64) with 16 bits of its hash, so a probe can skip
 * most non-matching entries without touching the node: on a miss, lookup
 * costs one cache line. 0 is an empty slot. Linear probing, load <= 3/4,
 * backward-shift deletion (no tombstones).
 */
#define PTR_BITS	48
#define PTR_MASK	((1ull << PTR_BITS) - 1)

struct table {
	uint64_t *slots;
	uint64_t mask;			/* slots - 1, slots a power of two */
	unsigned int bits;		/* log2(slots) */
};

struct famfs_ns {
	struct table by_ino;
	struct table by_name;		/* key: (parent inode, name) */
	uint64_t count;
	uint64_t max_ino;		/* no node has a higher inode number */
	uint64_t mem;			/* heap bytes in extent arrays */
	struct famfs_arena arena;	/* the nodes */
	struct famfs_node *root;
};

static uint64_t ino_hash(uint64_t ino)
{
	return ino * 0x9e3779b97f4a7c15ull;	/* Fibonacci hashing */
}

/*
 * Hash of (parent, name): 8 bytes at a time, each word mixed in with a
 * multiply and a shift. Names are short, so a call into a CRC library
 * (set-up cost per call) was the larger part of a lookup.
 */
static uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

static uint64_t name_hash(uint64_t parent, const char *name, size_t len)
{
	uint64_t h = mix(parent, len), w;

	for (; len >= 8; name += 8, len -= 8) {
		memcpy(&w, name, 8);
		h = mix(h, w);
	}
	if (len) {
		w = 0;
		memcpy(&w, name, len);
		h = mix(h, w);
	}
	return ino_hash(h ^ (h >> 29));
}

uint64_t famfs_ns_hash(uint64_t seed, const char *s, size_t len)
{
	return name_hash(seed, s, len);
}

static uint64_t node_name_hash(const struct famfs_node *n)
{
	return name_hash(n->parent ? n->parent->ino : 0, n->name, n->name_len);
}

static struct famfs_node *slot_node(uint64_t slot)
{
	return (struct famfs_node *)(uintptr_t)(slot & PTR_MASK);
}

static uint64_t slot_tag(uint64_t hash)
{
	return (hash & 0xffffu) << PTR_BITS;
}

/* Home slot: the hash's top bits (the tag uses the bottom ones). */
static uint64_t home(const struct table *t, uint64_t hash)
{
	return hash >> (64 - t->bits);
}

/*
 * Tables of 2 MiB and more come from mmap with transparent huge pages: a
 * lookup is one random access into a big array, and with 4 KiB pages each
 * would also miss the TLB. Fresh anonymous memory is already zero.
 */
#define HUGE_TABLE	(2ull << 20)

static int table_init(struct table *t, unsigned int bits)
{
	size_t bytes = (1ull << bits) * sizeof(*t->slots);

	if (bytes >= HUGE_TABLE) {
		void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -ENOMEM;
		(void)madvise(p, bytes, MADV_HUGEPAGE);	/* a hint only */
		t->slots = p;
	} else {
		t->slots = calloc(1, bytes);
		if (!t->slots)
			return -ENOMEM;
	}
	t->bits = bits;
	t->mask = (1ull << bits) - 1;
	return 0;
}

static void table_free(struct table *t)
{
	size_t bytes = (t->mask + 1) * sizeof(*t->slots);

	if (!t->slots)
		return;
	if (bytes >= HUGE_TABLE)
		munmap(t->slots, bytes);
	else
		free(t->slots);
	t->slots = NULL;
}

static void table_put(struct table *t, struct famfs_node *n, uint64_t hash)
{
	uint64_t i = home(t, hash);

	while (t->slots[i])
		i = (i + 1) & t->mask;
	t->slots[i] = (uint64_t)(uintptr_t)n | slot_tag(hash);
}

/* Removes n, shifting later members of its probe run back into the gap. */
static void table_del(struct table *t, const struct famfs_node *n,
		      uint64_t hash, uint64_t (*rehash)(const struct famfs_node *))
{
	uint64_t i = home(t, hash), j;

	while (slot_node(t->slots[i]) != n)
		i = (i + 1) & t->mask;
	for (j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		uint64_t k = home(t, rehash(slot_node(t->slots[j])));

		/* Move j into the gap at i unless its home lies in (i, j]. */
		if (((j - k) & t->mask) >= ((j - i) & t->mask)) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = 0;
}

static uint64_t node_ino_hash(const struct famfs_node *n)
{
	return ino_hash(n->ino);
}

static void link_node(struct famfs_ns *ns, struct famfs_node *n)
{
	table_put(&ns->by_ino, n, ino_hash(n->ino));
	table_put(&ns->by_name, n, node_name_hash(n));
}

/* Rebuilds both tables at 2^bits slots; -ENOMEM leaves them as they were. */
static int resize(struct famfs_ns *ns, unsigned int bits)
{
	struct table old_ino = ns->by_ino, old_name = ns->by_name;

	if (table_init(&ns->by_ino, bits) < 0) {
		ns->by_ino = old_ino;
		return -ENOMEM;
	}
	if (table_init(&ns->by_name, bits) < 0) {
		table_free(&ns->by_ino);
		ns->by_ino = old_ino;
		ns->by_name = old_name;
		return -ENOMEM;
	}
	for (uint64_t i = 0; i <= old_ino.mask; i++)
		if (old_ino.slots[i])
			link_node(ns, slot_node(old_ino.slots[i]));
	table_free(&old_ino);
	table_free(&old_name);
	return 0;
}

/* Slots needed for count nodes at a load of at most 3/4, as log2. */
static unsigned int bits_for(uint64_t count)
{
	unsigned int bits = __builtin_ctz(MIN_SLOTS);

	while (bits < 62 && (1ull << bits) * 3 < count * 4)
		bits++;
	return bits;
}

int famfs_ns_reserve(struct famfs_ns *ns, uint64_t count)
{
	unsigned int bits = bits_for(count);

	return bits > ns->by_ino.bits ? resize(ns, bits) : 0;
}

static size_t node_size(size_t name_len)
{
	return sizeof(struct famfs_node) + name_len + 1;
}

static struct famfs_node *new_node(struct famfs_ns *ns,
				   const struct famfs_node_attr *a)
{
	struct famfs_node *n = famfs_arena_alloc(&ns->arena,
						 node_size(a->name_len));

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
		famfs_arena_release(&ns->arena, n, node_size(a->name_len));
		return NULL;
	}
	memcpy(n->file.many, a->extents, a->n_extents * sizeof(*a->extents));
	ns->mem += malloc_usable_size(n->file.many);
	return n;
}

static void free_extents(struct famfs_ns *ns, struct famfs_node *n)
{
	if (!famfs_node_is_dir(n) && n->n_extents > 1) {
		ns->mem -= malloc_usable_size(n->file.many);
		free(n->file.many);
	}
}

static void free_node(struct famfs_ns *ns, struct famfs_node *n)
{
	free_extents(ns, n);
	famfs_arena_release(&ns->arena, n, node_size(n->name_len));
}

int famfs_ns_new(struct famfs_ns **ret)
{
	struct famfs_node_attr root = {
		.ino = FAMFS_ROOT_INO, .mode = S_IFDIR | 0755, .name = "",
	};
	struct famfs_ns *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return -ENOMEM;
	if (table_init(&ns->by_ino, __builtin_ctz(MIN_SLOTS)) < 0 ||
	    table_init(&ns->by_name, __builtin_ctz(MIN_SLOTS)) < 0) {
		table_free(&ns->by_ino);
		free(ns);
		return -ENOMEM;
	}
	ns->root = new_node(ns, &root);
	if (!ns->root) {
		famfs_ns_free(ns);
		return -ENOMEM;
	}
	link_node(ns, ns->root);
	ns->count = 1;
	ns->max_ino = FAMFS_ROOT_INO;
	*ret = ns;
	return 0;
}

void famfs_ns_free(struct famfs_ns *ns)
{
	if (!ns)
		return;
	/* Nodes go with the arena; only extent arrays need a walk. */
	for (uint64_t i = 0; ns->by_ino.slots && i <= ns->by_ino.mask; i++)
		if (ns->by_ino.slots[i])
			free_extents(ns, slot_node(ns->by_ino.slots[i]));
	famfs_arena_destroy(&ns->arena);
	table_free(&ns->by_ino);
	table_free(&ns->by_name);
	free(ns);
}

struct famfs_node *famfs_ns_root(const struct famfs_ns *ns)
{
	return ns->root;
}

struct famfs_node *famfs_ns_get(const struct famfs_ns *ns, uint64_t ino)
{
	const struct table *t = &ns->by_ino;
	uint64_t h = ino_hash(ino), tag = slot_tag(h), i = home(t, h);

	if (ino > ns->max_ino)
		return NULL;
	for (; t->slots[i]; i = (i + 1) & t->mask) {
		struct famfs_node *n = slot_node(t->slots[i]);

		if ((t->slots[i] & ~PTR_MASK) == tag && n->ino == ino)
			return n;
	}
	return NULL;
}

struct famfs_node *famfs_ns_lookup(const struct famfs_ns *ns,
				   const struct famfs_node *dir,
				   const char *name, size_t len)
{
	const struct table *t = &ns->by_name;
	uint64_t h = name_hash(dir->ino, name, len), tag = slot_tag(h);

	for (uint64_t i = home(t, h); t->slots[i]; i = (i + 1) & t->mask) {
		struct famfs_node *n = slot_node(t->slots[i]);

		if ((t->slots[i] & ~PTR_MASK) == tag && n->parent == dir &&
		    n->name_len == len && memcmp(n->name, name, len) == 0)
			return n;
	}
	return NULL;
}

void famfs_ns_prefetch_insert(const struct famfs_ns *ns,
			      const struct famfs_node_attr *attr)
{
	const struct table *n = &ns->by_name, *i = &ns->by_ino;

	__builtin_prefetch(&n->slots[home(n, name_hash(attr->parent, attr->name,
						       attr->name_len))], 1);
	__builtin_prefetch(&i->slots[home(i, ino_hash(attr->ino))], 1);
}

int famfs_ns_insert_check(const struct famfs_ns *ns,
			  const struct famfs_node_attr *attr,
			  struct famfs_node **ret_parent)
{
	struct famfs_node *dir = famfs_ns_get(ns, attr->parent);

	if (!dir)
		return -ENOENT;
	if (!famfs_node_is_dir(dir))
		return -ENOTDIR;
	if (famfs_ns_get(ns, attr->ino) ||
	    famfs_ns_lookup(ns, dir, attr->name, attr->name_len))
		return -EEXIST;
	if (ret_parent)
		*ret_parent = dir;
	return 0;
}

int famfs_ns_insert_under(struct famfs_ns *ns, struct famfs_node *dir,
			  const struct famfs_node_attr *attr,
			  struct famfs_node **ret)
{
	struct famfs_node *n = new_node(ns, attr);

	if (!n)
		return -ENOMEM;
	if ((uintptr_t)n & ~PTR_MASK) {	/* cannot pack it in a slot */
		free_node(ns, n);
		return -ENOMEM;
	}
	n->parent = dir;
	n->prev = dir->dir.last;
	if (dir->dir.last)
		dir->dir.last->next = n;
	else
		dir->dir.first = n;
	dir->dir.last = n;
	dir->dir.n_children++;
	/* A failed grow leaves the index working, just fuller. */
	if ((ns->count + 1) * 4 > (ns->by_ino.mask + 1) * 3)
		(void)resize(ns, ns->by_ino.bits + 1);
	link_node(ns, n);
	ns->count++;
	if (n->ino > ns->max_ino)
		ns->max_ino = n->ino;
	if (ret)
		*ret = n;
	return 0;
}

int famfs_ns_insert(struct famfs_ns *ns, const struct famfs_node_attr *attr,
		    struct famfs_node **ret)
{
	struct famfs_node *dir;
	int err = famfs_ns_insert_check(ns, attr, &dir);

	return err < 0 ? err : famfs_ns_insert_under(ns, dir, attr, ret);
}

int famfs_ns_remove(struct famfs_ns *ns, struct famfs_node *n)
{
	struct famfs_node *dir = n->parent;

	if (!dir)
		return -EBUSY;		/* the root stays */
	if (famfs_node_is_dir(n) && n->dir.n_children)
		return -ENOTEMPTY;
	table_del(&ns->by_ino, n, ino_hash(n->ino), node_ino_hash);
	table_del(&ns->by_name, n, node_name_hash(n), node_name_hash);
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
	return sizeof(*ns) + ns->mem + famfs_arena_bytes(&ns->arena) +
	       (ns->by_ino.mask + 1 + ns->by_name.mask + 1) * sizeof(uint64_t);
}
