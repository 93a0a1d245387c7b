// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * agent_ns_diff() (famfsd/agent/diff.c), what both back-ends do after a
 * replay from scratch: the calls come in an order a mount can follow
 * (removals children first, additions parents first), and applying them
 * to a copy of the old tree gives the new one, exactly as the kernel
 * module's resync does through its ioctls. Random pairs of trees check the
 * second point where inode numbers come back elsewhere (a pool formatted
 * anew), which a hand-made case would not cover.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/backend.h"

#define DIR	(S_IFDIR | 0755)
#define REG	(S_IFREG | 0644)

static struct famfs_ns *new_ns(void)
{
	struct famfs_ns *ns = NULL;

	assert_int_equal(famfs_ns_new(&ns), 0);
	return ns;
}

static int add(struct famfs_ns *ns, uint64_t ino, uint64_t parent,
	       const char *name, uint32_t mode)
{
	struct famfs_node_attr a = {
		.ino = ino, .parent = parent, .mode = mode, .seq = ino,
		.name = name, .name_len = strlen(name),
	};

	return famfs_ns_insert(ns, &a, NULL);
}

/* ---- what the callbacks saw ----------------------------------------------- */

struct calls {
	char log[4096];			/* "-3 -5 ~7 +8 " ...: -gone ~moved +added */
	struct famfs_ns *mirror;	/* a copy of old the calls are applied to */
	int failures;			/* calls the mirror refused */
};

static void note(struct calls *c, char kind, uint64_t ino)
{
	size_t n = strlen(c->log);

	snprintf(c->log + n, sizeof(c->log) - n, "%c%llu ", kind,
		 (unsigned long long)ino);
}

static void on_gone(void *ctx, const struct famfs_node *n, bool deleted)
{
	struct calls *c = ctx;
	struct famfs_node *m;

	note(c, deleted ? '-' : '~', n->ino);
	if (!c->mirror)
		return;
	m = famfs_ns_get(c->mirror, n->ino);
	/* Children first: a directory is empty by its turn. */
	if (!m || famfs_ns_remove(c->mirror, m) < 0)
		c->failures++;
}

static void on_added(void *ctx, const struct famfs_node *n)
{
	struct calls *c = ctx;

	note(c, '+', n->ino);
	/* Parents first: the parent is there already. */
	if (c->mirror && add(c->mirror, n->ino, n->parent->ino, n->name,
			     n->mode) < 0)
		c->failures++;
}

/* Every node of a is in b with the same parent, name and mode. */
static void assert_within(const struct famfs_ns *a, const struct famfs_ns *b,
			  const struct famfs_node *dir)
{
	for (const struct famfs_node *n = dir->dir.first; n; n = n->next) {
		const struct famfs_node *m = famfs_ns_get(b, n->ino);

		assert_non_null(m);
		assert_non_null(m->parent);
		assert_int_equal(m->parent->ino, dir->ino);
		assert_int_equal(m->mode, n->mode);
		assert_int_equal(m->name_len, n->name_len);
		assert_memory_equal(m->name, n->name, n->name_len);
		if (famfs_node_is_dir(n))
			assert_within(a, b, n);
	}
}

static void assert_same_tree(const struct famfs_ns *a, const struct famfs_ns *b)
{
	assert_int_equal(famfs_ns_count(a), famfs_ns_count(b));
	assert_within(a, b, famfs_ns_root(a));
}

/* ---- cases ------------------------------------------------------------------ */

/*
 * old: /a(2) /a/x(3) /a/b(4) /a/b/y(5) /keep(6) /z(7) /q(11) /m(12) /m/k(13)
 * new: /a(2) /keep(6) /c(8) /c/w(9) /c/z(7) /r(11) /n(12) /n/k(13)
 *
 * 7 and 11 stay inodes of new elsewhere (~); 12 comes back under another
 * name with its child 13, which is "the same" by parent and name but must
 * go and come back with it.
 */
