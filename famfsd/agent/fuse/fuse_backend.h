/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * FUSE back-end internals, shared by the files of agent/fuse/:
 *   session.c  the back-end's table, connection options, mount, loop, unmount;
 *   follow.c   what the follower's replay changes here: the open-handle
 *              table, and the kernel's caches (notifications);
 *   handles.c  the open-handle and orphan table;
 *   ops.c      lookup, getattr, readdir, statfs, the refusals;
 *   io.c       open, read, write, fsync, release.
 */
#ifndef FAMFSD_FUSE_BACKEND_H
#define FAMFSD_FUSE_BACKEND_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "agent/backend.h"

#define FUSE_READAHEAD_KB	1024	/* one maximal FUSE request */

/* Entry and attribute timeouts handed to the kernel, in seconds. */
#define FUSE_ENTRY_TIMEOUT_S	0.1
#define FUSE_ATTR_TIMEOUT_S	1.0

struct fuse_handles;
struct fuse_note;

/*
 * A writable mapping of the data area, pool offsets [start, end). A pool
 * formatted anew may move the data area: the follower then maps the new
 * one and makes it fb->map, but does not unmap the old one under FUSE
 * threads that may be copying through it. Each open file holds a
 * reference to the mapping it was opened with (its extents are of that
 * layout), so the old one goes with the last release of a file opened
 * before (those files are revoked anyway: their I/O is EIO).
 */
struct fuse_data_map {
	struct famfs_pooldev *dev;
	uint64_t start, end;		/* pool offsets it maps */
	unsigned int refs;		/* fb->map's and open files'; table mutex */
};

/*
 * The back-end's private state (agent/backend.h: priv), also the session's
 * userdata, so every handler reaches it with fuse_req_userdata().
 */
struct fuse_be {
	struct agent *a;
	struct fuse_session *se;	/* NULL until mounted */
	struct fuse_handles *handles;	/* inodes with open handles, own mutex */
	/*
	 * Writable: the data area only. Protected by a->lock (opens read it
	 * under the read lock, a reformat replaces it under the write lock);
	 * NULL when the new area could not be mapped (opens then get EIO).
	 */
	struct fuse_data_map *map;
	atomic_bool inited;		/* the kernel's INIT was answered */
	bool tuned;			/* readahead raised (follower only) */
	/* Kernel notifications queued by the replay: follower only. */
	struct fuse_note *notes, **notes_tail;	/* in replay order */
	bool notes_lost;		/* out of memory: drop all dentries */
};

/* One node's attributes as the mount shows them. */
struct fuse_be_attr {
	uint64_t ino, size, alloc_bytes, mtime_ns;
	uint32_t mode, uid, gid, nlink;
	uint64_t blksize;	/* the pool's unit, read with the node */
};

/*
 * Pointer into m for pool range [off, off + len); NULL when the range is
 * not all inside the mapped data area (never an address outside it).
 */
static inline uint8_t *fuse_data_ptr(const struct fuse_data_map *m,
				     uint64_t off, uint64_t len)
{
	if (off < m->start || off > m->end || len > m->end - off)
		return NULL;
	return famfs_pooldev_base(m->dev) + (off - m->start);
}

/* ---- session.c ------------------------------------------------------------ */
void fuse_op_init(void *userdata, struct fuse_conn_info *conn);

/* ---- follow.c ------------------------------------------------------------- */
void fuse_be_apply(void *priv, const struct famfs_rec *r);
void fuse_be_resync(void *priv, const struct famfs_ns *old,
		    const struct famfs_ns *new);
void fuse_be_revoke(void *priv);
void fuse_be_reformat(void *priv, const struct famfs_pool_info *info);
void fuse_be_notify(void *priv);
long fuse_be_open_inos(void *priv, uint64_t **ret);
/* Frees what notify did not send (the back-end's destroy). */
void fuse_be_drop_notes(struct fuse_be *fb);

/* ---- handles.c: the open-handle and orphan table --------------------------- */
/*
 * An inode with open FUSE handles. Its extents are copied at first open, so
 * the data path never touches the replayed state: a delete applied while it
 * is open removes the name but leaves this entry (an "orphan") intact until
 * the last release. The master reclaims the space only once no agent
 * reports the inode in open_inos.
 */
struct fuse_open_file {
	struct fuse_be_attr attr;	/* fixed at first open */
	unsigned int opens;		/* protected by the table mutex */
	bool orphan;			/* protected by the table mutex */
	atomic_bool revoked;		/* space may be reused: I/O is EIO */
	atomic_bool media_logged;	/* a pool fault was logged (once) */
	struct fuse_data_map *map;	/* the layout ext[] is of (a reference) */
	struct fuse_open_file *next;	/* hash chain, table mutex */
	uint32_t n_extents;
	struct famfs_extent ext[];	/* host byte order, file order */
};

int fuse_handles_new(struct fuse_handles **ret);
void fuse_handles_free(struct fuse_handles *t);
/*
 * Takes a handle on node (the caller holds the state lock, so the node is
 * alive, and map is fb->map). Returns the entry, shared by every handle on
 * the inode; a new entry takes a reference on map.
 */
int fuse_handles_open(struct fuse_handles *t, const struct famfs_node *node,
		      struct fuse_data_map *map, struct fuse_open_file **ret);
/* Maps [start, end of device) for writing, with one reference. */
int fuse_map_new(const char *path, uint64_t dev_offset, uint64_t start,
		 struct fuse_data_map **ret);
/* Drops a reference; the last one unmaps. Accepts NULL. */
void fuse_map_put(struct fuse_handles *t, struct fuse_data_map *m);
/* Drops a handle. Returns true when it was the last one on an orphan. */
bool fuse_handles_release(struct fuse_handles *t, struct fuse_open_file *f);
/* Marks ino deleted from the namespace; true when it is open here. */
bool fuse_handles_mark_orphan(struct fuse_handles *t, uint64_t ino);
/* The attributes of an open inode (nlink 0 for an orphan); -ENOENT. */
int fuse_handles_attr(struct fuse_handles *t, uint64_t ino,
		      struct fuse_be_attr *ret);
/* Revokes one inode (0: all): later reads and writes fail with EIO. */
unsigned int fuse_handles_revoke(struct fuse_handles *t, uint64_t ino);
/*
 * The inodes with live (not revoked) handles, sorted, in a malloc'ed array.
 * Returns the count or -ENOMEM.
 */
long fuse_handles_list(struct fuse_handles *t, uint64_t **ret);

/* ---- ops.c ----------------------------------------------------------------- */
extern const struct fuse_lowlevel_ops fuse_be_ops;
/* Attributes of a replayed node. */
void fuse_node_attr(const struct agent *a, const struct famfs_node *n,
		    struct fuse_be_attr *ret);
void fuse_attr_to_stat(const struct fuse_be_attr *at, struct stat *st);
int fuse_get_attr(struct fuse_be *fb, uint64_t ino, struct fuse_be_attr *ret);
/* Replies EPERM to a change the mount does not make, with a log line. */
void fuse_refuse(fuse_req_t req, const char *what, uint64_t ino,
		 const char *name);

/* ---- io.c ------------------------------------------------------------------ */
void fuse_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fuse_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fuse_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
		       off_t off, struct fuse_file_info *fi);
void fuse_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi);
void fuse_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
