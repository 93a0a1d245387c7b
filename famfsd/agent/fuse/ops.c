// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE back-end, namespace side: lookup, getattr, readdir(plus), statfs,
 * forget, and the refusal of every namespace change made through the mount.
 *
 * The inode numbers are the log's: FUSE_ROOT_ID (1) is FAMFS_ROOT_INO, and
 * a number is never reused in a pool, so the kernel's inode numbers and
 * ours can never disagree (generation stays 0). The replayed state is the
 * inode table: the kernel's lookup counts pin nothing here (forget only
 * acknowledges), and an inode the state no longer holds is ENOENT unless a
 * handle keeps it open (fuse_handles, nlink 0).
 *
 * Every handler takes the state's read lock only to copy what it needs,
 * and replies after dropping it; every path ends in exactly one reply.
 *
 * Changes through the mount (create, mknod, mkdir, unlink, rmdir, rename,
 * link, symlink, setattr) are refused with EPERM: the namespace and the
 * sizes belong to the log, which only the master writes. EROFS would be
 * wrong, since file contents are writable. Each refusal is logged with the
 * way to do it instead (rate-limited, one line per second at most).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "agent/fuse/fuse_backend.h"

void fuse_node_attr(const struct agent *a, const struct famfs_node *n,
		     struct fuse_be_attr *ret)
{
	const struct famfs_extent *ext = famfs_node_extents(n);

	*ret = (struct fuse_be_attr){
		.ino = n->ino, .size = n->size, .mtime_ns = n->mtime_ns,
		.mode = n->mode, .uid = n->uid, .gid = n->gid,
		.nlink = famfs_node_is_dir(n) ? 2 : 1,
		.blksize = a->pool->info.alloc_unit,
	};
	/* The root has no record: it dates from mkfs. */
	if (!n->parent)
		ret->mtime_ns = a->pool->info.created_ns;
	if (famfs_node_is_dir(n)) {
		/* A directory's size is its entry count, as tmpfs shows it. */
		ret->size = n->dir.n_children;
		return;
	}
	for (uint32_t i = 0; i < n->n_extents; i++)
		ret->alloc_bytes += ext[i].len;
}

void fuse_attr_to_stat(const struct fuse_be_attr *at, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = at->ino;
	st->st_mode = at->mode;
	st->st_nlink = at->nlink;
	st->st_uid = at->uid;
	st->st_gid = at->gid;
	st->st_size = (off_t)at->size;
	st->st_blocks = (blkcnt_t)(at->alloc_bytes / 512);
	st->st_blksize = (blksize_t)at->blksize;
	st->st_mtim.tv_sec = (time_t)(at->mtime_ns / 1000000000ull);
	st->st_mtim.tv_nsec = (long)(at->mtime_ns % 1000000000ull);
	/* Entries are never modified after creation: one time for all three. */
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void fill_entry(const struct fuse_be_attr *at,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = at->ino;
	e->attr_timeout = FUSE_ATTR_TIMEOUT_S;
	e->entry_timeout = FUSE_ENTRY_TIMEOUT_S;
	fuse_attr_to_stat(at, &e->attr);
}

/*
 * The attributes of ino: from the state, else from an open handle (a file
 * deleted while open here). Takes the read lock.
 */
int fuse_get_attr(struct fuse_be *fb, uint64_t ino, struct fuse_be_attr *ret)
{
	struct agent *a = fb->a;
	const struct famfs_node *n;

	pthread_rwlock_rdlock(&a->lock);
	n = famfs_ns_get(a->st->ns, ino);
	if (n)
		fuse_node_attr(a, n, ret);
	pthread_rwlock_unlock(&a->lock);
	if (n)
		return 0;
	return fuse_handles_attr(fb->handles, ino, ret);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent *a = fb->a;
	const struct famfs_node *dir, *n = NULL;
	struct fuse_entry_param e;
	struct fuse_be_attr at;
	size_t len = strlen(name);
	int err = 0;

	if (len > FAMFS_NAME_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	pthread_rwlock_rdlock(&a->lock);
	dir = famfs_ns_get(a->st->ns, parent);
	if (!dir)
		err = ENOENT;
	else if (!famfs_node_is_dir(dir))
		err = ENOTDIR;
	else if (!(n = famfs_ns_lookup(a->st->ns, dir, name, len)))
		err = ENOENT;
	else
		fuse_node_attr(a, n, &at);
	pthread_rwlock_unlock(&a->lock);
	if (err) {
		/*
		 * No negative entry is cached (no entry timeout on an error
		 * reply): a name another host creates is found by the next
		 * lookup, with no notification needed.
		 */
		fuse_reply_err(req, err);
		return;
	}
	fill_entry(&at, &e);
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Nothing is pinned by lookups: the state owns the nodes. */
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct fuse_be_attr at;
	struct stat st;

	(void)fi;
	if (fuse_get_attr(fb, ino, &at) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_attr_to_stat(&at, &st);
	fuse_reply_attr(req, &st, FUSE_ATTR_TIMEOUT_S);
}

/* Logs a refused change, at most once a second (a loop must not flood). */
void fuse_refuse(fuse_req_t req, const char *what, uint64_t ino,
		 const char *name)
{
	static _Atomic uint64_t last_ns;
	uint64_t now = clock_mono_ns(), prev = atomic_load(&last_ns);

	if (now - prev >= 1000000000ull &&
	    atomic_compare_exchange_strong(&last_ns, &prev, now))
		msg(MSG_WARN, "refused %s%s%s%s in inode %" PRIu64
			  " with EPERM: the mount cannot change names or sizes; "
			  "use the famfsd API (famfsctl create ...)", what,
			  name ? " '" : "", name ? name : "", name ? "'" : "",
			  ino);
	fuse_reply_err(req, EPERM);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct fuse_be_attr at;
	struct stat st;

	(void)fi;
	if (fuse_get_attr(fb, ino, &at) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	/* Setting the size a file already has changes nothing: allow it. */
	if (to_set == FUSE_SET_ATTR_SIZE && (uint64_t)attr->st_size == at.size &&
	    !S_ISDIR(at.mode)) {
		fuse_attr_to_stat(&at, &st);
		fuse_reply_attr(req, &st, FUSE_ATTR_TIMEOUT_S);
		return;
	}
	fuse_refuse(req, to_set & FUSE_SET_ATTR_SIZE ? "a size change" :
		    "an attribute change", ino, NULL);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)mode;
	(void)rdev;
	fuse_refuse(req, "create", parent, name);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)mode;
	(void)fi;
	fuse_refuse(req, "create", parent, name);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)mode;
	fuse_refuse(req, "mkdir", parent, name);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_refuse(req, "unlink", parent, name);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_refuse(req, "rmdir", parent, name);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	fuse_refuse(req, "symlink", parent, name);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)newparent;
	(void)newname;
	(void)flags;
	fuse_refuse(req, "rename", parent, name);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	fuse_refuse(req, "link", newparent, newname);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	(void)mode;
	(void)off;
	(void)len;
	(void)fi;
	fuse_refuse(req, "fallocate", ino, NULL);
}

