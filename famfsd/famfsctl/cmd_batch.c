// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl batch FILE|-: one POST /v1/batch (docs/batch.md) with a body
 * read from FILE or standard input: a job's whole set of creates, mkdirs
 * and deletes, applied all or nothing with one publish.
 *
 * The body is checked to be one JSON object and then sent as it was
 * written (not parsed and printed again, so its numbers and strings reach
 * the master byte for byte); the operations themselves are the master's to
 * judge. The reply is summed up as counts by status and the seq, or with
 * --json printed whole. A refusal prints the problem and the operation it
 * names (op_index, op_path) and exits 1.
 *
 * --wait-agents SECONDS then waits until every live agent (GET /v1/agents)
 * has applied the reply's seq: from then on the whole set is in every
 * mount. The master learns an agent's position from its heartbeats (every
 * second, docs/design.md), so the wait can outlast the mount's own
 * catching up by up to that period.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "online.h"

/*
 * The largest body the master takes on /v1/batch (docs/batch.md): a larger
 * file is refused here, before it is read whole and sent for nothing.
 */
#define BATCH_BODY_MAX		(8u << 20)
#define BATCH_TIMEOUT_DEFAULT	ONLINE_TIMEOUT_S
/* How often --wait-agents asks; positions move once a heartbeat (1 s). */
#define BATCH_POLL_MS		50
/* Agents named when the wait gives up. */
#define BATCH_BEHIND_SHOWN	5

enum {
	OPT_WAIT_AGENTS = FAMFSCTL_OPT_OWN,
	OPT_TIMEOUT,
};

static void free_charp(char **p)
{
	free(*p);
}

#define _cleanup_free_ __attribute__((cleanup(free_charp)))

/*
 * The whole of fd, NUL-terminated, in *ret (*ret_len bytes). -EFBIG past
 * BATCH_BODY_MAX, -errno on a read error.
 */
static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t len = 0, cap = 64 << 10;
	char *buf = malloc(cap), *p;
	ssize_t k;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cap - len < 2) {
			if (cap > BATCH_BODY_MAX) {
				free(buf);
				return -EFBIG;
			}
			p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return -ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
		k = read(fd, buf + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			k = -errno;
			free(buf);
			return (int)k;
		}
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > BATCH_BODY_MAX) {
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

/*
 * Reads name ("-": standard input) into *ret and checks it holds one JSON
 * object and nothing else. EXIT_CLEAN, or the exit code after saying why:
 * EXIT_OPERATIONAL when it cannot be read, EXIT_USAGE when it is no body.
 */
static int read_body(const char *name, char **ret)
{
	bool is_stdin = !strcmp(name, "-");
	const char *shown = is_stdin ? "standard input" : name;
	struct json_tokener *tok;
	struct json_object *v;
	enum json_tokener_error err;
	size_t len = 0, end;
	char *text = NULL;
	int fd = STDIN_FILENO, r;

	if (!is_stdin) {
		fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "famfsctl batch: failed to open '%s': %s\n",
				name, strerror(errno));
			return EXIT_OPERATIONAL;
		}
	}
	r = read_all(fd, &text, &len);
	if (!is_stdin)
		close(fd);
	if (r == -EFBIG) {
		fprintf(stderr, "famfsctl batch: '%s' is larger than the %u MiB a "
			"batch body may be\n", shown, BATCH_BODY_MAX >> 20);
		return EXIT_USAGE;
	}
	if (r < 0) {
		fprintf(stderr, "famfsctl batch: failed to read '%s': %s\n", shown,
			strerror(-r));
		return EXIT_OPERATIONAL;
	}
	if (strlen(text) != len) {
		fprintf(stderr, "famfsctl batch: '%s' is not JSON: a NUL byte at "
			"byte %zu\n", shown, strlen(text));
		free(text);
		return EXIT_USAGE;
	}
	tok = json_tokener_new();
	if (!tok) {
		free(text);
		return EXIT_OPERATIONAL;
	}
	/* With its NUL, so a value cut short is an error, not "continue". */
	v = json_tokener_parse_ex(tok, text, (int)len + 1);
	err = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	/* Only white space may follow the object. */
	while (v && end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (!v || err != json_tokener_success || end != len) {
		if (!v)
			fprintf(stderr, "famfsctl batch: '%s' is not JSON: %s at "
				"byte %zu\n", shown, json_tokener_error_desc(err), end);
		else
			fprintf(stderr, "famfsctl batch: '%s' is not JSON: more "
				"after the value, at byte %zu\n", shown, end);
		json_object_put(v);
		free(text);
		return EXIT_USAGE;
	}
	if (!json_object_is_type(v, json_type_object)) {
		fprintf(stderr, "famfsctl batch: '%s' holds a JSON %s, not an "
			"object: a batch is {\"ops\": [...]} (docs/batch.md)\n",
			shown, json_type_to_name(json_object_get_type(v)));
		json_object_put(v);
		free(text);
		return EXIT_USAGE;
	}
	json_object_put(v);
	*ret = text;
	return EXIT_CLEAN;
}

