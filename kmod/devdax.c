// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd kernel module: a pool on a device-dax (/dev/daxX.Y).
 *
 * Linux 6.1 gives a character devdax no dax_operations, so fs/dax.c cannot
 * serve it. This file serves such a mount itself:
 *
 * - the mount holds the device file (filp_open) and finds its physical
 *   ranges in the driver's private struct dev_dax, whose 6.1 layout is
 *   copied below and checked against every public fact the kernel offers
 *   before it is trusted (famfsd_dd_check); any mismatch refuses the mount
 *   with one line;
 * - read()/write() copy through the kernel's direct map of the device
 *   (_copy_mc_to_iter, poison-safe; _copy_from_iter_flushcache), inside
 *   dax_read_lock() with dax_alive() checked, so an unbind waits for them;
 * - faults insert the device's pfns (PFN_DEV | PFN_MAP: ZONE_DEVICE pages
 *   with struct pages) with vmf_insert_pfn_pmd_prot() where the extent, the
 *   file offset, the address and the physical address are 2 MiB aligned,
 *   vmf_insert_mixed() otherwise, for any extent layout;
 * - a notifier on the dax bus fences the mount when the device is unbound
 *   or removed, before its driver tears the memory down;
 * - a memory failure in the device reaches famfsd_dd_memory_failure()
 *   through the device's dev_pagemap (ops installed at mount: devdax sets
 *   none on 6.1), which fences the mount, signals the process that hit it
 *   and tells the kernel the page is handled.
 */
#include <linux/dax.h>
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/huge_mm.h>
#include <linux/idr.h>
#include <linux/io.h>
#include <linux/libnvdimm.h>
#include <linux/magic.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mmap_lock.h>
#include <linux/mutex.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/pfn_t.h>
#include <linux/range.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>
#include <linux/version.h>

#include "famfsd.h"
#include "media.h"

/*
 * Exported by drivers/dax/super.c but declared only in its private header:
 * the dax_device behind a devdax character device inode, and back.
 */
struct dax_device *inode_dax(struct inode *inode);
struct inode *dax_inode(struct dax_device *dax_dev);

/*
 * The head of struct dev_dax of drivers/dax/dax-private.h, Linux 6.1 (it
 * changed in 5.10 and again after 6.1). Only read, only while the device
 * is bound and its lock held, and only after the checks of famfsd_dd_check.
 */
struct famfsd_61_dev_dax_range {
	unsigned long pgoff;		/* first page of this range in the device */
	struct range range;		/* physical addresses, end inclusive */
	void *mapping;
};

struct famfsd_61_dev_dax {
	void *region;
	struct dax_device *dax_dev;
	unsigned int align;
	int target_node;
	int id;
	struct ida ida;
	struct device dev;
	struct dev_pagemap *pgmap;
	int nr_range;
	struct famfsd_61_dev_dax_range *ranges;
};

/* One physical range of the device, from device offset dev_off on. */
struct famfsd_dd_range {
	u64 dev_off;
	phys_addr_t phys;
	u64 len;
};

#define FAMFSD_DD_MAX_RANGES	64

/*
 * A held devdax. Created by get_tree, owned by the superblock from
 * famfsd_devdax_attach() on; listed (famfsd_dd_list) while a superblock
 * serves it, so the bus notifier and the memory-failure hook find it.
 */
struct famfsd_devdax {
	struct file *file;		/* /dev/daxX.Y, open read-write */
	struct dax_device *dax_dev;
	struct device *dev;		/* the dev_dax's device (bus "dax") */
	struct dev_pagemap *pgmap;	/* the driver's; valid while bound */
	u64 size;			/* bytes: sum of the ranges */
	u32 nr_range;
	struct famfsd_dd_range ranges[FAMFSD_DD_MAX_RANGES];
	char name[32];			/* dax0.0 */

	/* protected by famfsd_dd_lock */
	struct super_block *sb;		/* the mount, while listed */
	struct list_head node;
	bool listed;
	bool ops_installed;		/* pgmap->ops is famfsd_dd_pgmap_ops */
	bool gone;			/* unbound or removed: fenced for good */
};

/*
 * Lock order: device_lock (the bus notifier runs under it) -> the bus's
 * notifier chain -> famfsd_dd_lock -> what fencing takes (invalidate
 * locks); memory_failure()'s mf_mutex -> famfsd_dd_lock -> mmap_lock.
 * famfsd_dd_bus_lock only serialises registering the notifier.
 */
static DEFINE_MUTEX(famfsd_dd_lock);
static DEFINE_MUTEX(famfsd_dd_bus_lock);
static LIST_HEAD(famfsd_dd_list);
static struct bus_type *famfsd_dd_bus;	/* notifier registered on it */

