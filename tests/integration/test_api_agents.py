"""Agents, the change feed and safe reclaim: heartbeats register agents and
report lag; a deleted file's space returns to the pool only when every
live agent applied the delete and closed the file (or was evicted); the
long poll wakes on publish."""

import json
import os
import threading
import time

from conftest import famfsctl, problem_name

MiB = 1 << 20


def hb(client, agent_id="h1", applied=0, open_inos=(), expect=200, **kw):
    body = {"agent_id": agent_id, "host": f"host-{agent_id}",
            "address": "10.0.0.2:7071", "applied_seq": applied,
            "open_inos": list(open_inos), "generation": 1, **kw}
    return client.post(f"/v1/agents/{agent_id}/heartbeat", json=body,
                       expect=expect)


def pool(api):
    return api.get("/v1/pool", expect=200).json()


def last_seq(api):
    return pool(api)["last_seq"]


def test_heartbeat_registers_and_lists_agents(master, api):
    ag = master.client("agent")
    api.put("/v1/files/a", json={"size": 1}, expect=201)
    r = hb(ag, "h2", applied=0).json()
    assert r == {"seq": 1, "epoch": r["epoch"]} and r["epoch"] >= 1
    hb(ag, "h1", applied=1, open_inos=[2, 5])
    agents = api.get("/v1/agents", expect=200).json()["agents"]
    assert [a["agent_id"] for a in agents] == ["h1", "h2"]
    h1, h2 = agents
    assert (h1["lag"], h1["open_files"], h1["state"]) == (0, 2, "live")
    assert (h2["lag"], h2["applied_seq"]) == (1, 0)
    assert h1["host"] == "host-h1" and h1["address"] == "10.0.0.2:7071"
    assert 0 <= h1["age_seconds"] < 5 and h1["last_heartbeat_ns"] > 0


def test_heartbeat_validation_and_conflicts(master, api):
    ag = master.client("agent")
    for bad in ({"applied_seq": -1}, {"open_inos": [0]}, {"open_inos": "1"},
                {"open_inos": [1.5]}, {"host": ""}, {"generation": "1"},
                {"extra": True}):
        assert problem_name(hb(ag, expect=400, **bad)) == "validation", bad
    body = {"agent_id": "h1", "host": "h", "address": "", "applied_seq": 0,
            "generation": 1}
    ag.post("/v1/agents/h1/heartbeat", json=body, expect=400)   # no open_inos
    # The id in the path: the AgentId rules; the body's, if any, the same.
    body["open_inos"] = []
    for bad in ("", "a%2Fb", "x" * 129, "a%20b"):
        r = ag.post(f"/v1/agents/{bad}/heartbeat", json=body, expect=400)
        assert problem_name(r) == "validation", bad
    r = ag.post("/v1/agents/h2/heartbeat", json=body, expect=400)
    assert "h2" in r.json()["detail"] and "h1" in r.json()["detail"]
    assert api.get("/v1/agents", expect=200).json()["agents"] == []
    # Ahead of the log: it follows another pool.
    r = hb(ag, "h1", applied=5, expect=409)
    assert "applied_seq" in r.json()["detail"]


def test_evict_then_heartbeat_conflicts_once(master, api):
    ag = master.client("agent")
    hb(ag, "h1")
    ev = api.delete("/v1/agents/h1", expect=200).json()
    assert ev["state"] == "evicted" and ev["agent_id"] == "h1"
    assert api.delete("/v1/agents/h1", expect=200).json()["state"] == "evicted"
    r = hb(ag, "h1", expect=409)
    assert problem_name(r) == "conflict" and "evicted" in r.json()["detail"]
    # The 409 cleared the eviction: it registers afresh.
    hb(ag, "h1")
    assert api.get("/v1/agents").json()["agents"][0]["state"] == "live"
    api.delete("/v1/agents/nobody", expect=404)
    api.delete("/v1/agents/bad%2Fid", expect=400)


def test_reclaim_without_agents_is_immediate(api):
    free0 = pool(api)["free_bytes"]
    api.put("/v1/files/a", json={"size": 3 * MiB}, expect=201)
    d = api.delete("/v1/files/a", expect=200).json()
    p = pool(api)
    assert p["pending_reclaim_bytes"] == 0 and p["free_bytes"] == free0
    feed = api.get(f"/v1/log?after={d['seq'] - 1}", expect=200).json()
    assert [r["type"] for r in feed["records"]] == ["delete", "reclaim"]


