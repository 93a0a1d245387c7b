/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * famfsd master: the one process that owns a pool's write side. Internal
 * interfaces shared by the files of famfsd/master/ (state, log, lease, agents, feed,
 * metrics, bearer tokens), famfsd/http/server.c (the HTTP server) and
 * famfsd/master/api/ (the JSON API).
 *
 * Locking: m->lock protects the replayed state, the writer side of the log,
 * the agent table and the fence flag; every function below that takes a
 * struct master and does not say otherwise expects it held. The change feed
 * has its own lock (master_feed_*), taken inside m->lock, never around it.
 * Metrics are atomics and need no lock.
 *
 * Errors: operations return negative errno and write a one-line reason
 * into a struct master_why for the reply's detail. The API maps them:
 *   -EINVAL validation (400)       -EPERM forbidden (403)
 *   -ENOENT not-found (404)        -EEXIST, -ENOTEMPTY, -ENOTDIR, -EISDIR,
 *   -EDQUOT quota-exceeded (507)           -ESTALE, -ERANGE conflict (409)
 *   -ENOSPC pool-full (507)        -ENOBUFS log-full (503)
 *   -ESHUTDOWN fenced (503)        anything else internal (500).
 */
#ifndef FAMFSD_MASTER_H
#define FAMFSD_MASTER_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "common/clock.h"
#include "common/msg.h"
#include "common/stop.h"
#include "conf/options.h"
#include "master/damage_table.h"
#include "log.h"
#include "ns.h"
#include "pool.h"
#include "state.h"

struct auth_tokens;
struct famfs_elect;
struct famfs_elect_view;
struct famfsd_conf;
struct feed_waiter;
struct master_compact;
struct master_damage;
struct http_server;
struct master_agents;
struct master_feed;
struct master_renew;
struct master_metrics;
struct pool_map;

/* Bytes of each superblock copy the pool watch compares: its two first lines. */
#define SB_WATCHED	(2 * FAMFS_CACHELINE)

/* Why the master is fenced (master_fence()); FENCE_NONE while it writes. */
enum master_fence_kind {
	FENCE_NONE = 0,
	FENCE_LEASE_LOST,	/* a forced takeover: a successor writes; exits */
	FENCE_DIVERGED,		/* memory is not the log: exits, a restart replays */
	FENCE_POOL_CHANGED,	/* the superblock changed: keeps serving, see
				   master/pool_watch.c */
};

