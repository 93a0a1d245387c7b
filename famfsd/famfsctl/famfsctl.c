// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl: admin CLI for famfsd pools. Offline commands work on the pool
 * device directly; online commands (docs/master.md) talk to the master's
 * API.
 *
 * The command line is parsed here for every command, from its famfsctl_cmd
 * table: its own options and the global ones it takes (CMD_* flags) may
 * come anywhere after the command name, in any order; options before the
 * command name are the old global position and still work. The same
 * tables give `famfsctl help [COMMAND]` and `COMMAND --help`.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famfsctl.h"
#include "famfsd_format.h"
#include "version.h"

static const struct famfsctl_cmd *const commands[] = {
	&famfsctl_mkfs, &famfsctl_fsck, &famfsctl_info, &famfsctl_logdump,
	&famfsctl_devices,
	&famfsctl_status, &famfsctl_ls, &famfsctl_stat, &famfsctl_getmap,
	&famfsctl_create, &famfsctl_mkdir, &famfsctl_rm, &famfsctl_cp,
	&famfsctl_batch, &famfsctl_quota, &famfsctl_agents, &famfsctl_compact,
};

#define N_COMMANDS	(sizeof(commands) / sizeof(commands[0]))

enum {
	OPT_URL = 0x200,
	OPT_MASTER,
	OPT_TOKEN,
	OPT_TOKEN_FILE,
	OPT_CACERT,
	OPT_VERSION,
};

/* The global options, and which commands take each (0: every command). */
static const struct {
	struct famfsctl_opt o;
	unsigned int flag;
} globals[] = {
	{ { "json", 'j', NULL, "print JSON" }, CMD_JSON },
	{ { "human", 'u', NULL, "sizes with units, times as UTC dates" },
	  CMD_HUMAN },
	{ { "offset", 'o', "N", "the pool starts N bytes into DEVICE" }, CMD_POOL },
	{ { "coherence", 'c', "MODE", "auto, clwb, clflushopt, clflush or none" },
	  CMD_POOL },
	{ { "url", OPT_URL, "URL[,URL]", "masters A,B (FAMFSD_URL, "
	    "http://127.0.0.1:7470)" },
	  CMD_ONLINE },
	{ { "master", OPT_MASTER, "URL[,URL]", "the same as --url" }, CMD_ONLINE },
	{ { "token", OPT_TOKEN, "TOKEN", "bearer token (FAMFSD_TOKEN)" }, CMD_ONLINE },
	{ { "token-file", OPT_TOKEN_FILE, "FILE", "token from FILE "
	    "(FAMFSD_TOKEN_FILE)" }, CMD_ONLINE },
	{ { "cacert", OPT_CACERT, "FILE", "CA file for https (FAMFSD_CACERT)" },
	  CMD_ONLINE },
	{ { "help", 'h', NULL, "this help" }, 0 },
};

#define N_GLOBALS	(sizeof(globals) / sizeof(globals[0]))

static const char exit_codes[] =
	"exit codes:\n"
	"  0   done; fsck: the pool is clean\n"
	"  1   fsck: errors found and repaired; online commands: the master\n"
	"      refused (its problem is printed); cp: a destination exists and\n"
	"      differs, or a source cannot be copied; devices prepare: refused\n"
	"  4   errors left in the pool: fsck and logdump found damage; cp read\n"
	"      back other bytes than it wrote\n"
	"  8   could not run: no such device, the master did not answer, an\n"
	"      I/O error, out of memory\n"
	"  16  usage error: unknown command or option, bad or missing value\n";

static const struct famfsctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static size_t n_own(const struct famfsctl_cmd *cmd)
{
	size_t n = 0;

	while (cmd->opts && cmd->opts[n].name)
		n++;
	return n;
}

static bool takes(const struct famfsctl_cmd *cmd, size_t global)
{
	return !globals[global].flag || (cmd->flags & globals[global].flag);
}

