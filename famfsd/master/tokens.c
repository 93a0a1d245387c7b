// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Bearer tokens: loading the token file, generating an admin token when
 * none is configured, and mapping a request's Authorization header to an
 * identity. Tokens are few; a linear scan with a constant-time comparison
 * keeps the time of a lookup independent of how much of a guess matched.
 *
 * A reload (SIGHUP) parses the file into a new table aside and swaps the
 * entries in under the table's write lock; lookups hold the read lock and
 * copy the identity out, so no request keeps a pointer into old entries.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "common/token_file.h"
#include "master/tokens.h"
#include "master/master.h"
#include "names.h"

struct auth_token {
	char *token;
	size_t len;
	struct auth_ident ident;
};

struct auth_tokens {
	pthread_rwlock_t lock;		/* protects v, n, cap */
	struct auth_token *v;
	size_t n, cap;
};

static struct auth_tokens *tokens_new(void)
{
	struct auth_tokens *t = calloc(1, sizeof(*t));

	if (t)
		pthread_rwlock_init(&t->lock, NULL);
	return t;
}

static void free_entries(struct auth_token *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* Do not leave secrets in freed memory. */
		explicit_bzero(v[i].token, v[i].len);
		free(v[i].token);
	}
	free(v);
}

void auth_tokens_free(struct auth_tokens *t)
{
	if (!t)
		return;
	free_entries(t->v, t->n);
	pthread_rwlock_destroy(&t->lock);
	free(t);
}

size_t auth_tokens_count(struct auth_tokens *t)
{
	size_t n;

	pthread_rwlock_rdlock(&t->lock);
	n = t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
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
	if (token_check(tok, len))
		return token_check(tok, len);
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

/* Reads every line of tf into t; NULL when fine, else why not. */
static const char *parse_lines(struct auth_tokens *t, struct token_file *tf,
			       int *ret_err)
{
	char *line;
	int r;

	while ((r = token_file_next(tf, &line)) > 0) {
		const char *why = parse_line(t, line);

		if (why) {
			*ret_err = -EINVAL;
			return why;
		}
	}
	*ret_err = r;
	return r < 0 ? strerror(-r) : NULL;
}

int auth_tokens_load(const char *path, struct auth_tokens **ret,
		     char *why, size_t why_size)
{
	struct token_file tf;
	struct auth_tokens *t;
	const char *err;
	int r;

	r = token_file_open(path, &tf);
	if (r < 0) {
		snprintf(why, why_size, "%s", strerror(-r));
		return r;
	}
	if (tf.world_readable)
		msg(MSG_WARN, "token file '%s' is readable by "
			"everyone, using it anyway", path);
	t = tokens_new();
	if (!t) {
		token_file_close(&tf);
		return -ENOMEM;
	}
	err = parse_lines(t, &tf, &r);
	if (err) {
		if (r == -EINVAL)
			snprintf(why, why_size, "line %u: %s", tf.lineno, err);
		else
			snprintf(why, why_size, "%s", err);
	} else if (!t->n) {
		snprintf(why, why_size, "no tokens in the file");
		r = -EINVAL;
	}
	token_file_close(&tf);
	if (r < 0) {
		auth_tokens_free(t);
		return r;
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
	t = tokens_new();
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

int auth_tokens_reload(struct auth_tokens *t, const char *path,
		       char *why, size_t why_size)
{
	struct auth_tokens *fresh = NULL;
	struct auth_token *old;
	size_t n;
	int r;

	r = auth_tokens_load(path, &fresh, why, why_size);
	if (r < 0)
		return r;
	pthread_rwlock_wrlock(&t->lock);
	old = t->v;
	n = t->n;
	t->v = fresh->v;
	t->n = fresh->n;
	t->cap = fresh->cap;
	pthread_rwlock_unlock(&t->lock);
	fresh->v = old;
	fresh->n = n;
	auth_tokens_free(fresh);
	return 0;
}

bool auth_lookup(struct auth_tokens *t, const char *authorization,
		 struct auth_ident *ret)
{
	const struct auth_ident *found = NULL;
	const char *tok;
	size_t len;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	len = strlen(tok);
	while (len && tok[len - 1] == ' ')
		len--;
	pthread_rwlock_rdlock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (tokens_equal(t->v[i].token, t->v[i].len, tok, len))
			found = &t->v[i].ident;
	if (found)
		*ret = *found;
	pthread_rwlock_unlock(&t->lock);
	return found != NULL;
}
