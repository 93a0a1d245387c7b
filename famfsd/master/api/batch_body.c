// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The body of POST /v1/batch, decoded in one pass without a json-c tree:
 * 65,536 operations would be as many json-c objects, each with its own
 * hash table, and parsing and freeing that tree cost more than the whole
 * batch in the master. The rules are api_body()'s (master/api/json.c),
 * checked here on the text itself:
 *
 *   - RFC 8259 JSON: one value, only whitespace after it; strings valid
 *     UTF-8 with no raw control characters; escapes as the RFC lists them,
 *     surrogates only in pairs; nesting at most API_BATCH_DEPTH deep;
 *   - no object names a key twice, and no key holds a NUL (a key is
 *     compared whole, after its escapes are decoded, so "size\u0000x" is
 *     simply not "size");
 *   - closed objects: the body has only "ops", each op only its kind's
 *     fields, each field of its type and range (api_check_uint/_string,
 *     the single calls' own messages).
 *
 * A text that is not JSON is refused as a whole whatever else is wrong
 * with it; then a body-level fault (duplicate key, unknown member, the
 * op count); then the first op at fault, by index.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/api/api.h"
#include "names.h"

#define API_BATCH_DEPTH	32		/* json-c's default depth */

/* A value of a field, as found. */
enum jv_type { JV_NONE, JV_STRING, JV_NUMBER, JV_BOOL, JV_OTHER };

struct jv {
	enum jv_type type;
	const char *s;			/* JV_STRING: decoded, in the arena */
	size_t len;
	bool is_int, negative;		/* JV_NUMBER */
	uint64_t u;			/* JV_NUMBER: saturated at UINT64_MAX */
	bool b;				/* JV_BOOL */
};

enum field {
	F_OP, F_PATH, F_SIZE, F_MODE, F_UID, F_GID, F_TENANT, F_EXIST_OK,
	F_MISSING_OK, F__N
};

static const char *const field_names[F__N] = {
	[F_OP] = "op", [F_PATH] = "path", [F_SIZE] = "size", [F_MODE] = "mode",
	[F_UID] = "uid", [F_GID] = "gid", [F_TENANT] = "tenant",
	[F_EXIST_OK] = "exist_ok", [F_MISSING_OK] = "missing_ok",
};

/* The fields each kind of op may carry. */
static const unsigned int kind_fields[] = {
	[BATCH_CREATE] = 1u << F_OP | 1u << F_PATH | 1u << F_SIZE |
			 1u << F_MODE | 1u << F_UID | 1u << F_GID |
			 1u << F_TENANT,
	[BATCH_MKDIR] = 1u << F_OP | 1u << F_PATH | 1u << F_MODE |
			1u << F_UID | 1u << F_GID | 1u << F_EXIST_OK,
	[BATCH_DELETE] = 1u << F_OP | 1u << F_PATH | 1u << F_MISSING_OK,
};

struct parser {
	const struct http_req *rq;
	const char *p, *end;
	char *arena;			/* decoded strings; as long as the body */
	size_t arena_len;
	int depth;
	const char *syntax;		/* why the text is not JSON */
	struct master_why body_why;	/* the first body-level fault */
	bool body_bad;
	struct master_why op_why;	/* the first op at fault */
	size_t op_bad;			/* its index; SIZE_MAX: none */
	int op_err;			/* its errno */
	struct api_batch *b;
	size_t cap;
};

static void ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
				   *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static bool fail(struct parser *ps, const char *why)
{
	if (!ps->syntax)
		ps->syntax = why;
	return false;
}

/* Consumes c (after whitespace) when it is next. */
static bool eat(struct parser *ps, char c)
{
	ws(ps);
	if (ps->p < ps->end && *ps->p == c) {
		ps->p++;
		return true;
	}
	return false;
}

static int hex4(const char *s)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t put_utf8(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One \u escape at p (after the backslash and 'u'), a pair if need be. */
static bool unicode(struct parser *ps, char *out, size_t *n)
{
	int hi, lo;
	uint32_t cp;

	if (ps->end - ps->p < 4 || (hi = hex4(ps->p)) < 0)
		return fail(ps, "bad \\u escape in a string");
	ps->p += 4;
	cp = (uint32_t)hi;
	if (hi >= 0xdc00 && hi <= 0xdfff)
		return fail(ps, "lone low surrogate in a string");
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
		    (lo = hex4(ps->p + 2)) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return fail(ps, "lone high surrogate in a string");
		ps->p += 6;
		cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) +
		     ((uint32_t)lo - 0xdc00);
	}
	*n = put_utf8(out, cp);
	return true;
}

