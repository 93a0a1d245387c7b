#!/usr/bin/python3
"""Compaction benchmark, each figure beside a baseline of the same run.

A pool whose log holds a live state of 1,000,000 files (mkfs --log-size
1G on a sparse 64 GiB file, 4 KiB units; the files are created through
the API by bench/api-load over 16 connections), then:

1. POST /v1/pool/compact: its duration_ms and the wall time of the call.
   Target < 1 s. Baseline: the time the same master took to create the
   1,000,000 files (what a compaction saves a reader from replaying).
2. p99 create latency while the compaction runs: api-load creates over 8
   connections for a few seconds, the compaction starts a second in, and
   the requests whose time in flight overlapped the call are taken apart
   (api-load --samples: start and latency of every reply on
   CLOCK_MONOTONIC, Python's time.monotonic_ns). Target < 5 ms. Baseline:
   p99 of the requests of the same load that finished before the call.
3. With root and /dev/fuse, an agent's switch: a FUSE agent that replayed
   the 1,000,000 files; the moment the compaction answered (the switch is
   done then), a file is created and timed until it shows in the agent's
   mount (it can only show once the agent follows the new generation),
   with the load still running. Target < 1 s. Baseline: the same
   create-to-visible time before the compaction.

    bench/compact_bench.py [FILES]        (default 1000000)

FAMFSD_BENCH_FILES also sets FILES (a smoke run: 20000). Exits 1 when the
master has no compaction (the call answered anything but 200), a load
saw 5xx, or fsck finds the image unclean; a target not reached is
printed MISSED. BUILD=build/san runs the sanitizer build (slower, not for
the targets).
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests
from benchlib import pct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
FAMFSD = os.path.join(BUILD, "famfsd")
FAMFSCTL = os.path.join(BUILD, "famfsctl")
LOAD = os.path.join(BUILD, "bench", "api-load")
FILES = int(sys.argv[1] if len(sys.argv) > 1 else
            os.environ.get("FAMFSD_BENCH_FILES", "1000000"))
LOAD_SECONDS = 4.0         # the latency load; the compaction starts 1 s in


def run(*argv, timeout=600):
    p = subprocess.run([*map(str, argv)], capture_output=True, text=True,
                       timeout=timeout)
    if p.returncode:
        raise SystemExit(f"compact_bench: {argv} failed:\n{p.stdout}{p.stderr}")
    return p.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def result(line):
    """The fields of api-load's RESULT line."""
    fields = dict(kv.split("=", 1) for kv in line.split()[1:])
    return {k: float(v) for k, v in fields.items()}


