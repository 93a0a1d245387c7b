// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd kernel module: the file system type, mounting, the superblock
 * (read through DAX and checked like famfsd/lib/super.c does), the meta
 * files, statfs, memory-failure fencing and the module's entry points.
 *
 * Mount: mount -t famfsd [-o meta_rw] /dev/pmemN DIR. The device must be a
 * pmem namespace in fsdax mode (2 MiB aligned for PMD faults), or a
 * device-dax /dev/daxX.Y (devdax.c), holding a formatted pool; the mount starts with an empty root plus the meta
 * directory, and the agent fills the namespace in through ioctls.
 */
#include <linux/blkdev.h>
#include <linux/crc32.h>
#include <linux/dax.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/module.h>
#include <linux/pagemap.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/uaccess.h>

#include "famfsd.h"
#include "media.h"

static struct kmem_cache *famfsd_inode_cachep;

/* ---- inodes ------------------------------------------------------------- */

static struct inode *famfsd_alloc_inode(struct super_block *sb)
{
	struct famfsd_inode *fi;

	fi = alloc_inode_sb(sb, famfsd_inode_cachep, GFP_KERNEL);
	if (!fi)
		return NULL;
	fi->kind = FAMFSD_KIND_DIR;
	fi->n_ext = 0;
	fi->ext = NULL;
	fi->alloc_bytes = 0;
	atomic_set(&fi->opens, 0);
	fi->flags = 0;
	return &fi->vfs;
}

static void famfsd_free_inode(struct inode *inode)
{
	struct famfsd_inode *fi = FAMFSD_I(inode);

	kfree(fi->ext);
	kmem_cache_free(famfsd_inode_cachep, fi);
}

/* Last reference gone (deleted and closed, or unmount): drop the DAX entries. */
static void famfsd_evict_inode(struct inode *inode)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(inode->i_sb);
	struct famfsd_inode *fi = FAMFSD_I(inode);

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (fi->kind == FAMFSD_KIND_FILE) {
		famfsd_ns_forget_extents(inode);	/* its space is free here */
		atomic64_dec(&sbi->files);
		atomic64_sub(fi->alloc_bytes, &sbi->held_bytes);
	} else if (fi->kind == FAMFSD_KIND_DIR) {
		atomic64_dec(&sbi->dirs);
	}
}

static void famfsd_inode_init_once(void *obj)
{
	struct famfsd_inode *fi = obj;

	inode_init_once(&fi->vfs);
}

int famfsd_init_inode_cache(void)
{
	famfsd_inode_cachep = kmem_cache_create("famfsd_inode_cache",
						sizeof(struct famfsd_inode), 0,
						SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
						famfsd_inode_init_once);
	return famfsd_inode_cachep ? 0 : -ENOMEM;
}

void famfsd_destroy_inode_cache(void)
{
	/* Inodes are freed after an RCU grace period: wait for them. */
	rcu_barrier();
	kmem_cache_destroy(famfsd_inode_cachep);
}

/**
 * famfsd_new_inode() - make a hashed inode of this mount
 * @sb: the mount
 * @ino: its number (a pool inode, or one of the meta numbers)
 * @kind: what it is; decides its operations
 * @mode: type and permission bits
 * @uid: owner
 * @gid: group
 * @mtime: modification (and change, and access) time
 *
 * The inode is hashed by @ino, so ilookup() finds it while it lives.
 *
 * Context: process context; the caller serialises namespace changes.
 * Return: the new inode (one reference), or NULL when out of memory.
 */