static void build_pair(struct famfs_ns **ret_old, struct famfs_ns **ret_new)
{
	struct famfs_ns *old = new_ns(), *new = new_ns();

	assert_int_equal(add(old, 2, 1, "a", DIR), 0);
	assert_int_equal(add(old, 3, 2, "x", REG), 0);
	assert_int_equal(add(old, 4, 2, "b", DIR), 0);
	assert_int_equal(add(old, 5, 4, "y", REG), 0);
	assert_int_equal(add(old, 6, 1, "keep", REG), 0);
	assert_int_equal(add(old, 7, 1, "z", REG), 0);
	assert_int_equal(add(old, 11, 1, "q", REG), 0);
	assert_int_equal(add(old, 12, 1, "m", DIR), 0);
	assert_int_equal(add(old, 13, 12, "k", REG), 0);

	assert_int_equal(add(new, 2, 1, "a", DIR), 0);
	assert_int_equal(add(new, 6, 1, "keep", REG), 0);
	assert_int_equal(add(new, 8, 1, "c", DIR), 0);
	assert_int_equal(add(new, 9, 8, "w", REG), 0);
	assert_int_equal(add(new, 7, 8, "z", REG), 0);
	assert_int_equal(add(new, 11, 1, "r", REG), 0);
	assert_int_equal(add(new, 12, 1, "n", DIR), 0);
	assert_int_equal(add(new, 13, 12, "k", REG), 0);
	*ret_old = old;
	*ret_new = new;
}

static void test_order_and_kinds(void **state)
{
	struct famfs_ns *old, *new;
	struct calls c = { .log = "" };

	(void)state;
	build_pair(&old, &new);
	agent_ns_diff(old, new, on_gone, on_added, &c);
	assert_string_equal(c.log, "-3 -5 -4 ~7 ~11 ~13 ~12 "
			    "+8 +9 +7 +11 +12 +13 ");
	famfs_ns_free(old);
	famfs_ns_free(new);
}

/* Copies a tree (same inodes, parents, names, modes), parents first. */
static void copy_into(struct famfs_ns *to, const struct famfs_node *dir)
{
	for (const struct famfs_node *n = dir->dir.first; n; n = n->next) {
		assert_int_equal(add(to, n->ino, dir->ino, n->name, n->mode), 0);
		if (famfs_node_is_dir(n))
			copy_into(to, n);
	}
}

/* Applies the diff of old and new to a copy of old; checks it became new. */
static void check_applied(const struct famfs_ns *old, const struct famfs_ns *new)
{
	struct calls c = { .log = "", .mirror = new_ns() };

	copy_into(c.mirror, famfs_ns_root(old));
	agent_ns_diff(old, new, on_gone, on_added, &c);
	assert_int_equal(c.failures, 0);
	assert_same_tree(c.mirror, new);
	famfs_ns_free(c.mirror);
}

static void test_applied_to_old_gives_new(void **state)
{
	struct famfs_ns *old, *new;

	(void)state;
	build_pair(&old, &new);
	check_applied(old, new);
	check_applied(new, old);
	famfs_ns_free(old);
	famfs_ns_free(new);
}

static void test_same_tree_and_null_callbacks(void **state)
{
	struct famfs_ns *old, *new;
	struct calls c = { .log = "" };

	(void)state;
	build_pair(&old, &new);
	agent_ns_diff(old, old, on_gone, on_added, &c);
	assert_string_equal(c.log, "");
	/* FUSE passes no added(): only removals come. */
	agent_ns_diff(old, new, on_gone, NULL, &c);
	assert_string_equal(c.log, "-3 -5 -4 ~7 ~11 ~13 ~12 ");
	c.log[0] = '\0';
	agent_ns_diff(old, new, NULL, on_added, &c);
	assert_string_equal(c.log, "+8 +9 +7 +11 +12 +13 ");
	agent_ns_diff(old, new, NULL, NULL, &c);
	famfs_ns_free(old);
	famfs_ns_free(new);
}

/* A file under inode, parent and name; its content set by the caller. */
static void add_file_seq(struct famfs_ns *ns, uint64_t ino, const char *name,
			 uint64_t size, uint64_t mtime_ns, uint64_t off,
			 uint64_t seq)
{
	struct famfs_extent e = { .offset = off, .len = 2u << 20 };
	struct famfs_node_attr a = {
		.ino = ino, .parent = FAMFS_ROOT_INO, .mode = REG, .seq = seq,
		.size = size, .mtime_ns = mtime_ns, .name = name,
		.name_len = strlen(name), .extents = &e, .n_extents = 1,
	};

	assert_int_equal(famfs_ns_insert(ns, &a, NULL), 0);
}

static void add_file(struct famfs_ns *ns, uint64_t ino, const char *name,
		     uint64_t size, uint64_t mtime_ns, uint64_t off)
{
	add_file_seq(ns, ino, name, size, mtime_ns, off, ino);
}

