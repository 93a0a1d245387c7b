// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd: one binary, two roles. "famfsd master" owns a pool's write side
 * and serves the HTTP API; "famfsd agent" follows the pool's log into a
 * local mount. Each role parses its own options.
 *
 * With --config FILE (docs/config.md) the file's values become the role's
 * options, placed before the command line's own (which win); "famfsd
 * --config FILE" takes the role from the file. Two helpers serve the
 * systemd units: "check-config" prints what each role would run, and
 * "role-check ROLE" tells ExecCondition= whether this node runs ROLE.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "conf/conf.h"
#include "roles.h"

/*
 * Exit status for a configuration that cannot work as written (EX_CONFIG of
 * sysexits.h): the units do not restart on it (RestartPreventExitStatus=),
 * while a pool not found (yet) exits 1 and is retried.
 */
#define EXIT_CONFIG	78

static void usage(FILE *f)
{
	fprintf(f, "usage: famfsd master --pool DEVICE [options]\n"
		   "       famfsd agent --pool DEVICE --mount DIR [options]\n"
		   "       famfsd master|agent --config FILE [options]\n"
		   "       famfsd --config FILE [options]   (role from the file)\n"
		   "       famfsd check-config [--config FILE]\n"
		   "       famfsd role-check master|agent [--config FILE]\n"
		   "       famfsd ROLE --help\n"
		   "Options given on the command line override the file.\n");
}

/*
 * The agent has nothing to reload yet (its token is read at start), but a
 * SIGHUP (systemctl reload, a closed terminal) must not end it and take
 * its mount away: ignored here, before libfuse installs its handlers
 * (which leave a signal alone unless it has the default action) and the
 * kernel module back-end's signalfd (an ignored signal is never queued).
 */
static int agent(int argc, char **argv)
{
	signal(SIGHUP, SIG_IGN);
	return agent_main(argc, argv);
}

/* The value of --config FILE / --config=FILE before any "--", or NULL. */
static const char *find_config(int argc, char **argv)
{
	const char *found = NULL;

	for (int i = 0; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			found = argv[++i];
		else if (!strncmp(argv[i], "--config=", 9))
			found = argv[i] + 9;
	}
	return found;
}

static bool has_bare_config(int argc, char **argv)
{
	return argc > 0 && !strcmp(argv[argc - 1], "--config");
}

/*
 * Writes text (lines) to stderr. Under systemd, where stderr is a journal
 * stream, every line gets the syslog priority prefix the roles' own log
 * lines carry, so a broken configuration shows at error priority.
 */
