// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The body of POST /v1/batch, decoded from yajl's parse events rather than
 * into a json-c tree. json-c (api_body(), every other body) builds a tree:
 * for 65,536 operations that is as many objects, each with its own hash
 * table, and building and freeing it cost more than the whole batch in
 * the master (20-50 ms for 10,000 ops). yajl streams: each key and value
 * reaches a callback once, and only the strings an op keeps are copied
 * (9-13 ms for the same 1 MB body). The rules are api_body()'s:
 *
 *   - RFC 8259 JSON: one value, only whitespace after it, no comments;
 *     strings valid UTF-8 with no raw control characters; escapes as the
 *     RFC lists them, surrogates only in pairs. yajl checks all of it but
 *     three things, checked here (rfc_gaps(), text_ok()): it takes \v and
 *     \f for whitespace, decodes a lone surrogate escape to '?' or to a
 *     surrogate's bytes, and checks only the shape of UTF-8 sequences
 *     (overlong forms, surrogates and code points past U+10FFFF pass);
 *   - nesting at most API_BATCH_DEPTH deep inside the values nobody reads
 *     (yajl has no limit of its own);
 *   - no object names a key twice, and no key holds a NUL (a key is
 *     compared whole, after its escapes are decoded, so "size\u0000x" is
 *     simply not "size");
 *   - closed objects: the body has only "ops", each op only its kind's
 *     fields, each field of its type and range (api_check_uint/_string,
 *     the single calls' own messages).
 *
 * A text that is not JSON is refused as a whole whatever else is wrong
 * with it; then a body-level fault (duplicate key, unknown member, the
 * op count); then the first op at fault, by index. yajl reports a syntax
 * error only where it meets it, so the other faults are recorded as the
 * events come and the verdict waits for the end of the text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

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


/* Where in the body the parser is; values deeper than these are skipped. */
enum level { L_TOP, L_BODY, L_OPS, L_OP, L_END };

struct parser {
	const struct http_req *rq;
	yajl_handle h;
	bool finishing;			/* in yajl_complete_parse() */
	size_t len, value_end;		/* the text's; where its value ends */
	char *arena;			/* kept strings; as long as the body */
	size_t arena_len, arena_cap;
	enum level level;
	int skip;			/* containers open in a skipped value */
	const char *syntax;		/* why the text is not JSON */
	struct master_why body_why;	/* the first body-level fault */
	bool body_bad;
	struct master_why op_why;	/* the first op at fault */
	size_t op_bad;			/* its index; SIZE_MAX: none */
	int op_err;			/* its errno */
	struct api_batch *b;
	size_t cap;
	/* The body object. */
	bool have_ops, key_ops;		/* key_ops: the current key is "ops" */
	size_t n, ops_n;		/* elements of "ops": so far, at its end */
	/* The op being read. */
	size_t index;
	struct master_batch_op scratch, *o;
	struct jv f[F__N];
	unsigned int seen;
	enum field key;			/* the current key's; F__N: unknown */
	const char *unknown;		/* the first unknown key, kept */
	size_t unknown_len;
};

static int fail(struct parser *ps, const char *why)
{
	if (!ps->syntax)
		ps->syntax = why;
	return 0;			/* yajl: cancel the parse */
}

/* Four hex digits, or -1. */
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

/*
 * What yajl lets through of a text RFC 8259 refuses: a \v or \f byte (not
 * whitespace between tokens, a control character inside a string) and a
 * \u escape of a surrogate outside a pair. Only strings may hold a
 * backslash, so a run of them of odd length before 'u' is a \u escape; in
 * a text yajl refuses anyway this may name a reason that is not the first,
 * never change the verdict. NULL: none of those.
 */
static const char *rfc_gaps(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	int cp;

	if (memchr(text, '\v', len) || memchr(text, '\f', len))
		return "a raw \\v or \\f byte";
	while ((p = memchr(p, '\\', (size_t)(end - p)))) {
		size_t run = 0;

		while (p < end && *p == '\\') {
			run++;
			p++;
		}
		if (!(run & 1) || end - p < 5 || *p != 'u' ||
		    (cp = hex4(p + 1)) < 0xd800 || cp > 0xdfff)
			continue;
		if (cp >= 0xdc00)
			return "lone low surrogate in a string";
		p += 5;
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
		    (cp = hex4(p + 2)) < 0xdc00 || cp > 0xdfff)
			return "lone high surrogate in a string";
		p += 6;
	}
	return NULL;
}

