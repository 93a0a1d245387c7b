// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel's tree, kept in step with the log through the module's ioctls
 * (kmod/uapi/famfsd_kmod.h).
 *
 * Record to ioctl: MKDIR, CREATE and DELETE as they are, each with its
 * record's seq, which raises the tree's applied_seq; RECLAIM revokes the
 * inode if it is still open here (its space may be reused); SET_QUOTA has
 * nothing to show. A refused ioctl is logged: the mount then differs from
 * the log until the next replay from scratch.
 *
 * Checkpoint items (the nodes a log generation starts from) go in with
 * seq 0 and the tree's position is set once the replay is done
 * (FAMFSD_IOC_SET_SEQ), since items come parents first, not in sequence
 * order. A restarted agent that finds the tree of an earlier one skips
 * what it holds: items and records up to its applied_seq. If that tree is
 * older than the checkpoint now in the log (the agent was down across a
 * compaction, or was killed while it applied a checkpoint), it may hold
 * files deleted in between, whose deletes no record shows any more: it is
 * reconciled with the state instead (kmod_reconcile: a walk of the mount).
 *
 * A new log generation that the agent follows with its state kept changes
 * nothing here but the tree's generation; one it rebuilds from is resynced
 * (agent_ns_diff), and inodes open here that the new state has neither
 * live nor pending reclaim are revoked: their space was reclaimed while
 * the agent was behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/kmod/kmod_backend.h"

static void refused(struct kmod_be *k, const struct famfs_rec *r, const char *op,
		    int err)
{
	k->failures++;
	msg(MSG_ERR, "The kernel refused %s of inode %" PRIu64
		  " (record %" PRIu64 "): %s; the mount differs from the log "
		  "until the next replay from scratch", op, r->ino, r->seq,
		  strerror(err));
}

/* seq: the record a change comes from (0 in a resync): see the header. */
static int do_mkdir(int fd, uint64_t seq, uint64_t ino, uint64_t parent,
		    uint64_t mtime_ns, uint32_t mode, uint32_t uid, uint32_t gid,
		    const char *name, uint32_t name_len)
{
	struct famfsd_ioc_mkdir m = {
		.seq = seq, .ino = ino, .parent = parent, .mtime_ns = mtime_ns,
		.mode = mode & 07777, .uid = uid, .gid = gid,
		.name_len = name_len, .name = (uintptr_t)name,
	};

	return ioctl(fd, FAMFSD_IOC_MKDIR, &m) < 0 ? -errno : 0;
}

/* ext: host byte order (le: little-endian, as in a record). */
static int do_create(int fd, const struct famfs_node_attr *at,
		     const struct famfs_extent *ext, bool le)
{
	struct famfsd_ioc_extent e[FAMFSD_KMOD_MAX_EXTENTS];
	struct famfsd_ioc_create c = {
		.seq = at->seq, .ino = at->ino, .parent = at->parent, .size = at->size,
		.mtime_ns = at->mtime_ns, .mode = at->mode & 07777,
		.uid = at->uid, .gid = at->gid, .n_extents = at->n_extents,
		.name_len = (uint32_t)at->name_len, .name = (uintptr_t)at->name,
		.extents = (uintptr_t)e,
	};

	if (at->n_extents > FAMFSD_KMOD_MAX_EXTENTS)
		return -E2BIG;
	for (uint32_t i = 0; i < at->n_extents; i++) {
		e[i].offset = le ? famfs_extent_offset(&ext[i]) : ext[i].offset;
		e[i].len = le ? famfs_extent_len(&ext[i]) : ext[i].len;
	}
	return ioctl(fd, FAMFSD_IOC_CREATE, &c) < 0 ? -errno : 0;
}

static int do_delete(int fd, uint64_t seq, uint64_t ino, uint64_t parent,
		     const char *name, uint32_t name_len)
{
	struct famfsd_ioc_delete d = {
		.seq = seq, .ino = ino, .parent = parent, .name_len = name_len,
		.name = (uintptr_t)name,
	};

	return ioctl(fd, FAMFSD_IOC_DELETE, &d) < 0 ? -errno : 0;
}

