// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Making a dax device a devdax device, through libdaxctl.
 *
 * A device in system-ram mode (kmem) has its memory hot-added to the page
 * allocator. Linux zeroed it when it onlined it, so whatever pool was
 * there is gone; and while blocks are online the kernel may hand their
 * pages to anyone. Online memory is therefore refused unless the caller
 * asks to offline it (FAMFS_CXL_PREPARE_OFFLINE), and even then the
 * kernel's own refusal (pages it cannot migrate away) is final.
 */
#include <daxctl/libdaxctl.h>
#include <errno.h>
#include <string.h>

#include "private.h"

static struct daxctl_dev *find_dev(struct daxctl_ctx *c, const char *name)
{
	struct daxctl_region *r;
	struct daxctl_dev *d;

	daxctl_region_foreach(c, r)
		daxctl_dev_foreach(r, d)
			if (!strcmp(daxctl_dev_get_devname(d), name))
				return d;
	return NULL;
}

static int from_ram(struct famfs_cxl_ctx *ctx, struct daxctl_dev *d,
		    unsigned int flags, const char **what)
{
	struct daxctl_memory *mem = daxctl_dev_get_memory(d);
	int online = mem ? daxctl_memory_is_online(mem) : 0;
	int r;

	if (online > 0 && !(flags & FAMFS_CXL_PREPARE_OFFLINE)) {
		*what = "its memory is online as system RAM, and the kernel may "
			"be using it; nothing was changed (--offline asks the "
			"kernel to move its pages away and offline it; anything "
			"the device held was zeroed when it was onlined)";
		return -EBUSY;
	}
	if (online > 0) {
		r = daxctl_memory_offline(mem);
		cxl_dbg(ctx, "%s: offline: %d", daxctl_dev_get_devname(d), r);
		if (r < 0 || daxctl_memory_is_online(mem) > 0) {
			*what = "its memory is online as system RAM and in use: "
				"the kernel could not offline it (pages it "
				"cannot move); nothing else was changed";
			return -EBUSY;
		}
	}
	r = daxctl_dev_disable(d);
	if (r < 0) {
		*what = "the kmem driver would not let go of the device";
		return r;
	}
	r = daxctl_dev_enable_devdax(d);
	if (r < 0) {
		*what = "the device was released from kmem but device_dax did "
			"not bind (is the device_dax module loaded?)";
		return r;
	}
	*what = online > 0 ? "memory offlined, device switched from system-ram "
			     "to devdax" : "device switched from system-ram to "
			     "devdax";
	return 0;
}

int famfs_cxl_daxdev_prepare(struct famfs_cxl_ctx *ctx, const char *devname,
			     unsigned int flags, const char **ret_what)
{
	struct daxctl_ctx *c = NULL;
	struct daxctl_dev *d;
	const char *mode, *what = "";
	int r;

	if (!strncmp(devname, "/dev/", 5))
		devname += 5;
	r = daxctl_new(&c);
	if (r < 0) {
		*ret_what = "libdaxctl could not start";
		return r;
	}
	daxctl_set_userdata(c, ctx);
	d = find_dev(c, devname);
	if (!d) {
		*ret_what = "no such dax device";
		daxctl_unref(c);
		return -ENODEV;
	}
	mode = cxl_dax_mode(devname);
	if (mode && !strcmp(mode, "devdax")) {
		what = "already devdax, nothing to do";
		r = 0;
	} else if (!mode) {
		r = daxctl_dev_enable_devdax(d);
		what = r < 0 ? "device_dax did not bind (is the device_dax module "
			       "loaded?)" : "device was disabled, enabled as devdax";
	} else {
		r = from_ram(ctx, d, flags, &what);
	}
	daxctl_unref(c);
	*ret_what = what;
	if (r == 0)
		(void)cxl_scan(ctx);
	return r;
}
