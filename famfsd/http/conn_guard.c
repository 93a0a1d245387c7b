// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The connection guard (conn_guard.h): one entry a connection, kept on the
 * list of its state, oldest first (an entry goes to the tail when its state
 * changes, so each list is sorted by since_ns). Deadlines are then checked
 * from the heads only, and the oldest idle connection is the head of
 * CG_IDLE.
 *
 * The one thing libmicrohttpd does not tell us is the first byte of a new
 * request: it reads the socket dry, so MSG_PEEK shows nothing. The kernel
 * counts the bytes a TCP socket received (TCP_INFO tcpi_bytes_received);
 * an idle connection whose count moved past the count at its last reply
 * has begun a request, and its header deadline runs from then (found by
 * the watchdog's next scan, scan_ms late at most).
 */
#include <errno.h>
#include <linux/tcp.h>		/* tcpi_bytes_received: glibc lacks it */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/clock.h"
#include "common/msg.h"
#include "http/conn_guard.h"

struct guard_conn {
	struct guard_conn *prev, *next;	/* on the guard's list[state] */
	int fd;				/* libmicrohttpd's; valid until CLOSED */
	enum conn_guard_state state;
	uint64_t since_ns;		/* CLOCK_MONOTONIC, entered state */
	uint64_t rx_mark;		/* bytes received when it went idle */
	bool kept;			/* an agent's or admin's connection */
};

struct guard_list {
	struct guard_conn *head, *tail;	/* oldest first */
	unsigned int n;
};

struct conn_guard {
	struct conn_guard_limits lim;
	unsigned int tick_ms;		/* watchdog period: deadlines */
	unsigned int scan_ms;		/* period of the first-byte scan */
	pthread_t thread;
	pthread_mutex_t lock;		/* protects the fields below */
	pthread_cond_t wake;		/* stop */
	struct guard_list list[CG__STATES];
	uint64_t closed[CG__REASONS];
	uint64_t next_scan_ns;		/* of the idle lists for first bytes */
	struct guard_conn cursor;	/* the scan's place, not a connection */
	bool stop;
};

/*
 * The watchdog gives the lock up this often: a scan of thousands of idle
 * connections (TCP_INFO costs microseconds each) or a mass expiry must not
 * hold up the request callbacks for milliseconds.
 */
#define GUARD_BATCH	64u

/* Caller holds g->lock; lets the HTTP threads in. */
static void relax(struct conn_guard *g)
{
	pthread_mutex_unlock(&g->lock);
	pthread_mutex_lock(&g->lock);
}

static const char *const state_names[CG__STATES] = {
	[CG_IDLE] = "idle", [CG_IDLE_KEPT] = "idle_kept",
	[CG_HEADERS] = "headers", [CG_BODY] = "body", [CG_BUSY] = "busy",
	[CG_CLOSING] = "closing",
};

static const char *const reason_names[CG__REASONS] = {
	[CG_SHED_IDLE] = "shed_idle", [CG_SHED_HEADERS] = "shed_headers",
	[CG_SHED_BODY] = "shed_body",
	[CG_HEADER_TIMEOUT] = "header_timeout",
	[CG_BODY_TIMEOUT] = "body_timeout",
};

const char *conn_guard_state_name(enum conn_guard_state s)
{
	return s < CG__STATES ? state_names[s] : "unknown";
}

const char *conn_guard_reason_name(enum conn_guard_reason r)
{
	return r < CG__REASONS ? reason_names[r] : "unknown";
}

static void unlink_entry(struct guard_list *l, struct guard_conn *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

/* After pos, or at the head when pos is NULL. */
static void link_after(struct guard_list *l, struct guard_conn *pos,
		       struct guard_conn *e)
{
	e->prev = pos;
	e->next = pos ? pos->next : l->head;
	if (e->next)
		e->next->prev = e;
	else
		l->tail = e;
	if (pos)
		pos->next = e;
	else
		l->head = e;
}

static void list_del(struct guard_list *l, struct guard_conn *e)
{
	unlink_entry(l, e);
	l->n--;
}

static void list_add_tail(struct guard_list *l, struct guard_conn *e)
{
	link_after(l, l->tail, e);
	l->n++;
}

/* Caller holds g->lock. A closing connection stays closing. */
static void set_state(struct conn_guard *g, struct guard_conn *e,
		      enum conn_guard_state s, uint64_t now)
{
	if (e->state == CG_CLOSING)
		return;
	list_del(&g->list[e->state], e);
	e->state = s;
	e->since_ns = now;
	list_add_tail(&g->list[s], e);
}

static unsigned int open_count(const struct conn_guard *g)
{
	unsigned int n = 0;

	for (int s = 0; s < CG__STATES; s++)
		if (s != CG_CLOSING)
			n += g->list[s].n;
	return n;
}

/* Bytes the socket received so far; 0 where TCP_INFO does not work. */
static uint64_t rx_bytes(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_bytes_received;
}

/*
 * Caller holds g->lock. libmicrohttpd sees the hang-up in its loop and
 * closes the connection (then the CLOSED notification drops the entry).
 */
static void close_conn(struct conn_guard *g, struct guard_conn *e,
		       enum conn_guard_reason why, uint64_t now)
{
	shutdown(e->fd, SHUT_RDWR);
	set_state(g, e, CG_CLOSING, now);
	g->closed[why]++;
}

/* The oldest entry of l that may be shed: not fresh, not kept. */
static struct guard_conn *oldest_sheddable(struct guard_list *l,
					   const struct guard_conn *fresh)
{
	struct guard_conn *e = l->head;

	while (e && (e == fresh || e->kept))
		e = e->next;
	return e;
}

/*
 * Caller holds g->lock. While over the cap: the oldest idle connection,
 * then the oldest still sending headers, then the oldest still sending a
 * body (else a flood of slow bodies would hold every place for
 * body_ms at a time). An idle one whose request came in but was not read
 * yet (the client sent it at once, libmicrohttpd is still accepting
 * others) is in headers. Never fresh (it may be an agent about to
 * authenticate), a kept one, or one being served or suspended; when only
 * those are left the count stays over the cap (libmicrohttpd's own limit
 * is set higher).
 */
static void shed_over_cap(struct conn_guard *g, struct guard_conn *fresh,
			  uint64_t now)
{
	while (open_count(g) > g->lim.max_conns) {
		struct guard_conn *v = oldest_sheddable(&g->list[CG_IDLE], fresh);

		if (v && rx_bytes(v->fd) > v->rx_mark) {
			/* A request waits in it, not yet read: not idle. */
			set_state(g, v, CG_HEADERS, now);
			continue;
		}
		if (v) {
			close_conn(g, v, CG_SHED_IDLE, now);
			continue;
		}
		v = oldest_sheddable(&g->list[CG_HEADERS], fresh);
		if (v) {
			close_conn(g, v, CG_SHED_HEADERS, now);
			continue;
		}
		v = oldest_sheddable(&g->list[CG_BODY], fresh);
		if (!v)
			return;
		close_conn(g, v, CG_SHED_BODY, now);
	}
}

static void conn_started(struct conn_guard *g, struct MHD_Connection *c,
			 void **socket_context)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct guard_conn *e;
	uint64_t now = clock_mono_ns();

	*socket_context = NULL;
	if (!ci)
		return;
	e = calloc(1, sizeof(*e));
	if (!e) {
		/* Unguarded, not refused: libmicrohttpd's timeout still holds. */
		msg(MSG_WARN, "http: out of memory for a connection's "
			"guard entry, serving it unguarded");
		return;
	}
	e->fd = ci->connect_fd;
	e->state = CG_IDLE;
	e->since_ns = now;
	pthread_mutex_lock(&g->lock);
	list_add_tail(&g->list[CG_IDLE], e);
	shed_over_cap(g, e, now);
	pthread_mutex_unlock(&g->lock);
	*socket_context = e;
}

void conn_guard_notify(void *cls, struct MHD_Connection *c,
		       void **socket_context,
		       enum MHD_ConnectionNotificationCode code)
{
	struct conn_guard *g = cls;
	struct guard_conn *e = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		conn_started(g, c, socket_context);
		return;
	}
	if (!e)
		return;
	pthread_mutex_lock(&g->lock);
	list_del(&g->list[e->state], e);
	pthread_mutex_unlock(&g->lock);
	free(e);
	*socket_context = NULL;
}

