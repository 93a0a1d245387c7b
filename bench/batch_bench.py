#!/usr/bin/python3
"""Batch benchmark (issue 16), each figure beside its target and a baseline
from the same run. Two hosts (network namespaces, tests/integration/
multihost.py): the master on host 1, an agent with its FUSE mount on host 2
(in its own mount namespace, following the master's change feed, as a
compute node does). The client runs on host 1, as a scheduler beside the
master would.

1. Reply time of one POST /v1/batch of 10,000 creates (a directory and its
   files, 4 KiB each), from sending the body to the last byte of the reply,
   over several runs (each in a new directory, deleted again by a batch of
   deletes): p50 and p99. Target < 50 ms on 2 cores. Baseline: 10,000
   single PUT /v1/files through one keep-alive connection (api-load), its
   total time and the rate per file. Also shown: the batch of deletes that
   cleans each run up, and `famfsctl batch` end to end (its process, the
   file read and checked, the call, the summary). Nothing polls host 2's
   mount during these runs: on 2 CPUs the poller of item 2 and the FUSE
   lookups it causes take a share of them (their replies are shown too).
2. Visibility: time from the batch's reply until the last file of the
   batch is visible (stat succeeds) in host 2's mount, in as many more
   runs; negative when the mount showed it before the client had read the
   whole reply (the master publishes, then writes the reply). Target
   < 20 ms. Baseline: the same for single creates (each PUT's reply until
   its file is visible there). Also shown: `famfsctl batch --wait-agents`,
   which waits for the agent's position as its heartbeats report it.

At the end: every reply said "created" for every operation, and host 2's
mount listed every file of the first run.

Sizes: FAMFSD_BATCH_FILES (10000), FAMFSD_BATCH_RUNS (7),
FAMFSD_BATCH_SINGLES (200, the visibility baseline's creates); a quick run:
FAMFSD_BATCH_FILES=1000 FAMFSD_BATCH_RUNS=3 FAMFSD_BATCH_SINGLES=50.

Needs root, network namespaces and /dev/fuse; prints why and exits 0
otherwise. Usage: bench/batch_bench.py
"""

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from conftest import ADMIN_TOKEN, BUILD, FAMFSCTL, make_pool  # noqa: E402
from multihost import Agent, Cluster, NsMaster  # noqa: E402
from benchlib import lacking, met, pct  # noqa: E402

LOAD = os.path.join(BUILD, "bench", "api-load")
FILE_SIZE = 4096

# Runs in host 2's mount namespace: for each line "PATH" on stdin, says
# "ready", polls until PATH exists and prints CLOCK_MONOTONIC (ns) of the
# stat that found it. Polls gently (0.2 ms): on 2 CPUs a spinning poller
# would compete with the agent it is timing.
POLL_PY = r"""
import os, sys, time
for line in sys.stdin:
    path = line.strip()
    print("ready", flush=True)
    deadline = time.monotonic() + 10
    while True:
        try:
            os.stat(path)
            print(time.monotonic_ns(), flush=True)
            break
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            print("timeout", flush=True)
            break
        time.sleep(0.0002)
"""


class Client:
    """One keep-alive HTTP connection from host 1's network namespace."""

    def __init__(self, host, port):
        self.host = host
        self.conn = host.call(http.client.HTTPConnection, host.addr, port,
                              timeout=60)
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}",
                        "Content-Type": "application/json"}

    def _send(self, method, path, body):
        t0 = time.monotonic_ns()
        self.conn.request(method, path, body=body, headers=self.headers)
        r = self.conn.getresponse()
        data = r.read()
        t1 = time.monotonic_ns()
        return r.status, data, t0, t1

    def call(self, method, path, body=None):
        """(status, reply bytes, send ns, reply ns) on CLOCK_MONOTONIC."""
        return self.host.call(self._send, method, path, body)

    def close(self):
        self.host.call(self.conn.close)


def batch_body(ops):
    return json.dumps({"ops": ops}, separators=(",", ":")).encode()


def creates(d, n):
    return [{"op": "mkdir", "path": d}] + [
        {"op": "create", "path": f"{d}/f{i:05d}", "size": FILE_SIZE}
        for i in range(n)]


def deletes(d, n):
    return [{"op": "delete", "path": f"{d}/f{i:05d}"} for i in range(n)] + [
        {"op": "delete", "path": d}]


def expect_batch(status, data, want, n):
    if status != 200:
        raise SystemExit(f"batch bench: POST /v1/batch answered {status}: "
                         f"{data[:500]!r}")
    reply = json.loads(data)
    statuses = {r["status"] for r in reply["results"]}
    if len(reply["results"]) != n or statuses != {want}:
        raise SystemExit(f"batch bench: {len(reply['results'])} results of "
                         f"{n}, statuses {statuses}, not all {want}")
    return reply


