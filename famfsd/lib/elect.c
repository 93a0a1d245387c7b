// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Master election and lease over the pool's election slots. The protocol,
 * step by step with the barrier of each step and why a crash between two
 * steps is safe, is docs/failover.md ("Time", "Steps"); the comments at
 * each barrier below name the step they belong to.
 *
 * Every slot is one register with a single writer (its owner) and many
 * readers. Reads go to a private copy, checked there; a read overlapping a
 * write may see the old value, the new one, or torn bytes (-EUCLEAN, read
 * again). Nothing else is shared between hosts.
 */
#include <endian.h>
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "crc.h"
#include "elect.h"
#include "guard.h"

/* A torn read is a write in flight; it settles within a few reads. */
#define ELECT_READ_TRIES	4
/* Ballots b = round * ELECT_BALLOT_STRIDE + slot + 1: unique per slot. */
#define ELECT_BALLOT_STRIDE	32u
/* Above this, an epoch, ballot or sequence is garbage, not a value. */
#define ELECT_VALUE_MAX		(1ull << 62)
#define ELECT_LEASE_MIN		1000ull			/* 1 us */
#define ELECT_LEASE_MAX		(3600ull * 1000000000ull)	/* 1 h */

/* What a watcher remembers of one slot: its value and when it first saw it. */
struct elect_seen {
	bool have;
	int status;
	uint64_t heartbeat;
	uint8_t run_uuid[16];
	uint32_t state;
	uint32_t raw_crc;		/* of the raw bytes, for unreadable slots */
	uint64_t since_ns;		/* our clock, right after the first read */
	uint64_t lease_ns;		/* the longest W the slot ever showed */
};

struct famfs_elect {
	uint8_t *base;
	const struct famfs_cache_ops *ops;
	unsigned int slot;
	uint64_t lease_ns, renew_ns, fresh_ns;	/* W, R, F */
	uint64_t (*now)(void);
	struct famfs_elect_slot_info me;	/* what our slot holds */
	struct elect_seen seen[FAMFS_ELECT_SLOTS];
	bool watch_member[FAMFS_ELECT_SLOTS];	/* timed by the last watch */
	bool beaten;
	uint64_t last_beat_ns;
	uint64_t rng;
	bool active;
	_Atomic uint64_t deadline_ns;		/* may write before this */
	_Atomic uint64_t not_before_ns;		/* force: not before this */
	_Atomic bool fenced;
};

/*
 * What the lines of bad bytes still say. A store in flight, or one a host
 * stopped in the middle of (SIGSTOP between two line flushes, for longer
 * than W), leaves each 64-byte line either old or new: both are values
 * the owner wrote. Line 0 holds magic, index, state and epoch; line 1
 * inst and mbal. The renewal must not miss what either shows.
 */
struct elect_torn {
	bool line0, line1;
	uint64_t epoch, inst, mbal, bal, inp;
};

/* All slots as one scan saw them, plus what the protocol derives. */
struct elect_scan {
	struct famfs_elect_view v;
	uint32_t raw_crc[FAMFS_ELECT_SLOTS];
	struct elect_torn torn[FAMFS_ELECT_SLOTS];	/* of the -EUCLEAN ones */
	unsigned int n_unknown;		/* slots unreadable after retries */
	uint64_t top_epoch;		/* highest epoch field, any state */
	uint64_t top_bal_inst;		/* highest inst with a phase 2 value */
	uint64_t top_mbal_inst;		/* highest inst with any ballot */
	int candidate;			/* slot a higher election chose; -1 */
};

/*
 * CLOCK_BOOTTIME: CLOCK_MONOTONIC stands still while the host is
 * suspended, so a master suspended past W would wake believing its lease
 * still runs while a standby had taken over (docs/failover.md, "Time").
 */
static uint64_t real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct famfs_elect_slot *slot_at(const uint8_t *base, unsigned int i)
{
	return (struct famfs_elect_slot *)(uintptr_t)(base + FAMFS_ELECT_OFFSET +
						      (size_t)i * FAMFS_ELECT_SLOT_SIZE);
}

/*
 * Any read of a slot: drop our cached lines (another host wrote them),
 * order that before the loads, copy under a guard. False when it faults.
 */
