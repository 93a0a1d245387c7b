// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * api-load: an HTTP/1.1 load client for the master's API. Sends requests
 * over C keep-alive connections (one request in flight per connection,
 * epoll, one thread), each to a unique path when the path contains "%n",
 * and prints the rate and the p50/p99/max latency of the replies. wrk
 * cannot stop after an exact count and still time the run, hence this
 * small client.
 *
 *   api-load --addr 127.0.0.1:7470 --requests 100000 --connections 8 \
 *            --method PUT --path '/v1/files/bench/f%n' --body '{"size":4096}' \
 *            --token TOKEN --expect 201
 *
 * --cycle makes request n a pair on one connection: PUT the path with the
 * body (201 expected), then DELETE it (200 expected; not sent when the PUT
 * failed); the count and the rate are then of cycles whose two halves
 * both succeeded, the errors of replies other than expected. --seconds S runs for S seconds instead of an
 * exact count (a cycle begun is finished, so no file is left behind).
 * The RESULT line also gives the 5xx count and when the first came
 * (first5xx_s, seconds into the run; -1: none).
 * --samples FILE writes one line per reply: its start on CLOCK_MONOTONIC
 * (ns), its latency (ns) and its status, so a caller can take the
 * latency of the requests that overlapped some event.
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
	const char *addr, *method, *path, *body, *token, *label, *samples;
	long requests, connections;
	double seconds;			/* > 0: run this long, not a count */
	int expect;
	bool cycle;
};

struct conn {
	int fd;
	char req[8192];
	size_t req_len;
	char buf[65536];
	size_t buf_len;
	uint64_t start_ns;
	long n;				/* request (or cycle) number */
	bool deleting;			/* --cycle: the DELETE half is in flight */
	bool busy;
};

struct sample {
	uint64_t start_ns, lat_ns;
	int status;
};

/* What the run saw: every reply's sample, and counts. */
struct tally {
	struct sample *s;
	size_t n, cap;
	long unexpected, http5xx, units;	/* units: requests or cycles */
	uint64_t first5xx_ns;		/* when the first 5xx came, 0: none */
	int first_bad;
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

/*
 * Builds request number n into c->req ("%n" in the path becomes n): the
 * configured method and body, or for the second half of a cycle a DELETE
 * without a body.
 */
static void build(struct conn *c, const struct opts *o, long n, bool deleting)
{
	const char *method = deleting ? "DELETE" : o->method;
	const char *body = deleting ? NULL : o->body;
	const char *p = strstr(o->path, "%n");
	size_t bl = body ? strlen(body) : 0;
	char path[4096];

	if (p)
		snprintf(path, sizeof(path), "%.*s%ld%s", (int)(p - o->path),
			 o->path, n, p + 2);
	else
		snprintf(path, sizeof(path), "%s", o->path);
	c->req_len = (size_t)snprintf(c->req, sizeof(c->req),
		"%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%s"
		"%sContent-Length: %zu\r\n\r\n%s", method, path, o->addr,
		o->token ? "Authorization: Bearer " : "", o->token ? o->token : "",
		o->token ? "\r\n" : "",
		bl ? "Content-Type: application/json\r\n" : "", bl,
		body ? body : "");
	c->n = n;
	c->deleting = deleting;
}

/* Sends c's request; small requests: a socket takes them whole. */
static int send_req(struct conn *c)
{
	c->start_ns = now_ns();
	c->busy = true;
	return write(c->fd, c->req, c->req_len) == (ssize_t)c->req_len ? 0 : -EIO;
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
		"[--seconds S] [--connections C] [--method M] "
		"[--path P(%%n = request number)] [--body JSON] [--token T] "
		"[--expect STATUS] [--cycle] [--label NAME] [--samples FILE]\n");
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "requests", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "connections", required_argument, NULL, 'c' },
		{ "method", required_argument, NULL, 'm' },
		{ "path", required_argument, NULL, 'p' },
		{ "body", required_argument, NULL, 'b' },
		{ "token", required_argument, NULL, 't' },
		{ "expect", required_argument, NULL, 'e' },
		{ "cycle", no_argument, NULL, 'y' },
		{ "label", required_argument, NULL, 'l' },
		{ "samples", required_argument, NULL, 'o' },
		{ 0 }
	};
	int c;

	*o = (struct opts){ .method = "GET", .path = "/healthz", .requests = 100000,
			    .connections = 8, .expect = 200, .label = "requests" };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': o->addr = optarg; break;
		case 'n': o->requests = atol(optarg); break;
		case 's': o->seconds = atof(optarg); break;
		case 'c': o->connections = atol(optarg); break;
		case 'm': o->method = optarg; break;
		case 'p': o->path = optarg; break;
		case 'b': o->body = optarg; break;
		case 't': o->token = optarg; break;
		case 'e': o->expect = atoi(optarg); break;
		case 'y': o->cycle = true; break;
		case 'l': o->label = optarg; break;
		case 'o': o->samples = optarg; break;
		default: return -1;
		}
	}
	if (!o->addr || o->requests < 1 || o->connections < 1 ||
	    o->connections > 1024 || o->seconds < 0)
		return -1;
	if (o->seconds > 0)
		o->requests = 0;	/* no count: the clock ends the run */
	return 0;
}

