// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The settings table (famfsd/conf/options.c) and the command-line parse
 * made from it (conf/cmdline.c): the table is consistent, every option
 * lands in its field, ranges and defaults hold, rules across options
 * hold, every error names its option, the usage lists exactly each role's
 * options, and docs/config.md lists every key of the file.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"
#include "conf/options.h"

#define M CONF_ROLE_MASTER
#define A CONF_ROLE_AGENT
#define UUID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define TOKEN "agent-0123456789abcdef"

static char why[512];

/* Parses a NULL-terminated list of arguments after the role's name. */
static int parse_v(unsigned int role, void *ret, va_list ap)
{
	char *argv[64];
	int argc = 0;
	const char *s;

	argv[argc++] = (char *)(role == M ? "master" : "agent");
	while ((s = va_arg(ap, const char *)) != NULL) {
		assert_true(argc < 63);
		argv[argc++] = (char *)s;
	}
	argv[argc] = NULL;
	why[0] = '\0';
	return conf_parse_args(role, argc, argv, ret, why, sizeof(why));
}

static int master(struct conf_master *c, ...)
{
	va_list ap;
	int r;

	va_start(ap, c);
	r = parse_v(M, c, ap);
	va_end(ap);
	return r;
}

static int agent(struct conf_agent *c, ...)
{
	va_list ap;
	int r;

	va_start(ap, c);
	r = parse_v(A, c, ap);
	va_end(ap);
	return r;
}

/* One argument list for either role (the settings struct is big enough). */
static int parse_any(unsigned int role, ...)
{
	union { struct conf_master m; struct conf_agent a; } u;
	va_list ap;
	int r;

	va_start(ap, role);
	r = parse_v(role, &u, ap);
	va_end(ap);
	return r;
}

static void test_table_is_consistent(void **state)
{
	char buf[4096];

	(void)state;
	for (int i = 0; i < K__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];
		const char *what = k->option ? k->option : k->name;
		bool layer = k->flags & CONF_F_CONF_LAYER, fieldless;

		print_message("  %s\n", what);
		/* Every entry is a key, an option or both. */
		assert_true(k->option || k->name);
		assert_true(!k->section == !k->name);
		if (k->option) {
			assert_non_null(k->help);
			assert_true(k->roles != 0);
			assert_true(k->type == CT_BOOL || k->arg);
		} else {
			assert_int_equal(k->roles, 0);
		}
		/*
		 * A role's option has a field there, unless main.c's layer takes
		 * it or the parse answers it (--help); no other role's has one.
		 */
		fieldless = layer || i == K_HELP;
		assert_true((k->roles & M) ? k->at_master || fieldless : !k->at_master);
		assert_true((k->roles & A) ? k->at_agent || fieldless : !k->at_agent);
		if (k->type == CT_UINT) {
			assert_true(k->min <= k->max);
			assert_true(k->max <= UINT_MAX);
		}
		if (k->type == CT_CHOICE || k->type == CT_COHERENCE) {
			assert_non_null(k->choices);
			/* The usage names every choice. */
			for (size_t c = 0; k->help && k->choices[c]; c++)
				assert_non_null(strstr(k->help, k->choices[c]));
		}
		if (k->type == CT_COHERENCE)
			for (size_t c = 0; k->choices[c]; c++) {
				enum famfs_coherence coh;

				assert_int_equal(famfs_coherence_parse(k->choices[c],
								       &coh), 0);
			}
		/* A default is a good value, in the file as on the command line. */
		if (k->dflt && *k->dflt) {
			assert_null(conf_check_value(k, k->dflt, CONF_FROM_ARGS,
						     buf, sizeof(buf)));
			assert_null(conf_check_value(k, k->dflt, CONF_FROM_FILE,
						     buf, sizeof(buf)));
		}
		if (k->clears) {
			const struct conf_key *o = conf_key_by_option(k->clears);

			assert_non_null(o);
			assert_int_equal(o->roles, k->roles);
			assert_string_equal(o->clears, k->option);
		}
		/* Unique options, short options and keys. */
		for (int j = 0; j < i; j++) {
			const struct conf_key *o = &conf_keys[j];

			if (k->option && o->option)
				assert_string_not_equal(k->option, o->option);
			if (k->short_opt && (k->roles & o->roles))
				assert_int_not_equal(k->short_opt, o->short_opt);
			if (k->name && o->name && !strcmp(k->section, o->section))
				assert_string_not_equal(k->name, o->name);
		}
	}
}

