"""A pool file truncated under a running master and FUSE agent (issue 13,
point 3): `truncate -s 100M` of a 1 GiB pool while creates and reads run.

Before the guard, the next read of a file past the new end killed the agent
with SIGBUS, and the master went on acknowledging creates past the end.
Now: reads and writes of a file past the end answer EIO and the agent's log
names the pool offset; files before it read right; the agent keeps serving
(new files too); every create the master acknowledges after the truncation
lies inside the device, and one that cannot fit below the end is refused
with a reason; GET /v1/pool, /metrics and the master's log report it; the
offline tools refuse the truncated pool with a clear error."""

import errno
import os
import re
import threading
import time

import pytest

from conftest import (SPEC, assert_no_sanitizer_report, famfsctl, make_pool,
                      read_log, require)
from test_log_damage import Agent, wait_until

MiB = 1 << 20
NEW_END = 100 * MiB
LOW = os.urandom(3 * MiB + 123)
HIGH = os.urandom(2 * MiB)


def extents(body):
    return [(e["offset"], e["length"]) for e in body["extents"]]


@pytest.fixture
def agent_factory(tmp_path):
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    started = []

    def start(master):
        a = Agent(master, tmp_path, f"mnt{len(started)}")
        started.append(a)
        return a

    yield started, start
    for a in started:
        # Agent.close() minus its "error:" check: this agent logs errors.
        # It still exits on SIGTERM (a thread a fault left with every
        # signal blocked took no cancellation: the agent hung at exit).
        exited = a.stop()
        text = read_log(a.log)
        assert_no_sanitizer_report(text)
        assert exited, "the agent ignored SIGTERM:\n" + text[-3000:]


