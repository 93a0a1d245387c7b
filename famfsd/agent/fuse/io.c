// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * FUSE back-end, data side: open, read, write, fsync, release.
 *
 * File bytes live once, in the pool; the daemon copies them straight
 * between the pool mapping and the kernel's request buffers (a read reply
 * is a writev from the mapping, a write lands from the request into the
 * mapping), following the data protocol of docs/fuse.md:
 *   write: W1 copy into the mapping, W2 flush the written lines, W3 fence,
 *          then reply (the bytes are in the pool before the writer is told);
 *   read:  R1 invalidate the lines to read, R2 fence, R3 copy out.
 * So bytes written through one host's mount are read through another's.
 *
 * Each handle points to its fuse_open_file, which holds the file's extents as
 * they were at open: sizes never change, so no state lock is needed here,
 * and a file deleted while open keeps working until release.
 *
 * Sizes are fixed at creation: a write that starts at or past the end is
 * EFBIG, one that crosses it is cut short at the end (the caller's next
 * write then gets EFBIG), and O_TRUNC on a writable open is EPERM.
 *
 * Pool memory may fault: a pool file truncated under us, or a poisoned
 * line or page. Where this process touches the mapping (R1's invalidate,
 * W1's copy, W2's flush) a guard (lib/guard.h, one per request) turns the
 * SIGBUS into EIO for that request; where the kernel copies from it (the
 * reply's writev), the kernel fails the copy and ends the request with EIO
 * itself, and the writev says EFAULT. Either way the file's first fault
 * is logged with its pool offset and every other file keeps working.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "agent/fuse/fuse_backend.h"
#include "guard.h"

static struct fuse_open_file *handle(const struct fuse_file_info *fi)
{
	return (struct fuse_open_file *)(uintptr_t)fi->fh;
}

/*
 * Maps [off, off + len) of the file, which must lie within its extents, to
 * pieces of the data mapping it was opened with. Returns the piece count,
 * or -EIO for an extent outside that mapping (a layout it does not map:
 * never a pointer past it).
 */
static int map_range(const struct fuse_open_file *f, uint64_t off,
		     uint64_t len, struct iovec *iov)
{
	int n = 0;

	for (uint32_t i = 0; i < f->n_extents && len; i++) {
		uint64_t elen = f->ext[i].len, take;

		if (off >= elen) {
			off -= elen;
			continue;
		}
		take = elen - off < len ? elen - off : len;
		iov[n].iov_base = fuse_data_ptr(f->map, f->ext[i].offset + off,
						take);
		if (!iov[n].iov_base)
			return -EIO;
		iov[n].iov_len = take;
		n++;
		len -= take;
		off = 0;
	}
	return n;
}

/*
 * The pieces of the pool mapping behind [off, off + size) of the handle's
 * file, cut at its end: the piece count, 0 at or past the end, -EIO once
 * the handle was revoked. The data path reads the handle only here.
 */
static int handle_map(const struct fuse_file_info *fi, off_t off, size_t size,
		      struct iovec *iov)
{
	struct fuse_open_file *f = handle(fi);
	uint64_t left;

	if (atomic_load(&f->revoked))
		return -EIO;
	if (off < 0 || (uint64_t)off >= f->attr.size)
		return 0;
	left = f->attr.size - (uint64_t)off;
	return map_range(f, (uint64_t)off, left < size ? left : size, iov);
}

/* The file offset that pool offset pool_off holds, or UINT64_MAX. */
static uint64_t file_offset(const struct fuse_open_file *f, uint64_t pool_off)
{
	uint64_t at = 0;

	for (uint32_t i = 0; i < f->n_extents; i++) {
		const struct famfs_extent *e = &f->ext[i];

		if (pool_off >= e->offset && pool_off - e->offset < e->len)
			return at + (pool_off - e->offset);
		at += e->len;
	}
	return UINT64_MAX;
}

/*
 * A request met a fault in the pool: counted always, logged once per
 * open file (a reader retrying a bad file must not flood the log).
 */
static void media_error(struct fuse_open_file *f, const char *what,
			uint64_t pool_off, int code)
{
	if (code == 0)
		famfs_guard_note(pool_off);
	if (atomic_exchange(&f->media_logged, true))
		return;
	msg(MSG_ERR, "Failed to %s inode %" PRIu64 " at pool offset %" PRIu64
	    " (file offset %" PRIu64 "): %s; answering EIO for it, serving "
	    "the rest", what, f->attr.ino, pool_off, file_offset(f, pool_off),
	    famfs_guard_code_name(code));
}

/* Pool offset of a pointer into the file's data mapping. */
static uint64_t pool_offset(const struct fuse_open_file *f, const void *p)
{
	return f->map->start +
	       (uint64_t)((const uint8_t *)p - famfs_pooldev_base(f->map->dev));
}

/*
 * After the kernel failed to copy from the mapping: the first page of the
 * pieces that faults here too, so the log names the exact place. The
 * start of the range when none does (the fault was passing), with code 0.
 */
static uint64_t find_fault(const struct fuse_open_file *f,
			   const struct iovec *iov, int n, int *ret_code)
{
	struct famfs_guard g;

	*ret_code = 0;
	for (int i = 0; i < n; i++)
		for (size_t at = 0; at < iov[i].iov_len; at += 4096)
			if (famfs_guard_probe((const uint8_t *)iov[i].iov_base +
					      at, &g)) {
				*ret_code = g.fault_code;
				return g.fault_off;
			}
	return pool_offset(f, iov[0].iov_base);
}

/* R1 and R2 under a guard: 0, or -EIO when a line faulted. */
static int read_prepare(const struct agent *a, struct fuse_open_file *f,
			const struct iovec *iov, int n)
{
	struct famfs_guard g;

	if (!famfs_guard_begin(&g)) {
		media_error(f, "read", g.fault_off, g.fault_code);
		return -EIO;
	}
	/* R1: another host may have written these lines; drop our copies. */
	for (int i = 0; i < n; i++)
		a->ops->invalidate(iov[i].iov_base, iov[i].iov_len);
	/* R2: the invalidations complete before the copy below loads. */
	a->ops->rfence();
	famfs_guard_end(&g);
	return 0;
}

void fuse_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent *a = fb->a;
	const struct famfs_node *n;
	struct fuse_open_file *f = NULL;
	int err = 0;

	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_refuse(req, "O_TRUNC (a size change)", ino, NULL);
		return;
	}
	/*
	 * Under the read lock: the node is alive while its extents are
	 * copied, and a delete replayed after this open finds the handle in
	 * the table (and keeps the extents alive) before the heartbeat can
	 * report an applied sequence past that delete.
	 */
	pthread_rwlock_rdlock(&a->lock);
	n = famfs_ns_get(a->st->ns, ino);
	if (!n)
		err = ENOENT;
	else if (famfs_node_is_dir(n))
		err = EISDIR;
	else if (!fb->map)
		err = EIO;	/* the data area could not be mapped (reformat) */
	else
		err = -fuse_handles_open(fb->handles, n, fb->map, &f);
	pthread_rwlock_unlock(&a->lock);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uintptr_t)f;
	/* Drop cached pages at open: another host may have written since. */
	fi->keep_cache = 0;
	fi->direct_io = a->o.direct_io;
	if (fuse_reply_open(req, fi) < 0)
		fuse_handles_release(fb->handles, f);	/* no release will come */
}

