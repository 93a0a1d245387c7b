// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The namespace index: insert/lookup/remove rules (each insert checked
 * beforehand with famfs_ns_insert_check), growth to 100k nodes, listing
 * cursors across deletes, path building and resolution.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ns.h"

static struct famfs_ns *new_ns(void)
{
	struct famfs_ns *ns = NULL;

	assert_int_equal(famfs_ns_new(&ns), 0);
	return ns;
}

static int add(struct famfs_ns *ns, uint64_t ino, uint64_t parent,
	       const char *name, uint32_t mode, struct famfs_node **ret)
{
	struct famfs_node_attr a = {
		.ino = ino, .parent = parent, .mode = mode, .seq = ino,
		.mtime_ns = ino * 10, .uid = 7, .gid = 8,
		.name = name, .name_len = strlen(name),
	};
	uint64_t count = famfs_ns_count(ns);
	struct famfs_node *dir = NULL;
	int check = famfs_ns_insert_check(ns, &a, &dir), err;

	/* The check changes nothing and foretells the insert's verdict. */
	assert_int_equal(famfs_ns_count(ns), count);
	assert_int_equal(famfs_ns_insert_check(ns, &a, NULL), check);
	err = famfs_ns_insert(ns, &a, ret);
	assert_int_equal(check, err);
	if (err == 0 && ret)
		assert_ptr_equal((*ret)->parent, dir);
	return err;
}

#define DIR	(S_IFDIR | 0755)
#define REG	(S_IFREG | 0644)

