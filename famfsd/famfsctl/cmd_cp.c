// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * famfsctl cp [-r] SRC... DEST: copies local files into the pool.
 *
 * DEST is a path in a famfsd mount of this host (the agent's FUSE mount or
 * the kernel module's), found in /proc/self/mountinfo (mount.c). The
 * namespace belongs to the master and the bytes to the pool, so each file
 * takes four steps (docs/master.md):
 *
 *   C1 create: PUT /v1/files/PATH with the source's size, mode and owner
 *      (idempotent: 201 created, 200 the same file already there, 409 a
 *      different entry there, which is refused);
 *   C2 wait until the agent has replayed the create and the file shows in
 *      the mount with the master's inode and size, with a deadline;
 *   C3 write the bytes through the mount, which stores them in the pool
 *      (FUSE: the agent's W1-W3 data protocol; the module: DAX stores),
 *      then fsync;
 *   C4 drop this host's cached pages and read the file back through the
 *      mount, comparing it with the source.
 *
 * A file that was already there (200) gets only C2 and C4: identical is
 * fine, other bytes are refused. Directories (-r) are created by the API
 * with the source's mode and owner, an identical existing one is fine.
 *
 * Before C1, a file the mount would not let this process write is refused
 * (the mount decides as the kernel's default_permissions, and the file
 * gets the source's mode and owner): created first, it would stay in the
 * pool holding zeros. A file this run created (201) is deleted again when
 * C2-C4 fail or SIGINT/SIGTERM arrives, so a retry starts clean; one that
 * was there before is never deleted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "online.h"

#define CP_CHUNK		(1u << 20)
#define CP_POLL_NS		10000000l	/* C2: look every 10 ms */
#define CP_TIMEOUT_DEFAULT	10u		/* seconds */

enum { OPT_TENANT = FAMFSCTL_OPT_OWN, OPT_TIMEOUT };

struct cp {
	struct online o;
	struct famfsctl_mount m;	/* the famfsd mount holding DEST */
	const char *tenant;		/* --tenant, NULL: the token's */
	bool recursive, verbose;
	bool stopping;			/* a signal came, and we said so */
	unsigned int timeout_s;		/* C2 deadline */
	int worst;			/* the highest exit code so far */
	char *buf[2];			/* CP_CHUNK each: source, destination */
	struct sigaction old[2];	/* SIGINT's and SIGTERM's before cp */
};

/* SIGINT or SIGTERM once one came: the copy stops at its next step. */
static volatile sig_atomic_t cp_signal;

__attribute__((format(printf, 1, 0)))
static void vsay(const char *fmt, va_list ap)
{
	fputs("famfsctl cp: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* "famfsctl cp: ..." on stderr, for what went right. */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

/* "famfsctl cp: ..." on stderr; keeps the worst code and returns it. */
__attribute__((format(printf, 3, 4)))
static int fail(struct cp *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	if (code > c->worst)
		c->worst = code;
	return code;
}

/* After SIGINT or SIGTERM the exit code (said once), else 0. */
static int interrupted(struct cp *c)
{
	if (!cp_signal)
		return 0;
	if (c->stopping)
		return EXIT_OPERATIONAL;
	c->stopping = true;
	return fail(c, EXIT_OPERATIONAL, "interrupted by %s",
		    cp_signal == SIGINT ? "SIGINT" : "SIGTERM");
}

static char *join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name) < 0)
		return NULL;
	return p;
}

/* The last component of an absolute path without a trailing slash. */
static const char *last_name(const char *abs)
{
	return strrchr(abs, '/') + 1;
}

/* ---- before C1: may this process write the file through the mount? ------ */

/* CAP_DAC_OVERRIDE is effective: the kernel then skips the mode bits. */
static bool overrides_modes(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capget, &h, d) < 0)
		return geteuid() == 0;
	return d[CAP_TO_INDEX(CAP_DAC_OVERRIDE)].effective &
	       CAP_TO_MASK(CAP_DAC_OVERRIDE);
}

