/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Log record payloads: building them (master) and decoding them into host
 * byte order with every length and bound checked (everyone else).
 */
#ifndef FAMFSD_RECORD_H
#define FAMFSD_RECORD_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "famfsd_format.h"

/* A decoded record in host byte order. Pointers refer into the record. */
struct famfs_rec {
	uint16_t type;
	uint64_t seq;
	uint64_t epoch;
	uint64_t ino;			/* mkdir, create, delete, reclaim */
	uint64_t parent;		/* mkdir, create, delete */
	uint64_t size;			/* create */
	uint64_t mtime_ns;		/* mkdir, create */
	uint32_t mode, uid, gid;	/* mkdir, create */
	const char *name;		/* not NUL terminated */
	uint32_t name_len;
	const char *tenant;		/* create, set_quota; not NUL terminated */
	uint32_t tenant_len;
	const struct famfs_extent *extents;	/* little-endian, create */
	uint32_t n_extents;
	uint64_t max_bytes, max_files;	/* set_quota */
	uint64_t delete_seq;		/* reclaim, pending */
	/*
	 * reclaim: every entry, little-endian (ino and delete_seq above are
	 * the first). A builder given n_reclaims 0 writes the one entry
	 * ino/delete_seq.
	 */
	const struct famfs_rec_reclaim *reclaims;
	uint32_t n_reclaims;
	bool checkpoint;		/* an item of a checkpoint, not a record */
	const struct famfs_rec_hdr *hdr;	/* decoded: the record itself */
};

/* Largest payload any record builder writes. */
#define FAMFS_REC_PAYLOAD_MAX	(FAMFS_REC_MAX_SIZE - sizeof(struct famfs_rec_hdr))

/*
 * Builders write the payload (what follows the header) for r into buf and
 * return its length, or -EINVAL when a field is out of range (name or
 * tenant length, extent count, record size).
 */
int famfs_rec_build(const struct famfs_rec *r, void *buf, size_t buf_size);

/*
 * Decodes a record that passed the log's framing and CRC checks. Returns 0
 * or -EUCLEAN with *reason set (unknown type, short payload, lengths that
 * do not add up).
 */
int famfs_rec_decode(const struct famfs_rec_hdr *h, struct famfs_rec *ret,
		     const char **reason);

static inline uint64_t famfs_extent_offset(const struct famfs_extent *e)
{
	return le64toh(e->offset);
}

static inline uint64_t famfs_extent_len(const struct famfs_extent *e)
{
	return le64toh(e->len);
}

const char *famfs_rec_type_name(uint16_t type);

#endif
