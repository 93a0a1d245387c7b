/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * famfsd kernel module: shared internals.
 *
 * A mount is a DAX file system over one /dev/pmemN (fsdax mode), or one
 * /dev/daxX.Y (device-dax, devdax.c), that holds a famfsd pool. Its namespace lives only in memory (ramfs style: every
 * dentry is pinned) and is built by the agent through ioctls (ioctl.c,
 * namespace.c) from the pool's log; regular files carry an extent list and
 * reach the pool through fs/dax.c (file.c); meta files expose the pool's
 * metadata regions the same way (super.c).
 */
#ifndef FAMFSD_KMOD_INTERNAL_H
#define FAMFSD_KMOD_INTERNAL_H

#include <linux/atomic.h>
#include <linux/build_bug.h>
#include <linux/fs.h>
#include <linux/mutex.h>
#include <linux/rbtree.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "uapi/famfsd_format.h"
#include "uapi/famfsd_kmod.h"

/* The pool geometry, host byte order, fixed for the life of a mount. */
struct famfsd_geometry {
	u64 pool_size;			/* superblock device_size */
	u64 alloc_unit;
	u64 log_offset;
	u64 log_size;
	u64 data_offset;
	u64 log_generation;
	u64 created_ns;
	u64 sb_seq;
	u32 flags;			/* FAMFS_SB_F_* */
	u8  pool_uuid[16];
};

/* sbi->state bits */
#define FAMFSD_SB_FENCED	0	/* memory failure: every access fails */

struct famfsd_devdax;

struct famfsd_sb_info {
	struct famfsd_devdax *devdax;	/* a devdax mount (devdax.c), else NULL */
	struct dax_device *dax_dev;	/* pmem: held with this sb as holder */
	u64 dax_part_off;		/* partition start on the dax device */
	u64 dev_size;			/* bytes of the block device */
	struct famfsd_geometry geo;
	bool meta_rw;			/* meta files writable (master host) */
	unsigned long state;		/* FAMFSD_SB_* bits */

	struct mutex ns_lock;		/* serialises namespace ioctls */
	u64 applied_seq;		/* protected by ns_lock */
	u64 applied_generation;		/* protected by ns_lock */

	/*
	 * The extents of every live file (named, or deleted and still held
	 * here until revoked), by device offset; they never overlap. Inserts
	 * hold ns_lock and ext_lock, removals (revoke, evict) ext_lock.
	 */
	spinlock_t ext_lock;
	struct rb_root ext_tree;

	spinlock_t usage_lock;		/* protects the three usage fields */
	bool usage_set;
	u64 usage_free_bytes;
	u64 usage_free_inodes;

	atomic64_t files, dirs, held_bytes;
	atomic64_t pte_faults, pmd_faults, pmd_fallbacks, mkwrite_faults;
	atomic64_t fault_errors;
};

/* Mount options as parsed, applied at fill_super or reconfigure. */
struct famfsd_fs_ctx {
	bool meta_rw;
	struct famfsd_devdax *devdax;	/* opened by get_tree for fill_super */
};

enum famfsd_kind {
	FAMFSD_KIND_DIR,		/* the root, or a directory from the log */
	FAMFSD_KIND_FILE,		/* a regular file from the log */
	FAMFSD_KIND_META_DIR,
	FAMFSD_KIND_META,		/* a window onto the pool's metadata */
};

/* One extent of a file, resolved: file offset, device offset, length. */
struct famfsd_kext {
	u64 foff;
	u64 dev_off;			/* from the pool (= device) start */
	u64 len;
	struct rb_node rb;		/* in sbi->ext_tree (regular files) */
	u64 ino;			/* whose extent: for the refusal message */
};

/* famfsd_inode.flags bits */
#define FAMFSD_I_REVOKED	0	/* space reclaimed: every access fails */
#define FAMFSD_I_DELETED	1	/* name deleted: no new opens (i_lock) */
#define FAMFSD_I_EXT_TREE	2	/* its extents are in sbi->ext_tree */

struct famfsd_inode {
	enum famfsd_kind kind;
	u32 n_ext;
	struct famfsd_kext *ext;	/* n_ext entries in file order, fixed */
	u64 alloc_bytes;		/* sum of extent lengths */
	atomic_t opens;			/* open struct files (mappings hold one) */
	unsigned long flags;		/* FAMFSD_I_* bits */
	struct inode vfs;
};

static inline struct famfsd_inode *FAMFSD_I(const struct inode *inode)
{
	return container_of(inode, struct famfsd_inode, vfs);
}

static inline struct famfsd_sb_info *FAMFSD_SB(const struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline bool famfsd_fenced(const struct famfsd_sb_info *sbi)
{
	return test_bit(FAMFSD_SB_FENCED, &sbi->state);
}

/* Inode numbers of the meta directory and files, above any pool inode. */
#define FAMFSD_INO_META_DIR	(FAMFSD_KMOD_INO_MAX + 1)
#define FAMFSD_INO_META_POOL	(FAMFSD_KMOD_INO_MAX + 2)
#define FAMFSD_INO_META_SUPER	(FAMFSD_KMOD_INO_MAX + 3)
#define FAMFSD_INO_META_LOG	(FAMFSD_KMOD_INO_MAX + 4)
#define FAMFSD_ROOT_INO		1ULL

/* super.c */
extern struct file_system_type famfsd_fs_type;
struct inode *famfsd_new_inode(struct super_block *sb, u64 ino,
			       enum famfsd_kind kind, umode_t mode,
			       kuid_t uid, kgid_t gid, struct timespec64 mtime);
int famfsd_init_inode_cache(void);
void famfsd_destroy_inode_cache(void);

/* file.c */
extern const struct file_operations famfsd_file_fops;
const struct famfsd_kext *famfsd_find_extent(const struct famfsd_inode *fi,
					     u64 pos);
bool famfsd_inode_dead(const struct inode *inode);
extern const struct inode_operations famfsd_file_iops;
extern const struct address_space_operations famfsd_dax_aops;
int famfsd_setattr(struct user_namespace *mnt_userns, struct dentry *dentry,
		   struct iattr *iattr);
void famfsd_zap_mappings(struct inode *inode);
void famfsd_drop_mappings(struct inode *inode);

/* namespace.c */
extern const struct file_operations famfsd_dir_fops;
extern const struct inode_operations famfsd_dir_iops;
struct famfsd_ns_entry {
	u64 seq;			/* log record, 0 for none */
	u64 ino;
	u64 parent;
	u64 mtime_ns;
	u32 mode, uid, gid;
	const char *name;
	u32 name_len;
};
int famfsd_ns_mkdir(struct super_block *sb, const struct famfsd_ns_entry *e);
int famfsd_ns_create(struct super_block *sb, const struct famfsd_ns_entry *e,
		     u64 size, struct famfsd_kext *ext, u32 n_ext);
int famfsd_ns_delete(struct super_block *sb, u64 seq, u64 ino, u64 parent,
		     const char *name, u32 name_len);
int famfsd_ns_revoke(struct super_block *sb, u64 ino);
void famfsd_ns_forget_extents(struct inode *inode);
int famfsd_ns_open_inos(struct super_block *sb, u64 *inos, u32 capacity,
			u32 *count);
void famfsd_ns_zap_all(struct super_block *sb);
void famfsd_ns_drop_all(struct super_block *sb);

/* ioctl.c */
long famfsd_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* FAMFSD_KMOD_INTERNAL_H */
