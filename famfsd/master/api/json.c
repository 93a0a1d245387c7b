// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What every API handler shares: decoding paths and request bodies with
 * the spec's validation rules (closed objects, typed and bounded fields),
 * encoding File, Tenant and Agent objects, and turning an operation's
 * errno into the matching problem type.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "master/api/api.h"
#include "names.h"

enum http_problem api_problem_of(int err)
{
	enum http_problem p;

	switch (-err) {
	case EINVAL:
		p = PROB_VALIDATION;
		break;
	case EPERM:
	case EACCES:
		p = PROB_FORBIDDEN;
		break;
	case ENOENT:
		p = PROB_NOT_FOUND;
		break;
	case EEXIST:
	case ENOTEMPTY:
	case ENOTDIR:
	case EISDIR:
	case ESTALE:
	case ERANGE:
		p = PROB_CONFLICT;
		break;
	case EDQUOT:
		p = PROB_QUOTA;
		break;
	case ENOSPC:
		p = PROB_POOL_FULL;
		break;
	case ENOBUFS:
		p = PROB_LOG_FULL;
		break;
	case ESHUTDOWN:
		p = PROB_FENCED;
		break;
	default:
		p = PROB_INTERNAL;
	}
	return p;
}

enum MHD_Result api_reply_err(struct http_req *rq, int err,
			      const struct master_why *w)
{
	const char *detail = w && w->msg[0] ? w->msg : strerror(-err);

	return http_reply_problem(rq, api_problem_of(err), "%s", detail);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes raw into out[0..size-1) and NUL terminates it. An
 * encoded '/' is refused when slash_ok is false: inside a component it
 * would be a separator nobody can see.
 */
static int decode(const char *raw, char *out, size_t size, size_t *ret_len,
		  bool slash_ok, struct master_why *w)
{
	size_t n = 0;

	for (const char *p = raw; *p;) {
		char c = *p++;

		if (c == '%') {
			int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);

			if (lo < 0) {
				master_why_set(w, "bad percent-encoding in the path");
				return -EINVAL;
			}
			c = (char)(hi << 4 | lo);
			p += 2;
			if (c == '/' && !slash_ok) {
				master_why_set(w, "path component contains an "
					       "encoded '/' (%%2F)");
				return -EINVAL;
			}
			if (c == '\0') {
				master_why_set(w, "path component contains a NUL "
					       "byte");
				return -EINVAL;
			}
		}
		if (n + 1 >= size) {
			master_why_set(w, "path longer than %u bytes",
				       FAMFS_PATH_MAX);
			return -EINVAL;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	*ret_len = n;
	return 0;
}

int api_path_decode(const char *raw, char *out, size_t *ret_len,
		    struct master_why *w)
{
	size_t n;
	int r;

	/* One byte more than the limit: room for a trailing '/'. */
	r = decode(raw, out, FAMFS_PATH_MAX + 2, &n, false, w);
	if (r < 0)
		return r;
	r = api_path_check(out, n, ret_len, w);
	if (r == 0)
		out[*ret_len] = '\0';
	return r;
}

int api_path_check(const char *path, size_t len, size_t *ret_len,
		   struct master_why *w)
{
	struct famfs_path_iter it;
	const char *name, *reason = NULL;
	size_t n = len, nl;
	int r;

	if (n && path[n - 1] == '/')
		n--;
	if (n > FAMFS_PATH_MAX) {
		master_why_set(w, "path longer than %u bytes", FAMFS_PATH_MAX);
		return -EINVAL;
	}
	if (memchr(path, '\0', n)) {
		master_why_set(w, "path contains a NUL byte");
		return -EINVAL;
	}
	if (n && (path[0] == '/' || path[n - 1] == '/' ||
		  memmem(path, n, "//", 2))) {
		master_why_set(w, "empty path component");
		return -EINVAL;
	}
	famfs_path_iter_init(&it, path, n);
	while ((r = famfs_path_next(&it, &name, &nl, &reason)) > 0)
		;
	if (r < 0) {
		master_why_set(w, "%s", reason);
		return -EINVAL;
	}
	*ret_len = n;
	return 0;
}

int api_segment_decode(const char *raw, char *out, size_t size,
		       struct master_why *w)
{
	size_t n;

	return decode(raw, out, size, &n, false, w);
}

bool api_path_allowed(const struct http_req *rq, const char *path, size_t len)
{
	const struct auth_ident *who = rq->who;
	size_t tl;

	if (who->role == AUTH_ADMIN)
		return true;
	if (who->role != AUTH_TENANT)
		return false;
	/* A tenant owns the top-level directory of its name and below. */
	tl = strlen(who->tenant);
	return len >= tl && memcmp(path, who->tenant, tl) == 0 &&
	       (len == tl || path[tl] == '/');
}

static bool media_is_json(const char *ctype)
{
	size_t n = strcspn(ctype, ";");

	while (n && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t'))
		n--;
	return n == strlen("application/json") &&
	       strncasecmp(ctype, "application/json", n) == 0;
}

/*
 * Duplicate keys. json-c keeps the last of two members with the same name
 * and says nothing (its tokener has no flag against it; JSON_TOKENER_STRICT
 * is about syntax), so {"size":1,"size":2000000} would mean 2 MB to us and
 * maybe 1 to a proxy or client library that keeps the first. RFC 8259
 * leaves the meaning open, so we refuse such a body.
 *
 * It is found by counting, after the parse: in valid JSON every ':' outside
 * a string separates exactly one member, and each parsed member comes from
 * one of them. The counts differ exactly when some object, at any depth,
 * named a key twice: the overwritten member, and its value's members, are
 * in the text but not in the tree. No second parser, no key comparison
 * (which would have to decode escapes: "a" and "\u0061" are one key).
 */
static size_t text_members(const char *s, size_t len)
{
	bool in_string = false;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;		/* the escaped char, '"' included */
			else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"') {
			in_string = true;
		} else if (s[i] == ':') {
			n++;
		}
	}
	return n;
}

/*
 * A key that holds a NUL ("\u0000"). json-c keeps a key only up to its
 * first NUL, so {"size\u0000x":1} would be read as "size": a name the
 * closed objects of the spec do not have would pass as one they do. Found
 * in the text like the duplicates: a string with an escaped NUL that a
 * ':' follows (whitespace between) is a key.
 */
static bool text_key_has_nul(const char *s, size_t len)
{
	bool in_string = false, nul = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (c == '\\' && i + 5 < len &&
			    memcmp(s + i + 1, "u0000", 5) == 0) {
				nul = true;
				i += 5;
			} else if (c == '\\') {
				i++;		/* the escaped char, '"' included */
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
			nul = false;
		} else if (c == ':' && nul) {
			return true;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
			nul = false;
		}
	}
	return false;
}