static int tally_add(struct tally *t, uint64_t start_ns, uint64_t lat_ns,
		     int status)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 65536;
		struct sample *s = realloc(t->s, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		t->s = s;
		t->cap = cap;
	}
	t->s[t->n++] = (struct sample){ start_ns, lat_ns, status };
	if (status >= 500 && !t->http5xx++)
		t->first5xx_ns = start_ns + lat_ns;
	return 0;
}

/*
 * One whole reply on c: counts it, then sends what comes next on c (the
 * DELETE of a cycle, or the next request) unless the run is over.
 * *next is the next request number. Returns -errno on a failed send.
 */
static int on_reply(struct conn *c, const struct opts *o, struct tally *t,
		    int status, long *next, uint64_t end_ns)
{
	int want = !o->cycle ? o->expect : c->deleting ? 200 : 201;
	uint64_t now = now_ns();

	if (tally_add(t, c->start_ns, now - c->start_ns, status) < 0)
		return -ENOMEM;
	c->busy = false;
	if (status != want && !t->unexpected++)
		t->first_bad = status;
	/* A cycle begun is finished: a created file is deleted again. */
	if (o->cycle && !c->deleting && status == want) {
		build(c, o, c->n, true);
		return send_req(c);
	}
	/* Cycles count when both halves got what they expect. */
	t->units += !o->cycle || status == want;
	if (end_ns ? now >= end_ns : *next >= o->requests)
		return 0;
	build(c, o, (*next)++, false);
	return send_req(c);
}

/* Reads what arrived on c and handles each whole reply in it. */
static int on_readable(struct conn *c, const struct opts *o, struct tally *t,
		       long *next, uint64_t end_ns)
{
	ssize_t r = read(c->fd, c->buf + c->buf_len, sizeof(c->buf) - c->buf_len - 1);
	int status = 0, err;
	long size;

	if (r <= 0) {
		fprintf(stderr, "api-load: connection closed by the server after "
			"%zu replies\n", t->n);
		return -EPIPE;
	}
	c->buf_len += (size_t)r;
	c->buf[c->buf_len] = '\0';
	size = response_size(c, &status);
	if (size < 0) {
		fprintf(stderr, "api-load: cannot parse a reply\n");
		return -EPROTO;
	}
	if (!size)
		return 0;
	memmove(c->buf, c->buf + size, c->buf_len - (size_t)size);
	c->buf_len -= (size_t)size;
	err = on_reply(c, o, t, status, next, end_ns);
	if (err < 0)
		fprintf(stderr, "api-load: %s\n", strerror(-err));
	return err;
}

