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
#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "conf/conf.h"

/*
 * The user's options this layer looks at: those it takes (CONF_F_CONF_LAYER:
 * --config, --pool-uuid, --devices, never passed on) and those it reads
 * but passes on (--pool, --offset, --mount). The last one given wins, as
 * with getopt.
 */
struct conf_args {
	const char *value[K__COUNT];
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

/* The entry of a user's argument "--name" or "--name=value", if any. */
static int option_of(const char *arg, const char **ret_value)
{
	for (int i = 0; i < K__COUNT; i++)
		if (conf_keys[i].option && is_opt(arg, conf_keys[i].option, ret_value))
			return i;
	return -1;
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

static bool looked_at(int id)
{
	return id == K_POOL_PATH || id == K_OFFSET || id == K_MOUNT ||
	       (conf_keys[id].flags & CONF_F_CONF_LAYER);
}

/* Checks and notes an option this layer takes or reads. */
static int note(struct conf_args *ca, int id, const char *v, FILE *err)
{
	const struct conf_key *k = &conf_keys[id];
	char buf[4096];
	const char *why;

	why = conf_check_value(k, v, CONF_FROM_ARGS, buf, sizeof(buf));
	if (why) {
		fprintf(err, "famfsd: bad value '%s' for --%s: %s\n", v,
			k->option, why);
		return -EINVAL;
	}
	ca->value[id] = v;
	return 0;
}

/*
 * Copies the user's arguments into b without the options this layer takes,
 * noting the values of those it looks at. An option's value stays with it
 * whatever it looks like ("--address --x").
 */
static int take_user_args(int argc, char **argv, struct argv_buf *b,
			  struct conf_args *ca, FILE *err)
{
	bool rest = false;

	for (int i = 0; i < argc; i++) {
		const char *v = NULL;
		int id = rest ? -1 : option_of(argv[i], &v);
		bool takes = id >= 0 && conf_keys[id].type != CT_BOOL;
		bool drop = id >= 0 && (conf_keys[id].flags & CONF_F_CONF_LAYER);
		int r;

		if (!rest && !strcmp(argv[i], "--"))
			rest = true;
		if (takes && !v && i + 1 >= argc) {
			fprintf(err, "famfsd: --%s needs a value\n",
				conf_keys[id].option);
			return -EINVAL;
		}
		if (!drop && push(b, argv[i]) < 0)
			return -ENOMEM;
		if (takes && !v) {
			v = argv[++i];
			if (!drop && push(b, v) < 0)
				return -ENOMEM;
		}
		if (takes && looked_at(id)) {
			r = note(ca, id, v, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Checked already: by the file's parse or by note(). */
static uint64_t parse_offset(const char *s)
{
	char buf[32];

	if (!s || conf_check_value(&conf_keys[K_OFFSET], s, CONF_FROM_ARGS, buf,
				   sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 10);
}

/* The user's value of an option, else the file's. */
static const char *user_or_file(const struct famfsd_conf *c,
				const struct conf_args *ca, int id)
{
	return ca->value[id] ? ca->value[id] : c->value[id];
}

/* Finds or checks the pool; *ret_path is set when the file's path is used. */
static int resolve_pool(const struct famfsd_conf *c, const struct conf_args *ca,
			FILE *err, char **ret_path)
{
	const char *path = user_or_file(c, ca, K_POOL_PATH);
	const char *uuid_s = user_or_file(c, ca, K_POOL_UUID);
	const char *devices = user_or_file(c, ca, K_DEVICES);
	uint64_t offset = parse_offset(user_or_file(c, ca, K_OFFSET));
	uint8_t want[16], got[16];
	char s[37];
	int r;

	*ret_path = NULL;
	if (!devices)
		devices = conf_keys[K_DEVICES].dflt;
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
	if (role == CONF_ROLE_AGENT && !user_or_file(c, &ca, K_MOUNT)) {
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

		if (!(key->roles & role) || (key->flags & CONF_F_CONF_LAYER) ||
		    !v || user_has(argc, argv, key->option))
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
