// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The configuration file: the inih parse into a struct famfsd_conf, by
 * the keys of the settings table (conf/options.c). inih reads the file line by line through our reader,
 * which counts lines (the Debian build does not pass line numbers to the
 * handler) and refuses lines too long for inih's buffer instead of letting
 * inih split them into two.
 *
 * Errors are collected, not returned at the first one, so an operator
 * fixes the file in one go. Each is "FILE:LINE: what".
 */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf.h"

/* One problem found; reported in line order once the parse is done. */
struct parse_error {
	unsigned int line;		/* 0: the file as a whole, reported last */
	size_t seq;			/* order found, among equal lines */
	char *msg;
};

/* The parse in progress: the reader's position and the collected errors. */
struct parse {
	struct famfsd_conf *c;
	const char *text, *at, *end;	/* the file, read whole */
	unsigned int line;		/* of the line inih is handling */
	bool role_seen;			/* set, even if to a bad value */
	struct parse_error *errors;
	size_t n_errors, cap_errors;
	bool nomem;
};

__attribute__((format(printf, 3, 4)))
static void parse_error(struct parse *p, unsigned int line, const char *fmt, ...)
{
	struct parse_error *e;
	va_list ap;
	int n;

	if (p->n_errors == p->cap_errors) {
		size_t cap = p->cap_errors ? p->cap_errors * 2 : 16;

		e = realloc(p->errors, cap * sizeof(*e));
		if (!e) {
			p->nomem = true;
			return;
		}
		p->errors = e;
		p->cap_errors = cap;
	}
	e = &p->errors[p->n_errors];
	e->line = line;
	e->seq = p->n_errors;
	va_start(ap, fmt);
	n = vasprintf(&e->msg, fmt, ap);
	va_end(ap);
	if (n < 0) {
		p->nomem = true;
		return;
	}
	p->n_errors++;
}

static int by_line(const void *a, const void *b)
{
	const struct parse_error *x = a, *y = b;
	unsigned int lx = x->line ? x->line : UINT_MAX;
	unsigned int ly = y->line ? y->line : UINT_MAX;

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes the errors to err in line order and frees them. */
static void report_errors(struct parse *p, FILE *err)
{
	qsort(p->errors, p->n_errors, sizeof(*p->errors), by_line);
	for (size_t i = 0; i < p->n_errors; i++) {
		if (p->errors[i].line)
			fprintf(err, "%s:%u: %s\n", p->c->path,
				p->errors[i].line, p->errors[i].msg);
		else
			fprintf(err, "%s: %s\n", p->c->path, p->errors[i].msg);
		free(p->errors[i].msg);
	}
	free(p->errors);
	p->errors = NULL;
	p->n_errors = p->cap_errors = 0;
}

/*
 * inih's reader: the next line into str (num bytes with the NUL). A line
 * that does not fit is reported and handed over as a comment, so inih
 * neither splits it nor reports it again.
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *nl;
	size_t len, room = (size_t)num - 2;	/* newline and NUL */

	if (p->at >= p->end)
		return NULL;
	nl = memchr(p->at, '\n', (size_t)(p->end - p->at));
	len = nl ? (size_t)(nl - p->at) : (size_t)(p->end - p->at);
	p->line++;
	if (len > room) {
		parse_error(p, p->line, "line longer than %zu characters", room);
		strcpy(str, ";\n");
	} else if (memchr(p->at, '\0', len)) {
		parse_error(p, p->line, "NUL byte in the line");
		strcpy(str, ";\n");
	} else {
		memcpy(str, p->at, len);
		str[len] = '\n';
		str[len + 1] = '\0';
	}
	p->at += len + (nl != NULL);
	return str;
}

static int find_key(const char *section, const char *name, bool *ret_section)
{
	*ret_section = false;
	for (int i = 0; i < K__COUNT; i++) {
		if (!conf_keys[i].section ||
		    strcmp(conf_keys[i].section, section) != 0)
			continue;
		*ret_section = true;
		if (strcmp(conf_keys[i].name, name) == 0)
			return i;
	}
	return -1;
}

static bool known_section(const char *section)
{
	bool found;

	find_key(section, "", &found);
	return found;
}

/* Sets a value the checks already normalized; devices may be repeated. */
static int set_value(struct parse *p, int k, const char *norm)
{
	struct famfsd_conf *c = p->c;
	char *v;

	if (c->value[k] && k == K_DEVICES) {
		if (asprintf(&v, "%s %s", c->value[k], norm) < 0)
			return -ENOMEM;
	} else {
		if (c->value[k]) {
			parse_error(p, p->line, "'%s' is already set on line %u",
				    conf_keys[k].name, c->line[k]);
			return 0;
		}
		v = strdup(norm);
		if (!v)
			return -ENOMEM;
	}
	free(c->value[k]);
	c->value[k] = v;
	c->line[k] = p->line;
	return 0;
}

