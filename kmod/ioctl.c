// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd kernel module: the ioctls (kmod/uapi/famfsd_kmod.h). Every
 * argument is copied once and checked here, before namespace.c sees it:
 * reserved fields and flags zero, inode numbers in range, names legal,
 * modes permission bits only, ids mappable, times representable, and
 * extents aligned to the pool's unit (and the page size), non-empty,
 * free of overflow, inside the data area [data_offset, pool end) and not
 * overlapping one another. A failed check answers -EINVAL with one
 * rate-limited log line that names it.
 *
 * Overlap with another file's extents is checked in namespace.c, under
 * the namespace lock (-EBUSY): it depends on which files live there.
 */
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "famfsd.h"

/* The ABI: sizes fixed, so 32- and 64-bit callers agree (compat_ptr_ioctl). */
static_assert(sizeof(struct famfsd_ioc_info) == 208);
static_assert(sizeof(struct famfsd_ioc_mkdir) == 64);
static_assert(sizeof(struct famfsd_ioc_extent) == 16);
static_assert(sizeof(struct famfsd_ioc_create) == 88);
static_assert(sizeof(struct famfsd_ioc_delete) == 48);
static_assert(sizeof(struct famfsd_ioc_revoke) == 32);
static_assert(sizeof(struct famfsd_ioc_open_inos) == 32);
static_assert(sizeof(struct famfsd_ioc_usage) == 32);
static_assert(sizeof(struct famfsd_ioc_seq) == 32);

#define famfsd_refuse(sb, what, fmt, ...)					\
({									\
	pr_warn_ratelimited("famfsd %s: %s refused: " fmt "\n",		\
			    (sb)->s_id, what, ##__VA_ARGS__);		\
	-EINVAL;							\
})

static bool famfsd_zero(const __u64 *v, size_t n)
{
	while (n--)
		if (*v++)
			return false;
	return true;
}

/* A name component: 1..255 bytes, no '/' or NUL, not "." or "..". */
static int famfsd_get_name(struct super_block *sb, const char *what,
			   __u64 uptr, u32 len, char *buf)
{
	if (!len || len > FAMFSD_KMOD_NAME_MAX)
		return famfsd_refuse(sb, what, "name length %u not in 1..%u",
				     len, FAMFSD_KMOD_NAME_MAX);
	if (copy_from_user(buf, u64_to_user_ptr(uptr), len))
		return -EFAULT;
	buf[len] = '\0';
	if (memchr(buf, '/', len) || memchr(buf, '\0', len))
		return famfsd_refuse(sb, what, "name contains '/' or NUL");
	if ((len == 1 && buf[0] == '.') ||
	    (len == 2 && buf[0] == '.' && buf[1] == '.'))
		return famfsd_refuse(sb, what, "name is '.' or '..'");
	return 0;
}

/* The fields mkdir and create share. */
static int famfsd_check_entry(struct super_block *sb, const char *what,
			      const struct famfsd_ns_entry *e)
{
	if (e->ino <= FAMFSD_ROOT_INO || e->ino > FAMFSD_KMOD_INO_MAX)
		return famfsd_refuse(sb, what, "inode number %llu not in 2..%llu",
				     e->ino, FAMFSD_KMOD_INO_MAX);
	if (!e->parent || e->parent > FAMFSD_KMOD_INO_MAX)
		return famfsd_refuse(sb, what, "parent %llu not in 1..%llu",
				     e->parent, FAMFSD_KMOD_INO_MAX);
	if (e->mode & ~07777u)
		return famfsd_refuse(sb, what, "mode %#o has bits beyond 07777",
				     e->mode);
	if (!uid_valid(make_kuid(&init_user_ns, e->uid)) ||
	    !gid_valid(make_kgid(&init_user_ns, e->gid)))
		return famfsd_refuse(sb, what, "uid %u or gid %u is not valid",
				     e->uid, e->gid);
	if (e->mtime_ns > S64_MAX)
		return famfsd_refuse(sb, what, "mtime %llu out of range",
				     e->mtime_ns);
	return 0;
}

static long famfsd_ioc_mkdir(struct super_block *sb, void __user *argp)
{
	char name[FAMFSD_KMOD_NAME_MAX + 1];
	struct famfsd_ioc_mkdir a;
	struct famfsd_ns_entry e;
	int r;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.reserved)
		return famfsd_refuse(sb, "mkdir", "reserved field is not zero");
	r = famfsd_get_name(sb, "mkdir", a.name, a.name_len, name);
	if (r)
		return r;
	e = (struct famfsd_ns_entry){
		.seq = a.seq, .ino = a.ino, .parent = a.parent,
		.mtime_ns = a.mtime_ns, .mode = a.mode, .uid = a.uid,
		.gid = a.gid, .name = name, .name_len = a.name_len,
	};
	r = famfsd_check_entry(sb, "mkdir", &e);
	return r ? r : famfsd_ns_mkdir(sb, &e);
}