static void test_defaults(void **state)
{
	struct conf_master m;
	struct conf_agent a;

	(void)state;
	memset(&m, 0xa5, sizeof(m));	/* the parse must set every field */
	assert_int_equal(master(&m, "--pool", "p", NULL), 0);
	assert_string_equal(m.pool_path, "p");
	assert_null(m.pool_uuid);
	assert_int_equal(m.offset, 0);
	assert_int_equal(m.coherence, FAMFS_COH_AUTO);
	assert_string_equal(m.listen, "127.0.0.1:7470");
	assert_null(m.tokens_path);
	assert_null(m.admin_token_file);
	assert_null(m.tls_cert);
	assert_null(m.tls_key);
	assert_false(m.force_takeover);
	assert_int_equal(m.lease_seconds, 2);
	assert_int_equal(m.slot, 1);
	assert_null(m.advertise);
	assert_int_equal(m.reclaim_grace_ms, 3000);
	assert_int_equal(m.agent_timeout_s, 15);
	assert_int_equal(m.http_threads, 2);
	assert_int_equal(m.conn_limit, 8192);
	assert_int_equal(m.per_ip_limit, 256);
	assert_int_equal(m.conn_timeout_s, 90);
	assert_int_equal(m.header_timeout_s, 10);
	assert_int_equal(m.body_timeout_s, 30);
	assert_null(m.config_path);

	memset(&a, 0xa5, sizeof(a));
	assert_int_equal(agent(&a, "--pool", "p", "--mount", "d", NULL), 0);
	assert_string_equal(a.pool_path, "p");
	assert_string_equal(a.mount, "d");
	assert_null(a.pool_uuid);
	assert_int_equal(a.offset, 0);
	assert_int_equal(a.coherence, FAMFS_COH_AUTO);
	assert_null(a.master_url);
	assert_null(a.token);
	assert_null(a.token_file);
	assert_null(a.agent_id);
	assert_string_equal(a.address, "");
	assert_int_equal(a.poll_ms, 50);
	assert_string_equal(a.backend_name, "auto");
	assert_null(a.backend);		/* the agent's to set */
	assert_false(a.direct_io);
	assert_false(a.meta_rw);
	assert_false(a.verbose);
}

