// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What both roles' mains do with their command line: parse it by the
 * table, answer --help, say what is wrong, and resolve --pool-uuid.
 */
#include <stdio.h>

#include "common/msg.h"
#include "conf/conf.h"

int conf_role_args(unsigned int role, int argc, char **argv, void *settings)
{
	const char *name = role == CONF_ROLE_MASTER ? "master" : "agent";
	const char **uuid, **path;
	char why[512];
	int r;

	r = conf_parse_args(role, argc, argv, settings, why, sizeof(why));
	if (r > 0) {
		conf_usage(role, stdout);
		return 1;
	}
	if (r < 0) {
		msg(MSG_ERR, "%s (see 'famfsd %s --help')", why, name);
		return r;
	}
	uuid = conf_key_field(&conf_keys[K_POOL_UUID], role, settings);
	path = conf_key_field(&conf_keys[K_POOL_PATH], role, settings);
	if (*uuid)
		return conf_pool_by_uuid(name, *uuid, path);
	return 0;
}