class Bench:
    """The master (and agent) of one run; stopped at exit, mounts dropped."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.pool = os.path.join(tmp, "pool.img")
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.addr = f"127.0.0.1:{self.port}"
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {self.token}"
        self.procs = []
        self.mnt = None

    def spawn(self, name, argv):
        err = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
        self.procs.append(p)
        return p

    def log(self, name):
        with open(os.path.join(self.tmp, name + ".log")) as f:
            return f.read()

    def start_master(self):
        tokens = os.path.join(self.tmp, "tokens")
        with open(tokens, "w") as f:
            f.write(f"{self.token} admin\n{self.token}-agent agent\n")
        os.chmod(tokens, 0o600)
        run(FAMFSCTL, "mkfs", self.pool, "--create", "64G", "--alloc-unit", "4K",
            "--log-size", "1G")
        self.master = self.spawn("master", [
            FAMFSD, "master", "--pool", self.pool, "--listen", self.addr,
            "--tokens", tokens, "--reclaim-grace-ms", "0"])
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.s.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.master.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("compact_bench: master did not start:\n"
                                 + self.log("master"))
            time.sleep(0.05)
        for d in ("fill", "lat", "lat1", "mark"):
            self.s.put(self.url + f"/v1/dirs/{d}", json={}).raise_for_status()

    def start_agent(self):
        """A FUSE agent that has replayed the whole pool, or None."""
        if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
            return None
        token_file = os.path.join(self.tmp, "agent.token")
        with open(token_file, "w") as f:
            f.write(f"{self.token}-agent\n")
        os.chmod(token_file, 0o600)
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.mnt)
        self.agent = self.spawn("agent", [
            FAMFSD, "agent", "--pool", self.pool, "--mount", self.mnt,
            "--agent-id", "bench", "--master", self.url, "--token-file",
            token_file])
        t = time.monotonic()
        self.visible("mark/ready", 120, self.agent)
        return time.monotonic() - t

    def visible(self, rel, timeout, proc=None):
        """Creates rel and returns the seconds until the mount shows it."""
        t = time.monotonic()
        self.s.put(self.url + "/v1/files/" + rel, json={"size": 4096}).raise_for_status()
        while not os.path.exists(os.path.join(self.mnt, rel)):
            if time.monotonic() - t > timeout or (proc and proc.poll() is not None):
                raise SystemExit(f"compact_bench: {rel} not visible in the agent's "
                                 f"mount after {timeout} s:\n" + self.log("agent"))
            time.sleep(0.0005)
        return time.monotonic() - t

    def load(self, label, *args):
        p = subprocess.run([LOAD, "--addr", self.addr, "--token", self.token,
                            "--label", label, *map(str, args)],
                           capture_output=True, text=True, timeout=3600)
        if not p.stdout.startswith("RESULT"):
            raise SystemExit(f"compact_bench: api-load failed:\n{p.stderr}")
        return result(p.stdout), p.stderr

    def compact_idle(self):
        """The compaction with nothing else running: (reply, wall s)."""
        t0 = time.monotonic()
        r = self.s.post(self.url + "/v1/pool/compact", timeout=600)
        r.raise_for_status()
        return r.json(), time.monotonic() - t0

    def compact_under_load(self, then=None, connections=8, tag="lat"):
        """The compaction with creates running: (reply, status, wall s,
        overlapping latencies, earlier latencies, load result, what then()
        returned). then() runs as soon as the call answered 200, while the
        load goes on."""
        samples = os.path.join(self.tmp, "samples.txt")
        load = subprocess.Popen(
            [LOAD, "--addr", self.addr, "--token", self.token, "--seconds",
             str(LOAD_SECONDS), "--connections", str(connections), "--method", "PUT",
             "--path", f"/v1/files/{tag}/f%n", "--body", '{"size":4096}',
             "--expect", "201", "--label", "creates", "--samples", samples],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        t0 = time.monotonic_ns()
        r = self.s.post(self.url + "/v1/pool/compact", timeout=600)
        t1 = time.monotonic_ns()
        after = then() if then and r.status_code == 200 else None
        out, err = load.communicate(timeout=600)
        if not out.startswith("RESULT"):
            raise SystemExit(f"compact_bench: api-load failed:\n{err}")
        during, before = [], []
        with open(samples) as f:
            for line in f:
                start, lat, _ = map(int, line.split())
                if start < t1 and start + lat > t0:
                    during.append(lat / 1e6)
                elif start + lat <= t0:
                    before.append(lat / 1e6)
        body = r.json() if r.headers.get("Content-Type", "").startswith(
            "application/json") else {}
        return (body, r.status_code, (t1 - t0) / 1e9, during, before, result(out),
                after)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
        if self.mnt and os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)


def main():
    for b in (FAMFSD, FAMFSCTL, LOAD):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"compact_bench: {b} missing (run make)")
    with tempfile.TemporaryDirectory(prefix="famfsd-compact-bench.") as tmp:
        b = Bench(tmp)
        try:
            return bench(b)
        finally:
            b.close()


def bench(b):
    b.start_master()
    fill, _ = b.load("creates", "--requests", FILES, "--connections", 16,
                     "--method", "PUT", "--path", "/v1/files/fill/f%n",
                     "--body", '{"size":4096}', "--expect", 201)
    catch_up = b.start_agent()
    before_vis = b.visible("mark/before", 30) if catch_up is not None else None
    body, status, wall, during, before, load, after_vis = b.compact_under_load(
        (lambda: b.visible("mark/after", 60)) if catch_up is not None else None)
    # Steady state: the areas touched once already (a file-backed pool pays
    # for its first touch of each page, a dax device does not), and the
    # compaction's private state kept from the first.
    idle = b.compact_idle() if status == 200 else None
    one = b.compact_under_load(connections=1, tag="lat1") if status == 200 else None
    pool = b.s.get(b.url + "/v1/pool").json()
    b.close()
    fsck = subprocess.run([FAMFSCTL, "fsck", b.pool], capture_output=True,
                          text=True, timeout=600)

    ok = True
    print(f"compaction bench: {FILES} live files (4 KiB, one directory), "
          f"1 GiB log, {os.cpu_count()} cores")
    print(f"  baseline: {FILES} creates over 16 connections: {fill['seconds']:.2f} s "
          f"({fill['rate']:.0f} creates/s)")
    if status == 200:
        dur = body.get("duration_ms", float("nan"))
        print(f"  POST /v1/pool/compact, 8 clients creating flat out (first into "
              f"fresh areas): duration_ms {dur:.1f}  wall {wall:.3f} s  "
              f"generation {body.get('generation')}  checkpoint "
              f"{body.get('checkpoint_bytes', 0) / 2**20:.1f} MiB, "
              f"{body.get('checkpoint_items')} items  target < 1 s: "
              f"{'met' if wall < 1 else 'MISSED'}")
    else:
        ok = False
        print(f"  POST /v1/pool/compact         : answered {status} after "
              f"{wall:.3f} s: no compaction in this build")
    if idle:
        ib, iw = idle
        print(f"  again, nothing else running   : duration_ms {ib['duration_ms']:.1f}  "
              f"wall {iw:.3f} s  target < 1 s: {'met' if iw < 1 else 'MISSED'}")
    if one:
        ob, _, ow, od, obf, ol, _ = one
        print(f"  again, one client creating    : duration_ms {ob.get('duration_ms', float('nan')):.1f}  "
              f"wall {ow:.3f} s  target < 1 s: {'met' if ow < 1 else 'MISSED'}; "
              f"its creates' p99 during it {pct(od, 99):.3f} ms over {len(od)} "
              f"(before: {pct(obf, 99):.3f} ms)  target < 5 ms: "
              f"{'met' if pct(od, 99) < 5 else 'MISSED'}")
        if ol["http5xx"] or ol["errors"]:
            ok = False
            print(f"  the one-client load saw {ol['http5xx']:.0f} 5xx")
    p99, p99b = pct(during, 99), pct(before, 99)
    if status == 200:
        print(f"  create p99 during the call    : {p99:.3f} ms over {len(during)} "
              f"requests (max {max(during, default=float('nan')):.3f} ms)  "
              f"target < 5 ms: {'met' if p99 < 5 else 'MISSED'}")
    else:
        print("  create p99 during the call    : not measured (no compaction)")
    print(f"  create p99 before it (baseline): {p99b:.3f} ms over {len(before)} requests")
    if catch_up is None:
        print("  agent switch                  : not measured (needs root and /dev/fuse)")
    else:
        print(f"  agent: cold replay of {FILES} files {catch_up:.2f} s; create-to-visible "
              f"{before_vis * 1e3:.1f} ms before the compaction (baseline)")
        if after_vis is not None:
            print(f"  agent switch (create after the compaction to visible): "
                  f"{after_vis * 1e3:.1f} ms  target < 1 s: "
                  f"{'met' if after_vis < 1 else 'MISSED'}")
    if load["http5xx"] or load["errors"]:
        ok = False
        print(f"  the latency load saw {load['http5xx']:.0f} 5xx and "
              f"{load['errors']:.0f} replies other than 201")
    if pool.get("files", 0) < FILES:
        ok = False
        print(f"  the pool holds {pool.get('files')} files, not {FILES}+")
    if fsck.returncode != 0:
        ok = False
        print(f"  fsck is not clean (exit {fsck.returncode}):\n{fsck.stdout}{fsck.stderr}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
