"""Crash safety of compaction (issue 12, point 3), with real daemons: a
master on a file-backed pool with a 1 MiB log (so a generation's body is
252 KiB and compactions come fast), creates and deletes through the API
from load threads that record every acknowledged change, and a FUSE agent
mounted throughout.

- For each step C1..C7 of the switch (master/compact.c) in turn, the
  master runs with FAMFSD_TEST_CRASH_AT=C<n>, which SIGKILLs it right
  after that step of the first compaction, and with
  FAMFSD_TEST_COMPACT_PAUSE_MS, so that C4 and C5 have the load's records
  to copy; the test asks for a compaction under load, waits for the
  kill, restarts the master (armed for the next step) and checks.
- Then kill -9 at random moments of compactions under load, round after
  round on one pool.

After every restart: the tree (listed through the API) is exactly what
the acknowledged changes imply (a request in flight at the kill may have
happened or not, and only those), `famfsctl fsck` is clean (it checks
that no extent is allocated twice), the bytes in use add up to the live
files, the generation is the old one for a kill before the superblock
switch (C1-C5) and the new one after it (C6-C7), and the agent's tree
converges to the master's. ROUNDS (FAMFSD_CRASH_ROUNDS, 20) sets the
random rounds."""

import json
import os
import random
import signal
import stat
import struct
import subprocess
import threading
import time

import pytest
import requests

from conftest import (BUILD, FAMFSD, LOG_HDR_SIZE, Master,
                      api_tree, famfsctl, format_h, format_struct, make_pool,
                      read_log, require, stop_local, assert_no_sanitizer_report)

STEPS = [f"C{n}" for n in range(1, 8)]
SWITCHED = {"C6", "C7"}         # after C6 the superblock names the new one
ROUNDS = int(os.environ.get("FAMFSD_CRASH_ROUNDS", "20"))
LOGTOOL = os.path.join(BUILD, "tools", "famfs-logtool")
LOG_AREAS = format_h(r"#define FAMFS_LOG_AREAS\s+(\d+)u")
UNIT = 4096
SIZES = (1, UNIT, 3 * UNIT + 5, 16 * UNIT)
# The grace after a start holds compaction back (C0) while agents may not
# have reported yet; the agent heartbeats every second, and the tests wait
# for its report before they ask for a compaction.
GRACE_S = 0.5
# With FAMFSD_TEST_COMPACT_PAUSE_MS a compaction sleeps this long after C3
# and after C4: the load's records are then sure to be copied there.
PAUSE_MS = 150
MASTER_ARGS = ["--reclaim-grace-ms", str(int(GRACE_S * 1000))]


