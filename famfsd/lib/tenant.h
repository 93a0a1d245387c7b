/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tenants and their quotas. A tenant exists once a quota record or a file
 * names it; ids are small integers handed out in order of appearance (id 0
 * is "no tenant"), valid only in this process.
 */
#ifndef FAMFSD_TENANT_H
#define FAMFSD_TENANT_H

#include <stddef.h>
#include <stdint.h>

#include "famfsd_format.h"

struct famfs_tenant {
	char name[FAMFS_TENANT_MAX + 1];
	uint32_t id;
	uint64_t max_bytes, max_files;	/* 0 = unlimited */
	uint64_t used_bytes, used_files;
};

struct famfs_tenants;

int famfs_tenants_new(struct famfs_tenants **ret);
void famfs_tenants_free(struct famfs_tenants *t);

/* The tenant called name, or NULL. */
struct famfs_tenant *famfs_tenants_find(const struct famfs_tenants *t,
					const char *name, size_t len);
/* The tenant called name, added with no quota if new. -ENOMEM, -EINVAL. */
int famfs_tenants_get(struct famfs_tenants *t, const char *name, size_t len,
		      struct famfs_tenant **ret);
/* By id; NULL for 0 or an unknown id. */
struct famfs_tenant *famfs_tenants_by_id(const struct famfs_tenants *t,
					 uint32_t id);
/* Number of tenants; ids run from 1 to this. */
uint32_t famfs_tenants_count(const struct famfs_tenants *t);

/*
 * 0 when the tenant may add bytes and files within its quota, -EDQUOT
 * otherwise.
 */
int famfs_tenant_check_quota(const struct famfs_tenant *tn, uint64_t bytes,
			     uint64_t files);

#endif
