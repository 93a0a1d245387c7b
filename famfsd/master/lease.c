// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The master lease (lease.h): one live master per pool. Taking it bumps the
 * epoch that every record we write carries; the main loop renews it every
 * second; a clean shutdown releases it. Renewal also notices a forced
 * takeover by another master (a different holder UUID), after which this
 * one must stop writing at once.
 *
 * The lease is advisory (no cross-host atomics), so it guards against a
 * careless second start, not against two masters started in the same
 * instant on two hosts; the epoch tells afterwards who wrote what.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "lease.h"
#include "master/master.h"

static void fill(const struct master *m, struct famfs_lease_info *l,
		 uint64_t acquired_ns)
{
	memset(l, 0, sizeof(*l));
	l->epoch = m->epoch;
	l->acquired_ns = acquired_ns;
	l->renewed_ns = clock_real_ns();
	l->lease_ns = (uint64_t)m->cfg.lease_seconds * 1000000000ull;
	l->pid = (uint32_t)getpid();
	memcpy(l->host, m->host, sizeof(l->host));
	memcpy(l->holder_uuid, m->holder_uuid, sizeof(l->holder_uuid));
}

/*
 * A holder on this very host whose process is gone died without releasing
 * (kill -9, crash): no need to wait out its lease. Across hosts, or when the
 * pid is alive (maybe reused), only the lease period decides.
 */
static bool holder_gone(const struct master *m, const struct famfs_lease_info *l)
{
	if (strcmp(l->host, m->host) != 0 || l->pid == (uint32_t)getpid() ||
	    l->pid == 0)
		return false;
	return kill((pid_t)l->pid, 0) < 0 && errno == ESRCH;
}

int master_lease_take(struct master *m)
{
	const char *pool = m->cfg.pool_path;
	struct famfs_lease_info old, l, check;
	uint64_t now = clock_real_ns();
	uint64_t quiet_until = 0;
	int r;

	r = famfs_lease_read(m->pool->base, m->pool->ops, &old);
	if (r == -EUCLEAN && !m->cfg.force_takeover) {
		msg(MSG_ERR, "Failed to take the master lease "
			"of '%s': the lease area is corrupt (torn by another "
			"master?); use --force-takeover if no other master runs",
			pool);
		return -EUCLEAN;
	}
	if (r == 0 && famfs_lease_live(&old, now)) {
		double ago = now > old.renewed_ns ?
			     (double)(now - old.renewed_ns) / 1e9 : 0;

		if (holder_gone(m, &old)) {
			msg(MSG_WARN, "lease holder pid %u on "
				"this host (%s) is gone, taking over epoch %llu",
				old.pid, old.host, (unsigned long long)old.epoch);
			quiet_until = old.renewed_ns + 2ull * MASTER_RENEW_SECONDS *
						       1000000000ull;
		} else if (!m->cfg.force_takeover) {
			msg(MSG_ERR, "Failed to take the master "
				"lease of '%s': held by host %s pid %u epoch %llu "
				"(renewed %.1f s ago, lease %.0f s); start with "
				"--force-takeover only if that master is dead",
				pool, old.host, old.pid,
				(unsigned long long)old.epoch, ago,
				(double)old.lease_ns / 1e9);
			return -EBUSY;
		} else {
			msg(MSG_WARN, "forcing takeover from host "
				"%s pid %u epoch %llu (renewed %.1f s ago)",
				old.host, old.pid, (unsigned long long)old.epoch,
				ago);
			quiet_until = old.renewed_ns + 2ull * MASTER_RENEW_SECONDS *
						       1000000000ull;
		}
	}
	m->epoch = (r == 0 ? old.epoch : 0) + 1;
	uuid_generate_random(m->holder_uuid);
	fill(m, &l, now);
	famfs_lease_write(m->pool->base, m->pool->ops, &l);
	/* Two starts on one host in the same instant: the last writer wins. */
	r = famfs_lease_read(m->pool->base, m->pool->ops, &check);
	if (r < 0 || memcmp(check.holder_uuid, m->holder_uuid, 16) != 0) {
		msg(MSG_ERR, "Failed to take the master lease "
			"of '%s': another master wrote it at the same time "
			"(host %s pid %u)", pool, check.host, check.pid);
		return -EBUSY;
	}
	/*
	 * The old holder may still be alive (a forced takeover; a pid that
	 * only looks gone from another pid namespace). It re-reads the lease
	 * before every append and at every renewal (each second): keep quiet
	 * until two renewals after its last one, so the two never append at
	 * once. A holder dead for longer costs no wait.
	 */
	now = clock_real_ns();
	if (quiet_until > now) {
		/* Capped: another host's clock may run ahead of ours. */
		uint64_t ns = quiet_until - now < 2ull * MASTER_RENEW_SECONDS *
			      1000000000ull ? quiet_until - now :
			      2ull * MASTER_RENEW_SECONDS * 1000000000ull;
		struct timespec ts = {
			.tv_sec = (time_t)(ns / 1000000000ull),
			.tv_nsec = (long)(ns % 1000000000ull),
		};

		msg(MSG_WARN, "waiting %.1f s for the old "
			"master to notice", (double)ns / 1e9);
		nanosleep(&ts, NULL);
	}
	return 0;
}

int master_lease_check(struct master *m)
{
	struct famfs_lease_info l;
	int r = famfs_lease_read(m->pool->base, m->pool->ops, &l);

	if (r == 0 && memcmp(l.holder_uuid, m->holder_uuid, 16) != 0)
		return -ESTALE;
	return 0;
}

void master_lease_raise_epoch(struct master *m, uint64_t min_epoch)
{
	struct famfs_lease_info l;

	if (min_epoch < m->epoch)
		return;
	m->epoch = min_epoch + 1;
	fill(m, &l, clock_real_ns());
	famfs_lease_write(m->pool->base, m->pool->ops, &l);
}

int master_lease_renew(struct master *m)
{
	struct famfs_lease_info l;
	int r = famfs_lease_read(m->pool->base, m->pool->ops, &l);

	if (r == 0 && memcmp(l.holder_uuid, m->holder_uuid, 16) != 0) {
		msg(MSG_ERR, "lost the master lease: host %s "
			"pid %u took the pool over with epoch %llu", l.host,
			l.pid, (unsigned long long)l.epoch);
		return -ESTALE;
	}
	if (r < 0)
		msg(MSG_WARN, "Failed to read the master lease: "
			"%s, rewriting it", r == -EUCLEAN ? "corrupt" : "empty");
	fill(m, &l, r == 0 ? l.acquired_ns : clock_real_ns());
	famfs_lease_write(m->pool->base, m->pool->ops, &l);
	return 0;
}

void master_lease_release(struct master *m)
{
	struct famfs_lease_info l;

	if (famfs_lease_read(m->pool->base, m->pool->ops, &l) < 0 ||
	    memcmp(l.holder_uuid, m->holder_uuid, 16) != 0)
		return;		/* not ours any more: leave it alone */
	l.released = true;
	l.renewed_ns = clock_real_ns();
	famfs_lease_write(m->pool->base, m->pool->ops, &l);
}
