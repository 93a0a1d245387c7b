// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target: the master's HTTP side, whole. A real master runs in
 * this process (master_main() in a thread, every object of famfsd/common,
 * conf, http, master and master/api linked in) on a small pool formatted
 * with the library's mkfs and a token file with an admin, two tenants and
 * an agent; each input is a few HTTP requests (fuzz_http.h says how they
 * are laid out) sent over loopback TCP to its real libmicrohttpd server.
 * So every input goes through MHD's request parser, server.c's URI and
 * body collection, the router, the tokens, the handlers' path decoding,
 * JSON body checks and state changes, commits to the pool, and the
 * replies. The listening socket is the master's own, as configured; no
 * test hook in the server.
 *
 * Findings: crashes, sanitizer reports and leaks; and abort() for what
 * the API promises never to do: a 500 (every failure the master expects
 * has its own problem type), a JSON reply that does not parse, a reply
 * that never comes (apart from a long poll or a compaction wait, which a
 * record published by the harness or, at last, a restart answers), a
 * success shown to a token that may not see it, and a master that fences
 * itself (a 503 fenced, or a stop).
 *
 * State: requests change the pool, so inputs see what earlier ones left.
 * The master is stopped and started on a freshly formatted pool every
 * FUZZ_HTTP_RESET inputs (default 100; a start takes some 20 ms): memory
 * and the log stay bounded, and a finding needs at most that many inputs
 * before it. With
 * FUZZ_HTTP_RESET=1 every input gets a fresh master (slow; to reproduce a
 * crash input alone). FUZZ_HTTP_LOG names the file the master's own log
 * lines go to (default: the scratch directory, removed at exit);
 * FUZZ_HTTP_TRACE=1 prints a line per reply (status, request line).
 *
 * Not covered: TLS (the master runs without), SIGHUP reloads, agents'
 * side of the API (http/client.c), and libmicrohttpd and json-c
 * themselves are system libraries, not instrumented: they run on every
 * input, but only our code's coverage guides the mutator.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "pool.h"
#include "pooldev.h"
#include "roles.h"

#include "fuzz_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define POOL_SIZE	(64ull << 20)
#define POOL_LOG	(1ull << 20)
#define POOL_UNIT	(64ull << 10)
#define BODY_MAX	(1u << 20)	/* http/server.h's HTTP_BODY_MAX */
#define REPLY_MAX	(8u << 20)	/* kept of a connection's replies */
#define ABANDONED_MAX	64u		/* connections given up on, then a restart */

/* The running master. */
static struct {
	pthread_t thread;
	atomic_bool exited;
	bool running;
	int rc;
	unsigned int port;
	char *argv[32];
	int argc;
} fm;

static char scratch[4096];		/* $TMPDIR/famfsd-fuzz-http-XXXXXX */
static char pool_path[4200], tokens_path[4200], log_path[4200];
static FILE *master_log;
static unsigned long inputs, reset_every = 100, wakes, abandoned;
static unsigned long restarts, gave_up;
static bool trace;			/* FUZZ_HTTP_TRACE: a line per reply */
static char port_arg[32];

/* Says why on the real stderr (the master's lines go to master_log). */
__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, "fuzz_http: ", 11) < 0 ||
	    write(STDERR_FILENO, line, (size_t)n) < 0)
		_exit(3);
	abort();
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the master ---------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(text);

	if (fd < 0 || write(fd, text, n) != (ssize_t)n || close(fd) < 0)
		die("cannot write '%s': %s", path, strerror(errno));
}

/* mkfs, as famfsctl mkfs does it: a fresh pool each time. */
static void format_pool(void)
{
	struct famfs_mkfs_opts o = { .alloc_unit = POOL_UNIT,
				     .log_size = POOL_LOG };
	struct famfs_pooldev *dev = NULL;
	struct famfs_pool_info info;
	uint64_t min = 0;
	int r;

	unlink(pool_path);
	r = famfs_pooldev_create_file(pool_path, POOL_SIZE);
	if (!r)
		r = famfs_pooldev_open(pool_path, 0, FAMFS_DEV_WRITE, &dev);
	if (!r)
		r = famfs_pool_format(dev, famfs_cache_ops_get(FAMFS_COH_NONE),
				      &o, &info, &min);
	famfs_pooldev_close(dev);
	if (r < 0)
		die("cannot format '%s': %s", pool_path, strerror(-r));
}

