// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Agent log lines: one line per event on stderr. Under systemd (stderr is a
 * journal stream) each line carries a <N> priority prefix so the journal
 * keeps the level; on a terminal the level is a word.
 */
#include <stdio.h>
#include <stdlib.h>

#include "agent.h"

/* Both set before the agent starts any thread, read-only after. */
static bool log_verbose;
static bool log_journal;

void agent_log_init(void)
{
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void agent_log_set_verbose(bool verbose)
{
	log_verbose = verbose;
}

void agent_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level >= AGENT_LOG_DEBUG && !log_verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_journal)
		fprintf(stderr, "<%d>agent: %s\n", level, line);
	else
		fprintf(stderr, "famfsd agent: %s%s\n",
			level <= AGENT_LOG_ERR ? "error: " :
			level == AGENT_LOG_WARN ? "warning: " : "", line);
}