static bool slot_copy(const uint8_t *base, const struct famfs_cache_ops *ops,
		      unsigned int i, struct famfs_elect_slot *ret)
{
	const struct famfs_elect_slot *src = slot_at(base, i);
	struct famfs_guard g;

	if (!famfs_guard_begin(&g))
		return false;
	ops->invalidate(src, sizeof(*src));
	ops->rfence();
	memcpy(ret, src, sizeof(*ret));
	famfs_guard_end(&g);
	return true;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Checks of a CRC-clean copy: a buggy or foreign writer is still refused. */
static bool decoded_sane(const struct famfs_elect_slot_info *s)
{
	if (s->state > FAMFS_ELECT_STOPPED)
		return false;
	if (s->epoch >= ELECT_VALUE_MAX || s->inst >= ELECT_VALUE_MAX ||
	    s->mbal >= ELECT_VALUE_MAX || s->bal > s->mbal ||
	    s->inp > FAMFS_ELECT_SLOTS)
		return false;
	if (s->bal && !s->inp)
		return false;
	return s->lease_ns >= ELECT_LEASE_MIN && s->lease_ns <= ELECT_LEASE_MAX;
}

static int slot_decode(const struct famfs_elect_slot *c, unsigned int i,
		       struct famfs_elect_slot_info *ret)
{
	if (all_zero(c, sizeof(*c)))
		return -ENOENT;
	if (le64toh(c->magic) != FAMFS_ELECT_MAGIC || le32toh(c->slot) != i ||
	    le32toh(c->crc) != famfs_crc_struct(c, sizeof(*c)))
		return -EUCLEAN;
	ret->slot = i;
	ret->state = (enum famfs_elect_state)le32toh(c->state);
	memcpy(ret->run_uuid, c->run_uuid, 16);
	ret->heartbeat = le64toh(c->heartbeat);
	ret->lease_ns = le64toh(c->lease_ns);
	ret->epoch = le64toh(c->epoch);
	ret->epoch_start_seq = le64toh(c->epoch_start_seq);
	ret->applied_seq = le64toh(c->applied_seq);
	ret->inst = le64toh(c->inst);
	ret->mbal = le64toh(c->mbal);
	ret->bal = le64toh(c->bal);
	ret->inp = le64toh(c->inp);
	ret->pid = le32toh(c->pid);
	memcpy(ret->host, c->host, FAMFS_HOST_MAX);
	ret->host[FAMFS_HOST_MAX] = '\0';
	memcpy(ret->url, c->url, FAMFS_URL_MAX);
	ret->url[FAMFS_URL_MAX] = '\0';
	return decoded_sane(ret) ? 0 : -EUCLEAN;
}


static void torn_decode(const struct famfs_elect_slot *c, unsigned int i,
			struct elect_torn *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (le64toh(c->magic) != FAMFS_ELECT_MAGIC || le32toh(c->slot) != i)
		return;			/* not ours to read: garbage */
	ret->line0 = le64toh(c->epoch) < ELECT_VALUE_MAX;
	ret->epoch = ret->line0 ? le64toh(c->epoch) : 0;
	ret->line1 = le64toh(c->inst) < ELECT_VALUE_MAX &&
		     le64toh(c->mbal) < ELECT_VALUE_MAX &&
		     le64toh(c->bal) <= le64toh(c->mbal) &&
		     le64toh(c->inp) <= FAMFS_ELECT_SLOTS &&
		     (!c->bal || c->inp);
	if (!ret->line1)
		return;
	ret->inst = le64toh(c->inst);
	ret->mbal = le64toh(c->mbal);
	ret->bal = le64toh(c->bal);
	ret->inp = le64toh(c->inp);
}

_Static_assert(offsetof(struct famfs_elect_slot, epoch) < FAMFS_CACHELINE &&
	       offsetof(struct famfs_elect_slot, inst) >= FAMFS_CACHELINE &&
	       offsetof(struct famfs_elect_slot, inp) + 8 <= 2 * FAMFS_CACHELINE,
	       "torn_decode reads epoch from line 0, the Disk Paxos block from line 1");

/*
 * One read; raw_crc (may be NULL) gets a fingerprint of the bytes as
 * read, torn (may be NULL) what bad bytes still say.
 */
static int slot_read(const uint8_t *base, const struct famfs_cache_ops *ops,
		     unsigned int i, struct famfs_elect_slot_info *ret,
		     uint32_t *raw_crc, struct elect_torn *torn)
{
	struct famfs_elect_slot copy;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->slot = i;
	if (raw_crc)
		*raw_crc = 0;		/* a faulting slot's fingerprint */
	if (i >= FAMFS_ELECT_SLOTS)
		return -EINVAL;
	if (!slot_copy(base, ops, i, &copy))
		return -EIO;
	/*
	 * A fingerprint of the bytes. Not the CRC over the crc field too:
	 * that is one constant for every clean slot (the CRC's residue).
	 */
	if (raw_crc)
		*raw_crc = famfs_crc_struct(&copy, sizeof(copy)) +
			   0x9e3779b9u * le32toh(copy.crc);
	r = slot_decode(&copy, i, ret);
	if (r < 0) {
		memset(ret, 0, sizeof(*ret));
		ret->slot = i;
	}
	if (torn && r == -EUCLEAN)
		torn_decode(&copy, i, torn);
	return r;
}

int famfs_elect_read(const uint8_t *base, const struct famfs_cache_ops *ops,
		     unsigned int i, struct famfs_elect_slot_info *ret)
{
	return slot_read(base, ops, i, ret, NULL, NULL);
}

/* A read that retries torn bytes: a write in flight settles. */
static int slot_read_torn(const uint8_t *base, const struct famfs_cache_ops *ops,
			  unsigned int i, struct famfs_elect_slot_info *ret,
			  uint32_t *raw_crc, struct elect_torn *torn)
{
	int r = -EUCLEAN;

	for (int t = 0; t < ELECT_READ_TRIES && r == -EUCLEAN; t++) {
		if (t)
			sched_yield();
		r = slot_read(base, ops, i, ret, raw_crc, torn);
	}
	return r;
}

static int slot_read_settled(const uint8_t *base,
			     const struct famfs_cache_ops *ops, unsigned int i,
			     struct famfs_elect_slot_info *ret, uint32_t *raw_crc)
{
	return slot_read_torn(base, ops, i, ret, raw_crc, NULL);
}

int famfs_elect_write(uint8_t *base, const struct famfs_cache_ops *ops,
		      const struct famfs_elect_slot_info *in)
{
	struct famfs_elect_slot tmp, *dst;
	struct famfs_guard g;

	if (in->slot >= FAMFS_ELECT_SLOTS)
		return -EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	tmp.magic = htole64(FAMFS_ELECT_MAGIC);
	tmp.slot = htole32(in->slot);
	tmp.state = htole32((uint32_t)in->state);
	memcpy(tmp.run_uuid, in->run_uuid, 16);
	tmp.heartbeat = htole64(in->heartbeat);
	tmp.lease_ns = htole64(in->lease_ns);
	tmp.epoch = htole64(in->epoch);
	tmp.epoch_start_seq = htole64(in->epoch_start_seq);
	tmp.applied_seq = htole64(in->applied_seq);
	tmp.inst = htole64(in->inst);
	tmp.mbal = htole64(in->mbal);
	tmp.bal = htole64(in->bal);
	tmp.inp = htole64(in->inp);
	tmp.pid = htole32(in->pid);
	memcpy(tmp.host, in->host, strnlen(in->host, FAMFS_HOST_MAX));
	memcpy(tmp.url, in->url, strnlen(in->url, FAMFS_URL_MAX));
	tmp.crc = htole32(famfs_crc_struct(&tmp, sizeof(tmp)));
	dst = slot_at(base, in->slot);
	/* A line that faults loses the write; the next read says -EIO. */
	if (!famfs_guard_begin(&g))
		return -EIO;
	memcpy(dst, &tmp, sizeof(tmp));
	/*
	 * Every step's store: the slot reaches the pool, and is ordered
	 * before the reads of the step that follows (docs/failover.md).
	 */
	ops->flush(dst, sizeof(*dst));
	ops->wfence();
	famfs_guard_end(&g);
	return 0;
}

/* ---- scans ------------------------------------------------------------ */

/* What the lines of a torn slot show counts as seen (struct elect_torn). */
static void scan_torn(struct elect_scan *s, const struct elect_torn *t)
{
	if (t->line0 && t->epoch > s->top_epoch)
		s->top_epoch = t->epoch;
	if (!t->line1)
		return;
	if (t->bal && t->inst > s->top_bal_inst)
		s->top_bal_inst = t->inst;
	if (t->mbal && t->inst > s->top_mbal_inst)
		s->top_mbal_inst = t->inst;
}

static void scan_derive(struct elect_scan *s)
{
	struct famfs_elect_view *v = &s->v;
	uint64_t cand_inst = 0, cand_bal = 0;

	v->active = -1;
	s->candidate = -1;
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		const struct famfs_elect_slot_info *x = &v->slot[i];

		if (v->status[i] == -EUCLEAN || v->status[i] == -EIO)
			s->n_unknown++;
		if (v->status[i] == -EUCLEAN)
			scan_torn(s, &s->torn[i]);
		if (v->status[i] != 0)
			continue;
		if (x->epoch > s->top_epoch)
			s->top_epoch = x->epoch;
		if (x->bal && x->inst > s->top_bal_inst)
			s->top_bal_inst = x->inst;
		if (x->mbal && x->inst > s->top_mbal_inst)
			s->top_mbal_inst = x->inst;
		if (x->state == FAMFS_ELECT_ACTIVE &&
		    (v->active < 0 || x->epoch > v->epoch)) {
			v->active = (int)i;
			v->epoch = x->epoch;
		}
	}
	v->highest_epoch = s->top_epoch;
	/* The value a phase 2 above the active epoch settled on, if any. */
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		const struct famfs_elect_slot_info *x = &v->slot[i];

		if (v->status[i] || !x->bal || x->inst <= v->epoch)
			continue;
		if (x->inst > cand_inst || (x->inst == cand_inst && x->bal > cand_bal)) {
			cand_inst = x->inst;
			cand_bal = x->bal;
			s->candidate = (int)x->inp - 1;
		}
	}
	if (v->active >= 0) {
		const struct famfs_elect_slot_info *a = &v->slot[v->active];

		v->epoch_start_seq = a->epoch_start_seq;
		memcpy(v->url, a->url, sizeof(v->url));
		memcpy(v->host, a->host, sizeof(v->host));
	}
}