/* A port nobody listens on now (the master binds it right after). */
static unsigned int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("cannot find a free port: %s", strerror(errno));
	close(fd);
	return ntohs(a.sin_port);
}

static void *master_thread(void *arg)
{
	(void)arg;
	fm.rc = master_main(fm.argc, fm.argv);
	atomic_store(&fm.exited, true);
	return NULL;
}

/*
 * A connect() that a signal interrupted (libFuzzer's timer ticks every
 * second) goes on by itself: wait for it.
 */
static bool connected(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int err = 0;

	while (poll(&p, 1, 10000) < 0)
		if (errno != EINTR)
			return false;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		errno = err ? err : errno;
		return false;
	}
	return true;
}

static int connect_master(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)fm.port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	/* Reset at close: no TIME_WAIT, so ports never run out. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 &&
	    !(errno == EINTR && connected(fd))) {
		close(fd);
		return -1;
	}
	return fd;
}

struct buf {
	char *p;
	size_t len, cap;
};

/* Room for n more bytes and a NUL. */
static void buf_reserve(struct buf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + n + 1 <= b->cap)
		return;
	while (cap < b->len + n + 1)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p)
		die("out of memory");
	b->cap = cap;
}

static void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3)))
static void buf_printf(struct buf *b, const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(line))
		die("header line too long");
	buf_add(b, line, (size_t)n);
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;		/* the server closed: read what it said */
		p += k;
		n -= (size_t)k;
	}
}

/*
 * Reads what the server sends until it closes, for up to ms; true at
 * the end of the stream (or a reset), false when time ran out.
 */
static bool read_to_eof(int fd, struct buf *b, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	char chunk[65536];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t t = now_ms();
		ssize_t n;
		int r;

		if (t >= end)
			return false;
		r = poll(&p, 1, (int)(end - t));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return false;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return true;
		if (b->len + (size_t)n <= REPLY_MAX)
			buf_add(b, chunk, (size_t)n);
	}
}

/* One request on its own connection, its status (0: none). */
static unsigned int simple_request(const char *method, const char *target,
				   const char *auth, const char *body,
				   struct buf *reply)
{
	struct buf rq = { 0 };
	unsigned int status = 0;
	int fd = connect_master();

