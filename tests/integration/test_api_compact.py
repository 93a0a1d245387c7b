"""POST /v1/pool/compact against a real master: the reply and its fields,
the tree and the pool's figures unchanged by a compaction and by a restart
from its checkpoint, the generation one up, concurrent requests, the
roles, creates and deletes that go on during compactions without a 5xx,
a live state that fills a generation (503 log-full), an agent behind that
holds compaction while full writes wait, and the metrics. Every
reply is checked against api/openapi.yaml by the client."""

import os
import subprocess
import threading
import time

import requests

from conftest import BUILD, api_tree, famfsctl, make_pool, problem_name

LOGTOOL = os.path.join(BUILD, "tools", "famfs-logtool")
MiB = 1 << 20
# A 1 MiB log: a generation's body is a quarter of it.
SMALL_LOG = "1M"
BULK_FILES = 30000


def logtool(pool, *args):
    """Writes records with no master running (tests/integration/tools)."""
    p = subprocess.run([LOGTOOL, pool, *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)


def pool_state(api):
    return api.get("/v1/pool", expect=200).json()


def figures(p):
    """What a compaction must not change."""
    keep = ("uuid", "size_bytes", "used_bytes", "free_bytes",
            "pending_reclaim_bytes", "alloc_unit", "last_seq", "files",
            "dirs", "tenants")
    return {k: p[k] for k in keep}


def compact(api, expect=200):
    return api.post("/v1/pool/compact", expect=expect)


def heartbeat(m, agent_id, applied, generation):
    m.client("agent").post(f"/v1/agents/{agent_id}/heartbeat", json={
        "host": agent_id, "address": "", "applied_seq": applied,
        "open_inos": [], "generation": generation}, expect=200)


def build_tree(api):
    """Directories, files of several sizes and owners, two tenants with
    quotas and files charged, and deletes."""
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 64 * MiB, "max_files": 50},
            expect=200)
    api.put("/v1/tenants/tB/quota", json={"max_bytes": 0, "max_files": 7},
            expect=200)
    for d in ("tA", "tA/jobs", "tB", "shared", "shared/deep", "shared/deep/er"):
        api.put(f"/v1/dirs/{d}", json={"mode": 0o750, "uid": 3, "gid": 4},
                expect=201)
    for i in range(20):
        api.put(f"/v1/files/tA/jobs/f{i}", json={"size": (i + 1) * 4096,
                                                 "tenant": "tA"}, expect=201)
    for i in range(5):
        api.put(f"/v1/files/tB/g{i}", json={"size": MiB + i, "tenant": "tB",
                                            "mode": 0o600, "uid": 9}, expect=201)
    api.put("/v1/files/shared/deep/er/x", json={"size": 1}, expect=201)
    for i in range(0, 20, 3):
        api.delete(f"/v1/files/tA/jobs/f{i}", expect=200)
    # The highest inode number so far belongs to a deleted file.
    last = api.put("/v1/files/shared/last", json={"size": 1}, expect=201).json()
    api.delete("/v1/files/shared/last", expect=200)
    return last["ino"]


