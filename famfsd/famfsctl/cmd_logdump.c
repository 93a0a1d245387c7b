// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
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
	json_object_object_add(o, "mtime_ns",
			       json_object_new_int64((int64_t)r->mtime_ns));
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

/* extents=[{"offset":O,"length":L},...], or with human "L@O,L@O". */
static void print_extents(struct json_object *ext, bool human)
{
	char o[FAMFSCTL_STR_MAX], l[FAMFSCTL_STR_MAX];

	if (!human) {
		fputs(json_object_to_json_string_ext(ext, JSON_C_TO_STRING_PLAIN), stdout);
		return;
	}
	putchar('"');
	for (size_t i = 0; i < json_object_array_length(ext); i++) {
		struct json_object *e = json_object_array_get_idx(ext, i);

		printf("%s%s@%s", i ? "," : "", famfsctl_size_str((uint64_t)
		       json_object_get_int64(json_object_object_get(e, "length")), l),
		       famfsctl_size_str((uint64_t)json_object_get_int64(
		       json_object_object_get(e, "offset")), o));
	}
	putchar('"');
}

/*
 * One line per record: "seq epoch=E type=T key=value ...", strings quoted
 * as JSON, modes in octal; with human, sizes with units (quoted, they hold
 * a space) and mtime as a date.
 */
static void print_text(struct json_object *o, bool human)
{
	char k[FAMFSCTL_STR_MAX], v[FAMFSCTL_STR_MAX];

	printf("%-8s", json_object_get_string(json_object_object_get(o, "seq")));
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "seq") == 0)
			continue;
		printf(" %s=", famfsctl_key_str(key, human, k));
		if (json_object_is_type(val, json_type_array)) {
			print_extents(val, human);
		} else if (json_object_is_type(val, json_type_int)) {
			famfsctl_int_str(key, json_object_get_int64(val), human, v);
			printf(strchr(v, ' ') ? "\"%s\"" : "%s", v);
		} else {
			fputs(json_object_to_json_string_ext(val, JSON_C_TO_STRING_PLAIN |
			      JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
		}
	}
	putchar('\n');
}

/* A decimal count for --from and --limit; -EINVAL for anything else. */
static int parse_count(const char *s, uint64_t *ret)
{
	char *end;

	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*ret = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int cmd_logdump(const struct famfsctl_args *a)
{
	const struct famfsctl_global *g = &a->g;
	_cleanup_pool_ struct famfs_pool *pool = NULL;
	struct famfs_log_pos pos = { 0 }, tail;
	struct famfs_log_error lerr;
	const struct famfs_rec_hdr *h;
	struct json_object *all = NULL;
	uint64_t from = 1, limit = UINT64_MAX, shown = 0;
	struct famfs_rec rec;
	const char *why;
	int r = 0;

	for (size_t i = 0; i < a->n_opts; i++)
		if (parse_count(a->opts[i].arg, a->opts[i].key == 'f' ? &from :
				&limit) < 0)
			return famfsctl_bad_value(a, &a->opts[i]);
	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one DEVICE only" : "no DEVICE");
	if (famfsctl_open_pool(a->argv[0], g, false, &pool) < 0)
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
			print_text(o, g->human);
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

static const struct famfsctl_opt logdump_opts[] = {
	{ "from", 'f', "SEQ", "start at record SEQ (default 1)" },
	{ "limit", 'l', "N", "print at most N records" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_logdump = {
	.name = "logdump",
	.fn = cmd_logdump,
	.operands = "DEVICE",
	.summary = "the metadata log's records, one a line",
	.opts = logdump_opts,
	.flags = CMD_JSON | CMD_HUMAN | CMD_POOL,
};