void fuse_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		  struct fuse_file_info *fi)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent *a = fb->a;
	struct iovec iov[FAMFS_MAX_EXTENTS];
	int n;

	(void)ino;
	n = handle_map(fi, off, size, iov);
	if (n < 0) {
		fuse_reply_err(req, -n);
		return;
	}
	if (n == 0) {
		fuse_reply_buf(req, NULL, 0);	/* at or past the end */
		return;
	}
	if (read_prepare(a, handle(fi), iov, n) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	/*
	 * R3: the reply is a writev straight from the pool mapping. A page
	 * that faults in the kernel's copy fails the writev (EFAULT) and the
	 * kernel ends the request with EIO: only the log line is ours to do.
	 */
	if (fuse_reply_iov(req, iov, n) == -EFAULT) {
		int code;
		uint64_t at = find_fault(handle(fi), iov, n, &code);

		/* A fault the probe caught was counted by the handler. */
		media_error(handle(fi), "read", at, code);
	}
}

/*
 * W1-W2 under a guard: the bytes copied, or -EIO when the pool faulted
 * (the request's bytes may then be in the pool in part).
 */
static ssize_t write_copy(const struct agent *a, struct fuse_open_file *f,
			  struct fuse_bufvec *dst, struct fuse_bufvec *src,
			  const struct iovec *iov, int n)
{
	struct famfs_guard g;
	uint64_t left;
	ssize_t done;

	if (!famfs_guard_begin(&g)) {
		media_error(f, "write", g.fault_off, g.fault_code);
		return -EIO;
	}
	/* W1: from the request (memory or spliced pipe) into the pool. */
	done = fuse_buf_copy(dst, src, 0);
	if (done < 0) {
		famfs_guard_end(&g);
		if (done == -EFAULT) {
			/* A read from a pipe into a page that is gone. */
			media_error(f, "write", pool_offset(f, iov[0].iov_base), 0);
			return -EIO;
		}
		return done;
	}
	/* W2: write back exactly the lines this write touched. */
	left = (uint64_t)done;
	for (int i = 0; i < n && left; i++) {
		size_t l = iov[i].iov_len < left ? iov[i].iov_len : left;

		a->ops->flush(iov[i].iov_base, l);
		left -= l;
	}
	famfs_guard_end(&g);
	return done;
}

