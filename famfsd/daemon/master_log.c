// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Master log lines: one line per event on stderr. Under systemd (stderr is
 * a journal stream, $JOURNAL_STREAM set) each line starts with a <N>
 * syslog priority, which journald takes as the entry's level
 * (SyslogLevelPrefix=, on by default); elsewhere lines read
 * "famfsd master: ..." as they always did.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "master.h"

void master_log(int level, const char *fmt, ...)
{
	static int journal = -1;	/* -1: not checked yet; racy but idempotent */
	char line[1024];
	va_list ap;

	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (journal)
		fprintf(stderr, "<%d>master: %s\n", level, line);
	else
		fprintf(stderr, "famfsd master: %s\n", line);
}