#define famfsd_dd_refuse(fc, fmt, ...)					\
({									\
	pr_err("famfsd: mount of %s refused: " fmt "\n",		\
	       (fc)->source ? (fc)->source : "?", ##__VA_ARGS__);	\
	-EINVAL;							\
})

/* ---- the device's memory ------------------------------------------------ */

/*
 * Physical address of device range [off, off + *len): *len is clipped to
 * what is contiguous there. Returns 0 when off is outside the device.
 */
static phys_addr_t famfsd_dd_phys(const struct famfsd_devdax *dd, u64 off,
				  u64 *len)
{
	u32 i;

	for (i = 0; i < dd->nr_range; i++) {
		const struct famfsd_dd_range *r = &dd->ranges[i];

		if (off >= r->dev_off && off - r->dev_off < r->len) {
			*len = min(*len, r->len - (off - r->dev_off));
			return r->phys + (off - r->dev_off);
		}
	}
	return 0;
}

/* The device offset of physical address phys, or U64_MAX. */
static u64 famfsd_dd_offset_of(const struct famfsd_devdax *dd, phys_addr_t phys)
{
	u32 i;

	for (i = 0; i < dd->nr_range; i++) {
		const struct famfsd_dd_range *r = &dd->ranges[i];

		if (phys >= r->phys && phys - r->phys < r->len)
			return r->dev_off + (phys - r->phys);
	}
	return U64_MAX;
}

/* Any page of [phys, phys + len) marked by a memory failure? */
static bool famfsd_dd_poisoned(phys_addr_t phys, u64 len)
{
	unsigned long pfn = PHYS_PFN(phys), end = PHYS_PFN(phys + len - 1);

	for (; pfn <= end; pfn++)
		if (PageHWPoison(pfn_to_page(pfn)))
			return true;
	return false;
}

/**
 * famfsd_devdax_read_media() - copy device bytes into a kernel buffer
 * @dd: the device
 * @off: device offset
 * @len: bytes (within one range)
 * @buf: destination
 *
 * Context: process context.
 * Return: 0, or -EIO (outside the device, device gone, poison).
 */
int famfsd_devdax_read_media(struct famfsd_devdax *dd, u64 off, void *buf,
			     size_t len)
{
	u64 n = len;
	phys_addr_t phys = famfsd_dd_phys(dd, off, &n);
	unsigned long rem = len;
	int id;

	if (!phys || n < len)
		return -EIO;
	id = dax_read_lock();
	if (dax_alive(dd->dax_dev))
		rem = copy_mc_to_kernel(buf, phys_to_virt(phys), len);
	dax_read_unlock(id);
	return rem ? -EIO : 0;
}

/* ---- read(), write(), fsync() ------------------------------------------- */

/* Copies go in pieces this large, with a chance to reschedule between. */
#define FAMFSD_DD_STEP	(2UL << 20)

/**
 * famfsd_devdax_rw() - read() or write() of a file on a devdax mount
 * @iocb: the request (ki_pos advanced by what was copied)
 * @iter: the user's buffer, already clipped to the file by write_iter
 * @write: direction
 *
 * Each piece is copied inside dax_read_lock() with the device alive and
 * the mount neither fenced nor the inode revoked, so an unbind (kill_dax
 * waits for the lock's readers) never finds a copy in flight. Reads of a
 * pool that is not hardware coherent invalidate the piece first.
 *
 * Context: process context, i_rwsem held (shared for reads).
 * Return: bytes copied, or -EIO (fenced, revoked, gone, out of reach),
 * -EPERM (a read-only meta file), -EFAULT (nothing copied).
 */
ssize_t famfsd_devdax_rw(struct kiocb *iocb, struct iov_iter *iter, bool write)
{
	struct inode *inode = file_inode(iocb->ki_filp);
	struct famfsd_sb_info *sbi = FAMFSD_SB(inode->i_sb);
	struct famfsd_inode *fi = FAMFSD_I(inode);
	struct famfsd_devdax *dd = sbi->devdax;
	bool coherent = sbi->geo.flags & FAMFS_SB_F_COHERENT;
	loff_t pos = iocb->ki_pos, size = i_size_read(inode);
	ssize_t done = 0;
	int err = 0;

	if (write && fi->kind == FAMFSD_KIND_META && !sbi->meta_rw)
		return -EPERM;
	if (pos >= size)
		return write ? -EFBIG : 0;
	iov_iter_truncate(iter, size - pos);
	while (iov_iter_count(iter)) {
		const struct famfsd_kext *e = famfsd_find_extent(fi, pos);
		u64 dev, n, got = 0;
		phys_addr_t phys;
		void *kaddr;
		int id;

		if (!e) {
			err = -EIO;	/* past a meta file's window */
			break;
		}
		dev = e->dev_off + (pos - e->foff);
		n = min_t(u64, e->len - (pos - e->foff), iov_iter_count(iter));
		n = min_t(u64, n, FAMFSD_DD_STEP - (dev & (FAMFSD_DD_STEP - 1)));
		id = dax_read_lock();
		phys = famfsd_dd_phys(dd, dev, &n);
		if (famfsd_inode_dead(inode) || !dax_alive(dd->dax_dev) || !phys) {
			err = -EIO;
		} else {
			kaddr = phys_to_virt(phys);
			if (write) {
				got = _copy_from_iter_flushcache(kaddr, n, iter);
			} else {
				if (!coherent)
					arch_invalidate_pmem(kaddr, n);
				got = _copy_mc_to_iter(kaddr, n, iter);
			}
		}
		dax_read_unlock(id);
		if (err)
			break;
		pos += got;
		done += got;
		if (got < n) {
			err = -EFAULT;
			break;
		}
		if (fatal_signal_pending(current))
			break;
		cond_resched();
	}
	iocb->ki_pos = pos;
	return done ? done : err;
}

/**
 * famfsd_devdax_sync() - fsync()/msync(): write the file's cache lines back
 * @inode: a file of a devdax mount
 * @start: first byte
 * @end: last byte (inclusive, LLONG_MAX for all)
 *
 * Stores through a mapping stay in this CPU's cache; no DAX entries track
 * which pages were dirtied here, so the whole range is written back.
 *
 * Context: process context, may sleep.
 * Return: 0 or -EIO (fenced, revoked, device gone).
 */
int famfsd_devdax_sync(struct inode *inode, loff_t start, loff_t end)
{
	struct famfsd_inode *fi = FAMFSD_I(inode);
	struct famfsd_devdax *dd = FAMFSD_SB(inode->i_sb)->devdax;
	u64 pos = start, last = min_t(u64, end, i_size_read(inode) - 1);

	while (i_size_read(inode) && pos <= last) {
		const struct famfsd_kext *e = famfsd_find_extent(fi, pos);
		u64 dev, n;
		phys_addr_t phys;
		int id, r = 0;

		if (!e)
			return 0;	/* past a meta file's window */
		dev = e->dev_off + (pos - e->foff);
		n = min_t(u64, e->len - (pos - e->foff), last - pos + 1);
		n = min_t(u64, n, FAMFSD_DD_STEP - (dev & (FAMFSD_DD_STEP - 1)));
		id = dax_read_lock();
		phys = famfsd_dd_phys(dd, dev, &n);
		if (famfsd_inode_dead(inode) || !dax_alive(dd->dax_dev) || !phys)
			r = -EIO;
		else
			arch_wb_cache_pmem(phys_to_virt(phys), n);
		dax_read_unlock(id);
		if (r)
			return r;
		pos += n;
		cond_resched();
	}
	return 0;
}

/* ---- faults --------------------------------------------------------------- */

/*
 * Where a PMD fault at the 2 MiB-aligned address addr can be served from:
 * the file offset, the extent, the device and physical addresses all 2 MiB
 * aligned, the whole 2 MiB inside the VMA, the extent and the file.
 * Returns the physical address, or 0 for "fall back to pages".
 */
static phys_addr_t famfsd_dd_pmd_phys(struct vm_fault *vmf,
				      const struct famfsd_inode *fi,
				      struct famfsd_devdax *dd)
{
	struct vm_area_struct *vma = vmf->vma;
	unsigned long addr = vmf->address & PMD_MASK;
	u64 foff, dev, n = PMD_SIZE;
	const struct famfsd_kext *e;
	phys_addr_t phys;

	if (addr < vma->vm_start || addr + PMD_SIZE > vma->vm_end)
		return 0;
	foff = ((u64)linear_page_index(vma, addr)) << PAGE_SHIFT;
	if (foff & (PMD_SIZE - 1) ||
	    foff + PMD_SIZE > round_up(i_size_read(&fi->vfs), PAGE_SIZE))
		return 0;
	e = famfsd_find_extent(fi, foff);
	if (!e || foff - e->foff + PMD_SIZE > e->len)
		return 0;
	dev = e->dev_off + (foff - e->foff);
	phys = famfsd_dd_phys(dd, dev, &n);
	if (!phys || n < PMD_SIZE || (phys & (PMD_SIZE - 1)) ||
	    famfsd_dd_poisoned(phys, PMD_SIZE))
		return 0;
	return phys;
}

/**
 * famfsd_devdax_fault() - a page or PMD fault on a devdax mount
 * @vmf: the fault
 * @pe_size: PE_SIZE_PTE or PE_SIZE_PMD
 *
 * Inserts the device's pfn (a ZONE_DEVICE page of the devdax's pgmap,
 * PFN_DEV | PFN_MAP) under dax_read_lock() with the device alive; the
 * caller holds the invalidate lock shared, which fencing and revoke take
 * exclusive before they zap, so nothing is inserted after a teardown.
 * A private mapping never gets a writable pool page (its writes copy).
 *
 * Context: page fault, mmap_lock held for read, the invalidate lock shared.
 * Return: VM_FAULT_NOPAGE, VM_FAULT_FALLBACK (PMD not possible here),
 * VM_FAULT_HWPOISON (a page marked by a memory failure), VM_FAULT_SIGBUS.
 */
vm_fault_t famfsd_devdax_fault(struct vm_fault *vmf, enum page_entry_size pe_size)
{
	struct inode *inode = file_inode(vmf->vma->vm_file);
	struct famfsd_sb_info *sbi = FAMFSD_SB(inode->i_sb);
	struct famfsd_inode *fi = FAMFSD_I(inode);
	struct famfsd_devdax *dd = sbi->devdax;
	/*
	 * A write to a private mapping gets the pool page read-only: the
	 * write then takes a write-protect fault, which copies it (COW).
	 */
	bool private_write = (vmf->flags & FAULT_FLAG_WRITE) &&
			     !(vmf->vma->vm_flags & VM_SHARED);
	bool write = (vmf->flags & FAULT_FLAG_WRITE) && !private_write;
	const struct famfsd_kext *e;
	vm_fault_t ret;
	phys_addr_t phys;
	u64 pos, n = PAGE_SIZE;
	int id;

	if (famfsd_inode_dead(inode))
		return VM_FAULT_SIGBUS;
	if (write && fi->kind == FAMFSD_KIND_META && !sbi->meta_rw)
		return VM_FAULT_SIGBUS;
	id = dax_read_lock();
	if (!dax_alive(dd->dax_dev)) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}
	if (pe_size == PE_SIZE_PMD) {
		phys = private_write ? 0 : famfsd_dd_pmd_phys(vmf, fi, dd);
		ret = phys ? vmf_insert_pfn_pmd_prot(vmf,
				phys_to_pfn_t(phys, PFN_DEV | PFN_MAP),
				vmf->vma->vm_page_prot, write) : VM_FAULT_FALLBACK;
		goto out;
	}
	pos = (u64)vmf->pgoff << PAGE_SHIFT;
	e = pos < i_size_read(inode) ? famfsd_find_extent(fi, pos) : NULL;
	phys = e ? famfsd_dd_phys(dd, e->dev_off + (pos - e->foff), &n) : 0;
	if (!phys) {
		ret = VM_FAULT_SIGBUS;	/* past the file or a meta window */
	} else if (PageHWPoison(pfn_to_page(PHYS_PFN(phys)))) {
		ret = VM_FAULT_HWPOISON;
	} else {
		pfn_t pfn = phys_to_pfn_t(phys, PFN_DEV | PFN_MAP);

		ret = write ? vmf_insert_mixed_mkwrite(vmf->vma, vmf->address, pfn) :
			      vmf_insert_mixed(vmf->vma, vmf->address, pfn);
	}
out:
	dax_read_unlock(id);
	return ret;
}