static void scan_pool(const uint8_t *base, const struct famfs_cache_ops *ops,
		      struct elect_scan *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int r = slot_read_torn(base, ops, i, &s->v.slot[i],
				       &s->raw_crc[i], &s->torn[i]);

		s->v.status[i] = r;
		if (r != -ENOENT)
			s->v.n_used++;
	}
	scan_derive(s);
}

int famfs_elect_view(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_elect_view *ret)
{
	struct elect_scan *s = malloc(sizeof(*s));

	if (!s)
		return -ENOMEM;
	scan_pool(base, ops, s);
	*ret = s->v;
	free(s);
	return 0;
}

/* ---- one process -------------------------------------------------------- */

/* F = W / (1 + rho)^2 - R: our lease, short of anyone's W by the drift. */
static uint64_t fresh_ns(uint64_t w)
{
	unsigned __int128 one = 1000000u, d = one + FAMFS_ELECT_DRIFT_PPM;
	uint64_t f = (uint64_t)((unsigned __int128)w * one * one / (d * d));

	return f - w / 4;
}

static uint64_t rng_next(struct famfs_elect *e)
{
	/* xorshift64*: only the backoff's jitter depends on it. */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 0x2545f4914f6cdd1dull;
}

static int write_me(struct famfs_elect *e)
{
	e->me.heartbeat++;
	return famfs_elect_write(e->base, e->ops, &e->me);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};

	nanosleep(&ts, NULL);
}

