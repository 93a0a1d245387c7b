"""Unlimited churn (issue 12): create+delete cycles through the API on a
pool with a 1 MiB log, which only compaction into new log generations can
sustain, on three network-namespace hosts with a FUSE agent each.

test_churn: FAMFSD_CHURN_CYCLES cycles (20,000 here, some 30 compactions
of a 1 MiB log; `make soak` runs 2,000,000) from WORKERS threads, each on
its own keep-alive connection, while
  - three files, written through the mounts with known bytes, stay open
    on every agent across all compactions and are read back byte for byte
    at the end;
  - the master is killed with SIGKILL and restarted every KILL_EVERY
    cycles, at a random moment;
  - halfway through, one agent is stopped (SIGSTOP) and another shut down
    (SIGTERM); once the master counts both stale, compactions are asked
    for (POST /v1/pool/compact, the last by `famfsctl compact`) between
    rounds of cycles; then the first resumes and the second starts again,
    and both must converge from the checkpoint.
At the end every agent's tree equals the master's, pending reclaim is
back to 0, the log generation grew by MIN_GENERATIONS or more, no damage
was found, fsck of the image is clean, and no request got a 5xx (nor lost
its connection) other than while the master was down: counted per phase.

test_prompt_reclaim: a pool whose data area holds about 20 files, three
agents mounted and live: thousands of create+delete cycles never get
`507 pool-full` (a deleted file's space must be reusable within
milliseconds, not at the next heartbeat).

test_compact_api: POST /v1/pool/compact and `famfsctl compact` on a small
pool: the reply, GET /v1/pool's new fields, the tree unchanged across the
switch and a restart, fsck clean after.
"""

import collections
import hashlib
import http.client
import json
import os
import random
import re
import signal
import threading
import time

import pytest

from conftest import (ADMIN_TOKEN, FAMFSCTL, LOG_HDR_SIZE, api_tree, famfsctl,
                      make_pool)
from multihost import (WRITE_PY, Fleet as BaseFleet, _enter_netns, hard_deadline,
                       pattern, run, three_hosts, wait_until)

