/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * famfsctl online commands: they talk to a running master's HTTP API
 * (api/openapi.yaml) with libcurl instead of opening the pool.
 *
 * Every online command takes --url URL[,URL...] (or --master, or
 * FAMFSD_URL, default http://127.0.0.1:7470: every master-capable host,
 * tried in order; a standby's 307 is followed with the token, a master
 * that does not answer or answers 503 not-active gives way to the next,
 * docs/failover.md), --token TOKEN (or FAMFSD_TOKEN), --token-file
 * FILE (or FAMFSD_TOKEN_FILE), --cacert FILE (or FAMFSD_CACERT) and --json
 * (the CMD_ONLINE options, parsed in famfsctl.c). Exit codes: 0 done, 1
 * the master refused the request (its problem document is printed), 8 no
 * answer from the master, 16 bad usage.
 */
#ifndef FAMFSCTL_ONLINE_H
#define FAMFSCTL_ONLINE_H

#include <curl/curl.h>

#include "common/url_list.h"
#include "famfsctl.h"

/* How long a call may take unless the command says otherwise. */
#define ONLINE_TIMEOUT_S	60L

/*
 * The largest reply taken. The largest the API gives is a batch's
 * (docs/batch.md): at most 65,536 results, whose paths come from a
 * request body of at most 8 MiB (each path in the reply at most twice its
 * bytes in the request, where JSON escapes differ) plus ~100 bytes of
 * fields each: ~23 MiB. Anything larger is a runaway, not an answer.
 */
#define ONLINE_REPLY_MAX	(64u << 20)

struct online {
	const char *url;
	const char *token;
	const char *token_file;
	const char *cacert;
	bool json;
	bool human;
	long timeout_s;			/* per call; 0: ONLINE_TIMEOUT_S */
	CURL *curl;
	char *token_buf;		/* read from token_file */
	struct url_list *urls;		/* url parsed */
	unsigned int cur;		/* urls->url[cur] answered last */
	char base[URL_MAX + 1];		/* where a 307 took us, or "" */
};

/* Fills o from the command line's options, else from the environment. */
void online_init(struct online *o, const struct famfsctl_global *g);
/* Opens the client. -errno, message printed. */
int online_open(struct online *o);
void online_close(struct online *o);

/*
 * METHOD path (already escaped, starting with '/') with an optional JSON
 * body. Returns the HTTP status with the parsed JSON reply in *ret (NULL
 * when the reply was not JSON), or -errno after printing why (no answer):
 * -ECONNREFUSED when no master was reached (the request was not sent),
 * -ETIMEDOUT or another when it may have been.
 */
int online_call(struct online *o, const char *method, const char *path,
		struct json_object *body, struct json_object **ret);

/* The same with the body as JSON text (sent as it is), or NULL for none. */
int online_call_text(struct online *o, const char *method, const char *path,
		     const char *json, struct json_object **ret);

/*
 * Opens the client if needed and performs one call: EXIT_CLEAN with *ret
 * on a 2xx, EXIT_REFUSED after printing the problem document, or
 * EXIT_OPERATIONAL when the master did not answer.
 */
int online_request(struct online *o, const char *cmd, const char *method,
		   const char *path, struct json_object *body,
		   struct json_object **ret);

/* Prints a problem reply on stderr: "famfsctl CMD: title (status): detail". */
void online_problem(const char *cmd, int status, struct json_object *reply);

/*
 * Prints a successful reply, as JSON with --json or else through print
 * (human: -u was given), drops it, and returns EXIT_CLEAN.
 */
int online_show(struct online *o, struct json_object *reply,
		void (*print)(struct json_object *reply, bool human));

/* "/v1/files/" + the escaped path, malloc'd; NULL when out of memory. */
char *online_api_path(const char *prefix, const char *fs_path);

/* Percent-encodes a file-system path for the URL, keeping '/', without
 * its leading slashes. Returns a malloc'd string or NULL. */
char *online_escape_path(const char *path);

/* Prints bytes as "12.0 GiB". */
void online_print_bytes(FILE *f, uint64_t bytes);

static inline int64_t online_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static inline const char *online_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

#endif
