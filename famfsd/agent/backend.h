/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's mount back-ends: FUSE (agent/fuse/; works on any
 * kernel with /dev/fuse) and the famfsd kernel module (agent/kmod/; the
 * production path on hosts whose pool is a pmem namespace).
 *
 * The agent core (agent/main.c, follow.c, heartbeat.c, feed.c) reaches the
 * back-end chosen with --backend through this table only, and keeps none
 * of its state: init creates the back-end's private state, which every
 * other operation gets as priv, and destroy frees it. The back-end reads
 * the core's struct agent (options, pool, replayed state under a->lock)
 * and calls the core's functions (agent/agent.h, and the helpers below).
 * A new back-end is a folder and one line in agent/backend.c.
 *
 * Which thread calls what: init, mount, loop, unmount and destroy the main
 * thread, in that order; apply, resync, moved, revoke, reformat, notify and
 * tick the follower (and apply, notify the main thread during the initial replay,
 * before mount); open_inos the heartbeat thread (and a back-end's own
 * revoke may use it from the follower). Optional operations are
 * NULL when a back-end needs nothing there.
 */
#ifndef FAMFSD_AGENT_BACKEND_H
#define FAMFSD_AGENT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

struct agent_backend {
	const char *name;

	/* ---- the mount's life (main thread) ---- */
	/*
	 * Before the pool is opened: sets *ret_priv (never NULL) on success,
	 * frees what it made on failure. May point a->o.pool_path elsewhere
	 * (the kernel module: the mount's meta file, which maps the metadata
	 * through DAX where a block device's page cache would go stale).
	 */
	int (*init)(struct agent *a, void **ret_priv);
	/* After the initial replay: the mount appears at a->o.mount. */
	int (*mount)(void *priv);
	/*
	 * Serves until SIGINT/SIGTERM (returns its number), an unmount
	 * (returns 0) or a failure (-errno).
	 */
	int (*loop)(void *priv);
	/* Takes the mount away; also called when mount failed or never ran. */
	void (*unmount)(void *priv);
	/* Frees priv, after the pool was closed. */
	void (*destroy)(void *priv);
	/* How file data reaches the pool, for the start-up line. */
	const char *(*data_path)(void *priv);

	/* ---- following the log (follower thread) ---- */
	/* After each record applied to a->st, write lock held. */
	void (*apply)(void *priv, const struct famfs_rec *r);
	/*
	 * After a replay from scratch swapped the state from old to new (an
	 * agent behind a new log generation's checkpoint, a pool formatted
	 * anew): make the mount hold new instead of old (agent_ns_diff()
	 * walks the difference). A file gone from new but pending reclaim in
	 * a->st takes the delete-while-open path; an inode open here that is
	 * neither live nor pending in a->st had its space reclaimed while
	 * the agent was away and must be revoked. Called with the write lock
	 * held, as the swap: no heartbeat reports the new position before
	 * the mount holds the new tree.
	 */
	void (*resync)(void *priv, const struct famfs_ns *old,
		       const struct famfs_ns *new);
	/*
	 * Optional. The log moved to another generation and the state was
	 * kept (a->generation and a->pos are the new ones): nothing of the
	 * mount changes, open files and inodes stay as they are. Write lock
	 * held.
	 */
	void (*moved)(void *priv);
	/*
	 * The master evicted this agent and no longer waits for it before
	 * reusing space: cut off what is open here and may be reused (the
	 * state and position stay; the log did not change).
	 */
	void (*revoke)(void *priv);
	/*
	 * The pool was formatted anew (another pool UUID, or its log went
	 * back): called with the write lock held as the new state is swapped
	 * in, before resync, so no open of the new state comes first. The new
	 * pool reuses inode numbers, names and space: every file open here is
	 * of the old one and must fail with EIO from now on, whether or not
	 * its inode is in the new state; and info is the new layout (the data
	 * area may have moved).
	 */
	void (*reformat)(void *priv, const struct famfs_pool_info *info);
	/*
	 * Optional. After apply, resync, revoke or reformat, with no lock
	 * held: pass on to the kernel what they queued (a FUSE notification
	 * may wait for a handler that waits for the state lock).
	 */
	void (*notify)(void *priv);
	/* Optional. At each follower wake-up (every --poll-ms at most). */
	void (*tick)(void *priv);

	/* ---- heartbeat thread ---- */
	/*
	 * The inodes open or mapped here, sorted, in a malloc'ed array;
	 * called under the state's read lock, so the list matches the
	 * applied sequence of the same heartbeat. Returns the count or -errno.
	 */
	long (*open_inos)(void *priv, uint64_t **ret);
};

extern const struct agent_backend agent_backend_fuse;
extern const struct agent_backend agent_backend_kmod;

/* "fuse", "kmod", ...; NULL for anything else. */
const struct agent_backend *agent_backend_find(const char *name);
/*
 * --backend auto (agent/backend_auto.c): "kmod" when the famfsd module is
 * loaded and the pool at pool_path (offset 0) is a device it mounts, else
 * "fuse"; *ret_why says why, for the start-up line. root prefixes /sys and
 * /proc ("" on a real host).
 */
const char *agent_backend_auto(const char *root, const char *pool_path,
			       uint64_t offset, const char **ret_why);

/* ---- what the core offers the back-ends ---------------------------------- */

/*
 * agent/diff.c: walks what differs between two trees: gone() for each node
 * of old that new lacks, children before their parent (deleted: the inode
 * is not in new at all, or is another file there, rather than the same one
 * under another name); then added() for each node of new that old lacks,
 * parents before their children. A node is the same in both when its inode
 * has the same parent and name there (a log has no renames), the same
 * creation record, attributes, size and extents (a pool formatted anew
 * reuses inode numbers and names), and its parent is the same too. Either
 * callback may be NULL.
 */
void agent_ns_diff(const struct famfs_ns *old, const struct famfs_ns *new,
		   void (*gone)(void *ctx, const struct famfs_node *n,
				bool deleted),
		   void (*added)(void *ctx, const struct famfs_node *n),
		   void *ctx);

/* What statfs shows, from the replayed state. */
struct agent_usage {
	uint64_t total_bytes, free_bytes;	/* the replayed allocator's */
	uint64_t nodes;				/* files and directories */
	uint64_t free_inodes;			/* one-extent creates that fit */
	uint64_t alloc_unit;			/* the pool's, at the same time */
};

/* agent/follow.c: takes the read lock. */
void agent_usage(struct agent *a, struct agent_usage *ret);

#endif
