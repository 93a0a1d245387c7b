// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Prometheus metrics (text exposition format 0.0.4). Request counters and
 * the create latency and compaction histograms are atomics bumped where
 * they happen; gauges and the compaction counts are read under m->lock
 * when /metrics is scraped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "master/master.h"

/* Upper bounds of the create latency buckets, in nanoseconds. */
static const uint64_t lat_bounds_ns[] = {
	50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
	10000000, 25000000, 50000000, 100000000, 250000000, 1000000000,
};
#define N_BOUNDS (sizeof(lat_bounds_ns) / sizeof(lat_bounds_ns[0]))
/*
 * A compaction, start to switch: ~0.1 ms for a 1 MiB log; the target for
 * a live state of 1,000,000 files is < 1 s.
 */
static const uint64_t compact_bounds_ns[] = {
	100000, 1000000, 10000000, 50000000, 100000000, 250000000, 500000000,
	1000000000, 2500000000, 5000000000, 10000000000,
};
#define N_COMPACT_BOUNDS \
	(sizeof(compact_bounds_ns) / sizeof(compact_bounds_ns[0]))
#define MAX_STATUS 600

#define MAX_BUCKETS 16

_Static_assert(N_BOUNDS < MAX_BUCKETS && N_COMPACT_BOUNDS < MAX_BUCKETS,
	       "a histogram's bounds and +Inf fit its buckets");

struct histogram {
	const uint64_t *bounds_ns;
	size_t n_bounds;
	atomic_uint_fast64_t bucket[MAX_BUCKETS];	/* not cumulative */
	atomic_uint_fast64_t sum_ns, count;
};

struct master_metrics {
	atomic_uint_fast64_t by_status[MAX_STATUS];
	struct histogram create_latency, compaction;
};

int master_metrics_new(struct master_metrics **ret)
{
	struct master_metrics *mm = calloc(1, sizeof(*mm));

	if (!mm)
		return -ENOMEM;
	mm->create_latency.bounds_ns = lat_bounds_ns;
	mm->create_latency.n_bounds = N_BOUNDS;
	mm->compaction.bounds_ns = compact_bounds_ns;
	mm->compaction.n_bounds = N_COMPACT_BOUNDS;
	*ret = mm;
	return 0;
}

void master_metrics_free(struct master_metrics *mm)
{
	free(mm);
}

void master_metrics_count(struct master_metrics *mm, unsigned int status)
{
	if (status < MAX_STATUS)
		atomic_fetch_add_explicit(&mm->by_status[status], 1,
					  memory_order_relaxed);
}

static void observe(struct histogram *h, uint64_t ns)
{
	size_t b = 0;

	while (b < h->n_bounds && ns > h->bounds_ns[b])
		b++;
	atomic_fetch_add_explicit(&h->bucket[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void master_metrics_create_latency(struct master_metrics *mm, uint64_t ns)
{
	observe(&mm->create_latency, ns);
}

void master_metrics_compaction(struct master_metrics *mm, uint64_t ns)
{
	observe(&mm->compaction, ns);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name,
		help, name, name, v);
}

/* A label value with \, " and newline escaped as the format asks. */
static void label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n') {
			fputs("\\n", f);
			continue;
		}
		fputc(*s, f);
	}
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name,
		help, name, name, v);
}

static void state_metrics(FILE *f, struct master *m)
{
	struct famfs_state *st = m->st;
	struct famfs_log_pos pub = atomic_load(&m->active) ?
				   famfs_log_published(m->pool->log) : m->applied;
	uint64_t total = famfs_alloc_total_bytes(st->alloc);
	uint64_t free_b = famfs_alloc_free_bytes(st->alloc);

	gauge(f, "famfsd_pool_size_bytes", "Allocatable bytes in the data area.",
	      total);
	gauge(f, "famfsd_pool_used_bytes", "Bytes allocated to live files.",
	      total - free_b - st->pending_bytes);
	gauge(f, "famfsd_pool_free_bytes", "Bytes available for new files.",
	      free_b);
	gauge(f, "famfsd_pool_pending_reclaim_bytes",
	      "Bytes of deleted files waiting for agents before reuse.",
	      st->pending_bytes);
	gauge(f, "famfsd_files", "Regular files.", st->files);
	gauge(f, "famfsd_dirs", "Directories, not counting the root.", st->dirs);
	gauge(f, "famfsd_log_used_bytes", "Bytes of the log record area in use.",
	      pub.end);
	gauge(f, "famfsd_log_capacity_bytes", "Size of the log record area.",
	      famfs_log_capacity(m->pool->log));
	gauge(f, "famfsd_log_last_seq", "Sequence of the last published record.",
	      pub.seq);
	gauge(f, "famfsd_master_epoch", "Epoch of this master (0: a standby "
	      "never active).", m->epoch);
	gauge(f, "famfsd_master_active", "1 for the active master, 0 for a "
	      "standby.", atomic_load(&m->active) ? 1 : 0);
	gauge(f, "famfsd_master_slot", "This master's election slot (1-16).",
	      m->cfg.slot);
	gauge(f, "famfsd_master_applied_seq", "Sequence of the last record "
	      "this master's state holds.", m->applied.seq);
	counter(f, "famfsd_master_standby_rebuilds_total", "Log generations "
		"a standby followed by rebuilding its state.",
		atomic_load(&m->standby_rebuilds));
	gauge(f, "famfsd_index_memory_bytes",
	      "Heap bytes of the namespace index and the allocator.",
	      famfs_ns_mem_bytes(st->ns) + famfs_alloc_mem_bytes(st->alloc));

	fprintf(f, "# HELP famfsd_tenant_used_bytes Allocated bytes of a tenant's"
		" live files.\n# TYPE famfsd_tenant_used_bytes gauge\n");
	for (uint32_t id = 1; id <= famfs_tenants_count(st->tenants); id++) {
		const struct famfs_tenant *tn = famfs_tenants_by_id(st->tenants, id);

		fprintf(f, "famfsd_tenant_used_bytes{tenant=\"%s\"} %" PRIu64 "\n",
			tn->name, tn->used_bytes);
	}
}

