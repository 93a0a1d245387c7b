// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /v1/devices: every host's CXL and dax inventory as its agent last
 * reported it (the optional "devices" of a heartbeat, sent when it
 * changes). The master checks a report's shape with libfamfscxl's own
 * table before keeping it, so what it serves is always a DeviceInventory
 * of api/openapi.yaml; it keeps the report as text and parses it per
 * request (rare, admin only), so no JSON object is shared across threads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "master/api/api.h"
#include "famfs_cxl.h"

int api_heartbeat_devices(struct json_object *body, char **ret,
			  struct master_why *w)
{
	struct json_object *d;
	char why[256];

	*ret = NULL;
	if (!json_object_object_get_ex(body, "devices", &d))
		return 0;
	if (famfs_cxl_inventory_check(d, why, sizeof(why)) < 0) {
		master_why_set(w, "%s", why);
		return -EINVAL;
	}
	*ret = strdup(json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN));
	if (!*ret) {
		master_why_set(w, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *host_json(struct master *m,
				     const struct master_agent *ag)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "agent_id", json_object_new_string(ag->id));
	json_object_object_add(o, "host", json_object_new_string(ag->host));
	json_object_object_add(o, "state", json_object_new_string(
			       master_agent_state(m, ag, clock_mono_ns())));
	if (ag->devices) {
		struct json_object *d = json_tokener_parse(ag->devices);

		if (d) {
			json_object_object_add(o, "reported_ns",
					       json_u64(ag->devices_ns));
			json_object_object_add(o, "reported",
					       json_time(ag->devices_ns));
			json_object_object_add(o, "devices", d);
		}
	}
	return o;
}

enum MHD_Result api_list_devices(struct http_req *rq, const char *arg)
{
	(void)arg;
	return api_reply_per_agent(rq, "hosts", host_json);
}
