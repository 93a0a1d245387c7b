// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE back-end, session side: connection options, mount, the
 * multi-threaded loop, unmount, and the notifications the follower sends
 * when a replayed change must reach the kernel's caches.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/fuse/fuse_backend.h"

void fuse_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct agent *a = userdata;

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
	atomic_store(&a->fuse_inited, true);
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
void fuse_backend_tune(struct agent *a)
{
	const char *mount = a->o.mount;
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
	fprintf(f, "%u\n", AGENT_READAHEAD_KB);
	if (fclose(f) != 0)
		msg(MSG_DEBUG, "could not raise readahead at %s, "
			  "ignoring", path);
}

static int add_opt(struct fuse_args *args, const char *opt)
{
	if (fuse_opt_add_arg(args, "-o") < 0 || fuse_opt_add_arg(args, opt) < 0)
		return -ENOMEM;
	return 0;
}

int fuse_backend_mount(struct agent *a)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char fsname[512];
	int r;

	r = prepare_mountpoint(a->o.mount);
	if (r < 0) {
		msg(MSG_ERR, "Failed to use mount point '%s': %s",
			  a->o.mount, strerror(-r));
		return r;
	}
	/* Commas would split the mount options: the name is informative. */
	snprintf(fsname, sizeof(fsname), "fsname=famfsd:%s", a->o.pool_path);
	for (char *p = fsname; *p; p++)
		if (*p == ',')
			*p = '_';
	r = fuse_opt_add_arg(&args, "famfsd-agent") < 0 ? -ENOMEM : 0;
	if (!r)
		r = add_opt(&args, fsname);
	/* The kernel checks permissions against the log's mode/uid/gid. */
	if (!r)
		r = add_opt(&args, "subtype=famfsd,default_permissions");
	/* Jobs of every user use the mount; only root may allow that freely. */
	if (!r && geteuid() == 0)
		r = add_opt(&args, "allow_other");

	if (r < 0) {
		fuse_opt_free_args(&args);
		return r;
	}
	a->se = fuse_session_new(&args, fuse_backend_ops(),
				 sizeof(struct fuse_lowlevel_ops), a);
	fuse_opt_free_args(&args);
	if (!a->se) {
		msg(MSG_ERR, "Failed to create the FUSE session");
		return -EIO;
	}
	if (fuse_set_signal_handlers(a->se) < 0) {
		fuse_session_destroy(a->se);
		a->se = NULL;
		return -EIO;
	}
	if (fuse_session_mount(a->se, a->o.mount) < 0) {
		msg(MSG_ERR, "Failed to mount FUSE at '%s' (is "
			  "/dev/fuse there and usable?)", a->o.mount);
		fuse_remove_signal_handlers(a->se);
		fuse_session_destroy(a->se);
		a->se = NULL;
		return -EIO;
	}
	return 0;
}

int fuse_backend_loop(struct agent *a)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int r;

	if (!cfg)
		return -ENOMEM;
	/* One /dev/fuse fd per worker: no contention on a shared one. */
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	r = fuse_session_loop_mt(a->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

void fuse_backend_unmount(struct agent *a)
{
	if (!a->se)
		return;
	fuse_remove_signal_handlers(a->se);
	fuse_session_unmount(a->se);
	fuse_session_destroy(a->se);
	a->se = NULL;
}

void fuse_backend_exit(struct agent *a)
{
	if (!a->se)
		return;
	fuse_session_exit(a->se);
	/* Wake the loop: it sleeps until a signal or a worker ends. */
	kill(getpid(), SIGTERM);
}

void fuse_backend_forget_name(struct agent *a, uint64_t parent, uint64_t ino,
			      const char *name, size_t len)
{
	int r = fuse_lowlevel_notify_delete(a->se, parent, ino, name, len);

	/* -ENOENT: the kernel did not cache it; nothing to drop. */
	if (r < 0 && r != -ENOENT && r != -ENOTDIR)
		msg(MSG_DEBUG, "notify_delete of inode %" PRIu64
			  " failed: %s, ignoring", ino, strerror(-r));
}

void fuse_backend_inval_inode(struct agent *a, uint64_t ino)
{
	int r = fuse_lowlevel_notify_inval_inode(a->se, ino, 0, 0);

	if (r < 0 && r != -ENOENT)
		msg(MSG_DEBUG, "notify_inval_inode of inode %" PRIu64
			  " failed: %s, ignoring", ino, strerror(-r));
}
