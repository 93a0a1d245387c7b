/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one table of famfsd's settings (conf/options.c). Each entry is a
 * key of the configuration file, a long option of "famfsd master" and/or
 * "famfsd agent", or both; it says the value's type and range, its
 * default, its line of usage text, and where the parsed value goes in the
 * role's settings (struct conf_master, struct conf_agent). Everything
 * else is generated from it: getopt's long options, the check of every
 * value (from the file or the command line), the defaults, the mapping of
 * file keys to options and the usage text of "famfsd ROLE --help".
 *
 * Adding an option is adding one entry (and its field): the unit tests
 * (tests/unit/test_conf_options.c) and the integration test of bad values
 * (tests/integration/test_options.py) then cover it, and the unit tests
 * check docs/config.md lists every key.
 */
#ifndef FAMFSD_CONF_OPTIONS_H
#define FAMFSD_CONF_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cache.h"

enum conf_role {
	CONF_ROLE_MASTER = 1u << 0,
	CONF_ROLE_AGENT = 1u << 1,
	CONF_ROLE_BOTH = CONF_ROLE_MASTER | CONF_ROLE_AGENT,
};

/* Every entry of the table, in the order of the usage text. */
enum conf_key_id {
	K_POOL_PATH, K_POOL_UUID, K_DEVICES, K_OFFSET, K_COHERENCE,
	K_LISTEN, K_TOKENS, K_ADMIN_TOKEN_FILE, K_TLS_CERT, K_TLS_KEY,
	K_FORCE_TAKEOVER, K_SLOT, K_ADVERTISE, K_LEASE_SECONDS, K_RECLAIM_GRACE_MS, K_AGENT_TIMEOUT,
	K_COMPACT_AT, K_SCRUB_RATE,
	K_HTTP_THREADS, K_MAX_CONNECTIONS, K_MAX_PER_IP, K_IDLE_TIMEOUT,
	K_HEADER_TIMEOUT, K_BODY_TIMEOUT,
	K_MOUNT, K_BACKEND, K_MASTER_URL, K_TOKEN_FILE, K_TOKEN, K_AGENT_ID,
	K_ADDRESS, K_POLL_MS, K_DIRECT_IO, K_META_RW,
	K_VERBOSE, K_CONFIG, K_HELP, K_ROLE,
	K__COUNT
};

/* A value's type: how it is checked and how it is stored. */
enum conf_type {
	CT_STRING,	/* any text; const char * */
	CT_PATH,	/* a path, absolute in the file; const char * */
	CT_GLOBS,	/* absolute glob patterns, space separated; const char * */
	CT_BOOL,	/* file: yes/no, on/off...; option: a flag; bool */
	CT_SIZE,	/* bytes with an optional K/M/G/T suffix; uint64_t */
	CT_UINT,	/* a decimal integer within [min, max]; unsigned int */
	CT_CHOICE,	/* one word of choices[]; const char * (the choice) */
	CT_COHERENCE,	/* one word of choices[]; enum famfs_coherence */
	CT_UUID,	/* const char * */
	CT_LISTEN,	/* numeric ADDR:PORT or [V6ADDR]:PORT; const char * */
	CT_URL,		/* http:// or https://; const char * */
	CT_AGENT_ID,	/* 1-128 of [A-Za-z0-9._:-]; const char * */
	CT_TOKEN,	/* common/token_file.h's token_check; const char * */
	CT_URLS,	/* URL[,URL...] (common/url_list.h); const char * */
};

/* Where a value comes from: the file is stricter (absolute paths). */
enum conf_source { CONF_FROM_FILE, CONF_FROM_ARGS };

/*
 * With --config, famfsd/main.c's configuration layer (conf/argv.c) takes
 * the option from the command line and does not pass it to the role: it
 * resolves the pool itself (--pool-uuid, --devices) or re-adds it
 * (--config, for the master's reload).
 */
#define CONF_F_CONF_LAYER	(1u << 0)

