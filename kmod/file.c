// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd kernel module: file data. Regular files and meta files reach the
 * pool through fs/dax.c only: read()/write() copy through dax_iomap_rw(),
 * mmap() faults install the pool's pages through dax_iomap_fault() (2 MiB
 * PMD entries wherever the extent, the file offset and the address line up),
 * and nothing goes through the page cache.
 *
 * An extent list never changes while an inode lives, so the iomap lookup
 * needs no lock of its own. Revoke (the space was reclaimed) and fencing
 * (a memory failure) flip a bit that iomap_begin checks, then tear down the
 * mappings under the invalidate lock that every fault holds shared, so no
 * fault can install a page after the teardown.
 *
 * Sizes are fixed by the log: truncate and writes past the end are
 * refused; so are attribute changes other than times.
 */
#include <linux/dax.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/huge_mm.h>
#include <linux/iomap.h>
#include <linux/libnvdimm.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/moduleparam.h>
#include <linux/pagemap.h>
#include <linux/pfn_t.h>
#include <linux/uio.h>
#include <linux/writeback.h>

#include "famfsd.h"
#include "media.h"

/* The extent holding file offset pos, or NULL past the last one. */
const struct famfsd_kext *famfsd_find_extent(const struct famfsd_inode *fi,
					     u64 pos)
{
	u32 lo = 0, hi = fi->n_ext;

	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;
		const struct famfsd_kext *e = &fi->ext[mid];

		if (pos < e->foff)
			hi = mid;
		else if (pos - e->foff >= e->len)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

bool famfsd_inode_dead(const struct inode *inode)
{
	return famfsd_fenced(FAMFSD_SB(inode->i_sb)) ||
	       test_bit(FAMFSD_I_REVOKED, &FAMFSD_I(inode)->flags);
}

/**
 * famfsd_iomap_begin() - map a file offset to the pool
 * @inode: a regular or meta file
 * @pos: file offset
 * @length: bytes wanted (the whole extent is returned anyway)
 * @flags: IOMAP_* (IOMAP_WRITE, IOMAP_FAULT, IOMAP_DAX)
 * @iomap: filled with the extent that holds @pos
 * @srcmap: unused (no copy-on-write)
 *
 * For a regular file every reachable offset is inside an extent (i_size
 * never exceeds them); a meta file may be larger than its window, and its
 * offsets past the window are out of reach.
 *
 * Context: process context, from fs/dax.c; i_rwsem or the invalidate lock
 * held by the caller.
 * Return: 0, -EIO when the mount is fenced, the inode revoked or @pos out
 * of reach, -EPERM for a write to a read-only meta file.
 */
static int famfsd_iomap_begin(struct inode *inode, loff_t pos, loff_t length,
			      unsigned int flags, struct iomap *iomap,
			      struct iomap *srcmap)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(inode->i_sb);
	struct famfsd_inode *fi = FAMFSD_I(inode);
	const struct famfsd_kext *e;

	if (famfsd_inode_dead(inode))
		return -EIO;
	if ((flags & IOMAP_WRITE) && fi->kind == FAMFSD_KIND_META &&
	    !READ_ONCE(sbi->meta_rw))
		return -EPERM;
	e = famfsd_find_extent(fi, pos);
	if (!e) {
		WARN_ON_ONCE(fi->kind == FAMFSD_KIND_FILE);
		return -EIO;
	}
	iomap->type = IOMAP_MAPPED;
	iomap->flags = 0;
	iomap->offset = e->foff;
	iomap->length = e->len;
	iomap->addr = sbi->dax_part_off + e->dev_off;
	iomap->bdev = inode->i_sb->s_bdev;
	iomap->dax_dev = sbi->dax_dev;
	return 0;
}

static const struct iomap_ops famfsd_iomap_ops = {
	.iomap_begin	= famfsd_iomap_begin,
};

/* ---- read and write -------------------------------------------------------- */

/* Invalidation works in steps this large, with a chance to reschedule. */
#define FAMFSD_INVAL_STEP	(2UL << 20)

/*
 * Drops this CPU's cached lines of device range [dev, dev + len): on a
 * pool that is not hardware coherent another host may have written newer
 * bytes there since this host last cached them. Dirty lines are written
 * back first (CLFLUSH), so nothing this host wrote is lost.
 */