/* ---- fencing -------------------------------------------------------------- */

/* Fences dd's mount (once) and zaps every mapping. famfsd_dd_lock held. */
static void famfsd_dd_fence(struct famfsd_devdax *dd, const char *why)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(dd->sb);

	if (!test_and_set_bit(FAMFSD_SB_FENCED, &sbi->state))
		pr_err("famfsd %s: %s: mount fenced, every access now fails; unmount, check the pool, mount again\n",
		       dd->name, why);
	famfsd_ns_zap_all(dd->sb);
}

/* Gives the pgmap back its own (empty) ops. famfsd_dd_lock held. */
static void famfsd_dd_uninstall(struct famfsd_devdax *dd)
{
	if (dd->ops_installed) {
		WRITE_ONCE(dd->pgmap->ops, NULL);
		dd->ops_installed = false;
	}
}

/*
 * The dax bus: an unbind (echo daxX.Y > .../device_dax/unbind) or a removal
 * of a device a mount holds. Called before the driver's teardown (which
 * kill_dax()es the device, then frees its pages), with the device locked:
 * fence the mount and zap its mappings now, while the pages still exist.
 */
static int famfsd_dd_bus_event(struct notifier_block *nb, unsigned long action,
			       void *data)
{
	struct device *dev = data;
	struct famfsd_devdax *dd;

	if (action != BUS_NOTIFY_UNBIND_DRIVER && action != BUS_NOTIFY_DEL_DEVICE)
		return NOTIFY_DONE;
	mutex_lock(&famfsd_dd_lock);
	list_for_each_entry(dd, &famfsd_dd_list, node) {
		if (dd->dev != dev || dd->gone)
			continue;
		dd->gone = true;
		famfsd_dd_uninstall(dd);	/* the pgmap is freed next */
		famfsd_dd_fence(dd, action == BUS_NOTIFY_UNBIND_DRIVER ?
				"the device is being unbound from its driver" :
				"the device is being removed");
	}
	mutex_unlock(&famfsd_dd_lock);
	return NOTIFY_OK;
}