/* Statuses in the order the summary gives them; others follow as met. */
static const char *const known_status[] = { "created", "exists", "deleted",
					    "absent" };
#define N_KNOWN		(sizeof(known_status) / sizeof(known_status[0]))
#define N_STATUS	(N_KNOWN + 8)

/* "5 operations at seq 8812: 2 created, 1 exists, 1 deleted, 1 absent" */
static void print_summary(struct json_object *reply)
{
	struct { const char *name; size_t n; } count[N_STATUS];
	struct json_object *results = NULL;
	size_t n_count = N_KNOWN, other = 0, n;
	bool first = true;

	for (size_t i = 0; i < N_KNOWN; i++)
		count[i].name = known_status[i], count[i].n = 0;
	json_object_object_get_ex(reply, "results", &results);
	n = json_object_array_length(results);
	for (size_t i = 0; i < n; i++) {
		const char *st = online_str(json_object_array_get_idx(results, i),
					    "status");
		size_t k = 0;

		while (k < n_count && strcmp(count[k].name, st))
			k++;
		if (k == n_count && n_count < N_STATUS)
			count[n_count++].name = st, count[k].n = 0;
		if (k < n_count)
			count[k].n++;
		else
			other++;	/* more kinds than a summary shows */
	}
	printf("%zu operation%s at seq %" PRId64, n, n == 1 ? "" : "s",
	       online_int(reply, "seq"));
	for (size_t k = 0; k < n_count; k++) {
		if (!count[k].n)
			continue;
		printf("%s%zu %s", first ? ": " : ", ", count[k].n, count[k].name);
		first = false;
	}
	if (other)
		printf(", %zu other", other);
	printf("\n");
}

/* A 2xx that is not a batch's reply: something else answered there. */
static bool is_batch_reply(struct json_object *reply)
{
	struct json_object *seq, *results;

	return reply && json_object_is_type(reply, json_type_object) &&
	       json_object_object_get_ex(reply, "seq", &seq) &&
	       json_object_is_type(seq, json_type_int) &&
	       json_object_object_get_ex(reply, "results", &results) &&
	       json_object_is_type(results, json_type_array);
}

