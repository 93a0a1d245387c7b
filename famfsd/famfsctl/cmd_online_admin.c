// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl online commands for the admin: status (pool, log, tenants),
 * quota get|set, agents (with --evict; each one's log generation: the
 * one a compaction waits for), compact.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "online.h"

#define COMPACT_TIMEOUT_DEFAULT	60

static void print_tenant(struct json_object *t, bool human)
{
	/* Sizes always carry units here, as status shows them. */
	(void)human;
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

static void print_tenants(struct json_object *list, bool human)
{
	struct json_object *a;

	if (!json_object_object_get_ex(list, "tenants", &a))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		print_tenant(json_object_array_get_idx(a, i), human);
}

static void print_pool(struct json_object *p, bool human)
{
	struct json_object *devs;
	int64_t cap = online_int(p, "log_capacity_bytes");

	printf("pool      %s\n", online_str(p, "uuid"));
	printf("master    %s, epoch %" PRId64 ", %s in slot %" PRId64 "\n",
	       online_str(p, "master_host"), online_int(p, "epoch"),
	       online_str(p, "role"), online_int(p, "slot"));
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
	printf(" (%.1f%%), %" PRId64 " records since the checkpoint, last seq %"
	       PRId64 "\n",
	       cap ? 100.0 * (double)online_int(p, "log_used_bytes") / (double)cap : 0,
	       online_int(p, "log_records"), online_int(p, "last_seq"));
	printf("          generation %" PRId64 ", checkpoint of %" PRId64
	       " items (", online_int(p, "log_generation"),
	       online_int(p, "checkpoint_items"));
	online_print_bytes(stdout, (uint64_t)online_int(p, "checkpoint_bytes"));
	printf(") as of record %" PRId64 "; %" PRId64 " compactions, %" PRId64
	       " failed\n", online_int(p, "log_base_seq"),
	       online_int(p, "log_compactions"),
	       online_int(p, "log_compactions_failed"));
	printf("entries   %" PRId64 " files, %" PRId64 " directories\n",
	       online_int(p, "files"), online_int(p, "dirs"));
	printf("tenants:\n");
	print_tenants(p, human);
	if (json_object_object_get_ex(p, "famfsctl:devices", &devs))
		famfsctl_print_device_hosts(devs);
}

static int cmd_status(const struct famfsctl_args *a)
{
	struct json_object *reply = NULL;
	struct online o;
	int r;

	if (a->argc)
		return famfsctl_usage(a, "no operands");
	online_init(&o, &a->g);
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

/* bytes, files: the new limits, NULL to keep the tenant's current one. */
static int quota_set(struct online *o, const char *tenant, const uint64_t *bytes,
		     const uint64_t *files)
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
	max_bytes = bytes ? *bytes : max_bytes;
	max_files = files ? *files : max_files;
	r = EXIT_OPERATIONAL;
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

enum {
	OPT_MAX_BYTES = FAMFSCTL_OPT_OWN, OPT_MAX_FILES, OPT_EVICT, OPT_TIMEOUT,
};

/* GET path as command cmd, shown through print. */
static int show_get(struct online *o, const char *cmd, const char *path,
		    void (*print)(struct json_object *, bool))
{
	struct json_object *reply = NULL;
	int r = online_request(o, cmd, "GET", path, NULL, &reply);

	online_close(o);
	return r == EXIT_CLEAN ? online_show(o, reply, print) : r;
}

static int cmd_quota(const struct famfsctl_args *a)
{
	uint64_t limit[2];		/* --max-bytes, --max-files */
	bool given[2] = { false, false };
	struct online o;
	char *esc, *path;
	int r;

	for (size_t i = 0; i < a->n_opts; i++) {
		int k = a->opts[i].key == OPT_MAX_FILES;

		if (famfs_parse_size(a->opts[i].arg, &limit[k]) < 0 ||
		    limit[k] > INT64_MAX)
			return famfsctl_bad_value(a, &a->opts[i]);
		given[k] = true;
	}
	if (a->argc == 2 && !strcmp(a->argv[0], "set")) {
		if (!given[0] && !given[1])
			return famfsctl_usage(a, "set needs --max-bytes or --max-files");
		online_init(&o, &a->g);
		r = quota_set(&o, a->argv[1], given[0] ? &limit[0] : NULL,
			      given[1] ? &limit[1] : NULL);
		online_close(&o);
		return r;
	}
	if (a->argc < 1 || a->argc > 2 || strcmp(a->argv[0], "get"))
		return famfsctl_usage(a, NULL);
	if (given[0] || given[1])
		return famfsctl_usage(a, "the limits are for quota set");
	online_init(&o, &a->g);
	if (a->argc == 1)
		return show_get(&o, "quota get", "/v1/tenants", print_tenants);
	esc = online_escape_path(a->argv[1]);
	if (!esc || asprintf(&path, "/v1/tenants/%s", esc) < 0) {
		free(esc);
		return EXIT_OPERATIONAL;
	}
	free(esc);
	r = show_get(&o, "quota get", path, print_tenant);
	free(path);
	return r;
}

static void print_agent(struct json_object *a, bool human)
{
	(void)human;
	printf("%-24s %-16s %-8s %10" PRId64 " %5" PRId64 " %8" PRId64
	       " %7.1fs %5" PRId64 "\n",
	       online_str(a, "agent_id"), online_str(a, "host"),
	       online_str(a, "state"), online_int(a, "applied_seq"),
	       online_int(a, "generation"), online_int(a, "lag"),
	       json_object_get_double(json_object_object_get(a, "age_seconds")),
	       online_int(a, "open_files"));
}

static void print_agents(struct json_object *list, bool human)
{
	struct json_object *a;

	printf("%-24s %-16s %-8s %10s %5s %8s %8s %5s\n", "AGENT", "HOST",
	       "STATE", "APPLIED", "GEN", "LAG", "AGE", "OPEN");
	if (!json_object_object_get_ex(list, "agents", &a))
		return;
	for (size_t i = 0; i < json_object_array_length(a); i++)
		print_agent(json_object_array_get_idx(a, i), human);
}

static int cmd_agents(const struct famfsctl_args *a)
{
	const char *evict = a->n_opts ? a->opts[a->n_opts - 1].arg : NULL;
	struct json_object *reply = NULL;
	struct online o;
	char *esc, *path;
	int r;

	if (a->argc)
		return famfsctl_usage(a, "no operands");
	online_init(&o, &a->g);
	if (!evict)
		return show_get(&o, "agents", "/v1/agents", print_agents);
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

static void print_compaction(struct json_object *c, bool human)
{
	struct json_object *v;

	(void)human;
	printf("compacted into log generation %" PRId64 ": checkpoint of %"
	       PRId64 " items (", online_int(c, "generation"),
	       online_int(c, "checkpoint_items"));
	online_print_bytes(stdout, (uint64_t)online_int(c, "checkpoint_bytes"));
	printf(") as of record %" PRId64 ", %" PRId64 " records copied after it, "
	       "%.1f ms\n", online_int(c, "base_seq"),
	       online_int(c, "records_copied"),
	       json_object_object_get_ex(c, "duration_ms", &v) ?
	       json_object_get_double(v) : 0.0);
}

/*
 * POST /v1/pool/compact answers once a compaction that started after the
 * request has ended, and one waits for every live agent to follow the
 * current generation first: hence a deadline of its own.
 */
static int cmd_compact(const struct famfsctl_args *a)
{
	struct json_object *reply = NULL;
	struct online o;
	long timeout_s = COMPACT_TIMEOUT_DEFAULT;
	int r;

	if (a->argc)
		return famfsctl_usage(a, "no operands");
	for (size_t i = 0; i < a->n_opts; i++)
		if (famfsctl_parse_seconds(a->opts[i].arg, &timeout_s) < 0)
			return famfsctl_bad_value(a, &a->opts[i]);
	online_init(&o, &a->g);
	o.timeout_s = timeout_s;
	r = online_request(&o, "compact", "POST", "/v1/pool/compact", NULL, &reply);
	online_close(&o);
	return r == EXIT_CLEAN ? online_show(&o, reply, print_compaction) : r;
}

static const struct famfsctl_opt quota_opts[] = {
	{ "max-bytes", OPT_MAX_BYTES, "N", "set: bytes allowed (0: no limit)" },
	{ "max-files", OPT_MAX_FILES, "N", "set: files allowed (0: no limit)" },
	{ 0 }
};

static const struct famfsctl_opt agents_opts[] = {
	{ "evict", OPT_EVICT, "ID", "forget agent ID (frees what it held open)" },
	{ 0 }
};

static const struct famfsctl_opt compact_opts[] = {
	{ "timeout", OPT_TIMEOUT, "SECONDS", "wait for the compaction (60)" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_status = {
	.name = "status", .fn = cmd_status, .operands = "",
	.summary = "the pool, its log, tenants and each host's devices",
	.flags = CMD_ONLINE | CMD_JSON,
};

const struct famfsctl_cmd famfsctl_quota = {
	.name = "quota", .fn = cmd_quota,
	.operands = "get [TENANT] | set TENANT",
	.summary = "tenants' limits and use; set changes them",
	.opts = quota_opts,
	.flags = CMD_ONLINE | CMD_JSON,
};

const struct famfsctl_cmd famfsctl_agents = {
	.name = "agents", .fn = cmd_agents, .operands = "",
	.summary = "the agents the master knows: position, open files",
	.opts = agents_opts,
	.flags = CMD_ONLINE | CMD_JSON,
};

const struct famfsctl_cmd famfsctl_compact = {
	.name = "compact", .fn = cmd_compact, .operands = "",
	.summary = "compact the metadata log into a new generation now",
	.opts = compact_opts,
	.flags = CMD_ONLINE | CMD_JSON,
};
