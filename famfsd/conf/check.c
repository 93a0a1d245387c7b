// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One value against the type of its key, for the file and the command
 * line alike. A good value is written back normalized (sizes and integers
 * in decimal, booleans as "yes"/"no", choices and UUIDs in lower case):
 * the file's values reach the role as options in that form.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uuid/uuid.h>

#include "common/token_file.h"
#include "common/url_list.h"
#include "conf/options.h"
#include "probe.h"

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static const char *check_bool(const char *v, char *buf, size_t size)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			snprintf(buf, size, "yes");
			return NULL;
		}
		if (!strcasecmp(v, no[i])) {
			snprintf(buf, size, "no");
			return NULL;
		}
	}
	return "want yes or no";
}

/* Decimal digits only: no sign, no hex, no leading spaces. */
static int parse_decimal(const char *s, const char **ret_end,
			 unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	*ret_end = end;
	*ret = v;
	return 0;
}

static const char *check_size(const char *v, char *buf, size_t size)
{
	uint64_t n;
	int r = famfs_parse_size(v, &n);

	if (r == -ERANGE)
		return "too large";
	if (r < 0)
		return "want a number of bytes with an optional K, M, G or T";
	snprintf(buf, size, "%llu", (unsigned long long)n);
	return NULL;
}

static const char *check_uint(const struct conf_key *k, const char *v,
			      char *buf, size_t size)
{
	unsigned long long n;
	const char *end;

	if (parse_decimal(v, &end, &n) < 0 || *end || n < k->min || n > k->max) {
		snprintf(buf, size, "want an integer from %llu to %llu",
			 (unsigned long long)k->min, (unsigned long long)k->max);
		return buf;
	}
	snprintf(buf, size, "%llu", n);
	return NULL;
}

static const char *check_choice(const struct conf_key *k, const char *v,
				char *buf, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; k->choices[i]; i++)
		if (!strcasecmp(v, k->choices[i])) {
			snprintf(buf, size, "%s", k->choices[i]);
			return NULL;
		}
	n += (size_t)snprintf(buf, size, "want one of");
	for (size_t i = 0; k->choices[i] && n < size; i++)
		n += (size_t)snprintf(buf + n, size - n, "%s %s",
				      i ? "," : "", k->choices[i]);
	return buf;
}

static const char *check_path(const char *v, enum conf_source from)
{
	if (!v[0])
		return "want a path";
	/* The file is read from / by systemd: only absolute paths mean one thing. */
	if (from == CONF_FROM_FILE && v[0] != '/')
		return "want an absolute path";
	if (strlen(v) >= PATH_MAX)
		return "path too long";
	return NULL;
}

static const char *check_globs(const char *v, char *buf, size_t size)
{
	char *copy = strdup(v), *save = NULL, *w;
	size_t n = 0;
	const char *why = NULL;

	if (!copy)
		return "out of memory";
	buf[0] = '\0';
	for (w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (w[0] != '/') {
			why = "each pattern must be an absolute path";
			break;
		}
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s",
				      n ? " " : "", w);
	}
	free(copy);
	if (!why && !n)
		why = "want one or more patterns, e.g. /dev/dax*";
	if (!why && n >= size)
		why = "too long";
	return why;
}

static const char *check_listen(const char *v)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM,
	};
	const char *colon = strrchr(v, ':');
	struct addrinfo *ai;
	char host[128];
	size_t hl;

	if (!colon || colon == v || !colon[1])
		return "want ADDR:PORT or [V6ADDR]:PORT";
	hl = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hl < 3 || v[hl - 1] != ']')
			return "want [V6ADDR]:PORT for IPv6";
		v++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return "address too long";
	memcpy(host, v, hl);
	host[hl] = '\0';
	if (strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strlen(colon + 1) > 5 || atoi(colon + 1) > 65535)
		return "bad port";
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return "want a numeric address (no host names)";
	freeaddrinfo(ai);
	return NULL;
}

static const char *check_url(const char *v)
{
	const char *rest;

	if (!strncmp(v, "http://", 7))
		rest = v + 7;
	else if (!strncmp(v, "https://", 8))
		rest = v + 8;
	else
		return "want http://HOST:PORT or https://HOST:PORT";
	if (!*rest || *rest == '/' || strpbrk(v, " \t"))
		return "want http://HOST:PORT or https://HOST:PORT";
	return NULL;
}

/* Every master-capable host's address (common/url_list.h). */
static const char *check_urls(const char *v)
{
	struct url_list l;
	const char *why = NULL;

	return url_list_parse(v, &l, &why) < 0 ? why : NULL;
}

static const char *check_agent_id(const char *v)
{
	size_t n = strlen(v);

	if (!n || n > 128 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789._:-") != n)
		return "want 1 to 128 of A-Z a-z 0-9 . _ : -";
	return NULL;
}

const char *conf_check_value(const struct conf_key *k, const char *value,
			     enum conf_source from, char *buf, size_t size)
{
	const char *why = NULL;
	uuid_t u;

	if (has_control(value))
		return "control characters in the value";
	if (strlen(value) >= size)
		return "value too long";
	switch (k->type) {
	case CT_BOOL:
		return check_bool(value, buf, size);
	case CT_SIZE:
		return check_size(value, buf, size);
	case CT_UINT:
		return check_uint(k, value, buf, size);
	case CT_CHOICE:
	case CT_COHERENCE:
		return check_choice(k, value, buf, size);
	case CT_GLOBS:
		return check_globs(value, buf, size);
	case CT_UUID:
		if (uuid_parse(value, u) < 0)
			return "want a UUID like 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
		uuid_unparse_lower(u, buf);
		return NULL;
	case CT_PATH:
		why = check_path(value, from);
		break;
	case CT_LISTEN:
		why = check_listen(value);
		break;
	case CT_URL:
		why = check_url(value);
		break;
	case CT_URLS:
		why = check_urls(value);
		break;
	case CT_AGENT_ID:
		why = check_agent_id(value);
		break;
	case CT_TOKEN:
		why = token_check(value, strlen(value));
		break;
	case CT_STRING:
		break;
	}
	if (!why)
		snprintf(buf, size, "%s", value);
	return why;
}
