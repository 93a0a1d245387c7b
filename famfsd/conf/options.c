// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The table of famfsd's settings (options.h) and the usage text made from
 * it. Help texts are role-neutral: an entry is one setting, whichever
 * role's command line it is on. Each line of the usage stays within 80
 * columns (a unit test checks), so a help text is cut into lines by hand.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "conf/options.h"

static const char *const roles[] = { "master", "agent", "both", NULL };
/* famfs_coherence_parse() knows each of these (a unit test checks). */
static const char *const coherences[] = { "auto", "clwb", "clflushopt",
					  "clflush", "none", NULL };
/* agent_backend_find() knows each of these but auto (agent_backend_auto()). */
static const char *const backends[] = { "auto", "fuse", "kmod", NULL };

#define M CONF_ROLE_MASTER
#define A CONF_ROLE_AGENT
#define AT_M(f) .at_master = offsetof(struct conf_master, f) + 1
#define AT_A(f) .at_agent = offsetof(struct conf_agent, f) + 1

const struct conf_key conf_keys[K__COUNT] = {
	[K_POOL_PATH] = {
		"pool", "path", "pool", 'p', M | A, 0, CT_PATH,
		.arg = "DEVICE", AT_M(pool_path), AT_A(pool_path),
		.help = "pool device or file (/dev/daxX.Y, var/pool.img)",
	},
	[K_POOL_UUID] = {
		"pool", "uuid", "pool-uuid", 0, M | A, CONF_F_CONF_LAYER, CT_UUID,
		.arg = "UUID", AT_M(pool_uuid), AT_A(pool_uuid),
		.help = "the pool by UUID: this host's dax or fsdax\n"
			"device holding it (instead of --pool)",
	},
	[K_DEVICES] = {
		"pool", "devices", "devices", 0, M | A, CONF_F_CONF_LAYER, CT_GLOBS,
		.arg = "GLOBS", .dflt = "/dev/dax*.* /dev/pmem*",
		.help = "with --config: where to look for the pool\n"
			"of --pool-uuid",
	},
	[K_OFFSET] = {
		"pool", "offset", "offset", 0, M | A, 0, CT_SIZE,
		.arg = "N", .dflt = "0", AT_M(offset), AT_A(offset),
		.help = "pool start within the device (bytes, K/M/G/T)",
	},
	[K_COHERENCE] = {
		"pool", "coherence", "coherence", 0, M | A, 0, CT_COHERENCE,
		.choices = coherences, .arg = "MODE", .dflt = "auto",
		AT_M(coherence), AT_A(coherence),
		.help = "auto, clwb, clflushopt, clflush or none",
	},

	[K_LISTEN] = {
		"master", "listen", "listen", 'l', M, 0, CT_LISTEN,
		.arg = "ADDR:PORT", .dflt = "127.0.0.1:7470", AT_M(listen),
		.help = "API address; a socket systemd passes in\n"
			"(famfsd-api.socket) replaces it",
	},
	[K_TOKENS] = {
		"master", "tokens", "tokens", 0, M, 0, CT_PATH,
		.arg = "FILE", AT_M(tokens_path),
		.help = "bearer tokens, lines 'TOKEN ROLE [TENANT]';\n"
			"SIGHUP reads it again",
	},
	[K_ADMIN_TOKEN_FILE] = {
		"master", "admin_token_file", "admin-token-file", 0, M, 0, CT_PATH,
		.arg = "FILE", AT_M(admin_token_file),
		.help = "without --tokens: write the generated admin\n"
			"token here (mode 0600) instead of stdout",
	},
	[K_TLS_CERT] = {
		"master", "tls_cert", "tls-cert", 0, M, 0, CT_PATH,
		.arg = "FILE", AT_M(tls_cert),
		.help = "serve HTTPS with this certificate (PEM)",
	},
	[K_TLS_KEY] = {
		"master", "tls_key", "tls-key", 0, M, 0, CT_PATH,
		.arg = "FILE", AT_M(tls_key),
		.help = "the certificate's private key (PEM)",
	},
	[K_FORCE_TAKEOVER] = {
		/* No key on purpose: a decision for one start only. */
		NULL, NULL, "force-takeover", 0, M, 0, CT_BOOL,
		AT_M(force_takeover),
		.help = "become active even if another master is\n"
			"(through the election; the old one fences)",
	},
	[K_SLOT] = {
		"master", "slot", "slot", 0, M, 0, CT_UINT,
		1, 16, .arg = "N", .dflt = "1", AT_M(slot),
		.help = "this master's election slot, one per\n"
			"master-capable host (docs/failover.md)",
	},
	[K_ADVERTISE] = {
		"master", "advertise", "advertise", 0, M, 0, CT_URL,
		.arg = "URL", AT_M(advertise),
		.help = "API address others reach this master at;\n"
			"default from --listen when it names one",
	},
	[K_LEASE_SECONDS] = {
		"master", "lease_seconds", "lease-seconds", 0, M, 0, CT_UINT,
		1, 3600, .arg = "N", .dflt = "2", AT_M(lease_seconds),
		.help = "lease W: a standby takes over after the\n"
			"active master is silent this long, seconds",
	},
	[K_RECLAIM_GRACE_MS] = {
		"master", "reclaim_grace_ms", "reclaim-grace-ms", 0, M, 0, CT_UINT,
		0, 3600000, .arg = "N", .dflt = "3000", AT_M(reclaim_grace_ms),
		.help = "no reclaim this long after start (empty roster)",
	},
	[K_AGENT_TIMEOUT] = {
		"master", "agent_timeout", "agent-timeout", 0, M, 0, CT_UINT,
		1, 86400, .arg = "N", .dflt = "15", AT_M(agent_timeout_s),
		.help = "seconds until a silent agent is stale",
	},
	[K_COMPACT_AT] = {
		"master", "compact_at", "compact-at", 0, M, 0, CT_UINT,
		10, 90, .arg = "PERCENT", .dflt = "50", AT_M(compact_at),
		.help = "compact when a log generation is this full",
	},
	[K_SCRUB_RATE] = {
		"master", "scrub_rate", "scrub-rate", 0, M, 0, CT_UINT,
		0, 4096, .arg = "MIB", .dflt = "16", AT_M(scrub_rate),
		.help = "MiB/s the log scrub re-reads (0: no scrub)",
	},
	[K_HTTP_THREADS] = {
		"master", "http_threads", "http-threads", 0, M, 0, CT_UINT,
		1, 64, .arg = "N", .dflt = "2", AT_M(http_threads),
		.help = "HTTP polling threads",
	},
	[K_MAX_CONNECTIONS] = {
		"master", "max_connections", "max-connections", 0, M, 0, CT_UINT,
		1, 65536, .arg = "N", .dflt = "8192", AT_M(conn_limit),
		.help = "connections; past it the oldest idle close",
	},
	[K_MAX_PER_IP] = {
		"master", "max_per_ip", "max-per-ip", 0, M, 0, CT_UINT,
		1, 65536, .arg = "N", .dflt = "256", AT_M(per_ip_limit),
		.help = "connections per client address",
	},
	[K_IDLE_TIMEOUT] = {
		"master", "idle_timeout", "idle-timeout", 0, M, 0, CT_UINT,
		1, 86400, .arg = "N", .dflt = "90", AT_M(conn_timeout_s),
		.help = "seconds before an idle connection closes",
	},
	[K_HEADER_TIMEOUT] = {
		"master", "header_timeout", "header-timeout", 0, M, 0, CT_UINT,
		1, 3600, .arg = "N", .dflt = "10", AT_M(header_timeout_s),
		.help = "seconds from a request's first byte to the\n"
			"end of its headers",
	},
	[K_BODY_TIMEOUT] = {
		"master", "body_timeout", "body-timeout", 0, M, 0, CT_UINT,
		1, 3600, .arg = "N", .dflt = "30", AT_M(body_timeout_s),
		.help = "seconds from a request's headers to the end\n"
			"of its body",
	},

	[K_MOUNT] = {
		"agent", "mount", "mount", 0, A, 0, CT_PATH,
		.arg = "DIR", AT_A(mount),
		.help = "mount point (created if missing)",
	},
	[K_BACKEND] = {
		"agent", "backend", "backend", 0, A, 0, CT_CHOICE,
		.choices = backends, .arg = "NAME", .dflt = "auto",
		AT_A(backend_name),
		.help = "auto, fuse or kmod (the famfsd kernel module,\n"
			"on a pmem or dax device); auto: kmod when\n"
			"the module is loaded and --pool is a device",
	},
	[K_MASTER_URL] = {
		"agent", "master_url", "master", 0, A, 0, CT_URLS,
		.arg = "URL[,URL]", AT_A(master_url),
		.help = "master API, e.g. http://10.0.0.1:7470: change\n"
			"feed and heartbeats (without: the pool only);\n"
			"every master-capable host, comma separated: the\n"
			"address the pool publishes comes first",
	},
	[K_TOKEN_FILE] = {
		"agent", "token_file", "token-file", 0, A, 0, CT_PATH,
		.arg = "FILE", AT_A(token_file), .clears = "token",
		.help = "bearer token for the master, the file's first\n"
			"token line; read again when refused",
	},
	[K_TOKEN] = {
		/* No key: the file names a token file instead. */
		NULL, NULL, "token", 0, A, 0, CT_TOKEN,
		.arg = "TOKEN", AT_A(token), .clears = "token-file",
		.help = "bearer token (visible in ps: prefer\n"
			"--token-file)",
	},
	[K_AGENT_ID] = {
		"agent", "agent_id", "agent-id", 0, A, 0, CT_AGENT_ID,
		.arg = "ID", AT_A(agent_id),
		.help = "id in heartbeats (default: machine id and\n"
			"a hash of the mount point)",
	},
	[K_ADDRESS] = {
		"agent", "address", "address", 0, A, 0, CT_STRING,
		.arg = "ADDR", .dflt = "", AT_A(address),
		.help = "address reported in heartbeats",
	},
	[K_POLL_MS] = {
		"agent", "poll_ms", "poll-ms", 0, A, 0, CT_UINT,
		1, 60000, .arg = "N", .dflt = "50", AT_A(poll_ms),
		.help = "poll the log tail every N ms",
	},
	[K_DIRECT_IO] = {
		"agent", "direct_io", "direct-io", 0, A, 0, CT_BOOL,
		AT_A(direct_io),
		.help = "every read and write goes to the pool (no page\n"
			"cache; shared writable mmap is then refused)",
	},
	[K_META_RW] = {
		"agent", "meta_rw", "meta-rw", 0, A, 0, CT_BOOL,
		AT_A(meta_rw),
		.help = "kmod: a master runs on this host; let it write\n"
			"the pool metadata through DIR/.famfsd/pool",
	},

	[K_VERBOSE] = {
		"famfsd", "verbose", "verbose", 'v', A, 0, CT_BOOL,
		AT_A(verbose),
		.help = "log every replay step and heartbeat reply",
	},
	[K_CONFIG] = {
		NULL, NULL, "config", 0, M | A, CONF_F_CONF_LAYER, CT_STRING,
		.arg = "FILE", AT_M(config_path),
		.help = "read options from FILE first; the command\n"
			"line wins (docs/config.md)",
	},
	[K_HELP] = {
		NULL, NULL, "help", 'h', M | A, 0, CT_BOOL,
		.help = "print this text",
	},
	[K_ROLE] = {
		"famfsd", "role", NULL, 0, 0, 0, CT_CHOICE, .choices = roles,
	},
};
#undef M
#undef A