static bool seen_same(const struct elect_seen *a, int status,
		      const struct famfs_elect_slot_info *x, uint32_t raw_crc)
{
	if (!a->have || a->status != status)
		return false;
	if (status == -ENOENT)
		return true;
	if (status != 0)
		return a->raw_crc == raw_crc;
	return a->heartbeat == x->heartbeat && a->state == (uint32_t)x->state &&
	       memcmp(a->run_uuid, x->run_uuid, 16) == 0;
}

/* Notes each slot's value; a new one is timed from t (after the read). */
static void seen_update(struct famfs_elect *e, const struct elect_scan *s,
			uint64_t t)
{
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		struct elect_seen *a = &e->seen[i];
		const struct famfs_elect_slot_info *x = &s->v.slot[i];
		int st = s->v.status[i];

		/* A slot's lease, not ours, says how long it may stay silent. */
		if (st == 0 && x->lease_ns > a->lease_ns)
			a->lease_ns = x->lease_ns;
		if (seen_same(a, st, x, s->raw_crc[i]))
			continue;
		a->have = true;
		a->status = st;
		a->heartbeat = x->heartbeat;
		a->state = (uint32_t)x->state;
		memcpy(a->run_uuid, x->run_uuid, 16);
		a->raw_crc = s->raw_crc[i];
		a->since_ns = t;
	}
}

/*
 * The slots a takeover must see silent: every ACTIVE one (the highest is
 * the master; a lower one may not have noticed yet), the winner a higher
 * election chose, and every slot we cannot read (it may be any of those).
 */
static void watch_members(struct famfs_elect *e, const struct elect_scan *s,
			  bool *ret)
{
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int st = s->v.status[i];

		ret[i] = false;
		if (i == e->slot)
			continue;
		if (st == -EUCLEAN || st == -EIO)
			ret[i] = true;
		else if (st == 0 && s->v.slot[i].state == FAMFS_ELECT_ACTIVE)
			ret[i] = true;
		else if ((int)i == s->candidate && st == 0 &&
			 s->v.slot[i].state == FAMFS_ELECT_STANDBY)
			ret[i] = true;
	}
}

