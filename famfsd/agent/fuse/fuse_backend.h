/* SPDX-License-Identifier: GPL-2.0-or-later */
/* FUSE back-end internals shared by agent/fuse/ops.c, agent/fuse/io.c, agent/fuse/session.c. */
#ifndef FAMFSD_FUSE_BACKEND_H
#define FAMFSD_FUSE_BACKEND_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 312
#endif
#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "agent/agent.h"

/* agent/fuse/ops.c */
void fuse_attr_to_stat(const struct agent *a, const struct agent_attr *at,
		       struct stat *st);
int fuse_get_attr(struct agent *a, uint64_t ino, struct agent_attr *ret);
/* Replies EPERM to a change the mount does not make, with a log line. */
void fuse_refuse(fuse_req_t req, const char *what, uint64_t ino,
		 const char *name);

/* agent/fuse/session.c */
void fuse_op_init(void *userdata, struct fuse_conn_info *conn);

/* agent/fuse/io.c */
void fuse_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fuse_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi);
void fuse_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
		       off_t off, struct fuse_file_info *fi);
void fuse_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi);
void fuse_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