struct master {
	struct conf_master cfg;		/* the command line (conf/options.h) */
	struct famfs_pool *pool;
	pthread_mutex_t lock;
	pthread_cond_t reclaimed;	/* (lock) a reclaim freed space */
	struct famfs_state *st;		/* (lock) the log replayed */
	struct famfs_log_pos applied;	/* (lock) how far st has replayed */
	_Atomic uint64_t epoch;		/* ours (0: never active); every record
					   carries it; set at the takeover */
	char host[FAMFS_HOST_MAX + 1];
	uint8_t holder_uuid[16];	/* identifies this run in the lease */
	uint64_t reclaim_after_ns;	/* CLOCK_MONOTONIC; grace after start */
	uint64_t compact_after_ns;	/* CLOCK_MONOTONIC; agents unknown before */
	_Atomic uint64_t generation;	/* the log's, for readers without the lock */
	const char *fenced;		/* (lock) why writes are refused */
	char fence_why[256];		/* (lock) what fenced points to */
	_Atomic int fence_kind;		/* enum master_fence_kind, for readers
					   without the lock (router, metrics) */
	uint64_t fenced_at_ns;		/* (lock) CLOCK_REALTIME of the fence */
	/* (lock) master/pool_watch.c: superblock lines last found ours */
	uint8_t sb_watched[2][SB_WATCHED];
	bool sb_watch_valid;
	bool reclaim_failing;		/* (lock) said so once already */
	struct master_agents *agents;	/* (lock) */
	struct master_feed *feed;	/* own lock */
	struct master_metrics *metrics;	/* atomics */
	struct master_compact *compact;	/* (lock) its own thread */
	struct master_damage *damage;	/* (lock) found, repaired; the scrub */
	struct auth_tokens *tokens;	/* own lock; reloaded on SIGHUP */
	struct famfsd_conf *conf;	/* the file as last loaded (main thread) */
	char *tokens_path;		/* a reload's new token file, or NULL */
	struct http_server *http;
	/* master/api/map.c: the pool map's cached snapshot */
	pthread_mutex_t map_lock;	/* taken before m->lock, never inside */
	struct pool_map *map;		/* (map_lock) NULL: none built yet */
	_Atomic uint64_t map_builds;	/* snapshots built, for /metrics */
	_Atomic uint64_t map_lock_ns;	/* the last one's time under m->lock */
	_Atomic uint64_t map_build_ns;	/* and its time to sort and fill */
	/* Election and lease (lib/elect.h, docs/failover.md) */
	struct famfs_elect *elect;	/* NULL before the pool is open */
	_Atomic bool active;		/* false: a standby; the API redirects */
	_Atomic bool elected;		/* won an election (may fail to start) */
	char url[FAMFS_URL_MAX + 1];	/* the API address we advertise */
	uint64_t epoch_start_seq;	/* our first record's seq (active) */
	uint64_t active_since_real_ns;	/* CLOCK_REALTIME of the takeover */
	struct master_renew *renew;	/* the renewal thread (active) */
	/* (lock) master/standby.c: the readers' epoch fence we follow */
	uint64_t fence_epoch, fence_seq;
	uint64_t seen_epoch;		/* (lock) epoch of the last record applied */
	uint64_t seen_epoch_seq;	/* (lock) its first record applied; 0: older */
	bool follow_failing;		/* (lock) said so once already */
	_Atomic uint64_t standby_rebuilds; /* generation switches followed */
	/* master/media.c: the device's size as last read (lock) */
	uint64_t dev_size;		/* bytes from the pool's start; 0: not yet */
	uint64_t dev_shrunk_ns;		/* CLOCK_REALTIME it was seen to shrink */
	bool dev_size_failing;		/* a failure to read it was logged */
};

/* A reason for a reply's "detail"; always NUL terminated. */
struct master_why {
	char msg[512];
};

__attribute__((format(printf, 2, 3)))
void master_why_set(struct master_why *w, const char *fmt, ...);

static inline void master_lock(struct master *m)
{
	pthread_mutex_lock(&m->lock);
}

static inline void master_unlock(struct master *m)
{
	pthread_mutex_unlock(&m->lock);
}

/* ---- failover (docs/failover.md) ------------------------------------------ */

/*
 * The active master's API address as the pool's election slots say now,
 * into buf: 0, -ENOENT when no master is active or it advertises none,
 * -ENAMETOOLONG when buf is too short. Any thread, no lock needed.
 */
int master_active_url(struct master *m, char *buf, size_t len);
/*
 * Right after this master won an election or started as the only one:
 * loads the agent roster so every agent it names holds reclaim back until
 * it has heartbeated to this master (master/agents.c). Takes m->lock
 * itself. With a roster it could read, the reclaim grace after a start is
 * dropped (the roster says who may hold space); without one (a pool too
 * small for it, lines that fault) the grace stays, and the error says why.
 */
int master_agents_takeover(struct master *m);

/* ---- master/reload.c: SIGHUP ----------------------------------------------- */

/* The API gets this long to finish its requests at stop. */
#define MASTER_DRAIN_MS		5000u

/* Loads the configuration file (when --config) to compare reloads with. */
int master_reload_init(struct master *m);
/*
 * Re-reads the token file and, with --config, the file: applies tokens and
 * agent_timeout, says which other changes need a restart. A bad file or
 * token file changes nothing. Main thread only.
 */
void master_reload(struct master *m);
void master_reload_free(struct master *m);

/* ---- master/commit.c: the only way records reach the log ---------------- */

/* Replays [m->applied, tail) into m->st, feeding the change feed. */
int master_replay(struct master *m, const struct famfs_log_pos *tail,
		  struct master_why *w);

/*
 * Writes one record stamped with our epoch: checks it with the replay
 * engine (-EUCLEAN when it would be refused; nothing is written), appends
 * it (P1-P2), publishes it (P3-P6), then applies it to the state by
 * replaying it from the pool, so memory holds exactly what a restart
 * would rebuild. -EINVAL when no record can hold r, -ENOBUFS when the log
 * is full, -ESHUTDOWN when the master is fenced or a failure to apply
 * fenced it.
 */
