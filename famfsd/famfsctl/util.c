// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uuid/uuid.h>

#include "famfsctl.h"

int famfsctl_open_pool(const char *path, const struct famfsctl_global *g,
		       bool writable, struct famfs_pool **ret)
{
	struct famfs_pool_open_opts o = {
		.offset = g->offset,
		.dev_flags = FAMFS_DEV_BLOCK_OK | (writable ? FAMFS_DEV_WRITE : 0),
		.coherence = g->coherence,
	};
	const char *why;
	int r = famfs_pool_open(path, &o, ret, &why);

	if (r < 0)
		fprintf(stderr, "famfsctl: failed to open pool '%s': %s\n", path,
			why ? why : strerror(-r));
	return r;
}

struct json_object *famfsctl_info_json(const struct famfs_pool_info *info)
{
	struct json_object *o = json_object_new_object();
	char uuid[37];

	uuid_unparse_lower(info->pool_uuid, uuid);
	json_object_object_add(o, "pool_uuid", json_object_new_string(uuid));
	json_object_object_add(o, "format_version",
			       json_object_new_int64(info->version));
	json_object_object_add(o, "device_size",
			       json_object_new_int64((int64_t)info->device_size));
	json_object_object_add(o, "alloc_unit",
			       json_object_new_int64((int64_t)info->alloc_unit));
	json_object_object_add(o, "log_offset",
			       json_object_new_int64((int64_t)info->log_offset));
	json_object_object_add(o, "log_size",
			       json_object_new_int64((int64_t)info->log_size));
	json_object_object_add(o, "data_offset",
			       json_object_new_int64((int64_t)info->data_offset));
	json_object_object_add(o, "log_generation",
			       json_object_new_int64((int64_t)info->log_generation));
	json_object_object_add(o, "created_ns",
			       json_object_new_int64((int64_t)info->created_ns));
	json_object_object_add(o, "sb_seq",
			       json_object_new_int64((int64_t)info->sb_seq));
	return o;
}

void famfsctl_print_json(struct json_object *obj)
{
	puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(obj);
}
