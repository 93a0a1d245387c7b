// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl online commands for the admin: status (pool, log, tenants),
 * quota get|set, agents (with --evict).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"

static int usage_err(const char *u)
{
	fprintf(stderr, "usage: famfsctl %s\n", u);
	return EXIT_OPERATIONAL;
}

/* Prints a reply as JSON or through print(), and drops it. */
static void print_tenant(struct json_object *t)
{
	printf("%-20s ", online_str(t, "tenant"));
	online_print_bytes(stdout, (uint64_t)online_int(t, "used_bytes"));
	printf(" of ");
	if (online_int(t, "max_bytes"))
		online_print_bytes(stdout, (uint64_t)online_int(t, "max_bytes"));
	else
		printf("unlimited");
	printf(", %" PRId64 " files of ", online_int(t, "used_files"));
	if (online_int(t, "max_files"))
		printf("%" PRId64 "\n", online_int(t, "max_files"));
	else
		printf("unlimited\n");
}

static void print_tenants(struct json_object *list)
{
	struct json_object *a;

	if (!json_object_object_get_ex(list, "tenants", &a))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		print_tenant(json_object_array_get_idx(a, i));
}

static void print_pool(struct json_object *p)
{
	struct json_object *devs;
	int64_t cap = online_int(p, "log_capacity_bytes");

	printf("pool      %s\n", online_str(p, "uuid"));
	printf("master    %s, epoch %" PRId64 "\n", online_str(p, "master_host"),
	       online_int(p, "epoch"));
	printf("size      ");
	online_print_bytes(stdout, (uint64_t)online_int(p, "size_bytes"));
	printf(" (allocation unit ");
	online_print_bytes(stdout, (uint64_t)online_int(p, "alloc_unit"));
	printf(")\nused      ");
	online_print_bytes(stdout, (uint64_t)online_int(p, "used_bytes"));
	printf("\nfree      ");
	online_print_bytes(stdout, (uint64_t)online_int(p, "free_bytes"));
	printf("\npending   ");
	online_print_bytes(stdout, (uint64_t)online_int(p, "pending_reclaim_bytes"));
	printf(" (deleted, waiting for agents)\nlog       ");
	online_print_bytes(stdout, (uint64_t)online_int(p, "log_used_bytes"));
	printf(" of ");
	online_print_bytes(stdout, (uint64_t)cap);
	printf(" (%.1f%%), %" PRId64 " records, last seq %" PRId64 "\n",
	       cap ? 100.0 * (double)online_int(p, "log_used_bytes") / (double)cap : 0,
	       online_int(p, "log_records"), online_int(p, "last_seq"));
	printf("entries   %" PRId64 " files, %" PRId64 " directories\n",
	       online_int(p, "files"), online_int(p, "dirs"));
	printf("tenants:\n");
	print_tenants(p);
	if (json_object_object_get_ex(p, "famfsctl:devices", &devs))
		famfsctl_print_device_hosts(devs);
}

int cmd_status(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = { ONLINE_OPTIONS, { 0 } };
	struct json_object *reply = NULL;
	struct online o;
	int c, r;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (!online_option(&o, c, optarg))
			return usage_err("status");
	if (optind != argc)
		return usage_err("status");
	r = online_request(&o, "status", "GET", "/v1/pool", NULL, &reply);
	if (r == EXIT_CLEAN && !o.json) {
		struct json_object *devs = NULL;

		/* Each host's hardware too; a master without it is no error. */
		if (online_call(&o, "GET", "/v1/devices", NULL, &devs) == 200)
			json_object_object_add(reply, "famfsctl:devices", devs);
		else
			json_object_put(devs);
	}
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_pool) : r;
}

/* The tenant's current limits, 0 when it is not known yet. */
static int current_limits(struct online *o, const char *path,
			  uint64_t *max_bytes, uint64_t *max_files)
{
	struct json_object *t = NULL;
	int status;

	if (!o->curl && online_open(o) < 0)
		return EXIT_OPERATIONAL;
	status = online_call(o, "GET", path, NULL, &t);
	if (status < 0)
		return EXIT_OPERATIONAL;
	if (status == 200) {
		*max_bytes = (uint64_t)online_int(t, "max_bytes");
		*max_files = (uint64_t)online_int(t, "max_files");
	} else if (status != 404) {
		online_problem("quota set", status, t);
		json_object_put(t);
		return EXIT_REFUSED;
	}
	json_object_put(t);
	return EXIT_CLEAN;
}