static void test_root(void **state)
{
	struct famfs_ns *ns = new_ns();
	struct famfs_node *root = famfs_ns_root(ns);
	char buf[8];

	(void)state;
	assert_non_null(root);
	assert_int_equal(root->ino, FAMFS_ROOT_INO);
	assert_true(famfs_node_is_dir(root));
	assert_null(root->parent);
	assert_ptr_equal(famfs_ns_get(ns, FAMFS_ROOT_INO), root);
	assert_null(famfs_ns_get(ns, 2));
	assert_null(famfs_ns_get(ns, 0));
	assert_null(famfs_ns_lookup(ns, root, "x", 1));
	assert_null(famfs_ns_child_after(ns, root, 0));
	assert_int_equal(famfs_ns_count(ns), 1);
	assert_int_equal(famfs_ns_path(root, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/");
	assert_int_equal(famfs_ns_path(root, buf, 1), -ENAMETOOLONG);
	assert_true(famfs_ns_remove(ns, root) < 0);	/* the root stays */
	assert_ptr_equal(famfs_ns_get(ns, FAMFS_ROOT_INO), root);
	famfs_ns_free(ns);
	famfs_ns_free(NULL);
}

static void test_insert_rules(void **state)
{
	struct famfs_ns *ns = new_ns();
	struct famfs_node *d, *f, *n;

	(void)state;
	assert_int_equal(add(ns, 2, 1, "dir", DIR, &d), 0);
	assert_int_equal(add(ns, 3, 2, "file", REG, &f), 0);
	assert_ptr_equal(d->parent, famfs_ns_root(ns));
	assert_ptr_equal(f->parent, d);
	assert_int_equal(f->uid, 7);
	assert_int_equal(f->mtime_ns, 30);
	assert_memory_equal(f->name, "file", 5);	/* NUL terminated */

	assert_int_equal(add(ns, 4, 99, "x", REG, NULL), -ENOENT);
	assert_int_equal(add(ns, 4, 3, "x", REG, NULL), -ENOTDIR);
	assert_int_equal(add(ns, 4, 2, "file", REG, NULL), -EEXIST);
	assert_int_equal(add(ns, 3, 1, "other", REG, NULL), -EEXIST);
	assert_int_equal(add(ns, 1, 2, "root-again", DIR, NULL), -EEXIST);
	assert_int_equal(famfs_ns_count(ns), 3);

	/* Same name under another parent, and names differing in length. */
	assert_int_equal(add(ns, 5, 1, "file", REG, &n), 0);
	assert_int_equal(add(ns, 6, 1, "fil", REG, NULL), 0);
	assert_int_equal(add(ns, 7, 1, "file2", REG, NULL), 0);
	assert_ptr_equal(famfs_ns_lookup(ns, famfs_ns_root(ns), "file", 4), n);
	assert_ptr_equal(famfs_ns_lookup(ns, d, "file", 4), f);
	assert_null(famfs_ns_lookup(ns, d, "fil", 3));
	assert_int_equal(d->dir.n_children, 1);
	assert_int_equal(famfs_ns_root(ns)->dir.n_children, 4);
	famfs_ns_free(ns);
}

static void test_extents_copied(void **state)
{
	struct famfs_ns *ns = new_ns();
	struct famfs_extent ext[5];
	struct famfs_node *one, *many;
	struct famfs_node_attr a = {
		.ino = 2, .parent = 1, .mode = REG, .name = "one", .name_len = 3,
		.size = 4096, .extents = ext, .n_extents = 1,
	};

	(void)state;
	for (int i = 0; i < 5; i++)
		ext[i] = (struct famfs_extent){ .offset = 4096u * (10 + 2 * i),
						.len = 4096 };
	assert_int_equal(famfs_ns_insert(ns, &a, &one), 0);
	a.ino = 3;
	a.name = "many";
	a.name_len = 4;
	a.n_extents = 5;
	a.size = 5 * 4096;
	assert_int_equal(famfs_ns_insert(ns, &a, &many), 0);
	memset(ext, 0xee, sizeof(ext));		/* the index kept its own copy */
	assert_int_equal(one->n_extents, 1);
	assert_int_equal(famfs_node_extents(one)[0].offset, 40960);
	assert_int_equal(many->n_extents, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(famfs_node_extents(many)[i].offset,
				 4096u * (10 + 2 * i));
		assert_int_equal(famfs_node_extents(many)[i].len, 4096);
	}
	assert_int_equal(famfs_ns_remove(ns, many), 0);
	famfs_ns_free(ns);
}

static void test_remove_rules(void **state)
{
	struct famfs_ns *ns = new_ns();
	struct famfs_node *d, *f, *g;

	(void)state;
	assert_int_equal(add(ns, 2, 1, "d", DIR, &d), 0);
	assert_int_equal(add(ns, 3, 2, "f", REG, &f), 0);
	assert_int_equal(add(ns, 4, 2, "g", REG, &g), 0);
	assert_int_equal(famfs_ns_remove(ns, d), -ENOTEMPTY);
	assert_int_equal(famfs_ns_remove(ns, f), 0);
	assert_null(famfs_ns_get(ns, 3));
	assert_null(famfs_ns_lookup(ns, d, "f", 1));
	assert_ptr_equal(famfs_ns_lookup(ns, d, "g", 1), g);
	assert_ptr_equal(d->dir.first, g);
	assert_ptr_equal(d->dir.last, g);
	assert_null(g->prev);
	assert_int_equal(famfs_ns_remove(ns, d), -ENOTEMPTY);
	assert_int_equal(famfs_ns_remove(ns, g), 0);
	assert_int_equal(d->dir.n_children, 0);
	assert_null(d->dir.first);
	assert_int_equal(famfs_ns_remove(ns, d), 0);
	assert_int_equal(famfs_ns_count(ns), 1);
	/* The name is free again, under a new inode number. */
	assert_int_equal(add(ns, 5, 1, "d", DIR, &d), 0);
	assert_ptr_equal(famfs_ns_lookup(ns, famfs_ns_root(ns), "d", 1), d);
	famfs_ns_free(ns);
}

/* 100 directories of 1000 files: every table grows several times. */
static void test_100k_nodes_growth(void **state)
{
	enum { DIRS = 100, PER = 1000 };
	struct famfs_ns *ns = new_ns();
	struct famfs_node *root = famfs_ns_root(ns), *d, *n;
	uint64_t ino = 2, mem0 = famfs_ns_mem_bytes(ns);
	char name[32];

	(void)state;
	for (int i = 0; i < DIRS; i++) {
		snprintf(name, sizeof(name), "dir%03d", i);
		assert_int_equal(add(ns, ino++, 1, name, DIR, NULL), 0);
	}
	for (int f = 0; f < PER; f++) {
		for (int i = 0; i < DIRS; i++) {
			snprintf(name, sizeof(name), "f%d", f);
			assert_int_equal(add(ns, ino++, 2 + (uint64_t)i, name, REG,
					     NULL), 0);
		}
	}
	assert_int_equal(famfs_ns_count(ns), 1 + DIRS + DIRS * PER);
	/* Memory is accounted for every node, and bounded per node. */
	assert_true(famfs_ns_mem_bytes(ns) > mem0 + (uint64_t)DIRS * PER *
		    sizeof(struct famfs_node));
	assert_true(famfs_ns_mem_bytes(ns) / famfs_ns_count(ns) < 512);

	/* Every node is found by inode and by (parent, name). */
	for (int i = 0; i < DIRS; i++) {
		snprintf(name, sizeof(name), "dir%03d", i);
		d = famfs_ns_lookup(ns, root, name, strlen(name));
		assert_non_null(d);
		assert_int_equal(d->ino, 2 + (uint64_t)i);
		assert_int_equal(d->dir.n_children, PER);
	}
	for (uint64_t k = 2 + DIRS; k < ino; k++) {
		uint64_t idx = k - 2 - DIRS;

		n = famfs_ns_get(ns, k);
		assert_non_null(n);
		assert_int_equal(n->ino, k);
		assert_int_equal(n->parent->ino, 2 + idx % DIRS);
		snprintf(name, sizeof(name), "f%" PRIu64, idx / DIRS);
		assert_ptr_equal(famfs_ns_lookup(ns, n->parent, name, strlen(name)),
				 n);
	}
	assert_null(famfs_ns_get(ns, ino));

	/* Remove every third file, then check what is and is not there. */
	uint64_t removed = 0;

	for (uint64_t k = 2 + DIRS; k < ino; k += 3) {
		assert_int_equal(famfs_ns_remove(ns, famfs_ns_get(ns, k)), 0);
		removed++;
	}
	assert_int_equal(famfs_ns_count(ns), 1 + DIRS + DIRS * PER - removed);
	for (uint64_t k = 2 + DIRS; k < ino; k++) {
		uint64_t idx = k - 2 - DIRS;
		struct famfs_node *dir = famfs_ns_get(ns, 2 + idx % DIRS);

		snprintf(name, sizeof(name), "f%" PRIu64, idx / DIRS);
		n = famfs_ns_lookup(ns, dir, name, strlen(name));
		if ((k - 2 - DIRS) % 3 == 0) {
			assert_null(famfs_ns_get(ns, k));
			assert_null(n);
		} else {
			assert_non_null(n);
			assert_int_equal(n->ino, k);
			assert_ptr_equal(famfs_ns_get(ns, k), n);
		}
	}
	/* Each directory's sibling list still counts and orders correctly. */
	for (int i = 0; i < DIRS; i++) {
		uint64_t cnt = 0, last = 0;

		d = famfs_ns_get(ns, 2 + (uint64_t)i);
		for (n = d->dir.first; n; n = n->next) {
			assert_true(n->ino > last);
			assert_ptr_equal(n->parent, d);
			last = n->ino;
			cnt++;
		}
		assert_int_equal(cnt, d->dir.n_children);
	}
	famfs_ns_free(ns);
}

/* A listing cursor survives deletion of the node it points at. */
static void test_child_after_cursor(void **state)
{
	struct famfs_ns *ns = new_ns();
	struct famfs_node *root = famfs_ns_root(ns), *d1, *n;
	char name[8];

	(void)state;
	assert_int_equal(add(ns, 2, 1, "d1", DIR, &d1), 0);
	assert_int_equal(add(ns, 3, 1, "d2", DIR, NULL), 0);
	/* d1 holds 10..14 and 16..19; 15 lives in d2. */
	for (uint64_t k = 10; k < 20; k++) {
		snprintf(name, sizeof(name), "n%" PRIu64, k);
		assert_int_equal(add(ns, k, k == 15 ? 3 : 2, name, REG, NULL), 0);
	}
	assert_int_equal(famfs_ns_child_after(ns, d1, 0)->ino, 10);
	assert_int_equal(famfs_ns_child_after(ns, d1, 10)->ino, 11);
	assert_int_equal(famfs_ns_child_after(ns, d1, 14)->ino, 16);
	/* 15 exists but in another directory: not a valid shortcut. */
	assert_int_equal(famfs_ns_child_after(ns, d1, 15)->ino, 16);
	assert_int_equal(famfs_ns_child_after(ns, d1, 5)->ino, 10);
	assert_null(famfs_ns_child_after(ns, d1, 19));
	assert_null(famfs_ns_child_after(ns, d1, 1000));
	assert_int_equal(famfs_ns_child_after(ns, root, 0)->ino, 2);
	assert_int_equal(famfs_ns_child_after(ns, root, 2)->ino, 3);

	/* Walk with a cursor, deleting the cursor's node at each step. */
	uint64_t cursor = 0, seen[16], k = 0;

	while ((n = famfs_ns_child_after(ns, d1, cursor)) != NULL) {
		seen[k++] = n->ino;
		cursor = n->ino;
		if (cursor % 2 == 0)
			assert_int_equal(famfs_ns_remove(ns, n), 0);
	}
	assert_int_equal(k, 9);
	for (uint64_t i = 0, want = 10; i < k; i++, want++) {
		if (want == 15)
			want++;
		assert_int_equal(seen[i], want);
	}
	/* Deleted cursors (12, and the run 16..18 around a survivor). */
	assert_int_equal(famfs_ns_child_after(ns, d1, 12)->ino, 13);
	assert_int_equal(famfs_ns_remove(ns, famfs_ns_get(ns, 17)), 0);
	assert_int_equal(famfs_ns_child_after(ns, d1, 16)->ino, 19);
	assert_int_equal(famfs_ns_child_after(ns, d1, 17)->ino, 19);
	assert_int_equal(famfs_ns_remove(ns, famfs_ns_get(ns, 19)), 0);
	assert_null(famfs_ns_child_after(ns, d1, 17));
	assert_int_equal(famfs_ns_child_after(ns, d1, 0)->ino, 11);
	famfs_ns_free(ns);
}

static void test_path_and_resolve(void **state)
{
	struct famfs_ns *ns = new_ns();
	struct famfs_node *a, *b, *c, *f, *got = NULL;
	const char *why = NULL;
	char buf[64];

	(void)state;
	assert_int_equal(add(ns, 2, 1, "a", DIR, &a), 0);
	assert_int_equal(add(ns, 3, 2, "bb", DIR, &b), 0);
	assert_int_equal(add(ns, 4, 3, "c\xc3\xa9", DIR, &c), 0);
	assert_int_equal(add(ns, 5, 4, "file", REG, &f), 0);

	assert_int_equal(famfs_ns_path(f, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/bb/c\xc3\xa9/file");
	size_t len = strlen(buf);

	memset(buf, 'X', sizeof(buf));
	assert_int_equal(famfs_ns_path(f, buf, len + 1), 0);	/* exact fit */
	assert_string_equal(buf, "/a/bb/c\xc3\xa9/file");
	assert_int_equal(famfs_ns_path(f, buf, len), -ENAMETOOLONG);
	assert_int_equal(famfs_ns_path(a, buf, 3), 0);
	assert_string_equal(buf, "/a");
	assert_int_equal(famfs_ns_path(a, buf, 2), -ENAMETOOLONG);

	assert_int_equal(famfs_ns_resolve(ns, "/a/bb/c\xc3\xa9/file", len, &got,
					  &why), 0);
	assert_ptr_equal(got, f);
	assert_int_equal(famfs_ns_resolve(ns, "a//bb/", 6, &got, &why), 0);
	assert_ptr_equal(got, b);
	assert_int_equal(famfs_ns_resolve(ns, "/", 1, &got, &why), 0);
	assert_ptr_equal(got, famfs_ns_root(ns));
	got = NULL;
	assert_int_equal(famfs_ns_resolve(ns, "/a/x", 4, &got, &why), -ENOENT);
	assert_int_equal(famfs_ns_resolve(ns, "/a/bb/c\xc3\xa9/file/x", len + 2,
					  &got, &why), -ENOTDIR);
	assert_int_equal(famfs_ns_resolve(ns, "/a/../a", 7, &got, &why), -EINVAL);
	assert_non_null(why);
	assert_null(got);
	famfs_ns_free(ns);
}

/* Sizing the tables up front changes nothing a caller can see. */
static void test_reserve(void **state)
{
	struct famfs_ns *ns = new_ns();
	uint64_t mem0 = famfs_ns_mem_bytes(ns);
	char name[16];

	(void)state;
	assert_int_equal(famfs_ns_reserve(ns, 0), 0);
	assert_int_equal(famfs_ns_reserve(ns, 10), 0);
	assert_int_equal(famfs_ns_mem_bytes(ns), mem0);	/* already enough */
	assert_int_equal(add(ns, 2, 1, "before", REG, NULL), 0);
	assert_int_equal(famfs_ns_reserve(ns, 50000), 0);
	assert_true(famfs_ns_mem_bytes(ns) > mem0);
	assert_non_null(famfs_ns_lookup(ns, famfs_ns_root(ns), "before", 6));
	for (uint64_t k = 3; k < 20000; k++) {
		snprintf(name, sizeof(name), "n%llu", (unsigned long long)k);
		assert_int_equal(add(ns, k, 1, name, REG, NULL), 0);
	}
	for (uint64_t k = 3; k < 20000; k += 7) {
		snprintf(name, sizeof(name), "n%llu", (unsigned long long)k);
		assert_ptr_equal(famfs_ns_lookup(ns, famfs_ns_root(ns), name,
						 strlen(name)), famfs_ns_get(ns, k));
	}
	/* Reserving less than what is there is a no-op. */
	assert_int_equal(famfs_ns_reserve(ns, 5), 0);
	assert_int_equal(famfs_ns_count(ns), 2 + 19997);	/* root, "before", n3.. */
	famfs_ns_free(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_insert_rules),
		cmocka_unit_test(test_extents_copied),
		cmocka_unit_test(test_remove_rules),
		cmocka_unit_test(test_100k_nodes_growth),
		cmocka_unit_test(test_child_after_cursor),
		cmocka_unit_test(test_path_and_resolve),
		cmocka_unit_test(test_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