/* gid is this process's effective group or one of its other groups. */
static bool in_group(gid_t gid)
{
	int n = getgroups(0, NULL);
	bool found = gid == getegid();
	gid_t *list;

	if (found || n <= 0 || !(list = calloc((size_t)n, sizeof(*list))))
		return found;
	n = getgroups(n, list);
	for (int i = 0; i < n && !found; i++)
		found = list[i] == gid;
	free(list);
	return found;
}

/*
 * Whether the mount will let this process open a file of st's mode and
 * owner for writing (C3) and for reading (C4). Both back-ends check as
 * the kernel's default_permissions does: CAP_DAC_OVERRIDE passes;
 * otherwise the owner's bits apply to the owner, else the group's to a
 * member of the file's group, else the others': one class, never two.
 */
static bool may_write_and_read(const struct stat *st)
{
	unsigned int bits = st->st_mode;

	if (overrides_modes())
		return true;
	if (st->st_uid == geteuid())
		bits >>= 6;
	else if (in_group(st->st_gid))
		bits >>= 3;
	return (bits & 06) == 06;
}

/* GET of target's pool path: the HTTP status or -errno. */
static int lookup(struct cp *c, const char *target)
{
	_cleanup_json_ struct json_object *f = NULL;
	char *pool = famfsctl_mount_pool_path(&c->m, target);
	char *path = pool ? online_api_path("/v1/files/", pool) : NULL;
	int status = path ? online_call(&c->o, "GET", path, NULL, &f) : -ENOMEM;

	free(path);
	free(pool);
	return status;
}

/*
 * Before C1: a file this process could not write through the mount is
 * not created, or it would stay in the pool holding zeros. One already
 * in the pool needs only C4's read, so it goes on: the PUT then says
 * whether it is the same file. 0, or the exit code after saying why.
 */
static int check_writable(struct cp *c, const char *src, const char *target,
			  const struct stat *st)
{
	int status;

	if (may_write_and_read(st))
		return 0;
	status = lookup(c, target);
	if (status == 200)
		return 0;
	if (status < 0)
		return fail(c, EXIT_OPERATIONAL, "'%s' not copied%s", src,
			    status == -ENOMEM ? ": out of memory" : "");
	return fail(c, EXIT_REFUSED, "'%s' would be mode 0%03o owned by %u:%u, "
		    "which the mount would not let this process (uid %u) write "
		    "and read back: nothing created; copy '%s' as a user who "
		    "may, or as root", target, (unsigned int)(st->st_mode & 07777),
		    st->st_uid, st->st_gid, geteuid(), src);
}

/* ---- C1: the master's side ------------------------------------------------ */

/* PUT the file or directory for st at pool; the HTTP status or -errno. */
static int put_entry(struct cp *c, const char *pool, const struct stat *st,
		     struct json_object **ret)
{
	_cleanup_json_ struct json_object *body = json_object_new_object();
	bool dir = S_ISDIR(st->st_mode);
	char *path = online_api_path(dir ? "/v1/dirs/" : "/v1/files/", pool);
	int status;

	*ret = NULL;
	if (!path || !body) {
		free(path);
		return -ENOMEM;
	}
	if (!dir)
		json_object_object_add(body, "size",
				       json_object_new_int64((int64_t)st->st_size));
	json_object_object_add(body, "mode",
			       json_object_new_int64(st->st_mode & 07777));
	json_object_object_add(body, "uid", json_object_new_int64(st->st_uid));
	json_object_object_add(body, "gid", json_object_new_int64(st->st_gid));
	if (!dir && c->tenant)
		json_object_object_add(body, "tenant", json_object_new_string(c->tenant));
	status = online_call(&c->o, "PUT", path, body, ret);
	free(path);
	return status;
}

