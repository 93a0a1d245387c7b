// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The HTTP server: libmicrohttpd with its own polling threads (epoll, a
 * small thread pool), keep-alive, optional TLS (GnuTLS inside MHD), and
 * limits on connections, connections per client address, idle time and
 * request body size. Suspend/resume lets a long poll wait without holding
 * a thread.
 *
 * Per request: the URI callback allocates our struct http_req and keeps the
 * raw URI (MHD decodes the path it hands the access handler, which would
 * turn %2F into a '/' we could no longer tell from a separator); the access
 * handler collects the body; the completion callback frees the request.
 *
 * Floods: every connection is on the guard's table (conn_guard.c), which
 * closes a request whose headers or body take too long and, past
 * max_connections, sheds the oldest idle connections; libmicrohttpd's own
 * limit sits above that cap so a new connection (an agent's heartbeat) is
 * always accepted. The callbacks below tell the guard each request's
 * progress.
 *
 * Under systemd the listening socket may come from famfsd-api.socket
 * (LISTEN_FDS): connections made while the master restarts wait in its
 * backlog instead of being refused. At stop the server drains: it stops
 * accepting, lets the requests in progress finish (bounded), then closes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "http/conn_guard.h"
#include "http/server.h"

struct http_server {
	struct MHD_Daemon *d;
	struct master *m;
	char *cert, *key;		/* PEM, kept for the daemon's lifetime */
	unsigned int port;
	atomic_uint inflight;		/* requests begun and not completed */
	struct conn_guard *guard;
	int quiesced_fd;		/* the listener, after a drain; or -1 */
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *s = cls;
	struct http_req *rq = calloc(1, sizeof(*rq));
	char *q;

	conn_guard_request_line(s->guard, conn);
	if (!rq)
		return NULL;
	rq->m = s->m;
	rq->start_ns = clock_mono_ns();
	rq->path = strdup(uri);
	if (!rq->path) {
		free(rq);
		return NULL;
	}
	q = strchr(rq->path, '?');
	if (q) {
		*q = '\0';
		rq->query = q + 1;
	}
	atomic_fetch_add(&s->inflight, 1);
	return rq;
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_req *rq = *con_cls;
	struct http_server *s = cls;

	(void)toe;
	/* An agent's or admin's connection is not shed while it idles. */
	conn_guard_request_done(s->guard, conn, rq && rq->who &&
				(rq->who->role & (AUTH_AGENT | AUTH_ADMIN)));
	if (!rq)
		return;
	atomic_fetch_sub(&s->inflight, 1);
	if (rq->waits_compaction) {
		master_lock(s->m);
		master_compact_cancel(s->m, &rq->waiter);
		master_unlock(s->m);
	} else if (rq->waiter.queued) {
		master_feed_cancel(s->m->feed, &rq->waiter);
	}
	free(rq->path);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

/*
 * A body over the limit is read and dropped, and refused once it is in:
 * answering early makes the server close while the client still sends,
 * and most clients then see a reset instead of the 413. Only an absurd
 * announced length is refused at once: more than twice the largest limit
 * of any route (api_body_max(), 8 MiB on POST /v1/batch).
 */
#define HTTP_DRAIN_MAX	(16u << 20)

static bool body_absurdly_large(struct http_req *rq)
{
	const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);

	return cl && strtoull(cl, NULL, 10) > HTTP_DRAIN_MAX;
}

static void body_append(struct http_req *rq, const char *data, size_t n)
{
	if (rq->too_large)
		return;
	if (n > rq->body_max - rq->body_len) {
		/* Keep reading (and dropping) so the 413 goes out cleanly. */
		rq->too_large = true;
		free(rq->body);
		rq->body = NULL;
		rq->body_len = rq->body_cap = 0;
		return;
	}
	if (rq->body_len + n + 1 > rq->body_cap) {
		size_t cap = rq->body_cap ? rq->body_cap : 1024;
		char *b;

		while (cap < rq->body_len + n + 1)
			cap *= 2;
		b = realloc(rq->body, cap);
		if (!b) {
			rq->too_large = true;	/* reported as 413 as well */
			return;
		}
		rq->body = b;
		rq->body_cap = cap;
	}
	memcpy(rq->body + rq->body_len, data, n);
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
}

static bool expects_continue(struct http_req *rq)
{
	const char *e = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_EXPECT);

	return e && !strcasecmp(e, "100-continue");
}

/*
 * A standby's redirect reads the body only to drop it (the client sends
 * it again to the active master), up to HTTP_DRAIN_MAX: a chunked body
 * announces no length, and past that the connection is closed instead.
 */
