"""Master failover on network-namespace hosts with real daemons (issue 15,
docs/failover.md): three master-capable hosts (--slot 1..3, --advertise
http://10.77.0.N:7470) and an agent on each, one pool.

(a) kill -9 of the active master during continuous creates, again and
    again (FAMFSD_FAILOVER_ROUNDS, default 4; `make bench` runs 20 in
    bench/failover_bench.py), the killed one restarted as a standby each
    time: no acknowledged create lost, no double allocation, fsck clean,
    the agents converge;
(b) the active master SIGSTOPped past its lease, then SIGCONT: it writes
    nothing more (no record of its epoch from the successor's
    epoch_start_seq on) and exits fenced;
(c) the active master's network cut, not its pool: still one writer (no
    new epoch while it renews, the standbys keep pointing at it);
(d) the standbys restarted while the active one serves continuous
    creates: no create fails.
Creates go through any master's address, following 307.
"""

import os
import signal
import time

import pytest

from conftest import make_pool
from failover_fleet import (Creator, MasterFleet, assert_fsck_clean,
                            assert_no_overlap, creates_in_pool, logdump)
from multihost import hard_deadline, three_hosts, wait_until

ROUNDS = int(os.environ.get("FAMFSD_FAILOVER_ROUNDS", "4"))
LEASE_S = 2                # the default --lease-seconds
TEST_SECONDS = 90 + 8 * max(0, ROUNDS - 4)


@pytest.fixture(autouse=True)
def deadline():
    with hard_deadline(TEST_SECONDS):
        yield


@pytest.fixture(scope="module")
def cluster():
    yield from three_hosts()


@pytest.fixture
def fleet(cluster, tmp_path):
    # 4 KiB units: a create takes one, so thousands fit in a small pool.
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                     log_size="64M")
    f = MasterFleet(cluster, pool, tmp_path)
    yield f
    f.close()


def check_pool(fleet, creators):
    """No acknowledged create lost (in the log, and in every agent's tree),
    no two files' extents overlap, fsck clean."""
    for c in creators:
        assert not c.failures, c.failures[:5]
    tree = fleet.converge()
    files, _ = creates_in_pool(fleet.pool)
    acked = {name: ext for c in creators for name, _, _, ext, _ in c.acked}
    assert acked, "nothing was acknowledged"
    lost = sorted(set(acked) - set(files))
    assert not lost, f"{len(lost)} acknowledged creates lost: {lost[:10]}"
    missing = sorted(n for n in acked if "/" + n not in tree)
    assert not missing, f"not in the agents' tree: {missing[:10]}"
    # What each create was told is what the log holds.
    for name, ext in acked.items():
        assert files[name] == ext, (name, files[name], ext)
    assert_no_overlap(files)
    assert_fsck_clean(fleet.pool)
    return acked


def test_kill_active_during_creates(fleet, cluster):
    c = Creator(cluster.hosts[2], fleet.urls, "a")
    c.start()
    try:
        for r in range(ROUNDS):
            wait_until("creates going", lambda: c.count() > 20 * (r + 1), 20, 0.02)
            old = fleet.active()
            assert old is not None
            epoch = fleet.epoch()
            t0 = time.monotonic()
            fleet.masters[old].kill()
            new = fleet.wait_active(other_than=old)
            assert fleet.epoch() > epoch
            wait_until("a create sent after the kill acknowledged",
                       lambda: c.begun_after(t0), 15, 0.02)
            took = c.begun_after(t0)[0][1] - t0
            assert took < 4 * LEASE_S, f"round {r}: {took:.2f}s to the next create"
            fleet.masters[old].start()      # back as a standby
            assert fleet.active() == new
    finally:
        c.stop()
    check_pool(fleet, [c])


