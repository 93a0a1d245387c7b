// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Inodes with open FUSE handles, and the orphans among them (deleted from
 * the namespace while open here).
 *
 * Why a table apart from the replayed state: the state drops a node the
 * moment its delete record is applied, but a process may still read and
 * write through a handle it opened before. Each entry holds a private copy
 * of the file's extents, so such a handle keeps working until its release,
 * and the heartbeat keeps reporting the inode in open_inos, which is what
 * stops the master from reclaiming (and reusing) its space.
 *
 * The table is small (open files, not all files): a fixed array of hash
 * chains under one mutex. Entries are freed on the last release only, so a
 * handle's pointer (fi->fh) stays valid without the mutex; a revoked entry
 * leaves the chains at once and is freed by its last release.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fuse/fuse_backend.h"

#define N_CHAINS 256u

struct fuse_handles {
	pthread_mutex_t lock;
	struct fuse_open_file *chain[N_CHAINS];	/* protected by lock */
	unsigned long n;			/* protected by lock */
};

static unsigned int chain_of(uint64_t ino)
{
	return (unsigned int)((ino * 0x9e3779b97f4a7c15ull) >> 56);
}

int fuse_handles_new(struct fuse_handles **ret)
{
	struct fuse_handles *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	*ret = t;
	return 0;
}

int fuse_map_new(const char *path, uint64_t dev_offset, uint64_t start,
		 struct fuse_data_map **ret)
{
	struct fuse_data_map *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	r = famfs_pooldev_open(path, dev_offset + start, FAMFS_DEV_WRITE, &m->dev);
	if (r < 0) {
		free(m);
		return r;
	}
	famfs_pooldev_set_origin(m->dev, start);
	m->start = start;
	m->end = start + famfs_pooldev_size(m->dev);
	m->refs = 1;
	*ret = m;
	return 0;
}

/* Called with t->lock held, or when no other thread runs. */
static void map_put_locked(struct fuse_data_map *m)
{
	if (!m || --m->refs)
		return;
	famfs_pooldev_close(m->dev);
	free(m);
}

void fuse_map_put(struct fuse_handles *t, struct fuse_data_map *m)
{
	pthread_mutex_lock(&t->lock);
	map_put_locked(m);
	pthread_mutex_unlock(&t->lock);
}

/* Entries still in the table hold map references: drop them too. */
void fuse_handles_free(struct fuse_handles *t)
{
	if (!t)
		return;
	for (unsigned int i = 0; i < N_CHAINS; i++) {
		struct fuse_open_file *f = t->chain[i], *next;

		for (; f; f = next) {
			next = f->next;
			map_put_locked(f->map);
			free(f);
		}
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Called with t->lock held. */
static struct fuse_open_file *find_locked(struct fuse_handles *t, uint64_t ino)
{
	struct fuse_open_file *f = t->chain[chain_of(ino)];

	while (f && f->attr.ino != ino)
		f = f->next;
	return f;
}

/* Called with t->lock held. */
static void unlink_locked(struct fuse_handles *t, struct fuse_open_file *f)
{
	struct fuse_open_file **p = &t->chain[chain_of(f->attr.ino)];

	while (*p != f)
		p = &(*p)->next;
	*p = f->next;
	t->n--;
}

static struct fuse_open_file *new_entry(const struct famfs_node *node)
{
	const struct famfs_extent *ext = famfs_node_extents(node);
	struct fuse_open_file *f;

	f = calloc(1, sizeof(*f) + node->n_extents * sizeof(f->ext[0]));
	if (!f)
		return NULL;
	f->attr.ino = node->ino;
	f->attr.size = node->size;
	f->attr.mtime_ns = node->mtime_ns;
	f->attr.mode = node->mode;
	f->attr.uid = node->uid;
	f->attr.gid = node->gid;
	f->attr.nlink = 1;
	f->n_extents = node->n_extents;
	for (uint32_t i = 0; i < node->n_extents; i++) {
		f->ext[i] = ext[i];
		f->attr.alloc_bytes += ext[i].len;
	}
	atomic_init(&f->revoked, false);
	return f;
}

int fuse_handles_open(struct fuse_handles *t, const struct famfs_node *node,
		      struct fuse_data_map *map, struct fuse_open_file **ret)
{
	struct fuse_open_file *f;

	pthread_mutex_lock(&t->lock);
	f = find_locked(t, node->ino);
	if (!f) {
		f = new_entry(node);
		if (!f) {
			pthread_mutex_unlock(&t->lock);
			return -ENOMEM;
		}
		f->map = map;
		map->refs++;
		f->next = t->chain[chain_of(node->ino)];
		t->chain[chain_of(node->ino)] = f;
		t->n++;
	}
	f->opens++;
	pthread_mutex_unlock(&t->lock);
	*ret = f;
	return 0;
}

bool fuse_handles_release(struct fuse_handles *t, struct fuse_open_file *f)
{
	bool last_orphan;

	pthread_mutex_lock(&t->lock);
	if (--f->opens) {
		pthread_mutex_unlock(&t->lock);
		return false;
	}
	last_orphan = f->orphan && !atomic_load(&f->revoked);
	if (!atomic_load(&f->revoked))
		unlink_locked(t, f);
	map_put_locked(f->map);
	pthread_mutex_unlock(&t->lock);
	free(f);
	return last_orphan;
}

bool fuse_handles_mark_orphan(struct fuse_handles *t, uint64_t ino)
{
	struct fuse_open_file *f;

	pthread_mutex_lock(&t->lock);
	f = find_locked(t, ino);
	if (f) {
		f->orphan = true;
		f->attr.nlink = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return f != NULL;
}

int fuse_handles_attr(struct fuse_handles *t, uint64_t ino,
		     struct fuse_be_attr *ret)
{
	struct fuse_open_file *f;

	pthread_mutex_lock(&t->lock);
	f = find_locked(t, ino);
	if (f)
		*ret = f->attr;
	pthread_mutex_unlock(&t->lock);
	return f ? 0 : -ENOENT;
}

unsigned int fuse_handles_revoke(struct fuse_handles *t, uint64_t ino)
{
	unsigned int n = 0;

	pthread_mutex_lock(&t->lock);
	for (unsigned int i = 0; i < N_CHAINS; i++) {
		struct fuse_open_file *f = t->chain[i], *next;

		for (; f; f = next) {
			next = f->next;
			if (ino && f->attr.ino != ino)
				continue;
			/*
			 * Out of the table: a later open of the same inode
			 * (live again after a rebuild) gets a fresh entry, and
			 * the heartbeat stops reporting this one. The entry
			 * itself lives until its last release.
			 */
			atomic_store(&f->revoked, true);
			unlink_locked(t, f);
			n++;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

long fuse_handles_list(struct fuse_handles *t, uint64_t **ret)
{
	uint64_t *inos;
	long n = 0;

	pthread_mutex_lock(&t->lock);
	inos = malloc((t->n ? t->n : 1) * sizeof(*inos));
	if (!inos) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < N_CHAINS; i++)
		for (struct fuse_open_file *f = t->chain[i]; f; f = f->next)
			inos[n++] = f->attr.ino;
	pthread_mutex_unlock(&t->lock);
	qsort(inos, (size_t)n, sizeof(*inos), cmp_u64);
	*ret = inos;
	return n;
}
