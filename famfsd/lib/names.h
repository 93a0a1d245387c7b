/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Name rules shared by the master (API paths), replay and fsck: a component
 * is 1..255 bytes of valid UTF-8 without '/' or NUL and is not "." or "..";
 * a path is at most 4095 bytes; tenants are 1..63 of [A-Za-z0-9._-].
 */
#ifndef FAMFSD_NAMES_H
#define FAMFSD_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* NULL when name[0..len) is a valid component, else why not. */
const char *famfs_name_check(const char *name, size_t len);

/* NULL when the tenant name is valid (an empty tenant is valid: none). */
const char *famfs_tenant_check(const char *tenant, size_t len);

bool famfs_utf8_valid(const char *s, size_t len);

/*
 * Iterates the components of a '/'-separated path. Leading, trailing and
 * repeated slashes are ignored. Returns 1 with the next component, 0 at the
 * end, -EINVAL with *reason for a bad component or an over-long path.
 */
struct famfs_path_iter {
	const char *path;
	size_t len, at;
};

void famfs_path_iter_init(struct famfs_path_iter *it, const char *path,
			  size_t len);
int famfs_path_next(struct famfs_path_iter *it, const char **ret_name,
		    size_t *ret_len, const char **reason);

#endif
