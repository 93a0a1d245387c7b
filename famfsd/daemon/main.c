// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsd: one binary, two roles. "famfsd master" owns a pool's write side
 * and serves the HTTP API; "famfsd agent" follows the pool's log into a
 * local mount. Each role parses its own options.
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: famfsd master --pool DEVICE [options]\n"
		   "       famfsd agent --pool DEVICE --mount DIR [options]\n"
		   "       famfsd ROLE --help\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "master") == 0)
		return master_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "agent") == 0)
		return agent_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "famfsd: unknown role '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
