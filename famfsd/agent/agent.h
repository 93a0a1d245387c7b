/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent: follows a pool's metadata log into a local FUSE mount.
 *
 * Threads and what they own:
 *   main      parses options, opens the pool, runs the FUSE loop, tears down;
 *   FUSE      worker threads serve the mount (agent/fuse/), readers of the state;
 *   follower  the only writer of the replayed state (agent/follow.c); wakes
 *             every --poll-ms, on the change feed, or on a heartbeat's ask;
 *   feed      long-polls the master's GET /v1/log and wakes the follower;
 *   heartbeat reports applied_seq and open inodes to the master every second.
 * The feed and heartbeat threads exist only with --master.
 */
#ifndef FAMFSD_AGENT_H
#define FAMFSD_AGENT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "common/clock.h"
#include "common/msg.h"
#include "conf/options.h"
#include "ns.h"
#include "pool.h"
#include "state.h"

struct fuse_session;
struct fuse_lowlevel_ops;
struct agent_backend;
struct agent_kmod;
struct agent_files;
struct agent_http;

#define AGENT_ID_MAX		128
#define AGENT_HEARTBEAT_MS	1000
#define AGENT_FEED_WAIT_S	30
#define AGENT_READAHEAD_KB	1024	/* one maximal FUSE request */

/* Entry and attribute timeouts handed to the kernel, in seconds. */
#define AGENT_ENTRY_TIMEOUT	0.1
#define AGENT_ATTR_TIMEOUT	1.0

/* One node's attributes as the mount shows them. */
struct agent_attr {
	uint64_t ino, size, alloc_bytes, mtime_ns;
	uint32_t mode, uid, gid, nlink;
};

struct agent {
	struct conf_agent o;		/* the command line (conf/options.h) */
	char *token_read;		/* --token-file's token; o.token points here */
	char agent_id[AGENT_ID_MAX + 1];	/* made up; o.agent_id points here */
	struct agent_kmod *kmod;	/* the kmod back-end's state */
	struct famfs_pool *pool;	/* read-only: superblock and log */
	struct famfs_pooldev *data;	/* writable: the data area only */
	const struct famfs_cache_ops *ops;
	uint64_t data_offset;		/* pool offset where data starts */

	/*
	 * The replayed namespace. Written by the follower only, under the
	 * write lock; FUSE threads and the heartbeat read under the read lock.
	 */
	pthread_rwlock_t lock;
	struct famfs_state *st;		/* protected by lock */
	struct famfs_log_pos pos;	/* protected by lock: last applied */
	uint64_t generation;		/* protected by lock */

	struct agent_files *files;	/* inodes with open handles, own mutex */

	/* Follower wake-ups: wake_lock protects every field up to wake_cond. */
	pthread_mutex_t wake_lock;
	bool wake;			/* something may have been published */
	bool evicted;			/* the master evicted us: revoke */
	bool hb_kick;			/* heartbeat now (an orphan was closed) */
	pthread_cond_t wake_cond;	/* follower waits here */
	pthread_cond_t hb_cond;		/* heartbeat waits here */

	atomic_uint revokes_done;	/* evictions handled (handles revoked) */
	atomic_bool stop;
	atomic_bool ready;		/* initial replay done, mount up */
	atomic_bool fuse_inited;	/* the kernel's INIT was answered */
	struct fuse_session *se;	/* NULL until mounted */
	struct agent_http *feed_http;	/* to abort its long poll at stop */
	struct agent_http *hb_http;

	pthread_t follower, feed, heartbeat;
	bool follower_started, feed_started, heartbeat_started;
};

/* ---- agent/follow.c ------------------------------------------------------ */
/* Replays everything published so far, before the mount exists. */
int agent_follow_initial(struct agent *a);
int agent_follow_start(struct agent *a);
void agent_follow_stop(struct agent *a);
/* Asks the follower to look at the tail now. */
void agent_follow_wake(struct agent *a);
/*
 * The master evicted this agent: asks the follower to revoke the open
 * handles (it keeps its state and position: the log did not change).
 */
void agent_follow_request_revoke(struct agent *a);