/* "  -o, --offset N             the pool starts ..." */
static void print_opt(FILE *f, const struct famfsctl_opt *o)
{
	char left[64], letter[8] = "    ";

	if (o->key < 0x80)
		snprintf(letter, sizeof(letter), "-%c, ", o->key);
	snprintf(left, sizeof(left), "%s--%s%s%s", letter, o->name,
		 o->arg ? " " : "", o->arg ? o->arg : "");
	fprintf(f, "  %-28s %s\n", left, o->help);
}

static void print_usage_line(FILE *f, const struct famfsctl_cmd *cmd)
{
	fprintf(f, "usage: famfsctl %s%s%s [OPTIONS]\n", cmd->name,
		*cmd->operands ? " " : "", cmd->operands);
}

static void command_help(const struct famfsctl_cmd *cmd)
{
	print_usage_line(stdout, cmd);
	printf("%s\n", cmd->summary);
	if (cmd->details)
		printf("\n%s", cmd->details);
	printf("\noptions:\n");
	for (size_t i = 0; cmd->opts && cmd->opts[i].name; i++)
		print_opt(stdout, &cmd->opts[i]);
	for (size_t i = 0; i < N_GLOBALS; i++)
		if (takes(cmd, i))
			print_opt(stdout, &globals[i].o);
	printf("\nOptions may come anywhere after the command; \"--\" ends them.\n"
	       "Sizes take K, M, G, T suffixes (powers of 1024).\n\n%s",
	       exit_codes);
}

static void general_help(FILE *f)
{
	fprintf(f, "usage: famfsctl COMMAND [ARGS] [OPTIONS]\n"
		   "       famfsctl help [COMMAND] | COMMAND --help | --version\n\n"
		   "offline commands (on a pool device, no master needed):\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (i && (commands[i]->flags & CMD_ONLINE) &&
		    !(commands[i - 1]->flags & CMD_ONLINE))
			fprintf(f, "online commands (through a running master's "
				   "API):\n");
		fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
	}
	fprintf(f, "\nglobal options (each command takes those that apply to "
		   "it):\n");
	for (size_t i = 0; i < N_GLOBALS; i++)
		print_opt(f, &globals[i].o);
	fprintf(f, "\n%s", exit_codes);
}

int famfsctl_usage(const struct famfsctl_args *a, const char *why)
{
	if (why)
		fprintf(stderr, "famfsctl %s: %s\n", a->cmd->name, why);
	print_usage_line(stderr, a->cmd);
	fprintf(stderr, "(famfsctl %s --help lists the options)\n", a->cmd->name);
	return EXIT_USAGE;
}

static const char *opt_name(const struct famfsctl_cmd *cmd, int key)
{
	for (size_t i = 0; cmd && cmd->opts && cmd->opts[i].name; i++)
		if (cmd->opts[i].key == key)
			return cmd->opts[i].name;
	for (size_t i = 0; i < N_GLOBALS; i++)
		if (globals[i].o.key == key)
			return globals[i].o.name;
	return "?";
}

int famfsctl_bad_value(const struct famfsctl_args *a,
		       const struct famfsctl_optval *v)
{
	fprintf(stderr, "famfsctl %s: bad value '%s' for --%s\n", a->cmd->name,
		v->arg ? v->arg : "", opt_name(a->cmd, v->key));
	return EXIT_USAGE;
}

/*
 * Applies one global option to g. 0, or EXIT_USAGE after saying which value
 * is bad (who: "famfsctl" or "famfsctl CMD").
 */