const struct conf_key *conf_key_by_option(const char *option)
{
	for (int i = 0; i < K__COUNT; i++)
		if (conf_keys[i].option && !strcmp(conf_keys[i].option, option))
			return &conf_keys[i];
	return NULL;
}

void *conf_key_field(const struct conf_key *k, unsigned int role,
		     void *settings)
{
	size_t at = role == CONF_ROLE_MASTER ? k->at_master :
		    role == CONF_ROLE_AGENT ? k->at_agent : 0;

	return at ? (char *)settings + at - 1 : NULL;
}

/* What each role's usage says before and after the options. */
static const struct {
	const char *synopsis, *about;
} role_usage[] = {
	[0] = {
		"--pool DEVICE [options]",
		"The pool's writer: replays the log and serves the HTTP API; the\n"
		"active one of several writes, standbys follow and take over\n"
		"(docs/master.md, docs/failover.md).",
	},
	[1] = {
		"--pool DEVICE --mount DIR [options]",
		"Follows the pool's metadata log into a mount at DIR, with FUSE or\n"
		"the famfsd kernel module (docs/fuse.md, docs/kmod.md).",
	},
};

/* Where the help texts start: the longest option and its value fit before. */
#define USAGE_COLUMN	31
#define USAGE_WIDTH	80