struct inode *famfsd_new_inode(struct super_block *sb, u64 ino,
			       enum famfsd_kind kind, umode_t mode,
			       kuid_t uid, kgid_t gid, struct timespec64 mtime)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct inode *inode = new_inode(sb);

	if (!inode)
		return NULL;
	FAMFSD_I(inode)->kind = kind;
	inode->i_ino = ino;
	inode->i_mode = mode;
	inode->i_uid = uid;
	inode->i_gid = gid;
	inode->i_atime = mtime;
	inode->i_mtime = mtime;
	inode->i_ctime = mtime;
	switch (kind) {
	case FAMFSD_KIND_DIR:
	case FAMFSD_KIND_META_DIR:
		inode->i_op = &famfsd_dir_iops;
		inode->i_fop = &famfsd_dir_fops;
		inc_nlink(inode);	/* "." */
		if (kind == FAMFSD_KIND_DIR)
			atomic64_inc(&sbi->dirs);
		break;
	case FAMFSD_KIND_FILE:
	case FAMFSD_KIND_META:
		inode->i_op = &famfsd_file_iops;
		inode->i_fop = &famfsd_file_fops;
		inode->i_mapping->a_ops = &famfsd_dax_aops;
		inode->i_flags |= S_DAX;
		if (kind == FAMFSD_KIND_FILE)
			atomic64_inc(&sbi->files);
		break;
	}
	insert_inode_hash(inode);
	return inode;
}

/* ---- the pool superblock, read through DAX ------------------------------- */

/* Copies len bytes at device offset off (within one page) into buf. */
static int famfsd_read_media(struct famfsd_sb_info *sbi, u64 off, void *buf,
			     size_t len)
{
	u64 pos = sbi->dax_part_off + off;
	unsigned long rem = len;
	void *kaddr;
	long nr;
	int id;

	if (WARN_ON_ONCE(offset_in_page(pos) + len > PAGE_SIZE))
		return -EINVAL;
	if (sbi->devdax)
		return famfsd_devdax_read_media(sbi->devdax, off, buf, len);
	id = dax_read_lock();
	nr = dax_direct_access(sbi->dax_dev, PHYS_PFN(pos), 1, DAX_ACCESS,
			       &kaddr, NULL);
	if (nr >= 1)
		rem = copy_mc_to_kernel(buf, kaddr + offset_in_page(pos), len);
	dax_read_unlock(id);
	if (nr < 0)
		return (int)nr;
	return rem ? -EIO : 0;
}

static u32 famfsd_crc32c(const void *buf, size_t len)
{
	return ~__crc32c_le(~0u, buf, len);
}

/*
 * Decodes one superblock copy and checks it as famfsd/lib/super.c does.
 * Returns NULL and fills geo, or the reason the copy is not usable.
 */
static const char *famfsd_decode_sb(const struct famfs_sb *s,
				    u64 dev_size, struct famfsd_geometry *geo)
{
	struct famfsd_geometry g;

	if (le64_to_cpu(s->magic) != FAMFS_SB_MAGIC)
		return "bad magic";
	if (le32_to_cpu(s->crc) != famfsd_crc32c(s, offsetof(typeof(*s), crc)))
		return "CRC mismatch";
	if (le32_to_cpu(s->version) != FAMFS_FORMAT_VERSION)
		return "unsupported format version";
	g.pool_size = le64_to_cpu(s->device_size);
	g.alloc_unit = le64_to_cpu(s->alloc_unit);
	g.log_offset = le64_to_cpu(s->log_offset);
	g.log_size = le64_to_cpu(s->log_size);
	g.data_offset = le64_to_cpu(s->data_offset);
	g.log_generation = le64_to_cpu(s->log_generation);
	g.created_ns = le64_to_cpu(s->created_ns);
	g.sb_seq = le64_to_cpu(s->sb_seq);
	g.flags = le32_to_cpu(s->flags);
	memcpy(g.pool_uuid, s->pool_uuid, sizeof(g.pool_uuid));

	if (!is_power_of_2(g.alloc_unit) || g.alloc_unit < FAMFS_MIN_ALLOC_UNIT ||
	    g.alloc_unit > FAMFS_MAX_ALLOC_UNIT)
		return "allocation unit is not a power of two in [4 KiB, 1 GiB]";
	if (g.pool_size > dev_size)
		return "pool is larger than the device";
	if (g.log_offset < FAMFS_LEASE_OFFSET + FAMFS_SB_B_OFFSET ||
	    !PAGE_ALIGNED(g.log_offset))
		return "log offset overlaps the superblocks or is not page aligned";
	if (g.log_size < FAMFS_MIN_LOG_SIZE || !PAGE_ALIGNED(g.log_size) ||
	    g.log_size > g.pool_size || g.log_offset > g.pool_size - g.log_size)
		return "log region is outside the pool or not page aligned";
	if (g.data_offset < g.log_offset + g.log_size ||
	    g.data_offset % g.alloc_unit || !PAGE_ALIGNED(g.data_offset) ||
	    g.data_offset >= g.pool_size)
		return "data offset is misaligned or outside the pool";
	if (!g.log_generation)
		return "log generation is zero";
	*geo = g;
	return NULL;
}

