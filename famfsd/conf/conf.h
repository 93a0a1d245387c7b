/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node configuration file, /etc/famfsd/famfsd.conf (docs/config.md):
 * an INI file read with inih.
 *
 *   [famfsd]  role, verbose
 *   [pool]    path | uuid (+ devices), offset, coherence
 *   [master]  listen, tokens, admin_token_file, tls_cert, tls_key, ...
 *   [agent]   mount, backend, master_url, token_file, agent_id, ...
 *
 * Every key is an entry of the settings table (conf/options.h), most of
 * them also a long option of "famfsd master" or "famfsd agent" (or both):
 * a role started with --config gets the file's values as options placed
 * before its own command line, so flags given there win.
 * The role mains know nothing of the file; only main.c and the master's
 * SIGHUP reload read it.
 *
 * Unknown sections and keys, bad values and repeated keys are refused,
 * each as "FILE:LINE: message".
 */
#ifndef FAMFSD_CONF_H
#define FAMFSD_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/options.h"

#define CONF_DEFAULT_PATH	"/etc/famfsd/famfsd.conf"

struct famfsd_conf {
	char *path;
	char *value[K__COUNT];		/* normalized; NULL when not set */
	unsigned int line[K__COUNT];	/* where it was set */
	unsigned int role;		/* enum conf_role, 0 when not set */
};

/*
 * Reads and checks path. On success *ret is the configuration. -EINVAL
 * when the file has errors: each is written to err as "FILE:LINE: what"
 * (one a line); other -errno when it cannot be read (also written to err).
 */
int conf_load(const char *path, FILE *err, struct famfsd_conf **ret);
void conf_free(struct famfsd_conf *c);

static inline void conf_freep(struct famfsd_conf **c)
{
	conf_free(*c);
}

/* "master", "agent", "both". */
const char *conf_role_name(unsigned int role);

/*
 * conf/pool.c: the pool device holding the pool with this UUID, found by
 * reading the superblock of every path the globs (space separated) match.
 * -ENOENT when none does, -ENOTUNIQ when several do (err names them).
 */
int conf_pool_find(const char *globs, uint64_t offset, const uint8_t uuid[16],
		   FILE *err, char **ret_path);

/*
 * The pool UUID of the superblock at offset in path: -ENODEV when there is
 * no pool, -EUCLEAN when both copies are bad, other -errno from access.
 */
int conf_pool_uuid(const char *path, uint64_t offset, uint8_t ret_uuid[16]);

/*
 * conf/argv.c: the command line of role (one role: MASTER or AGENT) for
 * this configuration: argv[0] = role name, then the file's options, then
 * args (the user's own, which win). conf-level options in args
 * (--pool-uuid U, --devices GLOBS) are consumed here. Resolves a pool
 * UUID into its device. Writes why not to err.
 */
int conf_build_argv(const struct famfsd_conf *c, unsigned int role,
		    int argc, char **argv, FILE *err,
		    int *ret_argc, char ***ret_argv);
void conf_free_argv(int argc, char **argv);

/*
 * pool_uuid.c: --pool-uuid UUID resolved to this host's device holding
 * that pool (*ret_path, kept for the process's life). Says why not on
 * stderr; 0 or -errno.
 */
int conf_pool_by_uuid(const char *role, const char *uuid, const char **ret_path);

#endif