	reply->len = 0;
	if (fd < 0)
		return 0;
	buf_printf(&rq, "%s %s HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n",
		   method, target);
	if (auth)
		buf_printf(&rq, "Authorization: Bearer %s\r\n", auth);
	if (body)
		buf_printf(&rq, "Content-Type: application/json\r\n"
			   "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	else
		buf_printf(&rq, "\r\n");
	send_all(fd, rq.p, rq.len);
	free(rq.p);
	if (read_to_eof(fd, reply, 10000) && reply->len > 12)
		sscanf(reply->p, "HTTP/1.%*c %u", &status);
	close(fd);
	return status;
}

static void master_start(void)
{
	struct buf reply = { 0 };
	sigset_t alrm, old;
	uint64_t end;
	int r;

	/* A restart's log holds its own lines only (a file; not /dev/null). */
	fflush(master_log);
	if (ftruncate(fileno(master_log), 0) < 0 && errno != EINVAL)
		die("cannot truncate '%s': %s", log_path, strerror(errno));
	format_pool();
	fm.port = free_port();
	snprintf(port_arg, sizeof(port_arg), "127.0.0.1:%u", fm.port);
	atomic_store(&fm.exited, false);
	abandoned = 0;
	/*
	 * libFuzzer's timer (SIGALRM) is for this thread: in the master's
	 * threads, which inherit this mask, it would only interrupt system
	 * calls a real master never sees interrupted.
	 */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old);
	r = pthread_create(&fm.thread, NULL, master_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		die("cannot start the master's thread");
	fm.running = true;
	restarts++;
	for (end = now_ms() + 30000; now_ms() < end;) {
		if (atomic_load(&fm.exited))
			die("the master did not start (exit %d; its log: %s)",
			    fm.rc, log_path);
		if (simple_request("GET", "/healthz", NULL, NULL, &reply) == 200) {
			free(reply.p);
			return;
		}
		usleep(2000);
	}
	die("the master did not answer /healthz within 30 s");
}

/* SIGTERM to the master's thread: its own orderly stop, then joined. */
static void master_stop(void)
{
	if (!fm.running)
		return;
	pthread_kill(fm.thread, SIGTERM);
	pthread_join(fm.thread, NULL);
	fm.running = false;
	if (fm.rc != 0)
		die("the master exited %d at a stop (its log: %s)", fm.rc,
		    log_path);
}

static void cleanup(void)
{
	char path[4200];

	master_stop();
	unlink(pool_path);
	unlink(tokens_path);
	snprintf(path, sizeof(path), "%s/master.log", scratch);
	unlink(path);
	rmdir(scratch);
	fprintf(stdout, "fuzz_http: %lu inputs, %lu master starts, %lu wake-up "
		"records, %lu connections given up on\n", inputs, restarts, wakes,
		gave_up);
}

static void set_args(void)
{
	static char *const args[] = {
		"master", "--pool", pool_path, "--listen", port_arg,
		"--tokens", tokens_path,
		/* Fake agents go stale fast, so they hold nothing back long. */
		"--agent-timeout", "1", "--reclaim-grace-ms", "0",
		/* The pool fuzzer covers the scrub; here it is only noise. */
		"--scrub-rate", "0",
		/* Compactions early and often. */
		"--compact-at", "10",
		/* What the harness gives up on goes soon. */
		"--idle-timeout", "5",
	};

	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++)
		fm.argv[fm.argc++] = args[i];
	fm.argv[fm.argc] = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *env = getenv("FUZZ_HTTP_RESET");
	sigset_t sigs;

	(void)argc;
	(void)argv;
	if (env && strtoul(env, NULL, 10) > 0)
		reset_every = strtoul(env, NULL, 10);
	trace = getenv("FUZZ_HTTP_TRACE") != NULL;
	/*
	 * SIGTERM and SIGHUP are the master's: blocked here before any
	 * thread starts, so only its sigtimedwait() takes them.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	env = getenv("TMPDIR");
	snprintf(scratch, sizeof(scratch), "%s/famfsd-fuzz-http-XXXXXX",
		 env && *env ? env : "/tmp");
	if (!mkdtemp(scratch))
		die("mkdtemp '%s': %s", scratch, strerror(errno));
	snprintf(pool_path, sizeof(pool_path), "%s/pool", scratch);
	snprintf(tokens_path, sizeof(tokens_path), "%s/tokens", scratch);
	write_file(tokens_path,
		   "# the fuzz target's master (tests/fuzz/fuzz_http.h)\n"
		   FZH_TOK_ADMIN " admin\n"
		   FZH_TOK_T1 " tenant " FZH_TENANT1 "\n"
		   FZH_TOK_T2 " tenant " FZH_TENANT2 "\n"
		   FZH_TOK_AGENT " agent\n");
	env = getenv("FUZZ_HTTP_LOG");
	snprintf(log_path, sizeof(log_path), "%s",
		 env && *env ? env : "");
	if (!log_path[0])
		snprintf(log_path, sizeof(log_path), "%s/master.log", scratch);
	master_log = fopen(log_path, "a");
	if (!master_log)
		die("cannot open '%s': %s", log_path, strerror(errno));
	setvbuf(master_log, NULL, _IOLBF, 0);
	/*
	 * The master's msg() lines (one per refused request, some) go to
	 * the log file: sanitizer reports and libFuzzer's own output keep
	 * file descriptor 2, which this does not touch.
	 */
	stderr = master_log;
	set_args();
	master_start();
	atexit(cleanup);
	return 0;
}