/* ---- agent/token.c ------------------------------------------------------ */
/* At start: reads --token-file, if given, into a->o.token. Says why not. */
int agent_token_init(struct agent *a);
void agent_token_free(struct agent *a);
/*
 * After a 401/403: re-reads --token-file; true when it holds another
 * token, which h now sends. Called by the thread that owns h.
 */
bool agent_token_refresh(struct agent *a, struct agent_http *h);

/* ---- agent/feed.c / agent/heartbeat.c ------------------------------------ */
int agent_feed_start(struct agent *a);
void agent_feed_stop(struct agent *a);
int agent_heartbeat_start(struct agent *a);
void agent_heartbeat_stop(struct agent *a);
/* Heartbeat now rather than at the next tick. */
void agent_heartbeat_kick(struct agent *a);

/* ---- agent/fuse/handles.c: the open-handle and orphan table --------------------- */
/*
 * An inode with open FUSE handles. Its extents are copied at first open, so
 * the data path never touches the replayed state: a delete applied while it
 * is open removes the name but leaves this entry (an "orphan") intact until
 * the last release. The master reclaims the space only once no agent
 * reports the inode in open_inos.
 */
struct agent_file {
	struct agent_attr attr;		/* fixed at first open */
	unsigned int opens;		/* protected by the table mutex */
	bool orphan;			/* protected by the table mutex */
	atomic_bool revoked;		/* space may be reused: I/O is EIO */
	struct agent_file *next;	/* hash chain, table mutex */
	uint32_t n_extents;
	struct famfs_extent ext[];	/* host byte order, file order */
};

int agent_files_new(struct agent_files **ret);
void agent_files_free(struct agent_files *t);
/*
 * Takes a handle on node (the caller holds the state lock, so the node is
 * alive). Returns the entry, shared by every handle on the inode.
 */
int agent_files_open(struct agent_files *t, const struct famfs_node *node,
		     struct agent_file **ret);
/* Drops a handle. Returns true when it was the last one on an orphan. */
bool agent_files_release(struct agent_files *t, struct agent_file *f);
/* Marks ino deleted from the namespace; true when it is open here. */
bool agent_files_mark_orphan(struct agent_files *t, uint64_t ino);
/* The attributes of an open inode (nlink 0 for an orphan); -ENOENT. */
int agent_files_attr(struct agent_files *t, uint64_t ino,
		     struct agent_attr *ret);
/* Revokes one inode (0: all): later reads and writes fail with EIO. */
unsigned int agent_files_revoke(struct agent_files *t, uint64_t ino);
/*
 * The inodes with live (not revoked) handles, sorted, in a malloc'ed array.
 * Returns the count or -ENOMEM.
 */
long agent_files_list(struct agent_files *t, uint64_t **ret);

/* ---- agent/fuse/session.c / agent/fuse/ops.c / agent/fuse/io.c ----------------------------- */
/* Mounts the pool at a->o.mount; a->se is set on success. */
int fuse_backend_mount(struct agent *a);
/* Serves the mount until a signal, an unmount or agent_stop(). */
int fuse_backend_loop(struct agent *a);
void fuse_backend_unmount(struct agent *a);
/* Per-mount kernel tuning, once INIT was answered (readahead). */
void fuse_backend_tune(struct agent *a);
/* Ends the FUSE loop from any thread. */
void fuse_backend_exit(struct agent *a);
/* Tells the kernel a name is gone (delete replayed). Outside the lock. */
void fuse_backend_forget_name(struct agent *a, uint64_t parent, uint64_t ino,
			      const char *name, size_t len);
/* Drops the kernel's cached attributes and pages of ino. */
void fuse_backend_inval_inode(struct agent *a, uint64_t ino);

const struct fuse_lowlevel_ops *fuse_backend_ops(void);

/* Attributes of a replayed node. */
void agent_node_attr(const struct agent *a, const struct famfs_node *n,
		     struct agent_attr *ret);

/* Pointer into the writable data mapping for pool offset off. */
static inline uint8_t *agent_data_ptr(const struct agent *a, uint64_t off)
{
	return famfs_pooldev_base(a->data) + (off - a->data_offset);
}

#endif
