"""Crash safety and the master lease: every acknowledged create survives
kill -9 and a restart (and fsck stays clean); one master per pool; epochs
grow across restarts; corruption stops the start at the named record; a
full log is a clear 503."""

import json
import os
import re
import threading
import time

import requests

from conftest import LOG_HDR_SIZE, famfsctl, log_area, make_pool, problem_name

MiB = 1 << 20


def lease(pool):
    return json.loads(famfsctl("--json", "info", pool, check=0).stdout)["master_lease"]


def test_acknowledged_creates_survive_kill_9(pool, master_factory):
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    m.client().put("/v1/dirs/d", expect=201)
    acked, lock, stop = {}, threading.Lock(), threading.Event()

    def worker(t):
        c = m.client()
        i = 0
        while not stop.is_set():
            path = f"/v1/files/d/t{t}-{i}"
            i += 1
            try:
                r = c.s.put(c.base + path, json={"size": 4096 * (i % 5 + 1)},
                            timeout=10)
            except requests.RequestException:
                return          # the master died under us: not acknowledged
            if r.status_code == 201:
                with lock:
                    acked[path] = r.json()
            if i % 7 == 0:
                try:
                    c.s.delete(c.base + f"/v1/files/d/t{t}-{i - 3}", timeout=10)
                except requests.RequestException:
                    return

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    m.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 50
    famfsctl("fsck", pool, check=0)
    m.start()
    api = m.client()
    gone = 0
    for path, f in acked.items():
        r = api.get(path)
        if r.status_code == 404:
            gone += 1   # deleted by a worker (its delete may be acknowledged)
            continue
        assert r.status_code == 200, (path, r.text)
        assert r.json() == f
    assert gone <= len(acked) // 5
    api.put("/v1/files/d/after", json={"size": 1}, expect=201)
    assert m.stop() == 0
    famfsctl("fsck", pool, check=0)


def test_second_master_refuses_naming_the_holder(pool, master_factory):
    first = master_factory(pool)
    second = master_factory(pool, start=False)
    second.spawn()
    rc = second.wait_exit(20)
    assert rc != 0
    err = second.stderr()
    assert f"pid {first.proc.pid}" in err and "epoch 1" in err
    assert os.uname().nodename in err
    assert first.client().get("/healthz", expect=200)


