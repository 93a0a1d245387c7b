// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The agent's back-ends by name (--backend). Each one's folder defines its
 * table (agent/backend.h); adding one is a line here (and its name among
 * the option's choices, conf/options.c, where the default is too).
 */
#include <string.h>

#include "agent/backend.h"

static const struct agent_backend *const backends[] = {
	&agent_backend_fuse,
	&agent_backend_kmod,
};

const struct agent_backend *agent_backend_find(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(name, backends[i]->name) == 0)
			return backends[i];
	return NULL;
}
