// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "elect.h"
#include "famfsctl.h"
#include "fsck.h"
#include "lease.h"

#define KEY_DEAD_MASTER	(FAMFSCTL_OPT_OWN + 1)

struct mkfs_args {
	const char *device;
	struct famfs_mkfs_opts o;
	uint64_t create_size;
	bool force;
	bool dead_master;	/* the operator vouches the lease holder is dead */
};

/* The command line into m; EXIT_CLEAN, or EXIT_USAGE after saying why. */
static int parse(const struct famfsctl_args *a, struct mkfs_args *m)
{
	for (size_t i = 0; i < a->n_opts; i++) {
		const struct famfsctl_optval *v = &a->opts[i];
		uint64_t *dst = v->key == 'l' ? &m->o.log_size :
				v->key == 'a' ? &m->o.alloc_unit : &m->create_size;

		if (v->key == 'f')
			m->force = true;
		else if (v->key == KEY_DEAD_MASTER)
			m->dead_master = true;
		else if (famfs_parse_size(v->arg, dst) < 0)
			return famfsctl_bad_value(a, v);
	}
	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one DEVICE only" : "no DEVICE");
	m->device = a->argv[0];
	return EXIT_CLEAN;
}

/*
 * Refuses to overwrite a pool unless forced; says what it found. Returns 0
 * when formatting may go on and no pool is there, 1 when one is there
 * (forced: its master lease decides, check_lease()).
 */
static int check_existing(struct famfs_pooldev *dev, const char *path,
			  const struct famfsctl_global *g, bool force)
{
	struct famfs_fsck_report rep;
	char uuid[37];
	int r = famfs_fsck(famfs_pooldev_base(dev), famfs_pooldev_size(dev),
			   famfs_cache_ops_get(g->coherence), &rep);

	if (r == -ENODEV)
		return 0;
	if (force)
		return 1;
	if (rep.where == FAMFS_FSCK_SUPERBLOCK) {
		fprintf(stderr, "famfsctl mkfs: '%s' holds a damaged famfsd "
			"superblock; use --force to overwrite it\n", path);
		return -EEXIST;
	}
	uuid_unparse_lower(rep.info.pool_uuid, uuid);
	fprintf(stderr, "famfsctl mkfs: '%s' already holds pool %s "
		"(%" PRIu64 " files, %" PRIu64 " directories, %" PRIu64
		" log records); use --force to overwrite it\n",
		path, uuid, rep.files, rep.dirs, rep.records);
	return -EEXIST;
}

/* A holder on this host whose process is gone (kill -9, a crash). */
static bool holder_gone_here(const struct famfs_lease_info *l)
{
	char host[FAMFS_HOST_MAX + 1] = "";

	if (gethostname(host, sizeof(host) - 1) < 0 || strcmp(host, l->host) != 0 ||
	    l->pid == 0)
		return false;
	return kill((pid_t)l->pid, 0) < 0 && errno == ESRCH;
}