static enum MHD_Result body_drop(struct http_req *rq, size_t *upload_data_size)
{
	rq->dropped += *upload_data_size;
	*upload_data_size = 0;
	return rq->dropped > HTTP_DRAIN_MAX ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct http_req *rq = *con_cls;
	struct http_server *s = cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)url;
	(void)version;
	if (!rq) {
		conn_guard_dispatched(s->guard, conn);
		/* The URI callback ran out of memory: answer without a body. */
		resp = MHD_create_response_from_buffer(0, NULL,
						       MHD_RESPMEM_PERSISTENT);
		ret = MHD_queue_response(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (!rq->started) {
		rq->started = true;
		rq->conn = conn;
		rq->method = method;
		conn_guard_headers_done(s->guard, conn);
		rq->body_max = api_body_max(rq);
		if (body_absurdly_large(rq)) {
			conn_guard_dispatched(s->guard, conn);
			return http_reply_problem(rq, PROB_TOO_LARGE,
						  "request body exceeds %zu bytes",
						  rq->body_max);
		}
		rq->standby = api_standby_redirects(rq);
		/* A client that waits for 100 Continue sends its body to
		 * the active master only. */
		if (rq->standby && expects_continue(rq)) {
			conn_guard_dispatched(s->guard, conn);
			return api_dispatch(rq);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (rq->standby)
			return body_drop(rq, upload_data_size);
		body_append(rq, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	conn_guard_dispatched(s->guard, conn);
	if (rq->too_large)
		return http_reply_problem(rq, PROB_TOO_LARGE,
					  "request body exceeds %zu bytes",
					  rq->body_max);
	return api_dispatch(rq);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	msg(MSG_WARN, "http: %s", line);
}

/* "ADDR:PORT" or "[V6ADDR]:PORT" into a socket address. */
static int parse_listen(const char *s, struct sockaddr_storage *ss,
			bool *ret_v6)
{
	struct addrinfo hints = {
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM,
	};
	struct addrinfo *ai;
	char host[128], *port;
	const char *colon = strrchr(s, ':');
	size_t hl;
	int r;

	if (!colon || colon == s)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return -EINVAL;
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	port = (char *)colon + 1;
	r = getaddrinfo(host, port, &hints, &ai);
	if (r)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*ret_v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

static char *read_file(const char *path)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "re");
	ssize_t n;

	if (!f)
		return NULL;
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static int load_tls(struct http_server *s, const struct conf_master *cfg)
{
	/* Both or neither: the option table's rules saw to it. */
	if (!cfg->tls_cert)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		msg(MSG_ERR, "this libmicrohttpd has no TLS");
		return -EOPNOTSUPP;
	}
	s->cert = read_file(cfg->tls_cert);
	if (!s->cert) {
		msg(MSG_ERR, "Failed to read '%s': %s",
			cfg->tls_cert, strerror(errno ? errno : EINVAL));
		return -EINVAL;
	}
	s->key = read_file(cfg->tls_key);
	if (!s->key) {
		msg(MSG_ERR, "Failed to read '%s': %s",
			cfg->tls_key, strerror(errno ? errno : EINVAL));
		return -EINVAL;
	}
	return 0;
}

/*
 * The listening socket systemd passed in, or -1 (then bind cfg->listen).
 * Takes it out of the environment, so a child would not see it.
 */
static int activated_socket(bool *ret_v6)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START;

	if (n <= 0)
		return -1;
	if (n > 1)
		msg(MSG_WARN, "systemd passed %d sockets, using "
			   "the first, ignoring the others", n);
	if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
		msg(MSG_WARN, "the descriptor systemd passed is "
			   "not a listening stream socket, ignoring it");
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	*ret_v6 = ss.ss_family == AF_INET6;
	return fd;
}

/* Descriptors the master needs beside its connections (pool, logs, ...). */
#define HTTP_FD_SPARE	256u

/*
 * Raises the soft RLIMIT_NOFILE to the hard one (the default soft 1024
 * would stop accept() long before the cap) and returns how many
 * connections fit beside HTTP_FD_SPARE, at most want.
 */
static unsigned int fds_for_connections(unsigned int want)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return want;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t old = rl.rlim_cur;

		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = old;
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return want;
	room = rl.rlim_cur > 2 * HTTP_FD_SPARE ? rl.rlim_cur - HTTP_FD_SPARE :
						 rl.rlim_cur / 2;
	return room < want ? (unsigned int)room : want;
}

/*
 * The guard's cap and libmicrohttpd's own limit above it: a quarter more,
 * room for new connections while everything within the cap is busy
 * (libmicrohttpd splits its limit among the threads, and at it stops
 * accepting). Both shrink to fit the descriptor limit.
 */
static int start_guard(struct http_server *s, const struct conf_master *cfg,
		       unsigned int *ret_mhd_limit)
{
	struct conn_guard_limits l = {
		.max_conns = cfg->conn_limit,
		.header_ms = cfg->header_timeout_s * 1000u,
		.body_ms = cfg->body_timeout_s * 1000u,
	};
	unsigned int want = l.max_conns + l.max_conns / 4 + 16;
	unsigned int fit = fds_for_connections(want);
	int r;

	if (fit < want) {
		l.max_conns = fit - fit / 5;
		msg(MSG_WARN, "the descriptor limit (RLIMIT_NOFILE) leaves room "
			"for %u connections: capping at %u instead of %u",
			fit, l.max_conns, cfg->conn_limit);
	}
	r = conn_guard_new(&l, &s->guard);
	if (r < 0) {
		msg(MSG_ERR, "Failed to start the connection guard: %s",
			strerror(-r));
		return r;
	}
	*ret_mhd_limit = fit;
	return 0;
}

int http_server_start(struct master *m, struct http_server **ret)
{
	const struct conf_master *cfg = &m->cfg;
	struct MHD_OptionItem extra[5];
	struct sockaddr_storage ss = { 0 };
	/* ITC: MHD_quiesce_daemon() needs it with a thread pool. */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			     MHD_USE_TURBO | MHD_USE_ITC;
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	size_t ne = 0;
	bool v6 = false;
	unsigned int mhd_limit;
	int err, lfd = activated_socket(&v6);

	if (lfd < 0 && parse_listen(cfg->listen, &ss, &v6) < 0) {
		msg(MSG_ERR, "bad --listen '%s' (want ADDR:PORT "
			"or [ADDR]:PORT)", cfg->listen);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->m = m;
	s->quiesced_fd = -1;
	err = load_tls(s, cfg);
	if (err < 0)
		goto fail;
	err = start_guard(s, cfg, &mhd_limit);
	if (err < 0)
		goto fail;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (s->cert) {
		flags |= MHD_USE_TLS;
		extra[ne++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
						       0, s->cert };
		extra[ne++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY,
						       0, s->key };
	}
	if (cfg->http_threads > 1)
		extra[ne++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE,
						       cfg->http_threads, NULL };
	if (lfd >= 0)
		extra[ne++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET,
						       lfd, NULL };
	else
		extra[ne++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0,
						       (struct sockaddr *)&ss };
	extra[ne] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	/*
	 * Published before the daemon's threads exist: a GET /metrics they
	 * serve reads m->http, and their creation orders this store before
	 * it (stored after, a request in the first second raced with it).
	 */
	*ret = s;

	/* Its timeout (restarted by every byte) still bounds idle
	 * connections and replies a client does not read. */
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_NOTIFY_CONNECTION, conn_guard_notify, s->guard,
		MHD_OPTION_CONNECTION_LIMIT, mhd_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64u << 10),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_ARRAY, extra,
		MHD_OPTION_END);
	if (!s->d) {
		msg(MSG_ERR, "Failed to listen on '%s': %s",
			cfg->listen, errno ? strerror(errno) : "libmicrohttpd "
			"refused the configuration");
		err = -EADDRNOTAVAIL;
		goto fail;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	if (lfd >= 0)
		msg(MSG_INFO, "serving on the socket systemd "
			   "passed (port %u); the listen setting is not used",
			   s->port);
	return 0;
fail:
	*ret = NULL;
	http_server_stop(s);
	return err;
}

void http_server_drain(struct http_server *s, unsigned int timeout_ms)
{
	struct timespec pause = { .tv_nsec = 10 * 1000000L };
	unsigned int waited = 0, left;
	MHD_socket fd;

	if (!s || !s->d)
		return;
	/*
	 * The listening socket is ours now (systemd keeps its own copy), but
	 * MHD's threads may still touch it until MHD_stop_daemon(): closed in
	 * http_server_stop(), after it (closing it here raced their epoll_ctl).
	 */
	fd = MHD_quiesce_daemon(s->d);
	if (fd != MHD_INVALID_SOCKET)
		s->quiesced_fd = fd;
	while ((left = atomic_load(&s->inflight)) && waited < timeout_ms) {
		nanosleep(&pause, NULL);
		waited += 10;
	}
	if (left)
		msg(MSG_WARN, "%u request(s) still in progress "
			   "after %u ms, closing anyway", left, timeout_ms);
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->d)
		MHD_stop_daemon(s->d);
	if (s->quiesced_fd >= 0)
		close(s->quiesced_fd);
	conn_guard_free(s->guard);
	if (s->key) {
		explicit_bzero(s->key, strlen(s->key));
		free(s->key);
	}
	free(s->cert);
	free(s);
}

