// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd master: parse options (by the table, conf/options.c), open the
 * pool for writing, open our election slot, rebuild the state by replaying
 * the whole log (refusing to start on corruption), serve the HTTP API as a
 * standby, follow the log until an election makes us active
 * (master/standby.c), take over (master/active.c), then loop once a
 * second (reclaim after the start grace period, watchdog) until SIGTERM
 * or SIGINT, and shut down cleanly: drain the API, release the slot.
 * SIGHUP reloads the tokens and the configuration file's reloadable
 * settings (master/reload.c). docs/master.md, "Start-up".
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
#include "elect.h"
#include "roles.h"
#include "http/server.h"
#include "master/master.h"
#include "master/pool_map.h"
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

/*
 * Replays the whole log into a fresh state, as every start did: refusing
 * to start on corruption. The writer starts only at the takeover.
 */
static int rebuild(struct master *m)
{
	struct master_why w;
	int r;

	master_log_attached(m);
	master_lock(m);
	r = master_state_rebuild(m, m->pool->log, &w);
	master_unlock(m);
	if (r < 0) {
		msg(MSG_ERR, "Failed to replay the log of '%s': "
			"%s; refusing to start (see famfsctl fsck)",
			m->cfg.pool_path, w.msg);
		return r;
	}
	atomic_store(&m->generation, m->pool->info.log_generation);
	master_feed_generation(m->feed, m->pool->info.log_generation);
	return 0;
}

void master_notify_status(struct master *m)
{
	uint64_t seq = master_feed_last_seq(m->feed);

	if (atomic_load(&m->fence_kind) == FENCE_POOL_CHANGED) {
		sd_notifyf(0, "WATCHDOG=1\nSTATUS=master: fenced, the pool "
			   "changed underneath; %s", m->cfg.pool_path);
		return;
	}
	if (!atomic_load(&m->active)) {
		sd_notifyf(0, "WATCHDOG=1\nSTATUS=master: standby in slot %u, "
			   "applied seq %llu, %s", m->cfg.slot,
			   (unsigned long long)seq, m->cfg.pool_path);
		return;
	}
	sd_notifyf(0, "WATCHDOG=1\nSTATUS=master: active in slot %u, epoch "
		   "%llu, applied seq %llu, %s", m->cfg.slot,
		   (unsigned long long)m->epoch, (unsigned long long)seq,
		   m->cfg.pool_path);
}

/*
 * The active master's tick, once a second until a stop signal, a stop
 * request or a fence: a look at the superblock (an idle master notices a
 * pool changed underneath within a tick), reclaim after the start grace,
 * the device's size, watchdog. The lease is renewed by its own thread
 * (master/active.c).
 */
static void run(struct master *m, const sigset_t *sigs)
{
	struct timespec tick = { .tv_sec = 1 };

	while (!stop_requested()) {
		int sig = sigtimedwait(sigs, NULL, &tick);

		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP)
			master_reload(m);
		master_lock(m);
		if (master_pool_check(m) == 0) {
			/* Grace period over, agents evicted or gone stale: retry. */
			master_media_check(m);
			master_reclaim(m);
		}
		master_unlock(m);
		master_notify_status(m);
	}
}

static void master_free(struct master *m)
{
	http_server_stop(m->http);
	master_renew_stop(m);
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
	famfs_elect_free(m->elect);
	famfs_pool_close(m->pool);
	master_damage_free(m);
	pool_map_put(m->map);
	pthread_mutex_destroy(&m->map_lock);
	pthread_cond_destroy(&m->reclaimed);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int master_main(int argc, char **argv)
{
	struct master *m = calloc(1, sizeof(*m));
	uint64_t records;
	sigset_t sigs;
	int r, code, role = 0;

	if (!m)
		return 1;
	msg_init("master");
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->map_lock, NULL);
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
		r = master_elect_open(m);
	if (r == 0)
		r = rebuild(m);
	if (r == 0)
		r = master_feed_start(m->feed);
	/* Read before the API threads start: they change the state. */
	records = r == 0 ? m->st->last_seq : 0;
	/* Vacant at the first look (a master alone): active before it serves. */
	if (r == 0) {
		role = master_standby(m, &sigs, true);
		r = role < 0 ? role : 0;
	}
	/* A standby serves too: the API redirects to the active master. */
	if (r == 0)
		r = http_server_start(m, &m->http);
	if (r < 0) {
		master_elect_stop(m);
		master_free(m);
		return 1;
	}
	msg(MSG_INFO, "serving pool '%s' (slot %u, %llu records, "
		"advertising '%s') on %s://%s (port %u)", m->cfg.pool_path,
		m->cfg.slot, (unsigned long long)records, m->url,
		m->cfg.tls_cert ? "https" : "http", m->cfg.listen,
		http_server_port(m->http));
	sd_notify(0, "READY=1");
	master_notify_status(m);

	r = role == 2 ? master_standby(m, &sigs, false) : role;
	if (r == 1)
		run(m, &sigs);
	else if (r < 0)
		stop_request(1);

	sd_notify(0, "STOPPING=1\nSTATUS=master: stopping, draining the API");
	master_feed_stop(m->feed);	/* resume parked long polls first */
	master_compact_stop(m);		/* and the compactions asked for */
	master_damage_stop(m);		/* repairs and the scrub */
	http_server_drain(m->http, MASTER_DRAIN_MS);
	http_server_stop(m->http);
	m->http = NULL;
	code = stop_exit_code();
	/*
	 * The slot becomes STOPPED (a standby takes over at once), only in
	 * the pool it was taken in (pool_watch.c) and never once fenced.
	 */
	master_lock(m);
	master_pool_check(m);
	master_unlock(m);
	master_elect_stop(m);
	/* Fenced because the pool changed: a failed run, though stopped cleanly. */
	if (!code && m->fenced)
		code = 1;
	msg(MSG_INFO, "stopped (applied seq %llu)",
		(unsigned long long)m->applied.seq);
	master_free(m);
	return code;
}