static int quota_set(struct online *o, const char *tenant, const char *bytes,
		     const char *files)
{
	uint64_t max_bytes = 0, max_files = 0;
	struct json_object *body, *reply = NULL;
	char *esc = online_escape_path(tenant), *path = NULL;
	int r = EXIT_OPERATIONAL;

	if (!esc || asprintf(&path, "/v1/tenants/%s", esc) < 0)
		goto out;
	if (!bytes || !files) {
		r = current_limits(o, path, &max_bytes, &max_files);
		if (r != EXIT_CLEAN)
			goto out;
	}
	r = EXIT_OPERATIONAL;
	if ((bytes && famfs_parse_size(bytes, &max_bytes) < 0) ||
	    (files && famfs_parse_size(files, &max_files) < 0)) {
		fprintf(stderr, "famfsctl quota set: bad limit\n");
		goto out;
	}
	body = json_object_new_object();
	json_object_object_add(body, "max_bytes", json_object_new_int64((int64_t)max_bytes));
	json_object_object_add(body, "max_files", json_object_new_int64((int64_t)max_files));
	free(path);
	path = NULL;
	if (asprintf(&path, "/v1/tenants/%s/quota", esc) < 0) {
		json_object_put(body);
		goto out;
	}
	r = online_request(o, "quota set", "PUT", path, body, &reply);
	json_object_put(body);
	if (r == EXIT_CLEAN)
		r = online_show(o, reply, print_tenant);
out:
	free(esc);
	free(path);
	return r;
}

int cmd_quota(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = {
		{ "max-bytes", required_argument, NULL, 'b' },
		{ "max-files", required_argument, NULL, 'f' },
		ONLINE_OPTIONS,
		{ 0 }
	};
	const char *u = "quota get [TENANT] | quota set TENANT [--max-bytes N] "
			"[--max-files N]  (0 = unlimited)";
	const char *bytes = NULL, *files = NULL;
	struct json_object *reply = NULL;
	struct online o;
	char *esc, *path;
	int c, r;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'b')
			bytes = optarg;
		else if (c == 'f')
			files = optarg;
		else if (!online_option(&o, c, optarg))
			return usage_err(u);
	}
	if (optind < argc && !strcmp(argv[optind], "set") && optind + 2 == argc &&
	    (bytes || files)) {
		r = quota_set(&o, argv[optind + 1], bytes, files);
		online_close(&o);
		return r;
	}
	if (optind >= argc || strcmp(argv[optind], "get") || optind + 2 < argc ||
	    bytes || files)
		return usage_err(u);
	if (optind + 1 == argc) {
		r = online_request(&o, "quota get", "GET", "/v1/tenants", NULL, &reply);
		online_close(&o);
		return r == EXIT_CLEAN ? online_show(&o, reply, print_tenants) : r;
	}
	esc = online_escape_path(argv[optind + 1]);
	if (!esc || asprintf(&path, "/v1/tenants/%s", esc) < 0) {
		free(esc);
		return EXIT_OPERATIONAL;
	}
	free(esc);
	r = online_request(&o, "quota get", "GET", path, NULL, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_tenant) : r;
}

static void print_agent(struct json_object *a)
{
	printf("%-24s %-16s %-8s %10" PRId64 " %8" PRId64 " %7.1fs %5" PRId64 "\n",
	       online_str(a, "agent_id"), online_str(a, "host"),
	       online_str(a, "state"), online_int(a, "applied_seq"),
	       online_int(a, "lag"),
	       json_object_get_double(json_object_object_get(a, "age_seconds")),
	       online_int(a, "open_files"));
}

static void print_agents(struct json_object *list)
{
	struct json_object *a;

	printf("%-24s %-16s %-8s %10s %8s %8s %5s\n", "AGENT", "HOST", "STATE",
	       "APPLIED", "LAG", "AGE", "OPEN");
	if (!json_object_object_get_ex(list, "agents", &a))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		print_agent(json_object_array_get_idx(a, i));
}

int cmd_agents(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = {
		{ "evict", required_argument, NULL, 'e' },
		ONLINE_OPTIONS,
		{ 0 }
	};
	const char *evict = NULL;
	struct json_object *reply = NULL;
	struct online o;
	char *esc, *path;
	int c, r;

	online_init(&o, g);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'e')
			evict = optarg;
		else if (!online_option(&o, c, optarg))
			return usage_err("agents [--evict ID]");
	}
	if (optind != argc)
		return usage_err("agents [--evict ID]");
	if (!evict) {
		r = online_request(&o, "agents", "GET", "/v1/agents", NULL, &reply);
		online_close(&o);
		return r == EXIT_CLEAN ? online_show(&o, reply, print_agents) : r;
	}
	esc = online_escape_path(evict);
	if (!esc || asprintf(&path, "/v1/agents/%s", esc) < 0) {
		free(esc);
		return EXIT_OPERATIONAL;
	}
	free(esc);
	r = online_request(&o, "agents", "DELETE", path, NULL, &reply);
	free(path);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_agent) : r;
}
