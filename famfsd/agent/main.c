// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd agent: parse options, open the pool (metadata read-only, data
 * area writable), replay the log, mount, start the follower and (with a
 * master) the change feed and heartbeat, serve the mount until a signal or
 * an unmount, then stop everything in reverse order.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
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
#include "common/token_file.h"
#include "crc.h"
#include "conf/conf.h"
#include "roles.h"
#include "probe.h"

static void usage(FILE *f)
{
	fprintf(f,
"usage: famfsd agent --pool DEVICE --mount DIR [options]\n"
"\n"
"Follows the pool's metadata log into a mount at DIR (FUSE, or the famfsd\n"
"kernel module with --backend kmod).\n"
"\n"
"  --pool DEVICE        pool device or file (/dev/daxX.Y, var/pool.img)\n"
"  --pool-uuid UUID     the pool by UUID: this host's dax or fsdax device\n"
"                       holding it (instead of --pool)\n"
"  --offset N           pool start within the device (bytes, K/M/G suffix)\n"
"  --mount DIR          mount point (created if missing)\n"
"  --master URL         master API, e.g. http://10.0.0.1:7470: change feed\n"
"                       and heartbeats (without it: follow the pool only)\n"
"  --token-file F       bearer token for the master, first line of F\n"
"  --token T            bearer token (visible in ps: prefer --token-file)\n"
"  --agent-id ID        id in heartbeats (default: machine-id + mount)\n"
"  --address A          address reported in heartbeats (default \"\")\n"
"  --poll-ms N          poll the log tail every N ms (default %d)\n"
"  --coherence MODE     auto, clwb, clflushopt, clflush, none (default auto)\n"
"  --direct-io          every read/write goes to the pool (no page cache;\n"
"                       shared writable mmap is then refused)\n"
"  --backend fuse|kmod  mount with FUSE (default) or the famfsd kernel module\n"
"                       (then --pool is a pmem device in fsdax mode, /dev/pmemN)\n"
"  --meta-rw            kmod: a master runs on this host; let it write the\n"
"                       pool metadata through DIR/.famfsd/pool\n"
"  -v, --verbose        log every replay step and heartbeat reply\n"
"  -h, --help\n", AGENT_DEFAULT_POLL_MS);
}

static bool agent_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (!n || n > AGENT_ID_MAX)
		return false;
	return strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		      "0123456789._:-") == n;
}

/*
 * Stable across restarts, distinct per host and per mount: the machine id
 * (or host name) and a hash of the mount point.
 */
static void default_agent_id(struct agent_opts *o)
{
	char id[64] = "", host[64] = "", dir[PATH_MAX];
	FILE *f = fopen("/etc/machine-id", "re");
	size_t n;

	if (f) {
		if (fgets(id, sizeof(id), f))
			id[strcspn(id, "\n")] = '\0';
		fclose(f);
	}
	if (!id[0] || !agent_id_valid(id)) {
		gethostname(host, sizeof(host) - 1);
		n = strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789.-");
		host[n] = '\0';
		snprintf(id, sizeof(id), "%s", n ? host : "agent");
	}
	/* The same mount named two ways ("var/mnt", "/srv/x/var/mnt") is one. */
	if (!realpath(o->mount, dir))
		snprintf(dir, sizeof(dir), "%s", o->mount);
	snprintf(o->agent_id, sizeof(o->agent_id), "%s-%08x", id,
		 famfs_crc32c(dir, strlen(dir)));
}

