/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Clocks in nanoseconds. Durations, deadlines and lease periods use the
 * monotonic clock only; the real-time clock is for timestamps people read
 * (a file's mtime, an agent's last heartbeat as shown by the API).
 */
#ifndef FAMFSD_COMMON_CLOCK_H
#define FAMFSD_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME: wall time, may jump. */
static inline uint64_t clock_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* CLOCK_MONOTONIC: for durations and deadlines. */
static inline uint64_t clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

#endif