static int set_global(struct famfsctl_global *g, int key, const char *arg,
		      const char *who)
{
	switch (key) {
	case 'j':
		g->json = true;
		return 0;
	case 'u':
		g->human = true;
		return 0;
	case 'o':
		if (famfs_parse_size(arg, &g->offset) == 0)
			return 0;
		break;
	case 'c':
		if (famfs_coherence_parse(arg, &g->coherence) == 0)
			return 0;
		break;
	case OPT_URL:
	case OPT_MASTER:
		g->url = arg;
		return 0;
	case OPT_TOKEN:		/* the later of --token and --token-file wins */
		g->token = arg;
		g->token_file = NULL;
		return 0;
	case OPT_TOKEN_FILE:
		g->token_file = arg;
		g->token = NULL;
		return 0;
	case OPT_CACERT:
		g->cacert = arg;
		return 0;
	}
	fprintf(stderr, "%s: bad value '%s' for --%s\n", who, arg,
		opt_name(NULL, key));
	return EXIT_USAGE;
}

struct getopt_tables {
	struct option *lopts;
	size_t nl;
	char *sopts;
	size_t ns;
};

static void free_tables(struct getopt_tables *t)
{
	free(t->lopts);
	free(t->sopts);
}

#define _cleanup_tables_ __attribute__((cleanup(free_tables)))

/* Adds o; -EEXIST when its key is taken (a table bug, see build_tables). */
static int add_opt(struct getopt_tables *t, const struct famfsctl_opt *o)
{
	for (size_t i = 0; i < t->nl; i++)
		if (t->lopts[i].val == o->key)
			return -EEXIST;
	t->lopts[t->nl++] = (struct option){ o->name, o->arg ? required_argument :
					     no_argument, NULL, o->key };
	if (o->key >= 0x80)
		return 0;
	t->sopts[t->ns++] = (char)o->key;
	if (o->arg)
		t->sopts[t->ns++] = ':';
	return 0;
}

/*
 * getopt tables for a command (cmd, or NULL for the options before the
 * command name: every global one and --version). mode is the leading
 * character of the short options: '-' returns operands in order, '+' stops
 * at the first.
 */
static int build_tables(const struct famfsctl_cmd *cmd, char mode,
			struct getopt_tables *t)
{
	static const struct famfsctl_opt version = {
		"version", OPT_VERSION, NULL, "" };
	size_t own = cmd ? n_own(cmd) : 0, max = own + N_GLOBALS + 2;
	int r = 0;

	t->lopts = calloc(max, sizeof(*t->lopts));
	t->sopts = calloc(2 * max + 3, 1);
	if (!t->lopts || !t->sopts) {
		fprintf(stderr, "famfsctl: out of memory\n");
		return -ENOMEM;
	}
	t->sopts[t->ns++] = mode;
	t->sopts[t->ns++] = ':';	/* report a missing value as ':' */
	for (size_t i = 0; r == 0 && i < own; i++)
		r = add_opt(t, &cmd->opts[i]);
	for (size_t i = 0; r == 0 && i < N_GLOBALS; i++)
		if (!cmd || takes(cmd, i))
			r = add_opt(t, &globals[i].o);
	if (r == 0 && !cmd)
		r = add_opt(t, &version);
	/* Only a table edited wrongly gets here; every --help run checks. */
	if (r < 0)
		fprintf(stderr, "famfsctl: internal error: two options of '%s' "
			"share a key\n", cmd ? cmd->name : "famfsctl");
	return r;
}

static bool is_global(int key)
{
	for (size_t i = 0; i < N_GLOBALS; i++)
		if (globals[i].o.key == key)
			return true;
	return false;
}

/* Says which option getopt refused (c is '?' or ':'). */
static void bad_option(const char *who, int c, char **argv)
{
	const char *arg = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };

	/* A short option may sit in a cluster ("-jx"): name the letter. */
	if (optopt > 0 && optopt < 0x80 && strncmp(arg, "--", 2))
		arg = shortopt;
	if (c == ':')
		fprintf(stderr, "%s: missing value for '%s'\n", who, arg);
	else if (optopt && strchr(arg, '='))	/* a known flag, "--dir=1" */
		fprintf(stderr, "%s: '%.*s' takes no value\n", who,
			(int)(strchr(arg, '=') - arg), arg);
	else
		fprintf(stderr, "%s: unknown option '%s'\n", who, arg);
}

