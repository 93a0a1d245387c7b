"""Several master-capable hosts on one pool, for the failover tests and
bench (tests/integration/test_failover.py, bench/failover_bench.py).

Host N (a network namespace of multihost.py, 10.77.0.N) runs a master with
--slot N and --advertise http://10.77.0.N:PORT, and an agent that knows
every master's address. Creates go through any master's address: a
Creator follows a standby's 307 by hand (requests drops the token on a
redirect to another host), moves on to the next address when one does not
answer or answers 503, and retries a create whose answer it did not get
until one comes (a repeat of an identical create is 200), so every path it
reports acknowledged got a 2xx.

The checks after a run read the pool itself (famfsctl logdump and fsck),
not a master's word: every acknowledged path is in the log and in every
agent's tree, no two files' extents overlap, fsck is clean.
"""

import json
import os
import random
import signal
import threading
import time

import requests

from conftest import ADMIN_TOKEN, api_tree, famfsctl
from multihost import Agent, NsMaster, _enter_netns, wait_until

PORT = 7470
FILE_BYTES = 4096


def url_of(host):
    return f"http://{host.addr}:{PORT}"


class MasterFleet:
    """A master and an agent on every host of cluster, on one pool."""

    def __init__(self, cluster, pool, workdir, n_masters=3, master_args=(),
                 agent_args=()):
        self.cluster = cluster
        self.pool = pool
        self.workdir = workdir
        self.urls = [url_of(h) for h in cluster.hosts[:n_masters]]
        self.masters = []
        self.agents = []
        self.allow_errors = set()
        for i, h in enumerate(cluster.hosts[:n_masters]):
            m = NsMaster(h, pool, workdir, port=PORT, name=f"master-h{h.index}",
                         start=False,
                         args=["--slot", str(i + 1), "--advertise", url_of(h),
                               *master_args])
            self.masters.append(m)
        # The first one becomes active alone; the others join as standbys.
        self.masters[0].start()
        wait_until("master 1 active", lambda: self.active() == 0, 20, 0.05)
        for m in self.masters[1:]:
            m.start()
        self.agents = [Agent(h, pool, workdir, master_url=",".join(self.urls),
                             extra=list(agent_args)) for h in cluster.hosts]
        for a in self.agents:
            a.start()

    def masters_view(self, i):
        """GET /v1/masters on master i, or None when it does not answer."""
        m = self.masters[i]
        if not m.running():
            return None

        def get():
            try:
                r = requests.get(m.url + "/v1/masters", timeout=1,
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
                return r.json() if r.status_code == 200 else None
            except (requests.RequestException, ValueError):
                return None
        return m.host.call(get)

    def roles(self):
        """{index: (role, epoch)} of every master that answers."""
        out = {}
        for i in range(len(self.masters)):
            v = self.masters_view(i)
            if v:
                out[i] = (v["self"]["role"], v["epoch"])
        return out

    def active(self):
        """The index of the one master that says it is active, else None.
        Two saying so at once is a failure on its own."""
        act = [i for i, (role, _) in self.roles().items() if role == "active"]
        assert len(act) <= 1, f"two masters say they are active: {act}"
        return act[0] if act else None

    def wait_active(self, other_than=None, timeout=15):
        def found():
            a = self.active()
            return a is not None and a != other_than and (a,)
        return wait_until("an active master", found, timeout, 0.02)[0]

    def epoch(self):
        for i in range(len(self.masters)):
            v = self.masters_view(i)
            if v and v["active"] is not None:
                return v["epoch"]
        return 0

    def api(self, i=None):
        """An admin client of master i (default: the active one)."""
        return self.masters[self.active() if i is None else i].client("admin")

    def converge(self, timeout=30):
        """Every agent's tree is the active master's; returns that tree."""
        want = api_tree(self.api(), validate=False)
        for a in self.agents:
            wait_until(f"{a.name} converged", lambda: a.tree() == want,
                       timeout, 0.2)
        return want

    def close(self):
        try:
            for a in self.agents:
                a.close(allow_errors=a.name in self.allow_errors)
        finally:
            for m in self.masters:
                if m.proc and m.proc.poll() is None:
                    # A SIGSTOPped one would never see the SIGKILL's end.
                    os.kill(m.proc.pid, signal.SIGCONT)
                m.close()


class Creator(threading.Thread):
    """Creates files one after another from a host's namespace until
    stopped. urls: the addresses to try, in turn from the one that answered
    the last create (at first a random one; ordered: always from the
    first); each create is retried until it is acknowledged."""

    def __init__(self, host, urls, prefix, ordered=False, timeout=2.0):
        super().__init__(daemon=True)
        self.host = host
        self.urls = list(urls)
        self.prefix = prefix
        self.ordered = ordered
        self.timeout = timeout
        self.halt = threading.Event()
        self.acked = []          # (name, acked at, address tried, extents, began at)
        self.failures = []       # (path, what): answers that were not 2xx
        self.conn_errors = 0
        self.not_active = 0      # 503 from a master with no active one
        self.error = None
        self.lock = threading.Lock()
        self.last_good = None

    def run(self):
        try:
            _enter_netns(self.host.name)
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
            i = 0
            while not self.halt.is_set():
                self.create(s, f"{self.prefix}{i:06d}")
                i += 1
        except BaseException as e:   # reported by stop()
            self.error = e

    def _try(self, s, url):
        """One create through url and its 307s: the reply, or None."""
        for _ in range(4):
            try:
                r = s.put(url, json={"size": FILE_BYTES}, timeout=self.timeout,
                          allow_redirects=False)
            except requests.RequestException:
                self.conn_errors += 1
                return None
            if r.status_code != 307:
                return r
            url = r.headers["Location"]
        return None

    def create(self, s, name):
        # Where the last create was answered, as a client would; at first,
        # and with ordered, urls[0] (ordered) or any.
        began = time.monotonic()
        start = self.last_good
        if start is None:
            start = 0 if self.ordered else random.randrange(len(self.urls))
        n = 0
        while not self.halt.is_set() or n == 0:
            base = self.urls[(start + n) % len(self.urls)]
            n += 1
            r = self._try(s, f"{base}/v1/files/{name}")
            if r is None:
                if n % len(self.urls) == 0:
                    time.sleep(0.02)
                continue
            if r.status_code in (200, 201):
                if not self.ordered:
                    self.last_good = self.urls.index(base)
                with self.lock:
                    self.acked.append((name, time.monotonic(), base,
                                       r.json().get("extents", []), began))
                return
            if r.status_code == 503:
                self.not_active += 1
                time.sleep(0.02)
                continue
            with self.lock:
                self.failures.append((name, r.status_code, r.text[:300]))
            return

    def count(self):
        with self.lock:
            return len(self.acked)

    def acked_after(self, t):
        """Creates acknowledged after t (some may have been sent before)."""
        with self.lock:
            return [a for a in self.acked if a[1] >= t]

    def begun_after(self, t):
        """Creates first sent after t and acknowledged."""
        with self.lock:
            return [a for a in self.acked if a[4] >= t]

    def stop(self):
        self.halt.set()
        self.join(30)
        assert not self.is_alive(), "creator did not stop"
        if self.error:
            raise self.error


def logdump(pool):
    return json.loads(famfsctl("logdump", pool, "--json", check=0).stdout)


def creates_in_pool(pool):
    """{name: extents} of every file the pool's log holds (checkpoint and
    records; the tests delete nothing)."""
    d = logdump(pool)
    out = {}
    for item in d["checkpoint"] + d["records"]:
        if item.get("type") in ("create", "file"):
            out[item.get("name", item.get("path", ""))] = item.get("extents", [])
    return out, d


def assert_no_overlap(extents_by_file):
    spans = sorted((e["offset"], e["offset"] + e["length"], f)
                   for f, ext in extents_by_file.items() for e in ext)
    for (a0, a1, fa), (b0, b1, fb) in zip(spans, spans[1:]):
        assert b0 >= a1, f"double allocation: {fa} [{a0},{a1}) and {fb} [{b0},{b1})"


def assert_fsck_clean(pool):
    r = famfsctl("fsck", pool, "--json", check=None)
    out = json.loads(r.stdout)
    assert out["clean"], out
    return out