/*
 * The W to wait for slot i: its own, as it last showed it, and never less
 * than ours (an unreadable slot may have any).
 */
static uint64_t seen_lease(const struct famfs_elect *e, unsigned int i)
{
	return e->seen[i].lease_ns > e->lease_ns ? e->seen[i].lease_ns : e->lease_ns;
}

/* The longest W of any slot seen: what a forced winner waits. */
static uint64_t longest_lease(const struct famfs_elect *e)
{
	uint64_t w = e->lease_ns;

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
		if (seen_lease(e, i) > w)
			w = seen_lease(e, i);
	return w;
}

/* Vacant: every member showed one value for at least its W of our clock. */
static bool watch_vacant(const struct famfs_elect *e, const bool *member,
			 uint64_t t)
{
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++)
		if (member[i] && t - e->seen[i].since_ns < seen_lease(e, i))
			return false;
	return true;
}

/* Reads all, times the values, recomputes whom to watch. */
static bool watch_scan(struct famfs_elect *e, struct elect_scan *s)
{
	uint64_t t;

	scan_pool(e->base, e->ops, s);
	t = e->now();
	seen_update(e, s, t);
	watch_members(e, s, e->watch_member);
	return watch_vacant(e, e->watch_member, t);
}

uint64_t famfs_elect_renew_ns(const struct famfs_elect *e)
{
	return e->renew_ns;
}

int famfs_elect_watch(struct famfs_elect *e, uint64_t applied_seq,
		      struct famfs_elect_view *ret)
{
	struct elect_scan *s = malloc(sizeof(*s));
	bool vacant;
	uint64_t t;
	int r = 0;

	if (!s)
		return -ENOMEM;
	vacant = watch_scan(e, s);
	t = e->now();
	if (s->top_epoch > e->me.epoch)
		e->me.epoch = s->top_epoch;
	if (!e->active && (!e->beaten || t - e->last_beat_ns >= e->renew_ns)) {
		/* Standby beat: others see this process alive (W/4). */
		e->me.state = FAMFS_ELECT_STANDBY;
		e->me.applied_seq = applied_seq;
		r = write_me(e);
		e->beaten = true;
		e->last_beat_ns = t;
	}
	if (ret)
		*ret = s->v;
	free(s);
	if (r < 0)
		return r;
	return vacant ? FAMFS_ELECT_VACANT : FAMFS_ELECT_FOLLOW;
}

/* Step 2: did any slot we timed show a new value since? */
static bool members_changed(struct famfs_elect *e)
{
	struct famfs_elect_slot_info x;
	uint32_t raw;

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int st;

		if (!e->watch_member[i])
			continue;
		st = slot_read_settled(e->base, e->ops, i, &x, &raw);
		if (!seen_same(&e->seen[i], st, &x, raw))
			return true;
	}
	return false;
}

/*
 * Phase reads, after our intent: a slot that may be a writer (ACTIVE, or
 * unreadable) must show the value we timed silent for W at step 0. One
 * that became ACTIVE after our read of it (a scan stretched by a pause)
 * is a live master our step 2 never re-read: this is its handshake.
 */
static bool timed_silent(const struct famfs_elect *e, unsigned int i, int st,
			 const struct famfs_elect_slot_info *x, uint32_t raw)
{
	bool writer = st == -EUCLEAN || st == -EIO ||
		      (st == 0 && x->state == FAMFS_ELECT_ACTIVE);

	if (!writer)
		return true;
	return e->watch_member[i] && seen_same(&e->seen[i], st, x, raw);
}

/*
 * Steps 3 and 5's reads: every other block. 1 when nothing stops ballot b
 * of inst (*ret_v: the value to propose), 0 when someone is already
 * active at or above inst, -EAGAIN for a higher ballot or instance.
 */