def test_reclaim_waits_for_every_live_agent(master, api):
    ag = master.client("agent")
    free0 = pool(api)["free_bytes"]
    f = api.put("/v1/files/a", json={"size": 3 * MiB}, expect=201).json()
    hb(ag, "h1", applied=f["seq"], open_inos=[f["ino"]])
    hb(ag, "h2", applied=f["seq"])
    d = api.delete("/v1/files/a", expect=200).json()
    p = pool(api)
    # The namespace and the charge go at once, the space waits.
    assert p["files"] == 0 and p["pending_reclaim_bytes"] == 4 * MiB
    assert p["used_bytes"] == 0 and p["free_bytes"] == free0 - 4 * MiB
    api.get("/v1/files/a", expect=404)
    # h1 applied it but still has it open; h2 has not applied it.
    hb(ag, "h1", applied=d["seq"], open_inos=[f["ino"]])
    assert pool(api)["pending_reclaim_bytes"] == 4 * MiB
    hb(ag, "h2", applied=d["seq"])
    assert pool(api)["pending_reclaim_bytes"] == 4 * MiB
    # h1 closes it: every live agent is past the delete, nobody has it open.
    hb(ag, "h1", applied=d["seq"], open_inos=[])
    p = pool(api)
    assert p["pending_reclaim_bytes"] == 0 and p["free_bytes"] == free0
    recs = api.get(f"/v1/log?after={d['seq']}").json()["records"]
    assert [r["type"] for r in recs] == ["reclaim"]


def test_eviction_releases_what_a_dead_agent_held(master, api):
    ag = master.client("agent")
    f = api.put("/v1/files/a", json={"size": 1}, expect=201).json()
    hb(ag, "dead", applied=f["seq"], open_inos=[f["ino"]])
    api.delete("/v1/files/a", expect=200)
    assert pool(api)["pending_reclaim_bytes"] > 0
    api.delete("/v1/agents/dead", expect=200)
    assert pool(api)["pending_reclaim_bytes"] == 0


def test_stale_agent_still_holds_reclaim(pool, master_factory):
    m = master_factory(pool, args=["--reclaim-grace-ms", "0",
                                   "--agent-timeout", "1"])
    api, ag = m.client(), m.client("agent")
    f = api.put("/v1/files/a", json={"size": 1}, expect=201).json()
    hb(ag, "slow", applied=f["seq"])
    api.delete("/v1/files/a", expect=200)
    deadline = time.monotonic() + 10
    while (a := api.get("/v1/agents").json()["agents"][0])["state"] != "stale":
        assert a["state"] == "live", a
        assert time.monotonic() < deadline, "never stale"
        time.sleep(0.1)
    assert a["age_seconds"] >= 1
    assert api.get("/v1/pool").json()["pending_reclaim_bytes"] > 0


def pool_stats(api):
    return api.get("/v1/pool", expect=200).json()


def agent_states(api):
    return {a["agent_id"]: a["state"]
            for a in api.get("/v1/agents", expect=200).json()["agents"]}


def test_restart_holds_reclaim_until_roster_agents_report(pool, master_factory):
    """The roster (docs/failover.md): a restarted master knows every agent
    an earlier run acknowledged and reclaims nothing until each has
    reported to it; the grace period's guess is not what protects them."""
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api, ag = m.client(), m.client("agent")
    f = api.put("/v1/files/a", json={"size": 1}, expect=201).json()
    hb(ag, "h1", applied=f["seq"], open_inos=[f["ino"]])
    hb(ag, "h2", applied=f["seq"])
    d = api.delete("/v1/files/a", expect=200).json()
    hb(ag, "h2", applied=d["seq"])
    assert pool_stats(api)["pending_reclaim_bytes"] == 2 * MiB
    assert m.stop() == 0
    m.start()
    api, ag = m.client(), m.client("agent")
    assert agent_states(api) == {"h1": "unreported", "h2": "unreported"}
    time.sleep(1.5)                         # past any grace: still held
    p = pool_stats(api)
    assert p["pending_reclaim_bytes"] == 2 * MiB, p
    # A create that needs every free byte is refused rather than given
    # the held units (it waits for the reclaim, which does not come).
    t0 = time.monotonic()
    r = api.put("/v1/files/big", json={"size": p["free_bytes"] + 1},
                expect=507)
    assert problem_name(r) == "pool-full"
    assert time.monotonic() - t0 >= 2.5, "did not wait for the reclaim"
    hb(ag, "h2", applied=d["seq"])
    assert agent_states(api) == {"h1": "unreported", "h2": "live"}
    assert pool_stats(api)["pending_reclaim_bytes"] == 2 * MiB
    # h1 reports the file still open: held; then closed: reclaimed.
    hb(ag, "h1", applied=d["seq"], open_inos=[f["ino"]])
    assert pool_stats(api)["pending_reclaim_bytes"] == 2 * MiB
    hb(ag, "h1", applied=d["seq"], open_inos=[])
    assert pool_stats(api)["pending_reclaim_bytes"] == 0


