/* SPDX-License-Identifier: GPL-2.0-or-later WITH Linux-syscall-note */
/*
 * famfsd pool format, version 2: the one definition of the on-media layout,
 * shared by userspace (famfsd/lib includes it directly) and the kernel
 * module. docs/format.md describes the same layout in prose.
 *
 * Every field is fixed width and little-endian (__le* types, which sparse
 * checks in the module); structs are laid out so the compiler adds no
 * padding, and each size is checked by a static assert. Userspace reads and
 * writes fields only through le*toh()/htole*(), the module through
 * le*_to_cpu()/cpu_to_le*().
 *
 * Layout of a pool (byte offsets from the start of the pool):
 *
 *   0       superblock copy A            (FAMFS_SB_SLOT bytes)
 *   4 KiB   superblock copy B
 *   8 KiB   master lease area             (one cache line per field group)
 *  16 KiB   master election slots         (FAMFS_ELECT_SLOTS x 512 bytes;
 *           each written only by the master-capable host that owns it)
 *  64 KiB   agent roster, copy 0          (FAMFS_ROSTER_ENTRIES x 256 bytes;
 *   1 MiB   agent roster, copy 1           written only by the active master)
 *   log_offset (2 MiB aligned)
 *           the log: four equal areas. A log generation lives in two of
 *           them, byte for byte the same (copy 0 and copy 1, half the log
 *           apart); generations use the two pairs in turn (compaction).
 *           Each area: a 4 KiB header (a line of identity, two tail
 *           slots), the checkpoint, then records in sequence order.
 *   data_offset (alloc_unit aligned)
 *           file data, allocated in alloc_unit units
 */
#ifndef _UAPI_FAMFSD_FORMAT_H
#define _UAPI_FAMFSD_FORMAT_H

#include <linux/types.h>

#define FAMFS_CACHELINE		64u

#define FAMFS_SB_MAGIC		0x31304453464d4146ull	/* "FAMFSD01" on the media */
#define FAMFS_FORMAT_VERSION	2u
#define FAMFS_SB_SLOT		4096u
#define FAMFS_SB_A_OFFSET	0u
#define FAMFS_SB_B_OFFSET	4096u
#define FAMFS_LEASE_OFFSET	8192u
#define FAMFS_META_ALIGN	(2u << 20)	/* log starts 2 MiB aligned */

#define FAMFS_DEFAULT_ALLOC_UNIT	(2ull << 20)
#define FAMFS_MIN_ALLOC_UNIT		4096ull
#define FAMFS_MAX_ALLOC_UNIT		(1ull << 30)
#define FAMFS_DEFAULT_LOG_SIZE		(64ull << 20)
#define FAMFS_MIN_LOG_SIZE		(1ull << 20)
#define FAMFS_LOG_SIZE_ALIGN		(16ull << 10)	/* four 4 KiB aligned areas */

#define FAMFS_NAME_MAX		255u	/* bytes in one path component */
#define FAMFS_PATH_MAX		4095u	/* bytes in a full path */
#define FAMFS_TENANT_MAX	63u	/* bytes in a tenant name */
#define FAMFS_HOST_MAX		64u	/* bytes in a lease holder name */
#define FAMFS_MAX_EXTENTS	256u	/* extents per file */
#define FAMFS_ROOT_INO		1ull

/* Superblock flags. */
#define FAMFS_SB_F_COHERENT	0x1u	/* pool is hardware coherent */

/*
 * The superblock. Written at mkfs (and when the log generation changes),
 * copy A first, then copy B, each flushed and fenced. sb_seq orders the two
 * copies if both are valid; crc covers every byte before it.
 */
struct famfs_sb {
	__le64 magic;
	__le32 version;
	__le32 flags;
	__u8   pool_uuid[16];
	__u8   device_uuid[16];	/* zero when the device has none */
	__le64 device_size;		/* bytes the pool spans */
	__le64 alloc_unit;		/* power of two, >= 4 KiB */
	__le64 log_offset;
	__le64 log_size;		/* header + record area */
	__le64 data_offset;		/* first allocatable byte */
	__le64 log_generation;	/* bumped by compaction */
	__le64 created_ns;		/* CLOCK_REALTIME at mkfs */
	__le64 sb_seq;		/* bumped on every rewrite */
	__u8   reserved[40];
	__le32 pad;
	__le32 crc;			/* CRC32C of all bytes above */
};
_Static_assert(sizeof(struct famfs_sb) == 160, "famfs_sb layout");

