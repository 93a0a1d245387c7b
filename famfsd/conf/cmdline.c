// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A role's command line, parsed by the table (options.h): getopt_long's
 * options are built from the entries the role has, each value is checked
 * by its entry's type and stored into the entry's field, and every error
 * names the option it is about. getopt's own messages are off (opterr):
 * it would name the role ("agent: unrecognized option") and could not say
 * why a value is bad.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conf/options.h"

/* getopt_long's value for entry k; short options are their character. */
#define OPT_VAL(k)	(256 + (k))

/* Rules across options, checked once all are in. */
static const struct conf_rule {
	enum { RULE_ONE_OF, RULE_NEEDED, RULE_TOGETHER } kind;
	int a, b;
} rules[] = {
	{ RULE_ONE_OF, K_POOL_PATH, K_POOL_UUID },
	{ RULE_NEEDED, K_MOUNT, -1 },
	{ RULE_TOGETHER, K_TLS_CERT, K_TLS_KEY },
};

/* One parse in progress. */
struct args {
	unsigned int role;
	void *settings;
	bool given[K__COUNT];
	char *why;
	size_t why_size;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct args *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->why, a->why_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A checked value into its field; norm is conf_check_value()'s. */
static void store(const struct conf_key *k, const char *value,
		  const char *norm, void *field)
{
	enum famfs_coherence coh = FAMFS_COH_AUTO;

	switch (k->type) {
	case CT_BOOL:
		*(bool *)field = !strcmp(norm, "yes");
		break;
	case CT_SIZE:
		*(uint64_t *)field = strtoull(norm, NULL, 10);
		break;
	case CT_UINT:
		*(unsigned int *)field = (unsigned int)strtoul(norm, NULL, 10);
		break;
	case CT_COHERENCE:
		famfs_coherence_parse(norm, &coh);
		*(enum famfs_coherence *)field = coh;
		break;
	case CT_CHOICE:
		/* The table's own word: it outlives any buffer. */
		for (size_t i = 0; k->choices[i]; i++)
			if (!strcmp(k->choices[i], norm))
				*(const char **)field = k->choices[i];
		break;
	default:
		/* As given; the normalized copy lives in a buffer. */
		*(const char **)field = value;
		break;
	}
}

/* Sets every field of the role to its entry's default. */
static int set_defaults(struct args *a)
{
	char norm[256];

	memset(a->settings, 0, a->role == CONF_ROLE_MASTER ?
	       sizeof(struct conf_master) : sizeof(struct conf_agent));
	for (int i = 0; i < K__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];
		void *field = conf_key_field(k, a->role, a->settings);
		const char *why;

		if (!field || !k->dflt)
			continue;
		why = conf_check_value(k, k->dflt, CONF_FROM_ARGS, norm,
				       sizeof(norm));
		if (why)
			return fail(a, "bad default '%s' of --%s: %s", k->dflt,
				    k->option, why);
		store(k, k->dflt, norm, field);
	}
	return 0;
}

/* Back to the default: the other option of a "last one wins" pair. */
static void clear(struct args *a, const char *option)
{
	const struct conf_key *k = conf_key_by_option(option);
	void *field = k ? conf_key_field(k, a->role, a->settings) : NULL;

	if (!field)
		return;
	a->given[k - conf_keys] = false;
	/* Such pairs are strings without a default (--token, --token-file). */
	*(const char **)field = NULL;
}

static int set(struct args *a, int id, const char *value)
{
	const struct conf_key *k = &conf_keys[id];
	void *field = conf_key_field(k, a->role, a->settings);
	char norm[4096];
	const char *why;

	if (id == K_HELP)
		return 1;
	if (!field)
		return fail(a, "--%s works only with --config", k->option);
	if (k->type == CT_BOOL) {
		*(bool *)field = true;
	} else {
		why = conf_check_value(k, value, CONF_FROM_ARGS, norm, sizeof(norm));
		/* A token is a secret: even a bad one stays out of the log. */
		if (why && k->type == CT_TOKEN)
			return fail(a, "bad value for --%s: %s", k->option, why);
		if (why)
			return fail(a, "bad value '%s' for --%s: %s", value,
				    k->option, why);
		store(k, value, norm, field);
	}
	a->given[id] = true;
	if (k->clears)
		clear(a, k->clears);
	return 0;
}

static bool has(const struct args *a, int id)
{
	return id >= 0 && (conf_keys[id].roles & a->role);
}

