"""Shared helpers for the integration tests: pool files, a real famfsd
master process, and an API client that checks every response against
api/openapi.yaml.

Generic on purpose, so tests of other daemons (the agent) can reuse them:

    pool = make_pool(tmp_path / "pool.img")
    with Master(pool, tmp_path) as m:          # started, /healthz answered
        api = m.client()                        # admin token
        api.put("/v1/files/a", json={"size": 1}, expect=201)
        m.kill()                                # SIGKILL, like a crash
        m.start()                               # same port, same tokens

Every started process is killed and reaped at fixture teardown even when a
test fails; its stderr stays in the test's tmp directory and is checked for
sanitizer reports.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import time

import jsonschema
import pytest
import requests
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
FAMFSD = os.path.join(BUILD, "famfsd")
FAMFSCTL = os.path.join(BUILD, "famfsctl")
SPEC_PATH = os.path.join(ROOT, "api", "openapi.yaml")
IN_CI = os.environ.get("CI") == "true"

# Tokens of the default token file (16+ characters each).
ADMIN_TOKEN = "admin-0123456789abcdef"
AGENT_TOKEN = "agent-0123456789abcdef"
TENANT_TOKENS = {"tA": "tenant-a-0123456789abcdef", "tB": "tenant-b-0123456789abcdef"}

SANITIZER_WORDS = ("AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "ThreadSanitizer")


def require(condition, what):
    """A missing capability skips a test locally and fails it under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"missing capability (CI=true forbids skipping): {what}")
    pytest.skip(what)


def vm_ready(vm):
    """The start of a VM test file's fixture: what this host lacks to boot
    guests fails the file under CI=true (skips it elsewhere); then the
    module, the guest tool and the initramfs are built (vm.build()) and the
    binaries the guests run are copied (vm.Snapshot). Returns the kernel
    version and the snapshot; the caller closes the snapshot."""
    miss = vm.missing()
    require(not miss, "the VM tests need " + "; ".join(miss))
    ver, _, _ = vm.build()
    return ver, vm.Snapshot(FAMFSD, FAMFSCTL)


