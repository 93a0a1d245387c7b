"""Multi-host tests of the agent: three hosts (network namespaces with their
own addresses), one master on host 1, an agent with its own FUSE mount in
its own mount namespace on every host, all sharing one pool file.

Cases: a create through the API shows in every mount; bytes written
through one host's mount read back through another's; an agent killed
during 1,000 creates converges after restart; a master killed and
restarted, agents carry on; a host cut off the network converges by
polling the pool; a file deleted while open on one host keeps its space
until it is closed there.
"""

import hashlib
import threading
import time

import pytest

from conftest import ApiClient, api_tree, make_pool, problem_name
from multihost import (READ_PY, WRITE_PY, Fleet as BaseFleet, hard_deadline,
                       pattern, three_hosts, wait_until)

MiB = 1 << 20
TEST_SECONDS = 90          # hard bound per test (SIGALRM)


@pytest.fixture(autouse=True)
def deadline():
    with hard_deadline(TEST_SECONDS):
        yield


@pytest.fixture(scope="module")
def cluster():
    yield from three_hosts()


class Fleet(BaseFleet):
    """A master on host 1 and an agent on every host, on one pool."""


    def all_live(self):
        agents = self.api.get("/v1/agents", expect=200).json()["agents"]
        last = self.api.get("/v1/pool", expect=200).json()["last_seq"]
        live = {a["agent_id"] for a in agents
                if a["state"] == "live" and a["applied_seq"] == last}
        return live >= {a.name for a in self.agents}

    def close(self, allow_errors=()):
        logs = {a.name: a.stderr() for a in self.agents}
        try:
            for a in self.agents:
                a.close(allow_errors=a.name in allow_errors)
        finally:
            self.master.close()
        # No case here changes the log's generation or formats the pool,
        # so no agent may have re-read the log from its start: not after a
        # master restart, a cut link, nor an eviction.
        for name, text in logs.items():
            assert "replayed the log from the start" not in text, (name, text)


@pytest.fixture
def fleet_factory(cluster, tmp_path):
    fleets = []

    def make(pool=None, **kw):
        f = Fleet(cluster, pool or make_pool(tmp_path / "pool.img"), tmp_path, **kw)
        fleets.append(f)
        return f

    yield make
    for f in fleets:
        f.close(allow_errors=getattr(f, "allow_errors", ()))


@pytest.fixture
def fleet(fleet_factory):
    return fleet_factory()


def test_create_visible_on_every_host(fleet):
    api = fleet.api
    api.put("/v1/dirs/jobs", json={"mode": 0o750, "uid": 1000, "gid": 100}, expect=201)
    api.put("/v1/files/jobs/a", json={"size": 5000, "mode": 0o640, "uid": 1000,
                                      "gid": 100}, expect=201)
    api.put("/v1/files/jobs/b", json={"size": 3 * MiB}, expect=201)
    api.put("/v1/dirs/jobs/deep", expect=201)
    api.put("/v1/files/jobs/deep/c", json={"size": 1}, expect=201)
    truth = api_tree(api)
    assert len(truth) == 5
    for a in fleet.agents:
        a.wait_paths(["jobs/a", "jobs/b", "jobs/deep/c"])
        assert a.tree() == truth, a.name

    # statfs is the replayed allocator's view: the pool's real size and free.
    pool = api.get("/v1/pool", expect=200).json()
    out = fleet.agents[1].py(
        "import os,sys; s=os.statvfs(sys.argv[1]); "
        "print(s.f_frsize*s.f_blocks, s.f_frsize*s.f_bavail, s.f_namemax)",
        fleet.agents[1].mount).stdout.split()
    assert [int(x) for x in out] == [pool["size_bytes"], pool["free_bytes"], 255]

    # The mount refuses namespace changes, saying how to make them.
    p = fleet.agents[2].sh("mkdir", fleet.agents[2].path("jobs/new"), check=False)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr
    p = fleet.agents[2].sh("rm", fleet.agents[2].path("jobs/a"), check=False)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr
    wait_until("the refusal in the agent's log",
               lambda: "use the famfsd API" in fleet.agents[2].stderr(), 5)

    # A delete disappears everywhere (the kernel's cached entry is dropped).
    api.delete("/v1/files/jobs/deep/c", expect=200)
    for a in fleet.agents:
        a.wait_paths(["jobs/deep/c"], gone=True)