static int check_rules(struct args *a)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct conf_rule *r = &rules[i];
		const char *oa = conf_keys[r->a].option;
		const char *ob = r->b >= 0 ? conf_keys[r->b].option : NULL;
		bool ga = a->given[r->a], gb = r->b >= 0 && a->given[r->b];

		if (!has(a, r->a))
			continue;
		if (r->kind == RULE_ONE_OF && !ga && !gb)
			return fail(a, "--%s or --%s is needed", oa, ob);
		if (r->kind == RULE_ONE_OF && ga && gb)
			return fail(a, "give --%s or --%s, not both", oa, ob);
		if (r->kind == RULE_NEEDED && !ga)
			return fail(a, "--%s is needed", oa);
		if (r->kind == RULE_TOGETHER && ga != gb)
			return fail(a, "--%s and --%s go together", oa, ob);
	}
	return 0;
}

/* getopt_long's tables for the role's entries. */
static void build_getopt(unsigned int role, struct option *longs, char *shorts)
{
	size_t n = 0, s = 0;

	shorts[s++] = ':';	/* a missing value returns ':', not '?' */
	for (int i = 0; i < K__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];
		int has_arg = k->type == CT_BOOL ? no_argument : required_argument;

		if (!k->option || !(k->roles & role))
			continue;
		longs[n++] = (struct option){ k->option, has_arg, NULL, OPT_VAL(i) };
		if (k->short_opt) {
			shorts[s++] = k->short_opt;
			if (has_arg == required_argument)
				shorts[s++] = ':';
		}
	}
	longs[n] = (struct option){ 0 };
	shorts[s] = '\0';
}

/* The entry getopt_long's value c stands for, or -1. */
static int key_of(unsigned int role, int c)
{
	if (c >= OPT_VAL(0) && c < OPT_VAL(K__COUNT))
		return c - OPT_VAL(0);
	for (int i = 0; c > 0 && i < K__COUNT; i++)
		if (conf_keys[i].short_opt == c && (conf_keys[i].roles & role))
			return i;
	return -1;
}

/* What getopt refused ('?' or ':'), in words that name the option. */
static int refused(struct args *a, int c, char **argv)
{
	int id = key_of(a->role, optopt);
	const char *arg = argv[optind - 1];

	if (c == ':' && id >= 0)
		return fail(a, "--%s needs a value", conf_keys[id].option);
	if (id >= 0)
		return fail(a, "--%s takes no value", conf_keys[id].option);
	if (optopt)
		return fail(a, "unknown option '-%c'", optopt);
	return fail(a, "unknown option '%.*s'", (int)strcspn(arg, "="), arg);
}

/*
 * The long option getopt_long has just matched, as typed: argv[optind - 1],
 * or the one before it when the value was the next argument.
 */
static const char *typed_option(char **argv)
{
	const char *last = argv[optind - 1];

	if (optarg == last)
		return argv[optind - 2];
	return last;
}

/*
 * getopt_long also takes a unique prefix of a long option ("--conf" for
 * --config). We refuse that: main.c and argv.c look for some options by
 * their full name before the role parses the command line, so a prefix
 * would mean one thing here and nothing there (an ignored --config), and
 * a prefix that is unique today stops being so when an option is added.
 */
static bool abbreviated(char **argv, const char *name)
{
	const char *typed = typed_option(argv) + 2;	/* past "--" */

	return strncmp(typed, name, strlen(name)) != 0 ||
	       (typed[strlen(name)] != '\0' && typed[strlen(name)] != '=');
}

int conf_parse_args(unsigned int role, int argc, char **argv, void *ret,
		    char *why, size_t why_size)
{
	struct args a = { .role = role, .settings = ret, .why = why,
			  .why_size = why_size };
	struct option longs[K__COUNT + 1];
	char shorts[2 * K__COUNT + 2];
	int c, r;

	r = set_defaults(&a);
	if (r < 0)
		return r;
	build_getopt(role, longs, shorts);
	opterr = 0;
	optind = 0;		/* GNU: start afresh (the unit tests parse often) */
	for (;;) {
		int li = -1;

		c = getopt_long(argc, argv, shorts, longs, &li);
		if (c == -1)
			break;
		if (c == '?' || c == ':')
			return refused(&a, c, argv);
		if (li >= 0 && abbreviated(argv, longs[li].name))
			return fail(&a, "unknown option '%s' (options are not "
				    "abbreviated; did you mean --%s?)",
				    typed_option(argv), longs[li].name);
		r = set(&a, key_of(role, c), optarg);
		if (r != 0)
			return r;
	}
	if (optind < argc)
		return fail(&a, "unexpected argument '%s'", argv[optind]);
	return check_rules(&a);
}