/* A string or key as yajl passed it: UTF-8 by the strict rules. */
static int text_ok(struct parser *ps, const unsigned char *s, size_t len)
{
	if (!famfs_utf8_valid((const char *)s, len))
		return fail(ps, "a string is not valid UTF-8");
	return 1;
}

/* A copy in the arena of what yajl passed (its buffer is reused). */
static const char *keep(struct parser *ps, const unsigned char *s, size_t len)
{
	char *out = ps->arena + ps->arena_len;

	/* Decoded text is never longer than its source: the arena holds it. */
	if (len > ps->arena_cap - ps->arena_len) {
		fail(ps, "out of memory");
		return NULL;
	}
	memcpy(out, s, len);
	ps->arena_len += len;
	return out;
}

/*
 * The text's one value has ended. yajl refuses data after it, except an
 * unterminated string (its lexer waits for more text, and then the text
 * ends): the caller checks that only whitespace follows. yajl counts
 * bytes up to the token a callback is for; a number last in the text is
 * passed once yajl_complete_parse() adds a space, so the text ends there.
 */
static void value_ends(struct parser *ps)
{
	ps->value_end = ps->finishing ? ps->len : yajl_get_bytes_consumed(ps->h);
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


/* ---- the events ------------------------------------------------------------ */

/* An element of "ops" that is an object: kept as ops[index]. */
static int op_start(struct parser *ps, size_t index)
{
	struct api_batch *b = ps->b;

	ps->o = &ps->scratch;
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
		ps->o = &b->ops[index];
	}
	memset(ps->o, 0, sizeof(*ps->o));
	memset(ps->f, 0, sizeof(ps->f));
	ps->index = index;
	ps->seen = 0;
	ps->key = F__N;
	ps->unknown = NULL;
	ps->unknown_len = 0;
	ps->level = L_OP;
	return 1;
}

/* The op's closing brace: its checks, unless a fault outranks them. */
static void op_end(struct parser *ps)
{
	int err;

	ps->level = L_OPS;
	if (ps->op_bad != SIZE_MAX || ps->body_bad)
		return;
	if (ps->unknown) {
		/* A key with a NUL is cut there in the message, nowhere else. */
		err = -EINVAL;
		master_why_set(&ps->op_why, "%.*s: unknown field",
			       (int)ps->unknown_len, ps->unknown);
	} else {
		err = check_op(ps->rq, ps->f, ps->seen, ps->o, &ps->op_why);
	}
	if (err < 0) {
		ps->op_bad = ps->index;
		ps->op_err = err;
		ps->b->failed = *ps->o;
	}
}

enum shape { SCALAR, MAP, ARRAY };

