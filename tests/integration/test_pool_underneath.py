"""A pool changed underneath a running master and agent (issue 13, point 2).

famfsctl mkfs refuses a pool whose master lease is being renewed, naming
the holder, even with --force; --dead-master (or a holder that is gone)
lets it format. Whatever formats or rewrites the superblock under a live
master and agent anyway: the master fences itself at its next write or
tick (503 fenced, a log line naming what changed, famfsd_master_fenced,
GET /v1/pool "fenced") and writes nothing more into the pool, not even its
lease; the agent drops the old tree (open handles get EIO), says why, and
its heartbeats are refused rather than taken for positions in another pool.
"""

import errno
import json
import os
import signal
import struct
import subprocess
import time

import pytest

from conftest import (FAMFSD, famfsctl, format_h,
                      format_struct, make_pool, problem_name, read_log,
                      require, stop_local, assert_no_sanitizer_report)

MiB = 1 << 20
SB = format_struct("famfs_sb")
SB_A = format_h(r"#define FAMFS_SB_A_OFFSET\s+(\d+)u")
SB_B = format_h(r"#define FAMFS_SB_B_OFFSET\s+(\d+)u")
LEASE = format_h(r"#define FAMFS_LEASE_OFFSET\s+(\d+)u")
WATCH_S = 3         # FAMFS_LEASE_WATCH_MS in famfsd/lib/lease.h


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def read_at(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def info_of(pool):
    return json.loads(famfsctl("--json", "info", pool, check=0).stdout)


def metadata(pool):
    """Superblocks, lease and log region: every byte a master writes
    besides file data."""
    i = info_of(pool)
    return read_at(pool, 0, i["log_offset"] + i["log_size"])


def wait_until(what, fn, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


class Agent:
    """A FUSE agent following the master's pool and heartbeating to it."""

    def __init__(self, master, workdir, name="agent"):
        self.mount = os.path.join(str(workdir), name)
        os.makedirs(self.mount, exist_ok=True)
        token = os.path.join(str(workdir), f"{name}.token")
        with open(token, "w") as f:
            f.write(master.agent_token + "\n")
        os.chmod(token, 0o600)
        self.log = os.path.join(str(workdir), f"{name}.stderr")
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [FAMFSD, "agent", "--pool", master.pool, "--mount", self.mount,
                 "--poll-ms", "10", "--agent-id", name, "--master", master.url,
                 "--token-file", token],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        wait_until(f"{name} mounted", lambda: self.proc.poll() is not None or
                   os.path.ismount(self.mount), timeout=20)
        assert self.proc.poll() is None, self.stderr()

    def p(self, rel):
        return os.path.join(self.mount, rel)

    def stderr(self):
        return read_log(self.log)

    def close(self):
        stop_local(self.proc, self.mount, 10)
        text = self.stderr()
        assert_no_sanitizer_report(text)


@pytest.fixture
def agent_factory(tmp_path):
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    started = []

    def start(master, name="agent"):
        a = Agent(master, tmp_path, name)
        started.append(a)
        return a

    yield start
    for a in started:
        a.close()


def small_pool(tmp_path):
    return make_pool(tmp_path / "pool.img", size="256M", log_size="1M")


def test_mkfs_refuses_a_live_master_naming_it(tmp_path, master_factory):
    pool = small_pool(tmp_path)
    m = master_factory(pool)
    api = m.client()
    api.put("/v1/files/a", json={"size": 1}, expect=201)
    before = read_at(pool, 0, LEASE)             # both superblocks
    t0 = time.monotonic()
    r = famfsctl("mkfs", pool, "--force", "--log-size", "16M", check=8)
    took = time.monotonic() - t0
    # Refused at its renewal (once a second), not after the whole watch.
    assert took < WATCH_S, (took, r.stderr)
    assert "refusing to format" in r.stderr, r.stderr
    assert f"host {os.uname().nodename}, pid {m.proc.pid}, epoch 1" in r.stderr
    assert "--force does not override this" in r.stderr
    assert "--dead-master" in r.stderr
    assert read_at(pool, 0, LEASE) == before
    # The master never noticed: it serves and writes on.
    api.get("/v1/files/a", expect=200)
    api.put("/v1/files/b", json={"size": 1}, expect=201)
    assert api.get("/v1/pool", expect=200).json()["fenced"] is None
    assert m.stop() == 0
    rep = json.loads(famfsctl("--json", "fsck", pool, check=0).stdout)
    assert rep["files"] == 2


def test_mkfs_after_the_master_died(tmp_path, master_factory):
    pool = small_pool(tmp_path)
    m = master_factory(pool)
    m.client().put("/v1/files/a", json={"size": 1}, expect=201)
    m.kill()
    # Its pid is gone on this host: no watch needed, --force is enough.
    t0 = time.monotonic()
    r = famfsctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
    assert time.monotonic() - t0 < WATCH_S and "watching" not in r.stderr
    assert info_of(pool)["master_lease"]["state"] == "never held"
    # --dead-master: the operator's word, no watch either.
    m2 = master_factory(pool)
    m2.client().put("/v1/files/b", json={"size": 1}, expect=201)
    m2.kill()
    r = famfsctl("mkfs", pool, "--force", "--dead-master", "--log-size", "1M",
                 check=0)
    assert "watching" not in r.stderr and "refusing" not in r.stderr
    assert json.loads(famfsctl("--json", "fsck", pool, check=0).stdout)["files"] == 0
    # Without --force the flag formats nothing over a pool.
    r = famfsctl("mkfs", pool, "--dead-master", check=8)
    assert "--force" in r.stderr


def test_hung_master_taken_for_dead_fences_when_it_wakes(tmp_path, master_factory):
    """A master that stops renewing (SIGSTOP) is taken for dead after the
    watch, with no clock compared; when it resumes it must not write its
    old state into the new pool."""
    pool = small_pool(tmp_path)
    m = master_factory(pool)
    api = m.client()
    for i in range(20):
        api.put(f"/v1/files/f{i}", json={"size": 1}, expect=201)
    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = famfsctl("mkfs", pool, "--force", "--log-size", "1M", check=0)
        assert time.monotonic() - t0 >= WATCH_S
        assert f"pid {m.proc.pid}" in r.stderr and "taking its master for dead" \
            in r.stderr, r.stderr
        fresh = metadata(pool)
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    resp = api.s.put(api.base + "/v1/files/late", json={"size": 1}, timeout=10)
    assert resp.status_code == 503 and problem_name(resp) == "fenced", resp.text
    assert "the pool changed underneath: pool UUID" in resp.json()["detail"]
    time.sleep(2.5)                 # two ticks: no lease renewal into it
    assert metadata(pool) == fresh
    rep = json.loads(famfsctl("--json", "fsck", pool, check=0).stdout)
    assert (rep["files"], rep["records"]) == (0, 0)
    assert m.stop() == 1


def test_reformat_underneath_master_and_agent(tmp_path, master_factory,
                                              agent_factory):
    pool = small_pool(tmp_path)
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    old_uuid = api.get("/v1/pool", expect=200).json()["uuid"]
    api.put("/v1/dirs/old", json={}, expect=201)
    for i in range(50):
        api.put(f"/v1/files/old/f{i}", json={"size": MiB}, expect=201)
    a = agent_factory(m)
    wait_until("the old tree", lambda: os.path.exists(a.p("old/f49")))
    fd = os.open(a.p("old/f0"), os.O_RDWR)
    try:
        os.pwrite(fd, b"before", 0)
        # Formatted by other means while both run (the operator vouched).
        famfsctl("mkfs", pool, "--force", "--dead-master", "--log-size", "1M",
                 check=0)
        fresh = metadata(pool)
        new_uuid = info_of(pool)["pool_uuid"]
        # The master: its next create is refused, naming the change.
        r = api.s.put(api.base + "/v1/files/late", json={"size": 1}, timeout=10)
        assert r.status_code == 503 and problem_name(r) == "fenced", r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert f"pool UUID {old_uuid} -> {new_uuid}" in r.json()["detail"]
        wait_until("the master's log line", lambda: "fenced: the pool changed "
                   f"underneath: pool UUID {old_uuid} -> {new_uuid}" in m.stderr())
        metrics = api.get("/metrics", expect=200).text
        assert 'famfsd_master_fenced{reason="pool-changed"} 1' in metrics
        assert 'famfsd_master_fenced{reason="lease-lost"} 0' in metrics
        pool_doc = api.get("/v1/pool", expect=200).json()
        assert pool_doc["uuid"] == old_uuid
        assert pool_doc["fenced"]["reason"] == "pool-changed"
        assert new_uuid in pool_doc["fenced"]["detail"]
        api.get("/healthz", expect=200)
        # The old namespace is not served as if it were the pool's.
        r = api.request("GET", "/v1/files/old/f1", validate=False)
        assert r.status_code == 503 and problem_name(r) == "fenced"
        r = api.request("DELETE", "/v1/files/old/f1", validate=False)
        assert r.status_code == 503 and problem_name(r) == "fenced"
        # Nor its map; who a token is stays (it touches no pool).
        for path in ("/v1/pool/map", "/v1/pool/units/0"):
            r = api.get(path)
            assert r.status_code == 503 and problem_name(r) == "fenced", path
        api.get("/v1/whoami", expect=200)
        # The agent: it says why, and the old tree is gone.
        wait_until("the agent's log line", lambda: "the pool under the mount "
                   f"changed (pool UUID {old_uuid} -> {new_uuid})" in a.stderr())
        with pytest.raises(OSError) as e:
            os.pread(fd, 6, 0)
        assert e.value.errno == errno.EIO
        with pytest.raises(OSError) as e:
            os.pwrite(fd, b"OLD", 0)
        assert e.value.errno == errno.EIO
    finally:
        os.close(fd)
    wait_until("the old names gone", lambda: os.listdir(a.mount) == [])
    assert not os.path.exists(a.p("old/f1"))
    # Its heartbeats do not count in the fenced master.
    wait_until("a refused heartbeat", lambda: "HTTP 503" in a.stderr(), timeout=5)
    # Two of the master's ticks: it neither renews its lease into the new
    # pool nor writes anything else there.
    time.sleep(2.5)
    assert metadata(pool) == fresh
    rep = json.loads(famfsctl("--json", "fsck", pool, check=0).stdout)
    assert (rep["files"], rep["records"]) == (0, 0)
    assert info_of(pool)["master_lease"]["state"] == "never held"
    assert m.stop() == 1
    # A master started now serves the new pool; the agent reports to it.
    m.start()
    assert api.get("/v1/pool", expect=200).json()["uuid"] == new_uuid
    api.put("/v1/files/new", json={"size": 1}, expect=201)
    wait_until("the new pool's file", lambda: os.listdir(a.mount) == ["new"])
    wait_until("the agent registered", lambda: [
        g["agent_id"] for g in api.get("/v1/agents", expect=200).json()["agents"]]
        == ["agent"])


def rewrite_superblock(pool, **fields):
    """Both copies, fields changed, sb_seq + 1, the CRC made good."""
    sb = bytearray(read_at(pool, SB_A, SB["sizeof"]))
    for name, value in fields.items():
        struct.pack_into("<Q", sb, SB[name], value)
    seq = struct.unpack_from("<Q", sb, SB["sb_seq"])[0]
    struct.pack_into("<Q", sb, SB["sb_seq"], seq + 1)
    struct.pack_into("<I", sb, SB["crc"], crc32c(sb[:SB["crc"]]))
    with open(pool, "r+b") as f:
        for off in (SB_A, SB_B):
            f.seek(off)
            f.write(sb)


def test_geometry_change_alone_is_noticed(tmp_path, master_factory, agent_factory):
    """Same UUID, same creation time, another log size: still not the pool
    the master replayed."""
    pool = small_pool(tmp_path)
    m = master_factory(pool)
    api = m.client()
    api.put("/v1/files/a", json={"size": MiB}, expect=201)
    a = agent_factory(m)
    wait_until("the file", lambda: os.path.exists(a.p("a")))
    fd = os.open(a.p("a"), os.O_RDWR)
    try:
        rewrite_superblock(pool, log_size=2 * MiB)
        wait_until("the master's log line", lambda: "fenced: the pool changed "
                   "underneath: log size 1048576 -> 2097152" in m.stderr())
        r = api.s.put(api.base + "/v1/files/b", json={"size": 1}, timeout=10)
        assert r.status_code == 503 and problem_name(r) == "fenced", r.text
        wait_until("the agent's log line", lambda: "the pool under the mount "
                   "changed (log size 1048576 -> 2097152)" in a.stderr())
        with pytest.raises(OSError) as e:
            os.pread(fd, 1, 0)
        assert e.value.errno == errno.EIO
    finally:
        os.close(fd)
    assert m.stop() == 1


def test_heartbeat_names_its_pool(tmp_path, master_factory):
    """A position is a position in one pool: a master serving another one
    refuses it (409, naming both) instead of counting it for reclaim."""
    pool = small_pool(tmp_path)
    m = master_factory(pool)
    api = m.client()
    ours = api.get("/v1/pool", expect=200).json()["uuid"]
    other = "0123abcd-0000-4000-8000-000000000001"
    beat = {"host": "h", "address": "", "applied_seq": 0, "open_inos": [],
            "generation": 1}
    r = api.post("/v1/agents/a1/heartbeat", json={**beat, "pool_uuid": other},
                 expect=409)
    assert other in r.json()["detail"] and ours in r.json()["detail"]
    assert api.get("/v1/agents", expect=200).json()["agents"] == []
    api.post("/v1/agents/a1/heartbeat", json={**beat, "pool_uuid": "nope"},
             expect=400)
    api.post("/v1/agents/a1/heartbeat", json={**beat, "pool_uuid": ours},
             expect=200)
    api.post("/v1/agents/a2/heartbeat", json=beat, expect=200)   # 0.2 agents
    assert [g["agent_id"] for g in api.get("/v1/agents", expect=200).json()["agents"]] \
        == ["a1", "a2"]


def test_agent_heartbeating_to_a_master_of_another_pool(tmp_path, master_factory,
                                                        agent_factory):
    """The master's address now serves another pool: the agent's heartbeats
    are refused and it says so once, keeping its mount and its handles."""
    pool = small_pool(tmp_path)
    m = master_factory(pool)
    m.client().put("/v1/files/a", json={"size": MiB}, expect=201)
    a = agent_factory(m)
    wait_until("the file", lambda: os.path.exists(a.p("a")))
    ours = info_of(pool)["pool_uuid"]
    assert m.stop() == 0
    other = make_pool(tmp_path / "other.img", size="256M", log_size="1M")
    m2 = master_factory(other, port=m.port)
    theirs = info_of(other)["pool_uuid"]
    line = (f"failed: pool_uuid: this agent follows pool {ours}, this master "
            f"serves pool {theirs}")
    wait_until("the refusal logged", lambda: line in a.stderr())
    time.sleep(2.5)                 # more heartbeats, refused the same way
    assert a.stderr().count(line) == 1
    assert "revoking open handles" not in a.stderr()
    assert m2.client().get("/v1/agents", expect=200).json()["agents"] == []
    with open(a.p("a"), "r+b") as f:    # the mount still serves its pool
        f.write(b"still")
