/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The release of famfsd and famfsctl (`famfsctl --version`). The API spec's
 * info.version and the pool format (FAMFS_FORMAT_VERSION) are numbered on
 * their own.
 */
#ifndef FAMFSD_VERSION_H
#define FAMFSD_VERSION_H

#define FAMFSD_VERSION	"0.2.0"

#endif