/*
 * Master lease. One live master per pool: it bumps epoch when it takes the
 * pool and refreshes renewed_ns while it lives. Hosts are not cache
 * coherent and there is no cross-host atomic here, so the lease is advisory
 * against a careless second start, not a consensus protocol; the epoch in
 * every record tells which master wrote it.
 */
struct famfs_lease {
	__le64 epoch;			/* 0: never held */
	__le64 acquired_ns;
	__le64 renewed_ns;		/* CLOCK_REALTIME, refreshed by the holder */
	__le64 lease_ns;		/* holder is dead after renewed + lease */
	__le32 pid;
	__le32 released;		/* 1 after a clean shutdown */
	char     host[FAMFS_HOST_MAX];	/* NUL padded */
	__u8   holder_uuid[16];	/* random per master run */
	__u8   reserved[4];
	__le32 crc;
};
_Static_assert(sizeof(struct famfs_lease) == 128, "famfs_lease layout");

/*
 * Master election (docs/failover.md). Every master-capable host owns one
 * slot and is its only writer; it reads everyone else's. A slot is written
 * whole (one copy, then flush and fence) and read into a private copy
 * (invalidate, copy, CRC): hosts' caches are not coherent and the pool has
 * no cross-host atomic, so nothing else is shared. heartbeat changes at
 * every renewal or standby beat: others judge liveness by watching it change
 * on their own monotonic clock, never by comparing clocks. inst, mbal, bal
 * and inp are the slot's Disk Paxos block (Gafni and Lamport, 2000) for the
 * election of epoch inst.
 */
#define FAMFS_ELECT_OFFSET	16384u
#define FAMFS_ELECT_SLOTS	16u
#define FAMFS_ELECT_SLOT_SIZE	512u
#define FAMFS_ELECT_MAGIC	0x5443454c53464d46ull	/* "FMFSLECT" */
#define FAMFS_URL_MAX		191u	/* bytes of an API address */

enum famfs_elect_state {
	FAMFS_ELECT_EMPTY	= 0,	/* never used */
	FAMFS_ELECT_STANDBY	= 1,	/* follows the log, may be elected */
	FAMFS_ELECT_ACTIVE	= 2,	/* the writer of epoch `epoch` */
	FAMFS_ELECT_STOPPED	= 3,	/* stopped cleanly: nobody waits for it */
};

struct famfs_elect_slot {
	__le64 magic;
	__le32 slot;			/* its own index, a check */
	__le32 state;			/* enum famfs_elect_state */
	__u8   run_uuid[16];		/* random per process run */
	__le64 heartbeat;		/* +1 at every write of the slot */
	__le64 lease_ns;		/* W: others wait this long of no change */
	__le64 epoch;			/* ACTIVE: ours; else the highest seen */
	__le64 epoch_start_seq;		/* ACTIVE: our first record's seq */
	__le64 applied_seq;		/* how far this host's state is */
	/* Disk Paxos block for the election of epoch inst */
	__le64 inst;
	__le64 mbal;
	__le64 bal;
	__le64 inp;			/* slot + 1 proposed as master; 0: none */
	__le32 pid;
	__u8   reserved0[4];
	char   host[FAMFS_HOST_MAX];	/* NUL padded */
	char   url[FAMFS_URL_MAX + 1];	/* API address, NUL padded */
	__u8   reserved[140];
	__le32 crc;			/* CRC32C of all bytes above */
};
_Static_assert(sizeof(struct famfs_elect_slot) == FAMFS_ELECT_SLOT_SIZE,
	       "famfs_elect_slot layout");

/*
 * Agent roster: every agent the masters have acknowledged, so a new master
 * learns who may hold space before it reclaims any (docs/failover.md).
 * Two copies; entry i of each copy is one 256-byte block with its own CRC.
 */