/* What differs between the pool's entry f and the source st, for a 409. */
static void describe(struct json_object *f, const struct stat *st, char *why,
		     size_t size)
{
	bool is_dir = strcmp(online_str(f, "type"), "dir") == 0;
	size_t n = 0;

	if (is_dir != (bool)S_ISDIR(st->st_mode)) {
		snprintf(why, size, "it is a %s", is_dir ? "directory" : "file");
		return;
	}
	why[0] = '\0';
	if (!is_dir && online_int(f, "size") != st->st_size)
		n += (size_t)snprintf(why + n, size - n, ", size %" PRId64 " (source %jd)",
				      online_int(f, "size"), (intmax_t)st->st_size);
	if (n < size && online_int(f, "mode") != (st->st_mode & 07777))
		n += (size_t)snprintf(why + n, size - n, ", mode 0%03" PRIo64
				      " (source 0%03o)", online_int(f, "mode"),
				      (unsigned int)(st->st_mode & 07777));
	if (n < size && (online_int(f, "uid") != st->st_uid ||
			 online_int(f, "gid") != st->st_gid))
		n += (size_t)snprintf(why + n, size - n, ", owner %" PRId64 ":%" PRId64
				      " (source %u:%u)", online_int(f, "uid"),
				      online_int(f, "gid"), st->st_uid, st->st_gid);
	if (n == 0)
		snprintf(why, size, ", tenant '%s'", online_str(f, "tenant"));
	memmove(why, why + 2, strlen(why + 2) + 1);	/* the leading ", " */
}

/* A 409: says what is there instead, and refuses. */
static int refuse_conflict(struct cp *c, const char *src, const char *target,
			   const char *pool, const struct stat *st)
{
	_cleanup_json_ struct json_object *f = NULL;
	char *path = online_api_path("/v1/files/", pool);
	char why[256] = "it changed meanwhile";

	if (path && online_call(&c->o, "GET", path, NULL, &f) == 200 && f)
		describe(f, st, why, sizeof(why));
	free(path);
	return fail(c, EXIT_REFUSED, "'%s' exists and differs from '%s': %s; "
		    "remove it (famfsctl rm) to copy again", target, src, why);
}

/*
 * C1 for one entry: 0 with the master's reply in *ret and *created, or the
 * exit code after saying why.
 */
static int create_entry(struct cp *c, const char *src, const char *target,
			const struct stat *st, struct json_object **ret,
			bool *created)
{
	char *pool = famfsctl_mount_pool_path(&c->m, target);
	int status, r = 0;

	if (!pool)
		return fail(c, EXIT_OPERATIONAL, "out of memory");
	status = put_entry(c, pool, st, ret);
	if (status == 200 || status == 201) {
		*created = status == 201;
	} else if (status == 409) {
		r = refuse_conflict(c, src, target, pool, st);
	} else if (status >= 0) {
		online_problem("cp", status, *ret);
		r = fail(c, EXIT_REFUSED, "'%s' not copied to '%s'", src, target);
	} else {
		r = fail(c, EXIT_OPERATIONAL, "'%s' not copied", src);
	}
	if (r) {
		json_object_put(*ret);
		*ret = NULL;
	}
	free(pool);
	return r;
}

/*
 * Undoes C1 of a file this run created (201), after C2-C4 failed or a
 * signal came: a retry then starts clean instead of finding zeros it
 * would refuse as other bytes.
 */
static void undo_create(struct cp *c, const char *target)
{
	_cleanup_json_ struct json_object *reply = NULL;
	char *pool = famfsctl_mount_pool_path(&c->m, target);
	char *path = pool ? online_api_path("/v1/files/", pool) : NULL;
	int status = path ? online_call(&c->o, "DELETE", path, NULL, &reply) :
		     -ENOMEM;

	if (status == 200) {
		say("'%s' removed again: this run had created it", target);
	} else {
		if (status > 0)
			online_problem("cp", status, reply);
		fail(c, EXIT_OPERATIONAL, "'%s', which this run created, could "
		     "not be removed again: remove it (famfsctl rm) to copy "
		     "again", target);
	}
	free(path);
	free(pool);
}

/* ---- C2-C4: the mount's side ----------------------------------------------- */

