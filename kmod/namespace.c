// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd kernel module: the namespace. Directories are ramfs-style: every
 * positive dentry is pinned by an extra reference taken when it is made
 * (dropped by the delete, or by d_genocide at unmount), so the dcache is
 * the directory and lookups of absent names simply miss.
 *
 * Applications cannot change the namespace (no create, mkdir, unlink,
 * rename, link or symlink operations: the VFS answers EPERM); only the
 * agent does, through the ioctls in ioctl.c, which call the functions here
 * with arguments already checked. Inodes are found by their pool inode
 * number (they are hashed by it), parents included.
 *
 * Locking: sbi->ns_lock serialises every change, so checking that an inode
 * number is free and using it cannot race; under it the usual VFS order:
 * the parent's i_rwsem, then the child's.
 */
#include <linux/dcache.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/fsnotify.h>
#include <linux/moduleparam.h>
#include <linux/namei.h>
#include <linux/slab.h>

#include "famfsd.h"

const struct file_operations famfsd_dir_fops = {
	.open		= dcache_dir_open,
	.release	= dcache_dir_close,
	.llseek		= dcache_dir_lseek,
	.read		= generic_read_dir,
	.iterate_shared	= dcache_readdir,
	.fsync		= noop_fsync,
	.unlocked_ioctl	= famfsd_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

const struct inode_operations famfsd_dir_iops = {
	.lookup		= simple_lookup,
	.setattr	= famfsd_setattr,
	.getattr	= simple_getattr,
};

/*
 * The live directory with pool inode number ino, and its dentry. -ENOENT
 * when there is none (or it was deleted), -ENOTDIR for anything else.
 */
static int famfsd_get_dir(struct super_block *sb, u64 ino, struct inode **ret_dir,
			  struct dentry **ret_dentry)
{
	struct inode *dir = ilookup(sb, ino);
	struct dentry *dentry;

	if (!dir)
		return -ENOENT;
	if (FAMFSD_I(dir)->kind != FAMFSD_KIND_DIR) {
		iput(dir);
		return -ENOTDIR;
	}
	dentry = d_find_alias(dir);
	if (!dentry || !dir->i_nlink || IS_DEADDIR(dir)) {
		dput(dentry);
		iput(dir);
		return -ENOENT;
	}
	*ret_dir = dir;
	*ret_dentry = dentry;
	return 0;
}

static void famfsd_put_dir(struct inode *dir, struct dentry *dentry)
{
	dput(dentry);
	iput(dir);
}

static bool famfsd_ino_in_use(struct super_block *sb, u64 ino)
{
	struct inode *inode = ilookup(sb, ino);

	iput(inode);
	return inode != NULL;
}

/*
 * Adds a new inode under e->parent as e->name: the shared part of mkdir
 * and create. make() builds the inode (it may fail); the name must be free.
 */
static int famfsd_ns_add(struct super_block *sb, const struct famfsd_ns_entry *e,
			 struct inode *(*make)(struct super_block *sb,
					       const struct famfsd_ns_entry *e,
					       void *arg),
			 void *arg)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct dentry *parent, *dentry;
	struct inode *dir, *inode;
	int r;

	mutex_lock(&sbi->ns_lock);
	if (famfsd_ino_in_use(sb, e->ino)) {
		r = -EEXIST;
		goto out;
	}
	r = famfsd_get_dir(sb, e->parent, &dir, &parent);
	if (r)
		goto out;
	inode_lock_nested(dir, I_MUTEX_PARENT);
	dentry = lookup_one_len(e->name, parent, e->name_len);
	if (IS_ERR(dentry)) {
		r = PTR_ERR(dentry);
		goto unlock;
	}
	if (d_really_is_positive(dentry)) {
		r = -EEXIST;
		goto put;
	}
	inode = make(sb, e, arg);
	if (IS_ERR(inode)) {
		r = PTR_ERR(inode);
		goto put;
	}
	if (S_ISDIR(inode->i_mode))
		inc_nlink(dir);
	d_instantiate(dentry, inode);
	dget(dentry);		/* the pin: the name lives until deleted */
	if (S_ISDIR(inode->i_mode))
		fsnotify_mkdir(dir, dentry);
	else
		fsnotify_create(dir, dentry);
	r = 0;
	sbi->applied_seq = max(sbi->applied_seq, e->seq);
put:
	dput(dentry);
unlock:
	inode_unlock(dir);
	famfsd_put_dir(dir, parent);
out:
	mutex_unlock(&sbi->ns_lock);
	return r;
}

