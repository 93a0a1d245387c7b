// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl online commands on the namespace: ls, stat, getmap, create,
 * mkdir, rm. Each builds one API request (ls pages through the directory),
 * prints the reply as text or, with --json, as the API's JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"

/* "key      value", keys 8 wide as the stat output always had them. */
static void print_int(struct json_object *f, const char *key, bool human)
{
	char k[FAMFSCTL_STR_MAX], v[FAMFSCTL_STR_MAX];

	printf("%-8s %s\n", famfsctl_key_str(key, human, k),
	       famfsctl_int_str(key, online_int(f, key), human, v));
}

static void print_extents(struct json_object *f, bool human)
{
	char o[FAMFSCTL_STR_MAX], l[FAMFSCTL_STR_MAX];
	struct json_object *ext;

	if (!json_object_object_get_ex(f, "extents", &ext))
		return;
	printf("extents  %zu\n", json_object_array_length(ext));
	for (size_t i = 0; i < json_object_array_length(ext); i++) {
		struct json_object *e = json_object_array_get_idx(ext, i);

		printf("  offset %-14s length %s\n",
		       famfsctl_int_str("offset", online_int(e, "offset"), human, o),
		       famfsctl_int_str("length", online_int(e, "length"), human, l));
	}
}

static void print_entry(struct json_object *f, bool human)
{
	printf("path     %s\n", online_str(f, "path"));
	printf("type     %s\n", online_str(f, "type"));
	print_int(f, "ino", human);
	print_int(f, "size", human);
	print_int(f, "mode", human);
	printf("uid:gid  %" PRId64 ":%" PRId64 "\n", online_int(f, "uid"),
	       online_int(f, "gid"));
	printf("tenant   %s\n", *online_str(f, "tenant") ? online_str(f, "tenant") :
							 "-");
	print_int(f, "mtime_ns", human);
	print_int(f, "seq", human);
	print_extents(f, human);
}

static int parse_u32(const char *s, int base, uint32_t max, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || !*s || *end || *s == '-' || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

enum {
	OPT_SIZE = FAMFSCTL_OPT_OWN,
	OPT_MODE,
	OPT_UID,
	OPT_GID,
	OPT_TENANT,
};

/* One option of create or mkdir into the request body; -EINVAL when bad. */
static int body_option(const struct famfsctl_optval *v, struct json_object *body)
{
	const char *name = v->key == OPT_MODE ? "mode" : v->key == OPT_UID ? "uid" :
			   "gid";
	uint64_t size;
	uint32_t id;

	if (v->key == OPT_TENANT) {
		json_object_object_add(body, "tenant", json_object_new_string(v->arg));
		return 0;
	}
	if (v->key == OPT_SIZE) {
		if (famfs_parse_size(v->arg, &size) < 0 || !size || size > INT64_MAX)
			return -EINVAL;
		json_object_object_add(body, "size", json_object_new_int64((int64_t)size));
		return 0;
	}
	if (parse_u32(v->arg, v->key == OPT_MODE ? 8 : 10,
		      v->key == OPT_MODE ? 07777 : 4294967294u, &id) < 0)
		return -EINVAL;
	json_object_object_add(body, name, json_object_new_int64(id));
	return 0;
}

static int create_common(const struct famfsctl_args *a, bool dir)
{
	_cleanup_json_ struct json_object *body = json_object_new_object();
	struct json_object *reply = NULL;
	struct online o;
	char *path;
	int r;

	for (size_t i = 0; i < a->n_opts; i++)
		if (body_option(&a->opts[i], body) < 0)
			return famfsctl_bad_value(a, &a->opts[i]);
	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one PATH only" : "no PATH");
	if (!dir && !json_object_object_get_ex(body, "size", NULL))
		return famfsctl_usage(a, "--size is needed: a file's size is fixed "
				      "at creation");
	online_init(&o, &a->g);
	path = online_api_path(dir ? "/v1/dirs/" : "/v1/files/", a->argv[0]);
	if (!path)
		return EXIT_OPERATIONAL;
	r = online_request(&o, a->cmd->name, "PUT", path, body, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_entry) : r;
}

static int cmd_create(const struct famfsctl_args *a)
{
	return create_common(a, false);
}

static int cmd_mkdir(const struct famfsctl_args *a)
{
	return create_common(a, true);
}

/* GET /v1/files/PATH; EXIT_CLEAN with *ret, or the exit code. */
static int stat_path(const struct famfsctl_args *a, struct online *o,
		     struct json_object **ret)
{
	char *path;
	int r;

	online_init(o, &a->g);
	path = online_api_path("/v1/files/", a->argv[0]);
	if (!path)
		return EXIT_OPERATIONAL;
	r = online_request(o, a->cmd->name, "GET", path, NULL, ret);
	free(path);
	online_close(o);
	return r;
}

static int cmd_stat(const struct famfsctl_args *a)
{
	struct json_object *reply = NULL;
	struct online o;
	int r;

	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one PATH only" : "no PATH");
	r = stat_path(a, &o, &reply);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_entry) : r;
}