/*
 * Parses a command's line (argv[0] is its name) into a: the globals into
 * a->g, its own options in order, the operands. Returns -1 to run the
 * command, or the exit code: EXIT_CLEAN after --help, EXIT_USAGE.
 */
static int parse_command(const struct famfsctl_cmd *cmd, int argc, char **argv,
			 struct famfsctl_args *a)
{
	_cleanup_tables_ struct getopt_tables t = { 0 };
	char who[64];
	int c;

	a->cmd = cmd;
	snprintf(who, sizeof(who), "famfsctl %s", cmd->name);
	a->opts = calloc((size_t)argc, sizeof(*a->opts));
	a->argv = calloc((size_t)argc + 1, sizeof(*a->argv));
	if (!a->opts || !a->argv) {
		fprintf(stderr, "%s: out of memory\n", who);
		return EXIT_OPERATIONAL;
	}
	if (build_tables(cmd, '-', &t) < 0)
		return EXIT_OPERATIONAL;
	/* 0, not 1: getopt reads the ordering mode of the new table again. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, t.sopts, t.lopts, NULL)) != -1) {
		if (c == 1) {			/* an operand, in order */
			a->argv[a->argc++] = optarg;
		} else if (c == '?' || c == ':') {
			bad_option(who, c, argv);
			return famfsctl_usage(a, NULL);
		} else if (c == 'h') {
			command_help(cmd);
			return EXIT_CLEAN;
		} else if (is_global(c)) {
			if (set_global(&a->g, c, optarg, who))
				return EXIT_USAGE;
		} else {
			a->opts[a->n_opts++] = (struct famfsctl_optval){ c, optarg };
		}
	}
	while (optind < argc)			/* after "--" */
		a->argv[a->argc++] = argv[optind++];
	return -1;
}

/* famfsctl help [COMMAND] */
static int help(int argc, char **argv)
{
	const struct famfsctl_cmd *cmd;

	if (argc == 1) {
		general_help(stdout);
		return EXIT_CLEAN;
	}
	cmd = argc == 2 ? find_command(argv[1]) : NULL;
	if (!cmd) {
		fprintf(stderr, "famfsctl help: %s\n", argc == 2 ?
			"no such command (famfsctl help lists them)" :
			"usage: famfsctl help [COMMAND]");
		return EXIT_USAGE;
	}
	command_help(cmd);
	return EXIT_CLEAN;
}

/* The options before the command name. Returns -1 to go on, or the exit code. */
static int parse_leading(int argc, char **argv, struct famfsctl_global *g)
{
	_cleanup_tables_ struct getopt_tables t = { 0 };
	int c, r;

	if (build_tables(NULL, '+', &t) < 0)
		return EXIT_OPERATIONAL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, t.sopts, t.lopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			bad_option("famfsctl", c, argv);
			general_help(stderr);
			return EXIT_USAGE;
		}
		if (c == 'h') {
			general_help(stdout);
			return EXIT_CLEAN;
		}
		if (c == OPT_VERSION) {
			printf("famfsctl %s (pool format %u)\n", FAMFSD_VERSION,
			       FAMFS_FORMAT_VERSION);
			return EXIT_CLEAN;
		}
		r = set_global(g, c, optarg, "famfsctl");
		if (r)
			return r;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct famfsctl_args a = { 0 };
	const struct famfsctl_cmd *cmd;
	int r = parse_leading(argc, argv, &a.g);

	if (r >= 0)
		return r;
	if (optind >= argc) {
		general_help(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0)
		return help(argc - optind, argv + optind);
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "famfsctl: unknown command '%s' (famfsctl help "
			"lists them)\n", argv[optind]);
		return EXIT_USAGE;
	}
	r = parse_command(cmd, argc - optind, argv + optind, &a);
	if (r < 0)
		r = cmd->fn(&a);
	free(a.opts);
	free(a.argv);
	return r;
}