/* Loads the good copy with the higher sb_seq; logs why on failure. */
static int famfsd_load_sb(struct fs_context *fc, struct famfsd_sb_info *sbi)
{
	static const u64 where[2] = { 0, FAMFS_SB_B_OFFSET };
	struct famfs_sb *s;
	struct famfsd_geometry g[2];
	const char *why[2];
	int i, r, best = -1;

	s = kmalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return -ENOMEM;
	for (i = 0; i < 2; i++) {
		r = famfsd_read_media(sbi, where[i], s, sizeof(*s));
		if (r) {
			kfree(s);
			return invalfc(fc, "cannot read the superblock: %d", r);
		}
		why[i] = famfsd_decode_sb(s, sbi->dev_size, &g[i]);
		if (!why[i] && (best < 0 || g[i].sb_seq > g[best].sb_seq))
			best = i;
	}
	kfree(s);
	if (best < 0)
		return invalfc(fc, "no usable famfsd superblock (copy A: %s, copy B: %s)",
			       why[0], why[1]);
	if (why[!best])
		pr_warn("famfsd: superblock copy %c is bad (%s); using copy %c\n",
			best ? 'A' : 'B', why[!best], best ? 'B' : 'A');
	sbi->geo = g[best];
	return 0;
}

/* ---- memory failure and device removal ---------------------------------- */

/*
 * Orders holder callbacks against kill_sb, for every mount: a callback
 * looks its superblock up (dax_holder()) and works on it under this lock,
 * and famfsd_kill_sb() holds it from before the first inode goes until
 * after fs_put_dax() dropped the holder. So kill_sb waits for a callback
 * in flight, and a callback that comes after finds no holder. Global, not
 * per mount: the callback can reach nothing of a mount before it holds it.
 */
static DEFINE_MUTEX(famfsd_holder_lock);

/* kill_dax() (pmem unbind or removal) reports the whole device as failed. */
static bool famfsd_is_removal(u64 offset, u64 len)
{
	return offset == 0 && len == U64_MAX;
}

/**
 * famfsd_notify_failure() - a memory error in the pool, or the device goes
 * @dax_dev: the device, held by this mount
 * @offset: device offset of the failed range
 * @len: its length; (0, U64_MAX) when the device is being removed
 * @mf_flags: MF_* flags of memory_failure()
 *
 * Fences the mount: every later access fails (EIO, SIGBUS) and every
 * mapping is torn down, since any file may share the failed range's cache
 * lines or its neighbours. The pool itself is another host's too; the
 * mount is not trusted again until it is unmounted and mounted anew.
 *
 * A removal (kill_dax(), before the pages go away) also drops every DAX
 * entry, while the pages still exist: evict at umount then finds none. A
 * memory failure keeps them: the generic handler finds the processes to
 * signal through them, and the pages stay.
 *
 * Context: process context (memory_failure() with mf_mutex held, or the
 * driver's unbind), inside dax_read_lock(); may sleep; takes
 * famfsd_holder_lock.
 * Return: -EOPNOTSUPP, so the generic handler also deals with the
 * processes that had the failed page mapped (marks it, signals them).
 */
