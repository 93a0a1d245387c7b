/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * famfsd kernel module: the user/kernel interface.
 *
 * Shared by the module (kmod/) and userspace (the agent's kernel back-end,
 * the VM tests). Fixed-width types only, no padding the compiler could
 * place differently on 32- and 64-bit userspace (every struct is a multiple
 * of 8 bytes and 64-bit fields sit at 8-byte offsets), pointers passed as
 * __u64. Reserved fields must be zero; the module refuses anything else, so
 * they can carry meaning in a later ABI version.
 *
 * Every ioctl is issued on a file descriptor of the mount: its root
 * directory (any file or directory of the mount works). FAMFSD_IOC_INFO is
 * open to every user; the others need CAP_SYS_ADMIN. A bad argument gets
 * -EINVAL and one rate-limited kernel log line naming the check that failed.
 */
#ifndef _UAPI_FAMFSD_KMOD_H
#define _UAPI_FAMFSD_KMOD_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Bumped on any incompatible change; also in /sys/module/famfsd/parameters/. */
#define FAMFSD_KMOD_ABI_VERSION	1

#define FAMFSD_KMOD_FSTYPE	"famfsd"	/* mount -t famfsd /dev/pmemN DIR */
#define FAMFSD_KMOD_MAGIC	0x46414d44u	/* statfs f_type, "FAMD" */

/*
 * The meta directory at the root of every mount, and its files. Each maps
 * a region of the pool through DAX, read-only unless the mount has the
 * meta_rw option (the host that runs the master):
 *   pool   [0, device end): i_size is the device size so a pool opener sees
 *          the whole geometry, but only [0, data_offset) can be read or
 *          mapped (superblocks, lease, log); the data area gives EIO/SIGBUS.
 *   super  [0, log_offset): both superblock copies and the master lease.
 *   log    [log_offset, log_offset + log_size): log header and records.
 * Only pool can be mapped; super and log, which cover bytes of pool, are
 * read()/write() windows (mmap gets ENODEV): one pool page may belong to
 * one inode's mapping only. Open only to root (mode 0400, 0600 with
 * meta_rw).
 */
#define FAMFSD_KMOD_META_DIR	".famfsd"
#define FAMFSD_KMOD_META_POOL	"pool"
#define FAMFSD_KMOD_META_SUPER	"super"
#define FAMFSD_KMOD_META_LOG	"log"

/* Pool inode numbers: 2 .. FAMFSD_KMOD_INO_MAX (1 is the root). */
#define FAMFSD_KMOD_INO_MAX	((1ULL << 62) - 1)
#define FAMFSD_KMOD_NAME_MAX	255u	/* bytes in one name */
#define FAMFSD_KMOD_MAX_EXTENTS	256u	/* extents per file */
#define FAMFSD_KMOD_OPEN_INOS_MAX (1u << 20)	/* capacity of one listing */

/* famfsd_ioc_info.flags */
#define FAMFSD_INFO_FENCED	0x1u	/* a memory failure fenced the mount */
#define FAMFSD_INFO_META_RW	0x2u	/* meta files are writable */
#define FAMFSD_INFO_USAGE_SET	0x4u	/* statfs uses the agent's numbers */
#define FAMFSD_INFO_COHERENT	0x8u	/* pool is hardware coherent: read()
					   does not invalidate cache lines */

/* FAMFSD_IOC_INFO: geometry, ABI version and counters of a mount. */
struct famfsd_ioc_info {
	__u32 abi_version;		/* FAMFSD_KMOD_ABI_VERSION */
	__u32 flags;			/* FAMFSD_INFO_* */
	__u64 device_size;		/* bytes of the block device */
	__u64 pool_size;		/* the superblock's device_size */
	__u64 alloc_unit;
	__u64 log_offset;
	__u64 log_size;
	__u64 data_offset;
	__u64 log_generation;		/* as read at mount time */
	__u8  pool_uuid[16];
	__u64 files;			/* file inodes held, deleted-but-open too */
	__u64 dirs;			/* directories, the root included */
	__u64 held_bytes;		/* extent bytes of the files held */
	__u64 pte_faults;		/* page-sized DAX faults served */
	__u64 pmd_faults;		/* 2 MiB DAX faults served */
	__u64 pmd_fallbacks;		/* 2 MiB faults that fell back to pages */
	__u64 mkwrite_faults;		/* write-protect faults on mapped pages */
	__u64 fault_errors;		/* faults answered with SIGBUS */
	__u64 applied_seq;		/* the log position the tree reflects */
	__u64 applied_generation;	/* its log generation, 0 if never set */
	__u64 reserved[6];
};

/*
 * Every superblock of a device is shared by all its mounts and outlives an
 * agent that dies, so the tree remembers how far into the log it is: the
 * seq of mkdir, create and delete (the log record they come from, 0 for
 * none) raises applied_seq when the change is made, and FAMFSD_IOC_SET_SEQ
 * sets it (with the log generation) after a replay from scratch. A
 * restarted agent skips the records the tree already holds.
 */

