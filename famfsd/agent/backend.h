/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent's mount back-ends: FUSE (agent/fuse/, the default; works on any
 * kernel with /dev/fuse) and the famfsd kernel module (agent/kmod/; the
 * production path on hosts whose pool is a pmem namespace). The agent core
 * (agent/main.c, agent/follow.c, agent/heartbeat.c) reaches the one chosen
 * with --backend through a->be only.
 *
 * Optional operations are NULL when a back-end needs nothing there.
 */
#ifndef FAMFSD_AGENT_BACKEND_H
#define FAMFSD_AGENT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"

struct agent_backend {
	const char *name;
	/*
	 * The agent maps the pool's data area itself (FUSE serves read() and
	 * write() from it); the kernel module reaches the data through DAX.
	 */
	bool maps_data;
	/*
	 * Before the pool is opened. May point a->o.pool_path elsewhere (the
	 * kernel module: the mount's meta file, which maps the metadata
	 * through DAX where a block device's page cache would go stale).
	 */
	int (*prepare)(struct agent *a);
	/* After the initial replay: the mount appears at a->o.mount. */
	int (*mount)(struct agent *a);
	/*
	 * Serves until SIGINT/SIGTERM (returns its number), an unmount
	 * (returns 0) or a failure (-errno).
	 */
	int (*loop)(struct agent *a);
	void (*unmount)(struct agent *a);
	/* Replay hook, after each record applied to a->st, write lock held. */
	void (*apply)(struct agent *a, const struct famfs_rec *r);
	/*
	 * After a replay from scratch swapped the state: make the mount hold
	 * new instead of old; with revoke, also cut off the files that are
	 * open here but gone from new (their space may be reused).
	 */
	void (*resync)(struct agent *a, const struct famfs_ns *old,
		       const struct famfs_ns *new, bool revoke);
	/*
	 * The inodes open here, sorted, in a malloc'ed array, for the
	 * heartbeat; NULL: the agent_files table knows them (FUSE). Returns
	 * the count or -errno.
	 */
	long (*open_inos)(struct agent *a, uint64_t **ret);
};

extern const struct agent_backend agent_backend_fuse;
extern const struct agent_backend agent_backend_kmod;

/* "fuse" or "kmod"; NULL for anything else. */
const struct agent_backend *agent_backend_find(const char *name);

#endif
