// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A role's command line from the configuration file: the file's values
 * become long options placed before the user's own arguments, and an
 * option the user gave is not taken from the file at all (so a token file
 * named only in the file is never read when --token-file overrides it).
 *
 * The pool: a path (file or command line) is used as it is; a UUID
 * ([pool] uuid or --pool-uuid) without a path is looked up on the devices
 * (conf/pool.c); with both, the path must hold that pool.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "conf/conf.h"

/* Options that only the configuration layer knows; never passed on. */
struct conf_args {
	const char *pool_uuid;		/* --pool-uuid */
	const char *devices;		/* --devices */
	const char *pool;		/* --pool, still passed on */
	const char *offset;		/* --offset, still passed on */
	const char *mount;		/* --mount, still passed on */
};

/* A growing argv; NULL terminated once done. */
struct argv_buf {
	char **v;
	int n, cap;
};

static int push(struct argv_buf *b, const char *s)
{
	if (b->n + 2 > b->cap) {
		int cap = b->cap ? b->cap * 2 : 32;
		char **v = realloc(b->v, (size_t)cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n] = strdup(s);
	if (!b->v[b->n])
		return -ENOMEM;
	b->v[++b->n] = NULL;
	return 0;
}

void conf_free_argv(int argc, char **argv)
{
	if (!argv)
		return;
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

/* "--name" or "--name=value" for this option name. */
static bool is_opt(const char *arg, const char *name, const char **ret_value)
{
	size_t n = strlen(name);

	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, n) != 0)
		return false;
	if (arg[2 + n] == '=') {
		*ret_value = arg + 3 + n;
		return true;
	}
	if (arg[2 + n] == '\0') {
		*ret_value = NULL;
		return true;
	}
	return false;
}

/* Options of the roles that take a value, beyond the file's keys. */
static bool takes_value(const char *arg)
{
	static const char *const extra[] = { "token", "config", "pool-uuid",
					     "devices", NULL };
	const char *v;

	for (int i = 0; i < K__COUNT; i++)
		if (conf_keys[i].option && conf_keys[i].type != CT_BOOL &&
		    is_opt(arg, conf_keys[i].option, &v))
			return v == NULL;
	for (int i = 0; extra[i]; i++)
		if (is_opt(arg, extra[i], &v))
			return v == NULL;
	return false;
}

/* True when the user's arguments hold option name. */
static bool user_has(int argc, char **argv, const char *name)
{
	const char *v;

	for (int i = 0; i < argc && strcmp(argv[i], "--"); i++)
		if (is_opt(argv[i], name, &v))
			return true;
	return false;
}

/*
 * Copies the user's arguments into b without the configuration layer's
 * options, noting their values (the last one wins, as with getopt).
 */
static int take_user_args(int argc, char **argv, struct argv_buf *b,
			  struct conf_args *ca, FILE *err)
{
	static const struct { const char *name; size_t off; bool drop; } mine[] = {
		{ "config", (size_t)-1, true },
		{ "pool-uuid", offsetof(struct conf_args, pool_uuid), true },
		{ "devices", offsetof(struct conf_args, devices), true },
		{ "pool", offsetof(struct conf_args, pool), false },
		{ "offset", offsetof(struct conf_args, offset), false },
		{ "mount", offsetof(struct conf_args, mount), false },
	};
	bool rest = false;

