#!/usr/bin/python3
"""Agent benchmark, each figure beside a baseline measured in the same run.

1. Create-to-visible: 1,000 creates through the master's API; each timed
   until the file shows in a second agent's mount (another "host": its
   own process, state and mount). Target p99 < 5 ms. Baseline: the API
   create round trip alone.
2. Cold catch-up: a fresh agent on a pool whose log holds 100,000 files,
   timed from its start to the last file showing in its mount. Target
   < 1 s. Baseline: `famfsctl fsck` replaying the same log (no mount).
3. Generation switch: an agent following a compaction of a pool with
   1,000,000 live files (the pool built offline by famfs-logtool, which
   appends, publishes and compacts through the library as the master
   does). Fast path: the agent is at or past the new checkpoint and only
   moves its reader; rebuild: the agent was stopped across two compactions
   and replays the new checkpoint into a new state, then resyncs its mount.
   Each as the agent measures it, from seeing the new generation named to
   done. Target < 1 s. Baseline: the same agent's initial replay of the
   same pool (start to mount).
4. FUSE bandwidth: sequential write then read of a 1 GiB file in 1 MiB
   blocks through the mount, as a ratio to memcpy on the pool mapping
   (same extents, same block size). Target >= 0.5. Run for the default
   page-cache mount and for --direct-io. Second baseline, plain FUSE: the
   same loop over the same pool bytes through fuse-window
   (bench/fuse_window.c), the thinnest FUSE server with the agent's
   settings (no log, no flush or invalidate), so what FUSE itself allows on
   this machine is printed in the same run.
5. The SIGBUS guards' cost: the --direct-io bandwidth of item 4 with the
   guards (lib/guard.h: a sigsetjmp per request around the pool accesses)
   and without (FAMFSD_GUARD=off), agents taking turns on one file.

Needs root and /dev/fuse (it mounts); prints why and exits 0 otherwise.
Usage: bench/agent_bench.py [--quick] [--only latency|catchup|switch|bandwidth|guard]
(BUILD=build/san runs the sanitizer build: slower, not for the targets)
"""

import ctypes
import json
import mmap
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests
from benchlib import lacking, pct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
FAMFSD = os.path.join(BUILD, "famfsd")
FAMFSCTL = os.path.join(BUILD, "famfsctl")
LOGTOOL = os.path.join(BUILD, "tools", "famfs-logtool")
FUSE_WINDOW = os.path.join(BUILD, "bench", "fuse-window")
READAHEAD_KB = 1024  # what the agent sets (AGENT_READAHEAD_KB)
MiB = 1 << 20
QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None


