// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl devices: this host's CXL memdevs, regions, namespaces and dax
 * devices (libfamfscxl), each pool candidate with whether it can hold a
 * pool, why not, and the pool already on it.
 *
 *   famfsctl devices [--json]
 *   famfsctl devices prepare DEV [--offline]
 *
 * Exit codes: 0 done; 1 prepare refused (memory online or in use); 8 could
 * not run (no such device, scan failed); 16 bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "famfs_cxl.h"
#include "famfsctl.h"

static void cxl_unrefp(struct famfs_cxl_ctx **c)
{
	famfs_cxl_unref(*c);
}

#define _cleanup_cxl_ __attribute__((cleanup(cxl_unrefp)))

static void print_memdevs(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_memdev *m;
	struct famfs_cxl_region *r;
	char a[FAMFSCTL_STR_MAX], b[FAMFSCTL_STR_MAX];

	if (!famfs_cxl_memdev_get_first(ctx))
		return;
	printf("CXL memdevs:\n");
	famfs_cxl_memdev_foreach(ctx, m) {
		const char *sep = " ->";

		printf("  %-8s serial 0x%" PRIx64 "  host %s  pmem %s  ram %s",
		       famfs_cxl_memdev_get_devname(m), famfs_cxl_memdev_get_serial(m),
		       famfs_cxl_memdev_get_host(m) ? famfs_cxl_memdev_get_host(m) : "?",
		       famfsctl_size_str(famfs_cxl_memdev_get_pmem_size(m), a),
		       famfsctl_size_str(famfs_cxl_memdev_get_ram_size(m), b));
		if (famfs_cxl_memdev_get_numa_node(m) >= 0)
			printf("  node %d", famfs_cxl_memdev_get_numa_node(m));
		if (!famfs_cxl_memdev_is_enabled(m))
			printf("  disabled");
		famfs_cxl_region_foreach(ctx, r)
			if (famfs_cxl_region_has_memdev(r, m)) {
				printf("%s %s", sep, famfs_cxl_region_get_devname(r));
				sep = ",";
			}
		printf("\n");
	}
}

static void print_regions(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_region *r;
	char a[FAMFSCTL_STR_MAX], u[37];
	uint8_t uuid[16];

	if (!famfs_cxl_region_get_first(ctx))
		return;
	printf("CXL regions:\n");
	famfs_cxl_region_foreach(ctx, r) {
		const char *sep = " <-";
		unsigned int ways = famfs_cxl_region_get_interleave_ways(r);

		printf("  %-8s %-4s %s  %u way(s) x %u  %s%s",
		       famfs_cxl_region_get_devname(r),
		       famfs_cxl_region_get_mode(r) ? famfs_cxl_region_get_mode(r) : "?",
		       famfsctl_size_str(famfs_cxl_region_get_size(r), a), ways,
		       famfs_cxl_region_get_interleave_granularity(r),
		       famfs_cxl_region_get_decode_state(r),
		       famfs_cxl_region_is_enabled(r) ? "" : " disabled");
		if (famfs_cxl_region_get_uuid(r, uuid)) {
			uuid_unparse_lower(uuid, u);
			printf("  uuid %s", u);
		}
		for (unsigned int i = 0; i < ways; i++) {
			struct famfs_cxl_memdev *m = famfs_cxl_region_get_memdev(r, i);

			printf("%s %s", sep, m ? famfs_cxl_memdev_get_devname(m) : "?");
			sep = ",";
		}
		printf("\n");
	}
}

static void print_namespaces(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_namespace *n;
	char a[FAMFSCTL_STR_MAX], b[FAMFSCTL_STR_MAX];

	if (!famfs_cxl_namespace_get_first(ctx))
		return;
	printf("pmem namespaces:\n");
	famfs_cxl_namespace_foreach(ctx, n) {
		const char *dev = famfs_cxl_namespace_get_blockdev(n);
		struct famfs_cxl_region *r = famfs_cxl_namespace_get_region(n);

		if (!dev)
			dev = famfs_cxl_namespace_get_chardev(n);
		printf("  %-13s %-6s %s", famfs_cxl_namespace_get_devname(n),
		       famfs_cxl_namespace_get_mode(n) ? famfs_cxl_namespace_get_mode(n) : "?",
		       famfsctl_size_str(famfs_cxl_namespace_get_size(n), a));
		if (famfs_cxl_namespace_get_align(n))
			printf("  align %s", famfsctl_size_str(
				famfs_cxl_namespace_get_align(n), b));
		printf("  nd %s", famfs_cxl_namespace_get_nd_region(n));
		if (r)
			printf("  CXL %s", famfs_cxl_region_get_devname(r));
		if (dev)
			printf("  -> %s", dev);
		printf("\n");
	}
}

