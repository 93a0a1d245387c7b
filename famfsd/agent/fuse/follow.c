// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE back-end, follower side: what a replayed change means for the open
 * handles and for the kernel's caches of this mount.
 *
 * Open handles: a delete leaves the handles on the inode working (an
 * orphan, kept until the last release); a reclaim of an inode still open
 * here, or an eviction, revokes them (their space may be reused).
 *
 * Kernel caches: the kernel keeps names and pages of this mount, so a
 * delete is pushed to it with fuse_lowlevel_notify_delete(), and a revoked
 * inode's pages are dropped with fuse_lowlevel_notify_inval_inode(). Both
 * are queued here while the follower holds the write lock and sent by
 * notify once it is dropped: a FUSE handler waiting for the read lock may
 * hold the directory's inode lock that a notification needs. Creates need
 * nothing: a lookup that missed is answered without an entry timeout, so
 * the kernel asks again. Before the mount there is no kernel cache, and
 * nothing is queued.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fuse/fuse_backend.h"

/*
 * What the kernel may still cache: a name (parent != 0), or the pages and
 * attributes of an inode (parent 0).
 */
struct fuse_note {
	struct fuse_note *next;
	uint64_t parent, ino;
	uint32_t len;
	char name[];
};

static void queue_note(struct fuse_be *fb, uint64_t parent, uint64_t ino,
		       const char *name, size_t len)
{
	struct fuse_note *n;

	if (!fb->se)
		return;
	n = malloc(sizeof(*n) + len);
	if (!n) {
		fb->notes_lost = true;
		return;
	}
	n->next = NULL;
	n->parent = parent;
	n->ino = ino;
	n->len = (uint32_t)len;
	memcpy(n->name, name, len);
	*fb->notes_tail = n;
	fb->notes_tail = &n->next;
}

static void forget_name(struct fuse_be *fb, const struct fuse_note *n)
{
	int r = fuse_lowlevel_notify_delete(fb->se, n->parent, n->ino, n->name,
					    n->len);

	/* -ENOENT: the kernel did not cache it; nothing to drop. */
	if (r < 0 && r != -ENOENT && r != -ENOTDIR)
		msg(MSG_DEBUG, "notify_delete of inode %" PRIu64
			  " failed: %s, ignoring", n->ino, strerror(-r));
}

/* Drops the kernel's cached attributes and pages of ino. */
static void inval_inode(struct fuse_be *fb, uint64_t ino)
{
	int r = fuse_lowlevel_notify_inval_inode(fb->se, ino, 0, 0);

	if (r < 0 && r != -ENOENT)
		msg(MSG_DEBUG, "notify_inval_inode of inode %" PRIu64
			  " failed: %s, ignoring", ino, strerror(-r));
}

void fuse_be_drop_notes(struct fuse_be *fb)
{
	struct fuse_note *n = fb->notes, *next;

	for (; n; n = next) {
		next = n->next;
		free(n);
	}
	fb->notes = NULL;
	fb->notes_tail = &fb->notes;
	fb->notes_lost = false;
}

/* Sends the queued notes to the kernel, in replay order; no lock held. */
void fuse_be_notify(void *priv)
{
	struct fuse_be *fb = priv;

	for (struct fuse_note *n = fb->notes; n; n = n->next) {
		if (n->parent && !fb->notes_lost)
			forget_name(fb, n);
		else if (!n->parent)
			inval_inode(fb, n->ino);
	}
	/* A name was not queued: drop every cached name below the root. */
	if (fb->notes_lost)
		inval_inode(fb, FAMFS_ROOT_INO);
	fuse_be_drop_notes(fb);
}

/* For a delete, the node is already gone from the state. */
void fuse_be_apply(void *priv, const struct famfs_rec *r)
{
	struct fuse_be *fb = priv;

	switch (r->type) {
	case FAMFS_REC_DELETE:
		if (fuse_handles_mark_orphan(fb->handles, r->ino))
			msg(MSG_INFO, "inode %" PRIu64 " deleted "
				  "(seq %" PRIu64 ") while open here: its extents "
				  "stay usable by the open handles until the last "
				  "one closes", r->ino, r->seq);
		queue_note(fb, r->parent, r->ino, r->name, r->name_len);
		break;
	case FAMFS_REC_RECLAIM:
		/*
		 * The master reclaims only what no agent reports open; this
		 * one still has it open, so it was evicted or its reports were
		 * lost. The space may be reused: stop touching it.
		 */
		if (fuse_handles_revoke(fb->handles, r->ino)) {
			msg(MSG_WARN, "space of inode %" PRIu64
				  " reclaimed (seq %" PRIu64 ") while open here; "
				  "its handles now fail with EIO", r->ino, r->seq);
			/* Cached pages would still answer reads: drop them. */
			queue_note(fb, 0, r->ino, "", 0);
		}
		break;
	default:
		break;
	}
}

