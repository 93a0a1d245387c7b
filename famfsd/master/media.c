// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pool device under the master: its size, re-read once a second and
 * before each create's allocation, and the media errors met in pool memory
 * (lib/guard.h turns a SIGBUS there into an error for the one access).
 *
 * A device that shrank (a truncated pool file, a smaller namespace) loses
 * the units past its new end: famfs_alloc_cut() takes them out of the
 * allocator for good, so no create is acknowledged with an extent outside
 * the device. Files that have data there stay in the namespace; their
 * reads on the agents answer EIO (the agents' guard), and a delete frees
 * nothing there. Growing back does not return the units: their bytes are
 * gone. The master's own faults (the log, the superblock) and the agents'
 * (file data, reported in their heartbeats) are counted per process.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "master/master.h"

void master_media_check(struct master *m)
{
	uint64_t size, cut;
	int r;

	if (!m->dev_size)
		m->dev_size = m->pool->size;
	r = famfs_pooldev_current_size(m->pool->dev, &size);
	if (r < 0) {
		if (!m->dev_size_failing)
			msg(MSG_WARN, "Failed to read the size of the pool device "
			    "'%s': %s, ignoring", m->cfg.pool_path, strerror(-r));
		m->dev_size_failing = true;
		return;
	}
	m->dev_size_failing = false;
	if (size >= m->dev_size)
		return;
	r = famfs_alloc_cut(m->st->alloc, size, &cut);
	if (r < 0) {
		/* Left as it was: the next check tries again. */
		msg(MSG_ERR, "Failed to take the space past the end of the "
		    "shrunk pool device out of the allocator: %s", strerror(-r));
		return;
	}
	msg(MSG_ERR, "The pool device '%s' shrank from %" PRIu64 " to %" PRIu64
	    " bytes: %" PRIu64 " bytes of data area past its end are out of "
	    "service (never allocated again); files with data there answer EIO",
	    m->cfg.pool_path, m->dev_size, size, cut);
	m->dev_size = size;
	m->dev_shrunk_ns = clock_real_ns();
}

int master_media_check_extents(const struct master *m,
			       const struct famfs_extent *ext, unsigned int n,
			       struct master_why *w)
{
	for (unsigned int i = 0; i < n; i++)
		if (ext[i].offset + ext[i].len > m->dev_size) {
			master_why_set(w, "the pool device ends at %" PRIu64
				       " bytes: an extent at %" PRIu64 " (%" PRIu64
				       " bytes) would be past it", m->dev_size,
				       (uint64_t)ext[i].offset,
				       (uint64_t)ext[i].len);
			return -EIO;
		}
	return 0;
}

void master_media_stats(const struct master *m, struct master_media_stats *ret)
{
	struct famfs_guard_stats g;
	size_t n = master_agents_count(m->agents);

	famfs_guard_get_stats(&g);
	*ret = (struct master_media_stats){
		.master_count = g.count, .count = g.count,
		.last_offset = g.last_off, .last_ns = g.last_ns,
		.device_bytes = m->dev_size ? m->dev_size : m->pool->size,
		.formatted_bytes = m->pool->info.device_size,
		.cut_bytes = famfs_alloc_cut_bytes(m->st->alloc),
		.shrunk_ns = m->dev_shrunk_ns,
	};
	for (size_t i = 0; i < n; i++) {
		const struct master_agent *ag = master_agents_at(m->agents, i);

		ret->count += ag->media_errors;
		if (ag->media_error_ns > ret->last_ns) {
			ret->last_ns = ag->media_error_ns;
			ret->last_offset = ag->media_error_offset;
		}
	}
}