/* ---- one input ----------------------------------------------------------- */

struct request {
	const uint8_t *ctl;
	const char *line, *body;	/* not NUL terminated */
	size_t line_len, body_len;
};

struct conn {
	struct buf out;			/* what is sent */
	bool heads[FZH_MAX_REQ];	/* which requests are HEAD */
	size_t starts[FZH_MAX_REQ];	/* where each begins in out */
	unsigned char auths[FZH_MAX_REQ];	/* FZA_* */
	size_t n_req;
	bool raw;			/* a FZR_BYTES request: no reply check */
	bool half_close;		/* shut the sending side after the bytes */
	bool parks;			/* a long poll or a compaction wait */
	bool concurrent;		/* sent before earlier replies are read */
	bool reload;			/* SIGHUP to the master once sent */
	int fd;
};

static size_t split(const uint8_t *data, size_t size, struct request *rqs)
{
	const char *p = (const char *)data, *end = p + size;
	size_t n = 0, sl = strlen(FZH_SEP);

	while (n < FZH_MAX_REQ && p < end) {
		const char *next = memmem(p, (size_t)(end - p), FZH_SEP, sl);
		const char *stop = next ? next : end, *nl;
		struct request *r = &rqs[n];

		if ((size_t)(stop - p) >= FZH_CTL) {
			r->ctl = (const uint8_t *)p;
			r->line = p + FZH_CTL;
			nl = memchr(r->line, '\n', (size_t)(stop - r->line));
			r->line_len = (size_t)((nl ? nl : stop) - r->line);
			r->body = nl ? nl + 1 : stop;
			r->body_len = (size_t)(stop - r->body);
			n++;
		}
		if (!next)
			break;
		p = next + sl;
	}
	return n;
}

/* The request target: template prefix, line up to '?', suffix, query. */
static void add_target(struct buf *b, const struct request *r)
{
	const struct fzh_route *rt = &fzh_routes[r->ctl[2] % FZH_N_ROUTES];
	const char *q = memchr(r->line, '?', r->line_len);
	size_t pl = q ? (size_t)(q - r->line) : r->line_len;

	buf_add(b, rt->prefix, strlen(rt->prefix));
	buf_add(b, r->line, pl);
	buf_add(b, rt->suffix, strlen(rt->suffix));
	buf_add(b, r->line + pl, r->line_len - pl);
}

static void add_spaces(struct buf *b, size_t n)
{
	static char spaces[4096];

	if (!spaces[0])
		memset(spaces, ' ', sizeof(spaces));
	buf_reserve(b, n);
	for (size_t k; n; n -= k) {
		k = n < sizeof(spaces) ? n : sizeof(spaces);
		buf_add(b, spaces, k);
	}
}

static void add_chunked(struct buf *b, const char *body, size_t len)
{
	size_t half = len / 2;

	if (half) {
		buf_printf(b, "%zx\r\n", half);
		buf_add(b, body, half);
		buf_printf(b, "\r\n");
	}
	if (len - half) {
		buf_printf(b, "%zx;ext=1\r\n", len - half);
		buf_add(b, body + half, len - half);
		buf_printf(b, "\r\n");
	}
	buf_printf(b, "0\r\n\r\n");
}