/*
 * Directory offsets: 0 is the start, 1 follows ".", 2 follows "..", and
 * ino + 2 follows the child ino (children are in ascending inode order, so
 * a listing resumes after any child, even one deleted meanwhile).
 */
#define OFF_DOT		1
#define OFF_DOTDOT	2
#define OFF_CHILD(ino)	((off_t)(ino) + 2)

/* Adds one entry; returns its size, or 0 when it does not fit. */
static size_t add_entry(fuse_req_t req, bool plus, char *buf, size_t room,
			const char *name, const struct fuse_be_attr *at,
			bool dot, off_t next)
{
	struct fuse_entry_param e;
	size_t len;

	if (plus) {
		fill_entry(at, &e);
		if (dot) {
			/* Not a lookup: the kernel must not count it. */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = at->ino;
			e.attr.st_mode = S_IFDIR;
		}
		len = fuse_add_direntry_plus(req, buf, room, name, &e, next);
	} else {
		struct stat st = { .st_ino = at->ino, .st_mode = at->mode };

		len = fuse_add_direntry(req, buf, room, name, &st, next);
	}
	return len > room ? 0 : len;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       bool plus)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent *a = fb->a;
	const struct famfs_node *dir, *n;
	struct fuse_be_attr at;
	char *buf = malloc(size ? size : 1);
	size_t pos = 0, len;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_rwlock_rdlock(&a->lock);
	dir = famfs_ns_get(a->st->ns, ino);
	if (!dir || !famfs_node_is_dir(dir)) {
		err = dir ? ENOTDIR : ENOENT;
		goto out;
	}
	if (off < OFF_DOT) {
		at = (struct fuse_be_attr){ .ino = dir->ino, .mode = S_IFDIR };
		len = add_entry(req, plus, buf + pos, size - pos, ".", &at,
				true, OFF_DOT);
		if (!len)
			goto out;
		pos += len;
	}
	if (off < OFF_DOTDOT) {
		at = (struct fuse_be_attr){
			.ino = dir->parent ? dir->parent->ino : dir->ino,
			.mode = S_IFDIR,
		};
		len = add_entry(req, plus, buf + pos, size - pos, "..", &at,
				true, OFF_DOTDOT);
		if (!len)
			goto out;
		pos += len;
	}
	n = famfs_ns_child_after(a->st->ns, dir,
				 off > OFF_DOTDOT ? (uint64_t)off - 2 : 0);
	for (; n; n = n->next) {
		fuse_node_attr(a, n, &at);
		len = add_entry(req, plus, buf + pos, size - pos, n->name,
				&at, false, OFF_CHILD(n->ino));
		if (!len)
			break;
		pos += len;
	}
out:
	pthread_rwlock_unlock(&a->lock);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

/* The core's numbers (agent_usage), in allocation units. */
static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent_usage u;
	struct statvfs s;
	uint64_t unit;

	(void)ino;
	agent_usage(fb->a, &u);
	unit = u.alloc_unit;
	memset(&s, 0, sizeof(s));
	s.f_bsize = unit;
	s.f_frsize = unit;
	s.f_blocks = u.total_bytes / unit;
	s.f_bfree = u.free_bytes / unit;
	s.f_bavail = u.free_bytes / unit;
	s.f_ffree = u.free_inodes;
	s.f_favail = s.f_ffree;
	s.f_files = u.nodes + s.f_ffree;
	s.f_namemax = FAMFS_NAME_MAX;
	fuse_reply_statfs(req, &s);
}

const struct fuse_lowlevel_ops fuse_be_ops = {
	.init = fuse_op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = fuse_op_open,
	.read = fuse_op_read,
	.write_buf = fuse_op_write_buf,
	.fsync = fuse_op_fsync,
	.release = fuse_op_release,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.statfs = op_statfs,
	.create = op_create,
	.fallocate = op_fallocate,
};