def test_bytes_written_on_host2_read_on_host3(fleet):
    size = 8 * MiB + 12345
    fleet.api.put("/v1/files/data", json={"size": size, "mode": 0o666}, expect=201)
    h2, h3 = fleet.agents[1], fleet.agents[2]
    for a in (h2, h3):
        a.wait_paths(["data"])
    written = h2.py(WRITE_PY, h2.path("data"), "seed-1", str(size)).stdout.strip()
    assert h3.py(READ_PY, h3.path("data")).stdout.strip() == written
    assert written == hashlib.sha256(pattern("seed-1", size)).hexdigest()

    # And back: host 3 overwrites, host 2 (and host 1) read the new bytes.
    written = h3.py(WRITE_PY, h3.path("data"), "seed-2", str(size)).stdout.strip()
    for a in (h2, fleet.agents[0]):
        assert a.py(READ_PY, a.path("data")).stdout.strip() == written

    # Sizes are fixed: a write past the end is EFBIG, truncation EPERM.
    p = h2.py("import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); "
              "os.pwrite(fd, b'x', int(sys.argv[2]))", h2.path("data"), str(size),
              check=False)
    assert "File too large" in p.stderr, p.stderr
    p = h2.sh("truncate", "-s", "0", h2.path("data"), check=False)
    assert p.returncode != 0 and "Operation not permitted" in p.stderr


def create_many(api, n, prefix, progress, stop=None):
    """Runs on the host's own thread: the base request, not the proxy.
    Creates n files, or with stop (a threading.Event) goes on past n until
    it is set; returns how many."""
    i = 0
    while i < n or (stop is not None and not stop.is_set()):
        ApiClient.request(api, "PUT", f"/v1/files/{prefix}/f{i:05d}",
                          json={"size": 4096}, expect=201)
        i += 1
        progress[0] = i
    return i


def test_agent_killed_during_creates_converges(fleet):
    api, h3 = fleet.api, fleet.agents[2]
    api.put("/v1/dirs/bulk", expect=201)
    progress, stop = [0], threading.Event()
    # The creates go on until told to stop, so the kill and the restart
    # both fall among them however fast the master is.
    fut = fleet.master.host.executor.submit(create_many, api, 1000, "bulk",
                                            progress, stop)
    try:
        wait_until("300 creates", lambda: progress[0] >= 300 or fut.done(), 60)
        h3.kill()
        at_kill = progress[0]
        time.sleep(0.2)
        h3.start()
        wait_until("300 creates more", lambda: progress[0] >= at_kill + 300 or
                   fut.done(), 60)
    finally:
        stop.set()
    n = fut.result(120)
    assert n >= at_kill + 300
    truth = api_tree(api)
    assert len(truth) == n + 1
    h3.wait_paths([f"bulk/f{n - 1:05d}"], timeout=10)
    assert h3.tree() == truth
    assert fleet.agents[1].tree() == truth
    assert h3.runs == 2


def test_master_killed_and_restarted(fleet):
    api = fleet.api
    api.put("/v1/files/before", json={"size": 4096}, expect=201)
    for a in fleet.agents:
        a.wait_paths(["before"])
    wait_until("every agent registered", fleet.all_live, 10, interval=0.2)
    fleet.master.kill()
    # Agents keep serving what they replayed, and see the master gone.
    for a in fleet.agents:
        assert "/before" in a.tree()
    wait_until("every agent's heartbeat failing", lambda: all(
        "warning: heartbeat to" in a.stderr() for a in fleet.agents), 10, 0.1)
    fleet.master.start()
    api.put("/v1/files/after", json={"size": 4096}, expect=201)
    for a in fleet.agents:
        a.wait_paths(["after"])
    # Heartbeats register again with the new master run (epoch 2), and
    # each agent tells the new run from the old one.
    wait_until("every agent live and caught up", fleet.all_live, 10, interval=0.2)
    wait_until("every agent's second registration logged", lambda: all(
        a.stderr().count("heartbeat accepted by") == 2 and
        "master epoch changed from 1 to 2: a new master runs" in a.stderr()
        for a in fleet.agents), 10, 0.1)


