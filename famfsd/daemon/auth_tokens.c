// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bearer tokens: loading the token file, generating an admin token when
 * none is configured, and mapping a request's Authorization header to an
 * identity. Tokens are few; a linear scan with a constant-time comparison
 * keeps the time of a lookup independent of how much of a guess matched.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "auth.h"
#include "names.h"

struct auth_token {
	char *token;
	size_t len;
	struct auth_ident ident;
};

struct auth_tokens {
	struct auth_token *v;
	size_t n, cap;
};

void auth_tokens_free(struct auth_tokens *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++) {
		/* Do not leave secrets in freed memory. */
		explicit_bzero(t->v[i].token, t->v[i].len);
		free(t->v[i].token);
	}
	free(t->v);
	free(t);
}

size_t auth_tokens_count(const struct auth_tokens *t)
{
	return t->n;
}

const char *auth_role_name(enum auth_role r)
{
	switch (r) {
	case AUTH_ADMIN:
		return "admin";
	case AUTH_TENANT:
		return "tenant";
	case AUTH_AGENT:
		return "agent";
	}
	return "unknown";
}

static bool tokens_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = 0;

	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static int add(struct auth_tokens *t, const char *token, size_t len,
	       const struct auth_ident *id)
{
	struct auth_token *e;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct auth_token *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	e = &t->v[t->n];
	e->token = strndup(token, len);
	if (!e->token)
		return -ENOMEM;
	e->len = len;
	e->ident = *id;
	t->n++;
	return 0;
}

/* Parses one line's fields; NULL when fine, else why not. */
static const char *parse_line(struct auth_tokens *t, char *line)
{
	char *save = NULL, *tok, *role, *tenant, *extra;
	struct auth_ident id = { 0 };
	size_t len;

	tok = strtok_r(line, " \t", &save);
	role = strtok_r(NULL, " \t", &save);
	tenant = strtok_r(NULL, " \t", &save);
	extra = strtok_r(NULL, " \t", &save);
	if (!role)
		return "expected TOKEN ROLE [TENANT]";
	if (extra)
		return "unexpected text after the tenant";
	len = strlen(tok);
	if (len < AUTH_TOKEN_MIN || len > AUTH_TOKEN_MAX)
		return "token must be 16 to 256 characters";
	for (size_t i = 0; i < len; i++)
		if (tok[i] < 0x21 || tok[i] > 0x7e)
			return "token must be printable ASCII";
	for (size_t i = 0; i < t->n; i++)
		if (tokens_equal(t->v[i].token, t->v[i].len, tok, len))
			return "token appears twice";
	if (!strcmp(role, "admin"))
		id.role = AUTH_ADMIN;
	else if (!strcmp(role, "tenant"))
		id.role = AUTH_TENANT;
	else if (!strcmp(role, "agent"))
		id.role = AUTH_AGENT;
	else
		return "role must be admin, tenant or agent";
	if (id.role == AUTH_TENANT) {
		if (!tenant)
			return "a tenant token needs a TENANT";
		if (famfs_tenant_check(tenant, strlen(tenant)))
			return famfs_tenant_check(tenant, strlen(tenant));
		strcpy(id.tenant, tenant);
	} else if (tenant) {
		return "only tenant tokens name a tenant";
	}
	return add(t, tok, len, &id) < 0 ? "out of memory" : NULL;
}

int auth_tokens_load(const char *path, struct auth_tokens **ret,
		     char *why, size_t why_size)
{
	struct auth_tokens *t;
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	struct stat sb;
	ssize_t n;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		snprintf(why, why_size, "%s", strerror(errno));
		return -errno;
	}
	if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 0007))
		fprintf(stderr, "famfsd master: token file '%s' is readable by "
			"everyone, ignoring\n", path);
	t = calloc(1, sizeof(*t));
	if (!t) {
		fclose(f);
		return -ENOMEM;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		char *p = line;
		const char *err;

		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
				 line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '#')
			continue;
		err = parse_line(t, p);
		if (err) {
			snprintf(why, why_size, "line %u: %s", lineno, err);
			explicit_bzero(line, cap);
			free(line);
			fclose(f);
			auth_tokens_free(t);
			return -EINVAL;
		}
	}
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	if (!t->n) {
		snprintf(why, why_size, "no tokens in the file");
		auth_tokens_free(t);
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

int auth_tokens_generate(struct auth_tokens **ret, char *ret_token,
			 size_t size)
{
	static const char hex[] = "0123456789abcdef";
	struct auth_ident id = { .role = AUTH_ADMIN };
	unsigned char rnd[32];
	char tok[2 * sizeof(rnd) + 1];
	struct auth_tokens *t;
	int err;

	if (size < sizeof(tok))
		return -EINVAL;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		tok[2 * i] = hex[rnd[i] >> 4];
		tok[2 * i + 1] = hex[rnd[i] & 15];
	}
	tok[sizeof(tok) - 1] = '\0';
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	err = add(t, tok, strlen(tok), &id);
	if (err < 0) {
		auth_tokens_free(t);
		return err;
	}
	memcpy(ret_token, tok, sizeof(tok));
	explicit_bzero(tok, sizeof(tok));
	*ret = t;
	return 0;
}

const struct auth_ident *auth_lookup(const struct auth_tokens *t,
				     const char *authorization)
{
	const struct auth_ident *found = NULL;
	const char *tok;
	size_t len;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len && tok[len - 1] == ' ')
		len--;
	for (size_t i = 0; i < t->n; i++)
		if (tokens_equal(t->v[i].token, t->v[i].len, tok, len))
			found = &t->v[i].ident;
	return found;
}
