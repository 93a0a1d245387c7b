// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent's kernel back-end: the same replay as with FUSE, applied to a
 * mount of the famfsd kernel module (kmod/) through its ioctls
 * (kmod/uapi/famfsd_kmod.h). The kernel then serves every lookup, read,
 * write and mmap fault itself, straight from the pool through DAX; this
 * process only keeps the namespace in step with the log.
 *
 * Start-up: the mount is made detached (fsopen/fsmount), so the initial
 * replay fills it before anyone can see it; the agent reads the log through
 * the mount's meta file .famfsd/pool (a DAX mapping of the metadata: the
 * pmem block device's page cache would not see another host's writes);
 * once replayed, the mount is moved onto --mount. With --meta-rw the meta
 * files are writable, for a master on this host (famfsd master --pool
 * MOUNT/.famfsd/pool).
 *
 * Restart: every mount of a device shares one superblock, which outlives
 * an agent that was killed (its mount stays, or files keep it alive). The
 * tree then already holds the log up to the kernel's applied_seq (each
 * ioctl carries its record's seq): the replay skips those records, and the
 * existing mount is kept. A tree of another pool or log generation is
 * refused with the way out (unmount it).
 *
 * Record to ioctl: MKDIR, CREATE and DELETE as they are; RECLAIM revokes
 * the inode if it is still open here (its space may be reused); SET_QUOTA
 * has nothing to show. A refused ioctl is logged: the mount then differs
 * from the log until the next replay from scratch.
 *
 * Heartbeats report the inodes the kernel has open or mapped, statfs shows
 * the replayed allocator's free space (pushed every second), and stopping
 * detaches the mount: files still open keep it alive until they close.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "agent/backend.h"
#include "famfsd_kmod.h"

#define KMOD_USAGE_MS	1000

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
};

static struct kmod_be *kmod_new(struct agent *a)
{
	struct kmod_be *k = calloc(1, sizeof(*k));

	if (k) {
		k->a = a;
		k->device = a->o.pool_path;
		k->mnt_fd = -1;
		k->root_fd = -1;
	}
	return k;
}

/* Also the undoing of a kmod_init() that failed half way. */
static void kmod_destroy(void *priv)
{
	struct kmod_be *k = priv;

	if (k->root_fd >= 0)
		close(k->root_fd);
	if (k->mnt_fd >= 0)
		close(k->mnt_fd);
	k->a->o.pool_path = k->device;	/* it may point into k */
	free(k);
}

