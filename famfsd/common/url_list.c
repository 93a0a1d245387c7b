// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Lists of master addresses and the base of a redirect (url_list.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/url_list.h"

static const char BAD_URL[] = "want http://HOST:PORT or https://HOST:PORT";

/* Length of the scheme and "://", or 0 when neither http nor https. */
static size_t scheme_len(const char *v)
{
	if (!strncasecmp(v, "http://", 7))
		return 7;
	if (!strncasecmp(v, "https://", 8))
		return 8;
	return 0;
}

const char *url_check(const char *v)
{
	size_t sl = scheme_len(v);

	if (!sl || !v[sl] || v[sl] == '/' || v[sl] == ':' ||
	    strpbrk(v, " \t\r\n,"))
		return BAD_URL;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return BAD_URL;
	return NULL;
}

/* Length of url without one trailing '/' and the spaces around it. */
static size_t trimmed(const char **s, size_t n)
{
	while (n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		n--;
	}
	while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t'))
		n--;
	return n;
}

/* url_list_add() of s[0..n), before trimming the slash. */
static int add_n(struct url_list *l, const char *s, size_t n)
{
	char one[URL_MAX + 1];

	n = trimmed(&s, n);
	if (n && s[n - 1] == '/')
		n--;
	if (!n || n > URL_MAX)
		return -EINVAL;
	memcpy(one, s, n);
	one[n] = '\0';
	if (url_check(one))
		return -EINVAL;
	for (unsigned int i = 0; i < l->n; i++)
		if (url_same(l->url[i], one))
			return 0;
	if (l->n == URL_LIST_MAX)
		return -E2BIG;
	memcpy(l->url[l->n++], one, n + 1);
	return 1;
}

int url_list_add(struct url_list *l, const char *url)
{
	return add_n(l, url, strlen(url));
}

int url_list_parse(const char *s, struct url_list *ret, const char **ret_why)
{
	const char *p = s;

	ret->n = 0;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		int r = add_n(ret, p, n);

		if (r < 0) {
			*ret_why = r == -E2BIG ? "want at most 16 URLs" :
				   "want URL[,URL...] of http://HOST:PORT or "
				   "https://HOST:PORT";
			ret->n = 0;
			return -EINVAL;
		}
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* Where the host part of an http(s) URL ends: its path, or its end. */
static size_t authority_end(const char *v)
{
	size_t sl = scheme_len(v);

	return sl + strcspn(v + sl, "/?#");
}

bool url_same(const char *a, const char *b)
{
	size_t ea = authority_end(a), eb = authority_end(b);
	size_t la = strlen(a), lb = strlen(b);

	if (la > ea && a[la - 1] == '/')
		la--;
	if (lb > eb && b[lb - 1] == '/')
		lb--;
	return ea == eb && la - ea == lb - eb && scheme_len(a) &&
	       !strncasecmp(a, b, ea) && !strncmp(a + ea, b + eb, la - ea);
}

int url_redirect_base(const char *location, const char *sent, char *out,
		      size_t size)
{
	size_t ll = strlen(location), sl = strlen(sent);

	/* The location's query may hold what a list item may not (','). */
	if (!scheme_len(location) || strpbrk(location, " \t\r\n") ||
	    sl > ll || strcmp(location + ll - sl, sent))
		return -EINVAL;
	ll -= sl;
	/* What is left must be an address still: not "http://". */
	if (ll <= scheme_len(location))
		return -EINVAL;
	if (ll >= size)
		return -ENAMETOOLONG;
	memcpy(out, location, ll);
	out[ll] = '\0';
	return 0;
}
