/* SPDX-License-Identifier: GPL-2.0-or-later */
/* famfsd roles: each one's entry point, called with argv[0] = role name. */
#ifndef FAMFSD_ROLES_H
#define FAMFSD_ROLES_H

int master_main(int argc, char **argv);
int agent_main(int argc, char **argv);

#endif