static int famfsd_invalidate_dev(struct famfsd_sb_info *sbi, u64 dev, u64 len)
{
	while (len) {
		size_t skip = offset_in_page(dev);
		size_t step = min_t(u64, len, FAMFSD_INVAL_STEP - skip);
		void *kaddr;
		long nr;
		int id;

		id = dax_read_lock();
		nr = dax_direct_access(sbi->dax_dev, PHYS_PFN(dev),
				       DIV_ROUND_UP(skip + step, PAGE_SIZE),
				       DAX_ACCESS, &kaddr, NULL);
		if (nr > 0) {
			step = min_t(size_t, step, nr * PAGE_SIZE - skip);
			arch_invalidate_pmem(kaddr + skip, step);
		}
		dax_read_unlock(id);
		if (nr <= 0)
			return nr ? (int)nr : -EIO;
		dev += step;
		len -= step;
		cond_resched();
	}
	return 0;
}

/* The file range [pos, pos + count), clipped to the file, as above. */
static int famfsd_invalidate(struct inode *inode, loff_t pos, size_t count)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(inode->i_sb);
	struct famfsd_inode *fi = FAMFSD_I(inode);
	u64 end = min_t(u64, pos + count, i_size_read(inode));
	u64 p = pos;

	while (p < end) {
		const struct famfsd_kext *e = famfsd_find_extent(fi, p);
		u64 in, n;
		int r;

		if (!e)
			return 0;	/* past a meta file's window: EIO below */
		in = p - e->foff;
		n = min(e->len - in, end - p);
		r = famfsd_invalidate_dev(sbi, sbi->dax_part_off + e->dev_off + in, n);
		if (r)
			return r;
		p += n;
	}
	return 0;
}

/**
 * famfsd_read_iter() - read() from the pool through DAX
 * @iocb: the request
 * @to: the destination
 *
 * On a pool whose superblock does not say it is hardware coherent, the
 * range's cache lines are invalidated first, so a read() sees what another
 * host wrote (and flushed). Loads through a mapping are the application's
 * business, as on a devdax pool.
 *
 * Context: process context; takes i_rwsem shared (dax_iomap_rw asserts it).
 * Return: bytes read, 0 at or past the end, -EAGAIN (IOCB_NOWAIT), -EIO.
 */
static ssize_t famfsd_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	ssize_t ret;

	if (!iov_iter_count(to))
		return 0;
	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!inode_trylock_shared(inode))
			return -EAGAIN;
	} else {
		inode_lock_shared(inode);
	}
	ret = 0;
	/*
	 * At or past the end: 0 here, since iomap_iter() would first ask
	 * iomap_begin for an extent at that offset, and there is none.
	 */
	if (iocb->ki_pos >= i_size_read(inode))
		goto out;
	if (FAMFSD_SB(inode->i_sb)->devdax)
		ret = famfsd_devdax_rw(iocb, to, false);	/* invalidates itself */
	else if (!(FAMFSD_SB(inode->i_sb)->geo.flags & FAMFS_SB_F_COHERENT) &&
		 !famfsd_inode_dead(inode))
		ret = famfsd_invalidate(inode, iocb->ki_pos, iov_iter_count(to));
	if (!ret && !FAMFSD_SB(inode->i_sb)->devdax)
		ret = dax_iomap_rw(iocb, to, &famfsd_iomap_ops);	/* needs i_rwsem */
out:
	inode_unlock_shared(inode);
	file_accessed(iocb->ki_filp);
	return ret;
}

/**
 * famfsd_write_iter() - write() to the pool through DAX
 * @iocb: the request
 * @from: the source
 *
 * Writes stay inside the file: one that starts at or past the end gets
 * -EFBIG (the size belongs to the log), one that crosses it is shortened.
 * No time update either: mtime is the log's, the same on every host. The
 * data reaches the pool with non-temporal stores (the pmem driver's copy).
 *
 * Context: process context; takes i_rwsem exclusive (dax_iomap_rw asserts it).
 * Return: bytes written, -EFBIG, -EAGAIN (IOCB_NOWAIT), -EIO, -EPERM.
 */