/* Passes on what the kernel said about a failed fsconfig (fs_context log). */
static void log_fs_messages(int fs_fd)
{
	char buf[512];
	ssize_t n;

	while ((n = read(fs_fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		/* "e famfsd: ...": error, "w": warning, "i": info */
		msg(buf[0] == 'e' ? MSG_ERR : MSG_INFO,
			  "kernel: %s", n > 2 ? buf + 2 : buf);
	}
}

/* A famfsd mount left at dir by an agent that died: detach it. */
static void detach_stale(const char *dir)
{
	struct statfs sfs;

	if (statfs(dir, &sfs) < 0 || sfs.f_type != FAMFSD_KMOD_MAGIC)
		return;
	msg(MSG_WARN, "'%s' already holds a famfsd mount (an agent "
		  "was killed?): detaching it; files still open through it are "
		  "no longer reported to the master", dir);
	if (umount2(dir, MNT_DETACH) < 0)
		msg(MSG_WARN, "Failed to detach '%s': %s, ignoring",
			  dir, strerror(errno));
}

static int check_device(struct agent *a)
{
	struct stat st;
	int r;

	if (a->o.offset) {
		msg(MSG_ERR, "--offset does not apply to --backend "
			  "kmod: the pool starts at offset 0 of the pmem device");
		return -EINVAL;
	}
	if (stat(a->o.pool_path, &st) < 0) {
		r = -errno;	/* before msg(), which may change errno */
		msg(MSG_ERR, "Failed to use '%s': %s", a->o.pool_path,
			  strerror(-r));
		return r;
	}
	if (!S_ISBLK(st.st_mode)) {
		msg(MSG_ERR, "--backend kmod needs a pmem block device "
			  "in fsdax mode (/dev/pmemN), not '%s'", a->o.pool_path);
		return -ENOTBLK;
	}
	if (mkdir(a->o.mount, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		msg(MSG_ERR, "Failed to create mount point '%s': %s",
			  a->o.mount, strerror(-r));
		return r;
	}
	return 0;
}

/* fsopen, fsconfig, fsmount: a detached mount of the device. */
static int make_mount(struct kmod_be *k)
{
	const struct agent *a = k->a;
	int fs_fd, r = 0;

	fs_fd = fsopen(FAMFSD_KMOD_FSTYPE, FSOPEN_CLOEXEC);
	if (fs_fd < 0) {
		r = -errno;
		msg(MSG_ERR, "Failed to use file system type '%s': %s%s",
			  FAMFSD_KMOD_FSTYPE, strerror(-r), r == -ENODEV ?
			  " (load the module: insmod kmod/famfsd.ko)" : "");
		return r;
	}
	if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "source", a->o.pool_path, 0) < 0 ||
	    (a->o.meta_rw &&
	     fsconfig(fs_fd, FSCONFIG_SET_FLAG, "meta_rw", NULL, 0) < 0) ||
	    fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		r = -errno;
		log_fs_messages(fs_fd);
		msg(MSG_ERR, "Failed to mount '%s' with the kernel "
			  "module: %s", a->o.pool_path, strerror(-r));
		close(fs_fd);
		return r;
	}
	k->mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC,
			    MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
	if (k->mnt_fd < 0) {
		r = -errno;
		msg(MSG_ERR, "Failed to create the mount of '%s': %s",
			  a->o.pool_path, strerror(-r));
	}
	close(fs_fd);
	return r;
}

/* --meta-rw on a superblock mounted before without it, or the reverse. */
static int set_meta_rw(struct kmod_be *k)
{
	const struct agent *a = k->a;
	int fd = fspick(k->mnt_fd, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if ((a->o.meta_rw &&
	     fsconfig(fd, FSCONFIG_SET_FLAG, "meta_rw", NULL, 0) < 0) ||
	    fsconfig(fd, FSCONFIG_CMD_RECONFIGURE, NULL, NULL, 0) < 0) {
		r = -errno;
		log_fs_messages(fd);
		msg(MSG_ERR, "Failed to %s meta_rw on the existing "
			  "mount of '%s': %s", a->o.meta_rw ? "set" : "clear",
			  k->device, strerror(-r));
	}
	close(fd);
	return r;
}

/*
 * The device's superblock already holds a tree (an earlier agent's): keep
 * it if it holds a prefix of this pool's log, else say how to get rid of it.
 */
static int check_reused(struct kmod_be *k, const struct famfsd_ioc_info *info)
{
	struct famfs_pool_open_opts po = { .coherence = k->a->o.coherence };
	struct famfs_pool *pool = NULL;
	const char *why = NULL, *bad = NULL;
	int r;

	r = famfs_pool_open(k->meta_path, &po, &pool, &why);
	if (r < 0) {
		msg(MSG_ERR, "Failed to open pool '%s': %s", k->device,
			  why ? why : strerror(-r));
		return r;
	}
	if (!info->applied_seq)
		bad = "holds entries that did not come from a log";
	else if (memcmp(info->pool_uuid, pool->info.pool_uuid, 16) != 0)
		bad = "was made for another pool";
	else if (info->applied_generation &&
		 info->applied_generation != pool->info.log_generation)
		bad = "follows another log generation";
	famfs_pool_close(pool);
	if (bad) {
		msg(MSG_ERR, "The kernel's famfsd tree of '%s' %s: "
			  "unmount every mount of it (umount -l) and start again",
			  k->device, bad);
		return -EEXIST;
	}
	k->reused = true;
	k->skip_seq = info->applied_seq;
	msg(MSG_INFO, "keeping the kernel's tree of '%s' from an "
		  "earlier agent: it holds the log up to record %" PRIu64,
		  k->device, k->skip_seq);
	return 0;
}

/* The detached mount, its root, and what the kernel's tree holds already. */
static int open_mount(struct kmod_be *k)
{
	struct famfsd_ioc_info info;
	struct stat st;
	int r;

	r = make_mount(k);
	if (r < 0)
		return r;
	k->root_fd = openat(k->mnt_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (k->root_fd < 0 || fstat(k->root_fd, &st) < 0 ||
	    ioctl(k->root_fd, FAMFSD_IOC_INFO, &info) < 0) {
		r = -errno;
		msg(MSG_ERR, "Failed to query the famfsd mount of "
			  "'%s': %s", k->device, strerror(-r));
		return r;
	}
	k->dev = st.st_dev;
	if (info.abi_version != FAMFSD_KMOD_ABI_VERSION) {
		msg(MSG_ERR, "The famfsd module speaks ABI %u, this "
			  "agent %u: load the module built from the same tree",
			  info.abi_version, FAMFSD_KMOD_ABI_VERSION);
		return -EPROTO;
	}
	snprintf(k->meta_path, sizeof(k->meta_path), "/proc/self/fd/%d/%s/%s",
		 k->mnt_fd, FAMFSD_KMOD_META_DIR, FAMFSD_KMOD_META_POOL);
	if (info.applied_seq || info.files || info.dirs > 1) {
		r = check_reused(k, &info);
		if (r < 0)
			return r;
	}
	if (!!(info.flags & FAMFSD_INFO_META_RW) != k->a->o.meta_rw)
		return set_meta_rw(k);
	return 0;
}

static int kmod_init(struct agent *a, void **ret_priv)
{
	struct kmod_be *k;
	int r;

	r = check_device(a);
	if (r < 0)
		return r;
	k = kmod_new(a);
	if (!k)
		return -ENOMEM;
	r = open_mount(k);
	if (r < 0) {
		kmod_destroy(k);
		return r;
	}
	a->o.pool_path = k->meta_path;
	*ret_priv = k;
	return 0;
}

/* ---- record to ioctl ------------------------------------------------------ */

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

static void kmod_apply(void *priv, const struct famfs_rec *r)
{
	struct kmod_be *k = priv;
	int fd = k->root_fd, e;
	struct famfs_node_attr at;

	if (r->seq <= k->skip_seq)
		return;		/* the kernel's tree has it from an earlier agent */
	switch (r->type) {
	case FAMFS_REC_MKDIR:
		e = do_mkdir(fd, r->seq, r->ino, r->parent, r->mtime_ns, r->mode, r->uid,
			     r->gid, r->name, r->name_len);
		if (e < 0)
			refused(k, r, "mkdir", -e);
		break;
	case FAMFS_REC_CREATE:
		at = (struct famfs_node_attr){
			.seq = r->seq, .ino = r->ino, .parent = r->parent,
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
		e = do_delete(fd, r->seq, r->ino, r->parent, r->name, r->name_len);
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

/* ---- replay from scratch, eviction --------------------------------------- */

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

/* Adds what the new tree has and the old one lacks (agent_ns_diff). */
static void add_new(void *ctx, const struct famfs_node *n)
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

/* The tree now holds the log up to a->pos (after a replay or a resync). */
static void set_seq(struct kmod_be *k)
{
	struct famfsd_ioc_seq q = {
		.seq = k->a->pos.seq, .generation = k->a->generation,
	};

	if (ioctl(k->root_fd, FAMFSD_IOC_SET_SEQ, &q) < 0)
		msg(MSG_WARN, "FAMFSD_IOC_SET_SEQ failed: %s, "
			  "ignoring", strerror(errno));
}

static void kmod_resync(void *priv, const struct famfs_ns *old,
			const struct famfs_ns *new)
{
	struct kmod_be *k = priv;

	/* A log formatted anew starts at 1 again: skip nothing from now on. */
	k->skip_seq = 0;
	agent_ns_diff(old, new, delete_gone, add_new, k);
	set_seq(k);
}

static long kmod_open_inos(void *priv, uint64_t **ret);

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
static void kmod_revoke(void *priv)
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
static void kmod_reformat(void *priv, const struct famfs_pool_info *info)
{
	(void)info;
	revoke_open(priv, true);
}

/* ---- the mount's life ---------------------------------------------------- */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static long kmod_open_inos(void *priv, uint64_t **ret)
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

/* statfs of the mount: the core's numbers (agent_usage), as FUSE shows. */
static void push_usage(struct kmod_be *k)
{
	struct famfsd_ioc_usage u = { 0 };
	struct agent_usage au;

	agent_usage(k->a, &au);
	u.free_bytes = au.free_bytes;
	u.free_inodes = au.free_inodes;
	if (ioctl(k->root_fd, FAMFSD_IOC_SET_USAGE, &u) < 0)
		msg(MSG_DEBUG, "FAMFSD_IOC_SET_USAGE failed: %s, "
			  "ignoring", strerror(errno));
}

static int kmod_mount(void *priv)
{
	struct kmod_be *k = priv;
	struct agent *a = k->a;
	struct stat st;

	push_usage(k);
	set_seq(k);
	if (k->reused && stat(a->o.mount, &st) == 0 && st.st_dev == k->dev) {
		/* The earlier agent's mount is still there: keep serving it. */
		k->attached = true;
		a->o.pool_path = k->device;
		return 0;
	}
	detach_stale(a->o.mount);
	if (move_mount(k->mnt_fd, "", AT_FDCWD, a->o.mount,
		       MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		int r = -errno;	/* msg() may change errno, even to 0 */

		msg(MSG_ERR, "Failed to attach the mount at '%s': %s",
			  a->o.mount, strerror(-r));
		return r;
	}
	k->attached = true;
	/* The meta path served open_pool(); messages should name the device. */
	a->o.pool_path = k->device;
	if (k->failures)
		msg(MSG_WARN, "%" PRIu64 " record(s) were refused by "
			  "the kernel during the replay", k->failures);
	return 0;
}

/* Still attached where we put it? (An admin may have unmounted it.) */
static bool still_mounted(const struct kmod_be *k)
{
	const char *dir = k->a->o.mount;
	struct stat st;
	struct statfs sfs;

	return statfs(dir, &sfs) == 0 && sfs.f_type == FAMFSD_KMOD_MAGIC &&
	       stat(dir, &st) == 0 && st.st_dev == k->dev;
}

/*
 * Waits for SIGINT or SIGTERM (the helper threads block them; SIGHUP is
 * ignored, as main.c wants for the agent) or for the mount table to lose
 * our mount; refreshes statfs every second.
 */
static int kmod_loop(void *priv)
{
	struct kmod_be *k = priv;
	struct pollfd p[2] = { { .events = POLLIN }, { .events = POLLPRI } };
	struct signalfd_siginfo si;
	sigset_t set;
	int r = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	p[0].fd = signalfd(-1, &set, SFD_CLOEXEC);
	p[1].fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (p[0].fd < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		int n = poll(p, p[1].fd < 0 ? 1 : 2, KMOD_USAGE_MS);

		if (n < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (n > 0 && (p[0].revents & POLLIN) &&
		    read(p[0].fd, &si, sizeof(si)) == sizeof(si)) {
			r = (int)si.ssi_signo;
			break;
		}
		if (n > 0 && (p[1].revents & POLLPRI) && !still_mounted(k)) {
			k->attached = false;
			r = 0;
			break;
		}
		push_usage(k);
	}
out:
	if (p[0].fd >= 0)
		close(p[0].fd);
	if (p[1].fd >= 0)
		close(p[1].fd);
	return r;
}

/*
 * Detaches the mount (our own mapping of the meta file is still open, and
 * so may applications' files be): the tree vanishes at once, the kernel
 * keeps the superblock until its last file closes.
 */
static void kmod_unmount(void *priv)
{
	struct kmod_be *k = priv;
	const char *dir = k->a->o.mount;
	uint64_t *inos = NULL;
	long n;

	if (!k->attached)
		return;
	n = kmod_open_inos(k, &inos);
	if (n > 0)
		msg(MSG_WARN, "%ld file(s) still open or mapped "
			  "at '%s': the mount is detached and lives on until "
			  "they close", n, dir);
	free(inos);
	if (umount2(dir, MNT_DETACH) < 0)
		msg(MSG_WARN, "Failed to unmount '%s': %s", dir,
			  strerror(errno));
	k->attached = false;
}

static const char *kmod_data_path(void *priv)
{
	(void)priv;
	return "kernel module, DAX";
}

const struct agent_backend agent_backend_kmod = {
	.name = "kmod",
	.init = kmod_init,
	.mount = kmod_mount,
	.loop = kmod_loop,
	.unmount = kmod_unmount,
	.destroy = kmod_destroy,
	.data_path = kmod_data_path,
	.apply = kmod_apply,
	.resync = kmod_resync,
	.revoke = kmod_revoke,
	.reformat = kmod_reformat,
	.open_inos = kmod_open_inos,
};