static void holder_line(const struct famfs_lease_info *l, int r, char *buf,
			size_t size)
{
	struct timespec now;
	uint64_t ns;

	if (r < 0) {
		snprintf(buf, size, "a master whose lease area is corrupt (torn?)");
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	snprintf(buf, size, "the master on host %s, pid %u, epoch %" PRIu64
		 " (lease renewed %.1f s ago by this host's clock)", l->host,
		 l->pid, l->epoch, ns > l->renewed_ns ?
		 (double)(ns - l->renewed_ns) / 1e9 : 0.0);
}

/*
 * Refuses a pool whose master lease someone still renews, whatever
 * --force says: formatting under a live master is how its old records
 * came back in a new pool. Live is judged by watching the lease change
 * (famfs_lease_watch), not by comparing the holder's clock with ours. A
 * lease never held or released, or held by a process of this host that
 * is gone, needs no watch. Returns 0 when formatting may go on.
 */
/*
 * An election slot a running master or standby may still write: STANDBY or
 * ACTIVE (unless its process is gone from this host), or unreadable. The
 * watch then lasts past its lease; *ret_wait_ms only grows.
 */
static int slots_in_use(const uint8_t *base, const struct famfs_cache_ops *ops,
			unsigned int *ret_wait_ms, char *who, size_t size)
{
	struct famfs_elect_view v;
	int n = 0;

	if (famfs_elect_view(base, ops, &v) < 0)
		return 0;
	for (unsigned int i = 0; i < FAMFS_ELECT_SLOTS; i++) {
		const struct famfs_elect_slot_info *x = &v.slot[i];
		struct famfs_lease_info l = { .pid = x->pid };
		uint64_t ms;

		if (v.status[i] == -ENOENT)
			continue;
		if (v.status[i] == 0) {
			snprintf(l.host, sizeof(l.host), "%s", x->host);
			if ((x->state != FAMFS_ELECT_STANDBY &&
			     x->state != FAMFS_ELECT_ACTIVE) || holder_gone_here(&l))
				continue;
			/* W and a standby's beat period on top, in ms. */
			ms = (x->lease_ns + x->lease_ns / 2) / 1000000u + 1;
			if (ms > *ret_wait_ms)
				*ret_wait_ms = ms > 600000 ? 600000 : (unsigned int)ms;
		}
		if (!n++)
			snprintf(who, size, v.status[i] ? "election slot %u "
				 "(unreadable)" : "election slot %u (%s on host %s, "
				 "pid %u, epoch %" PRIu64 ")", i,
				 x->state == FAMFS_ELECT_ACTIVE ? "active master" :
				 "standby", x->host, x->pid, x->epoch);
	}
	return n;
}

static int check_lease(struct famfs_pooldev *dev, const char *path,
		       const struct famfsctl_global *g)
{
	const struct famfs_cache_ops *ops = famfs_cache_ops_get(g->coherence);
	const uint8_t *base = famfs_pooldev_base(dev);
	unsigned int wait_ms = FAMFS_LEASE_WATCH_MS;
	struct famfs_lease_info l;
	char who[256], slot[160] = "";
	int r = famfs_lease_read(base, ops, &l);
	int slots = slots_in_use(base, ops, &wait_ms, slot, sizeof(slot));
	bool held = !(r == -ENOENT || (r == 0 && (l.released || !l.epoch)) ||
		      (r == 0 && holder_gone_here(&l)));

	if (!held && !slots)
		return 0;
	holder_line(&l, r, who, sizeof(who));
	fprintf(stderr, "famfsctl mkfs: '%s' has %s%s%s; watching for %u s for "
		"a renewal\n", path, held ? "a master lease held by " : "",
		held ? who : "", slots ? (held ? " and " : "") : "",
		(wait_ms + 999) / 1000);
	if (slots)
		fprintf(stderr, "famfsctl mkfs: %d election slot%s in use, first "
			"%s\n", slots, slots > 1 ? "s" : "", slot);
	r = famfs_lease_watch(base, ops, wait_ms, 50);
	if (r == 0) {
		fprintf(stderr, "famfsctl mkfs: neither the lease nor an "
			"election slot was renewed in %u s: taking its master "
			"for dead\n", (wait_ms + 999) / 1000);
		return 0;
	}
	r = famfs_lease_read(base, ops, &l);
	holder_line(&l, r, who, sizeof(who));
	fprintf(stderr, "famfsctl mkfs: refusing to format '%s': its pool is in "
		"use by %s, which renews its lease or election slot; stop every "
		"master and standby first (--force does not override this), or, "
		"only if they are dead and will stay so, use --dead-master\n",
		path, held ? who : slots ? slot : "a master");
	return -EBUSY;
}

static int cmd_mkfs(const struct famfsctl_args *args)
{
	const struct famfsctl_global *g = &args->g;
	struct famfs_pooldev *dev = NULL;
	struct famfs_pool_info info;
	struct mkfs_args a = { 0 };
	uint64_t min = 0;
	char uuid[37];
	int r;

	r = parse(args, &a);
	if (r != EXIT_CLEAN)
		return r;
	if (a.create_size) {
		r = famfs_pooldev_create_file(a.device, a.create_size);
		if (r < 0) {
			fprintf(stderr, "famfsctl mkfs: failed to create '%s': %s\n",
				a.device, strerror(-r));
			return EXIT_OPERATIONAL;
		}
	}
	r = famfs_pooldev_open(a.device, g->offset,
			       FAMFS_DEV_WRITE | FAMFS_DEV_BLOCK_OK, &dev);
	if (r < 0) {
		fprintf(stderr, "famfsctl mkfs: failed to open '%s': %s\n",
			a.device, famfs_pooldev_strerror(r));
		return EXIT_OPERATIONAL;
	}
	r = check_existing(dev, a.device, g, a.force);
	if (r == 1)
		r = a.dead_master ? 0 : check_lease(dev, a.device, g);
	if (r == 0)
		r = famfs_pool_format(dev, famfs_cache_ops_get(g->coherence), &a.o,
				      &info, &min);
	if (r == -ENOSPC)
		fprintf(stderr, "famfsctl mkfs: '%s' is too small: %" PRIu64
			" bytes; this log size and allocation unit need at least "
			"%" PRIu64 " bytes\n", a.device,
			famfs_pooldev_size(dev), min);
	else if (r == -EINVAL)
		fprintf(stderr, "famfsctl mkfs: the allocation unit must be a "
			"power of two from 4 KiB to 1 GiB and the log at least "
			"1 MiB, a multiple of 64 bytes\n");
	if (r == 0) {
		/* A block device holds the format only once written back. */
		r = famfs_pooldev_sync(dev);
		if (r < 0)
			fprintf(stderr, "famfsctl mkfs: failed to write '%s' "
				"back: %s\n", a.device, strerror(-r));
	}
	famfs_pooldev_close(dev);
	if (r < 0)
		return EXIT_OPERATIONAL;
	if (g->json) {
		famfsctl_print_json(famfsctl_info_json(&info));
		return EXIT_CLEAN;
	}
	uuid_unparse_lower(info.pool_uuid, uuid);
	printf("formatted %s: pool %s, %" PRIu64 " bytes, allocation unit %"
	       PRIu64 ", log %" PRIu64 " bytes, data from offset %" PRIu64 "\n",
	       a.device, uuid, info.device_size, info.alloc_unit, info.log_size,
	       info.data_offset);
	return EXIT_CLEAN;
}

static const struct famfsctl_opt mkfs_opts[] = {
	{ "create", 'C', "SIZE", "first create DEVICE, a sparse file" },
	{ "log-size", 'l', "N", "metadata log (default 64 MiB, >= 1 MiB)" },
	{ "alloc-unit", 'a', "N", "power of 2, 4 KiB-1 GiB (default 2 MiB)" },
	{ "force", 'f', NULL, "overwrite a pool (never one a live master holds)" },
	{ "dead-master", KEY_DEAD_MASTER, NULL, "with --force: its master is "
	  "dead, skip the lease watch" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_mkfs = {
	.name = "mkfs",
	.fn = cmd_mkfs,
	.operands = "DEVICE",
	.summary = "format a device (file, dax device, pmem disk) as a pool",
	.opts = mkfs_opts,
	.flags = CMD_JSON | CMD_POOL,
};
