// SPDX-License-Identifier: GPL-2.0-or-later
/* Token files: one set of line rules for every reader (token_file.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/token_file.h"

const char *token_check(const char *s, size_t len)
{
	if (len < TOKEN_MIN || len > TOKEN_MAX)
		return "token must be 16 to 256 characters";
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return "token must be printable ASCII without spaces";
	return NULL;
}

int token_file_open(const char *path, struct token_file *tf)
{
	struct stat sb;

	*tf = (struct token_file){ 0 };
	tf->f = fopen(path, "re");
	if (!tf->f)
		return -errno;
	tf->world_readable = fstat(fileno(tf->f), &sb) == 0 &&
			     (sb.st_mode & S_IROTH);
	return 0;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int token_file_next(struct token_file *tf, char **ret_line)
{
	ssize_t n;

	errno = 0;
	while ((n = getline(&tf->buf, &tf->cap, tf->f)) >= 0) {
		char *p = tf->buf;

		tf->lineno++;
		if (n > 0 && p[n - 1] == '\n')
			p[--n] = '\0';
		if (n > 0 && p[n - 1] == '\r')
			p[--n] = '\0';
		while (n > 0 && blank(p[n - 1]))
			p[--n] = '\0';
		while (blank(*p))
			p++;
		if (!*p || *p == '#')
			continue;
		*ret_line = p;
		return 1;
	}
	return ferror(tf->f) ? -(errno ? errno : EIO) : 0;
}

void token_file_close(struct token_file *tf)
{
	if (tf->buf)
		explicit_bzero(tf->buf, tf->cap);
	free(tf->buf);
	tf->buf = NULL;
	tf->cap = 0;
	if (tf->f)
		fclose(tf->f);
	tf->f = NULL;
}

int token_file_read_one(const char *path, char **ret, const char **ret_why)
{
	struct token_file tf;
	char *line, *copy;
	const char *why;
	int r;

	r = token_file_open(path, &tf);
	if (r < 0)
		return r;
	r = token_file_next(&tf, &line);
	if (r <= 0) {
		token_file_close(&tf);
		return r < 0 ? r : -ENODATA;
	}
	why = token_check(line, strlen(line));
	if (why) {
		*ret_why = why;
		token_file_close(&tf);
		return -EINVAL;
	}
	copy = strdup(line);
	token_file_close(&tf);
	if (!copy)
		return -ENOMEM;
	*ret = copy;
	return 0;
}