static int famfsd_cmp_ext(const void *a, const void *b)
{
	const struct famfsd_ioc_extent *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * Checks the extents of a create and resolves them into ret (file order,
 * file offsets filled in). Returns 0 or -EINVAL (logged).
 */
static int famfsd_check_extents(struct super_block *sb,
				const struct famfsd_ioc_extent *ue, u32 n,
				u64 size, struct famfsd_kext *ret)
{
	const struct famfsd_geometry *g = &FAMFSD_SB(sb)->geo;
	u64 align = max_t(u64, g->alloc_unit, PAGE_SIZE);
	struct famfsd_ioc_extent *sorted;
	u64 sum = 0, end;
	u32 i;
	int r = 0;

	for (i = 0; i < n; i++) {
		const struct famfsd_ioc_extent *x = &ue[i];

		if (!x->len || x->offset % align || x->len % align)
			return famfsd_refuse(sb, "create", "extent %u (%llu, %llu) empty or not aligned to %llu",
					     i, x->offset, x->len, align);
		if (check_add_overflow(x->offset, x->len, &end))
			return famfsd_refuse(sb, "create", "extent %u (%llu, %llu) overflows",
					     i, x->offset, x->len);
		if (x->offset < g->data_offset)
			return famfsd_refuse(sb, "create", "extent %u (%llu, %llu) overlaps the metadata region [0, %llu)",
					     i, x->offset, x->len, g->data_offset);
		if (end > g->pool_size)
			return famfsd_refuse(sb, "create", "extent %u (%llu, %llu) ends past the pool (%llu bytes)",
					     i, x->offset, x->len, g->pool_size);
		ret[i] = (struct famfsd_kext){
			.foff = sum, .dev_off = x->offset, .len = x->len,
		};
		if (check_add_overflow(sum, x->len, &sum))
			return famfsd_refuse(sb, "create", "extent lengths overflow");
	}
	if (size > sum)
		return famfsd_refuse(sb, "create", "size %llu exceeds the %llu bytes of its extents",
				     size, sum);
	if (n < 2)
		return 0;
	sorted = kmemdup(ue, n * sizeof(*ue), GFP_KERNEL);
	if (!sorted)
		return -ENOMEM;
	sort(sorted, n, sizeof(*sorted), famfsd_cmp_ext, NULL);
	for (i = 1; i < n && !r; i++)
		if (sorted[i - 1].offset + sorted[i - 1].len > sorted[i].offset)
			r = famfsd_refuse(sb, "create", "extents overlap at pool offset %llu",
					  sorted[i].offset);
	kfree(sorted);
	return r;
}

static long famfsd_ioc_create(struct super_block *sb, void __user *argp)
{
	char name[FAMFSD_KMOD_NAME_MAX + 1];
	struct famfsd_ioc_extent *ue = NULL;
	struct famfsd_kext *ext = NULL;
	struct famfsd_ioc_create a;
	struct famfsd_ns_entry e;
	int r;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags || a.reserved)
		return famfsd_refuse(sb, "create", "flags or reserved field are not zero");
	if (a.n_extents > FAMFSD_KMOD_MAX_EXTENTS)
		return famfsd_refuse(sb, "create", "%u extents, at most %u",
				     a.n_extents, FAMFSD_KMOD_MAX_EXTENTS);
	if (!a.n_extents && a.size)
		return famfsd_refuse(sb, "create", "size %llu without extents", a.size);
	r = famfsd_get_name(sb, "create", a.name, a.name_len, name);
	if (r)
		return r;
	e = (struct famfsd_ns_entry){
		.seq = a.seq, .ino = a.ino, .parent = a.parent,
		.mtime_ns = a.mtime_ns, .mode = a.mode, .uid = a.uid,
		.gid = a.gid, .name = name, .name_len = a.name_len,
	};
	r = famfsd_check_entry(sb, "create", &e);
	if (r)
		return r;
	if (a.n_extents) {
		ue = memdup_user(u64_to_user_ptr(a.extents),
				 a.n_extents * sizeof(*ue));
		if (IS_ERR(ue))
			return PTR_ERR(ue);
		ext = kcalloc(a.n_extents, sizeof(*ext), GFP_KERNEL);
		if (!ext) {
			r = -ENOMEM;
			goto out;
		}
		r = famfsd_check_extents(sb, ue, a.n_extents, a.size, ext);
		if (r)
			goto out;
	}
	r = famfsd_ns_create(sb, &e, a.size, ext, a.n_extents);
	if (!r)
		ext = NULL;	/* the inode owns it now */
out:
	kfree(ext);
	kfree(ue);
	return r;
}