def test_truncated_pool_file_under_load(tmp_path, master_factory, agent_factory):
    started, start_agent = agent_factory
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                     log_size="4M")
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    a = start_agent(m)

    # low: at the start of the data area; high: past 100 MiB, behind a filler.
    low = api.put("/v1/files/low", json={"size": len(LOW)}, expect=201).json()
    api.put("/v1/files/filler", json={"size": 200 * MiB}, expect=201)
    high = api.put("/v1/files/high", json={"size": len(HIGH)}, expect=201).json()
    assert all(o + n <= NEW_END for o, n in extents(low)), low
    assert all(o >= NEW_END for o, _ in extents(high)), high
    # The filler goes: the space below the end is free for the creates.
    api.delete("/v1/files/filler", expect=200)
    wait_until("the filler reclaimed", lambda: api.get(
        "/v1/pool", expect=200).json()["pending_reclaim_bytes"] == 0)
    wait_until("the files on the mount",
               lambda: os.path.exists(os.path.join(a.mount, "high")))
    for name, data in (("low", LOW), ("high", HIGH)):
        with open(os.path.join(a.mount, name), "r+b") as f:
            f.write(data)

    # Load: creates through the API, reads of low through the mount.
    stop = threading.Event()
    truncated = threading.Event()
    errors, after = [], []

    def creator():
        i = 0
        while not stop.is_set():
            was_truncated = truncated.is_set()
            r = api.put(f"/v1/files/c{i:05d}", json={"size": 64 << 10},
                        validate=False)
            i += 1
            if r.status_code == 201:
                if was_truncated:
                    after.append(extents(r.json()))
            elif r.status_code != 507:
                errors.append(("create", r.status_code, r.text))
            time.sleep(0.002)

    def reader():
        while not stop.is_set():
            try:
                with open(os.path.join(a.mount, "low"), "rb") as f:
                    if f.read() != LOW:
                        errors.append(("read low", "wrong bytes"))
            except OSError as e:
                errors.append(("read low", e))

    threads = [threading.Thread(target=creator), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        os.truncate(pool, NEW_END)
        truncated.set()
        time.sleep(0.5)
        # A file past the end: EIO, read or written, and again.
        for _ in range(2):
            with pytest.raises(OSError) as e:
                with open(os.path.join(a.mount, "high"), "rb") as f:
                    f.read()
            assert e.value.errno == errno.EIO
        with pytest.raises(OSError) as e:
            with open(os.path.join(a.mount, "high"), "r+b", buffering=0) as f:
                f.write(b"x" * 4096)
        assert e.value.errno == errno.EIO
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:5]
    assert after, "no create succeeded after the truncation"
    # Nothing acknowledged after the truncation lies past the end.
    assert all(o + n <= NEW_END for ext in after for o, n in ext), after

    # The agent is alive and serves the rest, new files included.
    assert a.proc.poll() is None, read_log(a.log)
    with open(os.path.join(a.mount, "low"), "rb") as f:
        assert f.read() == LOW
    api.put("/v1/files/fresh", json={"size": 5000}, expect=201)
    fresh = os.path.join(a.mount, "fresh")
    wait_until("the fresh file on the mount", lambda: os.path.exists(fresh))
    with open(fresh, "r+b") as f:
        f.write(b"y" * 5000)
    with open(fresh, "rb") as f:
        assert f.read() == b"y" * 5000

    # The agent's log names the offset of the fault.
    hi_off = extents(high)[0][0]
    text = read_log(a.log)
    m_read = re.search(r"Failed to read inode (\d+) at pool offset (\d+) \(file "
                       r"offset (\d+)\): no memory behind it", text)
    assert m_read, text
    assert int(m_read.group(2)) == hi_off + int(m_read.group(3)), text
    assert int(m_read.group(2)) >= NEW_END
    assert a.proc.poll() is None

    # The master refuses a create that cannot fit below the end, saying why.
    r = api.put("/v1/files/toobig", json={"size": 300 * MiB}, validate=False)
    assert r.status_code == 507, r.text
    assert "shrank to %d bytes" % NEW_END in r.json()["detail"], r.text
    assert "pool device" in m.stderr() and "shrank from" in m.stderr()

    # GET /v1/pool and /metrics report the shrink and the agent's faults.
    def media():
        body = api.get("/v1/pool", expect=200).json()
        me = body["media_errors"]
        return me if me["count"] >= 1 else None

    me = wait_until("the agent's faults in GET /v1/pool", media, timeout=10)
    SPEC.validate_component(me, "MediaErrors")
    assert me["device_bytes"] == NEW_END
    assert me["formatted_bytes"] == 1 << 30
    assert me["cut_bytes"] >= (1 << 30) - NEW_END - MiB
    assert me["shrunk_at"] and me["last_at"]
    assert me["last_offset"] >= NEW_END
    # The master's log says so once (then at most once a minute).
    said = re.findall(r"Agent mnt0 met \d+ fault\(s\) in pool memory in all, "
                      r"the last at pool offset (\d+)", m.stderr())
    assert len(said) == 1 and int(said[0]) >= NEW_END, m.stderr()
    metrics = api.get("/metrics", expect=200).text
    assert re.search(r'^famfsd_agent_media_errors_total\{agent="mnt0"\} [1-9]',
                     metrics, re.M), metrics
    assert re.search(r"^famfsd_pool_device_bytes %d$" % NEW_END, metrics, re.M)
    assert re.search(r"^famfsd_pool_cut_bytes [1-9]", metrics, re.M)

    # The offline tools: a clear error, no crash.
    for cmd in (["fsck", pool], ["logdump", pool], ["info", pool]):
        p = famfsctl(*cmd)
        assert p.returncode > 0, (cmd, p.returncode, p.stdout, p.stderr)
        assert "pool is larger than the device (truncated image?)" in \
            p.stdout + p.stderr, (cmd, p.stdout, p.stderr)
    assert m.running()
    api.get("/v1/files/low", expect=200)


def test_truncated_below_the_log(tmp_path, master_factory, agent_factory):
    """The pool file cut to 1 MiB: the log and the data are gone. Neither
    daemon dies: the master answers (a create is refused, naming the
    device's size; the log's faults are damage it reports), the agent keeps
    its mount with the tree it had and answers EIO for the data."""
    _, start_agent = agent_factory
    pool = make_pool(tmp_path / "pool.img", size="256M", alloc_unit="4K",
                     log_size="4M")
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client()
    a = start_agent(m)
    api.put("/v1/files/x", json={"size": 4096}, expect=201)
    x = os.path.join(a.mount, "x")
    wait_until("x on the mount", lambda: os.path.exists(x))
    os.truncate(pool, MiB)
    time.sleep(1.5)
    r = api.put("/v1/files/y", json={"size": 4096}, validate=False)
    assert r.status_code == 507 and "shrank to %d bytes" % MiB in r.text, r.text
    body = api.get("/v1/pool", expect=200).json()
    assert body["media_errors"]["device_bytes"] == MiB
    wait_until("the log's faults reported as damage",
               lambda: any("memory error" in e["reason"] for e in
                           api.get("/v1/pool", expect=200).json()["damage"]["last"]))
    assert os.listdir(a.mount) == ["x"]
    with pytest.raises(OSError) as e:
        with open(x, "rb") as f:
            f.read()
    assert e.value.errno == errno.EIO
    assert a.proc.poll() is None and m.running()
    assert "every tail slot is corrupt" in read_log(a.log)
