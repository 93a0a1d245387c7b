/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The agent: follows a pool's metadata log into a local mount, made by one
 * of the back-ends of agent/backend.h (FUSE or the kernel module), which
 * the core reaches through its operations table only.
 *
 * Threads and what they own:
 *   main      parses options, opens the pool, runs the back-end's loop,
 *             tears down;
 *   back-end  its own threads, if any (FUSE's workers serve the mount),
 *             readers of the state;
 *   follower  the only writer of the replayed state (agent/follow.c, and
 *             agent/generation.c when the log moves to a new generation);
 *             wakes every --poll-ms, on the change feed, or on a
 *             heartbeat's ask;
 *   feed      long-polls the master's GET /v1/log and wakes the follower;
 *   heartbeat reports applied_seq, the generation and the back-end's open
 *             inodes to the master every second, and at once (coalesced)
 *             when the follower applied a delete or changed generation.
 * The feed and heartbeat threads exist only with --master.
 */
#ifndef FAMFSD_AGENT_H
#define FAMFSD_AGENT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cache.h"
#include "common/clock.h"
#include "common/msg.h"
#include "conf/options.h"
#include "ns.h"
#include "pool.h"
#include "replay.h"
#include "state.h"

struct agent_backend;
struct agent_damage;
struct agent_http;
struct agent_http_reply;
struct agent_masters;

#define AGENT_ID_MAX		128
#define AGENT_HEARTBEAT_MS	1000
#define AGENT_FEED_WAIT_S	30
/* Kicked heartbeats (a delete applied) come at most this often. */
#define AGENT_HEARTBEAT_GAP_MS	2
/*
 * After other records are applied (creates), a heartbeat comes this soon
 * instead of at the next second: a scheduler waiting for this host to see
 * its files (famfsctl batch --wait-agents, the Slurm pre_run) learns it
 * from the master in tens of ms. At most 20 a second per agent while
 * records keep coming, against 500 for deletes.
 */
#define AGENT_HEARTBEAT_SOON_MS	50

/*
 * The record the state is after (a->pos.seq), as the log stored it: its
 * CRC under the generation it was read in, and its length; len 0 when the
 * position is a checkpoint's base (no record read after it). A move to a
 * new generation checks record pos.seq there against it
 * (agent/generation.c).
 */
struct agent_mark {
	uint64_t generation;
	uint32_t crc;
	uint32_t len;
};

struct agent {
	struct conf_agent o;		/* the command line (conf/options.h) */
	char *token_read;		/* --token-file's token; o.token points here */
	char agent_id[AGENT_ID_MAX + 1];	/* made up; o.agent_id points here */
	void *be_priv;			/* the back-end's, from its init */
	struct famfs_pool *pool;	/* read-only: superblock and log */
	const struct famfs_cache_ops *ops;

	/*
	 * The replayed namespace. Written by the follower only, under the
	 * write lock; the back-end's threads and the heartbeat read under the
	 * read lock.
	 */
	pthread_rwlock_t lock;
	struct famfs_state *st;		/* protected by lock */
	struct famfs_log_pos pos;	/* protected by lock: last applied */
	uint64_t generation;		/* protected by lock */
	struct agent_mark mark;		/* follower only: the record at pos */
	bool applied_delete;		/* follower only: in the last replay */
	struct agent_damage *damage;	/* follower only: agent/damage.c */
	bool old_tree_dropped;		/* follower only: agent_pool_replaced */
	uint8_t replaced_by[16];	/* follower only: the pool said once */
	/* follower only: agent/epoch_fence.c */
	uint64_t fence_epoch, fence_seq;	/* the active slot's E and S */
	uint64_t fence_read_ns;		/* CLOCK_MONOTONIC of the last view */
	uint64_t seen_epoch;		/* of the last record applied */
	uint64_t seen_epoch_seq;	/* the first applied record of it */

	/* Follower wake-ups: wake_lock protects every field up to wake_cond. */
	pthread_mutex_t wake_lock;
	bool wake;			/* something may have been published */
	bool evicted;			/* the master evicted us: revoke */
	bool hb_kick;			/* heartbeat now: a delete applied, an
					   orphan closed, a new generation */
	bool hb_soon;			/* heartbeat soon: records applied */
	pthread_cond_t wake_cond;	/* follower waits here */
	pthread_cond_t hb_cond;		/* heartbeat waits here */

	atomic_uint revokes_done;	/* evictions handled (handles revoked) */
	atomic_bool stop;
	atomic_bool ready;		/* initial replay done, mount up */
	struct agent_http *feed_http;	/* to abort its long poll at stop */
	struct agent_http *hb_http;
	struct agent_masters *masters;	/* own lock: where the master is */

	pthread_t follower, feed, heartbeat;
	bool follower_started, feed_started, heartbeat_started;
};

/* ---- agent/epoch_fence.c: the readers' epoch fence ------------------------ */
/*
 * Each follow step: the election slots (every 100 ms) give the fence set on
 * the log; a tree that holds a record it refuses is rebuilt.
 */
void agent_epoch_fence(struct agent *a);
/* The replay hook's note of each applied record's epoch. */
void agent_epoch_note(struct agent *a, const struct famfs_rec *r);

/* ---- agent/follow.c ------------------------------------------------------ */
/* Replays everything published so far, before the mount exists. */
int agent_follow_initial(struct agent *a);
int agent_follow_start(struct agent *a);
void agent_follow_stop(struct agent *a);
/* Asks the follower to look at the tail now. */
void agent_follow_wake(struct agent *a);
/*
 * The master evicted this agent: asks the follower to revoke the open
 * handles (it keeps its state and position: the log did not change).
 */
void agent_follow_request_revoke(struct agent *a);
/*
 * For agent/generation.c: a failure of the follower (what, at record or
 * generation seq: reason) is logged once until it changes; recovered says
 * the log is readable again.
 */
void agent_follow_report(uint64_t seq, const char *what, const char *reason);
/* The same for a log generation: "Failed to <verb> log generation N". */
void agent_follow_report_gen(uint64_t generation, const char *verb,
			     const char *reason);
void agent_follow_recovered(void);
/* Replays a->pool->log from a->pos to tail into a->st (write lock). */
long agent_follow_replay(struct agent *a, const struct famfs_log_pos *tail,
			 struct famfs_replay_error *err);

/* ---- agent/generation.c ------------------------------------------------- */
/*
 * The superblock (info) names another log generation than a->generation:
 * finishes the one followed, then moves the reader to the new one keeping
 * the state, or rebuilds the state from its checkpoint. 0, or -errno when
 * it could not (retried at the next poll).
 */
int agent_generation_follow(struct agent *a, const struct famfs_pool_info *info);
/*
 * The pool was formatted anew or restored (why): rebuilds from the
 * superblock's generation, revoking everything open (backend reformat).
 */
int agent_generation_anew(struct agent *a, const struct famfs_pool_info *info,
			  const char *why);
/*
 * The superblock is not the pool followed any more (field f differs: a
 * new UUID or creation time, or the geometry): says so once, then rebuilds
 * from the new pool like agent_generation_anew(). If the new pool cannot
 * be read, the old tree is dropped anyway (every open file revoked, an
 * empty tree served) and the follower keeps trying the new one. 0, or
 * -errno when the new pool was not followed (yet).
 */
int agent_pool_replaced(struct agent *a, const struct famfs_pool_info *info,
			enum famfs_sb_field f);

/* ---- agent/damage.c: damage the log reader found -------------------------- */
int agent_damage_new(struct agent *a);
void agent_damage_free(struct agent *a);
/* Sets the damage hook of log, a generation the follower reads. */
void agent_damage_watch(struct agent *a, struct famfs_log *log);
/*
 * After a follow step: logs each damaged copy found, once per place, if
 * the superblock still names its generation (else the areas were being
 * reused, which is no damage).
 */
void agent_damage_flush(struct agent *a);

/* ---- agent/token.c ------------------------------------------------------ */
/* At start: reads --token-file, if given, into a->o.token. Says why not. */
int agent_token_init(struct agent *a);
void agent_token_free(struct agent *a);
/*
 * After a 401/403: re-reads --token-file; true when it holds another
 * token, which h now sends. Called by the thread that owns h.
 */
bool agent_token_refresh(struct agent *a, struct agent_http *h);

/* ---- agent/devices.c: this host's device inventory, for the heartbeat ---- */
/* The functions below accept NULL (no inventory: out of memory). */
struct agent_devices;
int agent_devices_new(struct agent_devices **ret);
void agent_devices_free(struct agent_devices *d);
/*
 * Scans when due (at first, when the kernel announced a change, and
 * rarely otherwise); true when the inventory differs from the last one.
 */
bool agent_devices_update(struct agent_devices *d);
/* The last inventory as JSON text; NULL before a scan succeeded. */
const char *agent_devices_json(const struct agent_devices *d);

/* ---- agent/masters.c: which master to talk to ----------------------------- */
/*
 * From --master (a list) and the pool's election slots: the address the
 * pool publishes for the active master comes first, then the list in
 * order (docs/failover.md, "Finding the active master").
 */
int agent_masters_new(struct agent *a);
void agent_masters_free(struct agent *a);
/*
 * A request to the active master: tries the candidates in turn, following
 * 307s (http/client.c), moving on past one that does not answer, answers
 * 503 not-active or redirects once too often; 0 with the reply of the
 * first other answer, else the last attempt's result. -ECANCELED at stop.
 * Any thread, each with its own h.
 */
int agent_master_request(struct agent *a, struct agent_http *h,
			 const char *method, const char *path,
			 const char *json, long timeout_ms,
			 struct agent_http_reply *ret);
/* The address that answered last (for messages); never NULL. */
const char *agent_master_current(struct agent *a, char *buf, size_t size);

/* ---- agent/feed.c / agent/heartbeat.c ------------------------------------ */
int agent_feed_start(struct agent *a);
void agent_feed_stop(struct agent *a);
int agent_heartbeat_start(struct agent *a);
void agent_heartbeat_stop(struct agent *a);
/* Heartbeat now rather than at the next tick. */
void agent_heartbeat_kick(struct agent *a);
/* Heartbeat AGENT_HEARTBEAT_SOON_MS after the last one began. */
void agent_heartbeat_soon(struct agent *a);

#endif