/* 0: revoked while open here; -ENOENT: nobody held it (the usual case). */
static int do_revoke(int fd, uint64_t ino)
{
	struct famfsd_ioc_revoke v = { .ino = ino };

	return ioctl(fd, FAMFSD_IOC_REVOKE, &v) < 0 ? -errno : 0;
}

/*
 * A checkpoint item (r->checkpoint; its seq is the node's creation): goes
 * in with seq 0, since items come in tree order, not in sequence order,
 * and an applied_seq raised by one would make a restart after a kill skip
 * the items before it. false when the item is not for the kernel.
 */
static bool item_wanted(struct kmod_be *k, const struct famfs_rec *r)
{
	/* Older than the checkpoint: reconciled at its end instead. */
	if (k->reconcile)
		return false;
	/* The tree holds every node created up to skip_seq that lives. */
	return r->seq > k->skip_seq;
}

void kmod_check_age(struct kmod_be *k)
{
	if (!k->reused || k->aged)
		return;
	k->aged = true;
	if (k->skip_seq < famfs_log_base(k->a->pool->log).seq)
		k->reconcile = true;
}

static void apply_record(struct kmod_be *k, const struct famfs_rec *r,
			 uint64_t seq)
{
	int fd = k->root_fd, e;
	struct famfs_node_attr at;

	switch (r->type) {
	case FAMFS_REC_MKDIR:
		e = do_mkdir(fd, seq, r->ino, r->parent, r->mtime_ns, r->mode, r->uid,
			     r->gid, r->name, r->name_len);
		if (e < 0)
			refused(k, r, "mkdir", -e);
		break;
	case FAMFS_REC_CREATE:
		at = (struct famfs_node_attr){
			.seq = seq, .ino = r->ino, .parent = r->parent,
			.size = r->size,
			.mtime_ns = r->mtime_ns, .mode = r->mode, .uid = r->uid,
			.gid = r->gid, .name = r->name, .name_len = r->name_len,
			.n_extents = r->n_extents,
		};
		e = do_create(fd, &at, r->extents, true);
		if (e < 0)
			refused(k, r, "create", -e);
		break;
	case FAMFS_REC_DELETE:
		e = do_delete(fd, seq, r->ino, r->parent, r->name, r->name_len);
		if (e < 0)
			refused(k, r, "delete", -e);
		break;
	case FAMFS_REC_RECLAIM:
		e = do_revoke(fd, r->ino);
		if (e == 0)
			msg(MSG_WARN, "space of inode %" PRIu64
				  " reclaimed (seq %" PRIu64 ") while open here; "
				  "its files now fail with EIO and SIGBUS",
				  r->ino, r->seq);
		else if (e != -ENOENT)
			refused(k, r, "revoke", -e);
		break;
	default:
		break;
	}
}

void kmod_apply(void *priv, const struct famfs_rec *r)
{
	struct kmod_be *k = priv;

	kmod_check_age(k);
	if (r->checkpoint) {
		if (item_wanted(k, r))
			apply_record(k, r, 0);
		return;
	}
	if (k->reconcile) {
		/*
		 * The first record after a checkpoint the tree was older
		 * than: the state already holds r, and so will the tree.
		 */
		kmod_reconcile(k);
		return;
	}
	if (r->seq <= k->skip_seq)
		return;		/* the kernel's tree has it from an earlier agent */
	apply_record(k, r, r->seq);
}

/* ---- replay from scratch, eviction, a new generation ---------------------- */

/* Deletes what the old tree has and the new one lacks (agent_ns_diff). */
static void delete_gone(void *ctx, const struct famfs_node *n, bool deleted)
{
	struct kmod_be *k = ctx;
	int e;

	(void)deleted;
	e = do_delete(k->root_fd, 0, n->ino, n->parent->ino, n->name,
		      n->name_len);
	if (e < 0 && e != -ENOENT)
		msg(MSG_ERR, "The kernel refused to delete "
			  "inode %" PRIu64 ": %s", n->ino, strerror(-e));
}