static int paxos_read(struct famfs_elect *e, uint64_t inst, uint64_t b,
		      const uint32_t *stale_crc, bool force, uint64_t *ret_v)
{
	struct famfs_elect_slot_info x;
	uint64_t best_bal = e->me.bal, v = e->me.inp;
	struct elect_torn t;
	uint32_t raw;

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int st;

		if (i == e->slot)
			continue;
		st = slot_read_torn(e->base, e->ops, i, &x, &raw, &t);
		if (st == -ENOENT)
			continue;
		if (!force && !timed_silent(e, i, st, &x, raw))
			return st ? -EAGAIN : 0;
		if (st == -EUCLEAN && t.line0 && t.line1) {
			/* A store stopped half way: its lines are the block. */
			x.epoch = t.epoch;
			x.inst = t.inst;
			x.mbal = t.mbal;
			x.bal = t.bal;
			x.inp = t.inp;
		} else if (st) {
			/* Garbage left as it was (counted in inst) is no ballot. */
			if (stale_crc[i] == raw)
				continue;
			return -EAGAIN;
		}
		/* Someone is (or saw) a master of inst or above. */
		if (x.epoch >= inst)
			return 0;
		if (x.inst > inst || (x.inst == inst && x.mbal > b))
			return -EAGAIN;
		if (x.inst == inst && x.bal > best_bal) {
			best_bal = x.bal;
			v = x.inp;
		}
	}
	*ret_v = v ? v : e->slot + 1;
	return 1;
}

/* Step 2's abort: the intent goes, the block is as before it. */
static int intent_clear(struct famfs_elect *e,
			const struct famfs_elect_slot_info *prev)
{
	e->me.inst = prev->inst;
	e->me.mbal = prev->mbal;
	e->me.bal = prev->bal;
	e->me.inp = prev->inp;
	return write_me(e);
}

static uint64_t next_inst(const struct elect_scan *s, uint64_t min_epoch)
{
	uint64_t top = s->top_epoch, inst;

	if (s->top_bal_inst > top)
		top = s->top_bal_inst;
	if (min_epoch > top)
		top = min_epoch;
	/* An unreadable slot may hold one election above what we see. */
	inst = top + 1 + s->n_unknown;
	/*
	 * Join a higher election someone began (an intent, no value yet):
	 * otherwise its block, left by a host that died, would abort every
	 * election below it for ever.
	 */
	return s->top_mbal_inst > inst ? s->top_mbal_inst : inst;
}

static uint64_t next_ballot(const struct famfs_elect *e,
			    const struct elect_scan *s, uint64_t inst)
{
	uint64_t top = e->me.inst == inst ? e->me.mbal : 0;

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		const struct elect_torn *t = &s->torn[i];

		if (!s->v.status[i] && s->v.slot[i].inst == inst &&
		    s->v.slot[i].mbal > top)
			top = s->v.slot[i].mbal;
		if (s->v.status[i] == -EUCLEAN && t->line1 && t->inst == inst &&
		    t->mbal > top)
			top = t->mbal;
	}
	return (top / ELECT_BALLOT_STRIDE + 1) * ELECT_BALLOT_STRIDE +
	       e->slot + 1;
}

/* Force: W after winning, renewing, so the old master saw us or expired. */
static int force_wait(struct famfs_elect *e, uint64_t won, uint64_t applied)
{
	uint64_t step = e->renew_ns < 10000000ull ? e->renew_ns : 10000000ull;
	uint64_t w = longest_lease(e);

	while (e->now() - won < w) {
		int r;

		sleep_ns(step / 4 ? step / 4 : 1);
		r = famfs_elect_renew(e, applied);
		if (r < 0)
			return r;
	}
	return 0;
}

static int elect_steps(struct famfs_elect *e, struct elect_scan *s,
		       uint64_t min_epoch, uint64_t next_seq, bool force,
		       uint64_t *ret_epoch)
{
	struct famfs_elect_slot_info prev = e->me;
	uint64_t t0, inst, b, won, v = 0;
	int r;

	/* The lease of a win counts from before our first store. */
	t0 = e->now();
	inst = next_inst(s, min_epoch);
	if (inst >= ELECT_VALUE_MAX)
		return -EOVERFLOW;
	b = next_ballot(e, s, inst);
	if (b >= ELECT_VALUE_MAX)
		return -EOVERFLOW;
	/* Step 1, intent: our block names inst and ballot b. */
	if (e->me.inst != inst)
		e->me.bal = e->me.inp = 0;
	e->me.inst = inst;
	e->me.mbal = b;
	r = write_me(e);
	if (r < 0)
		return r;
	/* Step 2, re-check: a master that beat since we timed it lives. */
	if (!force && members_changed(e)) {
		r = intent_clear(e, &prev);
		return r < 0 ? r : 0;
	}
	/* Step 3, phase 1: no higher ballot; adopt the highest accepted value. */
	r = paxos_read(e, inst, b, s->raw_crc, force, &v);
	if (r <= 0)
		return r;
	/* Step 4, phase 2: accept v at ballot b, then read all again. */
	e->me.bal = b;
	e->me.inp = v;
	r = write_me(e);
	if (r < 0)
		return r;
	r = paxos_read(e, inst, b, s->raw_crc, force, &v);
	if (r <= 0)
		return r;
	if (v != e->slot + 1)
		return 0;
	/* Step 5, commit: ACTIVE of epoch inst; the lease runs from t0. */
	e->me.state = FAMFS_ELECT_ACTIVE;
	e->me.epoch = inst;
	e->me.epoch_start_seq = next_seq;
	r = write_me(e);
	if (r < 0)
		return r;
	e->active = true;
	/* Forced: no write before the wait is over, not even for an instant. */
	won = e->now();
	if (force)
		atomic_store(&e->not_before_ns, won + longest_lease(e));
	atomic_store(&e->deadline_ns, t0 + e->fresh_ns);
	if (force) {
		r = force_wait(e, won, e->me.applied_seq);
		if (r < 0)
			return r;
	}
	*ret_epoch = inst;
	return 1;
}