/* Appends one request as the harness frames it (fuzz_http.h). */
static void add_request(struct conn *c, const struct request *r, bool last)
{
	unsigned int f = r->ctl[3];
	const char *method = fzh_methods[r->ctl[0] % FZH_N_METHODS];
	const char *auth = fzh_auth[(r->ctl[1] & ~FZH_RELOAD) % FZH_N_AUTH];
	const char *ctype = fzh_ctypes[(f & FZF_CTYPE_MASK) >> 1];
	unsigned int size = FZH_SIZE(r->ctl[0]);
	size_t start = c->out.len, pad = 0;
	struct buf *b = &c->out;

	if (r->ctl[2] % FZH_N_ROUTES == FZR_BYTES) {
		buf_add(b, r->line, r->line_len);
		buf_add(b, "\n", 1);
		buf_add(b, r->body, r->body_len);
		c->raw = c->half_close = true;
		goto done;
	}
	c->heads[c->n_req] = strcmp(method, "HEAD") == 0;
	c->starts[c->n_req] = start;
	c->auths[c->n_req] = (unsigned char)((r->ctl[1] & ~FZH_RELOAD) %
					     FZH_N_AUTH);
	buf_printf(b, "%s ", method);
	add_target(b, r);
	buf_printf(b, " HTTP/1.%c\r\nHost: fuzz\r\n", f & FZF_HTTP10 ? '0' : '1');
	if (auth)
		buf_printf(b, "Authorization: %s\r\n", auth);
	if (size == FZS_AT_LIMIT || size == FZS_OVER_LIMIT)
		pad = BODY_MAX + (size == FZS_OVER_LIMIT);
	pad = pad > r->body_len ? pad - r->body_len : 0;
	if (ctype && (r->body_len || pad))
		buf_printf(b, "Content-Type: %s\r\n", ctype);
	if (f & FZF_EXPECT)
		buf_printf(b, "Expect: 100-continue\r\n");
	if (last)
		buf_printf(b, "Connection: close\r\n");
	else if (f & FZF_HTTP10)
		buf_printf(b, "Connection: keep-alive\r\n");
	if (size == FZS_ABSURD) {
		/* An absurd announced length: refused before the body. */
		buf_printf(b, "Content-Length: %u\r\n\r\n", 17u << 20);
		buf_add(b, r->body, r->body_len);
		c->half_close = true;
	} else if (f & FZF_CHUNKED && !(f & FZF_HTTP10)) {
		struct buf body = { 0 };

		buf_add(&body, r->body, r->body_len);
		add_spaces(&body, pad);
		buf_printf(b, "Transfer-Encoding: chunked\r\n\r\n");
		add_chunked(b, body.p, body.len);
		free(body.p);
	} else {
		if (r->body_len + pad)
			buf_printf(b, "Content-Length: %zu\r\n", r->body_len + pad);
		buf_printf(b, "\r\n");
		buf_add(b, r->body, r->body_len);
		add_spaces(b, pad);
	}
done:
	c->n_req++;
	if (memmem(b->p + start, b->len - start, "/v1/log", 7) ||
	    memmem(b->p + start, b->len - start, "/v1/pool/compact", 16))
		c->parks = true;
}

/* The value of header name in the block [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name)
{
	size_t nl = strlen(name);

	for (const char *l = p; l && l < end;) {
		const char *eol = memmem(l, (size_t)(end - l), "\r\n", 2);

		if (!eol)
			return NULL;
		l = eol + 2;
		if ((size_t)(end - l) > nl + 1 && strncasecmp(l, name, nl) == 0 &&
		    l[nl] == ':')
			return l + nl + 1;
	}
	return NULL;
}

__attribute__((format(printf, 2, 3), noreturn))
static void die_on(const struct conn *c, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	die("%s\nto: '%.*s'", line, (int)(c->out.len < 600 ? c->out.len : 600),
	    c->out.p);
}

static struct json_object *parse_json(const char *body, size_t len,
				      const struct conn *c)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		die("out of memory");
	/* RFC 8259: JSON between systems is UTF-8; clients decode it so. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, body, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len)
		die_on(c, "a JSON reply does not parse (%s): '%.*s'",
		       json_tokener_error_desc(json_tokener_get_error(tok)),
		       (int)(len < 400 ? len : 400), body);
	json_tokener_free(tok);
	return o;
}

/* The identity a token of fuzz_http.h stands for: the master's rules. */
enum who { WHO_NOBODY, WHO_ADMIN, WHO_T1, WHO_T2, WHO_AGENT };

