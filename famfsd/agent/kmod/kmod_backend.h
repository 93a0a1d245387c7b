/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel back-end's internals, shared by the files of agent/kmod/:
 *   kmod_backend.c  the back-end's table and the mount's life: init, mount,
 *                   loop, unmount, destroy;
 *   tree.c          keeping the kernel's tree in step with the log through
 *                   the module's ioctls: records, resync, reconcile, revoke.
 */
#ifndef FAMFSD_KMOD_BACKEND_H
#define FAMFSD_KMOD_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/backend.h"
#include "famfsd_kmod.h"

/* The back-end's private state (agent/backend.h: priv). */
struct kmod_be {
	struct agent *a;
	const char *device;		/* the pmem device, for messages */
	int mnt_fd;			/* fsmount() result: the mount's root */
	int root_fd;			/* an open root directory: ioctls go here */
	char meta_path[64];		/* /proc/self/fd/N/.famfsd/pool */
	bool attached;			/* moved onto a->o.mount */
	dev_t dev;			/* the mount's device number */
	uint64_t failures;		/* ioctls refused */
	bool reused;			/* the superblock already had a tree */
	uint64_t skip_seq;		/* records the tree already holds */
	/*
	 * The reused tree is older than the checkpoint being replayed (or a
	 * resync came before the mount): it may hold files deleted since, so
	 * it is reconciled with the state instead of fed the items.
	 */
	bool reconcile;
	bool aged;			/* reconcile was decided */
};

/* ---- tree.c ---------------------------------------------------------------- */
void kmod_apply(void *priv, const struct famfs_rec *r);
void kmod_resync(void *priv, const struct famfs_ns *old,
		 const struct famfs_ns *new);
void kmod_moved(void *priv);
void kmod_revoke(void *priv);
void kmod_reformat(void *priv, const struct famfs_pool_info *info);
long kmod_open_inos(void *priv, uint64_t **ret);
/* The tree now holds the log up to a->pos, of a->generation. */
void kmod_set_seq(struct kmod_be *k);
/*
 * Makes the kernel's tree hold exactly a->st: deletes what the state
 * lacks (a walk of the mount), adds what the tree lacks, revokes what was
 * reclaimed meanwhile. Write lock held, or before the follower runs.
 */
void kmod_reconcile(struct kmod_be *k);
/*
 * Once, at the first record or at the mount: whether a reused tree is
 * older than the checkpoint of the generation replayed (k->reconcile).
 */
void kmod_check_age(struct kmod_be *k);

#endif