/* Adds node n of the state (agent_ns_diff, reconcile). */
static void kmod_add_node(void *ctx, const struct famfs_node *n)
{
	struct kmod_be *k = ctx;
	struct famfs_node_attr at = {
		.ino = n->ino, .parent = n->parent->ino, .size = n->size,
		.mtime_ns = n->mtime_ns, .mode = n->mode, .uid = n->uid,
		.gid = n->gid, .name = n->name, .name_len = n->name_len,
		.n_extents = n->n_extents,
	};
	int e;

	if (famfs_node_is_dir(n))
		e = do_mkdir(k->root_fd, 0, n->ino, n->parent->ino, n->mtime_ns,
			     n->mode, n->uid, n->gid, n->name, n->name_len);
	else
		e = do_create(k->root_fd, &at, famfs_node_extents(n), false);
	if (e < 0 && e != -EEXIST)
		msg(MSG_ERR, "The kernel refused to add "
			  "inode %" PRIu64 ": %s", n->ino, strerror(-e));
}

void kmod_set_seq(struct kmod_be *k)
{
	struct famfsd_ioc_seq q = {
		.seq = k->a->pos.seq, .generation = k->a->generation,
	};

	if (ioctl(k->root_fd, FAMFSD_IOC_SET_SEQ, &q) < 0)
		msg(MSG_WARN, "FAMFSD_IOC_SET_SEQ failed: %s, "
			  "ignoring", strerror(errno));
}

/*
 * Revokes the inodes open here that the state has neither live nor
 * pending reclaim: their space was reclaimed while this agent was behind
 * (a checkpoint keeps no RECLAIM record to apply).
 */
static void revoke_reclaimed(struct kmod_be *k)
{
	const struct famfs_state *st = k->a->st;
	uint64_t *inos = NULL;
	long n = kmod_open_inos(k, &inos);

	for (long i = 0; i < n; i++)
		if (!famfs_ns_get(st->ns, inos[i]) &&
		    !famfs_state_pending_find(st, inos[i]) &&
		    do_revoke(k->root_fd, inos[i]) == 0)
			msg(MSG_WARN, "space of inode %" PRIu64 " was reclaimed "
			    "while this agent was behind, and it is open here; "
			    "its files now fail with EIO and SIGBUS", inos[i]);
	free(inos);
}

/* ---- reconcile: the mount walked against the state ------------------------ */

#define NODE_IN_TREE	0x0001u	/* of FAMFS_NODE_F_OWNER: the tree has it */

/* The entries of one directory of the mount; names packed in one buffer. */
struct kdir {
	struct kent {
		uint64_t ino;
		uint32_t off;		/* in names */
		uint16_t len;
		bool dir;
	} *v;
	size_t n, cap;
	char *names;
	size_t used, room;
};

struct reconcile {
	struct kmod_be *k;
	/* The directory walked, relative to the mount's root ("": the root). */
	char path[FAMFS_PATH_MAX + 2];
	size_t path_len;
	uint64_t deleted, added;
	bool failed;
};

static void kdir_free(struct kdir *d)
{
	free(d->v);
	free(d->names);
}

static int kdir_add(struct kdir *d, uint64_t ino, bool dir, const char *name,
		    size_t len)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct kent *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	if (d->room - d->used < len) {
		size_t room = d->used + len + 4096;

		if (room < d->room * 2)
			room = d->room * 2;
		char *names = realloc(d->names, room);

		if (!names)
			return -ENOMEM;
		d->names = names;
		d->room = room;
	}
	memcpy(d->names + d->used, name, len);
	d->v[d->n++] = (struct kent){
		.ino = ino, .off = (uint32_t)d->used, .len = (uint16_t)len,
		.dir = dir,
	};
	d->used += len;
	return 0;
}

/*
 * Reads every entry of the directory at rc->path before anything in it
 * changes (a delete during a readdir could make it skip entries).
 */
