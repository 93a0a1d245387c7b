/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Lists of master addresses (docs/failover.md, "Finding the active
 * master"): the agent's --master / master_url and famfsctl's --url /
 * FAMFSD_URL take "URL[,URL...]", every master-capable host of a pool.
 * A client tries the address the pool publishes first (the agent, which
 * reads the pool), then the list in order; a standby's 307 names the
 * active master with the request's path, which url_redirect_base() cuts
 * off again so the next request goes there directly.
 *
 * Pure string functions: the unit tests (tests/unit/test_url_list.c) call
 * them as they are.
 */
#ifndef FAMFSD_COMMON_URL_LIST_H
#define FAMFSD_COMMON_URL_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define URL_LIST_MAX	16u	/* as many as the pool has election slots */
#define URL_MAX		255u	/* bytes of one address, without the NUL */

struct url_list {
	unsigned int n;
	char url[URL_LIST_MAX][URL_MAX + 1];	/* no trailing '/' */
};

/*
 * NULL when v is one http:// or https:// address with a host (a path
 * after it is allowed), else why not.
 */
const char *url_check(const char *v);

/*
 * Parses "URL[,URL...]" (spaces around each URL dropped, one trailing '/'
 * of each dropped, repeats dropped) into ret. 0, or -EINVAL with *ret_why
 * (an empty item, a bad URL, too many, one too long); ret is then empty.
 */
int url_list_parse(const char *s, struct url_list *ret, const char **ret_why);

/* Adds url (normalized as by url_list_parse) unless it is in l already.
 * 1 added, 0 already there, -E2BIG full, -EINVAL bad. */
int url_list_add(struct url_list *l, const char *url);

/* True when a and b name the same address (scheme and host case-blind,
 * a trailing '/' ignored). */
bool url_same(const char *a, const char *b);

/*
 * The base of a redirect: location (a 307's Location) minus sent, the
 * path and query the request had, into out. 0; -EINVAL when location is
 * not an http(s) URL ending in sent (a redirect elsewhere: follow it for
 * this request, but do not take it for the master's base); -ENAMETOOLONG.
 */
int url_redirect_base(const char *location, const char *sent, char *out,
		      size_t size);

#endif
