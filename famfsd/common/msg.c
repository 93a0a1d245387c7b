// SPDX-License-Identifier: GPL-2.0-or-later
/* Operator messages on stderr (msg.h says the line format). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/msg.h"

/* Set before the role starts any thread, read-only after. */
static const char *msg_role = "famfsd";
static bool msg_verbose;
static bool msg_journal;

void msg_init(const char *role)
{
	msg_role = role;
	msg_journal = getenv("JOURNAL_STREAM") != NULL;
}

void msg_set_verbose(bool verbose)
{
	msg_verbose = verbose;
}

static const char *level_word(enum msg_level level)
{
	if (level <= MSG_ERR)
		return "error: ";
	if (level == MSG_WARN)
		return "warning: ";
	return "";
}

void msg(enum msg_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level >= MSG_DEBUG && !msg_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (msg_journal)
		fprintf(stderr, "<%d>%s: %s\n", level, msg_role, line);
	else
		fprintf(stderr, "famfsd %s: %s%s\n", msg_role, level_word(level),
			line);
}