static void print_check(struct famfs_cxl_check *c, const char *what)
{
	unsigned int n = famfs_cxl_check_get_problem_count(c);
	uint8_t uuid[16];
	char u[37];

	printf("  %-13s %s", famfs_cxl_check_get_path(c), what);
	if (famfs_cxl_check_get_pool_uuid(c, uuid)) {
		uuid_unparse_lower(uuid, u);
		printf("  pool %s", u);
	}
	printf("  %s\n", n ? "cannot hold a pool:" : "can hold a pool");
	for (unsigned int i = 0; i < n; i++)
		printf("      %s\n", famfs_cxl_check_get_problem_message(c, i));
}

static void print_candidates(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_namespace *n;
	struct famfs_cxl_daxdev *x;
	char what[256], a[FAMFSCTL_STR_MAX], b[FAMFSCTL_STR_MAX];

	printf("pool candidates:\n");
	famfs_cxl_daxdev_foreach(ctx, x) {
		struct famfs_cxl_region *r = famfs_cxl_daxdev_get_region(x);
		const char *mode = famfs_cxl_daxdev_get_mode(x);
		int len;

		len = snprintf(what, sizeof(what), "%s %s align %s",
			       mode ? mode : "disabled",
			       famfsctl_size_str(famfs_cxl_daxdev_get_size(x), a),
			       famfsctl_size_str(famfs_cxl_daxdev_get_align(x), b));
		if (r && len > 0 && (size_t)len < sizeof(what)) {
			len += snprintf(what + len, sizeof(what) - (size_t)len,
					"  %s", famfs_cxl_region_get_devname(r));
			for (unsigned int i = 0; len > 0 && (size_t)len < sizeof(what) &&
			     i < famfs_cxl_region_get_interleave_ways(r); i++) {
				struct famfs_cxl_memdev *m = famfs_cxl_region_get_memdev(r, i);

				len += snprintf(what + len, sizeof(what) - (size_t)len,
						"%s%s", i ? "," : " <- ",
						m ? famfs_cxl_memdev_get_devname(m) : "?");
			}
		}
		print_check(famfs_cxl_daxdev_get_check(x), what);
	}
	famfs_cxl_namespace_foreach(ctx, n) {
		struct famfs_cxl_check *c = famfs_cxl_namespace_get_check(n);

		if (!c)
			continue;
		snprintf(what, sizeof(what), "fsdax %s align %s (%s)",
			 famfsctl_size_str(famfs_cxl_namespace_get_size(n), a),
			 famfsctl_size_str(famfs_cxl_namespace_get_align(n), b),
			 famfs_cxl_namespace_get_devname(n));
		print_check(c, what);
	}
}

static bool empty(struct famfs_cxl_ctx *ctx)
{
	return !famfs_cxl_memdev_get_first(ctx) && !famfs_cxl_region_get_first(ctx) &&
	       !famfs_cxl_namespace_get_first(ctx) && !famfs_cxl_daxdev_get_first(ctx);
}

static int list(bool json)
{
	_cleanup_cxl_ struct famfs_cxl_ctx *ctx = NULL;
	int r = famfs_cxl_new(&ctx);

	if (r < 0) {
		fprintf(stderr, "famfsctl devices: Failed to scan this host's CXL "
			"and dax devices: %s\n", strerror(-r));
		return EXIT_OPERATIONAL;
	}
	if (json) {
		famfsctl_print_json(famfs_cxl_to_json(ctx, 0));
		return EXIT_CLEAN;
	}
	if (empty(ctx)) {
		printf("no CXL memdevs, dax devices or pmem namespaces on this host\n");
		return EXIT_CLEAN;
	}
	print_memdevs(ctx);
	print_regions(ctx);
	print_namespaces(ctx);
	print_candidates(ctx);
	return EXIT_CLEAN;
}

