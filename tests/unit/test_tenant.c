// SPDX-License-Identifier: GPL-2.0-or-later
/* Tenants: ids in order of appearance, name rules, quota arithmetic. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tenant.h"

static void test_ids_and_lookup(void **state)
{
	struct famfs_tenants *t = NULL;
	struct famfs_tenant *a, *b, *again;

	(void)state;
	assert_int_equal(famfs_tenants_new(&t), 0);
	assert_int_equal(famfs_tenants_count(t), 0);
	assert_null(famfs_tenants_find(t, "acme", 4));
	assert_int_equal(famfs_tenants_get(t, "acme", 4, &a), 0);
	assert_int_equal(famfs_tenants_get(t, "beta", 4, &b), 0);
	assert_int_equal(a->id, 1);
	assert_int_equal(b->id, 2);
	assert_string_equal(a->name, "acme");
	assert_int_equal(a->max_bytes, 0);
	assert_int_equal(a->used_files, 0);
	assert_int_equal(famfs_tenants_get(t, "acme", 4, &again), 0);
	assert_ptr_equal(again, a);
	assert_int_equal(famfs_tenants_count(t), 2);
	assert_ptr_equal(famfs_tenants_find(t, "beta", 4), b);
	/* Prefixes and extensions are other names. */
	assert_null(famfs_tenants_find(t, "acm", 3));
	assert_null(famfs_tenants_find(t, "acmeX", 5));
	assert_ptr_equal(famfs_tenants_by_id(t, 1), a);
	assert_ptr_equal(famfs_tenants_by_id(t, 2), b);
	assert_null(famfs_tenants_by_id(t, 0));
	assert_null(famfs_tenants_by_id(t, 3));
	famfs_tenants_free(t);
	famfs_tenants_free(NULL);
}

static void test_bad_names_refused(void **state)
{
	struct famfs_tenants *t = NULL;
	struct famfs_tenant *tn = NULL;
	char longname[FAMFS_TENANT_MAX + 1];

	(void)state;
	assert_int_equal(famfs_tenants_new(&t), 0);
	assert_int_equal(famfs_tenants_get(t, "", 0, &tn), -EINVAL);
	assert_int_equal(famfs_tenants_get(t, ".x", 2, &tn), -EINVAL);
	assert_int_equal(famfs_tenants_get(t, "a b", 3, &tn), -EINVAL);
	assert_int_equal(famfs_tenants_get(t, "a/b", 3, &tn), -EINVAL);
	memset(longname, 'l', sizeof(longname));
	assert_int_equal(famfs_tenants_get(t, longname, FAMFS_TENANT_MAX + 1,
					   &tn), -EINVAL);
	assert_int_equal(famfs_tenants_count(t), 0);
	assert_int_equal(famfs_tenants_get(t, longname, FAMFS_TENANT_MAX, &tn), 0);
	assert_int_equal(strlen(tn->name), FAMFS_TENANT_MAX);
	assert_ptr_equal(famfs_tenants_find(t, longname, FAMFS_TENANT_MAX), tn);
	famfs_tenants_free(t);
}

/* Many tenants: the table grows and ids stay dense and stable. */
static void test_many(void **state)
{
	struct famfs_tenants *t = NULL;
	struct famfs_tenant *tn;
	char name[16];

	(void)state;
	assert_int_equal(famfs_tenants_new(&t), 0);
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		assert_int_equal(famfs_tenants_get(t, name, strlen(name), &tn), 0);
		assert_int_equal(tn->id, (uint32_t)i + 1);
	}
	for (int i = 0; i < 500; i++) {
		snprintf(name, sizeof(name), "t%d", i);
		tn = famfs_tenants_by_id(t, (uint32_t)i + 1);
		assert_non_null(tn);
		assert_string_equal(tn->name, name);
		assert_ptr_equal(famfs_tenants_find(t, name, strlen(name)), tn);
	}
	assert_int_equal(famfs_tenants_count(t), 500);
	famfs_tenants_free(t);
}

static void test_quota_check(void **state)
{
	struct famfs_tenant tn = { .id = 1 };

	(void)state;
	/* Unlimited. */
	assert_int_equal(famfs_tenant_check_quota(&tn, UINT64_MAX, UINT64_MAX), 0);

	tn.max_bytes = 100;
	tn.used_bytes = 60;
	assert_int_equal(famfs_tenant_check_quota(&tn, 40, 1), 0);	/* at the limit */
	assert_int_equal(famfs_tenant_check_quota(&tn, 41, 1), -EDQUOT);
	assert_int_equal(famfs_tenant_check_quota(&tn, 0, 1), 0);
	assert_int_equal(famfs_tenant_check_quota(&tn, 101, 0), -EDQUOT);
	/* No wrap-around: a huge request never slips under the limit. */
	assert_int_equal(famfs_tenant_check_quota(&tn, UINT64_MAX, 0), -EDQUOT);
	assert_int_equal(famfs_tenant_check_quota(&tn, UINT64_MAX - 50, 0),
			 -EDQUOT);
	/* Already over (quota lowered below usage): nothing more fits. */
	tn.used_bytes = 150;
	assert_int_equal(famfs_tenant_check_quota(&tn, 1, 0), -EDQUOT);
	assert_int_equal(famfs_tenant_check_quota(&tn, 0, 0), -EDQUOT);

	tn = (struct famfs_tenant){ .id = 1, .max_files = 3, .used_files = 2 };
	assert_int_equal(famfs_tenant_check_quota(&tn, 1u << 30, 1), 0);
	assert_int_equal(famfs_tenant_check_quota(&tn, 0, 2), -EDQUOT);
	assert_int_equal(famfs_tenant_check_quota(&tn, 0, UINT64_MAX), -EDQUOT);
	tn.used_files = 3;
	assert_int_equal(famfs_tenant_check_quota(&tn, 0, 1), -EDQUOT);
	assert_int_equal(famfs_tenant_check_quota(&tn, 0, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_and_lookup),
		cmocka_unit_test(test_bad_names_refused),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_quota_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