/* 1 for the reason this master is fenced by, 0 for the others. */
static void fence_metrics(FILE *f, const struct master *m)
{
	int kind = atomic_load(&m->fence_kind);

	fprintf(f, "# HELP famfsd_master_fenced 1 when the master refuses "
		"every write, by reason.\n# TYPE famfsd_master_fenced gauge\n");
	for (int k = FENCE_LEASE_LOST; k <= FENCE_POOL_CHANGED; k++)
		fprintf(f, "famfsd_master_fenced{reason=\"%s\"} %d\n",
			master_fence_kind_name((enum master_fence_kind)k),
			kind == k);
}

/* The log's generation and its compactions (the time each took: below). */
static void compact_metrics(FILE *f, struct master *m)
{
	struct famfs_log_base b = famfs_log_base(m->pool->log);
	uint64_t done, failed;

	master_compact_counts(m, &done, &failed);
	gauge(f, "famfsd_log_generation", "Log generation the superblock names.",
	      m->pool->info.log_generation);
	gauge(f, "famfsd_log_checkpoint_bytes",
	      "Bytes of the current generation's checkpoint.", b.ckpt_bytes);
	gauge(f, "famfsd_log_checkpoint_items",
	      "Items in the current generation's checkpoint.", b.ckpt_items);
	counter(f, "famfsd_log_compactions_total",
		"Compactions that switched to a new log generation.", done);
	counter(f, "famfsd_log_compactions_failed_total",
		"Compactions that ended without a switch.", failed);
}

/* The pool map's snapshots (master/api/map.c): atomics, no lock. */
static void map_metrics(FILE *f, struct master *m)
{
	counter(f, "famfsd_pool_map_builds_total",
		"Snapshots of the data area built for the pool map.",
		atomic_load(&m->map_builds));
	fprintf(f, "# HELP famfsd_pool_map_lock_seconds The last pool map "
		"snapshot's time under the state lock.\n# TYPE "
		"famfsd_pool_map_lock_seconds gauge\nfamfsd_pool_map_lock_seconds "
		"%.9f\n", atomic_load(&m->map_lock_ns) / 1e9);
	fprintf(f, "# HELP famfsd_pool_map_build_seconds The last pool map "
		"snapshot's time to sort and fill, outside the lock.\n# TYPE "
		"famfsd_pool_map_build_seconds gauge\nfamfsd_pool_map_build_seconds "
		"%.9f\n", atomic_load(&m->map_build_ns) / 1e9);
}

static void agent_metrics(FILE *f, struct master *m)
{
	uint64_t now = clock_mono_ns(), last = famfs_log_published(m->pool->log).seq;
	static const char *const states[] = {
		"live", "stale", "evicted", "unreported",
	};
	uint64_t count[4] = { 0 };
	size_t n = master_agents_count(m->agents);

	fprintf(f, "# HELP famfsd_agent_lag_records Records published but not "
		"yet applied by an agent.\n# TYPE famfsd_agent_lag_records gauge\n");
	for (size_t i = 0; i < n; i++) {
		const struct master_agent *ag = master_agents_at(m->agents, i);
		const char *s = master_agent_state(m, ag, now);

		for (int k = 0; k < 4; k++)
			count[k] += !strcmp(s, states[k]);
		fprintf(f, "famfsd_agent_lag_records{agent=\"%s\",host=\"", ag->id);
		label(f, ag->host);
		fprintf(f, "\"} %" PRIu64 "\n",
			last > ag->applied_seq ? last - ag->applied_seq : 0);
	}
	fprintf(f, "# HELP famfsd_agents Agents known to the master by state.\n"
		"# TYPE famfsd_agents gauge\n");
	for (int k = 0; k < 4; k++)
		fprintf(f, "famfsd_agents{state=\"%s\"} %" PRIu64 "\n", states[k],
			count[k]);
}

