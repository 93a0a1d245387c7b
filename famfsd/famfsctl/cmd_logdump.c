// SPDX-License-Identifier: GPL-2.0-or-later
#include <endian.h>
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

static struct json_object *extents_json(const struct famfs_rec *r)
{
	struct json_object *ext = json_object_new_array();

	for (uint32_t i = 0; i < r->n_extents; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "offset", json_object_new_int64(
			(int64_t)famfs_extent_offset(&r->extents[i])));
		json_object_object_add(e, "length", json_object_new_int64(
			(int64_t)famfs_extent_len(&r->extents[i])));
		json_object_array_add(ext, e);
	}
	return ext;
}

/* A reclaim's entries, the first of them also ino and delete_seq. */
static struct json_object *reclaims_json(const struct famfs_rec *r)
{
	struct json_object *a = json_object_new_array();

	for (uint32_t i = 0; i < r->n_reclaims; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "ino", json_object_new_int64(
			(int64_t)le64toh(r->reclaims[i].ino)));
		json_object_object_add(e, "delete_seq", json_object_new_int64(
			(int64_t)le64toh(r->reclaims[i].delete_seq)));
		json_object_array_add(a, e);
	}
	return a;
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
	if (r->type == FAMFS_REC_RECLAIM || r->type == FAMFS_REC_PENDING) {
		json_object_object_add(o, "delete_seq",
				       json_object_new_int64((int64_t)r->delete_seq));
		if (r->type == FAMFS_REC_PENDING)
			json_object_object_add(o, "extents", extents_json(r));
		else
			json_object_object_add(o, "reclaims", reclaims_json(r));
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
	json_object_object_add(o, "extents", extents_json(r));
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
 * a space) and mtime as a date. A checkpoint item: "item N seq=S ...".
 */
static void print_text(struct json_object *o, bool human)
{
	char k[FAMFSCTL_STR_MAX], v[FAMFSCTL_STR_MAX], first[32];
	struct json_object *item = json_object_object_get(o, "item");
	const char *skip = item ? "item" : "seq";

	snprintf(first, sizeof(first), "%s%s", item ? "item " : "",
		 json_object_get_string(item ? item : json_object_object_get(o, "seq")));
	printf("%-8s", first);
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, skip) == 0)
			continue;
		printf(" %s=", famfsctl_key_str(key, human, k));
		if (json_object_is_type(val, json_type_array) &&
		    strcmp(key, "extents") == 0) {
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

/* The generation's header: what the checkpoint is and where records start. */
static struct json_object *base_json(const struct famfs_pool *pool,
				     const struct famfs_log_pos *tail)
{
	struct famfs_log_base b = famfs_log_base(pool->log);
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "generation",
			       json_object_new_int64((int64_t)pool->info.log_generation));
	json_object_object_add(o, "base_seq", json_object_new_int64((int64_t)b.seq));
	json_object_object_add(o, "base_epoch", json_object_new_int64((int64_t)b.epoch));
	json_object_object_add(o, "max_ino", json_object_new_int64((int64_t)b.max_ino));
	json_object_object_add(o, "checkpoint_items",
			       json_object_new_int64((int64_t)b.ckpt_items));
	json_object_object_add(o, "checkpoint_bytes",
			       json_object_new_int64((int64_t)b.ckpt_bytes));
	json_object_object_add(o, "tail_seq", json_object_new_int64((int64_t)tail->seq));
	return o;
}

/* "generation 2 base_seq 3 ...": one line, the numbers as info prints them. */
static void print_base(struct json_object *o, bool human)
{
	char k[FAMFSCTL_STR_MAX], v[FAMFSCTL_STR_MAX];
	const char *sep = "";

	json_object_object_foreach(o, key, val) {
		famfsctl_int_str(key, json_object_get_int64(val), human, v);
		printf(strchr(v, ' ') ? "%s%s=\"%s\"" : "%s%s=%s", sep,
		       famfsctl_key_str(key, human, k), v);
		sep = " ";
	}
	putchar('\n');
}

struct dump {
	bool human;
	struct json_object *items, *records;	/* --json: collected, else NULL */
	uint64_t from, limit, shown;
	struct famfs_log_error err;
};

