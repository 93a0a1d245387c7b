// SPDX-License-Identifier: GPL-2.0-or-later
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famfsctl.h"
#include "record.h"

static struct json_object *str_json(const char *s, uint32_t len)
{
	return json_object_new_string_len(s, (int)len);
}

static struct json_object *rec_json(const struct famfs_rec *r)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "seq", json_object_new_int64((int64_t)r->seq));
	json_object_object_add(o, "epoch", json_object_new_int64((int64_t)r->epoch));
	json_object_object_add(o, "type",
			       json_object_new_string(famfs_rec_type_name(r->type)));
	if (r->type == FAMFS_REC_SET_QUOTA) {
		json_object_object_add(o, "tenant", str_json(r->tenant, r->tenant_len));
		json_object_object_add(o, "max_bytes",
				       json_object_new_int64((int64_t)r->max_bytes));
		json_object_object_add(o, "max_files",
				       json_object_new_int64((int64_t)r->max_files));
		return o;
	}
	json_object_object_add(o, "ino", json_object_new_int64((int64_t)r->ino));
	if (r->type == FAMFS_REC_RECLAIM) {
		json_object_object_add(o, "delete_seq",
				       json_object_new_int64((int64_t)r->delete_seq));
		return o;
	}
	json_object_object_add(o, "parent", json_object_new_int64((int64_t)r->parent));
	json_object_object_add(o, "name", str_json(r->name, r->name_len));
	if (r->type == FAMFS_REC_DELETE)
		return o;
	json_object_object_add(o, "mode", json_object_new_int64(r->mode));
	json_object_object_add(o, "uid", json_object_new_int64(r->uid));
	json_object_object_add(o, "gid", json_object_new_int64(r->gid));
	if (r->type != FAMFS_REC_CREATE)
		return o;
	json_object_object_add(o, "size", json_object_new_int64((int64_t)r->size));
	json_object_object_add(o, "tenant", str_json(r->tenant, r->tenant_len));
	struct json_object *ext = json_object_new_array();

	for (uint32_t i = 0; i < r->n_extents; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "offset", json_object_new_int64(
			(int64_t)famfs_extent_offset(&r->extents[i])));
		json_object_object_add(e, "length", json_object_new_int64(
			(int64_t)famfs_extent_len(&r->extents[i])));
		json_object_array_add(ext, e);
	}
	json_object_object_add(o, "extents", ext);
	return o;
}

/* One line per record: "seq epoch type key=value ...". */
static void print_text(struct json_object *o)
{
	printf("%-8s", json_object_get_string(json_object_object_get(o, "seq")));
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "seq") == 0)
			continue;
		printf(" %s=%s", key, json_object_to_json_string_ext(val,
		       JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	putchar('\n');
}

int cmd_logdump(int argc, char **argv, const struct famfsctl_global *g)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "limit", required_argument, NULL, 'l' },
		{ 0 }
	};
	_cleanup_pool_ struct famfs_pool *pool = NULL;
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_log_error lerr;
	const struct famfs_rec_hdr *h;
	struct json_object *all = NULL;
	uint64_t from = 1, limit = UINT64_MAX, shown = 0;
	struct famfs_rec rec;
	const char *why;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "f:l:", opts, NULL)) != -1) {
		if (c == '?')
			return EXIT_OPERATIONAL;
		*(c == 'f' ? &from : &limit) = strtoull(optarg, NULL, 10);
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: famfsctl logdump DEVICE [--from SEQ] "
			"[--limit N]\n");
		return EXIT_OPERATIONAL;
	}
	if (famfsctl_open_pool(argv[optind], g, false, &pool) < 0)
		return EXIT_OPERATIONAL;
	if (famfs_log_read_tail(pool->log, &tail, &lerr) < 0) {
		fprintf(stderr, "famfsctl logdump: log tail: %s\n", lerr.reason);
		return EXIT_UNCORRECTED;
	}
	if (g->json)
		all = json_object_new_array();
	while (shown < limit && (r = famfs_log_next(pool->log, &pos, &tail, &h,
						    &lerr)) > 0) {
		struct json_object *o;

		if (pos.seq < from)
			continue;
		if (famfs_rec_decode(h, &rec, &why) < 0) {
			r = -1;
			lerr = (struct famfs_log_error){ .seq = pos.seq,
							 .reason = why };
			break;
		}
		o = rec_json(&rec);
		shown++;
		if (all) {
			json_object_array_add(all, o);
		} else {
			print_text(o);
			json_object_put(o);
		}
	}
	if (all)
		famfsctl_print_json(all);
	if (r < 0) {
		fprintf(stderr, "famfsctl logdump: record %" PRIu64 ": %s\n",
			lerr.seq, lerr.reason);
		return EXIT_UNCORRECTED;
	}
	return EXIT_CLEAN;
}
