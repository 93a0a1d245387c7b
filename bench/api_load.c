// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * api-load: an exact-count HTTP/1.1 load client for the master's API.
 * Sends N requests over C keep-alive connections (one request in flight
 * per connection, epoll, one thread), each to a unique path when the path
 * contains "%n", and prints the rate and the p50/p99/max latency of the
 * replies. wrk cannot stop after an exact count and still time the run,
 * hence this small client.
 *
 *   api-load --addr 127.0.0.1:7470 --requests 100000 --connections 8 \
 *            --method PUT --path '/v1/files/bench/f%n' --body '{"size":4096}' \
 *            --token TOKEN --expect 201
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *addr, *method, *path, *body, *token, *label;
	long requests, connections;
	int expect;
};

struct conn {
	int fd;
	char req[8192];
	size_t req_len, req_sent;
	char buf[65536];
	size_t buf_len;
	uint64_t start_ns;
	bool busy;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int connect_to(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(addr, ':');
	int fd, one = 1;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Builds request number n into c->req ("%n" in the path becomes n). */
static void build(struct conn *c, const struct opts *o, long n)
{
	char path[4096];
	const char *p = strstr(o->path, "%n");
	size_t bl = o->body ? strlen(o->body) : 0;

	if (p)
		snprintf(path, sizeof(path), "%.*s%ld%s", (int)(p - o->path),
			 o->path, n, p + 2);
	else
		snprintf(path, sizeof(path), "%s", o->path);
	c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
		"%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
		"%sContent-Length: %zu\r\n\r\n%s", o->method, path, o->addr,
		o->token ? "Authorization: Bearer " : "", o->token ? o->token : "",
		o->token ? "\r\n" : "",
		bl ? "Content-Type: application/json\r\n" : "", bl,
		o->body ? o->body : "");
	c->req_sent = 0;
}

/* A whole response in c->buf: its size, 0 if incomplete, -1 if unusable. */
static long response_size(const struct conn *c, int *status)
{
	const char *end = memmem(c->buf, c->buf_len, "\r\n\r\n", 4), *h;
	size_t hdr, clen = 0;

	if (!end)
		return 0;
	hdr = (size_t)(end - c->buf) + 4;
	if (sscanf(c->buf, "HTTP/1.%*d %d", status) != 1)
		return -1;
	for (h = c->buf; h && h < end; h = memchr(h, '\n', (size_t)(end - h))) {
		h += *h == '\n';
		if (!strncasecmp(h, "Content-Length:", 15))
			clen = strtoul(h + 15, NULL, 10);
		if (!strncasecmp(h, "Transfer-Encoding:", 18))
			return -1;	/* the API never chunks its replies */
	}
	return c->buf_len >= hdr + clen ? (long)(hdr + clen) : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: api-load --addr HOST:PORT [--requests N] "
		"[--connections C] [--method M] [--path P(%%n = request number)] "
		"[--body JSON] [--token T] [--expect STATUS] [--label NAME]\n");
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "requests", required_argument, NULL, 'n' },
		{ "connections", required_argument, NULL, 'c' },
		{ "method", required_argument, NULL, 'm' },
		{ "path", required_argument, NULL, 'p' },
		{ "body", required_argument, NULL, 'b' },
		{ "token", required_argument, NULL, 't' },
		{ "expect", required_argument, NULL, 'e' },
		{ "label", required_argument, NULL, 'l' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ .method = "GET", .path = "/healthz", .requests = 100000,
			    .connections = 8, .expect = 200, .label = "requests" };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': o->addr = optarg; break;
		case 'n': o->requests = atol(optarg); break;
		case 'c': o->connections = atol(optarg); break;
		case 'm': o->method = optarg; break;
		case 'p': o->path = optarg; break;
		case 'b': o->body = optarg; break;
		case 't': o->token = optarg; break;
		case 'e': o->expect = atoi(optarg); break;
		case 'l': o->label = optarg; break;
		default: return -1;
		}
	}
	if (!o->addr || o->requests < 1 || o->connections < 1 ||
	    o->connections > 1024)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[64];
	long sent = 0, done = 0, errors = 0;
	uint64_t *lat, t0, t1;
	struct conn *conns;
	struct opts o;
	int ep, first_bad = 0;

	if (parse(argc, argv, &o) < 0)
		return usage();
	if (o.connections > o.requests)
		o.connections = o.requests;
	lat = calloc((size_t)o.requests, sizeof(*lat));
	conns = calloc((size_t)o.connections, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!lat || !conns || ep < 0)
		return 1;
	for (long i = 0; i < o.connections; i++) {
		conns[i].fd = connect_to(o.addr);
		if (conns[i].fd < 0) {
			fprintf(stderr, "api-load: cannot connect to %s: %s\n", o.addr,
				strerror(-conns[i].fd));
			return 1;
		}
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &conns[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
	}
	t0 = now_ns();
	for (long i = 0; i < o.connections; i++) {
		build(&conns[i], &o, sent++);
		conns[i].start_ns = now_ns();
		conns[i].busy = true;
		if (write(conns[i].fd, conns[i].req, conns[i].req_len) !=
		    (ssize_t)conns[i].req_len)
			return 1;	/* small requests: a fresh socket takes them whole */
	}
	while (done < o.requests) {
		int n = epoll_wait(ep, evs, 64, 10000);

		if (n <= 0) {
			fprintf(stderr, "api-load: no reply for 10 s\n");
			return 1;
		}
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			ssize_t r = read(c->fd, c->buf + c->buf_len,
					 sizeof(c->buf) - c->buf_len - 1);
			int status = 0;
			long size;

			if (r <= 0) {
				fprintf(stderr, "api-load: connection closed by the "
					"server after %ld replies\n", done);
				return 1;
			}
			c->buf_len += (size_t)r;
			c->buf[c->buf_len] = '\0';
			size = response_size(c, &status);
			if (size < 0)
				return 1;
			if (!size)
				continue;
			lat[done++] = now_ns() - c->start_ns;
			if (status != o.expect && !errors++)
				first_bad = status;
			memmove(c->buf, c->buf + size, c->buf_len - (size_t)size);
			c->buf_len -= (size_t)size;
			c->busy = false;
			if (sent < o.requests) {
				build(c, &o, sent++);
				c->start_ns = now_ns();
				c->busy = true;
				if (write(c->fd, c->req, c->req_len) != (ssize_t)c->req_len)
					return 1;
			}
		}
	}
	t1 = now_ns();
	qsort(lat, (size_t)o.requests, sizeof(*lat), cmp_u64);
	printf("RESULT %s=%ld seconds=%.3f rate=%.0f p50_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f errors=%ld\n", o.label, o.requests,
	       (double)(t1 - t0) / 1e9, (double)o.requests * 1e9 / (double)(t1 - t0),
	       (double)lat[o.requests / 2] / 1e6,
	       (double)lat[o.requests * 99 / 100] / 1e6,
	       (double)lat[o.requests - 1] / 1e6, errors);
	if (errors)
		fprintf(stderr, "api-load: %ld replies were not %d (first: %d)\n",
			errors, o.expect, first_bad);
	for (long i = 0; i < o.connections; i++)
		close(conns[i].fd);
	free(conns);
	free(lat);
	return errors ? 1 : 0;
}
