/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * famfsctl: the admin CLI. One famfsctl_cmd per subcommand (name, operands,
 * options, which global options it takes); famfsctl.c parses every command
 * line from those tables, so options go anywhere after the command and
 * usage and help text come from the same place. Shared helpers here.
 */
#ifndef FAMFSCTL_H
#define FAMFSCTL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "probe.h"
#include "super.h"

/* Exit codes, as fsck(8) numbers them; `famfsctl help` explains each. */
enum {
	EXIT_CLEAN = 0,
	EXIT_CORRECTED = 1,	/* fsck: errors found and repaired */
	EXIT_REFUSED = 1,	/* the master, prepare or cp refused */
	EXIT_UNCORRECTED = 4,	/* errors left in the pool */
	EXIT_OPERATIONAL = 8,	/* could not run: no device, no answer, I/O */
	EXIT_USAGE = 16,	/* bad command line */
};

/* Which global options a command takes besides its own. */
enum {
	CMD_JSON = 1u << 0,	/* -j/--json */
	CMD_HUMAN = 1u << 1,	/* -u/--human */
	CMD_POOL = 1u << 2,	/* -o/--offset, -c/--coherence: opens a device */
	CMD_ONLINE = 1u << 3,	/* --url, --token, --token-file, --cacert */
};

/*
 * One option of a command: its getopt entry and its line of help. A key
 * that is a letter is also the short option; keys from 0x100 are long only
 * (a command's own from 0x100, the global ones from 0x200).
 */
struct famfsctl_opt {
	const char *name;	/* long name, without "--" */
	int key;
	const char *arg;	/* the value's name in help ("N"); NULL: a flag */
	const char *help;
};

#define FAMFSCTL_OPT_OWN	0x100

/* Options every command may share, filled by the parser. */
struct famfsctl_global {
	bool json;
	bool human;		/* text output: sizes with units, dates */
	uint64_t offset;	/* --offset: pool start within the device */
	enum famfs_coherence coherence;
	/* Online commands; NULL: from the environment (online.h). */
	const char *url, *token, *token_file, *cacert;
};

/* An option of the command, in command-line order. */
struct famfsctl_optval {
	int key;
	const char *arg;	/* NULL for a flag */
};

struct famfsctl_cmd;

/* What the parser hands a command. */
struct famfsctl_args {
	const struct famfsctl_cmd *cmd;
	int argc;		/* the operands, options taken out */
	char **argv;
	size_t n_opts;
	struct famfsctl_optval *opts;
	struct famfsctl_global g;
};

struct famfsctl_cmd {
	const char *name;
	int (*fn)(const struct famfsctl_args *a);
	const char *operands;	/* for usage: "DEVICE", "SRC... DEST" */
	const char *summary;	/* one line for `famfsctl help` */
	const char *details;	/* more for `famfsctl help CMD`, or NULL */
	const struct famfsctl_opt *opts;	/* own options, {0}-ended, or NULL */
	unsigned int flags;	/* CMD_* */
};

/* The commands, each defined beside its cmd_* function. */
extern const struct famfsctl_cmd famfsctl_mkfs, famfsctl_fsck, famfsctl_info,
	famfsctl_logdump, famfsctl_devices, famfsctl_status, famfsctl_ls,
	famfsctl_stat, famfsctl_getmap, famfsctl_create, famfsctl_mkdir,
	famfsctl_rm, famfsctl_cp, famfsctl_quota, famfsctl_agents,
	famfsctl_compact, famfsctl_batch;

/*
 * Prints "famfsctl CMD: why" (when why is not NULL) and the command's
 * usage line on stderr; returns EXIT_USAGE.
 */
int famfsctl_usage(const struct famfsctl_args *a, const char *why);
/* "famfsctl CMD: bad value 'V' for --NAME"; returns EXIT_USAGE. */
int famfsctl_bad_value(const struct famfsctl_args *a,
		       const struct famfsctl_optval *v);