/* Pool memory faults and the device's size (master/media.c). */
static void media_metrics(FILE *f, struct master *m)
{
	struct master_media_stats s;
	size_t n = master_agents_count(m->agents);

	master_media_stats(m, &s);
	counter(f, "famfsd_media_errors_total",
		"Faults in pool memory the master met (SIGBUS: poisoned or "
		"missing), each answered as an error.", s.master_count);
	fprintf(f, "# HELP famfsd_agent_media_errors_total Faults in pool memory "
		"an agent met, as its last heartbeat reported.\n"
		"# TYPE famfsd_agent_media_errors_total counter\n");
	for (size_t i = 0; i < n; i++) {
		const struct master_agent *ag = master_agents_at(m->agents, i);

		fprintf(f, "famfsd_agent_media_errors_total{agent=\"%s\"} %"
			PRIu64 "\n", ag->id, ag->media_errors);
	}
	gauge(f, "famfsd_media_error_last_offset",
	      "Pool offset of the newest fault, master's or an agent's.",
	      s.last_offset);
	gauge(f, "famfsd_media_error_last_timestamp_seconds",
	      "When the newest fault happened (0: never).", s.last_ns / 1000000000u);
	gauge(f, "famfsd_pool_device_bytes",
	      "The pool device's size now, from the pool's start.", s.device_bytes);
	gauge(f, "famfsd_pool_cut_bytes",
	      "Data area past the end of a shrunk device, out of service.",
	      s.cut_bytes);
}

/* Damaged copies of the log (master/damage.c) and the scrub. */
static void damage_metrics(FILE *f, struct master *m)
{
	struct master_damage_stats s;

	master_damage_stats(m, &s, NULL, NULL);
	counter(f, "famfsd_log_damage_found_total",
		"Damaged copies of log metadata found, each counted once.", s.found);
	counter(f, "famfsd_log_damage_repaired_total",
		"Damaged copies rewritten from the good copy or replaced by a "
		"compaction.", s.repaired);
	gauge(f, "famfsd_log_damage_unrepaired",
	      "Damaged copies found and not repaired yet.", s.unrepaired);
	counter(f, "famfsd_log_scrub_bytes_total",
		"Log bytes the scrub re-read, both copies counted.", s.scrub_bytes);
	counter(f, "famfsd_log_scrub_passes_total",
		"Whole log generations the scrub verified.", s.scrub_passes);
}

/*
 * A histogram in seconds, read without a lock while others observe: _count
 * and _sum may differ from the buckets by the observations in flight.
 */
static void histogram(FILE *f, const char *name, const char *help,
		      struct histogram *h)
{
	uint64_t cum = 0;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t b = 0; b <= h->n_bounds; b++) {
		cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
		if (b < h->n_bounds)
			fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
				(double)h->bounds_ns[b] / 1e9, cum);
		else
			fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
				cum);
	}
	fprintf(f, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name,
		(double)atomic_load(&h->sum_ns) / 1e9, name,
		(uint64_t)atomic_load(&h->count));
}

static void request_metrics(FILE *f, struct master_metrics *mm)
{
	fprintf(f, "# HELP famfsd_http_requests_total HTTP replies by status "
		"code.\n# TYPE famfsd_http_requests_total counter\n");
	for (unsigned int s = 100; s < MAX_STATUS; s++) {
		uint64_t v = atomic_load_explicit(&mm->by_status[s],
						  memory_order_relaxed);

		if (v)
			fprintf(f, "famfsd_http_requests_total{code=\"%u\"} %"
				PRIu64 "\n", s, v);
	}
	histogram(f, "famfsd_create_latency_seconds",
		  "Time from request to reply of file creates.",
		  &mm->create_latency);
	histogram(f, "famfsd_log_compaction_seconds",
		  "Time from the start of a compaction to its switch.",
		  &mm->compaction);
}

int master_metrics_render(struct master *m, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	master_lock(m);
	state_metrics(f, m);
	compact_metrics(f, m);
	agent_metrics(f, m);
	media_metrics(f, m);
	master_unlock(m);
	fence_metrics(f, m);
	map_metrics(f, m);
	damage_metrics(f, m);
	request_metrics(f, m->metrics);
	http_server_metrics(m->http, f);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}
