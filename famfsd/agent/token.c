// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent's bearer token: read from --token-file at start, and read
 * again when the master refuses it (401/403). Rotating an agent token is
 * then: put the new token in the master's token file and reload the
 * master (SIGHUP), write it to the agent's token file; each agent picks
 * it up at its next heartbeat, without a restart, so its mount stays.
 *
 * Each thread that talks to the master (heartbeat, change feed) owns its
 * HTTP client and refreshes it itself; nothing is shared but the path.
 * The file's rules (first token line, trimmed) are every token file's
 * (common/token_file.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/token_file.h"
#include "http/client.h"

static void wipe(char *token)
{
	if (token)
		explicit_bzero(token, strlen(token));
	free(token);
}

int agent_token_init(struct agent *a)
{
	const char *why = NULL;
	int r;

	if (!a->o.token_file)
		return 0;
	r = token_file_read_one(a->o.token_file, &a->token_read, &why);
	if (r < 0) {
		msg(MSG_ERR, "Failed to read --token-file '%s': %s",
		    a->o.token_file, r == -ENODATA ? "no token in it" :
		    r == -EINVAL ? why : strerror(-r));
		return r;
	}
	a->o.token = a->token_read;
	return 0;
}

void agent_token_free(struct agent *a)
{
	wipe(a->token_read);
	a->token_read = NULL;
}

bool agent_token_refresh(struct agent *a, struct agent_http *h)
{
	char *token = NULL;
	const char *why;
	bool changed;
	int r;

	if (!a->o.token_file ||
	    token_file_read_one(a->o.token_file, &token, &why) < 0)
		return false;
	changed = !agent_http_has_token(h, token);
	r = changed ? agent_http_set_token(h, token) : 0;
	if (changed && r == 0)
		msg(MSG_INFO, "the master refused the token; '%s' "
			  "holds another one now, using it", a->o.token_file);
	wipe(token);
	return changed && r == 0;
}
