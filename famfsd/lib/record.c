// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <string.h>

#include "record.h"

static const char *const type_names[FAMFS_REC_TYPE_MAX] = {
	[FAMFS_REC_MKDIR] = "mkdir",
	[FAMFS_REC_CREATE] = "create",
	[FAMFS_REC_DELETE] = "delete",
	[FAMFS_REC_SET_QUOTA] = "set_quota",
	[FAMFS_REC_RECLAIM] = "reclaim",
	[FAMFS_REC_PENDING] = "pending",
};

const char *famfs_rec_type_name(uint16_t type)
{
	if (type < FAMFS_REC_TYPE_MAX && type_names[type])
		return type_names[type];
	return "unknown";
}

/* Appends n bytes to a payload under construction, if they fit. */
static int put(uint8_t *buf, size_t size, size_t *at, const void *src, size_t n)
{
	if (n > size - *at)
		return -EINVAL;
	if (n)
		memcpy(buf + *at, src, n);
	*at += n;
	return 0;
}

static int build_mkdir(const struct famfs_rec *r, uint8_t *buf, size_t size,
		       size_t *at)
{
	struct famfs_rec_mkdir m = {
		.ino = htole64(r->ino), .parent = htole64(r->parent),
		.mtime_ns = htole64(r->mtime_ns), .mode = htole32(r->mode),
		.uid = htole32(r->uid), .gid = htole32(r->gid),
		.name_len = htole16((uint16_t)r->name_len),
	};

	return put(buf, size, at, &m, sizeof(m)) ?:
	       put(buf, size, at, r->name, r->name_len);
}

static int build_create(const struct famfs_rec *r, uint8_t *buf, size_t size,
			size_t *at)
{
	struct famfs_rec_create c = {
		.ino = htole64(r->ino), .parent = htole64(r->parent),
		.size = htole64(r->size), .mtime_ns = htole64(r->mtime_ns),
		.mode = htole32(r->mode), .uid = htole32(r->uid),
		.gid = htole32(r->gid), .n_extents = htole32(r->n_extents),
		.name_len = htole16((uint16_t)r->name_len),
		.tenant_len = (uint8_t)r->tenant_len,
	};

	if (r->tenant_len > FAMFS_TENANT_MAX || r->n_extents > FAMFS_MAX_EXTENTS)
		return -EINVAL;
	return put(buf, size, at, &c, sizeof(c)) ?:
	       put(buf, size, at, r->extents, r->n_extents * sizeof(*r->extents)) ?:
	       put(buf, size, at, r->name, r->name_len) ?:
	       put(buf, size, at, r->tenant, r->tenant_len);
}

static int build_delete(const struct famfs_rec *r, uint8_t *buf, size_t size,
			size_t *at)
{
	struct famfs_rec_delete d = {
		.ino = htole64(r->ino), .parent = htole64(r->parent),
		.name_len = htole16((uint16_t)r->name_len),
	};

	return put(buf, size, at, &d, sizeof(d)) ?:
	       put(buf, size, at, r->name, r->name_len);
}

static int build_quota(const struct famfs_rec *r, uint8_t *buf, size_t size,
		       size_t *at)
{
	struct famfs_rec_quota q = {
		.max_bytes = htole64(r->max_bytes),
		.max_files = htole64(r->max_files),
		.tenant_len = (uint8_t)r->tenant_len,
	};

	if (r->tenant_len > FAMFS_TENANT_MAX)
		return -EINVAL;
	return put(buf, size, at, &q, sizeof(q)) ?:
	       put(buf, size, at, r->tenant, r->tenant_len);
}

static int build_reclaim(const struct famfs_rec *r, uint8_t *buf, size_t size,
			 size_t *at)
{
	struct famfs_rec_reclaim c = {
		.ino = htole64(r->ino), .delete_seq = htole64(r->delete_seq),
	};

	if (!r->n_reclaims)
		return put(buf, size, at, &c, sizeof(c));
	if (r->n_reclaims > FAMFS_RECLAIM_MAX)
		return -EINVAL;
	return put(buf, size, at, r->reclaims, r->n_reclaims * sizeof(c));
}

