// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The HTTP connection guard (http/conn_guard.c) on real loopback TCP
 * connections, with libmicrohttpd's connection-info call faked: the cap
 * sheds the oldest idle connection, then the oldest in headers, then in a
 * body, never a fresh, kept or busy one; an idle connection whose request
 * arrived unread counts as in headers; the header deadline runs from a
 * request's first byte (TCP_INFO), not from the connection's start nor
 * from its previous request; the body deadline from the headers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/clock.h"
#include "http/conn_guard.h"

#define CONNS_MAX	8

/* What the guard sees of a connection: libmicrohttpd's is opaque. */
struct fake_conn {
	int fd;				/* the server's end, the guard's */
	int peer;			/* the client's end */
	void *ctx;			/* the socket context */
	union MHD_ConnectionInfo info;
};

const union MHD_ConnectionInfo *
MHD_get_connection_info(struct MHD_Connection *c,
			enum MHD_ConnectionInfoType type, ...)
{
	struct fake_conn *f = (struct fake_conn *)c;

	if (type == MHD_CONNECTION_INFO_CONNECTION_FD)
		f->info.connect_fd = f->fd;
	else if (type == MHD_CONNECTION_INFO_SOCKET_CONTEXT)
		f->info.socket_context = f->ctx;
	else
		return NULL;
	return &f->info;
}

struct rig {
	struct conn_guard *g;
	int listen_fd;
	struct fake_conn conn[CONNS_MAX];
	unsigned int n;
};

static struct MHD_Connection *mhd(struct fake_conn *f)
{
	return (struct MHD_Connection *)f;
}

static struct rig *rig_new(unsigned int cap, unsigned int header_ms,
			   unsigned int body_ms)
{
	struct conn_guard_limits l = { cap, header_ms, body_ms };
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->listen_fd >= 0);
	assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(r->listen_fd, CONNS_MAX), 0);
	assert_int_equal(conn_guard_new(&l, &r->g), 0);
	return r;
}

/* A new connection, as libmicrohttpd announces it. */
static struct fake_conn *arrive(struct rig *r)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	struct fake_conn *f = &r->conn[r->n++];

	assert_true(r->n <= CONNS_MAX);
	assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&a, &len), 0);
	f->peer = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(f->peer, (struct sockaddr *)&a, sizeof(a)), 0);
	f->fd = accept(r->listen_fd, NULL, NULL);
	assert_true(f->fd >= 0);
	conn_guard_notify(r->g, mhd(f), &f->ctx, MHD_CONNECTION_NOTIFY_STARTED);
	assert_non_null(f->ctx);
	return f;
}

static void gone(struct rig *r, struct fake_conn *f)
{
	conn_guard_notify(r->g, mhd(f), &f->ctx, MHD_CONNECTION_NOTIFY_CLOSED);
	assert_null(f->ctx);
}

/* The client's end saw the guard's shutdown within ms. */
static bool shut_within(struct fake_conn *f, int ms)
{
	struct pollfd p = { .fd = f->peer, .events = POLLIN };
	char c;

	return poll(&p, 1, ms) == 1 && recv(f->peer, &c, 1, MSG_DONTWAIT) == 0;
}

static void send_byte(struct fake_conn *f)
{
	assert_int_equal(send(f->peer, "G", 1, 0), 1);
}

static struct conn_guard_stats stats(struct rig *r)
{
	struct conn_guard_stats st;

	conn_guard_get_stats(r->g, &st);
	return st;
}

static void rig_free(struct rig *r)
{
	for (unsigned int i = 0; i < r->n; i++) {
		if (r->conn[i].ctx)
			gone(r, &r->conn[i]);
		close(r->conn[i].fd);
		close(r->conn[i].peer);
	}
	conn_guard_free(r->g);
	close(r->listen_fd);
	free(r);
}

static void test_cap_sheds_the_oldest_idle(void **state)
{
	struct rig *r = rig_new(3, 10000, 10000);
	struct fake_conn *a = arrive(r), *b = arrive(r), *c = arrive(r);

	(void)state;
	assert_int_equal(stats(r).in_state[CG_IDLE], 3);
	arrive(r);
	assert_true(shut_within(a, 1000));
	assert_false(shut_within(b, 50));
	assert_false(shut_within(c, 0));
	assert_int_equal(stats(r).closed[CG_SHED_IDLE], 1);
	assert_int_equal(stats(r).in_state[CG_CLOSING], 1);
	gone(r, a);
	assert_int_equal(stats(r).in_state[CG_CLOSING], 0);
	assert_int_equal(stats(r).in_state[CG_IDLE], 3);
	rig_free(r);
}

