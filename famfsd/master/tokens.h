/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bearer tokens of the master's API. A token file holds one token a line:
 *
 *   TOKEN ROLE [TENANT]      # ROLE: admin, tenant (needs TENANT) or agent
 *
 * The line rules (blank lines, '#' comments, trailing spaces and CRLF) and
 * what a token may be are those of every token file (common/token_file.h).
 * Read at start and again on SIGHUP (auth_tokens_reload); the table has its
 * own lock.
 */
#ifndef FAMFSD_AUTH_H
#define FAMFSD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "famfsd_format.h"

enum auth_role {
	AUTH_ADMIN = 1u << 0,
	AUTH_TENANT = 1u << 1,
	AUTH_AGENT = 1u << 2,
};

struct auth_ident {
	enum auth_role role;
	char tenant[FAMFS_TENANT_MAX + 1];	/* tenant role only */
};

struct auth_tokens;

/* Reads a token file. -EINVAL with why (line number and reason) filled. */
int auth_tokens_load(const char *path, struct auth_tokens **ret,
		     char *why, size_t why_size);

/* A table with one fresh random admin token, copied to ret_token. */
int auth_tokens_generate(struct auth_tokens **ret, char *ret_token,
			 size_t size);

void auth_tokens_free(struct auth_tokens *t);
size_t auth_tokens_count(struct auth_tokens *t);

/*
 * Replaces the table's tokens with the file's, all or nothing: on a bad
 * file (-EINVAL with why filled, or -errno) the old tokens stay.
 */
int auth_tokens_reload(struct auth_tokens *t, const char *path,
		       char *why, size_t why_size);

/*
 * The identity of an "Authorization: Bearer TOKEN" header value, copied
 * to *ret; false when the token is unknown. Compares against every token
 * in constant time per token.
 */
bool auth_lookup(struct auth_tokens *t, const char *authorization,
		 struct auth_ident *ret);

const char *auth_role_name(enum auth_role r);

#endif