def wait_for(what, fn, timeout=15, interval=0.02, state=None):
    """Polls fn until it returns something true; state() says, on a
    timeout, what things looked like."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}"
                        + (f": {state()}" if state else ""))
        time.sleep(interval)


# ---- the load ---------------------------------------------------------------

class Load:
    """Threads that create and delete files through the API, each in its
    own directory, and record what the master acknowledged. A thread stops
    at the first request that gets no answer (the master died): that one
    may or may not have happened. Any reply other than the expected
    success is an error."""

    def __init__(self, master, dirs, model, tag, keep=60):
        self.m = master
        self.tag = tag              # unique per Load: names never repeat
        self.dirs = dirs
        self.model = model          # path -> (ino, size): acknowledged
        self.keep = keep            # files per thread before deletes win
        self.rng = random.Random(tag)
        self.uncertain = {}         # path -> ("create", size) | ("delete", ino)
        self.errors = []
        self.acked = 0
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.threads = []

    def start(self):
        for d in self.dirs:
            t = threading.Thread(target=self.run, args=(d, self.rng.random()))
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(60)
            assert not t.is_alive(), "a load thread hangs"
        self.threads = []

    def mine(self, d):
        with self.lock:
            return [p for p in self.model if p.startswith(d + "/")]

    def run(self, d, seed):
        rng = random.Random(seed)
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {self.m.admin_token}"
        n = 0
        while not self.stop_ev.is_set():
            mine = self.mine(d)
            if mine and (len(mine) >= self.keep or rng.random() < 0.4):
                path = rng.choice(mine)
                if not self.delete(s, path):
                    return
            else:
                n += 1
                path = f"{d}/{self.tag}-{n}"
                if not self.create(s, path, rng.choice(SIZES)):
                    return

    def create(self, s, path, size):
        try:
            r = s.put(self.m.url + "/v1/files" + path, json={"size": size},
                      timeout=30)
        except requests.RequestException:
            with self.lock:
                self.uncertain[path] = ("create", size)
            return False
        with self.lock:
            if r.status_code != 201:
                self.errors.append(("PUT", path, r.status_code, r.text))
                return False
            self.model[path] = (r.json()["ino"], size)
            self.acked += 1
        return True

    def delete(self, s, path):
        with self.lock:
            ino = self.model[path][0]
        try:
            r = s.delete(self.m.url + "/v1/files" + path, timeout=30)
        except requests.RequestException:
            with self.lock:
                self.uncertain[path] = ("delete", ino)
                del self.model[path]
            return False
        with self.lock:
            if r.status_code != 200:
                self.errors.append(("DELETE", path, r.status_code, r.text))
                return False
            del self.model[path]
            self.acked += 1
        return True


def settle(tree, model, uncertain, fixed):
    """Checks the master's tree (master_tree()) against the acknowledged
    changes, then makes model what the tree says for the in-flight
    requests."""
    want = dict(fixed)
    for path, (ino, size) in model.items():
        want[path] = ["file", size, ino]
    got = tree
    for path, (op, v) in uncertain.items():
        if path not in got:
            continue
        if op == "create":       # it happened: with what was asked
            assert got[path][:2] == ["file", v], (path, got[path], v)
        else:                    # the delete did not happen
            assert got[path][2] == v, (path, got[path], v)
        want[path] = got[path]
        model[path] = (got[path][2], got[path][1])
    lost = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not lost and not extra, (f"acknowledged but missing: {lost[:5]}; "
                                    f"present but never made: {extra[:5]}")
    for path in want:
        assert got[path] == want[path], (path, got[path], want[path])
    uncertain.clear()


def check_pool(m, model):
    """The bytes in use are exactly the live files' (rounded to the unit;
    the bulk files take one unit each): nothing is held twice or leaked.
    Returns GET /v1/pool."""
    api = m.client()
    p = api.get("/v1/pool", expect=200).json()
    live = sum(-(-size // UNIT) * UNIT for _, size in model.values())
    bulk = p["files"] - len(model)
    assert p["used_bytes"] == live + bulk * UNIT, (p, live, bulk)
    assert p["used_bytes"] + p["free_bytes"] + p["pending_reclaim_bytes"] == \
        p["size_bytes"]
    return p


def fsck_clean(pool, after_kill=False):
    """fsck finds nothing. Right after a kill -9 one trace is legitimate: a
    tail slot of one copy torn by a publish the kill cut short (its fields
    half written, so its CRC fails); readers take another slot, and the
    restarted master repairs it, which the next fsck checks."""
    r = famfsctl("fsck", pool)
    if r.returncode == 0:
        return
    assert after_kill, (r.returncode, r.stdout, r.stderr)
    j = json.loads(famfsctl("--json", "fsck", pool).stdout)
    torn = [e for e in j["damage"] if e["part"] == "tail slot" and
            not e["both"] and e["reason"] == "CRC mismatch"]
    assert len(j["damage"]) == 1 and torn and "error_in" not in j and \
        not any(j["superblock_errors"]), (r.returncode, r.stdout, j)


# ---- the agent ------------------------------------------------------------

class Agent:
    """A FUSE agent following the master (feed and heartbeats), mounted
    for the whole test: it must ride out every kill and restart."""

    def __init__(self, master, workdir, name="mnt"):
        self.mount = os.path.join(str(workdir), name)
        os.makedirs(self.mount, exist_ok=True)
        token = os.path.join(str(workdir), f"{name}.token")
        with open(token, "w") as f:
            f.write(master.agent_token + "\n")
        os.chmod(token, 0o600)
        self.log = os.path.join(str(workdir), f"{name}.stderr")
        argv = [FAMFSD, "agent", "--pool", master.pool, "--mount", self.mount,
                "--poll-ms", "10", "--agent-id", name, "--master", master.url,
                "--token-file", token]
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)
        wait_for("the agent's mount", lambda: self.alive() and
                 os.path.ismount(self.mount), timeout=20)

    def alive(self):
        assert self.proc.poll() is None, read_log(self.log)
        return True

    def tree(self):
        out = {}
        for d, dirs, files in os.walk(self.mount):
            for n in dirs + files:
                p = os.path.join(d, n)
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue            # deleted meanwhile: look again
                isdir = stat.S_ISDIR(st.st_mode)
                out[p[len(self.mount):]] = ["dir" if isdir else "file",
                                            0 if isdir else st.st_size,
                                            st.st_ino]
        return out

    def converge(self, master, timeout=15):
        """Waits until the mount shows the master's tree, entry for entry."""
        want = master_tree(master)
        last = [None]

        def same():
            self.alive()
            last[0] = self.tree()
            return last[0] == want
        try:
            wait_for("the agent to show the master's tree", same, timeout)
        except BaseException:
            diff = sorted(set(want) ^ set(last[0] or {}))[:10]
            print(f"agent differs at {diff}\n{read_log(self.log)[-3000:]}")
            raise

    def close(self):
        stop_local(self.proc, self.mount, 15)
        text = read_log(self.log)
        assert_no_sanitizer_report(text)
        # Warnings while the master is down, but no error: it never
        # refused a record or found the log corrupt.
        for word in ("error:", "refused", "corrupt"):
            assert word not in text, text