/* C2: until target is the master's file (inode and size) or the deadline. */
static int wait_in_mount(struct cp *c, const char *target, uint64_t ino,
			 uint64_t size)
{
	uint64_t deadline = clock_mono_ns() + c->timeout_s * 1000000000ull;
	struct timespec pause = { 0, CP_POLL_NS };
	struct stat st;
	int err;

	for (;;) {
		if (stat(target, &st) == 0) {
			if ((uint64_t)st.st_ino == ino && (uint64_t)st.st_size == size)
				return 0;
			err = 0;	/* something else is at that name */
		} else {
			err = errno;
		}
		if (cp_signal)
			return interrupted(c);
		if (clock_mono_ns() >= deadline)
			break;
		nanosleep(&pause, NULL);	/* a signal ends it early */
	}
	if (!err)
		return fail(c, EXIT_OPERATIONAL, "'%s' in the mount is inode %ju of "
			    "%jd bytes, not the master's inode %" PRIu64 " of %" PRIu64
			    ": is %s a mount of the pool the master at %s serves?",
			    target, (uintmax_t)st.st_ino, (intmax_t)st.st_size, ino,
			    size, c->m.dir, c->o.url);
	return fail(c, EXIT_OPERATIONAL, "'%s' did not show in the mount within "
		    "%u s (%s): is the agent of %s running and following the "
		    "master at %s?", target, c->timeout_s, strerror(err), c->m.dir,
		    c->o.url);
}

/* Reads up to n bytes at off (fewer only at the end); -errno. */
static ssize_t read_full(int fd, char *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = pread(fd, buf + done, n - done, off + (off_t)done);

		if (k < 0 && errno == EINTR && !cp_signal)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

static int write_full(int fd, const char *buf, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = pwrite(fd, buf + done, n - done, off + (off_t)done);

		if (k < 0 && errno == EINTR && !cp_signal)
			continue;
		if (k < 0)
			return -errno;
		done += (size_t)k;
	}
	return 0;
}

