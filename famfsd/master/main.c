// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd master: parse options (by the table, conf/options.c), open the
 * pool for writing, take the master lease, rebuild the state by replaying
 * the whole log (refusing to start on corruption), start the writer after
 * the last published record, serve the HTTP API, then loop once a second
 * (lease renewal, reclaim after the start grace period, watchdog) until
 * SIGTERM or SIGINT, and shut down cleanly: drain the API, release the
 * lease. SIGHUP reloads the tokens and the
 * configuration file's reloadable settings (master/reload.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "master/tokens.h"
#include "conf/conf.h"
#include "roles.h"
#include "http/server.h"
#include "master/master.h"
#include "probe.h"

/* Loads the token file, or makes an admin token and hands it out. */
static int setup_tokens(struct master *m)
{
	char token[128], why[256];
	int fd, r;

	if (m->cfg.tokens_path) {
		r = auth_tokens_load(m->cfg.tokens_path, &m->tokens, why,
				     sizeof(why));
		if (r < 0)
			msg(MSG_ERR, "Failed to load tokens "
				"from '%s': %s", m->cfg.tokens_path, why);
		return r;
	}
	r = auth_tokens_generate(&m->tokens, token, sizeof(token));
	if (r < 0) {
		msg(MSG_ERR, "Failed to generate an admin "
			"token: %s", strerror(-r));
		return r;
	}
	if (!m->cfg.admin_token_file) {
		printf("famfsd master: admin token %s\n", token);
		fflush(stdout);
		explicit_bzero(token, sizeof(token));
		return 0;
	}
	fd = open(m->cfg.admin_token_file,
		  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	r = fd < 0 ? -errno : 0;
	if (fd >= 0) {
		size_t len = strlen(token);

		token[len] = '\n';
		if (fchmod(fd, 0600) < 0 || write(fd, token, len + 1) !=
					    (ssize_t)(len + 1))
			r = -errno;
		close(fd);
	}
	explicit_bzero(token, sizeof(token));
	if (r < 0)
		msg(MSG_ERR, "Failed to write '%s': %s",
			m->cfg.admin_token_file, strerror(-r));
	return r;
}

static int open_pool(struct master *m)
{
	struct famfs_pool_open_opts o = {
		.offset = m->cfg.offset, .dev_flags = FAMFS_DEV_WRITE,
		.coherence = m->cfg.coherence,
	};
	const char *why = NULL;
	int r = famfs_pool_open(m->cfg.pool_path, &o, &m->pool, &why);

	if (r < 0) {
		msg(MSG_ERR, "Failed to open pool '%s': %s",
			m->cfg.pool_path, why ? why : strerror(-r));
		return r;
	}
	for (int i = 0; i < 2; i++)
		if (m->pool->sb_status.reason[i])
			msg(MSG_WARN, "superblock copy %c of '%s' "
				"is bad (%s), using the other, ignoring", 'A' + i,
				m->cfg.pool_path, m->pool->sb_status.reason[i]);
	return 0;
}

/* Replays the whole log; the writer continues after its last record. */
static int rebuild(struct master *m)
{
	struct famfs_log_error lerr;
	struct famfs_log_pos tail;
	struct master_why w;
	int r;

	r = famfs_state_new(&m->pool->info, &m->st);
	if (r < 0)
		return r;
	master_log_attached(m);
	r = famfs_log_read_tail(m->pool->log, &tail, &lerr);
	if (r < 0) {
		msg(MSG_ERR, "Failed to read the log tail of "
			"'%s': %s; refusing to start", m->cfg.pool_path,
			lerr.reason);
		return r;
	}
	r = master_replay(m, &tail, &w);
	if (r < 0) {
		msg(MSG_ERR, "Failed to replay the log of '%s': "
			"%s; refusing to start (see famfsctl fsck)",
			m->cfg.pool_path, w.msg);
		return r;
	}
	famfs_log_writer_start(m->pool->log, &tail);
	/*
	 * The writer's own repair: a tail slot torn by a crash, or copies of
	 * a slot that disagree, are made whole before the first publish.
	 */
	if (famfs_log_repair_tail(m->pool->log) < 0)
		msg(MSG_WARN, "could not rewrite the log's tail slots");
	/* Our records must carry an epoch above every replayed one. */
	master_lease_raise_epoch(m, m->st->last_epoch);
	master_feed_published(m->feed, tail.seq);
	atomic_store(&m->generation, m->pool->info.log_generation);
	master_feed_generation(m->feed, m->pool->info.log_generation);
	return 0;
}

static void notify_status(struct master *m)
{
	uint64_t seq = master_feed_last_seq(m->feed);

	if (atomic_load(&m->fence_kind) == FENCE_POOL_CHANGED) {
		sd_notifyf(0, "WATCHDOG=1\nSTATUS=master: fenced, the pool "
			   "changed underneath; %s", m->cfg.pool_path);
		return;
	}
	sd_notifyf(0, "WATCHDOG=1\nSTATUS=master: epoch %llu, applied seq %llu, "
		   "%s", (unsigned long long)m->epoch, (unsigned long long)seq,
		   m->cfg.pool_path);
}

/*
 * The tick's lease renewal, after a look at the superblock (an idle master
 * notices a pool changed underneath within a tick, and never renews its
 * lease into a new pool). Under m->lock, so no write of ours comes between
 * the check and the renewal. -ESTALE when another master took the lease.
 */
static int renew(struct master *m)
{
	int r = 0;

	master_lock(m);
	if (master_pool_check(m) == 0) {
		r = master_lease_renew(m);
		if (r == -ESTALE)
			master_fence(m, FENCE_LEASE_LOST,
				     "another master took the lease");
	}
	master_unlock(m);
	return r;
}

/* Once a second until a stop signal or a stop request. */
static void run(struct master *m, const sigset_t *sigs)
{
	struct timespec tick = { .tv_sec = MASTER_RENEW_SECONDS };

	while (!stop_requested()) {
		int sig = sigtimedwait(sigs, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			master_reload(m);
		if (renew(m) == -ESTALE)
			break;
		/* Grace period over, agents evicted or gone stale: retry. */
		master_lock(m);
		master_media_check(m);
		master_reclaim(m);
		master_unlock(m);
		notify_status(m);
	}
}

static void master_free(struct master *m)
{
	http_server_stop(m->http);
	if (m->feed)
		master_feed_stop(m->feed);
	master_compact_stop(m);
	master_damage_stop(m);
	master_compact_free(m);
	master_feed_free(m->feed);
	famfs_state_free(m->st);
	master_agents_free(m->agents);
	master_metrics_free(m->metrics);
	auth_tokens_free(m->tokens);
	master_reload_free(m);
	famfs_pool_close(m->pool);
	master_damage_free(m);
	pthread_cond_destroy(&m->reclaimed);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int master_main(int argc, char **argv)
{
	struct master *m = calloc(1, sizeof(*m));
	bool leased = false;
	uint64_t records;
	sigset_t sigs;
	int r, code;

	if (!m)
		return 1;
	msg_init("master");
	pthread_mutex_init(&m->lock, NULL);
	clock_cond_init(&m->reclaimed);
	r = conf_role_args(CONF_ROLE_MASTER, argc, argv, &m->cfg);
	if (r != 0) {
		master_free(m);
		return r > 0 ? 0 : 2;
	}
	/* Before any thread exists, so all of them inherit the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (gethostname(m->host, sizeof(m->host) - 1) < 0)
		strcpy(m->host, "unknown");

	r = master_reload_init(m);
	if (r == 0)
		r = setup_tokens(m);
	if (r == 0)
		r = master_metrics_new(&m->metrics);
	if (r == 0)
		r = master_agents_new(&m->agents);
	if (r == 0)
		r = master_feed_new(&m->feed);
	if (r == 0)
		r = master_damage_new(m);
	if (r == 0)
		r = master_compact_new(m);
	if (r == 0)
		r = open_pool(m);
	if (r == 0)
		r = master_lease_take(m);
	leased = r == 0;
	if (r == 0)
		r = rebuild(m);
	if (r == 0) {
		uint64_t now = clock_mono_ns(), grace = m->cfg.reclaim_grace_ms;

		m->reclaim_after_ns = now + grace * 1000000ull;
		/* Two heartbeats: every live agent has said where it is. */
		m->compact_after_ns = now + (grace < 2000 ? grace : 2000) * 1000000ull;
		r = master_agents_takeover(m);
		if (r == 0)
			r = master_feed_start(m->feed);
	}
	if (r == 0)
		r = master_compact_start(m);
	if (r == 0)
		r = master_damage_start(m);
	/* Read before the API threads start: they change the state. */
	records = r == 0 ? m->st->last_seq : 0;
	if (r == 0)
		r = http_server_start(m, &m->http);
	if (r < 0) {
		if (leased)
			master_lease_release(m);
		master_free(m);
		return 1;
	}
	msg(MSG_INFO, "serving pool '%s' (epoch %llu, %llu "
		"records) on %s://%s (port %u)", m->cfg.pool_path,
		(unsigned long long)m->epoch, (unsigned long long)records,
		m->cfg.tls_cert ? "https" : "http", m->cfg.listen,
		http_server_port(m->http));
	sd_notify(0, "READY=1");
	notify_status(m);

	run(m, &sigs);

	sd_notify(0, "STOPPING=1\nSTATUS=master: stopping, draining the API");
	master_feed_stop(m->feed);	/* resume parked long polls first */
	master_compact_stop(m);		/* and the compactions asked for */
	master_damage_stop(m);		/* repairs and the scrub */
	http_server_drain(m->http, MASTER_DRAIN_MS);
	http_server_stop(m->http);
	m->http = NULL;
	code = stop_exit_code();
	/* Released only into the pool it was taken in (pool_watch.c). */
	master_lock(m);
	if (master_pool_check(m) == 0)
		master_lease_release(m);
	master_unlock(m);
	/* Fenced because the pool changed: a failed run, though stopped cleanly. */
	if (!code && m->fenced)
		code = 1;
	msg(MSG_INFO, "stopped (last_seq %llu)",
		(unsigned long long)famfs_log_published(m->pool->log).seq);
	master_free(m);
	return code;
}