static struct notifier_block famfsd_dd_bus_nb = {
	.notifier_call = famfsd_dd_bus_event,
};

/*
 * Sends SIGBUS to the current task if it maps device offset off through a
 * file of sb: the task that consumed the error (a machine check), or that
 * injected it (madvise). Returns the user address signalled, or 0. Other
 * tasks mapping the page get SIGBUS when they next touch it (late kill, as
 * the kernel's default policy): the fence zapped their mappings.
 */
static unsigned long famfsd_dd_signal_current(struct super_block *sb, u64 off,
					      int mf_flags)
{
	struct mm_struct *mm = current->mm;
	struct vm_area_struct *vma;
	unsigned long addr = 0;

	if (!mm || (current->flags & PF_KTHREAD))
		return 0;
	mmap_read_lock(mm);
	{
		VMA_ITERATOR(vmi, mm, 0);

		for_each_vma(vmi, vma) {
			struct inode *inode;
			struct famfsd_inode *fi;
			u32 i;

			if (!vma->vm_file || file_inode(vma->vm_file)->i_sb != sb)
				continue;
			inode = file_inode(vma->vm_file);
			fi = FAMFSD_I(inode);
			if (fi->kind != FAMFSD_KIND_FILE && fi->kind != FAMFSD_KIND_META)
				continue;
			for (i = 0; i < fi->n_ext && !addr; i++) {
				const struct famfsd_kext *e = &fi->ext[i];
				u64 pg;

				if (off < e->dev_off || off - e->dev_off >= e->len)
					continue;
				pg = (e->foff + (off - e->dev_off)) >> PAGE_SHIFT;
				if (pg >= vma->vm_pgoff && pg - vma->vm_pgoff < vma_pages(vma))
					addr = vma->vm_start +
					       ((pg - vma->vm_pgoff) << PAGE_SHIFT);
			}
			if (addr)
				break;
		}
	}
	mmap_read_unlock(mm);
	if (addr)
		send_sig_mceerr(mf_flags & MF_ACTION_REQUIRED ? BUS_MCEERR_AR :
				BUS_MCEERR_AO, (void __user *)addr, PAGE_SHIFT,
				current);
	return addr;
}

