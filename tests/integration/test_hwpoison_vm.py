"""Poisoned pool memory under a running master and FUSE agent (issue 13,
point 3), in a QEMU guest (tests/integration/vm/) whose Debian kernel has
CONFIG_MEMORY_FAILURE: madvise(MADV_HWPOISON) marks a page of the pool file
(on the guest's tmpfs) as an uncorrectable memory error, as a poisoned
line of CXL memory would be; every later access to it raises SIGBUS
(BUS_MCEERR_AR) in the process that touches it.

- a page of one file's data: reads of that file through the mount answer
  EIO and the agent's log names the pool offset; the other files read
  right; the agent keeps serving; the master's GET /v1/pool counts the
  agent's fault;
- a page of copy 0 of the log, where the next records go: the master's
  append writes copy 1 (copy 0 reported as damage, "memory error"), the
  agent reads the new records from copy 1 and shows the new file;
- famfsctl fsck names the damaged copies, logdump reads through them;
- the guest's kernel log has no WARNING, BUG or oops.
"""

import os
import re
import sys
import time

import pytest
import requests

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, FAMFSCTL, FAMFSD, SPEC,
                      ApiClient, free_port, read_log, require, write_tokens)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
import vm  # noqa: E402

MiB = 1 << 20
PAGE = 4096
POOL = "/tmp/pool.img"          # the guest's tmpfs
MNT = "/tmp/mnt"
FILE_SIZE = 64 << 10

# madvise(MADV_HWPOISON) of the page at a pool offset, through a mapping of
# the pool file of this process's own (the page cache page is shared).
POISON = """python3 - {off} <<'EOF'
import mmap, os, sys
fd = os.open("{pool}", os.O_RDWR)
m = mmap.mmap(fd, 0)
off = int(sys.argv[1]) & ~4095
m.madvise(mmap.MADV_HWPOISON, off, 4096)
print("poisoned", off)
EOF"""

# Fills a file of the mount with a pattern of its own (no O_TRUNC: sizes
# are fixed), or checks it; exit 5 on EIO.
PATTERN = """python3 - {name} {mode} <<'EOF'
import errno, sys
name, mode = sys.argv[1], sys.argv[2]
data = (name.encode() * {size})[:{size}]
path = "{mnt}/" + name
try:
    if mode == "write":
        with open(path, "r+b", buffering=0) as f:
            f.write(data)
    else:
        with open(path, "rb") as f:
            got = f.read()
        sys.exit(0 if got == data else 4)
except OSError as e:
    print(e)
    sys.exit(5 if e.errno == errno.EIO else 6)
EOF"""

D = CTL = FAMFSD


def missing():
    out = vm.missing()
    ver = vm.kernel()
    if ver:
        cfg = f"/boot/config-{ver[0]}"
        try:
            text = open(cfg).read()
        except OSError:
            text = ""
        if "CONFIG_MEMORY_FAILURE=y" not in text:
            out.append(f"CONFIG_MEMORY_FAILURE=y in {cfg}")
    return out


class Node:
    def __init__(self, work):
        self.port = free_port()
        dummy = os.path.join(work, "nvdimm")
        with open(dummy, "w") as f:
            f.truncate(64 * MiB)        # unused: the pool is on tmpfs
        self.g = vm.Guest("hw1", work, dummy, 64 * MiB,
                          hostfwd=[(self.port, 7470)])
        self.api = ApiClient(f"http://127.0.0.1:{self.port}", ADMIN_TOKEN)

    def log(self, name):
        return read_log(os.path.join(self.g.xchg, name))

    def sh(self, script, timeout=60):
        return self.g.run(script, timeout)

    def pattern(self, name, mode):
        return self.sh(PATTERN.format(name=name, mode=mode, size=FILE_SIZE,
                                      mnt=MNT)).rc

    def poison(self, off):
        self.g.check(POISON.format(off=off, pool=POOL))

    def wait(self, what, fn, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}\n--- agent\n"
                            f"{self.log('agent.log')}\n--- master\n"
                            f"{self.log('master.log')}")
            time.sleep(0.2)

    def start(self, ver):
        self.g.start(ver)
        self.g.wait_ready()
        write_tokens(os.path.join(self.g.xchg, "tokens"))
        with open(os.path.join(self.g.xchg, "agent.token"), "w") as f:
            f.write(AGENT_TOKEN + "\n")
        self.g.check(f"{CTL} mkfs {POOL} --create 128M --alloc-unit 4K "
                     "--log-size 4M >/dev/null")
        self.g.check(f"cd /tmp && nohup {D} master --pool {POOL} --listen "
                     "0.0.0.0:7470 --tokens /tmp/x/tokens --reclaim-grace-ms 0 "
                     "> /tmp/x/master.log 2>&1 &")

        def healthy():
            try:
                return requests.get(self.api.base + "/healthz",
                                    timeout=2).status_code == 200
            except requests.RequestException:
                return False
        self.wait("the master", healthy, 60)
        self.g.check(f"modprobe fuse && mkdir -p {MNT} && cd /tmp && nohup {D} "
                     f"agent --pool {POOL} --mount {MNT} --master "
                     "http://127.0.0.1:7470 --token-file /tmp/x/agent.token "
                     "--agent-id hw1 --poll-ms 20 > /tmp/x/agent.log 2>&1 & "
                     "echo $! > /tmp/agent.pid")
        self.wait("the agent's mount",
                  lambda: f"mounted at {MNT}" in self.log("agent.log"), 60)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    miss = missing()
    require(not miss, "the hwpoison VM test needs " + "; ".join(miss))
    global D, CTL
    ver, _, _ = vm.build()      # vm.Snapshot copies the module and kmodtool
    snap = vm.Snapshot(FAMFSD, FAMFSCTL)
    D, CTL = snap.famfsd, snap.famfsctl
    n = Node(str(tmp_path_factory.mktemp("hwpoison")))
    try:
        n.start(ver)
        yield n
    finally:
        n.g.stop()
        snap.close()