/* C3: size bytes of src into target, then fsync. */
static int write_bytes(struct cp *c, int src, const char *src_path,
		       const char *target, uint64_t size)
{
	int fd = open(target, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return fail(c, EXIT_OPERATIONAL, "Failed to open '%s' for writing: %s",
			    target, strerror(errno));
	for (uint64_t off = 0; r == 0 && off < size; off += CP_CHUNK) {
		size_t n = size - off < CP_CHUNK ? (size_t)(size - off) : CP_CHUNK;
		ssize_t got = read_full(src, c->buf[0], n, (off_t)off);

		if (cp_signal)
			r = interrupted(c);
		else if (got < 0)
			r = fail(c, EXIT_OPERATIONAL, "Failed to read '%s': %s",
				 src_path, strerror((int)-got));
		else if ((size_t)got < n)
			r = fail(c, EXIT_OPERATIONAL, "'%s' shrank while being "
				 "copied", src_path);
		else if ((got = write_full(fd, c->buf[0], n, (off_t)off)) < 0)
			r = fail(c, EXIT_OPERATIONAL, "Failed to write '%s': %s",
				 target, strerror((int)-got));
	}
	if (r == 0 && fsync(fd) < 0 && !(r = interrupted(c)))
		r = fail(c, EXIT_OPERATIONAL, "Failed to fsync '%s': %s", target,
			 strerror(errno));
	if (close(fd) < 0 && r == 0)
		r = fail(c, EXIT_OPERATIONAL, "Failed to write '%s': %s", target,
			 strerror(errno));
	return r;
}

/*
 * C4: target against the first size bytes of src: 0 with *same (and when
 * not, the first differing byte in *diff_at), or the exit code after
 * saying why it could not compare.
 */
static int compare(struct cp *c, int src, const char *target, uint64_t size,
		   bool *same, uint64_t *diff_at)
{
	int fd = open(target, O_RDONLY | O_CLOEXEC), r = 0;

	*same = true;
	if (fd < 0)
		return fail(c, EXIT_OPERATIONAL, "Failed to open '%s': %s", target,
			    strerror(errno));
	/* This host's cached copy is not the pool: read from the pool. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	for (uint64_t off = 0; r == 0 && *same && off < size; off += CP_CHUNK) {
		size_t n = size - off < CP_CHUNK ? (size_t)(size - off) : CP_CHUNK;
		ssize_t a = read_full(src, c->buf[0], n, (off_t)off);
		ssize_t b = read_full(fd, c->buf[1], n, (off_t)off);

		if (cp_signal) {
			r = interrupted(c);
			break;
		}
		if (a < 0 || b < 0) {
			r = fail(c, EXIT_OPERATIONAL, "Failed to read back '%s': %s",
				 target, strerror((int)-(a < 0 ? a : b)));
			break;
		}
		for (size_t i = 0; i < n; i++)
			if (i >= (size_t)a || i >= (size_t)b ||
			    c->buf[0][i] != c->buf[1][i]) {
				*diff_at = off + i;
				*same = false;
				break;
			}
	}
	close(fd);
	return r;
}

/* ---- one entry ------------------------------------------------------------ */

static void copy_entry(struct cp *c, const char *src, const char *target,
		       const struct stat *st);

/*
 * C2-C4 for a file the master has (its reply f; created: by this run).
 * 0, or the exit code after saying why.
 */
static int fill_and_verify(struct cp *c, int fd, const char *src,
			   const char *target, uint64_t size,
			   struct json_object *f, bool created)
{
	uint64_t diff_at = 0;
	bool same = false;
	int r = interrupted(c);

	if (r == 0)
		r = wait_in_mount(c, target, (uint64_t)online_int(f, "ino"), size);
	if (r == 0 && created)
		r = write_bytes(c, fd, src, target, size);
	if (r == 0)
		r = compare(c, fd, target, size, &same, &diff_at);
	if (r || same)
		return r;
	if (created)
		return fail(c, EXIT_UNCORRECTED, "'%s' reads back other bytes than "
			    "were written, from byte %" PRIu64 " on", target, diff_at);
	return fail(c, EXIT_REFUSED, "'%s' exists with the size and attributes "
		    "of '%s' but other bytes (from byte %" PRIu64 " on); remove "
		    "it (famfsctl rm) to copy again", target, src, diff_at);
}

static void copy_file(struct cp *c, const char *src, const char *target)
{
	_cleanup_json_ struct json_object *f = NULL;
	bool created = false;
	struct stat st;
	int fd, r;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		fail(c, EXIT_OPERATIONAL, "Failed to open '%s': %s", src,
		     strerror(errno));
		goto out;
	}
	if (st.st_size == 0) {
		fail(c, EXIT_REFUSED, "'%s' is empty: a file in the pool has at "
		     "least one byte (sizes are fixed at creation)", src);
		goto out;
	}
	r = check_writable(c, src, target, &st);
	if (r == 0)
		r = create_entry(c, src, target, &st, &f, &created);
	if (r == 0)
		r = fill_and_verify(c, fd, src, target, (uint64_t)st.st_size, f,
				    created);
	if (r && created)
		undo_create(c, target);
	else if (r == 0 && c->verbose)
		printf("'%s' -> '%s' (%jd bytes%s)\n", src, target,
		       (intmax_t)st.st_size, created ? "" : ", identical, kept");
out:
	if (fd >= 0)
		close(fd);
}

static void copy_dir(struct cp *c, const char *src, const char *target,
		     const struct stat *st)
{
	_cleanup_json_ struct json_object *d = NULL;
	struct dirent **names = NULL;
	bool created;
	char *real = realpath(src, NULL);
	int n;

	/* Copying a directory into itself would never end. */
	if (real && strncmp(target, real, strlen(real)) == 0 &&
	    (target[strlen(real)] == '/' || target[strlen(real)] == '\0')) {
		free(real);
		fail(c, EXIT_REFUSED, "cannot copy '%s' into itself", src);
		return;
	}
	free(real);
	if (create_entry(c, src, target, st, &d, &created))
		return;
	if (c->verbose)
		printf("'%s' -> '%s' (directory%s)\n", src, target,
		       created ? "" : ", identical, kept");
	n = scandir(src, &names, NULL, alphasort);
	if (n < 0) {
		fail(c, EXIT_OPERATIONAL, "Failed to list '%s': %s", src,
		     strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		char *s = NULL, *t = NULL;
		struct stat cst;

		if (cp_signal) {
			interrupted(c);
		} else if (strcmp(name, ".") && strcmp(name, "..")) {
			s = join(src, name);
			t = join(target, name);
			if (!s || !t)
				fail(c, EXIT_OPERATIONAL, "out of memory");
			else if (lstat(s, &cst) < 0)
				fail(c, EXIT_OPERATIONAL, "Failed to stat '%s': %s",
				     s, strerror(errno));
			else
				copy_entry(c, s, t, &cst);
		}
		free(s);
		free(t);
		free(names[i]);
	}
	free(names);
}

/* Copies what st describes; every failure is counted in c->worst. */
static void copy_entry(struct cp *c, const char *src, const char *target,
		       const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		copy_file(c, src, target);
	else if (S_ISDIR(st->st_mode) && c->recursive)
		copy_dir(c, src, target, st);
	else if (S_ISDIR(st->st_mode))
		fail(c, EXIT_REFUSED, "'%s' is a directory (-r copies it)", src);
	else
		fail(c, EXIT_REFUSED, "'%s' is neither a regular file nor a "
		     "directory: the pool holds only those", src);
}

/* ---- the command ------------------------------------------------------------ */

/*
 * DEST as an absolute path (symlinks resolved; it need not exist, its
 * parent must) and whether it is an existing directory.
 */
static int resolve_dest(struct cp *c, const char *dest, char **ret, bool *is_dir)
{
	char *copy = strdup(dest), *slash, *parent;
	struct stat st;
	int r = 0;

	*ret = NULL;
	*is_dir = stat(dest, &st) == 0 && S_ISDIR(st.st_mode);
	if (*is_dir || !copy) {
		free(copy);
		*ret = realpath(dest, NULL);
		return *ret ? 0 : fail(c, EXIT_OPERATIONAL, "Failed to resolve '%s': "
				       "%s", dest, strerror(errno));
	}
	slash = strrchr(copy, '/');
	if (slash && slash[1] == '\0') {
		free(copy);
		return fail(c, EXIT_OPERATIONAL, "'%s' is not a directory", dest);
	}
	if (slash)
		*slash = '\0';
	parent = realpath(slash ? (*copy ? copy : "/") : ".", NULL);
	if (!parent)
		r = fail(c, EXIT_OPERATIONAL, "Failed to resolve the directory of "
			 "'%s': %s", dest, strerror(errno));
	else if (!(*ret = join(parent, slash ? slash + 1 : copy)))
		r = fail(c, EXIT_OPERATIONAL, "out of memory");
	free(parent);
	free(copy);
	return r;
}

static int find_mount(struct cp *c, const char *dest, const char *abs)
{
	int r = famfsctl_mount_find(abs, &c->m);

	if (r == -ENOENT)
		return fail(c, EXIT_OPERATIONAL, "'%s' is not in a famfsd mount of "
			    "this host (it is on %s): cp writes the bytes through "
			    "the agent's mount", dest, c->m.fstype ? c->m.fstype :
			    "no file system");
	if (r < 0)
		return fail(c, EXIT_OPERATIONAL, "Failed to read this host's "
			    "mounts: %s", strerror(-r));
	return 0;
}

static int parse(const struct famfsctl_args *a, struct cp *c)
{
	for (size_t i = 0; i < a->n_opts; i++) {
		const struct famfsctl_optval *v = &a->opts[i];
		long t;

		if (v->key == 'r') {
			c->recursive = true;
		} else if (v->key == 'v') {
			c->verbose = true;
		} else if (v->key == OPT_TENANT) {
			c->tenant = v->arg;
		} else {
			if (famfsctl_parse_seconds(v->arg, &t) < 0)
				return famfsctl_bad_value(a, v);
			c->timeout_s = (unsigned int)t;
		}
	}
	if (a->argc < 2)
		return famfsctl_usage(a, a->argc ? "no DEST" : "no SRC and DEST");
	return EXIT_CLEAN;
}

/* Each SRC to DEST, or into DEST when it is a directory. */
static void copy_all(struct cp *c, const struct famfsctl_args *a,
		     const char *dest_abs, bool dest_dir)
{
	for (int i = 0; i < a->argc - 1; i++) {
		const char *src = a->argv[i];
		char *real = NULL, *target = NULL;
		struct stat st;

		if (interrupted(c))
			break;
		if (stat(src, &st) < 0) {
			fail(c, EXIT_OPERATIONAL, "Failed to stat '%s': %s", src,
			     strerror(errno));
			continue;
		}
		if (dest_dir && !(real = realpath(src, NULL)))
			fail(c, EXIT_OPERATIONAL, "Failed to resolve '%s': %s", src,
			     strerror(errno));
		else if (dest_dir && !strcmp(real, "/"))
			fail(c, EXIT_REFUSED, "'/' has no name to copy it under");
		else if (!(target = dest_dir ? join(dest_abs, last_name(real)) :
			   strdup(dest_abs)))
			fail(c, EXIT_OPERATIONAL, "out of memory");
		else
			copy_entry(c, src, target, &st);
		free(real);
		free(target);
	}
}

static void on_signal(int sig)
{
	cp_signal = sig;
}

/*
 * SIGINT and SIGTERM stop the copy at its next step, which undoes its
 * create; one that this process ignores stays ignored (nohup, a
 * background job).
 */
static void catch_signals(struct cp *c)
{
	static const int sigs[2] = { SIGINT, SIGTERM };
	/* No SA_RESTART: a wait or a blocked read returns to look. */
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < 2; i++) {
		sigaction(sigs[i], NULL, &c->old[i]);
		if (c->old[i].sa_handler != SIG_IGN)
			sigaction(sigs[i], &sa, NULL);
	}
}

/*
 * The handlers from before; a signal that came is raised again with its
 * default action, so that the caller (a shell) sees cp killed by it.
 */
static void release_signals(struct cp *c)
{
	sigaction(SIGINT, &c->old[0], NULL);
	sigaction(SIGTERM, &c->old[1], NULL);
	if (!cp_signal)
		return;
	fflush(NULL);
	signal(cp_signal, SIG_DFL);
	raise(cp_signal);
}

static int cmd_cp(const struct famfsctl_args *a)
{
	struct cp c = { .timeout_s = CP_TIMEOUT_DEFAULT };
	char *dest_abs = NULL;
	const char *dest;
	bool dest_dir;
	int r = parse(a, &c);

	if (r != EXIT_CLEAN)
		return r;
	dest = a->argv[a->argc - 1];
	r = resolve_dest(&c, dest, &dest_abs, &dest_dir);
	if (r == 0 && a->argc > 2 && !dest_dir)
		r = fail(&c, EXIT_OPERATIONAL, "copying several sources needs DEST "
			 "to be a directory; '%s' is not one", dest);
	if (r == 0)
		r = find_mount(&c, dest, dest_abs);
	c.buf[0] = malloc(CP_CHUNK);
	c.buf[1] = malloc(CP_CHUNK);
	if (r == 0 && (!c.buf[0] || !c.buf[1]))
		r = fail(&c, EXIT_OPERATIONAL, "out of memory");
	online_init(&c.o, &a->g);
	if (r == 0 && online_open(&c.o) < 0)
		r = EXIT_OPERATIONAL;
	if (r == 0) {
		catch_signals(&c);
		copy_all(&c, a, dest_abs, dest_dir);
	}
	online_close(&c.o);
	famfsctl_mount_free(&c.m);
	free(c.buf[0]);
	free(c.buf[1]);
	free(dest_abs);
	if (r == 0)
		release_signals(&c);
	return r ? r : c.worst;
}

static const struct famfsctl_opt cp_opts[] = {
	{ "recursive", 'r', NULL, "copy directories and what they hold" },
	{ "verbose", 'v', NULL, "say what was copied and what was kept" },
	{ "tenant", OPT_TENANT, "T", "charge the files to tenant T" },
	{ "timeout", OPT_TIMEOUT, "SECONDS", "wait for a file in the mount (10)" },
	{ 0 }
};

const struct famfsctl_cmd famfsctl_cp = {
	.name = "cp",
	.fn = cmd_cp,
	.operands = "SRC... DEST",
	.summary = "copy files into the pool through a famfsd mount here",
	.opts = cp_opts,
	.flags = CMD_ONLINE,
};
