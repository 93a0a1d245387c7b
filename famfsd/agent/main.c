// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd agent: parse options (by the table, conf/options.c), open the
 * pool (metadata read-only, data area writable), replay the log, mount,
 * start the follower and (with a master) the change feed and heartbeat,
 * serve the mount until a signal or an unmount, then stop everything in
 * reverse order.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/backend.h"
#include "crc.h"
#include "conf/conf.h"
#include "roles.h"
#include "probe.h"

/*
 * Stable across restarts, distinct per host and per mount: the machine id
 * (or host name) and a hash of the mount point.
 */
static void default_agent_id(struct agent *a)
{
	char id[64] = "", host[64] = "", dir[PATH_MAX], buf[64];
	FILE *f = fopen("/etc/machine-id", "re");
	size_t n;

	if (f) {
		if (fgets(id, sizeof(id), f))
			id[strcspn(id, "\n")] = '\0';
		fclose(f);
	}
	if (conf_check_value(&conf_keys[K_AGENT_ID], id, CONF_FROM_ARGS, buf,
			     sizeof(buf))) {
		gethostname(host, sizeof(host) - 1);
		n = strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789.-");
		host[n] = '\0';
		snprintf(id, sizeof(id), "%s", n ? host : "agent");
	}
	/* The same mount named two ways ("var/mnt", "/srv/x/var/mnt") is one. */
	if (!realpath(a->o.mount, dir))
		snprintf(dir, sizeof(dir), "%s", a->o.mount);
	snprintf(a->agent_id, sizeof(a->agent_id), "%s-%08x", id,
		 famfs_crc32c(dir, strlen(dir)));
	a->o.agent_id = a->agent_id;
}

/* The settings the options leave to the agent: back-end, token, id. */
static int settle_args(struct agent *a)
{
	const char *why = NULL;

	if (strcmp(a->o.backend_name, "auto") == 0)
		a->o.backend_name = agent_backend_auto("", a->o.pool_path,
						       a->o.offset, &why);
	a->o.backend = agent_backend_find(a->o.backend_name);
	if (!a->o.backend) {
		/* The table's choices and the back-ends disagree. */
		msg(MSG_ERR, "no back-end '%s'", a->o.backend_name);
		return -EINVAL;
	}
	msg(MSG_INFO, "back-end %s (%s%s)", a->o.backend->name,
	    why ? "--backend auto: " : "--backend ", why ? why : a->o.backend->name);
	if (!a->o.agent_id)
		default_agent_id(a);
	return agent_token_init(a);
}

/*
 * The back-end first (it may point the pool path at its own view of the
 * device), then the metadata through a read-only mapping: a stray store
 * cannot hit the log. File data is the back-end's business.
 */
static int open_pool(struct agent *a)
{
	struct famfs_pool_open_opts po = {
		.offset = a->o.offset, .coherence = a->o.coherence,
	};
	const char *why = NULL;
	int r;

	r = a->o.backend->init(a, &a->be_priv);
	if (r < 0)
		return r;
	r = famfs_pool_open(a->o.pool_path, &po, &a->pool, &why);
	if (r < 0) {
		msg(MSG_ERR, "Failed to open pool '%s': %s",
			  a->o.pool_path, why ? why : strerror(-r));
		return r;
	}
	a->ops = a->pool->ops;
	a->generation = a->pool->info.log_generation;
	r = agent_damage_new(a);
	if (r == 0)
		r = famfs_state_new(&a->pool->info, &a->st);
	if (r < 0)
		msg(MSG_ERR, "Failed to set up the replayed state: %s",
		    strerror(-r));
	return r;
}

