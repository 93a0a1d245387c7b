"""Finding the active master (docs/failover.md): two masters on one pool
(slots 1 and 2, their own ports on localhost), real daemons. A standby
answers every /v1/ request but GET /v1/masters with a 307 to the active
master (path and query kept), or 503 not-active when it has no address to
name; python requests (keeping its token), famfsctl and the agent follow
it; an agent configured with a dead address and the standby registers with
the active master, and heartbeats the new one after a failover without a
restart."""

import os
import re
import signal
import subprocess
import time

import pytest
import requests

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, FAMFSD, SPEC,
                      assert_no_sanitizer_report, famfsctl, free_port,
                      problem_name, require, stop_local, template_for)

LEASE = 2       # the default lease W, seconds


def wait_until(what, fn, timeout=15, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def masters_of(api):
    return api.get("/v1/masters", expect=200).json()


def master_args(slot, port, lease=LEASE, advertise=True):
    args = ["--slot", str(slot), "--lease-seconds", str(lease),
            "--reclaim-grace-ms", "0"]
    if advertise is True:
        args += ["--advertise", f"http://127.0.0.1:{port}"]
    elif advertise:
        args += ["--advertise", advertise]
    return args


@pytest.fixture
def pair(pool, master_factory):
    """(active, standby): slot 1 started first (it wins the first election),
    slot 2 beside it, both seen in the pool's slots. advertise1/2: True for
    their own address, False for none, or a URL; any1: slot 1 listens on
    0.0.0.0 (then it advertises nothing unless told)."""
    def start(lease=LEASE, advertise1=True, advertise2=True, any1=False,
              ports=None):
        p1, p2 = ports or (free_port(), free_port())
        a1 = master_args(1, p1, lease, advertise1)
        if any1:
            a1 += ["--listen", f"0.0.0.0:{p1}"]
        m1 = master_factory(pool, args=a1, port=p1)
        wait_until("slot 1 active", lambda: masters_of(m1.client())["active"] == 1)
        m2 = master_factory(pool, args=master_args(2, p2, lease, advertise2),
                            port=p2)
        wait_until("slot 2 seen as a standby", lambda: any(
            s["slot"] == 2 and s["state"] == "standby"
            for s in masters_of(m1.client())["masters"]))
        return m1, m2
    return start


def raw(m, method, path, token=ADMIN_TOKEN, validate=True, **kw):
    """One request, no redirect followed, checked against the spec."""
    kw.setdefault("timeout", 10)
    r = requests.request(method, m.url + path, allow_redirects=False,
                         headers={"Authorization": f"Bearer {token}"}, **kw)
    tpl = template_for(path.split("?")[0])
    if tpl and validate:
        SPEC.check(method, tpl, r)
    return r


class TrustingSession(requests.Session):
    """requests drops the Authorization header on a redirect to another
    host or port; a client that trusts the masters of its pool keeps it."""

    def rebuild_auth(self, prepared_request, response):
        return


def test_standby_answers_307_with_path_and_query(pair):
    m1, m2 = pair()
    api1 = m1.client()
    api1.put("/v1/dirs/d", json={}, expect=201)
    api1.put("/v1/files/d/a%20b", json={"size": 4096}, expect=201)
    for method, path, body in (
            ("PUT", "/v1/files/d/new", {"size": 1}),
            ("DELETE", "/v1/files/d/a%20b", None),
            ("GET", "/v1/files/d/a%20b", None),
            ("GET", "/v1/dirs/d?limit=5&cursor=x%2Cy", None),
            ("HEAD", "/v1/tenants", None),
            ("PUT", "/v1/tenants/t1/quota", {"max_bytes": 1}),
            ("POST", "/v1/batch", {"ops": [{"op": "create",
                                            "path": "d/batched", "size": 1}]}),
            ("POST", "/v1/agents/h1/heartbeat", {"agent_id": "h1"}),
            ("GET", "/v1/log?after=0&wait=30", None),
            ("GET", "/v1/no-such-thing", None)):
        r = raw(m2, method, path, json=body)
        assert r.status_code == 307, (method, path, r.status_code, r.text)
        assert r.headers["Location"] == m1.url + path, (method, path)
        if method != "HEAD":
            assert problem_name(r) == "standby"
            assert "slot 1 on host" in r.json()["detail"]
    # Unauthenticated: redirected all the same (the active one says 401).
    r = requests.get(m2.url + "/v1/tenants", allow_redirects=False, timeout=10)
    assert r.status_code == 307
    # Nothing was done by the standby: the file is still there.
    api1.get("/v1/files/d/a%20b", expect=200)
    api1.get("/v1/files/d/new", expect=404)
    api1.get("/v1/files/d/batched", expect=404)
    # What describes the process itself stays local.
    assert requests.get(m2.url + "/healthz", timeout=10).status_code == 200
    r = raw(m2, "GET", "/v1/pool")
    assert r.status_code == 200 and r.json()["role"] == "standby", r.text
    assert r.json()["slot"] == 2
    r = raw(m2, "GET", "/metrics")
    assert r.status_code == 200 and "famfsd_" in r.text


def test_masters_on_both(pair):
    m1, m2 = pair()
    for m, slot, role in ((m1, 1, "active"), (m2, 2, "standby")):
        r = raw(m, "GET", "/v1/masters")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["active"] == 1 and doc["url"] == m1.url, doc
        assert doc["epoch"] >= 1
        assert doc["self"] == {"slot": slot, "role": role}, doc
        by_slot = {s["slot"]: s for s in doc["masters"]}
        assert set(by_slot) == {1, 2}, doc
        assert by_slot[1]["state"] == "active"
        assert by_slot[1]["url"] == m1.url
        assert by_slot[1]["pid"] == m1.proc.pid
        assert by_slot[1]["epoch"] == doc["epoch"]
        assert by_slot[1]["lease_seconds"] == LEASE
        assert by_slot[2]["state"] == "standby"
        assert by_slot[2]["url"] == m2.url
        assert by_slot[2]["pid"] == m2.proc.pid
    # Admin only, as GET /v1/pool.
    assert raw(m2, "GET", "/v1/masters", token=AGENT_TOKEN).status_code == 403
    r = requests.get(m2.url + "/v1/masters", timeout=10)
    assert r.status_code == 401
    # Any other method there is the active master's to answer (405).
    r = raw(m2, "PUT", "/v1/masters", validate=False)
    assert r.status_code == 307, r.text


def test_clients_follow_and_create(pair, tmp_path):
    m1, m2 = pair()
    s = TrustingSession()
    s.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    r = s.put(m2.url + "/v1/files/via-standby", json={"size": 4096},
              timeout=10)
    assert r.status_code == 201, r.text
    assert r.history and r.history[0].status_code == 307
    SPEC.check("PUT", "/v1/files/{path}", r)
    m1.client().get("/v1/files/via-standby", expect=200)
    # famfsctl: the standby alone, a dead address first, --master too.
    dead = f"http://127.0.0.1:{free_port()}"
    tok = ["--token", ADMIN_TOKEN]
    famfsctl("create", "/ctl-a", "--size", "4096", "--url", m2.url, *tok,
             check=0)
    famfsctl("create", "/ctl-b", "--size", "4096", "--url",
             f"{dead},{m2.url}", *tok, check=0)
    p = famfsctl("stat", "/ctl-b", "--json", "--master", f"{dead},{m2.url}",
                 *tok, check=0)
    assert '"size"' in p.stdout, p.stdout
    p = famfsctl("ls", "/", "--json", *tok, check=0,
                 env={**os.environ, "FAMFSD_URL": f"{dead},{m2.url}"})
    assert "ctl-a" in p.stdout and "ctl-b" in p.stdout, p.stdout
    for name in ("/via-standby", "/ctl-a", "/ctl-b"):
        m1.client().get("/v1/files" + name, expect=200)
    # No master at all: every address is named.
    p = famfsctl("stat", "/ctl-a", "--url", f"{dead},http://127.0.0.1:"
                 f"{free_port()}", *tok, check=8)
    assert p.stderr.count("failed to reach the master at") == 2, p.stderr


def test_cost_of_a_307_hop(pair):
    """Measured, not asserted tightly: a GET through the standby costs one
    more round trip on keep-alive connections."""
    m1, m2 = pair()
    m1.client().put("/v1/files/f", json={"size": 1}, expect=201)
    s = TrustingSession()
    s.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    n = 200

    def run(base):
        t = time.perf_counter()
        for _ in range(n):
            assert s.get(base + "/v1/files/f", timeout=10).status_code == 200
        return (time.perf_counter() - t) / n * 1e6

    run(m1.url)
    run(m2.url)
    direct, hop = run(m1.url), run(m2.url)
    print(f"\nGET /v1/files/f: {direct:.0f} us direct, {hop:.0f} us through "
          f"the standby's 307 ({hop - direct:.0f} us per hop)")
    assert hop < direct + 50000


def test_not_active_without_an_address(pair):
    """The active master advertises none (it listens on 0.0.0.0 without
    --advertise): the standby cannot redirect and says so."""
    m1, m2 = pair(advertise1=False, any1=True)
    doc = masters_of(m2.client())
    assert doc["active"] == 1 and doc["url"] is None, doc
    r = raw(m2, "PUT", "/v1/files/x", json={"size": 1})
    assert r.status_code == 503, r.text
    assert problem_name(r) == "not-active"
    assert r.headers["Retry-After"] == "1"
    assert re.fullmatch(r"the active master, slot 1 on host \S+, advertises "
                        r"no address", r.json()["detail"]), r.json()
    # famfsctl with only this standby says what it said.
    p = famfsctl("stat", "/x", "--url", m2.url, "--token", ADMIN_TOKEN, check=1)
    assert "not-active" in p.stderr and "advertises no address" in p.stderr
    # Then a master that cannot be reached: each is named for what it did
    # (the standby's line had printed whatever its error buffer held).
    dead = f"http://127.0.0.1:{free_port()}"
    p = famfsctl("stat", "/x", "--url", f"{m2.url},{dead}",
                 "--token", ADMIN_TOKEN, check=8)
    assert f"the master at '{m2.url}' answered 503: not the active master" \
        in p.stderr, p.stderr
    assert f"failed to reach the master at '{dead}'" in p.stderr, p.stderr
    assert p.stderr.count("famfsctl:") == 2, p.stderr


def test_not_active_on_its_own_address(pair):
    """A copied configuration: the standby advertises the active master's
    address. Redirecting there would loop for a client that reached the
    standby by that address: 503 not-active instead."""
    p1, p2 = free_port(), free_port()
    m1, m2 = pair(advertise2=f"http://127.0.0.1:{p1}", ports=(p1, p2))
    r = raw(m2, "GET", "/v1/tenants")
    assert r.status_code == 503, r.text
    assert problem_name(r) == "not-active"
    assert "advertises this master's own address" in r.json()["detail"]


def test_not_active_while_the_active_master_is_paused(pair):
    """SIGSTOP the active master under a long lease (10 s: renewals every
    2.5 s, a takeover only after 10 s): at first the standby still names
    it (a slow renewal is not a dead master), then, its heartbeat unchanged
    past one and a half renewals, answers not-active; once it resumes and
    renews, the 307 is back. Nobody took over meanwhile."""
    lease = 10
    m1, m2 = pair(lease=lease)
    os.kill(m1.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = raw(m2, "GET", "/v1/tenants")
        assert r.status_code == 307 and r.headers["Location"] == \
            m1.url + "/v1/tenants", r.text
        time.sleep(lease * 3 / 8 + 0.75)
        r = raw(m2, "PUT", "/v1/files/x", json={"size": 1})
        assert time.monotonic() - t0 < lease - 1, "too slow to tell"
        assert r.status_code == 503, r.text
        assert problem_name(r) == "not-active"
        assert r.headers["Retry-After"] == "1"
        assert re.match(r"the active master, slot 1 on host \S+, has not "
                        r"renewed its lease for \d+\.\d s", r.json()["detail"])
        doc = raw(m2, "GET", "/v1/masters").json()
        assert doc["active"] == 1 and doc["self"]["role"] == "standby", doc
    finally:
        os.kill(m1.proc.pid, signal.SIGCONT)
    wait_until("the 307 back after the renewal", lambda: raw(
        m2, "GET", "/v1/tenants").status_code == 307, timeout=lease)
    assert masters_of(m2.client())["active"] == 1


class Agent:
    """famfsd agent with FUSE on this host (root)."""

    def __init__(self, pool, workdir, master, name="agent"):
        self.mount = os.path.join(str(workdir), name)
        os.makedirs(self.mount, exist_ok=True)
        self.log = os.path.join(str(workdir), name + ".stderr")
        self.id = name
        with open(self.log, "w") as err:
            self.proc = subprocess.Popen(
                [FAMFSD, "agent", "--pool", pool, "--mount", self.mount,
                 "--poll-ms", "10", "--master", master, "--token",
                 AGENT_TOKEN, "--agent-id", name],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err)
        wait_until(f"{name} mounted", lambda: self.proc.poll() is not None
                   or os.path.ismount(self.mount))
        assert self.proc.poll() is None, self.stderr()

    def stderr(self):
        with open(self.log) as f:
            return f.read()

    def close(self):
        stop_local(self.proc, self.mount, 10)
        assert_no_sanitizer_report(self.stderr())


@pytest.fixture
def agent_factory(tmp_path):
    require(os.geteuid() == 0, "FUSE mounts need root")
    require(os.path.exists("/dev/fuse"), "/dev/fuse is missing")
    started = []

    def start(pool, master, name="agent"):
        a = Agent(pool, tmp_path, master, name)
        started.append(a)
        return a

    yield start
    for a in started:
        a.close()


def heartbeat_of(m, agent_id):
    """The agent as m lists it once it heartbeated to m (a new master lists
    the agents of the pool's roster at once, as "unreported")."""
    agents = m.client().get("/v1/agents", expect=200).json()["agents"]
    return next((x for x in agents if x["agent_id"] == agent_id and
                 x["state"] == "live"), None)


def test_agent_finds_and_follows_the_active_master(pool, pair, agent_factory):
    m1, m2 = pair()
    dead = f"http://127.0.0.1:{free_port()}"
    a = agent_factory(pool, f"{dead},{m2.url}")
    wait_until("the agent registered with the active master",
               lambda: heartbeat_of(m1, "agent"))
    m1.client().put("/v1/files/seen", json={"size": 4096}, expect=201)
    wait_until("the create in the mount",
               lambda: os.path.exists(os.path.join(a.mount, "seen")))
    assert re.search(r"the pool names slot 1 on host \S+ as the active "
                     r"master, epoch \d+, at " + re.escape(m1.url), a.stderr())
    # The active master dies; the standby takes over after the lease.
    t0 = time.monotonic()
    m1.kill()
    wait_until("slot 2 active", lambda: masters_of(m2.client())["active"] == 2,
               timeout=6 * LEASE + 10)
    took = time.monotonic() - t0
    first = wait_until("the agent heartbeats slot 2",
                       lambda: heartbeat_of(m2, "agent"), timeout=15)
    print(f"\ntakeover {took:.2f} s after kill -9; agent at slot 2 "
          f"{time.monotonic() - t0:.2f} s after it")
    assert a.proc.poll() is None, a.stderr()
    m2.client().put("/v1/files/after", json={"size": 4096}, expect=201)
    wait_until("a create of the new master in the mount",
               lambda: os.path.exists(os.path.join(a.mount, "after")))
    log = a.stderr()
    assert re.search(r"the pool names slot 2 on host \S+ as the active "
                     r"master, epoch \d+, at " + re.escape(m2.url), log), log
    # Logged once each, not at every heartbeat.
    assert log.count("as the active master") == 2, log
    assert first["applied_seq"] >= 0


def test_standby_does_not_store_a_body(pair, tmp_path):
    """A body over the API's 1 MiB limit is the active master's to refuse:
    the standby redirects without keeping it (drained, not stored), and a
    client that waits for 100 Continue is answered before it sends it."""
    m1, m2 = pair()
    big = b'{"size": 1, "pad": "' + b"x" * (2 << 20) + b'"}'
    r = requests.put(
        m2.url + "/v1/files/big", data=big, allow_redirects=False,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                 "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 307, r.text
    body = tmp_path / "big.json"
    body.write_bytes(big)
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} "
                        "%{size_upload}", "-X", "PUT", "--data-binary",
                        f"@{body}", "-H", "Expect: 100-continue", "-H",
                        f"Authorization: Bearer {ADMIN_TOKEN}",
                        m2.url + "/v1/files/big"], capture_output=True,
                       text=True, timeout=30)
    code, sent = p.stdout.split()
    assert code == "307", (p.stdout, p.stderr)
    assert int(float(sent)) < len(big), p.stdout
    # Following it, the active master refuses the body as too large.
    s = TrustingSession()
    s.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    r = s.put(m2.url + "/v1/files/big", data=big, timeout=10,
              headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text


class Redirector:
    """An HTTP server that answers everything with a 307 to target + the
    request's path, recording what it saw."""

    def __init__(self, target=None, status=307):
        """target None: this server itself (a loop)."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading
        outer = self
        self.seen = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                outer.seen.append((self.command, self.path))
                self.send_response(status)
                self.send_header("Location", (target or outer.url) +
                                 self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_agent_and_famfsctl_follow_a_307_with_their_token(pool, master_factory,
                                                          agent_factory):
    """The pool publishes no address (the master listens on 0.0.0.0 and
    advertises none), so the agent goes by its list, whose one entry
    redirects: it follows with method, body and token, and the heartbeat
    registers; so does famfsctl. A redirect to itself is not followed
    forever."""
    port = free_port()
    m = master_factory(pool, port=port, args=[
        "--listen", f"0.0.0.0:{port}", "--reclaim-grace-ms", "0"])
    assert masters_of(m.client())["url"] is None
    red = Redirector(m.url)
    loop = Redirector()
    try:
        a = agent_factory(pool, red.url)
        wait_until("the heartbeat through the redirect",
                   lambda: heartbeat_of(m, "agent"))
        assert ("POST", "/v1/agents/agent/heartbeat") in red.seen
        assert "talking to the master at " + m.url in a.stderr(), a.stderr()
        famfsctl("create", "/via-307", "--size", "1", "--url", red.url,
                 "--token", ADMIN_TOKEN, check=0)
        m.client().get("/v1/files/via-307", expect=200)
        # A redirect to the URL just asked is not followed.
        p = famfsctl("stat", "/via-307", "--url", loop.url, "--token",
                     ADMIN_TOKEN, check=1)
        assert "307" in p.stderr, p.stderr
        assert len(loop.seen) == 1, loop.seen
        # Nor a chain longer than two hops: the third 307 is the answer.
        c = Redirector(red.url)
        b = Redirector(c.url)
        p = famfsctl("stat", "/via-307", "--url", Redirector(b.url).url,
                     "--token", ADMIN_TOKEN, check=1)
        assert "307" in p.stderr, p.stderr
        assert ("GET", "/v1/files/via-307") not in red.seen, red.seen
    finally:
        red.close()
        loop.close()