int master_commit(struct master *m, const struct famfs_rec *r,
		  uint64_t *ret_seq, struct master_why *w);

/*
 * Stops all writes for good, logging why once. Every kind but
 * FENCE_POOL_CHANGED also asks the process to exit (a successor serves the
 * pool, or a restart replays it); a changed pool keeps the master up to say
 * so (master/pool_watch.c).
 */
void master_fence(struct master *m, enum master_fence_kind kind,
		  const char *why);

/* ---- master/pool_watch.c: the pool changed underneath? ------------------- */

/*
 * Right before every write to the pool, and once a second: the lease is
 * still ours (else FENCE_LEASE_LOST) and the superblock still the one the
 * master works with (else FENCE_POOL_CHANGED). 0, or -ESHUTDOWN when the
 * master is fenced (now or before). master_pool_check() is the second half.
 */
int master_may_write(struct master *m);
int master_pool_check(struct master *m);
/* "lease-lost", "state-diverged", "pool-changed" (metrics, GET /v1/pool). */
const char *master_fence_kind_name(enum master_fence_kind k);

/* ---- master/compact.c: a new log generation from the live state ---------- */

struct master_compact_stats {
	uint64_t generation;		/* the new one */
	uint64_t base_seq;		/* its checkpoint is the state after this */
	uint64_t ckpt_bytes, ckpt_items;
	uint64_t copied;		/* records published during it, copied */
	uint64_t duration_ns;
	uint64_t lock_ns;		/* of it, holding m->lock */
	bool from_memory;		/* the checkpoint of m->st, under the lock */
};

int master_compact_new(struct master *m);
int master_compact_start(struct master *m);
/* Joins the thread; a compaction under way is finished or abandoned. */
void master_compact_stop(struct master *m);
void master_compact_free(struct master *m);
/* Asks for a compaction (the thread runs it once C0 allows). */
void master_compact_request(struct master *m);
/* Something C0 waits for changed (an agent reported): look again now. */
void master_compact_poke(struct master *m);
/* After a publish: asks for one when the generation is full enough. */
void master_compact_maybe(struct master *m);
/*
 * At the start of a write request, before anything is looked up: waits
 * (releasing m->lock) while the log has less than a reserve of room and a
 * compaction can make some. -ENOBUFS with why when none could, except for
 * a request that shrinks the state (a delete): it may use the reserve.
 */
int master_wait_log_room(struct master *m, bool shrinks, struct master_why *w);
/*
 * The same for need bytes of records (a batch): 0 once the log has need
 * bytes free plus the reserve (a batch that shrinks: need alone), else
 * -ENOBUFS with why. Only room, not the state: the caller plans again.
 */
int master_wait_log_room_for(struct master *m, uint64_t need, bool shrinks,
			     struct master_why *w);
/* Whether that much room is there now, without waiting. */
bool master_log_has_room(struct master *m, uint64_t need, bool shrinks);
/*
 * POST /v1/pool/compact: queues w (its wake() runs under m->lock when a
 * compaction that starts from now on ends) and asks for one; false when
 * the master is stopping. master_compact_result() then says how it went.
 */
bool master_compact_wait(struct master *m, struct feed_waiter *w);
void master_compact_cancel(struct master *m, struct feed_waiter *w);
int master_compact_result(const struct master *m, uint64_t after,
			  struct master_compact_stats *ret, struct master_why *w);
void master_compact_counts(const struct master *m, uint64_t *ret_done,
			   uint64_t *ret_failed);

/* ---- master/damage.c: damaged copies of the log, found and repaired ------ */

/* A damage hook's context: which reader reports, on which generation. */
struct master_damage_src {
	struct master *m;
	uint64_t generation;
	enum damage_finder found_by;
};

struct master_damage_stats {
	uint64_t found;			/* damaged copies, each counted once */
	uint64_t repaired;		/* of which mended or replaced */
	uint64_t unrepaired;		/* open now */
	uint64_t dropped;		/* reports the table had no room for */
	uint64_t scrub_bytes;		/* read by the scrub, both copies */
	uint64_t scrub_passes;		/* whole generations verified */
};