def test_compact_answers_with_the_new_generation_and_changes_nothing(
        tmp_path, master_factory):
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K")
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    # An agent that has not applied the deletes: their space stays pending,
    # so the checkpoint must carry pending reclaims too.
    heartbeat(m, "slow", 0, 1)
    max_ino = build_tree(api)
    before, tree = pool_state(api), api_tree(api)
    assert before["log_generation"] == 1 and before["log_base_seq"] == 0
    assert before["pending_reclaim_bytes"] > 0
    assert before["log_records"] == before["last_seq"]

    c = compact(api).json()
    assert c["generation"] == 2
    assert c["base_seq"] == before["last_seq"]
    assert c["records_copied"] == 0           # nothing was written meanwhile
    # Every entry but the root, the two tenants, the pending deletes.
    assert c["checkpoint_items"] >= len(tree) + 2 + 8
    assert c["checkpoint_bytes"] > 0 and c["duration_ms"] >= 0

    after = pool_state(api)
    assert figures(after) == figures(before)
    assert api_tree(api) == tree
    assert after["log_generation"] == 2
    assert after["log_base_seq"] == before["last_seq"]
    assert after["log_records"] == 0
    assert after["checkpoint_bytes"] == c["checkpoint_bytes"]
    assert after["checkpoint_items"] == c["checkpoint_items"]
    assert after["log_used_bytes"] == c["checkpoint_bytes"]
    assert after["log_capacity_bytes"] == before["log_capacity_bytes"]
    assert (after["log_compactions"], after["log_compactions_failed"]) == (1, 0)

    # A restart rebuilds the same state from the checkpoint alone. Its
    # grace keeps the pending deletes until "slow" says where it is again.
    m.kill()
    m.extra = ["--reclaim-grace-ms", "5000"]
    m.start()
    heartbeat(m, "slow", 0, 2)
    api = m.client()
    restarted = pool_state(api)
    assert figures(restarted) == figures(before)
    assert restarted["log_generation"] == 2
    assert api_tree(api) == tree
    # No inode number comes back, not even the deleted file's.
    new = api.put("/v1/files/new", json={"size": 1}, expect=201).json()
    assert new["ino"] > max_ino
    # The agent catches up: the pending deletes are reclaimed after all.
    heartbeat(m, "slow", new["seq"], 2)
    deadline = time.monotonic() + 20
    while pool_state(api)["pending_reclaim_bytes"]:
        assert time.monotonic() < deadline, pool_state(api)
        time.sleep(0.05)
    assert m.stop() == 0
    famfsctl("fsck", pool, check=0)


def test_each_compaction_adds_one_generation(master):
    api = master.client()
    api.put("/v1/files/a", json={"size": 1}, expect=201)
    for want in (2, 3, 4, 5):
        seq = pool_state(api)["last_seq"]
        c = compact(api).json()
        assert (c["generation"], c["base_seq"]) == (want, seq)
        api.put(f"/v1/files/after{want}", json={"size": 1}, expect=201)
    p = pool_state(api)
    assert p["log_generation"] == 5 and p["log_compactions"] == 4
    # Sequences go on across generations: one record since the checkpoint.
    assert p["log_records"] == 1 and p["last_seq"] == p["log_base_seq"] + 1
    assert sorted(api_tree(api)) == ["/a", "/after2", "/after3", "/after4",
                                     "/after5"]


