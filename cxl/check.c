// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Pool candidates: can this device hold a famfsd pool, and does it hold
 * one already?
 *
 * - in use: some process has it open or mapped (one walk over /proc for
 *   every candidate at once), it is mounted (the kernel module's pmem
 *   device), or another block device holds it (dm, md);
 * - alignment: famfs maps and allocates in 2 MiB units (PMD faults), so a
 *   devdax or fsdax alignment other than 2 MiB is refused;
 * - too small: below the smallest pool famfs_sb_plan() accepts;
 * - system-ram and disabled dax devices are marked by the scan itself.
 *
 * The superblock is read by famfs_sb_probe(): a read-only mapping for dax
 * devices, O_DIRECT for pmem block devices (so the page cache cannot
 * answer with what this host saw before another host formatted the pool).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "famfsd_format.h"
#include "private.h"
#include "probe.h"
#include "super.h"

static const char *const problem_codes[FAMFS_CXL_P__COUNT] = {
	[FAMFS_CXL_P_SYSTEM_RAM] = "system-ram",
	[FAMFS_CXL_P_DISABLED] = "disabled",
	[FAMFS_CXL_P_ALIGN] = "align",
	[FAMFS_CXL_P_IN_USE] = "in-use",
	[FAMFS_CXL_P_TOO_SMALL] = "too-small",
};

const char *cxl_problem_code(enum famfs_cxl_problem p)
{
	return (unsigned int)p < FAMFS_CXL_P__COUNT ? problem_codes[p] : "unknown";
}

int cxl_check_add(struct famfs_cxl_check *c, enum famfs_cxl_problem p,
		  const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int r;

	for (unsigned int i = 0; i < c->n_problems; i++)
		if (c->problem[i] == p)
			return 0;
	if (c->n_problems >= CXL_MAX_PROBLEMS)
		return 0;
	va_start(ap, fmt);
	r = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	c->problem[c->n_problems] = p;
	c->message[c->n_problems++] = msg;
	return 0;
}

void cxl_check_clear(struct famfs_cxl_check *c)
{
	for (unsigned int i = 0; i < c->n_problems; i++)
		free(c->message[i]);
	free(c->path);
	free(c->users);
	memset(c, 0, sizeof(*c));
}

/* The smallest device a pool fits on (famfs_sb_plan with the minimum log). */
static uint64_t min_pool_size(void)
{
	struct famfs_pool_info info;
	uint64_t min = 0;

	/* A zero-sized device is always too small: the call says how big. */
	(void)famfs_sb_plan(0, 0, FAMFS_MIN_LOG_SIZE, &info, &min);
	return min;
}

/* "2 MiB", "4096 bytes": for messages. */
static void human(uint64_t v, char *buf, size_t size)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;

	while (v >= 1024 && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%" PRIu64 " bytes", v);
	else
		snprintf(buf, size, "%" PRIu64 " %s", v, unit[u]);
}

/* ---- users: one walk over /proc ------------------------------------------ */

static struct famfs_cxl_check *by_rdev(struct famfs_cxl_ctx *ctx, dev_t rdev,
				       bool block)
{
	struct famfs_cxl_daxdev *x;
	struct famfs_cxl_namespace *n;

	if (!rdev)
		return NULL;
	famfs_cxl_daxdev_foreach(ctx, x)
		if (!block && x->check.rdev == rdev)
			return &x->check;
	famfs_cxl_namespace_foreach(ctx, n)
		if (block && n->check && n->check->rdev == rdev)
			return n->check;
	return NULL;
}

static struct famfs_cxl_check *by_path(struct famfs_cxl_ctx *ctx, const char *path)
{
	struct famfs_cxl_daxdev *x;

	famfs_cxl_daxdev_foreach(ctx, x)
		if (x->check.path && !strcmp(x->check.path, path))
			return &x->check;
	return NULL;
}

#define USERS_MAX	768	/* keeps the message short; the rest is "..." */

/* Adds "comm[pid]" to c's users once. */
static void add_user(struct famfs_cxl_check *c, const char *who)
{
	const char *p = c->users;
	size_t n = strlen(who);

	if (c->users && strlen(c->users) > USERS_MAX) {
		if (!strstr(c->users, ", ..."))
			(void)cxl_str_add(&c->users, "...");
		return;
	}

	while (p && (p = strstr(p, who))) {
		if ((p == c->users || p[-1] == ' ') && (p[n] == ',' || !p[n]))
			return;
		p += n;
	}
	(void)cxl_str_add(&c->users, who);
}