int master_damage_new(struct master *m);
/* The damage thread: repairs (under m->lock) and the scrub (without). */
int master_damage_start(struct master *m);
void master_damage_stop(struct master *m);
void master_damage_free(struct master *m);
/*
 * The log the writer uses changed (start, C7): listen to it; damage of
 * older generations is moot now; the scrub starts over.
 */
void master_log_attached(struct master *m);
/* Hooks a reader of ours (other than the writer's log) to the table. */
void master_damage_listen(struct master *m, struct famfs_log *log,
			  struct master_damage_src *src,
			  enum damage_finder found_by);
/* A famfs_log_damage_fn; ctx is a struct master_damage_src. Any thread. */
void master_damage_report(void *ctx, const struct famfs_log_damage *d);
/* Counts, and the DAMAGE_LAST newest entries into last (may be NULL). */
void master_damage_stats(struct master *m, struct master_damage_stats *ret,
			 struct damage_entry last[DAMAGE_LAST],
			 size_t *ret_n_last);

/* ---- master/scrub.c: the background re-read of the current generation ---- */

struct master_scrub;

enum master_scrub_end {
	SCRUB_GOING,			/* more of this pass to read */
	SCRUB_PASS_DONE,		/* the whole generation was verified */
	SCRUB_PASS_FAILED,		/* no reader could open it (reported) */
	SCRUB_ABANDONED,		/* the generation changed under it */
};

int master_scrub_new(struct master_scrub **ret);
void master_scrub_free(struct master_scrub *s);
/*
 * Verifies about budget bytes (both copies counted) of the current
 * generation from where the last step stopped, a pass at a time: area
 * header, tail slots, checkpoint items, records up to the tail published
 * when the pass began, each in both copies; what it finds goes to the
 * damage table. Returns the bytes read. Takes m->lock only to see where
 * the log is and to read the tail slots (the writer rewrites those in
 * place); the damage thread's alone.
 */
uint64_t master_scrub_step(struct master *m, struct master_scrub *s,
			   uint64_t budget, enum master_scrub_end *ret_end);

/* ---- master/namespace.c: namespace and quota changes -------------------------- */

struct master_create {
	const char *path;		/* decoded, '/'-separated, may be "" */
	size_t path_len;
	bool dir;
	uint64_t size;			/* files */
	uint32_t mode, uid, gid;
	const char *tenant;		/* files; "" for none */
	size_t tenant_len;
};

/*
 * Creates a file or directory. Returns 1 when it was created, 0 when an
 * identical entry already exists (idempotent repeat), negative errno
 * otherwise. *ret_node stays valid while m->lock is held.
 */
int master_op_create(struct master *m, const struct master_create *c,
		     struct famfs_node **ret_node, struct master_why *w);

/*
 * Deletes the entry at path (dir_only: refuse files). Writes its absolute
 * path into ret_path (FAMFS_PATH_MAX + 2 bytes) and the delete's sequence.
 */
int master_op_delete(struct master *m, const char *path, size_t len,
		     bool dir_only, char *ret_path, uint64_t *ret_seq,
		     struct master_why *w);

int master_op_set_quota(struct master *m, const char *tenant, size_t len,
			uint64_t max_bytes, uint64_t max_files,
			uint64_t *ret_seq, struct master_why *w);

/* Resolves path; -ENOTDIR (a parent is a file) is a conflict. */
int master_resolve(struct master *m, const char *path, size_t len,
		   struct famfs_node **ret, struct master_why *w);

/*
 * The checks of a create or delete, shared by the single calls and a
 * batch's plan (master/batch.c). An entry is a node as a request sees it:
 * one of the replayed state, or one an earlier operation of the same batch
 * makes (node NULL). ov, the batch's overlay of what its earlier operations
 * did, is NULL for a single call. Nothing is written.
 */
struct master_overlay;

struct master_entry {
	struct famfs_node *node;	/* replayed; NULL: the batch makes it */
	uint64_t ino;
	bool dir;
	uint32_t mode, uid, gid;	/* mode: permission bits only */
	uint64_t size;
	const char *tenant;		/* files; "" for none */
	size_t tenant_len;
	uint64_t n_children;		/* dirs, after the batch's earlier ops */
};