class Poller:
    """POLL_PY in the agent's mount namespace."""

    def __init__(self, agent):
        self.p = agent.popen_py(POLL_PY)

    def arm(self, path):
        self.p.stdin.write(path + "\n")
        self.p.stdin.flush()
        if self.p.stdout.readline().strip() != "ready":
            raise SystemExit("batch bench: the poller died: " + self.p.stderr.read())

    def seen(self, path):
        line = self.p.stdout.readline().strip()
        if not line.isdigit():
            raise SystemExit(f"batch bench: {path} not visible on host 2 "
                             f"within 10 s ({line!r})")
        return int(line)

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def bench_batches(client, agent, poller, n, runs, first):
    """[(reply ms, visible ms after the reply or None, delete batch ms)].
    With a poller, each run also times the last file's showing on host 2;
    without, nothing polls host 2's mount while the master works (on 2
    CPUs the poller and the FUSE lookups it causes take a share of them)."""
    out = []
    for r in range(first, first + runs):
        d = f"b{r}"
        body = batch_body(creates(d, n))
        last = agent.path(f"{d}/f{n - 1:05d}")
        if poller:
            poller.arm(last)
        status, data, t0, t1 = client.call("POST", "/v1/batch", body)
        seen = poller.seen(last) if poller else None
        expect_batch(status, data, "created", n + 1)
        if r == 0:
            agent.wait_paths([f"{d}/f{n - 1:05d}"])
            listed = int(agent.py("import os,sys; print(len(os.listdir(sys.argv[1])))",
                                  agent.path(d)).stdout)
            if listed != n:
                raise SystemExit(f"batch bench: host 2 lists {listed} files of {n}")
        status, data, d0, d1 = client.call("POST", "/v1/batch",
                                           batch_body(deletes(d, n)))
        expect_batch(status, data, "deleted", n + 1)
        vis = (seen - t1) / 1e6 if poller else None
        out.append(((t1 - t0) / 1e6, vis, (d1 - d0) / 1e6))
        print(f"  run {r + 1}: {n} creates in one batch, reply {out[-1][0]:.1f} ms"
              + (f", last visible on host 2 {vis:+.2f} ms after it" if poller
                 else "") + f"; {n} deletes {out[-1][2]:.1f} ms", flush=True)
    return out


def singles_rate(master, n):
    """api-load: n PUT /v1/files on one keep-alive connection."""
    client = Client(master.host, master.port)
    status, data, _, _ = client.call("PUT", "/v1/dirs/single", b"{}")
    client.close()
    if status != 201:
        raise SystemExit(f"batch bench: PUT /v1/dirs/single answered {status}")
    p = subprocess.run(master.host.argv([
        LOAD, "--addr", f"{master.host.addr}:{master.port}", "--requests",
        str(n), "--connections", "1", "--method", "PUT", "--path",
        "/v1/files/single/f%n", "--body", json.dumps({"size": FILE_SIZE}),
        "--token", ADMIN_TOKEN, "--expect", "201", "--label", "creates"]),
        capture_output=True, text=True, timeout=600)
    m = re.search(r"seconds=([0-9.]+) rate=([0-9.]+).*errors=(\d+)", p.stdout)
    if p.returncode != 0 or not m or int(m.group(3)):
        raise SystemExit(f"batch bench: api-load failed: {p.stdout}{p.stderr}")
    return float(m.group(1)) * 1e3, float(m.group(2))


def singles_visible(client, agent, poller, n):
    """ms from each single create's reply until host 2 shows its file."""
    status, _, _, _ = client.call("PUT", "/v1/dirs/vis", b"{}")
    if status != 201:
        raise SystemExit(f"batch bench: PUT /v1/dirs/vis answered {status}")
    body = json.dumps({"size": FILE_SIZE}).encode()
    out = []
    for i in range(n):
        path = agent.path(f"vis/f{i:05d}")
        poller.arm(path)
        status, data, _, t1 = client.call("PUT", f"/v1/files/vis/f{i:05d}", body)
        if status != 201:
            raise SystemExit(f"batch bench: PUT answered {status}: {data[:300]!r}")
        out.append((poller.seen(path) - t1) / 1e6)
    return out


def famfsctl_batch(master, work, n, extra=()):
    """Wall time (ms) of famfsctl batch on a body of n creates, on host 1."""
    path = os.path.join(work, f"ctl{len(extra)}.json")
    d = f"ctl{len(extra)}"
    with open(path, "wb") as f:
        f.write(batch_body(creates(d, n)))
    argv = master.host.argv([FAMFSCTL, "batch", path, "--url", master.url,
                             "--token", ADMIN_TOKEN, *extra])
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    took = (time.monotonic() - t0) * 1e3
    if p.returncode or f"{n + 1} operations at seq" not in p.stdout:
        raise SystemExit(f"batch bench: famfsctl batch exited {p.returncode}:\n"
                         f"{p.stdout}{p.stderr}")
    return took


