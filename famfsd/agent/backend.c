// SPDX-License-Identifier: GPL-2.0-or-later
/* The agent's back-end table: FUSE wraps agent/fuse/session.c, kmod is its own. */
#include <string.h>

#include "agent/backend.h"

const struct agent_backend agent_backend_fuse = {
	.name = "fuse",
	.maps_data = true,
	.mount = fuse_backend_mount,
	.loop = fuse_backend_loop,
	.unmount = fuse_backend_unmount,
};

const struct agent_backend *agent_backend_find(const char *name)
{
	if (strcmp(name, agent_backend_fuse.name) == 0)
		return &agent_backend_fuse;
	if (strcmp(name, agent_backend_kmod.name) == 0)
		return &agent_backend_kmod;
	return NULL;
}