static enum who who_of(unsigned int auth)
{
	switch (auth) {
	case FZA_ADMIN:
	case FZA_LOWER:		/* the scheme is case-insensitive */
	case FZA_TRAILING:	/* spaces around the token are dropped */
	case FZA_TWO_SPACES:
		return WHO_ADMIN;
	case FZA_T1:
		return WHO_T1;
	case FZA_T2:
		return WHO_T2;
	case FZA_AGENT:
		return WHO_AGENT;
	}
	return WHO_NOBODY;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
	size_t pl = strlen(prefix);

	return n >= pl && memcmp(s, prefix, pl) == 0;
}

static bool is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

/* Every value of key in o, at any depth, passes ok(value, arg). */
static const char *bad_value(struct json_object *o, const char *key,
			     bool (*ok)(const char *v, const char *arg),
			     const char *arg)
{
	const char *bad = NULL;

	if (json_object_is_type(o, json_type_array)) {
		for (size_t k = 0; !bad && k < json_object_array_length(o); k++)
			bad = bad_value(json_object_array_get_idx(o, k), key, ok,
					arg);
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v) {
			if (!bad && strcmp(k, key) == 0 &&
			    json_object_is_type(v, json_type_string) &&
			    !ok(json_object_get_string(v), arg))
				bad = json_object_get_string(v);
			if (!bad)
				bad = bad_value(v, key, ok, arg);
		}
	}
	return bad;
}

/* "/t1" or below it. */
static bool in_tree(const char *v, const char *tenant)
{
	size_t tl = strlen(tenant);

	return v[0] == '/' && strncmp(v + 1, tenant, tl) == 0 &&
	       (v[tl + 1] == '\0' || v[tl + 1] == '/');
}

static bool same(const char *v, const char *tenant)
{
	return strcmp(v, tenant) == 0;
}

/*
 * A tenant's pool map or units: only its own tenant named ("tenants" of
 * the map, "tenant" of an item and of its file) and only paths in its
 * tree; NULL, or what leaked.
 */
static const char *map_leak(struct json_object *o, const char *tenant)
{
	struct json_object *names, *name;
	const char *bad = bad_value(o, "tenant", same, tenant);

	if (!bad)
		bad = bad_value(o, "path", in_tree, tenant);
	if (bad || !json_object_object_get_ex(o, "tenants", &names))
		return bad;
	if (!json_object_is_type(names, json_type_array) ||
	    json_object_array_length(names) != 1)
		return "a tenant list that is not its own";
	name = json_object_array_get_idx(names, 0);
	if (!json_object_is_type(name, json_type_string) ||
	    !same(json_object_get_string(name), tenant))
		return "another tenant's name";
	return NULL;
}

/*
 * What a success may show to whom (docs/master.md, "Tokens"): without a
 * valid token only /healthz; an agent token heartbeats and reads the
 * feed; a tenant token sees paths at or below its own top directory and
 * its own tenant only (and sets no quota; a batch's results are paths
 * too), and nothing of the pool, agents or devices but its view of the
 * pool map (its tenant alone in "tenants"). Any token may ask who it is
 * (a tenant's answer names its own tenant).
 */