/* A string at p (its opening quote next), decoded into the arena. */
static bool string(struct parser *ps, const char **ret, size_t *ret_len)
{
	char *out = ps->arena + ps->arena_len;
	const char *q;
	size_t n = 0, k;

	if (!eat(ps, '"'))
		return fail(ps, "a string was expected");
	while (ps->p < ps->end && *ps->p != '"') {
		unsigned char c = (unsigned char)*ps->p;

		if (c < 0x20)
			return fail(ps, "control character in a string");
		if (c != '\\') {
			/* Plain bytes: copied as a run, checked as UTF-8 below. */
			for (q = ps->p; q < ps->end && *q != '"' && *q != '\\' &&
			     (unsigned char)*q >= 0x20; q++)
				;
			if (!famfs_utf8_valid(ps->p, (size_t)(q - ps->p)))
				return fail(ps, "a string is not valid UTF-8");
			memcpy(out + n, ps->p, (size_t)(q - ps->p));
			n += (size_t)(q - ps->p);
			ps->p = q;
			continue;
		}
		if (++ps->p == ps->end)
			break;
		switch (*ps->p++) {
		case '"': out[n++] = '"'; break;
		case '\\': out[n++] = '\\'; break;
		case '/': out[n++] = '/'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u':
			if (!unicode(ps, out + n, &k))
				return false;
			n += k;
			break;
		default:
			return fail(ps, "bad escape in a string");
		}
	}
	if (ps->p == ps->end)
		return fail(ps, "unterminated string");
	ps->p++;
	/* Decoded text is never longer than its source: the arena holds it. */
	ps->arena_len += n;
	*ret = out;
	*ret_len = n;
	return true;
}

/* A number (RFC 8259 grammar); integers in *v, saturating. */
static bool number(struct parser *ps, struct jv *v)
{
	const char *p = ps->p;

	v->type = JV_NUMBER;
	v->is_int = true;
	v->u = 0;
	if (p < ps->end && *p == '-') {
		v->negative = true;
		p++;
	}
	if (p == ps->end || *p < '0' || *p > '9')
		return fail(ps, "bad number");
	if (*p == '0' && p + 1 < ps->end && p[1] >= '0' && p[1] <= '9')
		return fail(ps, "number with a leading zero");
	for (; p < ps->end && *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		v->u = v->u > (UINT64_MAX - d) / 10 ? UINT64_MAX : v->u * 10 + d;
	}
	if (p < ps->end && *p == '.') {
		v->is_int = false;
		if (++p == ps->end || *p < '0' || *p > '9')
			return fail(ps, "bad number");
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < ps->end && (*p == 'e' || *p == 'E')) {
		v->is_int = false;
		if (++p < ps->end && (*p == '+' || *p == '-'))
			p++;
		if (p == ps->end || *p < '0' || *p > '9')
			return fail(ps, "bad number");
		while (p < ps->end && *p >= '0' && *p <= '9')
			p++;
	}
	/* -0 is 0; any other negative is refused by the range check. */
	if (v->negative && v->u == 0)
		v->negative = false;
	ps->p = p;
	return true;
}

static bool literal(struct parser *ps, const char *word, size_t len)
{
	if ((size_t)(ps->end - ps->p) < len || memcmp(ps->p, word, len) != 0)
		return fail(ps, "not a JSON value");
	ps->p += len;
	return true;
}

static bool value(struct parser *ps, struct jv *v);

