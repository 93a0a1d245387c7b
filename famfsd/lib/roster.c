// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent roster: two copies of 256 entries in the pool, written only by
 * the active master (see roster.h for the write steps R-W1 and R-W2).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crc.h"
#include "guard.h"
#include "roster.h"

#define COPY_BYTES	(FAMFS_ROSTER_ENTRIES * FAMFS_ROSTER_ENTRY_SIZE)

struct famfs_roster {
	struct famfs_roster_info e[FAMFS_ROSTER_ENTRIES];
	enum famfs_roster_health h[FAMFS_ROSTER_ENTRIES];
};

static const uint64_t copy_off[FAMFS_ROSTER_COPIES] = {
	FAMFS_ROSTER_OFFSET, FAMFS_ROSTER_COPY1,
};

bool famfs_roster_fits(uint64_t log_offset)
{
	return log_offset >= FAMFS_ROSTER_COPY1 + COPY_BYTES;
}

static struct famfs_roster_entry *entry_at(const uint8_t *base,
					   unsigned int copy, unsigned int i)
{
	return (struct famfs_roster_entry *)(uintptr_t)(base + copy_off[copy] +
		(uint64_t)i * FAMFS_ROSTER_ENTRY_SIZE);
}

/* The ids agents may have (master/api/agents.c checks the same). */
static bool id_valid(const char *id, size_t len)
{
	if (!len || len > FAMFS_AGENT_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == ':' || c == '-'))
			return false;
	}
	return true;
}

static bool state_valid(uint32_t s)
{
	return s == FAMFS_ROSTER_LIVE || s == FAMFS_ROSTER_EVICTED;
}

/* Another host (an earlier master) wrote it: drop our lines, then copy. */
static bool entry_copy(const struct famfs_roster_entry *src,
		       const struct famfs_cache_ops *ops,
		       struct famfs_roster_entry *ret)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	ops->invalidate(src, sizeof(*src));
	ops->rfence();
	memcpy(ret, src, sizeof(*ret));
	famfs_guard_end(&g);
	return true;
}

/* Checks and decodes a private copy; -ENOENT, -EUCLEAN or 0. */
static int entry_decode(const struct famfs_roster_entry *c, unsigned int i,
			struct famfs_roster_info *ret)
{
	static const struct famfs_roster_entry zero;
	size_t id_len;

	if (memcmp(c, &zero, sizeof(zero)) == 0)
		return -ENOENT;
	if (le32toh(c->crc) != famfs_crc_struct(c, sizeof(*c)) ||
	    le64toh(c->magic) != FAMFS_ROSTER_MAGIC ||
	    le32toh(c->index) != i || !state_valid(le32toh(c->state)))
		return -EUCLEAN;
	id_len = strnlen(c->id, sizeof(c->id));
	if (!id_valid(c->id, id_len))
		return -EUCLEAN;
	memset(ret, 0, sizeof(*ret));
	ret->index = i;
	ret->state = (enum famfs_roster_state)le32toh(c->state);
	ret->epoch = le64toh(c->epoch);
	ret->seq = le64toh(c->seq);
	memcpy(ret->id, c->id, id_len);
	memcpy(ret->host, c->host, strnlen(c->host, sizeof(c->host)));
	return 0;
}

int famfs_roster_read_entry(const uint8_t *base,
			    const struct famfs_cache_ops *ops,
			    unsigned int copy, unsigned int i,
			    struct famfs_roster_info *ret)
{
	struct famfs_roster_entry c;

	if (copy >= FAMFS_ROSTER_COPIES || i >= FAMFS_ROSTER_ENTRIES)
		return -EINVAL;
	if (!entry_copy(entry_at(base, copy, i), ops, &c))
		return -EIO;
	return entry_decode(&c, i, ret);
}

