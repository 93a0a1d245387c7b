/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * famfsd pool format, version 1: the one place the on-media layout is
 * defined. docs/format.md describes the same layout in prose.
 *
 * Every field is fixed width and little-endian; structs are laid out so the
 * compiler adds no padding, and each size is checked by a static assert. Read
 * and write fields only through the le*toh()/htole*() helpers.
 *
 * Layout of a pool (byte offsets from the start of the pool):
 *
 *   0       superblock copy A            (FAMFS_SB_SLOT bytes)
 *   4 KiB   superblock copy B
 *   8 KiB   master lease area             (one cache line per field group)
 *   log_offset (2 MiB aligned)
 *           log header: two tail slots, each in its own cache line
 *   log_offset + FAMFS_LOG_HDR_SIZE
 *           log records, 8-byte aligned, appended in sequence order
 *   data_offset (alloc_unit aligned)
 *           file data, allocated in alloc_unit units
 */
#ifndef FAMFSD_FORMAT_H
#define FAMFSD_FORMAT_H

#include <assert.h>
#include <stdint.h>

#define FAMFS_CACHELINE		64u

#define FAMFS_SB_MAGIC		0x31304453464d4146ull	/* "FAMFSD01" on the media */
#define FAMFS_FORMAT_VERSION	1u
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
	uint64_t magic;
	uint32_t version;
	uint32_t flags;
	uint8_t  pool_uuid[16];
	uint8_t  device_uuid[16];	/* zero when the device has none */
	uint64_t device_size;		/* bytes the pool spans */
	uint64_t alloc_unit;		/* power of two, >= 4 KiB */
	uint64_t log_offset;
	uint64_t log_size;		/* header + record area */
	uint64_t data_offset;		/* first allocatable byte */
	uint64_t log_generation;	/* bumped by compaction */
	uint64_t created_ns;		/* CLOCK_REALTIME at mkfs */
	uint64_t sb_seq;		/* bumped on every rewrite */
	uint8_t  reserved[40];
	uint32_t pad;
	uint32_t crc;			/* CRC32C of all bytes above */
};
static_assert(sizeof(struct famfs_sb) == 160, "famfs_sb layout");

/*
 * Master lease. One live master per pool: it bumps epoch when it takes the
 * pool and refreshes renewed_ns while it lives. Hosts are not cache
 * coherent and there is no cross-host atomic here, so the lease is advisory
 * against a careless second start, not a consensus protocol; the epoch in
 * every record tells which master wrote it.
 */
struct famfs_lease {
	uint64_t epoch;			/* 0: never held */
	uint64_t acquired_ns;
	uint64_t renewed_ns;		/* CLOCK_REALTIME, refreshed by the holder */
	uint64_t lease_ns;		/* holder is dead after renewed + lease */
	uint32_t pid;
	uint32_t released;		/* 1 after a clean shutdown */
	char     host[FAMFS_HOST_MAX];	/* NUL padded */
	uint8_t  holder_uuid[16];	/* random per master run */
	uint8_t  reserved[4];
	uint32_t crc;
};
static_assert(sizeof(struct famfs_lease) == 128, "famfs_lease layout");

/*
 * Log tail: the publish point. Two slots, each in its own cache line; the
 * record with sequence S is published by writing slot S % 2. A reader takes
 * the valid slot with the higher sequence, so one torn tail write leaves
 * the previous tail readable.
 */
struct famfs_log_tail {
	uint64_t seq;			/* last published record, 0 = none */
	uint64_t end;			/* bytes of the record area in use */
	uint64_t generation;		/* must equal the superblock's */
	uint64_t epoch;			/* master epoch that published */
	uint8_t  reserved[28];
	uint32_t crc;
};
static_assert(sizeof(struct famfs_log_tail) == FAMFS_CACHELINE, "tail layout");

#define FAMFS_LOG_HDR_SIZE	4096u
#define FAMFS_LOG_MAGIC		0x474f4c53464d4146ull	/* "FAMFSLOG" */

struct famfs_log_hdr {
	uint64_t magic;
	uint64_t generation;
	uint8_t  reserved[44];
	uint32_t crc;
	struct famfs_log_tail tail[2];	/* cache lines 1 and 2 */
};
static_assert(sizeof(struct famfs_log_hdr) == 3 * FAMFS_CACHELINE, "hdr layout");

/* Record types. Unknown types are a corruption for this version. */
enum famfs_rec_type {
	FAMFS_REC_MKDIR		= 1,
	FAMFS_REC_CREATE	= 2,
	FAMFS_REC_DELETE	= 3,
	FAMFS_REC_SET_QUOTA	= 4,
	FAMFS_REC_RECLAIM	= 5,	/* deleted file's space may be reused */
	FAMFS_REC_TYPE_MAX
};

#define FAMFS_REC_ALIGN		8u
#define FAMFS_REC_MAX_SIZE	8192u

/*
 * Every record starts with this header. len is the whole record including
 * header and tail padding (a multiple of 8). crc comes first so that one
 * CRC32C pass covers the rest of the record: every byte after the crc
 * field up to len, header fields, payload and padding alike.
 */
struct famfs_rec_hdr {
	uint32_t crc;
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint32_t reserved;
	uint64_t seq;			/* 1, 2, 3, ... without gaps */
	uint64_t epoch;			/* master epoch that wrote it */
};
static_assert(sizeof(struct famfs_rec_hdr) == 32, "rec_hdr layout");

struct famfs_extent {
	uint64_t offset;		/* from pool start, alloc_unit aligned */
	uint64_t len;			/* multiple of alloc_unit */
};
static_assert(sizeof(struct famfs_extent) == 16, "extent layout");

/* MKDIR: header, this, then name bytes. */
struct famfs_rec_mkdir {
	uint64_t ino;
	uint64_t parent;
	uint64_t mtime_ns;
	uint32_t mode;			/* permission bits only */
	uint32_t uid;
	uint32_t gid;
	uint16_t name_len;
	uint8_t  reserved[2];
};
static_assert(sizeof(struct famfs_rec_mkdir) == 40, "mkdir layout");

/* CREATE: header, this, n_extents extents, name bytes, tenant bytes. */
struct famfs_rec_create {
	uint64_t ino;
	uint64_t parent;
	uint64_t size;
	uint64_t mtime_ns;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t n_extents;
	uint16_t name_len;
	uint8_t  tenant_len;
	uint8_t  reserved[5];
};
static_assert(sizeof(struct famfs_rec_create) == 56, "create layout");

/* DELETE (file or empty directory): header, this, name bytes. */
struct famfs_rec_delete {
	uint64_t ino;
	uint64_t parent;
	uint16_t name_len;
	uint8_t  reserved[6];
};
static_assert(sizeof(struct famfs_rec_delete) == 24, "delete layout");

/* SET_QUOTA: header, this, tenant bytes. 0 means unlimited. */
struct famfs_rec_quota {
	uint64_t max_bytes;
	uint64_t max_files;
	uint8_t  tenant_len;
	uint8_t  reserved[7];
};
static_assert(sizeof(struct famfs_rec_quota) == 24, "quota layout");

/* RECLAIM: the space of a deleted inode is free again. */
struct famfs_rec_reclaim {
	uint64_t ino;
	uint64_t delete_seq;		/* the DELETE record this follows */
};
static_assert(sizeof(struct famfs_rec_reclaim) == 16, "reclaim layout");

#endif /* FAMFSD_FORMAT_H */