int famfs_elect_run(struct famfs_elect *e, uint64_t min_epoch,
		    uint64_t next_seq, bool force, uint64_t *ret_epoch)
{
	struct elect_scan *s;
	uint64_t epoch = 0;
	int r;

	if (e->active)
		return -EALREADY;
	if (atomic_load(&e->fenced))
		return -ESTALE;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (!watch_scan(e, s) && !force)
		r = 0;
	else
		r = elect_steps(e, s, min_epoch, next_seq, force, &epoch);
	free(s);
	if (r == 1 && ret_epoch)
		*ret_epoch = epoch;
	return r;
}

uint64_t famfs_elect_backoff_ns(const struct famfs_elect *e)
{
	struct famfs_elect *m = (struct famfs_elect *)e;
	uint64_t r = e->renew_ns;

	/* Lower slots wait less on average, so one of two rivals goes first. */
	return r / 4 + (r / 4) * e->slot / FAMFS_ELECT_SLOTS + rng_next(m) % (r / 2 + 1);
}

/*
 * Renewal's reads: anything that says a newer election or master exists,
 * also in the lines of bad bytes (struct elect_torn).
 */
static bool renew_superseded(struct famfs_elect *e)
{
	struct famfs_elect_slot_info x;
	struct elect_torn t;

	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		int st = slot_read_torn(e->base, e->ops, i, &x, NULL, &t);

		if (st == -EUCLEAN && i != e->slot &&
		    ((t.line0 && t.epoch > e->me.epoch) ||
		     (t.line1 && t.inst > e->me.epoch && t.mbal)))
			return true;
		if (st)
			continue;
		if (i == e->slot) {
			/* Another run took our slot: we are not the one active. */
			if (memcmp(x.run_uuid, e->me.run_uuid, 16) != 0)
				return true;
			continue;
		}
		if (x.epoch > e->me.epoch)
			return true;
		if (x.inst > e->me.epoch && x.mbal)
			return true;
	}
	return false;
}

static void fence(struct famfs_elect *e)
{
	atomic_store(&e->fenced, true);
	atomic_store(&e->deadline_ns, 0);
}

int famfs_elect_renew(struct famfs_elect *e, uint64_t applied_seq)
{
	uint64_t t;
	int r;

	if (atomic_load(&e->fenced))
		return -ESTALE;
	if (!e->active)
		return -EINVAL;
	t = e->now();
	/* Renewal, first read: nobody above us, or we write nothing. */
	if (renew_superseded(e)) {
		fence(e);
		return -ESTALE;
	}
	e->me.applied_seq = applied_seq;
	r = write_me(e);
	if (r < 0)
		return r;
	/* Renewal, second read: an intent that raced our store stops us. */
	if (renew_superseded(e)) {
		fence(e);
		return -ESTALE;
	}
	atomic_store(&e->deadline_ns, t + e->fresh_ns);
	return 0;
}

bool famfs_elect_may_write(const struct famfs_elect *e)
{
	struct famfs_elect *m = (struct famfs_elect *)e;
	uint64_t now;

	if (atomic_load(&m->fenced))
		return false;
	now = e->now();
	return now < atomic_load(&m->deadline_ns) &&
	       now >= atomic_load(&m->not_before_ns);
}

bool famfs_elect_fenced(const struct famfs_elect *e)
{
	return atomic_load(&((struct famfs_elect *)e)->fenced);
}