/**
 * famfsd_dd_memory_failure() - a memory error in a mounted devdax
 * @pgmap: the devdax's dev_pagemap
 * @pfn: first failed page
 * @nr_pages: how many
 * @mf_flags: MF_* flags of memory_failure()
 *
 * The kernel's generic handler finds the processes to signal through
 * page->mapping, which only devdax's own faults set (to the device
 * inode): the module's mappings are not in that rmap, so it would signal
 * nobody. Here: fence the mount (one pr_err line, every mapping zapped,
 * every later access EIO or SIGBUS), SIGBUS to the current task if it maps
 * the page, then mark the pages poisoned (later faults on a new mount get
 * VM_FAULT_HWPOISON). A page that was also mapped through /dev/daxX.Y
 * itself (page->mapping set) is left to the generic handler as well, so
 * those mappers are signalled too.
 *
 * Context: process context, memory_failure()'s mf_mutex held.
 * Return: 0 (handled), or -EOPNOTSUPP (not ours, or also the generic
 * handler's).
 */
static int famfsd_dd_memory_failure(struct dev_pagemap *pgmap,
				    unsigned long pfn, unsigned long nr_pages,
				    int mf_flags)
{
	struct famfsd_devdax *dd;
	int r = -EOPNOTSUPP;
	unsigned long i;

	mutex_lock(&famfsd_dd_lock);
	list_for_each_entry(dd, &famfsd_dd_list, node) {
		u64 off;
		unsigned long addr;
		char why[128];
		bool chardev_mapped = false;

		if (dd->pgmap != pgmap || dd->gone)
			continue;
		off = famfsd_dd_offset_of(dd, PFN_PHYS(pfn));
		snprintf(why, sizeof(why),
			 "memory failure at device offset %lld (%lu pages)",
			 off == U64_MAX ? -1LL : (long long)off, nr_pages);
		famfsd_dd_fence(dd, why);
		addr = off == U64_MAX ? 0 :
		       famfsd_dd_signal_current(dd->sb, off, mf_flags);
		if (addr)
			pr_err("famfsd %s: SIGBUS sent to %s[%d], which maps the failed page at %#lx\n",
			       dd->name, current->comm, task_pid_nr(current), addr);
		/*
		 * 6.1's generic handler reads page->mapping of the very page:
		 * only a head (or order-0) page has a real one, so only then
		 * may it run (a tail's is TAIL_MAPPING).
		 */
		for (i = 0; i < nr_pages; i++) {
			struct page *page = pfn_to_page(pfn + i);

			if (!PageTail(page) && READ_ONCE(page->mapping))
				chardev_mapped = true;
		}
		if (!chardev_mapped)
			for (i = 0; i < nr_pages; i++)
				SetPageHWPoison(pfn_to_page(pfn + i));
		r = chardev_mapped ? -EOPNOTSUPP : 0;
		break;
	}
	mutex_unlock(&famfsd_dd_lock);
	return r;
}