def test_eviction_releases_an_unreported_agent_and_survives_restart(
        pool, master_factory):
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api, ag = m.client(), m.client("agent")
    f = api.put("/v1/files/a", json={"size": 1}, expect=201).json()
    hb(ag, "gone", applied=f["seq"], open_inos=[f["ino"]])
    hb(ag, "back", applied=f["seq"])
    api.delete("/v1/files/a", expect=200)
    assert m.stop() == 0
    m.start()
    api, ag = m.client(), m.client("agent")
    assert pool_stats(api)["pending_reclaim_bytes"] == 2 * MiB
    hb(ag, "back", applied=last_seq(api))
    # The dead host never reports: only its eviction releases the space.
    r = api.delete("/v1/agents/gone", expect=200).json()
    assert r["state"] == "evicted"
    assert pool_stats(api)["pending_reclaim_bytes"] == 0
    # The eviction is in the roster: after another restart the agent is
    # still evicted (refused once, so it drops its handles), nothing waits.
    assert m.stop() == 0
    m.start()
    api, ag = m.client(), m.client("agent")
    assert agent_states(api) == {"gone": "evicted", "back": "unreported"}
    f = api.put("/v1/files/b", json={"size": 1}, expect=201).json()
    hb(ag, "back", applied=f["seq"])
    d = api.delete("/v1/files/b", expect=200).json()
    hb(ag, "back", applied=d["seq"])
    assert pool_stats(api)["pending_reclaim_bytes"] == 0
    r = hb(ag, "gone", applied=d["seq"], expect=409)
    assert "evicted" in r.json()["detail"]
    # Registering again makes it live again, in the roster too.
    hb(ag, "gone", applied=d["seq"])
    assert m.stop() == 0
    m.start()
    assert agent_states(m.client()) == {"gone": "unreported",
                                        "back": "unreported"}


ROSTER_COPIES = (64 << 10, 1 << 20)     # FAMFS_ROSTER_OFFSET, _COPY1
ROSTER_ENTRY = 256


def spoil_roster(pool_path, index, copies, data=None):
    """Overwrites entry index of the roster copies named with bytes that
    cannot pass its checks (data, or a flipped byte of the CRC)."""
    with open(pool_path, "r+b") as f:
        for c in copies:
            at = ROSTER_COPIES[c] + index * ROSTER_ENTRY
            if data is not None:
                f.seek(at)
                f.write(data)
                continue
            f.seek(at + ROSTER_ENTRY - 4)
            b = f.read(1)
            f.seek(at + ROSTER_ENTRY - 4)
            f.write(bytes([b[0] ^ 0x40]))


def test_damaged_roster_entries_hold_until_evicted(pool, master_factory):
    """Bad roster bytes: a copy bad beside a good one is rewritten; both
    bad could have named anyone, so it holds reclaim as roster-lost-N
    until an admin evicts it; nothing crashes on garbage."""
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api, ag = m.client(), m.client("agent")
    f = api.put("/v1/files/a", json={"size": 1}, expect=201).json()
    hb(ag, "x1", applied=f["seq"], open_inos=[f["ino"]])     # entry 0
    hb(ag, "x2", applied=f["seq"])                           # entry 1
    d = api.delete("/v1/files/a", expect=200).json()
    assert m.stop() == 0
    spoil_roster(pool, 0, (0, 1))
    spoil_roster(pool, 1, (1,))
    spoil_roster(pool, 5, (0, 1), data=os.urandom(ROSTER_ENTRY))
    info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
    assert [(e["index"], e["state"], e["mend"], e.get("agent_id"))
            for e in info["agent_roster"]] == [
        (0, "lost", False, None), (1, "live", True, "x2"),
        (5, "lost", False, None)], info["agent_roster"]
    m.start()
    api, ag = m.client(), m.client("agent")
    assert agent_states(api) == {"roster-lost-0": "unreported",
                                 "x2": "unreported",
                                 "roster-lost-5": "unreported"}
    err = m.stderr()
    assert "Agent roster entry 0 is damaged in both copies" in err, err
    assert "1 entries had a bad copy, rewritten from the good one" in err, err
    hb(ag, "x2", applied=d["seq"])
    hb(ag, "x1", applied=d["seq"])      # a new entry: x1's was lost
    assert pool_stats(api)["pending_reclaim_bytes"] == 2 * MiB
    api.delete("/v1/agents/roster-lost-0", expect=200)
    assert pool_stats(api)["pending_reclaim_bytes"] == 2 * MiB
    api.delete("/v1/agents/roster-lost-5", expect=200)
    assert pool_stats(api)["pending_reclaim_bytes"] == 0
    # Written whole again: the next start finds nothing to mend or fear.
    assert m.stop() == 0
    m.start()
    states = agent_states(m.client())
    assert states == {"roster-lost-0": "evicted", "roster-lost-5": "evicted",
                      "x1": "unreported", "x2": "unreported"}, states
    assert m.stderr().count("damaged in both copies") == 2
    # famfsctl info reads the roster from the pool as a master would.
    info = json.loads(famfsctl("--json", "info", pool, check=0).stdout)
    got = {e.get("agent_id"): (e["index"], e["state"], e["mend"])
           for e in info["agent_roster"]}
    assert got == {"x1": (2, "live", False), "x2": (1, "live", False),
                   "roster-lost-0": (0, "evicted", False),
                   "roster-lost-5": (5, "evicted", False)}, got