static void emit(int level, const char *text)
{
	bool journal = getenv("JOURNAL_STREAM") != NULL;

	while (*text) {
		size_t n = strcspn(text, "\n");

		if (journal)
			fprintf(stderr, "<%d>%.*s\n", level, (int)n, text);
		else
			fprintf(stderr, "%.*s\n", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

__attribute__((format(printf, 2, 3)))
static void say(int level, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (n >= 0)
		emit(level, text);
	free(text);
}

/* A memory stream for a callee's error lines, emitted by errors_end(). */
struct errors {
	FILE *f;
	char *text;
	size_t len;
};

static FILE *errors_begin(struct errors *e)
{
	e->text = NULL;
	e->f = open_memstream(&e->text, &e->len);
	return e->f ? e->f : stderr;
}

static void errors_end(struct errors *e, int level)
{
	if (e->f) {
		fclose(e->f);
		emit(level, e->text ? e->text : "");
	}
	free(e->text);
}

/* Loads path: the value of --config, or (option NULL) the default file. */
static int load(const char *option, const char *path, struct famfsd_conf **ret)
{
	struct errors e;
	int r = conf_load(path, errors_begin(&e), ret);

	errors_end(&e, LOG_ERR);
	if (r < 0)
		say(LOG_ERR, "famfsd: %s'%s' %s, refusing to start",
		    option ? option : "", path, r == -EINVAL ?
		    "has errors (see above)" : "cannot be read");
	return r;
}

static int build_argv(const struct famfsd_conf *c, unsigned int role,
		      int argc, char **argv, int *ret_argc, char ***ret_argv)
{
	struct errors e;
	int r = conf_build_argv(c, role, argc, argv, errors_begin(&e),
				ret_argc, ret_argv);

	errors_end(&e, LOG_ERR);
	return r;
}

/* Runs role with the file's options before args (args[0] is not used). */
static int run_with_config(const char *path, unsigned int role, int argc,
			   char **argv)
{
	__attribute__((cleanup(conf_freep))) struct famfsd_conf *c = NULL;
	char **nargv = NULL;
	int nargc = 0, code;

	if (load("--config ", path, &c) < 0)
		return EXIT_CONFIG;
	if (role == 0) {
		if (c->role == CONF_ROLE_BOTH) {
			say(LOG_ERR, "famfsd: %s says role=both: run 'famfsd "
			    "master --config %s' and 'famfsd agent --config %s' "
			    "(the units famfsd-master.service and famfsd.service)",
			    path, path, path);
			return EXIT_CONFIG;
		}
		role = c->role;
	} else if (!(c->role & role)) {
		say(LOG_ERR, "famfsd: %s:%u: role=%s: this node does not run "
		    "the %s", path, c->line[K_ROLE], conf_role_name(c->role),
		    conf_role_name(role));
		return EXIT_CONFIG;
	}
	code = build_argv(c, role, argc - 1, argv + 1, &nargc, &nargv);
	if (code < 0)
		return code == -EINVAL ? EXIT_CONFIG : 1;
	code = role == CONF_ROLE_MASTER ? master_main(nargc, nargv) :
					  agent(nargc, nargv);
	conf_free_argv(nargc, nargv);
	return code;
}

/* Prints the command line each role of the file would run. */
static int check_config(int argc, char **argv)
{
	const char *path = find_config(argc, argv);
	__attribute__((cleanup(conf_freep))) struct famfsd_conf *c = NULL;
	int code = 0;

	if (load(path ? "--config " : NULL, path ? path : CONF_DEFAULT_PATH,
		 &c) < 0)
		return 1;
	printf("role: %s\n", conf_role_name(c->role));
	for (unsigned int role = CONF_ROLE_MASTER; role <= CONF_ROLE_AGENT;
	     role <<= 1) {
		char **v = NULL;
		int n = 0;

		if (!(c->role & role))
			continue;
		if (build_argv(c, role, 0, NULL, &n, &v) < 0) {
			code = 1;
			continue;
		}
		printf("%s: famfsd", conf_role_name(role));
		for (int i = 0; i < n; i++)
			printf(" %s", v[i]);
		printf("\n");
		conf_free_argv(n, v);
	}
	return code;
}

/*
 * ExecCondition= helper: 0 when this node's file enables role, 1 when it
 * does not (systemd then skips the unit quietly), 255 when the file is
 * unusable (systemd fails the unit, the reason is in the journal).
 */
static int role_check(int argc, char **argv)
{
	const char *path = find_config(argc, argv);
	__attribute__((cleanup(conf_freep))) struct famfsd_conf *c = NULL;
	unsigned int role;

	if (argc < 2 || (strcmp(argv[1], "master") && strcmp(argv[1], "agent"))) {
		usage(stderr);
		return 255;
	}
	role = !strcmp(argv[1], "master") ? CONF_ROLE_MASTER : CONF_ROLE_AGENT;
	if (load(path ? "--config " : NULL, path ? path : CONF_DEFAULT_PATH,
		 &c) < 0)
		return 255;
	if (c->role & role)
		return 0;
	say(LOG_NOTICE, "famfsd: %s: role=%s, not running the %s here",
	    c->path, conf_role_name(c->role), argv[1]);
	return 1;
}

int main(int argc, char **argv)
{
	const char *config;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (has_bare_config(argc, argv)) {
		say(LOG_ERR, "famfsd: --config needs a FILE");
		return 2;
	}
	if (!strcmp(argv[1], "check-config"))
		return check_config(argc - 1, argv + 1);
	if (!strcmp(argv[1], "role-check"))
		return role_check(argc - 1, argv + 1);
	config = find_config(argc - 1, argv + 1);
	if (!strcmp(argv[1], "master"))
		return config ? run_with_config(config, CONF_ROLE_MASTER,
						argc - 1, argv + 1) :
				master_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "agent"))
		return config ? run_with_config(config, CONF_ROLE_AGENT,
						argc - 1, argv + 1) :
				agent(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (config && argv[1][0] == '-')
		return run_with_config(config, 0, argc, argv);
	fprintf(stderr, "famfsd: unknown role '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