static int build_pending(const struct famfs_rec *r, uint8_t *buf, size_t size,
			 size_t *at)
{
	struct famfs_rec_pending pd = {
		.ino = htole64(r->ino), .delete_seq = htole64(r->delete_seq),
		.n_extents = htole32(r->n_extents),
	};

	if (r->n_extents > FAMFS_MAX_EXTENTS)
		return -EINVAL;
	return put(buf, size, at, &pd, sizeof(pd)) ?:
	       put(buf, size, at, r->extents, r->n_extents * sizeof(*r->extents));
}

int famfs_rec_build(const struct famfs_rec *r, void *buf, size_t buf_size)
{
	size_t at = 0;
	int err;

	if (buf_size > FAMFS_REC_PAYLOAD_MAX)
		buf_size = FAMFS_REC_PAYLOAD_MAX;
	if (r->name_len > FAMFS_NAME_MAX)
		return -EINVAL;
	switch (r->type) {
	case FAMFS_REC_MKDIR:
		err = build_mkdir(r, buf, buf_size, &at);
		break;
	case FAMFS_REC_CREATE:
		err = build_create(r, buf, buf_size, &at);
		break;
	case FAMFS_REC_DELETE:
		err = build_delete(r, buf, buf_size, &at);
		break;
	case FAMFS_REC_SET_QUOTA:
		err = build_quota(r, buf, buf_size, &at);
		break;
	case FAMFS_REC_RECLAIM:
		err = build_reclaim(r, buf, buf_size, &at);
		break;
	case FAMFS_REC_PENDING:
		err = build_pending(r, buf, buf_size, &at);
		break;
	default:
		err = -EINVAL;
	}
	return err < 0 ? err : (int)at;
}

/*
 * Decoders: p is the payload of n bytes. Each checks that its fixed part and
 * every variable part fit, and that the record has no unexplained bytes
 * beyond the 8-byte padding.
 */
#define TAIL_OK(used, n) ((used) <= (n) && (n) - (used) < FAMFS_REC_ALIGN)

static const char *decode_mkdir(const uint8_t *p, size_t n, struct famfs_rec *r)
{
	struct famfs_rec_mkdir m;

	if (n < sizeof(m))
		return "mkdir record too short";
	memcpy(&m, p, sizeof(m));
	r->ino = le64toh(m.ino);
	r->parent = le64toh(m.parent);
	r->mtime_ns = le64toh(m.mtime_ns);
	r->mode = le32toh(m.mode);
	r->uid = le32toh(m.uid);
	r->gid = le32toh(m.gid);
	r->name_len = le16toh(m.name_len);
	r->name = (const char *)p + sizeof(m);
	if (!TAIL_OK(sizeof(m) + r->name_len, n))
		return "mkdir record length does not match its name";
	return NULL;
}

static const char *decode_create(const uint8_t *p, size_t n, struct famfs_rec *r)
{
	struct famfs_rec_create c;
	size_t used;

	if (n < sizeof(c))
		return "create record too short";
	memcpy(&c, p, sizeof(c));
	r->ino = le64toh(c.ino);
	r->parent = le64toh(c.parent);
	r->size = le64toh(c.size);
	r->mtime_ns = le64toh(c.mtime_ns);
	r->mode = le32toh(c.mode);
	r->uid = le32toh(c.uid);
	r->gid = le32toh(c.gid);
	r->n_extents = le32toh(c.n_extents);
	r->name_len = le16toh(c.name_len);
	r->tenant_len = c.tenant_len;
	if (r->n_extents > FAMFS_MAX_EXTENTS)
		return "create record has too many extents";
	used = sizeof(c) + (size_t)r->n_extents * sizeof(struct famfs_extent);
	r->extents = (const struct famfs_extent *)(p + sizeof(c));
	r->name = (const char *)p + used;
	used += r->name_len;
	r->tenant = (const char *)p + used;
	used += r->tenant_len;
	if (!TAIL_OK(used, n))
		return "create record length does not match its contents";
	return NULL;
}