int famfs_roster_write_entry(uint8_t *base, const struct famfs_cache_ops *ops,
			     unsigned int copy,
			     const struct famfs_roster_info *in)
{
	size_t id_len = strnlen(in->id, sizeof(in->id));
	struct famfs_roster_entry tmp = {
		.magic = htole64(FAMFS_ROSTER_MAGIC),
		.index = htole32(in->index),
		.state = htole32((uint32_t)in->state),
		.epoch = htole64(in->epoch),
		.seq = htole64(in->seq),
	}, *dst;
	struct famfs_guard g;

	if (copy >= FAMFS_ROSTER_COPIES || in->index >= FAMFS_ROSTER_ENTRIES ||
	    !state_valid((uint32_t)in->state) || !id_valid(in->id, id_len))
		return -EINVAL;
	memcpy(tmp.id, in->id, id_len);
	memcpy(tmp.host, in->host, strnlen(in->host, FAMFS_HOST_MAX));
	tmp.crc = htole32(famfs_crc_struct(&tmp, sizeof(tmp)));
	dst = entry_at(base, copy, in->index);
	/* A line that faults loses the write; the next read says -EIO. */
	if (!famfs_guard_begin(&g))
		return -EIO;
	memcpy(dst, &tmp, sizeof(tmp));
	/*
	 * R-W1 (copy 0) or R-W2 (copy 1): this copy is in the pool before
	 * the next step, the other copy's store or the acknowledgement.
	 */
	ops->flush(dst, sizeof(*dst));
	ops->wfence();
	famfs_guard_end(&g);
	return 0;
}

void famfs_roster_clear(uint8_t *base, const struct famfs_cache_ops *ops)
{
	for (unsigned int c = 0; c < FAMFS_ROSTER_COPIES; c++) {
		memset(base + copy_off[c], 0, COPY_BYTES);
		ops->flush(base + copy_off[c], COPY_BYTES);
	}
	/* mkfs: no entry of an old pool's roster survives into the new one. */
	ops->wfence();
}

static bool info_equal(const struct famfs_roster_info *a,
		       const struct famfs_roster_info *b)
{
	return a->state == b->state && a->epoch == b->epoch &&
	       a->seq == b->seq && strcmp(a->id, b->id) == 0 &&
	       strcmp(a->host, b->host) == 0;
}

/*
 * What two copies of one index say. Copy 0 is written first, so when
 * both are good but differ, copy 0 is the newer (a crash between R-W1 and
 * R-W2). Copy 0 bad beside an empty copy 1 is a first write cut inside
 * R-W1: never acknowledged, so empty. Any other pair without a good copy
 * is damage: someone may be there, and nobody can say who.
 */
static enum famfs_roster_health pick(int r0, const struct famfs_roster_info *e0,
				     int r1, const struct famfs_roster_info *e1,
				     struct famfs_roster_info *ret)
{
	if (r0 == 0) {
		*ret = *e0;
		return r1 == 0 && info_equal(e0, e1) ? FAMFS_ROSTER_H_OK :
						       FAMFS_ROSTER_H_MEND;
	}
	if (r1 == 0) {
		*ret = *e1;
		return FAMFS_ROSTER_H_MEND;
	}
	if (r0 == -ENOENT && r1 == -ENOENT)
		return FAMFS_ROSTER_H_EMPTY;
	if (r0 == -EUCLEAN && r1 == -ENOENT)
		return FAMFS_ROSTER_H_EMPTY;
	return FAMFS_ROSTER_H_LOST;
}

int famfs_roster_load(const uint8_t *base, const struct famfs_cache_ops *ops,
		      struct famfs_roster **ret)
{
	struct famfs_roster *r = calloc(1, sizeof(*r));
	struct famfs_roster_info e0, e1;

	if (!r)
		return -ENOMEM;
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		int r0 = famfs_roster_read_entry(base, ops, 0, i, &e0);
		int r1 = famfs_roster_read_entry(base, ops, 1, i, &e1);

		r->h[i] = pick(r0, &e0, r1, &e1, &r->e[i]);
		r->e[i].index = i;
	}
	*ret = r;
	return 0;
}

void famfs_roster_free(struct famfs_roster *r)
{
	free(r);
}

enum famfs_roster_health famfs_roster_health(const struct famfs_roster *r,
					     unsigned int i)
{
	return i < FAMFS_ROSTER_ENTRIES ? r->h[i] : FAMFS_ROSTER_H_EMPTY;
}