/* An object or array nobody looks into (an unknown member's value). */
static bool skip_container(struct parser *ps, char open)
{
	char close = open == '{' ? '}' : ']';
	struct jv v;
	const char *key;
	size_t klen;

	if (++ps->depth > API_BATCH_DEPTH)
		return fail(ps, "nested too deep");
	ps->p++;
	if (!eat(ps, close)) {
		do {
			if (open == '{') {
				if (!string(ps, &key, &klen))
					return false;
				if (!eat(ps, ':'))
					return fail(ps, "':' expected");
			}
			if (!value(ps, &v))
				return false;
		} while (eat(ps, ','));
		if (!eat(ps, close))
			return fail(ps, open == '{' ? "',' or '}' expected" :
					"',' or ']' expected");
	}
	ps->depth--;
	return true;
}

static bool value(struct parser *ps, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	ws(ps);
	if (ps->p == ps->end)
		return fail(ps, "unexpected end");
	switch (*ps->p) {
	case '"':
		v->type = JV_STRING;
		return string(ps, &v->s, &v->len);
	case '{':
	case '[':
		v->type = JV_OTHER;
		return skip_container(ps, *ps->p);
	case 't':
		v->type = JV_BOOL;
		v->b = true;
		return literal(ps, "true", 4);
	case 'f':
		v->type = JV_BOOL;
		return literal(ps, "false", 5);
	case 'n':
		v->type = JV_OTHER;
		return literal(ps, "null", 4);
	default:
		return number(ps, v);
	}
}

__attribute__((format(printf, 2, 3)))
static void body_fault(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->body_bad)
		return;
	ps->body_bad = true;
	va_start(ap, fmt);
	vsnprintf(ps->body_why.msg, sizeof(ps->body_why.msg), fmt, ap);
	va_end(ap);
}

/* ---- one op ---------------------------------------------------------------- */

static int want_uint(const struct jv *v, enum field f, bool required,
		     uint64_t min, uint64_t max, uint64_t *ret,
		     struct master_why *w)
{
	if (v->type == JV_NONE) {
		if (!required)
			return 0;
		master_why_set(w, "%s: required", field_names[f]);
		return -EINVAL;
	}
	return api_check_uint(field_names[f], v->type == JV_NUMBER && v->is_int,
			      v->negative, v->u, min, max, ret, w);
}

static int want_string(const struct jv *v, enum field f, bool required,
		       size_t min, size_t max, struct master_why *w)
{
	if (v->type == JV_NONE) {
		if (!required)
			return 0;
		master_why_set(w, "%s: required", field_names[f]);
		return -EINVAL;
	}
	return api_check_string(field_names[f],
				v->type == JV_STRING ? v->s : NULL, v->len,
				min, max, w);
}

static int want_bool(const struct jv *v, enum field f, bool *ret,
		     struct master_why *w)
{
	if (v->type == JV_NONE)
		return 0;
	if (v->type != JV_BOOL) {
		master_why_set(w, "%s: must be true or false", field_names[f]);
		return -EINVAL;
	}
	*ret = v->b;
	return 0;
}

static int op_kind(const struct jv *v, enum master_batch_kind *ret,
		   struct master_why *w)
{
	int err = want_string(v, F_OP, true, 1, 16, w);

	if (err)
		return err;
	for (size_t k = 0; k < sizeof(kind_fields) / sizeof(kind_fields[0]); k++)
		if (strlen(api_batch_kind_names[k]) == v->len &&
		    memcmp(v->s, api_batch_kind_names[k], v->len) == 0) {
			*ret = (enum master_batch_kind)k;
			return 0;
		}
	master_why_set(w, "op: must be create, mkdir or delete");
	return -EINVAL;
}

/* The checks of one op's fields, in the single calls' order. */
static int check_op(const struct http_req *rq, const struct jv *f,
		    unsigned int seen, struct master_batch_op *op,
		    struct master_why *w)
{
	struct master_create *c = &op->c;
	uint64_t size = 0, mode, uid = 0, gid = 0;
	int err = op_kind(&f[F_OP], &op->kind, w);