MiB = 1 << 20
CYCLES = int(os.environ.get("FAMFSD_CHURN_CYCLES", "20000"))
KILL_EVERY = int(os.environ.get("FAMFSD_CHURN_KILL_EVERY",
                                str(max(1, min(CYCLES // 4, 10000)))))
AWAY_EVERY = max(1, min(CYCLES // 2, 250000))   # the agents-away phase
WORKERS = 4
AWAY_ROUNDS = 4            # compactions asked for while two agents are away
# The away rounds, and at least one compaction the load forced per 500
# cycles (about one per 200-250 is measured), up to 20: smaller counts run
# under the sanitizers.
MIN_GENERATIONS = min(20, AWAY_ROUNDS + CYCLES // 500)
AWAY_ROUND_CYCLES = 150    # cycles between them (their space stays pending)
AGENT_TIMEOUT = 3          # --agent-timeout: when a silent agent is stale
BAD_LIMIT = 200            # unexpected replies after which the load stops
LOG_SIZE = MiB
HELD_SIZES = (MiB + 4097, 2 * MiB - 123, 3 * MiB + 1)
TEST_SECONDS = 240 + CYCLES // 200     # hard bound (SIGALRM)
# The body of every create of the load.
CREATE_BODY = json.dumps({"size": 4096}).encode()


@pytest.fixture(autouse=True)
def deadline():
    with hard_deadline(TEST_SECONDS):
        yield


@pytest.fixture(scope="module")
def cluster():
    yield from three_hosts()


class Fleet(BaseFleet):
    """A master on host 1 and a FUSE agent on every host, on one pool."""


    def agent_states(self):
        return {a["agent_id"]: a for a in
                self.api.get("/v1/agents", expect=200).json()["agents"]}

    def all_live(self):
        states = self.agent_states()
        return all(a.name in states and states[a.name]["state"] == "live"
                   for a in self.agents)

    def pool_state(self):
        return self.api.get("/v1/pool", expect=200).json()

    def close(self):
        """Every agent, then the master, even when one's checks fail; the
        first failure is raised after all are down."""
        failed = []
        for a in self.agents:
            try:
                if a.running():
                    os.kill(a.pid, signal.SIGCONT)    # a stopped one must see SIGTERM
                a.close()
            except Exception as e:          # noqa: BLE001 - raised below
                failed.append(e)
        try:
            self.master.close()
        except Exception as e:              # noqa: BLE001 - raised below
            failed.append(e)
        if failed:
            raise failed[0]


@pytest.fixture
def fleet_factory(cluster, tmp_path):
    fleets = []

    def make(pool, **kw):
        f = Fleet(cluster, pool, tmp_path, **kw)
        fleets.append(f)
        return f

    yield make
    for f in fleets:
        f.close()


def converge(agent, truth, timeout=30):
    """Waits until agent's mount shows exactly truth (api_tree's shape)."""
    deadline = time.monotonic() + timeout
    while True:
        tree = agent.tree()
        if tree == truth:
            return
        if time.monotonic() > deadline:
            missing = sorted(set(truth) - set(tree))
            extra = sorted(set(tree) - set(truth))
            differ = sorted(p for p in set(tree) & set(truth) if tree[p] != truth[p])
            pytest.fail(f"{agent.name}'s mount differs from the master's tree after "
                        f"{timeout}s: {len(missing)} missing {missing[:5]}, "
                        f"{len(extra)} extra {extra[:5]}, {len(differ)} differ "
                        f"{[(p, tree[p], truth[p]) for p in differ[:3]]}\n"
                        f"{agent.stderr()[-3000:]}")
        time.sleep(0.2)


# ---- files held open across compactions ------------------------------------

# Runs in an agent's mount namespace: opens every file of argv[1:] and holds
# the descriptors; "check" prints, per file, the sha256 of its bytes read
# through the held descriptor, its inode and link count.
HOLD_PY = r"""
import hashlib, json, os, sys
fds = {p: os.open(p, os.O_RDONLY) for p in sys.argv[1:]}
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() != "check":
        break
    out = {}
    for p, fd in fds.items():
        try:
            st = os.fstat(fd)
            data, off = bytearray(), 0
            while off < st.st_size:
                chunk = os.pread(fd, min(1 << 20, st.st_size - off), off)
                if not chunk:
                    break
                data += chunk
                off += len(chunk)
            out[p] = [hashlib.sha256(data).hexdigest(), st.st_ino, st.st_nlink,
                      len(data)]
        except OSError as e:
            out[p] = ["error", e.errno, os.strerror(e.errno)]
    print(json.dumps(out), flush=True)
"""


class Held:
    """Files held/h1..h3, agent i writing h{i}'s bytes through its mount;
    every agent holds all of them open (one holder process each)."""

    def __init__(self, fleet):
        self.fleet = fleet
        self.files = {}         # rel -> (sha256, ino, size)
        self.holders = {}       # agent name -> Popen
        fleet.api.put("/v1/dirs/held", expect=201)
        for i, (a, size) in enumerate(zip(fleet.agents, HELD_SIZES), 1):
            rel = f"held/h{i}"
            ino = fleet.api.put(f"/v1/files/{rel}", json={"size": size, "mode": 0o666},
                                expect=201).json()["ino"]
            a.wait_paths([rel])
            digest = a.py(WRITE_PY, a.path(rel), f"held-{i}", str(size)).stdout.strip()
            assert digest == hashlib.sha256(pattern(f"held-{i}", size)).hexdigest()
            self.files[rel] = (digest, ino, size)
        for a in fleet.agents:
            a.wait_paths(list(self.files))
            self.open(a)

    def open(self, agent):
        p = agent.popen_py(HOLD_PY, *[agent.path(r) for r in self.files])
        line = p.stdout.readline().strip()
        if line != "ready":
            p.kill()
            pytest.fail(f"{agent.name}: cannot open the held files: {line} "
                        f"{p.stderr.read()}")
        self.holders[agent.name] = p

    def check(self, agent, when):
        """The held descriptors on agent read back the written bytes."""
        p = self.holders[agent.name]
        p.stdin.write("check\n")
        p.stdin.flush()
        line = p.stdout.readline()
        if not line:
            pytest.fail(f"{agent.name}: the holder died ({when}): {p.stderr.read()}")
        got = json.loads(line)
        for rel, (digest, ino, size) in self.files.items():
            want = [digest, ino, 1, size]
            assert got[agent.path(rel)] == want, (
                f"{agent.name}: {rel} held open {when} reads back "
                f"{got[agent.path(rel)]}, want [sha256, ino, nlink, size] {want}")

    def close(self, agent):
        p = self.holders.pop(agent.name, None)
        if p:
            p.kill()
            p.wait(10)

    def close_all(self):
        for name in list(self.holders):
            p = self.holders.pop(name)
            p.kill()
            p.wait(10)


# ---- the load ----------------------------------------------------------------

class Conn:
    """One worker's keep-alive connection to the master, opened from its
    host's network namespace (the worker thread entered it)."""

    def __init__(self, load):
        self.load = load
        self.c = None
        self.run = None         # master run the connection was opened to

    def request(self, method, path, body=None):
        """(status, body bytes); raises OSError/HTTPException when the
        connection fails (the connection is then dropped)."""
        if self.c is None:
            self.run = self.load.master_run
            self.c = http.client.HTTPConnection(self.load.host, self.load.port,
                                                timeout=30)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.c.request(method, path, body=body, headers=headers)
            r = self.c.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            self.c.close()
            self.c = None
            raise

    def close(self):
        if self.c:
            self.c.close()
            self.c = None


def problem_text(status, data):
    """'503 log-full: detail' from a problem reply, else status and bytes."""
    try:
        p = json.loads(data)
        return f"{status} {p['type'].rsplit('/', 1)[-1]}: {p.get('detail', '')}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{status} {data[:200]!r}"


class Load:
    """Create+delete cycles from WORKERS threads, worker k in host
    (k % 3)'s network namespace, each cycle PUT /v1/files/churn/wK/fN
    (201) then DELETE it (200). Cycle numbers come from one counter, so
    `total` cycles run whatever the number of threads.

    Every reply is counted under the phase it was sent in (phase is set
    by the test: "churn", "downN" while the master is dead, "away",
    ...). A request whose connection failed is sent again once the
    master answers: a PUT may then find the file it created (200), a
    DELETE find it gone (404). Bad, with time and phase: a 5xx sent
    outside a down phase, a connection lost outside one (on a connection
    opened to the master that now runs), and any other reply than
    expected."""

    def __init__(self, fleet, total, prefix="churn"):
        self.fleet = fleet
        self.host, port = fleet.master.url.split("//")[1].split(":")
        self.port = int(port)
        self.total = total
        self.prefix = prefix
        self.phase = "churn"
        self.master_run = 0     # bumped before each kill
        self.down = False
        self.lock = threading.Lock()
        self.counts = collections.Counter()     # (phase, class) -> replies
        self.latency = collections.Counter()    # (phase, log2 us) -> replies
        self.slowest = {}                       # phase -> seconds
        self.bad = []
        self.next = 0
        self.done = 0
        self.busy = 0
        self.go = threading.Event()
        self.go.set()
        self.stop = threading.Event()
        self.threads = []
        self.errors = []        # exceptions that ended a worker

    # -- bookkeeping (any thread) --
    def count(self, phase, what, secs=None):
        """One reply (or failed connection) of phase; secs: its latency,
        kept as a power-of-two bucket of microseconds."""
        with self.lock:
            self.counts[(phase, what)] += 1
            if secs is not None:
                self.latency[(phase, max(0, int(secs * 1e6)).bit_length())] += 1
                self.slowest[phase] = max(self.slowest.get(phase, 0), secs)

    def p99_ms(self, phase):
        """The bound of the latency bucket the 99th percentile of phase is in."""
        buckets = sorted((b, n) for (ph, b), n in self.latency.items() if ph == phase)
        total, seen = sum(n for _, n in buckets), 0
        for b, n in buckets:
            seen += n
            if seen >= 0.99 * total:
                return (1 << b) / 1000
        return 0

    def note_bad(self, phase, t, method, path, what):
        with self.lock:
            self.bad.append((phase, round(t, 3), method, path, what))
            if len(self.bad) >= BAD_LIMIT:
                self.stop.set()

    def phase_table(self):
        """phase -> {class: n}, in the order phases first appeared."""
        out = {}
        for (phase, what), n in self.counts.items():
            out.setdefault(phase, {})[what] = n
        return out

    # -- one cycle (a worker thread, or the test's host thread) --
    def call(self, conn, method, path, body, want, after_retry):
        """Sends until some reply comes; returns its status."""
        retried = False
        give_up = time.monotonic() + 60
        while True:
            phase, t0 = self.phase, time.monotonic()
            try:
                status, data = conn.request(method, path, body)
            except (OSError, http.client.HTTPException) as e:
                self.count(phase, "conn")
                if not (self.down or phase.startswith("down") or
                        conn.run != self.master_run):
                    self.note_bad(phase, t0, method, path, f"connection: {e!r}")
                retried = True
                if time.monotonic() > give_up or self.stop.is_set():
                    self.note_bad(phase, t0, method, path, "gave up: no master")
                    self.stop.set()
                    return None
                time.sleep(0.02)
                continue
            self.count(phase, f"{status // 100}xx", time.monotonic() - t0)
            if status >= 500 and phase.startswith("down"):
                retried = True      # a master starting up: ask again
                time.sleep(0.02)
                continue
            if status >= 500 or (
                    status not in want and not (retried and status in after_retry)):
                self.note_bad(phase, t0, method, path, problem_text(status, data))
            return status

    def cycle(self, conn, path):
        if self.call(conn, "PUT", path, CREATE_BODY, (201,), (200,)) not in (200, 201):
            return False
        return self.call(conn, "DELETE", path, None, (200,), (404,)) in (200, 404)

    def inline(self, n, sub, first):
        """n cycles from the calling thread (which is in a host's network
        namespace), of /v1/files/churn/SUB/fFIRST and on."""
        conn = Conn(self)
        try:
            for i in range(n):
                if not self.cycle(conn, f"/v1/files/{self.prefix}/{sub}/f{first + i}"):
                    return i
        finally:
            conn.close()
        return n

    # -- workers --
    def worker(self, k, host):
        try:
            _enter_netns(host.name)
            conn = Conn(self)
            while not self.stop.is_set():
                if not self.go.wait(0.1):
                    continue
                with self.lock:     # pause() clears go under it
                    if not self.go.is_set():
                        continue
                    if self.next >= self.total:
                        break
                    i = self.next
                    self.next += 1
                    self.busy += 1
                ok = False
                try:
                    ok = self.cycle(conn, f"/v1/files/{self.prefix}/w{k}/f{i}")
                finally:
                    with self.lock:
                        self.busy -= 1
                        self.done += ok
            conn.close()
        except BaseException as e:     # noqa: B036 - reported by wait()
            self.errors.append(f"worker {k}: {e!r}")
            self.stop.set()

    def start(self):
        hosts = self.fleet.cluster.hosts
        for k in range(WORKERS):
            t = threading.Thread(target=self.worker, args=(k, hosts[k % len(hosts)]),
                                 name=f"churn-w{k}", daemon=True)
            self.threads.append(t)
            t.start()

    def pause(self):
        """No new cycle starts; returns once those in progress ended."""
        with self.lock:
            self.go.clear()
        wait_until("the load to pause", lambda: self.busy == 0, 90, 0.01)

    def resume(self, phase="churn"):
        self.phase = phase
        self.go.set()

    def finished(self):
        return not any(t.is_alive() for t in self.threads)

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        alive = [t.name for t in self.threads if t.is_alive()]
        self.stop.set()
        assert not self.errors, self.errors
        assert not alive, f"load threads still running after {timeout}s: {alive}"

    def report(self):
        lines = [f"  {phase:>10}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
                 + f"; latency p99 <= {self.p99_ms(phase):g} ms, max "
                 f"{self.slowest.get(phase, 0) * 1e3:.1f} ms"
                 for phase, c in self.phase_table().items()]
        return "\n".join(lines)

    def assert_clean(self):
        if not self.bad:
            return
        kinds = collections.Counter((b[0], b[4].split(":")[0]) for b in self.bad)
        pytest.fail(
            f"{len(self.bad)} bad replies{' (the load stopped)' if self.stop.is_set() else ''}"
            f", by phase and kind: {dict(kinds)}; the first:\n"
            + "\n".join(f"  {phase} t={t:.3f} {method} {path}: {what}"
                        for phase, t, method, path, what in self.bad[:10])
            + f"\n{self.done} cycles done; replies per phase:\n" + self.report())


# ---- the churn test -------------------------------------------------------------

class Churn:
    """The test's moves on a fleet and its load."""

    def __init__(self, fleet, load, held, rng):
        self.fleet = fleet
        self.load = load
        self.held = held
        self.rng = rng
        self.kills = 0
        self.down_s = 0.0
        self.away_gens = []

    def kill_master(self):
        """SIGKILL at a random moment, then a restart on the same port."""
        time.sleep(self.rng.uniform(0, 0.2))
        self.kills += 1
        before = self.load.phase
        self.load.phase = f"down{self.kills}"
        self.load.down = True
        self.load.master_run += 1
        t = time.monotonic()
        self.fleet.master.kill()
        self.fleet.master.start(timeout=60)
        self.down_s += time.monotonic() - t
        self.load.down = False
        self.load.phase = before

    def compact(self, via_cli):
        """One compaction asked for; returns the generation it made."""
        api = self.fleet.api
        before = self.fleet.pool_state()
        if via_cli:
            m = self.fleet.master
            p = run(m.host.argv([FAMFSCTL, "compact", "--url", m.url, "--token",
                                 ADMIN_TOKEN]), timeout=60, check=False)
            assert p.returncode == 0, f"famfsctl compact exited {p.returncode}: " \
                f"{p.stdout}{p.stderr}"
            gen = self.fleet.pool_state().get("log_generation")
            assert gen is not None and re.search(rf"\b{gen}\b", p.stdout), (
                f"famfsctl compact printed {p.stdout!r}, not the new generation "
                f"{gen}")
            return gen
        r = api.post("/v1/pool/compact")
        assert r.status_code == 200, (
            f"POST /v1/pool/compact answered {r.status_code} {r.text[:300]} "
            f"(log_generation before: {before.get('log_generation')})")
        body = r.json()
        assert body["generation"] > before["log_generation"], (body, before)
        return body["generation"]

    def wait_stale(self, agents, timeout=AGENT_TIMEOUT * 10):
        deadline = time.monotonic() + timeout
        while True:
            states = self.fleet.agent_states()
            now = {a.name: states.get(a.name, {}).get("state") for a in agents}
            if all(s == "stale" for s in now.values()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"the master did not count {sorted(now)} stale within "
                            f"{timeout}s (--agent-timeout {AGENT_TIMEOUT}): {now}")
            time.sleep(0.2)

    def agents_away(self):
        """Host 3's agent stopped, host 2's shut down, across AWAY_ROUNDS
        compactions; then both back, converged from the checkpoint."""
        fleet, load = self.fleet, self.load
        h2, h3 = fleet.agents[1], fleet.agents[2]
        load.pause()
        # Registered with the master that runs now (one restarted a moment
        # ago learns them at their next heartbeat), so they hold back what
        # a live agent holds back until they go stale.
        wait_until("every agent live", fleet.all_live, 20, 0.2)
        self.held.close(h2)
        assert h2.stop() == 0, f"{h2.name} exited non-zero:\n{h2.stderr()[-2000:]}"
        os.kill(h3.pid, signal.SIGSTOP)
        try:
            self.wait_stale((h2, h3))
            load.phase = "away"
            gen0 = fleet.pool_state().get("log_generation")
            sub = f"away{len(self.away_gens)}"
            fleet.api.put(f"/v1/dirs/{load.prefix}/{sub}", expect=201)
            for r in range(AWAY_ROUNDS):
                n = fleet.master.host.call(load.inline, AWAY_ROUND_CYCLES, sub,
                                           r * AWAY_ROUND_CYCLES, timeout=120)
                load.assert_clean()
                assert n == AWAY_ROUND_CYCLES, f"{n} of {AWAY_ROUND_CYCLES} cycles"
                self.compact(via_cli=r == AWAY_ROUNDS - 1)
            gen1 = fleet.pool_state()["log_generation"]
            self.away_gens.append(gen1 - gen0)
            assert gen1 - gen0 >= AWAY_ROUNDS, (gen0, gen1)
            # Host 1 followed every switch while the others were away.
            converge(fleet.agents[0], api_tree(fleet.api))
        finally:
            os.kill(h3.pid, signal.SIGCONT)
        h2.start()
        truth = api_tree(fleet.api)
        for a in (h3, h2):
            converge(a, truth)
        self.held.check(h3, f"after {AWAY_ROUNDS} compactions stopped")
        self.held.open(h2)
        self.held.check(h2, "after a restart across compactions")
        wait_until("every agent live again", fleet.all_live, 20, 0.2)
        load.resume()


def test_churn(fleet_factory, tmp_path):
    seed = int(os.environ.get("FAMFSD_CHURN_SEED", str(int(time.time()))))
    print(f"churn: {CYCLES} cycles, a master kill every {KILL_EVERY}, "
          f"agents away every {AWAY_EVERY}, seed {seed}")
    pool = make_pool(tmp_path / "pool.img", size="16G", alloc_unit="4K",
                     log_size=f"{LOG_SIZE // MiB}M")
    fleet = fleet_factory(pool, master_args=["--agent-timeout", str(AGENT_TIMEOUT)])
    api = fleet.api
    gen0 = fleet.pool_state().get("log_generation")
    held = Held(fleet)
    api.put("/v1/dirs/churn", expect=201)
    for k in range(WORKERS):
        api.put(f"/v1/dirs/churn/w{k}", expect=201)
    wait_until("every agent live", fleet.all_live, 20, 0.2)

    load = Load(fleet, CYCLES)
    churn = Churn(fleet, load, held, random.Random(seed))
    events = sorted([(c, "kill") for c in range(KILL_EVERY, CYCLES, KILL_EVERY)] +
                    [(c + KILL_EVERY // 2, "away") for c in
                     range(AWAY_EVERY, CYCLES, AWAY_EVERY)])
    t0 = time.monotonic()
    load.start()
    try:
        for at, what in events:
            wait_until(f"{at} cycles done", lambda: load.done >= at or
                       load.stop.is_set() or load.finished() or
                       not fleet.master.running(), TEST_SECONDS, 0.01)
            assert fleet.master.running(), (
                f"the master died on its own after {load.done} cycles:\n"
                f"{fleet.master.stderr()[-3000:]}")
            if load.stop.is_set() or load.finished():
                break
            if what == "kill":
                churn.kill_master()
            else:
                churn.agents_away()
        load.wait(TEST_SECONDS)
    finally:
        load.stop.set()
        load.go.set()
    wall = time.monotonic() - t0
    pool_now = fleet.pool_state()
    print(f"churn: {load.done} cycles in {wall:.1f}s ({load.done / wall:.0f}/s), "
          f"{churn.kills} master kills ({churn.down_s:.1f}s down), "
          f"log generation {gen0} -> {pool_now.get('log_generation')}, "
          f"{pool_now.get('log_compactions')} compactions since the last start, "
          f"away phases gained {churn.away_gens} generations\n" + load.report())
    load.assert_clean()
    assert load.done == CYCLES, f"{load.done} of {CYCLES} cycles completed"

    truth = api_tree(api)
    assert set(truth) == {"/held", "/churn", *(f"/{r}" for r in held.files),
                          *(f"/churn/w{k}" for k in range(WORKERS)),
                          *(f"/churn/away{i}" for i in range(len(churn.away_gens)))}, \
        sorted(truth)[:20]
    for a in fleet.agents:
        converge(a, truth)
        held.check(a, f"across {churn.kills} master kills and the compactions")
    held.close_all()
    wait_until("pending reclaim back to 0", lambda: fleet.pool_state()
               ["pending_reclaim_bytes"] == 0, 30, 0.2)

    p = fleet.pool_state()
    assert "log_generation" in p, (
        "GET /v1/pool has no log_generation: this master has no log generations "
        "(pool format v2)")
    assert p["log_generation"] - gen0 >= MIN_GENERATIONS, (
        f"the log generation grew by {p['log_generation'] - gen0} in {CYCLES} "
        f"cycles of a {LOG_SIZE // MiB} MiB log, want >= {MIN_GENERATIONS}")
    assert p["damage"]["found"] == 0, p["damage"]
    assert p["files"] == len(held.files) and p["used_bytes"] == sum(
        -(-s // 4096) * 4096 for s in HELD_SIZES), p

    for a in fleet.agents:
        a.close()
    assert fleet.master.stop() == 0, fleet.master.stderr()[-3000:]
    errors = [l for l in fleet.master.stderr().splitlines() if "error:" in l]
    assert not errors, "errors in the master's log:\n" + "\n".join(errors[:20])
    fsck = famfsctl("fsck", pool, "--json")
    assert fsck.returncode == 0 and json.loads(fsck.stdout)["clean"], (
        f"fsck exited {fsck.returncode}:\n{fsck.stdout}{fsck.stderr}")


# ---- prompt reclaim ---------------------------------------------------------------

RECLAIM_FILES = 20           # the data area holds this many files
RECLAIM_FILE_SIZE = 64 << 10
RECLAIM_CYCLES = 5000


def reclaim_loop(fleet, n):
    """n sequential create+delete cycles (the calling thread is in host 1's
    network namespace); returns (cycles done, the reply that stopped it)."""
    host, port = fleet.master.url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=30)
    h = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    body = json.dumps({"size": RECLAIM_FILE_SIZE}).encode()
    try:
        for i in range(n):
            c.request("PUT", f"/v1/files/r/f{i}", body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            if r.status != 201:
                return i, (r.status, data.decode(errors="replace"))
            c.request("DELETE", f"/v1/files/r/f{i}", headers=h)
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                return i, (r.status, data.decode(errors="replace"))
    finally:
        c.close()
    return n, None


def test_prompt_reclaim(fleet_factory, tmp_path):
    probe = make_pool(tmp_path / "probe.img", size="1G", alloc_unit="4K")
    data_offset = json.loads(famfsctl("info", probe, "--json", check=0).stdout)[
        "data_offset"]
    pool = make_pool(tmp_path / "pool.img", alloc_unit="4K",
                     size=str(data_offset + RECLAIM_FILES * RECLAIM_FILE_SIZE))
    fleet = fleet_factory(pool)
    api = fleet.api
    size = fleet.pool_state()["size_bytes"]
    assert size // RECLAIM_FILE_SIZE == RECLAIM_FILES, size
    api.put("/v1/dirs/r", expect=201)
    wait_until("every agent live", fleet.all_live, 20, 0.2)

    t = time.monotonic()
    done, stop = fleet.master.host.call(reclaim_loop, fleet, RECLAIM_CYCLES,
                                        timeout=300)
    secs = time.monotonic() - t
    p = fleet.pool_state()
    print(f"prompt reclaim: {done} of {RECLAIM_CYCLES} cycles in {secs:.2f}s, "
          f"stopped by {stop}; pending_reclaim_bytes {p['pending_reclaim_bytes']}")
    assert stop is None, (
        f"cycle {done + 1} of {RECLAIM_CYCLES} got {stop[0]} ({stop[1][:200]}) "
        f"with {p['pending_reclaim_bytes']} bytes pending reclaim: with every agent "
        f"live, a deleted file's space must be reusable within milliseconds "
        f"(the data area holds {RECLAIM_FILES} files)")
    wait_until("pending reclaim back to 0", lambda: fleet.pool_state()
               ["pending_reclaim_bytes"] == 0, 10, 0.1)
    truth = api_tree(api)
    assert set(truth) == {"/r"}, sorted(truth)[:10]
    for a in fleet.agents:
        converge(a, truth)


# ---- the compaction API ---------------------------------------------------------------

def test_compact_api(master_factory, tmp_path):
    pool = make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K",
                     log_size=f"{LOG_SIZE // MiB}M")
    m = master_factory(pool, args=["--reclaim-grace-ms", "0"])
    api = m.client("admin")
    p = api.get("/v1/pool", expect=200).json()
    for field in ("log_generation", "log_compactions", "log_base_seq",
                  "checkpoint_bytes", "damage"):
        assert field in p, f"GET /v1/pool has no {field}: {sorted(p)}"
    assert p["log_compactions"] == 0
    assert {k: p["damage"].get(k) for k in ("found", "repaired", "unrepaired", "last")} \
        == {"found": 0, "repaired": 0, "unrepaired": 0, "last": []}, p["damage"]
    assert p["log_capacity_bytes"] == LOG_SIZE // 4 - LOG_HDR_SIZE, (
        f"log_capacity_bytes {p['log_capacity_bytes']}: one generation of a "
        f"{LOG_SIZE} byte log is a quarter of it less its header")

    api.put("/v1/dirs/d", json={"mode": 0o750, "uid": 7, "gid": 8}, expect=201)
    for i in range(50):
        api.put(f"/v1/files/d/f{i}", json={"size": 5000 + i}, expect=201)
    for i in range(0, 50, 2):
        api.delete(f"/v1/files/d/f{i}", expect=200)
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 1 << 30, "max_files": 99},
            expect=200)
    api.put("/v1/dirs/tA", expect=201)
    m.client("tA").put("/v1/files/tA/x", json={"size": 1}, expect=201)
    tree = api_tree(api)
    before = api.get("/v1/pool", expect=200).json()

    for who in ("agent", "tA"):
        m.client(who).post("/v1/pool/compact", expect=403)
    r = api.post("/v1/pool/compact", expect=200).json()
    assert set(r) >= {"generation", "base_seq", "checkpoint_bytes",
                      "checkpoint_items", "duration_ms"}, r
    assert r["generation"] == before["log_generation"] + 1, (r, before)
    assert r["base_seq"] == before["last_seq"], (r, before)
    # 26 files, two directories, a quota: at least 29 items.
    assert r["checkpoint_items"] >= 29 and r["checkpoint_bytes"] > 0, r
    after = api.get("/v1/pool", expect=200).json()
    assert after["log_generation"] == r["generation"]
    assert after["log_compactions"] == 1
    assert after["log_base_seq"] == r["base_seq"]
    assert after["checkpoint_bytes"] == r["checkpoint_bytes"]
    assert after["log_used_bytes"] < before["log_used_bytes"], (before, after)
    for k in ("files", "dirs", "used_bytes", "free_bytes", "pending_reclaim_bytes",
              "tenants"):
        assert after[k] == before[k], (k, before[k], after[k])
    assert api_tree(api) == tree

    p = famfsctl("compact", "--url", m.url, "--token", ADMIN_TOKEN)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    gen = api.get("/v1/pool", expect=200).json()["log_generation"]
    assert gen == r["generation"] + 1 and re.search(rf"\b{gen}\b", p.stdout), (
        f"famfsctl compact printed {p.stdout!r}; the generation is now {gen}")

    api.put("/v1/files/d/new", json={"size": 1}, expect=201)
    tree = api_tree(api)
    assert m.stop() == 0
    assert famfsctl("fsck", pool).returncode == 0
    m.start()
    assert api_tree(api) == tree
    assert api.get("/v1/pool", expect=200).json()["log_generation"] == gen