/* inih's handler: nonzero to go on. Errors are collected, not fatal. */
static int on_value(void *user, const char *section, const char *name,
		    const char *value)
{
	struct parse *p = user;
	char norm[4096];
	const char *why;
	bool section_ok;
	int k;

	if (!*section) {
		parse_error(p, p->line, "'%s' is outside a section (want "
			    "[famfsd], [pool], [master] or [agent])", name);
		return 1;
	}
	k = find_key(section, name, &section_ok);
	if (k == K_ROLE)
		p->role_seen = true;
	if (k < 0) {
		/* An unknown section was reported at its header line. */
		if (section_ok)
			parse_error(p, p->line, "unknown key '%s' in [%s]",
				    name, section);
		return 1;
	}
	why = conf_check_value(&conf_keys[k], value, CONF_FROM_FILE, norm,
			       sizeof(norm));
	if (why) {
		parse_error(p, p->line, "bad %s '%s': %s", name, value, why);
		return 1;
	}
	if (set_value(p, k, norm) < 0)
		return 0;
	return 1;
}

/*
 * A section with no keys never reaches on_value(): find every "[name]"
 * line ourselves so a misspelt empty section is still refused.
 */
static void check_sections(struct parse *p)
{
	unsigned int line = 0;

	for (const char *s = p->text; s < p->end; line++) {
		const char *nl = memchr(s, '\n', (size_t)(p->end - s));
		const char *e = nl ? nl : p->end, *b = s, *close;

		s = nl ? nl + 1 : p->end;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		if (b == e || *b != '[')
			continue;
		close = memchr(b, ']', (size_t)(e - b));
		if (!close || close - b - 1 > 63)
			continue;	/* inih reports it */
		{
			char name[64];

			memcpy(name, b + 1, (size_t)(close - b - 1));
			name[close - b - 1] = '\0';
			if (!known_section(name))
				parse_error(p, line + 1, "unknown section [%s]",
					    name);
		}
	}
}

/* Rules across keys, once every key is in. */
static void check_whole(struct parse *p)
{
	struct famfsd_conf *c = p->c;

	if (!c->value[K_ROLE] && !p->role_seen)
		parse_error(p, 0, "[famfsd] role is not set (master, agent or "
			    "both)");
	else if (c->value[K_ROLE])
		c->role = !strcmp(c->value[K_ROLE], "master") ? CONF_ROLE_MASTER :
			  !strcmp(c->value[K_ROLE], "agent") ? CONF_ROLE_AGENT :
			  CONF_ROLE_BOTH;
	if (!c->value[K_TLS_CERT] != !c->value[K_TLS_KEY]) {
		int k = c->value[K_TLS_CERT] ? K_TLS_CERT : K_TLS_KEY;

		parse_error(p, c->line[k], "tls_cert and tls_key go together");
	}
	/*
	 * devices= without uuid= is fine: a template unit gives the UUID on
	 * the command line (--pool-uuid %i).
	 */
}

static int read_whole(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, len = 0;

	if (!f)
		return -errno;
	for (;;) {
		size_t n;

		if (len + 4096 + 1 > cap) {
			char *b;

			cap = cap ? cap * 2 : 8192;
			if (cap > (1u << 20)) {
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			b = realloc(buf, cap);
			if (!b) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = b;
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

void conf_free(struct famfsd_conf *c)
{
	if (!c)
		return;
	for (int i = 0; i < K__COUNT; i++)
		free(c->value[i]);
	free(c->path);
	free(c);
}

const char *conf_role_name(unsigned int role)
{
	switch (role) {
	case CONF_ROLE_MASTER:
		return "master";
	case CONF_ROLE_AGENT:
		return "agent";
	case CONF_ROLE_BOTH:
		return "both";
	}
	return "none";
}

int conf_load(const char *path, FILE *err, struct famfsd_conf **ret)
{
	struct parse p = { 0 };
	char *text = NULL;
	size_t len = 0;
	int r;

	p.c = calloc(1, sizeof(*p.c));
	if (!p.c)
		return -ENOMEM;
	p.c->path = strdup(path);
	if (!p.c->path) {
		conf_free(p.c);
		return -ENOMEM;
	}
	r = read_whole(path, &text, &len);
	if (r < 0) {
		fprintf(err, "%s: cannot read: %s\n", path, strerror(-r));
		conf_free(p.c);
		return r;
	}
	p.text = p.at = text;
	p.end = text + len;
	check_sections(&p);
	r = ini_parse_stream(read_line, &p, on_value, &p);
	if (r < 0) {
		/* -2: inih could not allocate; -1 cannot happen (no file). */
		report_errors(&p, err);
		free(text);
		conf_free(p.c);
		return -ENOMEM;
	}
	/*
	 * r > 0: the first line inih itself refused (no '=', an unclosed
	 * section); ours never count there (the handler goes on after them).
	 */
	if (r > 0) {
		p.line = (unsigned int)r;
		parse_error(&p, p.line, "expected 'key = value', '[section]' "
			    "or a comment");
	}
	free(text);
	check_whole(&p);
	if (p.nomem) {
		report_errors(&p, err);
		conf_free(p.c);
		return -ENOMEM;
	}
	if (p.n_errors) {
		report_errors(&p, err);
		conf_free(p.c);
		return -EINVAL;
	}
	*ret = p.c;
	return 0;
}