	if (err)
		return err;
	for (int k = 0; k < F__N; k++)
		if ((seen & 1u << k) && !(kind_fields[op->kind] & 1u << k)) {
			master_why_set(w, "%s: unknown field", field_names[k]);
			return -EINVAL;
		}
	err = want_string(&f[F_PATH], F_PATH, true, 0, FAMFS_PATH_MAX + 1, w);
	if (!err)
		err = api_path_check(f[F_PATH].s, f[F_PATH].len, &c->path_len, w);
	if (err)
		return err;
	c->path = f[F_PATH].s;
	if (!api_path_allowed(rq, c->path, c->path_len)) {
		master_why_set(w, "a tenant token for %s may not act on /%.*s",
			       rq->who->tenant, (int)c->path_len, c->path);
		return -EPERM;
	}
	c->tenant = "";
	if (op->kind == BATCH_DELETE)
		return want_bool(&f[F_MISSING_OK], F_MISSING_OK, &op->missing_ok, w);
	c->dir = op->kind == BATCH_MKDIR;
	mode = c->dir ? 0755 : 0644;
	if (!c->dir)
		err = want_uint(&f[F_SIZE], F_SIZE, true, 1, INT64_MAX, &size, w);
	if (!err)
		err = want_uint(&f[F_MODE], F_MODE, false, 0, 07777, &mode, w);
	if (!err)
		err = want_uint(&f[F_UID], F_UID, false, 0, API_ID_MAX, &uid, w);
	if (!err)
		err = want_uint(&f[F_GID], F_GID, false, 0, API_ID_MAX, &gid, w);
	if (!err && c->dir)
		err = want_bool(&f[F_EXIST_OK], F_EXIST_OK, &op->exist_ok, w);
	if (!err && !c->dir) {
		err = want_string(&f[F_TENANT], F_TENANT, false, 1,
				  FAMFS_TENANT_MAX, w);
		if (!err)
			err = api_tenant_for(rq, f[F_TENANT].type == JV_STRING ?
					     f[F_TENANT].s : "", f[F_TENANT].len,
					     &c->tenant, &c->tenant_len, w);
	}
	c->size = size;
	c->mode = (uint32_t)mode;
	c->uid = (uint32_t)uid;
	c->gid = (uint32_t)gid;
	return err;
}

static enum field field_of(const char *key, size_t len)
{
	for (int k = 0; k < F__N; k++)
		if (strlen(field_names[k]) == len &&
		    memcmp(field_names[k], key, len) == 0)
			return (enum field)k;
	return F__N;
}

/* The next element of "ops": an object, kept as ops[index]. */
static bool op(struct parser *ps, size_t index)
{
	struct jv f[F__N] = { 0 }, v;
	struct master_batch_op scratch = { 0 }, *o = &scratch;
	struct api_batch *b = ps->b;
	unsigned int seen = 0;
	const char *key, *unknown = NULL;
	size_t klen, unknown_len = 0;
	enum field k;
	int err;

	ws(ps);
	if (ps->p == ps->end || *ps->p != '{') {
		if (!value(ps, &v))
			return false;
		if (ps->op_bad == SIZE_MAX) {
			ps->op_bad = index;
			ps->op_err = -EINVAL;
			memset(&b->failed, 0, sizeof(b->failed));
			master_why_set(&ps->op_why, "must be an object");
		}
		return true;
	}
	if (index < MASTER_BATCH_MAX) {
		/* Ops that are not objects before it left their slots unused. */
		if (index >= ps->cap) {
			size_t cap = ps->cap ? ps->cap : 1024;
			struct master_batch_op *n;

			while (cap <= index)
				cap *= 2;
			n = realloc(b->ops, cap * sizeof(*n));
			if (!n)
				return fail(ps, "out of memory");
			memset(n + ps->cap, 0, (cap - ps->cap) * sizeof(*n));
			b->ops = n;
			ps->cap = cap;
		}
		o = &b->ops[index];
		memset(o, 0, sizeof(*o));
	}
	ps->p++;
	if (!eat(ps, '}')) {
		do {
			if (!string(ps, &key, &klen))
				return false;
			if (!eat(ps, ':'))
				return fail(ps, "':' expected");
			k = field_of(key, klen);
			if (k == F__N) {
				if (!value(ps, &v))
					return false;
				if (!unknown) {
					unknown = key;
					unknown_len = klen;
				}
				continue;
			}
			if (!value(ps, &f[k]))
				return false;
			if (seen & 1u << k)
				body_fault(ps, "body names the same key twice in "
					   "one object (%s)", field_names[k]);
			seen |= 1u << k;
		} while (eat(ps, ','));
		if (!eat(ps, '}'))
			return fail(ps, "',' or '}' expected");
	}
	if (ps->op_bad != SIZE_MAX || ps->body_bad)
		return true;
	if (unknown) {
		/* A key with a NUL is cut there in the message, nowhere else. */
		err = -EINVAL;
		master_why_set(&ps->op_why, "%.*s: unknown field",
			       (int)unknown_len, unknown);
	} else {
		err = check_op(ps->rq, f, seen, o, &ps->op_why);
	}
	if (err < 0) {
		ps->op_bad = index;
		ps->op_err = err;
		b->failed = *o;
	}
	return true;
}

