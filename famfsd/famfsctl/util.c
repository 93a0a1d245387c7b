// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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

int famfsctl_parse_seconds(const char *s, long *ret)
{
	char *end;
	unsigned long t;

	errno = 0;
	t = strtoul(s, &end, 10);
	if (errno || *end || !*s || *s == '-' || t < 1 || t > 86400)
		return -EINVAL;
	*ret = (long)t;
	return 0;
}

const char *famfsctl_size_str(uint64_t v, char buf[FAMFSCTL_STR_MAX])
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB",
					    "EiB" };
	uint64_t exact = v;
	double approx = (double)v;
	unsigned int u = 0, a = 0;

	while (exact >= 1024 && exact % 1024 == 0 && u < 6) {
		exact /= 1024;
		u++;
	}
	if (exact < 1024 || v < 1024) {
		snprintf(buf, FAMFSCTL_STR_MAX, "%llu %s",
			 (unsigned long long)exact, unit[u]);
		return buf;
	}
	while (approx >= 1024 && a < 6) {
		approx /= 1024;
		a++;
	}
	snprintf(buf, FAMFSCTL_STR_MAX, "%.1f %s", approx, unit[a]);
	return buf;
}

const char *famfsctl_time_str(uint64_t ns, char buf[FAMFSCTL_STR_MAX])
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char day[32];

	if (!gmtime_r(&s, &tm) || !strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S",
					    &tm)) {
		snprintf(buf, FAMFSCTL_STR_MAX, "%llu", (unsigned long long)ns);
		return buf;
	}
	snprintf(buf, FAMFSCTL_STR_MAX, "%s.%03uZ", day,
		 (unsigned int)(ns % 1000000000ull / 1000000));
	return buf;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* Fields counted in bytes (superblock, records, extents, quotas). */
static bool is_size_key(const char *key)
{
	static const char *const keys[] = {
		"size", "device_size", "alloc_unit", "log_offset", "log_size",
		"data_offset", "log_capacity", "log_used", "offset", "length",
		"max_bytes",
	};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return ends_with(key, "_bytes");
}

const char *famfsctl_int_str(const char *key, int64_t v, bool human,
			     char buf[FAMFSCTL_STR_MAX])
{
	if (strcmp(key, "mode") == 0)
		snprintf(buf, FAMFSCTL_STR_MAX, "0%03llo", (unsigned long long)v);
	else if (human && v >= 0 && is_size_key(key))
		famfsctl_size_str((uint64_t)v, buf);
	else if (human && v > 0 && ends_with(key, "_ns"))
		famfsctl_time_str((uint64_t)v, buf);
	else
		snprintf(buf, FAMFSCTL_STR_MAX, "%lld", (long long)v);
	return buf;
}

const char *famfsctl_key_str(const char *key, bool human,
			     char buf[FAMFSCTL_STR_MAX])
{
	size_t n = strlen(key);

	if (!human || !ends_with(key, "_ns") || n - 3 >= FAMFSCTL_STR_MAX)
		return key;
	memcpy(buf, key, n - 3);
	buf[n - 3] = '\0';
	return buf;
}
