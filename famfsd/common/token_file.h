/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bearer tokens in files: the line rules every reader of a token file
 * follows (the master's --tokens file, the agent's --token-file,
 * famfsctl's --token-file), so the same bytes mean the same token in each.
 *
 *  - A line ends at '\n'; a '\r' before it (a file written on Windows) is
 *    part of the line ending, not of the token.
 *  - Spaces and tabs at either end of a line are dropped.
 *  - A line that is then empty, or starts with '#', holds nothing.
 *  - A token is TOKEN_MIN to TOKEN_MAX printable ASCII characters, no
 *    spaces (token_check); the same rule holds for a token given as an
 *    option (--token).
 *
 * docs/master.md ("Tokens") tells the same rules to the operator.
 */
#ifndef FAMFSD_COMMON_TOKEN_FILE_H
#define FAMFSD_COMMON_TOKEN_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TOKEN_MIN	16u
#define TOKEN_MAX	256u

/* NULL when s[0..len) is a valid token, else why not. */
const char *token_check(const char *s, size_t len);

/* A token file being read line by line. */
struct token_file {
	FILE *f;
	char *buf;			/* getline's, wiped at close */
	size_t cap;
	unsigned int lineno;		/* of the line last returned */
	bool world_readable;		/* mode has o+r: the caller warns */
};

/* Opens path for token_file_next(); 0 or -errno. */
int token_file_open(const char *path, struct token_file *tf);

/*
 * The next line that holds something, trimmed (see above), into *ret_line
 * (valid until the next call); tf->lineno is its line number. 1 when there
 * is one, 0 at the end, -errno on a read error.
 */
int token_file_next(struct token_file *tf, char **ret_line);

/* Wipes the line buffer and closes; safe on a closed or zeroed tf. */
void token_file_close(struct token_file *tf);

/*
 * A file that holds one token (the agent's and famfsctl's): the first line
 * that holds something, which must be one valid token, into *ret (malloc'ed;
 * wipe it before free). -ENODATA when no line holds anything, -EINVAL when
 * the line is not a token (*ret_why says why), other -errno from reading.
 */
int token_file_read_one(const char *path, char **ret, const char **ret_why);

#endif