static void check_scope(const struct conn *c, size_t i, unsigned int status,
			const char *body, size_t len)
{
	const char *rl = c->out.p + c->starts[i];
	const char *target = strchr(rl, ' ') + 1;
	size_t n = strcspn(target, " ?");
	enum who who = who_of(c->auths[i]);
	const char *tenant = who == WHO_T1 ? FZH_TENANT1 : FZH_TENANT2;
	struct json_object *o;
	const char *bad;

	if (status < 200 || status > 299 || who == WHO_ADMIN ||
	    is(target, n, "/healthz"))
		return;
	/* Where the server may see another target than this one. */
	for (const char *t = target; *t != ' '; t++)
		if (*t < 0x21 || *t > 0x7e)
			return;
	if (who == WHO_NOBODY)
		die_on(c, "%u without a valid token", status);
	if (who == WHO_AGENT) {
		if (!is(target, n, "/v1/log") && !is(target, n, "/v1/whoami") &&
		    !(starts_with(target, n, "/v1/agents/") &&
		      n >= 10 && memcmp(target + n - 10, "/heartbeat", 10) == 0))
			die_on(c, "%u to an agent token", status);
		return;
	}
	if (!starts_with(target, n, "/v1/files") &&
	    !starts_with(target, n, "/v1/dirs") && !is(target, n, "/v1/batch") &&
	    !((starts_with(target, n, "/v1/tenants") ||
	       is(target, n, "/v1/pool/map") ||
	       starts_with(target, n, "/v1/pool/units/") ||
	       is(target, n, "/v1/whoami")) &&
	      (starts_with(rl, 4, "GET ") || starts_with(rl, 5, "HEAD "))))
		die_on(c, "%u to a tenant token", status);
	if (!len || c->heads[i])
		return;
	o = parse_json(body, len, c);
	if (starts_with(target, n, "/v1/tenants"))
		bad = bad_value(o, "tenant", same, tenant);
	else if (starts_with(target, n, "/v1/pool/") ||
		 is(target, n, "/v1/whoami"))
		bad = map_leak(o, tenant);
	else
		bad = bad_value(o, "path", in_tree, tenant);
	if (bad)
		die_on(c, "tenant %s was shown '%s'", tenant, bad);
	json_object_put(o);
}

/*
 * The replies of one connection, in order (the server may close before
 * answering them all). After a FZR_BYTES request only the status of the
 * first is looked at: which reply answers a HEAD is not known.
 */
static void check_replies(const struct conn *c, const struct buf *in)
{
	const char *p = in->p, *end = p ? p + in->len : NULL;
	size_t i = 0;

	while (p && p < end) {
		const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		const char *cl, *ct, *body;
		unsigned int status;
		size_t len = 0;

		if (!hend)
			return;		/* cut off at REPLY_MAX */
		if (sscanf(p, "HTTP/1.%*c %u", &status) != 1)
			die("a reply without a status line: '%.80s'", p);
		if (status == 500)
			die_on(c, "500 (every expected failure has its own "
			       "problem type): '%.*s'", (int)(end - p < 600 ?
			       end - p : 600), p);
		body = hend + 4;
		if (c->raw) {
			if (trace)
				printf("fuzz_http: %u (raw bytes)\n", status);
			return;
		}
		if (status == 100) {
			p = body;
			continue;
		}
		cl = header(p, hend + 2, "Content-Length");
		ct = header(p, hend + 2, "Content-Type");
		if (cl)
			len = strtoul(cl, NULL, 10);
		if (i < c->n_req && c->heads[i])
			len = 0;
		if (len > (size_t)(end - body))
			return;
		if (trace && i < c->n_req) {
			const char *rl = c->out.p + c->starts[i];

			printf("fuzz_http: %u %.*s: %.*s\n", status,
			       (int)strcspn(rl, "\r\n"), rl,
			       (int)(len < 300 ? len : 300), body);
		}
		while (ct && *ct == ' ')
			ct++;
		/*
		 * Nothing here changes the pool underneath or takes its
		 * lease; a compaction waiter of a master that stops is told
		 * so with this type too, and that is no fence.
		 */
		if (status == 503 && memmem(body, len, "/problems/fenced", 16) &&
		    !memmem(body, len, "the master is stopping", 22))
			die_on(c, "the master is fenced: '%.*s'",
			       (int)(len < 400 ? len : 400), body);
		if (len && ct && (strncmp(ct, "application/json", 16) == 0 ||
				  strncmp(ct, "application/problem+json", 24) == 0))
			json_object_put(parse_json(body, len, c));
		if (i < c->n_req)
			check_scope(c, i, status, body, len);
		p = body + len;
		i++;
	}
}

/* A record published, so a long poll parked on the feed answers. */
static void wake(void)
{
	struct buf reply = { 0 };

	if (wakes++ % 2)
		simple_request("DELETE", "/v1/dirs/fuzz-wake-5e1f", FZH_TOK_ADMIN,
			       NULL, &reply);
	else
		simple_request("PUT", "/v1/dirs/fuzz-wake-5e1f", FZH_TOK_ADMIN,
			       "{}", &reply);
	free(reply.p);
}