struct conf_key {
	const char *section, *name;	/* the file's key; NULL: none */
	const char *option;		/* long option without "--"; NULL: none */
	char short_opt;			/* e.g. 'v'; 0: none */
	unsigned int roles;		/* whose command line has the option */
	unsigned int flags;		/* CONF_F_* */
	enum conf_type type;
	uint64_t min, max;		/* CT_UINT */
	const char *const *choices;	/* CT_CHOICE, CT_COHERENCE; NULL ends */
	const char *dflt;		/* the value when not given; NULL: none */
	const char *arg;		/* the value's name in the usage: "N" */
	const char *help;		/* usage text; '\n' starts a further line */
	const char *clears;		/* setting it unsets this option: the
					 * later of the two wins */
	/* Field offset + 1 in struct conf_master / conf_agent; 0: none. */
	size_t at_master, at_agent;
};

extern const struct conf_key conf_keys[K__COUNT];

/* famfsd master's settings, as its command line gave them. */
struct conf_master {
	const char *pool_path;
	const char *pool_uuid;		/* the role resolves it into pool_path */
	uint64_t offset;		/* pool start within the device */
	enum famfs_coherence coherence;
	const char *listen;		/* ADDR:PORT, [V6ADDR]:PORT */
	const char *tokens_path;	/* NULL: generate an admin token */
	const char *admin_token_file;	/* where a generated token goes */
	const char *tls_cert, *tls_key;
	bool force_takeover;
	unsigned int slot;		/* election slot + 1 (1..16) */
	const char *advertise;		/* API URL for others; NULL: derived */
	unsigned int lease_seconds;	/* W: silent this long, taken for dead */
	unsigned int reclaim_grace_ms;	/* no reclaim this soon after start */
	unsigned int agent_timeout_s;	/* an agent is stale after this */
	unsigned int compact_at;	/* % of a generation that starts one */
	unsigned int scrub_rate;	/* MiB/s the scrub re-reads, 0: off */
	unsigned int http_threads;
	unsigned int conn_limit, per_ip_limit, conn_timeout_s;
	unsigned int header_timeout_s;	/* request's first byte to headers */
	unsigned int body_timeout_s;	/* end of headers to end of body */
	const char *config_path;	/* --config: re-read on SIGHUP */
};

struct agent_backend;

/* famfsd agent's settings, as its command line gave them. */
struct conf_agent {
	const char *pool_path;
	const char *pool_uuid;		/* the role resolves it into pool_path */
	uint64_t offset;		/* pool start within the device */
	enum famfs_coherence coherence;
	const char *mount;
	const char *master_url;		/* URL[,URL...]; NULL: follow the pool only */
	const char *token;		/* bearer token, NULL without one */
	const char *token_file;		/* --token-file, re-read on a 401 */
	const char *agent_id;		/* NULL: the agent makes one up */
	const char *address;		/* reported in heartbeats, "" default */
	unsigned int poll_ms;
	const char *backend_name;	/* --backend: a word of its choices */
	const struct agent_backend *backend;	/* the agent's, from the name */
	bool direct_io;			/* FOPEN_DIRECT_IO on every open */
	bool meta_rw;			/* kmod: meta files writable (master here) */
	bool verbose;
};

/*
 * Parses a role's command line (argv[0] is the role's name) into ret (a
 * struct conf_master or conf_agent as role says): the table's defaults
 * first, then each option, then the rules across options (--pool or
 * --pool-uuid, --mount, --tls-cert with --tls-key). Returns 0; 1 for
 * --help (the caller prints conf_usage); -EINVAL with why filled, naming
 * the option. ret keeps pointers into argv.
 */
int conf_parse_args(unsigned int role, int argc, char **argv, void *ret,
		    char *why, size_t why_size);

/*
 * For a role's main: conf_parse_args(), then --pool-uuid resolved into the
 * pool's path. Prints the usage for --help (returns 1) and logs what is
 * wrong (returns -errno); 0: run.
 */
int conf_role_args(unsigned int role, int argc, char **argv, void *settings);

/* "famfsd ROLE --help": the usage text generated from the table. */
void conf_usage(unsigned int role, FILE *f);

/*
 * One value against its key's type. NULL when good (buf then holds the
 * normalized value: sizes and integers in decimal, booleans "yes"/"no",
 * choices and UUIDs in lower case), else why not (possibly written into
 * buf).
 */
const char *conf_check_value(const struct conf_key *k, const char *value,
			     enum conf_source from, char *buf, size_t size);

/* The entry of a long option (without "--"), or NULL. */
const struct conf_key *conf_key_by_option(const char *option);

/* The role's field of k in settings, or NULL when the role has none. */
void *conf_key_field(const struct conf_key *k, unsigned int role,
		     void *settings);

#endif