static const struct dev_pagemap_ops famfsd_dd_pgmap_ops = {
	.memory_failure = famfsd_dd_memory_failure,
};

/* ---- opening and checking the device --------------------------------------- */


#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 1, 0) && \
	LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
#define FAMFSD_DD_LAYOUT_KNOWN 1
#else
#define FAMFSD_DD_LAYOUT_KNOWN 0
#endif

/* The dev_pagemap's i-th range (a single range sits in the union's range). */
static const struct range *famfsd_dd_pgmap_range(const struct dev_pagemap *p,
						 int i)
{
	return p->nr_range == 1 ? &p->range : &p->ranges[i];
}

/* Is physical address phys a ZONE_DEVICE page of pgmap? */
static bool famfsd_dd_page_ok(phys_addr_t phys, const struct dev_pagemap *pgmap)
{
	unsigned long pfn = PHYS_PFN(phys);
	struct page *page;

	if (!pfn_valid(pfn))
		return false;
	page = pfn_to_page(pfn);
	/* a tail page's pgmap field holds its compound head */
	return is_zone_device_page(page) && compound_head(page)->pgmap == pgmap;
}

/*
 * Checks that the dev_dax found through the copied layout is really the
 * device the file opened, bound and alive, and copies its ranges into dd.
 * Every fact it uses is cross-checked against one the kernel publishes:
 * the file's private data, the char device number, the bus and driver
 * names, the dev_pagemap's own copy of the ranges and type, and the
 * struct page of every 2 MiB step. Returns 0 or -EINVAL (logged).
 */
static int famfsd_dd_check(struct fs_context *fc, struct famfsd_devdax *dd)
{
	struct famfsd_61_dev_dax *ddx = dax_get_private(dd->dax_dev);
	struct inode *host = dax_inode(dd->dax_dev);
	struct dev_pagemap *pgmap;
	u64 total = 0;
	int i, r = 0;

	if (!ddx || ddx != dd->file->private_data || ddx->dax_dev != dd->dax_dev)
		return famfsd_dd_refuse(fc, "the device's private data does not match the Linux 6.1 struct dev_dax layout this module knows");
	if (ddx->dev.devt != host->i_rdev ||
	    ddx->dev.devt != file_inode(dd->file)->i_rdev ||
	    !ddx->dev.bus || strcmp(ddx->dev.bus->name, "dax"))
		return famfsd_dd_refuse(fc, "struct dev_dax layout mismatch (device number or bus)");
	dd->dev = &ddx->dev;
	strscpy(dd->name, dev_name(dd->dev), sizeof(dd->name));

	device_lock(dd->dev);
	if (!dd->dev->driver || strcmp(dd->dev->driver->name, "device_dax") ||
	    !dax_alive(dd->dax_dev)) {
		r = famfsd_dd_refuse(fc, "%s is not bound to device_dax (unbound, or in system-ram/kmem mode)",
				     dd->name);
		goto out;
	}
	pgmap = ddx->pgmap;
	if (!pgmap || pgmap->type != MEMORY_DEVICE_GENERIC ||
	    ddx->nr_range < 1 || ddx->nr_range > FAMFSD_DD_MAX_RANGES ||
	    pgmap->nr_range != ddx->nr_range) {
		r = famfsd_dd_refuse(fc, "%s: struct dev_dax layout mismatch (pgmap type or range count)",
				     dd->name);
		goto out;
	}
	if (pgmap->ops && pgmap->ops != &famfsd_dd_pgmap_ops) {	/* ours: mounted */
		r = famfsd_dd_refuse(fc, "%s: its dev_pagemap has operations already (another user?), memory failures could not be handled",
				     dd->name);
		goto out;
	}
	for (i = 0; i < ddx->nr_range; i++) {
		const struct famfsd_61_dev_dax_range *dr = &ddx->ranges[i];
		const struct range *pr = famfsd_dd_pgmap_range(pgmap, i);
		u64 len = range_len(&dr->range), at;

		/* an nvdimm's pgmap also covers the namespace's info block */
		if (dr->range.start < pr->start || dr->range.end > pr->end ||
		    dr->range.end < dr->range.start ||
		    ((u64)dr->pgoff << PAGE_SHIFT) != total ||
		    !PAGE_ALIGNED(dr->range.start) || !PAGE_ALIGNED(len)) {
			r = famfsd_dd_refuse(fc, "%s: range %d is not inside its dev_pagemap or not contiguous",
					     dd->name, i);
			goto out;
		}
		for (at = 0; at < len; at += PMD_SIZE) {
			if (!famfsd_dd_page_ok(dr->range.start + at, pgmap) ||
			    !famfsd_dd_page_ok(dr->range.start +
					       min_t(u64, at + PMD_SIZE, len) - PAGE_SIZE,
					       pgmap)) {
				r = famfsd_dd_refuse(fc, "%s: offset %llu of range %d is not a page of the device's dev_pagemap",
						     dd->name, at, i);
				goto out;
			}
		}
		dd->ranges[i] = (struct famfsd_dd_range){
			.dev_off = total, .phys = dr->range.start, .len = len,
		};
		total += len;
	}
	dd->nr_range = ddx->nr_range;
	dd->size = total;
	dd->pgmap = pgmap;
out:
	device_unlock(dd->dev);
	return r;
}

