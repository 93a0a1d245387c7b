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
 * existing mount is kept, also across compactions (sequence numbers go on
 * across log generations); a tree older than the checkpoint it would need
 * is reconciled with the state (tree.c). A tree of another pool is refused
 * with the way out (unmount it).
 *
 * The ioctls that keep the tree in step with the log, record by record,
 * after a replay from scratch and after an eviction, are in tree.c.
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

#include "agent/kmod/kmod_backend.h"

#define KMOD_USAGE_MS	1000

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
			  "kmod: the pool starts at offset 0 of the device");
		return -EINVAL;
	}
	if (stat(a->o.pool_path, &st) < 0) {
		r = -errno;	/* before msg(), which may change errno */
		msg(MSG_ERR, "Failed to use '%s': %s", a->o.pool_path,
			  strerror(-r));
		return r;
	}
	if (!S_ISBLK(st.st_mode) && !S_ISCHR(st.st_mode)) {
		msg(MSG_ERR, "--backend kmod needs a pmem block device "
			  "in fsdax mode (/dev/pmemN) or a device-dax "
			  "(/dev/daxX.Y), not '%s'", a->o.pool_path);
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
	/* A tree being filled from a checkpoint has seq 0 and a generation. */
	if (!info->applied_seq && !info->applied_generation)
		bad = "holds entries that did not come from a log";
	else if (memcmp(info->pool_uuid, pool->info.pool_uuid, 16) != 0)
		bad = "was made for another pool";
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
		  "earlier agent: it holds the log up to record %" PRIu64
		  " (log generation %" PRIu64 ")", k->device, k->skip_seq,
		  (uint64_t)info->applied_generation);
	return 0;
}

/*
 * An empty tree about to be filled: it says it follows a log (seq 0, the
 * generation) before the first entry goes in, so a restart after a kill
 * during a checkpoint, whose items carry no seq, finds a tree to reconcile
 * rather than one of unknown origin.
 */
static int mark_fresh(struct kmod_be *k, const struct famfsd_ioc_info *info)
{
	struct famfsd_ioc_seq q = { .generation = info->log_generation };
	int r;

	if (ioctl(k->root_fd, FAMFSD_IOC_SET_SEQ, &q) == 0)
		return 0;
	r = -errno;
	msg(MSG_ERR, "Failed to set the kernel tree's log position: %s",
	    strerror(-r));
	return r;
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
	} else {
		r = mark_fresh(k, &info);
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

/* ---- the mount's life ---------------------------------------------------- */

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

	kmod_check_age(k);
	if (k->reconcile)
		kmod_reconcile(k);
	push_usage(k);
	kmod_set_seq(k);
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
	.moved = kmod_moved,
	.revoke = kmod_revoke,
	.reformat = kmod_reformat,
	.open_inos = kmod_open_inos,
};