static void print_map(struct json_object *f, bool human)
{
	printf("path     %s\n", online_str(f, "path"));
	print_int(f, "size", human);
	print_extents(f, human);
}

/*
 * getmap: the extents of a file as the master's stat gives them (offsets
 * from the start of the pool, not of the device: add --offset for that).
 */
static int cmd_getmap(const struct famfsctl_args *a)
{
	static const char *const keys[] = { "path", "ino", "size", "extents" };
	_cleanup_json_ struct json_object *reply = NULL;
	struct json_object *map, *v;
	struct online o;
	int r;

	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one PATH only" : "no PATH");
	r = stat_path(a, &o, &reply);
	if (r != EXIT_CLEAN)
		return r;
	if (!json_object_object_get_ex(reply, "extents", NULL)) {
		fprintf(stderr, "famfsctl getmap: '%s' is a directory: it has no "
			"extents\n", online_str(reply, "path"));
		return EXIT_REFUSED;
	}
	map = json_object_new_object();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (json_object_object_get_ex(reply, keys[i], &v))
			json_object_object_add(map, keys[i], json_object_get(v));
	return online_show(&o, map, print_map);
}

static void print_deleted(struct json_object *d, bool human)
{
	(void)human;
	printf("deleted %s (seq %" PRId64 ")\n", online_str(d, "path"),
	       online_int(d, "seq"));
}

static int cmd_rm(const struct famfsctl_args *a)
{
	struct json_object *reply = NULL;
	bool dir = a->n_opts > 0;	/* --dir, its only option */
	struct online o;
	char *path;
	int r;

	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one PATH only" : "no PATH");
	online_init(&o, &a->g);
	path = online_api_path(dir ? "/v1/dirs/" : "/v1/files/", a->argv[0]);
	if (!path)
		return EXIT_OPERATIONAL;
	r = online_request(&o, "rm", "DELETE", path, NULL, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_deleted) : r;
}

static void print_ls_line(struct json_object *e, bool human)
{
	const char *name = strrchr(online_str(e, "path"), '/');
	char size[FAMFSCTL_STR_MAX];

	printf("%c %04" PRIo64 " %5" PRId64 ":%-5" PRId64 " %14s %-12s %s\n",
	       strcmp(online_str(e, "type"), "dir") ? '-' : 'd',
	       (uint64_t)online_int(e, "mode"), online_int(e, "uid"),
	       online_int(e, "gid"),
	       famfsctl_int_str("size", online_int(e, "size"), human, size),
	       *online_str(e, "tenant") ? online_str(e, "tenant") : "-",
	       name ? name + 1 : "");
}