/* A value begins: a scalar whole (v), or a map or an array opening. */
static int value(struct parser *ps, const struct jv *v, enum shape shape)
{
	if (ps->skip)
		goto skip;
	switch (ps->level) {
	case L_TOP:
		if (shape == MAP) {
			ps->level = L_BODY;
			return 1;
		}
		body_fault(ps, "%s", "body must be a JSON object");
		if (shape == SCALAR)
			value_ends(ps);
		break;
	case L_BODY:
		if (!ps->key_ops)
			break;		/* an unknown member, refused at its key */
		if (shape == ARRAY) {
			ps->level = L_OPS;
			ps->n = 0;
			return 1;
		}
		body_fault(ps, "%s: required, an array", "ops");
		break;
	case L_OPS:
		if (shape == MAP)
			return op_start(ps, ps->n++);
		if (ps->op_bad == SIZE_MAX) {
			ps->op_bad = ps->n;
			ps->op_err = -EINVAL;
			memset(&ps->b->failed, 0, sizeof(ps->b->failed));
			master_why_set(&ps->op_why, "must be an object");
		}
		ps->n++;
		break;
	case L_OP:
		if (ps->key != F__N)
			ps->f[ps->key] = *v;
		break;
	case L_END:
		break;			/* yajl refuses a second value */
	}
skip:
	if (shape != SCALAR && ++ps->skip > API_BATCH_DEPTH)
		return fail(ps, "nested too deep");
	return 1;
}

static int on_null(void *ctx)
{
	static const struct jv v = { .type = JV_OTHER };

	return value(ctx, &v, SCALAR);
}

static int on_boolean(void *ctx, int b)
{
	struct jv v = { .type = JV_BOOL, .b = b };

	return value(ctx, &v, SCALAR);
}

/* A number's text as yajl checked it (RFC 8259 grammar): integers saturate. */
static int on_number(void *ctx, const char *s, size_t len)
{
	struct jv v = { .type = JV_NUMBER, .is_int = true };
	size_t i = 0;

	if (len && s[0] == '-') {
		v.negative = true;
		i++;
	}
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned int d = (unsigned int)(s[i] - '0');

		v.u = v.u > (UINT64_MAX - d) / 10 ? UINT64_MAX : v.u * 10 + d;
	}
	/* A fraction or an exponent follows, or nothing. */
	if (i < len)
		v.is_int = false;
	/* -0 is 0; any other negative is refused by the range check. */
	if (v.negative && v.u == 0)
		v.negative = false;
	return value(ctx, &v, SCALAR);
}

static int on_string(void *ctx, const unsigned char *s, size_t len)
{
	struct parser *ps = ctx;
	struct jv v = { .type = JV_STRING, .len = len };

	if (!text_ok(ps, s, len))
		return 0;
	/* Only an op's fields are read; other strings need no copy. */
	if (!ps->skip && ps->level == L_OP && ps->key != F__N &&
	    !(v.s = keep(ps, s, len)))
		return 0;
	return value(ps, &v, SCALAR);
}

static int on_key(void *ctx, const unsigned char *key, size_t len)
{
	struct parser *ps = ctx;
	enum field k;

	if (!text_ok(ps, key, len))
		return 0;
	if (ps->skip)
		return 1;
	if (ps->level == L_BODY) {
		ps->key_ops = len == 3 && memcmp(key, "ops", 3) == 0;
		if (!ps->key_ops)
			body_fault(ps, "%.*s: unknown field",
				   (int)(len < 64 ? len : 64), (const char *)key);
		else if (ps->have_ops)
			body_fault(ps, "body names the same key twice in one "
				   "object (%s)", "ops");
		ps->have_ops |= ps->key_ops;
		return 1;
	}
	/* L_OP: a key of an op. */
	k = ps->key = field_of((const char *)key, len);
	if (k == F__N) {
		if (!ps->unknown) {
			ps->unknown = keep(ps, key, len);
			if (!ps->unknown)
				return 0;
			ps->unknown_len = len;
		}
		return 1;
	}
	if (ps->seen & 1u << k)
		body_fault(ps, "body names the same key twice in one object "
			   "(%s)", field_names[k]);
	ps->seen |= 1u << k;
	return 1;
}

static int on_start_map(void *ctx)
{
	static const struct jv v = { .type = JV_OTHER };

	return value(ctx, &v, MAP);
}

static int on_start_array(void *ctx)
{
	static const struct jv v = { .type = JV_OTHER };

	return value(ctx, &v, ARRAY);
}