static struct guard_conn *entry_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* The request line is in: a request has begun, if the watchdog missed it. */
void conn_guard_request_line(struct conn_guard *g, struct MHD_Connection *c)
{
	struct guard_conn *e = entry_of(c);

	if (!e)
		return;
	pthread_mutex_lock(&g->lock);
	if (e->state == CG_IDLE || e->state == CG_IDLE_KEPT)
		set_state(g, e, CG_HEADERS, clock_mono_ns());
	pthread_mutex_unlock(&g->lock);
}

static void mark(struct conn_guard *g, struct MHD_Connection *c,
		 enum conn_guard_state s)
{
	struct guard_conn *e = entry_of(c);

	if (!e)
		return;
	pthread_mutex_lock(&g->lock);
	if (e->state != s)
		set_state(g, e, s, clock_mono_ns());
	pthread_mutex_unlock(&g->lock);
}

void conn_guard_headers_done(struct conn_guard *g, struct MHD_Connection *c)
{
	mark(g, c, CG_BODY);
}

void conn_guard_dispatched(struct conn_guard *g, struct MHD_Connection *c)
{
	mark(g, c, CG_BUSY);
}

void conn_guard_request_done(struct conn_guard *g, struct MHD_Connection *c,
			     bool kept)
{
	struct guard_conn *e = entry_of(c);
	uint64_t rx;

	if (!e)
		return;
	/* Outside the lock: only this connection's thread touches e->fd. */
	rx = rx_bytes(e->fd);
	pthread_mutex_lock(&g->lock);
	e->kept |= kept;
	e->rx_mark = rx;
	set_state(g, e, e->kept ? CG_IDLE_KEPT : CG_IDLE, clock_mono_ns());
	pthread_mutex_unlock(&g->lock);
}