static int cmd_ls(const struct famfsctl_args *a)
{
	struct json_object *all, *out;
	char *base, *url, cursor[32] = "", dirpath[FAMFS_PATH_MAX + 2] = "/";
	struct online o;
	int r = EXIT_CLEAN;

	if (a->argc > 1)
		return famfsctl_usage(a, "one PATH only");
	online_init(&o, &a->g);
	base = online_api_path("/v1/dirs/", a->argc ? a->argv[0] : "/");
	all = json_object_new_array();
	if (!base || !all) {
		free(base);
		json_object_put(all);
		return EXIT_OPERATIONAL;
	}
	/* Page through the whole directory, 1000 entries a request. */
	do {
		struct json_object *page = NULL, *entries, *next;

		if (asprintf(&url, "%s?limit=1000%s%s", base, *cursor ? "&cursor=" : "",
			     cursor) < 0) {
			r = EXIT_OPERATIONAL;
			break;
		}
		r = online_request(&o, "ls", "GET", url, NULL, &page);
		free(url);
		if (r != EXIT_CLEAN)
			break;
		snprintf(dirpath, sizeof(dirpath), "%s", online_str(page, "path"));
		json_object_object_get_ex(page, "entries", &entries);
		for (size_t i = 0; i < json_object_array_length(entries); i++)
			json_object_array_add(all, json_object_get(
				json_object_array_get_idx(entries, i)));
		cursor[0] = '\0';
		if (json_object_object_get_ex(page, "next_cursor", &next) && next)
			snprintf(cursor, sizeof(cursor), "%s",
				 json_object_get_string(next));
		json_object_put(page);
	} while (*cursor);
	free(base);
	online_close(&o);
	if (r != EXIT_CLEAN) {
		json_object_put(all);
		return r;
	}
	if (o.json) {
		out = json_object_new_object();
		json_object_object_add(out, "path", json_object_new_string(dirpath));
		json_object_object_add(out, "entries", all);
		famfsctl_print_json(out);
		return EXIT_CLEAN;
	}
	for (size_t i = 0; i < json_object_array_length(all); i++)
		print_ls_line(json_object_array_get_idx(all, i), o.human);
	json_object_put(all);
	return EXIT_CLEAN;
}

/* ---- the commands' tables ------------------------------------------------ */

#define ATTR_OPTS							\
	{ "mode", OPT_MODE, "OCTAL", "permission bits" },		\
	{ "uid", OPT_UID, "N", "owner (default 0)" },			\
	{ "gid", OPT_GID, "N", "group (default 0)" }

static const struct famfsctl_opt create_opts[] = {
	{ "size", OPT_SIZE, "N", "the file's size, fixed for life (needed)" },
	ATTR_OPTS,
	{ "tenant", OPT_TENANT, "T", "charge the file to tenant T's quota" },
	{ 0 }
};

static const struct famfsctl_opt mkdir_opts[] = { ATTR_OPTS, { 0 } };

static const struct famfsctl_opt rm_opts[] = {
	{ "dir", 'd', NULL, "PATH is an empty directory" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_ls = {
	.name = "ls", .fn = cmd_ls, .operands = "[PATH]",
	.summary = "list a directory of the pool (default /)",
	.flags = CMD_ONLINE | CMD_JSON | CMD_HUMAN,
};

const struct famfsctl_cmd famfsctl_stat = {
	.name = "stat", .fn = cmd_stat, .operands = "PATH",
	.summary = "an entry's attributes (a file's with its extents)",
	.flags = CMD_ONLINE | CMD_JSON | CMD_HUMAN,
};

const struct famfsctl_cmd famfsctl_getmap = {
	.name = "getmap", .fn = cmd_getmap, .operands = "PATH",
	.summary = "a file's extents: offset and length in the pool",
	.flags = CMD_ONLINE | CMD_JSON | CMD_HUMAN,
};

const struct famfsctl_cmd famfsctl_create = {
	.name = "create", .fn = cmd_create, .operands = "PATH",
	.summary = "create a file of a fixed size (default mode 0644)",
	.opts = create_opts,
	.flags = CMD_ONLINE | CMD_JSON | CMD_HUMAN,
};

const struct famfsctl_cmd famfsctl_mkdir = {
	.name = "mkdir", .fn = cmd_mkdir, .operands = "PATH",
	.summary = "create a directory (default mode 0755)",
	.opts = mkdir_opts,
	.flags = CMD_ONLINE | CMD_JSON | CMD_HUMAN,
};

const struct famfsctl_cmd famfsctl_rm = {
	.name = "rm", .fn = cmd_rm, .operands = "PATH",
	.summary = "delete a file (with --dir an empty directory)",
	.opts = rm_opts,
	.flags = CMD_ONLINE | CMD_JSON,
};