void fuse_op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
		       off_t off, struct fuse_file_info *fi)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent *a = fb->a;
	struct iovec iov[FAMFS_MAX_EXTENTS];
	struct fuse_bufvec *dst;
	size_t size = fuse_buf_size(bufv);
	ssize_t done;
	int n;

	(void)ino;
	n = handle_map(fi, off, size, iov);
	if (n < 0) {
		fuse_reply_err(req, -n);
		return;
	}
	if (!size) {
		fuse_reply_write(req, 0);
		return;
	}
	if (n == 0) {
		fuse_reply_err(req, EFBIG);	/* sizes are fixed */
		return;
	}
	dst = malloc(sizeof(*dst) + (size_t)n * sizeof(dst->buf[0]));
	if (!dst) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	*dst = (struct fuse_bufvec)FUSE_BUFVEC_INIT(0);
	dst->count = (size_t)n;
	for (int i = 0; i < n; i++)
		dst->buf[i] = (struct fuse_buf){
			.size = iov[i].iov_len, .mem = iov[i].iov_base,
		};
	done = write_copy(a, handle(fi), dst, bufv, iov, n);
	free(dst);
	if (done < 0) {
		fuse_reply_err(req, (int)-done);
		return;
	}
	/* W3: the bytes are in the pool before the writer hears "written". */
	a->ops->wfence();
	fuse_reply_write(req, (size_t)done);
}

void fuse_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		   struct fuse_file_info *fi)
{
	/* Every write was flushed and fenced before it was acknowledged. */
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

void fuse_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_be *fb = fuse_req_userdata(req);
	struct agent *a = fb->a;

	if (fuse_handles_release(fb->handles, handle(fi))) {
		msg(MSG_INFO, "last handle on deleted inode %" PRIu64
			  " closed: no longer reported open, the master may "
			  "reclaim its space", (uint64_t)ino);
		/* Report it at once rather than at the next tick. */
		agent_heartbeat_kick(a);
	}
	fuse_reply_err(req, 0);
}