static int prepare(const char *dev, unsigned int flags, bool json)
{
	_cleanup_cxl_ struct famfs_cxl_ctx *ctx = NULL;
	const char *what = "";
	int r = famfs_cxl_new(&ctx);

	if (r < 0) {
		fprintf(stderr, "famfsctl devices prepare: Failed to scan this "
			"host's dax devices: %s\n", strerror(-r));
		return EXIT_OPERATIONAL;
	}
	r = famfs_cxl_daxdev_prepare(ctx, dev, flags, &what);
	if (r < 0) {
		fprintf(stderr, "famfsctl devices prepare: Failed to make '%s' a "
			"devdax device: %s\n", dev, what);
		return r == -EBUSY ? EXIT_REFUSED : EXIT_OPERATIONAL;
	}
	if (json) {
		struct famfs_cxl_daxdev *x;
		const char *name = strncmp(dev, "/dev/", 5) ? dev : dev + 5;

		famfs_cxl_daxdev_foreach(ctx, x)
			if (!strcmp(famfs_cxl_daxdev_get_devname(x), name)) {
				famfsctl_print_json(famfs_cxl_daxdev_to_json(x, 0));
				return EXIT_CLEAN;
			}
	}
	printf("%s: %s\n", dev, what);
	return EXIT_CLEAN;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static size_t jlen(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_array_length(v) : 0;
}

/* One reported candidate: "/dev/dax0.0 region0 pool U: can hold a pool". */
static void print_reported(struct json_object *c)
{
	struct json_object *probs;
	size_t n;

	if (!jstr(c, "path"))
		return;
	json_object_object_get_ex(c, "problems", &probs);
	n = probs ? json_object_array_length(probs) : 0;
	printf("    %s", jstr(c, "path"));
	if (jstr(c, "region"))
		printf("  %s", jstr(c, "region"));
	if (jstr(c, "pool_uuid"))
		printf("  pool %s", jstr(c, "pool_uuid"));
	printf("  %s", n ? "cannot hold a pool:" : "can hold a pool");
	for (size_t i = 0; i < n; i++)
		printf(" %s", jstr(json_object_array_get_idx(probs, i), "code"));
	printf("\n");
}

void famfsctl_print_device_hosts(struct json_object *hosts)
{
	struct json_object *a, *d, *l;

	if (!json_object_object_get_ex(hosts, "hosts", &a))
		return;
	printf("devices:%s\n", json_object_array_length(a) ? "" : " no agent reported yet");
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		struct json_object *h = json_object_array_get_idx(a, i);

		printf("  %s (%s, %s)", jstr(h, "host"), jstr(h, "agent_id"),
		       jstr(h, "state"));
		if (!json_object_object_get_ex(h, "devices", &d)) {
			printf(": no report yet\n");
			continue;
		}
		printf(": %zu memdev(s), %zu region(s), %zu namespace(s), %zu dax "
		       "device(s)\n", jlen(d, "memdevs"), jlen(d, "regions"),
		       jlen(d, "namespaces"), jlen(d, "dax_devices"));
		if (json_object_object_get_ex(d, "dax_devices", &l))
			for (size_t k = 0; k < json_object_array_length(l); k++)
				print_reported(json_object_array_get_idx(l, k));
		if (json_object_object_get_ex(d, "namespaces", &l))
			for (size_t k = 0; k < json_object_array_length(l); k++)
				print_reported(json_object_array_get_idx(l, k));
	}
}

static int cmd_devices(const struct famfsctl_args *a)
{
	unsigned int flags = 0;

	/* The only option of its own is --offline. */
	if (a->n_opts)
		flags |= FAMFS_CXL_PREPARE_OFFLINE;
	if (a->argc == 0)
		return flags ? famfsctl_usage(a, "--offline is for prepare") :
			       list(a->g.json);
	if (strcmp(a->argv[0], "prepare") || a->argc != 2)
		return famfsctl_usage(a, NULL);
	return prepare(a->argv[1], flags, a->g.json);
}

static const struct famfsctl_opt devices_opts[] = {
	{ "offline", FAMFSCTL_OPT_OWN, NULL, "prepare: offline system RAM first" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_devices = {
	.name = "devices",
	.fn = cmd_devices,
	.operands = "[prepare DAXDEV]",
	.summary = "this host's CXL and dax devices; prepare makes one devdax",
	.opts = devices_opts,
	.flags = CMD_JSON,
};
