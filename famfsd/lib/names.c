// SPDX-License-Identifier: GPL-2.0-or-later
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "famfsd_format.h"
#include "names.h"

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, <= U+10FFFF. */
bool famfs_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		uint32_t cp;
		size_t n;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += n + 1;
	}
	return true;
}

const char *famfs_name_check(const char *name, size_t len)
{
	if (len == 0)
		return "empty path component";
	if (len > FAMFS_NAME_MAX)
		return "path component longer than 255 bytes";
	if (memchr(name, '/', len))
		return "path component contains '/'";
	if (memchr(name, '\0', len))
		return "path component contains a NUL byte";
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return "path component is '.' or '..'";
	if (!famfs_utf8_valid(name, len))
		return "path component is not valid UTF-8";
	return NULL;
}

const char *famfs_tenant_check(const char *tenant, size_t len)
{
	if (len > FAMFS_TENANT_MAX)
		return "tenant name longer than 63 bytes";
	for (size_t i = 0; i < len; i++) {
		char c = tenant[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return "tenant name may hold only A-Z a-z 0-9 . _ -";
	}
	if (len && tenant[0] == '.')
		return "tenant name may not start with '.'";
	return NULL;
}

void famfs_path_iter_init(struct famfs_path_iter *it, const char *path,
			  size_t len)
{
	it->path = path;
	it->len = len;
	it->at = 0;
}

int famfs_path_next(struct famfs_path_iter *it, const char **ret_name,
		    size_t *ret_len, const char **reason)
{
	const char *start, *slash;
	size_t n;

	if (it->len > FAMFS_PATH_MAX) {
		*reason = "path longer than 4095 bytes";
		return -EINVAL;
	}
	while (it->at < it->len && it->path[it->at] == '/')
		it->at++;
	if (it->at == it->len)
		return 0;
	start = it->path + it->at;
	slash = memchr(start, '/', it->len - it->at);
	n = slash ? (size_t)(slash - start) : it->len - it->at;
	*reason = famfs_name_check(start, n);
	if (*reason)
		return -EINVAL;
	it->at += n;
	*ret_name = start;
	*ret_len = n;
	return 1;
}
