/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test helper for unit tests of the master's API code: the reply side of
 * libmicrohttpd replaced by a recorder, so famfsd/http/reply.c runs
 * unchanged and a test reads the status, headers and body it queued; and
 * the request side reduced to a header table (http_header() lives in
 * famfsd/http/server.c, which such a test does not link).
 *
 * Defines functions with external linkage: include it from exactly one
 * source file per test binary, which each unit test is.
 */
#ifndef FAMFSD_HTTPSTUB_H
#define FAMFSD_HTTPSTUB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/server.h"

#define STUB_HEADERS	8

struct stub_header_line {
	char name[64], value[256];
};

/* What the last queued response held. */
struct stub_reply {
	int queued;			/* responses queued since stub_reset() */
	unsigned int status;
	struct stub_header_line hdr[STUB_HEADERS];
	int n_hdr;
	char body[4096];
};

static struct stub_reply reply;

/* Request headers http_header() answers, by exact name. */
static struct { const char *name, *value; } stub_headers[4];

struct MHD_Response {
	char *buf;
	size_t len;
	struct stub_header_line hdr[STUB_HEADERS];
	int n_hdr;
};

static inline void stub_reset(void)
{
	memset(&reply, 0, sizeof(reply));
	memset(stub_headers, 0, sizeof(stub_headers));
}

static inline void stub_header(const char *name, const char *value)
{
	for (size_t i = 0; i < sizeof(stub_headers) / sizeof(stub_headers[0]); i++) {
		if (!stub_headers[i].name || !strcmp(stub_headers[i].name, name)) {
			stub_headers[i].name = name;
			stub_headers[i].value = value;
			return;
		}
	}
	abort();
}

const char *http_header(const struct http_req *rq, const char *name)
{
	(void)rq;
	for (size_t i = 0; i < sizeof(stub_headers) / sizeof(stub_headers[0]); i++)
		if (stub_headers[i].name && !strcmp(stub_headers[i].name, name))
			return stub_headers[i].value;
	return NULL;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
						     enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = calloc(1, sizeof(*r));

	(void)mode;		/* reply.c hands over malloc'd buffers */
	if (r) {
		r->buf = buffer;
		r->len = size;
	}
	return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *r,
					const char *header, const char *content)
{
	struct stub_header_line *h;

	if (r->n_hdr == STUB_HEADERS || strlen(header) >= sizeof(h->name) ||
	    strlen(content) >= sizeof(h->value))
		abort();	/* more than this helper has room for */
	h = &r->hdr[r->n_hdr++];
	strcpy(h->name, header);
	strcpy(h->value, content);
	return MHD_YES;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status,
				   struct MHD_Response *r)
{
	(void)c;
	if (r->len >= sizeof(reply.body))
		abort();
	reply.queued++;
	reply.status = status;
	memcpy(reply.hdr, r->hdr, sizeof(reply.hdr));
	reply.n_hdr = r->n_hdr;
	memcpy(reply.body, r->buf, r->len);
	reply.body[r->len] = '\0';
	return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *r)
{
	free(r->buf);
	free(r);
}

/* reply.c counts every status for /metrics. */
void master_metrics_count(struct master_metrics *mm, unsigned int status)
{
	(void)mm;
	(void)status;
}

/* The last reply's header name (case-insensitive), or NULL if absent. */
static inline const char *stub_reply_header(const char *name)
{
	for (int i = 0; i < reply.n_hdr; i++)
		if (!strcasecmp(reply.hdr[i].name, name))
			return reply.hdr[i].value;
	return NULL;
}

/* A member of the last reply's JSON body as a string ("" if absent). */
static inline const char *stub_body_string(const char *key)
{
	static char out[1024];
	struct json_object *o = json_tokener_parse(reply.body), *v;

	out[0] = '\0';
	if (o && json_object_object_get_ex(o, key, &v))
		snprintf(out, sizeof(out), "%s", json_object_get_string(v));
	json_object_put(o);
	return out;
}

#endif
