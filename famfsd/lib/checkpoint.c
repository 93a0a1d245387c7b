// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "record.h"

struct writer {
	const struct famfs_state *st;
	struct famfs_log *log;
	uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	struct famfs_extent ext[FAMFS_MAX_EXTENTS];	/* little-endian */
};

static int put_item(struct writer *w, const struct famfs_rec *r)
{
	int len = famfs_rec_build(r, w->buf, sizeof(w->buf));

	if (len < 0)
		return len;
	/* C2: one item into both copies, its lines flushed. */
	return famfs_log_ckpt_add(w->log, r->type, r->seq, w->st->last_epoch,
				  w->buf, (uint32_t)len);
}

/* Extents in host order to the record's little-endian form. */
static const struct famfs_extent *le_extents(struct writer *w,
					     const struct famfs_extent *e,
					     uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		w->ext[i].offset = htole64(e[i].offset);
		w->ext[i].len = htole64(e[i].len);
	}
	return w->ext;
}

static int put_quotas(struct writer *w)
{
	uint32_t n = famfs_tenants_count(w->st->tenants);

	for (uint32_t id = 1; id <= n; id++) {
		const struct famfs_tenant *tn = famfs_tenants_by_id(w->st->tenants, id);
		struct famfs_rec r = {
			.type = FAMFS_REC_SET_QUOTA, .max_bytes = tn->max_bytes,
			.max_files = tn->max_files, .tenant = tn->name,
			.tenant_len = (uint32_t)strlen(tn->name),
		};
		int err = put_item(w, &r);

		if (err < 0)
			return err;
	}
	return 0;
}

static int put_node(struct writer *w, const struct famfs_node *n)
{
	const struct famfs_tenant *tn = famfs_tenants_by_id(w->st->tenants,
							    n->tenant);
	struct famfs_rec r = {
		.type = famfs_node_is_dir(n) ? FAMFS_REC_MKDIR : FAMFS_REC_CREATE,
		.seq = n->seq, .ino = n->ino, .parent = n->parent->ino,
		.size = n->size, .mtime_ns = n->mtime_ns, .mode = n->mode & 07777,
		.uid = n->uid, .gid = n->gid, .name = n->name,
		.name_len = n->name_len,
	};

	if (!famfs_node_is_dir(n)) {
		r.n_extents = n->n_extents;
		r.extents = le_extents(w, famfs_node_extents(n), n->n_extents);
		if (tn) {
			r.tenant = tn->name;
			r.tenant_len = (uint32_t)strlen(tn->name);
		}
	}
	return put_item(w, &r);
}

/*
 * Every node below the root, parents first: a walk down the tree that
 * keeps no stack (each node knows its parent and next sibling), so a deep
 * tree costs nothing extra.
 */
static int put_tree(struct writer *w)
{
	const struct famfs_node *root = famfs_ns_root(w->st->ns);
	const struct famfs_node *n = root->dir.first;
	int err;

	while (n) {
		err = put_node(w, n);
		if (err < 0)
			return err;
		if (famfs_node_is_dir(n) && n->dir.first) {
			n = n->dir.first;
			continue;
		}
		while (n != root && !n->next)
			n = n->parent;
		n = n == root ? NULL : n->next;
	}
	return 0;
}

static int put_pending(struct writer *w)
{
	for (const struct famfs_pending *p = w->st->pending_first; p; p = p->next) {
		struct famfs_rec r = {
			.type = FAMFS_REC_PENDING, .seq = p->delete_seq,
			.ino = p->ino, .delete_seq = p->delete_seq,
			.n_extents = p->n_extents,
			.extents = le_extents(w, p->extents, p->n_extents),
		};
		int err = put_item(w, &r);

		if (err < 0)
			return err;
	}
	return 0;
}

int famfs_ckpt_put_items(const struct famfs_state *st, struct famfs_log *log)
{
	struct writer *w = malloc(sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->st = st;
	w->log = log;
	err = put_quotas(w);
	if (err == 0)
		err = put_tree(w);
	if (err == 0)
		err = put_pending(w);
	free(w);
	return err;
}

int famfs_ckpt_seal(const struct famfs_state *st, struct famfs_log *log)
{
	struct famfs_log_base base = {
		.seq = st->last_seq, .epoch = st->last_epoch, .max_ino = st->max_ino,
	};

	return famfs_log_ckpt_seal(log, &base);
}

int famfs_ckpt_write(const struct famfs_state *st, struct famfs_log *log)
{
	int err = famfs_ckpt_put_items(st, log);

	if (err == 0)
		err = famfs_ckpt_seal(st, log);
	return err;
}