def read_log(path):
    """A daemon's log so far; "" before it wrote one."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


# Values of the pool format, read from its one definition,
# kmod/uapi/famfsd_format.h, so tests do not hard-code offsets.
with open(os.path.join(ROOT, "kmod", "uapi", "famfsd_format.h")) as _f:
    _FORMAT_H = _f.read()


def format_h(pattern):
    """The first group of pattern in famfsd_format.h, as an integer."""
    m = re.search(pattern, _FORMAT_H)
    assert m, f"{pattern} not in famfsd_format.h"
    return int(m.group(1), 0)


LOG_HDR_SIZE = format_h(r"#define FAMFS_LOG_HDR_SIZE\s+(\d+)u")
LOG_AREAS = format_h(r"#define FAMFS_LOG_AREAS\s+(\d+)u")


def log_area(info, copy):
    """Pool offset of copy 0 or 1 of the current log generation's area
    (famfs_log_area_offset() in famfsd/lib/log.h), from famfsctl info's
    log_offset, log_size and log_generation: the log holds four areas,
    generations use the two pairs in turn, copy 1 lies half the log after
    copy 0. The area's body (checkpoint, then records) starts LOG_HDR_SIZE
    in."""
    area = info["log_size"] // LOG_AREAS & ~(LOG_HDR_SIZE - 1)
    return info["log_offset"] + area * (copy * 2 + ((info["log_generation"] - 1) & 1))

_FIELD_SIZES = {"__le64": 8, "__le32": 4, "__le16": 2, "__u8": 1, "char": 1}


def _format_value(expr):
    """A size in famfsd_format.h: "160", "FAMFS_CACHELINE", "3 * FAMFS_CACHELINE",
    "FAMFS_URL_MAX + 1"."""
    if "+" in expr:
        return sum(_format_value(t) for t in expr.split("+"))
    value = 1
    for term in expr.split("*"):
        term = term.strip()
        value *= int(term) if term.isdigit() else \
            format_h(r"#define %s\s+(\d+)u" % re.escape(term))
    return value


def format_struct(name):
    """offsetof() of each field of struct NAME in famfsd_format.h, and its
    size as "sizeof": summed from the definition (fixed-width fields and no
    padding, as the header promises), checked against its _Static_assert."""
    m = re.search(r"\nstruct %s \{(.*?)\n\};" % re.escape(name), _FORMAT_H, re.S)
    assert m, f"struct {name} not in famfsd_format.h"
    layout, at = {}, 0
    for decl in re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S).split(";"):
        if not decl.strip():
            continue
        f = re.fullmatch(r"\s*(struct \w+|\w+)\s+(\w+)(?:\[([\w +*]+)\])?\s*", decl)
        assert f, f"struct {name}: cannot read '{decl.strip()}'"
        kind, field, count = f.groups()
        size = format_struct(kind.split()[1])["sizeof"] \
            if kind.startswith("struct ") else _FIELD_SIZES[kind]
        layout[field] = at
        at += size * (_format_value(count) if count else 1)
    want = re.search(r"sizeof\(struct %s\) == ([^,]+)," % re.escape(name), _FORMAT_H)
    assert want and _format_value(want.group(1)) == at, (name, at)
    layout["sizeof"] = at
    return layout


def mounted(path):
    """Whether path is a mount point, also one whose FUSE daemon is gone
    (os.path.ismount says no there: its lstat fails with ENOTCONN)."""
    path = os.path.abspath(path)
    with open("/proc/self/mounts") as f:
        return any(line.split()[1].replace("\\040", " ") == path
                   for line in f)


def stop_local(proc, mount, timeout=15):
    """SIGTERM, SIGKILL past timeout; a mount it left is detached lazily.
    False when it had to be killed."""
    by_itself = True
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            by_itself = False
            proc.kill()
            proc.wait(timeout)
    if mounted(mount):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    return by_itself


def assert_no_sanitizer_report(text):
    assert not [w for w in SANITIZER_WORDS if w in text], text


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def famfsctl(*args, check=None, timeout=120, env=None):
    p = subprocess.run([FAMFSCTL, *map(str, args)], capture_output=True,
                       text=True, timeout=timeout, env=env)
    if check is not None:
        assert p.returncode == check, (args, p.returncode, p.stdout, p.stderr)
    return p


def make_pool(path, size="4G", alloc_unit=None, log_size=None):
    """Formats a sparse pool file and returns its path as a string."""
    args = ["mkfs", str(path), "--create", size]
    if alloc_unit:
        args += ["--alloc-unit", alloc_unit]
    if log_size:
        args += ["--log-size", log_size]
    famfsctl(*args, check=0)
    return str(path)


def write_tokens(path, admin=ADMIN_TOKEN, agent=AGENT_TOKEN, tenants=None):
    tenants = TENANT_TOKENS if tenants is None else tenants
    lines = ["# famfsd test tokens: TOKEN ROLE [TENANT]"]
    if admin:
        lines.append(f"{admin} admin")
    if agent:
        lines.append(f"{agent} agent")
    lines += [f"{tok} tenant {name}" for name, tok in tenants.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return str(path)


class Master:
    """A famfsd master on a pool, with its own port and token file."""

    def __init__(self, pool, workdir, args=(), tokens_file=None, port=None,
                 start=True, name="master", tls=None, env=None):
        """tls: (cert_path, key_path) to serve HTTPS; clients then verify
        against cert_path. env: variables added to the test's environment
        for the process (self.env, read at each start)."""
        self.pool = str(pool)
        self.tls = tls
        self.scheme = "https" if tls else "http"
        self.verify = tls[0] if tls else True
        self.workdir = str(workdir)
        self.port = port or free_port()
        self.name = name
        self.extra = list(args)
        self.env = dict(env or {})
        self.tokens_file = tokens_file or write_tokens(
            os.path.join(self.workdir, f"{name}.tokens"))
        self.admin_token = ADMIN_TOKEN
        self.agent_token = AGENT_TOKEN
        self.tenant_tokens = dict(TENANT_TOKENS)
        self.proc = None
        self.stderr_path = os.path.join(self.workdir, f"{name}.stderr")
        self.stdout_path = os.path.join(self.workdir, f"{name}.stdout")
        self.runs = 0
        if start:
            self.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def argv(self):
        tls = ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]] if self.tls else []
        return [FAMFSD, "master", "--pool", self.pool, "--listen",
                f"127.0.0.1:{self.port}", "--tokens", self.tokens_file,
                *tls, *self.extra]

    def spawn(self):
        """Starts the process without waiting for it to serve."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        mode = "w" if self.runs == 1 else "a"
        self._err = open(self.stderr_path, mode)
        self._out = open(self.stdout_path, mode)
        self.proc = subprocess.Popen(self.argv(), stdout=self._out,
                                     stderr=self._err, stdin=subprocess.DEVNULL,
                                     env={**os.environ, **self.env})
        return self.proc

    def start(self, timeout=20):
        self.spawn()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=20):
        """Polls /healthz until it answers; fails at once if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                pytest.fail(f"famfsd master exited with {rc} before serving:\n"
                            f"{self.stderr()}")
            try:
                r = requests.get(self.url + "/healthz", timeout=1,
                                 verify=self.verify)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        pytest.fail(f"famfsd master did not serve /healthz within {timeout}s:\n"
                    f"{self.stderr()}")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        finally:
            self._close_files()

    def stop(self, timeout=20):
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self):
        """SIGKILL: a crash, nothing gets cleaned up."""
        if self.running():
            self.proc.kill()
        if self.proc:
            self.proc.wait(20)
            self._close_files()

    def _close_files(self):
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f and not f.closed:
                f.close()

    def stderr(self):
        return read_log(self.stderr_path)

    def stdout(self):
        return read_log(self.stdout_path)

    def client(self, token="admin"):
        """An ApiClient; token: 'admin', 'agent', a tenant name, None or a raw token."""
        tok = {"admin": self.admin_token, "agent": self.agent_token}.get(token)
        if tok is None and token in self.tenant_tokens:
            tok = self.tenant_tokens[token]
        elif tok is None:
            tok = token
        return ApiClient(self.url, tok, verify=self.verify)

    def close(self):
        """Kills the process if it still runs; reports sanitizer findings."""
        self.kill()
        text = self.stderr()
        bad = [w for w in SANITIZER_WORDS if w in text]
        assert not bad, f"sanitizer report in {self.stderr_path}:\n{text}"

    def __enter__(self):
        if not self.running():
            self.start()
        return self

    def __exit__(self, *exc):
        self.close()


# ---- the spec -----------------------------------------------------------------

class Spec:
    """api/openapi.yaml with $refs resolved, as JSON Schema (draft 7)."""

    SKIP = {"example", "examples", "nullable", "x-path-multisegment"}

    def __init__(self, path=SPEC_PATH):
        with open(path) as f:
            self.doc = yaml.safe_load(f)

    def ref(self, ref):
        assert ref.startswith("#/"), ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def schema(self, node, in_props=False):
        """OpenAPI 3.0 schema to JSON Schema: inline $refs, nullable -> null."""
        if isinstance(node, list):
            return [self.schema(x) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node and not in_props:
            return self.schema(self.ref(node["$ref"]))
        out = {}
        for k, v in node.items():
            if in_props:
                out[k] = self.schema(v)
            elif k in self.SKIP or k.startswith("x-"):
                continue
            elif k == "properties":
                out[k] = self.schema(v, in_props=True)
            else:
                out[k] = self.schema(v)
        if not in_props and node.get("nullable"):
            if "type" in out:
                out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        return out

    def component(self, name):
        return self.schema(self.doc["components"]["schemas"][name])

    def validate_component(self, body, name):
        jsonschema.Draft7Validator(self.component(name)).validate(body)

    def response_spec(self, method, template, status):
        # HEAD is answered wherever GET is, as GET without the body.
        verb = "get" if method.upper() == "HEAD" else method.lower()
        op = self.doc["paths"][template].get(verb)
        if op is None:
            # A method the path does not declare: what the path answers to
            # it is the shared 405.
            assert status == 405, f"{method} {template} is not in the spec, yet {status}"
            resp = self.doc["components"]["responses"]["MethodNotAllowed"]
        else:
            resp = op["responses"].get(str(status))
        assert resp is not None, f"{status} is not documented for {method} {template}"
        if "$ref" in resp:
            resp = self.ref(resp["$ref"])
        return resp

    def check(self, method, template, resp):
        """Validates status, content type, headers and body of a response
        (a HEAD reply: as GET's, with no body)."""
        rs = self.response_spec(method, template, resp.status_code)
        for h, hs in rs.get("headers", {}).items():
            if hs.get("required"):
                assert h in resp.headers, f"{resp.status_code} without {h}"
                if hs.get("schema", {}).get("type") == "integer":
                    assert resp.headers[h].isdigit(), (h, resp.headers[h])
        content = rs.get("content", {})
        if not content:
            return
        ctype = resp.headers.get("Content-Type", "")
        media = ctype.split(";")[0].strip()
        match = [k for k in content if k.split(";")[0].strip() == media]
        assert match, (f"{method} {template} {resp.status_code}: content type "
                       f"{ctype!r} not in {list(content)}")
        if method.upper() == "HEAD":
            assert resp.content == b"", f"HEAD reply with a body: {resp.content!r}"
            return
        schema = self.schema(content[match[0]]["schema"])
        if media.endswith("json"):
            jsonschema.Draft7Validator(schema).validate(resp.json())


SPEC = Spec()


def template_for(path):
    """The spec's path template for a concrete request path (no query), as
    OpenAPI matches it: a concrete path before a template; one trailing '/'
    of a file-system path is ignored, as the server does."""
    exact = {"/healthz", "/metrics", "/v1/pool", "/v1/pool/compact",
             "/v1/batch",
             "/v1/tenants", "/v1/agents",
             "/v1/agents/heartbeat", "/v1/devices", "/v1/log", "/v1/masters",
             "/v1/files",
             "/v1/dirs", "/v1/pool/map", "/v1/whoami"}
    if path in exact:
        return path
    if path.startswith("/v1/pool/units/") and path.count("/") == 4:
        return "/v1/pool/units/{unit}"
    for tree in ("/v1/files", "/v1/dirs"):
        if path == tree + "/":
            return tree
        if path.startswith(tree + "/"):
            return tree + "/{path}"
    parts = path.split("/")     # "", "v1", collection, segment, ...
    if len(parts) < 4 or parts[1] != "v1" or not parts[3]:
        return None
    sub = {("tenants", 4): "/v1/tenants/{tenant}",
           ("tenants", 5): "/v1/tenants/{tenant}/quota",
           ("agents", 4): "/v1/agents/{agent_id}",
           ("agents", 5): "/v1/agents/{agent_id}/heartbeat"}
    tpl = sub.get((parts[2], len(parts)))
    if tpl and len(parts) == 5 and parts[4] != tpl.rsplit("/", 1)[1]:
        return None
    return tpl


class ApiClient:
    """requests over keep-alive, every response checked against the spec."""

    def __init__(self, base, token=None, verify=True):
        self.base = base
        self.verify = verify
        self.s = requests.Session()
        if token:
            self.s.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, expect=None, validate=True, **kw):
        kw.setdefault("timeout", 30)
        # Per request: a session's verify loses to REQUESTS_CA_BUNDLE.
        kw.setdefault("verify", self.verify)
        r = self.s.request(method, self.base + path, **kw)
        if expect is not None:
            exp = expect if isinstance(expect, (tuple, list, set)) else (expect,)
            assert r.status_code in exp, (method, path, r.status_code, r.text)
        tpl = template_for(path.split("?")[0])
        assert tpl is None or tpl in SPEC.doc["paths"], f"{tpl} not in the spec"
        if validate and tpl:
            SPEC.check(method, tpl, r)
        elif validate and r.status_code >= 400 and method.upper() != "HEAD":
            SPEC.validate_component(r.json(), "Problem")
        return r

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def api_tree(api, validate=True):
    """Every entry of the namespace but the root, from the master's listing
    API: path -> [type, size, mode, uid, gid, ino] (the shape of the
    multi-host tests' Agent.tree()). validate=False skips checking each
    page against the spec: for trees of many thousand entries."""
    out = {}
    todo = ["/"]
    while todo:
        d = todo.pop()
        base = "/v1/dirs/" + d.strip("/") if d != "/" else "/v1/dirs"
        cursor = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = api.get(base, params=params, expect=200,
                           validate=validate).json()
            for e in page["entries"]:
                out[e["path"]] = [e["type"], e["size"], e["mode"], e["uid"],
                                  e["gid"], e["ino"]]
                if e["type"] == "dir":
                    todo.append(e["path"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    return out


def raw_request(base, method, raw_path, token=None, body=None, headers=None):
    """Sends raw_path byte for byte (requests would re-quote it), over
    plain HTTP. Returns (status, headers, body bytes)."""
    host, port = base.split("//", 1)[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    conn.request(method, raw_path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), data


def problem_name(resp):
    """The stable problem type name (last path segment of "type")."""
    return resp.json()["type"].rsplit("/", 1)[-1]


# ---- fixtures -------------------------------------------------------------------

@pytest.fixture
def pool(tmp_path):
    """A 4 GiB sparse pool, 2 MiB allocation unit."""
    return make_pool(tmp_path / "pool.img")


@pytest.fixture
def small_unit_pool(tmp_path):
    """A 1 GiB pool with a 4 KiB allocation unit."""
    return make_pool(tmp_path / "pool.img", size="1G", alloc_unit="4K")


@pytest.fixture
def master_factory(tmp_path):
    """Starts masters on demand; all are killed at teardown."""
    started = []

    def make(pool, args=(), **kw):
        m = Master(pool, tmp_path, args=args, name=f"master{len(started)}", **kw)
        started.append(m)
        return m

    yield make
    for m in started:
        m.close()


@pytest.fixture
def master(pool, master_factory):
    """A running master on a fresh pool, no reclaim grace period."""
    return master_factory(pool, args=["--reclaim-grace-ms", "0"])


@pytest.fixture
def api(master):
    return master.client("admin")