static struct timespec64 famfsd_ns_time(u64 ns)
{
	return ns_to_timespec64((s64)ns);	/* the caller checked the range */
}

static struct inode *famfsd_make_dir(struct super_block *sb,
				     const struct famfsd_ns_entry *e, void *arg)
{
	struct inode *inode;

	inode = famfsd_new_inode(sb, e->ino, FAMFSD_KIND_DIR, S_IFDIR | e->mode,
				 make_kuid(&init_user_ns, e->uid),
				 make_kgid(&init_user_ns, e->gid),
				 famfsd_ns_time(e->mtime_ns));
	return inode ? inode : ERR_PTR(-ENOMEM);
}

/**
 * famfsd_ns_mkdir() - add a directory
 * @sb: the mount
 * @e: inode number, parent, name and attributes, already validated
 *
 * Context: process context; takes sbi->ns_lock and the parent's i_rwsem.
 * Return: 0, -EEXIST (name or inode number taken), -ENOENT (no parent),
 * -ENOTDIR (parent is not a directory) or -ENOMEM.
 */
int famfsd_ns_mkdir(struct super_block *sb, const struct famfsd_ns_entry *e)
{
	return famfsd_ns_add(sb, e, famfsd_make_dir, NULL);
}

struct famfsd_file_arg {
	u64 size;
	struct famfsd_kext *ext;	/* handed over to the inode on success */
	u32 n_ext;
};

/*
 * The extent in sbi->ext_tree that overlaps [off, off + len), or NULL. The
 * tree's extents never overlap one another, so one descent finds any
 * overlapping one: an extent wholly after the range has every overlapping
 * extent on its left, one wholly before it, on its right. O(log n) for n
 * extents held. Context: ext_lock held.
 */
static struct famfsd_kext *famfsd_ext_overlap(struct famfsd_sb_info *sbi,
					      u64 off, u64 len)
{
	struct rb_node *n = sbi->ext_tree.rb_node;

	while (n) {
		struct famfsd_kext *e = rb_entry(n, struct famfsd_kext, rb);

		if (off + len <= e->dev_off)
			n = n->rb_left;
		else if (e->dev_off + e->len <= off)
			n = n->rb_right;
		else
			return e;
	}
	return NULL;
}

static void famfsd_ext_insert(struct famfsd_sb_info *sbi, struct famfsd_kext *x)
{
	struct rb_node **p = &sbi->ext_tree.rb_node, *parent = NULL;

	while (*p) {
		struct famfsd_kext *e = rb_entry(*p, struct famfsd_kext, rb);

		parent = *p;
		p = x->dev_off < e->dev_off ? &parent->rb_left : &parent->rb_right;
	}
	rb_link_node(&x->rb, parent, p);
	rb_insert_color(&x->rb, &sbi->ext_tree);
}

/*
 * -EBUSY (logged) when an extent of a new file overlaps one of a live
 * file: two inodes over the same pool bytes would put one page into two
 * mappings (fs/dax.c WARNs and its bookkeeping breaks), and the log never
 * gives a unit to two files at once. The master reuses a deleted file's
 * space only after its RECLAIM record, which revokes the inode here
 * first, so a correct log never meets this. Context: ns_lock held, so no
 * insert can come between this check and the new file's.
 */
static int famfsd_ext_check(struct super_block *sb,
			    const struct famfsd_file_arg *fa)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct famfsd_kext *o = NULL;
	u32 i;

	spin_lock(&sbi->ext_lock);
	for (i = 0; i < fa->n_ext && !o; i++)
		o = famfsd_ext_overlap(sbi, fa->ext[i].dev_off, fa->ext[i].len);
	if (o)
		pr_warn_ratelimited("famfsd %s: create refused: extent %u (%llu, %llu) overlaps inode %llu's extent (%llu, %llu), still live here\n",
				    sb->s_id, i - 1, fa->ext[i - 1].dev_off,
				    fa->ext[i - 1].len, o->ino, o->dev_off, o->len);
	spin_unlock(&sbi->ext_lock);
	return o ? -EBUSY : 0;
}