static void test_fresh_kept_and_busy_are_never_shed(void **state)
{
	struct rig *r = rig_new(2, 10000, 10000);
	struct fake_conn *kept = arrive(r), *busy = arrive(r), *c, *d;

	(void)state;
	conn_guard_request_line(r->g, mhd(kept));
	conn_guard_headers_done(r->g, mhd(kept));
	conn_guard_dispatched(r->g, mhd(kept));
	conn_guard_request_done(r->g, mhd(kept), true);
	conn_guard_request_line(r->g, mhd(busy));
	conn_guard_headers_done(r->g, mhd(busy));
	conn_guard_dispatched(r->g, mhd(busy));
	c = arrive(r);		/* over the cap, nothing to shed: kept open */
	assert_false(shut_within(c, 50));
	assert_int_equal(stats(r).in_state[CG_IDLE_KEPT], 1);
	assert_int_equal(stats(r).in_state[CG_BUSY], 1);
	d = arrive(r);		/* now c is the oldest idle */
	assert_true(shut_within(c, 1000));
	assert_false(shut_within(kept, 0));
	assert_false(shut_within(busy, 0));
	assert_false(shut_within(d, 0));
	assert_int_equal(stats(r).closed[CG_SHED_IDLE], 1);
	rig_free(r);
}

static void test_headers_go_before_bodies(void **state)
{
	struct rig *r = rig_new(2, 10000, 10000);
	struct fake_conn *body = arrive(r), *hdr = arrive(r), *c;

	(void)state;
	conn_guard_request_line(r->g, mhd(body));
	conn_guard_headers_done(r->g, mhd(body));
	conn_guard_request_line(r->g, mhd(hdr));
	c = arrive(r);
	assert_true(shut_within(hdr, 1000));
	assert_false(shut_within(body, 0));
	assert_int_equal(stats(r).closed[CG_SHED_HEADERS], 1);
	/* c sends a body too: the oldest body goes next. */
	conn_guard_request_line(r->g, mhd(c));
	conn_guard_headers_done(r->g, mhd(c));
	arrive(r);
	assert_true(shut_within(body, 1000));
	assert_false(shut_within(c, 0));
	assert_int_equal(stats(r).closed[CG_SHED_BODY], 1);
	assert_int_equal(stats(r).closed[CG_SHED_IDLE], 0);
	rig_free(r);
}

static void test_unread_request_is_not_idle(void **state)
{
	struct rig *r = rig_new(2, 10000, 10000);
	struct fake_conn *a = arrive(r), *b = arrive(r);

	(void)state;
	send_byte(a);		/* arrived, libmicrohttpd has not read it */
	arrive(r);
	assert_true(shut_within(b, 1000));
	assert_false(shut_within(a, 0));
	assert_int_equal(stats(r).closed[CG_SHED_IDLE], 1);
	assert_int_equal(stats(r).in_state[CG_HEADERS], 1);
	rig_free(r);
}

static double since_s(uint64_t t0)
{
	return (double)(clock_mono_ns() - t0) / 1e9;
}

static void test_header_deadline_runs_from_the_first_byte(void **state)
{
	struct rig *r = rig_new(100, 200, 10000);
	struct fake_conn *a = arrive(r), *kept = arrive(r), *idle = arrive(r);
	uint64_t t0;

	(void)state;
	/* A finished request on kept: its bytes are not a new request's. */
	send_byte(kept);
	conn_guard_request_line(r->g, mhd(kept));
	conn_guard_headers_done(r->g, mhd(kept));
	conn_guard_dispatched(r->g, mhd(kept));
	conn_guard_request_done(r->g, mhd(kept), true);
	assert_false(shut_within(a, 500));	/* idle: no header deadline */
	assert_false(shut_within(kept, 0));
	t0 = clock_mono_ns();
	send_byte(a);
	send_byte(kept);
	assert_true(shut_within(a, 2000));
	assert_true(since_s(t0) >= 0.19);
	assert_true(shut_within(kept, 1000));
	assert_false(shut_within(idle, 0));
	assert_int_equal(stats(r).closed[CG_HEADER_TIMEOUT], 2);
	rig_free(r);
}

static void test_body_deadline_runs_from_the_headers(void **state)
{
	struct rig *r = rig_new(100, 10000, 200);
	struct fake_conn *a = arrive(r), *busy = arrive(r);
	uint64_t t0 = clock_mono_ns();

	(void)state;
	conn_guard_request_line(r->g, mhd(a));
	conn_guard_headers_done(r->g, mhd(a));
	conn_guard_request_line(r->g, mhd(busy));
	conn_guard_headers_done(r->g, mhd(busy));
	conn_guard_dispatched(r->g, mhd(busy));
	assert_true(shut_within(a, 2000));
	assert_true(since_s(t0) >= 0.19);
	assert_false(shut_within(busy, 300));	/* served: no deadline */
	assert_int_equal(stats(r).closed[CG_BODY_TIMEOUT], 1);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_sheds_the_oldest_idle),
		cmocka_unit_test(test_fresh_kept_and_busy_are_never_shed),
		cmocka_unit_test(test_headers_go_before_bodies),
		cmocka_unit_test(test_unread_request_is_not_idle),
		cmocka_unit_test(test_header_deadline_runs_from_the_first_byte),
		cmocka_unit_test(test_body_deadline_runs_from_the_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
