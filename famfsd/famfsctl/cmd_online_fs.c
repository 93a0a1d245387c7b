// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl online commands on the namespace: ls, stat, create, mkdir, rm.
 * Each builds one API request (ls pages through the directory), prints the
 * reply as text or, with --json, as the API's JSON.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "online.h"

/* "/v1/files/" + the escaped path, malloc'd. */
static char *api_path(const char *prefix, const char *fs_path)
{
	char *esc = online_escape_path(fs_path), *p = NULL;

	if (esc && asprintf(&p, "%s%s", prefix, esc) < 0)
		p = NULL;
	free(esc);
	return p;
}

static void print_time(uint64_t ns)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char buf[32];

	gmtime_r(&s, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	printf("%s.%03uZ", buf, (unsigned int)(ns % 1000000000ull / 1000000));
}

static void print_entry(struct json_object *f)
{
	struct json_object *ext;

	printf("path     %s\n", online_str(f, "path"));
	printf("type     %s\n", online_str(f, "type"));
	printf("ino      %" PRId64 "\n", online_int(f, "ino"));
	printf("size     %" PRId64 "\n", online_int(f, "size"));
	printf("mode     0%" PRIo64 "\n", (uint64_t)online_int(f, "mode"));
	printf("uid:gid  %" PRId64 ":%" PRId64 "\n", online_int(f, "uid"),
	       online_int(f, "gid"));
	printf("tenant   %s\n", *online_str(f, "tenant") ? online_str(f, "tenant") :
							 "-");
	printf("created  ");
	print_time((uint64_t)online_int(f, "mtime_ns"));
	printf("\nseq      %" PRId64 "\n", online_int(f, "seq"));
	if (!json_object_object_get_ex(f, "extents", &ext))
		return;
	printf("extents  %zu\n", json_object_array_length(ext));
	for (size_t i = 0; i < json_object_array_length(ext); i++) {
		struct json_object *e = json_object_array_get_idx(ext, i);

		printf("  offset %-14" PRId64 " length %" PRId64 "\n",
		       online_int(e, "offset"), online_int(e, "length"));
	}
}

static int usage_err(const char *u)
{
	fprintf(stderr, "usage: famfsctl %s\n", u);
	return EXIT_OPERATIONAL;
}

static int parse_u32(const char *s, int base, uint32_t max, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || !*s || *end || v > max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* Options common to create and mkdir: mode, uid, gid into body. */
static int attr_option(int c, const char *arg, struct json_object *body)
{
	uint32_t v;

	if (parse_u32(arg, c == 'm' ? 8 : 10, c == 'm' ? 07777 : 4294967294u,
		      &v) < 0) {
		fprintf(stderr, "famfsctl: bad value '%s'\n", arg);
		return -EINVAL;
	}
	json_object_object_add(body, c == 'm' ? "mode" : c == 'u' ? "uid" : "gid",
			       json_object_new_int64(v));
	return 0;
}

static int create_common(int argc, char **argv, const struct famfsctl_global *g,
			 bool dir)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "mode", required_argument, NULL, 'm' },
		{ "uid", required_argument, NULL, 'u' },
		{ "gid", required_argument, NULL, 'g' },
		{ "tenant", required_argument, NULL, 't' },
		ONLINE_OPTIONS,
		{ 0 }
	};
	const char *u = dir ? "mkdir PATH [--mode OCTAL] [--uid N] [--gid N]" :
			      "create PATH --size N [--mode OCTAL] [--uid N] "
			      "[--gid N] [--tenant T]";
	_cleanup_json_ struct json_object *body = json_object_new_object();
	struct json_object *reply = NULL;
	struct online o;
	uint64_t size = 0;
	char *path;
	int c, r;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (online_option(&o, c, optarg))
			continue;
		if (c == 's' && !dir && famfs_parse_size(optarg, &size) == 0)
			json_object_object_add(body, "size",
					       json_object_new_int64((int64_t)size));
		else if (c == 't' && !dir)
			json_object_object_add(body, "tenant",
					       json_object_new_string(optarg));
		else if (!(c == 'm' || c == 'u' || c == 'g') ||
			 attr_option(c, optarg, body) < 0)
			return usage_err(u);
	}
	if (optind + 1 != argc || (!dir && !size))
		return usage_err(u);
	path = api_path(dir ? "/v1/dirs/" : "/v1/files/", argv[optind]);
	if (!path)
		return EXIT_OPERATIONAL;
	r = online_request(&o, dir ? "mkdir" : "create", "PUT", path, body, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_entry) : r;
}

int cmd_create(int argc, char **argv, const struct famfsctl_global *g)
{
	return create_common(argc, argv, g, false);
}

int cmd_mkdir(int argc, char **argv, const struct famfsctl_global *g)
{
	return create_common(argc, argv, g, true);
}

int cmd_stat(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = { ONLINE_OPTIONS, { 0 } };
	struct json_object *reply = NULL;
	struct online o;
	char *path;
	int c, r;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (!online_option(&o, c, optarg))
			return usage_err("stat PATH");
	if (optind + 1 != argc)
		return usage_err("stat PATH");
	path = api_path("/v1/files/", argv[optind]);
	if (!path)
		return EXIT_OPERATIONAL;
	r = online_request(&o, "stat", "GET", path, NULL, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_entry) : r;
}

static void print_deleted(struct json_object *d)
{
	printf("deleted %s (seq %" PRId64 ")\n", online_str(d, "path"),
	       online_int(d, "seq"));
}

int cmd_rm(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = {
		{ "dir", no_argument, NULL, 'd' },
		ONLINE_OPTIONS,
		{ 0 }
	};
	struct json_object *reply = NULL;
	struct online o;
	bool dir = false;
	char *path;
	int c, r;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "d", opts, NULL)) != -1) {
		if (c == 'd')
			dir = true;
		else if (!online_option(&o, c, optarg))
			return usage_err("rm PATH [--dir]");
	}
	if (optind + 1 != argc)
		return usage_err("rm PATH [--dir]");
	path = api_path(dir ? "/v1/dirs/" : "/v1/files/", argv[optind]);
	if (!path)
		return EXIT_OPERATIONAL;
	r = online_request(&o, "rm", "DELETE", path, NULL, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_deleted) : r;
}

static void print_ls_line(struct json_object *e)
{
	const char *name = strrchr(online_str(e, "path"), '/');

	printf("%c %04" PRIo64 " %5" PRId64 ":%-5" PRId64 " %14" PRId64 " %-12s %s\n",
	       strcmp(online_str(e, "type"), "dir") ? '-' : 'd',
	       (uint64_t)online_int(e, "mode"), online_int(e, "uid"),
	       online_int(e, "gid"), online_int(e, "size"),
	       *online_str(e, "tenant") ? online_str(e, "tenant") : "-",
	       name ? name + 1 : "");
}

int cmd_ls(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = { ONLINE_OPTIONS, { 0 } };
	struct json_object *all = json_object_new_array(), *out;
	const char *u = "ls [PATH]";
	char *base, *url, cursor[32] = "", dirpath[FAMFS_PATH_MAX + 2] = "/";
	struct online o;
	int c, r = EXIT_CLEAN;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (!online_option(&o, c, optarg)) {
			json_object_put(all);
			return usage_err(u);
		}
	if (optind + 1 < argc) {
		json_object_put(all);
		return usage_err(u);
	}
	base = api_path("/v1/dirs/", optind < argc ? argv[optind] : "/");
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
		print_ls_line(json_object_array_get_idx(all, i));
	json_object_put(all);
	return EXIT_CLEAN;
}
