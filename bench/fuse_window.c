// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fuse-window: the plain-FUSE baseline of bench/agent_bench.py.
 *
 * The thinnest FUSE low-level server that serves the same bytes as the
 * agent: one file, "data", which is the window [OFFSET, OFFSET + SIZE) of
 * FILE, mapped shared. Reads reply straight from the mapping, writes land
 * in it, with the agent's connection settings. No log, no extents, no
 * flush or invalidate, no locks, no famfsd code: what it reaches is what
 * FUSE itself allows on this machine, so the agent's bandwidth is printed
 * beside it as well as beside memcpy.
 *
 * Usage: fuse-window MOUNTPOINT FILE OFFSET SIZE [--direct-io]
 * Runs in the foreground until unmounted or signalled.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA_INO 2

static struct {
	char *mem;
	size_t size;
	bool direct_io;
} window;

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0644;
		st->st_nlink = 1;
		st->st_size = (off_t)window.size;
	}
}

static void window_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* The agent's choices (famfsd/agent/fuse/session.c). */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
}

static void window_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = DATA_INO, .attr_timeout = 1,
				      .entry_timeout = 1 };

	if (parent != FUSE_ROOT_ID || strcmp(name, "data") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(DATA_INO, &e.attr);
	fuse_reply_entry(req, &e);
}

static void window_getattr(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != DATA_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, 1);
}

static void window_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != DATA_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 0;
	fi->direct_io = window.direct_io;
	fuse_reply_open(req, fi);
}

static void window_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if (off < 0 || (size_t)off >= window.size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > window.size - (size_t)off)
		size = window.size - (size_t)off;
	fuse_reply_buf(req, window.mem + off, size);
}

static void window_write_buf(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_bufvec *bufv, off_t off,
			   struct fuse_file_info *fi)
{
	size_t size = fuse_buf_size(bufv);
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
	ssize_t done;

	(void)ino;
	(void)fi;
	if (off < 0 || (size_t)off >= window.size) {
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (size > window.size - (size_t)off)
		dst.buf[0].size = window.size - (size_t)off;
	dst.buf[0].mem = window.mem + off;
	done = fuse_buf_copy(&dst, bufv, 0);
	if (done < 0)
		fuse_reply_err(req, (int)-done);
	else
		fuse_reply_write(req, (size_t)done);
}

static const struct fuse_lowlevel_ops window_ops = {
	.init = window_init,
	.lookup = window_lookup,
	.getattr = window_getattr,
	.open = window_open,
	.read = window_read,
	.write_buf = window_write_buf,
};

static int serve(const char *mountpoint)
{
	char *argv[] = { "fuse-window", "-o", "fsname=fuse-window" };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int r = 1;

	se = fuse_session_new(&args, &window_ops, sizeof(window_ops), NULL);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) < 0)
		goto out_destroy;
	if (fuse_session_mount(se, mountpoint) < 0)
		goto out_signals;
	cfg = fuse_loop_cfg_create();
	if (cfg) {
		/* The agent's loop: one /dev/fuse fd per worker, 16 at most. */
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_max_threads(cfg, 16);
		r = fuse_session_loop_mt(se, cfg) < 0;
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return r;
}

static int parse_u64(const char *what, const char *text, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(text, &end, 10);
	if (errno || end == text || *end) {
		fprintf(stderr, "fuse-window: bad %s '%s' (bytes, decimal)\n",
			what, text);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long offset, size;
	struct stat st;
	char *map;
	int fd;

	if (argc < 5 || argc > 6 ||
	    (argc == 6 && strcmp(argv[5], "--direct-io") != 0)) {
		fprintf(stderr, "usage: fuse-window MOUNTPOINT FILE OFFSET SIZE "
			"[--direct-io]\n");
		return 2;
	}
	if (parse_u64("offset", argv[3], &offset) < 0 ||
	    parse_u64("size", argv[4], &size) < 0)
		return 2;
	fd = open(argv[2], O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "fuse-window: %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	if (size == 0 || offset % (unsigned long long)sysconf(_SC_PAGESIZE) ||
	    offset > (unsigned long long)st.st_size ||
	    size > (unsigned long long)st.st_size - offset) {
		fprintf(stderr, "fuse-window: the window must be non-empty, "
			"page aligned and inside %s\n", argv[2]);
		return 2;
	}
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (off_t)offset);
	close(fd);
	if (map == MAP_FAILED) {
		perror("fuse-window: mmap");
		return 1;
	}
	window.mem = map;
	window.size = size;
	window.direct_io = argc == 6;
	return serve(argv[1]);
}