/* GET /v1/devices as text: each host's pool candidates (famfsctl status). */
void famfsctl_print_device_hosts(struct json_object *hosts);

/* Opens a pool for reading or writing, printing one error line on failure. */
int famfsctl_open_pool(const char *path, const struct famfsctl_global *g,
		       bool writable, struct famfs_pool **ret);

/* Superblock fields as a JSON object (names as docs/format.md uses them). */
struct json_object *famfsctl_info_json(const struct famfs_pool_info *info);

/* Prints obj as pretty JSON on stdout and drops it. */
void famfsctl_print_json(struct json_object *obj);

/* A --timeout-like value: whole seconds in 1..86400; -EINVAL otherwise. */
int famfsctl_parse_seconds(const char *s, long *ret);

/* famfsctl/fsck_roster.c: the agent roster's part of fsck. */
struct famfsctl_roster_findings {
	unsigned int n_mend, n_lost;
	uint8_t health[FAMFS_ROSTER_ENTRIES];	/* enum famfs_roster_health */
};

/* Each entry as a master would load it (none on a layout without room). */
int famfsctl_fsck_roster(const uint8_t *base, const struct famfs_cache_ops *ops,
			 uint64_t log_offset, struct famfsctl_roster_findings *ret);
/* Mends each entry with one bad copy from its good one (no master runs). */
int famfsctl_fsck_roster_repair(uint8_t *base, const struct famfs_cache_ops *ops,
				const struct famfsctl_roster_findings *rf);
struct json_object *famfsctl_fsck_roster_json(const struct famfsctl_roster_findings *rf,
					      bool mended);
void famfsctl_fsck_roster_text(const char *dev,
			       const struct famfsctl_roster_findings *rf,
			       bool mended);

/* Room for any string the formatters below write. */
#define FAMFSCTL_STR_MAX	48

/* "64 MiB", "4 KiB", "12345 B", exact when it can be, else "3.5 MiB". */
const char *famfsctl_size_str(uint64_t v, char buf[FAMFSCTL_STR_MAX]);
/* ns since the epoch as "2026-01-02T03:04:05.123Z" (UTC). */
const char *famfsctl_time_str(uint64_t ns, char buf[FAMFSCTL_STR_MAX]);

/*
 * The text of an integer field for people: a mode ("mode") always in
 * octal; with human, sizes and offsets with units and times ("*_ns") as
 * dates; otherwise the number.
 */
const char *famfsctl_int_str(const char *key, int64_t v, bool human,
			     char buf[FAMFSCTL_STR_MAX]);
/* The key to print beside it: "created" for "created_ns" when human. */
const char *famfsctl_key_str(const char *key, bool human,
			     char buf[FAMFSCTL_STR_MAX]);

/* A mount of this host (mount.c), as /proc/self/mountinfo gives it. */
struct famfsctl_mount {
	char *dir;		/* mount point */
	char *root;		/* the directory of the file system it shows */
	char *fstype;		/* "fuse.famfsd", "famfsd", or what else */
};

/*
 * The mount holding abs_path (absolute, symlinks resolved): 0 for a famfsd
 * mount (FUSE or kernel module); -ENOENT when it lies in another file
 * system (ret->fstype, when set, names it; free ret all the same); -errno.
 */
int famfsctl_mount_find(const char *abs_path, struct famfsctl_mount *ret);
void famfsctl_mount_free(struct famfsctl_mount *m);
/* The pool path ("/a/b") of abs_path inside m, malloc'd; NULL: no memory. */
char *famfsctl_mount_pool_path(const struct famfsctl_mount *m,
			       const char *abs_path);

static inline void json_object_putp(struct json_object **o)
{
	json_object_put(*o);
}

#define _cleanup_json_ __attribute__((cleanup(json_object_putp)))
#define _cleanup_pool_ __attribute__((cleanup(famfs_pool_closep)))

#endif