static ssize_t famfsd_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	loff_t size;
	ssize_t ret;

	if (iocb->ki_flags & IOCB_NOWAIT) {
		if (!inode_trylock(inode))
			return -EAGAIN;
	} else {
		inode_lock(inode);
	}
	ret = generic_write_checks(iocb, from);
	if (ret <= 0)
		goto out;
	size = i_size_read(inode);
	if (iocb->ki_pos >= size) {
		ret = -EFBIG;
		goto out;
	}
	iov_iter_truncate(from, size - iocb->ki_pos);
	if (FAMFSD_SB(inode->i_sb)->devdax)
		ret = famfsd_devdax_rw(iocb, from, true);
	else
		ret = dax_iomap_rw(iocb, from, &famfsd_iomap_ops);	/* needs i_rwsem */
out:
	inode_unlock(inode);
	if (ret > 0)
		ret = generic_write_sync(iocb, ret);
	return ret;
}

/* ---- mmap ------------------------------------------------------------------ */

enum famfsd_fault_kind { FAMFSD_FAULT_PTE, FAMFSD_FAULT_PMD, FAMFSD_FAULT_MKWRITE };

static void famfsd_count_fault(struct famfsd_sb_info *sbi,
			       enum famfsd_fault_kind kind, vm_fault_t ret)
{
	if (ret & VM_FAULT_ERROR)
		atomic64_inc(&sbi->fault_errors);
	else if (kind == FAMFSD_FAULT_MKWRITE)
		atomic64_inc(&sbi->mkwrite_faults);
	else if (kind == FAMFSD_FAULT_PTE)
		atomic64_inc(&sbi->pte_faults);
	else if (ret & VM_FAULT_FALLBACK)
		atomic64_inc(&sbi->pmd_fallbacks);
	else
		atomic64_inc(&sbi->pmd_faults);
}

/**
 * famfsd_dax_fault() - every page, PMD and write-protect fault
 * @vmf: the fault
 * @pe_size: PE_SIZE_PTE or PE_SIZE_PMD
 * @kind: what to count it as
 *
 * The invalidate lock shared (revoke and fencing take it exclusive),
 * freeze protection for writes, then fs/dax.c does the work: a PMD entry
 * when the extent, the file offset and the address are 2 MiB aligned and
 * the file covers the whole 2 MiB, else VM_FAULT_FALLBACK and page faults.
 * MAP_SYNC needs nothing more: no fault ever changes metadata, so
 * iomap_begin never reports IOMAP_F_DIRTY.
 *
 * Context: page fault, mmap_lock held for read.
 * Return: VM_FAULT_* (VM_FAULT_SIGBUS once revoked or fenced).
 */
static vm_fault_t famfsd_dax_fault(struct vm_fault *vmf,
				   enum page_entry_size pe_size,
				   enum famfsd_fault_kind kind)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct super_block *sb = inode->i_sb;
	bool write = (vmf->flags & FAULT_FLAG_WRITE) &&
		     (vmf->vma->vm_flags & VM_SHARED);
	vm_fault_t ret;
	pfn_t pfn;

	if (write)
		sb_start_pagefault(sb);
	filemap_invalidate_lock_shared(inode->i_mapping);
	if (FAMFSD_SB(sb)->devdax)
		ret = famfsd_devdax_fault(vmf, pe_size);	/* never NEEDDSYNC */
	else
		ret = dax_iomap_fault(vmf, pe_size, &pfn, NULL, &famfsd_iomap_ops);
	filemap_invalidate_unlock_shared(inode->i_mapping);
	if (ret & VM_FAULT_NEEDDSYNC)
		ret = dax_finish_sync_fault(vmf, pe_size, pfn);
	if (write)
		sb_end_pagefault(sb);
	famfsd_count_fault(FAMFSD_SB(sb), kind, ret);
	return ret;
}

static vm_fault_t famfsd_fault(struct vm_fault *vmf)
{
	return famfsd_dax_fault(vmf, PE_SIZE_PTE, FAMFSD_FAULT_PTE);
}

static vm_fault_t famfsd_huge_fault(struct vm_fault *vmf,
				    enum page_entry_size pe_size)
{
	if (pe_size != PE_SIZE_PMD)
		return VM_FAULT_FALLBACK;
	return famfsd_dax_fault(vmf, pe_size, FAMFSD_FAULT_PMD);
}

static vm_fault_t famfsd_mkwrite(struct vm_fault *vmf)
{
	return famfsd_dax_fault(vmf, PE_SIZE_PTE, FAMFSD_FAULT_MKWRITE);
}