static void test_every_option_lands_in_its_field(void **state)
{
	struct conf_master m;
	struct conf_agent a;

	(void)state;
	assert_int_equal(master(&m, "-p", "/dev/dax0.0", "--offset", "2M",
				"--coherence", "CLFlush", "-l", "[::1]:7000",
				"--tokens", "t", "--admin-token-file", "a",
				"--tls-cert", "c", "--tls-key=k", "--force-takeover",
				"--lease-seconds", "20", "--reclaim-grace-ms", "0",
				"--agent-timeout", "30", "--http-threads", "4",
				"--max-connections", "10", "--max-per-ip", "5",
				"--idle-timeout", "60", "--config", "f.conf", NULL), 0);
	assert_string_equal(m.pool_path, "/dev/dax0.0");
	assert_int_equal(m.offset, 2u << 20);
	assert_int_equal(m.coherence, FAMFS_COH_CLFLUSH);
	assert_string_equal(m.listen, "[::1]:7000");
	assert_string_equal(m.tokens_path, "t");
	assert_string_equal(m.admin_token_file, "a");
	assert_string_equal(m.tls_cert, "c");
	assert_string_equal(m.tls_key, "k");
	assert_true(m.force_takeover);
	assert_int_equal(m.lease_seconds, 20);
	assert_int_equal(m.reclaim_grace_ms, 0);
	assert_int_equal(m.agent_timeout_s, 30);
	assert_int_equal(m.http_threads, 4);
	assert_int_equal(m.conn_limit, 10);
	assert_int_equal(m.per_ip_limit, 5);
	assert_int_equal(m.conn_timeout_s, 60);
	assert_string_equal(m.config_path, "f.conf");

	assert_int_equal(master(&m, "--pool-uuid", UUID, NULL), 0);
	assert_string_equal(m.pool_uuid, UUID);
	assert_null(m.pool_path);

	assert_int_equal(agent(&a, "--pool", "var/pool.img", "--offset", "4k",
			       "--coherence", "none", "--mount", "var/mnt",
			       "--master", "https://10.0.0.1:7470",
			       "--token", TOKEN, "--agent-id", "host-1.a:b_c",
			       "--address", "10.0.0.2", "--poll-ms", "60000",
			       "--backend", "KMOD", "--direct-io", "--meta-rw",
			       "-v", NULL), 0);
	assert_string_equal(a.pool_path, "var/pool.img");
	assert_int_equal(a.offset, 4096);
	assert_int_equal(a.coherence, FAMFS_COH_NONE);
	assert_string_equal(a.mount, "var/mnt");
	assert_string_equal(a.master_url, "https://10.0.0.1:7470");
	assert_string_equal(a.token, TOKEN);
	assert_string_equal(a.agent_id, "host-1.a:b_c");
	assert_string_equal(a.address, "10.0.0.2");
	assert_int_equal(a.poll_ms, 60000);
	assert_string_equal(a.backend_name, "kmod");
	assert_true(a.direct_io);
	assert_true(a.meta_rw);
	assert_true(a.verbose);
}

/* A good command line of role, plus a1 and a2 (either may be NULL). */
static int parse_with(unsigned int role, const char *a1, const char *a2)
{
	return role == M ? parse_any(M, "--pool", "p", a1, a2, NULL) :
			   parse_any(A, "--pool", "p", "--mount", "d", a1, a2, NULL);
}

/* Each integer option at and beyond both ends of its range. */
static void test_ranges(void **state)
{
	(void)state;
	for (int i = 0; i < K__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];
		unsigned int role = (k->roles & M) ? M : A;
		char opt[64], lo[32], hi[32], below[32], above[32];

		if (k->type != CT_UINT || !k->option)
			continue;
		snprintf(opt, sizeof(opt), "--%s", k->option);
		snprintf(lo, sizeof(lo), "%llu", (unsigned long long)k->min);
		snprintf(hi, sizeof(hi), "%llu", (unsigned long long)k->max);
		snprintf(below, sizeof(below), "%lld", (long long)k->min - 1);
		snprintf(above, sizeof(above), "%llu", (unsigned long long)k->max + 1);
		print_message("  %s %s..%s\n", opt, lo, hi);
		assert_int_equal(parse_with(role, opt, lo), 0);
		assert_int_equal(parse_with(role, opt, hi), 0);
		assert_int_equal(parse_with(role, opt, above), -EINVAL);
		assert_non_null(strstr(why, opt));
		assert_non_null(strstr(why, "want an integer from"));
		/* No suffixes, signs, spaces or hex for an integer. */
		assert_int_equal(parse_with(role, opt, "1k"), -EINVAL);
		assert_int_equal(parse_with(role, opt, " 5"), -EINVAL);
		assert_int_equal(parse_with(role, opt, "+5"), -EINVAL);
		assert_int_equal(parse_with(role, opt, "0x10"), -EINVAL);
		if (k->min > 0) {
			assert_int_equal(parse_with(role, opt, below), -EINVAL);
			assert_non_null(strstr(why, opt));
		}
	}
	/* A size beyond 64 bits, and one whose suffix takes it beyond. */
	assert_int_equal(parse_any(M, "--pool", "p", "--offset",
				   "18446744073709551616", NULL), -EINVAL);
	assert_int_equal(parse_any(M, "--pool", "p", "--offset", "17179869184G",
				   NULL), -EINVAL);
	assert_non_null(strstr(why, "--offset"));
}