static void proc_comm(const char *pid, char *who, size_t size)
{
	char path[64], comm[64] = "?";

	snprintf(path, sizeof(path), "/proc/%.20s/comm", pid);
	(void)cxl_sysfs_read(path, comm, sizeof(comm));
	snprintf(who, size, "%.63s[%.20s]", comm, pid);
}

static void scan_fds(struct famfs_cxl_ctx *ctx, const char *pid)
{
	char path[PATH_MAX], who[96] = "";
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		struct famfs_cxl_check *c;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, e->d_name);
		if (stat(path, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
			continue;
		c = by_rdev(ctx, st.st_rdev, S_ISBLK(st.st_mode));
		if (!c)
			continue;
		if (!who[0])
			proc_comm(pid, who, sizeof(who));
		add_user(c, who);
	}
	closedir(d);
}

/* Mappings outlive their descriptor: a dax device mapped and closed. */
static void scan_maps(struct famfs_cxl_ctx *ctx, const char *pid)
{
	char path[64], who[96] = "", *line = NULL;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%.20s/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char *p = strstr(line, " /dev/dax");
		struct famfs_cxl_check *c;

		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		c = by_path(ctx, p + 1);
		if (!c)
			continue;
		if (!who[0])
			proc_comm(pid, who, sizeof(who));
		add_user(c, who);
	}
	free(line);
	fclose(f);
}

static void scan_mounts(struct famfs_cxl_ctx *ctx)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		unsigned int maj, min;
		char dir[PATH_MAX / 4], what[PATH_MAX / 4 + 16];
		struct famfs_cxl_check *c;

		/* id parent major:minor root mountpoint ... */
		if (sscanf(line, "%*u %*u %u:%u %*s %1023s", &maj, &min, dir) != 3)
			continue;
		c = by_rdev(ctx, makedev(maj, min), true);
		if (!c)
			continue;
		snprintf(what, sizeof(what), "mounted on %s", dir);
		add_user(c, what);
	}
	free(line);
	fclose(f);
}

static void scan_holders(struct famfs_cxl_check *c)
{
	char path[PATH_MAX], what[300];
	const char *name = strrchr(c->path, '/');
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/block/%s/holders", name ? name + 1 : c->path);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(what, sizeof(what), "held by %s", e->d_name);
		add_user(c, what);
	}
	closedir(d);
}

void cxl_check_users(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_namespace *n;
	struct dirent *e;
	DIR *d;

	if (!ctx->daxdevs && !ctx->namespaces)
		return;
	d = opendir("/proc");
	if (d) {
		while ((e = readdir(d))) {
			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			scan_fds(ctx, e->d_name);
			if (ctx->daxdevs)
				scan_maps(ctx, e->d_name);
		}
		closedir(d);
	}
	scan_mounts(ctx);
	famfs_cxl_namespace_foreach(ctx, n)
		if (n->check)
			scan_holders(n->check);
}

/* ---- one candidate ------------------------------------------------------- */

int cxl_check_run(struct famfs_cxl_ctx *ctx, struct famfs_cxl_check *c)
{
	uint64_t min = min_pool_size();
	struct famfs_pool_info info;
	char a[32], b[32];
	bool readable = true;
	int r = 0;

	for (unsigned int i = 0; i < c->n_problems; i++)
		if (c->problem[i] == FAMFS_CXL_P_SYSTEM_RAM ||
		    c->problem[i] == FAMFS_CXL_P_DISABLED)
			readable = false;
	if (c->users)
		r = cxl_check_add(c, FAMFS_CXL_P_IN_USE, "in use: %s", c->users);
	if (!r && c->align && c->align != CXL_POOL_ALIGN) {
		human(c->align, a, sizeof(a));
		r = cxl_check_add(c, FAMFS_CXL_P_ALIGN, "alignment is %s, not 2 MiB "
				  "(famfs maps and allocates in 2 MiB units)", a);
	}
	if (!r && c->size < min) {
		human(c->size, a, sizeof(a));
		human(min, b, sizeof(b));
		r = cxl_check_add(c, FAMFS_CXL_P_TOO_SMALL, "too small: %s, a pool "
				  "needs at least %s", a, b);
	}
	if (r < 0 || !readable)
		return r;
	r = famfs_sb_probe(c->path, 0, &info);
	if (r == 0) {
		c->has_pool = true;
		memcpy(c->pool_uuid, info.pool_uuid, 16);
	} else {
		cxl_dbg(ctx, "%s: no famfsd pool (%s)", c->path, strerror(-r));
	}
	return 0;
}

