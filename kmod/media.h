/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * famfsd kernel module: the pool on a device-dax (/dev/daxX.Y), devdax.c.
 *
 * A pmem mount reaches the pool through fs/dax.c (iomap); a devdax has no
 * dax_operations on Linux 6.1, so devdax.c serves those mounts itself from
 * the device's physical ranges: "device offset -> kernel address / pfn",
 * its own read()/write() copies and fault handler, and the two events that
 * can take the memory away under a mount (an unbind of the device, a
 * memory failure), which fence it.
 */
#ifndef FAMFSD_KMOD_MEDIA_H
#define FAMFSD_KMOD_MEDIA_H

#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/mm.h>
#include <linux/uio.h>

struct famfsd_devdax;
struct famfsd_sb_info;

/* Mounting: a character device as the source goes this way. */
bool famfsd_source_is_chardev(struct fs_context *fc);
int famfsd_devdax_get_tree(struct fs_context *fc,
			   int (*fill_super)(struct super_block *sb,
					     struct fs_context *fc));
int famfsd_devdax_attach(struct super_block *sb, struct famfsd_devdax *dd);
void famfsd_devdax_detach(struct famfsd_devdax *dd);
void famfsd_devdax_put(struct famfsd_devdax *dd);
void famfsd_devdax_exit(void);

/* The data path of a devdax mount (file.c calls these instead of fs/dax.c). */
int famfsd_devdax_read_media(struct famfsd_devdax *dd, u64 off, void *buf,
			     size_t len);
ssize_t famfsd_devdax_rw(struct kiocb *iocb, struct iov_iter *iter,
			 bool write);
vm_fault_t famfsd_devdax_fault(struct vm_fault *vmf,
			       enum page_entry_size pe_size);
int famfsd_devdax_sync(struct inode *inode, loff_t start, loff_t end);

#endif /* FAMFSD_KMOD_MEDIA_H */