def agent_alive(n):
    return n.sh(f"kill -0 $(cat /tmp/agent.pid) && mountpoint -q {MNT} && "
                f"ls {MNT} >/dev/null").rc == 0


def test_poisoned_file_page_and_log_line(node):
    n = node
    exts = {}
    for name in ("a", "b", "c"):
        body = n.api.put(f"/v1/files/{name}", json={"size": FILE_SIZE},
                         expect=201).json()
        exts[name] = body["extents"][0]["offset"]
    n.wait("the files on the mount",
           lambda: n.sh(f"test -e {MNT}/c").rc == 0)
    for name in ("a", "b", "c"):
        assert n.pattern(name, "write") == 0
        assert n.pattern(name, "read") == 0

    # A page of b's data: EIO for b, with the offset in the agent's log.
    bad = exts["b"] + PAGE
    n.poison(bad)
    assert n.pattern("b", "read") == 5
    assert n.pattern("b", "read") == 5
    assert n.pattern("a", "read") == 0 and n.pattern("c", "read") == 0
    assert agent_alive(n), n.log("agent.log")
    text = n.log("agent.log")
    m = re.search(r"Failed to read inode \d+ at pool offset (\d+) \(file offset "
                  r"(\d+)\): uncorrectable memory error \(poisoned\)", text)
    assert m, text
    assert int(m.group(1)) == bad and int(m.group(2)) == PAGE, text

    def counted():
        me = n.api.get("/v1/pool", expect=200).json()["media_errors"]
        return me if me["count"] >= 1 else None
    me = n.wait("the agent's fault in GET /v1/pool", counted)
    SPEC.validate_component(me, "MediaErrors")
    assert me["last_offset"] == bad and me["master_count"] == 0, me

    # Copy 0 of the log where the next records go: they are written to and
    # read from copy 1, copy 0 reported as damage.
    info = n.api.get("/v1/pool", expect=200).json()
    log_offset = int(re.search(r'"log_offset":\s*(\d+)', n.g.check(
        f"{CTL} --json info {POOL}")).group(1))
    n.poison(log_offset + 4096 + info["log_used_bytes"])
    for i in range(3):
        n.api.put(f"/v1/files/after{i}", json={"size": FILE_SIZE}, expect=201)
    n.wait("the new files on the mount",
           lambda: n.sh(f"test -e {MNT}/after2").rc == 0)
    assert n.pattern("after2", "write") == 0
    assert n.pattern("after2", "read") == 0
    assert n.pattern("a", "read") == 0

    def damage():
        d = n.api.get("/v1/pool", expect=200).json()["damage"]
        hits = [e for e in d["last"] if e["copy"] == 0 and
                "memory error" in e["reason"]]
        return hits or None
    hits = n.wait("the poisoned log copy reported", damage)
    assert all(not e["both"] for e in hits), hits
    me = n.api.get("/v1/pool", expect=200).json()["media_errors"]
    assert me["master_count"] >= 1, me
    assert agent_alive(n), n.log("agent.log")
    n.api.get("/healthz", expect=200)

    # Offline readers of the poisoned pool (read-only beside the master):
    # fsck names the damaged copies (exit 4), logdump reads every record
    # from the other copy; neither dies of the signal.
    r = n.sh(f"{CTL} fsck {POOL}")
    assert r.rc == 4, r
    assert "memory error" in r.out + r.err, r
    r = n.sh(f"{CTL} --json logdump {POOL}")
    assert r.rc == 0, r
    assert '"after2"' in r.out, r
    problems = n.g.kernel_problems()
    assert not problems, problems