static const struct vm_operations_struct famfsd_vm_ops = {
	.fault		= famfsd_fault,
	.huge_fault	= famfsd_huge_fault,
	.page_mkwrite	= famfsd_mkwrite,
	.pfn_mkwrite	= famfsd_mkwrite,
};

/**
 * famfsd_mmap() - map a file: DAX faults only, PMD-sized where aligned
 * @file: the file
 * @vma: the new mapping (its address already 2 MiB aligned by
 *       thp_get_unmapped_area when it is large enough)
 *
 * Context: process context, mmap_lock held for write.
 * Return: 0, -EIO (revoked or fenced), -ENODEV (.famfsd/super or log: map
 * .famfsd/pool), -EOPNOTSUPP (MAP_SYNC on a device that cannot honour it).
 */
static int famfsd_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(file_inode(file)->i_sb);

	if (famfsd_inode_dead(file_inode(file)))
		return -EIO;
	/*
	 * .famfsd/pool maps all the metadata; super and log are windows onto
	 * the same bytes for read() and write() only: mapped too, one pool
	 * page would go into two inodes' mappings.
	 */
	if (FAMFSD_I(file_inode(file))->kind == FAMFSD_KIND_META &&
	    file_inode(file)->i_ino != FAMFSD_INO_META_POOL)
		return -ENODEV;
	if (!daxdev_mapping_supported(vma, sbi->dax_dev))
		return -EOPNOTSUPP;
	file_accessed(file);
	vma->vm_ops = &famfsd_vm_ops;
	vma->vm_flags |= VM_HUGEPAGE;
	return 0;
}

/* ---- open, release, fsync -------------------------------------------------- */

/*
 * Test only (off by default): an open of a regular file sleeps this long
 * after its name was resolved, so a VM test can put a DELETE and an
 * open-inode listing inside that window (docs/kmod.md, "Test knobs").
 */
static unsigned int famfsd_test_open_delay_ms;
module_param_named(test_open_delay_ms, famfsd_test_open_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_open_delay_ms,
		 "test only: delay opens of regular files by this many ms (0: off)");

/**
 * famfsd_open() - open a regular or meta file
 * @inode: the file
 * @file: the new open file
 *
 * Counts the open files of an inode; a mapping keeps its file, so a mapped
 * file counts as open until it is unmapped. The agent reports these to the
 * master, which reclaims no space that any host still uses. An open whose
 * lookup found the name before a DELETE may get here after it: it counts
 * itself under i_lock, and fails if the DELETE marked the inode first
 * (famfsd_mark_deleted() in namespace.c gives the whole argument).
 *
 * Context: process context; takes i_lock.
 * Return: 0, -EIO (revoked or fenced), -ENOENT (deleted meanwhile),
 * -EPERM (a meta file opened for writing without meta_rw), or
 * generic_file_open()'s error.
 */
static int famfsd_open(struct inode *inode, struct file *file)
{
	struct famfsd_inode *fi = FAMFSD_I(inode);
	int r;

	if (fi->kind == FAMFSD_KIND_FILE && READ_ONCE(famfsd_test_open_delay_ms))
		msleep(READ_ONCE(famfsd_test_open_delay_ms));
	if (famfsd_inode_dead(inode))
		return -EIO;
	if (fi->kind == FAMFSD_KIND_META && (file->f_mode & FMODE_WRITE) &&
	    !READ_ONCE(FAMFSD_SB(inode->i_sb)->meta_rw))
		return -EPERM;
	r = generic_file_open(inode, file);
	if (r)
		return r;
	spin_lock(&inode->i_lock);
	if (test_bit(FAMFSD_I_DELETED, &fi->flags))
		r = -ENOENT;
	else
		atomic_inc(&fi->opens);
	spin_unlock(&inode->i_lock);
	return r;
}

static int famfsd_release(struct inode *inode, struct file *file)
{
	atomic_dec(&FAMFSD_I(inode)->opens);
	return 0;
}

/* Writes CPU caches back for the pages dirtied through mappings. */
static int famfsd_fsync(struct file *file, loff_t start, loff_t end,
			int datasync)
{
	if (famfsd_inode_dead(file_inode(file)))
		return -EIO;
	if (FAMFSD_SB(file_inode(file)->i_sb)->devdax)
		return famfsd_devdax_sync(file_inode(file), start, end);
	return file_write_and_wait_range(file, start, end);
}

