/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A stop request: any thread may ask the process to shut down with an exit
 * code; the first code asked for wins. The role's main loop waits for
 * SIGTERM (every other thread blocks it), so a request also raises SIGTERM
 * to wake it. One role runs per process, so the request is process-wide.
 */
#ifndef FAMFSD_COMMON_STOP_H
#define FAMFSD_COMMON_STOP_H

#include <stdbool.h>

/* No lock needed; async-signal-safe. */
void stop_request(int code);
/* A stop was requested (by stop_request or a signal noted by the loop). */
bool stop_requested(void);
/* The first code passed to stop_request(), 0 if none. */
int stop_exit_code(void);

#endif
