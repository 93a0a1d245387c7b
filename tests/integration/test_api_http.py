"""HTTP details of the master's API against a real famfsd: heartbeats at
/v1/agents/{agent_id}/heartbeat (the deprecated path beside it shadows no
agent), every 405 declared in the spec with the spec's Allow, HEAD wherever
GET, a body with a duplicate key is 400 at any depth, a fenced master and a
full log answer 503 with Retry-After, and every *_ns time comes with the
same instant as an RFC 3339 string."""

import calendar
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from conftest import (ADMIN_TOKEN, AGENT_TOKEN, SPEC, free_port, problem_name,
                      template_for)
import test_agent_fuse

agents = test_agent_fuse.agents      # the FUSE agent fixture
MiB = 1 << 20
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH")


def hb_body(agent_id=None, **kw):
    body = {"host": "h", "address": "", "applied_seq": 0, "open_inos": [],
            "generation": 1, **kw}
    if agent_id is not None:
        body["agent_id"] = agent_id
    return body


def agent_ids(api):
    return {a["agent_id"]: a["state"]
            for a in api.get("/v1/agents", expect=200).json()["agents"]}


# ---- heartbeats -----------------------------------------------------------

def test_heartbeat_at_the_agents_own_path(master, api):
    ag = master.client("agent")
    r = ag.post("/v1/agents/n1/heartbeat", json=hb_body(), expect=200).json()
    assert r["seq"] == 0 and r["epoch"] >= 1
    ag.post("/v1/agents/n2/heartbeat", json=hb_body("n2"), expect=200)
    assert agent_ids(api) == {"n1": "live", "n2": "live"}
    # The body's id, when given, is the path's.
    r = ag.post("/v1/agents/n3/heartbeat", json=hb_body("n1"), expect=400)
    assert "n3" in r.json()["detail"]
    assert "n3" not in agent_ids(api)


def test_an_agent_named_heartbeat_can_be_evicted(master, api):
    """DELETE /v1/agents/heartbeat was 405 while the heartbeat lived there."""
    ag = master.client("agent")
    ag.post("/v1/agents/heartbeat/heartbeat", json=hb_body("heartbeat"),
            expect=200)
    assert agent_ids(api) == {"heartbeat": "live"}
    ev = api.delete("/v1/agents/heartbeat", expect=200).json()
    assert ev["agent_id"] == "heartbeat" and ev["state"] == "evicted"
    assert agent_ids(api) == {"heartbeat": "evicted"}
    # The eviction's 409 reaches that agent as any other.
    r = ag.post("/v1/agents/heartbeat/heartbeat", json=hb_body(), expect=409)
    assert "evicted" in r.json()["detail"]


def test_the_deprecated_heartbeat_path_still_works(master, api):
    ag = master.client("agent")
    ag.post("/v1/agents/heartbeat", json=hb_body("old"), expect=200)
    assert agent_ids(api) == {"old": "live"}
    # There the id can come only from the body.
    r = ag.post("/v1/agents/heartbeat", json=hb_body(), expect=400)
    assert "agent_id" in r.json()["detail"]
    # The path serves POST (the old heartbeat) and DELETE (the agent
    # named heartbeat), nothing else.
    r = api.get("/v1/agents/heartbeat", expect=405)
    assert r.headers["Allow"] == "POST, DELETE"
    api.delete("/v1/agents/heartbeat", expect=404)     # no such agent


class RecordingProxy:
    """A plain HTTP proxy in front of the master that records each request
    line, to see which paths a real agent uses."""

    def __init__(self, target):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                outer.requests.append((self.command, self.path))
                keep = ("authorization", "content-type")
                r = requests.request(self.command, target + self.path,
                                     data=body, timeout=90, headers={
                                         k: v for k, v in self.headers.items()
                                         if k.lower() in keep})
                self.send_response(r.status_code)
                if "Content-Type" in r.headers:
                    self.send_header("Content-Type", r.headers["Content-Type"])
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PUT = do_DELETE = forward

            def log_message(self, *args):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_the_agent_heartbeats_at_its_own_path(pool, master_factory, agents,
                                              tmp_path):
    """The real agent's client, through a recording proxy: its heartbeats
    go to /v1/agents/{its --agent-id}/heartbeat, never the old path. The
    master advertises the proxy: an agent goes to the address the pool
    publishes before its --master list (docs/failover.md)."""
    tok = tmp_path / "agent.token"
    tok.write_text(AGENT_TOKEN + "\n")
    port = free_port()
    proxy = RecordingProxy(f"http://127.0.0.1:{port}")
    master = master_factory(pool, port=port, args=[
        "--reclaim-grace-ms", "0", "--advertise", proxy.url])
    try:
        agents(master.pool, "a1", extra=["--master", proxy.url, "--token-file",
                                         str(tok), "--agent-id", "node-7"])
        deadline = time.monotonic() + 20
        while agent_ids(master.client()) != {"node-7": "live"}:
            assert time.monotonic() < deadline, proxy.requests
            time.sleep(0.1)
    finally:
        proxy.close()
    beats = [r for r in proxy.requests if r[1].endswith("/heartbeat")]
    assert beats and set(beats) == {("POST", "/v1/agents/node-7/heartbeat")}