/* What a create or delete found and would write. */
struct master_check {
	struct master_entry dir;	/* the parent (for the root itself: root) */
	size_t dir_len;			/* bytes of path naming the parent */
	const char *name;		/* the last component; NULL: the root */
	size_t name_len;
	struct master_entry found;	/* the entry at path, when there is one */
	uint64_t bytes;			/* create: space it takes, reserved */
	unsigned int n_ext;		/* create: extents reserved (host order) */
};

/*
 * A create's checks: 1 when it would make the entry (a file's space then
 * held in ext[FAMFS_MAX_EXTENTS], n_ext of them: the caller must
 * famfs_alloc_unreserve() them), 0 when the identical entry (or with
 * exist_ok any directory) is there, negative errno. The tenant has used
 * d_bytes and d_files more than the state says (the batch's earlier ops).
 * Call master_media_check() first.
 */
int master_check_create(struct master *m, const struct master_overlay *ov,
			const struct master_create *c, bool exist_ok,
			int64_t d_bytes, int64_t d_files,
			struct master_check *ret, struct famfs_extent *ext,
			struct master_why *w);
/* A delete's checks: 0 with ret->found the entry to delete, or -errno. */
int master_check_delete(struct master *m, const struct master_overlay *ov,
			const char *path, size_t len, bool dir_only,
			struct master_check *ret, struct master_why *w);
/*
 * The records those checks justify: a new entry numbered ino, made at
 * mtime_ns (CLOCK_REALTIME), its extents ext written little-endian into
 * le.
 */
void master_rec_create(struct famfs_rec *rec, const struct master_check *k,
		       const struct master_create *c, uint64_t ino,
		       uint64_t mtime_ns, struct famfs_extent *le,
		       const struct famfs_extent *ext);
void master_rec_delete(struct famfs_rec *rec, const struct master_check *k);
/*
 * master/batch.c: the entry an earlier operation of the batch left at
 * path[0..len): 1 with *ret, -ENOENT when it deleted it, 0 when it did
 * nothing there (ask the replayed state).
 */
int master_overlay_find(const struct master_overlay *ov, const char *path,
			size_t len, struct master_entry *ret);

/* ---- master/batch.c: POST /v1/batch (docs/batch.md) ---------------------- */

#define MASTER_BATCH_MAX	65536u

enum master_batch_kind { BATCH_CREATE, BATCH_MKDIR, BATCH_DELETE };

enum master_batch_status {
	BATCH_CREATED, BATCH_EXISTS, BATCH_DELETED, BATCH_ABSENT,
};

struct master_batch_op {
	/* in */
	enum master_batch_kind kind;
	struct master_create c;		/* path for all; the rest for creates */
	bool exist_ok, missing_ok;
	/* out */
	enum master_batch_status status;
	uint64_t seq;			/* its record; 0: none written */
	uint64_t ino;			/* created, exists */
};

/*
 * Applies ops[0..n) all or nothing, with one publish: 0 with every op's
 * status, seq and ino and *ret_seq the published tail after it; or
 * negative errno (as the single calls') with *ret_failed the index of
 * the op that failed (n when the batch as a whole was refused) and
 * nothing written. Waits (releasing m->lock) for log room and reclaims
 * as a single create does.
 */
int master_batch(struct master *m, struct master_batch_op *ops, size_t n,
		 uint64_t *ret_seq, size_t *ret_failed, struct master_why *w);

/* ---- master/reclaim.c: space of deleted files back to the allocator ----- */

/*
 * Publishes RECLAIM records (up to FAMFS_RECLAIM_MAX files each) for every
 * pending delete that no agent holds back any more (see
 * master_agents_hold()). Returns how many files.
 */
int master_reclaim(struct master *m);

/*
 * At the start of a create, before anything is looked up: when the free
 * space is short of bytes but deleted files wait only for agents to
 * acknowledge their delete (which they do at once) or for the grace after
 * a start, waits (releasing m->lock, at most three seconds) for the reclaim
 * rather than answering 507 in the gap.
 */
void master_wait_space(struct master *m, uint64_t bytes);

/* ---- master/media.c: the device's size, pool faults ---------------------- */

/*
 * Re-reads the device's size; when it shrank, cuts the units past its end
 * out of the allocator (logged once per shrink). Once a second and before
 * each create's allocation.
 */
void master_media_check(struct master *m);
/* -EIO with w set when an extent is not inside the device as last read. */
int master_media_check_extents(const struct master *m,
			       const struct famfs_extent *ext, unsigned int n,
			       struct master_why *w);