/* A value of this type that the type refuses. */
static const char *bad_value(enum conf_type t)
{
	switch (t) {
	case CT_STRING:		return "bell\a";
	case CT_PATH:		return "";
	case CT_GLOBS:		return "relative*";
	case CT_SIZE:		return "zz";
	case CT_UINT:		return "many";
	case CT_CHOICE:		return "bogus";
	case CT_COHERENCE:	return "bogus";
	case CT_UUID:		return "zz";
	case CT_LISTEN:		return "localhost:7470";
	case CT_URL:		return "ftp://x";
	case CT_URLS:		return "http://a:1,,http://b:2";
	case CT_AGENT_ID:	return "a b";
	case CT_TOKEN:		return "short";
	case CT_BOOL:		break;
	}
	return NULL;
}

static void test_every_error_names_its_option(void **state)
{
	(void)state;
	for (int i = 0; i < K__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (!k->option)
			continue;
		for (unsigned int role = M; role <= A; role <<= 1) {
			char opt[64], eq[80];
			const char *bad = bad_value(k->type);

			if (!(k->roles & role))
				continue;
			snprintf(opt, sizeof(opt), "--%s", k->option);
			print_message("  %s %s\n", role == M ? "master" : "agent", opt);
			if (k->type == CT_BOOL) {
				snprintf(eq, sizeof(eq), "%s=yes", opt);
				assert_int_equal(parse_with(role, eq, NULL), -EINVAL);
				assert_non_null(strstr(why, "takes no value"));
			} else {
				assert_int_equal(parse_with(role, opt, bad), -EINVAL);
			}
			assert_non_null(strstr(why, opt));
			/* At the end without its value. */
			if (k->type != CT_BOOL) {
				assert_int_equal(parse_with(role, opt, NULL), -EINVAL);
				assert_non_null(strstr(why, opt));
				assert_non_null(strstr(why, "needs a value"));
			}
		}
	}
	/* The four the agent used to misname. */
	assert_int_equal(parse_with(A, "--poll-ms", "0"), -EINVAL);
	assert_string_equal(why, "bad value '0' for --poll-ms: want an integer "
			    "from 1 to 60000");
	assert_int_equal(parse_with(A, "--backend", "bogus"), -EINVAL);
	assert_string_equal(why, "bad value 'bogus' for --backend: want one of "
			    "auto, fuse, kmod");
	assert_int_equal(parse_with(A, "--offset", "zz"), -EINVAL);
	assert_non_null(strstr(why, "bad value 'zz' for --offset"));
	assert_int_equal(parse_with(A, "--agent-id", "a b"), -EINVAL);
	assert_non_null(strstr(why, "bad value 'a b' for --agent-id"));
	/* A token is not repeated in a message, even a bad one. */
	assert_int_equal(parse_with(A, "--token", "secret-but-short"), 0);
	assert_int_equal(parse_with(A, "--token", "secret shortish!"), -EINVAL);
	assert_null(strstr(why, "secret"));
	assert_non_null(strstr(why, "--token"));
}