/*
 * Why the master is not there. Its signal loop takes a SIGTERM sent to
 * this process from outside (everything here blocks it), and stops as
 * for a fence, but exits 0: that is no finding of this input.
 */
__attribute__((noreturn))
static void master_gone(const char *what)
{
	uint64_t end = now_ms() + 10000;
	int err = errno;

	/* A stop closes the listening socket first: wait for its end. */
	while (!atomic_load(&fm.exited) && now_ms() < end)
		usleep(10000);
	if (!atomic_load(&fm.exited))
		die("%s: %s", what, strerror(err));
	if (fm.rc == 0)
		die("%s: the master stopped on a SIGTERM from outside this "
		    "process, not by itself (its log: %s)", what, log_path);
	die("%s: the master stopped by itself, exit %d (fenced? its log: "
	    "%s)", what, fm.rc, log_path);
}

/* Connects and sends a connection's requests. */
static void conn_send(struct conn *c)
{
	c->fd = connect_master();
	if (c->fd < 0)
		master_gone("cannot connect to the master");
	send_all(c->fd, c->out.p, c->out.len);
	if (c->half_close)
		shutdown(c->fd, SHUT_WR);
}

/* Reads a connection's replies to the close, checks them, frees it. */
static void conn_finish(struct conn *c)
{
	struct buf in = { 0 };
	bool done;

	/*
	 * A parked request answers only once woken, so wake it soon: a
	 * record too many costs a millisecond.
	 */
	done = read_to_eof(c->fd, &in, c->parks ? 2 : c->raw ? 50 : 100);
	for (int round = 1; !done && round < 100; round++) {
		/*
		 * Bytes as they came may be a request still unfinished, and
		 * the server waits for the rest (up to --idle-timeout) even
		 * after the end of the stream: nothing more to see here.
		 */
		if (c->raw)
			break;
		if (c->parks)
			wake();
		if (round == 50)
			shutdown(c->fd, SHUT_WR);
		done = read_to_eof(c->fd, &in, 100);
	}
	if (!done && !c->parks && !c->raw)
		die("no reply within 10 s to: '%.*s'", (int)(c->out.len < 600 ?
		    c->out.len : 600), c->out.p);
	/*
	 * The server holds what we gave up on until its timeouts; so many
	 * that they crowd the connection limits, and a restart clears them
	 * (a stop also answers the parked ones).
	 */
	gave_up += !done;
	if (!done && ++abandoned >= ABANDONED_MAX) {
		master_stop();
		master_start();
	}
	close(c->fd);
	check_replies(c, &in);
	free(in.p);
	free(c->out.p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct request rqs[FZH_MAX_REQ];
	struct conn conns[FZH_MAX_REQ];
	size_t n = split(data, size, rqs), nc = 0, done = 0;

	memset(conns, 0, sizeof(conns));
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n || !(rqs[i + 1].ctl[3] & FZF_SAME_CONN);
		struct conn *c = &conns[nc];

		if (!c->n_req) {
			c->concurrent = rqs[i].ctl[0] & FZH_CONCURRENT;
			c->reload = rqs[i].ctl[1] & FZH_RELOAD;
		}
		add_request(c, &rqs[i], last);
		if (!last)
			continue;
		/* In flight together with those before it, or after them. */
		while (!c->concurrent && done < nc)
			conn_finish(&conns[done++]);
		conn_send(c);
		/* The same token file again, swapped in under lookups. */
		if (c->reload && fm.running)
			pthread_kill(fm.thread, SIGHUP);
		nc++;
	}
	while (done < nc)
		conn_finish(&conns[done++]);
	/* Give a fence this input caused the moment to show. */
	if (atomic_load(&fm.exited))
		master_gone("the master stopped");
	if (++inputs % reset_every == 0) {
		master_stop();
		master_start();
	}
	return 0;
}