/* "ops": the array, each element an op. */
static bool ops(struct parser *ps, size_t *ret_n)
{
	size_t n = 0;

	ws(ps);
	if (ps->p == ps->end || *ps->p != '[') {
		struct jv v;

		body_fault(ps, "%s: required, an array", "ops");
		return value(ps, &v);
	}
	ps->p++;
	if (!eat(ps, ']')) {
		do {
			if (!op(ps, n++))
				return false;
		} while (eat(ps, ','));
		if (!eat(ps, ']'))
			return fail(ps, "',' or ']' expected");
	}
	*ret_n = n;
	return true;
}

/* The body: {"ops": [...]}, then only whitespace. */
static bool body(struct parser *ps, size_t *ret_n)
{
	bool have_ops = false;
	const char *key;
	size_t klen;
	struct jv v;

	ws(ps);
	if (ps->p == ps->end || *ps->p != '{') {
		if (!value(ps, &v))
			return false;
		body_fault(ps, "%s", "body must be a JSON object");
	} else {
		ps->p++;
		if (!eat(ps, '}')) {
			do {
				if (!string(ps, &key, &klen))
					return false;
				if (!eat(ps, ':'))
					return fail(ps, "':' expected");
				if (klen == 3 && memcmp(key, "ops", 3) == 0) {
					if (have_ops)
						body_fault(ps, "body names the same "
							   "key twice in one "
							   "object (%s)", "ops");
					have_ops = true;
					if (!ops(ps, ret_n))
						return false;
					continue;
				}
				if (!value(ps, &v))
					return false;
				body_fault(ps, "%.*s: unknown field",
					   (int)(klen < 64 ? klen : 64), key);
			} while (eat(ps, ','));
			if (!eat(ps, '}'))
				return fail(ps, "',' or '}' expected");
		}
		if (!have_ops)
			body_fault(ps, "%s: required, an array", "ops");
	}
	ws(ps);
	if (ps->p != ps->end)
		return fail(ps, "data after the JSON value");
	return true;
}

int api_batch_decode(const struct http_req *rq, struct api_batch *b,
		     size_t *ret_failed, struct master_why *w)
{
	struct parser ps = { .rq = rq, .op_bad = SIZE_MAX, .b = b };
	size_t n = 0;
	int err;

	memset(b, 0, sizeof(*b));
	*ret_failed = SIZE_MAX;
	err = api_body_present(rq, w);
	if (err)
		return err;
	/* Not before: an empty body has no buffer at all. */
	ps.p = rq->body;
	ps.end = rq->body + rq->body_len;
	/* Every decoded string is no longer than its text. */
	b->arena = malloc(rq->body_len + 1);
	if (!b->arena) {
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	ps.arena = b->arena;
	if (!body(&ps, &n)) {
		master_why_set(w, "body is not valid JSON: %s", ps.syntax);
		return -EINVAL;
	}
	if (!ps.body_bad && (n < 1 || n > MASTER_BATCH_MAX))
		body_fault(&ps, "ops: must hold 1 to %u operations, not %zu",
			   MASTER_BATCH_MAX, n);
	if (ps.body_bad) {
		*w = ps.body_why;
		return -EINVAL;
	}
	if (ps.op_bad != SIZE_MAX) {
		*w = ps.op_why;
		*ret_failed = ps.op_bad;
		return ps.op_err;
	}
	b->n = n;
	return 0;
}

void api_batch_free(struct api_batch *b)
{
	free(b->ops);
	free(b->arena);
	memset(b, 0, sizeof(*b));
}