struct master_media_stats {
	uint64_t count;			/* the master's and the agents' */
	uint64_t master_count;		/* this process's alone */
	uint64_t last_offset;		/* pool offset of the newest one */
	uint64_t last_ns;		/* CLOCK_REALTIME of it; 0: none */
	uint64_t device_bytes;		/* the device now, from the pool start */
	uint64_t formatted_bytes;	/* the superblock's device size */
	uint64_t cut_bytes;		/* data area out of service past the end */
	uint64_t shrunk_ns;		/* when the shrink was seen; 0: never */
};

void master_media_stats(const struct master *m, struct master_media_stats *ret);

/* ---- master/agents.c: agents as they report themselves ----------------- */

struct master_agent {
	char id[129];
	char host[256];
	char address[256];
	uint64_t applied_seq;
	uint64_t generation;
	uint64_t last_heartbeat_ns;	/* CLOCK_REALTIME */
	uint64_t last_heartbeat_mono;	/* CLOCK_MONOTONIC */
	uint64_t *open_inos;		/* sorted ascending */
	size_t n_open;
	bool evicted;
	char *devices;			/* last reported inventory (JSON), NULL */
	uint64_t media_errors;		/* pool faults it met, as last reported */
	uint64_t media_error_offset;	/* pool offset of its last one */
	uint64_t media_error_ns;	/* CLOCK_REALTIME of it; 0: none */
	uint64_t media_logged_mono;	/* CLOCK_MONOTONIC they were last logged */
	uint64_t devices_ns;		/* when it was reported (CLOCK_REALTIME) */
	bool unreported;		/* from the roster, no heartbeat to us yet:
					   holds every reclaim back */
	int roster_index;		/* its roster entry; -1: none written */
};

int master_agents_new(struct master_agents **ret);
void master_agents_free(struct master_agents *a);
size_t master_agents_count(const struct master_agents *a);
/* By position, ordered by id. */
struct master_agent *master_agents_at(const struct master_agents *a, size_t i);
struct master_agent *master_agents_find(const struct master_agents *a,
					const char *id);
/* "live", "stale", "evicted" or "unreported" (roster, not heard yet). */
const char *master_agent_state(const struct master *m,
			       const struct master_agent *ag, uint64_t mono_ns);

/*
 * True when some agent that is not evicted has not applied delete_seq yet
 * or still reports ino open: the space must not be reused.
 */
bool master_agents_hold(const struct master_agents *a, uint64_t ino,
			uint64_t delete_seq);
/* True when some agent that is not evicted reports ino open. */
bool master_agents_have_open(const struct master_agents *a, uint64_t ino);

/* The lowest applied_seq of the agents not evicted (UINT64_MAX: none). */
uint64_t master_agents_min_applied(const struct master_agents *a);

/*
 * Records a heartbeat (taking ownership of open_inos, a malloc'd array)
 * and reclaims what it releases. -ESTALE for an evicted agent (the entry
 * is dropped so it can register afresh), -ERANGE for an applied_seq past
 * the log's end.
 */
int master_heartbeat(struct master *m, const struct master_agent *report,
		     uint64_t *open_inos, size_t n_open, struct master_why *w);

/* Evicts an agent and reclaims what it held back. -ENOENT. */
int master_evict(struct master *m, const char *id,
		 struct master_agent **ret, struct master_why *w);

/* ---- master/standby.c, master/active.c: standby and active -------------- */

/* The master active before a takeover, as the standby saw it. */
struct master_takeover_from {
	int slot;			/* -1: none was active */
	uint64_t heartbeat;		/* its last value seen */
	uint64_t last_seen_ns;		/* CLOCK_MONOTONIC it last changed */
	char host[FAMFS_HOST_MAX + 1];
};

/* Opens our election slot (-EBUSY, logged, when a live run holds it). */
int master_elect_open(struct master *m);
/*
 * The standby loop (docs/master.md "Start-up, active and standby") until
 * this master wins an election and takes over (1), a stop is asked for
 * (0), or the takeover fails (negative errno, logged). first: one step
 * only, before the API serves (2: still a standby), so a master alone on
 * its pool answers its first request as the active one.
 */