/* Opens fc->source as a devdax and checks it; dd is freed on failure. */
static int famfsd_dd_open(struct fs_context *fc, struct famfsd_devdax **ret_dd)
{
	struct famfsd_devdax *dd;
	struct inode *inode;
	int r;

	if (!FAMFSD_DD_LAYOUT_KNOWN)
		return famfsd_dd_refuse(fc, "device-dax pools need Linux 6.1 (the struct dev_dax layout this module checks)");
	dd = kzalloc(sizeof(*dd), GFP_KERNEL);
	if (!dd)
		return -ENOMEM;
	INIT_LIST_HEAD(&dd->node);
	dd->file = filp_open(fc->source, O_RDWR | O_LARGEFILE, 0);
	if (IS_ERR(dd->file)) {
		r = PTR_ERR(dd->file);
		dd->file = NULL;
		pr_err("famfsd: mount of %s refused: cannot open it: %d\n",
		       fc->source, r);
		goto fail;
	}
	inode = file_inode(dd->file);
	/* devdax's open points f_mapping at its own inode on the dax fs */
	if (!S_ISCHR(inode->i_mode) || !dd->file->f_mapping->host ||
	    dd->file->f_mapping->host->i_sb->s_magic != DAXFS_MAGIC) {
		r = famfsd_dd_refuse(fc, "not a device-dax (/dev/daxX.Y) nor a pmem block device");
		goto fail;
	}
	dd->dax_dev = inode_dax(inode);
	if (dax_inode(dd->dax_dev) != dd->file->f_mapping->host) {
		r = famfsd_dd_refuse(fc, "the character device is not a dax device");
		goto fail;
	}
	r = famfsd_dd_check(fc, dd);
	if (r)
		goto fail;
	*ret_dd = dd;
	return 0;
fail:
	famfsd_devdax_put(dd);
	return r;
}

/* ---- the superblock ----------------------------------------------------------- */

/**
 * famfsd_source_is_chardev() - does the mount source name a character device?
 * @fc: the mount request
 *
 * Context: process context.
 * Return: true for a character device (mounted through this file), false
 * otherwise (the block device path reports its own errors).
 */
bool famfsd_source_is_chardev(struct fs_context *fc)
{
	struct path path;
	bool chr;

	if (!fc->source || kern_path(fc->source, LOOKUP_FOLLOW, &path))
		return false;
	chr = S_ISCHR(d_inode(path.dentry)->i_mode);
	path_put(&path);
	return chr;
}

static int famfsd_dd_test_super(struct super_block *sb, struct fs_context *fc)
{
	struct famfsd_sb_info *sbi = sb->s_fs_info;

	return !sb->s_bdev && sbi && sbi->devdax &&
	       sbi->devdax->dax_dev == fc->sget_key;
}

/**
 * famfsd_devdax_get_tree() - mount a devdax: one superblock per device
 * @fc: the mount request, its source a character device
 * @fill_super: famfsd_fill_super, which calls famfsd_devdax_attach()
 *
 * Opens and checks the device (the opened device waits in the context
 * for fill_super; a second mount of the same device shares the first's
 * superblock and lets its own copy go).
 *
 * Context: process context.
 * Return: 0, -EINVAL (logged), or another errno.
 */
