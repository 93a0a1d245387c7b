// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /v1/tenants: quotas and usage. Quotas are set through SET_QUOTA records,
 * so every agent and a restarted master see the same limits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/api/api.h"
#include "names.h"

static int by_name(const void *a, const void *b)
{
	const struct famfs_tenant *x = *(const struct famfs_tenant *const *)a;
	const struct famfs_tenant *y = *(const struct famfs_tenant *const *)b;

	return strcmp(x->name, y->name);
}

struct json_object *api_tenants_json(struct master *m,
				     const struct auth_ident *who)
{
	struct famfs_tenants *t = m->st->tenants;
	uint32_t n = famfs_tenants_count(t), k = 0;
	struct json_object *a = json_object_new_array();
	const struct famfs_tenant **v;

	if (who && who->role == AUTH_TENANT) {
		const struct famfs_tenant *tn = famfs_tenants_find(
			t, who->tenant, strlen(who->tenant));

		if (tn)
			json_object_array_add(a, api_tenant_json(tn, 0));
		return a;
	}
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v) {
		json_object_put(a);
		return NULL;
	}
	for (uint32_t id = 1; id <= n; id++)
		v[k++] = famfs_tenants_by_id(t, id);
	qsort(v, k, sizeof(*v), by_name);
	for (uint32_t i = 0; i < k; i++)
		json_object_array_add(a, api_tenant_json(v[i], 0));
	free(v);
	return a;
}

enum MHD_Result api_list_tenants(struct http_req *rq, const char *arg)
{
	struct json_object *o = json_object_new_object(), *a;

	(void)arg;
	master_lock(rq->m);
	a = api_tenants_json(rq->m, rq->who);
	master_unlock(rq->m);
	if (!a) {
		json_object_put(o);
		return http_reply_problem(rq, PROB_INTERNAL, "out of memory");
	}
	json_object_object_add(o, "tenants", a);
	return http_reply_json(rq, 200, o);
}

/* Decodes and checks a tenant name from the URL; replies if bad. */
static bool tenant_arg(struct http_req *rq, const char *arg, char *name,
		       size_t size, enum MHD_Result *reply)
{
	struct master_why w;
	const char *why;

	if (api_segment_decode(arg, name, size, &w) < 0) {
		*reply = http_reply_problem(rq, PROB_VALIDATION, "%s", w.msg);
		return false;
	}
	why = *name ? famfs_tenant_check(name, strlen(name)) :
		      "tenant name is empty";
	if (why) {
		*reply = http_reply_problem(rq, PROB_VALIDATION, "tenant: %s", why);
		return false;
	}
	if (rq->who->role == AUTH_TENANT && strcmp(rq->who->tenant, name) != 0) {
		*reply = http_reply_problem(rq, PROB_FORBIDDEN,
					    "a tenant token for %s may not read "
					    "tenant %s", rq->who->tenant, name);
		return false;
	}
	return true;
}

enum MHD_Result api_get_tenant(struct http_req *rq, const char *arg)
{
	char name[FAMFS_TENANT_MAX + 2];
	struct json_object *o = NULL;
	const struct famfs_tenant *tn;
	enum MHD_Result reply;

	if (!tenant_arg(rq, arg, name, sizeof(name), &reply))
		return reply;
	master_lock(rq->m);
	tn = famfs_tenants_find(rq->m->st->tenants, name, strlen(name));
	if (tn)
		o = api_tenant_json(tn, 0);
	master_unlock(rq->m);
	if (!tn)
		return http_reply_problem(rq, PROB_NOT_FOUND,
					  "tenant %s is not known", name);
	return http_reply_json(rq, 200, o);
}

enum MHD_Result api_put_quota(struct http_req *rq, const char *arg)
{
	static const char *const fields[] = { "max_bytes", "max_files", NULL };
	_cleanup_json_ struct json_object *body = NULL;
	char name[FAMFS_TENANT_MAX + 2];
	struct master_why w = { { 0 } };
	struct json_object *o = NULL;
	uint64_t max_bytes = 0, max_files = 0, seq = 0;
	enum MHD_Result reply;
	int err;

	if (!tenant_arg(rq, arg, name, sizeof(name), &reply))
		return reply;
	err = api_body(rq, true, fields, &body, &w);
	if (!err)
		err = api_uint(body, "max_bytes", true, 0, INT64_MAX, &max_bytes, &w);
	if (!err)
		err = api_uint(body, "max_files", true, 0, INT64_MAX, &max_files, &w);
	if (err)
		return api_reply_err(rq, err, &w);
	master_lock(rq->m);
	err = master_wait_log_room(rq->m, false, &w);
	if (!err)
		err = master_op_set_quota(rq->m, name, strlen(name), max_bytes,
					  max_files, &seq, &w);
	if (!err)
		o = api_tenant_json(famfs_tenants_find(rq->m->st->tenants, name,
						       strlen(name)), seq);
	master_unlock(rq->m);
	if (err)
		return api_reply_err(rq, err, &w);
	return http_reply_json(rq, 200, o);
}