void famfs_elect_release(struct famfs_elect *e)
{
	struct famfs_elect_slot_info x;

	if (!e)
		return;
	atomic_store(&e->deadline_ns, 0);
	/* Only if the slot is still ours: a second run may have it now. */
	if (slot_read_settled(e->base, e->ops, e->slot, &x, NULL) == 0 &&
	    memcmp(x.run_uuid, e->me.run_uuid, 16) != 0)
		return;
	e->me.state = FAMFS_ELECT_STOPPED;
	e->active = false;
	/* Release: STOPPED is visible before we exit. */
	(void)write_me(e);
}

/* ---- start ---------------------------------------------------------------- */

static bool opts_valid(const struct famfs_elect_opts *o)
{
	return o->slot < FAMFS_ELECT_SLOTS && o->lease_ns >= ELECT_LEASE_MIN &&
	       o->lease_ns <= ELECT_LEASE_MAX;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	if (getrandom(p, n, 0) == (ssize_t)n)
		return;
	/* No entropy source: the clock and the address differ per run. */
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(seed >> 56);
	}
}

/*
 * Another run with our slot: its bytes (heartbeat, or torn bytes) change
 * within W. A slot left by a dead or stopped run is ours to take.
 */
static int slot_claim_check(struct famfs_elect *e,
			    struct famfs_elect_slot_info *old, int *ret_status)
{
	uint64_t start = e->now(), step = e->lease_ns / 16, w = e->lease_ns;
	struct famfs_elect_slot_info x;
	uint32_t raw0 = 0, raw;
	int st0, st;

	if (step > 10000000ull)
		step = 10000000ull;
	st0 = slot_read_settled(e->base, e->ops, e->slot, old, &raw0);
	*ret_status = st0;
	if (st0 == -ENOENT || (st0 == 0 && old->state != FAMFS_ELECT_STANDBY &&
			       old->state != FAMFS_ELECT_ACTIVE))
		return 0;
	/* The other run's W, if longer than ours, is how long it may pause. */
	if (st0 == 0 && old->lease_ns > w)
		w = old->lease_ns;
	while (e->now() - start < w) {
		sleep_ns(step ? step : 1);
		st = slot_read_settled(e->base, e->ops, e->slot, &x, &raw);
		if (st != st0 || raw != raw0)
			return -EBUSY;
	}
	return 0;
}

static int elect_init(struct famfs_elect *e, uint8_t *base,
		      const struct famfs_cache_ops *ops,
		      const struct famfs_elect_opts *o)
{
	struct famfs_elect_slot_info old;
	struct elect_scan *s;
	int st, r;

	e->base = base;
	e->ops = ops;
	e->slot = o->slot;
	e->lease_ns = o->lease_ns;
	e->renew_ns = o->lease_ns / 4;
	e->fresh_ns = fresh_ns(o->lease_ns);
	e->now = o->now ? o->now : real_now;
	r = slot_claim_check(e, &old, &st);
	if (r < 0)
		return r;
	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	scan_pool(base, ops, s);
	e->me = (struct famfs_elect_slot_info){
		.slot = o->slot, .state = FAMFS_ELECT_STANDBY,
		.lease_ns = o->lease_ns, .pid = o->pid, .epoch = s->top_epoch,
	};
	if (st == 0) {
		/* Disk Paxos: a block outlives the run that wrote it. */
		e->me.heartbeat = old.heartbeat;
		e->me.inst = old.inst;
		e->me.mbal = old.mbal;
		e->me.bal = old.bal;
		e->me.inp = old.inp;
	}
	/*
	 * A slot we cannot read lost our block: docs/failover.md says why
	 * the log's epoch (min_epoch) covers what it may have held.
	 */
	free(s);
	snprintf(e->me.host, sizeof(e->me.host), "%s", o->host ? o->host : "");
	snprintf(e->me.url, sizeof(e->me.url), "%s", o->url ? o->url : "");
	fill_random(e->me.run_uuid, 16, e->now() ^ (uintptr_t)e);
	memcpy(&e->rng, e->me.run_uuid, sizeof(e->rng));
	e->rng |= 1;
	/* Start: a fresh run owns the slot, as a standby. */
	r = write_me(e);
	if (r < 0)
		return r;
	e->beaten = true;
	e->last_beat_ns = e->now();
	return 0;
}

int famfs_elect_new(uint8_t *base, const struct famfs_cache_ops *ops,
		    const struct famfs_elect_opts *o, struct famfs_elect **ret)
{
	struct famfs_elect *e;
	int r;

	if (!base || !ops || !o || !opts_valid(o))
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	r = elect_init(e, base, ops, o);
	if (r < 0) {
		free(e);
		return r;
	}
	*ret = e;
	return 0;
}

void famfs_elect_free(struct famfs_elect *e)
{
	free(e);
}