/* FAMFSD_IOC_MKDIR: a directory, as a log MKDIR record describes it. */
struct famfsd_ioc_mkdir {
	__u64 ino;
	__u64 parent;			/* inode of an existing directory */
	__u64 mtime_ns;			/* CLOCK_REALTIME, at most S64_MAX */
	__u32 mode;			/* permission bits only (07777) */
	__u32 uid;
	__u32 gid;
	__u32 name_len;			/* 1 .. FAMFSD_KMOD_NAME_MAX */
	__u64 name;			/* user pointer, not NUL terminated */
	__u64 seq;			/* log record, raises applied_seq */
	__u64 reserved;
};

/* One extent: a range of the pool, both fields multiples of the unit. */
struct famfsd_ioc_extent {
	__u64 offset;			/* from the pool start, in the data area */
	__u64 len;
};

/*
 * FAMFSD_IOC_CREATE: a regular file with its extents (file order). Extents
 * are aligned to the pool's allocation unit (and the page size), inside
 * [data_offset, pool end), never overlapping each other; size is at most
 * their sum. A file of size 0 may have no extent.
 */
struct famfsd_ioc_create {
	__u64 ino;
	__u64 parent;
	__u64 size;
	__u64 mtime_ns;
	__u32 mode;			/* permission bits only (07777) */
	__u32 uid;
	__u32 gid;
	__u32 n_extents;		/* 0 .. FAMFSD_KMOD_MAX_EXTENTS */
	__u32 name_len;
	__u32 flags;			/* 0 */
	__u64 name;			/* user pointer */
	__u64 extents;			/* user pointer to n_extents extents */
	__u64 seq;			/* log record, raises applied_seq */
	__u64 reserved;
};

/*
 * FAMFSD_IOC_DELETE: removes the name parent/name, which must be inode ino
 * (a file, or an empty directory). A file still open or mapped lives on
 * without a name until its last user lets go; its space stays readable
 * until FAMFSD_IOC_REVOKE.
 */
struct famfsd_ioc_delete {
	__u64 ino;
	__u64 parent;
	__u32 name_len;
	__u32 flags;			/* 0 */
	__u64 name;
	__u64 seq;			/* log record, raises applied_seq */
	__u64 reserved;
};

/*
 * FAMFSD_IOC_REVOKE: the space of deleted inode ino may be reused by the
 * pool: its remaining mappings are torn down and every later access fails
 * (EIO, SIGBUS). -ENOENT when no one holds the inode any more (the usual
 * case), -EBUSY when it still has a name.
 */
struct famfsd_ioc_revoke {
	__u64 ino;
	__u64 reserved[3];
};

/*
 * FAMFSD_IOC_OPEN_INOS: the pool inode numbers of files that are open or
 * mapped (a mapping counts until it is unmapped), not revoked. Fills up to
 * capacity numbers at inos and sets count to how many there are (which may
 * exceed capacity: call again with more room).
 */
struct famfsd_ioc_open_inos {
	__u64 inos;			/* user pointer to capacity __u64 */
	__u32 capacity;			/* at most FAMFSD_KMOD_OPEN_INOS_MAX */
	__u32 count;			/* out */
	__u64 reserved[2];
};

/*
 * FAMFSD_IOC_SET_USAGE: what statfs reports as free, from the agent's
 * replayed allocator (which knows about space waiting for reclaim). Until
 * it is set, statfs counts only the extents this mount holds.
 */
struct famfsd_ioc_usage {
	__u64 free_bytes;		/* at most the data area */
	__u64 free_inodes;		/* room left in the log, in creates */
	__u64 reserved[2];
};

/* FAMFSD_IOC_SET_SEQ: the tree now reflects the log up to seq. */
struct famfsd_ioc_seq {
	__u64 seq;
	__u64 generation;		/* log generation, not 0 */
	__u64 reserved[2];
};

#define FAMFSD_IOC_MAGIC	0xFA
#define FAMFSD_IOC_INFO		_IOR(FAMFSD_IOC_MAGIC, 1, struct famfsd_ioc_info)
#define FAMFSD_IOC_MKDIR	_IOW(FAMFSD_IOC_MAGIC, 2, struct famfsd_ioc_mkdir)
#define FAMFSD_IOC_CREATE	_IOW(FAMFSD_IOC_MAGIC, 3, struct famfsd_ioc_create)
#define FAMFSD_IOC_DELETE	_IOW(FAMFSD_IOC_MAGIC, 4, struct famfsd_ioc_delete)
#define FAMFSD_IOC_REVOKE	_IOW(FAMFSD_IOC_MAGIC, 5, struct famfsd_ioc_revoke)
#define FAMFSD_IOC_OPEN_INOS	_IOWR(FAMFSD_IOC_MAGIC, 6, struct famfsd_ioc_open_inos)
#define FAMFSD_IOC_SET_USAGE	_IOW(FAMFSD_IOC_MAGIC, 7, struct famfsd_ioc_usage)
#define FAMFSD_IOC_SET_SEQ	_IOW(FAMFSD_IOC_MAGIC, 8, struct famfsd_ioc_seq)

#endif /* _UAPI_FAMFSD_KMOD_H */