def main():
    n = int(os.environ.get("FAMFSD_BATCH_FILES", "10000"))
    runs = int(os.environ.get("FAMFSD_BATCH_RUNS", "7"))
    singles = int(os.environ.get("FAMFSD_BATCH_SINGLES", "200"))
    if lacking("batch bench", (
        (os.geteuid() == 0, "root"),
        (os.path.exists("/dev/fuse"), "/dev/fuse"),
        (shutil.which("ip") is not None, "ip (iproute2)"),
        (os.path.exists(LOAD), LOAD))):
        return 0
    work = tempfile.mkdtemp(prefix="famfsd-batch-")
    cluster = Cluster(2)
    master = agent = poller = client = None
    try:
        # A log large enough that no compaction starts during the runs.
        pool = make_pool(os.path.join(work, "pool.img"), size="8G",
                         alloc_unit="4K", log_size="1G")
        master = NsMaster(cluster.hosts[0], pool, work,
                          args=["--reclaim-grace-ms", "0"])
        agent = Agent(cluster.hosts[1], pool, work, master_url=master.url).start()
        poller = Poller(agent)
        client = Client(master.host, master.port)
        print(f"batch bench: master on host 1, agent with a FUSE mount on host 2; "
              f"{n} creates a batch, {runs} runs, {os.cpu_count()} CPUs, load "
              f"average {os.getloadavg()[0]:.2f}", flush=True)
        res = bench_batches(client, agent, None, n, runs, 0)
        reply = [r[0] for r in res]
        dels = [r[2] for r in res]
        print("  the same, host 2's mount polled for the batch's last file "
              "(every 0.2 ms):", flush=True)
        res = bench_batches(client, agent, poller, n, runs, runs)
        vis = [r[1] for r in res]
        reply_polled = [r[0] for r in res]
        base_ms, base_rate = singles_rate(master, n)
        single_vis = singles_visible(client, agent, poller, singles)
        ctl_ms = famfsctl_batch(master, work, n)
        wait_ms = famfsctl_batch(master, work, n, ("--wait-agents", "10"))

        print(f"  one batch of {n} creates, reply: p50 {pct(reply, 50):.1f} ms  "
              f"p99 {pct(reply, 99):.1f} ms   target < 50 ms: "
              f"{met(pct(reply, 99), 50)}")
        print(f"  (the replies while host 2 was polled: p50 {pct(reply_polled, 50):.1f} ms  "
              f"p99 {pct(reply_polled, 99):.1f} ms)")
        print(f"  baseline: {n} single PUT /v1/files on one keep-alive "
              f"connection: {base_ms:.0f} ms ({base_rate:.0f} files/s; the batch: "
              f"{n / pct(reply, 50) * 1e3:.0f} files/s, "
              f"{base_ms / pct(reply, 50):.0f}x)")
        print(f"  the batch of {n} deletes after each run: p50 "
              f"{statistics.median(dels):.1f} ms  p99 {pct(dels, 99):.1f} ms")
        print(f"  famfsctl batch of {n} creates, end to end: {ctl_ms:.0f} ms")
        print(f"  last file of the batch visible on host 2 after the reply: p50 "
              f"{pct(vis, 50):.2f} ms  p99 {pct(vis, 99):.2f} ms   target < 20 ms: "
              f"{met(pct(vis, 99), 20)}")
        print(f"  baseline: a single create visible on host 2 after its reply "
              f"({singles} creates): p50 {pct(single_vis, 50):.2f} ms  "
              f"p99 {pct(single_vis, 99):.2f} ms")
        print(f"  famfsctl batch --wait-agents (until the agent's heartbeat "
              f"reports the seq, 50 ms after it applied records): {wait_ms:.0f} ms")
        print(f"  load average at the end: {os.getloadavg()[0]:.2f} (others' work "
              f"on the 2 CPUs moves these figures)")
        print(f"  checks: every reply \"created\" ({2 * runs} x {n + 1}) and "
              f"\"deleted\" for each operation, host 2 listed all {n} files of "
              f"run 1")
        return 0          # targets are reported, correctness is asserted
    finally:
        # Each closed even when one before it fails (an agent's log with an
        # error in it fails its close); the first failure is raised.
        failed = None
        for x in (client, poller, agent, master, cluster):
            try:
                if x:
                    x.close()
            except Exception as e:      # noqa: BLE001 (raised below)
                failed = failed or e
        subprocess.run(["rm", "-rf", work])
        if failed:
            raise failed


if __name__ == "__main__":
    sys.exit(main())
