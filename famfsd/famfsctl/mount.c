// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The famfsd mounts of this host, from /proc/self/mountinfo: which one
 * holds a local path, and which pool path that local path is. famfsctl cp
 * writes file bytes through such a mount (docs/master.md).
 *
 * A mount is famfsd's when its type is "fuse.famfsd" (the agent's FUSE
 * back-end mounts with subtype=famfsd) or FAMFSD_KMOD_FSTYPE (the kernel
 * module). Its root field says which pool directory the mount shows: "/"
 * for the agent's mount, a subdirectory for a bind mount of part of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "famfsctl.h"
#include "famfsd_kmod.h"

#define FUSE_FSTYPE	"fuse.famfsd"

void famfsctl_mount_free(struct famfsctl_mount *m)
{
	free(m->dir);
	free(m->root);
	free(m->fstype);
	memset(m, 0, sizeof(*m));
}

/* mountinfo escapes space, tab, newline and backslash as \ooo; in place. */
static void unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* True when dir is path or one of its ancestors ("/" is everyone's). */
static bool holds(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(dir, path, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/*
 * One mountinfo line into root, dir and fstype (pointers into line, which
 * is modified). -EINVAL for a line of another shape.
 */
static int parse_line(char *line, char **root, char **dir, char **fstype)
{
	char *save = NULL, *f[5];
	int n = 0;

	for (char *t = strtok_r(line, " \n", &save); t && n < 5;
	     t = strtok_r(NULL, " \n", &save))
		f[n++] = t;
	if (n < 5)
		return -EINVAL;
	/* Optional fields follow the five fixed ones, up to a lone "-". */
	for (char *t = strtok_r(NULL, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
		if (strcmp(t, "-") == 0) {
			*fstype = strtok_r(NULL, " \n", &save);
			if (!*fstype)
				return -EINVAL;
			*root = f[3];
			*dir = f[4];
			unescape(*root);
			unescape(*dir);
			return 0;
		}
	}
	return -EINVAL;
}

static int remember(struct famfsctl_mount *m, const char *root, const char *dir,
		    const char *fstype)
{
	famfsctl_mount_free(m);
	m->root = strdup(root);
	m->dir = strdup(dir);
	m->fstype = strdup(fstype);
	return m->root && m->dir && m->fstype ? 0 : -ENOMEM;
}

int famfsctl_mount_find(const char *abs_path, struct famfsctl_mount *ret)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	struct famfsctl_mount best = { 0 };
	size_t cap = 0, best_len = 0;
	char *line = NULL;
	int r = 0;

	if (!f)
		return -errno;
	/*
	 * The mount holding a path is the one with the longest mount point
	 * above it; of mounts on the same point, the later one is on top.
	 */
	while (r == 0 && getline(&line, &cap, f) > 0) {
		char *root, *dir, *fstype;

		if (parse_line(line, &root, &dir, &fstype) < 0 || !holds(dir, abs_path) ||
		    strlen(dir) < best_len)
			continue;
		best_len = strlen(dir);
		r = remember(&best, root, dir, fstype);
	}
	free(line);
	fclose(f);
	if (r == 0 && !best.dir)
		r = -ENOENT;		/* no mountinfo line at all */
	if (r == 0 && strcmp(best.fstype, FUSE_FSTYPE) &&
	    strcmp(best.fstype, FAMFSD_KMOD_FSTYPE))
		r = -ENOENT;
	if (r < 0 && r != -ENOENT) {
		famfsctl_mount_free(&best);
		return r;
	}
	*ret = best;			/* on -ENOENT, fstype says what holds it */
	return r;
}

char *famfsctl_mount_pool_path(const struct famfsctl_mount *m, const char *abs_path)
{
	const char *rel = abs_path + (strcmp(m->dir, "/") ? strlen(m->dir) : 0);
	bool root_is_top = strcmp(m->root, "/") == 0;
	char *p;

	while (*rel == '/')
		rel++;
	if (asprintf(&p, "%s%s%s", root_is_top ? "" : m->root,
		     *rel || root_is_top ? "/" : "", rel) < 0)
		return NULL;
	return p;
}