/*
 * Caller holds g->lock. Idle connections that received bytes are in
 * headers from now on. The list changes while the lock is given up, so
 * the scan's place is a node of the list itself (kept, so never shed, and
 * not counted), moved past each entry it checked.
 */
static void find_first_bytes(struct conn_guard *g, enum conn_guard_state s)
{
	struct guard_list *l = &g->list[s];
	struct guard_conn *c = &g->cursor, *e;
	unsigned int n = 0;

	link_after(l, NULL, c);
	while ((e = c->next)) {
		unlink_entry(l, c);
		link_after(l, e, c);
		if (rx_bytes(e->fd) > e->rx_mark)
			set_state(g, e, CG_HEADERS, clock_mono_ns());
		if (++n % GUARD_BATCH == 0)
			relax(g);
	}
	unlink_entry(l, c);
}

/* Caller holds g->lock. Closes the list's entries older than limit_ms. */
static void expire(struct conn_guard *g, enum conn_guard_state s,
		   unsigned int limit_ms, enum conn_guard_reason why)
{
	uint64_t limit_ns = (uint64_t)limit_ms * 1000000u, now;
	struct guard_conn *e;
	unsigned int n = 0;

	for (;;) {
		now = clock_mono_ns();
		e = g->list[s].head;
		if (!e || now - e->since_ns < limit_ns)
			break;
		close_conn(g, e, why, now);
		if (++n % GUARD_BATCH == 0)
			relax(g);
	}
}

/*
 * Caller holds g->lock. Deadlines every tick; the scan for first bytes
 * (the costly part) once per scan period.
 */
static void watch_once(struct conn_guard *g)
{
	uint64_t now = clock_mono_ns();

	if (now >= g->next_scan_ns) {
		g->next_scan_ns = now + (uint64_t)g->scan_ms * 1000000u;
		find_first_bytes(g, CG_IDLE);
		find_first_bytes(g, CG_IDLE_KEPT);
	}
	expire(g, CG_HEADERS, g->lim.header_ms, CG_HEADER_TIMEOUT);
	expire(g, CG_BODY, g->lim.body_ms, CG_BODY_TIMEOUT);
}

static void *watchdog_main(void *arg)
{
	struct conn_guard *g = arg;
	struct timespec ts;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		uint64_t at = clock_mono_ns() + (uint64_t)g->tick_ms * 1000000u;

		ts.tv_sec = (time_t)(at / 1000000000u);
		ts.tv_nsec = (long)(at % 1000000000u);
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
		if (!g->stop)
			watch_once(g);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* An eighth of ms, within lo-hi. */
static unsigned int eighth_of(unsigned int ms, unsigned int lo,
			      unsigned int hi)
{
	ms /= 8;
	return ms < lo ? lo : ms > hi ? hi : ms;
}

int conn_guard_new(const struct conn_guard_limits *l, struct conn_guard **ret)
{
	struct conn_guard *g = calloc(1, sizeof(*g));
	int r;

	if (!g)
		return -ENOMEM;
	g->lim = *l;
	/* A deadline is met to within an eighth of it, or a second. */
	g->tick_ms = eighth_of(l->header_ms < l->body_ms ? l->header_ms :
			       l->body_ms, 10, 100);
	g->scan_ms = eighth_of(l->header_ms, g->tick_ms, 1000);
	g->cursor.kept = true;
	g->cursor.fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	clock_cond_init(&g->wake);
	r = pthread_create(&g->thread, NULL, watchdog_main, g);
	if (r) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return -r;
	}
	*ret = g;
	return 0;
}

void conn_guard_free(struct conn_guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	/* None left after MHD_stop_daemon(); a caller that skipped it leaks
	 * nothing either. */
	for (int s = 0; s < CG__STATES; s++)
		while (g->list[s].head) {
			struct guard_conn *e = g->list[s].head;

			list_del(&g->list[s], e);
			free(e);
		}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void conn_guard_get_stats(struct conn_guard *g, struct conn_guard_stats *ret)
{
	pthread_mutex_lock(&g->lock);
	for (int s = 0; s < CG__STATES; s++)
		ret->in_state[s] = g->list[s].n;
	memcpy(ret->closed, g->closed, sizeof(ret->closed));
	pthread_mutex_unlock(&g->lock);
}