/**
 * famfsd_ns_forget_extents() - a file's space is no longer held here
 * @inode: a regular file, revoked or being evicted
 *
 * Context: any process context; takes ext_lock. Idempotent.
 */
void famfsd_ns_forget_extents(struct inode *inode)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(inode->i_sb);
	struct famfsd_inode *fi = FAMFSD_I(inode);
	u32 i;

	spin_lock(&sbi->ext_lock);
	if (test_and_clear_bit(FAMFSD_I_EXT_TREE, &fi->flags))
		for (i = 0; i < fi->n_ext; i++)
			rb_erase(&fi->ext[i].rb, &sbi->ext_tree);
	spin_unlock(&sbi->ext_lock);
}

static struct inode *famfsd_make_file(struct super_block *sb,
				      const struct famfsd_ns_entry *e, void *arg)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct famfsd_file_arg *fa = arg;
	struct famfsd_inode *fi;
	struct inode *inode;
	u32 i;
	int r;

	r = famfsd_ext_check(sb, fa);
	if (r)
		return ERR_PTR(r);
	inode = famfsd_new_inode(sb, e->ino, FAMFSD_KIND_FILE, S_IFREG | e->mode,
				 make_kuid(&init_user_ns, e->uid),
				 make_kgid(&init_user_ns, e->gid),
				 famfsd_ns_time(e->mtime_ns));
	if (!inode)
		return ERR_PTR(-ENOMEM);
	fi = FAMFSD_I(inode);
	fi->ext = fa->ext;
	fi->n_ext = fa->n_ext;
	fa->ext = NULL;
	spin_lock(&sbi->ext_lock);
	for (i = 0; i < fi->n_ext; i++) {
		fi->alloc_bytes += fi->ext[i].len;
		fi->ext[i].ino = e->ino;
		famfsd_ext_insert(sbi, &fi->ext[i]);
	}
	set_bit(FAMFSD_I_EXT_TREE, &fi->flags);
	spin_unlock(&sbi->ext_lock);
	atomic64_add(fi->alloc_bytes, &sbi->held_bytes);
	inode->i_blocks = fi->alloc_bytes >> 9;
	i_size_write(inode, fa->size);
	return inode;
}

/**
 * famfsd_ns_create() - add a regular file with its extents
 * @sb: the mount
 * @e: inode number, parent, name and attributes, already validated
 * @size: file size, at most the sum of the extents
 * @ext: extents in file order with file offsets filled in, validated;
 *       owned by the file on success, freed by the caller otherwise
 * @n_ext: how many
 *
 * Context: process context; takes sbi->ns_lock, the parent's i_rwsem and
 * sbi->ext_lock.
 * Return: as famfsd_ns_mkdir(), or -EBUSY when an extent overlaps one of
 * a live file (named, or deleted and held open here, not revoked).
 */
int famfsd_ns_create(struct super_block *sb, const struct famfsd_ns_entry *e,
		     u64 size, struct famfsd_kext *ext, u32 n_ext)
{
	struct famfsd_file_arg fa = { .size = size, .ext = ext, .n_ext = n_ext };

	return famfsd_ns_add(sb, e, famfsd_make_file, &fa);
}

/*
 * Marks a file deleted for famfsd_open(), under the lock open takes to
 * count itself. The order that gives (docs/kmod.md, "Open against
 * DELETE"): an open that took i_lock before this counted itself before
 * the DELETE returned, so an open-inode listing taken after the DELETE
 * (it reads the count under i_lock too) shows it; an open that takes
 * i_lock after this sees the mark and fails with -ENOENT, as if its
 * lookup had come after the delete. So every open that can still succeed
 * is in a listing taken after the DELETE, and the master, which reclaims
 * a deleted file's space only once every agent's listing at or past the
 * DELETE's seq lacks it, never reclaims space an open on this host uses.
 */