#define FAMFS_ROSTER_OFFSET	(64u << 10)
#define FAMFS_ROSTER_COPY1	(1u << 20)
#define FAMFS_ROSTER_ENTRIES	256u
#define FAMFS_ROSTER_ENTRY_SIZE	256u
#define FAMFS_AGENT_ID_MAX	128u
#define FAMFS_ROSTER_MAGIC	0x54534f5253464d46ull	/* "FMFSROST" */

enum famfs_roster_state {
	FAMFS_ROSTER_EMPTY	= 0,	/* never used */
	FAMFS_ROSTER_LIVE	= 1,	/* acknowledged: may hold pool space */
	FAMFS_ROSTER_EVICTED	= 2,	/* evicted by an admin: holds nothing */
};

/*
 * One agent. Written whole by the active master into copy 0, flushed and
 * fenced, then into copy 1, flushed and fenced (lib/roster.c), before the
 * master acknowledges the agent's first heartbeat or its eviction.
 */
struct famfs_roster_entry {
	__le64 magic;
	__le32 index;			/* its own index, a check */
	__le32 state;			/* enum famfs_roster_state */
	__le64 epoch;			/* master epoch that wrote it */
	__le64 seq;			/* the log's last published seq then */
	char   id[FAMFS_AGENT_ID_MAX];	/* agent id, NUL padded */
	char   host[FAMFS_HOST_MAX];	/* as it reported, NUL padded */
	__u8   reserved[28];
	__le32 crc;			/* CRC32C of all bytes above */
};
_Static_assert(sizeof(struct famfs_roster_entry) == FAMFS_ROSTER_ENTRY_SIZE,
	       "famfs_roster_entry layout");
_Static_assert(FAMFS_ROSTER_OFFSET + FAMFS_ROSTER_ENTRIES *
	       FAMFS_ROSTER_ENTRY_SIZE <= FAMFS_ROSTER_COPY1,
	       "roster copies overlap");

/*
 * Log tail: the publish point. Two slots, each in its own cache line, in
 * each copy; the publish of sequence S writes slot S % 2 of both copies. A
 * reader takes the valid slot with the highest sequence of the four, so a
 * torn tail write, or one damaged line, leaves a whole tail readable.
 */
struct famfs_log_tail {
	__le64 seq;			/* last published record */
	__le64 end;			/* bytes of the area's body in use */
	__le64 generation;		/* must equal the area header's */
	__le64 epoch;			/* master epoch that published */
	__u8   reserved[28];
	__le32 crc;
};
_Static_assert(sizeof(struct famfs_log_tail) == FAMFS_CACHELINE, "tail layout");

#define FAMFS_LOG_HDR_SIZE	4096u
#define FAMFS_LOG_MAGIC		0x474f4c53464d4146ull	/* "FAMFSLOG" */
#define FAMFS_LOG_AREAS		4u	/* two generations in turn, two copies */
#define FAMFS_LOG_COPIES	2u

/*
 * Area header. Line 0 says which generation the area holds and what its
 * checkpoint is: the state as of record base_seq, in ckpt_items items
 * filling the first ckpt_bytes of the body; records follow from
 * base_seq + 1. Written once per generation (mkfs, compaction), before the
 * superblock names the generation.
 */
struct famfs_log_hdr {
	__le64 magic;
	__le64 generation;
	__le64 base_seq;		/* the checkpoint is the state after it */
	__le64 base_epoch;		/* epoch of record base_seq (0: none) */
	__le64 max_ino;			/* highest inode number ever used */
	__le64 ckpt_bytes;		/* multiple of FAMFS_REC_ALIGN */
	__le64 ckpt_items;
	__u8   reserved[4];
	__le32 crc;
	struct famfs_log_tail tail[2];	/* cache lines 1 and 2 */
};
_Static_assert(sizeof(struct famfs_log_hdr) == 3 * FAMFS_CACHELINE, "hdr layout");

/* Record types. Unknown types are a corruption for this version. */
enum famfs_rec_type {
	FAMFS_REC_MKDIR		= 1,
	FAMFS_REC_CREATE	= 2,
	FAMFS_REC_DELETE	= 3,
	FAMFS_REC_SET_QUOTA	= 4,
	FAMFS_REC_RECLAIM	= 5,	/* deleted file's space may be reused */
	FAMFS_REC_PENDING	= 6,	/* checkpoint only: a deleted file's space */
	FAMFS_REC_TYPE_MAX
};