static int kdir_read(struct reconcile *rc, struct kdir *d)
{
	bool root = rc->path_len == 0;
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, r = 0;

	/* Relative: an absolute path would leave the mount. */
	fd = openat(rc->k->root_fd, root ? "." : rc->path, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Something mounted over a directory of ours is not ours to walk. */
	if (fstat(fd, &st) < 0 || st.st_dev != rc->k->dev) {
		close(fd);
		return -EXDEV;
	}
	dir = fdopendir(fd);
	if (!dir) {
		r = -errno;
		close(fd);
		return r;
	}
	while (r == 0 && (errno = 0, de = readdir(dir))) {
		size_t len = strlen(de->d_name);

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (root && !strcmp(de->d_name, FAMFSD_KMOD_META_DIR)) ||
		    len > FAMFS_NAME_MAX)
			continue;
		r = kdir_add(d, de->d_ino, de->d_type == DT_DIR, de->d_name, len);
	}
	if (r == 0 && errno)
		r = -errno;
	closedir(dir);
	return r;
}

/* Entry e of directory dir_ino is the state's node of that inode. */
static struct famfs_node *same_node(const struct reconcile *rc, uint64_t dir_ino,
				    const struct kent *e, const char *name)
{
	struct famfs_node *n = famfs_ns_get(rc->k->a->st->ns, e->ino);

	if (!n || !n->parent || n->parent->ino != dir_ino ||
	    n->name_len != e->len || memcmp(n->name, name, e->len) ||
	    famfs_node_is_dir(n) != e->dir)
		return NULL;
	return n;
}

/*
 * Walks directory dir_ino (at rc->path): entries the state has stay and
 * are flagged, the others go, children first. doomed: the directory goes,
 * so all below it does.
 */
static void walk_tree(struct reconcile *rc, uint64_t dir_ino, bool doomed)
{
	struct kdir d = { 0 };
	size_t at = rc->path_len;
	int r = kdir_read(rc, &d);

	if (r < 0) {
		msg(MSG_ERR, "Failed to read directory '/%s' of the kernel's "
		    "tree: %s", rc->path, strerror(-r));
		rc->failed = true;
	}
	for (size_t i = 0; r == 0 && i < d.n; i++) {
		const struct kent *e = &d.v[i];
		const char *name = d.names + e->off;
		struct famfs_node *n = doomed ? NULL : same_node(rc, dir_ino, e, name);

		if (e->dir && at + 1 + e->len < sizeof(rc->path)) {
			snprintf(rc->path + at, sizeof(rc->path) - at, "%s%.*s",
				 at ? "/" : "", (int)e->len, name);
			rc->path_len = strlen(rc->path);
			walk_tree(rc, e->ino, !n);
			rc->path[at] = '\0';
			rc->path_len = at;
		}
		if (n) {
			n->flags |= NODE_IN_TREE;
			continue;
		}
		r = do_delete(rc->k->root_fd, 0, e->ino, dir_ino, name, e->len);
		if (r < 0) {
			msg(MSG_ERR, "The kernel refused to delete inode %" PRIu64
			    " ('%.*s' in inode %" PRIu64 "): %s", e->ino,
			    (int)e->len, name, dir_ino, strerror(-r));
			rc->failed = true;
			r = 0;
		} else {
			rc->deleted++;
		}
	}
	kdir_free(&d);
}

/* Adds every node of the state the walk did not flag, parents first. */
static void add_missing(struct reconcile *rc)
{
	const struct famfs_node *root = famfs_ns_root(rc->k->a->st->ns);
	struct famfs_node *n = root->dir.first;

	while (n) {
		if (n->flags & NODE_IN_TREE) {
			n->flags &= ~NODE_IN_TREE;
		} else {
			kmod_add_node(rc->k, n);
			rc->added++;
		}
		if (famfs_node_is_dir(n) && n->dir.first) {
			n = n->dir.first;
			continue;
		}
		while (n != root && !n->next)
			n = n->parent;
		n = n == root ? NULL : n->next;
	}
}