const struct file_operations famfsd_file_fops = {
	.open			= famfsd_open,
	.release		= famfsd_release,
	.llseek			= generic_file_llseek,
	.read_iter		= famfsd_read_iter,
	.write_iter		= famfsd_write_iter,
	.splice_read		= generic_file_splice_read,
	.mmap			= famfsd_mmap,
	.mmap_supported_flags	= MAP_SYNC,
	.get_unmapped_area	= thp_get_unmapped_area,
	.fsync			= famfsd_fsync,
	.unlocked_ioctl		= famfsd_ioctl,
	.compat_ioctl		= compat_ptr_ioctl,
};

/* ---- attributes -------------------------------------------------------------- */

/* utimensat(): ATTR_TOUCH for "now", ATTR_TIMES_SET with explicit times. */
#define FAMFSD_TIME_ATTRS (ATTR_ATIME | ATTR_MTIME | ATTR_CTIME | \
			   ATTR_ATIME_SET | ATTR_MTIME_SET | ATTR_TOUCH | \
			   ATTR_TIMES_SET)

/**
 * famfsd_setattr() - attribute changes through the mount
 * @mnt_userns: idmapping of the mount
 * @dentry: what is changed
 * @iattr: the change
 *
 * The log owns sizes, modes and owners: only times may change locally.
 *
 * Context: process context, the inode locked by the VFS.
 * Return: 0, -EPERM for a change the log owns, or the permission error.
 */
int famfsd_setattr(struct user_namespace *mnt_userns, struct dentry *dentry,
		   struct iattr *iattr)
{
	struct inode *inode = d_inode(dentry);
	int r;

	if (iattr->ia_valid & ~(FAMFSD_TIME_ATTRS | ATTR_FORCE))
		return -EPERM;
	r = setattr_prepare(mnt_userns, dentry, iattr);
	if (r)
		return r;
	setattr_copy(mnt_userns, inode, iattr);
	return 0;
}

const struct inode_operations famfsd_file_iops = {
	.setattr	= famfsd_setattr,
	.getattr	= simple_getattr,
};

/* ---- the address space: DAX only ------------------------------------------- */

static int famfsd_writepages(struct address_space *mapping,
			     struct writeback_control *wbc)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(mapping->host->i_sb);

	return dax_writeback_mapping_range(mapping, sbi->dax_dev, wbc);
}

const struct address_space_operations famfsd_dax_aops = {
	.writepages	= famfsd_writepages,
	.direct_IO	= noop_direct_IO,
	.dirty_folio	= noop_dirty_folio,
};

/**
 * famfsd_zap_mappings() - tear down every mapping of an inode's pages
 * @inode: a regular or meta file whose revoked or fenced bit is set
 *
 * Later faults see the bit and fail with SIGBUS.
 *
 * Context: process context, may sleep; takes the invalidate lock.
 */
void famfsd_zap_mappings(struct inode *inode)
{
	filemap_invalidate_lock(inode->i_mapping);
	unmap_mapping_range(inode->i_mapping, 0, 0, 1);
	filemap_invalidate_unlock(inode->i_mapping);
}

/**
 * famfsd_drop_mappings() - tear down every mapping and every DAX entry
 * @inode: a regular or meta file whose revoked or fenced bit is set
 *
 * Besides the page tables, a fault leaves a DAX entry in i_pages that ties
 * the pool page to this inode (page->mapping). The entries must go before
 * the pages can serve anyone else: another inode mapping the same bytes
 * would WARN in dax_insert_entry, and after the device is removed evict
 * would reach the freed pages. Both steps run under the invalidate lock,
 * so no fault can add an entry in between; the bit makes later faults fail.
 * Pages pinned by get_user_pages are not waited for (see docs/kmod.md).
 *
 * Context: process context, may sleep; takes the invalidate lock.
 */
void famfsd_drop_mappings(struct inode *inode)
{
	struct address_space *mapping = inode->i_mapping;

	filemap_invalidate_lock(mapping);
	unmap_mapping_range(mapping, 0, 0, 1);
	truncate_inode_pages(mapping, 0);	/* dax_delete_mapping_entry() */
	filemap_invalidate_unlock(mapping);
}