def test_sigstop_past_lease_writes_nothing_more(fleet, cluster):
    c = Creator(cluster.hosts[2], fleet.urls, "b")
    c.start()
    try:
        wait_until("creates going", lambda: c.count() > 50, 20, 0.02)
        old = fleet.active()
        old_epoch = fleet.epoch()
        m = fleet.masters[old]
        os.kill(m.proc.pid, signal.SIGSTOP)
        new = fleet.wait_active(other_than=old, timeout=4 * LEASE_S + 5)
        view = fleet.masters_view(new)
        slot = next(s for s in view["masters"] if s["slot"] == view["active"])
        start_seq, new_epoch = slot["epoch_start_seq"], view["epoch"]
        assert new_epoch > old_epoch
        t0 = time.monotonic()
        wait_until("creates through the successor",
                   lambda: len(c.acked_after(t0)) > 20, 10, 0.02)
        os.kill(m.proc.pid, signal.SIGCONT)
        # Whatever it had in flight, it acknowledges nothing now...
        try:
            r = m.client().put("/v1/files/after-sigcont", json={"size": 4096},
                               validate=False, timeout=3, allow_redirects=False)
            assert r.status_code not in (200, 201), r.text
        except Exception as e:      # gone already: as good
            if "Connection" not in type(e).__name__ + str(e):
                raise
        # ...and it stops, fenced.
        rc = m.proc.wait(15)
        m.kill()
        assert rc != 0, m.stderr()[-2000:]
        assert "refusing all further writes" in m.stderr(), m.stderr()[-2000:]
        time.sleep(0.5)
    finally:
        c.stop()
    d = logdump(fleet.pool)
    stale = [r for r in d["records"]
             if r["seq"] >= start_seq and r["epoch"] < new_epoch]
    assert not stale, f"records of an older epoch after seq {start_seq}: {stale[:5]}"
    fleet.masters[old].start()
    check_pool(fleet, [c])


def test_network_cut_still_one_writer(fleet, cluster):
    act = fleet.active()
    host = fleet.masters[act].host
    others = [i for i in range(len(fleet.masters)) if i != act]
    view = fleet.masters_view(others[0])
    epoch, url = view["epoch"], view["url"]
    c = Creator(host, [fleet.urls[act]], "c", ordered=True)
    c.start()
    try:
        wait_until("creates going", lambda: c.count() > 20, 20, 0.02)
        host.link(False)
        beats = set()
        t_end = time.monotonic() + 3 * LEASE_S + 1
        while time.monotonic() < t_end:
            for i in others:
                v = fleet.masters_view(i)
                assert v is not None, f"standby {i} stopped answering"
                assert v["self"]["role"] == "standby"
                assert (v["active"], v["epoch"], v["url"]) == \
                    (act + 1, epoch, url), v
                slot = next(s for s in v["masters"] if s["slot"] == act + 1)
                beats.add(slot["heartbeat"])
            time.sleep(0.2)
        # It renewed through the pool all along, and still serves its host.
        assert len(beats) >= 3 * LEASE_S, beats
        n = c.count()
        wait_until("creates on the cut host", lambda: c.count() > n + 10, 10, 0.02)
    finally:
        host.link(True)
        c.stop()
    assert fleet.active() == act and fleet.epoch() == epoch
    c2 = Creator(fleet.cluster.hosts[(act + 1) % 3], fleet.urls, "c2")
    c2.start()
    try:
        wait_until("creates through any address", lambda: c2.count() > 20, 20, 0.02)
    finally:
        c2.stop()
    check_pool(fleet, [c, c2])


def test_standby_restarts_do_not_disturb_clients(fleet, cluster):
    act = fleet.active()
    c = Creator(cluster.hosts[act], [fleet.urls[act]], "d", ordered=True)
    c.start()
    try:
        for rnd in range(2):
            for i in range(len(fleet.masters)):
                if i == act:
                    continue
                n = c.count()
                assert fleet.masters[i].stop() == 0
                wait_until("creates while a standby is down",
                           lambda: c.count() > n + 20, 10, 0.02)
                fleet.masters[i].start()
                # Through the restarted one: a 307 to the active master.
                r = fleet.masters[i].client().put(
                    f"/v1/files/via-{i}-{rnd}", json={"size": 4096},
                    allow_redirects=False, validate=False)
                assert r.status_code == 307, r.text
        assert fleet.active() == act
    finally:
        c.stop()
    assert c.conn_errors == 0 and c.not_active == 0, (c.conn_errors, c.not_active)
    check_pool(fleet, [c])