static void famfsd_mark_deleted(struct inode *inode)
{
	spin_lock(&inode->i_lock);
	set_bit(FAMFSD_I_DELETED, &FAMFSD_I(inode)->flags);
	spin_unlock(&inode->i_lock);
}

/*
 * Test only (off by default): a DELETE sleeps this long between its
 * mount-point check and the unlink, so a VM test can try to mount on the
 * name inside that window (docs/kmod.md, "Test knobs").
 */
static unsigned int famfsd_test_delete_delay_ms;
module_param_named(test_delete_delay_ms, famfsd_test_delete_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_delete_delay_ms,
		 "test only: delay DELETE before its unlink by this many ms (0: off)");

/**
 * famfsd_ns_delete() - remove a name
 * @sb: the mount
 * @seq: the log record it comes from (raises applied_seq), or 0
 * @ino: the inode the name must lead to
 * @parent: the directory holding it
 * @name: the name, validated
 * @name_len: its length
 *
 * A file that is still open or mapped lives on, nameless, until its last
 * user lets go; its data stays reachable until famfsd_ns_revoke().
 *
 * Context: process context; takes sbi->ns_lock, the parent's and the
 * victim's i_rwsem.
 * Return: 0, -ENOENT (no such name, or it leads elsewhere), -ENOTDIR,
 * -ENOTEMPTY (a directory with entries), -EBUSY (something is mounted on it).
 */
int famfsd_ns_delete(struct super_block *sb, u64 seq, u64 ino, u64 parent,
		     const char *name, u32 name_len)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct dentry *pdentry, *dentry;
	struct inode *dir, *inode;
	int r;

	mutex_lock(&sbi->ns_lock);
	r = famfsd_get_dir(sb, parent, &dir, &pdentry);
	if (r)
		goto out;
	inode_lock_nested(dir, I_MUTEX_PARENT);
	dentry = lookup_one_len(name, pdentry, name_len);
	if (IS_ERR(dentry)) {
		r = PTR_ERR(dentry);
		goto unlock;
	}
	inode = d_inode(dentry);
	if (!inode || inode->i_ino != ino ||
	    (FAMFSD_I(inode)->kind != FAMFSD_KIND_DIR &&
	     FAMFSD_I(inode)->kind != FAMFSD_KIND_FILE)) {
		r = -ENOENT;
		goto put;
	}
	/*
	 * As vfs_unlink()/vfs_rmdir(): the mount-point check, the unlink and
	 * dont_mount() all under the victim's lock, which lock_mount() takes
	 * too, so no mount can land on the name between the check and the
	 * unlink, nor on the dentry after it.
	 */
	inode_lock(inode);
	if (d_mountpoint(dentry)) {
		r = -EBUSY;
	} else {
		if (READ_ONCE(famfsd_test_delete_delay_ms))
			msleep(READ_ONCE(famfsd_test_delete_delay_ms));
		if (S_ISDIR(inode->i_mode)) {
			r = simple_rmdir(dir, dentry);	/* -ENOTEMPTY, or drops the pin */
			if (!r)
				inode->i_flags |= S_DEAD;
		} else {
			r = simple_unlink(dir, dentry);	/* drops the pin */
			if (!r)
				famfsd_mark_deleted(inode);
		}
		if (!r)
			dont_mount(dentry);
	}
	inode_unlock(inode);
	if (!r) {
		d_delete_notify(dir, dentry);
		sbi->applied_seq = max(sbi->applied_seq, seq);
	}
put:
	dput(dentry);
unlock:
	inode_unlock(dir);
	famfsd_put_dir(dir, pdentry);
out:
	mutex_unlock(&sbi->ns_lock);
	return r;
}

/**
 * famfsd_ns_revoke() - the space of a deleted inode is reused
 * @sb: the mount
 * @ino: the deleted inode
 *
 * Every later access fails; its mappings and DAX entries are gone when
 * this returns, so a file made on the same extents can map them.
 *
 * Context: process context; takes sbi->ns_lock, the inode's i_rwsem and
 * its invalidate lock.
 * Return: 0 when a nameless inode was revoked, -ENOENT when no one holds
 * it here, -EBUSY when it still has a name.
 */