/* Members of every object in the tree (recursion bounded by the tokener's
 * depth limit). A JSON null is a NULL object. */
static size_t tree_members(struct json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += tree_members(json_object_array_get_idx(o, i));
	} else if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val) {
			(void)key;
			n += 1 + tree_members(val);
		}
	}
	return n;
}

int api_body_present(const struct http_req *rq, struct master_why *w)
{
	const char *ctype = http_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);

	if (!rq->body_len) {
		master_why_set(w, "a JSON object body is required");
		return -EINVAL;
	}
	if (ctype && !media_is_json(ctype)) {
		master_why_set(w, "Content-Type must be application/json");
		return -EINVAL;
	}
	return 0;
}

int api_body(struct http_req *rq, bool required, const char *const *allowed,
	     struct json_object **ret, struct master_why *w)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t end;

	*ret = NULL;
	if (!rq->body_len && !required)
		return 0;
	if (api_body_present(rq, w) < 0)
		return -EINVAL;
	tok = json_tokener_new();
	if (!tok) {
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o && jerr == json_tokener_success) {
		master_why_set(w, "body must be a JSON object");
		return -EINVAL;
	}
	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		master_why_set(w, "body is not valid JSON: %s",
			       jerr == json_tokener_continue ? "unexpected end" :
			       json_tokener_error_desc(jerr));
		return -EINVAL;
	}
	if (text_members(rq->body, end) != tree_members(o)) {
		json_object_put(o);
		master_why_set(w, "body names the same key twice in one object");
		return -EINVAL;
	}
	if (text_key_has_nul(rq->body, end)) {
		json_object_put(o);
		master_why_set(w, "a key of the body holds a NUL character");
		return -EINVAL;
	}
	for (size_t i = end; i < rq->body_len; i++) {
		/* strchr() would find the terminator for a NUL byte. */
		if (!rq->body[i] || !strchr(" \t\r\n", rq->body[i])) {
			json_object_put(o);
			master_why_set(w, "body has data after the JSON value");
			return -EINVAL;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		master_why_set(w, "body must be a JSON object");
		return -EINVAL;
	}
	if (api_fields(o, allowed, w) < 0) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}

