#!/usr/bin/python3
"""Pool map benchmark (issue 17): the master's side of the web pool map with
1,000,000 files, each figure beside the issue's target.

A file-backed pool with a 4 KiB allocation unit; the files (4 KiB each, a
quarter untenanted, the rest spread over three tenants, 1,000 per
directory) are made with POST /v1/batch, 65,536 operations a request. Then:

1. The first GET /v1/pool/map after the last create: the snapshot's build
   (famfsd_pool_map_lock_seconds: the time under the state lock, and
   famfsd_pool_map_build_seconds: sorting and filling outside it) and the
   reply's time and size, for 65,536 and ~500,000 cells.
2. Cached replies (no change in between): p50 and max of several, for the
   same cell counts, and a tenant's view. Target for the page: < 1 s from
   fetch to drawn with 1M files, so a map reply well under 300 ms.
3. GET /v1/pool/units/{unit} of a cell of ~500,000 cells.
4. The baseline from the same run: GET /v1/pool (no snapshot) and the
   time of one batch of 65,536 creates.

Sizes: FAMFSD_MAP_FILES (1000000). Usage: bench/map_bench.py
"""

import os
import statistics
import sys
import tempfile
import time

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from conftest import Master, make_pool  # noqa: E402

FILES = int(os.environ.get("FAMFSD_MAP_FILES", "1000000"))
BATCH = 65536
TENANTS = ["", "tA", "tB", "tC"]


def create_files(api):
    """FILES files in directories of 1,000, BATCH operations a request."""
    ops, t_batch = [], []
    dirs = (FILES + 999) // 1000

    def flush():
        t0 = time.monotonic()
        r = api.post("/v1/batch", json={"ops": ops}, timeout=600,
                     validate=False)
        assert r.status_code == 200, r.text[:500]
        t_batch.append(time.monotonic() - t0)
        ops.clear()

    for d in range(dirs):
        ops.append({"op": "mkdir", "path": f"d{d}"})
        for i in range(min(1000, FILES - d * 1000)):
            op = {"op": "create", "path": f"d{d}/f{i}", "size": 4096}
            tenant = TENANTS[(d * 1000 + i) % 4]
            if tenant:
                op["tenant"] = tenant
            ops.append(op)
            if len(ops) == BATCH:
                flush()
    if ops:
        flush()
    return t_batch


def metric(master, name):
    text = requests.get(master.url + "/metrics", timeout=30, headers={
        "Authorization": f"Bearer {master.admin_token}"}).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def timed_get(api, path):
    t0 = time.monotonic()
    r = api.get(path, timeout=120, validate=False)
    dt = time.monotonic() - t0
    assert r.status_code == 200, r.text[:500]
    return dt, r


def ms(s):
    return f"{s * 1e3:8.1f} ms"


def main():
    work = tempfile.mkdtemp(prefix="famfsd-map-bench-")
    data = FILES * 4096
    size = (data + (3 << 30)) >> 30
    pool = make_pool(os.path.join(work, "pool.img"), size=f"{size}G",
                     alloc_unit="4K", log_size="2G")
    with Master(pool, work, args=["--reclaim-grace-ms", "0"]) as m:
        api = m.client("admin")
        t0 = time.monotonic()
        t_batch = create_files(api)
        print(f"created {FILES} files in {time.monotonic() - t0:.1f} s "
              f"({len(t_batch)} batches, the largest "
              f"{ms(max(t_batch))} each at most)")
        for cells in (65536, 500000):
            # A new state for each: a delete and a create change the seq.
            api.put(f"/v1/files/extra{cells}", json={"size": 4096},
                    expect=201, validate=False)
            dt, r = timed_get(api, f"/v1/pool/map?cells={cells}")
            doc = r.json()
            print(f"map cells={cells:7d} first (build): {ms(dt)}, "
                  f"{len(r.content) / 1024:.0f} KiB, {len(doc['runs']) // 2} "
                  f"runs; under the lock "
                  f"{ms(metric(m, 'famfsd_pool_map_lock_seconds'))}, sort "
                  f"and fill {ms(metric(m, 'famfsd_pool_map_build_seconds'))}")
            times = [timed_get(api, f"/v1/pool/map?cells={cells}")[0]
                     for _ in range(7)]
            print(f"map cells={cells:7d} cached: p50 "
                  f"{ms(statistics.median(times))}, max {ms(max(times))} "
                  f"(target: well under 300 ms)")
            tenant = m.client("tA")
            times = [timed_get(tenant, f"/v1/pool/map?cells={cells}")[0]
                     for _ in range(5)]
            print(f"map cells={cells:7d} tenant view cached: p50 "
                  f"{ms(statistics.median(times))}")
        builds = metric(m, "famfsd_pool_map_builds_total")
        cu = doc["cell_units"]
        times = [timed_get(api, f"/v1/pool/units/{(k * 7919 * cu) % doc['units']}"
                           f"?count={cu}")[0] for k in range(20)]
        print(f"units of one cell (cell_units={cu}): p50 "
              f"{ms(statistics.median(times))}, max {ms(max(times))}")
        assert metric(m, "famfsd_pool_map_builds_total") == builds, \
            "a units request without a change rebuilt the snapshot"
        times = [timed_get(api, "/v1/pool")[0] for _ in range(7)]
        print(f"baseline GET /v1/pool: p50 {ms(statistics.median(times))}; "
              f"a batch of {BATCH} creates: p50 "
              f"{ms(statistics.median(t_batch))}")
        print(f"snapshots built: {builds:.0f}")


if __name__ == "__main__":
    main()