def test_link_down_converges_by_polling(fleet):
    api, h3 = fleet.api, fleet.agents[2]
    wait_until("every agent live", fleet.all_live, 10, interval=0.2)
    api.put("/v1/dirs/offline", expect=201)
    progress, stop = [0], threading.Event()
    fut = fleet.master.host.executor.submit(create_many, api, 300, "offline",
                                            progress, stop)
    try:
        wait_until("50 creates", lambda: progress[0] >= 50 or fut.done(), 30)
        h3.host.link(False)         # cut during the creates
        at_cut = progress[0]
        wait_until("200 creates more", lambda: progress[0] >= at_cut + 200 or
                   fut.done(), 30)
        stop.set()
        n = fut.result(60)
        assert n >= at_cut + 200
        # No feed, no heartbeat: the shared pool's tail alone brings them.
        h3.wait_paths([f"offline/f{n - 1:05d}"], timeout=10)
        assert h3.tree() == api_tree(api)
        wait_until("the heartbeat failure in the log",
                   lambda: "heartbeat to" in h3.stderr() and "failed" in h3.stderr(),
                   10)
    finally:
        stop.set()
        h3.host.link(True)
    wait_until("host 3 live again with lag 0", fleet.all_live, 15, interval=0.2)


HOLD_PY = r"""
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
size = os.fstat(fd).st_size
os.pwrite(fd, b"held" * (size // 4), 0)
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "read":
        st = os.fstat(fd)
        try:
            data = os.pread(fd, size, 0)
        except OSError as e:
            print("error", e.errno, flush=True)
            continue
        print(hashlib.sha256(data).hexdigest(), st.st_nlink, flush=True)
    elif cmd == "write":
        os.pwrite(fd, b"late" * (size // 4), 0)
        print("written", flush=True)
    elif cmd == "close":
        os.close(fd)
        print("closed", flush=True)
        break
"""


def overlaps(a, b):
    return any(x["offset"] < y["offset"] + y["length"] and
               y["offset"] < x["offset"] + x["length"] for x in a for y in b)


