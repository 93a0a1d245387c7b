/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Master election and lease through the pool (docs/failover.md).
 *
 * Several master-capable hosts share a pool without cross-host atomics and
 * without coherent caches. Each owns one slot of the election area
 * (struct famfs_elect_slot) and is its only writer; it reads the others'.
 * Safety (never two writers of one epoch) comes from Disk Paxos over the
 * slots; the lease of the active master comes from each host's monotonic
 * clock and a bounded drift rate (FAMFS_ELECT_DRIFT_PPM): a standby takes
 * a slot for dead only after watching its heartbeat unchanged for the
 * slot's lease W on its own clock, and the active master stops writing
 * (famfs_elect_may_write) before W can have passed for anyone else.
 *
 * Time is injected (struct famfs_elect_opts.now) so the unit tests can run
 * the protocol's interleavings step by step; the cache ops are the pool's,
 * so the tests can check the flush and fence of each step.
 */
#ifndef FAMFSD_ELECT_H
#define FAMFSD_ELECT_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "famfsd_format.h"

/* Bound on the rate any two hosts' monotonic clocks drift apart. */
#define FAMFS_ELECT_DRIFT_PPM	1000u

/* A slot as decoded from a private copy of the pool's bytes. */
struct famfs_elect_slot_info {
	unsigned int slot;
	enum famfs_elect_state state;
	uint8_t run_uuid[16];
	uint64_t heartbeat;
	uint64_t lease_ns;
	uint64_t epoch;
	uint64_t epoch_start_seq;
	uint64_t applied_seq;
	uint64_t inst, mbal, bal, inp;
	uint32_t pid;
	char host[FAMFS_HOST_MAX + 1];
	char url[FAMFS_URL_MAX + 1];
};

/*
 * Reads slot i: invalidates it, copies it, checks magic, slot number and
 * CRC on the copy. 0; -ENOENT never written (all zero); -EUCLEAN bad (torn
 * by a write in flight, or damaged: callers read again before they
 * conclude); -EIO when its lines fault (lib/guard.h); -EINVAL for i out of
 * range.
 */
int famfs_elect_read(const uint8_t *base, const struct famfs_cache_ops *ops,
		     unsigned int i, struct famfs_elect_slot_info *ret);

/* Writes slot in->slot whole (one memcpy), then flush and fence. */
int famfs_elect_write(uint8_t *base, const struct famfs_cache_ops *ops,
		      const struct famfs_elect_slot_info *in);

/* What every reader of the pool wants to know: who writes, from where. */
struct famfs_elect_view {
	int active;			/* slot of the active master; -1: none */
	uint64_t epoch;			/* its epoch (0: none) */
	uint64_t epoch_start_seq;	/* records from here carry >= epoch */
	uint64_t highest_epoch;		/* over every slot, any state */
	char url[FAMFS_URL_MAX + 1];	/* its API address ("" unknown) */
	char host[FAMFS_HOST_MAX + 1];
	unsigned int n_used;		/* slots ever written */
	int status[FAMFS_ELECT_SLOTS];	/* famfs_elect_read()'s result */
	struct famfs_elect_slot_info slot[FAMFS_ELECT_SLOTS];
};

/*
 * Reads every slot once. The active master is the ACTIVE slot with the
 * highest epoch; a slot left ACTIVE with a lower epoch is an old master
 * that has not noticed yet (it is fenced by the protocol). This says
 * nothing about liveness: only watching a heartbeat over time does.
 */
int famfs_elect_view(const uint8_t *base, const struct famfs_cache_ops *ops,
		     struct famfs_elect_view *ret);

/* ---- one master-capable process ------------------------------------------ */

struct famfs_elect;

struct famfs_elect_opts {
	unsigned int slot;		/* 0 .. FAMFS_ELECT_SLOTS - 1 */
	uint64_t lease_ns;		/* W */
	const char *host;
	uint32_t pid;
	const char *url;		/* our API address, may be "" */
	uint64_t (*now)(void);		/* monotonic ns; NULL: CLOCK_BOOTTIME */
};

/* -EINVAL for a bad slot or lease; -EBUSY when another live run owns the slot. */
int famfs_elect_new(uint8_t *base, const struct famfs_cache_ops *ops,
		    const struct famfs_elect_opts *o, struct famfs_elect **ret);
void famfs_elect_free(struct famfs_elect *e);

/* How often the active master renews and a standby beats: W / 4. */
uint64_t famfs_elect_renew_ns(const struct famfs_elect *e);

enum famfs_elect_watch {
	FAMFS_ELECT_FOLLOW = 0,		/* a live master is active */
	FAMFS_ELECT_VACANT = 1,		/* none, or it showed no change for W */
};

/*
 * A standby's step, every few tens of milliseconds: reads every slot,
 * notes on our clock when each heartbeat last changed, and (once per renew
 * period) writes our own slot as STANDBY with applied_seq. ret (may be
 * NULL) gets the view. Returns enum famfs_elect_watch, or negative errno.
 */
int famfs_elect_watch(struct famfs_elect *e, uint64_t applied_seq,
		      struct famfs_elect_view *ret);

/*
 * Runs the election of the next epoch (above every epoch seen in the slots
 * and above min_epoch, the log's last). 1: we won, our slot is ACTIVE with
 * *ret_epoch and epoch_start_seq = next_seq, and famfs_elect_may_write()
 * holds; 0: another slot won or the active master turned out alive;
 * -EAGAIN: a competing ballot, try again after famfs_elect_backoff_ns().
 * force (an admin's --force-takeover): does not need the active master to
 * look vacant, but then waits W before it returns 1, so the old one has
 * either seen us at a renewal or passed its deadline.
 */
int famfs_elect_run(struct famfs_elect *e, uint64_t min_epoch,
		    uint64_t next_seq, bool force, uint64_t *ret_epoch);
uint64_t famfs_elect_backoff_ns(const struct famfs_elect *e);

/*
 * The active master's renewal, every famfs_elect_renew_ns(): reads every
 * slot (-ESTALE, fenced for good, when another slot is ACTIVE with a
 * higher epoch or runs an election above ours), writes ours (heartbeat+1,
 * applied_seq), reads every slot again (the same check). On 0 the write
 * deadline moves to the renewal's start + F (docs/failover.md). Writes
 * nothing once fenced.
 */
int famfs_elect_renew(struct famfs_elect *e, uint64_t applied_seq);

/*
 * Right before every store into the pool's metadata (append, publish,
 * compaction, repair, roster): true while our clock is before the deadline
 * of the last good renewal and we are not fenced. Any thread, lock-free.
 */
bool famfs_elect_may_write(const struct famfs_elect *e);

/* True once famfs_elect_renew() returned -ESTALE. */
bool famfs_elect_fenced(const struct famfs_elect *e);

/* A clean stop: our slot becomes STOPPED, so nobody waits W for us. */
void famfs_elect_release(struct famfs_elect *e);

#endif