int master_standby(struct master *m, const sigset_t *sigs, bool first);
/* Takeover steps T1-T6 (master/active.c) with the epoch just won: 1, or <0. */
int master_takeover(struct master *m, uint64_t epoch,
		    const struct master_takeover_from *from);
/* Follows the log one step (standby; v may be NULL: no new fence). */
void master_follow(struct master *m, const struct famfs_elect_view *v);
/* Under m->lock: the state rebuilt from log's checkpoint and records. */
int master_state_rebuild(struct master *m, struct famfs_log *log,
			 struct master_why *w);
/*
 * Every store of log asks the lease first (famfs_log_set_write_guard):
 * the writer's log from the takeover on, each new generation's.
 */
void master_guard_log(struct master *m, struct famfs_log *log);
/* Stops renewing; at a clean stop releases the slot (STOPPED). */
void master_renew_stop(struct master *m);
void master_elect_stop(struct master *m);
/* Replay hook's note of each applied record's epoch (under m->lock). */
void master_note_epoch(struct master *m, const struct famfs_rec *r);
/* The highest seq applied of an epoch below epoch, as far as known. */
uint64_t master_applied_below(const struct master *m, uint64_t epoch);
/* WATCHDOG=1 and STATUS= with the role (any thread). */
void master_notify_status(struct master *m);
/* Why writes are refused now, for a reply's detail (never NULL). */
const char *master_write_refusal(const struct master *m);
/* The same into w, "the master is fenced: ..." when it is. */
void master_why_refused(const struct master *m, struct master_why *w);

/* ---- master/feed.c: the long-poll change feed --------------------------- */

/*
 * A long-poll request waiting for a record after `after`. wake() is called
 * once, with the feed lock held, when one is published, the deadline
 * passes or the feed stops.
 */
struct feed_waiter {
	struct feed_waiter *prev, *next;
	uint64_t after;
	uint64_t deadline_ns;		/* CLOCK_MONOTONIC */
	uint64_t generation;		/* the log's when queued */
	bool queued;
	void (*wake)(struct feed_waiter *w);
};

struct feed_record {
	uint64_t seq, epoch;
	uint16_t type;
};

int master_feed_new(struct master_feed **ret);
int master_feed_start(struct master_feed *f);
/* Wakes every waiter, refuses new ones, joins the thread. */
void master_feed_stop(struct master_feed *f);
void master_feed_free(struct master_feed *f);
/* Remembers a record's summary (called for each record applied). */
int master_feed_add(struct master_feed *f, uint64_t seq, uint16_t type,
		    uint64_t epoch);
/* Records up to seq are published: wake who waits for them. */
void master_feed_published(struct master_feed *f, uint64_t seq);
/* The log moved to generation gen: wake every waiter. */
void master_feed_generation(struct master_feed *f, uint64_t gen);
uint64_t master_feed_last_seq(struct master_feed *f);

/*
 * Queues w unless a record after w->after is already published or the
 * feed is stopping; suspend(ctx) runs under the feed lock so a wake-up
 * can never come before the suspension. Returns true when queued.
 */
bool master_feed_wait(struct master_feed *f, struct feed_waiter *w,
		      void (*suspend)(void *ctx), void *ctx);
/* Takes w off the queue if it is still there. */
void master_feed_cancel(struct master_feed *f, struct feed_waiter *w);

/*
 * Copies up to max summaries of records after `after`; returns how many.
 * The feed keeps the last FEED_KEEP records: older ones are skipped
 * (*ret_first says where it starts).
 */
size_t master_feed_read(struct master_feed *f, uint64_t after,
			struct feed_record *out, size_t max,
			uint64_t *ret_last_seq, uint64_t *ret_first);

/* ---- master/metrics.c: Prometheus counters ------------------------------ */

int master_metrics_new(struct master_metrics **ret);
void master_metrics_free(struct master_metrics *mm);
void master_metrics_count(struct master_metrics *mm, unsigned int status);
void master_metrics_create_latency(struct master_metrics *mm, uint64_t ns);
/* A compaction that switched, start to switch. */
void master_metrics_compaction(struct master_metrics *mm, uint64_t ns);
/* Renders every metric (takes m->lock itself). -ENOMEM. */
int master_metrics_render(struct master *m, char **ret, size_t *ret_len);

#endif