static void test_rules_across_options(void **state)
{
	struct conf_master m;
	struct conf_agent a;

	(void)state;
	assert_int_equal(master(&m, NULL), -EINVAL);
	assert_string_equal(why, "--pool or --pool-uuid is needed");
	assert_int_equal(master(&m, "--pool", "p", "--pool-uuid", UUID, NULL),
			 -EINVAL);
	assert_string_equal(why, "give --pool or --pool-uuid, not both");
	assert_int_equal(agent(&a, "--pool", "p", NULL), -EINVAL);
	assert_string_equal(why, "--mount is needed");
	assert_int_equal(master(&m, "--pool", "p", "--tls-key", "k", NULL), -EINVAL);
	assert_string_equal(why, "--tls-cert and --tls-key go together");
	assert_int_equal(master(&m, "--pool", "p", "--tls-cert", "c", NULL), -EINVAL);

	/* --token and --token-file: the later one wins, the other is unset. */
	assert_int_equal(agent(&a, "--pool", "p", "--mount", "d", "--token", TOKEN,
			       "--token-file", "f", NULL), 0);
	assert_null(a.token);
	assert_string_equal(a.token_file, "f");
	assert_int_equal(agent(&a, "--pool", "p", "--mount", "d", "--token-file",
			       "f", "--token", TOKEN, NULL), 0);
	assert_string_equal(a.token, TOKEN);
	assert_null(a.token_file);
	/* Otherwise the last value of an option wins, as with getopt. */
	assert_int_equal(agent(&a, "--pool", "p", "--mount", "d", "--poll-ms", "5",
			       "--poll-ms", "7", NULL), 0);
	assert_int_equal(a.poll_ms, 7);

	/* Options of the other role, unknown ones, and leftovers. */
	assert_int_equal(master(&m, "--pool", "p", "--mount", "d", NULL), -EINVAL);
	assert_string_equal(why, "unknown option '--mount'");
	assert_int_equal(agent(&a, "--pool", "p", "--mount", "d", "-l", "x", NULL),
			 -EINVAL);
	assert_string_equal(why, "unknown option '-l'");
	assert_int_equal(agent(&a, "--pool", "p", "--mount", "d", "--nope=1", NULL),
			 -EINVAL);
	assert_string_equal(why, "unknown option '--nope'");
	assert_int_equal(master(&m, "--pool", "p", "extra", NULL), -EINVAL);
	assert_string_equal(why, "unexpected argument 'extra'");
	assert_int_equal(master(&m, "--pool", "p", "--", "--listen", NULL), -EINVAL);
	assert_string_equal(why, "unexpected argument '--listen'");
	/* Taken by main.c's configuration layer: not without --config. */
	assert_int_equal(master(&m, "--pool", "p", "--devices", "/dev/x*", NULL),
			 -EINVAL);
	assert_string_equal(why, "--devices works only with --config");
	/* --help wins over what is missing. */
	assert_int_equal(master(&m, "--help", NULL), 1);
	assert_int_equal(agent(&a, "-h", NULL), 1);
	assert_int_equal(agent(&a, "--help=x", NULL), -EINVAL);
	assert_string_equal(why, "--help takes no value");
}

/* Paths: absolute in the file, anything but empty on the command line. */
static void test_file_and_args_checks(void **state)
{
	const struct conf_key *pool = &conf_keys[K_POOL_PATH];
	char buf[128];

	(void)state;
	assert_null(conf_check_value(pool, "var/pool.img", CONF_FROM_ARGS, buf,
				     sizeof(buf)));
	assert_string_equal(conf_check_value(pool, "var/pool.img", CONF_FROM_FILE,
					     buf, sizeof(buf)), "want an absolute path");
	assert_non_null(conf_check_value(pool, "", CONF_FROM_ARGS, buf, sizeof(buf)));
	/* What the file's values become on the role's command line. */
	assert_null(conf_check_value(&conf_keys[K_OFFSET], "2MiB", CONF_FROM_FILE,
				     buf, sizeof(buf)));
	assert_string_equal(buf, "2097152");
	assert_null(conf_check_value(&conf_keys[K_COHERENCE], "NONE", CONF_FROM_FILE,
				     buf, sizeof(buf)));
	assert_string_equal(buf, "none");
	assert_null(conf_check_value(&conf_keys[K_DIRECT_IO], "On", CONF_FROM_FILE,
				     buf, sizeof(buf)));
	assert_string_equal(buf, "yes");
	assert_null(conf_check_value(&conf_keys[K_POOL_UUID],
				     "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
				     CONF_FROM_FILE, buf, sizeof(buf)));
	assert_string_equal(buf, UUID);
	assert_non_null(conf_check_value(&conf_keys[K_ADDRESS], "a\nb",
					 CONF_FROM_FILE, buf, sizeof(buf)));
}

/* The option names of the usage's option lines ("  -p, --pool DEVICE"). */
static size_t usage_options(unsigned int role, char names[][64], size_t max)
{
	char *text = NULL, *save = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	conf_usage(role, f);
	fclose(f);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *o = strstr(l, "--");

		assert_true(strlen(l) <= 80);
		if (strncmp(l, "  -", 3) != 0 && strncmp(l, "      --", 8) != 0)
			continue;
		assert_true(n < max);
		sscanf(o + 2, "%63[a-z-]", names[n++]);
	}
	free(text);
	return n;
}