static int famfsd_notify_failure(struct dax_device *dax_dev, u64 offset,
				 u64 len, int mf_flags)
{
	bool removal = famfsd_is_removal(offset, len);
	struct famfsd_sb_info *sbi;
	struct super_block *sb;

	mutex_lock(&famfsd_holder_lock);
	sb = dax_holder(dax_dev);
	if (!sb)
		goto out;
	sbi = FAMFSD_SB(sb);
	if (!test_and_set_bit(FAMFSD_SB_FENCED, &sbi->state)) {
		if (removal)
			pr_err("famfsd %s: device removed: mount fenced, every access now fails; unmount\n",
			       sb->s_id);
		else
			pr_err("famfsd %s: memory failure at pool offset %llu (%llu bytes): mount fenced, every access now fails; unmount, check the pool, mount again\n",
			       sb->s_id, offset - sbi->dax_part_off, len);
	}
	if (removal)
		famfsd_ns_drop_all(sb);
	else
		famfsd_ns_zap_all(sb);
out:
	mutex_unlock(&famfsd_holder_lock);
	return -EOPNOTSUPP;
}

static const struct dax_holder_operations famfsd_dax_holder_ops = {
	.notify_failure = famfsd_notify_failure,
};

/* ---- superblock operations ----------------------------------------------- */

/**
 * famfsd_statfs() - the pool's numbers
 * @dentry: any dentry of the mount
 * @buf: filled in
 *
 * Blocks are allocation units of the data area. Free space and free
 * inodes are the agent's (FAMFSD_IOC_SET_USAGE: the replayed allocator,
 * which counts space waiting for reclaim as used, and the room left in
 * the log); until it sets them, the data area minus the extents held here.
 *
 * Context: process context.
 * Return: 0.
 */
static int famfsd_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct super_block *sb = dentry->d_sb;
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	u64 unit = sbi->geo.alloc_unit;
	u64 total = sbi->geo.pool_size - sbi->geo.data_offset;
	u64 held = atomic64_read(&sbi->held_bytes);
	u64 nodes = atomic64_read(&sbi->files) + atomic64_read(&sbi->dirs);
	u64 avail, inodes;

	spin_lock(&sbi->usage_lock);
	avail = sbi->usage_set ? sbi->usage_free_bytes :
		(held < total ? total - held : 0);
	inodes = sbi->usage_set ? sbi->usage_free_inodes : 0;
	spin_unlock(&sbi->usage_lock);

	buf->f_type = FAMFSD_KMOD_MAGIC;
	buf->f_bsize = unit;
	buf->f_frsize = unit;
	buf->f_blocks = div64_u64(total, unit);
	buf->f_bfree = div64_u64(avail, unit);
	buf->f_bavail = buf->f_bfree;
	buf->f_files = nodes + inodes;
	buf->f_ffree = inodes;
	buf->f_namelen = FAMFSD_KMOD_NAME_MAX;
	buf->f_fsid = u64_to_fsid(huge_encode_dev(sb->s_bdev ? sb->s_bdev->bd_dev :
							 sb->s_dev));
	return 0;
}

static int famfsd_show_options(struct seq_file *m, struct dentry *root)
{
	if (FAMFSD_SB(root->d_sb)->meta_rw)
		seq_puts(m, ",meta_rw");
	return 0;
}

static const struct super_operations famfsd_super_ops = {
	.alloc_inode	= famfsd_alloc_inode,
	.free_inode	= famfsd_free_inode,
	.evict_inode	= famfsd_evict_inode,
	.drop_inode	= generic_delete_inode,
	.statfs		= famfsd_statfs,
	.show_options	= famfsd_show_options,
};

/* ---- the meta directory --------------------------------------------------- */

