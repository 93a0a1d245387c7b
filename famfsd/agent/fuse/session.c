// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE back-end, session side: its operations table (agent/backend.h),
 * its private state, connection options, mount, the multi-threaded loop,
 * unmount.
 *
 * Cache choices (docs/fuse.md says why):
 *  - no writeback cache: every write() reaches the pool before it returns;
 *  - keep_cache off: each open drops the file's cached pages, so a file
 *    opened after another host wrote it reads the new bytes;
 *  - direct_io only with --direct-io: then every read() and write() goes to
 *    the pool, but shared writable mmap is refused by the kernel.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fuse/fuse_backend.h"

void fuse_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fuse_be *fb = userdata;

	/* Writes go through to the pool at once (W1-W3), never batched. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Mtime never changes: nothing to learn from it. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* Sizes are fixed: a write must not turn into a setattr(mode). */
	if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV)
		conn->want |= FUSE_CAP_HANDLE_KILLPRIV;
	/* Large writes arrive in a pipe and are read straight into the pool. */
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO;
	msg(MSG_DEBUG, "FUSE protocol %u.%u, capable %#x, want %#x, "
		  "max_write %u, max_read %u, max_readahead %u",
		  conn->proto_major, conn->proto_minor, conn->capable,
		  conn->want, conn->max_write, conn->max_read,
		  conn->max_readahead);
	atomic_store(&fb->inited, true);
}

/*
 * A mount point left by an agent that was killed answers ENOTCONN; detach
 * it so this agent can mount again.
 */
static int prepare_mountpoint(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno == ENOTCONN) {
		msg(MSG_WARN, "'%s' is a dead FUSE mount (an agent "
			  "was killed?): detaching it", dir);
		if (umount2(dir, MNT_DETACH) < 0)
			return -errno;
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * The kernel caps a FUSE mount's readahead at 128 KiB; requests can carry
 * 1 MiB (max_write/max_pages), so sequential page-cache reads ask for 1 MiB
 * at a time instead of eight round trips. Best effort: the knob is per
 * mount (its bdi), and a failure only costs speed. The device number comes
 * from mountinfo: a stat() of the mount could wait for this very thread.
 * Called once INIT was answered (the kernel sets the readahead from it).
 */
static void tune(struct fuse_be *fb)
{
	const char *mount = fb->a->o.mount;
	unsigned int maj = 0, min = 0;
	char *line = NULL, path[96], dir[PATH_MAX];
	size_t cap = 0;
	bool found = false;
	FILE *f;

	if (!realpath(mount, dir))
		return;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		unsigned int ma, mi;
		char where[PATH_MAX];

		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." (last match wins) */
		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &ma, &mi, where) == 3 &&
		    strcmp(where, dir) == 0) {
			maj = ma;
			min = mi;
			found = true;
		}
	}
	free(line);
	fclose(f);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 maj, min);
	f = fopen(path, "we");
	if (!f)
		return;
	fprintf(f, "%u\n", FUSE_READAHEAD_KB);
	if (fclose(f) != 0)
		msg(MSG_DEBUG, "could not raise readahead at %s, "
			  "ignoring", path);
}

/* The follower's tick: the readahead once, off the FUSE threads. */
static void fuse_be_tick(void *priv)
{
	struct fuse_be *fb = priv;

	if (fb->tuned || !atomic_load(&fb->inited))
		return;
	tune(fb);
	fb->tuned = true;
}

static int add_opt(struct fuse_args *args, const char *opt)
{
	if (fuse_opt_add_arg(args, "-o") < 0 || fuse_opt_add_arg(args, opt) < 0)
		return -ENOMEM;
	return 0;
}

/*
 * File data through a writable mapping of the data area only: the metadata
 * stays behind the core's read-only mapping, where no stray store reaches
 * the log.
 */
static int map_data(struct fuse_be *fb)
{
	struct agent *a = fb->a;
	int r;

	r = fuse_map_new(a->o.pool_path, a->o.offset, a->pool->info.data_offset,
			 &fb->map);
	if (r < 0)
		msg(MSG_ERR, "Failed to map the data area of '%s' "
			  "for writing: %s%s", a->o.pool_path, strerror(-r),
			  r == -EINVAL ? " (a dax device needs the data area "
			  "aligned to its mapping alignment)" : "");
	return r;
}