static void test_usage_lists_each_option_once(void **state)
{
	(void)state;
	for (unsigned int role = M; role <= A; role <<= 1) {
		char names[K__COUNT + 4][64];
		size_t n = usage_options(role, names, K__COUNT + 4), want = 0;

		for (int i = 0; i < K__COUNT; i++) {
			const struct conf_key *k = &conf_keys[i];
			size_t found = 0;

			if (!(k->roles & role))
				continue;
			want++;
			for (size_t j = 0; j < n; j++)
				found += !strcmp(names[j], k->option);
			print_message("  %s --%s\n", role == M ? "master" : "agent",
				      k->option);
			assert_int_equal(found, 1);
		}
		assert_int_equal(n, want);
	}
}

/* docs/config.md, read from the source tree (the tests run from its root). */
static char *read_docs(void)
{
	FILE *f = fopen("docs/config.md", "re");
	char *text;
	long len;

	if (!f)
		fail_msg("docs/config.md not found: run the unit tests from the "
			 "source root (make test-unit)");
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

/* The row of the keys table whose first column names key, or NULL. */
static const char *docs_row(const char *docs, const char *key, char *row,
			    size_t size)
{
	char want[80];

	snprintf(want, sizeof(want), "`%s`", key);
	for (const char *l = docs, *nl; *l; l = nl ? nl + 1 : l + strlen(l)) {
		size_t n = strcspn(l, "\n");
		const char *cell_end;

		nl = l[n] ? l + n : NULL;
		if (l[0] != '|' || n >= size)
			continue;
		cell_end = memchr(l + 1, '|', n - 1);
		if (!cell_end)
			continue;
		memcpy(row, l, n);
		row[n] = '\0';
		row[cell_end - l] = '\0';	/* the first column alone */
		if (strstr(row, want)) {
			row[cell_end - l] = '|';
			return row;
		}
	}
	return NULL;
}

static void test_docs_list_every_key(void **state)
{
	char *docs = read_docs(), row[512], opt[80];
	const char *keys = strstr(docs, "## Keys");
	const char *section_end;

	(void)state;
	assert_non_null(keys);
	section_end = strstr(keys + 1, "\n## ");
	if (section_end)
		docs[section_end - docs] = '\0';
	for (int i = 0; i < K__COUNT; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (!k->name)
			continue;
		print_message("  [%s] %s\n", k->section, k->name);
		if (!docs_row(keys, k->name, row, sizeof(row)))
			fail_msg("docs/config.md lists no key '%s'", k->name);
		if (!k->option)
			continue;
		snprintf(opt, sizeof(opt), "`--%s`", k->option);
		if (!strstr(row, opt))
			fail_msg("docs/config.md: the row of '%s' does not name %s",
				 k->name, opt);
	}
	/* And every key the page lists is one of the table's. */
	for (const char *l = keys; (l = strstr(l, "\n| `")) != NULL; l++) {
		const char *cell = l + 3, *end = strchr(cell, '|');

		while (cell < end && (cell = strchr(cell, '`')) != NULL && cell < end) {
			char name[64] = "";
			bool known = false;

			sscanf(cell + 1, "%63[a-z_]", name);
			for (int i = 0; i < K__COUNT; i++)
				known |= conf_keys[i].name &&
					 !strcmp(conf_keys[i].name, name);
			if (!known)
				fail_msg("docs/config.md lists '%s', not a key", name);
			cell = strchr(cell + 1, '`') + 1;
		}
	}
	free(docs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_consistent),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option_lands_in_its_field),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_every_error_names_its_option),
		cmocka_unit_test(test_rules_across_options),
		cmocka_unit_test(test_file_and_args_checks),
		cmocka_unit_test(test_usage_lists_each_option_once),
		cmocka_unit_test(test_docs_list_every_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