static int parse_args(int argc, char **argv, struct agent_opts *o)
{
	enum { O_POOL = 256, O_OFFSET, O_MOUNT, O_MASTER, O_TOKEN_FILE, O_TOKEN,
	       O_AGENT_ID, O_ADDRESS, O_POLL, O_COHERENCE, O_DIRECT_IO,
	       O_BACKEND, O_META_RW, O_POOL_UUID };
	static const struct option opts[] = {
		{ "pool", required_argument, NULL, O_POOL },
		{ "pool-uuid", required_argument, NULL, O_POOL_UUID },
		{ "offset", required_argument, NULL, O_OFFSET },
		{ "mount", required_argument, NULL, O_MOUNT },
		{ "master", required_argument, NULL, O_MASTER },
		{ "token-file", required_argument, NULL, O_TOKEN_FILE },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "agent-id", required_argument, NULL, O_AGENT_ID },
		{ "address", required_argument, NULL, O_ADDRESS },
		{ "poll-ms", required_argument, NULL, O_POLL },
		{ "coherence", required_argument, NULL, O_COHERENCE },
		{ "direct-io", no_argument, NULL, O_DIRECT_IO },
		{ "backend", required_argument, NULL, O_BACKEND },
		{ "meta-rw", no_argument, NULL, O_META_RW },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *pool_uuid = NULL, *why = NULL;
	uint64_t v;
	int c, r;

	o->poll_ms = AGENT_DEFAULT_POLL_MS;
	o->backend = &agent_backend_fuse;
	o->address = "";
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case O_POOL: o->pool_path = optarg; break;
		case O_POOL_UUID: pool_uuid = optarg; break;
		case O_MOUNT: o->mount = optarg; break;
		case O_MASTER: o->master_url = optarg; break;
		case O_ADDRESS: o->address = optarg; break;
		case O_DIRECT_IO: o->direct_io = true; break;
		case O_META_RW: o->meta_rw = true; break;
		case 'v': o->verbose = true; break;
		case 'h': usage(stdout); exit(0);
		case O_OFFSET:
			if (famfs_parse_size(optarg, &o->offset) < 0)
				goto bad;
			break;
		case O_POLL:
			if (famfs_parse_size(optarg, &v) < 0 || v < 1 || v > 60000)
				goto bad;
			o->poll_ms = (unsigned int)v;
			break;
		case O_BACKEND:
			o->backend = agent_backend_find(optarg);
			if (!o->backend)
				goto bad;
			break;
		case O_COHERENCE:
			if (famfs_coherence_parse(optarg, &o->coherence) < 0)
				goto bad;
			break;
		case O_TOKEN:
			free(o->token);
			o->token = strdup(optarg);
			if (!o->token)
				return -ENOMEM;
			o->token_file = NULL;
			break;
		case O_TOKEN_FILE:
			free(o->token);
			o->token = NULL;
			o->token_file = optarg;
			r = token_file_read_one(optarg, &o->token, &why);
			if (r < 0) {
				fprintf(stderr, "famfsd agent: failed to read "
					"token file '%s': %s\n", optarg,
					r == -ENODATA ? "no token in it" :
					r == -EINVAL ? why : strerror(-r));
				return r;
			}
			break;
		case O_AGENT_ID:
			if (!agent_id_valid(optarg))
				goto bad;
			snprintf(o->agent_id, sizeof(o->agent_id), "%s", optarg);
			break;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (pool_uuid && conf_pool_by_uuid("agent", pool_uuid, o->pool_path,
					     &o->pool_path) < 0)
		return -EINVAL;
	if (optind != argc || !o->pool_path || !o->mount) {
		usage(stderr);
		return -EINVAL;
	}
	if (!o->agent_id[0])
		default_agent_id(o);
	return 0;
bad:
	fprintf(stderr, "famfsd agent: bad value '%s' for --%s\n", optarg,
		opts[c - O_POOL].name);
	return -EINVAL;
}

/*
 * Metadata through a read-only mapping (a stray store cannot hit the log);
 * file data through a second, writable mapping of the data area only.
 */