/*
 * A meta file: a window of the pool at device offset base. Only the first
 * valid bytes can be reached; i_size may be larger (the pool file).
 */
static int famfsd_add_meta(struct super_block *sb, struct dentry *dir,
			   const char *name, u64 ino, u64 base, u64 valid,
			   u64 size)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct timespec64 t = ns_to_timespec64(sbi->geo.created_ns);
	umode_t mode = S_IFREG | (sbi->meta_rw ? 0600 : 0400);
	struct famfsd_inode *fi;
	struct dentry *dentry;
	struct inode *inode;

	inode = famfsd_new_inode(sb, ino, FAMFSD_KIND_META, mode,
				 GLOBAL_ROOT_UID, GLOBAL_ROOT_GID, t);
	if (!inode)
		return -ENOMEM;
	fi = FAMFSD_I(inode);
	fi->ext = kzalloc(sizeof(*fi->ext), GFP_KERNEL);
	if (!fi->ext) {
		iput(inode);
		return -ENOMEM;
	}
	fi->ext->dev_off = base;
	fi->ext->len = valid;
	fi->n_ext = 1;
	i_size_write(inode, size);
	dentry = d_alloc_name(dir, name);
	if (!dentry) {
		iput(inode);
		return -ENOMEM;
	}
	d_add(dentry, inode);	/* the reference pins it, as in ramfs */
	return 0;
}

static int famfsd_make_meta(struct super_block *sb)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	const struct famfsd_geometry *g = &sbi->geo;
	struct timespec64 t = ns_to_timespec64(g->created_ns);
	struct dentry *dir;
	struct inode *inode;
	int r;

	inode = famfsd_new_inode(sb, FAMFSD_INO_META_DIR, FAMFSD_KIND_META_DIR,
				 S_IFDIR | 0500, GLOBAL_ROOT_UID,
				 GLOBAL_ROOT_GID, t);
	if (!inode)
		return -ENOMEM;
	dir = d_alloc_name(sb->s_root, FAMFSD_KMOD_META_DIR);
	if (!dir) {
		iput(inode);
		return -ENOMEM;
	}
	inc_nlink(d_inode(sb->s_root));	/* the new ".." */
	d_add(dir, inode);
	r = famfsd_add_meta(sb, dir, FAMFSD_KMOD_META_POOL, FAMFSD_INO_META_POOL,
			    0, g->data_offset, sbi->dev_size);
	if (!r)
		r = famfsd_add_meta(sb, dir, FAMFSD_KMOD_META_SUPER,
				    FAMFSD_INO_META_SUPER, 0, g->log_offset,
				    g->log_offset);
	if (!r)
		r = famfsd_add_meta(sb, dir, FAMFSD_KMOD_META_LOG,
				    FAMFSD_INO_META_LOG, g->log_offset,
				    g->log_size, g->log_size);
	return r;
}

/* ---- mounting ------------------------------------------------------------- */

/**
 * famfsd_fill_super() - set up a mount of a pmem device holding a pool
 * @sb: the new superblock, its block device opened exclusively
 * @fc: the mount request (meta_rw)
 *
 * Takes the device's DAX holder slot (one file system per device), reads
 * both superblock copies through DAX and keeps the good one with the higher
 * sequence, then makes the root (pool inode 1) and the meta directory.
 *
 * Context: process context, from get_tree_bdev().
 * Return: 0, -EINVAL with a message in the mount's log (not DAX, held by
 * another file system, no usable superblock), -ENOMEM, or a read error.
 */
