// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The context: logging to stderr, and the scan that fills the inventory in
 * dependency order (CXL first, so namespaces and dax devices
 * can be tied to the CXL regions whose address ranges hold them; then the
 * checks, which need every candidate known for one /proc walk).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "private.h"

void cxl_log(struct famfs_cxl_ctx *ctx, int priority, const char *fmt, ...)
{
	va_list ap;

	if (!ctx || priority > ctx->log_priority)
		return;
	va_start(ap, fmt);
	fputs("libfamfscxl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void cxl_forward_log(struct famfs_cxl_ctx *ctx, int priority, const char *file,
		     int line, const char *fn, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)priority;
	(void)file;
	(void)line;
	if (!ctx || ctx->log_priority < LOG_DEBUG)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	cxl_log(ctx, LOG_DEBUG, "%s: %s", fn, msg);
}

static int env_priority(void)
{
	const char *e = getenv("FAMFS_CXL_LOG");

	if (!e)
		return LOG_ERR;
	if (!strcasecmp(e, "debug"))
		return LOG_DEBUG;
	if (!strcasecmp(e, "info"))
		return LOG_INFO;
	return LOG_ERR;
}

static void free_lists(struct famfs_cxl_ctx *ctx)
{
	while (ctx->memdevs) {
		struct famfs_cxl_memdev *m = ctx->memdevs;

		ctx->memdevs = m->next;
		free(m->devname);
		free(m->host);
		free(m);
	}
	while (ctx->regions) {
		struct famfs_cxl_region *r = ctx->regions;

		ctx->regions = r->next;
		for (unsigned int i = 0; i < CXL_MAX_WAYS; i++)
			free(r->target_decoder[i]);
		free(r->devname);
		free(r);
	}
	while (ctx->namespaces) {
		struct famfs_cxl_namespace *n = ctx->namespaces;

		ctx->namespaces = n->next;
		if (n->check) {
			cxl_check_clear(n->check);
			free(n->check);
		}
		free(n->devname);
		free(n->blockdev);
		free(n->chardev);
		free(n->nd_region);
		free(n);
	}
	while (ctx->dax_regions) {
		struct famfs_cxl_dax_region *d = ctx->dax_regions;

		ctx->dax_regions = d->next;
		free(d);
	}
	while (ctx->daxdevs) {
		struct famfs_cxl_daxdev *x = ctx->daxdevs;

		ctx->daxdevs = x->next;
		cxl_check_clear(&x->check);
		free(x->devname);
		free(x);
	}
}

int cxl_scan(struct famfs_cxl_ctx *ctx)
{
	struct famfs_cxl_namespace *n;
	struct famfs_cxl_daxdev *x;
	int r;

	free_lists(ctx);
	r = cxl_scan_memdevs_regions(ctx);
	if (r == 0)
		r = cxl_scan_namespaces(ctx);
	if (r == 0)
		r = cxl_scan_dax(ctx);
	if (r < 0) {
		free_lists(ctx);
		return r;
	}
	cxl_check_users(ctx);
	famfs_cxl_daxdev_foreach(ctx, x) {
		r = 0;
		if (x->mode && !strcmp(x->mode, "system-ram"))
			r = cxl_check_add(&x->check, FAMFS_CXL_P_SYSTEM_RAM,
					  "system-ram mode: onlined as system RAM "
					  "(kmem), and Linux zeroes memory it "
					  "onlines; famfsctl devices prepare %s "
					  "switches it to devdax", x->devname);
		else if (!x->mode)
			r = cxl_check_add(&x->check, FAMFS_CXL_P_DISABLED,
					  "disabled: no driver bound; famfsctl "
					  "devices prepare %s enables it as "
					  "devdax", x->devname);
		if (r == 0)
			r = cxl_check_run(ctx, &x->check);
		if (r < 0)
			goto fail;
	}
	famfs_cxl_namespace_foreach(ctx, n) {
		if (!n->check)
			continue;
		r = cxl_check_run(ctx, n->check);
		if (r < 0)
			goto fail;
	}
	return 0;
fail:
	free_lists(ctx);
	return r;
}

int famfs_cxl_new(struct famfs_cxl_ctx **ret)
{
	struct famfs_cxl_ctx *ctx = calloc(1, sizeof(*ctx));
	int r;

	if (!ctx)
		return -ENOMEM;
	ctx->log_priority = env_priority();
	r = cxl_scan(ctx);
	if (r < 0) {
		famfs_cxl_unref(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

void famfs_cxl_unref(struct famfs_cxl_ctx *ctx)
{
	if (!ctx)
		return;
	free_lists(ctx);
	free(ctx);
}

/* ---- small helpers ------------------------------------------------------ */

int cxl_sysfs_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return 0;
}

char *cxl_strdup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Appends ", add" (or add) to a malloc'd string. */
int cxl_str_add(char **s, const char *add)
{
	char *n;

	if (asprintf(&n, "%s%s%s", *s ? *s : "", *s ? ", " : "", add) < 0)
		return -ENOMEM;
	free(*s);
	*s = n;
	return 0;
}
