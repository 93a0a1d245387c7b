// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Token files (famfsd/common/token_file.c): the line rules every reader
 * follows, and that the master's reader (token_file_next) and the agent's
 * and famfsctl's (token_file_read_one) see the same token in the same bytes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/token_file.h"

#define TOK "abcdefghijklmnop0123"	/* 20 characters */

/* A file holding text; the name is a static buffer, unlinked by done(). */
static const char *file_with(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/test_token_file.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void done(const char *path)
{
	unlink(path);
}

/* Every line token_file_next returns, joined by '|', and their numbers. */
static void lines_of(const char *text, char *out, size_t size,
		     unsigned int *linenos)
{
	const char *path = file_with(text);
	struct token_file tf;
	char *line;
	size_t n = 0;
	int r, i = 0;

	assert_int_equal(token_file_open(path, &tf), 0);
	out[0] = '\0';
	while ((r = token_file_next(&tf, &line)) > 0) {
		n += (size_t)snprintf(out + n, size - n, "%s%s", n ? "|" : "", line);
		linenos[i++] = tf.lineno;
	}
	assert_int_equal(r, 0);
	token_file_close(&tf);
	token_file_close(&tf);	/* twice is fine */
	done(path);
}

static void test_line_rules(void **state)
{
	unsigned int ln[8] = { 0 };
	char out[512];

	(void)state;
	/* Trailing spaces, tabs and CRLF go; so do leading blanks. */
	lines_of("a b \t\r\n  c\td\t\n", out, sizeof(out), ln);
	assert_string_equal(out, "a b|c\td");
	assert_int_equal(ln[0], 1);
	assert_int_equal(ln[1], 2);
	/* Blank, blank-only and comment lines are skipped but counted. */
	lines_of("\n   \n\t\r\n# x y\n  # indented comment\nlast", out,
		 sizeof(out), ln);
	assert_string_equal(out, "last");
	assert_int_equal(ln[0], 6);
	/* A '#' inside a line is not a comment; a lone CR is kept inside. */
	lines_of("tok#1 agent\nx\ry\r\n", out, sizeof(out), ln);
	assert_string_equal(out, "tok#1 agent|x\ry");
	/* A CR not at the end of the line: only the last CR goes. */
	lines_of("z\r\r\n", out, sizeof(out), ln);
	assert_string_equal(out, "z\r");
}

static void test_token_check(void **state)
{
	char tok[TOKEN_MAX + 2];

	(void)state;
	memset(tok, 'x', sizeof(tok));
	assert_null(token_check(tok, TOKEN_MIN));
	assert_null(token_check(tok, TOKEN_MAX));
	assert_string_equal(token_check(tok, TOKEN_MIN - 1),
			    "token must be 16 to 256 characters");
	assert_non_null(token_check(tok, TOKEN_MAX + 1));
	assert_non_null(token_check(tok, 0));
	tok[3] = ' ';
	assert_non_null(token_check(tok, TOKEN_MIN));
	tok[3] = 0x7f;
	assert_non_null(token_check(tok, TOKEN_MIN));
	tok[3] = '~';
	assert_null(token_check(tok, TOKEN_MIN));
}

static int read_one(const char *text, char **ret, const char **why)
{
	const char *path = file_with(text);
	int r;

	*ret = NULL;
	*why = NULL;
	r = token_file_read_one(path, ret, why);
	done(path);
	return r;
}

static void test_read_one(void **state)
{
	static const char *const same[] = {
		TOK "\n", TOK, TOK " \n", TOK "\t\r\n", "  " TOK "\r\n",
		"# comment\n\n" TOK "\nsecond-line-is-not-read\n",
	};
	const char *why;
	char *t;

	(void)state;
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(read_one(same[i], &t, &why), 0);
		assert_string_equal(t, TOK);
		free(t);
	}
	assert_int_equal(read_one("", &t, &why), -ENODATA);
	assert_int_equal(read_one("\n# only a comment\n \r\n", &t, &why), -ENODATA);
	assert_int_equal(read_one(TOK " agent\n", &t, &why), -EINVAL);
	assert_string_equal(why, "token must be printable ASCII without spaces");
	assert_int_equal(read_one("short\n", &t, &why), -EINVAL);
	assert_string_equal(why, "token must be 16 to 256 characters");
	assert_null(t);
	assert_int_equal(token_file_read_one("/nonexistent/token", &t, &why),
			 -ENOENT);
}

/* The master's reader and the agent's agree on every line ending. */
static void test_readers_agree(void **state)
{
	static const char *const texts[] = {
		TOK "\r\n", TOK " \t\n", "\t" TOK, "#c\n" TOK "  \r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		unsigned int ln[4];
		const char *why;
		char out[64], *t;

		lines_of(texts[i], out, sizeof(out), ln);
		assert_int_equal(read_one(texts[i], &t, &why), 0);
		assert_string_equal(out, t);
		free(t);
	}
}

static void test_world_readable(void **state)
{
	const char *path = file_with(TOK "\n");
	struct token_file tf;

	(void)state;
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(token_file_open(path, &tf), 0);
	assert_false(tf.world_readable);
	token_file_close(&tf);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(token_file_open(path, &tf), 0);
	assert_true(tf.world_readable);
	token_file_close(&tf);
	done(path);
	assert_int_equal(token_file_open(path, &tf), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_rules),
		cmocka_unit_test(test_token_check),
		cmocka_unit_test(test_read_one),
		cmocka_unit_test(test_readers_agree),
		cmocka_unit_test(test_world_readable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
