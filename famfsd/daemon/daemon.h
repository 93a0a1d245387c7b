/* SPDX-License-Identifier: GPL-2.0-or-later */
/* famfsd roles: each one's entry point, called with argv[0] = role name. */
#ifndef FAMFSD_DAEMON_H
#define FAMFSD_DAEMON_H

int master_main(int argc, char **argv);
int agent_main(int argc, char **argv);

/*
 * pool_uuid.c: --pool-uuid UUID resolved to this host's device holding
 * that pool (*ret_path, kept for the process's life). given is --pool, if
 * any: both is an error. Says why not on stderr; 0 or -errno.
 */
int daemon_pool_by_uuid(const char *role, const char *uuid, const char *given,
			const char **ret_path);

#endif