/* One record or item, decoded: printed or collected. -EUCLEAN when it will not decode. */
static int show(struct dump *d, const struct famfs_rec_hdr *h, uint64_t item)
{
	struct json_object *o;
	struct famfs_rec rec;
	const char *why;

	if (famfs_rec_decode(h, &rec, &why) < 0) {
		d->err = (struct famfs_log_error){ .seq = item ? item : rec.seq,
						   .reason = why };
		return -EUCLEAN;
	}
	o = rec_json(&rec);
	if (item)
		json_object_object_add(o, "item", json_object_new_int64((int64_t)item));
	if (d->items) {
		json_object_array_add(item ? d->items : d->records, o);
		return 0;
	}
	print_text(o, d->human);
	json_object_put(o);
	return 0;
}

/* Every checkpoint item, in order (both copies tried, as a replay does). */
static int dump_items(struct famfs_pool *pool, struct dump *d)
{
	struct famfs_log_pos pos = { 0 };
	const struct famfs_rec_hdr *h;
	int r;

	while ((r = famfs_log_ckpt_next(pool->log, &pos, &h, &d->err)) > 0)
		if (show(d, h, pos.seq) < 0)
			return -EUCLEAN;
	return r;
}

/* Records from --from, at most --limit of them. */
static int dump_records(struct famfs_pool *pool, const struct famfs_log_pos *tail,
			struct dump *d)
{
	struct famfs_log_pos pos = famfs_log_start(pool->log);
	const struct famfs_rec_hdr *h;
	int r = 0;

	while (d->shown < d->limit &&
	       (r = famfs_log_next(pool->log, &pos, tail, &h, &d->err)) > 0) {
		if (pos.seq < d->from)
			continue;
		if (show(d, h, 0) < 0)
			return -EUCLEAN;
		d->shown++;
	}
	return r < 0 ? r : 0;
}

static int cmd_logdump(const struct famfsctl_args *a)
{
	const struct famfsctl_global *g = &a->g;
	_cleanup_pool_ struct famfs_pool *pool = NULL;
	struct dump d = { .human = g->human, .from = 1, .limit = UINT64_MAX };
	struct famfs_log_pos tail;
	struct json_object *base;
	const char *what = "record";
	int r;

	for (size_t i = 0; i < a->n_opts; i++)
		if (parse_count(a->opts[i].arg, a->opts[i].key == 'f' ? &d.from :
				&d.limit) < 0)
			return famfsctl_bad_value(a, &a->opts[i]);
	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one DEVICE only" : "no DEVICE");
	if (famfsctl_open_pool(a->argv[0], g, false, &pool) < 0)
		return EXIT_OPERATIONAL;
	if (famfs_log_read_tail(pool->log, &tail, &d.err) < 0) {
		fprintf(stderr, "famfsctl logdump: log tail: %s\n", d.err.reason);
		return EXIT_UNCORRECTED;
	}
	base = base_json(pool, &tail);
	if (g->json) {
		d.items = json_object_new_array();
		d.records = json_object_new_array();
	} else {
		print_base(base, g->human);
	}
	r = dump_items(pool, &d);
	if (r < 0)
		what = "checkpoint item";
	else
		r = dump_records(pool, &tail, &d);
	if (g->json) {
		json_object_object_add(base, "checkpoint", d.items);
		json_object_object_add(base, "records", d.records);
		famfsctl_print_json(base);
	} else {
		json_object_put(base);
	}
	if (r < 0) {
		fprintf(stderr, "famfsctl logdump: %s %" PRIu64 ": %s\n", what,
			d.err.seq, d.err.reason);
		return EXIT_UNCORRECTED;
	}
	return EXIT_CLEAN;
}

static const struct famfsctl_opt logdump_opts[] = {
	{ "from", 'f', "SEQ", "records from SEQ on (default: all)" },
	{ "limit", 'l', "N", "at most N records (items are all shown)" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_logdump = {
	.name = "logdump",
	.fn = cmd_logdump,
	.operands = "DEVICE",
	.summary = "the log generation: its checkpoint's items, then records",
	.opts = logdump_opts,
	.flags = CMD_JSON | CMD_HUMAN | CMD_POOL,
};