/* A node of the old tree the new one lacks: its name goes, open or not. */
static void on_gone(void *ctx, const struct famfs_node *n, bool deleted)
{
	struct fuse_be *fb = ctx;

	queue_note(fb, n->parent->ino, n->ino, n->name, n->name_len);
	if (deleted)
		fuse_handles_mark_orphan(fb->handles, n->ino);
}

/*
 * An inode open here that the new state has neither live nor pending had
 * its space reclaimed while this agent was behind (a checkpoint keeps no
 * RECLAIM record to apply): revoke it, as apply does for a RECLAIM.
 */
static void revoke_reclaimed(struct fuse_be *fb, const struct famfs_ns *new)
{
	const struct famfs_state *st = fb->a->st;
	uint64_t *inos = NULL;
	long k = fuse_handles_list(fb->handles, &inos);

	for (long i = 0; i < k; i++) {
		if (famfs_ns_get(new, inos[i]) ||
		    famfs_state_pending_find(st, inos[i]) ||
		    !fuse_handles_revoke(fb->handles, inos[i]))
			continue;
		msg(MSG_WARN, "space of inode %" PRIu64 " was reclaimed while "
		    "this agent was behind, and it is open here; its handles "
		    "now fail with EIO", inos[i]);
		queue_note(fb, 0, inos[i], "", 0);
	}
	free(inos);
}

void fuse_be_resync(void *priv, const struct famfs_ns *old,
		    const struct famfs_ns *new)
{
	agent_ns_diff(old, new, on_gone, NULL, priv);
	revoke_reclaimed(priv, new);
}

/*
 * Revokes every handle open here (later reads and writes get EIO) and
 * queues the drop of their cached pages, then of every cached name.
 */
void fuse_be_revoke(void *priv)
{
	struct fuse_be *fb = priv;
	uint64_t *inos = NULL;
	long k = fuse_handles_list(fb->handles, &inos);

	fuse_handles_revoke(fb->handles, 0);
	for (long i = 0; i < k; i++)
		queue_note(fb, 0, inos[i], "", 0);
	free(inos);
	queue_note(fb, 0, FAMFS_ROOT_INO, "", 0);
	if (k > 0)
		msg(MSG_WARN, "%ld open inode(s) on pool files "
			  "revoked: their handles now fail with EIO", k);
}

/*
 * The pool was formatted anew (write lock held, the new state going in):
 * every handle is of the old pool, revoke them all; then map the new data
 * area if it moved. Remapping rather than serving EIO for good: opens read
 * fb->map under the read lock, so from the swap on they see the new one,
 * and a handle opened before keeps its own mapping alive (fuse_data_map)
 * for I/O already past its revoked check, so nothing is unmapped under a
 * FUSE thread. If the new area cannot be mapped, opens get EIO.
 */
void fuse_be_reformat(void *priv, const struct famfs_pool_info *info)
{
	struct fuse_be *fb = priv;
	struct agent *a = fb->a;
	struct fuse_data_map *m = NULL;
	int r;

	fuse_be_revoke(fb);
	if (fb->map && fb->map->start == info->data_offset)
		return;
	r = fuse_map_new(a->o.pool_path, a->o.offset, info->data_offset, &m);
	if (r < 0)
		msg(MSG_ERR, "Failed to map the moved data area of '%s' "
			  "for writing: %s; opens fail with EIO",
			  a->o.pool_path, strerror(-r));
	else
		msg(MSG_INFO, "the data area moved to offset %" PRIu64
			  ": mapped anew", info->data_offset);
	if (fb->map)
		fuse_map_put(fb->handles, fb->map);
	fb->map = m;
}

long fuse_be_open_inos(void *priv, uint64_t **ret)
{
	struct fuse_be *fb = priv;

	return fuse_handles_list(fb->handles, ret);
}