# ---- 405 and Allow -------------------------------------------------------

def concrete(template):
    return (template.replace("{path}", "x").replace("{tenant}", "tA")
            .replace("{agent_id}", "h9").replace("{unit}", "0"))


def test_every_operation_declares_the_405():
    for template, item in SPEC.doc["paths"].items():
        for verb, op in item.items():
            if verb == "parameters":
                continue
            assert "405" in op["responses"], (verb, template)


def test_every_method_a_path_lacks_is_405_with_the_spec_allow(api):
    """Each path of the spec with each method: a declared one is served
    (its reply checked against the spec by the client), any other is 405
    naming exactly the declared methods, HEAD wherever GET."""
    for template, item in SPEC.doc["paths"].items():
        declared = [v.upper() for v in item if v != "parameters"]
        if "GET" in declared:
            declared.append("HEAD")
        path = concrete(template)
        assert template_for(path) == template, path
        for method in METHODS:
            body = b"{}" if method in ("PUT", "POST", "PATCH") else None
            r = api.request(method, path, data=body, timeout=30,
                            headers={"Content-Type": "application/json"})
            if method in declared:
                assert r.status_code != 405, (method, path, r.text)
                continue
            assert r.status_code == 405, (method, path, r.status_code)
            allow = [m.strip() for m in r.headers["Allow"].split(",")]
            assert sorted(allow) == sorted(declared), (method, path, allow)


# ---- HEAD ------------------------------------------------------------------

def raw_exchange(base, request):
    """Sends request bytes, reads until the server closes; (head, body)."""
    host, port = base.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body


def headers_of(head):
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs


def test_head_is_get_without_the_body(api, master):
    api.put("/v1/dirs/d", expect=201)
    api.put("/v1/files/d/f", json={"size": MiB}, expect=201)
    api.put("/v1/tenants/tA/quota", json={"max_bytes": 0, "max_files": 0},
            expect=200)
    master.client("agent").post("/v1/agents/h1/heartbeat", json=hb_body(),
                                expect=200)
    # (path, whether two replies have the same length)
    cases = [("/healthz", True), ("/v1/pool", True), ("/v1/files", True),
             ("/v1/files/d/f", True), ("/v1/dirs", True), ("/v1/dirs/d", True),
             ("/v1/tenants", True), ("/v1/tenants/tA", True),
             ("/v1/agents", False), ("/v1/devices", True),
             ("/v1/log?after=0&wait=0", True), ("/metrics", False),
             ("/v1/files/d/missing", True), ("/v1/tenants/nobody", True)]
    for path, stable in cases:
        got = {}
        for method in ("GET", "HEAD"):
            req = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
                   "Connection: close\r\n\r\n").encode()
            head, body = raw_exchange(master.url, req)
            got[method] = (*headers_of(head), body)
            # And through the spec-checking client.
            api.request(method, path.split("?")[0], expect=got[method][0])
        (gs, gh, gbody), (hs, hh, hbody) = got["GET"], got["HEAD"]
        assert hs == gs, (path, gs, hs)
        assert hbody == b"", (path, hbody)
        assert gbody, path
        for h in ("content-type", "allow", "www-authenticate", "retry-after"):
            assert hh.get(h) == gh.get(h), (path, h)
        if stable:
            assert hh["content-length"] == gh["content-length"] == \
                str(len(gbody)), (path, hh, gh)


def test_head_where_there_is_no_get_is_405(api):
    r = api.head("/v1/agents/h1", expect=405)
    assert r.headers["Allow"] == "DELETE" and r.content == b""
    r = api.head("/v1/tenants/tA/quota", expect=405)
    assert r.headers["Allow"] == "PUT"


# ---- duplicate keys -------------------------------------------------------

def put_raw(api, path, body):
    return api.put(path, data=body.encode(),
                   headers={"Content-Type": "application/json"})


def test_a_duplicate_key_is_400_and_changes_nothing(api):
    for body in ('{"size":1,"size":2000000}', '{"size":2000000,"size":1}',
                 '{"size":1,"si\\u007ae":2}',         # the same key, escaped
                 '{"size":1,"mode":420,"uid":0,"mode":384}',
                 '{ "size" : 1 , "size" : 1 }'):       # even with one value
        r = put_raw(api, "/v1/files/big", body)
        assert r.status_code == 400, (body, r.text)
        assert problem_name(r) == "validation" and "twice" in r.json()["detail"]
    api.get("/v1/files/big", expect=404)
    p = api.get("/v1/pool", expect=200).json()
    assert p["files"] == 0 and p["used_bytes"] == 0 and p["last_seq"] == 0
    r = api.put("/v1/dirs/d", data=b'{"mode":493,"mode":448}',
                headers={"Content-Type": "application/json"}, expect=400)
    assert "twice" in r.json()["detail"]
    r = api.put("/v1/tenants/tA/quota", expect=400,
                data=b'{"max_bytes":1,"max_files":0,"max_bytes":0}',
                headers={"Content-Type": "application/json"})
    assert "twice" in r.json()["detail"]