static long busy_conns(const struct conn *conns, long n)
{
	long busy = 0;

	for (long i = 0; i < n; i++)
		busy += conns[i].busy;
	return busy;
}

/* Runs the load to its end; the samples and counts go into t. */
static int run(struct conn *conns, const struct opts *o, int ep, struct tally *t,
	       uint64_t *t0, uint64_t *t1)
{
	struct epoll_event evs[64];
	long next = 0;
	uint64_t end_ns;

	*t0 = now_ns();
	end_ns = o->seconds > 0 ? *t0 + (uint64_t)(o->seconds * 1e9) : 0;
	for (long i = 0; i < o->connections; i++) {
		build(&conns[i], o, next++, false);
		if (send_req(&conns[i]) < 0)
			return -EIO;
	}
	while (busy_conns(conns, o->connections)) {
		int n = epoll_wait(ep, evs, 64, 10000);

		if (n <= 0) {
			fprintf(stderr, "api-load: no reply for 10 s\n");
			return -ETIMEDOUT;
		}
		for (int k = 0; k < n; k++)
			if (on_readable(evs[k].data.ptr, o, t, &next, end_ns) < 0)
				return -EIO;
	}
	*t1 = now_ns();
	return 0;
}

static int write_samples(const char *path, const struct tally *t)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "api-load: cannot write '%s': %s\n", path,
			strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < t->n; i++)
		fprintf(f, "%llu %llu %d\n", (unsigned long long)t->s[i].start_ns,
			(unsigned long long)t->s[i].lat_ns, t->s[i].status);
	return fclose(f) ? -EIO : 0;
}

static void print_result(const struct opts *o, const struct tally *t,
			 uint64_t t0, uint64_t t1)
{
	uint64_t *lat = calloc(t->n ? t->n : 1, sizeof(*lat));
	double secs = (double)(t1 - t0) / 1e9;

	if (!lat)
		return;
	for (size_t i = 0; i < t->n; i++)
		lat[i] = t->s[i].lat_ns;
	qsort(lat, t->n, sizeof(*lat), cmp_u64);
	printf("RESULT %s=%ld seconds=%.3f rate=%.0f p50_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f errors=%ld http5xx=%ld first5xx_s=%.3f replies=%zu\n",
	       o->label, t->units, secs, secs > 0 ? (double)t->units / secs : 0,
	       t->n ? (double)lat[t->n / 2] / 1e6 : 0,
	       t->n ? (double)lat[t->n * 99 / 100] / 1e6 : 0,
	       t->n ? (double)lat[t->n - 1] / 1e6 : 0, t->unexpected,
	       t->http5xx, t->http5xx ? (double)(t->first5xx_ns - t0) / 1e9 : -1.0,
	       t->n);
	free(lat);
}

int main(int argc, char **argv)
{
	struct tally t = { 0 };
	struct epoll_event ev;
	struct conn *conns;
	uint64_t t0 = 0, t1 = 0;
	struct opts o;
	int ep, r;

	if (parse(argc, argv, &o) < 0)
		return usage();
	if (o.requests && o.connections > o.requests)
		o.connections = o.requests;
	conns = calloc((size_t)o.connections, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || ep < 0)
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
	r = run(conns, &o, ep, &t, &t0, &t1);
	if (r == 0)
		print_result(&o, &t, t0, t1);
	if (r == 0 && o.samples)
		r = write_samples(o.samples, &t);
	if (t.unexpected)
		fprintf(stderr, "api-load: %ld replies were not as expected "
			"(first: %d)\n", t.unexpected, t.first_bad);
	for (long i = 0; i < o.connections; i++)
		close(conns[i].fd);
	close(ep);
	free(conns);
	free(t.s);
	return r < 0 || t.unexpected ? 1 : 0;
}