unsigned int http_server_port(const struct http_server *s)
{
	return s->port;
}

const char *http_header(const struct http_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *http_arg(const struct http_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

void http_suspend(struct http_req *rq)
{
	MHD_suspend_connection(rq->conn);
}

void http_resume(struct http_req *rq)
{
	MHD_resume_connection(rq->conn);
}

void http_server_metrics(struct http_server *s, FILE *f)
{
	struct conn_guard_stats st;

	if (!s || !s->guard)
		return;
	conn_guard_get_stats(s->guard, &st);
	fprintf(f, "# HELP famfsd_http_connections Open HTTP connections by "
		"state.\n# TYPE famfsd_http_connections gauge\n");
	for (int i = 0; i < CG__STATES; i++)
		fprintf(f, "famfsd_http_connections{state=\"%s\"} %u\n",
			conn_guard_state_name(i), st.in_state[i]);
	fprintf(f, "# HELP famfsd_http_connections_closed_total Connections "
		"the guard closed, by reason.\n"
		"# TYPE famfsd_http_connections_closed_total counter\n");
	for (int i = 0; i < CG__REASONS; i++)
		fprintf(f, "famfsd_http_connections_closed_total{reason=\"%s\"} %"
			PRIu64 "\n", conn_guard_reason_name(i), st.closed[i]);
}