	for (int i = 0; i < argc; i++) {
		const char *v = NULL;
		bool dropped = false, matched = false;

		if (!rest && !strcmp(argv[i], "--"))
			rest = true;
		for (size_t k = 0; !rest && k < sizeof(mine) / sizeof(mine[0]); k++) {
			if (!is_opt(argv[i], mine[k].name, &v))
				continue;
			matched = true;
			if (!v && i + 1 >= argc) {
				fprintf(err, "famfsd: --%s needs a value\n",
					mine[k].name);
				return -EINVAL;
			}
			if (!v) {
				v = argv[i + 1];
				if (!mine[k].drop && push(b, argv[i]) < 0)
					return -ENOMEM;
				i++;
			}
			if (mine[k].off != (size_t)-1)
				*(const char **)((char *)ca + mine[k].off) = v;
			dropped = mine[k].drop;
			break;
		}
		if (dropped)
			continue;
		if (push(b, argv[i]) < 0)
			return -ENOMEM;
		/* Keep an option's value with it, whatever it looks like. */
		if (!matched && !rest && takes_value(argv[i]) && i + 1 < argc) {
			if (push(b, argv[++i]) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int parse_offset(const char *s, uint64_t *ret)
{
	char buf[32];

	if (!s) {
		*ret = 0;
		return 0;
	}
	if (conf_check_value(&conf_keys[K_OFFSET], s, buf, sizeof(buf)))
		return -EINVAL;
	*ret = strtoull(buf, NULL, 10);
	return 0;
}

/* Finds or checks the pool; *ret_path is set when the file's path is used. */
static int resolve_pool(const struct famfsd_conf *c, const struct conf_args *ca,
			FILE *err, char **ret_path)
{
	const char *path = ca->pool ? ca->pool : c->value[K_POOL_PATH];
	const char *uuid_s = ca->pool_uuid ? ca->pool_uuid : c->value[K_POOL_UUID];
	const char *devices = ca->devices ? ca->devices :
			      c->value[K_DEVICES] ? c->value[K_DEVICES] :
			      CONF_DEFAULT_DEVICES;
	uint8_t want[16], got[16];
	char s[37];
	uint64_t offset;
	int r;

	*ret_path = NULL;
	if (parse_offset(ca->offset ? ca->offset : c->value[K_OFFSET], &offset) < 0) {
		fprintf(err, "famfsd: bad --offset '%s'\n", ca->offset);
		return -EINVAL;
	}
	if (!uuid_s) {
		if (!path) {
			fprintf(err, "famfsd: %s: no pool: set [pool] path or "
				"uuid, or give --pool\n", c->path);
			return -EINVAL;
		}
		return 0;
	}
	if (uuid_parse(uuid_s, want) < 0) {
		fprintf(err, "famfsd: bad pool UUID '%s'\n", uuid_s);
		return -EINVAL;
	}
	if (!path)
		return conf_pool_find(devices, offset, want, err, ret_path);
	r = conf_pool_uuid(path, offset, got);
	if (r < 0) {
		fprintf(err, "famfsd: cannot read the pool at '%s' to check its "
			"UUID: %s\n", path, r == -ENODEV ? "no famfsd pool there" :
			r == -EUCLEAN ? "both superblocks are bad" : strerror(-r));
		return r;
	}
	if (memcmp(got, want, 16) != 0) {
		uuid_unparse_lower(got, s);
		fprintf(err, "famfsd: '%s' holds pool %s, not %s\n", path, s,
			uuid_s);
		return -EXDEV;
	}
	return 0;
}

int conf_build_argv(const struct famfsd_conf *c, unsigned int role,
		    int argc, char **argv, FILE *err,
		    int *ret_argc, char ***ret_argv)
{
	struct argv_buf b = { 0 }, user = { 0 };
	struct conf_args ca = { 0 };
	char *found = NULL;
	int r;

	r = take_user_args(argc, argv, &user, &ca, err);
	if (r < 0)
		goto fail;
	if (role == CONF_ROLE_AGENT && !ca.mount && !c->value[K_MOUNT]) {
		fprintf(err, "famfsd: %s: no mount point: set [agent] mount or "
			"give --mount\n", c->path);
		r = -EINVAL;
		goto fail;
	}
	r = resolve_pool(c, &ca, err, &found);
	if (r < 0)
		goto fail;
	r = push(&b, role == CONF_ROLE_MASTER ? "master" : "agent");
	for (int k = 0; r == 0 && k < K__COUNT; k++) {
		const struct conf_key *key = &conf_keys[k];
		const char *v = k == K_POOL_PATH && found ? found : c->value[k];
		char opt[64];

		if (!(key->roles & role) || !v || user_has(argc, argv, key->option))
			continue;
		snprintf(opt, sizeof(opt), "--%s", key->option);
		if (key->type == CT_BOOL) {
			if (!strcmp(v, "yes"))
				r = push(&b, opt);
			continue;
		}
		r = push(&b, opt);
		if (r == 0)
			r = push(&b, v);
	}
	/* The master re-reads the file on SIGHUP (from / under systemd). */
	if (r == 0 && role == CONF_ROLE_MASTER) {
		char *abs = realpath(c->path, NULL);

		r = push(&b, "--config");
		if (r == 0)
			r = push(&b, abs ? abs : c->path);
		free(abs);
	}
	for (int i = 0; r == 0 && i < user.n; i++)
		r = push(&b, user.v[i]);
	if (r < 0)
		goto fail;
	free(found);
	conf_free_argv(user.n, user.v);
	*ret_argc = b.n;
	*ret_argv = b.v;
	return 0;
fail:
	if (r == -ENOMEM)
		fprintf(err, "famfsd: out of memory\n");
	free(found);
	conf_free_argv(user.n, user.v);
	conf_free_argv(b.n, b.v);
	return r;
}
