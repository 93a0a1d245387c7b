/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Messages for the operator: one line per event on stderr, for both roles.
 * (Not to be confused with the pool's metadata log, famfsd/lib/log.h.)
 *
 * Under systemd (stderr is a journal stream, $JOURNAL_STREAM set) each line
 * starts with a <N> syslog priority, which journald takes as the entry's
 * level (SyslogLevelPrefix=, on by default); elsewhere a line reads
 * "famfsd ROLE: [error: |warning: ]text".
 */
#ifndef FAMFSD_COMMON_MSG_H
#define FAMFSD_COMMON_MSG_H

#include <stdbool.h>

/* syslog(3) priorities. */
enum msg_level { MSG_ERR = 3, MSG_WARN = 4, MSG_INFO = 6, MSG_DEBUG = 7 };

/*
 * Called once by the role's main before any thread starts (the settings
 * are read without a lock after that). role names the lines' source.
 */
void msg_init(const char *role);
/* MSG_DEBUG lines are dropped unless verbose. Before any thread starts. */
void msg_set_verbose(bool verbose);

__attribute__((format(printf, 2, 3)))
void msg(enum msg_level level, const char *fmt, ...);

#endif