def run(*argv, timeout=300):
    p = subprocess.run([*map(str, argv)], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode:
        raise SystemExit(f"agent_bench: {argv} failed:\n{p.stdout}{p.stderr}")
    return p.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """Every process started here; stopped (and mounts dropped) at exit."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.mounts = []

    def spawn(self, name, argv, env=None):
        err = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err,
                             env={**os.environ, **(env or {})})
        self.procs.append(p)
        return p

    def agent(self, name, pool, extra=(), wait=True, env=None):
        mnt = os.path.join(self.tmp, name)
        os.makedirs(mnt, exist_ok=True)
        p = self.spawn(name, [FAMFSD, "agent", "--pool", pool, "--mount", mnt,
                              "--agent-id", name, *extra], env)
        self.mounts.append(mnt)
        if wait:
            deadline = time.monotonic() + 20
            while not os.path.ismount(mnt):
                if p.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"agent_bench: agent {name} did not mount:\n"
                                     + self.log(name))
                time.sleep(0.01)
        return p, mnt

    def log(self, name):
        with open(os.path.join(self.tmp, name + ".log")) as f:
            return f.read()

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)
        for m in self.mounts:
            if os.path.ismount(m):
                subprocess.run(["fusermount3", "-uz", m], capture_output=True)


def bench_create_to_visible(procs, tmp, n):
    pool = os.path.join(tmp, "lat.img")
    run(FAMFSCTL, "mkfs", pool, "--create", "4G", "--alloc-unit", "4K")
    token = secrets.token_hex(16)
    tokens = os.path.join(tmp, "tokens")
    with open(tokens, "w") as f:
        f.write(f"{token} admin\n")
    os.chmod(tokens, 0o600)
    token_file = os.path.join(tmp, "admin.token")
    with open(token_file, "w") as f:
        f.write(token + "\n")
    os.chmod(token_file, 0o600)
    url = f"http://127.0.0.1:{free_port()}"
    master = procs.spawn("master", [FAMFSD, "master", "--pool", pool, "--listen",
                                    url.split("//")[1], "--tokens", tokens])
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if s.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if master.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("agent_bench: master did not start:\n" + procs.log("master"))
        time.sleep(0.05)
    common = ["--master", url, "--token-file", token_file]
    procs.agent("host1", pool, common)
    _, mnt = procs.agent("host2", pool, common)
    s.put(url + "/v1/dirs/lat", json={})
    total, api, after = [], [], []
    for i in range(n):
        path = f"/lat/f{i:05d}"
        t0 = time.perf_counter()
        r = s.put(url + "/v1/files" + path, json={"size": 4096})
        t1 = time.perf_counter()
        assert r.status_code == 201, r.text
        while True:
            try:
                os.stat(mnt + path)
                break
            except FileNotFoundError:
                # Poll gently: on 2 CPUs a spinning poller would compete
                # with the agent it is timing.
                time.sleep(0.0002)
            if time.perf_counter() - t1 > 5:
                raise SystemExit(f"agent_bench: {path} not visible after 5 s")
        t2 = time.perf_counter()
        total.append((t2 - t0) * 1e3)
        api.append((t1 - t0) * 1e3)
        after.append((t2 - t1) * 1e3)
    return total, api, after


def bench_catch_up(procs, tmp, n):
    pool = os.path.join(tmp, "catchup.img")
    run(FAMFSCTL, "mkfs", pool, "--create", "4G", "--alloc-unit", "4K")
    run(LOGTOOL, pool, "fill", "c", n, 4096, 1000)
    t = time.perf_counter()
    run(FAMFSCTL, "fsck", pool)
    fsck_s = time.perf_counter() - t
    last = os.path.join(tmp, "fresh", "c", f"f{n - 1:07d}")
    t = time.perf_counter()
    p, mnt = procs.agent("fresh", pool, wait=False)
    while True:
        try:
            os.stat(last)
            break
        except OSError:
            time.sleep(0.0005)
        if p.poll() is not None or time.perf_counter() - t > 30:
            raise SystemExit("agent_bench: catch-up failed:\n" + procs.log("fresh"))
    catch_s = time.perf_counter() - t
    t = time.perf_counter()
    listed = len(os.listdir(os.path.join(mnt, "c")))
    list_s = time.perf_counter() - t
    assert listed == n, listed
    procs.stop(p)
    return catch_s, fsck_s, list_s


class Tool:
    """famfs-logtool serve on a pool: one command a line, "ok ..." back."""

    def __init__(self, pool):
        self.p = subprocess.Popen([LOGTOOL, pool, "serve"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)

    def __call__(self, *cmd):
        self.p.stdin.write(" ".join(map(str, cmd)) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line.startswith("ok"):
            raise SystemExit(f"agent_bench: logtool {cmd}: {line.strip()}")

    def close(self):
        self.p.stdin.close()
        self.p.wait(60)


def wait_log(procs, name, pattern, since, timeout=60):
    """The first match of pattern in the agent's log after offset since."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(pattern, procs.log(name)[since:])
        if m:
            return m
        time.sleep(0.005)
    raise SystemExit(f"agent_bench: no '{pattern}' in {name}'s log:\n"
                     + procs.log(name)[-3000:])


def wait_path(path, present=True, timeout=30):
    deadline = time.monotonic() + timeout
    while os.path.exists(path) != present:
        if time.monotonic() > deadline:
            raise SystemExit(f"agent_bench: {path} still "
                             f"{'missing' if present else 'there'}")
        time.sleep(0.001)


def bench_switch(procs, tmp, n, rounds):
    pool = os.path.join(tmp, "switch.img")
    # Four log areas, each holding the checkpoint of n files (~112 bytes
    # an item) and the records after it.
    run(FAMFSCTL, "mkfs", pool, "--create", "8G", "--alloc-unit", "4K",
        "--log-size", str(max(64, n * 600 // MiB + 64)) + "M")
    run(LOGTOOL, pool, "fill", "c", n, 4096, 1000, timeout=900)
    run(LOGTOOL, pool, "compact", timeout=900)
    name = "switch"
    p, mnt = procs.agent(name, pool, ["-v", "--poll-ms", "5"])
    initial = float(wait_log(procs, name, r"mounted at \S+ in ([0-9.]+) ms", 0)
                    .group(1))
    tool = Tool(pool)
    fast = []
    try:
        for i in range(rounds):
            tool("create", f"c/extra{i}", 4096)
            wait_path(os.path.join(mnt, "c", f"extra{i}"))
            since = len(procs.log(name))
            tool("compact", 1)
            m = wait_log(procs, name, r"followed log generation \d+ \(from \d+\)"
                         r": state kept at seq \d+, 1 record\(s\) after its "
                         r"checkpoint walked, in ([0-9.]+) ms", since)
            fast.append(float(m.group(1)))
        # Stopped across two compactions, the second into the areas of
        # the generation it follows: it must rebuild.
        since = len(procs.log(name))
        os.kill(p.pid, signal.SIGSTOP)
        try:
            tool("delete", "c/f0000000")
            tool("compact")
            tool("create", "c/after", 4096)
            tool("compact")
        finally:
            os.kill(p.pid, signal.SIGCONT)
        m = wait_log(procs, name, r"rebuilt the state from the checkpoint of log "
                     r"generation \d+ .*?, in ([0-9.]+) ms", since)
        rebuild = float(m.group(1))
        wait_path(os.path.join(mnt, "c", "after"))
        wait_path(os.path.join(mnt, "c", "f0000000"), present=False)
    finally:
        tool.close()
    procs.stop(p)
    return initial, fast, rebuild


def memcpy_baseline(pool, offset, size, block):
    """GB/s of memcpy between a 1 MiB buffer and the pool mapping."""
    fd = os.open(pool, os.O_RDWR)
    try:
        mm = mmap.mmap(fd, offset + size)
    finally:
        os.close(fd)
    holder = ctypes.c_char.from_buffer(mm)
    base = ctypes.addressof(holder) + offset
    buf = ctypes.create_string_buffer(block)
    best_r = best_w = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for off in range(0, size, block):
            ctypes.memmove(base + off, buf, block)
        best_w = max(best_w, size / (time.perf_counter() - t) / 1e9)
        t = time.perf_counter()
        for off in range(0, size, block):
            ctypes.memmove(buf, base + off, block)
        best_r = max(best_r, size / (time.perf_counter() - t) / 1e9)
    del holder
    mm.close()
    return best_w, best_r


def fuse_bandwidth(path, size, block):
    """Best of three GB/s for sequential write then read through the mount."""
    block_bytes = os.urandom(block)
    buf = bytearray(block_bytes)
    mv = memoryview(buf)
    best_r = best_w = 0.0
    for _ in range(3):
        fd = os.open(path, os.O_WRONLY)
        t = time.perf_counter()
        for off in range(0, size, block):
            os.pwritev(fd, [mv], off)
        best_w = max(best_w, size / (time.perf_counter() - t) / 1e9)
        os.close(fd)
        buf[:] = bytes(block)
        fd = os.open(path, os.O_RDONLY)
        t = time.perf_counter()
        for off in range(0, size, block):
            os.preadv(fd, [mv], off)
        best_r = max(best_r, size / (time.perf_counter() - t) / 1e9)
        os.close(fd)
        # Every block was written with these bytes: a fast wrong answer
        # must not count.
        if buf != block_bytes:
            raise SystemExit(f"agent_bench: {path} read back other bytes")
    return best_w, best_r


def set_readahead(mnt, kb):
    """The agent raises its mount's readahead; give fuse-window the same."""
    real = os.path.realpath(mnt)
    with open("/proc/self/mountinfo") as f:
        devs = [line.split()[2] for line in f if line.split()[4] == real]
    with open(f"/sys/class/bdi/{devs[-1]}/read_ahead_kb", "w") as f:
        f.write(f"{kb}\n")


def plain_fuse_bandwidth(procs, tmp, pool, offset, size, extra):
    """Plain FUSE: the same loop over the same bytes through fuse-window."""
    mnt = os.path.join(tmp, "window" + "".join(extra).replace("-", "_"))
    os.makedirs(mnt, exist_ok=True)
    p = procs.spawn("fuse-window", [FUSE_WINDOW, mnt, pool, str(offset),
                                    str(size), *extra])
    procs.mounts.append(mnt)
    deadline = time.monotonic() + 20
    while not os.path.ismount(mnt):
        if p.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("agent_bench: fuse-window did not mount:\n"
                             + procs.log("fuse-window"))
        time.sleep(0.01)
    set_readahead(mnt, READAHEAD_KB)
    w, r = fuse_bandwidth(os.path.join(mnt, "data"), size, MiB)
    procs.stop(p)
    return w, r


def bench_bandwidth(procs, tmp, size):
    pool = os.path.join(tmp, "bw.img")
    run(FAMFSCTL, "mkfs", pool, "--create", str(size + 256 * MiB))
    run(LOGTOOL, pool, "create", "big", size)
    # On a fresh pool the tool allocates one extent at the data area's start.
    offset = json.loads(run(FAMFSCTL, "--json", "info", pool))["data_offset"]
    # Touch the whole file once so neither side pays for sparse-file faults.
    memcpy_baseline(pool, offset, size, MiB)
    rows = []
    for label, extra in (("page cache", []), ("--direct-io", ["--direct-io"])):
        p, mnt = procs.agent("bw-" + label.strip("-").replace(" ", "-"), pool, extra)
        w, r = fuse_bandwidth(os.path.join(mnt, "big"), size, MiB)
        procs.stop(p)
        mw, mr = memcpy_baseline(pool, offset, size, MiB)
        nw, nr = plain_fuse_bandwidth(procs, tmp, pool, offset, size, extra)
        rows.append((label, w, r, mw, mr, nw, nr))
    return rows


def bench_guard(procs, tmp, size):
    """FUSE bandwidth with the SIGBUS guards (lib/guard.h) and without
    (FAMFSD_GUARD=off), the two agents taking turns on the same file."""
    pool = os.path.join(tmp, "guard.img")
    run(FAMFSCTL, "mkfs", pool, "--create", str(size + 256 * MiB))
    run(LOGTOOL, pool, "create", "big", size)
    offset = json.loads(run(FAMFSCTL, "--json", "info", pool))["data_offset"]
    memcpy_baseline(pool, offset, size, MiB)
    best = {}
    for rnd in range(2):
        for label, env in (("guarded", None), ("unguarded", {"FAMFSD_GUARD": "off"})):
            p, mnt = procs.agent(f"guard-{label}-{rnd}", pool, ["--direct-io"],
                                 env=env)
            w, r = fuse_bandwidth(os.path.join(mnt, "big"), size, MiB)
            procs.stop(p)
            bw, br = best.get(label, (0.0, 0.0))
            best[label] = (max(bw, w), max(br, r))
    return best


def guard(procs, tmp, size):
    best = bench_guard(procs, tmp, size)
    (gw, gr), (uw, ur) = best["guarded"], best["unguarded"]
    print(f"  FUSE --direct-io 1 MiB blocks, {size // MiB} MiB, with the SIGBUS "
          f"guards: write {gw:.2f} GB/s, read {gr:.2f} GB/s")
    print(f"    baseline, the same agent without them (FAMFSD_GUARD=off), turn "
          f"about: write {uw:.2f} GB/s, read {ur:.2f} GB/s; guarded/unguarded "
          f"{gw / uw:.2f} (write), {gr / ur:.2f} (read)")


def latency(procs, tmp, n_creates):
    total, api, after = bench_create_to_visible(procs, tmp, n_creates)
    print(f"  create-to-visible on another mount, {n_creates} creates: "
          f"p50 {pct(total, 50):.3f} ms, p99 {pct(total, 99):.3f} ms "
          f"(target p99 < 5 ms)")
    print(f"    baseline, API create round trip alone: p50 {pct(api, 50):.3f} ms, "
          f"p99 {pct(api, 99):.3f} ms; after the reply: p50 "
          f"{pct(after, 50):.3f} ms, p99 {pct(after, 99):.3f} ms")


def catch_up(procs, tmp, n_files):
    catch_s, fsck_s, list_s = bench_catch_up(procs, tmp, n_files)
    print(f"  cold catch-up of a {n_files:,}-file log into a fresh mount: "
          f"{catch_s:.3f} s to the last file (target < 1 s)")
    print(f"    baseline, famfsctl fsck replaying the same log: {fsck_s:.3f} s; "
          f"then listing all {n_files:,} through the mount: {list_s:.3f} s")


def switch(procs, tmp, n_files):
    initial, fast, rebuild = bench_switch(procs, tmp, n_files, 5)
    print(f"  generation switch with {n_files:,} live files: fast path (state "
          f"kept) {pct(fast, 50):.3f} ms median of {len(fast)}, max "
          f"{max(fast):.3f} ms; rebuild from the checkpoint {rebuild:.0f} ms "
          f"(target < 1 s)")
    print(f"    baseline, the same agent's initial replay of the same pool: "
          f"{initial:.0f} ms to the mount")


def bandwidth(procs, tmp, bw_size):
    for label, w, r, mw, mr, nw, nr in bench_bandwidth(procs, tmp, bw_size):
        print(f"  FUSE sequential 1 MiB blocks, {bw_size // MiB} MiB, {label}: "
              f"write {w:.2f} GB/s vs memcpy {mw:.2f} GB/s = {w / mw:.2f}, "
              f"read {r:.2f} GB/s vs memcpy {mr:.2f} GB/s = {r / mr:.2f} "
              f"(target >= 0.5)")
        print(f"    baseline, plain FUSE over the same bytes (fuse-window): write "
              f"{nw:.2f} GB/s = {nw / mw:.2f} of memcpy, read {nr:.2f} GB/s = "
              f"{nr / mr:.2f} of memcpy; the agent reaches {w / nw:.2f} (write) "
              f"and {r / nr:.2f} (read) of it")


def main():
    if lacking("agent_bench", (
        (os.geteuid() == 0, "root"),
        (os.path.exists("/dev/fuse"), "/dev/fuse"),
        (shutil.which("fusermount3"), "fusermount3"),
        (all(os.access(b, os.X_OK) for b in (FAMFSD, FAMFSCTL, LOGTOOL,
                                              FUSE_WINDOW)),
         f"the binaries in {BUILD} (run make)"))):
        return 0
    n_creates = 200 if QUICK else 1000
    n_files = 20000 if QUICK else 100000
    n_switch = 100000 if QUICK else 1000000
    bw_size = (256 if QUICK else 1024) * MiB
    tmp = tempfile.mkdtemp(prefix="famfsd-agent-bench.")
    procs = Procs(tmp)
    try:
        print(f"agent bench ({os.cpu_count()} CPUs, build {os.path.relpath(BUILD, ROOT)})")
        if ONLY in (None, "latency"):
            latency(procs, tmp, n_creates)
            procs.close()
            procs = Procs(tmp)
        if ONLY in (None, "catchup"):
            catch_up(procs, tmp, n_files)
            procs.close()
            procs = Procs(tmp)
        if ONLY in (None, "switch"):
            switch(procs, tmp, n_switch)
            procs.close()
            procs = Procs(tmp)
        if ONLY in (None, "bandwidth"):
            bandwidth(procs, tmp, bw_size)
            procs.close()
            procs = Procs(tmp)
        if ONLY in (None, "guard"):
            guard(procs, tmp, bw_size // 2)
    finally:
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