static const char *decode_delete(const uint8_t *p, size_t n, struct famfs_rec *r)
{
	struct famfs_rec_delete d;

	if (n < sizeof(d))
		return "delete record too short";
	memcpy(&d, p, sizeof(d));
	r->ino = le64toh(d.ino);
	r->parent = le64toh(d.parent);
	r->name_len = le16toh(d.name_len);
	r->name = (const char *)p + sizeof(d);
	if (!TAIL_OK(sizeof(d) + r->name_len, n))
		return "delete record length does not match its name";
	return NULL;
}

static const char *decode_quota(const uint8_t *p, size_t n, struct famfs_rec *r)
{
	struct famfs_rec_quota q;

	if (n < sizeof(q))
		return "set_quota record too short";
	memcpy(&q, p, sizeof(q));
	r->max_bytes = le64toh(q.max_bytes);
	r->max_files = le64toh(q.max_files);
	r->tenant_len = q.tenant_len;
	r->tenant = (const char *)p + sizeof(q);
	if (!TAIL_OK(sizeof(q) + r->tenant_len, n))
		return "set_quota record length does not match its tenant";
	return NULL;
}

static const char *decode_reclaim(const uint8_t *p, size_t n,
				  struct famfs_rec *r)
{
	size_t k = n / sizeof(struct famfs_rec_reclaim);
	struct famfs_rec_reclaim c;

	if (k == 0)
		return "reclaim record too short";
	if (k > FAMFS_RECLAIM_MAX)
		return "reclaim record has too many entries";
	if (!TAIL_OK(k * sizeof(c), n))
		return "reclaim record has trailing bytes";
	memcpy(&c, p, sizeof(c));
	r->ino = le64toh(c.ino);
	r->delete_seq = le64toh(c.delete_seq);
	r->reclaims = (const struct famfs_rec_reclaim *)p;
	r->n_reclaims = (uint32_t)k;
	return NULL;
}

static const char *decode_pending(const uint8_t *p, size_t n,
				  struct famfs_rec *r)
{
	struct famfs_rec_pending pd;
	size_t used;

	if (n < sizeof(pd))
		return "pending item too short";
	memcpy(&pd, p, sizeof(pd));
	r->ino = le64toh(pd.ino);
	r->delete_seq = le64toh(pd.delete_seq);
	r->n_extents = le32toh(pd.n_extents);
	if (r->n_extents > FAMFS_MAX_EXTENTS)
		return "pending item has too many extents";
	used = sizeof(pd) + (size_t)r->n_extents * sizeof(struct famfs_extent);
	r->extents = (const struct famfs_extent *)(p + sizeof(pd));
	if (!TAIL_OK(used, n))
		return "pending item length does not match its extents";
	return NULL;
}

int famfs_rec_decode(const struct famfs_rec_hdr *h, struct famfs_rec *ret,
		     const char **reason)
{
	const uint8_t *p = (const uint8_t *)(h + 1);
	size_t n = le32toh(h->len) - sizeof(*h);
	struct famfs_rec r = { 0 };
	const char *why;

	r.hdr = h;
	r.type = le16toh(h->type);
	r.seq = le64toh(h->seq);
	r.epoch = le64toh(h->epoch);
	switch (r.type) {
	case FAMFS_REC_MKDIR:
		why = decode_mkdir(p, n, &r);
		break;
	case FAMFS_REC_CREATE:
		why = decode_create(p, n, &r);
		break;
	case FAMFS_REC_DELETE:
		why = decode_delete(p, n, &r);
		break;
	case FAMFS_REC_SET_QUOTA:
		why = decode_quota(p, n, &r);
		break;
	case FAMFS_REC_RECLAIM:
		why = decode_reclaim(p, n, &r);
		break;
	case FAMFS_REC_PENDING:
		why = decode_pending(p, n, &r);
		break;
	default:
		why = "unknown record type";
	}
	if (!why && r.name_len > FAMFS_NAME_MAX)
		why = "name longer than 255 bytes";
	if (why) {
		*reason = why;
		return -EUCLEAN;
	}
	*ret = r;
	return 0;
}
