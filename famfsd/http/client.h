/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The agent's HTTP client to the master (http/client.c). */
#ifndef FAMFSD_AGENT_HTTP_H
#define FAMFSD_AGENT_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "common/url_list.h"

struct agent_http;

/* 307s followed per request: a standby names the active master, which
 * answers; a second hop covers a takeover between the two. */
#define AGENT_HTTP_HOPS	2

struct agent_http_reply {
	long status;		/* HTTP status */
	const char *body;	/* NUL terminated, valid until the next request */
	const char *error;	/* transport failure, when -errno is returned */
	unsigned int hops;	/* 307s followed */
	/* The base URL that gave the reply: the one asked, or the one a 307
	 * named ("" when its Location did not end in the path asked). */
	char base[URL_MAX + 1];
};

/*
 * A client for base_url (e.g. "http://10.0.0.1:7470"), sending token as a
 * bearer token when not NULL. A request in flight gives up once *stop is
 * set and agent_http_wakeup() is called.
 */
int agent_http_new(const char *base_url, const char *token,
		   const atomic_bool *stop, struct agent_http **ret);
void agent_http_free(struct agent_http *h);

/* Sends token (or none, NULL) from the next request on. -ENOMEM. */
int agent_http_set_token(struct agent_http *h, const char *token);
/* True when h sends exactly this token. */
bool agent_http_has_token(const struct agent_http *h, const char *token);

/*
 * method path (appended to the base URL), with a JSON body when json is not
 * NULL, giving up after timeout_ms. Returns 0 with *ret filled (any HTTP
 * status), or -errno with ret->error: -ECONNREFUSED, -ETIMEDOUT,
 * -EHOSTUNREACH, -ECANCELED (stopped), -EIO, -ENOMEM.
 */
int agent_http_request(struct agent_http *h, const char *method,
		       const char *path, const char *json, long timeout_ms,
		       struct agent_http_reply *ret);
/*
 * The same to base instead of the client's own URL. Both follow a 307 or
 * 308 up to AGENT_HTTP_HOPS times with the same method, body and bearer
 * token (a standby's answer, docs/failover.md); a further one, or one that
 * names the URL just asked, is returned as it is.
 */
int agent_http_request_to(struct agent_http *h, const char *base,
			  const char *method, const char *path,
			  const char *json, long timeout_ms,
			  struct agent_http_reply *ret);

/* Interrupts h's request in flight (from any thread). */
void agent_http_wakeup(struct agent_http *h);

#endif