def test_concurrent_compacts_each_get_one_that_started_after_them(master):
    api = master.client()
    for i in range(50):
        api.put(f"/v1/files/f{i}", json={"size": 4096}, expect=201)
    start = pool_state(api)
    replies, errors = [], []
    lock = threading.Lock()

    def asker():
        c = master.client()
        try:
            for _ in range(5):
                seq = c.get("/v1/pool", expect=200).json()["last_seq"]
                gen = c.get("/v1/pool", expect=200).json()["log_generation"]
                r = c.post("/v1/pool/compact", expect=200).json()
                with lock:
                    replies.append((gen, seq, r))
        except AssertionError as e:       # the client checks status and spec
            errors.append(str(e))

    threads = [threading.Thread(target=asker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(replies) == 30
    for gen, seq, r in replies:
        # A compaction that started after the request was sent.
        assert r["generation"] > gen and r["base_seq"] >= seq, (gen, seq, r)
    # Replies name real compactions: one generation each, none invented.
    end = pool_state(api)
    gens = {r["generation"] for _, _, r in replies}
    assert max(gens) == end["log_generation"]
    assert end["log_compactions"] == end["log_generation"] - start["log_generation"]
    assert len(gens) <= end["log_compactions"]
    assert end["log_compactions_failed"] == 0
    assert figures(end) == figures(start)


def test_compact_is_for_admins(master):
    r = master.client(None).post("/v1/pool/compact", expect=401)
    assert problem_name(r) == "unauthorized"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    for who in ("agent", "tA"):
        r = master.client(who).post("/v1/pool/compact", expect=403)
        assert problem_name(r) == "forbidden"
    r = master.client().get("/v1/pool/compact", expect=405)
    assert r.headers["Allow"] == "POST"
    assert pool_state(master.client())["log_generation"] == 1


def test_creates_and_deletes_go_on_during_compactions(tmp_path, master_factory):
    """Four clients create and delete while a fifth asks for compaction
    after compaction of a live state of 30,000 files (tens of ms each, so
    writes land inside them): no reply is a 5xx, none waits long, the
    records published meanwhile are carried over, and the tree is what the
    replies say."""
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K")
    logtool(pool, "fill", "bulk", BULK_FILES, 1, 1000)
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    bulk = api_tree(api, validate=False)
    assert len(bulk) == BULK_FILES + 1
    api.put("/v1/dirs/d", expect=201)
    stop = threading.Event()
    model, bad, slowest = {}, [], [0.0]
    lock = threading.Lock()

    def worker(t):
        c = m.client()
        i = 0
        while not stop.is_set():
            path = f"/d/w{t}-{i}"
            t0 = time.monotonic()
            r = c.s.put(c.base + "/v1/files" + path, json={"size": 4096},
                        timeout=30)
            took = time.monotonic() - t0
            with lock:
                slowest[0] = max(slowest[0], took)
                if r.status_code != 201:
                    bad.append((path, r.status_code, r.text))
                    return
                model[path] = r.json()["ino"]
            if i % 3 != 2:          # keep a third, delete the others
                r = c.s.delete(c.base + "/v1/files" + path, timeout=30)
                with lock:
                    if r.status_code != 200:
                        bad.append((path, r.status_code, r.text))
                        return
                    del model[path]
            i += 1

    compactions = []

    def compactor():
        c = m.client()
        while not stop.is_set():
            r = c.post("/v1/pool/compact", expect=200).json()
            compactions.append(r)
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    threads.append(threading.Thread(target=compactor))
    for t in threads:
        t.start()
    time.sleep(6)
    stop.set()
    for t in threads:
        t.join(60)
    assert not bad, bad[:5]
    p = pool_state(api)
    # Asked for and automatic ones: the log went round many times.
    assert len(compactions) >= 5 and p["log_compactions"] >= len(compactions)
    assert p["log_compactions_failed"] == 0
    assert sum(c["records_copied"] for c in compactions) > 0, \
        "no compaction overlapped a write"
    assert slowest[0] < 2.0, slowest
    tree = api_tree(api, validate=False)
    assert {k: v for k, v in tree.items() if k.startswith("/bulk")} == bulk
    assert {k: v[5] for k, v in tree.items()
            if k.startswith("/d/")} == model
    assert p["files"] == BULK_FILES + len(model)
    assert p["pending_reclaim_bytes"] == 0
    # And the pool holds the same after a crash.
    m.kill()
    famfsctl("fsck", pool, check=0)
    m.start()
    assert api_tree(m.client(), validate=False) == tree


def fill_until_log_full(m):
    """Creates files with long names (big checkpoint items) until the live
    state leaves no room for a write in a generation. Returns how many
    were created and the refusal."""
    cap = pool_state(m.client())["log_capacity_bytes"]
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {m.admin_token}"
    created = 0
    while True:
        r = s.put(f"{m.url}/v1/files/{'n' * 200}{created}", json={"size": 4096},
                  timeout=30)
        if r.status_code != 201:
            return created, r
        created += 1
        assert created < cap // 200, "the log never filled"


def test_a_live_state_that_fills_a_generation_is_503_log_full(
        tmp_path, master_factory):
    """Files until their checkpoint alone leaves no room in a generation:
    writes answer log-full with Retry-After (after the compactions that
    could not make room), reads go on, and the pool is intact."""
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                     log_size=SMALL_LOG)
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    created, r = fill_until_log_full(m)
    assert r.status_code == 503 and r.json()["type"].endswith("/log-full"), r.text
    assert int(r.headers["Retry-After"]) >= 1
    p = pool_state(api)
    assert p["log_compactions"] >= 1
    assert p["checkpoint_bytes"] > p["log_capacity_bytes"] // 2
    # A compaction asked for now either fits (and still leaves no room)
    # or does not (log-full, saying why); either way nothing changes.
    assert r.json()["detail"].startswith("the live state fills a whole log "
                                         "generation (")
    r = api.post("/v1/pool/compact", expect=(200, 503))
    if r.status_code == 503:
        assert problem_name(r) == "log-full", r.text
        assert "does not fit in one log generation" in r.json()["detail"]
    tree = api_tree(api)
    assert len(tree) == created == pool_state(api)["files"]
    m.kill()
    famfsctl("fsck", pool, check=0)
    m.start()
    assert api_tree(m.client()) == tree


def test_a_live_agent_behind_holds_compaction_and_full_writes_wait(
        tmp_path, master_factory):
    """C0: after a switch, an agent that still reports the generation
    before holds the next compaction (GET /v1/agents shows it behind). A
    write that finds the log full waits for room, and answers log-full
    naming the cause only after 10 s; once the agent follows, the
    compaction runs and a waiting write goes through."""
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                     log_size=SMALL_LOG)
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    heartbeat(m, "slow", 0, 1)
    assert compact(api).json()["generation"] == 2
    heartbeat(m, "slow", 0, 1)              # live, and behind
    agents = api.get("/v1/agents", expect=200).json()["agents"]
    assert [(a["agent_id"], a["generation"]) for a in agents] == [("slow", 1)]
    # Creates and deletes until the generation is full (the deletes' space
    # stays pending: "slow" applied nothing).
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {m.admin_token}"
    name = "n" * 200
    for i in range(5000):
        t0 = time.monotonic()
        r = s.put(f"{m.url}/v1/files/{name}", json={"size": 4096}, timeout=30)
        if r.status_code != 201:
            break
        s.delete(f"{m.url}/v1/files/{name}", timeout=30).raise_for_status()
    took = time.monotonic() - t0
    assert r.status_code == 503, r.text
    assert problem_name(r) == "log-full"
    assert r.json()["detail"] == ("the metadata log has no room: a compaction "
                                  "is waiting (a live agent still follows "
                                  "the generation before)")
    assert 9 < took < 20, took
    assert pool_state(api)["log_generation"] == 2
    # A write waits; the agent follows; the write goes through.
    got = {}
    writer = threading.Thread(target=lambda: got.update(r=s.put(
        f"{m.url}/v1/files/after", json={"size": 1}, timeout=30)))
    writer.start()
    time.sleep(0.5)
    assert "r" not in got
    heartbeat(m, "slow", pool_state(api)["last_seq"], 2)
    writer.join(30)
    assert got["r"].status_code == 201, got["r"].text
    assert pool_state(api)["log_generation"] == 3
    assert sorted(api_tree(api)) == ["/after"]