#define FAMFS_REC_ALIGN		8u
#define FAMFS_REC_MAX_SIZE	8192u

/*
 * Every record, and every checkpoint item, starts with this header. len is
 * the whole record including header and tail padding (a multiple of 8).
 * crc comes first so that one CRC32C pass covers the rest of the record:
 * every byte after the crc field up to len, header fields, payload and
 * padding alike. The pass starts from the log generation (FAMFS_REC_CRC_SEED)
 * so a record of another generation, left in an area being reused, never
 * passes for one of this generation.
 *
 * In a checkpoint, seq is the sequence of the record that created the
 * node (the pending delete for a PENDING item, 0 for quotas) and epoch the
 * area's base_epoch.
 */
struct famfs_rec_hdr {
	__le32 crc;
	__le16 type;
	__le16 flags;
	__le32 len;
	__le32 reserved;
	__le64 seq;			/* 1, 2, 3, ... without gaps */
	__le64 epoch;			/* master epoch that wrote it */
};
_Static_assert(sizeof(struct famfs_rec_hdr) == 32, "rec_hdr layout");

struct famfs_extent {
	__le64 offset;		/* from pool start, alloc_unit aligned */
	__le64 len;			/* multiple of alloc_unit */
};
_Static_assert(sizeof(struct famfs_extent) == 16, "extent layout");

/* MKDIR: header, this, then name bytes. */
struct famfs_rec_mkdir {
	__le64 ino;
	__le64 parent;
	__le64 mtime_ns;
	__le32 mode;			/* permission bits only */
	__le32 uid;
	__le32 gid;
	__le16 name_len;
	__u8   reserved[2];
};
_Static_assert(sizeof(struct famfs_rec_mkdir) == 40, "mkdir layout");

/* CREATE: header, this, n_extents extents, name bytes, tenant bytes. */
struct famfs_rec_create {
	__le64 ino;
	__le64 parent;
	__le64 size;
	__le64 mtime_ns;
	__le32 mode;
	__le32 uid;
	__le32 gid;
	__le32 n_extents;
	__le16 name_len;
	__u8   tenant_len;
	__u8   reserved[5];
};
_Static_assert(sizeof(struct famfs_rec_create) == 56, "create layout");

/* DELETE (file or empty directory): header, this, name bytes. */
struct famfs_rec_delete {
	__le64 ino;
	__le64 parent;
	__le16 name_len;
	__u8   reserved[6];
};
_Static_assert(sizeof(struct famfs_rec_delete) == 24, "delete layout");

/* SET_QUOTA: header, this, tenant bytes. 0 means unlimited. */
struct famfs_rec_quota {
	__le64 max_bytes;
	__le64 max_files;
	__u8   tenant_len;
	__u8   reserved[7];
};
_Static_assert(sizeof(struct famfs_rec_quota) == 24, "quota layout");

/* The CRC32C seed of a record or item of log generation g. */
#define FAMFS_REC_CRC_SEED(g)	((__u32)(g) ^ (__u32)((__u64)(g) >> 32) ^ 0x46414d53u)

/*
 * RECLAIM: the space of deleted inodes is free again: header, then 1 to
 * FAMFS_RECLAIM_MAX of these, in increasing delete_seq.
 */
struct famfs_rec_reclaim {
	__le64 ino;
	__le64 delete_seq;		/* the DELETE record this follows */
};
_Static_assert(sizeof(struct famfs_rec_reclaim) == 16, "reclaim layout");

#define FAMFS_RECLAIM_MAX	256u	/* entries in one reclaim record */

/*
 * PENDING (checkpoint only): a deleted file whose space waits for reclaim:
 * header, this, n_extents extents.
 */
struct famfs_rec_pending {
	__le64 ino;
	__le64 delete_seq;		/* the DELETE record, in an older generation */
	__le32 n_extents;
	__u8   reserved[4];
};
_Static_assert(sizeof(struct famfs_rec_pending) == 24, "pending layout");

#endif /* _UAPI_FAMFSD_FORMAT_H */
