// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "tenant.h"

/* Tenants are few (hundreds): an array searched linearly is enough. */
struct famfs_tenants {
	struct famfs_tenant **v;	/* v[id - 1] */
	uint32_t n, cap;
};

int famfs_tenants_new(struct famfs_tenants **ret)
{
	*ret = calloc(1, sizeof(**ret));
	return *ret ? 0 : -ENOMEM;
}

void famfs_tenants_free(struct famfs_tenants *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
	free(t);
}

struct famfs_tenant *famfs_tenants_find(const struct famfs_tenants *t,
					const char *name, size_t len)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (strlen(t->v[i]->name) == len &&
		    memcmp(t->v[i]->name, name, len) == 0)
			return t->v[i];
	return NULL;
}

int famfs_tenants_get(struct famfs_tenants *t, const char *name, size_t len,
		      struct famfs_tenant **ret)
{
	struct famfs_tenant *tn = famfs_tenants_find(t, name, len);

	if (tn) {
		*ret = tn;
		return 0;
	}
	if (!len || famfs_tenant_check(name, len))
		return -EINVAL;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 8;
		struct famfs_tenant **v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	tn = calloc(1, sizeof(*tn));
	if (!tn)
		return -ENOMEM;
	memcpy(tn->name, name, len);
	tn->id = t->n + 1;
	t->v[t->n++] = tn;
	*ret = tn;
	return 0;
}

struct famfs_tenant *famfs_tenants_by_id(const struct famfs_tenants *t,
					 uint32_t id)
{
	return id && id <= t->n ? t->v[id - 1] : NULL;
}

uint32_t famfs_tenants_count(const struct famfs_tenants *t)
{
	return t->n;
}

int famfs_tenant_check_quota(const struct famfs_tenant *tn, uint64_t bytes,
			     uint64_t files)
{
	if (tn->max_bytes && (bytes > tn->max_bytes ||
			      tn->used_bytes > tn->max_bytes - bytes))
		return -EDQUOT;
	if (tn->max_files && (files > tn->max_files ||
			      tn->used_files > tn->max_files - files))
		return -EDQUOT;
	return 0;
}