static int famfsd_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct famfsd_fs_ctx *ctx = fc->fs_private;
	struct famfsd_sb_info *sbi;
	struct inode *root;
	int r;

	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	mutex_init(&sbi->ns_lock);
	spin_lock_init(&sbi->usage_lock);
	spin_lock_init(&sbi->ext_lock);
	sbi->ext_tree = RB_ROOT;
	sbi->meta_rw = ctx->meta_rw;
	sb->s_fs_info = sbi;	/* freed by famfsd_kill_sb, on failure too */

	if (ctx->devdax) {
		r = famfsd_devdax_attach(sb, ctx->devdax);	/* sbi owns it */
		ctx->devdax = NULL;
		if (r)
			return r;
	} else {
		sbi->dax_dev = fs_dax_get_by_bdev(sb->s_bdev, &sbi->dax_part_off,
						  sb, &famfsd_dax_holder_ops);
		if (!sbi->dax_dev)
			return invalfc(fc, "%pg is not a DAX device (a pmem namespace in fsdax mode) or another file system holds it",
				       sb->s_bdev);
		sbi->dev_size = bdev_nr_bytes(sb->s_bdev);
	}
	r = famfsd_load_sb(fc, sbi);
	if (r)
		return r;

	sb->s_magic = FAMFSD_KMOD_MAGIC;
	sb->s_op = &famfsd_super_ops;
	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_time_gran = 1;
	sb->s_flags |= SB_NOSEC;

	root = famfsd_new_inode(sb, FAMFSD_ROOT_INO, FAMFSD_KIND_DIR,
				S_IFDIR | 0755, GLOBAL_ROOT_UID, GLOBAL_ROOT_GID,
				ns_to_timespec64(sbi->geo.created_ns));
	if (!root)
		return -ENOMEM;
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return -ENOMEM;
	r = famfsd_make_meta(sb);
	if (r)
		return r;
	pr_info("famfsd %s: mounted pool %pU: %llu bytes, unit %llu, log at %llu (%llu bytes), data from %llu%s\n",
		sb->s_id, sbi->geo.pool_uuid, sbi->geo.pool_size,
		sbi->geo.alloc_unit, sbi->geo.log_offset, sbi->geo.log_size,
		sbi->geo.data_offset, sbi->meta_rw ? ", meta files writable" : "");
	return 0;
}

/*
 * A pmem mount runs under famfsd_holder_lock from the first evicted inode
 * until the holder is dropped: a notify_failure in flight ends first, a
 * later one finds no holder, so none sees inodes being evicted or sbi
 * freed. A devdax mount has no holder; devdax.c orders its own callbacks.
 */
static void famfsd_kill_sb(struct super_block *sb)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);

	if (!sb->s_bdev) {		/* a devdax mount (devdax.c) */
		if (sb->s_root)
			d_genocide(sb->s_root);
		famfsd_devdax_detach(sbi ? sbi->devdax : NULL);
		kill_anon_super(sb);
		if (sbi)
			famfsd_devdax_put(sbi->devdax);
		kfree(sbi);
		return;
	}
	mutex_lock(&famfsd_holder_lock);
	/* Drop the pins on every dentry first, as kill_litter_super does. */
	if (sb->s_root)
		d_genocide(sb->s_root);
	kill_block_super(sb);
	if (sbi)
		fs_put_dax(sbi->dax_dev, sb);
	mutex_unlock(&famfsd_holder_lock);
	kfree(sbi);
}

enum { Opt_meta_rw };

static const struct fs_parameter_spec famfsd_fs_parameters[] = {
	fsparam_flag("meta_rw", Opt_meta_rw),
	{}
};

static int famfsd_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct famfsd_fs_ctx *ctx = fc->fs_private;
	struct fs_parse_result result;
	int opt;

	opt = fs_parse(fc, famfsd_fs_parameters, param, &result);
	if (opt < 0)
		return opt;
	if (opt == Opt_meta_rw)
		ctx->meta_rw = true;
	return 0;
}

static int famfsd_get_tree(struct fs_context *fc)
{
	if (famfsd_source_is_chardev(fc))
		return famfsd_devdax_get_tree(fc, famfsd_fill_super);
	return get_tree_bdev(fc, famfsd_fill_super);
}