def test_delete_while_open_keeps_space_until_close(fleet_factory, tmp_path):
    # 32 MiB pool, 2 MiB units, 1 MiB log: 14 units of data to fight over.
    pool = make_pool(tmp_path / "small.img", size="32M", log_size="1M")
    fleet = fleet_factory(pool=pool)
    api, h2 = fleet.api, fleet.agents[1]
    size = 4 * MiB
    victim = api.put("/v1/files/victim", json={"size": size, "mode": 0o666},
                     expect=201).json()
    h2.wait_paths(["victim"])
    holder = h2.popen_py(HOLD_PY, h2.path("victim"))
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        wait_until("host 2 reporting the file open", lambda: any(
            a["agent_id"] == h2.name and a["open_files"] == 1
            for a in api.get("/v1/agents").json()["agents"]), 10, interval=0.1)

        api.delete("/v1/files/victim", expect=200)
        for a in fleet.agents:
            a.wait_paths(["victim"], gone=True)
        # The handle still reads its bytes and writes into its extents.
        holder.stdin.write("read\n")
        holder.stdin.flush()
        digest, nlink = holder.stdout.readline().split()
        assert digest == hashlib.sha256(b"held" * (size // 4)).hexdigest()
        assert nlink == "0"
        holder.stdin.write("write\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "written"

        # Space stays pending while host 2 holds it: fill the pool, and no
        # new file gets the victim's extents.
        for _ in range(10):
            p = api.get("/v1/pool", expect=200).json()
            assert p["pending_reclaim_bytes"] == size, p
            time.sleep(0.1)
        new = []
        for i in range(20):
            r = api.put(f"/v1/files/fill{i}", json={"size": 2 * MiB},
                        expect=(201, 507))
            if r.status_code == 507:
                assert problem_name(r) == "pool-full"
                break
            new.append(r.json())
        else:
            pytest.fail("the pool never filled up")
        assert not any(overlaps(f["extents"], victim["extents"]) for f in new)
        assert api.get("/v1/pool").json()["pending_reclaim_bytes"] == size

        holder.stdin.write("close\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
    finally:
        holder.kill()
        holder.wait(10)

    # Closed: the next heartbeat lets the master reclaim, and the space
    # goes to the next create.
    wait_until("the reclaim", lambda: api.get("/v1/pool").json()
               ["pending_reclaim_bytes"] == 0, 10, interval=0.1)
    reuse = api.put("/v1/files/reuse", json={"size": size}, expect=201).json()
    assert overlaps(reuse["extents"], victim["extents"])
    assert "deleted (seq" in h2.stderr() and "last handle on deleted inode" in h2.stderr()


def test_evicted_agent_drops_handles_and_registers_again(fleet):
    api, h2 = fleet.api, fleet.agents[1]
    fleet.allow_errors = ()
    api.put("/v1/files/held", json={"size": MiB, "mode": 0o666}, expect=201)
    h2.wait_paths(["held"])
    wait_until("every agent live", fleet.all_live, 10, interval=0.2)
    holder = h2.popen_py(HOLD_PY, h2.path("held"))
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        api.delete(f"/v1/agents/{h2.name}", expect=200)
        # The next heartbeat is refused (409): the agent revokes its handles
        # and registers again, without re-reading the log.
        wait_until("the 409 in the agent's log",
                   lambda: "answered 409" in h2.stderr(), 10)
        wait_until("host 2 registered again", fleet.all_live, 10, interval=0.2)
        holder.stdin.write("read\n")
        holder.stdin.flush()
        assert holder.stdout.readline().split() == ["error", "5"]   # EIO
    finally:
        holder.kill()
        holder.wait(10)
    assert "revoked" in h2.stderr() and "(no replay)" in h2.stderr()
    assert h2.tree() == api_tree(api)
    # A fresh open of the same file works again.
    assert len(h2.py(READ_PY, h2.path("held")).stdout.strip()) == 64


def test_master_restart_holds_space_until_agent_reports(fleet_factory, tmp_path):
    """The agent roster (docs/master.md, Safe reclaim): a restarted master
    reuses no space a host may still use until that host has reported to
    it, however late. Before the roster, the grace after a start (0 ms
    here, 3 s by default) decided, and host 2's open file went to a new
    create once the grace was over."""
    pool = make_pool(tmp_path / "small.img", size="32M", log_size="1M")
    fleet = fleet_factory(pool=pool)
    api, h2 = fleet.api, fleet.agents[1]
    size = 4 * MiB
    victim = api.put("/v1/files/victim", json={"size": size, "mode": 0o666},
                     expect=201).json()
    h2.wait_paths(["victim"])
    holder = h2.popen_py(HOLD_PY, h2.path("victim"))
    try:
        assert holder.stdout.readline().strip() == "ready", holder.stderr.read()
        wait_until("host 2 reporting the file open", lambda: any(
            a["agent_id"] == h2.name and a["open_files"] == 1
            for a in api.get("/v1/agents").json()["agents"]), 10, interval=0.1)
        api.delete("/v1/files/victim", expect=200)
        for a in fleet.agents:
            a.wait_paths(["victim"], gone=True)
        # Host 2 is cut off while the master crashes and comes back.
        h2.host.link(False)
        fleet.master.kill()
        fleet.master.start()
        states = lambda: {a["agent_id"]: a["state"]
                          for a in api.get("/v1/agents").json()["agents"]}
        wait_until("hosts 1 and 3 reporting to the new run", lambda:
                   states() == {fleet.agents[0].name: "live",
                                h2.name: "unreported",
                                fleet.agents[2].name: "live"}, 10, 0.1)
        time.sleep(1.0)
        assert api.get("/v1/pool").json()["pending_reclaim_bytes"] == size
        new = []
        for i in range(20):
            r = api.put(f"/v1/files/fill{i}", json={"size": 2 * MiB},
                        expect=(201, 507))
            if r.status_code == 507:
                break
            new.append(r.json())
        else:
            pytest.fail("the pool never filled up")
        assert not any(overlaps(f["extents"], victim["extents"]) for f in new)
        # Back on the network: it reports at once, the file still open.
        h2.host.link(True)
        wait_until("host 2 live again, holding the file", lambda: any(
            a["agent_id"] == h2.name and a["state"] == "live" and
            a["open_files"] == 1
            for a in api.get("/v1/agents").json()["agents"]), 10, 0.1)
        assert api.get("/v1/pool").json()["pending_reclaim_bytes"] == size
        holder.stdin.write("read\n")
        holder.stdin.flush()
        digest, _ = holder.stdout.readline().split()
        assert digest == hashlib.sha256(b"held" * (size // 4)).hexdigest()
        holder.stdin.write("close\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "closed"
    finally:
        h2.host.link(True)
        holder.kill()
        holder.wait(10)
    wait_until("the reclaim once host 2 closed it", lambda: api.get(
        "/v1/pool").json()["pending_reclaim_bytes"] == 0, 10, interval=0.1)