/* ---- getters ------------------------------------------------------------- */

const char *famfs_cxl_check_get_path(struct famfs_cxl_check *c)
{
	return c->path;
}

unsigned int famfs_cxl_check_get_problem_count(struct famfs_cxl_check *c)
{
	return c->n_problems;
}

const char *famfs_cxl_check_get_problem_message(struct famfs_cxl_check *c,
						unsigned int i)
{
	return i < c->n_problems ? c->message[i] : NULL;
}

bool famfs_cxl_check_get_pool_uuid(struct famfs_cxl_check *c, uint8_t uuid[16])
{
	if (c->has_pool)
		memcpy(uuid, c->pool_uuid, 16);
	return c->has_pool;
}

/* ---- finding a pool by UUID ---------------------------------------------- */

/*
 * The device holding the pool with this UUID among the scanned candidates:
 * 0 with *ret_path (malloc'd), -ENOENT, -ENOTUNIQ or -ENOMEM.
 */
static int find_pool(struct famfs_cxl_ctx *ctx, const uint8_t uuid[16],
		     char **ret_path)
{
	struct famfs_cxl_check *found = NULL;
	struct famfs_cxl_namespace *n;
	struct famfs_cxl_daxdev *x;
	unsigned int matches = 0;

	famfs_cxl_daxdev_foreach(ctx, x)
		if (x->check.has_pool && !memcmp(x->check.pool_uuid, uuid, 16)) {
			found = &x->check;
			matches++;
		}
	famfs_cxl_namespace_foreach(ctx, n)
		if (n->check && n->check->has_pool &&
		    !memcmp(n->check->pool_uuid, uuid, 16)) {
			found = n->check;
			matches++;
		}
	if (!matches)
		return -ENOENT;
	if (matches > 1)
		return -ENOTUNIQ;
	*ret_path = strdup(found->path);
	return *ret_path ? 0 : -ENOMEM;
}

int famfs_cxl_find_pool_path(const char *uuid_str, FILE *err, char **ret_path)
{
	struct famfs_cxl_ctx *ctx = NULL;
	struct famfs_cxl_namespace *n;
	struct famfs_cxl_daxdev *x;
	uint8_t uuid[16];
	int r;

	if (uuid_parse(uuid_str, uuid) < 0) {
		if (err)
			fprintf(err, "bad pool UUID '%s'\n", uuid_str);
		return -EINVAL;
	}
	r = famfs_cxl_new(&ctx);
	if (r < 0) {
		if (err)
			fprintf(err, "cannot scan this host's CXL and dax devices: "
				"%s\n", strerror(-r));
		return r;
	}
	r = find_pool(ctx, uuid, ret_path);
	if (r == -ENOENT && err) {
		unsigned int seen = 0;

		famfs_cxl_daxdev_foreach(ctx, x)
			seen++;
		famfs_cxl_namespace_foreach(ctx, n)
			seen += n->check != NULL;
		fprintf(err, "pool %s is on none of this host's %u dax or fsdax "
			"device(s) (see famfsctl devices)\n", uuid_str, seen);
	} else if (r == -ENOTUNIQ && err) {
		fprintf(err, "pool %s is on more than one device of this host:", uuid_str);
		famfs_cxl_daxdev_foreach(ctx, x)
			if (x->check.has_pool && !memcmp(x->check.pool_uuid, uuid, 16))
				fprintf(err, " %s", x->check.path);
		famfs_cxl_namespace_foreach(ctx, n)
			if (n->check && n->check->has_pool &&
			    !memcmp(n->check->pool_uuid, uuid, 16))
				fprintf(err, " %s", n->check->path);
		fprintf(err, "; name one with --pool\n");
	}
	famfs_cxl_unref(ctx);
	return r;
}