int famfsd_ns_revoke(struct super_block *sb, u64 ino)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct inode *inode;
	int r = 0;

	mutex_lock(&sbi->ns_lock);
	inode = ilookup(sb, ino);
	if (!inode || FAMFSD_I(inode)->kind != FAMFSD_KIND_FILE) {
		r = -ENOENT;
		goto out;
	}
	if (inode->i_nlink) {
		r = -EBUSY;
		goto out;
	}
	inode_lock(inode);
	set_bit(FAMFSD_I_REVOKED, &FAMFSD_I(inode)->flags);
	famfsd_drop_mappings(inode);	/* no DAX entry left on its pages */
	famfsd_ns_forget_extents(inode);	/* the space may be reused now */
	inode_unlock(inode);
out:
	iput(inode);
	mutex_unlock(&sbi->ns_lock);
	return r;
}

/*
 * Calls fn on every live regular file of the mount with a reference held,
 * no spinlock held (fn may sleep); the pattern of drop_pagecache_sb().
 */
static void famfsd_for_each_file(struct super_block *sb,
				 void (*fn)(struct inode *inode, void *arg),
				 void *arg)
{
	struct inode *inode, *toput = NULL;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		spin_lock(&inode->i_lock);
		if ((inode->i_state & (I_FREEING | I_WILL_FREE | I_NEW)) ||
		    !S_ISREG(inode->i_mode)) {
			spin_unlock(&inode->i_lock);
			continue;
		}
		__iget(inode);
		spin_unlock(&inode->i_lock);
		spin_unlock(&sb->s_inode_list_lock);

		fn(inode, arg);
		iput(toput);
		toput = inode;
		cond_resched();
		spin_lock(&sb->s_inode_list_lock);
	}
	spin_unlock(&sb->s_inode_list_lock);
	iput(toput);
}

static void famfsd_zap_one(struct inode *inode, void *arg)
{
	famfsd_zap_mappings(inode);
}

/**
 * famfsd_ns_zap_all() - tear down every mapping of the mount
 * @sb: a fenced mount
 *
 * Context: process context, may sleep.
 */
void famfsd_ns_zap_all(struct super_block *sb)
{
	famfsd_for_each_file(sb, famfsd_zap_one, NULL);
}

static void famfsd_drop_one(struct inode *inode, void *arg)
{
	famfsd_drop_mappings(inode);
}

/**
 * famfsd_ns_drop_all() - tear down every mapping and DAX entry of the mount
 * @sb: a fenced mount whose device is going away
 *
 * Context: process context, may sleep.
 */
void famfsd_ns_drop_all(struct super_block *sb)
{
	famfsd_for_each_file(sb, famfsd_drop_one, NULL);
}

struct famfsd_open_list {
	u64 *inos;
	u32 capacity;
	u32 count;
};

static void famfsd_list_one(struct inode *inode, void *arg)
{
	struct famfsd_inode *fi = FAMFSD_I(inode);
	struct famfsd_open_list *l = arg;
	int opens;

	/* i_lock: ordered against open and DELETE (famfsd_mark_deleted). */
	spin_lock(&inode->i_lock);
	opens = atomic_read(&fi->opens);
	spin_unlock(&inode->i_lock);
	if (fi->kind != FAMFSD_KIND_FILE || !opens ||
	    test_bit(FAMFSD_I_REVOKED, &fi->flags))
		return;
	if (l->count < l->capacity)
		l->inos[l->count] = inode->i_ino;
	if (l->count < U32_MAX)
		l->count++;
}

/**
 * famfsd_ns_open_inos() - the files that are open or mapped
 * @sb: the mount
 * @inos: room for capacity inode numbers
 * @capacity: how many fit
 * @count: set to how many there are (may exceed capacity)
 *
 * Context: process context, may sleep.
 * Return: 0.
 */
int famfsd_ns_open_inos(struct super_block *sb, u64 *inos, u32 capacity,
			u32 *count)
{
	struct famfsd_open_list l = { .inos = inos, .capacity = capacity };

	famfsd_for_each_file(sb, famfsd_list_one, &l);
	*count = l.count;
	return 0;
}