/* The problem, then which operation it names (docs/batch.md, Refused). */
static void print_refusal(int status, struct json_object *problem)
{
	struct json_object *idx;

	online_problem("batch", status, problem);
	if (problem && json_object_is_type(problem, json_type_object) &&
	    json_object_object_get_ex(problem, "op_index", &idx))
		fprintf(stderr, "famfsctl batch: refused at ops[%" PRId64 "] (%s); "
			"nothing was written\n", json_object_get_int64(idx),
			*online_str(problem, "op_path") ?
			online_str(problem, "op_path") : "no path");
	else if (status >= 400 && status < 500)
		fprintf(stderr, "famfsctl batch: the request as a whole was "
			"refused; nothing was written\n");
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Live agents of list whose applied_seq is below seq; *ret_live the live
 * ones in all. With shown, lists the first few behind on stderr.
 */
static size_t agents_behind(struct json_object *list, int64_t seq,
			    size_t *ret_live, bool shown)
{
	struct json_object *agents = NULL;
	size_t behind = 0, live = 0;

	if (!json_object_object_get_ex(list, "agents", &agents) ||
	    !json_object_is_type(agents, json_type_array))
		agents = NULL;
	for (size_t i = 0; agents && i < json_object_array_length(agents); i++) {
		struct json_object *a = json_object_array_get_idx(agents, i);

		if (strcmp(online_str(a, "state"), "live"))
			continue;
		live++;
		if (online_int(a, "applied_seq") >= seq)
			continue;
		if (shown && behind < BATCH_BEHIND_SHOWN)
			fprintf(stderr, "  %s (host %s) applied %" PRId64 "\n",
				online_str(a, "agent_id"), online_str(a, "host"),
				online_int(a, "applied_seq"));
		behind++;
	}
	*ret_live = live;
	return behind;
}

/*
 * Asks GET /v1/agents until every live agent applied seq, for up to
 * timeout_s. EXIT_CLEAN; EXIT_OPERATIONAL when the time ran out (who is
 * behind is said) or the master did not answer; EXIT_REFUSED when it
 * refused the list (a tenant token may not read it).
 */
static int wait_agents(struct online *o, int64_t seq, long timeout_s)
{
	uint64_t start = now_ms(), deadline = start + (uint64_t)timeout_s * 1000;
	size_t live = 0, behind;

	for (;;) {
		_cleanup_json_ struct json_object *list = NULL;
		uint64_t now = now_ms();
		int status;

		/* No single call may take the wait past its deadline by much. */
		o->timeout_s = now < deadline ? (long)((deadline - now + 999) / 1000) : 1;
		status = online_call(o, "GET", "/v1/agents", NULL, &list);
		if (status < 0)
			return EXIT_OPERATIONAL;
		if (status != 200) {
			online_problem("batch", status, list);
			fprintf(stderr, "famfsctl batch: the batch was applied, but "
				"the agents' positions could not be read\n");
			return EXIT_REFUSED;
		}
		behind = agents_behind(list, seq, &live, false);
		if (!behind)
			break;
		if (now_ms() >= deadline) {
			fprintf(stderr, "famfsctl batch: the batch was applied, but "
				"after %ld s %zu of %zu live agents have not applied "
				"seq %" PRId64 ":\n", timeout_s, behind, live, seq);
			agents_behind(list, seq, &live, true);
			return EXIT_OPERATIONAL;
		}
		nanosleep(&(struct timespec){ .tv_nsec = BATCH_POLL_MS * 1000000L },
			  NULL);
	}
	if (!o->json && !live)
		printf("no live agent to wait for\n");
	else if (!o->json)
		printf("%zu live agent%s applied seq %" PRId64 " (%.2f s)\n", live,
		       live == 1 ? "" : "s", seq, (double)(now_ms() - start) / 1000);
	return EXIT_CLEAN;
}

static int cmd_batch(const struct famfsctl_args *a)
{
	_cleanup_json_ struct json_object *reply = NULL;
	_cleanup_free_ char *body = NULL;
	long timeout_s = BATCH_TIMEOUT_DEFAULT, wait_s = 0;
	struct online o;
	int64_t seq;
	int status, r;

	for (size_t i = 0; i < a->n_opts; i++)
		if (famfsctl_parse_seconds(a->opts[i].arg, a->opts[i].key ==
					   OPT_WAIT_AGENTS ? &wait_s :
					   &timeout_s) < 0)
			return famfsctl_bad_value(a, &a->opts[i]);
	if (a->argc != 1)
		return famfsctl_usage(a, a->argc ? "one FILE only" :
				      "no FILE (\"-\" reads standard input)");
	r = read_body(a->argv[0], &body);
	if (r != EXIT_CLEAN)
		return r;
	online_init(&o, &a->g);
	o.timeout_s = timeout_s;
	if (online_open(&o) < 0) {
		online_close(&o);
		return EXIT_OPERATIONAL;
	}
	status = online_call_text(&o, "POST", "/v1/batch", body, &reply);
	if (status < 0 && status != -ECONNREFUSED)
		fprintf(stderr, "famfsctl batch: it may have been applied; the "
			"same batch sent again finds its work done (docs/batch.md)\n");
	if (status < 0) {
		online_close(&o);
		return EXIT_OPERATIONAL;
	}
	if (status >= 300) {
		print_refusal(status, reply);
		online_close(&o);
		return EXIT_REFUSED;
	}
	if (!is_batch_reply(reply)) {
		fprintf(stderr, "famfsctl batch: the master answered %d without a "
			"batch's results (seq, results)\n", status);
		online_close(&o);
		return EXIT_OPERATIONAL;
	}
	seq = online_int(reply, "seq");
	if (o.json)
		famfsctl_print_json(json_object_get(reply));
	else
		print_summary(reply);
	fflush(stdout);
	r = wait_s ? wait_agents(&o, seq, wait_s) : EXIT_CLEAN;
	online_close(&o);
	return r;
}

static const struct famfsctl_opt batch_opts[] = {
	{ "wait-agents", OPT_WAIT_AGENTS, "SECONDS",
	  "then wait until every live agent applied the reply's seq" },
	{ "timeout", OPT_TIMEOUT, "SECONDS", "wait for the master's reply (60)" },
	{ 0 }
};

static const char batch_details[] =
	"POST /v1/batch with the JSON object in FILE (\"-\": standard input),\n"
	"sent as it is: {\"ops\": [{\"op\": \"create\", \"path\": \"A/j1/f0\",\n"
	"\"size\": 4096}, ...]}, ops of \"create\", \"mkdir\" and \"delete\"\n"
	"(docs/batch.md). The master applies every operation, in order and\n"
	"with one publish, or none: a refusal names the first that failed\n"
	"(ops[i] and its path) and exits 1. Prints the count of each status\n"
	"(created, exists, deleted, absent) and the seq of the last record;\n"
	"--json prints the reply. A batch is idempotent: one sent again after\n"
	"a lost reply finds its work done.\n"
	"--wait-agents SECONDS: then wait until every live agent (famfsctl\n"
	"agents) applied that seq, so the whole set is in every mount; the\n"
	"master knows agents' positions from their heartbeats (every second).\n"
	"Exits 8 when one has not within SECONDS (the batch was applied all\n"
	"the same). Needs a token that may list agents (admin).\n";

const struct famfsctl_cmd famfsctl_batch = {
	.name = "batch", .fn = cmd_batch, .operands = "FILE|-",
	.summary = "apply a set of creates, mkdirs, deletes: all or none",
	.details = batch_details,
	.opts = batch_opts,
	.flags = CMD_ONLINE | CMD_JSON,
};
