// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A pool named by its UUID: every path the devices= globs match is probed
 * for its superblock (famfs_sb_probe, which knows how to read files, dax
 * devices and pmem block devices), and the one carrying the UUID is the
 * pool.
 */
#include <errno.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "conf/conf.h"
#include "probe.h"

int conf_pool_uuid(const char *path, uint64_t offset, uint8_t ret_uuid[16])
{
	struct famfs_pool_info info;
	int r = famfs_sb_probe(path, offset, &info);

	if (r == 0)
		memcpy(ret_uuid, info.pool_uuid, 16);
	return r;
}

int conf_pool_find(const char *globs, uint64_t offset, const uint8_t uuid[16],
		   FILE *err, char **ret_path)
{
	char *copy = strdup(globs), *save = NULL, *pat, *found = NULL;
	glob_t g = { 0 };
	char want[37];
	unsigned int seen = 0, matches = 0;
	int flags = 0, r = 0;

	if (!copy)
		return -ENOMEM;
	for (pat = strtok_r(copy, " \t", &save); pat;
	     pat = strtok_r(NULL, " \t", &save)) {
		r = glob(pat, flags, NULL, &g);
		if (r == GLOB_NOSPACE) {
			r = -ENOMEM;
			goto out;
		}
		if (r == 0)
			flags = GLOB_APPEND;
	}
	r = 0;
	uuid_unparse_lower(uuid, want);
	for (size_t i = 0; flags && i < g.gl_pathc; i++) {
		const char *p = g.gl_pathv[i];
		uint8_t u[16];

		seen++;
		if (conf_pool_uuid(p, offset, u) < 0 || memcmp(u, uuid, 16) != 0)
			continue;
		if (found && !strcmp(found, p))
			continue;	/* matched by two patterns */
		if (++matches == 1) {
			found = strdup(p);
			if (!found) {
				r = -ENOMEM;
				goto out;
			}
		} else {
			if (matches == 2)
				fprintf(err, "famfsd: pool %s is on more than one device: "
					"%s", want, found);
			fprintf(err, " %s", p);
		}
	}
	if (matches > 1) {
		fprintf(err, "; name one with [pool] path\n");
		r = -ENOTUNIQ;
	} else if (!matches) {
		fprintf(err, "famfsd: pool %s not found on any of the %u device(s) "
			"matching '%s'%s\n", want, seen, globs,
			seen ? "" : " (no such devices: check [pool] devices)");
		r = -ENOENT;
	} else {
		*ret_path = found;
		found = NULL;
	}
out:
	globfree(&g);		/* safe after a failed glob() too */
	free(found);
	free(copy);
	return r;
}
