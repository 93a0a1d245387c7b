/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection guard of the HTTP server (docs/master.md, "Connection
 * floods"): a table of every connection libmicrohttpd holds, with what it
 * is doing since when, and a watchdog thread that closes the ones past
 * their deadline (headers not complete header_ms after a request's first
 * byte, a body not complete body_ms after its headers) and, when a new
 * connection takes the count past max_conns, the oldest idle ones first.
 *
 * libmicrohttpd's own idle timeout restarts at every byte, so a client
 * sending one header byte every few seconds is never timed out by it; and
 * at its connection limit it stops accepting, so a flood of idle
 * connections locks everybody out. The guard keeps accepting and sheds.
 *
 * A connection is closed with shutdown(2): libmicrohttpd then sees the
 * hang-up and cleans up itself. The descriptor stays valid for that call
 * because the guard drops an entry (under its lock) in the close
 * notification, which libmicrohttpd sends before it closes the socket.
 */
#ifndef FAMFSD_HTTP_CONN_GUARD_H
#define FAMFSD_HTTP_CONN_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

struct conn_guard_limits {
	unsigned int max_conns;		/* shed above this many */
	unsigned int header_ms;		/* request's first byte to headers */
	unsigned int body_ms;		/* headers to the end of the body */
};

/* Why the guard closed a connection (the metric's reason label). */
enum conn_guard_reason {
	CG_SHED_IDLE,		/* over the cap, oldest idle */
	CG_SHED_HEADERS,	/* over the cap, oldest still in headers */
	CG_SHED_BODY,		/* over the cap, oldest still in its body */
	CG_HEADER_TIMEOUT,
	CG_BODY_TIMEOUT,
	CG__REASONS
};

/* What a connection is doing. */
enum conn_guard_state {
	CG_IDLE,		/* waiting for a request, nothing received */
	CG_IDLE_KEPT,		/* idle, an agent's or admin's: never shed */
	CG_HEADERS,		/* a request begun, headers not complete */
	CG_BODY,		/* headers complete, body still coming */
	CG_BUSY,		/* dispatched, answering or suspended */
	CG_CLOSING,		/* shut down by the guard, not yet gone */
	CG__STATES
};

struct conn_guard_stats {
	unsigned int in_state[CG__STATES];
	uint64_t closed[CG__REASONS];
};

struct conn_guard;

/* Starts the watchdog thread. 0 or -errno. */
int conn_guard_new(const struct conn_guard_limits *l, struct conn_guard **ret);
/* Stops the watchdog; call after MHD_stop_daemon(). Safe with NULL. */
void conn_guard_free(struct conn_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION's callback; cls is the guard. */
void conn_guard_notify(void *cls, struct MHD_Connection *c,
		       void **socket_context,
		       enum MHD_ConnectionNotificationCode code);

/*
 * The request's progress, from the server's callbacks: the request line
 * is in (URI callback), the headers are (first access-handler call), the
 * body is and the request is dispatched, the reply is done (completion
 * callback; kept: the request carried an agent or admin token, so this
 * connection is never shed while idle).
 */
void conn_guard_request_line(struct conn_guard *g, struct MHD_Connection *c);
void conn_guard_headers_done(struct conn_guard *g, struct MHD_Connection *c);
void conn_guard_dispatched(struct conn_guard *g, struct MHD_Connection *c);
void conn_guard_request_done(struct conn_guard *g, struct MHD_Connection *c,
			     bool kept);

void conn_guard_get_stats(struct conn_guard *g, struct conn_guard_stats *ret);
const char *conn_guard_state_name(enum conn_guard_state s);
const char *conn_guard_reason_name(enum conn_guard_reason r);

#endif