const struct famfs_roster_info *famfs_roster_get(const struct famfs_roster *r,
						 unsigned int i)
{
	if (i >= FAMFS_ROSTER_ENTRIES || r->h[i] == FAMFS_ROSTER_H_EMPTY ||
	    r->h[i] == FAMFS_ROSTER_H_LOST)
		return NULL;
	return &r->e[i];
}

int famfs_roster_find(const struct famfs_roster *r, const char *id)
{
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
		if (famfs_roster_get(r, i) && strcmp(r->e[i].id, id) == 0)
			return (int)i;
	return -ENOENT;
}

unsigned int famfs_roster_to_mend(const struct famfs_roster *r)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
		n += r->h[i] == FAMFS_ROSTER_H_MEND;
	return n;
}

/* Where a new id goes: the first empty index, else the first evicted. */
static int free_index(const struct famfs_roster *r)
{
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
		if (r->h[i] == FAMFS_ROSTER_H_EMPTY)
			return (int)i;
	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++)
		if (famfs_roster_get(r, i) &&
		    r->e[i].state == FAMFS_ROSTER_EVICTED)
			return (int)i;
	return -ENOSPC;
}

/* R-W1 then R-W2, each after may_write said yes. */
static int write_both(uint8_t *base, const struct famfs_cache_ops *ops,
		      const struct famfs_roster_info *in,
		      famfs_roster_may_write_fn may_write, void *ctx)
{
	for (unsigned int c = 0; c < FAMFS_ROSTER_COPIES; c++) {
		int err = may_write ? may_write(ctx) : 0;

		if (!err)
			err = famfs_roster_write_entry(base, ops, c, in);
		if (err)
			return err;
	}
	return 0;
}

int famfs_roster_set(struct famfs_roster *r, uint8_t *base,
		     const struct famfs_cache_ops *ops, unsigned int i,
		     const char *id, const char *host,
		     enum famfs_roster_state state, uint64_t epoch,
		     uint64_t seq, famfs_roster_may_write_fn may_write,
		     void *ctx)
{
	struct famfs_roster_info in = {
		.index = i, .state = state, .epoch = epoch, .seq = seq,
	};
	size_t id_len = strlen(id);
	int err;

	if (i >= FAMFS_ROSTER_ENTRIES || !id_valid(id, id_len) ||
	    !state_valid((uint32_t)state))
		return -EINVAL;
	memcpy(in.id, id, id_len);
	if (host)
		memcpy(in.host, host, strnlen(host, FAMFS_HOST_MAX));
	err = write_both(base, ops, &in, may_write, ctx);
	if (err)
		return err;
	r->e[i] = in;
	r->h[i] = FAMFS_ROSTER_H_OK;
	return 0;
}

int famfs_roster_put(struct famfs_roster *r, uint8_t *base,
		     const struct famfs_cache_ops *ops, const char *id,
		     const char *host, enum famfs_roster_state state,
		     uint64_t epoch, uint64_t seq,
		     famfs_roster_may_write_fn may_write, void *ctx)
{
	int i, err;

	if (!id_valid(id, strlen(id)) || !state_valid((uint32_t)state))
		return -EINVAL;
	i = famfs_roster_find(r, id);
	if (i < 0)
		i = free_index(r);
	if (i < 0)
		return i;
	err = famfs_roster_set(r, base, ops, (unsigned int)i, id, host, state,
			       epoch, seq, may_write, ctx);
	return err ? err : i;
}

int famfs_roster_mend(struct famfs_roster *r, uint8_t *base,
		      const struct famfs_cache_ops *ops,
		      famfs_roster_may_write_fn may_write, void *ctx)
{
	int n = 0;

	for (unsigned int i = 0; i < FAMFS_ROSTER_ENTRIES; i++) {
		int err;

		if (r->h[i] != FAMFS_ROSTER_H_MEND)
			continue;
		err = write_both(base, ops, &r->e[i], may_write, ctx);
		if (err)
			return err;
		r->h[i] = FAMFS_ROSTER_H_OK;
		n++;
	}
	return n;
}