@pytest.fixture
def rig(tmp_path):
    """A pool with a 1 MiB log, a master (MASTER_ARGS) and a FUSE agent."""
    require(os.geteuid() == 0, "FUSE mounts with allow_other need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    started = []

    def make(bulk=0, compact_at=50):
        pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                         log_size="1M")
        if bulk:
            require(os.access(LOGTOOL, os.X_OK), f"{LOGTOOL} is not built")
            logtool(pool, "fill", "bulk", bulk, 1, 1000)
        m = Master(pool, tmp_path, args=MASTER_ARGS + ["--compact-at",
                                                       str(compact_at)])
        started.append(m)
        api = m.client()
        for d in ("/d0", "/d1"):
            api.put("/v1/dirs" + d, expect=201)
        a = Agent(m, tmp_path)
        started.append(a)
        return pool, m, a

    yield make
    for x in reversed(started):
        x.close()


def logtool(pool, *args):
    p = subprocess.run([LOGTOOL, pool, *map(str, args)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, (args, p.stdout, p.stderr)


def master_tree(m):
    """path -> [type, size (0 for a directory), ino], from the master's
    listing API (without checking each page against the spec, which the
    API tests do: it would take most of a round)."""
    return {p: [e[0], e[1] if e[0] == "file" else 0, e[5]]
            for p, e in api_tree(m.client(), validate=False).items()}


def generation(m):
    return m.client().get("/v1/pool", expect=200).json()["log_generation"]


def fixed_tree(m, model):
    """Entries the load does not touch (directories, bulk files)."""
    return {p: e for p, e in master_tree(m).items() if p not in model}


def hooks(step=None, pause_ms=0):
    """The master's environment: kill after step, pause in C4 and C5."""
    env = {"FAMFSD_TEST_CRASH_AT": step} if step else {}
    if pause_ms:
        env["FAMFSD_TEST_COMPACT_PAUSE_MS"] = str(pause_ms)
    return env


def restart_and_check(m, pool, agent, model, uncertain, fixed, env=None):
    """Offline fsck, a start (with the test hooks of env), then every
    check."""
    fsck_clean(pool, after_kill=True)
    m.env = env or {}
    m.start()
    m.ready_at = time.monotonic()       # the grace runs from about here
    settle(master_tree(m), model, uncertain, fixed)
    p = check_pool(m, model)
    agent.converge(m)
    return p


# ---- a kill after each step ---------------------------------------------------

def crash_at(m, step, model, tag):
    """Under load, asks for a compaction of a master started with the hook
    for step; it must die by SIGKILL right after that step (of the first
    compaction that reaches it, asked for or not). The load starts once
    C0 lets a compaction through, so it writes only what 0.2 s brings
    (the kills before C6 leave every record in one generation). Returns
    the load."""
    wait_for("compactions to be let through",
             lambda: compaction_allowed(m), timeout=10,
             state=lambda: c0_state(m, None))
    load = Load(m, ["/d0", "/d1"], model, tag).start()
    time.sleep(0.2)
    with pytest.raises(requests.RequestException):
        m.client().s.post(m.url + "/v1/pool/compact", timeout=30)
    assert m.proc.wait(15) == -signal.SIGKILL, m.stderr()
    m.kill()                    # reaps it and closes its files
    load.stop()
    assert not load.errors, (step, load.errors[:3])
    assert load.acked > 0, (step, m.stderr()[-2000:])
    assert (f"FAMFSD_TEST_CRASH_AT={step}: killing the master after "
            f"compaction step {step}") in m.stderr()
    return load


def test_kill_after_each_step_of_the_switch(rig):
    """C1, C2, ... C7 in turn on one pool, so each compaction also runs
    over what the one killed before it left. Each start of the master is
    the check of the kill before it (with the hook for the next step
    armed: nothing compacts while the checks run, no load, and the grace
    after the start holds compaction back)."""
    # compact_at 90: no compaction on its own; the one asked for after
    # 0.2 s of load is the one that dies.
    pool, m, agent = rig(compact_at=90)
    model, fixed = {}, fixed_tree(m, {})
    # One compaction first, so the next one overwrites the areas of
    # generation 1, records and all, instead of areas mkfs left clean.
    load = Load(m, ["/d0", "/d1"], model, "warm").start()
    time.sleep(0.3)
    assert m.client().post("/v1/pool/compact", expect=200).json()["generation"] == 2
    load.stop()
    assert not load.errors, load.errors[:3]
    assert m.stop() == 0
    m.env = hooks(STEPS[0], PAUSE_MS)
    m.start()
    m.ready_at = time.monotonic()
    for n, step in enumerate(STEPS):
        gen = generation(m)
        load = crash_at(m, step, model, step)
        nxt = STEPS[n + 1] if n + 1 < len(STEPS) else None
        p = restart_and_check(m, pool, agent, model, load.uncertain, fixed,
                              hooks(nxt, PAUSE_MS))
        assert p["log_generation"] == gen + (step in SWITCHED), (step, gen, p)
    # Without the crash hook it compacts again (over what C7 left), and the
    # pool survives a clean stop.
    c = m.client().post("/v1/pool/compact", expect=200).json()
    assert c["generation"] == generation(m)
    settle(master_tree(m), model, {}, fixed)
    agent.converge(m)
    assert m.stop() == 0
    fsck_clean(pool)
    assert "error:" not in m.stderr(), m.stderr()


# ---- kills at random moments ------------------------------------------------

def sealed_generation(pool, gen):
    """The generation the area header of generation gen + 1's first copy
    names, read from the pool file: gen + 1 once a compaction got past C3
    (or one killed earlier did), an older one before."""
    info = json.loads(famfsctl("info", pool, "--json", check=0).stdout)
    area = info["log_size"] // LOG_AREAS & ~(LOG_HDR_SIZE - 1)
    hdr = format_struct("famfs_log_hdr")
    with open(pool, "rb") as f:
        f.seek(info["log_offset"] + area * (gen & 1) + hdr["generation"])
        return struct.unpack("<Q", f.read(8))[0]


def time_compaction(m):
    """One POST /v1/pool/compact: its wall time at the client, and the
    compaction's own."""
    t0 = time.monotonic()
    r = m.client().post("/v1/pool/compact", expect=200).json()
    return time.monotonic() - t0, r["duration_ms"] / 1e3


def c0_state(m, agent):
    api = m.client()
    return (f"generation {generation(m)}, agents "
            f"{api.get('/v1/agents', expect=200).json()['agents']}" +
            (f"; the agent's log:\n{read_log(agent.log)[-3000:]}" if agent else ""))


def compaction_allowed(m):
    """C0 lets a compaction through at once: the grace after the start is
    over and the agent reports the current generation."""
    return time.monotonic() > m.ready_at + GRACE_S and agent_on(m, generation(m))


def agent_on(m, gen):
    api = m.client()
    return [a for a in api.get("/v1/agents", expect=200).json()["agents"]
            if a["generation"] == gen and a["state"] == "live"]


def test_kill_at_random_moments_of_compactions(rig):
    """Round after round on one pool: the load runs, a compaction is asked
    for once C0 lets it through at once (the grace is over and the agent
    reports the current generation), and the master is killed after a
    random delay. In about half the rounds, chosen at random, the master
    runs with the pause hook: its compactions spend 2 x PAUSE_MS in C4 and
    C5 while the load's records arrive, and the kill falls anywhere in
    that; in the others the delay is drawn around the few milliseconds
    the compaction itself takes. Rounds are told apart by where the kill
    fell: before the new generation was sealed (C3), sealed but not
    switched, or switched (C6); "not switched" when a compaction killed
    before had sealed that generation already (the header cannot tell)."""
    pool, m, agent = rig(bulk=1000, compact_at=90)
    model, fixed = {}, fixed_tree(m, {})
    rng = random.Random(int(os.environ.get("FAMFSD_CRASH_SEED", "12")))
    m.ready_at = time.monotonic()       # rig() started it a moment ago
    times = []
    for _ in range(3):
        wait_for("compactions to be let through",
                 lambda: compaction_allowed(m), timeout=10,
                 state=lambda: c0_state(m, agent))
        times.append(time_compaction(m))
    wall, took = sorted(times)[1]
    outcomes = {"before C3": 0, "sealed": 0, "not switched": 0, "switched": 0}
    paused = False
    for rnd in range(ROUNDS):
        load = Load(m, ["/d0", "/d1"], model, f"r{rnd}").start()
        time.sleep(rng.uniform(0.05, 0.3))        # load in flight
        wait_for(f"compactions to be let through (round {rnd})",
                 lambda: compaction_allowed(m), timeout=10,
                 state=lambda: c0_state(m, agent))
        gen = generation(m)
        # A compaction killed in an earlier round may have sealed gen + 1
        # already: then this round's C3 cannot be told from the header.
        resealed = sealed_generation(pool, gen) == gen + 1
        asker = threading.Thread(target=ask_compact, args=(m,))
        if paused:
            delay = rng.uniform(0, wall + 2 * PAUSE_MS / 1e3 + 0.05)
        else:       # it ends about when the reply leaves
            delay = rng.uniform(max(0, wall - 3 * took - 0.001), wall + 0.001)
        asker.start()
        time.sleep(delay)
        m.kill()
        asker.join(30)
        load.stop()
        assert not load.errors, (rnd, load.errors[:3])
        sealed = sealed_generation(pool, gen)
        paused = rng.random() < 0.5
        p = restart_and_check(m, pool, agent, model, load.uncertain, fixed,
                              hooks(pause_ms=PAUSE_MS if paused else 0))
        # Past gen + 1 too, when one on its own followed the one asked for.
        assert p["log_generation"] >= gen, (rnd, gen, p["log_generation"])
        if p["log_generation"] > gen:
            outcomes["switched"] += 1
        elif resealed:
            outcomes["not switched"] += 1
        else:
            outcomes["sealed" if sealed == gen + 1 else "before C3"] += 1
    print(f"{ROUNDS} rounds: {outcomes}; a request took {wall * 1e3:.1f} ms, "
          f"its compaction {took * 1e3:.1f} ms")
    # Kills fell inside compactions, and outside them too.
    assert outcomes["sealed"], outcomes
    assert ROUNDS - outcomes["sealed"], outcomes
    assert m.stop() == 0
    fsck_clean(pool)
    assert "error:" not in m.stderr(), m.stderr()


def ask_compact(m):
    try:
        requests.post(m.url + "/v1/pool/compact", timeout=30,
                      headers={"Authorization": f"Bearer {m.admin_token}"})
    except requests.RequestException:
        pass                    # killed first