static int open_pool(struct agent *a)
{
	struct famfs_pool_open_opts po = {
		.offset = a->o.offset, .coherence = a->o.coherence,
	};
	const char *why = NULL;
	int r;

	if (a->o.backend->prepare) {
		r = a->o.backend->prepare(a);
		if (r < 0)
			return r;
	}
	r = famfs_pool_open(a->o.pool_path, &po, &a->pool, &why);
	if (r < 0) {
		msg(MSG_ERR, "Failed to open pool '%s': %s",
			  a->o.pool_path, why ? why : strerror(-r));
		return r;
	}
	a->ops = a->pool->ops;
	a->data_offset = a->pool->info.data_offset;
	a->generation = a->pool->info.log_generation;
	/* The kernel module reaches the data through DAX itself. */
	r = 0;
	if (a->o.backend->maps_data)
		r = famfs_pooldev_open(a->o.pool_path,
				       a->o.offset + a->data_offset,
				       FAMFS_DEV_WRITE, &a->data);
	if (r < 0) {
		msg(MSG_ERR, "Failed to map the data area of '%s' "
			  "for writing: %s%s", a->o.pool_path, strerror(-r),
			  r == -EINVAL ? " (a dax device needs the data area "
			  "aligned to its mapping alignment)" : "");
		return r;
	}
	r = famfs_state_new(&a->pool->info, &a->st);
	if (r < 0)
		return r;
	return agent_files_new(&a->files);
}

static int init_sync(struct agent *a)
{
	pthread_rwlockattr_t ra;
	pthread_condattr_t ca;

	/* Replay must not starve behind a stream of lookups. */
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&a->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	pthread_mutex_init(&a->wake_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->wake_cond, &ca);
	pthread_cond_init(&a->hb_cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

/*
 * Helper threads block the termination signals, so the FUSE loop's thread
 * (the only one that takes them) wakes up and ends the session.
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

static void agent_free(struct agent *a)
{
	famfs_state_free(a->st);
	agent_files_free(a->files);
	famfs_pooldev_close(a->data);
	famfs_pool_close(a->pool);
	free(a->o.token);
	pthread_rwlock_destroy(&a->lock);
	pthread_mutex_destroy(&a->wake_lock);
	pthread_cond_destroy(&a->wake_cond);
	pthread_cond_destroy(&a->hb_cond);
}

int agent_main(int argc, char **argv)
{
	static struct agent agent;	/* one per process, signal-safe to reach */
	struct agent *a = &agent;
	uint64_t t0 = clock_mono_ns(), seq, files, dirs;
	int r;

	msg_init("agent");
	init_sync(a);
	r = parse_args(argc, argv, &a->o);
	if (r < 0)
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
		r = a->o.backend->mount(a);
	if (r < 0)
		goto out;
	/* What the mount shows at start, taken before the follower runs. */
	seq = a->pos.seq;
	files = a->st->files;
	dirs = a->st->dirs;
	r = start_threads(a);
	if (r < 0)
		goto out;

	atomic_store(&a->ready, true);
	msg(MSG_INFO, "pool '%s' mounted at %s in %.1f ms: seq %"
		  PRIu64 ", %" PRIu64 " files, %" PRIu64 " directories; "
		  "polling the tail every %u ms%s%s (cache %s, %s)",
		  a->o.pool_path, a->o.mount, (clock_mono_ns() - t0) / 1e6,
		  seq, files, dirs, a->o.poll_ms,
		  a->o.master_url ? ", feed and heartbeats from " : "",
		  a->o.master_url ? a->o.master_url : "", a->ops->name,
		  !a->o.backend->maps_data ? "kernel module, DAX" :
		  a->o.direct_io ? "direct I/O" : "page cache, dropped at open");
	sd_notifyf(0, "READY=1\nSTATUS=agent: applied seq %" PRIu64
		   ", mounted at %s", seq, a->o.mount);

	r = a->o.backend->loop(a);
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
	a->o.backend->unmount(a);
	agent_free(a);
	if (a->o.master_url)
		curl_global_cleanup();
	return r < 0 ? 1 : 0;
}