def test_an_unreported_roster_agent_holds_compaction_after_a_restart(
        tmp_path, master_factory):
    """C0 after a restart: an agent the roster names but that has not
    reported to this master yet may still read the generation before, so it
    holds the compaction until it reports, or for agent_timeout at most
    (then it counts as stale); a compaction asked for meanwhile waits."""
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                     log_size=SMALL_LOG)
    m = master_factory(pool, args=["--reclaim-grace-ms", "0",
                                   "--agent-timeout", "4"])
    heartbeat(m, "quiet", 0, 1)             # in the roster from now on
    m.kill()
    m.start()
    api = m.client()
    agents = api.get("/v1/agents", expect=200).json()["agents"]
    assert [(a["agent_id"], a["state"]) for a in agents] == [
        ("quiet", "unreported")]
    t0 = time.monotonic()
    assert compact(api).json()["generation"] == 2
    took = time.monotonic() - t0
    # The start's two-second grace, then agent_timeout (4 s) of silence.
    assert 3.5 < took < 12, took
    # Reported: it holds nothing any more, the next compaction runs at once.
    heartbeat(m, "quiet", pool_state(api)["last_seq"], 2)
    t0 = time.monotonic()
    assert compact(api).json()["generation"] == 3
    assert time.monotonic() - t0 < 3


def test_metrics_count_compactions(master):
    api = master.client()
    api.put("/v1/files/a", json={"size": 1}, expect=201)
    for _ in range(3):
        compact(api)
    text = api.get("/metrics", expect=200).text
    p = pool_state(api)
    for line in ("famfsd_log_generation 4",
                 "famfsd_log_compactions_total 3",
                 "famfsd_log_compactions_failed_total 0",
                 f"famfsd_log_checkpoint_bytes {p['checkpoint_bytes']}",
                 'famfsd_log_compaction_seconds_bucket{le="+Inf"} 3',
                 "famfsd_log_compaction_seconds_count 3",
                 "# TYPE famfsd_log_compactions_total counter",
                 "# TYPE famfsd_log_compaction_seconds histogram"):
        assert line + "\n" in text, line
    assert p["checkpoint_bytes"] > 0