static void init_sync(struct agent *a)
{
	pthread_rwlockattr_t ra;
	/* Replay must not starve behind a stream of lookups. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&a->wake_lock, NULL);
	clock_cond_init(&a->wake_cond);
	clock_cond_init(&a->hb_cond);
}

/*
 * Helper threads block the termination signals, so the back-end's loop in
 * the main thread (the only one that takes them) wakes up and ends.
 */
static int start_threads(struct agent *a)
{
	sigset_t set, old;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	r = agent_follow_start(a);
	if (r == 0 && a->o.master_url)
		r = agent_masters_new(a);
	if (r == 0 && a->o.master_url)
		r = agent_feed_start(a);
	if (r == 0 && a->o.master_url)
		r = agent_heartbeat_start(a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		msg(MSG_ERR, "Failed to start the agent's threads: %s",
			  strerror(-r));
	return r;
}

static void stop_threads(struct agent *a)
{
	atomic_store(&a->stop, true);
	agent_heartbeat_stop(a);
	agent_feed_stop(a);
	agent_follow_stop(a);
}

/* The mount is gone: the reverse of open_pool(). */
static void agent_free(struct agent *a)
{
	famfs_state_free(a->st);
	famfs_pool_close(a->pool);
	agent_damage_free(a);
	if (a->be_priv)
		a->o.backend->destroy(a->be_priv);
	agent_token_free(a);
	agent_masters_free(a);
	pthread_rwlock_destroy(&a->lock);
	pthread_mutex_destroy(&a->wake_lock);
	pthread_cond_destroy(&a->wake_cond);
	pthread_cond_destroy(&a->hb_cond);
}

int agent_main(int argc, char **argv)
{
	static struct agent agent;	/* one per process, signal-safe to reach */
	struct agent *a = &agent;
	uint64_t t0 = clock_mono_ns(), seq, files, dirs, gen;
	int r;

	msg_init("agent");
	init_sync(a);
	r = conf_role_args(CONF_ROLE_AGENT, argc, argv, &a->o);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (settle_args(a) < 0)
		return 2;
	msg_set_verbose(a->o.verbose);
	if (a->o.master_url && curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		msg(MSG_ERR, "Failed to initialise libcurl");
		return 1;
	}
	r = open_pool(a);
	if (r == 0)
		r = agent_follow_initial(a);
	if (r == 0)
		r = a->o.backend->mount(a->be_priv);
	if (r < 0)
		goto out;
	/* What the mount shows at start, taken before the follower runs. */
	seq = a->pos.seq;
	gen = a->generation;
	files = a->st->files;
	dirs = a->st->dirs;
	r = start_threads(a);
	if (r < 0)
		goto out;

	atomic_store(&a->ready, true);
	msg(MSG_INFO, "pool '%s' mounted at %s in %.1f ms: log generation %"
		  PRIu64 ", seq %" PRIu64 ", %" PRIu64 " files, %" PRIu64
		  " directories; polling the tail every %u ms%s%s (cache %s, %s)",
		  a->o.pool_path, a->o.mount, (clock_mono_ns() - t0) / 1e6,
		  gen, seq, files, dirs, a->o.poll_ms,
		  a->o.master_url ? ", feed and heartbeats from " : "",
		  a->o.master_url ? a->o.master_url : "", a->ops->name,
		  a->o.backend->data_path(a->be_priv));
	sd_notifyf(0, "READY=1\nSTATUS=agent: applied seq %" PRIu64
		   ", mounted at %s", seq, a->o.mount);

	r = a->o.backend->loop(a->be_priv);
	sd_notify(0, "STOPPING=1");
	if (r < 0)
		msg(MSG_ERR, "%s loop failed: %s",
			  a->o.backend->name, strerror(-r));
	else
		msg(MSG_INFO, "stopping (%s)", r > 0 ? strsignal(r) :
			  "unmounted");
	r = r < 0 ? r : 0;
out:
	stop_threads(a);
	if (a->be_priv)
		a->o.backend->unmount(a->be_priv);
	agent_free(a);
	if (a->o.master_url)
		curl_global_cleanup();
	return r < 0 ? 1 : 0;
}