/*
 * Tears down every mapping of the meta files once meta_rw is off. The
 * invalidate lock waits for a write fault that saw meta_rw set; faults
 * after it see it clear, so a write through an old mapping faults again
 * and gets SIGBUS, and reads simply map the pages anew.
 */
static void famfsd_meta_zap(struct super_block *sb)
{
	u64 ino;

	for (ino = FAMFSD_INO_META_POOL; ino <= FAMFSD_INO_META_LOG; ino++) {
		struct inode *inode = ilookup(sb, ino);

		if (inode)
			famfsd_zap_mappings(inode);
		iput(inode);
	}
}

/*
 * Remount: meta_rw may change (the master moved). Dropping it takes write
 * access away from what already has it, not only from new opens: writes
 * through open files get EPERM (iomap_begin checks), and writable
 * mappings are torn down, so a stuck process of the old master cannot go
 * on writing the log. Refusing the remount while writers exist would let
 * that process keep the host a writer.
 */
static int famfsd_reconfigure(struct fs_context *fc)
{
	struct famfsd_fs_ctx *ctx = fc->fs_private;
	struct super_block *sb = fc->root->d_sb;
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	bool drop = sbi->meta_rw && !ctx->meta_rw;

	WRITE_ONCE(sbi->meta_rw, ctx->meta_rw);
	if (drop)
		famfsd_meta_zap(sb);
	sync_filesystem(sb);	/* writes back what the old mappings dirtied */
	return 0;
}

static void famfsd_free_fc(struct fs_context *fc)
{
	struct famfsd_fs_ctx *ctx = fc->fs_private;

	if (ctx)
		famfsd_devdax_put(ctx->devdax);
	kfree(ctx);
}

static const struct fs_context_operations famfsd_context_ops = {
	.parse_param	= famfsd_parse_param,
	.get_tree	= famfsd_get_tree,
	.reconfigure	= famfsd_reconfigure,
	.free		= famfsd_free_fc,
};

static int famfsd_init_fs_context(struct fs_context *fc)
{
	struct famfsd_fs_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	fc->fs_private = ctx;
	fc->ops = &famfsd_context_ops;
	return 0;
}

struct file_system_type famfsd_fs_type = {
	.owner			= THIS_MODULE,
	.name			= FAMFSD_KMOD_FSTYPE,
	.init_fs_context	= famfsd_init_fs_context,
	.parameters		= famfsd_fs_parameters,
	.kill_sb		= famfsd_kill_sb,
	.fs_flags		= FS_REQUIRES_DEV,
};
MODULE_ALIAS_FS("famfsd");

/* ---- module -------------------------------------------------------------- */

/* abi_version: read-only in sysfs, and not settable at load time either. */
static int famfsd_abi_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%u\n", FAMFSD_KMOD_ABI_VERSION);
}

static int famfsd_abi_set(const char *val, const struct kernel_param *kp)
{
	return -EPERM;
}

static const struct kernel_param_ops famfsd_abi_ops = {
	.get = famfsd_abi_get,
	.set = famfsd_abi_set,
};
module_param_cb(abi_version, &famfsd_abi_ops, NULL, 0444);
MODULE_PARM_DESC(abi_version, "ioctl ABI version (read-only)");

static int __init famfsd_init(void)
{
	int r = famfsd_init_inode_cache();

	if (r)
		return r;
	r = register_filesystem(&famfsd_fs_type);
	if (r)
		famfsd_destroy_inode_cache();
	return r;
}

static void __exit famfsd_exit(void)
{
	unregister_filesystem(&famfsd_fs_type);
	famfsd_devdax_exit();
	famfsd_destroy_inode_cache();
}

module_init(famfsd_init);
module_exit(famfsd_exit);
MODULE_DESCRIPTION("famfsd: shared DAX file system over a CXL/pmem memory pool");
MODULE_LICENSE("GPL");