static int session_args(struct fuse_be *fb, struct fuse_args *args)
{
	char fsname[512];
	int r;

	/* Commas would split the mount options: the name is informative. */
	snprintf(fsname, sizeof(fsname), "fsname=famfsd:%s", fb->a->o.pool_path);
	for (char *p = fsname; *p; p++)
		if (*p == ',')
			*p = '_';
	r = fuse_opt_add_arg(args, "famfsd-agent") < 0 ? -ENOMEM : 0;
	if (!r)
		r = add_opt(args, fsname);
	/* The kernel checks permissions against the log's mode/uid/gid. */
	if (!r)
		r = add_opt(args, "subtype=famfsd,default_permissions");
	/* Jobs of every user use the mount; only root may allow that freely. */
	if (!r && geteuid() == 0)
		r = add_opt(args, "allow_other");
	return r;
}

static int fuse_be_mount(void *priv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_be *fb = priv;
	const char *dir = fb->a->o.mount;
	int r;

	r = map_data(fb);
	if (r < 0)
		return r;
	r = prepare_mountpoint(dir);
	if (r < 0) {
		msg(MSG_ERR, "Failed to use mount point '%s': %s", dir,
			  strerror(-r));
		return r;
	}
	r = session_args(fb, &args);
	if (r < 0) {
		fuse_opt_free_args(&args);
		return r;
	}
	fb->se = fuse_session_new(&args, &fuse_be_ops, sizeof(fuse_be_ops), fb);
	fuse_opt_free_args(&args);
	if (!fb->se) {
		msg(MSG_ERR, "Failed to create the FUSE session");
		return -EIO;
	}
	if (fuse_set_signal_handlers(fb->se) < 0) {
		fuse_session_destroy(fb->se);
		fb->se = NULL;
		return -EIO;
	}
	if (fuse_session_mount(fb->se, dir) < 0) {
		msg(MSG_ERR, "Failed to mount FUSE at '%s' (is "
			  "/dev/fuse there and usable?)", dir);
		fuse_remove_signal_handlers(fb->se);
		fuse_session_destroy(fb->se);
		fb->se = NULL;
		return -EIO;
	}
	return 0;
}

static int fuse_be_loop(void *priv)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	struct fuse_be *fb = priv;
	int r;

	if (!cfg)
		return -ENOMEM;
	/* One /dev/fuse fd per worker: no contention on a shared one. */
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	r = fuse_session_loop_mt(fb->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

static void fuse_be_unmount(void *priv)
{
	struct fuse_be *fb = priv;

	if (!fb->se)
		return;
	fuse_remove_signal_handlers(fb->se);
	fuse_session_unmount(fb->se);
	fuse_session_destroy(fb->se);
	fb->se = NULL;
}

static int fuse_be_init(struct agent *a, void **ret_priv)
{
	struct fuse_be *fb = calloc(1, sizeof(*fb));
	int r;

	if (!fb)
		return -ENOMEM;
	r = fuse_handles_new(&fb->handles);
	if (r < 0) {
		free(fb);
		return r;
	}
	fb->a = a;
	fb->notes_tail = &fb->notes;
	atomic_init(&fb->inited, false);
	*ret_priv = fb;
	return 0;
}

static void fuse_be_destroy(void *priv)
{
	struct fuse_be *fb = priv;

	fuse_be_drop_notes(fb);
	if (fb->map)
		fuse_map_put(fb->handles, fb->map);
	fuse_handles_free(fb->handles);
	free(fb);
}

static const char *fuse_be_data_path(void *priv)
{
	const struct fuse_be *fb = priv;

	return fb->a->o.direct_io ? "direct I/O" : "page cache, dropped at open";
}

const struct agent_backend agent_backend_fuse = {
	.name = "fuse",
	.init = fuse_be_init,
	.mount = fuse_be_mount,
	.loop = fuse_be_loop,
	.unmount = fuse_be_unmount,
	.destroy = fuse_be_destroy,
	.data_path = fuse_be_data_path,
	.apply = fuse_be_apply,
	.resync = fuse_be_resync,
	.revoke = fuse_be_revoke,
	.reformat = fuse_be_reformat,
	.notify = fuse_be_notify,
	.tick = fuse_be_tick,
	.open_inos = fuse_be_open_inos,
};
