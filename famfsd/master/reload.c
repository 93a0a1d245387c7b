// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * SIGHUP (systemctl reload famfsd-master): what changes without dropping a
 * connection, a lease or an agent.
 *
 *  - The token file is read again and replaces the token table at once
 *    (all or nothing: a bad file keeps the old tokens and says why).
 *  - With --config, the file is read again. "tokens" (a new token file)
 *    and "agent_timeout" (when agents count as stale, which holds back
 *    reclaim and so the space quotas see) are applied; any other change is
 *    named as waiting for a restart. A value the command line had
 *    overridden stays as the command line set it.
 *
 * Quotas themselves live in the pool's log (PUT /v1/tenants/{t}/quota) and
 * never need a reload. Everything here runs on the main thread, between
 * two ticks of its loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/tokens.h"
#include "conf/conf.h"
#include "master/master.h"

int master_reload_init(struct master *m)
{
	FILE *devnull;
	int r;

	if (!m->cfg.config_path)
		return 0;
	/* main.c has just parsed it and reported any error. */
	devnull = fopen("/dev/null", "we");
	if (!devnull)
		return -errno;
	r = conf_load(m->cfg.config_path, devnull, &m->conf);
	fclose(devnull);
	if (r < 0)
		msg(MSG_ERR, "Failed to read '%s': %s",
			   m->cfg.config_path, strerror(-r));
	return r;
}

void master_reload_free(struct master *m)
{
	conf_free(m->conf);
	m->conf = NULL;
	free(m->tokens_path);
	m->tokens_path = NULL;
}

static const char *running_tokens_path(const struct master *m)
{
	return m->tokens_path ? m->tokens_path : m->cfg.tokens_path;
}

static void reload_tokens(struct master *m)
{
	const char *path = running_tokens_path(m);
	char why[256];
	int r;

	if (!path)
		return;		/* a generated admin token: nothing to re-read */
	r = auth_tokens_reload(m->tokens, path, why, sizeof(why));
	if (r < 0)
		msg(MSG_ERR, "Failed to reload tokens from '%s': "
			   "%s; keeping the %zu tokens in use", path,
			   r == -EINVAL ? why : strerror(-r),
			   auth_tokens_count(m->tokens));
	else
		msg(MSG_INFO, "reloaded %zu tokens from '%s'",
			   auth_tokens_count(m->tokens), path);
}

/* Logs every line a failed conf_load() wrote. */
static void log_lines(char *text)
{
	char *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		msg(MSG_ERR, "%s", l);
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/*
 * The value in force came from the file (not the command line): it is
 * what the file said when last loaded, or the default when the file said
 * nothing.
 */
static bool from_file(const char *file_value, const char *running,
		      const char *dflt)
{
	return file_value ? same(file_value, running) : same(dflt, running);
}

static void apply(struct master *m, const struct famfsd_conf *old,
		  const struct famfsd_conf *new)
{
	char running[32];

	for (int k = 0; k < K__COUNT; k++) {
		const struct conf_key *key = &conf_keys[k];
		const char *was = old->value[k], *now = new->value[k];

		if ((key->roles && !(key->roles & CONF_ROLE_MASTER)) ||
		    same(was, now))
			continue;
		if (k == K_TOKENS && from_file(was, running_tokens_path(m), NULL) &&
		    now) {
			char *copy = strdup(now);

			if (!copy)
				continue;
			free(m->tokens_path);
			m->tokens_path = copy;
			msg(MSG_INFO, "token file is now '%s'", now);
			continue;
		}
		if (k == K_AGENT_TIMEOUT) {
			snprintf(running, sizeof(running), "%u",
				 m->cfg.agent_timeout_s);
			if (!from_file(was, running, key->dflt)) {
				msg(MSG_INFO, "agent_timeout is set "
					   "on the command line, ignoring the "
					   "file's");
				continue;
			}
			master_lock(m);
			m->cfg.agent_timeout_s = (unsigned int)strtoul(now ? now :
							key->dflt, NULL, 10);
			master_unlock(m);
			msg(MSG_INFO, "agent_timeout is now %u s",
				   m->cfg.agent_timeout_s);
			continue;
		}
		msg(MSG_WARN, "[%s] %s changed in '%s': takes "
			   "effect at the next restart", key->section, key->name,
			   new->path);
	}
}

void master_reload(struct master *m)
{
	struct famfsd_conf *fresh = NULL;
	char *errors = NULL;
	size_t len = 0;
	FILE *err;
	int r;

	msg(MSG_INFO, "SIGHUP: reloading");
	if (m->cfg.config_path) {
		err = open_memstream(&errors, &len);
		if (!err) {
			msg(MSG_ERR, "Failed to reload: out of memory");
			return;
		}
		r = conf_load(m->cfg.config_path, err, &fresh);
		fclose(err);
		if (r < 0) {
			log_lines(errors);
			msg(MSG_ERR, "Failed to reload '%s', keeping "
				   "the running settings and tokens",
				   m->cfg.config_path);
			free(errors);
			return;
		}
		free(errors);
		if (m->conf)
			apply(m, m->conf, fresh);
		conf_free(m->conf);
		m->conf = fresh;
	}
	reload_tokens(m);
}
