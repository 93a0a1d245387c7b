// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Which master the agent talks to (docs/failover.md, "Finding the active
 * master"). Candidates, in order:
 *
 *   1. the address the pool's election slots publish for the active
 *      master (famfs_elect_view(), read at most every AGENT_VIEW_MS, and
 *      at once after a request failed), ahead of 2. when the pool's epoch
 *      moved since 2. answered;
 *   2. the address that answered last;
 *   3. --master, in order.
 *
 * A standby's 307 is followed by the HTTP client (at most twice, with the
 * bearer token); a candidate that does not answer, or answers 503
 * not-active, gives way to the next. A new active master in the pool, and
 * a change of the address that answers, are each logged once. So the
 * agent needs no configuration change when the active master moves: the
 * pool names the new one, and any master of the list redirects to it.
 *
 * The feed and heartbeat threads share this state, under its own lock;
 * no request is made under it.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/url_list.h"
#include "elect.h"
#include "http/client.h"

/* The pool's slots are read at most this often (ms). */
#define AGENT_VIEW_MS	100u

struct agent_masters {
	pthread_mutex_t lock;
	struct url_list list;		/* --master */
	uint64_t view_ns;		/* CLOCK_MONOTONIC of the last read; 0: stale */
	char pool_url[URL_MAX + 1];	/* the active master's, "" none */
	uint64_t pool_epoch;		/* its epoch, 0 none */
	uint64_t logged_epoch;		/* the last said in the journal */
	char logged_url[URL_MAX + 1];
	char current[URL_MAX + 1];	/* answered last; "" none yet */
	uint64_t current_epoch;		/* pool_epoch when it answered */
	struct famfs_elect_view view;	/* scratch of the reads (lock) */
};

int agent_masters_new(struct agent *a)
{
	struct agent_masters *am = calloc(1, sizeof(*am));
	const char *why = NULL;

	if (!am)
		return -ENOMEM;
	/* Checked by the option table already; an error here is a bug. */
	if (url_list_parse(a->o.master_url, &am->list, &why) < 0) {
		msg(MSG_ERR, "bad --master '%s': %s", a->o.master_url, why);
		free(am);
		return -EINVAL;
	}
	pthread_mutex_init(&am->lock, NULL);
	a->masters = am;
	return 0;
}

void agent_masters_free(struct agent *a)
{
	if (!a->masters)
		return;
	pthread_mutex_destroy(&a->masters->lock);
	free(a->masters);
	a->masters = NULL;
}

/* The active master as the pool says, logged once when it changes. (lock) */
static void read_view(struct agent *a, struct agent_masters *am)
{
	struct famfs_elect_view *v = &am->view;
	uint64_t now = clock_mono_ns();

	if (am->view_ns && now - am->view_ns < AGENT_VIEW_MS * 1000000ull)
		return;
	am->view_ns = now;
	if (famfs_elect_view(a->pool->base, a->ops, v) < 0 || v->active < 0) {
		am->pool_url[0] = '\0';
		am->pool_epoch = 0;
		return;
	}
	am->pool_epoch = v->epoch;
	/* A published address that is no URL is as good as none. */
	if (url_check(v->url) || strlen(v->url) > URL_MAX)
		am->pool_url[0] = '\0';
	else
		snprintf(am->pool_url, sizeof(am->pool_url), "%s", v->url);
	if (v->epoch == am->logged_epoch && !strcmp(am->pool_url, am->logged_url))
		return;
	msg(MSG_INFO, "the pool names slot %d on host %s as the active master, "
		  "epoch %" PRIu64 ", at %s", v->active + 1, v->host, v->epoch,
		  am->pool_url[0] ? am->pool_url : "no address");
	am->logged_epoch = v->epoch;
	snprintf(am->logged_url, sizeof(am->logged_url), "%s", am->pool_url);
}

/* The candidates of one request, in order, without repeats. */
static void candidates(struct agent *a, struct url_list *ret)
{
	struct agent_masters *am = a->masters;
	bool moved;

	ret->n = 0;
	pthread_mutex_lock(&am->lock);
	read_view(a, am);
	moved = am->pool_epoch != am->current_epoch;
	if (am->pool_url[0] && (moved || !am->current[0]))
		url_list_add(ret, am->pool_url);
	if (am->current[0])
		url_list_add(ret, am->current);
	if (am->pool_url[0])
		url_list_add(ret, am->pool_url);
	for (unsigned int i = 0; i < am->list.n; i++)
		url_list_add(ret, am->list.url[i]);
	pthread_mutex_unlock(&am->lock);
}

/* base answered: it is the first to try next time. */
static void answered(struct agent *a, const char *base)
{
	struct agent_masters *am = a->masters;

	pthread_mutex_lock(&am->lock);
	if (strcmp(am->current, base)) {
		msg(MSG_INFO, "talking to the master at %s%s%s", base,
			  am->current[0] ? " instead of " : "", am->current);
		snprintf(am->current, sizeof(am->current), "%s", base);
	}
	am->current_epoch = am->pool_epoch;
	pthread_mutex_unlock(&am->lock);
}

/* A failure: the pool is read again before the next candidate. */
static void failed(struct agent *a)
{
	pthread_mutex_lock(&a->masters->lock);
	a->masters->view_ns = 0;
	pthread_mutex_unlock(&a->masters->lock);
}

/* 503 not-active: a standby that knows no active master to name. */
static bool not_active(const struct agent_http_reply *rep)
{
	struct json_object *o, *t;
	bool yes = false;

	if (rep->status != 503)
		return false;
	o = json_tokener_parse(rep->body);
	if (o && json_object_object_get_ex(o, "type", &t)) {
		const char *s = json_object_get_string(t);
		const char *slash = s ? strrchr(s, '/') : NULL;

		yes = slash && !strcmp(slash + 1, "not-active");
	}
	json_object_put(o);
	return yes;
}

int agent_master_request(struct agent *a, struct agent_http *h,
			 const char *method, const char *path,
			 const char *json, long timeout_ms,
			 struct agent_http_reply *ret)
{
	struct url_list *c = malloc(sizeof(*c));
	int r = -EHOSTUNREACH;

	if (!c)
		return -ENOMEM;
	candidates(a, c);
	*ret = (struct agent_http_reply){ .body = "", .error = "no master" };
	for (unsigned int i = 0; i < c->n; i++) {
		r = agent_http_request_to(h, c->url[i], method, path, json,
					  timeout_ms, ret);
		if (r == -ECANCELED)
			break;
		if (r == 0 && !not_active(ret) &&
		    !(ret->status == 307 || ret->status == 308)) {
			if (!ret->base[0])	/* a 307 elsewhere: the asked */
				snprintf(ret->base, sizeof(ret->base), "%s",
					 c->url[i]);
			answered(a, ret->base);
			break;
		}
		failed(a);
		if (i + 1 < c->n)
			msg(MSG_DEBUG, "master at %s: %s; trying %s", c->url[i],
				  r < 0 ? ret->error : "not active", c->url[i + 1]);
	}
	free(c);
	return r;
}

const char *agent_master_current(struct agent *a, char *buf, size_t size)
{
	struct agent_masters *am = a->masters;

	pthread_mutex_lock(&am->lock);
	snprintf(buf, size, "%s", am->current[0] ? am->current :
		 am->list.n ? am->list.url[0] : "");
	pthread_mutex_unlock(&am->lock);
	return buf;
}