static long famfsd_ioc_delete(struct super_block *sb, void __user *argp)
{
	char name[FAMFSD_KMOD_NAME_MAX + 1];
	struct famfsd_ioc_delete a;
	int r;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags || a.reserved)
		return famfsd_refuse(sb, "delete", "flags or reserved field are not zero");
	if (a.ino <= FAMFSD_ROOT_INO || a.ino > FAMFSD_KMOD_INO_MAX ||
	    !a.parent || a.parent > FAMFSD_KMOD_INO_MAX)
		return famfsd_refuse(sb, "delete", "inode %llu or parent %llu out of range",
				     a.ino, a.parent);
	r = famfsd_get_name(sb, "delete", a.name, a.name_len, name);
	return r ? r : famfsd_ns_delete(sb, a.seq, a.ino, a.parent, name,
					a.name_len);
}

static long famfsd_ioc_revoke(struct super_block *sb, void __user *argp)
{
	struct famfsd_ioc_revoke a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (!famfsd_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return famfsd_refuse(sb, "revoke", "reserved fields are not zero");
	if (a.ino <= FAMFSD_ROOT_INO || a.ino > FAMFSD_KMOD_INO_MAX)
		return famfsd_refuse(sb, "revoke", "inode %llu out of range", a.ino);
	return famfsd_ns_revoke(sb, a.ino);
}

static long famfsd_ioc_open_inos(struct super_block *sb, void __user *argp)
{
	struct famfsd_ioc_open_inos a;
	u64 *inos = NULL;
	u32 count;
	long r = 0;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (!famfsd_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return famfsd_refuse(sb, "open_inos", "reserved fields are not zero");
	if (a.capacity > FAMFSD_KMOD_OPEN_INOS_MAX)
		return famfsd_refuse(sb, "open_inos", "capacity %u above %u",
				     a.capacity, FAMFSD_KMOD_OPEN_INOS_MAX);
	if (a.capacity) {
		inos = kvmalloc_array(a.capacity, sizeof(*inos), GFP_KERNEL);
		if (!inos)
			return -ENOMEM;
	}
	famfsd_ns_open_inos(sb, inos, a.capacity, &count);
	if (copy_to_user(u64_to_user_ptr(a.inos), inos,
			 min(count, a.capacity) * sizeof(*inos)))
		r = -EFAULT;
	a.count = count;
	if (!r && copy_to_user(argp, &a, sizeof(a)))
		r = -EFAULT;
	kvfree(inos);
	return r;
}

static long famfsd_ioc_set_usage(struct super_block *sb, void __user *argp)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	u64 area = sbi->geo.pool_size - sbi->geo.data_offset;
	struct famfsd_ioc_usage a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (!famfsd_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return famfsd_refuse(sb, "set_usage", "reserved fields are not zero");
	if (a.free_bytes > area)
		return famfsd_refuse(sb, "set_usage", "%llu free bytes in a %llu-byte data area",
				     a.free_bytes, area);
	spin_lock(&sbi->usage_lock);
	sbi->usage_free_bytes = a.free_bytes;
	sbi->usage_free_inodes = a.free_inodes;
	sbi->usage_set = true;
	spin_unlock(&sbi->usage_lock);
	return 0;
}

static long famfsd_ioc_set_seq(struct super_block *sb, void __user *argp)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	struct famfsd_ioc_seq a;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (!famfsd_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return famfsd_refuse(sb, "set_seq", "reserved fields are not zero");
	if (!a.generation)
		return famfsd_refuse(sb, "set_seq", "generation is zero");
	mutex_lock(&sbi->ns_lock);
	sbi->applied_seq = a.seq;
	sbi->applied_generation = a.generation;
	mutex_unlock(&sbi->ns_lock);
	return 0;
}

static long famfsd_ioc_info(struct super_block *sb, void __user *argp)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	const struct famfsd_geometry *g = &sbi->geo;
	struct famfsd_ioc_info a;

	memset(&a, 0, sizeof(a));
	a.abi_version = FAMFSD_KMOD_ABI_VERSION;
	if (famfsd_fenced(sbi))
		a.flags |= FAMFSD_INFO_FENCED;
	if (sbi->meta_rw)
		a.flags |= FAMFSD_INFO_META_RW;
	if (READ_ONCE(sbi->usage_set))
		a.flags |= FAMFSD_INFO_USAGE_SET;
	if (g->flags & FAMFS_SB_F_COHERENT)
		a.flags |= FAMFSD_INFO_COHERENT;
	a.device_size = sbi->dev_size;
	a.pool_size = g->pool_size;
	a.alloc_unit = g->alloc_unit;
	a.log_offset = g->log_offset;
	a.log_size = g->log_size;
	a.data_offset = g->data_offset;
	a.log_generation = g->log_generation;
	memcpy(a.pool_uuid, g->pool_uuid, sizeof(a.pool_uuid));
	a.files = atomic64_read(&sbi->files);
	a.dirs = atomic64_read(&sbi->dirs);
	a.held_bytes = atomic64_read(&sbi->held_bytes);
	a.pte_faults = atomic64_read(&sbi->pte_faults);
	a.pmd_faults = atomic64_read(&sbi->pmd_faults);
	a.pmd_fallbacks = atomic64_read(&sbi->pmd_fallbacks);
	a.mkwrite_faults = atomic64_read(&sbi->mkwrite_faults);
	a.fault_errors = atomic64_read(&sbi->fault_errors);
	mutex_lock(&sbi->ns_lock);
	a.applied_seq = sbi->applied_seq;
	a.applied_generation = sbi->applied_generation;
	mutex_unlock(&sbi->ns_lock);
	return copy_to_user(argp, &a, sizeof(a)) ? -EFAULT : 0;
}

/**
 * famfsd_ioctl() - the module's ioctls, on any file or directory of a mount
 * @file: an open file of the mount
 * @cmd: FAMFSD_IOC_*
 * @arg: user pointer to the command's struct
 *
 * FAMFSD_IOC_INFO is open to everyone; the rest change what every process
 * on this host sees and need CAP_SYS_ADMIN, and fail with -EIO once the
 * mount is fenced.
 *
 * Context: process context, may sleep.
 * Return: 0 or a negative errno (-EINVAL for a bad argument, -ENOTTY for
 * an unknown command).
 */
long famfsd_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct super_block *sb = file_inode(file)->i_sb;
	void __user *argp = (void __user *)arg;

	if (cmd == FAMFSD_IOC_INFO)
		return famfsd_ioc_info(sb, argp);
	switch (cmd) {
	case FAMFSD_IOC_MKDIR:
	case FAMFSD_IOC_CREATE:
	case FAMFSD_IOC_DELETE:
	case FAMFSD_IOC_REVOKE:
	case FAMFSD_IOC_OPEN_INOS:
	case FAMFSD_IOC_SET_USAGE:
	case FAMFSD_IOC_SET_SEQ:
		break;
	default:
		return -ENOTTY;
	}
	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (famfsd_fenced(FAMFSD_SB(sb)))
		return -EIO;
	switch (cmd) {
	case FAMFSD_IOC_MKDIR:
		return famfsd_ioc_mkdir(sb, argp);
	case FAMFSD_IOC_CREATE:
		return famfsd_ioc_create(sb, argp);
	case FAMFSD_IOC_DELETE:
		return famfsd_ioc_delete(sb, argp);
	case FAMFSD_IOC_REVOKE:
		return famfsd_ioc_revoke(sb, argp);
	case FAMFSD_IOC_OPEN_INOS:
		return famfsd_ioc_open_inos(sb, argp);
	case FAMFSD_IOC_SET_USAGE:
		return famfsd_ioc_set_usage(sb, argp);
	default:
		return famfsd_ioc_set_seq(sb, argp);
	}
}