def inventory(memdevs):
    return {"memdevs": memdevs, "regions": [], "namespaces": [],
            "dax_regions": [], "dax_devices": []}


def memdev(name):
    return {"memdev": name, "serial": 1, "ram_size": 0, "pmem_size": 0,
            "regions": []}


def test_a_duplicate_key_in_a_nested_object_is_400(master, api):
    ag = master.client("agent")
    good = json.dumps(hb_body(devices=inventory([memdev("mem0"),
                                                 memdev("mem1")])))
    # The same key in two objects is no duplicate, nor is a ':' or an
    # escaped quote inside a string.
    tricky = good.replace('"host": "h"', '"host": "a\\":b{\\"c\\":1}"')
    assert tricky != good
    for body in (good, tricky):
        ag.post("/v1/agents/n1/heartbeat", data=body.encode(), expect=200,
                headers={"Content-Type": "application/json"})
    dups = [good.replace('"memdevs": [', '"memdevs": [], "memdevs": ['),
            good.replace('"memdev": "mem1"', '"memdev": "mem1", "memdev": "mem2"'),
            good.replace('"regions": []}]', '"regions": [], "regions": []}]')]
    for body in dups:
        assert body != good
        r = ag.post("/v1/agents/n2/heartbeat", data=body.encode(), expect=400,
                    headers={"Content-Type": "application/json"})
        assert "twice" in r.json()["detail"], body
    assert set(agent_ids(api)) == {"n1"}
    # After the JSON value: whitespace only, and no NUL byte either.
    r = put_raw(api, "/v1/files/z", '{"size":1}\u0000')
    assert r.status_code == 400 and "after the JSON value" in r.json()["detail"]


# ---- 503 and Retry-After ---------------------------------------------------

def test_a_fenced_master_answers_503_with_retry_after(pool, master_factory):
    """A write that arrives after another master took the lease. The
    request starts before the takeover and its body ends after the old
    master has fenced itself (it finishes requests in progress before it
    exits), so the reply is the fenced write's and nothing else."""
    first = master_factory(pool, args=["--lease-seconds", "7"])
    first.client().put("/v1/files/before", json={"size": 1}, expect=201)
    body = b'{"size": 4096}'
    host, port = first.url.split("//", 1)[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=30)
    try:
        s.sendall((f"PUT /v1/files/late HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
                   "Content-Type: application/json\r\n"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:5])
        time.sleep(0.5)         # the server has read the request line
        second = master_factory(pool, args=["--slot", "2", "--force-takeover"],
                                start=False)
        second.spawn()
        deadline = time.monotonic() + 15
        while "refusing all further writes" not in first.stderr():
            assert time.monotonic() < deadline, first.stderr()
            assert first.running(), first.stderr()
            time.sleep(0.01)
        s.sendall(body[5:])
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    status, hdrs = headers_of(head.decode())
    problem = json.loads(payload)
    assert status == 503, data
    assert problem["type"].endswith("/fenced") and problem["status"] == 503
    SPEC.validate_component(problem, "Problem")
    assert hdrs["retry-after"] == "7"       # its lease period
    assert "another master took the lease" in problem["detail"]
    assert first.wait_exit(15) != 0
    second.wait_ready()
    api2 = second.client()
    api2.get("/v1/files/before", expect=200)
    api2.get("/v1/files/late", expect=404)


# ---- RFC 3339 times --------------------------------------------------------

RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{9})Z$")


def rfc3339_ns(s):
    m = RFC3339.match(s)
    assert m, s
    secs = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    return secs * 10**9 + int(m.group(2))


def assert_times(obj, where):
    """Every *_ns field has its string twin, equal to the nanosecond."""
    n = 0
    for k, v in obj.items():
        if k.endswith("_ns"):
            twin = k[:-3]
            assert twin in obj, (where, k)
            assert rfc3339_ns(obj[twin]) == v, (where, k, v, obj[twin])
            n += 1
    return n


def test_every_ns_time_has_an_rfc3339_twin(master, api):
    f = api.put("/v1/files/f", json={"size": 1}, expect=201).json()
    api.put("/v1/dirs/d", expect=201)
    now = time.time_ns()
    assert abs(f["mtime_ns"] - now) < 60 * 10**9
    assert assert_times(f, "create") == 1
    assert assert_times(api.get("/v1/files/f").json(), "stat") == 1
    assert assert_times(api.get("/v1/files").json(), "root") == 1
    for e in api.get("/v1/dirs").json()["entries"]:
        assert assert_times(e, "listing") == 1
    ag = master.client("agent")
    ag.post("/v1/agents/n1/heartbeat", expect=200,
            json=hb_body(devices=inventory([memdev("mem0")])))
    a = api.get("/v1/agents").json()["agents"][0]
    assert assert_times(a, "agent") == 1
    assert abs(a["last_heartbeat_ns"] - time.time_ns()) < 60 * 10**9
    h = api.get("/v1/devices").json()["hosts"][0]
    assert assert_times(h, "devices") == 1
    assert assert_times(api.delete("/v1/agents/n1").json(), "evict") == 1
