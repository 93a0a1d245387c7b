// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl: admin CLI for famfsd pools. Offline commands work on the pool
 * device directly; online commands (see docs) talk to the master's API.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famfsctl.h"

static const struct {
	const char *name;
	famfsctl_cmd_fn fn;
	const char *usage;
} commands[] = {
	{ "mkfs", cmd_mkfs,
	  "mkfs DEVICE [--log-size N] [--alloc-unit N] [--create SIZE] [--force]" },
	{ "fsck", cmd_fsck, "fsck DEVICE [--repair]" },
	{ "info", cmd_info, "info DEVICE" },
	{ "logdump", cmd_logdump, "logdump DEVICE [--from SEQ] [--limit N]" },
	{ "devices", cmd_devices,
	  "devices [--json] | devices prepare DAXDEV [--offline]  (CXL/dax inventory)" },
	{ "status", cmd_status, "status                  (online: pool, log, tenants)" },
	{ "ls", cmd_ls, "ls [PATH]" },
	{ "stat", cmd_stat, "stat PATH" },
	{ "create", cmd_create,
	  "create PATH --size N [--mode OCTAL] [--uid N] [--gid N] [--tenant T]" },
	{ "mkdir", cmd_mkdir, "mkdir PATH [--mode OCTAL] [--uid N] [--gid N]" },
	{ "rm", cmd_rm, "rm PATH [--dir]" },
	{ "quota", cmd_quota,
	  "quota get [TENANT] | quota set TENANT [--max-bytes N] [--max-files N]" },
	{ "agents", cmd_agents, "agents [--evict ID]" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: famfsctl [--json] [--offset N] [--coherence MODE] "
		   "COMMAND ...\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  famfsctl %s\n", commands[i].usage);
	fprintf(f, "MODE: auto, clwb, clflushopt, clflush, none\n"
		   "online commands also take --url URL (FAMFSD_URL, default "
		   "http://127.0.0.1:7470),\n  --token T (FAMFSD_TOKEN), "
		   "--token-file F (FAMFSD_TOKEN_FILE), --cacert F, --json;\n"
		   "  they exit 0 when done, 1 when the master refused, 8 when "
		   "it could not be asked\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "offset", required_argument, NULL, 'o' },
		{ "coherence", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct famfsctl_global g = { 0 };
	int c;

	/* '+': stop at the command name; its own options follow it. */
	while ((c = getopt_long(argc, argv, "+jo:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			g.json = true;
			break;
		case 'o':
			if (famfs_parse_size(optarg, &g.offset) < 0) {
				fprintf(stderr, "famfsctl: bad --offset '%s'\n", optarg);
				return EXIT_OPERATIONAL;
			}
			break;
		case 'c':
			if (famfs_coherence_parse(optarg, &g.coherence) < 0) {
				fprintf(stderr, "famfsctl: bad --coherence '%s'\n",
					optarg);
				return EXIT_OPERATIONAL;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		default:
			usage(stderr);
			return EXIT_OPERATIONAL;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_OPERATIONAL;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			argv += optind;
			argc -= optind;
			optind = 0;	/* reset getopt for the command */
			return commands[i].fn(argc, argv, &g);
		}
	}
	fprintf(stderr, "famfsctl: unknown command '%s'\n", argv[optind]);
	usage(stderr);
	return EXIT_OPERATIONAL;
}