int api_fields(struct json_object *o, const char *const *allowed,
	       struct master_why *w)
{
	json_object_object_foreach(o, key, val) {
		const char *const *a;

		(void)val;
		for (a = allowed; *a && strcmp(*a, key) != 0; a++)
			;
		if (!*a) {
			master_why_set(w, "%s: unknown field", key);
			return -EINVAL;
		}
	}
	return 0;
}

int api_uint(struct json_object *o, const char *key, bool required,
	     uint64_t min, uint64_t max, uint64_t *ret, struct master_why *w)
{
	struct json_object *v;
	uint64_t u;

	if (!o || !json_object_object_get_ex(o, key, &v)) {
		if (!required)
			return 0;
		master_why_set(w, "%s: required", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_int))
		return api_check_uint(key, false, false, 0, min, max, ret, w);
	u = json_object_get_int64(v) < 0 ? 0 : json_object_get_uint64(v);
	return api_check_uint(key, true, json_object_get_int64(v) < 0, u, min,
			      max, ret, w);
}

int api_check_uint(const char *key, bool is_int, bool negative, uint64_t u,
		   uint64_t min, uint64_t max, uint64_t *ret,
		   struct master_why *w)
{
	if (!is_int) {
		master_why_set(w, "%s: must be an integer", key);
		return -EINVAL;
	}
	if (negative || u < min || u > max) {
		master_why_set(w, "%s: must be an integer from %llu to %llu", key,
			       (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*ret = u;
	return 0;
}

int api_string(struct json_object *o, const char *key, bool required,
	       size_t min, size_t max, const char **ret, size_t *ret_len,
	       struct master_why *w)
{
	struct json_object *v;
	size_t len;

	if (!o || !json_object_object_get_ex(o, key, &v)) {
		if (!required)
			return 0;
		master_why_set(w, "%s: required", key);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string))
		return api_check_string(key, NULL, 0, min, max, w);
	len = (size_t)json_object_get_string_len(v);
	if (api_check_string(key, json_object_get_string(v), len, min, max, w))
		return -EINVAL;
	*ret = json_object_get_string(v);
	*ret_len = len;
	return 0;
}

int api_check_string(const char *key, const char *s, size_t len, size_t min,
		     size_t max, struct master_why *w)
{
	if (!s) {
		master_why_set(w, "%s: must be a string", key);
		return -EINVAL;
	}
	if (len < min || len > max) {
		master_why_set(w, "%s: must be %zu to %zu bytes long", key, min, max);
		return -EINVAL;
	}
	if (memchr(s, '\0', len)) {
		master_why_set(w, "%s: must not contain a NUL character", key);
		return -EINVAL;
	}
	return 0;
}

int api_query_uint(struct http_req *rq, const char *key, uint64_t dflt,
		   uint64_t min, uint64_t max, uint64_t *ret,
		   struct master_why *w)
{
	const char *s = http_arg(rq, key);
	uint64_t v = 0;

	if (!s) {
		*ret = dflt;
		return 0;
	}
	if (!*s)
		goto bad;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			goto bad;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max)
		goto bad;
	*ret = v;
	return 0;
bad:
	master_why_set(w, "%s: must be an integer from %llu to %llu", key,
		       (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

struct json_object *api_node_json(struct master *m, const struct famfs_node *n,
				  const char *path, bool extents)
{
	const struct famfs_tenant *tn = famfs_tenants_by_id(m->st->tenants,
							    n->tenant);
	struct json_object *o = json_object_new_object();
	char buf[FAMFS_PATH_MAX + 2];
	bool dir = famfs_node_is_dir(n);

	if (!o)
		return NULL;
	if (!path) {
		if (famfs_ns_path(n, buf, sizeof(buf)) < 0)
			strcpy(buf, "?");
		path = buf;
	}
	json_object_object_add(o, "path", json_object_new_string(path));
	json_object_object_add(o, "ino", json_u64(n->ino));
	json_object_object_add(o, "type", json_object_new_string(dir ? "dir" :
								 "file"));
	json_object_object_add(o, "size", json_u64(n->size));
	json_object_object_add(o, "mode", json_object_new_int((int)(n->mode & 07777)));
	json_object_object_add(o, "uid", json_u64(n->uid));
	json_object_object_add(o, "gid", json_u64(n->gid));
	json_object_object_add(o, "tenant", json_object_new_string(tn ? tn->name :
								    ""));
	json_object_object_add(o, "mtime_ns", json_u64(n->mtime_ns));
	json_object_object_add(o, "mtime", json_time(n->mtime_ns));
	json_object_object_add(o, "seq", json_u64(n->seq));
	if (extents && !dir) {
		const struct famfs_extent *e = famfs_node_extents(n);
		struct json_object *a = json_object_new_array_ext((int)n->n_extents);

		for (uint32_t i = 0; i < n->n_extents; i++) {
			struct json_object *x = json_object_new_object();

			json_object_object_add(x, "offset", json_u64(e[i].offset));
			json_object_object_add(x, "length", json_u64(e[i].len));
			json_object_array_add(a, x);
		}
		json_object_object_add(o, "extents", a);
	}
	return o;
}

struct json_object *api_tenant_json(const struct famfs_tenant *tn, uint64_t seq)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "tenant", json_object_new_string(tn->name));
	json_object_object_add(o, "max_bytes", json_u64(tn->max_bytes));
	json_object_object_add(o, "max_files", json_u64(tn->max_files));
	json_object_object_add(o, "used_bytes", json_u64(tn->used_bytes));
	json_object_object_add(o, "used_files", json_u64(tn->used_files));
	if (seq)
		json_object_object_add(o, "seq", json_u64(seq));
	return o;
}

struct json_object *api_agent_json(struct master *m,
				   const struct master_agent *ag)
{
	uint64_t last = famfs_log_published(m->pool->log).seq;
	uint64_t now = clock_real_ns();
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "agent_id", json_object_new_string(ag->id));
	json_object_object_add(o, "host", json_object_new_string(ag->host));
	json_object_object_add(o, "address", json_object_new_string(ag->address));
	json_object_object_add(o, "applied_seq", json_u64(ag->applied_seq));
	json_object_object_add(o, "generation", json_u64(ag->generation));
	json_object_object_add(o, "lag", json_u64(last > ag->applied_seq ?
						  last - ag->applied_seq : 0));
	json_object_object_add(o, "last_heartbeat_ns",
			       json_u64(ag->last_heartbeat_ns));
	json_object_object_add(o, "last_heartbeat",
			       json_time(ag->last_heartbeat_ns));
	json_object_object_add(o, "age_seconds", json_object_new_double(
		now > ag->last_heartbeat_ns ?
		(double)(now - ag->last_heartbeat_ns) / 1e9 : 0.0));
	json_object_object_add(o, "open_files", json_u64(ag->n_open));
	json_object_object_add(o, "state", json_object_new_string(
		master_agent_state(m, ag, clock_mono_ns())));
	return o;
}