/*
 * A pool formatted anew: inodes 2..6 come back under the same names, but
 * only 2 is the very same file (a compaction would keep it so); 3 has
 * other extents, 4 another size, 5 another creation time, 6 another
 * creation record (a checkpoint item carries it). Each of those is
 * another file: deleted and added, never kept as the old one.
 */
static void test_same_name_other_file(void **state)
{
	struct famfs_ns *old = new_ns(), *new = new_ns();
	struct calls c = { .log = "" };

	(void)state;
	add_file(old, 2, "same", 4096, 100, 4u << 20);
	add_file(old, 3, "ext", 4096, 100, 6u << 20);
	add_file(old, 4, "size", 4096, 100, 8u << 20);
	add_file(old, 5, "time", 4096, 100, 10u << 20);
	add_file(old, 6, "seq", 4096, 100, 14u << 20);
	add_file(new, 2, "same", 4096, 100, 4u << 20);
	add_file(new, 3, "ext", 4096, 100, 12u << 20);
	add_file(new, 4, "size", 8192, 100, 8u << 20);
	add_file(new, 5, "time", 4096, 101, 10u << 20);
	add_file_seq(new, 6, "seq", 4096, 100, 14u << 20, 60);
	agent_ns_diff(old, new, on_gone, on_added, &c);
	assert_string_equal(c.log, "-3 -4 -5 -6 +3 +4 +5 +6 ");
	famfs_ns_free(old);
	famfs_ns_free(new);
}

/* ---- random pairs ------------------------------------------------------------ */

struct rtree {
	struct famfs_ns *ns;
	uint64_t dirs[64];		/* its directories, the root first */
	unsigned int n_dirs;
};

static bool has_dir(const struct rtree *t, uint64_t ino)
{
	for (unsigned int i = 0; i < t->n_dirs; i++)
		if (t->dirs[i] == ino)
			return true;
	return false;
}

static void place(struct rtree *t, uint64_t ino, uint64_t parent,
		  const char *name, bool dir)
{
	/* A taken name leaves the inode out of this tree. */
	if (add(t->ns, ino, parent, name, dir ? DIR : REG) == 0 && dir &&
	    t->n_dirs < 64)
		t->dirs[t->n_dirs++] = ino;
}

/*
 * Two trees over inodes 2..40, as two formats of one pool (or two log
 * generations) may hold them: most inodes in the same place in both, some
 * elsewhere, some in one tree only; names from a small set, so they
 * collide. A directory that moved takes its unmoved children with it.
 */
static void random_pair(unsigned int *seed, struct famfs_ns **ret_old,
			struct famfs_ns **ret_new)
{
	static const char *const names[] = { "a", "b", "c", "d" };
	struct rtree o = { .ns = new_ns(), .dirs = { FAMFS_ROOT_INO }, .n_dirs = 1 };
	struct rtree n = { .ns = new_ns(), .dirs = { FAMFS_ROOT_INO }, .n_dirs = 1 };

	for (uint64_t ino = 2; ino <= 40; ino++) {
		uint64_t parent = o.dirs[(unsigned int)rand_r(seed) % o.n_dirs];
		const char *name = names[rand_r(seed) % 4];
		bool dir = rand_r(seed) % 3 == 0, in_old = rand_r(seed) % 5 != 0;
		int fate = rand_r(seed) % 10;

		if (in_old)
			place(&o, ino, parent, name, dir);
		if (fate < 6 && in_old)		/* the same place, if it can */
			place(&n, ino, has_dir(&n, parent) ? parent :
			      FAMFS_ROOT_INO, name, dir);
		else if (fate < 9)		/* elsewhere, or new */
			place(&n, ino, n.dirs[(unsigned int)rand_r(seed) % n.n_dirs],
			      names[rand_r(seed) % 4], dir);
	}
	*ret_old = o.ns;
	*ret_new = n.ns;
}

static void test_random_pairs(void **state)
{
	unsigned int seed = 20261;

	(void)state;
	for (int round = 0; round < 1000; round++) {
		struct famfs_ns *old, *new;

		random_pair(&seed, &old, &new);
		check_applied(old, new);
		check_applied(new, old);
		famfs_ns_free(old);
		famfs_ns_free(new);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_kinds),
		cmocka_unit_test(test_applied_to_old_gives_new),
		cmocka_unit_test(test_same_tree_and_null_callbacks),
		cmocka_unit_test(test_same_name_other_file),
		cmocka_unit_test(test_random_pairs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
