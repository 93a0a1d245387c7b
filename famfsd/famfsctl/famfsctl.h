/* SPDX-License-Identifier: GPL-2.0-or-later */
/* famfsctl: the admin CLI. One cmd_* per subcommand, shared helpers here. */
#ifndef FAMFSCTL_H
#define FAMFSCTL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool.h"
#include "probe.h"
#include "super.h"

/* Exit codes, as fsck(8) uses them. */
enum {
	EXIT_CLEAN = 0,
	EXIT_CORRECTED = 1,	/* errors found and repaired */
	EXIT_UNCORRECTED = 4,	/* errors left in the pool */
	EXIT_OPERATIONAL = 8,	/* could not run: bad usage, no device */
};

struct famfsctl_global {
	bool json;
	uint64_t offset;	/* --offset: pool start within the device */
	enum famfs_coherence coherence;
};

typedef int (*famfsctl_cmd_fn)(int argc, char **argv,
			       const struct famfsctl_global *g);

int cmd_mkfs(int argc, char **argv, const struct famfsctl_global *g);
int cmd_fsck(int argc, char **argv, const struct famfsctl_global *g);
int cmd_info(int argc, char **argv, const struct famfsctl_global *g);
int cmd_logdump(int argc, char **argv, const struct famfsctl_global *g);
/* This host's CXL and dax devices (cmd_devices.c, libfamfscxl). */
int cmd_devices(int argc, char **argv, const struct famfsctl_global *g);
/* GET /v1/devices as text: each host's pool candidates (famfsctl status). */
void famfsctl_print_device_hosts(struct json_object *hosts);
/* Online commands (online.h): they talk to a running master's API. */
int cmd_status(int argc, char **argv, const struct famfsctl_global *g);
int cmd_ls(int argc, char **argv, const struct famfsctl_global *g);
int cmd_stat(int argc, char **argv, const struct famfsctl_global *g);
int cmd_create(int argc, char **argv, const struct famfsctl_global *g);
int cmd_mkdir(int argc, char **argv, const struct famfsctl_global *g);
int cmd_rm(int argc, char **argv, const struct famfsctl_global *g);
int cmd_quota(int argc, char **argv, const struct famfsctl_global *g);
int cmd_agents(int argc, char **argv, const struct famfsctl_global *g);


/* Opens a pool for reading or writing, printing one error line on failure. */
int famfsctl_open_pool(const char *path, const struct famfsctl_global *g,
		       bool writable, struct famfs_pool **ret);

/* Superblock fields as a JSON object (names as docs/format.md uses them). */
struct json_object *famfsctl_info_json(const struct famfs_pool_info *info);

/* Prints obj as pretty JSON on stdout and drops it. */
void famfsctl_print_json(struct json_object *obj);

static inline void json_object_putp(struct json_object **o)
{
	json_object_put(*o);
}

#define _cleanup_json_ __attribute__((cleanup(json_object_putp)))
#define _cleanup_pool_ __attribute__((cleanup(famfs_pool_closep)))

#endif