/* The end of a map or an array (yajl has checked which). */
static int on_end(void *ctx)
{
	struct parser *ps = ctx;

	if (ps->skip) {
		if (!--ps->skip && ps->level == L_TOP)
			value_ends(ps);	/* a body that is not an object */
		return 1;
	}
	switch (ps->level) {
	case L_OP:
		op_end(ps);
		break;
	case L_OPS:
		ps->ops_n = ps->n;
		ps->level = L_BODY;
		break;
	case L_BODY:
		if (!ps->have_ops)
			body_fault(ps, "%s: required, an array", "ops");
		ps->level = L_END;
		value_ends(ps);
		break;
	case L_TOP:
	case L_END:
		break;			/* yajl pairs every end with a start */
	}
	return 1;
}

static const yajl_callbacks callbacks = {
	.yajl_null = on_null,
	.yajl_boolean = on_boolean,
	/* The text of each number: yajl_integer's long long would not hold
	 * every uint64_t, nor saturate as api_check_uint() expects. */
	.yajl_number = on_number,
	.yajl_string = on_string,
	.yajl_start_map = on_start_map,
	.yajl_map_key = on_key,
	.yajl_end_map = on_end,
	.yajl_start_array = on_start_array,
	.yajl_end_array = on_end,
};

/* Runs yajl over the text: NULL, or why the text is not JSON (in buf). */
static const char *parse(struct parser *ps, const char *text, size_t len,
			 char *buf, size_t size)
{
	yajl_handle h = yajl_alloc(&callbacks, NULL, ps);
	const char *why = rfc_gaps(text, len);
	yajl_status st;
	unsigned char *e;
	size_t i;

	if (!h)
		return "out of memory";
	if (why) {
		yajl_free(h);
		return why;
	}
	/* yajl's defaults, named: these are the rules. */
	yajl_config(h, yajl_allow_comments, 0);
	yajl_config(h, yajl_dont_validate_strings, 0);
	yajl_config(h, yajl_allow_trailing_garbage, 0);
	yajl_config(h, yajl_allow_multiple_values, 0);
	yajl_config(h, yajl_allow_partial_values, 0);
	ps->h = h;
	ps->len = len;
	st = yajl_parse(h, (const unsigned char *)text, len);
	if (st == yajl_status_ok) {
		ps->finishing = true;
		st = yajl_complete_parse(h);
	}
	if (st == yajl_status_client_canceled) {
		why = ps->syntax;
	} else if (st != yajl_status_ok) {
		/* "parse error: trailing garbage\n" and the like. */
		e = yajl_get_error(h, 0, NULL, 0);
		snprintf(buf, size, "%.*s", e ? (int)strcspn((char *)e, "\n") : 0,
			 e ? (char *)e : "");
		why = buf;
		if (e)
			yajl_free_error(h, e);
	} else {
		for (i = ps->value_end; i < len && !why; i++)
			if (!strchr(" \t\r\n", text[i]) || !text[i])
				why = "data after the JSON value";
	}
	yajl_free(h);
	return why;
}

int api_batch_decode(const struct http_req *rq, struct api_batch *b,
		     size_t *ret_failed, struct master_why *w)
{
	struct parser ps = { .rq = rq, .op_bad = SIZE_MAX, .b = b };
	char buf[128];
	const char *why;
	size_t n;
	int err;

	memset(b, 0, sizeof(*b));
	*ret_failed = SIZE_MAX;
	err = api_body_present(rq, w);
	if (err)
		return err;
	/* Every kept string is no longer than its text. */
	b->arena = malloc(rq->body_len + 1);
	if (!b->arena) {
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	ps.arena = b->arena;
	ps.arena_cap = rq->body_len + 1;
	why = parse(&ps, rq->body, rq->body_len, buf, sizeof(buf));
	if (why) {
		master_why_set(w, "body is not valid JSON: %s", why);
		return -EINVAL;
	}
	n = ps.ops_n;
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
