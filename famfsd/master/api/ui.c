// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The web page (docs/ui.md, "The page"): GET / is a 302 and GET /ui a
 * 308 to /ui/, and /ui/, /ui/app.js, /ui/style.css and /ui/favicon.svg
 * are the files of
 * ui/ as embedded in the binary at build time (ui_assets.S). No token is needed: the page
 * holds no data, it asks the API for it with the token the user types.
 * Every reply under /ui, errors included, carries the security headers
 * of api_ui_headers (the router adds them); an ETag, the bytes' CRC32C
 * and length, lets a browser revalidate (Cache-Control: no-cache) with a 304.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "crc.h"
#include "master/api/api.h"

extern const char famfs_ui_index_html[], famfs_ui_index_html_end[];
extern const char famfs_ui_app_js[], famfs_ui_app_js_end[];
extern const char famfs_ui_style_css[], famfs_ui_style_css_end[];
extern const char famfs_ui_favicon_svg[], famfs_ui_favicon_svg_end[];

const char *const api_ui_headers[] = {
	"Content-Security-Policy",
	"default-src 'none'; script-src 'self'; style-src 'self'; "
	"img-src 'self'; connect-src 'self'; base-uri 'none'; "
	"form-action 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options", "nosniff",
	"Referrer-Policy", "no-referrer",
	"Cache-Control", "no-cache",
	NULL,
};

struct ui_asset {
	const char *name;		/* the path's rest after /ui/ */
	const char *ctype;
	const char *data, *end;
	char etag[20];			/* "16 hex digits", set once */
};

static struct ui_asset assets[] = {
	{ "", "text/html; charset=utf-8",
	  famfs_ui_index_html, famfs_ui_index_html_end, "" },
	{ "app.js", "text/javascript; charset=utf-8",
	  famfs_ui_app_js, famfs_ui_app_js_end, "" },
	{ "style.css", "text/css; charset=utf-8",
	  famfs_ui_style_css, famfs_ui_style_css_end, "" },
	/* Without one a browser asks for /favicon.ico and logs the 404. */
	{ "favicon.svg", "image/svg+xml",
	  famfs_ui_favicon_svg, famfs_ui_favicon_svg_end, "" },
};

#define N_ASSETS	(sizeof(assets) / sizeof(assets[0]))

static pthread_once_t etags_once = PTHREAD_ONCE_INIT;

/*
 * The bytes' CRC32C (the project's, lib/crc.h) and their length: they
 * change only when famfsd is rebuilt.
 */
static void etags_make(void)
{
	for (size_t i = 0; i < N_ASSETS; i++) {
		size_t len = (size_t)(assets[i].end - assets[i].data);

		snprintf(assets[i].etag, sizeof(assets[i].etag),
			 "\"%08" PRIx32 "%08" PRIx32 "\"",
			 famfs_crc32c(assets[i].data, len), (uint32_t)len);
	}
}

static const struct ui_asset *ui_find(const char *name)
{
	for (size_t i = 0; i < N_ASSETS; i++)
		if (strcmp(assets[i].name, name) == 0)
			return &assets[i];
	return NULL;
}

/* True when If-None-Match names the asset's ETag (or is "*"). */
static bool ui_unchanged(const struct http_req *rq, const struct ui_asset *a)
{
	const char *inm = http_header(rq, MHD_HTTP_HEADER_IF_NONE_MATCH);

	return inm && (strcmp(inm, "*") == 0 || strstr(inm, a->etag));
}

enum MHD_Result api_get_ui(struct http_req *rq, const char *arg)
{
	const struct ui_asset *a;

	/* The route matches /ui and /ui/...: the bare one moves, so that
	 * the page's relative names (app.js) resolve under /ui/. */
	if (strcmp(rq->path, "/ui") == 0)
		return http_reply_static(rq, MHD_HTTP_PERMANENT_REDIRECT, NULL,
					 "", 0, MHD_HTTP_HEADER_LOCATION, "/ui/");
	a = ui_find(arg);
	if (!a)
		return http_reply_problem(rq, PROB_NOT_FOUND,
					  "no such page file: %s", rq->path);
	pthread_once(&etags_once, etags_make);
	if (ui_unchanged(rq, a))
		return http_reply_static(rq, MHD_HTTP_NOT_MODIFIED, NULL, "", 0,
					 MHD_HTTP_HEADER_ETAG, a->etag);
	return http_reply_static(rq, MHD_HTTP_OK, a->ctype, a->data,
				 (size_t)(a->end - a->data),
				 MHD_HTTP_HEADER_ETAG, a->etag);
}

/* Where a browser pointed at the master's address lands. Not permanent:
 * a later version may serve something else at /. */
enum MHD_Result api_get_root(struct http_req *rq, const char *arg)
{
	(void)arg;
	return http_reply_static(rq, MHD_HTTP_FOUND, NULL, "", 0,
				 MHD_HTTP_HEADER_LOCATION, "/ui/");
}
