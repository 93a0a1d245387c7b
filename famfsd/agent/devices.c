// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * This host's CXL and dax inventory (libfamfscxl), which the heartbeat
 * sends to the master, and when to scan it again.
 *
 * A scan reads sysfs for every memdev, region, namespace and dax device,
 * walks the open files and mappings of every process under /proc (who
 * holds a device) and reads each candidate's superblock: too much to
 * repeat every few seconds on a large host, for something that changes a
 * few times in a machine's life. So the agent scans at start, then:
 *  - when the kernel announces a change: a uevent of subsystem cxl, nd,
 *    dax or memory (a device added or removed, bound to another driver as
 *    devdax <-> system-ram, memory blocks on- or offlined). The socket is
 *    the kernel's own netlink multicast, which needs no udevd; the
 *    heartbeat drains it every second, so a change is reported within a
 *    second or so, and a burst of events costs one scan;
 *  - every DEVICES_RESCAN_S for what no uevent announces: a process that
 *    opens a device, a pool formatted on one, a mount of a pmem device;
 *  - every DEVICES_POLL_S, the period before there was a monitor, where
 *    the socket cannot be had (no netlink in a sandbox).
 */
#include <errno.h>
#include <json-c/json.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "famfs_cxl.h"

#define DEVICES_RESCAN_S	600
#define DEVICES_POLL_S		30
#define UEVENT_BUF		8192	/* the kernel's uevent buffer is 2 KiB */

struct agent_devices {
	int uevent_fd;		/* -1: none, rescan every DEVICES_POLL_S */
	time_t scanned;		/* CLOCK_MONOTONIC seconds, 0: never */
	char *json;		/* the inventory of the last good scan */
};

/* The subsystems whose devices the inventory shows. */
static bool subsystem_matters(const char *s)
{
	static const char *const watched[] = { "cxl", "nd", "dax", "memory" };

	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (strcmp(s, watched[i]) == 0)
			return true;
	return false;
}

/*
 * A kernel uevent is "ACTION@DEVPATH" and NUL-terminated KEY=VALUE pairs;
 * true when its SUBSYSTEM is one of ours.
 */
static bool uevent_matters(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i += strnlen(buf + i, len - i) + 1)
		if (strncmp(buf + i, "SUBSYSTEM=", 10) == 0 &&
		    strnlen(buf + i, len - i) < len - i)
			return subsystem_matters(buf + i + 10);
	return false;
}

static int uevent_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			NETLINK_KOBJECT_UEVENT);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/*
 * Reads every pending uevent; true when one of them concerns the inventory,
 * or some were lost (the socket's buffer overflowed).
 */
static bool uevents_pending(struct agent_devices *d)
{
	char buf[UEVENT_BUF];
	bool changed = false;

	for (;;) {
		struct sockaddr_nl from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(d->uevent_fd, buf, sizeof(buf) - 1, 0,
				     (struct sockaddr *)&from, &flen);

		if (n < 0 && errno == ENOBUFS) {
			changed = true;
			continue;
		}
		if (n < 0)
			break;
		/* Only the kernel's own (port 0): another process's are not news. */
		if (from.nl_pid != 0 || !uevent_matters(buf, (size_t)n))
			continue;
		buf[n] = '\0';
		if (!changed)
			msg(MSG_DEBUG, "the kernel announced %s: rescanning "
				  "this host's devices", buf);
		changed = true;
	}
	return changed;
}

int agent_devices_new(struct agent_devices **ret)
{
	struct agent_devices *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->uevent_fd = uevent_open();
	if (d->uevent_fd < 0)
		msg(MSG_INFO, "cannot watch for device changes (uevent "
			  "socket: %s); rescanning this host's devices every "
			  "%d s instead", strerror(-d->uevent_fd), DEVICES_POLL_S);
	*ret = d;
	return 0;
}

void agent_devices_free(struct agent_devices *d)
{
	if (!d)
		return;
	if (d->uevent_fd >= 0)
		close(d->uevent_fd);
	free(d->json);
	free(d);
}

/* One scan; true when its inventory differs from the last one. */
static bool scan(struct agent_devices *d)
{
	struct famfs_cxl_ctx *ctx = NULL;
	struct json_object *o;
	char *s;
	int r;

	r = famfs_cxl_new(&ctx);
	if (r < 0) {
		if (!d->json)
			msg(MSG_WARN, "Failed to scan this host's CXL "
				  "and dax devices: %s, ignoring", strerror(-r));
		return false;
	}
	o = famfs_cxl_to_json(ctx, 0);
	s = o ? strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) : NULL;
	json_object_put(o);
	famfs_cxl_unref(ctx);
	if (!s)
		return false;
	if (d->json && strcmp(d->json, s) == 0) {
		free(s);
		return false;
	}
	free(d->json);
	d->json = s;
	return true;
}

bool agent_devices_update(struct agent_devices *d)
{
	struct timespec now;
	bool announced;
	time_t period;

	if (!d)
		return false;
	announced = d->uevent_fd >= 0 && uevents_pending(d);
	period = d->uevent_fd >= 0 ? DEVICES_RESCAN_S : DEVICES_POLL_S;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (d->scanned && !announced && now.tv_sec - d->scanned < period)
		return false;
	d->scanned = now.tv_sec ? now.tv_sec : 1;
	return scan(d);
}

const char *agent_devices_json(const struct agent_devices *d)
{
	return d ? d->json : NULL;
}