int famfsd_devdax_get_tree(struct fs_context *fc,
			   int (*fill_super)(struct super_block *sb,
					     struct fs_context *fc))
{
	struct famfsd_fs_ctx *ctx = fc->fs_private;
	struct super_block *sb;
	int r;

	r = famfsd_dd_open(fc, &ctx->devdax);
	if (r)
		return r;
	fc->sget_key = ctx->devdax->dax_dev;
	sb = sget_fc(fc, famfsd_dd_test_super, set_anon_super_fc);
	if (IS_ERR(sb))
		return PTR_ERR(sb);
	if (sb->s_root) {
		if ((fc->sb_flags ^ sb->s_flags) & SB_RDONLY) {
			deactivate_locked_super(sb);
			return -EBUSY;
		}
	} else {
		r = fill_super(sb, fc);
		if (r) {
			deactivate_locked_super(sb);
			return r;
		}
		sb->s_flags |= SB_ACTIVE;
	}
	fc->root = dget(sb->s_root);
	return 0;
}

/**
 * famfsd_devdax_attach() - a new superblock takes the device
 * @sb: the superblock (its famfsd_sb_info set)
 * @dd: the checked device, owned by sb from now on (also on failure)
 *
 * Lists the device for the bus notifier and the memory-failure hook, and
 * installs that hook on the device's dev_pagemap.
 *
 * Context: process context, from fill_super.
 * Return: 0, or the notifier registration's error.
 */
int famfsd_devdax_attach(struct super_block *sb, struct famfsd_devdax *dd)
{
	struct famfsd_sb_info *sbi = FAMFSD_SB(sb);
	int r = 0;

	sbi->devdax = dd;
	sbi->dax_dev = dd->dax_dev;
	sbi->dax_part_off = 0;
	sbi->dev_size = dd->size;
	strscpy(sb->s_id, dd->name, sizeof(sb->s_id));

	mutex_lock(&famfsd_dd_bus_lock);
	if (!famfsd_dd_bus) {
		r = bus_register_notifier(dd->dev->bus, &famfsd_dd_bus_nb);
		if (!r)
			famfsd_dd_bus = dd->dev->bus;
	} else if (famfsd_dd_bus != dd->dev->bus) {
		r = -EINVAL;
	}
	mutex_unlock(&famfsd_dd_bus_lock);
	if (r)
		goto out;
	/* the device may have gone between the check and now */
	device_lock(dd->dev);
	mutex_lock(&famfsd_dd_lock);
	if (dd->dev->driver && dax_alive(dd->dax_dev) && !dd->pgmap->ops) {
		WRITE_ONCE(dd->pgmap->ops, &famfsd_dd_pgmap_ops);
		dd->ops_installed = true;
		dd->sb = sb;
		list_add(&dd->node, &famfsd_dd_list);
		dd->listed = true;
	} else {
		r = -ENXIO;
	}
	mutex_unlock(&famfsd_dd_lock);
	device_unlock(dd->dev);
out:
	if (r)
		pr_err("famfsd %s: mount refused: cannot watch the device (%d)\n",
		       dd->name, r);
	return r;
}

/**
 * famfsd_devdax_detach() - the superblock goes: no more callbacks into it
 * @dd: its device
 *
 * Context: process context, from kill_sb (no file of the mount is open).
 */
void famfsd_devdax_detach(struct famfsd_devdax *dd)
{
	if (!dd || !dd->listed)	/* only attach and detach change it */
		return;
	/* the device lock: an unbind cannot free the pgmap meanwhile */
	device_lock(dd->dev);
	mutex_lock(&famfsd_dd_lock);
	famfsd_dd_uninstall(dd);
	list_del_init(&dd->node);
	dd->listed = false;
	dd->sb = NULL;
	mutex_unlock(&famfsd_dd_lock);
	device_unlock(dd->dev);
}

/**
 * famfsd_devdax_put() - close the device and free what describes it
 * @dd: a device from get_tree (NULL is fine), detached
 *
 * Context: process context.
 */
void famfsd_devdax_put(struct famfsd_devdax *dd)
{
	if (!dd)
		return;
	if (WARN_ON_ONCE(dd->listed))
		famfsd_devdax_detach(dd);
	if (dd->file)
		filp_close(dd->file, NULL);
	kfree(dd);
}

/**
 * famfsd_devdax_exit() - module unload: stop watching the dax bus
 *
 * Context: module exit (no mount left).
 */
void famfsd_devdax_exit(void)
{
	if (famfsd_dd_bus)
		bus_unregister_notifier(famfsd_dd_bus, &famfsd_dd_bus_nb);
	famfsd_dd_bus = NULL;
}
