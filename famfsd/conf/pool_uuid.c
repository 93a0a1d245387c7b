// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --pool-uuid UUID for both roles: the pool named by its UUID, resolved
 * once at start to the device of this host that holds it (libfamfscxl
 * reads the superblock of every dax device and fsdax namespace). A /dev
 * path can change across boots and differs between hosts; the UUID does
 * not. (With --config, the configuration layer resolves [pool] uuid over
 * its own device globs before the role starts.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "famfs_cxl.h"

/* The resolved path lives as long as the process: the role keeps it. */
static char *resolved;

int conf_pool_by_uuid(const char *role, const char *uuid, const char **ret_path)
{
	char *msg = NULL, *path = NULL;
	size_t len = 0;
	FILE *err;
	int r;

	err = open_memstream(&msg, &len);
	if (!err)
		return -ENOMEM;
	r = famfs_cxl_find_pool_path(uuid, err, &path);
	fclose(err);
	if (r < 0) {
		fprintf(stderr, "famfsd %s: --pool-uuid: %s", role,
			msg && msg[0] ? msg : "not found\n");
		free(msg);
		return r;
	}
	free(msg);
	fprintf(stderr, "famfsd %s: pool %s is %s\n", role, uuid, path);
	free(resolved);
	resolved = path;
	*ret_path = resolved;
	return 0;
}