def test_roster_full_refuses_the_257th_agent(master, api):
    ag = master.client("agent")
    for i in range(256):
        hb(ag, f"a{i}")
    r = hb(ag, "a256", expect=507)
    assert "roster is full" in r.json()["detail"], r.json()
    assert "a256" not in agent_states(api)
    # Those in it go on; an evicted one's place goes to a new one.
    hb(ag, "a17")
    api.delete("/v1/agents/a17", expect=200)
    hb(ag, "a256")
    assert agent_states(api)["a256"] == "live"
    hb(ag, "a257", expect=507)


def test_restart_with_empty_roster_waits_grace_period(pool, master_factory):
    """A pool whose roster is empty (no agent ever registered, or a pool
    used before the roster existed) keeps the grace after a start."""
    m = master_factory(pool, args=["--reclaim-grace-ms", "600000"])
    api = m.client()
    api.put("/v1/files/a", json={"size": 1}, expect=201)
    api.delete("/v1/files/a", expect=200)
    assert api.get("/v1/pool").json()["pending_reclaim_bytes"] == 2 * MiB
    assert m.stop() == 0
    m.extra = ["--reclaim-grace-ms", "2500"]
    t0 = time.monotonic()                   # the grace starts after this
    m.start()
    api = m.client()
    while api.get("/v1/pool").json()["pending_reclaim_bytes"]:
        assert time.monotonic() - t0 < 12, "not reclaimed after the grace period"
        time.sleep(0.1)
    assert time.monotonic() - t0 >= 2.5, "reclaimed within the grace period"


def test_log_feed_and_long_poll(master, api):
    feed = master.client("agent")
    r = feed.get("/v1/log", expect=200).json()
    assert r["last_seq"] == 0 and r["records"] == [] and r["generation"] >= 1
    for i in range(3):
        api.put(f"/v1/dirs/d{i}", expect=201)
    r = feed.get("/v1/log?after=1", expect=200).json()
    assert [x["seq"] for x in r["records"]] == [2, 3]
    assert all(x["type"] == "mkdir" and x["epoch"] == r["epoch"] for x in r["records"])
    # Past the end: at once, empty.
    t0 = time.monotonic()
    assert feed.get("/v1/log?after=99&wait=5").json()["records"] == []
    assert time.monotonic() - t0 < 1
    # Timeout: empty after about `wait` seconds.
    t0 = time.monotonic()
    assert feed.get("/v1/log?after=3&wait=1").json()["records"] == []
    assert 0.9 <= time.monotonic() - t0 < 3
    # A publish wakes the waiters at once.
    results = []

    def wait():
        t = time.monotonic()
        r = master.client("agent").get("/v1/log?after=3&wait=30").json()
        results.append((time.monotonic() - t, r))

    waiters = [threading.Thread(target=wait) for _ in range(4)]
    for w in waiters:
        w.start()
    time.sleep(0.3)
    api.put("/v1/files/x", json={"size": 1}, expect=201)
    for w in waiters:
        w.join(10)
    assert len(results) == 4
    for elapsed, r in results:
        assert elapsed < 5 and [x["type"] for x in r["records"]] == ["create"]
    for q in ("?wait=61", "?after=-1", "?after=x", "?wait=1.5"):
        assert problem_name(feed.get("/v1/log" + q, expect=400)) == "validation"


def test_feed_pages_at_1000(master, api):
    for i in range(1005):
        api.put(f"/v1/dirs/d{i}", expect=201)
    r = api.get("/v1/log?after=0").json()
    assert len(r["records"]) == 1000 and r["records"][-1]["seq"] == 1000
    assert r["last_seq"] == 1005
    assert len(api.get("/v1/log?after=1000").json()["records"]) == 5