/* " (2-3600, default 10)": what the table knows beyond the help text. */
static void usage_suffix(const struct conf_key *k, char *buf, size_t size)
{
	bool dflt = k->dflt && *k->dflt;

	buf[0] = '\0';
	if (k->type == CT_UINT)
		snprintf(buf, size, " (%llu-%llu%s%s)", (unsigned long long)k->min,
			 (unsigned long long)k->max, dflt ? ", default " : "",
			 dflt ? k->dflt : "");
	else if (dflt)
		snprintf(buf, size, " (default %s)", k->dflt);
}

/*
 * "  -p, --pool DEVICE", then the help text's lines from USAGE_COLUMN on;
 * the range and default go after its last line, or on a line of their
 * own when they do not fit.
 */
static void usage_option(const struct conf_key *k, FILE *f)
{
	const char *h = k->help;
	char suffix[128];
	int n, col;

	if (k->short_opt)
		n = fprintf(f, "  -%c, --%s", k->short_opt, k->option);
	else
		n = fprintf(f, "      --%s", k->option);
	if (k->type != CT_BOOL)
		n += fprintf(f, " %s", k->arg);
	for (col = n; *h; col = 0) {
		size_t len = strcspn(h, "\n");

		fprintf(f, "%s%*s%.*s", col ? "" : "\n", USAGE_COLUMN - col, "",
			(int)len, h);
		col = USAGE_COLUMN + (int)len;
		h += len;
		h += *h == '\n';
		if (!*h)
			break;
	}
	usage_suffix(k, suffix, sizeof(suffix));
	if (col + (int)strlen(suffix) > USAGE_WIDTH)
		fprintf(f, "\n%*s", USAGE_COLUMN - 1, "");
	fprintf(f, "%s\n", suffix);
}

void conf_usage(unsigned int role, FILE *f)
{
	const char *name = role == CONF_ROLE_MASTER ? "master" : "agent";
	unsigned int i = role == CONF_ROLE_MASTER ? 0 : 1;

	fprintf(f, "usage: famfsd %s %s\n"
		   "       famfsd %s --config FILE [options]\n\n%s\n\n",
		name, role_usage[i].synopsis, name, role_usage[i].about);
	for (int k = 0; k < K__COUNT; k++)
		if (conf_keys[k].roles & role)
			usage_option(&conf_keys[k], f);
}