void kmod_reconcile(struct kmod_be *k)
{
	struct reconcile rc = { .k = k };
	uint64_t t0 = clock_mono_ns();

	k->reconcile = false;
	walk_tree(&rc, FAMFS_ROOT_INO, false);
	/* Before the adds: the kernel refuses a file over a held one's space. */
	revoke_reclaimed(k);
	add_missing(&rc);
	msg(MSG_INFO, "the kernel's tree of '%s' reconciled with the log at seq %"
	    PRIu64 ": %" PRIu64 " entries deleted, %" PRIu64 " added, in %.1f "
	    "ms%s", k->device, k->a->pos.seq, rc.deleted, rc.added,
	    (clock_mono_ns() - t0) / 1e6, rc.failed ? " (some refused)" : "");
}

void kmod_resync(void *priv, const struct famfs_ns *old,
		 const struct famfs_ns *new)
{
	struct kmod_be *k = priv;

	if (k->reconcile || (k->reused && !k->attached)) {
		/*
		 * Before the mount, a reused tree is not old: it holds what
		 * an earlier agent applied. Make it the new state's.
		 */
		kmod_reconcile(k);
	} else {
		/*
		 * Deletes, revokes, then adds: a new file may sit on the
		 * space of one deleted and reclaimed while held open here,
		 * which the kernel refuses until that one is revoked.
		 */
		agent_ns_diff(old, new, delete_gone, NULL, k);
		revoke_reclaimed(k);
		agent_ns_diff(old, new, NULL, kmod_add_node, k);
	}
	/* A log formatted anew starts at 1 again: skip nothing from now on. */
	k->skip_seq = 0;
	kmod_set_seq(k);
}

/* The log moved to a new generation, the tree stays: the kernel notes it. */
void kmod_moved(void *priv)
{
	kmod_set_seq(priv);
}

/*
 * Revokes the inodes open here, all of them or those gone from the state.
 * The follower is the state's only writer: no lock to read it.
 */
static void revoke_open(struct kmod_be *k, bool all)
{
	uint64_t *inos = NULL;
	long n;

	n = kmod_open_inos(k, &inos);
	for (long i = 0; i < n; i++)
		if ((all || !famfs_ns_get(k->a->st->ns, inos[i])) &&
		    do_revoke(k->root_fd, inos[i]) == 0)
			msg(MSG_WARN, "inode %" PRIu64 " revoked: "
				  "its files now fail with EIO", inos[i]);
	free(inos);
}

/* Evicted: files open here but gone from the log may be reused. */
void kmod_revoke(void *priv)
{
	revoke_open(priv, false);
}

/*
 * Formatted anew: every open inode is of the old pool, even one whose
 * number the new pool uses again; resync then replaces the tree
 * (agent_ns_diff takes no old file for a new one). The kernel read the
 * layout at mount and checks each extent against it: a new layout whose
 * data area starts lower gets its files there refused (each logged) until
 * the device is mounted anew; no ioctl tells the kernel a new layout yet.
 */
void kmod_reformat(void *priv, const struct famfs_pool_info *info)
{
	(void)info;
	revoke_open(priv, true);
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

long kmod_open_inos(void *priv, uint64_t **ret)
{
	struct kmod_be *k = priv;
	struct famfsd_ioc_open_inos q = { .capacity = 64 };
	uint64_t *inos = NULL;

	for (;;) {
		uint64_t *p = realloc(inos, q.capacity * sizeof(*inos));

		if (!p) {
			free(inos);
			return -ENOMEM;
		}
		inos = p;
		q.inos = (uintptr_t)inos;
		if (ioctl(k->root_fd, FAMFSD_IOC_OPEN_INOS, &q) < 0) {
			int r = -errno;

			free(inos);
			return r;
		}
		if (q.count <= q.capacity)
			break;
		if (q.count > FAMFSD_KMOD_OPEN_INOS_MAX) {
			q.count = q.capacity;	/* report what fits */
			break;
		}
		q.capacity = q.count + 64 > FAMFSD_KMOD_OPEN_INOS_MAX ?
			     FAMFSD_KMOD_OPEN_INOS_MAX : q.count + 64;
	}
	qsort(inos, q.count, sizeof(*inos), cmp_u64);
	*ret = inos;
	return q.count;
}

