// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfs-logtool: a minimal log writer for tests and benchmarks of the agent
 * that must run without a master. It replays the pool, then appends and
 * publishes records through the library exactly as the master does (build,
 * append P1-P2, publish P3-P6). Never run it beside a live master: there
 * is one writer per pool.
 *
 *   famfs-logtool POOL mkdir PATH
 *   famfs-logtool POOL create PATH SIZE
 *   famfs-logtool POOL delete PATH
 *   famfs-logtool POOL reclaim PATH-OR-INO   (a deleted inode's space)
 *   famfs-logtool POOL fill DIR COUNT SIZE [BATCH]
 *   famfs-logtool POOL compact [KEEP]        (a new log generation)
 *   famfs-logtool POOL tree                  (the replayed namespace)
 *   famfs-logtool POOL serve                 (commands on stdin, one a line)
 *
 * serve answers each line with "ok SEQ INO" or "err REASON" and flushes,
 * so a benchmark can time a create from its publish.
 *
 * compact does what the master's compaction does (master/compact.c,
 * C1-C7), in one go: the state as of the record KEEP records before the
 * tail (default 0) becomes the checkpoint of the next generation, the KEEP
 * records after it are copied behind it, and the superblock switches. It
 * waits for no agent (the master's C0): the areas it writes are those of
 * the generation before the current one, so compact again only once every
 * agent follows the current one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "pool.h"
#include "record.h"
#include "replay.h"
#include "state.h"

struct tool {
	struct famfs_pool *pool;
	struct famfs_state *st;
	uint64_t epoch;
	unsigned int batched;		/* appended, not yet published */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int tool_open(struct tool *t, const char *path)
{
	struct famfs_pool_open_opts o = { .dev_flags = FAMFS_DEV_WRITE };
	struct famfs_replay_error rerr;
	struct famfs_log_error lerr;
	struct famfs_log_pos pos = { 0 }, tail;
	const char *why = NULL;
	long n;
	int r;

	r = famfs_pool_open(path, &o, &t->pool, &why);
	if (r < 0) {
		fprintf(stderr, "logtool: failed to open '%s': %s\n", path,
			why ? why : strerror(-r));
		return r;
	}
	r = famfs_state_new(&t->pool->info, &t->st);
	if (r < 0)
		return r;
	r = famfs_log_read_tail(t->pool->log, &tail, &lerr);
	if (r < 0) {
		fprintf(stderr, "logtool: bad tail: %s\n", lerr.reason);
		return r;
	}
	n = famfs_replay(t->pool->log, &pos, &tail, t->st, NULL, NULL, &rerr);
	if (n < 0) {
		fprintf(stderr, "logtool: replay failed at %" PRIu64 ": %s\n",
			rerr.seq, rerr.reason);
		return (int)n;
	}
	famfs_log_writer_start(t->pool->log, &tail);
	t->epoch = tail.epoch ? tail.epoch : 1;
	return 0;
}

/* Appends r (its payload built here) and applies it to the state. */
static int append(struct tool *t, struct famfs_rec *r)
{
	uint8_t buf[FAMFS_REC_PAYLOAD_MAX];
	const char *why;
	int len, err;

	len = famfs_rec_build(r, buf, sizeof(buf));
	if (len < 0)
		return len;
	err = famfs_log_append(t->pool->log, r->type, t->epoch, buf,
			       (uint32_t)len, &r->seq);
	if (err < 0)
		return err;
	r->epoch = t->epoch;
	err = famfs_state_apply(t->st, r, &why);
	if (err < 0) {
		fprintf(stderr, "logtool: own record refused: %s\n", why);
		famfs_log_discard(t->pool->log);
		return err;
	}
	t->batched++;
	return 0;
}

static void publish(struct tool *t)
{
	famfs_log_publish(t->pool->log);
	t->batched = 0;
}

/* Splits path into its parent directory node and last component. */
static int split(struct tool *t, const char *path, struct famfs_node **dir,
		 const char **name)
{
	const char *slash = strrchr(path, '/'), *why;
	int r;

	if (!slash) {
		*dir = famfs_ns_root(t->st->ns);
		*name = path;
		return 0;
	}
	r = famfs_ns_resolve(t->st->ns, path, (size_t)(slash - path), dir, &why);
	*name = slash + 1;
	return r;
}

static int do_mkdir(struct tool *t, const char *path, uint64_t *ret_ino)
{
	struct famfs_rec r = { .type = FAMFS_REC_MKDIR, .mode = 0755 };
	struct famfs_node *dir;
	int err = split(t, path, &dir, &r.name);

	if (err < 0)
		return err;
	r.name_len = (uint32_t)strlen(r.name);
	r.ino = t->st->max_ino + 1;
	r.parent = dir->ino;
	r.mtime_ns = now_ns();
	*ret_ino = r.ino;
	return append(t, &r);
}

static int do_create(struct tool *t, const char *path, uint64_t size,
		     uint64_t *ret_ino)
{
	struct famfs_extent ext[FAMFS_MAX_EXTENTS], le[FAMFS_MAX_EXTENTS];
	struct famfs_rec r = { .type = FAMFS_REC_CREATE, .mode = 0644 };
	struct famfs_node *dir;
	int n, err = split(t, path, &dir, &r.name);

	if (err < 0)
		return err;
	n = famfs_alloc_reserve(t->st->alloc, size ? size : 1, ext,
				FAMFS_MAX_EXTENTS);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		le[i].offset = htole64(ext[i].offset);
		le[i].len = htole64(ext[i].len);
	}
	r.name_len = (uint32_t)strlen(r.name);
	r.ino = t->st->max_ino + 1;
	r.parent = dir->ino;
	r.size = size;
	r.mtime_ns = now_ns();
	r.extents = le;
	r.n_extents = (uint32_t)n;
	*ret_ino = r.ino;
	/* Applying the record marks the extents used; the hold ends either way. */
	err = append(t, &r);
	(void)famfs_alloc_unreserve(t->st->alloc, ext, (unsigned int)n);
	return err;
}

static int do_delete(struct tool *t, const char *path, uint64_t *ret_ino)
{
	struct famfs_rec r = { .type = FAMFS_REC_DELETE };
	struct famfs_node *n;
	const char *why;
	int err = famfs_ns_resolve(t->st->ns, path, strlen(path), &n, &why);

	if (err < 0)
		return err;
	if (!n->parent)
		return -EINVAL;
	r.ino = n->ino;
	r.parent = n->parent->ino;
	r.name = n->name;
	r.name_len = n->name_len;
	*ret_ino = r.ino;
	return append(t, &r);
}

static int do_reclaim(struct tool *t, const char *what, uint64_t *ret_ino)
{
	struct famfs_rec r = { .type = FAMFS_REC_RECLAIM };
	struct famfs_pending *p;

	r.ino = strtoull(what, NULL, 0);
	p = famfs_state_pending_find(t->st, r.ino);
	if (!p)
		return -ENOENT;
	r.delete_seq = p->delete_seq;
	*ret_ino = r.ino;
	return append(t, &r);
}

/* The position of the record keep records before the tail (C1's S). */
static int base_of(struct famfs_log *log, uint64_t keep,
		   struct famfs_log_pos *ret)
{
	struct famfs_log_pos tail = famfs_log_published(log);
	struct famfs_log_pos pos = famfs_log_start(log);
	const struct famfs_rec_hdr *h;
	struct famfs_log_error lerr;

	if (keep > tail.seq - pos.seq)
		return -ERANGE;
	while (pos.seq < tail.seq - keep)
		if (famfs_log_next(log, &pos, &tail, &h, &lerr) <= 0)
			return -EUCLEAN;
	*ret = pos;
	return 0;
}

/* C4-C5: the records of old after pos up to its tail, into new. */
static int copy_after(struct famfs_log *old, struct famfs_log_pos pos,
		      struct famfs_log *new)
{
	struct famfs_log_pos tail = famfs_log_published(old);
	const struct famfs_rec_hdr *h;
	struct famfs_log_error lerr;
	int r;

	while ((r = famfs_log_next(old, &pos, &tail, &h, &lerr)) > 0) {
		r = famfs_log_append(new, le16toh(h->type), le64toh(h->epoch),
				     h + 1, le32toh(h->len) - sizeof(*h), NULL);
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	famfs_log_publish(new);
	return 0;
}

static int compact(struct tool *t, uint64_t keep)
{
	struct famfs_pool_info info = t->pool->info;
	struct famfs_log *old = t->pool->log, *new = NULL;
	struct famfs_replay_error rerr;
	struct famfs_log_pos base, pos = { 0 };
	struct famfs_state *st = NULL;
	long n;
	int r;

	publish(t);
	r = base_of(old, keep, &base);
	if (r == 0)
		r = famfs_state_new(&info, &st);
	if (r == 0) {
		n = famfs_replay(old, &pos, &base, st, NULL, NULL, &rerr);
		r = n < 0 ? (int)n : 0;
	}
	if (r == 0)
		r = famfs_log_create(t->pool->base + info.log_offset, info.log_size,
				     info.log_generation + 1, t->pool->ops, &new);
	if (r == 0)
		r = famfs_ckpt_write(st, new);
	if (r == 0)
		r = copy_after(old, base, new);
	famfs_state_free(st);
	if (r < 0) {
		famfs_log_free(new);
		return r;
	}
	/* C6: the commit point. */
	info.log_generation++;
	info.sb_seq++;
	famfs_sb_write(t->pool->base, &info, t->pool->ops);
	t->pool->info = info;
	t->pool->log = new;
	famfs_log_free(old);
	return 0;
}

static void print_tree(const struct famfs_node *n, char *path, size_t len)
{
	for (n = n->dir.first; n; n = n->next) {
		size_t l = len + 1 + n->name_len;

		if (l >= FAMFS_PATH_MAX)
			continue;
		path[len] = '/';
		memcpy(path + len + 1, n->name, n->name_len);
		path[l] = '\0';
		printf("%s %" PRIu64 " %s %" PRIu64 " %o\n", path, n->ino,
		       famfs_node_is_dir(n) ? "dir" : "file", n->size,
		       n->mode & 07777);
		if (famfs_node_is_dir(n))
			print_tree(n, path, l);
	}
}

/* Runs one command; fills *ret_ino. Publishes unless batching. */
static int run(struct tool *t, int argc, char **argv, uint64_t *ret_ino)
{
	const char *cmd = argv[0];
	int err = -EINVAL;

	if (!strcmp(cmd, "mkdir") && argc == 2)
		err = do_mkdir(t, argv[1], ret_ino);
	else if (!strcmp(cmd, "create") && argc == 3)
		err = do_create(t, argv[1], strtoull(argv[2], NULL, 0), ret_ino);
	else if (!strcmp(cmd, "delete") && argc == 2)
		err = do_delete(t, argv[1], ret_ino);
	else if (!strcmp(cmd, "reclaim") && argc == 2)
		err = do_reclaim(t, argv[1], ret_ino);
	else if (!strcmp(cmd, "compact") && argc <= 2)
		err = compact(t, argc == 2 ? strtoull(argv[1], NULL, 0) : 0);
	if (err == 0)
		publish(t);
	return err;
}

static int fill(struct tool *t, const char *dir, uint64_t count, uint64_t size,
		uint64_t batch)
{
	struct famfs_node *d;
	char path[FAMFS_PATH_MAX + 1];
	const char *why;
	uint64_t ino;
	int err;

	if (famfs_ns_resolve(t->st->ns, dir, strlen(dir), &d, &why) < 0) {
		err = do_mkdir(t, dir, &ino);
		if (err < 0)
			return err;
	}
	for (uint64_t i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/f%07" PRIu64, dir, i);
		err = do_create(t, path, size, &ino);
		if (err < 0)
			return err;
		if (t->batched >= batch)
			publish(t);
	}
	publish(t);
	return 0;
}

static int serve(struct tool *t)
{
	char line[FAMFS_PATH_MAX + 64];

	while (fgets(line, sizeof(line), stdin)) {
		char *argv[4], *save = NULL;
		int argc = 0, err;
		uint64_t ino = 0;

		for (char *w = strtok_r(line, " \t\n", &save); w && argc < 4;
		     w = strtok_r(NULL, " \t\n", &save))
			argv[argc++] = w;
		if (!argc)
			continue;
		if (!strcmp(argv[0], "quit"))
			break;
		err = run(t, argc, argv, &ino);
		if (err < 0)
			printf("err %s\n", strerror(-err));
		else
			printf("ok %" PRIu64 " %" PRIu64 "\n", t->st->last_seq, ino);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct tool t = { 0 };
	uint64_t ino = 0;
	int err;

	if (argc < 3) {
		fprintf(stderr, "usage: famfs-logtool POOL "
			"mkdir|create|delete|reclaim|fill|compact|tree|serve ...\n");
		return 2;
	}
	if (tool_open(&t, argv[1]) < 0)
		return 1;
	if (!strcmp(argv[2], "tree")) {
		char path[FAMFS_PATH_MAX + 1] = "";

		print_tree(famfs_ns_root(t.st->ns), path, 0);
		err = 0;
	} else if (!strcmp(argv[2], "serve")) {
		err = serve(&t);
	} else if (!strcmp(argv[2], "fill") && (argc == 6 || argc == 7)) {
		err = fill(&t, argv[3], strtoull(argv[4], NULL, 0),
			   strtoull(argv[5], NULL, 0),
			   argc == 7 ? strtoull(argv[6], NULL, 0) : 1000);
	} else {
		err = run(&t, argc - 2, argv + 2, &ino);
		if (err == 0)
			printf("%" PRIu64 " %" PRIu64 "\n", t.st->last_seq, ino);
	}
	if (err < 0)
		fprintf(stderr, "logtool: %s failed: %s\n", argv[2], strerror(-err));
	famfs_state_free(t.st);
	famfs_pool_close(t.pool);
	return err < 0 ? 1 : 0;
}