def test_force_takeover_fences_the_old_master(pool, master_factory):
    first = master_factory(pool)
    api1 = first.client()
    api1.put("/v1/files/before", json={"size": 1}, expect=201)
    # Through the election: the new master runs in its own slot.
    second = master_factory(pool, args=["--slot", "2", "--force-takeover"],
                            start=False)
    second.spawn()
    deadline = time.monotonic() + 10
    while lease(pool)["epoch"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # The new holder is in the lease: the old master's next append fails.
    try:
        r = api1.s.put(api1.base + "/v1/files/late", json={"size": 1}, timeout=5)
        assert r.status_code == 503 and problem_name(r) == "fenced", r.text
        assert int(r.headers["Retry-After"]) >= 1
    except requests.ConnectionError:
        pass        # it already stopped
    second.wait_ready()
    assert second.client().get("/healthz").json()["epoch"] == 2
    # The old master notices at its next renewal and stops.
    rc = first.wait_exit(10)
    assert rc != 0 and "lost the master lease" in first.stderr()
    api2 = second.client()
    api2.get("/v1/files/before", expect=200)
    api2.get("/v1/files/late", expect=404)
    api2.put("/v1/files/x", json={"size": 1}, expect=201)
    assert second.stop() == 0
    famfsctl("fsck", pool, check=0)


def test_clean_shutdown_releases_lease_and_epochs_grow(pool, master_factory):
    m = master_factory(pool)
    api = m.client()
    api.put("/v1/dirs/a", expect=201)
    assert lease(pool)["state"] == "held"
    assert m.stop() == 0
    lz = lease(pool)
    assert lz["released"] is True and lz["epoch"] == 1
    m.start()
    api = m.client()
    assert api.get("/healthz").json()["epoch"] == 2
    api.put("/v1/dirs/b", expect=201)
    recs = api.get("/v1/log").json()["records"]
    assert [(r["seq"], r["epoch"]) for r in recs] == [(1, 1), (2, 2)]
    m.kill()
    m.start()       # a dead holder on this host is taken over at once
    assert m.client().get("/healthz").json()["epoch"] == 3


def test_refuses_to_start_on_a_corrupt_record(pool, master_factory):
    """Both copies of record 2 bad (one bad copy is survived and repaired:
    test_log_damage.py)."""
    m = master_factory(pool)
    api = m.client()
    for i in range(4):
        api.put(f"/v1/dirs/d{i}", expect=201)
    assert m.stop() == 0
    info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
    size = info["log_used"] // 4        # four records of the same size
    assert size * 4 == info["log_used"]
    for copy in (0, 1):
        pos = log_area(info, copy) + LOG_HDR_SIZE + size + size // 2
        with open(pool, "r+b") as f:    # the middle of record 2
            f.seek(pos)
            b = f.read(1)[0]
            f.seek(pos)
            f.write(bytes([b ^ 0x40]))
    m.spawn()
    rc = m.wait_exit(20)
    assert rc != 0
    assert re.search(r"\brecord 2\b", m.stderr()), m.stderr()
    assert famfsctl("fsck", pool).returncode != 0


def test_full_log_is_503_and_recoverable(tmp_path, master_factory):
    """A live state that fills a whole log generation refuses growth with a
    503 naming the cause, but deletes still go through (they may use the
    reserve), and after them compactions make room for creates again."""
    pool = make_pool(tmp_path / "small.img", size="256M", log_size="1M")
    m = master_factory(pool)
    api = m.client()
    api.put("/v1/files/keep", json={"size": 1}, expect=201)
    name = "n" * 250
    made = []
    for i in range(5000):
        r = api.put(f"/v1/dirs/{i:04d}{name}", expect=(201, 503))
        if r.status_code == 503:
            break
        made.append(f"{i:04d}{name}")
    else:
        raise AssertionError("the log never filled")
    assert "live state fills a whole log generation" in r.json()["detail"], r.json()
    p = api.get("/v1/pool").json()
    # Compactions ran on the way, and stopped creates with a reserve left.
    assert p["log_compactions"] >= 1, p
    assert p["log_capacity_bytes"] - p["log_used_bytes"] <= 2 * 8192, p
    # Every 503 says when to retry; growth stays refused while nothing shrinks.
    for r in (r, api.put("/v1/tenants/t/quota", json={"max_bytes": 1,
                                                       "max_files": 1}, expect=503)):
        assert problem_name(r) == "log-full" and r.headers["Retry-After"] == "60"
    api.delete("/v1/files/keep", expect=200)
    for d in made[:len(made) // 2]:
        api.delete(f"/v1/dirs/{d}", expect=200)
    api.put("/v1/dirs/again" + name, expect=201)
    api.put("/v1/tenants/t/quota", json={"max_bytes": 1, "max_files": 1},
            expect=200)
    api.get("/v1/files/keep", expect=404)
    assert m.stop() == 0
    famfsctl("fsck", pool, check=0)
    m.start()
    m.client().get("/v1/dirs/again" + name, expect=200)
    assert m.client().get("/v1/pool").json()["dirs"] == len(made) - len(made) // 2 + 1


def snapshot(api):
    """Everything the API shows about the namespace, tenants and space."""
    pool = api.get("/v1/pool", expect=200).json()
    # Counts since this master started are no state of the pool.
    for k in ("epoch", "epoch_start_seq", "log_compactions",
              "log_compactions_failed"):
        del pool[k]
    del pool["damage"]["scrub_passes"]
    entries, todo = {}, ["/v1/dirs/"]
    while todo:
        url = todo.pop()
        cursor = None
        while True:
            q = "?limit=7" + (f"&cursor={cursor}" if cursor else "")
            page = api.get(url + q, expect=200).json()
            for e in page["entries"]:
                full = api.get("/v1/files" + e["path"], expect=200).json()
                entries[e["path"]] = full
                if e["type"] == "dir":
                    todo.append("/v1/dirs" + e["path"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    return pool, entries


def test_memory_equals_replay_after_a_mixed_workload(small_unit_pool,
                                                      master_factory):
    import random
    rnd = random.Random(7)
    m = master_factory(small_unit_pool, args=["--reclaim-grace-ms", "0"])
    api, ag = m.client(), m.client("agent")
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 300 << 12,
                                          "max_files": 0}, expect=200)
    dirs, files = ["/tA"], []
    api.put("/v1/dirs/tA", expect=201)
    hb_body = {"agent_id": "h1", "host": "h", "address": "", "open_inos": [],
               "generation": 1, "applied_seq": 0}
    for i in range(400):
        op = rnd.random()
        if op < 0.15:
            d = f"{rnd.choice(dirs)}/d{i}"
            api.put("/v1/dirs" + d, json={"mode": rnd.choice([0o755, 0o700])},
                    expect=201)
            dirs.append(d)
        elif op < 0.7:
            f = f"{rnd.choice(dirs)}/f{i}"
            r = api.put("/v1/files" + f, expect=(201, 507), json={
                "size": rnd.randint(1, 40000),
                "tenant": rnd.choice(["tA", "tB"])})
            if r.status_code == 201:
                files.append((f, r.json()["ino"]))
        elif op < 0.9 and files:
            f, _ = files.pop(rnd.randrange(len(files)))
            api.delete("/v1/files" + f, expect=200)
        else:
            # An agent that lags, holds files open, catches up.
            last = api.get("/v1/pool").json()["last_seq"]
            held = [ino for _, ino in rnd.sample(files, min(3, len(files)))]
            ag.post("/v1/agents/h1/heartbeat", expect=200, json={
                **hb_body, "applied_seq": rnd.randint(max(0, last - 20), last),
                "open_inos": held})
    before = snapshot(api)
    assert before[0]["pending_reclaim_bytes"] >= 0
    assert m.stop() == 0
    famfsctl("fsck", small_unit_pool, check=0)
    m.extra = ["--reclaim-grace-ms", "60000"]   # agents are gone: keep pending
    m.start()
    assert snapshot(m.client()) == before
    m.kill()
    m.start()
    assert snapshot(m.client()) == before
