// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * --backend auto (the default): the kernel module where it can serve this
 * pool, FUSE otherwise, with the reason for the start-up line.
 *
 * The module can serve the pool when it is loaded (/sys/module/famfsd, or
 * "famfsd" among /proc/filesystems for a module built in) and the pool is
 * a device it mounts: a pmem block device in fsdax mode or a device-dax
 * character device, at offset 0. A pool in a regular file (make run, the
 * host tests) or at an --offset is FUSE's even with the module loaded, so
 * that loading the module never breaks an agent that worked before.
 *
 * No state and nothing of the agent's: a unit test calls it with a fake
 * root (tests/unit/test_backend_auto.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/backend.h"

/* "nodev\tfamfsd" (or "\tfamfsd") among the lines of ROOT/proc/filesystems. */
static bool fs_type_known(const char *root, const char *type)
{
	char path[4096], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/filesystems", root);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *name = strchr(line, '\t');

		if (name) {
			name++;
			name[strcspn(name, "\n")] = '\0';
			found = strcmp(name, type) == 0;
		}
	}
	fclose(f);
	return found;
}

static bool module_loaded(const char *root)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/sys/module/famfsd", root);
	return (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) ||
	       fs_type_known(root, "famfsd");
}

const char *agent_backend_auto(const char *root, const char *pool_path,
			       uint64_t offset, const char **ret_why)
{
	struct stat st;

	if (!module_loaded(root)) {
		*ret_why = "the famfsd kernel module is not loaded";
		return "fuse";
	}
	if (stat(pool_path, &st) < 0 ||
	    !(S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))) {
		*ret_why = "the famfsd module is loaded, but the pool is not a "
			   "pmem or dax device";
		return "fuse";
	}
	if (offset) {
		*ret_why = "the famfsd module is loaded, but the pool is at an "
			   "--offset of its device";
		return "fuse";
	}
	*ret_why = S_ISCHR(st.st_mode) ?
		"the famfsd kernel module is loaded and the pool is a dax device" :
		"the famfsd kernel module is loaded and the pool is a pmem device";
	return "kmod";
}
