/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Clocks in nanoseconds. Durations, deadlines and lease periods use the
 * monotonic clock only; the real-time clock is for timestamps people read
 * (a file's mtime, an agent's last heartbeat as shown by the API).
 */
#ifndef FAMFSD_COMMON_CLOCK_H
#define FAMFSD_COMMON_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
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

/* Room for clock_rfc3339(): 30 characters and the NUL, with margin. */
#define CLOCK_RFC3339_SIZE	64

/*
 * ns since the Unix epoch as RFC 3339 in UTC with all nine fraction digits,
 * "2026-12-01T07:42:09.123456789Z": exact, so the API can give it beside
 * every _ns time for clients whose numbers are doubles (exact to 2^53 only,
 * about 104 days in ns).
 */
static inline void clock_rfc3339(uint64_t ns, char buf[CLOCK_RFC3339_SIZE])
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(buf, CLOCK_RFC3339_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned int)(ns % 1000000000ull));
}

/* A condition variable whose timed waits take CLOCK_MONOTONIC deadlines. */
static inline void clock_cond_init(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

#endif
